//! What a run reads off the network once the workload is done: the state every honest node
//! must reach, when each reached it, and what the stores hold at the end.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use discal_node::Reject;
use discal_protocol::{EventId, EventKey};
use tokio::time::Instant;

use super::sim::Sim;
use super::{Published, SimError};
use crate::report;
use crate::scenario::Scenario;

/// Every event at its last revision: the final state every honest node must reach.
pub(super) type Expected = HashMap<EventKey, (u32, EventId)>;

pub(super) fn expected_state(sim: &Sim, published: &[Published]) -> Result<Expected, SimError> {
    let mut expected = Expected::new();
    for p in published {
        let id = sim.stores[p.origin]
            .revision(&p.key)?
            .map(|m| m.id)
            .expect("the origin holds its own event");
        let e = expected.entry(p.key.clone()).or_insert((p.revision, id));
        if p.revision >= e.0 {
            *e = (p.revision, id);
        }
    }
    Ok(expected)
}

/// Waits until every honest node holds the expected state or the scenario's timeout passes;
/// returns when each got there, and how many never did.
pub(super) async fn converge(
    sim: &Sim,
    sc: &Scenario,
    honest: &[usize],
    expected: &Expected,
) -> (HashMap<usize, f64>, usize) {
    sim.bar.set_message("converging");
    sim.bar.set_length(honest.len() as u64);
    let mut pending: HashSet<usize> = honest.iter().copied().collect();
    let mut done_at: HashMap<usize, f64> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs_f64(sc.converge_timeout_secs);
    loop {
        let now = sim.secs();
        pending.retain(|&i| {
            let complete = expected.iter().all(
                |(k, (_, id))| matches!(sim.stores[i].revision(k), Ok(Some(m)) if m.id == *id),
            );
            if complete {
                done_at.insert(i, now);
            }
            !complete
        });
        sim.bar.set_position((honest.len() - pending.len()) as u64);
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (done_at, pending.len())
}

/// Memory and bytes received while only the flood goes on (hostile scenarios).
pub(super) async fn flood_window(
    sim: &Sim,
    sc: &Scenario,
    honest: &[usize],
) -> Option<report::FloodWindow> {
    let h = sc.hostile.as_ref()?;
    sim.bar.set_message("flood only");
    let half = Duration::from_secs_f64(h.tail_secs / 2.0);
    tokio::time::sleep(half).await;
    let (r1, c1) = (discal_store::heap::rss_bytes(), sim.counters());
    tokio::time::sleep(half).await;
    let (r2, c2) = (discal_store::heap::rss_bytes(), sim.counters());
    let flood_in: u64 = honest.iter().map(|&i| c2[i][4] - c1[i][4]).sum();
    Some(report::FloodWindow {
        secs: half.as_secs_f64() / sim.rec.dilation,
        rss_start: r1,
        rss_end: r2,
        bytes_received: flood_in,
    })
}

/// What the honest stores hold at the end.
pub(super) struct Holdings {
    /// Each honest store's digest of (event, revision, id).
    pub digests: Vec<[u8; 32]>,
    /// Revisions held that nobody published.
    pub foreign: u64,
    /// Events held with a hop count over the limit.
    pub over_hop: u64,
    /// Events from other origins by the hop count they were stored with.
    pub hops_stored: BTreeMap<u8, u64>,
    /// Events held at their final revision.
    pub held_final: u64,
}

pub(super) fn holdings(
    sim: &Sim,
    sc: &Scenario,
    honest: &[usize],
    expected: &Expected,
    published: &[Published],
) -> Result<Holdings, SimError> {
    let mut h = Holdings {
        digests: Vec::new(),
        foreign: 0,
        over_hop: 0,
        hops_stored: BTreeMap::new(),
        held_final: 0,
    };
    for &i in honest {
        let inv = sim.stores[i].inventory(None)?;
        h.digests.push(report::digest(
            inv.iter().map(|it| (&it.key, it.revision, it.id)),
        ));
        for it in &inv {
            match expected.get(&it.key) {
                Some((_, id)) if *id == it.id => h.held_final += 1,
                // An older revision is lag, not forgery; anything else was never published.
                Some(_)
                    if it.key.origin != sim.keys[i]
                        && published
                            .iter()
                            .any(|p| p.key == it.key && p.revision == it.revision) => {}
                _ => h.foreign += 1,
            }
            if let Some(ev) = sim.stores[i].get(&it.key)? {
                if ev.transit.hop > sc.max_hops {
                    h.over_hop += 1;
                }
                if it.key.origin != sim.keys[i] {
                    *h.hops_stored.entry(ev.transit.hop).or_default() += 1;
                }
            }
        }
    }
    Ok(h)
}

/// Rejections counted by the honest nodes, by reason.
pub(super) fn rejected(sim: &Sim, honest: &[usize]) -> BTreeMap<String, u64> {
    Reject::ALL
        .into_iter()
        .map(|r| {
            let v = honest
                .iter()
                .filter_map(|&i| sim.nodes[i].as_ref())
                .map(|h| h.metrics().rejected(r))
                .sum();
            (r.label().to_string(), v)
        })
        .collect()
}

/// The encoded size of each published revision, by (event hash, revision).
pub(super) fn envelope_bytes(sim: &Sim, published: &[Published]) -> HashMap<(u64, u32), usize> {
    let mut m = HashMap::new();
    for p in published {
        if let Ok(Some(ev)) = sim.stores[p.origin].get(&p.key) {
            if ev.payload.revision == p.revision {
                m.insert((p.hash, p.revision), ev.envelope.encode().len());
            }
        }
    }
    m
}
