//! `[[sources]]`: the feeds and pages this node subscribes to, as the operator writes them.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

/// What a source's URL points at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// An iCalendar feed (`.ics`).
    #[default]
    Ics,
    /// One web page with schema.org event markup.
    Page,
    /// A sitemap.xml (or sitemap index), or a page listing events: the pages it names on the
    /// same site, and theirs down to `depth`, each read as a page.
    Sitemap,
}

impl std::str::FromStr for SourceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ics" => Ok(Self::Ics),
            "page" => Ok(Self::Page),
            "sitemap" => Ok(Self::Sitemap),
            other => Err(format!("kind {other:?}: ics, page or sitemap")),
        }
    }
}

/// One `[[sources]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// Its name in lists, logs and metrics (unique).
    pub name: String,
    /// Where it is fetched from (http or https).
    pub url: String,
    /// What it is.
    #[serde(default)]
    pub kind: SourceKind,
    /// How often it is polled: `90s`, `30m`, `1h`, `1d` (at least a minute).
    #[serde(default = "default_every")]
    pub every: String,
    /// Tags given to every event taken from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The IANA zone of times the source writes without one (floating times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// Let it (and its redirects) reach loopback and private addresses: for a calendar on the
    /// operator's own network, and tests. Off, such addresses are refused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private: bool,
    /// For `sitemap` sources built from a page: how many links deep same-site pages are
    /// followed (1: the pages it links to).
    #[serde(default = "default_depth", skip_serializing_if = "is_default_depth")]
    pub depth: u8,
    /// For `sitemap` sources: the most pages read per poll.
    #[serde(
        default = "default_max_pages",
        skip_serializing_if = "is_default_max_pages"
    )]
    pub max_pages: u32,
    /// The most events taken from it: those nearest today when it holds more. What a site
    /// can make this node store and sign per poll is bounded by it.
    #[serde(
        default = "default_max_events",
        skip_serializing_if = "is_default_max_events"
    )]
    pub max_events: u32,
}

fn default_depth() -> u8 {
    1
}
fn is_default_depth(d: &u8) -> bool {
    *d == default_depth()
}
fn default_max_pages() -> u32 {
    50
}
fn is_default_max_pages(n: &u32) -> bool {
    *n == default_max_pages()
}

fn default_max_events() -> u32 {
    DEFAULT_MAX_EVENTS
}
fn is_default_max_events(n: &u32) -> bool {
    *n == DEFAULT_MAX_EVENTS
}

/// The events a source may give unless its entry says otherwise: a large city or university
/// calendar's upcoming year fits.
pub const DEFAULT_MAX_EVENTS: u32 = 10_000;
/// The most events any one source may give.
pub const MAX_EVENTS: u32 = 100_000;

/// The most links deep a sitemap source may follow.
pub const MAX_DEPTH: u8 = 3;
/// The most pages a sitemap source may read per poll.
pub const MAX_PAGES: u32 = 500;

fn default_every() -> String {
    "1h".into()
}

/// The shortest interval a source may ask for.
pub const MIN_EVERY_SECS: u64 = 60;

/// `90s`, `30m`, `1h`, `2d` as seconds.
pub fn parse_every(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?}: a number and s, m, h or d"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: a number and s, m, h or d")),
    };
    Ok(n.saturating_mul(mult))
}

impl SourceEntry {
    /// An entry with the defaults for everything but its name, URL and kind.
    pub fn new(name: &str, url: &str, kind: SourceKind) -> Self {
        Self {
            name: name.to_owned(),
            url: url.to_owned(),
            kind,
            every: default_every(),
            tags: Vec::new(),
            tz: None,
            allow_private: false,
            depth: default_depth(),
            max_pages: default_max_pages(),
            max_events: DEFAULT_MAX_EVENTS,
        }
    }

    /// The polling interval in seconds (checked at load).
    pub fn every_secs(&self) -> u64 {
        parse_every(&self.every).unwrap_or(3600).max(MIN_EVERY_SECS)
    }

    /// The floating-time zone (checked at load).
    pub fn zone(&self) -> Option<discal_protocol::Tz> {
        self.tz.as_deref().and_then(|z| z.parse().ok())
    }

    /// Every field within its rules.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |why: String| {
            Err(ConfigError::Invalid(format!(
                "source {:?}: {why}",
                self.name
            )))
        };
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad("a name is 1 to 64 letters, digits, '-', '_' or '.'".into());
        }
        if let Some(u) = from_webcal(&self.url) {
            return bad(format!(
                "url {:?}: write {u:?} (webcal:// is how calendar apps are handed an HTTP feed)",
                self.url
            ));
        }
        match reqwest::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(_) => return bad(format!("url {:?} is not an http(s) URL", self.url)),
            Err(e) => return bad(format!("url {:?}: {e}", self.url)),
        }
        match parse_every(&self.every) {
            Ok(s) if s >= MIN_EVERY_SECS => {}
            Ok(_) => return bad(format!("every = {:?}: at least 60s", self.every)),
            Err(e) => return bad(format!("every = {e}")),
        }
        if let Some(z) = &self.tz {
            if z.parse::<discal_protocol::Tz>().is_err() {
                return bad(format!("tz {z:?} is not an IANA time zone"));
            }
        }
        if self.depth > MAX_DEPTH || self.max_pages == 0 || self.max_pages > MAX_PAGES {
            return bad(format!(
                "depth is 0 to {MAX_DEPTH}, max_pages 1 to {MAX_PAGES}"
            ));
        }
        if self.max_events == 0 || self.max_events > MAX_EVENTS {
            return bad(format!("max_events is 1 to {MAX_EVENTS}"));
        }
        if self.tags.len() > 16 || self.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            return bad("at most 16 tags of 1 to 64 characters".into());
        }
        Ok(())
    }
}

/// A feed link as sites print it, `webcal://host/cal.ics` (or `webcals://`), as the HTTPS URL
/// it stands for: webcal is the scheme that hands a feed to a calendar app, HTTP underneath,
/// and HTTPS is what such a link means today. `None` for any other URL.
pub fn from_webcal(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    (scheme.eq_ignore_ascii_case("webcal") || scheme.eq_ignore_ascii_case("webcals"))
        .then(|| format!("https://{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webcal_links_stand_for_https() {
        assert_eq!(
            from_webcal("webcal://cal.example.org/a.ics?x=1").as_deref(),
            Some("https://cal.example.org/a.ics?x=1")
        );
        assert_eq!(
            from_webcal(" WEBCALS://cal.example.org/a.ics").as_deref(),
            Some("https://cal.example.org/a.ics")
        );
        assert_eq!(from_webcal("https://cal.example.org/a.ics"), None);
        // In a hand-written config the URL is not rewritten behind the operator's back.
        let e = SourceEntry::new("club", "webcal://cal.example.org/a.ics", SourceKind::Ics);
        let err = e.check().unwrap_err().to_string();
        assert!(
            err.contains("write \"https://cal.example.org/a.ics\""),
            "{err}"
        );
    }

    #[test]
    fn max_events_within_bounds() {
        let with = |n| SourceEntry {
            max_events: n,
            ..SourceEntry::new("club", "https://cal.example.org/a.ics", SourceKind::Ics)
        };
        assert!(with(1).check().is_ok());
        assert!(with(MAX_EVENTS).check().is_ok());
        for n in [0, MAX_EVENTS + 1] {
            let err = with(n).check().unwrap_err().to_string();
            assert!(err.contains("max_events is 1 to 100000"), "{err}");
        }
        // Left out of a config file, it is the default.
        let e: SourceEntry =
            toml::from_str("name = \"a\"\nurl = \"https://cal.example.org/a.ics\"").unwrap();
        assert_eq!(e.max_events, DEFAULT_MAX_EVENTS);
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_every("90s"), Ok(90));
        assert_eq!(parse_every("30m"), Ok(1800));
        assert_eq!(parse_every("1h"), Ok(3600));
        assert_eq!(parse_every("2d"), Ok(172_800));
        assert!(parse_every("1w").is_err());
        assert!(parse_every("h").is_err());
    }
}
