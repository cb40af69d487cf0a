//! The embeddable list, agenda and month views.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use discal_protocol::recur::Occurrence;
use discal_protocol::view::{Lang, ViewFilter};
use discal_store::Hit;
use maud::{html, Markup};

use crate::display::{display_zone, line, TITLE_MAX};
use crate::html::{page, zone_note, Look, ViewKind};
use crate::i18n::{self, strings};
use crate::read::{path_segment, query_string};

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

/// When a list capped at `cap` instances leaves some out: the start of the first instance
/// it shows and of the first it leaves out, in the order [`items`] lists them.
pub(super) fn rows_cut_at(hits: &[Hit], cap: usize) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let mut starts: Vec<(DateTime<Utc>, u64)> = hits
        .iter()
        .flat_map(|h| h.occurrences.iter().map(|o| (o.start, h.event.seq)))
        .collect();
    if starts.len() <= cap {
        return None;
    }
    starts.select_nth_unstable(cap);
    let first_left = starts[cap].0;
    let first_shown = starts[..cap].iter().map(|s| s.0).min()?;
    Some((first_shown, first_left))
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
    let title = line(c.summary.as_deref().unwrap_or("(untitled)"), TITLE_MAX);
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
        .map(|l| line(l, TITLE_MAX).into_owned())
}

/// Where the list ran out: "more events" and a link to the next page if there is one, or,
/// when the list's dates are all shown, a link to the later dates that hold events.
fn more(lang: Lang, truncated: bool, next: Option<&str>, later: Option<&str>) -> Markup {
    html! {
        @if truncated {
            p.more { (strings(lang).truncated) " "
                @if let Some(n) = next { a href=(n) { (strings(lang).more_pages) } }
            }
        } @else if let Some(l) = later {
            p.more { a href=(l) rel="next" { (strings(lang).later) " →" } }
        }
    }
}

/// The list or agenda embed; `header` goes above it (the home page's title and filters).
pub fn list_view(
    f: &ViewFilter,
    look: &Look,
    hits: &[Hit],
    (truncated, next, later): (bool, Option<&str>, Option<&str>),
    name: &str,
    header: Option<Markup>,
) -> String {
    let lang = f.lang;
    let (its, cut_short) = items(f, hits, look.max_items);
    let empty = match later {
        Some(_) => strings(lang).none_these_days,
        None => strings(lang).no_events,
    };
    let body = html! {
        @let own_title = header.is_none();
        @if let Some(h) = header { (h) }
        main.discal.(if look.kind == ViewKind::Agenda { "agenda" } else { "list" }) {
            @if own_title { h1.sr-only { (name) } }
            @if its.is_empty() { p.empty { (empty) } }
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
            (more(lang, truncated || cut_short, next, later))
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
            @if let Some(c) = crate::display::rsvp_line(lang, &it.hit.event.content().master) { " " span.where { (c) } }
            @if !it.hit.also.is_empty() { " " span.also { (strings(lang).also_listed) " " (crate::read::also_names(&it.hit.also)) } }
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

/// The weeks of a month's grid, from the Monday on or before the 1st to the Sunday on or after
/// the last day, and the grid's first day.
fn grid(first: NaiveDate, last: NaiveDate) -> (NaiveDate, Vec<Vec<NaiveDate>>) {
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
    (grid_start, weeks)
}

/// Instances a month cell shows before a "+N" link to that day's agenda: a busy month stays a
/// page people can take in (and under 50 KB).
pub const DAY_CAP: usize = 4;

/// The month embed. `pairs` are the request's parameters and `path` its path, for the
/// previous/next links; `header` goes above it.
pub fn month_view(
    f: &ViewFilter,
    look: &Look,
    hits: &[Hit],
    (truncated, first): (bool, NaiveDate),
    (path, pairs): (&str, &[(&str, &str)]),
    name: &str,
    header: Option<Markup>,
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
        format!("{path}?{}", query_string(p))
    };
    // A full day's agenda, for the days whose cell shows only the first few.
    let day_link = |d: NaiveDate| {
        let from = d.format("%Y-%m-%d").to_string();
        let mut p: Vec<(&str, &str)> = pairs
            .iter()
            .copied()
            .filter(|(k, _)| !matches!(*k, "month" | "view" | "from" | "to" | "days" | "offset"))
            .collect();
        p.extend([("view", "agenda"), ("from", from.as_str()), ("days", "1")]);
        format!("{path}?{}", query_string(p))
    };
    let (grid_start, weeks) = grid(first, last);
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
        @let own_title = header.is_none();
        @if let Some(h) = header { (h) }
        main.discal.month {
            @if own_title { h1.sr-only { (name) } }
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
                                    @for it in on(*day).iter().take(DAY_CAP) {
                                        div.event {
                                            @if !it.occ.all_day { span.time { (time_of(lang, it)) } " " }
                                            (event_title(lang, it))
                                        }
                                    }
                                    @if on(*day).len() > DAY_CAP {
                                        a.more href=(day_link(*day)) { "+" (on(*day).len() - DAY_CAP) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (more(lang, truncated || cut_short, None, None))
            (zone_note(f))
        }
    };
    page(lang, name, look, body)
}
