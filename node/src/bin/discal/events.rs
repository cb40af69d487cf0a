//! `discal event add|update|cancel|list`.

use std::io::Write;

use anyhow::Result;
use discal_gateway::{EventSummary, WriteOp, Written};

use crate::args::EventCmd;
use crate::remote::{get, write};

pub fn print_written(w: &[Written]) {
    for x in w {
        let note = if x.changed { "" } else { "\t(unchanged)" };
        say!("{}\trevision {}{note}", x.uid, x.revision);
    }
}

pub fn cmd_event(e: EventCmd) -> Result<()> {
    match e {
        EventCmd::Add { common, fields } => {
            let w = write(&common, WriteOp::Create(fields.draft()))?;
            // The UID alone, so scripts can take it.
            for x in w {
                say!("{}", x.uid);
            }
        }
        EventCmd::Update {
            common,
            uid,
            fields,
        } => print_written(&write(
            &common,
            WriteOp::Update {
                uid,
                patch: fields.draft(),
            },
        )?),
        EventCmd::Cancel { common, uid } => {
            print_written(&write(&common, WriteOp::Cancel { uid })?)
        }
        EventCmd::List { common } => {
            let list: Vec<EventSummary> = match get(&common, "/api/events")? {
                Some(body) => serde_json::from_str(&body)?,
                None => {
                    let store = discal_node::offline_store(&common.data_dir())?;
                    discal_gateway::summaries(&store)?
                }
            };
            for s in list {
                say!(
                    "{}\t{}\trev {}\thop {}\t{}\t{}{}",
                    s.uid,
                    s.start,
                    s.revision,
                    s.hop,
                    s.title,
                    s.origin,
                    if s.cancelled { "\tCANCELLED" } else { "" }
                );
            }
        }
    }
    Ok(())
}
