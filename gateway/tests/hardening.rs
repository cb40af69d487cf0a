//! The gateway's side of the hardening review (issue 17): each attack that was reproduced
//! against a running node, replayed here with its input (tests/data/attacks/) and the bound
//! that now holds. Each fails on the code before the fix.

mod common;

use axum::http::StatusCode;
use common::*;
use discal_protocol::ics::parse_calendar;
use discal_protocol::sign;
use discal_store::{Store, Transit};

/// An endless event of origin A, with a description of `desc_bytes`.
fn endless(store: &Store, uid: &str, start: &str, rule: &str, desc_bytes: usize) {
    let a = secret(1);
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTART:{start}\r\nDURATION:PT1H\r\nRRULE:{rule}\r\nSUMMARY:endless\r\n\
         DESCRIPTION:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "x".repeat(desc_bytes)
    );
    let import = parse_calendar(&ics, &a.public(), &generous()).unwrap();
    let ev = &import.events[0];
    let signed = sign(
        &a,
        ev.uid.clone(),
        0,
        ISSUED,
        ev.content.clone(),
        &generous(),
    )
    .unwrap();
    store.apply(&signed, Transit::local(), ISSUED).unwrap();
}

fn attack(name: &str) -> String {
    let path = format!("{}/tests/data/attacks/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap()
}

fn href(uid: &str) -> String {
    format!(
        "/dav/calendars/all/{}",
        discal_gateway::dav::item_name(&secret(1).public(), uid)
    )
}

fn multiget(uid: &str, count: usize, start: &str, end: &str) -> String {
    let hrefs = format!("<D:href>{}</D:href>", href(uid)).repeat(count);
    attack("expand_multiget.xml")
        .replace("{HREFS}", &hrefs)
        .replace("{START}", start)
        .replace("{END}", end)
}

/// Item 1: a 5.6 KB multiget naming one endless weekly event 100 times with an expand over
/// 300 years answered 1.1 GB. Now the window is refused (C:max-date-time), an href named
/// twice is answered once, and a report that would make more than the byte budget is 507.
#[tokio::test]
async fn caldav_expand_is_bounded() {
    let store = Store::memory();
    fill(&store, 0);
    endless(
        &store,
        "weekly@attack",
        "20200106T190000Z",
        "FREQ=WEEKLY",
        4000,
    );
    let gw = gateway(store, "https://cal.example.org");
    let app = discal_gateway::router(gw.clone());
    let depth = [("Depth", "1")];

    let body = multiget("weekly@attack", 100, "19000101T000000Z", "22000101T000000Z");
    let r = dav(&app, "REPORT", "/dav/calendars/all/", &depth, &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("max-date-time"), "{}", r.body);

    // A year is answered, once for the hundred hrefs.
    let body = multiget("weekly@attack", 100, "20270101T000000Z", "20280101T000000Z");
    let r = dav(&app, "REPORT", "/dav/calendars/all/", &depth, &body).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert_eq!(r.body.matches("<D:response>").count(), 1);
    assert_eq!(r.body.matches("BEGIN:VEVENT").count(), 52);

    // Hourly events with 8 KB descriptions: a year's expansion of each is ~70 MB of answer.
    for i in 0..3 {
        let uid = format!("hourly-{i}@attack");
        endless(&gw.store, &uid, "20261201T000000Z", "FREQ=HOURLY", 8000);
    }
    let body = attack("expand_query.xml")
        .replace("{START}", "20270101T000000Z")
        .replace("{END}", "20280101T000000Z");
    let r = dav(&app, "REPORT", "/dav/calendars/all/", &depth, &body).await;
    assert_eq!(r.status, StatusCode::INSUFFICIENT_STORAGE);
    assert!(
        r.body.contains("number-of-matches-within-limits"),
        "{}",
        r.body
    );
    assert!(r.body.len() < 4096);
    // An event whose year has more instances than one expansion may make (twice an hour)
    // is refused the same way rather than answered cut short.
    endless(
        &gw.store,
        "minutely@attack",
        "20261201T000000Z",
        "FREQ=HOURLY;BYMINUTE=0,30",
        10,
    );
    let body = multiget("minutely@attack", 1, "20270101T000000Z", "20280101T000000Z");
    let r = dav(&app, "REPORT", "/dav/calendars/all/", &depth, &body).await;
    assert_eq!(
        r.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        r.body.len()
    );
}

/// Item 2: `/feed.ics?to=2200-01-01&q=a` (no `from`) started the window in 1970, and a
/// CalDAV time-range with one end defaulted to 1900..2200. Every window is now at most
/// MAX_DAYS long, within 1900..2199.
#[tokio::test]
async fn open_ended_windows_are_bounded() {
    let store = Store::memory();
    fill(&store, 50);
    let app = discal_gateway::router(gateway(store, "https://cal.example.org"));
    let r = dav(&app, "GET", "/feed.ics?to=2200-01-01&q=a", &[], "").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("1900 to 2199"), "{}", r.body);
    // The latest allowed end reaches back ten years: none of the 2026–27 events.
    let r = dav(&app, "GET", "/feed.ics?to=2199-12-31", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.matches("BEGIN:VEVENT").count(), 0, "{}", r.body);
    // Unchanged for a window that holds them.
    let r = dav(&app, "GET", "/feed.ics?to=2027-12-31", &[], "").await;
    assert!(r.body.matches("BEGIN:VEVENT").count() > 10);

    let depth = [("Depth", "1")];
    for (end, want_any) in [
        (r#"end="21991231T000000Z""#, false),
        (r#"start="19000101T000000Z""#, false),
        (r#"start="20260101T000000Z""#, true),
    ] {
        let body = attack("open_time_range.xml").replace("{END}", end);
        let r = dav(&app, "REPORT", "/dav/calendars/all/", &depth, &body).await;
        assert_eq!(r.status, StatusCode::MULTI_STATUS, "{end}: {}", r.body);
        assert_eq!(r.body.contains("<D:response>"), want_any, "{end}");
    }
}

/// Item 3: 95,000 attributes on one element cost 9–10 s of CPU in the XML parser. Refused
/// before parsing, as a 400 naming the limit.
#[tokio::test]
async fn xml_attribute_floods_are_refused() {
    let store = Store::memory();
    fill(&store, 0);
    let app = discal_gateway::router(gateway(store, "https://cal.example.org"));
    let attrs: String = (0..95_000).map(|i| format!(" a{i}=\"x\"")).collect();
    let body = format!(r#"<D:propfind xmlns:D="DAV:"{attrs}/>"#);
    let r = dav(&app, "PROPFIND", "/dav/", &[("Depth", "0")], &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("too many attributes"), "{}", r.body);
}

/// A CalDAV body over the gateway's limit (other than a PUT's calendar object, which has its
/// own `max-resource-size`) is answered 413 as on every other route, whether it says its length
/// or not, and before the XML is looked at.
#[tokio::test]
async fn dav_bodies_over_the_limit_get_413() {
    let store = Store::memory();
    fill(&store, 0);
    let app = discal_gateway::router(gateway(store, "https://cal.example.org"));
    let nested = "<D:prop>".repeat(150_000);
    let body = format!(r#"<D:propfind xmlns:D="DAV:">{nested}</D:propfind>"#);
    assert!(body.len() > discal_gateway::MAX_BODY_BYTES);
    let r = dav(&app, "PROPFIND", "/dav/", &[("Depth", "0")], &body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    assert!(r.body.contains("at most 1048576 bytes"), "{}", r.body);
    let declared = (discal_gateway::MAX_BODY_BYTES + 1).to_string();
    let r = dav(
        &app,
        "REPORT",
        "/dav/calendars/all/",
        &[("Depth", "1"), ("Content-Length", declared.as_str())],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
    // Under the limit, the same kind of body is read and refused for what it is.
    let nested = "<D:prop>".repeat(100);
    let body = format!(r#"<D:propfind xmlns:D="DAV:">{nested}</D:propfind>"#);
    let r = dav(&app, "PROPFIND", "/dav/", &[("Depth", "0")], &body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

/// U+FFFE and U+FFFF, which XML 1.0 cannot carry even escaped, in a peer's event (its rules
/// refuse control characters, not these): the Atom and RSS feeds and CalDAV's answers drop
/// them, so one event cannot make a whole feed or a calendar app's sync unreadable.
#[tokio::test]
async fn noncharacters_in_a_peers_event_leave_every_xml_answer_well_formed() {
    let store = Store::memory();
    let a = secret(1);
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:nonchar@x\r\n\
               DTSTART:20260105T190000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\n\
               SUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let mut ev = parse_calendar(ics, &a.public(), &generous())
        .unwrap()
        .events
        .remove(0);
    let m = &mut ev.content.master;
    m.summary = Some("Quiz\u{fffe} night\u{ffff}".into());
    m.description = Some("Bring\u{ffff} a pen".into());
    m.location = Some("Caf\u{fffe}é".into());
    m.categories = vec!["trivia\u{fffe}".into()];
    let signed = sign(&a, ev.uid, 0, ISSUED, ev.content, &generous()).unwrap();
    store.apply(&signed, Transit::local(), ISSUED).unwrap();
    let app = discal_gateway::router(gateway(store, "https://cal.example.org"));
    let query = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#;
    let all = r#"<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#;
    for (method, uri, body) in [
        ("GET", "/feed.atom", ""),
        ("GET", "/feed.rss", ""),
        ("REPORT", "/dav/calendars/all/", query),
        ("PROPFIND", "/dav/calendars/all/", all),
    ] {
        let r = dav(&app, method, uri, &[("Depth", "1")], body).await;
        assert!(r.status.is_success(), "{uri}: {}", r.status);
        assert!(
            !r.body.contains(['\u{fffe}', '\u{ffff}']),
            "{method} {uri}: {}",
            r.body
        );
        if method != "PROPFIND" {
            assert!(r.body.contains("Quiz night"), "{method} {uri}: {}", r.body);
        }
        let mut reader = quick_xml::Reader::from_str(&r.body);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{method} {uri}: {e}"),
            }
        }
    }
}

/// Item 16: a calendar app's GET of a whole collection was rendered anew every time. It is
/// now served from the cache like `/feed.ics`: ETag, 304, and one render per store change.
#[tokio::test]
async fn a_collection_read_whole_is_cached() {
    let store = Store::memory();
    fill(&store, 20);
    let gw = gateway(store, "https://cal.example.org");
    let app = discal_gateway::router(gw.clone());
    let first = dav(&app, "GET", "/dav/calendars/all/", &[], "").await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    let again = dav(
        &app,
        "GET",
        "/dav/calendars/all/",
        &[("If-None-Match", &etag)],
        "",
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let plain = dav(&app, "GET", "/dav/calendars/all/", &[], "").await;
    assert_eq!(plain.body, first.body);
}

/// Item 4 (expensive requests): while every turn for expensive requests is taken, the next
/// one waits and is then answered 503 with Retry-After, instead of queueing without bound.
#[tokio::test(start_paused = true)]
async fn expensive_requests_wait_their_turn_then_get_503() {
    let store = Store::memory();
    fill(&store, 0);
    let gw = gateway(store, "https://cal.example.org");
    let app = discal_gateway::router(gw.clone());
    let all = gw
        .heavy
        .clone()
        .acquire_many_owned(discal_gateway::HEAVY_REQUESTS as u32)
        .await
        .unwrap();
    let body = attack("open_time_range.xml").replace("{END}", r#"start="20260101T000000Z""#);
    let r = dav(
        &app,
        "REPORT",
        "/dav/calendars/all/",
        &[("Depth", "1")],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    drop(all);
    let r = dav(
        &app,
        "REPORT",
        "/dav/calendars/all/",
        &[("Depth", "1")],
        &body,
    )
    .await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
}

/// Item 9: two origins with one UID gave two VEVENTs with that UID in `/feed.ics`, and a
/// calendar app merges components by UID, so a hostile origin could shadow another's event.
/// Now no feed or collection carries one UID twice: while two origins share a UID, each is
/// written as `{origin}~{uid}` (and its CalDAV ETag changes with it).
#[tokio::test]
async fn no_origin_shadows_another_by_uid() {
    let store = Store::memory();
    fill(&store, 0);
    let gw = gateway(store, "https://cal.example.org");
    let app = discal_gateway::router(gw.clone());
    // The UID of each event (its first component: overrides repeat it), lines unfolded.
    let uids = |ics: &str| -> Vec<String> {
        let mut out: Vec<String> = ics
            .replace("\r\n ", "")
            .lines()
            .filter_map(|l| l.strip_prefix("UID:"))
            .map(|u| u.trim().to_owned())
            .collect();
        out.dedup();
        out
    };
    let before = dav(&app, "GET", "/feed.ics", &[], "").await.body;
    assert!(uids(&before).contains(&"hamburg-oneoff@example.org".to_owned()));
    let victim = href("hamburg-oneoff@example.org");
    let etag_before = dav(&app, "GET", &victim, &[], "").await.headers["etag"].clone();

    // Origin B publishes an event under A's UID.
    let b = secret(2);
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\n\
               UID:hamburg-oneoff@example.org\r\nDTSTART:20261203T170000Z\r\nDURATION:PT1H\r\n\
               SUMMARY:Cancelled! Go home.\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let import = parse_calendar(ics, &b.public(), &generous()).unwrap();
    let ev = &import.events[0];
    let forged = sign(
        &b,
        ev.uid.clone(),
        9,
        ISSUED,
        ev.content.clone(),
        &generous(),
    )
    .unwrap();
    gw.store.apply(&forged, Transit::local(), ISSUED).unwrap();

    let after = dav(&app, "GET", "/feed.ics", &[], "").await.body;
    let all = uids(&after);
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), unique.len(), "a UID twice: {all:?}");
    assert!(!all.contains(&"hamburg-oneoff@example.org".to_owned()));
    for origin in [secret(1).public(), b.public()] {
        assert!(all.contains(&format!("{origin}~hamburg-oneoff@example.org")));
    }
    // The same in CalDAV: the item's data and ETag change with its UID.
    let item = dav(&app, "GET", &victim, &[], "").await;
    assert!(
        item.body.contains(&format!("UID:{}~", secret(1).public())),
        "{}",
        item.body
    );
    assert_ne!(item.headers["etag"], etag_before);
    let json = dav(&app, "GET", "/feed.json", &[], "").await.body;
    assert!(!json.contains("\"uid\":\"hamburg-oneoff@example.org\""));
}

/// The gateway's routes are wrapped in a layer that turns a handler's panic into a 500 with a
/// message: a client gets an answer, not a reset connection, and the server goes on.
#[tokio::test]
async fn a_handler_that_panics_answers_500() {
    use tower::ServiceExt;
    let app = axum::Router::new()
        .route(
            "/boom",
            axum::routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("a handler's bug");
                }
                "unreached"
            }),
        )
        .route("/fine", axum::routing::get(|| async { "fine" }))
        .layer(discal_gateway::catch_panics());
    let get = |path: &str| {
        axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let r = app.clone().oneshot(get("/boom")).await.unwrap();
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("could not be answered"));
    let r = app.oneshot(get("/fine")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
