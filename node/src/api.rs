//! What the gateway sees of the node ([`NodeApi`]): local writes, `/status`, `/metrics`.

use std::sync::Arc;

use discal_gateway::{BoxFuture, ConfigChange, NodeApi, WriteError, WriteOp, Written};
use discal_protocol::NodeKey;
use tokio::sync::mpsc;

use crate::msg::{Job, NetClient};
use crate::Shared;

/// `/status` as JSON: this node, its store and every configured or connected peer.
pub(crate) async fn status_json(shared: &Shared, net: &NetClient) -> serde_json::Value {
    let conns = net.connections().await.unwrap_or_default();
    let stats = shared
        .peer_stats
        .lock()
        .map(|m| m.clone())
        .unwrap_or_default();
    let configured = shared
        .config
        .read()
        .map(|c| c.peers.clone())
        .unwrap_or_default();
    let mut peers = Vec::new();
    let mut keys: Vec<NodeKey> = conns.connected.clone();
    for p in &configured {
        if let Ok(k) = p.node_key() {
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    for k in keys {
        let s = stats.get(&k).cloned().unwrap_or_default();
        let name = configured
            .iter()
            .find(|p| p.node_key().ok() == Some(k))
            .and_then(|p| p.name.clone());
        peers.push(serde_json::json!({
            "key": k.to_string(),
            "name": name,
            "connected": conns.connected.contains(&k),
            "gossip": conns.gossip.contains(&k),
            "last_sync_ms": s.last_sync_ms,
            "events_received": s.received,
            "events_rejected": s.rejected,
            "score": conns.scores.iter().find(|(p, _)| *p == k).map(|(_, v)| *v),
        }));
    }
    serde_json::json!({
        "key": shared.me.to_string(),
        "public_url": shared.public_url,
        "listen": conns.listen.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "events_stored": shared.store.len().unwrap_or(0),
        "last_seq": shared.store.last_seq().unwrap_or(0),
        "peers_connected": conns.connected.len(),
        "peers": peers,
        "sources": crate::sources::sources_json(shared),
    })
}

/// The gateway's view of the node.
pub(crate) struct Api {
    pub(crate) shared: Arc<Shared>,
    pub(crate) ingest: mpsc::Sender<Job>,
    pub(crate) writer: crate::ingest::Writer,
    pub(crate) net: NetClient,
    /// The config file the admin page edits (none: settings are fixed for this run).
    pub(crate) config_path: Option<std::path::PathBuf>,
}

impl NodeApi for Api {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>> {
        Box::pin(async move {
            self.shared.writes_ready().await;
            self.writer.write(op).await
        })
    }

    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.writer.settled())
    }

    fn settled_for<'a>(&'a self, uid: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(self.writer.settled_for(uid))
    }

    fn proposal(
        &self,
        req: discal_gateway::ProposalRequest,
    ) -> BoxFuture<'_, Result<discal_gateway::ProposalReply, WriteError>> {
        Box::pin(async move {
            if !matches!(req, discal_gateway::ProposalRequest::Receive(_)) {
                self.shared.writes_ready().await;
            }
            crate::msg::submit_proposal(&self.ingest, req).await
        })
    }

    fn status(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(status_json(&self.shared, &self.net))
    }

    fn metrics(&self) -> String {
        self.shared
            .metrics
            .render(self.shared.store.len().unwrap_or(0))
    }

    fn key(&self) -> Option<discal_protocol::NodeKey> {
        Some(self.shared.me)
    }

    fn config(&self) -> serde_json::Value {
        self.shared
            .config
            .read()
            .ok()
            .and_then(|c| serde_json::to_value(&*c).ok())
            .unwrap_or_default()
    }

    fn sources(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async move { crate::sources::sources_json(&self.shared) })
    }

    fn pushes(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(async move { crate::push::pushes_json(&self.shared) })
    }

    fn push(
        &self,
        req: discal_gateway::PushRequest,
    ) -> BoxFuture<'_, Result<discal_gateway::PushReply, WriteError>> {
        Box::pin(async move { crate::push::handle(&self.shared, &self.ingest, req).await })
    }

    fn poll_source(&self, name: String) -> BoxFuture<'_, Result<serde_json::Value, WriteError>> {
        Box::pin(async move { crate::sources::poll_named(&self.shared, &self.ingest, &name).await })
    }

    fn configure(&self, change: ConfigChange) -> BoxFuture<'_, Result<(), WriteError>> {
        Box::pin(async move {
            let path = self.config_path.clone().ok_or_else(|| {
                WriteError::Unavailable("this node runs without a config file".into())
            })?;
            let p2 = path.clone();
            tokio::task::spawn_blocking(move || crate::config::edit_file(&p2, &change))
                .await
                .map_err(|e| WriteError::Internal(e.to_string()))?
                .map_err(|e| WriteError::BadRequest(e.to_string()))?;
            crate::reload::apply_config_file(&path, &self.shared, &self.net)
                .await
                .map_err(|e| WriteError::Internal(e.to_string()))
        })
    }
}
