//! The net loop: the only owner of the libp2p `Swarm`. It turns swarm events into jobs for the
//! ingest worker and the sync responder (never waiting on them) and carries out commands from
//! the rest of the node: publish a relay message, report a gossip verdict, answer or send a
//! sync request, change the allowlist.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use discal_protocol::NodeKey;
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, identify, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::config::{Mode, PeerEntry};
use crate::identity::{self, Identity};
use crate::metrics::Reject;
use crate::wire::{self, SyncCodec, SyncRequest, SyncResponse, SYNC_PROTOCOL, TOPIC};
use crate::{ingest, sync, NodeError, NodeOptions, Shared, Tuning};

/// Commands queued for the net loop.
pub const COMMAND_QUEUE: usize = 4096;
/// How long after a gossip loss is reported the repairing catch-up session starts: losses come
/// in bursts, and one session repairs a whole burst.
const REPAIR_DELAY: Duration = Duration::from_secs(1);

/// What the rest of the node asks of the swarm.
pub enum Command {
    /// Publish a relay message on the topic.
    Publish(Vec<u8>),
    /// Tell gossipsub what the ingest worker decided about a message.
    Report {
        /// The message.
        id: MessageId,
        /// Who sent it.
        peer: PeerId,
        /// The verdict.
        acceptance: MessageAcceptance,
    },
    /// Several commands in order (the ingest worker's verdicts and relays for one batch).
    Batch(Vec<Command>),
    /// Answer a sync request.
    Respond {
        /// The request's channel.
        channel: ResponseChannel<SyncResponse>,
        /// The answer.
        response: SyncResponse,
    },
    /// Send a sync request; the answer (or failure) goes to `reply`.
    Request {
        /// To whom.
        peer: PeerId,
        /// What.
        request: SyncRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<SyncResponse, String>>,
    },
    /// A sync session this node started has ended.
    SyncDone(PeerId),
    /// Start a sync with this peer now.
    SyncNow(PeerId),
    /// Replace the allowlist.
    SetPeers(Vec<PeerEntry>),
    /// Report connections.
    Connections(oneshot::Sender<Connections>),
    /// Stop.
    Shutdown(oneshot::Sender<()>),
}

/// Connected peers.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    /// With at least one open connection.
    pub connected: Vec<NodeKey>,
    /// Of those, the ones subscribed to the event topic.
    pub gossip: Vec<NodeKey>,
    /// This node's listen addresses.
    pub listen: Vec<Multiaddr>,
}

/// The swarm's protocols.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    allow: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
}

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
    self_tx: mpsc::Sender<Command>,
    ingest: mpsc::Sender<ingest::Job>,
    responder: mpsc::Sender<sync::Inbound>,
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
}

fn build_gossipsub(tuning: &Tuning) -> Result<gossipsub::Behaviour, NodeError> {
    let cfg = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(tuning.heartbeat)
        .duplicate_cache_time(tuning.duplicate_cache)
        .gossip_lazy(tuning.gossip_lazy)
        .mesh_n(tuning.mesh_n.max(1))
        .mesh_n_low(tuning.mesh_n.saturating_sub(1).max(1))
        .mesh_n_high(tuning.mesh_n.max(1) * 2)
        .mesh_outbound_min((tuning.mesh_n / 2).clamp(0, 2))
        .flood_publish(tuning.flood_publish)
        .connection_handler_queue_len(tuning.queue_len.max(2))
        // Every message is judged by the ingest worker before gossipsub may forward it, and the
        // worker always answers Ignore or Reject: relaying happens by publishing a new message
        // with hop + 1 (docs/protocol.md §11).
        .validate_messages()
        // Anonymous messages: the connection (noise) already authenticates the sender and the
        // envelope carries the origin's signature, so a second signature per hop buys nothing.
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            MessageId::from(Sha256::digest(&m.data)[..16].to_vec())
        })
        .max_transmit_size(wire::MAX_GOSSIP)
        .build()
        .map_err(|e| NodeError::Net(e.to_string()))?;
    gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, cfg)
        .map_err(|e| NodeError::Net(e.to_string()))
}

impl NetLoop {
    /// Builds the swarm and starts listening; returns once every listen address is bound.
    pub async fn start(
        ident: &Identity,
        opts: &NodeOptions,
        shared: Arc<Shared>,
        commands: mpsc::Receiver<Command>,
        self_tx: mpsc::Sender<Command>,
        ingest: mpsc::Sender<ingest::Job>,
        responder: mpsc::Sender<sync::Inbound>,
    ) -> Result<(Self, Vec<Multiaddr>), NodeError> {
        let (mode, listen) = {
            let c = shared.config.read().map_err(|_| NodeError::Stopped)?;
            (c.mode, c.listen.clone())
        };
        let metrics = shared.metrics.clone();
        let tuning = &opts.tuning;
        let net = |e: &dyn std::fmt::Display| NodeError::Net(e.to_string());
        type BoxError = Box<dyn std::error::Error + Send + Sync>;
        let behaviour = |key: &libp2p::identity::Keypair| -> Result<Behaviour, BoxError> {
            let allow = (mode == Mode::Closed)
                .then(allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default);
            Ok(Behaviour {
                allow: Toggle::from(allow),
                gossipsub: build_gossipsub(tuning)?,
                identify: identify::Behaviour::new(identify::Config::new(
                    "/discal/1".into(),
                    key.public(),
                )),
                sync: request_response::Behaviour::with_codec(
                    SyncCodec::new(metrics.clone()),
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(60))
                        .with_max_concurrent_streams(16),
                ),
            })
        };
        let swarm_config =
            |c: libp2p::swarm::Config| c.with_idle_connection_timeout(Duration::from_secs(3600));
        let builder =
            libp2p::SwarmBuilder::with_existing_identity(ident.keypair.clone()).with_tokio();
        // The two arms build different builder types, so each finishes its own swarm.
        let mut swarm = match opts.transport.clone() {
            None => builder
                .with_tcp(
                    tcp::Config::default().nodelay(true),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .map_err(|e| net(&e))?
                .with_behaviour(behaviour)
                .map_err(|e| net(&e))?
                .with_swarm_config(swarm_config)
                .build(),
            Some(make) => builder
                .with_other_transport(|key| make(key))
                .map_err(|e| net(&e))?
                .with_behaviour(behaviour)
                .map_err(|e| net(&e))?
                .with_swarm_config(swarm_config)
                .build(),
        };
        let topic = IdentTopic::new(TOPIC);
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| net(&e))?;
        let mut ids = HashSet::new();
        for l in &listen {
            let addr: Multiaddr = l.parse().map_err(|e| net(&e))?;
            ids.insert(swarm.listen_on(addr).map_err(|e| net(&e))?);
        }
        let mut bound = Vec::new();
        while !ids.is_empty() {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    ids.remove(&listener_id);
                    bound.push(address);
                }
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(NodeError::Net(format!("listen: {reason:?}")))
                }
                SwarmEvent::ListenerError { error, .. } => return Err(net(&error)),
                _ => {}
            }
        }
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
            listen: bound.clone(),
            // Natively forwarded messages are judged whole, so each carries one event.
            bundle_bytes: if opts.tuning.native_forwarding {
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
                    backoff: Duration::from_millis(500),
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

    fn dial_due(&mut self) {
        let now = Instant::now();
        let cap = Duration::from_secs(
            self.shared
                .config
                .read()
                .map(|c| c.redial_max_secs)
                .unwrap_or(60)
                .max(1),
        );
        for (id, st) in self.allow.iter_mut() {
            let Some(addr) = &st.address else { continue };
            if self.connected.contains_key(id) || st.next_dial > now {
                continue;
            }
            let opts = DialOpts::peer_id(*id)
                .addresses(vec![addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
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
        let e = self
            .repair
            .entry(peer)
            .or_insert((Instant::now() + REPAIR_DELAY, loss));
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
                self.start_sync(p);
            }
        }
    }

    fn start_sync(&mut self, peer: PeerId) {
        if !self.syncing.insert(peer) {
            return;
        }
        let (shared, net, ingest) = (
            self.shared.clone(),
            self.self_tx.clone(),
            self.ingest.clone(),
        );
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match sync::run_initiator(&shared, peer, &net, &ingest).await {
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
        let mut redial = tokio::time::interval(Duration::from_millis(500));
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
                ev = self.swarm.select_next_some() => self.on_swarm(ev),
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(c) => self.on_command(c),
                    None => break,
                },
                _ = redial.tick() => {
                    self.dial_due();
                    self.repair_due();
                }
                _ = periodic.tick() => {
                    // One side per pair starts the periodic sync (the lower key); a session
                    // reconciles both directions.
                    let mine = identity::peer_id(&self.shared.me);
                    let due: Vec<PeerId> = self.connected.keys().filter(|p| mine < **p).copied().collect();
                    for p in due {
                        self.start_sync(p);
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
            Command::Report {
                id,
                peer,
                acceptance,
            } => self.report(&id, &peer, acceptance),
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
                    self.start_sync(peer);
                }
            }
            Command::SetPeers(peers) => self.set_peers(peers),
            Command::Connections(reply) => {
                let key = |p: &PeerId| identity::node_key(p);
                let _ = reply.send(Connections {
                    connected: self.connected.keys().filter_map(key).collect(),
                    gossip: self.gossip_peers.iter().filter_map(key).collect(),
                    listen: self.listen.clone(),
                });
            }
            Command::Shutdown(_) => {}
        }
    }

    fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                self.connected.insert(peer_id, num_established.get());
                self.shared
                    .metrics
                    .peers_connected
                    .store(self.connected.len() as u64, Relaxed);
                self.shared.changed.send_modify(|_| {});
                if let Some(st) = self.allow.get_mut(&peer_id) {
                    st.backoff = Duration::from_millis(500);
                }
                tracing::info!(peer = %peer_id, "connected");
                // The dialer starts catch-up, so a reconnecting pair runs one session. When
                // both dial at once, each may see the other's connection first and neither is
                // the dialer of it: the listening side then starts a session itself unless the
                // peer's first reconcile message arrives within the repair delay.
                if num_established.get() == 1 {
                    if endpoint.is_dialer() {
                        self.start_sync(peer_id);
                    } else {
                        self.schedule_repair(peer_id, false);
                    }
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.connected.remove(&peer_id);
                    self.gossip_peers.remove(&peer_id);
                    tracing::info!(peer = %peer_id, "disconnected");
                } else {
                    self.connected.insert(peer_id, num_established);
                }
                self.shared
                    .metrics
                    .peers_connected
                    .store(self.connected.len() as u64, Relaxed);
                self.shared.changed.send_modify(|_| {});
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                if let libp2p::swarm::ListenError::Denied { cause } = &error {
                    self.shared.metrics.connections_denied.fetch_add(1, Relaxed);
                    self.shared.changed.send_modify(|_| {});
                    tracing::info!("refused a connection: {cause}");
                } else {
                    tracing::debug!("incoming connection failed: {error}");
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                if let libp2p::swarm::DialError::Denied { cause } = &error {
                    self.shared.metrics.connections_denied.fetch_add(1, Relaxed);
                    tracing::info!(peer = ?peer_id, "refused a connection: {cause}");
                } else {
                    tracing::debug!(peer = ?peer_id, "dial failed: {error}");
                }
            }
            SwarmEvent::NewListenAddr { address, .. } if !self.listen.contains(&address) => {
                self.listen.push(address);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(g)) => self.on_gossip(g),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(s)) => self.on_sync(s),
            _ => {}
        }
    }

    /// Publishes relay values, bundled up to the configured size.
    fn publish(&mut self, relays: Vec<Vec<u8>>) {
        for items in wire::bundles(relays, self.bundle_bytes) {
            let data = wire::bundle(items);
            let n = data.len() as u64;
            match self
                .swarm
                .behaviour_mut()
                .gossipsub
                .publish(self.topic.clone(), data)
            {
                Ok(_) => {
                    let m = &self.shared.metrics;
                    m.gossip_bytes_out.fetch_add(n, Relaxed);
                    m.gossip_messages_out.fetch_add(1, Relaxed);
                }
                // Alone, or peers not yet subscribed: catch-up sync delivers it later.
                Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
                Err(e) => tracing::debug!("publish: {e}"),
            }
        }
    }

    fn report(&mut self, id: &MessageId, peer: &PeerId, acceptance: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, peer, acceptance);
    }

    fn on_gossip(&mut self, ev: gossipsub::Event) {
        match ev {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let m = &self.shared.metrics;
                m.gossip_bytes_in
                    .fetch_add(message.data.len() as u64, Relaxed);
                let Some(from) = identity::node_key(&propagation_source) else {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Reject,
                        );
                    return;
                };
                let items = match wire::unbundle(&message.data) {
                    Ok(items) => items,
                    Err(e) => {
                        tracing::warn!(peer = %from, "rejected gossip message: {e}");
                        m.reject(Reject::Decode);
                        self.shared.peer_stat(&from, |s| s.rejected += 1);
                        self.report(&message_id, &propagation_source, MessageAcceptance::Reject);
                        return;
                    }
                };
                let mut items = items.into_iter();
                for bytes in items.by_ref() {
                    let job = ingest::Job::Remote {
                        bytes,
                        from,
                        gossip: Some((message_id.clone(), propagation_source)),
                    };
                    if self.ingest.try_send(job).is_err() {
                        // Overloaded: drop the rest here (not forwarded either); sync fetches
                        // them soon.
                        m.reject_n(Reject::Overload, 1 + items.len() as u64);
                        self.schedule_repair(propagation_source, true);
                        self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                        break;
                    }
                }
            }
            gossipsub::Event::Subscribed { peer_id, .. } => {
                self.gossip_peers.insert(peer_id);
                // Wakes waiters that watch the network rather than the store.
                self.shared.changed.send_modify(|_| {});
            }
            gossipsub::Event::Unsubscribed { peer_id, .. } => {
                self.gossip_peers.remove(&peer_id);
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages: f,
            } => {
                let lost = (f.publish + f.forward + f.timeout) as u64;
                if lost > 0 {
                    self.shared.metrics.gossip_lost.fetch_add(lost, Relaxed);
                    tracing::info!(peer = %peer_id, lost, "gossip dropped messages to a slow peer; catch-up will repair");
                    self.schedule_repair(peer_id, true);
                }
            }
            _ => {}
        }
    }

    fn on_sync(&mut self, ev: request_response::Event<SyncRequest, SyncResponse>) {
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let Some(key) = identity::node_key(&peer) else {
                        return;
                    };
                    // The peer reconciles now: its session repairs what was lost before.
                    if matches!(request, SyncRequest::Reconcile { .. }) {
                        self.repair.remove(&peer);
                    }
                    if self
                        .responder
                        .try_send(sync::Inbound {
                            peer,
                            key,
                            request,
                            channel,
                        })
                        .is_err()
                    {
                        // Dropping the channel fails the peer's request; it retries later.
                        tracing::debug!(%peer, "sync responder busy");
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(tx) = self.pending.remove(&request_id) {
                        let _ = tx.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(tx) = self.pending.remove(&request_id) {
                    let _ = tx.send(Err(error.to_string()));
                }
            }
            _ => {}
        }
    }
}
