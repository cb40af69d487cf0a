//! The lenient half of "lenient reader, strict writer": syntax slips that real exporters make
//! and that other parsers shrug off are repaired before the strict parser runs, each repair
//! named in the import's `adjusted` list. Only the syntax around values is touched (a byte
//! order mark, blanks around `;`, `=` and `:` in a property's name and parameters, lines
//! without a value); values themselves are never changed, and everything repaired still goes
//! through the same mapping, validation and size limits.

use std::borrow::Cow;

/// Lines named one by one in the adjustments; past this they are only counted.
const NAMED: usize = 5;

/// Repairs an unfolded document. Returns the text to parse and what was adjusted.
pub(crate) fn tidy(unfolded: &str) -> (String, Vec<String>) {
    let mut adjusted = Vec::new();
    let text = unfolded.strip_prefix('\u{feff}').unwrap_or(unfolded);
    if text.len() != unfolded.len() {
        adjusted.push("removed a byte order mark".to_string());
    }
    let mut out = String::with_capacity(text.len() + 2);
    let (mut dropped, mut respaced, mut outside) = (Vec::new(), Vec::new(), Vec::new());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        // Empty lines: the parser stops at one.
        if body.trim().is_empty() {
            continue;
        }
        let Some((head, value)) = split_at_value(body) else {
            dropped.push(body);
            continue;
        };
        let tight = tighten(head);
        if tight != head || head.ends_with(char::is_whitespace) {
            respaced.push(body);
        }
        // A blank between the colon and the value came with the blank before it.
        let value = if head.ends_with([' ', '\t']) {
            value.trim_start_matches([' ', '\t'])
        } else {
            value
        };
        let calendar = value
            .get(..9)
            .is_some_and(|v| v.eq_ignore_ascii_case("VCALENDAR"));
        if !inside {
            if !(calendar && tight.eq_ignore_ascii_case("BEGIN")) {
                outside.push(body);
                continue;
            }
            inside = true;
        } else if calendar && tight.eq_ignore_ascii_case("END") {
            inside = false;
            if value.len() != 9 {
                adjusted.push(format!("read {body:?} as END:VCALENDAR"));
                out.push_str("END:VCALENDAR\r\n");
                continue;
            }
        }
        out.push_str(&tight);
        out.push(':');
        out.push_str(value);
        out.push_str("\r\n");
    }
    if inside {
        adjusted.push("added the missing END:VCALENDAR".to_string());
        out.push_str("END:VCALENDAR\r\n");
    }
    note(&mut adjusted, "dropped lines without a value:", &dropped);
    note(
        &mut adjusted,
        "removed blanks around ';', '=' or ':' in",
        &respaced,
    );
    note(&mut adjusted, "dropped text outside VCALENDAR:", &outside);
    (out, adjusted)
}

fn note(adjusted: &mut Vec<String>, what: &str, lines: &[&str]) {
    if lines.is_empty() {
        return;
    }
    let shown: Vec<String> = lines
        .iter()
        .take(NAMED)
        .map(|l| format!("{:?}", l.chars().take(60).collect::<String>()))
        .collect();
    let more = lines.len().saturating_sub(NAMED);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    adjusted.push(format!("{what} {}{tail}", shown.join(", ")));
}

/// Splits a content line at the colon that starts its value: the first one outside a quoted
/// parameter value. `None` if there is none.
fn split_at_value(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

/// A name-and-parameters part without blanks around `;` and `=`, and none at its ends.
/// Blanks inside a quoted parameter value are kept.
fn tighten(head: &str) -> Cow<'_, str> {
    if !head.contains([' ', '\t']) {
        return Cow::Borrowed(head);
    }
    let mut out = String::with_capacity(head.len());
    let mut quoted = false;
    let mut pending = String::new();
    for c in head.trim().chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c == ' ' || c == '\t') {
            pending.push(c);
            continue;
        }
        // Blanks before a separator, or right after one, go; others (inside a parameter
        // value) stay.
        let after_sep = out.ends_with([';', '=', ',']);
        if !(c == ';' || c == '=' || c == ',' || after_sep) {
            out.push_str(&pending);
        }
        pending.clear();
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_are_repaired_and_named() {
        let doc = "\u{feff}BEGIN:VCALENDAR\r\nLOCATION ; LANGUAGE = en : Berlin: Mitte\r\n\
                   X-APPLE-RADIUS=49.91\r\nSUMMARY;X-P=\"a : b\":Talk\r\nEND:VCALENDAR\r\n";
        let (text, adjusted) = tidy(doc);
        assert_eq!(
            text,
            "BEGIN:VCALENDAR\r\nLOCATION;LANGUAGE=en:Berlin: Mitte\r\n\
             SUMMARY;X-P=\"a : b\":Talk\r\nEND:VCALENDAR\r\n"
        );
        assert_eq!(adjusted.len(), 3, "{adjusted:?}");
        assert!(adjusted[1].contains("X-APPLE-RADIUS"), "{adjusted:?}");
    }

    #[test]
    fn a_clean_document_is_unchanged() {
        let doc = "BEGIN:VCALENDAR\r\nSUMMARY:a ; b = c\r\nEND:VCALENDAR\r\n\
                   BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
        let (text, adjusted) = tidy(doc);
        assert_eq!(text, doc);
        assert!(adjusted.is_empty(), "{adjusted:?}");
    }

    #[test]
    fn blanks_inside_parameter_values_stay() {
        assert_eq!(
            tighten("DTSTART ; TZID = W. Europe Standard Time"),
            "DTSTART;TZID=W. Europe Standard Time"
        );
        assert_eq!(tighten("X-A;P=\"x ; y\""), "X-A;P=\"x ; y\"");
    }
}
