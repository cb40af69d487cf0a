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
//! - `c seq` → record: index info (name, merge key, time span and the instances of bounded
//!   recurring events, tags, location), then envelope (its payload lz4-compressed), hop and
//!   path, receive time. Each event
//!   has exactly one record, under the sequence number of its latest change, so this key range
//!   is also the change log (CalDAV sync tokens, catch-up). A new revision writes a new record
//!   at the end and removes the old one in the same batch: one sled insert per event, in key
//!   order, which sled handles fast and compactly.
//! - `m schema`, `m instance` → the schema version (checked at open) and a random id of this
//!   store, which ties an index snapshot to it.
//! - `p key` → peer metadata.
//!
//! The secondary indexes (event name, start time, recurring/long events, tags, location) are
//! in memory (`index.rs`). [`Store::close`] saves them to `index.snapshot` next to the sled
//! files; open loads and deletes that file, then replays any newer records. Without a snapshot
//! (first open, or after a crash) open rebuilds them by reading every record's info header.
//! The snapshot is only a cache: it is never written while the store is open for writing, so
//! it can never describe a state the records do not have. Why not sled-side indexes: random-key
//! index writes made sled four times slower and three times larger on disk; see
//! docs/performance.md.

mod backend;
mod heap;
mod index;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use bincode::{Decode, Encode};
use chrono::{DateTime, Datelike, TimeZone, Utc};
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

/// The on-disk layout this code reads and writes. Version 1 and 2 stores are migrated at open.
pub const SCHEMA_VERSION: u32 = 3;

const T_CHANGE: u8 = b'c';
const T_PEER: u8 = b'p';
const META_SCHEMA: &[u8] = b"mschema";
const META_INSTANCE: &[u8] = b"minstance";
/// While a schema migration runs: the sequence number of the next record to rewrite.
const META_MIGRATING: &[u8] = b"mmigrating";
const SNAPSHOT_FILE: &str = "index.snapshot";

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
    /// Reading or writing the index snapshot failed.
    #[error("index snapshot: {0}")]
    Io(#[from] std::io::Error),
    /// A thread panicked while holding the store's lock.
    #[error("store lock poisoned by a panicked thread")]
    Poisoned,
    /// An envelope over the wire format's size limit; nothing of its batch was written.
    #[error("event envelope is {bytes} bytes, over the {max}-byte limit; batch not written")]
    TooLarge {
        /// Payload bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}

/// How an event reached this node: X-HOP and the relay path, which travel outside the signature.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct Transit {
    /// Links crossed (0 at the origin).
    pub hop: u8,
    /// Nodes it passed through after its origin, the last being the peer it came from
    /// (empty at the origin and at the origin's direct peers).
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
    /// A duplicate that arrived by a shorter route: the held hop count and path were lowered
    /// (the relay decision depends on the hop count, so the node may now forward it).
    pub hop_lowered: bool,
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

/// One match of [`Store::query_keys`]: what the indexes know of it, and the event itself only
/// when it had to be read to settle the match.
#[derive(Clone, Debug)]
pub struct KeyHit {
    /// Its record's sequence number.
    pub seq: u64,
    /// (origin, UID).
    pub key: EventKey,
    /// The stored revision.
    pub merge: MergeKey,
    /// Start of its first instance in the window (UTC seconds; 0 without a window).
    pub start: i64,
    /// The event, if it was read (boxed: hits are sorted, and events are large).
    pub event: Option<Box<StoredEvent>>,
}

/// [`Store::query_keys`]'s answer.
#[derive(Clone, Debug, Default)]
pub struct KeyResult {
    /// Matches, ordered like [`QueryResult::hits`].
    pub hits: Vec<KeyHit>,
    /// True if `limit` or an expansion bound cut the answer short.
    pub truncated: bool,
}

/// One event [`Store::select`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Its record's sequence number.
    pub seq: u64,
    /// First start in the window (UTC seconds); estimated unless `certain`.
    pub start: i64,
    /// True if the event is known to match without reading it.
    pub certain: bool,
}

/// What [`Store::select`] found, in order.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The matches.
    pub items: Vec<Selected>,
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
    /// When the origin signed the revision (its `issued_at_ms`).
    pub issued_at_ms: i64,
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

/// The record stored under `c seq`. `info` comes first so the open-time scan decodes only it.
#[derive(Clone, Debug, Encode, Decode)]
struct Record {
    info: Info,
    envelope: Packed,
    transit: Transit,
    received_at_ms: i64,
}

/// Encodes exactly like [`Record`], from borrowed parts.
#[derive(Encode)]
struct RecordRef<'a> {
    info: &'a Info,
    envelope: Packed,
    transit: &'a Transit,
    received_at_ms: i64,
}

/// An envelope as stored: the payload lz4-compressed, its length in front. sled keeps up to
/// twice its live data on disk (it cleans a segment once half of it is garbage); payloads of
/// iCalendar text shrink to about two thirds, which keeps the store within 2× the envelopes'
/// own bytes. The signature does not compress and is kept as is.
#[derive(Clone, Debug, Encode, Decode)]
struct Packed {
    payload: Vec<u8>,
    signature: [u8; 64],
}

impl Packed {
    fn pack(env: &Envelope) -> Self {
        Self {
            payload: lz4_flex::compress_prepend_size(&env.payload),
            signature: env.signature,
        }
    }

    fn unpack(self) -> Result<Envelope, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("stored payload does not decompress: {e}"))
        };
        // The length comes from disk: bound it before it sizes an allocation.
        let (len, body) =
            lz4_flex::block::uncompressed_size(&self.payload).map_err(|e| corrupt(&e))?;
        if len > codec::MAX_ENVELOPE_BYTES {
            return Err(corrupt(&format_args!("claims {len} bytes")));
        }
        let payload = lz4_flex::block::decompress(body, len).map_err(|e| corrupt(&e))?;
        Ok(Envelope {
            payload,
            signature: self.signature,
        })
    }
}

/// The bytes of a record.
fn encode_record(info: &Info, env: &Envelope, transit: &Transit, received_at_ms: i64) -> Vec<u8> {
    codec::encode(&RecordRef {
        info,
        envelope: Packed::pack(env),
        transit,
        received_at_ms,
    })
}

/// The bytes of the record for `ev`.
fn record_bytes(info: &Info, ev: &VerifiedEvent, transit: &Transit, now_ms: i64) -> Vec<u8> {
    encode_record(info, ev.envelope(), transit, now_ms)
}

/// From this many records to read and expand, a query uses two threads.
const PARALLEL_LOADS: usize = 32;

/// From this many events, a batch's records (index info, compressed envelope) are made on two
/// threads: that is most of the writer's CPU, and the merge and the sled write after it are
/// serial.
const PARALLEL_RECORDS: usize = 64;

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

/// Decodes just the info header at the front of a record.
fn decode_info(bytes: &[u8]) -> Result<Info, StoreError> {
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
    let envelope = rec.envelope.unpack()?;
    // Stored bytes were verified when they were written; they are decoded, not re-verified.
    let payload: SignedPayload = codec::decode("stored payload", &envelope.payload, usize::MAX)?;
    Ok(StoredEvent {
        envelope,
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
    /// Recent expansions of recurring events, shared by every query.
    expansions: ExpansionCache,
    /// Where to save the index snapshot on close (sled stores only), and the store's id.
    snapshot: Option<(std::path::PathBuf, [u8; 16])>,
    /// Gives the heap freed by large ingests back to the kernel (sled stores only).
    trimmer: Option<heap::Trimmer>,
}

/// Expansions of recurring events by (revision, window, zone for floating times). Views of the
/// same month with different filters, formats or pages expand the same rules; expanding is most
/// of a query's cost (docs/performance.md). A revision's content never changes, so entries are
/// never stale. Two generations bound it: when the young one is full (in entries or in
/// occurrences held) it becomes the old one, and what is still used is carried over on its next
/// hit, which approximates LRU without per-entry bookkeeping.
struct ExpansionCache {
    gens: Mutex<(Generation, Generation)>,
}

type ExpansionKey = (EventId, i64, i64, Tz);

#[derive(Default)]
struct Generation {
    map: std::collections::HashMap<ExpansionKey, Arc<recur::Expansion>>,
    occurrences: usize,
}

/// Entries per generation: a month of every recurring event of a large store, a few times over.
const EXPANSIONS_PER_GEN: usize = 8192;

/// Occurrences per generation (≈ 60 bytes each): a year of a daily rule holds 365, so year
/// expansions would otherwise let 8,192 entries grow to hundreds of MB.
const OCCURRENCES_PER_GEN: usize = 400_000;

impl ExpansionCache {
    fn new() -> Self {
        Self {
            gens: Mutex::new(Default::default()),
        }
    }

    fn get(&self, key: &ExpansionKey) -> Option<Arc<recur::Expansion>> {
        let mut g = self.gens.lock().ok()?;
        if let Some(x) = g.0.map.get(key) {
            return Some(x.clone());
        }
        let x = g.1.map.remove(key)?;
        g.1.occurrences -= x.occurrences.len();
        Self::insert(&mut g, *key, x.clone());
        Some(x)
    }

    fn put(&self, key: ExpansionKey, x: Arc<recur::Expansion>) {
        if let Ok(mut g) = self.gens.lock() {
            Self::insert(&mut g, key, x);
        }
    }

    fn insert(g: &mut (Generation, Generation), key: ExpansionKey, x: Arc<recur::Expansion>) {
        if g.0.map.len() >= EXPANSIONS_PER_GEN
            || g.0.occurrences + x.occurrences.len() > OCCURRENCES_PER_GEN
        {
            g.1 = std::mem::take(&mut g.0);
        }
        g.0.occurrences += x.occurrences.len();
        if let Some(old) = g.0.map.insert(key, x) {
            g.0.occurrences -= old.occurrences.len();
        }
    }
}

/// A window's instances cut from the expansions of the (at most two) calendar years it lies
/// in, which `year` gives; `None` if the window spans more than two years or `year` gave none
/// for one of them (not at hand, or cut short by a limit, when the window alone may not be).
fn cut_from_years(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    year: impl Fn(i32) -> Option<Arc<recur::Expansion>>,
) -> Option<Arc<recur::Expansion>> {
    let first = from.year();
    let last = (to - chrono::Duration::nanoseconds(1)).year();
    if to <= from || last - first > 1 {
        return None;
    }
    if first == last && year_window(first) == Some((from, to)) {
        return year(first);
    }
    let mut occurrences = Vec::new();
    for y in first..=last {
        let x = year(y)?;
        occurrences.extend(
            x.occurrences
                .iter()
                .filter(|o| o.overlaps(from, to))
                .cloned(),
        );
    }
    // An instance across New Year is in both years' expansions.
    occurrences.sort_by_key(|o| (o.start, o.component));
    occurrences.dedup_by_key(|o| (o.start, o.component));
    Some(Arc::new(recur::Expansion {
        occurrences,
        truncated: false,
    }))
}

/// An origin key from an index entry, parsed once per origin: parsing checks a curve point
/// (tens of µs), and answers list many events of few origins.
fn origin_key(
    keys: &mut std::collections::HashMap<[u8; 32], NodeKey>,
    bytes: &[u8],
) -> Result<NodeKey, StoreError> {
    let mut o = [0u8; 32];
    o.copy_from_slice(bytes);
    if let Some(k) = keys.get(&o) {
        return Ok(*k);
    }
    let k = NodeKey::from_bytes(o).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    keys.insert(o, k);
    Ok(k)
}

/// `[Jan 1, Jan 1 of the next year)` in UTC.
fn year_window(year: i32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((
        Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single()?,
        Utc.with_ymd_and_hms(year.checked_add(1)?, 1, 1, 0, 0, 0)
            .single()?,
    ))
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.save_snapshot() {
            tracing::warn!(error = %e, "could not save the index snapshot; next open rebuilds it");
        }
    }
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
                if found == 1 || found == 2 {
                    // A snapshot of the old layout is not trusted; the migrated records
                    // rebuild it.
                    match std::fs::remove_file(dir.join(SNAPSHOT_FILE)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                    migrate(&db, found)?;
                } else if found != SCHEMA_VERSION {
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
        let instance: [u8; 16] = match db.get(META_INSTANCE)? {
            Some(v) => v
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("store instance id".into()))?,
            None => {
                let id = new_instance_id();
                let mut b = Batch::default();
                b.insert(META_INSTANCE.to_vec(), id.to_vec());
                db.apply(b)?;
                db.flush()?;
                id
            }
        };
        let db_last_seq = match db.last_in_range(&[T_CHANGE], &[T_CHANGE + 1])? {
            Some(k) => seq_of(&k)?,
            None => 0,
        };
        let (index, problems) = match take_snapshot(&dir.join(SNAPSHOT_FILE), instance, db_last_seq)
        {
            Some(mut index) => {
                let after = index.last_seq;
                let problems = replay(&db, &mut index, after)?;
                (index, problems)
            }
            None => build_index(&db)?,
        };
        if let Some(p) = problems.first() {
            return Err(StoreError::Corrupt(p.clone()));
        }
        let mut store = Self::with(db, index);
        store.snapshot = Some((dir.join(SNAPSHOT_FILE), instance));
        Ok(store)
    }

    /// Flushes and saves the in-memory indexes so the next open need not rebuild them. Called
    /// on drop too; call it to see the error.
    pub fn close(mut self) -> Result<(), StoreError> {
        self.save_snapshot()
    }

    fn save_snapshot(&mut self) -> Result<(), StoreError> {
        let Some((path, instance)) = self.snapshot.take() else {
            return Ok(());
        };
        self.db.flush()?;
        let idx = self.read_index()?;
        let snap = Snapshot {
            instance,
            last_seq: idx.last_seq,
            entries: idx.infos(),
        };
        drop(idx);
        let bytes = codec::encode(&snap);
        // Write, sync, rename, sync the directory: the snapshot is whole or absent.
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            if let Some(dir) = path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(StoreError::Io)
    }

    /// A store that lives in memory only, with the same behaviour minus durability.
    pub fn memory() -> Self {
        Self::with(Backend::memory(), Index::default())
    }

    fn with(db: Backend, index: Index) -> Self {
        Self {
            writer: Mutex::new(()),
            index: RwLock::new(index),
            expand: ExpandLimits::default(),
            expansions: ExpansionCache::new(),
            snapshot: None,
            // Not for memory stores: the simulator runs hundreds in one process, and a trim
            // walks the whole heap.
            trimmer: matches!(db, Backend::Sled(_)).then(heap::Trimmer::default),
            db,
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
        Ok(self.read_index()?.len() as u64)
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

    /// The event stored under change sequence `seq`, if that is still its latest revision.
    pub fn event_at(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        self.record(seq)
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
        let items: Vec<(&VerifiedEvent, Transit)> = items.into_iter().collect();
        // An envelope larger than the wire allows (signed under looser limits than this
        // build's) could be written but never read back: refuse the batch before writing.
        if let Some((ev, _)) = items
            .iter()
            .find(|(ev, _)| ev.envelope().payload.len() > codec::MAX_ENVELOPE_BYTES)
        {
            return Err(StoreError::TooLarge {
                bytes: ev.envelope().payload.len(),
                max: codec::MAX_ENVELOPE_BYTES,
            });
        }
        let make = |part: &[(&VerifiedEvent, Transit)]| -> Vec<(Info, Vec<u8>)> {
            part.iter()
                .map(|(ev, transit)| {
                    let info = Info::of(ev, transit.hop, self.expand);
                    let record = record_bytes(&info, ev, transit, now_ms);
                    (info, record)
                })
                .collect()
        };
        let made = if items.len() >= PARALLEL_RECORDS {
            let (a, b) = items.split_at(items.len() / 2);
            std::thread::scope(|sc| {
                let second = sc.spawn(|| make(b));
                let mut made = make(a);
                made.extend(second.join().map_err(|_| StoreError::Poisoned)?);
                Ok::<_, StoreError>(made)
            })?
        } else {
            make(&items)
        };
        let writer = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        // Work on a view of the index that includes this batch's earlier items; the shared
        // index is only changed once the batch is durable.
        let mut added: Vec<(u64, Info)> = Vec::new();
        let mut removed: BTreeSet<u64> = BTreeSet::new();
        // Held records rewritten with a lower hop count.
        let mut rehop: Vec<(u64, u8)> = Vec::new();
        // Per event name: (seq, merge key, hop) of the record this batch holds for it.
        let mut overlay: std::collections::HashMap<Vec<u8>, (u64, MergeKey, u8)> =
            std::collections::HashMap::new();
        let mut seq = self.read_index()?.last_seq;
        let mut batch = Batch::default();
        let mut results = Vec::new();
        let mut bytes_written = 0u64;

        for ((_, transit), (info, record)) in items.into_iter().zip(made) {
            let ident = index::ident_bytes(&info.origin, &info.uid);
            let held: Option<(u64, MergeKey, u8)> = match overlay.get(&ident) {
                Some(h) => Some(*h),
                None => {
                    let idx = self.read_index()?;
                    idx.seq_of(&ident)
                        .and_then(|s| idx.entry(s).map(|e| (s, e.merge_key(), e.hop)))
                }
            };
            let outcome = merge(held.as_ref().map(|h| &h.1), &info.merge_key());
            if !outcome.applies() {
                // Same revision by a shorter route: keep the lower hop count (it converges to
                // the true distance). The content is unchanged, so it keeps its change number.
                let mut hop_lowered = false;
                if let (MergeOutcome::Duplicate, Some((hseq, hmk, held_hop))) = (outcome, held) {
                    // A duplicate has the held payload, so the incoming info is the held one
                    // but for the hop.
                    if transit.hop < held_hop {
                        batch.insert(change_key(hseq).to_vec(), record);
                        overlay.insert(ident, (hseq, hmk, transit.hop));
                        rehop.push((hseq, transit.hop));
                        hop_lowered = true;
                    }
                }
                results.push(Applied {
                    outcome,
                    seq: None,
                    hop_lowered,
                });
                continue;
            }
            seq += 1;
            if let Some((old, _, _)) = held {
                batch.remove(change_key(old).to_vec());
                removed.insert(old);
            }
            overlay.insert(ident, (seq, info.merge_key(), transit.hop));
            bytes_written += record.len() as u64;
            batch.insert(change_key(seq).to_vec(), record);
            added.push((seq, info));
            results.push(Applied {
                outcome,
                seq: Some(seq),
                hop_lowered: false,
            });
        }
        if !batch.is_empty() {
            self.db.apply(batch)?;
            self.db.flush()?;
            let mut idx = self.index.write().map_err(|_| StoreError::Poisoned)?;
            for s in removed {
                idx.remove(s);
            }
            // A record added and replaced within this batch was never written.
            let written: std::collections::HashSet<u64> = overlay.values().map(|v| v.0).collect();
            for (s, info) in added {
                if written.contains(&s) {
                    idx.insert(s, info);
                }
            }
            // After the inserts: a copy by a shorter route in the same batch as the first copy
            // lowers the hop of a record this batch added.
            for (s, hop) in rehop {
                idx.set_hop(s, hop);
            }
            idx.last_seq = idx.last_seq.max(seq);
        }
        drop(writer);
        if let Some(t) = &self.trimmer {
            t.wrote(bytes_written);
        }
        Ok(results)
    }

    /// The held revision of an event.
    pub fn get(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        let seq = self
            .read_index()?
            .seq_of(&index::ident_bytes(key.origin.as_bytes(), &key.uid));
        match seq {
            Some(s) => self.record(s),
            None => Ok(None),
        }
    }

    /// The merge key held for an event, without reading its record.
    pub fn revision(&self, key: &EventKey) -> Result<Option<MergeKey>, StoreError> {
        Ok(self.revision_hop(key)?.map(|(mk, _)| mk))
    }

    /// The merge key and hop count held for an event, without reading its record (how ingest
    /// recognises copies arriving by longer routes).
    pub fn revision_hop(&self, key: &EventKey) -> Result<Option<(MergeKey, u8)>, StoreError> {
        self.revision_hop_raw(key.origin.as_bytes(), &key.uid)
    }

    /// [`Store::revision_hop`] by the origin's key bytes, which need not be a checked key: a
    /// receiver asks before it has parsed the envelope.
    pub fn revision_hop_raw(
        &self,
        origin: &[u8; 32],
        uid: &str,
    ) -> Result<Option<(MergeKey, u8)>, StoreError> {
        let idx = self.read_index()?;
        Ok(idx
            .seq_of(&index::ident_bytes(origin, uid))
            .and_then(|s| idx.entry(s))
            .map(|e| (e.merge_key(), e.hop)))
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
        let mut picked: Vec<(&[u8], u64)> = idx
            .idents()
            .filter(|(ident, _)| origin.is_none_or(|o| &ident[..32] == o.as_bytes()))
            .collect();
        picked.sort_unstable();
        let mut out = Vec::with_capacity(picked.len());
        let mut keys = Default::default();
        for (ident, seq) in picked {
            let Some(e) = idx.entry(seq) else {
                continue;
            };
            out.push(InventoryItem {
                key: EventKey {
                    origin: origin_key(&mut keys, &ident[..32])?,
                    uid: String::from_utf8_lossy(&ident[32..]).into_owned(),
                },
                revision: e.revision,
                id: e.id,
                issued_at_ms: e.issued_at_ms,
            });
        }
        Ok(out)
    }

    /// The origins that published an event with this UID (a scan of the in-memory index).
    pub fn origins_of(&self, uid: &str) -> Result<Vec<NodeKey>, StoreError> {
        let idx = self.read_index()?;
        let mut out = Vec::new();
        for (ident, _) in idx.idents() {
            if &ident[32..] == uid.as_bytes() {
                let mut o = [0u8; 32];
                o.copy_from_slice(&ident[..32]);
                out.push(NodeKey::from_bytes(o).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every origin with at least one stored event, with its event count (a scan of the
    /// in-memory index, sorted by key).
    pub fn origins(&self) -> Result<Vec<(NodeKey, u64)>, StoreError> {
        let idx = self.read_index()?;
        let mut counts: std::collections::BTreeMap<[u8; 32], u64> = Default::default();
        for (ident, _) in idx.idents() {
            let mut o = [0u8; 32];
            o.copy_from_slice(&ident[..32]);
            *counts.entry(o).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(o, n)| {
                NodeKey::from_bytes(o)
                    .map(|k| (k, n))
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Answers a query: [`Store::select`], then reads the first `limit` matches.
    pub fn query(&self, q: &Query) -> Result<QueryResult, StoreError> {
        let sel = self.select(q)?;
        let mut result = QueryResult::default();
        let mut hits: Vec<Hit> = Vec::new();
        // Items whose place in the order is only estimated are read first (they are few:
        // unbounded recurring and floating events); the rest have exact starts and are read in
        // order until `limit` of them matched.
        let (uncertain, certain): (Vec<&Selected>, Vec<&Selected>) =
            sel.items.iter().partition(|s| !s.certain);
        let (loaded, cut) = self.load_many(&uncertain, q)?;
        result.truncated |= cut;
        hits.extend(loaded);
        let mut taken = 0usize;
        for s in certain {
            if taken == q.limit {
                result.truncated = true;
                break;
            }
            if let Some(h) = self.load(s, q, &mut result.truncated)? {
                hits.push(h);
                taken += 1;
            }
        }
        if q.window.is_some() {
            hits.sort_by_key(|h| (h.occurrences[0].start, h.event.seq));
        }
        if hits.len() > q.limit {
            hits.truncate(q.limit);
            result.truncated = true;
        }
        result.hits = hits;
        Ok(result)
    }

    /// The same matches as [`Store::query`], in the same order, reading only the records that
    /// the indexes and cached expansions cannot settle. Reading and decoding records was most
    /// of a month query's cost (docs/performance.md); callers that need only keys and
    /// revisions (CalDAV with cached calendar objects) skip it. Recurring events are settled
    /// from cached expansions, which [`Store::prepare_year`] fills at start.
    pub fn query_keys(&self, q: &Query) -> Result<KeyResult, StoreError> {
        let sel = self.select(q)?;
        let mut out = KeyResult::default();
        let mut unsettled: Vec<&Selected> = Vec::new();
        let mut hits: Vec<KeyHit> = Vec::new();
        {
            let idx = self.read_index()?;
            let mut keys = Default::default();
            for s in &sel.items {
                let Some(e) = idx.entry(s.seq) else {
                    continue;
                };
                let settled = if s.certain {
                    Some((Some(s.start), false))
                } else {
                    match (q.window, &q.text) {
                        (Some((from, to)), None) => {
                            self.cached_first_start(e.id, from, to, q.floating_tz)
                        }
                        _ => None,
                    }
                };
                let Some((start, cut)) = settled else {
                    unsettled.push(s);
                    continue;
                };
                out.truncated |= cut;
                if let Some(start) = start {
                    hits.push(KeyHit {
                        seq: s.seq,
                        key: EventKey {
                            origin: origin_key(&mut keys, e.origin())?,
                            uid: String::from_utf8_lossy(&e.ident[32..]).into_owned(),
                        },
                        merge: e.merge_key(),
                        start,
                        event: None,
                    });
                }
            }
        }
        let (read, cut) = self.load_many(&unsettled, q)?;
        out.truncated |= cut;
        hits.extend(read.into_iter().map(|h| KeyHit {
            seq: h.event.seq,
            key: h.event.key(),
            merge: h.event.merge_key(),
            start: h.occurrences.first().map_or(0, |o| o.start.timestamp()),
            event: Some(Box::new(h.event)),
        }));
        if q.window.is_some() {
            // Sequence numbers are unique, so an unstable sort gives the one order, and needs
            // no buffer.
            hits.sort_unstable_by_key(|h| (h.start, h.seq));
        }
        if hits.len() > q.limit {
            hits.truncate(q.limit);
            out.truncated = true;
        }
        out.hits = hits;
        Ok(out)
    }

    /// Reads and settles `items`, many of them on two threads (their expansion is most of the
    /// work); true in the second place if an expansion bound cut an answer.
    fn load_many(&self, items: &[&Selected], q: &Query) -> Result<(Vec<Hit>, bool), StoreError> {
        let load_all = |part: &[&Selected]| -> Result<(Vec<Hit>, bool), StoreError> {
            let mut cut = false;
            let mut out = Vec::new();
            for s in part {
                if let Some(h) = self.load(s, q, &mut cut)? {
                    out.push(h);
                }
            }
            Ok((out, cut))
        };
        if items.len() < PARALLEL_LOADS {
            return load_all(items);
        }
        let (a, b) = items.split_at(items.len() / 2);
        let (first, second) = std::thread::scope(|sc| {
            let h = sc.spawn(|| load_all(b));
            let first = load_all(a);
            (first, h.join().unwrap_or(Err(StoreError::Poisoned)))
        });
        let (mut hits, cut_a) = first?;
        let (more, cut_b) = second?;
        hits.extend(more);
        Ok((hits, cut_a || cut_b))
    }

    /// Which events match, from the in-memory indexes alone: no record is read. Items come in
    /// order of (estimated) first start within the window, ties by change sequence; without a
    /// window, in change order (oldest change first).
    /// Items marked `certain` are known to match; the others ([`Query::text`], floating and
    /// unbounded recurring events) are settled by [`Store::load`]. This is what pagination and
    /// "N more" counts are built on.
    pub fn select(&self, q: &Query) -> Result<Selection, StoreError> {
        let idx = self.read_index()?;
        let filter = Filter::new(q, &idx);
        let text_pending = q.text.is_some();
        let mut items: Vec<Selected> = Vec::new();
        let mut push = |seq: u64, start: i64, certain: bool| {
            items.push(Selected {
                seq,
                start,
                certain: certain && !text_pending,
            });
        };
        match q.window {
            Some((from, to)) => {
                let (f, t) = (from.timestamp(), to.timestamp());
                let lo = f - index::SHORT_EVENT_SECS - ZONE_SLACK_SECS;
                let mut seen = std::collections::HashSet::new();
                for (&(start, seq), &end) in idx.by_start.range((lo, 0)..(t + ZONE_SLACK_SECS, 0)) {
                    let Some(info) = idx.entry(seq) else {
                        continue;
                    };
                    let hit = if info.zone_free {
                        // Exact: an instant event counts if it starts in the window.
                        start < t && (end > f || (end == start && start >= f))
                    } else {
                        end >= f - ZONE_SLACK_SECS
                    };
                    if hit && !seen.contains(&seq) && filter.keep(&idx, info) {
                        seen.insert(seq);
                        push(seq, start, info.zone_free);
                    }
                }
                for seq in &idx.long {
                    let Some(info) = idx.entry(*seq) else {
                        continue;
                    };
                    if let Span::Long { start, end } = info.span {
                        if start < t + ZONE_SLACK_SECS
                            && end.is_none_or(|e| e >= f - ZONE_SLACK_SECS)
                            && filter.keep(&idx, info)
                        {
                            push(*seq, start.max(f), false);
                        }
                    }
                }
            }
            None => {
                // The most selective index that applies picks the candidates; the filter
                // checks the rest.
                let seqs: Vec<u64> = if filter.tags_requested {
                    let mut v: Vec<u64> =
                        filter.tags.iter().flat_map(|t| idx.with_tag(*t)).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                } else if let Some(b) = filter.bbox {
                    let lo = (index::micro(b.south), i32::MIN, 0);
                    let hi = (index::micro(b.north), i32::MAX, u64::MAX);
                    idx.geo.range(lo..=hi).map(|(_, _, s)| *s).collect()
                } else {
                    idx.idents().map(|(_, s)| s).collect()
                };
                for seq in seqs {
                    if let Some(info) = idx.entry(seq) {
                        if filter.keep(&idx, info) {
                            push(seq, 0, true);
                        }
                    }
                }
            }
        }
        items.sort_unstable_by_key(|s| (s.start, s.seq));
        Ok(Selection { items })
    }

    /// Reads a selected event and, with a window, expands it; `None` if the record is gone
    /// (replaced since `select`) or it turned out not to match.
    pub fn load(
        &self,
        s: &Selected,
        q: &Query,
        truncated: &mut bool,
    ) -> Result<Option<Hit>, StoreError> {
        let Some(ev) = self.record(s.seq)? else {
            return Ok(None);
        };
        if !keep_text(q, &ev) {
            return Ok(None);
        }
        let Some((from, to)) = q.window else {
            return Ok(Some(Hit {
                event: ev,
                occurrences: Vec::new(),
            }));
        };
        let x = self.expansion(&ev, from, to, q.floating_tz);
        *truncated |= x.truncated;
        if x.occurrences.is_empty() {
            return Ok(None);
        }
        // Uncached (one-off) expansions are owned here and moved, not copied.
        let occurrences =
            Arc::try_unwrap(x).map_or_else(|shared| shared.occurrences.clone(), |x| x.occurrences);
        Ok(Some(Hit {
            event: ev,
            occurrences,
        }))
    }

    /// The instances of `ev` overlapping `[from, to)`; recurring events' through the cache,
    /// cut from the expansions of the (at most two) calendar years the window lies in. A year is
    /// expanded for about what a month costs (most of an expansion is setting the rule up), so
    /// every later window in it, whatever its bounds, is a cut rather than an expansion.
    fn expansion(
        &self,
        ev: &StoredEvent,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
    ) -> Arc<recur::Expansion> {
        let expand =
            || Arc::new(recur::expand(ev.content(), from, to, tz, self.expand).unwrap_or_default());
        if !ev.content().master.is_recurring() {
            return expand();
        }
        let key = (ev.id, from.timestamp(), to.timestamp(), tz);
        if let Some(x) = self.expansions.get(&key) {
            return x;
        }
        let x = cut_from_years(from, to, |year| self.year_expansion(ev, year, tz))
            .unwrap_or_else(expand);
        self.expansions.put(key, x.clone());
        x
    }

    /// The first start (UTC seconds) of a recurring event's instances in `[from, to)`, `None`
    /// inside if it has none, and whether an expansion bound cut the answer; from the cache
    /// alone, or `None` if the cache cannot tell (then the event must be read and expanded).
    /// Unlike [`Store::expansion`] it makes no cut of the window: the first query of a window
    /// after a start would otherwise copy every recurring event's instances in it.
    fn cached_first_start(
        &self,
        id: EventId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
    ) -> Option<(Option<i64>, bool)> {
        if let Some(x) = self
            .expansions
            .get(&(id, from.timestamp(), to.timestamp(), tz))
        {
            return Some((
                x.occurrences.first().map(|o| o.start.timestamp()),
                x.truncated,
            ));
        }
        let first = from.year();
        let last = (to - chrono::Duration::nanoseconds(1)).year();
        if to <= from || last - first > 1 {
            return None;
        }
        let mut start: Option<i64> = None;
        for year in first..=last {
            let (a, b) = year_window(year)?;
            let x = self
                .expansions
                .get(&(id, a.timestamp(), b.timestamp(), tz))?;
            if x.truncated {
                return None;
            }
            // Instances come by start, and none starting at or after `to` overlaps.
            let hit = x
                .occurrences
                .iter()
                .take_while(|o| o.start < to)
                .find(|o| o.overlaps(from, to))
                .map(|o| o.start.timestamp());
            start = match (start, hit) {
                (Some(s), Some(h)) => Some(s.min(h)),
                (s, h) => s.or(h),
            };
        }
        Some((start, false))
    }

    fn year_expansion(&self, ev: &StoredEvent, year: i32, tz: Tz) -> Option<Arc<recur::Expansion>> {
        let (from, to) = year_window(year)?;
        let key = (ev.id, from.timestamp(), to.timestamp(), tz);
        let x = match self.expansions.get(&key) {
            Some(x) => x,
            None => {
                let x = Arc::new(recur::expand(ev.content(), from, to, tz, self.expand).ok()?);
                self.expansions.put(key, x.clone());
                x
            }
        };
        (!x.truncated).then_some(x)
    }

    /// Expands every recurring event with instances in `year` over the whole year (floating
    /// times read in `tz`), so the first query of any window in it after a start costs what
    /// later ones do. Meant for a background thread at start; returns the events expanded.
    pub fn prepare_year(&self, year: i32, tz: Tz) -> Result<usize, StoreError> {
        let Some(window) = year_window(year) else {
            return Ok(0);
        };
        let q = Query {
            window: Some(window),
            floating_tz: tz,
            limit: usize::MAX,
            ..Query::default()
        };
        let mut n = 0;
        for s in self.select(&q)?.items {
            // One-offs are read in vain here: the index does not say which events recur.
            if let Some(ev) = self.record(s.seq)? {
                if ev.content().master.is_recurring()
                    && self.year_expansion(&ev, year, tz).is_some()
                {
                    n += 1;
                }
            }
        }
        Ok(n)
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
    /// rebuilt from the records.
    pub fn check_integrity(&self) -> Result<Integrity, StoreError> {
        let mut report = Integrity::default();
        let (fresh, problems) = build_index(&self.db)?;
        report.problems.extend(problems);
        self.db.for_each_prefix(&[T_CHANGE], |k, v| {
            report.events += 1;
            let checked = seq_of(k).and_then(|seq| {
                let header = decode_info(v)?;
                let ev = decode_record(seq, v)?;
                let want = Info::of_payload(
                    &ev.payload,
                    EventId::of_payload(&ev.envelope.payload),
                    ev.transit.hop,
                    self.expand,
                );
                if want != header {
                    report.problems.push(format!(
                        "record {seq}: info header disagrees with its payload"
                    ));
                }
                Ok(())
            });
            if let Err(e) = checked {
                report.problems.push(format!("unreadable record: {e}"));
            }
            true
        })?;
        let live = self.read_index()?;
        report.index_entries =
            (live.by_start.len() + live.long.len() + live.geo.len() + live.len()) as u64;
        if live.infos() != fresh.infos()
            || live.by_start != fresh.by_start
            || live.long != fresh.long
        {
            report
                .problems
                .push("in-memory indexes differ from the records".into());
        }
        Ok(report)
    }
}

/// Adds the records with sequence numbers above `after` to `index`, a newer record of an event
/// replacing the older one; notes any event found with two records.
fn replay(db: &Backend, index: &mut Index, after: u64) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let mut err = None;
    let start = change_key(after.saturating_add(1));
    db.for_each_range(&start, &[T_CHANGE + 1], |k, v| {
        match (seq_of(k), decode_info(v)) {
            (Ok(seq), Ok(info)) => {
                if let Some(other) = index.seq_of(&index::ident_bytes(&info.origin, &info.uid)) {
                    if other > after {
                        // Both records are newer than the snapshot (or there is no snapshot):
                        // one batch should have removed the older one.
                        problems.push(format!(
                            "event {:?} has two records ({other} and {seq})",
                            info.uid
                        ));
                    }
                    index.remove(other);
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
        None => Ok(problems),
    }
}

/// Schema 1, whose record headers lacked `issued_at_ms` and `hop`.
mod v1 {
    use bincode::{Decode, Encode};
    use discal_protocol::EventId;

    use crate::index::Span;

    #[derive(Encode, Decode)]
    pub(crate) struct Info {
        pub(crate) origin: [u8; 32],
        pub(crate) uid: String,
        pub(crate) revision: u32,
        pub(crate) cancelled: bool,
        pub(crate) id: EventId,
        pub(crate) span: Span,
        pub(crate) tags: Vec<String>,
        pub(crate) geo: Option<(i32, i32)>,
        pub(crate) instances: Option<Vec<(i64, i64)>>,
        pub(crate) zone_free: bool,
    }

    impl Info {
        /// The schema 2 header: these fields plus the two schema 1 lacked.
        pub(crate) fn upgrade(self, issued_at_ms: i64, hop: u8) -> crate::index::Info {
            crate::index::Info {
                origin: self.origin,
                uid: self.uid,
                revision: self.revision,
                cancelled: self.cancelled,
                id: self.id,
                span: self.span,
                tags: self.tags,
                geo: self.geo,
                instances: self.instances,
                zone_free: self.zone_free,
                issued_at_ms,
                hop,
            }
        }

        /// The schema 1 header of a schema 2 one (tests write old stores with it).
        #[cfg(test)]
        pub(crate) fn downgrade(i: crate::index::Info) -> Self {
            Self {
                origin: i.origin,
                uid: i.uid,
                revision: i.revision,
                cancelled: i.cancelled,
                id: i.id,
                span: i.span,
                tags: i.tags,
                geo: i.geo,
                instances: i.instances,
                zone_free: i.zone_free,
            }
        }
    }

    pub(crate) type Record = super::PlainRecord<Info>;
}

/// Schema 2: today's header, the envelope uncompressed.
mod v2 {
    pub(crate) type Record = super::PlainRecord<crate::index::Info>;
}

/// A record of schema 1 or 2 (they differ in the header): the envelope uncompressed.
#[derive(Encode, Decode)]
struct PlainRecord<I> {
    info: I,
    envelope: Envelope,
    transit: Transit,
    received_at_ms: i64,
}

/// Rewrites the records of a schema 1 or 2 store in today's layout (schema 1 headers lack
/// `issued_at_ms` and `hop`; schema 2 envelopes are uncompressed). Each chunk is one atomic
/// batch together with the progress marker, so a migration cut short by a crash resumes where
/// it stopped instead of reading rewritten records as old ones.
fn migrate(db: &Backend, from: u32) -> Result<(), StoreError> {
    const CHUNK: usize = 1000;
    let mut next = match db.get(META_MIGRATING)? {
        Some(v) => v
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| StoreError::Corrupt("migration marker".into()))?,
        None => 1,
    };
    tracing::info!(
        from_seq = next,
        "migrating the store from schema {from} to {SCHEMA_VERSION}"
    );
    let mut moved = 0u64;
    loop {
        let chunk = db.range(&change_key(next), &[T_CHANGE + 1], CHUNK)?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        next = seq_of(last)?.saturating_add(1);
        let mut b = Batch::default();
        for (k, v) in chunk {
            let (info, envelope, transit, received_at_ms) = if from == 1 {
                let old: v1::Record = codec::decode("schema 1 record", &v, MAX_RECORD_BYTES)?;
                let payload: SignedPayload =
                    codec::decode("stored payload", &old.envelope.payload, usize::MAX)?;
                let info = old.info.upgrade(payload.issued_at_ms, old.transit.hop);
                (info, old.envelope, old.transit, old.received_at_ms)
            } else {
                let old: v2::Record = codec::decode("schema 2 record", &v, MAX_RECORD_BYTES)?;
                (old.info, old.envelope, old.transit, old.received_at_ms)
            };
            b.insert(k, encode_record(&info, &envelope, &transit, received_at_ms));
            moved += 1;
        }
        b.insert(META_MIGRATING.to_vec(), next.to_be_bytes().to_vec());
        db.apply(b)?;
    }
    let mut b = Batch::default();
    b.insert(META_SCHEMA.to_vec(), SCHEMA_VERSION.to_be_bytes().to_vec());
    b.remove(META_MIGRATING.to_vec());
    db.apply(b)?;
    db.flush()?;
    tracing::info!(records = moved, "store migrated to schema {SCHEMA_VERSION}");
    Ok(())
}

/// Scans every record's info header into a fresh index.
fn build_index(db: &Backend) -> Result<(Index, Vec<String>), StoreError> {
    let mut index = Index::default();
    let problems = replay(db, &mut index, 0)?;
    Ok((index, problems))
}

/// The in-memory indexes as saved by [`Store::close`].
#[derive(Encode, Decode)]
struct Snapshot {
    instance: [u8; 16],
    last_seq: u64,
    entries: Vec<(u64, Info)>,
}

fn new_instance_id() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded from the OS's randomness; two hashes give 128 random bits.
    let mut out = [0u8; 16];
    for half in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// Loads and deletes the snapshot; `None` if there is none or it does not belong to this store
/// in this state.
fn take_snapshot(path: &Path, instance: [u8; 16], db_last_seq: u64) -> Option<Index> {
    let bytes = std::fs::read(path).ok()?;
    // Consumed on open: once the store is written to, the snapshot would be stale.
    if let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(error = %e, "could not remove the index snapshot; rebuilding the index");
        return None;
    }
    let snap: Snapshot = match bincode::decode_from_slice(&bytes, bincode::config::standard()) {
        Ok((s, _)) => s,
        Err(e) => {
            tracing::warn!(error = %e, "index snapshot unreadable; rebuilding the index");
            return None;
        }
    };
    if snap.instance != instance || snap.last_seq > db_last_seq {
        tracing::warn!("index snapshot belongs to another store state; rebuilding the index");
        return None;
    }
    let mut index = Index::default();
    for (seq, info) in snap.entries {
        index.insert(seq, info);
    }
    index.last_seq = snap.last_seq;
    Some(index)
}

/// A query's conditions other than time and text, prepared once against the index (tags as
/// the index's tag ids).
struct Filter {
    /// True if the query asked for tags: then an event needs one of `tags` (none of which may
    /// be known to the index, and then nothing matches).
    tags_requested: bool,
    tags: Vec<u32>,
    excluded: Vec<u32>,
    origin: Option<[u8; 32]>,
    bbox: Option<BBox>,
    include_cancelled: bool,
}

impl Filter {
    fn new(q: &Query, idx: &Index) -> Self {
        let ids = |tags: &[String]| -> Vec<u32> {
            tags.iter()
                .filter_map(|t| idx.tag_id(&t.to_lowercase()))
                .collect()
        };
        Self {
            tags_requested: !q.tags.is_empty(),
            tags: ids(&q.tags),
            excluded: ids(&q.exclude_tags),
            origin: q.origin.map(|o| *o.as_bytes()),
            bbox: q.bbox,
            include_cancelled: q.include_cancelled,
        }
    }

    fn keep(&self, idx: &Index, e: &index::Entry) -> bool {
        if !self.include_cancelled && e.cancelled {
            return false;
        }
        if self.origin.is_some_and(|o| o[..] != *e.origin()) {
            return false;
        }
        let has = idx.tag_ids_of(e);
        if self.tags_requested && !self.tags.iter().any(|t| has.contains(t)) {
            return false;
        }
        if self.excluded.iter().any(|t| has.contains(t)) {
            return false;
        }
        if let Some(b) = self.bbox {
            match e.geo {
                Some((lat, lon)) if b.contains(lat as f64 / 1e6, lon as f64 / 1e6) => {}
                _ => return false,
            }
        }
        true
    }
}

/// The one condition the index cannot answer: a case-insensitive substring of SUMMARY,
/// DESCRIPTION or LOCATION.
fn keep_text(q: &Query, e: &StoredEvent) -> bool {
    let Some(t) = &q.text else {
        return true;
    };
    let t = t.to_lowercase();
    let m = &e.content().master;
    [&m.summary, &m.description, &m.location]
        .into_iter()
        .flatten()
        .any(|s| s.to_lowercase().contains(t.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use discal_protocol::model::{Component, Date, DateTimeValue, LocalDateTime};
    use discal_protocol::{sign, Limits, NodeSecret};

    #[test]
    fn integrity_check_finds_a_record_whose_header_lies() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
        let secret = NodeSecret::from_seed_array([3; 32]);
        let ev = event(&secret, "x@y", 0);
        let seq = store.apply(&ev, Transit::local(), 0).unwrap().seq.unwrap();
        assert!(store.check_integrity().unwrap().problems.is_empty());

        // Rewrite the record with a header claiming another revision, behind the store's back.
        let mut info = Info::of(&ev, 0, ExpandLimits::default());
        info.revision = 7;
        let mut b = Batch::default();
        b.insert(
            change_key(seq).to_vec(),
            encode_record(&info, ev.envelope(), &Transit::local(), 0),
        );
        store.db.apply(b).unwrap();
        let report = store.check_integrity().unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("disagrees with its payload")),
            "{:?}",
            report.problems
        );
        assert!(report.problems.iter().any(|p| p.contains("indexes differ")));
    }

    fn event(secret: &NodeSecret, uid: &str, issued_at_ms: i64) -> VerifiedEvent {
        let start = DateTimeValue::Utc(LocalDateTime {
            date: Date {
                year: 2026,
                month: 5,
                day: 1,
            },
            hour: 10,
            minute: 0,
            second: 0,
        });
        let mut content = EventContent::new(Component::new(start));
        content.master.summary = Some(format!("event {uid}"));
        sign(
            secret,
            uid.into(),
            0,
            issued_at_ms,
            content,
            &Limits::default(),
        )
        .unwrap()
    }

    /// Rewrites every record of `store` in the layout of schema `to` (1 or 2) from `from_seq`
    /// on, and marks the store as that schema.
    fn downgrade(store: &Store, to: u32, from_seq: u64) {
        let mut b = Batch::default();
        for (k, v) in store
            .db
            .range(&change_key(from_seq), &[T_CHANGE + 1], usize::MAX)
            .unwrap()
        {
            let rec: Record = codec::decode("record", &v, MAX_RECORD_BYTES).unwrap();
            let envelope = rec.envelope.unpack().unwrap();
            let old = if to == 1 {
                codec::encode(&v1::Record {
                    info: v1::Info::downgrade(rec.info),
                    envelope,
                    transit: rec.transit,
                    received_at_ms: rec.received_at_ms,
                })
            } else {
                codec::encode(&v2::Record {
                    info: rec.info,
                    envelope,
                    transit: rec.transit,
                    received_at_ms: rec.received_at_ms,
                })
            };
            b.insert(k, old);
        }
        b.insert(META_SCHEMA.to_vec(), to.to_be_bytes().to_vec());
        store.db.apply(b).unwrap();
    }

    #[test]
    fn stored_payloads_round_trip_and_bad_ones_are_refused_before_allocating() {
        let ev = event(&NodeSecret::from_seed_array([6; 32]), "p@q", 0);
        let packed = Packed::pack(ev.envelope());
        assert_eq!(packed.clone().unpack().unwrap(), *ev.envelope());
        // A length field from a damaged disk claiming 2 GB.
        let mut huge = packed.clone();
        huge.payload[..4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
        let err = huge.unpack().unwrap_err();
        assert!(err.to_string().contains("claims 2147483647 bytes"), "{err}");
        // Damaged compressed bytes.
        let mut bad = packed;
        bad.payload.truncate(bad.payload.len() / 2);
        assert!(matches!(bad.unpack(), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn old_stores_are_migrated_even_after_an_interrupted_migration() {
        let secret = NodeSecret::from_seed_array([4; 32]);
        let evs: Vec<_> = (0..2500)
            .map(|i| event(&secret, &format!("e{i}@m"), 1_000_000 + i))
            .collect();
        for (schema, interrupted_at) in [(1, None), (1, Some(1200u64)), (2, None), (2, Some(700))] {
            let dir = tempfile::tempdir().unwrap();
            {
                let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
                let relayed = Transit {
                    hop: 1,
                    path: vec![],
                };
                store
                    .apply_batch(evs.iter().map(|e| (e, relayed.clone())), 5)
                    .unwrap();
                match interrupted_at {
                    // A crash in the middle: records before the marker are already rewritten.
                    Some(seq) => {
                        downgrade(&store, schema, seq);
                        let mut b = Batch::default();
                        b.insert(META_MIGRATING.to_vec(), seq.to_be_bytes().to_vec());
                        store.db.apply(b).unwrap();
                    }
                    None => downgrade(&store, schema, 0),
                }
                // A snapshot of the old layout is left behind; it must not be trusted.
                store.close().unwrap();
                assert!(dir.path().join(SNAPSHOT_FILE).exists());
            }
            let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
            assert_eq!(
                store.db.get(META_SCHEMA).unwrap().unwrap(),
                SCHEMA_VERSION.to_be_bytes().to_vec()
            );
            assert_eq!(store.db.get(META_MIGRATING).unwrap(), None);
            let inv = store.inventory(None).unwrap();
            assert_eq!(inv.len(), evs.len());
            for it in &inv {
                let n: i64 = it.key.uid[1..it.key.uid.len() - 2].parse().unwrap();
                assert_eq!(it.issued_at_ms, 1_000_000 + n, "{}", it.key.uid);
            }
            assert_eq!(store.revision_hop(&evs[3].key()).unwrap().unwrap().1, 1);
            let got = store.get(&evs[1700].key()).unwrap().unwrap();
            assert_eq!(got.envelope, *evs[1700].envelope());
            assert!(store.check_integrity().unwrap().problems.is_empty());
        }
    }

    #[test]
    fn the_expansion_cache_is_bounded_and_keeps_what_is_used() {
        let c = ExpansionCache::new();
        let key = |i: u64| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            (EventId(id), 0, 1, Tz::UTC)
        };
        let x = Arc::new(recur::Expansion::default());
        c.put(key(0), x.clone());
        for i in 1..(EXPANSIONS_PER_GEN as u64 * 5) {
            c.put(key(i), x.clone());
            // Entry 0 is used all along, so it survives every generation change.
            if i % 1000 == 0 {
                assert!(c.get(&key(0)).is_some(), "lost at {i}");
            }
        }
        let g = c.gens.lock().unwrap();
        assert!(g.0.map.len() + g.1.map.len() <= 2 * EXPANSIONS_PER_GEN);
        drop(g);
        assert!(c.get(&key(1)).is_none(), "an old unused entry was dropped");
        // Years of a daily rule: bounded by the occurrences they hold, not their number.
        let day = recur::Occurrence {
            start: Utc::now(),
            end: Utc::now(),
            recurrence_id: LocalDateTime::from_chrono(Utc::now().naive_utc()),
            component: 0,
            all_day: false,
        };
        let year = Arc::new(recur::Expansion {
            occurrences: vec![day; 365],
            truncated: false,
        });
        for i in 0..10_000 {
            c.put(key(i), year.clone());
        }
        let g = c.gens.lock().unwrap();
        let held: usize = [&g.0, &g.1]
            .iter()
            .flat_map(|g| g.map.values())
            .map(|x| x.occurrences.len())
            .sum();
        assert_eq!(held, g.0.occurrences + g.1.occurrences);
        assert!(held <= 2 * OCCURRENCES_PER_GEN, "{held}");
    }

    /// Windows cut from year expansions are exactly what expanding the window gives: across
    /// New Year, daylight-saving changes, exceptions, a moved instance, and for exact years.
    #[test]
    fn windows_cut_from_years_equal_direct_expansions() {
        let secret = NodeSecret::from_seed_array([8; 32]);
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n\
            BEGIN:VEVENT\r\nUID:w@t\r\nDTSTART;TZID=Europe/Berlin:20251229T233000\r\n\
            DURATION:PT2H\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR\r\nEXDATE;TZID=Europe/Berlin:20260330T233000\r\n\
            SUMMARY:late\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:w@t\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261228T233000\r\n\
            DTSTART;TZID=Europe/Berlin:20270102T100000\r\nDURATION:PT1H\r\nSUMMARY:moved\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:d@t\r\nDTSTART:20260115T120000\r\nRRULE:FREQ=DAILY;INTERVAL=3\r\n\
            SUMMARY:floating\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:m@t\r\nDTSTART;VALUE=DATE:20250131\r\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=40\r\n\
            SUMMARY:all day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let import =
            discal_protocol::ics::parse_calendar(ics, &secret.public(), &Limits::default())
                .unwrap();
        let store = Store::memory();
        let evs: Vec<VerifiedEvent> = import
            .events
            .into_iter()
            .map(|e| sign(&secret, e.uid, 0, 0, e.content, &Limits::default()).unwrap())
            .collect();
        store
            .apply_batch(evs.iter().map(|e| (e, Transit::local())), 0)
            .unwrap();
        let at = |y, m, d, h| Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap();
        let mut windows = vec![
            (at(2026, 1, 1, 0), at(2027, 1, 1, 0)),
            (at(2026, 12, 1, 0), at(2027, 2, 1, 0)),
            (at(2026, 12, 28, 22), at(2026, 12, 29, 1)),
            (at(2027, 1, 2, 9), at(2027, 1, 2, 11)),
            // Friday 2027-12-31 23:30 Berlin runs into 2028 (UTC): in both years' expansions.
            (at(2027, 12, 31, 20), at(2028, 1, 1, 2)),
            (at(2026, 3, 28, 0), at(2026, 4, 2, 0)),
            (at(2026, 10, 24, 0), at(2026, 10, 27, 0)),
            (at(2025, 6, 1, 0), at(2028, 1, 1, 0)),
        ];
        for m in 0..36 {
            let from = at(2025 + m / 12, (m % 12) as u32 + 1, 1, 0);
            windows.push((from, from + chrono::Months::new(1)));
            windows.push((
                from + chrono::Duration::days(9),
                from + chrono::Duration::days(30),
            ));
        }
        for tz in [Tz::UTC, Tz::America__New_York] {
            for e in &evs {
                let ev = store.get(&e.key()).unwrap().unwrap();
                for &(from, to) in &windows {
                    let direct =
                        recur::expand(ev.content(), from, to, tz, ExpandLimits::default()).unwrap();
                    let got = store.expansion(&ev, from, to, tz);
                    assert_eq!(
                        got.occurrences, direct.occurrences,
                        "{} {from}..{to} {tz}",
                        ev.payload.uid
                    );
                    assert_eq!(got.truncated, direct.truncated);
                }
            }
        }
        // The cut path was taken: the years are in the cache.
        let (y0, y1) = year_window(2026).unwrap();
        let ev = store.get(&evs[0].key()).unwrap().unwrap();
        assert!(store
            .expansions
            .get(&(ev.id, y0.timestamp(), y1.timestamp(), Tz::UTC))
            .is_some());
        assert_eq!(
            store.prepare_year(2030, Tz::UTC).unwrap(),
            2,
            "the two unbounded rules"
        );
    }
}
