//! The iCalendar and Atom renderings of a view, and the display helpers the HTML views share
//! (which zone an instance is shown in, how its date reads).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use discal_protocol::ics::{escape_text, fold_line, write_calendar};
use discal_protocol::model::{Component, DateTimeValue, End};
use discal_protocol::recur::{self, ExpandLimits, Occurrence};
use discal_protocol::view::{Lang, ViewFilter};
use discal_store::{Hit, StoredEvent};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::i18n::{self, strings};
use crate::read::path_segment;
use crate::{ics_event, Gateway};

/// Every TZID an event's values name.
pub fn tzids(ev: &StoredEvent, out: &mut BTreeSet<String>) {
    for c in ev.content().components() {
        let mut add = |v: &DateTimeValue| {
            if let Some(t) = v.tzid() {
                out.insert(t.to_owned());
            }
        };
        add(&c.start);
        if let Some(End::At(e)) = &c.end {
            add(e);
        }
        if let Some(r) = &c.recurrence_id {
            add(r);
        }
        c.rdates.iter().for_each(&mut add);
        c.exdates.iter().for_each(&mut add);
    }
}

/// The VTIMEZONE of a zone, generated once per process (a scan of 68 years of transitions).
pub fn vtimezone(tzid: &str) -> Option<Arc<str>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<str>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().ok()?.get(tzid) {
        return Some(v.clone());
    }
    let tz = discal_protocol::tz::iana(tzid)?;
    let v: Arc<str> = discal_protocol::vtimezone::vtimezone(tzid, tz).into();
    cache.lock().ok()?.insert(tzid.to_owned(), v.clone());
    Some(v)
}

/// A complete VCALENDAR for `events`: a VTIMEZONE for each TZID used, calendar name, refresh
/// hints, and `note` (an X-property saying the answer was cut short, with where to go on).
pub fn ics_calendar<'a>(
    name: &str,
    events: impl IntoIterator<Item = &'a StoredEvent> + Clone,
    note: Option<&str>,
) -> String {
    let mut zones = BTreeSet::new();
    for e in events.clone() {
        tzids(e, &mut zones);
    }
    let mut header = String::new();
    fold_line(&mut header, &format!("X-WR-CALNAME:{}", escape_text(name)));
    fold_line(&mut header, "REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    fold_line(&mut header, "X-PUBLISHED-TTL:PT1H");
    if let Some(n) = note {
        fold_line(
            &mut header,
            &format!("X-DISCAL-TRUNCATED:{}", escape_text(n)),
        );
    }
    for z in &zones {
        if let Some(v) = vtimezone(z) {
            header.push_str(&v);
        }
    }
    write_calendar(events.into_iter().map(ics_event), &[header])
}

/// The zone an event's instance is shown in: the one the reader asked for, else the event's
/// own (floating and all-day times stay as written, UTC stays UTC).
pub fn display_zone(f: &ViewFilter, c: &Component) -> Tz {
    if let Some(tz) = f.tz {
        return tz;
    }
    match &c.start {
        DateTimeValue::Zoned { tzid, .. } => discal_protocol::tz::iana(tzid).unwrap_or(Tz::UTC),
        DateTimeValue::Floating(_) | DateTimeValue::Date(_) => f.zone(),
        DateTimeValue::Utc(_) => Tz::UTC,
    }
}

/// "Saturday, 7 March 2026, 19:00–21:00" or "…, all day", in `zone`.
pub fn when_text(lang: Lang, o: &Occurrence, zone: Tz) -> String {
    let s = o.start.with_timezone(&zone);
    if o.all_day {
        let last = (o.end - Duration::seconds(1))
            .with_timezone(&zone)
            .date_naive();
        if last > s.date_naive() {
            return format!(
                "{} – {}",
                i18n::long_date(lang, s.date_naive()),
                i18n::long_date(lang, last)
            );
        }
        return format!(
            "{}, {}",
            i18n::long_date(lang, s.date_naive()),
            strings(lang).all_day
        );
    }
    let e = o.end.with_timezone(&zone);
    let mut out = format!(
        "{}, {}",
        i18n::long_date(lang, s.date_naive()),
        i18n::time(&s)
    );
    if o.end > o.start {
        if e.date_naive() == s.date_naive() {
            out.push_str(&format!("–{}", i18n::time(&e)));
        } else {
            out.push_str(&format!(
                " – {}, {}",
                i18n::long_date(lang, e.date_naive()),
                i18n::time(&e)
            ));
        }
    }
    out
}

/// The instance to show for an event: the first in the window, else the next one from `now`
/// (the first ever if none is ahead).
pub fn shown_instance(h: &Hit, zone: Tz, now: DateTime<Utc>) -> Option<Occurrence> {
    if let Some(o) = h.occurrences.first() {
        return Some(o.clone());
    }
    let c = h.event.content();
    let lim = ExpandLimits {
        max_examined: 2000,
        max_returned: 1,
    };
    recur::expand(c, now, now + Duration::days(3660), zone, lim)
        .ok()
        .and_then(|x| x.occurrences.into_iter().next())
        .or_else(|| {
            let start = recur::instant(&c.master.start, zone).ok()?;
            recur::expand(c, start, start + Duration::days(1), zone, lim)
                .ok()
                .and_then(|x| x.occurrences.into_iter().next())
        })
}

/// The page of one event, relative to the gateway root.
pub fn event_path(e: &StoredEvent) -> String {
    format!(
        "/events/{}/{}",
        e.payload.origin,
        path_segment(&e.payload.uid)
    )
}

/// Only http(s) URLs become links; `javascript:`, `data:` and the rest stay text.
pub fn safe_link(url: &str) -> Option<&str> {
    let u = url.trim();
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        .then_some(u)
        .filter(|u| !u.chars().any(|c| c.is_control() || c == ' ' || c == '"'))
}

/// Cuts text for display at `max` characters, marking the cut.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// The longest text shown for a title and a description in HTML and Atom.
pub const TITLE_MAX: usize = 300;
/// See [`TITLE_MAX`].
pub const DESCRIPTION_MAX: usize = 5000;

fn xml_err(e: impl std::fmt::Display) -> String {
    format!("writing XML: {e}")
}

/// An Atom feed (RFC 4287): one entry per event with its date, place and link.
pub fn atom_feed(
    gw: &Gateway,
    f: &ViewFilter,
    hits: &[Hit],
    self_url: &str,
    next_url: Option<&str>,
) -> Result<String, String> {
    let base = gw.public_url.trim_end_matches('/');
    let lang = f.lang;
    let now = crate::read::now(gw);
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 1);
    let updated = hits
        .iter()
        .map(|h| h.event.payload.issued_at_ms)
        .max()
        .unwrap_or(0);
    let stamp = |ms: i64| {
        DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .map_err(xml_err)?;
    let mut feed = BytesStart::new("feed");
    feed.push_attribute(("xmlns", "http://www.w3.org/2005/Atom"));
    feed.push_attribute(("xml:lang", lang.tag()));
    w.write_event(Event::Start(feed)).map_err(xml_err)?;
    let text_el = |w: &mut Writer<Vec<u8>>, name: &str, text: &str| -> Result<(), String> {
        w.create_element(name)
            .write_text_content(BytesText::new(&xml_text(text)))
            .map(|_| ())
            .map_err(xml_err)
    };
    let link = |w: &mut Writer<Vec<u8>>, attrs: &[(&str, &str)]| -> Result<(), String> {
        w.create_element("link")
            .with_attributes(attrs.iter().copied())
            .write_empty()
            .map(|_| ())
            .map_err(xml_err)
    };
    text_el(&mut w, "title", &gw.name)?;
    text_el(&mut w, "id", &format!("{base}{self_url}"))?;
    text_el(&mut w, "updated", &stamp(updated))?;
    link(
        &mut w,
        &[("rel", "self"), ("href", &format!("{base}{self_url}"))],
    )?;
    if let Some(n) = next_url {
        link(&mut w, &[("rel", "next"), ("href", &format!("{base}{n}"))])?;
    }
    w.create_element("generator")
        .write_text_content(BytesText::new("DisCal"))
        .map_err(xml_err)?;
    for h in hits {
        let e = &h.event;
        let m = &e.content().master;
        let zone = display_zone(f, m);
        let page = format!("{base}{}", event_path(e));
        w.write_event(Event::Start(BytesStart::new("entry")))
            .map_err(xml_err)?;
        let mut title = cut(m.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX).into_owned();
        if e.content().is_cancelled() {
            title = format!("[{}] {title}", strings(lang).cancelled);
        }
        text_el(&mut w, "title", &title)?;
        text_el(&mut w, "id", &page)?;
        text_el(&mut w, "updated", &stamp(e.payload.issued_at_ms))?;
        link(
            &mut w,
            &[("rel", "alternate"), ("type", "text/html"), ("href", &page)],
        )?;
        link(
            &mut w,
            &[
                ("rel", "alternate"),
                ("type", "text/calendar"),
                ("href", &format!("{page}/event.ics")),
            ],
        )?;
        w.write_event(Event::Start(BytesStart::new("author")))
            .map_err(xml_err)?;
        text_el(&mut w, "name", &e.payload.origin.to_string())?;
        w.write_event(Event::End(BytesEnd::new("author")))
            .map_err(xml_err)?;
        for t in &m.categories {
            w.create_element("category")
                .with_attribute(("term", xml_text(t).as_str()))
                .write_empty()
                .map_err(xml_err)?;
        }
        let mut summary = String::new();
        if let Some(o) = shown_instance(h, zone, now) {
            summary.push_str(&when_text(lang, &o, zone));
            summary.push_str(&format!(" ({zone})"));
        }
        if let Some(l) = &m.location {
            summary.push_str(" · ");
            summary.push_str(&cut(l, TITLE_MAX));
        }
        text_el(&mut w, "summary", &summary)?;
        if let Some(d) = &m.description {
            text_el(&mut w, "content", &cut(d, DESCRIPTION_MAX))?;
        }
        w.write_event(Event::End(BytesEnd::new("entry")))
            .map_err(xml_err)?;
    }
    w.write_event(Event::End(BytesEnd::new("feed")))
        .map_err(xml_err)?;
    String::from_utf8(w.into_inner()).map_err(xml_err)
}

/// XML 1.0 cannot carry most control characters even escaped; they are dropped.
fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}
