//! The pages people open in a browser: the front page, an event's page (and the event as a
//! file), and the `/views` URL builder. Room for the pages that come with accounts.

pub mod auth;
pub mod event_meta;
pub mod form;
pub mod map;
mod pages;
pub mod people;
pub mod people_html;
pub mod proposals;
pub mod sites;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use discal_protocol::recur::{self, ExpandLimits};
use discal_protocol::view::ViewFilter;
use discal_protocol::{EventKey, NodeKey};
use discal_store::StoredEvent;

pub use pages::{event_page as render_event_page, views_page, EventContext};

use crate::feeds::{ics_calendar, jscal};
use crate::html;
use crate::read::{self, parse_origin, refs, Pairs, ReadKey, Rendered};
use crate::{AppError, Gateway};

/// `GET /events/{origin}/{uid}`: an event's page.
pub async fn event_page(
    gw: State<Gateway>,
    path: Path<(String, String)>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    let mut pairs = q.0;
    let lang = read::accept_language(&h, &mut pairs, &node_language(&gw.0));
    let mut r = event_resource(gw.0, path.0, Kind::Page, uri, h, pairs, lang).await?;
    r.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("Accept-Language, Accept-Encoding"),
    );
    Ok(r)
}

/// `GET /events/{origin}/{uid}/event.ics|event.json`: one event as a resource.
pub async fn event_file(
    State(gw): State<Gateway>,
    Path((origin, uid, file)): Path<(String, String, String)>,
    uri: Uri,
    h: HeaderMap,
    q: Pairs,
) -> Result<Response, AppError> {
    let kind = match file.as_str() {
        "event.ics" => Kind::Ics,
        "event.json" => Kind::Json,
        "revise" => return proposals::revise_page(&gw, &h, parse_origin(&origin)?, &uid),
        _ => {
            return Err(AppError::NotFound(format!(
                "no {file:?} here: event.ics or event.json"
            )))
        }
    };
    event_resource(gw, (origin, uid), kind, uri, h, q.0, "").await
}

/// `POST /events/{origin}/{uid}/revise`: where other nodes send proposals (X-REVISE-URL).
pub async fn event_post(
    State(gw): State<Gateway>,
    Path((_origin, _uid, file)): Path<(String, String, String)>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    if file != "revise" {
        return Err(AppError::NotFound(format!(
            "nothing to post to at {file:?}: proposals go to …/revise"
        )));
    }
    proposals::receive(&gw, &h, &body).await
}

/// How an event is answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Page,
    Ics,
    Json,
}

async fn event_resource(
    gw: Gateway,
    (origin, uid): (String, String),
    kind: Kind,
    uri: Uri,
    headers: HeaderMap,
    pairs: Vec<(String, String)>,
    lang: &str,
) -> Result<Response, AppError> {
    let origin = parse_origin(&origin)?;
    let (f, _) = ViewFilter::parse(refs(&pairs), &[]).map_err(AppError::bad)?;
    let today = read::today(&gw, &f);
    let key = ReadKey {
        url: format!("{uri}|{lang}"),
        relative_to: (kind == Kind::Page).then_some(today),
        max_age: 300,
    };
    Ok(read::serve(&gw, &headers, key, move |gw| {
        let ev = load(gw, origin, &uid)?;
        let base = gw.public_url.trim_end_matches('/');
        let mut r = match kind {
            Kind::Ics => Rendered::new(
                "text/calendar; charset=utf-8",
                ics_calendar(&gw.store, &gw.name, [&ev], None),
            ),
            Kind::Json => Rendered::new(
                "application/json; charset=utf-8",
                jscal::event(&gw.store, &ev, base).to_string(),
            )
            .with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            Kind::Page => page_of(gw, &f, &ev),
        };
        r.last_modified_ms = Some(ev.received_at_ms);
        Ok(r)
    })
    .await)
}

fn load(gw: &Gateway, origin: NodeKey, uid: &str) -> Result<StoredEvent, AppError> {
    gw.store
        .get(&EventKey {
            origin,
            uid: uid.to_owned(),
        })?
        .ok_or_else(|| AppError::NotFound(format!("no event {uid:?} from origin {origin} here")))
}

/// The names this node knows for nodes: its own, and its peers' from the allowlist.
pub fn node_names(gw: &Gateway) -> event_meta::NodeNames {
    let mut names = event_meta::NodeNames::new();
    if let Some(me) = gw.node.key() {
        names.insert(me, gw.name.to_string());
    }
    if let Some(peers) = gw.node.config()["peers"].as_array() {
        for p in peers {
            let key = p["key"].as_str().and_then(|k| k.parse::<NodeKey>().ok());
            if let (Some(k), Some(n)) = (key, p["name"].as_str()) {
                names.insert(k, n.to_string());
            }
        }
    }
    names
}

/// An event's page, with its next instances in the reader's zone.
fn page_of(gw: &Gateway, f: &ViewFilter, ev: &StoredEvent) -> Rendered {
    let now = read::now(gw);
    let zone = crate::display::display_zone(f, &ev.content().master);
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
    let ctx = pages::EventContext {
        // A store that cannot answer leaves out the other listings, not the page.
        listings: read::listings_of(&gw.store, ev).unwrap_or_else(|e| {
            tracing::warn!("listings of an event: {e}");
            let me = discal_store::Also {
                origin: ev.payload.origin,
                uid: ev.payload.uid.clone(),
                source: None,
            };
            (me.clone(), vec![me])
        }),
        names: node_names(gw),
        here: gw.node.key(),
        url: format!(
            "{}{}",
            gw.public_url.trim_end_matches('/'),
            crate::display::event_path(ev)
        ),
    };
    Rendered::new(
        "text/html; charset=utf-8",
        render_event_page(f, ev, &upcoming, now, &ctx),
    )
    .with_header(header::CONTENT_SECURITY_POLICY, html::CSP)
}

/// `GET /views`: the URL builder.
pub async fn views(State(gw): State<Gateway>, headers: HeaderMap, pairs: Pairs) -> Response {
    let mut pairs = pairs.0;
    read::accept_language(&headers, &mut pairs, &node_language(&gw));
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
            (header::CONTENT_SECURITY_POLICY, html::VIEWS_CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        views_page(&base, &f, &set, err.as_deref()),
    )
        .into_response()
}

/// The node's `language` setting (`en` without one).
pub(crate) fn node_language(gw: &Gateway) -> String {
    gw.node.config()["language"]
        .as_str()
        .unwrap_or("en")
        .to_string()
}

/// Dates the home page lists before its "more" link.
pub const HOME_ITEMS: usize = 50;
/// Days the home page covers when the URL names no window.
pub const HOME_DAYS: u32 = 28;

/// `GET /`: the calendar itself. The node's upcoming events (list, agenda or month), a search
/// and tag filter, quick ranges (today, this week, this month), and subscribe and embed links
/// that keep the filters. Any view parameter works here as on `/embed`; the language follows
/// `lang`, else the browser's Accept-Language.
pub async fn index(
    State(gw): State<Gateway>,
    uri: Uri,
    headers: HeaderMap,
    pairs: Pairs,
) -> Result<Response, AppError> {
    let mut pairs = pairs.0;
    read::accept_language(&headers, &mut pairs, &node_language(&gw));
    let (f, rest) = ViewFilter::parse(refs(&pairs), html::LOOK_PARAMS).map_err(AppError::bad)?;
    let mut look = html::parse_look(&rest).map_err(AppError::BadRequest)?;
    // A page a visitor takes in: the next four weeks, 50 dates, then a link to more.
    look.max_items = HOME_ITEMS;
    look.days = HOME_DAYS;
    let limit = read::limit_of(&f, (HOME_ITEMS, 500))?;
    let today = read::today(&gw, &f);
    let key = ReadKey {
        // The settings the page shows are part of what it is cached under: a changed
        // description shows at once.
        url: format!(
            "{uri}|{}|{}|{}",
            f.lang.tag(),
            gw.node.config()["description"].as_str().unwrap_or(""),
            map::tile_server(&gw).is_some()
        ),
        relative_to: Some(today),
        max_age: 60,
    };
    let mut resp = read::serve(&gw, &headers, key, move |gw| {
        let header = pages::home_header(gw, &f, &look, &pairs);
        crate::embeds::render_at(gw, (&f, &look), limit, ("/", &pairs), today, Some(header))
    })
    .await;
    resp.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("Accept-Language, Accept-Encoding"),
    );
    Ok(resp)
}
