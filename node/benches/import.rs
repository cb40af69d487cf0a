//! Import benchmark: `cargo bench -p discal-node --bench import`.
//!
//! A 10,000-event iCalendar file shaped like real exports (about 1 KB per event: 70% one-off
//! UTC events, 20% weekly events in Europe/Berlin, 5% in a zone the file defines itself under
//! a custom name (Berlin's rules, mapped with a warning), 5% without DTSTART (refused, each
//! alone)) is imported, and the rate printed for:
//! - parsing alone (`ics::parse_calendar`: lenient reading, mapping, validation, per-event
//!   outcomes);
//! - `discal import FILE` with the node stopped, the real binary end to end (split into parts,
//!   each signed and stored durably in one batch, per-event summary);
//! - the same file imported again (every event unchanged).
//!
//! `DISCAL_BENCH_N` sets the number of events.

use std::process::Command;
use std::time::Instant;

use discal_protocol::{ics, Limits, NodeSecret};

fn n() -> usize {
    std::env::var("DISCAL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

const CUSTOM_ZONE: &str = "BEGIN:VTIMEZONE\r\nTZID:Hauszeit\r\nBEGIN:STANDARD\r\n\
    DTSTART:16011028T030000\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nTZOFFSETFROM:+0200\r\n\
    TZOFFSETTO:+0100\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010325T020000\r\n\
    RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
    END:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

fn file(n: usize) -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n");
    s.push_str(CUSTOM_ZONE);
    let body = "Talks, demos and help with installing free software. ".repeat(14);
    for i in 0..n {
        let (mo, d) = (1 + i % 12, 1 + i % 28);
        let start = match i % 20 {
            0..=13 => {
                format!("DTSTART:2027{mo:02}{d:02}T180000Z\r\nDTEND:2027{mo:02}{d:02}T200000Z\r\n")
            }
            14..=17 => format!(
                "DTSTART;TZID=Europe/Berlin:2027{mo:02}{d:02}T190000\r\nDURATION:PT2H\r\n\
                 RRULE:FREQ=WEEKLY;COUNT=20\r\n"
            ),
            18 => format!("DTSTART;TZID=Hauszeit:2027{mo:02}{d:02}T190000\r\nDURATION:PT2H\r\n"),
            _ => String::new(),
        };
        s.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:bench-{i}@import.example\r\nDTSTAMP:20261201T100000Z\r\n{start}\
             SUMMARY:Meetup {i}\r\nLOCATION:Room {}\r\nCATEGORIES:linux,meetup\r\n\
             DESCRIPTION:{body}\r\nEND:VEVENT\r\n",
            i % 40
        ));
    }
    s + "END:VCALENDAR\r\n"
}

fn main() {
    let n = n();
    let text = file(n);
    println!(
        "import benchmark: {n} events, {:.1} MB file",
        text.len() as f64 / 1e6
    );
    let key = NodeSecret::from_seed(&[5u8; 32]).unwrap().public();
    let t = Instant::now();
    let imp = ics::parse_calendar(&text, &key, &Limits::default()).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let warned = imp.events.iter().filter(|e| !e.warnings.is_empty()).count();
    println!(
        "parse_calendar: {:.0} events/s ({} taken, {warned} with warnings, {} refused, {:.2} s)",
        n as f64 / secs,
        imp.events.len(),
        imp.errors.len(),
        secs
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.ics");
    std::fs::write(&path, &text).unwrap();
    let data = dir.path().join("node");
    let init = Command::new(env!("CARGO_BIN_EXE_discal"))
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    for round in ["first import", "again (unchanged)"] {
        let t = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_discal"))
            .arg("import")
            .arg(&path)
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let summary = String::from_utf8_lossy(&out.stdout);
        let first = summary.lines().next().unwrap_or("").to_owned();
        // Exit 1: the 5% without DTSTART are refused, by design.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{summary}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "discal import, node stopped, {round}: {:.0} events/s ({secs:.2} s) — {first}",
            n as f64 / secs
        );
    }
}
