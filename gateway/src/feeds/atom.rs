//! A view as an Atom feed (RFC 4287), for feed readers and website widgets.

use chrono::DateTime;
use discal_protocol::view::ViewFilter;
use discal_store::Hit;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use crate::display::{
    cut, display_zone, event_path, shown_instance, when_text, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::i18n::strings;
use crate::Gateway;

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
