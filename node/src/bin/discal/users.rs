//! `discal user ...`: accounts. Through the running node's `/api/users` (its store is locked
//! while it runs), or on the store directly when it is stopped; the same rules either way
//! (`discal_gateway::accounts`).

use std::io::{Read, Write};

use anyhow::{bail, Context, Result};
use discal_gateway::accounts;
use discal_gateway::users_api::{UserAnswer, UserRequest, UserSummary};

use crate::args::{Common, UserCmd};
use crate::remote::call;

/// Who the audit log names for changes made here.
const ACTOR: &str = "(cli)";

fn stdin_password() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .take(accounts::MAX_PASSWORD_BYTES as u64 + 2)
        .read_to_string(&mut s)
        .context("reading the password from standard input")?;
    // A trailing newline from `echo` is not part of the password.
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

/// Sends a request to the running node; `None` when it is stopped.
fn online(
    common: &Common,
    method: &str,
    path: &str,
    req: Option<&UserRequest>,
) -> Result<Option<String>> {
    let json = req.map(serde_json::to_string).transpose()?;
    match call(common, method, path, json)? {
        None => Ok(None),
        Some((200 | 201, body)) => Ok(Some(body)),
        Some((status, body)) => bail!("node answered {status}: {}", body.trim()),
    }
}

fn offline<T>(
    common: &Common,
    f: impl FnOnce(&discal_store::Store, i64) -> Result<T, accounts::AccountError>,
) -> Result<T> {
    let store = discal_node::offline_store(&common.data_dir())?;
    let now = chrono::Utc::now().timestamp_millis();
    let r = f(&store, now).map_err(|e| anyhow::anyhow!("{e}"));
    store.flush()?;
    r
}

fn show(answer: &UserAnswer, name: &str) {
    if let Some(p) = &answer.password {
        say!("one-time password for {name} (shown once; log in at /login): {p}");
    }
    if let Some(t) = &answer.token {
        say!("{t}");
    }
}

/// Dispatches `discal user ...`.
pub fn cmd_user(cmd: UserCmd) -> Result<()> {
    match cmd {
        UserCmd::Add {
            common,
            name,
            role,
            password_stdin,
        } => add(&common, &name, &role, password_stdin),
        UserCmd::List { common } => list(&common),
        UserCmd::Disable { common, name } => {
            let path = format!("/api/users/{name}/disable");
            if online(&common, "POST", &path, None)?.is_none() {
                offline(&common, |s, now| {
                    accounts::set_disabled(s, ACTOR, &name, true, now)
                })?;
            }
            say!("disabled {name}; its sessions are ended and its tokens refused");
            Ok(())
        }
        UserCmd::Passwd {
            common,
            name,
            password_stdin,
        } => passwd(&common, &name, password_stdin),
        UserCmd::Token {
            common,
            name,
            label,
            revoke,
        } => token(&common, &name, &label, revoke),
    }
}

fn add(common: &Common, name: &str, role: &str, password_stdin: bool) -> Result<()> {
    let password = password_stdin.then(stdin_password).transpose()?;
    let req = UserRequest {
        name: Some(name.to_owned()),
        role: Some(role.to_owned()),
        password: password.clone(),
        label: None,
    };
    let answer = match online(common, "POST", "/api/users", Some(&req))? {
        Some(body) => serde_json::from_str(&body)?,
        None => {
            let role = accounts::parse_role(role).map_err(|e| anyhow::anyhow!("{e}"))?;
            let p = offline(common, |s, now| {
                accounts::add_user(s, ACTOR, name, role, password.as_deref(), now)
            })?;
            UserAnswer {
                password: p,
                token: None,
            }
        }
    };
    say!("added {name} ({role})");
    show(&answer, name);
    Ok(())
}

fn list(common: &Common) -> Result<()> {
    let list: Vec<UserSummary> = match online(common, "GET", "/api/users", None)? {
        Some(body) => serde_json::from_str(&body)?,
        None => offline(common, |s, _| discal_gateway::users_api::summaries(s))?,
    };
    for u in list {
        let state = if u.disabled { "disabled" } else { "active" };
        say!("{}\t{}\t{state}\t{} tokens", u.name, u.role, u.tokens);
    }
    Ok(())
}

fn passwd(common: &Common, name: &str, password_stdin: bool) -> Result<()> {
    let password = password_stdin.then(stdin_password).transpose()?;
    let req = UserRequest {
        password: password.clone(),
        ..UserRequest::default()
    };
    let path = format!("/api/users/{name}/password");
    let answer = match online(common, "POST", &path, Some(&req))? {
        Some(body) => serde_json::from_str(&body)?,
        None => UserAnswer {
            password: offline(common, |s, now| {
                accounts::set_password(s, ACTOR, name, password.as_deref(), now)
            })?,
            token: None,
        },
    };
    say!("password of {name} changed; its sessions are ended");
    show(&answer, name);
    Ok(())
}

fn token(common: &Common, name: &str, label: &str, revoke: bool) -> Result<()> {
    let what = if revoke { "revoke" } else { "token" };
    let req = UserRequest {
        label: Some(label.to_owned()),
        ..UserRequest::default()
    };
    let path = format!("/api/users/{name}/{what}");
    let answer = match online(common, "POST", &path, Some(&req))? {
        Some(body) => serde_json::from_str(&body)?,
        None if revoke => {
            offline(common, |s, now| {
                accounts::revoke_tokens(s, ACTOR, name, now)
            })?;
            UserAnswer::default()
        }
        None => UserAnswer {
            token: Some(offline(common, |s, now| {
                accounts::issue_token(s, ACTOR, name, label, now)
            })?),
            password: None,
        },
    };
    if revoke {
        say!("every token of {name} revoked");
    }
    show(&answer, name);
    Ok(())
}
