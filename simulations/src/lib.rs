//! Many DisCal nodes in one process over an in-memory transport with a link model: delivery,
//! latency, duplicates, partitions and churn, measured on the node crate's own code.
//!
//! Not built yet: this crate is a placeholder in the workspace layout until the simulations
//! issue lands.
