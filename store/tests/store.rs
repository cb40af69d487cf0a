//! Store behaviour, run against both backends: merges, the change sequence, queries over the
//! indexes (recurrence included), peers, persistence and the schema check.

mod common;

use chrono::{TimeZone, Utc};
use common::*;
use discal_protocol::model::{Component, DateTimeValue, Duration, End, EventContent};
use discal_protocol::{MergeOutcome, Tz};
use discal_store::{BBox, Query, SledOptions, Store, StoreError, Transit};
use proptest::prelude::*;

fn both(test: impl Fn(&Store)) {
    test(&Store::memory());
    let dir = tempfile::tempdir().unwrap();
    test(&Store::open(dir.path(), &SledOptions::default()).unwrap());
}

fn window(
    y: i32,
    mo: u32,
    d: u32,
    days: i64,
) -> Option<(chrono::DateTime<Utc>, chrono::DateTime<Utc>)> {
    let from = Utc.with_ymd_and_hms(y, mo, d, 0, 0, 0).unwrap();
    Some((from, from + chrono::Duration::days(days)))
}

fn titles(store: &Store, q: &Query) -> Vec<String> {
    store
        .query(q)
        .unwrap()
        .hits
        .iter()
        .map(|h| h.event.content().master.summary.clone().unwrap_or_default())
        .collect()
}

#[test]
fn merges_sequence_and_tombstones() {
    both(|store| {
        let a = secret(1);
        let r0 = signed(&a, "u1", 0, one_off(at(2026, 12, 1, 18), "first"));
        let r1 = signed(&a, "u1", 1, one_off(at(2026, 12, 1, 19), "second"));
        let r2 = signed(
            &a,
            "u1",
            2,
            cancelled(one_off(at(2026, 12, 1, 19), "second")),
        );

        let x = store.apply(&r0, Transit::local(), NOW).unwrap();
        assert_eq!((x.outcome, x.seq), (MergeOutcome::Inserted, Some(1)));
        let x = store.apply(&r1, Transit::local(), NOW).unwrap();
        assert_eq!(
            (x.outcome, x.seq),
            (MergeOutcome::Replaced { previous: 0 }, Some(2))
        );
        assert_eq!(store.apply(&r1, Transit::local(), NOW).unwrap().seq, None);
        assert_eq!(
            store.apply(&r0, Transit::local(), NOW).unwrap().outcome,
            MergeOutcome::Stale { held: 1 }
        );
        store.apply(&r2, Transit::local(), NOW).unwrap();
        // The late older revision does not resurrect the cancelled event.
        store.apply(&r1, Transit::local(), NOW).unwrap();
        let held = store.get(&r2.key()).unwrap().unwrap();
        assert!(held.content().is_cancelled());
        assert_eq!(held.payload.revision, 2);
        assert_eq!(store.len().unwrap(), 1);
        assert_eq!(store.last_seq().unwrap(), 3);
        // The change log lists the event once, at its latest change.
        let ch = store.changes_since(0, 100).unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!((ch[0].seq, ch[0].key()), (3, r2.key()));
        assert!(store.changes_since(3, 100).unwrap().is_empty());

        // Another key using the same UID is another event.
        let b = secret(2);
        store
            .apply(
                &signed(&b, "u1", 0, one_off(at(2026, 12, 2, 18), "imposter")),
                Transit::local(),
                NOW,
            )
            .unwrap();
        assert_eq!(store.len().unwrap(), 2);
        assert!(store
            .get(&r2.key())
            .unwrap()
            .unwrap()
            .content()
            .is_cancelled());
        assert!(store.check_integrity().unwrap().problems.is_empty());
    });
}

#[test]
fn a_shorter_route_lowers_the_hop_count() {
    both(|store| {
        let a = secret(1);
        let e = signed(&a, "h", 0, one_off(at(2026, 12, 1, 18), "x"));
        let far = Transit {
            hop: 3,
            path: vec![a.public(), secret(2).public(), secret(3).public()],
        };
        let near = Transit {
            hop: 1,
            path: vec![a.public()],
        };
        store.apply(&e, far.clone(), NOW).unwrap();
        assert_eq!(store.revision_hop(&e.key()).unwrap().unwrap().1, 3);
        let x = store.apply(&e, near.clone(), NOW).unwrap();
        assert_eq!(x.outcome, MergeOutcome::Duplicate);
        assert!(x.hop_lowered);
        assert_eq!(store.get(&e.key()).unwrap().unwrap().transit, near);
        assert_eq!(store.revision_hop(&e.key()).unwrap().unwrap().1, 1);
        // A longer route again changes nothing.
        let y = store.apply(&e, far, NOW).unwrap();
        assert!(!y.hop_lowered);
        assert_eq!(store.get(&e.key()).unwrap().unwrap().transit, near);
        assert!(store.check_integrity().unwrap().problems.is_empty());
        assert_eq!(
            store.last_seq().unwrap(),
            1,
            "no new change number for a shorter route"
        );
    });
}

/// Two copies of a new revision in one batch, the longer route first (as when both
/// neighbours' relays arrive together): the index must say what the record says, or a later
/// copy by a middling route would pass for an improvement and be relayed with a looping path.
#[test]
fn a_shorter_route_in_the_same_batch_lowers_the_hop_count() {
    both(|store| {
        let a = secret(1);
        let e = signed(&a, "h", 0, one_off(at(2026, 12, 1, 18), "x"));
        let far = Transit {
            hop: 3,
            path: vec![secret(2).public(), secret(3).public()],
        };
        let near = Transit {
            hop: 1,
            path: vec![],
        };
        let r = store
            .apply_batch([(&e, far.clone()), (&e, near.clone())], NOW)
            .unwrap();
        assert!(r[0].outcome.applies());
        assert!(r[1].hop_lowered);
        assert_eq!(store.get(&e.key()).unwrap().unwrap().transit, near);
        assert_eq!(store.revision_hop(&e.key()).unwrap().unwrap().1, 1);
        let middle = Transit {
            hop: 2,
            path: vec![secret(2).public()],
        };
        assert!(!store.apply(&e, middle, NOW).unwrap().hop_lowered);
        assert!(store.check_integrity().unwrap().problems.is_empty());
    });
}

#[test]
fn time_queries_understand_recurrence_and_duration() {
    both(|store| {
        let a = secret(1);
        let berlin = |y, mo, d, h| DateTimeValue::Zoned {
            local: at(y, mo, d, h),
            tzid: "Europe/Berlin".into(),
        };
        // Weekly, no end, since 2020.
        let mut weekly = Component::new(berlin(2020, 1, 6, 19));
        weekly.rrule = Some("FREQ=WEEKLY;BYDAY=MO".into());
        weekly.end = Some(End::Duration(Duration {
            seconds: 7200,
            ..Duration::default()
        }));
        weekly.summary = Some("weekly".into());
        store
            .apply(
                &signed(&a, "weekly", 0, EventContent::new(weekly)),
                Transit::local(),
                NOW,
            )
            .unwrap();
        // A two-week festival (long: goes in the extent list, not the start index).
        let mut fest = Component::new(DateTimeValue::Date(at(2026, 7, 1, 0).date));
        fest.end = Some(End::At(DateTimeValue::Date(at(2026, 7, 15, 0).date)));
        fest.summary = Some("festival".into());
        store
            .apply(
                &signed(&a, "fest", 0, EventContent::new(fest)),
                Transit::local(),
                NOW,
            )
            .unwrap();
        for d in 1..=28u8 {
            store
                .apply(
                    &signed(
                        &a,
                        &format!("d{d}"),
                        0,
                        one_off(at(2026, 2, d, 12), &format!("feb {d}")),
                    ),
                    Transit::local(),
                    NOW,
                )
                .unwrap();
        }

        // Any week finds the weekly event, years on.
        let q = Query {
            window: window(2031, 7, 14, 7),
            ..Query::default()
        };
        assert_eq!(titles(store, &q), vec!["weekly"]);
        // A week inside the festival finds it though it started before the window.
        let q = Query {
            window: window(2026, 7, 8, 3),
            ..Query::default()
        };
        assert_eq!(titles(store, &q), vec!["festival"]);
        // The week of 9 February: Monday's weekly instance plus seven one-offs, by start time.
        let q = Query {
            window: window(2026, 2, 9, 7),
            ..Query::default()
        };
        let res = store.query(&q).unwrap();
        let t: Vec<_> = res
            .hits
            .iter()
            .map(|h| h.event.content().master.summary.clone().unwrap())
            .collect();
        assert_eq!(
            t,
            vec!["feb 9", "weekly", "feb 10", "feb 11", "feb 12", "feb 13", "feb 14", "feb 15"]
        );
        assert_eq!(res.hits[1].occurrences.len(), 1);
        // The limit says it cut.
        let q = Query {
            window: window(2026, 2, 1, 28),
            limit: 5,
            ..Query::default()
        };
        let res = store.query(&q).unwrap();
        assert_eq!(res.hits.len(), 5);
        assert!(res.truncated);
        // An instant exactly at the window end is outside; one ending at the start is outside.
        let q = Query {
            window: Some((
                Utc.with_ymd_and_hms(2026, 2, 3, 13, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2026, 2, 4, 12, 0, 0).unwrap(),
            )),
            ..Query::default()
        };
        assert!(titles(store, &q).is_empty(), "{:?}", titles(store, &q));
    });
}

#[test]
fn filters_by_tag_origin_place_text_and_status() {
    both(|store| {
        let a = secret(1);
        let b = secret(2);
        let evs = [
            signed(
                &a,
                "1",
                0,
                with_geo(
                    with_tags(
                        one_off(at(2026, 3, 2, 18), "Linux install party"),
                        &["Linux", "install"],
                    ),
                    52.52,
                    13.40,
                ),
            ),
            signed(
                &a,
                "2",
                0,
                with_geo(
                    with_tags(one_off(at(2026, 3, 3, 18), "Rust meetup"), &["rust"]),
                    48.14,
                    11.58,
                ),
            ),
            signed(
                &b,
                "3",
                0,
                with_tags(
                    one_off(at(2026, 3, 4, 18), "Linux talk"),
                    &["linux", "talk"],
                ),
            ),
            signed(
                &b,
                "4",
                0,
                cancelled(with_tags(
                    one_off(at(2026, 3, 5, 18), "Cancelled linux thing"),
                    &["linux"],
                )),
            ),
        ];
        for e in &evs {
            store.apply(e, Transit::local(), NOW).unwrap();
        }
        let w = window(2026, 3, 1, 10);
        let q = |f: &dyn Fn(&mut Query)| {
            let mut q = Query {
                window: w,
                ..Query::default()
            };
            f(&mut q);
            let mut t = titles(store, &q);
            // The same filter without a window goes through the other code path.
            q.window = None;
            let mut t2 = titles(store, &q);
            t.sort();
            t2.sort();
            assert_eq!(t, t2);
            t
        };
        assert_eq!(
            q(&|q| q.tags = vec!["LINUX".into()]),
            vec!["Cancelled linux thing", "Linux install party", "Linux talk"]
        );
        assert_eq!(
            q(&|q| {
                q.tags = vec!["linux".into()];
                q.include_cancelled = false;
            }),
            vec!["Linux install party", "Linux talk"]
        );
        assert_eq!(
            q(&|q| {
                q.tags = vec!["linux".into()];
                q.exclude_tags = vec!["talk".into()];
                q.include_cancelled = false;
            }),
            vec!["Linux install party"]
        );
        assert_eq!(
            q(&|q| q.origin = Some(b.public())),
            vec!["Cancelled linux thing", "Linux talk"]
        );
        assert_eq!(
            q(&|q| q.bbox = Some(BBox {
                south: 52.0,
                west: 13.0,
                north: 53.0,
                east: 14.0
            })),
            vec!["Linux install party"]
        );
        assert_eq!(q(&|q| q.text = Some("MEETUP".into())), vec!["Rust meetup"]);
    });
}

#[test]
fn floating_events_follow_the_asked_zone() {
    both(|store| {
        let a = secret(1);
        let mut c = Component::new(DateTimeValue::Floating(at(2026, 5, 1, 23)));
        c.summary = Some("late".into());
        store
            .apply(
                &signed(&a, "f", 0, EventContent::new(c)),
                Transit::local(),
                NOW,
            )
            .unwrap();
        // 23:00 floating on 1 May is 2 May 06:00Z for a viewer in Los Angeles.
        let q = Query {
            window: window(2026, 5, 2, 1),
            floating_tz: "America/Los_Angeles".parse::<Tz>().unwrap(),
            ..Query::default()
        };
        assert_eq!(titles(store, &q), vec!["late"]);
        let q = Query {
            window: window(2026, 5, 2, 1),
            ..Query::default()
        };
        assert!(titles(store, &q).is_empty());
    });
}

/// A store another holder has open is reported as locked, not as sled's raw I/O error (the
/// CLI tells the operator that a node is running on the data dir).
#[test]
fn a_store_in_use_is_reported_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _held = Store::open(dir.path(), &SledOptions::default()).unwrap();
    match Store::open(dir.path(), &SledOptions::default()) {
        Err(StoreError::Locked(p)) => assert_eq!(p, dir.path()),
        Err(e) => panic!("not reported as locked: {e}"),
        Ok(_) => panic!("opened twice"),
    }
}

#[test]
fn data_survives_reopen_and_the_schema_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let a = secret(1);
    let e = signed(&a, "p", 0, one_off(at(2026, 12, 1, 18), "persist"));
    {
        let s = Store::open(dir.path(), &SledOptions::default()).unwrap();
        s.apply(
            &e,
            Transit {
                hop: 2,
                path: vec![a.public(), secret(2).public()],
            },
            NOW,
        )
        .unwrap();
    }
    let s = Store::open(dir.path(), &SledOptions::default()).unwrap();
    let got = s.get(&e.key()).unwrap().unwrap();
    assert_eq!(got.envelope, *e.envelope());
    assert_eq!(got.transit.hop, 2);
    assert_eq!(s.last_seq().unwrap(), 1);
    drop(s);

    // A store from a future schema is refused with a clear error, and left untouched.
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"mschema", &99u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    match Store::open(dir.path(), &SledOptions::default()) {
        Err(
            e @ StoreError::Schema {
                found: 99,
                expected: discal_store::SCHEMA_VERSION,
            },
        ) => {
            assert!(e.to_string().contains("version 99"), "{e}");
        }
        Err(e) => panic!("unexpected {e}"),
        Ok(_) => panic!("opened a store of another schema"),
    }
}

#[test]
fn inventory_lists_every_revision() {
    both(|store| {
        let a = secret(1);
        let b = secret(2);
        for (s, uid, rev) in [(&a, "x", 3), (&a, "y", 0), (&b, "z", 1)] {
            store
                .apply(
                    &signed(s, uid, rev, one_off(at(2026, 1, 1, 1), uid)),
                    Transit::local(),
                    NOW,
                )
                .unwrap();
        }
        let all = store.inventory(None).unwrap();
        assert_eq!(all.len(), 3);
        let mine = store.inventory(Some(&a.public())).unwrap();
        assert_eq!(
            mine.iter()
                .map(|i| (i.key.uid.as_str(), i.revision))
                .collect::<Vec<_>>(),
            vec![("x", 3), ("y", 0)]
        );
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Two stores fed the same revisions in different orders, in different batch splits, hold
    /// the same revision of every event.
    #[test]
    fn stores_converge_whatever_the_order(
        revs in prop::collection::vec((0u8..3, 0u32..4, any::<bool>(), 0u8..2), 1..20),
        split in 0usize..20,
    ) {
        let a = secret(1);
        let evs: Vec<_> = revs
            .iter()
            .map(|(uid, r, c, v)| {
                let mut content = one_off(at(2026, 6, 1 + v, 10), &format!("v{v}"));
                if *c { content = cancelled(content); }
                signed(&a, &format!("uid{uid}"), *r, content)
            })
            .collect();
        let s1 = Store::memory();
        for e in &evs {
            s1.apply(e, Transit::local(), NOW).unwrap();
        }
        let s2 = Store::memory();
        let mut rev: Vec<_> = evs.iter().rev().collect();
        let split = split.min(rev.len());
        let tail = rev.split_off(split);
        s2.apply_batch(tail.into_iter().map(|e| (e, Transit::local())), NOW).unwrap();
        s2.apply_batch(rev.into_iter().map(|e| (e, Transit::local())), NOW).unwrap();
        let inv1 = s1.inventory(None).unwrap();
        let inv2 = s2.inventory(None).unwrap();
        prop_assert_eq!(inv1, inv2);
        prop_assert!(s1.check_integrity().unwrap().problems.is_empty());
        prop_assert!(s2.check_integrity().unwrap().problems.is_empty());
    }
}

/// One-offs in UTC, zoned and floating time (the index estimates floating ones) and recurring
/// events, bounded and not: enough recurring ones that queries read them on two threads.
fn mixed_events(store: &Store) {
    let a = secret(1);
    let berlin = |d, h| DateTimeValue::Zoned {
        local: at(2026, 4, d, h),
        tzid: "Europe/Berlin".into(),
    };
    for d in 1..=30u8 {
        // One-offs in UTC, zoned, and floating (estimated by the index), plus recurring ones.
        let mut c = one_off(at(2026, 4, d, d % 24), &format!("utc {d}"));
        if d % 3 == 0 {
            c.master.start = berlin(d, 23);
        }
        if d % 5 == 0 {
            c.master.start = DateTimeValue::Floating(at(2026, 4, d, 23));
        }
        if d % 7 == 0 {
            c.master.rrule = Some(
                if d % 2 == 0 {
                    "FREQ=DAILY;COUNT=3"
                } else {
                    "FREQ=WEEKLY"
                }
                .into(),
            );
        }
        store
            .apply(&signed(&a, &format!("s{d}"), 0, c), Transit::local(), NOW)
            .unwrap();
    }
    // Enough recurring events that query() reads them on two threads.
    for i in 0..40u8 {
        let mut c = one_off(at(2026, 3, 1 + i % 28, i % 24), &format!("weekly {i}"));
        c.master.rrule = Some(format!("FREQ=WEEKLY;INTERVAL={}", 1 + i % 3));
        store
            .apply(&signed(&a, &format!("r{i}"), 0, c), Transit::local(), NOW)
            .unwrap();
    }
}

#[test]
fn select_agrees_with_query() {
    both(|store| {
        mixed_events(store);
        for (d, days) in [(1, 1), (10, 3), (14, 7), (29, 5), (1, 30)] {
            let q = Query {
                window: window(2026, 4, d, days),
                limit: usize::MAX,
                ..Query::default()
            };
            let mut from_query: Vec<u64> = store
                .query(&q)
                .unwrap()
                .hits
                .iter()
                .map(|h| h.event.seq)
                .collect();
            let sel = store.select(&q).unwrap();
            let mut loaded = Vec::new();
            for s in &sel.items {
                let hit = store.load(s, &q, &mut false).unwrap();
                assert!(
                    hit.is_some() || !s.certain,
                    "certain item {s:?} did not match"
                );
                if hit.is_some() {
                    loaded.push(s.seq);
                }
            }
            from_query.sort();
            loaded.sort();
            assert_eq!(from_query, loaded, "window {d}+{days}");
        }
    });
}

#[test]
fn query_keys_agrees_with_query_and_reads_only_what_it_must() {
    both(|store| {
        mixed_events(store);
        let summary = |seq| {
            let ev = store.event_at(seq).unwrap().unwrap();
            ev.content().master.summary.clone().unwrap_or_default()
        };
        let compare = |q: &Query| {
            // query_keys first: query would fill the expansion cache it reads from.
            let keys = store.query_keys(q).unwrap();
            let full = store.query(q).unwrap();
            let expected: Vec<_> = full
                .hits
                .iter()
                .map(|h| {
                    (
                        h.event.seq,
                        h.event.key(),
                        h.event.merge_key(),
                        h.occurrences.first().map_or(0, |o| o.start.timestamp()),
                    )
                })
                .collect();
            let got: Vec<_> = keys
                .hits
                .iter()
                .map(|h| (h.seq, h.key.clone(), h.merge, h.start))
                .collect();
            assert_eq!(got, expected, "{q:?}");
            assert_eq!(keys.truncated, full.truncated, "{q:?}");
            for h in &keys.hits {
                if let Some(ev) = &h.event {
                    assert_eq!(ev.seq, h.seq);
                }
            }
            keys.hits
                .iter()
                .filter(|h| h.event.is_some())
                .map(|h| summary(h.seq))
                .collect::<Vec<_>>()
        };
        let month = |limit, tz, text: Option<&str>| Query {
            window: window(2026, 4, 1, 30),
            limit,
            floating_tz: tz,
            text: text.map(str::to_owned),
            ..Query::default()
        };
        // Nothing expanded yet: every recurring event is read.
        let read = compare(&month(usize::MAX, Tz::UTC, None));
        assert!(read.iter().any(|t| t.starts_with("weekly")), "{read:?}");
        store.prepare_year(2026, Tz::UTC).unwrap();
        for (d, days) in [(1, 1), (10, 3), (14, 7), (29, 5), (1, 30)] {
            let q = Query {
                window: window(2026, 4, d, days),
                limit: usize::MAX,
                ..Query::default()
            };
            let read = compare(&q);
            // Recurring events are settled from the year's expansions; only floating
            // one-offs, whose place depends on the zone, are read.
            assert!(
                read.iter().all(|t| t.starts_with("utc")),
                "window {d}+{days} read {read:?}"
            );
        }
        let read = compare(&month(usize::MAX, Tz::UTC, None));
        assert!(read.len() < 10, "{read:?}");
        // A cut answer, another zone (its years are not prepared), a text condition.
        compare(&month(7, Tz::UTC, None));
        compare(&month(usize::MAX, Tz::Europe__Berlin, None));
        let read = compare(&month(usize::MAX, Tz::UTC, Some("weekly 1")));
        assert!(!read.is_empty() && read.iter().all(|t| t.starts_with("weekly 1")));
        // Without a window: change order.
        compare(&Query {
            limit: usize::MAX,
            ..Query::default()
        });

        // Across New Year: a nightly event whose instance of Dec 31 ends in the next year, so
        // it is in both years' expansions, and a weekly one.
        let a = secret(1);
        for (uid, rule, hour) in [
            ("nightly", "FREQ=DAILY", 23),
            ("weekly-ny", "FREQ=WEEKLY", 12),
        ] {
            let mut c = one_off(at(2026, 12, 1, hour), uid);
            c.master.end = Some(End::Duration(Duration {
                seconds: 2 * 3600,
                ..Duration::default()
            }));
            c.master.rrule = Some(rule.into());
            store
                .apply(&signed(&a, uid, 0, c), Transit::local(), NOW)
                .unwrap();
        }
        store.prepare_year(2026, Tz::UTC).unwrap();
        store.prepare_year(2027, Tz::UTC).unwrap();
        let span = |from: (i32, u32, u32, u32), to: (i32, u32, u32, u32)| Query {
            window: Some((
                Utc.with_ymd_and_hms(from.0, from.1, from.2, from.3, 0, 0)
                    .unwrap(),
                Utc.with_ymd_and_hms(to.0, to.1, to.2, to.3, 0, 0).unwrap(),
            )),
            limit: usize::MAX,
            ..Query::default()
        };
        for q in [
            span((2027, 1, 1, 0), (2027, 1, 1, 1)),
            span((2026, 12, 31, 12), (2027, 1, 1, 1)),
            span((2026, 12, 15, 0), (2027, 1, 15, 0)),
            span((2026, 12, 31, 0), (2027, 1, 1, 0)),
        ] {
            let read = compare(&q);
            assert!(read.is_empty(), "{q:?} read {read:?}");
        }
        let first = store
            .query_keys(&span((2027, 1, 1, 0), (2027, 1, 1, 1)))
            .unwrap();
        assert_eq!(first.hits.len(), 1);
        assert_eq!(
            first.hits[0].start,
            Utc.with_ymd_and_hms(2026, 12, 31, 23, 0, 0)
                .unwrap()
                .timestamp()
        );
    });
}

#[test]
fn index_snapshot_is_used_and_a_stale_one_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("index.snapshot");
    let a = secret(1);
    let opts = SledOptions::default();
    let add_v0 = |s: &Store, days: std::ops::Range<u8>| {
        for i in days {
            let e = signed(
                &a,
                &format!("u{i}"),
                0,
                one_off(at(2026, 3, 1 + i, 10), "v0"),
            );
            s.apply(&e, Transit::local(), NOW).unwrap();
        }
    };
    {
        let s = Store::open(dir.path(), &opts).unwrap();
        add_v0(&s, 0..20);
        s.close().unwrap();
    }
    assert!(snap.exists(), "close saves the index");
    let stale = std::fs::read(&snap).unwrap();
    {
        let s = Store::open(dir.path(), &opts).unwrap();
        assert!(!snap.exists(), "open consumes the snapshot");
        assert_eq!(s.len().unwrap(), 20);
        // Replace half the events (new records, old ones removed) and add some.
        for i in 0..10u8 {
            let moved = with_tags(one_off(at(2026, 4, 1 + i, 10), "v1"), &["moved"]);
            s.apply(
                &signed(&a, &format!("u{i}"), 1, moved),
                Transit::local(),
                NOW,
            )
            .unwrap();
        }
        add_v0(&s, 20..25);
    }
    // Put the stale snapshot back over the fresh one that drop saved: open must still end with
    // the records' truth.
    std::fs::write(&snap, &stale).unwrap();
    let s = Store::open(dir.path(), &opts).unwrap();
    assert_eq!(s.len().unwrap(), 25);
    assert!(s.check_integrity().unwrap().problems.is_empty());
    let q = Query {
        window: window(2026, 4, 1, 30),
        ..Query::default()
    };
    assert_eq!(titles(&s, &q).len(), 10);
    let q = Query {
        tags: vec!["moved".into()],
        ..Query::default()
    };
    assert_eq!(titles(&s, &q).len(), 10);
}

/// `query` settles recurring events from cached expansions (only those that make the page are
/// read, and with a text condition only those read until it is full); its answers, cut ones
/// included, equal those it gives when nothing is cached and every recurring event is read.
#[test]
fn queries_answer_the_same_with_and_without_cached_expansions() {
    both(|store| {
        mixed_events(store);
        let queries: Vec<Query> = [
            (1, 1, 3),
            (10, 3, usize::MAX),
            (14, 7, 2),
            (1, 30, 5),
            (1, 30, usize::MAX),
        ]
        .into_iter()
        // And with a text condition, which settled events are read for (recurring and
        // one-off titles with a "1" in them).
        .flat_map(|(d, days, limit)| {
            [None, Some("1".to_owned())].map(|text| Query {
                window: window(2026, 4, d, days),
                limit,
                text,
                ..Query::default()
            })
        })
        .collect();
        let answer = |q: &Query| {
            let r = store.query(q).unwrap();
            let hits: Vec<_> = r
                .hits
                .iter()
                .map(|h| {
                    (
                        h.event.seq,
                        h.occurrences.iter().map(|o| o.start).collect::<Vec<_>>(),
                    )
                })
                .collect();
            (hits, r.truncated)
        };
        let cold: Vec<_> = queries.iter().map(answer).collect();
        store.prepare_year(2026, Tz::UTC).unwrap();
        for (q, want) in queries.iter().zip(&cold) {
            assert_eq!(&answer(q), want, "{q:?}");
        }
    });
}

/// The index counts the origins holding each UID (by a hash of it, not a copy): feeds write
/// an event as `{origin}~{uid}` exactly while another origin holds the same UID.
#[test]
fn a_uid_is_shared_exactly_while_two_origins_hold_it() {
    both(|store| {
        let (a, b) = (secret(1), secret(2));
        let put = |s: &discal_protocol::NodeSecret, uid: &str, rev: u32, title: &str| {
            let ev = signed(s, uid, rev, one_off(at(2026, 12, 1, 18), title));
            store.apply(&ev, Transit::local(), NOW).unwrap();
        };
        put(&a, "u1", 0, "first");
        put(&a, "u2", 0, "other");
        assert!(!store.uid_is_shared("u1").unwrap());
        put(&b, "u1", 0, "same uid, other origin");
        assert!(store.uid_is_shared("u1").unwrap());
        assert!(!store.uid_is_shared("u2").unwrap());
        assert!(!store.uid_is_shared("U1").unwrap(), "UIDs compare exactly");
        // A new revision replaces a record: the count stays at two origins, not three.
        put(&a, "u1", 1, "first, moved");
        put(&b, "u1", 1, "second, moved");
        assert!(store.uid_is_shared("u1").unwrap());
        // One origin's revisions of its own event never make it shared.
        put(&a, "u2", 1, "other, moved");
        put(&a, "u2", 2, "other, moved again");
        assert!(!store.uid_is_shared("u2").unwrap());
        put(&b, "u2", 0, "now shared too");
        assert!(store.uid_is_shared("u2").unwrap());
        assert!(!store.uid_is_shared("u3").unwrap());
    });
}

/// The log is zero-filled to the end of the segment being written (vendor/sled's
/// `zero_fill_segment`: a flush inside the file's size skips a metadata write), and a store
/// written that way across several segments, one flushed write at a time, reopens whole.
#[test]
fn the_log_is_zero_filled_ahead_and_reopens_whole() {
    const SEGMENT: u64 = 512 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let a = secret(1);
    let log_len = || std::fs::metadata(dir.path().join("db")).unwrap().len();
    let n = 2_000;
    {
        let s = Store::open(dir.path(), &SledOptions::default()).unwrap();
        for i in 0..n {
            let title = format!("event {i} {}", "x".repeat(400));
            let e = signed(&a, &format!("z{i}"), 0, one_off(at(2027, 1, 1, 10), &title));
            s.apply(&e, Transit::local(), NOW).unwrap();
            if i % 250 == 0 {
                let len = log_len();
                assert_eq!(len % SEGMENT, 0, "log length {len} after write {i}");
            }
        }
        assert!(log_len() >= 3 * SEGMENT, "only {} bytes of log", log_len());
    }
    let s = Store::open(dir.path(), &SledOptions::default()).unwrap();
    assert_eq!(s.last_seq().unwrap(), n);
    for i in (0..n).step_by(97) {
        let e = signed(&a, &format!("z{i}"), 0, one_off(at(2027, 1, 1, 10), "x"));
        assert!(s.get(&e.key()).unwrap().is_some(), "z{i} lost");
    }
    assert!(s.check_integrity().unwrap().problems.is_empty());
}

/// What the collector compares an event with: the events that start near it, whatever
/// series have instances near it.
#[test]
fn events_starting_in_a_span_are_found_by_their_first_start() {
    both(|store| {
        let a = secret(1);
        let put = |uid: &str, c: EventContent| {
            store
                .apply(&signed(&a, uid, 0, c), Transit::local(), NOW)
                .unwrap();
        };
        put("before", one_off(at(2027, 3, 1, 5), "before"));
        put("in", one_off(at(2027, 3, 1, 18), "in"));
        put("after", one_off(at(2027, 3, 2, 7), "after"));
        // A weekly series since 2020 has an instance on 1 March; it does not start there.
        let mut old = one_off(at(2020, 1, 6, 18), "weekly since 2020");
        old.master.rrule = Some("FREQ=WEEKLY".into());
        put("old-series", old);
        // One that starts on 1 March, with and without an end.
        let mut new = one_off(at(2027, 3, 1, 19), "weekly from March");
        new.master.rrule = Some("FREQ=WEEKLY".into());
        put("new-series", new.clone());
        new.master.rrule = Some("FREQ=DAILY;COUNT=3".into());
        put("new-short-series", new);
        // A two-day gathering (a long span) starting in it.
        let mut long = one_off(at(2027, 3, 1, 9), "gathering");
        long.master.end = Some(End::Duration(Duration {
            days: 2,
            ..Duration::default()
        }));
        put("long", long);
        let from = Utc
            .with_ymd_and_hms(2027, 3, 1, 6, 0, 0)
            .unwrap()
            .timestamp();
        let to = Utc
            .with_ymd_and_hms(2027, 3, 2, 6, 0, 0)
            .unwrap()
            .timestamp();
        let mut uids: Vec<String> = store
            .starting_between(from, to, 100)
            .unwrap()
            .into_iter()
            .map(|e| e.payload.uid.clone())
            .collect();
        uids.sort();
        assert_eq!(uids, ["in", "long", "new-series", "new-short-series"]);
        assert_eq!(store.starting_between(from, to, 2).unwrap().len(), 2);
    });
}

/// The journal (store/src/journal.rs): its newest record is found by the next open, whole,
/// and by every later one until a write supersedes it; a record torn by a crash is not found,
/// and the one before it is. A store in memory keeps none.
#[test]
fn the_journals_newest_whole_record_is_found_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let open = || Store::open(dir.path(), &SledOptions::default()).unwrap();
    {
        let s = open();
        assert_eq!(s.journaled(), None);
        assert!(s.journal(b"cancel this").unwrap());
    }
    for _ in 0..2 {
        assert_eq!(open().journaled(), Some(&b"cancel this"[..]));
    }
    {
        let s = open();
        assert!(s.journal(b"and now that").unwrap());
        assert_eq!(s.journaled(), Some(&b"cancel this"[..]), "as found at open");
        assert!(s.journal(b"and then these").unwrap());
    }
    assert_eq!(open().journaled(), Some(&b"and then these"[..]));
    // Tear the newest record (in the first slot again, the third write): the one before it,
    // in the other slot, is found.
    let path = dir.path().join("journal");
    let mut bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[24..38], b"and then these");
    bytes[30] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(
        open().journaled(),
        Some(&b"and now that"[..]),
        "a torn record"
    );
    let too_big = vec![b'x'; 70 << 10];
    assert!(matches!(
        open().journal(&too_big),
        Err(StoreError::TooLarge { .. })
    ));
    assert!(!Store::memory().journal(b"x").unwrap());
}
