//! How to start a node: [`NodeOptions`], the protocol [`Tuning`] simulations vary, and the
//! hooks (clock, transport, observer) that let tests and simulations run real nodes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use discal_store::Store;
use libp2p::PeerId;

use crate::{wire, Config};

/// Milliseconds since the epoch; replaceable so tests and simulations control time (the
/// gateway's clock type, so one clock serves both).
pub use discal_gateway::Clock;

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
    /// figure on what hop counting costs. Never for real nodes, so only in builds with the
    /// `test-utils` feature.
    #[cfg(feature = "test-utils")]
    pub native_forwarding: bool,
    /// Gossipsub's per-connection queue: half for publishes (relays), half for control
    /// messages. The control half is allocated in full for every connection, which is what a
    /// thousand simulated nodes notice; a publish that finds its half full is dropped for that
    /// peer and left to catch-up sync.
    pub queue_len: usize,
    /// Relay values per gossip message are cut at this many bytes; 0 sends one per message.
    pub gossip_bundle_bytes: usize,
    /// Polls `[[sources]]` on their schedule; off, only when asked (tests that count what a
    /// poll does).
    pub source_schedule: bool,
    /// Stretches the protocol's own fixed intervals and timeouts (gossipsub's queue, follow-up
    /// and backoff times, redial and repair delays, request timeouts) by this factor.
    /// Simulations that dilate time (docs/simulations.md) scale links and the timers above
    /// themselves and set this, so every clock of the network runs that much slower and the
    /// CPU keeps up. 1 for real nodes.
    pub time_scale: f64,
}

/// `d` stretched by `factor` (unchanged for a factor that is not positive and finite).
pub(crate) fn stretch(d: Duration, factor: f64) -> Duration {
    if factor > 0.0 && factor.is_finite() {
        d.mul_f64(factor)
    } else {
        d
    }
}

impl Tuning {
    /// `d` stretched by [`Tuning::time_scale`].
    pub fn scaled(&self, d: Duration) -> Duration {
        stretch(d, self.time_scale)
    }

    /// Whether gossipsub forwards natively (always false without `test-utils`).
    pub fn native_forwarding(&self) -> bool {
        #[cfg(feature = "test-utils")]
        return self.native_forwarding;
        #[cfg(not(feature = "test-utils"))]
        false
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(1),
            duplicate_cache: Duration::from_secs(60),
            gossip_lazy: 6,
            // Measured in simulations (docs/simulations.md): with one id per event across hops,
            // a mesh of 3 (up to 6) reaches every node with 1.6 copies too many per event,
            // where relaying to every peer sent 4.
            mesh_n: 3,
            flood_publish: false,
            queue_len: 5000,
            #[cfg(feature = "test-utils")]
            native_forwarding: false,
            gossip_bundle_bytes: wire::BUNDLE_BYTES,
            source_schedule: true,
            time_scale: 1.0,
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
