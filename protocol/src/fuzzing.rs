//! Entry points for fuzzing. The cargo-fuzz targets in `fuzz/` call these, and a normal test runs
//! them over the committed seed corpus, so the targets cannot rot unnoticed.

use crate::{ics, recur, Envelope, Limits, NodeKey};

/// Decodes and verifies arbitrary bytes as an envelope; must never panic.
pub fn envelope_decode(data: &[u8]) {
    if let Ok(env) = Envelope::decode(data) {
        let again = env.encode();
        // Decoding is exact: whatever decodes re-encodes to the same bytes.
        assert_eq!(again, data, "envelope re-encoding differs");
        let _ = env.verify(i64::MAX / 2, &Limits::default());
    }
    let _ = crate::Relayed::decode(data);
}

/// Decodes and verifies arbitrary bytes as a signed proposal or receipt (§12); must never
/// panic, and whatever decodes re-encodes to the same bytes.
pub fn proposal_decode(data: &[u8]) {
    if let Ok(s) = crate::proposal::Signed::decode(data) {
        assert_eq!(s.encode(), data, "proposal re-encoding differs");
        let _ = s.verify_proposal(i64::MAX / 2, 0);
        let _ = s.verify_receipt();
    }
}

/// Parses arbitrary bytes as iCalendar, then expands whatever was imported; must never panic
/// and must terminate quickly whatever the RRULE says.
pub fn ics_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = NodeKey::from_bytes([
        0x3b, 0x6a, 0x27, 0xbc, 0xce, 0xb6, 0xa4, 0x2d, 0x62, 0xa3, 0xa8, 0xd0, 0x2a, 0x6f, 0x0d,
        0x73, 0x65, 0x32, 0x15, 0x77, 0x1d, 0xe2, 0x43, 0xa6, 0x3a, 0xc0, 0x48, 0xa1, 0x8b, 0x59,
        0xda, 0x29,
    ]);
    let Ok(origin) = origin else {
        return;
    };
    // The sources' cut before parsing: whatever it keeps must still be a calendar the
    // parser reads no worse than the whole.
    let today = crate::model::Date {
        year: 2027,
        month: 1,
        day: 1,
    };
    if let Some(near) = ics::nearest_events(text, 2, today) {
        let _ = ics::parse_calendar(&near.text, &origin, &Limits::default());
    }
    if let Ok(import) = ics::parse_calendar(text, &origin, &Limits::default()) {
        write_back_is_fixed(&import, &origin);
        for ev in import.events {
            let from = chrono::DateTime::<chrono::Utc>::from_timestamp(1_767_225_600, 0)
                .unwrap_or_default();
            let to = from + chrono::Duration::days(400);
            let limits = recur::ExpandLimits {
                max_examined: 5_000,
                max_returned: 1_000,
            };
            let _ = recur::expand(&ev.content, from, to, chrono_tz::Tz::UTC, limits);
            let _ = recur::extent(&ev.content, limits);
        }
    }
}

/// What the lenient reader took, written by the strict writer, reads back without repairs or
/// errors and writes the same text again: a second implementation reading DisCal's output
/// never meets the input's slips.
fn write_back_is_fixed(import: &ics::Import, origin: &NodeKey) {
    let issued = crate::model::LocalDateTime::from_chrono(
        chrono::DateTime::<chrono::Utc>::from_timestamp(1_796_083_200, 0)
            .unwrap_or_default()
            .naive_utc(),
    );
    let write = |events: &[ics::ImportedEvent]| {
        ics::write_calendar(
            events.iter().map(|e| ics::IcsEvent {
                uid: &e.uid,
                content: &e.content,
                revision: 0,
                hop: 0,
                issued,
            }),
            &[],
        )
    };
    if import.events.is_empty() {
        return;
    }
    let written = write(&import.events);
    let again = ics::parse_calendar(&written, origin, &Limits::default());
    assert!(again.is_ok(), "refused: {:?}\n{written}", again.err());
    let Ok(again) = again else { return };
    assert!(again.errors.is_empty(), "{:?}\n{written}", again.errors);
    assert!(again.adjusted.is_empty(), "{:?}\n{written}", again.adjusted);
    assert_eq!(again.events.len(), import.events.len(), "{written}");
    assert_eq!(write(&again.events), written, "not a fixed point");
}

/// Parses arbitrary bytes as a view's query string, then computes its window at both ends of
/// the calendar it allows; must never panic (dates near the limits once could overflow).
pub fn view_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let extra = ["view", "theme", "accent", "month"];
    if let Ok((f, _)) = crate::view::ViewFilter::parse(pairs, &extra) {
        for today in [(1900, 1, 1), (2026, 12, 4), (2199, 12, 31)] {
            if let Some(d) = chrono::NaiveDate::from_ymd_opt(today.0, today.1, today.2) {
                let _ = f.window(d, Some(60));
                let _ = f.window(d, None);
            }
        }
        let _ = f.near_box();
        let _ = f.within(Some((0.0, 0.0)));
    }
}
