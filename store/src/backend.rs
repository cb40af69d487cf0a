//! The two key-value backends behind [`crate::Store`]: sled on disk, and an ordered map in memory
//! for tests and the simulator. Both offer the same three things: point reads, ordered range
//! scans, and an atomic batch of writes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, RwLock};

use crate::StoreError;

/// A set of writes applied all at once or not at all.
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    pub(crate) fn insert(&mut self, k: Vec<u8>, v: Vec<u8>) {
        self.ops.push((k, Some(v)));
    }

    pub(crate) fn remove(&mut self, k: Vec<u8>) {
        self.ops.push((k, None));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

pub(crate) type Entry = (Vec<u8>, Vec<u8>);

#[derive(Clone)]
pub(crate) enum Backend {
    Sled(sled::Db),
    Memory(Arc<RwLock<BTreeMap<Vec<u8>, Vec<u8>>>>),
}

/// sled settings an operator may want to change.
#[derive(Clone, Debug)]
pub struct SledOptions {
    /// sled's page cache in bytes; the main knob for resident memory.
    pub cache_bytes: u64,
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Backend {
    pub(crate) fn open_sled(path: &Path, opts: &SledOptions) -> Result<Self, StoreError> {
        // A database just closed in this process is released by sled's flusher thread a moment
        // later, so a reopen right after a close can find it still locked: wait a little
        // before saying the store is in use.
        let mut tries = 0;
        loop {
            match Self::try_open_sled(path, opts) {
                Err(StoreError::Locked(_)) if tries < 40 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    fn try_open_sled(path: &Path, opts: &SledOptions) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_bytes)
            .mode(sled::Mode::LowSpace)
            // Durability comes from explicit flushes after each apply; the background flusher
            // only bounds how much unacknowledged work a crash can lose.
            .flush_every_ms(Some(1000))
            .open()
            .map_err(|e| match e {
                // sled takes an exclusive lock on its files and reports another holder as an
                // I/O error with this text (tests/store.rs pins it).
                sled::Error::Io(io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StoreError::Locked(path.to_owned())
                }
                other => other.into(),
            })?;
        Ok(Self::Sled(db))
    }

    pub(crate) fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    pub(crate) fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Sled(db) => Ok(db.get(k)?.map(|v| v.to_vec())),
            Self::Memory(m) => Ok(m.read().map_err(|_| StoreError::Poisoned)?.get(k).cloned()),
        }
    }

    /// Entries with keys in `[start, end)`, in key order, up to `limit`.
    pub(crate) fn range(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        match self {
            Self::Sled(db) => db
                .range(start..end)
                .take(limit)
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(Into::into))
                .collect(),
            Self::Memory(m) => Ok(m
                .read()
                .map_err(|_| StoreError::Poisoned)?
                .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
                .take(limit)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()),
        }
    }

    /// Calls `f` on each entry under `prefix` until it returns false; avoids materialising large
    /// scans (integrity checks, inventories).
    pub(crate) fn for_each_prefix(
        &self,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sled(db) => {
                for r in db.scan_prefix(prefix) {
                    let (k, v) = r?;
                    if !f(&k, &v) {
                        break;
                    }
                }
            }
            Self::Memory(m) => {
                let m = m.read().map_err(|_| StoreError::Poisoned)?;
                for (k, v) in m.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded)) {
                    if !k.starts_with(prefix) || !f(k, v) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// Like [`Self::for_each_prefix`] over `[start, end)`.
    pub(crate) fn for_each_range(
        &self,
        start: &[u8],
        end: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        match self {
            Self::Sled(db) => {
                for r in db.range(start..end) {
                    let (k, v) = r?;
                    if !f(&k, &v) {
                        break;
                    }
                }
            }
            Self::Memory(m) => {
                let m = m.read().map_err(|_| StoreError::Poisoned)?;
                for (k, v) in m.range::<[u8], _>((Bound::Included(start), Bound::Excluded(end))) {
                    if !f(k, v) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The greatest key in `[start, end)`.
    pub(crate) fn last_in_range(
        &self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Sled(db) => Ok(db
                .range(start..end)
                .next_back()
                .transpose()?
                .map(|(k, _)| k.to_vec())),
            Self::Memory(m) => Ok(m
                .read()
                .map_err(|_| StoreError::Poisoned)?
                .range::<[u8], _>((Bound::Included(start), Bound::Excluded(end)))
                .next_back()
                .map(|(k, _)| k.clone())),
        }
    }

    pub(crate) fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        match self {
            // One operation needs no batch: sled's batches take a lock on the whole tree and
            // cost a tenth of a millisecond, ten times a lone insert.
            Self::Sled(db) if batch.ops.len() == 1 => {
                for (k, v) in batch.ops {
                    match v {
                        Some(v) => db.insert(k, v)?,
                        None => db.remove(k)?,
                    };
                }
            }
            Self::Sled(db) => {
                let mut b = sled::Batch::default();
                for (k, v) in batch.ops {
                    match v {
                        Some(v) => b.insert(k, v),
                        None => b.remove(k),
                    }
                }
                db.apply_batch(b)?;
            }
            Self::Memory(m) => {
                let mut m = m.write().map_err(|_| StoreError::Poisoned)?;
                for (k, v) in batch.ops {
                    match v {
                        Some(v) => m.insert(k, v),
                        None => m.remove(&k),
                    };
                }
            }
        }
        Ok(())
    }

    /// Applies a batch's writes one by one, inserts first: a crash can keep any prefix of
    /// them, so this is only for writes whose every prefix [`crate::Store::open`] can repair (a
    /// record written without the removal of the record it replaced). sled's atomic batches
    /// seal a buffer holding only their marker and write it on their own, so the flush that
    /// follows makes two device writes where this makes one.
    pub(crate) fn apply_in_order(&self, batch: Batch) -> Result<(), StoreError> {
        match self {
            Self::Sled(db) => {
                let (inserts, removes): (Vec<_>, Vec<_>) =
                    batch.ops.into_iter().partition(|(_, v)| v.is_some());
                for (k, v) in inserts.into_iter().chain(removes) {
                    match v {
                        Some(v) => db.insert(k, v)?,
                        None => db.remove(k)?,
                    };
                }
                Ok(())
            }
            Self::Memory(_) => self.apply(batch),
        }
    }

    /// Makes every applied batch durable (fsync). A no-op in memory.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        if let Self::Sled(db) = self {
            db.flush()?;
        }
        Ok(())
    }

    pub(crate) fn size_on_disk(&self) -> Result<u64, StoreError> {
        match self {
            Self::Sled(db) => Ok(db.size_on_disk()?),
            Self::Memory(m) => Ok(m
                .read()
                .map_err(|_| StoreError::Poisoned)?
                .iter()
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum()),
        }
    }
}
