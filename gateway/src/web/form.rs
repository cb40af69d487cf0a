//! The enter-event form's fields as typed, checked one by one (each wrong value gets a message
//! at its field, everything typed is kept), and turned into a [`Draft`]: the form never sends
//! a UID, X-HOP, X-REVISION or X-REVISE-URL; the node assigns them and signs.

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveTime};
use chrono_tz::Tz;
use discal_protocol::model::{DateTimeValue, End, EventContent};
use discal_store::StoredEvent;

use crate::Draft;

/// The weekday codes of the weekly recurrence, in form order.
pub const WEEKDAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// The form's fields by name (text as typed); weekdays as `byday_MO` … keys.
#[derive(Clone, Debug, Default)]
pub struct EventForm {
    fields: BTreeMap<String, String>,
}

/// Messages by field name; `_` for the form as a whole.
pub type FieldErrors = BTreeMap<&'static str, String>;

impl EventForm {
    /// From a urlencoded body (later values of a name win, except weekdays which add up).
    pub fn parse(body: &[u8]) -> Self {
        let mut fields = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if k == "byday" {
                fields.insert(format!("byday_{v}"), "on".into());
            } else {
                fields.insert(k.into_owned(), v.into_owned());
            }
        }
        Self { fields }
    }

    /// Every field, by name.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A field's value ("" if absent), trimmed.
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |v| v.trim())
    }

    /// Sets a field.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.fields.insert(name.into(), value.into());
    }

    /// True if a checkbox is ticked.
    pub fn ticked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// A new form in `tz`.
    pub fn blank(tz: &str) -> Self {
        let mut f = Self::default();
        f.set("tz", tz);
        f.set("freq", "none");
        f.set("interval", "1");
        f
    }

    /// The form of an event held, for editing: what the form can show of it.
    pub fn of_event(e: &StoredEvent) -> Self {
        let m = &e.content().master;
        let mut f = Self::blank(m.start.tzid().unwrap_or("UTC"));
        f.set("title", m.summary.clone().unwrap_or_default());
        let (d, t) = date_and_time(&m.start);
        f.set("start_date", d);
        f.set("start_time", t);
        if m.start.is_date() {
            f.set("all_day", "on");
        }
        if let Some(End::At(end)) = &m.end {
            let (d, t) = date_and_time(end);
            f.set("end_date", d);
            f.set("end_time", t);
        } else if let Some(End::Duration(d)) = &m.end {
            f.set("duration", discal_protocol::ics::fmt_duration(d));
        }
        if let Some(rule) = &m.rrule {
            f.set("rrule", rule.clone());
            f.set("freq", "custom");
        }
        let ex: Vec<String> = m.exdates.iter().map(|x| date_and_time(x).0).collect();
        f.set("exdates", ex.join(" "));
        f.set("location", m.location.clone().unwrap_or_default());
        if let Some(g) = m.geo {
            f.set("lat", g.lat.to_string());
            f.set("lon", g.lon.to_string());
        }
        f.set("tags", m.categories.join(", "));
        f.set("url", m.url.clone().unwrap_or_default());
        f.set("description", m.description.clone().unwrap_or_default());
        f.set("language", m.language().unwrap_or_default());
        f
    }

    /// The draft the form describes, or a message per wrong field.
    pub fn draft(&self) -> Result<Draft, FieldErrors> {
        let mut errors = FieldErrors::new();
        let title = self.get("title");
        if title.is_empty() {
            errors.insert("title", "Give the event a title.".into());
        }
        let tz_name = self.get("tz");
        let tz: Option<Tz> = tz_name.parse().ok();
        if tz.is_none() {
            errors.insert(
                "tz",
                format!("{tz_name:?} is not a time zone (e.g. Europe/Berlin)."),
            );
        }
        let all_day = self.ticked("all_day");
        let start_date = date(self.get("start_date"), "start_date", &mut errors);
        let start_time = if all_day {
            None
        } else {
            time(self.get("start_time"), "start_time", true, &mut errors)
        };
        let (end, duration) = self.end(all_day, start_date, start_time, &mut errors);
        let rrule = self.rrule(start_date, &mut errors);
        let exdates = self.exdates(start_time, &mut errors);
        let geo = self.geo(&mut errors);
        let url = self.get("url");
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            errors.insert("url", "A link starts with https:// or http://.".into());
        }
        let language = self.get("language").trim();
        if !(language.is_empty() || discal_protocol::model::is_language_tag(language)) {
            errors.insert("language", "A language such as de, en or pt-BR.".into());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let start = match (start_date, start_time) {
            (Some(d), Some(t)) => format!("{}T{}", d.format("%Y-%m-%d"), t.format("%H:%M")),
            (Some(d), None) => d.format("%Y-%m-%d").to_string(),
            _ => String::new(),
        };
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let tags: Vec<String> = self
            .get("tags")
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        Ok(Draft {
            title: Some(title.to_string()),
            start: Some(start),
            end,
            duration,
            tz: (!all_day).then(|| tz_name.to_string()),
            rrule: Some(rrule.unwrap_or_default()),
            exdates: Some(exdates),
            location: Some(self.get("location").to_string()),
            geo,
            tags: Some(tags),
            url: opt(url),
            description: Some(self.fields.get("description").cloned().unwrap_or_default()),
            language: Some(language.to_string()),
        })
    }

    fn end(
        &self,
        all_day: bool,
        start_date: Option<NaiveDate>,
        start_time: Option<NaiveTime>,
        errors: &mut FieldErrors,
    ) -> (Option<String>, Option<String>) {
        let duration = self.get("duration");
        if !duration.is_empty() {
            return (None, Some(duration.to_string()));
        }
        let end_date_s = self.get("end_date");
        let end_time_s = self.get("end_time");
        if end_date_s.is_empty() && end_time_s.is_empty() {
            return (None, None);
        }
        let end_date = if end_date_s.is_empty() {
            start_date
        } else {
            date(end_date_s, "end_date", errors)
        };
        let Some(ed) = end_date else {
            return (None, None);
        };
        if all_day {
            if start_date.is_some_and(|s| ed < s) {
                errors.insert("end_date", "The event ends before it starts.".into());
            }
            // The last day shown is included; iCalendar's DTEND is the day after.
            return (
                Some(
                    (ed + chrono::Duration::days(1))
                        .format("%Y-%m-%d")
                        .to_string(),
                ),
                None,
            );
        }
        let et = time(end_time_s, "end_time", false, errors).or(start_time);
        if let (Some(sd), Some(st), Some(et)) = (start_date, start_time, et) {
            if ed.and_time(et) < sd.and_time(st) {
                errors.insert("end_time", "The event ends before it starts.".into());
            }
        }
        let et = et.unwrap_or_default();
        (
            Some(format!("{}T{}", ed.format("%Y-%m-%d"), et.format("%H:%M"))),
            None,
        )
    }

    fn rrule(&self, start: Option<NaiveDate>, errors: &mut FieldErrors) -> Option<String> {
        let freq = match self.get("freq") {
            "" | "none" => return None,
            "custom" => return Some(self.get("rrule").to_string()).filter(|r| !r.is_empty()),
            f @ ("daily" | "weekly" | "monthly" | "yearly") => f.to_ascii_uppercase(),
            other => {
                errors.insert(
                    "freq",
                    format!("{other:?} is not a repetition this form knows."),
                );
                return None;
            }
        };
        let mut rule = format!("FREQ={freq}");
        match self.get("interval") {
            "" | "1" => {}
            n => match n.parse::<u32>() {
                Ok(k) if (1..=999).contains(&k) => rule.push_str(&format!(";INTERVAL={k}")),
                _ => {
                    errors.insert("interval", "Every 1 to 999.".into());
                }
            },
        }
        if freq == "WEEKLY" {
            let days: Vec<&str> = WEEKDAYS
                .iter()
                .copied()
                .filter(|d| self.ticked(&format!("byday_{d}")))
                .collect();
            if !days.is_empty() {
                rule.push_str(&format!(";BYDAY={}", days.join(",")));
            }
        }
        if freq == "MONTHLY" && self.get("monthly") == "weekday" {
            if let Some(d) = start {
                use chrono::Datelike;
                let nth = (d.day() - 1) / 7 + 1;
                // The fifth is "the last" (there may be no fifth in other months).
                let nth = if nth >= 5 { -1 } else { nth as i32 };
                rule.push_str(&format!(
                    ";BYDAY={nth}{}",
                    WEEKDAYS[d.weekday().num_days_from_monday() as usize]
                ));
            }
        }
        let (until, count) = (self.get("until"), self.get("count"));
        if !count.is_empty() {
            match count.parse::<u32>() {
                Ok(n) if (1..=10_000).contains(&n) => rule.push_str(&format!(";COUNT={n}")),
                _ => {
                    errors.insert("count", "Give a number of times from 1 to 10000.".into());
                }
            }
        } else if !until.is_empty() {
            if let Some(u) = date(until, "until", errors) {
                if start.is_some_and(|s| u < s) {
                    errors.insert(
                        "until",
                        "The repetition ends before the event starts.".into(),
                    );
                }
                rule.push_str(&format!(";UNTIL={}T235959Z", u.format("%Y%m%d")));
            }
        }
        Some(rule)
    }

    fn exdates(&self, start_time: Option<NaiveTime>, errors: &mut FieldErrors) -> Vec<String> {
        let mut out = Vec::new();
        for d in self
            .get("exdates")
            .split([',', ' ', '\n'])
            .filter(|s| !s.trim().is_empty())
        {
            match NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d") {
                Ok(d) => out.push(match start_time {
                    Some(t) => format!("{}T{}", d.format("%Y-%m-%d"), t.format("%H:%M")),
                    None => d.format("%Y-%m-%d").to_string(),
                }),
                Err(_) => {
                    errors.insert("exdates", format!("{d:?} is not a date (YYYY-MM-DD)."));
                }
            }
        }
        out
    }

    fn geo(&self, errors: &mut FieldErrors) -> Option<String> {
        let (lat, lon) = (self.get("lat"), self.get("lon"));
        if lat.is_empty() && lon.is_empty() {
            return None;
        }
        let num = |s: &str, name: &'static str, max: f64, errors: &mut FieldErrors| match s
            .parse::<f64>()
        {
            Ok(v) if v.is_finite() && (-max..=max).contains(&v) => Some(v),
            _ => {
                errors.insert(name, format!("A number from -{max} to {max}."));
                None
            }
        };
        let lat = num(lat, "lat", 90.0, errors);
        let lon = num(lon, "lon", 180.0, errors);
        Some(format!("{},{}", lat?, lon?))
    }
}

fn date(s: &str, name: &'static str, errors: &mut FieldErrors) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) if s.is_empty() => {
            errors.insert(name, "A date is needed here.".into());
            None
        }
        Err(_) => {
            errors.insert(
                name,
                format!("{s:?} is not a date of the calendar (YYYY-MM-DD)."),
            );
            None
        }
    }
}

fn time(
    s: &str,
    name: &'static str,
    required: bool,
    errors: &mut FieldErrors,
) -> Option<NaiveTime> {
    if s.is_empty() && !required {
        return None;
    }
    match NaiveTime::parse_from_str(s, "%H:%M") {
        Ok(t) => Some(t),
        Err(_) => {
            errors.insert(name, format!("{s:?} is not a time (HH:MM)."));
            None
        }
    }
}

fn date_and_time(v: &DateTimeValue) -> (String, String) {
    let l = v.local();
    let d = format!("{:04}-{:02}-{:02}", l.date.year, l.date.month, l.date.day);
    if v.is_date() {
        (d, String::new())
    } else {
        (d, format!("{:02}:{:02}", l.hour, l.minute))
    }
}

/// The next instances of a drafted event, as local start times in `tz` (the preview).
pub fn preview(content: &EventContent, tz: Tz, from_ms: i64, n: usize) -> Vec<String> {
    let Some(from) = chrono::DateTime::from_timestamp_millis(from_ms) else {
        return Vec::new();
    };
    let to = from + chrono::Duration::days(3 * 366);
    let limits = discal_protocol::recur::ExpandLimits {
        max_examined: 5_000,
        max_returned: n,
    };
    // Start with the event's own first instance when it lies in the past of `from`.
    let first = discal_protocol::recur::instant(&content.master.start, tz).ok();
    let from = first.map_or(from, |f| f.min(from));
    discal_protocol::recur::expand(content, from, to, tz, limits)
        .map(|x| {
            x.occurrences
                .iter()
                .take(n)
                .map(|o| {
                    o.start
                        .with_timezone(&tz)
                        .format("%a %Y-%m-%d %H:%M %Z")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> EventForm {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        EventForm::parse(body.as_bytes())
    }

    #[test]
    fn each_wrong_value_is_named_at_its_field() {
        let f = form(&[
            ("title", ""),
            ("tz", "Mars/Base"),
            ("start_date", "2027-02-31"),
            ("start_time", "19:00"),
            ("freq", "weekly"),
            ("count", "0"),
            ("lat", "200"),
            ("lon", "10"),
        ]);
        let e = f.draft().unwrap_err();
        for field in ["title", "tz", "start_date", "count", "lat"] {
            assert!(e.contains_key(field), "{field}: {e:?}");
        }
        let f = form(&[
            ("title", "x"),
            ("tz", "Europe/Berlin"),
            ("start_date", "2027-03-02"),
            ("start_time", "19:00"),
            ("end_time", "18:00"),
        ]);
        assert!(f.draft().unwrap_err().contains_key("end_time"));
    }

    #[test]
    fn a_weekly_event_becomes_a_draft_with_its_rule_and_exception() {
        let f = form(&[
            ("title", "Stammtisch"),
            ("tz", "Europe/Berlin"),
            ("start_date", "2027-03-02"),
            ("start_time", "19:00"),
            ("end_time", "21:00"),
            ("freq", "weekly"),
            ("byday", "TU"),
            ("count", "6"),
            ("exdates", "2027-03-16"),
        ]);
        let d = f.draft().unwrap();
        assert_eq!(d.rrule.as_deref(), Some("FREQ=WEEKLY;BYDAY=TU;COUNT=6"));
        assert_eq!(d.exdates, Some(vec!["2027-03-16T19:00".to_string()]));
        assert_eq!(d.end.as_deref(), Some("2027-03-02T21:00"));
    }
}
