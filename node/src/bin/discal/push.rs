//! `discal push add|list|remove|decide`: the `[[push.targets]]` of the config, the hub's
//! subscriptions and the sites that push here.

use std::io::Write;

use anyhow::{bail, Result};
use discal_node::config;
use discal_node::push::{Auth, PushTarget};

use crate::args::PushCmd;
use crate::remote;

pub fn cmd_push(c: PushCmd) -> Result<()> {
    match c {
        PushCmd::Add {
            common,
            name,
            url,
            filter,
            secret,
            keyid,
            allow_private,
        } => {
            let secret = secret.filter(|s| !s.is_empty());
            let target = PushTarget {
                name: name.clone(),
                url,
                filter,
                auth: if secret.is_some() {
                    Auth::Hmac
                } else {
                    Auth::Signature
                },
                secret,
                keyid,
                allow_private,
            };
            config::edit_push_targets(&common.config_path(), |list| {
                list.retain(|t| t.name != target.name);
                list.push(target);
                Ok(())
            })?;
            eprintln!("push target {name} added; a running node starts with everything it holds that matches");
        }
        PushCmd::Remove { common, name } => {
            let mut found = false;
            config::edit_push_targets(&common.config_path(), |list| {
                let before = list.len();
                list.retain(|t| t.name != name);
                found = list.len() != before;
                Ok(())
            })?;
            if !found {
                bail!("no push target named {name:?}");
            }
            eprintln!("push target {name} removed");
        }
        PushCmd::List { common } => {
            let Some(body) = remote::get(&common, "/api/push")? else {
                bail!("the node is not running: start it (discal run), then list");
            };
            let v: serde_json::Value = serde_json::from_str(&body)?;
            print(&v);
        }
        PushCmd::Decide { common, id, verb } => {
            let path = format!(
                "/api/push/{}/{}",
                discal_gateway::read::path_segment(&id),
                discal_gateway::read::path_segment(&verb)
            );
            match remote::call(&common, "POST", &path, None)? {
                None => bail!("the node is not running: start it (discal run), then decide"),
                Some((200, _)) => eprintln!("{id}: {verb} done"),
                Some((status, body)) => bail!("node answered {status}: {}", body.trim()),
            }
        }
    }
    Ok(())
}

fn delivery(d: &serde_json::Value) -> String {
    let mut s = format!("delivered {}", d["delivered"]);
    if d["dead"].as_bool().unwrap_or(false) {
        s.push_str(", STOPPED (failing too long; discal push decide <id> resume)");
    } else if d["attempts"].as_u64().unwrap_or(0) > 0 {
        s.push_str(&format!(", failing ({} attempts)", d["attempts"]));
    }
    if let Some(e) = d["last_error"].as_str().filter(|e| !e.is_empty()) {
        s.push_str(&format!(", last error: {e}"));
    }
    s
}

fn print(v: &serde_json::Value) {
    let none = Vec::new();
    let list = |k: &str| v[k].as_array().unwrap_or(&none).clone();
    say!(
        "hub registrations: {}",
        v["registrations"].as_str().unwrap_or("")
    );
    for t in list("targets") {
        say!(
            "target {}\t{} ({}) {}",
            t["name"].as_str().unwrap_or(""),
            t["url"].as_str().unwrap_or(""),
            t["auth"].as_str().unwrap_or(""),
            t["filter"].as_str().unwrap_or("")
        );
        say!("  {}", delivery(&t["delivery"]));
    }
    for s in list("subscriptions") {
        say!(
            "subscription {}\t{} -> {} [{}]",
            s["id"].as_str().unwrap_or(""),
            s["topic"].as_str().unwrap_or(""),
            s["callback"].as_str().unwrap_or(""),
            s["state"].as_str().unwrap_or("")
        );
        say!("  {}", delivery(&s["delivery"]));
    }
    for i in list("inbound") {
        say!(
            "inbound {}\t{} ({}), {} events",
            i["name"].as_str().unwrap_or(""),
            i["push_url"].as_str().unwrap_or(""),
            i["auth"].as_str().unwrap_or(""),
            i["events"]
        );
    }
}

/// `discal dedupe split|join|clear A B`.
pub fn cmd_dedupe(common: &crate::args::Common, action: &str, a: &str, b: &str) -> Result<()> {
    if !matches!(action, "split" | "join" | "clear") {
        bail!("{action:?}: split, join or clear");
    }
    let listing = |u: &str| discal_gateway::read::event_of_page(u).map_err(anyhow::Error::msg);
    let (a, b) = (listing(a)?, listing(b)?);
    let body = serde_json::json!({
        "a": {"origin": a.0, "uid": a.1},
        "b": {"origin": b.0, "uid": b.1},
        "action": action,
    })
    .to_string();
    match remote::call(common, "POST", "/api/dedupe", Some(body))? {
        None => bail!("the node is not running: start it (discal run), then correct"),
        Some((200, _)) => eprintln!("{action}: done; feeds and CalDAV show it now"),
        Some((status, body)) => bail!("node answered {status}: {}", body.trim()),
    }
    Ok(())
}
