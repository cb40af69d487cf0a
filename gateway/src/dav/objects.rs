//! Calendar object resources: each revision's iCalendar text (cached, escaped for XML), and
//! the expanded form `C:expand` asks for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use discal_protocol::model::{DateTimeValue, End, EventContent, LocalDateTime};
use discal_store::{Store, StoredEvent};

use super::error::DavError;
use super::xml::{El, CALDAV};
use crate::{feeds, Gateway};

/// What `calendar-data` asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum DataMode {
    /// The event as stored.
    Full,
    /// One VEVENT per instance in `[from, to)`, in UTC, without recurrence rules.
    Expand(DateTime<Utc>, DateTime<Utc>),
}

pub(super) fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

/// The longest window `C:expand` may ask for: each instance becomes a VEVENT of its own, so the
/// answer grows with the window (a year of a daily event is 365 components). Longer windows
/// are refused (403, `C:max-date-time`); clients ask for weeks or months.
pub const MAX_EXPAND_DAYS: i64 = 366;

pub(super) fn data_mode(prop: Option<&El>) -> Result<Option<DataMode>, DavError> {
    let Some(cd) = prop.and_then(|p| p.child(CALDAV, "calendar-data")) else {
        return Ok(None);
    };
    if let Some(x) = cd.child(CALDAV, "expand") {
        let (Some(a), Some(b)) = (
            x.attr("start").and_then(parse_utc),
            x.attr("end").and_then(parse_utc),
        ) else {
            return Err(DavError::BadRequest(
                "C:expand needs start and end as UTC date-times (YYYYMMDDTHHMMSSZ)".into(),
            ));
        };
        if b <= a {
            return Err(DavError::BadRequest(
                "C:expand end must be after start".into(),
            ));
        }
        let (lo, hi) = discal_protocol::view::limits();
        if b - a > chrono::Duration::days(MAX_EXPAND_DAYS) || a < lo || b > hi {
            return Err(DavError::Precondition("<C:max-date-time/>".into()));
        }
        return Ok(Some(DataMode::Expand(a, b)));
    }
    // limit-recurrence-set lets a server send more than asked: the whole event is sent.
    Ok(Some(DataMode::Full))
}

/// The calendar data of `ev` as `mode` asks; `None` when its expansion was cut short by the
/// expansion limits (the answer would be wrong, so the report is refused instead).
pub(super) fn calendar_data(gw: &Gateway, ev: &StoredEvent, mode: DataMode) -> Option<Arc<str>> {
    match mode {
        DataMode::Full => Some(gw.dav_objects.get_or_make(&gw.store, ev)),
        DataMode::Expand(from, to) => expanded(gw, ev, from, to).map(|s| xml_text(&s)),
    }
}

/// Text content needs only `<`, `&` and `>` escaped; iCalendar text rarely has any. What XML
/// cannot carry at all ([`super::xml::xml_char`]: a peer's title may hold U+FFFE) is dropped.
pub(super) fn xml_text(ics: &str) -> Arc<str> {
    quick_xml::escape::partial_escape(&*super::xml::xml_chars(ics)).into()
}

/// Each event revision's calendar object, escaped for a multistatus, kept once made: a
/// revision never changes, so entries are never stale, only aged out (oldest first) when the
/// cache is full. [`ObjectCache::warm`] fills it at start, so the first reports after a start
/// cost what later ones do.
pub struct ObjectCache {
    inner: Mutex<ObjectsInner>,
    max_bytes: usize,
}

#[derive(Default)]
pub(super) struct ObjectsInner {
    map: HashMap<discal_protocol::EventId, Arc<str>>,
    order: std::collections::VecDeque<discal_protocol::EventId>,
    bytes: usize,
}

impl ObjectCache {
    /// A cache of at most `max_bytes` of calendar objects.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(ObjectsInner::default()),
            max_bytes,
        }
    }

    /// Drops every object made so far: they are made again when next asked for.
    pub fn clear(&self) {
        if let Ok(mut c) = self.inner.lock() {
            *c = ObjectsInner::default();
        }
    }

    /// The calendar object of a revision, if made already.
    pub(super) fn cached(&self, id: &discal_protocol::EventId) -> Option<Arc<str>> {
        self.inner.lock().ok().and_then(|c| c.map.get(id).cloned())
    }

    /// The calendar object of `ev`, from the cache or made (and cached); an event whose UID
    /// another origin shares is written under its qualified UID and not cached (it is rare,
    /// and whether it is shared changes with the store).
    pub(super) fn get_or_make(&self, store: &Store, ev: &StoredEvent) -> Arc<str> {
        if store.uid_is_shared(&ev.payload.uid).unwrap_or(true) {
            return xml_text(&item_ics(ev, &crate::public_uid(store, ev)));
        }
        if let Some(v) = self
            .inner
            .lock()
            .ok()
            .and_then(|c| c.map.get(&ev.id).cloned())
        {
            return v;
        }
        let v = xml_text(&item_ics(ev, &ev.payload.uid));
        self.put(ev.id, v.clone());
        v
    }

    /// Stores `v`, evicting the oldest entries if needed; false if it did not fit without
    /// evicting (warming stops there rather than evict what it just made).
    pub(super) fn put(&self, id: discal_protocol::EventId, v: Arc<str>) -> bool {
        let Ok(mut c) = self.inner.lock() else {
            return false;
        };
        if c.map.contains_key(&id) {
            return true;
        }
        let full = c.bytes + v.len() > self.max_bytes;
        while c.bytes + v.len() > self.max_bytes {
            let Some(old) = c.order.pop_front() else {
                return false;
            };
            if let Some(o) = c.map.remove(&old) {
                c.bytes -= o.len();
            }
        }
        c.bytes += v.len();
        c.order.push_back(id);
        c.map.insert(id, v);
        !full
    }

    /// Renders the newest events' calendar objects until the cache is full (and so also makes
    /// the VTIMEZONEs of the zones in use). Meant for a background thread at start.
    pub fn warm(&self, store: &discal_store::Store) -> Result<usize, discal_store::StoreError> {
        let mut n = 0;
        let mut after = 0;
        loop {
            let batch = store.changes_since(after, 1000)?;
            let Some(last) = batch.last() else {
                return Ok(n);
            };
            after = last.seq;
            for ev in &batch {
                if store.uid_is_shared(&ev.payload.uid)? {
                    continue;
                }
                if !self.put(ev.id, xml_text(&item_ics(ev, &ev.payload.uid))) {
                    return Ok(n);
                }
                n += 1;
            }
        }
    }
}

/// One event as a calendar object resource: its VTIMEZONEs and VEVENTs, nothing else.
pub(super) fn item_ics(ev: &StoredEvent, uid: &str) -> String {
    let mut zones = std::collections::BTreeSet::new();
    feeds::tzids(ev, &mut zones);
    let mut header = String::new();
    for z in &zones {
        if let Some(v) = feeds::vtimezone(z) {
            header.push_str(&v);
        }
    }
    discal_protocol::ics::write_calendar([crate::ics_event_as(ev, uid)], &[header])
}

/// The instances of an event in a window as separate VEVENTs with UTC times and a
/// RECURRENCE-ID each (RFC 4791 §9.6.5).
pub(super) fn expanded(
    gw: &Gateway,
    ev: &StoredEvent,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Option<String> {
    let c = ev.content();
    let x = discal_protocol::recur::expand(
        c,
        from,
        to,
        chrono_tz::UTC,
        discal_protocol::recur::ExpandLimits::default(),
    )
    .unwrap_or_default();
    if x.truncated {
        return None;
    }
    let utc = |t: DateTime<Utc>| DateTimeValue::Utc(LocalDateTime::from_chrono(t.naive_utc()));
    let mut comps = Vec::new();
    for o in &x.occurrences {
        let mut comp = match o.component {
            0 => c.master.clone(),
            i => c
                .overrides
                .get(i - 1)
                .cloned()
                .unwrap_or_else(|| c.master.clone()),
        };
        let rid_local = DateTimeValue::Zoned {
            local: o.recurrence_id,
            tzid: c.master.start.tzid().unwrap_or("UTC").to_owned(),
        };
        let rid = match &c.master.start {
            DateTimeValue::Zoned { .. } => {
                discal_protocol::recur::instant(&rid_local, chrono_tz::UTC)
                    .map(utc)
                    .unwrap_or_else(|_| utc(o.start))
            }
            DateTimeValue::Date(_) => DateTimeValue::Date(o.recurrence_id.date),
            DateTimeValue::Utc(_) => DateTimeValue::Utc(o.recurrence_id),
            DateTimeValue::Floating(_) => DateTimeValue::Floating(o.recurrence_id),
        };
        if o.all_day {
            let d = |t: DateTime<Utc>| {
                DateTimeValue::Date(discal_protocol::model::Date::from_chrono(t.date_naive()))
            };
            comp.start = d(o.start);
            comp.end = Some(End::At(d(o.end)));
        } else {
            comp.start = utc(o.start);
            comp.end = Some(End::At(utc(o.end)));
        }
        comp.rrule = None;
        comp.rdates.clear();
        comp.exdates.clear();
        if x.occurrences.len() > 1 || c.master.is_recurring() {
            comp.recurrence_id = Some(rid);
        }
        comps.push(comp);
    }
    let Some((first, rest)) = comps.split_first() else {
        return Some(feeds::ics_calendar(
            &gw.store,
            &gw.name,
            std::iter::empty(),
            None,
        ));
    };
    let mut content = EventContent::new(first.clone());
    content.overrides = rest.to_vec();
    let uid = crate::public_uid(&gw.store, ev);
    let ics = discal_protocol::ics::IcsEvent {
        uid: &uid,
        content: &content,
        revision: ev.payload.revision,
        hop: ev.transit.hop.into(),
        issued: crate::issued_local(ev.payload.issued_at_ms),
    };
    Some(discal_protocol::ics::write_calendar([ics], &[]))
}
