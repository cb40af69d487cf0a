//! A small in-process network for the node's integration tests: nodes on loopback, OS-chosen
//! ports, real sled stores in temporary dirs, allowlists written to each node's config file and
//! applied through the same reload path an operator uses.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use discal_gateway::{Draft, WriteOp};
use discal_node::config::{write_atomic, Config, PeerEntry};
use discal_node::{Node, NodeHandle, NodeOptions};
use discal_protocol::{EventKey, NodeKey};
use discal_store::StoredEvent;

/// Long enough for a loaded CI machine; tests await events and only fail at this bound.
pub const WAIT: Duration = Duration::from_secs(60);

pub struct TestNode {
    pub handle: Option<NodeHandle>,
    pub dir: tempfile::TempDir,
    pub max_hops: u8,
    pub key: NodeKey,
    pub addr: String,
}

pub struct TestNet {
    pub nodes: Vec<TestNode>,
}

pub fn config(max_hops: u8) -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        http: "127.0.0.1:0".into(),
        max_hops,
        // Periodic sync only where a test asks for it; connects always sync.
        sync_interval_secs: 3600,
        redial_max_secs: 1,
        ..Config::default()
    }
}

pub fn config_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("config.toml")
}

pub async fn start(dir: &tempfile::TempDir, cfg: Config) -> NodeHandle {
    let path = config_path(dir);
    write_atomic(&path, toml::to_string(&cfg).unwrap().as_bytes()).unwrap();
    let mut opts = NodeOptions::new(cfg, Some(dir.path().join("data")));
    opts.config_path = Some(path);
    // Sources are polled when a test asks, so it can count what each poll did.
    opts.tuning.source_schedule = false;
    Node::spawn(opts).await.expect("node starts")
}

impl TestNet {
    pub async fn new(n: usize, max_hops: u8) -> Self {
        let mut nodes = Vec::new();
        for _ in 0..n {
            let dir = tempfile::tempdir().unwrap();
            let h = start(&dir, config(max_hops)).await;
            nodes.push(TestNode {
                key: h.key(),
                addr: h.listen_addrs()[0].to_string(),
                handle: Some(h),
                dir,
                max_hops,
            });
        }
        Self { nodes }
    }

    pub fn node(&self, i: usize) -> &NodeHandle {
        self.nodes[i].handle.as_ref().expect("node is running")
    }

    pub fn entry(&self, i: usize) -> PeerEntry {
        PeerEntry {
            key: self.nodes[i].key.to_string(),
            address: Some(self.nodes[i].addr.clone()),
            name: Some(format!("n{i}")),
        }
    }

    /// Writes node `i`'s allowlist to its config file and reloads it.
    pub async fn set_peers(&self, i: usize, peers: &[usize]) {
        self.configure(i, peers, |_| {}).await;
    }

    /// Writes node `i`'s config (allowlist `peers`, then `edit`) and reloads it.
    pub async fn configure(&self, i: usize, peers: &[usize], edit: impl FnOnce(&mut Config)) {
        let mut cfg = config(self.nodes[i].max_hops);
        cfg.peers = peers.iter().map(|p| self.entry(*p)).collect();
        edit(&mut cfg);
        write_atomic(
            &config_path(&self.nodes[i].dir),
            toml::to_string(&cfg).unwrap().as_bytes(),
        )
        .unwrap();
        if let Some(h) = &self.nodes[i].handle {
            h.reload().await.unwrap();
        }
    }

    /// Peers every node with its neighbours in `edges` (both directions).
    pub async fn link(&self, edges: &[(usize, usize)]) {
        for i in 0..self.nodes.len() {
            let mut peers: Vec<usize> = edges
                .iter()
                .filter_map(|&(a, b)| {
                    if a == i {
                        Some(b)
                    } else if b == i {
                        Some(a)
                    } else {
                        None
                    }
                })
                .collect();
            peers.sort();
            self.set_peers(i, &peers).await;
        }
    }

    /// Waits until node `i` has `n` peers on the gossip topic.
    pub async fn wait_gossip(&self, i: usize, n: usize) {
        let h = self.node(i);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let c = h.connections().await.unwrap();
            if c.gossip.len() >= n && c.connected.len() >= n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {i}: {} gossip peers, wanted {n}",
                c.gossip.len()
            );
            let mut rx = h.shared().changed.subscribe();
            let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
        }
    }

    /// Stops node `i` (its data dir stays).
    pub async fn stop(&mut self, i: usize) {
        if let Some(h) = self.nodes[i].handle.take() {
            h.shutdown().await;
        }
    }

    /// Starts node `i` again on its data dir and config file.
    pub async fn restart(&mut self, i: usize) {
        let path = config_path(&self.nodes[i].dir);
        let mut cfg = Config::load(&path).unwrap();
        cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        let mut opts = NodeOptions::new(cfg, Some(self.nodes[i].dir.path().join("data")));
        opts.config_path = Some(path);
        let h = Node::spawn(opts).await.unwrap();
        self.nodes[i].addr = h.listen_addrs()[0].to_string();
        self.nodes[i].handle = Some(h);
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}

pub fn draft(title: &str) -> Draft {
    Draft {
        title: Some(title.into()),
        start: Some("2026-12-03T19:00".into()),
        duration: Some("2h".into()),
        tz: Some("Europe/Berlin".into()),
        location: Some("c-base, Rungestraße 20, Berlin".into()),
        tags: Some(vec!["free-software".into(), "meetup".into()]),
        description: Some(
            "Monthly meetup of the local free-software group: short talks, an install \
             party corner, and time to work on your projects together. Everyone welcome."
                .into(),
        ),
        url: Some("https://example.org/meetups/december".into()),
        ..Draft::default()
    }
}

/// Adds an event at node `h`; returns its key.
pub async fn add(h: &NodeHandle, title: &str) -> EventKey {
    let w = h.write(WriteOp::Create(draft(title))).await.unwrap();
    EventKey {
        origin: h.key(),
        uid: w[0].uid.clone(),
    }
}

pub fn held(h: &NodeHandle, key: &EventKey) -> Option<StoredEvent> {
    h.store().get(key).unwrap()
}

/// Waits until `h` holds revision `rev` of `key`.
pub async fn wait_rev(h: &NodeHandle, key: &EventKey, rev: u32) -> bool {
    h.wait_until(WAIT, |s| {
        s.get(key)
            .ok()
            .flatten()
            .is_some_and(|e| e.payload.revision >= rev)
    })
    .await
}

/// Adds an account through `/api/users` with the node's admin token (what `discal user add`
/// does while the node runs).
pub async fn add_user(h: &NodeHandle, name: &str, role: &str, password: &str) {
    let r = discal_node::client::http_client()
        .build()
        .unwrap()
        .post(format!("http://{}/api/users", h.http_addr()))
        .bearer_auth(h.admin_token())
        .header("content-type", "application/json")
        .body(serde_json::json!({"name": name, "role": role, "password": password}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
}
