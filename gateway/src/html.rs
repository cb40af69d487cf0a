//! Server-rendered HTML: the embeddable list, agenda and month views, an event's page, the
//! `/views` URL builder and the front page. maud escapes every interpolated value, so event
//! text from peers is always text. Pages read without JavaScript; the only script is the
//! optional resizer that tells an embedding page the content's height.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use discal_protocol::recur::Occurrence;
use discal_protocol::view::{Lang, ViewFilter};
use discal_store::{Hit, StoredEvent};
use maud::{html, Markup, DOCTYPE};

use crate::feeds::{
    cut, display_zone, event_path, safe_link, shown_instance, when_text, DESCRIPTION_MAX, TITLE_MAX,
};
use crate::i18n::{self, strings};
use crate::read::{path_segment, query_string};

/// The Content-Security-Policy of every HTML page: any site may frame it, nothing but its own
/// stylesheet and resizer script may load, and forms only go back to the gateway.
pub const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors *";

/// Which embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewKind {
    /// Upcoming instances, one line each.
    List,
    /// Upcoming instances grouped by day.
    Agenda,
    /// A month grid.
    Month,
}

/// Presentation options of an embed (besides the filter).
#[derive(Clone, Debug)]
pub struct Look {
    /// The view.
    pub kind: ViewKind,
    /// Dark theme.
    pub dark: bool,
    /// Accent colour, six hex digits (validated).
    pub accent: Option<String>,
    /// First day of the month shown (month view).
    pub month: Option<NaiveDate>,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            kind: ViewKind::List,
            dark: false,
            accent: None,
            month: None,
        }
    }
}

/// Parses the embed-only parameters (`view`, `theme`, `accent`, `month`).
pub fn parse_look(rest: &[(&str, &str)]) -> Result<Look, String> {
    let mut look = Look::default();
    for (k, v) in rest {
        match *k {
            "view" => {
                look.kind = match *v {
                    "list" => ViewKind::List,
                    "agenda" => ViewKind::Agenda,
                    "month" => ViewKind::Month,
                    _ => {
                        return Err(format!(
                            "parameter \"view\": {v:?} is not list, agenda or month"
                        ))
                    }
                }
            }
            "theme" => {
                look.dark = match *v {
                    "light" => false,
                    "dark" => true,
                    _ => return Err(format!("parameter \"theme\": {v:?} is not light or dark")),
                }
            }
            "accent" => {
                if v.len() != 6 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!(
                        "parameter \"accent\": {v:?} is not six hex digits (RRGGBB)"
                    ));
                }
                look.accent = Some(v.to_ascii_lowercase());
            }
            "month" => {
                let d = NaiveDate::parse_from_str(&format!("{v}-01"), "%Y-%m-%d")
                    .map_err(|_| format!("parameter \"month\": {v:?} is not YYYY-MM"))?;
                look.month = Some(d);
            }
            _ => {}
        }
    }
    Ok(look)
}

/// The embed-only parameter names.
pub const LOOK_PARAMS: &[&str] = &["view", "theme", "accent", "month"];

/// The stylesheet; theme and accent come in its URL so pages need no inline style.
pub fn stylesheet(dark: bool, accent: Option<&str>) -> String {
    let (bg, fg, muted, line) = if dark {
        ("#16181d", "#e8e8ea", "#a0a3ab", "#30333b")
    } else {
        ("#ffffff", "#1d1f24", "#5d616b", "#e1e3e8")
    };
    let accent = accent.unwrap_or(if dark { "7aa7ff" } else { "2457c5" });
    format!(
        ":root{{--bg:{bg};--fg:{fg};--muted:{muted};--line:{line};--accent:#{accent}}}\n{}",
        include_str!("../assets/embed.css")
    )
}

fn css_href(look: &Look) -> String {
    let mut p: Vec<(&str, &str)> = Vec::new();
    if look.dark {
        p.push(("theme", "dark"));
    }
    if let Some(a) = &look.accent {
        p.push(("accent", a));
    }
    if p.is_empty() {
        "/static/embed.css".into()
    } else {
        format!("/static/embed.css?{}", query_string(p))
    }
}

fn page(lang: Lang, title: &str, look: &Look, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                link rel="stylesheet" href=(css_href(look));
                script src="/static/resize.js" defer {}
            }
            body { (body) }
        }
    }
    .into_string()
}

/// One instance to show, with the event it belongs to.
struct Item<'a> {
    occ: &'a Occurrence,
    hit: &'a Hit,
    /// The event's page (one string per event: encoding the origin key is not free).
    href: std::rc::Rc<str>,
    /// Start in the display zone.
    local: DateTime<Tz>,
    /// Last day the instance touches, in the display zone.
    last_day: NaiveDate,
}

fn items<'a>(f: &ViewFilter, hits: &'a [Hit], cap: usize) -> (Vec<Item<'a>>, bool) {
    // Most events come from a few origins; their key's text form is made once per origin.
    let mut origins: std::collections::HashMap<discal_protocol::NodeKey, String> =
        Default::default();
    let mut v: Vec<Item<'a>> = hits
        .iter()
        .flat_map(|h| {
            let zone = display_zone(f, &h.event.content().master);
            let key = origins
                .entry(h.event.payload.origin)
                .or_insert_with(|| h.event.payload.origin.to_string());
            let href: std::rc::Rc<str> =
                format!("/events/{key}/{}", path_segment(&h.event.payload.uid)).into();
            h.occurrences.iter().map(move |occ| {
                let end = if occ.end > occ.start {
                    occ.end - Duration::seconds(1)
                } else {
                    occ.end
                };
                Item {
                    occ,
                    hit: h,
                    href: href.clone(),
                    local: occ.start.with_timezone(&zone),
                    last_day: end.with_timezone(&zone).date_naive(),
                }
            })
        })
        .collect();
    v.sort_by_key(|i| (i.occ.start, i.hit.event.seq));
    let cut = v.len() > cap;
    v.truncate(cap);
    (v, cut)
}

/// The component an instance shows (an override's title and place win over the master's).
fn component_of<'a>(h: &'a Hit, o: &Occurrence) -> &'a discal_protocol::Component {
    let c = h.event.content();
    match o.component {
        0 => &c.master,
        i => c.overrides.get(i - 1).unwrap_or(&c.master),
    }
}

fn event_title(lang: Lang, it: &Item<'_>) -> Markup {
    let (h, o) = (it.hit, it.occ);
    let c = component_of(h, o);
    let title = cut(c.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX);
    let cancelled = h.event.content().is_cancelled()
        || c.status == Some(discal_protocol::model::Status::Cancelled);
    html! {
        a.title href=(&*it.href) target="_blank" rel="noopener" {
            @if cancelled { del { (title) } " " span.badge { (strings(lang).cancelled) } }
            @else { (title) }
        }
    }
}

fn time_of(lang: Lang, it: &Item<'_>) -> String {
    if it.occ.all_day {
        strings(lang).all_day.to_owned()
    } else {
        i18n::time(&it.local)
    }
}

fn location_line(h: &Hit, o: &Occurrence) -> Option<String> {
    component_of(h, o)
        .location
        .as_deref()
        .map(|l| cut(l, TITLE_MAX).into_owned())
}

/// Where the list ran out: "more events" and a link to the next page if there is one.
fn more(lang: Lang, truncated: bool, next: Option<&str>) -> Markup {
    html! {
        @if truncated {
            p.more { (strings(lang).truncated) " "
                @if let Some(n) = next { a href=(n) { (strings(lang).more_pages) } }
            }
        }
    }
}

/// The list or agenda embed.
pub fn list_view(
    f: &ViewFilter,
    look: &Look,
    hits: &[Hit],
    truncated: bool,
    next: Option<&str>,
    name: &str,
) -> String {
    let lang = f.lang;
    let (its, cut_short) = items(f, hits, 500);
    let body = html! {
        main.discal.(if look.kind == ViewKind::Agenda { "agenda" } else { "list" }) {
            @if its.is_empty() { p.empty { (strings(lang).no_events) } }
            @if look.kind == ViewKind::Agenda {
                @let mut days: Vec<(NaiveDate, Vec<&Item<'_>>)> = Vec::new();
                @for it in &its {
                    @let d = it.local.date_naive();
                    @if days.last().map(|x| x.0) != Some(d) { (days_push(&mut days, d)) }
                    (days_add(&mut days, it))
                }
                @for (d, day) in &days {
                    section.day {
                        h2 { (i18n::long_date(lang, *d)) }
                        ul { @for it in day { (row(lang, it, false)) } }
                    }
                }
            } @else {
                ul { @for it in &its { (row(lang, it, true)) } }
            }
            (more(lang, truncated || cut_short, next))
            (zone_note(f))
        }
    };
    page(lang, name, look, body)
}

// maud has no statements; these let the agenda loop group items by day.
fn days_push<'a, 'b>(days: &mut Vec<(NaiveDate, Vec<&'b Item<'a>>)>, d: NaiveDate) -> Markup {
    days.push((d, Vec::new()));
    html! {}
}
fn days_add<'a, 'b>(days: &mut [(NaiveDate, Vec<&'b Item<'a>>)], it: &'b Item<'a>) -> Markup {
    if let Some(last) = days.last_mut() {
        last.1.push(it);
    }
    html! {}
}

fn row(lang: Lang, it: &Item<'_>, with_date: bool) -> Markup {
    let local = it.local;
    html! {
        li.event {
            @if with_date {
                time datetime=(it.occ.start.to_rfc3339()) {
                    span.date { (i18n::short_date(lang, local.date_naive())) } " "
                    span.time { (time_of(lang, it)) }
                }
            } @else {
                time.time datetime=(it.occ.start.to_rfc3339()) { (time_of(lang, it)) }
            }
            " " (event_title(lang, it))
            " " a.ics href=(format!("{}/event.ics", it.href)) title=(strings(lang).add_to_calendar) { ".ics" }
            @if let Some(l) = location_line(it.hit, it.occ) { " " span.where { (l) } }
        }
    }
}

fn zone_note(f: &ViewFilter) -> Markup {
    html! {
        @if let Some(tz) = f.tz {
            p.zone { (strings(f.lang).times_in) " " (tz.name()) }
        }
    }
}

/// First day of the month a month view shows.
pub fn month_start(look: &Look, today: NaiveDate) -> NaiveDate {
    look.month
        .unwrap_or_else(|| today.with_day(1).unwrap_or(today))
}

fn add_months(d: NaiveDate, n: i32) -> NaiveDate {
    let m0 = d.year() * 12 + d.month0() as i32 + n;
    NaiveDate::from_ymd_opt(m0.div_euclid(12), m0.rem_euclid(12) as u32 + 1, 1).unwrap_or(d)
}

/// The window a month view queries, in the view's zone.
pub fn month_window(f: &ViewFilter, first: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |d: NaiveDate| {
        discal_protocol::recur::resolve_local(d.and_hms_opt(0, 0, 0).unwrap_or_default(), f.zone())
    };
    // A day of slack on both sides: events shown in their own zone may fall on a grid day
    // that is a different UTC day.
    (
        at(first) - Duration::days(1),
        at(add_months(first, 1)) + Duration::days(1),
    )
}

/// The month embed. `pairs` are the request's parameters, for the previous/next links.
pub fn month_view(
    f: &ViewFilter,
    look: &Look,
    hits: &[Hit],
    truncated: bool,
    first: NaiveDate,
    pairs: &[(&str, &str)],
    name: &str,
) -> String {
    let lang = f.lang;
    let s = strings(lang);
    let (its, cut_short) = items(f, hits, 2000);
    let last = add_months(first, 1);
    let nav = |d: NaiveDate| {
        let m = d.format("%Y-%m").to_string();
        let mut p: Vec<(&str, &str)> = pairs
            .iter()
            .copied()
            .filter(|(k, _)| *k != "month")
            .collect();
        p.push(("month", &m));
        format!("/embed?{}", query_string(p))
    };
    // Grid from the Monday on or before the 1st to the Sunday on or after the last day.
    let lead = first.weekday().num_days_from_monday() as i64;
    let grid_start = first - Duration::days(lead);
    let mut weeks: Vec<Vec<NaiveDate>> = Vec::new();
    let mut d = grid_start;
    while d < last || weeks.last().is_some_and(|w| w.len() < 7) {
        if weeks.last().is_none_or(|w| w.len() == 7) {
            weeks.push(Vec::new());
        }
        if let Some(w) = weeks.last_mut() {
            w.push(d);
        }
        d += Duration::days(1);
    }
    // An instance shows on every day of the grid it touches (a weekend hackathon on both).
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<&Item<'_>>> = Default::default();
    let grid_end = grid_start + Duration::days(7 * weeks.len() as i64);
    for it in &its {
        let mut d = it.local.date_naive().max(grid_start);
        while d <= it.last_day && d < grid_end {
            by_day.entry(d).or_default().push(it);
            d += Duration::days(1);
        }
    }
    let on = |day: NaiveDate| by_day.get(&day).map(Vec::as_slice).unwrap_or(&[]);
    let body = html! {
        main.discal.month {
            nav.months {
                a.prev href=(nav(add_months(first, -1))) aria-label=(s.previous) { "‹" }
                h2 { (i18n::month_title(lang, first.year(), first.month0())) }
                a.next href=(nav(last)) aria-label=(s.next) { "›" }
            }
            table {
                thead { tr { @for w in s.weekdays_short { th scope="col" { (w) } } } }
                tbody {
                    @for week in &weeks {
                        tr {
                            @for day in week {
                                td.(if day.month() == first.month() { "in" } else { "out" }) {
                                    span.num { (day.day()) }
                                    @for it in on(*day) {
                                        div.event {
                                            @if !it.occ.all_day { span.time { (time_of(lang, it)) } " " }
                                            (event_title(lang, it))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (more(lang, truncated || cut_short, None))
            (zone_note(f))
        }
    };
    page(lang, name, look, body)
}

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
