//! The one ingest path. Gossip, sync and local writes all end here: decode, check the relay
//! path against the authenticated sender, verify the origin's signature, apply the admin
//! filters, merge into the store in one atomic batch, then decide whether to relay.
//!
//! The worker takes jobs in batches (as many as are queued, up to [`BATCH`]) so one fsync
//! covers many events; a duplicate already held is recognised before its signature is checked,
//! because every mesh neighbour sends a copy and verifying is the expensive step. Its state is
//! behind a lock that the worker's thread holds while it has jobs in hand; a local write of one
//! event finding it free is done by the writer's own thread ([`Writer`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use discal_gateway::{WriteError, WriteOp, Written};
use discal_protocol::{
    merge, verify_batch, EventId, EventKey, MergeKey, NodeKey, NodeSecret, Opened, PayloadHead,
    Relayed, VerifiedEvent,
};
use discal_store::Transit;
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::PeerId;
use tokio::sync::mpsc;

use crate::metrics::Reject;
use crate::msg::{Command, Job};
use crate::{author, wire, Shared};

/// Jobs queued before the net loop starts dropping gossip (sync repairs what it drops).
pub const QUEUE: usize = 8192;
/// Most jobs handled per store batch.
pub const BATCH: usize = 512;

/// Starts the worker on a thread of its own; returns what local writers use, the queue every
/// other job goes through, and the thread (it returns once every sender of the queue is gone).
pub fn start(
    shared: Arc<Shared>,
    secret: NodeSecret,
    net: mpsc::Sender<Command>,
) -> std::io::Result<(Writer, mpsc::Sender<Job>, std::thread::JoinHandle<()>)> {
    let (queue, rx) = mpsc::channel(QUEUE);
    let worker_shared = shared.clone();
    // Cancellations acknowledged before the last stop may not have been done: they are done
    // before anything else, as if they had just been answered.
    let replayed = replayed(&shared);
    let worker = Arc::new(Mutex::new(Worker {
        shared,
        secret,
        net: net.clone(),
        out: std::cell::RefCell::new(Vec::new()),
        verdicts: std::cell::RefCell::new(HashMap::new()),
        forget: std::cell::RefCell::new(Vec::new()),
        pending: std::cell::RefCell::new(replayed.clone()),
        journaled: std::cell::RefCell::new(replayed),
    }));
    let thread = {
        let worker = worker.clone();
        let shared = worker_shared.clone();
        std::thread::Builder::new()
            .name("discal-ingest".into())
            .spawn(move || {
                // A panic here (or on a writer's thread while it held the worker) leaves the
                // worker's state half done: the node says it has failed, and `discal run`
                // exits for its supervisor to restart it, rather than answering 503 for ever.
                let ended =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&worker, rx)));
                let why = match ended {
                    Ok(Ok(())) => return,
                    Ok(Err(why)) => why,
                    Err(_) => "the ingest worker panicked".to_string(),
                };
                tracing::error!("{why}; the node stops taking writes and events");
                shared.failed.send_replace(Some(why));
            })?
    };
    let writer = Writer {
        shared: worker_shared,
        worker,
        queue: queue.clone(),
        net,
    };
    Ok((writer, queue, thread))
}

/// The journal's record found at start, to be done again (each a no-op if it was done).
fn replayed(shared: &Shared) -> Vec<Intent> {
    let Some(record) = shared.store.journaled() else {
        return Vec::new();
    };
    match Intent::decode_all(record) {
        Some(all) => {
            if !all.is_empty() {
                if let Ok(mut u) = shared.unsettled_uids.lock() {
                    u.extend(all.iter().map(|i| i.uid.clone()));
                }
                shared.unsettled.send_replace(true);
            }
            all
        }
        None => {
            tracing::warn!("the store's journal holds a record this node does not read; ignored");
            Vec::new()
        }
    }
}

/// A write done on the writer's thread: its result, its relay for the net task, and whether
/// journaled writes wait to be done (by [`settle_now`], after the answer).
type DoneHere = (Result<Vec<Written>, WriteError>, Option<Command>, bool);

/// How long after answering a local write its watchers and relay are woken.
const AFTER_ANSWER: std::time::Duration = std::time::Duration::from_millis(1);

/// Local writes (the HTTP API, the web forms, CalDAV, the CLI through them).
///
/// A write of one event made while the worker is idle is done on the writer's own thread: a
/// hand-off to the worker's thread and back costs two thread wake-ups, which on an idle
/// two-core machine were a third of a CalDAV DELETE's time. When the worker is busy, and for
/// imports (long), the write is queued as before, behind the jobs already waiting. The write
/// blocks its runtime thread for its flush (a fraction of a millisecond, more under load), but
/// only one thread can hold the worker: concurrent writers find it taken and queue.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
    worker: Arc<Mutex<Worker>>,
    queue: mpsc::Sender<Job>,
    net: mpsc::Sender<Command>,
}

impl Writer {
    /// Performs `op` once it is durable: stored and flushed, its relay queued; or, for a
    /// cancellation, written to the store's journal and done a millisecond after the answer
    /// (store/src/journal.rs). Requests wait for that before reading: [`Writer::settled`].
    pub async fn write(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        let mut op = Some(op);
        if let Some((result, relay, journaled)) = self.write_here(&mut op) {
            // Watchers and the relay are woken a moment after the answer, and a journaled
            // write is applied then. Done at once, that work (tens of µs) ran on the CPU the
            // writer was about to be woken on, after the answer was sent but before the
            // writer could read it.
            let (shared, net, worker) =
                (self.shared.clone(), self.net.clone(), self.worker.clone());
            tokio::spawn(async move {
                tokio::time::sleep(AFTER_ANSWER).await;
                #[cfg(feature = "test-utils")]
                let journaled =
                    journaled && !shared.hold_settle.load(std::sync::atomic::Ordering::SeqCst);
                let relay = match journaled {
                    true => settle_now(&shared, &worker),
                    false => relay,
                };
                notify(&shared);
                if let Some(cmd) = relay {
                    // The net task may be gone at shutdown; sync repairs a relay lost then.
                    let _ = net.send(cmd).await;
                }
            });
            return result;
        }
        match op {
            Some(op) => crate::msg::submit_write(&self.queue, op).await,
            None => Err(WriteError::Internal("a write was lost on its way".into())),
        }
    }

    /// [`Writer::settled`] if an acknowledged write of the event `uid` is not yet applied;
    /// at once otherwise, even if writes of other events are waiting.
    pub async fn settled_for(&self, uid: &str) {
        let waiting = self
            .shared
            .unsettled_uids
            .lock()
            .map_or(true, |u| u.iter().any(|p| p == uid));
        if waiting {
            self.settled().await;
        }
    }

    /// Waits until the last acknowledged write is applied (at once if it is): a request that
    /// reads the store, or checks a write's conditions, must not see the state before it.
    pub async fn settled(&self) {
        if !*self.shared.unsettled.borrow() {
            return;
        }
        if let Some(cmd) = settle_now(&self.shared, &self.worker) {
            let net = self.net.clone();
            tokio::spawn(async move {
                let _ = net.send(cmd).await;
            });
        }
        // Another thread holds the worker and settles before anything else.
        let mut rx = self.shared.unsettled.subscribe();
        let _ = rx.wait_for(|u| !u).await;
    }

    /// Takes `op` and does it here if the worker is free (its result and its relay); leaves
    /// it in place otherwise.
    fn write_here(&self, op: &mut Option<WriteOp>) -> Option<DoneHere> {
        if matches!(op, Some(WriteOp::Import(_))) {
            return None;
        }
        let w = self.worker.try_lock().ok()?;
        if let Some(why) = self.shared.failed.borrow().clone() {
            return Some((Err(WriteError::Internal(why)), None, false));
        }
        let op = op.take()?;
        // A panic here poisons the worker for the ingest thread too: the node says at once
        // that it has failed (the request answers an error), not at the next job.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // A cancellation of an event with no write waiting goes into the journal after
            // the waiting ones, which are applied with it, in order, after its answer.
            if !w.journals_alongside(&op) {
                w.settle();
            }
            w.write_early(op)
        }));
        // Whatever this write's outcome, journaled writes still waiting are applied after it.
        let waiting = result.is_ok() && !w.pending.borrow().is_empty();
        match result {
            Ok(Ok((written, _))) => Some((Ok(written), w.take_commands(), waiting)),
            Ok(Err(e)) => Some((Err(e), w.take_commands(), waiting)),
            Err(_) => {
                let why = "a write panicked while it held the ingest worker".to_string();
                tracing::error!("{why}; the node stops taking writes and events");
                // The worker's state may be half done: the ingest thread stops at its next
                // job on seeing this, and no later write starts here.
                self.shared.failed.send_replace(Some(why.clone()));
                clear_unsettled(&self.shared);
                Some((Err(WriteError::Internal(why)), None, false))
            }
        }
    }
}

/// Applies the write journaled last, if no one has yet, on the caller's thread; returns its
/// relay. If another thread holds the worker, that thread applies it before anything else.
fn settle_now(shared: &Shared, worker: &Mutex<Worker>) -> Option<Command> {
    match worker.try_lock() {
        Ok(w) => {
            w.settle();
            w.take_commands()
        }
        Err(std::sync::TryLockError::WouldBlock) => None,
        Err(std::sync::TryLockError::Poisoned(_)) => {
            // The node has failed; the journal's record is applied when it restarts.
            clear_unsettled(shared);
            None
        }
    }
}

/// No acknowledged write is waiting any more (done, or the node has failed).
fn clear_unsettled(shared: &Shared) {
    if let Ok(mut u) = shared.unsettled_uids.lock() {
        u.clear();
    }
    shared.unsettled.send_replace(false);
}

/// The worker loop; returns when every sender of the queue is gone, or why it cannot go on.
fn run(worker: &Mutex<Worker>, mut rx: mpsc::Receiver<Job>) -> Result<(), String> {
    while let Some(first) = rx.blocking_recv() {
        // Held until the jobs in hand are done: a local write waits for them (or queues).
        let Ok(w) = worker.lock() else {
            return Err("a write panicked while it held the ingest worker".into());
        };
        if let Some(why) = w.shared.failed.borrow().clone() {
            return Err(why);
        }
        // A write acknowledged from the journal comes before anything that follows it.
        w.settle();
        let w = &*w;
        let mut remote = Vec::new();
        let handle = |job: Job, remote: &mut Vec<Remote>| match job {
            Job::Remote {
                bytes,
                from,
                gossip,
                ticket,
            } => remote.push(Remote {
                bytes,
                from,
                gossip,
                _ticket: ticket,
            }),
            Job::Write { op, reply } => {
                // Earlier remote jobs go first, so a write sees what arrived before it.
                w.ingest(std::mem::take(remote));
                // The writer is answered once the write is durable, before watchers are woken
                // and its relay is handed to the network task (on two cores their wake-ups
                // would otherwise delay the answer).
                let _ = reply.send(w.write_op(op));
                w.notify();
                w.flush();
            }
            Job::Proposal { req, reply } => {
                w.ingest(std::mem::take(remote));
                let write = |op| w.write(op);
                let _ = reply.send(crate::proposals::handle(&w.shared, &w.secret, req, &write));
            }
            Job::Source { batch, reply } => {
                w.ingest(std::mem::take(remote));
                let commit = |a: &[author::Authored]| {
                    let r = w.commit(a);
                    w.flush();
                    r
                };
                let _ = reply.send(crate::sources::take(&w.shared, &w.secret, *batch, &commit));
            }
            Job::Barrier(done) => {
                w.ingest(std::mem::take(remote));
                let _ = done.send(());
            }
            #[cfg(feature = "test-utils")]
            Job::Panic => panic!("a panic injected into the ingest worker"),
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
    // Stopping: the last acknowledged write is applied now rather than at the next open.
    if let Ok(w) = worker.lock() {
        w.settle();
    }
    Ok(())
}

/// One queued remote envelope.
pub struct Remote {
    bytes: Vec<u8>,
    from: NodeKey,
    gossip: Option<(MessageId, PeerId)>,
    /// Held until the job is done (the sender's share of the queue).
    _ticket: Option<crate::msg::Ticket>,
}

/// The outcome of [`Worker::screen`].
enum Screened {
    /// Rejected or a duplicate, already counted and reported.
    Done,
    /// Byte-identical to the envelope at this index of the batch, by no shorter route.
    CopyOf(usize),
    /// Passed; its opened envelope is waiting for the batch's signature check.
    Fresh(Transit),
}

/// The first copy of an event screened in the batch in hand.
struct InBatch {
    hop: u8,
    signature: [u8; 64],
    index: usize,
}

/// What became of a fresh envelope, for its copies.
enum Verdict {
    Admitted,
    Refused(Reject, String),
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
    net: mpsc::Sender<Command>,
    /// Verdicts and relays of the batch in hand, sent to the net loop as one command: one
    /// wake-up of the net loop per batch rather than two per message.
    out: std::cell::RefCell<Vec<Command>>,
    /// Verdicts per gossip message of the batch in hand. A message bundles several relay
    /// values and gets one verdict: the worst of its values' (Reject over Ignore over Accept).
    verdicts: std::cell::RefCell<HashMap<MessageId, (PeerId, MessageAcceptance)>>,
    /// Gossip copies refused for their own hop or path in the batch in hand (§11.2).
    forget: std::cell::RefCell<Vec<Command>>,
    /// Local writes acknowledged from the journal and not yet done, in order.
    pending: std::cell::RefCell<Vec<Intent>>,
    /// Every cancellation journaled since sled's flush was last forced: the journal's record.
    /// One done since may not have reached the disk through sled yet.
    journaled: std::cell::RefCell<Vec<Intent>>,
}

/// A cancellation acknowledged from the journal: the event, the revision it cancels, and the
/// time the cancellation is signed as of (so that making it again gives the same bytes).
#[derive(Clone)]
struct Intent {
    uid: String,
    revision: u32,
    id: discal_protocol::EventId,
    at_ms: i64,
}

/// Journaled cancellations kept before sled's flush is forced, so that the journal's record
/// (all of them since the last forced flush) stays small.
const JOURNAL_KEEPS: usize = 64;
/// The longest UID of a cancellation that goes by the journal: 64 entries of at most 302 bytes
/// fit the store's journal slot (64 KiB) with room to spare.
const MAX_JOURNAL_UID: usize = 255;

impl Intent {
    const TAG: u8 = b'C';
    const FIXED: usize = 1 + 4 + 32 + 8 + 2;

    /// Its bytes in the journal's record: the tag `C`, the revision (u32), the revision's
    /// SHA-256, the signing time (i64 ms), the UID's length (u16) and the UID; integers
    /// little-endian. A record is such entries one after another.
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(Self::TAG);
        out.extend_from_slice(&self.revision.to_le_bytes());
        out.extend_from_slice(&self.id.0);
        out.extend_from_slice(&self.at_ms.to_le_bytes());
        out.extend_from_slice(&(self.uid.len() as u16).to_le_bytes());
        out.extend_from_slice(self.uid.as_bytes());
    }

    fn encode_all(all: &[Intent]) -> Vec<u8> {
        let mut out = Vec::new();
        for i in all {
            i.encode_into(&mut out);
        }
        out
    }

    /// The entries of a record; none if any entry is not one.
    fn decode_all(mut record: &[u8]) -> Option<Vec<Self>> {
        let mut out = Vec::new();
        while !record.is_empty() {
            if record.len() < Self::FIXED || record[0] != Self::TAG {
                return None;
            }
            let n = u16::from_le_bytes(record[45..47].try_into().ok()?) as usize;
            let uid = record.get(Self::FIXED..Self::FIXED + n)?;
            out.push(Self {
                revision: u32::from_le_bytes(record[1..5].try_into().ok()?),
                id: discal_protocol::EventId(record[5..37].try_into().ok()?),
                at_ms: i64::from_le_bytes(record[37..45].try_into().ok()?),
                uid: String::from_utf8(uid.to_vec()).ok()?,
            });
            record = &record[Self::FIXED + n..];
        }
        Some(out)
    }
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
        if let Some(cmd) = self.take_commands() {
            let _ = self.net.blocking_send(cmd);
        }
    }

    /// The verdicts, relays and forgettings gathered since the last call, as one command.
    fn take_commands(&self) -> Option<Command> {
        let verdicts = std::mem::take(&mut *self.verdicts.borrow_mut());
        let mut cmds = std::mem::take(&mut *self.out.borrow_mut());
        cmds.append(&mut self.forget.borrow_mut());
        cmds.extend(
            verdicts
                .into_iter()
                .map(|(id, (peer, acceptance))| Command::Report {
                    id,
                    peer,
                    acceptance,
                }),
        );
        (!cmds.is_empty()).then_some(Command::Batch(cmds))
    }

    /// Logs and counts a refused envelope or copy.
    fn count_reject(&self, r: &Remote, why: Reject, detail: &dyn std::fmt::Display) {
        let from = r.from;
        self.shared
            .metrics
            .log_reject(why, &format_args!("envelope from {from}: {detail}"));
        self.shared.metrics.reject(why);
        self.shared.peer_stat(&r.from, |s| s.rejected += 1);
    }

    fn reject(&self, r: &Remote, why: Reject, detail: &dyn std::fmt::Display) {
        self.count_reject(r, why, detail);
        // Policy, origin and quota drops are the operator's choice, not the peer's fault.
        let acceptance = if matches!(why, Reject::Policy | Reject::Origin | Reject::Quota) {
            MessageAcceptance::Ignore
        } else {
            MessageAcceptance::Reject
        };
        self.report(r, acceptance);
    }

    /// A copy refused for what its sender added (hop, path), not for the envelope: every
    /// relay of the event shares the message's id, so a Reject would also penalise the
    /// neighbours whose honest copies gossipsub saw meanwhile. It is counted like a rejection
    /// and ignored, gossipsub forgets the id, and a missing event is repaired by sync.
    fn refuse_copy(&self, r: &Remote, why: Reject, detail: &dyn std::fmt::Display, held: bool) {
        self.count_reject(r, why, detail);
        self.report(r, MessageAcceptance::Ignore);
        if let Some((id, peer)) = &r.gossip {
            self.forget.borrow_mut().push(Command::Forget {
                id: id.clone(),
                from: *peer,
                repair: !held,
                inconsistent: why == Reject::Path,
            });
        }
    }

    /// Whether a copy's hop and path are consistent with its sender and within `max_hops`;
    /// a copy that is not is refused here (as a copy, not as an envelope).
    fn transit_ok(&self, r: &Remote, relayed: &Relayed, head: &PayloadHead, id: &EventId) -> bool {
        // Natively forwarded messages keep the origin's hop and path, so the sender is any
        // node on the way: there is nothing to check them against.
        let path = if self.shared.native_forwarding {
            Ok(())
        } else {
            wire::check_path_raw(relayed, &head.origin, &r.from)
        };
        let max_hops = self.shared.max_hops().max(1);
        if path.is_ok() && relayed.hop <= max_hops {
            return true;
        }
        let held = self
            .shared
            .store
            .revision_hop_raw(&head.origin, &head.uid)
            .ok()
            .flatten()
            .is_some_and(|(held, _)| held.id == *id);
        match path {
            Err(e) => self.refuse_copy(r, Reject::Path, &e, held),
            Ok(()) => self.refuse_copy(
                r,
                Reject::Policy,
                &format_args!("hop {} beyond max_hops {max_hops}", relayed.hop),
                held,
            ),
        }
        false
    }

    /// The checks before the signature, for one remote envelope. Rejections and duplicates
    /// are counted and reported here.
    /// An envelope that passes goes to `fresh`, its signature still unchecked.
    fn screen(
        &self,
        index: usize,
        r: &Remote,
        in_batch: &mut HashMap<EventId, InBatch>,
        fresh: &mut Vec<Opened>,
    ) -> Screened {
        let m = &self.shared.metrics;
        m.received.fetch_add(1, Relaxed);
        self.shared.peer_stat(&r.from, |s| s.received += 1);
        let relayed = match Relayed::decode(&r.bytes) {
            Ok(v) => v,
            Err(e) => {
                self.reject(r, Reject::Decode, &e);
                return Screened::Done;
            }
        };
        // Every neighbour relays every event, so most of what arrives is a copy of a revision
        // already held. The payload's head (origin bytes, UID) is enough to recognise one:
        // no content decoding and no curve-point check of the origin key.
        let Some(head) = PayloadHead::peek(&relayed.envelope.payload) else {
            self.reject(r, Reject::Decode, &"payload does not start like one");
            return Screened::Done;
        };
        let id = EventId::of_payload(&relayed.envelope.payload);
        if !self.transit_ok(r, &relayed, &head, &id) {
            return Screened::Done;
        }
        // Copies of one event from several neighbours: only the shortest route is worth a
        // signature check. Byte-identical copies share the first one's verdict.
        if let Some(first) = in_batch.get(&id) {
            if first.hop <= relayed.hop && first.signature == relayed.envelope.signature {
                return Screened::CopyOf(first.index);
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
                self.duplicate(r);
                return Screened::Done;
            }
        }
        let signature = relayed.envelope.signature;
        let opened = match relayed.envelope.open(&self.shared.limits) {
            Ok(o) => o,
            Err(e) => {
                self.reject(r, Reject::Decode, &e);
                return Screened::Done;
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
                self.duplicate(r);
                return Screened::Done;
            }
        }
        // A later copy by a shorter route is checked too: it may lower the held hop.
        in_batch.entry(id).or_insert(InBatch {
            hop: relayed.hop,
            signature,
            index,
        });
        fresh.push(opened);
        Screened::Fresh(Transit {
            hop: relayed.hop,
            path: relayed.path,
        })
    }

    /// What became of a checked envelope, for its byte-identical copies in the same batch.
    fn settle_copy(&self, r: &Remote, first: &Verdict) {
        match first {
            Verdict::Admitted => self.duplicate(r),
            Verdict::Refused(why, detail) => self.reject(r, *why, detail),
        }
    }

    fn duplicate(&self, r: &Remote) {
        self.shared.metrics.duplicates.fetch_add(1, Relaxed);
        self.report(r, MessageAcceptance::Ignore);
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
        let candidates = self.judge(&batch, now);
        if candidates.is_empty() {
            // Rejections and duplicates change counters that waiters may watch.
            self.notify();
            return;
        }
        self.store_and_relay(&batch, &candidates, now);
        self.notify();
    }

    /// Screens, verifies and admits a batch; returns what is to be stored. Every envelope that
    /// is refused or a copy gets its verdict here.
    fn judge(&self, batch: &[Remote], now: i64) -> Vec<Candidate> {
        let mut in_batch = HashMap::new();
        let mut fresh = Vec::new();
        let screened: Vec<Screened> = batch
            .iter()
            .enumerate()
            .map(|(i, r)| self.screen(i, r, &mut in_batch, &mut fresh))
            .collect();
        // All signatures of the batch in one check (protocol.md §4): a third of the CPU of
        // checking them one by one, with the same verdicts.
        let mut checked =
            verify_batch(fresh, now, &self.shared.limits, &mut rand::thread_rng()).into_iter();
        let mut verdicts: HashMap<usize, Verdict> = HashMap::new();
        let mut candidates = Vec::with_capacity(batch.len());
        for (i, (r, screened)) in batch.iter().zip(screened).enumerate() {
            let (transit, checked) = match screened {
                Screened::Done => continue,
                Screened::CopyOf(first) => {
                    self.settle_copy(r, &verdicts[&first]);
                    continue;
                }
                Screened::Fresh(transit) => (transit, checked.next()),
            };
            let verdict = match checked.expect("one verdict per fresh envelope") {
                Ok(ev) => match author::admit(&self.shared, &ev, transit.hop) {
                    Ok(()) => {
                        // Valid: gossipsub must not forward it natively (this node relays
                        // with hop + 1).
                        if !self.shared.native_forwarding {
                            self.report(r, MessageAcceptance::Ignore);
                        }
                        candidates.push(Candidate {
                            ev,
                            transit,
                            from: r.from,
                            src: i,
                        });
                        Verdict::Admitted
                    }
                    Err((reason, why)) => Verdict::Refused(reason, why),
                },
                Err(e) => Verdict::Refused(Reject::Verify, e.to_string()),
            };
            if let Verdict::Refused(why, detail) = &verdict {
                self.reject(r, *why, detail);
            }
            verdicts.insert(i, verdict);
        }
        candidates
    }

    /// Stores the admitted events as one batch, then relays what was new (or came by a
    /// shorter route) within the hop limit.
    fn store_and_relay(&self, batch: &[Remote], candidates: &[Candidate], now: i64) {
        let native = self.shared.native_forwarding;
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
                    for c in candidates {
                        self.report(&batch[c.src], MessageAcceptance::Ignore);
                    }
                }
                return;
            }
        };
        let max_hops = self.shared.max_hops();
        for (c, a) in candidates.iter().zip(applied) {
            if a.outcome.applies() {
                self.stored(c);
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
                // Events that came by sync go alone, and not back to the sync peer (§11.2
                // rule 1): after a heal many nodes fetch the same events at once, each a
                // different set, and bundles of different sets have different ids, so no
                // node's duplicate cache or IDONTWANT stopped another's copies.
                let by_sync = batch[c.src].gossip.is_none().then_some(batch[c.src].from);
                self.relay(&c.ev, &c.transit, by_sync);
            }
        }
    }

    /// Counts a newly stored revision and tells the observer.
    fn stored(&self, c: &Candidate) {
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
    }

    fn notify(&self) {
        notify(&self.shared);
    }

    /// Hands a relay of `ev` to the network task; `by_sync` names the peer it was fetched
    /// from when it came by sync.
    fn relay(&self, ev: &VerifiedEvent, transit: &Transit, by_sync: Option<NodeKey>) {
        let (hop, path) = wire::next_transit(transit.hop, &transit.path, &self.shared.me);
        let bytes = Relayed {
            hop,
            path,
            envelope: ev.envelope().clone(),
        }
        .encode();
        self.shared.metrics.relayed.fetch_add(1, Relaxed);
        self.out.borrow_mut().push(match by_sync {
            Some(from) => Command::PublishAlone { bytes, from },
            None => Command::Publish(bytes),
        });
    }

    fn write(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        let r = self.write_op(op);
        self.notify();
        self.flush();
        r
    }

    /// Fault injection (the `test-utils` feature): panics if a panic was asked for.
    fn injected_panic(&self) {
        #[cfg(feature = "test-utils")]
        if self
            .shared
            .panic_next_write
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("a panic injected into a write");
        }
    }

    /// A local write, stored (durable) but neither announced to watchers nor relayed yet:
    /// the caller answers the writer first, then [`Worker::notify`] and [`Worker::flush`].
    fn write_op(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        self.injected_panic();
        let authored = author::author(&self.shared, &self.secret, op)?;
        self.store_signed(&authored)
    }

    /// [`Worker::write_op`], except that a cancellation that cannot fail once answered is
    /// only journaled (true with its outcome): its answer carries nothing of the new revision,
    /// so it can be given once the journal's record is durable, and the revision is authored,
    /// signed and stored after the answer ([`Worker::settle`]), together with the journaled
    /// writes still waiting (of other events: [`Worker::journals_alongside`]).
    fn write_early(&self, op: WriteOp) -> Result<(Vec<Written>, bool), WriteError> {
        let Some(intent) = self.journal_intent(&op)? else {
            // Not journaled: done now, so after the writes waiting.
            self.settle();
            return self.write_op(op).map(|w| (w, false));
        };
        self.injected_panic();
        let mut all = self.journaled.borrow_mut();
        all.push(intent.clone());
        let journaled = self.shared.store.journal(&Intent::encode_all(&all));
        match journaled {
            Ok(true) => {}
            Ok(false) => {
                all.pop();
                drop(all);
                self.settle();
                return self.write_op(op).map(|w| (w, false));
            }
            Err(e) => {
                all.pop();
                return Err(WriteError::Internal(format!("store: {e}")));
            }
        }
        let written = Written::taken(intent.uid.clone(), intent.revision + 1, true);
        if let Ok(mut u) = self.shared.unsettled_uids.lock() {
            u.push(intent.uid.clone());
        }
        self.pending.borrow_mut().push(intent);
        self.shared.unsettled.send_replace(true);
        Ok((vec![written], true))
    }

    /// Whether `op` is a cancellation that can be journaled while earlier journaled writes
    /// wait: none of them is of its event (whose state it reads).
    fn journals_alongside(&self, op: &WriteOp) -> bool {
        let uid = match op {
            WriteOp::Cancel { uid } => uid,
            WriteOp::If { op, .. } => match &**op {
                WriteOp::Cancel { uid } => uid,
                _ => return false,
            },
            _ => return false,
        };
        self.journaled.borrow().len() < JOURNAL_KEEPS
            && self.pending.borrow().iter().all(|p| &p.uid != uid)
    }

    /// The cancellation `op` as a journal record, if it can go by the journal: the event is
    /// this node's, held and live, as the writer saw it, and small enough that its cancelled
    /// revision is sure to fit the payload limit. Anything else takes the full path, which
    /// gives the answer it always gave (404, 412, unchanged, 400).
    fn journal_intent(&self, op: &WriteOp) -> Result<Option<Intent>, WriteError> {
        let (uid, seen) = match op {
            WriteOp::Cancel { uid } => (uid, None),
            WriteOp::If { seen, op } => match &**op {
                WriteOp::Cancel { uid } => (uid, Some(seen)),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        let key = discal_protocol::EventKey {
            origin: self.shared.me,
            uid: uid.clone(),
        };
        let Some(held) = self
            .shared
            .store
            .get(&key)
            .map_err(|e| WriteError::Internal(format!("store: {e}")))?
        else {
            return Ok(None);
        };
        let as_seen = match seen {
            None => true,
            Some(discal_gateway::Seen::Revision { revision, id }) => {
                held.payload.revision == *revision && held.id == *id
            }
            Some(discal_gateway::Seen::Absent) => false,
        };
        // A cancellation adds a status and a few bytes of bookkeeping to the held payload; a
        // long UID would crowd the journal's record (JOURNAL_KEEPS of them fit its slot).
        let fits = held.envelope.payload.len() + 1024 <= self.shared.limits.max_payload_bytes
            && uid.len() <= MAX_JOURNAL_UID;
        Ok(
            (as_seen && fits && !held.content().is_cancelled()).then(|| Intent {
                uid: uid.clone(),
                revision: held.payload.revision,
                id: held.id,
                at_ms: self.shared.now(),
            }),
        )
    }

    /// Does the writes acknowledged from the journal that are not done yet, in order, and
    /// queues their relays. sled is not flushed for them (the journal holds them) unless
    /// [`JOURNAL_KEEPS`] have gathered since it last was. One whose event has moved on since
    /// was done before (a record found at start). If one fails otherwise, the node stops taking
    /// writes; the journal's record is done again when it restarts.
    fn settle(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return;
        }
        for intent in pending {
            let seen = discal_gateway::Seen::Revision {
                revision: intent.revision,
                id: intent.id,
            };
            let done = author::cancel_at(
                &self.shared,
                &self.secret,
                intent.uid.clone(),
                &seen,
                intent.at_ms,
            )
            .and_then(|authored| self.store_signed_as(&authored, false));
            match done {
                Ok(_) => {}
                Err(WriteError::PreconditionFailed(_) | WriteError::NotFound(_)) => {
                    tracing::debug!(uid = %intent.uid, "a journaled cancellation was done before");
                }
                Err(e) => {
                    let why = format!(
                        "the acknowledged cancellation of {} could not be stored ({e}); it is \
                         done again when the node restarts",
                        intent.uid
                    );
                    tracing::error!("{why}; the node stops taking writes and events");
                    self.shared.failed.send_replace(Some(why));
                    self.settled_all();
                    return;
                }
            }
        }
        if self.journaled.borrow().len() >= JOURNAL_KEEPS {
            match self.shared.store.flush() {
                Ok(()) => self.journaled.borrow_mut().clear(),
                Err(e) => tracing::warn!("store flush: {e}; the journal keeps its record"),
            }
        }
        self.settled_all();
    }

    fn settled_all(&self) {
        clear_unsettled(&self.shared);
    }

    /// Stores what was signed in one batch and relays it.
    fn commit(&self, authored: &[author::Authored]) -> Result<Vec<Written>, WriteError> {
        let out = self.store_signed(authored)?;
        self.notify();
        Ok(out)
    }

    /// Stores what was signed in one batch and queues its relay.
    fn store_signed(&self, authored: &[author::Authored]) -> Result<Vec<Written>, WriteError> {
        self.store_signed_as(authored, true)
    }

    /// [`Worker::store_signed`]; without sled's flush if `flush` is false (a cancellation the
    /// journal made durable).
    fn store_signed_as(
        &self,
        authored: &[author::Authored],
        flush: bool,
    ) -> Result<Vec<Written>, WriteError> {
        let now = self.shared.now();
        // One batch, one fsync, for an import of many events.
        let signed: Vec<&VerifiedEvent> = authored
            .iter()
            .filter_map(author::Authored::signed)
            .collect();
        let items = signed.iter().map(|ev| (*ev, Transit::local()));
        let stored = match flush {
            true => self.shared.store.apply_batch(items, now),
            false => self.shared.store.apply_batch_unflushed(items, now),
        };
        stored.map_err(|e| WriteError::Internal(format!("store: {e}")))?;
        let relay = self.shared.max_hops() > 0;
        let mut out = Vec::new();
        for a in authored {
            if let Some(ev) = a.signed() {
                self.shared.metrics.published.fetch_add(1, Relaxed);
                if relay {
                    self.relay(ev, &Transit::local(), None);
                }
            }
            out.push(a.written());
        }
        Ok(out)
    }
}

/// Wakes whoever waits for the store to change.
fn notify(shared: &Shared) {
    let seq = shared.store.last_seq().unwrap_or(0);
    shared.changed.send_replace(seq);
}
