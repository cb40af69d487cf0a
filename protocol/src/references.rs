//! HTML's character references (`&amp;`, `&uuml;`, `&#8217;`) in text that is not HTML.
//! Exporters that build iCalendar from web content write them into SUMMARY, LOCATION and
//! DESCRIPTION (CiviCRM, WordPress, TYPO3); read literally, "M&uuml;nchen" is another word
//! than "München", and "&#8211;" a number. Readers of titles (the collector's matching, the
//! views) read them as the characters they stand for; the signed text is never changed.

use std::borrow::Cow;

/// The character(s) a reference at the start of `s` (just after its `&`) stands for, and the
/// bytes it takes up to and with its `;`: HTML5's named references (the table html5ever
/// reads them by) and every numeric one but NUL. `None` if none starts there.
pub fn reference(s: &str) -> Option<(String, usize)> {
    // The longest name, `CounterClockwiseContourIntegral;`, is 32 bytes.
    let mut window = s.len().min(40);
    while !s.is_char_boundary(window) {
        window -= 1;
    }
    let end = s[..window].find(';')?;
    let text = match s[..end].strip_prefix('#') {
        Some(n) => {
            let code = match n.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?.to_string()
        }
        None => {
            let &(a, b) = markup5ever::data::NAMED_ENTITIES.get(&s[..=end])?;
            [a, b]
                .into_iter()
                .filter(|c| *c != 0)
                .filter_map(char::from_u32)
                .collect()
        }
    };
    (!text.is_empty()).then_some((text, end + 1))
}

/// Whether `s` holds a reference [`reference()`] reads.
pub fn has_references(s: &str) -> bool {
    s.match_indices('&')
        .any(|(at, _)| reference(&s[at + 1..]).is_some())
}

/// `s` with its references read, and nothing else changed (line breaks, a lone `&`).
pub fn read(s: &str) -> Cow<'_, str> {
    if !has_references(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        match reference(rest) {
            Some((text, len)) => {
                out.push_str(&text);
                rest = &rest[len..];
            }
            None => out.push('&'),
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_as_exporters_write_them() {
        assert_eq!(
            read("M&uuml;nchen &amp; K&ouml;ln &#8211; Caf&#xE9;&hellip; &NotEqualTilde;"),
            "München & Köln – Café… ≂\u{338}"
        );
        for plain in [
            "R&D night",
            "a & b; c",
            "&unknown; &#0; &#xD800; &#99999999;",
            "&",
            "é&",
        ] {
            assert_eq!(read(plain), plain);
            assert!(!has_references(plain));
        }
        // A name cut by the end of the text, or a `;` far away, is not a reference.
        assert_eq!(read("&amp"), "&amp");
        assert_eq!(
            read(&format!("&{};", "a".repeat(50))),
            format!("&{};", "a".repeat(50))
        );
    }
}
