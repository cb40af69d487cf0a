//! A view as an iCalendar feed (RFC 5545), with the VTIMEZONEs its events name.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use discal_protocol::ics::{escape_text, fold_line, write_calendar};
use discal_protocol::model::{DateTimeValue, End};
use discal_store::{Hit, StoredEvent};

use discal_store::Store;

use crate::{ics_event_as, public_uid};

/// Every TZID an event's values name.
pub fn tzids(ev: &StoredEvent, out: &mut BTreeSet<String>) {
    for c in ev.content().components() {
        let mut add = |v: &DateTimeValue| {
            if let Some(t) = v.tzid() {
                out.insert(t.to_owned());
            }
        };
        add(&c.start);
        if let Some(End::At(e)) = &c.end {
            add(e);
        }
        if let Some(r) = &c.recurrence_id {
            add(r);
        }
        c.rdates.iter().for_each(&mut add);
        c.exdates.iter().for_each(&mut add);
    }
}

/// The VTIMEZONE of a zone, generated once per process (a scan of 68 years of transitions).
pub fn vtimezone(tzid: &str) -> Option<Arc<str>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<str>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().ok()?.get(tzid) {
        return Some(v.clone());
    }
    let tz = discal_protocol::tz::iana(tzid)?;
    let v: Arc<str> = discal_protocol::vtimezone::vtimezone(tzid, tz).into();
    cache.lock().ok()?.insert(tzid.to_owned(), v.clone());
    Some(v)
}

/// The feeds' property naming another listing of the same real event (the collector's
/// view, docs/protocol.md §15): its page on this node, with its origin and source as
/// parameters.
pub const ALSO_PROPERTY: &str = "X-DISCAL-ALSO-LISTED";

/// The [`ALSO_PROPERTY`] lines of a hit.
pub fn also_lines(base: &str, h: &Hit) -> Vec<String> {
    h.also
        .iter()
        .map(|a| {
            let mut s = format!("{ALSO_PROPERTY};X-DISCAL-ORIGIN={}", a.origin);
            // A parameter value is quoted; one holding a quote cannot be written and is left out.
            if let Some(src) = a.source.as_deref().filter(|s| !s.contains('"')) {
                s.push_str(&format!(
                    ";X-DISCAL-SOURCE=\"{}\"",
                    src.replace(['\r', '\n'], "")
                ));
            }
            s.push_str(&format!(
                ":{base}/events/{}/{}",
                a.origin,
                crate::read::path_segment(&a.uid)
            ));
            s
        })
        .collect()
}

/// A feed's VCALENDAR: as [`ics_calendar`], with each event's other listings named.
pub fn ics_feed(store: &Store, name: &str, hits: &[Hit], note: Option<&str>, base: &str) -> String {
    if hits.iter().all(|h| h.also.is_empty()) {
        return ics_calendar(store, name, hits.iter().map(|h| &h.event), note);
    }
    let mut zones = BTreeSet::new();
    for h in hits {
        tzids(&h.event, &mut zones);
    }
    let mut out = ics_calendar(store, name, std::iter::empty(), note);
    // The empty calendar ends with END:VCALENDAR; the events and their zones go before it.
    out.truncate(out.len() - "END:VCALENDAR\r\n".len());
    for z in &zones {
        if let Some(v) = vtimezone(z) {
            out.push_str(&v);
        }
    }
    for h in hits {
        let uid = crate::public_uid(store, &h.event);
        let ev = crate::ics_event_as(&h.event, &uid);
        discal_protocol::ics::write_event_with(&mut out, &ev, &also_lines(base, h));
    }
    fold_line(&mut out, "END:VCALENDAR");
    out
}

/// A complete VCALENDAR for `events`: a VTIMEZONE for each TZID used, calendar name, refresh
/// hints, and `note` (an X-property saying the answer was cut short, with where to go on).
pub fn ics_calendar<'a>(
    store: &Store,
    name: &str,
    events: impl IntoIterator<Item = &'a StoredEvent> + Clone,
    note: Option<&str>,
) -> String {
    let mut zones = BTreeSet::new();
    for e in events.clone() {
        tzids(e, &mut zones);
    }
    let mut header = String::new();
    fold_line(&mut header, &format!("X-WR-CALNAME:{}", escape_text(name)));
    fold_line(&mut header, "REFRESH-INTERVAL;VALUE=DURATION:PT1H");
    fold_line(&mut header, "X-PUBLISHED-TTL:PT1H");
    if let Some(n) = note {
        fold_line(
            &mut header,
            &format!("X-DISCAL-TRUNCATED:{}", escape_text(n)),
        );
    }
    for z in &zones {
        if let Some(v) = vtimezone(z) {
            header.push_str(&v);
        }
    }
    let uids: Vec<(&StoredEvent, std::borrow::Cow<'_, str>)> = events
        .into_iter()
        .map(|e| (e, public_uid(store, e)))
        .collect();
    write_calendar(uids.iter().map(|(e, uid)| ics_event_as(e, uid)), &[header])
}

/// The calendar property carrying an event's origin-signed envelope in a push (base64 of its
/// wire bytes, docs/protocol.md §2), so a DisCal receiver can check the origin's signature.
pub const ENVELOPE_PROPERTY: &str = "X-DISCAL-ENVELOPE";

/// The body of a push: one event as a VCALENDAR with its VTIMEZONEs, its VEVENT's X-HOP one
/// more than this node's (a push is one more publication), and its envelope.
pub fn push_calendar(store: &Store, name: &str, e: &StoredEvent) -> String {
    let mut zones = BTreeSet::new();
    tzids(e, &mut zones);
    let mut header = String::new();
    fold_line(&mut header, &format!("X-WR-CALNAME:{}", escape_text(name)));
    fold_line(
        &mut header,
        &format!(
            "{ENVELOPE_PROPERTY}:{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                e.envelope.encode()
            )
        ),
    );
    for z in &zones {
        if let Some(v) = vtimezone(z) {
            header.push_str(&v);
        }
    }
    let uid = crate::public_uid(store, e);
    let mut ev = crate::ics_event_as(e, &uid);
    ev.hop = ev.hop.saturating_add(1);
    write_calendar([ev], &[header])
}
