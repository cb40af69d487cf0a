//! The one ingest path. Gossip, sync and local writes all end here: decode, check the relay
//! path against the authenticated sender, verify the origin's signature, apply the admin
//! filters, merge into the store in one atomic batch, then decide whether to relay.
//!
//! The worker takes jobs in batches (as many as are queued, up to [`BATCH`]) so one fsync
//! covers many events; a duplicate already held is recognised before its signature is checked,
//! because every mesh neighbour sends a copy and verifying is the expensive step.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use discal_gateway::{WriteError, WriteOp, Written};
use discal_protocol::{
    merge, EventId, EventKey, MergeKey, NodeKey, NodeSecret, PayloadHead, Relayed, VerifiedEvent,
};
use discal_store::Transit;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::PeerId;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Reject;
use crate::{author, net, wire, Shared};

/// Jobs queued before the net loop starts dropping gossip (sync repairs what it drops).
pub const QUEUE: usize = 8192;
/// Most jobs handled per store batch.
pub const BATCH: usize = 512;

/// Work for the ingest worker.
pub enum Job {
    /// An encoded [`Relayed`] from a peer.
    Remote {
        /// The bytes.
        bytes: Vec<u8>,
        /// The connection-authenticated sender.
        from: NodeKey,
        /// For gossip: the message to report a verdict on.
        gossip: Option<(MessageId, PeerId)>,
    },
    /// Answers once every job queued before it has been handled (a sync session uses it to
    /// know its fetched events are stored).
    Barrier(oneshot::Sender<()>),
    /// A local write.
    Write {
        /// What to do.
        op: WriteOp,
        /// Where the result goes.
        reply: oneshot::Sender<Result<Vec<Written>, WriteError>>,
    },
}

/// Queues a local write and waits for its result.
pub async fn submit_write(tx: &mpsc::Sender<Job>, op: WriteOp) -> Result<Vec<Written>, WriteError> {
    let (reply, rx) = oneshot::channel();
    tx.send(Job::Write { op, reply })
        .await
        .map_err(|_| WriteError::Unavailable("node is shutting down".into()))?;
    rx.await
        .map_err(|_| WriteError::Unavailable("node is shutting down".into()))?
}

/// The worker loop; returns when every sender is gone.
pub fn run(
    shared: Arc<Shared>,
    secret: NodeSecret,
    mut rx: mpsc::Receiver<Job>,
    net: mpsc::Sender<net::Command>,
) {
    let w = Worker {
        shared,
        secret,
        net,
        out: std::cell::RefCell::new(Vec::new()),
        verdicts: std::cell::RefCell::new(HashMap::new()),
    };
    while let Some(first) = rx.blocking_recv() {
        let mut remote = Vec::new();
        let handle = |job: Job, remote: &mut Vec<Remote>| match job {
            Job::Remote {
                bytes,
                from,
                gossip,
            } => remote.push(Remote {
                bytes,
                from,
                gossip,
            }),
            Job::Write { op, reply } => {
                // Earlier remote jobs go first, so a write sees what arrived before it.
                w.ingest(std::mem::take(remote));
                let _ = reply.send(w.write(op));
            }
            Job::Barrier(done) => {
                w.ingest(std::mem::take(remote));
                let _ = done.send(());
            }
        };
        handle(first, &mut remote);
        while remote.len() < BATCH {
            match rx.try_recv() {
                Ok(job) => handle(job, &mut remote),
                Err(_) => break,
            }
        }
        w.ingest(remote);
    }
}

/// One queued remote envelope.
pub struct Remote {
    bytes: Vec<u8>,
    from: NodeKey,
    gossip: Option<(MessageId, PeerId)>,
}

struct Candidate {
    ev: VerifiedEvent,
    transit: Transit,
    from: NodeKey,
    /// Its index in the batch (native forwarding reports the verdict after the merge).
    src: usize,
}

struct Worker {
    shared: Arc<Shared>,
    secret: NodeSecret,
    net: mpsc::Sender<net::Command>,
    /// Verdicts and relays of the batch in hand, sent to the net loop as one command: one
    /// wake-up of the net loop per batch rather than two per message.
    out: std::cell::RefCell<Vec<net::Command>>,
    /// Verdicts per gossip message of the batch in hand. A message bundles several relay
    /// values and gets one verdict: the worst of its values' (Reject over Ignore over Accept).
    verdicts: std::cell::RefCell<HashMap<MessageId, (PeerId, MessageAcceptance)>>,
}

fn severity(a: &MessageAcceptance) -> u8 {
    match a {
        MessageAcceptance::Accept => 0,
        MessageAcceptance::Ignore => 1,
        MessageAcceptance::Reject => 2,
    }
}

impl Worker {
    fn report(&self, r: &Remote, acceptance: MessageAcceptance) {
        if let Some((id, peer)) = &r.gossip {
            let mut v = self.verdicts.borrow_mut();
            match v.get_mut(id) {
                Some(held) if severity(&held.1) >= severity(&acceptance) => {}
                Some(held) => *held = (*peer, acceptance),
                None => {
                    v.insert(id.clone(), (*peer, acceptance));
                }
            }
        }
    }

    fn flush(&self) {
        let verdicts = std::mem::take(&mut *self.verdicts.borrow_mut());
        let mut cmds = std::mem::take(&mut *self.out.borrow_mut());
        cmds.extend(
            verdicts
                .into_iter()
                .map(|(id, (peer, acceptance))| net::Command::Report {
                    id,
                    peer,
                    acceptance,
                }),
        );
        if !cmds.is_empty() {
            let _ = self.net.blocking_send(net::Command::Batch(cmds));
        }
    }

    fn reject(&self, r: &Remote, why: Reject, detail: &dyn std::fmt::Display) {
        tracing::warn!(peer = %r.from, reason = why.label(), "rejected envelope: {detail}");
        self.shared.metrics.reject(why);
        self.shared.peer_stat(&r.from, |s| s.rejected += 1);
        // Policy drops are the operator's choice, not the peer's fault.
        let acceptance = if why == Reject::Policy {
            MessageAcceptance::Ignore
        } else {
            MessageAcceptance::Reject
        };
        self.report(r, acceptance);
    }

    /// Checks one remote envelope up to (and including) its signature. `None`: rejected or a
    /// duplicate, already counted.
    fn check(
        &self,
        r: &Remote,
        now: i64,
        in_batch: &mut HashMap<EventId, u8>,
    ) -> Option<Candidate> {
        let m = &self.shared.metrics;
        m.received.fetch_add(1, Relaxed);
        self.shared.peer_stat(&r.from, |s| s.received += 1);
        let relayed = match Relayed::decode(&r.bytes) {
            Ok(v) => v,
            Err(e) => {
                self.reject(r, Reject::Decode, &e);
                return None;
            }
        };
        // Every neighbour relays every event, so most of what arrives is a copy of a revision
        // already held. The payload's head (origin bytes, UID) is enough to recognise one:
        // no content decoding and no curve-point check of the origin key.
        let Some(head) = PayloadHead::peek(&relayed.envelope.payload) else {
            self.reject(r, Reject::Decode, &"payload does not start like one");
            return None;
        };
        // Natively forwarded messages keep the origin's hop and path, so the sender is any
        // node on the way: there is nothing to check them against.
        let path = if self.shared.native_forwarding {
            Ok(())
        } else {
            wire::check_path_raw(&relayed, &head.origin, &r.from)
        };
        if let Err(e) = path {
            self.reject(r, Reject::Path, &e);
            return None;
        }
        let id = EventId::of_payload(&relayed.envelope.payload);
        // Copies of one event from several neighbours: only the shortest route is worth a
        // signature check.
        if let Some(h) = in_batch.get(&id) {
            if *h <= relayed.hop {
                return self.duplicate(r);
            }
        }
        let held = self
            .shared
            .store
            .revision_hop_raw(&head.origin, &head.uid)
            .ok()
            .flatten();
        if let Some((held, held_hop)) = held {
            // The same bytes as a held, verified revision: valid, and no news unless shorter.
            if held.id == id && relayed.hop >= held_hop {
                return self.duplicate(r);
            }
        }
        let opened = match relayed.envelope.open(&self.shared.limits) {
            Ok(o) => o,
            Err(e) => {
                self.reject(r, Reject::Decode, &e);
                return None;
            }
        };
        if let Some((held, _)) = held {
            let p = opened.payload();
            let incoming = MergeKey {
                revision: p.revision,
                cancelled: p.content.is_cancelled(),
                id,
            };
            if held.id != id && !merge(Some(&held), &incoming).applies() {
                return self.duplicate(r);
            }
        }
        let ev = match opened.verify(now, &self.shared.limits) {
            Ok(ev) => ev,
            Err(e) => {
                self.reject(r, Reject::Verify, &e);
                return None;
            }
        };
        if let Err(why) = author::admit(&self.shared, &ev, relayed.hop) {
            {
                self.reject(r, Reject::Policy, &why);
                return None;
            };
        }
        in_batch.insert(id, relayed.hop);
        Some(Candidate {
            ev,
            transit: Transit {
                hop: relayed.hop,
                path: relayed.path,
            },
            from: r.from,
            src: 0,
        })
    }

    fn duplicate(&self, r: &Remote) -> Option<Candidate> {
        self.shared.metrics.duplicates.fetch_add(1, Relaxed);
        self.report(r, MessageAcceptance::Ignore);
        None
    }

    /// Checks, stores and relays a batch of remote envelopes.
    fn ingest(&self, batch: Vec<Remote>) {
        self.ingest_batch(batch);
        self.flush();
    }

    fn ingest_batch(&self, batch: Vec<Remote>) {
        if batch.is_empty() {
            return;
        }
        let now = self.shared.now();
        let mut in_batch = HashMap::new();
        let mut candidates = Vec::with_capacity(batch.len());
        let native = self.shared.native_forwarding;
        for (i, r) in batch.iter().enumerate() {
            if let Some(mut c) = self.check(r, now, &mut in_batch) {
                // Valid: gossipsub must not forward it natively (this node relays with hop + 1).
                if !native {
                    self.report(r, MessageAcceptance::Ignore);
                }
                c.src = i;
                candidates.push(c);
            }
        }
        if candidates.is_empty() {
            // Rejections and duplicates change counters that waiters may watch.
            self.notify();
            return;
        }
        let applied = match self
            .shared
            .store
            .apply_batch(candidates.iter().map(|c| (&c.ev, c.transit.clone())), now)
        {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(
                    "store write failed, {} events not stored: {e}",
                    candidates.len()
                );
                if native {
                    for c in &candidates {
                        self.report(&batch[c.src], MessageAcceptance::Ignore);
                    }
                }
                return;
            }
        };
        let max_hops = self.shared.max_hops();
        for (c, a) in candidates.iter().zip(applied) {
            if a.outcome.applies() {
                self.shared.metrics.accepted.fetch_add(1, Relaxed);
                tracing::debug!(uid = %c.ev.payload().uid, hop = c.transit.hop, from = %c.from, "stored");
                if let Some(observe) = &self.shared.observer {
                    let p = c.ev.payload();
                    observe(&crate::Stored {
                        key: EventKey {
                            origin: p.origin,
                            uid: p.uid.clone(),
                        },
                        revision: p.revision,
                        hop: c.transit.hop,
                    });
                }
            } else {
                self.shared.metrics.duplicates.fetch_add(1, Relaxed);
            }
            if native {
                let verdict = if a.outcome.applies() {
                    MessageAcceptance::Accept
                } else {
                    MessageAcceptance::Ignore
                };
                self.report(&batch[c.src], verdict);
            } else if (a.outcome.applies() || a.hop_lowered) && c.transit.hop < max_hops {
                self.relay(&c.ev, &c.transit);
            }
        }
        self.notify();
    }

    fn notify(&self) {
        let seq = self.shared.store.last_seq().unwrap_or(0);
        self.shared.changed.send_replace(seq);
    }

    fn relay(&self, ev: &VerifiedEvent, transit: &Transit) {
        let (hop, path) = wire::next_transit(transit.hop, &transit.path, &self.shared.me);
        let bytes = Relayed {
            hop,
            path,
            envelope: ev.envelope().clone(),
        }
        .encode();
        self.shared.metrics.relayed.fetch_add(1, Relaxed);
        self.out.borrow_mut().push(net::Command::Publish(bytes));
    }

    fn write(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        let r = self.write_op(op);
        self.flush();
        r
    }

    fn write_op(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        let authored = author::author(&self.shared, &self.secret, op)?;
        let now = self.shared.now();
        // One batch, one fsync, for an import of many events.
        let signed: Vec<&VerifiedEvent> = authored
            .iter()
            .filter_map(|a| match a {
                author::Authored::Signed(ev) => Some(&**ev),
                author::Authored::Unchanged(_) => None,
            })
            .collect();
        self.shared
            .store
            .apply_batch(signed.iter().map(|ev| (*ev, Transit::local())), now)
            .map_err(|e| WriteError::Internal(format!("store: {e}")))?;
        let relay = self.shared.max_hops() > 0;
        let mut out = Vec::new();
        for a in &authored {
            match a {
                author::Authored::Unchanged(w) => out.push(w.clone()),
                author::Authored::Signed(ev) => {
                    self.shared.metrics.published.fetch_add(1, Relaxed);
                    if relay {
                        self.relay(ev, &Transit::local());
                    }
                    out.push(Written {
                        uid: ev.payload().uid.clone(),
                        revision: ev.payload().revision,
                        changed: true,
                    });
                }
            }
        }
        self.notify();
        Ok(out)
    }
}
