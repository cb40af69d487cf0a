//! The in-memory indexes, derived from the records' [`Info`] headers.
//!
//! sled holds only the records (written in sequence order, which it handles well); every
//! secondary index lives here and is rebuilt at open by a scan that reads each record's small
//! `Info` header without decoding its payload. Random-key index writes were what made sled slow
//! and large on disk (see docs/performance.md), and derived indexes cannot disagree with the
//! records after a crash.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
}

impl Info {
    pub(crate) fn of(ev: &VerifiedEvent, limits: ExpandLimits) -> Self {
        Self::of_payload(ev.payload(), ev.id(), limits)
    }

    /// What the index holds for a payload; also how integrity checks recompute it.
    pub(crate) fn of_payload(p: &SignedPayload, id: EventId, limits: ExpandLimits) -> Self {
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
        }
    }

    pub(crate) fn merge_key(&self) -> MergeKey {
        MergeKey {
            revision: self.revision,
            cancelled: self.cancelled,
            id: self.id,
        }
    }

    pub(crate) fn ident(&self) -> Ident {
        (self.origin, self.uid.clone())
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

/// (origin key bytes, UID).
pub(crate) type Ident = ([u8; 32], String);

#[derive(Default, Debug, PartialEq, Eq)]
pub(crate) struct Index {
    /// Event name → sequence number of its record. Ordered, so listings come out by key.
    pub(crate) by_ident: BTreeMap<Ident, u64>,
    pub(crate) entries: HashMap<u64, Info>,
    /// (start, seq) → end, for one-off events and for each instance of indexed recurring ones.
    pub(crate) by_start: BTreeMap<(i64, u64), i64>,
    /// Recurring or long events expanded at query time.
    pub(crate) long: BTreeSet<u64>,
    pub(crate) tags: HashMap<String, BTreeSet<u64>>,
    pub(crate) geo: BTreeSet<(i32, i32, u64)>,
    pub(crate) last_seq: u64,
}

impl Index {
    /// Adds a record's entries.
    pub(crate) fn insert(&mut self, seq: u64, info: Info) {
        self.last_seq = self.last_seq.max(seq);
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
        for t in &info.tags {
            self.tags.entry(t.clone()).or_default().insert(seq);
        }
        if let Some((lat, lon)) = info.geo {
            self.geo.insert((lat, lon, seq));
        }
        self.by_ident.insert(info.ident(), seq);
        self.entries.insert(seq, info);
    }

    pub(crate) fn remove(&mut self, seq: u64) {
        let Some(info) = self.entries.remove(&seq) else {
            return;
        };
        if let Span::Short { start, .. } = info.span {
            self.by_start.remove(&(start, seq));
        }
        for (s, _) in info.instances.iter().flatten() {
            self.by_start.remove(&(*s, seq));
        }
        self.long.remove(&seq);
        for t in &info.tags {
            if let Some(set) = self.tags.get_mut(t) {
                set.remove(&seq);
                if set.is_empty() {
                    self.tags.remove(t);
                }
            }
        }
        if let Some((lat, lon)) = info.geo {
            self.geo.remove(&(lat, lon, seq));
        }
        if self.by_ident.get(&info.ident()) == Some(&seq) {
            self.by_ident.remove(&info.ident());
        }
    }
}
