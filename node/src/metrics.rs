//! Counters for `GET /metrics` (Prometheus text format). Plain atomics: the hot paths only add.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Why an incoming envelope was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reject {
    /// Bytes that do not decode.
    Decode,
    /// Hop count or path inconsistent with the link it came over.
    Path,
    /// Signature or validation failed (forged or malformed).
    Verify,
    /// An admin filter dropped it.
    Policy,
    /// The ingest queue was full.
    Overload,
    /// Its origin is blocked or not accepted (`[origins]`).
    Origin,
    /// Its origin is over a quota (`[origins] max_revisions_per_day`, `max_events`).
    Quota,
}

impl Reject {
    /// Every reason, in the order `/metrics` lists them.
    pub const ALL: [Reject; 7] = [
        Reject::Decode,
        Reject::Path,
        Reject::Verify,
        Reject::Policy,
        Reject::Overload,
        Reject::Origin,
        Reject::Quota,
    ];
}

impl Reject {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Decode => "decode",
            Self::Path => "path",
            Self::Verify => "signature_or_validation",
            Self::Policy => "policy",
            Self::Overload => "overload",
            Self::Origin => "origin",
            Self::Quota => "quota",
        }
    }
}

/// The node's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Envelopes that arrived from peers (gossip and sync).
    pub received: AtomicU64,
    /// Stored as new or newer.
    pub accepted: AtomicU64,
    /// Already held (same or older revision).
    pub duplicates: AtomicU64,
    /// Events published by this node (local writes).
    pub published: AtomicU64,
    /// Relay messages this node sent into gossip.
    pub relayed: AtomicU64,
    /// Gossip payload bytes received / sent.
    pub gossip_bytes_in: AtomicU64,
    /// Gossip payload bytes sent.
    pub gossip_bytes_out: AtomicU64,
    /// Gossip messages sent (each bundles one or more relay values).
    pub gossip_messages_out: AtomicU64,
    /// Gossip messages gossipsub dropped unread because it had seen their id (a relay of an
    /// event already held, docs/protocol.md §11.2): duplicates on the wire that never reach
    /// the ingest path, so not in `duplicates`.
    pub gossip_duplicates_dropped: AtomicU64,
    /// Their bytes.
    pub gossip_duplicate_bytes_dropped: AtomicU64,
    /// Sync protocol bytes received (frames, including length prefixes).
    pub sync_bytes_in: AtomicU64,
    /// Sync protocol bytes sent.
    pub sync_bytes_out: AtomicU64,
    /// Bytes deflate saved on sync frames this node sent or received (uncompressed size minus
    /// wire size), so the protocol's own overhead stays measurable.
    pub sync_bytes_deflated: AtomicU64,
    /// Completed sync sessions this node initiated.
    pub syncs: AtomicU64,
    /// Gossip messages to peers that gossipsub dropped (full queue or publish timeout).
    pub gossip_lost: AtomicU64,
    /// Catch-up sessions started early to repair lost gossip.
    pub repair_syncs: AtomicU64,
    /// Connections refused by the allowlist.
    pub connections_denied: AtomicU64,
    /// Peers disconnected for a score at or below the graylist threshold.
    pub peers_cut: AtomicU64,
    /// Item sets the sync responder built (one per store version that a session started on).
    pub sync_inventories: AtomicU64,
    /// Connected peers now.
    pub peers_connected: AtomicU64,
    rejected: Mutex<BTreeMap<Reject, u64>>,
    /// Proposals by what became of them (docs/protocol.md §12).
    proposals: Mutex<BTreeMap<&'static str, u64>>,
    /// Source polls by outcome.
    source_polls: Mutex<BTreeMap<&'static str, u64>>,
    /// Events taken from sources, by what became of them.
    source_events: Mutex<BTreeMap<&'static str, u64>>,
    /// Pushes sent and received, by outcome.
    pushes: Mutex<BTreeMap<&'static str, u64>>,
    /// Rejections logged in the current window, per reason, and how many were not.
    logged: Mutex<BTreeMap<Reject, LogWindow>>,
}

/// Rejection log lines per reason per window: a peer sending junk made one WARN line per
/// envelope (699k for one crafted frame). Past this, lines are counted, and the count is
/// logged when the next window opens.
const LOG_LINES_PER_WINDOW: u32 = 20;
/// The window, in seconds.
const LOG_WINDOW_SECS: u64 = 60;

#[derive(Debug, Default)]
struct LogWindow {
    started: Option<std::time::Instant>,
    lines: u32,
    suppressed: u64,
}

/// Reads one counter of [`Metrics`].
type Counter = fn(&Metrics) -> &AtomicU64;

/// (name, help, counter) of every counter but the rejections, in `/metrics` order.
const COUNTERS: [(&str, &str, Counter); 19] = [
    (
        "events_received_total",
        "Envelopes received from peers.",
        |m| &m.received,
    ),
    (
        "events_accepted_total",
        "Envelopes stored as new or newer revisions.",
        |m| &m.accepted,
    ),
    ("events_duplicate_total", "Envelopes already held.", |m| {
        &m.duplicates
    }),
    (
        "events_published_total",
        "Local writes signed by this node.",
        |m| &m.published,
    ),
    (
        "relays_sent_total",
        "Relay messages sent into gossip.",
        |m| &m.relayed,
    ),
    (
        "gossip_duplicates_dropped_total",
        "Gossip messages dropped unread as copies of ones already seen.",
        |m| &m.gossip_duplicates_dropped,
    ),
    (
        "gossip_duplicate_bytes_dropped_total",
        "Bytes of gossip messages dropped unread as copies.",
        |m| &m.gossip_duplicate_bytes_dropped,
    ),
    (
        "gossip_bytes_received_total",
        "Gossip payload bytes received.",
        |m| &m.gossip_bytes_in,
    ),
    (
        "gossip_bytes_sent_total",
        "Gossip payload bytes sent.",
        |m| &m.gossip_bytes_out,
    ),
    (
        "gossip_messages_sent_total",
        "Gossip messages sent (each bundles one or more relay values).",
        |m| &m.gossip_messages_out,
    ),
    (
        "sync_bytes_received_total",
        "Catch-up sync bytes received.",
        |m| &m.sync_bytes_in,
    ),
    ("sync_bytes_sent_total", "Catch-up sync bytes sent.", |m| {
        &m.sync_bytes_out
    }),
    (
        "sync_bytes_deflate_saved_total",
        "Catch-up sync bytes saved by compression, both directions.",
        |m| &m.sync_bytes_deflated,
    ),
    (
        "syncs_total",
        "Catch-up sessions completed as initiator.",
        |m| &m.syncs,
    ),
    (
        "gossip_lost_total",
        "Gossip messages dropped on the way to a slow peer (repaired by catch-up).",
        |m| &m.gossip_lost,
    ),
    (
        "repair_syncs_total",
        "Catch-up sessions started early to repair lost gossip.",
        |m| &m.repair_syncs,
    ),
    (
        "connections_denied_total",
        "Connections refused by the allowlist.",
        |m| &m.connections_denied,
    ),
    (
        "peers_cut_total",
        "Peers disconnected for sending rejected messages (graylisted).",
        |m| &m.peers_cut,
    ),
    (
        "sync_inventories_total",
        "Item sets the sync responder built (sessions on an unchanged store share one).",
        |m| &m.sync_inventories,
    ),
];

impl Metrics {
    /// Logs a rejection as a warning, at most 20 per reason per minute;
    /// returns whether it was logged. (Every rejection is counted by [`Metrics::reject`].)
    pub fn log_reject(&self, why: Reject, detail: &dyn std::fmt::Display) -> bool {
        let Ok(mut logged) = self.logged.lock() else {
            return false;
        };
        let w = logged.entry(why).or_default();
        let now = std::time::Instant::now();
        if w.started
            .is_none_or(|s| now.duration_since(s).as_secs() >= LOG_WINDOW_SECS)
        {
            if w.suppressed > 0 {
                tracing::warn!(
                    reason = why.label(),
                    "{} more rejections in the last minute were not logged",
                    w.suppressed
                );
            }
            *w = LogWindow {
                started: Some(now),
                ..LogWindow::default()
            };
        }
        if w.lines >= LOG_LINES_PER_WINDOW {
            w.suppressed += 1;
            return false;
        }
        w.lines += 1;
        tracing::warn!(reason = why.label(), "rejected: {detail}");
        true
    }

    /// Counts a rejection.
    pub fn reject(&self, why: Reject) {
        self.reject_n(why, 1);
    }

    /// Counts a proposal by outcome (`accepted`, `queued`, `conflict`, `repeat`, a refusal's
    /// reason, or at the proposer `made` and `receipt`).
    pub fn proposal(&self, outcome: &'static str) {
        if let Ok(mut m) = self.proposals.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    /// Proposals counted with `outcome`.
    pub fn proposals(&self, outcome: &str) -> u64 {
        labelled(&self.proposals, outcome)
    }

    /// Counts one poll of a source with `outcome` (not modified, unchanged, read, failed).
    pub fn source_poll(&self, outcome: &'static str) {
        if let Ok(mut m) = self.source_polls.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    /// Counts a push sent (`delivered`, `refused`, `failed`) or received (`taken`,
    /// `unauthorized`, `replayed`, `invalid`).
    pub fn push(&self, outcome: &'static str) {
        if let Ok(mut m) = self.pushes.lock() {
            *m.entry(outcome).or_default() += 1;
        }
    }

    /// Pushes counted with `outcome`.
    pub fn pushes(&self, outcome: &str) -> u64 {
        labelled(&self.pushes, outcome)
    }

    /// Source polls counted with `outcome`.
    pub fn source_polls(&self, outcome: &str) -> u64 {
        labelled(&self.source_polls, outcome)
    }

    /// Counts what one poll made of a source's events.
    pub fn source_events(&self, c: &discal_store::PollCounts) {
        if let Ok(mut m) = self.source_events.lock() {
            for (k, v) in [
                ("new", c.new),
                ("changed", c.changed),
                ("cancelled", c.cancelled),
                ("refused", c.refused),
            ] {
                *m.entry(k).or_default() += u64::from(v);
            }
        }
    }

    /// Counts `n` rejections for one reason.
    pub fn reject_n(&self, why: Reject, n: u64) {
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(why).or_default() += n;
        }
    }

    /// Rejections for one reason.
    pub fn rejected(&self, why: Reject) -> u64 {
        self.rejected
            .lock()
            .map(|m| m.get(&why).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self, events_stored: u64) -> String {
        let mut out = String::new();
        for (name, help, counter) in COUNTERS {
            let v = counter(self).load(Relaxed);
            let _ = writeln!(out, "# HELP discal_{name} {help}");
            let _ = writeln!(out, "# TYPE discal_{name} counter");
            let _ = writeln!(out, "discal_{name} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP discal_events_rejected_total Envelopes not stored, by reason."
        );
        let _ = writeln!(out, "# TYPE discal_events_rejected_total counter");
        for why in Reject::ALL {
            let _ = writeln!(
                out,
                "discal_events_rejected_total{{reason=\"{}\"}} {}",
                why.label(),
                self.rejected(why)
            );
        }
        for (name, label, help, map) in [
            (
                "proposals_total",
                "outcome",
                "Proposals received, made and answered, by outcome.",
                &self.proposals,
            ),
            (
                "source_polls_total",
                "outcome",
                "Polls of subscribed sources, by outcome.",
                &self.source_polls,
            ),
            (
                "source_events_total",
                "kind",
                "Events taken from sources, by what became of them.",
                &self.source_events,
            ),
            (
                "pushes_total",
                "outcome",
                "Pushes sent to sister sites and received from them, by outcome.",
                &self.pushes,
            ),
        ] {
            let _ = writeln!(out, "# HELP discal_{name} {help}");
            let _ = writeln!(out, "# TYPE discal_{name} counter");
            if let Ok(m) = map.lock() {
                for (k, v) in m.iter() {
                    let _ = writeln!(out, "discal_{name}{{{label}=\"{k}\"}} {v}");
                }
            }
        }
        for (name, help, v) in [
            (
                "peers_connected",
                "Peers connected now.",
                self.peers_connected.load(Relaxed),
            ),
            ("events_stored", "Events in the store.", events_stored),
        ] {
            let _ = writeln!(out, "# HELP discal_{name} {help}");
            let _ = writeln!(out, "# TYPE discal_{name} gauge");
            let _ = writeln!(out, "discal_{name} {v}");
        }
        out
    }
}

fn labelled(map: &Mutex<BTreeMap<&'static str, u64>>, key: &str) -> u64 {
    map.lock()
        .map(|m| m.get(key).copied().unwrap_or(0))
        .unwrap_or(0)
}
