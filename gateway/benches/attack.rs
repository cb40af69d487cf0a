//! The gateway under attack (issue 17's must-show), over real loopback connections to the
//! real server loop: a feed reader's p99 latency and the process's peak RSS while
//! - 1 and 8 clients send the CalDAV expand attacks in a loop: the review's multiget (one
//!   endless event named 100 times, expanded over 300 years; now refused at once) and the
//!   heaviest expansion still allowed (a calendar-query expanding every event over 366 days;
//!   now cut at the report budget with a 507), and a calendar-query whose property filter
//!   reads every event of three years as a calendar object;
//! - 1,000 idle connections are open, and 200 slowloris connections trickle header bytes.
//!
//! Targets: RSS under 500 MB, feed p99 under 50 ms. `cargo bench -p discal-gateway --bench
//! attack`; DISCAL_BENCH_SECS sets seconds per phase (default 4). Attackers connect from
//! 127.0.0.2–127.0.0.5, the reader from 127.0.0.1 (the per-address cap would otherwise refuse
//! the reader along with the attackers, as it should).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discal_protocol::ics::parse_calendar;
use discal_store::heap::rss_bytes;
use discal_store::{Store, Transit};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

const FEED: &str = "/feed.ics?tags=linux&days=60";

fn endless(store: &Store) -> String {
    let a = common::secret(1);
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:endless@attack\r\n\
         DTSTART:20200106T190000Z\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:endless\r\n\
         DESCRIPTION:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "x".repeat(4000)
    );
    let import = parse_calendar(&ics, &a.public(), &common::generous()).unwrap();
    let ev = &import.events[0];
    let signed = discal_protocol::sign(
        &a,
        ev.uid.clone(),
        0,
        common::ISSUED,
        ev.content.clone(),
        &common::generous(),
    )
    .unwrap();
    store
        .apply(&signed, Transit::local(), common::ISSUED)
        .unwrap();
    format!(
        "/dav/calendars/all/{}",
        discal_gateway::dav::item_name(&a.public(), "endless@attack")
    )
}

fn attack_bodies(href: &str) -> Vec<String> {
    let multiget = format!(
        r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data><C:expand start="19000101T000000Z" end="22000101T000000Z"/></C:calendar-data></D:prop>{}</C:calendar-multiget>"#,
        format!("<D:href>{href}</D:href>").repeat(100)
    );
    let query = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data><C:expand start="20270101T000000Z" end="20280101T000000Z"/></C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20270101T000000Z" end="20280101T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
    // A property filter makes the node read every event in the range as a calendar object.
    let filtered = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260101T000000Z" end="20290101T000000Z"/><C:prop-filter name="DESCRIPTION"><C:text-match collation="i;unicode-casemap">no such words</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
    vec![multiget, query.to_owned(), filtered.to_owned()]
}

/// A client bound to a loopback source address of its own.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(ip.parse::<std::net::IpAddr>().ok())
        .pool_max_idle_per_host(1)
        .build()
        .unwrap()
}

/// The reader's latencies (ms) for `secs`, sorted.
async fn read_feed(addr: SocketAddr, secs: f64) -> Vec<f64> {
    let c = client_from("127.0.0.1");
    let url = format!("http://{addr}{FEED}");
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut lat = Vec::new();
    while Instant::now() < deadline {
        let t = Instant::now();
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lat.sort_by(f64::total_cmp);
    lat
}

fn p(v: &[f64], q: f64) -> f64 {
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Samples the process's RSS until `stop`; returns the peak (MB).
fn sample_peak(stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<f64> {
    tokio::spawn(async move {
        let mut peak = 0u64;
        while !stop.load(Relaxed) {
            peak = peak.max(rss_bytes());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        peak as f64 / 1048576.0
    })
}

async fn under_expand_attack(addr: SocketAddr, attackers: usize, href: &str, secs: f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = sample_peak(stop.clone());
    let statuses = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for i in 0..attackers {
        let (stop, statuses, sent) = (stop.clone(), statuses.clone(), sent.clone());
        let bodies = attack_bodies(href);
        tasks.push(tokio::spawn(async move {
            let c = client_from(&format!("127.0.0.{}", 2 + i % 4));
            let url = format!("http://{addr}/dav/calendars/all/");
            let mut k = i;
            while !stop.load(Relaxed) {
                let r = c
                    .request(reqwest::Method::from_bytes(b"REPORT").unwrap(), &url)
                    .header("Depth", "1")
                    .body(bodies[k % bodies.len()].clone())
                    .send()
                    .await;
                k += 1;
                if let Ok(r) = r {
                    let status = r.status().as_u16();
                    let _ = r.bytes().await;
                    sent.fetch_add(1, Relaxed);
                    *statuses.lock().unwrap().entry(status).or_insert(0u64) += 1;
                }
            }
        }));
    }
    let lat = read_feed(addr, secs).await;
    stop.store(true, Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let peak = peak.await.unwrap();
    println!(
        "{attackers} expand attacker(s): feed p50 {:.1} ms, p99 {:.1} ms ({} reads); attack requests {} (statuses {:?}); RSS peak {peak:.0} MB (targets: p99 < 50 ms, RSS < 500 MB)",
        p(&lat, 0.5),
        p(&lat, 0.99),
        lat.len(),
        sent.load(Relaxed),
        statuses.lock().unwrap()
    );
}

async fn connect_from(ip: &str, addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpSocket::new_v4().ok()?;
    s.bind(format!("{ip}:0").parse().ok()?).ok()?;
    s.connect(addr).await.ok()
}

async fn under_connection_attack(addr: SocketAddr, idle: usize, slowloris: usize, secs: f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = sample_peak(stop.clone());
    let mut held = Vec::new();
    for i in 0..idle {
        if let Some(s) = connect_from(&format!("127.0.0.{}", 2 + i % 4), addr).await {
            held.push(s);
        }
    }
    let mut trickles = Vec::new();
    for i in 0..slowloris {
        let stop = stop.clone();
        let ip = format!("127.0.0.{}", 2 + i % 4);
        trickles.push(tokio::spawn(async move {
            let Some(mut s) = connect_from(&ip, addr).await else {
                return;
            };
            for b in b"GET /feed.ics HTTP/1.1\r\nHost: x\r\nX-Slow: "
                .iter()
                .cycle()
            {
                if stop.load(Relaxed) || s.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    let lat = read_feed(addr, secs).await;
    stop.store(true, Relaxed);
    for t in trickles {
        let _ = t.await;
    }
    let peak = peak.await.unwrap();
    println!(
        "{} idle + {slowloris} slowloris connections: feed p50 {:.1} ms, p99 {:.1} ms ({} reads); RSS peak {peak:.0} MB",
        held.len(),
        p(&lat, 0.5),
        p(&lat, 0.99),
        lat.len()
    );
}

fn main() {
    let secs: f64 = std::env::var("DISCAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::memory();
        common::bench_data(&store, 10_000, 500);
        let href = endless(&store);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gw = common::gateway(store, &format!("http://{addr}"));
        tokio::spawn(discal_gateway::serve(listener, gw, std::future::pending()));
        println!(
            "data set: 10,000 events (500 recurring) and one endless weekly event; RSS {:.0} MB",
            rss_bytes() as f64 / 1048576.0
        );
        let lat = read_feed(addr, secs).await;
        println!(
            "no attack: feed p50 {:.1} ms, p99 {:.1} ms ({} reads)",
            p(&lat, 0.5),
            p(&lat, 0.99),
            lat.len()
        );
        // What one property-filtered query costs alone: every event of the range read.
        let c = client_from("127.0.0.2");
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = c
                .request(
                    reqwest::Method::from_bytes(b"REPORT").unwrap(),
                    format!("http://{addr}/dav/calendars/all/"),
                )
                .header("Depth", "1")
                .body(attack_bodies(&href)[2].clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 207);
            let _ = r.bytes().await;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "a property-filtered calendar-query over three years alone: median {:.0} ms",
            p(&times, 0.5)
        );
        for attackers in [1, 8] {
            under_expand_attack(addr, attackers, &href, secs).await;
        }
        under_connection_attack(addr, 1000, 0, secs).await;
        under_connection_attack(addr, 0, 200, secs).await;
    });
}
