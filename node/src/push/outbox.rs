//! Delivery: each destination walks the change sequence from its cursor, sends each change
//! its filter selects (one event per POST, signed), and moves the cursor only after a 2xx, so
//! a receiver that is down gets everything afterwards, in order, once, and a restart loses
//! nothing. Failures back off exponentially (or as `Retry-After` says); a destination failing
//! for longer than `dead_after` stops until an admin resumes it.

use std::sync::Arc;
use std::time::Duration;

use discal_gateway::read::store_query;
use discal_protocol::httpsig::{self, SigningKey};
use discal_protocol::source::{source_of, url_host};
use discal_protocol::view::ViewFilter;
use discal_protocol::NodeSecret;
use discal_store::{PushState, Query, StoredEvent, SubState};

use super::entry::{parse_filter, Auth};
use crate::sources::fetch::{FetchError, Fetcher};
use crate::Shared;

/// Changes looked at per destination per round.
const ROUND: usize = 64;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: u64 = 3600;

/// One destination: a `[[push.targets]]` entry or an active hub subscription.
struct Dest {
    name: String,
    url: String,
    filter: ViewFilter,
    query: Query,
    /// `keyid` and secret for hmac-sha256; none: the node key.
    hmac: Option<(String, Vec<u8>)>,
    /// WebSub's `X-Hub-Signature` secret.
    hub_secret: Option<Vec<u8>>,
    allow_private: bool,
}

impl Dest {
    fn new(name: String, url: String, filter: &str) -> Option<Self> {
        let filter = parse_filter(filter).ok()?;
        let mut query = store_query(&filter, None, 0, true);
        query.include_cancelled = true;
        Some(Self {
            name,
            url,
            query,
            filter,
            hmac: None,
            hub_secret: None,
            allow_private: false,
        })
    }

    /// Whether the change goes to this destination: its filter selects the event, it is not
    /// sent back to the site it came from, and the push stays within the node's hop limit.
    fn wants(&self, e: &StoredEvent, max_hops: u8) -> bool {
        let c = e.content();
        let came_from_there = source_of(c)
            .and_then(url_host)
            .is_some_and(|h| Some(h) == url_host(&self.url));
        let hop = u32::from(e.transit.hop) + discal_protocol::source::source_hops(c);
        !came_from_there
            && hop < u32::from(max_hops)
            && self.query.admits(e)
            && self.filter.within(c.master.geo.map(|g| (g.lat, g.lon)))
    }
}

fn destinations(shared: &Shared) -> Vec<Dest> {
    let cfg = shared
        .config
        .read()
        .map(|c| c.push.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for t in &cfg.targets {
        let Some(mut d) = Dest::new(t.name.clone(), t.url.clone(), &t.filter) else {
            continue;
        };
        d.allow_private = t.allow_private;
        if let Some(secret) = t.secret.as_deref().filter(|s| !s.is_empty()) {
            if t.auth == Auth::Hmac {
                let keyid = t.keyid.clone().unwrap_or_else(|| shared.me.to_string());
                d.hmac = Some((keyid, secret.as_bytes().to_vec()));
            }
            d.hub_secret = Some(secret.as_bytes().to_vec());
        }
        out.push(d);
    }
    let now = shared.now();
    for s in shared.store.subscriptions().unwrap_or_default() {
        if s.state != SubState::Active {
            continue;
        }
        if s.expires_ms <= now {
            // A lease that ran out ends the subscription (WebSub §5.1); the subscriber renews
            // before it does.
            let _ = shared.store.remove_subscription(&s.id);
            shared.changed.send_modify(|_| {});
            tracing::info!(callback = %s.callback, "push: a hub subscription's lease ended");
            continue;
        }
        let Some(mut d) = Dest::new(format!("sub:{}", s.id), s.callback.clone(), &s.filter) else {
            continue;
        };
        d.allow_private = cfg.allow_private_callbacks;
        d.hub_secret = (!s.secret.is_empty()).then(|| s.secret.clone());
        out.push(d);
    }
    out
}

/// The outbox: runs until the node stops.
pub async fn run(shared: Arc<Shared>, secret: NodeSecret) {
    let fetcher = match shared.sources.fetcher(&shared.public_url) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("push outbox: no HTTP client: {e}");
            return;
        }
    };
    let mut changed = shared.changed.subscribe();
    loop {
        // Marked seen before the store is read, so a change that lands during the round
        // wakes the next one.
        changed.borrow_and_update();
        let dests = destinations(&shared);
        let rounds = dests.iter().map(|d| deliver(&shared, &fetcher, &secret, d));
        let results = futures::future::join_all(rounds).await;
        let now = shared.now();
        // More due at once: go on; else wait for a change, a wake-up or the next retry.
        if results.iter().any(|r| matches!(r, Round::More)) {
            tokio::task::yield_now().await;
            continue;
        }
        let next = results
            .iter()
            .filter_map(|r| match r {
                Round::RetryAt(t) => Some(*t),
                _ => None,
            })
            .min();
        let wait = next.map_or(Duration::from_secs(3600), |t| {
            Duration::from_millis(u64::try_from(t - now).unwrap_or(0))
        });
        tokio::select! {
            _ = changed.changed() => {}
            () = shared.push.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// How a destination's round ended.
enum Round {
    /// Caught up (or stopped as dead).
    Idle,
    /// More changes wait.
    More,
    /// Failing: try again then (ms since the epoch).
    RetryAt(i64),
}

async fn deliver(shared: &Shared, fetcher: &Fetcher, secret: &NodeSecret, d: &Dest) -> Round {
    let store = &shared.store;
    let mut st = match store.push_state(&d.name) {
        Ok(Some(s)) if s.url == d.url => s,
        Ok(_) => PushState {
            name: d.name.clone(),
            url: d.url.clone(),
            ..PushState::default()
        },
        Err(e) => {
            tracing::warn!("push {}: {e}", d.name);
            return Round::RetryAt(shared.now() + 60_000);
        }
    };
    if st.dead {
        return Round::Idle;
    }
    if st.next_ms > shared.now() {
        return Round::RetryAt(st.next_ms);
    }
    let changes = match store.changes_since(st.cursor, ROUND) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("push {}: {e}", d.name);
            return Round::RetryAt(shared.now() + 60_000);
        }
    };
    let full = changes.len() == ROUND;
    let (max_hops, name) = shared
        .config
        .read()
        .map(|c| (c.max_hops, c.name.clone()))
        .unwrap_or_default();
    let start = st.cursor;
    for e in &changes {
        if !d.wants(e, max_hops) {
            st.cursor = e.seq;
            continue;
        }
        let body = discal_gateway::feeds::ics::push_calendar(store, &name, e).into_bytes();
        match send(shared, fetcher, secret, d, body).await {
            Ok(status) => {
                st.cursor = e.seq;
                st.delivered += 1;
                st.attempts = 0;
                st.failing_since_ms = 0;
                st.last_error.clear();
                st.last_status = status;
                st.last_ok_ms = shared.now();
                shared.metrics.push("delivered");
                persist(shared, &st);
            }
            Err(err) if refused_for_good(&err) => {
                // The receiver refuses this event and would refuse it again: it is noted and
                // passed over, so one event it does not want cannot stop everything after it.
                tracing::info!(dest = %d.name, uid = %e.payload.uid, "push refused: {}", err.message);
                st.cursor = e.seq;
                st.last_status = err.status;
                st.last_error = format!("{} refused: {}", e.payload.uid, err.message);
                shared.metrics.push("refused");
                persist(shared, &st);
            }
            Err(err) => {
                failed(shared, &mut st, &err);
                return Round::RetryAt(st.next_ms);
            }
        }
    }
    if st.cursor != start {
        persist(shared, &st);
    }
    if full {
        Round::More
    } else {
        Round::Idle
    }
}

/// A 4xx other than those that say "later" or "who are you": the event itself is refused.
fn refused_for_good(e: &FetchError) -> bool {
    (400..500).contains(&e.status) && !matches!(e.status, 401 | 403 | 404 | 408 | 425 | 429)
}

fn failed(shared: &Shared, st: &mut PushState, err: &FetchError) {
    let now = shared.now();
    st.attempts = st.attempts.saturating_add(1);
    if st.failing_since_ms == 0 {
        st.failing_since_ms = now;
    }
    st.last_status = err.status;
    st.last_error = err.message.clone();
    let backoff = 2u64
        .saturating_pow(st.attempts.min(12))
        .min(MAX_BACKOFF_SECS);
    let wait = err
        .retry_after
        .unwrap_or(backoff)
        .clamp(1, MAX_BACKOFF_SECS);
    st.next_ms = now + i64::try_from(wait * 1000).unwrap_or(i64::MAX / 2);
    let dead_after = shared
        .config
        .read()
        .map(|c| c.push.dead_after_secs())
        .unwrap_or(259_200);
    if now - st.failing_since_ms > i64::try_from(dead_after * 1000).unwrap_or(i64::MAX) {
        st.dead = true;
        tracing::warn!(dest = %st.name, "push: failing for longer than dead_after; stopped until an admin resumes it");
    }
    shared.metrics.push("failed");
    persist(shared, st);
}

fn persist(shared: &Shared, st: &PushState) {
    if let Err(e) = shared.store.put_push_state(st) {
        tracing::warn!(dest = %st.name, "push state: {e}");
    }
    shared.changed.send_modify(|_| {});
}

async fn send(
    shared: &Shared,
    fetcher: &Fetcher,
    secret: &NodeSecret,
    d: &Dest,
    body: Vec<u8>,
) -> Result<u16, FetchError> {
    const CT: &str = "text/calendar; charset=utf-8";
    let key = match &d.hmac {
        Some((keyid, s)) => SigningKey::Hmac { keyid, secret: s },
        None => SigningKey::Node(secret),
    };
    let nonce = format!("{:032x}", rand::random::<u128>());
    let h = httpsig::sign(&key, "POST", &d.url, CT, &body, shared.now() / 1000, &nonce);
    let mut headers = vec![
        ("content-type", CT.to_string()),
        ("content-digest", h.content_digest),
        ("signature-input", h.signature_input),
        ("signature", h.signature),
        (
            "link",
            format!("<{}/websub>; rel=\"hub\"", shared.public_url),
        ),
    ];
    if let Some(s) = &d.hub_secret {
        headers.push(("x-hub-signature", httpsig::hub_signature(s, &body)));
    }
    fetcher.post(&d.url, d.allow_private, &headers, body).await
}
