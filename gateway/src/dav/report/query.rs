//! calendar-query (RFC 4791 §7.8): the items matching a filter, most often a time range.

use axum::response::Response;
use chrono::{DateTime, Utc};
use discal_protocol::view::bounded_window;
use discal_protocol::EventKey;
use discal_store::StoredEvent;

use super::filter::{CompFilter, Range};
use super::Report;
use crate::dav::error::DavError;
use crate::dav::members::{cached_item, MAX_ITEMS};
use crate::dav::multistatus::Pending;
use crate::dav::objects::item_ics;
use crate::dav::path::Res;
use crate::dav::xml::{El, CALDAV};
use crate::read::{fetch, store_query, today};

pub(super) fn run(r: &Report<'_>, res: &Res, root: &El) -> Result<Response, DavError> {
    let filter = match root
        .child(CALDAV, "filter")
        .and_then(|f| f.child(CALDAV, "comp-filter"))
    {
        Some(c) => Some(CompFilter::parse_filter(c)?),
        None => None,
    };
    if let Some(f) = &filter {
        if f.name != "VCALENDAR" {
            return Err(DavError::unsupported_filter("comp-filter"));
        }
        if f.matches_nothing() {
            return r.answer(&[], None);
        }
    }
    // The VEVENT's range is the store's to answer, against the instances.
    let range = filter
        .as_ref()
        .and_then(|f| {
            f.comps
                .iter()
                .find(|c| c.name == "VEVENT" && !c.not_defined)
        })
        .and_then(|c| c.range)
        // RFC 4791 §9.9 wants one end at least; an empty range is read as none.
        .filter(|r| r.start.is_some() || r.end.is_some());
    let mut f = r.coll.filter();
    let window = match range {
        None => f.window(today(r.gw, &f), None),
        // An open end lies MAX_DAYS from the other, as in every view (docs/caldav.md).
        Some(Range { start, end }) => Some(
            bounded_window(start, end)
                .ok_or_else(|| DavError::BadRequest("time-range lies outside 1900–2199".into()))?,
        ),
    };
    f.offset = 0;
    let only = match res {
        Res::Item(_, k) => Some(k.clone()),
        _ => None,
    };
    let objects = filter.as_ref().filter(|f| f.needs_objects());
    let pending = if r.from_index && objects.is_none() && f.near.is_none() {
        from_index(r, &f, window, only.as_ref())?
    } else {
        // The circle of a `near` view and filters on properties need the events themselves.
        fetch(&r.gw.store, &f, window, MAX_ITEMS, true)?
            .hits
            .into_iter()
            .filter(|h| {
                only.as_ref().is_none_or(|k| *k == h.event.key())
                    && r.coll.admits(&h.event)
                    && objects.is_none_or(|q| matches_object(q, &h.event))
            })
            .map(|h| Pending::Ev(Box::new(h.event)))
            .collect()
    };
    r.answer(&pending, None)
}

/// Evaluates a filter on the event's calendar object as a client would read it.
fn matches_object(filter: &CompFilter, ev: &StoredEvent) -> bool {
    let text = item_ics(ev, &ev.payload.uid);
    let unfolded = icalendar::parser::unfold(&text);
    match icalendar::parser::read_calendar(&unfolded) {
        Ok(cal) => filter.matches_calendar(&cal),
        Err(e) => {
            // The server's own writing: a bug, not the client's.
            tracing::error!(uid = %ev.payload.uid, error = %e, "calendar object does not parse");
            false
        }
    }
}

/// The matches from the store's indexes, each answered from the object cache where it can be
/// and read only where it cannot.
fn from_index(
    r: &Report<'_>,
    f: &discal_protocol::view::ViewFilter,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    only: Option<&EventKey>,
) -> Result<Vec<Pending>, DavError> {
    let query = store_query(f, window, MAX_ITEMS, true);
    let mut pending = Vec::new();
    for h in r.gw.store.query_keys(&query)?.hits {
        if only.is_some_and(|k| *k != h.key) {
            continue;
        }
        if let Some(ev) = h.event {
            pending.push(Pending::Ev(ev));
        } else if let Some(p) = cached_item(r.gw, &h.key, h.merge) {
            pending.push(p);
        } else if let Some(ev) = r.gw.store.event_at(h.seq)? {
            pending.push(Pending::Ev(Box::new(ev)));
        }
        // Else it was replaced since the query: it is in the next sync.
    }
    Ok(pending)
}
