//! GET and HEAD: an item as a calendar object, a collection as its iCalendar feed.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::DavError;
use super::members::{load_item, members};
use super::path::{item_etag, Res};
use super::props::ITEM_TYPE;
use crate::read::etag_matches;
use crate::{feeds, Gateway};

pub(super) fn get(gw: &Gateway, res: &Res, headers: &HeaderMap) -> Result<Response, DavError> {
    match res {
        Res::Item(c, key) => {
            let ev = load_item(gw, c, key)?
                .ok_or_else(|| DavError::NotFound("no such event in this calendar".into()))?;
            let etag = item_etag(&ev);
            if etag_matches(headers, &etag) {
                return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
            }
            let mut r = (
                [(header::CONTENT_TYPE, ITEM_TYPE)],
                feeds::ics_calendar(&gw.name, [&ev], None),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            Ok(r)
        }
        // A calendar collection read as a whole is its iCalendar feed.
        Res::Coll(c) => {
            let hits = members(gw, c)?;
            Ok((
                [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
                feeds::ics_calendar(&gw.name, hits.iter().map(|h| &h.event), None),
            )
                .into_response())
        }
        _ => Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "DisCal CalDAV: add this server as a CalDAV account; calendars are under /dav/calendars/\n",
        )
            .into_response()),
    }
}
