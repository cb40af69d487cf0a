//! A view as RSS 2.0, beside Atom: many website widgets read only RSS. One item per event, its
//! title, link, date (the publication time, as RSS means it), tags and a description that
//! starts with when and where the event is.

use chrono::DateTime;
use discal_protocol::view::ViewFilter;
use discal_store::Hit;
use quick_xml::events::{BytesDecl, BytesStart, Event};

use super::xml::{xml_err, Xml};

use crate::display::{
    cut, display_zone, event_path, shown_instance, when_text, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::i18n::strings;
use crate::Gateway;

/// RFC 822 dates, as RSS 2.0 wants them.
fn rfc822(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc2822()
}

/// An RSS 2.0 channel of the view's events.
pub fn rss_feed(
    gw: &Gateway,
    f: &ViewFilter,
    hits: &[Hit],
    self_url: &str,
) -> Result<String, String> {
    let base = gw.public_url.trim_end_matches('/');
    let mut r = Xml::new();
    r.w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .map_err(xml_err)?;
    let mut rss = BytesStart::new("rss");
    rss.push_attribute(("version", "2.0"));
    rss.push_attribute(("xmlns:atom", "http://www.w3.org/2005/Atom"));
    r.start(rss)?;
    r.start(BytesStart::new("channel"))?;
    r.text("title", &gw.name)?;
    r.text("link", &format!("{base}/"))?;
    r.text("description", &format!("{} – DisCal", gw.name))?;
    r.text("language", f.lang.tag())?;
    r.text("generator", "DisCal")?;
    let updated = hits
        .iter()
        .map(|h| h.event.payload.issued_at_ms)
        .max()
        .unwrap_or(0);
    r.text("lastBuildDate", &rfc822(updated))?;
    r.empty(
        "atom:link",
        &[
            ("href", &format!("{base}{self_url}")),
            ("rel", "self"),
            ("type", "application/rss+xml"),
        ],
    )?;
    let now = crate::read::now(gw);
    for h in hits {
        item(&mut r, f, h, base, now)?;
    }
    r.end("channel")?;
    r.end("rss")?;
    r.finish()
}

fn item(
    r: &mut Xml,
    f: &ViewFilter,
    h: &Hit,
    base: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), String> {
    let e = &h.event;
    let m = &e.content().master;
    let zone = display_zone(f, m);
    let page = format!("{base}{}", event_path(e));
    r.start(BytesStart::new("item"))?;
    let mut title =
        crate::display::line(m.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX).into_owned();
    if e.content().is_cancelled() {
        title = format!("[{}] {title}", strings(f.lang).cancelled);
    }
    r.text("title", &title)?;
    r.text("link", &page)?;
    r.text_with("guid", &[("isPermaLink", "true")], &page)?;
    r.text("pubDate", &rfc822(e.payload.issued_at_ms))?;
    for t in &m.categories {
        r.text("category", t)?;
    }
    let mut d = String::new();
    if let Some(o) = shown_instance(h, zone, now) {
        d.push_str(&format!("{} ({zone})", when_text(f.lang, &o, zone)));
    }
    if let Some(l) = &m.location {
        d.push_str(" · ");
        d.push_str(&crate::display::line(l, TITLE_MAX));
    }
    if !h.also.is_empty() {
        d.push_str(&format!(
            " · {} {}",
            strings(f.lang).also_listed,
            crate::read::also_names(&h.also)
        ));
    }
    if let Some(text) = &m.description {
        d.push_str("\n\n");
        d.push_str(&crate::rich::description_text(&cut(text, DESCRIPTION_MAX)));
    }
    r.text("description", &d)?;
    r.end("item")
}
