//! The report's figures from what the runner recorded.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use super::{percentiles, Bytes, Check, ChurnFigures, HostileFigures, Input, Percentiles, Report};
use crate::run::{Delivery, Published};

/// Published revisions by (event hash, revision).
type Pubs<'a> = HashMap<(u64, u32), &'a Published>;
/// The first arrival of each revision at each node: (node, event hash, revision).
type Firsts<'a> = HashMap<(u32, u64, u32), &'a Delivery>;

/// Latency figures.
struct Latency {
    /// (node, event, revision, hop, ms) per first arrival, fastest first.
    rows: Vec<(u32, u64, u32, u8, f64)>,
    percentiles: Percentiles,
    cdf: Vec<(f64, f64)>,
}

pub(crate) fn build(x: Input<'_>) -> Report {
    let sc = x.sc;
    let n = sc.nodes;
    let honest_n = x.honest.len();
    let revisions = x.published.len();
    let pubs: Pubs<'_> = x
        .published
        .iter()
        .map(|p| ((p.hash, p.revision), p))
        .collect();
    let mut first: Firsts<'_> = HashMap::new();
    for d in x.deliveries {
        first.entry((d.node, d.key, d.revision)).or_insert(d);
    }
    let latency = latency(&x, &pubs, &first);
    let (delivery_over_time, by_last_action) = delivery_over_time(&x, &pubs, &first);
    let denom = (honest_n * revisions).max(1) as f64;
    let bytes = bytes(&x, denom);
    // Copies on the wire: those the ingest path recognised, and those gossipsub dropped
    // unread because it had seen their id.
    let dups: u64 = x.honest.iter().map(|&i| dups(&x, i)).sum();
    let peak = x.rss.iter().map(|r| r.1).max().unwrap_or(0);
    Report {
        scenario: sc.clone(),
        edges: x.edges.len(),
        diameter: crate::topology::diameter(n, &x.edges.to_vec()),
        honest_nodes: honest_n,
        events: x.published.iter().filter(|p| p.revision == 0).count(),
        revisions,
        delivery_ratio: x.held_final as f64 / (honest_n * x.expected_len).max(1) as f64,
        delivery_ratio_by_last_action: by_last_action,
        latency_ms: latency.percentiles,
        duplicates_per_node_per_event: dups as f64 / denom,
        churn: churn(&x, bytes.event_bytes),
        bytes,
        hops: x.hops_stored.clone(),
        converge_secs: x.times.converged.map(|c| c - x.times.last_action),
        partition_converge_secs: x.times.heal.and_then(|h| x.times.converged.map(|c| c - h)),
        times: x.times.clone(),
        hostile: hostile(&x),
        proposals: None,
        rsvps: None,
        rejected: x.rejected.clone(),
        rss_idle_mb: x.rss_idle as f64 / 1048576.0,
        rss_peak_mb: peak as f64 / 1048576.0,
        rss_per_node_kb: peak as f64 / 1024.0 / n as f64,
        wall_secs: 0.0,
        cpu_secs: 0.0,
        checks: checks(&x),
        latency_cdf: latency.cdf,
        delivery_over_time,
        bytes_per_node: (0..n)
            .map(|i| sent(&x, i) as f64 / revisions.max(1) as f64)
            .collect(),
        rss_over_time: x
            .rss
            .iter()
            .map(|(t, b)| (*t, *b as f64 / 1048576.0))
            .collect(),
        deliveries: latency.rows,
        per_node: per_node(&x),
    }
}

/// Counter `k` of node `i` over the measured part of the run.
fn diff(x: &Input<'_>, i: usize, k: usize) -> u64 {
    x.counters_after[i][k].saturating_sub(x.counters_before[i][k])
}

/// Copies of held revisions node `i` received over the measured part of the run.
fn dups(x: &Input<'_>, i: usize) -> u64 {
    diff(x, i, 0) + diff(x, i, 6)
}

/// Bytes node `i` sent over the measured part of the run.
fn sent(x: &Input<'_>, i: usize) -> u64 {
    x.sent_after[i].saturating_sub(x.sent_before[i])
}

/// Latency: honest nodes that stayed up, first arrival of each published revision.
fn latency(x: &Input<'_>, pubs: &Pubs<'_>, first: &Firsts<'_>) -> Latency {
    let mut rows: Vec<(u32, u64, u32, u8, f64)> = Vec::new();
    let mut lat: Vec<f64> = Vec::new();
    for d in first.values() {
        let Some(p) = pubs.get(&(d.key, d.revision)) else {
            continue;
        };
        let ms = (d.at - p.at) * 1000.0;
        rows.push((d.node, d.key, d.revision, d.hop, ms));
        let i = d.node as usize;
        if !x.is_hostile[i] && !x.was_away[i] {
            lat.push(ms.max(0.0));
        }
    }
    rows.sort_by(|a, b| a.4.total_cmp(&b.4));
    lat.sort_by(f64::total_cmp);
    let cdf = (0..=200)
        .filter_map(|q| {
            let share = q as f64 / 200.0;
            (!lat.is_empty()).then(|| {
                let i = ((lat.len() as f64 * share).ceil() as usize).clamp(1, lat.len()) - 1;
                (lat[i], share)
            })
        })
        .collect();
    Latency {
        rows,
        percentiles: percentiles(&lat),
        cdf,
    }
}

/// Deliveries of new events over time, against every honest node but the origin; and the
/// share delivered by the last action.
fn delivery_over_time(
    x: &Input<'_>,
    pubs: &Pubs<'_>,
    first: &Firsts<'_>,
) -> (Vec<(f64, f64)>, f64) {
    let honest_n = x.honest.len();
    let want: f64 = x
        .published
        .iter()
        .filter(|p| p.revision == 0)
        .map(|p| (honest_n - usize::from(!x.is_hostile[p.origin])) as f64)
        .sum();
    let mut firsts: Vec<f64> = first
        .values()
        .filter(|d| {
            d.revision == 0 && !x.is_hostile[d.node as usize] && pubs.contains_key(&(d.key, 0))
        })
        .map(|d| d.at - x.times.work)
        .collect();
    firsts.sort_by(f64::total_cmp);
    let mut over_time = vec![(0.0, 0.0)];
    let step = (firsts.len() / 400).max(1);
    for (i, t) in firsts.iter().enumerate() {
        if i % step == 0 || i + 1 == firsts.len() {
            over_time.push((*t, (i + 1) as f64 / want.max(1.0)));
        }
    }
    let by_last_action = firsts
        .iter()
        .filter(|t| **t + x.times.work <= x.times.last_action)
        .count() as f64
        / want.max(1.0);
    (over_time, by_last_action)
}

/// Bytes sent by honest nodes, against the ideal of one envelope per node per revision.
fn bytes(x: &Input<'_>, denom: f64) -> Bytes {
    let total_sent: u64 = x.honest.iter().map(|&i| sent(x, i)).sum();
    let sync_sent: u64 = x.honest.iter().map(|&i| diff(x, i, 1)).sum();
    let env_total: usize = x
        .published
        .iter()
        .filter_map(|p| x.envelope_bytes.get(&(p.hash, p.revision)))
        .sum();
    let event_bytes = env_total as f64 / x.published.len().max(1) as f64;
    let payload: u64 = x
        .honest
        .iter()
        .map(|&i| diff(x, i, 1) + diff(x, i, 2))
        .sum();
    Bytes {
        event_bytes,
        total_sent,
        sync_sent,
        per_node_per_event: total_sent as f64 / denom,
        ratio_to_ideal: total_sent as f64 / (event_bytes * denom).max(1.0),
        measured_at: if x.link_bytes { "link" } else { "payload" }.into(),
        payload_ratio_to_ideal: payload as f64 / (event_bytes * denom).max(1.0),
    }
}

fn churn(x: &Input<'_>, event_bytes: f64) -> Option<ChurnFigures> {
    x.sc.churn.as_ref()?;
    let away: Vec<usize> = (0..x.sc.nodes).filter(|&i| x.was_away[i]).collect();
    let bytes: u64 = away.iter().map(|&i| diff(x, i, 1) + diff(x, i, 5)).sum();
    let caught = away
        .iter()
        .map(|i| x.done_at.get(i).copied())
        .collect::<Option<Vec<f64>>>();
    Some(ChurnFigures {
        nodes: away.len(),
        catch_up_secs: caught.and_then(|v| {
            let last = v.into_iter().fold(0.0, f64::max);
            x.times.returned.map(|r| (last - r).max(0.0))
        }),
        catch_up_bytes: bytes,
        catch_up_bytes_per_node: bytes as f64 / away.len().max(1) as f64,
        // Everything was published while they were away.
        missed_bytes_per_node: x.expected_len as f64 * event_bytes,
    })
}

fn hostile(x: &Input<'_>) -> Option<HostileFigures> {
    x.sc.hostile.as_ref()?;
    Some(HostileFigures {
        nodes: x.sc.nodes - x.honest.len(),
        forgeries_sent: x.injected.forgeries.load(Relaxed),
        floods_sent: x.injected.floods.load(Relaxed),
        flood_bytes_sent: x.injected.flood_bytes.load(Relaxed),
        oversized_sent: x.injected.oversized.load(Relaxed),
        over_hop_sent: x.injected.over_hop.load(Relaxed),
        forgeries_accepted: x.foreign,
        flood_window: x.flood_window.clone(),
    })
}

/// The named checks.
fn checks(x: &Input<'_>) -> Vec<Check> {
    let sc = x.sc;
    let mut checks = Vec::new();
    let same = x.digests.iter().all(|d| *d == x.expected_digest);
    checks.push(Check {
        name: "honest_nodes_converge".into(),
        passed: x.pending == 0 && same,
        detail: format!(
            "{} of {} honest nodes hold exactly the published final state",
            x.digests
                .iter()
                .filter(|d| **d == x.expected_digest)
                .count(),
            x.honest.len()
        ),
    });
    checks.push(Check {
        name: "no_forgery_accepted".into(),
        passed: x.foreign == 0,
        detail: format!("{} stored events that no origin published", x.foreign),
    });
    let over_seen = x.deliveries.iter().filter(|d| d.hop > sc.max_hops).count() as u64;
    checks.push(Check {
        name: "no_event_beyond_max_hops".into(),
        passed: x.over_hop == 0 && over_seen == 0,
        detail: format!(
            "{} stored and {} delivered with hop > {}",
            x.over_hop, over_seen, sc.max_hops
        ),
    });
    if let Some(w) = &x.flood_window {
        // Keeping flood messages would grow memory by at least their size; caches bounded by
        // time or count grow by ids only. Allow a quarter of the bytes, and allocator slack.
        let grew = w.rss_end.saturating_sub(w.rss_start);
        let allowed = (w.bytes_received / 4).max(32 << 20);
        checks.push(Check {
            name: "memory_bounded_under_flood".into(),
            passed: grew <= allowed,
            detail: format!(
                "RSS grew {:.1} MiB in {:.0} s of flood carrying {:.1} MiB to honest nodes (allowed {:.1} MiB)",
                grew as f64 / 1048576.0,
                w.secs,
                w.bytes_received as f64 / 1048576.0,
                allowed as f64 / 1048576.0
            ),
        });
    }
    checks
}

/// Per node: role, bytes sent, duplicates, received, sync bytes out, when it got there.
#[allow(clippy::type_complexity)]
fn per_node(x: &Input<'_>) -> Vec<(String, u64, u64, u64, u64, Option<f64>)> {
    let role = |i: usize| {
        if x.is_hostile[i] {
            "hostile"
        } else if x.was_away[i] {
            "churned"
        } else {
            match x.groups {
                Some(g) if g[i] == 0 => "side0",
                Some(_) => "side1",
                None => "honest",
            }
        }
    };
    (0..x.sc.nodes)
        .map(|i| {
            (
                role(i).to_string(),
                sent(x, i),
                dups(x, i),
                diff(x, i, 3),
                diff(x, i, 1),
                x.done_at.get(&i).copied(),
            )
        })
        .collect()
}
