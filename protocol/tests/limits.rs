//! The property limits, on the shapes real exports have: a long-running series with many
//! overrides (Google's holiday calendars) is taken whole; one component stuffed with
//! properties is refused, naming the limit.

use discal_protocol::{ics, Limits, NodeSecret};

fn cal(body: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n")
}

/// A VEVENT with the properties Google writes on each instance of a holiday series.
fn google_like(extra: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:holiday@example.org\r\nDTSTAMP:20261201T000000Z\r\n{extra}\
         CLASS:PUBLIC\r\nCREATED:20060120T231645Z\r\nDESCRIPTION:\r\n\
         LAST-MODIFIED:20060120T231646Z\r\nLOCATION:\r\nSEQUENCE:1\r\nSTATUS:CONFIRMED\r\n\
         SUMMARY:Labour Day\r\nTRANSP:TRANSPARENT\r\n\
         ORGANIZER;CN=Australian Holidays:mailto:holidays@example.org\r\nEND:VEVENT\r\n"
    )
}

#[test]
fn a_series_with_many_overrides_is_taken_whole() {
    let key = NodeSecret::from_seed(&[7u8; 32]).unwrap().public();
    let mut body =
        google_like("DTSTART;VALUE=DATE:20070305\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=1MO\r\n");
    let mut day = chrono::NaiveDate::from_ymd_opt(2008, 3, 3).unwrap();
    for _ in 0..36 {
        let rid = day.format("%Y%m%d");
        let moved = (day + chrono::Duration::days(7)).format("%Y%m%d");
        body += &google_like(&format!(
            "RECURRENCE-ID;VALUE=DATE:{rid}\r\nDTSTART;VALUE=DATE:{moved}\r\n"
        ));
        day = day.with_year_plus_one();
    }
    let imp = ics::parse_calendar(&cal(&body), &key, &Limits::default()).unwrap();
    assert!(imp.errors.is_empty(), "{:?}", imp.errors);
    assert_eq!(imp.events.len(), 1);
    assert_eq!(imp.events[0].content.overrides.len(), 36);
}

#[test]
fn a_component_with_too_many_properties_is_refused() {
    let key = NodeSecret::from_seed(&[7u8; 32]).unwrap().public();
    let stuffed: String = (0..300).map(|i| format!("X-STUFF-{i}:v\r\n")).collect();
    let body = format!(
        "BEGIN:VEVENT\r\nUID:stuffed@example.org\r\nDTSTART:20270101T100000Z\r\n{stuffed}END:VEVENT\r\n"
    );
    let imp = ics::parse_calendar(&cal(&body), &key, &Limits::default()).unwrap();
    assert!(imp.events.is_empty());
    let why = imp.errors[0].to_string();
    assert!(why.contains("properties in one component"), "{why}");
}

trait NextYear {
    fn with_year_plus_one(self) -> Self;
}

impl NextYear for chrono::NaiveDate {
    /// The first Monday of March of the next year.
    fn with_year_plus_one(self) -> Self {
        use chrono::Datelike;
        let first = chrono::NaiveDate::from_ymd_opt(self.year() + 1, 3, 1).unwrap();
        let ahead = (7 - first.weekday().num_days_from_monday()) % 7;
        first + chrono::Duration::days(i64::from(ahead))
    }
}

#[test]
fn components_nested_without_end_are_dropped_not_followed() {
    // The parser reads nesting by recursion: 100,000 nested BEGIN lines (2 MB, under the size
    // limit) overflowed the stack and aborted the process, from a polled feed, a push or a
    // CalDAV PUT. Components deeper than 16 are dropped, and the event around them is kept.
    let key = NodeSecret::from_seed(&[7u8; 32]).unwrap().public();
    let n = 100_000;
    let doc = cal(&format!(
        "BEGIN:VEVENT\r\nUID:deep@example.org\r\nDTSTART:20270101T100000Z\r\nSUMMARY:Kept\r\n\
         {}{}END:VEVENT\r\n",
        "BEGIN:VALARM\r\n".repeat(n),
        "END:VALARM\r\n".repeat(n)
    ));
    let imp = ics::parse_calendar(&doc, &key, &Limits::default()).unwrap();
    assert_eq!(imp.events.len(), 1, "{:?}", imp.errors);
    assert_eq!(
        imp.events[0].content.master.summary.as_deref(),
        Some("Kept")
    );
    assert!(
        imp.adjusted
            .iter()
            .any(|a| a.contains("nested deeper than 16")),
        "{:?}",
        imp.adjusted
    );
    // Real nesting (an alarm in an event, observances in a zone) is untouched.
    let doc = cal(
        "BEGIN:VEVENT\r\nUID:alarm@example.org\r\nDTSTART:20270101T100000Z\r\nSUMMARY:A\r\n\
         BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:A\r\nEND:VALARM\r\n\
         END:VEVENT\r\n",
    );
    let imp = ics::parse_calendar(&doc, &key, &Limits::default()).unwrap();
    assert_eq!(imp.events.len(), 1);
    assert!(imp.adjusted.is_empty(), "{:?}", imp.adjusted);
}
