//! What the swarm reports: connections coming and going, gossip messages (handed to the ingest
//! worker), sync requests (handed to the responder) and answers (to the session waiting).

use std::sync::atomic::Ordering::Relaxed;

use libp2p::gossipsub::{self, MessageAcceptance, MessageId};
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::PeerId;
use tokio::time::Instant;

use super::swarm::BehaviourEvent;
use super::NetLoop;
use crate::identity;
use crate::metrics::Reject;
use crate::msg::{Inbound, Job};
use crate::wire::{self, SyncRequest, SyncResponse};

impl NetLoop {
    pub(super) fn on_swarm(&mut self, ev: SwarmEvent<BehaviourEvent>) {
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
                let first = self.scaled(super::FIRST_BACKOFF);
                if let Some(st) = self.allow.get_mut(&peer_id) {
                    st.backoff = first;
                }
                tracing::info!(peer = %peer_id, "connected");
                // The dialer starts catch-up, so a reconnecting pair runs one session. When
                // both dial at once, each may see the other's connection first and neither is
                // the dialer of it: the listening side then starts a session itself unless the
                // peer's first reconcile message arrives within the repair delay.
                if num_established.get() == 1 {
                    if endpoint.is_dialer() {
                        self.start_sync(peer_id, true);
                    } else if !*self.shared.writes_ready.borrow() {
                        // Until this node has caught up once, every new peer is a chance to,
                        // once the peer's own session is over (`catch_up_due`).
                        self.catch_up_after.insert(peer_id, Instant::now());
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
                    self.catch_up_after.remove(&peer_id);
                    self.peer_session.remove(&peer_id);
                    self.queued.remove(&peer_id);
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
    pub(super) fn publish(&mut self, relays: Vec<Vec<u8>>) {
        // Gossipsub sends only to peers whose subscription has arrived. A peer connected just
        // now may not have sent it yet, and the session its connection started may be over
        // already: without a session after this publish it would miss these events until the
        // periodic sync.
        let unsubscribed: Vec<PeerId> = self
            .connected
            .keys()
            .filter(|p| !self.gossip_peers.contains(*p))
            .copied()
            .collect();
        for p in unsubscribed {
            self.schedule_repair(p, true);
        }
        for items in wire::bundles(relays, self.bundle_bytes) {
            self.send_bundle(wire::bundle(items), &[]);
        }
    }

    /// Publishes one relay value that came by sync from `from`, in a gossip message of its
    /// own and not back to `from` (§11.2 rule 1).
    pub(super) fn publish_alone(&mut self, relay: Vec<u8>, from: discal_protocol::NodeKey) {
        self.send_bundle(wire::bundle(vec![relay]), &[identity::peer_id(&from)]);
    }

    fn send_bundle(&mut self, data: Vec<u8>, exclude: &[PeerId]) {
        let n = data.len() as u64;
        let gossip = &mut self.swarm.behaviour_mut().gossipsub;
        match gossip.publish_excluding(self.topic.clone(), data, exclude) {
            Ok(_) => {
                let m = &self.shared.metrics;
                m.gossip_bytes_out.fetch_add(n, Relaxed);
                m.gossip_messages_out.fetch_add(1, Relaxed);
            }
            // Alone (a peer that connects catches up), no peer but the excluded ones, or peers
            // not subscribed yet (a repair session is due, see `publish`).
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {}
            Err(e) => tracing::debug!("publish: {e}"),
        }
    }

    pub(super) fn report(&mut self, id: &MessageId, peer: &PeerId, acceptance: MessageAcceptance) {
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
                        m.log_reject(Reject::Decode, &format_args!("gossip from {from}: {e}"));
                        m.reject(Reject::Decode);
                        self.shared.peer_stat(&from, |s| s.rejected += 1);
                        self.report(&message_id, &propagation_source, MessageAcceptance::Reject);
                        return;
                    }
                };
                let mut items = items.into_iter();
                let share = self.queue_share();
                let queued = self.queued.entry(propagation_source).or_default().clone();
                for bytes in items.by_ref() {
                    let ticket = queued.take(share);
                    let job = Job::Remote {
                        bytes,
                        from,
                        gossip: Some((message_id.clone(), propagation_source)),
                        ticket,
                    };
                    // Over its share of the queue, or the queue full: drop the rest.
                    if matches!(&job, Job::Remote { ticket: None, .. })
                        || self.ingest.try_send(job).is_err()
                    {
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
                    // The peer starts a session now: it repairs what was lost before. Only a
                    // new session's first message counts: a later round of a session that
                    // began before the loss does not cover it, and cancelling the repair then
                    // left lost events missing until the periodic sync.
                    if let SyncRequest::Reconcile { session, .. } = &request {
                        if self.peer_session.insert(peer, *session) != Some(*session) {
                            self.repair.remove(&peer);
                        }
                    }
                    if let Some(t) = self.catch_up_after.get_mut(&peer) {
                        *t = Instant::now();
                    }
                    if self
                        .responder
                        .try_send(Inbound {
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
