//! Hostile nodes: forgeries, junk floods, oversized envelopes and over-hop relays, each at
//! its scenario rate, injected straight onto the gossip topic.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use discal_node::NodeHandle;
use discal_protocol::codec::{self, MAX_ENVELOPE_BYTES};
use discal_protocol::{Envelope, NodeKey, NodeSecret, Relayed, SignedPayload};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::scenario::Scenario;

/// What hostile nodes sent.
#[derive(Debug, Default)]
pub(crate) struct Injected {
    pub forgeries: AtomicU64,
    pub floods: AtomicU64,
    pub flood_bytes: AtomicU64,
    pub oversized: AtomicU64,
    pub over_hop: AtomicU64,
}

/// One hostile node.
struct Hostile {
    me: usize,
    me_key: NodeKey,
    node: Arc<NodeHandle>,
    sc: Scenario,
    rng: StdRng,
    injected: Arc<Injected>,
    /// Forgeries made so far (alternating a new revision and a new event).
    forged: u64,
}

/// One hostile node's injections until `stop` fires.
pub(super) async fn misbehave(
    me: usize,
    node: Arc<NodeHandle>,
    secret: [u8; 32],
    sc: Scenario,
    seed: u64,
    injected: Arc<Injected>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let Some(h) = sc.hostile.clone() else { return };
    let mut me = Hostile {
        me,
        me_key: NodeSecret::from_seed_array(secret).public(),
        node,
        sc,
        rng: StdRng::seed_from_u64(seed),
        injected,
        forged: 0,
    };
    let tick = 0.05;
    let mut credit = [0.0f64; 4];
    let rates = [
        h.forgeries_per_sec,
        h.flood_per_sec,
        h.oversized_per_sec,
        h.over_hop_per_sec,
    ];
    let mut interval = tokio::time::interval(Duration::from_secs_f64(tick));
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.changed() => return,
        }
        for (c, r) in credit.iter_mut().zip(rates) {
            *c += r * tick;
        }
        me.forge(&mut credit[0]).await;
        while credit[1] >= 1.0 {
            credit[1] -= 1.0;
            me.flood(h.flood_bytes).await;
        }
        while credit[2] >= 1.0 {
            credit[2] -= 1.0;
            me.oversized().await;
        }
        while credit[3] >= 1.0 {
            credit[3] -= 1.0;
            if !me.over_hop().await {
                break;
            }
        }
    }
}

impl Hostile {
    /// Sends one relay value; true if it went out.
    async fn send(&self, bytes: Vec<u8>) -> bool {
        self.node.gossip_raw(bytes).await.is_ok()
    }

    /// Forgeries while `credit` lasts: honest events this node holds, as a newer revision or a
    /// new event in the victim's name under its old signature.
    async fn forge(&mut self, credit: &mut f64) {
        if *credit < 1.0 {
            return;
        }
        let store = self.node.store().clone();
        let honest: Vec<_> = store
            .inventory(None)
            .unwrap_or_default()
            .into_iter()
            .filter(|i| i.key.origin != self.me_key)
            .collect();
        while *credit >= 1.0 {
            *credit -= 1.0;
            let Some(item) = honest.choose(&mut self.rng) else {
                break;
            };
            let Ok(Some(ev)) = store.get(&item.key) else {
                continue;
            };
            let Ok(mut p) = codec::decode_canonical::<SignedPayload>(
                "payload",
                &ev.envelope.payload,
                MAX_ENVELOPE_BYTES,
            ) else {
                continue;
            };
            self.forged += 1;
            if self.forged % 2 == 0 {
                p.revision += 1;
            } else {
                p.uid = format!(
                    "forged-{}-{}@{}",
                    self.me,
                    self.forged,
                    p.origin.fmt_short()
                );
            }
            let bytes = Relayed {
                hop: 2,
                path: vec![self.me_key],
                envelope: Envelope {
                    payload: codec::encode(&p),
                    signature: ev.envelope.signature,
                },
            }
            .encode();
            if self.send(bytes).await {
                self.injected.forgeries.fetch_add(1, Relaxed);
            }
        }
    }

    /// Random bytes of the scenario's size.
    async fn flood(&mut self, size: usize) {
        let junk: Vec<u8> = (0..size).map(|_| self.rng.gen()).collect();
        if self.send(junk).await {
            self.injected.floods.fetch_add(1, Relaxed);
            self.injected.flood_bytes.fetch_add(size as u64, Relaxed);
        }
    }

    /// A relay message whose envelope is over the envelope size limit.
    async fn oversized(&mut self) {
        let bytes = Relayed {
            hop: 1,
            path: vec![],
            envelope: Envelope {
                payload: vec![7; MAX_ENVELOPE_BYTES + 1024],
                signature: [0; 64],
            },
        }
        .encode();
        if self.send(bytes).await {
            self.injected.oversized.fetch_add(1, Relaxed);
        }
    }

    /// The newest honest event held, passed on as if it had travelled past every limit (a node
    /// cannot do this with its own events: it would appear in its own path). False if there
    /// is none yet.
    async fn over_hop(&mut self) -> bool {
        let store = self.node.store().clone();
        let last = store.last_seq().unwrap_or(0);
        let newest = store
            .changes_since(last.saturating_sub(4), 4)
            .unwrap_or_default();
        let Some(ev) = newest
            .into_iter()
            .rev()
            .find(|e| e.payload.origin != self.me_key)
        else {
            return false;
        };
        let hop = self.sc.max_hops.saturating_add(3).max(3);
        let mut path: Vec<NodeKey> = (0..hop as usize - 2)
            .map(|_| NodeSecret::from_seed_array(self.rng.gen()).public())
            .collect();
        path.push(self.me_key);
        let bytes = Relayed {
            hop,
            path,
            envelope: ev.envelope,
        }
        .encode();
        if self.send(bytes).await {
            self.injected.over_hop.fetch_add(1, Relaxed);
        }
        true
    }
}
