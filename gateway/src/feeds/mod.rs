//! Feeds for calendar apps and feed readers: a view as iCalendar, JSCalendar, Atom or RSS, for the
//! whole node (`/feed.*`) or one origin (`/origins/{key}/feed.*`). Every handler parses its
//! parameters first (a bad one is a 400 naming it) and then goes through [`read::serve`].

pub mod atom;
pub mod ics;
pub mod jscal;
pub mod rss;
mod xml;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, Uri};
use axum::response::Response;
use discal_protocol::view::ViewFilter;
use discal_protocol::NodeKey;

pub use ics::{ics_calendar, tzids, vtimezone};

use crate::read::{self, limit_of, next_url, parse_origin, refs, Pairs, ReadKey, Rendered};
use crate::{AppError, Gateway};

/// A feed format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// iCalendar.
    Ics,
    /// JSCalendar.
    Json,
    /// Atom.
    Atom,
    /// RSS 2.0.
    Rss,
}

impl Format {
    fn from_file(name: &str) -> Option<Self> {
        match name {
            "feed.ics" => Some(Self::Ics),
            "feed.json" => Some(Self::Json),
            "feed.atom" => Some(Self::Atom),
            "feed.rss" => Some(Self::Rss),
            _ => None,
        }
    }

    /// (default, maximum) events per answer. Calendar feeds carry everything a subscriber
    /// needs by default; a feed reader wants the latest few.
    fn limits(self) -> (usize, usize) {
        match self {
            Self::Ics | Self::Json => (10_000, 50_000),
            Self::Atom | Self::Rss => (100, 1_000),
        }
    }
}

/// `GET /feed.ics|json|atom`.
pub async fn feed_ics(
    gw: State<Gateway>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    feed(gw.0, uri, h, q.0, Format::Ics, None).await
}
/// See [`feed_ics`].
pub async fn feed_json(
    gw: State<Gateway>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    feed(gw.0, uri, h, q.0, Format::Json, None).await
}
/// See [`feed_ics`].
pub async fn feed_rss(
    gw: State<Gateway>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    feed(gw.0, uri, h, q.0, Format::Rss, None).await
}
/// See [`feed_ics`].
pub async fn feed_atom(
    gw: State<Gateway>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    feed(gw.0, uri, h, q.0, Format::Atom, None).await
}

/// `GET /origins/{key}/feed.ics|json|atom`: one origin node's events.
pub async fn origin_feed(
    State(gw): State<Gateway>,
    Path((key, file)): Path<(String, String)>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    let fmt = Format::from_file(&file).ok_or_else(|| {
        AppError::NotFound(format!(
            "no {file:?} here: feed.ics, feed.json, feed.atom or feed.rss"
        ))
    })?;
    let k = parse_origin(&key)?;
    feed(gw, uri, h, q.0, fmt, Some(k)).await
}

/// A feed request, its parameters checked.
struct FeedRequest {
    f: ViewFilter,
    fmt: Format,
    limit: usize,
    /// The origin named in the path, if any.
    origin: Option<NodeKey>,
    uri: Uri,
    pairs: Vec<(String, String)>,
}

async fn feed(
    gw: Gateway,
    uri: Uri,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
    fmt: Format,
    origin: Option<NodeKey>,
) -> Result<Response, AppError> {
    let (mut f, _) = ViewFilter::parse(refs(&pairs), &[]).map_err(AppError::bad)?;
    if let Some(o) = origin {
        if f.origin.is_some_and(|x| x != o) {
            return Err(AppError::bad(
                "parameter \"origin\" contradicts the origin in the path",
            ));
        }
        f.origin = Some(o);
    }
    let limit = limit_of(&f, fmt.limits())?;
    let today = read::today(&gw, &f);
    let key = ReadKey {
        url: format!("{uri}"),
        relative_to: f.is_relative(None).then_some(today),
        max_age: 300,
    };
    let req = FeedRequest {
        f,
        fmt,
        limit,
        origin,
        uri,
        pairs,
    };
    Ok(read::serve(&gw, &headers, key, move |gw| render(gw, &req, today)).await)
}

fn render(gw: &Gateway, req: &FeedRequest, today: chrono::NaiveDate) -> Result<Rendered, AppError> {
    let f = &req.f;
    let window = f.window(today, None);
    let page = read::fetch_collected(&gw.store, f, window, req.limit, true)?;
    let next = page
        .truncated
        .then(|| next_url(req.uri.path(), &refs(&req.pairs), f.offset, req.limit));
    let name = match f.origin {
        Some(o) if req.origin.is_some() => format!("{} – {o}", gw.name),
        _ => gw.name.to_string(),
    };
    let base = gw.public_url.trim_end_matches('/');
    let mut r = match req.fmt {
        Format::Ics => {
            let note = next
                .as_ref()
                .map(|n| format!("more events match than this feed carries; next page: {base}{n}"));
            let body = ics::ics_feed(&gw.store, &name, &page.hits, note.as_deref(), base);
            Rendered::new("text/calendar; charset=utf-8", body).with_header(
                header::CONTENT_DISPOSITION,
                "inline; filename=\"calendar.ics\"",
            )
        }
        Format::Json => {
            let g = jscal::group(
                &gw.store,
                &name,
                &page.hits,
                base,
                page.truncated,
                next.as_deref(),
            );
            Rendered::new("application/json; charset=utf-8", g.to_string())
                .with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        }
        Format::Atom => {
            let self_url = req.uri.to_string();
            let body = atom::atom_feed(gw, f, &page.hits, &self_url, next.as_deref())
                .map_err(AppError::Render)?;
            Rendered::new("application/atom+xml; charset=utf-8", body)
        }
        Format::Rss => {
            let body =
                rss::rss_feed(gw, f, &page.hits, &req.uri.to_string()).map_err(AppError::Render)?;
            Rendered::new("application/rss+xml; charset=utf-8", body)
        }
    };
    r.last_modified_ms = read::last_modified(&page.hits);
    if let Some(n) = &next {
        r = r
            .with_header(header::LINK, &format!("<{base}{n}>; rel=\"next\""))
            .with_header(HeaderName::from_static("x-discal-truncated"), "true");
    }
    Ok(r)
}
