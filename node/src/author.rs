//! Local authoring and the admin filters: turning a write (fields, iCalendar text, a
//! cancellation) into a signed revision of one of this node's events, and deciding whether an
//! arriving event is admitted by the operator's filters.

use discal_gateway::read::path_segment;
use discal_gateway::{Seen, WriteError, WriteOp, Written};
use discal_protocol::ics::{parse_calendar, write_calendar, ImportedEvent};
use discal_protocol::model::{EventContent, LocalDateTime, Status};
use discal_protocol::{sign, EventKey, NodeSecret, VerifiedEvent};
use discal_store::StoredEvent;

use crate::{Reject, Shared};

/// The outcome of authoring one event.
pub enum Authored {
    /// A new revision to store and relay, with what was adjusted to take it.
    Signed(Box<VerifiedEvent>, Vec<String>),
    /// The content equals what is published (or the event was refused); nothing to store.
    Unchanged(Written),
}

impl Authored {
    /// What the writer is told about this event once it is stored.
    pub fn written(&self) -> Written {
        match self {
            Self::Unchanged(w) => w.clone(),
            Self::Signed(ev, warnings) => Written {
                warnings: warnings.clone(),
                ..Written::taken(ev.payload().uid.clone(), ev.payload().revision, true)
            },
        }
    }

    /// The revision to store, if any.
    pub fn signed(&self) -> Option<&VerifiedEvent> {
        match self {
            Self::Signed(ev, _) => Some(ev),
            Self::Unchanged(_) => None,
        }
    }
}

/// A document's events as read: the events taken, the refusals (each already a [`Written`]
/// with its reason) and the document-wide repairs.
struct Parsed {
    events: Vec<ImportedEvent>,
    refused: Vec<Written>,
    adjusted: Vec<String>,
}

fn bad(e: impl std::fmt::Display) -> WriteError {
    WriteError::BadRequest(e.to_string())
}

fn internal(e: impl std::fmt::Display) -> WriteError {
    WriteError::Internal(e.to_string())
}

/// A fresh UID: 128 random bits, then this node's short name so people can tell origins apart.
pub fn new_uid(shared: &Shared) -> String {
    format!("{:032x}@{}", rand::random::<u128>(), shared.me.fmt_short())
}

/// This node's event `uid`: `NotFound` if nobody has it, `Forbidden` if another origin does.
fn own(shared: &Shared, uid: &str) -> Result<StoredEvent, WriteError> {
    let key = EventKey {
        origin: shared.me,
        uid: uid.to_owned(),
    };
    if let Some(e) = shared.store.get(&key).map_err(internal)? {
        return Ok(e);
    }
    match shared.store.origins_of(uid).map_err(internal)?.first() {
        Some(o) => Err(WriteError::Forbidden(format!(
            "event {uid} was published by {o}; only its origin can change it (propose changes at its X-REVISE-URL)"
        ))),
        None => Err(WriteError::NotFound(format!("no event with UID {uid}"))),
    }
}

fn own_opt(shared: &Shared, uid: &str) -> Result<Option<StoredEvent>, WriteError> {
    match own(shared, uid) {
        Ok(e) => Ok(Some(e)),
        Err(WriteError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a document; refused only when nothing in it can be taken.
fn parse_events(shared: &Shared, ics: &str) -> Result<Parsed, WriteError> {
    let import = parse_calendar(ics, &shared.me, &shared.limits).map_err(bad)?;
    if import.events.is_empty() {
        return Err(match import.errors.first() {
            Some(e) if import.errors.len() == 1 => bad(format!("iCalendar: {e}")),
            Some(e) => bad(format!(
                "iCalendar: none of its {} events could be taken; the first: {e}",
                import.errors.len()
            )),
            None => bad("iCalendar: no VEVENT found"),
        });
    }
    let refused = import
        .errors
        .iter()
        .enumerate()
        .map(|(i, e)| Written {
            refused: Some(e.to_string()),
            ..Written::taken(
                e.event()
                    .map_or_else(|| format!("#{}", i + 1), str::to_owned),
                0,
                false,
            )
        })
        .collect();
    Ok(Parsed {
        events: import.events,
        refused,
        adjusted: import.adjusted,
    })
}

/// The one event of a document that must hold exactly one; any refusal refuses the write.
fn parse_one(shared: &Shared, ics: &str) -> Result<ImportedEvent, WriteError> {
    let parsed = parse_events(shared, ics)?;
    if let Some(r) = parsed.refused.first() {
        return Err(bad(format!(
            "iCalendar: {}",
            r.refused.as_deref().unwrap_or_default()
        )));
    }
    let mut evs = parsed.events;
    if evs.len() != 1 {
        return Err(bad(format!(
            "iCalendar: expected one event, found {}",
            evs.len()
        )));
    }
    Ok(evs.remove(0))
}

/// The held event as iCalendar text (the base a patch edits).
pub(crate) fn held_ics(e: &StoredEvent) -> String {
    write_calendar([discal_gateway::ics_event(e)], &[])
}

fn draft_error(e: discal_gateway::DraftError) -> WriteError {
    bad(e)
}

/// Performs a write: returns the revisions to store, in order.
pub fn author(
    shared: &Shared,
    secret: &NodeSecret,
    op: WriteOp,
) -> Result<Vec<Authored>, WriteError> {
    match op {
        WriteOp::Create(draft) => {
            let uid = new_uid(shared);
            let ev = parse_one(shared, &draft.to_ics(&uid).map_err(draft_error)?)?;
            Ok(vec![publish(shared, secret, uid, ev.content, None)?])
        }
        WriteOp::Import(text) => import(shared, secret, &text),
        WriteOp::Update { uid, patch } => {
            let held = own(shared, &uid)?;
            let ics = patch.patch_ics(&held_ics(&held)).map_err(draft_error)?;
            let ev = parse_one(shared, &ics)?;
            Ok(vec![publish(shared, secret, uid, ev.content, Some(held))?])
        }
        WriteOp::Replace { uid, ics } => {
            let held = own_opt(shared, &uid)?;
            replace(shared, secret, uid, &ics, held)
        }
        WriteOp::Cancel { uid } => {
            let held = own(shared, &uid)?;
            cancel(shared, secret, uid, held)
        }
        WriteOp::If { seen, op } => match *op {
            WriteOp::Replace { uid, ics } => {
                let held = own_opt(shared, &uid)?;
                still(&seen, held.as_ref(), &uid)?;
                replace(shared, secret, uid, &ics, held)
            }
            WriteOp::Cancel { uid } => {
                let held = own_opt(shared, &uid)?;
                still(&seen, held.as_ref(), &uid)?;
                let held =
                    held.ok_or_else(|| WriteError::NotFound(format!("no event with UID {uid}")))?;
                cancel(shared, secret, uid, held)
            }
            _ => Err(bad(
                "a condition applies to the replacement or cancellation of one event",
            )),
        },
    }
}

/// Refuses a conditional write if the event is no longer as its writer saw it. This runs
/// where writes are serialised: a check made before (the HTTP handler's) can be overtaken by
/// a concurrent write of the same event.
fn still(seen: &Seen, held: Option<&StoredEvent>, uid: &str) -> Result<(), WriteError> {
    let live = held.filter(|e| !e.content().is_cancelled());
    let same = match (seen, live) {
        (Seen::Absent, None) => true,
        (Seen::Revision { revision, id }, Some(e)) => {
            e.payload.revision == *revision && e.id == *id
        }
        _ => false,
    };
    if same {
        return Ok(());
    }
    Err(WriteError::PreconditionFailed(match (seen, live) {
        (Seen::Absent, _) => format!("event {uid} was created meanwhile"),
        (_, Some(e)) => format!(
            "event {uid} changed meanwhile (now revision {})",
            e.payload.revision
        ),
        (_, None) => format!("event {uid} was cancelled or removed meanwhile"),
    }))
}

/// The single event of `ics` as the next revision of `uid`.
fn replace(
    shared: &Shared,
    secret: &NodeSecret,
    uid: String,
    ics: &str,
    held: Option<StoredEvent>,
) -> Result<Vec<Authored>, WriteError> {
    let ev = parse_one(shared, ics)?;
    if !ev.uid_generated && ev.uid != uid {
        return Err(bad(format!(
            "the document's UID {} is not the UID in the URL ({uid})",
            ev.uid
        )));
    }
    Ok(vec![publish(shared, secret, uid, ev.content, held)?])
}

fn cancel(
    shared: &Shared,
    secret: &NodeSecret,
    uid: String,
    held: StoredEvent,
) -> Result<Vec<Authored>, WriteError> {
    let mut content = held.payload.content.clone();
    content.master.status = Some(Status::Cancelled);
    Ok(vec![publish(shared, secret, uid, content, Some(held))?])
}

/// The cancellation of `uid`, if it is still at the revision `seen`, signed as of `at_ms` and
/// keeping the held X-REVISE-URL: the same bytes each time it is made, so that a cancellation
/// answered from the journal and made again after a crash is the revision that may already
/// have been relayed (protocol.md §6: two revisions with one number would be an
/// equivocation).
pub(crate) fn cancel_at(
    shared: &Shared,
    secret: &NodeSecret,
    uid: String,
    seen: &Seen,
    at_ms: i64,
) -> Result<Vec<Authored>, WriteError> {
    let held = own_opt(shared, &uid)?;
    still(seen, held.as_ref(), &uid)?;
    let held = held.ok_or_else(|| WriteError::NotFound(format!("no event with UID {uid}")))?;
    let mut content = held.payload.content.clone();
    content.master.status = Some(Status::Cancelled);
    let naming = Naming {
        revise_url: held.payload.content.master.revise_url.clone(),
        first_revision: 0,
        at_ms: Some(at_ms),
    };
    Ok(vec![publish_as(
        shared,
        secret,
        uid,
        content,
        Some(held),
        &naming,
    )?])
}

/// Every event of a document that can be taken, each as its own outcome: a refused event
/// (unmappable, or over a limit when signed) does not stop its neighbours.
fn import(shared: &Shared, secret: &NodeSecret, text: &str) -> Result<Vec<Authored>, WriteError> {
    let parsed = parse_events(shared, text)?;
    let mut out = Vec::with_capacity(parsed.events.len() + parsed.refused.len());
    for (i, e) in parsed.events.into_iter().enumerate() {
        // An import names events by (this node, UID): another origin's event with the same
        // UID is a different event, so only this node's own copy is looked up (no scan).
        let held = shared
            .store
            .get(&EventKey {
                origin: shared.me,
                uid: e.uid.clone(),
            })
            .map_err(internal)?;
        let mut warnings = e.warnings;
        if i == 0 {
            warnings.extend(parsed.adjusted.iter().map(|a| format!("document: {a}")));
        }
        out.push(
            match publish(shared, secret, e.uid.clone(), e.content, held) {
                Ok(Authored::Signed(ev, _)) => Authored::Signed(ev, warnings),
                Ok(Authored::Unchanged(w)) => Authored::Unchanged(Written { warnings, ..w }),
                Err(WriteError::BadRequest(why)) => Authored::Unchanged(Written {
                    refused: Some(format!("VEVENT {}: {why}", e.uid)),
                    ..Written::taken(e.uid, 0, false)
                }),
                Err(other) => return Err(other),
            },
        );
    }
    out.extend(parsed.refused.into_iter().map(Authored::Unchanged));
    Ok(out)
}

/// Signs `content` as the next revision of `uid`: X-REVISION + 1, SEQUENCE + 1, DTSTAMP now,
/// X-REVISE-URL at this node.
fn publish(
    shared: &Shared,
    secret: &NodeSecret,
    uid: String,
    content: EventContent,
    held: Option<StoredEvent>,
) -> Result<Authored, WriteError> {
    publish_as(shared, secret, uid, content, held, &Naming::default())
}

/// What an event taken from a source keeps of its own when this node signs it.
#[derive(Default)]
pub(crate) struct Naming {
    /// The source's X-REVISE-URL (changes go to the real origin); none: this node's.
    pub(crate) revise_url: Option<String>,
    /// The first revision's number.
    pub(crate) first_revision: u32,
    /// The signing time; none: now.
    pub(crate) at_ms: Option<i64>,
}

/// [`publish`], naming the revision as `naming` says.
pub(crate) fn publish_as(
    shared: &Shared,
    secret: &NodeSecret,
    uid: String,
    mut content: EventContent,
    held: Option<StoredEvent>,
    naming: &Naming,
) -> Result<Authored, WriteError> {
    let now = naming.at_ms.unwrap_or_else(|| shared.now());
    // Where people and other nodes propose changes (docs/protocol.md §12).
    let revise_url = naming
        .revise_url
        .clone()
        .unwrap_or_else(|| format!("{}/{}/revise", shared.events_url, path_segment(&uid)));
    if let Some(h) = &held {
        let old = &h.payload.content;
        // Bookkeeping fields do not make a change.
        let mut probe = content.clone();
        probe.master.sequence = old.master.sequence;
        probe.master.dtstamp = old.master.dtstamp;
        probe.master.revise_url = old.master.revise_url.clone();
        if probe == *old {
            return Ok(Authored::Unchanged(Written::taken(
                uid,
                h.payload.revision,
                false,
            )));
        }
        content.master.sequence = content.master.sequence.max(old.master.sequence + 1);
    }
    let stamp = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default();
    content.master.dtstamp = Some(LocalDateTime::from_chrono(stamp.naive_utc()));
    content.master.revise_url = Some(revise_url);
    let revision = held
        .as_ref()
        .map_or(naming.first_revision, |h| h.payload.revision + 1);
    let ev = sign(secret, uid, revision, now, content, &shared.limits).map_err(bad)?;
    Ok(Authored::Signed(Box::new(ev), Vec::new()))
}

pub use discal_protocol::view::distance_km;

/// Whether an arriving event is stored: the filters, `[origins]`, then the quotas. `Err` names
/// the reason and the rule.
pub fn admit(shared: &Shared, ev: &VerifiedEvent, hop: u8) -> Result<(), (Reject, String)> {
    let cfg = shared
        .config
        .read()
        .map_err(|_| (Reject::Policy, "config lock poisoned".to_string()))?;
    filters(&cfg, ev, hop).map_err(|why| (Reject::Policy, why))?;
    let origin = ev.payload().origin;
    if let Some(why) = cfg.origins.refuses(&origin) {
        return Err((Reject::Origin, why.into()));
    }
    quota(shared, &cfg.origins, ev).map_err(|why| (Reject::Quota, why))
}

/// `[origins]` quotas: checked last, so only revisions that would be stored are counted.
fn quota(shared: &Shared, o: &crate::config::Origins, ev: &VerifiedEvent) -> Result<(), String> {
    let key = &ev.key();
    let (events, bytes) = shared
        .store
        .origin_holdings(&key.origin)
        .map_err(|e| e.to_string())?;
    let size = ev.envelope().payload.len() as u64;
    let max_bytes = u64::from(o.max_mib) << 20;
    if events >= o.max_events || bytes + size > max_bytes {
        // At a cap, a change to an event already held still gets in if the holdings stay
        // within the byte cap, and a cancellation always does: an origin can always withdraw
        // what a node keeps of it.
        let held = shared.store.get(key).map_err(|e| e.to_string())?;
        let fits = held.is_some_and(|h| {
            ev.payload().content.is_cancelled()
                || bytes.saturating_sub(h.envelope.payload.len() as u64) + size <= max_bytes
        });
        if !fits {
            return Err(format!(
                "origin {} has {events} events, {} KiB here; origins.max_events is {}, \
                 origins.max_mib {}",
                key.origin,
                bytes >> 10,
                o.max_events,
                o.max_mib
            ));
        }
    }
    if !shared.count_revision(key.origin, o.max_revisions_per_day) {
        return Err(format!(
            "origin {} is over origins.max_revisions_per_day ({})",
            key.origin, o.max_revisions_per_day
        ));
    }
    Ok(())
}

/// The operator's `[filters]` and the hop limit.
fn filters(cfg: &crate::config::Config, ev: &VerifiedEvent, hop: u8) -> Result<(), String> {
    filter_content(cfg, &ev.payload().content, u32::from(hop))
}

/// The admin filters (`max_hops`, `[filters]`) on an event's content arriving `hop` links
/// from where it was first published: for peers' events, and for events sister sites push.
pub(crate) fn filter_content(
    cfg: &crate::config::Config,
    content: &discal_protocol::EventContent,
    hop: u32,
) -> Result<(), String> {
    let f = &cfg.filters;
    // Honest peers with this node's limit never send a copy further than it; one that arrives
    // came from a misbehaving peer or one configured for a wider reach (docs/protocol.md §11.2).
    let limit = cfg.max_hops.max(1);
    if hop > u32::from(limit) {
        return Err(format!("hop {hop} beyond max_hops {limit}"));
    }
    if let Some(max) = f.max_hop {
        if hop > u32::from(max) {
            return Err(format!("hop {hop} above filters.max_hop {max}"));
        }
    }
    let master = &content.master;
    if let (Some([lat, lon]), Some(r)) = (f.near, f.radius_km) {
        match master.geo {
            Some(g) => {
                let d = distance_km((lat, lon), (g.lat, g.lon));
                if d > r {
                    return Err(format!("{d:.0} km away, filters.radius_km is {r}"));
                }
            }
            None if f.require_geo => return Err("no GEO and filters.require_geo is set".into()),
            None => {}
        }
    }
    let has = |t: &String| master.categories.iter().any(|c| c.eq_ignore_ascii_case(t));
    if !f.require_tags.is_empty() && !f.require_tags.iter().any(has) {
        return Err("none of filters.require_tags".into());
    }
    if let Some(t) = f.drop_tags.iter().find(|t| has(t)) {
        return Err(format!("tag {t:?} is in filters.drop_tags"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cancellation answered from the journal may be relayed before sled has it on disk;
    /// made again after a crash it must be the same revision, byte for byte, or the node
    /// would have signed two revisions with one number.
    #[test]
    fn a_cancellation_made_again_is_the_same_revision() {
        let secret = NodeSecret::from_seed_array([7; 32]);
        let shared = crate::offline::offline_shared(
            discal_store::Store::memory(),
            secret.public(),
            &crate::Config::default(),
        )
        .unwrap();
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:again@example.org\r\nDTSTART:20270105T190000Z\r\nDURATION:PT2H\r\nSUMMARY:Again\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let made = author(&shared, &secret, WriteOp::Import(ics.into())).unwrap();
        let ev = made[0].signed().unwrap();
        shared
            .store
            .apply(ev, discal_store::Transit::local(), 0)
            .unwrap();
        let seen = Seen::Revision {
            revision: ev.payload().revision,
            id: ev.id(),
        };
        let cancel = |at_ms| {
            let a = cancel_at(&shared, &secret, "again@example.org".into(), &seen, at_ms).unwrap();
            a[0].signed().unwrap().envelope().clone()
        };
        let first = cancel(1_800_000_000_000);
        assert_eq!(first, cancel(1_800_000_000_000));
        assert_ne!(first, cancel(1_800_000_000_001));
    }

    #[test]
    fn distances() {
        let berlin = (52.52, 13.405);
        let paris = (48.8566, 2.3522);
        let d = distance_km(berlin, paris);
        assert!((870.0..890.0).contains(&d), "{d}");
        assert_eq!(path_segment("a b/c@d"), "a%20b%2Fc@d");
    }
}
