//! GET and HEAD: an item as a calendar object, a collection as its iCalendar feed.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::DavError;
use super::members::{load_item, members};
use super::path::{item_etag, Coll, Res};
use super::props::ITEM_TYPE;
use crate::read::{self, etag_matches, today, ReadKey, Rendered};
use crate::{feeds, AppError, Gateway};

pub(super) fn get(gw: &Gateway, res: &Res, headers: &HeaderMap) -> Result<Response, DavError> {
    match res {
        Res::Item(c, key) => {
            let ev = load_item(gw, c, key)?
                .ok_or_else(|| DavError::NotFound("no such event in this calendar".into()))?;
            let etag = item_etag(&gw.store, &ev);
            if etag_matches(headers, &etag) {
                return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
            }
            let mut r = (
                [(header::CONTENT_TYPE, ITEM_TYPE)],
                feeds::ics_calendar(&gw.store, &gw.name, [&ev], None),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            Ok(r)
        }
        // Dispatch answers these with `collection`, from the cache; this is the uncached form.
        Res::Coll(c) => Ok((
            [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
            collection_ics(gw, c)?,
        )
            .into_response()),
        _ => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "DisCal CalDAV: add this server as a CalDAV account; calendars are under /dav/calendars/\n",
        )
            .into_response()),
    }
}

/// A calendar collection read as a whole: its iCalendar feed, rendered once per store change
/// and served from the gateway's cache with ETag, 304 and compression, as `/feed.ics` is.
pub(super) async fn collection(
    gw: &Gateway,
    c: &Coll,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let key = ReadKey {
        url: format!("dav {path}"),
        // A view's members depend on today's date.
        relative_to: matches!(c, Coll::View(..)).then(|| today(gw, &c.filter())),
        max_age: 300,
    };
    let c = c.clone();
    read::serve(gw, headers, key, move |gw| {
        let body = collection_ics(gw, &c).map_err(app_error)?;
        Ok(Rendered::new("text/calendar; charset=utf-8", body))
    })
    .await
}

fn collection_ics(gw: &Gateway, c: &Coll) -> Result<String, DavError> {
    let hits = members(gw, c)?;
    Ok(feeds::ics_calendar(
        &gw.store,
        &gw.name,
        hits.iter().map(|h| &h.event),
        None,
    ))
}

fn app_error(e: DavError) -> AppError {
    match e {
        DavError::Store(s) => AppError::Store(s),
        other => AppError::Render(other.to_string()),
    }
}
