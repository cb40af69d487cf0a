//! One entry for one real event (issue 21, the collector's view): whether two events from
//! different origins or sources describe the same real event. Pure: what the store and the
//! read surfaces will use to show such events once; this module only decides.
//!
//! Signals, strongest first: the same UID taken from a source (two nodes subscribed to the
//! same feed), the same event URL, then the same start (within [`START_TOLERANCE_SECS`]) with a
//! similar normalised title and a compatible place. Whatever the signal, two events whose
//! starts are more than [`MAX_APART_SECS`] apart, or whose coordinates are more than
//! [`MAX_APART_KM`] apart, are never the same.

use std::collections::BTreeSet;

use crate::model::EventContent;
use crate::recur::instant;
use crate::source::source_of;
use crate::view::distance_km;

/// Starts this close count as the same time (exporters round, zones get mapped).
pub const START_TOLERANCE_SECS: i64 = 15 * 60;
/// Starts further apart than this are different events, whatever else they share.
pub const MAX_APART_SECS: i64 = 12 * 3600;
/// Places further apart than this are different events.
pub const MAX_APART_KM: f64 = 1.0;

/// What [`same_event`] compares, taken once per event.
#[derive(Clone, Debug, PartialEq)]
pub struct Fingerprint {
    /// The UID, when the event came from a source (its UID there).
    pub source_uid: Option<String>,
    /// The event's URL, normalised.
    pub url: Option<String>,
    /// The first start, UTC seconds (floating and all-day starts read as UTC).
    pub start: i64,
    /// The title's words, normalised.
    pub title: BTreeSet<String>,
    /// The place's words, normalised.
    pub place: BTreeSet<String>,
    /// Coordinates.
    pub geo: Option<(f64, f64)>,
}

/// Why two events are one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// The same UID from a source.
    SourceUid,
    /// The same URL.
    Url,
    /// The same time, a similar title and a compatible place.
    TimeTitlePlace,
}

/// Words that say nothing about which event it is.
const STOP: &[&str] = &[
    "the", "a", "an", "and", "of", "in", "at", "on", "for", "to", "with", "der", "die", "das",
    "und", "im", "am", "mit", "von", "zum", "zur", "le", "la", "les", "de", "du", "des", "et",
    "en", "il", "di", "e", "el", "y",
];

fn words(s: &str) -> BTreeSet<String> {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP.contains(w))
        .map(str::to_string)
        .collect()
}

/// A URL without scheme, `www.`, query, fragment and trailing slash, host lower-cased.
fn url_key(u: &str) -> Option<String> {
    let rest = u.split_once("://").map_or(u, |(_, r)| r);
    let rest = rest.split(['?', '#']).next()?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host);
    let key = format!("{host}/{}", path.trim_end_matches('/'));
    (host.contains('.')).then_some(key)
}

/// The fingerprint of an event held under `uid`.
pub fn fingerprint(uid: &str, content: &EventContent) -> Fingerprint {
    let m = &content.master;
    let start = instant(&m.start, chrono_tz::UTC).map_or(0, |t| t.timestamp());
    Fingerprint {
        source_uid: source_of(content).map(|_| uid.to_string()),
        url: m.url.as_deref().and_then(url_key),
        start,
        title: words(m.summary.as_deref().unwrap_or("")),
        place: words(m.location.as_deref().unwrap_or("")),
        geo: m.geo.map(|g| (g.lat, g.lon)),
    }
}

/// |a ∩ b| / |a ∪ b|.
fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let common = a.intersection(b).count();
    let union = a.len() + b.len() - common;
    if union == 0 {
        return 0.0;
    }
    common as f64 / union as f64
}

/// |a ∩ b| / min(|a|, |b|): a short title inside a longer one ("Repair café" in "Repair café
/// Neustadt: bring your toaster").
fn overlap(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let min = a.len().min(b.len());
    if min == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / min as f64
}

/// Whether `a` and `b` are one real event, and by which signal.
pub fn same_event(a: &Fingerprint, b: &Fingerprint) -> Option<Signal> {
    if (a.start - b.start).abs() > MAX_APART_SECS {
        return None;
    }
    if let (Some(x), Some(y)) = (a.geo, b.geo) {
        if distance_km(x, y) > MAX_APART_KM {
            return None;
        }
    }
    if a.source_uid.is_some() && a.source_uid == b.source_uid {
        return Some(Signal::SourceUid);
    }
    if a.url.is_some() && a.url == b.url {
        return Some(Signal::Url);
    }
    if (a.start - b.start).abs() > START_TOLERANCE_SECS {
        return None;
    }
    let title = jaccard(&a.title, &b.title).max(overlap(&a.title, &b.title) * 0.9);
    let place_known = !a.place.is_empty() && !b.place.is_empty();
    let near = matches!((a.geo, b.geo), (Some(x), Some(y)) if distance_km(x, y) <= 0.3);
    let place = if near {
        1.0
    } else if place_known {
        overlap(&a.place, &b.place)
    } else {
        // One of them does not say where: the title must carry it alone.
        0.5
    };
    (title >= 0.6 && place >= 0.5 && (place > 0.5 || title >= 0.8))
        .then_some(Signal::TimeTitlePlace)
}
