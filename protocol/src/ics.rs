//! iCalendar (RFC 5545) ↔ event model.
//!
//! Parsing uses the icalendar crate's parser and then maps each VEVENT by hand, grouping
//! RECURRENCE-ID overrides with their master by UID. Writing is done here rather than through the
//! crate's builder because the output is where hostile text meets clients: every value goes
//! through one escaping function, every line through one folding function, and nothing is
//! added behind our back (the crate's writer inserts a DTSTAMP from the system clock).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::codec;
use crate::keys::NodeKey;
use crate::model::{
    Component, Date, DateTimeValue, Duration, End, EventContent, Geo, LocalDateTime, Organizer,
    Param, Property, Status,
};
use crate::validate::{self, Limits, ValidationError};

/// The largest iCalendar document accepted for import.
pub const MAX_ICS_BYTES: usize = 16 * 1024 * 1024;

/// Why (part of) an iCalendar document could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IcsError {
    /// Larger than [`MAX_ICS_BYTES`].
    #[error("iCalendar document is {0} bytes, over the {MAX_ICS_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not iCalendar syntax.
    #[error("not valid iCalendar: {0}")]
    Syntax(String),
    /// No VEVENT in it.
    #[error("the document holds no VEVENT")]
    NoEvents,
    /// One property of one VEVENT is wrong.
    #[error("VEVENT {uid}: {property}: {reason}")]
    Property {
        /// The VEVENT's UID (or its position).
        uid: String,
        /// The property name.
        property: String,
        /// What is wrong.
        reason: String,
    },
    /// A required property is missing.
    #[error("VEVENT {uid}: missing {property}")]
    Missing {
        /// The VEVENT's UID (or its position).
        uid: String,
        /// The property name.
        property: &'static str,
    },
    /// RECURRENCE-ID overrides with no master VEVENT.
    #[error("VEVENT {0}: overrides (RECURRENCE-ID) without the recurring master event")]
    OrphanOverride(String),
    /// The mapped event breaks a validation rule.
    #[error("VEVENT {uid}: {source}")]
    Invalid {
        /// The UID.
        uid: String,
        /// The rule.
        source: ValidationError,
    },
}

/// One event read from an iCalendar document.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedEvent {
    /// The UID (generated if the document had none or an unusable one).
    pub uid: String,
    /// True if `uid` was generated.
    pub uid_generated: bool,
    /// The VEVENT(s).
    pub content: EventContent,
    /// X-HOP, if the document carried one.
    pub hop: Option<u32>,
    /// X-REVISION, if the document carried one.
    pub revision: Option<u32>,
}

/// What an import produced: the events that mapped, and an error for each that did not.
#[derive(Clone, Debug, Default)]
pub struct Import {
    /// Events ready to sign.
    pub events: Vec<ImportedEvent>,
    /// One entry per VEVENT (or UID group) that was skipped.
    pub errors: Vec<IcsError>,
}

/// Parses an iCalendar document. `origin` is the importing node: a missing or non-conforming UID
/// is replaced by `<hash>@<origin>` (the seed's rule), with the hash taken over the event's
/// content so importing the same file twice yields the same UIDs.
pub fn parse_calendar(text: &str, origin: &NodeKey, limits: &Limits) -> Result<Import, IcsError> {
    if text.len() > MAX_ICS_BYTES {
        return Err(IcsError::TooLarge(text.len()));
    }
    // Normalise bare CR line ends (old Mac exports) before unfolding.
    let normalised;
    let text = if text.contains('\r') && !text.contains("\r\n") {
        normalised = text.replace('\r', "\r\n");
        &normalised
    } else {
        text
    };
    let unfolded = icalendar::parser::unfold(text);
    let cal = icalendar::parser::read_calendar(&unfolded).map_err(|e| {
        let first: String = e.lines().take(6).collect::<Vec<_>>().join(" | ");
        IcsError::Syntax(first.chars().take(400).collect())
    })?;

    let mut zones: HashMap<String, String> = HashMap::new();
    for c in &cal.components {
        if c.name.as_str().eq_ignore_ascii_case("VTIMEZONE") {
            collect_zone(c, &mut zones);
        }
    }

    let mut import = Import::default();
    // UID -> (master, overrides), in document order.
    let mut groups: BTreeMap<usize, (String, Option<Component>, Vec<Component>, Meta)> =
        BTreeMap::new();
    let mut by_uid: HashMap<String, usize> = HashMap::new();
    let mut seen_any = false;
    for (index, c) in cal
        .components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
        .enumerate()
    {
        seen_any = true;
        let label_fallback = format!("#{}", index + 1);
        match map_vevent(c, &zones, &label_fallback) {
            Ok((uid, comp, meta)) => {
                // A VEVENT without a usable UID cannot be grouped; it is an event of its own.
                let key = match &uid {
                    Some(u) if validate::check_uid(u).is_ok() => u.clone(),
                    _ => format!("\u{0}{index}"),
                };
                let slot = *by_uid.entry(key.clone()).or_insert(index);
                let entry = groups
                    .entry(slot)
                    .or_insert_with(|| (key, None, Vec::new(), Meta::default()));
                if comp.recurrence_id.is_some() {
                    entry.2.push(comp);
                } else if entry.1.is_none() {
                    entry.1 = Some(comp);
                    entry.3 = meta;
                } else {
                    import.errors.push(IcsError::Property {
                        uid: entry.0.clone(),
                        property: "UID".into(),
                        reason: "two VEVENTs share this UID without RECURRENCE-ID".into(),
                    });
                }
            }
            Err(e) => import.errors.push(e),
        }
    }
    if !seen_any {
        return Err(IcsError::NoEvents);
    }

    for (_, (key, master, overrides, meta)) in groups {
        let label = if key.starts_with('\u{0}') {
            "(no UID)".to_string()
        } else {
            key.clone()
        };
        let Some(master) = master else {
            import.errors.push(IcsError::OrphanOverride(label));
            continue;
        };
        let content = EventContent { master, overrides };
        if let Err(source) = validate::validate_content(&content, limits) {
            import.errors.push(IcsError::Invalid { uid: label, source });
            continue;
        }
        let (uid, uid_generated) = if key.starts_with('\u{0}') {
            (generated_uid(&content, origin), true)
        } else {
            (key, false)
        };
        import.events.push(ImportedEvent {
            uid,
            uid_generated,
            content,
            hop: meta.hop,
            revision: meta.revision,
        });
    }
    Ok(import)
}

/// `<first 16 bytes of sha256(content) in hex>@<origin key>`.
pub fn generated_uid(content: &EventContent, origin: &NodeKey) -> String {
    let digest = Sha256::digest(codec::encode(content));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@{origin}")
}

#[derive(Default, Clone, Copy)]
struct Meta {
    hop: Option<u32>,
    revision: Option<u32>,
}

fn collect_zone(c: &icalendar::parser::Component<'_>, zones: &mut HashMap<String, String>) {
    let Some(tzid) = c.find_prop("TZID").map(|p| p.val.as_str().to_string()) else {
        return;
    };
    // Lightning and others name the IANA zone in X-LIC-LOCATION when TZID is vendor-specific.
    let iana = crate::tz::resolve_tzid(&tzid).or_else(|| {
        c.find_prop("X-LIC-LOCATION")
            .and_then(|p| crate::tz::resolve_tzid(p.val.as_str()))
    });
    if let Some(tz) = iana {
        zones.insert(tzid, tz.name().to_string());
    }
}

fn prop_err(uid: &str, property: &str, reason: impl Into<String>) -> IcsError {
    IcsError::Property {
        uid: uid.to_string(),
        property: property.to_string(),
        reason: reason.into(),
    }
}

fn param<'a>(p: &'a icalendar::parser::Property<'_>, name: &str) -> Option<&'a str> {
    p.params
        .iter()
        .find(|x| x.key.as_str().eq_ignore_ascii_case(name))
        .and_then(|x| x.val.as_ref())
        .map(|v| v.as_str())
}

fn map_vevent(
    c: &icalendar::parser::Component<'_>,
    zones: &HashMap<String, String>,
    fallback_label: &str,
) -> Result<(Option<String>, Component, Meta), IcsError> {
    let uid = c
        .find_prop("UID")
        .map(|p| p.val.as_str().trim().to_string());
    let label = uid.clone().unwrap_or_else(|| fallback_label.to_string());
    let label = label.as_str();
    let start_prop = c.find_prop("DTSTART").ok_or(IcsError::Missing {
        uid: label.to_string(),
        property: "DTSTART",
    })?;
    let start = parse_dt_prop(start_prop, zones).map_err(|r| prop_err(label, "DTSTART", r))?;
    let mut comp = Component::new(start);
    let mut meta = Meta::default();

    for p in &c.properties {
        let name = p.name.as_str().to_ascii_uppercase();
        let val = p.val.as_str();
        let err = |r: String| prop_err(label, &name, r);
        match name.as_str() {
            "UID" | "DTSTART" => {}
            "SUMMARY" => comp.summary = Some(val.to_string()),
            "DESCRIPTION" => comp.description = Some(val.to_string()),
            "LOCATION" => comp.location = Some(val.to_string()),
            "URL" => comp.url = Some(val.trim().to_string()),
            "X-REVISE-URL" => comp.revise_url = Some(val.trim().to_string()),
            "DTEND" => comp.end = Some(End::At(parse_dt_prop(p, zones).map_err(err)?)),
            "DURATION" if !matches!(comp.end, Some(End::At(_))) => {
                comp.end = Some(End::Duration(parse_duration(val).map_err(err)?));
            }
            "RECURRENCE-ID" => comp.recurrence_id = Some(parse_dt_prop(p, zones).map_err(err)?),
            "RRULE" => {
                if comp.rrule.is_some() {
                    return Err(err("more than one RRULE is not supported".into()));
                }
                comp.rrule = Some(val.trim().to_string());
            }
            "RDATE" | "EXDATE" => {
                if param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("PERIOD")) {
                    return Err(err("PERIOD values are not supported".into()));
                }
                for item in val.split(',').filter(|s| !s.trim().is_empty()) {
                    let v = parse_dt(item.trim(), p, zones).map_err(err)?;
                    if name == "RDATE" {
                        comp.rdates.push(v);
                    } else {
                        comp.exdates.push(v);
                    }
                }
            }
            "GEO" => {
                let (lat, lon) = val
                    .split_once(';')
                    .or_else(|| val.split_once(','))
                    .ok_or_else(|| err(format!("{val:?} is not LAT;LON")))?;
                let lat = lat.trim().parse::<f64>();
                let lon = lon.trim().parse::<f64>();
                match (lat, lon) {
                    (Ok(lat), Ok(lon)) => comp.geo = Some(Geo { lat, lon }),
                    _ => return Err(err(format!("{val:?} is not LAT;LON"))),
                }
            }
            "CATEGORIES" => {
                for cat in split_text_list(val) {
                    let cat = cat.trim().to_string();
                    if !cat.is_empty() && !comp.categories.contains(&cat) {
                        comp.categories.push(cat);
                    }
                }
            }
            "STATUS" => match val.trim().to_ascii_uppercase().as_str() {
                "TENTATIVE" => comp.status = Some(Status::Tentative),
                "CONFIRMED" => comp.status = Some(Status::Confirmed),
                "CANCELLED" => comp.status = Some(Status::Cancelled),
                other => return Err(err(format!("{other:?} is not a VEVENT status"))),
            },
            "ORGANIZER" => {
                comp.organizer = Some(Organizer {
                    address: val.trim().to_string(),
                    common_name: param(p, "CN").map(str::to_string),
                });
            }
            "SEQUENCE" => {
                comp.sequence = val
                    .trim()
                    .parse()
                    .map_err(|_| err(format!("{val:?} is not a non-negative integer")))?;
            }
            "DTSTAMP" => match parse_dt_prop(p, zones).map_err(err)? {
                DateTimeValue::Utc(t) => comp.dtstamp = Some(t),
                // DTSTAMP must be UTC; a local one is kept as UTC rather than dropping the event.
                other => comp.dtstamp = Some(other.local()),
            },
            "X-HOP" => {
                meta.hop = Some(
                    val.trim()
                        .parse()
                        .map_err(|_| err(format!("{val:?} is not a hop count")))?,
                )
            }
            "X-REVISION" => {
                meta.revision = Some(
                    val.trim()
                        .parse()
                        .map_err(|_| err(format!("{val:?} is not a revision number")))?,
                )
            }
            _ => comp.extra.push(Property {
                value: wire_value(p, &name),
                name,
                params: p
                    .params
                    .iter()
                    .map(|x| Param {
                        name: x.key.as_str().to_ascii_uppercase(),
                        value: x
                            .val
                            .as_ref()
                            .map(|v| v.as_str().to_string())
                            .unwrap_or_default(),
                    })
                    .collect(),
            }),
        }
    }
    Ok((uid, comp, meta))
}

/// The icalendar parser unescapes TEXT values of the properties it knows (and of every X-
/// property); unknown properties are kept in their escaped wire form, so undo that here.
fn wire_value(p: &icalendar::parser::Property<'_>, upper_name: &str) -> String {
    let raw_name = p.name.as_str();
    let val = p.val.as_str();
    let by_param = param(p, "VALUE").map(|v| v.eq_ignore_ascii_case("TEXT"));
    let by_name = raw_name == upper_name
        && (upper_name.starts_with("X-")
            || matches!(
                upper_name,
                "CALSCALE"
                    | "METHOD"
                    | "PRODID"
                    | "VERSION"
                    | "CLASS"
                    | "COMMENT"
                    | "TRANSP"
                    | "TZID"
                    | "TZNAME"
                    | "CONTACT"
                    | "RELATED-TO"
                    | "ACTION"
                    | "REQUEST-STATUS"
            ));
    let unescaped_by_parser = !matches!(upper_name, "RESOURCES") && by_param.unwrap_or(by_name);
    if unescaped_by_parser {
        escape_text(val)
    } else {
        val.to_string()
    }
}

fn parse_dt_prop(
    p: &icalendar::parser::Property<'_>,
    zones: &HashMap<String, String>,
) -> Result<DateTimeValue, String> {
    parse_dt(p.val.as_str().trim(), p, zones)
}

fn parse_dt(
    v: &str,
    p: &icalendar::parser::Property<'_>,
    zones: &HashMap<String, String>,
) -> Result<DateTimeValue, String> {
    let is_date = param(p, "VALUE").is_some_and(|x| x.eq_ignore_ascii_case("DATE")) || v.len() == 8;
    if is_date {
        return parse_date(v).map(DateTimeValue::Date);
    }
    let (body, utc) = match v.strip_suffix('Z').or_else(|| v.strip_suffix('z')) {
        Some(b) => (b, true),
        None => (v, false),
    };
    let local = parse_local(body)?;
    if utc {
        return Ok(DateTimeValue::Utc(local));
    }
    match param(p, "TZID") {
        Some(tzid) => {
            let iana = zones
                .get(tzid)
                .cloned()
                .or_else(|| crate::tz::resolve_tzid(tzid).map(|t| t.name().to_string()))
                .ok_or_else(|| format!("unknown time zone {tzid:?}"))?;
            Ok(DateTimeValue::Zoned { local, tzid: iana })
        }
        None => Ok(DateTimeValue::Floating(local)),
    }
}

fn parse_date(v: &str) -> Result<Date, String> {
    let bad = || format!("{v:?} is not a DATE (YYYYMMDD)");
    if v.len() != 8 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let d = Date {
        year: v[0..4].parse().map_err(|_| bad())?,
        month: v[4..6].parse().map_err(|_| bad())?,
        day: v[6..8].parse().map_err(|_| bad())?,
    };
    d.to_chrono().ok_or_else(bad)?;
    Ok(d)
}

fn parse_local(v: &str) -> Result<LocalDateTime, String> {
    let bad = || format!("{v:?} is not a DATE-TIME (YYYYMMDDTHHMMSS)");
    let (d, t) = v.split_once(['T', 't']).ok_or_else(bad)?;
    if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let l = LocalDateTime {
        date: parse_date(d).map_err(|_| bad())?,
        hour: t[0..2].parse().map_err(|_| bad())?,
        minute: t[2..4].parse().map_err(|_| bad())?,
        second: t[4..6].parse().map_err(|_| bad())?,
    };
    l.to_chrono().ok_or_else(bad)?;
    Ok(l)
}

/// Parses an RFC 5545 §3.3.6 DURATION such as `PT1H30M`, `P1D`, `-P2W`.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("{v:?} is not a DURATION");
    let s = v.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = s.strip_prefix(['P', 'p']).ok_or_else(bad)?;
    let mut d = Duration {
        negative,
        ..Duration::default()
    };
    let mut num = String::new();
    let mut in_time = false;
    let mut any = false;
    for ch in s.chars() {
        match ch.to_ascii_uppercase() {
            '0'..='9' => num.push(ch),
            'T' if num.is_empty() => in_time = true,
            unit => {
                let n: u32 = num.parse().map_err(|_| bad())?;
                num.clear();
                any = true;
                let add = |acc: u32, mul: u32| n.checked_mul(mul).and_then(|x| acc.checked_add(x));
                match (unit, in_time) {
                    ('W', false) => d.weeks = add(d.weeks, 1).ok_or_else(bad)?,
                    ('D', false) => d.days = add(d.days, 1).ok_or_else(bad)?,
                    ('H', true) => d.seconds = add(d.seconds, 3600).ok_or_else(bad)?,
                    ('M', true) => d.seconds = add(d.seconds, 60).ok_or_else(bad)?,
                    ('S', true) => d.seconds = add(d.seconds, 1).ok_or_else(bad)?,
                    _ => return Err(bad()),
                }
            }
        }
    }
    if !num.is_empty() || !any {
        return Err(bad());
    }
    Ok(d)
}

/// Splits a raw text list on unescaped commas and unescapes each item.
fn split_text_list(raw: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') | Some('N') => cur.push('\n'),
                Some(o) => cur.push(o),
                None => cur.push('\\'),
            },
            ',' => items.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    items.push(cur);
    items
}

// ---------------------------------------------------------------------------------------------
// Writing

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
fn param_value(v: &str) -> String {
    let clean: String = v.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    if clean.contains([':', ';', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// Drops control characters from a value that is written verbatim (URIs, raw properties).
fn raw_value(v: &str) -> String {
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

fn fmt_local(l: &LocalDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        l.date.year, l.date.month, l.date.day, l.hour, l.minute, l.second
    )
}

fn fmt_date(d: &Date) -> String {
    format!("{:04}{:02}{:02}", d.year, d.month, d.day)
}

/// `NAME;params:value` for a date or date-time value.
fn dt_line(name: &str, v: &DateTimeValue) -> String {
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

/// Writes the VEVENT(s) of one event.
pub fn write_event(out: &mut String, ev: &IcsEvent<'_>) {
    for comp in ev.content.components() {
        write_component(out, ev, comp);
    }
}

fn write_component(out: &mut String, ev: &IcsEvent<'_>, c: &Component) {
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
    for (name, v) in [
        ("SUMMARY", &c.summary),
        ("DESCRIPTION", &c.description),
        ("LOCATION", &c.location),
    ] {
        if let Some(v) = v {
            line(format!("{name}:{}", escape_text(v)));
        }
    }
    if let Some(g) = c.geo {
        line(format!("GEO:{};{}", g.lat, g.lon));
    }
    if let Some(u) = &c.url {
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
        let mut s = raw_name(&p.name);
        for prm in &p.params {
            let _ = write!(s, ";{}={}", raw_name(&prm.name), param_value(&prm.value));
        }
        let _ = write!(s, ":{}", raw_value(&p.value));
        line(s);
    }
    line("END:VEVENT".into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (s, want) in [
            ("PT1H30M", "PT1H30M"),
            ("P1D", "P1D"),
            ("P2W", "P2W"),
            ("P1DT2H", "P1DT2H"),
            ("PT0S", "PT0S"),
            ("-PT15M", "-PT15M"),
        ] {
            assert_eq!(fmt_duration(&parse_duration(s).unwrap()), want, "{s}");
        }
        for bad in ["", "P", "PT", "1H", "P1H", "PT1D", "P99999999999D", "PTXH"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folding_respects_octets_and_characters() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "é".repeat(100));
        fold_line(&mut out, &line);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), line);
    }

    #[test]
    fn text_cannot_break_out_of_its_property() {
        let e = escape_text("a\r\nATTENDEE:mailto:x@y;b,c\\");
        assert!(!e.contains('\r') && !e.contains('\n'));
        assert_eq!(e, "a\\nATTENDEE:mailto:x@y\\;b\\,c\\\\");
        assert_eq!(param_value("x\"y:z"), "\"xy:z\"");
    }
}
