//! Proposals (docs/protocol.md §12) beside the events: those this node received as an event's
//! origin, each with its signed receipt (so a proposal seen again is answered the same way and
//! acted on once), and the outbox of those its people made for other origins, each with the
//! latest receipt and when to try again. Kept under the people table's prefix, flushed before
//! a write returns, like every record here.

use bincode::{Decode, Encode};

use crate::backend::Batch;
use crate::people::{decode, encode, people_key};
use crate::{Store, StoreError};

pub(crate) const K_RECEIVED: u8 = b'p';
pub(crate) const K_OUTBOX: u8 = b'x';
pub(crate) const K_RSVP: u8 = b'v';

/// One person's answer to one of this node's events (§12.6), kept at the origin only: the
/// name never leaves it, the feeds carry counts.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RsvpRecord {
    /// The event's UID.
    pub uid: String,
    /// The node the person answered on.
    pub node: [u8; 32],
    /// The person there, as that node names them.
    pub person: [u8; 16],
    /// Going, maybe or not going.
    pub answer: discal_protocol::proposal::RsvpAnswer,
    /// Their display name.
    pub name: String,
    /// When.
    pub at_ms: i64,
}

fn rsvp_key(uid: &str, node: &[u8; 32], person: &[u8; 16]) -> Vec<u8> {
    // UIDs hold no control characters, so 0 ends one.
    let mut rest = Vec::with_capacity(uid.len() + 49);
    rest.extend_from_slice(uid.as_bytes());
    rest.push(0);
    rest.extend_from_slice(node);
    rest.extend_from_slice(person);
    people_key(K_RSVP, &rest)
}

/// A proposal received as the origin.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ReceivedProposal {
    /// Its id.
    pub id: [u8; 16],
    /// The signed proposal's wire bytes, as received.
    pub signed: Vec<u8>,
    /// The signed receipt's wire bytes: the answer given, and given again to a repeat.
    pub receipt: Vec<u8>,
    /// Whether it waits for a person.
    pub pending: bool,
    /// When it came (ms since the epoch).
    pub at_ms: i64,
}

/// A proposal made here for another origin's event.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SentProposal {
    /// Its id.
    pub id: [u8; 16],
    /// The signed proposal's wire bytes.
    pub signed: Vec<u8>,
    /// Where it goes: the event's X-REVISE-URL.
    pub target: String,
    /// The account that made it.
    pub account: String,
    /// The latest signed receipt's wire bytes (empty until one came).
    pub receipt: Vec<u8>,
    /// Whether the answer is final (accepted or rejected): nothing more to send or ask.
    pub done: bool,
    /// Attempts so far (for the backoff).
    pub attempts: u32,
    /// When to send (or ask) next.
    pub next_ms: i64,
    /// The last failure, for the person's page.
    pub last_error: String,
    /// When it was made.
    pub at_ms: i64,
}

impl Store {
    /// Records a received proposal (or its new state: a person decided).
    pub fn put_received_proposal(&self, p: &ReceivedProposal) -> Result<(), StoreError> {
        self.put_proposal_record(K_RECEIVED, &p.id, encode(p))
    }

    /// A received proposal by id.
    pub fn received_proposal(&self, id: &[u8; 16]) -> Result<Option<ReceivedProposal>, StoreError> {
        self.get_proposal_record(K_RECEIVED, id)
    }

    /// The received proposals waiting for a person, oldest first.
    pub fn pending_proposals(&self) -> Result<Vec<ReceivedProposal>, StoreError> {
        let mut v: Vec<ReceivedProposal> = self.scan_proposal_records(K_RECEIVED)?;
        v.retain(|p| p.pending);
        v.sort_by_key(|p| p.at_ms);
        Ok(v)
    }

    /// Puts a proposal into (or updates it in) the outbox.
    pub fn put_sent_proposal(&self, p: &SentProposal) -> Result<(), StoreError> {
        self.put_proposal_record(K_OUTBOX, &p.id, encode(p))
    }

    /// Everything in the outbox, oldest first (done ones too: they are the proposers' history).
    pub fn sent_proposals(&self) -> Result<Vec<SentProposal>, StoreError> {
        let mut v: Vec<SentProposal> = self.scan_proposal_records(K_OUTBOX)?;
        v.sort_by_key(|p| p.at_ms);
        Ok(v)
    }

    /// Records a person's answer, or takes it back (`Withdrawn`).
    pub fn put_rsvp(&self, r: &RsvpRecord) -> Result<(), StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut b = Batch::default();
        let k = rsvp_key(&r.uid, &r.node, &r.person);
        if r.answer == discal_protocol::proposal::RsvpAnswer::Withdrawn {
            b.remove(k);
        } else {
            b.insert(k, encode(r));
        }
        self.db.apply(b)?;
        self.db.flush()
    }

    /// The answers to one event.
    pub fn rsvps(&self, uid: &str) -> Result<Vec<RsvpRecord>, StoreError> {
        let mut prefix = uid.as_bytes().to_vec();
        prefix.push(0);
        self.scan_records(&people_key(K_RSVP, &prefix))
    }

    /// The UIDs of this node's events that have answers.
    pub fn rsvp_uids(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let all: Vec<RsvpRecord> = self.scan_records(&people_key(K_RSVP, &[]))?;
        Ok(all.into_iter().map(|r| r.uid).collect())
    }

    fn put_proposal_record(&self, kind: u8, id: &[u8; 16], v: Vec<u8>) -> Result<(), StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut b = Batch::default();
        b.insert(people_key(kind, id), v);
        self.db.apply(b)?;
        self.db.flush()
    }

    fn get_proposal_record<T: Decode<()>>(
        &self,
        kind: u8,
        id: &[u8; 16],
    ) -> Result<Option<T>, StoreError> {
        self.db
            .get(&people_key(kind, id))?
            .map(|v| decode(&v))
            .transpose()
    }

    fn scan_proposal_records<T: Decode<()>>(&self, kind: u8) -> Result<Vec<T>, StoreError> {
        self.scan_records(&people_key(kind, &[]))
    }

    pub(crate) fn scan_records<T: Decode<()>>(&self, prefix: &[u8]) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut err = None;
        self.db.for_each_prefix(prefix, |_, v| match decode(v) {
            Ok(x) => {
                out.push(x);
                true
            }
            Err(e) => {
                err = Some(e);
                false
            }
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}
