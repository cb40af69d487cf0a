//! Event pages in the shapes sites publish them (issue 20): JSON-LD from WordPress "The
//! Events Calendar" and Mobilizon, a schema.org `@graph`, microdata, RDFa Lite, microformats2
//! h-event and an `eventSchedule`; each read into the right event with its place, geo and time zone.

use discal_node::sources::page::{read_page, read_page_on};
use discal_protocol::model::{DateTimeValue, End, Status};
use discal_protocol::{Limits, NodeSecret, Tz};

fn page(name: &str, url: &str, tz: Option<&str>) -> discal_node::sources::page::PageEvents {
    let path = format!("{}/tests/fixtures/pages/{name}", env!("CARGO_MANIFEST_DIR"));
    let html = std::fs::read_to_string(&path).unwrap();
    let key = NodeSecret::from_seed_array([5; 32]).public();
    read_page(
        &html,
        url,
        tz.map(|z| z.parse::<Tz>().unwrap()),
        &key,
        &Limits::default(),
    )
}

fn zoned(v: &DateTimeValue) -> (String, String) {
    match v {
        DateTimeValue::Zoned { local, tzid } => (
            local
                .to_chrono()
                .unwrap()
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            tzid.clone(),
        ),
        DateTimeValue::Utc(t) => (
            t.to_chrono().unwrap().format("%Y-%m-%dT%H:%MZ").to_string(),
            "UTC".into(),
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_events_calendar_json_ld() {
    let p = page(
        "tec-jsonld.html",
        "https://lug.example.org/event/linux-install-party/",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.notes);
    let e = &p.reading.events[0];
    let m = &e.content.master;
    assert_eq!(e.uid, "https://lug.example.org/event/linux-install-party/");
    assert_eq!(m.summary.as_deref(), Some("Linux-Install-Party"));
    assert_eq!(
        m.description.as_deref(),
        Some("Bring your laptop; we help you install a free system.")
    );
    assert_eq!(
        zoned(&m.start),
        ("2027-02-12T19:00".into(), "Europe/Berlin".into())
    );
    assert_eq!(
        m.location.as_deref(),
        Some("c-base, Rungestraße 20, 10179 Berlin, Deutschland")
    );
    let g = m.geo.unwrap();
    assert!((g.lat - 52.513).abs() < 1e-6 && (g.lon - 13.4201).abs() < 1e-6);
    let o = m.organizer.as_ref().unwrap();
    assert_eq!(o.address, "mailto:lug@example.org");
    assert_eq!(o.common_name.as_deref(), Some("LUG Berlin"));
    assert!(
        p.reading
            .notes
            .iter()
            .any(|n| n.contains("not mapped: offers, performer")),
        "{:?}",
        p.reading.notes
    );
}

#[test]
fn mobilizon_json_ld_with_two_locations_and_a_language() {
    let p = page(
        "mobilizon-jsonld.html",
        "https://mobilizon.example.fr/events/6c3fe0b4",
        None,
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.notes);
    let e = &p.reading.events[0];
    let m = &e.content.master;
    assert_eq!(
        e.uid,
        "https://mobilizon.example.fr/events/6c3fe0b4-2c0f-4e5a-9a3a-0f4b3e0b2f11"
    );
    assert_eq!(zoned(&m.start), ("2027-03-06T14:00Z".into(), "UTC".into()));
    assert!(m
        .location
        .as_deref()
        .unwrap()
        .starts_with("La Quadrature, 60 rue des Orteaux, 75020 Paris"));
    assert!(m.geo.is_some());
    assert_eq!(m.language(), Some("fr"));
    assert_eq!(
        m.organizer.as_ref().unwrap().address,
        "https://mobilizon.example.fr/@rustparis"
    );
}

#[test]
fn a_graph_with_a_cancelled_event_and_local_times() {
    let p = page(
        "graph-cancelled.html",
        "https://hackspace.example.net/events/hack-night?ref=x",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.notes);
    let m = &p.reading.events[0].content.master;
    assert_eq!(
        p.reading.events[0].uid,
        "https://hackspace.example.net/events/hack-night"
    );
    assert_eq!(m.status, Some(Status::Cancelled));
    assert_eq!(
        zoned(&m.start),
        ("2027-04-01T19:00".into(), "Europe/Berlin".into())
    );
    assert_eq!(
        m.location.as_deref(),
        Some("Hackspace, Hauptstraße 1, 70173 Stuttgart")
    );
    // Without a zone for the source, a local time stays floating, and the notes say so.
    let p = page(
        "graph-cancelled.html",
        "https://hackspace.example.net/events/hack-night",
        None,
    );
    assert!(matches!(
        p.reading.events[0].content.master.start,
        DateTimeValue::Floating(_)
    ));
    assert!(
        p.reading.notes.iter().any(|n| n.contains("kept floating")),
        "{:?}",
        p.reading.notes
    );
}

#[test]
fn microdata() {
    let p = page(
        "microdata.html",
        "https://meetup.example.com/pug/events/2027-02-20?x=1",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.notes);
    let e = &p.reading.events[0];
    let m = &e.content.master;
    assert_eq!(e.uid, "https://meetup.example.com/pug/events/2027-02-20");
    assert_eq!(
        m.summary.as_deref(),
        Some("Python Usergroup: Typing in practice")
    );
    assert_eq!(
        zoned(&m.start),
        ("2027-02-20T18:30".into(), "Europe/Berlin".into())
    );
    assert!(matches!(&m.end, Some(End::At(v)) if zoned(v).0 == "2027-02-20T21:00"));
    assert_eq!(
        m.location.as_deref(),
        Some("Impact Hub, Gotzinger Str. 8, 81371 München")
    );
    let g = m.geo.unwrap();
    assert!((g.lat - 48.1206).abs() < 1e-6 && (g.lon - 11.5447).abs() < 1e-6);
    assert_eq!(
        m.description.as_deref(),
        Some("Talks and discussion about type hints.")
    );
    assert_eq!(
        m.organizer.as_ref().unwrap().common_name.as_deref(),
        Some("PUG München")
    );
}

/// RDFa Lite as Drupal's schema.org modules write it: `vocab` on a container, dates in
/// `content`, nested `Place`, `PostalAddress` and `GeoCoordinates`, the subject named by
/// `about`; and one item with `schema:`-prefixed names. Markup the page holds for other
/// vocabularies (Open Graph's `property="og:title"`) makes no event.
#[test]
fn rdfa() {
    let p = page(
        "rdfa.html",
        "https://freifunk.example.org/termine",
        Some("Europe/Berlin"),
    );
    let names: Vec<&str> = p
        .reading
        .events
        .iter()
        .filter_map(|e| e.content.master.summary.as_deref())
        .collect();
    assert_eq!(
        names,
        [
            "Freifunk-Treffen im Januar",
            "Workshop: Mesh-Netze & Richtfunk",
            "Chaos-Frühstück"
        ],
        "{:?}",
        p.reading
    );
    let e = &p.reading.events[0];
    let m = &e.content.master;
    assert_eq!(
        e.uid,
        "https://freifunk.example.org/termine/freifunk-treffen-januar"
    );
    assert_eq!(
        zoned(&m.start),
        ("2027-01-14T19:00".into(), "Europe/Berlin".into())
    );
    assert!(matches!(&m.end, Some(End::At(v)) if zoned(v).0 == "2027-01-14T22:00"));
    assert_eq!(
        m.location.as_deref(),
        Some("Digitalwerkstatt, Hafenstraße 3, 24103 Kiel")
    );
    let g = m.geo.unwrap();
    assert!((g.lat - 54.3233).abs() < 1e-6 && (g.lon - 10.1394).abs() < 1e-6);
    assert_eq!(
        m.description.as_deref(),
        Some("Wir flashen Router und planen den Ausbau am Hafen.")
    );
    assert_eq!(
        m.organizer.as_ref().unwrap().common_name.as_deref(),
        Some("Freifunk Kiel")
    );
    let cancelled = &p.reading.events[1];
    assert_eq!(
        cancelled.uid,
        "https://freifunk.example.org/termine/workshop-mesh"
    );
    assert_eq!(cancelled.content.master.status, Some(Status::Cancelled));
    let prefixed = &p.reading.events[2].content.master;
    assert_eq!(prefixed.location.as_deref(), Some("Café Mittendrin, Kiel"));
    assert!(matches!(
        &prefixed.start,
        DateTimeValue::Zoned { .. } | DateTimeValue::Utc(_)
    ));
}

#[test]
fn h_event() {
    let p = page(
        "h-event.html",
        "https://repair.example.org/2027/03/repair-cafe",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.notes);
    let m = &p.reading.events[0].content.master;
    assert_eq!(m.summary.as_deref(), Some("Repair café"));
    assert_eq!(
        zoned(&m.start),
        ("2027-03-13T14:00".into(), "Europe/Berlin".into())
    );
    assert!(
        matches!(&m.end, Some(End::At(v)) if zoned(v).0 == "2027-03-13T18:00"),
        "{:?}",
        m.end
    );
    assert_eq!(
        m.location.as_deref(),
        Some("Stadtteilzentrum, Lindenstraße 5, 28195 Bremen")
    );
    let g = m.geo.unwrap();
    assert!((g.lat - 53.0793).abs() < 1e-6 && (g.lon - 8.8017).abs() < 1e-6);
    assert_eq!(
        m.categories,
        vec!["repair".to_string(), "sustainability".into()]
    );
    assert_eq!(
        m.url.as_deref(),
        Some("https://repair.example.org/2027/03/repair-cafe")
    );
}

#[test]
fn an_event_schedule_becomes_a_rule() {
    let p = page(
        "schedule.html",
        "https://club.example.org/chess",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.notes);
    let m = &p.reading.events[0].content.master;
    assert_eq!(
        m.rrule.as_deref(),
        Some("FREQ=WEEKLY;BYDAY=TU;UNTIL=20270629T235959Z")
    );
    assert_eq!(
        zoned(&m.start),
        ("2027-01-05T18:00".into(), "Europe/Berlin".into())
    );
    assert_eq!(m.categories, vec!["chess".to_string(), "games".into()]);
}

#[test]
fn a_monthly_schedule_without_a_first_day_starts_at_its_next_occurrence() {
    // "First and third Thursday, 19:00 to 22:00, not on 7 January": no startDate anywhere, as
    // schema.org's own examples and many group pages write it.
    let path = format!(
        "{}/tests/fixtures/pages/monthly-meetup.html",
        env!("CARGO_MANIFEST_DIR")
    );
    let html = std::fs::read_to_string(path).unwrap();
    let key = NodeSecret::from_seed_array([5; 32]).public();
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    let p = read_page_on(
        &html,
        "https://lug.example.org/stammtisch",
        None,
        &key,
        &Limits::default(),
        today,
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.refused);
    let m = &p.reading.events[0].content.master;
    assert_eq!(m.rrule.as_deref(), Some("FREQ=MONTHLY;BYDAY=1TH,3TH"));
    // 3 December has passed; 17 December is the third Thursday.
    assert_eq!(
        zoned(&m.start),
        ("2026-12-17T19:00".into(), "Europe/Berlin".into())
    );
    assert_eq!(
        m.end,
        Some(End::Duration(discal_protocol::model::Duration {
            negative: false,
            weeks: 0,
            days: 0,
            seconds: 3 * 3600,
        }))
    );
    assert_eq!(m.exdates.len(), 1);
    assert_eq!(
        zoned(&m.exdates[0]),
        ("2027-01-07T19:00".into(), "Europe/Berlin".into())
    );
    assert!(
        p.reading
            .notes
            .iter()
            .any(|n| n.contains("placed from 2026-12-06")),
        "{:?}",
        p.reading.notes
    );
    // Two classes of one name on two schedules, neither with a start date, are two events.
    let two = r#"<script type="application/ld+json">[
        {"@type": "Event", "name": "Yoga", "url": "https://studio.example/yoga-mon",
         "eventSchedule": {"byDay": "Monday", "startTime": "18:00", "scheduleTimezone": "Europe/Berlin"}},
        {"@type": "Event", "name": "Yoga", "url": "https://studio.example/yoga-thu",
         "eventSchedule": {"byDay": "Thursday", "startTime": "09:00", "scheduleTimezone": "Europe/Berlin"}}
    ]</script>"#;
    let p = read_page_on(
        two,
        "https://studio.example/",
        None,
        &key,
        &Limits::default(),
        today,
    );
    let starts: Vec<_> = p
        .reading
        .events
        .iter()
        .map(|e| zoned(&e.content.master.start).0)
        .collect();
    assert_eq!(
        starts,
        ["2026-12-07T18:00", "2026-12-10T09:00"],
        "{:?}",
        p.reading.refused
    );
}

#[test]
fn classic_hcalendar() {
    let p = page(
        "hcalendar.html",
        "https://lug.example.org/events",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 2, "{:?}", p.reading.refused);
    let party = &p.reading.events[0].content.master;
    assert_eq!(party.summary.as_deref(), Some("Install party"));
    assert_eq!(
        zoned(&party.start),
        ("2027-02-13T14:00".into(), "Europe/Berlin".into())
    );
    assert_eq!(
        party.url.as_deref(),
        Some("https://lug.example.org/events/install-party")
    );
    assert_eq!(
        party.location.as_deref(),
        Some("Stadtbibliothek, Marktplatz 1, 12345 Nordstadt")
    );
    let geo = party.geo.as_ref().expect("the vcard's geo");
    assert!((geo.lat - 52.52).abs() < 1e-9 && (geo.lon - 13.405).abs() < 1e-9);
    assert_eq!(
        party.description.as_deref(),
        Some("Bring your laptop & a USB stick.")
    );
    assert_eq!(
        party.categories,
        vec!["install".to_string(), "linux".into()]
    );
    // 12-hour value-class times; an end with a time alone is on the start's day.
    let stammtisch = &p.reading.events[1].content.master;
    assert_eq!(
        zoned(&stammtisch.start),
        ("2027-03-04T19:30".into(), "Europe/Berlin".into())
    );
    match &stammtisch.end {
        Some(End::At(e)) => assert_eq!(
            zoned(e),
            ("2027-03-04T22:00".into(), "Europe/Berlin".into())
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(stammtisch.location.as_deref(), Some("Café Linux"));
}

#[test]
fn pages_nested_without_end_are_read_to_a_depth() {
    // html5ever's tree builder costs a page's length times its depth: 100,000 nested h-events
    // took 45 s of CPU, and places nested in places overflowed the stack. Both are now read to
    // the nesting cap, with the event before the deep part kept.
    let key = NodeSecret::from_seed_array([5; 32]).public();
    let l = Limits::default();
    let first = "<div class=h-event><span class=p-name>Kept</span><time class=dt-start datetime=2027-01-01>x</time></div>";
    let events = format!(
        "{first}{}",
        "<div class=\"h-event\"><span class=\"p-name\">x</span>".repeat(100_000)
    );
    let cards = format!(
        "<div class=h-event><span class=p-name>Deep place</span><time class=dt-start datetime=2027-01-01>x</time>{}",
        "<div class=\"p-location h-card\"><span class=p-name>Hall</span>".repeat(100_000)
    );
    for (html, name) in [(events, "Kept"), (cards, "Deep place")] {
        let p = read_page(&html, "https://x.example/", None, &key, &l);
        assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading.refused);
        assert_eq!(
            p.reading.events[0].content.master.summary.as_deref(),
            Some(name)
        );
        assert!(
            p.reading
                .notes
                .iter()
                .any(|n| n.contains("deeper than 256")),
            "{:?}",
            p.reading.notes
        );
    }
}

#[test]
fn hostile_pages_cost_little_and_say_why() {
    let key = NodeSecret::from_seed_array([5; 32]).public();
    let l = Limits::default();
    // Deep nesting, broken JSON, a script-laden name.
    let deep = format!(
        "<script type=\"application/ld+json\">{}{}</script>",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let p = read_page(&deep, "https://x.example/", None, &key, &l);
    assert!(p.reading.events.is_empty());
    let broken = "<script type=\"application/ld+json\">{\"@type\":\"Event\",</script>";
    let p = read_page(broken, "https://x.example/", None, &key, &l);
    assert!(
        p.reading.notes[0].contains("not JSON"),
        "{:?}",
        p.reading.notes
    );
    let evil = r#"<script type="application/ld+json">{"@type":"Event","name":"<img src=x onerror=alert(1)>Hi<\/script>\r\nATTENDEE:x","startDate":"2027-01-01"}</script>"#;
    let p = read_page(evil, "https://x.example/", None, &key, &l);
    let m = &p.reading.events[0].content.master;
    assert!(
        !m.summary.as_deref().unwrap().contains('<'),
        "{:?}",
        m.summary
    );
    assert!(m.extra.iter().all(|x| x.name != "ATTENDEE"));
}

#[test]
fn eventbrite_and_meetup_shapes() {
    let p = page(
        "eventbrite-jsonld.html",
        "https://www.eventbrite.example/e/812345678901",
        Some("America/New_York"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading);
    let m = &p.reading.events[0].content.master;
    assert_eq!(
        zoned(&m.start),
        ("2027-03-04T18:30".into(), "America/New_York".into())
    );
    assert!(m
        .location
        .as_deref()
        .unwrap()
        .contains("10 Grand Army Plaza, 11238 Brooklyn, NY, US"));
    assert!(p
        .reading
        .notes
        .iter()
        .any(|n| n.contains("not mapped: offers")));
    // Meetup's JSON-LD: an array with an Organization first, a raw line break inside a
    // string and a trailing comma; a browser's JSON.parse refuses it, sites still ship it.
    let p = page(
        "meetup-jsonld.html",
        "https://www.meetup.example/rust-hamburg/events/301234567/",
        Some("Europe/Berlin"),
    );
    assert_eq!(p.reading.events.len(), 1, "{:?}", p.reading);
    let m = &p.reading.events[0].content.master;
    assert_eq!(
        m.summary.as_deref(),
        Some("Rust Meetup Hamburg: Async in Practice")
    );
    assert_eq!(
        zoned(&m.start),
        ("2027-02-17T19:00".into(), "Europe/Berlin".into())
    );
    assert_eq!(
        m.description.as_deref(),
        Some("Two talks about async Rust,\nthen pizza.")
    );
    assert!(m.geo.is_some());
}
