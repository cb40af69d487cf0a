//! Accounts as operators and people manage them: add, set a password, disable, issue and list
//! API tokens. The same functions serve the admin pages, the `/api/users` routes and the CLI
//! with the node stopped (`discal user ...` on the store directly), so every way in applies
//! the same rules. Passwords are hashed with argon2id (PHC strings, salt per password);
//! tokens and session ids are 256 random bits, stored as their SHA-256.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use discal_store::{Account, AuditEntry, Role, Store, StoreError, TokenRecord};
use sha2::{Digest, Sha256};

/// Shortest password accepted from a person (generated ones are longer).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password hashed: argon2 takes any length, a form should not.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The name is not 1–64 of letters, digits, `.`, `_`, `-`.
    #[error("account name {0:?}: use 1 to 64 letters, digits, '.', '_' or '-'")]
    BadName(String),
    /// An account with that name exists.
    #[error("account {0:?} exists")]
    Exists(String),
    /// No account with that name.
    #[error("no account {0:?}")]
    NoSuchAccount(String),
    /// Too short or too long.
    #[error("passwords have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_BYTES} characters")]
    BadPassword,
    /// `admin` or `user` expected.
    #[error("role {0:?}: use admin or user")]
    BadRole(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Hashing failed (out of memory, never in practice).
    #[error("password hashing: {0}")]
    Hash(String),
}

/// `admin` or `user`.
pub fn parse_role(s: &str) -> Result<Role, AccountError> {
    match s {
        "admin" => Ok(Role::Admin),
        "user" => Ok(Role::User),
        _ => Err(AccountError::BadRole(s.into())),
    }
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadName(name.chars().take(80).collect()))
    }
}

/// An argon2id PHC string of `password`.
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::BadPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// A PHC string of a password nobody has: checked against when the account does not exist,
/// so a wrong name costs the same time as a wrong password.
static DECOY: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&secret()).unwrap_or_default());

/// True if `password` is the one `phc` was made from.
pub fn verify_password(phc: &str, password: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// The account `name` if `password` is its password and it is enabled. Takes an argon2
/// verification whether or not the account exists.
pub fn check_login(
    store: &Store,
    name: &str,
    password: &str,
) -> Result<Option<Account>, AccountError> {
    let account = store.account(name)?;
    let phc = account
        .as_ref()
        .filter(|a| !a.password.is_empty())
        .map_or(DECOY.as_str(), |a| a.password.as_str());
    let ok = verify_password(phc, password);
    Ok(account.filter(|a| ok && !a.disabled && !a.password.is_empty()))
}

/// 256 random bits as 64 hex digits: tokens, session ids, CSRF tokens, generated passwords.
pub fn secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// The SHA-256 a token or session id is stored under.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn audit(
    store: &Store,
    actor: &str,
    action: &str,
    subject: &str,
    now_ms: i64,
) -> Result<(), AccountError> {
    store.audit(&AuditEntry {
        at_ms: now_ms,
        actor: actor.into(),
        action: action.into(),
        subject: subject.into(),
    })?;
    Ok(())
}

/// Adds an account. Without `password`, one is generated and returned (shown once).
pub fn add_user(
    store: &Store,
    actor: &str,
    name: &str,
    role: Role,
    password: Option<&str>,
    now_ms: i64,
) -> Result<Option<String>, AccountError> {
    check_name(name)?;
    if store.account(name)?.is_some() {
        return Err(AccountError::Exists(name.into()));
    }
    let generated = password.is_none().then(|| secret()[..24].to_string());
    let phc = hash_password(password.or(generated.as_deref()).unwrap_or_default())?;
    store.put_account(&Account {
        name: name.into(),
        role,
        password: phc,
        disabled: false,
        created_ms: now_ms,
    })?;
    audit(
        store,
        actor,
        &format!("user add ({})", role.as_str()),
        name,
        now_ms,
    )?;
    Ok(generated)
}

fn existing(store: &Store, name: &str) -> Result<Account, AccountError> {
    store
        .account(name)?
        .ok_or_else(|| AccountError::NoSuchAccount(name.into()))
}

/// Sets a password (generated and returned when `password` is `None`) and ends the account's
/// sessions: whoever knew the old one is logged out everywhere.
pub fn set_password(
    store: &Store,
    actor: &str,
    name: &str,
    password: Option<&str>,
    now_ms: i64,
) -> Result<Option<String>, AccountError> {
    let mut a = existing(store, name)?;
    let generated = password.is_none().then(|| secret()[..24].to_string());
    a.password = hash_password(password.or(generated.as_deref()).unwrap_or_default())?;
    store.put_account(&a)?;
    store.end_sessions(Some(name), now_ms)?;
    audit(store, actor, "password", name, now_ms)?;
    Ok(generated)
}

/// Disables (or enables) an account; disabling ends its sessions, and its tokens stop working.
pub fn set_disabled(
    store: &Store,
    actor: &str,
    name: &str,
    disabled: bool,
    now_ms: i64,
) -> Result<(), AccountError> {
    let mut a = existing(store, name)?;
    a.disabled = disabled;
    store.put_account(&a)?;
    if disabled {
        store.end_sessions(Some(name), now_ms)?;
    }
    audit(
        store,
        actor,
        if disabled { "disable" } else { "enable" },
        name,
        now_ms,
    )
}

/// Issues an API token for `name`; returns it (shown once; only its hash is kept).
pub fn issue_token(
    store: &Store,
    actor: &str,
    name: &str,
    label: &str,
    now_ms: i64,
) -> Result<String, AccountError> {
    existing(store, name)?;
    let token = format!("dct_{}", secret());
    store.put_token(
        &digest(&token),
        &TokenRecord {
            account: name.into(),
            label: label.chars().take(64).collect(),
            created_ms: now_ms,
        },
    )?;
    audit(store, actor, "token issue", name, now_ms)?;
    Ok(token)
}

/// Revokes every token of `name`; returns how many.
pub fn revoke_tokens(
    store: &Store,
    actor: &str,
    name: &str,
    now_ms: i64,
) -> Result<usize, AccountError> {
    existing(store, name)?;
    let tokens = store.tokens_of(name)?;
    for (h, _) in &tokens {
        store.remove_token(h)?;
    }
    audit(store, actor, "token revoke", name, now_ms)?;
    Ok(tokens.len())
}

/// The enabled account an API token acts for.
pub fn token_account(store: &Store, token: &str) -> Result<Option<Account>, AccountError> {
    let Some(t) = store.token(&digest(token))? else {
        return Ok(None);
    };
    Ok(store.account(&t.account)?.filter(|a| !a.disabled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hashed_and_checked_and_never_kept() {
        let s = Store::memory();
        let pw = add_user(&s, "test", "ana", Role::Admin, None, 1)
            .unwrap()
            .unwrap();
        let a = s.account("ana").unwrap().unwrap();
        assert!(a.password.starts_with("$argon2id$"), "{}", a.password);
        assert!(!a.password.contains(&pw));
        assert!(check_login(&s, "ana", &pw).unwrap().is_some());
        assert!(check_login(&s, "ana", "wrong password").unwrap().is_none());
        assert!(check_login(&s, "nobody", &pw).unwrap().is_none());
        assert!(matches!(
            add_user(&s, "test", "ana", Role::User, Some("long enough pw"), 1),
            Err(AccountError::Exists(_))
        ));
        assert!(matches!(
            add_user(&s, "test", "bo", Role::User, Some("short"), 1),
            Err(AccountError::BadPassword)
        ));
        assert!(matches!(
            add_user(&s, "test", "a b", Role::User, None, 1),
            Err(AccountError::BadName(_))
        ));
        let t = issue_token(&s, "test", "ana", "laptop", 2).unwrap();
        assert_eq!(token_account(&s, &t).unwrap().unwrap().name, "ana");
        set_disabled(&s, "test", "ana", true, 3).unwrap();
        assert!(token_account(&s, &t).unwrap().is_none());
        assert!(check_login(&s, "ana", &pw).unwrap().is_none());
        let log = s.audit_log(10).unwrap();
        assert_eq!(log[0].action, "disable");
    }
}
