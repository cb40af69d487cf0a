//! The wild corpus (protocol/tests/data/wild) through DisCal and out as its feed, for the
//! round-trip checks with third-party parsers that `.ci/run` drives (issue 25).
//!
//! `wild_feed OUT_DIR`: imports every file of the corpus as a node would (bytes decoded,
//! every event that can be taken, signed and stored), writes the gateway's feed for 2027
//! (`GET /feed.ics?from=2027-01-01&to=2028-01-01`, through the real router) to
//! `OUT_DIR/feed.ics`, and what the store computes for each event with a fixed instant
//! (UTC or zoned; floating and all-day events depend on the reader's zone and are listed
//! apart) to `OUT_DIR/expected.json`: its instances' start and end instants over 2027.

#[path = "../tests/common/mod.rs"]
mod common;

use axum::body::{to_bytes, Body};
use axum::http::Request;
use chrono::{TimeZone, Utc};
use discal_protocol::model::DateTimeValue;
use discal_protocol::recur::{expand, ExpandLimits};
use discal_protocol::{ics, sign, Limits};
use discal_store::{Store, Transit};
use serde_json::{json, Map, Value};
use tower::ServiceExt as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::PathBuf::from(std::env::args().nth(1).ok_or("usage: wild_feed OUT_DIR")?);
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/data/wild");
    let origin = common::secret(9);
    let limits = Limits::default();
    let store = Store::memory();
    let (from, to) = (
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2028, 1, 1, 0, 0, 0).unwrap(),
    );
    let mut fixed = Map::new();
    let mut floating = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&corpus)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ics"))
    {
        let bytes = std::fs::read(path)?;
        let (text, _) = ics::decode_text(&bytes);
        let Ok(import) = ics::parse_calendar(&text, &origin.public(), &limits) else {
            continue;
        };
        for e in import.events {
            let ev = sign(
                &origin,
                e.uid.clone(),
                0,
                common::ISSUED,
                e.content,
                &limits,
            )?;
            store.apply(&ev, Transit::local(), common::ISSUED)?;
            let content = &ev.payload().content;
            if matches!(
                content.master.start,
                DateTimeValue::Floating(_) | DateTimeValue::Date(_)
            ) {
                floating.push(Value::String(e.uid));
                continue;
            }
            let occ = expand(content, from, to, chrono_tz::UTC, ExpandLimits::default())?;
            let fmt = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let list: Vec<Value> = occ
                .occurrences
                .iter()
                .map(|o| json!([fmt(o.start), fmt(o.end)]))
                .collect();
            fixed.insert(
                e.uid,
                json!({"instances": list, "cancelled": content.is_cancelled()}),
            );
        }
    }
    let gw = common::gateway(store, "http://wild.example");
    let router = discal_gateway::router(gw);
    let resp = router
        .oneshot(Request::get("/feed.ics?from=2027-01-01&to=2028-01-01").body(Body::empty())?)
        .await?;
    if !resp.status().is_success() {
        return Err(format!("feed answered {}", resp.status()).into());
    }
    let feed = to_bytes(resp.into_body(), 64 << 20).await?;
    std::fs::write(out.join("feed.ics"), &feed)?;
    let expected = json!({
        "window": [from.to_rfc3339(), to.to_rfc3339()],
        "events": fixed,
        "floating": floating,
    });
    std::fs::write(
        out.join("expected.json"),
        serde_json::to_vec_pretty(&expected)?,
    )?;
    println!(
        "{} events with fixed instants, {} floating or all-day",
        expected["events"].as_object().map_or(0, Map::len),
        floating_len(&expected)
    );
    Ok(())
}

fn floating_len(v: &Value) -> usize {
    v["floating"].as_array().map_or(0, Vec::len)
}
