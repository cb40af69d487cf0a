//! The proposals phase (issue 19): once the events have converged, a share of the nodes goes
//! away, people at random nodes that are up propose a change to a random event of another
//! origin (away or not), or answer it (an RSVP, `rsvp_share` of them), the away nodes come back
//! after a while, and the phase ends when every proposal and answer has reached its origin and
//! the answers' counts every node, or the timeout passed. Measured from the stores: the share
//! delivered, the time from making each to its origin's decision (trusted: taken at arrival;
//! an answer is counted at arrival), and how soon every node held the counts.

use std::time::Duration;

use std::collections::HashMap;

use discal_gateway::{Draft, ProposalReply, ProposalRequest};
use discal_protocol::proposal::{rsvp_counts, RsvpAnswer, RSVP_PROPERTY};
use discal_protocol::{EventKey, NodeKey};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::sim::Sim;
use super::SimError;
use crate::report::{ProposalFigures, RsvpFigures};
use crate::scenario::ProposalLoad;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One proposal made: (its id, the origin's index, when it was made).
type Made = ([u8; 16], usize, i64);

/// The (going, maybe, not going) answers made to each event, and to which origin.
type Answers = HashMap<EventKey, (usize, (u32, u32, u32))>;

const ANSWERS: [RsvpAnswer; 3] = [RsvpAnswer::Going, RsvpAnswer::Maybe, RsvpAnswer::NotGoing];

pub(super) async fn run(
    sim: &mut Sim,
    load: &ProposalLoad,
    honest: &[bool],
    rng: &mut StdRng,
) -> Result<(ProposalFigures, Option<RsvpFigures>), SimError> {
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
    let mut rsvps: Vec<(Made, EventKey, RsvpAnswer)> = Vec::new();
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
        let origin = e.payload.origin;
        let uid = e.payload.uid.clone();
        let rsvp = rng.gen_bool(load.rsvp_share).then(|| ANSWERS[k % 3]);
        let req = request(
            rsvp,
            EventKey {
                origin,
                uid: uid.clone(),
            },
            p,
            k,
        );
        if let Ok(ProposalReply::Made(id)) = node.proposal(req).await {
            let m = (id, index[&origin], now_ms());
            match rsvp {
                Some(answer) => rsvps.push((m, EventKey { origin, uid }, answer)),
                None => made.push(m),
            }
        }
        tokio::time::sleep(gap).await;
    }
    if !back {
        let rest = Duration::from_secs_f64(load.away_secs).saturating_sub(left.elapsed());
        tokio::time::sleep(rest).await;
        restart(sim, &away).await?;
    }
    let all: Vec<Made> = made
        .iter()
        .chain(rsvps.iter().map(|r| &r.0))
        .copied()
        .collect();
    settle(sim, load, &all).await;
    let proposals = figures(sim, &made, away.len());
    let answers =
        (load.rsvp_share > 0.0).then(|| spread_counts(sim, load, honest, &rsvps, away.len()));
    let answers = match answers {
        Some(f) => Some(f.await),
        None => None,
    };
    Ok((proposals, answers))
}

async fn restart(sim: &mut Sim, away: &[usize]) -> Result<(), SimError> {
    for &i in away {
        sim.start(i).await?;
    }
    Ok(())
}

/// Person `k` at node `p` answers (`rsvp`) or proposes a change to `key`.
fn request(rsvp: Option<RsvpAnswer>, key: EventKey, p: usize, k: usize) -> ProposalRequest {
    match rsvp {
        // A person of their own (the account's name is unique), so no answer replaces another.
        Some(answer) => ProposalRequest::Rsvp {
            origin: key.origin,
            uid: key.uid,
            answer,
            account: format!("person-{p}-{k}"),
            name: format!("Person {k}"),
        },
        None => ProposalRequest::Make {
            origin: key.origin,
            uid: key.uid,
            patch: Box::new(Draft {
                description: Some(format!("Proposal {k} from node {p}.")),
                ..Draft::default()
            }),
            cancel: false,
            account: format!("person-{p}"),
        },
    }
}

/// When proposal `m` reached its origin, in ms after it was made.
fn arrived(sim: &Sim, m: &Made) -> Option<f64> {
    sim.stores[m.1]
        .received_proposal(&m.0)
        .ok()
        .flatten()
        // The nodes' clock is the wall clock.
        .map(|r| (r.at_ms - m.2).max(0) as f64 / sim.rec.dilation)
}

/// Waits until every proposal is at its origin, or the timeout.
async fn settle(sim: &Sim, load: &ProposalLoad, made: &[Made]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(load.timeout_secs);
    loop {
        let missing = made.iter().filter(|m| arrived(sim, m).is_none()).count();
        if missing == 0 || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn figures(sim: &Sim, made: &[Made], away: usize) -> ProposalFigures {
    let mut times: Vec<f64> = made.iter().filter_map(|m| arrived(sim, m)).collect();
    times.sort_by(f64::total_cmp);
    ProposalFigures::new(made.len(), away, &times)
}

/// The RSVPs' figures: once every answer is at its origin, waits until every honest node holds
/// each answered event with counts that include every answer (or the timeout).
async fn spread_counts(
    sim: &Sim,
    load: &ProposalLoad,
    honest: &[bool],
    rsvps: &[(Made, EventKey, RsvpAnswer)],
    away: usize,
) -> RsvpFigures {
    let made: Vec<Made> = rsvps.iter().map(|r| r.0).collect();
    let answers_fig = figures(sim, &made, away);
    let mut want: Answers = HashMap::new();
    let mut last_arrival: Option<i64> = None;
    for (m, key, answer) in rsvps {
        let Some(at) = sim.stores[m.1].received_proposal(&m.0).ok().flatten() else {
            continue;
        };
        last_arrival = last_arrival.max(Some(at.at_ms));
        let c = &mut want.entry(key.clone()).or_insert((m.1, (0, 0, 0))).1;
        match answer {
            RsvpAnswer::Going => c.0 += 1,
            RsvpAnswer::Maybe => c.1 += 1,
            _ => c.2 += 1,
        }
    }
    let holders: Vec<usize> = (0..sim.nodes.len())
        .filter(|&i| honest[i] && sim.nodes[i].is_some())
        .collect();
    let pairs = (holders.len() * want.len()).max(1);
    let holding = || {
        holders
            .iter()
            .map(|&i| {
                want.iter()
                    .filter(|(k, (_, c))| counts_at(sim, i, k) == Some(*c))
                    .count()
            })
            .sum::<usize>()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(load.timeout_secs);
    let mut spread = None;
    loop {
        if holding() == pairs {
            spread = last_arrival.map(|t| (now_ms() - t).max(0) as f64 / 1000.0 / sim.rec.dilation);
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    RsvpFigures {
        answers: answers_fig,
        events: want.len(),
        counts_delivered: holding() as f64 / pairs as f64,
        counts_spread_secs: spread,
    }
}

/// The RSVP counts node `i`'s copy of `key` carries.
fn counts_at(sim: &Sim, i: usize, key: &EventKey) -> Option<(u32, u32, u32)> {
    let ev = sim.stores[i].get(key).ok().flatten()?;
    let m = &ev.content().master;
    m.extra
        .iter()
        .find(|p| p.name == RSVP_PROPERTY)
        .map(|p| rsvp_counts(&p.value))
}
