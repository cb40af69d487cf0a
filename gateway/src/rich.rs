//! Descriptions written in HTML. Google Calendar's feeds, and the exporters that copy it, put
//! HTML in DESCRIPTION (`<p>`, `<br>`, `<a href>`, `&nbsp;`), and calendar apps show it as
//! such; shown as text, a visitor read the tags. The event page shows a few harmless elements
//! of it (paragraphs, line breaks, lists, emphasis, web links) and nothing else: no attribute
//! but a link's checked `href`, no script, style or embedded content, every text escaped. The
//! feeds that carry text (Atom, RSS, schema.org's `description`) get the text alone.
//!
//! The stored event keeps the origin's DESCRIPTION as it was signed; only the display changes.

use std::borrow::Cow;
use std::fmt::Write as _;

use maud::{Escaper, Markup, PreEscaped};
use scraper::{ElementRef, Html, Node};

use crate::display::safe_link;

/// How deep the elements shown are nested; below that, their text alone.
const MAX_NESTING: usize = 32;

/// Whether a description is HTML rather than text: it holds one of the elements exporters
/// write, or a character reference (`&amp;`, `&uuml;`, `&#8217;`). A `<` in plain text
/// (`a < b`, `<your name>`) does not make it HTML.
pub fn is_html(d: &str) -> bool {
    has_markup(d) || discal_protocol::references::has_references(d)
}

/// Whether `d` holds one of the elements exporters write into text properties.
fn has_markup(d: &str) -> bool {
    const MARKS: &[&str] = &[
        "<br",
        "<p>",
        "<p ",
        "</p>",
        "<a href",
        "</a>",
        "<b>",
        "</b>",
        "<i>",
        "</i>",
        "<u>",
        "<strong",
        "</strong>",
        "<em>",
        "</em>",
        "<ul",
        "<ol",
        "<li",
        "</div>",
        "</span>",
    ];
    let lower = d.to_ascii_lowercase();
    MARKS.iter().any(|m| lower.contains(m))
}

/// The description for the event page: the harmless part of its HTML, or `None` for text
/// (which the page shows as it is, line breaks kept).
pub fn description_html(d: &str) -> Option<Markup> {
    if !has_markup(d) {
        return None;
    }
    let doc = Html::parse_fragment(d);
    let mut out = String::with_capacity(d.len());
    children_html(doc.root_element(), 0, &mut out);
    Some(PreEscaped(out))
}

/// A text description for the event page: the text, its character references read, escaped,
/// and its `http(s)` URLs as links (Meetup's and most exporters' descriptions end with the
/// event's or the meeting's URL).
pub fn text_with_links(d: &str) -> Markup {
    let read = discal_protocol::references::read(d);
    let d: &str = &read;
    let mut out = String::with_capacity(d.len() + 64);
    // Lower-cased once (the same byte offsets): `HTTPS://` is a URL too.
    let lower = d.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = find_url(&lower[from..]).map(|i| from + i) {
        escape(&d[from..at], &mut out);
        let url = &d[at..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
            .unwrap_or(url.len());
        // Sentence punctuation after a URL is not part of it; a closing bracket is only when
        // the URL opened one (Wikipedia's `…_(band)`).
        let mut link = &url[..end];
        let (opened, mut closed) = (link.matches('(').count(), link.matches(')').count());
        while let Some(last) = link.chars().last() {
            let unbalanced = last == ')' && opened < closed;
            if !(matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'') || unbalanced) {
                break;
            }
            closed -= usize::from(last == ')');
            link = &link[..link.len() - last.len_utf8()];
        }
        match safe_link(link) {
            Some(href) if href.len() > "https://".len() => {
                out.push_str("<a href=\"");
                escape(href, &mut out);
                out.push_str("\" rel=\"nofollow ugc noopener\" target=\"_blank\">");
                escape(href, &mut out);
                out.push_str("</a>");
            }
            _ => escape(link, &mut out),
        }
        from = at + link.len();
    }
    escape(&d[from..], &mut out);
    PreEscaped(out)
}

/// Where the first `http://` or `https://` of lower-cased `s` starts.
fn find_url(lower: &str) -> Option<usize> {
    [lower.find("https://"), lower.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

/// The description as text (Atom, RSS, schema.org): HTML's paragraphs, breaks and list
/// items become line breaks, its links their text, its entities their characters.
///
/// One linear pass, without the HTML parser: a feed shows hundreds of descriptions, and the
/// parser's cost grows with nesting (5,000 characters of nested `div`s take it 2 ms).
pub fn description_text(d: &str) -> Cow<'_, str> {
    if !has_markup(d) {
        return discal_protocol::references::read(d);
    }
    let mut out = String::with_capacity(d.len());
    let mut rest = d;
    while let Some(lt) = rest.find('<') {
        text_into(&rest[..lt], &mut out);
        rest = &rest[lt + 1..];
        let closing = rest.starts_with('/');
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if name.is_empty() {
            // Not a tag: a `<` of the text.
            out.push('<');
            continue;
        }
        rest = rest.find('>').map_or("", |gt| &rest[gt + 1..]);
        if hidden(&name) && !closing {
            // To its end tag, or to the end.
            let lower = rest.to_ascii_lowercase();
            rest = lower
                .find(&format!("</{name}"))
                .and_then(|at| rest[at..].find('>').map(|gt| &rest[at + gt + 1..]))
                .unwrap_or("");
            continue;
        }
        match name.as_str() {
            "br" => out.push('\n'),
            "li" if !closing => out.push_str("\n• "),
            "p" | "div" | "blockquote" | "pre" | "tr" | "table" | "ul" | "ol" | "h1" | "h2"
            | "h3" | "h4" | "h5" | "h6" => out.push_str("\n\n"),
            _ => {}
        }
    }
    text_into(rest, &mut out);
    // At most one blank line between blocks, none at either end.
    let mut tidy = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines().map(str::trim) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !tidy.is_empty() {
            tidy.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        tidy.push_str(line);
    }
    Cow::Owned(tidy)
}

/// HTML text: white space (newlines included) as one space, entities as their characters
/// ([`discal_protocol::references`]).
fn text_into(t: &str, out: &mut String) {
    let mut last_space = out.ends_with([' ', '\n']);
    let mut rest = t;
    while !rest.is_empty() {
        if let Some((text, len)) = rest
            .strip_prefix('&')
            .and_then(discal_protocol::references::reference)
        {
            out.push_str(&text);
            last_space = false;
            rest = &rest[len + 1..];
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        rest = &rest[c.len_utf8()..];
        if c.is_whitespace() && c != '\u{a0}' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
}

/// Elements whose content is not text a reader should see.
fn hidden(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "template"
            | "iframe"
            | "object"
            | "embed"
            | "svg"
            | "math"
            | "noscript"
            | "head"
            | "title"
            | "select"
            | "textarea"
    )
}

fn escape(s: &str, out: &mut String) {
    // Writing into a String cannot fail.
    let _ = Escaper::new(out).write_str(s);
}

fn children_html(el: ElementRef<'_>, depth: usize, out: &mut String) {
    for child in el.children() {
        match child.value() {
            Node::Text(t) => escape(t, out),
            Node::Element(_) => {
                if let Some(e) = ElementRef::wrap(child) {
                    element_html(e, depth + 1, out);
                }
            }
            _ => {}
        }
    }
}

fn element_html(el: ElementRef<'_>, depth: usize, out: &mut String) {
    let name = el.value().name();
    if hidden(name) {
        return;
    }
    if depth > MAX_NESTING {
        el.text().for_each(|t| escape(t, out));
        return;
    }
    // Headings read as a paragraph of strong text; other blocks as a paragraph.
    let (open, close): (Cow<'_, str>, &str) = match name {
        "br" => {
            out.push_str("<br>");
            return;
        }
        "p" | "div" | "blockquote" | "pre" | "tr" | "table" => ("<p>".into(), "</p>"),
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => ("<p><strong>".into(), "</strong></p>"),
        "ul" | "ol" | "li" | "b" | "strong" | "i" | "em" | "u" => {
            (format!("<{name}>").into(), closing(name))
        }
        "a" => match el.value().attr("href").and_then(safe_link) {
            Some(href) => {
                let mut open = String::from("<a href=\"");
                escape(href, &mut open);
                open.push_str("\" rel=\"nofollow ugc noopener\" target=\"_blank\">");
                (open.into(), "</a>")
            }
            None => ("".into(), ""),
        },
        _ => ("".into(), ""),
    };
    out.push_str(&open);
    children_html(el, depth, out);
    out.push_str(close);
}

fn closing(name: &str) -> &'static str {
    match name {
        "ul" => "</ul>",
        "ol" => "</ol>",
        "li" => "</li>",
        "b" => "</b>",
        "strong" => "</strong>",
        "i" => "</i>",
        "em" => "</em>",
        _ => "</u>",
    }
}

/// Panics unless `shown` (what [`description_html`] or [`text_with_links`] made) holds only the
/// allowed elements, with no attribute but an `http(s)` link's: the invariant the fuzz target
/// and the tests check.
#[cfg(any(test, feature = "test-utils"))]
pub fn check_shown(from: &str, shown: &str) {
    const ALLOWED: &[&str] = &[
        "br", "p", "/p", "ul", "/ul", "ol", "/ol", "li", "/li", "b", "/b", "strong", "/strong",
        "i", "/i", "em", "/em", "u", "/u", "/a",
    ];
    for tag in shown.split('<').skip(1) {
        let t = &tag[..tag.find('>').expect("every tag closed")];
        let scheme = t.get(..16).unwrap_or(t).to_ascii_lowercase();
        let link = (scheme.starts_with("a href=\"http://")
            || scheme.starts_with("a href=\"https://"))
            && t.ends_with("\" rel=\"nofollow ugc noopener\" target=\"_blank\"")
            && t.matches('"').count() == 6;
        assert!(ALLOWED.contains(&t) || link, "{from:?} -> {shown:?}: {t:?}");
    }
}

/// Entry point of the `description` fuzz target (its seeds run in the normal suite): any text
/// as a description, a title or a place; nothing panics, and what is shown passes
/// [`check_shown`].
#[cfg(feature = "test-utils")]
pub fn fuzz_description(data: &[u8]) {
    let Ok(d) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(h) = description_html(d) {
        check_shown(d, &h.into_string());
    }
    check_shown(d, &text_with_links(d).into_string());
    let _ = (
        description_text(d),
        crate::display::line(d, 300),
        is_html(d),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOGLE: &str = "<p>Monthly meeting of the <b>Linux User Group</b>.</p><p>Agenda:</p><ul><li>Talks</li><li>Install party</li></ul><br>More at <a href=\"https://lug.example.org/meet\">our site</a>&nbsp;– see you!<br><br>Fish &amp; chips after.";

    #[test]
    fn a_google_description_shows_its_harmless_html() {
        let h = description_html(GOOGLE).unwrap().into_string();
        assert_eq!(
            h,
            "<p>Monthly meeting of the <b>Linux User Group</b>.</p><p>Agenda:</p><ul><li>Talks</li><li>Install party</li></ul><br>More at <a href=\"https://lug.example.org/meet\" rel=\"nofollow ugc noopener\" target=\"_blank\">our site</a>\u{a0}– see you!<br><br>Fish &amp; chips after."
        );
        assert_eq!(
            description_text(GOOGLE),
            "Monthly meeting of the Linux User Group.\n\nAgenda:\n\n• Talks\n• Install party\n\nMore at our site\u{a0}– see you!\n\nFish & chips after."
        );
    }

    #[test]
    fn text_stays_text() {
        for d in ["Bring a laptop.\nDoors at 7 <your name> a < b", "R&D night"] {
            assert!(!is_html(d));
            assert!(description_html(d).is_none());
            assert_eq!(description_text(d), d);
        }
    }

    #[test]
    fn nothing_active_survives() {
        let hostile = "<p onclick=\"x()\" style=\"color:red\">Hi</p><script>alert(1)</script>\
            <img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">click</a>\
            <a href=\"https://ok.example/\" onmouseover=\"x()\">ok</a><iframe src=\"https://evil.example\"></iframe>\
            <svg><a href=\"https://x.example\">svg</a></svg><style>body{}</style>\
            <b>&lt;script&gt;alert(4)&lt;/script&gt;</b>";
        let h = description_html(hostile).unwrap().into_string();
        assert_eq!(
            h,
            "<p>Hi</p>click<a href=\"https://ok.example/\" rel=\"nofollow ugc noopener\" target=\"_blank\">ok</a><b>&lt;script&gt;alert(4)&lt;/script&gt;</b>"
        );
        // Deep nesting costs no more than its text.
        let deep = format!("<br>{}x{}", "<b>".repeat(10_000), "</b>".repeat(10_000));
        let h = description_html(&deep).unwrap().into_string();
        assert!(
            h.contains('x') && h.matches("<b>").count() <= MAX_NESTING,
            "{}",
            h.len()
        );
        assert_eq!(description_text(&deep), "x");
        assert_eq!(
            description_text(
                "<p>a &lt;b&gt; &#8211; &#x2014; &bogus; &#0; &</p><style>p{}</style>c<script>x"
            ),
            "a <b> – — &bogus; &#0; &\n\nc"
        );
    }

    /// Random markup from the pieces attacks are made of: whatever comes out holds only the
    /// allowed elements, and links only to http(s).
    #[test]
    fn random_markup_shows_only_the_allowed_elements() {
        let atoms = [
            "<",
            ">",
            "/",
            "a",
            "b",
            "p",
            "br",
            "li",
            "ul",
            "script",
            "style",
            " href=\"",
            "\"",
            "'",
            "javascript:",
            "https://x/",
            "&",
            "#",
            "x",
            ";",
            "amp",
            "nbsp",
            "#1234",
            "#x1F600",
            "é",
            "😀",
            " ",
            "\n",
            "on",
            "click=",
            "svg",
            "=",
            "!--",
            "-->",
            "<![CDATA[",
            "iframe",
            "&#0;",
            "&#xD800;",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % 1_000_003).unwrap()
        };
        for _ in 0..20_000 {
            let mut d = String::from("<br>");
            for _ in 0..next() % 40 {
                d.push_str(atoms[next() % atoms.len()]);
            }
            check_shown(&d, &description_html(&d).unwrap().into_string());
            check_shown(&d, &text_with_links(&d).into_string());
            let _ = description_text(&d);
        }
    }

    #[test]
    fn urls_in_text_are_links() {
        let h = text_with_links(
            "Join: https://meetup.com/lug/events/1. (See https://en.wikipedia.org/wiki/Foo_(bar)) \
             <b>http://</b> HTTPS://A.example/x?a=1&b=\"2\"",
        )
        .into_string();
        assert_eq!(
            h,
            "Join: <a href=\"https://meetup.com/lug/events/1\" rel=\"nofollow ugc noopener\" target=\"_blank\">https://meetup.com/lug/events/1</a>. \
             (See <a href=\"https://en.wikipedia.org/wiki/Foo_(bar)\" rel=\"nofollow ugc noopener\" target=\"_blank\">https://en.wikipedia.org/wiki/Foo_(bar)</a>) \
             &lt;b&gt;http://&lt;/b&gt; <a href=\"HTTPS://A.example/x?a=1&amp;b=\" rel=\"nofollow ugc noopener\" target=\"_blank\">HTTPS://A.example/x?a=1&amp;b=</a>&quot;2&quot;"
        );
        assert_eq!(
            text_with_links("no links here").into_string(),
            "no links here"
        );
    }

    /// What CiviCRM, WordPress and TYPO3 exports put in SUMMARY and LOCATION.
    #[test]
    fn titles_and_places_read_their_references_and_keep_their_text() {
        let line = |t: &str| crate::display::line(t, 300).into_owned();
        assert_eq!(line("Rock &amp; Roll &#8211; Night"), "Rock & Roll – Night");
        assert_eq!(
            line("M&uuml;nchen Caf&eacute; &hellip; &NotEqualTilde;"),
            "München Café … ≂̸"
        );
        // A title is text: what looks like markup in it is what its author typed (an HTML
        // workshop's "The <b> and <p> tags"), shown as such, and a hostile one is left to the
        // escaping of where it goes.
        for t in [
            "Stammtisch <b>im</b> Hackerspace",
            "The <b> and <p> tags",
            "R&D night",
            "<img src=x onerror=alert(1)>",
            "a < b > c",
            "&unknown; x",
        ] {
            assert_eq!(line(t), t);
        }
    }

    #[test]
    fn a_text_description_with_references_keeps_its_line_breaks() {
        let d = "Line one &amp; more\nLine two: https://civi.example/e?id=1&amp;reset=1";
        assert!(description_html(d).is_none());
        assert_eq!(
            text_with_links(d).into_string(),
            "Line one &amp; more\nLine two: <a href=\"https://civi.example/e?id=1&amp;reset=1\" rel=\"nofollow ugc noopener\" target=\"_blank\">https://civi.example/e?id=1&amp;reset=1</a>"
        );
        assert_eq!(
            description_text(d),
            "Line one & more\nLine two: https://civi.example/e?id=1&reset=1"
        );
    }
}
