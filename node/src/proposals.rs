//! Proposals at this node (docs/protocol.md §12). As an event's origin: answering the ones that
//! come in (applied, queued for a person, or held as a conflict, by the protocol's
//! [`decide`]) and a person's decision on held ones, each answer a signed receipt kept with the
//! proposal so a repeat gets the same answer and nothing is applied twice. As a proposer:
//! making one from a person's edit of another origin's event and keeping it in the durable
//! outbox, which [`run_outbox`] sends to the event's X-REVISE-URL until the answer is final.
//!
//! Everything that signs runs on the ingest worker (it holds the key) through
//! [`crate::msg::Job::Proposal`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use discal_gateway::{ProposalReply, ProposalRequest, WriteError, WriteOp, Written};
use discal_protocol::proposal::{
    apply_to_calendar, decide, diff_fields, master_lines, sign_proposal, sign_receipt,
    stored_proposal, Change, Decision, Outcome, ProposalPayload, ReceiptPayload, Signed,
    PROPOSAL_VERSION,
};
use discal_protocol::{EventKey, NodeKey, NodeSecret};
use discal_store::{AuditEntry, ReceivedProposal, SentProposal, StoredEvent};

use crate::Shared;

/// The media type of a signed proposal on the wire, and of the receipt that answers it.
pub const PROPOSAL_TYPE: &str = "application/x-discal-proposal";
/// See [`PROPOSAL_TYPE`].
pub const RECEIPT_TYPE: &str = "application/x-discal-receipt";

/// Longest wait between two tries of one proposal, and the longest before asking again about a
/// pending one.
const MAX_BACKOFF_MS: i64 = 10 * 60 * 1000;
const PENDING_POLL_MS: i64 = 5 * 60 * 1000;

fn bad(e: impl std::fmt::Display) -> WriteError {
    WriteError::BadRequest(e.to_string())
}

fn internal(e: impl std::fmt::Display) -> WriteError {
    WriteError::Internal(e.to_string())
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Handles one request on the ingest worker; `write` performs a local write there.
pub fn handle(
    shared: &Shared,
    secret: &NodeSecret,
    req: ProposalRequest,
    write: &dyn Fn(WriteOp) -> Result<Vec<Written>, WriteError>,
) -> Result<ProposalReply, WriteError> {
    match req {
        ProposalRequest::Receive(bytes) => {
            receive(shared, secret, &bytes, write).map(ProposalReply::Receipt)
        }
        ProposalRequest::Decide {
            id,
            accept,
            reason,
            merged,
            by,
        } => decide_held(
            shared,
            secret,
            id,
            accept.then_some(merged).ok_or(reason),
            &by,
            write,
        )
        .map(|()| ProposalReply::Decided),
        ProposalRequest::Rsvp {
            origin,
            uid,
            answer,
            account,
            name,
        } => rsvp(
            shared,
            secret,
            EventKey { origin, uid },
            answer,
            (&account, &name),
        ),
        ProposalRequest::Make {
            origin,
            uid,
            patch,
            cancel,
            account,
        } => make(
            shared,
            secret,
            EventKey { origin, uid },
            (*patch, cancel),
            &account,
        )
        .map(ProposalReply::Made),
    }
}

fn audit(shared: &Shared, actor: &str, action: &str, subject: String) {
    let e = AuditEntry {
        at_ms: shared.now(),
        actor: actor.into(),
        action: action.into(),
        subject,
    };
    if let Err(err) = shared.store.audit(&e) {
        tracing::warn!("audit log: {err}");
    }
}

/// Counts a refusal and says why.
fn refuse(shared: &Shared, label: &'static str, why: String) -> WriteError {
    shared.metrics.proposal(label);
    tracing::info!(reason = label, "proposal refused: {why}");
    WriteError::BadRequest(why)
}

/// Takes the proposal's place in its proposer's hourly allowance.
fn within_rate(shared: &Shared, proposer: NodeKey, max: u32) -> bool {
    let hour = shared.now().div_euclid(3_600_000);
    let Ok(mut m) = shared.proposal_rate.lock() else {
        return false;
    };
    let e = m.entry(proposer).or_insert((hour, 0));
    if e.0 != hour {
        *e = (hour, 0);
    }
    e.1 += 1;
    e.1 <= max
}

/// The origin's side: verify, answer a repeat with its receipt, then apply, queue or hold.
fn receive(
    shared: &Shared,
    secret: &NodeSecret,
    bytes: &[u8],
    write: &dyn Fn(WriteOp) -> Result<Vec<Written>, WriteError>,
) -> Result<Vec<u8>, WriteError> {
    let now = shared.now();
    let signed = Signed::decode(bytes).map_err(|e| refuse(shared, "decode", e.to_string()))?;
    let p = signed
        .verify_proposal(now, shared.limits.max_clock_skew_ms)
        .map_err(|e| refuse(shared, "invalid", e.to_string()))?;
    if p.origin != shared.me {
        return Err(refuse(
            shared,
            "origin",
            format!(
                "the event's origin is {}; this node is {}",
                p.origin, shared.me
            ),
        ));
    }
    if let Some(prev) = shared.store.received_proposal(&p.id).map_err(internal)? {
        if prev.signed != bytes {
            return Err(refuse(
                shared,
                "replay",
                format!("proposal id {} was used for another proposal", hex(&p.id)),
            ));
        }
        shared.metrics.proposal("repeat");
        return Ok(prev.receipt);
    }
    let trusted = admit_proposer(shared, p.proposer)?;
    let held = own_event(shared, &p.uid)?;
    if let Change::Rsvp { person, answer } = &p.change {
        crate::rsvp::record(shared, &p.uid, (p.proposer, *person), *answer, &p.author)?;
    }
    let outcome = match decide(p.base_revision, held.payload.revision, trusted) {
        _ if matches!(p.change, Change::Rsvp { .. }) => Outcome::Accepted {
            revision: held.payload.revision,
        },
        Decision::Apply => Outcome::Accepted {
            revision: apply(&held, &p.change, write)?,
        },
        Decision::Queue => Outcome::Pending { conflict: false },
        Decision::Conflict => Outcome::Pending { conflict: true },
    };
    let label = match &outcome {
        _ if matches!(p.change, Change::Rsvp { .. }) => "rsvp",
        Outcome::Accepted { .. } => "accepted",
        Outcome::Pending { conflict: false } => "queued",
        _ => "conflict",
    };
    shared.metrics.proposal(label);
    let receipt = answer(shared, secret, &p, outcome)?;
    shared
        .store
        .put_received_proposal(&ReceivedProposal {
            id: p.id,
            signed: bytes.to_vec(),
            receipt: receipt.clone(),
            pending: !matches!(label, "accepted" | "rsvp"),
            at_ms: now,
        })
        .map_err(internal)?;
    // Waiters (pages, tests) look again.
    shared.changed.send_modify(|_| {});
    audit(
        shared,
        &format!("{} at {}", p.author, p.proposer.fmt_short()),
        &format!("proposal {label}"),
        format!("{} ({})", p.uid, hex(&p.id)),
    );
    Ok(receipt)
}

/// Whether a proposer is trusted; refuses a blocked one or one past its hourly allowance.
fn admit_proposer(shared: &Shared, proposer: NodeKey) -> Result<bool, WriteError> {
    let (trusted, max, blocked) = {
        let c = shared.config.read().map_err(internal)?;
        let k = proposer.to_string();
        (
            c.proposals.trusted.contains(&k),
            c.proposals.max_per_hour,
            c.origins.blocked.contains(&k),
        )
    };
    if blocked {
        return Err(refuse(
            shared,
            "blocked",
            format!("proposer {proposer} is blocked here"),
        ));
    }
    if !within_rate(shared, proposer, max) {
        return Err(refuse(
            shared,
            "rate",
            format!("proposer {proposer} sent more than {max} proposals this hour"),
        ));
    }
    Ok(trusted)
}

fn own_event(shared: &Shared, uid: &str) -> Result<StoredEvent, WriteError> {
    shared
        .store
        .get(&EventKey {
            origin: shared.me,
            uid: uid.to_string(),
        })
        .map_err(internal)?
        .ok_or_else(|| WriteError::NotFound(format!("no event {uid:?} of this node")))
}

fn answer(
    shared: &Shared,
    secret: &NodeSecret,
    p: &ProposalPayload,
    outcome: Outcome,
) -> Result<Vec<u8>, WriteError> {
    let r = ReceiptPayload {
        version: PROPOSAL_VERSION,
        proposal_id: p.id,
        origin: shared.me,
        proposer: p.proposer,
        uid: p.uid.clone(),
        outcome,
        at_ms: shared.now(),
    };
    Ok(sign_receipt(secret, &r).map_err(internal)?.encode())
}

/// Applies a change to the held event as the next revision; returns it.
fn apply(
    held: &StoredEvent,
    change: &Change,
    write: &dyn Fn(WriteOp) -> Result<Vec<Written>, WriteError>,
) -> Result<u32, WriteError> {
    let uid = held.payload.uid.clone();
    let written = match change {
        // Counted, never applied (rsvp.rs publishes the counts).
        Change::Rsvp { .. } => return Ok(held.payload.revision),
        Change::Cancel => write(WriteOp::Cancel { uid })?,
        Change::Fields(fields) => {
            let ics = crate::author::held_ics(held);
            write(WriteOp::Replace {
                uid,
                ics: apply_to_calendar(&ics, fields),
            })?
        }
    };
    let w = written
        .first()
        .ok_or_else(|| internal("the write wrote nothing"))?;
    if let Some(why) = &w.refused {
        return Err(bad(why));
    }
    Ok(w.revision)
}

/// The proposal's change with a person's own lines for some of its properties (what they typed
/// beside the side-by-side view): each line must be one of that property's lines.
fn merge_by_hand(change: &Change, merged: &[(String, String)]) -> Result<Change, WriteError> {
    let Change::Fields(fields) = change else {
        return Ok(change.clone());
    };
    let mut out = fields.clone();
    for (name, text) in merged {
        let f = out
            .iter_mut()
            .find(|f| &f.name == name)
            .ok_or_else(|| bad(format!("{name} is not one of the proposal's properties")))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        for l in &lines {
            let named = l
                .strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with([':', ';']));
            if !named || l.chars().any(char::is_control) {
                return Err(bad(format!("{name}: {l:?} is not one of its lines")));
            }
        }
        f.proposed = lines;
    }
    Ok(Change::Fields(out))
}

/// A person's decision on a held proposal: accepted as the next revision (over whatever the
/// event is now: the person saw base, current and proposed side by side), or rejected.
fn decide_held(
    shared: &Shared,
    secret: &NodeSecret,
    id: [u8; 16],
    accept: Result<Vec<(String, String)>, String>,
    by: &str,
    write: &dyn Fn(WriteOp) -> Result<Vec<Written>, WriteError>,
) -> Result<(), WriteError> {
    let mut held = shared
        .store
        .received_proposal(&id)
        .map_err(internal)?
        .filter(|r| r.pending)
        .ok_or_else(|| WriteError::NotFound(format!("no proposal {} waits", hex(&id))))?;
    let p = stored_proposal(&held.signed).map_err(internal)?;
    let outcome = match accept {
        Ok(merged) => Outcome::Accepted {
            revision: apply(
                &own_event(shared, &p.uid)?,
                &merge_by_hand(&p.change, &merged)?,
                write,
            )?,
        },
        Err(reason) => {
            let reason: String = reason
                .chars()
                .filter(|c| !c.is_control())
                .take(500)
                .collect();
            Outcome::Rejected {
                reason: if reason.trim().is_empty() {
                    "rejected".into()
                } else {
                    reason
                },
            }
        }
    };
    let verb = if matches!(outcome, Outcome::Accepted { .. }) {
        "accept proposal"
    } else {
        "reject proposal"
    };
    held.receipt = answer(shared, secret, &p, outcome)?;
    held.pending = false;
    shared
        .store
        .put_received_proposal(&held)
        .map_err(internal)?;
    audit(shared, by, verb, format!("{} ({})", p.uid, hex(&id)));
    Ok(())
}

/// The proposer's side: the change a person made to another origin's event, signed, into the
/// outbox.
fn make(
    shared: &Shared,
    secret: &NodeSecret,
    key: EventKey,
    (patch, cancel): (discal_gateway::Draft, bool),
    account: &str,
) -> Result<[u8; 16], WriteError> {
    let held = others_event(shared, &key)?;
    let change = if cancel {
        Change::Cancel
    } else {
        let base = crate::author::held_ics(&held);
        let proposed = patch.patch_ics(&base).map_err(bad)?;
        let fields = diff_fields(&master_lines(&base), &master_lines(&proposed));
        if fields.is_empty() {
            return Err(bad("nothing is changed"));
        }
        Change::Fields(fields)
    };
    send_change(shared, secret, &held, change, (account, account))
}

/// Another origin's event held here (a proposal is made only for those).
fn others_event(shared: &Shared, key: &EventKey) -> Result<StoredEvent, WriteError> {
    if key.origin == shared.me {
        return Err(bad("this node's own event: change it, rather than propose"));
    }
    shared
        .store
        .get(key)
        .map_err(internal)?
        .ok_or_else(|| WriteError::NotFound(format!("no event {:?} here", key.uid)))
}

/// Signs a change to `held` as this node's proposal and puts it into the outbox.
pub(crate) fn send_change(
    shared: &Shared,
    secret: &NodeSecret,
    held: &StoredEvent,
    change: Change,
    (account, author): (&str, &str),
) -> Result<[u8; 16], WriteError> {
    let target = held
        .content()
        .master
        .revise_url
        .clone()
        .filter(|u| discal_gateway::display::safe_link(u).is_some())
        .ok_or_else(|| bad("the event names no http(s) address for proposals (X-REVISE-URL)"))?;
    let now = shared.now();
    let p = ProposalPayload {
        version: PROPOSAL_VERSION,
        id: rand::random(),
        proposer: shared.me,
        origin: held.payload.origin,
        uid: held.payload.uid.clone(),
        base_revision: held.payload.revision,
        change,
        author: author
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect(),
        proposed_at_ms: now,
    };
    let signed = sign_proposal(secret, &p).map_err(bad)?;
    shared
        .store
        .put_sent_proposal(&SentProposal {
            id: p.id,
            signed: signed.encode(),
            target,
            account: account.to_string(),
            receipt: Vec::new(),
            done: false,
            attempts: 0,
            next_ms: now,
            last_error: String::new(),
            at_ms: now,
        })
        .map_err(internal)?;
    shared.metrics.proposal("made");
    shared.changed.send_modify(|_| {});
    audit(
        shared,
        account,
        "propose",
        format!("{} ({})", p.uid, hex(&p.id)),
    );
    shared.outbox.notify_one();
    Ok(p.id)
}

/// An answer from a person here: counted here for this node's events, sent to the origin for
/// others'.
fn rsvp(
    shared: &Shared,
    secret: &NodeSecret,
    key: EventKey,
    answer: discal_protocol::proposal::RsvpAnswer,
    (account, name): (&str, &str),
) -> Result<ProposalReply, WriteError> {
    let person = crate::rsvp::person_id(&shared.me, account);
    if key.origin == shared.me {
        own_event(shared, &key.uid)?;
        crate::rsvp::record(shared, &key.uid, (shared.me, person), answer, name)?;
        return Ok(ProposalReply::Decided);
    }
    let held = others_event(shared, &key)?;
    send_change(
        shared,
        secret,
        &held,
        Change::Rsvp { person, answer },
        (account, name),
    )
    .map(ProposalReply::Made)
}

/// Checks that `url` leads to public addresses only (unless allowed).
async fn target_ok(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .map(|a| a.ip())
            .collect(),
    };
    match addrs.iter().find(|ip| crate::sources::fetch::special(**ip)) {
        Some(ip) => Err(format!(
            "{host} is {ip}, a loopback or private address (proposals.allow_private_targets)"
        )),
        None => Ok(()),
    }
}

/// Sends one proposal (or asks again about it: the origin answers a repeat with its receipt)
/// and returns the verified receipt's bytes.
async fn send(
    http: &reqwest::Client,
    p: &SentProposal,
    allow_private: bool,
) -> Result<Vec<u8>, String> {
    let url = reqwest::Url::parse(&p.target).map_err(|e| format!("{}: {e}", p.target))?;
    target_ok(&url, allow_private).await?;
    let r = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, PROPOSAL_TYPE)
        .body(p.signed.clone())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(format!("HTTP {status}: {text}"));
    }
    if body.len() > 4096 {
        return Err(format!("a receipt of {} bytes", body.len()));
    }
    let signed = Signed::decode(&body).map_err(|e| e.to_string())?;
    let r = signed.verify_receipt().map_err(|e| e.to_string())?;
    let ours = stored_proposal(&p.signed).map_err(|e| e.to_string())?;
    if r.proposal_id != ours.id || r.origin != ours.origin {
        return Err("the receipt is for another proposal or from another node".into());
    }
    Ok(body.to_vec())
}

/// The outbox: sends what is due, keeps what comes back, and waits with backoff. Runs until
/// the node stops.
pub async fn run_outbox(shared: Arc<Shared>) {
    let http = match crate::client::http_client()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(format!(
            "DisCal/{} (+{})",
            env!("CARGO_PKG_VERSION"),
            shared.public_url
        ))
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("proposal outbox: no HTTP client: {e}");
            return;
        }
    };
    loop {
        let next = outbox_round(&shared, &http).await;
        let wait = Duration::from_millis(u64::try_from(next.clamp(50, 60_000)).unwrap_or(1000));
        let _ = tokio::time::timeout(wait, shared.outbox.notified()).await;
    }
}

/// Sends every due proposal once; returns milliseconds until the next is due.
async fn outbox_round(shared: &Shared, http: &reqwest::Client) -> i64 {
    let allow = shared
        .config
        .read()
        .map(|c| c.proposals.allow_private_targets)
        .unwrap_or(false);
    let Ok(all) = shared.store.sent_proposals() else {
        return 1000;
    };
    let mut next = i64::MAX;
    for mut p in all.into_iter().filter(|p| !p.done) {
        let now = shared.now();
        if p.next_ms > now {
            next = next.min(p.next_ms - now);
            continue;
        }
        p.attempts += 1;
        match send(http, &p, allow).await {
            Ok(receipt) => {
                let final_ = Signed::decode(&receipt)
                    .ok()
                    .and_then(|s| s.verify_receipt().ok())
                    .is_some_and(|r| !matches!(r.outcome, Outcome::Pending { .. }));
                p.receipt = receipt;
                p.done = final_;
                p.last_error.clear();
                // A pending answer is asked about again, soon at first, then less often.
                p.next_ms = now + (500i64 << p.attempts.min(20)).min(PENDING_POLL_MS);
                shared.metrics.proposal("receipt");
            }
            Err(e) => {
                let backoff = 1000i64 << p.attempts.min(20);
                p.next_ms = now + backoff.min(MAX_BACKOFF_MS);
                tracing::info!(target = %p.target, "proposal not delivered: {e}");
                p.last_error = e;
            }
        }
        if !p.done {
            next = next.min(p.next_ms - shared.now());
        }
        if let Err(e) = shared.store.put_sent_proposal(&p) {
            tracing::warn!("proposal outbox: {e}");
        }
        shared.changed.send_modify(|_| {});
    }
    next
}
