//! The collector's dedupe (issue 21), release build: 10,000 real events, each listed three
//! times (by its organiser's node, by a second node with a longer title five minutes off, and
//! by a third that took it from a feed), 30,000 listings in all. Prints:
//! - the store's ingest rate for the listings (dedupe adds nothing to ingest: it runs on the
//!   answer a read builds, so this figure is the same with and without it);
//! - the read path without dedupe (`read::fetch`) and with it (`read::fetch_collected`) for a
//!   month and for the whole year: ms per answer, listings in and entries out;
//! - `collapse` alone per 1,000 listings.
//!
//! `cargo bench -p discal-gateway --bench dedupe`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use chrono::{TimeZone, Utc};
use discal_gateway::read;
use discal_protocol::ics::parse_calendar;
use discal_protocol::view::ViewFilter;
use discal_protocol::{sign, Limits, VerifiedEvent};
use discal_store::{Store, Transit};

const REAL: usize = 10_000;
const VENUES: [&str; 8] = [
    "c-base, Rungestraße 20, Berlin",
    "Town hall, Neustadt",
    "Public library, Altstadt",
    "Hackerspace, Kreuzberg",
    "Community centre, Wedding",
    "Café Linux, Mitte",
    "University, room 101",
    "Makerspace, Friedrichshain",
];
const WORDS: [&str; 12] = [
    "Linux",
    "install",
    "party",
    "Rust",
    "meetup",
    "repair",
    "café",
    "OpenStreetMap",
    "mapping",
    "Python",
    "workshop",
    "evening",
];

fn listing(origin: u8, i: usize, variant: u8) -> String {
    let day = i % 365;
    let start = Utc.with_ymd_and_hms(2027, 1, 1, 17, 0, 0).unwrap()
        + chrono::Duration::days(day as i64)
        + chrono::Duration::minutes(((i / 365) % 8 * 30) as i64)
        + chrono::Duration::minutes(if variant == 1 { 5 } else { 0 });
    let title = format!(
        "{} {} {}",
        WORDS[i % 12],
        WORDS[(i / 12) % 12],
        WORDS[(i / 144) % 12]
    );
    let title = if variant == 1 {
        format!("{title}: everyone welcome")
    } else {
        title
    };
    let source = if variant == 2 {
        "X-DISCAL-SOURCE:https://feed.example/cal.ics\r\nX-DISCAL-SOURCE-HOP:1\r\n"
    } else {
        ""
    };
    format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:ev-{i}-{origin}@bench\r\nDTSTART:{}\r\nDURATION:PT2H\r\nSUMMARY:{title}\r\nLOCATION:{}\r\n{source}END:VEVENT\r\nEND:VCALENDAR\r\n",
        start.format("%Y%m%dT%H%M%SZ"),
        VENUES[(i / 7) % 8].replace(',', "\\,"),
    )
}

fn main() {
    let limits = Limits::default();
    let keys = [common::secret(31), common::secret(32), common::secret(33)];
    let mut evs: Vec<VerifiedEvent> = Vec::with_capacity(REAL * 3);
    for i in 0..REAL {
        for (v, k) in keys.iter().enumerate() {
            let ics = listing(v as u8, i, v as u8);
            let e = parse_calendar(&ics, &k.public(), &limits)
                .unwrap()
                .events
                .remove(0);
            evs.push(sign(k, e.uid, 0, common::ISSUED, e.content, &limits).unwrap());
        }
    }
    let store = Store::memory();
    let t = Instant::now();
    for chunk in evs.chunks(512) {
        let batch: Vec<(&VerifiedEvent, Transit)> =
            chunk.iter().map(|e| (e, Transit::local())).collect();
        store.apply_batch(batch, common::ISSUED).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest: {} listings in {secs:.2} s, {:.0} listings/s (dedupe adds no ingest work: it runs on answers)",
        evs.len(),
        evs.len() as f64 / secs
    );
    for (label, from, to) in [
        ("a month", "2027-03-01", "2027-04-01"),
        ("the year", "2027-01-01", "2028-01-01"),
    ] {
        let (f, _) = ViewFilter::parse([("from", from), ("to", to)], &[]).unwrap();
        let window = f.window(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), None);
        let runs = 5;
        let mut plain = (0.0, 0);
        let mut collected = (0.0, 0);
        for _ in 0..runs {
            let t = Instant::now();
            let p = read::fetch(&store, &f, window, 50_000, true).unwrap();
            plain = (
                plain.0 + t.elapsed().as_secs_f64() / runs as f64,
                p.hits.len(),
            );
            let t = Instant::now();
            let c = read::fetch_collected(&store, &f, window, 50_000, true).unwrap();
            collected = (
                collected.0 + t.elapsed().as_secs_f64() / runs as f64,
                c.hits.len(),
            );
        }
        println!(
            "{label}: without dedupe {:.1} ms for {} listings; with dedupe {:.1} ms, {} entries ({:.0} % of the time without)",
            plain.0 * 1e3,
            plain.1,
            collected.0 * 1e3,
            collected.1,
            100.0 * plain.0 / collected.0
        );
        if label == "the year" {
            assert_eq!(collected.1, REAL, "every real event once");
        }
    }
    let (f, _) = ViewFilter::parse([("from", "2027-01-01"), ("to", "2028-01-01")], &[]).unwrap();
    let window = f.window(chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), None);
    let hits = read::fetch(&store, &f, window, 50_000, true).unwrap().hits;
    let n = hits.len();
    let ov = store.dedupe_overrides().unwrap();
    let t = Instant::now();
    let out = read::collapse(hits, &ov);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "collapse: {n} listings into {} entries in {:.1} ms, {:.2} ms per 1,000 listings",
        out.len(),
        secs * 1e3,
        secs * 1e3 * 1000.0 / n as f64
    );
}
