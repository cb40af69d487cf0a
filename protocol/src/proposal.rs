//! Proposals and receipts (docs/protocol.md §12): a change to an event that a person at another
//! node asks the event's origin to make, and the origin's signed answer. Only the origin signs
//! revisions; a proposal is how everyone else takes part, and the rule that decides what the
//! origin does with one ([`decide`]) is the seed's: a proposal made on an older revision than
//! the origin's current one is a conflict, held for a person.
//!
//! A change names properties of the master VEVENT by their iCalendar text: for each, the lines
//! the proposer saw (at the base revision) and the lines it proposes. Lines are what people
//! read side by side in a queue, and what the origin's own iCalendar path applies
//! ([`apply_fields`]) and validates as it validates any event.

use bincode::{Decode, Encode};

use crate::codec::{self, DecodeError};
use crate::keys::{NodeKey, NodeSecret};
use crate::model::LANGUAGE_PROPERTY;

/// The proposal and receipt format this code writes and the only one it accepts.
pub const PROPOSAL_VERSION: u8 = 1;

/// Prepended to a proposal's payload before signing (domain separation, as for events).
pub const PROPOSAL_CONTEXT: &[u8] = b"DISCAL-PROPOSAL-V1\0";

/// Prepended to a receipt's payload before signing.
pub const RECEIPT_CONTEXT: &[u8] = b"DISCAL-RECEIPT-V1\0";

/// The largest proposal or receipt payload.
pub const MAX_PROPOSAL_BYTES: usize = 16 * 1024;

/// The longest author name and rejection reason, in characters.
pub const MAX_AUTHOR_CHARS: usize = 100;
/// See [`MAX_AUTHOR_CHARS`].
pub const MAX_REASON_CHARS: usize = 500;

/// Lines a change may carry in all (base and proposed together).
pub const MAX_CHANGE_LINES: usize = 64;

/// The master VEVENT's properties a proposal may change.
pub const PROPOSABLE: &[&str] = &[
    "SUMMARY",
    "DESCRIPTION",
    "LOCATION",
    "GEO",
    "URL",
    "CATEGORIES",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    LANGUAGE_PROPERTY,
];

/// One property's change: its content lines (unfolded, e.g.
/// `DTSTART;TZID=Europe/Berlin:20270316T190000`) at the base revision and as proposed; empty
/// means absent.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct FieldChange {
    /// Upper-case property name, one of [`PROPOSABLE`].
    pub name: String,
    /// The lines the proposer saw.
    pub base: Vec<String>,
    /// The lines it proposes.
    pub proposed: Vec<String>,
}

/// What a proposal asks for.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Change {
    /// New values for some properties.
    Fields(Vec<FieldChange>),
    /// Cancel the event.
    Cancel,
    /// A person's answer to "are you coming?" (§12.6): counted at the origin, never applied as
    /// a change; the person's name (the proposal's `author`) stays there.
    Rsvp {
        /// Names the person at the proposing node without saying who (the proposer picks it;
        /// DisCal uses the first 16 bytes of SHA-256 of its key and the account name), so a
        /// later answer replaces an earlier one.
        person: [u8; 16],
        /// The answer.
        answer: RsvpAnswer,
    },
}

/// An RSVP's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum RsvpAnswer {
    /// Going.
    Going,
    /// Maybe.
    Maybe,
    /// Not going.
    NotGoing,
    /// Takes an earlier answer back.
    Withdrawn,
}

/// DisCal's property for an event's RSVP counts, published by the origin:
/// `X-DISCAL-RSVP:going=12;maybe=3;not-going=2` (counts only, no names).
pub const RSVP_PROPERTY: &str = "X-DISCAL-RSVP";

/// The counts of an `X-DISCAL-RSVP` value (going, maybe, not going); zeros for anything
/// unreadable. The value may be in its escaped iCalendar form (`going=2\;maybe=1`), as extra
/// properties are kept.
pub fn rsvp_counts(value: &str) -> (u32, u32, u32) {
    let mut c = (0, 0, 0);
    for part in value.replace('\\', "").split(';') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let n = v.trim().parse().unwrap_or(0);
        match k.trim() {
            "going" => c.0 = n,
            "maybe" => c.1 = n,
            "not-going" => c.2 = n,
            _ => {}
        }
    }
    c
}

/// The `X-DISCAL-RSVP` value for counts.
pub fn rsvp_value((going, maybe, not_going): (u32, u32, u32)) -> String {
    format!("going={going};maybe={maybe};not-going={not_going}")
}

/// What the proposing node signs. Its bincode encoding is the payload.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ProposalPayload {
    /// [`PROPOSAL_VERSION`].
    pub version: u8,
    /// Chosen at random by the proposer; the origin acts on an id once.
    pub id: [u8; 16],
    /// The proposing node, whose key signs.
    pub proposer: NodeKey,
    /// The event's origin.
    pub origin: NodeKey,
    /// The event's UID.
    pub uid: String,
    /// The revision the proposer saw and changed.
    pub base_revision: u32,
    /// The change.
    pub change: Change,
    /// The proposing person's display name at the proposing node (no address).
    pub author: String,
    /// When it was made, in milliseconds since the Unix epoch (UTC).
    pub proposed_at_ms: i64,
}

/// What the origin answers.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Outcome {
    /// Applied as this revision.
    Accepted {
        /// The revision that carries the change.
        revision: u32,
    },
    /// Not applied.
    Rejected {
        /// Why, in a person's words.
        reason: String,
    },
    /// Waiting for a person at the origin.
    Pending {
        /// Whether it waits because the origin changed the event after the base revision.
        conflict: bool,
    },
}

/// What the origin signs in answer to a proposal.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ReceiptPayload {
    /// [`PROPOSAL_VERSION`].
    pub version: u8,
    /// The proposal's id.
    pub proposal_id: [u8; 16],
    /// The origin, whose key signs.
    pub origin: NodeKey,
    /// The node that proposed.
    pub proposer: NodeKey,
    /// The event's UID.
    pub uid: String,
    /// The answer.
    pub outcome: Outcome,
    /// When it was given.
    pub at_ms: i64,
}

/// Payload bytes and a signature over `context || payload`: a proposal ([`PROPOSAL_CONTEXT`],
/// the proposer's key) or a receipt ([`RECEIPT_CONTEXT`], the origin's key).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Signed {
    /// bincode([`ProposalPayload`] or [`ReceiptPayload`]).
    pub payload: Vec<u8>,
    /// Ed25519 signature.
    pub signature: [u8; 64],
}

/// Why a proposal or receipt is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// The bytes do not decode (canonically).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Another format version.
    #[error("version {0} is not supported (this node speaks version {PROPOSAL_VERSION})")]
    Version(u8),
    /// The signature is not the signer's.
    #[error("the signature does not verify")]
    BadSignature,
    /// A rule of §12 is broken.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(why: impl Into<String>) -> ProposalError {
    ProposalError::Invalid(why.into())
}

impl Signed {
    /// Decodes the wire bytes, refusing more than a payload's cap before decoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProposalError> {
        Ok(codec::decode_canonical(
            "signed proposal",
            bytes,
            MAX_PROPOSAL_BYTES + 80,
        )?)
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    fn open<T: Decode<()> + Encode>(&self, what: &'static str) -> Result<T, ProposalError> {
        Ok(codec::decode_canonical(
            what,
            &self.payload,
            MAX_PROPOSAL_BYTES,
        )?)
    }

    fn check(&self, context: &[u8], signer: &NodeKey) -> Result<(), ProposalError> {
        let msg = [context, &self.payload].concat();
        if signer.verify(&msg, &self.signature) {
            Ok(())
        } else {
            Err(ProposalError::BadSignature)
        }
    }

    /// The proposal, once its version, signature (by its proposer) and rules check out.
    /// `now_ms` bounds how far ahead its time may be (`max_skew_ms`).
    pub fn verify_proposal(
        &self,
        now_ms: i64,
        max_skew_ms: i64,
    ) -> Result<ProposalPayload, ProposalError> {
        let p: ProposalPayload = self.open("proposal")?;
        if p.version != PROPOSAL_VERSION {
            return Err(ProposalError::Version(p.version));
        }
        self.check(PROPOSAL_CONTEXT, &p.proposer)?;
        check_proposal(&p)?;
        if p.proposed_at_ms > now_ms.saturating_add(max_skew_ms) {
            return Err(invalid("proposed in the future"));
        }
        Ok(p)
    }

    /// The receipt, once its version, signature (by the origin) and rules check out.
    pub fn verify_receipt(&self) -> Result<ReceiptPayload, ProposalError> {
        let r: ReceiptPayload = self.open("receipt")?;
        if r.version != PROPOSAL_VERSION {
            return Err(ProposalError::Version(r.version));
        }
        self.check(RECEIPT_CONTEXT, &r.origin)?;
        crate::validate::check_uid(&r.uid).map_err(|e| invalid(e.to_string()))?;
        if let Outcome::Rejected { reason } = &r.outcome {
            check_text("reason", reason, MAX_REASON_CHARS)?;
        }
        Ok(r)
    }
}

/// A proposal kept by a node (verified when it came, or signed here), read back: decoded, its
/// signature and rules checked again, its time no longer (it may be old by now).
pub fn stored_proposal(bytes: &[u8]) -> Result<ProposalPayload, ProposalError> {
    Signed::decode(bytes)?.verify_proposal(i64::MAX / 2, 0)
}

/// Signs a proposal by its proposer, after checking it as a receiver will.
pub fn sign_proposal(secret: &NodeSecret, p: &ProposalPayload) -> Result<Signed, ProposalError> {
    if p.proposer != secret.public() {
        return Err(invalid("a proposal is signed by its proposer"));
    }
    check_proposal(p)?;
    sign_payload(secret, PROPOSAL_CONTEXT, codec::encode(p))
}

/// Signs a receipt by the origin.
pub fn sign_receipt(secret: &NodeSecret, r: &ReceiptPayload) -> Result<Signed, ProposalError> {
    if r.origin != secret.public() {
        return Err(invalid("a receipt is signed by the event's origin"));
    }
    sign_payload(secret, RECEIPT_CONTEXT, codec::encode(r))
}

fn sign_payload(
    secret: &NodeSecret,
    context: &[u8],
    payload: Vec<u8>,
) -> Result<Signed, ProposalError> {
    if payload.len() > MAX_PROPOSAL_BYTES {
        return Err(invalid(format!(
            "{} bytes, over the {MAX_PROPOSAL_BYTES}-byte limit",
            payload.len()
        )));
    }
    let signature = secret.sign(&[context, &payload].concat());
    Ok(Signed { payload, signature })
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), ProposalError> {
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{what}: one line of at most {max} characters"
        )));
    }
    Ok(())
}

/// The rules of §12 a proposal's content must meet.
pub fn check_proposal(p: &ProposalPayload) -> Result<(), ProposalError> {
    crate::validate::check_uid(&p.uid).map_err(|e| invalid(e.to_string()))?;
    if p.id == [0; 16] {
        return Err(invalid("the id is all zeros"));
    }
    if p.proposer == p.origin {
        return Err(invalid(
            "an origin changes its own events, it does not propose",
        ));
    }
    check_text("author", &p.author, MAX_AUTHOR_CHARS)?;
    let Change::Fields(fields) = &p.change else {
        return Ok(());
    };
    if fields.is_empty() {
        return Err(invalid("a change names at least one property"));
    }
    let mut lines = 0;
    for (i, f) in fields.iter().enumerate() {
        if !PROPOSABLE.contains(&f.name.as_str()) {
            return Err(invalid(format!("{:?} cannot be proposed", cut(&f.name))));
        }
        if fields[..i].iter().any(|g| g.name == f.name) {
            return Err(invalid(format!("{} is named twice", f.name)));
        }
        for l in f.base.iter().chain(&f.proposed) {
            lines += 1;
            let named = l
                .strip_prefix(f.name.as_str())
                .is_some_and(|rest| rest.starts_with([':', ';']));
            if !named || l.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "{}: {:?} is not one of its content lines",
                    f.name,
                    cut(l)
                )));
            }
        }
    }
    if lines > MAX_CHANGE_LINES {
        return Err(invalid(format!(
            "{lines} lines, over the {MAX_CHANGE_LINES}-line limit"
        )));
    }
    Ok(())
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// What the origin does with a verified proposal (§12.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Apply it now as revision current + 1.
    Apply,
    /// Hold it for a person's approval (an untrusted proposer).
    Queue,
    /// Hold it as a conflict: the event changed since the proposer's base revision (or the
    /// origin does not know that revision).
    Conflict,
}

/// An RSVP is never a conflict: it changes no field, and is always taken (§12.6). For other
/// changes, the seed's rule: a proposal whose base is older than the origin's current revision is a
/// conflict, held for a person; on the current revision it is applied at once when its
/// proposer is trusted, else queued. A base the origin has not reached (it was restored from an
/// old copy) is a conflict too: nothing is applied over a revision the origin cannot see.
pub fn decide(base_revision: u32, current_revision: u32, trusted: bool) -> Decision {
    match (base_revision == current_revision, trusted) {
        (true, true) => Decision::Apply,
        (true, false) => Decision::Queue,
        (false, _) => Decision::Conflict,
    }
}

/// The master VEVENT's content lines (unfolded, without BEGIN/END) with the changed
/// properties replaced by their proposed lines; other properties keep their place.
pub fn apply_fields(master: &[String], fields: &[FieldChange]) -> Vec<String> {
    let name_of = |l: &str| {
        l.split([':', ';'])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    let mut out: Vec<String> = master
        .iter()
        .filter(|l| !fields.iter().any(|f| f.name == name_of(l)))
        .cloned()
        .collect();
    for f in fields {
        out.extend(f.proposed.iter().cloned());
    }
    out
}

/// The master VEVENT's content lines of an iCalendar document, unfolded, without BEGIN/END
/// (the master is the VEVENT without RECURRENCE-ID).
pub fn master_lines(ics: &str) -> Vec<String> {
    let unfolded = ics.replace("\r\n ", "").replace("\r\n\t", "");
    let mut current: Vec<String> = Vec::new();
    let mut inside = false;
    for line in unfolded.split("\r\n") {
        match line {
            "BEGIN:VEVENT" => {
                inside = true;
                current.clear();
            }
            "END:VEVENT" if inside => {
                inside = false;
                if !current.iter().any(|l| l.starts_with("RECURRENCE-ID")) {
                    return current;
                }
            }
            l if inside => current.push(l.to_string()),
            _ => {}
        }
    }
    Vec::new()
}

/// The lines of the master VEVENT named `name` (by the property name before `;` or `:`).
pub fn lines_named<'a>(lines: &'a [String], name: &str) -> Vec<&'a String> {
    lines
        .iter()
        .filter(|l| {
            l.split([':', ';'])
                .next()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .collect()
}

/// What changed between two versions of the master VEVENT, property by property (those a
/// proposal may change): the base lines and the proposed ones.
pub fn diff_fields(base: &[String], proposed: &[String]) -> Vec<FieldChange> {
    PROPOSABLE
        .iter()
        .filter_map(|name| {
            let b: Vec<String> = lines_named(base, name).into_iter().cloned().collect();
            let p: Vec<String> = lines_named(proposed, name).into_iter().cloned().collect();
            (b != p).then(|| FieldChange {
                name: (*name).to_string(),
                base: b,
                proposed: p,
            })
        })
        .collect()
}

/// An iCalendar document with the changes applied to its master VEVENT (§12.3); the other
/// components are kept as they are.
pub fn apply_to_calendar(ics: &str, fields: &[FieldChange]) -> String {
    let unfolded = ics.replace("\r\n ", "").replace("\r\n\t", "");
    let master = master_lines(ics);
    let changed = apply_fields(&master, fields);
    let mut out = String::new();
    let mut block: Vec<&str> = Vec::new();
    let mut inside = false;
    let mut done = false;
    for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
        if line == "BEGIN:VEVENT" {
            inside = true;
            block.clear();
            continue;
        }
        if inside {
            if line != "END:VEVENT" {
                block.push(line);
                continue;
            }
            inside = false;
            let is_master = !done && !block.iter().any(|l| l.starts_with("RECURRENCE-ID"));
            crate::ics::fold_line(&mut out, "BEGIN:VEVENT");
            if is_master {
                done = true;
                for l in &changed {
                    crate::ics::fold_line(&mut out, l);
                }
            } else {
                for l in &block {
                    crate::ics::fold_line(&mut out, l);
                }
            }
            crate::ics::fold_line(&mut out, "END:VEVENT");
            continue;
        }
        crate::ics::fold_line(&mut out, line);
    }
    out
}
