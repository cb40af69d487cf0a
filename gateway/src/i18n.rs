//! The strings and date formats of the HTML views and Atom summaries, in English and German.
//! Two languages do not justify a localisation framework; a new one is a new [`Strings`].

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use chrono_tz::Tz;
use discal_protocol::view::Lang;

/// Every user-visible string of the views.
pub struct Strings {
    pub months: [&'static str; 12],
    pub weekdays: [&'static str; 7],
    pub weekdays_short: [&'static str; 7],
    pub cancelled: &'static str,
    /// Before the other listings of one real event.
    pub also_listed: &'static str,
    pub no_events: &'static str,
    pub more: &'static str,
    pub all_day: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub where_: &'static str,
    pub when: &'static str,
    pub tags: &'static str,
    pub link: &'static str,
    pub add_to_calendar: &'static str,
    pub origin: &'static str,
    pub revision: &'static str,
    pub propose_change: &'static str,
    pub upcoming: &'static str,
    pub build_view: &'static str,
    pub view_intro: &'static str,
    pub show: &'static str,
    pub subscribe: &'static str,
    pub embed: &'static str,
    pub preview: &'static str,
    pub times_in: &'static str,
    pub truncated: &'static str,
    pub more_pages: &'static str,
    /// A list whose dates hold nothing, when later ones do.
    pub none_these_days: &'static str,
    pub later: &'static str,
}

const EN: Strings = Strings {
    months: [
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ],
    weekdays: [
        "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
    ],
    weekdays_short: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    cancelled: "cancelled",
    also_listed: "also listed by",
    no_events: "No events.",
    more: "more",
    all_day: "all day",
    previous: "Previous month",
    next: "Next month",
    where_: "Where",
    when: "When",
    tags: "Tags",
    link: "Website",
    add_to_calendar: "Add to calendar (.ics)",
    origin: "Published by node",
    revision: "Revision",
    propose_change: "Propose a change",
    upcoming: "Upcoming dates",
    build_view: "Build your calendar view",
    view_intro: "Choose what you want to see. The addresses below can be subscribed to in a calendar app, read in a feed reader or embedded in a website. No account is needed.",
    show: "Show",
    subscribe: "Subscribe",
    embed: "Embed in a website",
    preview: "Preview",
    times_in: "Times in",
    truncated: "More events match than are shown here.",
    more_pages: "Next page",
    none_these_days: "No events in these dates.",
    later: "Later events",
};

const DE: Strings = Strings {
    months: [
        "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
        "Oktober", "November", "Dezember",
    ],
    weekdays: [
        "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag",
    ],
    weekdays_short: ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"],
    cancelled: "abgesagt",
    also_listed: "auch gelistet bei",
    no_events: "Keine Termine.",
    more: "weitere",
    all_day: "ganztägig",
    previous: "Voriger Monat",
    next: "Nächster Monat",
    where_: "Wo",
    when: "Wann",
    tags: "Schlagwörter",
    link: "Webseite",
    add_to_calendar: "In den Kalender übernehmen (.ics)",
    origin: "Veröffentlicht von Knoten",
    revision: "Revision",
    propose_change: "Änderung vorschlagen",
    upcoming: "Nächste Termine",
    build_view: "Eigene Kalenderansicht zusammenstellen",
    view_intro: "Wählen Sie aus, was Sie sehen möchten. Die Adressen unten lassen sich in einer Kalender-App abonnieren, in einem Feedreader lesen oder in eine Webseite einbetten. Ein Konto ist nicht nötig.",
    show: "Anzeigen",
    subscribe: "Abonnieren",
    embed: "In eine Webseite einbetten",
    preview: "Vorschau",
    times_in: "Zeiten in",
    truncated: "Es passen mehr Termine, als hier gezeigt werden.",
    more_pages: "Nächste Seite",
    none_these_days: "Keine Termine in diesem Zeitraum.",
    later: "Spätere Termine",
};

/// The strings of a language.
pub fn strings(lang: Lang) -> &'static Strings {
    match lang {
        Lang::En => &EN,
        Lang::De => &DE,
    }
}

/// "Saturday, 7 March 2026" / "Samstag, 7. März 2026".
pub fn long_date(lang: Lang, d: NaiveDate) -> String {
    let s = strings(lang);
    let wd = s.weekdays[d.weekday().num_days_from_monday() as usize];
    let m = s.months[d.month0() as usize];
    match lang {
        Lang::En => format!("{wd}, {} {m} {}", d.day(), d.year()),
        Lang::De => format!("{wd}, {}. {m} {}", d.day(), d.year()),
    }
}

/// "Sat 7 Mar" / "Sa 7.3.".
pub fn short_date(lang: Lang, d: NaiveDate) -> String {
    let s = strings(lang);
    let wd = s.weekdays_short[d.weekday().num_days_from_monday() as usize];
    match lang {
        Lang::En => format!("{wd} {} {}", d.day(), &s.months[d.month0() as usize][..3]),
        Lang::De => format!("{wd} {}.{}.", d.day(), d.month()),
    }
}

/// "19:00" in both languages (24-hour clocks are understood everywhere these views are used).
pub fn time(t: &DateTime<Tz>) -> String {
    format!("{:02}:{:02}", t.hour(), t.minute())
}

/// "March 2026" / "März 2026".
pub fn month_title(lang: Lang, year: i32, month0: u32) -> String {
    format!("{} {year}", strings(lang).months[month0 as usize % 12])
}
