//! What every worker of one node shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use discal_protocol::{Limits, NodeKey};
use discal_store::Store;
use tokio::sync::watch;

use crate::{Clock, Config, Metrics, Observer, Tasks};

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
    /// `{public_url}/events/{me}`, where this node's events take proposals: made once, as
    /// writing the key in base58 is a measurable part of a local write.
    pub events_url: String,
    /// Bumped after every store write, so waiters need no polling.
    pub changed: watch::Sender<u64>,
    /// Per-peer figures.
    pub peer_stats: Mutex<HashMap<NodeKey, PeerStats>>,
    /// Told of revisions stored from peers.
    pub observer: Option<Observer>,
    /// Gossipsub forwards valid messages natively (see [`crate::Tuning::native_forwarding()`]).
    pub native_forwarding: bool,
    /// Sync item ids some session is fetching now, so concurrent sessions (a node back from
    /// an outage syncs with every peer at once) fetch each missing event once.
    pub fetching: Mutex<std::collections::HashSet<[u8; 32]>>,
    /// Signalled when a session releases its ids.
    pub fetched: tokio::sync::Notify,
    /// Every task the node starts besides its fixed workers.
    pub tasks: Tasks,
    /// True once local writes may go ahead: at once without peers, else after a first
    /// catch-up with a peer or `write_wait_secs` (docs/protocol.md §11.4, restored stores).
    pub writes_ready: watch::Sender<bool>,
    /// Why the node can no longer work, once it cannot (its ingest worker stopped after a
    /// panic): `discal run` then exits with an error, so a supervisor restarts it and the
    /// store's open repairs whatever the panic left half written.
    pub failed: watch::Sender<Option<String>>,
    /// True while a local write is acknowledged (its journal record durable) but not yet
    /// applied to the store: HTTP requests wait for it ([`crate::ingest::Writer::settled`]).
    pub unsettled: watch::Sender<bool>,
    /// The UIDs of the writes [`Shared::unsettled`] is true for.
    pub unsettled_uids: Mutex<Vec<String>>,
    /// Fault injection: the apply that follows a journaled write's answer is held back, so
    /// only a request that waits for it ([`crate::ingest::Writer::settled`]) applies it.
    #[cfg(feature = "test-utils")]
    pub hold_settle: std::sync::atomic::AtomicBool,
    /// Makes the next local write panic: fault injection for the test of a node that fails.
    #[cfg(feature = "test-utils")]
    pub panic_next_write: std::sync::atomic::AtomicBool,
    /// Revisions admitted today per origin (UTC day number, count), for
    /// `origins.max_revisions_per_day`.
    pub origin_days: Mutex<HashMap<NodeKey, (i64, u32)>>,
    /// The gateway's people settings, set once the gateway exists, updated on reload.
    pub people: std::sync::OnceLock<Arc<discal_gateway::web::auth::People>>,
    /// Proposals taken this hour per proposer node (hour number, count), for
    /// `proposals.max_per_hour`.
    pub proposal_rate: Mutex<HashMap<NodeKey, (i64, u32)>>,
    /// Woken when a proposal enters the outbox.
    pub outbox: tokio::sync::Notify,
    /// This node's events whose RSVP counts changed since they were last published.
    pub rsvp_dirty: Mutex<std::collections::BTreeSet<String>>,
    /// Woken when an answer comes.
    pub rsvp_wake: tokio::sync::Notify,
    /// The subscribed sources' poller.
    pub sources: crate::sources::Runner,
    /// Pushes: the outbox's wake-up, the nonces of pushes taken.
    pub push: crate::push::Pusher,
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

    /// Waits until local writes may go ahead (see [`Shared::writes_ready`]).
    pub async fn writes_ready(&self) {
        let mut rx = self.writes_ready.subscribe();
        let _ = rx.wait_for(|ready| *ready).await;
    }

    /// Counts one more revision of `origin` for today; false (and not counted) if it already
    /// has `max` today.
    pub fn count_revision(&self, origin: NodeKey, max: u32) -> bool {
        let day = self.now().div_euclid(86_400_000);
        let Ok(mut days) = self.origin_days.lock() else {
            return true;
        };
        // Yesterday's counts are of no use: drop them rather than let the map grow.
        if days.len() > 100_000 {
            days.retain(|_, (d, _)| *d == day);
        }
        let e = days.entry(origin).or_insert((day, 0));
        if e.0 != day {
            *e = (day, 0);
        }
        if e.1 >= max {
            return false;
        }
        e.1 += 1;
        true
    }

    /// Marks this node as caught up: writes go ahead from now on.
    pub fn caught_up(&self, how: &str) {
        if !self.writes_ready.send_replace(true) {
            tracing::info!("accepting local writes: {how}");
        }
    }

    pub(crate) fn peer_stat(&self, key: &NodeKey, f: impl FnOnce(&mut PeerStats)) {
        if let Ok(mut m) = self.peer_stats.lock() {
            f(m.entry(*key).or_default());
        }
    }
}
