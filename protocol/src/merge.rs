//! Merge rules: which of two revisions of the same (origin, UID) a node keeps.
//!
//! Revisions are ordered by `(revision, cancelled, id)` and a node keeps the greatest it has seen.
//! Taking the maximum of a total order is commutative, associative and idempotent, so every node
//! that has seen the same set of revisions holds the same one, whatever the order of arrival:
//! - a higher revision wins;
//! - at the same revision, a cancellation wins (an equivocating origin cannot undo its own
//!   cancellation with a same-numbered copy), then the greater payload hash wins;
//! - a copy equal to the held one is a duplicate; a lower one is stale.
//!
//! Only revisions signed by the origin reach this point (see [`crate::VerifiedEvent`]); another key
//! that uses the same UID names a different event, so it never competes here.

use crate::envelope::EventId;

/// What a revision is ordered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MergeKey {
    /// X-REVISION.
    pub revision: u32,
    /// STATUS:CANCELLED on the master.
    pub cancelled: bool,
    /// Hash of the payload bytes.
    pub id: EventId,
}

/// What happened when a revision met the one already held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// Nothing was held: the incoming revision is stored.
    Inserted,
    /// A higher revision replaces the held one.
    Replaced {
        /// The revision it replaced.
        previous: u32,
    },
    /// Exactly the held revision again: nothing changes.
    Duplicate,
    /// Older than the held revision (or losing to it): nothing changes.
    Stale {
        /// The revision that is kept.
        held: u32,
    },
    /// Same revision number, different content: the origin equivocated. Reported so operators see
    /// it; resolved by the tie-break so all nodes converge.
    Equivocation {
        /// True if the incoming copy won the tie-break and replaces the held one.
        incoming_wins: bool,
    },
}

impl MergeOutcome {
    /// True if the incoming revision must be written.
    pub fn applies(&self) -> bool {
        matches!(
            self,
            Self::Inserted
                | Self::Replaced { .. }
                | Self::Equivocation {
                    incoming_wins: true
                }
        )
    }
}

/// Decides between the held revision (if any) and an incoming one of the same event.
pub fn merge(held: Option<&MergeKey>, incoming: &MergeKey) -> MergeOutcome {
    let Some(held) = held else {
        return MergeOutcome::Inserted;
    };
    if held.id == incoming.id {
        return MergeOutcome::Duplicate;
    }
    if incoming.revision == held.revision {
        return MergeOutcome::Equivocation {
            incoming_wins: incoming > held,
        };
    }
    if incoming > held {
        MergeOutcome::Replaced {
            previous: held.revision,
        }
    } else {
        MergeOutcome::Stale {
            held: held.revision,
        }
    }
}
