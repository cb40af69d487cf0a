//! The `discal` node: configuration, identity, the libp2p gossipsub swarm, catch-up sync and the
//! wiring of store and gateway, behind a thin binary.
//!
//! Not built yet: this crate is a placeholder in the workspace layout until the node issue
//! lands.
