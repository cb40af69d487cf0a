//! A view as an Atom feed (RFC 4287), for feed readers and website widgets.

use chrono::DateTime;
use discal_protocol::view::ViewFilter;
use discal_store::Hit;
use quick_xml::events::{BytesDecl, BytesStart, Event};

use super::xml::{xml_err, xml_text, Xml};

use crate::display::{
    cut, display_zone, event_path, shown_instance, when_text, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::i18n::strings;
use crate::Gateway;

fn stamp(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
    let mut a = Xml::new();
    let updated = hits
        .iter()
        .map(|h| h.event.payload.issued_at_ms)
        .max()
        .unwrap_or(0);
    a.w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .map_err(xml_err)?;
    let mut feed = BytesStart::new("feed");
    feed.push_attribute(("xmlns", "http://www.w3.org/2005/Atom"));
    feed.push_attribute(("xml:lang", f.lang.tag()));
    a.start(feed)?;
    a.text("title", &gw.name)?;
    a.text("id", &format!("{base}{self_url}"))?;
    a.text("updated", &stamp(updated))?;
    a.empty(
        "link",
        &[("rel", "self"), ("href", &format!("{base}{self_url}"))],
    )?;
    if let Some(n) = next_url {
        a.empty("link", &[("rel", "next"), ("href", &format!("{base}{n}"))])?;
    }
    a.text("generator", "DisCal")?;
    let now = crate::read::now(gw);
    for h in hits {
        entry(&mut a, f, h, base, now)?;
    }
    a.end("feed")?;
    a.finish()
}

/// One event's entry: title (marked when cancelled), links to its page and its iCalendar
/// file, origin, tags, when and where, description.
fn entry(
    a: &mut Xml,
    f: &ViewFilter,
    h: &Hit,
    base: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let lang = f.lang;
    let e = &h.event;
    let m = &e.content().master;
    let zone = display_zone(f, m);
    let page = format!("{base}{}", event_path(e));
    a.start(BytesStart::new("entry"))?;
    let mut title =
        crate::display::line(m.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX).into_owned();
    if e.content().is_cancelled() {
        title = format!("[{}] {title}", strings(lang).cancelled);
    }
    a.text("title", &title)?;
    a.text("id", &page)?;
    a.text("updated", &stamp(e.payload.issued_at_ms))?;
    a.empty(
        "link",
        &[("rel", "alternate"), ("type", "text/html"), ("href", &page)],
    )?;
    a.empty(
        "link",
        &[
            ("rel", "alternate"),
            ("type", "text/calendar"),
            ("href", &format!("{page}/event.ics")),
        ],
    )?;
    for x in &h.also {
        let href = format!(
            "{base}/events/{}/{}",
            x.origin,
            crate::read::path_segment(&x.uid)
        );
        a.empty("link", &[("rel", "related"), ("href", &href)])?;
    }
    a.start(BytesStart::new("author"))?;
    a.text("name", &e.payload.origin.to_string())?;
    a.end("author")?;
    for t in &m.categories {
        a.w.create_element("category")
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
        summary.push_str(&crate::display::line(l, TITLE_MAX));
    }
    if !h.also.is_empty() {
        summary.push_str(&format!(
            " · {} {}",
            strings(lang).also_listed,
            crate::read::also_names(&h.also)
        ));
    }
    a.text("summary", &summary)?;
    if let Some(d) = &m.description {
        a.text(
            "content",
            &crate::rich::description_text(&cut(d, DESCRIPTION_MAX)),
        )?;
    }
    a.end("entry")
}
