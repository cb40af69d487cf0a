//! The `discal` node: configuration, identity, the libp2p gossipsub swarm, catch-up sync and the
//! wiring of store and gateway. The binary (`main.rs`) is a thin CLI over [`Node::spawn`], which
//! tests and `discal-simulations` use in-process.
//!
//! Inside a node three workers share one store. The **net loop** owns the libp2p `Swarm` and
//! nothing else talks to it except through a bounded command channel; it never waits on the other
//! workers (it hands work over with `try_send` and counts what it had to drop, which catch-up
//! sync repairs). The **ingest worker** (a thread) is the one path every event takes — gossip,
//! sync, local writes: decode, verify, filter, merge, one atomic store batch, relay decision.
//! The **sync responder** (a thread) answers set-reconciliation requests from peers; sync
//! sessions this node starts run as tasks. See docs/protocol.md §11 for the wire rules.

pub mod author;
pub mod config;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod net;
pub mod sync;
pub mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use discal_gateway::{BoxFuture, NodeApi, WriteError, WriteOp, Written};
use discal_protocol::{Limits, NodeKey, NodeSecret};
use discal_store::{SledOptions, Store};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

pub use config::{Config, Mode, PeerEntry};
pub use metrics::{Metrics, Reject};

/// Why the node cannot start or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store.
    #[error("store: {0}")]
    Store(#[from] discal_store::StoreError),
    /// Files, sockets.
    #[error("{0}")]
    Io(String),
    /// libp2p setup.
    #[error("network: {0}")]
    Net(String),
    /// The node has stopped.
    #[error("node is shutting down")]
    Stopped,
}

/// Milliseconds since the epoch; replaceable so tests and simulations control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// Builds the swarm's transport from the node's key: authenticated and multiplexed, like the
/// TCP + noise + yamux stack it replaces. Simulations pass an in-memory transport with a link
/// model here; the node's own code runs unchanged above it.
pub type TransportFactory = Arc<
    dyn Fn(
            &libp2p::identity::Keypair,
        ) -> Result<
            libp2p::core::transport::Boxed<(PeerId, libp2p::core::muxing::StreamMuxerBox)>,
            Box<dyn std::error::Error + Send + Sync>,
        > + Send
        + Sync,
>;

/// An event revision this node has just stored from a peer (not its own writes).
#[derive(Clone, Debug)]
pub struct Stored {
    /// The event.
    pub key: discal_protocol::EventKey,
    /// Its revision.
    pub revision: u32,
    /// The hop count it arrived with.
    pub hop: u8,
}

/// Called by the ingest worker for every revision it stores from a peer: how simulations time
/// delivery without polling a thousand stores. Keep it cheap; it runs on the ingest path.
pub type Observer = Arc<dyn Fn(&Stored) + Send + Sync>;

/// Protocol timers and knobs that operators have no reason to touch but simulations vary.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Gossipsub heartbeat (mesh maintenance, lazy gossip).
    pub heartbeat: Duration,
    /// How long gossipsub remembers message ids it has seen.
    pub duplicate_cache: Duration,
    /// Peers that get IHAVE gossip per heartbeat besides the mesh (0 turns lazy gossip off).
    pub gossip_lazy: usize,
    /// Gossipsub's target mesh degree (its D; D_low = D − 1, D_high = 2·D).
    pub mesh_n: usize,
    /// Publish (and so relay) to every subscribed peer rather than to the mesh only.
    pub flood_publish: bool,
    /// Measurement mode: gossipsub forwards valid messages itself (Accept) instead of this node
    /// re-publishing them with hop + 1. Hop counts and paths stop meaning anything (every copy
    /// keeps the origin's hop 1) and paths are not checked; it exists so simulations can put a
    /// figure on what hop counting costs. Never for real nodes.
    pub native_forwarding: bool,
    /// Gossipsub's per-connection queue: half for publishes (relays), half for control
    /// messages. The control half is allocated in full for every connection, which is what a
    /// thousand simulated nodes notice; a publish that finds its half full is dropped for that
    /// peer and left to catch-up sync.
    pub queue_len: usize,
    /// Relay values per gossip message are cut at this many bytes; 0 sends one per message.
    pub gossip_bundle_bytes: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            duplicate_cache: Duration::from_secs(60),
            gossip_lazy: 6,
            mesh_n: 6,
            flood_publish: true,
            queue_len: 5000,
            native_forwarding: false,
            gossip_bundle_bytes: wire::BUNDLE_BYTES,
        }
    }
}

/// How to start a node.
#[derive(Clone)]
pub struct NodeOptions {
    /// The configuration.
    pub config: Config,
    /// The file `config` came from; watched so peer changes apply without a restart.
    pub config_path: Option<PathBuf>,
    /// Store, key and token live here; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// Use this key instead of the data dir's (simulations).
    pub secret: Option<[u8; 32]>,
    /// The clock.
    pub clock: Clock,
    /// The swarm's transport; `None` is TCP with noise and yamux.
    pub transport: Option<TransportFactory>,
    /// Use this store instead of opening one (a simulated node that restarts keeps its events).
    pub store: Option<Arc<Store>>,
    /// Serve the HTTP gateway (simulations run a thousand nodes without one).
    pub gateway: bool,
    /// Protocol timers.
    pub tuning: Tuning,
    /// Told of every revision stored from a peer.
    pub observer: Option<Observer>,
}

impl NodeOptions {
    /// Options with a data dir and defaults otherwise.
    pub fn new(config: Config, data_dir: Option<PathBuf>) -> Self {
        Self {
            config,
            config_path: None,
            data_dir,
            secret: None,
            clock: system_clock(),
            transport: None,
            store: None,
            gateway: true,
            tuning: Tuning::default(),
            observer: None,
        }
    }
}

/// Per-peer figures for `/status`.
#[derive(Clone, Debug, Default)]
pub struct PeerStats {
    /// Envelopes received from it.
    pub received: u64,
    /// Envelopes from it that were rejected.
    pub rejected: u64,
    /// Last completed sync (ms since the epoch).
    pub last_sync_ms: Option<i64>,
}

/// What every worker of one node shares.
pub struct Shared {
    /// The store.
    pub store: Arc<Store>,
    /// This node's key.
    pub me: NodeKey,
    /// The live configuration (peers change on reload).
    pub config: RwLock<Config>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Validation limits.
    pub limits: Limits,
    /// The clock.
    pub clock: Clock,
    /// The gateway's public URL (X-REVISE-URL).
    pub public_url: String,
    /// Bumped after every store write, so waiters need no polling.
    pub changed: watch::Sender<u64>,
    /// Per-peer figures.
    pub peer_stats: Mutex<HashMap<NodeKey, PeerStats>>,
    /// Told of revisions stored from peers.
    pub observer: Option<Observer>,
    /// Gossipsub forwards valid messages natively (see [`Tuning::native_forwarding`]).
    pub native_forwarding: bool,
    /// Sync item ids some session is fetching now, so concurrent sessions (a node back from
    /// an outage syncs with every peer at once) fetch each missing event once.
    pub fetching: Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Signalled when a session releases its ids.
    pub fetched: tokio::sync::Notify,
}

impl Shared {
    /// Now, by the node's clock.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    /// The current hop limit.
    pub fn max_hops(&self) -> u8 {
        self.config.read().map(|c| c.max_hops).unwrap_or(0)
    }

    fn peer_stat(&self, key: &NodeKey, f: impl FnOnce(&mut PeerStats)) {
        if let Ok(mut m) = self.peer_stats.lock() {
            f(m.entry(*key).or_default());
        }
    }
}

/// The running node.
pub struct NodeHandle {
    shared: Arc<Shared>,
    net: mpsc::Sender<net::Command>,
    ingest: mpsc::Sender<ingest::Job>,
    http_addr: SocketAddr,
    listen: Vec<Multiaddr>,
    admin_token: String,
    config_path: Option<PathBuf>,
    http_stop: Option<oneshot::Sender<()>>,
    http_task: Option<tokio::task::JoinHandle<()>>,
    net_task: Option<tokio::task::JoinHandle<()>>,
    watch_task: Option<tokio::task::JoinHandle<()>>,
    ingest_thread: Option<std::thread::JoinHandle<()>>,
    responder_thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts nodes.
pub struct Node;

impl Node {
    /// Opens the store, starts the swarm, the workers and the HTTP gateway. Returns once the
    /// node listens on its addresses, so callers can read the OS-chosen ports.
    pub async fn spawn(opts: NodeOptions) -> Result<NodeHandle, NodeError> {
        opts.config.check()?;
        let ident = match (opts.secret, &opts.data_dir) {
            (Some(seed), _) => identity::Identity::from_secret(NodeSecret::from_seed_array(seed)),
            (None, Some(dir)) => identity::load_or_create(dir)?,
            (None, None) => {
                identity::Identity::from_secret(NodeSecret::generate(&mut rand::rngs::OsRng))
            }
        };
        let admin_token = match &opts.data_dir {
            Some(dir) => identity::admin_token(dir)?,
            None => format!("{:032x}", rand::random::<u128>()),
        };
        let store = match (&opts.store, &opts.data_dir) {
            (Some(s), _) => s.clone(),
            (None, Some(dir)) => Arc::new({
                let d = dir.join("store");
                tokio::task::spawn_blocking(move || Store::open(&d, &SledOptions::default()))
                    .await
                    .map_err(|e| NodeError::Io(e.to_string()))??
            }),
            (None, None) => Arc::new(Store::memory()),
        };
        let http_listener = if opts.gateway {
            Some(
                discal_gateway::bind(opts.config.http_addr()?)
                    .await
                    .map_err(|e| NodeError::Io(format!("http {}: {e}", opts.config.http)))?,
            )
        } else {
            None
        };
        let http_addr = match &http_listener {
            Some(l) => l.local_addr().map_err(|e| NodeError::Io(e.to_string()))?,
            None => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let metrics = Arc::new(Metrics::default());
        let (changed, _) = watch::channel(store.last_seq()?);
        let shared = Arc::new(Shared {
            store: store.clone(),
            me: ident.key(),
            public_url: opts
                .config
                .public_url(http_listener.is_some().then_some(http_addr)),
            config: RwLock::new(opts.config.clone()),
            metrics: metrics.clone(),
            limits: Limits::default(),
            clock: opts.clock.clone(),
            changed,
            peer_stats: Mutex::new(HashMap::new()),
            observer: opts.observer.clone(),
            native_forwarding: opts.tuning.native_forwarding,
            fetching: Mutex::default(),
            fetched: tokio::sync::Notify::new(),
        });

        let (net_tx, net_rx) = mpsc::channel(net::COMMAND_QUEUE);
        let (ingest_tx, ingest_rx) = mpsc::channel(ingest::QUEUE);
        let (resp_tx, resp_rx) = mpsc::channel(sync::RESPONDER_QUEUE);

        let ingest_thread = {
            let (shared, net_tx) = (shared.clone(), net_tx.clone());
            let secret = NodeSecret::from_seed_array(ident.secret.to_seed());
            std::thread::Builder::new()
                .name("discal-ingest".into())
                .spawn(move || ingest::run(shared, secret, ingest_rx, net_tx))
                .map_err(|e| NodeError::Io(e.to_string()))?
        };
        let responder_thread = {
            let (shared, net_tx, ingest_tx) = (shared.clone(), net_tx.clone(), ingest_tx.clone());
            std::thread::Builder::new()
                .name("discal-sync".into())
                .spawn(move || sync::run_responder(shared, resp_rx, net_tx, ingest_tx))
                .map_err(|e| NodeError::Io(e.to_string()))?
        };

        let (net_loop, listen) = net::NetLoop::start(
            &ident,
            &opts,
            shared.clone(),
            net_rx,
            net_tx.clone(),
            ingest_tx.clone(),
            resp_tx,
        )
        .await?;
        let net_task = tokio::spawn(net_loop.run());

        let (http_stop, http_task) = match http_listener {
            Some(listener) => {
                let api = Arc::new(Api {
                    shared: shared.clone(),
                    ingest: ingest_tx.clone(),
                    net: net_tx.clone(),
                });
                let (stop, task) = start_gateway(listener, api, &shared, &admin_token, &opts);
                (Some(stop), Some(task))
            }
            None => (None, None),
        };

        let watch_task = opts.config_path.clone().map(|path| {
            let net_tx = net_tx.clone();
            let shared = shared.clone();
            tokio::spawn(watch_config(path, shared, net_tx))
        });

        tracing::info!(key = %shared.me, http = %http_addr, listen = ?listen, "node started");
        Ok(NodeHandle {
            shared,
            net: net_tx,
            ingest: ingest_tx,
            http_addr,
            listen,
            admin_token,
            config_path: opts.config_path,
            http_stop,
            http_task,
            net_task: Some(net_task),
            watch_task,
            ingest_thread: Some(ingest_thread),
            responder_thread: Some(responder_thread),
        })
    }
}

/// Starts the HTTP gateway over the node's store and API.
fn start_gateway(
    listener: tokio::net::TcpListener,
    api: Arc<Api>,
    shared: &Arc<Shared>,
    admin_token: &str,
    opts: &NodeOptions,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (http_stop, http_stopped) = oneshot::channel::<()>();
    let store = shared.store.clone();
    let mut gw = discal_gateway::Gateway::new(
        store.clone(),
        api,
        admin_token,
        &opts.config.name,
        &shared.public_url,
    );
    gw.clock = opts.clock.clone();
    // Calendar objects for CalDAV are made in the background, so the first sync after a
    // start costs what later ones do; requests meanwhile make what they need themselves.
    {
        let objects = gw.dav_objects.clone();
        let now = (gw.clock)();
        std::thread::spawn(move || {
            match objects.warm(&store) {
                Ok(n) => tracing::debug!("CalDAV object cache warmed with {n} events"),
                Err(e) => tracing::warn!("CalDAV object cache warm-up: {e}"),
            }
            match discal_gateway::prepare_recurrences(&store, now) {
                Ok(n) => tracing::debug!("{n} recurring events expanded for this year and next"),
                Err(e) => tracing::warn!("recurrence warm-up: {e}"),
            }
        });
        let gw = gw.clone();
        tokio::spawn(async move {
            let statuses = discal_gateway::warm_up(&gw).await;
            tracing::debug!(?statuses, "gateway warm-up done");
        });
    }
    let task = tokio::spawn(async move {
        let stop = async move {
            let _ = http_stopped.await;
        };
        if let Err(e) = discal_gateway::serve(listener, gw, stop).await {
            tracing::error!("http gateway stopped: {e}");
        }
    });
    (http_stop, task)
}

/// Re-reads the config file when it changes (checked every second: cheaper than a watcher
/// crate, and it works the same on every platform and filesystem).
async fn watch_config(path: PathBuf, shared: Arc<Shared>, net: mpsc::Sender<net::Command>) {
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

async fn apply_config_file(
    path: &std::path::Path,
    shared: &Shared,
    net: &mpsc::Sender<net::Command>,
) -> Result<(), NodeError> {
    let c = Config::load(path)?;
    let peers = c.peers.clone();
    if let Ok(mut cur) = shared.config.write() {
        // Listen and HTTP addresses need a restart; peers, hops and filters apply now.
        cur.peers = c.peers;
        cur.max_hops = c.max_hops;
        cur.filters = c.filters;
        cur.sync_interval_secs = c.sync_interval_secs;
    }
    tracing::info!(peers = peers.len(), "configuration reloaded");
    net.send(net::Command::SetPeers(peers))
        .await
        .map_err(|_| NodeError::Stopped)
}

impl NodeHandle {
    /// This node's key.
    pub fn key(&self) -> NodeKey {
        self.shared.me
    }

    /// Its libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        identity::peer_id(&self.shared.me)
    }

    /// The HTTP gateway's bound address (0.0.0.0:0 when it runs without one).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The peer-to-peer addresses it listens on.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen
    }

    /// The write API's bearer token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Shared state (simulations read peers' figures from it).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A local, authenticated write (what the HTTP API and the CLI do).
    pub async fn write(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        ingest::submit_write(&self.ingest, op).await
    }

    /// Re-reads the config file given at start and applies its peers, hop limit and filters.
    pub async fn reload(&self) -> Result<(), NodeError> {
        match &self.config_path {
            Some(p) => apply_config_file(p, &self.shared, &self.net).await,
            None => Ok(()),
        }
    }

    /// Replaces the allowlist (simulations; operators edit the file).
    pub async fn set_peers(&self, peers: Vec<PeerEntry>) -> Result<(), NodeError> {
        if let Ok(mut c) = self.shared.config.write() {
            c.peers = peers.clone();
        }
        self.net
            .send(net::Command::SetPeers(peers))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Publishes raw bytes on the gossip topic as if they were a relay message: fault
    /// injection for tests and simulations (a misbehaving peer).
    pub async fn gossip_raw(&self, bytes: Vec<u8>) -> Result<(), NodeError> {
        self.gossip_raw_bundle(vec![bytes]).await
    }

    /// [`NodeHandle::gossip_raw`] for several relay values, bundled as one batch's relays are.
    pub async fn gossip_raw_bundle(&self, values: Vec<Vec<u8>>) -> Result<(), NodeError> {
        self.net
            .send(net::Command::Batch(
                values.into_iter().map(net::Command::Publish).collect(),
            ))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// Starts a catch-up sync with a connected peer now.
    pub async fn sync_now(&self, peer: NodeKey) -> Result<(), NodeError> {
        self.net
            .send(net::Command::SyncNow(identity::peer_id(&peer)))
            .await
            .map_err(|_| NodeError::Stopped)
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        status_json(&self.shared, &self.net).await
    }

    /// Peers connected now, and the subset that joined the gossip topic.
    pub async fn connections(&self) -> Result<net::Connections, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.net
            .send(net::Command::Connections(tx))
            .await
            .map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// Waits until `pred` holds, re-checking after every store write and every `recheck`
    /// (connection changes do not write); gives up after `timeout`.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&Store) -> bool,
    ) -> bool {
        let mut rx = self.shared.changed.subscribe();
        let fut = async {
            loop {
                if pred(&self.shared.store) {
                    return;
                }
                let _ = rx.changed().await;
            }
        };
        tokio::time::timeout(timeout, fut).await.is_ok()
    }

    /// Stops HTTP, the swarm and the workers, then flushes the store.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.watch_task.take() {
            t.abort();
        }
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.http_task.take() {
            let _ = t.await;
        }
        let (tx, rx) = oneshot::channel();
        if self.net.send(net::Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        if let Some(t) = self.net_task.take() {
            let _ = t.await;
        }
        // The workers stop when the last sender of their queues is gone.
        let (ingest_thread, responder_thread) =
            (self.ingest_thread.take(), self.responder_thread.take());
        let shared = self.shared.clone();
        drop(self);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(t) = responder_thread {
                let _ = t.join();
            }
            if let Some(t) = ingest_thread {
                let _ = t.join();
            }
            if let Err(e) = shared.store.flush() {
                tracing::error!("store flush at shutdown: {e}");
            }
        })
        .await;
        tracing::info!("node stopped");
    }
}

async fn status_json(shared: &Shared, net: &mpsc::Sender<net::Command>) -> serde_json::Value {
    let (tx, rx) = oneshot::channel();
    let conns = match net.send(net::Command::Connections(tx)).await {
        Ok(()) => rx.await.unwrap_or_default(),
        Err(_) => net::Connections::default(),
    };
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
    })
}

/// The gateway's view of the node.
struct Api {
    shared: Arc<Shared>,
    ingest: mpsc::Sender<ingest::Job>,
    net: mpsc::Sender<net::Command>,
}

impl NodeApi for Api {
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<Vec<Written>, WriteError>> {
        Box::pin(ingest::submit_write(&self.ingest, op))
    }

    fn status(&self) -> BoxFuture<'_, serde_json::Value> {
        Box::pin(status_json(&self.shared, &self.net))
    }

    fn metrics(&self) -> String {
        self.shared
            .metrics
            .render(self.shared.store.len().unwrap_or(0))
    }
}

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
    let store = Store::open(&data_dir.join("store"), &SledOptions::default())
        .map_err(|e| WriteError::Unavailable(format!("store: {e}")))?;
    let shared = offline_shared(store, ident.key(), config)?;
    let mut out = Vec::new();
    for a in author::author(&shared, &ident.secret, op)? {
        match a {
            author::Authored::Unchanged(w) => out.push(w),
            author::Authored::Signed(ev) => {
                shared
                    .store
                    .apply(&ev, discal_store::Transit::local(), shared.now())
                    .map_err(|e| WriteError::Internal(format!("store: {e}")))?;
                out.push(Written {
                    uid: ev.payload().uid.clone(),
                    revision: ev.payload().revision,
                    changed: true,
                });
            }
        }
    }
    Ok(out)
}

/// Opens the store of a stopped node read-only-in-spirit (for `event list`, `status`).
pub fn offline_store(data_dir: &std::path::Path) -> Result<Store, NodeError> {
    Ok(Store::open(
        &data_dir.join("store"),
        &SledOptions::default(),
    )?)
}

fn offline_shared(store: Store, me: NodeKey, config: &Config) -> Result<Shared, WriteError> {
    let (changed, _) = watch::channel(0);
    Ok(Shared {
        store: Arc::new(store),
        me,
        public_url: config.public_url(None),
        config: RwLock::new(config.clone()),
        metrics: Arc::new(Metrics::default()),
        limits: Limits::default(),
        clock: system_clock(),
        changed,
        peer_stats: Mutex::new(HashMap::new()),
        observer: None,
        native_forwarding: false,
        fetching: Mutex::default(),
        fetched: tokio::sync::Notify::new(),
    })
}
