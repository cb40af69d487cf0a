//! Public pages benchmark (release): the home page over a 100,000-event store (5,000 of them
//! weekly-recurring), served over loopback by the real router. Prints the p50/p99 latency of
//! uncached home pages as visitors get them (each request a distinct URL through its `limit`,
//! so no rendered page is reused: list, agenda, month, a search, a tag filter; and pages in a
//! new time zone each, which also miss the store's expansions of recurring events), of the map
//! page and of event pages, and each page's size before compression (target: home p99 ≤ 20
//! ms uncached, pages under 50 KB).
//!
//! `cargo bench -p discal-gateway --bench home`; DISCAL_BENCH_N sets the number of events.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use discal_store::Store;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
}

async fn get(http: &reqwest::Client, url: &str) -> (u16, usize, f64) {
    let t = Instant::now();
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let len = r.bytes().await.unwrap().len();
    (status, len, t.elapsed().as_secs_f64() * 1e3)
}

fn main() {
    let n: usize = std::env::var("DISCAL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::memory();
        let t = Instant::now();
        common::bench_data(&store, n, n / 20);
        println!(
            "data set: {} events ({} recurring), loaded in {:.1} s",
            store.len().unwrap(),
            n / 20,
            t.elapsed().as_secs_f64()
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut gw = common::gateway(store, &base);
        // The map page on (no tile is fetched here: tiles are the visitor's browser's job).
        gw.node = std::sync::Arc::new(common::Configured(serde_json::json!({
            "map": {"tiles": "https://tiles.example.net/{z}/{x}/{y}.png"}
        })));
        tokio::spawn(discal_gateway::serve(listener, gw, std::future::pending()));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let pages = [
            ("home, list", "/?limit={n}"),
            ("home, agenda", "/?view=agenda&limit={n}"),
            ("home, month", "/?view=month&month=2027-03&limit={n}"),
            ("home, search", "/?q=evening&limit={n}"),
            ("home, search no event matches", "/?q=nowhere&limit={n}"),
            (
                "home, place (`place=venue 12`)",
                "/?place=venue%2012&limit={n}",
            ),
            ("home, tag", "/?tags=rust&limit={n}"),
            (
                "home, a tag no event has (the year after the page looked through for later events)",
                "/?tags=no-such-tag&limit={n}",
            ),
            ("home, in a new zone each time", "/?tz={z}"),
            (
                "map page (40 places of the next 1,000 events)",
                "/map?limit={n}",
            ),
            ("event page", "/events/KEY/ev-{i}@bench?tz={z}"),
        ];
        let key = common::secret(7).public().to_string();
        for (what, pattern) in pages {
            let (mut times, mut sizes) = (Vec::new(), Vec::new());
            for i in 0..300 {
                // A distinct zone each time: a distinct URL, so nothing is served from the cache.
                let z = chrono_tz::TZ_VARIANTS[i * 7 % chrono_tz::TZ_VARIANTS.len()].name();
                let path = pattern
                    .replace("{i}", &i.to_string())
                    .replace("{n}", &(50 + i).to_string())
                    .replace("{z}", &z.replace('+', "%2B"))
                    .replace("KEY", &key);
                let (status, len, ms) = get(&http, &format!("{base}{path}")).await;
                assert_eq!(status, 200, "{path}");
                times.push(ms);
                sizes.push(len as f64);
            }
            println!(
                "{what}, uncached: p50 {:.2} ms, p99 {:.2} ms; {:.1} KB (largest {:.1} KB)",
                pct(&mut times, 0.5),
                pct(&mut times, 0.99),
                pct(&mut sizes, 0.5) / 1024.0,
                pct(&mut sizes, 1.0) / 1024.0
            );
        }
    });
}
