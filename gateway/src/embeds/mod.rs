//! What group websites put in an iframe: `/embed` (list, agenda or month of a view), its
//! stylesheet and the two small scripts (the resizer inside, the helper outside).

mod views;

use axum::extract::State;
use axum::http::{header, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use discal_protocol::view::{Bound, ViewFilter};

pub use views::{list_view, month_start, month_view, month_window};

use crate::html::{self, Look, ViewKind};
use crate::read::{self, limit_of, next_url, refs, Pairs, ReadKey, Rendered};
use crate::{AppError, Gateway};

/// Default and maximum events in an embed.
const EMBED_LIMITS: (usize, usize) = (200, 1_000);
/// Days an embed list shows when the view names no window (`Look::days`).
pub const EMBED_DAYS: u32 = 60;

/// `GET /embed`: the list, agenda or month view for an iframe.
pub async fn embed(
    State(gw): State<Gateway>,
    uri: Uri,
    headers: HeaderMap,
    pairs: Pairs,
) -> Result<Response, AppError> {
    let mut pairs = pairs.0;
    // The visitor's language, unless the embedding site chose one with `lang`.
    let lang = read::accept_language(&headers, &mut pairs, &crate::web::node_language(&gw));
    let (f, rest) = ViewFilter::parse(refs(&pairs), html::LOOK_PARAMS).map_err(AppError::bad)?;
    let look = html::parse_look(&rest).map_err(AppError::BadRequest)?;
    let limit = limit_of(&f, EMBED_LIMITS)?;
    let today = read::today(&gw, &f);
    let relative = match look.kind {
        ViewKind::Month => look.month.is_none() && f.from.is_none(),
        _ => f.is_relative(Some(look.days)),
    };
    let key = ReadKey {
        url: format!("{uri}|{lang}"),
        relative_to: relative.then_some(today),
        max_age: 300,
    };
    let mut resp = read::serve(&gw, &headers, key, move |gw| {
        render(gw, &f, &look, limit, &pairs, today)
    })
    .await;
    resp.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("Accept-Language, Accept-Encoding"),
    );
    // Another site frames this page on purpose; say so rather than leave it to defaults.
    resp.headers_mut().remove(header::X_FRAME_OPTIONS);
    Ok(resp)
}

fn render(
    gw: &Gateway,
    f: &ViewFilter,
    look: &Look,
    limit: usize,
    pairs: &[(String, String)],
    today: NaiveDate,
) -> Result<Rendered, AppError> {
    render_at(gw, (f, look), limit, ("/embed", pairs), today, None)
}

/// A list, agenda or month view of `f` as a page at `path` (the embed, or the home page with
/// its `header`).
pub fn render_at(
    gw: &Gateway,
    (f, look): (&ViewFilter, &Look),
    limit: usize,
    (path, pairs): (&str, &[(String, String)]),
    today: NaiveDate,
    header: Option<maud::Markup>,
) -> Result<Rendered, AppError> {
    let p = refs(pairs);
    let first = (look.kind == ViewKind::Month).then(|| first_month(f, look, today));
    let window = match first {
        Some(first) => Some(month_window(f, first)),
        None => f.window(today, Some(look.days)),
    };
    let page = read::fetch_collected(&gw.store, f, window, limit, true)?;
    let body = match first {
        Some(first) => month_view(
            f,
            look,
            &page.hits,
            (page.truncated, first),
            (path, &p),
            &gw.name,
            header,
        ),
        None => {
            let rows_cut = views::rows_cut_at(&page.hits, look.max_items);
            // Each page starts later than the one before: the pages end.
            let next = match (continue_at(&page, rows_cut), window) {
                (Some(at), Some((start, end))) if at > start => Some(from_url(at, end, (path, &p))),
                _ => page.truncated.then(|| next_url(path, &p, f.offset, limit)),
            };
            let later = match (page.truncated || rows_cut.is_some(), window) {
                (false, Some((_, end))) => later_url(gw, f, end, (path, &p))?,
                _ => None,
            };
            list_view(
                f,
                look,
                &page.hits,
                (page.truncated, next.as_deref(), later.as_deref()),
                &gw.name,
                header,
            )
        }
    };
    let mut r = Rendered::new("text/html; charset=utf-8", body)
        .with_header(header::CONTENT_SECURITY_POLICY, html::CSP);
    r.last_modified_ms = read::last_modified(&page.hits);
    Ok(r)
}

/// Where the next page of a list goes on from, when the list shows fewer instances than its
/// events have in its dates (a weekly series is four rows in four weeks): the first instance
/// it leaves out. When more events matched than the page holds too, no later than the first
/// instance of the last event it holds, as the events it left out start no earlier: that
/// page repeats a few rows rather than skip an event. None when that would not move on (more
/// rows at one instant than a page shows), or when the rows were not cut: then the events
/// are paged by offset.
fn continue_at(
    page: &read::Page,
    rows_cut: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Option<DateTime<Utc>> {
    let (first_shown, first_left) = rows_cut?;
    let at = if page.truncated {
        let last_event = page
            .hits
            .iter()
            .filter_map(|h| h.occurrences.first().map(|o| o.start))
            .max()?;
        first_left.min(last_event)
    } else {
        first_left
    };
    (at > first_shown).then_some(at)
}

/// The same view from `at` to the end of its dates, `end`, paged from its start.
fn from_url(
    at: DateTime<Utc>,
    end: DateTime<Utc>,
    (path, pairs): (&str, &[(&str, &str)]),
) -> String {
    let (from, to) = (
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        end.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    let mut p: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, _)| !matches!(*k, "from" | "to" | "days" | "offset"))
        .collect();
    p.push(("from", &from));
    p.push(("to", &to));
    format!("{path}?{}", read::query_string(p))
}

/// How far past a list's last date [`later_url`] looks for events.
const LATER_DAYS: i64 = 366;

/// A list whose dates ran out before its events did (the next four weeks on the home page,
/// when the group meets in six): the same view from the day of the next event (not
/// cancelled) in the year after its dates, so that a one-day agenda's link skips the empty
/// days. A view that names its own end (`to=`) gets none.
///
/// The look ahead asks the store's indexes (tags, origin, the box around `near`), which
/// costs a fraction of the page. A search (`q`, `place`) gets no link: it is checked record
/// by record, and over a year of a large calendar that would cost the page ten times over.
fn later_url(
    gw: &Gateway,
    f: &ViewFilter,
    end: chrono::DateTime<chrono::Utc>,
    (path, pairs): (&str, &[(&str, &str)]),
) -> Result<Option<String>, AppError> {
    if f.to.is_some() || f.q.is_some() || f.place.is_some() {
        return Ok(None);
    }
    let year = Some((end, end + chrono::Duration::days(LATER_DAYS)));
    let found = gw.store.query(&read::store_query(f, year, 1, false))?;
    let Some(next) = found.hits.first() else {
        return Ok(None);
    };
    // An event under way when the dates end (a weekend festival) started before them: the
    // link goes on from their end, never back.
    let day = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&f.zone()).date_naive();
    let next_day = next.occurrences.first().map_or(day(end), |o| day(o.start));
    let from = next_day.max(day(end)).to_string();
    let mut p: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, _)| !matches!(*k, "from" | "offset"))
        .collect();
    p.push(("from", &from));
    Ok(Some(format!("{path}?{}", read::query_string(p))))
}

/// The first day of the month a month view shows: the one asked for, else the view's start,
/// else this month.
fn first_month(f: &ViewFilter, look: &Look, today: NaiveDate) -> NaiveDate {
    let first = match (look.month, f.from) {
        (Some(m), _) => m,
        (None, Some(Bound::Date(d))) => d,
        (None, Some(Bound::Instant(t))) => t.with_timezone(&f.zone()).date_naive(),
        (None, None) => today,
    };
    let first = month_start(
        &Look {
            month: Some(first),
            ..look.clone()
        },
        today,
    );
    chrono::Datelike::with_day(&first, 1).unwrap_or(first)
}

/// `GET /static/embed.css?theme=&accent=`.
pub async fn stylesheet(pairs: Pairs) -> Result<Response, AppError> {
    let p = refs(&pairs.0);
    if let Some((k, _)) = p.iter().find(|(k, _)| *k != "theme" && *k != "accent") {
        return Err(AppError::BadRequest(format!(
            "unknown parameter {k:?} (known: theme, accent)"
        )));
    }
    let l = html::parse_look(&p).map_err(AppError::BadRequest)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        html::stylesheet(l.dark, l.accent.as_deref()),
    )
        .into_response())
}

fn script(body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

/// `GET /static/resize.js`: loaded by the embeds.
pub async fn resize_js() -> Response {
    script(include_str!("../../assets/resize.js"))
}

/// `GET /static/copy.js`: the view builder's copy buttons.
pub async fn copy_js() -> Response {
    script(include_str!("../../assets/copy.js"))
}

/// `GET /embed.js`: the optional helper a host page loads.
pub async fn embed_js() -> Response {
    script(include_str!("../../assets/embed.js"))
}
