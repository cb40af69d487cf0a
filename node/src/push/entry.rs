//! `[push]`: the hub's rules, the sites this node pushes to (`[[push.targets]]`) and the sites
//! that push to it (`[[push.inbound]]`), as the operator writes them.
//!
//! TOML cannot hold both a `[push]` table and a `[[push]]` array, so the targets live in
//! `[[push.targets]]` beside the `[push]` keys.

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::sources::entry::parse_every;

/// Whether a hub subscription needs a person's approval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registrations {
    /// Waits in the admin page for a person who may confirm sister sites.
    #[default]
    Approve,
    /// Active as soon as its intent is verified.
    Auto,
}

/// How a push is authenticated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// RFC 9421 with the node's ed25519 key (published at `/.well-known/discal-push`).
    #[default]
    Signature,
    /// RFC 9421 `hmac-sha256` with a shared secret.
    Hmac,
}

/// `[push]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// `approve` (default) or `auto`.
    #[serde(default)]
    pub registrations: Registrations,
    /// The longest lease the hub grants (and the one it grants when none is asked): `10d`.
    #[serde(default = "default_lease")]
    pub lease: String,
    /// Most hub subscriptions held at once (waiting ones included).
    #[serde(default = "default_max_subscriptions")]
    pub max_subscriptions: u32,
    /// A destination failing for longer than this stops (dead letter) until an admin resumes it.
    #[serde(default = "default_dead_after")]
    pub dead_after: String,
    /// Let hub callbacks reach loopback and private addresses (tests, a LAN): off, the hub
    /// would otherwise let anyone make this node send requests into its own network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private_callbacks: bool,
    /// The sites this node pushes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<PushTarget>,
    /// The sites that push to this node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<Inbound>,
}

fn default_lease() -> String {
    "10d".into()
}
fn default_max_subscriptions() -> u32 {
    200
}
fn default_dead_after() -> String {
    "3d".into()
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            registrations: Registrations::default(),
            lease: default_lease(),
            max_subscriptions: default_max_subscriptions(),
            dead_after: default_dead_after(),
            allow_private_callbacks: false,
            targets: Vec::new(),
            inbound: Vec::new(),
        }
    }
}

/// One `[[push.targets]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTarget {
    /// Its name in lists, logs and metrics (unique).
    pub name: String,
    /// Where each change is POSTed.
    pub url: String,
    /// A personal view's query string (`tags=linux&near=52.52,13.40&radius_km=30`): which
    /// events it gets. Empty: all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub filter: String,
    /// `signature` (the node's key) or `hmac` (with `secret`).
    #[serde(default)]
    pub auth: Auth,
    /// The shared secret for `hmac` (also sent as WebSub's `X-Hub-Signature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The key id the receiver knows the secret by (default: this node's key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// Let it reach loopback and private addresses.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_private: bool,
}

/// One `[[push.inbound]]` entry: a site that may push to `/push/in/<name>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inbound {
    /// Its name, the last part of its push URL.
    pub name: String,
    /// The site's URL: its events' provenance (`X-DISCAL-SOURCE`).
    pub url: String,
    /// Its node key, for pushes signed with `alg="ed25519"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A shared secret (its token), for pushes signed with `alg="hmac-sha256"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A hub topic this node subscribed to there: intent verification for it is confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Tags given to every event taken from it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn check_name(what: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::Invalid(format!(
            "{what} {name:?}: a name is 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(())
}

fn check_url(what: &str, url: &str) -> Result<(), ConfigError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(ConfigError::Invalid(format!(
            "{what}: url {url:?} is not an http(s) URL"
        ))),
    }
}

/// The parameters a push filter may use: what an event is, not when (a change that moves an
/// event out of a window must still reach the receiver).
pub const FILTER_PARAMS: &[&str] = &[
    "tags",
    "exclude_tags",
    "near",
    "radius_km",
    "origin",
    "q",
    "place",
];

/// A push filter's view: a view's window and display parameters are dropped (see
/// [`FILTER_PARAMS`]); an unknown parameter is an error naming it.
pub fn parse_filter(query: &str) -> Result<discal_protocol::view::ViewFilter, String> {
    use discal_protocol::view::{ViewFilter, COMMON_PARAMS};
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .filter(|(k, _)| {
            FILTER_PARAMS.contains(&k.as_str()) || !COMMON_PARAMS.contains(&k.as_str())
        })
        .collect();
    ViewFilter::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[])
        .map(|(f, _)| f)
        .map_err(|e| e.to_string())
}

impl PushConfig {
    /// The lease in seconds (checked at load).
    pub fn lease_secs(&self) -> u64 {
        parse_every(&self.lease).unwrap_or(864_000)
    }

    /// `dead_after` in seconds (checked at load).
    pub fn dead_after_secs(&self) -> u64 {
        parse_every(&self.dead_after).unwrap_or(259_200)
    }

    /// Every entry within its rules.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (key, v) in [
            ("push.lease", &self.lease),
            ("push.dead_after", &self.dead_after),
        ] {
            match parse_every(v) {
                Ok(s) if s >= 60 => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "{key} = {v:?}: a number and s, m, h or d, at least 60s"
                    )))
                }
            }
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.targets {
            let what = format!("push target {:?}", t.name);
            check_name("push target", &t.name)?;
            check_url(&what, &t.url)?;
            parse_filter(&t.filter)
                .map_err(|e| ConfigError::Invalid(format!("{what}: filter: {e}")))?;
            if t.auth == Auth::Hmac && t.secret.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "{what}: auth = \"hmac\" needs a secret"
                )));
            }
            if let Some(k) = &t.keyid {
                check_name(&format!("{what} keyid"), k)?;
            }
            if !names.insert(&t.name) {
                return Err(ConfigError::Invalid(format!("{what} is listed twice")));
            }
        }
        let mut names = std::collections::HashSet::new();
        for i in &self.inbound {
            let what = format!("push inbound {:?}", i.name);
            check_name("push inbound", &i.name)?;
            check_url(&what, &i.url)?;
            if let Some(k) = &i.key {
                k.parse::<discal_protocol::NodeKey>()
                    .map_err(|e| ConfigError::Invalid(format!("{what}: key {k:?}: {e}")))?;
            }
            if i.key.is_none() && i.secret.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::Invalid(format!(
                    "{what}: a key or a secret is needed to authenticate its pushes"
                )));
            }
            if !names.insert(&i.name) {
                return Err(ConfigError::Invalid(format!("{what} is listed twice")));
            }
        }
        Ok(())
    }
}
