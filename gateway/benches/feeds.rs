//! Gateway read benchmark (release): 10,000 events of which 500 recurring, served over real
//! loopback HTTP/1.1 keep-alive connections by the real router. Prints:
//! - full `/feed.ics` requests/s (target ≥ 200), and the first (uncached) render time;
//! - 304 revalidations/s with If-None-Match (target ≥ 20,000);
//! - a filtered month embed's p50/p99 latency, uncached (each request a distinct URL, so every
//!   one queries and renders; target p99 ≤ 10 ms), uncached and the first request for its
//!   month and zone (the store's expansions of recurring events are not cached either), and
//!   cached.
//!
//! `cargo bench -p discal-gateway --bench feeds`. DISCAL_BENCH_SECS sets seconds per
//! throughput run (default 3).

#[path = "../tests/common/mod.rs"]
mod common;

const EVENTS: usize = 10_000;
const RECURRING: usize = 500;

use std::time::{Duration, Instant};

use discal_store::Store;

/// One keep-alive connection through the project's HTTP client (reqwest, as the CLI and the
/// node's tests use): a client whose pool keeps one connection to the server.
struct Conn {
    http: reqwest::Client,
    base: String,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .tcp_nodelay(true)
            .build()
            .unwrap();
        Self {
            http,
            base: format!("http://{addr}"),
        }
    }

    /// Returns (status, etag, body length); `extra` holds header lines (`Name: value\r\n`).
    async fn get(&mut self, path: &str, extra: &str) -> (u16, String, usize) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for line in extra.split("\r\n").filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once(':').unwrap();
            req = req.header(k.trim(), v.trim());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let len = resp.bytes().await.unwrap().len();
        (status, etag, len)
    }
}

/// Requests/s over `conns` connections for `secs`, each asking for `path` with `extra` headers.
async fn throughput(
    addr: std::net::SocketAddr,
    conns: usize,
    secs: f64,
    path: &str,
    extra: &str,
    want: u16,
) -> f64 {
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (path, extra) = (path.to_owned(), extra.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let (status, _, _) = c.get(&path, &extra).await;
                assert_eq!(status, want, "{path}");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

fn main() {
    let secs: f64 = std::env::var("DISCAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::memory();
        let t = Instant::now();
        common::bench_data(&store, EVENTS, RECURRING);
        println!(
            "data set: {} events ({RECURRING} recurring), loaded in {:.1} s",
            store.len().unwrap(),
            t.elapsed().as_secs_f64()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gw = common::gateway(store, &format!("http://{addr}"));
        // The store's share of an uncached month embed: select, read, expand.
        let (f, _) = discal_protocol::view::ViewFilter::parse(
            [("tags", "linux,rust"), ("tz", "Europe/Berlin")],
            &[],
        )
        .unwrap();
        let first = chrono::NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        let window = discal_gateway::embeds::month_window(&f, first);
        let mut q = Vec::new();
        let mut n = 0;
        for _ in 0..200 {
            let t = Instant::now();
            let page =
                discal_gateway::read::fetch(&gw.store, &f, Some(window), 1000, true).unwrap();
            q.push(t.elapsed().as_secs_f64() * 1e3);
            n = page.hits.iter().map(|h| h.occurrences.len()).sum::<usize>();
        }
        println!(
            "month query alone (select, read, expand; {n} instances): p50 {:.2} ms, p99 {:.2} ms",
            pct(&mut q, 0.5),
            pct(&mut q, 0.99)
        );
        tokio::spawn(discal_gateway::serve(listener, gw, std::future::pending()));

        let mut c = Conn::open(addr).await;
        let t = Instant::now();
        let (status, etag, len) = c.get("/feed.ics", "").await;
        assert_eq!(status, 200);
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "/feed.ics: {:.1} MB, first (uncached) request {first_ms:.0} ms",
            len as f64 / 1e6
        );
        let full = throughput(addr, 2, secs, "/feed.ics", "", 200).await;
        println!("full /feed.ics: {full:.0} requests/s (target >= 200)");
        let gz = throughput(addr, 2, secs, "/feed.ics", "Accept-Encoding: gzip\r\n", 200).await;
        println!("full /feed.ics gzip: {gz:.0} requests/s");
        let inm = format!("If-None-Match: {etag}\r\n");
        let revalidate = throughput(addr, 2, secs, "/feed.ics", &inm, 304).await;
        println!("304 revalidations: {revalidate:.0} requests/s (target >= 20000)");

        // Uncached month embeds: a distinct URL each time (limit varies), so each request
        // selects, expands the recurring events of the month and renders.
        let mut cold = Vec::new();
        for i in 0..600 {
            let path = format!(
                "/embed?view=month&month=2027-03&tags=linux,rust&tz=Europe/Berlin&limit={}",
                200 + i
            );
            let t = Instant::now();
            let (status, _, len) = c.get(&path, "").await;
            assert_eq!(status, 200);
            assert!(len > 10_000, "the month view has events");
            cold.push(t.elapsed().as_secs_f64() * 1e3);
        }
        // The same, but each request the first for its (month, zone): nothing is cached, not
        // even the store's expansions of recurring events.
        // Months of 2027, where the one-off events are, each in 24 zones.
        let zones = [
            "Europe/Berlin", "Europe/Paris", "Europe/London", "Europe/Madrid", "Europe/Rome",
            "Europe/Vienna", "Europe/Zurich", "Europe/Prague", "Europe/Warsaw", "Europe/Oslo",
            "Europe/Lisbon", "Europe/Dublin", "Europe/Athens", "Europe/Helsinki", "Europe/Kyiv",
            "Europe/Brussels", "Europe/Amsterdam", "Europe/Stockholm", "Europe/Copenhagen",
            "Europe/Budapest", "America/New_York", "America/Chicago", "Asia/Tokyo",
            "Australia/Sydney",
        ];
        let mut first_time = Vec::new();
        for (i, z) in zones.iter().enumerate() {
            for m in 1..=12 {
                let path = format!(
                    "/embed?view=month&month=2027-{m:02}&tags=linux,rust&tz={z}&limit={}",
                    200 + i
                );
                let t = Instant::now();
                let (status, _, _) = c.get(&path, "").await;
                assert_eq!(status, 200);
                first_time.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        let mut warm = Vec::new();
        let path = "/embed?view=month&month=2027-03&tags=linux,rust&tz=Europe/Berlin";
        for _ in 0..2000 {
            let t = Instant::now();
            c.get(path, "").await;
            warm.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "filtered month embed, uncached: p50 {:.2} ms, p99 {:.2} ms (target p99 <= 10 ms)",
            pct(&mut cold, 0.5),
            pct(&mut cold, 0.99)
        );
        println!(
            "filtered month embed, uncached, first request for its month and zone ({} of them): p50 {:.2} ms, p99 {:.2} ms",
            first_time.len(),
            pct(&mut first_time, 0.5),
            pct(&mut first_time, 0.99)
        );
        println!(
            "filtered month embed, cached:   p50 {:.3} ms, p99 {:.3} ms",
            pct(&mut warm, 0.5),
            pct(&mut warm, 0.99)
        );
    });
}
