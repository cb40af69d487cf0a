//! A feed that holds more events than its source may take: the ones kept are those nearest
//! today, upcoming ones from the soonest, then past ones from the latest, so a university's
//! calendar with twenty years of history gives this term's lectures rather than 1998's. The
//! cut is made in the text, before the parser builds anything for the events left out: the
//! parser's cost grows with the events it reads (a 16 MB feed of 190,000 tiny events took
//! 2.7 GB to read and store whole).

use std::collections::HashMap;

use crate::model::{Date, EventContent};

use super::split::read_blocks;

/// What [`nearest_events`] kept of a calendar with more events than asked for.
#[derive(Debug)]
pub struct Nearest {
    /// The calendar with the kept events, its own properties and every VTIMEZONE.
    pub text: String,
    /// The events the calendar holds: each UID with its overrides, and each VEVENT without one.
    pub total: usize,
    /// The UIDs of the events left out.
    pub left_out: Vec<String>,
    /// How many of the events left out had no UID to know them by.
    pub unnamed: usize,
    /// Whether the calendar ended with its END:VCALENDAR (`text` always does): one that did
    /// not may be a download cut off.
    pub ended: bool,
}

/// How near today an event is, as a key that sorts the nearest first: upcoming events by
/// their day, then past ones from the latest back.
pub type Nearness = (bool, u32);

/// A day as `yyyymmdd`, which orders as days do.
fn day(d: Date) -> u32 {
    let year = u32::try_from(d.year.clamp(0, 9999)).unwrap_or(0);
    year * 10_000 + u32::from(d.month) * 100 + u32::from(d.day)
}

/// The date at the start of an iCalendar value (`20270105T…`, or `2027-01-05…` as some
/// exporters write it) as `yyyymmdd`.
fn digits(v: &str) -> Option<u32> {
    let d: String = v.trim().chars().filter(|c| *c != '-').take(8).collect();
    if d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()) {
        d.parse().ok()
    } else {
        None
    }
}

/// The day that stands for an event starting on `start` (`yyyymmdd`) with `rrule`: its start
/// if that is today or later, or if it does not recur; otherwise the series' UNTIL if that
/// has passed, and today if it has not or the series has no UNTIL (a weekly meetup running
/// since 2015 is current; a series bounded by COUNT is taken as current too, which only
/// makes it kept a little more eagerly).
fn reach(start: u32, rrule: Option<&str>, today: u32) -> u32 {
    if start >= today {
        return start;
    }
    let Some(rule) = rrule else {
        return start;
    };
    let until = rule.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim().eq_ignore_ascii_case("UNTIL").then(|| digits(v))?
    });
    match until {
        Some(u) if u < today => u.max(start),
        _ => today,
    }
}

/// The sort key of an event whose representative day is `reach`.
fn nearest_first(reach: u32, today: u32) -> Nearness {
    if reach >= today {
        (false, reach)
    } else {
        (true, u32::MAX - reach)
    }
}

/// How near `today` an event is: the nearest of its master (and series) and its overrides.
pub fn nearness(content: &EventContent, today: Date) -> Nearness {
    let today = day(today);
    let master = &content.master;
    let first = reach(
        day(master.start.local().date),
        master.rrule.as_deref(),
        today,
    );
    content
        .overrides
        .iter()
        .map(|o| nearest_first(day(o.start.local().date), today))
        .fold(nearest_first(first, today), std::cmp::min)
}

/// `text` with only the `max` events nearest `today` (each UID with its overrides; VTIMEZONEs
/// and the calendar's own properties kept), or `None` when it holds no more than `max` or is
/// not a VCALENDAR (then the parser reads it whole, and its limits apply). Components other
/// than VEVENT and VTIMEZONE are left out of a cut calendar: they make no events.
pub fn nearest_events(text: &str, max: usize, today: Date) -> Option<Nearest> {
    // Counted in the raw text, whatever its line ends: a cheap pass decides whether to cut.
    let begins = text
        .as_bytes()
        .windows(12)
        .filter(|w| w.eq_ignore_ascii_case(b"BEGIN:VEVENT"))
        .count();
    if begins <= max {
        return None;
    }
    let (unfolded, _) = super::unfold(text);
    let (header, blocks) = read_blocks(&unfolded)?;
    let today = day(today);
    // Each event: its blocks and its key; a VEVENT without UID is an event of its own.
    let mut events: Vec<(Option<&str>, Vec<usize>, Nearness)> = Vec::new();
    let mut by_uid: HashMap<&str, usize> = HashMap::new();
    for (i, b) in blocks.iter().enumerate() {
        if b.name != "VEVENT" {
            continue;
        }
        let key = nearest_first(block_reach(&b.lines, today), today);
        let at = b.uid.and_then(|u| by_uid.get(u).copied());
        if let Some(at) = at {
            let e = &mut events[at];
            e.1.push(i);
            e.2 = e.2.min(key);
        } else {
            if let Some(u) = b.uid {
                by_uid.insert(u, events.len());
            }
            events.push((b.uid, vec![i], key));
        }
    }
    if events.len() <= max {
        return None;
    }
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&e| events[e].2);
    let mut keep = vec![false; blocks.len()];
    let (mut left_out, mut unnamed) = (Vec::new(), 0);
    for (rank, &e) in order.iter().enumerate() {
        let (uid, ref members, _) = events[e];
        if rank < max {
            for &m in members {
                keep[m] = true;
            }
        } else if let Some(u) = uid.filter(|u| crate::validate::check_uid(u).is_ok()) {
            left_out.push(u.to_owned());
        } else {
            // No UID, or one the reader would replace by a generated one: not a name the
            // events taken before are known by.
            unnamed += 1;
        }
    }
    let mut out = String::with_capacity(text.len().min(1 << 20));
    let mut line = |l: &str| {
        out.push_str(l);
        out.push_str("\r\n");
    };
    header.iter().for_each(|l| line(l));
    for (i, b) in blocks.iter().enumerate() {
        if keep[i] || b.name == "VTIMEZONE" {
            b.lines.iter().for_each(|l| line(l));
        }
    }
    line("END:VCALENDAR");
    let ended = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim().eq_ignore_ascii_case("END:VCALENDAR"));
    Some(Nearest {
        text: out,
        total: events.len(),
        left_out,
        unnamed,
        ended,
    })
}

/// [`reach`] of one VEVENT by its DTSTART and RRULE lines (no start: the furthest past, as
/// the parser will refuse it anyway).
fn block_reach(lines: &[&str], today: u32) -> u32 {
    let value = |name: &str| {
        lines.iter().find_map(|l| {
            let head = l.get(..name.len())?;
            let rest = &l[name.len()..];
            (head.eq_ignore_ascii_case(name) && (rest.starts_with(':') || rest.starts_with(';')))
                .then(|| l.rsplit_once(':').map(|(_, v)| v))?
        })
    };
    let rrule = lines.iter().find_map(|l| {
        let head = l.get(..6)?;
        head.eq_ignore_ascii_case("RRULE:").then(|| &l[6..])
    });
    let start = value("DTSTART").and_then(digits).unwrap_or(0);
    reach(start, rrule, today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ics::parse_calendar;
    use crate::{Limits, NodeSecret};

    const TODAY: Date = Date {
        year: 2027,
        month: 3,
        day: 10,
    };

    fn event(uid: &str, start: &str, extra: &str) -> String {
        format!(
            "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART;TZID=Europe/Berlin:{start}T190000\r\n{extra}\
             SUMMARY:{uid}\r\nEND:VEVENT\r\n"
        )
    }

    fn calendar(events: &[String]) -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nX-WR-CALNAME:Club\r\n\
             BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
             TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n{}\
             END:VCALENDAR\r\n",
            events.concat()
        )
    }

    fn uids(text: &str) -> Vec<String> {
        let origin = NodeSecret::from_seed_array([1; 32]).public();
        let import = parse_calendar(text, &origin, &Limits::default()).unwrap();
        assert!(import.errors.is_empty(), "{:?}", import.errors);
        import.events.into_iter().map(|e| e.uid).collect()
    }

    #[test]
    fn the_events_nearest_today_are_kept_with_their_overrides() {
        let cal = calendar(&[
            event("old", "19980105", ""),
            event("last-week", "20270303", ""),
            event("next-week", "20270317", ""),
            event("far", "20350101", ""),
            // A weekly series since 2015 is current...
            event("weekly", "20150106", "RRULE:FREQ=WEEKLY\r\n"),
            // ...one that ended in 2020 is not, and its override stays with it.
            event(
                "ended",
                "20150106",
                "RRULE:FREQ=WEEKLY;UNTIL=20200101T000000Z\r\n",
            ),
            "BEGIN:VEVENT\r\nUID:ended\r\nRECURRENCE-ID;TZID=Europe/Berlin:20150113T190000\r\n\
             DTSTART;TZID=Europe/Berlin:20150113T200000\r\nEND:VEVENT\r\n"
                .into(),
            event("tomorrow", "2027-03-11", ""),
        ]);
        let n = nearest_events(&cal, 4, TODAY).unwrap();
        assert_eq!(n.total, 7);
        // Upcoming before past, however far ahead.
        assert_eq!(uids(&n.text), ["next-week", "far", "weekly", "tomorrow"]);
        assert_eq!(n.left_out, ["last-week", "ended", "old"], "{}", n.text);
        assert_eq!(n.unnamed, 0);
        assert!(n.ended);
        assert!(n.text.contains("X-WR-CALNAME:Club\r\nBEGIN:VTIMEZONE"));
        let cut = cal.trim_end().trim_end_matches("END:VCALENDAR");
        assert!(!nearest_events(cut, 4, TODAY).unwrap().ended);
        let n = nearest_events(&cal, 6, TODAY).unwrap();
        assert_eq!(n.left_out, ["old"]);
        assert!(
            n.text.contains("RECURRENCE-ID"),
            "the override goes with its master"
        );
        // At or under the limit the text is read as it is.
        assert!(nearest_events(&cal, 7, TODAY).is_none());
    }

    #[test]
    fn folded_lines_lowercase_names_and_events_without_uid() {
        let cal = calendar(&[
            "begin:vevent\r\nuid:lower\r\ndtstart:20270320T100000Z\r\nend:vevent\r\n".into(),
            "BEGIN:VEVENT\r\nUID:fol\r\n ded\r\nDTSTART:20270312T100000Z\r\nEND:VEVENT\r\n".into(),
            "BEGIN:VEVENT\r\nDTSTART:20100101T100000Z\r\nSUMMARY:no uid\r\nEND:VEVENT\r\n".into(),
            // A UID the reader replaces (over 255 bytes) is no name either.
            event(&"u".repeat(300), "20090101", ""),
        ]);
        let n = nearest_events(&cal, 2, TODAY).unwrap();
        assert_eq!(uids(&n.text), ["lower", "folded"]);
        assert_eq!((n.left_out.len(), n.unnamed), (0, 2));
    }

    #[test]
    fn parsed_events_rank_the_same_way() {
        let cal = calendar(&[
            event("old", "19980105", ""),
            event("weekly", "20150106", "RRULE:FREQ=WEEKLY\r\n"),
            event("soon", "20270311", ""),
        ]);
        let origin = NodeSecret::from_seed_array([1; 32]).public();
        let mut events = parse_calendar(&cal, &origin, &Limits::default())
            .unwrap()
            .events;
        events.sort_by_key(|e| nearness(&e.content, TODAY));
        let order: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
        assert_eq!(order, ["weekly", "soon", "old"]);
    }
}
