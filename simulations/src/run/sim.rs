//! The simulated network: every node's options (in-memory transport and store, the scenario's
//! timers), starting and stopping nodes, and what is read off them while a run goes on.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discal_node::{Config, Mode, Node, NodeHandle, NodeOptions, PeerEntry, Stored, Tuning};
use discal_protocol::NodeKey;
use discal_store::Store;
use tokio::time::Instant;

use super::{key_hash, Delivery, SimError};
use crate::link::{self, SimNet};
use crate::scenario::Scenario;

pub(super) struct Recorder {
    pub(super) start: Instant,
    /// The scenario's time dilation: wall seconds per network second.
    pub(super) dilation: f64,
    pub(super) log: Mutex<Vec<Delivery>>,
}

impl Recorder {
    /// Network seconds since the start (wall seconds over the dilation).
    pub(super) fn secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64() / self.dilation
    }
}

pub(super) struct Sim {
    pub(super) sc: Scenario,
    pub(super) net: Arc<SimNet>,
    pub(super) secrets: Vec<[u8; 32]>,
    pub(super) keys: Vec<NodeKey>,
    pub(super) adj: Vec<Vec<usize>>,
    pub(super) stores: Vec<Arc<Store>>,
    pub(super) nodes: Vec<Option<Arc<NodeHandle>>>,
    /// Each node's HTTP address once it ran (kept across restarts: events name it in their
    /// X-REVISE-URL). Only with proposals.
    pub(super) http: Vec<Option<std::net::SocketAddr>>,
    pub(super) rec: Arc<Recorder>,
    pub(super) bar: indicatif::ProgressBar,
}

impl Sim {
    /// Network seconds since the start.
    pub(super) fn secs(&self) -> f64 {
        self.rec.secs()
    }

    fn options(&self, i: usize) -> NodeOptions {
        let sc = &self.sc;
        let config = Config {
            listen: vec![link::addr_of(i).to_string()],
            mode: Mode::Closed,
            max_hops: sc.max_hops,
            sync_interval_secs: sc.timers.sync_interval_secs.max(1),
            redial_max_secs: sc.timers.redial_max_secs.max(1),
            name: format!("sim-{i}"),
            http: self.http[i].map_or_else(|| "127.0.0.1:0".into(), |a| a.to_string()),
            proposals: discal_node::config::Proposals {
                trusted: match sc.proposals {
                    Some(_) => self.keys.iter().map(ToString::to_string).collect(),
                    None => Vec::new(),
                },
                max_per_hour: 1_000_000,
                rsvp_interval_secs: sc.proposals.as_ref().map_or(300, |p| p.rsvp_interval_secs),
                allow_private_targets: true,
            },
            // One side of each link dials (the lower index), so a pair opens one connection.
            peers: self.adj[i]
                .iter()
                .map(|&j| PeerEntry {
                    key: self.keys[j].to_string(),
                    address: (i < j).then(|| link::addr_of(j).to_string()),
                    name: None,
                })
                .collect(),
            ..Config::default()
        };
        let mut o = NodeOptions::new(config, None);
        o.secret = Some(self.secrets[i]);
        let net = self.net.clone();
        o.transport = Some(Arc::new(move |key| {
            use libp2p::core::{upgrade::Version, Transport};
            Ok(net
                .transport(i)
                .upgrade(Version::V1Lazy)
                .authenticate(libp2p::noise::Config::new(key)?)
                .multiplex(libp2p::yamux::Config::default())
                .boxed())
        }));
        o.store = Some(self.stores[i].clone());
        o.gateway = sc.proposals.is_some();
        o.tuning = Tuning {
            heartbeat: Duration::from_millis(sc.timers.heartbeat_ms.max(10)),
            duplicate_cache: Duration::from_secs(sc.timers.duplicate_cache_secs.max(1)),
            gossip_lazy: sc.gossip.lazy,
            mesh_n: sc.gossip.mesh_n,
            flood_publish: sc.gossip.flood_publish,
            queue_len: sc.gossip.queue_len,
            native_forwarding: sc.gossip.native_forwarding,
            time_scale: self.rec.dilation,
            ..Tuning::default()
        };
        let rec = self.rec.clone();
        o.observer = Some(Arc::new(move |s: &Stored| {
            let d = Delivery {
                node: i as u32,
                key: key_hash(&s.key),
                revision: s.revision,
                hop: s.hop,
                at: rec.secs(),
            };
            if let Ok(mut l) = rec.log.lock() {
                l.push(d);
            }
        }));
        o
    }

    pub(super) async fn start(&mut self, i: usize) -> Result<(), SimError> {
        let h = Node::spawn(self.options(i))
            .await
            .map_err(|e| SimError::Node(i, e))?;
        if self.sc.proposals.is_some() {
            self.http[i] = Some(h.http_addr());
        }
        self.nodes[i] = Some(Arc::new(h));
        Ok(())
    }

    pub(super) async fn stop(&mut self, which: &[usize]) {
        let mut stopping = Vec::new();
        for &i in which {
            if let Some(h) = self.nodes[i].take() {
                stopping.push(tokio::spawn(async move {
                    // Hostile tasks may still hold a clone for a moment.
                    let mut h = h;
                    loop {
                        match Arc::try_unwrap(h) {
                            Ok(n) => return n.shutdown().await,
                            Err(back) => {
                                h = back;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                }));
            }
        }
        for t in stopping {
            let _ = t.await;
        }
    }

    /// Waits until every running node has a gossip link to each running neighbour.
    pub(super) async fn await_links(&self, limit: Duration, what: &str) -> Result<f64, SimError> {
        let t0 = Instant::now();
        let up: Vec<bool> = self.nodes.iter().map(Option::is_some).collect();
        let want: Vec<usize> = (0..self.nodes.len())
            .map(|i| self.adj[i].iter().filter(|&&j| up[j]).count())
            .collect();
        let total: usize = want.iter().sum();
        self.bar.set_message(what.to_string());
        loop {
            let mut have = 0;
            for (i, n) in self.nodes.iter().enumerate() {
                if let Some(h) = n {
                    let c = h.connections().await.map_err(|e| SimError::Node(i, e))?;
                    have += c.gossip.len().min(want[i]);
                }
            }
            self.bar.set_length(total as u64);
            self.bar.set_position(have as u64);
            if have >= total {
                return Ok(t0.elapsed().as_secs_f64());
            }
            if t0.elapsed() > limit {
                return Err(SimError::Formation(format!(
                    "{have} of {total} gossip links after {:.0} s",
                    limit.as_secs_f64()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Per node: duplicates the ingest path saw, sync bytes out, gossip bytes out, received,
    /// gossip bytes in, sync bytes in, and gossip copies gossipsub dropped unread as seen
    /// (zeros for a node that is down).
    pub(super) fn counters(&self) -> Vec<[u64; 7]> {
        self.nodes
            .iter()
            .map(|h| match h {
                Some(h) => {
                    let m = h.metrics();
                    [
                        m.duplicates.load(Relaxed),
                        m.sync_bytes_out.load(Relaxed),
                        m.gossip_bytes_out.load(Relaxed),
                        m.received.load(Relaxed),
                        m.gossip_bytes_in.load(Relaxed),
                        m.sync_bytes_in.load(Relaxed),
                        m.gossip_duplicates_dropped.load(Relaxed),
                    ]
                }
                None => [0; 7],
            })
            .collect()
    }

    /// Bytes each node has sent on its links so far.
    pub(super) fn bytes_sent(&self) -> Vec<u64> {
        (0..self.nodes.len())
            .map(|i| self.net.bytes_sent(i))
            .collect()
    }
}
