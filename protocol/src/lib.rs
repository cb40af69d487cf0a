//! DisCal's protocol core: what an event is, who may change it, and how copies merge.
//!
//! This crate is pure: no I/O, no clock, no runtime. Callers hand it bytes and the current time
//! and get decisions back, so the node, the store, the gateway and the simulator all share one
//! definition of validity and one merge rule, and tests need no runtime.
//!
//! # Layout
//! - [`keys`]: node identity (ed25519) and its one textual form, the libp2p PeerId string.
//! - [`model`]: the event model, an iCalendar VEVENT with its overrides; also the signed content.
//! - [`codec`]: the one bincode configuration, with size caps applied before decoding.
//! - [`envelope`]: signed envelopes, [`VerifiedEvent`] (only `verify` and `sign` make one), and
//!   the relay wrapper that carries hop count and path outside the signature.
//! - [`validate`]: the structural rules every payload must meet.
//! - [`mod@merge`]: last-writer-wins by revision with a deterministic tie-break; tombstones.
//! - [`ics`]: iCalendar import (with UID repair) and export.
//! - [`tz`]: TZID resolution (IANA, vendor prefixes, Windows names).
//! - [`recur`]: bounded, DST-correct recurrence expansion.
//! - [`vector`]: the specification's test vector.
//! - `fuzzing` (with the `test-utils` feature): entry points shared by the cargo-fuzz targets
//!   and their seed-corpus test.
//! - [`view`]: personal views (the URL parameters every read format shares).
//! - [`references`]: HTML's character references in text exporters took from the web.
//! - [`vtimezone`]: VTIMEZONE components for the zones a feed names.
//!
//! The wire format and the rules are specified in `docs/protocol.md`.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]
// Long functions hide their steps: past clippy.toml's threshold, cut them into named parts.
#![warn(clippy::too_many_lines)]

pub mod codec;
pub mod dedupe;
pub mod envelope;
#[cfg(feature = "test-utils")]
pub mod fuzzing;
pub mod httpsig;
pub mod ics;
pub mod keys;
pub mod merge;
pub mod model;
pub mod proposal;
pub mod recur;
pub mod references;
pub mod source;
pub mod tz;
pub mod validate;
pub mod vector;
pub mod view;
pub mod vtimezone;

pub use envelope::{
    sign, verify_batch, Envelope, EventId, EventKey, Opened, PayloadHead, Relayed, SignedPayload,
    VerifiedEvent, VerifyError,
};
pub use keys::{KeyError, NodeKey, NodeSecret};
pub use merge::{merge, MergeKey, MergeOutcome};
pub use model::{Component, DateTimeValue, EventContent};
pub use validate::{Limits, ValidationError};

/// Re-exported so callers name zones with the same type the protocol uses.
pub use chrono_tz::Tz;
