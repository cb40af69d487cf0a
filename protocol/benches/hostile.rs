//! The iCalendar reader against hostile documents. First, documents of the largest size a
//! CalDAV PUT takes (128 KiB, the gateway's `max-resource-size`), each shaped to make one
//! part of the reader work hardest (long lists, repeated properties, deep nesting, many time
//! zones, many overrides); then documents of the largest size the reader takes at all
//! (16 MiB: a polled feed, an import), shaped against the steps that look across events.
//! Prints, for each, the time to read it and what was kept. The target: no document costs
//! more than 160 ms per MiB (20 ms for 128 KiB), i.e. the reader's cost stays linear in its
//! input. (Checks made per tag or per override against all before them once took 295 ms for
//! 20,000 tags and 58 s for a 16 MiB feed of instances.)
//! `cargo bench -p discal-protocol --bench hostile`.
// The crate is clock-free; a benchmark is not: it exists to read the clock.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use discal_protocol::ics::parse_calendar;
use discal_protocol::{Limits, NodeSecret};

const MAX: usize = 128 << 10;

fn calendar(head: &str, event_body: &str, tail: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//hostile//EN\r\n{head}\
         BEGIN:VEVENT\r\nUID:hostile@bench\r\nDTSTAMP:20261201T120000Z\r\n\
         DTSTART:20270101T100000Z\r\nSUMMARY:hostile\r\n{event_body}END:VEVENT\r\n{tail}\
         END:VCALENDAR\r\n"
    )
}

/// `unit(0)`, `unit(1)`, … joined by `sep` and wrapped, as many as fit in `MAX`.
fn filled(unit: impl Fn(usize) -> String, sep: &str, wrap: impl Fn(&str) -> String) -> String {
    let empty = wrap("").len();
    let mut body = String::new();
    for i in 0.. {
        let next = unit(i);
        let grown = body.len() + next.len() + if i > 0 { sep.len() } else { 0 };
        if empty + grown > MAX {
            break;
        }
        if i > 0 {
            body.push_str(sep);
        }
        body.push_str(&next);
    }
    wrap(&body)
}

fn day(i: usize) -> String {
    format!(
        "20{:02}{:02}{:02}",
        27 + i / 336,
        1 + (i / 28) % 12,
        1 + i % 28
    )
}

fn event(body: &str) -> String {
    calendar("", body, "")
}

fn lists() -> Vec<(&'static str, String)> {
    vec![
        (
            "CATEGORIES, one list",
            filled(
                |i| format!("t{i}"),
                ",",
                |b| event(&format!("CATEGORIES:{b}\r\n")),
            ),
        ),
        (
            "CATEGORIES, a line each",
            filled(|i| format!("CATEGORIES:t{i}\r\n"), "", event),
        ),
        (
            "CATEGORIES with line breaks",
            filled(
                |i| format!("a\\nb{i}"),
                ",",
                |b| event(&format!("CATEGORIES:{b}\r\n")),
            ),
        ),
        (
            "RDATE, one list",
            filled(
                |i| format!("{}T100000Z", day(i)),
                ",",
                |b| event(&format!("RDATE:{b}\r\n")),
            ),
        ),
        (
            "RDATE lines, unknown TZIDs",
            filled(
                |i| format!("RDATE;TZID=Nowhere/Z{i}:{}T100000\r\n", day(i)),
                "",
                event,
            ),
        ),
        (
            "EXDATE lines, daily rule",
            filled(
                |i| format!("EXDATE:{}T100000Z\r\n", day(i)),
                "",
                |b| event(&format!("RRULE:FREQ=DAILY\r\n{b}")),
            ),
        ),
        (
            "ATTENDEE lines",
            filled(
                |i| format!("ATTENDEE;CN=\"P{i}\";ROLE=REQ-PARTICIPANT:mailto:p{i}@x.org\r\n"),
                "",
                event,
            ),
        ),
        (
            "unknown properties",
            filled(|i| format!("X-A{i};P=\"v\";Q=w:x\r\n"), "", event),
        ),
    ]
}

fn structures() -> Vec<(&'static str, String)> {
    let nested = {
        let (open, close) = ("BEGIN:VALARM\r\n", "END:VALARM\r\n");
        let n = (MAX - event("").len()) / (open.len() + close.len());
        event(&format!("{}{}", open.repeat(n), close.repeat(n)))
    };
    vec![
        (
            "overrides of a daily rule",
            filled(
                |i| {
                    format!(
                        "BEGIN:VEVENT\r\nUID:hostile@bench\r\nRECURRENCE-ID:{d}T100000Z\r\n\
                         DTSTART:{d}T110000Z\r\nSUMMARY:o{i}\r\nEND:VEVENT\r\n",
                        d = day(i)
                    )
                },
                "",
                |b| calendar("", "RRULE:FREQ=DAILY\r\n", b),
            ),
        ),
        ("nested VALARMs", nested),
        (
            "VTIMEZONEs, SECONDLY rules",
            filled(
                |i| {
                    format!(
                        "BEGIN:VTIMEZONE\r\nTZID:Z{i}\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
                         TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=SECONDLY\r\n\
                         END:STANDARD\r\nEND:VTIMEZONE\r\n"
                    )
                },
                "",
                |b| {
                    calendar(b, "", "").replace(
                        "DTSTART:20270101T100000Z",
                        "DTSTART;TZID=Z1:20270101T100000",
                    )
                },
            ),
        ),
        (
            "one folded DESCRIPTION",
            filled(
                |_| "y".repeat(70),
                "\r\n ",
                |b| event(&format!("DESCRIPTION:{b}\r\n")),
            ),
        ),
        (
            "YEARLY rule, every BY part",
            event(
                "RRULE:FREQ=YEARLY;BYMONTH=1,2,3,4,5,6,7,8,9,10,11,12;BYMONTHDAY=1,2,3,4,5,6,7,8,\
                 9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31;BYHOUR=0,1,2,\
                 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,10,20,30,40,\
                 50;BYSETPOS=-1\r\n",
            ),
        ),
    ]
}

/// The RECURRENCE-ID of the `i`th minute after 2027-01-01, moved to `second` past it.
fn instance(i: usize, second: &str) -> String {
    format!(
        "RECURRENCE-ID:{d}T{h:02}{m:02}00Z\r\nDTSTART:{d}T{h:02}{m:02}{second}Z\r\n",
        d = day(i / 1440 % 3000),
        h = i / 60 % 24,
        m = i % 60
    )
}

/// Whole documents of the largest size the reader takes (16 MiB: a polled feed, an import),
/// shaped against the steps that look across events: grouping by UID, an event's revisions
/// appended one after another, overrides without their master.
fn documents() -> Vec<(&'static str, String)> {
    let max = discal_protocol::ics::MAX_ICS_BYTES;
    let doc = |events: &dyn Fn(usize) -> String| {
        let mut body = String::new();
        for i in 0.. {
            let e = events(i);
            if body.len() + e.len() + 200 > max {
                break;
            }
            body.push_str(&e);
        }
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//hostile//EN\r\n{body}END:VCALENDAR\r\n")
    };
    let vevent = |uid: &str, extra: &str| {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261201T120000Z\r\n{extra}SUMMARY:e\r\nEND:VEVENT\r\n"
        )
    };
    vec![
        (
            "16 MiB: one event after another",
            doc(&|i| {
                vevent(
                    &format!("u{i}"),
                    &format!("DTSTART:{}T100000Z\r\n", day(i % 3000)),
                )
            }),
        ),
        (
            "16 MiB: one UID, revisions",
            doc(&|i| {
                vevent(
                    "same",
                    &format!("SEQUENCE:{i}\r\nDTSTART:{}T100000Z\r\n", day(i % 3000)),
                )
            }),
        ),
        (
            "16 MiB: revisions, a slip each",
            doc(&|i| {
                vevent(
                    "same",
                    &format!(
                        "SEQUENCE:{i}\r\nCATEGORIES:a\\nb{i}\r\nDTSTART:{}T100000Z\r\n",
                        day(i % 3000)
                    ),
                )
            }),
        ),
        (
            "16 MiB: overrides, no master",
            doc(&|i| vevent("orphan", &instance(i, "00"))),
        ),
        (
            "16 MiB: overrides of one master",
            doc(&|i| {
                if i == 0 {
                    return vevent("m", "DTSTART:20270101T100000Z\r\nRRULE:FREQ=MINUTELY\r\n");
                }
                vevent("m", &instance(i, "30"))
            }),
        ),
        (
            // Each instance named by a DATE (aligned to the series' kind) and after the
            // series' UNTIL in an older SEQUENCE (dropped): two steps per override.
            "16 MiB: DATE-named overrides after the end",
            doc(&|i| {
                if i == 0 {
                    return vevent(
                        "m",
                        "DTSTART:20270101T100000Z\r\nSEQUENCE:1\r\n\
                         RRULE:FREQ=DAILY;UNTIL=20270102T100000Z\r\n",
                    );
                }
                vevent(
                    "m",
                    &format!(
                        "RECURRENCE-ID;VALUE=DATE:{d}\r\nDTSTART:{d}T120000Z\r\n",
                        d = day(i % 3000)
                    ),
                )
            }),
        ),
    ]
}

fn main() {
    let key = NodeSecret::from_seed(&[7; 32])
        .expect("a 32-byte seed")
        .public();
    let limits = Limits::default();
    println!(
        "{:<30} {:>6} {:>9} {:>7} {:>9}",
        "document", "KiB", "read ms", "events", "warnings"
    );
    // The slowest, per MiB read.
    let mut worst = (0f64, "");
    for (name, doc) in lists().into_iter().chain(structures()).chain(documents()) {
        // Best of three: the reader's cost, not the machine's hiccups.
        let mut best = f64::MAX;
        let mut kept = (0, 0);
        for _ in 0..3 {
            let t = Instant::now();
            let out = parse_calendar(&doc, &key, &limits);
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
            kept = out.map_or((0, 0), |i| {
                let warnings: usize = i.events.iter().map(|e| e.warnings.len()).sum();
                (i.events.len(), warnings + i.adjusted.len() + i.errors.len())
            });
        }
        let per_mib = best / (doc.len() as f64 / f64::from(1u32 << 20));
        if per_mib > worst.0 {
            worst = (per_mib, name);
        }
        println!(
            "{name:<30} {:>6.1} {best:>9.2} {:>7} {:>9}",
            doc.len() as f64 / 1024.0,
            kept.0,
            kept.1
        );
    }
    println!(
        "slowest per MiB: {:.0} ms ({}), target under 160 ms",
        worst.0, worst.1
    );
}
