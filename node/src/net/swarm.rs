//! Building the swarm: its protocols (allowlist, gossipsub, identify, sync), the transport
//! (TCP with noise and yamux, or one the caller gives) and the listeners.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    allow_block_list, connection_limits, identify, noise, tcp, yamux, Multiaddr, StreamProtocol,
    Swarm,
};

use crate::config::Mode;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::wire::{self, SyncCodec, SYNC_PROTOCOL, TOPIC};
use crate::{NodeError, NodeOptions, Tuning};

/// The swarm's protocols.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) allow: Toggle<allow_block_list::Behaviour<allow_block_list::AllowedPeers>>,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) identify: identify::Behaviour,
    pub(super) sync: request_response::Behaviour<SyncCodec>,
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
        // One id for every relay of an event, whatever its hop and path (§11.2): gossipsub
        // then drops copies it has seen unread, and IDONTWANT (sent on receipt, and before
        // each publish) keeps neighbours from sending what a node holds. A relay is a new
        // publish under an id already seen, which the patched gossipsub allows
        // (`republish_seen`, vendor/README.md), leaving out the peers that sent IDONTWANT.
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(wire::gossip_message_id(&m.data)))
        .republish_seen(true)
        .idontwant_on_publish(true)
        .idontwant_message_size_threshold(IDONTWANT_FROM)
        // Copies of what this node published come back from neighbours that relayed the
        // same event: duplicates, not forgeries of its own messages.
        .allow_self_origin(true)
        .max_transmit_size(wire::MAX_GOSSIP)
        // Gossipsub's own clocks, stretched with the rest of a time-dilated simulation.
        .publish_queue_duration(tuning.scaled(Duration::from_secs(5)))
        .forward_queue_duration(tuning.scaled(Duration::from_secs(1)))
        .iwant_followup_time(tuning.scaled(Duration::from_secs(3)))
        .fanout_ttl(tuning.scaled(Duration::from_secs(60)))
        .prune_backoff(tuning.scaled(Duration::from_secs(60)))
        .unsubscribe_backoff(tuning.scaled(Duration::from_secs(10)).as_secs().max(1))
        .graft_flood_threshold(tuning.scaled(Duration::from_secs(10)))
        .idontwant_timeout(tuning.scaled(Duration::from_secs(3)))
        .build()
        .map_err(|e| NodeError::Net(e.to_string()))?;
    let mut g = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, cfg)
        .map_err(|e| NodeError::Net(e.to_string()))?;
    let (params, thresholds) = scoring();
    g.with_peer_score(params, thresholds)
        .map_err(|e| NodeError::Net(e.to_string()))?;
    Ok(g)
}

/// Messages from this size on are announced with IDONTWANT: an id costs about 40 bytes per
/// neighbour, a copy avoided the whole message.
const IDONTWANT_FROM: usize = 400;

/// Gossipsub peer scoring that counts two things only: messages this node rejected (bad
/// signature, undecodable), and, as the application score, copies whose relay path is
/// inconsistent (Ignored rather than Rejected, so gossipsub would not count them). Each raises
/// the sender's count (decaying by a tenth a second); the score is minus its square, and at -80
/// the peer is graylisted (its messages are dropped unread), so a peer that keeps sending junk,
/// about one message a second or more, is cut off. Everything else gossipsub can score is off: every
/// message here is answered Ignore or Reject, never Accept (§11.2), so delivery credits would
/// never be earned, and nodes of simulations and tests share one address.
fn scoring() -> (gossipsub::PeerScoreParams, gossipsub::PeerScoreThresholds) {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -1.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    let mut params = gossipsub::PeerScoreParams {
        // Copies with inconsistent relay paths (net/mod.rs `path_fault`): Ignored for the
        // sake of the honest copies sharing their id, so counted by the node itself.
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        behaviour_penalty_weight: 0.0,
        slow_peer_weight: 0.0,
        ..Default::default()
    };
    params
        .topics
        .insert(gossipsub::IdentTopic::new(TOPIC).hash(), topic);
    let thresholds = gossipsub::PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: GRAYLIST,
        ..Default::default()
    };
    (params, thresholds)
}

/// The score at and below which a peer's messages are dropped unread.
pub(crate) const GRAYLIST: f64 = -80.0;

fn net(e: &dyn std::fmt::Display) -> NodeError {
    NodeError::Net(e.to_string())
}

/// The swarm with its protocols over the options' transport (TCP, noise, yamux by default).
/// Connections still in their handshake at once; more are refused (open mode's first line).
const MAX_PENDING_INCOMING: u32 = 64;
/// Connections to one peer at once (one each way when both dial).
const MAX_PER_PEER: u32 = 2;

pub(super) fn build(
    ident: &Identity,
    opts: &NodeOptions,
    mode: Mode,
    metrics: std::sync::Arc<Metrics>,
) -> Result<Swarm<Behaviour>, NodeError> {
    let max_inbound = opts.config.max_inbound_peers;
    let tuning = &opts.tuning;
    type BoxError = Box<dyn std::error::Error + Send + Sync>;
    let behaviour = |key: &libp2p::identity::Keypair| -> Result<Behaviour, BoxError> {
        let allow = (mode == Mode::Closed)
            .then(allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default);
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_pending_incoming(Some(MAX_PENDING_INCOMING))
                    .with_max_established_incoming(Some(max_inbound))
                    .with_max_established_per_peer(Some(MAX_PER_PEER)),
            ),
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
                    .with_request_timeout(tuning.scaled(Duration::from_secs(60)))
                    .with_max_concurrent_streams(16),
            ),
        })
    };
    let swarm_config =
        |c: libp2p::swarm::Config| c.with_idle_connection_timeout(Duration::from_secs(3600));
    let builder = libp2p::SwarmBuilder::with_existing_identity(ident.keypair.clone()).with_tokio();
    // The two arms build different builder types, so each finishes its own swarm.
    Ok(match opts.transport.clone() {
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
    })
}

/// Starts listening on `listen` and waits until every address is bound; returns them.
pub(super) async fn listen(
    swarm: &mut Swarm<Behaviour>,
    listen: &[String],
) -> Result<Vec<Multiaddr>, NodeError> {
    let mut ids = HashSet::new();
    for l in listen {
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
    Ok(bound)
}
