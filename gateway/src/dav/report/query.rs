//! calendar-query (RFC 4791 §7.8): the items matching a filter, most often a time range.

use axum::response::Response;
use chrono::{DateTime, Utc};
use discal_protocol::view::bounded_window;
use discal_protocol::EventKey;
use discal_store::StoredEvent;

use super::Report;
use crate::dav::error::DavError;
use crate::dav::members::{cached_item, MAX_ITEMS};
use crate::dav::multistatus::Pending;
use crate::dav::objects::parse_utc;
use crate::dav::path::Res;
use crate::dav::xml::{El, CALDAV};
use crate::read::{fetch, store_query, today};

pub(super) fn run(r: &Report<'_>, res: &Res, root: &El) -> Result<Response, DavError> {
    let q = CalQuery::parse(root.child(CALDAV, "filter"))?;
    if !q.vevent {
        return r.answer(&[], None);
    }
    let mut f = r.coll.filter();
    let window = match (q.start, q.end) {
        (None, None) => f.window(today(r.gw, &f), None),
        (Some(a), Some(b)) if b <= a => {
            return Err(DavError::BadRequest(
                "time-range end must be after start".into(),
            ))
        }
        // An open end lies MAX_DAYS from the other, as in every view (docs/caldav.md).
        (a, b) => Some(
            bounded_window(a, b)
                .ok_or_else(|| DavError::BadRequest("time-range lies outside 1900–2199".into()))?,
        ),
    };
    f.offset = 0;
    let only = match res {
        Res::Item(_, k) => Some(k.clone()),
        _ => None,
    };
    let pending = if r.from_index && q.text.is_empty() && f.near.is_none() {
        from_index(r, &f, window, only.as_ref())?
    } else {
        // The circle of a `near` view and text matches need the events themselves.
        fetch(&r.gw.store, &f, window, MAX_ITEMS, true)?
            .hits
            .into_iter()
            .filter(|h| {
                only.as_ref().is_none_or(|k| *k == h.event.key())
                    && r.coll.admits(&h.event)
                    && q.matches(&h.event)
            })
            .map(|h| Pending::Ev(Box::new(h.event)))
            .collect()
    };
    r.answer(&pending, None)
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

/// The parts of a calendar-query filter this server evaluates.
struct CalQuery {
    /// The filter asks for VEVENTs (a VTODO query matches nothing here).
    vevent: bool,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    /// (property, text, negate) from prop-filter/text-match.
    text: Vec<(String, String, bool)>,
}

impl CalQuery {
    fn parse(filter: Option<&El>) -> Result<Self, DavError> {
        let mut q = Self {
            vevent: true,
            start: None,
            end: None,
            text: Vec::new(),
        };
        let Some(filter) = filter else {
            return Ok(q);
        };
        let unsupported = DavError::unsupported_filter;
        let Some(cal) = filter.child(CALDAV, "comp-filter") else {
            return Ok(q);
        };
        if !cal
            .attr("name")
            .is_some_and(|n| n.eq_ignore_ascii_case("VCALENDAR"))
        {
            return Err(unsupported("comp-filter"));
        }
        let Some(inner) = cal.child(CALDAV, "comp-filter") else {
            return Ok(q);
        };
        q.vevent = inner
            .attr("name")
            .is_some_and(|n| n.eq_ignore_ascii_case("VEVENT"));
        for c in &inner.children {
            if c.is(CALDAV, "time-range") {
                let bad = || {
                    DavError::BadRequest(
                        "time-range start/end must be UTC date-times (YYYYMMDDTHHMMSSZ)".into(),
                    )
                };
                q.start = match c.attr("start") {
                    Some(s) => Some(parse_utc(s).ok_or_else(bad)?),
                    None => None,
                };
                q.end = match c.attr("end") {
                    Some(s) => Some(parse_utc(s).ok_or_else(bad)?),
                    None => None,
                };
            } else if c.is(CALDAV, "prop-filter") {
                let name = c.attr("name").unwrap_or("").to_ascii_uppercase();
                let Some(tm) = c.child(CALDAV, "text-match") else {
                    return Err(unsupported("prop-filter"));
                };
                let negate = tm.attr("negate-condition") == Some("yes");
                q.text.push((name, tm.text.to_lowercase(), negate));
            } else if c.is(CALDAV, "is-not-defined") {
                q.vevent = false;
            } else {
                return Err(unsupported(&c.name));
            }
        }
        Ok(q)
    }

    fn matches(&self, e: &StoredEvent) -> bool {
        let m = &e.content().master;
        self.text.iter().all(|(prop, text, negate)| {
            let v = match prop.as_str() {
                "SUMMARY" => m.summary.clone(),
                "DESCRIPTION" => m.description.clone(),
                "LOCATION" => m.location.clone(),
                "UID" => Some(e.payload.uid.clone()),
                "CATEGORIES" => Some(m.categories.join(",")),
                _ => None,
            };
            let hit = v.is_some_and(|v| v.to_lowercase().contains(text.as_str()));
            hit != *negate
        })
    }
}
