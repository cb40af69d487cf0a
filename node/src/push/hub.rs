//! The WebSub hub at `/websub` (W3C WebSub §5): a subscriber names a topic (any feed URL of
//! this node, personal views included) and a callback; the hub answers 202, checks the intent
//! by calling the callback with a challenge it must echo, and then holds the subscription —
//! waiting for a person's approval when `[push] registrations = "approve"`, active at once
//! with `"auto"` — until its lease ends. A renewal of an approved subscription stays approved.

use std::sync::Arc;

use discal_gateway::{PushReply, WriteError};
use discal_store::{SubState, Subscription};
use sha2::{Digest, Sha256};

use super::entry::{parse_filter, Registrations};
use crate::sources::fetch::{Fetched, Request};
use crate::Shared;

/// The feed paths a topic may name.
const TOPIC_PATHS: &[&str] = &["/feed.ics", "/feed.json", "/feed.atom", "/feed.rss"];
/// WebSub's limit on `hub.secret`.
const MAX_SECRET: usize = 199;
/// Shortest lease granted.
const MIN_LEASE_SECS: u64 = 60;

fn bad(why: impl Into<String>) -> WriteError {
    WriteError::BadRequest(why.into())
}

/// The subscription's id: WebSub names a subscription by topic and callback.
pub(super) fn subscription_id(topic: &str, callback: &str) -> String {
    let mut h = Sha256::new();
    h.update(topic.as_bytes());
    h.update([0]);
    h.update(callback.as_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A checked hub request.
struct Asked {
    subscribe: bool,
    topic: String,
    filter: String,
    callback: String,
    secret: Vec<u8>,
    lease_secs: u64,
}

fn read_form(shared: &Shared, form: &[(String, String)]) -> Result<Asked, WriteError> {
    let one = |k: &str| -> Result<Option<&str>, WriteError> {
        let mut it = form.iter().filter(|(n, _)| n == k);
        let v = it.next().map(|(_, v)| v.as_str());
        if it.next().is_some() {
            return Err(bad(format!("{k} is given more than once")));
        }
        Ok(v)
    };
    let subscribe = match one("hub.mode")? {
        Some("subscribe") => true,
        Some("unsubscribe") => false,
        Some(m) => return Err(bad(format!("hub.mode {m:?}: subscribe or unsubscribe"))),
        None => return Err(bad("hub.mode is missing")),
    };
    let topic = one("hub.topic")?.ok_or_else(|| bad("hub.topic is missing"))?;
    let callback = one("hub.callback")?.ok_or_else(|| bad("hub.callback is missing"))?;
    let filter = topic_filter(&shared.public_url, topic)?;
    match reqwest::Url::parse(callback) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => {
            return Err(bad(format!(
                "hub.callback {callback:?} is not an http(s) URL"
            )))
        }
    }
    if callback.len() > 2048 {
        return Err(bad("hub.callback is longer than 2048 bytes"));
    }
    let secret = one("hub.secret")?.unwrap_or("").as_bytes().to_vec();
    if secret.len() > MAX_SECRET {
        return Err(bad(format!("hub.secret is longer than {MAX_SECRET} bytes")));
    }
    let max_lease = shared
        .config
        .read()
        .map(|c| c.push.lease_secs())
        .unwrap_or(864_000);
    let lease_secs = match one("hub.lease_seconds")? {
        None | Some("") => max_lease,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| bad(format!("hub.lease_seconds {v:?} is not a number")))?
            .clamp(MIN_LEASE_SECS, max_lease),
    };
    Ok(Asked {
        subscribe,
        topic: topic.to_owned(),
        filter,
        callback: callback.to_owned(),
        secret,
        lease_secs,
    })
}

/// The view a topic names (its query string), if the topic is a feed of this node.
fn topic_filter(public_url: &str, topic: &str) -> Result<String, WriteError> {
    let rest = topic.strip_prefix(public_url).ok_or_else(|| {
        bad(format!(
            "hub.topic {topic:?} is not a feed of this node (they start with {public_url})"
        ))
    })?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !TOPIC_PATHS.contains(&path) {
        return Err(bad(format!(
            "hub.topic {topic:?}: a topic is one of this node's feeds ({})",
            TOPIC_PATHS.join(", ")
        )));
    }
    parse_filter(query).map_err(|e| bad(format!("hub.topic {topic:?}: {e}")))?;
    Ok(query.to_owned())
}

/// `POST /websub`.
pub(super) async fn request(
    shared: &Arc<Shared>,
    form: Vec<(String, String)>,
) -> Result<PushReply, WriteError> {
    let asked = read_form(shared, &form)?;
    let id = subscription_id(&asked.topic, &asked.callback);
    let held = shared.store.subscription(&id).map_err(super::internal)?;
    if asked.subscribe {
        if held.as_ref().is_some_and(|s| s.state == SubState::Refused) {
            return Err(WriteError::Forbidden(
                "this subscription was refused by the node's operator".into(),
            ));
        }
        let (max, count) = (
            shared
                .config
                .read()
                .map(|c| c.push.max_subscriptions)
                .unwrap_or(0),
            shared.store.subscriptions().map_err(super::internal)?.len(),
        );
        if held.is_none() && count >= max as usize {
            return Err(WriteError::Unavailable(format!(
                "this hub holds its most subscriptions ({max})"
            )));
        }
    }
    // The slot is handed back by the check's task when it ends.
    match shared.push.verifying.try_acquire() {
        Ok(p) => p.forget(),
        Err(_) => {
            return Err(WriteError::Unavailable(
                "the hub is checking other subscriptions; try again in a minute".into(),
            ))
        }
    }
    let s = shared.clone();
    shared.tasks.spawn(async move {
        verify(&s, asked, id, held).await;
        s.push.verifying.add_permits(1);
    });
    Ok(PushReply::Accepted(
        "accepted: the hub checks the intent at the callback now".into(),
    ))
}

/// Calls the callback with a challenge; on the echo, records (or ends) the subscription.
async fn verify(shared: &Shared, asked: Asked, id: String, held: Option<Subscription>) {
    if let Err(why) = challenge(shared, &asked).await {
        tracing::info!(callback = %asked.callback, "hub: intent not verified: {why}");
        shared.metrics.push("intent_refused");
        return;
    }
    if !asked.subscribe {
        let _ = shared.store.remove_subscription(&id);
        shared.changed.send_modify(|_| {});
        return;
    }
    let auto = shared
        .config
        .read()
        .map(|c| c.push.registrations == Registrations::Auto)
        .unwrap_or(false);
    let now = shared.now();
    let state = match &held {
        Some(h) if h.state == SubState::Active => SubState::Active,
        _ if auto => SubState::Active,
        _ => SubState::Waiting,
    };
    let sub = Subscription {
        id,
        topic: asked.topic,
        filter: asked.filter,
        callback: asked.callback,
        secret: asked.secret,
        lease_secs: asked.lease_secs,
        expires_ms: now + i64::try_from(asked.lease_secs * 1000).unwrap_or(i64::MAX / 2),
        state,
        at_ms: held.map_or(now, |h| h.at_ms),
    };
    if let Err(e) = shared.store.put_subscription(&sub) {
        tracing::warn!("hub: {e}");
        return;
    }
    tracing::info!(callback = %sub.callback, topic = %sub.topic, state = ?sub.state, "hub: subscription verified");
    shared.metrics.push("subscribed");
    shared.push.wake.notify_one();
    shared.changed.send_modify(|_| {});
}

/// WebSub's intent check: a GET of the callback with a random challenge, which it echoes.
async fn challenge(shared: &Shared, asked: &Asked) -> Result<(), String> {
    let challenge = format!("{:032x}", rand::random::<u128>());
    let mut url = reqwest::Url::parse(&asked.callback).map_err(|e| e.to_string())?;
    url.query_pairs_mut()
        .append_pair(
            "hub.mode",
            if asked.subscribe {
                "subscribe"
            } else {
                "unsubscribe"
            },
        )
        .append_pair("hub.topic", &asked.topic)
        .append_pair("hub.challenge", &challenge)
        .append_pair("hub.lease_seconds", &asked.lease_secs.to_string());
    let allow_private = shared
        .config
        .read()
        .map(|c| c.push.allow_private_callbacks)
        .unwrap_or(false);
    let fetcher = shared.sources.fetcher(&shared.public_url)?;
    let got = fetcher
        .get(&Request {
            url: url.as_str(),
            etag: None,
            last_modified: None,
            allow_private,
            accept: "text/plain",
        })
        .await;
    match got {
        Ok(Fetched::Full { body, .. }) if body.bytes == challenge.as_bytes() => Ok(()),
        Err(e) => Err(e.message),
        Ok(_) => Err("the callback did not echo the challenge".into()),
    }
}
