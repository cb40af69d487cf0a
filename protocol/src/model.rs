//! The event model: what one DisCal event (one origin, one UID) carries.
//!
//! It mirrors an iCalendar VEVENT and its RECURRENCE-ID overrides. The fields real public feeds
//! carry are typed; every other property is kept verbatim in `extra` so it survives a round trip.
//! These types are also the canonical signed content (see `docs/protocol.md`), so field order and
//! types here are part of the wire format: change them only with a new envelope version.

use bincode::{Decode, Encode};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A calendar date (proleptic Gregorian).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct Date {
    /// Year, e.g. 2026.
    pub year: i32,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
}

/// A wall-clock date and time with second precision (iCalendar has no fractions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct LocalDateTime {
    /// The date.
    pub date: Date,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=60 (60 only as a leap second, which is read as 59).
    pub second: u8,
}

impl Date {
    /// As a chrono date, or `None` if the fields do not name a real day.
    pub fn to_chrono(self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month.into(), self.day.into())
    }

    /// From a chrono date.
    pub fn from_chrono(d: NaiveDate) -> Self {
        // chrono guarantees month 1..=12 and day 1..=31, so the casts cannot truncate.
        Self {
            year: d.year(),
            month: d.month() as u8,
            day: d.day() as u8,
        }
    }
}

impl LocalDateTime {
    /// As a chrono value, or `None` if the fields are out of range.
    pub fn to_chrono(self) -> Option<NaiveDateTime> {
        let date = self.date.to_chrono()?;
        let time = NaiveTime::from_hms_opt(
            self.hour.into(),
            self.minute.into(),
            self.second.min(59).into(),
        )?;
        Some(date.and_time(time))
    }

    /// From a chrono value (sub-second precision is dropped).
    pub fn from_chrono(dt: NaiveDateTime) -> Self {
        Self {
            date: Date::from_chrono(dt.date()),
            hour: dt.hour() as u8,
            minute: dt.minute() as u8,
            second: dt.second() as u8,
        }
    }
}

/// An iCalendar DATE or DATE-TIME value in one of its four forms (RFC 5545 §3.3.4, §3.3.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum DateTimeValue {
    /// `VALUE=DATE`: an all-day value.
    Date(Date),
    /// Floating local time: the same wall clock in every zone.
    Floating(LocalDateTime),
    /// UTC (`…Z`).
    Utc(LocalDateTime),
    /// Local time in an IANA zone. Windows and vendor-prefixed TZIDs are mapped to IANA on import,
    /// so `tzid` is always an IANA name here.
    Zoned {
        /// Wall-clock time in the zone.
        local: LocalDateTime,
        /// IANA zone name, e.g. `Europe/Berlin`.
        tzid: String,
    },
}

impl DateTimeValue {
    /// The wall-clock date-time (midnight for a DATE).
    pub fn local(&self) -> LocalDateTime {
        match self {
            Self::Date(d) => LocalDateTime {
                date: *d,
                hour: 0,
                minute: 0,
                second: 0,
            },
            Self::Floating(l) | Self::Utc(l) | Self::Zoned { local: l, .. } => *l,
        }
    }

    /// A value of the same kind (and zone) at wall-clock time `local` (its date, for a DATE).
    pub fn with_local(&self, local: LocalDateTime) -> Self {
        match self {
            Self::Date(_) => Self::Date(local.date),
            Self::Floating(_) => Self::Floating(local),
            Self::Utc(_) => Self::Utc(local),
            Self::Zoned { tzid, .. } => Self::Zoned {
                local,
                tzid: tzid.clone(),
            },
        }
    }

    /// The IANA zone name, if the value is zoned.
    pub fn tzid(&self) -> Option<&str> {
        match self {
            Self::Zoned { tzid, .. } => Some(tzid),
            _ => None,
        }
    }

    /// True for an all-day value.
    pub fn is_date(&self) -> bool {
        matches!(self, Self::Date(_))
    }
}

/// An iCalendar DURATION (RFC 5545 §3.3.6): weeks and days are nominal (calendar days, which
/// can be 23 or 25 hours long across a DST change), hours/minutes/seconds are exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Encode, Decode)]
pub struct Duration {
    /// A leading `-`.
    pub negative: bool,
    /// Nominal weeks.
    pub weeks: u32,
    /// Nominal days.
    pub days: u32,
    /// Exact seconds (the H, M and S parts together).
    pub seconds: u32,
}

/// How an event's end is given: DTEND or DURATION (or neither; RFC 5545 §3.6.1 defaults apply).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum End {
    /// DTEND.
    At(DateTimeValue),
    /// DURATION.
    Duration(Duration),
}

/// STATUS of a VEVENT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum Status {
    /// TENTATIVE.
    Tentative,
    /// CONFIRMED.
    Confirmed,
    /// CANCELLED: the event stays in the store as a tombstone.
    Cancelled,
}

/// GEO: latitude and longitude in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Encode, Decode)]
pub struct Geo {
    /// -90..=90.
    pub lat: f64,
    /// -180..=180.
    pub lon: f64,
}

/// ORGANIZER: a calendar address with an optional display name (the CN parameter).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Organizer {
    /// Usually `mailto:…`.
    pub address: String,
    /// The CN parameter.
    pub common_name: Option<String>,
}

/// A property parameter, kept verbatim (unquoted).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Param {
    /// Upper-case parameter name.
    pub name: String,
    /// The value as it appeared, without surrounding double quotes.
    pub value: String,
}

/// A property DisCal does not interpret, kept verbatim so it survives a round trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub struct Property {
    /// Upper-case property name.
    pub name: String,
    /// Its parameters in their original order.
    pub params: Vec<Param>,
    /// The value exactly as it appeared in the iCalendar text (still escaped).
    pub value: String,
}

/// DisCal's property for the language an event is written in: one BCP 47 tag (`de`, `pt-BR`),
/// kept among [`Component::extra`] so the signed format stays as it is. On iCalendar output it
/// also becomes the LANGUAGE parameter of SUMMARY, DESCRIPTION and LOCATION (RFC 5545
/// §3.2.10), and a SUMMARY's LANGUAGE parameter on input sets it when the event has none.
pub const LANGUAGE_PROPERTY: &str = "X-DISCAL-LANGUAGE";

/// A BCP 47 language tag by its shape (RFC 5646 §2.1): a 2–8 letter primary subtag, then
/// subtags of 1–8 letters or digits, 35 characters at most.
pub fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let primary = parts.next().unwrap_or_default();
    s.len() <= 35
        && (2..=8).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// One VEVENT: the master, or an override of one recurrence instance.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct Component {
    /// RECURRENCE-ID: set on overrides only.
    pub recurrence_id: Option<DateTimeValue>,
    /// SUMMARY.
    pub summary: Option<String>,
    /// DESCRIPTION.
    pub description: Option<String>,
    /// DTSTART.
    pub start: DateTimeValue,
    /// DTEND or DURATION.
    pub end: Option<End>,
    /// RRULE, as its value text (validated to parse).
    pub rrule: Option<String>,
    /// RDATE values.
    pub rdates: Vec<DateTimeValue>,
    /// EXDATE values.
    pub exdates: Vec<DateTimeValue>,
    /// LOCATION.
    pub location: Option<String>,
    /// GEO.
    pub geo: Option<Geo>,
    /// URL.
    pub url: Option<String>,
    /// CATEGORIES (DisCal's tags), in order, without duplicates.
    pub categories: Vec<String>,
    /// STATUS.
    pub status: Option<Status>,
    /// ORGANIZER.
    pub organizer: Option<Organizer>,
    /// SEQUENCE.
    pub sequence: u32,
    /// DTSTAMP (UTC), if the source had one.
    pub dtstamp: Option<LocalDateTime>,
    /// X-REVISE-URL: where changes to this event are proposed.
    pub revise_url: Option<String>,
    /// Every other property, verbatim.
    pub extra: Vec<Property>,
}

impl Component {
    /// The event's language ([`LANGUAGE_PROPERTY`]), if it names one.
    pub fn language(&self) -> Option<&str> {
        self.extra
            .iter()
            .find(|p| p.name == LANGUAGE_PROPERTY)
            .map(|p| p.value.as_str())
    }

    /// A component with only a start; everything else empty.
    pub fn new(start: DateTimeValue) -> Self {
        Self {
            recurrence_id: None,
            summary: None,
            description: None,
            start,
            end: None,
            rrule: None,
            rdates: Vec::new(),
            exdates: Vec::new(),
            location: None,
            geo: None,
            url: None,
            categories: Vec::new(),
            status: None,
            organizer: None,
            sequence: 0,
            dtstamp: None,
            revise_url: None,
            extra: Vec::new(),
        }
    }

    /// True if this component recurs (RRULE or RDATE).
    pub fn is_recurring(&self) -> bool {
        self.rrule.is_some() || !self.rdates.is_empty()
    }
}

/// Everything the origin says about one event: the master VEVENT and its overrides.
/// The UID lives in the envelope header, not here.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct EventContent {
    /// The VEVENT without RECURRENCE-ID.
    pub master: Component,
    /// VEVENTs with the same UID and a RECURRENCE-ID.
    pub overrides: Vec<Component>,
}

impl EventContent {
    /// A one-off event with just a start.
    pub fn new(master: Component) -> Self {
        Self {
            master,
            overrides: Vec::new(),
        }
    }

    /// True if the whole event is cancelled (a tombstone).
    pub fn is_cancelled(&self) -> bool {
        self.master.status == Some(Status::Cancelled)
    }

    /// All components, master first.
    pub fn components(&self) -> impl Iterator<Item = &Component> {
        std::iter::once(&self.master).chain(self.overrides.iter())
    }
}
