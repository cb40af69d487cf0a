//! `discal`: the node binary. A thin CLI over `discal_node`; see `discal --help`.
//!
//! - `args.rs`: the command line (clap).
//! - `run.rs`: `discal run`, until a signal stops it.
//! - `setup.rs`: `init`, `id`, `peer`: the data dir, the key and the allowlist.
//! - `events.rs`: `event add|update|cancel|list`.
//! - `import.rs`: `import`, in parts, with a progress bar and a summary.
//! - `users.rs`: `user add|list|disable|passwd|token`.
//! - `sources.rs`: `source add|list|remove|run`.
//! - `push.rs`: `push add|list|remove|decide`.
//! - `remote.rs`: talking to the running node over its HTTP API (or to the store directly
//!   when it is stopped), and `status`.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

/// `println!` that stops quietly when the reader has gone (`discal id | head -1`).
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod args;
mod events;
mod import;
mod push;
mod remote;
mod run;
mod setup;
mod sources;
mod users;

use args::{Cli, Cmd};

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
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    if let Some(common) = cli.command.on_existing_node() {
        common.require_node()?;
    }
    match cli.command {
        Cmd::Run {
            common,
            http,
            listen,
        } => run::cmd_run(common, http, listen),
        Cmd::Init {
            common,
            http,
            listen,
        } => setup::cmd_init(&common, http, listen),
        Cmd::Id { common } => setup::cmd_id(&common),
        Cmd::Peer(p) => setup::cmd_peer(p),
        Cmd::Source(s) => sources::cmd_source(s),
        Cmd::Push(p) => push::cmd_push(p),
        Cmd::Dedupe {
            common,
            action,
            a,
            b,
        } => push::cmd_dedupe(&common, &action, &a, &b),
        Cmd::Event(e) => events::cmd_event(e),
        Cmd::User(u) => users::cmd_user(u),
        Cmd::Import { common, file } => import::cmd_import(&common, &file),
        Cmd::Status { common } => remote::cmd_status(&common),
    }
}
