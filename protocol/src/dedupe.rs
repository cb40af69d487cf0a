//! One entry for one real event (issue 21, the collector's view): whether two events from
//! different origins or sources describe the same real event. Pure: what the store and the
//! read surfaces will use to show such events once; this module only decides.
//!
//! Signals, strongest first: the same UID taken from a source (two nodes subscribed to the
//! same feed), the same event URL, then the same start (within [`START_TOLERANCE_SECS`]) with a
//! similar normalised title and a compatible place. Whatever the signal, two events whose
//! starts are more than [`MAX_APART_SECS`] apart, or whose coordinates are more than
//! [`MAX_APART_KM`] apart, are never the same.

use std::collections::BTreeSet;

use crate::model::EventContent;
use crate::recur::instant;
use crate::source::source_of;
use crate::view::distance_km;

/// Starts this close count as the same time (exporters round, zones get mapped).
pub const START_TOLERANCE_SECS: i64 = 15 * 60;
/// Starts further apart than this are different events, whatever else they share.
pub const MAX_APART_SECS: i64 = 12 * 3600;
/// Places further apart than this are different events.
pub const MAX_APART_KM: f64 = 1.0;

/// What [`same_event`] compares, taken once per event.
#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprint {
    /// The UID, when the event came from a source (its UID there).
    pub source_uid: Option<String>,
    /// The event's URL, normalised.
    pub url: Option<String>,
    /// The first start, UTC seconds (floating and all-day starts read as UTC).
    pub start: i64,
    /// The title's words, normalised (as [`Words`]).
    pub title: Words,
    /// The numbers among them ("Talk 3" and "Talk 4" are two events).
    pub numbers: Words,
    /// The place's words, normalised.
    pub place: Words,
    /// Coordinates.
    pub geo: Option<(f64, f64)>,
}

/// Why two events are one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The same UID from a source.
    SourceUid,
    /// The same URL.
    Url,
    /// The same time, a similar title and a compatible place.
    TimeTitlePlace,
}

/// Words that say nothing about which event it is.
const STOP: &[&str] = &[
    "the", "a", "an", "and", "of", "in", "at", "on", "for", "to", "with", "der", "die", "das",
    "und", "im", "am", "mit", "von", "zum", "zur", "le", "la", "les", "de", "du", "des", "et",
    "en", "il", "di", "e", "el", "y",
];

/// A set of normalised words, each as a 64-bit FNV-1a hash, sorted: comparing two is a merge
/// of integers, which keeps grouping a large answer cheap (a collision of two words' hashes
/// is vanishingly rare and only makes two titles look a little more alike).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Words(Vec<u64>);

impl Words {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many words both hold.
    fn common(&self, other: &Self) -> usize {
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < self.0.len() && j < other.0.len() {
            match self.0[i].cmp(&other.0[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    n += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    }
}

fn fnv1a(w: &str) -> u64 {
    w.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The words of `s` (lower-cased, split at anything not alphanumeric, filler words dropped),
/// and those of them that are numbers.
fn words_and_numbers(s: &str) -> (Words, Words) {
    // "LUG &#8211; M&uuml;nchen" from a WordPress or CiviCRM export is "LUG – München", not a
    // title with a number and the words "uuml" and "nchen".
    let lower = crate::references::read(s).to_lowercase();
    let mut all = Vec::new();
    let mut numbers = Vec::new();
    for w in lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP.contains(w))
    {
        let h = fnv1a(w);
        all.push(h);
        if w.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(h);
        }
    }
    for v in [&mut all, &mut numbers] {
        v.sort_unstable();
        v.dedup();
    }
    (Words(all), Words(numbers))
}

fn words(s: &str) -> Words {
    words_and_numbers(s).0
}

/// A URL without scheme, `www.`, query, fragment and trailing slash, host lower-cased.
fn url_key(u: &str) -> Option<String> {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    let rest = rest.split(['?', '#']).next()?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let key = format!("{host}/{}", path.trim_end_matches('/'));
    (host.contains('.')).then_some(key)
}

/// The fingerprint of an event held under `uid`.
pub fn fingerprint(uid: &str, content: &EventContent) -> Fingerprint {
    let m = &content.master;
    let start = instant(&m.start, chrono_tz::UTC).map_or(0, |t| t.timestamp());
    let (title, numbers) = words_and_numbers(m.summary.as_deref().unwrap_or(""));
    Fingerprint {
        source_uid: source_of(content).map(|_| uid.to_string()),
        url: m.url.as_deref().and_then(url_key),
        start,
        numbers,
        title,
        place: words(m.location.as_deref().unwrap_or("")),
        geo: m.geo.map(|g| (g.lat, g.lon)),
    }
}

/// |a ∩ b| / |a ∪ b|.
fn jaccard(a: &Words, b: &Words) -> f64 {
    let common = a.common(b);
    let union = a.len() + b.len() - common;
    if union == 0 {
        return 0.0;
    }
    common as f64 / union as f64
}

/// |a ∩ b| / min(|a|, |b|): a short title inside a longer one ("Repair café" in "Repair café
/// Neustadt: bring your toaster").
fn overlap(a: &Words, b: &Words) -> f64 {
    let min = a.len().min(b.len());
    if min == 0 {
        return 0.0;
    }
    a.common(b) as f64 / min as f64
}

/// Whether `a` and `b` are one real event, and by which signal.
pub fn same_event(a: &Fingerprint, b: &Fingerprint) -> Option<Signal> {
    if (a.start - b.start).abs() > MAX_APART_SECS {
        return None;
    }
    if let (Some(x), Some(y)) = (a.geo, b.geo) {
        if distance_km(x, y) > MAX_APART_KM {
            return None;
        }
    }
    if a.source_uid.is_some() && a.source_uid == b.source_uid {
        return Some(Signal::SourceUid);
    }
    if a.url.is_some() && a.url == b.url {
        return Some(Signal::Url);
    }
    if (a.start - b.start).abs() > START_TOLERANCE_SECS {
        return None;
    }
    // Numbers name things apart ("Talk 3" and "Talk 4", "Bulk event 4" and "Bulk event 88"):
    // titles that both carry numbers must carry the same ones.
    if !a.numbers.is_empty() && !b.numbers.is_empty() && a.numbers != b.numbers {
        return None;
    }
    let title = jaccard(&a.title, &b.title).max(overlap(&a.title, &b.title) * 0.9);
    let place_known = !a.place.is_empty() && !b.place.is_empty();
    let near = matches!((a.geo, b.geo), (Some(x), Some(y)) if distance_km(x, y) <= 0.3);
    let place = if near {
        1.0
    } else if place_known {
        overlap(&a.place, &b.place)
    } else {
        // One of them does not say where: the title must carry it alone.
        0.5
    };
    (title >= 0.6 && place >= 0.5 && (place > 0.5 || title >= 0.8))
        .then_some(Signal::TimeTitlePlace)
}

/// An event's name for grouping: (origin key bytes, UID).
pub type Ident = ([u8; 32], String);

/// One event of a set to group.
#[derive(Clone, Debug)]
pub struct Member {
    /// Who holds it.
    pub ident: Ident,
    /// What it is.
    pub fp: Fingerprint,
    /// How far it is from where it was first published (X-DISCAL-SOURCE-HOP, §13): 0 for an
    /// organiser's own event.
    pub source_hops: u32,
    /// Cancelled (a live listing is shown before a cancelled one).
    pub cancelled: bool,
}

/// An admin's corrections: pairs never to show as one, pairs always to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Never one event.
    pub split: BTreeSet<(Ident, Ident)>,
    /// Always one event.
    pub join: BTreeSet<(Ident, Ident)>,
}

impl Overrides {
    /// A pair in the order the sets keep it.
    pub fn pair(a: Ident, b: Ident) -> (Ident, Ident) {
        if a <= b {
            (a, b)
        } else {
            (b, a)
        }
    }
}

/// Events compared with each other in one time bucket at most (so a flood of events at one
/// instant costs a bounded number of comparisons per event).
pub const MAX_BUCKET_COMPARISONS: usize = 64;

/// The order of representatives: live before cancelled, then the fewest hops from where it
/// was first published (the organiser's own listing before an aggregator's copy), then the
/// origin key and the UID. Every input is signed content, so every collector picks the same.
fn rank(m: &Member) -> (bool, u32, &[u8; 32], &str) {
    (m.cancelled, m.source_hops, &m.ident.0, &m.ident.1)
}

struct Groups {
    parent: Vec<usize>,
    /// Earliest and latest start in each root's group.
    span: Vec<(i64, i64)>,
}

impl Groups {
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }
}

/// The pairs worth comparing: the same source UID, the same URL, or a start in the same or a
/// neighbouring quarter hour; at most [`MAX_BUCKET_COMPARISONS`] per member and key.
fn candidates(members: &[Member]) -> Vec<(usize, usize)> {
    use std::collections::HashMap;
    let mut by_key: HashMap<(u8, &str), Vec<usize>> = HashMap::new();
    let mut by_slot: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        if let Some(u) = &m.fp.source_uid {
            by_key.entry((0, u)).or_default().push(i);
        }
        if let Some(u) = &m.fp.url {
            by_key.entry((1, u)).or_default().push(i);
        }
        by_slot
            .entry(m.fp.start.div_euclid(START_TOLERANCE_SECS))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for list in by_key.values() {
        for &b in list.iter().skip(1).take(MAX_BUCKET_COMPARISONS) {
            out.push((list[0], b));
        }
    }
    for (i, m) in members.iter().enumerate() {
        let slot = m.fp.start.div_euclid(START_TOLERANCE_SECS);
        for s in slot - 1..=slot + 1 {
            let Some(list) = by_slot.get(&s) else {
                continue;
            };
            // Lists are in index order: the later members start after a binary search, not
            // after a walk past the earlier ones (a slot holding thousands of events).
            let later = &list[list.partition_point(|&j| j <= i)..];
            out.extend(later.iter().take(MAX_BUCKET_COMPARISONS).map(|&j| (i, j)));
        }
    }
    out
}

/// Groups `members` into real events: for each member, the index of its group's
/// representative. Pairs matched by [`same_event`] (or joined by an admin) are one group,
/// unless an admin split them or the group would span more than [`MAX_APART_SECS`].
pub fn group(members: &[Member], ov: &Overrides) -> Vec<usize> {
    use std::collections::HashMap;
    let n = members.len();
    let mut g = Groups {
        parent: (0..n).collect(),
        span: members.iter().map(|m| (m.fp.start, m.fp.start)).collect(),
    };
    let index: HashMap<&Ident, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (&m.ident, i))
        .collect();
    let splits: Vec<(usize, usize)> = ov
        .split
        .iter()
        .filter_map(|(a, b)| Some((*index.get(a)?, *index.get(b)?)))
        .collect();
    let union = |g: &mut Groups, a: usize, b: usize| {
        let (ra, rb) = (g.find(a), g.find(b));
        if ra == rb {
            return;
        }
        let lo = g.span[ra].0.min(g.span[rb].0);
        let hi = g.span[ra].1.max(g.span[rb].1);
        if hi - lo > MAX_APART_SECS {
            return;
        }
        let split = splits.iter().any(|&(x, y)| {
            let (fx, fy) = (g.find(x), g.find(y));
            (fx == ra && fy == rb) || (fx == rb && fy == ra)
        });
        if !split {
            g.parent[rb] = ra;
            g.span[ra] = (lo, hi);
        }
    };
    for (a, b) in &ov.join {
        if let (Some(&x), Some(&y)) = (index.get(a), index.get(b)) {
            union(&mut g, x, y);
        }
    }
    for (a, b) in candidates(members) {
        if same_event(&members[a].fp, &members[b].fp).is_some() {
            union(&mut g, a, b);
        }
    }
    let mut best: HashMap<usize, usize> = HashMap::new();
    for i in 0..n {
        let r = g.find(i);
        let e = best.entry(r).or_insert(i);
        if rank(&members[i]) < rank(&members[*e]) {
            *e = i;
        }
    }
    (0..n).map(|i| best[&g.find(i)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(origin: u8, uid: &str, start: i64, title: &str, hops: u32) -> Member {
        Member {
            ident: ([origin; 32], uid.into()),
            fp: Fingerprint {
                source_uid: None,
                url: None,
                start,
                numbers: words_and_numbers(title).1,
                title: words(title),
                place: words("Town hall, Neustadt"),
                geo: None,
            },
            source_hops: hops,
            cancelled: false,
        }
    }

    #[test]
    fn one_group_per_real_event_with_a_stable_representative() {
        let day = 1_800_000_000;
        let a = m(9, "a", day, "Repair café", 1);
        let b = m(3, "b", day + 300, "Repair café Neustadt", 0);
        let c = m(5, "c", day + 86_400, "Repair café", 0);
        let reps = group(&[a.clone(), b.clone(), c.clone()], &Overrides::default());
        assert_eq!(
            reps,
            vec![1, 1, 2],
            "the organiser's own listing (hop 0) represents"
        );
        // The order of the input does not change the choice.
        assert_eq!(group(&[c, b, a], &Overrides::default()), vec![0, 1, 1]);
    }

    /// A WordPress or CiviCRM export writes references into SUMMARY; the same event from
    /// Meetup's feed writes the characters.
    #[test]
    fn titles_written_with_character_references_are_the_same_titles() {
        let day = 1_800_000_000;
        let a = m(
            1,
            "a",
            day,
            "LUG M&uuml;nchen &#8211; Install party &amp; talks",
            0,
        );
        let b = m(2, "b", day + 600, "LUG München – Install Party & Talks", 1);
        assert_eq!(a.fp.title, b.fp.title);
        assert!(a.fp.numbers.is_empty(), "&#8211; is not the number 8211");
        assert_eq!(group(&[a, b], &Overrides::default()), vec![0, 0]);
    }

    #[test]
    fn admins_split_and_join() {
        let day = 1_800_000_000;
        let a = m(1, "a", day, "Repair café", 0);
        let b = m(2, "b", day, "Repair café", 0);
        let c = m(3, "c", day + 3600, "Something else entirely", 0);
        let mut ov = Overrides::default();
        ov.split
            .insert(Overrides::pair(b.ident.clone(), a.ident.clone()));
        ov.join
            .insert(Overrides::pair(a.ident.clone(), c.ident.clone()));
        assert_eq!(group(&[a, b, c], &ov), vec![0, 1, 0]);
    }

    #[test]
    fn chains_never_span_more_than_twelve_hours() {
        let day = 1_800_000_000;
        let mut ov = Overrides::default();
        let ms: Vec<Member> = (0..4)
            .map(|i| m(i, &format!("u{i}"), day + i64::from(i) * 5 * 3600, "x", 0))
            .collect();
        for w in ms.windows(2) {
            ov.join
                .insert(Overrides::pair(w[0].ident.clone(), w[1].ident.clone()));
        }
        let reps = group(&ms, &ov);
        assert_eq!(reps[0], reps[1]);
        assert_eq!(reps[1], reps[2]);
        assert_ne!(
            reps[2], reps[3],
            "a fourth would stretch the group to 15 hours"
        );
    }
}
