//! The lenient reader: files with the syntax slips of real exporters are read whole, each
//! repair named, and the values come through unchanged.

use std::path::PathBuf;

use chrono::TimeZone;
use discal_protocol::ics;
use discal_protocol::model::DateTimeValue;
use discal_protocol::{recur, Limits, NodeSecret};

fn read(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/lenient")
        .join(name);
    String::from_utf8(std::fs::read(&p).unwrap()).unwrap()
}

#[test]
fn slips_are_repaired_and_the_event_is_taken() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    // file, UID, SUMMARY, LOCATION, words the adjustments must name ("" for none)
    let cases = [
        (
            "bom.ics",
            "bom-1@example.org",
            "Linux install party",
            Some("Stadtbibliothek"),
            "byte order mark",
        ),
        (
            "spaces.ics",
            "spaces-1@example.org",
            "Repair-Café",
            Some("Haus der Nachbarschaft, Raum 2"),
            "blanks",
        ),
        (
            "apple-radius.ics",
            "4B1E5C2A-8D1F-4C9B-9E0A-1F2B3C4D5E6F",
            "Hackspace open evening",
            Some("Hackspace\nKastanienallee 12\n10435 Berlin"),
            "X-APPLE-RADIUS",
        ),
        (
            "blank-lines.ics",
            "blank-lines-1@example.org",
            "Spring bike repair day",
            None,
            "",
        ),
        (
            "trailing-html.ics",
            "trailing-1@example.org",
            "Open data meetup",
            None,
            "",
        ),
        (
            "mozilla-empty-lines.ics",
            "1087123499",
            "Linux install party",
            Some("Jugendzentrum, Saal 1"),
            "empty lines",
        ),
        (
            "misspelt-end.ics",
            "misspelt-1@example.org",
            "Summer barbecue",
            None,
            "",
        ),
    ];
    for (file, uid, summary, location, named) in cases {
        let imp = ics::parse_calendar(&read(file), &key, &Limits::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(imp.errors.is_empty(), "{file}: {:?}", imp.errors);
        assert_eq!(imp.events.len(), 1, "{file}");
        let ev = &imp.events[0];
        assert_eq!(ev.uid, uid, "{file}");
        let m = &ev.content.master;
        assert_eq!(m.summary.as_deref(), Some(summary), "{file}");
        assert_eq!(m.location.as_deref(), location, "{file}");
        if !named.is_empty() {
            assert!(
                imp.adjusted.iter().any(|a| a.contains(named)),
                "{file}: {:?}",
                imp.adjusted
            );
        }
    }
}

/// The zone of a start given as `DTSTART ; TZID = Europe/Berlin : …` is kept.
#[test]
fn a_respaced_zone_is_kept() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let imp = ics::parse_calendar(&read("spaces.ics"), &key, &Limits::default()).unwrap();
    match &imp.events[0].content.master.start {
        DateTimeValue::Zoned { tzid, .. } => assert_eq!(tzid, "Europe/Berlin"),
        other => panic!("{other:?}"),
    }
}

/// VEVENTs with no VCALENDAR around them (a component copied out of a calendar) are read as
/// one calendar, and the adjustment says so; text that is no iCalendar at all is refused with
/// an error that says what is missing, not the parser's.
#[test]
fn bare_vevents_are_read_and_other_text_is_refused_clearly() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let imp = ics::parse_calendar(&read("bare-vevents.ics"), &key, &Limits::default()).unwrap();
    assert!(imp.errors.is_empty(), "{:?}", imp.errors);
    let uids: Vec<&str> = imp.events.iter().map(|e| e.uid.as_str()).collect();
    assert_eq!(uids, ["bare-1@example.org", "bare-2@example.org"]);
    let m = &imp.events[0].content.master;
    assert_eq!(m.summary.as_deref(), Some("Linux user group meeting"));
    assert_eq!(m.location.as_deref(), Some("Bürgerhaus, Saal 2"));
    assert!(
        imp.adjusted
            .iter()
            .any(|a| a.contains("without a VCALENDAR")),
        "{:?}",
        imp.adjusted
    );
    for text in [
        "<!doctype html><html><body>Our events</body></html>",
        "BEGIN:VTODO\r\nSUMMARY:not an event\r\nEND:VTODO\r\n",
        "",
    ] {
        let e = ics::parse_calendar(text, &key, &Limits::default()).unwrap_err();
        assert!(
            e.to_string().contains("no BEGIN:VCALENDAR"),
            "{text:?}: {e}"
        );
    }
    // A line the parser cannot read is named and quoted, not given as the parser's trace.
    let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n\
        DTSTART:20270101T100000Z\r\nBEGIN:VALARM\\x\r\nEND:VALARM\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";
    let e = ics::parse_calendar(text, &key, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 6") && e.contains("BEGIN:VALARM\\\\X") && !e.contains("Many0"),
        "{e}"
    );
}

/// An RRULE whose UNTIL is before DTSTART (khal keeps such a file among its tests, Confluence
/// writes one for a deleted series) leaves no instance in libical, ical.js and
/// recurring-ical-events: the event is taken as cancelled, the dropped rule named. With RDATEs
/// the rule alone is dropped. A rule that ends after the start is kept.
#[test]
fn a_rule_ending_before_its_start_leaves_a_cancelled_event() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let cal = |rule: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n\
             UID:until-1@example.org\r\nDTSTAMP:20140401T234817Z\r\n\
             DTSTART;TZID=Europe/Berlin:19801109T193000\r\nDTEND;TZID=Europe/Berlin:19801109T203000\r\n\
             SUMMARY:Stop recurring before we start\r\n{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    for rule in [
        "RRULE:FREQ=DAILY;UNTIL=19701119T203000Z",
        "RRULE:FREQ=WEEKLY;UNTIL=19801108",
    ] {
        let imp = ics::parse_calendar(&cal(rule), &key, &Limits::default()).unwrap();
        assert!(imp.errors.is_empty(), "{rule}: {:?}", imp.errors);
        let ev = &imp.events[0];
        assert_eq!(ev.content.master.rrule, None, "{rule}");
        assert_eq!(
            ev.content.master.status,
            Some(discal_protocol::model::Status::Cancelled),
            "{rule}"
        );
        assert!(
            ev.warnings
                .iter()
                .any(|w| w.contains("ends before DTSTART")),
            "{rule}: {:?}",
            ev.warnings
        );
        let with_rdate = format!("{rule}\r\nRDATE;TZID=Europe/Berlin:19801116T193000");
        let imp = ics::parse_calendar(&cal(&with_rdate), &key, &Limits::default()).unwrap();
        let m = &imp.events[0].content.master;
        assert_eq!((m.rrule.as_deref(), m.status), (None, None), "{rule}");
    }
    // UNTIL on DTSTART's own day (a DATE covers the whole day) or later: the rule stays.
    for rule in [
        "RRULE:FREQ=DAILY;UNTIL=19801109",
        "RRULE:FREQ=DAILY;UNTIL=19801119T203000Z",
    ] {
        let imp = ics::parse_calendar(&cal(rule), &key, &Limits::default()).unwrap();
        let ev = &imp.events[0];
        assert!(ev.content.master.rrule.is_some(), "{rule}");
        assert!(ev.warnings.is_empty(), "{rule}: {:?}", ev.warnings);
    }
}

/// Instances of a recurring event without their master (khal keeps such files; Google
/// exports leave moved instances of deleted series) are taken as one event at their own
/// times, with a warning.
#[test]
fn instances_without_their_series_are_taken_at_their_own_times() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let instance = |rid: &str, start: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:lone-1@example.org\r\nDTSTAMP:20261201T000000Z\r\n\
             RECURRENCE-ID;TZID=Europe/Berlin:{rid}\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n\
             DURATION:PT2H\r\nSUMMARY:Moved meetup\r\nEND:VEVENT\r\n"
        )
    };
    let cal = |body: String| {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n")
    };
    let one = cal(instance("20270105T190000", "20270106T180000"));
    let imp = ics::parse_calendar(&one, &key, &Limits::default()).unwrap();
    assert!(imp.errors.is_empty(), "{:?}", imp.errors);
    let ev = &imp.events[0];
    assert_eq!(ev.uid, "lone-1@example.org");
    let m = &ev.content.master;
    assert_eq!(m.recurrence_id, None);
    assert!(ev.content.overrides.is_empty());
    match &m.start {
        DateTimeValue::Zoned { local, tzid } => {
            assert_eq!(tzid, "Europe/Berlin");
            let t = local.to_chrono().unwrap();
            assert_eq!(t.format("%Y%m%dT%H%M%S").to_string(), "20270106T180000");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        ev.warnings.iter().any(|w| w.contains("as one event")),
        "{:?}",
        ev.warnings
    );

    // Two instances: one event, the first at its own time, the second's original time an
    // RDATE that the second overrides; it expands to exactly the two moved times.
    let two = cal(instance("20270105T190000", "20270106T180000")
        + &instance("20270112T190000", "20270112T200000"));
    let imp = ics::parse_calendar(&two, &key, &Limits::default()).unwrap();
    assert!(imp.errors.is_empty(), "{:?}", imp.errors);
    assert_eq!(imp.events.len(), 1);
    let content = &imp.events[0].content;
    assert_eq!(content.master.rdates.len(), 1);
    assert_eq!(content.overrides.len(), 1);
    let from = chrono::Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
    let to = chrono::Utc.with_ymd_and_hms(2027, 2, 1, 0, 0, 0).unwrap();
    let got = recur::expand(content, from, to, chrono_tz::UTC, Default::default()).unwrap();
    let starts: Vec<String> = got
        .occurrences
        .iter()
        .map(|o| o.start.format("%Y-%m-%dT%H:%MZ").to_string())
        .collect();
    assert_eq!(starts, ["2027-01-06T17:00Z", "2027-01-12T19:00Z"]);
}

/// Thousands of tags cost a pass over them, not a comparison of each with all before it:
/// repeats are dropped keeping the first, the list is cut to the limit, and a flood of
/// broken tags gives two warnings, not one per tag. (`cargo bench --bench hostile` prints
/// the time: 295 ms for 20,000 tags before, 5 ms after.)
#[test]
fn a_flood_of_tags_is_deduplicated_cut_and_warned_once() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let tags: Vec<String> = (0..5000)
        .map(|i| format!("t{}", i % 2500))
        .chain((0..3000).map(|i| format!("a\\nb{i}")))
        .collect();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:tags@t\r\n\
         DTSTAMP:20261201T120000Z\r\nDTSTART:20270101T100000Z\r\nSUMMARY:tags\r\n\
         CATEGORIES:linux,Linux,linux\r\nCATEGORIES:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        tags.join(",")
    );
    let limits = Limits::default();
    let import = ics::parse_calendar(&ics, &key, &limits).unwrap();
    let ev = &import.events[0];
    let cats = &ev.content.master.categories;
    assert_eq!(cats.len(), limits.max_categories);
    assert_eq!(&cats[..4], ["linux", "Linux", "t0", "t1"]);
    let kept = format!(
        "kept the first {} of {} CATEGORIES",
        limits.max_categories,
        2 + 2500 + 3000
    );
    assert!(ev.warnings.contains(&kept), "{:?}", ev.warnings);
    assert!(ev.warnings.len() <= 3, "{:?}", ev.warnings);
    assert!(ev
        .warnings
        .iter()
        .any(|w| w.contains("2999 more CATEGORIES")));
}

/// One slip repeated on thousands of lines is a bounded list of warnings (they travel to the
/// writer's answer, a source's status and the log): the first ones and a count of the rest.
#[test]
fn a_slip_on_every_line_gives_a_bounded_list_of_warnings() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let rdates: String = (0..3000)
        .map(|i| {
            format!(
                "RDATE;TZID=Nowhere/Z{i}:2027{:02}{:02}T100000\r\n",
                1 + (i / 28) % 12,
                1 + i % 28
            )
        })
        .collect();
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:slips@t\r\n\
         DTSTAMP:20261201T120000Z\r\nDTSTART:20270101T100000Z\r\nSUMMARY:slips\r\n{rdates}\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let import = ics::parse_calendar(&ics, &key, &Limits::default()).unwrap();
    let w = &import.events[0].warnings;
    assert_eq!(w.len(), ics::MAX_WARNINGS);
    assert!(w[0].contains("Nowhere/Z0"), "{}", w[0]);
    assert_eq!(w.last().unwrap(), "and 2969 more warnings");
}

/// A server that appends each edit writes an instance many times: of 300 VEVENTs for 100
/// instances the latest version of each is kept (found by a map, not by a search per
/// override: `cargo bench --bench hostile`), and one UID written thousands of times, each
/// with its own slip, keeps a bounded list of warnings that counts the rest.
#[test]
fn many_versions_of_instances_keep_the_latest_of_each() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let mut body = String::from(
        "BEGIN:VEVENT\r\nUID:s@t\r\nDTSTAMP:20261201T120000Z\r\nDTSTART:20270101T100000Z\r\n\
         RRULE:FREQ=DAILY;COUNT=200\r\nSUMMARY:series\r\nEND:VEVENT\r\n",
    );
    for version in 0..3 {
        for day in 0..100 {
            let d = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap() + chrono::Days::new(day);
            let d = d.format("%Y%m%d");
            body.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:s@t\r\nDTSTAMP:20261201T120000Z\r\nSEQUENCE:{version}\r\n\
                 RECURRENCE-ID:{d}T100000Z\r\nDTSTART:{d}T110000Z\r\nSUMMARY:v{version}\r\n\
                 END:VEVENT\r\n"
            ));
        }
    }
    let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n{body}END:VCALENDAR\r\n");
    let import = ics::parse_calendar(&ics, &key, &Limits::default()).unwrap();
    let c = &import.events[0].content;
    assert_eq!(c.overrides.len(), 100);
    assert!(c
        .overrides
        .iter()
        .all(|o| o.summary.as_deref() == Some("v2")));

    let revisions: String = (0..2000)
        .map(|i| {
            format!(
                "BEGIN:VEVENT\r\nUID:r@t\r\nDTSTAMP:20261201T120000Z\r\nSEQUENCE:{i}\r\n\
                 DTSTART:20270101T100000Z\r\nCATEGORIES:a\\nb{i}\r\nSUMMARY:r{i}\r\nEND:VEVENT\r\n"
            )
        })
        .collect();
    let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n{revisions}END:VCALENDAR\r\n");
    let import = ics::parse_calendar(&ics, &key, &Limits::default()).unwrap();
    let ev = &import.events[0];
    assert_eq!(ev.content.master.summary.as_deref(), Some("r1999"));
    assert_eq!(ev.warnings.len(), ics::MAX_WARNINGS);
    // 2,000 slips and 1,999 later versions: 31 kept, the last line counting the rest.
    assert_eq!(ev.warnings.last().unwrap(), "and 3968 more warnings");
}

/// A calendar of one event starting 2027-01-01 10:00 UTC, with `line` among its properties.
fn with_line(line: &str) -> ics::Import {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let doc = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:one@t\r\n\
         DTSTAMP:20261201T120000Z\r\nDTSTART:20270101T100000Z\r\n{line}\r\n\
         SUMMARY:one\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    ics::parse_calendar(&doc, &key, &Limits::default()).unwrap()
}

/// RRULE parts that say nothing about the dates are dropped with a warning, not the event:
/// GNOME Evolution adds `X-EVOLUTION-ENDDATE` to every rule with a COUNT (and sends it by
/// CalDAV), node-ical's tests have an empty `ANYTHINGRANDOM=`, and `INTERVAL=0` meant no
/// interval. A misspelt part with a value still refuses the event: dropping it would change
/// the dates.
#[test]
fn rrule_parts_without_meaning_are_dropped() {
    let read = |rule: &str| with_line(&format!("RRULE:{rule}"));
    for (sent, kept) in [
        (
            "FREQ=DAILY;COUNT=5;X-EVOLUTION-ENDDATE=20270105T100000Z",
            "FREQ=DAILY;COUNT=5",
        ),
        (
            "ANYTHINGRANDOM=;FREQ=WEEKLY;BYDAY=FR,MO",
            "FREQ=WEEKLY;BYDAY=FR,MO",
        ),
        ("FREQ=WEEKLY;INTERVAL=0;BYDAY=MO", "FREQ=WEEKLY;BYDAY=MO"),
    ] {
        let import = read(sent);
        let ev = &import.events[0];
        assert_eq!(ev.content.master.rrule.as_deref(), Some(kept), "{sent}");
        assert!(
            ev.warnings.iter().any(|w| w.contains(sent)),
            "{sent}: {:?}",
            ev.warnings
        );
    }
    let misspelt = read("FREQ=WEEKLY;BYDAYS=MO");
    assert!(misspelt.events.is_empty());
    assert!(misspelt.errors[0].to_string().contains("BYDAYS"));
}

/// A document whose only VEVENT never ends (Radicale's `broken-vevent.ics`: the END lines
/// lost) is refused for that, not as a document without any VEVENT.
#[test]
fn a_lone_event_that_never_ends_is_named_in_the_refusal() {
    let key = NodeSecret::from_seed(&[42u8; 32]).unwrap().public();
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:cut@t\r\n\
               DTSTAMP:20261201T120000Z\r\nDTSTART:20270101T100000Z\r\nSUMMARY:cut\r\n";
    let e = ics::parse_calendar(ics, &key, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("no whole VEVENT"), "{e}");
    assert!(e.contains("never ended"), "{e}");
    let none = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nEND:VCALENDAR\r\n";
    let e = ics::parse_calendar(none, &key, &Limits::default())
        .unwrap_err()
        .to_string();
    assert_eq!(e, "the document holds no VEVENT");
}

/// A DURATION with its `T` in the wrong place (`PT1W`, `P2D0H`: node-ical's tests) is read as
/// meant, with a warning; one that could be months (`P1M`) is still dropped.
#[test]
fn a_duration_with_its_t_misplaced_is_read_as_meant() {
    let read = |d: &str| with_line(&format!("DURATION:{d}")).events[0].clone();
    for (sent, meant) in [("PT1W", "P1W"), ("P2D0H", "P2DT0H"), ("PT1D2H", "P1DT2H")] {
        let ev = read(sent);
        let want = ics::parse_duration(meant).unwrap();
        assert_eq!(
            ev.content.master.end,
            Some(discal_protocol::model::End::Duration(want)),
            "{sent}"
        );
        assert!(ev.warnings.iter().any(|w| w.contains(meant)), "{sent}");
    }
    let ev = read("P1M");
    assert_eq!(ev.content.master.end, None);
    assert!(ev.warnings.iter().any(|w| w.contains("dropped DURATION")));
}
