//! Source polling benchmark: `cargo bench -p discal-node --bench sources`.
//!
//! A fixture server (this binary again, as a child process, so its CPU is not counted) serves
//! 1,000 iCalendar feeds of 10 events each, with ETags, and one feed of 10,000 events. One node
//! subscribes to all of them and polls them the way its schedule does (every source due at
//! once, the fetcher's limits of 2 requests per host and 32 in all). Printed:
//! - a cycle in which every source answers 304: wall time and CPU per unchanged source;
//! - a cycle with 900 unchanged (304) and 100 changed sources (one event each): wall time,
//!   CPU, and peak RSS over the node's own before the cycle;
//! - the 10,000-event feed: first poll (fetch, parse, sign and store all), then a poll after
//!   one event changed (fetch, parse, diff all, sign one);
//! - a feed of about 190,000 tiny events just under the 16 MiB body limit: what its first poll
//!   costs with the default `max_events`;
//! - hostile pages and robots.txt: what reading each costs.
//!
//! `DISCAL_BENCH_SOURCES` sets the number of small feeds (default 1000).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use discal_node::config::Config;
use discal_node::sources::{SourceEntry, SourceKind};
use discal_node::{Node, NodeOptions};
use discal_store::heap::rss_bytes;

const CHILD: &str = "DISCAL_BENCH_FIXTURE";

fn sources() -> usize {
    std::env::var("DISCAL_BENCH_SOURCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

fn feed(id: &str, events: usize, version: u64) -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    for i in 0..events {
        // Event 0 carries the version: a bump changes exactly one event.
        let title = if i == 0 {
            format!("Meetup {id}-{i} (v{version})")
        } else {
            format!("Meetup {id}-{i}")
        };
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:{id}-{i}@bench.example\r\nDTSTAMP:20261201T100000Z\r\n\
             DTSTART;TZID=Europe/Berlin:2027{:02}{:02}T190000\r\nDURATION:PT2H\r\n\
             SUMMARY:{title}\r\nLOCATION:Room {}\r\nCATEGORIES:linux,meetup\r\n\
             DESCRIPTION:Talks, demos and help with installing free software.\r\nEND:VEVENT\r\n",
            1 + i % 12,
            1 + i % 28,
            i % 40
        ));
    }
    s + "END:VCALENDAR\r\n"
}

/// A feed just under the fetcher's 16 MiB: as many events as fit, each of a few lines.
fn tiny_feed() -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    let mut i = 0;
    while s.len() < 15_900_000 {
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:t{i}@x\r\nDTSTART:2027{:02}{:02}T100000Z\r\nSUMMARY:t{i}\r\nEND:VEVENT\r\n",
            1 + i % 12,
            1 + i % 28
        ));
        i += 1;
    }
    s + "END:VCALENDAR\r\n"
}

/// The fixture server: `/s/{i}.ics` (10 events), `/big.ics` (10,000) and `/huge.ics` (about
/// 190,000 tiny events in 15.9 MB), each with an ETag
/// of its version; `POST /bump?n=K` changes feeds 0..K, `POST /bump-big` the big one.
fn serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let versions: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let v2 = versions.clone();
        let app = axum::Router::new()
            .route(
                "/{name}",
                axum::routing::get(
                    move |axum::extract::Path(name): axum::extract::Path<String>,
                          h: axum::http::HeaderMap| {
                        let versions = versions.clone();
                        async move {
                            let id = name.trim_end_matches(".ics").to_string();
                            let v = *versions.lock().unwrap().get(&id).unwrap_or(&0);
                            let etag = format!("\"{id}-{v}\"");
                            if h.get("if-none-match")
                                .is_some_and(|e| e.as_bytes() == etag.as_bytes())
                            {
                                return (
                                    axum::http::StatusCode::NOT_MODIFIED,
                                    [("etag", etag)],
                                    String::new(),
                                );
                            }
                            let body = match id.as_str() {
                                "huge" => tiny_feed(),
                                "big" => feed(&id, 10_000, v),
                                _ => feed(&id, 10, v),
                            };
                            (axum::http::StatusCode::OK, [("etag", etag)], body)
                        }
                    },
                ),
            )
            .route(
                "/bump/{what}",
                axum::routing::post(
                    move |axum::extract::Path(what): axum::extract::Path<String>| {
                        let versions = v2.clone();
                        async move {
                            let mut m = versions.lock().unwrap();
                            let ids: Vec<String> = match what.parse::<usize>() {
                                Ok(k) => (0..k).map(|i| format!("s{i}")).collect(),
                                Err(_) => vec![what],
                            };
                            for id in ids {
                                *m.entry(id).or_default() += 1;
                            }
                            "ok"
                        }
                    },
                ),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        axum::serve(l, app).await.unwrap();
    });
}

/// CPU time of this process (user + system), from /proc (clock ticks of 10 ms).
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields 14 and 15 of stat; after the ")" the state is field 3 (not a number).
    let ticks = f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// Samples RSS every 5 ms while `f` runs; returns its result and the peak.
async fn with_peak<T>(f: impl std::future::Future<Output = T>) -> (T, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_bytes()));
    let (s2, p2) = (stop.clone(), peak.clone());
    let sampler = std::thread::spawn(move || {
        while !s2.load(Relaxed) {
            p2.fetch_max(rss_bytes(), Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let out = f.await;
    stop.store(true, Relaxed);
    sampler.join().unwrap();
    (out, peak.load(Relaxed).max(rss_bytes()))
}

async fn cycle(node: &discal_node::NodeHandle, names: &[String]) -> (Duration, Duration, usize) {
    let (t, c) = (Instant::now(), cpu());
    let polls = names.iter().map(|n| node.poll_source(n));
    let results = futures::future::join_all(polls).await;
    let failed = results
        .iter()
        .filter(|r| r.as_ref().map_or(true, |v| !v["last_error"].is_null()))
        .count();
    (t.elapsed(), cpu().saturating_sub(c), failed)
}

fn main() {
    if std::env::var(CHILD).is_ok() {
        return serve();
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(&addr));
    let _ = child.kill();
    let _ = child.wait();
}

async fn run(addr: &str) {
    let n = sources();
    let entry = |name: String, path: String| SourceEntry {
        allow_private: true,
        ..SourceEntry::new(&name, &format!("http://{addr}/{path}"), SourceKind::Ics)
    };
    let mut cfg = Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        http: "127.0.0.1:0".into(),
        ..Config::default()
    };
    cfg.sources = (0..n)
        .map(|i| entry(format!("s{i}"), format!("s{i}.ics")))
        .collect();
    cfg.sources.push(entry("big".into(), "big.ics".into()));
    cfg.sources.push(entry("huge".into(), "huge.ics".into()));
    let dir = tempfile::tempdir().unwrap();
    let mut opts = NodeOptions::new(cfg, Some(dir.path().join("data")));
    opts.tuning.source_schedule = false;
    opts.gateway = false;
    let node = Node::spawn(opts).await.unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    let http = discal_node::client::http_client().build().unwrap();

    let (wall, _, failed) = cycle(&node, &names).await;
    println!(
        "first cycle: {n} sources, {} events taken in {:.2} s ({failed} failed)",
        n * 10,
        wall.as_secs_f64()
    );
    let (wall, cpu, failed) = cycle(&node, &names).await;
    println!(
        "all unchanged (304): {n} sources in {:.2} s wall, CPU {:.3} ms per unchanged source ({failed} failed)",
        wall.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / n as f64
    );
    let changed = n / 10;
    http.post(format!("http://{addr}/bump/{changed}"))
        .send()
        .await
        .unwrap();
    let idle = rss_bytes();
    let ((wall, cpu, failed), peak) = with_peak(cycle(&node, &names)).await;
    let published = node.metrics().published.load(Relaxed);
    println!(
        "{} unchanged + {changed} changed: {:.2} s wall, CPU {:.2} s, peak RSS {:.1} MB over the node's {:.1} MB ({failed} failed, {published} revisions signed so far)",
        n - changed,
        wall.as_secs_f64(),
        cpu.as_secs_f64(),
        peak.saturating_sub(idle) as f64 / 1048576.0,
        idle as f64 / 1048576.0,
    );
    let t = Instant::now();
    let v = node.poll_source("big").await.unwrap();
    println!(
        "10,000-event feed, first poll (fetch, parse, sign and store all): {:.2} s ({} new)",
        t.elapsed().as_secs_f64(),
        v["last"]["new"]
    );
    http.post(format!("http://{addr}/bump/big"))
        .send()
        .await
        .unwrap();
    let t = Instant::now();
    let v = node.poll_source("big").await.unwrap();
    println!(
        "10,000-event feed, one event changed (fetch, parse, diff all, sign one): {:.2} s ({} changed)",
        t.elapsed().as_secs_f64(),
        v["last"]["changed"]
    );
    let idle = rss_bytes();
    let t = Instant::now();
    let (v, peak) = with_peak(node.poll_source("huge")).await;
    let v = v.unwrap();
    println!(
        "hostile feed, 15.9 MB of {} tiny events (max_events {}): first poll in {:.2} s, peak RSS {:.1} MB over the node's {:.1} MB ({} new)",
        v["last"]["seen"],
        discal_node::sources::entry::DEFAULT_MAX_EVENTS,
        t.elapsed().as_secs_f64(),
        peak.saturating_sub(idle) as f64 / 1048576.0,
        idle as f64 / 1048576.0,
        v["last"]["new"]
    );
    node.shutdown().await;
    hostile_pages();
}

/// What a crawled page can cost: a page of 4 MB at most, nested as deep as it likes.
fn hostile_pages() {
    let key = discal_protocol::NodeSecret::from_seed_array([3; 32]).public();
    let limits = discal_protocol::Limits::default();
    let deep = |open: &str, close: &str| {
        let n = 100_000;
        format!(
            "<html><body>{}{}</body></html>",
            open.repeat(n),
            close.repeat(n)
        )
    };
    let pages = [
        (
            "100,000 nested h-events (5.6 MB, read to 4 MB)",
            deep("<div class=\"h-event\"><span class=\"p-name\">x</span>", "</div>"),
        ),
        (
            "an h-event holding 100,000 nested h-cards",
            format!(
                "<div class=h-event><span class=p-name>x</span><time class=dt-start datetime=2027-01-01>x</time>{}",
                "<div class=\"p-location h-card\">".repeat(100_000)
            ),
        ),
        (
            "250 nested divs, then 1,000,000 stray </p> (the worst within the nesting cap)",
            format!("<html><body>{}{}", "<div>".repeat(250), "</p>".repeat(1_000_000)),
        ),
        (
            "one element with 100,000 property classes over 1 MB of text",
            format!(
                "<div class=h-event><span class=p-name>n</span><time class=dt-start datetime=2027-01-01>x</time><div class=\"{}\">{}</div></div>",
                (0..100_000).map(|i| format!("p-x{i}")).collect::<Vec<_>>().join(" "),
                "y".repeat(1_000_000)
            ),
        ),
    ];
    let mut robots = String::from("User-agent: *\n");
    for i in 0..100_000 {
        robots.push_str(&format!("Disallow: /a*{i}*b*c*d$\n"));
    }
    let t = Instant::now();
    let robot = discal_node::sources::poll::read_robots(robots.clone().into_bytes()).unwrap();
    let read = t.elapsed();
    let t = Instant::now();
    let allowed = robot.allowed("https://x.example/zzzz/aaaa");
    println!(
        "hostile robots.txt, 100,000 wildcard rules ({:.1} MB, read to 500 KiB): read in {:.3} s, one page checked in {:.3} s (allowed: {allowed})",
        robots.len() as f64 / 1e6,
        read.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    // One VEVENT of 400,000 properties DisCal does not interpret (14 MB, under the 16 MiB
    // limit): the size trim once searched for the largest property per property dropped.
    let props = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:h@x\r\n\
         DTSTART:20270101T100000Z\r\n{}END:VEVENT\r\nEND:VCALENDAR\r\n",
        "Passcode: 1234 and more words here\r\n".repeat(400_000)
    );
    let t = Instant::now();
    let read = discal_protocol::ics::parse_calendar(&props, &key, &limits);
    println!(
        "hostile iCalendar, one VEVENT with 400,000 unknown properties ({:.1} MB): read in {:.2} s ({} events, {} refused)",
        props.len() as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        read.as_ref().map_or(0, |i| i.events.len()),
        read.as_ref().map_or(0, |i| i.errors.len())
    );
    for (what, html) in pages {
        let t = Instant::now();
        let p =
            discal_node::sources::page::read_page(&html, "https://x.example/", None, &key, &limits);
        println!(
            "hostile page, {what}: read in {:.3} s ({} events, {} notes)",
            t.elapsed().as_secs_f64(),
            p.reading.events.len(),
            p.reading.notes.len()
        );
    }
}
