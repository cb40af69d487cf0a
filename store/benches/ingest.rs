//! Store benchmark: `cargo bench -p discal-store --bench ingest`.
//!
//! Prints, for 100,000 distinct ~1 KB events from 50 origins (5% weekly-recurring with 52
//! instances, starts spread over 2024–2028):
//! - ingest rate: decode + verify + merge + durable (flushed) store, batches of 1,000, with
//!   decoding and verification on two threads feeding one writer (the node's ingest shape);
//! - month time-range query latency (p50/p99): which events, from the indexes; the first 50
//!   read and expanded; all of them read; a tag-filtered page;
//! - bytes on disk against the raw envelope bytes;
//! - resident memory after ingest;
//! - time to reopen in a fresh process, with and without the index snapshot, and its RSS;
//! - last, each half of ingest alone (decode+verify on one thread, merge+store as the writer
//!   runs it).
//!
//! The events are generated and signed by a child process into a file, so the measuring
//! process never holds them all. Knobs for investigation: `DISCAL_BENCH_N` (events),
//! `DISCAL_BENCH_CACHE_MB` (sled cache), `DISCAL_BENCH_KEEP=DIR` (keep the store).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use discal_protocol::model::{
    Component, DateTimeValue, Duration, End, EventContent, Geo, LocalDateTime,
};
use discal_protocol::{sign, Envelope, Limits, NodeSecret};
use discal_store::{Query, SledOptions, Store, Transit};
use rand::{Rng, SeedableRng};

/// Events in the run; `DISCAL_BENCH_N` scales it down for profiling.
fn n() -> usize {
    std::env::var("DISCAL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}
const BATCH: usize = 1_000;
const NOW: i64 = 1_790_000_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        generate(Path::new(&args[i + 1]));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--reopen") {
        reopen(Path::new(&args[i + 1]), &args[i + 2]);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        // `cargo test --benches` asks bench binaries to list their tests; there are none.
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    // DISCAL_BENCH_KEEP=DIR keeps the store there for inspection.
    let keep = std::env::var_os("DISCAL_BENCH_KEEP").map(std::path::PathBuf::from);
    let data = tmp.path().join("events.bin");
    let t = Instant::now();
    let ok = std::process::Command::new(std::env::current_exe().expect("exe"))
        .arg("--generate")
        .arg(&data)
        .status()
        .expect("generator")
        .success();
    assert!(ok, "generator failed");
    println!(
        "generated and signed {} events in {:.1} s (not part of the figures)",
        n(),
        t.elapsed().as_secs_f64()
    );

    let dir = keep.unwrap_or_else(|| tmp.path().join("store"));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir, &sled_options()).expect("open");
    println!("  (RSS before ingest: {:.0} MB)", rss_mb());
    let (raw_bytes, secs) = ingest(&store, &data);
    println!(
        "ingest: {} events, {:.1} MB raw, {:.2} s → {:.0} events/s (target ≥ 20,000)",
        n(),
        raw_bytes as f64 / 1e6,
        secs,
        n() as f64 / secs
    );
    assert_eq!(store.len().expect("len"), n() as u64);
    let rss_ingest = rss_mb();

    let month = month_query();
    let (n, p50, p99) = time(200, || store.select(&month).expect("select").items.len());
    println!(
        "month query (June 2026: which events, in order, from the indexes): {n} events, p50 {p50:.2} ms, p99 {p99:.2} ms (target ≤ 5 ms)"
    );
    let first = Query {
        limit: 50,
        ..month.clone()
    };
    let (n, p50, p99) = time(200, || store.query(&first).expect("query").hits.len());
    println!("month query, first {n} events read and expanded: p50 {p50:.2} ms, p99 {p99:.2} ms");
    let (n, p50, p99) = time(20, || store.query(&month).expect("query").hits.len());
    println!("month query, all {n} events read and expanded: p50 {p50:.2} ms, p99 {p99:.2} ms");
    let page = Query {
        tags: vec!["linux".into()],
        limit: 50,
        ..month.clone()
    };
    let (hits, p50, p99) = time(200, || store.query(&page).expect("query").hits.len());
    println!("month query, tag=linux, first {hits} read: p50 {p50:.2} ms, p99 {p99:.2} ms");

    let rss = rss_mb();
    store.close().expect("close");
    let disk = dir_size(&dir);
    println!(
        "disk: {:.1} MB for {:.1} MB raw envelopes = {:.2}× (target ≤ 2×)",
        disk as f64 / 1e6,
        raw_bytes as f64 / 1e6,
        disk as f64 / raw_bytes as f64
    );
    println!("RSS after ingest: {rss_ingest:.0} MB (target ≤ 150 MB); after the queries above: {rss:.0} MB");

    // Reopen in a fresh process, as a restarted node would: after a clean close (index
    // snapshot present), then as after a crash (no snapshot: the index is rebuilt from records).
    for label in ["after a clean close", "after a crash (no index snapshot)"] {
        let ok = std::process::Command::new(std::env::current_exe().expect("exe"))
            .arg("--reopen")
            .arg(&dir)
            .arg(label)
            .status()
            .expect("reopen")
            .success();
        assert!(ok, "reopen failed");
        let _ = std::fs::remove_file(dir.join("index.snapshot"));
    }
    phases(&data);
}

fn reopen(dir: &Path, label: &str) {
    let t = Instant::now();
    let store = Store::open(dir, &SledOptions::default()).expect("reopen");
    let n = store.len().expect("len");
    println!(
        "reopen {label}: {:.2} s for {n} events (target ≤ 2 s); RSS {:.0} MB",
        t.elapsed().as_secs_f64(),
        rss_mb()
    );
    let month = month_query();
    let (n, p50, _) = time(50, || store.select(&month).expect("select").items.len());
    let first = Query { limit: 50, ..month };
    let (m, p50_first, _) = time(50, || store.query(&first).expect("query").hits.len());
    println!(
        "  after reopen: month query {n} events p50 {p50:.2} ms, first {m} read p50 {p50_first:.2} ms; RSS {:.0} MB",
        rss_mb()
    );
}

/// Streams the data file through two verifier threads into the writer; returns raw bytes and
/// seconds.
fn ingest(store: &Store, data: &Path) -> (u64, f64) {
    let (raw_tx, raw_rx) = mpsc::sync_channel::<Vec<Vec<u8>>>(1);
    let raw_rx = std::sync::Mutex::new(raw_rx);
    let (ver_tx, ver_rx) = mpsc::sync_channel(1);
    let t = Instant::now();
    let mut raw_bytes = 0u64;
    std::thread::scope(|s| {
        for _ in 0..2 {
            let ver_tx = ver_tx.clone();
            let raw_rx = &raw_rx;
            s.spawn(move || loop {
                let Ok(chunk) = raw_rx.lock().expect("lock").recv() else {
                    return;
                };
                if ver_tx.send(verify_all(&chunk)).is_err() {
                    return;
                }
            });
        }
        drop(ver_tx);
        s.spawn(move || {
            let mut chunk = Vec::with_capacity(BATCH);
            for b in read_envelopes(data) {
                chunk.push(b);
                if chunk.len() == BATCH {
                    raw_tx
                        .send(std::mem::replace(&mut chunk, Vec::with_capacity(BATCH)))
                        .expect("send");
                }
            }
            if !chunk.is_empty() {
                raw_tx.send(chunk).expect("send");
            }
        });
        let mut writer_busy = 0.0;
        for batch in ver_rx {
            raw_bytes += batch
                .iter()
                .map(|e: &discal_protocol::VerifiedEvent| e.envelope().encode().len() as u64)
                .sum::<u64>();
            let w = Instant::now();
            store
                .apply_batch(batch.iter().map(|e| (e, Transit::local())), NOW)
                .expect("apply");
            writer_busy += w.elapsed().as_secs_f64();
        }
        println!("  (writer busy in apply_batch for {writer_busy:.2} s of the ingest)");
    });
    (raw_bytes, t.elapsed().as_secs_f64())
}

/// `DISCAL_BENCH_CACHE_MB` sets sled's cache, to see what memory depends on it.
fn sled_options() -> SledOptions {
    let mut o = SledOptions::default();
    if let Some(mb) = std::env::var("DISCAL_BENCH_CACHE_MB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        o.cache_bytes = mb << 20;
    }
    o
}

fn month_query() -> Query {
    Query {
        window: Some((
            Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap(),
        )),
        limit: usize::MAX,
        ..Query::default()
    }
}

/// The length-prefixed envelopes the generator wrote, streamed.
fn read_envelopes(path: &Path) -> impl Iterator<Item = Vec<u8>> {
    let mut reader = BufReader::new(File::open(path).expect("data"));
    std::iter::from_fn(move || {
        let mut len = [0u8; 4];
        reader.read_exact(&mut len).ok()?;
        let mut b = vec![0u8; u32::from_le_bytes(len) as usize];
        reader.read_exact(&mut b).expect("record");
        Some(b)
    })
}

/// Decodes and verifies one batch as the node does: signatures checked together.
fn verify_all(raw: &[Vec<u8>]) -> Vec<discal_protocol::VerifiedEvent> {
    let opened = raw
        .iter()
        .map(|b| {
            Envelope::decode(b)
                .expect("decode")
                .open(&Limits::default())
                .expect("open")
        })
        .collect();
    discal_protocol::verify_batch(opened, NOW, &Limits::default(), &mut rand::thread_rng())
        .into_iter()
        .map(|r| r.expect("verify"))
        .collect()
}

/// Verification alone and the writer alone, single-threaded, for attributing ingest time.
fn phases(data: &Path) {
    let raw: Vec<Vec<u8>> = read_envelopes(data).collect();
    let t = Instant::now();
    let verified: Vec<_> = raw.chunks(BATCH).flat_map(verify_all).collect();
    let v = t.elapsed().as_secs_f64();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), &SledOptions::default()).expect("open");
    let t = Instant::now();
    for chunk in verified.chunks(BATCH) {
        store
            .apply_batch(chunk.iter().map(|e| (e, Transit::local())), NOW)
            .expect("apply");
    }
    let w = t.elapsed().as_secs_f64();
    println!(
        "  (alone: decode+verify on one thread {:.1} µs/event; merge+store {:.1} µs/event, its records made on two threads)",
        v * 1e6 / raw.len() as f64,
        w * 1e6 / raw.len() as f64
    );
}

/// Runs `f` `runs` times; returns its last result and the p50 and p99 latency in ms.
fn time(runs: usize, mut f: impl FnMut() -> usize) -> (usize, f64, f64) {
    let mut times = Vec::with_capacity(runs);
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        n = f();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (n, times[runs / 2], times[(runs * 99 / 100).min(runs - 1)])
}

fn rss_mb() -> f64 {
    discal_store::heap::rss_bytes() as f64 / (1024.0 * 1024.0)
}

fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| {
                    let m = e.metadata().expect("metadata");
                    if m.is_dir() {
                        dir_size(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

const WORDS: &[&str] = &[
    "linux",
    "install",
    "party",
    "meetup",
    "talk",
    "workshop",
    "hacking",
    "free",
    "software",
    "community",
    "rust",
    "python",
    "debian",
    "privacy",
    "open",
    "data",
    "maps",
    "radio",
    "repair",
    "café",
    "bring",
    "laptop",
    "everyone",
    "welcome",
    "beginners",
    "advanced",
    "evening",
];

fn words(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| WORDS[rng.gen_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn generate(path: &Path) {
    let origins: Vec<NodeSecret> = (0..50u8)
        .map(|i| NodeSecret::from_seed(&[i + 1; 32]).expect("seed"))
        .collect();
    let chunks: Vec<Vec<Vec<u8>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let origins = &origins;
                s.spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                    (0..n() / 2)
                        .map(|i| {
                            let n = t as usize * (n() / 2) + i;
                            let secret = &origins[n % origins.len()];
                            let day = rng.gen_range(0..5 * 365);
                            let d = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date")
                                + chrono::Duration::days(day);
                            let start = LocalDateTime::from_chrono(
                                d.and_hms_opt(rng.gen_range(8..22), 0, 0).expect("time"),
                            );
                            let mut c = Component::new(DateTimeValue::Zoned {
                                local: start,
                                tzid: "Europe/Berlin".into(),
                            });
                            c.end = Some(End::Duration(Duration {
                                seconds: 7200,
                                ..Duration::default()
                            }));
                            c.summary = Some(words(&mut rng, 6));
                            c.description = Some(words(&mut rng, 100));
                            c.location = Some(format!("{}, Berlin", words(&mut rng, 3)));
                            c.url = Some(format!("https://events.example.org/{n}"));
                            c.categories = vec![
                                WORDS[rng.gen_range(0..5)].to_string(),
                                WORDS[rng.gen_range(5..WORDS.len())].to_string(),
                            ];
                            c.categories.dedup();
                            c.geo = Some(Geo {
                                lat: 52.0 + rng.gen_range(0.0..1.0),
                                lon: 13.0 + rng.gen_range(0.0..1.0),
                            });
                            if n % 20 == 0 {
                                c.rrule = Some("FREQ=WEEKLY;COUNT=52".into());
                            }
                            sign(
                                secret,
                                format!("ev-{n}@bench"),
                                0,
                                NOW,
                                EventContent::new(c),
                                &Limits::default(),
                            )
                            .expect("sign")
                            .envelope()
                            .encode()
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let mut w = BufWriter::new(File::create(path).expect("create"));
    // Interleave the two halves so batches mix origins and dates as a live network would.
    for i in 0..n() / 2 {
        for c in &chunks {
            let b = &c[i];
            w.write_all(&(b.len() as u32).to_le_bytes()).expect("write");
            w.write_all(b).expect("write");
        }
    }
    w.flush().expect("flush");
}
