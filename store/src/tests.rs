//! Tests of the store's internals: record bytes, migrations, the expansion cache. The public
//! behaviour is tested in `tests/`.

use discal_protocol::codec;
use discal_protocol::model::EventContent;
use discal_protocol::recur::ExpandLimits;
use discal_protocol::VerifiedEvent;

use crate::backend::Batch;
use crate::index::Info;
use crate::migrate::{v1, v2};
use crate::open::{META_MIGRATING, META_SCHEMA, SNAPSHOT_FILE};
use crate::record::{change_key, encode_record, Packed, Record, MAX_RECORD_BYTES, T_CHANGE};
use crate::{SledOptions, Store, StoreError, Transit, SCHEMA_VERSION};
use discal_protocol::model::{Component, Date, DateTimeValue, LocalDateTime};
use discal_protocol::{sign, Limits, NodeSecret};

#[test]
fn integrity_check_finds_a_record_whose_header_lies() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
    let secret = NodeSecret::from_seed_array([3; 32]);
    let ev = event(&secret, "x@y", 0);
    let seq = store.apply(&ev, Transit::local(), 0).unwrap().seq.unwrap();
    assert!(store.check_integrity().unwrap().problems.is_empty());

    // Rewrite the record with a header claiming another revision, behind the store's back.
    let mut info = Info::of(&ev, 0, ExpandLimits::default());
    info.revision = 7;
    let mut b = Batch::default();
    b.insert(
        change_key(seq).to_vec(),
        encode_record(&info, ev.envelope(), &Transit::local(), 0),
    );
    store.db.apply(b).unwrap();
    let report = store.check_integrity().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("disagrees with its payload")),
        "{:?}",
        report.problems
    );
    assert!(report.problems.iter().any(|p| p.contains("indexes differ")));
}

fn event(secret: &NodeSecret, uid: &str, issued_at_ms: i64) -> VerifiedEvent {
    let start = DateTimeValue::Utc(LocalDateTime {
        date: Date {
            year: 2026,
            month: 5,
            day: 1,
        },
        hour: 10,
        minute: 0,
        second: 0,
    });
    let mut content = EventContent::new(Component::new(start));
    content.master.summary = Some(format!("event {uid}"));
    sign(
        secret,
        uid.into(),
        0,
        issued_at_ms,
        content,
        &Limits::default(),
    )
    .unwrap()
}

/// Rewrites every record of `store` in the layout of schema `to` (1 or 2) from `from_seq`
/// on, and marks the store as that schema.
fn downgrade(store: &Store, to: u32, from_seq: u64) {
    let mut b = Batch::default();
    for (k, v) in store
        .db
        .range(&change_key(from_seq), &[T_CHANGE + 1], usize::MAX)
        .unwrap()
    {
        let rec: Record = codec::decode("record", &v, MAX_RECORD_BYTES).unwrap();
        let envelope = rec.envelope.unpack().unwrap();
        let old = if to == 1 {
            codec::encode(&v1::Record {
                info: v1::Info::downgrade(rec.info),
                envelope,
                transit: rec.transit,
                received_at_ms: rec.received_at_ms,
            })
        } else {
            codec::encode(&v2::Record {
                info: rec.info,
                envelope,
                transit: rec.transit,
                received_at_ms: rec.received_at_ms,
            })
        };
        b.insert(k, old);
    }
    b.insert(META_SCHEMA.to_vec(), to.to_be_bytes().to_vec());
    store.db.apply(b).unwrap();
}

#[test]
fn stored_payloads_round_trip_and_bad_ones_are_refused_before_allocating() {
    let ev = event(&NodeSecret::from_seed_array([6; 32]), "p@q", 0);
    let packed = Packed::pack(ev.envelope());
    assert_eq!(packed.clone().unpack().unwrap(), *ev.envelope());
    // A length field from a damaged disk claiming 2 GB.
    let mut huge = packed.clone();
    huge.payload[..4].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let err = huge.unpack().unwrap_err();
    assert!(err.to_string().contains("claims 2147483647 bytes"), "{err}");
    // Damaged compressed bytes.
    let mut bad = packed;
    bad.payload.truncate(bad.payload.len() / 2);
    assert!(matches!(bad.unpack(), Err(StoreError::Corrupt(_))));
}

#[test]
fn old_stores_are_migrated_even_after_an_interrupted_migration() {
    let secret = NodeSecret::from_seed_array([4; 32]);
    let evs: Vec<_> = (0..2500)
        .map(|i| event(&secret, &format!("e{i}@m"), 1_000_000 + i))
        .collect();
    for (schema, interrupted_at) in [(1, None), (1, Some(1200u64)), (2, None), (2, Some(700))] {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
            let relayed = Transit {
                hop: 1,
                path: vec![],
            };
            store
                .apply_batch(evs.iter().map(|e| (e, relayed.clone())), 5)
                .unwrap();
            match interrupted_at {
                // A crash in the middle: records before the marker are already rewritten.
                Some(seq) => {
                    downgrade(&store, schema, seq);
                    let mut b = Batch::default();
                    b.insert(META_MIGRATING.to_vec(), seq.to_be_bytes().to_vec());
                    store.db.apply(b).unwrap();
                }
                None => downgrade(&store, schema, 0),
            }
            // A snapshot of the old layout is left behind; it must not be trusted.
            store.close().unwrap();
            assert!(dir.path().join(SNAPSHOT_FILE).exists());
        }
        let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
        assert_eq!(
            store.db.get(META_SCHEMA).unwrap().unwrap(),
            SCHEMA_VERSION.to_be_bytes().to_vec()
        );
        assert_eq!(store.db.get(META_MIGRATING).unwrap(), None);
        let inv = store.inventory(None).unwrap();
        assert_eq!(inv.len(), evs.len());
        for it in &inv {
            let n: i64 = it.key.uid[1..it.key.uid.len() - 2].parse().unwrap();
            assert_eq!(it.issued_at_ms, 1_000_000 + n, "{}", it.key.uid);
        }
        assert_eq!(store.revision_hop(&evs[3].key()).unwrap().unwrap().1, 1);
        let got = store.get(&evs[1700].key()).unwrap().unwrap();
        assert_eq!(got.envelope, *evs[1700].envelope());
        assert!(store.check_integrity().unwrap().problems.is_empty());
    }
}

/// A reader never finds an event missing while a writer replaces its revision (the old record
/// leaves in the writer's batch before the index moves on to the new one).
#[test]
fn an_event_being_replaced_is_never_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), &SledOptions::default()).unwrap());
    let secret = NodeSecret::from_seed_array([4; 32]);
    let first = event(&secret, "busy", 1_000);
    let key = discal_protocol::EventKey {
        origin: secret.public(),
        uid: "busy".into(),
    };
    store.apply(&first, Transit::local(), 1_000).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, d2) = (store.clone(), done.clone());
    let reader = std::thread::spawn(move || {
        let mut reads = 0u64;
        while !d2.load(std::sync::atomic::Ordering::Relaxed) {
            assert!(
                s2.get(&key).unwrap().is_some(),
                "missing after {reads} reads"
            );
            reads += 1;
        }
        reads
    });
    for r in 1..200u32 {
        let mut content = first.payload().content.clone();
        content.master.summary = Some(format!("revision {r}"));
        let ev = sign(
            &secret,
            "busy".into(),
            r,
            1_000 + i64::from(r),
            content,
            &Limits::default(),
        )
        .unwrap();
        store.apply(&ev, Transit::local(), 2_000).unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
}

/// A single event's new record is written before the removal of the record it replaces, so a
/// crash between the two leaves both on disk. Opening keeps the newer, removes the older, and
/// leaves a store that passes the integrity check, with or without an index snapshot.
#[test]
fn a_crash_between_an_events_new_record_and_the_old_ones_removal_is_repaired_on_open() {
    for keep_snapshot in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let secret = NodeSecret::from_seed_array([5; 32]);
        let key = discal_protocol::EventKey {
            origin: secret.public(),
            uid: "torn".into(),
        };
        let first = event(&secret, "torn", 1_000);
        let mut content = first.payload().content.clone();
        content.master.summary = Some("revision 1".into());
        let second = sign(
            &secret,
            "torn".into(),
            1,
            2_000,
            content,
            &Limits::default(),
        )
        .unwrap();
        {
            let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
            let old = store
                .apply(&first, Transit::local(), 1_000)
                .unwrap()
                .seq
                .unwrap();
            // The state a crash leaves: the new record written, the old one not yet removed.
            let info = Info::of(&second, 0, ExpandLimits::default());
            let mut b = Batch::default();
            b.insert(
                change_key(old + 1).to_vec(),
                encode_record(&info, second.envelope(), &Transit::local(), 2_000),
            );
            store.db.apply(b).unwrap();
            store.db.flush().unwrap();
            assert_eq!(store.check_integrity().unwrap().problems.len(), 2);
        }
        if !keep_snapshot {
            std::fs::remove_file(dir.path().join(SNAPSHOT_FILE)).unwrap();
        }
        let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().payload.revision, 1);
        assert_eq!(store.len().unwrap(), 1);
        let mut records = 0;
        store
            .db
            .for_each_prefix(&[T_CHANGE], |_, _| {
                records += 1;
                true
            })
            .unwrap();
        assert_eq!(
            records, 1,
            "the older record is removed (snapshot: {keep_snapshot})"
        );
        let report = store.check_integrity().unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

/// A store written before push states and hub subscriptions had keys of their own (they shared
/// `w` and `h` with owned events and CalDAV resource names) opens with them moved, and every
/// kind of record reads back.
#[test]
fn push_records_sharing_keys_with_people_records_are_moved_on_open() {
    use crate::people::{encode, people_key};
    use crate::push::{PushState, SubState, Subscription};
    let dir = tempfile::tempdir().unwrap();
    let sub = Subscription {
        id: "ab".into(),
        topic: "https://n/feed.ics".into(),
        filter: String::new(),
        callback: "https://b/cb".into(),
        secret: Vec::new(),
        lease_secs: 10,
        expires_ms: 5,
        state: SubState::Active,
        at_ms: 1,
    };
    let state = PushState {
        name: "sister".into(),
        cursor: 9,
        ..PushState::default()
    };
    {
        let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
        store.set_owner("u1@x", "ana").unwrap();
        store
            .set_dav_name("ana", "client-name.ics", "u1@x")
            .unwrap();
        // The old layout, as such a store holds it.
        let mut b = Batch::default();
        b.insert(people_key(b'h', b"ab"), encode(&sub));
        b.insert(people_key(b'w', b"sister"), encode(&state));
        b.remove(b"mpush-keys-2".to_vec());
        store.db.apply(b).unwrap();
        store.db.flush().unwrap();
        assert!(store.subscriptions().is_err() || store.subscriptions().unwrap().is_empty());
    }
    let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
    assert_eq!(store.subscriptions().unwrap(), vec![sub.clone()]);
    assert_eq!(store.subscription("ab").unwrap(), Some(sub));
    assert_eq!(store.push_state("sister").unwrap(), Some(state));
    assert_eq!(
        store.dav_name("u1@x").unwrap(),
        Some(("ana".into(), "client-name.ics".into()))
    );
    assert_eq!(store.owned_by("ana").unwrap(), vec!["u1@x".to_string()]);
    assert!(store.check_integrity().unwrap().problems.is_empty());
}

/// Every kind of record in the people table has a byte of its own: two kinds sharing one read
/// each other's records in their scans (push states and hub subscriptions once shared `w` and
/// `h` with owned events and CalDAV resource names). A new kind goes into this list.
#[test]
fn the_people_tables_kinds_are_distinct() {
    use crate::{dedupe, people, proposals, push, sources};
    let kinds = [
        people::K_ACCOUNT,
        people::K_TOKEN,
        people::K_SESSION,
        people::K_OWNER,
        people::K_OWNED,
        people::K_OWNED_BUILT,
        people::K_QUEUE,
        people::K_AUDIT,
        people::K_SITES,
        people::K_DAV_NAME,
        people::K_DAV_UID,
        push::K_PUSH,
        push::K_SUBSCRIPTION,
        proposals::K_RECEIVED,
        proposals::K_OUTBOX,
        proposals::K_RSVP,
        sources::K_SOURCE,
        dedupe::K_DEDUPE,
    ];
    let mut seen = std::collections::HashSet::new();
    for k in kinds {
        assert!(seen.insert(k), "kind byte {:?} is used twice", k as char);
    }
}
