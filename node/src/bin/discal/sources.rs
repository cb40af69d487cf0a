//! `discal source add|list|remove|run`: the `[[sources]]` of the config, and their polls.

use std::io::Write;

use anyhow::{anyhow, bail, Result};
use discal_node::config;
use discal_node::sources::{source_json, SourceEntry};

use crate::args::{Common, SourceCmd};
use crate::remote;

pub fn cmd_source(c: SourceCmd) -> Result<()> {
    match c {
        SourceCmd::Add {
            common,
            url,
            name,
            kind,
            every,
            tags,
            tz,
            allow_private,
            depth,
            max_pages,
            max_events,
        } => {
            let url = match discal_node::sources::entry::from_webcal(&url) {
                Some(https) => {
                    eprintln!(
                        "reading {url} as {https} (webcal:// is HTTP underneath; give the \
                         http:// URL if the site has no HTTPS)"
                    );
                    https
                }
                None => url,
            };
            let name = match name {
                Some(n) => n,
                None => discal_protocol::source::url_host(&url)
                    .ok_or_else(|| anyhow!("{url:?} is not an http(s) URL"))?,
            };
            let entry = SourceEntry {
                every,
                tags: tags.into_iter().filter(|t| !t.is_empty()).collect(),
                tz,
                allow_private,
                depth,
                max_pages,
                max_events,
                ..SourceEntry::new(&name, &url, kind.parse().map_err(|e: String| anyhow!(e))?)
            };
            entry.check()?;
            config::edit_sources(&common.config_path(), |list| {
                list.retain(|s| s.name != entry.name);
                list.push(entry);
                Ok(())
            })?;
            eprintln!("source {name} added; a running node polls it now");
        }
        SourceCmd::Remove { common, name } => {
            let mut found = false;
            config::edit_sources(&common.config_path(), |list| {
                let before = list.len();
                list.retain(|s| s.name != name);
                found = list.len() != before;
                Ok(())
            })?;
            if !found {
                bail!("no source named {name:?}");
            }
            eprintln!("source {name} removed (its events stay, as this node's)");
        }
        SourceCmd::List { common } => list(&common)?,
        SourceCmd::Run { common, name } => {
            let path = format!(
                "/api/sources/{}/run",
                discal_gateway::read::path_segment(&name)
            );
            match remote::call(&common, "POST", &path, None)? {
                None => bail!("the node is not running: start it (discal run), then poll"),
                Some((200, body)) => {
                    let v: serde_json::Value = serde_json::from_str(&body)?;
                    print_one(&v);
                    if let Some(e) = v["last_error"].as_str() {
                        bail!("{name}: {e}");
                    }
                }
                Some((status, body)) => bail!("node answered {status}: {}", body.trim()),
            }
        }
    }
    Ok(())
}

/// Every source: from the running node, or from the stopped node's store.
fn list(common: &Common) -> Result<()> {
    let all: Vec<serde_json::Value> = match remote::get(common, "/api/sources")? {
        Some(body) => serde_json::from_str(&body)?,
        None => {
            let cfg = common.load()?;
            let store = discal_node::offline_store(&common.data_dir())?;
            cfg.sources
                .iter()
                .map(|e| Ok(source_json(e, store.source_state(&e.name)?.as_ref())))
                .collect::<Result<_>>()?
        }
    };
    if all.is_empty() {
        eprintln!("no sources; add one with: discal source add URL");
    }
    for v in &all {
        print_one(v);
    }
    Ok(())
}

fn when(ms: &serde_json::Value) -> String {
    ms.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "never".into(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        )
}

fn print_one(v: &serde_json::Value) {
    let c = &v["last"];
    say!(
        "{}\t{} ({})",
        v["name"].as_str().unwrap_or(""),
        v["url"].as_str().unwrap_or(""),
        v["kind"].as_str().unwrap_or("")
    );
    say!(
        "  last fetch {}, HTTP {}, next due {}",
        when(&v["last_poll_ms"]),
        v["last_status"]
            .as_u64()
            .map_or("-".into(), |s| s.to_string()),
        when(&v["next_due_ms"]),
    );
    say!(
        "  events {}; last read: seen {}, new {}, changed {}, cancelled {}, refused {}",
        v["events"],
        c["seen"],
        c["new"],
        c["changed"],
        c["cancelled"],
        c["refused"]
    );
    if let Some(e) = v["last_error"].as_str() {
        say!("  last error: {e}");
    }
    for p in v["problems"].as_array().into_iter().flatten() {
        say!("  problem: {}", p.as_str().unwrap_or(""));
    }
}
