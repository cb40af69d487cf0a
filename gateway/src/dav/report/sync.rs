//! sync-collection (RFC 6578): every member without a token, the changes since one with it.
//!
//! RFC 6578 says Depth 0 (the sync-level element carries the depth), but DAVx5 and Thunderbird
//! send Depth 1 and vdirsyncer none, so any Depth is accepted.

use std::collections::{HashMap, HashSet};

use axum::response::Response;
use discal_protocol::NodeKey;
use discal_store::StoredEvent;

use super::Report;
use crate::dav::error::DavError;
use crate::dav::members::{grouping, id_of, index_listing, members};
use crate::dav::multistatus::{Ms, Pending};
use crate::dav::path::{paged_token, parse_token, sync_token, Coll, Hrefs};
use crate::dav::props::index_only;
use crate::dav::xml::{El, DAV};

pub(super) fn run(r: &Report<'_>, root: &El) -> Result<Response, DavError> {
    let token = root
        .child(DAV, "sync-token")
        .map(|t| t.text.trim())
        .unwrap_or("");
    let limit = limit(root)?;
    if token.is_empty() {
        return initial(r, limit);
    }
    let (since, began) = match parse_token(token) {
        Some((s, b)) if s <= r.seq && b <= r.seq => (s, b),
        _ => return Err(DavError::Precondition("<D:valid-sync-token/>".into())),
    };
    // In a first sync paged at the client's limit, a change up to `began` came before the
    // first page's listing: an event it took out of the calendar was never listed, so it is
    // not reported removed.
    let before = |ev: &StoredEvent| ev.seq <= began;
    let changed = r.gw.store.changes_since(since, usize::MAX)?;
    // Whether the collection reports a change at all (views and the aggregate calendar
    // report every change: an update, a removal, or a listing represented anew).
    let reports = |ev: &StoredEvent| match &r.coll {
        Coll::User(o) => o.concerns(&ev.key()) && !(before(ev) && ev.content().is_cancelled()),
        Coll::Origin(k) => ev.payload.origin == *k,
        _ => true,
    };
    let (changed, cut) = page(changed, limit, reports);
    let r = &Page {
        r,
        token: match cut {
            Some(n) => paged_token(n, began),
            None => sync_token(r.seq),
        },
        cut: cut.is_some(),
        began,
    };
    // An origin's calendar never loses events (a cancellation is a revision). The aggregate
    // calendar and views need their current members: an event leaves a view when it no
    // longer matches, and a listing leaves both when another listing of the same real event
    // represents it (docs/operators.md, "One entry for one real event").
    // An account's calendar loses an event when it is cancelled.
    if let Coll::User(_) = &r.coll {
        let pending: Vec<Pending> = changed
            .into_iter()
            .filter(reports)
            .map(|ev| match ev.content().is_cancelled() {
                true => Pending::Gone(r.coll.item_href(&ev)),
                false => Pending::Ev(Box::new(ev)),
            })
            .collect();
        return r.answer(&pending);
    }
    if let Coll::Origin(_) = &r.coll {
        let pending: Vec<Pending> = changed
            .into_iter()
            .filter(reports)
            .map(|ev| Pending::Ev(Box::new(ev)))
            .collect();
        return r.answer(&pending);
    }
    if let Coll::All = &r.coll {
        return all_since(r, changed);
    }
    let now = Members::of(members(r.gw, &r.coll)?);
    let mut hrefs = Hrefs::new(&r.coll);
    let mut out = Out::default();
    let mut push = |p: Pending, href: String| out.push(p, href);
    for ev in changed {
        let id = (ev.payload.origin, ev.payload.uid.clone());
        let href = r.coll.item_href(&ev);
        let listed_before = ev.seq <= r.began;
        if let Some(h) = now.by_id.get(&id) {
            // A listing it now represents was a member before: gone.
            for a in now.hits[*h].also.iter().filter(|_| !listed_before) {
                push(
                    Pending::Gone(hrefs.of(&a.origin, &a.uid)),
                    hrefs.of(&a.origin, &a.uid),
                );
            }
            push(Pending::Ev(Box::new(ev)), href);
        } else if !listed_before {
            push(Pending::Gone(href.clone()), href);
            // Represented by another listing, which may not have changed itself.
            if let Some(rep) = now.rep_of.get(&id) {
                let e = &now.hits[*rep].event;
                push(Pending::Ev(Box::new(e.clone())), r.coll.item_href(e));
            }
        }
    }
    r.answer(&out.pending)
}

/// A delta's answer: up to its token, and whether it stopped short of the newest change.
struct Page<'a, 'b> {
    r: &'a Report<'b>,
    token: String,
    cut: bool,
    /// When the first sync this delta continues began (0: not a paged first sync).
    began: u64,
}

impl<'b> std::ops::Deref for Page<'_, 'b> {
    type Target = Report<'b>;
    fn deref(&self) -> &Report<'b> {
        self.r
    }
}

impl Page<'_, '_> {
    fn answer(&self, pending: &[Pending]) -> Result<Response, DavError> {
        self.r
            .answer_cut(pending, Some(self.token.clone()), self.cut)
    }
}

/// `DAV:limit` (RFC 6578 §3.6), if asked for: the most changed members one answer reports.
fn limit(root: &El) -> Result<Option<usize>, DavError> {
    let Some(l) = root.child(DAV, "limit") else {
        return Ok(None);
    };
    // A number too large to hold asks for no limit at all.
    let n = l
        .child(DAV, "nresults")
        .map(|n| n.text.trim())
        .unwrap_or("");
    let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| n.parse::<usize>().unwrap_or(usize::MAX))
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| {
            DavError::BadRequest("DAV:limit needs DAV:nresults, a positive number".into())
        })
}

/// Cuts `changed` (oldest change first) after the `limit`th event the collection reports: the
/// answer's token is then that event's change, from which the client asks for the rest.
fn page(
    mut changed: Vec<StoredEvent>,
    limit: Option<usize>,
    reported: impl Fn(&StoredEvent) -> bool,
) -> (Vec<StoredEvent>, Option<u64>) {
    let Some(limit) = limit else {
        return (changed, None);
    };
    let mut seen = 0;
    let Some(at) = changed.iter().position(|ev| {
        seen += usize::from(reported(ev));
        seen == limit
    }) else {
        return (changed, None);
    };
    if !changed[at + 1..].iter().any(&reported) {
        return (changed, None);
    }
    changed.truncate(at + 1);
    let token = changed[at].seq;
    (changed, Some(token))
}

/// The aggregate calendar's changes, membership from its kept grouping (no event is read
/// but those that changed and the representatives they bring back).
fn all_since(r: &Page<'_, '_>, changed: Vec<StoredEvent>) -> Result<Response, DavError> {
    let g = grouping(r.gw)?;
    let mut hrefs = Hrefs::new(&r.coll);
    let mut out = Out::default();
    let mut push = |p: Pending, href: String| out.push(p, href);
    for ev in changed {
        let id = id_of(&ev);
        let href = r.coll.item_href(&ev);
        // Changes before a paged first sync began are in its listing (`run`).
        let listed_before = ev.seq <= r.began;
        match g.hidden.get(&id) {
            Some(_) if listed_before => {}
            Some((origin, uid)) => {
                push(Pending::Gone(href.clone()), href);
                let key = discal_protocol::EventKey {
                    origin: *origin,
                    uid: uid.clone(),
                };
                if let Some(e) = r.gw.store.get(&key)? {
                    let h = r.coll.item_href(&e);
                    push(Pending::Ev(Box::new(e)), h);
                }
            }
            None => {
                for a in g
                    .also
                    .get(&id)
                    .into_iter()
                    .flatten()
                    .filter(|_| !listed_before)
                {
                    let h = hrefs.of(&a.origin, &a.uid);
                    push(Pending::Gone(h.clone()), h);
                }
                push(Pending::Ev(Box::new(ev)), href);
            }
        }
    }
    r.answer(&out.pending)
}

/// A delta's entries, each item once (a listing can be named by its own change and by its
/// representative's).
#[derive(Default)]
struct Out {
    sent: HashSet<String>,
    pending: Vec<Pending>,
}

impl Out {
    fn push(&mut self, p: Pending, href: String) {
        if self.sent.insert(href) {
            self.pending.push(p);
        }
    }
}

type Id = (NodeKey, String);

/// A collection's members now, by identity, and the listings they represent.
struct Members {
    hits: Vec<discal_store::Hit>,
    by_id: HashMap<Id, usize>,
    rep_of: HashMap<Id, usize>,
}

impl Members {
    fn of(hits: Vec<discal_store::Hit>) -> Self {
        let mut by_id = HashMap::new();
        let mut rep_of = HashMap::new();
        for (i, h) in hits.iter().enumerate() {
            by_id.insert((h.event.payload.origin, h.event.payload.uid.clone()), i);
            for a in &h.also {
                rep_of.insert((a.origin, a.uid.clone()), i);
            }
        }
        Self {
            hits,
            by_id,
            rep_of,
        }
    }
}

/// The first sync: every member, from the index alone when only index properties are asked.
/// With a `DAV:limit` smaller than the calendar, the members whose latest change is oldest,
/// and a token at the last of them: every other member changed after it, so the next delta
/// brings it.
fn initial(r: &Report<'_>, limit: Option<usize>) -> Result<Response, DavError> {
    if let Some(n) = limit {
        let mut hits = members(r.gw, &r.coll)?;
        if hits.len() > n {
            hits.sort_unstable_by_key(|h| h.event.seq);
            hits.truncate(n);
            let token = hits.last().map_or(0, |h| h.event.seq);
            let pending: Vec<Pending> = hits
                .into_iter()
                .map(|h| Pending::Ev(Box::new(h.event)))
                .collect();
            return r.answer_cut(&pending, Some(paged_token(token, r.seq)), true);
        }
    }
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
