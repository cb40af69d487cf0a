//! A network laboratory: many real DisCal nodes in one process. Each simulated node is the node
//! crate's own [`discal_node::Node`] (same ingest, merge, validation, gossip relay and catch-up
//! sync) with an in-memory store and an in-memory libp2p transport whose links have latency,
//! jitter, loss and bandwidth ([`link`]). A [`scenario::Scenario`] says what happens (topology,
//! workload, partition, churn, hostile nodes, timers); [`run::run`] carries it out and returns a
//! [`report::Report`] with the figures and the named checks. `discal-sim` is the command line.
//!
//! # Layout
//! - [`scenario`]: what a run does, as a TOML file.
//! - [`topology`]: who peers with whom (graph generators).
//! - [`link`]: the in-memory transport and its per-link model.
//! - [`mod@run`]: carrying a scenario out: `run/mod.rs` orders the phases; `sim.rs` (the nodes),
//!   `workload.rs` (what honest nodes publish), `hostile.rs` (what hostile ones inject),
//!   `measure.rs` (what is read off at the end).
//! - [`report`]: the figures and checks (`report/build.rs` computes them) and their files.
//! - [`plot`]: SVG plots of a report.
//! - `main.rs`: the `discal-sim` command line.
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

pub mod link;
pub mod plot;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shadow;
pub mod topology;

pub use report::Report;
pub use run::{run, RunOptions, SimError};
pub use scenario::Scenario;
