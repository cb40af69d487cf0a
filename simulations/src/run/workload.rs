//! The workload: events published at the scenario's rate by honest nodes, then updates and
//! cancellations of some of them.

use std::time::Duration;

use discal_gateway::{Draft, WriteOp};
use discal_protocol::EventKey;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use tokio::time::Instant;

use super::sim::Sim;
use super::{key_hash, Published, SimError};
use crate::scenario::Scenario;

fn draft(k: usize, origin: usize, sc: &Scenario, rng: &mut StdRng) -> Draft {
    let recurring = rng.gen_bool(sc.workload.recurring_share);
    let day = 1 + (k % 28);
    let month = 1 + (k / 28) % 12;
    let title = format!("Meetup {k} at node {origin}");
    // Pads the description so the signed payload is about `event_bytes` long.
    let filler = sc.workload.event_bytes.saturating_sub(420).max(1);
    let description: String = "Talks, food and hacking. "
        .chars()
        .cycle()
        .take(filler)
        .collect();
    Draft {
        title: Some(title),
        start: Some(format!("2027-{month:02}-{day:02}T19:00")),
        duration: Some("PT2H".into()),
        tz: Some("Europe/Berlin".into()),
        rrule: recurring.then(|| "FREQ=WEEKLY;BYDAY=TU;COUNT=20".into()),
        location: Some(format!("Hackerspace {}", origin % 50)),
        geo: Some(format!(
            "{:.4},{:.4}",
            47.0 + rng.gen_range(0.0..8.0),
            6.0 + rng.gen_range(0.0..9.0)
        )),
        tags: Some(vec!["sim".into(), format!("topic{}", k % 7)]),
        url: Some(format!("https://example.org/events/{k}")),
        description: Some(description),
        ..Draft::default()
    }
}

/// The workload's new events: (origin, draft) in publication order. Drawn before any is
/// published, so a Shadow run of the scenario publishes the same events from the same nodes.
pub(crate) fn drafts(sc: &Scenario, rng: &mut StdRng, publishers: &[usize]) -> Vec<(usize, Draft)> {
    (0..sc.workload.events)
        .map(|k| {
            let origin = *publishers.choose(rng).expect("at least one honest node");
            (origin, draft(k, origin, sc, rng))
        })
        .collect()
}

/// Publishes the workload from `publishers`, paced at its rate; returns every revision
/// published, in order.
pub(super) async fn publish(
    sim: &Sim,
    sc: &Scenario,
    rng: &mut StdRng,
    publishers: &[usize],
) -> Result<Vec<Published>, SimError> {
    let w = &sc.workload;
    sim.bar.set_message("publishing");
    sim.bar.set_length(w.events as u64);
    sim.bar.set_position(0);
    let start = Instant::now();
    let mut pace = Pace {
        start,
        rate: w.rate_per_sec,
        sent: 0,
    };
    let mut published: Vec<Published> = Vec::new();
    for (k, (origin, d)) in drafts(sc, rng, publishers).into_iter().enumerate() {
        pace.next().await;
        let h = sim.nodes[origin].clone().expect("publishers are up");
        let out = h
            .write(WriteOp::Create(d))
            .await
            .map_err(|e| SimError::Write(origin, e))?;
        for wr in out {
            let key = EventKey {
                origin: sim.keys[origin],
                uid: wr.uid,
            };
            published.push(Published {
                origin,
                hash: key_hash(&key),
                key,
                revision: wr.revision,
                at: sim.secs(),
            });
        }
        sim.bar.set_position(k as u64 + 1);
    }
    change_some(sim, sc, rng, &mut pace, &mut published).await?;
    Ok(published)
}

/// Writes at a steady rate from a start.
struct Pace {
    start: Instant,
    rate: f64,
    sent: usize,
}

impl Pace {
    /// Waits until the next write is due.
    async fn next(&mut self) {
        let at = self.start + Duration::from_secs_f64(self.sent as f64 / self.rate);
        tokio::time::sleep_until(at).await;
        self.sent += 1;
    }
}

/// Updates and cancellations of a random share of the created events, at the same pace.
async fn change_some(
    sim: &Sim,
    sc: &Scenario,
    rng: &mut StdRng,
    pace: &mut Pace,
    published: &mut Vec<Published>,
) -> Result<(), SimError> {
    let w = &sc.workload;
    let created: Vec<Published> = published.clone();
    let mut pick: Vec<usize> = (0..created.len()).collect();
    pick.shuffle(rng);
    let n_upd = (created.len() as f64 * w.updates).round() as usize;
    let n_can = (created.len() as f64 * w.cancellations).round() as usize;
    for (j, &e) in pick.iter().enumerate().take(n_upd.max(n_can)) {
        let p = &created[e];
        let h = sim.nodes[p.origin].clone().expect("publishers are up");
        let mut ops = Vec::new();
        if j < n_upd {
            ops.push(WriteOp::Update {
                uid: p.key.uid.clone(),
                patch: Draft {
                    title: Some(format!("{} (moved)", p.key.uid)),
                    ..Draft::default()
                },
            });
        }
        if j < n_can {
            ops.push(WriteOp::Cancel {
                uid: p.key.uid.clone(),
            });
        }
        for op in ops {
            pace.next().await;
            let out = h
                .write(op)
                .await
                .map_err(|e| SimError::Write(p.origin, e))?;
            for wr in out {
                published.push(Published {
                    origin: p.origin,
                    key: p.key.clone(),
                    hash: p.hash,
                    revision: wr.revision,
                    at: sim.secs(),
                });
            }
        }
    }
    Ok(())
}
