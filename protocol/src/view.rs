//! Personal views by URL: the one filter every read format shares (ICS, JSCalendar, Atom, HTML
//! embeds, CalDAV view collections). It is parsed strictly from query-string pairs, so a typo in
//! a subscription URL is a clear 400 and not a silently unfiltered calendar.
//!
//! Pure: "today" for `days=` and the default windows is a parameter.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::keys::NodeKey;

/// The parameters every format accepts.
pub const COMMON_PARAMS: &[&str] = &[
    "tags",
    "exclude_tags",
    "near",
    "radius_km",
    "from",
    "to",
    "days",
    "origin",
    "q",
    "place",
    "tz",
    "lang",
    "limit",
    "offset",
];

/// Longest window a view may ask for, in days (expansion work grows with it).
pub const MAX_DAYS: i64 = 3660;
/// The first year any window may reach (dates before it are refused, windows clamped to it).
pub const FIRST_YEAR: i32 = 1900;
/// The year no window reaches (a window ends at its first instant at the latest).
pub const END_YEAR: i32 = 2200;

/// `[1900-01-01, 2200-01-01)` in UTC: every window, of every format and CalDAV, lies within.
/// Bounded years also keep every date computation far from chrono's limits.
pub fn limits() -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |y| {
        Utc.with_ymd_and_hms(y, 1, 1, 0, 0, 0)
            .single()
            .unwrap_or_default()
    };
    (at(FIRST_YEAR), at(END_YEAR))
}

/// The one rule for windows with open ends, shared by the views and CalDAV time ranges: a
/// missing end lies [`MAX_DAYS`] from the given one, a window is at most [`MAX_DAYS`] long
/// (cut at its end), and it lies within [`limits`]. `None` when no end is given or nothing is
/// left.
pub fn bounded_window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let span = Duration::days(MAX_DAYS);
    let (lo, hi) = limits();
    let (from, to) = match (from, to) {
        (None, None) => return None,
        (Some(f), None) => (f, f.checked_add_signed(span).unwrap_or(hi)),
        (None, Some(t)) => (t.checked_sub_signed(span).unwrap_or(lo), t),
        (Some(f), Some(t)) => (f, t.min(f.checked_add_signed(span).unwrap_or(hi))),
    };
    let (from, to) = (from.clamp(lo, hi), to.clamp(lo, hi));
    (from < to).then_some((from, to))
}
/// Radius used when `near=` comes without `radius_km=`.
pub const DEFAULT_RADIUS_KM: f64 = 25.0;
/// Tags per list and characters per text value.
const MAX_TAGS: usize = 32;
const MAX_TEXT: usize = 200;

/// A language the HTML views are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// German.
    De,
}

impl Lang {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }
}

/// A date or an instant, as `from=`/`to=` accept them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A calendar day, read in the view's zone (start of that day).
    Date(NaiveDate),
    /// An exact instant (RFC 3339).
    Instant(DateTime<Utc>),
}

/// Query pairs a format handles itself, in the order given.
pub type Params<'a> = Vec<(&'a str, &'a str)>;

/// A parsed personal view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewFilter {
    /// Any of these tags (lower-cased).
    pub tags: Vec<String>,
    /// None of these tags.
    pub exclude_tags: Vec<String>,
    /// Centre (lat, lon) and radius in km.
    pub near: Option<((f64, f64), f64)>,
    /// Window start.
    pub from: Option<Bound>,
    /// Window end (exclusive).
    pub to: Option<Bound>,
    /// Window of this many days from today (in `tz`).
    pub days: Option<u32>,
    /// Only this origin's events.
    pub origin: Option<NodeKey>,
    /// Text to find in title, description or place.
    pub q: Option<String>,
    /// Case-insensitive substring of the event's place (LOCATION): "Berlin", "Hackerspace".
    pub place: Option<String>,
    /// Display zone; also the zone dates in `from`/`to`/`days` and floating times are read in.
    pub tz: Option<Tz>,
    /// Language of the HTML views.
    pub lang: Lang,
    /// At most this many events (the format's default when `None`).
    pub limit: Option<usize>,
    /// Skip this many events (pagination).
    pub offset: usize,
}

/// A parameter that is unknown or has a bad value; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// Not a parameter of this format.
    #[error("unknown parameter {0:?} (known: {1})")]
    Unknown(String, String),
    /// Given more than once.
    #[error("parameter {0:?} is given more than once")]
    Repeated(String),
    /// A value that does not parse or is out of range.
    #[error("parameter {name:?}: {reason}")]
    Invalid {
        /// The parameter.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(name: &str, reason: impl Into<String>) -> ViewError {
    ViewError::Invalid {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

fn list(name: &str, v: &str) -> Result<Vec<String>, ViewError> {
    let out: Vec<String> = v
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if out.len() > MAX_TAGS {
        return Err(invalid(name, format!("at most {MAX_TAGS} tags")));
    }
    if out.iter().any(|t| t.chars().count() > MAX_TEXT) {
        return Err(invalid(
            name,
            format!("a tag is longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(out)
}

fn bound(name: &str, v: &str) -> Result<Bound, ViewError> {
    let b = match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) => Bound::Date(d),
        Err(_) => DateTime::parse_from_rfc3339(v)
            .map(|t| Bound::Instant(t.with_timezone(&Utc)))
            .map_err(|_| invalid(name, "expected YYYY-MM-DD or an RFC 3339 time"))?,
    };
    let year = match b {
        Bound::Date(d) => d.year(),
        Bound::Instant(t) => t.year(),
    };
    if !(FIRST_YEAR..END_YEAR).contains(&year) {
        return Err(invalid(
            name,
            format!("dates from {FIRST_YEAR} to {} only", END_YEAR - 1),
        ));
    }
    Ok(b)
}

fn number<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ViewError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(name, format!("{v:?} is not a number")))
}

/// Parses `lat,lon`.
pub fn parse_point(v: &str) -> Option<(f64, f64)> {
    let (a, b) = v.split_once(',')?;
    let (lat, lon): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

impl ViewFilter {
    /// Parses query pairs. Parameters in [`COMMON_PARAMS`] fill the filter; those named in
    /// `extra` (format-specific, e.g. `view` for embeds) are handed back in order; anything
    /// else is an error naming it.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        extra: &[&str],
    ) -> Result<(Self, Params<'a>), ViewError> {
        let mut f = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut rest = Vec::new();
        let mut geo = (None, None);
        for (k, v) in pairs {
            if seen.contains(&k) {
                return Err(ViewError::Repeated(k.to_owned()));
            }
            if v.chars().count() > 1000 {
                return Err(invalid(k, "value is too long"));
            }
            if !f.apply(k, v, &mut geo)? {
                if !extra.contains(&k) {
                    let mut known: Vec<&str> = COMMON_PARAMS.to_vec();
                    known.extend_from_slice(extra);
                    return Err(ViewError::Unknown(k.to_owned(), known.join(", ")));
                }
                rest.push((k, v));
            }
            seen.push(k);
        }
        f.check_combined(geo)?;
        Ok((f, rest))
    }

    /// Sets one common parameter; false if `k` is not one. `geo` collects `near` and
    /// `radius_km`, which only make sense together.
    fn apply(
        &mut self,
        k: &str,
        v: &str,
        geo: &mut (Option<(f64, f64)>, Option<f64>),
    ) -> Result<bool, ViewError> {
        match k {
            "tags" => self.tags = list(k, v)?,
            "exclude_tags" => self.exclude_tags = list(k, v)?,
            "near" => {
                geo.0 =
                    Some(parse_point(v).ok_or_else(|| {
                        invalid(k, "expected LAT,LON in degrees, e.g. 52.52,13.40")
                    })?)
            }
            "radius_km" => {
                let r: f64 = number(k, v)?;
                if !(r > 0.0 && r <= 20_000.0) {
                    return Err(invalid(k, "must be between 0 and 20000"));
                }
                geo.1 = Some(r);
            }
            "from" => self.from = Some(bound(k, v)?),
            "to" => self.to = Some(bound(k, v)?),
            "days" => {
                let d: u32 = number(k, v)?;
                if d == 0 || i64::from(d) > MAX_DAYS {
                    return Err(invalid(k, format!("must be 1 to {MAX_DAYS}")));
                }
                self.days = Some(d);
            }
            "origin" => {
                self.origin = Some(v.parse().map_err(|e| invalid(k, format!("{e}")))?);
            }
            "q" | "place" => {
                let t = v.trim();
                if t.chars().count() > MAX_TEXT {
                    return Err(invalid(k, format!("at most {MAX_TEXT} characters")));
                }
                let t = (!t.is_empty()).then(|| t.to_owned());
                if k == "q" {
                    self.q = t;
                } else {
                    self.place = t;
                }
            }
            "tz" => {
                self.tz = Some(
                    crate::tz::resolve_tzid(v)
                        .ok_or_else(|| invalid(k, format!("{v:?} is not an IANA time zone")))?,
                );
            }
            "lang" => {
                self.lang = match v {
                    "en" => Lang::En,
                    "de" => Lang::De,
                    _ => return Err(invalid(k, "supported: en, de")),
                }
            }
            "limit" => {
                let n: usize = number(k, v)?;
                if n == 0 {
                    return Err(invalid(k, "must be at least 1"));
                }
                self.limit = Some(n);
            }
            "offset" => self.offset = number(k, v)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The checks across parameters: `radius_km` needs `near`, `days` and `to` exclude each
    /// other, and a window runs forward and is at most [`MAX_DAYS`] long.
    fn check_combined(&mut self, geo: (Option<(f64, f64)>, Option<f64>)) -> Result<(), ViewError> {
        match geo {
            (Some(c), r) => self.near = Some((c, r.unwrap_or(DEFAULT_RADIUS_KM))),
            (None, Some(_)) => return Err(invalid("radius_km", "needs near=LAT,LON")),
            (None, None) => {}
        }
        if self.days.is_some() && self.to.is_some() {
            return Err(invalid("days", "give either days= or to=, not both"));
        }
        if let (Some(a), Some(b)) = (self.from, self.to) {
            let (a, b) = (self.instant(a), self.instant(b));
            if b <= a {
                return Err(invalid("to", "must be after from"));
            }
            if b - a > Duration::days(MAX_DAYS) {
                return Err(invalid(
                    "to",
                    format!("the window is longer than {MAX_DAYS} days"),
                ));
            }
        }
        Ok(())
    }

    /// The zone dates are read in (UTC when none was asked for).
    pub fn zone(&self) -> Tz {
        self.tz.unwrap_or(Tz::UTC)
    }

    fn instant(&self, b: Bound) -> DateTime<Utc> {
        match b {
            Bound::Instant(t) => t,
            Bound::Date(d) => {
                crate::recur::resolve_local(d.and_hms_opt(0, 0, 0).unwrap_or_default(), self.zone())
            }
        }
    }

    /// True if the view depends on today's date (`days=`, or no window so `default_days`
    /// applies): such answers change at midnight even when the store does not.
    pub fn is_relative(&self, default_days: Option<u32>) -> bool {
        self.days.is_some() || (self.from.is_none() && self.to.is_none() && default_days.is_some())
    }

    /// The time window `[from, to)`, if the view has one. `today` is the current date in the
    /// view's zone; `default_days` applies when the view names no window (the HTML views
    /// show what is coming; feeds have no default and list everything).
    pub fn window(
        &self,
        today: NaiveDate,
        default_days: Option<u32>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start_of = |d: NaiveDate| self.instant(Bound::Date(d));
        let from = match self.from {
            Some(b) => Some(self.instant(b)),
            None if self.days.is_some() || (self.to.is_none() && default_days.is_some()) => {
                Some(start_of(today))
            }
            None => None,
        };
        let days = self.days.or(if self.to.is_none() {
            default_days
        } else {
            None
        });
        let to = match (self.to, from, days) {
            (Some(b), _, _) => Some(self.instant(b)),
            (None, Some(f), Some(d)) => Some(f + Duration::days(d.into())),
            (None, Some(f), None) => Some(f + Duration::days(MAX_DAYS)),
            (None, None, _) => None,
        };
        // A view with `to=` alone reaches back MAX_DAYS, not to the start of time.
        bounded_window(from, to)
    }

    /// True if a point lies within the `near` circle (always true without one).
    pub fn within(&self, geo: Option<(f64, f64)>) -> bool {
        match (self.near, geo) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((c, r)), Some(p)) => distance_km(c, p) <= r,
        }
    }

    /// The bounding box (south, west, north, east) of the `near` circle, for an index lookup.
    pub fn near_box(&self) -> Option<(f64, f64, f64, f64)> {
        let ((lat, lon), r) = self.near?;
        let dlat = r / 111.0;
        let south = (lat - dlat).max(-90.0);
        let north = (lat + dlat).min(90.0);
        let coslat = lat
            .abs()
            .max(south.abs())
            .max(north.abs())
            .to_radians()
            .cos();
        if coslat < 1e-6 || r / (111.0 * coslat) >= 180.0 {
            return Some((south, -180.0, north, 180.0));
        }
        let dlon = r / (111.0 * coslat);
        let wrap = |x: f64| {
            if x > 180.0 {
                x - 360.0
            } else if x < -180.0 {
                x + 360.0
            } else {
                x
            }
        };
        Some((south, wrap(lon - dlon), north, wrap(lon + dlon)))
    }
}

/// Great-circle distance in km between two (lat, lon) points in degrees.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<ViewFilter, ViewError> {
        ViewFilter::parse(q.iter().copied(), &[]).map(|(f, _)| f)
    }

    /// The hardening review's open-ended window: `to=2200-01-01` alone started the window in
    /// 1970. Every window is now at most MAX_DAYS long and within 1900..2200, and dates at
    /// the ends of chrono's calendar are refused, not computed with.
    #[test]
    fn open_windows_are_bounded_and_far_dates_refused() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let f = parse(&[("to", "2199-12-31")]).unwrap();
        let (a, b) = f.window(today, None).unwrap();
        assert_eq!(b - a, Duration::days(MAX_DAYS));
        assert!(a.year() >= 2189, "{a}");
        for bad in [
            "2200-01-01",
            "9999-12-31",
            "1899-12-31",
            "+10000-01-01",
            "-0001-01-01",
        ] {
            assert!(parse(&[("to", bad)]).is_err(), "{bad}");
            assert!(parse(&[("from", bad)]).is_err(), "{bad}");
        }
        assert!(parse(&[("from", "9999-12-31T23:59:59Z")]).is_err());
        // A window running past 2200 stops there.
        let f = parse(&[("from", "2199-06-01"), ("days", "3000")]).unwrap();
        let (_, b) = f.window(today, None).unwrap();
        assert_eq!(b, limits().1);
        // CalDAV's open ends follow the same rule.
        let (lo, hi) = limits();
        assert_eq!(
            bounded_window(None, Some(hi)).unwrap().0,
            hi - Duration::days(MAX_DAYS)
        );
        assert_eq!(
            bounded_window(Some(lo), Some(hi)).unwrap().1,
            lo + Duration::days(MAX_DAYS)
        );
        assert_eq!(bounded_window(Some(hi), None), None);
        assert_eq!(bounded_window(None, None), None);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (q, name) in [
            (vec![("tag", "x")], "tag"),
            (vec![("near", "91,0")], "near"),
            (vec![("radius_km", "5")], "radius_km"),
            (vec![("near", "1,1"), ("radius_km", "-1")], "radius_km"),
            (vec![("from", "2026-13-01")], "from"),
            (vec![("from", "2026-02-01"), ("to", "2026-01-01")], "to"),
            (vec![("days", "0")], "days"),
            (vec![("days", "7"), ("to", "2027-01-01")], "days"),
            (vec![("origin", "nope")], "origin"),
            (vec![("tz", "Mars/Olympus")], "tz"),
            (vec![("lang", "fr")], "lang"),
            (vec![("limit", "0")], "limit"),
            (vec![("tags", "a"), ("tags", "b")], "tags"),
        ] {
            let e = parse(&q).unwrap_err().to_string();
            assert!(e.contains(&format!("{name:?}")), "{q:?}: {e}");
        }
    }

    #[test]
    fn windows_are_read_in_the_zone() {
        let f = parse(&[
            ("from", "2026-03-01"),
            ("to", "2026-04-01"),
            ("tz", "Europe/Berlin"),
        ])
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let (a, b) = f.window(today, None).unwrap();
        assert_eq!(a.to_rfc3339(), "2026-02-28T23:00:00+00:00");
        assert_eq!(b.to_rfc3339(), "2026-03-31T22:00:00+00:00");
        let f = parse(&[("days", "7")]).unwrap();
        let (a, b) = f.window(today, None).unwrap();
        assert_eq!((b - a).num_days(), 7);
        assert!(f.is_relative(None));
        assert!(parse(&[]).unwrap().window(today, None).is_none());
        let (a, _) = parse(&[]).unwrap().window(today, Some(30)).unwrap();
        assert_eq!(a.date_naive(), today);
    }

    #[test]
    fn near_uses_the_real_distance() {
        let f = parse(&[("near", "52.52,13.40"), ("radius_km", "50")]).unwrap();
        assert!(f.within(Some((52.40, 13.06)))); // Potsdam, ~27 km
        assert!(!f.within(Some((53.55, 9.99)))); // Hamburg
        assert!(!f.within(None));
        let (s, w, n, e) = f.near_box().unwrap();
        assert!(s < 52.40 && n > 52.40 && w < 13.06 && e > 13.06);
    }
}
