//! REPORT (RFC 4791 §7, RFC 6578 §3): what every report shares — the collection it runs on,
//! the properties asked for, how calendar data is sent — and the rendering of its answer. Each
//! report's own logic is in its file.

mod multiget;
mod query;
mod sync;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

use axum::response::Response;
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
    } else {
        Err(DavError::unsupported_report())
    }
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
        let mut ms = Ms::new();
        ms.render(&self.coll, &self.names, pending, |ms, ev, hrefs| {
            self.item(ms, ev, hrefs)
        });
        if self.over.load(Relaxed) {
            return Err(DavError::TooLarge);
        }
        Ok(ms.finish(token))
    }
}
