//! The DAV URL space: what a path names ([`resolve`]), the hrefs of collections and items,
//! sync tokens and ETags.

use std::collections::HashMap;

use discal_protocol::view::ViewFilter;
use discal_protocol::{EventKey, NodeKey};
use discal_store::StoredEvent;

use super::error::DavError;
use super::own::Own;
use super::quirks;
use crate::read::{path_segment, push_path_segment};

/// Where the DAV tree starts.
pub const ROOT: &str = "/dav/";
pub(crate) const PRINCIPAL: &str = "/dav/principal/";
pub(crate) const HOME: &str = "/dav/calendars/";

/// A calendar collection.
#[derive(Clone, Debug)]
pub enum Coll {
    /// Every event.
    All,
    /// One origin node's events.
    Origin(NodeKey),
    /// A personal view: its query string and parsed filter.
    View(String, Box<ViewFilter>),
    /// An account's own, writable calendar: the events it entered on this node.
    User(Box<Own>),
}

impl Coll {
    pub(super) fn href(&self) -> String {
        match self {
            Self::All => format!("{HOME}all/"),
            Self::Origin(k) => format!("{HOME}origin-{k}/"),
            Self::View(q, _) => format!("{ROOT}views/{}/", path_segment(q)),
            Self::User(o) => o.href(),
        }
    }

    pub(super) fn filter(&self) -> ViewFilter {
        match self {
            Self::All => ViewFilter::default(),
            Self::Origin(k) => ViewFilter {
                origin: Some(*k),
                ..ViewFilter::default()
            },
            Self::View(_, f) => (**f).clone(),
            Self::User(o) => ViewFilter {
                origin: o.me,
                ..ViewFilter::default()
            },
        }
    }

    /// Whether a stored event the filter matched is a member (an account's calendar holds
    /// only its live events; the others hold whatever their filter matches).
    pub(super) fn admits(&self, e: &StoredEvent) -> bool {
        match self {
            Self::User(o) => o.concerns(&e.key()) && !e.content().is_cancelled(),
            _ => true,
        }
    }

    pub(super) fn item_href(&self, e: &StoredEvent) -> String {
        if let Self::User(o) = self {
            return format!("{}{}", o.href(), path_segment(&o.name_of(&e.payload.uid)));
        }
        format!(
            "{}{}",
            self.href(),
            item_name(&e.payload.origin, &e.payload.uid)
        )
    }
}

/// Item hrefs of one collection, each origin's part made once: base58-encoding a key costs
/// microseconds, and a report lists thousands of items of a few origins.
pub(super) struct Hrefs {
    base: String,
    origins: HashMap<NodeKey, String>,
    own: Option<Box<Own>>,
}

impl Hrefs {
    pub(super) fn new(c: &Coll) -> Self {
        Self {
            base: c.href(),
            origins: HashMap::new(),
            own: match c {
                Coll::User(o) => Some(o.clone()),
                _ => None,
            },
        }
    }

    /// [`Coll::item_href`] by the event's identity.
    pub(super) fn of(&mut self, origin: &NodeKey, uid: &str) -> String {
        if let Some(o) = &self.own {
            return format!("{}{}", self.base, path_segment(&o.name_of(uid)));
        }
        let base = &self.base;
        let prefix = self
            .origins
            .entry(*origin)
            .or_insert_with(|| format!("{base}{}~", path_segment(&origin.to_string())));
        let mut href = String::with_capacity(prefix.len() + uid.len() + 8);
        href.push_str(prefix);
        push_path_segment(&mut href, uid);
        href.push_str(".ics");
        href
    }
}

/// The file name of an event in any collection.
pub fn item_name(origin: &NodeKey, uid: &str) -> String {
    format!("{}.ics", path_segment(&format!("{origin}~{uid}")))
}

/// What a path names.
#[derive(Clone, Debug)]
// One per request or per href, short-lived and moved rarely: boxing the large variant
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Res {
    /// `/dav/`.
    Root,
    /// `/dav/principal/`.
    Principal,
    /// `/dav/calendars/`.
    Home,
    /// A calendar.
    Coll(Coll),
    /// An event in a calendar.
    Item(Coll, EventKey),
    /// A resource of an account's own calendar by the name its client gave it, until
    /// the request is bound to its account and the event (if any) that name stands for.
    Named(Coll, String),
}

pub(super) fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Resolves a request path (still percent-encoded) to a resource.
pub fn resolve(path: &str) -> Result<Res, DavError> {
    let not_found = || DavError::NotFound(format!("no DAV resource at {path}"));
    if quirks::bare_host_is_dav_root(path) {
        return Ok(Res::Root);
    }
    let rest = path
        .strip_prefix("/dav")
        .ok_or_else(not_found)?
        .trim_start_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let coll = |segs: &[&str]| -> Result<Option<Coll>, DavError> {
        Ok(match segs {
            ["calendars", "all"] => Some(Coll::All),
            ["calendars", o] if o.starts_with("origin-") => {
                let key = o["origin-".len()..]
                    .parse()
                    .map_err(|e| DavError::NotFound(format!("no calendar {o:?}: {e}")))?;
                Some(Coll::Origin(key))
            }
            ["views", v] => {
                let q = decode(v);
                let pairs: Vec<(String, String)> = form_pairs(&q);
                let refs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                let (f, _) = ViewFilter::parse(refs, &[])
                    .map_err(|e| DavError::BadRequest(format!("view {q:?}: {e}")))?;
                Some(Coll::View(q, Box::new(f)))
            }
            _ => None,
        })
    };
    match segs.as_slice() {
        [] => Ok(Res::Root),
        ["principal"] => Ok(Res::Principal),
        ["calendars"] => Ok(Res::Home),
        ["principal", _] => Ok(Res::Principal),
        ["calendars", "users", account] => Ok(Res::Coll(Coll::User(Own::bare(&decode(account))))),
        ["calendars", "users", account, item] => Ok(Res::Named(
            Coll::User(Own::bare(&decode(account))),
            decode(item),
        )),
        [a, b] => coll(&[a, b])?.map(Res::Coll).ok_or_else(not_found),
        [a, b, item] => {
            let c = coll(&[a, b])?.ok_or_else(not_found)?;
            let name = decode(item);
            let name = name.strip_suffix(".ics").ok_or_else(not_found)?;
            let (o, uid) = name.split_once('~').ok_or_else(not_found)?;
            let origin = parse_key_cached(o).ok_or_else(not_found)?;
            Ok(Res::Item(
                c,
                EventKey {
                    origin,
                    uid: uid.to_owned(),
                },
            ))
        }
        _ => Err(not_found()),
    }
}

/// Parses an origin key from an href. Parsing checks the curve point (microseconds), and a
/// multiget names hundreds of items of a few origins, so parsed keys are kept per thread.
pub(super) fn parse_key_cached(text: &str) -> Option<NodeKey> {
    thread_local! {
        static KEYS: std::cell::RefCell<HashMap<String, NodeKey>> = Default::default();
    }
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if let Some(key) = k.get(text) {
            return Some(*key);
        }
        let key: NodeKey = text.parse().ok()?;
        if k.len() >= 1024 {
            k.clear();
        }
        k.insert(text.to_owned(), key);
        Some(key)
    })
}

/// The account named by an account principal's path (`/dav/principal/{name}/`).
pub(super) fn principal_name(path: &str) -> Option<String> {
    let rest = path.strip_prefix(PRINCIPAL)?;
    let name = rest.trim_end_matches('/');
    (!name.is_empty() && !name.contains('/')).then(|| decode(name))
}

/// `a=b&c=d` into pairs, percent- and plus-decoded.
pub fn form_pairs(q: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// The sync token for a change sequence number.
pub fn sync_token(seq: u64) -> String {
    format!("http://discal.org/ns/sync/{seq}")
}

/// The token of a page of a first sync cut at the client's `DAV:limit`: changes since `seq`,
/// in a sync that began when the store was at `began` (changes up to `began` were part of the
/// first page's listing, so none of them is reported as a removal).
pub fn paged_token(seq: u64, began: u64) -> String {
    if began > seq {
        format!("http://discal.org/ns/sync/{seq}-{began}")
    } else {
        sync_token(seq)
    }
}

/// A token's change sequence, and when its first sync began (0 for any other token).
pub(super) fn parse_token(t: &str) -> Option<(u64, u64)> {
    let rest = t.trim().strip_prefix("http://discal.org/ns/sync/")?;
    match rest.split_once('-') {
        None => Some((rest.parse().ok()?, 0)),
        Some((seq, began)) => {
            let (seq, began) = (seq.parse().ok()?, began.parse().ok()?);
            (began > seq).then_some((seq, began))
        }
    }
}

/// An item's ETag: revision and a prefix of the revision's hash.
pub fn item_etag(store: &discal_store::Store, e: &StoredEvent) -> String {
    let qualified = store.uid_is_shared(&e.payload.uid).unwrap_or(true);
    etag_of(e.payload.revision, &e.id, qualified)
}

/// An item's ETag: revision and a prefix of the revision's hash, and `-q` while its UID is
/// written qualified (the calendar data differs then, so the ETag must too).
pub(super) fn etag_of(revision: u32, id: &discal_protocol::EventId, qualified: bool) -> String {
    let q = if qualified { "-q" } else { "" };
    format!("\"{revision}-{}{q}\"", hex::encode(&id.0[..6]))
}

/// True if `a` and `b` are the same calendar (so their items have the same hrefs).
pub(super) fn same_collection(a: &Coll, b: &Coll) -> bool {
    match (a, b) {
        (Coll::All, Coll::All) => true,
        (Coll::Origin(x), Coll::Origin(y)) => x == y,
        (Coll::View(x, _), Coll::View(y, _)) => x == y,
        (Coll::User(x), Coll::User(y)) => x.account == y.account,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_revision_and_hash_prefix() {
        let mut id = discal_protocol::EventId([0; 32]);
        id.0[..7].copy_from_slice(&[0x00, 0x0f, 0xa5, 0xff, 0x10, 0x7e, 0x99]);
        assert_eq!(etag_of(0, &id, false), "\"0-000fa5ff107e\"");
        assert_eq!(etag_of(u32::MAX, &id, false), "\"4294967295-000fa5ff107e\"");
        assert_eq!(etag_of(0, &id, true), "\"0-000fa5ff107e-q\"");
    }

    #[test]
    fn memoised_hrefs_equal_item_hrefs() {
        let k = discal_protocol::NodeSecret::from_seed(&[7; 32])
            .unwrap()
            .public();
        let colls = [
            "/dav/calendars/all/".to_owned(),
            format!("/dav/calendars/origin-{k}/"),
            "/dav/views/tags%3Dmeetup%26tz%3DEurope%2FBerlin/".to_owned(),
        ];
        for path in colls {
            let Ok(Res::Coll(c)) = resolve(&path) else {
                panic!("{path} is not a collection");
            };
            let mut hrefs = Hrefs::new(&c);
            for uid in ["plain@example.org", "a b/c?d#e%f~g", "café&<x>", ""] {
                let expected = format!("{}{}", c.href(), item_name(&k, uid));
                assert_eq!(hrefs.of(&k, uid), expected);
                // The second time from the memo.
                assert_eq!(hrefs.of(&k, uid), expected);
                assert!(matches!(resolve(&expected), Ok(Res::Item(_, key)) if key.uid == uid));
            }
        }
    }
}
