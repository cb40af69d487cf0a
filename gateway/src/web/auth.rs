//! Who is asking, one check for every page and the write API: a bearer token (the node's admin
//! token or an account's API token) or a browser session cookie. Sessions are server-side
//! records (logout and a password change end them), their cookie is HttpOnly, SameSite=Strict,
//! and `__Host-` + Secure when the public URL is https. Every form carries the session's CSRF
//! token; the login form, before any session, a double-submit token. Failed logins are
//! counted per account and per client address.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, RwLock};

use axum::http::{header, HeaderMap};
use discal_store::{Role, Session};

use crate::accounts::{self, digest};
use crate::api::token_matches;
use crate::{AppError, Gateway};

/// The caller name of the node's own admin token.
pub const ADMIN_TOKEN_CALLER: &str = "(admin token)";

/// How long a session lasts, whatever happens.
pub const SESSION_MS: i64 = 14 * 24 * 3600 * 1000;
/// Failed logins per account, and per client address, in a minute before logins are refused.
pub const MAX_FAILURES_PER_MINUTE: usize = 10;
/// Keys (accounts and addresses) the limiter remembers; past it the oldest are forgotten, so
/// a flood of names costs bounded memory.
const MAX_TRACKED: usize = 10_000;

/// Settings of the people side, from the node's configuration.
#[derive(Clone, Debug)]
pub struct PeopleSettings {
    /// Whether the enter-event form takes submissions without login (queued for approval).
    pub allow_anonymous: bool,
    /// Whether users (not only admins) may approve queued submissions.
    pub users_confirm_changes: bool,
    /// Whether users (not only admins) may ask for sister sites (queued for confirmation).
    pub users_register_sites: bool,
    /// Whether users (not only admins) may confirm sister sites (add them to the allowlist).
    pub users_confirm_sites: bool,
    /// The zone the form starts in.
    pub default_tz: String,
    /// An anonymous submission sent sooner than this after its form was shown is a bot's.
    pub min_fill_ms: i64,
}

impl Default for PeopleSettings {
    fn default() -> Self {
        Self {
            allow_anonymous: false,
            users_confirm_changes: true,
            users_register_sites: false,
            users_confirm_sites: false,
            default_tz: "UTC".into(),
            min_fill_ms: 2_000,
        }
    }
}

/// State shared by the people pages: settings and the login limiter.
#[derive(Default)]
pub struct People {
    /// Current settings (the node replaces them when its config changes).
    pub settings: RwLock<PeopleSettings>,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
    /// Basic credentials verified lately (calendar apps send them with every request, and an
    /// argon2 verification takes tens of milliseconds): the header's SHA-256 → the account,
    /// the password hash it was checked against (a changed password misses), and until when.
    basic: Mutex<HashMap<[u8; 32], (String, String, i64)>>,
}

/// How long a verified Basic credential is taken without verifying it again.
const BASIC_MS: i64 = 10 * 60 * 1000;
/// Basic credentials remembered at most (each about 200 bytes).
const MAX_BASIC: usize = 4096;

impl People {
    /// The settings now.
    pub fn settings(&self) -> PeopleSettings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// `Err(seconds to wait)` when any of `keys` failed too often in the last minute.
    pub fn login_allowed(&self, keys: &[String], now_ms: i64) -> Result<(), i64> {
        let Ok(mut f) = self.failures.lock() else {
            return Ok(());
        };
        for k in keys {
            if let Some(q) = f.get_mut(k) {
                while q.front().is_some_and(|t| now_ms - t > 60_000) {
                    q.pop_front();
                }
                if q.len() >= MAX_FAILURES_PER_MINUTE {
                    let oldest = q.front().copied().unwrap_or(now_ms);
                    return Err(((oldest + 60_000 - now_ms) / 1000).max(1));
                }
            }
        }
        Ok(())
    }

    /// Counts a failed login against each of `keys`.
    pub fn login_failed(&self, keys: &[String], now_ms: i64) {
        let Ok(mut f) = self.failures.lock() else {
            return;
        };
        if f.len() >= MAX_TRACKED {
            f.retain(|_, q| q.back().is_some_and(|t| now_ms - t <= 60_000));
            if f.len() >= MAX_TRACKED {
                f.clear();
            }
        }
        for k in keys {
            f.entry(k.clone()).or_default().push_back(now_ms);
        }
    }
}

/// Who made a request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account, or `(admin token)` for the node's own token.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The session's CSRF token, for a browser session.
    pub csrf: Option<String>,
    /// The session id's hash, for a browser session.
    pub session: Option<[u8; 32]>,
}

impl Caller {
    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The name of the session cookie: `__Host-` prefixed (and Secure) behind https.
pub fn cookie_name(gw: &Gateway) -> &'static str {
    if secure(gw) {
        "__Host-discal_session"
    } else {
        "discal_session"
    }
}

fn secure(gw: &Gateway) -> bool {
    gw.public_url.starts_with("https://")
}

/// A `Set-Cookie` value; `value` empty with `max_age` 0 removes the cookie.
pub fn set_cookie(gw: &Gateway, name: &str, value: &str, max_age_s: i64) -> String {
    let secure = if secure(gw) { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{secure}")
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Starts a session for `account`: its cookie value and record.
pub fn start_session(gw: &Gateway, account: &str) -> Result<String, AppError> {
    let id = accounts::secret();
    let now = (gw.clock)();
    gw.store
        .put_session(
            &digest(&id),
            &Session {
                account: account.into(),
                csrf: accounts::secret(),
                created_ms: now,
                expires_ms: now + SESSION_MS,
            },
        )
        .map_err(AppError::internal)?;
    // Expired sessions of anyone go now and then, so the table does not grow.
    if rand::random::<u8>() < 8 {
        gw.store
            .end_sessions(None, now)
            .map_err(AppError::internal)?;
    }
    Ok(id)
}

/// Who is asking, if anyone: bearer token first, then the session cookie. A token or session
/// that is unknown, expired or of a disabled account is an error, not an anonymous request.
pub fn caller(gw: &Gateway, headers: &HeaderMap) -> Result<Option<Caller>, AppError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                AppError::Unauthorized("Authorization: Bearer <token> expected".into())
            })?;
        if token_matches(token.as_bytes(), gw.admin_token.as_bytes()) {
            return Ok(Some(Caller {
                name: ADMIN_TOKEN_CALLER.into(),
                role: Role::Admin,
                csrf: None,
                session: None,
            }));
        }
        let account = accounts::token_account(&gw.store, token)
            .map_err(AppError::internal)?
            .ok_or_else(|| AppError::Unauthorized("invalid bearer token".into()))?;
        return Ok(Some(Caller {
            name: account.name,
            role: account.role,
            csrf: None,
            session: None,
        }));
    }
    let Some(id) = cookie(headers, cookie_name(gw)) else {
        return Ok(None);
    };
    let hash = digest(&id);
    let now = (gw.clock)();
    let session = gw.store.session(&hash).map_err(AppError::internal)?;
    let Some(s) = session.filter(|s| s.expires_ms > now) else {
        return Ok(None);
    };
    let account = gw.store.account(&s.account).map_err(AppError::internal)?;
    Ok(account.filter(|a| !a.disabled).map(|a| Caller {
        name: a.name,
        role: a.role,
        csrf: Some(s.csrf),
        session: Some(hash),
    }))
}

/// Who is asking with HTTP Basic credentials (calendar apps): the account's name and its
/// password or one of its API tokens (an app password). Refused over plain HTTP from another
/// machine, since Basic sends the password as it is; failures are counted as failed logins.
/// `Ok(None)` when the request carries no Basic credentials.
pub async fn basic_caller(
    gw: &Gateway,
    headers: &HeaderMap,
    from: Option<std::net::IpAddr>,
) -> Result<Option<Caller>, AppError> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return Ok(None);
    };
    if !confidential(gw, from) {
        return Err(AppError::Forbidden(
            "Basic credentials are taken only over HTTPS (or from this machine): \
             use the node's https:// address"
                .into(),
        ));
    }
    let bad = || AppError::Unauthorized("Basic credentials: name:password, base64".into());
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, value.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (name, password) = raw.split_once(':').ok_or_else(bad)?;
    let now = (gw.clock)();
    let key = digest(value.trim());
    let as_caller = |a: discal_store::Account| Caller {
        name: a.name,
        role: a.role,
        csrf: None,
        session: None,
    };
    let current = gw.store.account(name).map_err(AppError::internal)?;
    let remembered = gw
        .people
        .basic
        .lock()
        .ok()
        .and_then(|m| m.get(&key).cloned());
    if let (Some((who, phc, until)), Some(a)) = (remembered, &current) {
        if until > now && who == a.name && phc == a.password && !a.disabled {
            return Ok(Some(as_caller(a.clone())));
        }
    }
    let mut keys = vec![format!("account:{}", name.to_lowercase())];
    if let Some(ip) = from {
        keys.push(format!("address:{ip}"));
    }
    if let Err(wait) = gw.people.login_allowed(&keys, now) {
        return Err(AppError::TooManyRequests(format!(
            "too many failed logins; try again in {wait} s"
        )));
    }
    // An app password: one of the account's API tokens.
    if let Some(a) = accounts::token_account(&gw.store, password).map_err(AppError::internal)? {
        if a.name == name {
            return Ok(Some(as_caller(a)));
        }
    }
    let (store, n, pw) = (gw.store.clone(), name.to_owned(), password.to_owned());
    let checked = tokio::task::spawn_blocking(move || accounts::check_login(&store, &n, &pw))
        .await?
        .map_err(AppError::internal)?;
    let Some(a) = checked else {
        gw.people.login_failed(&keys, now);
        return Err(AppError::Unauthorized(
            "wrong name or password (or app token)".into(),
        ));
    };
    if let Ok(mut m) = gw.people.basic.lock() {
        if m.len() >= MAX_BASIC {
            m.retain(|_, (_, _, until)| *until > now);
            if m.len() >= MAX_BASIC {
                m.clear();
            }
        }
        m.insert(key, (a.name.clone(), a.password.clone(), now + BASIC_MS));
    }
    Ok(Some(as_caller(a)))
}

/// Whether credentials sent in the clear stay between the client and this node: the public
/// URL is https (a proxy in front terminates TLS), or the client is on this machine.
fn confidential(gw: &Gateway, from: Option<std::net::IpAddr>) -> bool {
    if secure(gw) {
        return true;
    }
    match from {
        Some(ip) => ip.is_loopback(),
        // No address: not a TCP connection of ours (an in-process test); judged by the URL.
        None => gw.public_url.split("://").nth(1).is_some_and(|h| {
            h.starts_with("127.") || h.starts_with("localhost") || h.starts_with("[::1]")
        }),
    }
}

/// The caller, who must be logged in (or hold a token).
pub fn required(gw: &Gateway, headers: &HeaderMap) -> Result<Caller, AppError> {
    caller(gw, headers)?.ok_or_else(|| AppError::Unauthorized("log in first (/login)".into()))
}

/// A form's CSRF token must be its session's.
pub fn check_csrf(caller: &Caller, given: Option<&str>) -> Result<(), AppError> {
    match (&caller.csrf, given) {
        // Bearer-token callers are not browsers: no cookie, no cross-site forgery.
        (None, _) if caller.session.is_none() => Ok(()),
        (Some(want), Some(got)) if token_matches(got.as_bytes(), want.as_bytes()) => Ok(()),
        _ => Err(AppError::Forbidden(
            "the form's security token is missing or stale: reload the page and send it again"
                .into(),
        )),
    }
}
