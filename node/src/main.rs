//! `discal`: the node binary. A thin CLI over `discal_node`; see `discal --help`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use discal_gateway::{Draft, EventSummary, WriteOp, Written};
use discal_node::config::{self, Config, PeerEntry};
use discal_node::{identity, Node, NodeOptions};

/// `println!` that stops quietly when the reader has gone (`discal id | head -1`).
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

const EXAMPLES: &str = "Examples:
  discal run                                   # defaults: ./ or XDG data dir, HTTP on 127.0.0.1:8080
  discal init --data-dir ./node-b
  discal peer add 12D3KooW... /ip4/192.0.2.7/tcp/4710 --name sister-site
  discal event add --title 'Install party' --start 2026-12-03T19:00 --tz Europe/Berlin --duration 3h
  discal import meetups.ics";

/// DisCal: a peer-to-peer federation of public event calendars.
#[derive(Parser)]
#[command(name = "discal", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Clone)]
struct Common {
    /// Data directory (store, key, admin token, config.toml). Default: $XDG_DATA_HOME/discal,
    /// else ~/.local/share/discal, else ./discal-data.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Config file. Default: config.toml in the data directory.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl Common {
    fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(config::default_data_dir)
    }
    fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(|| self.data_dir().join("config.toml"))
    }
    fn load(&self) -> Result<Config> {
        Ok(Config::load(&self.config_path())?)
    }
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Cmd {
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
enum PeerCmd {
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
struct Fields {
    /// Title (SUMMARY).
    #[arg(long)]
    title: Option<String>,
    /// Start: 2026-12-03T19:00 (in --tz, or floating), 2026-12-03T18:00Z, or 2026-12-03 (all day).
    #[arg(long)]
    start: Option<String>,
    /// End, same forms as --start.
    #[arg(long, conflicts_with = "duration")]
    end: Option<String>,
    /// Duration: PT2H, 90m, 2h, 1d.
    #[arg(long)]
    duration: Option<String>,
    /// IANA time zone of --start/--end, e.g. Europe/Berlin.
    #[arg(long)]
    tz: Option<String>,
    /// Recurrence rule, e.g. FREQ=MONTHLY;BYDAY=1TU.
    #[arg(long)]
    rrule: Option<String>,
    /// LOCATION.
    #[arg(long)]
    location: Option<String>,
    /// GEO as LAT,LON.
    #[arg(long, value_name = "LAT,LON")]
    geo: Option<String>,
    /// Tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// URL.
    #[arg(long)]
    url: Option<String>,
    /// DESCRIPTION.
    #[arg(long)]
    description: Option<String>,
}

impl Fields {
    fn draft(self) -> Draft {
        Draft {
            title: self.title,
            start: self.start,
            end: self.end,
            duration: self.duration,
            tz: self.tz,
            rrule: self.rrule,
            location: self.location,
            geo: self.geo,
            tags: self.tags,
            url: self.url,
            description: self.description,
        }
    }
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum EventCmd {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,libp2p=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::Run {
            common,
            http,
            listen,
        } => cmd_run(common, http, listen),
        Cmd::Init {
            common,
            http,
            listen,
        } => cmd_init(&common, http, listen),
        Cmd::Id { common } => cmd_id(&common),
        Cmd::Peer(p) => cmd_peer(p),
        Cmd::Event(e) => cmd_event(e),
        Cmd::Import { common, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            print_written(&write(&common, WriteOp::Import(text))?);
            Ok(())
        }
        Cmd::Status { common } => cmd_status(&common),
    }
}

fn cmd_run(common: Common, http: Option<String>, listen: Vec<String>) -> Result<()> {
    let data_dir = common.data_dir();
    let path = common.config_path();
    let mut cfg = common.load()?;
    if let Some(h) = http {
        cfg.http = h;
    }
    if !listen.is_empty() {
        cfg.listen = listen;
    }
    cfg.check()?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut opts = NodeOptions::new(cfg, Some(data_dir.clone()));
        opts.config_path = Some(path);
        let node = Node::spawn(opts).await?;
        say!("{}", node.key());
        eprintln!(
            "discal node running\n  data:  {}\n  http:  http://{}/feed.ics\n  peers: {}",
            data_dir.display(),
            node.http_addr(),
            node.listen_addrs()
                .iter()
                .map(|a| format!("{a}/p2p/{}", node.key()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        wait_for_stop(&node).await;
        node.shutdown().await;
        Ok::<(), anyhow::Error>(())
    })
}

#[cfg(unix)]
async fn wait_for_stop(node: &discal_node::NodeHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return,
            _ = term.recv() => return,
            _ = hup.recv() => {
                if let Err(e) = node.reload().await {
                    tracing::warn!("reload: {e}");
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_stop(_node: &discal_node::NodeHandle) {
    let _ = tokio::signal::ctrl_c().await;
}

fn cmd_init(common: &Common, http: Option<String>, listen: Vec<String>) -> Result<()> {
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
    Ok(())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn cmd_id(common: &Common) -> Result<()> {
    let key = identity::load_or_create(&common.data_dir())?.key();
    say!("{key}");
    let cfg = common.load()?;
    // A running node knows its real addresses; otherwise show the configured ones.
    let addrs: Vec<String> = match api(&cfg, &common.data_dir(), "GET", "/status", None) {
        Ok((200, body)) => serde_json::from_str::<serde_json::Value>(&body)?["listen"]
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

fn cmd_peer(p: PeerCmd) -> Result<()> {
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

fn print_written(w: &[Written]) {
    for x in w {
        let note = if x.changed { "" } else { "\t(unchanged)" };
        say!("{}\trevision {}{note}", x.uid, x.revision);
    }
}

fn cmd_event(e: EventCmd) -> Result<()> {
    match e {
        EventCmd::Add { common, fields } => {
            let w = write(&common, WriteOp::Create(fields.draft()))?;
            // The UID alone, so scripts can take it.
            for x in w {
                say!("{}", x.uid);
            }
        }
        EventCmd::Update {
            common,
            uid,
            fields,
        } => print_written(&write(
            &common,
            WriteOp::Update {
                uid,
                patch: fields.draft(),
            },
        )?),
        EventCmd::Cancel { common, uid } => {
            print_written(&write(&common, WriteOp::Cancel { uid })?)
        }
        EventCmd::List { common } => {
            let cfg = common.load()?;
            let list: Vec<EventSummary> =
                match api(&cfg, &common.data_dir(), "GET", "/api/events", None) {
                    Ok((200, body)) => serde_json::from_str(&body)?,
                    Ok((s, body)) => bail!("node answered {s}: {}", body.trim()),
                    Err(ApiError::NotRunning) => {
                        let store = discal_node::offline_store(&common.data_dir())?;
                        discal_gateway::summaries(&store)?
                    }
                    Err(ApiError::Other(e)) => return Err(e),
                };
            for s in list {
                say!(
                    "{}\t{}\trev {}\thop {}\t{}\t{}{}",
                    s.uid,
                    s.start,
                    s.revision,
                    s.hop,
                    s.title,
                    s.origin,
                    if s.cancelled { "\tCANCELLED" } else { "" }
                );
            }
        }
    }
    Ok(())
}

fn cmd_status(common: &Common) -> Result<()> {
    let cfg = common.load()?;
    match api(&cfg, &common.data_dir(), "GET", "/status", None) {
        Ok((200, body)) => {
            let v: serde_json::Value = serde_json::from_str(&body)?;
            say!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
        Ok((s, body)) => bail!("node answered {s}: {}", body.trim()),
        Err(ApiError::NotRunning) => {
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
        Err(ApiError::Other(e)) => Err(e),
    }
}

/// A write through the running node's API, or straight into the store when it is stopped.
fn write(common: &Common, op: WriteOp) -> Result<Vec<Written>> {
    let cfg = common.load()?;
    let dir = common.data_dir();
    let (method, path, ctype, body) = match &op {
        WriteOp::Create(d) => (
            "POST",
            "/api/events".to_owned(),
            "application/json",
            serde_json::to_string(d)?,
        ),
        WriteOp::Import(t) => ("POST", "/api/events".to_owned(), "text/calendar", t.clone()),
        WriteOp::Update { uid, patch } => (
            "PUT",
            format!("/api/events/{}", discal_node::author::path_segment(uid)),
            "application/json",
            serde_json::to_string(patch)?,
        ),
        WriteOp::Replace { uid, ics } => (
            "PUT",
            format!("/api/events/{}", discal_node::author::path_segment(uid)),
            "text/calendar",
            ics.clone(),
        ),
        WriteOp::Cancel { uid } => (
            "DELETE",
            format!("/api/events/{}", discal_node::author::path_segment(uid)),
            "application/json",
            String::new(),
        ),
    };
    match api(&cfg, &dir, method, &path, Some((ctype, body))) {
        Ok((200 | 201, body)) => Ok(serde_json::from_str(&body)?),
        Ok((s, body)) => bail!("node answered {s}: {}", body.trim()),
        Err(ApiError::NotRunning) => {
            tracing::info!("node not running; writing to the store directly");
            discal_node::offline_write(&dir, &cfg, op).map_err(|e| anyhow!("{e}"))
        }
        Err(ApiError::Other(e)) => Err(e),
    }
}

enum ApiError {
    NotRunning,
    Other(anyhow::Error),
}

/// One HTTP/1.1 request to the local node (no client library: the API is ours and small).
fn api(
    cfg: &Config,
    data_dir: &Path,
    method: &str,
    path: &str,
    body: Option<(&str, String)>,
) -> std::result::Result<(u16, String), ApiError> {
    let other = |e: anyhow::Error| ApiError::Other(e);
    let mut addr: SocketAddr = cfg.http_addr().map_err(|e| other(e.into()))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(ApiError::NotRunning)
        }
        Err(e) => return Err(other(anyhow!("connecting to {addr}: {e}"))),
    };
    let token = identity::admin_token(data_dir).map_err(|e| other(e.into()))?;
    let (ctype, body) = body.unwrap_or(("text/plain", String::new()));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let io = |e: std::io::Error| other(anyhow!("talking to the node at {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(io)?;
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| other(anyhow!("malformed HTTP response from {addr}")))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| other(anyhow!("malformed HTTP status from {addr}")))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
