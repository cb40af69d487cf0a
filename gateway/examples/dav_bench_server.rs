//! The gateway over the benchmark data set (10,000 events, 500 recurring), for the side-by-side
//! CalDAV benchmark against Radicale (gateway/benches/caldav_vs_radicale.py).
//!
//! `dav_bench_server [EXPORT_DIR]`: with EXPORT_DIR, first writes every event as one .ics file
//! there (exactly what this gateway serves for it) plus Radicale's collection properties, so
//! both servers hold the same data. Prints the base URL on stdout and serves until stdin
//! closes. CalDAV's object cache is warmed before the URL is printed. A line `change N` publishes
//! a new revision (new title) of the first N events; `ok` is printed when they are stored.
//! Every answer carries a `Server-Timing` header with the handler's own time.

#[path = "../tests/common/mod.rs"]
mod common;

use discal_store::{Query, Store, Transit};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let export = std::env::args().nth(1);
    let store = Store::memory();
    common::bench_data(&store, 10_000, 500);
    if let Some(dir) = &export {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            format!("{dir}/.Radicale.props"),
            r#"{"C:supported-calendar-component-set": "VEVENT", "D:displayname": "bench", "tag": "VCALENDAR"}"#,
        )?;
        for h in store
            .query(&Query {
                limit: 100_000,
                ..Query::default()
            })?
            .hits
        {
            let name = h.event.payload.uid.replace('@', "_");
            let ics = discal_gateway::feeds::ics_calendar(&store, "bench", [&h.event], None);
            std::fs::write(format!("{dir}/{name}.ics"), ics)?;
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let gw = common::gateway(store, &url);
    // As the node does at start (there on a background thread; here before the URL is
    // announced, so the benchmark's cold requests do not race it).
    gw.dav_objects.warm(&gw.store)?;
    discal_gateway::prepare_recurrences(&gw.store, (gw.clock)())?;
    if std::env::var_os("DISCAL_NO_WARM_UP").is_none() {
        discal_gateway::warm_up(&gw).await;
    }
    println!("{url}");
    let store = gw.store.clone();
    let router = discal_gateway::router(gw).layer(axum::middleware::from_fn(server_timing));
    common::serve_until_stdin_closes(listener, store, router, |store, line| {
        match line
            .strip_prefix("change ")
            .and_then(|n| n.trim().parse().ok())
        {
            Some(n) => change(store, n),
            None => Err(format!("unknown command {line:?}").into()),
        }
    })
    .await?;
    Ok(())
}

/// Adds `Server-Timing: handler;dur=<ms>`: the time from the request reaching the router to
/// its answer being built (the body is then only sent). The benchmark prints it next to what
/// the client measured, to tell the server's own time apart from the machine's wake-ups and
/// the loopback transfer.
async fn server_timing(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let t = std::time::Instant::now();
    let mut r = next.run(req).await;
    let dur = format!("handler;dur={:.3}", t.elapsed().as_secs_f64() * 1000.0);
    if let Ok(v) = axum::http::HeaderValue::from_str(&dur) {
        r.headers_mut().insert("server-timing", v);
    }
    r
}

/// A new revision of each of the first `n` events, retitled.
fn change(store: &Store, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let s = common::secret(7);
    let now = chrono::Utc::now().timestamp_millis();
    let mut evs = Vec::new();
    for i in 0..n {
        let uid = format!("ev-{i}@bench");
        let held = store
            .get(&discal_protocol::EventKey {
                origin: s.public(),
                uid: uid.clone(),
            })?
            .ok_or("no such event")?;
        let mut c = held.payload.content.clone();
        c.master.summary = Some(format!("Changed at {now}: event {i}"));
        c.master.sequence += 1;
        evs.push(discal_protocol::sign(
            &s,
            uid,
            held.payload.revision + 1,
            now,
            c,
            &discal_protocol::Limits::default(),
        )?);
    }
    store.apply_batch(evs.iter().map(|e| (e, Transit::local())), now)?;
    Ok(())
}
