//! Local authoring input: the fields a person types (CLI flags, a JSON body) turned into
//! iCalendar text, so that one parser ([`discal_protocol::ics`]) validates every way an event
//! enters the node.

use discal_protocol::ics::{escape_text, fold_line};
use discal_protocol::model::LANGUAGE_PROPERTY;
use serde::{Deserialize, Serialize};

/// An event as a person describes it. Every field is optional so the same type serves as a
/// patch: an update changes only the fields it names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// SUMMARY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `2026-12-01T19:00` (in `tz`, or floating without it), `2026-12-01T18:00Z` (UTC) or
    /// `2026-12-01` (all day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Same forms as `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// An RFC 5545 duration (`PT2H`) or minutes/hours shorthand (`90m`, `2h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// The IANA zone `start` and `end` are in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// An RRULE value, e.g. `FREQ=WEEKLY;BYDAY=TU`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrule: Option<String>,
    /// Instances left out (EXDATE), in the forms of `start` (a date for an all-day event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exdates: Option<Vec<String>>,
    /// LOCATION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `LAT,LON` in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<String>,
    /// CATEGORIES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// DESCRIPTION.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The language the event is written in, a BCP 47 tag (`de`, `pt-BR`); empty removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// Why a draft cannot become an event.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DraftError {
    /// A new event needs a start.
    #[error("missing field: start")]
    MissingStart,
    /// A new event needs a title.
    #[error("missing field: title")]
    MissingTitle,
    /// A title of nothing but spaces, for a new event or a change (the web form refuses one
    /// too; an import keeps what the file says).
    #[error("title: must not be empty")]
    EmptyTitle,
    /// A date or time that is none of the accepted forms.
    #[error(
        "{field}: {value:?} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM[:SS][Z])"
    )]
    BadTime {
        /// Which field.
        field: &'static str,
        /// What was given.
        value: String,
    },
    /// Both `end` and `duration`.
    #[error("give end or duration, not both")]
    EndAndDuration,
    /// A duration that is neither RFC 5545 nor the shorthand.
    #[error("duration: {0:?} is not like PT2H, 90m or 2h")]
    BadDuration(String),
    /// A GEO that is not two numbers.
    #[error("geo: {0:?} is not LAT,LON")]
    BadGeo(String),
    /// A value with a line break where iCalendar allows none.
    #[error("{0}: line breaks are not allowed here")]
    LineBreak(&'static str),
    /// A zone name with characters no zone name has.
    #[error("tz: {0:?} is not a time zone name")]
    BadZone(String),
    /// Not a language tag.
    #[error("language: {0:?} is not a language tag (BCP 47, e.g. de or pt-BR)")]
    BadLanguage(String),
}

/// Characters zone names are made of (the parser checks the name itself).
fn is_zone_name(z: &str) -> bool {
    !z.is_empty()
        && z.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c))
}

/// The DTSTART/DTEND value of one time field, with its parameters.
fn time_property(
    name: &str,
    field: &'static str,
    value: &str,
    tz: Option<&str>,
) -> Result<String, DraftError> {
    let bad = || DraftError::BadTime {
        field,
        value: value.to_owned(),
    };
    let v = value.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(format!("{name};VALUE=DATE:{}", d.format("%Y%m%d")));
    }
    let (body, utc) = match v.strip_suffix(['Z', 'z']) {
        Some(b) => (b, true),
        None => (v, false),
    };
    let dt = chrono::NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M"))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(body, "%Y-%m-%d %H:%M"))
        .map_err(|_| bad())?;
    let stamp = dt.format("%Y%m%dT%H%M%S");
    Ok(match (utc, tz) {
        (true, _) => format!("{name}:{stamp}Z"),
        (false, Some(z)) => format!("{name};TZID={z}:{stamp}"),
        (false, None) => format!("{name}:{stamp}"),
    })
}

fn duration_value(v: &str) -> Result<String, DraftError> {
    let t = v.trim();
    if t.starts_with('P') || t.starts_with("-P") || t.starts_with("+P") {
        discal_protocol::ics::parse_duration(t).map_err(|_| DraftError::BadDuration(v.into()))?;
        return Ok(t.to_owned());
    }
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u32 = num.parse().map_err(|_| DraftError::BadDuration(v.into()))?;
    match unit {
        "m" | "min" => Ok(format!("PT{n}M")),
        "h" => Ok(format!("PT{n}H")),
        "d" => Ok(format!("P{n}D")),
        _ => Err(DraftError::BadDuration(v.into())),
    }
}

/// `LAT,LON` (or `LAT;LON`) as a GEO line.
fn geo_line(g: &str) -> Result<String, DraftError> {
    let parts: Vec<f64> = g
        .split([',', ';'])
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| DraftError::BadGeo(g.into()))?;
    let [lat, lon] = parts[..] else {
        return Err(DraftError::BadGeo(g.into()));
    };
    Ok(format!("GEO:{lat};{lon}"))
}

fn single_line(field: &'static str, v: &str) -> Result<(), DraftError> {
    if v.contains(['\r', '\n']) {
        Err(DraftError::LineBreak(field))
    } else {
        Ok(())
    }
}

impl Draft {
    /// The property lines (unfolded) this draft sets, and the names of the properties they
    /// replace in an existing event.
    pub fn property_lines(&self) -> Result<(Vec<String>, Vec<&'static str>), DraftError> {
        let mut lines = Vec::new();
        let mut replaces = Vec::new();
        if let Some(z) = self.tz.as_ref().filter(|z| !is_zone_name(z)) {
            return Err(DraftError::BadZone(z.clone()));
        }
        let tz = self.tz.as_deref();
        if self.end.is_some() && self.duration.is_some() {
            return Err(DraftError::EndAndDuration);
        }
        if let Some(line) = self.summary_line()? {
            lines.push(line);
            replaces.push("SUMMARY");
        }
        if let Some(s) = &self.start {
            lines.push(time_property("DTSTART", "start", s, tz)?);
            replaces.push("DTSTART");
        }
        if let Some(e) = &self.end {
            lines.push(time_property("DTEND", "end", e, tz)?);
            replaces.extend(["DTEND", "DURATION"]);
        }
        if let Some(d) = &self.duration {
            lines.push(format!("DURATION:{}", duration_value(d)?));
            replaces.extend(["DTEND", "DURATION"]);
        }
        if let Some(r) = &self.rrule {
            single_line("rrule", r)?;
            if !r.trim().is_empty() {
                lines.push(format!("RRULE:{}", r.trim()));
            }
            replaces.push("RRULE");
        }
        if let Some(x) = &self.exdates {
            for d in x {
                lines.push(time_property("EXDATE", "exdates", d, tz)?);
            }
            replaces.push("EXDATE");
        }
        if let Some(l) = &self.location {
            lines.push(format!("LOCATION:{}", escape_text(l)));
            replaces.push("LOCATION");
        }
        if let Some(g) = &self.geo {
            lines.push(geo_line(g)?);
            replaces.push("GEO");
        }
        if let Some(tags) = &self.tags {
            let tags: Vec<String> = tags
                .iter()
                .map(|t| t.trim())
                .filter(|t| !t.is_empty())
                .map(escape_text)
                .collect();
            if !tags.is_empty() {
                lines.push(format!("CATEGORIES:{}", tags.join(",")));
            }
            replaces.push("CATEGORIES");
        }
        if let Some(u) = &self.url {
            single_line("url", u)?;
            lines.push(format!("URL:{}", u.trim()));
            replaces.push("URL");
        }
        if let Some(d) = &self.description {
            lines.push(format!("DESCRIPTION:{}", escape_text(d)));
            replaces.push("DESCRIPTION");
        }
        if let Some(l) = self.language.as_deref().map(str::trim) {
            match l {
                "" => {}
                l if discal_protocol::model::is_language_tag(l) => {
                    lines.push(format!("{LANGUAGE_PROPERTY}:{l}"));
                }
                l => return Err(DraftError::BadLanguage(l.to_string())),
            }
            replaces.push(LANGUAGE_PROPERTY);
        }
        Ok((lines, replaces))
    }

    /// The SUMMARY line of the title, if there is one to set.
    fn summary_line(&self) -> Result<Option<String>, DraftError> {
        match self.title.as_deref() {
            Some(t) if t.trim().is_empty() => Err(DraftError::EmptyTitle),
            Some(t) => Ok(Some(format!("SUMMARY:{}", escape_text(t)))),
            None => Ok(None),
        }
    }

    /// A one-event VCALENDAR for a new event. `uid` is a placeholder the caller replaces.
    pub fn to_ics(&self, uid: &str) -> Result<String, DraftError> {
        if self.title.is_none() {
            return Err(DraftError::MissingTitle);
        }
        if self.start.is_none() {
            return Err(DraftError::MissingStart);
        }
        let (lines, _) = self.property_lines()?;
        let mut out = String::new();
        for l in [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//DisCal//draft//EN",
        ] {
            fold_line(&mut out, l);
        }
        fold_line(&mut out, "BEGIN:VEVENT");
        fold_line(&mut out, &format!("UID:{}", escape_text(uid)));
        for l in &lines {
            fold_line(&mut out, l);
        }
        fold_line(&mut out, "END:VEVENT");
        fold_line(&mut out, "END:VCALENDAR");
        Ok(out)
    }

    /// Applies this draft as a patch to the iCalendar text of an existing event: the master
    /// VEVENT loses the properties the draft sets and gains the draft's lines; overrides and
    /// unknown properties stay as they were.
    pub fn patch_ics(&self, ics: &str) -> Result<String, DraftError> {
        let (lines, replaces) = self.property_lines()?;
        let unfolded = ics.replace("\r\n ", "").replace("\r\n\t", "");
        let mut out = String::new();
        let mut depth_in_master = false;
        let mut seen_master = false;
        let mut master_lines: Vec<String> = Vec::new();
        for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
            if line == "BEGIN:VEVENT" && !seen_master {
                depth_in_master = true;
                seen_master = true;
                master_lines.push(line.to_owned());
                continue;
            }
            if depth_in_master {
                if line == "END:VEVENT" {
                    master_lines.extend(lines.iter().cloned());
                    master_lines.push(line.to_owned());
                    for l in master_lines.drain(..) {
                        fold_line(&mut out, &l);
                    }
                    depth_in_master = false;
                    continue;
                }
                let name = line
                    .split([':', ';'])
                    .next()
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                // The writer's DisCal bookkeeping is recomputed by the author on every revision.
                let dropped = replaces.contains(&name.as_str())
                    || matches!(
                        name.as_str(),
                        "DTSTAMP" | "SEQUENCE" | "X-REVISION" | "X-HOP" | "X-REVISE-URL"
                    );
                if !dropped {
                    master_lines.push(line.to_owned());
                }
                continue;
            }
            fold_line(&mut out, line);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_forms() {
        assert_eq!(
            time_property("DTSTART", "start", "2026-12-01", Some("Europe/Berlin")).unwrap(),
            "DTSTART;VALUE=DATE:20261201"
        );
        assert_eq!(
            time_property(
                "DTSTART",
                "start",
                "2026-12-01T19:00",
                Some("Europe/Berlin")
            )
            .unwrap(),
            "DTSTART;TZID=Europe/Berlin:20261201T190000"
        );
        assert_eq!(
            time_property("DTSTART", "start", "2026-12-01T18:00:30Z", None).unwrap(),
            "DTSTART:20261201T180030Z"
        );
        assert!(time_property("DTSTART", "start", "tomorrow", None).is_err());
    }

    #[test]
    fn durations_and_geo() {
        assert_eq!(duration_value("90m").unwrap(), "PT90M");
        assert_eq!(duration_value("PT2H").unwrap(), "PT2H");
        assert!(duration_value("2 weeks").is_err());
        let d = Draft {
            geo: Some("52.5;x".into()),
            ..Draft::default()
        };
        assert_eq!(d.property_lines(), Err(DraftError::BadGeo("52.5;x".into())));
    }

    #[test]
    fn patch_replaces_only_named_fields() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:Old\r\nLOCATION:Here\r\nSEQUENCE:3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let d = Draft {
            title: Some("New; and, more".into()),
            ..Draft::default()
        };
        let out = d.patch_ics(ics).unwrap();
        assert!(out.contains("SUMMARY:New\\; and\\, more\r\n"), "{out}");
        assert!(out.contains("LOCATION:Here\r\n"));
        assert!(!out.contains("Old"));
        assert!(!out.contains("SEQUENCE"));
    }

    #[test]
    fn a_blank_title_is_refused_for_a_new_event_and_a_change() {
        let new = Draft {
            title: Some("  ".into()),
            start: Some("2027-01-05T19:00".into()),
            tz: Some("UTC".into()),
            ..Draft::default()
        };
        assert_eq!(new.to_ics("u"), Err(DraftError::EmptyTitle));
        let change = Draft {
            title: Some(String::new()),
            ..Draft::default()
        };
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nSUMMARY:Old\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(change.patch_ics(ics), Err(DraftError::EmptyTitle));
    }
}
