//! Property values: date-times (with the document's zones), dates, durations, text lists.

use super::zones::Zones;
use crate::model::{Date, DateTimeValue, Duration, LocalDateTime};

pub(super) fn parse_dt_prop(
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
) -> Result<DateTimeValue, String> {
    parse_dt(p.val.as_str().trim(), p, zones)
}

pub(super) fn parse_dt(
    v: &str,
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
) -> Result<DateTimeValue, String> {
    let tidied = tidy_date_time(v);
    if let Some(t) = &tidied {
        zones.note(format!("read {} value {v:?} as {t}", p.name.as_str()));
    }
    let v = tidied.as_deref().unwrap_or(v);
    let declared_date = param(p, "VALUE").is_some_and(|x| x.eq_ignore_ascii_case("DATE"));
    // `VALUE=DATE` with a time after the date. At midnight (`20270101T000000`) the date is
    // meant. At another time of day the time is: exporters that mark every value so (ical.net's
    // and node-ical's test calendars keep a club's evenings, `20090117T200000`, and a festival
    // programme) would otherwise turn every evening into a whole day.
    let with_time = declared_date && v.len() > 8 && v.as_bytes()[8] == b'T';
    let time = if with_time {
        v[9..].trim_end_matches(['Z', 'z'])
    } else {
        ""
    };
    // Anything but a readable time of day other than midnight leaves the date, as before.
    let time_of_day =
        time.len() == 6 && time.bytes().all(|b| b.is_ascii_digit()) && time != "000000";
    if time_of_day {
        zones.note(format!(
            "read {} value {v:?} as a DATE-TIME: it is marked VALUE=DATE but has a time of day",
            p.name.as_str()
        ));
    } else if declared_date || v.len() == 8 {
        let date = if with_time {
            zones.note(format!(
                "read {} value {v:?} as the DATE it starts with",
                p.name.as_str()
            ));
            &v[..8]
        } else {
            v
        };
        return parse_date(date).map(DateTimeValue::Date);
    }
    let (body, utc) = match v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        Some(b) => (b, true),
        None => (v, false),
    };
    // A date marked as UTC (`20210527Z`): a DATE has no zone, and the date is what is meant.
    if utc && body.len() == 8 {
        let d = parse_date(body)?;
        zones.note(format!(
            "read {} value {v:?} as the DATE {body}",
            p.name.as_str()
        ));
        return Ok(DateTimeValue::Date(d));
    }
    let local = parse_local(body)?;
    if utc {
        return Ok(DateTimeValue::Utc(local));
    }
    match param(p, "TZID") {
        Some(tzid) => zones.value(tzid.trim(), local),
        None => Ok(DateTimeValue::Floating(local)),
    }
}

/// A date-time in one of the forms exporters write instead of RFC 5545's: ISO 8601 with
/// separators (`2027-03-01T18:00:00`, `2027-03-01`) or without seconds (`20270301T1800Z`), as
/// the basic form, and one with a UTC offset (`20270301T180000+0100`,
/// `2027-03-01T18:00:00+01:00`) as the UTC time it names; `None` when `v` is not one of them
/// (it is then parsed as it is).
fn tidy_date_time(v: &str) -> Option<String> {
    if let Some(utc) = with_offset(v) {
        return Some(utc);
    }
    let separated = v.len() >= 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    let compact: String = if separated {
        v.chars().filter(|c| *c != '-' && *c != ':').collect()
    } else {
        v.to_string()
    };
    let (body, zulu) = match compact.strip_suffix(['Z', 'z']) {
        Some(b) => (b, "Z"),
        None => (compact.as_str(), ""),
    };
    let fixed = match body.split_once(['T', 't']) {
        Some((d, t)) if t.len() == 4 && t.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{d}T{t}00{zulu}")
        }
        _ => format!("{body}{zulu}"),
    };
    let plausible = fixed.len() >= 8 && fixed.as_bytes()[..8].iter().all(u8::is_ascii_digit);
    (plausible && fixed != v).then_some(fixed)
}

/// `v` with a UTC offset after its time, as the basic-form UTC value it names.
fn with_offset(v: &str) -> Option<String> {
    let at = v
        .rfind(['+', '-'])
        .filter(|at| *at > 10 && v[..*at].contains(['T', 't']))?;
    let (local, offset) = v.split_at(at);
    let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let minutes = digits[..2].parse::<i64>().ok()? * 60 + digits[2..].parse::<i64>().ok()?;
    if minutes > 18 * 60 {
        return None;
    }
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let compact: String = local.chars().filter(|c| *c != '-' && *c != ':').collect();
    let (d, t) = compact.split_once(['T', 't'])?;
    let t = if t.len() == 4 {
        format!("{t}00")
    } else {
        t.to_string()
    };
    let at = chrono::NaiveDateTime::parse_from_str(&format!("{d}T{t}"), "%Y%m%dT%H%M%S").ok()?;
    let utc = at - chrono::Duration::minutes(sign * minutes);
    Some(utc.format("%Y%m%dT%H%M%SZ").to_string())
}

fn parse_date(v: &str) -> Result<Date, String> {
    let bad = || format!("{v:?} is not a DATE (YYYYMMDD)");
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let d = Date {
        year: v[0..4].parse().map_err(|_| bad())?,
        month: v[4..6].parse().map_err(|_| bad())?,
        day: v[6..8].parse().map_err(|_| bad())?,
    };
    d.to_chrono().ok_or_else(bad)?;
    Ok(d)
}

fn parse_local(v: &str) -> Result<LocalDateTime, String> {
    let bad = || format!("{v:?} is not a DATE-TIME (YYYYMMDDTHHMMSS)");
    let (d, t) = v.split_once(['T', 't']).ok_or_else(bad)?;
    if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let l = LocalDateTime {
        date: parse_date(d).map_err(|_| bad())?,
        hour: t[0..2].parse().map_err(|_| bad())?,
        minute: t[2..4].parse().map_err(|_| bad())?,
        second: t[4..6].parse().map_err(|_| bad())?,
    };
    l.to_chrono().ok_or_else(bad)?;
    Ok(l)
}

/// Parses an RFC 5545 §3.3.6 DURATION such as `PT1H30M`, `P1D`, `-P2W`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("{v:?} is not a DURATION");
    let s = v.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = s.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let mut d = Duration {
        negative,
        ..Duration::default()
    };
    let mut num = String::new();
    let mut in_time = false;
    let mut any = false;
    for ch in s.chars() {
        match ch.to_ascii_uppercase() {
            '0'..='9' => num.push(ch),
            'T' if num.is_empty() => in_time = true,
            unit => {
                let n: u32 = num.parse().map_err(|_| bad())?;
                num.clear();
                any = true;
                let add = |acc: u32, mul: u32| n.checked_mul(mul).and_then(|x| acc.checked_add(x));
                match (unit, in_time) {
                    ('W', false) => d.weeks = add(d.weeks, 1).ok_or_else(bad)?,
                    ('D', false) => d.days = add(d.days, 1).ok_or_else(bad)?,
                    ('H', true) => d.seconds = add(d.seconds, 3600).ok_or_else(bad)?,
                    ('M', true) => d.seconds = add(d.seconds, 60).ok_or_else(bad)?,
                    ('S', true) => d.seconds = add(d.seconds, 1).ok_or_else(bad)?,
                    _ => return Err(bad()),
                }
            }
        }
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(d)
}

/// Splits a raw text list on unescaped commas and unescapes each item.
pub(super) fn split_text_list(raw: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') | Some('N') => cur.push('\n'),
                Some(o) => cur.push(o),
                None => cur.push('\\'),
            },
            ',' => items.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    items.push(cur);
    items
}

pub(super) fn param<'a>(p: &'a icalendar::parser::Property<'_>, name: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(name))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}
