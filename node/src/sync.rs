//! Catch-up (anti-entropy): range-based set reconciliation (negentropy) over the sync item ids
//! of the held revisions, then a transfer of only what one side lacks. The initiator learns
//! both differences; it fetches what it needs and pushes what the responder needs, so one
//! session repairs both directions. Transferred envelopes go through the ingest path like
//! gossip, with the same path, signature, policy and hop rules.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use discal_protocol::{EventKey, NodeKey, Relayed};
use libp2p::PeerId;
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use tokio::sync::{mpsc, oneshot};

use crate::msg::{Command, Inbound, Job, NetClient};
use crate::wire::{self, SyncRequest, SyncResponse, BATCH_BYTES, SHORT_ID};
use crate::{identity, Shared};

/// Negentropy rounds one session may take before the initiator gives up on the peer.
const MAX_ROUNDS: usize = 256;
/// The longest a session this node started may take, all steps together.
const SESSION_LIMIT: Duration = Duration::from_secs(600);

/// Sync requests queued for the responder before new ones are refused.
pub const RESPONDER_QUEUE: usize = 64;
/// Largest negentropy frame (bytes); bigger differences take more rounds.
pub const FRAME_LIMIT: u64 = 500_000;
/// Ids per fetch request.
pub const FETCH_IDS: usize = crate::wire::MAX_SYNC_ITEMS;
/// A responder forgets a session idle this long.
const SESSION_IDLE: Duration = Duration::from_secs(120);

/// What one session moved.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncStats {
    /// Negentropy rounds.
    pub rounds: usize,
    /// Envelopes fetched from the peer.
    pub fetched: usize,
    /// Envelopes pushed to the peer.
    pub pushed: usize,
}

/// The held revisions as sync items.
struct ItemSet {
    storage: NegentropyStorageVector,
    by_id: HashMap<[u8; 32], EventKey>,
    /// Name prefix → held (revision, event id prefix).
    held: HashMap<[u8; 24], (u32, [u8; 4])>,
}

/// The negentropy timestamp of a revision: its `issued_at_ms`, clamped at zero.
pub fn item_timestamp(issued_at_ms: i64) -> u64 {
    issued_at_ms.max(0) as u64
}

fn item_set(shared: &Shared) -> Result<ItemSet, String> {
    let inv = shared.store.inventory(None).map_err(|e| e.to_string())?;
    let mut storage = NegentropyStorageVector::with_capacity(inv.len());
    let mut by_id = HashMap::with_capacity(inv.len());
    let mut held = HashMap::with_capacity(inv.len());
    for it in inv {
        let id = wire::item_id(&it.key.origin, &it.key.uid, it.revision, &it.id.0);
        // Items sort by the origin's signed issue time, which both sides agree on: what a node
        // missed while it was away is then one contiguous range at the end, which negentropy
        // isolates in a few rounds instead of descending into every range of the id space.
        storage
            .insert(item_timestamp(it.issued_at_ms), Id::from_byte_array(id))
            .map_err(|e| format!("negentropy: {e:?}"))?;
        let mut name = [0u8; 24];
        name.copy_from_slice(&id[..24]);
        let mut tail = [0u8; 4];
        tail.copy_from_slice(&id[28..]);
        held.insert(name, (it.revision, tail));
        by_id.insert(id, it.key);
    }
    storage.seal().map_err(|e| format!("negentropy: {e:?}"))?;
    Ok(ItemSet {
        storage,
        by_id,
        held,
    })
}

impl ItemSet {
    /// True if this node holds the revision `id` names, or a newer one of the same event.
    fn covers(&self, id: &[u8; 32]) -> bool {
        let mut name = [0u8; 24];
        name.copy_from_slice(&id[..24]);
        let rev = u32::from_be_bytes([id[24], id[25], id[26], id[27]]);
        match self.held.get(&name) {
            Some((r, tail)) => *r > rev || (*r == rev && tail[..] == id[28..]),
            None => false,
        }
    }
}

fn short(id: &[u8; 32]) -> [u8; SHORT_ID] {
    let mut s = [0u8; SHORT_ID];
    s.copy_from_slice(&id[..SHORT_ID]);
    s
}

/// The relayed form this node sends of a held event, or `None` if its hop count has reached
/// the hop limit (it is not forwarded, by gossip or by sync).
fn outgoing(shared: &Shared, key: &EventKey) -> Option<Vec<u8>> {
    let ev = shared.store.get(key).ok().flatten()?;
    if ev.transit.hop >= shared.max_hops() {
        return None;
    }
    let (hop, path) = wire::next_transit(ev.transit.hop, &ev.transit.path, &shared.me);
    Some(
        Relayed {
            hop,
            path,
            envelope: ev.envelope,
        }
        .encode(),
    )
}

struct Session {
    id: u64,
    neg: Negentropy<'static, NegentropyStorageVector>,
    by_short: Arc<HashMap<[u8; SHORT_ID], EventKey>>,
    touched: Instant,
}

/// The item set for one store version, shared by every session that starts while the store
/// is unchanged: building it hashes every held revision, and peers that connect together (or
/// one that reconnects in a loop) would otherwise each pay that on the responder's thread.
struct Inventory {
    /// The store's last change number when the set was read.
    version: u64,
    /// Sealed; each session reconciles over its own copy (a copy of a sorted array).
    storage: NegentropyStorageVector,
    by_short: Arc<HashMap<[u8; SHORT_ID], EventKey>>,
}

/// The responder's state: open sessions and the current inventory.
struct Responder {
    shared: Arc<Shared>,
    ingest: mpsc::Sender<Job>,
    sessions: HashMap<PeerId, Session>,
    inventory: Option<Inventory>,
}

/// The responder thread: answers reconcile, fetch and push requests until the queue closes.
pub fn run_responder(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Inbound>,
    net: mpsc::Sender<Command>,
    ingest: mpsc::Sender<Job>,
) {
    let mut r = Responder {
        shared,
        ingest,
        sessions: HashMap::new(),
        inventory: None,
    };
    while let Some(inb) = rx.blocking_recv() {
        let response = r
            .answer(inb.peer, inb.key, &inb.request)
            .unwrap_or_else(|message| SyncResponse::Error { message });
        if net
            .blocking_send(Command::Respond {
                channel: inb.channel,
                response,
            })
            .is_err()
        {
            break;
        }
    }
}

impl Responder {
    /// The inventory of the store as it is now, built only if the store changed since.
    fn inventory(&mut self) -> Result<&Inventory, String> {
        // Read before the set: a change landing in between makes the next session rebuild.
        let version = self.shared.store.last_seq().map_err(|e| e.to_string())?;
        if self.inventory.as_ref().is_none_or(|i| i.version != version) {
            let set = item_set(&self.shared)?;
            self.shared.metrics.sync_inventories.fetch_add(1, Relaxed);
            let by_short = set
                .by_id
                .into_iter()
                .map(|(id, k)| (short(&id), k))
                .collect();
            self.inventory = Some(Inventory {
                version,
                storage: set.storage,
                by_short: Arc::new(by_short),
            });
        }
        self.inventory.as_ref().ok_or_else(|| "no inventory".into())
    }

    fn answer(
        &mut self,
        peer: PeerId,
        key: NodeKey,
        request: &SyncRequest,
    ) -> Result<SyncResponse, String> {
        self.sessions
            .retain(|_, s| s.touched.elapsed() < SESSION_IDLE);
        respond(self, peer, key, request)
    }
}

fn respond(
    r: &mut Responder,
    peer: PeerId,
    from: NodeKey,
    request: &SyncRequest,
) -> Result<SyncResponse, String> {
    let shared = &r.shared;
    match request {
        SyncRequest::Reconcile { session, msg } => {
            if r.sessions.get(&peer).is_none_or(|s| s.id != *session) {
                let inv = r.inventory()?;
                let by_short = inv.by_short.clone();
                let neg = Negentropy::owned(inv.storage.clone(), FRAME_LIMIT)
                    .map_err(|e| format!("negentropy: {e:?}"))?;
                r.sessions.insert(
                    peer,
                    Session {
                        id: *session,
                        neg,
                        by_short,
                        touched: Instant::now(),
                    },
                );
            }
            let s = r.sessions.get_mut(&peer).ok_or("no session")?;
            s.touched = Instant::now();
            let out = s
                .neg
                .reconcile(msg)
                .map_err(|e| format!("negentropy: {e:?}"))?;
            Ok(SyncResponse::Reconcile { msg: out })
        }
        SyncRequest::Fetch { session, ids } => {
            let s = r
                .sessions
                .get_mut(&peer)
                .filter(|s| s.id == *session)
                .ok_or("unknown sync session")?;
            s.touched = Instant::now();
            let mut events = Vec::new();
            let mut bytes = 0;
            let mut served = 0u32;
            for id in ids {
                if bytes >= BATCH_BYTES {
                    break;
                }
                served += 1;
                if let Some(b) = s.by_short.get(id).and_then(|k| outgoing(shared, k)) {
                    bytes += b.len();
                    events.push(b);
                }
            }
            Ok(SyncResponse::Events { served, events })
        }
        SyncRequest::Push { events } => {
            for bytes in events {
                let job = Job::Remote {
                    bytes: bytes.clone(),
                    from,
                    gossip: None,
                    ticket: None,
                };
                if r.ingest.blocking_send(job).is_err() {
                    return Err("node is shutting down".into());
                }
            }
            Ok(SyncResponse::Ack)
        }
    }
}

async fn request(
    net: &NetClient,
    peer: PeerId,
    request: SyncRequest,
) -> Result<SyncResponse, String> {
    let answer = net
        .request(peer, request)
        .await
        .map_err(|e| e.to_string())?;
    match answer? {
        SyncResponse::Error { message } => Err(format!("peer: {message}")),
        r => Ok(r),
    }
}

/// Takes the ids no other session is fetching: (taken, left to others).
fn claim(shared: &Shared, ids: Vec<[u8; 32]>) -> (Vec<[u8; 32]>, Vec<[u8; 32]>) {
    let Ok(mut f) = shared.fetching.lock() else {
        return (ids, Vec::new());
    };
    ids.into_iter().partition(|id| f.insert(*id))
}

/// Ids a session fetches; released (and waiters woken) when dropped, on success or failure.
struct Claimed {
    shared: Arc<Shared>,
    ids: Vec<[u8; 32]>,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        if let Ok(mut f) = self.shared.fetching.lock() {
            for id in &self.ids {
                f.remove(id);
            }
        }
        self.shared.fetched.notify_waiters();
    }
}

/// Fetches `ids` from the peer and waits until the ingest worker has handled them, so a
/// session waiting on these ids finds them stored when they are released.
async fn fetch(
    net: &NetClient,
    ingest: &mpsc::Sender<Job>,
    peer: PeerId,
    key: NodeKey,
    session: u64,
    ids: &[[u8; 32]],
    stats: &mut SyncStats,
) -> Result<(), String> {
    let wanted: Vec<[u8; SHORT_ID]> = ids.iter().map(short).collect();
    let mut pos = 0;
    // A response stops at BATCH_BYTES, and the ids it did not serve are asked for again; so
    // after the first answer a request names about as many ids as one answer holds.
    let mut per_request = FETCH_IDS;
    while pos < wanted.len() {
        let end = (pos + per_request).min(wanted.len());
        let ids = wanted[pos..end].to_vec();
        let asked = ids.len();
        match request(net, peer, SyncRequest::Fetch { session, ids }).await? {
            SyncResponse::Events { served, events } => {
                // A responder answers at most what was asked: more is junk to make this node
                // work (initiator budget, §11.4).
                if events.len() > asked || served as usize > asked {
                    return Err(format!(
                        "peer answered {} events for {asked} ids",
                        events.len()
                    ));
                }
                stats.fetched += events.len();
                for bytes in events {
                    ingest
                        .send(Job::Remote {
                            bytes,
                            from: key,
                            gossip: None,
                            ticket: None,
                        })
                        .await
                        .map_err(|_| "node is shutting down")?;
                }
                if served == 0 {
                    return Err("peer served nothing".into());
                }
                pos += served as usize;
                per_request = (served as usize + served as usize / 8).clamp(16, FETCH_IDS);
            }
            other => return Err(format!("unexpected answer {other:?}")),
        }
    }
    if !wanted.is_empty() {
        let (done, stored) = oneshot::channel();
        ingest
            .send(Job::Barrier(done))
            .await
            .map_err(|_| "node is shutting down")?;
        let _ = stored.await;
    }
    Ok(())
}

/// Runs one session with `peer`: reconcile, fetch what this node lacks, and with `push` push
/// what the peer lacks.
pub async fn run_initiator(
    shared: &Arc<Shared>,
    peer: PeerId,
    net: &NetClient,
    ingest: &mpsc::Sender<Job>,
    push: bool,
) -> Result<SyncStats, String> {
    tokio::time::timeout(SESSION_LIMIT, session(shared, peer, net, ingest, push))
        .await
        .map_err(|_| format!("session took longer than {} s", SESSION_LIMIT.as_secs()))?
}

async fn session(
    shared: &Arc<Shared>,
    peer: PeerId,
    net: &NetClient,
    ingest: &mpsc::Sender<Job>,
    push: bool,
) -> Result<SyncStats, String> {
    let s = Initiator {
        shared,
        net,
        ingest,
        peer,
        key: identity::node_key(&peer).ok_or("peer id is not an ed25519 key")?,
        session: rand::random(),
    };
    let ItemSet {
        storage,
        by_id,
        held,
    } = s.item_set().await?;
    let lookup = ItemSet {
        storage: NegentropyStorageVector::new(),
        by_id,
        held,
    };
    let mut stats = SyncStats::default();
    let (have, need) = s.reconcile(storage, &mut stats).await?;
    let wanted: Vec<[u8; 32]> = need
        .iter()
        .map(|id| *id.as_bytes())
        .filter(|id| !lookup.covers(id))
        .collect();
    s.fetch_wanted(wanted, &mut stats).await?;
    let keys: Vec<EventKey> = have
        .iter()
        .filter_map(|id| lookup.by_id.get(id.as_bytes()).cloned())
        .collect();
    if push {
        s.push(&keys, &mut stats).await?;
    } else {
        tracing::debug!(peer = %s.peer, left = keys.len(), "not pushing: the dialer's session does");
    }
    shared.metrics.syncs.fetch_add(1, Relaxed);
    shared.caught_up("caught up with a peer");
    let now = shared.now();
    shared.peer_stat(&s.key, |st| st.last_sync_ms = Some(now));
    // Waiters (tests, status) learn of a finished sync even when it moved nothing.
    shared.changed.send_modify(|_| {});
    Ok(stats)
}

/// One session this node started.
struct Initiator<'a> {
    shared: &'a Arc<Shared>,
    net: &'a NetClient,
    ingest: &'a mpsc::Sender<Job>,
    peer: PeerId,
    key: NodeKey,
    session: u64,
}

impl Initiator<'_> {
    /// The held revisions as sync items, built off the async workers.
    async fn item_set(&self) -> Result<ItemSet, String> {
        let s2 = self.shared.clone();
        tokio::task::spawn_blocking(move || item_set(&s2))
            .await
            .map_err(|e| e.to_string())?
    }

    /// Negentropy rounds until the two sets' differences are known: (ids this node has and
    /// the peer lacks, ids the peer has and this node lacks).
    async fn reconcile(
        &self,
        storage: NegentropyStorageVector,
        stats: &mut SyncStats,
    ) -> Result<(Vec<Id>, Vec<Id>), String> {
        let mut neg =
            Negentropy::owned(storage, FRAME_LIMIT).map_err(|e| format!("negentropy: {e:?}"))?;
        let mut msg = neg.initiate().map_err(|e| format!("negentropy: {e:?}"))?;
        let (mut have, mut need) = (Vec::new(), Vec::new());
        loop {
            stats.rounds += 1;
            // Honest sets converge in a few rounds (log of the difference); a responder that
            // never lets a session end is cut off.
            if stats.rounds > MAX_ROUNDS {
                return Err(format!("no agreement after {MAX_ROUNDS} rounds"));
            }
            let session = self.session;
            match request(self.net, self.peer, SyncRequest::Reconcile { session, msg }).await? {
                SyncResponse::Reconcile { msg: m } => {
                    match neg
                        .reconcile_with_ids(&m, &mut have, &mut need)
                        .map_err(|e| format!("negentropy: {e:?}"))?
                    {
                        Some(next) => msg = next,
                        None => break,
                    }
                }
                other => return Err(format!("unexpected answer {other:?}")),
            }
        }
        Ok((have, need))
    }

    /// Fetches `ids` from the peer (stored once this returns).
    async fn fetch(&self, ids: &[[u8; 32]], stats: &mut SyncStats) -> Result<(), String> {
        let (net, ingest, peer, key) = (self.net, self.ingest, self.peer, self.key);
        fetch(net, ingest, peer, key, self.session, ids, stats).await
    }

    /// Fetches what this node lacks. Ids another session is already fetching are left to it;
    /// if it fails or they are still missing when it is done, this session fetches them after
    /// all.
    async fn fetch_wanted(
        &self,
        wanted: Vec<[u8; 32]>,
        stats: &mut SyncStats,
    ) -> Result<(), String> {
        let shared = self.shared;
        let (mine, theirs) = claim(shared, wanted);
        let claimed = Claimed {
            shared: shared.clone(),
            ids: mine,
        };
        self.fetch(&claimed.ids, stats).await?;
        drop(claimed);
        if theirs.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let busy = shared
                .fetching
                .lock()
                .map(|f| theirs.iter().any(|id| f.contains(id)))
                .unwrap_or(false);
            if !busy || Instant::now() > deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), shared.fetched.notified()).await;
        }
        let now = self.item_set().await?;
        let rest: Vec<[u8; 32]> = theirs.into_iter().filter(|id| !now.covers(id)).collect();
        let (mine, _) = claim(shared, rest);
        let claimed = Claimed {
            shared: shared.clone(),
            ids: mine,
        };
        self.fetch(&claimed.ids, stats).await
    }

    /// Pushes the events the peer lacks, in requests of about [`BATCH_BYTES`].
    async fn push(&self, keys: &[EventKey], stats: &mut SyncStats) -> Result<(), String> {
        let mut start = 0;
        while start < keys.len() {
            let (s2, chunk) = (self.shared.clone(), keys[start..].to_vec());
            let (events, used) = tokio::task::spawn_blocking(move || {
                let mut events = Vec::new();
                let mut bytes = 0;
                let mut used = 0;
                for k in &chunk {
                    if bytes >= BATCH_BYTES {
                        break;
                    }
                    used += 1;
                    if let Some(b) = outgoing(&s2, k) {
                        bytes += b.len();
                        events.push(b);
                    }
                }
                (events, used)
            })
            .await
            .map_err(|e| e.to_string())?;
            start += used;
            if events.is_empty() {
                continue;
            }
            stats.pushed += events.len();
            match request(self.net, self.peer, SyncRequest::Push { events }).await? {
                SyncResponse::Ack => {}
                other => return Err(format!("unexpected answer {other:?}")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use discal_protocol::{Limits, NodeSecret};
    use discal_store::{SledOptions, Store, Transit};

    /// An initiator holding nothing.
    fn empty_initiator() -> Negentropy<'static, NegentropyStorageVector> {
        let mut empty = NegentropyStorageVector::new();
        empty.seal().unwrap();
        Negentropy::owned(empty, FRAME_LIMIT).unwrap()
    }

    /// A new session from an empty peer: how many items it learns it needs.
    fn reconcile(r: &mut Responder, me: NodeKey, session: u64) -> usize {
        let mut neg = empty_initiator();
        let request = SyncRequest::Reconcile {
            session,
            msg: neg.initiate().unwrap(),
        };
        let SyncResponse::Reconcile { msg } = r.answer(PeerId::random(), me, &request).unwrap()
        else {
            panic!("not a reconcile answer");
        };
        let (mut have, mut need) = (Vec::new(), Vec::new());
        assert!(neg
            .reconcile_with_ids(&msg, &mut have, &mut need)
            .unwrap()
            .is_none());
        need.len()
    }

    /// Item 5 of the hardening issue: sessions that start while the store is unchanged share
    /// one inventory; a change makes the next session build a new one.
    #[test]
    fn sessions_on_an_unchanged_store_share_one_inventory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store"), &SledOptions::default()).unwrap();
        let secret = NodeSecret::from_seed_array([3; 32]);
        let me = secret.public();
        let config = crate::Config::default();
        let shared = Arc::new(crate::offline::offline_shared(store, me, &config).unwrap());
        let add = |uid: &str| {
            let ev = discal_protocol::sign(
                &secret,
                uid.into(),
                0,
                1_700_000_000_000,
                discal_protocol::vector::content(),
                &Limits::default(),
            )
            .unwrap();
            shared.store.apply(&ev, Transit::local(), 0).unwrap();
        };
        add("first@example");
        let (ingest, _rx) = mpsc::channel(1);
        let mut r = Responder {
            shared: shared.clone(),
            ingest,
            sessions: HashMap::new(),
            inventory: None,
        };
        let builds = || shared.metrics.sync_inventories.load(Relaxed);
        for s in 0..5 {
            assert_eq!(reconcile(&mut r, me, s), 1);
        }
        assert_eq!(r.sessions.len(), 5);
        assert_eq!(builds(), 1);
        add("second@example");
        assert_eq!(
            reconcile(&mut r, me, 5),
            2,
            "the new session sees the change"
        );
        assert_eq!(reconcile(&mut r, me, 6), 2);
        assert_eq!(builds(), 2);
    }
}
