//! The text of a fetched body. Almost every feed and page is UTF-8; the rest name their
//! encoding in `Content-Type` (`charset=windows-1251`) or, for pages, in a `<meta>` near the
//! top, the way browsers find it. Read in Windows-1252 regardless, a Russian or Polish group's
//! page came out as mojibake.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8};

/// How far into a page its `<meta charset>` is looked for (HTML asks for it in the first 1024
/// bytes).
const PRESCAN: usize = 1024;

/// The body's text: UTF-8 when it is; otherwise in the encoding its `Content-Type` names, or
/// (for `html`) its own `<meta charset>` / `<meta http-equiv="Content-Type">`, by their WHATWG
/// labels (`windows-1251`, `iso-8859-2`, `shift_jis`, `gbk`, …). `None` when neither names one
/// the decoder knows: the caller's own fallback applies.
pub fn declared<'a>(
    bytes: &'a [u8],
    content_type: Option<&str>,
    html: bool,
) -> Option<Cow<'a, str>> {
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    let label = content_type.and_then(charset_of).or_else(|| {
        html.then(|| meta_charset(&bytes[..bytes.len().min(PRESCAN)]))
            .flatten()
    })?;
    // A body that says UTF-8 and is not: the caller's fallback keeps every byte.
    let encoding = Encoding::for_label(label.trim().as_bytes()).filter(|e| *e != UTF_8)?;
    // A BOM wins over the label, as in browsers.
    let (text, _, _) = encoding.decode(bytes);
    Some(text)
}

/// A fetched body's text. A page: in the encoding it declares ([`declared`]), else as the
/// iCalendar reader decodes (UTF-8, else Windows-1252). A feed: the iCalendar reader's UTF-8
/// first (it also mends a fold that split a character), then the declared encoding, then
/// Windows-1252.
pub fn text_of<'a>(bytes: &'a [u8], content_type: Option<&str>, html: bool) -> Cow<'a, str> {
    if html {
        return declared(bytes, content_type, true)
            .unwrap_or_else(|| discal_protocol::ics::decode_text(bytes).0);
    }
    match discal_protocol::ics::decode_text(bytes) {
        (text, false) => text,
        (fallback, true) => declared(bytes, content_type, false).unwrap_or(fallback),
    }
}

/// The `charset` parameter of a `Content-Type` value.
fn charset_of(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']).to_owned())
    })
}

/// The charset a page's head names: `<meta charset="…">`, or a `charset=` in a meta's
/// `content` (`<meta http-equiv="Content-Type" content="text/html; charset=…">`).
fn meta_charset(head: &[u8]) -> Option<String> {
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(at) = find(&lower[from..], b"<meta") {
        let start = from + at;
        let end = lower[start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset=") {
            let value: String = tag[c + 8..]
                .iter()
                .skip_while(|&&b| b == b'"' || b == b'\'' || b == b' ')
                .take_while(|&&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                .map(|&b| char::from(b))
                .collect();
            if !value.is_empty() {
                return Some(value);
            }
        }
        from = end;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_pages_are_read_in_the_encoding_they_name() {
        // "Встреча" (a meeting) in windows-1251, named by the page's meta.
        let (cyr, _, _) = encoding_rs::WINDOWS_1251.encode("Встреча");
        let page = [
            b"<html><head><meta charset=\"windows-1251\"><title>".as_slice(),
            &cyr,
            b"</title>",
        ]
        .concat();
        assert_eq!(
            declared(&page, Some("text/html"), true).as_deref(),
            Some("<html><head><meta charset=\"windows-1251\"><title>Встреча</title>")
        );
        // Named in http-equiv, old style; and by the header, which wins.
        let (pl, _, _) = encoding_rs::ISO_8859_2.encode("Spotkanie w Łodzi");
        let old = [
            b"<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=ISO-8859-2\">"
                .as_slice(),
            &pl,
        ]
        .concat();
        assert!(declared(&old, None, true)
            .unwrap()
            .ends_with("Spotkanie w Łodzi"));
        assert!(
            declared(&cyr, Some("text/calendar; charset=\"windows-1251\""), false)
                .is_some_and(|t| t == "Встреча")
        );
        // UTF-8, or no name the decoder knows: the caller's fallback.
        assert!(declared("Встреча".as_bytes(), None, true).is_none());
        assert!(declared(&cyr, None, true).is_none());
        assert!(declared(&cyr, Some("text/html; charset=klingon"), true).is_none());
        assert!(declared(&cyr, Some("text/html; charset=utf-8"), true).is_none());
        // A feed: windows-1251 by its header; Windows-1252 without one, every byte kept.
        assert_eq!(
            text_of(&cyr, Some("text/calendar; charset=windows-1251"), false),
            "Встреча"
        );
        assert_eq!(text_of(&cyr, None, false).chars().count(), 7);
        // A meta for the calendar is not looked for in a feed.
        assert!(declared(&page, None, false).is_none());
    }
}
