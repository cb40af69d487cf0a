//! `discal init`, `id` and `peer`: the data dir, the node's key and the allowlist.

use std::io::Write;

use anyhow::{bail, Result};
use discal_node::config::{self, Config, PeerEntry};
use discal_node::identity;

use crate::args::{Common, PeerCmd};
use crate::remote::get;

pub fn cmd_init(common: &Common, http: Option<String>, listen: Vec<String>) -> Result<()> {
    let dir = common.data_dir();
    let ident = identity::load_or_create(&dir)?;
    identity::admin_token(&dir)?;
    let path = common.config_path();
    if path.exists() {
        eprintln!("{} exists; left as it is", path.display());
    } else {
        let mut text = config::DEFAULT_CONFIG_TOML.to_owned();
        if let Some(h) = http {
            text = text.replace(
                &format!("http = \"{}\"", config::DEFAULT_HTTP),
                &format!("http = {}", toml_string(&h)),
            );
        }
        if !listen.is_empty() {
            let list: Vec<String> = listen.iter().map(|l| toml_string(l)).collect();
            text = text.replace(
                &format!("listen = [\"{}\"]", config::DEFAULT_LISTEN),
                &format!("listen = [{}]", list.join(", ")),
            );
        }
        // Refuse to write a file the node would not start with.
        Config::parse(&text, &path)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        config::write_atomic(&path, text.as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    say!("{}", ident.key());
    // On stderr, like the lines above: stdout is the key alone, for scripts.
    let store = discal_node::offline_store(&common.data_dir()).ok();
    if store
        .and_then(|s| s.accounts().ok())
        .is_some_and(|a| a.is_empty())
    {
        eprintln!(
            "no accounts yet: create the first admin with `discal user add NAME --role admin`, \
             then log in at <public_url>/login"
        );
    }
    Ok(())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

pub fn cmd_id(common: &Common) -> Result<()> {
    let key = identity::load_or_create(&common.data_dir())?.key();
    say!("{key}");
    let cfg = common.load()?;
    // A running node knows its real addresses; otherwise show the configured ones.
    let addrs: Vec<String> = match get(common, "/status").ok().flatten() {
        Some(body) => serde_json::from_str::<serde_json::Value>(&body)?["listen"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        _ => cfg.listen.clone(),
    };
    for a in addrs {
        say!("{a}/p2p/{key}");
    }
    Ok(())
}

pub fn cmd_peer(p: PeerCmd) -> Result<()> {
    match p {
        PeerCmd::Add {
            common,
            key,
            addr,
            name,
        } => {
            let entry = PeerEntry {
                key: key.clone(),
                address: Some(addr),
                name,
            };
            entry.node_key()?;
            config::edit_peers(&common.config_path(), |peers| {
                peers.retain(|p| p.key != key);
                peers.push(entry);
                Ok(())
            })?;
            eprintln!("peer {key} allowed");
        }
        PeerCmd::Remove { common, key } => {
            let mut found = false;
            config::edit_peers(&common.config_path(), |peers| {
                let before = peers.len();
                peers.retain(|p| p.key != key);
                found = peers.len() != before;
                Ok(())
            })?;
            if !found {
                bail!("{key} is not in the allowlist");
            }
            eprintln!("peer {key} removed");
        }
        PeerCmd::List { common } => {
            for p in common.load()?.peers {
                say!(
                    "{}\t{}\t{}",
                    p.key,
                    p.address.unwrap_or_default(),
                    p.name.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
