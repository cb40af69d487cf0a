//! Prints what DisCal reads from event pages, as JSON, for the referee check
//! (node/tests/python/referee_pages.py compares it with extruct's reading of the same files):
//! `read_page FILE URL [ZONE]...` as `FILE URL ZONE` triples on the command line.

use discal_node::sources::page::read_page;
use discal_protocol::model::{DateTimeValue, End};
use discal_protocol::{Limits, NodeSecret};
use serde_json::json;

fn when(v: &DateTimeValue) -> serde_json::Value {
    let fmt = |l: &discal_protocol::model::LocalDateTime| {
        l.to_chrono()
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
            .unwrap_or_default()
    };
    match v {
        DateTimeValue::Date(_) => json!({"date": fmt(&v.local())[..10]}),
        DateTimeValue::Floating(l) => json!({"local": fmt(l)}),
        DateTimeValue::Utc(l) => json!({"utc": fmt(l)}),
        DateTimeValue::Zoned { local, tzid } => json!({"local": fmt(local), "tz": tzid}),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let key = NodeSecret::from_seed_array([9; 32]).public();
    let mut out = serde_json::Map::new();
    for t in args.chunks(3) {
        let (file, url) = (&t[0], &t[1]);
        let tz = t
            .get(2)
            .filter(|z| !z.is_empty())
            .and_then(|z| z.parse().ok());
        let html = std::fs::read_to_string(file).expect("a readable page");
        let page = read_page(&html, url, tz, &key, &Limits::default());
        let events: Vec<serde_json::Value> = page
            .reading
            .events
            .iter()
            .map(|e| {
                let m = &e.content.master;
                json!({
                    "uid": e.uid,
                    "name": m.summary,
                    "start": when(&m.start),
                    "end": match &m.end { Some(End::At(v)) => when(v), _ => serde_json::Value::Null },
                    "location": m.location,
                    "geo": m.geo.map(|g| [g.lat, g.lon]),
                    "status": m.status.map(|s| format!("{s:?}")),
                })
            })
            .collect();
        out.insert(
            file.clone(),
            json!({"events": events, "refused": page.reading.refused}),
        );
    }
    println!("{}", serde_json::Value::Object(out));
}
