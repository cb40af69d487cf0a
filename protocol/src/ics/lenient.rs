//! The lenient half of "lenient reader, strict writer": syntax slips that real exporters make
//! and that other parsers shrug off are repaired before the strict parser runs, each repair
//! named in the import's `adjusted` list. Only the syntax around values is touched (a byte
//! order mark, blanks around `;`, `=` and `:` in a property's name and parameters, lines
//! without a value); values themselves are never changed, and everything repaired still goes
//! through the same mapping, validation and size limits.

use std::borrow::Cow;

/// Lines named one by one in the adjustments; past this they are only counted.
const NAMED: usize = 5;

/// Lines repaired, by kind, to name them in the adjustments.
#[derive(Default)]
struct Repairs<'a> {
    dropped: Vec<&'a str>,
    respaced: Vec<&'a str>,
    outside: Vec<&'a str>,
    lowercase: Vec<&'a str>,
    quoted: Vec<&'a str>,
    merged: usize,
    /// Components dropped for nesting deeper than [`MAX_NESTING`].
    deep: usize,
    /// A component still open at the calendar's end (a download cut off), dropped.
    unfinished: Option<String>,
    /// Lines of text that lost their fold, joined to the text property before them.
    joined: Vec<&'a str>,
    /// The last line written is a text property of a component (or text joined to one).
    text_open: bool,
    /// The last line was text joined to the one before.
    joining: bool,
    /// Control characters replaced or dropped from values (see [`without_controls`]).
    controls: usize,
}

/// How deep components may nest inside VCALENDAR. Real documents nest two (VEVENT > VALARM,
/// VTIMEZONE > STANDARD) or three; the parser reads nesting by recursion, so a document of
/// 100,000 nested BEGIN lines (2 MB) overflowed the stack and took the process down. Deeper
/// components are dropped before the parser sees them, and that is said.
const MAX_NESTING: usize = 16;

/// The components open inside the calendar: how deep, and where in the output the top-level
/// one began, with its BEGIN line.
#[derive(Default)]
struct Nesting<'a> {
    depth: usize,
    open: (usize, &'a str),
    /// The names of the open components, up to [`MAX_NESTING`] of them.
    names: Vec<String>,
}

impl<'a> Nesting<'a> {
    /// Follows one line inside the calendar (`at`: where it would go in the output); false
    /// when it is left out for nesting deeper than [`MAX_NESTING`] (counted in `deep`).
    fn follow(&mut self, head: &str, value: &str, at: (usize, &'a str), deep: &mut usize) -> bool {
        match head {
            "BEGIN" => {
                if self.depth == 0 {
                    self.open = at;
                }
                self.depth += 1;
                if self.depth <= MAX_NESTING {
                    self.names.push(value.trim().to_ascii_uppercase());
                }
                *deep += usize::from(self.depth == MAX_NESTING + 1);
                self.depth <= MAX_NESTING
            }
            "END" => {
                if self.depth <= MAX_NESTING {
                    self.names.pop();
                }
                self.depth = self.depth.saturating_sub(1);
                self.depth < MAX_NESTING
            }
            _ => self.depth <= MAX_NESTING,
        }
    }

    /// [`Nesting::mend_end`] done: the ENDs of components left open written to `out` and
    /// followed, the repair said; the name the END line is to have, if it changes.
    fn mended_end(
        &mut self,
        head: &str,
        value: &str,
        body: &'a str,
        out: &mut String,
        adjusted: &mut Vec<String>,
    ) -> Option<String> {
        if head != "END" {
            return None;
        }
        let (left_open, name) = self.mend_end(value)?;
        let mut deep = 0;
        for inner in &left_open {
            out.push_str(&format!("END:{inner}\r\n"));
            self.follow("END", inner, (out.len(), body), &mut deep);
        }
        adjusted.push(if left_open.is_empty() {
            format!("read {body:?} as END:{name}")
        } else {
            format!("ended {} left open before {body:?}", left_open.join(", "))
        });
        Some(name)
    }

    /// An END that does not name the innermost open component, mended: one that names an
    /// outer one first closes those left open inside it (their END lines are returned, with
    /// the name to end); one that names none is read as the innermost's (`END:VTOOD` in a
    /// VTODO). `None` when the END is right, or the nesting is not known.
    fn mend_end(&self, value: &str) -> Option<(Vec<String>, String)> {
        if self.depth == 0 || self.depth > MAX_NESTING {
            return None;
        }
        let name = value.trim().to_ascii_uppercase();
        let top = self.names.last()?;
        if *top == name {
            return None;
        }
        match self.names.iter().rposition(|n| *n == name) {
            Some(at) => Some((self.names[at + 1..].iter().rev().cloned().collect(), name)),
            None => Some((Vec::new(), top.clone())),
        }
    }
}

/// Whether a line begins with the name of a property of RFC 5545 (or RFC 7986, 9073, 7953,
/// 9074), an `X-` name, BEGIN or END.
fn names_a_property(line: &str) -> bool {
    const KNOWN: &[&str] = &[
        "BEGIN",
        "END",
        "CALSCALE",
        "METHOD",
        "PRODID",
        "VERSION",
        "ATTACH",
        "CATEGORIES",
        "CLASS",
        "COMMENT",
        "DESCRIPTION",
        "GEO",
        "LOCATION",
        "PERCENT-COMPLETE",
        "PRIORITY",
        "RESOURCES",
        "STATUS",
        "SUMMARY",
        "COMPLETED",
        "DTEND",
        "DUE",
        "DTSTART",
        "DURATION",
        "FREEBUSY",
        "TRANSP",
        "TZID",
        "TZNAME",
        "TZOFFSETFROM",
        "TZOFFSETTO",
        "TZURL",
        "ATTENDEE",
        "CONTACT",
        "ORGANIZER",
        "RECURRENCE-ID",
        "RELATED-TO",
        "URL",
        "UID",
        "EXDATE",
        "EXRULE",
        "RDATE",
        "RRULE",
        "ACTION",
        "REPEAT",
        "TRIGGER",
        "CREATED",
        "DTSTAMP",
        "LAST-MODIFIED",
        "SEQUENCE",
        "REQUEST-STATUS",
        "NAME",
        "REFRESH-INTERVAL",
        "SOURCE",
        "COLOR",
        "IMAGE",
        "CONFERENCE",
        "LOCATION-TYPE",
        "PARTICIPANT-TYPE",
        "RESOURCE-TYPE",
        "CALENDAR-ADDRESS",
        "STYLED-DESCRIPTION",
        "STRUCTURED-DATA",
        "BUSYTYPE",
        "ACKNOWLEDGED",
        "PROXIMITY",
    ];
    let end = line.find([':', ';']).unwrap_or(line.len());
    let name = line[..end].trim().to_ascii_uppercase();
    name.starts_with("X-") || KNOWN.contains(&name.as_str())
}

/// Text properties that lines which lost their fold are joined to.
const TEXT_PROPERTIES: &[&str] = &[
    "DESCRIPTION",
    "SUMMARY",
    "LOCATION",
    "COMMENT",
    "X-ALT-DESC",
];

/// A line inside the calendar that is no content line: no value at all (but not a lost
/// `NAME=value` parameter, which is dropped as before), a "name" that is words (`Meeting ID:
/// 123`, `See you then! :)`), or a web address at the start of a line (`https://zoom.us/j/…`).
/// Blanks around a `-` in a name (`REFRESH - INTERVAL`) are a slip, not words.
fn is_stray(line: &str) -> bool {
    let Some((head, value)) = split_at_value(line) else {
        let lost_param = line.split_once('=').is_some_and(|(n, _)| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        return !lost_param;
    };
    let name = head.split(';').next().unwrap_or_default().trim();
    // Every line of every document passes here: no allocation.
    let mut words = name.split_whitespace();
    let mut prev = words.next();
    let spaced = words.any(|w| {
        let apart = !(prev.is_some_and(|p| p.ends_with('-')) || w.starts_with('-'));
        prev = Some(w);
        apart
    });
    let odd = name
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || c.is_whitespace() || "-_./,".contains(c)));
    let web = (name.eq_ignore_ascii_case("http") || name.eq_ignore_ascii_case("https"))
        && value.starts_with("//");
    name.is_empty() || spaced || odd || web
}

/// Properties whose value is a date-time list, where a TZID with a colon in it (unquoted, as
/// some Outlook exports write `tzone://Microsoft/Custom`) can be told from the value.
const DATE_TIME_PROPERTIES: &[&str] = &[
    "DTSTART",
    "DTEND",
    "DUE",
    "RECURRENCE-ID",
    "EXDATE",
    "RDATE",
];

impl<'a> Repairs<'a> {
    /// Writes a content line of the calendar (or of a component, `in_component`), its value
    /// without control characters.
    fn write(&mut self, out: &mut String, head: &str, value: &str, in_component: bool) {
        let name = head.split(';').next().unwrap_or_default();
        let text = TEXT_PROPERTIES.contains(&name);
        self.text_open = in_component && text;
        out.push_str(head);
        out.push(':');
        match without_controls(value, text) {
            Some((clean, n)) => {
                self.controls += n;
                out.push_str(&clean);
            }
            None => out.push_str(value),
        }
        out.push_str("\r\n");
    }

    /// A line that is no content line ([`is_stray`]; in a run of joined text, any line that
    /// names no property, as `Passcode: 123`): joined to the text property just written, as
    /// a line of its text (an invitation's description pasted through a mail client), or
    /// dropped. False for a content line, which the caller reads.
    fn stray(&mut self, body: &'a str, out: &mut String, in_component: bool) -> bool {
        let stray = is_stray(body) || (self.joining && !names_a_property(body));
        self.joining = false;
        if !stray {
            return false;
        }
        if self.text_open && in_component {
            out.truncate(out.len() - 2);
            out.push_str("\\n");
            out.push_str(&super::write::escape_text(body.trim_end()));
            out.push_str("\r\n");
            self.joined.push(body);
            self.joining = true;
        } else {
            self.dropped.push(body);
        }
        true
    }

    /// At the calendar's end: a top-level component still open (a download cut off in the
    /// middle of an event) is dropped from where it began, rather than the parser refusing
    /// the whole document for the missing END.
    fn close_unfinished(&mut self, out: &mut String, nest: &mut Nesting<'_>) {
        if nest.depth > 0 {
            out.truncate(nest.open.0);
            nest.depth = 0;
            self.unfinished = Some(nest.open.1.chars().take(40).collect());
        }
    }

    /// One content line's name-and-parameters and value, repaired; `None` to drop the line.
    fn line(&mut self, body: &'a str) -> Option<(String, Cow<'a, str>)> {
        let Some((head, value)) = split_at_value(body) else {
            self.dropped.push(body);
            return None;
        };
        // Quoted first, so that the blanks of such a value are kept as they are.
        let quoted = quote_escaped_semicolons(head);
        if quoted.is_some() {
            self.quoted.push(body);
        }
        let mut tight = tighten(quoted.as_deref().unwrap_or(head)).into_owned();
        if tight != quoted.as_deref().unwrap_or(head) || head.ends_with(char::is_whitespace) {
            self.respaced.push(body);
        }
        // A blank between the colon and the value came with the blank before it.
        let mut value = if head.ends_with([' ', '\t']) {
            Cow::Borrowed(value.trim_start_matches([' ', '\t']))
        } else {
            Cow::Borrowed(value)
        };
        // Names are case-insensitive (RFC 5545 §2), but the parser matches BEGIN and END
        // exactly, and so do component names.
        let mut name_len = tight.find(';').unwrap_or(tight.len());
        // Blanks inside a name ("REFRESH - INTERVAL", seen by python-icalendar's issue 351)
        // stopped the parser for the whole document; the name without them is meant.
        if tight[..name_len].contains([' ', '\t']) {
            let joined: String = tight[..name_len]
                .chars()
                .filter(|c| !matches!(c, ' ' | '\t'))
                .collect();
            tight.replace_range(..name_len, &joined);
            name_len = joined.len();
            if self.respaced.last() != Some(&body) {
                self.respaced.push(body);
            }
        }
        let name = tight[..name_len].to_ascii_uppercase();
        let begin_end = name == "BEGIN" || name == "END";
        // `END:VEVENT  ` (a hand-edited file, ical.js's samples): the parser matches the
        // component's name exactly, and the calendar's END then read as a stray line.
        if begin_end && value.trim_matches([' ', '\t']).len() != value.len() {
            value = Cow::Owned(value.trim_matches([' ', '\t']).to_string());
            if self.respaced.last() != Some(&body) {
                self.respaced.push(body);
            }
        }
        let value_lower = begin_end && value.bytes().any(|b| b.is_ascii_lowercase());
        if name != tight[..name_len] || value_lower {
            self.lowercase.push(body);
            tight.replace_range(..name_len, &name);
            if value_lower {
                value = Cow::Owned(value.to_ascii_uppercase());
            }
        }
        if DATE_TIME_PROPERTIES.contains(&name.as_str()) && value.contains(':') {
            if let Some(at) = tight.to_ascii_uppercase().find(";TZID=") {
                let colon = value.rfind(':').unwrap_or(0);
                let rest = &tight[at + 6..];
                let end = rest.find(';').map_or(tight.len(), |e| at + 6 + e);
                let tzid = format!("{}:{}", &tight[at + 6..end], &value[..colon]);
                tight = format!(
                    "{};TZID=\"{}\"{}",
                    &tight[..at],
                    tzid.trim_matches('"'),
                    &tight[end..]
                );
                value = Cow::Owned(value[colon + 1..].to_string());
                self.quoted.push(body);
            }
        }
        Some((tight, value))
    }
}

/// [`tidy_doc`] without its cut-off flag.
#[cfg(test)]
fn tidy(unfolded: &str) -> (String, Vec<String>) {
    let (text, adjusted, _) = tidy_doc(unfolded);
    (text, adjusted)
}

/// Repairs an unfolded document. Returns the text to parse, what was adjusted, and whether the
/// document stopped before its end (no END:VCALENDAR, or in the middle of a component): then
/// it may be a cut-off download, and what it lacks says nothing about what its source holds.
pub(crate) fn tidy_doc(unfolded: &str) -> (String, Vec<String>, bool) {
    let mut adjusted = Vec::new();
    let text = unfolded.strip_prefix('\u{feff}').unwrap_or(unfolded);
    if text.len() != unfolded.len() {
        adjusted.push("removed a byte order mark".to_string());
    }
    let mut out = String::with_capacity(text.len() + 2);
    let mut r = Repairs::default();
    let (mut inside, mut calendars) = (false, 0usize);
    let mut nest = Nesting::default();
    // Bare VEVENTs with no VCALENDAR around them (a component copied out of a calendar, some
    // hand-made feeds): read as one calendar, as other readers do, rather than dropped whole
    // as text outside VCALENDAR.
    let bare = !has_line(text, "BEGIN:VCALENDAR") && has_line(text, "BEGIN:VEVENT");
    if bare {
        (inside, calendars) = (true, 1);
        out.push_str("BEGIN:VCALENDAR\r\n");
        adjusted.push("read VEVENTs without a VCALENDAR around them as one calendar".to_string());
    }
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        // Empty lines: the parser stops at one.
        if body.trim().is_empty() {
            continue;
        }
        if inside && r.stray(body, &mut out, nest.depth > 0) {
            continue;
        }
        r.text_open = false;
        let Some((head, mut value)) = r.line(body) else {
            continue;
        };
        let calendar = value
            .get(..9)
            .is_some_and(|v| v.eq_ignore_ascii_case("VCALENDAR"));
        if !inside {
            if !(calendar && head == "BEGIN") {
                r.outside.push(body);
                continue;
            }
            inside = true;
            calendars += 1;
            if calendars > 1 {
                // Several calendars in one file: read them as one, dropping the END written
                // for the one before.
                out.truncate(out.len() - END.len());
                r.merged += 1;
                continue;
            }
        } else if calendar && head == "BEGIN" && nest.depth == 0 {
            // A calendar begun twice: read as one (its extra END is then text outside).
            adjusted.push(format!("dropped {body:?} inside a VCALENDAR"));
            continue;
        } else if calendar && head == "END" {
            inside = false;
            r.close_unfinished(&mut out, &mut nest);
            if value.len() != 9 {
                adjusted.push(format!("read {body:?} as END:VCALENDAR"));
            }
            out.push_str(END);
            continue;
        } else {
            if let Some(name) = nest.mended_end(&head, &value, body, &mut out, &mut adjusted) {
                value = Cow::Owned(name);
            }
            let keep = nest.follow(&head, &value, (out.len(), body), &mut r.deep);
            // The merged calendar's own VERSION and PRODID would follow components.
            let merged_header = calendars > 1 && nest.depth == 0 && head != "END";
            if !keep || merged_header {
                continue;
            }
        }
        r.write(&mut out, &head, &value, nest.depth > 0);
    }
    let cut_off = inside && !bare;
    if inside {
        r.close_unfinished(&mut out, &mut nest);
        adjusted.extend((!bare).then(|| "added the missing END:VCALENDAR".to_string()));
        out.push_str(END);
    }
    let cut_off = cut_off || r.unfinished.is_some();
    report(&r, &mut adjusted);
    (out, adjusted, cut_off)
}

/// What [`tidy`] repaired, as lines of the import's `adjusted`.
fn report(r: &Repairs<'_>, adjusted: &mut Vec<String>) {
    if r.merged > 0 {
        adjusted.push(format!("read {} VCALENDARs as one", r.merged + 1));
    }
    if let Some(begin) = &r.unfinished {
        adjusted.push(format!(
            "dropped a component never ended ({begin:?} to the end of the calendar: a cut-off download?)"
        ));
    }
    if r.deep > 0 {
        adjusted.push(format!(
            "dropped {} component(s) nested deeper than {MAX_NESTING}",
            r.deep
        ));
    }
    if r.controls > 0 {
        adjusted.push(format!(
            "replaced or dropped {} control character(s) in values (iCalendar allows only tab)",
            r.controls
        ));
    }
    note(
        adjusted,
        "dropped lines that are no content lines:",
        &r.dropped,
    );
    note(
        adjusted,
        "joined lines that lost their fold to the text before them:",
        &r.joined,
    );
    note(
        adjusted,
        "removed blanks in names, around ';', '=' or ':', or after a component's name, in",
        &r.respaced,
    );
    note(adjusted, "dropped text outside VCALENDAR:", &r.outside);
    note(adjusted, "upper-cased lowercase names in", &r.lowercase);
    note(
        adjusted,
        "quoted a TZID holding ':', or a parameter value holding '\\;', in",
        &r.quoted,
    );
}

const END: &str = "END:VCALENDAR\r\n";

/// Whether some line reads `want` (an upper-case `NAME:VALUE`), ignoring case and blanks.
fn has_line(text: &str, want: &str) -> bool {
    text.lines().any(|l| {
        let mut got = l.bytes().filter(|b| !b.is_ascii_whitespace());
        want.bytes()
            .all(|w| got.next().is_some_and(|g| g.eq_ignore_ascii_case(&w)))
            && got.next().is_none()
    })
}

/// 0x80–0x9F in Windows-1252; the five undefined bytes stay as their C1 code points.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

/// A value without the control characters that RFC 5545 allows nowhere (only tab) and the
/// event's rules refuse, so that one stray character does not cost the whole event; `None`
/// when it has none. In text (`text`), a vertical tab (Word's line break, pasted into
/// Outlook), a form feed or a lone CR becomes a line break (`\n`). A C1 control becomes the
/// Windows-1252 character it stood for (text converted from Windows-1252 as if it were
/// Latin-1: `Don\u{92}t`). The rest are dropped. Returns the value and how many changed.
fn without_controls(value: &str, text: bool) -> Option<(String, usize)> {
    if !value.chars().any(|c| c.is_control() && c != '\t') {
        return None;
    }
    let (mut out, mut n) = (String::with_capacity(value.len()), 0);
    for c in value.chars() {
        if c == '\t' || !c.is_control() {
            out.push(c);
            continue;
        }
        n += 1;
        match c {
            '\u{b}' | '\u{c}' | '\r' if text => out.push_str("\\n"),
            '\u{80}'..='\u{9f}' => {
                let m = CP1252_HIGH[c as usize - 0x80];
                if !m.is_control() {
                    out.push(m);
                }
            }
            _ => {}
        }
    }
    Some((out, n))
}

/// A document's bytes as text: UTF-8 when they are (a BOM is left to the tidying), otherwise
/// Windows-1252, the usual mislabelled Latin-1 of older exporters (every byte is a character,
/// so nothing is lost). The flag is true when the fallback was used.
pub fn decode(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    // Before UTF-8: ASCII text in UTF-16 is valid UTF-8 too, with a NUL after every letter.
    if let Some(s) = utf16(bytes) {
        return (Cow::Owned(s), false);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (Cow::Borrowed(s), false);
    }
    // A fold in the middle of a multi-octet character (RFC 5545 §3.1 asks readers to restore
    // it): unfolded as bytes, the document may be UTF-8 after all.
    if let Ok(s) = String::from_utf8(unfold_bytes(bytes)) {
        return (Cow::Owned(s), false);
    }
    let text = bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9f => CP1252_HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect();
    (Cow::Owned(text), true)
}

/// A document in UTF-16, as Windows tools save "Unicode" text: known by its byte order mark,
/// or, without one, by a first `BE` whose other bytes are zero. Read byte by byte it would be
/// every other byte a NUL, and no VCALENDAR found.
fn utf16(bytes: &[u8]) -> Option<String> {
    let little = match bytes {
        [0xff, 0xfe, ..] | [b'B', 0, b'E', 0, ..] => true,
        [0xfe, 0xff, ..] | [0, b'B', 0, b'E', ..] => false,
        _ => return None,
    };
    let units = bytes.chunks_exact(2).map(|p| {
        let pair = [p[0], p[1]];
        if little {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    Some(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect(),
    )
}

/// The bytes without their folds (a line end followed by a space or a tab).
fn unfold_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let end = match (bytes[i], bytes.get(i + 1)) {
            (b'\r', Some(b'\n')) => 2,
            (b'\n' | b'\r', _) => 1,
            _ => 0,
        };
        if end > 0 && matches!(bytes.get(i + end), Some(b' ' | b'\t')) {
            i += end + 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn note(adjusted: &mut Vec<String>, what: &str, lines: &[&str]) {
    if lines.is_empty() {
        return;
    }
    let shown: Vec<String> = lines
        .iter()
        .take(NAMED)
        .map(|l| format!("{:?}", l.chars().take(60).collect::<String>()))
        .collect();
    let more = lines.len().saturating_sub(NAMED);
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    adjusted.push(format!("{what} {}{tail}", shown.join(", ")));
}

/// Splits a content line at the colon that starts its value: the first one outside a quoted
/// parameter value. `None` if there is none.
fn split_at_value(line: &str) -> Option<(&str, &str)> {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return Some((&line[..i], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

/// A name-and-parameters part whose parameter values hold a backslash-escaped `;`
/// (`X-TITLE=Hauptstraße 1-5\; 4041 Linz`, as iPhone OS 26 writes its
/// X-APPLE-STRUCTURED-LOCATION) with those values quoted as they stand: RFC 5545 allows `;` in
/// a parameter value only inside quotes, and the parser gave up on the whole document at such a
/// line. `None` when there is none.
fn quote_escaped_semicolons(head: &str) -> Option<String> {
    if !head.contains("\\;") {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    let (mut cur, mut quoted) = (String::new(), false);
    for c in head.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == ';' && !quoted {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    let mut merged: Vec<String> = Vec::new();
    for p in parts {
        // The name (first) is never a parameter value to continue.
        let n = merged.len();
        match merged.last_mut() {
            Some(last) if n > 1 && last.ends_with('\\') => {
                last.push(';');
                last.push_str(&p);
            }
            _ => merged.push(p),
        }
    }
    let mut out = Vec::with_capacity(merged.len());
    for (i, p) in merged.into_iter().enumerate() {
        match p.split_once('=') {
            Some((k, v)) if i > 0 && v.contains(';') && !v.contains('"') => {
                out.push(format!("{k}=\"{v}\""));
            }
            _ => out.push(p),
        }
    }
    let joined = out.join(";");
    (joined != head).then_some(joined)
}

/// A name-and-parameters part without blanks around `;` and `=`, and none at its ends.
/// Blanks inside a quoted parameter value are kept.
fn tighten(head: &str) -> Cow<'_, str> {
    if !head.contains([' ', '\t']) {
        return Cow::Borrowed(head);
    }
    let mut out = String::with_capacity(head.len());
    let mut quoted = false;
    let mut pending = String::new();
    for c in head.trim().chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c == ' ' || c == '\t') {
            pending.push(c);
            continue;
        }
        // Blanks before a separator, or right after one, go; others (inside a parameter
        // value) stay.
        let after_sep = out.ends_with([';', '=', ',']);
        if !(c == ';' || c == '=' || c == ',' || after_sep) {
            out.push_str(&pending);
        }
        pending.clear();
        out.push(c);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_are_repaired_and_named() {
        let doc = "\u{feff}BEGIN:VCALENDAR\r\nLOCATION ; LANGUAGE = en : Berlin: Mitte\r\n\
                   X-APPLE-RADIUS=49.91\r\nSUMMARY;X-P=\"a : b\":Talk\r\nEND:VCALENDAR\r\n";
        let (text, adjusted) = tidy(doc);
        assert_eq!(
            text,
            "BEGIN:VCALENDAR\r\nLOCATION;LANGUAGE=en:Berlin: Mitte\r\n\
             SUMMARY;X-P=\"a : b\":Talk\r\nEND:VCALENDAR\r\n"
        );
        assert_eq!(adjusted.len(), 3, "{adjusted:?}");
        assert!(adjusted[1].contains("X-APPLE-RADIUS"), "{adjusted:?}");
    }

    #[test]
    fn blanks_around_a_components_name_are_dropped() {
        // ical.js's property_params1.ics ends its event with `END:VEVENT  `.
        let doc = "BEGIN:VCALENDAR\r\nBEGIN: VEVENT\r\nUID:a\r\nEND:VEVENT  \r\nEND:VCALENDAR\r\n";
        let (text, adjusted) = tidy(doc);
        assert_eq!(
            text,
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        assert!(
            adjusted[0].contains("after a component's name"),
            "{adjusted:?}"
        );
        assert!(adjusted[0].contains("END:VEVENT  "), "{adjusted:?}");
    }

    #[test]
    fn a_document_cut_off_keeps_its_whole_components_and_says_so() {
        let whole = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n";
        let (text, adjusted, cut_off) = tidy_doc(&format!(
            "{whole}BEGIN:VEVENT\r\nUID:b\r\nBEGIN:VALARM\r\nTRIG"
        ));
        assert!(cut_off);
        assert_eq!(text, format!("{whole}END:VCALENDAR\r\n"));
        assert!(
            adjusted.iter().any(|a| a.contains("never ended")),
            "{adjusted:?}"
        );
        // Only the END:VCALENDAR missing: the events are whole, the document may not be.
        let (text, _, cut_off) = tidy_doc(whole);
        assert!(cut_off);
        assert!(text.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
        // Bare VEVENTs never had a VCALENDAR to end.
        let (_, _, cut_off) = tidy_doc("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n");
        assert!(!cut_off);
        // A calendar begun twice is one calendar.
        let (text, _, cut_off) = tidy_doc(&format!(
            "BEGIN:VCALENDAR\r\n{}END:VCALENDAR\r\nEND:VCALENDAR\r\n",
            &whole[17..]
        ));
        assert!(!cut_off);
        assert_eq!(text, format!("{whole}END:VCALENDAR\r\n"));
    }

    #[test]
    fn latin1_is_read_as_windows_1252() {
        let (t, fallback) = decode(b"SUMMARY:Caf\xe9 \x80 5\r\n");
        assert!(fallback);
        assert_eq!(t, "SUMMARY:Café € 5\r\n");
        let (t, fallback) = decode("SUMMARY:Café".as_bytes());
        assert!(!fallback);
        assert_eq!(t, "SUMMARY:Café");
    }

    #[test]
    fn lowercase_names_are_upper_cased() {
        let (text, adjusted) =
            tidy("begin:vcalendar\r\nsummary;language=de:klein\r\nend:vcalendar\r\n");
        assert_eq!(
            text,
            "BEGIN:VCALENDAR\r\nSUMMARY;language=de:klein\r\nEND:VCALENDAR\r\n"
        );
        assert_eq!(adjusted.len(), 1, "{adjusted:?}");
    }

    /// An END naming no open component is the innermost's (a test calendar of
    /// recurring-ical-events ends a VTODO with `END:VTOOD`); one naming an outer component
    /// first ends those left open inside it. Both used to refuse the whole document.
    #[test]
    fn ends_that_name_the_wrong_component_are_mended() {
        let (text, adjusted) = tidy(
            "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTOOD\r\n\
             BEGIN:VEVENT\r\nUID:e\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VEVENT\r\n\
             END:VCALENDAR\r\n",
        );
        assert_eq!(
            text,
            "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n\
             BEGIN:VEVENT\r\nUID:e\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nEND:VALARM\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        assert_eq!(
            adjusted,
            [
                "read \"END:VTOOD\" as END:VTODO",
                "ended VALARM left open before \"END:VEVENT\""
            ]
        );
    }

    #[test]
    fn a_clean_document_is_unchanged() {
        let doc =
            "BEGIN:VCALENDAR\r\nSUMMARY:a ; b = c\r\nDTSTART;TZID=\"a:b\":20270101T000000\r\n\
                   END:VCALENDAR\r\n";
        let (text, adjusted) = tidy(doc);
        assert_eq!(text, doc);
        assert!(adjusted.is_empty(), "{adjusted:?}");
    }

    #[test]
    fn blanks_inside_parameter_values_stay() {
        assert_eq!(
            tighten("DTSTART ; TZID = W. Europe Standard Time"),
            "DTSTART;TZID=W. Europe Standard Time"
        );
        assert_eq!(tighten("X-A;P=\"x ; y\""), "X-A;P=\"x ; y\"");
    }
}
