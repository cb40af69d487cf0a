//! How an event reads to a person, shared by the HTML views and the Atom feed: which zone an
//! instance is shown in, how its date reads, which instance stands for it, safe links and
//! length caps on text from peers.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use discal_protocol::model::{Component, DateTimeValue};
use discal_protocol::recur::{self, ExpandLimits, Occurrence};
use discal_protocol::view::{Lang, ViewFilter};
use discal_store::{Hit, StoredEvent};

use crate::i18n::{self, strings};
use crate::read::path_segment;

/// The zone an event's instance is shown in: the one the reader asked for, else the event's
/// own (floating and all-day times stay as written, UTC stays UTC).
pub fn display_zone(f: &ViewFilter, c: &Component) -> Tz {
    if let Some(tz) = f.tz {
        return tz;
    }
    match &c.start {
        DateTimeValue::Zoned { tzid, .. } => discal_protocol::tz::iana(tzid).unwrap_or(Tz::UTC),
        DateTimeValue::Floating(_) | DateTimeValue::Date(_) => f.zone(),
        DateTimeValue::Utc(_) => Tz::UTC,
    }
}

/// "Saturday, 7 March 2026, 19:00–21:00" or "…, all day", in `zone`.
pub fn when_text(lang: Lang, o: &Occurrence, zone: Tz) -> String {
    let s = o.start.with_timezone(&zone);
    if o.all_day {
        let last = (o.end - Duration::seconds(1))
            .with_timezone(&zone)
            .date_naive();
        if last > s.date_naive() {
            return format!(
                "{} – {}",
                i18n::long_date(lang, s.date_naive()),
                i18n::long_date(lang, last)
            );
        }
        return format!(
            "{}, {}",
            i18n::long_date(lang, s.date_naive()),
            strings(lang).all_day
        );
    }
    let e = o.end.with_timezone(&zone);
    let mut out = format!(
        "{}, {}",
        i18n::long_date(lang, s.date_naive()),
        i18n::time(&s)
    );
    if o.end > o.start {
        if e.date_naive() == s.date_naive() {
            out.push_str(&format!("–{}", i18n::time(&e)));
        } else {
            out.push_str(&format!(
                " – {}, {}",
                i18n::long_date(lang, e.date_naive()),
                i18n::time(&e)
            ));
        }
    }
    out
}

/// The instance to show for an event: the first in the window, else the next one from `now`
/// (the first ever if none is ahead).
pub fn shown_instance(h: &Hit, zone: Tz, now: DateTime<Utc>) -> Option<Occurrence> {
    if let Some(o) = h.occurrences.first() {
        return Some(o.clone());
    }
    let c = h.event.content();
    let lim = ExpandLimits {
        max_examined: 2000,
        max_returned: 1,
    };
    recur::expand(c, now, now + Duration::days(3660), zone, lim)
        .ok()
        .and_then(|x| x.occurrences.into_iter().next())
        .or_else(|| {
            let start = recur::instant(&c.master.start, zone).ok()?;
            recur::expand(c, start, start + Duration::days(1), zone, lim)
                .ok()
                .and_then(|x| x.occurrences.into_iter().next())
        })
}

/// The page of one event, relative to the gateway root.
pub fn event_path(e: &StoredEvent) -> String {
    format!(
        "/events/{}/{}",
        e.payload.origin,
        path_segment(&e.payload.uid)
    )
}

/// Only http(s) URLs become links; `javascript:`, `data:` and the rest stay text.
pub fn safe_link(url: &str) -> Option<&str> {
    let u = url.trim();
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        .then_some(u)
        .filter(|u| !u.chars().any(|c| c.is_control() || c == ' ' || c == '"'))
}

/// Cuts text for display at `max` characters, marking the cut.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]).into(),
        None => s.into(),
    }
}

/// A title or a place, cut at `max`: the character references some exporters write into
/// SUMMARY and LOCATION (CiviCRM's `&amp;`, WordPress's `&#8217;`) read as the characters
/// they stand for. Anything else, markup-like or not, is text as its author wrote it. The
/// stored event keeps the references as signed.
pub fn line(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    match discal_protocol::references::read(s) {
        Cow::Borrowed(b) => cut(b, max),
        Cow::Owned(o) => Cow::Owned(cut(&o, max).into_owned()),
    }
}

/// The longest text shown for a title and a description in HTML and Atom.
pub const TITLE_MAX: usize = 300;

/// See [`TITLE_MAX`].
pub const DESCRIPTION_MAX: usize = 5000;

/// "12 going · 3 maybe" from the event's published RSVP counts (docs/protocol.md §12.6), if
/// anyone answered.
pub fn rsvp_line(lang: Lang, m: &Component) -> Option<String> {
    use discal_protocol::proposal::{rsvp_counts, RSVP_PROPERTY};
    let v = m.extra.iter().find(|p| p.name == RSVP_PROPERTY)?;
    let (going, maybe, not_going) = rsvp_counts(&v.value);
    let de = lang == Lang::De;
    let parts: Vec<String> = [
        (going, if de { "dabei" } else { "going" }),
        (maybe, if de { "vielleicht" } else { "maybe" }),
        (not_going, if de { "nicht dabei" } else { "not going" }),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}
