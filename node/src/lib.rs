//! The `discal` node: configuration, identity, the libp2p gossipsub swarm, catch-up sync and the
//! wiring of store and gateway. The binary (`src/bin/discal/`) is a thin CLI over
//! [`Node::spawn`], which tests and `discal-simulations` use in-process.
//!
//! Inside a node three workers share one store. The **net loop** owns the libp2p `Swarm` and
//! nothing else talks to it except through a bounded command channel; it never waits on the other
//! workers (it hands work over with `try_send` and counts what it had to drop, which catch-up
//! sync repairs). The **ingest worker** (a thread) is the one path every event takes — gossip,
//! sync, local writes: decode, verify, filter, merge, one atomic store batch, relay decision.
//! Its state sits behind a lock: a local write of one event made while the worker is idle runs
//! that same path on the writer's thread, sparing two thread wake-ups (`ingest::Writer`).
//! The **sync responder** (a thread) answers set-reconciliation requests from peers; sync
//! sessions this node starts run as tasks. See docs/protocol.md §11 for the wire rules.
//!
//! # Layout
//! - `node.rs`: [`Node::spawn`] and [`NodeHandle`] (start, handle, ordered shutdown).
//! - `options.rs`: [`NodeOptions`], [`Tuning`], the clock, transport and observer hooks.
//! - `shared.rs`: [`Shared`], what every worker reads.
//! - `tasks.rs`: [`Tasks`], the owner of every task the node starts.
//! - `msg.rs`: the messages between workers and [`msg::NetClient`]; below net, ingest and sync.
//! - `net/`: the net loop (`mod.rs`), building the swarm (`swarm.rs`), its events (`events.rs`).
//! - `ingest.rs`: the one ingest path; `author.rs`: signing this node's own writes.
//! - `sync.rs`: catch-up by set reconciliation; `wire.rs`: the wire formats and codecs.
//! - `api.rs`: what the gateway sees of the node (writes, `/status`, `/metrics`).
//! - `reload.rs`: applying a changed config file; `config.rs`: the config file itself.
//! - `sources/`: the feeds and pages this node subscribes to (polling, safe fetching).
//! - `push/`: sister sites by push: the signed outbox, the WebSub hub, pushes received.
//! - `offline.rs`: writes and reads with the node stopped.
//! - `identity.rs`: key and admin token; `metrics.rs`: counters; `error.rs`: [`NodeError`].
//! - `client.rs`: the HTTP client the CLI, tests and benches talk to a node with.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

mod api;
pub mod author;
pub mod client;
pub mod config;
mod error;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod msg;
pub mod net;
mod node;
mod offline;
mod options;
pub mod proposals;
pub mod push;
mod reload;
pub mod rsvp;
mod shared;
pub mod sources;
pub mod sync;
mod tasks;
pub mod wire;

pub use config::{Config, Mode, PeerEntry};
pub use error::NodeError;
pub use metrics::{Metrics, Reject};
pub use node::{Node, NodeHandle};
pub use offline::{offline_store, offline_write};
pub use options::{system_clock, Clock, NodeOptions, Observer, Stored, TransportFactory, Tuning};
pub use shared::{PeerStats, Shared};
pub use tasks::Tasks;
