//! CalDAV (RFC 4791, sync by RFC 6578, WebDAV by RFC 4918), so calendar apps can add a node
//! as an account and stay in sync cheaply: anonymous and read-only for everyone, and for each
//! account a writable calendar of its own (docs/caldav.md).
//!
//! URL space (every collection also answers without its trailing slash):
//! - `/.well-known/caldav` → redirect to `/dav/`;
//! - `/dav/` root, `/dav/principal/` (the anonymous principal), `/dav/principal/{name}/` (an
//!   account's, which asks for credentials), `/dav/calendars/` (the calendar home, listing
//!   `all/`, one `origin-{key}/` per origin node and, to an account, `users/{name}/`);
//! - `/dav/views/{view}/`: any personal view of docs/feeds.md as a collection, `{view}` being
//!   its query string percent-encoded as one path segment (e.g. `tags%3Dlinux%26days%3D30`);
//! - items `{collection}/{origin}~{uid}.ics`, the UID percent-encoded; in an account's
//!   calendar, the names its apps gave them.
//!
//! Sync tokens and CTags are the store's change sequence: a delta is the changes after the
//! token that concern the collection. Events are never deleted (a cancellation is a revision),
//! so removals happen only in views, when a changed event no longer matches, and in an
//! account's calendar, which leaves cancelled events out.
//!
//! # Layout
//! - `mod.rs`: the one handler for every method under `/dav`: who asks (Basic or bearer),
//!   which writes are allowed (the one place they are refused), and where each read runs (the
//!   connection's worker or the blocking pool).
//! - `own.rs`: an account's own calendar: binding its names to events, PUT, DELETE, PROPPATCH.
//! - `propose.rs`: an account's edit of another node's event, sent to its origin as a proposal.
//! - `path.rs`: the URL space, hrefs, sync tokens, ETags.
//! - `error.rs`: [`DavError`], each failure as the answer a client understands.
//! - `xml.rs`: request bodies parsed with limits; escaping.
//! - `props.rs`: properties asked for and their values.
//! - `multistatus.rs`: writing 207 answers.
//! - `members.rs`: what a collection holds; loading named items.
//! - `objects.rs`: calendar object resources, their cache, and `C:expand`.
//! - `get.rs`, `propfind.rs`: GET/HEAD and PROPFIND.
//! - `report/`: REPORT, one file per report (`multiget`, `query`, `sync`).
//! - `warm_up.rs`: one pass of each request kind at start.
//! - `quirks.rs`: client workarounds, one named function per behaviour.
//! - `fuzzing.rs` (with the `test-utils` feature): the request-body fuzzing entry point.

mod error;
#[cfg(feature = "test-utils")]
pub mod fuzzing;
mod get;
mod members;
mod multistatus;
mod objects;
mod own;
mod path;
mod propfind;
mod propose;
mod props;
pub mod quirks;
mod report;
mod warm_up;
pub mod xml;

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub use error::DavError;
pub use members::GroupingCache;
pub use objects::ObjectCache;
pub use own::{MAX_CALENDAR_PROPS, MAX_RESOURCE_BYTES};
pub use path::{item_etag, item_name, resolve, sync_token, Coll, Res, ROOT};
pub use warm_up::{warm_up, WARM_UP_ITEMS};

use crate::web::auth::Caller;
use crate::{ClientAddr, Gateway};
use error::ALLOW;
use xml::{El, CALDAV, DAV};

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
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let from = addr.map(|Extension(ClientAddr(ip))| ip);
    let body = match read_body(&method, &headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match dispatch(gw, method, uri.path(), headers, body, from).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// A request's body, read up to its method's limit (a PUT's is the largest calendar object
/// this server takes, refused with `C:max-resource-size` as RFC 4791 has it; the others' is
/// the gateway's). A declared length over it is refused before anything is read.
async fn read_body(
    method: &Method,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Bytes, DavError> {
    let put = method == "PUT";
    let limit = if put {
        own::MAX_RESOURCE_BYTES
    } else {
        crate::MAX_BODY_BYTES
    };
    let too_large = || {
        if put {
            own::too_large()
        } else {
            DavError::BodyTooLarge(format!("request bodies are at most {limit} bytes here"))
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// The account a request comes from: Basic credentials (what calendar apps send) or a bearer
/// token; none without an `Authorization` header. Wrong credentials are an error anywhere,
/// so a client learns at once that its password is wrong.
async fn who(
    gw: &Gateway,
    headers: &HeaderMap,
    from: Option<std::net::IpAddr>,
) -> Result<Option<Caller>, DavError> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    if let Some(c) = crate::web::auth::basic_caller(gw, headers, from).await? {
        return Ok(Some(c));
    }
    Ok(crate::web::auth::caller(gw, headers)?)
}

async fn dispatch(
    gw: Gateway,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
    from: Option<std::net::IpAddr>,
) -> Result<Response, DavError> {
    if method == "OPTIONS" {
        return Ok((
            StatusCode::OK,
            [
                (header::ALLOW, ALLOW),
                (
                    header::HeaderName::from_static("dav"),
                    "1, 3, calendar-access",
                ),
            ],
        )
            .into_response());
    }
    let caller = who(&gw, &headers, from).await?;
    let resolved = resolve(path);
    let writes = matches!(
        method.as_str(),
        "PUT"
            | "DELETE"
            | "MKCALENDAR"
            | "MKCOL"
            | "PROPPATCH"
            | "MOVE"
            | "COPY"
            | "POST"
            | "LOCK"
            | "UNLOCK"
            | "ACL"
    );
    let own_target = matches!(
        &resolved,
        Ok(Res::Coll(Coll::User(_)) | Res::Named(Coll::User(_), _))
    );
    // An account's app changing another node's event: a proposal to its origin.
    if let (Some(c), Ok(Res::Item(coll, key)), "PUT" | "DELETE") =
        (&caller, &resolved, method.as_str())
    {
        if !own_target && gw.node.key().is_some_and(|me| me != key.origin) {
            let delete = method == "DELETE";
            return propose::propose(&gw, c, (coll, key), delete, &headers, &body).await;
        }
    }
    // Everything else but an account's own calendar is read-only: writes are refused here, in
    // one place, whatever the path names.
    if writes && !own_target {
        return Err(DavError::ReadOnly(path.to_owned()));
    }
    let res = resolved?;
    // An account's principal is its own: asking for it is how a calendar app is made to log in.
    if let Some(name) = path::principal_name(path) {
        own::allowed(caller.as_ref(), &name)?;
    }
    let name = match &res {
        Res::Named(_, n) => n.clone(),
        _ => String::new(),
    };
    match (method.as_str(), own_target) {
        ("PUT" | "DELETE" | "MKCALENDAR" | "MKCOL" | "PROPPATCH" | "MOVE" | "COPY", true) => {
            let res = own::bind(&gw, res, caller.as_ref(), false)?;
            let caller = caller.ok_or_else(|| DavError::Unauthorized("log in".into()))?;
            match method.as_str() {
                "PUT" => own::put(&gw, &caller, res, &name, &headers, &body).await,
                "DELETE" => own::delete(&gw, &caller, res, &headers).await,
                "PROPPATCH" => own::proppatch(&gw, &caller, &res, &body).await,
                "MKCALENDAR" | "MKCOL" => Err(DavError::condition(
                    "<D:resource-must-be-null/>",
                    "each account has one calendar, which exists already; put events into it",
                )),
                _ => Err(DavError::Forbidden(format!(
                    "{method} is not supported: PUT the event under its new name, then DELETE the old one"
                ))),
            }
        }
        ("POST" | "LOCK" | "UNLOCK" | "ACL", _) => Err(DavError::ReadOnly(path.to_owned())),
        ("GET" | "HEAD" | "PROPFIND" | "REPORT", _) => {
            let whole = matches!(method.as_str(), "PROPFIND" | "REPORT");
            let res = own::bind(&gw, res, caller.as_ref(), whole)?;
            let who = caller.map(|c| c.name);
            read(gw, method, path, res, headers, body, who).await
        }
        _ => Err(DavError::Method(method.to_string())),
    }
}

/// A read method, answered on the worker when it is small work and in the blocking pool
/// otherwise.
async fn read(
    gw: Gateway,
    method: Method,
    path: &str,
    res: Res,
    headers: HeaderMap,
    body: Bytes,
    who: Option<String>,
) -> Result<Response, DavError> {
    // A REPORT body of ordinary size is parsed here, to see whether it is small work.
    let root = if method == "REPORT" && body.len() <= INLINE_PARSE_BYTES {
        Some(report_body(&body)?)
    } else {
        None
    };
    // An account's calendar is not one of the shared, cached feeds.
    if let (Res::Coll(c @ (Coll::All | Coll::Origin(_) | Coll::View(..))), "GET" | "HEAD") =
        (&res, method.as_str())
    {
        return Ok(get::collection(&gw, c, path, &headers).await);
    }
    if runs_inline(&method, &res, root.as_ref()) {
        return match root {
            Some(r) => report::report(&gw, &res, &r, who.as_deref()),
            None => get::get(&gw, &res, &headers),
        };
    }
    // Listings, queries, syncs and expansions may touch the whole calendar: a few at a time,
    // so that many of them cannot take every core (and the memory of every answer) at once.
    let wait = std::time::Duration::from_secs(HEAVY_WAIT_SECS);
    let _permit = match tokio::time::timeout(wait, gw.heavy.clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => return Err(DavError::Busy),
    };
    tokio::task::spawn_blocking(move || {
        let who = who.as_deref();
        match (method.as_str(), root) {
            ("PROPFIND", _) => propfind::propfind(&gw, &res, &headers, &body, who),
            ("REPORT", Some(r)) => report::report(&gw, &res, &r, who),
            ("REPORT", None) => report::report(&gw, &res, &report_body(&body)?, who),
            _ => get::get(&gw, &res, &headers),
        }
    })
    .await?
}

/// How long an expensive request waits for its turn before it is answered 503.
const HEAVY_WAIT_SECS: u64 = 10;

/// REPORT bodies up to this size are parsed on the connection's worker thread (a multiget of
/// 100 hrefs is about 12 KiB; parsing it takes tens of microseconds).
const INLINE_PARSE_BYTES: usize = 32 << 10;
/// The most items a multiget may name and still be answered on the worker thread.
const INLINE_MULTIGET_HREFS: usize = 100;

/// Whether a request is small enough to answer on the connection's worker thread instead of
/// the blocking pool: one item (GET, HEAD), or a multiget of at most 100 items, which is how
/// clients fetch what a sync reported changed. The hand-off to a pool thread and back costs
/// two thread wake-ups, which is more than such a request's work (docs/performance.md has the
/// figures). Anything that may touch
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
            let expands = root
                .child(DAV, "prop")
                .and_then(|p| p.child(CALDAV, "calendar-data"))
                .is_some_and(|cd| cd.child(CALDAV, "expand").is_some());
            !expands
                && root.is(CALDAV, "calendar-multiget")
                && root.children_named(DAV, "href").count() <= INLINE_MULTIGET_HREFS
                && root
                    .children_named(DAV, "href")
                    .all(|h| quirks::href_is_item_of(&h.text, &own))
        }
        _ => false,
    }
}

/// A REPORT's body, which it must have.
fn report_body(body: &[u8]) -> Result<El, DavError> {
    parse_body(body)?.ok_or_else(|| DavError::BadRequest("REPORT needs a body".into()))
}

/// A request body as an element tree; `None` for an empty body.
fn parse_body(body: &[u8]) -> Result<Option<El>, DavError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    xml::parse(body)
        .map(Some)
        .map_err(|e| DavError::BadRequest(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::path::Coll;

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
}
