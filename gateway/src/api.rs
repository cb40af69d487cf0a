//! The node's own HTTP API: local writes (authorised by the admin token), the list of stored
//! events, `/status` and `/metrics`. The gateway does not write itself: it hands each write to
//! the node through [`NodeApi`].

use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use discal_protocol::ics::write_calendar;
use discal_store::{Store, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::{ics_event, AppError, Draft, Gateway};

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
    /// `op` (a `Replace` or a `Cancel`), only if the event is still as the writer saw it when
    /// it checked its conditions (CalDAV's `If-Match` / `If-None-Match`): checked where writes
    /// are serialised, so of concurrent writers that saw the same state one wins and the
    /// others get [`WriteError::PreconditionFailed`].
    If {
        /// The state the writer's conditions were checked against.
        seen: Seen,
        /// The write.
        op: Box<WriteOp>,
    },
}

/// An event's state as a conditional write saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Not held, or cancelled.
    Absent,
    /// Held and not cancelled, at this revision.
    Revision {
        /// Its revision number.
        revision: u32,
        /// The hash of that revision.
        id: discal_protocol::EventId,
    },
}

impl WriteOp {
    /// The one event the write names, if it names one.
    pub fn uid(&self) -> Option<&str> {
        match self {
            Self::Create(_) | Self::Import(_) => None,
            Self::Update { uid, .. } | Self::Replace { uid, .. } | Self::Cancel { uid } => {
                Some(uid)
            }
            Self::If { op, .. } => op.uid(),
        }
    }
}

/// The outcome of a write for one event: taken (stored or unchanged), perhaps with
/// warnings, or refused with a reason (an import takes every event it can).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Its UID (for a refused event without one, its position: `#3`).
    pub uid: String,
    /// The revision now held.
    pub revision: u32,
    /// False if the write changed nothing (the same content was already published), or the
    /// event was refused.
    pub changed: bool,
    /// What was adjusted to take it (a time zone mapped, a syntax slip repaired); document-wide
    /// repairs are listed once, on the first event, prefixed `document:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Why the event was not taken; the others in the document were still written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl Written {
    /// A taken event.
    pub fn taken(uid: String, revision: u32, changed: bool) -> Self {
        Self {
            uid,
            revision,
            changed,
            ..Self::default()
        }
    }
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
    /// The sender is not who it must be: a push without a valid signature (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The node is shutting down or overloaded (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something broke inside (500).
    #[error("{0}")]
    Internal(String),
    /// The event changed since the writer's conditions were checked (412).
    #[error("{0}")]
    PreconditionFailed(String),
}

impl WriteError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
        }
    }
}

/// What the proposal pages and endpoint ask of the node (docs/protocol.md §12). The node
/// holds the key, so it signs proposals, receipts and the revisions they lead to.
// One request at a time travels to the node's worker: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ProposalRequest {
    /// A signed proposal (wire bytes) for one of this node's events, from another node.
    Receive(Vec<u8>),
    /// A person's decision on a held proposal: accept (applied as the next revision), or
    /// reject with a reason.
    Decide {
        /// The proposal's id.
        id: [u8; 16],
        /// Accept it.
        accept: bool,
        /// Why not, when rejected.
        reason: String,
        /// The person's own merge, when accepted: for some of the proposal's properties, the
        /// lines to publish instead (one per line of text); empty: as proposed.
        merged: Vec<(String, String)>,
        /// The account deciding.
        by: String,
    },
    /// A person here says whether they are coming (to this node's event: counted here; to
    /// another origin's: sent there like a proposal).
    Rsvp {
        /// The event's origin.
        origin: discal_protocol::NodeKey,
        /// Its UID.
        uid: String,
        /// The answer.
        answer: discal_protocol::proposal::RsvpAnswer,
        /// Who answers, as this node tells people apart (an account name, or an anonymous
        /// visitor's browser): a later answer from the same one replaces the earlier.
        account: String,
        /// Their name, for the organisers at the origin.
        name: String,
    },
    /// A person here proposes a change to another origin's event, or its cancellation.
    Make {
        /// The event's origin.
        origin: discal_protocol::NodeKey,
        /// Its UID.
        uid: String,
        /// The fields to change (none with `cancel`).
        patch: Box<Draft>,
        /// Propose to cancel it.
        cancel: bool,
        /// The account proposing; its name is the proposal's author.
        account: String,
    },
}

/// What the node answers to a [`ProposalRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposalReply {
    /// The signed receipt's wire bytes (to `Receive`).
    Receipt(Vec<u8>),
    /// Decided (to `Decide`).
    Decided,
    /// In the outbox, with this id (to `Make`).
    Made([u8; 16]),
}

/// What the push pages ask of the node (docs/operators.md, "Push"): its hub, its inbound
/// pushes, and an admin's decisions.
#[derive(Clone, Debug, PartialEq)]
pub enum PushRequest {
    /// `POST /websub`: a WebSub (un)subscription request's form fields.
    Hub(Vec<(String, String)>),
    /// `GET /push/in/{name}`: a hub verifying a subscription this node asked for.
    Confirm {
        /// The inbound site's name.
        name: String,
        /// The query's pairs (`hub.mode`, `hub.topic`, `hub.challenge`, ...).
        query: Vec<(String, String)>,
    },
    /// `POST /push/in/{name}`: a pushed event.
    Receive(Box<Pushed>),
    /// An admin's decision on a hub subscription or a push destination: `approve`,
    /// `refuse`, `remove`, or `resume` a dead one.
    Decide {
        /// A subscription's id, or a destination's name.
        id: String,
        /// The verb.
        verb: String,
        /// Who decides.
        by: String,
    },
}

/// A push as it came, for the node to authenticate and take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The inbound site's name (from the path).
    pub name: String,
    /// The request's URI as the sender addressed it (this node's public URL and the path).
    pub target_uri: String,
    /// `Content-Type`.
    pub content_type: String,
    /// `Content-Digest`.
    pub content_digest: Option<String>,
    /// `Signature-Input`.
    pub signature_input: Option<String>,
    /// `Signature`.
    pub signature: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What the node answers to a [`PushRequest`].
#[derive(Clone, Debug, PartialEq)]
pub enum PushReply {
    /// 202 with this text: a request taken, its outcome later (a hub subscription under
    /// verification).
    Accepted(String),
    /// 200 with this text as it is (a WebSub challenge).
    Text(String),
    /// 200 with this JSON.
    Json(serde_json::Value),
}

/// What the gateway needs from the node it serves.
pub trait NodeApi: Send + Sync + 'static {
    /// Signs and publishes a local write.
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>>;
    /// Ready once every acknowledged write is applied to the store: a node may answer a write
    /// once it is durable in its journal and apply it just after, and every request waits for
    /// this before it reads the store, so none sees the state before an answered write.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
    /// [`NodeApi::settled`] for what a request about the one event `uid` reads: ready at once
    /// unless a write of that event is answered and not yet applied (a DELETE right after
    /// another DELETE of a different event need not wait for it).
    fn settled_for<'a>(&'a self, uid: &'a str) -> BoxFuture<'a, ()> {
        let _ = uid;
        self.settled()
    }
    /// `GET /status` body.
    fn status(&self) -> BoxFuture<'_, serde_json::Value>;
    /// `GET /metrics` body (Prometheus text format).
    fn metrics(&self) -> String;
    /// The node's key: the origin of the events it publishes (`None` for a read-only gateway).
    fn key(&self) -> Option<discal_protocol::NodeKey> {
        None
    }
    /// The operator's configuration as JSON (the config file's keys, peers included), for the
    /// admin page.
    fn config(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Proposals: receive one as the origin, decide on a held one, or make one.
    fn proposal(&self, req: ProposalRequest) -> BoxFuture<'_, Result<ProposalReply, WriteError>> {
        let _ = req;
        Box::pin(async {
            Err(WriteError::Unavailable(
                "this gateway has no node to take proposals".into(),
            ))
        })
    }
    /// The subscribed sources, each with its last poll (`[]` without a node).
    fn sources(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::Value::Array(Vec::new()) })
    }
    /// Polls one subscribed source now; its state afterwards.
    fn poll_source(&self, name: String) -> BoxFuture<'_, Result<serde_json::Value, WriteError>> {
        let _ = name;
        Box::pin(async {
            Err(WriteError::Unavailable(
                "this gateway has no node to poll sources".into(),
            ))
        })
    }
    /// The push side's state: destinations with their outboxes, hub subscriptions, inbound
    /// sites (`/api/push`, the admin page, `/status`).
    fn pushes(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async { serde_json::Value::Null })
    }
    /// Push: the hub, inbound pushes, an admin's decisions.
    fn push(&self, req: PushRequest) -> BoxFuture<'_, Result<PushReply, WriteError>> {
        let _ = req;
        Box::pin(async {
            Err(WriteError::Unavailable(
                "this gateway has no node to push or take pushes".into(),
            ))
        })
    }
    /// Applies an admin's change to the node's config file (the same file the CLI edits, its
    /// comments kept) and reloads it.
    fn configure(&self, change: ConfigChange) -> BoxFuture<'_, Result<(), WriteError>> {
        let _ = change;
        Box::pin(async {
            Err(WriteError::Unavailable(
                "this gateway has no node configuration to change".into(),
            ))
        })
    }
}

/// A change the admin page makes to the node's configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigChange {
    /// Adds (or replaces) an allowlisted peer.
    AddPeer {
        /// Its public key.
        key: String,
        /// A multiaddr to dial.
        address: Option<String>,
        /// A label.
        name: Option<String>,
    },
    /// Removes a peer from the allowlist.
    RemovePeer {
        /// Its public key.
        key: String,
    },
    /// Adds (or replaces) a subscribed source (`[[sources]]`).
    AddSource {
        /// Its name (default: the URL's host).
        name: Option<String>,
        /// The feed's or page's URL.
        url: String,
        /// `ics` or `page`.
        kind: String,
        /// How often: `30m`, `1h`, `1d`.
        every: String,
        /// Tags for its events.
        tags: Vec<String>,
        /// The zone of its times without one.
        tz: Option<String>,
    },
    /// Unsubscribes a source (its events stay).
    RemoveSource {
        /// Its name.
        name: String,
    },
    /// Adds (or replaces) a push target (`[[push.targets]]`).
    AddPushTarget {
        /// Its name.
        name: String,
        /// Where changes are POSTed.
        url: String,
        /// A view's query string: which events it gets.
        filter: String,
        /// A shared secret: hmac-sha256 signatures; none: the node's key.
        secret: Option<String>,
    },
    /// Removes a push target.
    RemovePushTarget {
        /// Its name.
        name: String,
    },
    /// Sets `[filters]`.
    Filters {
        /// `max_hop`.
        max_hop: Option<u8>,
        /// `near` and `radius_km`.
        near: Option<([f64; 2], f64)>,
        /// `require_tags`.
        require_tags: Vec<String>,
        /// `drop_tags`.
        drop_tags: Vec<String>,
    },
    /// Sets the node's settings (`name` and `public_url` apply at the next start).
    Settings(NodeSettings),
}

/// The node settings the admin page edits (config keys named beside each).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeSettings {
    /// `name`.
    pub name: String,
    /// `public_url` (none: `http://<http>`).
    pub public_url: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `language`: `en` or `de`.
    pub language: String,
    /// `[people] default_tz`.
    pub default_tz: String,
    /// `[people] allow_anonymous`.
    pub allow_anonymous: bool,
    /// `[people] users_confirm_changes`.
    pub users_confirm_changes: bool,
    /// `[people] users_register_sites`.
    pub users_register_sites: bool,
    /// `[people] users_confirm_sites`.
    pub users_confirm_sites: bool,
    /// `[map] tiles` (none: the map is off).
    pub map_tiles: Option<String>,
    /// `[map] attribution`.
    pub map_attribution: Option<String>,
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

pub(crate) async fn list_events(State(gw): State<Gateway>) -> Result<Response, AppError> {
    let store = gw.store.clone();
    let list = tokio::task::spawn_blocking(move || summaries(&store)).await??;
    Ok(axum::Json(list).into_response())
}

pub(crate) async fn status(State(gw): State<Gateway>) -> Response {
    axum::Json(gw.node.status().await).into_response()
}

pub(crate) async fn metrics(State(gw): State<Gateway>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        gw.node.metrics(),
    )
        .into_response()
}

/// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
pub(crate) fn token_matches(given: &[u8], want: &[u8]) -> bool {
    given.len() == want.len() && given.iter().zip(want).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

enum Body {
    Ics(String),
    Json(Box<Draft>),
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Body, AppError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("text/calendar") {
        // Older exporters send Latin-1 labelled as UTF-8; read it rather than refuse it.
        let (text, _) = discal_protocol::ics::decode_text(body);
        return Ok(Body::Ics(text.into_owned()));
    }
    let text_body =
        std::str::from_utf8(body).map_err(|_| AppError::BadRequest("body is not UTF-8".into()))?;
    let looks_ics = text_body.trim_start().starts_with("BEGIN:VCALENDAR");
    if ctype.is_empty() && looks_ics {
        return Ok(Body::Ics(text_body.to_owned()));
    }
    if ctype.starts_with("application/json") || ctype.is_empty() {
        return serde_json::from_str::<Draft>(text_body)
            .map(|d| Body::Json(Box::new(d)))
            .map_err(|e| AppError::BadRequest(format!("JSON body: {e}")));
    }
    Err(AppError::UnsupportedMediaType(format!(
        "content type {ctype:?}: send text/calendar or application/json"
    )))
}

async fn run_write(
    gw: &Gateway,
    headers: &HeaderMap,
    op: WriteOp,
    created: bool,
) -> Result<Response, AppError> {
    let caller = crate::web::auth::caller(gw, headers)?.filter(|c| c.session.is_none());
    let caller = caller.ok_or_else(|| {
        AppError::Unauthorized(
            "missing Authorization: Bearer <token> (the node's token is in its data dir; \
             accounts get theirs with `discal user token`)"
                .into(),
        )
    })?;
    let written = crate::write::write_as(gw, &caller, op).await?;
    let status = if created && written.iter().any(|w| w.changed) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(written)).into_response())
}

pub(crate) async fn post_events(
    State(gw): State<Gateway>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let op = match parse_body(&headers, &body)? {
        Body::Ics(t) => WriteOp::Import(t),
        Body::Json(d) => WriteOp::Create(*d),
    };
    run_write(&gw, &headers, op, true).await
}

pub(crate) async fn put_event(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let op = match parse_body(&headers, &body)? {
        Body::Ics(ics) => WriteOp::Replace { uid, ics },
        Body::Json(patch) => WriteOp::Update { uid, patch: *patch },
    };
    run_write(&gw, &headers, op, false).await
}

pub(crate) async fn delete_event(
    State(gw): State<Gateway>,
    Path(uid): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    run_write(&gw, &headers, WriteOp::Cancel { uid }, false).await
}
