//! The command line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use discal_gateway::Draft;
use discal_node::config::{self, Config};
use discal_node::identity;

pub const EXAMPLES: &str = "Examples:
  discal run                                   # defaults: ./ or XDG data dir, HTTP on 127.0.0.1:8080
  discal init --data-dir ./node-b
  discal peer add 12D3KooW... /ip4/192.0.2.7/tcp/4710 --name sister-site
  discal event add --title 'Install party' --start 2026-12-03T19:00 --tz Europe/Berlin --duration 3h
  discal import meetups.ics";

/// DisCal: a peer-to-peer federation of public event calendars.
#[derive(Parser)]
#[command(name = "discal", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Args, Clone)]
pub struct Common {
    /// Data directory (store, key, admin token, config.toml). Default: $XDG_DATA_HOME/discal,
    /// else ~/.local/share/discal, else ./discal-data.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Config file. Default: config.toml in the data directory.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl Common {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(config::default_data_dir)
    }
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.data_dir().join("config.toml"))
    }
    pub fn load(&self) -> Result<Config> {
        Ok(Config::load(&self.config_path())?)
    }

    /// Refuses a data dir that holds no node (no identity key). Every command but `init` and
    /// `run` works on an existing node; without this, a mistyped `--data-dir` quietly made a
    /// new node there (a key, a store) and reported on it or wrote into it.
    pub fn require_node(&self) -> Result<()> {
        let dir = self.data_dir();
        if dir.join(identity::KEY_FILE).is_file() {
            return Ok(());
        }
        anyhow::bail!(
            "no DisCal node at {} (no {}): `discal init` or `discal run` makes one there; \
             for an existing node, give its --data-dir",
            dir.display(),
            identity::KEY_FILE
        )
    }
}

impl Cmd {
    /// The data dir options of a command that works on an existing node: all but `run` and
    /// `init`, which make one.
    pub fn on_existing_node(&self) -> Option<&Common> {
        use Cmd as C;
        Some(match self {
            C::Run { .. } | C::Init { .. } => return None,
            C::Id { common }
            | C::Dedupe { common, .. }
            | C::Import { common, .. }
            | C::Status { common } => common,
            C::Peer(
                PeerCmd::Add { common, .. }
                | PeerCmd::Remove { common, .. }
                | PeerCmd::List { common },
            ) => common,
            C::Event(
                EventCmd::Add { common, .. }
                | EventCmd::Update { common, .. }
                | EventCmd::Cancel { common, .. }
                | EventCmd::List { common, .. },
            ) => common,
            C::User(
                UserCmd::Add { common, .. }
                | UserCmd::List { common, .. }
                | UserCmd::Disable { common, .. }
                | UserCmd::Passwd { common, .. }
                | UserCmd::Token { common, .. },
            ) => common,
            C::Source(
                SourceCmd::Add { common, .. }
                | SourceCmd::List { common, .. }
                | SourceCmd::Remove { common, .. }
                | SourceCmd::Run { common, .. },
            ) => common,
            C::Push(
                PushCmd::Add { common, .. }
                | PushCmd::List { common, .. }
                | PushCmd::Remove { common, .. }
                | PushCmd::Decide { common, .. },
            ) => common,
        })
    }
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Cmd {
    /// Run the node: peer-to-peer on TCP, HTTP gateway, until Ctrl-C.
    #[command(
        after_help = "Examples:\n  discal run\n  discal run --data-dir ./b --http 127.0.0.1:8081 --listen /ip4/127.0.0.1/tcp/4711"
    )]
    Run {
        #[command(flatten)]
        common: Common,
        /// HTTP gateway address (overrides the config).
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Peer-to-peer listen multiaddr (overrides the config; repeatable).
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
    },
    /// Create the identity and a commented default config.toml.
    #[command(
        after_help = "Examples:\n  discal init --data-dir ./node-a\n  discal init --data-dir ./node-b --http 127.0.0.1:8081 --listen /ip4/127.0.0.1/tcp/4711"
    )]
    Init {
        #[command(flatten)]
        common: Common,
        /// HTTP gateway address to write into the config.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Peer-to-peer listen multiaddr to write into the config (repeatable).
        #[arg(long, value_name = "MULTIADDR")]
        listen: Vec<String>,
    },
    /// Print the node's public key (first line), then addresses peers can dial.
    #[command(after_help = "Example:\n  KEY=$(discal id | head -1)")]
    Id {
        #[command(flatten)]
        common: Common,
    },
    /// Edit the peer allowlist (a running node applies it within a second).
    #[command(subcommand)]
    Peer(PeerCmd),
    /// Add, change, cancel or list this node's events.
    #[command(subcommand)]
    Event(EventCmd),
    /// Manage accounts (people who log in at /login, and their API tokens).
    #[command(subcommand)]
    User(UserCmd),
    /// Subscribe to sister sites without DisCal: ICS feeds and event pages, polled on a schedule.
    #[command(subcommand)]
    Source(SourceCmd),
    /// Push to sister sites: targets, the hub's subscriptions, sites that push here.
    #[command(subcommand)]
    Push(PushCmd),
    /// Correct the collector's view: two listings the feeds show as one real event are two
    /// (split), two it shows apart are one (join), or let the rule decide again (clear).
    #[command(
        after_help = "Events are named by their page's URL (or its `/events/<origin>/<uid>` path).\nExample:\n  discal dedupe split https://cal.example/events/12D3KooW…/a@x https://cal.example/events/12D3KooW…/b@y"
    )]
    Dedupe {
        #[command(flatten)]
        common: Common,
        /// split, join or clear.
        action: String,
        /// One event's page.
        a: String,
        /// The other's.
        b: String,
    },
    /// Import the events of an iCalendar file as this node's events.
    #[command(after_help = "Example:\n  discal import group-calendar.ics")]
    Import {
        #[command(flatten)]
        common: Common,
        /// The .ics file.
        file: PathBuf,
    },
    /// Show the running node's status (or the stored state if it is stopped).
    Status {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum SourceCmd {
    /// Subscribe to a feed or page (a running node polls it within a second).
    #[command(
        after_help = "Examples:\n  discal source add https://example.org/events.ics --every 1h --tags linux,berlin\n  discal source add https://example.org/meetup/42 --kind page --tz Europe/Berlin\n  discal source add https://example.org/sitemap.xml --kind sitemap --max-pages 100"
    )]
    Add {
        #[command(flatten)]
        common: Common,
        /// The feed's or page's URL (http or https).
        url: String,
        /// A name for lists and logs (default: the URL's host).
        #[arg(long)]
        name: Option<String>,
        /// ics (an iCalendar feed), page (schema.org event markup) or sitemap (a sitemap.xml,
        /// or a page whose same-site links are event pages).
        #[arg(long, default_value = "ics")]
        kind: String,
        /// How often: 90s, 30m, 1h, 1d (at least a minute).
        #[arg(long, default_value = "1h")]
        every: String,
        /// Tags for every event from it, comma-separated.
        #[arg(long, value_delimiter = ',')]
        tags: Vec<String>,
        /// The IANA zone of the source's times written without one.
        #[arg(long)]
        tz: Option<String>,
        /// Let it reach loopback and private addresses (a calendar on your own network).
        #[arg(long)]
        allow_private: bool,
        /// For --kind sitemap from a page: links followed this deep (0 to 3).
        #[arg(long, default_value_t = 1)]
        depth: u8,
        /// For --kind sitemap: pages read per poll (1 to 500).
        #[arg(long, default_value_t = 50)]
        max_pages: u32,
        /// The most events taken from the source, those nearest today when it holds more
        /// (1 to 100000).
        #[arg(long, default_value_t = discal_node::sources::entry::DEFAULT_MAX_EVENTS)]
        max_events: u32,
    },
    /// Each source with its last poll: status, events seen/new/changed/cancelled/refused,
    /// last error, next due.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Unsubscribe (the events taken from it stay, as this node's).
    Remove {
        #[command(flatten)]
        common: Common,
        /// Its name.
        name: String,
    },
    /// Poll one source now (the node must be running) and print what it brought.
    Run {
        #[command(flatten)]
        common: Common,
        /// Its name.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum PushCmd {
    /// Push every matching change to URL, signed with this node's key (or, with --secret,
    /// with hmac-sha256 and X-Hub-Signature).
    #[command(
        after_help = "Examples:\n  discal push add cms https://site.example/discal-push --filter 'tags=linux&near=52.52,13.40&radius_km=30'\n  discal push add wp https://wp.example/?discal=push --secret 'a long shared secret'"
    )]
    Add {
        #[command(flatten)]
        common: Common,
        /// A name for lists and logs.
        name: String,
        /// Where changes are POSTed.
        url: String,
        /// A personal view's query string: which events it gets (default: all).
        #[arg(long, default_value = "")]
        filter: String,
        /// A secret shared with the receiver: hmac-sha256 instead of the node's key.
        #[arg(long)]
        secret: Option<String>,
        /// The key id the receiver knows the secret by (default: this node's key).
        #[arg(long)]
        keyid: Option<String>,
        /// Let it reach loopback and private addresses.
        #[arg(long)]
        allow_private: bool,
    },
    /// Targets and hub subscriptions with their outboxes; sites that push here.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Stop pushing to a target.
    Remove {
        #[command(flatten)]
        common: Common,
        /// Its name.
        name: String,
    },
    /// Approve, refuse or remove a hub subscription, or resume a stopped destination (the
    /// node must be running).
    Decide {
        #[command(flatten)]
        common: Common,
        /// A subscription's id (from `discal push list`) or a target's name.
        id: String,
        /// approve, refuse, remove or resume.
        verb: String,
    },
}

#[derive(Subcommand)]
pub enum PeerCmd {
    /// Allow a peer and dial it at ADDR.
    #[command(
        after_help = "Example:\n  discal peer add 12D3KooW... /ip4/127.0.0.1/tcp/4711 --name b"
    )]
    Add {
        #[command(flatten)]
        common: Common,
        /// Its public key (`discal id` on that node prints it).
        key: String,
        /// A multiaddr to dial, e.g. /ip4/192.0.2.7/tcp/4710.
        addr: String,
        /// A name for logs and status.
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a peer (its connections close).
    #[command(after_help = "Example:\n  discal peer remove 12D3KooW...")]
    Remove {
        #[command(flatten)]
        common: Common,
        /// Its public key.
        key: String,
    },
    /// List the allowlist.
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args, Clone, Default)]
pub struct Fields {
    /// Title (SUMMARY).
    #[arg(long)]
    pub title: Option<String>,
    /// Start: 2026-12-03T19:00 (in --tz, or floating), 2026-12-03T18:00Z, or 2026-12-03 (all day).
    #[arg(long)]
    pub start: Option<String>,
    /// End, same forms as --start.
    #[arg(long, conflicts_with = "duration")]
    pub end: Option<String>,
    /// Duration: PT2H, 90m, 2h, 1d.
    #[arg(long)]
    pub duration: Option<String>,
    /// IANA time zone of --start/--end, e.g. Europe/Berlin.
    #[arg(long)]
    pub tz: Option<String>,
    /// Recurrence rule, e.g. FREQ=MONTHLY;BYDAY=1TU.
    #[arg(long)]
    pub rrule: Option<String>,
    /// LOCATION.
    #[arg(long)]
    pub location: Option<String>,
    /// GEO as LAT,LON.
    #[arg(long, value_name = "LAT,LON")]
    pub geo: Option<String>,
    /// Tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub tags: Option<Vec<String>>,
    /// URL.
    #[arg(long)]
    pub url: Option<String>,
    /// DESCRIPTION.
    #[arg(long)]
    pub description: Option<String>,
    /// The language the event is written in: de, en, pt-BR … ("" removes it).
    #[arg(long)]
    pub language: Option<String>,
}

impl Fields {
    pub fn draft(self) -> Draft {
        Draft {
            title: self.title,
            start: self.start,
            end: self.end,
            duration: self.duration,
            tz: self.tz,
            rrule: self.rrule,
            exdates: None,
            location: self.location,
            geo: self.geo,
            tags: self.tags,
            url: self.url,
            description: self.description,
            language: self.language,
        }
    }
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Add an account; prints its one-time password unless --password-stdin gives one.
    #[command(
        after_help = "Examples:\n  discal user add ana --role admin\n  printf '%s' \"$PW\" | discal user add bo --password-stdin"
    )]
    Add {
        #[command(flatten)]
        common: Common,
        /// Login name: letters, digits, '.', '_', '-'.
        name: String,
        /// admin or user.
        #[arg(long, default_value = "user")]
        role: String,
        /// Read the password from standard input (for scripts) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Disable an account: it cannot log in, its sessions end, its tokens stop working.
    Disable {
        #[command(flatten)]
        common: Common,
        /// Login name.
        name: String,
    },
    /// Set a new password (generated unless --password-stdin); ends the account's sessions.
    Passwd {
        #[command(flatten)]
        common: Common,
        /// Login name.
        name: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Issue an API token for the account (printed once), or revoke all its tokens.
    Token {
        #[command(flatten)]
        common: Common,
        /// Login name.
        name: String,
        /// A label for the token ("laptop", "DAVx5").
        #[arg(long, default_value = "cli")]
        label: String,
        /// Revoke every token of the account instead.
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum EventCmd {
    /// Publish a new event; prints its UID.
    #[command(
        after_help = "Example:\n  discal event add --title 'Rust meetup' --start 2026-12-03T19:00 --tz Europe/Berlin --duration 2h --tags rust,meetup"
    )]
    Add {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        fields: Fields,
    },
    /// Change fields of one of this node's events (a new revision).
    #[command(
        after_help = "Example:\n  discal event update 3f2a...@12D3KooW... --title 'Rust meetup (moved)'"
    )]
    Update {
        #[command(flatten)]
        common: Common,
        /// The UID `event add` printed.
        uid: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Cancel one of this node's events (a new revision with STATUS:CANCELLED).
    #[command(after_help = "Example:\n  discal event cancel 3f2a...@12D3KooW...")]
    Cancel {
        #[command(flatten)]
        common: Common,
        /// The UID.
        uid: String,
    },
    /// List stored events (all origins).
    List {
        #[command(flatten)]
        common: Common,
    },
}
