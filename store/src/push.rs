//! Pushes to sister sites (docs/operators.md, "Push"): per destination, how far its outbox
//! got in the change sequence and how delivery goes; and the WebSub hub's subscriptions. The
//! outbox holds no copies of events: a destination's cursor is the last change sequence number
//! it took, and what is due is [`Store::changes_since`] that cursor, so each changed event is
//! sent once, at its latest revision, in the order the node stored the changes, and nothing is
//! lost across a restart (the cursor moves only after the receiver said 2xx).

use bincode::{Decode, Encode};

use crate::backend::{Backend, Batch};
use crate::people::{decode, encode, people_key};
use crate::{Store, StoreError};

pub(crate) const K_PUSH: u8 = b'y';
pub(crate) const K_SUBSCRIPTION: u8 = b'k';
/// Where these lived until 2026-12-06, sharing their bytes with the people table's owned
/// events (`w`) and CalDAV resource names (`h`): a scan of subscriptions read resource names
/// and failed on them. [`separate_keys`] moves what a store still has there.
const OLD_K_PUSH: u8 = b'w';
const OLD_K_SUBSCRIPTION: u8 = b'h';
/// Set once [`separate_keys`] has run on a store.
const META_SEPARATE_KEYS: &[u8] = b"mpush-keys-2";

/// One push destination's delivery state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct PushState {
    /// The destination: a `[[push.targets]]` name, or `sub:<id>` for a hub subscription.
    pub name: String,
    /// The URL the state is about (a changed URL starts afresh).
    pub url: String,
    /// The last change sequence number delivered (or skipped as not matching).
    pub cursor: u64,
    /// Events delivered since the destination was added.
    pub delivered: u64,
    /// Failures in a row (for the backoff).
    pub attempts: u32,
    /// When to try again (ms since the epoch).
    pub next_ms: i64,
    /// When the current run of failures began (0: none).
    pub failing_since_ms: i64,
    /// The last error, empty after a delivery.
    pub last_error: String,
    /// The last HTTP status (0: no answer).
    pub last_status: u16,
    /// The last delivery (ms since the epoch; 0: never).
    pub last_ok_ms: i64,
    /// Failed for longer than the destination's `dead_after`: nothing is sent until an admin
    /// resumes it (the cursor is kept, so resuming loses nothing).
    pub dead: bool,
}

/// Where a hub subscription stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SubState {
    /// Intent verified; waiting for a person who may confirm sister sites.
    Waiting,
    /// Receiving pushes until the lease ends.
    Active,
    /// Refused by a person (a repeated request is refused at once).
    Refused,
}

/// A subscription to this node's hub (WebSub, `/websub`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Subscription {
    /// Hex of the first 16 bytes of SHA-256(topic ‖ 0 ‖ callback): WebSub names a
    /// subscription by its topic and callback, so a renewal finds it again.
    pub id: String,
    /// The topic: a feed URL of this node (any view).
    pub topic: String,
    /// The query string of the topic's view, as its filter.
    pub filter: String,
    /// Where pushes go.
    pub callback: String,
    /// `hub.secret` (empty: none; pushes are then signed with the node key only).
    pub secret: Vec<u8>,
    /// The lease granted, in seconds.
    pub lease_secs: u64,
    /// When the lease ends (ms since the epoch).
    pub expires_ms: i64,
    /// Where it stands.
    pub state: SubState,
    /// When it was first asked for.
    pub at_ms: i64,
}

impl Store {
    /// Records a push destination's state (flushed: the cursor must not go back after a crash
    /// more than one event).
    pub fn put_push_state(&self, s: &PushState) -> Result<(), StoreError> {
        self.put_people_record(people_key(K_PUSH, s.name.as_bytes()), encode(s))
    }

    /// A push destination's state.
    pub fn push_state(&self, name: &str) -> Result<Option<PushState>, StoreError> {
        self.db
            .get(&people_key(K_PUSH, name.as_bytes()))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Forgets a push destination's state.
    pub fn remove_push_state(&self, name: &str) -> Result<(), StoreError> {
        self.remove_people_record(people_key(K_PUSH, name.as_bytes()))
    }

    /// Records a hub subscription.
    pub fn put_subscription(&self, s: &Subscription) -> Result<(), StoreError> {
        self.put_people_record(people_key(K_SUBSCRIPTION, s.id.as_bytes()), encode(s))
    }

    /// A hub subscription by id.
    pub fn subscription(&self, id: &str) -> Result<Option<Subscription>, StoreError> {
        self.db
            .get(&people_key(K_SUBSCRIPTION, id.as_bytes()))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Every hub subscription, by id.
    pub fn subscriptions(&self) -> Result<Vec<Subscription>, StoreError> {
        self.scan_records(&people_key(K_SUBSCRIPTION, &[]))
    }

    /// Ends a hub subscription (and forgets its delivery state).
    pub fn remove_subscription(&self, id: &str) -> Result<(), StoreError> {
        self.remove_people_record(people_key(K_SUBSCRIPTION, id.as_bytes()))?;
        self.remove_push_state(&format!("sub:{id}"))
    }

    pub(crate) fn put_people_record(&self, k: Vec<u8>, v: Vec<u8>) -> Result<(), StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut b = Batch::default();
        b.insert(k, v);
        self.db.apply(b)?;
        self.db.flush()
    }

    pub(crate) fn remove_people_record(&self, k: Vec<u8>) -> Result<(), StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut b = Batch::default();
        b.remove(k);
        self.db.apply(b)?;
        self.db.flush()
    }
}

/// Moves push states and hub subscriptions out of the keys they shared with other people
/// records (see [`OLD_K_PUSH`]), once per store. A record moves if its value decodes whole as
/// one of them; the others' values (an owned event's marker, a resource name) cannot.
pub(crate) fn separate_keys(db: &Backend) -> Result<(), StoreError> {
    if db.get(META_SEPARATE_KEYS)?.is_some() {
        return Ok(());
    }
    let mut b = Batch::default();
    let mut moved = 0;
    for (old, new, is_ours) in [
        (OLD_K_PUSH, K_PUSH, whole::<PushState> as fn(&[u8]) -> bool),
        (OLD_K_SUBSCRIPTION, K_SUBSCRIPTION, whole::<Subscription>),
    ] {
        let prefix = people_key(old, &[]);
        db.for_each_prefix(&prefix, |k, v| {
            if is_ours(v) {
                b.insert(people_key(new, &k[prefix.len()..]), v.to_vec());
                b.remove(k.to_vec());
                moved += 1;
            }
            true
        })?;
    }
    b.insert(META_SEPARATE_KEYS.to_vec(), vec![1]);
    db.apply(b)?;
    db.flush()?;
    if moved > 0 {
        tracing::info!(
            moved,
            "push states and hub subscriptions moved to keys of their own"
        );
    }
    Ok(())
}

/// Whether `v` is exactly one encoded `T`.
fn whole<T: Decode<()>>(v: &[u8]) -> bool {
    bincode::decode_from_slice::<T, _>(v, bincode::config::standard())
        .is_ok_and(|(_, n)| n == v.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_records_round_trip() {
        let s = Store::memory();
        let st = PushState {
            name: "t".into(),
            cursor: 7,
            ..PushState::default()
        };
        s.put_push_state(&st).unwrap();
        assert_eq!(s.push_state("t").unwrap(), Some(st));
        let sub = Subscription {
            id: "ab".into(),
            topic: "https://n/feed.ics?tags=x".into(),
            filter: "tags=x".into(),
            callback: "https://b/cb".into(),
            secret: b"k".to_vec(),
            lease_secs: 10,
            expires_ms: 5,
            state: SubState::Waiting,
            at_ms: 1,
        };
        s.put_subscription(&sub).unwrap();
        s.put_push_state(&PushState {
            name: "sub:ab".into(),
            ..PushState::default()
        })
        .unwrap();
        assert_eq!(s.subscriptions().unwrap(), vec![sub.clone()]);
        // The people table's other records live beside them: a CalDAV client's resource
        // name and an account's events must not show up as subscriptions or push states.
        s.set_owner("u1@x", "ana").unwrap();
        s.set_dav_name("ana", "client-name.ics", "u1@x").unwrap();
        assert_eq!(s.subscriptions().unwrap(), vec![sub]);
        assert_eq!(
            s.dav_name("u1@x").unwrap(),
            Some(("ana".into(), "client-name.ics".into()))
        );
        assert_eq!(s.owned_by("ana").unwrap(), vec!["u1@x".to_string()]);
        s.remove_subscription("ab").unwrap();
        assert!(s.subscription("ab").unwrap().is_none());
        assert!(s.push_state("sub:ab").unwrap().is_none());
    }
}
