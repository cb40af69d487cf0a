//! Wall-clock times to instants: the zone (or UTC, or the viewer's zone for floating times)
//! an event's times are read in, RFC 5545's rules for gaps and overlaps, and an instance's
//! length.

use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::RecurError;
use crate::model::{Component, DateTimeValue, End, LocalDateTime};

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

pub(super) fn offset_seconds(offset: &<Tz as TimeZone>::Offset) -> ChronoDuration {
    use chrono::Offset;
    ChronoDuration::seconds(offset.fix().local_minus_utc().into())
}

/// The zone a value is read in: its own TZID, UTC, or the caller's zone for floating and DATE values.
#[derive(Clone, Copy, Debug)]
pub(super) enum Frame {
    Zone(Tz),
    Utc,
    Floating(Tz),
}

impl Frame {
    pub(super) fn of(v: &DateTimeValue, floating: Tz) -> Result<Self, RecurError> {
        Ok(match v {
            DateTimeValue::Zoned { tzid, .. } => Self::Zone(
                crate::tz::iana(tzid).ok_or_else(|| RecurError::UnknownZone(tzid.clone()))?,
            ),
            DateTimeValue::Utc(_) => Self::Utc,
            DateTimeValue::Date(_) | DateTimeValue::Floating(_) => Self::Floating(floating),
        })
    }

    pub(super) fn to_instant(self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Self::Utc => Utc.from_utc_datetime(&local),
            Self::Zone(tz) | Self::Floating(tz) => resolve_local(local, tz),
        }
    }

    pub(super) fn to_local(self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Self::Utc => t.naive_utc(),
            Self::Zone(tz) | Self::Floating(tz) => t.with_timezone(&tz).naive_local(),
        }
    }
}

pub(super) fn naive(l: LocalDateTime) -> Result<NaiveDateTime, RecurError> {
    l.to_chrono()
        .ok_or_else(|| RecurError::BadDate(format!("{l:?}")))
}

/// The instant a value names, reading floating and DATE values in `floating`.
pub fn instant(v: &DateTimeValue, floating: Tz) -> Result<DateTime<Utc>, RecurError> {
    Ok(Frame::of(v, floating)?.to_instant(naive(v.local())?))
}

/// A value expressed as wall-clock time in `frame` (RDATE/EXDATE/RECURRENCE-ID given in another
/// zone than DTSTART are compared in DTSTART's zone).
pub(super) fn in_frame(
    v: &DateTimeValue,
    frame: Frame,
    floating: Tz,
) -> Result<NaiveDateTime, RecurError> {
    let own = Frame::of(v, floating)?;
    match (own, frame) {
        (Frame::Floating(_), _) => naive(v.local()),
        _ => Ok(frame.to_local(own.to_instant(naive(v.local())?))),
    }
}

/// How long each instance lasts: nominal days (wall-clock) plus exact seconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) days: i64,
    pub(super) secs: i64,
}

impl Span {
    pub(super) fn of(c: &Component, floating: Tz) -> Result<Self, RecurError> {
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

    pub(super) fn end(self, local_start: NaiveDateTime, frame: Frame) -> DateTime<Utc> {
        let local_end = local_start + ChronoDuration::days(self.days);
        frame.to_instant(local_end) + ChronoDuration::seconds(self.secs)
    }
}
