//! Talking to the node on this data dir: over its HTTP API when it runs, straight to its
//! store when it does not.

use std::io::Write;
use std::path::Path;

use anyhow::{anyhow, bail, Result};
use discal_gateway::read::path_segment;
use discal_gateway::{WriteOp, Written};
use discal_node::client::{Answer, ClientError, NodeClient};
use discal_node::config::Config;
use discal_node::identity;

use crate::args::Common;

/// Why the API gave no answer.
enum ApiError {
    /// No node listens where the config says: use the store directly.
    NotRunning,
    /// Anything else.
    Other(anyhow::Error),
}

/// One request to the local node's API with its admin token.
fn api(
    cfg: &Config,
    data_dir: &Path,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> Result<Answer, ApiError> {
    let other = |e: anyhow::Error| ApiError::Other(e);
    // The address a running node recorded wins over the config's: it was started with
    // `--http`, or on port 0.
    let addr = match identity::running_http_addr(data_dir) {
        Some(a) => a,
        None => cfg.http_addr().map_err(|e| other(e.into()))?,
    };
    let token = identity::admin_token(data_dir).map_err(|e| other(e.into()))?;
    let client = NodeClient::new(addr, Some(token));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| other(e.into()))?;
    match rt.block_on(client.send(method, path, body)) {
        Ok(a) => Ok(a),
        Err(ClientError::NotRunning(_)) => Err(ApiError::NotRunning),
        Err(e) => Err(other(e.into())),
    }
}

/// A JSON request to the running node's API with its admin token: the answer's status and
/// body, or `None` when no node runs on this data dir.
pub fn call(
    common: &Common,
    method: &str,
    path: &str,
    json: Option<String>,
) -> Result<Option<(u16, String)>> {
    let cfg = common.load()?;
    match api(
        &cfg,
        &common.data_dir(),
        method,
        path,
        json.map(|j| ("application/json", j)),
    ) {
        Ok(Answer { status, body }) => Ok(Some((status, body))),
        Err(ApiError::NotRunning) => Ok(None),
        Err(ApiError::Other(e)) => Err(e),
    }
}

/// `GET path` from the running node: its body, or `None` when no node runs on this data dir.
pub fn get(common: &Common, path: &str) -> Result<Option<String>> {
    let cfg = common.load()?;
    match api(&cfg, &common.data_dir(), "GET", path, None) {
        Ok(Answer { status: 200, body }) => Ok(Some(body)),
        Ok(Answer { status, body }) => bail!("node answered {status}: {}", body.trim()),
        Err(ApiError::NotRunning) => Ok(None),
        Err(ApiError::Other(e)) => Err(e),
    }
}

/// `discal status`: the running node's `/status`, or what the stopped node's files say.
pub fn cmd_status(common: &Common) -> Result<()> {
    if let Some(body) = get(common, "/status")? {
        let v: serde_json::Value = serde_json::from_str(&body)?;
        say!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let cfg = common.load()?;
    let key = identity::load_or_create(&common.data_dir())?.key();
    let store = discal_node::offline_store(&common.data_dir())?;
    say!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "key": key.to_string(),
            "running": false,
            "events_stored": store.len()?,
            "peers_configured": cfg.peers.len(),
        }))?
    );
    Ok(())
}

/// The request that carries a write: (method, path, content type, body).
fn request_of(op: &WriteOp) -> Result<(&'static str, String, &'static str, String)> {
    let event = |uid: &str| format!("/api/events/{}", path_segment(uid));
    Ok(match op {
        WriteOp::Create(d) => (
            "POST",
            "/api/events".to_owned(),
            "application/json",
            serde_json::to_string(d)?,
        ),
        WriteOp::Import(t) => ("POST", "/api/events".to_owned(), "text/calendar", t.clone()),
        WriteOp::Update { uid, patch } => (
            "PUT",
            event(uid),
            "application/json",
            serde_json::to_string(patch)?,
        ),
        WriteOp::Replace { uid, ics } => ("PUT", event(uid), "text/calendar", ics.clone()),
        WriteOp::Cancel { uid } => ("DELETE", event(uid), "application/json", String::new()),
        WriteOp::If { .. } => anyhow::bail!("the command line makes no conditional writes"),
    })
}

/// What became of a write.
pub enum Sent {
    /// Done: the events it wrote.
    Written(Vec<Written>),
    /// The node refused it (a 4xx): its status and message.
    Refused(u16, String),
}

/// A write through the running node's API, or straight into the store when it is stopped.
pub fn write(common: &Common, op: WriteOp) -> Result<Vec<Written>> {
    match send(common, op)? {
        Sent::Written(w) => Ok(w),
        Sent::Refused(status, message) => bail!("node answered {status}: {message}"),
    }
}

/// [`write()`], with a refusal as an answer rather than an error (an import goes on with its
/// other parts).
pub fn send(common: &Common, op: WriteOp) -> Result<Sent> {
    let cfg = common.load()?;
    let dir = common.data_dir();
    let (method, path, ctype, body) = request_of(&op)?;
    match api(&cfg, &dir, method, &path, Some((ctype, body))) {
        Ok(Answer {
            status: 200 | 201,
            body,
        }) => Ok(Sent::Written(serde_json::from_str(&body)?)),
        Ok(Answer { status, body }) if (400..500).contains(&status) => {
            Ok(Sent::Refused(status, body.trim().to_owned()))
        }
        Ok(Answer { status, body }) => bail!("node answered {status}: {}", body.trim()),
        Err(ApiError::NotRunning) => {
            tracing::info!("node not running; writing to the store directly");
            match discal_node::offline_write(&dir, &cfg, op) {
                Ok(w) => Ok(Sent::Written(w)),
                Err(e @ discal_gateway::WriteError::BadRequest(_)) => {
                    Ok(Sent::Refused(400, e.to_string()))
                }
                Err(e) => Err(anyhow!("{e}")),
            }
        }
        Err(ApiError::Other(e)) => Err(e),
    }
}
