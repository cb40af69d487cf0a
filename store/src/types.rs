//! What callers put in and get out: stored events, query descriptions and their answers.

use bincode::{Decode, Encode};
use chrono::{DateTime, Utc};
use discal_protocol::envelope::SignedPayload;
use discal_protocol::model::EventContent;
use discal_protocol::recur::Occurrence;
use discal_protocol::{Envelope, EventId, EventKey, MergeKey, MergeOutcome, NodeKey, Tz};

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
    pub(crate) fn contains(&self, lat: f64, lon: f64) -> bool {
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
    /// Case-insensitive substring of LOCATION.
    pub place: Option<String>,
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
            place: None,
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
    /// Other listings of the same real event that the answer shows as this one (the
    /// collector's view; filled by the read path, empty from the store).
    pub also: Vec<Also>,
}

/// Another listing of the same real event: another origin's event, or another source's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Also {
    /// Its origin.
    pub origin: NodeKey,
    /// Its UID there.
    pub uid: String,
    /// The source it was taken from (`X-DISCAL-SOURCE`), if it was.
    pub source: Option<String>,
}

/// One match of [`crate::Store::query_keys`]: what the indexes know of it, and the event itself only
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

/// [`crate::Store::query_keys`]'s answer.
#[derive(Clone, Debug, Default)]
pub struct KeyResult {
    /// Matches, ordered like [`QueryResult::hits`].
    pub hits: Vec<KeyHit>,
    /// True if `limit` or an expansion bound cut the answer short.
    pub truncated: bool,
}

/// One event [`crate::Store::select`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selected {
    /// Its record's sequence number.
    pub seq: u64,
    /// First start in the window (UTC seconds); estimated unless `certain`.
    pub start: i64,
    /// True if the event is known to match without reading it.
    pub certain: bool,
}

/// What [`crate::Store::select`] found, in order.
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

/// What [`crate::Store::check_integrity`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Events stored.
    pub events: u64,
    /// Index entries checked.
    pub index_entries: u64,
    /// Descriptions of every inconsistency; empty for a healthy store.
    pub problems: Vec<String>,
}
