//! Sister sites without DisCal: the feeds and pages this node subscribes to (`[[sources]]`),
//! polled on a schedule; what they publish becomes this node's signed events, kept in step
//! with the source: new, changed, moved and cancelled events follow it, an event that leaves
//! the source is cancelled (once a feed that shrank suddenly is confirmed), and an unchanged
//! event never makes a new revision.
//!
//! - `entry.rs`: the config entries; `fetch.rs`: polite and SSRF-safe HTTP; `charset.rs`: a
//!   body's text in the encoding it declares;
//! - `poll.rs`: the schedule, one poll, the state kept per source;
//! - this file: what a poll read, signed and stored on the ingest worker (`take`).

pub mod charset;
mod crawl;
pub mod entry;
pub mod fetch;
pub mod page;
pub mod poll;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use discal_gateway::{WriteError, Written};
use discal_protocol::ics::ImportedEvent;
use discal_protocol::model::{Date, Status};
use discal_protocol::source::{adopt, source_of, zone_floating};
use discal_protocol::{EventKey, NodeSecret};
use discal_store::{PollCounts, SourceState};

pub use entry::{SourceEntry, SourceKind};

use crate::author::{publish_as, Authored, Naming};
use crate::Shared;

/// Polls in a row a much smaller feed must be seen in before the events it lost are cancelled.
pub const CONFIRM_POLLS: u32 = 3;

/// A site's robots.txt: when it was read, and its rules (none: everything is allowed).
type RobotsEntry = (i64, Option<Arc<texting_robots::Robot>>);

/// What the node keeps for its sources while it runs.
#[derive(Default)]
pub struct Runner {
    /// Woken when the config's sources change, or a poll is asked for.
    pub wake: tokio::sync::Notify,
    /// One poll of a source at a time (the schedule's or one asked for).
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The HTTP clients, made on first use.
    fetcher: OnceLock<Arc<fetch::Fetcher>>,
    /// robots.txt per site (by its URL): when it was read, and its rules (none: all allowed).
    robots: Mutex<HashMap<String, RobotsEntry>>,
    /// The earliest time the next page of a site may be fetched (its Crawl-delay).
    crawl_next: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl Runner {
    fn lock_of(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.entry(name.to_owned()).or_default().clone()
    }

    /// The HTTP clients (made now if need be).
    pub fn fetcher(&self, public_url: &str) -> Result<Arc<fetch::Fetcher>, String> {
        if let Some(f) = self.fetcher.get() {
            return Ok(f.clone());
        }
        let f = Arc::new(fetch::Fetcher::new(public_url)?);
        Ok(self.fetcher.get_or_init(|| f).clone())
    }
}

/// What a poll read from a source.
#[derive(Debug, Default)]
pub struct Reading {
    /// The events that mapped.
    pub events: Vec<ImportedEvent>,
    /// One line per event that did not (counted as refused).
    pub refused: Vec<String>,
    /// What else is worth knowing: properties not mapped, pages that could not be read.
    pub notes: Vec<String>,
    /// The UIDs of events the source holds beyond its `max_events`, not read: they are
    /// neither taken nor cancelled.
    pub left_out: Vec<String>,
    /// How many events beyond `max_events` had no UID (then nothing is cancelled: one of
    /// them may be an event taken earlier).
    pub unnamed_left_out: usize,
    /// The document stopped before its end (a download cut off?): what it lacks is not
    /// cancelled.
    pub cut_off: bool,
    /// The zone the document names for its times without one (a feed's X-WR-TIMEZONE), used
    /// when the source's entry names none.
    pub zone: Option<String>,
}

impl Reading {
    /// Keeps the `max` events nearest `today` (the others' UIDs go to `left_out`, as taken
    /// from `url`): what a source whose events are read whole (pages) or pushed gives.
    pub fn keep_nearest(&mut self, max: usize, today: Date, url: &str) {
        if self.events.len() <= max {
            return;
        }
        self.events
            .sort_by_cached_key(|e| discal_protocol::ics::nearness(&e.content, today));
        for e in self.events.split_off(max) {
            let uid = if e.uid_generated {
                adopt(e, url).uid
            } else {
                e.uid
            };
            self.left_out.push(uid);
        }
    }

    /// The events it stands for: those read, refused and left out.
    fn seen(&self) -> u32 {
        let n = self.events.len() + self.refused.len() + self.left_out.len();
        u32::try_from(n + self.unnamed_left_out).unwrap_or(u32::MAX)
    }
}

/// Today (UTC) by the node's clock, for choosing the events nearest it.
pub fn today(shared: &Shared) -> Date {
    use chrono::Datelike;
    let d = chrono::DateTime::from_timestamp_millis(shared.now())
        .unwrap_or_default()
        .date_naive();
    Date {
        year: d.year(),
        month: u8::try_from(d.month()).unwrap_or(1),
        day: u8::try_from(d.day()).unwrap_or(1),
    }
}

/// What one poll read, for the ingest worker to sign and store.
pub struct Batch {
    /// The source.
    pub entry: SourceEntry,
    /// What was read.
    pub reading: Reading,
    /// False when part of the source could not be read: nothing is cancelled then.
    pub complete: bool,
    /// The reading holds some of the source's events, not all (a push): nothing is cancelled,
    /// and the source's other events stay its own.
    pub partial: bool,
    /// The source's state before this poll.
    pub state: SourceState,
}

/// What the ingest worker made of a batch.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The figures.
    pub counts: PollCounts,
    /// The source's live UIDs now.
    pub uids: Vec<String>,
    /// A shrunk feed waiting for confirmation.
    pub shrunk: Option<(u32, u32)>,
    /// What could not be taken, and what was held back.
    pub problems: Vec<String>,
}

/// The problems kept per source (the rest are counted).
const MAX_PROBLEMS: usize = 50;

/// Stores what was signed and relays it (the ingest worker's commit).
pub(crate) type Commit<'a> = &'a dyn Fn(&[Authored]) -> Result<Vec<Written>, WriteError>;

/// Signs and stores what a poll read (runs on the ingest worker, which holds the key).
pub(crate) fn take(
    shared: &Shared,
    secret: &NodeSecret,
    batch: Batch,
    commit: Commit<'_>,
) -> Result<Outcome, WriteError> {
    let Batch {
        entry,
        reading,
        complete,
        partial,
        state,
    } = batch;
    let mut reading = reading;
    let max = usize::try_from(entry.max_events).unwrap_or(usize::MAX);
    reading.keep_nearest(max, today(shared), &entry.url);
    let seen = reading.seen();
    let Reading {
        events,
        mut refused,
        notes,
        left_out,
        unnamed_left_out,
        cut_off,
        zone,
    } = reading;
    let refused_n = u32::try_from(refused.len()).unwrap_or(u32::MAX);
    refused.extend(notes);
    let complete = complete && !cut_off;
    if cut_off {
        refused.push(
            "the document stops before its end (END:VCALENDAR), perhaps cut off: what it lacks \
             is not cancelled"
                .into(),
        );
    }
    if !left_out.is_empty() || unnamed_left_out > 0 {
        refused.push(format!(
            "the source holds {seen} events; the {max} nearest today were read (max_events)"
        ));
    }
    let mut out = Outcome {
        counts: PollCounts {
            seen,
            refused: refused_n,
            ..PollCounts::default()
        },
        problems: refused,
        ..Outcome::default()
    };
    let mut authored = Vec::new();
    let zone = entry.tz.clone().or(zone);
    let mut live = take_events(
        shared,
        secret,
        (&entry, &state, zone.as_deref()),
        events,
        &mut out,
        &mut authored,
    )?;
    let missing = if partial {
        Vec::new()
    } else {
        let beyond = Beyond {
            uids: left_out.into_iter().collect(),
            unnamed: unnamed_left_out,
            ended: ended(shared, &state, &live)?,
        };
        to_cancel(&state, &mut live, (seen, complete), &beyond, &mut out)
    };
    for uid in missing {
        if let Some(signed) = cancellation(shared, secret, uid)? {
            out.counts.cancelled += 1;
            authored.push(signed);
        }
    }
    finish(out, live, &authored, commit)
}

/// A cancelled revision of the source's event `uid`, signed; none if it is not held or is
/// cancelled already.
fn cancellation(
    shared: &Shared,
    secret: &NodeSecret,
    uid: String,
) -> Result<Option<Authored>, WriteError> {
    let Some(h) = held(shared, &uid)? else {
        return Ok(None);
    };
    if is_cancelled(h.content()) {
        return Ok(None);
    }
    let mut content = h.content().clone();
    content.master.status = Some(Status::Cancelled);
    let naming = Naming {
        revise_url: content.master.revise_url.clone(),
        first_revision: 0,
        at_ms: None,
    };
    Ok(
        match publish_as(shared, secret, uid, content, Some(h), &naming) {
            Ok(signed @ Authored::Signed(..)) => Some(signed),
            _ => None,
        },
    )
}

/// The source's events, taken before and no longer listed, that had ended by now.
fn ended(
    shared: &Shared,
    state: &SourceState,
    live: &BTreeSet<String>,
) -> Result<HashSet<String>, WriteError> {
    let now = shared.now();
    let mut out = HashSet::new();
    for uid in state.uids.iter().filter(|u| !live.contains(*u)) {
        if held(shared, uid)?.is_some_and(|h| is_over(h.content(), now)) {
            out.insert(uid.clone());
        }
    }
    Ok(out)
}

/// Whether every instance of the event had ended by `now_ms`. Feeds of upcoming events
/// (Meetup's, Gancio's, The Events Calendar's) drop each event once it is over: that is not a
/// cancellation, and cancelling it would tell the whole network that a meetup which took
/// place never did.
fn is_over(content: &discal_protocol::model::EventContent, now_ms: i64) -> bool {
    use discal_protocol::model::DateTimeValue;
    use discal_protocol::recur::{extent, ExpandLimits};
    let limits = ExpandLimits {
        max_examined: 5_000,
        max_returned: 1,
    };
    let Some(end) = extent(content, limits).ok().and_then(|x| x.end) else {
        return false;
    };
    // Dates and floating times are read as UTC there: wherever the event is, it has ended
    // 14 hours past that (no zone is more than 12 behind UTC).
    let slack = match content.master.start {
        DateTimeValue::Date(_) | DateTimeValue::Floating(_) => chrono::Duration::hours(14),
        _ => chrono::Duration::zero(),
    };
    (end + slack).timestamp_millis() < now_ms
}

/// The events a source holds beyond its `max_events`, and those it no longer lists that had
/// ended: none of them is cancelled for not being read.
struct Beyond {
    uids: HashSet<String>,
    unnamed: usize,
    ended: HashSet<String>,
}

/// The source's events it no longer lists that are to be cancelled now. None when part of it
/// could not be read, or when it shrank suddenly and that is not yet confirmed: those stay in
/// `live`, and the problems say why. Events it still lists beyond its `max_events` are let go:
/// neither cancelled nor followed any more, they stay as they are.
fn to_cancel(
    state: &SourceState,
    live: &mut BTreeSet<String>,
    (seen, complete): (u32, bool),
    beyond: &Beyond,
    out: &mut Outcome,
) -> Vec<String> {
    let (let_go, not_listed): (Vec<String>, Vec<String>) = state
        .uids
        .iter()
        .filter(|u| !live.contains(*u))
        .cloned()
        .partition(|u| beyond.uids.contains(u));
    let (ended, missing): (Vec<String>, Vec<String>) = not_listed
        .into_iter()
        .partition(|u| beyond.ended.contains(u));
    if !ended.is_empty() {
        out.problems.push(format!(
            "no longer listed, had ended: {} (left as they were, not cancelled)",
            ended.len()
        ));
    }
    if !let_go.is_empty() {
        out.problems.push(format!(
            "taken earlier, now beyond the nearest max_events: {} (left as they are, no \
             longer followed)",
            let_go.len()
        ));
    }
    if missing.is_empty() {
        return missing;
    }
    let complete = complete && beyond.unnamed == 0;
    if !complete {
        out.problems.push(format!(
            "{} events not seen, but not all of the source could be read: none cancelled",
            missing.len()
        ));
        live.extend(missing);
        return Vec::new();
    }
    // Events over and gone are the normal course of a feed of upcoming events, not a shrink.
    let before = u32::try_from(state.uids.len().saturating_sub(ended.len())).unwrap_or(u32::MAX);
    let shrank = before > 0 && (seen == 0 || (before >= 4 && seen.saturating_mul(2) < before));
    if !shrank {
        return missing;
    }
    let polls = match state.shrunk {
        Some((n, k)) if n == seen => k + 1,
        _ => 1,
    };
    if polls >= CONFIRM_POLLS {
        return missing;
    }
    out.shrunk = Some((seen, polls));
    out.problems.push(format!(
        "the source now holds {seen} events where it held {before}: the {} missing ones \
         are cancelled only if {} more poll(s) show the same (an outage page or a \
         truncated download cancels nothing)",
        missing.len(),
        CONFIRM_POLLS - polls
    ));
    live.extend(missing);
    Vec::new()
}

/// Signs the source's events that are new or changed; returns the UIDs it now holds.
fn take_events(
    shared: &Shared,
    secret: &NodeSecret,
    (entry, state, zone): (&SourceEntry, &SourceState, Option<&str>),
    events: Vec<ImportedEvent>,
    out: &mut Outcome,
    authored: &mut Vec<Authored>,
) -> Result<BTreeSet<String>, WriteError> {
    let owned: HashSet<&str> = state.uids.iter().map(String::as_str).collect();
    let mut live: BTreeSet<String> = BTreeSet::new();
    for ev in events {
        let mut a = adopt(ev, &entry.url);
        if let Some(tz) = zone {
            zone_floating(&mut a.content, tz);
        }
        let cats = &mut a.content.master.categories;
        for t in &entry.tags {
            if !cats.iter().any(|c| c.eq_ignore_ascii_case(t)) {
                cats.push(t.clone());
            }
        }
        cats.truncate(shared.limits.max_categories);
        let held = held(shared, &a.uid)?;
        if let Some(h) = &held {
            if !owned.contains(a.uid.as_str()) && source_of(h.content()) != Some(entry.url.as_str())
            {
                out.counts.refused += 1;
                out.problems.push(format!(
                    "VEVENT {}: this node already holds an event with this UID that is not from this source",
                    a.uid
                ));
                continue;
            }
        }
        let naming = Naming {
            revise_url: a.content.master.revise_url.clone(),
            first_revision: a.first_revision,
            at_ms: None,
        };
        let was_cancelled = held.as_ref().map(|h| is_cancelled(h.content()));
        match publish_as(shared, secret, a.uid.clone(), a.content, held, &naming) {
            Ok(signed @ Authored::Signed(..)) => {
                let now_cancelled = signed
                    .signed()
                    .is_some_and(|e| is_cancelled(&e.payload().content));
                match was_cancelled {
                    None => out.counts.new += 1,
                    Some(false) if now_cancelled => out.counts.cancelled += 1,
                    Some(_) => out.counts.changed += 1,
                }
                authored.push(signed);
            }
            Ok(Authored::Unchanged(_)) => {}
            Err(WriteError::BadRequest(why)) => {
                out.counts.refused += 1;
                out.problems.push(format!("VEVENT {}: {why}", a.uid));
                continue;
            }
            Err(other) => return Err(other),
        }
        live.insert(a.uid);
    }
    Ok(live)
}

fn finish(
    mut out: Outcome,
    live: BTreeSet<String>,
    authored: &[Authored],
    commit: Commit<'_>,
) -> Result<Outcome, WriteError> {
    commit(authored)?;
    out.uids = live.into_iter().collect();
    let extra = out.problems.len().saturating_sub(MAX_PROBLEMS);
    if extra > 0 {
        out.problems.truncate(MAX_PROBLEMS);
        out.problems.push(format!("… and {extra} more"));
    }
    Ok(out)
}

fn held(shared: &Shared, uid: &str) -> Result<Option<discal_store::StoredEvent>, WriteError> {
    shared
        .store
        .get(&EventKey {
            origin: shared.me,
            uid: uid.to_owned(),
        })
        .map_err(|e| WriteError::Internal(e.to_string()))
}

fn is_cancelled(c: &discal_protocol::EventContent) -> bool {
    c.master.status == Some(Status::Cancelled)
}

fn counts_json(c: &PollCounts) -> serde_json::Value {
    serde_json::json!({
        "seen": c.seen,
        "new": c.new,
        "changed": c.changed,
        "cancelled": c.cancelled,
        "refused": c.refused,
    })
}

/// A source and its last poll as JSON (`/api/sources`, `/status`, `discal source list`).
pub fn source_json(e: &SourceEntry, s: Option<&SourceState>) -> serde_json::Value {
    let d = SourceState::default();
    let s = s.filter(|s| s.url == e.url).unwrap_or(&d);
    serde_json::json!({
        "name": e.name,
        "url": e.url,
        "kind": e.kind,
        "every": e.every,
        "tags": e.tags,
        "tz": e.tz,
        "allow_private": e.allow_private,
        "last_poll_ms": (s.last_poll_ms > 0).then_some(s.last_poll_ms),
        "last_status": (s.last_status > 0).then_some(s.last_status),
        "last_error": (!s.last_error.is_empty()).then_some(&s.last_error),
        "failures": s.failures,
        "next_due_ms": (s.next_due_ms > 0).then_some(s.next_due_ms),
        "events": s.uids.len(),
        "last": counts_json(&s.counts),
        "totals": counts_json(&s.totals),
        "held_back": s.shrunk.map(|(n, k)| serde_json::json!({"events_now": n, "polls": k, "needed": CONFIRM_POLLS})),
        "problems": s.problems,
    })
}

/// Every configured source as [`source_json`].
pub fn sources_json(shared: &Shared) -> serde_json::Value {
    let entries = shared
        .config
        .read()
        .map(|c| c.sources.clone())
        .unwrap_or_default();
    serde_json::Value::Array(
        entries
            .iter()
            .map(|e| {
                source_json(
                    e,
                    shared.store.source_state(&e.name).ok().flatten().as_ref(),
                )
            })
            .collect(),
    )
}

/// One poll of the source named `name` now, as [`source_json`].
pub async fn poll_named(
    shared: &Shared,
    ingest: &tokio::sync::mpsc::Sender<crate::msg::Job>,
    name: &str,
) -> Result<serde_json::Value, WriteError> {
    let entry = shared
        .config
        .read()
        .ok()
        .and_then(|c| c.sources.iter().find(|s| s.name == name).cloned())
        .ok_or_else(|| WriteError::NotFound(format!("no source named {name:?} in the config")))?;
    shared.writes_ready().await;
    let state = poll::poll(shared, ingest, &entry).await?;
    Ok(source_json(&entry, Some(&state)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_keeps_the_events_nearest_today() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n\
            BEGIN:VEVENT\r\nUID:old@x\r\nDTSTART:20100101T100000Z\r\nSUMMARY:old\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nDTSTART:20110101T100000Z\r\nSUMMARY:no UID\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:soon@x\r\nDTSTART:20270101T100000Z\r\nSUMMARY:soon\r\nEND:VEVENT\r\n\
            END:VCALENDAR\r\n";
        let me = NodeSecret::from_seed_array([3; 32]).public();
        let limits = discal_protocol::Limits::default();
        let events = discal_protocol::ics::parse_calendar(text, &me, &limits)
            .unwrap()
            .events;
        let mut r = Reading {
            events,
            ..Reading::default()
        };
        let today = Date {
            year: 2026,
            month: 12,
            day: 6,
        };
        r.keep_nearest(1, today, "https://club.example/cal.ics");
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].uid, "soon@x");
        assert_eq!(r.left_out.len(), 2);
        assert_eq!(r.left_out[1], "old@x", "the furthest last");
        // The event without a UID is known by the one it is stored under.
        assert!(r.left_out[0].ends_with("@club.example"), "{:?}", r.left_out);
        assert_eq!(r.seen(), 3);
    }
}
