//! DisCal's event store: the latest verified revision of every event a node knows, kept durably
//! in sled (or in memory for tests and the simulator), with the indexes that queries and sync
//! need.
//!
//! Only a [`discal_protocol::VerifiedEvent`] can be applied, so nothing unverified is ever stored. Each apply
//! runs the protocol's merge rule against the held revision and writes the result as **one
//! atomic sled batch** (one event's writes go as plain writes, whose torn state open repairs);
//! a single writer lock makes the read-merge-write step race-free. A crash at any moment leaves
//! either the old or the new state of a batch, never a mix.
//!
//! **Acknowledged** means: [`Store::apply`] or [`Store::apply_batch`] returned `Ok`. Both flush
//! (`fdatasync`, with the patched sled in `vendor/`) before returning, so an acknowledged write
//! survives SIGKILL and power loss. Batching is how callers pay one flush for many events.
//!
//! # Layout
//! - `lib.rs`: this map, [`Store`] and its few core accessors.
//! - `error.rs`: [`StoreError`].
//! - `types.rs`: what callers put in and get out ([`StoredEvent`], [`Transit`], [`Query`],
//!   [`QueryResult`], [`InventoryItem`], ...).
//! - `record.rs`: the bytes of a record (info header, lz4-compressed envelope) and of keys.
//! - `open.rs`: open (schema check, snapshot load or index rebuild), close, snapshot save.
//! - `migrate.rs`: rewriting schema 1 and 2 stores.
//! - `apply.rs`: the write path, [`Store::apply_batch`].
//! - `read.rs`: lookups the indexes answer (one event, revisions, change log, inventory).
//! - `query.rs`: filtered, windowed queries ([`Store::select`], [`Store::query`],
//!   [`Store::query_keys`]).
//! - `expand.rs`: recurring events' expansions and their bounded cache.
//! - `integrity.rs`: [`Store::check_integrity`].
//! - `index.rs`: the in-memory secondary indexes; `backend.rs`: sled or memory behind one
//!   interface; `heap.rs`: giving freed heap back to the kernel after large ingests.
//! - `parallel.rs`: splitting a slice's work over two threads.
//! - `people.rs`, `proposals.rs`, `sources.rs`, `push.rs`, `dedupe.rs`: this node's own
//!   records beside the events (accounts and the approval queue, proposals and RSVPs, the
//!   subscribed sources' state, push destinations' outboxes and hub subscriptions, the
//!   admin's dedupe corrections), under the people table's prefix.
//!
//! # On disk
//! One sled tree; the first byte of a key names the table:
//! - `c seq` → record: index info (name, merge key, time span and the instances of bounded
//!   recurring events, tags, location), then envelope (its payload lz4-compressed), hop and
//!   path, receive time. Each event
//!   has exactly one record, under the sequence number of its latest change, so this key range
//!   is also the change log (CalDAV sync tokens, catch-up). A new revision writes a new record
//!   at the end and removes the old one in the same flush: one sled insert per event, in key
//!   order, which sled handles fast and compactly.
//! - `m schema`, `m instance` → the schema version (checked at open) and a random id of this
//!   store, which ties an index snapshot to it.
//!
//! The secondary indexes (event name, start time, recurring/long events, tags, location) are
//! in memory (`index.rs`). [`Store::close`] saves them to `index.snapshot` next to the sled
//! files; open loads and deletes that file, then replays any newer records. Without a snapshot
//! (first open, or after a crash) open rebuilds them by reading every record's info header.
//! The snapshot is only a cache: it is never written while the store is open for writing, so
//! it can never describe a state the records do not have. Why not sled-side indexes: random-key
//! index writes made sled four times slower and three times larger on disk; see
//! docs/performance.md.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

mod apply;
mod backend;
mod dedupe;
mod error;
mod expand;
pub mod heap;
mod index;
mod integrity;
mod journal;
mod migrate;
mod open;
pub mod parallel;
mod people;
mod proposals;
mod push;
mod query;
mod read;
mod record;
mod sources;
mod types;

use std::sync::{Mutex, RwLock};

use discal_protocol::recur::ExpandLimits;

pub use backend::SledOptions;
pub use dedupe::DedupeChoice;
pub use error::StoreError;
pub use people::{
    Account, AuditEntry, DavPropName, Role, Session, SiteRequest, Submission, TokenRecord,
};
pub use proposals::{ReceivedProposal, RsvpRecord, SentProposal};
pub use push::{PushState, SubState, Subscription};
pub use sources::{PollCounts, SourceState};
pub use types::{
    Also, Applied, BBox, Hit, Integrity, InventoryItem, KeyHit, KeyResult, Query, QueryResult,
    Selected, Selection, StoredEvent, Transit,
};

use backend::Backend;
use expand::ExpansionCache;
use index::Index;
use record::{change_key, decode_record};

/// The on-disk layout this code reads and writes. Version 1 and 2 stores are migrated at open.
pub const SCHEMA_VERSION: u32 = 3;

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
    /// The index's count of UIDs several origins hold, readable without its lock: while it is
    /// zero (nearly always), [`Store::uid_is_shared`] answers at once.
    shared_uids: std::sync::atomic::AtomicUsize,
    /// The next audit line's number, 0 until the log's end was read once (finding it is a
    /// range read, a tenth of a millisecond, and every write through CalDAV adds a line).
    audit_next: Mutex<u64>,
    /// Local writes acknowledged before they are applied (sled stores only).
    journal: Option<journal::Journal>,
}

impl Store {
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

    /// Flushes everything written so far (apply already does; this is for shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()
    }

    /// Bytes the store occupies on disk (sled's own accounting; for memory, key + value bytes).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db.size_on_disk()
    }
}

#[cfg(test)]
mod tests;
