//! The net loop: the only owner of the libp2p `Swarm`. It turns swarm events into jobs for the
//! ingest worker and the sync responder (never waiting on them) and carries out commands from
//! the rest of the node: publish a relay message, report a gossip verdict, answer or send a
//! sync request, change the allowlist.
//!
//! `swarm.rs` builds the swarm and its listeners; `events.rs` handles what the swarm reports;
//! this file holds the loop, the commands, dialling and the scheduling of catch-up sessions.

mod events;
mod swarm;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::IdentTopic;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::PeerEntry;
use crate::identity::{self, Identity};
use crate::msg::{Command, Connections, Inbound, Job, NetClient, Queued};
use crate::wire::{SyncResponse, TOPIC};
use crate::{sync, NodeError, NodeOptions, Shared};
use swarm::Behaviour;

/// Commands queued for the net loop.
pub const COMMAND_QUEUE: usize = 4096;
/// How long after a gossip loss is reported the repairing catch-up session starts: losses come
/// in bursts, and one session repairs a whole burst.
const REPAIR_DELAY: Duration = Duration::from_secs(1);

struct PeerState {
    address: Option<Multiaddr>,
    next_dial: Instant,
    backoff: Duration,
}

/// The loop's state.
pub struct NetLoop {
    swarm: Swarm<Behaviour>,
    shared: Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    self_tx: NetClient,
    ingest: mpsc::Sender<Job>,
    responder: mpsc::Sender<Inbound>,
    topic: IdentTopic,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<SyncResponse, String>>>,
    allow: HashMap<PeerId, PeerState>,
    connected: HashMap<PeerId, u32>,
    gossip_peers: HashSet<PeerId>,
    syncing: HashSet<PeerId>,
    /// Peers that lost gossip messages (ours to them, or theirs to us) or that nobody has
    /// started a catch-up session with yet: when a session is due, and whether for a loss.
    repair: HashMap<PeerId, (Instant, bool)>,
    listen: Vec<Multiaddr>,
    /// Relay values per gossip message are cut at this many bytes (0: one per message).
    bundle_bytes: usize,
    /// Each peer's jobs in the ingest queue.
    queued: HashMap<PeerId, Queued>,
    /// [`crate::Tuning::time_scale`]: stretches the fixed delays below.
    time_scale: f64,
    /// Copies with an inconsistent path per peer, decaying (count, last update).
    path_faults: HashMap<PeerId, (f64, Instant)>,
    /// Peers that connected to this node before it caught up once: when each last sent a sync
    /// request (or connected). Its catch-up session with them waits until they are quiet.
    catch_up_after: HashMap<PeerId, Instant>,
    /// The session id of each peer's latest catch-up session with this node.
    peer_session: HashMap<PeerId, u64>,
}

/// A count decayed by a tenth per second over `elapsed`.
fn decayed(count: f64, elapsed: Duration) -> f64 {
    count * 0.9f64.powf(elapsed.as_secs_f64())
}

/// First wait before redialling a peer, doubled up to `redial_max_secs`.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

impl NetLoop {
    /// Builds the swarm and starts listening; returns once every listen address is bound.
    pub async fn start(
        ident: &Identity,
        opts: &NodeOptions,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        self_tx: NetClient,
        ingest: mpsc::Sender<Job>,
        responder: mpsc::Sender<Inbound>,
    ) -> Result<(Self, Vec<Multiaddr>), NodeError> {
        let (mode, listen) = {
            let c = shared.config.read().map_err(|_| NodeError::Stopped)?;
            (c.mode, c.listen.clone())
        };
        let mut swarm = swarm::build(ident, opts, mode, shared.metrics.clone())?;
        let topic = IdentTopic::new(TOPIC);
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| NodeError::Net(e.to_string()))?;
        let bound = swarm::listen(&mut swarm, &listen).await?;
        let mut me = Self {
            swarm,
            shared,
            commands,
            self_tx,
            ingest,
            responder,
            topic,
            pending: HashMap::new(),
            allow: HashMap::new(),
            connected: HashMap::new(),
            gossip_peers: HashSet::new(),
            syncing: HashSet::new(),
            repair: HashMap::new(),
            path_faults: HashMap::new(),
            catch_up_after: HashMap::new(),
            peer_session: HashMap::new(),
            queued: HashMap::new(),
            listen: bound.clone(),
            time_scale: opts.tuning.time_scale,
            // Natively forwarded messages are judged whole, so each carries one event.
            bundle_bytes: if opts.tuning.native_forwarding() {
                0
            } else {
                opts.tuning.gossip_bundle_bytes
            },
        };
        let peers = me
            .shared
            .config
            .read()
            .map(|c| c.peers.clone())
            .unwrap_or_default();
        me.set_peers(peers);
        Ok((me, bound))
    }

    /// A peer's share of the ingest queue: an equal part among the connected peers, and at
    /// least a quarter of it (with few peers, one burst may use much of the queue).
    fn queue_share(&self) -> usize {
        (crate::ingest::QUEUE / self.connected.len().max(1)).max(crate::ingest::QUEUE / 4)
    }

    fn set_peers(&mut self, peers: Vec<PeerEntry>) {
        let mut next: HashMap<PeerId, PeerState> = HashMap::new();
        for p in peers {
            let Ok(key) = p.node_key() else { continue };
            let id = identity::peer_id(&key);
            next.insert(
                id,
                PeerState {
                    address: p.address.as_deref().and_then(|a| a.parse().ok()),
                    next_dial: Instant::now(),
                    backoff: self.scaled(FIRST_BACKOFF),
                },
            );
        }
        let removed: Vec<PeerId> = self
            .allow
            .keys()
            .filter(|k| !next.contains_key(k))
            .copied()
            .collect();
        let b = self.swarm.behaviour_mut();
        if let Some(allow) = b.allow.as_mut() {
            for id in &removed {
                // Closes its connections too.
                allow.disallow_peer(*id);
            }
            for id in next.keys() {
                allow.allow_peer(*id);
            }
        }
        self.allow = next;
        self.dial_due();
    }

    /// Graylisting only stops reading a peer; a peer that stays graylisted would keep its
    /// connection slot and its share of the ingest queue, so it is disconnected, and an
    /// allowlisted one is redialled only after the longest backoff. Gossipsub keeps a peer's
    /// score across a reconnect (its `retain_score`), so one that reconnects still graylisted
    /// is cut again at once; one whose rejections have decayed is read again.
    fn cut_graylisted(&mut self) {
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let cut: Vec<(PeerId, f64)> = self
            .connected
            .keys()
            .filter_map(|p| Some((*p, gossipsub.peer_score(p)?)))
            .filter(|(_, s)| *s <= swarm::GRAYLIST)
            .collect();
        if cut.is_empty() {
            return;
        }
        let cap = self.redial_cap();
        for (p, score) in cut {
            tracing::warn!(peer = %p, score, "disconnecting a graylisted peer");
            self.shared.metrics.peers_cut.fetch_add(1, Relaxed);
            let _ = self.swarm.disconnect_peer_id(p);
            if let Some(st) = self.allow.get_mut(&p) {
                st.next_dial = Instant::now() + cap;
                st.backoff = cap;
            }
        }
    }

    /// Counts a copy with an inconsistent path against `peer`. Such a copy is Ignored, not
    /// Rejected (honest copies share its gossipsub id, and a Reject would penalise them too),
    /// so gossipsub's own score never sees it; the count goes into the peer's application
    /// score instead, with the same shape as the rejections' (minus the square of a count that
    /// decays by a tenth a second): a peer that keeps sending them, about one a second or more,
    /// is graylisted and cut like one that sends junk.
    fn path_fault(&mut self, peer: PeerId) {
        let now = Instant::now();
        let k = self.time_scale;
        let e = self.path_faults.entry(peer).or_insert((0.0, now));
        e.0 = decayed(e.0, (now - e.1).div_f64(k)) + 1.0;
        e.1 = now;
        let score = -(e.0 * e.0);
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, score);
    }

    /// Lets path faults decay in the peers' scores.
    fn decay_path_faults(&mut self) {
        let now = Instant::now();
        let k = self.time_scale;
        let gossipsub = &mut self.swarm.behaviour_mut().gossipsub;
        self.path_faults.retain(|peer, (count, at)| {
            *count = decayed(*count, (now - *at).div_f64(k));
            *at = now;
            let keep = *count >= 0.1;
            let score = if keep { -(*count * *count) } else { 0.0 };
            gossipsub.set_application_score(peer, score);
            keep
        });
    }

    fn scaled(&self, d: Duration) -> Duration {
        crate::options::stretch(d, self.time_scale)
    }

    fn redial_cap(&self) -> Duration {
        Duration::from_secs(
            self.shared
                .config
                .read()
                .map(|c| c.redial_max_secs)
                .unwrap_or(60)
                .max(1),
        )
    }

    fn dial_due(&mut self) {
        let now = Instant::now();
        let cap = self.redial_cap();
        for (id, st) in self.allow.iter_mut() {
            let Some(addr) = &st.address else { continue };
            if self.connected.contains_key(id) || st.next_dial > now {
                continue;
            }
            let opts = DialOpts::peer_id(*id)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                // From an ephemeral port, not the listening one: port reuse only helps hole
                // punching, which DisCal does not do, and it needs SO_REUSEPORT semantics that
                // some network simulators (Shadow) lack, where every dial then fails AddrInUse.
                .allocate_new_port()
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(peer = %id, "dial: {e}");
            }
            st.next_dial = now + st.backoff;
            st.backoff = (st.backoff * 2).min(cap);
        }
    }

    /// Gossip is best effort: a message dropped on an overloaded link (a full queue, a publish
    /// that timed out, a full ingest queue here) would otherwise wait for the periodic sync.
    /// A catch-up session with that peer soon after repairs it; losses while one is running
    /// wait for the next, since its reconciliation may predate them.
    fn schedule_repair(&mut self, peer: PeerId, loss: bool) {
        let due = Instant::now() + self.scaled(REPAIR_DELAY);
        let e = self.repair.entry(peer).or_insert((due, loss));
        e.1 |= loss;
    }

    fn repair_due(&mut self) {
        let now = Instant::now();
        let due: Vec<PeerId> = self
            .repair
            .iter()
            .filter(|(p, (t, _))| *t <= now && !self.syncing.contains(*p))
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            let Some((_, loss)) = self.repair.remove(&p) else {
                continue;
            };
            if self.connected.contains_key(&p) {
                if loss {
                    self.shared.metrics.repair_syncs.fetch_add(1, Relaxed);
                }
                self.start_sync(p, true);
            }
        }
    }

    /// This node has not caught up since its start, and `peers` connected to it: each dialler
    /// runs a session with it first (fetching what it lacks, pushing what this node lacks), and
    /// this node's own session, which it needs to count as caught up, starts once that peer has
    /// sent no sync request for the repair delay. Started at once, this session fetched what
    /// the dialler's was pushing, and every missing event came twice.
    fn catch_up_due(&mut self) {
        let quiet = self.scaled(REPAIR_DELAY);
        let now = Instant::now();
        let ready = *self.shared.writes_ready.borrow();
        let due: Vec<PeerId> = self
            .catch_up_after
            .iter()
            .filter(|(p, t)| ready || (now - **t >= quiet && !self.syncing.contains(*p)))
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            self.catch_up_after.remove(&p);
            if !ready && self.connected.contains_key(&p) {
                // Whatever the peer lacked, its own session fetched.
                self.start_sync(p, false);
            }
        }
    }

    /// Starts a catch-up session with `peer`; with `push` false it only fetches what this node
    /// lacks (see [`Self::catch_up_due`]).
    fn start_sync(&mut self, peer: PeerId, push: bool) {
        if !self.syncing.insert(peer) {
            return;
        }
        let (shared, net, ingest) = (
            self.shared.clone(),
            self.self_tx.clone(),
            self.ingest.clone(),
        );
        self.shared.tasks.spawn(async move {
            let started = std::time::Instant::now();
            match sync::run_initiator(&shared, peer, &net, &ingest, push).await {
                Ok(s) => {
                    tracing::debug!(%peer, fetched = s.fetched, pushed = s.pushed, ms = started.elapsed().as_millis() as u64, "sync done")
                }
                Err(e) => tracing::info!(%peer, "sync failed: {e}"),
            }
            let _ = net.send(Command::SyncDone(peer)).await;
        });
    }

    /// Runs until [`Command::Shutdown`].
    pub async fn run(mut self) {
        let mut redial = tokio::time::interval(self.scaled(FIRST_BACKOFF));
        let sync_every = Duration::from_secs(
            self.shared
                .config
                .read()
                .map(|c| c.sync_interval_secs)
                .unwrap_or(300),
        );
        let mut periodic = tokio::time::interval_at(Instant::now() + sync_every, sync_every);
        loop {
            tokio::select! {
                ev = self.swarm.select_next_some() => {
                    self.on_swarm(ev);
                    let (n, bytes) = self.swarm.behaviour().gossipsub.duplicates_dropped();
                    let m = &self.shared.metrics;
                    m.gossip_duplicates_dropped.store(n, Relaxed);
                    m.gossip_duplicate_bytes_dropped.store(bytes, Relaxed);
                }
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(c) => self.on_command(c),
                    None => break,
                },
                _ = redial.tick() => {
                    self.decay_path_faults();
                    self.cut_graylisted();
                    self.dial_due();
                    self.repair_due();
                    self.catch_up_due();
                }
                _ = periodic.tick() => {
                    // One side per pair starts the periodic sync (the lower key); a session
                    // reconciles both directions.
                    let mine = identity::peer_id(&self.shared.me);
                    let due: Vec<PeerId> = self.connected.keys().filter(|p| mine < **p).copied().collect();
                    for p in due {
                        self.start_sync(p, true);
                    }
                }
            }
        }
        tracing::debug!("net loop stopped");
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Batch(cmds) => {
                // A batch's relays travel in as few gossip messages as fit (§11.2 rule 1):
                // per-message costs (framing, encryption, wake-ups) were most of the network's
                // share of a burst.
                let mut relays = Vec::new();
                for c in cmds {
                    match c {
                        Command::Publish(bytes) => relays.push(bytes),
                        c => self.on_command(c),
                    }
                }
                self.publish(relays);
            }
            Command::Publish(bytes) => self.publish(vec![bytes]),
            Command::PublishAlone { bytes, from } => self.publish_alone(bytes, from),
            Command::Report {
                id,
                peer,
                acceptance,
            } => self.report(&id, &peer, acceptance),
            Command::Forget {
                id,
                from,
                repair,
                inconsistent,
            } => {
                self.swarm.behaviour_mut().gossipsub.forget_message(&id);
                if inconsistent {
                    self.path_fault(from);
                }
                if repair {
                    // Any other neighbour will do: honest ones hold what reached this far.
                    let other = rand::seq::IteratorRandom::choose(
                        self.gossip_peers.iter().filter(|p| **p != from),
                        &mut rand::thread_rng(),
                    )
                    .copied();
                    if let Some(p) = other {
                        self.schedule_repair(p, true);
                    }
                }
            }
            Command::Respond { channel, response } => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            Command::Request {
                peer,
                request,
                reply,
            } => {
                let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
                self.pending.insert(id, reply);
            }
            Command::SyncDone(peer) => {
                self.syncing.remove(&peer);
            }
            Command::SyncNow(peer) => {
                if self.connected.contains_key(&peer) {
                    self.start_sync(peer, true);
                }
            }
            Command::SetPeers(peers) => self.set_peers(peers),
            Command::Connections(reply) => {
                let key = |p: &PeerId| identity::node_key(p);
                let gossipsub = &self.swarm.behaviour().gossipsub;
                let scores = self
                    .connected
                    .keys()
                    .filter_map(|p| Some((key(p)?, gossipsub.peer_score(p)?)))
                    .collect();
                let _ = reply.send(Connections {
                    connected: self.connected.keys().filter_map(key).collect(),
                    gossip: self.gossip_peers.iter().filter_map(key).collect(),
                    listen: self.listen.clone(),
                    scores,
                });
            }
            Command::Shutdown(_) => {}
        }
    }
}
