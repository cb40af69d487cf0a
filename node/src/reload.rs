//! Applying a changed config file without a restart: peers, hop limit, filters.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::msg::NetClient;
use crate::{Config, NodeError, Shared};

/// Re-reads the config file when it changes (checked every second: cheaper than a watcher
/// crate, and it works the same on every platform and filesystem).
pub(crate) async fn watch_config(path: PathBuf, shared: Arc<Shared>, net: NetClient) {
    let mtime = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = mtime(&path);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = mtime(&path);
        if now != last {
            last = now;
            if let Err(e) = apply_config_file(&path, &shared, &net).await {
                tracing::warn!("config reload: {e}");
            }
        }
    }
}

/// Applies the config file's peers, hop limit, filters and sync interval to the running node.
pub(crate) async fn apply_config_file(
    path: &std::path::Path,
    shared: &Shared,
    net: &NetClient,
) -> Result<(), NodeError> {
    let c = Config::load(path)?;
    let peers = c.peers.clone();
    if let Ok(mut cur) = shared.config.write() {
        // Listen and HTTP addresses need a restart; peers, hops, filters and origins apply now.
        cur.peers = c.peers;
        cur.max_hops = c.max_hops;
        cur.filters = c.filters;
        cur.origins = c.origins;
        cur.sync_interval_secs = c.sync_interval_secs;
        cur.people = c.people.clone();
        cur.description = c.description.clone();
        cur.language = c.language.clone();
        cur.map = c.map.clone();
        cur.proposals = c.proposals.clone();
        cur.sources = c.sources.clone();
        cur.push = c.push.clone();
    }
    // A source added, changed or removed is polled (or dropped) now, not at the next due time.
    shared.sources.wake.notify_one();
    shared.push.wake.notify_one();
    if let Some(people) = shared.people.get() {
        if let Ok(mut s) = people.settings.write() {
            *s = c.people.settings();
        }
    }
    tracing::info!(peers = peers.len(), "configuration reloaded");
    net.set_peers(peers).await
}
