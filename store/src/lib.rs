//! DisCal's event store: the latest verified revision of every event a node knows, kept durably
//! in sled (or in memory for tests and the simulator), with the indexes that queries and sync
//! need.
//!
//! Only a [`VerifiedEvent`] can be applied, so nothing unverified is ever stored. Each apply
//! runs the protocol's merge rule against the held revision and writes the result as **one
//! atomic sled batch**; a single writer lock makes the read-merge-write step race-free. A crash
//! at any moment leaves either the old or the new state of a batch, never a mix.
//!
//! **Acknowledged** means: [`Store::apply`] or [`Store::apply_batch`] returned `Ok`. Both flush
//! (fsync) before returning, so an acknowledged write survives SIGKILL and power loss. Batching
//! is how callers pay one fsync for many events.
//!
//! # Layout
//! One sled tree; the first byte of a key names the table:
//! - `c seq` → record: index info, envelope, hop and path, receive time. Each event has exactly
//!   one record, under the sequence number of its latest change, so this key range is also the
//!   change log (CalDAV sync tokens, catch-up). A new revision writes a new record at the end
//!   and removes the old one in the same batch. Records are written in key order, which sled
//!   handles fast and compactly.
//! - `m schema` → the schema version, checked at open.
//! - `p key` → peer metadata.
//!
//! The secondary indexes (event name, start time, recurring/long events, tags, location) are
//! in memory ([`index`]), rebuilt at open from the records' small info headers.

mod backend;
mod index;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use bincode::{Decode, Encode};
use chrono::{DateTime, Utc};
use discal_protocol::codec::{self, DecodeError};
use discal_protocol::envelope::SignedPayload;
use discal_protocol::model::EventContent;
use discal_protocol::recur::{self, ExpandLimits, Occurrence};
use discal_protocol::{
    merge, Envelope, EventId, EventKey, MergeKey, MergeOutcome, NodeKey, Tz, VerifiedEvent,
};

pub use backend::SledOptions;
use backend::{Backend, Batch};
use index::{Index, Info, Span};

/// The on-disk layout this code reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const T_CHANGE: u8 = b'c';
const T_PEER: u8 = b'p';
const META_SCHEMA: &[u8] = b"mschema";

/// Floating and all-day times are indexed as UTC; viewers' zones are within ±14 h of it.
const ZONE_SLACK_SECS: i64 = 86_400;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value did not decode: the store is damaged or from another version.
    #[error("stored data is unreadable: {0}")]
    Decode(#[from] DecodeError),
    /// The store was written by a different schema version.
    #[error("store schema is version {found}, this build reads version {expected}")]
    Schema {
        /// On disk.
        found: u32,
        /// In this build.
        expected: u32,
    },
    /// A stored record contradicts its key or its indexes.
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    /// A thread panicked while holding the store's lock.
    #[error("store lock poisoned by a panicked thread")]
    Poisoned,
}

/// How an event reached this node: X-HOP and the relay path, which travel outside the signature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Transit {
    /// Links crossed (0 at the origin).
    pub hop: u8,
    /// Relaying nodes, origin first.
    pub path: Vec<NodeKey>,
}

impl Transit {
    /// An event this node originated.
    pub fn local() -> Self {
        Self::default()
    }
}

/// A stored event, decoded.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// The origin-signed envelope, exactly as received.
    pub envelope: Envelope,
    /// What it says.
    pub payload: SignedPayload,
    /// Hop count and path as this node received it.
    pub transit: Transit,
    /// Change sequence number of this revision's arrival.
    pub seq: u64,
    /// When this node stored it (ms since the epoch).
    pub received_at_ms: i64,
    /// Hash naming this revision.
    pub id: EventId,
}

impl StoredEvent {
    /// (origin, UID).
    pub fn key(&self) -> EventKey {
        EventKey {
            origin: self.payload.origin,
            uid: self.payload.uid.clone(),
        }
    }

    /// The revision's merge key.
    pub fn merge_key(&self) -> MergeKey {
        MergeKey {
            revision: self.payload.revision,
            cancelled: self.payload.content.is_cancelled(),
            id: self.id,
        }
    }

    /// The VEVENT(s).
    pub fn content(&self) -> &EventContent {
        &self.payload.content
    }
}

/// The result of applying one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applied {
    /// What the merge decided.
    pub outcome: MergeOutcome,
    /// The change sequence number given to the write, if anything was written.
    pub seq: Option<u64>,
}

/// A latitude/longitude box (degrees); `west > east` crosses the antimeridian.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BBox {
    /// Southern edge.
    pub south: f64,
    /// Western edge.
    pub west: f64,
    /// Northern edge.
    pub north: f64,
    /// Eastern edge.
    pub east: f64,
}

impl BBox {
    fn contains(&self, lat: f64, lon: f64) -> bool {
        let lon_ok = if self.west <= self.east {
            lon >= self.west && lon <= self.east
        } else {
            lon >= self.west || lon <= self.east
        };
        lat >= self.south && lat <= self.north && lon_ok
    }
}

/// What to look for. All given conditions must hold.
#[derive(Clone, Debug)]
pub struct Query {
    /// Only events with an instance overlapping `[from, to)`; instances are returned.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Any of these tags (case-insensitive); empty means any.
    pub tags: Vec<String>,
    /// None of these tags.
    pub exclude_tags: Vec<String>,
    /// Only this origin's events.
    pub origin: Option<NodeKey>,
    /// Only events whose GEO lies in this box.
    pub bbox: Option<BBox>,
    /// Case-insensitive substring of SUMMARY, DESCRIPTION or LOCATION.
    pub text: Option<String>,
    /// The zone floating and all-day times are read in.
    pub floating_tz: Tz,
    /// Include cancelled events (tombstones): feeds need them so subscribers learn of the
    /// cancellation.
    pub include_cancelled: bool,
    /// At most this many events.
    pub limit: usize,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            window: None,
            tags: Vec::new(),
            exclude_tags: Vec::new(),
            origin: None,
            bbox: None,
            text: None,
            floating_tz: Tz::UTC,
            include_cancelled: true,
            limit: 1000,
        }
    }
}

/// One matching event with its instances in the window.
#[derive(Clone, Debug)]
pub struct Hit {
    /// The event.
    pub event: StoredEvent,
    /// Its instances overlapping the window (empty when the query had no window).
    pub occurrences: Vec<Occurrence>,
}

/// A query's answer.
#[derive(Clone, Debug, Default)]
pub struct QueryResult {
    /// Matches; with a window, ordered by first instance start.
    pub hits: Vec<Hit>,
    /// True if `limit` or an expansion bound cut the answer short.
    pub truncated: bool,
}

/// What this node knows about a peer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct PeerMeta {
    /// Operator-given name.
    pub name: Option<String>,
    /// Last time a connection was up (ms since the epoch).
    pub last_seen_ms: Option<i64>,
    /// Last completed catch-up sync (ms since the epoch).
    pub last_sync_ms: Option<i64>,
    /// Events received from this peer.
    pub events_received: u64,
    /// Envelopes from this peer that were rejected.
    pub events_rejected: u64,
}

/// One (event, revision) the store holds, for set reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryItem {
    /// The event.
    pub key: EventKey,
    /// Its revision.
    pub revision: u32,
    /// Hash of the revision.
    pub id: EventId,
}

/// What [`Store::check_integrity`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Events stored.
    pub events: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Descriptions of every inconsistency; empty for a healthy store.
    pub problems: Vec<String>,
}

/// The record stored under `c seq`. `info` comes first so the open-time scan can stop decoding
/// after it.
#[derive(Clone, Debug, Encode, Decode)]
struct Record {
    info: Info,
    envelope: Envelope,
    transit: Transit,
    received_at_ms: i64,
}

const MAX_RECORD_BYTES: usize = codec::MAX_ENVELOPE_BYTES + 64 * 1024;

fn change_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = T_CHANGE;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = key
        .get(1..9)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("record key".into()))?;
    Ok(u64::from_be_bytes(b))
}

fn peer_key(key: &NodeKey) -> Vec<u8> {
    let mut k = vec![T_PEER];
    k.extend_from_slice(key.as_bytes());
    k
}

fn decode_info(bytes: &[u8]) -> Result<Info, StoreError> {
    // The info header is a prefix of the record; decode just it.
    let (info, _): (Info, usize) = bincode::decode_from_slice(
        bytes,
        bincode::config::standard().with_limit::<MAX_RECORD_BYTES>(),
    )
    .map_err(|e| DecodeError::Malformed {
        what: "record info",
        reason: e.to_string(),
    })?;
    Ok(info)
}

fn decode_record(seq: u64, bytes: &[u8]) -> Result<StoredEvent, StoreError> {
    let rec: Record = codec::decode("stored record", bytes, MAX_RECORD_BYTES)?;
    // Stored bytes were verified when they were written; they are decoded, not re-verified.
    let payload: SignedPayload =
        codec::decode("stored payload", &rec.envelope.payload, usize::MAX)?;
    Ok(StoredEvent {
        envelope: rec.envelope,
        payload,
        transit: rec.transit,
        seq,
        received_at_ms: rec.received_at_ms,
        id: rec.info.id,
    })
}

/// The event store. Share it behind an `Arc`: reads run concurrently, writes one at a time.
pub struct Store {
    db: Backend,
    writer: Mutex<()>,
    index: RwLock<Index>,
    expand: ExpandLimits,
}

impl Store {
    /// Opens (or creates) a store in `dir`, checks the schema version and rebuilds the indexes.
    pub fn open(dir: &Path, opts: &SledOptions) -> Result<Self, StoreError> {
        let db = Backend::open_sled(dir, opts)?;
        match db.get(META_SCHEMA)? {
            Some(v) => {
                let found = v
                    .as_slice()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt("schema version".into()))?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
            None => {
                let mut b = Batch::default();
                b.insert(META_SCHEMA.to_vec(), SCHEMA_VERSION.to_be_bytes().to_vec());
                db.apply(b)?;
                db.flush()?;
            }
        }
        let (index, problems) = build_index(&db)?;
        if let Some(p) = problems.first() {
            return Err(StoreError::Corrupt(p.clone()));
        }
        Ok(Self::with(db, index))
    }

    /// A store that lives in memory only, with the same behaviour minus durability.
    pub fn memory() -> Self {
        Self::with(Backend::memory(), Index::default())
    }

    fn with(db: Backend, index: Index) -> Self {
        Self {
            db,
            writer: Mutex::new(()),
            index: RwLock::new(index),
            expand: ExpandLimits::default(),
        }
    }

    fn read_index(&self) -> Result<std::sync::RwLockReadGuard<'_, Index>, StoreError> {
        self.index.read().map_err(|_| StoreError::Poisoned)
    }

    /// The newest change sequence number (0 for an empty store).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        Ok(self.read_index()?.last_seq)
    }

    /// How many events (live and cancelled) are stored.
    pub fn len(&self) -> Result<u64, StoreError> {
        Ok(self.read_index()?.by_ident.len() as u64)
    }

    /// True if no event is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    fn record(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.db
            .get(&change_key(seq))?
            .map(|v| decode_record(seq, &v))
            .transpose()
    }

    /// Applies one event and flushes: when this returns `Ok`, the write is acknowledged.
    pub fn apply(
        &self,
        ev: &VerifiedEvent,
        transit: Transit,
        now_ms: i64,
    ) -> Result<Applied, StoreError> {
        let mut out = self.apply_batch([(ev, transit)], now_ms)?;
        out.pop()
            .ok_or_else(|| StoreError::Corrupt("empty batch result".into()))
    }

    /// Applies many events as one atomic batch with one flush. Later items see earlier ones, so
    /// two revisions of one event in a batch merge as if applied one after the other.
    pub fn apply_batch<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a VerifiedEvent, Transit)>,
        now_ms: i64,
    ) -> Result<Vec<Applied>, StoreError> {
        let _writer = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        // Work on a view of the index that includes this batch's earlier items; the shared
        // index is only changed once the batch is durable.
        let mut added: Vec<(u64, Info)> = Vec::new();
        let mut removed: BTreeSet<u64> = BTreeSet::new();
        let mut overlay: std::collections::HashMap<index::Ident, (u64, Info, u8)> =
            std::collections::HashMap::new();
        let mut seq = self.read_index()?.last_seq;
        let mut batch = Batch::default();
        let mut results = Vec::new();

        for (ev, transit) in items {
            let info = Info::of(ev, self.expand);
            let ident = info.ident();
            let held: Option<(u64, Info, Option<u8>)> = match overlay.get(&ident) {
                Some((s, i, hop)) => Some((*s, i.clone(), Some(*hop))),
                None => {
                    let idx = self.read_index()?;
                    idx.by_ident
                        .get(&ident)
                        .and_then(|s| idx.entries.get(s).map(|i| (*s, i.clone(), None)))
                }
            };
            let outcome = merge(
                held.as_ref().map(|h| h.1.merge_key()).as_ref(),
                &info.merge_key(),
            );
            if !outcome.applies() {
                // Same revision by a shorter route: keep the lower hop count (it converges to
                // the true distance). The content is unchanged, so it keeps its change number.
                if let (MergeOutcome::Duplicate, Some((hseq, hinfo, hop))) = (outcome, held) {
                    let held_hop = match hop {
                        Some(h) => Some(h),
                        None => self.record(hseq)?.map(|r| r.transit.hop),
                    };
                    if held_hop.is_some_and(|h| transit.hop < h) {
                        let hop = transit.hop;
                        let rec = Record {
                            info: hinfo.clone(),
                            envelope: ev.envelope().clone(),
                            transit,
                            received_at_ms: now_ms,
                        };
                        batch.insert(change_key(hseq).to_vec(), codec::encode(&rec));
                        overlay.insert(ident, (hseq, hinfo, hop));
                    }
                }
                results.push(Applied { outcome, seq: None });
                continue;
            }
            seq += 1;
            if let Some((old, _, _)) = held {
                batch.remove(change_key(old).to_vec());
                removed.insert(old);
            }
            let hop = transit.hop;
            let rec = Record {
                info: info.clone(),
                envelope: ev.envelope().clone(),
                transit,
                received_at_ms: now_ms,
            };
            batch.insert(change_key(seq).to_vec(), codec::encode(&rec));
            overlay.insert(ident, (seq, info.clone(), hop));
            added.push((seq, info));
            results.push(Applied {
                outcome,
                seq: Some(seq),
            });
        }
        if !batch.is_empty() {
            self.db.apply(batch)?;
            self.db.flush()?;
            let mut idx = self.index.write().map_err(|_| StoreError::Poisoned)?;
            for s in removed {
                idx.remove(s);
            }
            for (s, info) in added {
                // A record added and replaced within this batch was never written.
                if overlay
                    .get(&info.ident())
                    .is_some_and(|(cur, _, _)| *cur == s)
                {
                    idx.insert(s, info);
                }
            }
            idx.last_seq = idx.last_seq.max(seq);
        }
        Ok(results)
    }

    /// The held revision of an event.
    pub fn get(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        let seq = self
            .read_index()?
            .by_ident
            .get(&(*key.origin.as_bytes(), key.uid.clone()))
            .copied();
        match seq {
            Some(s) => self.record(s),
            None => Ok(None),
        }
    }

    /// The merge key held for an event, without reading its record.
    pub fn revision(&self, key: &EventKey) -> Result<Option<MergeKey>, StoreError> {
        let idx = self.read_index()?;
        Ok(idx
            .by_ident
            .get(&(*key.origin.as_bytes(), key.uid.clone()))
            .and_then(|s| idx.entries.get(s))
            .map(Info::merge_key))
    }

    /// Events whose latest change has a sequence number above `after`, oldest first, at most
    /// `limit`, with their records. Each event appears once, at its latest change (CalDAV sync
    /// tokens, catch-up).
    pub fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.db
            .range(&change_key(after.saturating_add(1)), &[T_CHANGE + 1], limit)?
            .into_iter()
            .map(|(k, v)| decode_record(seq_of(&k)?, &v))
            .collect()
    }

    /// (event, revision, id) for every stored event, optionally of one origin, in key order.
    /// Answered from memory.
    pub fn inventory(&self, origin: Option<&NodeKey>) -> Result<Vec<InventoryItem>, StoreError> {
        let idx = self.read_index()?;
        let mut out = Vec::new();
        for ((o, _), seq) in &idx.by_ident {
            if origin.is_some_and(|x| x.as_bytes() != o) {
                continue;
            }
            let Some(info) = idx.entries.get(seq) else {
                continue;
            };
            out.push(InventoryItem {
                key: EventKey {
                    origin: NodeKey::from_bytes(*o)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    uid: info.uid.clone(),
                },
                revision: info.revision,
                id: info.id,
            });
        }
        Ok(out)
    }

    /// Answers a query. The indexes choose and filter candidates in memory; records are read
    /// only for events that will be returned (and for recurring ones, to expand them).
    pub fn query(&self, q: &Query) -> Result<QueryResult, StoreError> {
        let filter = Filter::new(q);
        match q.window {
            Some((from, to)) => self.query_window(q, &filter, from, to),
            None => self.query_all(q, &filter),
        }
    }

    fn query_window(
        &self,
        q: &Query,
        filter: &Filter,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<QueryResult, StoreError> {
        let (f, t) = (from.timestamp(), to.timestamp());
        // (estimated start, seq) of one-off candidates, and seqs of recurring/long ones.
        let mut short: Vec<(i64, u64)> = Vec::new();
        let mut long: Vec<u64> = Vec::new();
        {
            let idx = self.read_index()?;
            let lo = f - index::SHORT_EVENT_SECS - ZONE_SLACK_SECS;
            for &(start, seq) in idx.by_start.range((lo, 0)..(t + ZONE_SLACK_SECS, 0)) {
                if let Some(info) = idx.entries.get(&seq) {
                    let Span::Short { end, .. } = info.span else {
                        continue;
                    };
                    if end >= f - ZONE_SLACK_SECS && filter.keep(info) {
                        short.push((start, seq));
                    }
                }
            }
            for seq in &idx.long {
                if let Some(info) = idx.entries.get(seq) {
                    if let Span::Long { start, end } = info.span {
                        if start < t + ZONE_SLACK_SECS
                            && end.is_none_or(|e| e >= f - ZONE_SLACK_SECS)
                            && filter.keep(info)
                        {
                            long.push(*seq);
                        }
                    }
                }
            }
        }
        let mut result = QueryResult::default();
        let mut hits: Vec<Hit> = Vec::new();
        let consider = |ev: StoredEvent, result: &mut QueryResult| {
            if !filter.keep_text(&ev) {
                return None;
            }
            let x = recur::expand(ev.content(), from, to, q.floating_tz, self.expand)
                .unwrap_or_default();
            result.truncated |= x.truncated;
            (!x.occurrences.is_empty()).then_some(Hit {
                event: ev,
                occurrences: x.occurrences,
            })
        };
        for seq in long {
            if let Some(ev) = self.record(seq)? {
                if let Some(h) = consider(ev, &mut result) {
                    hits.push(h);
                }
            }
        }
        // One-offs in start order: once `limit` of them matched, only candidates within the
        // zone slack of the last match can still sort before it.
        let mut found_short = 0usize;
        let mut cutoff: Option<i64> = None;
        for (start, seq) in short {
            if cutoff.is_some_and(|c| start > c) {
                result.truncated = true;
                break;
            }
            if let Some(ev) = self.record(seq)? {
                if let Some(h) = consider(ev, &mut result) {
                    hits.push(h);
                    found_short += 1;
                    if found_short == q.limit {
                        cutoff = Some(start + 2 * ZONE_SLACK_SECS);
                    }
                }
            }
        }
        hits.sort_by(|a, b| {
            (a.occurrences[0].start, a.event.key()).cmp(&(b.occurrences[0].start, b.event.key()))
        });
        if hits.len() > q.limit {
            hits.truncate(q.limit);
            result.truncated = true;
        }
        result.hits = hits;
        Ok(result)
    }

    fn query_all(&self, q: &Query, filter: &Filter) -> Result<QueryResult, StoreError> {
        let seqs: Vec<u64> = {
            let idx = self.read_index()?;
            // The most selective index that applies picks the candidates; the filter checks
            // the rest. Results come in event-name order whichever index was used.
            let mut picked: Vec<(&index::Ident, u64)> = if !filter.tags.is_empty() {
                let mut seqs: Vec<u64> = filter
                    .tags
                    .iter()
                    .filter_map(|t| idx.tags.get(t))
                    .flatten()
                    .copied()
                    .collect();
                seqs.sort_unstable();
                seqs.dedup();
                seqs.iter()
                    .filter_map(|s| idx.entries.get(s).map(|i| (i, *s)))
                    .filter_map(|(i, s)| {
                        idx.by_ident.get_key_value(&i.ident()).map(|(k, _)| (k, s))
                    })
                    .collect()
            } else if let Some(b) = filter.bbox {
                let lo = (index::micro(b.south), i32::MIN, 0);
                let hi = (index::micro(b.north), i32::MAX, u64::MAX);
                idx.geo
                    .range(lo..=hi)
                    .filter_map(|(_, _, s)| idx.entries.get(s).map(|i| (i, *s)))
                    .filter_map(|(i, s)| {
                        idx.by_ident.get_key_value(&i.ident()).map(|(k, _)| (k, s))
                    })
                    .collect()
            } else {
                idx.by_ident
                    .iter()
                    .filter(|((o, _), _)| filter.origin.is_none_or(|x| &x == o))
                    .map(|(k, s)| (k, *s))
                    .collect()
            };
            picked.sort_unstable();
            picked
                .into_iter()
                .filter(|(_, s)| idx.entries.get(s).is_some_and(|i| filter.keep(i)))
                .map(|(_, s)| s)
                .collect()
        };
        let mut result = QueryResult::default();
        for seq in seqs {
            let Some(ev) = self.record(seq)? else {
                continue;
            };
            if filter.keep_text(&ev) {
                if result.hits.len() >= q.limit {
                    result.truncated = true;
                    break;
                }
                result.hits.push(Hit {
                    event: ev,
                    occurrences: Vec::new(),
                });
            }
        }
        Ok(result)
    }

    /// Stores metadata about a peer (flushed).
    pub fn put_peer(&self, key: &NodeKey, meta: &PeerMeta) -> Result<(), StoreError> {
        let _writer = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut b = Batch::default();
        b.insert(peer_key(key), codec::encode(meta));
        self.db.apply(b)?;
        self.db.flush()
    }

    /// Metadata about a peer.
    pub fn peer(&self, key: &NodeKey) -> Result<Option<PeerMeta>, StoreError> {
        self.db
            .get(&peer_key(key))?
            .map(|v| codec::decode("peer metadata", &v, 64 * 1024).map_err(Into::into))
            .transpose()
    }

    /// Every peer with stored metadata.
    pub fn peers(&self) -> Result<Vec<(NodeKey, PeerMeta)>, StoreError> {
        self.db
            .range(&[T_PEER], &[T_PEER + 1], usize::MAX)?
            .into_iter()
            .map(|(k, v)| {
                let bytes: [u8; 32] = k
                    .get(1..33)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| StoreError::Corrupt("peer key".into()))?;
                let key =
                    NodeKey::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok((key, codec::decode("peer metadata", &v, 64 * 1024)?))
            })
            .collect()
    }

    /// Flushes everything written so far (apply already does; this is for shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()
    }

    /// Bytes the store occupies on disk (sled's own accounting; for memory, key + value bytes).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk()
    }

    /// Re-reads every record in full: each must decode, its info header must match what its
    /// payload says, no event may have two records, and the in-memory indexes must equal ones
    /// rebuilt from scratch.
    pub fn check_integrity(&self) -> Result<Integrity, StoreError> {
        let mut report = Integrity::default();
        let (fresh, problems) = build_index(&self.db)?;
        report.problems.extend(problems);
        self.db.for_each_prefix(&[T_CHANGE], |k, v| {
            report.events += 1;
            let seq = match seq_of(k) {
                Ok(s) => s,
                Err(e) => {
                    report.problems.push(e.to_string());
                    return true;
                }
            };
            match codec::decode::<Record>("stored record", v, MAX_RECORD_BYTES) {
                Ok(rec) => match decode_record(seq, v) {
                    Ok(ev) => {
                        let want = Info {
                            origin: *ev.payload.origin.as_bytes(),
                            uid: ev.payload.uid.clone(),
                            revision: ev.payload.revision,
                            cancelled: ev.content().is_cancelled(),
                            id: EventId::of_payload(&ev.envelope.payload),
                            span: index::span_of(ev.content(), self.expand),
                            tags: index::tags_of(ev.content()),
                            geo: ev
                                .content()
                                .master
                                .geo
                                .map(|g| (index::micro(g.lat), index::micro(g.lon))),
                        };
                        if want != rec.info {
                            report
                                .problems
                                .push(format!("record {seq}: info header disagrees with payload"));
                        }
                    }
                    Err(e) => report.problems.push(format!("record {seq}: {e}")),
                },
                Err(e) => report.problems.push(format!("record {seq}: {e}")),
            }
            true
        })?;
        let live = self.read_index()?;
        report.index_entries =
            (live.by_start.len() + live.long.len() + live.geo.len() + live.by_ident.len()) as u64;
        if *live != fresh {
            report
                .problems
                .push("in-memory indexes differ from the records".into());
        }
        Ok(report)
    }
}

/// Scans the records' info headers into a fresh index, noting any event with two records.
fn build_index(db: &Backend) -> Result<(Index, Vec<String>), StoreError> {
    let mut index = Index::default();
    let mut problems = Vec::new();
    let mut err = None;
    db.for_each_prefix(&[T_CHANGE], |k, v| {
        match (seq_of(k), decode_info(v)) {
            (Ok(seq), Ok(info)) => {
                if let Some(other) = index.by_ident.get(&info.ident()) {
                    problems.push(format!(
                        "event {:?} has two records ({other} and {seq})",
                        info.uid
                    ));
                }
                index.insert(seq, info);
            }
            (Err(e), _) | (_, Err(e)) => {
                err = Some(e);
                return false;
            }
        }
        true
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok((index, problems)),
    }
}

/// A query's conditions other than time, prepared once. Everything but `text` is answered from
/// the index info.
struct Filter {
    tags: Vec<String>,
    excluded: Vec<String>,
    text: Option<String>,
    origin: Option<[u8; 32]>,
    bbox: Option<BBox>,
    include_cancelled: bool,
}

impl Filter {
    fn new(q: &Query) -> Self {
        Self {
            tags: q.tags.iter().map(|t| t.to_lowercase()).collect(),
            excluded: q.exclude_tags.iter().map(|t| t.to_lowercase()).collect(),
            text: q.text.as_ref().map(|t| t.to_lowercase()),
            origin: q.origin.map(|o| *o.as_bytes()),
            bbox: q.bbox,
            include_cancelled: q.include_cancelled,
        }
    }

    fn keep(&self, info: &Info) -> bool {
        if !self.include_cancelled && info.cancelled {
            return false;
        }
        if self.origin.is_some_and(|o| o != info.origin) {
            return false;
        }
        let has = |t: &String| info.tags.binary_search(t).is_ok();
        if !self.tags.is_empty() && !self.tags.iter().any(has) {
            return false;
        }
        if self.excluded.iter().any(has) {
            return false;
        }
        if let Some(b) = self.bbox {
            match info.geo {
                Some((lat, lon)) if b.contains(lat as f64 / 1e6, lon as f64 / 1e6) => {}
                _ => return false,
            }
        }
        true
    }

    fn keep_text(&self, e: &StoredEvent) -> bool {
        let Some(t) = &self.text else {
            return true;
        };
        let m = &e.content().master;
        [&m.summary, &m.description, &m.location]
            .into_iter()
            .flatten()
            .any(|s| s.to_lowercase().contains(t.as_str()))
    }
}
