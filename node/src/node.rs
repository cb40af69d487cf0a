//! Starting and stopping a node: [`Node::spawn`] opens its parts and starts its workers,
//! [`NodeHandle`] is what the caller holds, and [`NodeHandle::shutdown`] stops everything it
//! started, in order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use discal_gateway::{WriteError, WriteOp, Written};
use discal_protocol::{Limits, NodeKey, NodeSecret};
use discal_store::{SledOptions, Store};
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::api::{status_json, Api};
use crate::identity::{self, Identity};
use crate::msg::{self, Connections, Job, NetClient};
use crate::reload::{apply_config_file, watch_config};
use crate::{ingest, net, sync, Metrics, NodeError, NodeOptions, PeerEntry, Shared, Tasks};

/// The running node.
pub struct NodeHandle {
    shared: Arc<Shared>,
    net: NetClient,
    ingest: mpsc::Sender<Job>,
    writer: ingest::Writer,
    http_addr: SocketAddr,
    listen: Vec<Multiaddr>,
    admin_token: String,
    config_path: Option<PathBuf>,
    /// The file this node's HTTP address is recorded in, removed at shutdown.
    addr_file: Option<PathBuf>,
    http_stop: Option<oneshot::Sender<()>>,
    http_task: Option<tokio::task::JoinHandle<()>>,
    net_task: Option<tokio::task::JoinHandle<()>>,
    ingest_thread: Option<std::thread::JoinHandle<()>>,
    responder_thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts nodes.
pub struct Node;

/// The ingest worker and the sync responder, running on their own threads.
struct Workers {
    writer: ingest::Writer,
    ingest_tx: mpsc::Sender<Job>,
    responder_tx: mpsc::Sender<msg::Inbound>,
    ingest: std::thread::JoinHandle<()>,
    responder: std::thread::JoinHandle<()>,
}

impl Node {
    /// Opens the store, starts the swarm, the workers and the HTTP gateway. Returns once the
    /// node listens on its addresses, so callers can read the OS-chosen ports.
    pub async fn spawn(opts: NodeOptions) -> Result<NodeHandle, NodeError> {
        opts.config.check()?;
        let ident = identity_of(&opts)?;
        let admin_token = match &opts.data_dir {
            Some(dir) => identity::admin_token(dir)?,
            None => format!("{:032x}", rand::random::<u128>()),
        };
        let store = open_store(&opts).await?;
        let http_listener = match opts.gateway {
            true => Some(
                discal_gateway::bind(opts.config.http_addr()?)
                    .await
                    .map_err(NodeError::io(format!("http {}", opts.config.http)))?,
            ),
            false => None,
        };
        let http_addr = match &http_listener {
            Some(l) => l
                .local_addr()
                .map_err(NodeError::io("http listener address"))?,
            None => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let shared = Arc::new(shared_state(
            &opts,
            store,
            ident.key(),
            http_listener.is_some().then_some(http_addr),
        )?);

        let (net_tx, net_rx) = mpsc::channel(net::COMMAND_QUEUE);
        let net_client = NetClient::new(net_tx);
        let workers = start_workers(&shared, &ident, &net_client)?;
        let (net_loop, listen) = net::NetLoop::start(
            &ident,
            &opts,
            shared.clone(),
            net_rx,
            net_client.clone(),
            workers.ingest_tx.clone(),
            workers.responder_tx,
        )
        .await?;
        let net_task = tokio::spawn(net_loop.run());

        let (http_stop, http_task) = match http_listener {
            Some(listener) => {
                let api = Arc::new(Api {
                    shared: shared.clone(),
                    ingest: workers.ingest_tx.clone(),
                    writer: workers.writer.clone(),
                    net: net_client.clone(),
                    config_path: opts.config_path.clone(),
                });
                let (stop, task) = start_gateway(listener, api, &shared, &admin_token, &opts);
                (Some(stop), Some(task))
            }
            None => (None, None),
        };
        shared.push.started(shared.now());
        let secret = NodeSecret::from_seed_array(ident.secret.to_seed());
        start_tasks(&shared, &opts, (&net_client, &workers.ingest_tx), secret);

        let addr_file = record_http_addr(&opts, http_addr)?;
        tracing::info!(key = %shared.me, http = %http_addr, listen = ?listen, "node started");
        Ok(NodeHandle {
            shared,
            net: net_client,
            ingest: workers.ingest_tx,
            writer: workers.writer,
            http_addr,
            listen,
            admin_token,
            config_path: opts.config_path,
            addr_file,
            http_stop,
            http_task,
            net_task: Some(net_task),
            ingest_thread: Some(workers.ingest),
            responder_thread: Some(workers.responder),
        })
    }
}

/// The node's own background tasks: the write wait's limit, the proposal outbox, the RSVP
/// counts and the config file watcher.
fn start_tasks(
    shared: &Arc<Shared>,
    opts: &NodeOptions,
    (net, ingest): (&NetClient, &mpsc::Sender<Job>),
    secret: NodeSecret,
) {
    shared.tasks.spawn(crate::push::run(shared.clone(), secret));
    limit_write_wait(shared, opts.config.write_wait_secs);
    shared
        .tasks
        .spawn(crate::proposals::run_outbox(shared.clone()));
    shared
        .tasks
        .spawn(crate::rsvp::run_counts(shared.clone(), ingest.clone()));
    if opts.tuning.source_schedule {
        shared
            .tasks
            .spawn(crate::sources::poll::run(shared.clone(), ingest.clone()));
    }
    if let Some(path) = opts.config_path.clone() {
        shared
            .tasks
            .spawn(watch_config(path, shared.clone(), net.clone()));
    }
}

/// Writes the bound HTTP address into the data dir, for the CLI (see
/// [`identity::HTTP_ADDR_FILE`]); returns the file, to be removed at shutdown.
fn record_http_addr(opts: &NodeOptions, addr: SocketAddr) -> Result<Option<PathBuf>, NodeError> {
    let (Some(dir), true) = (&opts.data_dir, opts.gateway) else {
        return Ok(None);
    };
    let f = dir.join(identity::HTTP_ADDR_FILE);
    identity::write_durably(&f, format!("{addr}\n").as_bytes(), 0o644)
        .map_err(NodeError::io(f.display().to_string()))?;
    Ok(Some(f))
}

/// Lets local writes go ahead after `wait` seconds even if no peer was caught up with (all
/// offline): the operator is not locked out, and the log says what it risks.
fn limit_write_wait(shared: &Arc<Shared>, wait: u64) {
    if *shared.writes_ready.borrow() {
        return;
    }
    let shared2 = shared.clone();
    shared.tasks.spawn(async move {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        shared2.caught_up(&format!(
            "no catch-up with a peer within {wait} s (write_wait_secs); a store restored from an old copy may republish revision numbers"
        ));
    });
}

/// The node's key: given, from the data dir, or new for a node kept in memory.
fn identity_of(opts: &NodeOptions) -> Result<Identity, NodeError> {
    Ok(match (opts.secret, &opts.data_dir) {
        (Some(seed), _) => Identity::from_secret(NodeSecret::from_seed_array(seed)),
        (None, Some(dir)) => identity::load_or_create(dir)?,
        (None, None) => Identity::from_secret(NodeSecret::generate(&mut rand::rngs::OsRng)),
    })
}

/// The store: given, opened in the data dir (off the async workers: opening reads every
/// record's header when there is no index snapshot), or a new one in memory.
async fn open_store(opts: &NodeOptions) -> Result<Arc<Store>, NodeError> {
    Ok(match (&opts.store, &opts.data_dir) {
        (Some(s), _) => s.clone(),
        (None, Some(dir)) => {
            let d = dir.join("store");
            Arc::new(
                tokio::task::spawn_blocking(move || Store::open(&d, &SledOptions::default()))
                    .await??,
            )
        }
        (None, None) => Arc::new(Store::memory()),
    })
}

/// What every worker of the node shares.
fn shared_state(
    opts: &NodeOptions,
    store: Arc<Store>,
    me: NodeKey,
    http: Option<SocketAddr>,
) -> Result<Shared, NodeError> {
    let (changed, _) = watch::channel(store.last_seq()?);
    Ok(Shared {
        store,
        me,
        events_url: format!("{}/events/{me}", opts.config.public_url(http)),
        public_url: opts.config.public_url(http),
        config: RwLock::new(opts.config.clone()),
        metrics: Arc::new(Metrics::default()),
        limits: Limits::default(),
        clock: opts.clock.clone(),
        changed,
        peer_stats: Mutex::new(HashMap::new()),
        observer: opts.observer.clone(),
        native_forwarding: opts.tuning.native_forwarding(),
        fetching: Mutex::default(),
        fetched: tokio::sync::Notify::new(),
        tasks: Tasks::default(),
        writes_ready: watch::channel(
            opts.config.peers.is_empty() || opts.config.write_wait_secs == 0,
        )
        .0,
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
    })
}

/// Starts the ingest worker and the sync responder on their own threads: both do blocking
/// store work, and neither may hold up the runtime's workers.
fn start_workers(
    shared: &Arc<Shared>,
    ident: &Identity,
    net: &NetClient,
) -> Result<Workers, NodeError> {
    let (responder_tx, responder_rx) = mpsc::channel(sync::RESPONDER_QUEUE);
    let secret = NodeSecret::from_seed_array(ident.secret.to_seed());
    let (writer, ingest_tx, ingest) = ingest::start(shared.clone(), secret, net.sender().clone())
        .map_err(NodeError::io("starting the ingest thread"))?;
    let responder = {
        let (shared, net_tx, ingest_tx) = (shared.clone(), net.sender().clone(), ingest_tx.clone());
        std::thread::Builder::new()
            .name("discal-sync".into())
            .spawn(move || sync::run_responder(shared, responder_rx, net_tx, ingest_tx))
            .map_err(NodeError::io("starting the sync responder thread"))?
    };
    Ok(Workers {
        writer,
        ingest_tx,
        responder_tx,
        ingest,
        responder,
    })
}

/// Starts the HTTP gateway over the node's store and API, and its warm-ups as node tasks.
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
    if let Ok(mut s) = gw.people.settings.write() {
        *s = opts.config.people.settings();
    }
    let _ = shared.people.set(gw.people.clone());
    // Calendar objects for CalDAV are made in the background, so the first sync after a
    // start costs what later ones do; requests meanwhile make what they need themselves.
    let objects = gw.dav_objects.clone();
    let now = (gw.clock)();
    shared.tasks.spawn_blocking(move || {
        match objects.warm(&store) {
            Ok(n) => tracing::debug!("CalDAV object cache warmed with {n} events"),
            Err(e) => tracing::warn!("CalDAV object cache warm-up: {e}"),
        }
        match discal_gateway::prepare_recurrences(&store, now) {
            Ok(n) => tracing::debug!("{n} recurring events expanded for this year and next"),
            Err(e) => tracing::warn!("recurrence warm-up: {e}"),
        }
    });
    let warm = gw.clone();
    shared.tasks.spawn(async move {
        let statuses = discal_gateway::warm_up(&warm).await;
        tracing::debug!(?statuses, "gateway warm-up done");
    });
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

    /// A local, authenticated write (what the HTTP API and the CLI do), applied to the store
    /// when this returns (the gateway's requests wait for that instead: [`Writer::settled`]).
    ///
    /// [`Writer::settled`]: crate::ingest::Writer::settled
    pub async fn write(&self, op: WriteOp) -> Result<Vec<Written>, WriteError> {
        self.shared.writes_ready().await;
        let written = self.writer.write(op).await;
        self.writer.settled().await;
        written
    }

    /// A proposal request, as the gateway's pages make them (docs/protocol.md §12).
    pub async fn proposal(
        &self,
        req: discal_gateway::ProposalRequest,
    ) -> Result<discal_gateway::ProposalReply, WriteError> {
        self.shared.writes_ready().await;
        msg::submit_proposal(&self.ingest, req).await
    }

    /// Polls the subscribed source `name` now (what `discal source run` asks); its state.
    pub async fn poll_source(&self, name: &str) -> Result<serde_json::Value, WriteError> {
        crate::sources::poll_named(&self.shared, &self.ingest, name).await
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
        self.net.set_peers(peers).await
    }

    /// Publishes raw relay values on the gossip topic, bundled as one batch's relays are:
    /// fault injection for tests and simulations (a misbehaving peer).
    #[cfg(feature = "test-utils")]
    pub async fn gossip_raw_bundle(&self, values: Vec<Vec<u8>>) -> Result<(), NodeError> {
        self.net
            .send(msg::Command::Batch(
                values.into_iter().map(msg::Command::Publish).collect(),
            ))
            .await
    }

    /// [`NodeHandle::gossip_raw_bundle`] of one value.
    #[cfg(feature = "test-utils")]
    pub async fn gossip_raw(&self, bytes: Vec<u8>) -> Result<(), NodeError> {
        self.gossip_raw_bundle(vec![bytes]).await
    }

    /// Panics the ingest worker: fault injection for the test of a node that fails.
    #[cfg(feature = "test-utils")]
    pub async fn inject_ingest_panic(&self) {
        let _ = self.ingest.send(Job::Panic).await;
    }

    /// Holds back the apply that follows a journaled write's answer (see
    /// `Shared::hold_settle`).
    #[cfg(feature = "test-utils")]
    pub fn hold_settles(&self) {
        self.shared
            .hold_settle
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Makes the next local write panic wherever it runs (on the request's thread or the
    /// ingest worker's): fault injection for the test of a node that fails.
    #[cfg(feature = "test-utils")]
    pub fn inject_write_panic(&self) {
        self.shared
            .panic_next_write
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until the node can no longer work (its ingest worker stopped after a panic) and
    /// says why; never returns while it works. `discal run` exits with an error then, so that
    /// a supervisor restarts it.
    pub async fn failed(&self) -> String {
        let mut rx = self.shared.failed.subscribe();
        loop {
            if let Some(why) = rx.borrow_and_update().clone() {
                return why;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Starts a catch-up sync with a connected peer now.
    pub async fn sync_now(&self, peer: NodeKey) -> Result<(), NodeError> {
        self.net.sync_now(identity::peer_id(&peer)).await
    }

    /// `/status` as JSON.
    pub async fn status(&self) -> serde_json::Value {
        status_json(&self.shared, &self.net).await
    }

    /// Peers connected now, and the subset that joined the gossip topic.
    pub async fn connections(&self) -> Result<Connections, NodeError> {
        self.net.connections().await
    }

    /// Waits until `pred` holds, re-checking after every store write and every change of
    /// connections; gives up after `timeout`.
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

    /// Stops everything the node started, in order: HTTP (in-flight requests finish), the
    /// node's tasks (sessions, watcher, warm-ups: cancelled and awaited), the swarm, then the
    /// workers once their queues' last senders are gone; flushes the store last.
    pub async fn shutdown(mut self) {
        if let Some(f) = self.addr_file.take() {
            let _ = std::fs::remove_file(f);
        }
        if let Some(stop) = self.http_stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.http_task.take() {
            let _ = t.await;
        }
        self.shared.tasks.shutdown().await;
        let _ = self.net.shutdown().await;
        if let Some(t) = self.net_task.take() {
            let _ = t.await;
        }
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
