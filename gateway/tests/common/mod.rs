//! The data set the gateway's tests, interop checks, browser test and benchmark share: a
//! handful of real-world shaped events (a weekly Europe/Berlin meetup across the March DST
//! change with an exception and a moved instance, a monthly New York event, all-day, floating,
//! cancelled) and hostile ones (markup in titles, line breaks in text, `javascript:` URLs,
//! texts at the protocol's size limit, right-to-left text and emoji), from two origins.
#![allow(dead_code)]

use std::sync::Arc;

use discal_gateway::{BoxFuture, Gateway, NodeApi, WriteError, WriteOp, Written};
use discal_protocol::ics::parse_calendar;
use discal_protocol::{sign, Limits, NodeSecret, VerifiedEvent};
use discal_store::{Store, Transit};

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use tower::ServiceExt as _;

/// When the fixture's revisions were issued (2026-06-01T00:00:00Z).
pub const ISSUED: i64 = 1_780_272_000_000;
/// The gateway's "now" in tests (2026-11-21T12:00:00Z).
pub const NOW: i64 = 1_795_262_400_000;

pub fn secret(n: u8) -> NodeSecret {
    NodeSecret::from_seed(&[n; 32]).unwrap()
}

/// Limits large enough for a 1 MB description (a peer with other limits could sign one).
pub fn generous() -> Limits {
    Limits {
        max_payload_bytes: 4 << 20,
        max_text_bytes: 2 << 20,
        ..Limits::default()
    }
}

pub const SAMPLE_ICS: &str = "BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:berlin-weekly@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20260106T190000\r
DTEND;TZID=Europe/Berlin:20260106T210000\r
RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261229T180000Z\r
EXDATE;TZID=Europe/Berlin:20260217T190000\r
SUMMARY:Linux User Group Berlin\r
DESCRIPTION:Weekly meeting.\\nBring your laptop.\r
LOCATION:c-base\\, Rungestraße 20\\, Berlin\r
GEO:52.5130;13.4200\r
CATEGORIES:linux,meetup\r
URL:https://lug.example.org/\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:berlin-weekly@example.org\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID;TZID=Europe/Berlin:20260331T190000\r
DTSTART;TZID=Europe/Berlin:20260331T200000\r
DTEND;TZID=Europe/Berlin:20260331T220000\r
SUMMARY:Linux User Group Berlin (moved)\r
CATEGORIES:linux,meetup\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:ny-monthly@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=America/New_York:20260130T183000\r
DURATION:PT2H\r
RRULE:FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20270630T000000Z\r
SUMMARY:NYC Rust Meetup\r
LOCATION:New York\r
GEO:40.7128;-74.0060\r
CATEGORIES:rust,meetup\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:hamburg-oneoff@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20261203T170000Z\r
DTEND:20261203T190000Z\r
SUMMARY:FSFE Hamburg: Free Software Evening\r
LOCATION:Hamburg\r
GEO:53.5511;9.9937\r
CATEGORIES:fsfe\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:allday@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20261205\r
DTEND;VALUE=DATE:20261207\r
SUMMARY:Hackathon weekend\r
CATEGORIES:hackathon\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:floating@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20261210T100000\r
DTEND:20261210T120000\r
SUMMARY:Install party (local time)\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:cancelled@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20261201T180000Z\r
DURATION:PT1H\r
SUMMARY:Cancelled talk\r
STATUS:CANCELLED\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:spring-series@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:20270316T190000\r
DURATION:PT2H\r
RRULE:FREQ=WEEKLY;COUNT=6\r
SUMMARY:Spring workshop series\r
LOCATION:Hackerspace, Berlin\r
CATEGORIES:workshop\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:hostile@example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20261204T180000Z\r
DURATION:PT1H\r
SUMMARY:<img src=x onerror=alert(1)><script>alert(2)</script>\\; a\\,b\r
DESCRIPTION:first line\\nATTENDEE:mailto:x@y<p>Bring <b>it</b></p><img src=x onerror=alert(\r
 4)><script>alert(5)</script><a href='javascript:alert(6)'>x</a><a href=\"https://ok.exam\r
 ple/\" onclick=\"alert(3)\">ok</a>\r
URL:javascript:alert(1)\r
LOCATION:مقهى القاهرة ☕ 🎉 café\r
GEO:30.0444;31.2357\r
CATEGORIES:hostile\r
END:VEVENT\r
END:VCALENDAR\r
";

/// The UIDs of the recurring fixture events.
pub const RECURRING: &[&str] = &["berlin-weekly@example.org", "ny-monthly@example.org"];

fn apply(store: &Store, evs: &[VerifiedEvent]) {
    let batch: Vec<(&VerifiedEvent, Transit)> = evs.iter().map(|e| (e, Transit::local())).collect();
    store.apply_batch(batch, ISSUED).unwrap();
}

/// Origin A's sample events, the 1 MB description, and `bulk` generated events from origin B.
pub fn fill(store: &Store, bulk: usize) {
    let a = secret(1);
    let limits = generous();
    let import = parse_calendar(SAMPLE_ICS, &a.public(), &limits).unwrap();
    assert!(import.errors.is_empty(), "{:?}", import.errors);
    let mut evs: Vec<VerifiedEvent> = import
        .events
        .into_iter()
        .map(|e| sign(&a, e.uid, 0, ISSUED, e.content, &limits).unwrap())
        .collect();
    // As large as the protocol lets any text be: the views must cut it, not choke on it.
    let mut big = evs[3].payload().content.clone();
    big.master.summary = Some(format!("Huge {}", "t".repeat(20_000)));
    big.master.description = Some("x".repeat(30_000));
    evs.push(
        sign(
            &a,
            "huge@example.org".into(),
            0,
            ISSUED,
            big,
            &Limits::default(),
        )
        .unwrap(),
    );
    apply(store, &evs);

    let b = secret(2);
    let mut gen = Vec::new();
    for i in 0..bulk {
        let day = 1 + (i % 28);
        let month = 1 + (i / 28) % 12;
        let ics = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:bulk-{i}@b.example\r\nDTSTART:2027{month:02}{day:02}T{:02}0000Z\r\nDURATION:PT1H\r\nSUMMARY:Bulk event {i}\\, part \"{}\"\r\nCATEGORIES:bulk\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            8 + i % 12,
            i % 7
        );
        let mut imp = parse_calendar(&ics, &b.public(), &limits).unwrap();
        let e = imp.events.remove(0);
        gen.push(sign(&b, e.uid, 0, ISSUED, e.content, &limits).unwrap());
        if gen.len() == 500 {
            apply(store, &gen);
            gen.clear();
        }
    }
    apply(store, &gen);
}

/// A node that refuses writes: these tests are about the read side.
pub struct ReadOnly;

impl NodeApi for ReadOnly {
    fn write(&self, _op: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>> {
        Box::pin(async { Err(WriteError::Unavailable("read-only test gateway".into())) })
    }
    fn status(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::json!({}) })
    }
    fn metrics(&self) -> String {
        String::new()
    }
}

/// A read-only node with settings, as the node's `config()` gives them (e.g. the map's tile
/// server).
pub struct Configured(pub serde_json::Value);

impl NodeApi for Configured {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>> {
        ReadOnly.write(op)
    }
    fn status(&self) -> BoxFuture<'_, serde_json::Value> {
        ReadOnly.status()
    }
    fn metrics(&self) -> String {
        String::new()
    }
    fn config(&self) -> serde_json::Value {
        self.0.clone()
    }
}

/// A stand-in tile server on a loopback port chosen by the OS: every `/{z}/{x}/{y}.svg` is a
/// grey square with its coordinates, so a map is recognisable in screenshots and no test
/// reaches a third party. Returns the URL template for `[map] tiles`.
pub async fn tile_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tile = |axum::extract::Path((z, x, y)): axum::extract::Path<(u8, u32, String)>| async move {
        let y = y.trim_end_matches(".svg").to_owned();
        (
            [(axum::http::header::CONTENT_TYPE, "image/svg+xml")],
            format!(
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"256\" height=\"256\">\
                 <rect width=\"256\" height=\"256\" fill=\"#dfe6df\" stroke=\"#b9c4b9\"/>\
                 <text x=\"8\" y=\"20\" font-size=\"12\" fill=\"#6b756b\">{z}/{x}/{y}</text></svg>"
            ),
        )
    };
    let app = axum::Router::new().route("/{z}/{x}/{y}", axum::routing::get(tile));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/{{z}}/{{x}}/{{y}}.svg")
}

/// A gateway over `store` whose clock says [`NOW`].
pub fn gateway(store: Store, public_url: &str) -> Gateway {
    let mut gw = Gateway::new(
        Arc::new(store),
        Arc::new(ReadOnly),
        "token",
        "Test calendar",
        public_url,
    );
    gw.clock = Arc::new(|| NOW);
    gw
}

pub const TAGS: [&str; 10] = [
    "linux",
    "rust",
    "python",
    "meetup",
    "workshop",
    "talk",
    "hackathon",
    "fsfe",
    "privacy",
    "web",
];

/// The benchmarks' data set: `events` realistic events, the first `recurring` of them weekly
/// Europe/Berlin rules started in 2026, the rest one-offs spread over 2027 (origin: secret 7).
pub fn bench_data(store: &Store, events: usize, recurring: usize) {
    let s = secret(7);
    let limits = Limits::default();
    let mut batch: Vec<VerifiedEvent> = Vec::new();
    for i in 0..events {
        let tag = TAGS[i % TAGS.len()];
        let tag2 = TAGS[(i / 7) % TAGS.len()];
        let (lat, lon) = (47.0 + (i % 80) as f64 * 0.1, 6.0 + (i % 90) as f64 * 0.1);
        let body = if i < recurring {
            format!(
                "DTSTART;TZID=Europe/Berlin:2026{:02}{:02}T{:02}0000\r\nDURATION:PT2H\r\nRRULE:FREQ=WEEKLY;INTERVAL={};BYDAY={}\r\n",
                1 + i % 12,
                1 + i % 28,
                17 + i % 4,
                1 + i % 3,
                ["MO", "TU", "WE", "TH", "FR"][i % 5]
            )
        } else {
            format!(
                "DTSTART:2027{:02}{:02}T{:02}{:02}00Z\r\nDURATION:PT90M\r\n",
                1 + (i / 28) % 12,
                1 + i % 28,
                8 + i % 12,
                (i % 4) * 15
            )
        };
        let ics = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:ev-{i}@bench\r\n{body}SUMMARY:Event number {i}: {tag} evening\r\nDESCRIPTION:A description of event {i}\\, long enough to be realistic: bring a laptop\\, questions and friends.\r\nLOCATION:Venue {i}\\, Some Street {}\r\nGEO:{lat:.4};{lon:.4}\r\nCATEGORIES:{tag},{tag2}\r\nURL:https://group.example/events/{i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            i % 200
        );
        let e = parse_calendar(&ics, &s.public(), &limits)
            .unwrap()
            .events
            .remove(0);
        batch.push(sign(&s, e.uid, 0, ISSUED, e.content, &limits).unwrap());
        if batch.len() == 1000 {
            store
                .apply_batch(batch.iter().map(|e| (e, Transit::local())), ISSUED)
                .unwrap();
            batch.clear();
        }
    }
    store
        .apply_batch(batch.iter().map(|e| (e, Transit::local())), ISSUED)
        .unwrap();
}

/// Serves `router` (the gateway's, perhaps with a layer around it) until stdin closes; each
/// stdin line goes to `command` on a thread of its own, and its answer (`ok` or `error: …`) is
/// printed on stdout. The example servers that the interop checks and the CalDAV benchmark
/// drive are built on this.
pub async fn serve_until_stdin_closes(
    listener: tokio::net::TcpListener,
    store: Arc<Store>,
    router: axum::Router,
    command: impl Fn(&Store, &str) -> Result<(), Box<dyn std::error::Error>> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            match command(&store, &line) {
                Ok(()) => println!("ok"),
                Err(e) => println!("error: {e}"),
            }
        }
        let _ = stop_tx.send(());
    });
    // On a worker, as the node runs it: served from `block_on`, every accepted connection
    // would be one more hand-off between threads.
    let serving = tokio::spawn(async move {
        let stop = async {
            let _ = stop_rx.await;
        };
        discal_gateway::serve_router(
            listener,
            router,
            discal_gateway::ServerLimits::default(),
            stop,
        )
        .await
    });
    serving.await.map_err(std::io::Error::other)?
}

/// A response read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// One request through the router (any method), the answer read whole.
pub async fn dav(
    app: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = to_bytes(resp.into_body(), 64 << 20).await.unwrap();
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&raw).into_owned(),
    }
}
