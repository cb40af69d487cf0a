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

/// What an import did.
#[derive(Default)]
struct Summary {
    new: usize,
    changed: usize,
    unchanged: usize,
    refused: usize,
    /// Why parts were refused, with the number of events in each.
    reasons: Vec<(usize, String)>,
}

/// Imports `file`; fails (exit 1) if any part was refused, after the summary.
pub fn cmd_import(common: &Common, file: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let parts = split_calendar(&text, PART_BYTES);
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(parts.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut s = Summary::default();
    for part in parts {
        let events = uids_in(&part);
        match send(common, WriteOp::Import(part))? {
            Sent::Written(written) => {
                for w in written {
                    match (w.changed, w.revision) {
                        (false, _) => s.unchanged += 1,
                        (true, 0) => s.new += 1,
                        (true, _) => s.changed += 1,
                    }
                }
            }
            Sent::Refused(status, message) => {
                s.refused += events;
                s.reasons.push((events, format!("{status}: {message}")));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    say!(
        "{}: {} new, {} changed, {} unchanged, {} refused",
        file.display(),
        s.new,
        s.changed,
        s.unchanged,
        s.refused
    );
    for (n, why) in &s.reasons {
        say!("  refused {n} events: {why}");
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
        .filter(|l| l.len() > 4 && l[..4].eq_ignore_ascii_case("UID:"))
        .collect();
    uids.sort_unstable();
    uids.dedup();
    uids.len().max(1)
}
