//! End-to-end figures for the node (run with `cargo bench -p discal-node`):
//!
//! 1. events/s through a three-node line A–B–C over loopback TCP: A publishes imports of many
//!    events, the clock stops when C holds them all (target ≥ 5,000/s);
//! 2. catch-up of a node 10,000 events behind on a 100,000-event store: time until it holds
//!    them all, and sync bytes against the bytes of the missing envelopes (targets: < 10 s,
//!    ≤ 1.1×).
//!
//! Sizes: DISCAL_BENCH_E2E (default 20000), DISCAL_BENCH_STORE (100000),
//! DISCAL_BENCH_BEHIND (10000); DISCAL_BENCH_SPREAD=1 spreads the missing events over the
//! whole history instead of making them the latest.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use discal_gateway::WriteOp;
use discal_node::config::{Config, PeerEntry};
use discal_node::{identity, Node, NodeHandle, NodeOptions};
use discal_protocol::ics::{write_calendar, IcsEvent};
use discal_protocol::{Limits, NodeSecret};
use discal_store::{SledOptions, Store, Transit};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        http: "127.0.0.1:0".into(),
        sync_interval_secs: 3600,
        redial_max_secs: 1,
        // One origin publishes the whole bench: above the default day quota (10,000).
        origins: discal_node::config::Origins {
            max_revisions_per_day: 10_000_000,
            max_events: 10_000_000,
            max_mib: 100_000,
            ..Default::default()
        },
        ..Config::default()
    }
}

fn entry(h: &NodeHandle) -> PeerEntry {
    PeerEntry {
        key: h.key().to_string(),
        address: Some(h.listen_addrs()[0].to_string()),
        name: None,
    }
}

/// Words of the protocol spec: the bench's event text is drawn from them at random.
fn vocabulary() -> &'static [&'static str] {
    static WORDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let mut w: Vec<&str> = include_str!("../../docs/protocol.md")
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| w.len() > 2)
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    })
}

/// A realistic event: title, description, place, tags, URL, all different per event. The
/// text is words drawn uniformly from a vocabulary of ~1,500, which compresses worse than
/// prose (prose repeats its common words), so deflate's share of the sync figures is not
/// flattered by repetitive test data.
fn content(i: usize) -> discal_protocol::EventContent {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
    let words = vocabulary();
    let mut text = |n: std::ops::Range<usize>| {
        let k = rng.gen_range(n);
        (0..k)
            .map(|_| words[rng.gen_range(0..words.len())])
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut c = discal_protocol::vector::content();
    c.master.summary = Some(text(3..7));
    c.master.description = Some(text(20..35));
    c.master.location = Some(format!("{} {}, Berlin", text(2..3), i % 200));
    let tags: Vec<String> = text(3..4).split(' ').map(str::to_lowercase).collect();
    c.master.url = Some(format!("https://example.org/meetups/{i}"));
    c.master.categories = tags;
    c
}

async fn wait_len(h: &NodeHandle, n: u64) {
    assert!(
        h.wait_until(Duration::from_secs(600), |s| s.len().unwrap() >= n)
            .await,
        "timed out at {} of {n}",
        h.store().len().unwrap()
    );
}

async fn end_to_end(n: usize) {
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(
            Node::spawn(NodeOptions::new(config(), Some(d.path().to_owned())))
                .await
                .unwrap(),
        );
    }
    let peers = |i: usize| -> Vec<PeerEntry> {
        match i {
            0 => vec![entry(&nodes[1])],
            1 => vec![entry(&nodes[0]), entry(&nodes[2])],
            _ => vec![entry(&nodes[1])],
        }
    };
    for (i, h) in nodes.iter().enumerate() {
        h.set_peers(peers(i)).await.unwrap();
    }
    for (i, want) in [(0, 1), (1, 2), (2, 1)] {
        let h = &nodes[i];
        while h.connections().await.unwrap().gossip.len() < want {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The documents are prepared before the clock starts.
    let batch = 500;
    let docs: Vec<String> = (0..n.div_ceil(batch))
        .map(|b| {
            let range = b * batch..((b + 1) * batch).min(n);
            let contents: Vec<_> = range.clone().map(content).collect();
            let uids: Vec<String> = range.map(|i| format!("e2e-{i}@bench")).collect();
            write_calendar(
                contents.iter().zip(&uids).map(|(c, u)| IcsEvent {
                    uid: u,
                    content: c,
                    revision: 0,
                    hop: 0,
                    issued: discal_gateway::issued_local(0),
                }),
                &[],
            )
        })
        .collect();
    let t = Instant::now();
    for d in docs {
        nodes[0].write(WriteOp::Import(d)).await.unwrap();
    }
    let published = t.elapsed();
    wait_len(&nodes[2], n as u64).await;
    let total = t.elapsed();
    println!(
        "e2e line A-B-C: {n} events in {:.2} s = {:.0} events/s end to end (A signed and stored them in {:.2} s; overload drops at B: {}, at C: {})",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        published.as_secs_f64(),
        nodes[1].metrics().rejected(discal_node::Reject::Overload),
        nodes[2].metrics().rejected(discal_node::Reject::Overload),
    );
    for h in nodes {
        h.shutdown().await;
    }
}

async fn catch_up(total: usize, behind: usize) {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let secret: NodeSecret = identity::load_or_create(da.path()).unwrap().secret;
    let now = chrono::Utc::now().timestamp_millis();
    let t = Instant::now();
    let evs: Vec<_> = (0..total)
        .map(|i| {
            discal_protocol::sign(
                &secret,
                format!("cu-{i}@bench"),
                0,
                // One event a second, oldest first: the node missed the latest `behind`.
                now - 1000 * (total - i) as i64,
                content(i),
                &Limits::default(),
            )
            .unwrap()
        })
        .collect();
    // By default B missed the latest `behind` events (it was away while they were published).
    // DISCAL_BENCH_SPREAD=1 spreads its gaps evenly over the whole history instead (lost
    // messages rather than an outage), the worst case for range-based reconciliation.
    let spread = env("DISCAL_BENCH_SPREAD", 0) == 1;
    let every = total / behind.max(1);
    let missing = |i: usize| {
        if spread {
            i % every == 0 && i / every < behind
        } else {
            i >= total - behind
        }
    };
    let missing_bytes: usize = evs
        .iter()
        .enumerate()
        .filter(|(i, _)| missing(*i))
        .map(|(_, e)| e.envelope().encode().len())
        .sum();
    {
        let a = Store::open(&da.path().join("store"), &SledOptions::default()).unwrap();
        let b = Store::open(&db.path().join("store"), &SledOptions::default()).unwrap();
        for chunk in evs.chunks(5000) {
            a.apply_batch(chunk.iter().map(|e| (e, Transit::local())), now)
                .unwrap();
        }
        let direct = Transit {
            hop: 1,
            path: vec![],
        };
        let held: Vec<_> = evs
            .iter()
            .enumerate()
            .filter(|(i, _)| !missing(*i))
            .map(|(_, e)| e)
            .collect();
        for chunk in held.chunks(5000) {
            b.apply_batch(chunk.iter().map(|e| (*e, direct.clone())), now)
                .unwrap();
        }
        a.close().unwrap();
        b.close().unwrap();
    }
    eprintln!(
        "prepared stores of {total} and {} events in {:.1} s",
        total - behind,
        t.elapsed().as_secs_f64()
    );
    // Closed mode: A must list B too.
    let b_key = identity::load_or_create(db.path()).unwrap().key();
    let mut ca = config();
    ca.peers = vec![PeerEntry {
        key: b_key.to_string(),
        address: None,
        name: None,
    }];
    let a = Node::spawn(NodeOptions::new(ca, Some(da.path().to_owned())))
        .await
        .unwrap();
    let mut cb = config();
    cb.peers = vec![entry(&a)];
    let t = Instant::now();
    let b = Node::spawn(NodeOptions::new(cb, Some(db.path().to_owned())))
        .await
        .unwrap();
    wait_len(&b, total as u64).await;
    let took = t.elapsed();
    while b.metrics().syncs.load(Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let bytes = b.metrics().sync_bytes_in.load(Relaxed) + b.metrics().sync_bytes_out.load(Relaxed);
    let raw = bytes + b.metrics().sync_bytes_deflated.load(Relaxed);
    println!(
        "catch-up: {behind} missing of {total}: {:.2} s (node start to last event stored), {bytes} sync bytes on the wire for {missing_bytes} bytes of missing envelopes = {:.3}x (uncompressed frames: {raw} bytes = {:.3}x)",
        took.as_secs_f64(),
        bytes as f64 / missing_bytes as f64,
        raw as f64 / missing_bytes as f64,
    );
    b.shutdown().await;
    a.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let e2e = env("DISCAL_BENCH_E2E", 20_000);
        if e2e > 0 {
            end_to_end(e2e).await;
        }
        catch_up(
            env("DISCAL_BENCH_STORE", 100_000),
            env("DISCAL_BENCH_BEHIND", 10_000),
        )
        .await;
    });
}
