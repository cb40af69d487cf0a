//! Recurrence expansion across the 2026 daylight-saving transitions.
//!
//! Expected instants were worked out by hand from the rules, not from any library:
//! - Europe/Berlin: CET is UTC+1, CEST UTC+2. 2026 changes on the last Sundays of March and
//!   October: 29 March (02:00 CET → 03:00 CEST, at 01:00Z) and 25 October (03:00 CEST → 02:00 CET,
//!   at 01:00Z). 1 March 2026 is a Sunday, so March's Sundays are 1, 8, 15, 22, 29; 1 October is
//!   a Thursday, so October's last Sunday is the 25th.
//! - America/New_York: EST is UTC-5, EDT UTC-4. 2026 changes on 8 March (second Sunday, 02:00 EST
//!   → 03:00 EDT, at 07:00Z) and 1 November (first Sunday, 02:00 EDT → 01:00 EST, at 06:00Z).
//! - RFC 5545 §3.3.5 (applied to instances by §3.3.10): a nonexistent local time is read with the
//!   offset before the gap; a repeated local time means its first occurrence.

use chrono::{DateTime, TimeZone, Utc};
use discal_protocol::model::{
    Component, Date, DateTimeValue, Duration, End, EventContent, LocalDateTime,
};
use discal_protocol::recur::{self, ExpandLimits};
use discal_protocol::{validate, Limits, Tz};

fn l(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> LocalDateTime {
    LocalDateTime {
        date: Date {
            year: y,
            month: mo,
            day: d,
        },
        hour: h,
        minute: mi,
        second: 0,
    }
}

fn zoned(tz: &str, y: i32, mo: u8, d: u8, h: u8, mi: u8) -> DateTimeValue {
    DateTimeValue::Zoned {
        local: l(y, mo, d, h, mi),
        tzid: tz.into(),
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn event(start: DateTimeValue, rrule: Option<&str>, minutes: u32) -> EventContent {
    let mut c = Component::new(start);
    c.rrule = rrule.map(str::to_string);
    c.end = Some(End::Duration(Duration {
        seconds: minutes * 60,
        ..Duration::default()
    }));
    let ev = EventContent::new(c);
    validate::validate_content(&ev, &Limits::default()).unwrap();
    ev
}

fn starts(ev: &EventContent, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let x = recur::expand(ev, from, to, Tz::UTC, ExpandLimits::default()).unwrap();
    assert!(!x.truncated);
    x.occurrences.iter().map(|o| o.start).collect()
}

#[test]
fn berlin_weekly_into_the_spring_forward_gap() {
    // Sundays 02:30 local; on 29 March 02:30 does not exist.
    let ev = event(
        zoned("Europe/Berlin", 2026, 3, 15, 2, 30),
        Some("FREQ=WEEKLY;COUNT=4"),
        60,
    );
    assert_eq!(
        starts(&ev, utc(2026, 3, 1, 0, 0), utc(2026, 5, 1, 0, 0)),
        vec![
            utc(2026, 3, 15, 1, 30), // CET
            utc(2026, 3, 22, 1, 30), // CET
            utc(2026, 3, 29, 1, 30), // in the gap: offset before it (+1) → 03:30 CEST
            utc(2026, 4, 5, 0, 30),  // CEST
        ]
    );
}

#[test]
fn berlin_daily_through_the_fall_back_overlap() {
    // 02:30 happens twice on 25 October; the first (CEST) is meant.
    let ev = event(
        zoned("Europe/Berlin", 2026, 10, 24, 2, 30),
        Some("FREQ=DAILY;COUNT=3"),
        30,
    );
    assert_eq!(
        starts(&ev, utc(2026, 10, 1, 0, 0), utc(2026, 11, 1, 0, 0)),
        vec![
            utc(2026, 10, 24, 0, 30), // CEST
            utc(2026, 10, 25, 0, 30), // first of the two 02:30s, still CEST
            utc(2026, 10, 26, 1, 30), // CET
        ]
    );
}

#[test]
fn new_york_weekly_into_the_spring_forward_gap() {
    let ev = event(
        zoned("America/New_York", 2026, 3, 1, 2, 30),
        Some("FREQ=WEEKLY;COUNT=3"),
        60,
    );
    assert_eq!(
        starts(&ev, utc(2026, 2, 1, 0, 0), utc(2026, 4, 1, 0, 0)),
        vec![
            utc(2026, 3, 1, 7, 30),  // EST
            utc(2026, 3, 8, 7, 30),  // gap: EST offset → 03:30 EDT
            utc(2026, 3, 15, 6, 30), // EDT
        ]
    );
}

#[test]
fn new_york_daily_through_the_fall_back_overlap() {
    let ev = event(
        zoned("America/New_York", 2026, 10, 31, 1, 30),
        Some("FREQ=DAILY;COUNT=3"),
        30,
    );
    assert_eq!(
        starts(&ev, utc(2026, 10, 1, 0, 0), utc(2026, 12, 1, 0, 0)),
        vec![
            utc(2026, 10, 31, 5, 30), // EDT
            utc(2026, 11, 1, 5, 30),  // first 01:30, EDT
            utc(2026, 11, 2, 6, 30),  // EST
        ]
    );
}

#[test]
fn hourly_across_the_gap_yields_no_duplicates() {
    // 00:00, 01:00, 02:00 (gap → 07:00Z), 03:00 EDT (also 07:00Z), 04:00 EDT.
    let ev = event(
        zoned("America/New_York", 2026, 3, 8, 0, 0),
        Some("FREQ=HOURLY;COUNT=5"),
        0,
    );
    assert_eq!(
        starts(&ev, utc(2026, 3, 7, 0, 0), utc(2026, 3, 9, 0, 0)),
        vec![
            utc(2026, 3, 8, 5, 0),
            utc(2026, 3, 8, 6, 0),
            utc(2026, 3, 8, 7, 0),
            utc(2026, 3, 8, 8, 0),
        ]
    );
}

#[test]
fn single_date_times_in_the_gap_and_the_overlap() {
    let gap = zoned("Europe/Berlin", 2026, 3, 29, 2, 30);
    assert_eq!(
        recur::instant(&gap, Tz::UTC).unwrap(),
        utc(2026, 3, 29, 1, 30)
    );
    let overlap = zoned("Europe/Berlin", 2026, 10, 25, 2, 30);
    assert_eq!(
        recur::instant(&overlap, Tz::UTC).unwrap(),
        utc(2026, 10, 25, 0, 30)
    );
    let ny_gap = zoned("America/New_York", 2026, 3, 8, 2, 30);
    assert_eq!(
        recur::instant(&ny_gap, Tz::UTC).unwrap(),
        utc(2026, 3, 8, 7, 30)
    );
    let ny_overlap = zoned("America/New_York", 2026, 11, 1, 1, 30);
    assert_eq!(
        recur::instant(&ny_overlap, Tz::UTC).unwrap(),
        utc(2026, 11, 1, 5, 30)
    );
}

#[test]
fn wall_clock_stays_put_across_the_change() {
    // A weekly 19:00 Berlin meeting is at 18:00Z in winter and 17:00Z in summer; a 3-hour event
    // keeps 3 hours.
    let ev = event(
        zoned("Europe/Berlin", 2026, 3, 23, 19, 0),
        Some("FREQ=WEEKLY;BYDAY=MO"),
        180,
    );
    let x = recur::expand(
        &ev,
        utc(2026, 3, 20, 0, 0),
        utc(2026, 4, 1, 0, 0),
        Tz::UTC,
        ExpandLimits::default(),
    )
    .unwrap();
    let got: Vec<_> = x.occurrences.iter().map(|o| (o.start, o.end)).collect();
    assert_eq!(
        got,
        vec![
            (utc(2026, 3, 23, 18, 0), utc(2026, 3, 23, 21, 0)),
            (utc(2026, 3, 30, 17, 0), utc(2026, 3, 30, 20, 0)),
        ]
    );
}

#[test]
fn an_endless_weekly_event_is_found_in_any_week() {
    let ev = event(
        zoned("Europe/Berlin", 2020, 1, 6, 19, 0),
        Some("FREQ=WEEKLY;BYDAY=MO"),
        120,
    );
    // Week of 14 July 2031: Monday is the 14th (1 Jan 2031 is a Wednesday).
    assert_eq!(
        starts(&ev, utc(2031, 7, 14, 0, 0), utc(2031, 7, 21, 0, 0)),
        vec![utc(2031, 7, 14, 17, 0)]
    );
    let ext = recur::extent(&ev, ExpandLimits::default()).unwrap();
    assert_eq!(ext.end, None, "no COUNT or UNTIL: unbounded");
}

#[test]
fn exdates_and_overrides_apply() {
    let mut ev = event(
        zoned("Europe/Berlin", 2026, 1, 5, 19, 0),
        Some("FREQ=WEEKLY;BYDAY=MO;COUNT=4"),
        60,
    );
    ev.master
        .exdates
        .push(zoned("Europe/Berlin", 2026, 1, 12, 19, 0));
    // The 19 January instance moves to Wednesday 21 January 20:00.
    let mut o = Component::new(zoned("Europe/Berlin", 2026, 1, 21, 20, 0));
    o.recurrence_id = Some(zoned("Europe/Berlin", 2026, 1, 19, 19, 0));
    o.summary = Some("moved".into());
    ev.overrides.push(o);
    validate::validate_content(&ev, &Limits::default()).unwrap();
    let x = recur::expand(
        &ev,
        utc(2026, 1, 1, 0, 0),
        utc(2026, 2, 1, 0, 0),
        Tz::UTC,
        ExpandLimits::default(),
    )
    .unwrap();
    let got: Vec<_> = x
        .occurrences
        .iter()
        .map(|o| (o.start, o.component))
        .collect();
    assert_eq!(
        got,
        vec![
            (utc(2026, 1, 5, 18, 0), 0),
            (utc(2026, 1, 21, 19, 0), 1),
            (utc(2026, 1, 26, 18, 0), 0),
        ]
    );
    assert_eq!(x.occurrences[1].recurrence_id, l(2026, 1, 19, 19, 0));
    // The moved instance is found from a window that holds only its new time.
    let moved = recur::expand(
        &ev,
        utc(2026, 1, 21, 0, 0),
        utc(2026, 1, 22, 0, 0),
        Tz::UTC,
        ExpandLimits::default(),
    )
    .unwrap();
    assert_eq!(moved.occurrences.len(), 1);
    assert_eq!(moved.occurrences[0].component, 1);
}

#[test]
fn utc_until_is_inclusive_in_wall_clock_terms() {
    // Outlook writes UNTIL in UTC: the last Wednesday 18:00 Berlin instance is 16 December
    // (17:00Z), and UNTIL=20261216T170000Z must include it.
    let ev = event(
        zoned("Europe/Berlin", 2026, 12, 2, 18, 0),
        Some("FREQ=WEEKLY;UNTIL=20261216T170000Z"),
        60,
    );
    assert_eq!(
        starts(&ev, utc(2026, 12, 1, 0, 0), utc(2027, 1, 31, 0, 0)),
        vec![
            utc(2026, 12, 2, 17, 0),
            utc(2026, 12, 9, 17, 0),
            utc(2026, 12, 16, 17, 0),
        ]
    );
}

#[test]
fn all_day_events_follow_the_viewers_zone() {
    let mut c = Component::new(DateTimeValue::Date(Date {
        year: 2026,
        month: 3,
        day: 21,
    }));
    c.end = Some(End::At(DateTimeValue::Date(Date {
        year: 2026,
        month: 3,
        day: 23,
    })));
    let ev = EventContent::new(c);
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let x = recur::expand(
        &ev,
        utc(2026, 3, 1, 0, 0),
        utc(2026, 4, 1, 0, 0),
        berlin,
        ExpandLimits::default(),
    )
    .unwrap();
    assert_eq!(x.occurrences.len(), 1);
    assert!(x.occurrences[0].all_day);
    assert_eq!(x.occurrences[0].start, utc(2026, 3, 20, 23, 0));
    assert_eq!(x.occurrences[0].end, utc(2026, 3, 22, 23, 0));
}

#[test]
fn hostile_rules_terminate() {
    // A rule that never produces an instance (30 February) must not spin.
    let ev = event(
        DateTimeValue::Utc(l(2026, 1, 1, 10, 0)),
        Some("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"),
        60,
    );
    let x = recur::expand(
        &ev,
        utc(2026, 1, 2, 0, 0),
        utc(2200, 1, 1, 0, 0),
        Tz::UTC,
        ExpandLimits::default(),
    )
    .unwrap();
    assert!(x.occurrences.is_empty());
    // A dense rule over a wide window is cut at the examination limit and says so.
    let ev = event(
        DateTimeValue::Utc(l(1900, 1, 1, 0, 0)),
        Some("FREQ=HOURLY"),
        1,
    );
    let x = recur::expand(
        &ev,
        utc(2100, 1, 1, 0, 0),
        utc(2101, 1, 1, 0, 0),
        Tz::UTC,
        ExpandLimits {
            max_examined: 10_000,
            max_returned: 100,
        },
    )
    .unwrap();
    assert!(x.truncated);
    assert!(x.occurrences.is_empty());
    // Sub-hourly frequencies are refused outright.
    let mut c = Component::new(DateTimeValue::Utc(l(2026, 1, 1, 0, 0)));
    c.rrule = Some("FREQ=SECONDLY".into());
    assert!(validate::validate_content(&EventContent::new(c), &Limits::default()).is_err());
}

/// A rule with characters past ASCII (the rrule crate panicked on `BYDAY=-íU`, found by the
/// `ics_parse` fuzz target) is refused with a reason wherever a rule is read: a peer's event
/// (validation), expansion, an imported VEVENT and a VTIMEZONE's observance.
#[test]
fn a_rule_with_non_ascii_characters_is_refused_not_a_panic() {
    let key = discal_protocol::NodeSecret::from_seed_array([3; 32]).public();
    for rule in [
        "FREQ=WEEKLY;BYDAY=-\u{ed}U",
        "FREQ=WEEKLY;BYDAY=\u{e9}",
        "FREQ=Y\u{c9}ARLY",
    ] {
        let mut c = Component::new(DateTimeValue::Utc(l(2027, 1, 5, 19, 0)));
        c.rrule = Some(rule.into());
        let ev = EventContent::new(c);
        let e = validate::validate_content(&ev, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("ASCII"), "{rule}: {e}");
        let e = recur::expand(
            &ev,
            utc(2027, 1, 1, 0, 0),
            utc(2028, 1, 1, 0, 0),
            Tz::UTC,
            ExpandLimits::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("ASCII"), "{rule}: {e}");
        let doc = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Club time\r\n\
             BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nRRULE:{rule}\r\n\
             TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n\
             BEGIN:VEVENT\r\nUID:a@example.org\r\nDTSTAMP:20270101T000000Z\r\n\
             DTSTART;TZID=Club time:20270105T190000\r\nSUMMARY:zone\r\nEND:VEVENT\r\n\
             BEGIN:VEVENT\r\nUID:b@example.org\r\nDTSTAMP:20270101T000000Z\r\n\
             DTSTART:20270105T190000Z\r\nRRULE:{rule}\r\nSUMMARY:rule\r\nEND:VEVENT\r\n\
             END:VCALENDAR\r\n"
        );
        let imp = discal_protocol::ics::parse_calendar(&doc, &key, &Limits::default()).unwrap();
        let refused: Vec<String> = imp.errors.iter().map(ToString::to_string).collect();
        assert_eq!(imp.events.len(), 1, "{rule}: {refused:?}");
        assert_eq!(imp.events[0].uid, "a@example.org");
        assert!(refused[0].contains("ASCII"), "{rule}: {refused:?}");
    }
}
