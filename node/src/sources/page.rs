//! Event pages: schema.org `Event` (and its subtypes) in JSON-LD, microdata and RDFa Lite,
//! microformats2 `h-event` and classic hCalendar `vevent`, read into iCalendar and then through
//! the same mapping, validation and limits as a feed. Pure: a page's text in, events and notes
//! out.
//!
//! Each markup is first read into one JSON shape (schema.org's property names), so they all
//! share one mapping (`vevent`). What a page says that has no place in an event is named
//! per event in the notes, not dropped in silence.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone};
use discal_protocol::ics::{escape_text, fold_line, parse_calendar};
use discal_protocol::{Limits, NodeKey, Tz};
use scraper::{ElementRef, Html, Selector};
use serde_json::{json, Map, Value};

/// The largest page read (bigger ones are cut here; event markup sits near the top).
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;
/// Events read from one page.
const MAX_EVENTS: usize = 500;
/// How deep JSON-LD is searched for events.
const MAX_DEPTH: usize = 8;

/// What a page held.
#[derive(Debug, Default)]
pub struct PageEvents {
    /// The events that mapped, those that did not, and notes (properties not mapped).
    pub reading: super::Reading,
    /// The page's canonical URL.
    pub canonical: String,
}

fn selector(s: &str) -> Selector {
    Selector::parse(s).expect("a fixed, valid selector")
}

/// Reads the events of the page at `page_url`; `tz` is the zone of times written without an
/// offset.
pub fn read_page(
    html: &str,
    page_url: &str,
    tz: Option<Tz>,
    origin: &NodeKey,
    limits: &Limits,
) -> PageEvents {
    let today = chrono::Utc::now().with_timezone(&tz.unwrap_or(Tz::UTC));
    read_page_on(html, page_url, tz, origin, limits, today.date_naive())
}

/// [`read_page`] on a given day: a schedule that names no first day ("first and third
/// Wednesday of the month") starts at its first occurrence on or after `today`.
pub fn read_page_on(
    html: &str,
    page_url: &str,
    tz: Option<Tz>,
    origin: &NodeKey,
    limits: &Limits,
    today: NaiveDate,
) -> PageEvents {
    let (html, deep) = shallow(cut(html, MAX_PAGE_BYTES));
    let doc = Html::parse_document(html);
    let base = url::Url::parse(page_url).ok();
    let canonical = doc
        .select(&selector("link[rel~=canonical][href]"))
        .filter_map(|l| l.value().attr("href"))
        .find_map(|h| absolute(base.as_ref(), h))
        .unwrap_or_else(|| page_url.to_string());
    let mut notes = Vec::new();
    if deep {
        notes.push(format!(
            "the page nests elements deeper than {MAX_NESTING}: read up to there"
        ));
    }
    let mut refused = Vec::new();
    let mut items = json_ld(&doc, &mut notes);
    items.extend(attribute_items(&doc, base.as_ref(), Attrs::Microdata));
    items.extend(attribute_items(&doc, base.as_ref(), Attrs::Rdfa));
    items.extend(h_events(&doc, base.as_ref()));
    let (mut seen, mut used) = (
        std::collections::HashSet::new(),
        std::collections::HashSet::new(),
    );
    let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//DisCal//page//EN\r\n");
    let mut n = 0;
    for item in items.iter().take(MAX_EVENTS) {
        let name = plain(&item["name"]).unwrap_or_default();
        // The same event in JSON-LD and in microdata on one page is one event; two classes of
        // one name on different schedules are two.
        let schedule = match &item["eventSchedule"] {
            Value::Null => String::new(),
            v => v.to_string(),
        };
        if !seen.insert((name.clone(), plain(&item["startDate"]), schedule)) {
            continue;
        }
        n += 1;
        let uid = uid_for(item, &canonical, base.as_ref(), n, &mut used);
        let label = if name.is_empty() { uid.clone() } else { name };
        match vevent(item, &uid, tz, base.as_ref(), today) {
            Ok((lines, mut unmapped)) => {
                text.push_str(&lines);
                if !unmapped.is_empty() {
                    let more = unmapped.len().saturating_sub(16);
                    unmapped.truncate(16);
                    if more > 0 {
                        unmapped.push(format!("and {more} more"));
                    }
                    notes.push(format!("{label}: not mapped: {}", unmapped.join(", ")));
                }
            }
            Err(why) => refused.push(format!("{label}: {why}")),
        }
    }
    text.push_str("END:VCALENDAR\r\n");
    let mut r = super::Reading {
        refused,
        notes,
        ..super::Reading::default()
    };
    match parse_calendar(&text, origin, limits) {
        Ok(imp) => {
            r.refused.extend(imp.errors.iter().map(ToString::to_string));
            for e in &imp.events {
                r.notes
                    .extend(e.warnings.iter().map(|w| format!("{}: {w}", e.uid)));
            }
            r.events = imp.events;
        }
        Err(discal_protocol::ics::IcsError::NoEvents) => {}
        Err(e) => r.refused.push(e.to_string()),
    }
    PageEvents {
        reading: r,
        canonical,
    }
}

/// How deep elements may nest in what is parsed as HTML (real pages stay under a hundred;
/// Chromium's parser stops nesting at 512). html5ever's tree builder looks through its stack
/// of open elements at many tags, so a page of nested elements costs its length times its
/// depth: 100,000 nested `div`s took over 30 s of CPU. A page is read up to the tag that would
/// go deeper, and that is noted; within the cap the worst page measured costs about a second
/// (`cargo bench -p discal-node --bench sources`).
const MAX_NESTING: usize = 256;

/// Elements that hold nothing, or whose end tag the next sibling implies: they do not pile up.
const FLAT: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead",
    "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rtc", "rp",
];
/// Elements whose content is text up to their end tag.
const RAW: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
];

/// The byte offset of the first tag that would nest elements deeper than [`MAX_NESTING`], by
/// a linear scan that keeps the open elements as HTML's parser does (an end tag closes up to
/// its element, a stray one is ignored); `None` if the document stays within it.
fn nesting_cut(html: &str) -> Option<usize> {
    let b = html.as_bytes();
    let find = |from: usize, what: &[u8]| {
        b.get(from..)?
            .windows(what.len())
            .position(|w| w.eq_ignore_ascii_case(what))
            .map(|p| from + p)
    };
    let is_foreign = |n: &str| n.eq_ignore_ascii_case("svg") || n.eq_ignore_ascii_case("math");
    let mut open: Vec<&str> = Vec::new();
    // How many of the open elements are `svg` or `math`.
    let mut foreign = 0usize;
    let mut i = 0;
    while let Some(off) = b.get(i..).and_then(|r| r.iter().position(|c| *c == b'<')) {
        let start = i + off;
        i = start + 1;
        if b[i..].starts_with(b"!--") {
            i = find(i + 3, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        let closing = b.get(i) == Some(&b'/');
        i += usize::from(closing);
        let len = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b':')
            .count();
        if len == 0 || !b[i].is_ascii_alphabetic() {
            continue;
        }
        let name = &html[i..i + len];
        i += len;
        // To the tag's end, quoted attribute values and all.
        let (mut quote, mut self_closing) = (None, false);
        while let Some(&c) = b.get(i) {
            i += 1;
            match (quote, c) {
                (Some(q), _) if c == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(c),
                (None, b'>') => {
                    self_closing = b[i - 2] == b'/';
                    break;
                }
                _ => {}
            }
        }
        if FLAT.iter().any(|f| f.eq_ignore_ascii_case(name)) {
            continue;
        }
        if closing {
            if let Some(at) = open.iter().rposition(|o| o.eq_ignore_ascii_case(name)) {
                foreign -= open[at..].iter().filter(|o| is_foreign(o)).count();
                open.truncate(at);
            }
            continue;
        }
        if RAW.iter().any(|r| r.eq_ignore_ascii_case(name)) {
            i = find(i, format!("</{name}").as_bytes()).unwrap_or(b.len());
            continue;
        }
        // `<x/>` closes itself only inside SVG and MathML; in HTML it opens an element.
        if self_closing && foreign > 0 {
            continue;
        }
        foreign += usize::from(is_foreign(name));
        open.push(name);
        if open.len() > MAX_NESTING {
            return Some(start);
        }
    }
    None
}

/// `html` up to [`nesting_cut`], and whether it was cut.
fn shallow(html: &str) -> (&str, bool) {
    match nesting_cut(html) {
        Some(at) => (&html[..at], true),
        None => (html, false),
    }
}

/// The outermost elements `pick` chooses, in document order, at most `max`: one walk over the
/// tree that does not go inside a chosen element (asking each element for its ancestors
/// instead costs the page's size times its depth).
fn outermost<'a>(
    doc: &'a Html,
    pick: impl Fn(ElementRef<'a>) -> bool,
    max: usize,
) -> Vec<ElementRef<'a>> {
    let mut out = Vec::new();
    let mut stack = vec![doc.root_element()];
    while let Some(el) = stack.pop() {
        if out.len() >= max {
            break;
        }
        if pick(el) {
            out.push(el);
            continue;
        }
        let at = stack.len();
        stack.extend(el.children().filter_map(ElementRef::wrap));
        stack[at..].reverse();
    }
    out
}

fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn absolute(base: Option<&url::Url>, href: &str) -> Option<String> {
    let u = match base {
        Some(b) => b.join(href.trim()).ok()?,
        None => url::Url::parse(href.trim()).ok()?,
    };
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// An event is named by its own `url` (the same on a listing and on its own page), else by the
/// page's canonical URL; one more without either is `<canonical>#event-<n>`.
fn uid_for(
    item: &Value,
    canonical: &str,
    base: Option<&url::Url>,
    n: usize,
    used: &mut std::collections::HashSet<String>,
) -> String {
    let own = plain(&item["url"]).and_then(|u| absolute(base, &u));
    let uid = [own, Some(canonical.to_string())]
        .into_iter()
        .flatten()
        .find(|c| !used.contains(c))
        .unwrap_or_else(|| format!("{canonical}#event-{n}"));
    used.insert(uid.clone());
    uid
}

// ---- links to follow (sitemap sources) ----

/// Whether a URL is likely a page (not an image, a stylesheet, a download).
fn page_like(u: &url::Url) -> bool {
    const SKIP: &[&str] = &[
        ".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".ico", ".pdf", ".zip",
        ".gz", ".mp3", ".mp4", ".ics", ".xml", ".json", ".woff", ".woff2",
    ];
    let path = u.path().to_ascii_lowercase();
    !SKIP.iter().any(|x| path.ends_with(x))
}

/// The same-site pages a page links to, without fragments, in document order, each once.
pub fn links(html: &str, page_url: &str) -> Vec<String> {
    let Ok(base) = url::Url::parse(page_url) else {
        return Vec::new();
    };
    let doc = Html::parse_document(shallow(cut(html, MAX_PAGE_BYTES)).0);
    let mut seen = std::collections::HashSet::new();
    doc.select(&selector("a[href]"))
        .filter_map(|a| a.value().attr("href"))
        .filter_map(|h| base.join(h.trim()).ok())
        .filter(|u| {
            u.host_str() == base.host_str()
                && u.port_or_known_default() == base.port_or_known_default()
        })
        .filter(|u| matches!(u.scheme(), "http" | "https") && page_like(u))
        .map(|mut u| {
            u.set_fragment(None);
            u.to_string()
        })
        .filter(|u| u != page_url && seen.insert(u.clone()))
        .collect()
}

/// What a sitemap names: its `<loc>`s, and whether it is an index of sitemaps; `None` if the
/// document is not a sitemap. The most recently modified come first (`<lastmod>`, newest
/// first; those without one after, in document order): a crawl that stops at `max_pages`
/// reads the pages most likely to hold upcoming events, not a site's oldest archive.
pub fn sitemap_locs(xml: &str) -> Option<(Vec<String>, bool)> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_str(xml);
    let mut kind = None;
    // The text being read: of a `<loc>` or a `<lastmod>`.
    let mut text: Option<String> = None;
    let (mut loc, mut lastmod) = (None::<String>, None::<String>);
    let mut locs: Vec<(String, Option<String>)> = Vec::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                b"urlset" if kind.is_none() => kind = Some(false),
                b"sitemapindex" if kind.is_none() => kind = Some(true),
                b"loc" | b"lastmod" => text = Some(String::new()),
                // The first element says what the document is.
                _ if kind.is_none() => return None,
                _ => {}
            },
            Ok(Event::Text(t)) => {
                if let (Some(l), Ok(s)) = (text.as_mut(), t.decode()) {
                    if l.len() < 2048 {
                        l.push_str(&s);
                    }
                }
            }
            Ok(Event::GeneralRef(g)) => {
                // quick-xml hands entities over apart (`&amp;` in a URL's query).
                let name: &[u8] = g.as_ref();
                let c = match name {
                    b"amp" => '&',
                    b"lt" => '<',
                    b"gt" => '>',
                    b"quot" => '"',
                    b"apos" => '\'',
                    _ => continue,
                };
                if let Some(l) = text.as_mut() {
                    l.push(c);
                }
            }
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                b"loc" => {
                    let l = text.take().map(|l| l.trim().to_string());
                    // `<loc>`s outside any `<url>` (a sitemap that is not quite one) count.
                    if let Some(before) = std::mem::replace(&mut loc, l) {
                        locs.push((before, None));
                    }
                }
                b"lastmod" => lastmod = text.take().map(|l| l.trim().to_string()),
                b"url" | b"sitemap" => {
                    if let Some(l) = loc.take() {
                        locs.push((l, lastmod.take()));
                    }
                    lastmod = None;
                }
                _ => {}
            },
            Ok(Event::Eof) => break,
            Err(_) => return None,
            _ => {}
        }
        if locs.len() >= 50_000 {
            break;
        }
    }
    if let Some(l) = loc {
        locs.push((l, lastmod));
    }
    // W3C datetimes of one site sort as text; a stable sort keeps the site's order otherwise.
    locs.sort_by(|a, b| b.1.cmp(&a.1));
    kind.map(|k| (locs.into_iter().map(|(l, _)| l).collect(), k))
}

// ---- reading the three markups into one shape ----

/// Whether a schema.org type (`Event`, `https://schema.org/MusicEvent`, `schema:SocialEvent`)
/// names an event people go to: `Event` and its subtypes named `…Event`, and
/// `Festival`, `Hackathon`, `CourseInstance` and `EventSeries`; not the records of a
/// publication, a broadcast, a delivery or a logged moment, which are `Event`s to schema.org
/// but not to a calendar of events.
fn is_event_type(t: &str) -> bool {
    let last = t.rsplit(['/', ':', '#']).next().unwrap_or(t);
    const OTHER: &[&str] = &["Festival", "Hackathon", "CourseInstance", "EventSeries"];
    const NOT: &[&str] = &[
        "PublicationEvent",
        "BroadcastEvent",
        "OnDemandEvent",
        "DeliveryEvent",
        "InstantaneousEvent",
    ];
    (last.ends_with("Event") || OTHER.contains(&last)) && !NOT.contains(&last)
}

fn types(v: &Value) -> Vec<&str> {
    match &v["@type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Every event object in the page's JSON-LD blocks (`@graph`, arrays, nested values).
fn json_ld(doc: &Html, notes: &mut Vec<String>) -> Vec<Value> {
    let mut out = Vec::new();
    for script in doc.select(&selector("script[type]")) {
        let ty = script.value().attr("type").unwrap_or_default();
        if !ty.trim().eq_ignore_ascii_case("application/ld+json") {
            continue;
        }
        let text: String = script.text().collect();
        match read_json(&text) {
            Ok(mut v) => {
                if schema_context(&v) {
                    schema_aliases(&mut v, 0);
                }
                collect_events(&v, 0, None, &mut out);
            }
            Err(e) => notes.push(format!("a JSON-LD block that is not JSON: {e}")),
        }
    }
    out
}

/// A JSON-LD block as sites write it: strict JSON first; then without the slips real pages
/// have (an HTML comment or CDATA wrapper, a trailing `;`, raw line breaks and tabs inside
/// strings, `//` and `/* */` comments left in by a template, commas before `}` or `]`). The
/// strict error is the one reported.
fn read_json(text: &str) -> Result<Value, serde_json::Error> {
    let t = text.trim();
    let strict = serde_json::from_str::<Value>(t);
    if strict.is_ok() {
        return strict;
    }
    let t = t
        .trim_start_matches("<!--")
        .trim_end_matches("-->")
        .trim()
        .trim_start_matches("//<![CDATA[")
        .trim_end_matches("//]]>")
        .trim()
        .trim_end_matches(';');
    // Two passes, each aware of strings: comments first, so that a comma followed by a comment
    // and then `}` is still seen as trailing.
    let chars: Vec<char> = t.chars().collect();
    let mut bare = Vec::with_capacity(chars.len());
    let (mut in_string, mut escaped, mut i) = (false, false, 0);
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                '\n' => {
                    bare.extend(['\\', 'n']);
                    continue;
                }
                '\r' => continue,
                '\t' => {
                    bare.extend(['\\', 't']);
                    continue;
                }
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == '/' && chars.get(i) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        } else if c == '/' && chars.get(i) == Some(&'*') {
            i += 1;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i += 2;
            bare.push(' ');
            continue;
        }
        bare.push(c);
    }
    let mut out = String::with_capacity(bare.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in bare.iter().enumerate() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = bare[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}' | ']')) {
                continue;
            }
        }
        out.push(c);
    }
    serde_json::from_str::<Value>(&out).or(strict)
}

/// Finds the events in a JSON-LD value. `host` is the name of the item an event is nested in:
/// a band's page lists its concerts as `"event": [...]`, often without a name of their own,
/// and the band (or the event's performer) is then what the listing is called.
fn collect_events(v: &Value, depth: usize, host: Option<&str>, out: &mut Vec<Value>) {
    if depth > MAX_DEPTH || out.len() >= MAX_EVENTS {
        return;
    }
    match v {
        Value::Array(a) => a
            .iter()
            .for_each(|x| collect_events(x, depth + 1, host, out)),
        Value::Object(o) => {
            if types(v).iter().any(|t| is_event_type(t)) {
                let mut ev = short_keys(v, 0);
                if text(&ev["name"]).is_none() {
                    let performer = match &ev["performer"] {
                        Value::Array(a) => a.first().and_then(|p| text(&p["name"])),
                        p @ Value::Object(_) => text(&p["name"]),
                        p => text(p),
                    };
                    if let Some(n) = performer.or_else(|| host.map(str::to_string)) {
                        ev["name"] = Value::String(n);
                    }
                }
                out.push(ev);
                // A festival's or a series' own events are events too.
                for k in ["subEvent", "subEvents"] {
                    collect_events(&v[k], depth + 1, host, out);
                }
                return;
            }
            let name = text(&v["name"]);
            for x in o.values() {
                collect_events(x, depth + 1, name.as_deref().or(host), out);
            }
        }
        _ => {}
    }
}

/// `v` with schema.org's property names as the rest of the reader knows them: JSON-LD
/// written by RDF tools names them by IRI (`http://schema.org/startDate`) or with a prefix
/// (`schema:startDate`). A short name already present wins over its long form.
fn short_keys(v: &Value, depth: usize) -> Value {
    match v {
        Value::Array(a) if depth < MAX_DEPTH => {
            Value::Array(a.iter().map(|x| short_keys(x, depth + 1)).collect())
        }
        Value::Object(o) if depth < MAX_DEPTH => {
            let mut out = serde_json::Map::with_capacity(o.len());
            for (k, x) in o {
                if !schema_name(k).is_some_and(|s| o.contains_key(s)) {
                    let k = schema_name(k).unwrap_or(k);
                    out.insert(k.to_string(), short_keys(x, depth + 1));
                }
            }
            Value::Object(out)
        }
        _ => v.clone(),
    }
}

/// Whether a JSON-LD block is in schema.org's vocabulary: its `@context` names schema.org
/// (a string, or one in a list).
fn schema_context(v: &Value) -> bool {
    let names = |c: &Value| c.as_str().is_some_and(|s| s.contains("schema.org"));
    match &v["@context"] {
        Value::Array(a) => a.iter().any(names),
        c => names(c),
    }
}

/// Renames `type` and `id` to `@type` and `@id` throughout `v` where those are absent: the
/// aliases schema.org's JSON-LD context defines (artsdata.ca writes its events so). Only for
/// a block in schema.org's context: in ActivityStreams' (Mobilizon's and Gancio's objects),
/// `type: Event` is another vocabulary's event.
fn schema_aliases(v: &mut Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| schema_aliases(x, depth + 1)),
        Value::Object(o) => {
            for (alias, key) in [("type", "@type"), ("id", "@id")] {
                if !o.contains_key(key) {
                    if let Some(x) = o.remove(alias) {
                        o.insert(key.to_string(), x);
                    }
                }
            }
            o.values_mut().for_each(|x| schema_aliases(x, depth + 1));
        }
        _ => {}
    }
}

/// The schema.org property a long or prefixed name stands for.
fn schema_name(k: &str) -> Option<&str> {
    [
        "http://schema.org/",
        "https://schema.org/",
        "schema:",
        "sdo:",
    ]
    .iter()
    .find_map(|p| k.strip_prefix(p))
    .filter(|s| !s.is_empty())
}

/// The two syntaxes that mark items up in attributes, which schema.org documents beside
/// JSON-LD and which read alike: microdata (`itemscope`, `itemtype`, `itemprop`) and RDFa Lite
/// (`typeof`, `property`; `vocab="https://schema.org/"`, or names prefixed `schema:` or
/// written as IRIs), as Drupal's schema.org modules and some theme builders write it.
#[derive(Clone, Copy)]
enum Attrs {
    Microdata,
    Rdfa,
}

impl Attrs {
    /// Whether the element starts an item.
    fn scoped(self, el: ElementRef<'_>) -> bool {
        match self {
            Self::Microdata => el.value().attr("itemscope").is_some(),
            Self::Rdfa => el.value().attr("typeof").is_some(),
        }
    }

    /// The item's types, as written.
    fn types(self, el: ElementRef<'_>) -> Option<&str> {
        match self {
            Self::Microdata => el.value().attr("itemtype"),
            Self::Rdfa => el.value().attr("typeof"),
        }
    }

    /// The property names the element gives a value of, as written.
    fn props(self, el: ElementRef<'_>) -> Option<&str> {
        match self {
            Self::Microdata => el.value().attr("itemprop"),
            Self::Rdfa => el.value().attr("property"),
        }
    }
}

/// Items whose type is an event, each as JSON-LD would say it.
fn attribute_items(doc: &Html, base: Option<&url::Url>, attrs: Attrs) -> Vec<Value> {
    // An event inside another event's item is that event's property, not an event here.
    let event = |e: ElementRef<'_>| {
        attrs.scoped(e)
            && attrs
                .types(e)
                .is_some_and(|t| t.split_whitespace().any(is_event_type))
    };
    outermost(doc, event, MAX_EVENTS)
        .into_iter()
        .map(|e| item_json(e, base, attrs, 0))
        .collect()
}

/// Distinct property names read from one microdata item.
const MAX_ITEM_PROPS: usize = 64;

fn item_json(item: ElementRef<'_>, base: Option<&url::Url>, attrs: Attrs, depth: usize) -> Value {
    let mut o = Map::new();
    if let Some(t) = attrs.types(item) {
        let last = t.split_whitespace().next().unwrap_or(t);
        o.insert(
            "@type".into(),
            json!(last.rsplit(['/', ':', '#']).next().unwrap_or(last)),
        );
    }
    if depth > MAX_DEPTH {
        return Value::Object(o);
    }
    let mut stack: Vec<ElementRef<'_>> = item.children().filter_map(ElementRef::wrap).collect();
    stack.reverse();
    while let Some(el) = stack.pop() {
        let scoped = attrs.scoped(el);
        if let Some(props) = attrs.props(el) {
            // Each name once, a few per element and per item: 100,000 names on one element
            // would each take a copy of its text.
            let new: Vec<&str> = props
                .split_whitespace()
                .map(|p| schema_name(p).unwrap_or(p))
                .filter(|p| !o.contains_key(*p))
                .take(8)
                .collect();
            if !new.is_empty() && o.len() < MAX_ITEM_PROPS {
                let v = if scoped {
                    item_json(el, base, attrs, depth + 1)
                } else {
                    json!(prop_value(el, base))
                };
                for p in new {
                    o.entry(p.to_string()).or_insert_with(|| v.clone());
                }
            }
        }
        if !scoped {
            let mut kids: Vec<ElementRef<'_>> =
                el.children().filter_map(ElementRef::wrap).collect();
            kids.reverse();
            stack.extend(kids);
        }
    }
    // RDFa names its subject with `resource` (RDFa Lite) or `about` (Drupal: the event's own
    // page, `/node/123`): that is the event's URL, and so its UID, when no `url` property
    // says otherwise.
    let subject = item.value().attr("resource").or(item.value().attr("about"));
    if let (Attrs::Rdfa, Some(about)) = (attrs, subject) {
        if !o.contains_key("url") {
            if let Some(u) = absolute(base, about.trim()) {
                o.insert("url".into(), json!(u));
            }
        }
    }
    Value::Object(o)
}

/// A microdata property's value (HTML's rules: content, href, src, datetime, value, text).
fn prop_value(el: ElementRef<'_>, base: Option<&url::Url>) -> String {
    let v = el.value();
    if let Some(c) = v.attr("content") {
        return c.trim().to_string();
    }
    let url_attr = match v.name() {
        "a" | "area" | "link" => v.attr("href"),
        "img" | "audio" | "video" | "source" | "iframe" | "embed" => v.attr("src"),
        "object" => v.attr("data"),
        _ => None,
    };
    if let Some(u) = url_attr {
        return absolute(base, u).unwrap_or_else(|| u.to_string());
    }
    let direct = match v.name() {
        "time" => v.attr("datetime"),
        "data" | "meter" => v.attr("value"),
        _ => None,
    };
    direct.map_or_else(|| text_of(el), |d| d.trim().to_string())
}

/// An element's text as browsers and extraction libraries give it: its text nodes joined as
/// they stand (`type <b>hints</b>.` is "type hints."), runs of white space made one.
/// The most text taken from one element: twice what an event's longest text value may hold,
/// so that what is cut here is refused or cut by the event's own limits anyway.
const MAX_TEXT: usize = 64 * 1024;

/// An element's text, blanks collapsed, at most [`MAX_TEXT`] bytes: a property of a page's
/// whole body is read as its start, not copied whole.
fn text_of(el: ElementRef<'_>) -> String {
    let mut raw = String::new();
    for t in el.text() {
        if raw.len() >= MAX_TEXT {
            break;
        }
        raw.push_str(cut(t, MAX_TEXT - raw.len()));
    }
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn classes(el: ElementRef<'_>) -> Vec<&str> {
    el.value()
        .attr("class")
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

/// Which microformats: microformats2 (`h-event`, `p-name`) or the classic hCalendar that
/// older sites and calendar plugins still write (`vevent`, `summary`, `dtstart`), read by
/// microformats2's backward-compatible rules.
#[derive(Clone, Copy, PartialEq)]
enum Vocab {
    Mf2,
    Hcalendar,
}

/// hCalendar's property classes (with hCard's and adr's, for places) as microformats2's.
const HCALENDAR: &[(&str, &str, &str)] = &[
    ("summary", "p", "name"),
    ("dtstart", "dt", "start"),
    ("dtend", "dt", "end"),
    ("duration", "dt", "duration"),
    ("description", "p", "description"),
    ("url", "u", "url"),
    ("location", "p", "location"),
    ("category", "p", "category"),
    ("organizer", "p", "organizer"),
    ("geo", "p", "geo"),
    ("fn", "p", "name"),
    ("street-address", "p", "street-address"),
    ("locality", "p", "locality"),
    ("region", "p", "region"),
    ("postal-code", "p", "postal-code"),
    ("country-name", "p", "country-name"),
    ("latitude", "p", "latitude"),
    ("longitude", "p", "longitude"),
];

fn is_root(el: ElementRef<'_>, vocab: Vocab) -> bool {
    classes(el).iter().any(|c| match vocab {
        Vocab::Mf2 => c.starts_with("h-"),
        // An `adr` inside a `vcard` is read as part of it: its parts become the place's.
        Vocab::Hcalendar => matches!(*c, "vevent" | "vcard" | "geo"),
    })
}

/// A class as a property: its prefix (`p`, `u`, `dt`, `e`) and name.
fn property(class: &str, vocab: Vocab) -> Option<(&str, &str)> {
    match vocab {
        Vocab::Mf2 => class.split_once('-'),
        Vocab::Hcalendar => HCALENDAR
            .iter()
            .find(|(c, _, _)| *c == class)
            .map(|(_, p, n)| (*p, *n)),
    }
}

/// microformats2 `h-event`s and hCalendar `vevent`s, each as JSON-LD would say it.
fn h_events(doc: &Html, base: Option<&url::Url>) -> Vec<Value> {
    // An element that is both is read as microformats2 (its rules say so).
    let root = |e: ElementRef<'_>| {
        let c = classes(e);
        if c.contains(&"h-event") {
            Some(Vocab::Mf2)
        } else if c.contains(&"vevent") {
            Some(Vocab::Hcalendar)
        } else {
            None
        }
    };
    outermost(doc, |e| root(e).is_some(), MAX_EVENTS)
        .into_iter()
        .filter_map(|e| Some(mf_event(e, base, root(e)?)))
        .collect()
}

fn mf_event(root: ElementRef<'_>, base: Option<&url::Url>, vocab: Vocab) -> Value {
    let p = mf2_properties(root, base, vocab, 0);
    let get = |k: &str| p.get(k).cloned();
    let mut o = Map::new();
    o.insert("@type".into(), json!("Event"));
    let name = get("name")
        .or_else(|| get("summary"))
        .unwrap_or_else(|| json!(text_of(root)));
    o.insert("name".into(), name);
    // An end written as a time of day alone is on the start's day (microformats2's rule).
    let time_alone = |e: &Value| {
        e.as_str()
            .filter(|t| t.as_bytes().get(4).is_none_or(|b| *b != b'-'))
            .and_then(vcp_time)
    };
    let end = get("end").map(|e| match (time_alone(&e), get("start")) {
        // The start's date: its first ten bytes, when they are a date (text a page wrote may
        // put a multi-byte character across that cut).
        (Some(t), Some(Value::String(st)))
            if st
                .get(..10)
                .is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()) =>
        {
            json!(format!("{}T{t}", &st[..10]))
        }
        _ => e,
    });
    if let Some(e) = end {
        o.insert("endDate".into(), e);
    }
    for (mf, schema) in [
        ("start", "startDate"),
        ("duration", "duration"),
        ("url", "url"),
        ("category", "keywords"),
        ("organizer", "organizer"),
    ] {
        if let Some(v) = get(mf) {
            o.insert(schema.into(), v);
        }
    }
    if let Some(d) = get("description").or_else(|| get("content")) {
        o.insert("description".into(), d);
    }
    if let Some(l) = get("location") {
        o.insert("location".into(), l);
    }
    Value::Object(o)
}

/// The properties of one microformats2 root: `p-`, `u-`, `dt-` and `e-` classes of the
/// elements inside it (not inside a nested root, whose properties are its own).
fn mf2_properties(
    root: ElementRef<'_>,
    base: Option<&url::Url>,
    vocab: Vocab,
    depth: usize,
) -> Map<String, Value> {
    let mut o = Map::new();
    let mut stack: Vec<ElementRef<'_>> = root.children().filter_map(ElementRef::wrap).collect();
    stack.reverse();
    while let Some(el) = stack.pop() {
        let nested = is_root(el, vocab);
        for c in classes(el) {
            let Some((prefix, name)) = property(c, vocab) else {
                continue;
            };
            // Only what an event is made of, each once: an element with 100,000 classes and a
            // megabyte of text made 100,000 copies of it (24 GB) before this.
            let many = name == "category";
            if !MF_USED.contains(&name)
                || (!many && o.contains_key(name))
                || (many
                    && o.get(name)
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.len() >= 32))
            {
                continue;
            }
            let v = match prefix {
                // Places inside places, as deep as a page likes, stop at text.
                _ if nested && depth >= MAX_DEPTH => json!(text_of(el)),
                _ if nested && matches!(prefix, "p" | "u") => {
                    nested_value(el, base, vocab, depth + 1)
                }
                "p" => json!(mf2_text(el)),
                "u" => json!(mf2_url(el, base)),
                "dt" => json!(mf2_date(el)),
                "e" => json!(text_of(el)),
                _ => continue,
            };
            if name == "category" {
                let list = o.entry("category").or_insert_with(|| json!([]));
                if let Value::Array(a) = list {
                    a.push(v);
                }
            } else {
                o.entry(name.to_string()).or_insert(v);
            }
        }
        if !nested {
            let mut kids: Vec<ElementRef<'_>> =
                el.children().filter_map(ElementRef::wrap).collect();
            kids.reverse();
            stack.extend(kids);
        }
    }
    o
}

/// The microformats properties events and their places are read from; others are skipped.
const MF_USED: &[&str] = &[
    "name",
    "summary",
    "start",
    "end",
    "duration",
    "url",
    "category",
    "organizer",
    "description",
    "content",
    "location",
    "geo",
    "street-address",
    "postal-code",
    "locality",
    "region",
    "country-name",
    "latitude",
    "longitude",
];

/// A nested h-card, h-adr or h-geo as a schema.org Place.
fn nested_value(el: ElementRef<'_>, base: Option<&url::Url>, vocab: Vocab, depth: usize) -> Value {
    let p = mf2_properties(el, base, vocab, depth);
    let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let mut place = Map::new();
    place.insert("@type".into(), json!("Place"));
    place.insert(
        "name".into(),
        json!(s("name").unwrap_or_else(|| text_of(el))),
    );
    let address: Map<String, Value> = [
        ("street-address", "streetAddress"),
        ("postal-code", "postalCode"),
        ("locality", "addressLocality"),
        ("region", "addressRegion"),
        ("country-name", "addressCountry"),
    ]
    .iter()
    .filter_map(|(mf, schema)| s(mf).map(|v| ((*schema).to_string(), json!(v))))
    .collect();
    if !address.is_empty() {
        place.insert("address".into(), Value::Object(address));
    }
    let geo = p.get("geo").cloned();
    let (lat, lon) = match (s("latitude"), s("longitude"), geo) {
        (Some(a), Some(b), _) => (Some(json!(a)), Some(json!(b))),
        (_, _, Some(Value::Object(g))) => (g.get("latitude").cloned(), g.get("longitude").cloned()),
        _ => (None, None),
    };
    if let (Some(a), Some(b)) = (lat, lon) {
        place.insert("geo".into(), json!({"latitude": a, "longitude": b}));
    }
    if classes(el)
        .iter()
        .any(|c| *c == "h-geo" || (vocab == Vocab::Hcalendar && *c == "geo"))
    {
        if let Some(g) = place.get("geo").cloned() {
            return g;
        }
    }
    Value::Object(place)
}

fn mf2_text(el: ElementRef<'_>) -> String {
    let v = el.value();
    match v.name() {
        "abbr" | "link" => v.attr("title"),
        "data" | "input" => v.attr("value"),
        "img" | "area" => v.attr("alt"),
        _ => None,
    }
    .map_or_else(|| text_of(el), |s| s.trim().to_string())
}

fn mf2_url(el: ElementRef<'_>, base: Option<&url::Url>) -> String {
    let v = el.value();
    let raw = match v.name() {
        "a" | "area" | "link" => v.attr("href"),
        "img" | "audio" | "video" | "source" => v.attr("src"),
        _ => None,
    };
    raw.and_then(|u| absolute(base, u))
        .unwrap_or_else(|| mf2_text(el))
}

/// A `dt-` value: `datetime`, `title` or `value`, or the value-class pattern (a date part and
/// a time part in `.value` children).
fn mf2_date(el: ElementRef<'_>) -> String {
    let v = el.value();
    let own = |e: &scraper::node::Element| {
        e.attr("datetime")
            .or_else(|| (e.name() == "abbr").then(|| e.attr("title")).flatten())
            .or_else(|| e.attr("value"))
            .map(str::to_string)
    };
    let parts: Vec<String> = el
        .select(&selector(".value, .value-title"))
        .map(|p| {
            own(p.value())
                .or_else(|| p.value().attr("title").map(str::to_string))
                .unwrap_or_else(|| text_of(p))
        })
        .collect();
    if !parts.is_empty() {
        let date = parts
            .iter()
            .find(|p| p.len() == 10 && p.as_bytes()[4] == b'-');
        let time = parts.iter().find_map(|p| vcp_time(p));
        // A zone may be a part of its own ("-08:00", "Z") after a time without one.
        let zone = parts.iter().find(|p| {
            let b = p.as_bytes();
            p.as_str() == "Z"
                || (matches!(b.first(), Some(b'+' | b'-'))
                    && (3..=6).contains(&b.len())
                    && b[1..].iter().all(|c| c.is_ascii_digit() || *c == b':'))
        });
        return match (date, time) {
            (Some(d), Some(t)) => format!("{d}T{t}{}", zone.map_or("", |z| z.as_str())),
            _ => parts.join(""),
        };
    }
    own(v).unwrap_or_else(|| text_of(el))
}

/// A value-class time part in 24-hour form: `19:00`, `19:00-08:00` as written; `7pm`,
/// `07:00:00pm`, `7:30 p.m.` converted (microformats2's parsing rules allow am/pm).
fn vcp_time(p: &str) -> Option<String> {
    let t: String = p
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.')
        .collect::<String>()
        .to_ascii_lowercase();
    let (clock, pm) = match t.strip_suffix("pm") {
        Some(c) => (c, true),
        None => match t.strip_suffix("am") {
            Some(c) => (c, false),
            None => return p.contains(':').then(|| p.trim().to_string()),
        },
    };
    let mut fields = clock.split(':');
    let h: u32 = fields.next()?.parse().ok()?;
    let rest: Vec<u32> = fields.map(|f| f.parse().ok()).collect::<Option<_>>()?;
    if !(1..=12).contains(&h) || rest.len() > 2 || rest.iter().any(|v| *v > 59) {
        return None;
    }
    let h = h % 12 + if pm { 12 } else { 0 };
    let (m, s) = (
        rest.first().copied().unwrap_or(0),
        rest.get(1).copied().unwrap_or(0),
    );
    Some(format!("{h:02}:{m:02}:{s:02}"))
}

// ---- one event's JSON to VEVENT lines ----

/// Text as a page's JSON writes it, entities and tags and all (`&lt;p&gt;Bring…`), as plain
/// text: entities decoded, tags dropped (twice: an escaped tag is a tag once decoded).
fn html_text(s: &str) -> String {
    let mut t = s.to_string();
    for _ in 0..2 {
        if !t.contains(['<', '&']) {
            break;
        }
        t = text_of(Html::parse_fragment(shallow(&t).0).root_element());
    }
    t
}

/// [`plain`] read as HTML text.
fn text(v: &Value) -> Option<String> {
    plain(v).map(|s| html_text(&s)).filter(|s| !s.is_empty())
}

/// A value's text: a string, a number, `{"@value": …}`, or the first of an array.
fn plain(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.iter().find_map(plain),
        Value::Object(o) => o.get("@value").and_then(plain),
        _ => None,
    }
}

/// A schema.org date or date-time.
#[derive(Debug, PartialEq)]
enum When {
    Date(NaiveDate),
    Utc(NaiveDateTime),
    Offset(DateTime<FixedOffset>),
    Local(NaiveDateTime),
}

impl When {
    /// The day as written (for an offset, the local day).
    fn day(&self) -> NaiveDate {
        match self {
            When::Date(d) => *d,
            When::Utc(t) | When::Local(t) => t.date(),
            When::Offset(d) => d.naive_local().date(),
        }
    }
}

/// A date or date-time in the extended ISO 8601 form the parsers below take: iCalendar's
/// basic form (`20270110T190000Z`) spread out, `t` as `T`, an offset in hours alone (`-08`)
/// given its minutes.
fn extended(s: &str) -> String {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let mut t = if digits(0..8) && (b.len() == 8 || (b.get(8) == Some(&b'T') && digits(9..15))) {
        let mut t = format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..8]);
        if b.len() > 8 {
            t.push_str(&format!(
                "T{}:{}:{}{}",
                &s[9..11],
                &s[11..13],
                &s[13..15],
                &s[15..]
            ));
        }
        t
    } else {
        s.replacen('t', "T", 1)
    };
    let n = t.len();
    let tb = t.as_bytes();
    if n > 13
        && matches!(tb[n - 3], b'+' | b'-')
        && tb[n - 2..].iter().all(u8::is_ascii_digit)
        && tb[n - 6] == b':'
    {
        t.push_str(":00");
    }
    t
}

fn parse_when(s: &str) -> Option<When> {
    let s = extended(s.trim());
    let s = s.as_str();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(When::Date(d));
    }
    let t = s.replacen(' ', "T", 1);
    if let Some(z) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
        return local(z).map(When::Utc);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(&t) {
        return Some(When::Offset(d));
    }
    for f in [
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(&t, f) {
            return Some(When::Offset(d));
        }
    }
    local(&t).map(When::Local)
}

fn local(s: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

const STAMP: &str = "%Y%m%dT%H%M%S";

/// `DTSTART`-style params and value for `w`: a zone is kept where the page's offset is the
/// source's zone at that time, so recurrences cross daylight saving right.
fn ics_when(w: &When, tz: Option<Tz>) -> (String, Option<&'static str>) {
    match w {
        When::Date(d) => (format!(";VALUE=DATE:{}", d.format("%Y%m%d")), None),
        When::Utc(t) => (format!(":{}Z", t.format(STAMP)), None),
        When::Offset(d) => {
            if let Some(z) = tz {
                let utc = d.naive_utc();
                if z.offset_from_utc_datetime(&utc).fix() == *d.offset() {
                    return (
                        format!(";TZID={}:{}", z.name(), d.naive_local().format(STAMP)),
                        None,
                    );
                }
            }
            (format!(":{}Z", d.naive_utc().format(STAMP)), None)
        }
        When::Local(t) => match tz {
            Some(z) => (format!(";TZID={}:{}", z.name(), t.format(STAMP)), None),
            None => (
                format!(":{}", t.format(STAMP)),
                Some("a time without an offset and no zone set for the source: kept floating"),
            ),
        },
    }
}

/// The properties [`vevent`] maps, and those it knows to leave out (presentation, commerce).
const MAPPED: &[&str] = &[
    "@context",
    "@type",
    "@id",
    "name",
    "startDate",
    "endDate",
    "duration",
    "description",
    "url",
    "eventStatus",
    "location",
    "organizer",
    "inLanguage",
    "keywords",
    "eventSchedule",
    "image",
    "eventAttendanceMode",
    "previousStartDate",
    "mainEntityOfPage",
    "sameAs",
];

/// One event as VEVENT lines, and the properties it had that have no place in an event.
fn vevent(
    item: &Value,
    uid: &str,
    tz: Option<Tz>,
    base: Option<&url::Url>,
    today: NaiveDate,
) -> Result<(String, Vec<String>), String> {
    let name = text(&item["name"]).ok_or("no name")?;
    let mut unmapped: Vec<String> = item
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !MAPPED.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut out = String::new();
    let mut line = |s: String| fold_line(&mut out, &s);
    line("BEGIN:VEVENT".into());
    line(format!("UID:{}", escape_text(uid)));
    line(format!("SUMMARY:{}", escape_text(&name)));
    let schedule = match &item["eventSchedule"] {
        Value::Null => None,
        v => match read_schedule(v) {
            Ok(s) => Some(s),
            Err(why) => {
                unmapped.push(format!("eventSchedule ({why})"));
                None
            }
        },
    };
    let tz = schedule.as_ref().and_then(|s| s.zone).or(tz);
    let dtstart = when_lines(item, schedule.as_ref(), tz, today, &mut line, &mut unmapped)?;
    if let Some(d) = text(&item["description"]) {
        line(format!("DESCRIPTION:{}", escape_text(&d)));
    }
    if let Some(u) = plain(&item["url"]).and_then(|u| absolute(base, &u)) {
        line(format!("URL:{u}"));
    }
    if let Some(s) = plain(&item["eventStatus"]) {
        // Named as schema.org does, by IRI, prefixed (`schema:`) or bare, in any case, and
        // spelt `EventCanceled` as some plugins write it: a cancelled event must not show as
        // going ahead for a letter.
        let name = s
            .rsplit(['/', ':', '#'])
            .next()
            .unwrap_or(&s)
            .to_ascii_lowercase();
        let status = match name.trim() {
            "eventcancelled" | "eventcanceled" => Some("CANCELLED"),
            "eventpostponed" => Some("TENTATIVE"),
            "eventscheduled" | "eventrescheduled" | "eventmovedonline" => Some("CONFIRMED"),
            _ => None,
        };
        match status {
            Some(st) => line(format!("STATUS:{st}")),
            None => unmapped.push(format!("eventStatus {s}")),
        }
    }
    where_and_who(item, &mut line);
    if let Some(sch) = schedule {
        line(format!("RRULE:{}", sch.rule));
        for x in &sch.except {
            line(format!("EXDATE{}", except_value(&dtstart, x, tz)));
        }
        unmapped.extend(sch.unmapped);
    }
    line("END:VEVENT".into());
    Ok((out, unmapped))
}

/// Place, organizer, language and keywords as VEVENT lines.
fn where_and_who(item: &Value, line: &mut impl FnMut(String)) {
    let place = place(&item["location"]);
    if let Some(l) = &place.text {
        line(format!("LOCATION:{}", escape_text(l)));
    }
    if let Some((lat, lon)) = place.geo {
        line(format!("GEO:{lat};{lon}"));
    }
    if let Some(o) = organizer(&item["organizer"]) {
        line(o);
    }
    if let Some(lang) = language(&item["inLanguage"]) {
        line(format!(
            "{}:{}",
            discal_protocol::model::LANGUAGE_PROPERTY,
            escape_text(&lang)
        ));
    }
    let keywords = keywords(&item["keywords"]);
    if !keywords.is_empty() {
        let list: Vec<String> = keywords.iter().map(|k| escape_text(k)).collect();
        line(format!("CATEGORIES:{}", list.join(",")));
    }
}

/// DTSTART and DTEND or DURATION as VEVENT lines; DTSTART's value is returned, for EXDATEs.
fn when_lines(
    item: &Value,
    schedule: Option<&Schedule>,
    tz: Option<Tz>,
    today: NaiveDate,
    line: &mut impl FnMut(String),
    unmapped: &mut Vec<String>,
) -> Result<String, String> {
    let written = match plain(&item["startDate"]) {
        Some(s) => Some(parse_when(&s).ok_or_else(|| format!("startDate {s:?} is not a date"))?),
        None => None,
    };
    let start = match schedule {
        Some(sch) => {
            if written.is_none() && sch.start_date.is_none() {
                if sch.days.is_empty() {
                    return Err("no startDate".into());
                }
                unmapped.push(format!(
                    "startDate (none: the schedule is placed from {today})"
                ));
            }
            sch.first(written, tz, today)
                .ok_or("eventSchedule: no day in four years matches its rule")?
        }
        None => written.ok_or("no startDate")?,
    };
    let (v, note) = ics_when(&start, tz);
    line(format!("DTSTART{v}"));
    if let Some(n) = note {
        unmapped.push(n.to_string());
    }
    let end = plain(&item["endDate"]).and_then(|e| parse_when(&e));
    if let Some(d) = schedule.and_then(|s| s.length.clone()) {
        line(format!("DURATION:{d}"));
    } else if let Some(e) = end {
        let same_kind = matches!(start, When::Date(_)) == matches!(e, When::Date(_));
        // With a schedule, an endDate days after the start is the series' end, not the
        // first occurrence's.
        let series_end =
            schedule.is_some() && e.day() > start.day().succ_opt().unwrap_or(start.day());
        if same_kind && !series_end {
            let e = match e {
                // schema.org's end date is the last day; iCalendar's DTEND is the day after.
                When::Date(d) => When::Date(d.succ_opt().unwrap_or(d)),
                other => other,
            };
            line(format!("DTEND{}", ics_when(&e, tz).0));
        }
    } else if let Some(d) = plain(&item["duration"]) {
        line(format!("DURATION:{}", escape_text(&d)));
    }
    Ok(v)
}

/// Where: the text for LOCATION and GEO.
#[derive(Default)]
struct Place {
    text: Option<String>,
    geo: Option<(f64, f64)>,
}

fn place(v: &Value) -> Place {
    match v {
        Value::String(_) => Place {
            text: text(v),
            geo: None,
        },
        Value::Array(a) => {
            // A physical place first; an online one only if there is nothing else.
            let mut places: Vec<Place> = a.iter().map(place).collect();
            let i = places.iter().position(|p| p.geo.is_some()).unwrap_or(0);
            if places.is_empty() {
                Place::default()
            } else {
                places.swap_remove(i)
            }
        }
        Value::Object(_) => {
            if types(v).iter().any(|t| t.ends_with("VirtualLocation")) {
                let url = plain(&v["url"]);
                return Place {
                    text: Some(url.map_or_else(|| "Online".into(), |u| format!("Online: {u}"))),
                    geo: None,
                };
            }
            let mut parts: Vec<String> = Vec::new();
            if let Some(n) = text(&v["name"]) {
                parts.push(n);
            }
            for a in address(&v["address"]) {
                if !parts.iter().any(|p| p.contains(&a)) {
                    parts.push(a);
                }
            }
            let g = &v["geo"];
            let num = |x: &Value| plain(x).and_then(|s| s.parse::<f64>().ok());
            let geo = num(&g["latitude"]).zip(num(&g["longitude"]));
            Place {
                text: (!parts.is_empty()).then(|| parts.join(", ")),
                geo,
            }
        }
        _ => Place::default(),
    }
}

/// An address's lines, read as HTML text as names are (WordPress writes `Lindenstra&szlig;e`).
fn address(v: &Value) -> Vec<String> {
    match v {
        Value::String(_) => text(v).into_iter().collect(),
        Value::Object(_) => {
            let town = [text(&v["postalCode"]), text(&v["addressLocality"])]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            let country = text(&v["addressCountry"]).or_else(|| text(&v["addressCountry"]["name"]));
            [
                text(&v["streetAddress"]),
                Some(town),
                text(&v["addressRegion"]),
                country,
            ]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect()
        }
        Value::Array(a) => a.first().map(address).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn organizer(v: &Value) -> Option<String> {
    let v = if let Value::Array(a) = v {
        a.first()?
    } else {
        v
    };
    let (name, email, url) = match v {
        Value::String(_) => (text(v), None, None),
        Value::Object(_) => (text(&v["name"]), text(&v["email"]), plain(&v["url"])),
        _ => return None,
    };
    let address = match (email, url) {
        (Some(e), _) => format!("mailto:{}", e.trim_start_matches("mailto:")),
        (None, Some(u)) => u,
        (None, None) => "mailto:unknown@invalid".into(),
    };
    let cn = name
        .map(|n| format!(";CN=\"{}\"", n.replace(['"', '\r', '\n'], "")))
        .unwrap_or_default();
    Some(format!(
        "ORGANIZER{cn}:{}",
        address.replace(['\r', '\n'], "")
    ))
}

fn language(v: &Value) -> Option<String> {
    let tag = plain(v)
        .or_else(|| plain(&v["alternateName"]))
        .or_else(|| plain(&v["name"]))?;
    // Only a BCP 47-looking tag: letters, digits and hyphens.
    (tag.len() <= 35 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')).then_some(tag)
}

fn keywords(v: &Value) -> Vec<String> {
    let all: Vec<String> = match v {
        Value::String(s) => s.split(',').map(|k| k.trim().to_string()).collect(),
        Value::Array(a) => a.iter().filter_map(plain).collect(),
        _ => Vec::new(),
    };
    all.into_iter()
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .take(16)
        .collect()
}

/// An `eventSchedule` read into iCalendar's terms.
#[derive(Debug)]
struct Schedule {
    /// The RRULE value.
    rule: String,
    /// The days the rule's BY parts allow, to put DTSTART on an occurrence (RFC 5545 counts
    /// DTSTART as one even where the rule does not).
    days: Days,
    /// The schedule's own first day (`startDate`) and times of day.
    start_date: Option<NaiveDate>,
    start_time: Option<NaiveTime>,
    /// Each occurrence's length as an iCalendar duration (`duration`, or `endTime` less
    /// `startTime`).
    length: Option<String>,
    /// `scheduleTimezone`.
    zone: Option<Tz>,
    /// `exceptDate`.
    except: Vec<When>,
    /// Schedule properties with no place in the event.
    unmapped: Vec<String>,
}

/// The days a rule can fall on: months, days of the month, weekdays (with the week of the
/// month, counted from its end if negative). Empty parts allow every day.
#[derive(Debug, Default)]
struct Days {
    months: Vec<u32>,
    month_days: Vec<i32>,
    weekdays: Vec<(Option<i32>, chrono::Weekday)>,
}

impl Days {
    fn is_empty(&self) -> bool {
        self.months.is_empty() && self.month_days.is_empty() && self.weekdays.is_empty()
    }

    fn allows(&self, d: NaiveDate) -> bool {
        use chrono::Datelike;
        let last = (28..=31)
            .rev()
            .find(|n| NaiveDate::from_ymd_opt(d.year(), d.month(), *n).is_some())
            .unwrap_or(28) as i32;
        let day = d.day() as i32;
        let month_ok = self.months.is_empty() || self.months.contains(&d.month());
        let month_day_ok = self.month_days.is_empty()
            || self
                .month_days
                .iter()
                .any(|m| *m == day || *m == day - last - 1);
        let weekday_ok = self.weekdays.is_empty()
            || self.weekdays.iter().any(|(n, w)| {
                *w == d.weekday()
                    && match n {
                        None => true,
                        Some(n) if *n > 0 => (day - 1) / 7 + 1 == *n,
                        Some(n) => (last - day) / 7 + 1 == -n,
                    }
            });
        month_ok && month_day_ok && weekday_ok
    }

    /// The first allowed day on or after `from`, looking four years ahead (a 29 February).
    fn first_from(&self, from: NaiveDate) -> Option<NaiveDate> {
        from.iter_days().take(4 * 366 + 1).find(|d| self.allows(*d))
    }
}

impl Schedule {
    /// DTSTART: the day written (the event's `startDate`, else the schedule's, else `today`),
    /// moved on to the rule's first day, at the time written or the schedule's `startTime`.
    fn first(&self, written: Option<When>, tz: Option<Tz>, today: NaiveDate) -> Option<When> {
        let time = self.start_time;
        let Some(w) = written else {
            let day = self.days.first_from(self.start_date.unwrap_or(today))?;
            return Some(match time {
                Some(t) => When::Local(day.and_time(t)),
                None => When::Date(day),
            });
        };
        let local_day = match &w {
            When::Date(d) => *d,
            When::Local(t) => t.date(),
            When::Offset(d) => d.naive_local().date(),
            When::Utc(t) => match tz {
                Some(z) => z.from_utc_datetime(t).naive_local().date(),
                None => t.date(),
            },
        };
        let day = self.days.first_from(local_day)?;
        let shift = chrono::Duration::days((day - local_day).num_days());
        Some(match w {
            When::Date(_) => match time {
                Some(t) => When::Local(day.and_time(t)),
                None => When::Date(day),
            },
            When::Local(t) => When::Local(t + shift),
            When::Offset(d) => When::Offset(d + shift),
            When::Utc(t) => When::Utc(t + shift),
        })
    }
}

/// The properties of a schema.org `Schedule` [`read_schedule`] maps.
const SCHEDULE_MAPPED: &[&str] = &[
    "@type",
    "@id",
    "repeatFrequency",
    "byDay",
    "byMonth",
    "byMonthDay",
    "byMonthWeek",
    "repeatCount",
    "startDate",
    "endDate",
    "startTime",
    "endTime",
    "duration",
    "scheduleTimezone",
    "exceptDate",
];

/// A single value or an array of them, as a list.
fn each(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        one => vec![one],
    }
}

/// Integers of one BY part, each within `range`.
fn numbers(
    v: &Value,
    what: &str,
    range: std::ops::RangeInclusive<i32>,
) -> Result<Vec<i32>, String> {
    each(v)
        .into_iter()
        .take(31)
        .map(|x| {
            let t = plain(x).unwrap_or_default();
            t.parse::<i32>()
                .ok()
                .filter(|n| range.contains(n) && *n != 0)
                .ok_or(format!("{what} {t:?}"))
        })
        .collect()
}

/// A time of day as `startTime` writes it (`19:00`, `19:00:00`, `19:00:00+01:00`); an offset
/// is dropped, the zone being the schedule's.
fn time_of_day(s: &str) -> Option<NaiveTime> {
    // The same 12-hour forms as a microformats time (`7pm`, `7:30 p.m.`).
    let twelve = vcp_time(s);
    let s = twelve
        .as_deref()
        .unwrap_or(s)
        .trim()
        .trim_start_matches('T');
    let clock = s.find(['+', '-', 'Z', 'z']).map_or(s, |i| &s[..i]);
    ["%H:%M:%S%.f", "%H:%M:%S", "%H:%M"]
        .into_iter()
        .find_map(|f| NaiveTime::parse_from_str(clock, f).ok())
}

/// An `eventSchedule` (schema.org's `Schedule`) as an RRULE and what goes with it, or why it
/// says nothing iCalendar can.
fn read_schedule(s: &Value) -> Result<Schedule, String> {
    let mut unmapped = Vec::new();
    let s = if let Value::Array(a) = s {
        if a.len() > 1 {
            // Classes at two times of day: the first one is kept, and the loss said.
            unmapped.push(format!(
                "eventSchedule ({} schedules after the first)",
                a.len() - 1
            ));
        }
        a.first().ok_or("empty")?
    } else {
        s
    };
    let days = schedule_days(s)?;
    let rule = schedule_rule(s, &days)?;
    let start_date = match plain(&s["startDate"]).map(|d| parse_when(&d)) {
        None => None,
        Some(Some(When::Date(d))) => Some(d),
        Some(Some(When::Local(t) | When::Utc(t))) => Some(t.date()),
        Some(Some(When::Offset(d))) => Some(d.naive_local().date()),
        Some(None) => return Err("startDate is not a date".into()),
    };
    let start_time = match plain(&s["startTime"]) {
        Some(t) => Some(time_of_day(&t).ok_or(format!("startTime {t:?}"))?),
        None => None,
    };
    let length = match (plain(&s["duration"]), plain(&s["endTime"])) {
        (Some(d), _) => Some(escape_text(&d)),
        (None, Some(e)) => {
            let end = time_of_day(&e).ok_or(format!("endTime {e:?}"))?;
            start_time.map(|st| {
                let mut mins = (end - st).num_minutes();
                if mins <= 0 {
                    mins += 24 * 60;
                }
                format!("PT{}H{}M", mins / 60, mins % 60)
            })
        }
        (None, None) => None,
    };
    let zone = match plain(&s["scheduleTimezone"]) {
        Some(z) => {
            Some(discal_protocol::tz::resolve_tzid(&z).ok_or(format!("scheduleTimezone {z:?}"))?)
        }
        None => None,
    };
    let except = each(&s["exceptDate"])
        .into_iter()
        .take(256)
        .filter_map(|x| plain(x).and_then(|t| parse_when(&t)))
        .collect();
    if let Some(o) = s.as_object() {
        unmapped.extend(
            o.keys()
                .filter(|k| !SCHEDULE_MAPPED.contains(&k.as_str()))
                .map(|k| format!("eventSchedule.{k}")),
        );
    }
    Ok(Schedule {
        rule,
        days,
        start_date,
        start_time,
        length,
        zone,
        except,
        unmapped,
    })
}

/// The days a schedule's BY parts allow.
fn schedule_days(s: &Value) -> Result<Days, String> {
    let mut days = Days::default();
    for d in each(&s["byDay"]).into_iter().take(7 * 5) {
        let d = plain(d).unwrap_or_default();
        let word = d
            .rsplit('/')
            .next()
            .unwrap_or(&d)
            .trim()
            .to_ascii_lowercase();
        // A DayOfWeek ("https://schema.org/Tuesday", "Tuesday") or iCalendar's "1MO", "-1FR".
        let split = word.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(0);
        let (n, name) = word.split_at(split);
        let n = match n {
            "" => None,
            n => Some(
                n.parse::<i32>()
                    .ok()
                    .filter(|n| (-5..=5).contains(n) && *n != 0)
                    .ok_or(format!("byDay {d:?}"))?,
            ),
        };
        let day = [
            ("mo", chrono::Weekday::Mon),
            ("tu", chrono::Weekday::Tue),
            ("we", chrono::Weekday::Wed),
            ("th", chrono::Weekday::Thu),
            ("fr", chrono::Weekday::Fri),
            ("sa", chrono::Weekday::Sat),
            ("su", chrono::Weekday::Sun),
        ]
        .into_iter()
        .find(|(c, _)| name.starts_with(c))
        .map(|(_, w)| w)
        .ok_or(format!("byDay {d:?}"))?;
        days.weekdays.push((n, day));
    }
    let weeks = numbers(&s["byMonthWeek"], "byMonthWeek", -5..=5)?;
    if !weeks.is_empty() {
        if days.weekdays.is_empty() {
            return Err("byMonthWeek without byDay".into());
        }
        days.weekdays = weeks
            .iter()
            .flat_map(|n| days.weekdays.iter().map(move |(_, w)| (Some(*n), *w)))
            .collect();
    }
    days.month_days = numbers(&s["byMonthDay"], "byMonthDay", -31..=31)?;
    days.months = numbers(&s["byMonth"], "byMonth", 1..=12)?
        .into_iter()
        .map(|m| m as u32)
        .collect();
    Ok(days)
}

/// A schedule's RRULE value.
fn schedule_rule(s: &Value, days: &Days) -> Result<String, String> {
    let ordinal = days.weekdays.iter().any(|(n, _)| n.is_some());
    let (freq, interval) = match plain(&s["repeatFrequency"]) {
        Some(f) => frequency(&f)?,
        // Without a frequency the BY parts say it: "the first and third Wednesday" is monthly.
        None if ordinal || !days.month_days.is_empty() => ("MONTHLY", 1),
        None if !days.months.is_empty() => ("YEARLY", 1),
        None if !days.weekdays.is_empty() => ("WEEKLY", 1),
        None => return Err("no repeatFrequency".into()),
    };
    if ordinal && !matches!(freq, "MONTHLY" | "YEARLY") {
        return Err(format!(
            "weeks of the month in a {} schedule",
            freq.to_ascii_lowercase()
        ));
    }
    let mut rule = format!("FREQ={freq}");
    if interval > 1 {
        rule.push_str(&format!(";INTERVAL={interval}"));
    }
    let join = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    if !days.months.is_empty() {
        let m: Vec<i32> = days.months.iter().map(|m| *m as i32).collect();
        rule.push_str(&format!(";BYMONTH={}", join(&m)));
    }
    if !days.month_days.is_empty() {
        rule.push_str(&format!(";BYMONTHDAY={}", join(&days.month_days)));
    }
    if !days.weekdays.is_empty() {
        let codes: Vec<String> = days
            .weekdays
            .iter()
            .map(|(n, w)| {
                let code = &w.to_string()[..2].to_ascii_uppercase();
                n.map_or(code.clone(), |n| format!("{n}{code}"))
            })
            .collect();
        rule.push_str(&format!(";BYDAY={}", codes.join(",")));
    }
    if let Some(c) = plain(&s["repeatCount"]) {
        let c: u32 = c.parse().map_err(|_| format!("repeatCount {c:?}"))?;
        rule.push_str(&format!(";COUNT={c}"));
    } else if let Some(e) = plain(&s["endDate"]) {
        let until = match parse_when(&e).ok_or(format!("endDate {e:?}"))? {
            When::Date(d) => format!("{}T235959Z", d.format("%Y%m%d")),
            When::Utc(t) | When::Local(t) => format!("{}Z", t.format(STAMP)),
            When::Offset(d) => format!("{}Z", d.naive_utc().format(STAMP)),
        };
        rule.push_str(&format!(";UNTIL={until}"));
    }
    Ok(rule)
}

/// `repeatFrequency` (an ISO 8601 period or a word) as FREQ and INTERVAL.
fn frequency(freq: &str) -> Result<(&'static str, u32), String> {
    Ok(match freq.to_ascii_uppercase().as_str() {
        "DAILY" => ("DAILY", 1),
        "WEEKLY" => ("WEEKLY", 1),
        "MONTHLY" => ("MONTHLY", 1),
        "YEARLY" | "ANNUALLY" => ("YEARLY", 1),
        other => {
            let body = other
                .strip_prefix('P')
                .ok_or(format!("repeatFrequency {freq:?}"))?;
            // The unit is the last character, which a page may make a multi-byte one.
            let last = body.char_indices().last().map_or(0, |(i, _)| i);
            let (n, unit) = body.split_at(last);
            let n: u32 = n.parse().map_err(|_| format!("repeatFrequency {freq:?}"))?;
            let f = match unit {
                "D" => "DAILY",
                "W" => "WEEKLY",
                "M" => "MONTHLY",
                "Y" => "YEARLY",
                _ => return Err(format!("repeatFrequency {freq:?}")),
            };
            (f, n.max(1))
        }
    })
}

/// An `exceptDate` as an EXDATE value of DTSTART's form: a date takes DTSTART's time and zone.
fn except_value(dtstart: &str, x: &When, tz: Option<Tz>) -> String {
    match x {
        When::Date(d) => match dtstart.rsplit_once(':') {
            Some((params, value)) if value.len() >= 8 => {
                format!("{params}:{}{}", d.format("%Y%m%d"), &value[8..])
            }
            _ => format!(";VALUE=DATE:{}", d.format("%Y%m%d")),
        },
        other => ics_when(other, tz).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sitemap_lists_its_newest_pages_first() {
        let xml = r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
            <url><loc>https://a.example/e/old</loc><lastmod>2019-03-01</lastmod></url>
            <url><loc>https://a.example/about</loc></url>
            <url><loc>https://a.example/e/new</loc><lastmod>2026-11-30T10:00:00+00:00</lastmod></url>
            <url><loc>https://a.example/e/mid?a=1&amp;b=2</loc><lastmod>2024-05-05</lastmod></url>
            <url><loc>https://a.example/contact</loc></url>
        </urlset>"#;
        let (locs, index) = sitemap_locs(xml).unwrap();
        assert!(!index);
        assert_eq!(
            locs,
            [
                "https://a.example/e/new",
                "https://a.example/e/mid?a=1&b=2",
                "https://a.example/e/old",
                "https://a.example/about",
                "https://a.example/contact",
            ]
        );
        let bare = "<urlset><loc>https://a.example/1</loc><loc>https://a.example/2</loc></urlset>";
        assert_eq!(sitemap_locs(bare).unwrap().0.len(), 2);
        assert!(sitemap_locs("<html><body>no</body></html>").is_none());
    }

    #[test]
    fn dates_in_the_shapes_pages_write() {
        let d = |s: &str| parse_when(s).unwrap_or_else(|| panic!("{s}"));
        assert!(matches!(d("2027-01-10"), When::Date(_)));
        assert!(matches!(d("2027-01-10T19:00:00Z"), When::Utc(_)));
        assert!(matches!(d("2027-01-10T19:00+01:00"), When::Offset(_)));
        assert!(matches!(d("2027-01-10T19:00:00+0100"), When::Offset(_)));
        assert!(matches!(d("2027-01-10 19:00"), When::Local(_)));
        assert!(matches!(d("2027-01-10T19:00:00.000"), When::Local(_)));
        // iCalendar's basic form (some plugins copy DTSTART over), an offset in hours alone,
        // a lower-case `t` and unpadded numbers, as microformats' tests and pages write them.
        assert_eq!(d("20270110T190000Z"), d("2027-01-10T19:00:00Z"));
        assert_eq!(d("20270110T190000"), d("2027-01-10T19:00:00"));
        assert_eq!(d("20270110"), d("2027-01-10"));
        assert_eq!(d("2027-01-10T19:00-08"), d("2027-01-10T19:00-08:00"));
        assert_eq!(d("2027-01-10t19:00-08:00"), d("2027-01-10T19:00-08:00"));
        assert_eq!(d("2027-1-5"), d("2027-01-05"));
        assert!(parse_when("next Tuesday").is_none());
        assert!(parse_when("20271310").is_none());
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        assert_eq!(
            ics_when(&d("2027-07-10T19:00:00+02:00"), Some(berlin)).0,
            ";TZID=Europe/Berlin:20270710T190000"
        );
        assert_eq!(
            ics_when(&d("2027-07-10T19:00:00-04:00"), Some(berlin)).0,
            ":20270710T230000Z"
        );
    }

    #[test]
    fn places_and_organizers_are_read_as_html_text_like_names() {
        // WordPress plugins write entities into JSON-LD's strings.
        let p = place(
            &json!({"@type": "Place", "name": "Zentrum &#8220;Linde&#8221;",
            "address": {"streetAddress": "Lindenstra&szlig;e 5", "addressLocality": "Bremen"}}),
        );
        assert_eq!(
            p.text.as_deref(),
            Some("Zentrum “Linde”, Lindenstraße 5, Bremen")
        );
        let p = place(&json!("Caf&eacute; <b>Linde</b>"));
        assert_eq!(p.text.as_deref(), Some("Café Linde"));
        let o = organizer(&json!("Fix &amp; Share e.V."));
        assert_eq!(
            o.as_deref(),
            Some("ORGANIZER;CN=\"Fix & Share e.V.\":mailto:unknown@invalid")
        );
    }

    #[test]
    fn value_class_times_in_twelve_hour_form() {
        let t = |s: &str| vcp_time(s);
        assert_eq!(t("07:00:00pm").as_deref(), Some("19:00:00"));
        assert_eq!(t("07:00:00am").as_deref(), Some("07:00:00"));
        assert_eq!(t("7pm ").as_deref(), Some("19:00:00"));
        assert_eq!(t("07:30 p.m.").as_deref(), Some("19:30:00"));
        assert_eq!(t("12am").as_deref(), Some("00:00:00"));
        assert_eq!(t("12:15pm").as_deref(), Some("12:15:00"));
        assert_eq!(t("19:00-08:00").as_deref(), Some("19:00-08:00"));
        assert_eq!(t("13pm"), None);
        assert_eq!(t("7:61pm"), None);
        assert_eq!(t("26 July"), None);
        let doc = Html::parse_fragment(
            "<p class=dt-start><time class=value datetime=2009-06-26>26 July</time>, from <span class=value>07:00p.m.</span> <span class=value>-0800</span></p>",
        );
        let el = doc.select(&selector(".dt-start")).next().unwrap();
        assert_eq!(mf2_date(el), "2009-06-26T19:00:00-0800");
        // An end given as a time after a start whose tenth byte is inside a character.
        let doc = Html::parse_document(
            "<div class=h-event><span class=p-name>n</span><span class=dt-start>2027-01-0\u{e9}</span><span class=dt-end>10pm</span></div>",
        );
        let root = outermost(&doc, |e| classes(e).contains(&"h-event"), 1)[0];
        assert_eq!(mf_event(root, None, Vocab::Mf2)["endDate"], "10pm");
    }

    #[test]
    fn events_without_a_name_take_their_performer_or_host() {
        let mut out = Vec::new();
        let band = json!({"@type": "MusicGroup", "name": "Foo Fighters", "event": [
            {"@type": "Event", "startDate": "2011-05-20", "location": "Memphis, TN, US"},
            {"@type": "Event", "startDate": "2011-05-23", "performer": {"@type": "MusicGroup", "name": "Support Act"}},
            {"@type": "Event", "name": "Own name", "startDate": "2011-05-24"}
        ]});
        collect_events(&band, 0, None, &mut out);
        let names: Vec<_> = out
            .iter()
            .map(|e| e["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["Foo Fighters", "Support Act", "Own name"]);
        // A festival is an event, and so is each of its own.
        out.clear();
        let festival = json!({"@type": "Festival", "name": "Fusion", "startDate": "2027-06-25",
            "subEvent": [{"@type": "MusicEvent", "name": "Opening", "startDate": "2027-06-25T18:00"}]});
        collect_events(&festival, 0, None, &mut out);
        let names: Vec<_> = out
            .iter()
            .map(|e| e["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["Fusion", "Opening"]);
        // Nothing to name it by: it stays without, and is refused as before.
        out.clear();
        collect_events(
            &json!({"@type": "Event", "startDate": "2011-05-20"}),
            0,
            None,
            &mut out,
        );
        assert!(out[0].get("name").is_none());
    }

    #[test]
    fn nesting_is_measured_as_the_parser_would_nest() {
        let over = MAX_NESTING + 1;
        let deep = format!("<p>a</p>{}", "<div>".repeat(over));
        assert_eq!(nesting_cut(&deep), Some(8 + MAX_NESTING * 5));
        // Closed elements, flat ones (`li`, `td`, `p`), void ones and self-closing SVG do not
        // pile up; text in scripts and comments is not markup.
        let flat = format!(
            "<ul>{}</ul><svg>{}</svg>{}<!-- {} --><script>{}</script><a title=\"<div>\">x</a>",
            "<li>x".repeat(2000),
            "<path d=\"M0\"/>".repeat(2000),
            "<div><br><img src=x></div>".repeat(2000),
            "<div>".repeat(2000),
            "if (a<div) {}".repeat(2000),
        );
        assert_eq!(nesting_cut(&flat), None);
        // A stray end tag closes nothing (the parser ignores it), and `<div/>` opens a div.
        assert!(nesting_cut(&"<div></span>".repeat(over)).is_some());
        assert!(nesting_cut(&"<div/>".repeat(over)).is_some());
        // An end tag closes up to its element, as the parser does: the `b`s left open inside
        // each section close with it.
        let half = MAX_NESTING / 2;
        let closed = format!(
            "{}{}",
            "<section><b>".repeat(half),
            "</section>".repeat(half)
        );
        assert_eq!(nesting_cut(&closed.repeat(4)), None);
    }

    #[test]
    fn one_element_with_many_property_names_costs_one_value() {
        // 1,000 property classes (or itemprop names) on one element over 100 KB of text: each
        // name used to take its own copy of the text.
        let text = "y".repeat(100_000);
        let many: Vec<String> = (0..1000).map(|i| format!("p-x{i}")).collect();
        let html = format!(
            "<div class=h-event><span class=\"p-name p-name p-name\">n</span><div class=\"{} p-description\">{text}</div></div>",
            many.join(" ")
        );
        let doc = Html::parse_document(&html);
        let root = outermost(&doc, |e| classes(e).contains(&"h-event"), 1)[0];
        let p = mf2_properties(root, None, Vocab::Mf2, 0);
        assert_eq!(p.len(), 2, "{:?}", p.keys().collect::<Vec<_>>());
        assert_eq!(p["description"].as_str().map(str::len), Some(MAX_TEXT));
        let names: Vec<String> = (0..1000).map(|i| format!("x{i}")).collect();
        let html = format!(
            "<div itemscope itemtype=https://schema.org/Event><span itemprop=name>n</span><div itemprop=\"{}\">{text}</div></div>",
            names.join(" ")
        );
        let doc = Html::parse_document(&html);
        let item = outermost(&doc, |e| e.value().attr("itemscope").is_some(), 1)[0];
        let v = item_json(item, None, Attrs::Microdata, 0);
        assert!(
            v.as_object().unwrap().len() <= 1 + 1 + 8,
            "{}",
            v.as_object().unwrap().len()
        );
    }

    #[test]
    fn event_types_people_go_to() {
        for t in [
            "Event",
            "https://schema.org/MusicEvent",
            "schema:SocialEvent",
            "Festival",
            "http://schema.org/Hackathon",
            "CourseInstance",
            "EventSeries",
        ] {
            assert!(is_event_type(t), "{t}");
        }
        for t in [
            "PublicationEvent",
            "https://schema.org/BroadcastEvent",
            "OnDemandEvent",
            "DeliveryEvent",
            "InstantaneousEvent",
            "Place",
            "Eventual",
        ] {
            assert!(!is_event_type(t), "{t}");
        }
    }

    #[test]
    fn outermost_roots_in_document_order() {
        let doc = Html::parse_document(
            "<div class=r id=a><div class=r id=inner></div></div><p><span class=r id=b></span></p><i class=r id=c></i>",
        );
        let ids: Vec<_> = outermost(&doc, |e| classes(e).contains(&"r"), 10)
            .into_iter()
            .filter_map(|e| e.value().attr("id"))
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(outermost(&doc, |e| classes(e).contains(&"r"), 2).len(), 2);
    }

    #[test]
    fn json_ld_as_sites_write_it() {
        let v = read_json("<!--\n{\"@type\": \"Event\", \"name\": \"Line\none\tand two\",\n \"keywords\": [\"a\", \"b\",],\n};\n-->")
            .unwrap();
        assert_eq!(v["name"], "Line\none\tand two");
        assert_eq!(v["keywords"], json!(["a", "b"]));
        assert_eq!(read_json("{\"a\": \"x,}\"}").unwrap()["a"], "x,}");
        assert!(read_json("{\"a\": ").is_err());
        // Comments a template left in (extruct's sample from a news site), not inside strings.
        let v = read_json(
            "{\"@type\": \"Event\", // type\n \"url\": \"https://a.example/x\", /* why */\n \"name\": \"a // b /* c */\", // last\n //\"x\": 1\n}",
        )
        .unwrap();
        assert_eq!(v["url"], "https://a.example/x");
        assert_eq!(v["name"], "a // b /* c */");
        assert!(v.get("x").is_none());
        assert!(read_json("{\"a\": 1 /* never closed").is_err());
    }

    /// schema.org's JSON-LD context aliases `type` and `id` to `@type` and `@id`; the Canadian
    /// arts knowledge graph (artsdata.ca, schema.org's example 4468) writes its events so.
    #[test]
    fn json_ld_type_and_id_aliases_name_events() {
        let read = |v: serde_json::Value| {
            let html = format!("<script type=\"application/ld+json\">{v}</script>");
            json_ld(&Html::parse_document(&html), &mut Vec::new())
        };
        let out = read(
            json!({"@context": "http://schema.org", "type": "PerformingArtsEvent",
            "id": "http://kg.artsdata.ca/resource/K43-1500", "name": "Ten Thousand Hours",
            "startDate": "2026-04-28T19:00:00-04:00",
            "location": {"type": "Place", "name": "Salle Desjardins"}}),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["@type"], "PerformingArtsEvent");
        assert_eq!(out[0]["@id"], "http://kg.artsdata.ca/resource/K43-1500");
        assert_eq!(out[0]["location"]["@type"], "Place");
        // `@type` itself wins over a `type` beside it (another vocabulary's property).
        let out = read(json!({"@context": ["https://schema.org"], "@type": "Place",
            "type": "Event", "startDate": "2027-01-01"}));
        assert!(out.is_empty());
        // ActivityStreams' `type: Event` (Mobilizon's objects) is not schema.org's.
        let out = read(json!({"@context": "https://www.w3.org/ns/activitystreams",
            "type": "Event", "name": "AS2", "startTime": "2027-01-01T10:00:00Z"}));
        assert!(out.is_empty());
    }

    #[test]
    fn json_ld_from_rdf_tools_names_properties_by_iri() {
        let v = json!({"@graph": [
            {"@type": "http://schema.org/Event",
             "http://schema.org/name": [{"@value": "By IRI", "@language": "en"}],
             "http://schema.org/location": {"https://schema.org/name": "Hall"}},
            {"@type": "schema:Event", "schema:name": "long", "name": "Prefixed",
             "schema:startDate": "2027-05-07T19:00:00+02:00"}
        ]});
        let mut out = Vec::new();
        collect_events(&v, 0, None, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(text(&out[0]["name"]).as_deref(), Some("By IRI"));
        assert_eq!(out[0]["location"]["name"], "Hall");
        // The short name wins over its long form; the long one is not kept beside it.
        assert_eq!(out[1]["name"], "Prefixed");
        assert!(out[1].get("schema:name").is_none());
        assert_eq!(out[1]["startDate"], "2027-05-07T19:00:00+02:00");
    }

    /// `eventStatus` as sites write it: by IRI, prefixed, bare, in another case, and spelt
    /// `EventCanceled`; each cancellation is one.
    #[test]
    fn every_spelling_of_a_cancellation_cancels() {
        let key = discal_protocol::NodeSecret::from_seed_array([4; 32]).public();
        for status in [
            "https://schema.org/EventCancelled",
            "http://schema.org/EventCanceled",
            "schema:EventCancelled",
            "EventCanceled",
            "eventcancelled",
        ] {
            let html = format!(
                "<script type=\"application/ld+json\">{{\"@type\": \"Event\", \"name\": \"Meetup\", \
                 \"startDate\": \"2027-05-07T19:00:00+02:00\", \"eventStatus\": \"{status}\"}}</script>"
            );
            let page = read_page(&html, "https://a.example/e", None, &key, &Limits::default());
            let status_of = page.reading.events[0].content.master.status;
            assert_eq!(
                status_of,
                Some(discal_protocol::model::Status::Cancelled),
                "{status}"
            );
        }
    }

    #[test]
    fn schedules_as_rules() {
        let r = |v: Value| read_schedule(&v).map(|s| s.rule);
        assert_eq!(
            r(
                json!({"repeatFrequency": "P1W", "byDay": "https://schema.org/Tuesday", "repeatCount": 10})
            ),
            Ok("FREQ=WEEKLY;BYDAY=TU;COUNT=10".into())
        );
        assert_eq!(
            r(
                json!({"repeatFrequency": "P2W", "byDay": ["Monday", "Thursday"], "endDate": "2027-06-30"})
            ),
            Ok("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;UNTIL=20270630T235959Z".into())
        );
        assert!(r(json!({"repeatFrequency": "PT1H"})).is_err());
        // A multi-byte unit is refused, not a panic.
        assert!(r(json!({"repeatFrequency": "P1\u{e9}"})).is_err());
        assert!(r(json!({"repeatFrequency": "P\u{1f600}"})).is_err());
        // The BY parts schema.org has, and a frequency they imply when none is written.
        assert_eq!(
            r(json!({"byDay": "https://schema.org/Wednesday", "byMonthWeek": [1, 3]})),
            Ok("FREQ=MONTHLY;BYDAY=1WE,3WE".into())
        );
        assert_eq!(
            r(json!({"repeatFrequency": "P1M", "byMonthDay": [1, 15]})),
            Ok("FREQ=MONTHLY;BYMONTHDAY=1,15".into())
        );
        assert_eq!(
            r(json!({"repeatFrequency": "P1Y", "byMonth": 5, "byDay": "-1FR"})),
            Ok("FREQ=YEARLY;BYMONTH=5;BYDAY=-1FR".into())
        );
        assert_eq!(
            r(json!({"byDay": ["Monday", "Friday"]})),
            Ok("FREQ=WEEKLY;BYDAY=MO,FR".into())
        );
        // Weeks of the month in a weekly rule say two things; no day, no rule.
        assert!(r(json!({"repeatFrequency": "P1W", "byDay": "Monday", "byMonthWeek": 2})).is_err());
        assert!(r(json!({"byMonthWeek": 2})).is_err());
        assert!(r(json!({"byMonthDay": 32})).is_err());
        assert!(r(json!({"byDay": "Someday"})).is_err());
        assert!(r(json!({"startTime": "19:00"})).is_err());
    }

    #[test]
    fn a_schedule_starts_on_its_first_occurrence() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let sch = |v: Value| read_schedule(&v).unwrap();
        // First and third Wednesday, none written: from "today", 2026-12-06 (a Sunday).
        let s = sch(
            json!({"byDay": "Wednesday", "byMonthWeek": [1, 3], "startTime": "19:30", "endTime": "21:00"}),
        );
        let t = NaiveTime::from_hms_opt(19, 30, 0).unwrap();
        assert_eq!(
            s.first(None, None, d("2026-12-06")),
            Some(When::Local(d("2026-12-16").and_time(t)))
        );
        assert_eq!(s.length.as_deref(), Some("PT1H30M"));
        let s = sch(json!({"byDay": "Friday", "startTime": "7pm", "endTime": "10:30 p.m."}));
        assert_eq!(s.start_time, NaiveTime::from_hms_opt(19, 0, 0));
        assert_eq!(s.length.as_deref(), Some("PT3H30M"));
        // A start written on a Sunday for a Wednesday class moves to the Wednesday (RFC 5545
        // counts DTSTART as an occurrence); a time with an offset keeps it.
        let s = sch(json!({"repeatFrequency": "P1W", "byDay": "Wednesday"}));
        let sunday = DateTime::parse_from_rfc3339("2017-01-01T19:00:00+01:00").unwrap();
        assert_eq!(
            s.first(Some(When::Offset(sunday)), None, d("2026-12-06")),
            Some(When::Offset(sunday + chrono::Duration::days(3)))
        );
        // The last Friday, counted from the month's end; a late endTime crosses midnight.
        let s = sch(
            json!({"repeatFrequency": "P1M", "byDay": "-1FR", "startDate": "2027-02-01", "startTime": "22:00", "endTime": "02:00"}),
        );
        assert_eq!(
            s.first(None, None, d("2026-12-06")),
            Some(When::Local(d("2027-02-26").and_hms_opt(22, 0, 0).unwrap()))
        );
        assert_eq!(s.length.as_deref(), Some("PT4H0M"));
        // 29 February is four years away at most; an impossible day is none.
        let s = sch(json!({"repeatFrequency": "P1Y", "byMonth": 2, "byMonthDay": 29}));
        assert_eq!(
            s.first(None, None, d("2025-03-01")).map(|w| w.day()),
            Some(d("2028-02-29"))
        );
        let s = sch(json!({"repeatFrequency": "P1Y", "byMonth": 2, "byMonthDay": 30}));
        assert_eq!(s.first(None, None, d("2025-03-01")), None);
    }
}
