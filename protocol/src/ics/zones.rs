//! The time zones of one document: TZIDs resolved to IANA zones, by name where the name says
//! which zone it is, and by the rules of the document's own VTIMEZONE where it does not.
//!
//! Outlook, Lotus Notes and hand-made files name zones `MyTimezone`, `CUSTOM_tzid` or
//! `GMT +0100 (Standard) / GMT +0200 (Daylight)` and define them in a VTIMEZONE. Such a zone's
//! transitions are computed over the years the event spans and compared with every IANA zone
//! (well-known zones first, so rules equal to Berlin's give `Europe/Berlin` and not one of the
//! dozen zones that share them); the first that agrees at every transition and once a month in
//! between is used, so the event keeps following DST as the database does. A zone that
//! matches none keeps the file's own offsets: its values are turned into UTC by the file's
//! rules (exact for one-off events; a recurring event then repeats in UTC, which the event's
//! warnings say when the file's zone changes offset).
//!
//! A zone of listed transitions only is compared up to its last one. A zone that matches
//! nothing is compared once more allowing each transition within [`NEAR_HOURS`] of the IANA
//! zone's: GroupWise's Central European Time changes an hour early, and pytz-based writers
//! (khal's files) put each change in the offset after it, an hour off too.
//!
//! The cost is bounded per document: at most [`MAX_MATCHED`] distinct zone comparisons, and at
//! most [`MAX_ONSETS`] transitions generated per observance.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::model::{DateTimeValue, LocalDateTime};
use crate::tz;

/// Years after its first one over which a recurring event's zone must agree with an IANA zone.
const RECURRING_SPAN_YEARS: i32 = 5;
/// Zone comparisons with the IANA database per document; past it a zone keeps its own rules.
pub(super) const MAX_MATCHED: usize = 32;
/// Transitions generated per observance (a yearly rule from 1601 to 2037 is 437).
const MAX_ONSETS: usize = 1024;
/// Observances read per VTIMEZONE (real ones have two per rule change, a few dozen at most).
const MAX_OBSERVANCES: usize = 64;
/// (zone, years) pairs resolved per document; past it a file zone's values are refused.
const MAX_RESOLVED: usize = 256;
/// How far, in hours, a file zone's changes of offset may lie from an IANA zone's for the file
/// to be read as that zone, when nothing matches exactly. GroupWise (through Thunderbird)
/// writes Central European Time's changes at 01:00 and 02:00 local, an hour before the real
/// ones, and pytz-based writers put each change in the offset after it: the days and offsets
/// are Berlin's, and only times within those hours of the night of the change could read
/// otherwise.
const NEAR_HOURS: i64 = 3;
/// What the warning adds when the zone matched only within [`NEAR_HOURS`].
const NEAR: &str = " on the same days, its changes within a few hours of the database's";
/// The last year a file zone's rules are generated for.
const LAST_YEAR: i32 = 2100;
/// Offset changes per year beyond which a file zone is not compared with the IANA zones.
const MAX_ONSETS_PER_YEAR: usize = 8;
/// Transitions generated per document, over all its zones: bounds the memory and time a
/// hostile document's VTIMEZONEs can cost.
const MAX_DOCUMENT_ONSETS: usize = 200_000;

/// One STANDARD or DAYLIGHT sub-component.
#[derive(Debug)]
struct Observance {
    /// Local onset (in the offset before it).
    start: NaiveDateTime,
    from: i32,
    to: i32,
    rule: Option<String>,
    rdates: Vec<NaiveDateTime>,
}

/// A VTIMEZONE as the document defines it.
#[derive(Debug)]
pub(super) struct FileZone {
    observances: Vec<Observance>,
    /// An IANA zone the component names (X-LIC-LOCATION), if any.
    hint: Option<Tz>,
}

/// A change of offset: the UTC instant, the offset before and after (seconds east of UTC).
type Onset = (NaiveDateTime, i32, i32);

impl FileZone {
    /// Reads a VTIMEZONE; `None` if it has no usable observance.
    pub(super) fn parse(c: &icalendar::parser::Component<'_>) -> Option<Self> {
        let mut observances = Vec::new();
        for sub in &c.components {
            let name = sub.name.as_str();
            if !name.eq_ignore_ascii_case("STANDARD") && !name.eq_ignore_ascii_case("DAYLIGHT") {
                continue;
            }
            let prop = |n: &str| sub.find_prop(n).map(|p| p.val.as_str().trim());
            let (Some(start), Some(to)) = (prop("DTSTART").and_then(local), prop("TZOFFSETTO"))
            else {
                continue;
            };
            let Some(to) = offset_seconds(to) else {
                continue;
            };
            let from = prop("TZOFFSETFROM").and_then(offset_seconds).unwrap_or(to);
            let rdates = sub
                .properties
                .iter()
                .filter(|p| p.name.as_str().eq_ignore_ascii_case("RDATE"))
                .flat_map(|p| p.val.as_str().split(','))
                .filter_map(|v| local(v.trim()))
                .take(MAX_ONSETS)
                .collect();
            if observances.len() == MAX_OBSERVANCES {
                break;
            }
            observances.push(Observance {
                start,
                from,
                to,
                rule: prop("RRULE").map(str::to_string),
                rdates,
            });
        }
        let hint = c
            .find_prop("X-LIC-LOCATION")
            .and_then(|p| tz::resolve_tzid(p.val.as_str()));
        (!observances.is_empty()).then_some(Self { observances, hint })
    }

    /// Every change of offset up to the end of `last_year`, in order.
    fn onsets(&self, first_year: i32, last_year: i32) -> Vec<Onset> {
        let end = ymd(last_year + 1, 1, 1);
        let mut out = Vec::new();
        for o in &self.observances {
            let mut locals = vec![o.start];
            locals.extend(o.rdates.iter().copied());
            if let Some(rule) = &o.rule {
                locals.extend(expand_yearly(rule, (o.start, o.from), first_year, end));
            }
            let shift = Duration::seconds(i64::from(o.from));
            for l in locals {
                let utc = l - shift;
                if utc < end {
                    out.push((utc, o.from, o.to));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The offset at a UTC instant, given the onsets.
    fn offset_at(&self, onsets: &[Onset], utc: NaiveDateTime) -> i32 {
        match onsets.partition_point(|o| o.0 <= utc) {
            0 => onsets
                .first()
                .map(|o| o.1)
                .unwrap_or_else(|| self.observances[0].to),
            i => onsets[i - 1].2,
        }
    }

    /// The offset in force at a wall-clock time, by RFC 5545 §3.3.5: the offset after the last
    /// onset that `local` is past in both offsets. A time that a change back makes occur twice
    /// is its first occurrence (the offset before), and a time that a change forward skips is
    /// read in the offset before it too (02:30 then becomes 03:30).
    fn offset_of_local(&self, onsets: &[Onset], local: NaiveDateTime) -> i32 {
        let at = |o: &Onset| o.0 + Duration::seconds(i64::from(o.1.max(o.2)));
        match onsets.partition_point(|o| at(o) <= local) {
            0 => onsets
                .first()
                .map(|o| o.1)
                .unwrap_or_else(|| self.observances[0].to),
            i => onsets[i - 1].2,
        }
    }

    /// Just after the last change of offset of a zone made of listed transitions alone (no
    /// RRULE), if that is `from` or later. python-icalendar and khal write a zone that
    /// way, with the transitions of the years their events span (`Europe_Berlin` with RDATEs
    /// for 2014 to 2016); past the list the writer said nothing, so a recurring event's zone
    /// is compared with the IANA zones over the listed years only, not held to the last
    /// listed offset for ever.
    fn defined_until(&self, onsets: &[Onset], from: NaiveDateTime) -> Option<NaiveDateTime> {
        if self.observances.iter().any(|o| o.rule.is_some()) {
            return None;
        }
        let last = onsets.iter().rev().find(|o| o.1 != o.2)?.0;
        (last >= from).then_some(last + Duration::seconds(1))
    }

    /// The first IANA zone that agrees with this zone over `[first_year, last_year]`.
    #[cfg(test)]
    fn matching_iana(&self, onsets: &[Onset], first_year: i32, last_year: i32) -> Option<Tz> {
        let (from, to) = (ymd(first_year, 1, 1), ymd(last_year + 1, 1, 1));
        self.matching_between(onsets, from, to, Duration::zero())
    }

    /// The first IANA zone that agrees with this zone from `from` up to `to`, each change of
    /// offset within `slack` of the zone's own.
    fn matching_between(
        &self,
        onsets: &[Onset],
        from: NaiveDateTime,
        to: NaiveDateTime,
        slack: Duration,
    ) -> Option<Tz> {
        let (first_year, last_year) = (from.year(), to.year());
        let in_span: Vec<&Onset> = onsets.iter().filter(|o| o.0 >= from && o.0 < to).collect();
        // No zone changes offset more than a few times a year (Morocco's four are the most);
        // more is no real zone, and would make the comparison costly.
        let years = usize::try_from(last_year - first_year + 1).unwrap_or(1);
        if in_span.len() > MAX_ONSETS_PER_YEAR * years {
            return None;
        }
        // A fixed whole-hour offset is Etc/GMT±h: no zone's later DST can creep in.
        let fixed = self.offset_at(onsets, from);
        if in_span.is_empty() && fixed % 3600 == 0 {
            let h = -fixed / 3600;
            let name = match h {
                0 => "Etc/UTC".to_string(),
                h => format!("Etc/GMT{h:+}"),
            };
            if let Some(tz) = tz::iana(&name) {
                return Some(tz);
            }
        }
        let mut probes: Vec<(NaiveDateTime, i32)> = Vec::new();
        let mut t = from;
        while t < to {
            if !in_span.iter().any(|o| (o.0 - t).abs() <= slack) {
                probes.push((t, self.offset_at(onsets, t)));
            }
            t += Duration::days(30);
        }
        for o in in_span {
            probes.push((o.0 - slack - Duration::seconds(1), o.1));
            probes.push((o.0 + slack, o.2));
        }
        let agrees = |zone: Tz| {
            probes
                .iter()
                .all(|(t, want)| zone.offset_from_utc_datetime(t).fix().local_minus_utc() == *want)
        };
        tz::candidates().find(|z| agrees(*z))
    }
}

/// How a document's TZID is read.
#[derive(Clone, Debug)]
enum Mapped {
    /// The zone, and how the file's zone was read to match it (said in the event's warning).
    Iana(String, &'static str),
    /// No IANA zone agrees (or none was compared, past [`MAX_MATCHED`]): values become UTC by
    /// the file's rules, these onsets.
    Own {
        onsets: Rc<Vec<Onset>>,
        compared: bool,
    },
}

/// The TZIDs of one document and what became of each, with notes for the event being mapped.
#[derive(Default)]
pub(super) struct Zones {
    defined: HashMap<String, FileZone>,
    cache: RefCell<HashMap<(String, i32, i32), Mapped>>,
    compared: Cell<usize>,
    onsets_made: Cell<usize>,
    reach: Cell<Reach>,
    notes: RefCell<Vec<String>>,
    /// Notes past [`MAX_NOTES`] for the event being mapped, counted only.
    more_notes: Cell<usize>,
}

/// The most distinct time-zone notes kept for one event: a document can name a new TZID on
/// each of thousands of RDATE lines, and each would be its own warning.
const MAX_NOTES: usize = 16;

/// How far past a value an event's instances reach, as far as its RRULE says: the years a
/// file zone must agree with an IANA zone over. A rule bounded by UNTIL, or by COUNT where
/// every period holds an instance, is compared over its own span only: Lotus Notes 6 wrote
/// a five-day meeting of 2005 in a zone named `Eastern` with the US rules of before 2007,
/// which are New York's in 2005 but not in 2007.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) enum Reach {
    /// One instance.
    #[default]
    Once,
    /// Instances up to this year.
    UntilYear(i32),
    /// Instances up to this many days after the first.
    Days(i64),
    /// Instances for [`RECURRING_SPAN_YEARS`] and more.
    Open,
}

impl Reach {
    /// The reach of an event with this RRULE value (the first one) and RDATEs whose last is
    /// in `rdate_year` (none: no RDATE).
    pub(super) fn of(rrule: Option<&str>, rdate_year: Option<i32>) -> Self {
        match (rrule.map(Self::of_rule), rdate_year) {
            (None, None) => Self::Once,
            (None, Some(y)) => Self::UntilYear(y),
            (Some(r), None) => r,
            (Some(Self::UntilYear(u)), Some(y)) => Self::UntilYear(u.max(y)),
            (Some(_), Some(_)) => Self::Open,
        }
    }

    /// The last year of a list of RDATE values (`20050411T100000`, periods, dates).
    pub(super) fn last_year<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<i32> {
        values
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.trim().get(..4)?.parse::<i32>().ok())
            .max()
    }

    fn of_rule(rule: &str) -> Self {
        let (mut freq, mut count, mut interval, mut until, mut other_by) =
            ("", None, 1i64, None, false);
        for part in rule.split(';') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            match k.trim().to_ascii_uppercase().as_str() {
                "FREQ" => freq = v.trim(),
                "COUNT" => count = v.trim().parse::<i64>().ok(),
                "INTERVAL" => interval = v.trim().parse::<i64>().unwrap_or(1).max(1),
                "UNTIL" => until = v.trim().get(..4).and_then(|y| y.parse::<i32>().ok()),
                "BYDAY" | "WKST" | "BYHOUR" | "BYMINUTE" | "BYSECOND" => {}
                k if k.starts_with("BY") => other_by = true,
                _ => {}
            }
        }
        if let Some(y) = until {
            return Self::UntilYear(y);
        }
        // A period of DAILY or WEEKLY always holds an instance (a DAILY rule's BYDAY leaves
        // one day in seven); other rules can skip periods (the 31st, 29 February).
        let period = match freq.to_ascii_uppercase().as_str() {
            "DAILY" if rule.to_ascii_uppercase().contains("BYDAY") => 7,
            "DAILY" => 1,
            "WEEKLY" => 7,
            _ => return Self::Open,
        };
        match count {
            Some(n) if !other_by && n > 0 => n
                .checked_mul(interval)
                .and_then(|x| x.checked_mul(period))
                .filter(|d| *d <= 366 * i64::from(RECURRING_SPAN_YEARS))
                .map_or(Self::Open, Self::Days),
            _ => Self::Open,
        }
    }
}

impl Zones {
    /// Collects the document's VTIMEZONEs.
    pub(super) fn of(components: &[icalendar::parser::Component<'_>]) -> Self {
        let mut zones = Self::default();
        for c in components {
            if !c.name.as_str().eq_ignore_ascii_case("VTIMEZONE") {
                continue;
            }
            let Some(tzid) = c
                .find_prop("TZID")
                .map(|p| p.val.as_str().trim().to_string())
            else {
                continue;
            };
            if let Some(z) = FileZone::parse(c) {
                zones.defined.insert(tzid, z);
            }
        }
        zones
    }

    /// Starts an event: how far it recurs decides the years its zones are compared over.
    pub(super) fn begin_event(&self, reach: Reach) {
        self.reach.set(reach);
        self.notes.borrow_mut().clear();
        self.more_notes.set(0);
    }

    /// What was adjusted in the event's time values since [`Zones::begin_event`].
    pub(super) fn take_notes(&self) -> Vec<String> {
        let mut notes = std::mem::take(&mut *self.notes.borrow_mut());
        let more = self.more_notes.replace(0);
        if more > 0 {
            notes.push(format!("and {more} more time-zone adjustments like these"));
        }
        notes
    }

    pub(super) fn note(&self, n: String) {
        let mut notes = self.notes.borrow_mut();
        if notes.contains(&n) {
            return;
        }
        if notes.len() < MAX_NOTES {
            notes.push(n);
        } else {
            self.more_notes.set(self.more_notes.get() + 1);
        }
    }

    /// A local date-time with a TZID as a value of the model.
    pub(super) fn value(&self, tzid: &str, local: LocalDateTime) -> Result<DateTimeValue, String> {
        let naive = local.to_chrono().ok_or("not a valid date-time")?;
        let year = naive.year();
        let open = year + RECURRING_SPAN_YEARS;
        let last = match self.reach.get() {
            Reach::Once => year,
            Reach::UntilYear(y) => y.min(open),
            Reach::Days(d) => (naive + Duration::days(d)).year().min(open),
            Reach::Open => open,
        }
        .min(LAST_YEAR)
        .max(year);
        let Some(zone) = self.defined.get(tzid) else {
            if let Some(t) = tz::resolve_tzid(tzid) {
                return Ok(zoned(local, t));
            }
            if let Some(t) = tz::offset_zone(tzid) {
                self.note(format!("TZID {tzid:?} read as {}", t.name()));
                return Ok(zoned(local, t));
            }
            if let Some(t) = tz::two_offset_zone(tzid) {
                self.note(format!(
                    "TZID {tzid:?} names a standard and a daylight offset only: read as {}, the best-known zone with both",
                    t.name()
                ));
                return Ok(zoned(local, t));
            }
            return Err(format!(
                "unknown time zone {tzid:?} (not an IANA, Windows or offset name, and no VTIMEZONE defines it)"
            ));
        };
        if let Some(t) = tz::resolve_tzid(tzid).or(zone.hint) {
            return Ok(zoned(local, t));
        }
        match self.mapped(tzid, zone, year, last)? {
            Mapped::Iana(name, how) => {
                self.note(format!(
                    "TZID {tzid:?} mapped to {name}, whose rules match the file's VTIMEZONE{how}"
                ));
                Ok(DateTimeValue::Zoned { local, tzid: name })
            }
            Mapped::Own { onsets, compared } => {
                let offset = zone.offset_of_local(&onsets, naive);
                let utc = naive - Duration::seconds(i64::from(offset));
                let why = if compared {
                    "matches no IANA zone"
                } else {
                    "was not compared with the IANA zones (too many zones in the document)"
                };
                let mut n =
                    format!("TZID {tzid:?} {why}: times converted to UTC by the file's VTIMEZONE");
                if self.reach.get() != Reach::Once && onsets.iter().any(|o| o.1 != o.2) {
                    n.push_str(" (its offset changes, which the repeats in UTC do not follow)");
                }
                self.note(n);
                Ok(DateTimeValue::Utc(LocalDateTime::from_chrono(utc)))
            }
        }
    }

    fn mapped(&self, tzid: &str, zone: &FileZone, first: i32, last: i32) -> Result<Mapped, String> {
        let key = (tzid.to_string(), first, last);
        if let Some(m) = self.cache.borrow().get(&key) {
            return Ok(m.clone());
        }
        if self.cache.borrow().len() >= MAX_RESOLVED {
            return Err(format!(
                "TZID {tzid:?}: over {MAX_RESOLVED} distinct time zones and years in one document"
            ));
        }
        // Checked before the work: one zone's onsets can overshoot the budget, by at most
        // MAX_OBSERVANCES × 2 × MAX_ONSETS, once.
        if self.onsets_made.get() >= MAX_DOCUMENT_ONSETS {
            return Err(format!(
                "TZID {tzid:?}: the document's VTIMEZONEs define over {MAX_DOCUMENT_ONSETS} offset changes"
            ));
        }
        let onsets = zone.onsets(first, last);
        self.onsets_made.set(self.onsets_made.get() + onsets.len());
        let compared = self.compared.get() < MAX_MATCHED;
        let matching = |onsets: &[Onset], slack: Duration| {
            let (from, to) = (ymd(first, 1, 1), ymd(last + 1, 1, 1));
            let to = zone.defined_until(onsets, from).map_or(to, |t| t.min(to));
            zone.matching_between(onsets, from, to, slack)
        };
        let iana = if compared {
            self.compared.set(self.compared.get() + 1);
            matching(&onsets, Duration::zero())
                .map(|t| (t, ""))
                .or_else(|| matching(&onsets, Duration::hours(NEAR_HOURS)).map(|t| (t, NEAR)))
        } else {
            None
        };
        let m = match iana {
            Some((t, how)) => Mapped::Iana(t.name().to_string(), how),
            None => Mapped::Own {
                onsets: Rc::new(onsets),
                compared,
            },
        };
        self.cache.borrow_mut().insert(key, m.clone());
        Ok(m)
    }
}

fn zoned(local: LocalDateTime, t: Tz) -> DateTimeValue {
    DateTimeValue::Zoned {
        local,
        tzid: t.name().to_string(),
    }
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// `YYYYMMDDTHHMMSS` (a trailing `Z` is ignored: VTIMEZONE onsets are local).
fn local(v: &str) -> Option<NaiveDateTime> {
    let v = v.trim_end_matches(['Z', 'z']);
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()
}

/// `±HHMM` or `±HHMMSS` as seconds east of UTC.
fn offset_seconds(v: &str) -> Option<i32> {
    let (sign, digits) = match v.as_bytes().first()? {
        b'+' => (1, &v[1..]),
        b'-' => (-1, &v[1..]),
        _ => (1, v),
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i32>().ok());
    let secs = n(0..2)? * 3600 + n(2..4)? * 60 + n(4..6).unwrap_or(0);
    (secs < 24 * 3600).then_some(sign * secs)
}

/// The onsets of an observance's RRULE from `first_year - 2` (older ones only matter for the
/// offset in force at the start, which the latest of them gives) until `end`.
fn expand_yearly(
    rule: &str,
    (start, from): (NaiveDateTime, i32),
    first_year: i32,
    end: NaiveDateTime,
) -> Vec<NaiveDateTime> {
    let mut parts = Vec::new();
    let (mut yearly, mut counted, mut ends) = (false, false, None);
    for part in rule.split(';') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = k.trim().to_ascii_uppercase();
        match k.as_str() {
            // UNTIL is UTC in a VTIMEZONE (RFC 5545 §3.3.10), and the onsets are local times
            // in the offset before them: moved into that offset, so that the last onset, at
            // 03:00 local on the day after UNTIL's date in UTC, is not cut off.
            "UNTIL" => {
                let zulu = v.trim().ends_with(['Z', 'z']);
                let v = v.trim().trim_end_matches(['Z', 'z']);
                let until = local(v)
                    .map(|u| {
                        if zulu {
                            u + Duration::seconds(i64::from(from))
                        } else {
                            u
                        }
                    })
                    .or_else(|| {
                        NaiveDate::parse_from_str(v, "%Y%m%d")
                            .ok()
                            .and_then(|d| d.and_hms_opt(23, 59, 59))
                    });
                match until {
                    Some(u) => {
                        ends = Some(u);
                        parts.push(format!("UNTIL={}Z", u.format("%Y%m%dT%H%M%S")));
                    }
                    None => return Vec::new(),
                }
            }
            _ => {
                yearly |= k == "FREQ" && v.trim().eq_ignore_ascii_case("YEARLY");
                counted |= k == "COUNT";
                parts.push(part.trim().to_string());
            }
        }
    }
    // A yearly rule without COUNT repeats the same way from any year: start near the span.
    // Two years back, so the onset before the span's first one is generated too. Not past its
    // UNTIL: a rule that ended before the span (China's DST, 1986 to 1991, in libical's and
    // Citadel's zones) keeps every instance, the last of which sets the offset after it.
    let near = start
        .with_year(first_year - 2)
        .or_else(|| (start - Duration::days(1)).with_year(first_year - 2))
        .unwrap_or(start);
    let anchor = if yearly && !counted && start < near && ends.is_none_or(|u| u >= near) {
        near
    } else {
        start
    };
    let text = parts.join(";");
    // The rrule crate panics on some non-ASCII input (crate::recur's NOT_ASCII says how).
    if !text.is_ascii() {
        return Vec::new();
    }
    let Ok(r) = rrule::RRule::<rrule::Unvalidated>::from_str(&text) else {
        return Vec::new();
    };
    let Ok(set) = r.build(rrule::Tz::UTC.from_utc_datetime(&anchor)) else {
        return Vec::new();
    };
    set.into_iter()
        .map(|t| t.naive_utc())
        .take_while(|t| *t < end)
        .take(MAX_ONSETS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(text: &str) -> FileZone {
        let doc = format!("BEGIN:VCALENDAR\r\n{text}END:VCALENDAR\r\n");
        let cal = icalendar::parser::read_calendar(&doc).unwrap();
        FileZone::parse(&cal.components[0]).unwrap()
    }

    const BERLIN_LIKE: &str = "BEGIN:VTIMEZONE\r\nTZID:MyTimezone\r\n\
        BEGIN:STANDARD\r\nDTSTART:16011028T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n\
        TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\n\
        BEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n\
        TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

    #[test]
    fn rules_like_berlins_are_berlin() {
        let z = zone(BERLIN_LIKE);
        assert_eq!(
            z.matching_iana(&z.onsets(2027, 2032), 2027, 2032),
            Some(chrono_tz::Europe::Berlin)
        );
        let onsets = z.onsets(2027, 2027);
        let march = onsets
            .iter()
            .find(|o| o.0.year() == 2027 && o.0.month() == 3);
        assert_eq!(
            march,
            Some(&(ymd(2027, 3, 28) + Duration::hours(1), 3600, 7200))
        );
    }

    /// python-icalendar's issue 722: a zone of its own changing back by two hours. A wall
    /// time that occurs twice is its first occurrence, one that is skipped is read in the
    /// offset before the change (RFC 5545 §3.3.5).
    #[test]
    fn a_time_that_occurs_twice_is_its_first_occurrence() {
        let z = zone(
            "BEGIN:VTIMEZONE\r\nTZID:MyTimezone\r\n\
             BEGIN:DAYLIGHT\r\nDTSTART:20240101T000000\r\nTZOFFSETFROM:+1000\r\n\
             TZOFFSETTO:+1200\r\nEND:DAYLIGHT\r\n\
             BEGIN:STANDARD\r\nDTSTART:20240505T080000\r\nTZOFFSETFROM:+1200\r\n\
             TZOFFSETTO:+1000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        );
        let onsets = z.onsets(2024, 2024);
        let at = |d: u32, m: u32, h: i64, s: i64| {
            ymd(2024, m, d) + Duration::hours(h) + Duration::seconds(s)
        };
        // 07:00:01 on 5 May comes first at +12, then again at +10.
        assert_eq!(z.offset_of_local(&onsets, at(5, 5, 7, 1)), 12 * 3600);
        assert_eq!(z.offset_of_local(&onsets, at(5, 5, 8, 1)), 10 * 3600);
        assert_eq!(z.offset_of_local(&onsets, at(5, 5, 5, 59)), 12 * 3600);
        // 01:00 on 1 January does not exist (00:00 +10 is 02:00 +12): read at +10.
        assert_eq!(z.offset_of_local(&onsets, at(1, 1, 1, 0)), 10 * 3600);
        assert_eq!(z.offset_of_local(&onsets, at(1, 1, 2, 0)), 12 * 3600);
    }

    #[test]
    fn odd_rules_match_nothing_and_fixed_offsets_are_etc() {
        // DST on the first Sunday of May: no zone does that.
        let odd = BERLIN_LIKE.replace("BYDAY=-1SU;BYMONTH=3", "BYDAY=1SU;BYMONTH=5");
        let odd = zone(&odd);
        assert_eq!(odd.matching_iana(&odd.onsets(2027, 2027), 2027, 2027), None);
        let fixed = "BEGIN:VTIMEZONE\r\nTZID:CUSTOM_tzid\r\nBEGIN:STANDARD\r\n\
            DTSTART:19700101T000000\r\nTZOFFSETFROM:+1100\r\nTZOFFSETTO:+1100\r\nEND:STANDARD\r\n\
            END:VTIMEZONE\r\n";
        let fixed = zone(fixed);
        let m = fixed.matching_iana(&fixed.onsets(2027, 2027), 2027, 2027);
        assert_eq!(m.map(|t| t.name()), Some("Etc/GMT-11"));
    }

    #[test]
    fn a_series_reaches_as_far_as_its_rule_bounds_it() {
        let r = |rule: &str| Reach::of(Some(rule), None);
        assert_eq!(Reach::of(None, None), Reach::Once);
        assert_eq!(r("FREQ=DAILY;COUNT=5"), Reach::Days(5));
        assert_eq!(r("FREQ=DAILY;COUNT=5;BYDAY=MO,TU"), Reach::Days(35));
        assert_eq!(
            r("FREQ=WEEKLY;INTERVAL=2;COUNT=10;BYDAY=TU"),
            Reach::Days(140)
        );
        assert_eq!(
            r("FREQ=MONTHLY;UNTIL=20051231T000000Z"),
            Reach::UntilYear(2005)
        );
        // Periods that can hold no instance (the 31st, 29 February) and open rules: open.
        assert_eq!(r("FREQ=MONTHLY;COUNT=3"), Reach::Open);
        assert_eq!(r("FREQ=DAILY;COUNT=5;BYMONTH=2"), Reach::Open);
        assert_eq!(r("FREQ=WEEKLY"), Reach::Open);
        assert_eq!(r("FREQ=DAILY;COUNT=100000"), Reach::Open);
        // RDATEs: their last year, with an UNTIL the later of the two.
        assert_eq!(Reach::of(None, Some(2006)), Reach::UntilYear(2006));
        assert_eq!(
            Reach::of(Some("FREQ=WEEKLY;UNTIL=20050601"), Some(2007)),
            Reach::UntilYear(2007)
        );
        assert_eq!(
            Reach::of(Some("FREQ=DAILY;COUNT=2"), Some(2005)),
            Reach::Open
        );
        assert_eq!(
            Reach::last_year([
                "20050411T100000/20050411T110000,20060418T100000/PT1H",
                "2004"
            ]),
            Some(2006)
        );
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(offset_seconds("+0100"), Some(3600));
        assert_eq!(offset_seconds("-0330"), Some(-12600));
        assert_eq!(offset_seconds("+013015"), Some(5415));
        assert_eq!(offset_seconds("+2500"), None);
        assert_eq!(offset_seconds("0100x"), None);
    }
}
