//! What makes an event's page worth sharing: its recurrence in words, the way it travelled to
//! this node (like NNTP's Path), and machine-readable descriptions for link previews and
//! search engines (Open Graph, schema.org `Event` as JSON-LD).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use discal_protocol::model::{Component, DateTimeValue};
use discal_protocol::view::Lang;
use discal_protocol::NodeKey;
use discal_store::StoredEvent;

use crate::display::{cut, DESCRIPTION_MAX, TITLE_MAX};
use crate::i18n::strings;

/// Names of nodes this node knows (its own, its peers'), for paths and the publisher.
pub type NodeNames = HashMap<NodeKey, String>;

/// A node's name, or its key shortened when this node has no name for it.
pub fn node_name(names: &NodeNames, k: &NodeKey) -> String {
    names.get(k).cloned().unwrap_or_else(|| {
        let s = k.to_string();
        if s.len() > 14 {
            format!("{}…{}", &s[..8], &s[s.len() - 4..])
        } else {
            s
        }
    })
}

/// How the event reached this node: origin, each relay, this node ("A → B → C").
pub fn path_words(
    e: &StoredEvent,
    names: &NodeNames,
    here: Option<&NodeKey>,
) -> Vec<(NodeKey, String)> {
    let mut keys = vec![e.payload.origin];
    keys.extend(e.transit.path.iter().copied());
    if let Some(h) = here {
        if keys.last() != Some(h) {
            keys.push(*h);
        }
    }
    keys.into_iter()
        .map(|k| (k, node_name(names, &k)))
        .collect()
}

fn day_month(lang: Lang, d: NaiveDate) -> String {
    let m = strings(lang).months[d.month0() as usize];
    match lang {
        Lang::En => format!("{} {m}", d.day()),
        Lang::De => format!("{}. {m}", d.day()),
    }
}

fn full_date(lang: Lang, d: NaiveDate) -> String {
    format!("{} {}", day_month(lang, d), d.year())
}

fn ordinal(lang: Lang, n: i32) -> String {
    match (lang, n) {
        (Lang::En, -1) => "last".into(),
        (Lang::De, -1) => "letzten".into(),
        (Lang::En, 1) => "1st".into(),
        (Lang::En, 2) => "2nd".into(),
        (Lang::En, 3) => "3rd".into(),
        (Lang::En, n) => format!("{n}th"),
        (Lang::De, n) => format!("{n}."),
    }
}

fn weekday(lang: Lang, code: &str) -> Option<&'static str> {
    let i = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        .iter()
        .position(|d| *d == code)?;
    Some(strings(lang).weekdays[i])
}

fn and_list(lang: Lang, items: &[String]) -> String {
    let and = if lang == Lang::De { "und" } else { "and" };
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {and} {last}", rest.join(", ")),
    }
}

/// The rule's parts by name.
fn parts(rule: &str) -> HashMap<String, String> {
    rule.split(';')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_uppercase(), v.trim().to_ascii_uppercase()))
        .collect()
}

fn until_date(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v.get(..8)?, "%Y%m%d").ok()
}

/// The days of a monthly rule: "1st and 3rd Thursday", "day 1 and 15".
fn monthly_on(
    lang: Lang,
    p: &HashMap<String, String>,
    days: &[&str],
    start: NaiveDateTime,
) -> Option<String> {
    let de = lang == Lang::De;
    Some(if days.is_empty() {
        let list: Vec<u32> = match p.get("BYMONTHDAY") {
            None => vec![start.day()],
            Some(v) => v
                .split(',')
                .map(|d| d.parse().ok())
                .collect::<Option<_>>()?,
        };
        let list: Vec<String> = list
            .iter()
            .map(|d| if de { format!("{d}.") } else { d.to_string() })
            .collect();
        let list = and_list(lang, &list);
        if de {
            list
        } else {
            format!("day {list}")
        }
    } else {
        // "1TH,3TH": the first and third Thursday; "1MO,3TH" each in full.
        let mut nth = Vec::new();
        for d in days {
            let split = d.find(|c: char| c.is_ascii_alphabetic())?;
            let k: i32 = d[..split].parse().ok()?;
            nth.push((k, weekday(lang, &d[split..])?));
        }
        if nth.iter().all(|(_, w)| *w == nth[0].1) {
            let ks: Vec<String> = nth.iter().map(|(k, _)| ordinal(lang, *k)).collect();
            format!("{} {}", and_list(lang, &ks), nth[0].1)
        } else {
            let each: Vec<String> = nth
                .iter()
                .map(|(k, w)| format!("{} {w}", ordinal(lang, *k)))
                .collect();
            and_list(lang, &each)
        }
    })
}

/// The repetition's core: "every Tuesday and Thursday" / "jeden Dienstag und Donnerstag".
fn cadence(lang: Lang, p: &HashMap<String, String>, start: NaiveDateTime) -> Option<String> {
    let de = lang == Lang::De;
    let n: u32 = p.get("INTERVAL").map_or(Some(1), |v| v.parse().ok())?;
    let days: Vec<&str> = p
        .get("BYDAY")
        .map(|v| v.split(',').collect())
        .unwrap_or_default();
    Some(match p.get("FREQ")?.as_str() {
        "DAILY" if n == 1 => (if de { "täglich" } else { "every day" }).into(),
        "DAILY" => {
            if de {
                format!("alle {n} Tage")
            } else {
                format!("every {n} days")
            }
        }
        "WEEKLY" => {
            let names: Vec<String> = if days.is_empty() {
                vec![strings(lang).weekdays[start.weekday().num_days_from_monday() as usize].into()]
            } else {
                days.iter()
                    .map(|d| weekday(lang, d).map(str::to_string))
                    .collect::<Option<_>>()?
            };
            let list = and_list(lang, &names);
            match (n, de) {
                (1, false) => format!("every {list}"),
                (1, true) => format!("jeden {list}"),
                (n, false) => format!("every {n} weeks on {list}"),
                (n, true) => format!("alle {n} Wochen am {list}"),
            }
        }
        "MONTHLY" => {
            let every = match (n, de) {
                (1, false) => "every month".to_string(),
                (1, true) => "jeden Monat".to_string(),
                (n, false) => format!("every {n} months"),
                (n, true) => format!("alle {n} Monate"),
            };
            let on = monthly_on(lang, p, &days, start)?;
            format!("{every} {} {on}", if de { "am" } else { "on" })
        }
        "YEARLY" if n == 1 => {
            let d = day_month(lang, start.date());
            if de {
                format!("jedes Jahr am {d}")
            } else {
                format!("every year on {d}")
            }
        }
        _ => return None,
    })
}

/// The recurrence in words: "every Tuesday at 19:00, 10 times, except 3 March" /
/// "jeden Dienstag um 19:00, 10-mal, außer am 3. März"; `None` for a rule these words do not
/// cover (the page then shows the rule itself).
pub fn recurrence_words(lang: Lang, m: &Component) -> Option<String> {
    let rule = m.rrule.as_deref()?;
    let p = parts(rule);
    let known = [
        "FREQ",
        "INTERVAL",
        "BYDAY",
        "BYMONTHDAY",
        "COUNT",
        "UNTIL",
        "WKST",
    ];
    if p.keys().any(|k| !known.contains(&k.as_str())) {
        return None;
    }
    let start = m.start.local().to_chrono()?;
    let de = lang == Lang::De;
    let mut out = cadence(lang, &p, start)?;
    if !m.start.is_date() {
        out.push_str(&format!(
            " {} {:02}:{:02}",
            if de { "um" } else { "at" },
            start.hour_(),
            start.minute_()
        ));
    }
    if let Some(c) = p.get("COUNT") {
        out.push_str(&if de {
            format!(", {c}-mal")
        } else {
            format!(", {c} times")
        });
    } else if let Some(u) = p.get("UNTIL").and_then(|v| until_date(v)) {
        out.push_str(&format!(
            " {} {}",
            if de { "bis" } else { "until" },
            full_date(lang, u)
        ));
    }
    let ex: Vec<String> = m
        .exdates
        .iter()
        .filter_map(|x| x.local().date.to_chrono())
        .map(|d| day_month(lang, d))
        .collect();
    if !ex.is_empty() {
        out.push_str(&format!(
            ", {} {}",
            if de { "außer am" } else { "except" },
            and_list(lang, &ex)
        ));
    }
    Some(out)
}

trait HourMinute {
    fn hour_(&self) -> u32;
    fn minute_(&self) -> u32;
}

impl HourMinute for NaiveDateTime {
    fn hour_(&self) -> u32 {
        chrono::Timelike::hour(self)
    }
    fn minute_(&self) -> u32 {
        chrono::Timelike::minute(self)
    }
}

fn iso(v: &DateTimeValue) -> Option<String> {
    let l = v.local().to_chrono()?;
    Some(match v {
        DateTimeValue::Date(_) => l.format("%Y-%m-%d").to_string(),
        DateTimeValue::Floating(_) => l.format("%Y-%m-%dT%H:%M:%S").to_string(),
        DateTimeValue::Utc(_) => l.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        DateTimeValue::Zoned { tzid, .. } => {
            let tz = discal_protocol::tz::iana(tzid)?;
            let t = discal_protocol::recur::instant(v, tz)
                .ok()?
                .with_timezone(&tz);
            t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        }
    })
}

/// schema.org `Event` as JSON-LD, safe inside a `<script>` element (every `<` escaped). `next`
/// is the instance the page shows (start, end), else the event's own DTSTART and DTEND.
pub fn json_ld(
    e: &StoredEvent,
    url: &str,
    publisher: &str,
    next: Option<(String, Option<String>)>,
) -> String {
    let m = &e.content().master;
    let status = if e.content().is_cancelled() {
        "https://schema.org/EventCancelled"
    } else {
        "https://schema.org/EventScheduled"
    };
    let mut v = serde_json::json!({
        "@context": "https://schema.org",
        "@type": "Event",
        "name": crate::display::line(m.summary.as_deref().unwrap_or_default(), TITLE_MAX),
        "startDate": next.as_ref().map(|n| n.0.clone()).or_else(|| iso(&m.start)),
        "eventStatus": status,
        "url": url,
        "organizer": {"@type": "Organization", "name": publisher},
    });
    match (next, &m.end) {
        (Some((_, Some(end))), _) => v["endDate"] = end.into(),
        (None, Some(discal_protocol::model::End::At(end))) => v["endDate"] = iso(end).into(),
        _ => {}
    }
    if let Some(d) = &m.description {
        v["description"] = crate::rich::description_text(&cut(d, DESCRIPTION_MAX)).into();
    }
    if let Some(l) = m.language() {
        v["inLanguage"] = l.into();
    }
    if !m.categories.is_empty() {
        v["keywords"] = cut(&m.categories.join(", "), TITLE_MAX).into();
    }
    if m.location.is_some() || m.geo.is_some() {
        let mut place = serde_json::json!({"@type": "Place", "name": crate::display::line(m.location.as_deref().unwrap_or_default(), TITLE_MAX)});
        if let Some(g) = m.geo {
            place["geo"] = serde_json::json!({"@type": "GeoCoordinates", "latitude": g.lat, "longitude": g.lon});
        }
        v["location"] = place;
    }
    // `</script>` in a title must not end the element: JSON allows \u003c for '<'.
    v.to_string().replace('<', "\\u003c")
}

#[cfg(test)]
mod tests {
    use super::*;
    use discal_protocol::model::{Date, LocalDateTime};

    fn weekly(rule: &str, ex: &[(i32, u8, u8)]) -> Component {
        let start = DateTimeValue::Zoned {
            local: LocalDateTime {
                date: Date {
                    year: 2027,
                    month: 3,
                    day: 2,
                },
                hour: 19,
                minute: 0,
                second: 0,
            },
            tzid: "Europe/Berlin".into(),
        };
        let mut c = Component::new(start);
        c.rrule = Some(rule.into());
        c.exdates = ex
            .iter()
            .map(|(y, m, d)| DateTimeValue::Zoned {
                local: LocalDateTime {
                    date: Date {
                        year: *y,
                        month: *m,
                        day: *d,
                    },
                    hour: 19,
                    minute: 0,
                    second: 0,
                },
                tzid: "Europe/Berlin".into(),
            })
            .collect();
        c
    }

    #[test]
    fn rules_read_as_words_in_both_languages() {
        let c = weekly(
            "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270630T235959Z",
            &[(2027, 3, 3)],
        );
        assert_eq!(
            recurrence_words(Lang::En, &c).unwrap(),
            "every Tuesday at 19:00 until 30 June 2027, except 3 March"
        );
        assert_eq!(
            recurrence_words(Lang::De, &c).unwrap(),
            "jeden Dienstag um 19:00 bis 30. Juni 2027, außer am 3. März"
        );
        let c = weekly("FREQ=MONTHLY;BYDAY=2TU;COUNT=10", &[]);
        assert_eq!(
            recurrence_words(Lang::En, &c).unwrap(),
            "every month on 2nd Tuesday at 19:00, 10 times"
        );
        let c = weekly("FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH", &[]);
        assert_eq!(
            recurrence_words(Lang::En, &c).unwrap(),
            "every 2 weeks on Monday and Thursday at 19:00"
        );
        assert!(recurrence_words(
            Lang::En,
            &weekly("FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU", &[])
        )
        .is_none());
        // The shapes group pages' schedules take (first and third Thursday, 1st and 15th).
        let c = weekly("FREQ=MONTHLY;BYDAY=1TH,3TH", &[]);
        assert_eq!(
            recurrence_words(Lang::En, &c).unwrap(),
            "every month on 1st and 3rd Thursday at 19:00"
        );
        assert_eq!(
            recurrence_words(Lang::De, &c).unwrap(),
            "jeden Monat am 1. und 3. Donnerstag um 19:00"
        );
        let c = weekly("FREQ=MONTHLY;BYDAY=1MO,-1FR", &[]);
        assert_eq!(
            recurrence_words(Lang::En, &c).unwrap(),
            "every month on 1st Monday and last Friday at 19:00"
        );
        let c = weekly("FREQ=MONTHLY;BYMONTHDAY=1,15", &[]);
        assert_eq!(
            recurrence_words(Lang::En, &c).unwrap(),
            "every month on day 1 and 15 at 19:00"
        );
        assert_eq!(
            recurrence_words(Lang::De, &c).unwrap(),
            "jeden Monat am 1. und 15. um 19:00"
        );
        // An unordered weekday in a monthly rule (every Tuesday of the month) is left as the rule.
        assert!(recurrence_words(Lang::En, &weekly("FREQ=MONTHLY;BYDAY=TU", &[])).is_none());
    }
}
