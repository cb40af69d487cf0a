//! sync-collection (RFC 6578): every member without a token, the changes since one with it.
//!
//! RFC 6578 says Depth 0 (the sync-level element carries the depth), but DAVx5 and Thunderbird
//! send Depth 1 and vdirsyncer none, so any Depth is accepted.

use std::collections::HashSet;

use axum::response::Response;
use discal_protocol::NodeKey;

use super::Report;
use crate::dav::error::DavError;
use crate::dav::members::{index_listing, members};
use crate::dav::multistatus::{Ms, Pending};
use crate::dav::path::{parse_token, Coll};
use crate::dav::props::index_only;
use crate::dav::xml::{El, DAV};

pub(super) fn run(r: &Report<'_>, root: &El) -> Result<Response, DavError> {
    let token = root
        .child(DAV, "sync-token")
        .map(|t| t.text.trim())
        .unwrap_or("");
    if token.is_empty() {
        return initial(r);
    }
    let since = match parse_token(token) {
        Some(s) if s <= r.seq => s,
        _ => return Err(DavError::Precondition("<D:valid-sync-token/>".into())),
    };
    let changed = r.gw.store.changes_since(since, usize::MAX)?;
    // Aggregate and origin calendars never lose events (a cancellation is a revision); only a
    // view needs its current members to tell removals.
    let now: Option<HashSet<(NodeKey, String)>> = match &r.coll {
        Coll::View(..) => Some(
            members(r.gw, &r.coll)?
                .iter()
                .map(|h| (h.event.payload.origin, h.event.payload.uid.clone()))
                .collect(),
        ),
        _ => None,
    };
    let mut pending = Vec::new();
    for ev in changed {
        let member = match (&r.coll, &now) {
            (Coll::Origin(k), _) => ev.payload.origin == *k,
            (_, Some(now)) => now.contains(&(ev.payload.origin, ev.payload.uid.clone())),
            _ => true,
        };
        if member {
            pending.push(Pending::Ev(Box::new(ev)));
        } else if matches!(r.coll, Coll::View(..)) {
            // It changed and no longer matches the view: gone from it.
            pending.push(Pending::Gone(r.coll.item_href(&ev)));
        }
    }
    r.answer(&pending, Some(r.seq))
}

/// The first sync: every member, from the index alone when only index properties are asked.
fn initial(r: &Report<'_>) -> Result<Response, DavError> {
    if index_only(&r.names) {
        if let Some(listing) = index_listing(r.gw, &r.coll) {
            let mut ms = Ms::new();
            for (href, etag) in &listing? {
                ms.cached(href, &r.names, etag, "");
            }
            return Ok(ms.finish(Some(r.seq)));
        }
    }
    let pending: Vec<Pending> = members(r.gw, &r.coll)?
        .into_iter()
        .map(|h| Pending::Ev(Box::new(h.event)))
        .collect();
    r.answer(&pending, Some(r.seq))
}
