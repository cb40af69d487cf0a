//! calendar-multiget (RFC 4791 §7.9): the items named by href.
//!
//! RFC 4791 wants Depth 0 or 1 with hrefs that name the items; Thunderbird and Apple Calendar
//! send Depth 1, python caldav and some tsdav versions send none. The hrefs alone decide what
//! is returned, so Depth is not checked.

use std::collections::HashSet;

use axum::response::Response;

use super::Report;
use crate::dav::error::DavError;
use crate::dav::members::{known, load_member, ViewMembers};
use crate::dav::multistatus::Pending;
use crate::dav::path::{resolve, same_collection, Coll, Res};
use crate::dav::quirks;
use crate::dav::xml::{El, DAV};

pub(super) fn run(r: &Report<'_>, root: &El) -> Result<Response, DavError> {
    let mut views = ViewMembers::new();
    let mut pending = Vec::new();
    let mut seen = HashSet::new();
    for h in root.children_named(DAV, "href") {
        let path = quirks::normalize_href(&h.text);
        // An href named twice is answered once (naming one item a hundred times multiplied
        // the work of the most expensive properties a hundredfold).
        if !seen.insert(path.clone()) {
            continue;
        }
        let item = match resolve(&path) {
            Ok(Res::Item(c, k)) => Some((c, k)),
            // An account's calendar names its items as its clients did.
            Ok(Res::Named(Coll::User(o), name)) => match &r.coll {
                Coll::User(mine) if mine.account == o.account => {
                    mine.key(&mine.uid_of(&name)).map(|k| (r.coll.clone(), k))
                }
                _ => None,
            },
            _ => None,
        };
        let Some((c, k)) = item else {
            pending.push(Pending::Gone(h.text.clone()));
            continue;
        };
        // Answers are rendered as items of the collection the report was sent to.
        if r.from_index && same_collection(&c, &r.coll) {
            if let Some(p) = known(r.gw, &c, &k)? {
                pending.push(p);
                continue;
            }
        }
        match load_member(r.gw, &c, &k, &mut views)? {
            Some(ev) => pending.push(Pending::Ev(ev)),
            None => pending.push(Pending::Gone(h.text.clone())),
        }
    }
    r.answer(&pending, None)
}
