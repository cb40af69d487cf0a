//! Pushes received (the seed's enter-event for sites): a sister site in `[[push.inbound]]`
//! POSTs iCalendar to `/push/in/<name>`, signed with its node key or with the secret the two
//! sites share. The signature, its age and its nonce are checked before the body is read as
//! a calendar; then the seed's validity rule (DisCal's attributes all valid, or all absent),
//! and an envelope it carries must verify. What passes is taken like a source's events
//! (docs/protocol.md §13: this node signs it, the site is its provenance), except that the
//! sender already counted the push in X-HOP, and a push holds some of the site's events, not
//! all, so nothing is cancelled for missing from it.

use base64::Engine;
use discal_gateway::{PushReply, Pushed, WriteError};
use discal_protocol::httpsig::{self, Received, VerifyingKey};
use discal_protocol::ics::{parse_calendar, ImportedEvent};
use discal_protocol::source::check_pushed;
use discal_protocol::{Envelope, NodeKey};
use discal_store::SourceState;
use tokio::sync::mpsc;

use super::entry::Inbound;
use crate::msg::Job;
use crate::sources::{Reading, SourceEntry, SourceKind};
use crate::Shared;

/// The name an inbound site's state is kept under (beside the sources' states).
pub(super) fn state_name(name: &str) -> String {
    format!("push:{name}")
}

fn entry_of(shared: &Shared, name: &str) -> Result<Inbound, WriteError> {
    shared
        .config
        .read()
        .ok()
        .and_then(|c| c.push.inbound.iter().find(|i| i.name == name).cloned())
        .ok_or_else(|| WriteError::NotFound(format!("no inbound push site named {name:?}")))
}

/// `GET /push/in/<name>`: the hub of a site this node subscribed to checks the intent; the
/// challenge is echoed for the topic named in the entry.
pub(super) fn confirm(
    shared: &Shared,
    name: &str,
    query: &[(String, String)],
) -> Result<PushReply, WriteError> {
    let entry = entry_of(shared, name)?;
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(mode), Some(topic), Some(challenge)) =
        (get("hub.mode"), get("hub.topic"), get("hub.challenge"))
    else {
        return Err(WriteError::BadRequest(
            "hub.mode, hub.topic and hub.challenge are required".into(),
        ));
    };
    if mode != "subscribe" || entry.topic.as_deref() != Some(topic) {
        return Err(WriteError::NotFound(format!(
            "this node did not ask to {mode} to {topic:?}"
        )));
    }
    Ok(PushReply::Text(challenge.to_owned()))
}

fn unauthorized(shared: &Shared, why: impl std::fmt::Display) -> WriteError {
    shared.metrics.push("unauthorized");
    WriteError::Unauthorized(format!("push refused: {why}"))
}

/// Checks who sent the push, and that it was not sent before.
fn authenticate(shared: &Shared, entry: &Inbound, p: &Pushed) -> Result<(), WriteError> {
    let r = Received {
        content_digest: p.content_digest.as_deref(),
        signature_input: p.signature_input.as_deref(),
        signature: p.signature.as_deref(),
    };
    let params = httpsig::read_params(&r).map_err(|e| unauthorized(shared, e))?;
    let node_key;
    let key = match (params.alg.as_str(), &entry.key, &entry.secret) {
        ("ed25519", Some(k), _) => {
            node_key = k
                .parse::<NodeKey>()
                .map_err(|e| WriteError::Internal(e.to_string()))?;
            VerifyingKey::Node(&node_key)
        }
        ("hmac-sha256", _, Some(s)) if !s.is_empty() => VerifyingKey::Hmac(s.as_bytes()),
        (alg, _, _) => {
            return Err(unauthorized(
                shared,
                format!("alg {alg:?} is not how site {:?} signs here", entry.name),
            ))
        }
    };
    let now = shared.now() / 1000;
    let ok = httpsig::verify(
        &r,
        "POST",
        &p.target_uri,
        &p.content_type,
        &p.body,
        now,
        &key,
    )
    .map_err(|e| unauthorized(shared, e))?;
    shared
        .push
        .fresh_nonce(&ok.nonce, ok.created, now)
        .map_err(|e| {
            shared.metrics.push("replayed");
            WriteError::Unauthorized(format!("push refused: {e}"))
        })
}

fn invalid(shared: &Shared, why: String) -> WriteError {
    shared.metrics.push("invalid");
    WriteError::BadRequest(why)
}

/// The calendar's `X-DISCAL-ENVELOPE`, if it has one: it must verify, and be the origin's
/// signed revision of an event the push carries.
fn check_envelope(shared: &Shared, text: &str, events: &[ImportedEvent]) -> Result<(), String> {
    let unfolded = text.replace("\r\n ", "").replace("\n ", "");
    let prop = discal_gateway::feeds::ics::ENVELOPE_PROPERTY;
    let Some(line) = unfolded
        .lines()
        .find_map(|l| l.strip_prefix(prop).and_then(|r| r.strip_prefix(':')))
    else {
        return Ok(());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .map_err(|e| format!("{prop} is not base64: {e}"))?;
    let env = Envelope::decode(&bytes).map_err(|e| format!("{prop}: {e}"))?;
    let ev = env
        .verify(shared.now(), &shared.limits)
        .map_err(|e| format!("{prop} does not verify: {e}"))?;
    let p = ev.payload();
    let named = [p.uid.clone(), format!("{}~{}", p.origin, p.uid)];
    if !events.iter().any(|e| named.contains(&e.uid)) {
        return Err(format!(
            "{prop} is the origin's signature of event {:?}, which this push does not carry",
            p.uid
        ));
    }
    Ok(())
}

/// `POST /push/in/<name>`.
pub(super) async fn receive(
    shared: &Shared,
    ingest: &mpsc::Sender<Job>,
    p: Pushed,
) -> Result<PushReply, WriteError> {
    let entry = entry_of(shared, &p.name)?;
    authenticate(shared, &entry, &p)?;
    if !p
        .content_type
        .to_ascii_lowercase()
        .starts_with("text/calendar")
    {
        return Err(invalid(shared, "a push is text/calendar".into()));
    }
    let text = std::str::from_utf8(&p.body)
        .map_err(|_| invalid(shared, "the calendar is not UTF-8".into()))?;
    let import = parse_calendar(text, &shared.me, &shared.limits)
        .map_err(|e| invalid(shared, format!("not a calendar: {e}")))?;
    if let Some(e) = import.errors.first() {
        return Err(invalid(shared, format!("a VEVENT cannot be taken: {e}")));
    }
    if import.events.is_empty() {
        return Err(invalid(shared, "the calendar holds no VEVENT".into()));
    }
    for ev in &import.events {
        check_pushed(ev).map_err(|why| invalid(shared, format!("VEVENT {}: {why}", ev.uid)))?;
    }
    check_envelope(shared, text, &import.events).map_err(|e| invalid(shared, e))?;
    let mut events = import.events;
    let mut filtered = Vec::new();
    {
        let cfg = shared
            .config
            .read()
            .map_err(|_| WriteError::Internal("config lock poisoned".into()))?;
        events.retain(|ev| {
            // The admin filters see the event as it will be kept: the site's tags added, as
            // many hops from where it was first published as the site says.
            let mut c = ev.content.clone();
            c.master.categories.extend(entry.tags.iter().cloned());
            let hop = ev.hop.unwrap_or(1).max(1);
            match crate::author::filter_content(&cfg, &c, hop) {
                Ok(()) => true,
                Err(why) => {
                    filtered.push(serde_json::json!({"uid": ev.uid, "why": why}));
                    false
                }
            }
        });
    }
    if !filtered.is_empty() {
        shared.metrics.push("filtered");
    }
    for ev in &mut events {
        // The sender counted the push in X-HOP already; taking it adds one more, so one is
        // taken off first (an event with none is first-hand at the site: one publication).
        ev.hop = ev.hop.map(|h| h.max(1) - 1);
    }
    let mut reply = if events.is_empty() {
        serde_json::json!({"new": 0, "changed": 0, "cancelled": 0, "uids": []})
    } else {
        match take(shared, ingest, &entry, events).await? {
            PushReply::Json(v) => v,
            other => return Ok(other),
        }
    };
    // Filtered events are this node's choice, not the sender's mistake: named, not refused.
    reply["filtered"] = filtered.into();
    Ok(PushReply::Json(reply))
}

async fn take(
    shared: &Shared,
    ingest: &mpsc::Sender<Job>,
    entry: &Inbound,
    events: Vec<ImportedEvent>,
) -> Result<PushReply, WriteError> {
    let name = state_name(&entry.name);
    let mut src = SourceEntry::new(&name, &entry.url, SourceKind::Ics);
    src.tags.clone_from(&entry.tags);
    let mut state = shared
        .store
        .source_state(&name)
        .map_err(super::internal)?
        .filter(|s| s.url == entry.url)
        .unwrap_or_else(|| SourceState {
            name: name.clone(),
            url: entry.url.clone(),
            ..SourceState::default()
        });
    shared.writes_ready().await;
    let reading = Reading {
        events,
        ..Reading::default()
    };
    let out = crate::sources::poll::submit(ingest, &src, (reading, true, true), &state).await?;
    let t = &mut state.totals;
    t.seen += out.counts.seen;
    t.new += out.counts.new;
    t.changed += out.counts.changed;
    t.cancelled += out.counts.cancelled;
    t.refused += out.counts.refused;
    state.counts = out.counts.clone();
    for u in &out.uids {
        if !state.uids.contains(u) {
            state.uids.push(u.clone());
        }
    }
    state.last_poll_ms = shared.now();
    state.last_status = 200;
    state.problems.clone_from(&out.problems);
    shared
        .store
        .put_source_state(&state, true)
        .map_err(super::internal)?;
    shared.changed.send_modify(|_| {});
    if out.counts.refused > 0 {
        return Err(invalid(shared, out.problems.join("; ")));
    }
    shared.metrics.push("taken");
    Ok(PushReply::Json(serde_json::json!({
        "new": out.counts.new,
        "changed": out.counts.changed,
        "cancelled": out.counts.cancelled,
        "uids": out.uids,
    })))
}
