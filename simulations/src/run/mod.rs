//! Runs a scenario: starts the nodes, drives the phases, measures, checks.
//!
//! `sim.rs` holds the simulated network and its nodes, `workload.rs` what honest nodes
//! publish, `hostile.rs` what hostile ones inject, `measure.rs` what is read off at the end;
//! [`run`] here puts the phases in order.

mod hostile;
mod measure;
mod proposals;
mod sim;
pub(crate) mod workload;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discal_protocol::{EventKey, NodeKey, NodeSecret};
use discal_store::heap::rss_bytes;
use discal_store::Store;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

pub(crate) use hostile::Injected;

use crate::link::SimNet;
use crate::report::{self, Report};
use crate::scenario::Scenario;
use crate::topology;
use sim::{Recorder, Sim};

/// Why a run could not be carried out (a failed check is not an error: it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// The topology.
    #[error(transparent)]
    Topology(#[from] topology::TopologyError),
    /// A node failed to start.
    #[error("node {0}: {1}")]
    Node(usize, discal_node::NodeError),
    /// A local write failed.
    #[error("publishing at node {0}: {1}")]
    Write(usize, discal_gateway::WriteError),
    /// The network never formed.
    #[error("the network did not form: {0}")]
    Formation(String),
    /// A store read.
    #[error("store: {0}")]
    Store(#[from] discal_store::StoreError),
    /// What a Shadow run cannot reproduce.
    #[error("{0}")]
    Unsupported(String),
    /// Writing or reading a Shadow run's files.
    #[error("{0}")]
    Io(String),
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// One delivery as the observers saw it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delivery {
    pub node: u32,
    pub key: u64,
    pub revision: u32,
    pub hop: u8,
    /// Seconds since the run started.
    pub at: f64,
}

/// A revision the workload published.
#[derive(Clone, Debug)]
pub(crate) struct Published {
    pub origin: usize,
    pub key: EventKey,
    pub hash: u64,
    pub revision: u32,
    pub at: f64,
}

pub(crate) fn key_hash(k: &EventKey) -> u64 {
    // SipHash with fixed keys: the same on every run, unlike the std map's RandomState.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    k.origin.as_bytes().hash(&mut h);
    k.uid.hash(&mut h);
    h.finish()
}

/// Which nodes play which part: hostile and churned nodes are disjoint; the partition is
/// drawn separately.
pub(crate) struct Roles {
    hostile: Vec<usize>,
    churned: Vec<usize>,
    pub is_hostile: Vec<bool>,
    pub was_away: Vec<bool>,
    /// The partition's side of each node, if the scenario has one.
    groups: Option<Vec<u8>>,
}

impl Roles {
    fn draw(sc: &Scenario, rng: &mut StdRng) -> Self {
        let n = sc.nodes;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let n_hostile = sc
            .hostile
            .as_ref()
            .map_or(0, |h| ((n as f64 * h.fraction).round() as usize).max(1));
        let hostile: Vec<usize> = order[..n_hostile].to_vec();
        let n_churn = sc
            .churn
            .as_ref()
            .map_or(0, |c| ((n as f64 * c.fraction).round() as usize).max(1));
        let churned: Vec<usize> = order[n_hostile..n_hostile + n_churn].to_vec();
        let groups = sc.partition.as_ref().map(|p| {
            let mut o: Vec<usize> = (0..n).collect();
            o.shuffle(rng);
            let cut = ((n as f64 * p.fraction).round() as usize).clamp(1, n - 1);
            let mut g = vec![1u8; n];
            for &i in &o[..cut] {
                g[i] = 0;
            }
            g
        });
        Self {
            is_hostile: (0..n).map(|i| hostile.contains(&i)).collect(),
            was_away: (0..n).map(|i| churned.contains(&i)).collect(),
            hostile,
            churned,
            groups,
        }
    }
}

fn progress_bar(show: bool, n: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    indicatif::ProgressBar::new(n as u64).with_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

/// Samples this process's memory every 250 ms until aborted.
fn sample_rss(rec: Arc<Recorder>, log: Arc<Mutex<Vec<(f64, u64)>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut t = tokio::time::interval(Duration::from_millis(250));
        loop {
            t.tick().await;
            if let Ok(mut l) = log.lock() {
                l.push((rec.secs(), rss_bytes()));
            }
        }
    })
}

/// Starts each hostile node's injections; they stop when `stop` fires.
fn start_hostile(
    sim: &Sim,
    sc: &Scenario,
    roles: &Roles,
    injected: &Arc<Injected>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    roles
        .hostile
        .iter()
        .filter_map(|&i| {
            let h = sim.nodes[i].clone()?;
            Some(tokio::spawn(hostile::misbehave(
                i,
                h,
                sim.secrets[i],
                sc.clone(),
                sc.seed ^ (i as u64 + 1) << 32,
                injected.clone(),
                stop.clone(),
            )))
        })
        .collect()
}

/// Ends the partition and brings churned nodes back, each when the scenario says; returns
/// when each happened.
async fn end_disturbances(
    sim: &mut Sim,
    sc: &Scenario,
    churned: &[usize],
    t_split: f64,
    t_leave: f64,
) -> Result<(Option<f64>, Option<f64>), SimError> {
    // `t_split` and `t_leave` are network seconds, the durations (of the wall-clock scenario)
    // wall seconds.
    let wall = |t: f64| sim.rec.start + Duration::from_secs_f64(t * sim.rec.dilation);
    let mut t_heal = None;
    if let Some(p) = &sc.partition {
        sim.bar.set_message("partitioned");
        tokio::time::sleep_until(wall(t_split) + Duration::from_secs_f64(p.duration_secs)).await;
        sim.net.heal();
        t_heal = Some(sim.secs());
    }
    let mut t_return = None;
    if let Some(c) = &sc.churn {
        sim.bar.set_message("nodes away");
        tokio::time::sleep_until(wall(t_leave) + Duration::from_secs_f64(c.away_secs)).await;
        for &i in churned {
            sim.start(i).await?;
        }
        t_return = Some(sim.secs());
    }
    Ok((t_heal, t_return))
}

/// What the phases before the measurement left behind.
struct Ran {
    edges: Vec<(usize, usize)>,
    roles: Roles,
    published: Vec<Published>,
    rss_idle: u64,
    rss_log: Arc<Mutex<Vec<(f64, u64)>>>,
    sampler: tokio::task::JoinHandle<()>,
    sent_before: Vec<u64>,
    before: Vec<[u64; 7]>,
    injected: Arc<Injected>,
    stop_hostile: tokio::sync::watch::Sender<bool>,
    hostile_tasks: Vec<tokio::task::JoinHandle<()>>,
    times: report::Times,
}

/// The network a scenario describes, drawn from its seed: the same for an in-process run and
/// a Shadow run of one scenario.
pub(crate) struct Plan {
    /// Draws the workload next.
    pub rng: StdRng,
    pub edges: Vec<(usize, usize)>,
    pub secrets: Vec<[u8; 32]>,
    pub keys: Vec<NodeKey>,
    pub roles: Roles,
}

pub(crate) fn plan(sc: &Scenario) -> Result<Plan, SimError> {
    let mut rng = StdRng::seed_from_u64(sc.seed);
    let edges = sc.topology.build(sc.nodes, &mut rng)?;
    let secrets: Vec<[u8; 32]> = (0..sc.nodes).map(|_| rng.gen()).collect();
    let keys: Vec<NodeKey> = secrets
        .iter()
        .map(|s| NodeSecret::from_seed_array(*s).public())
        .collect();
    let roles = Roles::draw(sc, &mut rng);
    Ok(Plan {
        rng,
        edges,
        secrets,
        keys,
        roles,
    })
}

/// Runs `sc` and returns its report (the named checks are in it).
pub async fn run(virt: &Scenario, opts: &RunOptions) -> Result<Report, SimError> {
    virt.check()?;
    // What happens on the wall clock; everything measured is divided back into network time,
    // and the report names the scenario as written.
    let wall = virt.on_wall_clock();
    let sc = &wall;
    let n = sc.nodes;
    let Plan {
        mut rng,
        edges,
        secrets,
        keys,
        roles,
    } = plan(sc)?;
    let adj = topology::adjacency(n, &edges);
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        dilation: virt.dilation,
        log: Mutex::new(Vec::new()),
    });
    let mut sim = Sim {
        net: SimNet::new(n, sc.link.clone(), sc.seed),
        sc: sc.clone(),
        secrets,
        keys,
        adj,
        stores: (0..n).map(|_| Arc::new(Store::memory())).collect(),
        nodes: (0..n).map(|_| None).collect(),
        http: vec![None; n],
        rec: rec.clone(),
        bar: progress_bar(opts.progress, n),
    };
    let ran = drive(&mut sim, sc, &mut rng, edges, roles).await?;
    let honest: Vec<bool> = (0..n).map(|i| !ran.roles.is_hostile[i]).collect();
    let mut report = conclude(&sim, virt, ran).await?;
    if let Some(load) = &sc.proposals {
        sim.bar.set_message("proposals");
        let (figures, rsvps) = proposals::run(&mut sim, load, &honest, &mut rng).await?;
        report.add_proposals(figures);
        if let Some(r) = rsvps {
            report.add_rsvps(r);
        }
    }
    sim.bar.set_message("stopping");
    let all: Vec<usize> = (0..n).collect();
    sim.stop(&all).await;
    sim.bar.finish_and_clear();
    report.wall_secs = rec.start.elapsed().as_secs_f64();
    report.cpu_secs = cpu_secs();
    Ok(report)
}

/// CPU seconds (user + system) this process has used, from `/proc/self/stat` (0 elsewhere).
fn cpu_secs() -> f64 {
    // utime and stime: the 12th and 13th fields after the command name.
    stat_secs(11, 12)
}

/// CPU seconds of this process's finished and waited-for children (cutime + cstime, the 14th
/// and 15th fields): Shadow and the nodes it ran (0 elsewhere).
pub fn children_cpu_secs() -> f64 {
    stat_secs(13, 14)
}

/// The sum of two tick fields of `/proc/self/stat`, counted after the command name (which may
/// hold spaces, so from its closing parenthesis), in seconds (USER_HZ is 100 on Linux).
fn stat_secs(a: usize, b: usize) -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(a) + ticks(b)) / 100.0
}

/// Starts the nodes, forms the network, starts the disturbances and hostile nodes, runs the
/// workload and ends the disturbances.
async fn drive(
    sim: &mut Sim,
    sc: &Scenario,
    rng: &mut StdRng,
    edges: Vec<(usize, usize)>,
    roles: Roles,
) -> Result<Ran, SimError> {
    let n = sc.nodes;
    let rss_log: Arc<Mutex<Vec<(f64, u64)>>> = Arc::default();
    let sampler = sample_rss(sim.rec.clone(), rss_log.clone());
    sim.bar.set_message("starting nodes");
    for i in 0..n {
        sim.start(i).await?;
        sim.bar.set_position(i as u64 + 1);
    }
    let rss_idle = rss_bytes();
    let form_secs = sim
        .await_links(Duration::from_secs(60 + n as u64 / 10), "linking")
        .await?;
    let t_ready = sim.secs();
    // Disturbances start just before the workload.
    if let Some(g) = &roles.groups {
        sim.net.partition(g.clone());
    }
    let t_split = sim.secs();
    sim.stop(&roles.churned).await;
    let t_leave = sim.secs();
    let sent_before = sim.bytes_sent();
    let before = sim.counters();
    let injected = Arc::new(Injected::default());
    let (stop_hostile, stop_rx) = tokio::sync::watch::channel(false);
    let hostile_tasks = start_hostile(sim, sc, &roles, &injected, &stop_rx);
    let t_work = sim.secs();
    let publishers: Vec<usize> = (0..n)
        .filter(|&i| !roles.is_hostile[i] && !roles.was_away[i])
        .collect();
    let published = workload::publish(sim, sc, rng, &publishers).await?;
    let t_work_end = sim.secs();
    let (heal, returned) = end_disturbances(sim, sc, &roles.churned, t_split, t_leave).await?;
    Ok(Ran {
        edges,
        roles,
        published,
        rss_idle,
        rss_log,
        sampler,
        sent_before,
        before,
        injected,
        stop_hostile,
        hostile_tasks,
        times: report::Times {
            form_secs,
            ready: t_ready,
            work: t_work,
            work_end: t_work_end,
            heal,
            returned,
            last_action: sim.secs(),
            converged: None,
        },
    })
}

/// Waits for convergence, measures the flood window, stops the hostile nodes and builds the
/// report from what the stores hold.
async fn conclude(sim: &Sim, sc: &Scenario, mut ran: Ran) -> Result<Report, SimError> {
    let n = sc.nodes;
    let expected = measure::expected_state(sim, &ran.published)?;
    let honest: Vec<usize> = (0..n).filter(|&i| !ran.roles.is_hostile[i]).collect();
    // Waiting happens on the wall clock (`sim.sc`); the report describes `sc`.
    let (done_at, pending) = measure::converge(sim, &sim.sc, &honest, &expected).await;
    ran.times.converged = (pending == 0).then(|| sim.secs());
    let after = sim.counters();
    let sent_after = sim.bytes_sent();
    let flood_window = measure::flood_window(sim, &sim.sc, &honest).await;
    let _ = ran.stop_hostile.send(true);
    for t in ran.hostile_tasks.drain(..) {
        let _ = t.await;
    }
    ran.sampler.abort();
    sim.bar.set_message("measuring");
    let held = measure::holdings(sim, sc, &honest, &expected, &ran.published)?;
    let deliveries = sim.rec.log.lock().map(|l| l.clone()).unwrap_or_default();
    let rss = ran.rss_log.lock().map(|l| l.clone()).unwrap_or_default();
    Ok(report::build(report::Input {
        sc,
        edges: &ran.edges,
        honest: &honest,
        is_hostile: &ran.roles.is_hostile,
        was_away: &ran.roles.was_away,
        groups: ran.roles.groups.as_deref(),
        published: &ran.published,
        deliveries: &deliveries,
        envelope_bytes: &measure::envelope_bytes(sim, &ran.published),
        expected_len: expected.len(),
        done_at: &done_at,
        pending,
        digests: &held.digests,
        expected_digest: report::digest(expected.iter().map(|(k, (r, id))| (k, *r, *id))),
        foreign: held.foreign,
        over_hop: held.over_hop,
        held_final: held.held_final,
        hops_stored: held.hops_stored,
        rejected: measure::rejected(sim, &honest),
        counters_before: &ran.before,
        counters_after: &after,
        sent_before: &ran.sent_before,
        sent_after: &sent_after,
        injected: &ran.injected,
        flood_window,
        rss: &rss,
        rss_idle: ran.rss_idle,
        times: ran.times.clone(),
        link_bytes: true,
    }))
}
