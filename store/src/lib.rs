//! DisCal's event store: the latest verified revision of every event a node knows, with the
//! indexes that queries and sync need, kept durably in sled (or in memory for tests and the
//! simulator).
//!
//! Only a [`VerifiedEvent`] can be applied, so nothing unverified is ever stored. Each apply
//! runs the protocol's merge rule against the held revision and writes the result, its index
//! entries and the bumped change sequence as **one atomic batch**; a single writer lock makes
//! the read-merge-write step race-free. A crash at any moment leaves either the old or the new
//! state of a batch, never a mix.
//!
//! **Acknowledged** means: [`Store::apply`] or [`Store::apply_batch`] returned `Ok`. Both flush
//! (fsync) before returning, so an acknowledged write survives SIGKILL and power loss. Batching is
//! how callers pay one fsync for many events.
//!
//! # Layout
//! One ordered key space; the first byte names the table (all integers big-endian, signed ones
//! with the sign bit flipped so they sort):
//! - `e origin uid` → record (envelope, hop, path, change sequence, receive time)
//! - `s start origin uid` → end: one-off events shorter than a week, by start time
//! - `r origin uid` → start, end: recurring or long events (few), scanned on every time query
//! - `t tag 00 origin uid`: tag index (tags lower-cased)
//! - `g lat lon origin uid`: location index (micro-degrees)
//! - `c seq` → origin uid: each event once, at the sequence number of its latest change
//! - `m name` → value: schema version, last sequence number, event count
//! - `p key` → peer metadata

mod backend;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

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

/// The on-disk layout this code reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const T_EVENT: u8 = b'e';
const T_START: u8 = b's';
const T_SPAN: u8 = b'r';
const T_TAG: u8 = b't';
const T_GEO: u8 = b'g';
const T_CHANGE: u8 = b'c';
const T_PEER: u8 = b'p';

const META_SCHEMA: &[u8] = b"mschema";
const META_SEQ: &[u8] = b"mseq";
const META_COUNT: &[u8] = b"mcount";

/// One-off events up to this long go in the start-time index; longer ones are few and are
/// checked on every time query instead, so the index scan needs only a bounded look-back.
const SHORT_EVENT_SECS: i64 = 7 * 86_400;
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

#[derive(Clone, Debug, Encode, Decode)]
struct Record {
    envelope: Envelope,
    transit: Transit,
    seq: u64,
    received_at_ms: i64,
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

/// One entry of the change log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Sequence number of the event's latest change.
    pub seq: u64,
    /// The event.
    pub key: EventKey,
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

/// The event store. Cheap to share behind an `Arc`; reads run concurrently, writes one at a time.
pub struct Store {
    db: Backend,
    writer: Mutex<()>,
    expand: ExpandLimits,
}

fn ev_key(origin: &NodeKey, uid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(33 + uid.len());
    k.push(T_EVENT);
    k.extend_from_slice(origin.as_bytes());
    k.extend_from_slice(uid.as_bytes());
    k
}

fn ord_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ord_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    (u64::from_be_bytes(a) ^ (1 << 63)) as i64
}

fn micro(deg: f64) -> [u8; 4] {
    // Validated ranges (±90, ±180) fit in i32 micro-degrees.
    ord_i32((deg * 1e6).round() as i32)
}

fn ord_i32(v: i32) -> [u8; 4] {
    ((v as u32) ^ (1 << 31)).to_be_bytes()
}

/// The `origin uid` suffix of an event key, as an [`EventKey`].
fn parse_ident(b: &[u8]) -> Result<EventKey, StoreError> {
    if b.len() < 32 {
        return Err(StoreError::Corrupt("short event key".into()));
    }
    let mut o = [0u8; 32];
    o.copy_from_slice(&b[..32]);
    let origin =
        NodeKey::from_bytes(o).map_err(|e| StoreError::Corrupt(format!("event key: {e}")))?;
    let uid = std::str::from_utf8(&b[32..])
        .map_err(|_| StoreError::Corrupt("event key UID is not UTF-8".into()))?
        .to_string();
    Ok(EventKey { origin, uid })
}

fn decode_record(bytes: &[u8]) -> Result<(Record, SignedPayload), StoreError> {
    let rec: Record = codec::decode(
        "stored record",
        bytes,
        codec::MAX_ENVELOPE_BYTES + 64 * 1024,
    )?;
    let payload: SignedPayload =
        codec::decode("stored payload", &rec.envelope.payload, usize::MAX)?;
    Ok((rec, payload))
}

fn to_stored(rec: Record, payload: SignedPayload) -> StoredEvent {
    let id = EventId::of_payload(&rec.envelope.payload);
    StoredEvent {
        envelope: rec.envelope,
        payload,
        transit: rec.transit,
        seq: rec.seq,
        received_at_ms: rec.received_at_ms,
        id,
    }
}

impl Store {
    /// Opens (or creates) a store in `dir`, checking the schema version.
    pub fn open(dir: &Path, opts: &SledOptions) -> Result<Self, StoreError> {
        Self::init(Backend::open_sled(dir, opts)?)
    }

    /// A store that lives in memory only, with the same behaviour minus durability.
    pub fn memory() -> Self {
        let db = Backend::memory();
        let mut b = Batch::default();
        b.insert(META_SCHEMA.to_vec(), SCHEMA_VERSION.to_be_bytes().to_vec());
        // Writing to a map nobody else has seen cannot fail (the only error is a poisoned lock).
        let _ = db.apply(b);
        Self {
            db,
            writer: Mutex::new(()),
            expand: ExpandLimits::default(),
        }
    }

    fn init(db: Backend) -> Result<Self, StoreError> {
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
        Ok(Self {
            db,
            writer: Mutex::new(()),
            expand: ExpandLimits::default(),
        })
    }

    fn meta_u64(&self, k: &[u8]) -> Result<u64, StoreError> {
        Ok(match self.db.get(k)? {
            Some(v) => v
                .as_slice()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("meta counter".into()))?,
            None => 0,
        })
    }

    /// The newest change sequence number (0 for an empty store).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_SEQ)
    }

    /// How many events (live and cancelled) are stored.
    pub fn len(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_COUNT)
    }

    /// True if no event is stored.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
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
        let _guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut seq = self.last_seq()?;
        let mut count = self.len()?;
        let mut batch = Batch::default();
        // Records written earlier in this batch, by event key.
        let mut pending: HashMap<Vec<u8>, (Record, MergeKey, Vec<Vec<u8>>)> = HashMap::new();
        let mut results = Vec::new();

        for (ev, transit) in items {
            let p = ev.payload();
            let key = ev_key(&p.origin, &p.uid);
            let held: Option<(Record, MergeKey, Vec<Vec<u8>>)> = match pending.get(&key) {
                Some(x) => Some(x.clone()),
                None => match self.db.get(&key)? {
                    Some(bytes) => {
                        let (rec, payload) = decode_record(&bytes)?;
                        let stored = to_stored(rec.clone(), payload);
                        let idx = self
                            .index_entries(&key[1..], &stored.payload.content)
                            .into_iter()
                            .map(|(k, _)| k)
                            .collect();
                        Some((rec, stored.merge_key(), idx))
                    }
                    None => None,
                },
            };
            let incoming = ev.merge_key();
            let outcome = merge(held.as_ref().map(|h| &h.1), &incoming);
            if !outcome.applies() {
                // Same revision by a shorter route: keep the lower hop count (it converges to
                // the true distance), without a new change number: the content is unchanged.
                if let (MergeOutcome::Duplicate, Some((mut rec, mk, idx))) = (outcome, held) {
                    if transit.hop < rec.transit.hop {
                        rec.transit = transit;
                        batch.insert(key.clone(), codec::encode(&rec));
                        pending.insert(key, (rec, mk, idx));
                    }
                }
                results.push(Applied { outcome, seq: None });
                continue;
            }
            seq += 1;
            let new_idx = self.index_entries(&key[1..], &p.content);
            match &held {
                Some((old, _, old_idx)) => {
                    batch.remove(change_key(old.seq));
                    for k in old_idx {
                        batch.remove(k.clone());
                    }
                }
                None => count += 1,
            }
            let rec = Record {
                envelope: ev.envelope().clone(),
                transit,
                seq,
                received_at_ms: now_ms,
            };
            let new_keys = new_idx.iter().map(|(k, _)| k.clone()).collect();
            for (k, v) in new_idx {
                batch.insert(k, v);
            }
            batch.insert(change_key(seq), key[1..].to_vec());
            batch.insert(key.clone(), codec::encode(&rec));
            pending.insert(key, (rec, incoming, new_keys));
            results.push(Applied {
                outcome,
                seq: Some(seq),
            });
        }
        if !batch.is_empty() {
            batch.insert(META_SEQ.to_vec(), seq.to_be_bytes().to_vec());
            batch.insert(META_COUNT.to_vec(), count.to_be_bytes().to_vec());
            self.db.apply(batch)?;
            self.db.flush()?;
        }
        Ok(results)
    }

    /// Index entries for an event: exactly one time entry (`s` with the end time, or `r` with
    /// the extent), then tags and location (empty values).
    fn index_entries(&self, ident: &[u8], c: &EventContent) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut keys = Vec::new();
        // Validation guarantees the extent computes; should it not, index the event as
        // unbounded so queries still find it rather than losing it.
        let ext = recur::extent(c, self.expand).ok();
        let start = ext.map(|e| e.start.timestamp()).unwrap_or(i64::MIN);
        let end = ext.and_then(|e| e.end).map(|e| e.timestamp());
        match end {
            Some(end) if !c.master.is_recurring() && end - start <= SHORT_EVENT_SECS => {
                let mut k = vec![T_START];
                k.extend_from_slice(&ord_i64(start));
                k.extend_from_slice(ident);
                keys.push((k, ord_i64(end).to_vec()));
            }
            _ => {
                let mut k = vec![T_SPAN];
                k.extend_from_slice(ident);
                let mut v = ord_i64(start).to_vec();
                v.extend_from_slice(&ord_i64(end.unwrap_or(i64::MAX)));
                keys.push((k, v));
            }
        }
        let mut tags: Vec<String> = c
            .components()
            .flat_map(|x| x.categories.iter())
            .map(|t| t.to_lowercase())
            .collect();
        tags.sort();
        tags.dedup();
        for t in tags {
            let mut k = vec![T_TAG];
            k.extend_from_slice(t.as_bytes());
            k.push(0);
            k.extend_from_slice(ident);
            keys.push((k, Vec::new()));
        }
        if let Some(g) = c.master.geo {
            let mut k = vec![T_GEO];
            k.extend_from_slice(&micro(g.lat));
            k.extend_from_slice(&micro(g.lon));
            k.extend_from_slice(ident);
            keys.push((k, Vec::new()));
        }
        keys
    }

    /// The held revision of an event.
    pub fn get(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        match self.db.get(&ev_key(&key.origin, &key.uid))? {
            Some(b) => {
                let (rec, p) = decode_record(&b)?;
                Ok(Some(to_stored(rec, p)))
            }
            None => Ok(None),
        }
    }

    /// Events whose latest change has a sequence number above `after`, oldest first, at most
    /// `limit`. Each event appears once, at its latest change (CalDAV sync tokens, catch-up).
    pub fn changes_since(&self, after: u64, limit: usize) -> Result<Vec<Change>, StoreError> {
        let start = change_key(after.saturating_add(1));
        let end = [T_CHANGE + 1];
        self.db
            .range(&start, &end, limit)?
            .into_iter()
            .map(|(k, v)| {
                let mut s = [0u8; 8];
                s.copy_from_slice(
                    k.get(1..9)
                        .ok_or_else(|| StoreError::Corrupt("change key".into()))?,
                );
                Ok(Change {
                    seq: u64::from_be_bytes(s),
                    key: parse_ident(&v)?,
                })
            })
            .collect()
    }

    /// (event, revision, id) for every stored event, optionally of one origin, in key order.
    pub fn inventory(&self, origin: Option<&NodeKey>) -> Result<Vec<InventoryItem>, StoreError> {
        let mut prefix = vec![T_EVENT];
        if let Some(o) = origin {
            prefix.extend_from_slice(o.as_bytes());
        }
        let mut out = Vec::new();
        let mut err = None;
        self.db.for_each_prefix(&prefix, |k, v| {
            match (parse_ident(&k[1..]), decode_record(v)) {
                (Ok(key), Ok((rec, p))) => out.push(InventoryItem {
                    key,
                    revision: p.revision,
                    id: EventId::of_payload(&rec.envelope.payload),
                }),
                (Err(e), _) | (_, Err(e)) => {
                    err = Some(e);
                    return false;
                }
            }
            true
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Answers a query. With a window, candidates come from the time index (bounded look-back)
    /// plus the recurring/long events; otherwise from the origin or tag index, or a full scan.
    pub fn query(&self, q: &Query) -> Result<QueryResult, StoreError> {
        let mut result = QueryResult::default();
        let tags: Vec<String> = q.tags.iter().map(|t| t.to_lowercase()).collect();
        let excluded: Vec<String> = q.exclude_tags.iter().map(|t| t.to_lowercase()).collect();
        let text = q.text.as_ref().map(|t| t.to_lowercase());
        let keep = |e: &StoredEvent| -> bool {
            let c = e.content();
            if !q.include_cancelled && c.is_cancelled() {
                return false;
            }
            if q.origin.is_some_and(|o| o != e.payload.origin) {
                return false;
            }
            let has = |t: &str| {
                c.components()
                    .flat_map(|x| x.categories.iter())
                    .any(|x| x.to_lowercase() == t)
            };
            if !tags.is_empty() && !tags.iter().any(|t| has(t)) {
                return false;
            }
            if excluded.iter().any(|t| has(t)) {
                return false;
            }
            if let Some(b) = q.bbox {
                match c.master.geo {
                    Some(g) if b.contains(g.lat, g.lon) => {}
                    _ => return false,
                }
            }
            if let Some(t) = &text {
                let m = &c.master;
                let found = [&m.summary, &m.description, &m.location]
                    .into_iter()
                    .flatten()
                    .any(|s| s.to_lowercase().contains(t.as_str()));
                if !found {
                    return false;
                }
            }
            true
        };

        if let Some((from, to)) = q.window {
            let mut hits = Vec::new();
            let lo = from.timestamp() - SHORT_EVENT_SECS - ZONE_SLACK_SECS;
            let hi = to.timestamp() + ZONE_SLACK_SECS;
            let mut candidates: Vec<Vec<u8>> = Vec::new();
            // Recurring and long events: few, each checked by its extent.
            self.db.for_each_prefix(&[T_SPAN], |k, v| {
                if v.len() == 16 {
                    let s = from_ord_i64(&v[..8]);
                    let e = from_ord_i64(&v[8..]);
                    if s < hi && e > lo {
                        candidates.push(k[1..].to_vec());
                    }
                }
                true
            })?;
            let mut start = vec![T_START];
            start.extend_from_slice(&ord_i64(lo));
            let mut end = vec![T_START];
            end.extend_from_slice(&ord_i64(hi));
            for (k, v) in self.db.range(&start, &end, usize::MAX)? {
                if v.len() == 8 && from_ord_i64(&v) > from.timestamp() - ZONE_SLACK_SECS {
                    candidates.push(k[9..].to_vec());
                }
            }
            for ident in candidates {
                let Some(bytes) = self.db.get(&[&[T_EVENT][..], &ident].concat())? else {
                    continue;
                };
                let (rec, p) = decode_record(&bytes)?;
                let ev = to_stored(rec, p);
                if !keep(&ev) {
                    continue;
                }
                let x = recur::expand(ev.content(), from, to, q.floating_tz, self.expand)
                    .unwrap_or_default();
                result.truncated |= x.truncated;
                if !x.occurrences.is_empty() {
                    hits.push(Hit {
                        event: ev,
                        occurrences: x.occurrences,
                    });
                }
            }
            hits.sort_by(|a, b| {
                (a.occurrences[0].start, a.event.key())
                    .cmp(&(b.occurrences[0].start, b.event.key()))
            });
            if hits.len() > q.limit {
                hits.truncate(q.limit);
                result.truncated = true;
            }
            result.hits = hits;
            return Ok(result);
        }

        let mut prefix = vec![T_EVENT];
        if let Some(o) = &q.origin {
            prefix.extend_from_slice(o.as_bytes());
        }
        let mut err = None;
        self.db.for_each_prefix(&prefix, |_, v| {
            match decode_record(v) {
                Ok((rec, p)) => {
                    let ev = to_stored(rec, p);
                    if keep(&ev) {
                        if result.hits.len() >= q.limit {
                            result.truncated = true;
                            return false;
                        }
                        result.hits.push(Hit {
                            event: ev,
                            occurrences: Vec::new(),
                        });
                    }
                }
                Err(e) => {
                    err = Some(e);
                    return false;
                }
            }
            true
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// Stores metadata about a peer (flushed).
    pub fn put_peer(&self, key: &NodeKey, meta: &PeerMeta) -> Result<(), StoreError> {
        let _guard = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
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
                let key = parse_ident(&k[1..])?.origin;
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

    /// Checks that every record matches its key, every index entry points at a record that
    /// produces it, every record has all its index entries, and the counters agree.
    pub fn check_integrity(&self) -> Result<Integrity, StoreError> {
        let mut report = Integrity::default();
        let mut expected: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut max_seq = 0u64;
        self.db.for_each_prefix(&[T_EVENT], |k, v| {
            report.events += 1;
            match decode_record(v) {
                Ok((rec, p)) => {
                    if ev_key(&p.origin, &p.uid) != k {
                        report
                            .problems
                            .push(format!("record under {:?} names another event", p.uid));
                    }
                    max_seq = max_seq.max(rec.seq);
                    expected.extend(self.index_entries(&k[1..], &p.content));
                    expected.insert(change_key(rec.seq), k[1..].to_vec());
                }
                Err(e) => report.problems.push(format!("unreadable record: {e}")),
            }
            true
        })?;
        for t in [T_START, T_SPAN, T_TAG, T_GEO, T_CHANGE] {
            self.db.for_each_prefix(&[t], |k, v| {
                report.index_entries += 1;
                match expected.remove(k) {
                    Some(want) if want == v => {}
                    Some(_) => report.problems.push(format!(
                        "index entry {:?} has a stale value",
                        String::from_utf8_lossy(k)
                    )),
                    None => report.problems.push(format!(
                        "orphan index entry {:?}",
                        String::from_utf8_lossy(k)
                    )),
                }
                true
            })?;
        }
        for k in expected.keys() {
            report.problems.push(format!(
                "missing index entry {:?}",
                String::from_utf8_lossy(k)
            ));
        }
        if self.len()? != report.events {
            report.problems.push(format!(
                "event count says {}, found {}",
                self.len()?,
                report.events
            ));
        }
        if self.last_seq()? < max_seq {
            report.problems.push(format!(
                "sequence counter {} is behind a record's {max_seq}",
                self.last_seq()?
            ));
        }
        Ok(report)
    }
}

fn change_key(seq: u64) -> Vec<u8> {
    let mut k = vec![T_CHANGE];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn peer_key(key: &NodeKey) -> Vec<u8> {
    let mut k = vec![T_PEER];
    k.extend_from_slice(key.as_bytes());
    k
}
