//! free-busy-query (RFC 4791 §7.10): when a calendar's events make its owner busy in a time
//! range, as one VFREEBUSY. Apps ask it before proposing a meeting time; RFC 4791 §2 makes
//! it part of every CalDAV server.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use discal_protocol::model::Status;
use discal_protocol::view::bounded_window;
use discal_store::Hit;

use super::filter::Range;
use super::Report;
use crate::dav::error::DavError;
use crate::dav::members::MAX_ITEMS;
use crate::dav::xml::{El, CALDAV};
use crate::read::fetch;

/// The busy periods of one kind, merged.
#[derive(Default)]
struct Periods(Vec<(DateTime<Utc>, DateTime<Utc>)>);

impl Periods {
    fn merged(mut self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.0.sort_unstable();
        let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (s, e) in self.0 {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        out
    }
}

pub(super) fn run(r: &Report<'_>, root: &El) -> Result<Response, DavError> {
    let range = root
        .child(CALDAV, "time-range")
        .map(super::filter::range)
        .transpose()?
        .filter(|r| r.start.is_some() || r.end.is_some())
        .ok_or_else(|| {
            DavError::BadRequest("free-busy-query needs a time-range with a start or an end".into())
        })?;
    let Range { start, end } = range;
    let (from, to) = bounded_window(start, end)
        .ok_or_else(|| DavError::BadRequest("time-range lies outside 1900–2199".into()))?;
    let mut f = r.coll.filter();
    f.offset = 0;
    let hits = fetch(&r.gw.store, &f, Some((from, to)), MAX_ITEMS, false)?.hits;
    let (mut busy, mut tentative) = (Periods::default(), Periods::default());
    for h in hits.iter().filter(|h| r.coll.admits(&h.event)) {
        add(h, (from, to), &mut busy, &mut tentative);
    }
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let mut out = String::new();
    let line = |out: &mut String, l: &str| discal_protocol::ics::fold_line(out, l);
    for l in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//DisCal//DisCal 0.1//EN",
        "BEGIN:VFREEBUSY",
    ] {
        line(&mut out, l);
    }
    let now = crate::read::now(r.gw);
    // RFC 5545 §3.6.4 requires a UID (RFC 4791's example leaves it out; libical marks that).
    line(
        &mut out,
        &format!(
            "UID:freebusy-{}-{}-{}@discal",
            stamp(from),
            stamp(to),
            stamp(now)
        ),
    );
    line(&mut out, &format!("DTSTAMP:{}", stamp(now)));
    line(&mut out, &format!("DTSTART:{}", stamp(from)));
    line(&mut out, &format!("DTEND:{}", stamp(to)));
    for (kind, periods) in [("BUSY", busy), ("BUSY-TENTATIVE", tentative)] {
        let periods = periods.merged();
        if periods.is_empty() {
            continue;
        }
        let list: Vec<String> = periods
            .iter()
            .map(|(s, e)| format!("{}/{}", stamp(*s), stamp(*e)))
            .collect();
        line(
            &mut out,
            &format!("FREEBUSY;FBTYPE={kind}:{}", list.join(",")),
        );
    }
    line(&mut out, "END:VFREEBUSY");
    line(&mut out, "END:VCALENDAR");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/calendar; charset=utf-8")],
        out,
    )
        .into_response())
}

/// An event's instances in the range as busy time (RFC 4791 §7.10): not those marked
/// TRANSPARENT or CANCELLED, TENTATIVE ones as tentative, each cut to the range.
fn add(
    h: &Hit,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    busy: &mut Periods,
    tentative: &mut Periods,
) {
    let c = h.event.content();
    for o in &h.occurrences {
        let comp = match o.component {
            0 => &c.master,
            i => c.overrides.get(i - 1).unwrap_or(&c.master),
        };
        let transparent = comp
            .extra
            .iter()
            .chain(&c.master.extra)
            .find(|p| p.name.eq_ignore_ascii_case("TRANSP"))
            .is_some_and(|p| p.value.trim().eq_ignore_ascii_case("TRANSPARENT"));
        let status = comp.status.or(c.master.status);
        if transparent || status == Some(Status::Cancelled) || o.end <= o.start {
            continue;
        }
        let period = (o.start.max(from), o.end.min(to));
        if period.0 >= period.1 {
            continue;
        }
        match status {
            Some(Status::Tentative) => tentative.0.push(period),
            _ => busy.0.push(period),
        }
    }
}
