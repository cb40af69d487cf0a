//! Real-world-shaped iCalendar files (tests/data/wild): each file's per-event outcome is what
//! tests/data/wild/EXPECTED says, what was taken is written back strictly (no slip survives
//! the writer), and the time-zone, RDATE-period and RSCALE cases give the right instants and
//! reasons.

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use discal_protocol::ics::{self, IcsEvent, Import, ImportedEvent};
use discal_protocol::model::{DateTimeValue, End, LocalDateTime, Status};
use discal_protocol::recur::{expand, ExpandLimits};
use discal_protocol::{Limits, NodeKey, NodeSecret};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wild")
}

fn key() -> NodeKey {
    NodeSecret::from_seed(&[7u8; 32]).unwrap().public()
}

/// Reads a file the way the importer does: bytes, decoded, then parsed.
fn import_file(name: &str) -> (Result<Import, ics::IcsError>, bool) {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    let (text, fallback) = ics::decode_text(&bytes);
    (
        ics::parse_calendar(&text, &key(), &Limits::default()),
        fallback,
    )
}

fn taken(name: &str) -> Vec<ImportedEvent> {
    let (imp, _) = import_file(name);
    imp.unwrap_or_else(|e| panic!("{name}: {e}")).events
}

/// One imported event as DisCal writes it.
fn written(ev: &ImportedEvent) -> String {
    let mut out = String::new();
    ics::write_event(
        &mut out,
        &IcsEvent {
            uid: &ev.uid,
            content: &ev.content,
            revision: 0,
            hop: 0,
            issued: LocalDateTime::from_chrono(utc(2026, 12, 1, 0, 0).naive_utc()),
        },
    );
    out
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn starts(ev: &ImportedEvent, year: i32) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    expand(
        &ev.content,
        utc(year, 1, 1, 0, 0),
        utc(year + 1, 1, 1, 0, 0),
        chrono_tz::UTC,
        ExpandLimits::default(),
    )
    .unwrap()
    .occurrences
    .iter()
    .map(|o| (o.start, o.end))
    .collect()
}

#[test]
fn every_file_gives_its_expected_outcome() {
    let expected = std::fs::read_to_string(dir().join("EXPECTED")).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ics"))
        .collect();
    files.sort();
    assert!(files.len() >= 40, "only {} files", files.len());
    let mut wrong = Vec::new();
    let mut listed = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let name = cols[0];
        listed += 1;
        assert!(
            files.iter().any(|f| f == name),
            "{name} is listed but missing"
        );
        let (imp, fallback) = import_file(name);
        let got = match imp {
            Err(e) => {
                if cols[1] != "error" {
                    wrong.push(format!("{name}: refused whole: {e}"));
                }
                continue;
            }
            Ok(imp) => imp,
        };
        let warned = got.events.iter().filter(|e| !e.warnings.is_empty()).count();
        let repaired = if fallback || !got.adjusted.is_empty() {
            "y"
        } else {
            "n"
        };
        let have = format!(
            "{} {} {} {}",
            got.events.len(),
            warned,
            got.errors.len(),
            repaired
        );
        let want = cols[1..].join(" ");
        if have != want {
            wrong.push(format!(
                "{name}: want {want}, have {have}; errors {:?}; warnings {:?}; adjusted {:?}",
                got.errors,
                got.events.iter().map(|e| &e.warnings).collect::<Vec<_>>(),
                got.adjusted
            ));
        }
        // Strict writer: what was taken is written without any slip, and reads back the same.
        let issued = LocalDateTime::from_chrono(utc(2026, 12, 1, 0, 0).naive_utc());
        let written = ics::write_calendar(
            got.events.iter().map(|e| IcsEvent {
                uid: &e.uid,
                content: &e.content,
                revision: 0,
                hop: 0,
                issued,
            }),
            &[],
        );
        // No property without a value: libical (Evolution's reader) flags `LOCATION:` as an
        // error and drops it, and Google's exports write it on every event without a place.
        for l in written.replace("\r\n ", "").lines() {
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            let name = name.split(';').next().unwrap_or(name);
            assert!(
                !(value.is_empty()
                    && matches!(name, "SUMMARY" | "DESCRIPTION" | "LOCATION" | "URL")),
                "{name}: an empty {name} written: {l:?}"
            );
        }
        if !got.events.is_empty() {
            let again = ics::parse_calendar(&written, &key(), &Limits::default()).unwrap();
            assert!(again.adjusted.is_empty(), "{name}: {:?}", again.adjusted);
            assert!(again.errors.is_empty(), "{name}: {:?}", again.errors);
            assert_eq!(again.events.len(), got.events.len(), "{name}");
            for (a, b) in got.events.iter().zip(&again.events) {
                assert!(b.warnings.is_empty(), "{name}: {:?}", b.warnings);
                assert_eq!(a.content.master.start, b.content.master.start, "{name}");
                assert_eq!(
                    a.content.overrides.len(),
                    b.content.overrides.len(),
                    "{name}"
                );
            }
        }
    }
    assert_eq!(listed, files.len(), "every file has an expected outcome");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A zone written as the transitions of two years only (khal and python-icalendar write
/// them so) is Berlin's over those years; a weekly event in it keeps following Berlin's DST
/// after them, instead of repeating in UTC at the last listed offset.
#[test]
fn a_zone_of_listed_transitions_is_matched_over_the_years_it_lists() {
    let evs = taken("rdate-only-vtimezone.ics");
    let ev = &evs[0];
    assert_eq!(ev.content.master.start.tzid(), Some("Europe/Berlin"));
    assert!(
        ev.warnings[0].contains("Europe_Berlin"),
        "{:?}",
        ev.warnings
    );
    let s = starts(ev, 2030);
    // Tuesdays 19:00 local, summer and winter of a year the file lists nothing for.
    for want in [utc(2030, 7, 2, 17, 0), utc(2030, 12, 3, 18, 0)] {
        assert!(s.iter().any(|(a, _)| *a == want), "{want} not in {s:?}");
    }
    // The same zone as pytz-based writers put it, each change in the offset it starts
    // (summer at 03:00, winter at 02:00): Berlin still, and said so.
    let bytes = std::fs::read(dir().join("rdate-only-vtimezone.ics")).unwrap();
    let late = String::from_utf8(bytes)
        .unwrap()
        .replace("20271031T030000", "20271031T020000")
        .replace("20281029T030000", "20281029T020000")
        .replace("20270328T020000", "20270328T030000")
        .replace("20280326T020000", "20280326T030000");
    let imp = ics::parse_calendar(&late, &key(), &Limits::default()).unwrap();
    let ev = &imp.events[0];
    assert_eq!(ev.content.master.start.tzid(), Some("Europe/Berlin"));
    assert!(
        ev.warnings[0].contains("within a few hours"),
        "{:?}",
        ev.warnings
    );
}

/// GroupWise's Central European Time (as Thunderbird passes it on) changes at 01:00 and
/// 02:00 local, an hour before the real changes, on the right days: no IANA zone agrees to the
/// hour, Berlin does to within it. Read as Berlin, a weekly event keeps 18:30 local across the
/// change in March instead of repeating in UTC.
#[test]
fn a_zone_off_by_an_hour_on_the_right_days_is_that_zone() {
    let evs = taken("groupwise-cet-changes-an-hour-early.ics");
    let ev = &evs[0];
    assert_eq!(ev.content.master.start.tzid(), Some("Europe/Berlin"));
    assert!(
        ev.warnings[0].contains("within a few hours"),
        "{:?}",
        ev.warnings
    );
    let s = starts(ev, 2027);
    assert_eq!(s.len(), 8);
    assert_eq!(s[0].0, utc(2027, 3, 3, 17, 30));
    assert_eq!(s[4].0, utc(2027, 3, 31, 16, 30));
}

/// A zone on DTEND only, or on DTSTART only: the end takes the start's kind with its own
/// wall-clock time, so "18:00 to 19:30 Brussels" is an hour and a half, not an end before the
/// start (dropped) or a length that depends on the reader's zone.
#[test]
fn a_zone_on_one_end_of_an_event_is_read_like_its_start() {
    let evs = taken("open-calendar-zone-on-one-end.ics");
    for ev in &evs {
        let m = &ev.content.master;
        let Some(End::At(end)) = &m.end else {
            panic!("{}: the end was dropped: {:?}", ev.uid, ev.warnings);
        };
        assert_eq!(
            std::mem::discriminant(end),
            std::mem::discriminant(&m.start),
            "{}",
            ev.uid
        );
        assert_eq!(end.tzid(), m.start.tzid(), "{}", ev.uid);
        assert!(ev.warnings[0].contains("DTEND"), "{:?}", ev.warnings);
    }
    let brussels = starts(&evs[1], 2027);
    assert_eq!(
        brussels,
        [(utc(2027, 2, 13, 9, 0), utc(2027, 2, 13, 11, 0))]
    );
}

/// The days (month-day) on which `ev`'s instances of 2027 start, in UTC.
fn days(ev: &ImportedEvent) -> Vec<String> {
    starts(ev, 2027)
        .iter()
        .map(|(s, _)| s.format("%m-%d").to_string())
        .collect()
}

/// Outlook names the instances of an all-day series by midnight in its zone
/// (`RECURRENCE-ID;TZID=GMT Standard Time:20270415T000000`, as in recurring-ical-events'
/// issue 28). Each moved collection day is shown once, on its new day; before, it was also
/// still shown on the series' day. A timed series' instance named by a DATE is that day's.
#[test]
fn instances_named_by_the_other_kind_of_value_are_moved_not_doubled() {
    let ev = &taken("outlook-allday-series-timed-recurrence-ids.ics")[0];
    assert!(
        ev.warnings[0].contains("RECURRENCE-ID(s) given as DATE-TIME"),
        "{:?}",
        ev.warnings
    );
    assert_eq!(
        days(ev),
        [
            "04-01", "04-16", "04-29", "05-13", "05-28", "06-10", "06-24", "07-08", "07-22",
            "08-05", "08-19", "09-02", "09-16"
        ]
    );
    let timed = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:t@x\r\nDTSTAMP:20270101T000000Z\r\n\
                 DTSTART;TZID=Europe/Berlin:20270104T190000\r\nDURATION:PT2H\r\n\
                 RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Meetup\r\nEND:VEVENT\r\n\
                 BEGIN:VEVENT\r\nUID:t@x\r\nDTSTAMP:20270101T000000Z\r\n\
                 RECURRENCE-ID;VALUE=DATE:20270111\r\n\
                 DTSTART;TZID=Europe/Berlin:20270112T190000\r\nDURATION:PT2H\r\n\
                 SUMMARY:Meetup (Tuesday)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let imp = ics::parse_calendar(timed, &key(), &Limits::default()).unwrap();
    let ev = &imp.events[0];
    assert_eq!(
        starts(ev, 2027),
        [
            (utc(2027, 1, 4, 18, 0), utc(2027, 1, 4, 20, 0)),
            (utc(2027, 1, 12, 18, 0), utc(2027, 1, 12, 20, 0)),
            (utc(2027, 1, 18, 18, 0), utc(2027, 1, 18, 20, 0)),
        ]
    );
}

/// An app that ended a series early ("delete this and all following": a higher SEQUENCE and an
/// UNTIL) left an instance it had moved after that date (recurring-ical-events' issue 253).
/// It is dropped, not shown as a deleted week; an instance as new as the series is kept.
#[test]
fn an_instance_left_behind_after_a_series_was_cut_short_is_dropped() {
    let ev = &taken("series-cut-short-stale-instance.ics")[0];
    assert_eq!(days(ev), ["06-28", "07-12"]);
    assert!(
        ev.warnings
            .iter()
            .any(|w| w.contains("after the series' UNTIL")),
        "{:?}",
        ev.warnings
    );
    let text = std::fs::read_to_string(dir().join("series-cut-short-stale-instance.ics")).unwrap();
    let same_age = text.replacen("SEQUENCE:1", "SEQUENCE:2", 1);
    let imp = ics::parse_calendar(&same_age, &key(), &Limits::default()).unwrap();
    assert_eq!(days(&imp.events[0]), ["06-28", "07-12", "07-26"]);
}

/// Two instances of a weekly series without the series, each with the series' RRULE (khal's
/// tests): the two shifts the document holds, not 37 weeks made up from the first one's rule.
#[test]
fn instances_without_their_series_do_not_make_up_a_series_from_their_rule() {
    let ev = &taken("orphan-instances-with-rrule.ics")[0];
    assert_eq!(
        starts(ev, 2027),
        [
            (utc(2027, 1, 7, 7, 30), utc(2027, 1, 7, 12, 0)),
            (utc(2027, 1, 21, 8, 30), utc(2027, 1, 21, 12, 0)),
        ]
    );
    assert!(
        ev.warnings
            .iter()
            .any(|w| w.contains("the rule is the series'")),
        "{:?}",
        ev.warnings
    );
}

/// A series whose UNTIL is before DTSTART has no instance in libical, ical.js or
/// recurring-ical-events (node-ical's tests keep one whose EXDATE removes DTSTART as well, a
/// series deleted in Outlook; Apple iCal and Confluence write such rules): it is taken as
/// cancelled, so every feed says so, rather than shown once at DTSTART.
#[test]
fn a_series_ended_before_its_start_is_cancelled() {
    let doc = |exdate: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:gone@x\r\nDTSTAMP:20270101T000000Z\r\n\
             DTSTART;TZID=Europe/Berlin:20270415T190000\r\nDURATION:PT2H\r\n\
             RRULE:FREQ=DAILY;UNTIL=20260418T170000Z\r\n{exdate}SUMMARY:Workshop\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    for exdate in ["EXDATE:20270415T170000Z\r\n", ""] {
        let imp = ics::parse_calendar(&doc(exdate), &key(), &Limits::default()).unwrap();
        let m = &imp.events[0].content.master;
        assert_eq!(m.status, Some(Status::Cancelled), "{exdate}");
        assert_eq!(m.rrule, None);
    }
}

#[test]
fn a_date_marked_value_with_a_time_of_day_keeps_its_time() {
    let doc = |start: &str, end: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:club@x\r\nDTSTAMP:20270101T000000Z\r\n\
             DTSTART;VALUE=DATE:{start}\r\nDTEND;VALUE=DATE:{end}\r\nSUMMARY:Club night\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    let evening = doc("20270117T200000", "20270117T220000");
    let imp = ics::parse_calendar(&evening, &key(), &Limits::default()).unwrap();
    let ev = &imp.events[0];
    assert_eq!(
        starts(ev, 2027),
        [(utc(2027, 1, 17, 20, 0), utc(2027, 1, 17, 22, 0))]
    );
    assert!(
        ev.warnings[0].contains("as a DATE-TIME"),
        "{:?}",
        ev.warnings
    );
    // At midnight, or with a time that cannot be read, the date is what is left.
    for (start, end) in [
        ("20270117T000000", "20270118T000000"),
        ("20270117Tabcdef", "20270118T22h"),
    ] {
        let imp = ics::parse_calendar(&doc(start, end), &key(), &Limits::default()).unwrap();
        assert!(imp.events[0].content.master.start.is_date(), "{start}");
    }
}

/// A moved instance whose DTEND was left on the original day (node-ical's tests: moved from
/// the 7th to the 9th, still ending on the 7th) has its end dropped, and keeps the series'
/// length rather than none.
#[test]
fn a_moved_instance_whose_end_was_left_behind_keeps_the_series_length() {
    let doc = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:m@x\r\nDTSTAMP:20270101T000000Z\r\n\
               DTSTART;TZID=America/Los_Angeles:20270706T120000\r\n\
               DTEND;TZID=America/Los_Angeles:20270706T130000\r\nRRULE:FREQ=DAILY;COUNT=3\r\n\
               SUMMARY:Standup\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:m@x\r\n\
               DTSTAMP:20270101T000000Z\r\n\
               RECURRENCE-ID;TZID=America/Los_Angeles:20270707T120000\r\n\
               DTSTART;TZID=America/Los_Angeles:20270709T150000\r\n\
               DTEND;TZID=America/Los_Angeles:20270707T160000\r\nSUMMARY:Standup (moved)\r\n\
               END:VEVENT\r\nEND:VCALENDAR\r\n";
    let imp = ics::parse_calendar(doc, &key(), &Limits::default()).unwrap();
    let ev = &imp.events[0];
    assert_eq!(
        starts(ev, 2027),
        [
            (utc(2027, 7, 6, 19, 0), utc(2027, 7, 6, 20, 0)),
            (utc(2027, 7, 8, 19, 0), utc(2027, 7, 8, 20, 0)),
            (utc(2027, 7, 9, 22, 0), utc(2027, 7, 9, 23, 0)),
        ]
    );
    assert!(
        ev.warnings.iter().any(|w| w.contains("the series' length")),
        "{:?}",
        ev.warnings
    );
}

/// A DATE beside a DATE-TIME (recurring-ical-events' issue 201) keeps its meaning instead of
/// being dropped: a three-week camp stays three weeks, a talk "until midnight" ends then.
#[test]
fn a_date_end_of_a_timed_start_and_the_reverse_keep_their_length() {
    let evs = taken("date-and-date-time-mixed.ics");
    let camp = evs
        .iter()
        .find(|e| e.uid == "summer-camp@example.org")
        .unwrap();
    assert_eq!(
        camp.content.master.end,
        Some(End::At(DateTimeValue::Date(
            discal_protocol::model::Date::from_chrono(
                chrono::NaiveDate::from_ymd_opt(2027, 8, 17).unwrap()
            )
        )))
    );
    assert_eq!(
        starts(camp, 2027),
        [(utc(2027, 7, 24, 0, 0), utc(2027, 8, 17, 0, 0))]
    );
    let talk = evs
        .iter()
        .find(|e| e.uid == "late-talk@example.org")
        .unwrap();
    assert_eq!(
        starts(talk, 2027),
        [(utc(2027, 9, 5, 17, 0), utc(2027, 9, 5, 22, 0))]
    );
    for ev in &evs {
        assert!(
            ev.warnings[0].starts_with("read \"DTEND"),
            "{:?}",
            ev.warnings
        );
    }
}

/// Lotus Notes names a zone by its two offsets and sends no VTIMEZONE. The event is read in
/// the best-known zone with that pair, said in a warning, and keeps 13:00 local across the
/// change in November instead of being refused.
#[test]
fn a_zone_named_by_its_two_offsets_is_the_best_known_zone_with_them() {
    let evs = taken("lotus-two-offsets-no-vtimezone.ics");
    let ev = &evs[0];
    assert_eq!(ev.content.master.start.tzid(), Some("America/New_York"));
    assert!(
        ev.warnings[0].contains("America/New_York"),
        "{:?}",
        ev.warnings
    );
    let s = starts(ev, 2027);
    assert_eq!(s[0].0, utc(2027, 7, 22, 17, 0));
    assert!(
        s.contains(&(utc(2027, 11, 11, 18, 0), utc(2027, 11, 11, 19, 0))),
        "{s:?}"
    );
}

/// A groupware export that appends each edit: the series in two versions (the later with an
/// EXDATE for an instance that had been moved), the moved instance repeating the series' rule,
/// and another instance edited twice. The event is the later series, without the excluded
/// instance, with the later edit of the other; nothing is refused.
#[test]
fn edits_appended_to_a_series_read_as_its_latest_state() {
    let evs = taken("edits-appended-to-the-series.ics");
    let ev = &evs[0];
    assert_eq!(ev.content.master.sequence, 3);
    assert_eq!(ev.content.overrides.len(), 1, "{:?}", ev.warnings);
    let o = &ev.content.overrides[0];
    assert_eq!(o.summary.as_deref(), Some("Club evening (later start)"));
    assert!(o.rrule.is_none());
    let s: Vec<_> = starts(ev, 2027).into_iter().map(|(a, _)| a).collect();
    assert_eq!(
        s,
        [
            utc(2027, 1, 4, 18, 0),
            utc(2027, 1, 18, 19, 30),
            utc(2027, 1, 25, 18, 0),
            utc(2027, 2, 1, 18, 0),
            utc(2027, 2, 8, 18, 0),
        ]
    );
    for said in [
        "later of two",
        "RRULE of 1",
        "latest of several",
        "EXDATE removes",
    ] {
        assert!(
            ev.warnings.iter().any(|w| w.contains(said)),
            "{said}: {:?}",
            ev.warnings
        );
    }
}

/// A zone written with its whole history under a name no database knows (libical's and
/// Citadel's zones renamed). China kept DST from 1986 to 1991, by rules with UNTIL: they ended
/// long before the event, and the last of their changes (at 02:00 local, the day after
/// UNTIL's date in UTC) sets the offset since, +08:00. Both were lost before, and the zone
/// read as +09:00, an hour off (so did Tokyo's, São Paulo's and 26 more of libical's zones).
#[test]
fn a_zone_whose_rules_ended_long_ago_keeps_its_last_change() {
    let zone = "BEGIN:VTIMEZONE\r\nTZID:Beijing local\r\n\
        BEGIN:STANDARD\r\nTZOFFSETFROM:+0900\r\nTZOFFSETTO:+0800\r\n\
        DTSTART:19860914T020000\r\n\
        RRULE:FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=11,12,13,14,15,16,17;BYDAY=SU;UNTIL=19910914T170000Z\r\n\
        END:STANDARD\r\n\
        BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0800\r\nTZOFFSETTO:+0900\r\n\
        DTSTART:19870412T020000\r\n\
        RRULE:FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=11,12,13,14,15,16,17;BYDAY=SU;UNTIL=19910413T180000Z\r\n\
        END:DAYLIGHT\r\nEND:VTIMEZONE\r\n";
    for (start, rule, month) in [
        ("20270705T190000", "", 7),
        ("20270105T190000", "RRULE:FREQ=WEEKLY;COUNT=3\r\n", 1),
    ] {
        let doc = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{zone}BEGIN:VEVENT\r\n\
             UID:beijing@example.org\r\nDTSTAMP:20270101T000000Z\r\n\
             DTSTART;TZID=Beijing local:{start}\r\n{rule}SUMMARY:Meetup\r\nEND:VEVENT\r\n\
             END:VCALENDAR\r\n"
        );
        let imp = ics::parse_calendar(&doc, &key(), &Limits::default()).unwrap();
        let ev = &imp.events[0];
        let first = starts(ev, 2027)[0].0;
        assert_eq!(
            first,
            utc(2027, month, 5, 11, 0),
            "{start}: {:?}",
            ev.warnings
        );
    }
}

#[test]
fn berlin_rules_under_another_name_follow_both_2027_dst_changes() {
    let evs = taken("tz-mytimezone-berlin-rules.ics");
    let ev = &evs[0];
    assert_eq!(ev.content.master.start.tzid(), Some("Europe/Berlin"));
    assert!(ev.warnings[0].contains("MyTimezone"), "{:?}", ev.warnings);
    let s = starts(ev, 2027);
    // Wednesdays 19:00 local: UTC+1 until 28 March, UTC+2 until 31 October, UTC+1 again.
    for want in [
        utc(2027, 3, 24, 18, 0),
        utc(2027, 3, 31, 17, 0),
        utc(2027, 10, 27, 17, 0),
        utc(2027, 11, 3, 18, 0),
    ] {
        assert!(s.iter().any(|(a, _)| *a == want), "{want} not in {s:?}");
    }
    assert!(s.iter().all(|(a, b)| *b - *a == chrono::Duration::hours(2)));
    // The Lotus Notes name and the Western/Central Europe name are the same rules.
    for file in [
        "tz-lotus-notes-gmt-name.ics",
        "tz-western-central-europe.ics",
        // The same name with no VTIMEZONE (python-icalendar's issue 526).
        "tz-lotus-name-no-vtimezone.ics",
    ] {
        for ev in taken(file) {
            assert_eq!(
                ev.content.master.start.tzid(),
                Some("Europe/Berlin"),
                "{file}"
            );
        }
    }
    let us = &taken("tz-us-eastern-custom-name.ics")[0];
    assert_eq!(us.content.master.start.tzid(), Some("America/New_York"));
    let india = &taken("tz-kolkata-custom.ics")[0];
    assert_eq!(india.content.master.start.tzid(), Some("Asia/Kolkata"));
}

#[test]
fn rules_matching_no_zone_keep_the_files_offsets() {
    let evs = taken("tz-odd-dst-rules.ics");
    // +01:30 in winter, +02:30 from the first Sunday of May: no IANA zone does that.
    let want = [utc(2027, 1, 15, 8, 30), utc(2027, 7, 15, 7, 30)];
    for (ev, want) in evs.iter().zip(want) {
        assert!(matches!(ev.content.master.start, DateTimeValue::Utc(_)));
        assert_eq!(starts(ev, 2027)[0].0, want, "{}", ev.uid);
        assert!(ev.warnings[0].contains("Island Time"), "{:?}", ev.warnings);
    }
    let fixed = &taken("tz-custom-fixed-offset.ics")[0];
    assert_eq!(fixed.content.master.start.tzid(), Some("Etc/GMT-11"));
    assert_eq!(starts(fixed, 2027)[0].0, utc(2027, 1, 14, 22, 0));
}

#[test]
fn names_that_are_offsets_or_paths_are_mapped_and_unknown_ones_refused_alone() {
    let plus11 = &taken("tz-utc-plus-11-name.ics")[0];
    assert_eq!(starts(plus11, 2027)[0].0, utc(2027, 2, 20, 7, 0));
    let sthlm = &taken("tz-slash-prefixed-iana.ics")[0];
    assert_eq!(sthlm.content.master.start.tzid(), Some("Europe/Stockholm"));
    let br = &taken("tz-brasilia-display-name.ics")[0];
    assert_eq!(starts(br, 2027)[0].0, utc(2027, 8, 12, 22, 0));
    let (imp, _) = import_file("tz-unknown-name.ics");
    let imp = imp.unwrap();
    assert_eq!(imp.events.len(), 1);
    assert!(
        imp.errors[0].to_string().contains("Mars/Olympus_Mons"),
        "{}",
        imp.errors[0]
    );
}

#[test]
fn rdate_periods_keep_their_own_lengths_and_rscale_is_refused_by_name() {
    let ev = &taken("rdate-period-end.ics")[0];
    let hours: Vec<i64> = starts(ev, 2027)
        .iter()
        .map(|(a, b)| (*b - *a).num_hours())
        .collect();
    assert_eq!(hours, [2, 2, 8]);
    let ev = &taken("rdate-period-duration.ics")[0];
    let s = starts(ev, 2027);
    assert_eq!(
        s,
        [
            (utc(2027, 4, 10, 8, 0), utc(2027, 4, 10, 9, 0)),
            (utc(2027, 4, 17, 8, 0), utc(2027, 4, 17, 11, 0)),
        ]
    );
    let (imp, _) = import_file("rscale-chinese-new-year.ics");
    let imp = imp.unwrap();
    assert_eq!(imp.events.len(), 1);
    assert!(
        imp.errors[0].to_string().contains("RSCALE"),
        "{}",
        imp.errors[0]
    );
}

/// A calendar of one event starting as `start` says, repeating by `rule`.
fn ruled(start: &str, rule: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n\
         UID:ruled@example.org\r\nDTSTAMP:20270101T000000Z\r\n{start}\r\nRRULE:{rule}\r\n\
         SUMMARY:Meetup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// Values as some exporters write them: a time with a UTC offset after it, Outlook's UTC zone
/// without a VTIMEZONE, and STATUS spelt `CANCELED` (a cancelled event must not show as going
/// ahead for a letter).
#[test]
fn offsets_outlooks_utc_and_canceled_are_read() {
    let doc = |props: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n\
             UID:odd@example.org\r\nDTSTAMP:20270101T000000Z\r\n{props}\r\n\
             SUMMARY:Meetup\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    let one = |props: &str| {
        let imp = ics::parse_calendar(&doc(props), &key(), &Limits::default()).unwrap();
        assert!(imp.errors.is_empty(), "{props}: {:?}", imp.errors);
        imp.events.into_iter().next().unwrap()
    };
    let at_utc = |props: &str| starts(&one(props), 2027)[0].0;
    for start in [
        "DTSTART:20270105T190000+0100",
        "DTSTART:2027-01-05T19:00:00+01:00",
        "DTSTART:2027-01-05T13:00:00-05:00",
        "DTSTART;TZID=\"tzone://Microsoft/Utc\":20270105T180000",
    ] {
        assert_eq!(at_utc(start), utc(2027, 1, 5, 18, 0), "{start}");
    }
    let cancelled = one("DTSTART:20270105T180000Z\r\nSTATUS:CANCELED");
    assert_eq!(cancelled.content.master.status, Some(Status::Cancelled));
}

/// RFC 7529's `RSCALE=GREGORIAN` with `SKIP=OMIT` (written or by default) is the plain rule
/// and is read as one, saying so; a skip that moves days, or another calendar, is refused by
/// name.
#[test]
fn a_gregorian_rscale_is_the_plain_rule_and_moved_skips_are_refused() {
    let doc = |rule: &str| ruled("DTSTART:20270131T180000Z\r\nDURATION:PT2H", rule);
    for rule in [
        "RSCALE=GREGORIAN;FREQ=MONTHLY;COUNT=4",
        "FREQ=MONTHLY;COUNT=4;RSCALE=gregorian;SKIP=OMIT",
    ] {
        let imp = ics::parse_calendar(&doc(rule), &key(), &Limits::default()).unwrap();
        assert!(imp.errors.is_empty(), "{rule}: {:?}", imp.errors);
        let ev = &imp.events[0];
        assert!(
            ev.warnings.iter().any(|w| w.contains("RSCALE")),
            "{rule}: {:?}",
            ev.warnings
        );
        let days: Vec<u32> = starts(ev, 2027)
            .iter()
            .map(|(a, _)| chrono::Datelike::month(a))
            .collect();
        // February, April and June have no 31st: left out, and the count goes on.
        assert_eq!(days, [1, 3, 5, 7], "{rule}");
    }
    for (rule, named) in [
        ("RSCALE=GREGORIAN;FREQ=MONTHLY;SKIP=FORWARD", "SKIP=FORWARD"),
        ("RSCALE=HEBREW;FREQ=YEARLY;BYMONTH=5L", "RSCALE=HEBREW"),
    ] {
        let imp = ics::parse_calendar(&doc(rule), &key(), &Limits::default()).unwrap();
        assert!(imp.events.is_empty(), "{rule}");
        assert!(
            imp.errors[0].to_string().contains(named),
            "{rule}: {}",
            imp.errors[0]
        );
    }
}

/// An empty RRULE (calendarlabs.com's holiday feeds write one on every event) is no rule; a
/// COUNT that is no count beside an UNTIL leaves the UNTIL; a bad COUNT alone still refuses.
#[test]
fn empty_rules_and_counts_that_are_none_are_dropped() {
    let doc = |rule: &str| ruled("DTSTART;VALUE=DATE:20270101", rule);
    let imp = ics::parse_calendar(&doc(""), &key(), &Limits::default()).unwrap();
    assert!(imp.errors.is_empty(), "{:?}", imp.errors);
    assert!(imp.events[0].content.master.rrule.is_none());
    assert!(imp.events[0].warnings[0].contains("empty RRULE"));
    let imp = ics::parse_calendar(
        &doc("FREQ=WEEKLY;UNTIL=20270131;COUNT=-1"),
        &key(),
        &Limits::default(),
    )
    .unwrap();
    assert!(imp.errors.is_empty(), "{:?}", imp.errors);
    assert_eq!(starts(&imp.events[0], 2027).len(), 5);
    let imp =
        ics::parse_calendar(&doc("FREQ=WEEKLY;COUNT=-1"), &key(), &Limits::default()).unwrap();
    assert!(imp.events.is_empty());
    assert!(
        imp.errors[0].to_string().contains("COUNT"),
        "{}",
        imp.errors[0]
    );
}

#[test]
fn latin1_text_is_read_as_windows_1252() {
    let ev = &taken("latin1-mislabelled.ics")[0];
    assert_eq!(
        ev.content.master.summary.as_deref(),
        Some("Café logiciel libre – été")
    );
}

/// Control characters, which iCalendar allows nowhere but as tab, cost an event nothing:
/// Word's line breaks (vertical tabs, pasted into Outlook) become line breaks, C1 controls left
/// by Windows-1252 text converted as if it were Latin-1 become their quotes, the rest go.
#[test]
fn control_characters_are_repaired_not_refused() {
    let (imp, _) = import_file("word-line-breaks-c1-quotes.ics");
    let imp = imp.unwrap();
    assert!(
        imp.adjusted
            .iter()
            .any(|a| a.contains("replaced or dropped 7 control character(s)")),
        "{:?}",
        imp.adjusted
    );
    let m = &imp.events[0].content.master;
    assert_eq!(
        m.summary.as_deref(),
        Some("Don’t miss the “Linux install” night")
    );
    assert_eq!(
        m.description.as_deref(),
        Some("Bring your laptop.\nPower strips are there.\nAsk at the door.")
    );
    assert_eq!(m.location.as_deref(), Some("Community hall"));
}

/// Lotus Notes 6 (2005; ical4j's and Apple's CalendarServer's test data) names its zone
/// `Eastern` with the US rules of before 2007. A series bounded by COUNT, or by its RDATEs, is
/// compared with the IANA zones over its own span, where New York's rules are those: it keeps
/// a zone that follows DST. An open series must agree for years, and after 2007 they differ:
/// its times stay in UTC by the file's rules, as before.
#[test]
fn a_bounded_series_is_compared_over_its_own_years() {
    let evs = taken("lotus-notes-2005-eastern-old-us-rules.ics");
    let tz = |i: usize| match &evs[i].content.master.start {
        DateTimeValue::Zoned { tzid, .. } => Some(tzid.clone()),
        _ => None,
    };
    assert_eq!(tz(0).as_deref(), Some("America/New_York"), "COUNT=5");
    assert_eq!(tz(1).as_deref(), Some("America/New_York"), "RDATEs");
    assert_eq!(tz(2), None, "open-ended");
    assert!(matches!(evs[2].content.master.start, DateTimeValue::Utc(_)));
}

/// A PHP exporter that wrote `'\r\n'` in single quotes puts the whole calendar on one line,
/// its line breaks as the four characters `\r\n`. They are read as line breaks; the text's own
/// escapes (`\n`, `\,`) stay what they are.
#[test]
fn escaped_line_breaks_on_one_line_are_line_breaks() {
    let (imp, _) = import_file("php-escaped-line-breaks.ics");
    let imp = imp.unwrap();
    assert!(
        imp.adjusted
            .iter()
            .any(|a| a.contains("13 escaped line breaks")),
        "{:?}",
        imp.adjusted
    );
    let m = &imp.events[0].content.master;
    assert_eq!(m.summary.as_deref(), Some("Repair café"));
    assert_eq!(
        m.description.as_deref(),
        Some("Bring what is broken.\nTools, coffee and cake are there.")
    );
    assert_eq!(m.location.as_deref(), Some("Town hall"));
}

/// ical.net's test files: a tag with an escaped line break, and parameters holding lists of
/// quoted values (`MEMBER="a","b"`), which no parameter value can carry. Each used to refuse
/// its whole event; now the tag's break is a space and the parameters go, with warnings.
#[test]
fn quoted_parameter_lists_and_broken_tags_cost_only_themselves() {
    let ev = taken("quoted-param-lists-and-tag-breaks.ics").remove(0);
    let m = &ev.content.master;
    assert_eq!(
        m.categories,
        vec!["release", "A tag written with a line break in it"]
    );
    let org = m.organizer.as_ref().unwrap();
    assert_eq!(org.address, "mailto:team@example.org");
    assert_eq!(org.common_name, None);
    let attendee = m.extra.iter().find(|p| p.name == "ATTENDEE").unwrap();
    assert_eq!(attendee.value, "mailto:joe@example.org");
    let params: Vec<_> = attendee.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(params, ["CN"]);
    for w in ["CATEGORIES", "ORGANIZER's CN", "parameters of ATTENDEE"] {
        assert!(
            ev.warnings.iter().any(|x| x.contains(w)),
            "{w}: {:?}",
            ev.warnings
        );
    }
}

/// No crash on what is almost a real file: each corpus file cut, with bytes deleted, and with
/// separators inserted, at seeded random places, is read or refused without a panic.
#[test]
fn mangled_files_never_panic() {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
        .collect();
    files.sort();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        for round in 0..60 {
            let mut b = bytes.clone();
            let at = next(b.len());
            match round % 4 {
                0 => b.truncate(at),
                1 => {
                    let to = (at + 1 + next(40)).min(b.len());
                    b.drain(at..to);
                }
                2 => b.insert(at, [b':', b';', b'=', b'"', b'\n', b','][next(6)]),
                _ => {
                    let to = (at + next(200)).min(b.len());
                    let copy = b[at..to].to_vec();
                    let where_ = next(b.len());
                    b.splice(where_..where_, copy);
                }
            }
            let (text, _) = ics::decode_text(&b);
            let _ = ics::parse_calendar(&text, &key(), &Limits::default());
        }
    }
}

/// A hostile VTIMEZONE (64 observances of 1,024 RDATEs each) used by events in 300 different
/// years costs a bounded amount: the document's budget of offset changes refuses what is past
/// it, each event alone, and the rest is read.
#[test]
fn hostile_vtimezones_cost_a_bounded_amount() {
    let mut doc = String::from("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Hostile\r\n");
    for o in 0..80 {
        let dates: Vec<String> = (0..1100)
            .map(|i| format!("{}0101T0{}0000", 1950 + (i % 250), o % 10))
            .collect();
        doc.push_str(&format!(
            "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0{}00\r\nRDATE:{}\r\nEND:STANDARD\r\n",
            o % 3,
            dates.join(",")
        ));
    }
    doc.push_str("END:VTIMEZONE\r\n");
    for y in 0..300 {
        doc.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:h{y}@x\r\nDTSTART;TZID=Hostile:{}0601T100000\r\nEND:VEVENT\r\n",
            1900 + y
        ));
    }
    doc.push_str("END:VCALENDAR\r\n");
    let imp = ics::parse_calendar(&doc, &key(), &Limits::default()).unwrap();
    assert_eq!(imp.events.len() + imp.errors.len(), 300);
    assert!(
        imp.errors
            .iter()
            .any(|e| e.to_string().contains("offset changes")),
        "{:?}",
        imp.errors.first()
    );
    assert!(!imp.events.is_empty());
}

/// Exports in the shapes of Gancio, Mobilizon, WordPress "The Events Calendar" and Exchange
/// (quoted Windows zone names, one without its VTIMEZONE), and a Google line folded inside a
/// UTF-8 character: the values come out as their authors meant.
#[test]
fn exports_of_the_tools_groups_use() {
    let zone = |e: &ImportedEvent| match &e.content.master.start {
        DateTimeValue::Zoned { tzid, .. } => tzid.clone(),
        other => format!("{other:?}"),
    };
    let ex = taken("exchange-quoted-windows-zones.ics");
    assert_eq!(zone(&ex[0]), "Europe/Berlin");
    assert_eq!(zone(&ex[1]), "Europe/Paris");
    assert_eq!(
        ex[0].content.master.rrule.as_deref(),
        Some("FREQ=MONTHLY;COUNT=6;BYDAY=1TH")
    );
    let g = taken("google-fold-splits-utf8.ics");
    assert_eq!(
        g[0].content.master.summary.as_deref(),
        Some("Café-Treffen in der Südstadt für alle")
    );
    let gancio = taken("gancio-export.ics");
    assert!(gancio[0]
        .content
        .master
        .description
        .as_deref()
        .unwrap()
        .contains("al centro sociale"));
    let tec = taken("wordpress-tec.ics");
    let m = &tec[0].content.master;
    assert_eq!(zone(&tec[0]), "Europe/Berlin");
    assert_eq!(
        m.organizer.as_ref().unwrap().common_name.as_deref(),
        Some("LUG Berlin")
    );
    assert!(m.geo.is_some());
    // Its `CREATED:20261120` (a date, which RFC 5545 does not allow there, and over which
    // vobject refuses the whole calendar) is kept as the UTC date-time of its midnight.
    let created = m.extra.iter().find(|p| p.name == "CREATED").unwrap();
    assert_eq!(created.value, "20261120T000000Z");
    let mob = taken("mobilizon-export.ics");
    assert_eq!(zone(&mob[0]), "Europe/Paris");
    assert_eq!(mob[0].content.master.categories, ["rust", "atelier"]);
}

#[test]
fn a_date_marked_as_utc_is_the_date() {
    use discal_protocol::model::{DateTimeValue, End};
    let ev = &taken("utc-marked-date.ics")[0];
    let m = &ev.content.master;
    assert!(matches!(m.start, DateTimeValue::Date(_)), "{:?}", m.start);
    assert_eq!(
        m.start.local().date.to_chrono(),
        chrono::NaiveDate::from_ymd_opt(2021, 5, 27)
    );
    assert!(
        matches!(&m.end, Some(End::At(DateTimeValue::Date(_)))),
        "{:?}",
        m.end
    );
    assert!(
        ev.warnings
            .iter()
            .any(|w| w.contains("as the DATE 20210527")),
        "{:?}",
        ev.warnings
    );
}

#[test]
fn a_property_whose_name_no_writer_may_write_drops_itself_not_the_event() {
    let ev = &taken("invalid-extra-names.ics")[0];
    let extra: Vec<(&str, usize)> = ev
        .content
        .master
        .extra
        .iter()
        .map(|p| (p.name.as_str(), p.params.len()))
        .collect();
    assert_eq!(extra, [("X-CLUB-FLOOR", 0)], "{:?}", ev.warnings);
    assert_eq!(ev.warnings.len(), 3, "{:?}", ev.warnings);
    // Blanks inside a calendar property's name no longer stop the whole document.
    assert_eq!(
        taken("blanks-inside-names.ics")[0].uid,
        "issue-351@example.com"
    );
}

#[test]
fn apples_structured_location_with_an_escaped_semicolon_in_a_parameter() {
    // iPhone OS 26 writes `X-TITLE=Museumstraße 3\; 4020 Linz` unquoted: the parser gave up on
    // the whole document. The value is quoted as it stands, and written back quoted.
    let ev = &taken("apple-structured-location-escaped-semicolon.ics")[0];
    let loc = ev
        .content
        .master
        .extra
        .iter()
        .find(|p| p.name == "X-APPLE-STRUCTURED-LOCATION")
        .expect("kept");
    assert_eq!(loc.value, "geo:48.302,14.287");
    let title = loc.params.iter().find(|p| p.name == "X-TITLE").unwrap();
    assert_eq!(title.value, "Museumstraße 3\\; 4020 Linz");
    let handle = loc
        .params
        .iter()
        .find(|p| p.name == "X-APPLE-MAPKIT-HANDLE");
    assert!(handle.unwrap().value.ends_with("=="), "{handle:?}");
    let out = written(ev);
    let unfolded = out.replace("\r\n ", "");
    assert!(
        unfolded.contains(";X-TITLE=\"Museumstraße 3\\; 4020 Linz\";"),
        "{unfolded}"
    );
}

#[test]
fn a_download_cut_off_mid_event_keeps_the_whole_events_and_says_it_was_cut() {
    let path = dir().join("cut-off-download.ics");
    let text = std::fs::read_to_string(path).unwrap();
    let got = ics::parse_calendar(&text, &key(), &Limits::default()).unwrap();
    assert!(got.cut_off, "{:?}", got.adjusted);
    let uids: Vec<&str> = got.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, ["1a2b3c@google.com", "4d5e6f@google.com"]);
    let whole = taken("vcalendar-begun-twice.ics");
    assert_eq!(whole[0].uid, "twice-1@club.example");
}

#[test]
fn a_second_rrule_becomes_dates_of_the_one_event() {
    // RFC 2445 allowed several RRULEs (Zimbra writes them): every Tuesday, and the first
    // Saturday of each month, until the end of March. The event was refused before.
    let ev = &taken("zimbra-two-rrules.ics")[0];
    assert_eq!(ev.content.master.rdates.len(), 2, "{:?}", ev.warnings);
    let s = starts(ev, 2027);
    assert_eq!(s.len(), 13 + 2, "{s:?}");
    for want in [
        utc(2027, 1, 12, 17, 0),
        utc(2027, 2, 6, 17, 0),
        utc(2027, 3, 6, 17, 0),
        utc(2027, 3, 30, 16, 0),
    ] {
        assert!(s.iter().any(|(a, _)| *a == want), "{want} not in {s:?}");
    }
    assert!(s.iter().all(|(a, b)| *b - *a == chrono::Duration::hours(2)));
    // Hostile: each extra rule costs an expansion, so only a few are read.
    let text = std::fs::read_to_string(dir().join("zimbra-two-rrules.ics")).unwrap();
    let many = text.replace(
        "RRULE:FREQ=MONTHLY",
        &format!(
            "{}RRULE:FREQ=MONTHLY",
            "RRULE:FREQ=DAILY;COUNT=3\r\n".repeat(1000)
        ),
    );
    let got = ics::parse_calendar(&many, &key(), &Limits::default()).unwrap();
    assert!(got.events.is_empty());
    assert!(
        got.errors[0].to_string().contains("at most 4 are read"),
        "{:?}",
        got.errors
    );
}

#[test]
fn an_invitations_long_html_and_agenda_are_trimmed_not_the_event() {
    // Outlook and Teams invitations carry the description again as HTML, styles and all.
    let css = "p.MsoNormal{margin:0cm\\;font-size:11.0pt\\;font-family:Calibri\\,sans-serif}";
    let html = format!(
        "<html><head><style>{}</style></head><body>Join</body></html>",
        css.repeat(800)
    );
    let agenda = "1. Welcome\\n2. Talks\\n".repeat(2000);
    let doc = format!(
        "BEGIN:VCALENDAR\r\nPRODID:Microsoft Exchange Server 2010\r\nVERSION:2.0\r\n\
         METHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:040000008200E00074C5B7101A82E008\r\n\
         SUMMARY;LANGUAGE=en-US:Team sync\r\nDTSTART:20270105T090000Z\r\n\
         DTEND:20270105T100000Z\r\nDESCRIPTION;LANGUAGE=en-US:{agenda}\r\n\
         X-ALT-DESC;FMTTYPE=text/html:{html}\r\nX-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let got = ics::parse_calendar(&doc, &key(), &Limits::default()).unwrap();
    assert!(got.errors.is_empty(), "{:?}", got.errors);
    let ev = &got.events[0];
    let m = &ev.content.master;
    assert!(m.extra.iter().all(|p| p.name != "X-ALT-DESC"));
    assert!(m
        .extra
        .iter()
        .any(|p| p.name == "X-MICROSOFT-CDO-BUSYSTATUS"));
    let d = m.description.as_deref().unwrap();
    assert!(d.len() <= Limits::default().max_text_bytes && d.ends_with('…'));
    assert!(d.starts_with("1. Welcome\n2. Talks\n"));
    assert_eq!(ev.warnings.len(), 2, "{:?}", ev.warnings);
    // It signs: the payload stays under its limit.
    let secret = NodeSecret::from_seed_array([9; 32]);
    let signed = discal_protocol::envelope::sign(
        &secret,
        ev.uid.clone(),
        1,
        0,
        ev.content.clone(),
        &Limits::default(),
    );
    assert!(signed.is_ok(), "{signed:?}");
}

#[test]
fn holidays_whose_rules_start_in_1753_start_at_their_first_instance_from_1900() {
    let evs = taken("holidays-since-1753.ics");
    let election = &evs[0];
    assert_eq!(
        election.content.master.start,
        DateTimeValue::Date(discal_protocol::model::Date {
            year: 1900,
            month: 11,
            day: 6
        })
    );
    // The Tuesday after the first Monday of November 2027.
    assert_eq!(starts(election, 2027)[0].0, utc(2027, 11, 2, 0, 0));
    let halloween = &evs[1];
    assert!(
        halloween.content.master.exdates.is_empty(),
        "1800's EXDATE went"
    );
    assert_eq!(starts(halloween, 2027)[0].0, utc(2027, 10, 31, 0, 0));
}

#[test]
fn a_calendars_x_wr_timezone_is_named_and_its_floating_times_stay_floating() {
    // A WordPress-style feed: floating times, the calendar's zone named once at the top.
    // Imported they stay floating (RFC 5545, Thunderbird); a feed source places them in
    // that zone (node/tests/sources.rs).
    let path = dir().join("x-wr-timezone-floating.ics");
    let text = std::fs::read_to_string(path).unwrap();
    let got = ics::parse_calendar(&text, &key(), &Limits::default()).unwrap();
    assert_eq!(got.calendar_zone.as_deref(), Some("Europe/Berlin"));
    let weekly = &got.events[0];
    assert!(matches!(
        weekly.content.master.start,
        DateTimeValue::Floating(_)
    ));
    let mut placed = weekly.content.clone();
    assert_eq!(
        discal_protocol::source::zone_floating(&mut placed, "Europe/Berlin"),
        3
    );
    let ev = ImportedEvent {
        content: placed,
        ..weekly.clone()
    };
    let s = starts(&ev, 2027);
    // Tuesdays 19:00 in Berlin from 5 January to 30 March, but 12 January.
    assert_eq!(s.len(), 12, "{s:?}");
    assert_eq!(s[0].0, utc(2027, 1, 5, 18, 0));
    assert!(!s.iter().any(|(a, _)| *a == utc(2027, 1, 12, 18, 0)));
    assert_eq!(s[11].0, utc(2027, 3, 30, 17, 0), "summer time by then");
    assert!(got.events[1].content.master.start.is_date());
}

#[test]
fn a_description_that_lost_its_folds_is_joined_back() {
    // An Exchange invitation whose description went through a mail client unfolded: each of
    // its lines looked like a line of its own, some like properties ("Meeting ID: 123"), one
    // with a name the parser refuses ("… questions! :)"), which refused the whole calendar.
    let ev = &taken("exchange-description-lost-folds.ics")[0];
    let m = &ev.content.master;
    assert_eq!(
        m.description.as_deref(),
        Some(
            "\nDear team,\nWe meet on Tuesday. Bring your questions! :)\nJoin the meeting\n\
             https://meet.example/j/123?pwd=abc\nMeeting ID: 123 456\nPasscode: 42\n\
             +49 30 1234567,,123456#"
        )
    );
    assert_eq!(m.summary.as_deref(), Some("Board meeting"));
    assert_eq!(m.start.tzid(), Some("Europe/Berlin"));
    assert!(m
        .extra
        .iter()
        .all(|p| p.name != "PASSCODE" && p.name != "HTTPS"));
}

/// Properties without a value and libical's own `X-LIC-ERROR` notes (both in exports that
/// went through libical, as in recurring-ical-events' test calendars) are not carried into
/// what DisCal writes, where libical would mark each as an error.
#[test]
fn empty_properties_and_libicals_notes_are_not_carried() {
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n\
        UID:notes@example.org\r\nDTSTAMP:20261201T000000Z\r\nDTSTART:20270110T100000Z\r\n\
        SUMMARY:Notes\r\nCLASS:\r\nX-EMPTY:\r\nLOCATION:\r\n\
        X-LIC-ERROR;X-LIC-ERRORTYPE=VALUE-PARSE-ERROR:No value for DESCRIPTION \r\n\
        CREATED:20261120\r\nLAST-MODIFIED:00001231T000000Z\r\nTRANSP:OPAQUE\r\n\
        END:VEVENT\r\nEND:VCALENDAR\r\n";
    let got = ics::parse_calendar(text, &key(), &Limits::default()).unwrap();
    let ev = &got.events[0];
    let names: Vec<&str> = ev
        .content
        .master
        .extra
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["CREATED", "TRANSP"], "{:?}", ev.warnings);
    assert_eq!(ev.content.master.location, None);
    assert!(
        ev.warnings.iter().any(|w| w.contains("X-LIC-ERROR")),
        "{:?}",
        ev.warnings
    );
    let out = written(ev);
    assert!(out.contains("CREATED:20261120T000000Z\r\n"), "{out}");
    for gone in ["CLASS", "X-EMPTY", "LOCATION", "X-LIC-ERROR"] {
        assert!(!out.contains(&format!("\n{gone}")), "{gone} in {out}");
    }
}
