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
use crate::html::{page_with_head, Look, LOOK_PARAMS};
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
    /// The real event's listings (this one included) and the one feeds show for them all.
    pub listings: (discal_store::Also, Vec<discal_store::Also>),
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
    let title = crate::display::line(m.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX);
    let h = Hit {
        event: e.clone(),
        occurrences: upcoming.to_vec(),
        also: Vec::new(),
    };
    let first = shown_instance(&h, zone, now);
    let ics = format!("{}/event.ics", event_path(e));
    let look = Look::default();
    let publisher = super::event_meta::node_name(&ctx.names, &e.payload.origin);
    let path = super::event_meta::path_words(e, &ctx.names, ctx.here.as_ref());
    let when = first
        .as_ref()
        .map(|o| format!("{} ({})", when_text(lang, o, zone), zone.name()));
    // The instance shown, for machines: its start and its own end (a repeating event's
    // DTEND is the first instance's).
    let next = first.as_ref().map(|o| {
        let iso = |t: DateTime<Utc>| {
            t.with_timezone(&zone)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        };
        (iso(o.start), (o.end > o.start).then(|| iso(o.end)))
    });
    let head = event_head(e, &title, when.as_deref(), ctx, &publisher, next);
    let body = html! {
        main.discal.event-page {
            h1 lang=[m.language()] {
                @if c.is_cancelled() { del { (title) } " " span.badge { (s.cancelled) } }
                @else { (title) }
            }
            dl {
                dt { (s.when) }
                dd { (when_block(lang, m, (first.as_ref(), when.as_deref()), upcoming, zone)) }
                @if let Some(l) = &m.location {
                    dt { (s.where_) }
                    dd {
                        (crate::display::line(l, TITLE_MAX))
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
                (provenance((lang, zone), e, &publisher, &path))
                (listings(lang, e, &ctx.listings))
                @if let Some(c) = crate::display::rsvp_line(lang, m) {
                    dt { (if lang == Lang::De { "Zusagen" } else { "Coming" }) }
                    dd.rsvp { (c) }
                }
            }
            @if let Some(d) = &m.description { (description(d, m.language())) }
            p.links {
                a href=(ics) { (s.add_to_calendar) }
                // On the reader's own node: the owner's edit form here, or a proposal from
                // here to the origin; a gateway without a node links the origin's page.
                @if let Some(r) = propose_link(e, ctx) {
                    " · " a href=(r) rel="nofollow" { (s.propose_change) }
                }
                @if ctx.here.is_some() {
                    " · " a href=(format!("/rsvp/{}/{}", e.payload.origin, crate::read::path_segment(&e.payload.uid))) rel="nofollow" {
                        (if lang == Lang::De { "Sind Sie dabei?" } else { "Are you coming?" })
                    }
                }
            }
        }
    };
    page_with_head(lang, &title, &look, head, body)
}

/// The event's description: as text, line breaks kept and web addresses linked; or, written
/// in HTML, the harmless part of it ([`crate::rich`]).
fn description(d: &str, lang: Option<&str>) -> Markup {
    let d = cut(d, DESCRIPTION_MAX);
    match crate::rich::description_html(&d) {
        Some(shown) => html! { div.description.html lang=[lang] { (shown) } },
        None => html! { div.description lang=[lang] { (crate::rich::text_with_links(&d)) } },
    }
}

/// Where "Propose a change" leads (docs/protocol.md §12).
fn propose_link(e: &StoredEvent, ctx: &EventContext) -> Option<String> {
    let uid = crate::read::path_segment(&e.payload.uid);
    match ctx.here {
        Some(me) if me == e.payload.origin => Some(format!("/my/{uid}/edit")),
        Some(_) => Some(format!("/propose/{}/{uid}", e.payload.origin)),
        None => e
            .content()
            .master
            .revise_url
            .as_deref()
            .and_then(safe_link)
            .map(str::to_string),
    }
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

/// The other listings of the same real event, and which one the feeds show.
fn listings(
    lang: Lang,
    e: &StoredEvent,
    (rep, all): &(discal_store::Also, Vec<discal_store::Also>),
) -> Markup {
    let me = |a: &discal_store::Also| a.origin == e.payload.origin && a.uid == e.payload.uid;
    let others: Vec<&discal_store::Also> = all.iter().filter(|a| !me(a)).collect();
    let href = |a: &discal_store::Also| {
        format!("/events/{}/{}", a.origin, crate::read::path_segment(&a.uid))
    };
    let name = |a: &discal_store::Also| crate::read::also_names(std::slice::from_ref(a));
    html! {
        @if !others.is_empty() {
            dt { (if lang == Lang::De { "Auch gelistet bei" } else { "Also listed by" }) }
            dd.also {
                @for (i, a) in others.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(href(a)) { (name(a)) }
                }
                @if !me(rep) {
                    br;
                    small { (if lang == Lang::De { "Feeds zeigen diesen Termin als " } else { "Feeds show this event as " })
                        a href=(href(rep)) { (name(rep)) } }
                }
            }
        }
    }
}

/// Who published the event, the way it came here, its revision.
fn provenance(
    (lang, zone): (Lang, chrono_tz::Tz),
    e: &StoredEvent,
    publisher: &str,
    path: &[(discal_protocol::NodeKey, String)],
) -> Markup {
    let s = strings(lang);
    // An event this node's origin took from a site without DisCal: from where, via whom.
    let source = discal_protocol::source::source_of(e.content()).map(|u| {
        let host = discal_protocol::source::url_host(u).unwrap_or_else(|| u.to_string());
        (host, safe_link(u).map(str::to_string))
    });
    html! {
        dt { (s.origin) }
        dd {
            @if let Some((host, link)) = &source {
                (if lang == Lang::De { "von " } else { "from " })
                @if let Some(l) = link { a.source href=(l) rel="noopener nofollow" target="_blank" { (cut(host, 100)) } }
                @else { (cut(host, 100)) }
                (if lang == Lang::De { " über " } else { " via " })
            }
            span title=(e.payload.origin.to_string()) { (publisher) }
        }
        dt { (if lang == Lang::De { "Weg hierher" } else { "Path here" }) }
        dd.path {
            @for (i, (k, n)) in path.iter().enumerate() {
                @if i > 0 { " → " }
                span title=(k.to_string()) { (n) }
            }
        }
        dt { (s.revision) }
        dd {
            (e.payload.revision)
            @if let Some(t) = DateTime::<Utc>::from_timestamp_millis(e.payload.issued_at_ms) {
                ", " (if lang == Lang::De { "geändert " } else { "changed " })
                time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
                    (crate::i18n::long_date(lang, t.with_timezone(&zone).date_naive())) ", "
                    (crate::i18n::time(&t.with_timezone(&zone))) " (" (zone.name()) ")"
                }
            }
        }
    }
}

/// Open Graph for link previews, schema.org `Event` for search engines and spiders.
fn event_head(
    e: &StoredEvent,
    title: &str,
    when: Option<&str>,
    ctx: &EventContext,
    publisher: &str,
    next: Option<(String, Option<String>)>,
) -> Markup {
    let m = &e.content().master;
    let ld = super::event_meta::json_ld(e, &ctx.url, publisher, next);
    let description = [
        when.map(str::to_string),
        m.location
            .as_deref()
            .map(|l| crate::display::line(l, TITLE_MAX).into_owned()),
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
/// The builder's fields: (parameter, English label, German label, hint, input type).
const VIEW_FIELDS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "tags",
        "Only events with these tags",
        "Nur Termine mit diesen Schlagwörtern",
        "linux, meetup",
        "text",
    ),
    (
        "exclude_tags",
        "Leave out these tags",
        "Ohne diese Schlagwörter",
        "online",
        "text",
    ),
    (
        "q",
        "Words in the title or description",
        "Wörter in Titel oder Beschreibung",
        "install party",
        "text",
    ),
    (
        "near",
        "Near a place (latitude, longitude)",
        "In der Nähe von (Breite, Länge)",
        "52.52, 13.40",
        "text",
    ),
    (
        "radius_km",
        "Within (km)",
        "Im Umkreis von (km)",
        "25",
        "number",
    ),
    ("from", "From", "Ab", "", "date"),
    ("to", "Until", "Bis", "", "date"),
    ("days", "The next days", "Die nächsten Tage", "30", "number"),
    (
        "origin",
        "Only from the node with this key",
        "Nur vom Knoten mit diesem Schlüssel",
        "12D3KooW…",
        "text",
    ),
    ("tz", "Time zone", "Zeitzone", "Europe/Berlin", "text"),
    (
        "accent",
        "Accent colour (six hex digits)",
        "Akzentfarbe (sechs Hex-Ziffern)",
        "2457c5",
        "text",
    ),
];

/// The builder's choices: (parameter, English label, German label, [(value, en, de)]).
type Choice = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);
const VIEW_CHOICES: &[Choice] = &[
    (
        "view",
        "Look",
        "Darstellung",
        &[
            ("list", "List", "Liste"),
            ("agenda", "By day", "Nach Tagen"),
            ("month", "Month", "Monat"),
        ],
    ),
    (
        "lang",
        "Language",
        "Sprache",
        &[("en", "English", "English"), ("de", "Deutsch", "Deutsch")],
    ),
    (
        "theme",
        "Colours",
        "Farben",
        &[("light", "Light", "Hell"), ("dark", "Dark", "Dunkel")],
    ),
];

fn view_form(lang: Lang, label: &str, pairs: &[(&str, &str)]) -> Markup {
    let de = lang == Lang::De;
    let pick = |en: &'static str, de_: &'static str| if de { de_ } else { en };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| *v)
            .unwrap_or("")
    };
    html! {
        form method="get" action="/views" {
            @for (name, en, de_, hint, kind) in VIEW_FIELDS {
                label { span { (pick(en, de_)) } input type=(kind) name=(name) value=(get(name)) placeholder=[(!hint.is_empty()).then_some(hint)] step=[(*kind == "number").then_some("any")]; }
            }
            @for (name, en, de_, options) in VIEW_CHOICES {
                label { span { (pick(en, de_)) }
                    select name=(name) {
                        @for (v, oen, ode) in *options { option value=(v) selected[get(name) == *v] { (pick(oen, ode)) } }
                    }
                }
            }
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
    let copy = if lang == Lang::De { "Kopieren" } else { "Copy" };
    let body = html! {
        main.discal.views {
            h1 { (s.build_view) }
            p { (s.view_intro) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            (view_form(lang, s.show, pairs))
            @if error.is_none() {
                h2 { (s.subscribe) }
                dl.urls {
                    dt { (if lang == Lang::De { "Kalender-App (webcal)" } else { "Calendar app (webcal)" }) }
                    dd { a href=(u.webcal) { code data-copy=(copy) { (u.webcal) } } }
                    dt { "ICS" } dd { a href=(u.ics) { code data-copy=(copy) { (u.ics) } } }
                    dt { "JSCalendar" } dd { code data-copy=(copy) { (u.json) } }
                    dt { "Atom" } dd { code data-copy=(copy) { (u.atom) } }
                }
                h2 { (s.embed) }
                pre { code data-copy=(copy) { (u.snippet) } }
                pre { code data-copy=(copy) { (u.iframe) } }
                h2 { (s.preview) }
                iframe.preview src=(u.embed) title=(s.preview) loading="lazy" {}
                p { a href=(u.embed) { (u.embed) } }
            }
        }
    };
    let head = html! { script src="/static/copy.js" defer {} };
    page_with_head(lang, s.build_view, &Look::default(), head, body)
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
            @if let Some(d) = gw.node.config()["description"].as_str() {
                p.description { (cut(d, DESCRIPTION_MAX)) }
            }
            form.filters method="get" action="/" role="search" {
                label { (t("Search", "Suche")) " " input type="search" name="q" value=(value("q")); }
                " "
                label { (t("Tags", "Schlagwörter")) " " input name="tags" value=(value("tags")); }
                " "
                label { (t("Place", "Ort")) " " input name="place" value=(value("place")); }
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
                @if super::map::tile_server(gw).is_some() {
                    a href=(if here.is_empty() { "/map".to_owned() } else { format!("/map?{here}") }) { (t("Map", "Karte")) } " · "
                }
                a href=(format!("/views?{here}")) { (t("Subscribe or embed these events", "Diese Termine abonnieren oder einbetten")) } " · "
                a href="/feed.rss" { "RSS" } " · "
                // The same page for everyone (it is cached): the form asks for a login.
                a href="/events/new" { (t("Enter an event", "Termin eintragen")) }
            }
        }
    }
}
