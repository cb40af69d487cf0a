//! The read path shared by every format: a [`ViewFilter`] from the query string, a store query
//! over the time index, and one cached rendering per (format, URL, store change sequence).
//!
//! The ETag is derived from the URL and the store's change sequence (plus today's date for
//! views relative to today), so a revalidation (`If-None-Match`) is answered 304 without a
//! query or a render. A rendering is kept with its compressed forms, each made once, so a feed
//! asked for by many subscribers costs one render and one compression per store change.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use discal_protocol::view::ViewFilter;
use discal_protocol::NodeKey;
use discal_store::{BBox, Hit, Query, Store, StoreError};

use crate::{AppError, Gateway};

/// One rendered answer, shared by every request that asks for the same thing.
pub struct Rendered {
    /// Status (200, or 404 for a missing event page: those are cached too).
    pub status: StatusCode,
    /// Content-Type.
    pub content_type: &'static str,
    /// The body, uncompressed.
    pub body: Bytes,
    /// Newest arrival among the events shown (ms since the epoch).
    pub last_modified_ms: Option<i64>,
    /// Further headers (Link rel=next, CSP, CORS...).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    gzip: OnceLock<Bytes>,
    br: OnceLock<Bytes>,
}

impl Rendered {
    /// A 200 answer.
    pub fn new(content_type: &'static str, body: impl Into<Bytes>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
            last_modified_ms: None,
            headers: Vec::new(),
            gzip: OnceLock::new(),
            br: OnceLock::new(),
        }
    }

    /// Adds a header; values that are not valid header text are dropped (they come from our
    /// own formatting, never from event content).
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    fn encoded(&self, enc: Encoding) -> Bytes {
        match enc {
            Encoding::Identity => self.body.clone(),
            Encoding::Gzip => self
                .gzip
                .get_or_init(|| {
                    let mut e = flate2::write::GzEncoder::new(
                        Vec::with_capacity(self.body.len() / 4),
                        flate2::Compression::new(6),
                    );
                    let _ = e.write_all(&self.body);
                    e.finish().map(Bytes::from).unwrap_or_default()
                })
                .clone(),
            Encoding::Br => self
                .br
                .get_or_init(|| {
                    let mut out = Vec::with_capacity(self.body.len() / 4);
                    let params = brotli::enc::BrotliEncoderParams {
                        quality: 5,
                        lgwin: 22,
                        ..Default::default()
                    };
                    let _ = brotli::BrotliCompress(&mut &self.body[..], &mut out, &params);
                    Bytes::from(out)
                })
                .clone(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Gzip,
    Br,
}

/// Bodies smaller than this are sent as they are: compressing them saves less than it costs.
const COMPRESS_MIN: usize = 1024;

fn pick_encoding(headers: &HeaderMap, len: usize) -> Encoding {
    if len < COMPRESS_MIN {
        return Encoding::Identity;
    }
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let offered = |name: &str| {
        accept.split(',').any(|part| {
            let mut it = part.split(';');
            let coding = it.next().unwrap_or("").trim();
            let q_zero = it.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    == Some(0.0)
            });
            coding.eq_ignore_ascii_case(name) && !q_zero
        })
    };
    if offered("br") {
        Encoding::Br
    } else if offered("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// The renderings kept, bounded by their total size; oldest first out. Keys carry the change
/// sequence, so entries of an older store state are never served, only aged out.
pub struct Cache {
    inner: Mutex<CacheInner>,
    max_bytes: usize,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<String, Arc<Rendered>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl Cache {
    /// A cache holding at most `max_bytes` of uncompressed bodies.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(CacheInner::default()),
            max_bytes,
        }
    }

    fn get(&self, key: &str) -> Option<Arc<Rendered>> {
        self.inner.lock().ok()?.map.get(key).cloned()
    }

    fn put(&self, key: String, r: Arc<Rendered>) {
        let size = r.body.len();
        if size > self.max_bytes / 2 {
            return;
        }
        let Ok(mut c) = self.inner.lock() else {
            return;
        };
        while c.bytes + size > self.max_bytes {
            let Some(old) = c.order.pop_front() else {
                break;
            };
            if let Some(o) = c.map.remove(&old) {
                c.bytes -= o.body.len();
            }
        }
        if c.map.insert(key.clone(), r).is_none() {
            c.order.push_back(key);
            c.bytes += size;
        }
    }
}

/// A query string as pairs, in order (repeated keys kept).
pub type Pairs = axum::extract::Query<Vec<(String, String)>>;

/// Borrowed pairs, as [`ViewFilter::parse`] takes them.
pub fn refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// German for a German browser (or, when the browser names none, for a node whose `language`
/// is `de`) when the URL names no language: adds `lang=de` to `pairs` (and so to what the page
/// is cached under). Returns the language tag the pairs now ask for.
pub fn accept_language(
    headers: &HeaderMap,
    pairs: &mut Vec<(String, String)>,
    node_default: &str,
) -> &'static str {
    if let Some((_, v)) = pairs.iter().find(|(k, _)| k == "lang") {
        return if v == "de" { "de" } else { "en" };
    }
    // The browser's first language, else (no header) the node's.
    let german = match headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(v) => v.trim_start().to_ascii_lowercase().starts_with("de"),
        None => node_default == "de",
    };
    if german {
        pairs.push(("lang".into(), "de".into()));
        "de"
    } else {
        "en"
    }
}

/// The `limit` a view asks for, checked against a route's (default, maximum).
pub fn limit_of(f: &ViewFilter, (default, max): (usize, usize)) -> Result<usize, AppError> {
    match f.limit {
        Some(n) if n > max => Err(AppError::BadRequest(format!(
            "parameter \"limit\": at most {max} here (use offset= to page)"
        ))),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

/// The same URL with `offset` moved one page on.
pub fn next_url(path: &str, pairs: &[(&str, &str)], offset: usize, limit: usize) -> String {
    let off = (offset + limit).to_string();
    let mut p: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, _)| *k != "offset")
        .collect();
    p.push(("offset", &off));
    format!("{path}?{}", query_string(p))
}

/// An origin key from a path segment.
pub fn parse_origin(s: &str) -> Result<NodeKey, AppError> {
    s.parse()
        .map_err(|e| AppError::BadRequest(format!("origin key in path: {e}")))
}

/// What a query found, one page of it.
pub struct Page {
    /// The events (with their instances in the window, if there is one).
    pub hits: Vec<Hit>,
    /// More matched than `limit` from `offset`.
    pub truncated: bool,
}

/// Runs a view against the store: index query, the exact `near` circle, then the page. Every
/// listing is its own entry (CalDAV, whose collections must match their sync reports).
pub fn fetch(
    store: &Store,
    f: &ViewFilter,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    limit: usize,
    include_cancelled: bool,
) -> Result<Page, StoreError> {
    fetch_as(store, f, (window, limit, include_cancelled), false)
}

/// [`fetch`] as the collector shows it: listings of one real event (the same event from
/// several origins or sources) are one entry, the representative, with the others in
/// [`Hit::also`] (docs/operators.md, "One entry for one real event").
pub fn fetch_collected(
    store: &Store,
    f: &ViewFilter,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    limit: usize,
    include_cancelled: bool,
) -> Result<Page, StoreError> {
    fetch_as(store, f, (window, limit, include_cancelled), true)
}

type Window = Option<(DateTime<Utc>, DateTime<Utc>)>;

fn fetch_as(
    store: &Store,
    f: &ViewFilter,
    (window, limit, include_cancelled): (Window, usize, bool),
    collect: bool,
) -> Result<Page, StoreError> {
    let want = f.offset.saturating_add(limit).saturating_add(1);
    let mut ask = want;
    let overrides = if collect {
        store.dedupe_overrides()?
    } else {
        discal_protocol::dedupe::Overrides::default()
    };
    loop {
        let q = store_query(f, window, ask, include_cancelled);
        let res = store.query(&q)?;
        let store_cut = res.hits.len() >= ask;
        let mut hits: Vec<Hit> = res
            .hits
            .into_iter()
            .filter(|h| f.within(h.event.content().master.geo.map(|g| (g.lat, g.lon))))
            .collect();
        if collect {
            hits = collapse(hits, &overrides);
        }
        // The circle is narrower than the box the index used: if it removed events and the
        // store cut its answer, ask again for more rather than return a short page.
        if hits.len() < want && store_cut && ask < usize::MAX / 4 {
            ask *= 4;
            continue;
        }
        // More events past this page. The store's own flag also says that an event's
        // instances were cut at its expansion bound (an event every five minutes over ten
        // years): a next page would hold no more events, and would say the same again.
        let truncated = hits.len() > f.offset + limit;
        let end = hits.len().min(f.offset + limit);
        let start = f.offset.min(end);
        hits.truncate(end);
        hits.drain(..start);
        return Ok(Page { hits, truncated });
    }
}

/// Shows each real event once: the listings [`dedupe::group`] puts together become their
/// representative's [`Hit::also`]; the order of the representatives is kept.
///
/// [`dedupe::group`]: discal_protocol::dedupe::group
pub fn collapse(hits: Vec<Hit>, ov: &discal_protocol::dedupe::Overrides) -> Vec<Hit> {
    use discal_protocol::dedupe::{fingerprint, group, Member};
    if hits.len() < 2 {
        return hits;
    }
    let members: Vec<Member> = hits
        .iter()
        .map(|h| {
            let e = &h.event;
            let c = e.content();
            Member {
                ident: (*e.payload.origin.as_bytes(), e.payload.uid.clone()),
                fp: fingerprint(&e.payload.uid, c),
                source_hops: discal_protocol::source::source_hops(c),
                cancelled: c.is_cancelled(),
            }
        })
        .collect();
    let reps = group(&members, ov);
    if reps.iter().enumerate().all(|(i, r)| i == *r) {
        return hits;
    }
    let mut also: Vec<Vec<discal_store::Also>> = vec![Vec::new(); hits.len()];
    for (i, h) in hits.iter().enumerate() {
        if reps[i] != i {
            let c = h.event.content();
            also[reps[i]].push(discal_store::Also {
                origin: h.event.payload.origin,
                uid: h.event.payload.uid.clone(),
                source: discal_protocol::source::source_of(c).map(str::to_string),
            });
        }
    }
    hits.into_iter()
        .zip(also)
        .enumerate()
        .filter(|(i, _)| reps[*i] == *i)
        .map(|(_, (mut h, a))| {
            h.also = a;
            h
        })
        .collect()
}

/// The listings of the real event `e` is one listing of, as the collector shows them: the
/// representative (`e` itself, or the one shown in its place) and every listing (the
/// representative included, `e` too). Looks at the events starting within 12 hours of it.
pub fn listings_of(
    store: &Store,
    e: &discal_store::StoredEvent,
) -> Result<(discal_store::Also, Vec<discal_store::Also>), StoreError> {
    use discal_protocol::dedupe::{fingerprint, MAX_APART_SECS};
    let start = fingerprint(&e.payload.uid, e.content()).start;
    let mut hits: Vec<Hit> = store
        .starting_between(start - MAX_APART_SECS, start + MAX_APART_SECS + 1, 2000)?
        .into_iter()
        .map(|event| Hit {
            event,
            occurrences: Vec::new(),
            also: Vec::new(),
        })
        .collect();
    let me = (e.payload.origin, e.payload.uid.clone());
    if !hits
        .iter()
        .any(|h| (h.event.payload.origin, h.event.payload.uid.clone()) == me)
    {
        hits.push(Hit {
            event: e.clone(),
            occurrences: Vec::new(),
            also: Vec::new(),
        });
    }
    let listing = |e: &discal_store::StoredEvent| discal_store::Also {
        origin: e.payload.origin,
        uid: e.payload.uid.clone(),
        source: discal_protocol::source::source_of(e.content()).map(str::to_string),
    };
    for h in collapse(hits, &store.dedupe_overrides()?) {
        let rep = listing(&h.event);
        let mine = (rep.origin, rep.uid.clone()) == me
            || h.also.iter().any(|a| (a.origin, a.uid.clone()) == me);
        if mine {
            let mut all = vec![rep.clone()];
            all.extend(h.also);
            return Ok((rep, all));
        }
    }
    let alone = listing(e);
    Ok((alone.clone(), vec![alone]))
}

/// The event an event page's URL (absolute, or its `/events/<origin>/<uid>` path) names:
/// (origin key text, UID).
pub fn event_of_page(url: &str) -> Result<(String, String), String> {
    let path = url.split_once("/events/").map_or("", |(_, p)| p);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let (origin, uid) = path
        .split_once('/')
        .ok_or_else(|| format!("{url:?} is not an event page (…/events/<origin>/<uid>)"))?;
    let uid = percent_encoding::percent_decode_str(uid.trim_end_matches('/'))
        .decode_utf8()
        .map_err(|_| format!("{url:?}: the UID is not UTF-8"))?;
    Ok((origin.to_string(), uid.into_owned()))
}

/// Who else lists an event, for people: each listing's source host, or its origin's short
/// key ("meetup.com, …Qx3kZ9aB").
pub fn also_names(also: &[discal_store::Also]) -> String {
    let mut names: Vec<String> = also
        .iter()
        .map(|a| {
            a.source
                .as_deref()
                .and_then(discal_protocol::source::url_host)
                .unwrap_or_else(|| format!("…{}", a.origin.fmt_short()))
        })
        .collect();
    names.dedup();
    names.join(", ")
}

/// The store query for a view: its index-level conditions (the `near` circle is narrowed to
/// its bounding box; [`ViewFilter::within`] finishes it).
pub fn store_query(
    f: &ViewFilter,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    limit: usize,
    include_cancelled: bool,
) -> Query {
    Query {
        window,
        tags: f.tags.clone(),
        exclude_tags: f.exclude_tags.clone(),
        origin: f.origin,
        bbox: f.near_box().map(|(south, west, north, east)| BBox {
            south,
            west,
            north,
            east,
        }),
        text: f.q.clone(),
        place: f.place.clone(),
        floating_tz: f.zone(),
        include_cancelled,
        limit,
    }
}

/// Newest arrival among `hits`.
pub fn last_modified(hits: &[Hit]) -> Option<i64> {
    hits.iter().map(|h| h.event.received_at_ms).max()
}

/// Today's date in the view's zone.
pub fn today(gw: &Gateway, f: &ViewFilter) -> NaiveDate {
    now(gw).with_timezone(&f.zone()).date_naive()
}

/// The gateway's clock.
pub fn now(gw: &Gateway) -> DateTime<Utc> {
    DateTime::from_timestamp_millis((gw.clock)()).unwrap_or_default()
}

fn http_date(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    httpdate::fmt_http_date(t)
}

/// Weak comparison of `If-None-Match` against an ETag (RFC 9110 §13.1.2): the `W/` prefix
/// does not count on either side (GNOME Calendar and Apple send weak forms of strong tags after
/// a proxy added `W/`), and `*` matches anything.
pub fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let bare = etag.trim_start_matches("W/");
    inm.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

/// Everything [`serve`] needs besides the renderer.
pub struct ReadKey {
    /// Identifies the answer apart from the store state: format, path and query string.
    pub url: String,
    /// The view depends on today's date.
    pub relative_to: Option<NaiveDate>,
    /// Cache-Control max-age in seconds.
    pub max_age: u32,
}

/// Answers a read: 304 if the client's ETag is current, else the cached or a fresh rendering,
/// compressed as the client accepts.
pub async fn serve<F>(gw: &Gateway, headers: &HeaderMap, key: ReadKey, render: F) -> Response
where
    F: FnOnce(&Gateway) -> Result<Rendered, AppError> + Send + 'static,
{
    let seq = match gw.store.last_seq() {
        Ok(s) => s,
        Err(e) => return AppError::from(e).into_response(),
    };
    // The collector's corrections change what a view shows without a change to the events.
    let stamp = match gw.store.dedupe_stamp() {
        Ok(s) => s,
        Err(e) => return AppError::from(e).into_response(),
    };
    let full_key = match key.relative_to {
        Some(d) => format!("{}|{seq}|{stamp:x}|{d}", key.url),
        None => format!("{}|{seq}|{stamp:x}", key.url),
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    full_key.hash(&mut h);
    let etag = format!("W/\"{seq:x}-{:016x}\"", h.finish());
    let cache_control = format!("public, max-age={}", key.max_age);
    if etag_matches(headers, &etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache_control),
                (header::VARY, "Accept-Encoding".to_owned()),
            ],
        )
            .into_response();
    }
    let rendered = match gw.cache.get(&full_key) {
        Some(r) => r,
        None => {
            let g = gw.clone();
            match tokio::task::spawn_blocking(move || render(&g)).await {
                Ok(Ok(r)) => {
                    let r = Arc::new(r);
                    gw.cache.put(full_key, r.clone());
                    r
                }
                Ok(Err(e)) => return e.into_response(),
                Err(e) => return AppError::from(e).into_response(),
            }
        }
    };
    if unmodified_since(headers, rendered.last_modified_ms) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response();
    }
    respond(headers, rendered, &etag, &cache_control).await
}

/// True if the request has no `If-None-Match` and an `If-Modified-Since` at or after `ms`.
fn unmodified_since(headers: &HeaderMap, ms: Option<i64>) -> bool {
    let Some(ms) = ms else {
        return false;
    };
    if headers.get(header::IF_NONE_MATCH).is_some() {
        return false;
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .is_some_and(|s| ms / 1000 <= s.as_secs() as i64)
}

/// A rendering as a response: compressed as the client accepts (off the async workers), with
/// its validators, caching and content headers.
async fn respond(
    headers: &HeaderMap,
    rendered: Arc<Rendered>,
    etag: &str,
    cache_control: &str,
) -> Response {
    let enc = pick_encoding(headers, rendered.body.len());
    let body = if enc == Encoding::Identity {
        rendered.body.clone()
    } else {
        let r = rendered.clone();
        tokio::task::spawn_blocking(move || r.encoded(enc))
            .await
            .unwrap_or_default()
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = rendered.status;
    let hm = resp.headers_mut();
    hm.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(rendered.content_type),
    );
    let put = |hm: &mut HeaderMap, name: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            hm.insert(name, v);
        }
    };
    put(hm, header::ETAG, etag);
    put(hm, header::CACHE_CONTROL, cache_control);
    put(hm, header::VARY, "Accept-Encoding");
    hm.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(ms) = rendered.last_modified_ms {
        put(hm, header::LAST_MODIFIED, &http_date(ms));
    }
    match enc {
        Encoding::Gzip => put(hm, header::CONTENT_ENCODING, "gzip"),
        Encoding::Br => put(hm, header::CONTENT_ENCODING, "br"),
        Encoding::Identity => {}
    }
    for (n, v) in &rendered.headers {
        hm.insert(n.clone(), v.clone());
    }
    resp
}

/// Percent-encodes a path segment (a UID can contain `/`, spaces, anything).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_path_segment(&mut out, s);
    out
}

/// Appends `s` encoded as [`path_segment`] does.
pub fn push_path_segment(out: &mut String, s: &str) {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'@');
    out.extend(percent_encoding::utf8_percent_encode(s, SEGMENT));
}

/// `path?query`, or `path` alone when there are no pairs.
pub fn with_query<'a>(path: &str, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let q = query_string(pairs);
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// Encodes query pairs back into a query string (no leading `?`).
pub fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    const VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b',');
    pairs
        .into_iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, VALUE),
                percent_encoding::utf8_percent_encode(v, VALUE)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_accept_encoding() {
        let mut h = HeaderMap::new();
        assert!(pick_encoding(&h, 10_000) == Encoding::Identity);
        h.insert(
            header::ACCEPT_ENCODING,
            "gzip, deflate, br".parse().unwrap(),
        );
        assert!(pick_encoding(&h, 10_000) == Encoding::Br);
        assert!(pick_encoding(&h, 10) == Encoding::Identity);
        h.insert(header::ACCEPT_ENCODING, "br;q=0, gzip".parse().unwrap());
        assert!(pick_encoding(&h, 10_000) == Encoding::Gzip);
    }

    #[test]
    fn the_cache_stays_within_its_size() {
        let c = Cache::new(1000);
        for i in 0..10 {
            c.put(
                format!("k{i}"),
                Arc::new(Rendered::new("text/plain", vec![0u8; 300])),
            );
        }
        let inner = c.inner.lock().unwrap();
        assert!(inner.bytes <= 1000);
        assert!(inner.map.contains_key("k9") && !inner.map.contains_key("k0"));
    }
}
