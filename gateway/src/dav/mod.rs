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
//!
//! # Layout
//! - `mod.rs`: the one handler for every method under `/dav`, and where each request runs
//!   (the connection's worker or the blocking pool).
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
mod path;
mod propfind;
mod props;
pub mod quirks;
mod report;
mod warm_up;
pub mod xml;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

pub use error::DavError;
pub use members::GroupingCache;
pub use objects::ObjectCache;
pub use path::{item_etag, item_name, resolve, sync_token, Coll, Res, ROOT};
pub use warm_up::{warm_up, WARM_UP_ITEMS};

use crate::Gateway;
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
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(gw, method, uri.path(), headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    gw: Gateway,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DavError> {
    match method.as_str() {
        "OPTIONS" => Ok((
            StatusCode::OK,
            [
                (header::ALLOW, ALLOW),
                (
                    header::HeaderName::from_static("dav"),
                    "1, 3, calendar-access",
                ),
            ],
        )
            .into_response()),
        // Every write method is refused here, in one place.
        "PUT" | "DELETE" | "MKCALENDAR" | "MKCOL" | "PROPPATCH" | "MOVE" | "COPY" | "POST"
        | "LOCK" | "UNLOCK" | "ACL" => Err(DavError::ReadOnly(path.to_owned())),
        "GET" | "HEAD" | "PROPFIND" | "REPORT" => read(gw, method, path, headers, body).await,
        _ => Err(DavError::Method(method.to_string())),
    }
}

/// A read method, answered on the worker when it is small work and in the blocking pool
/// otherwise.
async fn read(
    gw: Gateway,
    method: Method,
    path: &str,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, DavError> {
    let res = resolve(path)?;
    // A REPORT body of ordinary size is parsed here, to see whether it is small work.
    let root = if method == "REPORT" && body.len() <= INLINE_PARSE_BYTES {
        Some(report_body(&body)?)
    } else {
        None
    };
    if let (Res::Coll(c), "GET" | "HEAD") = (&res, method.as_str()) {
        return Ok(get::collection(&gw, c, path, &headers).await);
    }
    if runs_inline(&method, &res, root.as_ref()) {
        return match root {
            Some(r) => report::report(&gw, &res, &r),
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
    tokio::task::spawn_blocking(move || match (method.as_str(), root) {
        ("PROPFIND", _) => propfind::propfind(&gw, &res, &headers, &body),
        ("REPORT", Some(r)) => report::report(&gw, &res, &r),
        ("REPORT", None) => report::report(&gw, &res, &report_body(&body)?),
        _ => get::get(&gw, &res, &headers),
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
