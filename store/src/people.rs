//! People's records beside the events: accounts, API tokens, browser sessions, who entered
//! which of this node's events, the queues of anonymous submissions and of sister sites
//! waiting to be confirmed, and the audit log. Small
//! tables under key prefix `a`; each write is one batch, flushed before it returns, like an
//! event's. Nothing here is signed or spread to peers: accounts are a node's own business.
//!
//! Secrets are never stored: a password as its argon2id PHC string (hashed by the gateway),
//! tokens and session ids as their SHA-256.

use bincode::{Decode, Encode};

use crate::backend::Batch;
use crate::{Store, StoreError};

const T_PEOPLE: u8 = b'a';
pub(crate) const K_ACCOUNT: u8 = b'u';
pub(crate) const K_TOKEN: u8 = b't';
pub(crate) const K_SESSION: u8 = b's';
pub(crate) const K_OWNER: u8 = b'o';
/// The same by account, `account NUL uid` → 0, so one account's events are found without
/// reading everyone's (a calendar app lists its account's calendar on every sync).
pub(crate) const K_OWNED: u8 = b'w';
/// Set once `K_OWNED` holds every owner recorded before it existed.
pub(crate) const K_OWNED_BUILT: u8 = b'W';
pub(crate) const K_QUEUE: u8 = b'q';
pub(crate) const K_AUDIT: u8 = b'l';
pub(crate) const K_SITES: u8 = b'r';
/// A CalDAV client's name for an account's event: `account NUL name` → UID.
pub(crate) const K_DAV_NAME: u8 = b'n';
/// The same, the other way: UID → `account NUL name`.
pub(crate) const K_DAV_UID: u8 = b'h';
/// A property an account's calendar app set on its calendar (PROPPATCH: a name, a colour, an
/// order): `account NUL namespace NUL name` → the value's text.
pub(crate) const K_DAV_PROP: u8 = b'd';

/// What an account may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Role {
    /// Everything: accounts, settings, any of this node's events.
    Admin,
    /// Enter events and change their own; more by configuration.
    User,
}

impl Role {
    /// `admin` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }
}

/// A calendar property's (namespace, name).
pub type DavPropName = (String, String);

/// One person's account.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Account {
    /// The login name (unique).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The password's argon2id PHC string; empty until one is set.
    pub password: String,
    /// A disabled account cannot log in, and its tokens and sessions are refused.
    pub disabled: bool,
    /// When it was made (ms since the epoch).
    pub created_ms: i64,
}

/// An API token (the token itself is only ever shown once, to its owner).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct TokenRecord {
    /// The account it acts for.
    pub account: String,
    /// A name its owner gave it ("laptop", "DAVx5").
    pub label: String,
    /// When it was issued.
    pub created_ms: i64,
}

/// A browser session.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Session {
    /// The account logged in.
    pub account: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// When it began.
    pub created_ms: i64,
    /// When it ends, whatever happens.
    pub expires_ms: i64,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct AuditEntry {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Who: an account name, `(admin token)` or `(anonymous)`.
    pub actor: String,
    /// What: `create`, `update`, `cancel`, `approve`, `reject`, `user add`, ...
    pub action: String,
    /// On what: an event UID, an account name, a submission number.
    pub subject: String,
}

/// An anonymous submission waiting for approval.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Submission {
    /// Its number in the queue.
    pub id: u64,
    /// The event's fields, as the write API's JSON.
    pub draft_json: String,
    /// When it came.
    pub submitted_ms: i64,
}

/// A sister site someone asked this node to peer with, waiting for a person who may confirm
/// sites (the seed's "register" and "confirm sister sites").
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SiteRequest {
    /// Its number in the queue.
    pub id: u64,
    /// The site's node key.
    pub key: String,
    /// A multiaddr to dial, if given.
    pub address: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// The account that asked.
    pub by: String,
    /// When.
    pub at_ms: i64,
}

/// The key of a record of `kind` in the people table.
pub(crate) fn people_key(kind: u8, rest: &[u8]) -> Vec<u8> {
    key(kind, rest)
}

fn key(kind: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + rest.len());
    k.extend_from_slice(&[T_PEOPLE, kind]);
    k.extend_from_slice(rest);
    k
}

pub(crate) fn encode<T: Encode>(v: &T) -> Vec<u8> {
    // Encoding these plain structs into a Vec cannot fail.
    bincode::encode_to_vec(v, bincode::config::standard()).unwrap_or_default()
}

pub(crate) fn decode<T: Decode<()>>(bytes: &[u8]) -> Result<T, StoreError> {
    bincode::decode_from_slice(bytes, bincode::config::standard())
        .map(|(v, _)| v)
        .map_err(|e| StoreError::Corrupt(format!("people record: {e}")))
}

impl Store {
    fn people_get<T: Decode<()>>(&self, k: &[u8]) -> Result<Option<T>, StoreError> {
        self.db.get(k)?.map(|v| decode(&v)).transpose()
    }

    fn people_write(&self, batch: Batch) -> Result<(), StoreError> {
        self.db.apply(batch)?;
        self.db.flush()
    }

    /// Applies `batch` without waiting for the disk: for the bookkeeping of an event's write,
    /// which the event's own write (a flush, right after) makes durable with it.
    fn people_stage(&self, batch: Batch) -> Result<(), StoreError> {
        self.db.apply(batch)
    }

    fn people_scan<T: Decode<()>>(&self, kind: u8) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.people_scan_from(&key(kind, &[]))
    }

    /// Records whose key starts with `prefix` (a kind and more), each key without the prefix.
    fn people_scan_from<T: Decode<()>>(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        let mut err = None;
        self.db.for_each_prefix(prefix, |k, v| match decode(v) {
            Ok(x) => {
                out.push((k[prefix.len()..].to_vec(), x));
                true
            }
            Err(e) => {
                err = Some(e);
                false
            }
        })?;
        err.map_or(Ok(out), Err)
    }

    /// The highest number used in a numbered table (queue, audit log), 0 if none.
    fn last_number(&self, kind: u8) -> Result<u64, StoreError> {
        let last = self
            .db
            .last_in_range(&[T_PEOPLE, kind], &[T_PEOPLE, kind + 1])?;
        Ok(last
            .and_then(|k| <[u8; 8]>::try_from(&k[2..]).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// The account named `name`.
    pub fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        self.people_get(&key(K_ACCOUNT, name.as_bytes()))
    }

    /// Creates or replaces an account.
    pub fn put_account(&self, a: &Account) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.insert(key(K_ACCOUNT, a.name.as_bytes()), encode(a));
        self.people_write(b)
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .people_scan(K_ACCOUNT)?
            .into_iter()
            .map(|(_, a)| a)
            .collect())
    }

    /// Stores an API token's record under the token's hash.
    pub fn put_token(&self, hash: &[u8; 32], t: &TokenRecord) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.insert(key(K_TOKEN, hash), encode(t));
        self.people_write(b)
    }

    /// The record of the token with this hash.
    pub fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        self.people_get(&key(K_TOKEN, hash))
    }

    /// The tokens of `account`: (hash, record).
    pub fn tokens_of(&self, account: &str) -> Result<Vec<([u8; 32], TokenRecord)>, StoreError> {
        Ok(self
            .people_scan::<TokenRecord>(K_TOKEN)?
            .into_iter()
            .filter(|(_, t)| t.account == account)
            .filter_map(|(k, t)| <[u8; 32]>::try_from(k.as_slice()).ok().map(|h| (h, t)))
            .collect())
    }

    /// Revokes one token.
    pub fn remove_token(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.remove(key(K_TOKEN, hash));
        self.people_write(b)
    }

    /// Stores a session under its id's hash.
    pub fn put_session(&self, hash: &[u8; 32], s: &Session) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.insert(key(K_SESSION, hash), encode(s));
        self.people_write(b)
    }

    /// The session with this id hash.
    pub fn session(&self, hash: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        self.people_get(&key(K_SESSION, hash))
    }

    /// Ends one session.
    pub fn remove_session(&self, hash: &[u8; 32]) -> Result<(), StoreError> {
        let mut b = Batch::default();
        b.remove(key(K_SESSION, hash));
        self.people_write(b)
    }

    /// Ends every session of `account` (a password change, a disabled account), and every
    /// expired session of anyone; returns how many ended.
    pub fn end_sessions(&self, account: Option<&str>, now_ms: i64) -> Result<usize, StoreError> {
        let mut b = Batch::default();
        let mut n = 0;
        for (k, s) in self.people_scan::<Session>(K_SESSION)? {
            if Some(s.account.as_str()) == account || s.expires_ms <= now_ms {
                b.remove(key(K_SESSION, &k));
                n += 1;
            }
        }
        if n > 0 {
            self.people_write(b)?;
        }
        Ok(n)
    }

    /// Records who entered this node's event `uid`.
    pub fn set_owner(&self, uid: &str, account: &str) -> Result<(), StoreError> {
        let b = self.owner_batch(uid, account)?;
        self.people_write(b)
    }

    fn owned_key(account: &str, uid: &str) -> Vec<u8> {
        key(K_OWNED, format!("{account}\0{uid}").as_bytes())
    }

    fn owner_batch(&self, uid: &str, account: &str) -> Result<Batch, StoreError> {
        let mut b = Batch::default();
        if let Some(old) = self.owner(uid)?.filter(|o| o != account) {
            b.remove(Self::owned_key(&old, uid));
        }
        b.insert(key(K_OWNER, uid.as_bytes()), encode(&account.to_string()));
        b.insert(Self::owned_key(account, uid), encode(&0u8));
        Ok(b)
    }

    /// Stages the bookkeeping of an event `account` is about to create through CalDAV: its
    /// owner and, unless it is `{uid}.ics`, the resource name its client chose. Not flushed:
    /// the event's write, which the caller makes next, flushes it with the event (and if that
    /// write fails, [`Store::unstage_created`] takes it back).
    pub fn stage_created(&self, uid: &str, account: &str, name: &str) -> Result<(), StoreError> {
        let mut b = self.owner_batch(uid, account)?;
        if name != format!("{uid}.ics") {
            self.dav_name_batch(&mut b, account, name, uid)?;
        }
        self.people_stage(b)
    }

    /// Takes back [`Store::stage_created`] after the event's write failed.
    pub fn unstage_created(&self, uid: &str) -> Result<(), StoreError> {
        self.remove_dav_name(uid)?;
        let mut b = Batch::default();
        if let Some(account) = self.owner(uid)? {
            b.remove(Self::owned_key(&account, uid));
        }
        b.remove(key(K_OWNER, uid.as_bytes()));
        self.people_write(b)
    }

    /// Who entered this node's event `uid` (none for events from the CLI or an import).
    pub fn owner(&self, uid: &str) -> Result<Option<String>, StoreError> {
        self.people_get(&key(K_OWNER, uid.as_bytes()))
    }

    /// The UIDs of the events `account` entered.
    pub fn owned_by(&self, account: &str) -> Result<Vec<String>, StoreError> {
        self.build_owned_index()?;
        let prefix = key(K_OWNED, format!("{account}\0").as_bytes());
        Ok(self
            .people_scan_from::<u8>(&prefix)?
            .into_iter()
            .map(|(uid, _)| String::from_utf8_lossy(&uid).into_owned())
            .collect())
    }

    /// Fills the by-account index from the owner records once, for stores whose owners were
    /// recorded before it existed (every owner recorded since writes both).
    fn build_owned_index(&self) -> Result<(), StoreError> {
        let built = key(K_OWNED_BUILT, b"");
        if self.people_get::<u8>(&built)?.is_some() {
            return Ok(());
        }
        let mut b = Batch::default();
        for (uid, account) in self.people_scan::<String>(K_OWNER)? {
            b.insert(
                Self::owned_key(&account, &String::from_utf8_lossy(&uid)),
                encode(&0u8),
            );
        }
        b.insert(built, encode(&1u8));
        self.people_write(b)
    }

    /// Records that a CalDAV client of `account` calls this node's event `uid` `name` (the
    /// resource name it chose for the event in the account's calendar), replacing any earlier
    /// name of the event.
    pub fn set_dav_name(&self, account: &str, name: &str, uid: &str) -> Result<(), StoreError> {
        let mut b = Batch::default();
        self.dav_name_batch(&mut b, account, name, uid)?;
        self.people_write(b)
    }

    fn dav_name_batch(
        &self,
        b: &mut Batch,
        account: &str,
        name: &str,
        uid: &str,
    ) -> Result<(), StoreError> {
        if let Some(old) = self.people_get::<String>(&key(K_DAV_UID, uid.as_bytes()))? {
            b.remove(key(K_DAV_NAME, old.as_bytes()));
        }
        let full = format!("{account}\0{name}");
        b.insert(key(K_DAV_NAME, full.as_bytes()), encode(&uid.to_string()));
        b.insert(key(K_DAV_UID, uid.as_bytes()), encode(&full));
        Ok(())
    }

    /// Forgets the CalDAV name of this node's event `uid` (it was cancelled).
    pub fn remove_dav_name(&self, uid: &str) -> Result<(), StoreError> {
        let Some(old) = self.people_get::<String>(&key(K_DAV_UID, uid.as_bytes()))? else {
            return Ok(());
        };
        let mut b = Batch::default();
        b.remove(key(K_DAV_NAME, old.as_bytes()));
        b.remove(key(K_DAV_UID, uid.as_bytes()));
        self.people_write(b)
    }

    /// The event `account`'s client calls `name`, if a client gave it that name.
    pub fn dav_uid(&self, account: &str, name: &str) -> Result<Option<String>, StoreError> {
        self.people_get(&key(K_DAV_NAME, format!("{account}\0{name}").as_bytes()))
    }

    /// The name a client gave this node's event `uid`, if one did: (account, name).
    pub fn dav_name(&self, uid: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .people_get::<String>(&key(K_DAV_UID, uid.as_bytes()))?
            .and_then(|full| {
                full.split_once('\0')
                    .map(|(a, n)| (a.to_owned(), n.to_owned()))
            }))
    }

    /// The properties `account`'s calendar apps set on its calendar: ((namespace, name),
    /// value).
    pub fn dav_props(&self, account: &str) -> Result<Vec<(DavPropName, String)>, StoreError> {
        let prefix = key(K_DAV_PROP, format!("{account}\0").as_bytes());
        Ok(self
            .people_scan_from::<String>(&prefix)?
            .into_iter()
            .filter_map(|(k, v)| {
                let k = String::from_utf8_lossy(&k).into_owned();
                let (ns, name) = k.split_once('\0')?;
                Some(((ns.to_owned(), name.to_owned()), v))
            })
            .collect())
    }

    /// One property `account`'s calendar apps set on its calendar, if set.
    pub fn dav_prop(
        &self,
        account: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, StoreError> {
        self.people_get(&key(
            K_DAV_PROP,
            format!("{account}\0{ns}\0{name}").as_bytes(),
        ))
    }

    /// Sets (`Some`) and removes (`None`) properties of `account`'s calendar, all at once and
    /// durably.
    pub fn set_dav_props(
        &self,
        account: &str,
        changes: &[(DavPropName, Option<String>)],
    ) -> Result<(), StoreError> {
        let mut b = Batch::default();
        for ((ns, name), value) in changes {
            let k = key(K_DAV_PROP, format!("{account}\0{ns}\0{name}").as_bytes());
            match value {
                Some(v) => b.insert(k, encode(v)),
                None => b.remove(k),
            }
        }
        self.people_write(b)
    }

    /// The CalDAV names `account`'s clients gave its events: (name, UID) pairs.
    pub fn dav_names(&self, account: &str) -> Result<Vec<(String, String)>, StoreError> {
        let prefix = key(K_DAV_NAME, format!("{account}\0").as_bytes());
        Ok(self
            .people_scan_from::<String>(&prefix)?
            .into_iter()
            .map(|(name, uid)| (String::from_utf8_lossy(&name).into_owned(), uid))
            .collect())
    }

    /// Queues an anonymous submission; returns its number.
    pub fn queue_submission(&self, draft_json: &str, now_ms: i64) -> Result<u64, StoreError> {
        self.enqueue(K_QUEUE, |id| Submission {
            id,
            draft_json: draft_json.to_string(),
            submitted_ms: now_ms,
        })
    }

    /// The submissions waiting, oldest first.
    pub fn submissions(&self) -> Result<Vec<Submission>, StoreError> {
        self.queued(K_QUEUE)
    }

    /// Takes a submission out of the queue (approved or rejected).
    pub fn take_submission(&self, id: u64) -> Result<Option<Submission>, StoreError> {
        self.dequeue(K_QUEUE, id)
    }

    /// Queues a sister site for confirmation; returns its number (`id` is assigned here).
    pub fn queue_site(&self, req: &SiteRequest) -> Result<u64, StoreError> {
        self.enqueue(K_SITES, |id| SiteRequest { id, ..req.clone() })
    }

    /// The sister sites waiting, oldest first.
    pub fn site_requests(&self) -> Result<Vec<SiteRequest>, StoreError> {
        self.queued(K_SITES)
    }

    /// Takes a sister site out of the queue (confirmed or rejected).
    pub fn take_site_request(&self, id: u64) -> Result<Option<SiteRequest>, StoreError> {
        self.dequeue(K_SITES, id)
    }

    /// Appends the record `make` builds with the queue's next number; returns the number.
    fn enqueue<T: Encode>(&self, kind: u8, make: impl FnOnce(u64) -> T) -> Result<u64, StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let id = self.last_number(kind)? + 1;
        let mut b = Batch::default();
        b.insert(key(kind, &id.to_be_bytes()), encode(&make(id)));
        self.people_write(b)?;
        Ok(id)
    }

    /// A queue's records, oldest first.
    fn queued<T: Decode<()>>(&self, kind: u8) -> Result<Vec<T>, StoreError> {
        Ok(self
            .people_scan(kind)?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }

    /// Takes record `id` out of a queue.
    fn dequeue<T: Decode<()>>(&self, kind: u8, id: u64) -> Result<Option<T>, StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let k = key(kind, &id.to_be_bytes());
        let s: Option<T> = self.people_get(&k)?;
        if s.is_some() {
            let mut b = Batch::default();
            b.remove(k);
            self.people_write(b)?;
        }
        Ok(s)
    }

    /// Appends to the audit log.
    pub fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.append_audit(e, true)
    }

    /// Appends to the audit log without waiting for the disk, for a write that was just made
    /// durable: the line reaches the disk with the next flush, within a second (the store's
    /// background flush), and a crash before it loses the line, never the write.
    pub fn audit_soon(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.append_audit(e, false)
    }

    fn append_audit(&self, e: &AuditEntry, flush: bool) -> Result<(), StoreError> {
        let mut next = self.audit_next.lock().map_err(|_| StoreError::Poisoned)?;
        if *next == 0 {
            *next = self.last_number(K_AUDIT)? + 1;
        }
        let mut b = Batch::default();
        b.insert(key(K_AUDIT, &next.to_be_bytes()), encode(e));
        if flush {
            self.people_write(b)?;
        } else {
            self.people_stage(b)?;
        }
        *next += 1;
        Ok(())
    }

    /// The audit log's newest `limit` entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut all: Vec<AuditEntry> = self
            .people_scan(K_AUDIT)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_records_round_trip_and_sessions_end() {
        let s = Store::memory();
        let a = Account {
            name: "ana".into(),
            role: Role::Admin,
            password: "$argon2id$...".into(),
            disabled: false,
            created_ms: 1,
        };
        s.put_account(&a).unwrap();
        assert_eq!(s.account("ana").unwrap(), Some(a.clone()));
        assert_eq!(s.accounts().unwrap(), vec![a]);
        let sess = |who: &str, exp| Session {
            account: who.into(),
            csrf: "c".into(),
            created_ms: 0,
            expires_ms: exp,
        };
        s.put_session(&[1; 32], &sess("ana", 100)).unwrap();
        s.put_session(&[2; 32], &sess("bo", 100)).unwrap();
        s.put_session(&[3; 32], &sess("bo", 5)).unwrap();
        assert_eq!(s.end_sessions(Some("ana"), 10).unwrap(), 2);
        assert!(s.session(&[1; 32]).unwrap().is_none());
        assert!(s.session(&[2; 32]).unwrap().is_some());
        let q1 = s.queue_submission("{}", 1).unwrap();
        let q2 = s.queue_submission("{\"title\":\"x\"}", 2).unwrap();
        assert_eq!((q1, q2), (1, 2));
        assert_eq!(s.take_submission(1).unwrap().unwrap().draft_json, "{}");
        assert_eq!(s.submissions().unwrap().len(), 1);
        for i in 0..3 {
            s.audit(&AuditEntry {
                at_ms: i,
                actor: "ana".into(),
                action: "create".into(),
                subject: format!("e{i}"),
            })
            .unwrap();
        }
        let log = s.audit_log(2).unwrap();
        assert_eq!(log[0].subject, "e2");
        assert_eq!(log.len(), 2);
        // An owner recorded before the by-account index existed is found once it is built.
        let mut b = Batch::default();
        b.insert(key(K_OWNER, b"old"), encode(&"ana".to_string()));
        s.people_write(b).unwrap();
        assert_eq!(s.owned_by("ana").unwrap(), vec!["old".to_string()]);
        let mut b = Batch::default();
        b.remove(key(K_OWNER, b"old"));
        b.remove(Store::owned_key("ana", "old"));
        s.people_write(b).unwrap();
        s.set_owner("e1", "bo").unwrap();
        s.set_owner("e1", "ana").unwrap();
        assert!(s.owned_by("bo").unwrap().is_empty());
        assert_eq!(s.owner("e1").unwrap().as_deref(), Some("ana"));
        assert_eq!(s.owned_by("ana").unwrap(), vec!["e1".to_string()]);
        s.set_dav_name("ana", "first.ics", "e1").unwrap();
        s.set_dav_name("anabel", "other.ics", "e2").unwrap();
        assert_eq!(
            s.dav_names("ana").unwrap(),
            vec![("first.ics".into(), "e1".into())]
        );
        // A new name replaces the old one; a removed name is gone both ways.
        s.set_dav_name("ana", "renamed.ics", "e1").unwrap();
        assert_eq!(
            s.dav_names("ana").unwrap(),
            vec![("renamed.ics".into(), "e1".into())]
        );
        s.remove_dav_name("e1").unwrap();
        assert!(s.dav_names("ana").unwrap().is_empty());
        assert_eq!(s.dav_names("anabel").unwrap().len(), 1);
    }
}
