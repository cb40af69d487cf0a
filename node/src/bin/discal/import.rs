//! `discal import FILE`: an iCalendar file of any size, in parts that each fit the write API's
//! body limit (a master and its overrides always in one part), with a progress bar on a
//! terminal and a summary at the end. Each part is acknowledged (stored durably) before the
//! next is sent, so an interrupted import can be run again: what was stored is unchanged.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result};
use discal_gateway::WriteOp;
use discal_protocol::ics::split_calendar;

use crate::args::Common;
use crate::remote::{send, Sent};

/// Bytes per part: half the write API's body limit, so the headers and JSON never matter.
const PART_BYTES: usize = discal_gateway::MAX_BODY_BYTES / 2;
/// Bytes per part with the node stopped: no body limit then, only the parser's, and each
/// part opens the store once.
const OFFLINE_PART_BYTES: usize = discal_protocol::ics::MAX_ICS_BYTES / 2;

/// Refused events named one by one in the summary; past this they are only counted.
const NAMED: usize = 20;

/// What an import did.
#[derive(Default)]
struct Summary {
    new: usize,
    changed: usize,
    unchanged: usize,
    refused: usize,
    /// Events taken with warnings.
    warned: usize,
    /// Why events (or whole parts) were refused, with how many events each reason covers.
    reasons: Vec<(usize, String)>,
    /// Each distinct warning, with how many events it was given for.
    warnings: Vec<(usize, String)>,
}

impl Summary {
    fn add(&mut self, w: &discal_gateway::Written) {
        if let Some(why) = &w.refused {
            self.refused += 1;
            self.reasons.push((1, why.clone()));
            return;
        }
        match (w.changed, w.revision) {
            (false, _) => self.unchanged += 1,
            (true, 0) => self.new += 1,
            (true, _) => self.changed += 1,
        }
        self.warned += usize::from(w.warnings.iter().any(|x| !x.starts_with("document:")));
        for x in &w.warnings {
            match self.warnings.iter_mut().find(|(_, y)| y == x) {
                Some((n, _)) => *n += 1,
                None => self.warnings.push((1, x.clone())),
            }
        }
    }
}

/// Imports `file`; fails (exit 1) if any part was refused, after the summary.
pub fn cmd_import(common: &Common, file: &Path) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let (text, fallback) = discal_protocol::ics::decode_text(&bytes);
    if fallback {
        say!("{}: not UTF-8; read as Windows-1252", file.display());
    }
    // A node started during the import gets parts over its body limit, refused with 413 and
    // reported; the import can be run again.
    let running = crate::remote::get(common, "/status")?.is_some();
    let parts = split_calendar(
        &text,
        if running {
            PART_BYTES
        } else {
            OFFLINE_PART_BYTES
        },
    );
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(parts.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut s = Summary::default();
    for part in parts {
        let events = uids_in(&part);
        match send(common, WriteOp::Import(part))? {
            Sent::Written(written) => written.iter().for_each(|w| s.add(w)),
            Sent::Refused(status, message) => {
                s.refused += events;
                s.reasons.push((events, format!("{status}: {message}")));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    say!(
        "{}: {} new, {} changed, {} unchanged, {} refused; {} taken with warnings",
        file.display(),
        s.new,
        s.changed,
        s.unchanged,
        s.refused,
        s.warned
    );
    for (n, why) in &s.warnings {
        say!("  warning ({n}): {why}");
    }
    for (n, why) in s.reasons.iter().take(NAMED) {
        let what = if *n == 1 { "event" } else { "events" };
        say!("  refused {n} {what}: {why}");
    }
    if s.reasons.len() > NAMED {
        say!("  ... and {} more refusals", s.reasons.len() - NAMED);
    }
    if s.refused > 0 {
        anyhow::bail!("{} of the file's events were refused", s.refused);
    }
    Ok(())
}

/// How many distinct UIDs a part names (its events, overrides counted with their master).
fn uids_in(part: &str) -> usize {
    let mut uids: Vec<&str> = part
        .lines()
        // `get`, not `[..4]`: a line of a damaged file may have a multi-byte character there.
        .filter(|l| l.len() > 4 && l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("UID:")))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    uids.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::uids_in;

    #[test]
    fn uids_are_counted_in_lines_with_any_characters() {
        // Lines from libical's fuzzing crash files (read as Windows-1252): a multi-byte
        // character straddles byte 4, where the `UID:` check looks.
        let part = "BEGIN:VEVENT\nCAT\u{c5}GORIES:x\nDES\u{2dc}RI\nUID:a\nuid:b\nUID:a\n\u{ff}\u{ff}\u{ff}END\n";
        assert_eq!(uids_in(part), 2);
        assert_eq!(uids_in("\u{e9}\u{e9}\u{e9}"), 1);
    }
}
