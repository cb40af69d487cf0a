//! Generating an event's instance starts in wall-clock time: its RRULE through the rrule crate
//! (parsed rules cached), its RDATEs, and a fast-forward to a window far from DTSTART.

use std::collections::HashMap;
use std::str::FromStr;

use chrono::{Duration as ChronoDuration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::frame::{in_frame, naive, Frame};
use super::RecurError;
use crate::model::{DateTimeValue, EventContent};

/// Wall-clock instance starts of the master, in ascending order, lazily.
pub(super) struct Starts {
    inner: Option<rrule::RRuleSetIter>,
    extra: std::vec::IntoIter<NaiveDateTime>,
    peeked_rule: Option<NaiveDateTime>,
    peeked_extra: Option<NaiveDateTime>,
}

impl Iterator for Starts {
    type Item = NaiveDateTime;

    fn next(&mut self) -> Option<NaiveDateTime> {
        if self.peeked_rule.is_none() {
            self.peeked_rule = self
                .inner
                .as_mut()
                .and_then(|i| i.next())
                .map(|t| t.naive_utc());
        }
        if self.peeked_extra.is_none() {
            self.peeked_extra = self.extra.next();
        }
        match (self.peeked_rule, self.peeked_extra) {
            (Some(a), Some(b)) if b < a => self.peeked_extra.take(),
            (Some(_), _) => self.peeked_rule.take(),
            (None, Some(_)) => self.peeked_extra.take(),
            (None, None) => None,
        }
    }
}

/// Parses a RRULE against a wall-clock DTSTART; used by validation and by expansion.
pub fn parse_rrule(
    rule: &str,
    start: &DateTimeValue,
    floating: Tz,
) -> Result<rrule::RRuleSet, RecurError> {
    let bad = |reason: String| RecurError::BadRule {
        rule: rule.to_string(),
        reason,
    };
    if rule.chars().any(|c| c.is_control()) {
        return Err(bad("control characters".into()));
    }
    let frame = Frame::of(start, floating)?;
    let dtstart = naive(start.local())?;
    parse_rrule_at(rule, dtstart, frame)
}

/// Whether `rule`'s UNTIL falls before `start` (compared as [`parse_rrule`] compares them, a
/// floating start read in UTC). Such a rule adds no instance (RFC 5545 §3.8.5.3 would still
/// count DTSTART; libical, ical.js and recurring-ical-events count none, and the importer takes
/// such an event as cancelled). The rrule crate refuses the rule, and files from the wild have
/// it (khal's tests keep one, Confluence writes one for a deleted series).
pub fn ends_before_start(rule: &str, start: &DateTimeValue) -> bool {
    let (Ok(frame), Ok(dtstart)) = (Frame::of(start, Tz::UTC), naive(start.local())) else {
        return false;
    };
    rule.split(';')
        .filter_map(|part| part.split_once('='))
        .any(|(k, v)| {
            k.eq_ignore_ascii_case("UNTIL") && parse_until(v, frame).is_some_and(|u| u < dtstart)
        })
}

/// A test of whether a value falls after `rule`'s UNTIL (both read in `start`'s frame,
/// floating values in UTC): an instance there is not in the series. `None` when the rule has
/// no UNTIL. The rule is read once, however many values are tested.
pub fn after_until(rule: &str, start: &DateTimeValue) -> Option<impl Fn(&DateTimeValue) -> bool> {
    let frame = Frame::of(start, Tz::UTC).ok()?;
    let until = rule
        .split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("UNTIL"))
        .and_then(|(_, v)| parse_until(v, frame))?;
    Some(move |at: &DateTimeValue| in_frame(at, frame, Tz::UTC).is_ok_and(|at| at > until))
}

/// [`parse_rrule`] with the rule anchored at `dtstart` (wall clock in `frame`).
pub(super) fn parse_rrule_at(
    rule: &str,
    dtstart: NaiveDateTime,
    frame: Frame,
) -> Result<rrule::RRuleSet, RecurError> {
    let bad = |reason: String| RecurError::BadRule {
        rule: rule.to_string(),
        reason,
    };
    // UNTIL is compared with wall-clock starts, so a UTC UNTIL is moved into DTSTART's frame, and
    // a DATE UNTIL covers its whole day.
    let mut parts = Vec::new();
    for part in rule.split(';') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        if k.eq_ignore_ascii_case("UNTIL") {
            let until = parse_until(v, frame).ok_or_else(|| bad(format!("UNTIL={v}")))?;
            parts.push(format!("UNTIL={}Z", until.format("%Y%m%dT%H%M%S")));
        } else if k.eq_ignore_ascii_case("FREQ")
            && (v.eq_ignore_ascii_case("SECONDLY") || v.eq_ignore_ascii_case("MINUTELY"))
        {
            return Err(bad(
                "FREQ=SECONDLY and FREQ=MINUTELY are not accepted for events".into(),
            ));
        } else {
            parts.push(part.to_string());
        }
    }
    let rule = parsed_rule(&parts.join(";")).map_err(bad)?;
    // Wall-clock times are carried as UTC, so the rrule crate never applies a zone.
    rrule::RRule::build(rule, rrule::Tz::UTC.from_utc_datetime(&dtstart))
        .map_err(|e| bad(e.to_string()))
}

/// Why a rule with a character past ASCII is refused before the rrule crate reads it. RFC
/// 5545's RRULE grammar is ASCII; rrule 0.14 slices a BYDAY value two bytes from its end and
/// panics when that cuts a character (`BYDAY=-íU`), which a fuzzer found: a feed, a CalDAV
/// client or a peer's signed event could take a task, or the node's swarm loop, down with it.
pub const NOT_ASCII: &str = "a character outside ASCII (RFC 5545 rules are ASCII)";

/// Rules parsed so far, shared by all threads (queries split their work over short-lived
/// threads): the same rule is expanded again for every window it is asked for (each anchored
/// anew), and parsing was more than half of an expansion's cost (docs/performance.md). The key
/// is the rule text as given to the rrule crate, UNTIL already moved into DTSTART's frame, so
/// an entry depends on nothing else. Cleared when full, which bounds it against hostile input.
pub(super) const PARSED_RULES_MAX: usize = 4096;

type RuleCache = std::sync::Mutex<HashMap<String, rrule::RRule<rrule::Unvalidated>>>;

static PARSED_RULES: std::sync::LazyLock<RuleCache> = std::sync::LazyLock::new(Default::default);

pub(super) fn parsed_rule(text: &str) -> Result<rrule::RRule<rrule::Unvalidated>, String> {
    if !text.is_ascii() {
        return Err(NOT_ASCII.into());
    }
    if let Some(r) = PARSED_RULES.lock().ok().and_then(|c| c.get(text).cloned()) {
        return Ok(r);
    }
    let r = rrule::RRule::<rrule::Unvalidated>::from_str(text).map_err(|e| e.to_string())?;
    if let Ok(mut c) = PARSED_RULES.lock() {
        if c.len() >= PARSED_RULES_MAX {
            c.clear();
        }
        c.insert(text.to_owned(), r.clone());
    }
    Ok(r)
}

pub(super) fn parse_until(v: &str, frame: Frame) -> Option<NaiveDateTime> {
    if let Some(utc) = v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").ok()?;
        return Some(frame.to_local(Utc.from_utc_datetime(&t)));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S") {
        return Some(t);
    }
    let d = NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
    d.and_hms_opt(23, 59, 59)
}

/// A later anchor for `rule` that generates the same instances from `not_after` on: the rrule
/// crate iterates from DTSTART, so a weekly meeting started years ago would otherwise cost
/// hundreds of generated instances per query. Only rules whose instances repeat with a fixed
/// period and do not count from the start qualify: DAILY and WEEKLY (shifted by whole
/// periods, which keeps weekday and week phase), and MONTHLY with BYDAY or BYMONTHDAY (shifted
/// by whole periods to the 1st, as DTSTART's day then plays no part). Anything else, and any
/// rule with COUNT, keeps DTSTART. An instance the rrule crate might make of the new anchor
/// itself lies before the window, so it is never returned.
pub(super) fn fast_forward(
    rule: &str,
    dtstart: NaiveDateTime,
    not_after: NaiveDateTime,
) -> NaiveDateTime {
    if dtstart >= not_after {
        return dtstart;
    }
    let (mut freq, mut interval, mut by_day_or_monthday) = ("", 1i64, false);
    for part in rule.split(';') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k.to_ascii_uppercase().as_str() {
            "COUNT" => return dtstart,
            "FREQ" => freq = v,
            "INTERVAL" => interval = v.parse().unwrap_or(0),
            "BYDAY" | "BYMONTHDAY" => by_day_or_monthday = true,
            _ => {}
        }
    }
    if interval < 1 {
        return dtstart;
    }
    let period_days = if freq.eq_ignore_ascii_case("DAILY") {
        interval
    } else if freq.eq_ignore_ascii_case("WEEKLY") {
        7 * interval
    } else if freq.eq_ignore_ascii_case("MONTHLY") && by_day_or_monthday {
        let months = |d: NaiveDateTime| {
            i64::from(chrono::Datelike::year(&d)) * 12 + i64::from(chrono::Datelike::month0(&d))
        };
        let k = (months(not_after) - months(dtstart) - 1).div_euclid(interval);
        if k <= 0 {
            return dtstart;
        }
        let m = months(dtstart) + k * interval;
        return NaiveDate::from_ymd_opt((m / 12) as i32, (m % 12) as u32 + 1, 1)
            .map_or(dtstart, |d| d.and_time(dtstart.time()));
    } else {
        return dtstart;
    };
    let k = (not_after - dtstart).num_days().div_euclid(period_days);
    dtstart + ChronoDuration::days(k * period_days)
}

pub(super) fn starts(
    content: &EventContent,
    floating: Tz,
    not_before: Option<NaiveDateTime>,
) -> Result<Starts, RecurError> {
    let m = &content.master;
    let frame = Frame::of(&m.start, floating)?;
    let dtstart = naive(m.start.local())?;
    let inner = match &m.rrule {
        Some(rule) => {
            let anchor = not_before.map_or(dtstart, |t| fast_forward(rule, dtstart, t));
            Some(parse_rrule_at(rule, anchor, frame)?.limit().into_iter())
        }
        None => None,
    };
    // DTSTART always counts as the first instance (RFC 5545 §3.8.5.3), whether or not the rule
    // would generate it; RDATEs join the set. Duplicates are dropped later.
    let mut extra = vec![dtstart];
    for r in &m.rdates {
        extra.push(in_frame(r, frame, floating)?);
    }
    extra.sort();
    Ok(Starts {
        inner,
        extra: extra.into_iter(),
        peeked_rule: None,
        peeked_extra: None,
    })
}
