//! Validation: the rules a signed payload must meet before any node stores or forwards it.
//!
//! Pure functions over the decoded payload. Text stays hostile after validation (renderers must
//! escape it); validation only guarantees structure: sizes, ranges, real dates, known zones,
//! parseable rules, and no control characters where iCalendar output would turn them into new
//! lines.

use crate::envelope::SignedPayload;
use crate::model::{Component, DateTimeValue, End, EventContent, LocalDateTime, Property};
use crate::recur;

/// Size and range limits. The defaults are the network's; a node may be stricter, not laxer.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Payload bytes (the signed part).
    pub max_payload_bytes: usize,
    /// Properties over the whole event (the master and its overrides), typed and extra
    /// together.
    pub max_properties: usize,
    /// Properties of any one component (the master or one override); also the most RDATEs or
    /// EXDATEs one component may list.
    pub max_component_properties: usize,
    /// RECURRENCE-ID overrides.
    pub max_overrides: usize,
    /// Bytes of any one text value.
    pub max_text_bytes: usize,
    /// CATEGORIES per component.
    pub max_categories: usize,
    /// How far in the future `issued_at_ms` may be from the verifier's clock.
    pub max_clock_skew_ms: i64,
    /// Earliest and latest year of any date.
    pub years: (i32, i32),
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload_bytes: 60 * 1024,
            // 256 over the whole event refused real series: a Google holiday calendar has one
            // with 36 overrides of 13 properties each (481). The payload limit still bounds
            // the whole.
            max_properties: 4096,
            max_component_properties: 256,
            max_overrides: 256,
            max_text_bytes: 32 * 1024,
            max_categories: 32,
            max_clock_skew_ms: 10 * 60 * 1000,
            years: (1900, 2200),
        }
    }
}

/// The largest X-REVISION: iCalendar INTEGER is a signed 32-bit number (RFC 5545 §3.3.8).
pub const MAX_REVISION: u32 = i32::MAX as u32;

/// Longest UID accepted.
pub const MAX_UID_BYTES: usize = 255;

/// A rule a payload broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// Reading the content panicked inside a third-party parser: refused like any invalid
    /// content rather than taking the reader's thread down.
    #[error("the content could not be read (its reading failed inside a parser)")]
    Unreadable,
    /// An event language that is not a language tag.
    #[error("X-DISCAL-LANGUAGE {0:?} is not a language tag (BCP 47, e.g. de or pt-BR)")]
    BadLanguage(String),
    /// Payload over the size limit.
    #[error("payload is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// UID empty, too long, or with control characters.
    #[error(
        "UID {0:?} is not acceptable (1..=255 bytes, no control characters, no surrounding spaces)"
    )]
    BadUid(String),
    /// X-REVISION above [`MAX_REVISION`].
    #[error("revision {0} is out of range (0..={MAX_REVISION})")]
    RevisionRange(u32),
    /// Issued further in the future than the clock skew allows.
    #[error("issued {ahead_ms} ms in the future (more than the allowed clock skew)")]
    FromTheFuture {
        /// How far ahead.
        ahead_ms: i64,
    },
    /// Too many properties, overrides or categories.
    #[error("too many {what}: {count} (limit {max})")]
    TooMany {
        /// Of what.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A text value over the length limit.
    #[error("{field} is {len} bytes, over the {max}-byte limit")]
    TextTooLong {
        /// Which field.
        field: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Control characters where they could break an iCalendar line.
    #[error("{0} contains control characters")]
    ControlCharacters(String),
    /// A property or parameter name that is not an iCalendar name.
    #[error("{0:?} is not a valid property or parameter name")]
    BadName(String),
    /// A date that does not exist or lies outside the accepted years.
    #[error("{field}: {reason}")]
    BadDate {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// DTEND before DTSTART, a negative duration, or a DATE/DATE-TIME mix.
    #[error("{0}")]
    BadEnd(String),
    /// GEO out of range.
    #[error("GEO {lat},{lon} is out of range")]
    BadGeo {
        /// Latitude.
        lat: f64,
        /// Longitude.
        lon: f64,
    },
    /// RRULE or time zone problem.
    #[error(transparent)]
    Recurrence(#[from] recur::RecurError),
    /// Overrides that are not overrides, or a master that is one.
    #[error("{0}")]
    BadOverride(String),
}

/// Checks a UID as the network accepts it.
pub fn check_uid(uid: &str) -> Result<(), ValidationError> {
    if uid.is_empty()
        || uid.len() > MAX_UID_BYTES
        || uid.chars().any(char::is_control)
        || uid.trim() != uid
    {
        return Err(ValidationError::BadUid(uid.chars().take(80).collect()));
    }
    Ok(())
}

/// Checks everything about a payload except its signature.
pub fn validate_payload(
    p: &SignedPayload,
    now_ms: i64,
    limits: &Limits,
) -> Result<(), ValidationError> {
    check_uid(&p.uid)?;
    if p.revision > MAX_REVISION {
        return Err(ValidationError::RevisionRange(p.revision));
    }
    let ahead_ms = p.issued_at_ms.saturating_sub(now_ms);
    if ahead_ms > limits.max_clock_skew_ms {
        return Err(ValidationError::FromTheFuture { ahead_ms });
    }
    validate_content(&p.content, limits)
}

/// Checks an event's content.
pub fn validate_content(c: &EventContent, limits: &Limits) -> Result<(), ValidationError> {
    // Content from peers, feeds, pages and calendar apps is read here with third-party parsers
    // (rrule 0.14 panicked on `BYDAY=-íU` until rules past ASCII were refused first): a panic
    // in one is this content's refusal, not the end of the thread reading it (the node's
    // ingest worker, which every write and every peer's event goes through).
    std::panic::catch_unwind(|| check_content(c, limits))
        .unwrap_or(Err(ValidationError::Unreadable))
}

fn check_content(c: &EventContent, limits: &Limits) -> Result<(), ValidationError> {
    if c.overrides.len() > limits.max_overrides {
        return Err(ValidationError::TooMany {
            what: "RECURRENCE-ID overrides",
            count: c.overrides.len(),
            max: limits.max_overrides,
        });
    }
    if c.master.recurrence_id.is_some() {
        return Err(ValidationError::BadOverride(
            "the master VEVENT must not have a RECURRENCE-ID".into(),
        ));
    }
    let mut props = 0usize;
    for comp in c.components() {
        props += check_component(comp, limits)?;
    }
    if props > limits.max_properties {
        return Err(ValidationError::TooMany {
            what: "properties",
            count: props,
            max: limits.max_properties,
        });
    }
    let mut rids = std::collections::HashSet::new();
    for o in &c.overrides {
        let Some(rid) = &o.recurrence_id else {
            return Err(ValidationError::BadOverride(
                "an override VEVENT lacks RECURRENCE-ID".into(),
            ));
        };
        if o.rrule.is_some() {
            return Err(ValidationError::BadOverride(
                "an override VEVENT must not have its own RRULE".into(),
            ));
        }
        if !rids.insert(rid.clone()) {
            return Err(ValidationError::BadOverride(format!(
                "two overrides share RECURRENCE-ID {:?}",
                rid.local()
            )));
        }
    }
    if let Some(rule) = &c.master.rrule {
        recur::parse_rrule(rule, &c.master.start, chrono_tz::Tz::UTC)?;
    }
    Ok(())
}

/// Checks one component; returns how many properties it holds.
fn check_component(c: &Component, limits: &Limits) -> Result<usize, ValidationError> {
    let mut n = 1; // DTSTART
    n += check_texts(c, limits)?;
    check_date("DTSTART", &c.start, limits)?;
    if let Some(rid) = &c.recurrence_id {
        n += 1;
        check_date("RECURRENCE-ID", rid, limits)?;
    }
    if let Some(end) = &c.end {
        n += 1;
        check_end(&c.start, end, limits)?;
    }
    for (what, dates) in [("RDATE", &c.rdates), ("EXDATE", &c.exdates)] {
        if dates.len() > limits.max_component_properties {
            return Err(ValidationError::TooMany {
                what,
                count: dates.len(),
                max: limits.max_component_properties,
            });
        }
        n += dates.len();
        for d in dates {
            check_date(what, d, limits)?;
        }
    }
    if let Some(g) = c.geo {
        n += 1;
        if !(g.lat.is_finite()
            && g.lon.is_finite()
            && (-90.0..=90.0).contains(&g.lat)
            && (-180.0..=180.0).contains(&g.lon))
        {
            return Err(ValidationError::BadGeo {
                lat: g.lat,
                lon: g.lon,
            });
        }
    }
    n += check_categories(&c.categories, limits)?;
    if let Some(o) = &c.organizer {
        n += 1;
        check_line("ORGANIZER", &o.address, limits)?;
        if let Some(cn) = &o.common_name {
            check_param_value("ORGANIZER CN", cn, limits)?;
        }
    }
    if c.status.is_some() {
        n += 1;
    }
    // Counted whether it is there or not: every writer writes a DTSTAMP (RFC 5545 requires
    // one; a component without gets its revision's time), so a component one property short
    // of the limit without it would be one over once written and read back.
    n += 1;
    if let Some(ts) = c.dtstamp {
        check_date("DTSTAMP", &DateTimeValue::Utc(ts), limits)?;
    }
    for p in &c.extra {
        n += 1;
        check_property(p, limits)?;
    }
    if n > limits.max_component_properties {
        return Err(ValidationError::TooMany {
            what: "properties in one component",
            count: n,
            max: limits.max_component_properties,
        });
    }
    Ok(n)
}

/// The text and URL properties; returns how many are set.
fn check_texts(c: &Component, limits: &Limits) -> Result<usize, ValidationError> {
    let mut n = 0;
    for (field, value) in [
        ("SUMMARY", &c.summary),
        ("DESCRIPTION", &c.description),
        ("LOCATION", &c.location),
        ("URL", &c.url),
        ("X-REVISE-URL", &c.revise_url),
        ("RRULE", &c.rrule),
    ] {
        if let Some(v) = value {
            n += 1;
            check_len(field, v, limits)?;
            // Multi-line text is legal in SUMMARY/DESCRIPTION/LOCATION (it is escaped as \n on
            // output); URLs and rules must be one line.
            let multiline_ok = matches!(field, "SUMMARY" | "DESCRIPTION" | "LOCATION");
            if v.chars()
                .any(|ch| ch.is_control() && !(multiline_ok && (ch == '\n' || ch == '\t')))
            {
                return Err(ValidationError::ControlCharacters(field.into()));
            }
        }
    }
    Ok(n)
}

/// Why an event's end breaks the rules of [`validate_content`] (before its start, a
/// DATE/DATE-TIME mix, negative or over ten years), if it does: the importer drops such an
/// end rather than the event.
pub fn end_problem(start: &DateTimeValue, end: &End, limits: &Limits) -> Option<String> {
    check_end(start, end, limits).err().map(|e| e.to_string())
}

/// DTEND after DTSTART and of the same kind, or a DURATION that is neither negative nor
/// longer than ten years.
fn check_end(start: &DateTimeValue, end: &End, limits: &Limits) -> Result<(), ValidationError> {
    match end {
        End::At(e) => {
            check_date("DTEND", e, limits)?;
            if e.is_date() != start.is_date() {
                return Err(ValidationError::BadEnd(
                    "DTSTART and DTEND must both be DATE or both DATE-TIME".into(),
                ));
            }
            let s = recur::instant(start, chrono_tz::Tz::UTC)?;
            let e = recur::instant(e, chrono_tz::Tz::UTC)?;
            if e < s {
                return Err(ValidationError::BadEnd("DTEND is before DTSTART".into()));
            }
        }
        End::Duration(d) => {
            if d.negative {
                return Err(ValidationError::BadEnd("DURATION is negative".into()));
            }
            // Years-long "events" are data errors in public calendars, and would make every
            // time-range query touch them.
            let days = u64::from(d.weeks) * 7 + u64::from(d.days) + u64::from(d.seconds) / 86_400;
            if days > 3660 {
                return Err(ValidationError::BadEnd("DURATION exceeds ten years".into()));
            }
        }
    }
    Ok(())
}

/// CATEGORIES: how many, how long, no control characters; returns how many.
fn check_categories(categories: &[String], limits: &Limits) -> Result<usize, ValidationError> {
    if categories.len() > limits.max_categories {
        return Err(ValidationError::TooMany {
            what: "CATEGORIES",
            count: categories.len(),
            max: limits.max_categories,
        });
    }
    for cat in categories {
        check_len("CATEGORIES", cat, limits)?;
        if cat.is_empty() || cat.chars().any(char::is_control) {
            return Err(ValidationError::ControlCharacters("CATEGORIES".into()));
        }
    }
    Ok(categories.len())
}

fn check_property(p: &Property, limits: &Limits) -> Result<(), ValidationError> {
    check_name(&p.name)?;
    if p.name == crate::model::LANGUAGE_PROPERTY && !crate::model::is_language_tag(&p.value) {
        return Err(ValidationError::BadLanguage(
            p.value.chars().take(64).collect(),
        ));
    }
    check_line(&p.name, &p.value, limits)?;
    for param in &p.params {
        check_name(&param.name)?;
        check_param_value(&param.name, &param.value, limits)?;
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), ValidationError> {
    if is_name(name) {
        Ok(())
    } else {
        Err(ValidationError::BadName(name.chars().take(64).collect()))
    }
}

/// An upper-case property or parameter name as RFC 5545 §3.1 spells them (letters, digits,
/// '-'), at most 64 bytes, and not BEGIN or END.
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && !matches!(name, "BEGIN" | "END")
}

fn check_len(field: &str, v: &str, limits: &Limits) -> Result<(), ValidationError> {
    if v.len() > limits.max_text_bytes {
        return Err(ValidationError::TextTooLong {
            field: field.to_string(),
            len: v.len(),
            max: limits.max_text_bytes,
        });
    }
    Ok(())
}

/// A raw value that is written to iCalendar as-is: no control characters at all.
fn check_line(field: &str, v: &str, limits: &Limits) -> Result<(), ValidationError> {
    check_len(field, v, limits)?;
    if v.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ValidationError::ControlCharacters(field.to_string()));
    }
    Ok(())
}

/// Parameter values cannot contain DQUOTE (RFC 5545 §3.1 has no escape for it).
fn check_param_value(field: &str, v: &str, limits: &Limits) -> Result<(), ValidationError> {
    check_line(field, v, limits)?;
    if v.contains('"') {
        return Err(ValidationError::ControlCharacters(format!(
            "{field} (a double quote in a parameter value)"
        )));
    }
    Ok(())
}

fn check_date(
    field: &'static str,
    v: &DateTimeValue,
    limits: &Limits,
) -> Result<(), ValidationError> {
    let l: LocalDateTime = v.local();
    if l.to_chrono().is_none() {
        return Err(ValidationError::BadDate {
            field,
            reason: format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} does not exist",
                l.date.year, l.date.month, l.date.day, l.hour, l.minute, l.second
            ),
        });
    }
    if l.date.year < limits.years.0 || l.date.year > limits.years.1 {
        return Err(ValidationError::BadDate {
            field,
            reason: format!(
                "year {} is outside {}..={}",
                l.date.year, limits.years.0, limits.years.1
            ),
        });
    }
    if let Some(tzid) = v.tzid() {
        if crate::tz::iana(tzid).is_none() {
            return Err(recur::RecurError::UnknownZone(tzid.to_string()).into());
        }
    }
    Ok(())
}
