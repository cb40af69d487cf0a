//! Line ends as real exporters write them: CRLF, LF, CR, and mixes of them (a file edited by
//! hand, or a CRLF feed with an LF-only block pasted in), with and without a byte order mark.

use discal_protocol::ics::{decode_text, parse_calendar};
use discal_protocol::{Limits, NodeSecret};

const LINES: &[&str] = &[
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//x//y//EN",
    "BEGIN:VEVENT",
    "UID:a@example.org",
    "DTSTAMP:20261201T000000Z",
    "DTSTART:20270110T180000Z",
    "SUMMARY:A long title that an exporter folded at an odd place, with an ä in it",
    "END:VEVENT",
    "END:VCALENDAR",
];

fn summary(text: &str) -> String {
    let key = NodeSecret::from_seed_array([1; 32]).public();
    let imp =
        parse_calendar(text, &key, &Limits::default()).unwrap_or_else(|e| panic!("{e}\n{text:?}"));
    assert_eq!(imp.events.len(), 1, "{:?}", imp.errors);
    imp.events[0].content.master.summary.clone().unwrap()
}

#[test]
fn every_mix_of_line_ends_reads_the_same() {
    let want = "A long title that an exporter folded at an odd place, with an ä in it";
    let n = LINES.len();
    // Each line end chosen from CRLF, LF and CR by the digits of i in base 3.
    for i in 0..3usize.pow(4) {
        let mut text = String::new();
        for (j, l) in LINES.iter().enumerate() {
            text.push_str(l);
            let pick = (i / 3usize.pow((j % 4) as u32)) % 3;
            // The last line's end varies on its own: with CRLF, LF, CR or none.
            let pick = if j == n - 1 { i % 4 } else { pick };
            text.push_str(["\r\n", "\n", "\r", ""][pick]);
        }
        assert_eq!(summary(&text), want, "mix {i}");
    }
}

#[test]
fn folds_with_any_line_end_unfold() {
    let want = "A long title that an exporter folded at an odd place, with an ä in it";
    for end in ["\r\n", "\n", "\r"] {
        let text = LINES
            .iter()
            .map(|l| {
                if l.starts_with("SUMMARY") {
                    format!("SUMMARY:A long title that an exp{end} orter folded at an odd place, with an ä in it")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(end);
        assert_eq!(summary(&text), want, "{end:?}");
    }
}

#[test]
fn a_byte_order_mark_is_read() {
    let text = format!("\u{feff}{}\n", LINES.join("\n"));
    let (decoded, _) = decode_text(text.as_bytes());
    assert!(summary(&decoded).ends_with("with an ä in it"));
}

#[test]
fn a_document_saved_as_utf16_is_read() {
    let text = format!("{}\r\n", LINES.join("\r\n"));
    let le = |bom: bool| {
        let mut b: Vec<u8> = if bom { vec![0xff, 0xfe] } else { Vec::new() };
        b.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        b
    };
    let mut be = vec![0xfe, 0xff];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    for bytes in [le(true), le(false), be] {
        let (decoded, fallback) = decode_text(&bytes);
        assert!(!fallback);
        assert!(summary(&decoded).ends_with("with an ä in it"));
    }
    // Without a mark, ASCII in UTF-16 is valid UTF-8 too, with a NUL after every letter.
    let ascii: Vec<u8> = text
        .replace('ä', "a")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(std::str::from_utf8(&ascii).is_ok());
    assert!(summary(&decode_text(&ascii).0).ends_with("with an a in it"));
}
