//! Sister sites by push (the seed's push-register and enter-event frontends for sites that
//! cannot peer): this node pushes each stored change that a destination's filter selects,
//! signed (RFC 9421, with its key or a shared secret), from a durable outbox; it runs a
//! WebSub hub at `/websub` where sites and any WebSub subscriber register after an intent
//! check and, by default, a person's approval; and it takes events sister sites push to
//! `/push/in/<name>`, authenticated by their key or secret, under the seed's validity rule.
//!
//! - `entry.rs`: the config; `outbox.rs`: delivery; `hub.rs`: registrations;
//! - `inbound.rs`: pushes received.

pub mod entry;
mod hub;
mod inbound;
mod outbox;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use discal_gateway::{PushReply, PushRequest, WriteError};
use discal_store::{PushState, SubState};
use tokio::sync::mpsc;

pub use entry::{Auth, Inbound, PushConfig, PushTarget, Registrations};
pub use outbox::run;

use crate::msg::Job;
use crate::Shared;

/// Hub intent checks running at once; past that a hub request is answered 503.
const VERIFYING: usize = 8;
/// Nonces of taken pushes remembered (past that, pushes are refused until old ones expire).
const MAX_NONCES: usize = 100_000;

/// What the node keeps for pushing while it runs.
pub struct Pusher {
    /// Woken when destinations change (config, a subscription approved) or one is resumed.
    pub wake: tokio::sync::Notify,
    /// When the node started (seconds): a push signed before cannot be told from a replay,
    /// since the nonces seen before lie in the last run's memory.
    started_secs: AtomicI64,
    /// Nonces of pushes taken, with their `created`.
    nonces: Mutex<HashMap<String, i64>>,
    /// Slots for hub intent checks.
    verifying: tokio::sync::Semaphore,
}

impl Default for Pusher {
    fn default() -> Self {
        Self {
            wake: tokio::sync::Notify::new(),
            started_secs: AtomicI64::new(i64::MAX),
            nonces: Mutex::default(),
            verifying: tokio::sync::Semaphore::new(VERIFYING),
        }
    }
}

impl Pusher {
    /// Records the start time (before the gateway takes requests).
    pub fn started(&self, now_ms: i64) {
        self.started_secs.store(now_ms / 1000, Ordering::Relaxed);
    }

    /// Takes a push's nonce once: false for a replay.
    fn fresh_nonce(&self, nonce: &str, created: i64, now_secs: i64) -> Result<(), String> {
        if created < self.started_secs.load(Ordering::Relaxed) {
            return Err(
                "signed before this node started: send it again with a new signature".into(),
            );
        }
        let mut m = self
            .nonces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let horizon = now_secs - 2 * discal_protocol::httpsig::MAX_SKEW_SECS;
        if m.len() >= MAX_NONCES {
            m.retain(|_, c| *c >= horizon);
        }
        if m.len() >= MAX_NONCES {
            return Err("too many pushes in the last minutes; try again later".into());
        }
        if m.insert(nonce.to_owned(), created).is_some() {
            return Err(format!("nonce {nonce:?} was used before: a replayed push"));
        }
        Ok(())
    }
}

/// Carries out a push request from the gateway.
pub async fn handle(
    shared: &Arc<Shared>,
    ingest: &mpsc::Sender<Job>,
    req: PushRequest,
) -> Result<PushReply, WriteError> {
    match req {
        PushRequest::Hub(form) => hub::request(shared, form).await,
        PushRequest::Confirm { name, query } => inbound::confirm(shared, &name, &query),
        PushRequest::Receive(p) => inbound::receive(shared, ingest, *p).await,
        PushRequest::Decide { id, verb, by } => decide(shared, &id, &verb, &by),
    }
}

fn internal(e: impl std::fmt::Display) -> WriteError {
    WriteError::Internal(e.to_string())
}

/// An admin's decision on a subscription (by id) or a destination (by name).
fn decide(shared: &Shared, id: &str, verb: &str, by: &str) -> Result<PushReply, WriteError> {
    let store = &shared.store;
    let audit = |action: &str| {
        let _ = store.audit(&discal_store::AuditEntry {
            at_ms: shared.now(),
            actor: by.to_owned(),
            action: format!("push {action}"),
            subject: id.to_owned(),
        });
    };
    if verb == "resume" {
        let name = if store.subscription(id).map_err(internal)?.is_some() {
            format!("sub:{id}")
        } else {
            id.to_owned()
        };
        let mut st = store
            .push_state(&name)
            .map_err(internal)?
            .ok_or_else(|| WriteError::NotFound(format!("no push destination {id:?}")))?;
        st.dead = false;
        st.attempts = 0;
        st.failing_since_ms = 0;
        st.next_ms = 0;
        store.put_push_state(&st).map_err(internal)?;
        audit("resume");
        shared.push.wake.notify_one();
        return Ok(PushReply::Json(serde_json::json!({"resumed": name})));
    }
    let mut sub = store
        .subscription(id)
        .map_err(internal)?
        .ok_or_else(|| WriteError::NotFound(format!("no hub subscription {id:?}")))?;
    match verb {
        "approve" => sub.state = SubState::Active,
        // Kept, so the same request coming again is refused at once.
        "refuse" => sub.state = SubState::Refused,
        "remove" => {
            store.remove_subscription(id).map_err(internal)?;
            audit("remove");
            return Ok(PushReply::Json(serde_json::json!({"removed": id})));
        }
        other => {
            return Err(WriteError::BadRequest(format!(
                "{other:?}: approve, refuse, remove or resume"
            )))
        }
    }
    store.put_subscription(&sub).map_err(internal)?;
    audit(verb);
    shared.push.wake.notify_one();
    shared.changed.send_modify(|_| {});
    Ok(PushReply::Json(subscription_json(
        &sub,
        store.push_state(&format!("sub:{id}")).ok().flatten(),
    )))
}

fn state_json(s: Option<PushState>) -> serde_json::Value {
    let s = s.unwrap_or_default();
    serde_json::json!({
        "cursor": s.cursor,
        "delivered": s.delivered,
        "attempts": s.attempts,
        "next_ms": s.next_ms,
        "failing_since_ms": s.failing_since_ms,
        "last_error": s.last_error,
        "last_status": s.last_status,
        "last_ok_ms": s.last_ok_ms,
        "dead": s.dead,
    })
}

fn subscription_json(s: &discal_store::Subscription, st: Option<PushState>) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "topic": s.topic,
        "callback": s.callback,
        "secret": !s.secret.is_empty(),
        "lease_seconds": s.lease_secs,
        "expires_ms": s.expires_ms,
        "state": match s.state {
            SubState::Waiting => "waiting",
            SubState::Active => "active",
            SubState::Refused => "refused",
        },
        "delivery": state_json(st),
    })
}

/// Destinations, subscriptions and inbound sites as JSON (`/api/push`, `/status`).
pub fn pushes_json(shared: &Shared) -> serde_json::Value {
    let cfg = shared
        .config
        .read()
        .map(|c| c.push.clone())
        .unwrap_or_default();
    let store = &shared.store;
    let targets: Vec<serde_json::Value> = cfg
        .targets
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "url": t.url,
                "filter": t.filter,
                "auth": match t.auth { Auth::Signature => "signature", Auth::Hmac => "hmac" },
                "delivery": state_json(store.push_state(&t.name).ok().flatten()),
            })
        })
        .collect();
    let subs: Vec<serde_json::Value> = store
        .subscriptions()
        .unwrap_or_default()
        .iter()
        .map(|s| subscription_json(s, store.push_state(&format!("sub:{}", s.id)).ok().flatten()))
        .collect();
    let inbound: Vec<serde_json::Value> = cfg
        .inbound
        .iter()
        .map(|i| {
            let st = store
                .source_state(&inbound::state_name(&i.name))
                .ok()
                .flatten()
                .unwrap_or_default();
            serde_json::json!({
                "name": i.name,
                "url": i.url,
                "push_url": format!("{}/push/in/{}", shared.public_url, i.name),
                "auth": if i.key.is_some() { "signature" } else { "hmac" },
                "events": st.uids.len(),
                "last_push_ms": st.last_poll_ms,
                "totals": {
                    "new": st.totals.new,
                    "changed": st.totals.changed,
                    "refused": st.totals.refused,
                },
                "problems": st.problems,
            })
        })
        .collect();
    serde_json::json!({
        "registrations": match cfg.registrations {
            Registrations::Approve => "approve",
            Registrations::Auto => "auto",
        },
        "targets": targets,
        "subscriptions": subs,
        "inbound": inbound,
    })
}
