//! The pages people open directly: an event's page, the `/views` URL builder, the front page.

use chrono::{DateTime, Utc};
use discal_protocol::recur::Occurrence;
use discal_protocol::view::Lang;
use discal_protocol::view::ViewFilter;
use discal_store::{Hit, StoredEvent};
use maud::{html, Markup};

use crate::display::{
    cut, display_zone, event_path, safe_link, shown_instance, when_text, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::html::{page, page_with_head, Look, LOOK_PARAMS};
use crate::i18n::strings;
use crate::read::query_string;

/// What an event's page needs besides the event: names of nodes, this node's key, its URL.
pub struct EventContext {
    /// Names of the nodes this node knows.
    pub names: super::event_meta::NodeNames,
    /// This node's key.
    pub here: Option<discal_protocol::NodeKey>,
    /// The page's absolute URL.
    pub url: String,
}

/// An event's own page: what, when (the next instances, the rule in words), where, who
/// published it and how it got here, its links; Open Graph and JSON-LD in the head.
pub fn event_page(
    f: &ViewFilter,
    e: &StoredEvent,
    upcoming: &[Occurrence],
    now: DateTime<Utc>,
    ctx: &EventContext,
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
    let publisher = super::event_meta::node_name(&ctx.names, &e.payload.origin);
    let path = super::event_meta::path_words(e, &ctx.names, ctx.here.as_ref());
    let when = first
        .as_ref()
        .map(|o| format!("{} ({})", when_text(lang, o, zone), zone.name()));
    let next_start = first.as_ref().map(|o| {
        o.start
            .with_timezone(&zone)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    });
    let head = event_head(e, &title, when.as_deref(), ctx, &publisher, next_start);
    let body = html! {
        main.discal.event-page {
            h1 {
                @if c.is_cancelled() { del { (title) } " " span.badge { (s.cancelled) } }
                @else { (title) }
            }
            dl {
                dt { (s.when) }
                dd { (when_block(lang, m, (first.as_ref(), when.as_deref()), upcoming, zone)) }
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
                (provenance(lang, e, &publisher, &path))
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
    page_with_head(lang, &title, &look, head, body)
}

/// When: the next date in the reader's zone (and in the event's own when it differs), the
/// repetition in words (or the rule itself), the upcoming dates.
fn when_block(
    lang: Lang,
    m: &discal_protocol::model::Component,
    (first, when): (Option<&Occurrence>, Option<&str>),
    upcoming: &[Occurrence],
    zone: chrono_tz::Tz,
) -> Markup {
    let s = strings(lang);
    let rule = super::event_meta::recurrence_words(lang, m);
    let own_zone = m.start.tzid().and_then(discal_protocol::tz::iana);
    html! {
        @if let Some(w) = when { (w) }
        @if let (Some(o), Some(own)) = (first, own_zone.filter(|z| *z != zone)) {
            p.own-zone { (when_text(lang, o, own)) " (" (own.name()) ")" }
        }
        @if let Some(r) = &rule { p.rule { (r) } }
        @else if let Some(r) = &m.rrule { p.rule { "RRULE: " code { (r) } } }
        @if upcoming.len() > 1 {
            details {
                summary { (s.upcoming) }
                ul { @for o in upcoming { li { (when_text(lang, o, zone)) } } }
            }
        }
    }
}

/// Who published the event, the way it came here, its revision.
fn provenance(
    lang: Lang,
    e: &StoredEvent,
    publisher: &str,
    path: &[(discal_protocol::NodeKey, String)],
) -> Markup {
    let s = strings(lang);
    html! {
        dt { (s.origin) }
        dd { span title=(e.payload.origin.to_string()) { (publisher) } }
        dt { (if lang == Lang::De { "Weg hierher" } else { "Path here" }) }
        dd.path {
            @for (i, (k, n)) in path.iter().enumerate() {
                @if i > 0 { " → " }
                span title=(k.to_string()) { (n) }
            }
        }
        dt { (s.revision) }
        dd { (e.payload.revision) }
    }
}

/// Open Graph for link previews, schema.org `Event` for search engines and spiders.
fn event_head(
    e: &StoredEvent,
    title: &str,
    when: Option<&str>,
    ctx: &EventContext,
    publisher: &str,
    next_start: Option<String>,
) -> Markup {
    let m = &e.content().master;
    let ld = super::event_meta::json_ld(e, &ctx.url, publisher, next_start);
    let description = [
        when.map(str::to_string),
        m.location
            .as_deref()
            .map(|l| cut(l, TITLE_MAX).into_owned()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    html! {
        meta property="og:type" content="website";
        meta property="og:title" content=(title);
        meta property="og:description" content=(description);
        meta property="og:url" content=(ctx.url);
        script type="application/ld+json" { (maud::PreEscaped(ld)) }
    }
}

/// The URLs a view gives: feeds to subscribe to, the embed and its two snippets.
struct ViewUrls {
    ics: String,
    webcal: String,
    json: String,
    atom: String,
    embed: String,
    snippet: String,
    iframe: String,
}

impl ViewUrls {
    fn of(base: &str, pairs: &[(&str, &str)]) -> Self {
        // The feed URLs carry the filter only; the embed URL also its look.
        let set = pairs.iter().copied().filter(|(_, v)| !v.is_empty());
        let fq = query_string(set.clone().filter(|(k, _)| !LOOK_PARAMS.contains(k)));
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
        let embed = format!("{base}/embed{}", sep(&query_string(set)));
        Self {
            snippet: format!(
                "<div data-discal=\"{embed}\"></div>\n<script src=\"{base}/embed.js\" async></script>"
            ),
            iframe: format!(
                "<iframe src=\"{embed}\" title=\"Calendar\" style=\"width:100%;height:600px;border:0\" loading=\"lazy\"></iframe>"
            ),
            json: format!("{base}/feed.json{}", sep(&fq)),
            atom: format!("{base}/feed.atom{}", sep(&fq)),
            ics,
            webcal,
            embed,
        }
    }
}

/// The `/views` form, filled with what was asked.
fn view_form(label: &str, pairs: &[(&str, &str)]) -> Markup {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| *v)
            .unwrap_or("")
    };
    let field = |name: &'static str, hint: &'static str| {
        html! {
            label { span { (name) } input type="text" name=(name) value=(get(name)) placeholder=(hint); }
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
    html! {
        form method="get" action="/views" {
            (field("tags", "linux,meetup"))
            (field("exclude_tags", "online"))
            (field("near", "52.52,13.40"))
            (field("radius_km", "25"))
            (field("from", "2026-01-01"))
            (field("to", "2026-12-31"))
            (field("days", "30"))
            (field("origin", "node key"))
            (field("q", "text"))
            (field("tz", "Europe/Berlin"))
            (select("lang", &["en", "de"]))
            (select("view", &["list", "agenda", "month"]))
            (select("theme", &["light", "dark"]))
            (field("accent", "2457c5"))
            button type="submit" { (label) }
        }
    }
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
    let u = ViewUrls::of(base, pairs);
    let body = html! {
        main.discal.views {
            h1 { (s.build_view) }
            p { (s.view_intro) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            (view_form(s.show, pairs))
            @if error.is_none() {
                h2 { (s.subscribe) }
                dl.urls {
                    dt { "webcal" } dd { a href=(u.webcal) { code { (u.webcal) } } }
                    dt { "ICS" } dd { a href=(u.ics) { code { (u.ics) } } }
                    dt { "JSCalendar" } dd { code { (u.json) } }
                    dt { "Atom" } dd { code { (u.atom) } }
                }
                h2 { (s.embed) }
                pre { code { (u.snippet) } }
                pre { code { (u.iframe) } }
                h2 { (s.preview) }
                p { a href=(u.embed) { (u.embed) } }
            }
        }
    };
    page(lang, s.build_view, &Look::default(), body)
}

/// The home page's head: the node's name, search and tag filters, the view switch, quick
/// ranges, and subscribe/embed links that carry the current filters to the view builder.
pub fn home_header(
    gw: &crate::Gateway,
    f: &ViewFilter,
    look: &Look,
    pairs: &[(String, String)],
) -> Markup {
    let de = f.lang == Lang::De;
    let t = |en: &'static str, de_: &'static str| if de { de_ } else { en };
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map_or(String::new(), |(_, v)| v.clone())
    };
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "view" | "month" | "offset" | "from" | "to" | "days"
            )
        })
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p = kept.clone();
        p.extend_from_slice(extra);
        format!("/?{}", query_string(p))
    };
    let here = query_string(
        pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let view = match look.kind {
        crate::html::ViewKind::List => "list",
        crate::html::ViewKind::Agenda => "agenda",
        crate::html::ViewKind::Month => "month",
    };
    html! {
        header.home {
            h1 { (gw.name) }
            form.filters method="get" action="/" role="search" {
                label { (t("Search", "Suche")) " " input type="search" name="q" value=(value("q")); }
                " "
                label { (t("Tags", "Schlagwörter")) " " input name="tags" value=(value("tags")); }
                " "
                label { (t("View", "Ansicht")) " "
                    select name="view" {
                        option value="list" selected[view == "list"] { (t("List", "Liste")) }
                        option value="agenda" selected[view == "agenda"] { (t("Agenda", "Tagesliste")) }
                        option value="month" selected[view == "month"] { (t("Month", "Monat")) }
                    }
                }
                @if de { input type="hidden" name="lang" value="de"; }
                " " button type="submit" { (t("Show", "Anzeigen")) }
            }
            nav.ranges aria-label=(t("Dates and subscriptions", "Zeiträume und Abonnements")) {
                a href=(with(&[("days", "1")])) { (t("Today", "Heute")) } " · "
                a href=(with(&[("days", "7")])) { (t("This week", "Diese Woche")) } " · "
                a href=(with(&[("view", "month")])) { (t("This month", "Dieser Monat")) } " · "
                a href=(format!("/views?{here}")) { (t("Subscribe or embed these events", "Diese Termine abonnieren oder einbetten")) } " · "
                a href="/feed.rss" { "RSS" }
            }
        }
    }
}
