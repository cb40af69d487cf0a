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

//!
//! `frame.rs` turns wall-clock times into instants, `rule.rs` generates instance starts, and
//! this file places them in a window.

mod frame;
mod rule;

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::model::{DateTimeValue, EventContent, LocalDateTime};

pub use frame::{instant, resolve_local};
pub use rule::{after_until, ends_before_start, parse_rrule};

use frame::{in_frame, naive, Frame, Span};
use rule::starts;

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
                all_day: master.start.is_date(),
            }]
        } else {
            Vec::new()
        };
        return Ok(Expansion {
            occurrences,
            truncated: false,
        });
    }
    let g = Generated {
        content,
        frame,
        span,
        floating,
        from,
        to,
        limits,
    };
    let (mut out, truncated) = g.instances(fast)?;
    out.extend(g.moved()?);
    out.sort_by_key(|o| (o.start, o.component));
    Ok(Expansion {
        occurrences: out,
        truncated,
    })
}

/// A recurring event's expansion over one window.
struct Generated<'a> {
    content: &'a EventContent,
    frame: Frame,
    span: Span,
    floating: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limits: ExpandLimits,
}

/// Generated starts that do not become instances of the master: EXDATEs (whole days for a
/// DATE EXDATE of a timed event) and the slots of overrides.
struct Skipped {
    exdates: HashSet<NaiveDateTime>,
    exdays: HashSet<crate::model::Date>,
    overridden: HashSet<NaiveDateTime>,
}

impl Skipped {
    fn contains(&self, local: NaiveDateTime) -> bool {
        self.exdates.contains(&local)
            || self
                .exdays
                .contains(&crate::model::Date::from_chrono(local.date()))
            || self.overridden.contains(&local)
    }
}

impl Generated<'_> {
    fn skipped(&self) -> Result<Skipped, RecurError> {
        let master = &self.content.master;
        let mut s = Skipped {
            exdates: HashSet::new(),
            exdays: HashSet::new(),
            overridden: HashSet::new(),
        };
        for x in &master.exdates {
            match x {
                DateTimeValue::Date(d) if !master.start.is_date() => {
                    s.exdays.insert(*d);
                }
                _ => {
                    s.exdates.insert(in_frame(x, self.frame, self.floating)?);
                }
            }
        }
        for o in &self.content.overrides {
            if let Some(rid) = &o.recurrence_id {
                s.overridden
                    .insert(in_frame(rid, self.frame, self.floating)?);
            }
        }
        Ok(s)
    }

    /// The master's instances in the window, and whether a limit cut them short.
    fn instances(&self, fast: bool) -> Result<(Vec<Occurrence>, bool), RecurError> {
        let skipped = self.skipped()?;
        let all_day = self.content.master.start.is_date();
        let (span, frame, limits) = (self.span, self.frame, self.limits);
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut truncated = false;
        // Wall-clock and UTC differ by at most 26 hours; a start later than this cannot overlap.
        let stop_after = self.to.naive_utc() + ChronoDuration::hours(27);
        let mut examined = 0usize;
        // Instances starting before this (wall clock) end before the window: the rule may be
        // anchored there instead of at DTSTART.
        let not_before = self.from.naive_utc()
            - ChronoDuration::hours(27)
            - ChronoDuration::days(span.days.abs())
            - ChronoDuration::seconds(span.secs.abs());
        for local in starts(self.content, self.floating, fast.then_some(not_before))? {
            examined += 1;
            if examined > limits.max_examined {
                truncated = true;
                break;
            }
            if local > stop_after {
                break;
            }
            if skipped.contains(local) {
                continue;
            }
            let start = frame.to_instant(local);
            let end = span.end(local, frame).max(start);
            if overlaps(start, end, self.from, self.to) && seen.insert(start) {
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
        // The rrule iterator stops on its own internal loop limit without saying why; a rule
        // that still had instances before the window end but produced none is reported as cut.
        Ok((out, truncated || examined >= limits.max_examined))
    }

    /// Overrides in the window. They are placed by their own DTSTART/DTEND, so an instance
    /// moved into the window is found even when its original slot lies outside it.
    fn moved(&self) -> Result<Vec<Occurrence>, RecurError> {
        let mut out = Vec::new();
        for (i, o) in self.content.overrides.iter().enumerate() {
            let Some(rid) = &o.recurrence_id else {
                continue;
            };
            let oframe = Frame::of(&o.start, self.floating)?;
            let olocal = naive(o.start.local())?;
            let start = oframe.to_instant(olocal);
            let end = Span::of(o, self.floating)?.end(olocal, oframe).max(start);
            if overlaps(start, end, self.from, self.to) {
                out.push(Occurrence {
                    start,
                    end,
                    recurrence_id: LocalDateTime::from_chrono(in_frame(
                        rid,
                        self.frame,
                        self.floating,
                    )?),
                    component: i + 1,
                    all_day: o.start.is_date(),
                });
            }
        }
        Ok(out)
    }
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
    use chrono::{NaiveDate, TimeZone};
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
