//! Cutting a large iCalendar document into smaller ones that each stand alone: the calendar's
//! own properties and every VTIMEZONE in each part, and the VEVENTs of one UID (a master with
//! its overrides) never split across parts. The CLI imports a file of any size this way, one
//! request per part, each under the write API's body limit.

/// One top-level component of the calendar, as its lines.
pub(super) struct Block<'a> {
    pub(super) name: String,
    pub(super) uid: Option<&'a str>,
    pub(super) lines: Vec<&'a str>,
}

/// The parts of `text`, each a VCALENDAR of at most about `max_bytes` (a single UID's events
/// larger than that make a part of their own). Text that is not a VCALENDAR comes back whole,
/// for the parser to refuse with its own message.
pub fn split_calendar(text: &str, max_bytes: usize) -> Vec<String> {
    let Some((header, blocks)) = read_blocks(text) else {
        return vec![text.to_owned()];
    };
    let zones: String = blocks
        .iter()
        .filter(|b| b.name == "VTIMEZONE")
        .flat_map(|b| b.lines.iter().map(|l| format!("{l}\r\n")))
        .collect();
    let frame = header
        .iter()
        .map(|l| format!("{l}\r\n"))
        .collect::<String>()
        + &zones;
    // The events of each UID together, in the order of their first appearance.
    let mut groups: Vec<String> = Vec::new();
    let mut by_uid: std::collections::HashMap<&str, usize> = Default::default();
    for b in blocks.iter().filter(|b| b.name != "VTIMEZONE") {
        let text: String = b.lines.iter().map(|l| format!("{l}\r\n")).collect();
        match b.uid.and_then(|u| by_uid.get(u)) {
            Some(&i) => groups[i].push_str(&text),
            None => {
                if let Some(u) = b.uid {
                    by_uid.insert(u, groups.len());
                }
                groups.push(text);
            }
        }
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    for g in groups {
        if !current.is_empty() && frame.len() + current.len() + g.len() > max_bytes {
            parts.push(std::mem::take(&mut current));
        }
        current.push_str(&g);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
        .into_iter()
        .map(|events| format!("{frame}{events}END:VCALENDAR\r\n"))
        .collect()
}

/// The calendar's own lines (from BEGIN:VCALENDAR, without its END) and its top-level
/// components; `None` if the text has no VCALENDAR.
pub(super) fn read_blocks(text: &str) -> Option<(Vec<&str>, Vec<Block<'_>>)> {
    let mut header = Vec::new();
    let mut blocks: Vec<Block<'_>> = Vec::new();
    let mut depth = 0usize;
    let mut seen_calendar = false;
    for line in text.split('\n') {
        let bare = line.trim_end_matches('\r');
        let upper = bare.trim().to_ascii_uppercase();
        if let Some(name) = upper.strip_prefix("BEGIN:") {
            depth += 1;
            match depth {
                1 if name == "VCALENDAR" => {
                    if !seen_calendar {
                        header.push(bare);
                    }
                    seen_calendar = true;
                    continue;
                }
                2 => blocks.push(Block {
                    name: name.to_owned(),
                    uid: None,
                    lines: Vec::new(),
                }),
                _ => {}
            }
        } else if upper.starts_with("END:") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                continue;
            }
            if let Some(b) = blocks.last_mut().filter(|_| depth == 1) {
                b.lines.push(bare);
                continue;
            }
        }
        let before_components = blocks.is_empty();
        match (depth, blocks.last_mut()) {
            (1, _) if seen_calendar && !bare.is_empty() && before_components => header.push(bare),
            (d, Some(b)) if d >= 2 => {
                if d == 2 && (upper.starts_with("UID:") || upper.starts_with("UID;")) {
                    b.uid = bare.split_once(':').map(|(_, v)| v.trim());
                }
                b.lines.push(bare);
            }
            _ => {}
        }
    }
    seen_calendar.then_some((header, blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ics::parse_calendar;
    use crate::{Limits, NodeSecret};

    fn calendar(events: usize) -> String {
        let mut s = String::from(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n\
             BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
             TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
        );
        for i in 0..events {
            s.push_str(&format!(
                "BEGIN:VEVENT\r\nUID:e{i}@t\r\nDTSTART;TZID=Europe/Berlin:20270105T190000\r\n\
                 RRULE:FREQ=WEEKLY;COUNT=5\r\nSUMMARY:event {i}\r\nEND:VEVENT\r\n\
                 BEGIN:VEVENT\r\nUID:e{i}@t\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270112T190000\r\n\
                 DTSTART;TZID=Europe/Berlin:20270112T200000\r\nSUMMARY:moved {i}\r\nEND:VEVENT\r\n"
            ));
        }
        s + "END:VCALENDAR\r\n"
    }

    #[test]
    fn parts_stand_alone_and_keep_overrides_with_their_master() {
        let text = calendar(200);
        let parts = split_calendar(&text, 8 << 10);
        assert!(parts.len() > 5, "{}", parts.len());
        let origin = NodeSecret::from_seed_array([1; 32]).public();
        let whole = parse_calendar(&text, &origin, &Limits::default()).unwrap();
        let mut events = Vec::new();
        for p in &parts {
            assert!(p.len() <= 8 << 10, "{}", p.len());
            let import = parse_calendar(p, &origin, &Limits::default()).unwrap();
            assert!(import.errors.is_empty(), "{:?}", import.errors);
            events.extend(import.events);
        }
        assert_eq!(events, whole.events);
        assert!(events.iter().all(|e| e.content.overrides.len() == 1));
    }

    #[test]
    fn text_that_is_not_a_calendar_comes_back_whole() {
        assert_eq!(split_calendar("hello", 10), vec!["hello".to_owned()]);
        let small = calendar(2);
        assert_eq!(split_calendar(&small, 1 << 20).len(), 1);
    }
}
