//! DisCal's HTTP gateway (axum): how people read the network. iCalendar, JSCalendar and Atom
//! feeds, personal views by URL, embeddable HTML views, event pages, plus the local write API,
//! status and metrics. Reads come from `discal-store` only; everything in it came from
//! strangers and is escaped for the format it is written into. The gateway never imports the
//! node: writes go through the [`NodeApi`] trait the node hands it, so the gateway can be
//! tested and reused (simulations) without a libp2p swarm. Routes are listed in
//! docs/gateway.md.

pub mod dav;
pub mod draft;
pub mod feeds;
pub mod html;
pub mod i18n;
pub mod jscal;
pub mod read;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::Router;
use discal_protocol::ics::{write_calendar, IcsEvent};
use discal_protocol::model::LocalDateTime;
use discal_store::{Store, StoredEvent};
use serde::{Deserialize, Serialize};

pub use dav::{warm_up, WARM_UP_ITEMS};
pub use draft::{Draft, DraftError};

/// A boxed future, so [`NodeApi`] stays object-safe without an extra crate.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A local write, authenticated by the admin token.
#[derive(Clone, Debug)]
pub enum WriteOp {
    /// A new event from fields; the node gives it a UID.
    Create(Draft),
    /// An iCalendar document: each event is created, or updated if this node already
    /// published its UID.
    Import(String),
    /// Changes the named fields of one of this node's events.
    Update {
        /// The UID.
        uid: String,
        /// The fields to change.
        patch: Draft,
    },
    /// Replaces one of this node's events with the single event in an iCalendar document.
    Replace {
        /// The UID.
        uid: String,
        /// The document.
        ics: String,
    },
    /// Cancels one of this node's events (a new revision with STATUS:CANCELLED).
    Cancel {
        /// The UID.
        uid: String,
    },
}

/// One event a write produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Its UID.
    pub uid: String,
    /// The revision now held.
    pub revision: u32,
    /// False if the write changed nothing (the same content was already published).
    pub changed: bool,
}

/// Why a write failed; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The body or a field is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// The event belongs to another origin (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such event (404).
    #[error("{0}")]
    NotFound(String),
    /// The node is shutting down or overloaded (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something broke inside (500).
    #[error("{0}")]
    Internal(String),
}

impl WriteError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// What the gateway needs from the node it serves.
pub trait NodeApi: Send + Sync + 'static {
    /// Signs and publishes a local write.
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>>;
    /// `GET /status` body.
    fn status(&self) -> BoxFuture<'_, serde_json::Value>;
    /// `GET /metrics` body (Prometheus text format).
    fn metrics(&self) -> String;
}

/// Everything a request handler reads.
#[derive(Clone)]
pub struct Gateway {
    /// The node's store (read side).
    pub store: Arc<Store>,
    /// The node (write side, status).
    pub node: Arc<dyn NodeApi>,
    /// Bearer token for the write API.
    pub admin_token: Arc<str>,
    /// Feed title.
    pub name: Arc<str>,
    /// The URL this gateway is reached at (absolute links in feeds).
    pub public_url: Arc<str>,
    /// Milliseconds since the epoch ("today" for relative views).
    pub clock: Clock,
    /// Renderings by URL and store state.
    pub cache: Arc<read::Cache>,
    /// CalDAV calendar objects by revision.
    pub dav_objects: Arc<dav::ObjectCache>,
}

/// Milliseconds since the epoch; replaceable so tests control "today".
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Bytes of rendered answers kept (uncompressed; the compressed forms add about a third).
pub const CACHE_BYTES: usize = 64 << 20;
/// Bytes of CalDAV calendar objects kept (about 1–2 KB each).
pub const DAV_OBJECT_BYTES: usize = 48 << 20;

impl Gateway {
    /// A gateway on the system clock.
    pub fn new(
        store: Arc<Store>,
        node: Arc<dyn NodeApi>,
        admin_token: &str,
        name: &str,
        public_url: &str,
    ) -> Self {
        Self {
            store,
            node,
            admin_token: admin_token.into(),
            name: name.into(),
            public_url: public_url.trim_end_matches('/').into(),
            clock: Arc::new(|| chrono::Utc::now().timestamp_millis()),
            cache: Arc::new(read::Cache::new(CACHE_BYTES)),
            dav_objects: Arc::new(dav::ObjectCache::new(DAV_OBJECT_BYTES)),
        }
    }
}

/// Largest request body the write API reads.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The gateway's routes.
pub fn router(gw: Gateway) -> Router {
    Router::new()
        // Clients given only the host PROPFIND "/" (python caldav, GNOME Online Accounts).
        .route("/", get(routes::index).fallback(dav::handle))
        .route("/feed.ics", get(routes::feed_ics))
        .route("/feed.json", get(routes::feed_json))
        .route("/feed.atom", get(routes::feed_atom))
        .route("/origins/{key}/{file}", get(routes::origin_feed))
        .route("/events/{origin}/{uid}", get(routes::event_page))
        .route("/events/{origin}/{uid}/{file}", get(routes::event_file))
        .route("/embed", get(routes::embed))
        .route("/embed.js", get(routes::embed_js))
        .route("/views", get(routes::views))
        .route("/static/embed.css", get(routes::stylesheet))
        .route("/static/resize.js", get(routes::resize_js))
        .route("/.well-known/caldav", any(dav::well_known))
        .route("/dav", any(dav::handle))
        .route("/dav/", any(dav::handle))
        .route("/dav/{*rest}", any(dav::handle))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/api/events", get(list_events).post(post_events))
        .route("/api/events/{uid}", put(put_event).delete(delete_event))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gw)
}

/// Expands every recurring event over this year and the next (floating times in UTC, as CalDAV
/// reads them; see `Store::prepare_year`), so that the first calendar query or view of any
/// window in them after a start cuts its instances from those instead of expanding every rule.
/// Meant for a background thread at start; returns the expansions made.
pub fn prepare_recurrences(
    store: &discal_store::Store,
    now_ms: i64,
) -> Result<usize, discal_store::StoreError> {
    let year = chrono::Datelike::year(
        &chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default(),
    );
    Ok(store.prepare_year(year, chrono_tz::Tz::UTC)?
        + store.prepare_year(year.saturating_add(1), chrono_tz::Tz::UTC)?)
}

/// Serves the gateway on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    gw: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(gw))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the HTTP address (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

pub(crate) fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut m = msg.into();
    m.push('\n');
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        m,
    )
        .into_response()
}

/// The issue time of a revision as an iCalendar UTC timestamp.
pub fn issued_local(ms: i64) -> LocalDateTime {
    let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    LocalDateTime::from_chrono(dt.naive_utc())
}

/// The iCalendar view of a stored event.
pub fn ics_event(e: &StoredEvent) -> IcsEvent<'_> {
    IcsEvent {
        uid: &e.payload.uid,
        content: &e.payload.content,
        revision: e.payload.revision,
        hop: e.transit.hop.into(),
        issued: issued_local(e.payload.issued_at_ms),
    }
}

/// One line of `GET /api/events` and `discal event list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    /// Origin key.
    pub origin: String,
    /// UID.
    pub uid: String,
    /// X-REVISION.
    pub revision: u32,
    /// X-HOP here.
    pub hop: u8,
    /// SUMMARY.
    pub title: String,
    /// DTSTART as iCalendar text.
    pub start: String,
    /// True if cancelled.
    pub cancelled: bool,
}

impl EventSummary {
    /// The summary of a stored event.
    pub fn of(e: &StoredEvent) -> Self {
        let m = &e.payload.content.master;
        let mut start = String::new();
        let ics = write_calendar([ics_event(e)], &[]);
        if let Some(l) = ics.lines().find(|l| l.starts_with("DTSTART")) {
            start = l.trim_end().to_owned();
        }
        Self {
            origin: e.payload.origin.to_string(),
            uid: e.payload.uid.clone(),
            revision: e.payload.revision,
            hop: e.transit.hop,
            title: m.summary.clone().unwrap_or_default(),
            start,
            cancelled: e.payload.content.is_cancelled(),
        }
    }
}

/// Every stored event, summarised (most recent change last).
pub fn summaries(store: &Store) -> Result<Vec<EventSummary>, discal_store::StoreError> {
    Ok(store
        .changes_since(0, usize::MAX)?
        .iter()
        .map(EventSummary::of)
        .collect())
}

async fn list_events(State(gw): State<Gateway>) -> Response {
    let store = gw.store.clone();
    match tokio::task::spawn_blocking(move || summaries(&store)).await {
        Ok(Ok(list)) => axum::Json(list).into_response(),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("task: {e}")),
    }
}

async fn status(State(gw): State<Gateway>) -> Response {
    axum::Json(gw.node.status().await).into_response()
}

async fn metrics(State(gw): State<Gateway>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.node.metrics(),
    )
        .into_response()
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
fn token_matches(given: &[u8], want: &[u8]) -> bool {
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

fn authorize(gw: &Gateway, headers: &HeaderMap) -> Result<(), Refusal> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if token_matches(t.trim().as_bytes(), gw.admin_token.as_bytes()) => Ok(()),
        Some(_) => Err((StatusCode::UNAUTHORIZED, "invalid bearer token".into())),
        None => Err((
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <token> (the token is in the node's data dir)".into(),
        )),
    }
}

/// A request refused before it reached the node: status and message.
type Refusal = (StatusCode, String);

fn refuse((status, msg): Refusal) -> Response {
    text(status, msg)
}

enum Body {
    Ics(String),
    Json(Box<Draft>),
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Body, Refusal> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text_body = std::str::from_utf8(body)
        .map_err(|_| (StatusCode::BAD_REQUEST, "body is not UTF-8".to_owned()))?;
    let looks_ics = text_body.trim_start().starts_with("BEGIN:VCALENDAR");
    if ctype.starts_with("text/calendar") || (ctype.is_empty() && looks_ics) {
        return Ok(Body::Ics(text_body.to_owned()));
    }
    if ctype.starts_with("application/json") || ctype.is_empty() {
        return serde_json::from_str::<Draft>(text_body)
            .map(|d| Body::Json(Box::new(d)))
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("JSON body: {e}")));
    }
    Err((
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("content type {ctype:?}: send text/calendar or application/json"),
    ))
}

async fn run_write(gw: &Gateway, op: WriteOp, created: bool) -> Response {
    match gw.node.write(op).await {
        Ok(written) => {
            let status = if created && written.iter().any(|w| w.changed) {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, axum::Json(written)).into_response()
        }
        Err(e) => text(e.status(), e.to_string()),
    }
}

async fn post_events(State(gw): State<Gateway>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorize(&gw, &headers) {
        return refuse(r);
    }
    let op = match parse_body(&headers, &body) {
        Ok(Body::Ics(t)) => WriteOp::Import(t),
        Ok(Body::Json(d)) => WriteOp::Create(*d),
        Err(r) => return refuse(r),
    };
    run_write(&gw, op, true).await
}

async fn put_event(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&gw, &headers) {
        return refuse(r);
    }
    let op = match parse_body(&headers, &body) {
        Ok(Body::Ics(ics)) => WriteOp::Replace { uid, ics },
        Ok(Body::Json(patch)) => WriteOp::Update { uid, patch: *patch },
        Err(r) => return refuse(r),
    };
    run_write(&gw, op, false).await
}

async fn delete_event(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorize(&gw, &headers) {
        return refuse(r);
    }
    run_write(&gw, WriteOp::Cancel { uid }, false).await
}
