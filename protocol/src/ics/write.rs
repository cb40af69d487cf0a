//! Writing events as iCalendar: every value through one escaping function, every line
//! through one folding function, nothing added behind the caller's back.

use std::fmt::Write as _;

use crate::model::{
    Component, Date, DateTimeValue, Duration, End, EventContent, LocalDateTime, Status,
};

/// Escapes a TEXT value (RFC 5545 §3.3.11). CR and other control characters never reach the
/// output: a newline becomes `\n`, anything else is dropped, so text cannot start a new property.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value, quoted when it holds `:`, `;` or `,`; DQUOTE and control characters,
/// which iCalendar cannot carry in a parameter, are dropped.
pub(super) fn param_value(v: &str) -> String {
    let clean: String = v.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// Drops control characters from a value that is written verbatim (URIs, raw properties).
pub(super) fn raw_value(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control() || *c == '\t')
        .collect()
}

/// Folds a content line at 75 octets without splitting a UTF-8 character (RFC 5545 §3.1) and
/// ends it with CRLF.
pub fn fold_line(out: &mut String, line: &str) {
    // Most lines fit: copy them whole.
    if line.len() <= 75 {
        out.push_str(line);
        out.push_str("\r\n");
        return;
    }
    let mut width = 0usize;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

pub(super) fn fmt_local(l: &LocalDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        l.date.year, l.date.month, l.date.day, l.hour, l.minute, l.second
    )
}

pub(super) fn fmt_date(d: &Date) -> String {
    format!("{:04}{:02}{:02}", d.year, d.month, d.day)
}

/// `NAME;params:value` for a date or date-time value.
pub(super) fn dt_line(name: &str, v: &DateTimeValue) -> String {
    match v {
        DateTimeValue::Date(d) => format!("{name};VALUE=DATE:{}", fmt_date(d)),
        DateTimeValue::Floating(l) => format!("{name}:{}", fmt_local(l)),
        DateTimeValue::Utc(l) => format!("{name}:{}Z", fmt_local(l)),
        DateTimeValue::Zoned { local, tzid } => {
            format!("{name};TZID={}:{}", param_value(tzid), fmt_local(local))
        }
    }
}

/// Formats a DURATION.
pub fn fmt_duration(d: &Duration) -> String {
    let mut s = String::new();
    if d.negative {
        s.push('-');
    }
    s.push('P');
    if d.weeks > 0 {
        let _ = write!(s, "{}W", d.weeks);
    }
    if d.days > 0 {
        let _ = write!(s, "{}D", d.days);
    }
    if d.seconds > 0 || (d.weeks == 0 && d.days == 0) {
        s.push('T');
        let (h, m, sec) = (d.seconds / 3600, d.seconds / 60 % 60, d.seconds % 60);
        if h > 0 {
            let _ = write!(s, "{h}H");
        }
        if m > 0 {
            let _ = write!(s, "{m}M");
        }
        if sec > 0 || (h == 0 && m == 0) {
            let _ = write!(s, "{sec}S");
        }
    }
    s
}

/// What the writer needs to render one event.
#[derive(Clone, Copy, Debug)]
pub struct IcsEvent<'a> {
    /// The UID.
    pub uid: &'a str,
    /// The VEVENT(s).
    pub content: &'a EventContent,
    /// X-REVISION.
    pub revision: u32,
    /// X-HOP as seen by this node.
    pub hop: u32,
    /// DTSTAMP for components that carry none (the revision's issue time, UTC).
    pub issued: LocalDateTime,
}

/// SUMMARY, DESCRIPTION and LOCATION, with the event's language as their LANGUAGE parameter.
fn text_lines(c: &Component) -> impl Iterator<Item = String> + '_ {
    let lang = c
        .language()
        .map(|l| format!(";LANGUAGE={}", param_value(l)))
        .unwrap_or_default();
    [
        ("SUMMARY", &c.summary),
        ("DESCRIPTION", &c.description),
        ("LOCATION", &c.location),
    ]
    .into_iter()
    // An empty value says nothing, and libical (Evolution's reader) flags the property as an
    // error and drops it: Google's exports write `LOCATION:` on every event without one.
    .filter_map(move |(name, v)| {
        v.as_ref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{name}{lang}:{}", escape_text(v)))
    })
}

/// Writes the VEVENT(s) of one event.
pub fn write_event(out: &mut String, ev: &IcsEvent<'_>) {
    write_event_with(out, ev, &[]);
}

/// Writes the VEVENT(s) of one event, with `extra` content lines (unfolded, already escaped)
/// at the end of the master VEVENT: what the writer of a feed adds about the event, not what
/// its origin signed.
pub fn write_event_with(out: &mut String, ev: &IcsEvent<'_>, extra: &[String]) {
    for (i, comp) in ev.content.components().enumerate() {
        write_component(out, ev, comp, if i == 0 { extra } else { &[] });
    }
}

fn write_component(out: &mut String, ev: &IcsEvent<'_>, c: &Component, extra: &[String]) {
    let mut line = |s: String| fold_line(out, &s);
    line("BEGIN:VEVENT".into());
    line(format!("UID:{}", escape_text(ev.uid)));
    line(format!(
        "DTSTAMP:{}Z",
        fmt_local(c.dtstamp.as_ref().unwrap_or(&ev.issued))
    ));
    if let Some(rid) = &c.recurrence_id {
        line(dt_line("RECURRENCE-ID", rid));
    }
    line(dt_line("DTSTART", &c.start));
    match &c.end {
        Some(End::At(e)) => line(dt_line("DTEND", e)),
        Some(End::Duration(d)) => line(format!("DURATION:{}", fmt_duration(d))),
        None => {}
    }
    if let Some(r) = &c.rrule {
        line(format!("RRULE:{}", raw_value(r)));
    }
    for r in &c.rdates {
        line(dt_line("RDATE", r));
    }
    for x in &c.exdates {
        line(dt_line("EXDATE", x));
    }
    for l in text_lines(c) {
        line(l);
    }
    if let Some(g) = c.geo {
        line(format!("GEO:{};{}", g.lat, g.lon));
    }
    if let Some(u) = c.url.as_ref().filter(|u| !u.is_empty()) {
        line(format!("URL:{}", raw_value(u)));
    }
    if !c.categories.is_empty() {
        let cats: Vec<String> = c.categories.iter().map(|x| escape_text(x)).collect();
        line(format!("CATEGORIES:{}", cats.join(",")));
    }
    if let Some(s) = c.status {
        let s = match s {
            Status::Tentative => "TENTATIVE",
            Status::Confirmed => "CONFIRMED",
            Status::Cancelled => "CANCELLED",
        };
        line(format!("STATUS:{s}"));
    }
    if let Some(o) = &c.organizer {
        match &o.common_name {
            Some(cn) => line(format!(
                "ORGANIZER;CN={}:{}",
                param_value(cn),
                raw_value(&o.address)
            )),
            None => line(format!("ORGANIZER:{}", raw_value(&o.address))),
        }
    }
    line(format!("SEQUENCE:{}", c.sequence));
    if let Some(u) = &c.revise_url {
        line(format!("X-REVISE-URL:{}", raw_value(u)));
    }
    line(format!("X-REVISION:{}", ev.revision));
    line(format!("X-HOP:{}", ev.hop));
    for p in &c.extra {
        // Signed elsewhere in a form readers refuse (import keeps these as UTC, `vevent.rs`'s
        // `utc_stamp`), or without a value (libical marks it): left out rather than break
        // the whole calendar for some readers.
        let stamp = matches!(p.name.as_str(), "CREATED" | "LAST-MODIFIED" | "COMPLETED");
        if (stamp && !is_utc_stamp(&p.value)) || p.value.trim().is_empty() {
            continue;
        }
        let mut s = raw_name(&p.name);
        for prm in &p.params {
            let _ = write!(s, ";{}={}", raw_name(&prm.name), param_value(&prm.value));
        }
        let _ = write!(s, ":{}", raw_value(&p.value));
        line(s);
    }
    for x in extra {
        line(x.clone());
    }
    line("END:VEVENT".into());
}

/// `YYYYMMDDTHHMMSSZ`.
fn is_utc_stamp(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// Property and parameter names are validated on ingest; this keeps the writer safe even for
/// content that never went through validation.
fn raw_name(n: &str) -> String {
    n.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

/// Writes a complete VCALENDAR around `events`. `header` lines (already formatted, e.g. a
/// VTIMEZONE or X-WR-CALNAME) go after PRODID.
pub fn write_calendar<'a>(
    events: impl IntoIterator<Item = IcsEvent<'a>>,
    header: &[String],
) -> String {
    let mut out = String::new();
    fold_line(&mut out, "BEGIN:VCALENDAR");
    fold_line(&mut out, "VERSION:2.0");
    fold_line(&mut out, "PRODID:-//DisCal//DisCal 0.1//EN");
    fold_line(&mut out, "CALSCALE:GREGORIAN");
    for h in header {
        out.push_str(h);
    }
    for ev in events {
        write_event(&mut out, &ev);
    }
    fold_line(&mut out, "END:VCALENDAR");
    out
}
