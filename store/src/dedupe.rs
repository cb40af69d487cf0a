//! The admin's corrections to the collector's dedupe (docs/operators.md, "One entry for one
//! real event"): pairs of events split apart or joined into one. Kept under the people table's
//! prefix and read whole (they are few: one per correction).

use bincode::{Decode, Encode};
use discal_protocol::dedupe::{Ident, Overrides};

use crate::people::{encode, people_key};
use crate::{Store, StoreError};

pub(crate) const K_DEDUPE: u8 = b'j';

/// One correction.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct DedupeChoice {
    /// One event: origin key bytes and UID.
    pub a: ([u8; 32], String),
    /// The other.
    pub b: ([u8; 32], String),
    /// Joined (always one event) or split (never).
    pub join: bool,
    /// Who decided.
    pub by: String,
    /// When.
    pub at_ms: i64,
}

fn choice_key(a: &Ident, b: &Ident) -> Vec<u8> {
    let (a, b) = Overrides::pair(a.clone(), b.clone());
    people_key(K_DEDUPE, &encode(&(a, b)))
}

impl Store {
    /// Records an admin's split or join of two events (replacing an earlier one of the pair).
    pub fn put_dedupe_choice(&self, c: &DedupeChoice) -> Result<(), StoreError> {
        self.put_people_record(choice_key(&c.a, &c.b), encode(c))
    }

    /// Takes a correction back: the rule decides again.
    pub fn remove_dedupe_choice(&self, a: &Ident, b: &Ident) -> Result<(), StoreError> {
        self.remove_people_record(choice_key(a, b))
    }

    /// Every correction.
    pub fn dedupe_choices(&self) -> Result<Vec<DedupeChoice>, StoreError> {
        self.scan_records(&people_key(K_DEDUPE, &[]))
    }

    /// A number that changes whenever the corrections do (0 with none), so cached answers and
    /// ETags that depend on them change too.
    pub fn dedupe_stamp(&self) -> Result<u64, StoreError> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let all = self.dedupe_choices()?;
        if all.is_empty() {
            return Ok(0);
        }
        for c in &all {
            (&c.a, &c.b, c.join).hash(&mut h);
        }
        Ok(h.finish() | 1)
    }

    /// The corrections as the grouping takes them.
    pub fn dedupe_overrides(&self) -> Result<Overrides, StoreError> {
        let mut ov = Overrides::default();
        for c in self.dedupe_choices()? {
            let pair = Overrides::pair(c.a, c.b);
            if c.join {
                ov.join.insert(pair);
            } else {
                ov.split.insert(pair);
            }
        }
        Ok(ov)
    }
}
