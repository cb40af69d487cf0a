//! Opening and closing a store: schema check, index rebuild or snapshot load, snapshot save.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use bincode::{Decode, Encode};
use discal_protocol::codec;
use discal_protocol::recur::ExpandLimits;

use crate::backend::{Backend, Batch};
use crate::expand::ExpansionCache;
use crate::index::{self, Index, Info};
use crate::migrate::migrate;
use crate::record::{change_key, decode_info, seq_of, T_CHANGE};
use crate::{heap, SledOptions, Store, StoreError, SCHEMA_VERSION};

pub(crate) const META_SCHEMA: &[u8] = b"mschema";
pub(crate) const META_INSTANCE: &[u8] = b"minstance";
/// While a schema migration runs: the sequence number of the next record to rewrite.
pub(crate) const META_MIGRATING: &[u8] = b"mmigrating";
pub(crate) const SNAPSHOT_FILE: &str = "index.snapshot";

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
                let id = new_instance_id()?;
                let mut b = Batch::default();
                b.insert(META_INSTANCE.to_vec(), id.to_vec());
                db.apply(b)?;
                db.flush()?;
                id
            }
        };
        crate::push::separate_keys(&db)?;
        let db_last_seq = match db.last_in_range(&[T_CHANGE], &[T_CHANGE + 1])? {
            Some(k) => seq_of(&k)?,
            None => 0,
        };
        let snapshot = take_snapshot(&dir.join(SNAPSHOT_FILE), instance, db_last_seq);
        let (index, displaced) = match snapshot {
            Some(mut index) => {
                let after = index.last_seq;
                let displaced = replay(&db, &mut index, after)?;
                (index, displaced)
            }
            None => {
                let mut index = Index::default();
                let displaced = replay(&db, &mut index, 0)?;
                (index, displaced)
            }
        };
        remove_stale(&db, &displaced)?;
        let mut store = Self::with(db, index);
        store.snapshot = Some((dir.join(SNAPSHOT_FILE), instance));
        store.journal = Some(crate::journal::Journal::open(dir)?);
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
        let shared_uids = index.shared_uids().into();
        Self {
            writer: Mutex::new(()),
            audit_next: Mutex::new(0),
            index: RwLock::new(index),
            expand: ExpandLimits::default(),
            expansions: ExpansionCache::new(),
            snapshot: None,
            // Not for memory stores: the simulator runs hundreds in one process, and a trim
            // walks the whole heap.
            trimmer: matches!(db, Backend::Sled(_)).then(heap::Trimmer::default),
            shared_uids,
            journal: None,
            db,
        }
    }
}

/// A record that a newer record of the same event displaced while replaying.
pub(crate) struct Displaced {
    pub(crate) stale: u64,
    pub(crate) kept: u64,
    pub(crate) uid: String,
}

/// Adds the records with sequence numbers above `after` to `index`, a newer record of an event
/// replacing the older one; returns the records so replaced.
fn replay(db: &Backend, index: &mut Index, after: u64) -> Result<Vec<Displaced>, StoreError> {
    let mut displaced = Vec::new();
    let mut err = None;
    let start = change_key(after.saturating_add(1));
    db.for_each_range(&start, &[T_CHANGE + 1], |k, v| {
        match (seq_of(k), decode_info(v)) {
            (Ok(seq), Ok(info)) => {
                if let Some(other) = index.seq_of(&index::ident_bytes(&info.origin, &info.uid)) {
                    index.remove(other);
                    displaced.push(Displaced {
                        stale: other,
                        kept: seq,
                        uid: info.uid.clone(),
                    });
                }
                index.insert(seq, info, v.len() as u32);
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
        None => Ok(displaced),
    }
}

/// Removes the displaced records still on disk. An event's new record is written before the
/// removal of the record it replaces (`Backend::apply_in_order`), so a crash between the two
/// leaves both; the newer one (the higher sequence number) is the event's current record.
fn remove_stale(db: &Backend, displaced: &[Displaced]) -> Result<(), StoreError> {
    let mut stale = Batch::default();
    for d in displaced {
        if db.get(&change_key(d.stale))?.is_some() {
            tracing::warn!(
                uid = %d.uid,
                stale = d.stale,
                kept = d.kept,
                "an interrupted write left two records of an event; removing the older"
            );
            stale.remove(change_key(d.stale).to_vec());
        }
    }
    if !stale.is_empty() {
        db.apply(stale)?;
        db.flush()?;
    }
    Ok(())
}

/// Scans every record's info header into a fresh index; notes any event found with two
/// records (open removes the older of such a pair, so a live store has none).
pub(crate) fn build_index(db: &Backend) -> Result<(Index, Vec<String>), StoreError> {
    let mut index = Index::default();
    let problems = replay(db, &mut index, 0)?
        .into_iter()
        .map(|d| {
            format!(
                "event {:?} has two records ({} and {})",
                d.uid, d.stale, d.kept
            )
        })
        .collect();
    Ok((index, problems))
}

/// The in-memory indexes as saved by [`crate::Store::close`].
#[derive(Encode, Decode)]
struct Snapshot {
    instance: [u8; 16],
    last_seq: u64,
    entries: Vec<(u64, Info, u32)>,
}

fn new_instance_id() -> Result<[u8; 16], StoreError> {
    let mut out = [0u8; 16];
    getrandom::getrandom(&mut out).map_err(|e| StoreError::Io(std::io::Error::other(e)))?;
    Ok(out)
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
    for (seq, info, bytes) in snap.entries {
        index.insert(seq, info, bytes);
    }
    index.last_seq = snap.last_seq;
    Some(index)
}
