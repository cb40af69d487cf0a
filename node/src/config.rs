//! The node's configuration: one TOML file, one type, handed to every part (nothing reads the
//! environment or files behind its back). Every key is documented in docs/operators.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use discal_protocol::NodeKey;
use serde::{Deserialize, Serialize};

/// Default HTTP gateway address.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// Default peer-to-peer listen address.
pub const DEFAULT_LISTEN: &str = "/ip4/0.0.0.0/tcp/4710";
/// Default hop limit.
pub const DEFAULT_MAX_HOPS: u8 = 8;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML does not parse or has unknown keys.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("{0}")]
    Invalid(String),
}

/// Whether unknown keys may connect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only keys in `[[peers]]` may connect (refused at the connection level).
    #[default]
    Closed,
    /// Any node may connect; `[[peers]]` are still dialled.
    Open,
}

/// One allowed peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Its public key (the `12D3KooW…` form).
    pub key: String,
    /// A multiaddr to dial, e.g. `/ip4/192.0.2.7/tcp/4710`; without one the node waits for
    /// the peer to dial in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A name for logs and status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl PeerEntry {
    /// The key, parsed.
    pub fn node_key(&self) -> Result<NodeKey, ConfigError> {
        self.key
            .parse::<NodeKey>()
            .map_err(|e| ConfigError::Invalid(format!("peer key {:?}: {e}", self.key)))
    }
}

/// Whose events this node stores, and how many: the allowlist limits who connects, this limits
/// whose events are kept, whatever peer relays them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origins {
    /// `"any"`, or the keys of the origins whose events are stored.
    #[serde(default)]
    pub accept: Accept,
    /// Origins whose events are never stored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocked: Vec<String>,
    /// Revisions one origin may have stored here per UTC day (new events and changes).
    #[serde(default = "default_revisions_per_day")]
    pub max_revisions_per_day: u32,
    /// Events (tombstones included) one origin may have stored here; with the envelope size
    /// limit this bounds the bytes an origin can make a node keep.
    #[serde(default = "default_events_per_origin")]
    pub max_events: u32,
    /// MiB of records one origin's events may take here.
    #[serde(default = "default_mib_per_origin")]
    pub max_mib: u32,
}

fn default_revisions_per_day() -> u32 {
    10_000
}
fn default_events_per_origin() -> u32 {
    100_000
}
fn default_mib_per_origin() -> u32 {
    256
}

impl Default for Origins {
    fn default() -> Self {
        Self {
            accept: Accept::default(),
            blocked: Vec::new(),
            max_revisions_per_day: default_revisions_per_day(),
            max_events: default_events_per_origin(),
            max_mib: default_mib_per_origin(),
        }
    }
}

/// `origins.accept`: every origin, or a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Accept {
    /// `"any"`.
    Any(String),
    /// These keys only.
    Keys(Vec<String>),
}

impl Default for Accept {
    fn default() -> Self {
        Self::Any("any".into())
    }
}

impl Origins {
    /// Why an origin's events are not stored here, if they are not.
    pub fn refuses(&self, origin: &NodeKey) -> Option<&'static str> {
        let named = |keys: &[String]| {
            keys.iter()
                .any(|k| k.parse::<NodeKey>().ok() == Some(*origin))
        };
        if named(&self.blocked) {
            return Some("the origin is in origins.blocked");
        }
        match &self.accept {
            Accept::Keys(keys) if !named(keys) => Some("the origin is not in origins.accept"),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let keys = |what: &str, keys: &[String]| -> Result<(), ConfigError> {
            for k in keys {
                k.parse::<NodeKey>()
                    .map_err(|e| ConfigError::Invalid(format!("{what} key {k:?}: {e}")))?;
            }
            Ok(())
        };
        match &self.accept {
            Accept::Any(s) if s == "any" => {}
            Accept::Any(s) => {
                return Err(ConfigError::Invalid(format!(
                    "origins.accept = {s:?}: must be \"any\" or a list of keys"
                )))
            }
            Accept::Keys(k) => keys("origins.accept", k)?,
        }
        keys("origins.blocked", &self.blocked)?;
        if self.max_revisions_per_day == 0 || self.max_events == 0 {
            return Err(ConfigError::Invalid(
                "origins.max_revisions_per_day and origins.max_events must be at least 1".into(),
            ));
        }
        if !(1..=1 << 20).contains(&self.max_mib) {
            return Err(ConfigError::Invalid(format!(
                "origins.max_mib = {}: must be 1 to 1048576",
                self.max_mib
            )));
        }
        Ok(())
    }
}

/// The seed's admin filters: events failing them are dropped on arrival (and counted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Drop events that arrive with a hop count above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hop: Option<u8>,
    /// Keep only events with GEO within `radius_km` of this `[lat, lon]`
    /// (events without GEO are kept unless `require_geo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<[f64; 2]>,
    /// Radius for `near`, in kilometres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<f64>,
    /// With `near`: drop events without GEO too.
    #[serde(default)]
    pub require_geo: bool,
    /// Keep only events with at least one of these tags (empty: no such rule).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_tags: Vec<String>,
    /// Drop events with any of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop_tags: Vec<String>,
}

/// `[people]`: accounts, the web form and who may approve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct People {
    /// The enter-event form takes submissions without login; they wait for approval.
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Users (not only admins) may approve queued submissions.
    #[serde(default = "yes")]
    pub users_confirm_changes: bool,
    /// Users (not only admins) may register sister sites; they wait for confirmation.
    #[serde(default)]
    pub users_register_sites: bool,
    /// Users (not only admins) may confirm sister sites (add them to the allowlist).
    #[serde(default)]
    pub users_confirm_sites: bool,
    /// The zone the event form starts in (an IANA name).
    #[serde(default = "default_tz")]
    pub default_tz: String,
    /// Seconds an anonymous form must have been open before it is sent (people take longer;
    /// bots post at once). 0 to 3600.
    #[serde(default = "default_min_fill")]
    pub min_fill_secs: u32,
}

fn yes() -> bool {
    true
}
fn default_min_fill() -> u32 {
    2
}
fn default_tz() -> String {
    "UTC".to_owned()
}

impl Default for People {
    fn default() -> Self {
        Self {
            allow_anonymous: false,
            users_confirm_changes: true,
            users_register_sites: false,
            users_confirm_sites: false,
            default_tz: default_tz(),
            min_fill_secs: default_min_fill(),
        }
    }
}

impl People {
    /// The gateway's settings from these.
    pub fn settings(&self) -> discal_gateway::web::auth::PeopleSettings {
        discal_gateway::web::auth::PeopleSettings {
            allow_anonymous: self.allow_anonymous,
            users_confirm_changes: self.users_confirm_changes,
            users_register_sites: self.users_register_sites,
            users_confirm_sites: self.users_confirm_sites,
            default_tz: self.default_tz.clone(),
            min_fill_ms: i64::from(self.min_fill_secs) * 1000,
        }
    }
}

/// `[proposals]`: changes other nodes' people propose to this node's events (docs/protocol.md
/// §12), and where this node sends its own people's proposals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proposals {
    /// Proposer node keys whose proposals on the current revision are applied at once (others
    /// wait in `/queue`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted: Vec<String>,
    /// Proposals taken from one proposer node per hour (past that: refused, counted).
    #[serde(default = "default_proposals_per_hour")]
    pub max_per_hour: u32,
    /// Send proposals to loopback and private addresses too (a proposal goes where the
    /// origin's signed X-REVISE-URL says; off so that no origin can point this node at its
    /// own network). Tests on loopback turn it on.
    #[serde(default)]
    pub allow_private_targets: bool,
    /// Least seconds between two revisions of an event that publish its RSVP counts (so
    /// answers do not make a revision storm).
    #[serde(default = "default_rsvp_interval")]
    pub rsvp_interval_secs: u64,
}

fn default_rsvp_interval() -> u64 {
    300
}

fn default_proposals_per_hour() -> u32 {
    60
}

impl Default for Proposals {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            max_per_hour: default_proposals_per_hour(),
            allow_private_targets: false,
            rsvp_interval_secs: default_rsvp_interval(),
        }
    }
}

/// `[map]`: the map page (`/map`), off unless a tile server is named here. Visitors'
/// browsers then load tiles from it; the node itself never does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSettings {
    /// A tile URL template with `{z}`, `{x}` and `{y}`, e.g. a tile server of your own or one
    /// whose usage policy allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiles: Option<String>,
    /// The credit the tile server asks for, shown under the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
}

/// The highest `max_hops` accepted: past a few dozen links an event has crossed any real
/// federation, and a larger limit only extends what a relay can reach.
pub const MAX_HOPS_LIMIT: u8 = 64;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Peer-to-peer listen multiaddrs.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// HTTP gateway address.
    #[serde(default = "default_http")]
    pub http: String,
    /// The URL the gateway is reachable at from outside (X-REVISE-URL); defaults to
    /// `http://<http>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// The node forwards an event only while its hop count is below this.
    #[serde(default = "default_max_hops")]
    pub max_hops: u8,
    /// `closed` (default) or `open`.
    #[serde(default)]
    pub mode: Mode,
    /// Seconds between periodic catch-up syncs with each connected peer.
    #[serde(default = "default_sync_interval")]
    pub sync_interval_secs: u64,
    /// Longest wait between attempts to dial a disconnected peer, in seconds.
    #[serde(default = "default_redial")]
    pub redial_max_secs: u64,
    /// After a start with peers configured, local writes wait (at most this many seconds) for
    /// a first catch-up with a peer, so that a node restored from an old copy of its data
    /// learns its own newer revisions before it publishes more (0: do not wait).
    #[serde(default = "default_write_wait")]
    pub write_wait_secs: u64,
    /// Peers that may be connected inbound at once (open mode's bound; the allowlist bounds
    /// closed mode too).
    #[serde(default = "default_max_inbound")]
    pub max_inbound_peers: u32,
    /// Name shown in feeds and status.
    #[serde(default = "default_name")]
    pub name: String,
    /// A sentence or two about this calendar, under its name on the home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The pages' language for browsers that do not say theirs: `en` or `de`.
    #[serde(default = "default_language")]
    pub language: String,
    /// Admin filters.
    #[serde(default)]
    pub filters: Filters,
    /// Whose events are stored, and how many.
    #[serde(default)]
    pub origins: Origins,
    /// Accounts and the web form.
    #[serde(default)]
    pub people: People,
    /// The map page.
    #[serde(default)]
    pub map: MapSettings,
    /// Proposals to and from other nodes.
    #[serde(default)]
    pub proposals: Proposals,
    /// The allowlist.
    #[serde(default)]
    pub peers: Vec<PeerEntry>,
    /// Feeds and pages this node subscribes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<crate::sources::SourceEntry>,
    /// Pushing to sister sites, the hub, and sites that push here.
    #[serde(default)]
    pub push: crate::push::PushConfig,
}

fn default_listen() -> Vec<String> {
    vec![DEFAULT_LISTEN.to_owned()]
}
fn default_http() -> String {
    DEFAULT_HTTP.to_owned()
}
fn default_max_hops() -> u8 {
    DEFAULT_MAX_HOPS
}
fn default_sync_interval() -> u64 {
    300
}
fn default_redial() -> u64 {
    60
}
fn default_write_wait() -> u64 {
    30
}
fn default_max_inbound() -> u32 {
    128
}
fn default_language() -> String {
    "en".to_owned()
}
fn default_name() -> String {
    "DisCal".to_owned()
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            http: default_http(),
            public_url: None,
            max_hops: default_max_hops(),
            mode: Mode::default(),
            sync_interval_secs: default_sync_interval(),
            redial_max_secs: default_redial(),
            write_wait_secs: default_write_wait(),
            max_inbound_peers: default_max_inbound(),
            name: default_name(),
            description: None,
            language: default_language(),
            filters: Filters::default(),
            origins: Origins::default(),
            people: People::default(),
            map: MapSettings::default(),
            proposals: Proposals::default(),
            peers: Vec::new(),
            sources: Vec::new(),
            push: crate::push::PushConfig::default(),
        }
    }
}

/// The commented file `discal init` writes.
pub const DEFAULT_CONFIG_TOML: &str = r#"# DisCal node configuration. Every key is optional; docs/operators.md explains each one.

# Peer-to-peer listen addresses (libp2p multiaddrs, TCP).
listen = ["/ip4/0.0.0.0/tcp/4710"]

# HTTP gateway (feeds, write API, /status, /metrics).
http = "127.0.0.1:8080"

# The URL people reach the gateway at; used in X-REVISE-URL. Defaults to http://<http>.
# public_url = "https://calendar.example.org"

# Forward an event only while its hop count is below this.
max_hops = 8

# "closed": only the keys below may connect. "open": anyone may.
mode = "closed"

# Seconds between catch-up syncs with each connected peer (also run on every connect).
sync_interval_secs = 300

# Longest wait between attempts to reach a disconnected peer.
redial_max_secs = 60

# Name shown in feeds and /status.
name = "DisCal"

# Under the name on the home page, and the pages' language for browsers that do not say theirs.
# description = "Meetups of the free-software groups in and around Berlin."
language = "en"

# Drop arriving events by hop count, place or tags.
[filters]
# max_hop = 4
# near = [52.52, 13.40]
# radius_km = 100
# require_geo = false
# require_tags = ["free-software"]
# drop_tags = ["spam"]

# Whose events are stored, and how many per origin (a relaying peer cannot widen this).
[origins]
# accept = "any"            # or a list of origin keys: ["12D3KooW..."]
# blocked = ["12D3KooW..."]
max_revisions_per_day = 10000
max_events = 100000
max_mib = 256

# The map page (/map) is off until you name a tile server; visitors' browsers load its tiles.
[map]
# tiles = "https://tile.example.org/{z}/{x}/{y}.png"
# attribution = "© OpenStreetMap contributors"

# Accounts and the web form (/events/new); the first admin: `discal user add NAME --role admin`.
[people]
allow_anonymous = false          # true: the form takes events without login, queued for approval
users_confirm_changes = true     # users (not only admins) may approve queued submissions
users_register_sites = false     # users may register sister sites (they wait for confirmation)
users_confirm_sites = false      # users may confirm sister sites (add them to the allowlist)
default_tz = "UTC"               # the zone the form starts in
min_fill_secs = 2                # an anonymous form sent sooner after it was shown is a bot's

# Changes other nodes' people propose to this node's events: from these node keys they are
# applied at once (when made on the current revision); others wait in /queue.
[proposals]
# trusted = ["12D3KooW..."]
max_per_hour = 60                # proposals taken from one node per hour
rsvp_interval_secs = 300         # RSVP counts are published at most this often per event

# Peers, added with `discal peer add KEY ADDRESS --name NAME`:
# [[peers]]
# key = "12D3KooW..."
# address = "/ip4/192.0.2.7/tcp/4710"
# name = "sister-site"
"#;

impl Config {
    /// Reads a file; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ConfigError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses TOML text and checks it.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let c: Self = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        c.check()?;
        Ok(c)
    }

    /// Checks values the types cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.http_addr()?;
        if self
            .people
            .default_tz
            .parse::<discal_protocol::Tz>()
            .is_err()
        {
            return Err(ConfigError::Invalid(format!(
                "people.default_tz {:?} is not an IANA time zone (e.g. Europe/Berlin)",
                self.people.default_tz
            )));
        }
        for l in &self.listen {
            l.parse::<libp2p::Multiaddr>()
                .map_err(|e| ConfigError::Invalid(format!("listen address {l:?}: {e}")))?;
        }
        let mut seen = std::collections::HashSet::new();
        for p in &self.peers {
            p.node_key()?;
            if let Some(a) = &p.address {
                a.parse::<libp2p::Multiaddr>().map_err(|e| {
                    ConfigError::Invalid(format!("peer {} address {a:?}: {e}", p.key))
                })?;
            }
            if !seen.insert(&p.key) {
                return Err(ConfigError::Invalid(format!(
                    "peer {} is listed twice",
                    p.key
                )));
            }
        }
        if let (Some(_), None) | (None, Some(_)) = (self.filters.near, self.filters.radius_km) {
            return Err(ConfigError::Invalid(
                "filters.near and filters.radius_km go together".into(),
            ));
        }
        self.origins.check()?;
        if !matches!(self.language.as_str(), "en" | "de") {
            return Err(ConfigError::Invalid(format!(
                "language = {:?}: the pages speak \"en\" or \"de\"",
                self.language
            )));
        }
        for k in &self.proposals.trusted {
            k.parse::<NodeKey>()
                .map_err(|e| ConfigError::Invalid(format!("proposals.trusted key {k:?}: {e}")))?;
        }
        let mut names = std::collections::HashSet::new();
        for src in &self.sources {
            src.check()?;
            if !names.insert(&src.name) {
                return Err(ConfigError::Invalid(format!(
                    "source {:?} is listed twice",
                    src.name
                )));
            }
        }
        self.push.check()?;
        if let Some(t) = &self.map.tiles {
            discal_gateway::web::map::TileServer::parse(t, "").map_err(ConfigError::Invalid)?;
        }
        self.check_numbers()
    }

    /// Every numeric key within its range, with a message naming the key and the range (a
    /// NaN radius used to switch the geo filter off without a word).
    fn check_numbers(&self) -> Result<(), ConfigError> {
        let out_of_range = |key: &str, value: &dyn std::fmt::Display, range: &str| {
            Err(ConfigError::Invalid(format!(
                "{key} = {value}: must be {range}"
            )))
        };
        if self.max_hops > MAX_HOPS_LIMIT {
            return out_of_range("max_hops", &self.max_hops, "from 0 to 64");
        }
        if !(1..=604_800).contains(&self.sync_interval_secs) {
            return out_of_range(
                "sync_interval_secs",
                &self.sync_interval_secs,
                "from 1 to 604800 (a week)",
            );
        }
        if !(1..=86_400).contains(&self.redial_max_secs) {
            return out_of_range(
                "redial_max_secs",
                &self.redial_max_secs,
                "from 1 to 86400 (a day)",
            );
        }
        if !(1..=4096).contains(&self.max_inbound_peers) {
            return out_of_range(
                "max_inbound_peers",
                &self.max_inbound_peers,
                "from 1 to 4096",
            );
        }
        if self.write_wait_secs > 3600 {
            return out_of_range(
                "write_wait_secs",
                &self.write_wait_secs,
                "from 0 to 3600 (an hour)",
            );
        }
        if let Some(r) = self.filters.radius_km {
            if !(r.is_finite() && r > 0.0 && r <= 20_000.0) {
                return out_of_range(
                    "filters.radius_km",
                    &r,
                    "a number above 0 and up to 20000 (km)",
                );
            }
        }
        if let Some([lat, lon]) = self.filters.near {
            if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                return out_of_range("filters.near latitude", &lat, "from -90 to 90");
            }
            if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
                return out_of_range("filters.near longitude", &lon, "from -180 to 180");
            }
        }
        Ok(())
    }

    /// The HTTP address, parsed.
    pub fn http_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.http
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("http address {:?}: {e}", self.http)))
    }

    /// The public URL, defaulted from the HTTP address.
    pub fn public_url(&self, bound: Option<SocketAddr>) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!(
                "http://{}",
                bound.map_or(self.http.clone(), |a| a.to_string())
            ),
        }
    }
}

/// A config file's text to edit: the commented default when there is no file yet.
fn file_text(path: &Path) -> Result<String, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DEFAULT_CONFIG_TOML.to_owned()),
        Err(source) => Err(ConfigError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Edits the `[[peers]]` list of a config file in place, keeping its comments and layout.
pub fn edit_peers(
    path: &Path,
    edit: impl FnOnce(&mut Vec<PeerEntry>) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    edit_tables(path, "peers", |c| &c.peers, edit)
}

/// Edits the `[[sources]]` list of a config file in place, keeping its comments and layout.
pub fn edit_sources(
    path: &Path,
    edit: impl FnOnce(&mut Vec<crate::sources::SourceEntry>) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    edit_tables(path, "sources", |c| &c.sources, edit)
}

/// Edits `[[push.targets]]` of a config file, the rest kept as written.
pub fn edit_push_targets(
    path: &Path,
    edit: impl FnOnce(&mut Vec<crate::push::PushTarget>) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    edit_tables(path, "push.targets", |c| &c.push.targets, edit)
}

/// Edits one array of tables (`[[key]]`, or `[[table.key]]`) of a config file: the list is rewritten at the
/// end, whatever form it had (`peers = []` from a serialised Config included); every other
/// line, comments too, stays as it was. The result is checked before it is written.
fn edit_tables<T: Clone + PartialEq + std::fmt::Debug + Serialize>(
    path: &Path,
    key: &str,
    list: impl Fn(&Config) -> &Vec<T>,
    edit: impl FnOnce(&mut Vec<T>) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    let text = file_text(path)?;
    let current = Config::parse(&text, path)?;
    let mut items = list(&current).clone();
    edit(&mut items)?;
    let invalid = |e: &dyn std::fmt::Display| ConfigError::Invalid(e.to_string());
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e| invalid(&e))?;
    let (parent, key) = match key.split_once('.') {
        Some((t, k)) => {
            let item = doc.entry(t).or_insert_with(|| {
                let mut t = toml_edit::Table::new();
                // Shown only through its own keys and `[[t.key]]`, not as an empty `[t]`.
                t.set_implicit(true);
                toml_edit::Item::Table(t)
            });
            let table = item
                .as_table_mut()
                .ok_or_else(|| invalid(&format!("{t} is not a table")))?;
            (table, k)
        }
        None => (doc.as_table_mut(), key),
    };
    parent.remove(key);
    let mut tables = toml_edit::ArrayOfTables::new();
    for item in &items {
        // Each entry as toml writes it, keys in declaration order, defaults left out.
        let one: toml_edit::DocumentMut = toml::to_string(item)
            .map_err(|e| invalid(&e))?
            .parse()
            .map_err(|e| invalid(&e))?;
        tables.push(one.as_table().clone());
    }
    if !tables.is_empty() {
        parent.insert(key, toml_edit::Item::ArrayOfTables(tables));
    }
    let out = doc.to_string();
    let check = Config::parse(&out, path)?;
    if list(&check) != &items {
        return Err(ConfigError::Invalid(format!(
            "[[{key}]] did not read back as written"
        )));
    }
    write_atomic(path, out.as_bytes())
}

/// `[[push.targets]]` changes from the admin page.
fn edit_push(path: &Path, change: &discal_gateway::ConfigChange) -> Result<(), ConfigError> {
    use discal_gateway::ConfigChange as C;
    match change {
        C::AddPushTarget {
            name,
            url,
            filter,
            secret,
        } => {
            let secret = secret.clone().filter(|s| !s.is_empty());
            let entry = crate::push::PushTarget {
                name: name.clone(),
                url: url.clone(),
                filter: filter.clone(),
                auth: if secret.is_some() {
                    crate::push::Auth::Hmac
                } else {
                    crate::push::Auth::Signature
                },
                secret,
                keyid: None,
                allow_private: false,
            };
            edit_push_targets(path, |list| {
                list.retain(|t| t.name != entry.name);
                list.push(entry);
                Ok(())
            })
        }
        C::RemovePushTarget { name } => edit_push_targets(path, |list| {
            let before = list.len();
            list.retain(|t| &t.name != name);
            if list.len() == before {
                return Err(ConfigError::Invalid(format!("no push target {name:?}")));
            }
            Ok(())
        }),
        _ => Ok(()),
    }
}

/// Applies an admin page's change to a config file: peers through [`edit_peers`], other keys
/// in place with `toml_edit`, so every comment and the layout stay. The result is checked as a
/// whole before it is written; a bad value changes nothing.
pub fn edit_file(path: &Path, change: &discal_gateway::ConfigChange) -> Result<(), ConfigError> {
    use discal_gateway::ConfigChange as C;
    match change {
        C::AddPeer { key, address, name } => {
            let entry = PeerEntry {
                key: key.trim().to_owned(),
                address: address.clone().filter(|a| !a.trim().is_empty()),
                name: name.clone().filter(|n| !n.trim().is_empty()),
            };
            entry.node_key()?;
            return edit_peers(path, |peers| {
                peers.retain(|p| p.key != entry.key);
                peers.push(entry);
                Ok(())
            });
        }
        C::RemovePeer { key } => {
            return edit_peers(path, |peers| {
                let before = peers.len();
                peers.retain(|p| &p.key != key);
                if peers.len() == before {
                    return Err(ConfigError::Invalid(format!(
                        "no peer {key} in the allowlist"
                    )));
                }
                Ok(())
            })
        }
        C::AddSource {
            name,
            url,
            kind,
            every,
            tags,
            tz,
        } => {
            let name = name
                .clone()
                .or_else(|| discal_protocol::source::url_host(url))
                .ok_or_else(|| ConfigError::Invalid(format!("{url:?} is not an http(s) URL")))?;
            let entry = crate::sources::SourceEntry {
                every: every.clone(),
                tags: tags.clone(),
                tz: tz.clone(),
                ..crate::sources::SourceEntry::new(
                    &name,
                    url,
                    kind.parse().map_err(ConfigError::Invalid)?,
                )
            };
            entry.check()?;
            return edit_sources(path, |list| {
                list.retain(|s| s.name != entry.name);
                list.push(entry);
                Ok(())
            });
        }
        C::RemoveSource { name } => {
            return edit_sources(path, |list| {
                let before = list.len();
                list.retain(|s| &s.name != name);
                if list.len() == before {
                    return Err(ConfigError::Invalid(format!("no source {name:?}")));
                }
                Ok(())
            })
        }
        C::AddPushTarget { .. } | C::RemovePushTarget { .. } => return edit_push(path, change),
        _ => {}
    }
    let text = file_text(path)?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| ConfigError::Invalid(e.to_string()))?;
    set_keys(&mut doc, change);
    let out = doc.to_string();
    Config::parse(&out, path)?;
    write_atomic(path, out.as_bytes())
}

fn strings(v: &[String]) -> toml_edit::Item {
    let mut a = toml_edit::Array::new();
    for s in v {
        a.push(s.as_str());
    }
    toml_edit::value(a)
}

fn table<'a>(doc: &'a mut toml_edit::DocumentMut, name: &str) -> &'a mut toml_edit::Table {
    if !doc.contains_table(name) {
        doc.insert(name, toml_edit::Item::Table(toml_edit::Table::new()));
    }
    doc[name].as_table_mut().expect("a table just made")
}

fn set_keys(doc: &mut toml_edit::DocumentMut, change: &discal_gateway::ConfigChange) {
    use discal_gateway::ConfigChange as C;
    match change {
        C::Filters {
            max_hop,
            near,
            require_tags,
            drop_tags,
        } => {
            let f = table(doc, "filters");
            match max_hop {
                Some(h) => f["max_hop"] = toml_edit::value(i64::from(*h)),
                None => drop(f.remove("max_hop")),
            }
            match near {
                Some(([lat, lon], r)) => {
                    let mut a = toml_edit::Array::new();
                    a.push(*lat);
                    a.push(*lon);
                    f["near"] = toml_edit::value(a);
                    f["radius_km"] = toml_edit::value(*r);
                }
                None => {
                    f.remove("near");
                    f.remove("radius_km");
                }
            }
            f["require_tags"] = strings(require_tags);
            f["drop_tags"] = strings(drop_tags);
        }
        C::Settings(n) => {
            doc["name"] = toml_edit::value(n.name.as_str());
            set_or_remove(doc.as_table_mut(), "public_url", n.public_url.as_deref());
            set_or_remove(doc.as_table_mut(), "description", n.description.as_deref());
            if !n.language.is_empty() {
                doc["language"] = toml_edit::value(n.language.as_str());
            }
            let p = table(doc, "people");
            p["default_tz"] = toml_edit::value(n.default_tz.as_str());
            p["allow_anonymous"] = toml_edit::value(n.allow_anonymous);
            p["users_confirm_changes"] = toml_edit::value(n.users_confirm_changes);
            p["users_register_sites"] = toml_edit::value(n.users_register_sites);
            p["users_confirm_sites"] = toml_edit::value(n.users_confirm_sites);
            let m = table(doc, "map");
            set_or_remove(m, "tiles", n.map_tiles.as_deref());
            set_or_remove(m, "attribution", n.map_attribution.as_deref());
        }
        C::AddPeer { .. }
        | C::RemovePeer { .. }
        | C::AddSource { .. }
        | C::RemoveSource { .. }
        | C::AddPushTarget { .. }
        | C::RemovePushTarget { .. } => {}
    }
}

/// Sets a string key, or removes it for `None` (its comment lines stay).
fn set_or_remove(t: &mut toml_edit::Table, key: &str, v: Option<&str>) {
    match v {
        Some(v) => t[key] = toml_edit::value(v),
        None => drop(t.remove(key)),
    }
}

/// Writes a file so a reader (the running node) never sees half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_owned(),
        source,
    };
    crate::identity::write_durably(path, bytes, 0o644).map_err(io)
}

/// Where data lives without `--data-dir`: `$XDG_DATA_HOME/discal`, else
/// `~/.local/share/discal`, else `./discal-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("discal");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".local/share/discal");
    }
    PathBuf::from("discal-data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use discal_protocol::NodeSecret;

    /// Issue 17, item 12: `filters.radius_km = nan` silently disabled the geo filter and `near`
    /// was not range-checked. Each numeric key is checked, the message naming key and range.
    #[test]
    fn numeric_keys_are_checked_with_their_range() {
        for (toml, key) in [
            (
                "[filters]\nnear = [52.5, 13.4]\nradius_km = nan\n",
                "filters.radius_km",
            ),
            (
                "[filters]\nnear = [52.5, 13.4]\nradius_km = -1.0\n",
                "filters.radius_km",
            ),
            (
                "[filters]\nnear = [152.5, 13.4]\nradius_km = 10.0\n",
                "filters.near latitude",
            ),
            (
                "[filters]\nnear = [52.5, inf]\nradius_km = 10.0\n",
                "filters.near longitude",
            ),
            ("sync_interval_secs = 0\n", "sync_interval_secs"),
            ("redial_max_secs = 0\n", "redial_max_secs"),
            ("max_hops = 200\n", "max_hops"),
        ] {
            let e = Config::parse(toml, Path::new("x")).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains("must be"), "{toml}: {e}");
        }
        let ok = "[filters]\nnear = [52.5, 13.4]\nradius_km = 30.0\n";
        Config::parse(ok, Path::new("x")).unwrap();
    }

    #[test]
    fn push_targets_are_edited_beside_the_push_keys() {
        use discal_gateway::ConfigChange as C;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        let text = "# my node\n[push]\n# who may subscribe\nregistrations = \"auto\"\n";
        write_atomic(&p, text.as_bytes()).unwrap();
        let add = |name: &str, secret: Option<&str>| C::AddPushTarget {
            name: name.into(),
            url: format!("https://{name}.example/in"),
            filter: "tags=linux".into(),
            secret: secret.map(str::to_string),
        };
        edit_file(&p, &add("cms", Some("s"))).unwrap();
        edit_file(&p, &add("wp", None)).unwrap();
        let out = std::fs::read_to_string(&p).unwrap();
        assert!(
            out.contains("# who may subscribe") && out.contains("[[push.targets]]"),
            "{out}"
        );
        let c = Config::load(&p).unwrap();
        assert_eq!(c.push.registrations, crate::push::Registrations::Auto);
        assert_eq!(c.push.targets.len(), 2);
        assert_eq!(c.push.targets[0].auth, crate::push::Auth::Hmac);
        assert_eq!(c.push.targets[1].auth, crate::push::Auth::Signature);
        let bad = C::AddPushTarget {
            name: "x".into(),
            url: "https://x.example/".into(),
            filter: "tagz=1".into(),
            secret: None,
        };
        assert!(edit_file(&p, &bad)
            .unwrap_err()
            .to_string()
            .contains("tagz"));
        edit_file(&p, &C::RemovePushTarget { name: "cms".into() }).unwrap();
        assert_eq!(Config::load(&p).unwrap().push.targets.len(), 1);
        // Without a [push] table the targets still go under push.
        let q = dir.path().join("fresh.toml");
        write_atomic(&q, b"name = \"n\"\n").unwrap();
        edit_file(&q, &add("cms", None)).unwrap();
        assert_eq!(Config::load(&q).unwrap().push.targets.len(), 1);
        assert!(!std::fs::read_to_string(&q).unwrap().contains("\n[push]\n"));
    }

    #[test]
    fn admin_edits_keep_comments_and_refuse_bad_values() {
        use discal_gateway::ConfigChange as C;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        write_atomic(&p, DEFAULT_CONFIG_TOML.as_bytes()).unwrap();
        edit_file(
            &p,
            &C::Settings(discal_gateway::NodeSettings {
                name: "LUG Berlin".into(),
                public_url: Some("https://cal.example.org".into()),
                description: Some("Treffen freier Software".into()),
                language: "de".into(),
                default_tz: "Europe/Berlin".into(),
                allow_anonymous: true,
                users_confirm_changes: false,
                users_register_sites: true,
                users_confirm_sites: false,
                map_tiles: Some("https://tile.example.org/{z}/{x}/{y}.png".into()),
                map_attribution: None,
            }),
        )
        .unwrap();
        edit_file(
            &p,
            &C::Filters {
                max_hop: Some(3),
                near: Some(([52.5, 13.4], 100.0)),
                require_tags: vec![],
                drop_tags: vec!["spam".into()],
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("# Forward an event only while its hop count is below this."));
        let c = Config::load(&p).unwrap();
        assert_eq!(c.name, "LUG Berlin");
        assert_eq!(
            (c.description.as_deref(), c.language.as_str()),
            (Some("Treffen freier Software"), "de")
        );
        assert_eq!(
            c.map.tiles.as_deref(),
            Some("https://tile.example.org/{z}/{x}/{y}.png")
        );
        assert!(c.people.allow_anonymous && !c.people.users_confirm_changes);
        assert!(c.people.users_register_sites && !c.people.users_confirm_sites);
        assert_eq!(
            (c.filters.max_hop, c.filters.radius_km),
            (Some(3), Some(100.0))
        );
        let bad = |edit: fn(&mut discal_gateway::NodeSettings)| {
            let mut n = discal_gateway::NodeSettings {
                name: "x".into(),
                language: "en".into(),
                default_tz: "UTC".into(),
                ..Default::default()
            };
            edit(&mut n);
            C::Settings(n)
        };
        assert!(edit_file(&p, &bad(|n| n.default_tz = "Mars/Base".into())).is_err());
        assert!(edit_file(&p, &bad(|n| n.language = "tlh".into())).is_err());
        assert!(edit_file(
            &p,
            &bad(|n| n.map_tiles = Some("ftp://t/{z}/{x}/{y}".into()))
        )
        .is_err());
        assert_eq!(
            Config::load(&p).unwrap().name,
            "LUG Berlin",
            "a refused change changes nothing"
        );
    }

    #[test]
    fn default_file_parses_to_defaults() {
        let c = Config::parse(DEFAULT_CONFIG_TOML, Path::new("x")).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn origins_are_checked() {
        let key = NodeSecret::from_seed_array([7; 32]).public();
        let other = NodeSecret::from_seed_array([8; 32]).public();
        let c = Config::parse(
            &format!("[origins]\naccept = [\"{key}\"]\nblocked = [\"{other}\"]"),
            Path::new("c.toml"),
        )
        .unwrap();
        assert_eq!(c.origins.refuses(&key), None);
        assert!(c.origins.refuses(&other).unwrap().contains("blocked"));
        let third = NodeSecret::from_seed_array([9; 32]).public();
        assert!(c.origins.refuses(&third).unwrap().contains("accept"));
        assert_eq!(Config::default().origins.refuses(&third), None);
        for (bad, named) in [
            ("[origins]\naccept = \"some\"", "origins.accept"),
            ("[origins]\nblocked = [\"nope\"]", "origins.blocked"),
            ("[origins]\nmax_events = 0", "max_events"),
            ("[origins]\nmax_mib = 0", "max_mib"),
        ] {
            let e = Config::parse(bad, Path::new("c.toml")).unwrap_err();
            assert!(e.to_string().contains(named), "{bad}: {e}");
        }
    }

    #[test]
    fn the_map_is_off_until_a_tile_server_is_named() {
        assert_eq!(Config::default().map.tiles, None);
        let on = Config::parse(
            "[map]\ntiles = \"https://tile.openstreetmap.org/{z}/{x}/{y}.png\"\n\
             attribution = \"© OpenStreetMap contributors\"",
            Path::new("c.toml"),
        )
        .unwrap();
        // What the gateway reads (NodeApi::config is the config as JSON).
        let json = serde_json::to_value(&on).unwrap();
        assert_eq!(
            json["map"]["tiles"],
            "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        );
        for bad in [
            "tile.example/{z}/{x}/{y}.png",
            "https://t.example/{x}/{y}.png",
        ] {
            let e = Config::parse(&format!("[map]\ntiles = {bad:?}"), Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("map tiles"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::parse("mxa_hops = 3", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("mxa_hops"), "{e}");
        let e = Config::parse("http = \"nowhere\"", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("nowhere"), "{e}");
        let e = Config::parse("[[peers]]\nkey = \"abc\"", Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("abc"), "{e}");
    }

    #[test]
    fn peer_edit_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, DEFAULT_CONFIG_TOML).unwrap();
        let key = discal_protocol::vector::secret().public().to_string();
        edit_peers(&p, |peers| {
            peers.push(PeerEntry {
                key: key.clone(),
                address: Some("/ip4/127.0.0.1/tcp/1".into()),
                name: Some("a".into()),
            });
            Ok(())
        })
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("# Forward an event only"));
        let c = Config::load(&p).unwrap();
        assert_eq!(c.peers.len(), 1);
        edit_peers(&p, |peers| {
            peers.clear();
            Ok(())
        })
        .unwrap();
        assert!(Config::load(&p).unwrap().peers.is_empty());
    }

    #[test]
    fn appended_tables_never_split_a_section_from_its_commented_keys() {
        // The CLI appends [[sources]] and [[peers]] after the last table; a table's commented
        // keys below it (the map's `# tiles = …`) would then read as the new entry's, and
        // uncommented there make the config invalid.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, DEFAULT_CONFIG_TOML).unwrap();
        edit_sources(&p, |s| {
            s.push(crate::sources::SourceEntry::new(
                "club",
                "https://club.example/cal.ics",
                crate::sources::SourceKind::Ics,
            ));
            Ok(())
        })
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let after = |h: &str| text[text.find(h).unwrap() + h.len()..].to_string();
        let map = after("[map]\n");
        assert!(map.starts_with("# tiles ="), "{text}");
        let sources = after("[[sources]]\n");
        let next = sources.find("\n[").unwrap_or(sources.len());
        assert!(!sources[..next].contains("# tiles"), "{text}");
        assert_eq!(Config::load(&p).unwrap().sources.len(), 1);
    }
}
