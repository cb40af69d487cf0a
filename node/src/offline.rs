//! Writes and reads with the node stopped (the CLI when no node runs on the data dir): the
//! same authoring code on the store opened directly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use discal_gateway::{WriteError, WriteOp, Written};
use discal_protocol::{Limits, NodeKey};
use discal_store::{SledOptions, Store};
use tokio::sync::watch;

use crate::{author, identity, system_clock, Config, Metrics, NodeError, Shared, Tasks};

/// Performs a local write with the node stopped: opens the store in `data_dir`, signs with the
/// node's key and stores the revision. The node spreads it through catch-up sync when it next
/// connects to its peers.
pub fn offline_write(
    data_dir: &std::path::Path,
    config: &Config,
    op: WriteOp,
) -> Result<Vec<Written>, WriteError> {
    let ident =
        identity::load_or_create(data_dir).map_err(|e| WriteError::Internal(e.to_string()))?;
    let store = offline_store(data_dir).map_err(|e| WriteError::Unavailable(e.to_string()))?;
    let shared = offline_shared(store, ident.key(), config)?;
    let authored = author::author(&shared, &ident.secret, op)?;
    // One batch, one flush, as the running node does.
    shared
        .store
        .apply_batch(
            authored
                .iter()
                .filter_map(author::Authored::signed)
                .map(|ev| (ev, discal_store::Transit::local())),
            shared.now(),
        )
        .map_err(|e| WriteError::Internal(format!("store: {e}")))?;
    Ok(authored.iter().map(author::Authored::written).collect())
}

/// Opens the store of a stopped node read-only-in-spirit (for `event list`, `status`).
pub fn offline_store(data_dir: &std::path::Path) -> Result<Store, NodeError> {
    Store::open(&data_dir.join("store"), &SledOptions::default()).map_err(|e| match e {
        discal_store::StoreError::Locked(_) => NodeError::StoreInUse(data_dir.to_owned()),
        other => other.into(),
    })
}

pub(crate) fn offline_shared(
    store: Store,
    me: NodeKey,
    config: &Config,
) -> Result<Shared, WriteError> {
    let (changed, _) = watch::channel(0);
    Ok(Shared {
        store: Arc::new(store),
        me,
        events_url: format!("{}/events/{me}", config.public_url(None)),
        public_url: config.public_url(None),
        config: RwLock::new(config.clone()),
        metrics: Arc::new(Metrics::default()),
        limits: Limits::default(),
        clock: system_clock(),
        changed,
        peer_stats: Mutex::new(HashMap::new()),
        observer: None,
        native_forwarding: false,
        tasks: Tasks::default(),
        writes_ready: watch::channel(true).0,
        failed: watch::channel(None).0,
        unsettled: watch::channel(false).0,
        unsettled_uids: Mutex::default(),
        #[cfg(feature = "test-utils")]
        hold_settle: std::sync::atomic::AtomicBool::new(false),
        #[cfg(feature = "test-utils")]
        panic_next_write: std::sync::atomic::AtomicBool::new(false),
        origin_days: Mutex::default(),
        proposal_rate: Mutex::default(),
        outbox: tokio::sync::Notify::new(),
        rsvp_dirty: Mutex::default(),
        rsvp_wake: tokio::sync::Notify::new(),
        people: std::sync::OnceLock::new(),
        sources: crate::sources::Runner::default(),
        push: crate::push::Pusher::default(),
        fetching: Mutex::default(),
        fetched: tokio::sync::Notify::new(),
    })
}
