//! The messages the node's workers send each other, in one module below them all: the net
//! loop, the ingest worker and the sync code depend on it and not on each other. [`NetClient`]
//! is how everything else asks things of the net loop.

use discal_gateway::{WriteError, WriteOp, Written};
use discal_protocol::NodeKey;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::config::PeerEntry;
use crate::wire::{SyncRequest, SyncResponse};
use crate::NodeError;

/// What the rest of the node asks of the swarm.
pub enum Command {
    /// Publish a relay message on the topic.
    Publish(Vec<u8>),
    /// Publish a relay message on the topic in a gossip message of its own, never bundled
    /// with others of its batch, and not to `from` (§11.2 rule 1: events that came by sync
    /// from `from`).
    PublishAlone {
        /// The relay message.
        bytes: Vec<u8>,
        /// The sync peer it came from.
        from: NodeKey,
    },
    /// Tell gossipsub what the ingest worker decided about a message.
    Report {
        /// The message.
        id: MessageId,
        /// Who sent it.
        peer: PeerId,
        /// The verdict.
        acceptance: MessageAcceptance,
    },
    /// A gossip copy was refused for its own hop or path, not for the envelope it carries
    /// (which its id names, §11.2): gossipsub must deliver the next copy of that id rather
    /// than drop it as seen, and, when the event is still missing, a catch-up session with
    /// another peer fetches it (this node told its neighbours IDONTWANT on receipt).
    Forget {
        /// The message.
        id: MessageId,
        /// Who sent the refused copy.
        from: PeerId,
        /// Whether the event it carried is still missing here.
        repair: bool,
        /// Whether its path was inconsistent (a relay no honest peer makes), which counts
        /// against the sender's score; a copy beyond `max_hops` does not.
        inconsistent: bool,
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
    /// Gossipsub's score of each connected peer (below `-80` its messages are dropped).
    pub scores: Vec<(NodeKey, f64)>,
}

/// Work for the ingest worker.
pub enum Job {
    /// An encoded [`discal_protocol::Relayed`] from a peer.
    Remote {
        /// The bytes.
        bytes: Vec<u8>,
        /// The connection-authenticated sender.
        from: NodeKey,
        /// For gossip: the message to report a verdict on.
        gossip: Option<(MessageId, PeerId)>,
        /// The sender's place in the ingest queue, given back once the job is done.
        ticket: Option<Ticket>,
    },
    /// Answers once every job queued before it has been handled (a sync session uses it to
    /// know its fetched events are stored).
    Barrier(oneshot::Sender<()>),
    /// Panics in the worker: how tests show a node that fails says so.
    #[cfg(feature = "test-utils")]
    Panic,
    /// A proposal to receive, decide on or make (it signs, so it runs where the key is).
    Proposal {
        /// What to do.
        req: discal_gateway::ProposalRequest,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<discal_gateway::ProposalReply, WriteError>>,
    },
    /// What a source's poll read, to be signed and stored as this node's events.
    Source {
        /// The events and what the source held before.
        batch: Box<crate::sources::Batch>,
        /// Where the outcome goes.
        reply: oneshot::Sender<Result<crate::sources::Outcome, WriteError>>,
    },
    /// A local write.
    Write {
        /// What to do.
        op: WriteOp,
        /// Where the result goes.
        reply: oneshot::Sender<Result<Vec<Written>, WriteError>>,
    },
}

/// A request from a peer, as the net loop hands it over.
pub struct Inbound {
    /// The peer.
    pub peer: PeerId,
    /// Its key.
    pub key: NodeKey,
    /// What it asks.
    pub request: SyncRequest,
    /// Where the answer goes.
    pub channel: ResponseChannel<SyncResponse>,
}

/// A cloneable handle on the net loop's command queue: each call is one command, and every
/// failure means the same thing, that the loop has stopped.
#[derive(Clone)]
pub struct NetClient {
    tx: mpsc::Sender<Command>,
}

impl NetClient {
    /// A client of the loop that reads `tx`'s receiver.
    pub fn new(tx: mpsc::Sender<Command>) -> Self {
        Self { tx }
    }

    /// The raw sender, for workers that queue commands without waiting (`try_send`,
    /// `blocking_send`).
    pub fn sender(&self) -> &mpsc::Sender<Command> {
        &self.tx
    }

    /// Queues a command, waiting for room.
    pub async fn send(&self, c: Command) -> Result<(), NodeError> {
        self.tx.send(c).await.map_err(|_| NodeError::Stopped)
    }

    /// Sends a command that carries a reply channel and waits for the reply.
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Replaces the allowlist.
    pub async fn set_peers(&self, peers: Vec<PeerEntry>) -> Result<(), NodeError> {
        self.send(Command::SetPeers(peers)).await
    }

    /// Starts a catch-up sync with a connected peer now.
    pub async fn sync_now(&self, peer: PeerId) -> Result<(), NodeError> {
        self.send(Command::SyncNow(peer)).await
    }

    /// Peers connected now, and the subset that joined the gossip topic.
    pub async fn connections(&self) -> Result<Connections, NodeError> {
        self.ask(Command::Connections).await
    }

    /// Sends a sync request and waits for the peer's answer.
    pub async fn request(
        &self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Result<Result<SyncResponse, String>, NodeError> {
        self.ask(|reply| Command::Request {
            peer,
            request,
            reply,
        })
        .await
    }

    /// Stops the loop and waits until it has.
    pub async fn shutdown(&self) -> Result<(), NodeError> {
        self.ask(Command::Shutdown).await
    }
}

/// Queues a local write for the ingest worker and waits for its result.
pub async fn submit_write(tx: &mpsc::Sender<Job>, op: WriteOp) -> Result<Vec<Written>, WriteError> {
    let (reply, rx) = oneshot::channel();
    tx.send(Job::Write { op, reply })
        .await
        .map_err(|_| WriteError::Unavailable("node is shutting down".into()))?;
    rx.await
        .map_err(|_| WriteError::Unavailable("node is shutting down".into()))?
}

/// Hands a proposal request to the ingest worker (it holds the key) and waits for the answer.
pub async fn submit_proposal(
    tx: &mpsc::Sender<Job>,
    req: discal_gateway::ProposalRequest,
) -> Result<discal_gateway::ProposalReply, WriteError> {
    let (reply, rx) = oneshot::channel();
    tx.send(Job::Proposal { req, reply })
        .await
        .map_err(|_| WriteError::Unavailable("node is shutting down".into()))?;
    rx.await
        .map_err(|_| WriteError::Unavailable("node is shutting down".into()))?
}

/// Jobs one peer has in the ingest queue. The net loop takes a ticket per gossip value it
/// queues and refuses a peer's values past its share of the queue, so one peer sending junk
/// cannot fill the queue and have honest peers' gossip dropped as overload.
#[derive(Clone, Debug, Default)]
pub struct Queued(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Queued {
    /// Jobs queued now.
    pub fn len(&self) -> usize {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True if none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A ticket for one more job, or `None` if the peer has `share` queued already.
    pub fn take(&self, share: usize) -> Option<Ticket> {
        use std::sync::atomic::Ordering::Relaxed;
        self.0
            .fetch_update(Relaxed, Relaxed, |n| (n < share).then_some(n + 1))
            .ok()
            .map(|_| Ticket(self.0.clone()))
    }
}

/// One queued job of a peer's; dropped when the ingest worker is done with it.
#[derive(Debug)]
pub struct Ticket(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_share_and_it_comes_back() {
        let q = Queued::default();
        let tickets: Vec<Ticket> = (0..3).filter_map(|_| q.take(3)).collect();
        assert_eq!(tickets.len(), 3);
        assert!(q.take(3).is_none(), "over its share");
        drop(tickets);
        assert!(q.is_empty());
        assert!(q.take(3).is_some());
    }
}
