//! One VEVENT's properties onto the event model.

use super::values::{param, parse_dt, parse_dt_prop, parse_duration, split_text_list};
use super::write::escape_text;
use super::zones::{Reach, Zones};
use super::{IcsError, Meta};
use crate::model::{
    is_language_tag, Component, DateTimeValue, End, Geo, Organizer, Param, Property, Status,
    LANGUAGE_PROPERTY,
};

fn prop_err(uid: &str, property: &str, reason: impl Into<String>) -> IcsError {
    IcsError::Property {
        uid: uid.to_string(),
        property: property.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn map_vevent(
    c: &icalendar::parser::Component<'_>,
    zones: &Zones,
    fallback_label: &str,
) -> Result<(Option<String>, Component, Meta), IcsError> {
    let uid = c
        .find_prop("UID")
        .map(|p| p.val.as_str().trim().to_string());
    let label = uid.clone().unwrap_or_else(|| fallback_label.to_string());
    let label = label.as_str();
    let rdates = c
        .properties
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case("RDATE"))
        .map(|p| p.val.as_str());
    let rdate_year = if c.find_prop("RDATE").is_some() {
        // An RDATE whose year cannot be read is compared as an open series.
        Some(Reach::last_year(rdates).unwrap_or(i32::MAX))
    } else {
        None
    };
    zones.begin_event(Reach::of(
        c.find_prop("RRULE").map(|p| p.val.as_str()),
        rdate_year,
    ));
    let start_prop = c.find_prop("DTSTART").ok_or(IcsError::Missing {
        uid: label.to_string(),
        property: "DTSTART",
    })?;
    let start = parse_dt_prop(start_prop, zones).map_err(|r| prop_err(label, "DTSTART", r))?;
    let mut comp = Component::new(start);
    let mut meta = Meta::default();

    for p in &c.properties {
        match apply_property(&mut comp, &mut meta, p, zones, label) {
            Ok(()) => {}
            // A value that cannot be read in a property the event can do without drops that
            // property, not the event.
            Err(IcsError::Property {
                property, reason, ..
            }) if DROPPABLE.contains(&property.as_str()) => {
                meta.warnings.push(format!("dropped {property}: {reason}"));
            }
            Err(e) => return Err(e),
        }
    }
    // The language a SUMMARY says it is in, when the event names none of DisCal's kind.
    if comp.language().is_none() {
        if let Some(l) = c.find_prop("SUMMARY").and_then(|p| param(p, "LANGUAGE")) {
            // A tag that is not one is left out quietly: SUMMARY itself is taken.
            let _ = set_language(&mut comp, l);
        }
    }
    meta.warnings.extend(zones.take_notes());
    Ok((uid, comp, meta))
}

/// Properties whose unreadable value is dropped (with a warning) rather than refusing the event.
const DROPPABLE: &[&str] = &[
    "DTEND",
    "DURATION",
    "GEO",
    "STATUS",
    "SEQUENCE",
    "DTSTAMP",
    "X-HOP",
    "X-REVISION",
    "EXDATE",
    "RDATE",
    LANGUAGE_PROPERTY,
];

/// An RRULE without the slips of hand-made files: blanks, empty parts (`;;`, a trailing `;`),
/// a trailing comma in a list, lowercase names and values.
fn tidy_rrule(val: &str) -> String {
    val.split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let v: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect();
            format!(
                "{}={}",
                k.trim().to_ascii_uppercase(),
                v.join(",").to_ascii_uppercase()
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// A DURATION with its weeks or days after the `T` or its hours or seconds before it
/// (`PT1W`, `P2D0H`, node-ical's tests), written as RFC 5545 has it. Minutes before a `T`
/// (`P1M`) are left alone: in ISO 8601 that is a month.
fn misplaced_t(val: &str) -> Option<String> {
    let v = val.trim();
    let (sign, rest) = match v.strip_prefix(['+', '-']) {
        Some(r) => (&v[..1], r),
        None => ("", v),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let (mut date, mut time, mut num) = (String::new(), String::new(), String::new());
    let mut in_time = false;
    for ch in rest.chars() {
        match ch.to_ascii_uppercase() {
            '0'..='9' => num.push(ch),
            'T' if num.is_empty() => in_time = true,
            unit @ ('W' | 'D') if !num.is_empty() => {
                date.push_str(&std::mem::take(&mut num));
                date.push(unit);
            }
            'M' if !in_time => return None,
            unit @ ('H' | 'M' | 'S') if !num.is_empty() => {
                time.push_str(&std::mem::take(&mut num));
                time.push(unit);
            }
            _ => return None,
        }
    }
    if !num.is_empty() || (date.is_empty() && time.is_empty()) {
        return None;
    }
    let time = if time.is_empty() {
        time
    } else {
        format!("T{time}")
    };
    Some(format!("{sign}P{date}{time}"))
}

/// A tidied RRULE without the parts that say nothing about its dates: extension parts
/// (`X-EVOLUTION-ENDDATE=…`, which GNOME Evolution adds to every rule with a COUNT; RFC 2445
/// allowed `x-name` parts, RFC 5545 no longer lists them) and parts without a value
/// (`ANYTHINGRANDOM=`, node-ical's tests), and `INTERVAL=0`, which RFC 5545 does not allow
/// and whose writer meant no interval (the rule parser read it as a rule with one instance).
/// Another unknown part with a value is left for the parser to refuse: it may be a misspelt
/// part, and dropping it would change the dates.
fn known_parts(rule: String) -> String {
    let idle = |p: &str| p.starts_with("X-") || p.ends_with('=') || p == "INTERVAL=0";
    if !rule.split(';').any(idle) {
        return rule;
    }
    rule.split(';')
        .filter(|p| !idle(p))
        .collect::<Vec<_>>()
        .join(";")
}

/// A tidied RRULE with both COUNT and UNTIL, which RFC 5545 forbids, keeps UNTIL when COUNT is
/// not a positive number (an export writes `UNTIL=20240331;COUNT=-1`, meaning "no count"): the
/// rule's end is then the one it states. Any other pair is left for the parser to refuse.
fn count_beside_until(rule: String, meta: &mut Meta) -> String {
    let parts: Vec<&str> = rule.split(';').collect();
    let until = parts.iter().any(|p| p.starts_with("UNTIL="));
    let bad_count = parts.iter().find(|p| {
        p.strip_prefix("COUNT=")
            .is_some_and(|n| n.parse::<u32>().map_or(true, |n| n == 0))
    });
    match (until, bad_count) {
        (true, Some(count)) => {
            meta.warnings.push(format!(
                "dropped {count} beside UNTIL in RRULE (a rule has one end, and that count is none)"
            ));
            parts
                .iter()
                .filter(|p| !p.starts_with("COUNT="))
                .copied()
                .collect::<Vec<_>>()
                .join(";")
        }
        _ => rule,
    }
}

/// A tidied RRULE without RFC 7529's `RSCALE=GREGORIAN` and `SKIP=OMIT`, which only name
/// what a plain rule does (the calendar it counts in, and that a day the month lacks is left
/// out). Any other calendar, or a skipped day moved `FORWARD` or `BACKWARD`, would give other
/// dates than the plain rule, so such a rule is refused rather than misread.
fn gregorian(rule: String) -> Result<String, String> {
    let value = |key: &str| {
        rule.split(';')
            .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
    };
    let Some(scale) = value("RSCALE") else {
        return Ok(rule);
    };
    if scale != "GREGORIAN" {
        return Err(format!(
            "RSCALE={scale} (RFC 7529, recurrence in a non-Gregorian calendar) is not supported"
        ));
    }
    match value("SKIP") {
        None | Some("OMIT") => Ok(rule
            .split(';')
            .filter(|part| !part.starts_with("RSCALE=") && !part.starts_with("SKIP="))
            .collect::<Vec<_>>()
            .join(";")),
        Some(skip) => Err(format!(
            "SKIP={skip} (RFC 7529: a day the month lacks moved to another) is not supported"
        )),
    }
}

/// Maps one property of a VEVENT onto `comp` (or `meta` for DisCal's own properties).
fn apply_property(
    comp: &mut Component,
    meta: &mut Meta,
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
    label: &str,
) -> Result<(), IcsError> {
    let name = p.name.as_str().to_ascii_uppercase();
    let val = p.val.as_str();
    let err = |r: String| prop_err(label, &name, r);
    match name.as_str() {
        "UID" | "DTSTART" => {}
        // An empty value says nothing (Google writes `LOCATION:` on every event without a
        // place) and is never written back (docs/protocol.md §7, "Output").
        "SUMMARY" | "DESCRIPTION" | "LOCATION" if val.is_empty() => {}
        "URL" if val.trim().is_empty() => {}
        "SUMMARY" => comp.summary = Some(val.to_string()),
        "DESCRIPTION" => comp.description = Some(val.to_string()),
        "LOCATION" => comp.location = Some(val.to_string()),
        "URL" => comp.url = Some(val.trim().to_string()),
        "X-REVISE-URL" => {
            meta.written[2] = Some(val.trim().to_string());
            comp.revise_url = Some(val.trim().to_string());
        }
        "DTEND" => comp.end = Some(End::At(parse_dt_prop(p, zones).map_err(err)?)),
        // RFC 5545 allows DTEND or DURATION; a DURATION kept as unknown beside DTEND would be
        // the end when the event is read again, should DTEND be dropped.
        "DURATION" if matches!(comp.end, Some(End::At(_))) => {
            meta.warnings.push("dropped DURATION beside DTEND".into());
        }
        "DURATION" => {
            let d = match parse_duration(val) {
                Ok(d) => d,
                Err(why) => {
                    let fixed = misplaced_t(val).ok_or_else(|| err(why))?;
                    let d = parse_duration(&fixed).map_err(err)?;
                    meta.warnings
                        .push(format!("read DURATION {val:?} as {fixed:?}"));
                    d
                }
            };
            comp.end = Some(End::Duration(d));
        }
        "RECURRENCE-ID" => comp.recurrence_id = Some(recurrence_id(p, zones, meta).map_err(err)?),
        // calendarlabs.com's holiday feeds write `RRULE:` with no value on every event.
        "RRULE" if val.trim().is_empty() => meta.warnings.push("dropped an empty RRULE".into()),
        "RRULE" => {
            let tidy =
                count_beside_until(gregorian(known_parts(tidy_rrule(val))).map_err(err)?, meta);
            if tidy != val.trim() {
                meta.warnings
                    .push(format!("read RRULE {val:?} as {tidy:?}"));
            }
            // RFC 2445 allowed more than one; the others become dates (`finish`).
            if comp.rrule.is_some() {
                meta.extra_rules.push(tidy);
            } else {
                comp.rrule = Some(tidy);
            }
        }
        "RDATE" if is_period(p) => {
            for (start, end) in periods(p, zones).map_err(err)? {
                comp.rdates.push(start.clone());
                meta.periods.push((start, end));
            }
        }
        "RDATE" | "EXDATE" => {
            let dates = date_list(p, zones).map_err(err)?;
            match name.as_str() {
                "RDATE" => comp.rdates.extend(dates),
                _ => comp.exdates.extend(dates),
            }
        }
        "GEO" => comp.geo = Some(parse_geo(val).map_err(err)?),
        "CATEGORIES" => add_categories(comp, meta, val),
        "STATUS" => comp.status = Some(parse_status(val).map_err(err)?),
        "ORGANIZER" => comp.organizer = Some(organizer(p, meta)),
        "SEQUENCE" => comp.sequence = number(val, "a non-negative integer").map_err(err)?,
        "DTSTAMP" => match parse_dt_prop(p, zones).map_err(err)? {
            DateTimeValue::Utc(t) => comp.dtstamp = Some(t),
            // DTSTAMP must be UTC; a local one is kept as UTC rather than dropping the event.
            other => comp.dtstamp = Some(other.local()),
        },
        // The seed's rule: an empty or invalid X-HOP or X-REVISION counts as absent.
        "X-HOP" | "X-REVISION" => {
            let i = usize::from(name == "X-REVISION");
            meta.written[i].get_or_insert_with(|| val.trim().into());
            lenient_number(meta, &name, val);
        }
        LANGUAGE_PROPERTY => set_language(comp, val).map_err(err)?,
        // Kept among `extra`, in the one form RFC 5545 allows them (`utc_stamp`).
        "CREATED" | "LAST-MODIFIED" | "COMPLETED" => utc_stamp(comp, meta, p, zones, name),
        _ => keep_extra(comp, meta, p, name),
    }
    Ok(())
}

/// A property the event does not interpret, kept verbatim; one whose name no writer may write
/// (`X-FOO_BAR`, `X.FOO`, which the parser takes) is dropped rather than the event, and so is
/// such a parameter.
/// A CREATED, LAST-MODIFIED or COMPLETED kept in the one form RFC 5545 allows, a UTC
/// DATE-TIME (vobject, the reader of Radicale and other Python programs, refuses a whole
/// calendar over one `CREATED:20261120`): a date becomes its midnight, a local or zoned time
/// is read as UTC (as DTSTAMP is), and a value that is no date, or one outside 1900–2199, is
/// dropped with a warning.
fn utc_stamp(
    comp: &mut Component,
    meta: &mut Meta,
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
    name: String,
) {
    match parse_dt_prop(p, zones) {
        // Year 0 (an export's `CREATED:00001231T000000Z`) is no date most readers can hold.
        Ok(v) if !(1900..=2199).contains(&v.local().date.year) => meta.warnings.push(format!(
            "dropped {name}: {:?} lies outside 1900–2199",
            p.val.as_str()
        )),
        Ok(v) => {
            let value = format!("{}Z", super::write::fmt_local(&v.local()));
            if value != p.val.as_str().trim() {
                meta.warnings
                    .push(format!("{name} {:?} written as {value}", p.val.as_str()));
            }
            comp.extra.push(Property {
                name,
                params: Vec::new(),
                value,
            });
        }
        Err(e) => meta.warnings.push(format!("dropped {name}: {e}")),
    }
}

/// Adds a CATEGORIES property's tags. Repeated tags are dropped, and the list cut to the
/// limit, once the whole event is read (`repair` in `ics/mod.rs`): a check for repeats here, per tag,
/// would cost the square of their number.
fn add_categories(comp: &mut Component, meta: &mut Meta, val: &str) {
    let mut broken = 0usize;
    for cat in split_text_list(val) {
        // A tag is one line: an escaped line break (`\n`, ical.net's tests and hand-written
        // files) would otherwise cost the whole event.
        let cat = if cat.contains(char::is_control) {
            broken += 1;
            if broken == 1 {
                meta.warnings.push(format!(
                    "read line breaks and control characters in CATEGORIES {:?} as spaces",
                    cat.trim()
                ));
            }
            cat.split(char::is_control)
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            cat.trim().to_string()
        };
        if !cat.is_empty() {
            comp.categories.push(cat);
        }
    }
    if broken > 1 {
        meta.warnings.push(format!(
            "read line breaks and control characters as spaces in {} more CATEGORIES",
            broken - 1
        ));
    }
}

fn organizer(p: &icalendar::parser::Property<'_>, meta: &mut Meta) -> Organizer {
    let mut common_name = param(p, "CN").map(str::to_string);
    // A name with quotes inside (`CN="a","b"`) cannot be written back.
    if common_name.as_ref().is_some_and(|cn| cn.contains('"')) {
        meta.warnings
            .push("dropped ORGANIZER's CN, a list of quoted values".into());
        common_name = None;
    }
    Organizer {
        address: p.val.as_str().trim().to_string(),
        common_name,
    }
}

fn keep_extra(
    comp: &mut Component,
    meta: &mut Meta,
    p: &icalendar::parser::Property<'_>,
    name: String,
) {
    if !crate::validate::is_name(&name) {
        meta.warnings
            .push(format!("dropped {name:?}: not a valid property name"));
        return;
    }
    // libical's notes on its own reading of the file (X-LIC-ERROR), and values that say
    // nothing, which libical marks as errors in what DisCal writes.
    if name == "X-LIC-ERROR" {
        meta.warnings
            .push("dropped X-LIC-ERROR (libical's note on an earlier reading)".into());
        return;
    }
    let mut extra = extra_property(p, name);
    if extra.value.trim().is_empty() {
        meta.warnings
            .push(format!("dropped {} without a value", extra.name));
        return;
    }
    let before = extra.params.len();
    extra.params.retain(|x| crate::validate::is_name(&x.name));
    if extra.params.len() < before {
        meta.warnings.push(format!(
            "dropped parameters of {} whose names are not valid",
            extra.name
        ));
    }
    // A list of quoted values (`MEMBER="mailto:a","mailto:b"`) reaches here with its inner
    // quotes, which a parameter value cannot carry (RFC 5545 has no escape for them): the
    // parameter goes, the property and its event stay.
    let before = extra.params.len();
    extra.params.retain(|x| !x.value.contains('"'));
    if extra.params.len() < before {
        meta.warnings.push(format!(
            "dropped parameters of {} that hold a list of quoted values",
            extra.name
        ));
    }
    comp.extra.push(extra);
}

/// The event's language, unless it has one already (the first is kept).
fn set_language(comp: &mut Component, val: &str) -> Result<(), String> {
    let tag = val.trim();
    if !is_language_tag(tag) {
        return Err(format!(
            "{tag:?} is not a language tag (BCP 47, e.g. de or pt-BR)"
        ));
    }
    if comp.language().is_none() {
        comp.extra.push(Property {
            name: LANGUAGE_PROPERTY.into(),
            params: Vec::new(),
            value: tag.to_string(),
        });
    }
    Ok(())
}

fn is_period(p: &icalendar::parser::Property<'_>) -> bool {
    param(p, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("PERIOD"))
}

/// The periods of an `RDATE;VALUE=PERIOD` (RFC 5545 §3.3.9): `start/end` or `start/duration`.
fn periods(
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
) -> Result<Vec<(DateTimeValue, End)>, String> {
    p.val
        .as_str()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (a, b) = item
                .trim()
                .split_once('/')
                .ok_or_else(|| format!("{item:?} is not a PERIOD (start/end or start/duration)"))?;
            let start = parse_dt(a.trim(), p, zones)?;
            let b = b.trim();
            let end = if b.starts_with(['P', 'p', '+', '-']) {
                End::Duration(parse_duration(b)?)
            } else {
                End::At(parse_dt(b, p, zones)?)
            };
            Ok((start, end))
        })
        .collect()
}

/// The dates of an RDATE or EXDATE (a comma-separated list).
fn date_list(
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
) -> Result<Vec<DateTimeValue>, String> {
    p.val
        .as_str()
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| parse_dt(item.trim(), p, zones))
        .collect()
}

/// `LAT;LON` (or, as some writers have it, `LAT,LON`).
fn parse_geo(val: &str) -> Result<Geo, String> {
    let bad = || format!("{val:?} is not LAT;LON");
    let (lat, lon) = val
        .split_once(';')
        .or_else(|| val.split_once(','))
        .ok_or_else(bad)?;
    match (lat.trim().parse::<f64>(), lon.trim().parse::<f64>()) {
        (Ok(lat), Ok(lon)) => Ok(Geo { lat, lon }),
        _ => Err(bad()),
    }
}

fn parse_status(val: &str) -> Result<Status, String> {
    match val.trim().to_ascii_uppercase().as_str() {
        "TENTATIVE" => Ok(Status::Tentative),
        "CONFIRMED" => Ok(Status::Confirmed),
        // American spelling, as some exporters write it: a cancelled event must not show as
        // going ahead because of a letter.
        "CANCELLED" | "CANCELED" => Ok(Status::Cancelled),
        other => Err(format!("{other:?} is not a VEVENT status")),
    }
}

/// A non-negative integer value; `what` names it in the error.
fn lenient_number(meta: &mut Meta, name: &str, val: &str) {
    let (slot, what) = if name == "X-HOP" {
        (&mut meta.hop, "a hop count")
    } else {
        (&mut meta.revision, "a revision number")
    };
    match number(val, what) {
        Ok(n) => *slot = Some(n),
        Err(e) => meta.warnings.push(format!("ignored {name}: {e}")),
    }
}

fn number<T: std::str::FromStr>(val: &str, what: &str) -> Result<T, String> {
    val.trim()
        .parse()
        .map_err(|_| format!("{val:?} is not {what}"))
}

/// A RECURRENCE-ID. RFC 5545 §3.8.4.4's `RANGE=THISANDFUTURE` would carry an override's
/// change to the later instances as well. Few calendar apps honour it, and DisCal's model has
/// one override per instance: the later instances keep the series' values, which is said, not
/// passed over.
fn recurrence_id(
    p: &icalendar::parser::Property<'_>,
    zones: &Zones,
    meta: &mut Meta,
) -> Result<DateTimeValue, String> {
    let at = parse_dt_prop(p, zones)?;
    if param(p, "RANGE").is_some_and(|r| r.eq_ignore_ascii_case("THISANDFUTURE")) {
        meta.warnings.push(
            "RECURRENCE-ID;RANGE=THISANDFUTURE taken for its own instance only; the later \
             instances keep the series' values"
                .into(),
        );
    }
    Ok(at)
}

/// A property DisCal does not know, kept as it came (name upper-cased).
fn extra_property(p: &icalendar::parser::Property<'_>, name: String) -> Property {
    Property {
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
    }
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
