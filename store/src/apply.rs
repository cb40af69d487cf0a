//! Writing: merging verified events against held revisions as one atomic, flushed batch.

use std::collections::{BTreeSet, HashMap, HashSet};

use discal_protocol::{codec, merge, MergeKey, MergeOutcome, VerifiedEvent};

use crate::backend::Batch;
use crate::index::{self, Info};
use crate::record::{change_key, record_bytes};
use crate::{parallel, Applied, Store, StoreError, Transit};

/// From this many events, a batch's records (index info, compressed envelope) are made on two
/// threads: that is most of the writer's CPU, and the merge and the sled write after it are
/// serial.
const PARALLEL_RECORDS: usize = 64;

impl Store {
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
        self.apply_batch_flushing(items, now_ms, true)
    }

    /// [`Store::apply_batch`] without the flush, for a write the caller made durable another
    /// way (the journal, store/src/journal.rs): it reaches the disk with the next flush, and a
    /// crash before that loses it from sled but not from the journal.
    pub fn apply_batch_unflushed<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a VerifiedEvent, Transit)>,
        now_ms: i64,
    ) -> Result<Vec<Applied>, StoreError> {
        self.apply_batch_flushing(items, now_ms, false)
    }

    fn apply_batch_flushing<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a VerifiedEvent, Transit)>,
        now_ms: i64,
        flush: bool,
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
        let made = parallel::on_two_threads(
            &items,
            PARALLEL_RECORDS,
            StoreError::Poisoned,
            |part| {
                Ok(part
                    .iter()
                    .map(|(ev, transit)| {
                        let info = Info::of(ev, transit.hop, self.expand);
                        let record = record_bytes(&info, ev, transit, now_ms);
                        (info, record)
                    })
                    .collect::<Vec<_>>())
            },
            |mut a, b| {
                a.extend(b);
                a
            },
        )?;
        let writer = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut plan = Plan::new(self.read_index()?.last_seq);
        let mut results = Vec::with_capacity(made.len());
        for ((_, transit), (info, record)) in items.into_iter().zip(made) {
            let ident = index::ident_bytes(&info.origin, &info.uid);
            let held = match plan.overlay.get(&ident) {
                Some(h) => Some(*h),
                None => {
                    let idx = self.read_index()?;
                    idx.seq_of(&ident)
                        .and_then(|s| idx.entry(s).map(|e| (s, e.merge_key(), e.hop)))
                }
            };
            results.push(plan.step(ident, held, transit.hop, info, record));
        }
        let bytes_written = plan.bytes_written;
        self.commit(plan, flush)?;
        drop(writer);
        if let Some(t) = &self.trimmer {
            t.wrote(bytes_written);
        }
        Ok(results)
    }

    /// Writes and flushes a plan's batch, then brings the shared index up to it: the index only
    /// changes once the batch is durable.
    fn commit(&self, plan: Plan, flush: bool) -> Result<(), StoreError> {
        if plan.batch.is_empty() {
            return Ok(());
        }
        // One event's writes (its record, and the removal of the one it replaces) go one by
        // one, which spares sled's batch marker its own device write (a third of a CalDAV
        // DELETE's time); open repairs what a crash between them leaves. Several events'
        // writes stay one atomic batch, as a batch in flight must be wholly there or absent.
        if plan.overlay.len() == 1 {
            self.db.apply_in_order(plan.batch)?;
        } else {
            self.db.apply(plan.batch)?;
        }
        if flush {
            self.db.flush()?;
        }
        let mut idx = self.index.write().map_err(|_| StoreError::Poisoned)?;
        for s in plan.removed {
            idx.remove(s);
        }
        // A record added and replaced within this batch was never written.
        let written: HashSet<u64> = plan.overlay.values().map(|v| v.0).collect();
        for (s, info, bytes) in plan.added {
            if written.contains(&s) {
                idx.insert(s, info, bytes);
            }
        }
        // After the inserts: a copy by a shorter route in the same batch as the first copy
        // lowers the hop of a record this batch added.
        for (s, hop, bytes) in plan.rehop {
            idx.set_hop(s, hop, bytes);
        }
        idx.last_seq = idx.last_seq.max(plan.seq);
        self.shared_uids
            .store(idx.shared_uids(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// (seq, merge key, hop) of the record held for an event.
type Held = (u64, MergeKey, u8);

/// A batch being merged: the sled writes, and a view of the index that includes the batch's
/// earlier items.
struct Plan {
    batch: Batch,
    added: Vec<(u64, Info, u32)>,
    removed: BTreeSet<u64>,
    /// Held records rewritten with a lower hop count.
    rehop: Vec<(u64, u8, u32)>,
    /// Per event name: the record this batch holds for it.
    overlay: HashMap<Vec<u8>, Held>,
    /// The last sequence number given out.
    seq: u64,
    bytes_written: u64,
}

impl Plan {
    fn new(last_seq: u64) -> Self {
        Self {
            batch: Batch::default(),
            added: Vec::new(),
            removed: BTreeSet::new(),
            rehop: Vec::new(),
            overlay: HashMap::new(),
            seq: last_seq,
            bytes_written: 0,
        }
    }

    /// Merges one event against what is held for it and adds the writes that follow.
    fn step(
        &mut self,
        ident: Vec<u8>,
        held: Option<Held>,
        hop: u8,
        info: Info,
        record: Vec<u8>,
    ) -> Applied {
        let outcome = merge(held.as_ref().map(|h| &h.1), &info.merge_key());
        if !outcome.applies() {
            // Same revision by a shorter route: keep the lower hop count (it converges to
            // the true distance). The content is unchanged, so it keeps its change number.
            let mut hop_lowered = false;
            if let (MergeOutcome::Duplicate, Some((hseq, hmk, held_hop))) = (outcome, held) {
                // A duplicate has the held payload, so the incoming info is the held one
                // but for the hop.
                if hop < held_hop {
                    self.rehop.push((hseq, hop, record.len() as u32));
                    self.batch.insert(change_key(hseq).to_vec(), record);
                    self.overlay.insert(ident, (hseq, hmk, hop));
                    hop_lowered = true;
                }
            }
            return Applied {
                outcome,
                seq: None,
                hop_lowered,
            };
        }
        self.seq += 1;
        if let Some((old, _, _)) = held {
            self.batch.remove(change_key(old).to_vec());
            self.removed.insert(old);
        }
        self.overlay
            .insert(ident, (self.seq, info.merge_key(), hop));
        self.bytes_written += record.len() as u64;
        let len = record.len() as u32;
        self.batch.insert(change_key(self.seq).to_vec(), record);
        self.added.push((self.seq, info, len));
        Applied {
            outcome,
            seq: Some(self.seq),
            hop_lowered: false,
        }
    }
}
