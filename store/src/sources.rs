//! What this node remembers of each subscribed source (`[[sources]]`): the validators for a
//! conditional GET, when it is due again, what the last poll saw, and the UIDs it made, so an
//! event that leaves the feed can be cancelled. The source's definition lives in the config;
//! this is its state, kept under the people table's prefix like every local record.

use bincode::{Decode, Encode};

use crate::backend::Batch;
use crate::people::{decode, encode, people_key};
use crate::{Store, StoreError};

pub(crate) const K_SOURCE: u8 = b'f';

/// Figures of one poll, for `discal source list`, `/status` and the admin page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct PollCounts {
    /// Events in the document.
    pub seen: u32,
    /// Taken as new events.
    pub new: u32,
    /// Taken as new revisions of held events.
    pub changed: u32,
    /// Cancelled: gone from the source, or cancelled there.
    pub cancelled: u32,
    /// Refused, each with its reason in `problems`.
    pub refused: u32,
}

/// One source's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode)]
pub struct SourceState {
    /// The source's name in the config.
    pub name: String,
    /// The URL the state is about (a changed URL starts afresh).
    pub url: String,
    /// `ETag` of the last full answer.
    pub etag: Option<String>,
    /// `Last-Modified` of the last full answer.
    pub last_modified: Option<String>,
    /// SHA-256 of the last body read, so a server without validators costs no parsing either.
    pub body_hash: Option<[u8; 32]>,
    /// When the last poll ended (ms since the epoch; 0: never).
    pub last_poll_ms: i64,
    /// The last HTTP status (0: no answer).
    pub last_status: u16,
    /// The last poll's figures (a 304 or an identical body keeps the previous ones).
    pub counts: PollCounts,
    /// Totals since the source was added.
    pub totals: PollCounts,
    /// The last error, empty after a good poll.
    pub last_error: String,
    /// Failures in a row (for the backoff).
    pub failures: u32,
    /// When the next poll is due (ms since the epoch).
    pub next_due_ms: i64,
    /// The UIDs this source's events hold on this node, live ones only.
    pub uids: Vec<String>,
    /// A feed far smaller than before: how many events it held, and in how many polls in a
    /// row; its missing events are cancelled only once it is confirmed.
    pub shrunk: Option<(u32, u32)>,
    /// What could not be taken in the last poll that read a document (per event).
    pub problems: Vec<String>,
}

impl Store {
    /// Records a source's state; `durable` flushes (a poll that changed nothing need not).
    pub fn put_source_state(&self, s: &SourceState, durable: bool) -> Result<(), StoreError> {
        let _w = self.writer.lock().map_err(|_| StoreError::Poisoned)?;
        let mut b = Batch::default();
        b.insert(people_key(K_SOURCE, s.name.as_bytes()), encode(s));
        self.db.apply(b)?;
        if durable {
            self.db.flush()?;
        }
        Ok(())
    }

    /// A source's state, if it was ever polled.
    pub fn source_state(&self, name: &str) -> Result<Option<SourceState>, StoreError> {
        self.db
            .get(&people_key(K_SOURCE, name.as_bytes()))?
            .map(|v| decode(&v))
            .transpose()
    }
}
