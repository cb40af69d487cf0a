//! Which events a collection holds, and loading the ones a request names.

use std::collections::HashMap;
use std::sync::Arc;

use discal_protocol::{EventKey, MergeKey};
use discal_store::{Hit, StoredEvent};

use super::error::DavError;
use super::multistatus::Pending;
use super::path::{etag_of, Coll, Hrefs};
use crate::read::fetch;
use crate::Gateway;

/// Most items a collection lists or a report returns.
pub(super) const MAX_ITEMS: usize = 50_000;

/// Every event of a collection (views: those matching now), as the collector shows them: in
/// the aggregate calendar and in views, the listings of one real event are one member, the
/// others in its [`Hit::also`]; an origin's calendar lists each of its events.
pub(super) fn members(gw: &Gateway, c: &Coll) -> Result<Vec<Hit>, DavError> {
    let f = c.filter();
    let window = f.window(crate::read::today(gw, &f), None);
    Ok(match c {
        Coll::User(o) => o
            .members(gw)?
            .into_iter()
            .map(|event| Hit {
                event,
                occurrences: Vec::new(),
                also: Vec::new(),
            })
            .collect(),
        Coll::Origin(_) => fetch(&gw.store, &f, window, MAX_ITEMS, true)?.hits,
        Coll::View(..) => {
            crate::read::fetch_collected(&gw.store, &f, window, MAX_ITEMS, true)?.hits
        }
        Coll::All => {
            let g = grouping(gw)?;
            let mut hits = fetch(&gw.store, &f, window, MAX_ITEMS, true)?.hits;
            hits.retain(|h| !g.hidden.contains_key(&id_of(&h.event)));
            for h in &mut hits {
                if let Some(a) = g.also.get(&id_of(&h.event)) {
                    h.also.clone_from(a);
                }
            }
            hits
        }
    })
}

/// An event's identity: origin and UID.
pub(super) type Id = (discal_protocol::NodeKey, String);

pub(super) fn id_of(e: &StoredEvent) -> Id {
    (e.payload.origin, e.payload.uid.clone())
}

/// How the aggregate calendar groups listings now: the hidden ones with the listing that
/// represents them, and each representative's others.
#[derive(Clone, Default)]
pub struct Grouping {
    /// Hidden listing → its representative.
    pub(super) hidden: HashMap<Id, Id>,
    /// Representative → the listings it stands for.
    pub(super) also: HashMap<Id, Vec<discal_store::Also>>,
}

/// The aggregate calendar's grouping, made once per store change (and correction) and kept:
/// CalDAV clients poll, and the grouping needs every event read, where their listings and
/// syncs otherwise come from the index.
#[derive(Default)]
pub struct GroupingCache(std::sync::Mutex<Option<Kept>>);

/// A grouping with the (change sequence, corrections stamp) it was made at.
type Kept = ((u64, u64), Arc<Grouping>);

/// Changes a kept grouping is brought forward by; past this many it is made anew.
const MAX_INCREMENTAL: usize = 512;

pub(super) fn grouping(gw: &Gateway) -> Result<Arc<Grouping>, DavError> {
    let key = (gw.store.last_seq()?, gw.store.dedupe_stamp()?);
    let held = gw.dav_grouping.0.lock().ok().and_then(|h| h.clone());
    if let Some(((seq, stamp), g)) = held {
        if (seq, stamp) == key {
            return Ok(g);
        }
        // Only what changed since is regrouped, around each change.
        if stamp == key.1 && seq < key.0 {
            let changed = gw.store.changes_since(seq, MAX_INCREMENTAL + 1)?;
            if changed.len() <= MAX_INCREMENTAL {
                if let Some(g) = advance(gw, &g, &changed)? {
                    let g = Arc::new(g);
                    let at = (changed.last().map_or(seq, |e| e.seq), stamp);
                    if let Ok(mut h) = gw.dav_grouping.0.lock() {
                        *h = Some((at, g.clone()));
                    }
                    return Ok(g);
                }
            }
        }
    }
    full_grouping(gw, key)
}

/// The grouping made from every event.
pub(super) fn full_grouping(gw: &Gateway, key: (u64, u64)) -> Result<Arc<Grouping>, DavError> {
    let f = Coll::All.filter();
    let window = f.window(crate::read::today(gw, &f), None);
    let hits = crate::read::fetch_collected(&gw.store, &f, window, MAX_ITEMS, true)?.hits;
    let mut g = Grouping::default();
    for h in hits.into_iter().filter(|h| !h.also.is_empty()) {
        let rep = id_of(&h.event);
        for a in &h.also {
            g.hidden.insert((a.origin, a.uid.clone()), rep.clone());
        }
        g.also.insert(rep, h.also);
    }
    let g = Arc::new(g);
    if let Ok(mut held) = gw.dav_grouping.0.lock() {
        *held = Some((key, g.clone()));
    }
    Ok(g)
}

fn first_start(e: &StoredEvent) -> i64 {
    discal_protocol::dedupe::fingerprint(&e.payload.uid, e.content()).start
}

/// The events starting within `[from, to)` (UTC seconds), grouped.
fn grouped_around(
    gw: &Gateway,
    ov: &discal_protocol::dedupe::Overrides,
    (from, to): (i64, i64),
) -> Result<Vec<Hit>, DavError> {
    let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).unwrap_or_default();
    let mut q = crate::read::store_query(
        &discal_protocol::view::ViewFilter::default(),
        Some((at(from), at(to))),
        MAX_ITEMS,
        true,
    );
    q.floating_tz = chrono_tz::UTC;
    Ok(crate::read::collapse(gw.store.query(&q)?.hits, ov))
}

/// Brings a grouping forward over `changed`: for each change, the listings it can affect —
/// its old group, the groups of the events within 12 hours of it and of them — are grouped
/// again from the events around them (a group spans at most 12 hours, so they are all there).
/// `None` when the neighbourhood does not settle in a few widenings: then it is made anew.
fn advance(
    gw: &Gateway,
    g: &Grouping,
    changed: &[StoredEvent],
) -> Result<Option<Grouping>, DavError> {
    use discal_protocol::dedupe::MAX_APART_SECS;
    let ov = gw.store.dedupe_overrides()?;
    let mut g = g.clone();
    for ev in changed {
        let mut affected: std::collections::HashSet<Id> = std::collections::HashSet::new();
        affected.insert(id_of(ev));
        let (mut lo, mut hi) = (first_start(ev), first_start(ev));
        let mut settled = None;
        for _ in 0..4 {
            // The old groups of everything affected are affected too.
            let mut more: Vec<Id> = Vec::new();
            for m in &affected {
                let rep = g.hidden.get(m).cloned().unwrap_or_else(|| m.clone());
                more.push(rep.clone());
                more.extend(
                    g.also
                        .get(&rep)
                        .into_iter()
                        .flatten()
                        .map(|a| (a.origin, a.uid.clone())),
                );
            }
            affected.extend(more);
            for m in &affected {
                let key = EventKey {
                    origin: m.0,
                    uid: m.1.clone(),
                };
                if let Some(e) = gw.store.get(&key)? {
                    let s = first_start(&e);
                    (lo, hi) = (lo.min(s), hi.max(s));
                }
            }
            let local = grouped_around(gw, &ov, (lo - MAX_APART_SECS, hi + MAX_APART_SECS + 1))?;
            let touching: Vec<&Hit> = local
                .iter()
                .filter(|h| {
                    affected.contains(&id_of(&h.event))
                        || h.also
                            .iter()
                            .any(|a| affected.contains(&(a.origin, a.uid.clone())))
                })
                .collect();
            let before = affected.len();
            for h in &touching {
                affected.insert(id_of(&h.event));
                affected.extend(h.also.iter().map(|a| (a.origin, a.uid.clone())));
            }
            if affected.len() == before {
                settled = Some(
                    touching
                        .into_iter()
                        .map(|h| (id_of(&h.event), h.also.clone()))
                        .collect::<Vec<_>>(),
                );
                break;
            }
        }
        let Some(groups) = settled else {
            return Ok(None);
        };
        for m in &affected {
            g.hidden.remove(m);
            g.also.remove(m);
        }
        for (rep, also) in groups.into_iter().filter(|(_, a)| !a.is_empty()) {
            for a in &also {
                g.hidden.insert((a.origin, a.uid.clone()), rep.clone());
            }
            g.also.insert(rep, also);
        }
    }
    Ok(Some(g))
}

/// The event an item path names, if it belongs to the collection.
pub(super) fn load_item(
    gw: &Gateway,
    c: &Coll,
    key: &EventKey,
) -> Result<Option<StoredEvent>, DavError> {
    if let Coll::User(o) = c {
        return o.member(gw, key);
    }
    let Some(ev) = gw.store.get(key)? else {
        return Ok(None);
    };
    let member = match c {
        Coll::User(_) => false,
        Coll::All => true,
        Coll::Origin(k) => *k == key.origin,
        Coll::View(..) => members(gw, c)?.iter().any(|h| h.event.key() == *key),
    };
    Ok(member.then_some(ev))
}

/// The members of the views a multiget names, by view query string: each view is listed once
/// per report, not once per item.
pub(super) type ViewMembers = HashMap<String, HashMap<EventKey, StoredEvent>>;

/// A multiget's item read from its record; `None` if it is not a member of `c`.
pub(super) fn load_member(
    gw: &Gateway,
    c: &Coll,
    key: &EventKey,
    views: &mut ViewMembers,
) -> Result<Option<Box<StoredEvent>>, DavError> {
    let Coll::View(q, _) = c else {
        return Ok(load_item(gw, c, key)?.map(Box::new));
    };
    if !views.contains_key(q) {
        let listed = members(gw, c)?
            .into_iter()
            .map(|h| (h.event.key(), h.event))
            .collect();
        views.insert(q.clone(), listed);
    }
    Ok(views[q].get(key).cloned().map(Box::new))
}

/// An item of an aggregate or origin calendar answered from the index and the object cache
/// (the caller checked that the properties asked for allow it); `None` when that is not
/// possible (a view, whose membership needs the event; an unknown event; an object not
/// cached), and the caller reads the record.
pub(super) fn known(gw: &Gateway, c: &Coll, key: &EventKey) -> Result<Option<Pending>, DavError> {
    if matches!(c, Coll::View(..) | Coll::User(_))
        || matches!(c, Coll::Origin(o) if *o != key.origin)
    {
        return Ok(None);
    }
    let Some(mk) = gw.store.revision(key)? else {
        return Ok(None);
    };
    Ok(cached_item(gw, key, mk))
}

/// A member item answered from the object cache, `mk` being the revision the index holds;
/// `None` if its object is not cached.
pub(super) fn cached_item(gw: &Gateway, key: &EventKey, mk: MergeKey) -> Option<Pending> {
    // A UID another origin shares is written qualified, which the cache does not hold.
    if gw.store.uid_is_shared(&key.uid).unwrap_or(true) {
        return None;
    }
    let data = gw.dav_objects.cached(&mk.id)?;
    Some(Pending::Cached(key.clone(), mk, data))
}

/// (href, ETag) of every item of an aggregate or origin calendar, from the index alone;
/// `None` for views, whose membership needs the events themselves.
pub(super) fn index_listing(
    gw: &Gateway,
    c: &Coll,
) -> Option<Result<Vec<(String, String)>, DavError>> {
    // The aggregate calendar shows one member per real event, which takes the events
    // themselves, not just the index.
    let origin = match c {
        Coll::Origin(k) => Some(*k),
        Coll::All => None,
        Coll::View(..) | Coll::User(_) => return None,
    };
    let inv = match gw.store.inventory(origin.as_ref()) {
        Ok(i) => i,
        Err(e) => return Some(Err(e.into())),
    };
    // The aggregate calendar shows one member per real event.
    let hidden = match origin {
        Some(_) => Arc::default(),
        None => match grouping(gw) {
            Ok(g) => g,
            Err(e) => return Some(Err(e)),
        },
    };
    let mut hrefs = Hrefs::new(c);
    Some(Ok(inv
        .iter()
        .filter(|it| {
            !hidden
                .hidden
                .contains_key(&(it.key.origin, it.key.uid.clone()))
        })
        .map(|it| {
            (
                hrefs.of(&it.key.origin, &it.key.uid),
                etag_of(
                    it.revision,
                    &it.id,
                    gw.store.uid_is_shared(&it.key.uid).unwrap_or(true),
                ),
            )
        })
        .collect()))
}
