//! The in-memory indexes, derived from the records' [`Info`] headers.
//!
//! sled holds only the records (written in sequence order, which it handles well); every
//! secondary index lives here and is rebuilt at open by a scan that reads each record's small
//! `Info` header without decoding its payload. Random-key index writes were what made sled slow
//! and large on disk (see docs/performance.md), and derived indexes cannot disagree with the
//! records after a crash.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bincode::{Decode, Encode};
use discal_protocol::model::EventContent;
use discal_protocol::recur::{self, ExpandLimits};
use discal_protocol::{EventId, MergeKey, SignedPayload, VerifiedEvent};

/// One-off events up to this long are indexed by start time; longer and recurring ones are
/// few and are checked by their extent on every time query, so the start-time scan needs only a
/// bounded look-back.
pub(crate) const SHORT_EVENT_SECS: i64 = 7 * 86_400;

/// Where an event lies in time, as the index sees it (UTC seconds; floating and all-day times
/// read as UTC, which queries allow for with a day of slack).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) enum Span {
    /// A one-off event of at most [`SHORT_EVENT_SECS`].
    Short { start: i64, end: i64 },
    /// Recurring or long; `end` is `None` when it recurs without end.
    Long { start: i64, end: Option<i64> },
}

/// What the indexes need to know about a record, stored at the front of it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub(crate) struct Info {
    pub(crate) origin: [u8; 32],
    pub(crate) uid: String,
    pub(crate) revision: u32,
    pub(crate) cancelled: bool,
    pub(crate) id: EventId,
    pub(crate) span: Span,
    /// Lower-cased, sorted, without duplicates.
    pub(crate) tags: Vec<String>,
    /// Micro-degrees.
    pub(crate) geo: Option<(i32, i32)>,
    /// For recurring events: every instance (start, end), if the event is bounded, not
    /// floating and not too large (see [`instances_of`]); such events are found through the
    /// start-time index like one-offs.
    pub(crate) instances: Option<Vec<(i64, i64)>>,
    /// True if every start is UTC or zoned, so the index's times are exact for every viewer;
    /// floating and all-day times depend on the viewer's zone and are only estimated here.
    pub(crate) zone_free: bool,
    /// The revision's signed `issued_at_ms`: catch-up sorts its items by it (protocol.md §11.4).
    pub(crate) issued_at_ms: i64,
    /// The record's hop count, so a copy arriving by a longer route is recognised without
    /// reading the record.
    pub(crate) hop: u8,
}

impl Info {
    pub(crate) fn of(ev: &VerifiedEvent, hop: u8, limits: ExpandLimits) -> Self {
        Self::of_payload(ev.payload(), ev.id(), hop, limits)
    }

    /// What the index holds for a payload; also how integrity checks recompute it.
    pub(crate) fn of_payload(
        p: &SignedPayload,
        id: EventId,
        hop: u8,
        limits: ExpandLimits,
    ) -> Self {
        let extent = recur::extent(&p.content, limits).ok();
        let span = span_from(&p.content, extent);
        Self {
            origin: *p.origin.as_bytes(),
            uid: p.uid.clone(),
            revision: p.revision,
            cancelled: p.content.is_cancelled(),
            id,
            span,
            tags: tags_of(&p.content),
            geo: p.content.master.geo.map(|g| (micro(g.lat), micro(g.lon))),
            instances: match (span, extent) {
                (Span::Long { .. }, Some(e)) => instances_of(&p.content, e, limits),
                _ => None,
            },
            zone_free: zone_free(&p.content),
            issued_at_ms: p.issued_at_ms,
            hop,
        }
    }

    pub(crate) fn merge_key(&self) -> MergeKey {
        MergeKey {
            revision: self.revision,
            cancelled: self.cancelled,
            id: self.id,
        }
    }
}

/// Validated ranges (±90, ±180 degrees) fit in i32 micro-degrees.
pub(crate) fn micro(deg: f64) -> i32 {
    (deg * 1e6).round() as i32
}

fn span_from(c: &EventContent, extent: Option<recur::Extent>) -> Span {
    // Validation guarantees the extent computes; should it not, index the event as unbounded
    // so queries still find it rather than losing it.
    match extent {
        Some(e) => {
            let start = e.start.timestamp();
            match e.end.map(|x| x.timestamp()) {
                Some(end) if !c.master.is_recurring() && end - start <= SHORT_EVENT_SECS => {
                    Span::Short { start, end }
                }
                end => Span::Long { start, end },
            }
        }
        None => Span::Long {
            start: i64::MIN,
            end: None,
        },
    }
}

pub(crate) fn tags_of(c: &EventContent) -> Vec<String> {
    let mut tags: Vec<String> = c
        .components()
        .flat_map(|x| x.categories.iter())
        .map(|t| t.to_lowercase())
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// Most instances of one recurring event the index holds; events with more are expanded at
/// query time instead.
const MAX_INDEXED_INSTANCES: usize = 1000;

/// The instances (start, end in UTC seconds) of a bounded recurring event whose times do not
/// depend on the viewer's zone, or `None` if it is unbounded, floating or all-day, or too large.
fn zone_free(c: &EventContent) -> bool {
    use discal_protocol::model::DateTimeValue;
    c.components()
        .all(|x| matches!(x.start, DateTimeValue::Utc(_) | DateTimeValue::Zoned { .. }))
}

fn instances_of(
    c: &EventContent,
    ext: recur::Extent,
    limits: ExpandLimits,
) -> Option<Vec<(i64, i64)>> {
    if !zone_free(c) {
        return None;
    }
    let end = ext.end?;
    let x = recur::expand(
        c,
        ext.start,
        end + chrono::Duration::seconds(1),
        discal_protocol::Tz::UTC,
        ExpandLimits {
            max_examined: limits.max_examined,
            max_returned: MAX_INDEXED_INSTANCES,
        },
    )
    .ok()?;
    if x.truncated {
        return None;
    }
    Some(
        x.occurrences
            .iter()
            .map(|o| (o.start.timestamp(), o.end.timestamp()))
            .collect(),
    )
}

/// `origin || uid` bytes: how the index names an event, shared by the name map and the entry.
pub(crate) fn ident_bytes(origin: &[u8; 32], uid: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + uid.len());
    v.extend_from_slice(origin);
    v.extend_from_slice(uid.as_bytes());
    v
}

/// What the index keeps per record. Apart from the shared name and the rare instance list it
/// owns no heap memory: tag sets are interned. Long-lived small allocations, one per field per
/// event, were what kept the process large after an ingest (docs/performance.md).
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) ident: Arc<[u8]>,
    pub(crate) revision: u32,
    pub(crate) cancelled: bool,
    pub(crate) id: EventId,
    pub(crate) span: Span,
    tag_set: u32,
    pub(crate) geo: Option<(i32, i32)>,
    instances: Option<Box<[(i64, i64)]>>,
    pub(crate) zone_free: bool,
    pub(crate) issued_at_ms: i64,
    pub(crate) hop: u8,
    /// The record's length, for per-origin byte counts.
    bytes: u32,
}

impl Entry {
    pub(crate) fn origin(&self) -> &[u8] {
        &self.ident[..32]
    }

    pub(crate) fn merge_key(&self) -> MergeKey {
        MergeKey {
            revision: self.revision,
            cancelled: self.cancelled,
            id: self.id,
        }
    }
}

#[derive(Default, Debug)]
pub(crate) struct Index {
    by_ident: HashMap<Arc<[u8]>, u64>,
    entries: HashMap<u64, Entry>,
    /// (start, seq) → end, for one-off events and for each instance of indexed recurring ones.
    pub(crate) by_start: BTreeMap<(i64, u64), i64>,
    /// Recurring or long events expanded at query time.
    pub(crate) long: BTreeSet<u64>,
    /// tag id → records.
    tags: HashMap<u32, BTreeSet<u64>>,
    pub(crate) geo: BTreeSet<(i32, i32, u64)>,
    pub(crate) last_seq: u64,
    tag_names: Vec<String>,
    tag_ids: HashMap<String, u32>,
    tag_sets: Vec<Box<[u32]>>,
    tag_set_ids: HashMap<Box<[u32]>, u32>,
    /// UID → how many origins hold an event with it: feeds must not carry one UID twice.
    /// Keyed by the UID's [`UidKeys`] hash, not a copy of it: the UID is already in each
    /// entry's `ident`, and a second copy per event cost about 10 MB per 100,000 events.
    uid_origins: HashMap<[u64; 2], u32>,
    uid_keys: UidKeys,
    /// How many UIDs more than one origin holds (almost always none).
    shared_uids: usize,
    /// Events and record bytes held per origin (for per-origin quotas).
    origin_events: HashMap<[u8; 32], (u32, u64)>,
    /// The last records removed, with their event: a query that selected one just before a
    /// newer revision replaced it finds the newer one through this.
    removed: std::collections::VecDeque<(u64, Arc<[u8]>)>,
}

/// A 128-bit hash of a UID under two random SipHash keys chosen when the index is made: two
/// UIDs share one only by a chance of about 2^-128 per pair, and no sender can aim at it, as
/// the keys are this process's own.
#[derive(Default, Debug)]
struct UidKeys(std::hash::RandomState, std::hash::RandomState);

impl UidKeys {
    fn of(&self, uid: &[u8]) -> [u64; 2] {
        use std::hash::BuildHasher;
        [self.0.hash_one(uid), self.1.hash_one(uid)]
    }
}

/// Removed records remembered in [`Index::ident_of`].
const REMEMBER_REMOVED: usize = 4096;

impl Index {
    fn intern_tag(&mut self, t: &str) -> u32 {
        if let Some(id) = self.tag_ids.get(t) {
            return *id;
        }
        let id = self.tag_names.len() as u32;
        self.tag_names.push(t.to_string());
        self.tag_ids.insert(t.to_string(), id);
        id
    }

    fn intern_set(&mut self, tags: &[String]) -> u32 {
        // Look up with a stack buffer: most events have a handful of tags, and an allocation
        // per event here was a measurable share of ingest time and of heap fragmentation.
        let mut buf = [0u32; 8];
        let mut heap = Vec::new();
        let ids: &[u32] = if tags.len() <= buf.len() {
            for (slot, t) in buf.iter_mut().zip(tags) {
                *slot = self.intern_tag(t);
            }
            &buf[..tags.len()]
        } else {
            heap.extend(tags.iter().map(|t| self.intern_tag(t)));
            &heap
        };
        if let Some(id) = self.tag_set_ids.get(ids) {
            return *id;
        }
        let id = self.tag_sets.len() as u32;
        self.tag_sets.push(ids.into());
        self.tag_set_ids.insert(ids.into(), id);
        id
    }

    /// The id of a (lower-case) tag, if any record ever had it.
    pub(crate) fn tag_id(&self, t: &str) -> Option<u32> {
        self.tag_ids.get(t).copied()
    }

    pub(crate) fn tag_ids_of(&self, e: &Entry) -> &[u32] {
        self.tag_sets.get(e.tag_set as usize).map_or(&[], |s| s)
    }

    pub(crate) fn with_tag(&self, tag: u32) -> impl Iterator<Item = u64> + '_ {
        self.tags.get(&tag).into_iter().flatten().copied()
    }

    pub(crate) fn entry(&self, seq: u64) -> Option<&Entry> {
        self.entries.get(&seq)
    }

    pub(crate) fn seq_of(&self, ident: &[u8]) -> Option<u64> {
        self.by_ident.get(ident).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_ident.len()
    }

    /// (ident, seq) of every event, in no particular order.
    pub(crate) fn idents(&self) -> impl Iterator<Item = (&[u8], u64)> {
        self.by_ident.iter().map(|(k, v)| (&k[..], *v))
    }

    /// An entry as the persisted info it came from.
    pub(crate) fn info(&self, seq: u64) -> Option<Info> {
        let e = self.entries.get(&seq)?;
        let mut origin = [0u8; 32];
        origin.copy_from_slice(e.origin());
        Some(Info {
            origin,
            uid: String::from_utf8_lossy(&e.ident[32..]).into_owned(),
            revision: e.revision,
            cancelled: e.cancelled,
            id: e.id,
            span: e.span,
            tags: self
                .tag_ids_of(e)
                .iter()
                .filter_map(|t| self.tag_names.get(*t as usize).cloned())
                .collect(),
            geo: e.geo,
            instances: e.instances.as_ref().map(|i| i.to_vec()),
            zone_free: e.zone_free,
            issued_at_ms: e.issued_at_ms,
            hop: e.hop,
        })
    }

    /// Every entry as persisted info and record length, by sequence number: for snapshots and
    /// for comparing two indexes independently of interning order.
    pub(crate) fn infos(&self) -> Vec<(u64, Info, u32)> {
        let mut seqs: Vec<u64> = self.entries.keys().copied().collect();
        seqs.sort_unstable();
        seqs.into_iter()
            .filter_map(|s| Some((s, self.info(s)?, self.entries.get(&s)?.bytes)))
            .collect()
    }

    /// Adds a record (of `bytes` bytes)'s entries; a record of the same event already held is
    /// removed first.
    pub(crate) fn insert(&mut self, seq: u64, info: Info, bytes: u32) {
        self.last_seq = self.last_seq.max(seq);
        let ident: Arc<[u8]> = info
            .origin
            .iter()
            .chain(info.uid.as_bytes())
            .copied()
            .collect();
        if let Some(old) = self.by_ident.get(&ident).copied() {
            self.remove(old);
        }
        match (info.span, &info.instances) {
            (Span::Short { start, end }, _) => {
                self.by_start.insert((start, seq), end);
            }
            (Span::Long { .. }, Some(inst)) => {
                for (s, e) in inst {
                    self.by_start.insert((*s, seq), *e);
                }
            }
            (Span::Long { .. }, None) => {
                self.long.insert(seq);
            }
        }
        let tag_set = self.intern_set(&info.tags);
        for i in 0..self.tag_sets[tag_set as usize].len() {
            let t = self.tag_sets[tag_set as usize][i];
            self.tags.entry(t).or_default().insert(seq);
        }
        if let Some((lat, lon)) = info.geo {
            self.geo.insert((lat, lon, seq));
        }
        self.by_ident.insert(ident.clone(), seq);
        let n = self
            .uid_origins
            .entry(self.uid_keys.of(info.uid.as_bytes()))
            .or_default();
        *n += 1;
        if *n == 2 {
            self.shared_uids += 1;
        }
        let held = self.origin_events.entry(info.origin).or_default();
        held.0 += 1;
        held.1 += u64::from(bytes);
        self.entries.insert(
            seq,
            Entry {
                ident,
                revision: info.revision,
                cancelled: info.cancelled,
                id: info.id,
                span: info.span,
                tag_set,
                geo: info.geo,
                instances: info.instances.map(Vec::into_boxed_slice),
                zone_free: info.zone_free,
                issued_at_ms: info.issued_at_ms,
                hop: info.hop,
                bytes,
            },
        );
    }

    /// A held revision's record was rewritten (`bytes` long) with a lower hop count.
    pub(crate) fn set_hop(&mut self, seq: u64, hop: u8, bytes: u32) {
        let Some(e) = self.entries.get_mut(&seq) else {
            return;
        };
        e.hop = hop;
        let mut origin = [0u8; 32];
        origin.copy_from_slice(e.origin());
        if let Some(held) = self.origin_events.get_mut(&origin) {
            held.1 = held.1 - u64::from(e.bytes) + u64::from(bytes);
        }
        e.bytes = bytes;
    }

    /// The event (origin and UID bytes) a record is or was of, if it is held or was removed
    /// lately.
    pub(crate) fn ident_of(&self, seq: u64) -> Option<Arc<[u8]>> {
        if let Some(e) = self.entries.get(&seq) {
            return Some(e.ident.clone());
        }
        self.removed
            .iter()
            .rev()
            .find(|(s, _)| *s == seq)
            .map(|(_, i)| i.clone())
    }

    pub(crate) fn remove(&mut self, seq: u64) {
        let Some(e) = self.entries.remove(&seq) else {
            return;
        };
        if self.removed.len() >= REMEMBER_REMOVED {
            self.removed.pop_front();
        }
        self.removed.push_back((seq, e.ident.clone()));
        if let Span::Short { start, .. } = e.span {
            self.by_start.remove(&(start, seq));
        }
        for (s, _) in e.instances.iter().flat_map(|i| i.iter()) {
            self.by_start.remove(&(*s, seq));
        }
        self.long.remove(&seq);
        for t in self.tag_sets[e.tag_set as usize].iter() {
            if let Some(set) = self.tags.get_mut(t) {
                set.remove(&seq);
                if set.is_empty() {
                    self.tags.remove(t);
                }
            }
        }
        if let Some((lat, lon)) = e.geo {
            self.geo.remove(&(lat, lon, seq));
        }
        if self.by_ident.get(&e.ident) == Some(&seq) {
            self.by_ident.remove(&e.ident);
        }
        let mut origin = [0u8; 32];
        origin.copy_from_slice(&e.ident[..32]);
        if let Some(held) = self.origin_events.get_mut(&origin) {
            held.0 -= 1;
            held.1 -= u64::from(e.bytes);
            if held.0 == 0 {
                self.origin_events.remove(&origin);
            }
        }
        let uid = self.uid_keys.of(&e.ident[32..]);
        if let Some(n) = self.uid_origins.get_mut(&uid) {
            *n -= 1;
            if *n == 1 {
                self.shared_uids -= 1;
            }
            if *n == 0 {
                self.uid_origins.remove(&uid);
            }
        }
    }

    /// How many UIDs more than one origin holds.
    pub(crate) fn shared_uids(&self) -> usize {
        self.shared_uids
    }

    /// Events (tombstones included) and record bytes held from this origin.
    pub(crate) fn origin_holdings(&self, origin: &[u8; 32]) -> (u32, u64) {
        self.origin_events.get(origin).copied().unwrap_or_default()
    }

    /// True if more than one origin holds an event with this UID.
    pub(crate) fn uid_is_shared(&self, uid: &str) -> bool {
        self.uid_origins
            .get(&self.uid_keys.of(uid.as_bytes()))
            .is_some_and(|n| *n > 1)
    }
}
