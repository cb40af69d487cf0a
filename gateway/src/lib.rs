//! DisCal's HTTP gateway (axum): how people read the network. iCalendar, JSCalendar and Atom
//! feeds, personal views by URL, embeddable HTML views, event pages and CalDAV, plus the local
//! write API, status and metrics. Reads come from `discal-store` only; everything in it came
//! from strangers and is escaped for the format it is written into. The gateway never imports
//! the node: writes go through the [`NodeApi`] trait the node hands it, so the gateway can be
//! tested and reused (simulations) without a libp2p swarm. Routes are listed in
//! docs/operators.md.
//!
//! # Layout
//! Handlers are grouped by who they serve:
//! - `feeds/`: calendar apps and feed readers (`/feed.*`, `/origins/…`): `ics.rs`, `atom.rs`,
//!   `jscal.rs` render the formats.
//! - `embeds/`: group websites' iframes (`/embed`, its stylesheet and scripts); `views.rs`
//!   renders list, agenda and month.
//! - `web/`: people in a browser (`/`, event pages, `/views`); `pages.rs` renders them.
//! - `dav/`: CalDAV clients (`/dav`, `/.well-known/caldav`); its own map is in `dav/mod.rs`.
//! - `api.rs`: the node's operator and CLI (`/api/events`, `/status`, `/metrics`) and the
//!   [`NodeApi`] the node implements.
//! - `push.rs`: sister sites by push (`/.well-known/discal-push`, `/websub`, `/push/in/…`,
//!   `/api/push`), carried to the node.
//!
//! Shared by them:
//! - `read.rs`: the read path (query parameters, store query, cached renderings, ETag/304,
//!   compression) and the collector's view (one entry for one real event).
//! - `error.rs`: [`AppError`], each failure as one status.
//! - `serve.rs`: the server loop: connection caps, header and request timeouts, shutdown.
//! - `html.rs`: what every HTML page shares (policy, look, frame); `display.rs`: how an
//!   event reads to a person; `rich.rs`: descriptions, titles and places written in HTML
//!   (Google's, CiviCRM's), shown without their tags or their risks; `i18n.rs`: German and
//!   English strings.
//! - `draft.rs`: an event's fields as the write API takes them.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

pub mod accounts;
pub mod api;
pub mod dav;
pub mod display;
pub mod draft;
pub mod embeds;
mod error;
pub mod feeds;
pub mod html;
pub mod i18n;
pub mod push;
pub mod read;
pub mod rich;
mod serve;
pub mod users_api;
pub mod web;
pub mod write;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, put};
use axum::Router;
use discal_protocol::ics::IcsEvent;
use discal_protocol::model::LocalDateTime;
use discal_store::{Store, StoredEvent};

pub use api::{
    summaries, BoxFuture, ConfigChange, EventSummary, NodeApi, NodeSettings, ProposalReply,
    ProposalRequest, PushReply, PushRequest, Pushed, Seen, WriteError, WriteOp, Written,
};
pub use dav::{warm_up, WARM_UP_ITEMS};
pub use draft::{Draft, DraftError};
pub use error::AppError;
pub use serve::{serve_router, serve_with, ClientAddr, ServerLimits};

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
    /// The aggregate CalDAV calendar's grouping of listings of one real event, per store change.
    pub dav_grouping: Arc<dav::GroupingCache>,
    /// Turns for expensive requests (CalDAV listings, queries, syncs, expansions).
    pub heavy: Arc<tokio::sync::Semaphore>,
    /// Accounts' side: settings and the login limiter.
    pub people: Arc<web::auth::People>,
    /// Held by a CalDAV PUT from its checks to its write: which account a new event belongs
    /// to is staged before the event is written, and two accounts creating the same UID at
    /// once must not both pass the check and leave the event with the loser's name on it.
    /// A PROPPATCH holds it from counting the calendar's properties to storing them.
    pub dav_puts: Arc<tokio::sync::Mutex<()>>,
}

/// Expensive requests served at once; the rest wait their turn (see `dav::HEAVY_WAIT_SECS`).
/// One per core of the machine class the node is made for: each may hold its answer (up to
/// `dav::report::MAX_MADE_BYTES`, a few times over while it is written) in memory.
pub const HEAVY_REQUESTS: usize = 2;

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
            dav_grouping: Arc::default(),
            heavy: Arc::new(tokio::sync::Semaphore::new(HEAVY_REQUESTS)),
            people: Arc::new(web::auth::People::default()),
            dav_puts: Arc::default(),
        }
    }
}

/// Largest request body the write API reads.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// The gateway's routes.
pub fn router(gw: Gateway) -> Router {
    Router::new()
        // Clients given only the host PROPFIND "/" (python caldav, GNOME Online Accounts).
        .route("/", get(web::index).fallback(dav::handle))
        .route("/map", get(web::map::map))
        .route("/feed.ics", get(feeds::feed_ics))
        .route("/feed.json", get(feeds::feed_json))
        .route("/feed.atom", get(feeds::feed_atom))
        .route("/feed.rss", get(feeds::feed_rss))
        .route("/origins/{key}/{file}", get(feeds::origin_feed))
        .route("/events/{origin}/{uid}", get(web::event_page))
        .route(
            "/events/{origin}/{uid}/{file}",
            get(web::event_file).post(web::event_post),
        )
        .route("/embed", get(embeds::embed))
        .route("/embed.js", get(embeds::embed_js))
        .route("/views", get(web::views))
        .merge(people_routes())
        .route("/static/embed.css", get(embeds::stylesheet))
        .route("/static/people.css", get(web::people_html::stylesheet))
        .route("/static/resize.js", get(embeds::resize_js))
        .route("/static/copy.js", get(embeds::copy_js))
        .route("/.well-known/caldav", any(dav::well_known))
        .route("/dav", any(dav::handle))
        .route("/dav/", any(dav::handle))
        .route("/dav/{*rest}", any(dav::handle))
        .route("/.well-known/discal-push", get(push::well_known))
        .route("/websub", axum::routing::post(push::hub))
        .route("/push/in/{name}", get(push::confirm).post(push::receive))
        .route("/api/push", get(push::list))
        .route("/api/push/{id}/{verb}", axum::routing::post(push::decide))
        .route("/status", get(api::status))
        .route("/metrics", get(api::metrics))
        .route("/api/events", get(api::list_events).post(api::post_events))
        .route(
            "/api/events/{uid}",
            put(api::put_event).delete(api::delete_event),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer({
            let node = gw.node.clone();
            axum::middleware::from_fn(move |req, next| settled_first(node.clone(), req, next))
        })
        .layer(catch_panics())
        .with_state(gw)
}

/// Every request waits until the node has applied the writes it has answered (a node may
/// answer a cancellation from its journal and apply it a moment later): a client that reads
/// right after its DELETE, or writes again, sees the DELETE done.
async fn settled_first(
    node: Arc<dyn NodeApi>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // A DELETE names one event, and waits for that event's writes only, where it reads it
    // (`dav::own::delete`; the API's goes straight to the node's writer, which orders it).
    if req.method() != axum::http::Method::DELETE {
        node.settled().await;
    }
    next.run(req).await
}

/// A handler that panics (a bug, or a third-party parser meeting input it cannot take) answers
/// 500 with a message that says so, rather than the client seeing its connection reset; the
/// panic itself is logged by the panic hook, with where it happened.
pub fn catch_panics() -> tower_http::catch_panic::CatchPanicLayer<
    fn(Box<dyn std::any::Any + Send>) -> axum::response::Response,
> {
    fn answer(_: Box<dyn std::any::Any + Send>) -> axum::response::Response {
        use axum::response::IntoResponse;
        tracing::error!("a request's handler panicked; answered 500");
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            "500 internal error: this request could not be answered (the node logged why)\n",
        )
            .into_response()
    }
    tower_http::catch_panic::CatchPanicLayer::custom(answer as fn(_) -> _)
}

/// The pages that come with accounts: entering, changing, proposing and approving events,
/// sister sites, the admin page and the accounts API.
fn people_routes() -> Router<Gateway> {
    Router::new()
        .route(
            "/propose/{origin}/{uid}",
            get(web::proposals::propose_page).post(web::proposals::propose),
        )
        .route("/my/proposals", get(web::proposals::my_proposals))
        .route(
            "/rsvp/{origin}/{uid}",
            get(web::proposals::rsvp_page).post(web::proposals::rsvp),
        )
        .route(
            "/queue/proposals/{id}/{verb}",
            axum::routing::post(web::proposals::decide),
        )
        .route(
            "/login",
            get(web::people::login_page).post(web::people::login),
        )
        .route("/logout", axum::routing::post(web::people::logout))
        .route(
            "/events/new",
            get(web::people::new_event_page).post(web::people::new_event),
        )
        .route("/my", get(web::people::my_events))
        .route(
            "/my/{uid}/edit",
            get(web::people::edit_page).post(web::people::edit),
        )
        .route("/my/{uid}/cancel", axum::routing::post(web::people::cancel))
        .route("/queue", get(web::people::queue_page))
        .route(
            "/queue/{id}/{verb}",
            axum::routing::post(web::people::decide),
        )
        .route(
            "/sites/new",
            get(web::sites::new_site_page).post(web::sites::new_site),
        )
        .route(
            "/queue/sites/{id}/{verb}",
            axum::routing::post(web::sites::decide_site),
        )
        .route(
            "/queue/push/{id}/{verb}",
            axum::routing::post(web::sites::decide_subscriber),
        )
        .route("/api/users", get(users_api::list).post(users_api::add))
        .route("/api/sources", get(users_api::sources))
        .route("/api/dedupe", axum::routing::post(users_api::dedupe))
        .route(
            "/api/sources/{name}/run",
            axum::routing::post(users_api::run_source),
        )
        .route(
            "/api/users/{name}/{what}",
            axum::routing::post(users_api::change),
        )
        .merge(admin_routes())
}

/// The admin page and its forms.
fn admin_routes() -> Router<Gateway> {
    Router::new()
        .route("/admin", get(web::people::admin_page))
        .route(
            "/admin/dedupe",
            axum::routing::post(web::people::admin_dedupe),
        )
        .route(
            "/admin/push/{id}/{verb}",
            axum::routing::post(web::people::admin_push),
        )
        .route(
            "/admin/sources/{name}/{verb}",
            axum::routing::post(web::people::admin_source),
        )
        .route(
            "/admin/users",
            axum::routing::post(web::people::admin_add_user),
        )
        .route(
            "/admin/users/{name}/disable",
            axum::routing::post(web::people::admin_disable),
        )
        .route(
            "/admin/config/{what}",
            axum::routing::post(web::people::admin_config),
        )
        .route(
            "/admin/peers/{key}/remove",
            axum::routing::post(web::people::admin_remove_peer),
        )
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

/// Serves the gateway on a bound listener until `shutdown` completes, with the default
/// [`ServerLimits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    gw: Gateway,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::serve_with(listener, gw, ServerLimits::default(), shutdown).await
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

/// The iCalendar view of a stored event, under its own UID (for the origin's own use: in
/// anything a subscriber reads, use [`ics_event_as`] with [`public_uid`]).
pub fn ics_event(e: &StoredEvent) -> IcsEvent<'_> {
    ics_event_as(e, &e.payload.uid)
}

/// The UID an event is published under in feeds and CalDAV: its own, unless another origin
/// holds an event with the same UID; then each of them is written as `{origin}~{uid}`. A
/// calendar app merges components by UID, so without this a hostile origin could put its
/// event in the place of another's in every subscriber's calendar (docs/protocol.md §6).
pub fn public_uid<'a>(store: &Store, e: &'a StoredEvent) -> std::borrow::Cow<'a, str> {
    if store.uid_is_shared(&e.payload.uid).unwrap_or(true) {
        format!("{}~{}", e.payload.origin, e.payload.uid).into()
    } else {
        e.payload.uid.as_str().into()
    }
}

/// The iCalendar view of a stored event under `uid`.
pub fn ics_event_as<'a>(e: &'a StoredEvent, uid: &'a str) -> IcsEvent<'a> {
    IcsEvent {
        uid,
        content: &e.payload.content,
        revision: e.payload.revision,
        // Hops before the event entered the mesh (a source's) count too (docs/protocol.md §13).
        hop: u32::from(e.transit.hop) + discal_protocol::source::source_hops(&e.payload.content),
        issued: issued_local(e.payload.issued_at_ms),
    }
}
