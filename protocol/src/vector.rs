//! The test vector of docs/protocol.md §9, in one place: the conformance test and the
//! `test_vector` example both build it from here.

use crate::model::{Component, Date, DateTimeValue, Duration, End, EventContent, LocalDateTime};
use crate::{sign, Limits, NodeSecret, ValidationError, VerifiedEvent};

/// The secret key seed: bytes 0x00, 0x01, …, 0x1f.
pub fn secret() -> NodeSecret {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = i as u8;
    }
    NodeSecret::from_seed_array(seed)
}

/// The event: 3 December 2026 18:30 Europe/Berlin for two hours, "Open Source Night", tagged
/// "linux".
pub fn content() -> EventContent {
    let mut master = Component::new(DateTimeValue::Zoned {
        local: LocalDateTime {
            date: Date {
                year: 2026,
                month: 12,
                day: 3,
            },
            hour: 18,
            minute: 30,
            second: 0,
        },
        tzid: "Europe/Berlin".into(),
    });
    master.end = Some(End::Duration(Duration {
        negative: false,
        weeks: 0,
        days: 0,
        seconds: 7200,
    }));
    master.summary = Some("Open Source Night".into());
    master.categories = vec!["linux".into()];
    EventContent::new(master)
}

/// UID `vector-1@discal.example`, revision 1, issued at 1,790,000,000,000 ms.
pub fn signed() -> Result<VerifiedEvent, ValidationError> {
    sign(
        &secret(),
        "vector-1@discal.example".into(),
        1,
        1_790_000_000_000,
        content(),
        &Limits::default(),
    )
}

/// The proposer of §12.5's vector: the key whose seed is bytes 0x20, 0x21, …, 0x3f.
pub fn proposer() -> NodeSecret {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = 0x20 + i as u8;
    }
    NodeSecret::from_seed_array(seed)
}

/// §12.5: "Ana" at [`proposer`] proposes a new title for the §9 event, on its revision 1.
pub fn proposal() -> crate::proposal::ProposalPayload {
    use crate::proposal::{Change, FieldChange, ProposalPayload, PROPOSAL_VERSION};
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = i as u8;
    }
    ProposalPayload {
        version: PROPOSAL_VERSION,
        id,
        proposer: proposer().public(),
        origin: secret().public(),
        uid: "vector-1@discal.example".into(),
        base_revision: 1,
        change: Change::Fields(vec![FieldChange {
            name: "SUMMARY".into(),
            base: vec!["SUMMARY:Open Source Night".into()],
            proposed: vec!["SUMMARY:Open Source Night (room 2)".into()],
        }]),
        author: "Ana".into(),
        proposed_at_ms: 1_790_000_600_000,
    }
}

/// §12.5: the origin's receipt: accepted as revision 2.
pub fn receipt() -> crate::proposal::ReceiptPayload {
    use crate::proposal::{Outcome, ReceiptPayload, PROPOSAL_VERSION};
    let p = proposal();
    ReceiptPayload {
        version: PROPOSAL_VERSION,
        proposal_id: p.id,
        origin: p.origin,
        proposer: p.proposer,
        uid: p.uid,
        outcome: Outcome::Accepted { revision: 2 },
        at_ms: 1_790_000_660_000,
    }
}
