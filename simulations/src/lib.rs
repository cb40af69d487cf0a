//! A network laboratory: many real DisCal nodes in one process. Each simulated node is the node
//! crate's own [`discal_node::Node`] (same ingest, merge, validation, gossip relay and catch-up
//! sync) with an in-memory store and an in-memory libp2p transport whose links have latency,
//! jitter, loss and bandwidth ([`link`]). A [`scenario::Scenario`] says what happens (topology,
//! workload, partition, churn, hostile nodes, timers); [`run::run`] carries it out and returns a
//! [`report::Report`] with the figures and the named checks. `discal-sim` is the command line.

pub mod link;
pub mod plot;
pub mod report;
pub mod run;
pub mod scenario;
pub mod topology;

pub use report::Report;
pub use run::{run, RunOptions, SimError};
pub use scenario::Scenario;
