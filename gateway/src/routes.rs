//! The read routes: feeds in three formats (aggregate and per origin), the embeds, event
//! resources, the `/views` builder and the static assets. Every handler parses its parameters
//! first (a bad one is a 400 naming it) and then goes through [`read::serve`].

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use discal_protocol::recur::{self, ExpandLimits};
use discal_protocol::view::ViewFilter;
use discal_protocol::{EventKey, NodeKey};

use crate::html::{self, ViewKind};
use crate::read::{self, bad_param, query_string, ReadKey, Refusal, Rendered};
use crate::{feeds, jscal, text, Gateway};

type Pairs = Query<Vec<(String, String)>>;

/// A feed format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// iCalendar.
    Ics,
    /// JSCalendar.
    Json,
    /// Atom.
    Atom,
}

impl Format {
    fn from_file(name: &str) -> Option<Self> {
        match name {
            "feed.ics" => Some(Self::Ics),
            "feed.json" => Some(Self::Json),
            "feed.atom" => Some(Self::Atom),
            _ => None,
        }
    }

    /// (default, maximum) events per answer. Calendar feeds carry everything a subscriber
    /// needs by default; a feed reader wants the latest few.
    fn limits(self) -> (usize, usize) {
        match self {
            Self::Ics | Self::Json => (10_000, 50_000),
            Self::Atom => (100, 1_000),
        }
    }
}

/// Default and maximum events in an embed.
const EMBED_LIMITS: (usize, usize) = (200, 1_000);
/// Days an embed list shows when the view names no window.
pub const EMBED_DAYS: u32 = 60;

fn refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn limit_of(f: &ViewFilter, (default, max): (usize, usize)) -> Result<usize, Refusal> {
    match f.limit {
        Some(n) if n > max => Err(bad_param(format!(
            "parameter \"limit\": at most {max} here (use offset= to page)"
        ))),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

/// The same URL with `offset` moved one page on.
fn next_url(path: &str, pairs: &[(&str, &str)], offset: usize, limit: usize) -> String {
    let off = (offset + limit).to_string();
    let mut p: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(k, _)| *k != "offset")
        .collect();
    p.push(("offset", &off));
    format!("{path}?{}", query_string(p))
}

fn parse_origin(s: &str) -> Result<NodeKey, Refusal> {
    s.parse()
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("origin key in path: {e}")))
}

/// `GET /feed.ics|json|atom`.
pub async fn feed_ics(gw: State<Gateway>, uri: Uri, h: HeaderMap, q: Pairs) -> Response {
    feed(gw.0, uri, h, q.0, Format::Ics, None).await
}
/// See [`feed_ics`].
pub async fn feed_json(gw: State<Gateway>, uri: Uri, h: HeaderMap, q: Pairs) -> Response {
    feed(gw.0, uri, h, q.0, Format::Json, None).await
}
/// See [`feed_ics`].
pub async fn feed_atom(gw: State<Gateway>, uri: Uri, h: HeaderMap, q: Pairs) -> Response {
    feed(gw.0, uri, h, q.0, Format::Atom, None).await
}

/// `GET /origins/{key}/feed.ics|json|atom`: one origin node's events.
pub async fn origin_feed(
    State(gw): State<Gateway>,
    Path((key, file)): Path<(String, String)>,
    uri: Uri,
    h: HeaderMap,
    Query(q): Pairs,
) -> Response {
    let Some(fmt) = Format::from_file(&file) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no {file:?} here: feed.ics, feed.json or feed.atom"),
        );
    };
    match parse_origin(&key) {
        Ok(k) => feed(gw, uri, h, q, fmt, Some(k)).await,
        Err((s, m)) => text(s, m),
    }
}

async fn feed(
    gw: Gateway,
    uri: Uri,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
    fmt: Format,
    origin: Option<NodeKey>,
) -> Response {
    let p = refs(&pairs);
    let (mut f, _) = match ViewFilter::parse(p.iter().copied(), &[]) {
        Ok(x) => x,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let Some(o) = origin {
        if f.origin.is_some_and(|x| x != o) {
            return text(
                StatusCode::BAD_REQUEST,
                "parameter \"origin\" contradicts the origin in the path",
            );
        }
        f.origin = Some(o);
    }
    let limit = match limit_of(&f, fmt.limits()) {
        Ok(l) => l,
        Err((s, m)) => return text(s, m),
    };
    let today = read::today(&gw, &f);
    let key = ReadKey {
        url: format!("{uri}"),
        relative_to: f.is_relative(None).then_some(today),
        max_age: 300,
    };
    let path = uri.path().to_owned();
    let p_owned: Vec<(String, String)> = pairs.clone();
    read::serve(&gw, &headers, key, move |gw| {
        let p = refs(&p_owned);
        let window = f.window(today, None);
        let page = read::fetch(&gw.store, &f, window, limit, true)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")))?;
        let next = page.truncated.then(|| next_url(&path, &p, f.offset, limit));
        let name = match f.origin {
            Some(o) if origin.is_some() => format!("{} – {o}", gw.name),
            _ => gw.name.to_string(),
        };
        let base = gw.public_url.trim_end_matches('/');
        let mut r = match fmt {
            Format::Ics => {
                let note = next.as_ref().map(|n| {
                    format!("more events match than this feed carries; next page: {base}{n}")
                });
                let body =
                    feeds::ics_calendar(&name, page.hits.iter().map(|h| &h.event), note.as_deref());
                Rendered::new("text/calendar; charset=utf-8", body).with_header(
                    header::CONTENT_DISPOSITION,
                    "inline; filename=\"calendar.ics\"",
                )
            }
            Format::Json => {
                let g = jscal::group(&name, &page.hits, base, page.truncated, next.as_deref());
                Rendered::new("application/json; charset=utf-8", g.to_string())
                    .with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            }
            Format::Atom => {
                let self_url = uri.to_string();
                let body = feeds::atom_feed(gw, &f, &page.hits, &self_url, next.as_deref())
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e))?;
                Rendered::new("application/atom+xml; charset=utf-8", body)
            }
        };
        r.last_modified_ms = read::last_modified(&page.hits);
        if let Some(n) = &next {
            r = r
                .with_header(header::LINK, &format!("<{base}{n}>; rel=\"next\""))
                .with_header(HeaderName::from_static("x-discal-truncated"), "true");
        }
        Ok(r)
    })
    .await
}

/// `GET /embed`: the list, agenda or month view for an iframe.
pub async fn embed(
    State(gw): State<Gateway>,
    uri: Uri,
    headers: HeaderMap,
    Query(pairs): Pairs,
) -> Response {
    let p = refs(&pairs);
    let (f, rest) = match ViewFilter::parse(p.iter().copied(), html::LOOK_PARAMS) {
        Ok(x) => x,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let look = match html::parse_look(&rest) {
        Ok(l) => l,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let limit = match limit_of(&f, EMBED_LIMITS) {
        Ok(l) => l,
        Err((s, m)) => return text(s, m),
    };
    let today = read::today(&gw, &f);
    let relative = match look.kind {
        ViewKind::Month => look.month.is_none() && f.from.is_none(),
        _ => f.is_relative(Some(EMBED_DAYS)),
    };
    let key = ReadKey {
        url: format!("{uri}"),
        relative_to: relative.then_some(today),
        max_age: 300,
    };
    let p_owned = pairs.clone();
    let mut resp = read::serve(&gw, &headers, key, move |gw| {
        let p = refs(&p_owned);
        let (first, window) = match look.kind {
            ViewKind::Month => {
                let first = match (look.month, f.from) {
                    (Some(m), _) => m,
                    (None, Some(discal_protocol::view::Bound::Date(d))) => d,
                    (None, Some(discal_protocol::view::Bound::Instant(t))) => {
                        t.with_timezone(&f.zone()).date_naive()
                    }
                    (None, None) => today,
                };
                let first = html::month_start(
                    &html::Look {
                        month: Some(first),
                        ..look.clone()
                    },
                    today,
                );
                let first = chrono::Datelike::with_day(&first, 1).unwrap_or(first);
                (Some(first), Some(html::month_window(&f, first)))
            }
            _ => (None, f.window(today, Some(EMBED_DAYS))),
        };
        let page = read::fetch(&gw.store, &f, window, limit, true)
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")))?;
        let next = page
            .truncated
            .then(|| next_url("/embed", &p, f.offset, limit));
        let body = match first {
            Some(first) => {
                html::month_view(&f, &look, &page.hits, page.truncated, first, &p, &gw.name)
            }
            None => html::list_view(
                &f,
                &look,
                &page.hits,
                page.truncated,
                next.as_deref(),
                &gw.name,
            ),
        };
        let mut r = Rendered::new("text/html; charset=utf-8", body)
            .with_header(header::CONTENT_SECURITY_POLICY, html::CSP);
        r.last_modified_ms = read::last_modified(&page.hits);
        Ok(r)
    })
    .await;
    // Another site frames this page on purpose; say so rather than leave it to defaults.
    resp.headers_mut().remove(header::X_FRAME_OPTIONS);
    resp
}

/// `GET /events/{origin}/{uid}`: an event's page.
pub async fn event_page(
    gw: State<Gateway>,
    path: Path<(String, String)>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Response {
    event_resource(gw.0, path.0 .0, path.0 .1, "page", uri, h, q.0).await
}

/// `GET /events/{origin}/{uid}/event.ics|event.json`: one event as a resource.
pub async fn event_file(
    State(gw): State<Gateway>,
    Path((origin, uid, file)): Path<(String, String, String)>,
    uri: Uri,
    h: HeaderMap,
    Query(q): Pairs,
) -> Response {
    let kind = match file.as_str() {
        "event.ics" => "ics",
        "event.json" => "json",
        _ => {
            return text(
                StatusCode::NOT_FOUND,
                format!("no {file:?} here: event.ics or event.json"),
            )
        }
    };
    event_resource(gw, origin, uid, kind, uri, h, q).await
}

async fn event_resource(
    gw: Gateway,
    origin: String,
    uid: String,
    kind: &'static str,
    uri: Uri,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
) -> Response {
    let origin = match parse_origin(&origin) {
        Ok(o) => o,
        Err((s, m)) => return text(s, m),
    };
    let p = refs(&pairs);
    let f = match ViewFilter::parse(p.iter().copied(), &[]) {
        Ok((f, _)) => f,
        Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let today = read::today(&gw, &f);
    let key = ReadKey {
        url: format!("{uri}"),
        relative_to: (kind == "page").then_some(today),
        max_age: 300,
    };
    read::serve(&gw, &headers, key, move |gw| {
        let ev = gw
            .store
            .get(&EventKey {
                origin,
                uid: uid.clone(),
            })
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")))?
            .ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("no event {uid:?} from origin {origin} here"),
                )
            })?;
        let base = gw.public_url.trim_end_matches('/');
        let mut r = match kind {
            "ics" => Rendered::new(
                "text/calendar; charset=utf-8",
                feeds::ics_calendar(&gw.name, [&ev], None),
            ),
            "json" => Rendered::new(
                "application/json; charset=utf-8",
                jscal::event(&ev, base).to_string(),
            )
            .with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            _ => {
                let now = read::now(gw);
                let zone = feeds::display_zone(&f, &ev.content().master);
                let upcoming = recur::expand(
                    ev.content(),
                    now,
                    now + Duration::days(366),
                    zone,
                    ExpandLimits {
                        max_examined: 5_000,
                        max_returned: 20,
                    },
                )
                .map(|x| x.occurrences)
                .unwrap_or_default();
                Rendered::new(
                    "text/html; charset=utf-8",
                    html::event_page(&f, &ev, &upcoming, now),
                )
                .with_header(header::CONTENT_SECURITY_POLICY, html::CSP)
            }
        };
        r.last_modified_ms = Some(ev.received_at_ms);
        Ok(r)
    })
    .await
}

/// `GET /views`: the URL builder.
pub async fn views(State(gw): State<Gateway>, Query(pairs): Pairs) -> Response {
    let p = refs(&pairs);
    // An empty form field arrives as `name=`; it means "not set".
    let set: Vec<(&str, &str)> = p.iter().copied().filter(|(_, v)| !v.is_empty()).collect();
    let base = gw.public_url.trim_end_matches('/').to_owned();
    let (f, err) = match ViewFilter::parse(set.iter().copied(), html::LOOK_PARAMS) {
        Ok((f, rest)) => match html::parse_look(&rest) {
            Ok(_) => (f, None),
            Err(e) => (f, Some(e)),
        },
        Err(e) => (ViewFilter::default(), Some(e.to_string())),
    };
    let status = if err.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, html::CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html::views_page(&base, &f, &set, err.as_deref()),
    )
        .into_response()
}

/// `GET /`: the front page.
pub async fn index(State(gw): State<Gateway>) -> Response {
    let n = gw.store.len().unwrap_or(0);
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, html::CSP),
        ],
        html::index_page(&gw.name, gw.public_url.trim_end_matches('/'), n),
    )
        .into_response()
}

/// `GET /static/embed.css?theme=&accent=`.
pub async fn stylesheet(Query(pairs): Pairs) -> Response {
    let p = refs(&pairs);
    if let Some((k, _)) = p.iter().find(|(k, _)| *k != "theme" && *k != "accent") {
        return text(
            StatusCode::BAD_REQUEST,
            format!("unknown parameter {k:?} (known: theme, accent)"),
        );
    }
    match html::parse_look(&p) {
        Ok(l) => (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            html::stylesheet(l.dark, l.accent.as_deref()),
        )
            .into_response(),
        Err(e) => text(StatusCode::BAD_REQUEST, e),
    }
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
    script(include_str!("../assets/resize.js"))
}

/// `GET /embed.js`: the optional helper a host page loads.
pub async fn embed_js() -> Response {
    script(include_str!("../assets/embed.js"))
}
