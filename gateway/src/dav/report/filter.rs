//! calendar-query filters (RFC 4791 §9.7) evaluated over an event's calendar object: the
//! components, properties and parameters a client names, each present or `is-not-defined`,
//! with `text-match` in the collations clients send and `time-range` on components and on
//! date-time properties.
//!
//! The VEVENT's own `time-range` is not evaluated here: the store's query answers it against
//! the recurrence instances (a moved instance is found where it moved), which this tree of
//! written properties cannot do.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use icalendar::parser::{Calendar, Component, Property};

use crate::dav::error::DavError;
use crate::dav::objects::parse_utc;
use crate::dav::xml::{El, CALDAV};

/// A `time-range`: either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Range {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
}

/// A `comp-filter`.
#[derive(Debug, Default)]
pub(super) struct CompFilter {
    pub name: String,
    pub not_defined: bool,
    pub range: Option<Range>,
    props: Vec<PropFilter>,
    pub comps: Vec<CompFilter>,
}

#[derive(Debug)]
struct PropFilter {
    name: String,
    not_defined: bool,
    range: Option<Range>,
    text: Option<TextMatch>,
    params: Vec<ParamFilter>,
}

#[derive(Debug)]
struct ParamFilter {
    name: String,
    not_defined: bool,
    text: Option<TextMatch>,
}

#[derive(Debug)]
struct TextMatch {
    /// Already folded by the collation.
    text: String,
    collation: Collation,
    negate: bool,
}

/// The collations of RFC 4790 that RFC 4791 §7.5 names or clients send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Collation {
    Octet,
    AsciiCasemap,
    UnicodeCasemap,
}

impl Collation {
    fn fold(self, s: &str) -> String {
        match self {
            Self::Octet => s.to_owned(),
            Self::AsciiCasemap => s.to_ascii_lowercase(),
            Self::UnicodeCasemap => s.to_lowercase(),
        }
    }
}

pub(super) fn range(el: &El) -> Result<Range, DavError> {
    let bad = || {
        DavError::BadRequest(
            "time-range start/end must be UTC date-times (YYYYMMDDTHHMMSSZ)".into(),
        )
    };
    let at = |name| match el.attr(name) {
        Some(s) => parse_utc(s).map(Some).ok_or_else(bad),
        None => Ok(None),
    };
    let r = Range {
        start: at("start")?,
        end: at("end")?,
    };
    if let (Some(a), Some(b)) = (r.start, r.end) {
        if b <= a {
            return Err(DavError::BadRequest(
                "time-range end must be after start".into(),
            ));
        }
    }
    Ok(r)
}

fn text_match(el: &El) -> Result<TextMatch, DavError> {
    let collation = match el.attr("collation").unwrap_or("i;ascii-casemap") {
        "i;octet" => Collation::Octet,
        "i;ascii-casemap" => Collation::AsciiCasemap,
        "i;unicode-casemap" => Collation::UnicodeCasemap,
        other => {
            return Err(DavError::condition(
                "<C:supported-collation/>",
                &format!("collation {other:?} is not supported (i;octet, i;ascii-casemap, i;unicode-casemap are)"),
            ))
        }
    };
    Ok(TextMatch {
        text: collation.fold(&el.text),
        collation,
        negate: el.attr("negate-condition") == Some("yes"),
    })
}

fn name_of(el: &El) -> Result<String, DavError> {
    el.attr("name")
        .filter(|n| !n.is_empty())
        .map(str::to_ascii_uppercase)
        .ok_or_else(|| DavError::BadRequest(format!("{} needs a name", el.name)))
}

/// The most elements one filter may have. Each is evaluated on every event of the range, so
/// their number multiplies a query's cost; clients send a handful.
pub const MAX_FILTER_ELEMENTS: usize = 64;

fn elements(el: &El) -> usize {
    1 + el.children.iter().map(elements).sum::<usize>()
}

impl CompFilter {
    /// Reads a `comp-filter` element; anything RFC 4791 §9.7.1 does not allow inside it is
    /// refused with `C:supported-filter`, and so is a filter of more than
    /// [`MAX_FILTER_ELEMENTS`] elements.
    pub fn parse_filter(el: &El) -> Result<Self, DavError> {
        if elements(el) > MAX_FILTER_ELEMENTS {
            return Err(DavError::condition(
                "<C:supported-filter/>",
                &format!("a filter may have at most {MAX_FILTER_ELEMENTS} elements"),
            ));
        }
        Self::parse(el)
    }

    fn parse(el: &El) -> Result<Self, DavError> {
        let mut f = Self {
            name: name_of(el)?,
            ..Self::default()
        };
        for c in el.children.iter().filter(|c| c.ns == CALDAV) {
            match c.name.as_str() {
                "is-not-defined" => f.not_defined = true,
                "time-range" => f.range = Some(range(c)?),
                "prop-filter" => f.props.push(PropFilter::parse(c)?),
                "comp-filter" => f.comps.push(Self::parse(c)?),
                other => return Err(DavError::unsupported_filter(other)),
            }
        }
        Ok(f)
    }

    /// True if the filter needs more than the VEVENT's time range, which the store answers.
    pub fn needs_objects(&self) -> bool {
        !self.props.is_empty()
            || self.comps.iter().any(|c| {
                c.name != "VEVENT" || c.not_defined || !c.props.is_empty() || !c.comps.is_empty()
            })
    }

    /// True if no object of this server (VTIMEZONEs and VEVENTs only) can match: a VCALENDAR
    /// that must be missing, or a component other than those that must be present.
    pub fn matches_nothing(&self) -> bool {
        self.not_defined
            || self.comps.iter().any(|c| {
                c.not_defined && c.name == "VEVENT"
                    || !c.not_defined && c.name != "VEVENT" && c.name != "VTIMEZONE"
            })
    }

    /// Evaluates this filter (naming VCALENDAR) on one calendar object.
    pub fn matches_calendar(&self, cal: &Calendar<'_>) -> bool {
        if self.not_defined {
            return false;
        }
        // A prop-filter on VCALENDAR naming an event's property (python caldav's search
        // without a component type) is read as meant: on the calendar's events.
        self.props.iter().all(|p| {
            p.matches(&cal.properties)
                || cal
                    .components
                    .iter()
                    .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"))
                    .any(|c| p.matches(&c.properties))
        }) && self
            .comps
            .iter()
            .all(|f| f.matches_in(&cal.components, None))
    }

    /// True if some component of `comps` named by this filter matches it (or, with
    /// `is-not-defined`, none is there). `parent` is the component they are in, for ranges.
    fn matches_in(&self, comps: &[Component<'_>], parent: Option<&Component<'_>>) -> bool {
        let mut named = comps
            .iter()
            .filter(|c| c.name.as_str().eq_ignore_ascii_case(&self.name));
        if self.not_defined {
            return named.next().is_none();
        }
        named.any(|c| self.matches_one(c, parent))
    }

    fn matches_one(&self, c: &Component<'_>, parent: Option<&Component<'_>>) -> bool {
        // The VEVENT's range was the store's (module note).
        let in_range = match self.range {
            Some(r) if self.name != "VEVENT" => {
                component_span(c, parent).is_some_and(|(s, e)| overlaps(r, s, e))
            }
            _ => true,
        };
        in_range
            && self.props.iter().all(|p| p.matches(&c.properties))
            && self
                .comps
                .iter()
                .all(|f| f.matches_in(&c.components, Some(c)))
    }
}

impl PropFilter {
    fn parse(el: &El) -> Result<Self, DavError> {
        let mut f = Self {
            name: name_of(el)?,
            not_defined: false,
            range: None,
            text: None,
            params: Vec::new(),
        };
        for c in el.children.iter().filter(|c| c.ns == CALDAV) {
            match c.name.as_str() {
                "is-not-defined" => f.not_defined = true,
                "time-range" => f.range = Some(range(c)?),
                "text-match" => f.text = Some(text_match(c)?),
                "param-filter" => f.params.push(ParamFilter::parse(c)?),
                other => return Err(DavError::unsupported_filter(other)),
            }
        }
        Ok(f)
    }

    fn matches(&self, props: &[Property<'_>]) -> bool {
        let mut named = props
            .iter()
            .filter(|p| p.name.as_str().eq_ignore_ascii_case(&self.name));
        if self.not_defined {
            return named.next().is_none();
        }
        named.any(|p| {
            self.range
                .is_none_or(|r| value_time(p).is_some_and(|t| overlaps(r, t, t)))
                && self
                    .text
                    .as_ref()
                    .is_none_or(|t| t.matches(&unescape(p.val.as_str())))
                && self.params.iter().all(|f| f.matches(p))
        })
    }
}

impl ParamFilter {
    fn parse(el: &El) -> Result<Self, DavError> {
        let mut f = Self {
            name: name_of(el)?,
            not_defined: false,
            text: None,
        };
        for c in el.children.iter().filter(|c| c.ns == CALDAV) {
            match c.name.as_str() {
                "is-not-defined" => f.not_defined = true,
                "text-match" => f.text = Some(text_match(c)?),
                other => return Err(DavError::unsupported_filter(other)),
            }
        }
        Ok(f)
    }

    fn matches(&self, p: &Property<'_>) -> bool {
        let mut named = p
            .params
            .iter()
            .filter(|q| q.key.as_str().eq_ignore_ascii_case(&self.name));
        if self.not_defined {
            return named.next().is_none();
        }
        named.any(|q| {
            self.text.as_ref().is_none_or(|t| {
                t.matches(q.val.as_ref().map_or("", |v| v.as_str().trim_matches('"')))
            })
        })
    }
}

impl TextMatch {
    fn matches(&self, value: &str) -> bool {
        let found = self.collation.fold(value).contains(self.text.as_str());
        found != self.negate
    }
}

/// A TEXT value as written, without its escapes (RFC 5545 §3.3.11).
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A property's DATE or DATE-TIME value as an instant: UTC as written, floating and zoned
/// times in UTC (the objects this server writes carry UTC stamps; a zoned DTSTART is matched
/// by the store's range on the VEVENT, not here).
fn value_time(p: &Property<'_>) -> Option<DateTime<Utc>> {
    let v = p.val.as_str().trim();
    let v = v.split('/').next().unwrap_or(v);
    if let Some(t) = parse_utc(v) {
        return Some(t);
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S") {
        return Some(Utc.from_utc_datetime(&t));
    }
    NaiveDate::parse_from_str(v, "%Y%m%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Utc.from_utc_datetime(&t))
}

/// The span of a component other than the VEVENT: its DTSTART to its DTEND, DUE or
/// DTSTART + DURATION; a VALARM's absolute TRIGGER, or its TRIGGER relative to the parent's
/// start (or end, with `RELATED=END`).
fn component_span(
    c: &Component<'_>,
    parent: Option<&Component<'_>>,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    fn prop<'b, 'a>(c: &'b Component<'a>, n: &str) -> Option<&'b Property<'a>> {
        c.properties
            .iter()
            .find(|p| p.name.as_str().eq_ignore_ascii_case(n))
    }
    let time = |c: &Component<'_>, n: &str| prop(c, n).and_then(value_time);
    if c.name.as_str().eq_ignore_ascii_case("VALARM") {
        let trigger = prop(c, "TRIGGER")?;
        if let Some(t) = value_time(trigger) {
            return Some((t, t));
        }
        let offset = duration(trigger.val.as_str())?;
        let related_end = trigger.params.iter().any(|q| {
            q.key.as_str().eq_ignore_ascii_case("RELATED")
                && q.val
                    .as_ref()
                    .is_some_and(|v| v.as_str().eq_ignore_ascii_case("END"))
        });
        let parent = parent?;
        let base = if related_end {
            time(parent, "DTEND").or_else(|| time(parent, "DUE"))?
        } else {
            time(parent, "DTSTART")?
        };
        let t = base.checked_add_signed(offset)?;
        return Some((t, t));
    }
    let start = time(c, "DTSTART")?;
    let end = time(c, "DTEND")
        .or_else(|| time(c, "DUE"))
        .or_else(|| start.checked_add_signed(duration(prop(c, "DURATION")?.val.as_str())?))
        .unwrap_or(start);
    Some((start, end))
}

/// A DURATION as a span of time (its days as 24 hours: the times here are UTC).
fn duration(v: &str) -> Option<chrono::TimeDelta> {
    let d = discal_protocol::ics::parse_duration(v).ok()?;
    let secs = (i64::from(d.weeks) * 7 + i64::from(d.days)) * 86_400 + i64::from(d.seconds);
    chrono::TimeDelta::try_seconds(if d.negative { -secs } else { secs })
}

/// RFC 4791 §9.9: a span overlaps the range if it starts before the range's end and ends
/// after its start (an instant: at or after the start).
fn overlaps(r: Range, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
    let before_end = r.end.is_none_or(|e| start < e);
    let after_start = r
        .start
        .is_none_or(|s| if end > start { end > s } else { start >= s });
    before_end && after_start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dav::xml::parse;

    fn filter(xml: &str) -> Result<CompFilter, DavError> {
        let doc = format!(r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav">{xml}</C:filter>"#);
        let root = parse(doc.as_bytes()).unwrap();
        CompFilter::parse_filter(root.child(CALDAV, "comp-filter").unwrap())
    }

    const CAL: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n\
        UID:a@x\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270110T100000Z\r\n\
        SUMMARY:Rust\\, Linux & Friends\r\nCATEGORIES:Meetup,Linux\r\n\
        ATTENDEE;PARTSTAT=ACCEPTED;CN=\"Ana\":mailto:ana@example.org\r\n\
        BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn matches(xml: &str) -> bool {
        let f = filter(xml).unwrap();
        let text = icalendar::parser::unfold(CAL);
        let cal = icalendar::parser::read_calendar(&text).unwrap();
        f.matches_calendar(&cal)
    }

    fn ev(inner: &str) -> String {
        format!(
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">{inner}</C:comp-filter></C:comp-filter>"#
        )
    }

    #[test]
    fn properties_present_or_not_defined() {
        assert!(matches(&ev(r#"<C:prop-filter name="CATEGORIES"/>"#)));
        assert!(!matches(&ev(
            r#"<C:prop-filter name="CATEGORIES"><C:is-not-defined/></C:prop-filter>"#
        )));
        assert!(matches(&ev(
            r#"<C:prop-filter name="CLASS"><C:is-not-defined/></C:prop-filter>"#
        )));
        assert!(!matches(&ev(r#"<C:prop-filter name="DTEND"/>"#)));
    }

    #[test]
    fn text_matches_in_each_collation_and_unescaped() {
        let text = |t: &str, coll: &str| {
            matches(&ev(&format!(
                r#"<C:prop-filter name="SUMMARY"><C:text-match collation="{coll}">{t}</C:text-match></C:prop-filter>"#
            )))
        };
        assert!(text("rust, linux", "i;ascii-casemap"));
        assert!(!text("rust, linux", "i;octet"));
        assert!(text("Rust, Linux", "i;octet"));
        assert!(text("FRIENDS", "i;unicode-casemap"));
        assert!(matches(&ev(
            r#"<C:prop-filter name="SUMMARY"><C:text-match negate-condition="yes">python</C:text-match></C:prop-filter>"#
        )));
        assert!(matches!(
            filter(&ev(
                r#"<C:prop-filter name="SUMMARY"><C:text-match collation="x;klingon">a</C:text-match></C:prop-filter>"#
            )),
            Err(DavError::Precondition(c)) if c.contains("supported-collation")
        ));
    }

    #[test]
    fn parameters_and_nested_components() {
        assert!(matches(&ev(
            r#"<C:prop-filter name="ATTENDEE"><C:param-filter name="PARTSTAT"><C:text-match>accepted</C:text-match></C:param-filter></C:prop-filter>"#
        )));
        assert!(matches(&ev(
            r#"<C:prop-filter name="ATTENDEE"><C:param-filter name="ROLE"><C:is-not-defined/></C:param-filter></C:prop-filter>"#
        )));
        // The alarm fires at 09:45.
        let alarm = |s: &str, e: &str| {
            matches(&ev(&format!(
                r#"<C:comp-filter name="VALARM"><C:time-range start="{s}" end="{e}"/></C:comp-filter>"#
            )))
        };
        assert!(alarm("20270110T094000Z", "20270110T095000Z"));
        assert!(!alarm("20270110T095000Z", "20270110T110000Z"));
        assert!(!matches(&ev(
            r#"<C:comp-filter name="VALARM"><C:is-not-defined/></C:comp-filter>"#
        )));
        // A property's own range.
        assert!(matches(&ev(
            r#"<C:prop-filter name="DTSTAMP"><C:time-range start="20261231T000000Z" end="20270102T000000Z"/></C:prop-filter>"#
        )));
    }

    #[test]
    fn a_filter_of_too_many_elements_is_refused() {
        let many =
            r#"<C:prop-filter name="SUMMARY"><C:text-match>x</C:text-match></C:prop-filter>"#
                .repeat(40);
        assert!(matches!(
            filter(&ev(&many)),
            Err(DavError::Precondition(c)) if c.contains("at most 64")
        ));
    }

    #[test]
    fn a_search_without_a_component_reads_the_events() {
        assert!(matches(
            r#"<C:comp-filter name="VCALENDAR"><C:prop-filter name="SUMMARY"><C:text-match>friends</C:text-match></C:prop-filter></C:comp-filter>"#
        ));
        assert!(matches(
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"><C:is-not-defined/></C:comp-filter></C:comp-filter>"#
        ));
        let todo = filter(
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter>"#,
        )
        .unwrap();
        assert!(todo.matches_nothing());
    }
}
