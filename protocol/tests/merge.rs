//! Merge rules: any set of revisions merged in any order, with duplicates, ends in the same
//! state; tombstones are never undone by older copies; equivocation converges.

use discal_protocol::model::{Component, Date, DateTimeValue, EventContent, LocalDateTime, Status};
use discal_protocol::{merge, sign, Limits, MergeKey, MergeOutcome, NodeSecret, VerifiedEvent};
use proptest::prelude::*;

const NOW: i64 = 1_790_000_000_000;

fn content(variant: u8, cancelled: bool) -> EventContent {
    let mut c = Component::new(DateTimeValue::Utc(LocalDateTime {
        date: Date {
            year: 2026,
            month: 12,
            day: 1,
        },
        hour: 18,
        minute: 0,
        second: 0,
    }));
    c.summary = Some(format!("variant {variant}"));
    if cancelled {
        c.status = Some(Status::Cancelled);
    }
    EventContent::new(c)
}

fn rev(secret: &NodeSecret, revision: u32, variant: u8, cancelled: bool) -> VerifiedEvent {
    sign(
        secret,
        "merge@test".into(),
        revision,
        NOW,
        content(variant, cancelled),
        &Limits::default(),
    )
    .unwrap()
}

/// Folds incoming revisions into a held state the way a node does.
fn fold(items: &[MergeKey]) -> Option<MergeKey> {
    let mut held: Option<MergeKey> = None;
    for k in items {
        if merge(held.as_ref(), k).applies() {
            held = Some(*k);
        }
    }
    held
}

fn revisions() -> impl Strategy<Value = Vec<(u32, u8, bool)>> {
    // Few revision numbers and variants, so equal revisions with different content
    // (equivocation) and exact duplicates are common.
    prop::collection::vec((0u32..4, 0u8..3, any::<bool>()), 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Commutative and idempotent: every order of the same multiset, with every item possibly
    /// repeated, gives the same final revision.
    #[test]
    fn any_order_with_duplicates_converges(
        revs in revisions(),
        seed in any::<u64>(),
        dup_mask in any::<u32>(),
    ) {
        let secret = NodeSecret::from_seed(&[3u8; 32]).unwrap();
        let keys: Vec<MergeKey> = revs
            .iter()
            .map(|(r, v, c)| rev(&secret, *r, *v, *c).merge_key())
            .collect();
        let reference = fold(&keys);
        // The final state is the greatest key: what a node holds does not depend on history.
        prop_assert_eq!(reference, keys.iter().max().copied());

        let mut shuffled = keys.clone();
        for (i, k) in keys.iter().enumerate() {
            if dup_mask & (1 << (i % 32)) != 0 {
                shuffled.push(*k);
            }
        }
        // Deterministic Fisher-Yates from the seed.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(fold(&shuffled), reference);
    }

    /// Associative: merging two nodes' states after each merged its own share equals merging
    /// everything at one node.
    #[test]
    fn merging_partial_states_is_associative(revs in revisions(), split in 0usize..12) {
        let secret = NodeSecret::from_seed(&[4u8; 32]).unwrap();
        let keys: Vec<MergeKey> = revs
            .iter()
            .map(|(r, v, c)| rev(&secret, *r, *v, *c).merge_key())
            .collect();
        let split = split.min(keys.len());
        let left = fold(&keys[..split]);
        let right = fold(&keys[split..]);
        let combined: Vec<MergeKey> = left.into_iter().chain(right).collect();
        prop_assert_eq!(fold(&combined), fold(&keys));
    }
}

#[test]
fn outcomes_are_reported() {
    let s = NodeSecret::from_seed(&[6u8; 32]).unwrap();
    let r1 = rev(&s, 1, 0, false).merge_key();
    let r2 = rev(&s, 2, 0, false).merge_key();
    assert_eq!(merge(None, &r1), MergeOutcome::Inserted);
    assert_eq!(
        merge(Some(&r1), &r2),
        MergeOutcome::Replaced { previous: 1 }
    );
    assert_eq!(merge(Some(&r2), &r1), MergeOutcome::Stale { held: 2 });
    assert_eq!(merge(Some(&r2), &r2), MergeOutcome::Duplicate);
    let r2b = rev(&s, 2, 1, false).merge_key();
    let a = merge(Some(&r2), &r2b);
    let b = merge(Some(&r2b), &r2);
    // Exactly one side wins the tie-break, whichever arrives first.
    match (a, b) {
        (
            MergeOutcome::Equivocation { incoming_wins: x },
            MergeOutcome::Equivocation { incoming_wins: y },
        ) => assert_ne!(x, y),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tombstone_beats_a_late_older_revision() {
    let s = NodeSecret::from_seed(&[7u8; 32]).unwrap();
    let live = rev(&s, 4, 0, false).merge_key();
    let cancelled = rev(&s, 5, 0, true).merge_key();
    let late = rev(&s, 3, 1, false).merge_key();
    assert_eq!(fold(&[live, cancelled, late]), Some(cancelled));
    assert_eq!(fold(&[cancelled, late, live]), Some(cancelled));
    // An equivocating origin cannot un-cancel with a live copy of the same revision number.
    let live5 = rev(&s, 5, 2, false).merge_key();
    assert_eq!(fold(&[cancelled, live5]), Some(cancelled));
    assert_eq!(fold(&[live5, cancelled]), Some(cancelled));
}

#[test]
fn another_key_with_the_same_uid_is_another_event() {
    let a = NodeSecret::from_seed(&[8u8; 32]).unwrap();
    let b = NodeSecret::from_seed(&[9u8; 32]).unwrap();
    let ea = rev(&a, 1, 0, false);
    let eb = rev(&b, 99, 0, false);
    assert_eq!(ea.payload().uid, eb.payload().uid);
    assert_ne!(
        ea.key(),
        eb.key(),
        "(origin, UID) differ, so they never merge"
    );
}
