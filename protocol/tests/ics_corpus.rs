//! Round trips of realistic iCalendar exports: parse → model → write → parse gives the same
//! model, and the model survives signing, encoding, decoding and verification unchanged.

use std::path::PathBuf;

use discal_protocol::ics::{self, IcsEvent, ImportedEvent};
use discal_protocol::model::{DateTimeValue, End, LocalDateTime, Status};
use discal_protocol::{sign, Envelope, Limits, NodeKey, NodeSecret};

fn corpus() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/ics");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "corpus went missing from {dir:?}");
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn origin() -> NodeSecret {
    NodeSecret::from_seed(&[42u8; 32]).unwrap()
}

fn import(name: &str, text: &str, key: &NodeKey) -> Vec<ImportedEvent> {
    let imp = ics::parse_calendar(text, key, &Limits::default()).unwrap();
    assert!(imp.errors.is_empty(), "{name}: {:?}", imp.errors);
    assert!(!imp.events.is_empty(), "{name}: no events");
    imp.events
}

fn issued() -> LocalDateTime {
    LocalDateTime::from_chrono(
        chrono::NaiveDate::from_ymd_opt(2026, 11, 21)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
    )
}

fn render(events: &[ImportedEvent]) -> String {
    let issued = issued();
    ics::write_calendar(
        events.iter().map(|e| IcsEvent {
            uid: &e.uid,
            content: &e.content,
            revision: e.revision.unwrap_or(0),
            hop: e.hop.unwrap_or(0),
            issued,
        }),
        &[],
    )
}

#[test]
fn every_export_round_trips_through_the_model() {
    let key = origin().public();
    for (name, text) in corpus() {
        let first = import(&name, &text, &key);
        let written = render(&first);
        for line in written.split("\r\n") {
            assert!(line.len() <= 75, "{name}: unfolded line: {line}");
        }
        let second = import(&name, &written, &key);
        assert_eq!(first.len(), second.len(), "{name}");
        for (a, b) in first.iter().zip(&second) {
            assert_eq!(a.uid, b.uid, "{name}");
            // The one normalisation: DTSTAMP is required in output, so a component without one
            // is written with the revision's issue time.
            let mut want = a.content.clone();
            for c in std::iter::once(&mut want.master).chain(want.overrides.iter_mut()) {
                c.dtstamp.get_or_insert(issued());
            }
            assert_eq!(want, b.content, "{name}: {}", a.uid);
        }
        // Writing is deterministic: the second rendering is byte-identical.
        assert_eq!(written, render(&second), "{name}");
    }
}

#[test]
fn every_export_survives_signing_and_the_wire() {
    let secret = origin();
    for (name, text) in corpus() {
        for ev in import(&name, &text, &secret.public()) {
            let signed = sign(
                &secret,
                ev.uid.clone(),
                3,
                1_790_000_000_000,
                ev.content.clone(),
                &Limits::default(),
            )
            .unwrap_or_else(|e| panic!("{name} {}: {e}", ev.uid));
            let bytes = signed.envelope().encode();
            let back = Envelope::decode(&bytes)
                .unwrap()
                .verify(1_790_000_000_000, &Limits::default())
                .unwrap();
            assert_eq!(back.payload().content, ev.content, "{name}");
            assert_eq!(back.payload().uid, ev.uid);
            assert_eq!(back.id(), signed.id());
        }
    }
}

fn find<'a>(evs: &'a [ImportedEvent], uid_part: &str) -> &'a ImportedEvent {
    evs.iter()
        .find(|e| e.uid.contains(uid_part))
        .unwrap_or_else(|| panic!("no event with {uid_part}"))
}

fn text(name: &str) -> String {
    corpus().into_iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn google_recurring_event_with_override_and_exdate() {
    let evs = import("google", &text("google.ics"), &origin().public());
    assert_eq!(evs.len(), 2);
    let lug = find(&evs, "4kq1c3fs");
    assert_eq!(
        lug.content.master.rrule.as_deref(),
        Some("FREQ=WEEKLY;BYDAY=MO")
    );
    assert_eq!(lug.content.overrides.len(), 1);
    assert_eq!(
        lug.content.master.location.as_deref(),
        Some("c-base, Rungestraße 20, 10179 Berlin, Germany"),
        "escaped commas are unescaped"
    );
    assert!(lug
        .content
        .master
        .description
        .as_deref()
        .unwrap()
        .contains("installieren Debian.\n\nMehr:"));
    // Unknown properties survive, escaped as they were.
    assert!(lug.content.master.extra.iter().any(|p| p.name == "TRANSP"));
    assert!(lug
        .content
        .master
        .extra
        .iter()
        .any(|p| p.name == "LAST-MODIFIED"));
    let clt = find(&evs, "0b7plm2hf8");
    assert!(clt.content.master.start.is_date());
    assert!(matches!(
        clt.content.master.end,
        Some(End::At(DateTimeValue::Date(_)))
    ));
}

#[test]
fn outlook_windows_zones_are_mapped_to_iana() {
    let evs = import("outlook", &text("outlook.ics"), &origin().public());
    let q = find(&evs, "D0A1B2C3");
    assert_eq!(q.content.master.start.tzid(), Some("Europe/Berlin"));
    assert_eq!(q.content.master.exdates[0].tzid(), Some("Europe/Berlin"));
    let org = q.content.master.organizer.as_ref().unwrap();
    assert_eq!(org.common_name.as_deref(), Some("Doe, Jane"));
    assert_eq!(org.address, "mailto:jane.doe@example.org");
    let board = find(&evs, "F1F2F3F4");
    assert_eq!(board.content.master.start.tzid(), Some("America/New_York"));
    assert_eq!(board.content.master.status, Some(Status::Tentative));
    assert!(board
        .content
        .master
        .extra
        .iter()
        .any(|p| p.name == "X-MICROSOFT-CDO-BUSYSTATUS" && p.value == "TENTATIVE"));
}

#[test]
fn nextcloud_vendor_zones_categories_rdate_duration() {
    let evs = import("nextcloud", &text("nextcloud.ics"), &origin().public());
    let hack = find(&evs, "a1b2c3d4");
    let m = &hack.content.master;
    assert_eq!(m.start.tzid(), Some("Europe/Vienna"));
    assert_eq!(m.categories, vec!["hackerspace", "open day", "wien"]);
    assert_eq!(m.exdates.len(), 2);
    assert_eq!(m.rdates.len(), 1);
    assert!(matches!(m.end, Some(End::Duration(d)) if d.seconds == 9000));
    let fest = find(&evs, "b1b2c3d4");
    // A custom TZID resolved through X-LIC-LOCATION.
    assert_eq!(fest.content.master.start.tzid(), Some("Europe/Vienna"));
}

#[test]
fn meetup_and_gancio_geo_status_and_uid_repair() {
    let key = origin().public();
    let meetup = import("meetup", &text("meetup.ics"), &key);
    let night = find(&meetup, "301234567");
    assert_eq!(night.content.master.geo.unwrap().lat, 52.52);
    assert!(night
        .content
        .master
        .description
        .as_deref()
        .unwrap()
        .contains("<3"));
    assert!(find(&meetup, "301234999").content.is_cancelled());

    let gancio = import("gancio", &text("gancio.ics"), &key);
    assert_eq!(gancio.len(), 3);
    let repaired: Vec<_> = gancio.iter().filter(|e| e.uid_generated).collect();
    assert_eq!(repaired.len(), 1, "the event without UID gets one");
    assert!(
        repaired[0].uid.ends_with(&format!("@{key}")),
        "{}",
        repaired[0].uid
    );
    // Re-importing gives the same generated UID, so a re-import does not duplicate the event.
    let again = import("gancio", &text("gancio.ics"), &key);
    assert_eq!(
        again.iter().find(|e| e.uid_generated).unwrap().uid,
        repaired[0].uid
    );
    assert_eq!(
        find(&gancio, "jdfK3Lq9").content.master.categories,
        vec!["linux", "free software", "install party"]
    );
}

#[test]
fn apple_floating_times_and_structured_location_survive() {
    let evs = import("apple", &text("apple.ics"), &origin().public());
    let ws = find(&evs, "F1E2D3C4");
    assert!(matches!(
        ws.content.master.start,
        DateTimeValue::Floating(_)
    ));
    assert!(ws
        .content
        .master
        .summary
        .as_deref()
        .unwrap()
        .ends_with('🦀'));
    let rust = find(&evs, "6D1B2C3A");
    let loc = rust
        .content
        .master
        .extra
        .iter()
        .find(|p| p.name == "X-APPLE-STRUCTURED-LOCATION")
        .unwrap();
    assert_eq!(loc.value, "geo:40.691,-73.985");
    assert!(loc
        .params
        .iter()
        .any(|p| p.name == "X-ADDRESS" && p.value.contains("Brooklyn")));
}

#[test]
fn bad_documents_get_clear_errors() {
    let key = origin().public();
    let l = Limits::default();
    let err = ics::parse_calendar("hello world", &key, &l).unwrap_err();
    assert!(err.to_string().contains("iCalendar"), "{err}");
    assert!(matches!(
        ics::parse_calendar(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
            &key,
            &l
        ),
        Err(ics::IcsError::NoEvents)
    ));
    let one = |body: &str| {
        let doc = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x1\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let imp = ics::parse_calendar(&doc, &key, &l).unwrap();
        assert!(imp.events.is_empty(), "{body}");
        imp.errors[0].to_string()
    };
    assert!(one("SUMMARY:x\r\n").contains("missing DTSTART"));
    assert!(one("DTSTART:20260231T100000Z\r\n").contains("DTSTART"));
    assert!(one("DTSTART;TZID=Mars/Base:20260101T100000\r\n").contains("Mars/Base"));
    assert!(one("DTSTART:20260101T100000Z\r\nRRULE:FREQ=SECONDLY\r\n").contains("SECONDLY"));
    assert!(one("DTSTART:20260101T100000Z\r\nRRULE:FREQ=FORTNIGHTLY\r\n").contains("RRULE"));
    // A detail the event can do without is dropped with a warning, not the event.
    let warned = |body: &str| {
        let doc = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x1\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let imp = ics::parse_calendar(&doc, &key, &l).unwrap();
        assert!(imp.errors.is_empty(), "{body}: {:?}", imp.errors);
        imp.events[0].warnings.join("; ")
    };
    assert!(
        warned("DTSTART:20260101T100000Z\r\nDTEND:20251231T100000Z\r\n").contains("before DTSTART")
    );
    assert!(warned("DTSTART:20260101T100000Z\r\nGEO:91;0\r\n").contains("GEO"));
    assert!(warned("DTSTART:20260101T100000Z\r\nSEQUENCE:-1\r\n").contains("SEQUENCE"));
}
