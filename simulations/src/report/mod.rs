//! Figures from a run, the named checks, and the files they are written to. `build.rs` computes
//! them from what the runner hands over.

mod build;

pub(crate) use build::build;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

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
    pub counters_before: &'a [[u64; 7]],
    pub counters_after: &'a [[u64; 7]],
    pub sent_before: &'a [u64],
    pub sent_after: &'a [u64],
    pub injected: &'a Injected,
    pub flood_window: Option<FloodWindow>,
    pub rss: &'a [(f64, u64)],
    pub rss_idle: u64,
    pub times: Times,
    /// Whether `sent_*` are link bytes (in-process) or payload counters (Shadow).
    pub link_bytes: bool,
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
    /// Where total_sent was counted: "link" (every byte written to a simulated link, with
    /// encryption and multiplexing) or "payload" (the nodes' gossip and sync payload counters,
    /// all a Shadow run can read).
    pub measured_at: String,
    /// Gossip and sync payload bytes honest nodes sent (their counters), over the same ideal:
    /// the figure an in-process run and a Shadow run both have.
    pub payload_ratio_to_ideal: f64,
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
    /// Proposals (issue 19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposals: Option<ProposalFigures>,
    /// The RSVPs among them, if the scenario makes any.
    pub rsvps: Option<RsvpFigures>,
    /// Rejections counted by honest nodes, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Resident memory of the whole process: before linking, and at its peak.
    pub rss_idle_mb: f64,
    /// Peak RSS.
    pub rss_peak_mb: f64,
    /// Peak RSS / nodes.
    pub rss_per_node_kb: f64,
    /// What the run cost on this machine: wall-clock seconds from start to report (with
    /// dilation, about `dilation` times the network time), and CPU seconds of the process.
    #[serde(default)]
    pub wall_secs: f64,
    /// CPU seconds (user + system) of the whole process.
    #[serde(default)]
    pub cpu_secs: f64,
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

/// The proposals phase: how many reached their origin, and how soon it decided.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProposalFigures {
    /// Proposals made.
    pub made: usize,
    /// Nodes away while they were made.
    pub nodes_away: usize,
    /// Share that reached the origin.
    pub delivered: f64,
    /// From making a proposal to its origin's decision.
    pub decision_ms: Percentiles,
}

/// RSVPs: how many reached their origin and how soon it counted them, and how soon every node
/// held the counts the origin published.
#[derive(Clone, Debug, Serialize)]
pub struct RsvpFigures {
    /// As for proposals: made, delivered, time to the origin's count.
    pub answers: ProposalFigures,
    /// Events answered.
    pub events: usize,
    /// Share of (honest node up, answered event) pairs holding the event with counts that
    /// include every answer that reached its origin.
    pub counts_delivered: f64,
    /// From the last answer reaching its origin until every such pair held the counts.
    pub counts_spread_secs: Option<f64>,
}

impl ProposalFigures {
    /// From the decision times of those delivered (sorted).
    pub fn new(made: usize, nodes_away: usize, sorted_ms: &[f64]) -> Self {
        Self {
            made,
            nodes_away,
            delivered: sorted_ms.len() as f64 / made.max(1) as f64,
            decision_ms: percentiles(sorted_ms),
        }
    }
}

impl Report {
    /// Adds the proposals phase's figures and its check (every proposal reached its origin).
    pub fn add_proposals(&mut self, p: ProposalFigures) {
        self.checks.push(Check {
            name: "proposals delivered".into(),
            passed: p.made > 0 && p.delivered >= 1.0,
            detail: format!(
                "{:.1}% of {} proposals reached their origin ({} nodes away); decision p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                p.delivered * 100.0,
                p.made,
                p.nodes_away,
                p.decision_ms.p50,
                p.decision_ms.p99,
                p.decision_ms.max
            ),
        });
        self.proposals = Some(p);
    }

    /// Adds the RSVPs' figures and their check (every answer reached its origin, and its
    /// counts reached every node).
    pub fn add_rsvps(&mut self, r: RsvpFigures) {
        let a = &r.answers;
        self.checks.push(Check {
            name: "rsvps counted everywhere".into(),
            passed: a.made > 0 && a.delivered >= 1.0 && r.counts_delivered >= 1.0,
            detail: format!(
                "{:.1}% of {} RSVPs reached their origin (count p50 {:.0} ms, p99 {:.0} ms); {:.1}% of nodes hold the counts of the {} events answered, {} s after the last arrival",
                a.delivered * 100.0,
                a.made,
                a.decision_ms.p50,
                a.decision_ms.p99,
                r.counts_delivered * 100.0,
                r.events,
                r.counts_spread_secs.map_or("—".into(), |x| format!("{x:.2}"))
            ),
        });
        self.rsvps = Some(r);
    }

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
            "duplicates {:.2} per node per event; {} bytes {:.0} per node per event = {:.2}× ideal ({:.0} B events; sync {:.1}% of bytes; payload {:.2}× ideal)",
            self.duplicates_per_node_per_event,
            self.bytes.measured_at,
            self.bytes.per_node_per_event,
            self.bytes.ratio_to_ideal,
            self.bytes.event_bytes,
            100.0 * self.bytes.sync_sent as f64 / self.bytes.total_sent.max(1) as f64,
            self.bytes.payload_ratio_to_ideal
        );
        let hops: Vec<String> = self.hops.iter().map(|(h, c)| format!("{h}:{c}")).collect();
        let _ = writeln!(s, "hops {}", hops.join(" "));
        self.disturbances(&mut s);
        let rej: Vec<String> = self
            .rejected
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(s, "rejected {}", rej.join(" "));
        let network = self.times.converged.unwrap_or(self.times.last_action);
        if self.rss_peak_mb > 0.0 {
            let _ = writeln!(
                s,
                "memory: {:.0} MiB idle, {:.0} MiB peak ({:.0} KiB per node); network time {network:.1} s",
                self.rss_idle_mb, self.rss_peak_mb, self.rss_per_node_kb,
            );
        } else {
            // A Shadow run: the nodes are other processes.
            let _ = writeln!(s, "memory: not measured; network time {network:.1} s");
        }
        let _ = writeln!(
            s,
            "cost: dilation {}, wall {:.1} s, CPU {:.1} s",
            sc.dilation, self.wall_secs, self.cpu_secs
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

    /// The summary's lines on convergence, partition, churn and hostile nodes.
    fn disturbances(&self, s: &mut String) {
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
