//! REPORT (RFC 4791 §7, RFC 6578 §3): what every report shares — the collection it runs on,
//! the properties asked for, how calendar data is sent — and the rendering of its answer. Each
//! report's own logic is in its file.

mod filter;
mod freebusy;
mod multiget;
mod query;
mod sync;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use axum::response::{IntoResponse, Response};
use discal_store::StoredEvent;

use super::error::DavError;
use super::multistatus::{Ms, Pending};
use super::objects::{calendar_data, data_mode, DataMode};
use super::path::{Coll, Hrefs, Res};
use super::props::{index_only, p, prop_value, PropName};
use super::xml::{El, CALDAV, DAV};
use crate::Gateway;

/// A report being answered.
pub(super) struct Report<'a> {
    gw: &'a Gateway,
    /// The collection the report was sent to (for an item: its collection).
    coll: Coll,
    /// The store's change sequence when the report started.
    seq: u64,
    /// The account asking, if any.
    who: Option<&'a str>,
    /// Properties asked for.
    names: Vec<PropName>,
    /// How `calendar-data` is sent, if asked for.
    mode: Option<DataMode>,
    /// Every property asked for can come from the index and the object cache, without
    /// reading the record: what most clients ask (ETag and calendar data).
    from_index: bool,
    /// Bytes of property values made for this answer so far (expanded calendar data above
    /// all), and whether they passed [`MAX_MADE_BYTES`].
    made: AtomicUsize,
    over: AtomicBool,
}

/// The most bytes of property values one report may make (cached calendar objects are not
/// counted: they exist already). A report that would make more is answered 507 with
/// `DAV:number-of-matches-within-limits` instead, having stopped making them there.
pub const MAX_MADE_BYTES: usize = 48 << 20;

/// Answers a REPORT whose body was parsed into `root`.
pub(super) fn report<'a>(
    gw: &'a Gateway,
    res: &Res,
    root: &El,
    who: Option<&'a str>,
) -> Result<Response, DavError> {
    if root.is(DAV, "principal-property-search") {
        return principal_search(gw, root, who);
    }
    if root.is(DAV, "principal-search-property-set") {
        return Ok(principal_search_set());
    }
    let coll = match res {
        // A report on an item is a report on its collection, limited to that item.
        Res::Coll(c) | Res::Item(c, _) => c.clone(),
        _ => return Err(DavError::unsupported_report()),
    };
    let prop = root.child(DAV, "prop");
    let names: Vec<PropName> = prop
        .map(|p| {
            p.children
                .iter()
                .map(|c| (c.ns.clone(), c.name.clone()))
                .collect()
        })
        .unwrap_or_else(|| vec![p(DAV, "getetag")]);
    let mode = data_mode(prop)?;
    // An account's calendar is a few events whose membership the index does not know.
    let from_index = !matches!(coll, Coll::User(_))
        && matches!(mode, None | Some(DataMode::Full))
        && names.iter().all(|n| {
            index_only(std::slice::from_ref(n)) || (n.0 == CALDAV && n.1 == "calendar-data")
        });
    let r = Report {
        gw,
        coll,
        seq: gw.store.last_seq()?,
        who,
        names,
        mode,
        from_index,
        made: AtomicUsize::new(0),
        over: AtomicBool::new(false),
    };
    if root.is(CALDAV, "calendar-multiget") {
        multiget::run(&r, root)
    } else if root.is(CALDAV, "calendar-query") {
        query::run(&r, res, root)
    } else if root.is(DAV, "sync-collection") {
        sync::run(&r, root)
    } else if root.is(CALDAV, "free-busy-query") {
        freebusy::run(&r, root)
    } else {
        Err(DavError::unsupported_report())
    }
}

/// principal-property-search (RFC 3744 §9.4), on any resource: the only principal a caller
/// may find is their own (account names are not published), when its display name holds the
/// text searched for (`DAV:displayname`, the property this server searches; other properties
/// match nothing). Anonymous callers find none. python `caldav`'s `search_principals` and
/// attendee lookups in calendar apps send it.
fn principal_search(gw: &Gateway, root: &El, who: Option<&str>) -> Result<Response, DavError> {
    let any = root.attr("test") == Some("anyof");
    let tests: Vec<bool> = root
        .children_named(DAV, "property-search")
        .map(|ps| {
            let text = ps
                .child(DAV, "match")
                .map_or("", |m| m.text.trim())
                .to_lowercase();
            let on_name = ps
                .child(DAV, "prop")
                .is_some_and(|p| p.child(DAV, "displayname").is_some());
            on_name && who.is_some_and(|w| w.to_lowercase().contains(&text))
        })
        .collect();
    let matched = if any && !tests.is_empty() {
        tests.iter().any(|t| *t)
    } else {
        tests.iter().all(|t| *t)
    };
    // python caldav 3 puts the properties it wants beside an empty `DAV:prop` rather than in
    // it: both are read.
    let names: Vec<PropName> = root
        .children
        .iter()
        .flat_map(|c| match c.is(DAV, "prop") {
            true => c.children.iter().collect(),
            false => vec![c],
        })
        .filter(|c| {
            !(c.ns == DAV
                && matches!(
                    c.name.as_str(),
                    "property-search" | "apply-to-principal-collection-set"
                ))
        })
        .map(|c| (c.ns.clone(), c.name.clone()))
        .collect();
    let mut ms = Ms::new();
    if let (Some(w), true) = (who, matched) {
        let (found, missing) = super::props::props_of(
            gw,
            &Res::Principal,
            None,
            (gw.store.last_seq()?, Some(w)),
            &names,
        );
        ms.response(&super::props::principal_href(Some(w)), &found, &missing);
    }
    Ok(ms.finish(None))
}

/// principal-search-property-set (RFC 3744 §9.5): the display name is what can be searched.
fn principal_search_set() -> Response {
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:principal-search-property-set \
        xmlns:D=\"DAV:\"><D:principal-search-property><D:prop><D:displayname/></D:prop>\
        <D:description xml:lang=\"en\">Display name</D:description>\
        </D:principal-search-property></D:principal-search-property-set>\n";
    (
        axum::http::StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/xml; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

impl Report<'_> {
    /// One event's response with the properties asked for.
    fn item(&self, ms: &mut Ms, ev: &StoredEvent, hrefs: &mut Hrefs) {
        if self.over.load(Relaxed) {
            return;
        }
        let r = Res::Item(self.coll.clone(), ev.key());
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for n in &self.names {
            if n.0 == CALDAV && n.1 == "calendar-data" {
                let mode = self.mode.unwrap_or(DataMode::Full);
                let Some(data) = calendar_data(self.gw, ev, mode) else {
                    // More instances than an expansion may make: refuse rather than cut.
                    self.over.store(true, Relaxed);
                    return;
                };
                found.push((n.clone(), data));
            } else {
                match prop_value(self.gw, &r, Some(ev), (self.seq, self.who), n) {
                    Some(v) => found.push((n.clone(), v.into())),
                    None => missing.push(n.clone()),
                }
            }
        }
        let bytes: usize = found.iter().map(|(_, v)| v.len()).sum();
        if self.made.fetch_add(bytes, Relaxed) + bytes > MAX_MADE_BYTES {
            self.over.store(true, Relaxed);
            return;
        }
        ms.response(
            &hrefs.of(&ev.payload.origin, &ev.payload.uid),
            &found,
            &missing,
        );
    }

    /// The multistatus of `pending`, with a sync token when one is given.
    fn answer(&self, pending: &[Pending], token: Option<u64>) -> Result<Response, DavError> {
        self.answer_cut(pending, token.map(super::path::sync_token), false)
    }

    /// [`Self::answer`], saying whether it was cut at the client's `DAV:limit`.
    fn answer_cut(
        &self,
        pending: &[Pending],
        token: Option<String>,
        cut: bool,
    ) -> Result<Response, DavError> {
        let mut ms = Ms::new();
        ms.render(&self.coll, &self.names, pending, |ms, ev, hrefs| {
            self.item(ms, ev, hrefs)
        });
        if self.over.load(Relaxed) {
            return Err(DavError::TooLarge);
        }
        if cut {
            ms.cut(&self.coll.href());
        }
        Ok(ms.finish_with(token))
    }
}
