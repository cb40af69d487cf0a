//! RSVPs at the origin (docs/protocol.md §12.6): each person's answer kept here with their
//! name (for the organisers, never sent on), and the counts published in the event's
//! X-DISCAL-RSVP at most once per `proposals.rsvp_interval_secs`, so answers do not make a
//! revision storm on the mesh.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use discal_gateway::{WriteError, WriteOp};
use discal_protocol::proposal::{
    apply_to_calendar, rsvp_counts, rsvp_value, FieldChange, RsvpAnswer, RSVP_PROPERTY,
};
use discal_protocol::{EventKey, NodeKey};
use discal_store::RsvpRecord;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::msg::{submit_write, Job};
use crate::Shared;

/// How a node names one of its people in RSVPs without saying who: the first 16 bytes of
/// SHA-256(node key ‖ account name).
pub fn person_id(node: &NodeKey, account: &str) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(node.as_bytes());
    h.update(account.as_bytes());
    let d = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

/// Records (or takes back) an answer to one of this node's events.
pub(crate) fn record(
    shared: &Shared,
    uid: &str,
    (node, person): (NodeKey, [u8; 16]),
    answer: RsvpAnswer,
    name: &str,
) -> Result<(), WriteError> {
    shared
        .store
        .put_rsvp(&RsvpRecord {
            uid: uid.to_string(),
            node: *node.as_bytes(),
            person,
            answer,
            name: name.chars().filter(|c| !c.is_control()).take(100).collect(),
            at_ms: shared.now(),
        })
        .map_err(|e| WriteError::Internal(e.to_string()))?;
    if let Ok(mut d) = shared.rsvp_dirty.lock() {
        d.insert(uid.to_string());
    }
    shared.metrics.proposal("rsvp answer");
    shared.rsvp_wake.notify_one();
    Ok(())
}

/// Going, maybe and not going among `answers`.
pub fn counts(answers: &[RsvpRecord]) -> (u32, u32, u32) {
    answers
        .iter()
        .fold((0, 0, 0), |(g, m, n), r| match r.answer {
            RsvpAnswer::Going => (g + 1, m, n),
            RsvpAnswer::Maybe => (g, m + 1, n),
            RsvpAnswer::NotGoing => (g, m, n + 1),
            RsvpAnswer::Withdrawn => (g, m, n),
        })
}

/// Publishes the counts of events whose answers changed, each at most once per interval.
/// Runs until the node stops.
pub async fn run_counts(shared: Arc<Shared>, ingest: mpsc::Sender<Job>) {
    // Answers stored before a restart may not have been published.
    if let (Ok(uids), Ok(mut d)) = (shared.store.rsvp_uids(), shared.rsvp_dirty.lock()) {
        d.extend(uids);
    }
    let mut last: HashMap<String, i64> = HashMap::new();
    loop {
        let interval = shared
            .config
            .read()
            .map(|c| c.proposals.rsvp_interval_secs.max(1))
            .unwrap_or(300) as i64
            * 1000;
        let now = shared.now();
        let dirty: Vec<String> = shared
            .rsvp_dirty
            .lock()
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default();
        let mut wait = interval;
        for uid in dirty {
            let since = last.get(&uid).map_or(i64::MAX, |t| now - t);
            if since < interval {
                wait = wait.min(interval - since);
                continue;
            }
            if let Ok(mut d) = shared.rsvp_dirty.lock() {
                d.remove(&uid);
            }
            match publish(&shared, &ingest, &uid).await {
                Ok(true) => {
                    last.insert(uid, now);
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(uid, "RSVP counts not published: {e}"),
            }
        }
        let wait = Duration::from_millis(u64::try_from(wait.max(50)).unwrap_or(1000));
        let _ = tokio::time::timeout(wait, shared.rsvp_wake.notified()).await;
    }
}

/// Writes the event's counts as its next revision, if they changed; true if it did.
async fn publish(
    shared: &Shared,
    ingest: &mpsc::Sender<Job>,
    uid: &str,
) -> Result<bool, WriteError> {
    let key = EventKey {
        origin: shared.me,
        uid: uid.to_string(),
    };
    let Some(held) = shared
        .store
        .get(&key)
        .map_err(|e| WriteError::Internal(e.to_string()))?
    else {
        return Ok(false);
    };
    let answers = shared
        .store
        .rsvps(uid)
        .map_err(|e| WriteError::Internal(e.to_string()))?;
    let want = counts(&answers);
    let value = rsvp_value(want);
    let m = &held.content().master;
    let now = m
        .extra
        .iter()
        .find(|p| p.name == RSVP_PROPERTY)
        .map(|p| rsvp_counts(&p.value));
    if now == Some(want) || (now.is_none() && answers.is_empty()) {
        return Ok(false);
    }
    let ics = apply_to_calendar(
        &crate::author::held_ics(&held),
        &[FieldChange {
            name: RSVP_PROPERTY.into(),
            base: Vec::new(),
            proposed: vec![format!("{RSVP_PROPERTY}:{value}")],
        }],
    );
    submit_write(
        ingest,
        WriteOp::Replace {
            uid: uid.to_string(),
            ics,
        },
    )
    .await?;
    Ok(true)
}
