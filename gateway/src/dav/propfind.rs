//! PROPFIND (RFC 4918 §9.1): properties of a resource and, at Depth 1, of its members.

use axum::http::HeaderMap;
use axum::response::Response;

use super::error::DavError;
use super::members::{index_listing, load_item, members};
use super::multistatus::Ms;
use super::own::Own;
use super::path::{item_etag, item_name, Coll, Res, HOME, ROOT};
use super::props::{
    all_props, index_only, index_props, principal_href, props_of, wanted, PropName,
};
use super::xml::DAV;
use super::{parse_body, quirks};
use crate::read::path_segment;
use crate::Gateway;

/// What a PROPFIND asks of every resource it reaches.
struct Ask {
    /// The properties named (`None`: allprop, or no body).
    explicit: Option<Vec<PropName>>,
    /// The store's change sequence (CTag, sync token).
    seq: u64,
    /// The account asking, if any.
    who: Option<String>,
}

impl Ask {
    fn at(&self) -> (u64, Option<&str>) {
        (self.seq, self.who.as_deref())
    }

    fn names_for(&self, res: &Res) -> Vec<PropName> {
        self.explicit.clone().unwrap_or_else(|| all_props(res))
    }
}

pub(super) fn propfind(
    gw: &Gateway,
    res: &Res,
    headers: &HeaderMap,
    body: &[u8],
    who: Option<&str>,
) -> Result<Response, DavError> {
    let depth = quirks::propfind_depth(headers)?;
    let root = parse_body(body)?;
    if root.as_ref().is_some_and(|r| !r.is(DAV, "propfind")) {
        return Err(DavError::BadRequest(
            "PROPFIND body must be DAV:propfind".into(),
        ));
    }
    let ask = Ask {
        explicit: wanted(root.as_ref()),
        seq: gw.store.last_seq()?,
        who: who.map(str::to_owned),
    };
    let self_href = match res {
        Res::Root => ROOT.to_owned(),
        Res::Principal => principal_href(who),
        Res::Home => HOME.to_owned(),
        Res::Coll(c) => c.href(),
        Res::Item(Coll::User(o), k) => format!("{}{}", o.href(), path_segment(&o.name_of(&k.uid))),
        Res::Item(c, k) => format!("{}{}", c.href(), item_name(&k.origin, &k.uid)),
        Res::Named(c, n) => format!("{}{}", c.href(), path_segment(n)),
    };
    let item = match res {
        Res::Item(c, k) => Some(
            load_item(gw, c, k)?
                .ok_or_else(|| DavError::NotFound("no such event in this calendar".into()))?,
        ),
        _ => None,
    };
    let mut ms = Ms::new();
    let (found, missing) = props_of(gw, res, item.as_ref(), ask.at(), &ask.names_for(res));
    ms.response(&self_href, &found, &missing);
    if depth == 1 {
        members_of(gw, res, &ask, &mut ms)?;
    }
    Ok(ms.finish(None))
}

/// The Depth 1 part: the root's principal and home, the home's calendars, a calendar's items.
fn members_of(gw: &Gateway, res: &Res, ask: &Ask, ms: &mut Ms) -> Result<(), DavError> {
    let one = |ms: &mut Ms, href: &str, r: &Res| {
        let (f, m) = props_of(gw, r, None, ask.at(), &ask.names_for(r));
        ms.response(href, &f, &m);
    };
    match res {
        Res::Root => {
            one(ms, &principal_href(ask.who.as_deref()), &Res::Principal);
            one(ms, HOME, &Res::Home);
        }
        Res::Home => {
            let mut colls = vec![Coll::All];
            // An account sees its own, writable calendar first among the shared ones.
            if let Some(who) = &ask.who {
                colls.insert(0, Coll::User(Own::load(gw, who)?));
            }
            colls.extend(
                gw.store
                    .origins()?
                    .into_iter()
                    .map(|(k, _)| Coll::Origin(k)),
            );
            for c in colls {
                one(ms, &c.href(), &Res::Coll(c.clone()));
            }
        }
        Res::Coll(c) => match ask.explicit.as_deref().filter(|n| index_only(n)) {
            Some(names) => items_from_index(gw, c, names, ms)?,
            None => {
                for h in &members(gw, c)? {
                    let r = Res::Item(c.clone(), h.event.key());
                    let (f, m) = props_of(gw, &r, Some(&h.event), ask.at(), &ask.names_for(&r));
                    ms.response(&c.item_href(&h.event), &f, &m);
                }
            }
        },
        _ => {}
    }
    Ok(())
}

/// A calendar's items when only index properties (ETag, type) are asked for, which is how
/// clients list a calendar to see what changed: no record is read for the aggregate and
/// origin calendars.
fn items_from_index(
    gw: &Gateway,
    c: &Coll,
    names: &[PropName],
    ms: &mut Ms,
) -> Result<(), DavError> {
    if let Some(items) = index_listing(gw, c) {
        for (href, etag) in &items? {
            ms.cached(href, names, etag, "");
        }
        return Ok(());
    }
    for h in &members(gw, c)? {
        ms.response(
            &c.item_href(&h.event),
            &index_props(names, &item_etag(&gw.store, &h.event)),
            &[],
        );
    }
    Ok(())
}
