//! `/api/users`: accounts for the CLI (`discal user ...` while the node runs) and scripts,
//! with an admin's bearer token (the node's own, or an admin account's). The same functions as
//! the admin page and the CLI with the node stopped ([`crate::accounts`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::accounts::{self, AccountError};
use crate::web::auth;
use crate::{AppError, Gateway};

/// One account as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSummary {
    /// Login name.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// True if it cannot log in.
    pub disabled: bool,
    /// How many API tokens it has.
    pub tokens: usize,
}

/// A request to `/api/users` routes (all fields optional; each route reads its own).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// Login name (add).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `admin` or `user` (add).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A password to set; without it one is generated and returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A token's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// What a `/api/users` write answers: the secret made for it, shown once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAnswer {
    /// A generated password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A new API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

pub(crate) fn admin(gw: &Gateway, h: &HeaderMap) -> Result<String, AppError> {
    let c = auth::caller(gw, h)?
        .filter(|c| c.session.is_none())
        .ok_or_else(|| AppError::Unauthorized("missing Authorization: Bearer <token>".into()))?;
    if !c.is_admin() {
        return Err(AppError::Forbidden(
            "accounts and sources are managed by admins".into(),
        ));
    }
    Ok(c.name)
}

fn body(b: &Bytes) -> Result<UserRequest, AppError> {
    if b.is_empty() {
        return Ok(UserRequest::default());
    }
    serde_json::from_slice(b).map_err(|e| AppError::BadRequest(format!("JSON body: {e}")))
}

fn failed(e: AccountError) -> AppError {
    match e {
        AccountError::NoSuchAccount(_) => AppError::NotFound(e.to_string()),
        AccountError::Store(_) | AccountError::Hash(_) => AppError::internal(e),
        _ => AppError::BadRequest(e.to_string()),
    }
}

/// Lists accounts (offline or online, the CLI prints this).
pub fn summaries(store: &discal_store::Store) -> Result<Vec<UserSummary>, AccountError> {
    store
        .accounts()?
        .into_iter()
        .map(|a| {
            Ok(UserSummary {
                tokens: store.tokens_of(&a.name)?.len(),
                name: a.name,
                role: a.role.as_str().into(),
                disabled: a.disabled,
            })
        })
        .collect()
}

/// `GET /api/users`.
pub async fn list(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    admin(&gw, &h)?;
    Ok(axum::Json(summaries(&gw.store).map_err(failed)?).into_response())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AccountError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f).await?.map_err(failed)
}

/// `POST /api/users` `{name, role, password?}`.
pub async fn add(State(gw): State<Gateway>, h: HeaderMap, b: Bytes) -> Result<Response, AppError> {
    let actor = admin(&gw, &h)?;
    let r = body(&b)?;
    let role = accounts::parse_role(r.role.as_deref().unwrap_or("user")).map_err(failed)?;
    let name = r.name.unwrap_or_default();
    let (store, now) = (gw.store.clone(), (gw.clock)());
    let password = blocking(move || {
        accounts::add_user(&store, &actor, &name, role, r.password.as_deref(), now)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(UserAnswer {
            password,
            token: None,
        }),
    )
        .into_response())
}

/// `POST /api/users/{name}/{what}`: `password` (`{password?}`), `disable`, `enable`,
/// `token` (`{label?}`), `revoke` (every token).
pub async fn change(
    State(gw): State<Gateway>,
    Path((name, what)): Path<(String, String)>,
    h: HeaderMap,
    b: Bytes,
) -> Result<Response, AppError> {
    let actor = admin(&gw, &h)?;
    if !["password", "disable", "enable", "token", "revoke"].contains(&what.as_str()) {
        return Err(AppError::NotFound(format!(
            "no {what:?} here: password, disable, enable, token or revoke"
        )));
    }
    let r = body(&b)?;
    let (store, now) = (gw.store.clone(), (gw.clock)());
    let answer = blocking(move || {
        let mut a = UserAnswer::default();
        match what.as_str() {
            "password" => {
                a.password =
                    accounts::set_password(&store, &actor, &name, r.password.as_deref(), now)?;
            }
            "disable" | "enable" => {
                accounts::set_disabled(&store, &actor, &name, what == "disable", now)?;
            }
            "token" => {
                let label = r.label.as_deref().unwrap_or("api");
                a.token = Some(accounts::issue_token(&store, &actor, &name, label, now)?);
            }
            _ => {
                accounts::revoke_tokens(&store, &actor, &name, now)?;
            }
        }
        Ok(a)
    })
    .await?;
    Ok(axum::Json(answer).into_response())
}

/// `GET /api/sources`: every subscribed source with its last poll.
pub async fn sources(State(gw): State<Gateway>, h: HeaderMap) -> Result<Response, AppError> {
    admin(&gw, &h)?;
    Ok(axum::Json(gw.node.sources().await).into_response())
}

/// `POST /api/sources/{name}/run`: one poll now; its state afterwards.
pub async fn run_source(
    State(gw): State<Gateway>,
    h: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, AppError> {
    admin(&gw, &h)?;
    Ok(axum::Json(gw.node.poll_source(name).await?).into_response())
}

/// One listing named in a dedupe correction.
#[derive(serde::Deserialize)]
struct Listing {
    origin: String,
    uid: String,
}

/// A correction of the collector's view.
#[derive(serde::Deserialize)]
struct DedupeRequest {
    a: Listing,
    b: Listing,
    /// `split` (never one event), `join` (always one) or `clear` (the rule decides again).
    action: String,
}

/// `POST /api/dedupe`: an admin splits a wrong merge, joins a missed one, or takes either
/// back; the choice sticks (docs/operators.md, "One entry for one real event").
pub async fn dedupe(
    State(gw): State<Gateway>,
    h: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let by = admin(&gw, &h)?;
    let r: DedupeRequest = serde_json::from_slice(&body)
        .map_err(|e| AppError::BadRequest(format!("the body: {e}")))?;
    correct_dedupe(
        &gw,
        &by,
        (&r.a.origin, &r.a.uid),
        (&r.b.origin, &r.b.uid),
        &r.action,
    )?;
    Ok(axum::Json(serde_json::json!({"action": r.action})).into_response())
}

/// Records an admin's dedupe correction of two listings (origin key text, UID).
pub(crate) fn correct_dedupe(
    gw: &Gateway,
    by: &str,
    a: (&str, &str),
    b: (&str, &str),
    action: &str,
) -> Result<(), AppError> {
    let ident = |(origin, uid): (&str, &str)| -> Result<discal_protocol::dedupe::Ident, AppError> {
        let o: discal_protocol::NodeKey = origin
            .parse()
            .map_err(|e| AppError::BadRequest(format!("origin {origin:?}: {e}")))?;
        Ok((*o.as_bytes(), uid.to_string()))
    };
    let (x, y) = (ident(a)?, ident(b)?);
    if x == y {
        return Err(AppError::BadRequest("a and b are the same listing".into()));
    }
    match action {
        "split" | "join" => gw
            .store
            .put_dedupe_choice(&discal_store::DedupeChoice {
                a: x,
                b: y,
                join: action == "join",
                by: by.to_string(),
                at_ms: (gw.clock)(),
            })
            .map_err(AppError::internal)?,
        "clear" => gw
            .store
            .remove_dedupe_choice(&x, &y)
            .map_err(AppError::internal)?,
        other => {
            return Err(AppError::BadRequest(format!(
                "action {other:?}: split, join or clear"
            )))
        }
    }
    gw.store
        .audit(&discal_store::AuditEntry {
            at_ms: (gw.clock)(),
            actor: by.to_string(),
            action: format!("dedupe {action}"),
            subject: format!("{} {} / {} {}", a.0, a.1, b.0, b.1),
        })
        .map_err(AppError::internal)
}
