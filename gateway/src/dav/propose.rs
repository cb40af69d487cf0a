//! An account's app edits or deletes another node's event in a shared calendar: only the
//! origin publishes revisions of its events, so the change becomes a proposal to the origin
//! (docs/protocol.md §12), answered 202. The calendar shows the change once the origin accepts
//! it and the revision comes back over the mesh.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use discal_protocol::model::{Component, DateTimeValue, End};
use discal_protocol::EventKey;

use super::error::DavError;
use super::members::load_item;
use super::own::{calendar_text, conditions, shape};
use super::path::{item_etag, Coll};
use crate::web::auth::Caller;
use crate::{Draft, Gateway, ProposalRequest};

/// PUT (a change) or DELETE (a cancellation) of `key`, another origin's event, in `coll`.
pub(super) async fn propose(
    gw: &Gateway,
    caller: &Caller,
    (coll, key): (&Coll, &EventKey),
    delete: bool,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, DavError> {
    let held = load_item(gw, coll, key)?
        .ok_or_else(|| DavError::NotFound("no such event in this calendar".into()))?;
    conditions(headers, Some(&item_etag(&gw.store, &held)))?;
    let patch = if delete {
        Draft::default()
    } else {
        let text = calendar_text(headers, body)?;
        let uid = shape(text)?;
        let public = crate::public_uid(&gw.store, &held);
        if uid != key.uid && uid != public {
            return Err(DavError::condition(
                "<C:valid-calendar-object-resource/>",
                &format!("this resource is the event {public}; its UID cannot change to {uid}"),
            ));
        }
        let import = discal_protocol::ics::parse_calendar(
            text,
            &key.origin,
            &discal_protocol::Limits::default(),
        )
        .map_err(|e| DavError::condition("<C:valid-calendar-data/>", &e.to_string()))?;
        let sent = import.events.into_iter().next().ok_or_else(|| {
            let why = import
                .errors
                .first()
                .map_or_else(|| "no event could be read".to_owned(), ToString::to_string);
            DavError::condition("<C:valid-calendar-data/>", &why)
        })?;
        let patch = changes(&held.content().master, &sent.content.master);
        if patch == Draft::default() {
            // The app sent the event back unchanged: nothing to propose.
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
        patch
    };
    gw.node
        .proposal(ProposalRequest::Make {
            origin: key.origin,
            uid: key.uid.clone(),
            patch: Box::new(patch),
            cancel: delete,
            account: caller.name.clone(),
        })
        .await?;
    let what = if delete { "cancellation" } else { "change" };
    Ok(crate::text(
        StatusCode::ACCEPTED,
        format!(
            "this event is {}'s: your {what} was sent there as a proposal, and shows here once \
             the origin accepts it (follow it at /my/proposals)",
            key.origin
        ),
    ))
}

/// The fields of `new` that differ from `old`, as a proposal's patch.
fn changes(old: &Component, new: &Component) -> Draft {
    let mut d = Draft::default();
    let differs =
        |a: &Option<String>, b: &Option<String>| (a != b).then(|| b.clone().unwrap_or_default());
    d.title = differs(&old.summary, &new.summary);
    d.location = differs(&old.location, &new.location);
    d.description = differs(&old.description, &new.description);
    d.url = differs(&old.url, &new.url);
    if old.categories != new.categories {
        d.tags = Some(new.categories.clone());
    }
    if old.rrule != new.rrule {
        d.rrule = Some(new.rrule.clone().unwrap_or_default());
    }
    if old.start != new.start || old.end != new.end {
        let (start, tz) = draft_time(&new.start);
        d.start = Some(start);
        d.tz = tz;
        match &new.end {
            Some(End::At(v)) => d.end = Some(draft_time(v).0),
            Some(End::Duration(x)) => d.duration = Some(discal_protocol::ics::fmt_duration(x)),
            None => {}
        }
    }
    d
}

/// A date-time in a draft's forms: `2026-12-01`, `2026-12-01T19:00` (with its zone, or
/// floating) or `2026-12-01T18:00Z`.
fn draft_time(v: &DateTimeValue) -> (String, Option<String>) {
    let l = v.local();
    let date = format!("{:04}-{:02}-{:02}", l.date.year, l.date.month, l.date.day);
    let time = format!("{date}T{:02}:{:02}", l.hour, l.minute);
    match v {
        DateTimeValue::Date(_) => (date, None),
        DateTimeValue::Floating(_) => (time, None),
        DateTimeValue::Utc(_) => (format!("{time}Z"), None),
        DateTimeValue::Zoned { tzid, .. } => (time, Some(tzid.clone())),
    }
}
