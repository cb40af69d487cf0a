//! Subscribed sources (issue 20) against a fixture HTTP server on loopback: a feed's events
//! added, changed, moved, cancelled and removed at the source show the same way on a second
//! node across the mesh; 304s and identical bodies cost no parsing and make no revision; a
//! 500 and a truncated feed cancel nothing until confirmed; redirects to special addresses
//! are refused for sources not marked `allow_private`.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::*;
use discal_node::sources::{SourceEntry, SourceKind};
use discal_node::NodeHandle;
use discal_protocol::model::Status;
use discal_protocol::EventKey;

/// One document the fixture serves.
#[derive(Clone, Default)]
struct Doc {
    body: String,
    etag: Option<String>,
    status: u16,
    location: Option<String>,
    /// `{n}` in the body becomes the request count (an exporter that stamps every download).
    stamped: bool,
    /// Sent gzip-compressed (`Content-Encoding: gzip`).
    gzip: bool,
    /// More response headers.
    headers: Vec<(&'static str, String)>,
    /// Served as these bytes instead of `body` (a page in a legacy encoding).
    raw: Option<Vec<u8>>,
}

#[derive(Default)]
struct Fixture {
    docs: Mutex<HashMap<String, Doc>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
}

impl Fixture {
    fn set(&self, path: &str, doc: Doc) {
        self.docs.lock().unwrap().insert(path.into(), doc);
    }
    fn feed(&self, path: &str, body: String) {
        self.set(
            path,
            Doc {
                etag: Some(format!(
                    "\"{:x}\"",
                    body.len() * 31 + body.bytes().map(u64::from).sum::<u64>() as usize
                )),
                body,
                status: 200,
                ..Doc::default()
            },
        );
    }
}

async fn serve_doc(
    axum::extract::State(f): axum::extract::State<Arc<Fixture>>,
    uri: Uri,
    h: HeaderMap,
) -> Response {
    let n = f.requests.fetch_add(1, Relaxed);
    let Some(d) = f.docs.lock().unwrap().get(uri.path()).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(to) = d.location {
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    if let (Some(e), Some(asked)) = (&d.etag, h.get(header::IF_NONE_MATCH)) {
        if asked.as_bytes() == e.as_bytes() {
            f.not_modified.fetch_add(1, Relaxed);
            return StatusCode::NOT_MODIFIED.into_response();
        }
    }
    if let Some(raw) = d.raw {
        let mut r = raw.into_response();
        for (k, v) in d.headers {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        return r;
    }
    let body = if d.stamped {
        d.body.replace("{n}", &format!("{:06}", n % 1_000_000))
    } else {
        d.body
    };
    let body = if d.gzip {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body.as_bytes()).unwrap();
        z.finish().unwrap()
    } else {
        body.into_bytes()
    };
    let mut r = (StatusCode::from_u16(d.status).unwrap(), body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, "text/calendar".parse().unwrap());
    if let Some(e) = d.etag {
        h.insert(header::ETAG, e.parse().unwrap());
    }
    if d.gzip {
        h.insert(header::CONTENT_ENCODING, "gzip".parse().unwrap());
    }
    for (k, v) in d.headers {
        h.insert(k, v.parse().unwrap());
    }
    r
}

async fn fixture() -> (Arc<Fixture>, SocketAddr) {
    let f = Arc::new(Fixture::default());
    let app = axum::Router::new()
        .fallback(serve_doc)
        .with_state(f.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (f, addr)
}

fn vevent(uid: Option<&str>, title: &str, start: &str, extra: &str) -> String {
    let uid = uid.map(|u| format!("UID:{u}\r\n")).unwrap_or_default();
    format!(
        "BEGIN:VEVENT\r\n{uid}DTSTAMP:20261201T1{{n}}Z\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n\
         DURATION:PT2H\r\nSUMMARY:{title}\r\nLOCATION:c-base\\, Berlin\r\n{extra}END:VEVENT\r\n"
    )
}

fn calendar(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fixture//EN\r\n{}END:VCALENDAR\r\n",
        events.concat()
    )
}

fn source(name: &str, addr: SocketAddr, path: &str, allow_private: bool) -> SourceEntry {
    SourceEntry {
        tags: vec!["sister".into()],
        allow_private,
        ..SourceEntry::new(name, &format!("http://{addr}{path}"), SourceKind::Ics)
    }
}

async fn poll(h: &NodeHandle, name: &str) -> serde_json::Value {
    h.poll_source(name).await.unwrap()
}

/// Whether `a`'s own event `uid` is cancelled; `None` if it does not hold it.
fn is_cancelled(a: &NodeHandle, uid: &str) -> Option<bool> {
    let key = EventKey {
        origin: a.key(),
        uid: uid.into(),
    };
    held(a, &key).map(|e| e.content().master.status == Some(Status::Cancelled))
}

/// The figures of a poll: (new, changed, cancelled, refused).
fn figures(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    let c = &v["last"];
    let n = |k: &str| c[k].as_u64().unwrap();
    (n("new"), n("changed"), n("cancelled"), n("refused"))
}

/// Waits until `h` holds `uid` of `origin` and `test` holds for it.
async fn wait_for(
    h: &NodeHandle,
    origin: discal_protocol::NodeKey,
    uid: &str,
    test: impl Fn(&discal_store::StoredEvent) -> bool,
) -> bool {
    let key = EventKey {
        origin,
        uid: uid.into(),
    };
    h.wait_until(WAIT, |s| {
        s.get(&key).ok().flatten().is_some_and(|e| test(&e))
    })
    .await
}

async fn text_of(url: &str) -> String {
    let http = discal_node::client::http_client().build().unwrap();
    http.get(url).send().await.unwrap().text().await.unwrap()
}

fn title(e: &discal_store::StoredEvent) -> &str {
    e.content().master.summary.as_deref().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_follows_its_source_across_the_mesh() {
    let (fx, addr) = fixture().await;
    let net = TestNet::new(2, 3).await;
    net.link(&[(0, 1)]).await;
    net.wait_gossip(0, 1).await;
    let (a, b) = (net.node(0), net.node(1));
    let e1 = |title: &str, start: &str, extra: &str| {
        vevent(Some("meetup-1@sister.example"), title, start, extra)
    };
    let e2 = |extra: &str| vevent(None, "Install party", "20370115T180000", extra);
    fx.feed(
        "/cal.ics",
        calendar(&[e1("Monthly meetup", "20370110T190000", ""), e2("")]),
    );
    net.configure(0, &[1], |c| {
        c.sources = vec![source("sister", addr, "/cal.ics", true)]
    })
    .await;
    let v = poll(a, "sister").await;
    assert_eq!(figures(&v), (2, 0, 0, 0), "{v:#}");
    let uids: Vec<String> = a.store().source_state("sister").unwrap().unwrap().uids;
    let generated = uids
        .iter()
        .find(|u| u.ends_with(&format!("@{}", addr.ip())))
        .cloned();
    let generated =
        generated.unwrap_or_else(|| panic!("a UID made from the source's host: {uids:?}"));
    let me = a.key();
    assert!(
        wait_for(b, me, "meetup-1@sister.example", |e| title(e)
            == "Monthly meetup")
        .await
    );
    assert!(wait_for(b, me, &generated, |_| true).await);
    // Provenance and the seed's X-HOP travel with it.
    let held_b = held(
        b,
        &EventKey {
            origin: me,
            uid: "meetup-1@sister.example".into(),
        },
    )
    .unwrap();
    assert_eq!(
        discal_protocol::source::source_of(held_b.content()),
        Some(format!("http://{addr}/cal.ics").as_str())
    );
    assert!(held_b
        .content()
        .master
        .categories
        .iter()
        .any(|c| c == "sister"));
    let feed_b = discal_gateway::ics_event(&held_b).hop;
    assert_eq!(feed_b, 2, "one hop before the mesh, one across it");
    // Shown where people read it: "from <source host> via <node>", and in the feed.
    let base = format!("http://{}", b.http_addr());
    let page = text_of(&format!(
        "{base}{}",
        discal_gateway::display::event_path(&held_b)
    ))
    .await;
    assert!(page.contains("from <a class=\"source\""), "{page}");
    assert!(page.contains(&format!(">{}</a> via ", addr.ip())), "{page}");
    let feed = text_of(&format!("{base}/feed.ics")).await;
    assert!(
        feed.contains(&format!("X-DISCAL-SOURCE:http://{addr}/cal.ics")),
        "{feed}"
    );
    assert!(feed.contains("X-HOP:2"), "{feed}");

    // Changed at the source.
    fx.feed(
        "/cal.ics",
        calendar(&[
            e1("Monthly meetup (new room)", "20370110T190000", ""),
            e2(""),
        ]),
    );
    assert_eq!(figures(&poll(a, "sister").await), (0, 1, 0, 0));
    assert!(
        wait_for(b, me, "meetup-1@sister.example", |e| title(e)
            == "Monthly meetup (new room)")
        .await
    );
    // Moved.
    fx.feed(
        "/cal.ics",
        calendar(&[
            e1("Monthly meetup (new room)", "20370117T190000", ""),
            e2(""),
        ]),
    );
    assert_eq!(figures(&poll(a, "sister").await), (0, 1, 0, 0));
    assert!(
        wait_for(b, me, "meetup-1@sister.example", |e| {
            e.content().master.start.local().to_chrono()
                == chrono::NaiveDate::from_ymd_opt(2037, 1, 17)
                    .and_then(|d| d.and_hms_opt(19, 0, 0))
        })
        .await
    );
    // Cancelled at the source.
    fx.feed(
        "/cal.ics",
        calendar(&[
            e1("Monthly meetup (new room)", "20370117T190000", ""),
            e2("STATUS:CANCELLED\r\n"),
        ]),
    );
    assert_eq!(figures(&poll(a, "sister").await), (0, 0, 1, 0));
    assert!(
        wait_for(b, me, &generated, |e| e.content().master.status
            == Some(Status::Cancelled))
        .await
    );
    // Removed from the source (the feed did not shrink to an outage: one event is still there).
    fx.feed("/cal.ics", calendar(&[e2("STATUS:CANCELLED\r\n")]));
    assert_eq!(figures(&poll(a, "sister").await), (0, 0, 1, 0));
    assert!(
        wait_for(b, me, "meetup-1@sister.example", |e| e
            .content()
            .master
            .status
            == Some(Status::Cancelled))
        .await
    );
    net.shutdown().await;
}

/// One node with one source at `path` on the fixture.
async fn one_node(addr: SocketAddr, path: &str, allow_private: bool) -> TestNet {
    let net = TestNet::new(1, 3).await;
    net.configure(0, &[], |c| {
        c.sources = vec![source("s", addr, path, allow_private)]
    })
    .await;
    net
}

/// A fixture serving `n` numbered events at `path`, and one node that subscribed to it and
/// took them all.
async fn subscribed(path: &str, n: usize) -> (Arc<Fixture>, TestNet, Vec<String>) {
    let (fx, addr) = fixture().await;
    let events: Vec<String> = (0..n)
        .map(|i| {
            let (uid, title) = (format!("e{i}@x"), format!("Event {i}"));
            vevent(Some(&uid), &title, "20370110T190000", "")
        })
        .collect();
    fx.feed(path, calendar(&events));
    let net = one_node(addr, path, true).await;
    assert_eq!(figures(&poll(net.node(0), "s").await).0, n as u64);
    (fx, net, events)
}

/// How many of the `n` numbered events `a` holds live (`cancelled` false) or cancelled.
fn numbered(a: &NodeHandle, n: usize, cancelled: bool) -> usize {
    (0..n)
        .filter(|i| {
            let key = EventKey {
                origin: a.key(),
                uid: format!("e{i}@x"),
            };
            held(a, &key).is_some_and(|e| {
                (e.content().master.status == Some(Status::Cancelled)) == cancelled
            })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_feeds_make_no_revisions_and_no_gossip() {
    // With an ETag: answered 304, never parsed.
    let (fx, net, events) = subscribed("/etag.ics", 20).await;
    let a = net.node(0);
    let published = a.metrics().published.load(Relaxed);
    let relayed = a.metrics().relayed.load(Relaxed);
    let (reads, nm) = (
        a.metrics().source_polls("read"),
        fx.not_modified.load(Relaxed),
    );
    for _ in 0..10 {
        poll(a, "s").await;
    }
    assert_eq!(
        fx.not_modified.load(Relaxed) - nm,
        10,
        "ten conditional GETs, ten 304s"
    );
    assert_eq!(
        a.metrics().source_polls("read"),
        reads,
        "a 304 is not parsed"
    );
    assert_eq!(
        a.metrics().published.load(Relaxed),
        published,
        "no new revision"
    );
    assert_eq!(
        a.metrics().relayed.load(Relaxed),
        relayed,
        "no gossip message"
    );

    // Without validators, stamping every download anew (DTSTAMP changes each time): parsed,
    // compared, and still no revision.
    let mut doc = Doc {
        body: calendar(&events),
        status: 200,
        stamped: true,
        ..Doc::default()
    };
    fx.set("/etag.ics", doc.clone());
    poll(a, "s").await;
    let published = a.metrics().published.load(Relaxed);
    let reads = a.metrics().source_polls("read");
    for _ in 0..10 {
        let v = poll(a, "s").await;
        assert_eq!(figures(&v), (0, 0, 0, 0), "{v:#}");
    }
    assert_eq!(
        a.metrics().source_polls("read") - reads,
        10,
        "each body differed, so was read"
    );
    assert_eq!(
        a.metrics().published.load(Relaxed),
        published,
        "and made no revision"
    );
    assert_eq!(a.metrics().relayed.load(Relaxed), relayed);
    // An identical body without validators is not parsed either.
    doc.stamped = false;
    fx.set("/etag.ics", doc);
    poll(a, "s").await;
    let reads = a.metrics().source_polls("read");
    poll(a, "s").await;
    assert_eq!(a.metrics().source_polls("read"), reads);
    assert!(a
        .metrics()
        .render(0)
        .contains("discal_source_polls_total{outcome=\"not modified\"} 10"));
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_truncated_feeds_cancel_nothing_until_confirmed() {
    let (fx, net, events) = subscribed("/cal.ics", 10).await;
    let a = net.node(0);
    let live = |a: &NodeHandle| numbered(a, 10, false);
    // A server error: recorded, nothing cancelled, the next poll backs off.
    fx.set(
        "/cal.ics",
        Doc {
            body: "oops".into(),
            status: 500,
            ..Doc::default()
        },
    );
    let v = poll(a, "s").await;
    assert_eq!(v["last_status"], 500);
    assert!(v["last_error"].as_str().unwrap().contains("500"), "{v:#}");
    assert_eq!(v["failures"], 1);
    assert_eq!(live(a), 10);
    // An outage page answered with 200.
    fx.set(
        "/cal.ics",
        Doc {
            body: "<html><body>Maintenance</body></html>".into(),
            status: 200,
            ..Doc::default()
        },
    );
    let v = poll(a, "s").await;
    let e = v["last_error"].as_str().unwrap();
    assert!(e.contains("not valid iCalendar"), "{v:#}");
    // The error says what else a web page could be subscribed as.
    assert!(e.contains("--kind page"), "{v:#}");
    assert_eq!(v["failures"], 2);
    assert_eq!(live(a), 10, "an outage page cancels nothing");
    // An empty calendar (a broken export) is held back like a truncated one.
    fx.feed("/cal.ics", calendar(&[]));
    let v = poll(a, "s").await;
    assert_eq!(v["held_back"]["events_now"], 0, "{v:#}");
    assert_eq!(live(a), 10);
    // A truncated download: one event left. Held back on two polls, taken on the third.
    fx.feed("/cal.ics", calendar(&events[..1]));
    for round in 1..3 {
        let v = poll(a, "s").await;
        assert_eq!(live(a), 10, "round {round}: {v:#}");
        assert_eq!(v["held_back"]["polls"], round, "{v:#}");
        assert!(
            v["problems"][0]
                .as_str()
                .unwrap()
                .contains("where it held 10"),
            "{v:#}"
        );
    }
    let v = poll(a, "s").await;
    assert_eq!(figures(&v).2, 9, "confirmed on the third poll: {v:#}");
    assert_eq!(live(a), 1);
    assert!(v["held_back"].is_null());
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_over_max_events_gives_those_nearest_today() {
    let (fx, addr) = fixture().await;
    let ev = |name: &str, day: &str| vevent(Some(&format!("{name}@x")), name, day, "");
    let (p2019, p2020, p2021) = (
        ev("p2019", "20190110T190000"),
        ev("p2020", "20200110T190000"),
        ev("p2021", "20210110T190000"),
    );
    let (f2030, f2031, f2032) = (
        ev("f2030", "20300110T190000"),
        ev("f2031", "20310110T190000"),
        ev("f2032", "20320110T190000"),
    );
    fx.feed(
        "/big.ics",
        calendar(&[
            p2019.clone(),
            f2032.clone(),
            p2020.clone(),
            f2030.clone(),
            p2021.clone(),
            f2031.clone(),
        ]),
    );
    let net = TestNet::new(1, 3).await;
    net.configure(0, &[], |c| {
        c.sources = vec![SourceEntry {
            max_events: 4,
            ..source("s", addr, "/big.ics", true)
        }]
    })
    .await;
    let a = net.node(0);
    let state = |uid: &str| is_cancelled(a, &format!("{uid}@x"));
    let v = poll(a, "s").await;
    // Upcoming ones first, then the latest past one; the two oldest are not read at all.
    assert_eq!(figures(&v), (4, 0, 0, 0), "{v:#}");
    assert_eq!(v["last"]["seen"], 6, "{v:#}");
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("the 4 nearest today were read (max_events)"),
        "{v:#}"
    );
    for uid in ["f2030", "f2031", "f2032", "p2021"] {
        assert_eq!(state(uid), Some(false), "{uid}");
    }
    assert_eq!((state("p2019"), state("p2020")), (None, None));

    // Two upcoming events arrive and f2032 leaves the feed: it is cancelled, while p2021,
    // still listed but now beyond the nearest four, is let go as it is.
    let f2028 = ev("f2028", "20280110T190000");
    let f2029 = ev("f2029", "20290110T190000");
    fx.feed(
        "/big.ics",
        calendar(&[p2019, p2020, f2030, p2021, f2031, f2028, f2029]),
    );
    let v = poll(a, "s").await;
    assert_eq!(figures(&v), (2, 0, 1, 0), "{v:#}");
    assert_eq!(state("f2032"), Some(true), "it left the feed");
    assert_eq!(
        state("p2021"),
        Some(false),
        "beyond the nearest, not cancelled"
    );
    assert!(
        v["problems"]
            .to_string()
            .contains("now beyond the nearest max_events: 1"),
        "{v:#}"
    );
    net.shutdown().await;
}

/// Feeds of upcoming events (Meetup's, Gancio's) drop each event once it is over: an event that
/// ended is let go as it was, while one still to come that leaves the feed is cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_ended_and_left_the_feed_is_not_cancelled() {
    let (fx, addr) = fixture().await;
    let ev = |name: &str, day: &str| vevent(Some(&format!("{name}@x")), name, day, "");
    let past = ev("p2020", "20200110T190000");
    let all_day = "BEGIN:VEVENT\r\nUID:d2021@x\r\nDTSTAMP:20201201T100000Z\r\n\
                   DTSTART;VALUE=DATE:20210110\r\nSUMMARY:Fair\r\nEND:VEVENT\r\n"
        .to_string();
    let weekly = vevent(
        Some("w2020@x"),
        "Weekly until 2021",
        "20200106T190000",
        "RRULE:FREQ=WEEKLY;UNTIL=20210101T000000Z\r\n",
    );
    let (f2030, f2031, f2032) = (
        ev("f2030", "20300110T190000"),
        ev("f2031", "20310110T190000"),
        ev("f2032", "20320110T190000"),
    );
    fx.feed(
        "/upcoming.ics",
        calendar(&[
            past,
            all_day,
            weekly,
            f2030.clone(),
            f2031.clone(),
            f2032.clone(),
        ]),
    );
    let net = TestNet::new(1, 3).await;
    net.configure(0, &[], |c| {
        c.sources = vec![source("s", addr, "/upcoming.ics", true)]
    })
    .await;
    let a = net.node(0);
    let cancelled = |uid: &str| is_cancelled(a, &format!("{uid}@x"));
    let v = poll(a, "s").await;
    assert_eq!(figures(&v), (6, 0, 0, 0), "{v:#}");
    fx.feed("/upcoming.ics", calendar(&[f2030.clone(), f2031.clone()]));
    let v = poll(a, "s").await;
    assert_eq!(figures(&v), (0, 0, 1, 0), "{v:#}");
    assert_eq!(cancelled("f2032"), Some(true), "still to come: cancelled");
    for uid in ["p2020", "d2021", "w2020"] {
        assert_eq!(cancelled(uid), Some(false), "{uid} had ended");
    }
    assert!(
        v["problems"]
            .to_string()
            .contains("no longer listed, had ended: 3"),
        "{v:#}"
    );
    // Let go: a later poll neither cancels them nor counts them again.
    let f2033 = ev("f2033", "20330110T190000");
    fx.feed("/upcoming.ics", calendar(&[f2030, f2031, f2033]));
    let v = poll(a, "s").await;
    assert_eq!(figures(&v), (1, 0, 0, 0), "{v:#}");
    assert!(!v["problems"].to_string().contains("had ended"), "{v:#}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_cut_off_mid_download_cancels_nothing() {
    let (fx, net, events) = subscribed("/cut.ics", 10).await;
    let a = net.node(0);
    let cancelled = |a: &NodeHandle| numbered(a, 10, true);
    // A server that stopped writing in the middle of the tenth event (a script's timeout):
    // the nine whole events are read, the tenth is not, and nothing is cancelled for it.
    let whole = calendar(&events[..9]);
    let cut = format!(
        "{}{}",
        whole.trim_end_matches("END:VCALENDAR\r\n"),
        &events[9][..40]
    );
    fx.feed("/cut.ics", cut);
    let v = poll(a, "s").await;
    assert_eq!(figures(&v), (0, 0, 0, 0), "{v:#}");
    assert!(
        v["problems"].to_string().contains("stops before its end"),
        "{v:#}"
    );
    assert_eq!(cancelled(a), 0);
    // The same nine events in a whole document: the tenth left the source.
    fx.feed("/cut.ics", whole);
    let v = poll(a, "s").await;
    assert_eq!(figures(&v), (0, 0, 1, 0), "{v:#}");
    assert_eq!(cancelled(a), 1);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feeds_x_wr_timezone_places_its_floating_times_unless_the_operator_names_one() {
    let (fx, addr) = fixture().await;
    fx.feed(
        "/wp.ics",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//WordPress//EN\r\n\
         X-WR-TIMEZONE:Europe/Berlin\r\nBEGIN:VEVENT\r\nUID:wp-1@lug.example\r\n\
         DTSTART:20270105T190000\r\nDTEND:20270105T210000\r\nSUMMARY:Stammtisch\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
            .into(),
    );
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    let zoned = SourceEntry {
        tz: Some("America/New_York".into()),
        ..source("ny", addr, "/wp.ics", true)
    };
    for (entry, want) in [
        (source("wp", addr, "/wp.ics", true), "Europe/Berlin"),
        // The operator's word wins over the feed's.
        (zoned, "America/New_York"),
    ] {
        let name = entry.name.clone();
        net.configure(0, &[], |c| c.sources = vec![entry]).await;
        let v = poll(a, &name).await;
        assert_eq!(figures(&v).3, 0, "{v:#}");
        let key = EventKey {
            origin: a.key(),
            uid: "wp-1@lug.example".into(),
        };
        let e = held(a, &key).unwrap();
        assert_eq!(e.content().master.start.tzid(), Some(want), "{name}");
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_addresses_are_refused_at_every_redirect() {
    let (fx, addr) = fixture().await;
    fx.feed(
        "/cal.ics",
        calendar(&[vevent(Some("a@x"), "A", "20370110T190000", "")]),
    );
    // Unmarked: the fixture on loopback itself is refused.
    let net = one_node(addr, "/cal.ics", false).await;
    let a = net.node(0);
    let v = poll(a, "s").await;
    assert!(
        v["last_error"]
            .as_str()
            .unwrap()
            .contains("loopback, private or special"),
        "{v:#}"
    );
    assert_eq!(v["events"], 0);
    // The fixture treated as public, so the redirect is what is checked.
    a.shared()
        .sources
        .fetcher("http://test")
        .unwrap()
        .exempt
        .lock()
        .unwrap()
        .push(addr);
    let inside = format!("http://{addr}/cal.ics");
    for (i, to) in [
        "http://127.0.0.1:9/x.ics",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x.ics",
        "http://10.0.0.1/x.ics",
        "http://localhost:9/x.ics",
        inside.as_str(),
    ]
    .iter()
    .enumerate()
    {
        let path = format!("/r{i}");
        fx.set(
            &path,
            Doc {
                location: Some((*to).to_string()),
                status: 302,
                ..Doc::default()
            },
        );
        net.configure(0, &[], |c| {
            c.sources = vec![source("s", addr, &path, false)]
        })
        .await;
        let v = poll(a, "s").await;
        if *to == inside {
            assert!(
                v["last_error"].is_null(),
                "a redirect within the allowed host: {v:#}"
            );
            assert_eq!(v["events"], 1);
        } else {
            let e = v["last_error"].as_str().unwrap_or_default();
            assert!(e.contains("loopback, private or special"), "{to}: {v:#}");
        }
    }
    // Redirect loops stop.
    fx.set(
        "/loop",
        Doc {
            location: Some("/loop".into()),
            status: 302,
            ..Doc::default()
        },
    );
    net.configure(0, &[], |c| {
        c.sources = vec![source("s", addr, "/loop", true)]
    })
    .await;
    let v = poll(a, "s").await;
    assert!(
        v["last_error"]
            .as_str()
            .unwrap()
            .contains("more than 5 redirects"),
        "{v:#}"
    );
    // Marked: allowed.
    net.configure(0, &[], |c| c.sources = vec![source("s", addr, "/r0", true)])
        .await;
    let v = poll(a, "s").await;
    assert!(
        !v["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("special"),
        "{v:#}"
    );
    net.shutdown().await;
}

fn fixture_page(name: &str) -> String {
    let path = format!("{}/tests/fixtures/pages/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_source_follows_its_page_and_robots_txt() {
    let (fx, addr) = fixture().await;
    let scheduled =
        fixture_page("graph-cancelled.html").replace("EventCancelled", "EventScheduled");
    fx.feed("/events/hack-night", scheduled);
    // Read to 500 KiB (RFC 9309 §2.5): a rule past that, here one that would disallow the
    // event page, is not seen.
    let filler = "# a robots.txt padded with comments, as some sites' are\n".repeat(10_000);
    fx.feed(
        "/robots.txt",
        format!("User-agent: *\nDisallow: /private/\n{filler}Disallow: /events/\n"),
    );
    let net = TestNet::new(1, 3).await;
    let page = |path: &str| SourceEntry {
        kind: SourceKind::Page,
        tz: Some("Europe/Berlin".into()),
        ..source("p", addr, path, true)
    };
    net.configure(0, &[], |c| c.sources = vec![page("/events/hack-night")])
        .await;
    let a = net.node(0);
    let v = poll(a, "p").await;
    assert_eq!(figures(&v), (1, 0, 0, 0), "{v:#}");
    let key = EventKey {
        origin: a.key(),
        uid: "https://hackspace.example.net/events/hack-night".into(),
    };
    let e = held(a, &key).unwrap();
    assert_eq!(title(&e), "Hack night");
    assert_eq!(e.content().master.status, Some(Status::Confirmed));
    // The page now says the event is cancelled.
    fx.feed("/events/hack-night", fixture_page("graph-cancelled.html"));
    let v = poll(a, "p").await;
    assert_eq!(figures(&v), (0, 0, 1, 0), "{v:#}");
    assert_eq!(
        held(a, &key).unwrap().content().master.status,
        Some(Status::Cancelled)
    );
    // robots.txt is obeyed: a disallowed page is not fetched at all.
    fx.feed("/private/party", fixture_page("h-event.html"));
    let private = SourceEntry {
        name: "q".into(),
        ..page("/private/party")
    };
    net.configure(0, &[], |c| c.sources = vec![private]).await;
    let before = fx.requests.load(Relaxed);
    let v = poll(a, "q").await;
    assert!(
        v["last_error"].as_str().unwrap().contains("disallows"),
        "{v:#}"
    );
    assert_eq!(v["events"], 0);
    assert_eq!(
        fx.requests.load(Relaxed),
        before,
        "robots.txt was cached; the page was not asked for"
    );
    net.shutdown().await;
}

fn event_page(title: &str, day: u32) -> String {
    format!(
        r#"<html><head><script type="application/ld+json">{{"@context":"https://schema.org","@type":"Event","name":"{title}","startDate":"2037-02-{day:02}T19:00:00+01:00","location":{{"@type":"Place","name":"Hall"}}}}</script></head><body>{title}</body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sitemap_source_reads_its_pages_and_an_unreadable_page_cancels_nothing() {
    let (fx, addr) = fixture().await;
    let sitemap = |paths: &[&str]| {
        let urls: String = paths
            .iter()
            .map(|p| format!("<url><loc>http://{addr}{p}?a=1&amp;b=2</loc></url>"))
            .collect();
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#
        )
    };
    fx.feed("/sitemap.xml", sitemap(&["/e/1", "/e/2", "/about"]));
    fx.feed("/e/1", event_page("Talk one", 1));
    fx.feed("/e/2", event_page("Talk two", 2));
    fx.feed("/about", "<html><body>About us</body></html>".into());
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    let map = SourceEntry {
        allow_private: true,
        ..SourceEntry::new(
            "map",
            &format!("http://{addr}/sitemap.xml"),
            SourceKind::Sitemap,
        )
    };
    net.configure(0, &[], |c| c.sources = vec![map.clone()])
        .await;
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (2, 0, 0, 0), "{v:#}");
    // A page that fails: the poll is incomplete, its event is not cancelled.
    fx.set(
        "/e/2",
        Doc {
            status: 500,
            body: "down".into(),
            ..Doc::default()
        },
    );
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (0, 0, 0, 0), "{v:#}");
    assert!(
        v["problems"].to_string().contains("none cancelled"),
        "{v:#}"
    );
    // The sitemap drops the page: its event is cancelled.
    fx.feed("/sitemap.xml", sitemap(&["/e/1", "/about"]));
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (0, 0, 1, 0), "{v:#}");

    // A listing page: its same-site links are read (depth 1); other sites' are not.
    fx.feed(
        "/events",
        r#"<html><body><a href="/e/1">one</a> <a href="e/3#top">three</a> <a href="http://other.example/e/9">elsewhere</a> <a href="/style.css">css</a></body></html>"#.to_string(),
    );
    fx.feed("/e/3", event_page("Talk three", 3));
    let list = SourceEntry {
        allow_private: true,
        ..SourceEntry::new(
            "list",
            &format!("http://{addr}/events"),
            SourceKind::Sitemap,
        )
    };
    net.configure(0, &[], |c| c.sources = vec![map, list]).await;
    let v = poll(a, "list").await;
    assert_eq!(figures(&v).0, 2, "{v:#}");
    assert_eq!(v["events"], 2);
    net.shutdown().await;
}

/// A page or feed that answers `410 Gone` says its events are gone for good: they are
/// cancelled, once the shrink rule's polls confirm it for a page source, at once for one page
/// of a crawl. A 404 is a failed poll and cancels nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_gone_for_good_cancels_its_events_and_a_missing_one_does_not() {
    let (fx, addr) = fixture().await;
    fx.feed("/e/5", event_page("Install party", 5));
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    let page = SourceEntry {
        kind: SourceKind::Page,
        ..source("p", addr, "/e/5", true)
    };
    net.configure(0, &[], |c| c.sources = vec![page.clone()])
        .await;
    assert_eq!(figures(&poll(a, "p").await), (1, 0, 0, 0));
    let uid = format!("http://{addr}/e/5");
    let answer = |status: u16| Doc {
        status,
        body: "<html><body>Not here</body></html>".into(),
        ..Doc::default()
    };
    fx.set("/e/5", answer(404));
    let v = poll(a, "p").await;
    assert_eq!(
        (v["last_status"].as_u64(), v["failures"].as_u64()),
        (Some(404), Some(1)),
        "{v:#}"
    );
    assert!(v["held_back"].is_null(), "{v:#}");
    assert_eq!(is_cancelled(a, &uid), Some(false));
    fx.set("/e/5", answer(410));
    for round in 1..3 {
        let v = poll(a, "p").await;
        assert_eq!(v["last_status"], 410, "{v:#}");
        assert_eq!(v["held_back"]["polls"], round, "{v:#}");
        assert!(v["problems"].to_string().contains("HTTP 410 Gone"), "{v:#}");
        assert_eq!(is_cancelled(a, &uid), Some(false), "round {round}");
    }
    let v = poll(a, "p").await;
    assert_eq!(figures(&v), (0, 0, 1, 0), "{v:#}");
    assert_eq!(is_cancelled(a, &uid), Some(true));

    // One page of a crawl: the sitemap still names it, the page says it is gone.
    fx.feed(
        "/sitemap.xml",
        format!(
            r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>http://{addr}/e/1</loc></url><url><loc>http://{addr}/e/2</loc></url></urlset>"#
        ),
    );
    fx.feed("/e/1", event_page("Talk one", 1));
    fx.feed("/e/2", event_page("Talk two", 2));
    let map = SourceEntry {
        kind: SourceKind::Sitemap,
        ..source("map", addr, "/sitemap.xml", true)
    };
    net.configure(0, &[], |c| c.sources = vec![page, map]).await;
    assert_eq!(figures(&poll(a, "map").await), (2, 0, 0, 0));
    fx.set("/e/2", answer(404));
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (0, 0, 0, 0), "{v:#}");
    fx.set("/e/2", answer(410));
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (0, 0, 1, 0), "{v:#}");
    assert!(
        v["problems"][0]
            .as_str()
            .unwrap()
            .ends_with("/e/2: HTTP 410 Gone: its events are gone"),
        "{v:#}"
    );
    assert_eq!(is_cancelled(a, &format!("http://{addr}/e/2")), Some(true));
    assert_eq!(is_cancelled(a, &format!("http://{addr}/e/1")), Some(false));
    net.shutdown().await;
}

/// A sitemap larger than `max_pages`: the newest pages are read first, and the pages left
/// unread may hold events taken before, so such a poll cancels nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crawl_stopped_at_max_pages_reads_the_newest_and_cancels_nothing() {
    let (fx, addr) = fixture().await;
    let sitemap = |pages: &[(&str, &str)]| {
        let urls: String = pages
            .iter()
            .map(|(p, m)| format!("<url><loc>http://{addr}{p}</loc><lastmod>{m}</lastmod></url>"))
            .collect();
        format!(
            r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#
        )
    };
    for (p, day) in [("/e/1", 1), ("/e/2", 2), ("/e/3", 3)] {
        fx.feed(p, event_page(&format!("Talk {day}"), day));
    }
    fx.feed(
        "/sitemap.xml",
        sitemap(&[("/e/1", "2026-10-01"), ("/e/2", "2026-11-01")]),
    );
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    let map = SourceEntry {
        allow_private: true,
        max_pages: 2,
        ..SourceEntry::new(
            "map",
            &format!("http://{addr}/sitemap.xml"),
            SourceKind::Sitemap,
        )
    };
    net.configure(0, &[], |c| c.sources = vec![map]).await;
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (2, 0, 0, 0), "{v:#}");
    // A third page, newest, listed last: it is read, /e/1 (oldest) is not, and /e/1's event
    // is not cancelled for it.
    fx.feed(
        "/sitemap.xml",
        sitemap(&[
            ("/e/1", "2026-10-01"),
            ("/e/2", "2026-11-01"),
            ("/e/3", "2026-12-01"),
        ]),
    );
    let v = poll(a, "map").await;
    assert_eq!(figures(&v), (1, 0, 0, 0), "{v:#}");
    let problems = v.to_string();
    assert!(problems.contains("stopped at max_pages = 2"), "{v:#}");
    assert!(problems.contains("none cancelled"), "{v:#}");
    assert_eq!(v["events"], 3, "{v:#}");
    net.shutdown().await;
}

/// DisCal's own event pages carry schema.org JSON-LD; another node's page source reads one
/// back into the same event (title, start in its zone, place, link).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_page_of_one_node_is_read_back_by_anothers_spider() {
    let net = TestNet::new(2, 3).await;
    let (a, b) = (net.node(0), net.node(1));
    let key = add(a, "Install party").await;
    let held_a = held(a, &key).unwrap();
    let url = format!(
        "http://{}{}",
        a.http_addr(),
        discal_gateway::display::event_path(&held_a)
    );
    let entry = SourceEntry {
        allow_private: true,
        tz: Some("Europe/Berlin".into()),
        ..SourceEntry::new("a", &url, SourceKind::Page)
    };
    net.configure(1, &[], |c| c.sources = vec![entry]).await;
    let v = poll(b, "a").await;
    assert_eq!(figures(&v), (1, 0, 0, 0), "{v:#}");
    let uid = &b.store().source_state("a").unwrap().unwrap().uids[0];
    let got = held(
        b,
        &EventKey {
            origin: b.key(),
            uid: uid.clone(),
        },
    )
    .unwrap();
    let (m, want) = (&got.content().master, &held_a.content().master);
    assert_eq!(m.summary, want.summary);
    assert_eq!(m.start, want.start, "the same wall time in the same zone");
    assert_eq!(m.location, want.location);
    assert_eq!(m.description, want.description);
    // schema.org's url of an event is its page.
    assert_eq!(m.url.as_deref(), Some(url.as_str()));
    net.shutdown().await;
}

/// The fetch's manners: a gzip body is read, `Cache-Control: max-age` puts the next poll off,
/// `Retry-After` on a 503 too, and failures back off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_bodies_cache_control_and_retry_after() {
    let (fx, addr) = fixture().await;
    let ev = vevent(Some("z@x"), "Zipped", "20370110T190000", "");
    fx.set(
        "/cal.ics",
        Doc {
            body: calendar(&[ev]),
            status: 200,
            gzip: true,
            headers: vec![("cache-control", "public, max-age=10800".into())],
            ..Doc::default()
        },
    );
    let net = one_node(addr, "/cal.ics", true).await;
    let a = net.node(0);
    let v = poll(a, "s").await;
    assert_eq!(figures(&v).0, 1, "{v:#}");
    let due = |v: &serde_json::Value| {
        v["next_due_ms"].as_i64().unwrap() - v["last_poll_ms"].as_i64().unwrap()
    };
    assert!(
        due(&v) >= 10_800_000,
        "max-age of 3 h beats every = 1h: {v:#}"
    );
    fx.set(
        "/cal.ics",
        Doc {
            body: "busy".into(),
            status: 503,
            headers: vec![("retry-after", "7200".into())],
            ..Doc::default()
        },
    );
    let v = poll(a, "s").await;
    assert_eq!(v["last_status"], 503);
    assert!(due(&v) >= 7_200_000, "{v:#}");
    assert_eq!(v["events"], 1, "a 503 cancels nothing");
    fx.set(
        "/cal.ics",
        Doc {
            body: "gone".into(),
            status: 500,
            ..Doc::default()
        },
    );
    let second = due(&poll(a, "s").await);
    let third = due(&poll(a, "s").await);
    assert!(third > second, "failures back off: {second} then {third}");
    net.shutdown().await;
}

/// Microdata and h-event pages over HTTP, as page sources: the right event with its place,
/// coordinates and time zone (the source's, for the microdata page's times without offset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_legacy_encodings_are_read_in_the_encoding_they_name() {
    let (fx, addr) = fixture().await;
    let page = |title: &str, place: &str, meta: &str| {
        format!(
            "<html><head>{meta}<script type=\"application/ld+json\">{{\"@context\":\
             \"https://schema.org\",\"@type\":\"Event\",\"name\":\"{title}\",\
             \"startDate\":\"2027-03-12T19:00:00+03:00\",\"location\":{{\"@type\":\"Place\",\
             \"name\":\"{place}\"}}}}</script></head><body></body></html>"
        )
    };
    // Named by the page itself (no charset in the header), and by the header alone.
    let ru = page(
        "Встреча линуксоидов",
        "Хакспейс",
        "<meta charset=\"windows-1251\">",
    );
    let pl = page("Spotkanie w Łodzi", "Łódź, ulica Piotrkowska", "");
    let by_meta = encoding_rs::WINDOWS_1251.encode(&ru).0.into_owned();
    let by_header = encoding_rs::ISO_8859_2.encode(&pl).0.into_owned();
    for (path, bytes, ctype) in [
        ("/ru", by_meta, "text/html"),
        ("/pl", by_header, "text/html; charset=iso-8859-2"),
    ] {
        fx.set(
            path,
            Doc {
                raw: Some(bytes),
                headers: vec![("content-type", ctype.into())],
                ..Doc::default()
            },
        );
    }
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    let src = |name: &str| SourceEntry {
        allow_private: true,
        ..SourceEntry::new(name, &format!("http://{addr}/{name}"), SourceKind::Page)
    };
    net.configure(0, &[], |c| c.sources = vec![src("ru"), src("pl")])
        .await;
    for (name, title, place) in [
        ("ru", "Встреча линуксоидов", "Хакспейс"),
        ("pl", "Spotkanie w Łodzi", "Łódź, ulica Piotrkowska"),
    ] {
        let v = poll(a, name).await;
        assert_eq!(figures(&v), (1, 0, 0, 0), "{v:#}");
        let uid = &a.store().source_state(name).unwrap().unwrap().uids[0];
        let key = EventKey {
            origin: a.key(),
            uid: uid.clone(),
        };
        let e = held(a, &key).unwrap();
        let m = &e.content().master;
        assert_eq!(m.summary.as_deref(), Some(title));
        assert_eq!(m.location.as_deref(), Some(place), "{name}");
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microdata_and_h_event_pages_over_http() {
    let (fx, addr) = fixture().await;
    fx.feed("/pug", fixture_page("microdata.html"));
    fx.feed("/repair", fixture_page("h-event.html"));
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    let page = |name: &str, path: &str| SourceEntry {
        allow_private: true,
        tz: Some("Europe/Berlin".into()),
        ..SourceEntry::new(name, &format!("http://{addr}{path}"), SourceKind::Page)
    };
    net.configure(0, &[], |c| {
        c.sources = vec![page("pug", "/pug"), page("repair", "/repair")]
    })
    .await;
    for (name, title, place, (lat, lon), start) in [
        (
            "pug",
            "Python Usergroup: Typing in practice",
            "Impact Hub, Gotzinger Str. 8, 81371 München",
            (48.1206, 11.5447),
            (2, 20, 18, 30),
        ),
        (
            "repair",
            "Repair café",
            "Stadtteilzentrum, Lindenstraße 5, 28195 Bremen",
            (53.0793, 8.8017),
            (3, 13, 14, 0),
        ),
    ] {
        let v = poll(a, name).await;
        assert_eq!(figures(&v), (1, 0, 0, 0), "{v:#}");
        let uid = &a.store().source_state(name).unwrap().unwrap().uids[0];
        let e = held(
            a,
            &EventKey {
                origin: a.key(),
                uid: uid.clone(),
            },
        )
        .unwrap();
        let m = &e.content().master;
        assert_eq!(m.summary.as_deref(), Some(title));
        assert_eq!(m.location.as_deref(), Some(place));
        let g = m.geo.unwrap();
        assert!((g.lat - lat).abs() < 1e-6 && (g.lon - lon).abs() < 1e-6);
        let (mo, d, h, mi) = start;
        assert_eq!(
            m.start,
            discal_protocol::DateTimeValue::Zoned {
                local: discal_protocol::model::LocalDateTime::from_chrono(
                    chrono::NaiveDate::from_ymd_opt(2027, mo, d)
                        .unwrap()
                        .and_hms_opt(h, mi, 0)
                        .unwrap()
                ),
                tzid: "Europe/Berlin".into(),
            }
        );
    }
    net.shutdown().await;
}
