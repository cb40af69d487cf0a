//! WebDAV request bodies read into a small element tree, with limits, and the escaping the
//! responses use. Parsing is namespace-aware (clients pick their own prefixes) and refuses a
//! DOCTYPE outright, so no entity of any kind (external or "billion laughs") is ever expanded.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use std::borrow::Cow;

/// The DAV: namespace.
pub const DAV: &str = "DAV:";
/// CalDAV's namespace.
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CalendarServer's namespace (getctag).
pub const CS: &str = "http://calendarserver.org/ns/";
/// Apple iCal's namespace (calendar-color).
pub const ICAL: &str = "http://apple.com/ns/ical/";

/// Deepest element nesting accepted in a request body.
pub const MAX_DEPTH: usize = 32;
/// Most elements accepted in a request body (a multiget of a few thousand hrefs fits).
pub const MAX_ELEMENTS: usize = 20_000;
/// Most attributes on one element. Clients send a handful (namespace declarations included);
/// the XML parser's duplicate-attribute check costs the square of this.
pub const MAX_ATTRIBUTES: usize = 32;
/// Most namespace declarations in one body; each one costs a lookup on every name after it.
pub const MAX_NAMESPACES: usize = 64;

/// One element: namespace, local name, attributes (unprefixed), children, text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct El {
    /// Namespace URI ("" when none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes by local name.
    pub attrs: Vec<(String, String)>,
    /// Child elements in order.
    pub children: Vec<El>,
    /// Text content (concatenated, unescaped).
    pub text: String,
}

impl El {
    /// True if this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child `{ns}name`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a El> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a body was refused (400, with this message).
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Not well-formed.
    #[error("request body is not well-formed XML: {0}")]
    Malformed(String),
    /// A DOCTYPE (entities are not accepted).
    #[error("request body has a DOCTYPE; DTDs and entities are not accepted")]
    Doctype,
    /// Too deep or too many elements.
    #[error("request body is too large or too deeply nested (limits: depth {MAX_DEPTH}, {MAX_ELEMENTS} elements)")]
    TooBig,
    /// Too many attributes on an element or namespace declarations in the body.
    #[error("request body has too many attributes or namespace declarations (limits: {MAX_ATTRIBUTES} attributes per element, {MAX_NAMESPACES} namespace declarations)")]
    TooManyAttributes,
    /// No root element.
    #[error("request body has no root element")]
    Empty,
}

fn ns_of(r: ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.as_ref()).into_owned(),
        _ => String::new(),
    }
}

fn element(ns: ResolveResult<'_>, e: &quick_xml::events::BytesStart<'_>) -> Result<El, XmlError> {
    let mut el = El {
        ns: ns_of(ns),
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ..El::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let v = a
            .unescape_value()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        el.attrs.push((
            String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
            v.into_owned(),
        ));
    }
    Ok(el)
}

/// The tree being built, with the limits checked as elements arrive.
#[derive(Default)]
struct Tree {
    stack: Vec<El>,
    root: Option<El>,
    count: usize,
}

impl Tree {
    /// Counts one more element and checks the limits before it is kept.
    fn admit(&mut self) -> Result<(), XmlError> {
        if self.root.is_some() {
            return Err(XmlError::Malformed("more than one root element".into()));
        }
        self.count += 1;
        if self.count > MAX_ELEMENTS || self.stack.len() >= MAX_DEPTH {
            return Err(XmlError::TooBig);
        }
        Ok(())
    }

    /// A finished element goes to its parent, or becomes the root.
    fn attach(&mut self, el: El) {
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(el),
            None => self.root = Some(el),
        }
    }

    /// Text goes to the open element (text outside the root is ignored).
    fn text(&mut self, s: &str) {
        if let Some(top) = self.stack.last_mut() {
            top.text.push_str(s);
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

/// quick-xml reports `&amp;` and `&#38;` as events of their own. Only the five predefined
/// entities and character references exist here (no DTD).
fn entity(e: &quick_xml::events::BytesRef<'_>) -> Result<char, XmlError> {
    let c = if e.is_char_ref() {
        e.resolve_char_ref().map_err(malformed)?
    } else {
        match e.as_ref() {
            b"amp" => Some('&'),
            b"lt" => Some('<'),
            b"gt" => Some('>'),
            b"quot" => Some('"'),
            b"apos" => Some('\''),
            _ => None,
        }
    };
    c.ok_or_else(|| {
        XmlError::Malformed(format!(
            "unknown entity &{};",
            String::from_utf8_lossy(e.as_ref())
        ))
    })
}

/// Counts attributes per element and namespace declarations in one linear pass over the raw
/// bytes, before the parser sees them: the parser's own checks cost the square of the
/// attributes on an element and a lookup per declaration in scope, so a body of a megabyte of
/// attributes would cost seconds of CPU. Counts are by `=` and `xmlns` outside quoted values
/// inside tags; a body the parser would refuse anyway may be miscounted, never one it accepts.
fn prescan(body: &[u8]) -> Result<(), XmlError> {
    let mut in_tag = false;
    let mut quote: Option<u8> = None;
    let (mut attrs, mut namespaces) = (0usize, 0usize);
    for (i, &b) in body.iter().enumerate() {
        match (in_tag, quote, b) {
            (true, Some(q), _) if b == q => quote = None,
            (true, Some(_), _) => {}
            (true, None, b'"' | b'\'') => quote = Some(b),
            (true, None, b'>') => in_tag = false,
            (true, None, b'=') => {
                attrs += 1;
                if attrs > MAX_ATTRIBUTES {
                    return Err(XmlError::TooManyAttributes);
                }
            }
            (true, None, b'x') if body[i..].starts_with(b"xmlns") => {
                namespaces += 1;
                if namespaces > MAX_NAMESPACES {
                    return Err(XmlError::TooManyAttributes);
                }
            }
            (false, _, b'<') => {
                in_tag = true;
                attrs = 0;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses a request body into its root element.
pub fn parse(body: &[u8]) -> Result<El, XmlError> {
    prescan(body)?;
    let text = std::str::from_utf8(body).map_err(malformed)?;
    let mut r = NsReader::from_str(text);
    // Not trimmed here: quick-xml would trim each piece around an entity (`a &amp; b` would
    // become `a&b`); each element's text is trimmed once it ends.
    r.config_mut().trim_text(false);
    let mut tree = Tree::default();
    loop {
        let (ns, ev) = r.read_resolved_event().map_err(malformed)?;
        match ev {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(e) => {
                tree.admit()?;
                tree.stack.push(element(ns, &e)?);
            }
            Event::Empty(e) => {
                tree.admit()?;
                tree.attach(element(ns, &e)?);
            }
            Event::End(_) => {
                let mut el = tree.stack.pop().ok_or(XmlError::Empty)?;
                if el.text.trim().len() != el.text.len() {
                    el.text = el.text.trim().to_owned();
                }
                tree.attach(el);
            }
            Event::Text(t) => {
                let s = t.decode().map_err(malformed)?;
                tree.text(&quick_xml::escape::unescape(&s).map_err(malformed)?);
            }
            Event::GeneralRef(e) => tree.text(entity(&e)?.encode_utf8(&mut [0; 4])),
            Event::CData(t) => tree.text(&String::from_utf8_lossy(&t)),
            Event::Eof => break,
            _ => {}
        }
    }
    if !tree.stack.is_empty() {
        return Err(XmlError::Malformed("unclosed element".into()));
    }
    tree.root.ok_or(XmlError::Empty)
}

/// Whether XML 1.0 can carry `c` at all, escaped or not: not the controls other than tab, LF
/// and CR, nor U+FFFE and U+FFFF. An event's rules refuse controls in its text, but not those
/// two, so a peer's title may hold them.
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || !(c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}'))
}

/// `s` without what XML cannot carry ([`xml_char`]): one such character would make a whole
/// answer unreadable to the client's XML parser. Borrowed when there is none (the usual case).
pub fn xml_chars(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_char) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|&c| xml_char(c)).collect())
    }
}

/// Escapes text and attribute values, without what XML cannot carry ([`xml_chars`]).
pub fn esc(s: &str) -> Cow<'_, str> {
    match xml_chars(s) {
        Cow::Borrowed(s) => quick_xml::escape::escape(s),
        Cow::Owned(kept) => Cow::Owned(quick_xml::escape::escape(&kept).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_limits_and_entities() {
        let el = parse(br#"<?xml version="1.0"?><x:propfind xmlns:x="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><x:prop><c:calendar-data/><x:getetag/></x:prop></x:propfind>"#).unwrap();
        assert!(el.is(DAV, "propfind"));
        let prop = el.child(DAV, "prop").unwrap();
        assert!(prop.child(CALDAV, "calendar-data").is_some());
        assert!(prop.child(DAV, "getetag").is_some());
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><D:propfind xmlns:D="DAV:">&lol2;</D:propfind>"#;
        assert!(matches!(parse(bomb), Err(XmlError::Doctype)));
        let ext = br#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><D:href xmlns:D="DAV:">&e;</D:href>"#;
        assert!(matches!(parse(ext), Err(XmlError::Doctype)));
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert!(matches!(parse(deep.as_bytes()), Err(XmlError::TooBig)));
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"").is_err());
        let t = parse(br#"<D:href xmlns:D="DAV:">/a%20b&amp;c</D:href>"#).unwrap();
        assert_eq!(t.text, "/a%20b&c");
    }

    /// The attacks of the hardening review: 95,000 attributes on one element (quick-xml's
    /// duplicate check made that 9–10 s of CPU) and 40,000 namespace declarations (1.75 s).
    /// Both are refused by the linear prescan before the parser runs.
    #[test]
    fn text_keeps_the_spaces_around_entities() {
        let el = parse(b"<a xmlns=\"DAV:\">\n  <b> Rust &amp; Linux </b>\n</a>").unwrap();
        assert_eq!(el.children[0].text, "Rust & Linux");
        assert_eq!(el.text, "");
    }

    #[test]
    fn attribute_and_namespace_floods_are_refused_before_parsing() {
        let attrs: String = (0..95_000).map(|i| format!(" a{i}=\"x\"")).collect();
        let body = format!(r#"<D:propfind xmlns:D="DAV:"{attrs}/>"#);
        assert!(matches!(
            parse(body.as_bytes()),
            Err(XmlError::TooManyAttributes)
        ));
        let namespaces: String = (0..40_000)
            .map(|i| format!(" xmlns:n{i}=\"urn:x:{i}\""))
            .collect();
        let body = format!(r#"<D:propfind xmlns:D="DAV:"{namespaces}/>"#);
        assert!(matches!(
            parse(body.as_bytes()),
            Err(XmlError::TooManyAttributes)
        ));
        // Spread over many elements, each under the per-element cap: the document cap holds.
        let spread: String = (0..100)
            .map(|i| format!(r#"<D:prop xmlns:a{i}="urn:a" xmlns:b{i}="urn:b"/>"#))
            .collect();
        let body = format!(r#"<D:propfind xmlns:D="DAV:">{spread}</D:propfind>"#);
        assert!(matches!(
            parse(body.as_bytes()),
            Err(XmlError::TooManyAttributes)
        ));
        // Quoted values may hold `=`, `>` and `xmlns` without counting.
        let ok = br#"<D:propfind xmlns:D="DAV:" a="x=y>xmlns=1"><D:prop/></D:propfind>"#;
        assert!(parse(ok).is_ok());
    }
}
