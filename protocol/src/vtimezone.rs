//! VTIMEZONE components generated from the IANA database (chrono-tz), so that a feed carries a
//! definition for every TZID it uses (RFC 5545 §3.6.5) and clients that do not know IANA names
//! (or know an older copy of them) still compute the same UTC offsets as the store did.
//!
//! The zone's transitions from [`FIRST_YEAR`] through [`LAST_YEAR`] are read from chrono-tz and
//! grouped: consecutive years whose transition has the same offsets, name, month, weekday rule
//! ("2nd Sunday", "last Sunday") and local time become one observance with a yearly RRULE (with
//! UNTIL when the rule ended, open-ended when it still holds at the end of the range, so clients
//! extend it into the future the way the database does). Transitions that follow no weekday
//! rule become observances of their own. A zone without transitions gets one STANDARD.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

use crate::ics::fold_line;

/// First year whose transitions are written. Older history is irrelevant to a calendar of
/// current events and would only make every feed larger.
pub const FIRST_YEAR: i32 = 1970;
/// Last year scanned; a rule still in force then is written without UNTIL.
pub const LAST_YEAR: i32 = 2037;

/// One change of UTC offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The instant of the change.
    pub at: DateTime<Utc>,
    /// Offset before, seconds east of UTC.
    pub from: i32,
    /// Offset after.
    pub to: i32,
    /// Abbreviation after ("CEST").
    pub name: String,
    /// True if the new offset includes daylight saving.
    pub dst: bool,
}

fn offset_at(tz: Tz, t: NaiveDateTime) -> (i32, String, bool) {
    let o = tz.offset_from_utc_datetime(&t);
    let dst = o.dst_offset().num_seconds() != 0;
    let name = o.abbreviation().unwrap_or("").to_owned();
    (o.fix().local_minus_utc(), name, dst)
}

/// Every transition of `tz` in [`FIRST_YEAR`, `LAST_YEAR`], in order.
pub fn transitions(tz: Tz) -> Vec<Transition> {
    let start = NaiveDate::from_ymd_opt(FIRST_YEAR, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let end = NaiveDate::from_ymd_opt(LAST_YEAR + 1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let mut out = Vec::new();
    // Offsets change at most a few times a year, and no zone in the database has kept an
    // offset for less than weeks (Morocco's Ramadan pauses are the shortest, about a month);
    // a scan every two days finds each change and a binary search finds its second. The
    // test in tests/vtimezone.rs checks every transition of ten zones against the database.
    let step = Duration::days(2);
    let mut t = start;
    let mut cur = offset_at(tz, t);
    while t < end {
        let next = t + step;
        let n = offset_at(tz, next);
        if n != cur {
            let (mut lo, mut hi) = (t, next);
            while hi - lo > Duration::seconds(1) {
                let mid = lo + (hi - lo) / 2;
                if offset_at(tz, mid) == cur {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            // A change of name or DST flag without a change of offset is no transition for a
            // client computing times; it only starts a new observance.
            out.push(Transition {
                at: hi.and_utc(),
                from: cur.0,
                to: n.0,
                name: n.1.clone(),
                dst: n.2,
            });
            cur = n;
        }
        t = next;
    }
    out
}

/// "+0100", "-0330", "+013045" (seconds only where the database has them).
fn fmt_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, (a % 3600) / 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// The yearly weekday rule a local date follows: (month, nth, weekday), nth = -1 for "last".
fn weekday_rule(d: NaiveDate) -> (u32, i32, &'static str) {
    let days_in_month = {
        let (y, m) = (d.year(), d.month());
        let next = if m == 12 {
            NaiveDate::from_ymd_opt(y + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(y, m + 1, 1)
        };
        next.map(|n| n.pred_opt().map_or(31, |p| p.day()))
            .unwrap_or(31)
    };
    let nth = if d.day() + 7 > days_in_month {
        -1
    } else {
        ((d.day() - 1) / 7 + 1) as i32
    };
    let wd = DAYS[d.weekday().num_days_from_monday() as usize];
    (d.month(), nth, wd)
}

struct Observance {
    first: Transition,
    local: NaiveDateTime,
    last_at: DateTime<Utc>,
    last_year: i32,
    rule: (u32, i32, &'static str),
    count: usize,
}

impl Observance {
    fn same_rule(&self, t: &Transition, local: NaiveDateTime) -> bool {
        self.first.from == t.from
            && self.first.to == t.to
            && self.first.name == t.name
            && self.first.dst == t.dst
            && self.local.time() == local.time()
            && self.rule == weekday_rule(local.date())
            && local.year() == self.last_year + 1
    }
}

/// The VTIMEZONE for `tz`, folded, CRLF-terminated, with `TZID:{tzid}`.
pub fn vtimezone(tzid: &str, tz: Tz) -> String {
    let ts = transitions(tz);
    let mut groups: Vec<Observance> = Vec::new();
    for t in ts {
        // DTSTART of an observance is local time in the offset before the change.
        let local = t.at.naive_utc() + Duration::seconds(t.from.into());
        // Start and end of DST alternate, so the group to extend is the latest one of the
        // same kind (same offsets and name), not simply the last one.
        let latest = groups
            .iter_mut()
            .rev()
            .find(|g| g.first.from == t.from && g.first.to == t.to && g.first.name == t.name);
        if let Some(g) = latest {
            if g.same_rule(&t, local) {
                g.last_at = t.at;
                g.last_year = local.year();
                g.count += 1;
                continue;
            }
        }
        groups.push(Observance {
            rule: weekday_rule(local.date()),
            local,
            last_at: t.at,
            last_year: local.year(),
            count: 1,
            first: t,
        });
    }
    // A rule is still in force if another transition of the same pattern would fall inside
    // the scanned range were it not its end; such a rule is written open-ended.
    let open = |g: &Observance| g.count > 1 && g.last_year == LAST_YEAR;

    let mut out = String::new();
    fold_line(&mut out, "BEGIN:VTIMEZONE");
    fold_line(&mut out, &format!("TZID:{tzid}"));
    if groups.is_empty() {
        // No clock in this crate: a zone without transitions has the same offset at any time.
        let (off, name, _) = offset_at(tz, NaiveDate::default().and_time(Default::default()));
        write_observance(&mut out, false, off, off, &name, "19700101T000000", None);
    } else {
        // The offset in force before the first listed change, so times before it resolve.
        let f = &groups[0].first;
        let (_, before_name, before_dst) = offset_at(tz, f.at.naive_utc() - Duration::days(1));
        write_observance(
            &mut out,
            before_dst,
            f.from,
            f.from,
            &before_name,
            "19700101T000000",
            None,
        );
        for g in &groups {
            let dtstart = g.local.format("%Y%m%dT%H%M%S").to_string();
            let rrule = (g.count > 1).then(|| {
                let (m, nth, wd) = g.rule;
                let mut r = format!("FREQ=YEARLY;BYMONTH={m};BYDAY={nth}{wd}");
                if !open(g) {
                    let _ = write!(r, ";UNTIL={}", g.last_at.format("%Y%m%dT%H%M%SZ"));
                }
                r
            });
            write_observance(
                &mut out,
                g.first.dst,
                g.first.from,
                g.first.to,
                &g.first.name,
                &dtstart,
                rrule.as_deref(),
            );
        }
    }
    fold_line(&mut out, "END:VTIMEZONE");
    out
}

fn write_observance(
    out: &mut String,
    dst: bool,
    from: i32,
    to: i32,
    name: &str,
    dtstart: &str,
    rrule: Option<&str>,
) {
    let kind = if dst { "DAYLIGHT" } else { "STANDARD" };
    fold_line(out, &format!("BEGIN:{kind}"));
    fold_line(out, &format!("DTSTART:{dtstart}"));
    if let Some(r) = rrule {
        fold_line(out, &format!("RRULE:{r}"));
    }
    fold_line(out, &format!("TZOFFSETFROM:{}", fmt_offset(from)));
    fold_line(out, &format!("TZOFFSETTO:{}", fmt_offset(to)));
    // Abbreviations like "+03" are numeric stand-ins, still useful as TZNAME; only characters
    // that could break the line are dropped.
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-'))
        .collect();
    if !name.is_empty() {
        fold_line(out, &format!("TZNAME:{name}"));
    }
    fold_line(out, &format!("END:{kind}"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_has_the_eu_rules() {
        let v = vtimezone("Europe/Berlin", chrono_tz::Europe::Berlin);
        assert!(v.contains("TZID:Europe/Berlin\r\n"), "{v}");
        // Since 1996: last Sunday of March 02:00 CET -> CEST, open-ended.
        assert!(
            v.contains(
                "BEGIN:DAYLIGHT\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
            ),
            "{v}"
        );
        assert!(
            v.contains("DTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"),
            "{v}"
        );
        assert!(v.contains("TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET"));
    }

    #[test]
    fn zones_without_dst_get_one_standard() {
        let v = vtimezone("Asia/Kolkata", chrono_tz::Asia::Kolkata);
        assert!(v.contains("TZOFFSETTO:+0530"), "{v}");
        assert!(!v.contains("DAYLIGHT"), "{v}");
        let v = vtimezone("UTC", chrono_tz::UTC);
        assert!(v.contains("TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000"), "{v}");
    }

    #[test]
    fn new_york_rule_changes_have_until() {
        let v = vtimezone("America/New_York", chrono_tz::America::New_York);
        // 1987-2006: first Sunday of April; 2007-: second Sunday of March, open-ended.
        assert!(
            v.contains("RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z"),
            "{v}"
        );
        assert!(
            v.contains("RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"),
            "{v}"
        );
        assert_eq!(fmt_offset(-4 * 3600 - 30 * 60), "-0430");
    }
}
