//! What a run does, as a TOML file (every key optional; defaults below).

use serde::{Deserialize, Serialize};

use crate::link::LinkModel;
use crate::topology::Topology;

/// One simulation run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// A label for the report.
    pub name: String,
    /// Nodes in the network.
    pub nodes: usize,
    /// Seeds the topology, keys, workload, link draws and role assignment.
    pub seed: u64,
    /// Every node's `max_hops`.
    pub max_hops: u8,
    /// Who peers with whom.
    pub topology: Topology,
    /// How links behave.
    pub link: LinkModel,
    /// Protocol timers.
    pub timers: Timers,
    /// Gossipsub's fan-out.
    pub gossip: Gossip,
    /// What gets published.
    pub workload: Workload,
    /// A split of the network while the workload runs.
    pub partition: Option<Partition>,
    /// Nodes away while the workload runs.
    pub churn: Option<Churn>,
    /// Nodes that misbehave.
    pub hostile: Option<Hostile>,
    /// Proposals after the events converged (docs/protocol.md §12).
    pub proposals: Option<ProposalLoad>,
    /// How long to wait for convergence after the last planned action, in seconds.
    pub converge_timeout_secs: f64,
    /// Time dilation (DieCast): every latency, timer, interval and duration of the run is
    /// stretched by this factor and every rate divided by it, and measured times are divided by
    /// it again, so a network too large for the CPU to run in real time is measured as if it
    /// had. 1 runs in real time. Every time in this file and in the report is network time.
    pub dilation: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "default".into(),
            nodes: 100,
            seed: 1,
            max_hops: 16,
            topology: Topology::RandomRegular { degree: 6 },
            link: LinkModel::default(),
            timers: Timers::default(),
            gossip: Gossip::default(),
            workload: Workload::default(),
            partition: None,
            churn: None,
            hostile: None,
            proposals: None,
            converge_timeout_secs: 120.0,
            dilation: 1.0,
        }
    }
}

/// Protocol timers, settable per scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timers {
    /// Gossipsub heartbeat.
    pub heartbeat_ms: u64,
    /// How long gossipsub remembers seen message ids.
    pub duplicate_cache_secs: u64,
    /// Periodic catch-up sync with each peer.
    pub sync_interval_secs: u64,
    /// Longest wait between redials of an unreachable peer.
    pub redial_max_secs: u64,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            heartbeat_ms: 1000,
            duplicate_cache_secs: 60,
            sync_interval_secs: 60,
            redial_max_secs: 2,
        }
    }
}

/// How far each message is pushed: the knobs that trade duplicates for robustness.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Gossip {
    /// Gossipsub's target mesh degree D.
    pub mesh_n: usize,
    /// Send each relay to every connected peer (true, the node's default) or to the mesh only.
    pub flood_publish: bool,
    /// Peers given IHAVE gossip per heartbeat outside the mesh (0: none; sync repairs).
    pub lazy: usize,
    /// Let gossipsub forward messages natively instead of hop-counting relays (a measurement
    /// of what hop counting costs; hop limits do not apply in this mode).
    pub native_forwarding: bool,
    /// Gossipsub's per-connection queue length (the node's default is 5,000; its preallocated
    /// half costs about 0.5 MB per connection end, 6 GB for 1,000 nodes of degree 6).
    pub queue_len: usize,
}

impl Default for Gossip {
    fn default() -> Self {
        let t = discal_node::Tuning::default();
        Self {
            mesh_n: t.mesh_n,
            flood_publish: t.flood_publish,
            lazy: t.gossip_lazy,
            queue_len: 1000,
            native_forwarding: false,
        }
    }
}

/// The publishing load.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    /// New events, each from a random honest node that is up.
    pub events: usize,
    /// New events per second.
    pub rate_per_sec: f64,
    /// Approximate size of each event's signed payload in bytes.
    pub event_bytes: usize,
    /// Share of events that recur (weekly, Europe/Berlin).
    pub recurring_share: f64,
    /// Share of events their origin updates once after all are published.
    pub updates: f64,
    /// Share of events their origin cancels after that.
    pub cancellations: f64,
}

impl Default for Workload {
    fn default() -> Self {
        Self {
            events: 100,
            rate_per_sec: 10.0,
            event_bytes: 2048,
            recurring_share: 0.2,
            updates: 0.0,
            cancellations: 0.0,
        }
    }
}

/// A partition: `fraction` of the nodes on one side, from just before the workload starts
/// until `duration_secs` later.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Partition {
    /// Share of nodes on the first side.
    pub fraction: f64,
    /// How long the network stays split.
    pub duration_secs: f64,
}

impl Default for Partition {
    fn default() -> Self {
        Self {
            fraction: 0.5,
            duration_secs: 30.0,
        }
    }
}

/// Churn: `fraction` of the nodes stop just before the workload starts and return (same key,
/// same store) `away_secs` later.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Churn {
    /// Share of nodes away.
    pub fraction: f64,
    /// How long they stay away.
    pub away_secs: f64,
}

impl Default for Churn {
    fn default() -> Self {
        Self {
            fraction: 0.1,
            away_secs: 20.0,
        }
    }
}

/// Proposals (issue 19): once the events have converged, people at random nodes propose changes
/// to random other origins' events while some nodes are away. Every node runs its HTTP gateway
/// on loopback (proposals travel to the origin's X-REVISE-URL) and trusts every other, so the
/// origin's decision is made at arrival.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProposalLoad {
    /// Proposals made.
    pub count: usize,
    /// Proposals per second.
    pub rate_per_sec: f64,
    /// Share of nodes away while they are made (origins and proposers alike).
    pub away_fraction: f64,
    /// How long they stay away.
    pub away_secs: f64,
    /// How long to wait for the last proposal to reach its origin.
    pub timeout_secs: f64,
    /// Share of the people's actions that are RSVPs (going, maybe, not going) rather than
    /// proposed changes. They travel the same way; the origin counts them and publishes the
    /// counts as a revision of the event, which every node must then hold.
    pub rsvp_share: f64,
    /// The origins' `proposals.rsvp_interval_secs`: least time between two revisions that
    /// publish an event's counts.
    pub rsvp_interval_secs: u64,
}

impl Default for ProposalLoad {
    fn default() -> Self {
        Self {
            count: 100,
            rate_per_sec: 20.0,
            away_fraction: 0.1,
            away_secs: 10.0,
            timeout_secs: 120.0,
            rsvp_share: 0.0,
            rsvp_interval_secs: 5,
        }
    }
}

/// Misbehaving nodes. They run the normal node code (and relay honest events) but also inject
/// the following through their gossip, from the workload's start until `tail_secs` after the
/// honest nodes have converged.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hostile {
    /// Share of nodes that misbehave.
    pub fraction: f64,
    /// Per hostile node: envelopes claiming an honest origin (tampered content, or signed by
    /// the wrong key) per second.
    pub forgeries_per_sec: f64,
    /// Per hostile node: junk messages per second.
    pub flood_per_sec: f64,
    /// Size of each junk message.
    pub flood_bytes: usize,
    /// Per hostile node: messages larger than any envelope may be, per second.
    pub oversized_per_sec: f64,
    /// Per hostile node: own valid events sent with a hop count beyond `max_hops`, per second.
    pub over_hop_per_sec: f64,
    /// How long the flood goes on after convergence, to measure memory under flood alone.
    pub tail_secs: f64,
}

impl Default for Hostile {
    fn default() -> Self {
        Self {
            fraction: 0.05,
            forgeries_per_sec: 2.0,
            flood_per_sec: 20.0,
            flood_bytes: 1024,
            oversized_per_sec: 0.5,
            over_hop_per_sec: 0.5,
            tail_secs: 20.0,
        }
    }
}

/// Why a scenario is refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file.
    #[error("{path}: {msg}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        msg: String,
    },
    /// A value out of range.
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// Reads a TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, ScenarioError> {
        let err = |msg: String| ScenarioError::Read {
            path: path.display().to_string(),
            msg,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let s: Scenario = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// Rejects values no run can honour.
    pub fn check(&self) -> Result<(), ScenarioError> {
        let bad = |m: &str| Err(ScenarioError::Invalid(m.into()));
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if self.nodes < 2 {
            return bad("nodes must be at least 2");
        }
        if self.gossip.mesh_n == 0 {
            return bad("gossip.mesh_n must be at least 1");
        }
        if self.max_hops == 0 {
            return bad("max_hops must be at least 1");
        }
        let w = &self.workload;
        if w.rate_per_sec <= 0.0 || !w.rate_per_sec.is_finite() {
            return bad("workload.rate_per_sec must be positive");
        }
        if !share(w.recurring_share) || !share(w.updates) || !share(w.cancellations) {
            return bad("workload shares must lie in 0..=1");
        }
        if w.event_bytes > 200_000 {
            return bad("workload.event_bytes above 200000 exceeds what an event may carry");
        }
        if !(0.0..1.0).contains(&self.link.loss) || self.link.latency_ms < 0.0 {
            return bad("link.loss must lie in 0..1 and link.latency_ms be non-negative");
        }
        if let Some(p) = &self.partition {
            if !(p.fraction > 0.0 && p.fraction < 1.0) {
                return bad("partition.fraction must lie strictly between 0 and 1");
            }
        }
        if let Some(c) = &self.churn {
            if !(c.fraction > 0.0 && c.fraction < 1.0) {
                return bad("churn.fraction must lie strictly between 0 and 1");
            }
        }
        if let Some(h) = &self.hostile {
            if !(h.fraction > 0.0 && h.fraction < 0.5) {
                return bad("hostile.fraction must lie strictly between 0 and 0.5");
            }
        }
        if !(1.0..=1000.0).contains(&self.dilation) {
            return bad("dilation must lie in 1..=1000");
        }
        if self.proposals.is_some() && self.dilation != 1.0 {
            // Their HTTP hop to the origin and its retry timers run on the wall clock.
            return bad("[proposals] travel over HTTP on loopback, outside the link model, and cannot be dilated: use dilation 1");
        }
        Ok(())
    }

    /// The scenario the run carries out on the wall clock: every duration stretched by
    /// `dilation` and every rate divided by it. Sizes, counts and shares stay.
    pub fn on_wall_clock(&self) -> Scenario {
        let k = self.dilation;
        let ms = |x: u64| (x as f64 * k).round() as u64;
        let secs = |x: u64| (x as f64 * k).ceil() as u64;
        let mut s = self.clone();
        s.link.latency_ms *= k;
        s.link.rto_ms *= k;
        s.link.bandwidth = (s.link.bandwidth as f64 / k).ceil() as u64;
        s.timers.heartbeat_ms = ms(s.timers.heartbeat_ms);
        s.timers.duplicate_cache_secs = secs(s.timers.duplicate_cache_secs);
        s.timers.sync_interval_secs = secs(s.timers.sync_interval_secs);
        s.timers.redial_max_secs = secs(s.timers.redial_max_secs);
        s.workload.rate_per_sec /= k;
        s.converge_timeout_secs *= k;
        if let Some(p) = &mut s.partition {
            p.duration_secs *= k;
        }
        if let Some(c) = &mut s.churn {
            c.away_secs *= k;
        }
        if let Some(h) = &mut s.hostile {
            h.forgeries_per_sec /= k;
            h.flood_per_sec /= k;
            h.oversized_per_sec /= k;
            h.over_hop_per_sec /= k;
            h.tail_secs *= k;
        }
        if let Some(p) = &mut s.proposals {
            p.rate_per_sec /= k;
            p.away_secs *= k;
            p.timeout_secs *= k;
        }
        s
    }
}
