//! iCalendar (RFC 5545) ↔ event model.
//!
//! Parsing uses the icalendar crate's parser and then maps each VEVENT by hand, grouping
//! RECURRENCE-ID overrides with their master by UID. Writing is done here rather than through the
//! crate's builder because the output is where hostile text meets clients: every value goes
//! through one escaping function, every line through one folding function, and nothing is
//! added behind our back (the crate's writer inserts a DTSTAMP from the system clock).
//!
//! `mod.rs` reads a document into events (grouping, validation, UIDs), `vevent.rs` maps one
//! VEVENT's properties, `values.rs` parses date-time, date and duration values, and
//! `write.rs` writes events back out, `split.rs` cuts a large document into standalone parts,
//! `nearest.rs` keeps a feed's events nearest today when it holds more than a source takes,
//! `lenient.rs` repairs the syntax slips of real exporters before the strict parser runs.

mod lenient;
mod nearest;
mod split;
mod values;
mod vevent;
mod write;
mod zones;

use std::collections::{BTreeMap, HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::codec;
use crate::keys::NodeKey;
use crate::model::{Component, DateTimeValue, End, EventContent, LocalDateTime};
use crate::validate::{self, Limits, ValidationError};

pub use lenient::decode as decode_text;
pub use nearest::{nearest_events, nearness, Nearest, Nearness};
pub use split::split_calendar;
pub use values::parse_duration;
pub use write::{
    escape_text, fmt_duration, fold_line, write_calendar, write_event, write_event_with, IcsEvent,
};

use vevent::map_vevent;

/// The largest iCalendar document accepted for import.
pub const MAX_ICS_BYTES: usize = 16 * 1024 * 1024;

/// Why (part of) an iCalendar document could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IcsError {
    /// Larger than [`MAX_ICS_BYTES`].
    #[error("iCalendar document is {0} bytes, over the {MAX_ICS_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not iCalendar syntax.
    #[error("not valid iCalendar: {0}")]
    Syntax(String),
    /// No VEVENT in it.
    #[error("the document holds no VEVENT")]
    NoEvents,
    /// One property of one VEVENT is wrong.
    #[error("VEVENT {uid}: {property}: {reason}")]
    Property {
        /// The VEVENT's UID (or its position).
        uid: String,
        /// The property name.
        property: String,
        /// What is wrong.
        reason: String,
    },
    /// A required property is missing.
    #[error("VEVENT {uid}: missing {property}")]
    Missing {
        /// The VEVENT's UID (or its position).
        uid: String,
        /// The property name.
        property: &'static str,
    },
    /// A UID with neither a master VEVENT nor overrides. The reader never groups such a thing;
    /// overrides without their master are taken as one event (docs/protocol.md).
    #[error("VEVENT {0}: overrides (RECURRENCE-ID) without the recurring master event")]
    OrphanOverride(String),
    /// The mapped event breaks a validation rule.
    #[error("VEVENT {uid}: {source}")]
    Invalid {
        /// The UID.
        uid: String,
        /// The rule.
        source: ValidationError,
    },
}

impl IcsError {
    /// The UID (or position) of the event this error is about; `None` for a document error.
    pub fn event(&self) -> Option<&str> {
        match self {
            Self::Property { uid, .. } | Self::Missing { uid, .. } | Self::Invalid { uid, .. } => {
                Some(uid)
            }
            Self::OrphanOverride(uid) => Some(uid),
            Self::TooLarge(_) | Self::Syntax(_) | Self::NoEvents => None,
        }
    }
}

/// One event read from an iCalendar document.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedEvent {
    /// The UID (generated if the document had none or an unusable one).
    pub uid: String,
    /// True if `uid` was generated.
    pub uid_generated: bool,
    /// The VEVENT(s).
    pub content: EventContent,
    /// X-HOP, if the document carried one.
    pub hop: Option<u32>,
    /// X-REVISION, if the document carried one.
    pub revision: Option<u32>,
    /// What was adjusted to take it (a time zone mapped, a period made an override); empty
    /// when it was taken as written.
    pub warnings: Vec<String>,
    /// The master's DisCal attributes as written (trimmed), valid or not: X-HOP, X-REVISION,
    /// X-REVISE-URL. Feeds read them leniently (`hop`, `revision`); pushes are judged strictly
    /// on them ([`crate::source::check_pushed`]).
    pub written: [Option<String>; 3],
}

/// What an import produced: the events that mapped, and an error for each that did not.
#[derive(Clone, Debug, Default)]
pub struct Import {
    /// Events ready to sign.
    pub events: Vec<ImportedEvent>,
    /// One entry per VEVENT (or UID group) that was skipped.
    pub errors: Vec<IcsError>,
    /// Syntax slips in the document that were repaired to read it.
    pub adjusted: Vec<String>,
    /// The document stopped before its end (no END:VCALENDAR, or inside a component, whose
    /// lines were dropped): perhaps a download cut off, so the events it lacks may still be
    /// at its source.
    pub cut_off: bool,
    /// The calendar's `X-WR-TIMEZONE`, resolved to an IANA name. Times without a zone stay
    /// floating here, as RFC 5545 and Thunderbird read them; a feed source takes them in this
    /// zone when its operator named none (Google reads them so).
    pub calendar_zone: Option<String>,
}

/// The parser's refusal in words: the line it stopped at (its trace's innermost `at line N`),
/// as the reader had it after unfolding and its repairs, rather than the trace itself.
fn syntax_error(trace: &str, text: &str) -> String {
    let line = trace
        .split("at line ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    match line.and_then(|n| Some((n, text.lines().nth(n.checked_sub(1)?)?))) {
        Some((n, l)) => format!(
            "line {n} (after unfolding) is not a property or a BEGIN/END line: {:?}",
            l.trim_end().chars().take(120).collect::<String>()
        ),
        None => trace
            .lines()
            .take(6)
            .collect::<Vec<_>>()
            .join(" | ")
            .chars()
            .take(400)
            .collect(),
    }
}

/// Parses an iCalendar document. `origin` is the importing node: a missing or non-conforming UID
/// is replaced by `<hash>@<origin>` (the seed's rule), with the hash taken over the event's
/// content so importing the same file twice yields the same UIDs.
pub fn parse_calendar(text: &str, origin: &NodeKey, limits: &Limits) -> Result<Import, IcsError> {
    if text.len() > MAX_ICS_BYTES {
        return Err(IcsError::TooLarge(text.len()));
    }
    // A writer that escaped its line breaks (PHP's '\r\n' in single quotes, a JSON string
    // saved as it is) leaves the whole calendar on one line. `\r` is no escape of iCalendar
    // text, so the four characters `\r\n` are only ever such a line break.
    let escaped = text.matches("\\r\\n").count();
    let text: std::borrow::Cow<'_, str> = if escaped > 2 * text.matches('\n').count()
        && text
            .trim_start()
            .get(..15)
            .is_some_and(|b| b.eq_ignore_ascii_case("BEGIN:VCALENDAR"))
    {
        text.replace("\\r\\n", "\r\n").into()
    } else {
        text.into()
    };
    let (unfolded, split_folds) = unfold(&text);
    let (tidied, mut adjusted, cut_off) = lenient::tidy_doc(&unfolded);
    if let std::borrow::Cow::Owned(_) = text {
        adjusted.push(format!(
            "read {escaped} escaped line breaks (the characters \\r\\n) as line breaks"
        ));
    }
    if split_folds {
        adjusted.push("dropped empty lines between properties and their folded rest".into());
    }
    if tidied.is_empty() {
        let start: String = unfolded.trim_start().chars().take(40).collect();
        return Err(IcsError::Syntax(format!(
            "no BEGIN:VCALENDAR (nor a VEVENT): this is not an iCalendar document (it begins {start:?})"
        )));
    }
    let cal = icalendar::parser::read_calendar(&tidied)
        .map_err(|e| IcsError::Syntax(syntax_error(&e, &tidied)))?;
    let zones = zones::Zones::of(&cal.components);
    let mut import = Import {
        adjusted,
        cut_off,
        ..Import::default()
    };
    let groups = group_vevents(&cal.components, &zones, &mut import.errors).map_err(|e| {
        // The only VEVENT never ended (a file cut off, or its END lost): say that, not
        // that there is none.
        let unfinished = import
            .adjusted
            .iter()
            .find(|a| a.starts_with("dropped a component never ended"));
        match (e, unfinished) {
            (IcsError::NoEvents, Some(why)) => {
                IcsError::Syntax(format!("the document holds no whole VEVENT: {why}"))
            }
            (e, _) => e,
        }
    })?;
    import.calendar_zone = calendar_zone(&cal.properties);
    // Generated UIDs hash the content, so two identical VEVENTs without a UID (a feed that
    // lists one event twice) would be two events of one UID: the copy is taken once.
    // The set starts with the document's own UIDs, in case one of them is a generated UID
    // written out earlier and read back beside its UID-less original.
    let mut taken: HashSet<String> = groups
        .values()
        .filter(|g| !g.key.starts_with('\u{0}'))
        .map(|g| g.key.clone())
        .collect();
    for (_, group) in groups {
        match finish(group, origin, limits) {
            Ok(ev) if ev.uid_generated && !taken.insert(ev.uid.clone()) => {
                import.errors.push(IcsError::Property {
                    uid: ev.uid,
                    property: "UID".into(),
                    reason: "a second copy of an event without UID: taken once".into(),
                });
            }
            Ok(ev) => import.events.push(ev),
            Err(e) => import.errors.push(e),
        }
    }
    Ok(import)
}

/// The calendar's own zone, `X-WR-TIMEZONE` (Apple's and Google's), as an IANA name; an
/// unknown name is none.
fn calendar_zone(props: &[icalendar::parser::Property<'_>]) -> Option<String> {
    props
        .iter()
        .find(|p| p.name.as_str().eq_ignore_ascii_case("X-WR-TIMEZONE"))
        .and_then(|p| crate::tz::resolve_tzid(p.val.as_str()))
        .map(|t| t.name().to_string())
}

/// The document unfolded, and whether empty lines that split a property from its folded
/// rest were dropped first. Mozilla Calendar's exports of the early 2000s wrote every property
/// that way (`DTSTART`, an empty line, ` ;VALUE=DATE`, ` :20031225`); unfolded as they stand,
/// the name and its value are two lines and the value is lost. An empty line carries nothing
/// in any case, so dropping it before a fold changes no other document's meaning.
pub(crate) fn unfold(text: &str) -> (String, bool) {
    let text = one_line_end(text);
    let split = ["\n\r\n ", "\n\r\n\t", "\n\n ", "\n\n\t"]
        .iter()
        .any(|p| text.contains(p));
    if !split {
        return (icalendar::parser::unfold(&text), false);
    }
    let mut kept = String::with_capacity(text.len());
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        let empty = line.trim_end_matches(['\r', '\n']).is_empty();
        let folds_next = lines
            .peek()
            .is_some_and(|next| next.starts_with([' ', '\t']) && !next.trim().is_empty());
        if !(empty && folds_next) {
            kept.push_str(line);
        }
    }
    (icalendar::parser::unfold(&kept), true)
}

/// Line ends as one kind before unfolding: CR alone (old Mac exports) and a mix of CRLF with
/// LF or CR (hand-edited files, pasted blocks) are all read as CRLF.
fn one_line_end(text: &str) -> std::borrow::Cow<'_, str> {
    if mixed_line_ends(text) {
        text.replace("\r\n", "\n")
            .replace('\r', "\n")
            .replace('\n', "\r\n")
            .into()
    } else {
        text.into()
    }
}

/// Whether line ends are anything but all CRLF or all LF.
fn mixed_line_ends(text: &str) -> bool {
    let b = text.as_bytes();
    let (mut crlf, mut lf, mut cr) = (false, false, false);
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\r' if b.get(i + 1) == Some(&b'\n') => crlf = true,
            b'\r' => cr = true,
            b'\n' if i == 0 || b[i - 1] != b'\r' => lf = true,
            _ => {}
        }
    }
    cr || (crlf && lf)
}

/// The VEVENTs of one UID: its key (the UID, or a placeholder for a VEVENT without a usable
/// one), master, overrides, and the master's DisCal properties.
struct Group {
    key: String,
    master: Option<Component>,
    overrides: Vec<Component>,
    meta: Meta,
    warnings: Vec<String>,
    /// Warnings past [`MAX_WARNINGS`], counted only: one UID can have thousands of VEVENTs.
    more_warnings: usize,
}

impl Group {
    fn warn(&mut self, w: String) {
        if self.warnings.len() >= MAX_WARNINGS {
            self.more_warnings += 1;
        } else if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }
}

/// Maps every VEVENT and groups overrides with their master by UID, in document order; a
/// VEVENT that does not map is an error in `errors`, not a failure of the document.
fn group_vevents(
    components: &[icalendar::parser::Component<'_>],
    zones: &zones::Zones,
    errors: &mut Vec<IcsError>,
) -> Result<BTreeMap<usize, Group>, IcsError> {
    let mut groups: BTreeMap<usize, Group> = BTreeMap::new();
    let mut by_uid: HashMap<String, usize> = HashMap::new();
    let mut seen_any = false;
    let vevents = components
        .iter()
        .filter(|c| c.name.as_str().eq_ignore_ascii_case("VEVENT"));
    for (index, c) in vevents.enumerate() {
        seen_any = true;
        let (uid, comp, meta) = match map_vevent(c, zones, &format!("#{}", index + 1)) {
            Ok(x) => x,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        // A VEVENT without a usable UID cannot be grouped; it is an event of its own.
        let key = match &uid {
            Some(u) if validate::check_uid(u).is_ok() => u.clone(),
            _ => format!("\u{0}{index}"),
        };
        let slot = *by_uid.entry(key.clone()).or_insert(index);
        let g = groups.entry(slot).or_insert_with(|| Group {
            key,
            master: None,
            overrides: Vec::new(),
            meta: Meta::default(),
            warnings: Vec::new(),
            more_warnings: 0,
        });
        for w in &meta.warnings {
            g.warn(w.clone());
        }
        if comp.recurrence_id.is_some() {
            g.overrides.push(comp);
        } else if let Some(held) = &g.master {
            // Thunderbird exports an edited event next to its first version; the later one
            // (higher SEQUENCE, else later DTSTAMP, RFC 5546 §2.1.5) is the event. Two that
            // say nothing about which is later are one UID for two events: the second is
            // refused.
            let version = |c: &Component| (c.sequence, c.dtstamp);
            match version(&comp).cmp(&version(held)) {
                std::cmp::Ordering::Greater => {
                    g.warn(format!(
                        "took the later of two VEVENTs with this UID (SEQUENCE {}), not the earlier (SEQUENCE {})",
                        comp.sequence, held.sequence
                    ));
                    g.master = Some(comp);
                    g.meta = meta;
                }
                std::cmp::Ordering::Less => g.warn(format!(
                    "dropped an earlier VEVENT with this UID (SEQUENCE {}) for the later one (SEQUENCE {})",
                    comp.sequence, held.sequence
                )),
                std::cmp::Ordering::Equal => errors.push(IcsError::Property {
                    uid: g.key.clone(),
                    property: "UID".into(),
                    reason: "two VEVENTs share this UID without RECURRENCE-ID, and neither is a later version (SEQUENCE, DTSTAMP)".into(),
                }),
            }
        } else {
            g.master = Some(comp);
            g.meta = meta;
        }
    }
    if !seen_any {
        return Err(IcsError::NoEvents);
    }
    Ok(groups)
}

/// Instances (RECURRENCE-ID) as RFC 5545 has them: without a rule of their own, one per
/// RECURRENCE-ID, and only of instances the series has. Exports break all three: khal's tests
/// and recurring-ical-events' keep files whose every instance repeats the series' RRULE, a
/// server that appends each edit of an instance writes it twice, and one that deletes an
/// edited instance adds an EXDATE to the series and leaves the edit in place. The rule is
/// dropped; of two versions of an instance the later (higher SEQUENCE, else later DTSTAMP,
/// else the one written last) is kept; an instance the series' EXDATE removes is dropped
/// (RFC 5545 §3.8.5.1: EXDATE takes it out of the set the instance would change). Each is
/// said once.
fn one_version_per_instance(
    master: &Component,
    overrides: &mut Vec<Component>,
    warnings: &mut Vec<String>,
) {
    let ruled = overrides
        .iter_mut()
        .map(|o| o.rrule.take())
        .filter(Option::is_some)
        .count();
    if ruled > 0 {
        warnings.push(format!(
            "dropped the RRULE of {ruled} instance(s) (RECURRENCE-ID): the series' rule is the master's"
        ));
    }
    align_recurrence_ids(master, overrides, warnings);
    let before = overrides.len();
    let mut kept: Vec<Component> = Vec::with_capacity(before);
    // Where each RECURRENCE-ID is in `kept`: a search of `kept` per override would cost the
    // square of their number (a 16 MiB feed of instances took 39 s).
    let mut at: HashMap<Option<DateTimeValue>, usize> = HashMap::with_capacity(before);
    for o in overrides.drain(..) {
        match at.get(&o.recurrence_id) {
            Some(&i) if (o.sequence, o.dtstamp) >= (kept[i].sequence, kept[i].dtstamp) => {
                kept[i] = o;
            }
            Some(_) => {}
            None => {
                at.insert(o.recurrence_id.clone(), kept.len());
                kept.push(o);
            }
        }
    }
    if kept.len() < before {
        warnings.push(format!(
            "kept the latest of several versions of {} instance(s) with the same RECURRENCE-ID",
            before - kept.len()
        ));
    }
    let exdates: HashSet<&DateTimeValue> = master.exdates.iter().collect();
    let exdays: HashSet<crate::model::Date> = master
        .exdates
        .iter()
        .filter_map(|x| match x {
            DateTimeValue::Date(d) => Some(*d),
            _ => None,
        })
        .collect();
    let excluded =
        |rid: &DateTimeValue| exdates.contains(rid) || exdays.contains(&rid.local().date);
    let before = kept.len();
    kept.retain(|o| !o.recurrence_id.as_ref().is_some_and(excluded));
    if kept.len() < before {
        warnings.push(format!(
            "dropped {} instance(s) (RECURRENCE-ID) that the series' EXDATE removes",
            before - kept.len()
        ));
    }
    // An app that ends a series early ("delete this and all following") raises its SEQUENCE
    // and sets UNTIL, and some leave the instances they had changed after that date in place
    // (recurring-ical-events' issue 253): those name instances the series no longer has, in
    // an older version of it, and would show as events that were deleted.
    let after = master
        .rrule
        .as_deref()
        .and_then(|rule| crate::recur::after_until(rule, &master.start));
    if let Some(after) = after {
        let before = kept.len();
        kept.retain(|o| {
            o.sequence >= master.sequence || !o.recurrence_id.as_ref().is_some_and(&after)
        });
        if kept.len() < before {
            warnings.push(format!(
                "dropped {} instance(s) (RECURRENCE-ID) after the series' UNTIL and older than \
                 it (SEQUENCE): the series was cut short after they were changed",
                before - kept.len()
            ));
        }
    }
    *overrides = kept;
}

/// RECURRENCE-IDs of the master's kind (RFC 5545 §3.8.4.4 asks for it; Outlook names the
/// instances of an all-day series by midnight in its zone): a DATE-TIME for an all-day series
/// is its date, a DATE for a timed one is that day's instance at DTSTART's time. Left as they
/// were, they match no instance, and the instance shows twice: as the series has it and as
/// changed.
fn align_recurrence_ids(
    master: &Component,
    overrides: &mut [Component],
    warnings: &mut Vec<String>,
) {
    let mut aligned = 0;
    for o in overrides.iter_mut() {
        let Some(rid) = &o.recurrence_id else {
            continue;
        };
        let fixed = match (master.start.is_date(), rid) {
            (true, DateTimeValue::Date(_)) => continue,
            (true, timed) => DateTimeValue::Date(timed.local().date),
            (false, DateTimeValue::Date(d)) => {
                let time = master.start.local();
                master.start.with_local(LocalDateTime { date: *d, ..time })
            }
            (false, _) => continue,
        };
        o.recurrence_id = Some(fixed);
        aligned += 1;
    }
    if aligned > 0 {
        let (master_kind, rid_kind) = if master.start.is_date() {
            ("a DATE", "DATE-TIME")
        } else {
            ("a DATE-TIME", "DATE")
        };
        warnings.push(format!(
            "read {aligned} RECURRENCE-ID(s) given as {rid_kind} as the instance of that day, as \
             DTSTART is {master_kind}"
        ));
    }
}

/// One group as an event: validated, its UID generated if it had none.
fn finish(g: Group, origin: &NodeKey, limits: &Limits) -> Result<ImportedEvent, IcsError> {
    let no_uid = g.key.starts_with('\u{0}');
    let label = if no_uid {
        "(no UID)".to_string()
    } else {
        g.key.clone()
    };
    let mut warnings = g.warnings;
    let more_warnings = g.more_warnings;
    let (master, mut overrides) = match (g.master, g.overrides) {
        (Some(master), overrides) => (master, overrides),
        // Instances of a recurring event whose master is elsewhere (an invitation to some
        // instances, or moved instances left behind when their series was deleted, as Google
        // and Lotus Notes exports have them): what the document says is those events at
        // those times. The first becomes the master at its own time; the others' original
        // times become its RDATEs, which they override, so the set stays self-consistent
        // for any reader of what DisCal writes.
        (None, mut overrides) if !overrides.is_empty() => {
            let mut first = overrides.remove(0);
            first.recurrence_id = None;
            // An instance's RRULE is its series' copied (khal's tests have two instances of
            // a weekly series, both with the rule): kept, it would make the series up again
            // from the first instance, a hundred weeks that the document does not hold.
            if first.rrule.take().is_some() {
                warnings.push(
                    "dropped the RRULE of an instance (RECURRENCE-ID) whose recurring event is \
                     not in the document: the rule is the series', not the instance's"
                        .into(),
                );
            }
            let mut held: HashSet<DateTimeValue> = first.rdates.iter().cloned().collect();
            for o in &mut overrides {
                if let Some(rid) = &o.recurrence_id {
                    if held.insert(rid.clone()) {
                        first.rdates.push(rid.clone());
                    }
                }
            }
            warnings.push(if overrides.is_empty() {
                "took an instance (RECURRENCE-ID) whose recurring event is not in the document \
                 as one event at its own time"
                    .to_string()
            } else {
                format!(
                    "took {} instances (RECURRENCE-ID) whose recurring event is not in the \
                     document as one event: the first at its own time, the others as its RDATEs",
                    overrides.len() + 1
                )
            });
            (first, overrides)
        }
        (None, _) => return Err(IcsError::OrphanOverride(label)),
    };
    one_version_per_instance(&master, &mut overrides, &mut warnings);
    let made = period_overrides(&master, &g.meta.periods, &mut overrides);
    if made > 0 {
        warnings.push(format!(
            "{made} RDATE period(s) with their own length kept as overrides of those instances"
        ));
    }
    let mut master = master;
    if let Err(reason) =
        extra_rules_as_dates(&mut master, &g.meta.extra_rules, limits, &mut warnings)
    {
        return Err(IcsError::Property {
            uid: label,
            property: "RRULE".into(),
            reason,
        });
    }
    let mut content = EventContent { master, overrides };
    repair(&mut content, limits, &mut warnings);
    if let Err(source) = validate::validate_content(&content, limits) {
        return Err(IcsError::Invalid { uid: label, source });
    }
    cap_warnings(&mut warnings, more_warnings);
    let (uid, uid_generated) = if no_uid {
        (generated_uid(&content, origin), true)
    } else {
        (g.key, false)
    };
    Ok(ImportedEvent {
        uid,
        uid_generated,
        content,
        hop: g.meta.hop,
        revision: g.meta.revision,
        warnings,
        written: g.meta.written,
    })
}

/// The most warnings one event keeps: a document can repeat one slip on each of thousands of
/// lines (an unknown TZID on each RDATE), and every warning travels to the writer's answer,
/// the source's status and the log.
pub const MAX_WARNINGS: usize = 32;

/// Cuts `warnings` to [`MAX_WARNINGS`], the last counting those cut and `more` already left
/// out.
fn cap_warnings(warnings: &mut Vec<String>, more: usize) {
    if warnings.len() > MAX_WARNINGS || more > 0 {
        let keep = warnings.len().min(MAX_WARNINGS - 1);
        let more = more + warnings.len() - keep;
        warnings.truncate(keep);
        warnings.push(format!("and {more} more warnings"));
    }
}

/// Holiday calendars start their yearly rules in the distant past (`DTSTART;VALUE=DATE:17531106`
/// for Election Day, Apple's iCal 1.0 era), before the years an event may have. A rule
/// without COUNT gives the same instances from any of its own instances on, so DTSTART moves
/// to its first instance in the accepted years, found within 2,000 steps of the rule (a
/// yearly rule since 1753 takes 150, a monthly one 1,770); RDATEs and EXDATEs before it go. A start that cannot be
/// moved so is left for validation to refuse.
fn move_ancient_start(master: &mut Component, limits: &Limits, warnings: &mut Vec<String>) {
    use crate::recur::{expand, ExpandLimits};
    let first_year = limits.years.0;
    let Some(rule) = &master.rrule else {
        return;
    };
    let old = master.start.local();
    if old.date.year >= first_year || rule.to_ascii_uppercase().contains("COUNT=") {
        return;
    }
    let content = EventContent {
        master: Component {
            rdates: Vec::new(),
            exdates: Vec::new(),
            ..master.clone()
        },
        overrides: Vec::new(),
    };
    let Some(from) = chrono::NaiveDate::from_ymd_opt(first_year, 1, 2) else {
        return;
    };
    let from = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let limits = ExpandLimits {
        max_examined: 2_000,
        max_returned: 1,
    };
    let Ok(found) = expand(
        &content,
        from,
        from + chrono::Duration::days(366 * 300),
        chrono_tz::UTC,
        limits,
    ) else {
        return;
    };
    let Some(first) = found.occurrences.first() else {
        return;
    };
    let new = first.recurrence_id;
    master.start = master.start.with_local(new);
    let before = |d: &DateTimeValue| d.local() < new;
    master.rdates.retain(|d| !before(d));
    master.exdates.retain(|d| !before(d));
    warnings.push(format!(
        "moved DTSTART from {:04}-{:02}-{:02} to its rule's first instance from {first_year}, \
         {:04}-{:02}-{:02}",
        old.date.year, old.date.month, old.date.day, new.date.year, new.date.month, new.date.day
    ));
}

/// RRULEs after the first that an event may have.
const MAX_EXTRA_RULES: usize = 3;

/// RFC 2445 allowed several RRULEs in one event (Zimbra and older exporters write them); RFC
/// 5545 keeps one, and so does DisCal. The first stays the event's rule; each other rule's
/// instances become RDATEs, as many as leave room under the property limit (the rest are
/// left out, and the warning says from when). A rule that cannot be read refuses the event, as
/// the first would.
fn extra_rules_as_dates(
    master: &mut Component,
    rules: &[String],
    limits: &Limits,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    use crate::recur::{expand, instant, ExpandLimits};
    // Real files carry two or three; each costs an expansion.
    if rules.len() > MAX_EXTRA_RULES {
        return Err(format!(
            "{} RRULEs; at most {} are read",
            rules.len() + 1,
            MAX_EXTRA_RULES + 1
        ));
    }
    for rule in rules {
        let room = (limits.max_component_properties / 2).saturating_sub(master.rdates.len());
        let mut alone = Component::new(master.start.clone());
        alone.rrule = Some(rule.clone());
        let content = EventContent {
            master: alone,
            overrides: Vec::new(),
        };
        let tz = chrono_tz::UTC;
        let from = instant(&master.start, tz).map_err(|e| e.to_string())?;
        let to = from + chrono::Duration::days(366 * 100);
        let found = expand(
            &content,
            from,
            to,
            tz,
            ExpandLimits {
                max_examined: 50_000,
                max_returned: room + 2,
            },
        )
        .map_err(|e| e.to_string())?;
        let start = master.start.local();
        let dates: Vec<DateTimeValue> = found
            .occurrences
            .iter()
            .map(|o| o.recurrence_id)
            .filter(|l| *l != start)
            .map(|l| master.start.with_local(l))
            .collect();
        let kept = dates.len().min(room);
        let cut = dates.get(kept).map(|d| {
            let l = d.local();
            format!(
                ", left out from {:04}-{:02}-{:02}",
                l.date.year, l.date.month, l.date.day
            )
        });
        warnings.push(format!(
            "read a second RRULE {rule:?} as {kept} RDATEs{}",
            cut.unwrap_or_default()
        ));
        for d in dates.into_iter().take(kept) {
            if !master.rdates.contains(&d) {
                master.rdates.push(d);
            }
        }
    }
    Ok(())
}

/// Long texts an event can do without, as Outlook and Teams invitations carry them (an
/// `X-ALT-DESC;FMTTYPE=text/html` of 60 KB of styles, an agenda in DESCRIPTION): a property
/// DisCal does not interpret over the text limit is dropped, and so are the largest of them
/// while they would take the event past three quarters of the signed payload's limit; a
/// DESCRIPTION over the limit is cut there. SUMMARY and LOCATION are not touched: one that long
/// is not a real event's, and the event is refused.
fn trim_long_texts(c: &mut Component, limits: &Limits, warnings: &mut Vec<String>) {
    let max = limits.max_text_bytes;
    if let Some(d) = c.description.as_mut().filter(|d| d.len() > max) {
        let mut cut = max - '…'.len_utf8();
        while !d.is_char_boundary(cut) {
            cut -= 1;
        }
        warnings.push(format!(
            "cut DESCRIPTION from {} to {max} bytes, the limit",
            d.len()
        ));
        d.truncate(cut);
        d.push('…');
    }
    // Largest first, in one pass: a hostile event of 400,000 small properties must not cost
    // a search per property dropped.
    let mut total = c.description.as_ref().map_or(0, String::len)
        + c.extra.iter().map(|p| p.value.len()).sum::<usize>();
    let budget = limits.max_payload_bytes / 4 * 3;
    let mut order: Vec<usize> = (0..c.extra.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(c.extra[i].value.len()));
    let mut drop = vec![false; c.extra.len()];
    for i in order {
        let len = c.extra[i].value.len();
        if len <= max && total <= budget {
            break;
        }
        drop[i] = true;
        total -= len;
    }
    let mut dropped = Vec::new();
    let mut at = 0;
    c.extra.retain(|p| {
        let gone = drop[at];
        at += 1;
        if gone {
            dropped.push(format!("{} ({} bytes)", p.name, p.value.len()));
        }
        !gone
    });
    if !dropped.is_empty() {
        let more = dropped.len().saturating_sub(5);
        dropped.truncate(5);
        if more > 0 {
            dropped.push(format!("and {more} more"));
        }
        warnings.push(format!(
            "dropped {}: over the size an event may have",
            dropped.join(", ")
        ));
    }
}

/// A DTEND with a zone (or UTC) beside a floating DTSTART, or a floating one beside a DTSTART
/// with a zone, takes the start's kind and keeps its wall-clock time, with a note. RFC 5545
/// gives a floating start a floating end; writers that set a zone on one of the two only
/// (algoo's Open Calendar: `DTSTART:…T180000`, `DTEND;TZID=Europe/Brussels:…T190000`) meant
/// one hour, which read as written is an end before the start, or a length that changes with
/// the reader's zone. Start and end in two zones, or one in UTC, stay as they are.
///
/// A DATE beside a DATE-TIME is read the same way (recurring-ical-events' issue 201 has a
/// summer camp from `DTSTART;VALUE=DATE:20230724` to `DTEND:20230817T000000Z`): a timed
/// start's DATE end is midnight at the start of that day in the start's zone; an all-day
/// start's timed end becomes the first day the event no longer covers (a DATE end's meaning):
/// the day after the one the end falls in, or that day itself if the end is at midnight.
fn end_like_start(start: &DateTimeValue, end: &mut DateTimeValue) -> Option<String> {
    let local = end.local();
    let midnight = (local.hour, local.minute, local.second) == (0, 0, 0);
    let new = match (start, &*end) {
        (DateTimeValue::Date(_), DateTimeValue::Date(_)) => return None,
        (DateTimeValue::Date(_), _) if midnight => DateTimeValue::Date(local.date),
        (DateTimeValue::Date(_), _) => DateTimeValue::Date(
            local
                .date
                .to_chrono()
                .and_then(|d| d.succ_opt())
                .map(crate::model::Date::from_chrono)?,
        ),
        (_, DateTimeValue::Date(d)) => start.with_local(LocalDateTime {
            date: *d,
            hour: 0,
            minute: 0,
            second: 0,
        }),
        (DateTimeValue::Floating(_), DateTimeValue::Zoned { .. } | DateTimeValue::Utc(_)) => {
            DateTimeValue::Floating(local)
        }
        (DateTimeValue::Zoned { tzid, .. }, DateTimeValue::Floating(_)) => DateTimeValue::Zoned {
            local,
            tzid: tzid.clone(),
        },
        (DateTimeValue::Utc(_), DateTimeValue::Floating(_)) => DateTimeValue::Utc(local),
        _ => return None,
    };
    let note = format!(
        "read {:?} as {:?}, as DTSTART has {}",
        write::dt_line("DTEND", end),
        write::dt_line("DTEND", &new),
        match start {
            DateTimeValue::Date(_) => "no time",
            _ if end.is_date() => "a time",
            DateTimeValue::Floating(_) => "no time zone",
            _ => "a time zone",
        }
    );
    *end = new;
    Some(note)
}

/// Mends what would refuse an event for a detail it can do without: an end that breaks the
/// rules (before the start; a DATE/DATE-TIME mix is first read as meant) is dropped, a GEO out
/// of range is dropped, CATEGORIES past the limit are cut, an RRULE that ends before DTSTART is
/// dropped and the event taken as cancelled (only the rule is dropped if it has RDATEs); each
/// with a warning.
fn repair(content: &mut EventContent, limits: &Limits, warnings: &mut Vec<String>) {
    move_ancient_start(&mut content.master, limits, warnings);
    if let Some(rule) = content.master.rrule.clone() {
        if crate::recur::ends_before_start(&rule, &content.master.start) {
            let m = &mut content.master;
            // RFC 5545 counts DTSTART as an instance even so, but the files that have such a
            // rule mean a series that was deleted or ended (Atlassian Confluence writes it for
            // a deleted one, Apple iCal for one whose end the user set before its start), and
            // libical (Evolution), ical.js (Thunderbird) and recurring-ical-events show none.
            // Taken as cancelled, the event says so in every feed instead of coming back once.
            if m.rdates.is_empty() {
                warnings.push(format!(
                    "taken as cancelled: RRULE {rule:?} ends before DTSTART, so the series has \
                     no instance (it was deleted or ended)"
                ));
                m.status = Some(crate::model::Status::Cancelled);
            } else {
                warnings.push(format!(
                    "dropped RRULE {rule:?}: its UNTIL is before DTSTART, so DTSTART and the \
                     RDATEs are its instances"
                ));
            }
            m.rrule = None;
        }
    }
    let mut components: Vec<&mut Component> = vec![&mut content.master];
    components.extend(content.overrides.iter_mut());
    let mut lost_end = Vec::new();
    for (i, c) in components.into_iter().enumerate() {
        if let Some(End::At(end)) = &mut c.end {
            if let Some(note) = end_like_start(&c.start, end) {
                warnings.push(note);
            }
        }
        if let Some(end) = &c.end {
            if let Some(why) = validate::end_problem(&c.start, end, limits) {
                warnings.push(format!("dropped the end: {why}"));
                c.end = None;
                if i > 0 {
                    lost_end.push(i - 1);
                }
            }
        }
        if let Some(g) = c.geo {
            let ok = (-90.0..=90.0).contains(&g.lat) && (-180.0..=180.0).contains(&g.lon);
            if !ok {
                warnings.push(format!("dropped GEO {},{}: out of range", g.lat, g.lon));
                c.geo = None;
            }
        }
        trim_long_texts(c, limits, warnings);
        let mut seen = HashSet::new();
        c.categories.retain(|t| seen.insert(t.clone()));
        if c.categories.len() > limits.max_categories {
            warnings.push(format!(
                "kept the first {} of {} CATEGORIES",
                limits.max_categories,
                c.categories.len()
            ));
            c.categories.truncate(limits.max_categories);
        }
    }
    // A moved instance whose end had to be dropped keeps the series' length rather than
    // none: its DTEND is most often the original day's, left when the start was moved
    // (node-ical's tests: an instance moved from the 7th to the 9th, still ending on the 7th).
    if lost_end.is_empty() {
        return;
    }
    let length = series_length(&content.master);
    let mut given = 0;
    for i in lost_end {
        let o = &mut content.overrides[i];
        if let Some(len) = length.filter(|_| o.start.is_date() == content.master.start.is_date()) {
            o.end = Some(End::Duration(len));
            given += 1;
        }
    }
    if given > 0 {
        warnings.push(format!(
            "gave {given} instance(s) (RECURRENCE-ID) whose end was dropped the series' length"
        ));
    }
}

/// The master's length as a DURATION, if it has a valid end: whole days for an all-day event,
/// exact seconds for a timed one.
fn series_length(master: &Component) -> Option<crate::model::Duration> {
    let zero = crate::model::Duration::default();
    match master.end.as_ref()? {
        End::Duration(d) => (!d.negative).then_some(*d),
        End::At(DateTimeValue::Date(e)) => {
            let DateTimeValue::Date(s) = master.start else {
                return None;
            };
            let days = (e.to_chrono()? - s.to_chrono()?).num_days();
            Some(crate::model::Duration {
                days: u32::try_from(days).ok()?,
                ..zero
            })
        }
        End::At(e) => {
            let utc = chrono_tz::UTC;
            let secs = (crate::recur::instant(e, utc).ok()?
                - crate::recur::instant(&master.start, utc).ok()?)
            .num_seconds();
            Some(crate::model::Duration {
                seconds: u32::try_from(secs).ok()?,
                ..zero
            })
        }
    }
}

/// RDATE periods (RFC 5545 §3.8.5.2) whose length differs from the event's become overrides
/// of their instance with that end, unless the document overrides the instance itself.
/// Returns how many were made.
fn period_overrides(
    master: &Component,
    periods: &[(DateTimeValue, End)],
    overrides: &mut Vec<Component>,
) -> usize {
    let mut made = 0;
    for (start, end) in periods {
        if master.end.as_ref() == Some(end)
            || length(&master.start, master.end.as_ref()) == length(start, Some(end))
            || overrides
                .iter()
                .any(|o| o.recurrence_id.as_ref() == Some(start))
        {
            continue;
        }
        let mut o = master.clone();
        o.rrule = None;
        o.rdates.clear();
        o.exdates.clear();
        o.recurrence_id = Some(start.clone());
        o.start = start.clone();
        o.end = Some(end.clone());
        overrides.push(o);
        made += 1;
    }
    made
}

/// A length in seconds of wall-clock time, where it can be told without a zone.
fn length(start: &DateTimeValue, end: Option<&End>) -> Option<i64> {
    let naive = |v: &DateTimeValue| v.local().to_chrono();
    match end? {
        End::Duration(d) => {
            let s =
                i64::from(d.weeks) * 7 * 86_400 + i64::from(d.days) * 86_400 + i64::from(d.seconds);
            Some(if d.negative { -s } else { s })
        }
        End::At(e) => Some((naive(e)? - naive(start)?).num_seconds()),
    }
}

/// `<first 16 bytes of sha256(content) in hex>@<origin key>`.
pub fn generated_uid(content: &EventContent, origin: &NodeKey) -> String {
    let digest = Sha256::digest(codec::encode(content));
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@{origin}")
}

#[derive(Default, Clone)]
pub(crate) struct Meta {
    pub(crate) hop: Option<u32>,
    /// X-HOP, X-REVISION, X-REVISE-URL as written, for [`ImportedEvent::written`].
    pub(crate) written: [Option<String>; 3],
    pub(crate) revision: Option<u32>,
    /// `RDATE;VALUE=PERIOD` instances: each start with its own end.
    pub(crate) periods: Vec<(DateTimeValue, End)>,
    /// What was adjusted to map the VEVENT.
    pub(crate) warnings: Vec<String>,
    /// RRULEs after the first (RFC 2445 allowed several).
    pub(crate) extra_rules: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::write::*;
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        for (s, want) in [
            ("PT1H30M", "PT1H30M"),
            ("P1D", "P1D"),
            ("P2W", "P2W"),
            ("P1DT2H", "P1DT2H"),
            ("PT0S", "PT0S"),
            ("-PT15M", "-PT15M"),
        ] {
            assert_eq!(fmt_duration(&parse_duration(s).unwrap()), want, "{s}");
        }
        for bad in ["", "P", "PT", "1H", "P1H", "PT1D", "P99999999999D", "PTXH"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn folding_respects_octets_and_characters() {
        let mut out = String::new();
        let line = format!("SUMMARY:{}", "é".repeat(100));
        fold_line(&mut out, &line);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), line);
    }

    #[test]
    fn an_event_without_uid_listed_twice_is_taken_once() {
        let origin = crate::NodeSecret::from_seed_array([7; 32]).public();
        let one = "BEGIN:VEVENT\r\nDTSTART:20270105T180000Z\r\nSUMMARY:Meetup\r\nEND:VEVENT\r\n";
        let other = one.replace("Meetup", "Workshop");
        let doc = format!("BEGIN:VCALENDAR\r\n{one}{other}{one}END:VCALENDAR\r\n");
        let import = parse_calendar(&doc, &origin, &Limits::default()).unwrap();
        assert_eq!(import.events.len(), 2);
        assert_ne!(import.events[0].uid, import.events[1].uid);
        assert_eq!(import.errors.len(), 1, "{:?}", import.errors);
        assert!(import.errors[0].to_string().contains("taken once"));
    }

    #[test]
    fn text_cannot_break_out_of_its_property() {
        let e = escape_text("a\r\nATTENDEE:mailto:x@y;b,c\\");
        assert!(!e.contains('\r') && !e.contains('\n'));
        assert_eq!(e, "a\\nATTENDEE:mailto:x@y\\;b\\,c\\\\");
        assert_eq!(param_value("x\"y:z"), "\"xy:z\"");
    }
}
