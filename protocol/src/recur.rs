//! Recurrence expansion: which instances of an event fall in a time window.
//!
//! The rrule crate generates instance start times in *wall-clock* time (it is handed the local
//! DTSTART as if it were UTC, where no day has a gap or an overlap). Each wall-clock start is then
//! turned into an instant here, by the rule of RFC 5545 §3.3.5 that §3.3.10 applies to
//! recurrence instances:
//! - a local time that occurs twice (fall back) means its *first* occurrence;
//! - a local time that does not exist (spring forward) is read with the UTC offset in force
//!   *before* the gap, so 02:30 on a day that jumps from 02:00 to 03:00 becomes 03:30.
//!
//! Two local times that land on the same instant (e.g. 02:00 and 03:00 on a spring-forward day)
//! give one occurrence. Expansion is bounded: at most `max_examined` generated instances are
//! looked at per call, and `truncated` says when that bound cut the answer short.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::model::{Component, DateTimeValue, End, EventContent, LocalDateTime};

/// Bounds on one expansion.
#[derive(Clone, Copy, Debug)]
pub struct ExpandLimits {
    /// Generated instances examined before giving up (hostile or very long rules).
    pub max_examined: usize,
    /// Occurrences returned at most.
    pub max_returned: usize,
}

impl Default for ExpandLimits {
    fn default() -> Self {
        Self {
            max_examined: 50_000,
            max_returned: 10_000,
        }
    }
}

/// Why a recurrence could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurError {
    /// The RRULE text does not parse or is refused by the rule checker.
    #[error("RRULE {rule:?} is invalid: {reason}")]
    BadRule {
        /// The rule text.
        rule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A date or time field that names no real instant.
    #[error("{0} is not a valid date or time")]
    BadDate(String),
    /// A TZID that is not an IANA name.
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
}

/// One instance of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// Start instant.
    pub start: DateTime<Utc>,
    /// End instant (equal to `start` for an event without duration).
    pub end: DateTime<Utc>,
    /// The instance's original wall-clock start, in the master's frame: its RECURRENCE-ID.
    pub recurrence_id: LocalDateTime,
    /// 0 for the master, `i + 1` for `overrides[i]`.
    pub component: usize,
    /// True if the master's DTSTART is a DATE (an all-day event).
    pub all_day: bool,
}

impl Occurrence {
    /// Whether this instance belongs in an expansion of `[from, to)`, by the rule
    /// [`expand`] applies: so a wider expansion can be cut down to a window.
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        overlaps(self.start, self.end, from, to)
    }
}

/// The result of an expansion.
#[derive(Clone, Debug, Default)]
pub struct Expansion {
    /// Occurrences overlapping the window, by start time.
    pub occurrences: Vec<Occurrence>,
    /// True if a limit stopped the expansion before the window's end.
    pub truncated: bool,
}

/// Turns a wall-clock time in `tz` into an instant by RFC 5545 §3.3.5.
pub fn resolve_local(local: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    use chrono::LocalResult;
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: use the offset in force just before it. Gaps are at most a few hours
            // (the largest in the database is a day, when Samoa crossed the date line), so
            // stepping back hour by hour finds the earlier offset quickly.
            for h in 1..=48 {
                let probe = local - ChronoDuration::hours(h);
                if let Some(t) = tz.from_local_datetime(&probe).latest() {
                    let offset = *t.offset();
                    let utc = local - offset_seconds(&offset);
                    return Utc.from_utc_datetime(&utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

fn offset_seconds(offset: &<Tz as TimeZone>::Offset) -> ChronoDuration {
    use chrono::Offset;
    ChronoDuration::seconds(offset.fix().local_minus_utc().into())
}

/// The zone a value is read in: its own TZID, UTC, or the caller's zone for floating and DATE values.
#[derive(Clone, Copy, Debug)]
enum Frame {
    Zone(Tz),
    Utc,
    Floating(Tz),
}

impl Frame {
    fn of(v: &DateTimeValue, floating: Tz) -> Result<Self, RecurError> {
        Ok(match v {
            DateTimeValue::Zoned { tzid, .. } => Self::Zone(
                crate::tz::iana(tzid).ok_or_else(|| RecurError::UnknownZone(tzid.clone()))?,
            ),
            DateTimeValue::Utc(_) => Self::Utc,
            DateTimeValue::Date(_) | DateTimeValue::Floating(_) => Self::Floating(floating),
        })
    }

    fn to_instant(self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Self::Utc => Utc.from_utc_datetime(&local),
            Self::Zone(tz) | Self::Floating(tz) => resolve_local(local, tz),
        }
    }

    fn to_local(self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Self::Utc => t.naive_utc(),
            Self::Zone(tz) | Self::Floating(tz) => t.with_timezone(&tz).naive_local(),
        }
    }
}

fn naive(l: LocalDateTime) -> Result<NaiveDateTime, RecurError> {
    l.to_chrono()
        .ok_or_else(|| RecurError::BadDate(format!("{l:?}")))
}

/// The instant a value names, reading floating and DATE values in `floating`.
pub fn instant(v: &DateTimeValue, floating: Tz) -> Result<DateTime<Utc>, RecurError> {
    Ok(Frame::of(v, floating)?.to_instant(naive(v.local())?))
}

/// A value expressed as wall-clock time in `frame` (RDATE/EXDATE/RECURRENCE-ID given in another
/// zone than DTSTART are compared in DTSTART's zone).
fn in_frame(v: &DateTimeValue, frame: Frame, floating: Tz) -> Result<NaiveDateTime, RecurError> {
    let own = Frame::of(v, floating)?;
    match (own, frame) {
        (Frame::Floating(_), _) => naive(v.local()),
        _ => Ok(frame.to_local(own.to_instant(naive(v.local())?))),
    }
}

/// How long each instance lasts: nominal days (wall-clock) plus exact seconds.
#[derive(Clone, Copy, Debug)]
struct Span {
    days: i64,
    secs: i64,
}

impl Span {
    fn of(c: &Component, floating: Tz) -> Result<Self, RecurError> {
        Ok(match &c.end {
            Some(End::Duration(d)) => {
                let sign = if d.negative { -1 } else { 1 };
                Self {
                    days: sign * (i64::from(d.weeks) * 7 + i64::from(d.days)),
                    secs: sign * i64::from(d.seconds),
                }
            }
            Some(End::At(end)) if c.start.is_date() => {
                let days = (naive(end.local())? - naive(c.start.local())?).num_days();
                Self { days, secs: 0 }
            }
            Some(End::At(end)) => {
                // RFC 5545 §3.8.5.3: the exact duration of the first instance applies to all.
                let secs = (instant(end, floating)? - instant(&c.start, floating)?).num_seconds();
                Self { days: 0, secs }
            }
            None if c.start.is_date() => Self { days: 1, secs: 0 },
            None => Self { days: 0, secs: 0 },
        })
    }

    fn end(self, local_start: NaiveDateTime, frame: Frame) -> DateTime<Utc> {
        let local_end = local_start + ChronoDuration::days(self.days);
        frame.to_instant(local_end) + ChronoDuration::seconds(self.secs)
    }
}

/// Wall-clock instance starts of the master, in ascending order, lazily.
struct Starts {
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

/// [`parse_rrule`] with the rule anchored at `dtstart` (wall clock in `frame`).
fn parse_rrule_at(
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

/// Rules parsed so far, shared by all threads (queries split their work over short-lived
/// threads): the same rule is expanded again for every window it is asked for (each anchored
/// anew), and parsing was more than half of an expansion's cost (docs/performance.md). The key
/// is the rule text as given to the rrule crate, UNTIL already moved into DTSTART's frame, so
/// an entry depends on nothing else. Cleared when full, which bounds it against hostile input.
const PARSED_RULES_MAX: usize = 4096;

type RuleCache = std::sync::Mutex<HashMap<String, rrule::RRule<rrule::Unvalidated>>>;

static PARSED_RULES: std::sync::LazyLock<RuleCache> = std::sync::LazyLock::new(Default::default);

fn parsed_rule(text: &str) -> Result<rrule::RRule<rrule::Unvalidated>, String> {
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

fn parse_until(v: &str, frame: Frame) -> Option<NaiveDateTime> {
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
fn fast_forward(rule: &str, dtstart: NaiveDateTime, not_after: NaiveDateTime) -> NaiveDateTime {
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

fn starts(
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

/// The instances of `content` that overlap `[from, to)`. Floating and all-day values are read in
/// `floating` (the viewer's zone).
pub fn expand(
    content: &EventContent,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    floating: Tz,
    limits: ExpandLimits,
) -> Result<Expansion, RecurError> {
    expand_with(content, from, to, floating, limits, true)
}

fn expand_with(
    content: &EventContent,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    floating: Tz,
    limits: ExpandLimits,
    fast: bool,
) -> Result<Expansion, RecurError> {
    let master = &content.master;
    let frame = Frame::of(&master.start, floating)?;
    let span = Span::of(master, floating)?;
    let all_day = master.start.is_date();

    // Most events happen once: answer those without the machinery below.
    if !master.is_recurring() && content.overrides.is_empty() {
        let local = naive(master.start.local())?;
        let start = frame.to_instant(local);
        let end = span.end(local, frame).max(start);
        let occurrences = if overlaps(start, end, from, to) {
            vec![Occurrence {
                start,
                end,
                recurrence_id: master.start.local(),
                component: 0,
                all_day,
            }]
        } else {
            Vec::new()
        };
        return Ok(Expansion {
            occurrences,
            truncated: false,
        });
    }

    let mut exdates = HashSet::new();
    let mut exdays = HashSet::new();
    for x in &master.exdates {
        match x {
            DateTimeValue::Date(d) if !all_day => {
                exdays.insert(*d);
            }
            _ => {
                exdates.insert(in_frame(x, frame, floating)?);
            }
        }
    }
    let mut overridden: HashMap<NaiveDateTime, usize> = HashMap::new();
    for (i, o) in content.overrides.iter().enumerate() {
        if let Some(rid) = &o.recurrence_id {
            overridden.insert(in_frame(rid, frame, floating)?, i + 1);
        }
    }

    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let mut truncated = false;
    // Wall-clock and UTC differ by at most 26 hours; a start later than this cannot overlap.
    let stop_after = to.naive_utc() + ChronoDuration::hours(27);
    let mut examined = 0usize;
    // Instances starting before this (wall clock) end before the window: the rule may be
    // anchored there instead of at DTSTART.
    let not_before = from.naive_utc()
        - ChronoDuration::hours(27)
        - ChronoDuration::days(span.days.abs())
        - ChronoDuration::seconds(span.secs.abs());
    for local in starts(content, floating, fast.then_some(not_before))? {
        examined += 1;
        if examined > limits.max_examined {
            truncated = true;
            break;
        }
        if local > stop_after {
            break;
        }
        if exdates.contains(&local)
            || exdays.contains(&crate::model::Date::from_chrono(local.date()))
            || overridden.contains_key(&local)
        {
            continue;
        }
        let start = frame.to_instant(local);
        let end = span.end(local, frame).max(start);
        if overlaps(start, end, from, to) && seen.insert(start) {
            if out.len() >= limits.max_returned {
                truncated = true;
                break;
            }
            out.push(Occurrence {
                start,
                end,
                recurrence_id: LocalDateTime::from_chrono(local),
                component: 0,
                all_day,
            });
        }
    }
    if !truncated {
        // The rrule iterator stops on its own internal loop limit without saying why; a rule
        // that still had instances before the window end but produced none is reported as cut.
        truncated = examined >= limits.max_examined;
    }

    // Overrides are placed by their own DTSTART/DTEND, so an instance moved into the window is
    // found even when its original slot lies outside it.
    for (i, o) in content.overrides.iter().enumerate() {
        let Some(rid) = &o.recurrence_id else {
            continue;
        };
        let oframe = Frame::of(&o.start, floating)?;
        let olocal = naive(o.start.local())?;
        let start = oframe.to_instant(olocal);
        let end = Span::of(o, floating)?.end(olocal, oframe).max(start);
        if overlaps(start, end, from, to) {
            out.push(Occurrence {
                start,
                end,
                recurrence_id: LocalDateTime::from_chrono(in_frame(rid, frame, floating)?),
                component: i + 1,
                all_day: o.start.is_date(),
            });
        }
    }
    out.sort_by_key(|o| (o.start, o.component));
    Ok(Expansion {
        occurrences: out,
        truncated,
    })
}

fn overlaps(
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> bool {
    // An instant event (end == start) is in the window if it starts in it.
    start < to && (end > from || (end == start && start >= from))
}

/// The time an event covers from its first start to its last end; `end` is `None` when it
/// recurs without end (or past what the limits let us see).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Earliest start of any instance.
    pub start: DateTime<Utc>,
    /// Latest end of any instance, if bounded.
    pub end: Option<DateTime<Utc>>,
}

/// Computes the extent used by the store's time index. Floating and DATE values are read as UTC
/// here; queries widen their window by a day to cover every viewer's zone.
pub fn extent(content: &EventContent, limits: ExpandLimits) -> Result<Extent, RecurError> {
    let utc = Tz::UTC;
    let m = &content.master;
    let frame = Frame::of(&m.start, utc)?;
    let span = Span::of(m, utc)?;
    let first_local = naive(m.start.local())?;
    let mut start = frame.to_instant(first_local);
    let mut end = Some(span.end(first_local, frame).max(start));
    if m.is_recurring() {
        let unbounded = m.rrule.as_deref().is_some_and(|r| {
            let r = r.to_ascii_uppercase();
            !r.contains("COUNT=") && !r.contains("UNTIL=")
        });
        if unbounded {
            end = None;
        } else {
            let mut last = None;
            let mut n = 0usize;
            for local in starts(content, utc, None)? {
                n += 1;
                if n > limits.max_examined {
                    last = None;
                    break;
                }
                last = Some(local);
            }
            end = last.map(|l| {
                let s = frame.to_instant(l);
                span.end(l, frame).max(s)
            });
            if let (Some(e), Some(rdate_max)) = (end, m.rdates.iter().map(|r| r.local()).max()) {
                let l = naive(rdate_max)?;
                end = Some(e.max(span.end(l, frame)));
            }
        }
    }
    for o in &content.overrides {
        let of = Frame::of(&o.start, utc)?;
        let ol = naive(o.start.local())?;
        let s = of.to_instant(ol);
        start = start.min(s);
        if let Some(e) = end {
            end = Some(e.max(Span::of(o, utc)?.end(ol, of).max(s)));
        }
    }
    Ok(Extent { start, end })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Component, Duration as Dur, End};
    use proptest::prelude::*;

    fn event(rule: &str, start: NaiveDateTime, tz: &str) -> EventContent {
        let mut c = Component::new(DateTimeValue::Zoned {
            local: LocalDateTime::from_chrono(start),
            tzid: tz.into(),
        });
        c.end = Some(End::Duration(Dur {
            seconds: 5400,
            ..Dur::default()
        }));
        c.rrule = Some(rule.into());
        EventContent::new(c)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Anchoring the rule near the window never changes which instances are found.
        #[test]
        fn fast_forward_finds_the_same_instances(
            freq in prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY"]),
            interval in 1u32..5,
            byday in prop::sample::select(vec!["", ";BYDAY=TU", ";BYDAY=MO,TH", ";BYDAY=-1FR", ";BYDAY=2SA", ";BYMONTHDAY=31", ";BYMONTHDAY=1,15"]),
            until in prop::sample::select(vec!["", ";UNTIL=20290301T000000Z"]),
            wkst in prop::sample::select(vec!["", ";WKST=SU"]),
            start_day in 0i64..900,
            hour in 0u32..24,
            from_day in 0i64..1500,
            len_days in 1i64..60,
            tz in prop::sample::select(vec!["Europe/Berlin", "America/New_York", "Australia/Sydney"]),
        ) {
            // Week-numbered BYDAY (2SA, -1FR) only makes sense for MONTHLY.
            prop_assume!(freq == "MONTHLY" || !byday.contains(|c: char| c.is_ascii_digit()) || byday.contains("MONTHDAY"));
            prop_assume!(!(freq == "WEEKLY" && byday.contains("MONTHDAY")));
            let rule = format!("FREQ={freq};INTERVAL={interval}{byday}{until}{wkst}");
            let base = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap().and_hms_opt(hour, 30, 0).unwrap();
            let ev = event(&rule, base + ChronoDuration::days(start_day), tz);
            let from = Utc.from_utc_datetime(&(base + ChronoDuration::days(from_day)));
            let to = from + ChronoDuration::days(len_days);
            let lim = ExpandLimits::default();
            let fast = expand_with(&ev, from, to, Tz::UTC, lim, true).unwrap();
            let slow = expand_with(&ev, from, to, Tz::UTC, lim, false).unwrap();
            prop_assert_eq!(fast.occurrences, slow.occurrences, "{}", rule);
        }
    }
}
