//! The journal: local writes acknowledged before the store has them on disk.
//!
//! A write is acknowledged once it is durable. Made durable through sled, it first goes
//! through the node's authoring and signing, sled's inserts, the in-memory indexes and sled's
//! flush, and only the flush has to come before the answer. So the node may instead write what
//! the write is (a record of its own making, opaque here) to this journal, a small file, flush
//! that, answer, and do the rest afterwards without flushing sled ([`Store::apply_batch_unflushed`]),
//! keeping reads and writes from overtaking it. Each record is the node's whole list of such
//! writes since it last flushed sled. If the process dies before sled has them on disk, the
//! node finds the record again at its next start ([`Store::journaled`]) and does them again;
//! it is the node's to make that harmless, as a record is never cleared, only superseded.
//!
//! The file holds two slots of [`SLOT`] bytes, and a write goes to the slot not holding the
//! newest record, so that a write torn by a crash never damages the record before it (which
//! was acknowledged). A slot: the 8 bytes `DCJRNL02`, the record's sequence number (u64), its
//! length (u32), the CRC-32 of the sequence number's bytes and the record (u32), then the
//! record; integers little-endian. Open takes the whole record with the highest number; a torn
//! one fails its CRC and is ignored, as it was never acknowledged.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Mutex;

use crate::{Store, StoreError};

pub(crate) const JOURNAL_FILE: &str = "journal";
const MAGIC: &[u8; 8] = b"DCJRNL02";
const HEAD: usize = 24;
/// A slot's size: the largest record is `SLOT - 24` bytes. Both slots are written as zeros when
/// the file is made, so that a record's flush rewrites blocks already allocated: on ext4 a flush
/// that allocates also writes the block map (docs/performance.md).
pub(crate) const SLOT: usize = 64 << 10;

pub(crate) struct Journal {
    file: File,
    /// The next record's sequence number and slot.
    next: Mutex<(u64, usize)>,
    /// The record found at open.
    found: Option<Vec<u8>>,
}

impl Journal {
    /// Opens (or makes) the journal in `dir`, reading its newest whole record.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let path = dir.join(JOURNAL_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if (file.metadata()?.len() as usize) < 2 * SLOT {
            file.write_all_at(&vec![0; 2 * SLOT], 0)?;
            file.sync_all()?;
            if let Some(d) = path.parent() {
                File::open(d)?.sync_all()?;
            }
        }
        let newest = (0..2)
            .filter_map(|slot| read_slot(&file, slot).map(|(seq, r)| (seq, slot, r)))
            .max_by_key(|(seq, _, _)| *seq);
        let (next, found) = match newest {
            Some((seq, slot, record)) => ((seq + 1, 1 - slot), Some(record)),
            None => ((1, 0), None),
        };
        Ok(Self {
            file,
            next: Mutex::new(next),
            found,
        })
    }

    fn write(&self, payload: &[u8]) -> Result<(), StoreError> {
        if HEAD + payload.len() > SLOT {
            return Err(StoreError::TooLarge {
                bytes: payload.len(),
                max: SLOT - HEAD,
            });
        }
        let mut next = self.next.lock().map_err(|_| StoreError::Poisoned)?;
        let (seq, slot) = *next;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&seq.to_le_bytes());
        crc.update(payload);
        let mut record = Vec::with_capacity(HEAD + payload.len());
        record.extend_from_slice(MAGIC);
        record.extend_from_slice(&seq.to_le_bytes());
        record.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc.finalize().to_le_bytes());
        record.extend_from_slice(payload);
        self.file.write_all_at(&record, (slot * SLOT) as u64)?;
        self.file.sync_data()?;
        // Only now is the other slot's record superseded: the next write may go there.
        *next = (seq + 1, 1 - slot);
        Ok(())
    }
}

/// The record in `slot` and its number, if the slot holds a whole one.
fn read_slot(file: &File, slot: usize) -> Option<(u64, Vec<u8>)> {
    let at = (slot * SLOT) as u64;
    let mut head = [0u8; HEAD];
    file.read_exact_at(&mut head, at).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(head[8..16].try_into().ok()?);
    let len = u32::from_le_bytes(head[16..20].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[20..24].try_into().ok()?);
    if HEAD + len > SLOT {
        return None;
    }
    let mut record = vec![0; len];
    file.read_exact_at(&mut record, at + HEAD as u64).ok()?;
    let mut check = crc32fast::Hasher::new();
    check.update(&seq.to_le_bytes());
    check.update(&record);
    (check.finalize() == crc).then_some((seq, record))
}

impl Store {
    /// Makes `record` durable as the journal's one record, so that the write it describes can
    /// be acknowledged before it is done; false when this store keeps no journal (in memory),
    /// and the caller does the write at once instead.
    pub fn journal(&self, record: &[u8]) -> Result<bool, StoreError> {
        let Some(j) = &self.journal else {
            return Ok(false);
        };
        j.write(record)?;
        Ok(true)
    }

    /// The journal's record as the store found it at open (none for a store in memory, a new
    /// journal or a torn record): the last write acknowledged from the journal, perhaps never
    /// done.
    pub fn journaled(&self) -> Option<&[u8]> {
        self.journal.as_ref()?.found.as_deref()
    }
}
