//! Lookups that the in-memory indexes answer: one event, its revision, the change log,
//! the inventory for catch-up, the origins.

use discal_protocol::{EventKey, MergeKey, NodeKey};

use crate::index;
use crate::record::{change_key, decode_record, seq_of, T_CHANGE};
use crate::{InventoryItem, Store, StoreError, StoredEvent};

/// An origin key from an index entry, parsed once per origin: parsing checks a curve point
/// (tens of µs), and answers list many events of few origins.
pub(crate) fn origin_key(
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

impl Store {
    /// The held revision of an event.
    pub fn get(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        let ident = index::ident_bytes(key.origin.as_bytes(), &key.uid);
        // Not in a `match` on the lookup: its temporary read guard would live through the
        // arms, and the index must not be held while waiting for the writer.
        let seq = self.read_index()?.seq_of(&ident);
        seq.map_or(Ok(None), |s| self.current_record(s))
    }

    /// The record `seq` from the index, or the one that replaced it since. The writer removes
    /// an old record in its batch and moves the index on only once the batch is flushed, so a
    /// reader can find a record gone that the index (or its own earlier look at it) still
    /// names; under the writer's lock the index and the records agree. (A page asking for an
    /// event while its RSVP counts were republished answered 404 here.) The caller must hold
    /// neither the index nor the writer's lock.
    pub(crate) fn current_record(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        if let Some(e) = self.record(seq)? {
            return Ok(Some(e));
        }
        let Some(ident) = self.read_index()?.ident_of(seq) else {
            return Ok(None);
        };
        // With the writer's lock held, no batch is half applied.
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let seq = self.read_index()?.seq_of(&ident);
        seq.map_or(Ok(None), |s| self.record(s))
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

    /// [`crate::Store::revision_hop`] by the origin's key bytes, which need not be a checked key: a
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

    /// True if more than one origin holds an event with this UID (from memory, O(1)). Feeds and
    /// CalDAV then write each of them under a UID qualified by its origin, so that no origin's
    /// event can take another's place in a subscriber's calendar.
    pub fn uid_is_shared(&self, uid: &str) -> Result<bool, StoreError> {
        if self.shared_uids.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            return Ok(false);
        }
        Ok(self.read_index()?.uid_is_shared(uid))
    }

    /// Events (tombstones included) this store holds from `origin`, and the bytes of their
    /// records: what per-origin quotas count.
    pub fn origin_holdings(&self, origin: &NodeKey) -> Result<(u32, u64), StoreError> {
        Ok(self.read_index()?.origin_holdings(origin.as_bytes()))
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
}
