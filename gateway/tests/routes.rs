//! Every read route in-process (tower `oneshot`): status codes, parameter errors, filters,
//! caching and compression, and hostile content in every format.

mod common;

use std::io::Read as _;

use axum::body::{to_bytes, Body};
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use common::*;
use discal_protocol::ics::parse_calendar;
use discal_protocol::sign;
use discal_store::Store;
use tower::ServiceExt as _;

const BASE: &str = "https://cal.example.org";

fn app_with(bulk: usize) -> (Router, discal_gateway::Gateway) {
    let store = Store::memory();
    fill(&store, bulk);
    let gw = gateway(store, BASE);
    (discal_gateway::router(gw.clone()), gw)
}

fn app() -> Router {
    app_with(30).0
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
    raw: Vec<u8>,
}

async fn call(app: &Router, method: Method, uri: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = to_bytes(resp.into_body(), 64 << 20).await.unwrap().to_vec();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&raw).into_owned(),
        raw,
    }
}

async fn get(app: &Router, uri: &str) -> Resp {
    call(app, Method::GET, uri, &[]).await
}

fn header(r: &Resp, name: header::HeaderName) -> &str {
    r.headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

fn a_key() -> String {
    secret(1).public().to_string()
}
fn b_key() -> String {
    secret(2).public().to_string()
}

#[tokio::test]
async fn ics_feed_is_valid_rfc5545() {
    let app = app();
    let r = get(&app, "/feed.ics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        header(&r, header::CONTENT_TYPE),
        "text/calendar; charset=utf-8"
    );
    let b = &r.body;
    // CRLF only, every physical line at most 75 octets.
    assert!(!b.replace("\r\n", "").contains('\n') && !b.replace("\r\n", "").contains('\r'));
    assert!(b.split("\r\n").all(|l| l.len() <= 75));
    let u = b.replace("\r\n ", "");
    for want in [
        "BEGIN:VCALENDAR",
        "X-WR-CALNAME:Test calendar",
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York",
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin",
        "DTSTART;TZID=Europe/Berlin:20260106T190000",
        "RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261229T180000Z",
        "EXDATE;TZID=Europe/Berlin:20260217T190000",
        "RECURRENCE-ID;TZID=Europe/Berlin:20260331T190000",
        "DTSTART;VALUE=DATE:20261205",
        "DTSTART:20261210T100000\r\n",
        "STATUS:CANCELLED",
        "X-REVISION:0",
        "X-HOP:0",
        "SEQUENCE:0",
        "END:VCALENDAR\r\n",
    ] {
        assert!(u.contains(want), "missing {want:?}");
    }
    // Exactly one VTIMEZONE per zone used.
    assert_eq!(u.matches("BEGIN:VTIMEZONE").count(), 2);
    // 9 fixture events (the Berlin one with its moved instance: 2 VEVENTs) and 30 bulk ones.
    assert_eq!(u.matches("BEGIN:VEVENT").count(), 10 + 30);
    assert!(r.headers.get(header::ETAG).is_some());
    assert!(r.headers.get(header::LAST_MODIFIED).is_some());
    assert!(header(&r, header::CACHE_CONTROL).contains("max-age"));
}

#[tokio::test]
async fn revalidation_head_and_compression() {
    let (app, gw) = app_with(10);
    let first = get(&app, "/feed.ics").await;
    let etag = header(&first, header::ETAG).to_owned();
    assert!(etag.starts_with("W/\""));
    let again = call(&app, Method::GET, "/feed.ics", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.raw.is_empty());
    let lm = header(&first, header::LAST_MODIFIED).to_owned();
    let ims = call(
        &app,
        Method::GET,
        "/feed.ics",
        &[("if-modified-since", &lm)],
    )
    .await;
    assert_eq!(ims.status, StatusCode::NOT_MODIFIED);

    let head = call(&app, Method::HEAD, "/feed.ics", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.raw.is_empty());
    assert_eq!(header(&head, header::ETAG), etag);

    let gz = call(
        &app,
        Method::GET,
        "/feed.ics",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(header(&gz, header::CONTENT_ENCODING), "gzip");
    let mut out = String::new();
    flate2::read::GzDecoder::new(&gz.raw[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, first.body);
    let br = call(
        &app,
        Method::GET,
        "/feed.ics",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    assert_eq!(header(&br, header::CONTENT_ENCODING), "br");
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &br.raw[..], &mut out).unwrap();
    assert_eq!(out, first.raw);
    assert!(header(&br, header::VARY).contains("Accept-Encoding"));

    // A store change makes a new ETag: the old one no longer gets a 304.
    let s = secret(3);
    let ev = discal_protocol::sign(
        &s,
        "new@example".into(),
        0,
        ISSUED,
        discal_protocol::ics::parse_calendar(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:new@example\r\nDTSTART:20261224T180000Z\r\nSUMMARY:New\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            &s.public(),
            &generous(),
        )
        .unwrap()
        .events
        .remove(0)
        .content,
        &generous(),
    )
    .unwrap();
    gw.store
        .apply(&ev, discal_store::Transit::local(), ISSUED + 1)
        .unwrap();
    let changed = call(&app, Method::GET, "/feed.ics", &[("if-none-match", &etag)]).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_ne!(header(&changed, header::ETAG), etag);
    assert!(changed.body.contains("SUMMARY:New"));
}

#[tokio::test]
async fn every_route_names_a_bad_parameter() {
    let app = app();
    let a = a_key();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("/feed.ics?tag=x".into(), StatusCode::BAD_REQUEST, "\"tag\""),
        (
            "/feed.json?near=100,0".into(),
            StatusCode::BAD_REQUEST,
            "\"near\"",
        ),
        (
            "/feed.atom?days=abc".into(),
            StatusCode::BAD_REQUEST,
            "\"days\"",
        ),
        (
            "/feed.ics?from=2026-02-01&to=2026-01-01".into(),
            StatusCode::BAD_REQUEST,
            "\"to\"",
        ),
        (
            "/feed.ics?tz=Nowhere/City".into(),
            StatusCode::BAD_REQUEST,
            "\"tz\"",
        ),
        (
            "/feed.ics?lang=xx".into(),
            StatusCode::BAD_REQUEST,
            "\"lang\"",
        ),
        (
            "/feed.ics?origin=abc".into(),
            StatusCode::BAD_REQUEST,
            "\"origin\"",
        ),
        (
            "/feed.ics?limit=50001".into(),
            StatusCode::BAD_REQUEST,
            "\"limit\"",
        ),
        (
            "/feed.atom?limit=1001".into(),
            StatusCode::BAD_REQUEST,
            "\"limit\"",
        ),
        (
            "/feed.ics?radius_km=3".into(),
            StatusCode::BAD_REQUEST,
            "\"radius_km\"",
        ),
        ("/feed.ics?q=a&q=b".into(), StatusCode::BAD_REQUEST, "\"q\""),
        (
            "/feed.ics?view=list".into(),
            StatusCode::BAD_REQUEST,
            "\"view\"",
        ),
        (
            "/embed?view=year".into(),
            StatusCode::BAD_REQUEST,
            "\"view\"",
        ),
        (
            "/embed?theme=pink".into(),
            StatusCode::BAD_REQUEST,
            "\"theme\"",
        ),
        (
            "/embed?accent=red".into(),
            StatusCode::BAD_REQUEST,
            "\"accent\"",
        ),
        (
            "/embed?month=2026-13".into(),
            StatusCode::BAD_REQUEST,
            "\"month\"",
        ),
        (
            "/embed?limit=5000".into(),
            StatusCode::BAD_REQUEST,
            "\"limit\"",
        ),
        (
            "/embed?colour=1".into(),
            StatusCode::BAD_REQUEST,
            "\"colour\"",
        ),
        (
            format!("/origins/{a}/feed.xml"),
            StatusCode::NOT_FOUND,
            "feed.ics",
        ),
        (
            "/origins/notakey/feed.ics".into(),
            StatusCode::BAD_REQUEST,
            "origin key",
        ),
        (
            format!("/origins/{a}/feed.ics?origin={}", b_key()),
            StatusCode::BAD_REQUEST,
            "\"origin\"",
        ),
        (
            format!("/origins/{a}/feed.json?foo=1"),
            StatusCode::BAD_REQUEST,
            "\"foo\"",
        ),
        (
            format!("/events/{a}/missing@x"),
            StatusCode::NOT_FOUND,
            "no event",
        ),
        (
            format!("/events/{a}/missing@x/event.ics"),
            StatusCode::NOT_FOUND,
            "no event",
        ),
        (
            format!("/events/{a}/allday@example.org/event.pdf"),
            StatusCode::NOT_FOUND,
            "event.ics",
        ),
        (
            format!("/events/{a}/allday@example.org?tz=Moon"),
            StatusCode::BAD_REQUEST,
            "\"tz\"",
        ),
        (
            "/events/xyz/allday@example.org".into(),
            StatusCode::BAD_REQUEST,
            "origin key",
        ),
        (
            "/static/embed.css?accent=zzzzzz".into(),
            StatusCode::BAD_REQUEST,
            "\"accent\"",
        ),
        (
            "/static/embed.css?x=1".into(),
            StatusCode::BAD_REQUEST,
            "\"x\"",
        ),
        ("/views?days=-1".into(), StatusCode::BAD_REQUEST, "\"days\""),
        ("/nowhere".into(), StatusCode::NOT_FOUND, ""),
    ];
    for (uri, status, needle) in cases {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, status, "{uri}: {}", r.body);
        assert!(
            r.body.contains(needle),
            "{uri}: {:?} lacks {needle:?}",
            r.body
        );
    }
}

fn uids_in_ics(body: &str) -> Vec<String> {
    let mut v: Vec<String> = body
        .replace("\r\n ", "")
        .lines()
        .filter_map(|l| l.strip_prefix("UID:").map(str::to_owned))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test]
async fn filters_select_the_right_events() {
    let app = app();
    let uids = |q: &str| {
        let app = app.clone();
        let q = q.to_owned();
        async move {
            let r = get(&app, &format!("/feed.ics?{q}")).await;
            assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.body);
            uids_in_ics(&r.body)
        }
    };
    assert_eq!(uids("tags=rust").await, ["ny-monthly@example.org"]);
    assert_eq!(
        uids("tags=meetup&exclude_tags=rust").await,
        ["berlin-weekly@example.org"]
    );
    // 30 km around Alexanderplatz: Berlin only (Hamburg is 250 km away).
    assert_eq!(
        uids("near=52.52,13.40&radius_km=30").await,
        ["berlin-weekly@example.org"]
    );
    assert_eq!(
        uids("near=52.52,13.40&radius_km=300").await,
        ["berlin-weekly@example.org", "hamburg-oneoff@example.org"]
    );
    assert_eq!(uids("q=HACKATHON").await, ["allday@example.org"]);
    assert_eq!(uids(&format!("origin={}&limit=5", b_key())).await.len(), 5);
    // December 2026 in Berlin: recurring instances and the one-offs of that month.
    let dec = uids("from=2026-12-03&to=2026-12-04&tz=Europe/Berlin").await;
    assert_eq!(dec, ["hamburg-oneoff@example.org"]);
    // days= is relative to the gateway's clock (2026-11-21): 14 days end before 5 December,
    // 15 include it.
    let soon = uids("days=14&exclude_tags=meetup").await;
    assert!(!soon.contains(&"allday@example.org".to_owned()), "{soon:?}");
    let soon = uids("days=15&exclude_tags=meetup").await;
    assert!(soon.contains(&"allday@example.org".to_owned()), "{soon:?}");
    assert!(
        !soon.contains(&"floating@example.org".to_owned()),
        "{soon:?}"
    );
    assert!(soon.contains(&"hamburg-oneoff@example.org".to_owned()));
}

#[tokio::test]
async fn long_answers_say_they_were_cut_and_link_on() {
    let app = app();
    let b = b_key();
    let r = get(&app, &format!("/feed.ics?origin={b}&limit=10")).await;
    assert_eq!(uids_in_ics(&r.body).len(), 10);
    assert_eq!(header(&r, "x-discal-truncated".parse().unwrap()), "true");
    let link = header(&r, header::LINK).to_owned();
    assert!(
        link.contains("offset=10") && link.contains("rel=\"next\""),
        "{link}"
    );
    assert!(r.body.contains("X-DISCAL-TRUNCATED:"));
    // Pages do not overlap and together cover everything.
    let mut all = Vec::new();
    for off in [0, 10, 20] {
        let r = get(&app, &format!("/feed.ics?origin={b}&limit=10&offset={off}")).await;
        all.extend(uids_in_ics(&r.body));
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 30);
    let last = get(&app, &format!("/feed.ics?origin={b}&limit=10&offset=20")).await;
    assert!(last.headers.get(header::LINK).is_none());
    let j = get(&app, &format!("/feed.json?origin={b}&limit=10")).await;
    let v: serde_json::Value = serde_json::from_str(&j.body).unwrap();
    assert_eq!(v["discal.org:truncated"], true);
    assert!(v["discal.org:next"].as_str().unwrap().starts_with(BASE));
}

/// An event that repeats every five minutes has more instances in a long window than the
/// store expands per event. That cut is of instances, not of events: a feed that holds every
/// matching event says it was not cut and links to no next page (it used to link to an
/// endless chain of empty pages).
#[tokio::test]
async fn an_event_with_more_instances_than_expanded_is_no_next_page() {
    let store = Store::memory();
    fill(&store, 0);
    store_ics(
        &store,
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:every-5-min@example.org\r\n\
         DTSTART:20261201T000000Z\r\nDURATION:PT5M\r\n\
         RRULE:FREQ=HOURLY;BYMINUTE=0,5,10,15,20,25,30,35,40,45,50,55\r\n\
         SUMMARY:Sensor reading\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    );
    let app = discal_gateway::router(gateway(store, BASE));
    for url in [
        "/feed.ics?days=3660",
        "/feed.atom?days=3660",
        "/feed.json?days=3660",
    ] {
        let r = get(&app, url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}");
        assert!(r.headers.get(header::LINK).is_none(), "{url}");
        assert!(r.headers.get("x-discal-truncated").is_none(), "{url}");
        assert!(!r.body.contains("X-DISCAL-TRUNCATED"), "{url}");
        assert!(!r.body.contains("offset="), "{url}: {}", r.body);
    }
    let ics = get(&app, "/feed.ics?days=3660").await.body;
    assert!(uids_in_ics(&ics).contains(&"every-5-min@example.org".to_owned()));
}

/// Signs `ics`'s events as origin A's and stores them.
fn store_ics(store: &Store, ics: &str) {
    let a = secret(1);
    let limits = generous();
    let evs: Vec<_> = parse_calendar(ics, &a.public(), &limits)
        .unwrap()
        .events
        .into_iter()
        .map(|e| sign(&a, e.uid, 0, ISSUED, e.content, &limits).unwrap())
        .collect();
    let batch: Vec<_> = evs
        .iter()
        .map(|e| (e, discal_store::Transit::local()))
        .collect();
    store.apply_batch(batch, ISSUED).unwrap();
}

/// The link a list's "more events" line gives, if any.
fn more_link(html: &str) -> Option<String> {
    let at = html.find("<p class=\"more\">")?;
    let rest = &html[at..html[at..].find("</p>").map_or(html.len(), |e| at + e)];
    let href = rest.split("href=\"").nth(1)?.split('"').next()?;
    Some(href.replace("&amp;", "&"))
}

/// The home page shows 50 dates. Eight daily events over ten days are 80 dates though only
/// eight events: the page must link on to the dates it left out (it used to say "more
/// events" with no link, or offer the days after its four weeks, skipping them).
#[tokio::test]
async fn a_list_cut_at_its_rows_links_on_to_the_rows_it_left_out() {
    let store = Store::memory();
    let mut ics = String::from("BEGIN:VCALENDAR\r\n");
    for i in 0..8 {
        ics.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:daily-{i}@example.org\r\nDTSTART:20261122T{:02}0000Z\r\n\
             DURATION:PT1H\r\nRRULE:FREQ=DAILY;COUNT=10\r\nSUMMARY:Daily {i}\r\nEND:VEVENT\r\n",
            8 + i
        ));
    }
    ics.push_str(
        "BEGIN:VEVENT\r\nUID:finale@example.org\r\nDTSTART:20261201T220000Z\r\n\
         SUMMARY:Finale\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    );
    store_ics(&store, &ics);
    let app = discal_gateway::router(gateway(store, BASE));
    let mut url = "/?tz=UTC".to_owned();
    let mut rows = 0;
    let mut pages = Vec::new();
    loop {
        let page = get(&app, &url).await;
        assert_eq!(page.status, StatusCode::OK, "{url}: {}", page.body);
        rows += page.body.matches("<li class=\"event\"").count();
        pages.push(page.body.clone());
        match more_link(&page.body) {
            Some(next) => {
                assert!(next.contains("from=") && next.contains("to="), "{next}");
                assert!(pages.len() < 5, "pages do not end: {next}");
                url = next;
            }
            None => break,
        }
    }
    assert!(!pages[0].contains("Finale"), "{}", pages[0]);
    assert!(pages.iter().any(|p| p.contains("Finale")));
    // Every date is on some page; a few at a page's edge may show twice.
    assert!(
        (81..90).contains(&rows),
        "{rows} rows over {} pages",
        pages.len()
    );
    // The last page shows all it has: no "more events", and the link to later dates again.
    let last = pages.last().unwrap();
    assert!(!last.contains("<p class=\"more\">") || last.contains("rel=\"next\""));
}

#[tokio::test]
async fn jscalendar_feed() {
    let app = app();
    let r = get(&app, &format!("/origins/{}/feed.json", a_key())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header(&r, header::ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["@type"], "Group");
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 9);
    let berlin = entries
        .iter()
        .find(|e| e["uid"] == "berlin-weekly@example.org")
        .unwrap();
    assert_eq!(berlin["@type"], "Event");
    assert_eq!(berlin["start"], "2026-01-06T19:00:00");
    assert_eq!(berlin["timeZone"], "Europe/Berlin");
    assert_eq!(berlin["duration"], "PT2H");
    assert_eq!(berlin["recurrenceRules"][0]["frequency"], "weekly");
    assert_eq!(berlin["recurrenceRules"][0]["byDay"][0]["day"], "tu");
    assert_eq!(berlin["recurrenceRules"][0]["until"], "2026-12-29T19:00:00");
    let ov = &berlin["recurrenceOverrides"];
    assert_eq!(ov["2026-02-17T19:00:00"]["excluded"], true);
    assert_eq!(ov["2026-03-31T19:00:00"]["start"], "2026-03-31T20:00:00");
    assert_eq!(berlin["keywords"]["linux"], true);
    assert_eq!(berlin["discal.org:revision"], 0);
    let allday = entries
        .iter()
        .find(|e| e["uid"] == "allday@example.org")
        .unwrap();
    assert_eq!(allday["showWithoutTime"], true);
    assert_eq!(allday["duration"], "P2D");
    let c = entries
        .iter()
        .find(|e| e["uid"] == "cancelled@example.org")
        .unwrap();
    assert_eq!(c["status"], "cancelled");
}

#[tokio::test]
async fn rss_feed_is_well_formed_with_date_place_and_link() {
    let app = app();
    let r = get(&app, "/feed.rss?tags=meetup,fsfe&lang=de&tz=Europe/Berlin").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        header(&r, header::CONTENT_TYPE),
        "application/rss+xml; charset=utf-8"
    );
    let mut reader = quick_xml::Reader::from_str(&r.body);
    let (mut items, mut depth) = (0, 0i32);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) => {
                depth += 1;
                if e.name().as_ref() == b"item" {
                    items += 1;
                }
            }
            quick_xml::events::Event::End(_) => depth -= 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!((items, depth), (3, 0));
    assert!(r.body.contains("<rss version=\"2.0\""));
    assert!(r.body.contains("<language>de</language>"));
    assert!(
        r.body
            .contains("Donnerstag, 3. Dezember 2026, 18:00–20:00 (Europe/Berlin) · Hamburg"),
        "{}",
        r.body
    );
    assert!(r
        .body
        .contains(&format!("<guid isPermaLink=\"true\">{BASE}/events/")));
    assert!(r.body.contains("<pubDate>") && r.body.contains(" +0000</pubDate>"));
    let o = get(&app, &format!("/origins/{}/feed.rss", a_key())).await;
    assert_eq!(o.status, StatusCode::OK);
}

#[tokio::test]
async fn atom_feed_is_well_formed_with_date_place_and_link() {
    let app = app();
    let r = get(&app, "/feed.atom?tags=meetup,fsfe&lang=de&tz=Europe/Berlin").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        header(&r, header::CONTENT_TYPE),
        "application/atom+xml; charset=utf-8"
    );
    let mut reader = quick_xml::Reader::from_str(&r.body);
    let mut entries = 0;
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"entry" => entries += 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(entries, 3);
    assert!(r.body.contains("xml:lang=\"de\""));
    assert!(
        r.body
            .contains("Donnerstag, 3. Dezember 2026, 18:00–20:00 (Europe/Berlin) · Hamburg"),
        "{}",
        r.body
    );
    assert!(r.body.contains(&format!("href=\"{BASE}/events/")));
}

#[tokio::test]
async fn embeds_render_for_iframes() {
    let app = app();
    let r = get(
        &app,
        "/embed?view=list&from=2026-12-01&to=2026-12-08&tz=Europe/Berlin",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(header(&r, header::CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&r, header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("frame-ancestors *") && csp.contains("script-src 'self'"));
    assert!(r.headers.get(header::X_FRAME_OPTIONS).is_none());
    let b = &r.body;
    assert!(b.contains("FSFE Hamburg: Free Software Evening"));
    assert!(b.contains("Linux User Group Berlin"));
    assert!(b.contains("<del>Cancelled talk</del>"), "{b}");
    assert!(b.contains("Times in Europe/Berlin"));
    assert!(b.contains("Hackathon weekend"));
    // Each instance links to its event's page and .ics resource.
    let page = format!("/events/{}/hamburg-oneoff@example.org", a_key());
    assert!(b.contains(&format!("href=\"{page}\"")));
    assert!(b.contains(&format!("href=\"{page}/event.ics\"")));
    // Recurring events are expanded: Tuesdays 1 and 8 Dec... the window ends on the 8th.
    assert_eq!(b.matches(">Linux User Group Berlin<").count(), 1);
    assert!(
        b.len() < 100_000,
        "titles at the size limit are cut for display"
    );

    let ag = get(
        &app,
        "/embed?view=agenda&from=2026-12-01&to=2026-12-08&lang=de",
    )
    .await;
    assert!(
        ag.body.contains("<h2>Donnerstag, 3. Dezember 2026</h2>"),
        "{}",
        ag.body
    );
    assert!(ag.body.contains("abgesagt"));

    // March 2026: every Tuesday but none skipped by EXDATE; the 31st moved to 20:00.
    let m = get(
        &app,
        "/embed?view=month&month=2026-03&tags=linux&theme=dark&accent=ff8800",
    )
    .await;
    assert_eq!(m.status, StatusCode::OK);
    assert_eq!(
        m.body.matches("Linux User Group Berlin").count(),
        5,
        "{}",
        m.body
    );
    assert!(m.body.contains("(moved)"));
    assert!(m.body.contains("20:00"));
    assert!(m
        .body
        .contains("/static/embed.css?theme=dark&amp;accent=ff8800"));
    assert!(m.body.contains("month=2026-04") && m.body.contains("month=2026-02"));
    // A two-day event shows on both days.
    let dec = get(&app, "/embed?view=month&month=2026-12&tags=hackathon").await;
    assert_eq!(dec.body.matches("Hackathon weekend").count(), 2);
    let feb = get(&app, "/embed?view=month&month=2026-02&tags=linux").await;
    // 3, 10, 24 February: the 17th is an EXDATE.
    assert_eq!(feb.body.matches("Linux User Group Berlin").count(), 3);
    // Without a window the list shows what is coming from the gateway's today.
    let up = get(&app, "/embed").await;
    assert!(up.body.contains("FSFE Hamburg"));
    assert!(
        up.body.contains("Bulk event 0,"),
        "1 January 2027 is within 60 days"
    );
    assert!(
        !up.body.contains("Bulk event 28,"),
        "1 February 2027 is not"
    );
}

#[tokio::test]
async fn event_resources_and_pages() {
    let app = app();
    let a = a_key();
    let page = get(&app, &format!("/events/{a}/berlin-weekly%40example.org")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Linux User Group Berlin"));
    assert!(page.body.contains("c-base, Rungestraße 20, Berlin"));
    assert!(page.body.contains("href=\"https://lug.example.org/\""));
    assert!(page.body.contains("berlin-weekly@example.org/event.ics"));
    let ics = get(
        &app,
        &format!("/events/{a}/berlin-weekly@example.org/event.ics"),
    )
    .await;
    assert_eq!(ics.status, StatusCode::OK);
    assert_eq!(ics.body.matches("BEGIN:VEVENT").count(), 2);
    assert!(ics.body.contains("TZID:Europe/Berlin"));
    let js = get(&app, &format!("/events/{a}/allday@example.org/event.json")).await;
    let v: serde_json::Value = serde_json::from_str(&js.body).unwrap();
    assert_eq!(v["title"], "Hackathon weekend");
    let huge = get(&app, &format!("/events/{a}/huge@example.org")).await;
    assert_eq!(huge.status, StatusCode::OK);
    assert!(
        huge.body.len() < 20_000,
        "title and description are cut for display"
    );
    assert!(huge.body.contains("…"));
}

#[tokio::test]
async fn the_home_page_is_the_calendar() {
    let app = app();
    let home = get(&app, "/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("<h1>Test calendar</h1>"));
    // Upcoming events, in order.
    let starts: Vec<&str> = home
        .body
        .split("<time datetime=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert!(starts.len() >= 5, "{}", home.body);
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    // Search and tags narrow it; the filters are kept in the links.
    let hamburg = get(&app, "/?q=Hamburg").await.body;
    assert!(hamburg.contains("FSFE Hamburg: Free Software Evening"));
    assert!(!hamburg.contains("Linux User Group Berlin"));
    assert!(hamburg.contains("href=\"/views?q=Hamburg\""));
    // Where organisers enter their events (the form asks them to log in).
    assert!(home
        .body
        .contains("<a href=\"/events/new\">Enter an event</a>"));
    assert!(hamburg.contains("value=\"Hamburg\""));
    let tagged = get(&app, "/?tags=fsfe").await.body;
    assert!(tagged.contains("FSFE Hamburg") && !tagged.contains("Linux User Group Berlin"));
    // The month, without JavaScript: a table whose arrows lead to the home page's months.
    let month = get(&app, "/?view=month&month=2026-12").await.body;
    assert!(
        month.contains("<table") && month.contains("href=\"/?view=month&amp;month=2027-01\""),
        "{month}"
    );
    // German for a German browser.
    let de = call(
        &app,
        Method::GET,
        "/",
        &[("accept-language", "de-DE,de;q=0.9")],
    )
    .await;
    assert!(
        de.body.contains("Suche") && de.body.contains("lang=\"de\""),
        "{}",
        de.body
    );
    assert_eq!(
        header(&de, header::VARY),
        "Accept-Language, Accept-Encoding"
    );
}

/// Google Calendar's feeds write DESCRIPTION in HTML. The event page showed the tags as text;
/// it now shows the harmless part of it (nothing of a script or an attribute but a checked
/// link), and the feeds that carry text carry the text alone.
#[tokio::test]
async fn a_description_written_in_html_is_shown_not_spelt_out() {
    use discal_protocol::ics::parse_calendar;
    let store = Store::memory();
    let a = secret(1);
    let ics = "BEGIN:VCALENDAR\r\nPRODID:-//Google Inc//Google Calendar 70.9054//EN\r\nVERSION:2.0\r\n\
        BEGIN:VEVENT\r\nUID:g1@google.com\r\nDTSTART:20261210T180000Z\r\nDTEND:20261210T200000Z\r\n\
        SUMMARY:LUG monthly &#8211\\; M&uuml\\;nchen\r\nLOCATION:Caf&eacute\\; Blau\r\nDESCRIPTION:<p>Meeting of the <b>LUG</b>.</p><ul><li>Talks</li></ul>\
        More at <a href=\"https://lug.example.org/meet\" onclick=\"x()\">our site</a>&nbsp;–<br>Fish &amp; \r\n \
        chips<script>alert(1)</script><a href=\"javascript:alert(2)\">bad</a>\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let imp = parse_calendar(ics, &a.public(), &generous()).unwrap();
    let e = imp.events.into_iter().next().unwrap();
    let ev = discal_protocol::sign(&a, e.uid, 0, ISSUED, e.content, &generous()).unwrap();
    store
        .apply(&ev, discal_store::Transit::local(), ISSUED)
        .unwrap();
    let app = discal_gateway::router(gateway(store, BASE));
    let page = get(&app, &format!("/events/{}/g1@google.com", a_key()))
        .await
        .body;
    assert!(
        page.contains(
            "<div class=\"description html\"><p>Meeting of the <b>LUG</b>.</p><ul><li>Talks</li></ul>More at \
             <a href=\"https://lug.example.org/meet\" rel=\"nofollow ugc noopener\" target=\"_blank\">our site</a>\u{a0}–<br>Fish &amp; chipsbad</div>"
        ),
        "{page}"
    );
    assert!(!page.contains("&lt;p&gt;") && !page.contains("alert(") && !page.contains("onclick"));
    // CiviCRM's and WordPress's references in a title and a place read as their characters.
    assert!(page.contains("<h1>LUG monthly – München</h1>"), "{page}");
    assert!(page.contains("Café Blau"), "{page}");
    let list = get(&app, "/embed?from=2026-12-01&to=2026-12-31").await.body;
    assert!(
        list.contains("LUG monthly – München") && list.contains("Café Blau"),
        "{list}"
    );
    let atom = get(&app, "/feed.atom?from=2026-12-01").await.body;
    assert!(
        atom.contains("Meeting of the LUG.\n\n• Talks\n\nMore at our site\u{a0}–\nFish &amp; chipsbad</content>"),
        "{atom}"
    );
    // JSCalendar carries it as signed, and says what it is.
    let js = get(&app, "/feed.json?from=2026-12-01").await.body;
    assert!(
        js.contains("\"descriptionContentType\":\"text/html\""),
        "{js}"
    );
}

/// A group that meets every six weeks had a home page saying "No events." for most of them.
#[tokio::test]
async fn a_list_whose_dates_hold_nothing_links_to_the_later_events() {
    let app = app();
    // The spring series (tag `workshop`) starts in March 2027; the home page covers four
    // weeks from 21 Nov.
    let home = get(&app, "/?tags=workshop").await.body;
    assert!(home.contains("No events in these dates."), "{home}");
    assert!(
        home.contains(
            "<a href=\"/?tags=workshop&amp;from=2027-03-16\" rel=\"next\">Later events →</a>"
        ),
        "{home}"
    );
    // The link goes to the day of the next event: nothing empty in between.
    let later = get(&app, "/?tags=workshop&from=2027-03-16").await.body;
    assert!(later.contains("Spring workshop series"), "{later}");
    // A one-day agenda skips the empty days, and a day of a series links on to its next one.
    let day = get(
        &app,
        "/embed?tags=workshop&view=agenda&from=2027-03-16&days=1",
    )
    .await
    .body;
    assert!(
        day.contains(
            "href=\"/embed?tags=workshop&amp;view=agenda&amp;days=1&amp;from=2027-03-23\""
        ),
        "{day}"
    );
    // The embed's own path, its other parameters kept.
    let embed = get(&app, "/embed?tags=workshop&view=agenda&offset=0")
        .await
        .body;
    assert!(
        embed.contains("href=\"/embed?tags=workshop&amp;view=agenda&amp;from=2027-03-16\""),
        "{embed}"
    );
    // An event under way when the dates end (a weekend from Saturday) is not "later": the
    // link goes on from the end, never back.
    let sat = get(&app, "/embed?tags=hackathon&from=2026-12-01&days=5")
        .await
        .body;
    assert!(sat.contains("Hackathon weekend"), "{sat}");
    assert!(
        sat.contains("href=\"/embed?tags=hackathon&amp;days=5&amp;from=2026-12-06\""),
        "{sat}"
    );
    // Nothing later, a view that names its own end, or a search (read record by record, too
    // dear to look a year ahead): no link.
    for url in [
        "/?tags=no-such-tag",
        "/?tags=workshop&to=2026-12-01",
        "/?tags=workshop&from=2027-06-01",
        "/?q=Spring",
    ] {
        let page = get(&app, url).await.body;
        assert!(
            page.contains("No events.") && !page.contains("Later events"),
            "{url}: {page}"
        );
    }
    // A list with events and more after its dates links on as well.
    let home = get(&app, "/").await.body;
    assert!(home.contains("Later events"), "{home}");
}

#[tokio::test]
async fn busy_month_days_show_a_few_and_link_to_the_rest() {
    let (app, _) = app_with(3000);
    let month = get(&app, "/embed?view=month&month=2027-01&tags=bulk&limit=1000").await;
    assert_eq!(month.status, StatusCode::OK);
    for cell in month.body.split("<td").skip(1) {
        let cell = cell.split("</td>").next().unwrap();
        assert!(cell.matches("class=\"event\"").count() <= 4, "{cell}");
    }
    let link = "/embed?tags=bulk&amp;limit=1000&amp;view=agenda&amp;from=2027-01-05&amp;days=1";
    assert!(month.body.contains(link), "{}", month.body);
    assert!(month.body.len() < 50 * 1024, "{} bytes", month.body.len());
    let day = get(&app, &link.replace("&amp;", "&")).await;
    assert_eq!(day.status, StatusCode::OK);
    assert!(
        day.body.matches("class=\"event\"").count() > 4,
        "{}",
        day.body
    );
}

#[tokio::test]
async fn the_map_is_off_by_default_and_shows_places_over_the_operators_tiles() {
    let off = app();
    let page = get(&off, "/map").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("[map] tiles"), "{}", page.body);
    assert!(!get(&off, "/").await.body.contains("href=\"/map"));

    let with_map = |tiles: &str| {
        let store = Store::memory();
        fill(&store, 0);
        let mut gw = gateway(store, BASE);
        gw.node = std::sync::Arc::new(Configured(serde_json::json!({
            "map": {"tiles": tiles, "attribution": "© <b>Tiles</b>"}
        })));
        discal_gateway::router(gw)
    };
    let app = with_map("https://tiles.example.net/{z}/{x}/{y}.png");
    let map = get(&app, "/map").await;
    assert_eq!(map.status, StatusCode::OK);
    assert!(
        header(&map, header::CONTENT_SECURITY_POLICY)
            .contains("img-src 'self' https://tiles.example.net;"),
        "{:?}",
        map.headers
    );
    // One marker per place, each listed beside the map; Berlin, New York, Hamburg and the
    // hostile event's Cairo.
    let markers = map.body.matches("<circle").count();
    assert_eq!(markers, 4, "{}", map.body);
    assert_eq!(map.body.matches("<li id=\"place-").count(), markers);
    for tile in map.body.split("<image href=\"").skip(1) {
        assert!(tile.starts_with("https://tiles.example.net/"), "{tile}");
    }
    // Peers' text and the operator's credit are text, in the SVG and in the list.
    assert!(!map.body.contains("<script>alert") && !map.body.contains("<img src=x"));
    assert!(map.body.contains("&lt;script&gt;alert(2)"));
    assert!(map.body.contains("© &lt;b&gt;Tiles&lt;/b&gt;"));
    // The home page links to it with its filters, and the filters apply.
    let home = get(&app, "/?tags=fsfe").await.body;
    assert!(home.contains("href=\"/map?tags=fsfe\""), "{home}");
    let fsfe = get(&app, "/map?tags=fsfe").await.body;
    assert_eq!(fsfe.matches("<circle").count(), 1, "{fsfe}");
    assert!(fsfe.contains("Hamburg") && fsfe.contains("/?near=53.5511,9.9937&amp;radius_km=0.2"));
    let here = get(&app, "/?near=53.5511,9.9937&radius_km=0.2").await.body;
    assert!(here.contains("FSFE Hamburg") && !here.contains("Linux User Group Berlin"));
    // A broken setting (only a hand-made gateway can have one) leaves the map off.
    let broken = with_map("javascript:alert(1)//{z}/{x}/{y}");
    assert_eq!(get(&broken, "/map").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_place_filter_matches_the_events_place() {
    let app = app();
    let berlin = get(&app, "/?place=BERLIN").await.body;
    assert!(berlin.contains("Linux User Group Berlin"), "{berlin}");
    assert!(!berlin.contains("FSFE Hamburg") && !berlin.contains("NYC Rust Meetup"));
    assert!(
        berlin.contains("name=\"place\" value=\"BERLIN\""),
        "{berlin}"
    );
    // Every view takes it: the feed too.
    let feed = get(&app, "/feed.ics?place=hamburg").await.body;
    assert_eq!(uids_in_ics(&feed), vec!["hamburg-oneoff@example.org"]);
    let long = "x".repeat(300);
    assert_eq!(
        get(&app, &format!("/?place={long}")).await.status,
        StatusCode::BAD_REQUEST
    );
}

/// The JSON-LD of an event page, parsed.
fn json_ld(html: &str) -> serde_json::Value {
    let at = html
        .find("<script type=\"application/ld+json\">")
        .expect("a JSON-LD block")
        + 35;
    let end = at + html[at..].find("</script>").unwrap();
    serde_json::from_str(&html[at..end]).unwrap()
}

#[tokio::test]
async fn event_pages_say_the_rule_in_words_and_describe_the_event_for_machines() {
    let app = app();
    let a = a_key();
    let page = get(&app, &format!("/events/{a}/berlin-weekly%40example.org")).await;
    assert!(
        page.body
            .contains("every Tuesday at 19:00 until 29 December 2026, except 17 February"),
        "{}",
        page.body
    );
    // Revision and when the origin made it, in the event's zone.
    assert!(
        page.body.contains(
            "<dd>0, changed <time datetime=\"2026-06-01T00:00:00Z\">Monday, 1 June 2026, 02:00 (Europe/Berlin)</time></dd>"
        ),
        "{}",
        page.body
    );
    let de = get(
        &app,
        &format!("/events/{a}/berlin-weekly%40example.org?lang=de"),
    )
    .await;
    assert!(de
        .body
        .contains("jeden Dienstag um 19:00 bis 29. Dezember 2026, außer am 17. Februar"));
    // A German browser gets German without asking in the URL.
    let by_browser = call(
        &app,
        Method::GET,
        &format!("/events/{a}/berlin-weekly%40example.org"),
        &[("accept-language", "de,en;q=0.5")],
    )
    .await;
    assert!(by_browser.body.contains("jeden Dienstag um 19:00"));
    assert!(header(&by_browser, header::VARY).contains("Accept-Language"));
    let embed_de = call(
        &app,
        Method::GET,
        "/embed?view=month&month=2026-12",
        &[("accept-language", "de-AT")],
    )
    .await;
    assert!(embed_de.body.contains("Dezember 2026"), "{}", embed_de.body);
    let embed_en = call(
        &app,
        Method::GET,
        "/embed?view=month&month=2026-12&lang=en",
        &[("accept-language", "de-AT")],
    )
    .await;
    assert!(
        embed_en.body.contains("December 2026"),
        "the site's choice wins"
    );
    let views_de = call(&app, Method::GET, "/views", &[("accept-language", "de")]).await;
    assert!(views_de.body.contains("lang=\"de\""));
    // A reader elsewhere sees both times.
    let ny = get(
        &app,
        &format!("/events/{a}/berlin-weekly%40example.org?tz=America/New_York"),
    )
    .await;
    assert!(ny.body.contains("(America/New_York)") && ny.body.contains("(Europe/Berlin)"));
    let ld = json_ld(&page.body);
    assert_eq!(ld["@context"], "https://schema.org");
    assert_eq!(ld["@type"], "Event");
    assert_eq!(ld["name"], "Linux User Group Berlin");
    assert_eq!(ld["eventStatus"], "https://schema.org/EventScheduled");
    assert_eq!(ld["location"]["@type"], "Place");
    // The next instance, start and its own end (not the first instance's DTEND).
    assert_eq!(ld["startDate"], "2026-11-24T19:00:00+01:00");
    assert_eq!(ld["endDate"], "2026-11-24T21:00:00+01:00");
    assert!(page
        .body
        .contains("property=\"og:title\" content=\"Linux User Group Berlin\""));
    // The path: the origin, shortened (this read-only gateway knows no names).
    assert!(page.body.contains("class=\"path\""));
    // A hostile title cannot end the JSON-LD's script element or open an attribute.
    let hostile = get(&app, &format!("/events/{a}/hostile@example.org"))
        .await
        .body;
    let ld = json_ld(&hostile);
    assert!(ld["name"].as_str().unwrap().contains("<img"));
    let head = &hostile[..hostile.find("</head>").unwrap()];
    assert_eq!(
        head.matches("<script").count(),
        2,
        "only the resizer and the JSON-LD"
    );
}

#[tokio::test]
async fn hostile_content_stays_text_in_every_format() {
    let app = app();
    let a = a_key();
    let bodies = [
        get(&app, "/feed.ics?tags=hostile").await.body,
        get(&app, "/feed.json?tags=hostile").await.body,
        get(&app, "/feed.atom?tags=hostile").await.body,
        get(&app, "/embed?tags=hostile&from=2026-12-01&to=2026-12-31")
            .await
            .body,
        get(&app, "/embed?view=month&month=2026-12&tags=hostile")
            .await
            .body,
        get(&app, &format!("/events/{a}/hostile@example.org"))
            .await
            .body,
        get(&app, "/feed.rss?tags=hostile").await.body,
    ];
    for (i, b) in bodies.iter().enumerate() {
        assert!(b.contains("alert(1)"), "format {i} lost the title: {b}");
        // ICS (0) and JSON (1) carry the title as text, markup included; they are not HTML.
        if i >= 2 {
            assert!(!b.contains("<img"), "format {i} has live markup");
            assert!(!b.contains("<script>alert"), "format {i} has a live script");
        }
        assert!(
            !b.contains("href=\"javascript:"),
            "format {i} links javascript:"
        );
        assert!(
            b.contains("مقهى القاهرة ☕ 🎉") || i == 4,
            "format {i} lost RTL/emoji"
        );
    }
    // ICS: the line break stays inside DESCRIPTION; no ATTENDEE property appears, and ; , are
    // escaped so they cannot start parameters or values.
    let ics = bodies[0].replace("\r\n ", "");
    assert!(ics.contains("DESCRIPTION:first line\\nATTENDEE:mailto:x@y"));
    assert!(!ics.split("\r\n").any(|l| l.starts_with("ATTENDEE")));
    assert!(ics.contains("alert(2)</script>\\; a\\,b"));
    // HTML escapes it.
    assert!(bodies[3].contains("&lt;img src=x onerror=alert(1)&gt;"));
    // JSON keeps it as a string value.
    let v: serde_json::Value = serde_json::from_str(&bodies[1]).unwrap();
    assert!(v["entries"][0]["title"]
        .as_str()
        .unwrap()
        .starts_with("<img"));
    assert!(v["entries"][0]["links"].get("url").is_none());
    // Atom escapes it.
    assert!(bodies[2].contains("&lt;img"));
    // The description's HTML: on the event page its harmless part, in Atom its text.
    let page = &bodies[5];
    assert!(
        page.contains("<p>Bring <b>it</b></p>x<a href=\"https://ok.example/\" rel=\"nofollow ugc noopener\" target=\"_blank\">ok</a>"),
        "{page}"
    );
    assert!(!page.contains("onclick") && !page.contains("alert(3)") && !page.contains("alert(4)"));
    assert!(
        bodies[2].contains("Bring it\n\nxok</content>"),
        "{}",
        bodies[2]
    );
    // A carriage return in text never gets signed, so it never reaches a feed.
    let s = secret(9);
    let mut c = discal_protocol::ics::parse_calendar(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20261224T180000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        &s.public(),
        &generous(),
    )
    .unwrap()
    .events
    .remove(0)
    .content;
    c.master.description = Some("a\r\nATTENDEE:mailto:x@y".into());
    assert!(discal_protocol::sign(&s, "x".into(), 0, ISSUED, c.clone(), &generous()).is_err());
    // A 1 MB description is refused by this build's limits, and a store handed one signed
    // under looser limits refuses it whole, so no feed ever has to carry it.
    c.master.description = Some("x".repeat(1 << 20));
    let e = discal_protocol::sign(
        &s,
        "x".into(),
        0,
        ISSUED,
        c.clone(),
        &discal_protocol::Limits::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("bytes"), "{e}");
    let loose = discal_protocol::sign(&s, "x".into(), 0, ISSUED, c, &generous()).unwrap();
    let store = Store::memory();
    let before = store.last_seq().unwrap();
    let err = store
        .apply(&loose, discal_store::Transit::local(), ISSUED)
        .unwrap_err();
    assert!(err.to_string().contains("over the"), "{err}");
    assert_eq!(store.last_seq().unwrap(), before);
    assert!(store.is_empty().unwrap());
}

#[tokio::test]
async fn views_page_front_page_and_assets() {
    let app = app();
    let v = get(
        &app,
        "/views?tags=linux&near=52.52,13.40&radius_km=20&view=month&lang=de&days=",
    )
    .await;
    assert_eq!(v.status, StatusCode::OK, "{}", v.body);
    assert!(v.body.contains("webcal://cal.example.org/feed.ics?tags=linux&amp;near=52.52,13.40&amp;radius_km=20&amp;lang=de"), "{}", v.body);
    assert!(v.body.contains("https://cal.example.org/embed?tags=linux"));
    assert!(v.body.contains("view=month"));
    assert!(v.body.contains("Eigene Kalenderansicht"));
    assert!(v.body.contains("data-discal="));
    // People's words, not parameter names; a live preview; copy buttons where JS runs.
    assert!(v.body.contains("Nur Termine mit diesen Schlagwörtern"));
    assert!(v
        .body
        .contains("<iframe class=\"preview\" src=\"https://cal.example.org/embed?tags=linux"));
    assert!(v.body.contains("data-copy=\"Kopieren\""));
    assert!(header(&v, header::CONTENT_SECURITY_POLICY).contains("frame-src 'self'"));
    let en = get(&app, "/views").await.body;
    assert!(
        en.contains("Only events with these tags")
            && en.contains("<script src=\"/static/copy.js\"")
    );
    assert_eq!(get(&app, "/static/copy.js").await.status, StatusCode::OK);
    let bad = get(&app, "/views?accent=nothex").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("role=\"alert\""));
    let idx = get(&app, "/").await;
    assert!(idx.body.contains("Test calendar"));
    let css = get(&app, "/static/embed.css?theme=dark&accent=00aa00").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.contains("--accent:#00aa00") && css.body.contains("--bg:#16181d"));
    for js in ["/embed.js", "/static/resize.js"] {
        let r = get(&app, js).await;
        assert_eq!(
            header(&r, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert!(r.body.contains("postMessage") || r.body.contains("message"));
    }
}
