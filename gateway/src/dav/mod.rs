//! CalDAV read access (RFC 4791, sync by RFC 6578, WebDAV by RFC 4918), anonymous and
//! read-only, so calendar apps can add a node as an account and stay in sync cheaply.
//!
//! URL space (every collection also answers without its trailing slash):
//! - `/.well-known/caldav` → redirect to `/dav/`;
//! - `/dav/` root, `/dav/principal/` (the one anonymous principal), `/dav/calendars/` (its
//!   calendar home, listing `all/` and one `origin-{key}/` per origin node);
//! - `/dav/views/{view}/`: any personal view of docs/feeds.md as a collection, `{view}` being
//!   its query string percent-encoded as one path segment (e.g. `tags%3Dlinux%26days%3D30`);
//! - items `{collection}/{origin}~{uid}.ics`, the UID percent-encoded.
//!
//! Sync tokens and CTags are the store's change sequence: a delta is the changes after the
//! token that concern the collection. Events are never deleted (a cancellation is a revision),
//! so removals happen only in views, when a changed event no longer matches.
//! Client workarounds live in [`quirks`], one named function per behaviour.

// Errors here are finished HTTP responses, made at most once per request: boxing them
// would only add an allocation on the error path.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod quirks;
pub mod xml;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use discal_protocol::model::{DateTimeValue, End, EventContent, LocalDateTime};
use discal_protocol::view::ViewFilter;
use discal_protocol::{EventKey, MergeKey, NodeKey};
use discal_store::{Hit, StoredEvent};

use crate::read::{fetch, path_segment, push_path_segment};
use crate::{feeds, Gateway};
use xml::{esc, El, CALDAV, CS, DAV, ICAL};

/// Where the DAV tree starts.
pub const ROOT: &str = "/dav/";
const PRINCIPAL: &str = "/dav/principal/";
const HOME: &str = "/dav/calendars/";
/// Most items a collection lists or a report returns.
const MAX_ITEMS: usize = 50_000;

/// A calendar collection.
#[derive(Clone, Debug)]
pub enum Coll {
    /// Every event.
    All,
    /// One origin node's events.
    Origin(NodeKey),
    /// A personal view: its query string and parsed filter.
    View(String, Box<ViewFilter>),
}

impl Coll {
    fn href(&self) -> String {
        match self {
            Self::All => format!("{HOME}all/"),
            Self::Origin(k) => format!("{HOME}origin-{k}/"),
            Self::View(q, _) => format!("{ROOT}views/{}/", path_segment(q)),
        }
    }

    fn filter(&self) -> ViewFilter {
        match self {
            Self::All => ViewFilter::default(),
            Self::Origin(k) => ViewFilter {
                origin: Some(*k),
                ..ViewFilter::default()
            },
            Self::View(_, f) => (**f).clone(),
        }
    }

    fn item_href(&self, e: &StoredEvent) -> String {
        format!(
            "{}{}",
            self.href(),
            item_name(&e.payload.origin, &e.payload.uid)
        )
    }
}

/// Item hrefs of one collection, each origin's part made once: base58-encoding a key costs
/// microseconds, and a report lists thousands of items of a few origins.
struct Hrefs {
    base: String,
    origins: HashMap<NodeKey, String>,
}

impl Hrefs {
    fn new(c: &Coll) -> Self {
        Self {
            base: c.href(),
            origins: HashMap::new(),
        }
    }

    /// [`Coll::item_href`] by the event's identity.
    fn of(&mut self, origin: &NodeKey, uid: &str) -> String {
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
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Resolves a request path (still percent-encoded) to a resource.
pub fn resolve(path: &str) -> Result<Res, (StatusCode, String)> {
    let not_found = || (StatusCode::NOT_FOUND, format!("no DAV resource at {path}"));
    if quirks::bare_host_is_dav_root(path) {
        return Ok(Res::Root);
    }
    let rest = path
        .strip_prefix("/dav")
        .ok_or_else(not_found)?
        .trim_start_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let coll = |segs: &[&str]| -> Result<Option<Coll>, (StatusCode, String)> {
        Ok(match segs {
            ["calendars", "all"] => Some(Coll::All),
            ["calendars", o] if o.starts_with("origin-") => {
                let key = o["origin-".len()..]
                    .parse()
                    .map_err(|e| (StatusCode::NOT_FOUND, format!("no calendar {o:?}: {e}")))?;
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
                    .map_err(|e| (StatusCode::BAD_REQUEST, format!("view {q:?}: {e}")))?;
                Some(Coll::View(q, Box::new(f)))
            }
            _ => None,
        })
    };
    match segs.as_slice() {
        [] => Ok(Res::Root),
        ["principal"] => Ok(Res::Principal),
        ["calendars"] => Ok(Res::Home),
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
fn parse_key_cached(text: &str) -> Option<NodeKey> {
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

/// `a=b&c=d` into pairs, percent- and plus-decoded.
pub fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| decode(&s.replace('+', " "));
            (d(k), d(v))
        })
        .collect()
}

/// The sync token for a change sequence number.
pub fn sync_token(seq: u64) -> String {
    format!("http://discal.org/ns/sync/{seq}")
}

fn parse_token(t: &str) -> Option<u64> {
    t.trim()
        .strip_prefix("http://discal.org/ns/sync/")?
        .parse()
        .ok()
}

/// An item's ETag: revision and a prefix of the revision's hash.
pub fn item_etag(e: &StoredEvent) -> String {
    etag_of(e.payload.revision, &e.id)
}

fn etag_of(revision: u32, id: &discal_protocol::EventId) -> String {
    format!("\"{revision}-{}\"", hex::encode(&id.0[..6]))
}

/// True if every property asked for can be answered from the store's index, without reading
/// a record: what clients ask when they list a calendar to see what changed.
fn index_only(names: &[PropName]) -> bool {
    names.iter().all(|(ns, n)| {
        ns == DAV && matches!(n.as_str(), "getetag" | "getcontenttype" | "resourcetype")
    })
}

/// (href, ETag) of every item of an aggregate or origin calendar, from the index alone;
/// `None` for views, whose membership needs the events themselves.
fn index_listing(gw: &Gateway, c: &Coll) -> Option<Result<Vec<(String, String)>, Response>> {
    let origin = match c {
        Coll::All => None,
        Coll::Origin(k) => Some(*k),
        Coll::View(..) => return None,
    };
    let inv = match gw.store.inventory(origin.as_ref()) {
        Ok(i) => i,
        Err(e) => return Some(Err(internal(e))),
    };
    let mut hrefs = Hrefs::new(c);
    Some(Ok(inv
        .iter()
        .map(|it| {
            (
                hrefs.of(&it.key.origin, &it.key.uid),
                etag_of(it.revision, &it.id),
            )
        })
        .collect()))
}

fn index_props(names: &[PropName], etag: &str) -> Vec<(PropName, String)> {
    names
        .iter()
        .map(|n| {
            let v = match n.1.as_str() {
                "getetag" => etag.to_owned(),
                "getcontenttype" => ITEM_TYPE.to_owned(),
                _ => String::new(),
            };
            (n.clone(), v)
        })
        .collect()
}

const ITEM_TYPE: &str = "text/calendar; charset=utf-8; component=vevent";

fn dav_error(status: StatusCode, condition: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\">{condition}</D:error>\n"
        ),
    )
        .into_response()
}

/// Every write method is refused here, in one place, with a DAV error body.
fn read_only(path: &str) -> Response {
    dav_error(
        StatusCode::FORBIDDEN,
        &format!(
            "<D:need-privileges><D:resource><D:href>{}</D:href><D:privilege><D:write/></D:privilege></D:resource></D:need-privileges>",
            esc(path)
        ),
    )
}

const ALLOW: &str = "OPTIONS, GET, HEAD, PROPFIND, REPORT";

/// `/.well-known/caldav` (RFC 6764): to the DAV root.
pub async fn well_known() -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, ROOT)],
        "see /dav/\n",
    )
        .into_response()
}

/// Every method on `/dav` and below.
pub async fn handle(
    State(gw): State<Gateway>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    match method.as_str() {
        "OPTIONS" => (
            StatusCode::OK,
            [
                (header::ALLOW, ALLOW),
                (
                    header::HeaderName::from_static("dav"),
                    "1, 3, calendar-access",
                ),
            ],
        )
            .into_response(),
        "PUT" | "DELETE" | "MKCALENDAR" | "MKCOL" | "PROPPATCH" | "MOVE" | "COPY" | "POST"
        | "LOCK" | "UNLOCK" | "ACL" => read_only(&path),
        "GET" | "HEAD" | "PROPFIND" | "REPORT" => {
            let res = match resolve(&path) {
                Ok(r) => r,
                Err((s, m)) => return crate::text(s, m),
            };
            // A REPORT body of ordinary size is parsed here, to see whether it is small work.
            let root = if method == "REPORT" && body.len() <= INLINE_PARSE_BYTES {
                match parse_body(&body) {
                    Ok(Some(r)) => Some(r),
                    Ok(None) => return crate::text(StatusCode::BAD_REQUEST, "REPORT needs a body"),
                    Err(r) => return r,
                }
            } else {
                None
            };
            if runs_inline(&method, &res, root.as_ref()) {
                return match root {
                    Some(r) => report_of(&gw, &res, &headers, &r),
                    None => get(&gw, &res, &headers),
                };
            }
            let m = method.clone();
            let result = tokio::task::spawn_blocking(move || match (m.as_str(), root) {
                ("PROPFIND", _) => propfind(&gw, &res, &headers, &body),
                ("REPORT", Some(r)) => report_of(&gw, &res, &headers, &r),
                ("REPORT", None) => report(&gw, &res, &headers, &body),
                _ => get(&gw, &res, &headers),
            })
            .await;
            match result {
                Ok(r) => r,
                Err(e) => crate::text(StatusCode::INTERNAL_SERVER_ERROR, format!("task: {e}")),
            }
        }
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, ALLOW)],
            format!("{method} is not supported here\n"),
        )
            .into_response(),
    }
}

/// REPORT bodies up to this size are parsed on the connection's worker thread (a multiget of
/// 100 hrefs is about 12 KiB; parsing it takes tens of microseconds).
const INLINE_PARSE_BYTES: usize = 32 << 10;
/// The most items a multiget may name and still be answered on the worker thread.
const INLINE_MULTIGET_HREFS: usize = 100;

/// Whether a request is small enough to answer on the connection's worker thread instead of
/// the blocking pool: one item (GET, HEAD), or a multiget of at most 100 items, which is how
/// clients fetch what a sync reported changed. The hand-off to a pool thread and back costs
/// two thread wake-ups, about 0.3 ms on a 2-core VM after idle, which is more than such a
/// request's work (0.7 ms for 100 items rendered, usually far less). Anything that may touch
/// the whole calendar (listings, queries, syncs) still goes to the pool, so the network's
/// tasks on the workers are never held up by it.
///
/// A view's membership is a query over the calendar, so nothing on a view runs inline, and a
/// multiget runs inline only if it names items of the collection it was sent to (as clients
/// do; anything else might name a view's items).
fn runs_inline(method: &Method, res: &Res, report: Option<&El>) -> bool {
    let coll = match res {
        Res::Coll(c) | Res::Item(c, _) => c,
        _ => return false,
    };
    if matches!(coll, Coll::View(..)) {
        return false;
    }
    match (method.as_str(), report) {
        ("GET" | "HEAD", _) => matches!(res, Res::Item(..)),
        ("REPORT", Some(root)) => {
            let own = coll.href();
            root.is(CALDAV, "calendar-multiget")
                && root.children_named(DAV, "href").count() <= INLINE_MULTIGET_HREFS
                && root
                    .children_named(DAV, "href")
                    .all(|h| quirks::href_is_item_of(&h.text, &own))
        }
        _ => false,
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    crate::text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn get(gw: &Gateway, res: &Res, headers: &HeaderMap) -> Response {
    match res {
        Res::Item(c, key) => match load_item(gw, c, key) {
            Ok(Some(ev)) => {
                let etag = item_etag(&ev);
                if quirks::etag_matches(headers, &etag) {
                    return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
                }
                let mut r = (
                    [(header::CONTENT_TYPE, ITEM_TYPE)],
                    feeds::ics_calendar(&gw.name, [&ev], None),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&etag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                r
            }
            Ok(None) => crate::text(StatusCode::NOT_FOUND, "no such event in this calendar"),
            Err(r) => r,
        },
        Res::Coll(c) => match members(gw, c) {
            // A calendar collection read as a whole is its iCalendar feed.
            Ok(hits) => (
                [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
                feeds::ics_calendar(&gw.name, hits.iter().map(|h| &h.event), None),
            )
                .into_response(),
            Err(r) => r,
        },
        _ => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "DisCal CalDAV: add this server as a CalDAV account; calendars are under /dav/calendars/\n",
        )
            .into_response(),
    }
}

/// The event an item path names, if it belongs to the collection.
fn load_item(gw: &Gateway, c: &Coll, key: &EventKey) -> Result<Option<StoredEvent>, Response> {
    let Some(ev) = gw.store.get(key).map_err(internal)? else {
        return Ok(None);
    };
    let member = match c {
        Coll::All => true,
        Coll::Origin(k) => *k == key.origin,
        Coll::View(..) => members(gw, c)?.iter().any(|h| h.event.key() == *key),
    };
    Ok(member.then_some(ev))
}

/// The members of the views a multiget names, by view query string: each view is listed once
/// per report, not once per item.
type ViewMembers = HashMap<String, HashMap<EventKey, StoredEvent>>;

/// A multiget's item read from its record; `None` if it is not a member of `c`.
fn load_member(
    gw: &Gateway,
    c: &Coll,
    key: &EventKey,
    views: &mut ViewMembers,
) -> Result<Option<Box<StoredEvent>>, Response> {
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
fn known(gw: &Gateway, c: &Coll, key: &EventKey) -> Result<Option<Pending>, Response> {
    if matches!(c, Coll::View(..)) || matches!(c, Coll::Origin(o) if *o != key.origin) {
        return Ok(None);
    }
    let Some(mk) = gw.store.revision(key).map_err(internal)? else {
        return Ok(None);
    };
    Ok(cached_item(gw, key, mk))
}

/// A member item answered from the object cache, `mk` being the revision the index holds;
/// `None` if its object is not cached.
fn cached_item(gw: &Gateway, key: &EventKey, mk: MergeKey) -> Option<Pending> {
    let data = gw.dav_objects.cached(&mk.id)?;
    Some(Pending::Cached(key.clone(), mk, data))
}

/// True if `a` and `b` are the same calendar (so their items have the same hrefs).
fn same_collection(a: &Coll, b: &Coll) -> bool {
    match (a, b) {
        (Coll::All, Coll::All) => true,
        (Coll::Origin(x), Coll::Origin(y)) => x == y,
        (Coll::View(x, _), Coll::View(y, _)) => x == y,
        _ => false,
    }
}

/// Every event of a collection (views: those matching now).
fn members(gw: &Gateway, c: &Coll) -> Result<Vec<Hit>, Response> {
    let f = c.filter();
    let window = f.window(crate::read::today(gw, &f), None);
    Ok(fetch(&gw.store, &f, window, MAX_ITEMS, true)
        .map_err(internal)?
        .hits)
}

/// A property asked for: namespace and local name.
type PropName = (String, String);

fn wanted(root: Option<&El>) -> Option<Vec<PropName>> {
    let prop = root?.child(DAV, "prop")?;
    Some(
        prop.children
            .iter()
            .map(|c| (c.ns.clone(), c.name.clone()))
            .collect(),
    )
}

/// A report's answer for one href, rendered later (in parallel when large).
enum Pending {
    /// An event with its properties (boxed: answers are sorted and moved, events are large).
    Ev(Box<StoredEvent>),
    /// An event whose every asked-for property comes from the store's index and the calendar
    /// object cache, so its record was not read: its identity, revision and calendar object.
    Cached(EventKey, MergeKey, Arc<str>),
    /// An href that is gone or unknown (404).
    Gone(String),
}

/// Multistatus writer. A large answer is kept as parts of about [`PART`] bytes rather than one
/// string: growing and joining megabyte strings cost copies and, for each fresh block the
/// allocator maps, page faults (a third of a first month query's time after a start), while
/// parts this size are reused from the allocator's heap request after request.
struct Ms {
    out: String,
    parts: Vec<Bytes>,
}

/// Size at which [`Ms`] starts a new part: under glibc's initial 128 KiB mmap threshold.
const PART: usize = 64 << 10;

impl Ms {
    fn new() -> Self {
        let mut out = String::with_capacity(4096);
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\" xmlns:CS=\"{CS}\" xmlns:I=\"{ICAL}\">\n"
        );
        Self {
            out,
            parts: Vec::new(),
        }
    }

    /// Ends the current part if it is full; called after each response.
    fn spill(&mut self) {
        if self.out.len() >= PART {
            let full = std::mem::replace(&mut self.out, String::with_capacity(PART + PART / 4));
            self.parts.push(Bytes::from(full));
        }
    }

    /// One response: found properties with their XML, and the names of the missing ones.
    fn response<V: AsRef<str>>(
        &mut self,
        href: &str,
        found: &[(PropName, V)],
        missing: &[PropName],
    ) {
        let _ = write!(self.out, "<D:response><D:href>{}</D:href>", esc(href));
        if !found.is_empty() {
            self.out.push_str("<D:propstat><D:prop>");
            for ((ns, name), value) in found {
                self.prop(ns, name, value.as_ref());
            }
            self.out
                .push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
        }
        if !missing.is_empty() {
            self.out.push_str("<D:propstat><D:prop>");
            for (ns, name) in missing {
                match known_prefix(ns) {
                    Some(p) => {
                        let _ = write!(self.out, "<{p}:{}/>", esc(name));
                    }
                    None => {
                        let _ = write!(self.out, "<X:{} xmlns:X=\"{}\"/>", esc(name), esc(ns));
                    }
                }
            }
            self.out
                .push_str("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>");
        }
        self.out.push_str("</D:response>\n");
        self.spill();
    }

    /// One found property with its XML value.
    fn prop(&mut self, ns: &str, name: &str, value: &str) {
        let p = prefix(ns);
        if value.is_empty() {
            let _ = write!(self.out, "<{p}:{name}/>");
        } else {
            let _ = write!(self.out, "<{p}:{name}>{value}</{p}:{name}>");
        }
    }

    /// An item's response from the index (and the object cache): `names` are index-only
    /// properties and calendar data, written as [`Ms::response`] would write them from the
    /// record.
    fn cached(&mut self, href: &str, names: &[PropName], etag: &str, data: &str) {
        if names.is_empty() {
            return self.response::<&str>(href, &[], &[]);
        }
        let _ = write!(
            self.out,
            "<D:response><D:href>{}</D:href><D:propstat><D:prop>",
            esc(href)
        );
        for (ns, name) in names {
            let value = match name.as_str() {
                "getetag" => etag,
                "getcontenttype" => ITEM_TYPE,
                "calendar-data" => data,
                _ => "",
            };
            self.prop(ns, name, value);
        }
        self.out
            .push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n");
        self.spill();
    }

    /// A writer for a run of responses that will be appended to a multistatus.
    fn chunk() -> Self {
        Self {
            out: String::with_capacity(PART + PART / 4),
            parts: Vec::new(),
        }
    }

    /// Appends another writer's responses.
    fn append(&mut self, other: Ms) {
        if !self.out.is_empty() {
            let mine = std::mem::take(&mut self.out);
            self.parts.push(Bytes::from(mine));
        }
        self.parts.extend(other.parts);
        self.out = other.out;
    }

    /// Renders `pending` in order, as items of `coll` with the properties `names`; large
    /// answers on two threads (this machine class has two cores, and a month query's calendar
    /// data is the bulk of its time).
    fn render<F>(&mut self, coll: &Coll, names: &[PropName], pending: &[Pending], item: F)
    where
        F: Fn(&mut Ms, &StoredEvent, &mut Hrefs) + Sync,
    {
        let run = |part: &[Pending]| {
            let mut ms = Ms::chunk();
            let mut hrefs = Hrefs::new(coll);
            for p in part {
                match p {
                    Pending::Ev(ev) => item(&mut ms, ev, &mut hrefs),
                    Pending::Cached(key, mk, data) => {
                        let href = hrefs.of(&key.origin, &key.uid);
                        ms.cached(&href, names, &etag_of(mk.revision, &mk.id), data);
                    }
                    Pending::Gone(href) => ms.status(href, "404 Not Found"),
                }
            }
            ms
        };
        if pending.len() < 200 {
            let ms = run(pending);
            self.append(ms);
            return;
        }
        let (a, b) = pending.split_at(pending.len() / 2);
        let (x, y) = std::thread::scope(|sc| {
            let h = sc.spawn(|| run(b));
            let x = run(a);
            (x, h.join().unwrap_or_else(|_| Ms::chunk()))
        });
        self.append(x);
        self.append(y);
    }

    fn status(&mut self, href: &str, status: &str) {
        let _ = writeln!(
            self.out,
            "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 {status}</D:status></D:response>",
            esc(href)
        );
        self.spill();
    }

    fn finish(mut self, token: Option<u64>) -> Response {
        if let Some(t) = token {
            let _ = writeln!(self.out, "<D:sync-token>{}</D:sync-token>", sync_token(t));
        }
        self.out.push_str("</D:multistatus>\n");
        let xml = [(header::CONTENT_TYPE, "application/xml; charset=utf-8")];
        if self.parts.is_empty() {
            return (StatusCode::MULTI_STATUS, xml, self.out).into_response();
        }
        self.parts.push(Bytes::from(self.out));
        let length = self.parts.iter().map(Bytes::len).sum::<usize>();
        let parts = self
            .parts
            .into_iter()
            .map(Ok::<_, std::convert::Infallible>);
        (
            StatusCode::MULTI_STATUS,
            xml,
            [(header::CONTENT_LENGTH, length.to_string())],
            axum::body::Body::from_stream(futures::stream::iter(parts)),
        )
            .into_response()
    }
}

fn known_prefix(ns: &str) -> Option<&'static str> {
    match ns {
        DAV => Some("D"),
        CALDAV => Some("C"),
        CS => Some("CS"),
        ICAL => Some("I"),
        _ => None,
    }
}

fn prefix(ns: &str) -> &'static str {
    known_prefix(ns).unwrap_or("D")
}

fn p(ns: &str, name: &str) -> PropName {
    (ns.to_owned(), name.to_owned())
}

/// The properties `allprop` returns for each kind of resource.
fn all_props(res: &Res) -> Vec<PropName> {
    let mut v = vec![p(DAV, "resourcetype"), p(DAV, "displayname")];
    match res {
        Res::Coll(_) => v.extend([
            p(DAV, "sync-token"),
            p(CS, "getctag"),
            p(CALDAV, "supported-calendar-component-set"),
        ]),
        Res::Item(..) => v.extend([p(DAV, "getetag"), p(DAV, "getcontenttype")]),
        _ => {}
    }
    v
}

fn href_xml(h: &str) -> String {
    format!("<D:href>{}</D:href>", esc(h))
}

/// The value of one property of a resource, or `None` if it has none.
fn prop_value(
    gw: &Gateway,
    res: &Res,
    ev: Option<&StoredEvent>,
    seq: u64,
    (ns, name): &PropName,
) -> Option<String> {
    let is_coll = matches!(res, Res::Coll(_));
    Some(match (ns.as_str(), name.as_str()) {
        (DAV, "resourcetype") => match res {
            Res::Coll(_) => "<D:collection/><C:calendar/>".into(),
            Res::Principal => "<D:collection/><D:principal/>".into(),
            Res::Root | Res::Home => "<D:collection/>".into(),
            Res::Item(..) => String::new(),
        },
        (DAV, "displayname") => esc(&display_name(gw, res, ev)).into_owned(),
        (DAV, "current-user-principal") | (DAV, "principal-URL") | (DAV, "owner") => {
            href_xml(PRINCIPAL)
        }
        (CALDAV, "calendar-home-set") => href_xml(HOME),
        (DAV, "principal-collection-set") => href_xml(PRINCIPAL),
        (DAV, "current-user-privilege-set") => {
            "<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>".into()
        }
        (DAV, "supported-report-set") if is_coll => [
            "<D:supported-report><D:report><C:calendar-query/></D:report></D:supported-report>",
            "<D:supported-report><D:report><C:calendar-multiget/></D:report></D:supported-report>",
            "<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>",
        ]
        .concat(),
        (CALDAV, "supported-calendar-component-set") if is_coll => {
            "<C:comp name=\"VEVENT\"/>".into()
        }
        (CALDAV, "supported-calendar-data") if is_coll => {
            "<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into()
        }
        (CALDAV, "calendar-description") if is_coll => {
            esc(&format!("DisCal: {}", display_name(gw, res, ev))).into_owned()
        }
        (ICAL, "calendar-color") if is_coll => "#2457C5FF".into(),
        (CS, "getctag") if is_coll => seq.to_string(),
        (DAV, "sync-token") if is_coll => sync_token(seq),
        (DAV, "getetag") => item_etag(ev?),
        (DAV, "getcontenttype") => {
            ev?;
            ITEM_TYPE.into()
        }
        (DAV, "getlastmodified") => DateTime::from_timestamp_millis(ev?.received_at_ms)?
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
        _ => return None,
    })
}

fn display_name(gw: &Gateway, res: &Res, ev: Option<&StoredEvent>) -> String {
    match res {
        Res::Coll(Coll::All) => gw.name.to_string(),
        Res::Coll(Coll::Origin(k)) => {
            let name = gw.store.peer(k).ok().flatten().and_then(|m| m.name);
            match name {
                Some(n) => format!("{n} ({})", short_key(k)),
                None => format!("{} ({})", gw.name, short_key(k)),
            }
        }
        Res::Coll(Coll::View(q, _)) => format!("{}: {q}", gw.name),
        Res::Item(..) => ev
            .and_then(|e| e.content().master.summary.clone())
            .unwrap_or_default(),
        Res::Principal => "anonymous".into(),
        Res::Root | Res::Home => gw.name.to_string(),
    }
}

fn short_key(k: &NodeKey) -> String {
    let s = k.to_string();
    format!("…{}", &s[s.len().saturating_sub(8)..])
}

fn props_of(
    gw: &Gateway,
    res: &Res,
    ev: Option<&StoredEvent>,
    seq: u64,
    names: &[PropName],
) -> (Vec<(PropName, String)>, Vec<PropName>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match prop_value(gw, res, ev, seq, n) {
            Some(v) => found.push((n.clone(), v)),
            None => missing.push(n.clone()),
        }
    }
    (found, missing)
}

fn parse_body(body: &[u8]) -> Result<Option<El>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    xml::parse(body)
        .map(Some)
        .map_err(|e| crate::text(StatusCode::BAD_REQUEST, e.to_string()))
}

fn propfind(gw: &Gateway, res: &Res, headers: &HeaderMap, body: &[u8]) -> Response {
    let depth = match quirks::propfind_depth(headers) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let root = match parse_body(body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(r) = &root {
        if !r.is(DAV, "propfind") {
            return crate::text(
                StatusCode::BAD_REQUEST,
                "PROPFIND body must be DAV:propfind",
            );
        }
    }
    let explicit = wanted(root.as_ref());
    let names_for = |res: &Res| explicit.clone().unwrap_or_else(|| all_props(res));
    let seq = match gw.store.last_seq() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let mut ms = Ms::new();
    let self_href = match res {
        Res::Root => ROOT.to_owned(),
        Res::Principal => PRINCIPAL.to_owned(),
        Res::Home => HOME.to_owned(),
        Res::Coll(c) => c.href(),
        Res::Item(c, k) => format!("{}{}", c.href(), item_name(&k.origin, &k.uid)),
    };
    let item = match res {
        Res::Item(c, k) => match load_item(gw, c, k) {
            Ok(Some(ev)) => Some(ev),
            Ok(None) => {
                return crate::text(StatusCode::NOT_FOUND, "no such event in this calendar")
            }
            Err(r) => return r,
        },
        _ => None,
    };
    let (found, missing) = props_of(gw, res, item.as_ref(), seq, &names_for(res));
    ms.response(&self_href, &found, &missing);
    if depth == 1 {
        match res {
            Res::Root => {
                for r in [Res::Principal, Res::Home] {
                    let href = if matches!(r, Res::Principal) {
                        PRINCIPAL
                    } else {
                        HOME
                    };
                    let (f, m) = props_of(gw, &r, None, seq, &names_for(&r));
                    ms.response(href, &f, &m);
                }
            }
            Res::Home => {
                let mut colls = vec![Coll::All];
                match gw.store.origins() {
                    Ok(o) => colls.extend(o.into_iter().map(|(k, _)| Coll::Origin(k))),
                    Err(e) => return internal(e),
                }
                for c in colls {
                    let r = Res::Coll(c.clone());
                    let (f, m) = props_of(gw, &r, None, seq, &names_for(&r));
                    ms.response(&c.href(), &f, &m);
                }
            }
            Res::Coll(c) if explicit.as_deref().is_some_and(index_only) => {
                let names = explicit.clone().unwrap_or_default();
                match index_listing(gw, c) {
                    Some(Ok(items)) => {
                        for (href, etag) in &items {
                            ms.cached(href, &names, etag, "");
                        }
                        return ms.finish(None);
                    }
                    Some(Err(r)) => return r,
                    None => {}
                }
                let hits = match members(gw, c) {
                    Ok(h) => h,
                    Err(r) => return r,
                };
                for h in &hits {
                    ms.response(
                        &c.item_href(&h.event),
                        &index_props(&names, &item_etag(&h.event)),
                        &[],
                    );
                }
            }
            Res::Coll(c) => {
                let hits = match members(gw, c) {
                    Ok(h) => h,
                    Err(r) => return r,
                };
                for h in &hits {
                    let r = Res::Item(c.clone(), h.event.key());
                    let (f, m) = props_of(gw, &r, Some(&h.event), seq, &names_for(&r));
                    ms.response(&c.item_href(&h.event), &f, &m);
                }
            }
            _ => {}
        }
    }
    ms.finish(None)
}

/// What `calendar-data` asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DataMode {
    /// The event as stored.
    Full,
    /// One VEVENT per instance in `[from, to)`, in UTC, without recurrence rules.
    Expand(DateTime<Utc>, DateTime<Utc>),
}

fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(s.trim(), "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| Utc.from_utc_datetime(&t))
}

fn data_mode(prop: Option<&El>) -> Result<Option<DataMode>, Response> {
    let Some(cd) = prop.and_then(|p| p.child(CALDAV, "calendar-data")) else {
        return Ok(None);
    };
    if let Some(x) = cd.child(CALDAV, "expand") {
        let (Some(a), Some(b)) = (
            x.attr("start").and_then(parse_utc),
            x.attr("end").and_then(parse_utc),
        ) else {
            return Err(crate::text(
                StatusCode::BAD_REQUEST,
                "C:expand needs start and end as UTC date-times (YYYYMMDDTHHMMSSZ)",
            ));
        };
        return Ok(Some(DataMode::Expand(a, b)));
    }
    // limit-recurrence-set lets a server send more than asked: the whole event is sent.
    Ok(Some(DataMode::Full))
}

fn calendar_data(gw: &Gateway, ev: &StoredEvent, mode: DataMode) -> Arc<str> {
    match mode {
        DataMode::Full => gw.dav_objects.get_or_make(ev),
        DataMode::Expand(from, to) => xml_text(&expanded(gw, ev, from, to)),
    }
}

/// Text content needs only `<`, `&` and `>` escaped; iCalendar text rarely has any.
fn xml_text(ics: &str) -> Arc<str> {
    quick_xml::escape::partial_escape(ics).into()
}

/// Each event revision's calendar object, escaped for a multistatus, kept once made: a
/// revision never changes, so entries are never stale, only aged out (oldest first) when the
/// cache is full. [`ObjectCache::warm`] fills it at start, so the first reports after a start
/// cost what later ones do.
pub struct ObjectCache {
    inner: Mutex<ObjectsInner>,
    max_bytes: usize,
}

#[derive(Default)]
struct ObjectsInner {
    map: HashMap<discal_protocol::EventId, Arc<str>>,
    order: std::collections::VecDeque<discal_protocol::EventId>,
    bytes: usize,
}

impl ObjectCache {
    /// A cache of at most `max_bytes` of calendar objects.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(ObjectsInner::default()),
            max_bytes,
        }
    }

    /// Drops every object made so far: they are made again when next asked for.
    pub fn clear(&self) {
        if let Ok(mut c) = self.inner.lock() {
            *c = ObjectsInner::default();
        }
    }

    /// The calendar object of a revision, if made already.
    fn cached(&self, id: &discal_protocol::EventId) -> Option<Arc<str>> {
        self.inner.lock().ok().and_then(|c| c.map.get(id).cloned())
    }

    fn get_or_make(&self, ev: &StoredEvent) -> Arc<str> {
        if let Some(v) = self
            .inner
            .lock()
            .ok()
            .and_then(|c| c.map.get(&ev.id).cloned())
        {
            return v;
        }
        let v = xml_text(&item_ics(ev));
        self.put(ev.id, v.clone());
        v
    }

    /// Stores `v`, evicting the oldest entries if needed; false if it did not fit without
    /// evicting (warming stops there rather than evict what it just made).
    fn put(&self, id: discal_protocol::EventId, v: Arc<str>) -> bool {
        let Ok(mut c) = self.inner.lock() else {
            return false;
        };
        if c.map.contains_key(&id) {
            return true;
        }
        let full = c.bytes + v.len() > self.max_bytes;
        while c.bytes + v.len() > self.max_bytes {
            let Some(old) = c.order.pop_front() else {
                return false;
            };
            if let Some(o) = c.map.remove(&old) {
                c.bytes -= o.len();
            }
        }
        c.bytes += v.len();
        c.order.push_back(id);
        c.map.insert(id, v);
        !full
    }

    /// Renders the newest events' calendar objects until the cache is full (and so also makes
    /// the VTIMEZONEs of the zones in use). Meant for a background thread at start.
    pub fn warm(&self, store: &discal_store::Store) -> Result<usize, discal_store::StoreError> {
        let mut n = 0;
        let mut after = 0;
        loop {
            let batch = store.changes_since(after, 1000)?;
            let Some(last) = batch.last() else {
                return Ok(n);
            };
            after = last.seq;
            for ev in &batch {
                if !self.put(ev.id, xml_text(&item_ics(ev))) {
                    return Ok(n);
                }
                n += 1;
            }
        }
    }
}

/// One event as a calendar object resource: its VTIMEZONEs and VEVENTs, nothing else.
fn item_ics(ev: &StoredEvent) -> String {
    let mut zones = std::collections::BTreeSet::new();
    feeds::tzids(ev, &mut zones);
    let mut header = String::new();
    for z in &zones {
        if let Some(v) = feeds::vtimezone(z) {
            header.push_str(&v);
        }
    }
    discal_protocol::ics::write_calendar([crate::ics_event(ev)], &[header])
}

/// The instances of an event in a window as separate VEVENTs with UTC times and a
/// RECURRENCE-ID each (RFC 4791 §9.6.5).
fn expanded(gw: &Gateway, ev: &StoredEvent, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let c = ev.content();
    let x = discal_protocol::recur::expand(
        c,
        from,
        to,
        chrono_tz::UTC,
        discal_protocol::recur::ExpandLimits::default(),
    )
    .unwrap_or_default();
    let utc = |t: DateTime<Utc>| DateTimeValue::Utc(LocalDateTime::from_chrono(t.naive_utc()));
    let mut comps = Vec::new();
    for o in &x.occurrences {
        let mut comp = match o.component {
            0 => c.master.clone(),
            i => c
                .overrides
                .get(i - 1)
                .cloned()
                .unwrap_or_else(|| c.master.clone()),
        };
        let rid_local = DateTimeValue::Zoned {
            local: o.recurrence_id,
            tzid: c.master.start.tzid().unwrap_or("UTC").to_owned(),
        };
        let rid = match &c.master.start {
            DateTimeValue::Zoned { .. } => {
                discal_protocol::recur::instant(&rid_local, chrono_tz::UTC)
                    .map(utc)
                    .unwrap_or_else(|_| utc(o.start))
            }
            DateTimeValue::Date(_) => DateTimeValue::Date(o.recurrence_id.date),
            DateTimeValue::Utc(_) => DateTimeValue::Utc(o.recurrence_id),
            DateTimeValue::Floating(_) => DateTimeValue::Floating(o.recurrence_id),
        };
        if o.all_day {
            let d = |t: DateTime<Utc>| {
                DateTimeValue::Date(discal_protocol::model::Date::from_chrono(t.date_naive()))
            };
            comp.start = d(o.start);
            comp.end = Some(End::At(d(o.end)));
        } else {
            comp.start = utc(o.start);
            comp.end = Some(End::At(utc(o.end)));
        }
        comp.rrule = None;
        comp.rdates.clear();
        comp.exdates.clear();
        if x.occurrences.len() > 1 || c.master.is_recurring() {
            comp.recurrence_id = Some(rid);
        }
        comps.push(comp);
    }
    let Some((first, rest)) = comps.split_first() else {
        return feeds::ics_calendar(&gw.name, std::iter::empty(), None);
    };
    let mut content = EventContent::new(first.clone());
    content.overrides = rest.to_vec();
    let ics = discal_protocol::ics::IcsEvent {
        uid: &ev.payload.uid,
        content: &content,
        revision: ev.payload.revision,
        hop: ev.transit.hop.into(),
        issued: crate::issued_local(ev.payload.issued_at_ms),
    };
    discal_protocol::ics::write_calendar([ics], &[])
}

fn report(gw: &Gateway, res: &Res, headers: &HeaderMap, body: &[u8]) -> Response {
    match parse_body(body) {
        Ok(Some(r)) => report_of(gw, res, headers, &r),
        Ok(None) => crate::text(StatusCode::BAD_REQUEST, "REPORT needs a body"),
        Err(r) => r,
    }
}

fn report_of(gw: &Gateway, res: &Res, headers: &HeaderMap, root: &El) -> Response {
    let coll = match res {
        Res::Coll(c) => c.clone(),
        // A report on an item is a report on its collection, limited to that item.
        Res::Item(c, _) => c.clone(),
        _ => return dav_error(StatusCode::FORBIDDEN, "<D:supported-report/>"),
    };
    let seq = match gw.store.last_seq() {
        Ok(s) => s,
        Err(e) => return internal(e),
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
    let mode = match data_mode(prop) {
        Ok(m) => m,
        Err(r) => return r,
    };
    // Most clients ask for the ETag and the calendar data: both can come from the index and
    // the object cache, without reading and decoding the record.
    let from_index = matches!(mode, None | Some(DataMode::Full))
        && names.iter().all(|n| {
            index_only(std::slice::from_ref(n)) || (n.0 == CALDAV && n.1 == "calendar-data")
        });
    let mut ms = Ms::new();
    let mut pending: Vec<Pending> = Vec::new();
    let emit = |ms: &mut Ms, ev: &StoredEvent, hrefs: &mut Hrefs| {
        let r = Res::Item(coll.clone(), ev.key());
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for n in &names {
            if n.0 == CALDAV && n.1 == "calendar-data" {
                found.push((
                    n.clone(),
                    calendar_data(gw, ev, mode.unwrap_or(DataMode::Full)),
                ));
            } else {
                match prop_value(gw, &r, Some(ev), seq, n) {
                    Some(v) => found.push((n.clone(), v.into())),
                    None => missing.push(n.clone()),
                }
            }
        }
        ms.response(
            &hrefs.of(&ev.payload.origin, &ev.payload.uid),
            &found,
            &missing,
        );
    };
    if root.is(CALDAV, "calendar-multiget") {
        quirks::multiget_depth(headers);
        let mut views = ViewMembers::new();
        for h in root.children_named(DAV, "href") {
            let path = quirks::normalize_href(&h.text);
            let Ok(Res::Item(c, k)) = resolve(&path) else {
                pending.push(Pending::Gone(h.text.clone()));
                continue;
            };
            // Answers are rendered as items of the collection the report was sent to.
            if from_index && same_collection(&c, &coll) {
                match known(gw, &c, &k) {
                    Ok(Some(p)) => {
                        pending.push(p);
                        continue;
                    }
                    Ok(None) => {}
                    Err(r) => return r,
                }
            }
            match load_member(gw, &c, &k, &mut views) {
                Ok(Some(ev)) => pending.push(Pending::Ev(ev)),
                Ok(None) => pending.push(Pending::Gone(h.text.clone())),
                Err(r) => return r,
            }
        }
        ms.render(&coll, &names, &pending, emit);
        return ms.finish(None);
    }
    if root.is(CALDAV, "calendar-query") {
        let q = match CalQuery::parse(root.child(CALDAV, "filter")) {
            Ok(q) => q,
            Err(r) => return r,
        };
        if !q.vevent {
            return ms.finish(None);
        }
        let mut f = coll.filter();
        let window = match (q.start, q.end) {
            (None, None) => f.window(crate::read::today(gw, &f), None),
            (a, b) => {
                let lo = Utc.with_ymd_and_hms(1900, 1, 1, 0, 0, 0).single();
                let hi = Utc.with_ymd_and_hms(2200, 1, 1, 0, 0, 0).single();
                match (a.or(lo), b.or(hi)) {
                    (Some(a), Some(b)) if a < b => Some((a, b)),
                    _ => {
                        return crate::text(
                            StatusCode::BAD_REQUEST,
                            "time-range end must be after start",
                        )
                    }
                }
            }
        };
        f.offset = 0;
        let only = match res {
            Res::Item(_, k) => Some(k.clone()),
            _ => None,
        };
        // The circle of a `near` view and text matches need the events themselves.
        if from_index && q.text.is_empty() && f.near.is_none() {
            let query = crate::read::store_query(&f, window, MAX_ITEMS, true);
            let found = match gw.store.query_keys(&query) {
                Ok(r) => r.hits,
                Err(e) => return internal(e),
            };
            for h in found {
                if only.as_ref().is_some_and(|k| *k != h.key) {
                    continue;
                }
                if let Some(ev) = h.event {
                    pending.push(Pending::Ev(ev));
                } else if let Some(p) = cached_item(gw, &h.key, h.merge) {
                    pending.push(p);
                } else {
                    match gw.store.event_at(h.seq) {
                        Ok(Some(ev)) => pending.push(Pending::Ev(Box::new(ev))),
                        // Replaced since the query: it is in the next sync.
                        Ok(None) => {}
                        Err(e) => return internal(e),
                    }
                }
            }
            ms.render(&coll, &names, &pending, emit);
            return ms.finish(None);
        }
        let hits = match fetch(&gw.store, &f, window, MAX_ITEMS, true) {
            Ok(p) => p.hits,
            Err(e) => return internal(e),
        };
        for h in hits {
            if only.as_ref().is_some_and(|k| *k != h.event.key()) || !q.matches(&h.event) {
                continue;
            }
            pending.push(Pending::Ev(Box::new(h.event)));
        }
        ms.render(&coll, &names, &pending, emit);
        return ms.finish(None);
    }
    if root.is(DAV, "sync-collection") {
        quirks::sync_collection_depth(headers);
        let token = root
            .child(DAV, "sync-token")
            .map(|t| t.text.trim())
            .unwrap_or("");
        let since = if token.is_empty() {
            None
        } else {
            match parse_token(token) {
                Some(s) if s <= seq => Some(s),
                _ => return dav_error(StatusCode::FORBIDDEN, "<D:valid-sync-token/>"),
            }
        };
        match since {
            None => {
                if index_only(&names) {
                    if let Some(listing) = index_listing(gw, &coll) {
                        match listing {
                            Ok(items) => {
                                for (href, etag) in &items {
                                    ms.cached(href, &names, etag, "");
                                }
                                return ms.finish(Some(seq));
                            }
                            Err(r) => return r,
                        }
                    }
                }
                let current = match members(gw, &coll) {
                    Ok(h) => h,
                    Err(r) => return r,
                };
                pending.extend(current.into_iter().map(|h| Pending::Ev(Box::new(h.event))));
            }
            Some(s) => {
                let changed = match gw.store.changes_since(s, usize::MAX) {
                    Ok(c) => c,
                    Err(e) => return internal(e),
                };
                // Aggregate and origin calendars never lose events (a cancellation is a
                // revision); only a view needs its current members to tell removals.
                let now: Option<std::collections::HashSet<(NodeKey, String)>> = match &coll {
                    Coll::View(..) => match members(gw, &coll) {
                        Ok(h) => Some(
                            h.iter()
                                .map(|h| (h.event.payload.origin, h.event.payload.uid.clone()))
                                .collect(),
                        ),
                        Err(r) => return r,
                    },
                    _ => None,
                };
                for ev in changed {
                    let member = match (&coll, &now) {
                        (Coll::Origin(k), _) => ev.payload.origin == *k,
                        (_, Some(now)) => {
                            now.contains(&(ev.payload.origin, ev.payload.uid.clone()))
                        }
                        _ => true,
                    };
                    if member {
                        pending.push(Pending::Ev(Box::new(ev)));
                    } else if matches!(coll, Coll::View(..)) {
                        // It changed and no longer matches the view: gone from it.
                        pending.push(Pending::Gone(coll.item_href(&ev)));
                    }
                }
            }
        }
        ms.render(&coll, &names, &pending, emit);
        return ms.finish(Some(seq));
    }
    dav_error(StatusCode::FORBIDDEN, "<D:supported-report/>")
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
    fn parse(filter: Option<&El>) -> Result<Self, Response> {
        let mut q = Self {
            vevent: true,
            start: None,
            end: None,
            text: Vec::new(),
        };
        let Some(filter) = filter else {
            return Ok(q);
        };
        let unsupported = |what: &str| {
            dav_error(
                StatusCode::FORBIDDEN,
                &format!(
                    "<C:supported-filter><C:{}/></C:supported-filter>",
                    esc(what)
                ),
            )
        };
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
                    crate::text(
                        StatusCode::BAD_REQUEST,
                        "time-range start/end must be UTC date-times (YYYYMMDDTHHMMSSZ)",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_requests_run_inline_and_the_rest_in_the_pool() {
        let key = discal_protocol::NodeSecret::from_seed_array([1; 32]).public();
        let all = Coll::All.href();
        let item = |coll: &str, uid: &str| format!("{coll}{}", item_name(&key, uid));
        let view = "/dav/views/tags%3Dmeetup/";
        let multiget = |hrefs: Vec<String>| {
            let hs: String = hrefs
                .iter()
                .map(|h| format!("<D:href>{h}</D:href>"))
                .collect();
            xml::parse(format!(r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="{CALDAV}"><D:prop><D:getetag/></D:prop>{hs}</C:calendar-multiget>"#).as_bytes()).unwrap()
        };
        let res = |p: &str| resolve(p).unwrap();
        let get = Method::GET;
        let report = Method::from_bytes(b"REPORT").unwrap();
        // One item of the aggregate or an origin calendar: inline.
        assert!(runs_inline(&get, &res(&item(&all, "a@x")), None));
        assert!(runs_inline(
            &Method::HEAD,
            &res(&item(&Coll::Origin(key).href(), "a@x")),
            None
        ));
        // A whole calendar, or an item of a view (membership is a query): the pool.
        assert!(!runs_inline(&get, &res(&all), None));
        assert!(!runs_inline(&get, &res(&item(view, "a@x")), None));
        // A multiget of up to 100 of the collection's own items, paths or URLs: inline.
        let own: Vec<String> = (0..100).map(|i| item(&all, &format!("e{i}@x"))).collect();
        assert!(runs_inline(
            &report,
            &res(&all),
            Some(&multiget(own.clone()))
        ));
        let urls = own
            .iter()
            .map(|h| format!("https://cal.example{h}"))
            .collect();
        assert!(runs_inline(&report, &res(&all), Some(&multiget(urls))));
        // One more item, an item of a view, or a report to a view: the pool.
        let mut more = own.clone();
        more.push(item(&all, "e100@x"));
        assert!(!runs_inline(&report, &res(&all), Some(&multiget(more))));
        let mut viewed = own[..10].to_vec();
        viewed.push(item(view, "v@x"));
        assert!(!runs_inline(&report, &res(&all), Some(&multiget(viewed))));
        assert!(!runs_inline(
            &report,
            &res(view),
            Some(&multiget(vec![item(view, "v@x")]))
        ));
        // Queries and syncs may touch the whole calendar: the pool.
        let query = xml::parse(
            format!(r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="{CALDAV}"/>"#).as_bytes(),
        )
        .unwrap();
        assert!(!runs_inline(&report, &res(&all), Some(&query)));
        assert!(!runs_inline(
            &Method::from_bytes(b"PROPFIND").unwrap(),
            &res(&all),
            None
        ));
    }

    #[test]
    fn etags_are_revision_and_hash_prefix() {
        let mut id = discal_protocol::EventId([0; 32]);
        id.0[..7].copy_from_slice(&[0x00, 0x0f, 0xa5, 0xff, 0x10, 0x7e, 0x99]);
        assert_eq!(etag_of(0, &id), "\"0-000fa5ff107e\"");
        assert_eq!(etag_of(u32::MAX, &id), "\"4294967295-000fa5ff107e\"");
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
