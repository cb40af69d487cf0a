//! A finished Shadow run read back into a [`Report`]: deliveries and their times from each
//! node's store (the time it stored each event, on Shadow's clock), publication times from the
//! origins' stores, copies and bytes from each node's /metrics as curl saved them before the
//! workload and at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use discal_protocol::{EventId, EventKey, NodeKey};

use super::{node_dir, Schedule, SHADOW_EPOCH_MS};
use crate::report::{self, Report};
use crate::run::{key_hash, plan, Delivery, Published, SimError};
use crate::scenario::Scenario;

/// The counters the report reads, in the in-process order: duplicates, sync bytes out, gossip
/// bytes out, received, gossip bytes in, sync bytes in, gossip copies dropped unread.
const COUNTERS: [&str; 7] = [
    "discal_events_duplicate_total",
    "discal_sync_bytes_sent_total",
    "discal_gossip_bytes_sent_total",
    "discal_events_received_total",
    "discal_gossip_bytes_received_total",
    "discal_sync_bytes_received_total",
    "discal_gossip_duplicates_dropped_total",
];

/// The counters of one Prometheus text exposition, and its rejections by reason. A missing
/// file (the node was not up to answer) reads as zeros.
pub(crate) fn read_metrics(path: &Path) -> ([u64; 7], BTreeMap<String, u64>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut c = [0u64; 7];
    let mut rejected = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, v)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(v) = v.parse::<u64>() else { continue };
        if let Some(k) = COUNTERS.iter().position(|c| *c == name) {
            c[k] = v;
        } else if let Some(reason) = name
            .strip_prefix("discal_events_rejected_total{reason=\"")
            .and_then(|r| r.strip_suffix("\"}"))
        {
            rejected.insert(reason.to_string(), v);
        }
    }
    (c, rejected)
}

/// Seconds of simulated time at `ms` since the Unix epoch.
fn sim_secs(ms: i64) -> f64 {
    (ms - SHADOW_EPOCH_MS) as f64 / 1000.0
}

/// What every store holds: (key, revision, id, hop, stored at, envelope length) per node.
type Held = Vec<Vec<(EventKey, u32, EventId, u8, f64, usize)>>;

fn read_stores(out: &Path, n: usize) -> Result<Held, SimError> {
    (0..n)
        .map(|i| {
            let store = discal_node::offline_store(&node_dir(out, i))
                .map_err(|e| SimError::Io(format!("node {i}'s store: {e}")))?;
            let mut rows = Vec::new();
            for it in store.inventory(None)? {
                if let Some(ev) = store.get(&it.key)? {
                    rows.push((
                        it.key.clone(),
                        it.revision,
                        it.id,
                        ev.transit.hop,
                        sim_secs(ev.received_at_ms),
                        ev.envelope.encode().len(),
                    ));
                }
            }
            Ok(rows)
        })
        .collect()
}

/// The scenario and schedule a generated run was written with. A directory `shadow` did not
/// write says which of its files is missing or broken.
fn read_run(out: &Path) -> Result<(Scenario, Schedule), SimError> {
    let read = |name: &str| {
        let path = out.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            SimError::Io(format!(
                "{}: {e} (not a directory `discal-sim shadow` wrote?)",
                path.display()
            ))
        })
    };
    let bad = |name: &str, e: &dyn std::fmt::Display| {
        SimError::Io(format!("{}: {e}", out.join(name).display()))
    };
    let sc: Scenario =
        toml::from_str(&read("scenario.toml")?).map_err(|e| bad("scenario.toml", &e))?;
    let sched: Schedule =
        serde_json::from_str(&read("schedule.json")?).map_err(|e| bad("schedule.json", &e))?;
    Ok((sc, sched))
}

/// Reads the run in `out` (written by [`super::generate`] and run by Shadow) into a report.
pub fn collect(out: &Path) -> Result<Report, SimError> {
    let (mut sc, sched) = read_run(out)?;
    // Shadow's time is virtual: nothing was stretched.
    sc.dilation = 1.0;
    let n = sc.nodes;
    let p = plan(&sc)?;
    let keys = &p.keys;
    let held = read_stores(out, n)?;
    let (published, envelope_bytes, expected) = publications(&held, keys);
    let h = holdings(&sc, keys, &held, &expected);
    let (before, after, rejected, unanswered) = metrics(out, n);
    let payload = |c: &[[u64; 7]]| c.iter().map(|c| c[1] + c[2]).collect::<Vec<u64>>();
    let honest: Vec<usize> = (0..n).collect();
    let none = vec![false; n];
    let pending = n - h.done_at.len();
    let converged = (pending == 0).then(|| h.done_at.values().copied().fold(0.0, f64::max));
    let mut report = report::build(report::Input {
        sc: &sc,
        edges: &p.edges,
        honest: &honest,
        is_hostile: &none,
        was_away: &none,
        groups: None,
        published: &published,
        deliveries: &h.deliveries,
        envelope_bytes: &envelope_bytes,
        expected_len: expected.len(),
        done_at: &h.done_at,
        pending,
        digests: &h.digests,
        expected_digest: report::digest(expected.iter().map(|(k, (r, id))| (k, *r, *id))),
        foreign: h.foreign,
        over_hop: h.over_hop,
        held_final: h.held_final,
        hops_stored: h.hops_stored,
        rejected,
        counters_before: &before,
        counters_after: &after,
        sent_before: &payload(&before),
        sent_after: &payload(&after),
        injected: &Default::default(),
        flood_window: None,
        rss: &[],
        rss_idle: 0,
        times: report::Times {
            form_secs: sched.work,
            ready: sched.work,
            work: sched.work,
            work_end: sched.work_end,
            heal: None,
            returned: None,
            last_action: sched.work_end,
            converged,
        },
        link_bytes: false,
    });
    report.checks.push(report::Check {
        name: "every_planned_event_published".into(),
        passed: published.len() == sched.events,
        detail: format!(
            "{} of {} `discal event add` processes published their event",
            published.len(),
            sched.events
        ),
    });
    report.checks.push(report::Check {
        name: "every_node_answered_metrics".into(),
        passed: unanswered == 0,
        detail: format!("{unanswered} of {n} nodes left no metrics-after.txt (their copies and bytes count as 0)"),
    });
    Ok(report)
}

/// Every event at its origin: (publications, their envelope sizes, the final state every
/// node must reach). An origin's own copy was stored when `discal event add` published it.
fn publications(held: &Held, keys: &[NodeKey]) -> (Vec<Published>, EnvelopeBytes, Expected) {
    let mut published: Vec<Published> = Vec::new();
    let mut envelope_bytes = HashMap::new();
    let mut expected = HashMap::new();
    for (i, rows) in held.iter().enumerate() {
        for (key, rev, id, _, at, len) in rows.iter().filter(|r| r.0.origin == keys[i]) {
            let hash = key_hash(key);
            published.push(Published {
                origin: i,
                key: key.clone(),
                hash,
                revision: *rev,
                at: *at,
            });
            envelope_bytes.insert((hash, *rev), *len);
            expected.insert(key.clone(), (*rev, *id));
        }
    }
    published.sort_by(|a, b| a.at.total_cmp(&b.at));
    (published, envelope_bytes, expected)
}

type EnvelopeBytes = HashMap<(u64, u32), usize>;
type Expected = HashMap<EventKey, (u32, EventId)>;

/// What the stores say about delivery.
struct Holdings {
    deliveries: Vec<Delivery>,
    /// When each node that holds the whole final state stored the last of it.
    done_at: HashMap<usize, f64>,
    held_final: u64,
    foreign: u64,
    over_hop: u64,
    hops_stored: BTreeMap<u8, u64>,
    digests: Vec<[u8; 32]>,
}

fn holdings(sc: &Scenario, keys: &[NodeKey], held: &Held, expected: &Expected) -> Holdings {
    let origins: HashSet<NodeKey> = keys.iter().copied().collect();
    let mut h = Holdings {
        deliveries: Vec::new(),
        done_at: HashMap::new(),
        held_final: 0,
        foreign: 0,
        over_hop: 0,
        hops_stored: BTreeMap::new(),
        digests: Vec::new(),
    };
    for (i, rows) in held.iter().enumerate() {
        let mut last: f64 = 0.0;
        let mut complete = 0;
        for (key, rev, id, hop, at, _) in rows {
            match expected.get(key) {
                Some((_, e)) if e == id => {
                    h.held_final += 1;
                    complete += 1;
                    last = last.max(*at);
                }
                _ => h.foreign += 1,
            }
            if *hop > sc.max_hops {
                h.over_hop += 1;
            }
            if key.origin != keys[i] && origins.contains(&key.origin) {
                *h.hops_stored.entry(*hop).or_default() += 1;
                h.deliveries.push(Delivery {
                    node: i as u32,
                    key: key_hash(key),
                    revision: *rev,
                    hop: *hop,
                    at: *at,
                });
            }
        }
        if complete == expected.len() {
            h.done_at.insert(i, last);
        }
        h.digests
            .push(report::digest(rows.iter().map(|r| (&r.0, r.1, r.2))));
    }
    h
}

/// Every node's counters before the workload and at the end, the rejections at the end, and
/// how many nodes left no counters at the end.
type Counters = (Vec<[u64; 7]>, Vec<[u64; 7]>, BTreeMap<String, u64>, usize);

fn metrics(out: &Path, n: usize) -> Counters {
    let mut rejected: BTreeMap<String, u64> = BTreeMap::new();
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut unanswered = 0;
    for i in 0..n {
        let dir = node_dir(out, i);
        if !dir.join("metrics-after.txt").exists() {
            unanswered += 1;
        }
        before.push(read_metrics(&dir.join("metrics-before.txt")).0);
        let (c, r) = read_metrics(&dir.join("metrics-after.txt"));
        after.push(c);
        for (k, v) in r {
            *rejected.entry(k).or_default() += v;
        }
    }
    (before, after, rejected, unanswered)
}
