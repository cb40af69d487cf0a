//! Serves the gateway over the test data set (gateway/tests/common) on 127.0.0.1, for the
//! interop checks with third-party parsers and the browser test that `.ci/run` drives.
//!
//! `fixture_server EXPECTED.json [BULK]`: writes what the store says (every event's title and
//! start, and each recurring event's instances over 2026) to EXPECTED.json, prints the base URL
//! on stdout, and serves until stdin closes. A line `retitle UID TITLE` on stdin publishes a new
//! revision of origin A's event UID with that title, as the origin node would (for the CalDAV
//! sync checks); `ok` is printed on stdout when it is stored.

#[path = "../tests/common/mod.rs"]
mod common;

use chrono::{TimeZone, Utc};
use discal_store::{Query, Store};
use serde_json::{json, Map, Value};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: fixture_server EXPECTED.json [BULK]")?;
    let bulk: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let store = Store::memory();
    common::fill(&store, bulk);

    let mut events = Map::new();
    for e in store.changes_since(0, usize::MAX)? {
        let m = &e.content().master;
        events.insert(
            e.payload.uid.clone(),
            json!({
                "summary": m.summary,
                "origin": e.payload.origin.to_string(),
                "cancelled": e.content().is_cancelled(),
            }),
        );
    }
    let (from, to) = (
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
    );
    let mut recurring = Map::new();
    for h in store
        .query(&Query {
            window: Some((from, to)),
            limit: 100_000,
            ..Query::default()
        })?
        .hits
    {
        if common::RECURRING.contains(&h.event.payload.uid.as_str()) {
            let starts: Vec<Value> = h
                .occurrences
                .iter()
                .map(|o| Value::String(o.start.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
                .collect();
            recurring.insert(h.event.payload.uid.clone(), starts.into());
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut gw = common::gateway(store, &url);
    // The map page is on, with a stand-in tile server on another loopback port.
    let tiles = common::tile_server().await;
    gw.node = std::sync::Arc::new(common::Configured(json!({
        "map": {"tiles": tiles, "attribution": "Test tiles"}
    })));
    let expected = json!({
        "base": url,
        "origin_a": common::secret(1).public().to_string(),
        "origin_b": common::secret(2).public().to_string(),
        "window": [from.to_rfc3339(), to.to_rfc3339()],
        "events": events,
        "recurring": recurring,
        "map_tiles": tiles,
    });
    std::fs::write(&out, serde_json::to_vec_pretty(&expected)?)?;
    println!("{url}");

    let store = gw.store.clone();
    let router = discal_gateway::router(gw);
    common::serve_until_stdin_closes(listener, store, router, |store, line| {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("retitle"), Some(uid), Some(title)) => retitle(store, uid, title),
            _ => Err(format!("unknown command {line:?}").into()),
        }
    })
    .await?;
    Ok(())
}

/// A new revision of one of origin A's events with another title.
fn retitle(store: &Store, uid: &str, title: &str) -> Result<(), Box<dyn std::error::Error>> {
    let a = common::secret(1);
    let held = store
        .get(&discal_protocol::EventKey {
            origin: a.public(),
            uid: uid.to_owned(),
        })?
        .ok_or("no such event")?;
    let mut content = held.payload.content.clone();
    content.master.summary = Some(title.to_owned());
    content.master.sequence += 1;
    let now = chrono::Utc::now().timestamp_millis();
    let ev = discal_protocol::sign(
        &a,
        uid.to_owned(),
        held.payload.revision + 1,
        now,
        content,
        &discal_protocol::Limits::default(),
    )?;
    store.apply(&ev, discal_store::Transit::local(), now)?;
    Ok(())
}
