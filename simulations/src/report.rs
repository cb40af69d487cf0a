//! Figures from a run, the named checks, and the files they are written to.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;

use discal_protocol::{EventId, EventKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::run::{Delivery, Injected, Published};
use crate::scenario::Scenario;

/// SHA-256 over an event set, sorted: equal sets, equal digests.
pub fn digest<'a>(items: impl Iterator<Item = (&'a EventKey, u32, EventId)>) -> [u8; 32] {
    let mut v: Vec<(&EventKey, u32, EventId)> = items.collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (k, r, id) in v {
        h.update(k.origin.as_bytes());
        h.update((k.uid.len() as u32).to_be_bytes());
        h.update(k.uid.as_bytes());
        h.update(r.to_be_bytes());
        h.update(id.0);
    }
    h.finalize().into()
}

/// Moments of the run, in seconds since it started.
#[derive(Clone, Debug, Serialize)]
pub struct Times {
    /// How long the mesh took to form.
    pub form_secs: f64,
    /// Every link up.
    pub ready: f64,
    /// Workload started.
    pub work: f64,
    /// Last write done.
    pub work_end: f64,
    /// Partition healed.
    pub heal: Option<f64>,
    /// Churned nodes restarted.
    pub returned: Option<f64>,
    /// The last planned action (write, heal or return).
    pub last_action: f64,
    /// Every honest node holds the final state.
    pub converged: Option<f64>,
}

/// Memory over the second half of the flood-only window.
#[derive(Clone, Debug, Serialize)]
pub struct FloodWindow {
    /// Length of the window.
    pub secs: f64,
    /// RSS at its start.
    pub rss_start: u64,
    /// RSS at its end.
    pub rss_end: u64,
    /// Gossip bytes honest nodes received in it (all of it junk or forged).
    pub bytes_received: u64,
}

/// What the runner hands over.
pub(crate) struct Input<'a> {
    pub sc: &'a Scenario,
    pub edges: &'a [(usize, usize)],
    pub honest: &'a [usize],
    pub is_hostile: &'a [bool],
    pub was_away: &'a [bool],
    pub groups: Option<&'a [u8]>,
    pub published: &'a [Published],
    pub deliveries: &'a [Delivery],
    pub envelope_bytes: &'a HashMap<(u64, u32), usize>,
    pub expected_len: usize,
    pub done_at: &'a HashMap<usize, f64>,
    pub pending: usize,
    pub digests: &'a [[u8; 32]],
    pub expected_digest: [u8; 32],
    pub foreign: u64,
    pub over_hop: u64,
    pub held_final: u64,
    pub hops_stored: BTreeMap<u8, u64>,
    pub rejected: BTreeMap<String, u64>,
    pub counters_before: &'a [[u64; 6]],
    pub counters_after: &'a [[u64; 6]],
    pub sent_before: &'a [u64],
    pub sent_after: &'a [u64],
    pub injected: &'a Injected,
    pub flood_window: Option<FloodWindow>,
    pub rss: &'a [(f64, u64)],
    pub rss_idle: u64,
    pub times: Times,
}

/// Percentiles of a sample, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Sample size.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

fn percentiles(sorted: &[f64]) -> Percentiles {
    if sorted.is_empty() {
        return Percentiles::default();
    }
    let at =
        |q: f64| sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1];
    Percentiles {
        count: sorted.len(),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: sorted[sorted.len() - 1],
    }
}

/// Byte figures.
#[derive(Clone, Debug, Serialize)]
pub struct Bytes {
    /// Mean encoded size of one published revision (the envelope).
    pub event_bytes: f64,
    /// Everything honest nodes wrote to their links from the workload's start to convergence.
    pub total_sent: u64,
    /// Of which catch-up sync frames.
    pub sync_sent: u64,
    /// total_sent / honest nodes / revisions.
    pub per_node_per_event: f64,
    /// total_sent / (event_bytes × honest nodes × revisions): 1.0 is each node receiving each
    /// event exactly once with no overhead.
    pub ratio_to_ideal: f64,
}

/// Churn figures.
#[derive(Clone, Debug, Serialize)]
pub struct ChurnFigures {
    /// Nodes that left and came back.
    pub nodes: usize,
    /// From their return until the last of them held the final state.
    pub catch_up_secs: Option<f64>,
    /// Sync bytes they sent and received after returning.
    pub catch_up_bytes: u64,
    /// Per returning node.
    pub catch_up_bytes_per_node: f64,
    /// What they missed: envelope bytes of the final state they did not hold, per node.
    pub missed_bytes_per_node: f64,
}

/// Hostile-node figures.
#[derive(Clone, Debug, Serialize)]
pub struct HostileFigures {
    /// Hostile nodes.
    pub nodes: usize,
    /// Forged envelopes sent.
    pub forgeries_sent: u64,
    /// Junk messages sent.
    pub floods_sent: u64,
    /// Junk bytes sent.
    pub flood_bytes_sent: u64,
    /// Oversized messages sent.
    pub oversized_sent: u64,
    /// Over-hop events sent.
    pub over_hop_sent: u64,
    /// Events in honest stores that their origin never published (forgeries accepted).
    pub forgeries_accepted: u64,
    /// Memory over the flood-only window.
    pub flood_window: Option<FloodWindow>,
}

/// A named invariant.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Its name.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// The figures behind the verdict.
    pub detail: String,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario, as run.
    pub scenario: Scenario,
    /// Links.
    pub edges: usize,
    /// Longest shortest path.
    pub diameter: usize,
    /// Honest nodes.
    pub honest_nodes: usize,
    /// New events published.
    pub events: usize,
    /// Revisions published (creations, updates, cancellations).
    pub revisions: usize,
    /// Share of (honest node, event) pairs holding the event's final revision at the end.
    pub delivery_ratio: f64,
    /// Share delivered by the time the last planned action was done (gossip, mostly).
    pub delivery_ratio_by_last_action: f64,
    /// Publication to storage at each honest node that stayed up.
    pub latency_ms: Percentiles,
    /// Copies received beyond the first, per honest node per revision.
    pub duplicates_per_node_per_event: f64,
    /// Bytes.
    pub bytes: Bytes,
    /// Hop count each event is stored with at the end (honest nodes, other origins).
    pub hops: BTreeMap<u8, u64>,
    /// Moments.
    pub times: Times,
    /// From the last planned action to convergence.
    pub converge_secs: Option<f64>,
    /// From the heal to convergence.
    pub partition_converge_secs: Option<f64>,
    /// Churn.
    pub churn: Option<ChurnFigures>,
    /// Hostile nodes.
    pub hostile: Option<HostileFigures>,
    /// Rejections counted by honest nodes, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Resident memory of the whole process: before linking, and at its peak.
    pub rss_idle_mb: f64,
    /// Peak RSS.
    pub rss_peak_mb: f64,
    /// Peak RSS / nodes.
    pub rss_per_node_kb: f64,
    /// The named checks.
    pub checks: Vec<Check>,
    /// Latency CDF points (ms, share).
    pub latency_cdf: Vec<(f64, f64)>,
    /// Share of first deliveries done over time (s since the workload started, share).
    pub delivery_over_time: Vec<(f64, f64)>,
    /// Bytes each node sent per revision.
    pub bytes_per_node: Vec<f64>,
    /// RSS over time (s, MiB).
    pub rss_over_time: Vec<(f64, f64)>,
    /// Every timed delivery: (node, event hash, revision, hop, ms).
    #[serde(skip)]
    pub deliveries: Vec<(u32, u64, u32, u8, f64)>,
    /// Per node: (role, bytes sent, duplicates, received, sync bytes out, done at).
    #[serde(skip)]
    pub per_node: Vec<(String, u64, u64, u64, u64, Option<f64>)>,
}

impl Report {
    /// Whether every named check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The summary a terminal shows.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let sc = &self.scenario;
        let _ = writeln!(
            s,
            "{}: {} nodes ({} honest), {} links, diameter {}, {} events / {} revisions",
            sc.name,
            sc.nodes,
            self.honest_nodes,
            self.edges,
            self.diameter,
            self.events,
            self.revisions
        );
        let _ = writeln!(
            s,
            "delivery {:.2}% (by last action {:.2}%), latency p50 {:.0} ms p90 {:.0} ms p99 {:.0} ms max {:.0} ms",
            self.delivery_ratio * 100.0,
            self.delivery_ratio_by_last_action * 100.0,
            self.latency_ms.p50,
            self.latency_ms.p90,
            self.latency_ms.p99,
            self.latency_ms.max
        );
        let _ = writeln!(
            s,
            "duplicates {:.2} per node per event; bytes {:.0} per node per event = {:.2}× ideal ({:.0} B events; sync {:.1}% of bytes)",
            self.duplicates_per_node_per_event,
            self.bytes.per_node_per_event,
            self.bytes.ratio_to_ideal,
            self.bytes.event_bytes,
            100.0 * self.bytes.sync_sent as f64 / self.bytes.total_sent.max(1) as f64
        );
        let hops: Vec<String> = self.hops.iter().map(|(h, c)| format!("{h}:{c}")).collect();
        let _ = writeln!(s, "hops {}", hops.join(" "));
        if let Some(c) = self.converge_secs {
            let _ = writeln!(s, "converged {c:.2} s after the last action");
        }
        if let Some(c) = self.partition_converge_secs {
            let _ = writeln!(s, "partition: converged {c:.2} s after healing");
        }
        if let Some(c) = &self.churn {
            let _ = writeln!(
                s,
                "churn: {} nodes caught up in {} s with {:.0} sync bytes each (missed {:.0} bytes of events each)",
                c.nodes,
                c.catch_up_secs.map_or("—".into(), |x| format!("{x:.2}")),
                c.catch_up_bytes_per_node,
                c.missed_bytes_per_node
            );
        }
        if let Some(h) = &self.hostile {
            let _ = writeln!(
                s,
                "hostile: {} nodes sent {} forgeries, {} junk, {} oversized, {} over-hop; {} accepted",
                h.nodes, h.forgeries_sent, h.floods_sent, h.oversized_sent, h.over_hop_sent, h.forgeries_accepted
            );
        }
        let rej: Vec<String> = self
            .rejected
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "rejected {}", rej.join(" "));
        let _ = writeln!(
            s,
            "memory: {:.0} MiB idle, {:.0} MiB peak ({:.0} KiB per node); wall {:.1} s",
            self.rss_idle_mb,
            self.rss_peak_mb,
            self.rss_per_node_kb,
            self.times.converged.unwrap_or(self.times.last_action)
        );
        for c in &self.checks {
            let _ = writeln!(
                s,
                "check {:<28} {}  {}",
                c.name,
                if c.passed { "PASS" } else { "FAIL" },
                c.detail
            );
        }
        s
    }

    /// Writes report.json, the CSV files and the plots into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("deliveries.csv"))?);
        writeln!(f, "node,event,revision,hop,latency_ms")?;
        for (n, e, r, h, ms) in &self.deliveries {
            writeln!(f, "{n},{e:016x},{r},{h},{ms:.3}")?;
        }
        f.flush()?;
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("nodes.csv"))?);
        writeln!(
            f,
            "node,role,bytes_sent,duplicates,received,sync_bytes_out,final_state_at_s"
        )?;
        for (i, (role, b, d, r, s, at)) in self.per_node.iter().enumerate() {
            let at = at.map_or(String::new(), |x| format!("{x:.3}"));
            writeln!(f, "{i},{role},{b},{d},{r},{s},{at}")?;
        }
        f.flush()?;
        let series = |name: &str, head: &str, rows: &[(f64, f64)]| -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name))?);
            writeln!(f, "{head}")?;
            for (a, b) in rows {
                writeln!(f, "{a:.4},{b:.6}")?;
            }
            f.flush()
        };
        series(
            "delivery_over_time.csv",
            "seconds,share",
            &self.delivery_over_time,
        )?;
        series("rss.csv", "seconds,mib", &self.rss_over_time)?;
        crate::plot::all(self, dir)
    }
}

use std::fmt::Write as _;

pub(crate) fn build(x: Input<'_>) -> Report {
    let sc = x.sc;
    let n = sc.nodes;
    let honest_n = x.honest.len();
    let revisions = x.published.len();
    let events = x.published.iter().filter(|p| p.revision == 0).count();
    let pubs: HashMap<(u64, u32), &Published> = x
        .published
        .iter()
        .map(|p| ((p.hash, p.revision), p))
        .collect();

    // Latency: honest nodes that stayed up, first arrival of each published revision.
    let mut first: HashMap<(u32, u64, u32), &Delivery> = HashMap::new();
    for d in x.deliveries {
        first.entry((d.node, d.key, d.revision)).or_insert(d);
    }
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
    let latency_ms = percentiles(&lat);
    let latency_cdf: Vec<(f64, f64)> = (0..=200)
        .filter_map(|q| {
            let share = q as f64 / 200.0;
            (!lat.is_empty()).then(|| {
                let i = ((lat.len() as f64 * share).ceil() as usize).clamp(1, lat.len()) - 1;
                (lat[i], share)
            })
        })
        .collect();

    // Deliveries of new events over time, against every honest node but the origin.
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
    let mut delivery_over_time = vec![(0.0, 0.0)];
    let step = (firsts.len() / 400).max(1);
    for (i, t) in firsts.iter().enumerate() {
        if i % step == 0 || i + 1 == firsts.len() {
            delivery_over_time.push((*t, (i + 1) as f64 / want.max(1.0)));
        }
    }
    let by_last_action = firsts
        .iter()
        .filter(|t| **t + x.times.work <= x.times.last_action)
        .count() as f64
        / want.max(1.0);

    let diff = |i: usize, k: usize| x.counters_after[i][k].saturating_sub(x.counters_before[i][k]);
    let dups: u64 = x.honest.iter().map(|&i| diff(i, 0)).sum();
    let total_sent: u64 = x
        .honest
        .iter()
        .map(|&i| x.sent_after[i].saturating_sub(x.sent_before[i]))
        .sum();
    let sync_sent: u64 = x.honest.iter().map(|&i| diff(i, 1)).sum();
    let env_total: usize = x
        .published
        .iter()
        .filter_map(|p| x.envelope_bytes.get(&(p.hash, p.revision)))
        .sum();
    let event_bytes = env_total as f64 / revisions.max(1) as f64;
    let denom = (honest_n * revisions).max(1) as f64;
    let bytes = Bytes {
        event_bytes,
        total_sent,
        sync_sent,
        per_node_per_event: total_sent as f64 / denom,
        ratio_to_ideal: total_sent as f64 / (event_bytes * denom).max(1.0),
    };
    let bytes_per_node: Vec<f64> = (0..n)
        .map(|i| x.sent_after[i].saturating_sub(x.sent_before[i]) as f64 / revisions.max(1) as f64)
        .collect();

    let churn = sc.churn.as_ref().map(|_| {
        let away: Vec<usize> = (0..n).filter(|&i| x.was_away[i]).collect();
        let bytes: u64 = away.iter().map(|&i| diff(i, 1) + diff(i, 5)).sum();
        let caught = away
            .iter()
            .map(|i| x.done_at.get(i).copied())
            .collect::<Option<Vec<f64>>>();
        ChurnFigures {
            nodes: away.len(),
            catch_up_secs: caught.and_then(|v| {
                let last = v.into_iter().fold(0.0, f64::max);
                x.times.returned.map(|r| (last - r).max(0.0))
            }),
            catch_up_bytes: bytes,
            catch_up_bytes_per_node: bytes as f64 / away.len().max(1) as f64,
            // Everything was published while they were away.
            missed_bytes_per_node: x.expected_len as f64 * event_bytes,
        }
    });

    let hostile = sc.hostile.as_ref().map(|_| HostileFigures {
        nodes: n - honest_n,
        forgeries_sent: x.injected.forgeries.load(Relaxed),
        floods_sent: x.injected.floods.load(Relaxed),
        flood_bytes_sent: x.injected.flood_bytes.load(Relaxed),
        oversized_sent: x.injected.oversized.load(Relaxed),
        over_hop_sent: x.injected.over_hop.load(Relaxed),
        forgeries_accepted: x.foreign,
        flood_window: x.flood_window.clone(),
    });

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
            honest_n
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
    let per_node = (0..n)
        .map(|i| {
            (
                role(i).to_string(),
                x.sent_after[i].saturating_sub(x.sent_before[i]),
                diff(i, 0),
                diff(i, 3),
                diff(i, 1),
                x.done_at.get(&i).copied(),
            )
        })
        .collect();
    let peak = x.rss.iter().map(|r| r.1).max().unwrap_or(0);
    Report {
        scenario: sc.clone(),
        edges: x.edges.len(),
        diameter: crate::topology::diameter(n, &x.edges.to_vec()),
        honest_nodes: honest_n,
        events,
        revisions,
        delivery_ratio: x.held_final as f64 / (honest_n * x.expected_len).max(1) as f64,
        delivery_ratio_by_last_action: by_last_action,
        latency_ms,
        duplicates_per_node_per_event: dups as f64 / denom,
        bytes,
        hops: x.hops_stored,
        converge_secs: x.times.converged.map(|c| c - x.times.last_action),
        partition_converge_secs: x.times.heal.and_then(|h| x.times.converged.map(|c| c - h)),
        times: x.times,
        churn,
        hostile,
        rejected: x.rejected,
        rss_idle_mb: x.rss_idle as f64 / 1048576.0,
        rss_peak_mb: peak as f64 / 1048576.0,
        rss_per_node_kb: peak as f64 / 1024.0 / n as f64,
        checks,
        latency_cdf,
        delivery_over_time,
        bytes_per_node,
        rss_over_time: x
            .rss
            .iter()
            .map(|(t, b)| (*t, *b as f64 / 1048576.0))
            .collect(),
        deliveries: rows,
        per_node,
    }
}
