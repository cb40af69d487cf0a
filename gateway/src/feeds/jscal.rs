//! JSCalendar (RFC 8984): a view as a Group of Events.
//!
//! DisCal's own attributes travel as vendor properties under the `discal.org:` prefix
//! (`revision`, `hop`, `origin`, `reviseUrl`), as RFC 8984 §3.3 asks for vendor extensions.

use chrono::{NaiveDateTime, TimeZone};
use discal_protocol::model::{Component, DateTimeValue, End, LocalDateTime, Status};
use discal_protocol::recur;
use discal_store::{Hit, Store, StoredEvent};
use serde_json::{json, Map, Value};

use crate::display::{event_path, safe_link};

fn local(l: &LocalDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        l.date.year, l.date.month, l.date.day, l.hour, l.minute, l.second
    )
}

/// `timeZone` of a start: the IANA name, "Etc/UTC" for UTC, null for floating and all-day.
fn zone_of(v: &DateTimeValue) -> Value {
    match v {
        DateTimeValue::Zoned { tzid, .. } => Value::String(tzid.clone()),
        DateTimeValue::Utc(_) => Value::String("Etc/UTC".into()),
        _ => Value::Null,
    }
}

/// An ISO 8601 duration in JSCalendar's form (weeks or days and time, no negative).
fn duration_secs(days: i64, secs: i64) -> String {
    let mut s = String::from("P");
    if days > 0 {
        s.push_str(&format!("{days}D"));
    }
    if secs > 0 || days == 0 {
        s.push('T');
        let (h, m, x) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            s.push_str(&format!("{h}H"));
        }
        if m > 0 {
            s.push_str(&format!("{m}M"));
        }
        if x > 0 || (h == 0 && m == 0) {
            s.push_str(&format!("{x}S"));
        }
    }
    s
}

fn duration_of(c: &Component) -> Option<String> {
    match &c.end {
        Some(End::Duration(d)) if !d.negative => Some(duration_secs(
            i64::from(d.weeks) * 7 + i64::from(d.days),
            i64::from(d.seconds),
        )),
        Some(End::At(e)) => {
            let (a, b) = (c.start.local().to_chrono()?, e.local().to_chrono()?);
            if c.start.is_date() {
                return Some(duration_secs((b - a).num_days().max(0), 0));
            }
            // Across zones (rare) the instants decide; within one zone the wall clock does.
            let secs = match (
                recur::instant(&c.start, chrono_tz::UTC),
                recur::instant(e, chrono_tz::UTC),
            ) {
                (Ok(x), Ok(y)) => (y - x).num_seconds(),
                _ => (b - a).num_seconds(),
            };
            let secs = secs.max(0);
            Some(duration_secs(secs / 86_400, secs % 86_400))
        }
        _ => None,
    }
}

/// RRULE text → a JSCalendar RecurrenceRule object (RFC 8984 §4.3.3).
pub fn recurrence_rule(rule: &str, start: &DateTimeValue) -> Value {
    let mut o = Map::new();
    o.insert("@type".into(), "RecurrenceRule".into());
    for part in rule.split(';') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let ints = |v: &str| -> Value {
            v.split(',')
                .filter_map(|x| x.parse::<i64>().ok())
                .collect::<Vec<_>>()
                .into()
        };
        match k.to_ascii_uppercase().as_str() {
            "FREQ" => {
                o.insert("frequency".into(), v.to_ascii_lowercase().into());
            }
            "INTERVAL" => {
                o.insert("interval".into(), v.parse::<u64>().unwrap_or(1).into());
            }
            "COUNT" => {
                o.insert("count".into(), v.parse::<u64>().unwrap_or(1).into());
            }
            "UNTIL" => {
                o.insert("until".into(), until_local(v, start).into());
            }
            "WKST" => {
                o.insert("firstDayOfWeek".into(), v.to_ascii_lowercase().into());
            }
            "BYDAY" => {
                let days: Vec<Value> = v
                    .split(',')
                    .filter(|d| d.len() >= 2)
                    .map(|d| {
                        // Split before the last two characters (not bytes): stored rules are
                        // validated, but this must not panic on one that is not.
                        let cut = d.char_indices().rev().nth(1).map_or(0, |(i, _)| i);
                        let (n, day) = d.split_at(cut);
                        let mut nd = json!({"@type": "NDay", "day": day.to_ascii_lowercase()});
                        if let Ok(n) = n.trim_start_matches('+').parse::<i64>() {
                            nd["nthOfPeriod"] = n.into();
                        }
                        nd
                    })
                    .collect();
                o.insert("byDay".into(), days.into());
            }
            "BYMONTHDAY" => {
                o.insert("byMonthDay".into(), ints(v));
            }
            "BYMONTH" => {
                let m: Vec<Value> = v.split(',').map(|x| Value::String(x.to_owned())).collect();
                o.insert("byMonth".into(), m.into());
            }
            "BYYEARDAY" => {
                o.insert("byYearDay".into(), ints(v));
            }
            "BYWEEKNO" => {
                o.insert("byWeekNo".into(), ints(v));
            }
            "BYHOUR" => {
                o.insert("byHour".into(), ints(v));
            }
            "BYMINUTE" => {
                o.insert("byMinute".into(), ints(v));
            }
            "BYSECOND" => {
                o.insert("bySecond".into(), ints(v));
            }
            "BYSETPOS" => {
                o.insert("bySetPosition".into(), ints(v));
            }
            _ => {}
        }
    }
    Value::Object(o)
}

/// UNTIL in JSCalendar is a LocalDateTime in the event's zone.
fn until_local(v: &str, start: &DateTimeValue) -> String {
    if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ") {
        let l = match start.tzid().and_then(discal_protocol::tz::iana) {
            Some(tz) => tz.from_utc_datetime(&t).naive_local(),
            None => t,
        };
        return l.format("%Y-%m-%dT%H:%M:%S").to_string();
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S") {
        return t.format("%Y-%m-%dT%H:%M:%S").to_string();
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y%m%d") {
        return format!("{}T23:59:59", d.format("%Y-%m-%d"));
    }
    v.to_owned()
}

fn status(c: &Component) -> Option<&'static str> {
    c.status.map(|s| match s {
        Status::Tentative => "tentative",
        Status::Confirmed => "confirmed",
        Status::Cancelled => "cancelled",
    })
}

/// The properties an override changes, as a patch object.
fn patch(master: &Component, o: &Component) -> Map<String, Value> {
    let mut p = Map::new();
    if o.start != master.start {
        p.insert("start".into(), local(&o.start.local()).into());
        if o.start.tzid() != master.start.tzid() {
            p.insert("timeZone".into(), zone_of(&o.start));
        }
    }
    if o.summary != master.summary {
        p.insert("title".into(), o.summary.clone().unwrap_or_default().into());
    }
    if o.description != master.description {
        p.insert(
            "description".into(),
            o.description.clone().unwrap_or_default().into(),
        );
    }
    let (d0, d1) = (duration_of(master), duration_of(o));
    if d1 != d0 {
        if let Some(d) = d1 {
            p.insert("duration".into(), d.into());
        }
    }
    if o.location != master.location {
        p.insert("locations".into(), locations(o));
    }
    if o.status != master.status {
        if let Some(s) = status(o) {
            p.insert("status".into(), s.into());
        }
    }
    p
}

fn locations(c: &Component) -> Value {
    let mut l = Map::new();
    l.insert("@type".into(), "Location".into());
    if let Some(n) = &c.location {
        l.insert("name".into(), n.clone().into());
    }
    if let Some(g) = c.geo {
        l.insert(
            "coordinates".into(),
            format!("geo:{},{}", g.lat, g.lon).into(),
        );
    }
    json!({ "1": Value::Object(l) })
}

/// `recurrenceOverrides`: added dates, excluded dates and changed instances.
fn overrides(c: &discal_protocol::EventContent) -> Map<String, Value> {
    let m = &c.master;
    let mut overrides = Map::new();
    for r in &m.rdates {
        overrides.insert(local(&r.local()), json!({}));
    }
    for x in &m.exdates {
        overrides.insert(local(&x.local()), json!({"excluded": true}));
    }
    for ov in &c.overrides {
        if let Some(rid) = &ov.recurrence_id {
            overrides.insert(local(&rid.local()), Value::Object(patch(m, ov)));
        }
    }
    overrides
}

/// One event as a JSCalendar Event.
pub fn event(store: &Store, e: &StoredEvent, base: &str) -> Value {
    let c = e.content();
    let m = &c.master;
    let mut o = Map::new();
    o.insert("@type".into(), "Event".into());
    o.insert(
        "uid".into(),
        crate::public_uid(store, e).into_owned().into(),
    );
    let updated = chrono::DateTime::from_timestamp_millis(e.payload.issued_at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    o.insert("updated".into(), updated.into());
    o.insert("sequence".into(), m.sequence.into());
    o.insert("title".into(), m.summary.clone().unwrap_or_default().into());
    for (k, v) in [
        ("locale", m.language()),
        ("description", m.description.as_deref()),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), v.into());
        }
    }
    // RFC 8984 §4.1.1: text/plain unless said; Google's feeds write HTML.
    if m.description.as_deref().is_some_and(crate::rich::is_html) {
        o.insert("descriptionContentType".into(), "text/html".into());
    }
    o.insert("start".into(), local(&m.start.local()).into());
    o.insert("timeZone".into(), zone_of(&m.start));
    if m.start.is_date() {
        o.insert("showWithoutTime".into(), true.into());
    }
    if let Some(d) = duration_of(m) {
        o.insert("duration".into(), d.into());
    }
    if let Some(s) = status(m) {
        o.insert("status".into(), s.into());
    }
    if m.location.is_some() || m.geo.is_some() {
        o.insert("locations".into(), locations(m));
    }
    if !m.categories.is_empty() {
        let k: Map<String, Value> = m
            .categories
            .iter()
            .map(|t| (t.clone(), Value::Bool(true)))
            .collect();
        o.insert("keywords".into(), k.into());
    }
    let mut links = Map::new();
    links.insert(
        "ics".into(),
        json!({"@type": "Link", "href": format!("{base}{}/event.ics", event_path(e)), "contentType": "text/calendar", "rel": "alternate"}),
    );
    if let Some(u) = m.url.as_deref().and_then(safe_link) {
        links.insert("url".into(), json!({"@type": "Link", "href": u}));
    }
    o.insert("links".into(), links.into());
    if let Some(r) = &m.rrule {
        o.insert(
            "recurrenceRules".into(),
            Value::Array(vec![recurrence_rule(r, &m.start)]),
        );
    }
    let overrides = overrides(c);
    if !overrides.is_empty() {
        o.insert("recurrenceOverrides".into(), overrides.into());
    }
    o.insert(
        "discal.org:origin".into(),
        e.payload.origin.to_string().into(),
    );
    o.insert("discal.org:revision".into(), e.payload.revision.into());
    o.insert("discal.org:hop".into(), e.transit.hop.into());
    if let Some(u) = &m.revise_url {
        o.insert("discal.org:reviseUrl".into(), u.clone().into());
    }
    Value::Object(o)
}

/// Other listings of one real event: origin, UID, source and their page here.
pub fn also_json(also: &[discal_store::Also], base: &str) -> Value {
    also.iter()
        .map(|a| {
            json!({
                "origin": a.origin.to_string(),
                "uid": a.uid,
                "source": a.source,
                "href": format!("{base}/events/{}/{}", a.origin, crate::read::path_segment(&a.uid)),
            })
        })
        .collect()
}

/// A view as a JSCalendar Group.
pub fn group(
    store: &Store,
    name: &str,
    hits: &[Hit],
    base: &str,
    truncated: bool,
    next: Option<&str>,
) -> Value {
    let entries: Vec<Value> = hits
        .iter()
        .map(|h| {
            let mut v = event(store, &h.event, base);
            if !h.also.is_empty() {
                v["discal.org:alsoListed"] = also_json(&h.also, base);
            }
            v
        })
        .collect();
    let mut g = json!({
        "@type": "Group",
        "title": name,
        "entries": entries,
        "discal.org:truncated": truncated,
    });
    if let Some(n) = next {
        g["discal.org:next"] = format!("{base}{n}").into();
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrules_map_to_recurrence_rules() {
        let start = DateTimeValue::Zoned {
            local: LocalDateTime::from_chrono(
                NaiveDateTime::parse_from_str("20260301T190000", "%Y%m%dT%H%M%S").unwrap(),
            ),
            tzid: "Europe/Berlin".into(),
        };
        let r = recurrence_rule(
            "FREQ=MONTHLY;BYDAY=-1FR,2MO;UNTIL=20261231T230000Z;INTERVAL=2",
            &start,
        );
        assert_eq!(r["frequency"], "monthly");
        assert_eq!(r["interval"], 2);
        // A day that is not ASCII maps to something, without a panic.
        let odd = recurrence_rule("FREQ=MONTHLY;BYDAY=1\u{d6}X,\u{e9}", &start);
        assert_eq!(odd["frequency"], "monthly");
        assert_eq!(
            r["byDay"][0],
            json!({"@type": "NDay", "day": "fr", "nthOfPeriod": -1})
        );
        assert_eq!(r["byDay"][1]["nthOfPeriod"], 2);
        assert_eq!(r["until"], "2027-01-01T00:00:00");
        assert_eq!(duration_secs(0, 5400), "PT1H30M");
        assert_eq!(duration_secs(1, 0), "P1D");
    }
}
