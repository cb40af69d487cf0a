//! The pages people open directly: an event's page, the `/views` URL builder, the front page.

use chrono::{DateTime, Utc};
use discal_protocol::recur::Occurrence;
use discal_protocol::view::Lang;
use discal_protocol::view::ViewFilter;
use discal_store::{Hit, StoredEvent};
use maud::html;

use crate::display::{
    cut, display_zone, event_path, safe_link, shown_instance, when_text, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::html::{page, Look};
use crate::i18n::strings;
use crate::read::query_string;

/// An event's own page: what, when (the next instances), where, and its links.
pub fn event_page(
    f: &ViewFilter,
    e: &StoredEvent,
    upcoming: &[Occurrence],
    now: DateTime<Utc>,
) -> String {
    let lang = f.lang;
    let s = strings(lang);
    let c = e.content();
    let m = &c.master;
    let zone = display_zone(f, m);
    let title = cut(m.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX);
    let h = Hit {
        event: e.clone(),
        occurrences: upcoming.to_vec(),
    };
    let first = shown_instance(&h, zone, now);
    let ics = format!("{}/event.ics", event_path(e));
    let look = Look::default();
    let body = html! {
        main.discal.event-page {
            h1 {
                @if c.is_cancelled() { del { (title) } " " span.badge { (s.cancelled) } }
                @else { (title) }
            }
            dl {
                dt { (s.when) }
                dd {
                    @if let Some(o) = &first { (when_text(lang, o, zone)) " (" (zone.name()) ")" }
                    @if upcoming.len() > 1 {
                        details {
                            summary { (s.upcoming) }
                            ul { @for o in upcoming { li { (when_text(lang, o, zone)) } } }
                        }
                    }
                }
                @if let Some(l) = &m.location {
                    dt { (s.where_) }
                    dd {
                        (cut(l, TITLE_MAX))
                        @if let Some(g) = m.geo {
                            " (" a href=(format!("https://www.openstreetmap.org/?mlat={}&mlon={}", g.lat, g.lon)) rel="noopener" target="_blank" { (format!("{:.4}, {:.4}", g.lat, g.lon)) } ")"
                        }
                    }
                }
                @if !m.categories.is_empty() {
                    dt { (s.tags) }
                    dd { @for t in &m.categories { span.tag { (t) } " " } }
                }
                @if let Some(u) = &m.url {
                    dt { (s.link) }
                    dd {
                        @if let Some(safe) = safe_link(u) { a href=(safe) rel="noopener nofollow" target="_blank" { (cut(safe, 200)) } }
                        @else { (cut(u, 200)) }
                    }
                }
                dt { (s.origin) }
                dd { code { (e.payload.origin.to_string()) } }
                dt { (s.revision) }
                dd { (e.payload.revision) }
            }
            @if let Some(d) = &m.description {
                div.description { (cut(d, DESCRIPTION_MAX)) }
            }
            p.links {
                a href=(ics) { (s.add_to_calendar) }
                @if let Some(r) = m.revise_url.as_deref().and_then(safe_link) {
                    " · " a href=(r) rel="nofollow" { (s.propose_change) }
                }
            }
        }
    };
    page(lang, &title, &look, body)
}

/// The `/views` page: a form that builds a personal view's URLs, and a preview.
pub fn views_page(
    base: &str,
    f: &ViewFilter,
    pairs: &[(&str, &str)],
    error: Option<&str>,
) -> String {
    let lang = f.lang;
    let s = strings(lang);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| *v)
            .unwrap_or("")
    };
    // The feed URLs carry the filter only; the embed URL also its look.
    let filter_pairs: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, v)| !v.is_empty() && !crate::html::LOOK_PARAMS.contains(k))
        .collect();
    let all_pairs: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let fq = query_string(filter_pairs.iter().copied());
    let sep = |q: &str| {
        if q.is_empty() {
            String::new()
        } else {
            format!("?{q}")
        }
    };
    let ics = format!("{base}/feed.ics{}", sep(&fq));
    let webcal = ics
        .replacen("https://", "webcal://", 1)
        .replacen("http://", "webcal://", 1);
    let embed = format!(
        "{base}/embed{}",
        sep(&query_string(all_pairs.iter().copied()))
    );
    let snippet = format!(
        "<div data-discal=\"{embed}\"></div>\n<script src=\"{base}/embed.js\" async></script>"
    );
    let iframe = format!(
        "<iframe src=\"{embed}\" title=\"Calendar\" style=\"width:100%;height:600px;border:0\" loading=\"lazy\"></iframe>"
    );
    let field = |name: &'static str, label: &'static str, hint: &'static str| {
        html! {
            label { span { (label) } input type="text" name=(name) value=(get(name)) placeholder=(hint); }
        }
    };
    let select = |name: &'static str, options: &[&'static str]| {
        let cur = get(name);
        html! {
            label { span { (name) }
                select name=(name) {
                    @for o in options { option value=(o) selected[cur == *o] { (o) } }
                }
            }
        }
    };
    let look = Look::default();
    let body = html! {
        main.discal.views {
            h1 { (s.build_view) }
            p { (s.view_intro) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="get" action="/views" {
                (field("tags", "tags", "linux,meetup"))
                (field("exclude_tags", "exclude_tags", "online"))
                (field("near", "near", "52.52,13.40"))
                (field("radius_km", "radius_km", "25"))
                (field("from", "from", "2026-01-01"))
                (field("to", "to", "2026-12-31"))
                (field("days", "days", "30"))
                (field("origin", "origin", "node key"))
                (field("q", "q", "text"))
                (field("tz", "tz", "Europe/Berlin"))
                (select("lang", &["en", "de"]))
                (select("view", &["list", "agenda", "month"]))
                (select("theme", &["light", "dark"]))
                (field("accent", "accent", "2457c5"))
                button type="submit" { (s.show) }
            }
            @if error.is_none() {
                h2 { (s.subscribe) }
                dl.urls {
                    dt { "webcal" } dd { a href=(webcal) { code { (webcal) } } }
                    dt { "ICS" } dd { a href=(ics) { code { (ics) } } }
                    dt { "JSCalendar" } dd { code { (format!("{base}/feed.json{}", sep(&fq))) } }
                    dt { "Atom" } dd { code { (format!("{base}/feed.atom{}", sep(&fq))) } }
                }
                h2 { (s.embed) }
                pre { code { (snippet) } }
                pre { code { (iframe) } }
                h2 { (s.preview) }
                p { a href=(embed) { (embed) } }
            }
        }
    };
    page(lang, s.build_view, &look, body)
}

/// The front page: what this node is and where its feeds are.
pub fn index_page(name: &str, base: &str, events: u64) -> String {
    let look = Look::default();
    let body = html! {
        main.discal.index {
            h1 { (name) }
            p { "A DisCal node: " (events) " events from a federation of public calendars." }
            ul {
                li { a href="/views" { "Build a personal view (subscribe, embed)" } }
                li { a href=(format!("{base}/feed.ics")) { "All events (iCalendar)" } }
                li { a href="/feed.json" { "All events (JSCalendar)" } }
                li { a href="/feed.atom" { "All events (Atom)" } }
                li { a href="/embed?view=month" { "This month" } }
            }
        }
    };
    page(Lang::En, name, &look, body)
}
