//! Crash safety: a child process writes batches of events and is killed with SIGKILL at random
//! moments, many times over one store. After every kill the store must reopen consistent, with
//! every acknowledged batch present and the batch in flight either wholly there or wholly absent.
//!
//! The child is this same test binary, re-run with `DISCAL_CRASH_DIR` set (see
//! [`child_writer_entry_point`]); the seed is printed so a failing run can be replayed with
//! `DISCAL_CRASH_SEED`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use discal_protocol::EventKey;
use discal_store::{SledOptions, Store, Transit};
use rand::{Rng, SeedableRng};

const NEW_PER_BATCH: usize = 20;
const UPDATES_PER_BATCH: usize = 5;
const ROUNDS: u32 = 30;

fn new_uid(round: u32, batch: u32, i: usize) -> String {
    format!("r{round}-b{batch}-n{i}")
}

/// Batch `b` of round `r` inserts NEW_PER_BATCH events and bumps to revision 1 the first
/// UPDATES_PER_BATCH events inserted by batch `b - 1`.
fn batch_contents(round: u32, batch: u32) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = (0..NEW_PER_BATCH)
        .map(|i| (new_uid(round, batch, i), 0))
        .collect();
    if batch > 0 {
        v.extend((0..UPDATES_PER_BATCH).map(|i| (new_uid(round, batch - 1, i), 1)));
    }
    v
}

/// Not a test of its own: the writer process that the crash test starts and kills. Without
/// `DISCAL_CRASH_DIR` it returns at once.
#[test]
fn child_writer_entry_point() {
    let Ok(dir) = std::env::var("DISCAL_CRASH_DIR") else {
        return;
    };
    let round: u32 = std::env::var("DISCAL_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open(dir.as_ref(), &SledOptions::default()).unwrap();
    let key = secret(1);
    let mut out = std::io::stdout().lock();
    for batch in 0.. {
        let evs: Vec<_> = batch_contents(round, batch)
            .into_iter()
            .map(|(uid, rev)| {
                signed(
                    &key,
                    &uid,
                    rev,
                    one_off(
                        at(2026, 1 + (batch % 12) as u8, 1, 10),
                        &format!("{uid} rev {rev}"),
                    ),
                )
            })
            .collect();
        if std::env::var("DISCAL_CRASH_ONE_BY_ONE").is_ok_and(|v| v == "1") {
            // The way local writes go: one event per write, which the store applies as plain
            // writes rather than one of sled's atomic batches.
            for e in &evs {
                store.apply(e, Transit::local(), NOW).unwrap();
            }
        } else {
            store
                .apply_batch(evs.iter().map(|e| (e, Transit::local())), NOW)
                .unwrap();
        }
        // Acknowledged: apply_batch returned, so the batch is flushed.
        use std::io::Write;
        writeln!(out, "ACK {batch}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_at_random_points_never_loses_acknowledged_writes() {
    kill_many_times(false);
}

/// The same with every event written on its own (each write flushed before the next): an
/// update's new record and the removal of its old one are two plain writes there, and a kill
/// between them must leave a store that opens with the newer record only.
#[test]
fn sigkill_during_one_by_one_writes_never_loses_or_doubles_an_event() {
    kill_many_times(true);
}

fn kill_many_times(one_by_one: bool) {
    let seed: u64 = std::env::var("DISCAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test seed {seed} (replay with DISCAL_CRASH_SEED={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let origin = secret(1).public();
    let key = |uid: &str| EventKey {
        origin,
        uid: uid.to_string(),
    };
    // Acknowledged writes so far: (uid, minimum revision).
    let mut acked: Vec<(String, u32)> = Vec::new();
    let mut in_flight_checked = 0;

    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "child_writer_entry_point",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("DISCAL_CRASH_DIR", dir.path())
            .env("DISCAL_CRASH_ROUND", round.to_string())
            .env("DISCAL_CRASH_ONE_BY_ONE", if one_by_one { "1" } else { "" })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let kill_after = rng.gen_range(1..=12u32);
        let mut last_ack: Option<u32> = None;
        while last_ack.is_none_or(|a| a + 1 < kill_after) {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(b) = line.strip_prefix("ACK ") {
                last_ack = Some(b.parse().unwrap());
            }
        }
        // Let the next batch get some way in, then kill it mid-write: a random busy wait of up
        // to 3 ms (the child's batches take about that long).
        let spin = Duration::from_micros(rng.gen_range(0..3000));
        let t = Instant::now();
        while t.elapsed() < spin {
            std::hint::spin_loop();
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // ACKs the child printed before dying are acknowledged too.
        for line in lines.map_while(Result::ok) {
            if let Some(b) = line.strip_prefix("ACK ") {
                last_ack = Some(b.parse().unwrap());
            }
        }
        let last_ack = last_ack.unwrap();
        for b in 0..=last_ack {
            acked.extend(batch_contents(round, b));
        }

        let store = Store::open(dir.path(), &SledOptions::default()).unwrap();
        let report = store.check_integrity().unwrap();
        assert!(
            report.problems.is_empty(),
            "round {round} (seed {seed}): {:?}",
            report.problems
        );
        for (uid, rev) in &acked {
            let got = store.get(&key(uid)).unwrap();
            let got = got
                .unwrap_or_else(|| panic!("round {round} (seed {seed}): acknowledged {uid} lost"));
            assert!(
                got.payload.revision >= *rev,
                "round {round}: {uid} went back to revision {}",
                got.payload.revision
            );
        }
        let next = batch_contents(round, last_ack + 1);
        if one_by_one {
            // Each write of the batch in flight is there or not; none is there twice (the
            // integrity check above), and the store counts each event once.
            let landed: Vec<(String, u32)> = next
                .into_iter()
                .filter(|(uid, rev)| {
                    store
                        .get(&key(uid))
                        .unwrap()
                        .is_some_and(|e| e.payload.revision >= *rev)
                })
                .collect();
            in_flight_checked += landed.len();
            acked.extend(landed);
            let mut uids: Vec<&str> = acked.iter().map(|(u, _)| u.as_str()).collect();
            uids.sort_unstable();
            uids.dedup();
            assert_eq!(
                store.len().unwrap() as usize,
                uids.len(),
                "round {round} (seed {seed})"
            );
            continue;
        }
        // The batch after the last acknowledged one is all there or not there at all.
        let present: Vec<bool> = next
            .iter()
            .map(|(uid, rev)| {
                store
                    .get(&key(uid))
                    .unwrap()
                    .is_some_and(|e| e.payload.revision >= *rev)
            })
            .collect();
        assert!(
            present.iter().all(|p| *p) || present.iter().all(|p| !*p),
            "round {round} (seed {seed}): batch {} half-applied: {present:?}",
            last_ack + 1
        );
        if present[0] {
            in_flight_checked += 1;
            acked.extend(next);
        }
        assert_eq!(
            store.len().unwrap() as usize,
            acked.iter().filter(|(_, r)| *r == 0).count()
        );
    }
    let what = if one_by_one { "writes" } else { "batches" };
    eprintln!(
        "{ROUNDS} kills; {in_flight_checked} {what} caught committed but not yet acknowledged"
    );
}
