//! The proposals phase (issue 19): once the events have converged, a share of the nodes goes
//! away, people at random nodes that are up propose a change to a random event of another
//! origin (away or not), the away nodes come back after a while, and the phase ends when every
//! proposal has reached its origin or the timeout passed. Measured from the stores: the share
//! delivered, and the time from making each to its origin's decision (trusted: taken at
//! arrival).

use std::time::Duration;

use discal_gateway::{Draft, ProposalReply, ProposalRequest};
use discal_protocol::NodeKey;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::sim::Sim;
use super::SimError;
use crate::report::ProposalFigures;
use crate::scenario::ProposalLoad;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One proposal made: (its id, the origin's index, when it was made).
type Made = ([u8; 16], usize, i64);

pub(super) async fn run(
    sim: &mut Sim,
    load: &ProposalLoad,
    honest: &[bool],
    rng: &mut StdRng,
) -> Result<ProposalFigures, SimError> {
    let n = sim.nodes.len();
    let up: Vec<usize> = (0..n)
        .filter(|&i| honest[i] && sim.nodes[i].is_some())
        .collect();
    let mut away = up.clone();
    away.shuffle(rng);
    away.truncate((up.len() as f64 * load.away_fraction).round() as usize);
    sim.stop(&away).await;
    let left = tokio::time::Instant::now();
    let proposers: Vec<usize> = up.iter().copied().filter(|i| !away.contains(i)).collect();
    let index: std::collections::HashMap<NodeKey, usize> =
        sim.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let gap = Duration::from_secs_f64(1.0 / load.rate_per_sec.max(0.001));
    let mut made: Vec<Made> = Vec::new();
    let mut back = false;
    for k in 0..load.count {
        if !back && left.elapsed().as_secs_f64() >= load.away_secs {
            restart(sim, &away).await?;
            back = true;
        }
        let p = proposers[rng.gen_range(0..proposers.len())];
        // A random event of another honest origin that the proposer holds.
        let held = sim.stores[p].changes_since(0, usize::MAX)?;
        let others: Vec<_> = held
            .iter()
            .filter(|e| e.payload.origin != sim.keys[p])
            .filter(|e| index.get(&e.payload.origin).is_some_and(|&o| honest[o]))
            .filter(|e| !e.content().is_cancelled())
            .collect();
        let Some(e) = others.choose(rng) else {
            continue;
        };
        let Some(node) = sim.nodes[p].clone() else {
            continue;
        };
        let r = node
            .proposal(ProposalRequest::Make {
                origin: e.payload.origin,
                uid: e.payload.uid.clone(),
                patch: Box::new(Draft {
                    description: Some(format!("Proposal {k} from node {p}.")),
                    ..Draft::default()
                }),
                cancel: false,
                account: format!("person-{p}"),
            })
            .await;
        if let Ok(ProposalReply::Made(id)) = r {
            made.push((id, index[&e.payload.origin], now_ms()));
        }
        tokio::time::sleep(gap).await;
    }
    if !back {
        let rest = Duration::from_secs_f64(load.away_secs).saturating_sub(left.elapsed());
        tokio::time::sleep(rest).await;
        restart(sim, &away).await?;
    }
    Ok(settle(sim, load, &made, away.len()).await)
}

async fn restart(sim: &mut Sim, away: &[usize]) -> Result<(), SimError> {
    for &i in away {
        sim.start(i).await?;
    }
    Ok(())
}

/// Waits until every proposal is at its origin (or the timeout), then measures.
async fn settle(sim: &Sim, load: &ProposalLoad, made: &[Made], away: usize) -> ProposalFigures {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(load.timeout_secs);
    let arrived = |m: &Made| {
        sim.stores[m.1]
            .received_proposal(&m.0)
            .ok()
            .flatten()
            // The nodes' clock is the wall clock.
            .map(|r| (r.at_ms - m.2).max(0) as f64 / sim.rec.dilation)
    };
    loop {
        let missing = made.iter().filter(|m| arrived(m).is_none()).count();
        if missing == 0 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut times: Vec<f64> = made.iter().filter_map(arrived).collect();
    times.sort_by(f64::total_cmp);
    ProposalFigures::new(made.len(), away, &times)
}
