//! Runs a scenario: starts the nodes, drives the phases, measures, checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discal_gateway::{Draft, WriteOp};
use discal_node::{Config, Mode, Node, NodeHandle, NodeOptions, PeerEntry, Reject, Stored, Tuning};
use discal_protocol::codec::{self, MAX_ENVELOPE_BYTES};
use discal_protocol::{Envelope, EventId, EventKey, NodeKey, NodeSecret, Relayed, SignedPayload};
use discal_store::Store;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::link::{self, SimNet};
use crate::report::{self, Report};
use crate::scenario::Scenario;
use crate::topology;

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

struct Recorder {
    start: Instant,
    log: Mutex<Vec<Delivery>>,
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

struct Sim {
    sc: Scenario,
    net: Arc<SimNet>,
    secrets: Vec<[u8; 32]>,
    keys: Vec<NodeKey>,
    adj: Vec<Vec<usize>>,
    stores: Vec<Arc<Store>>,
    nodes: Vec<Option<Arc<NodeHandle>>>,
    rec: Arc<Recorder>,
    bar: indicatif::ProgressBar,
}

impl Sim {
    fn secs(&self) -> f64 {
        self.rec.start.elapsed().as_secs_f64()
    }

    fn options(&self, i: usize) -> NodeOptions {
        let sc = &self.sc;
        let config = Config {
            listen: vec![link::addr_of(i).to_string()],
            mode: Mode::Closed,
            max_hops: sc.max_hops,
            sync_interval_secs: sc.timers.sync_interval_secs.max(1),
            redial_max_secs: sc.timers.redial_max_secs.max(1),
            name: format!("sim-{i}"),
            // One side of each link dials (the lower index), so a pair opens one connection.
            peers: self.adj[i]
                .iter()
                .map(|&j| PeerEntry {
                    key: self.keys[j].to_string(),
                    address: (i < j).then(|| link::addr_of(j).to_string()),
                    name: None,
                })
                .collect(),
            ..Config::default()
        };
        let mut o = NodeOptions::new(config, None);
        o.secret = Some(self.secrets[i]);
        let net = self.net.clone();
        o.transport = Some(Arc::new(move |key| {
            use libp2p::core::{upgrade::Version, Transport};
            Ok(net
                .transport(i)
                .upgrade(Version::V1Lazy)
                .authenticate(libp2p::noise::Config::new(key)?)
                .multiplex(libp2p::yamux::Config::default())
                .boxed())
        }));
        o.store = Some(self.stores[i].clone());
        o.gateway = false;
        o.tuning = Tuning {
            heartbeat: Duration::from_millis(sc.timers.heartbeat_ms.max(10)),
            duplicate_cache: Duration::from_secs(sc.timers.duplicate_cache_secs.max(1)),
            gossip_lazy: sc.gossip.lazy,
            mesh_n: sc.gossip.mesh_n,
            flood_publish: sc.gossip.flood_publish,
            queue_len: sc.gossip.queue_len,
            native_forwarding: sc.gossip.native_forwarding,
            ..Tuning::default()
        };
        let rec = self.rec.clone();
        o.observer = Some(Arc::new(move |s: &Stored| {
            let d = Delivery {
                node: i as u32,
                key: key_hash(&s.key),
                revision: s.revision,
                hop: s.hop,
                at: rec.start.elapsed().as_secs_f64(),
            };
            if let Ok(mut l) = rec.log.lock() {
                l.push(d);
            }
        }));
        o
    }

    async fn start(&mut self, i: usize) -> Result<(), SimError> {
        let h = Node::spawn(self.options(i))
            .await
            .map_err(|e| SimError::Node(i, e))?;
        self.nodes[i] = Some(Arc::new(h));
        Ok(())
    }

    async fn stop(&mut self, which: &[usize]) {
        let mut stopping = Vec::new();
        for &i in which {
            if let Some(h) = self.nodes[i].take() {
                stopping.push(tokio::spawn(async move {
                    // Hostile tasks may still hold a clone for a moment.
                    let mut h = h;
                    loop {
                        match Arc::try_unwrap(h) {
                            Ok(n) => return n.shutdown().await,
                            Err(back) => {
                                h = back;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                }));
            }
        }
        for t in stopping {
            let _ = t.await;
        }
    }

    /// Waits until every running node has a gossip link to each running neighbour.
    async fn await_links(&self, limit: Duration, what: &str) -> Result<f64, SimError> {
        let t0 = Instant::now();
        let up: Vec<bool> = self.nodes.iter().map(Option::is_some).collect();
        let want: Vec<usize> = (0..self.nodes.len())
            .map(|i| self.adj[i].iter().filter(|&&j| up[j]).count())
            .collect();
        let total: usize = want.iter().sum();
        self.bar.set_message(what.to_string());
        loop {
            let mut have = 0;
            for (i, n) in self.nodes.iter().enumerate() {
                if let Some(h) = n {
                    let c = h.connections().await.map_err(|e| SimError::Node(i, e))?;
                    have += c.gossip.len().min(want[i]);
                }
            }
            self.bar.set_length(total as u64);
            self.bar.set_position(have as u64);
            if have >= total {
                return Ok(t0.elapsed().as_secs_f64());
            }
            if t0.elapsed() > limit {
                return Err(SimError::Formation(format!(
                    "{have} of {total} gossip links after {:.0} s",
                    limit.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

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

/// What hostile nodes sent.
#[derive(Debug, Default)]
pub(crate) struct Injected {
    pub forgeries: std::sync::atomic::AtomicU64,
    pub floods: std::sync::atomic::AtomicU64,
    pub flood_bytes: std::sync::atomic::AtomicU64,
    pub oversized: std::sync::atomic::AtomicU64,
    pub over_hop: std::sync::atomic::AtomicU64,
}

/// One hostile node's injections until `stop` fires.
async fn misbehave(
    me: usize,
    node: Arc<NodeHandle>,
    secret: [u8; 32],
    sc: Scenario,
    seed: u64,
    injected: Arc<Injected>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(h) = sc.hostile.clone() else { return };
    let mut rng = StdRng::seed_from_u64(seed);
    let me_key = NodeSecret::from_seed_array(secret).public();
    let tick = 0.05;
    let mut credit = [0.0f64; 4];
    let rates = [
        h.forgeries_per_sec,
        h.flood_per_sec,
        h.oversized_per_sec,
        h.over_hop_per_sec,
    ];
    let mut interval = tokio::time::interval(Duration::from_secs_f64(tick));
    let mut k = 0u64;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        for (c, r) in credit.iter_mut().zip(rates) {
            *c += r * tick;
        }
        // Honest events this node holds serve as material for forgeries.
        let honest: Vec<_> = if credit[0] >= 1.0 {
            node.store()
                .inventory(None)
                .unwrap_or_default()
                .into_iter()
                .filter(|i| i.key.origin != me_key)
                .collect()
        } else {
            Vec::new()
        };
        while credit[0] >= 1.0 {
            credit[0] -= 1.0;
            let Some(item) = honest.choose(&mut rng) else {
                break;
            };
            let Ok(Some(ev)) = node.store().get(&item.key) else {
                continue;
            };
            let Ok(mut p) = codec::decode_canonical::<SignedPayload>(
                "payload",
                &ev.envelope.payload,
                MAX_ENVELOPE_BYTES,
            ) else {
                continue;
            };
            // A newer revision, or a new event, in the victim's name under its old signature.
            k += 1;
            if k % 2 == 0 {
                p.revision += 1;
            } else {
                p.uid = format!("forged-{me}-{k}@{}", p.origin.fmt_short());
            }
            let bytes = Relayed {
                hop: 2,
                path: vec![me_key],
                envelope: Envelope {
                    payload: codec::encode(&p),
                    signature: ev.envelope.signature,
                },
            }
            .encode();
            if node.gossip_raw(bytes).await.is_ok() {
                injected.forgeries.fetch_add(1, Relaxed);
            }
        }
        while credit[1] >= 1.0 {
            credit[1] -= 1.0;
            let junk: Vec<u8> = (0..h.flood_bytes).map(|_| rng.gen()).collect();
            if node.gossip_raw(junk).await.is_ok() {
                injected.floods.fetch_add(1, Relaxed);
                injected
                    .flood_bytes
                    .fetch_add(h.flood_bytes as u64, Relaxed);
            }
        }
        while credit[2] >= 1.0 {
            credit[2] -= 1.0;
            // A relay message whose envelope is over the envelope size limit.
            let bytes = Relayed {
                hop: 1,
                path: vec![],
                envelope: Envelope {
                    payload: vec![7; MAX_ENVELOPE_BYTES + 1024],
                    signature: [0; 64],
                },
            }
            .encode();
            if node.gossip_raw(bytes).await.is_ok() {
                injected.oversized.fetch_add(1, Relaxed);
            }
        }
        while credit[3] >= 1.0 {
            credit[3] -= 1.0;
            // The newest honest event held, passed on as if it had travelled past every limit
            // (a node cannot do this with its own events: it would appear in its own path).
            let last = node.store().last_seq().unwrap_or(0);
            let newest = node
                .store()
                .changes_since(last.saturating_sub(4), 4)
                .unwrap_or_default();
            let Some(ev) = newest
                .into_iter()
                .rev()
                .find(|e| e.payload.origin != me_key)
            else {
                break;
            };
            let hop = sc.max_hops.saturating_add(3).max(3);
            let mut path: Vec<NodeKey> = (0..hop as usize - 2)
                .map(|_| NodeSecret::from_seed_array(rng.gen()).public())
                .collect();
            path.push(me_key);
            let bytes = Relayed {
                hop,
                path,
                envelope: ev.envelope,
            }
            .encode();
            if node.gossip_raw(bytes).await.is_ok() {
                injected.over_hop.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Runs `sc` and returns its report (the named checks are in it).
pub async fn run(sc: &Scenario, opts: &RunOptions) -> Result<Report, SimError> {
    sc.check()?;
    let n = sc.nodes;
    let mut rng = StdRng::seed_from_u64(sc.seed);
    let edges = sc.topology.build(n, &mut rng)?;
    let adj = topology::adjacency(n, &edges);
    let secrets: Vec<[u8; 32]> = (0..n).map(|_| rng.gen()).collect();
    let keys: Vec<NodeKey> = secrets
        .iter()
        .map(|s| NodeSecret::from_seed_array(*s).public())
        .collect();
    // Roles: hostile and churned nodes are disjoint; the partition is drawn separately.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
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
    let is_hostile: Vec<bool> = (0..n).map(|i| hostile.contains(&i)).collect();
    let was_away: Vec<bool> = (0..n).map(|i| churned.contains(&i)).collect();
    let groups: Option<Vec<u8>> = sc.partition.as_ref().map(|p| {
        let mut o: Vec<usize> = (0..n).collect();
        o.shuffle(&mut rng);
        let cut = ((n as f64 * p.fraction).round() as usize).clamp(1, n - 1);
        let mut g = vec![1u8; n];
        for &i in &o[..cut] {
            g[i] = 0;
        }
        g
    });

    let bar = if opts.progress {
        indicatif::ProgressBar::new(n as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let rec = Arc::new(Recorder {
        start: Instant::now(),
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
        rec: rec.clone(),
        bar: bar.clone(),
    };

    // Memory, sampled through the whole run.
    let rss_log: Arc<Mutex<Vec<(f64, u64)>>> = Arc::default();
    let sampler = {
        let (log, rec) = (rss_log.clone(), rec.clone());
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_millis(250));
            loop {
                t.tick().await;
                if let Ok(mut l) = log.lock() {
                    l.push((rec.start.elapsed().as_secs_f64(), rss_bytes()));
                }
            }
        })
    };

    bar.set_message("starting nodes");
    for i in 0..n {
        sim.start(i).await?;
        bar.set_position(i as u64 + 1);
    }
    let rss_idle = rss_bytes();
    let form_secs = sim
        .await_links(Duration::from_secs(60 + n as u64 / 10), "linking")
        .await?;
    let t_ready = sim.secs();

    // Disturbances start just before the workload.
    if let Some(g) = &groups {
        sim.net.partition(g.clone());
    }
    let t_split = sim.secs();
    sim.stop(&churned).await;
    let t_leave = sim.secs();

    let sent_before: Vec<u64> = (0..n).map(|i| sim.net.bytes_sent(i)).collect();
    let counters = |sim: &Sim| -> Vec<[u64; 6]> {
        sim.nodes
            .iter()
            .map(|h| match h {
                Some(h) => {
                    let m = h.metrics();
                    [
                        m.duplicates.load(Relaxed),
                        m.sync_bytes_out.load(Relaxed),
                        m.gossip_bytes_out.load(Relaxed),
                        m.received.load(Relaxed),
                        m.gossip_bytes_in.load(Relaxed),
                        m.sync_bytes_in.load(Relaxed),
                    ]
                }
                None => [0; 6],
            })
            .collect()
    };
    let before = counters(&sim);

    // Hostile nodes start injecting.
    let injected = Arc::new(Injected::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut hostile_tasks = Vec::new();
    for &i in &hostile {
        if let Some(h) = &sim.nodes[i] {
            hostile_tasks.push(tokio::spawn(misbehave(
                i,
                h.clone(),
                sim.secrets[i],
                sc.clone(),
                sc.seed ^ (i as u64 + 1) << 32,
                injected.clone(),
                stop_rx.clone(),
            )));
        }
    }

    // The workload.
    let t_work = sim.secs();
    let w = &sc.workload;
    bar.set_message("publishing");
    bar.set_length(w.events as u64);
    bar.set_position(0);
    let mut published: Vec<Published> = Vec::new();
    let start = Instant::now();
    let mut k_total = 0usize;
    let publish_at = |k: usize| start + Duration::from_secs_f64(k as f64 / w.rate_per_sec);
    let publishers: Vec<usize> = (0..n).filter(|&i| !is_hostile[i] && !was_away[i]).collect();
    for k in 0..w.events {
        tokio::time::sleep_until(publish_at(k_total)).await;
        k_total += 1;
        let origin = *publishers
            .choose(&mut rng)
            .expect("at least one honest node");
        let d = draft(k, origin, sc, &mut rng);
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
        bar.set_position(k as u64 + 1);
    }
    let created: Vec<Published> = published.clone();
    let mut pick: Vec<usize> = (0..created.len()).collect();
    pick.shuffle(&mut rng);
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
            tokio::time::sleep_until(publish_at(k_total)).await;
            k_total += 1;
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
    let t_work_end = sim.secs();

    // Disturbances end.
    let mut t_heal = None;
    if let Some(p) = &sc.partition {
        let heal_at = rec.start + Duration::from_secs_f64(t_split + p.duration_secs);
        bar.set_message("partitioned");
        tokio::time::sleep_until(heal_at).await;
        sim.net.heal();
        t_heal = Some(sim.secs());
    }
    let mut t_return = None;
    if let Some(c) = &sc.churn {
        bar.set_message("nodes away");
        tokio::time::sleep_until(rec.start + Duration::from_secs_f64(t_leave + c.away_secs)).await;
        for &i in &churned {
            sim.start(i).await?;
        }
        t_return = Some(sim.secs());
    }
    let t_last_action = sim.secs();

    // The final state every honest node must reach: each event at its last revision.
    let mut expected: HashMap<EventKey, (u32, EventId)> = HashMap::new();
    for p in &published {
        let id = sim.stores[p.origin]
            .revision(&p.key)?
            .map(|m| m.id)
            .expect("the origin holds its own event");
        let e = expected.entry(p.key.clone()).or_insert((p.revision, id));
        if p.revision >= e.0 {
            *e = (p.revision, id);
        }
    }
    let honest: Vec<usize> = (0..n).filter(|&i| !is_hostile[i]).collect();
    bar.set_message("converging");
    bar.set_length(honest.len() as u64);
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
        bar.set_position((honest.len() - pending.len()) as u64);
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t_converged = pending.is_empty().then(|| sim.secs());
    let after = counters(&sim);
    let sent_after: Vec<u64> = (0..n).map(|i| sim.net.bytes_sent(i)).collect();

    // Flood alone: memory while nothing honest happens.
    let mut flood_window = None;
    if let Some(h) = &sc.hostile {
        bar.set_message("flood only");
        let half = Duration::from_secs_f64(h.tail_secs / 2.0);
        tokio::time::sleep(half).await;
        let (r1, c1) = (rss_bytes(), counters(&sim));
        tokio::time::sleep(half).await;
        let (r2, c2) = (rss_bytes(), counters(&sim));
        let flood_in: u64 = honest.iter().map(|&i| c2[i][4] - c1[i][4]).sum();
        flood_window = Some(report::FloodWindow {
            secs: half.as_secs_f64(),
            rss_start: r1,
            rss_end: r2,
            bytes_received: flood_in,
        });
    }
    let _ = stop_tx.send(true);
    for t in hostile_tasks {
        let _ = t.await;
    }
    sampler.abort();
    bar.set_message("measuring");

    // Final checks on every honest store.
    let expected_digest = report::digest(expected.iter().map(|(k, (r, id))| (k, *r, *id)));
    let mut digests = Vec::new();
    let mut foreign = 0u64;
    let mut over_hop = 0u64;
    let mut hops_stored: BTreeMap<u8, u64> = BTreeMap::new();
    let mut held_final = 0u64;
    for &i in &honest {
        let inv = sim.stores[i].inventory(None)?;
        digests.push(report::digest(
            inv.iter().map(|it| (&it.key, it.revision, it.id)),
        ));
        for it in &inv {
            match expected.get(&it.key) {
                Some((_, id)) if *id == it.id => held_final += 1,
                // An older revision is lag, not forgery; anything else was never published.
                Some(_)
                    if it.key.origin != sim.keys[i]
                        && published
                            .iter()
                            .any(|p| p.key == it.key && p.revision == it.revision) => {}
                _ => foreign += 1,
            }
            if let Some(ev) = sim.stores[i].get(&it.key)? {
                if ev.transit.hop > sc.max_hops {
                    over_hop += 1;
                }
                if it.key.origin != sim.keys[i] {
                    *hops_stored.entry(ev.transit.hop).or_default() += 1;
                }
            }
        }
    }
    let rejected: BTreeMap<String, u64> = [
        Reject::Decode,
        Reject::Path,
        Reject::Verify,
        Reject::Policy,
        Reject::Overload,
    ]
    .into_iter()
    .map(|r| {
        let v = honest
            .iter()
            .filter_map(|&i| sim.nodes[i].as_ref())
            .map(|h| h.metrics().rejected(r))
            .sum();
        (r.label().to_string(), v)
    })
    .collect();

    let deliveries = rec.log.lock().map(|l| l.clone()).unwrap_or_default();
    let rss = rss_log.lock().map(|l| l.clone()).unwrap_or_default();
    let envelope_bytes: HashMap<(u64, u32), usize> = {
        let mut m = HashMap::new();
        for p in &published {
            if let Ok(Some(ev)) = sim.stores[p.origin].get(&p.key) {
                if ev.payload.revision == p.revision {
                    m.insert((p.hash, p.revision), ev.envelope.encode().len());
                }
            }
        }
        m
    };
    let input = report::Input {
        sc,
        edges: &edges,
        honest: &honest,
        is_hostile: &is_hostile,
        was_away: &was_away,
        groups: groups.as_deref(),
        published: &published,
        deliveries: &deliveries,
        envelope_bytes: &envelope_bytes,
        expected_len: expected.len(),
        done_at: &done_at,
        pending: pending.len(),
        digests: &digests,
        expected_digest,
        foreign,
        over_hop,
        held_final,
        hops_stored,
        rejected,
        counters_before: &before,
        counters_after: &after,
        sent_before: &sent_before,
        sent_after: &sent_after,
        injected: &injected,
        flood_window,
        rss: &rss,
        rss_idle,
        times: report::Times {
            form_secs,
            ready: t_ready,
            work: t_work,
            work_end: t_work_end,
            heal: t_heal,
            returned: t_return,
            last_action: t_last_action,
            converged: t_converged,
        },
    };
    let report = report::build(input);
    bar.set_message("stopping");
    let all: Vec<usize> = (0..n).collect();
    sim.stop(&all).await;
    bar.finish_and_clear();
    Ok(report)
}
