//! The schedule and one poll: fetch (conditionally), read, hand to the ingest worker, keep
//! the state. A 304 or a body identical to the last one costs no parsing; errors back off.

use std::sync::Arc;
use std::time::Duration;

use discal_gateway::WriteError;
use discal_protocol::ics::parse_calendar;
use discal_store::SourceState;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use super::fetch::{FetchError, Fetched, Request};
use super::{Batch, Outcome, SourceEntry, SourceKind};
use crate::msg::Job;
use crate::Shared;

/// The longest wait after failures.
const MAX_BACKOFF_MS: i64 = 24 * 3600 * 1000;
/// The longest a `Cache-Control: max-age` or `Retry-After` may put a poll off.
const MAX_PUT_OFF_MS: i64 = 7 * 24 * 3600 * 1000;

/// Polls every due source, then waits for the next one due (or to be woken). Runs until the
/// node stops.
pub async fn run(shared: Arc<Shared>, ingest: mpsc::Sender<Job>) {
    // A poll that failed inside the node (no state could be kept: the store, the TLS setup)
    // is tried again after a minute, not in a tight loop.
    let mut retry: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    loop {
        let entries = shared
            .config
            .read()
            .map(|c| c.sources.clone())
            .unwrap_or_default();
        let now = shared.now();
        let mut next = now + 3_600_000;
        let mut polls = tokio::task::JoinSet::new();
        for e in entries {
            let due = match shared.store.source_state(&e.name) {
                Ok(Some(s)) if s.url == e.url => s.next_due_ms,
                _ => 0,
            };
            let due = due.max(retry.get(&e.name).copied().unwrap_or(0));
            if due <= now {
                let (shared, ingest) = (shared.clone(), ingest.clone());
                polls.spawn(async move { (e.name.clone(), poll(&shared, &ingest, &e).await) });
            } else {
                next = next.min(due);
            }
        }
        while let Some(done) = polls.join_next().await {
            match done {
                Ok((name, Ok(s))) => {
                    retry.remove(&name);
                    next = next.min(s.next_due_ms);
                }
                Ok((name, Err(e))) => {
                    tracing::warn!(source = %name, "poll failed in the node: {e}");
                    let at = shared.now() + 60_000;
                    retry.insert(name, at);
                    next = next.min(at);
                }
                Err(e) => tracing::warn!("a poll task ended: {e}"),
            }
        }
        let wait = u64::try_from((next - shared.now()).clamp(50, 3_600_000)).unwrap_or(1000);
        let _ =
            tokio::time::timeout(Duration::from_millis(wait), shared.sources.wake.notified()).await;
    }
}

/// One poll of `entry` now (the schedule's, or one asked for): its state afterwards.
pub async fn poll(
    shared: &Shared,
    ingest: &mpsc::Sender<Job>,
    entry: &SourceEntry,
) -> Result<SourceState, WriteError> {
    let lock = shared.sources.lock_of(&entry.name);
    let _one = lock.lock().await;
    let internal = |e: discal_store::StoreError| WriteError::Internal(e.to_string());
    let mut state = state_of(shared, entry).map_err(internal)?;
    let fetcher = shared
        .sources
        .fetcher(&shared.public_url)
        .map_err(WriteError::Internal)?;
    let every_ms = i64::try_from(entry.every_secs()).unwrap_or(3600) * 1000;
    state.last_poll_ms = shared.now();
    let got = match entry.kind {
        SourceKind::Sitemap => match super::crawl::crawl(shared, &fetcher, entry).await {
            Ok(c) => Got::Read {
                reading: c.reading,
                complete: c.complete,
                hash: None,
                max_age: None,
                status: 200,
            },
            Err(e) if e.status == GONE => gone(),
            Err(e) => Got::Failed(e),
        },
        SourceKind::Ics | SourceKind::Page => fetch_one(shared, &fetcher, entry, &mut state).await,
    };
    let durable = match got {
        Got::Failed(e) => {
            failed(shared, &mut state, entry, &e, every_ms);
            true
        }
        Got::NotModified(max_age) => {
            shared.metrics.source_poll("not modified");
            settle(&mut state, 304, every_ms, max_age, shared.now());
            false
        }
        Got::Same(max_age) => {
            shared.metrics.source_poll("unchanged");
            settle(&mut state, 200, every_ms, max_age, shared.now());
            false
        }
        Got::Read {
            reading,
            complete,
            hash,
            max_age,
            status,
        } => {
            let outcome = submit(ingest, entry, (reading, complete, false), &state).await?;
            shared.metrics.source_poll("read");
            shared.metrics.source_events(&outcome.counts);
            apply(&mut state, outcome, hash);
            settle(&mut state, status, every_ms, max_age, shared.now());
            true
        }
    };
    shared
        .store
        .put_source_state(&state, durable)
        .map_err(internal)?;
    shared.changed.send_modify(|_| {});
    Ok(state)
}

/// What a poll got.
enum Got {
    /// Nothing usable: the source's state records why; nothing changes.
    Failed(FetchError),
    /// 304.
    NotModified(Option<u64>),
    /// The same body as last time.
    Same(Option<u64>),
    /// Events to take.
    Read {
        reading: super::Reading,
        /// False when part of the source could not be read (its events are not cancelled).
        complete: bool,
        hash: Option<[u8; 32]>,
        max_age: Option<u64>,
        /// 200, or 410 for a source gone for good.
        status: u16,
    },
}

/// A source whose URL answers `410 Gone`: the site says, in HTTP's own words, that it is
/// gone for good and will not be back (a deleted event page, a retired calendar). It holds
/// no events, which the "sudden shrink" rule confirms over as many polls as it asks for
/// before anything is cancelled. A 404 stays a failed poll: it is what a misconfigured or
/// moved site answers too.
fn gone() -> Got {
    Got::Read {
        reading: super::Reading {
            notes: vec!["HTTP 410 Gone: the source says its events are gone".into()],
            ..super::Reading::default()
        },
        complete: true,
        hash: None,
        max_age: None,
        status: 410,
    }
}

/// `410 Gone`, the answer [`gone`] reads as a source without events.
pub(super) const GONE: u16 = 410;

/// Fetches a feed or a page (robots.txt first for a page) and reads it unless it is the same.
async fn fetch_one(
    shared: &Shared,
    fetcher: &super::fetch::Fetcher,
    entry: &SourceEntry,
    state: &mut SourceState,
) -> Got {
    if entry.kind == SourceKind::Page {
        if let Err(e) = robots_allow(shared, fetcher, &entry.url, entry.allow_private).await {
            return Got::Failed(e);
        }
    }
    let req = Request {
        url: &entry.url,
        etag: state.etag.as_deref(),
        last_modified: state.last_modified.as_deref(),
        allow_private: entry.allow_private,
        accept: accept(entry.kind),
    };
    let (body, max_age) = match fetcher.get(&req).await {
        Err(e) if e.status == GONE => return gone(),
        Err(e) => return Got::Failed(e),
        Ok(Fetched::NotModified { max_age }) => return Got::NotModified(max_age),
        Ok(Fetched::Full { body, max_age }) => (body, max_age),
    };
    let hash: [u8; 32] = Sha256::digest(&body.bytes).into();
    state.etag = body.etag;
    state.last_modified = body.last_modified;
    if state.body_hash == Some(hash) {
        return Got::Same(max_age);
    }
    // Parsing a large feed or page is CPU work of up to a second or two: off the runtime's
    // threads, which serve HTTP and the mesh meanwhile.
    let (kind, url, tz) = (entry.kind, entry.url.clone(), entry.zone());
    let (me, limits, bytes, ctype) = (
        shared.me,
        shared.limits.clone(),
        body.bytes,
        body.content_type,
    );
    let max = usize::try_from(entry.max_events).unwrap_or(usize::MAX);
    let today = super::today(shared);
    let reading = tokio::task::spawn_blocking(move || {
        let body = (bytes.as_slice(), ctype.as_deref());
        read(kind, &url, tz, body, (&me, &limits), (max, today))
    })
    .await
    .unwrap_or_else(|e| Err(format!("reading the body failed: {e}")));
    match reading {
        Ok(reading) => Got::Read {
            reading,
            complete: true,
            hash: Some(hash),
            max_age,
            status: 200,
        },
        // Not a calendar at all (an outage page, a login wall): a failed poll, which
        // cancels nothing.
        Err(message) => Got::Failed(FetchError {
            status: 200,
            retry_after: None,
            message,
        }),
    }
}

/// The source's state; a new URL starts afresh, but its events are still the source's.
fn state_of(shared: &Shared, entry: &SourceEntry) -> Result<SourceState, discal_store::StoreError> {
    Ok(match shared.store.source_state(&entry.name)? {
        Some(s) if s.url == entry.url => s,
        Some(s) => SourceState {
            name: entry.name.clone(),
            url: entry.url.clone(),
            uids: s.uids,
            totals: s.totals,
            ..SourceState::default()
        },
        None => SourceState {
            name: entry.name.clone(),
            url: entry.url.clone(),
            ..SourceState::default()
        },
    })
}

pub(super) fn accept(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Ics => "text/calendar, */*;q=0.5",
        SourceKind::Page => "text/html, application/xhtml+xml, */*;q=0.5",
        SourceKind::Sitemap => "application/xml, text/xml, text/html, */*;q=0.5",
    }
}

/// A good answer: the next poll after the interval, or later if the source asks.
fn settle(state: &mut SourceState, status: u16, every_ms: i64, max_age: Option<u64>, now: i64) {
    state.last_status = status;
    state.last_error.clear();
    state.failures = 0;
    let asked = max_age
        .map_or(0, |s| {
            i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000)
        })
        .min(MAX_PUT_OFF_MS);
    state.next_due_ms = now + every_ms.max(asked);
}

/// A failed poll: nothing is cancelled or changed; the next try backs off (or waits as long
/// as `Retry-After` says).
fn failed(
    shared: &Shared,
    state: &mut SourceState,
    entry: &SourceEntry,
    e: &FetchError,
    every_ms: i64,
) {
    shared.metrics.source_poll("failed");
    tracing::info!(source = %entry.name, url = %entry.url, "poll failed: {e}");
    state.failures += 1;
    state.last_status = e.status;
    state.last_error = e.message.chars().take(500).collect();
    let backoff = every_ms
        .saturating_mul(1i64 << state.failures.min(10))
        .min(MAX_BACKOFF_MS)
        / 2;
    let asked = e
        .retry_after
        .map_or(0, |s| {
            i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000)
        })
        .min(MAX_PUT_OFF_MS);
    state.next_due_ms = state.last_poll_ms + backoff.max(asked).max(60_000);
}

fn apply(state: &mut SourceState, o: Outcome, hash: Option<[u8; 32]>) {
    // A feed held back as shrunk is fetched and read again in full next time: confirming it
    // needs its body, not a 304.
    state.body_hash = hash;
    if o.shrunk.is_some() {
        state.body_hash = None;
        state.etag = None;
        state.last_modified = None;
    }
    let t = &mut state.totals;
    t.seen = o.counts.seen;
    t.new += o.counts.new;
    t.changed += o.counts.changed;
    t.cancelled += o.counts.cancelled;
    t.refused += o.counts.refused;
    state.counts = o.counts;
    state.uids = o.uids;
    state.shrunk = o.shrunk;
    state.problems = o.problems;
}

/// The events in a body, by the source's kind; `Err` when the body is not of that kind at
/// all (which cancels nothing). A feed holding more than `max` events is cut to the `max`
/// nearest `today` before it is parsed.
pub fn read(
    kind: SourceKind,
    url: &str,
    tz: Option<discal_protocol::Tz>,
    (bytes, content_type): (&[u8], Option<&str>),
    (me, limits): (&discal_protocol::NodeKey, &discal_protocol::Limits),
    (max, today): (usize, discal_protocol::model::Date),
) -> Result<super::Reading, String> {
    match kind {
        SourceKind::Ics => {
            let text = super::charset::text_of(bytes, content_type, false);
            let head: String = text.chars().take(4096).collect();
            if !head.to_ascii_uppercase().contains("BEGIN:VCALENDAR") {
                let start: String = text.trim_start().chars().take(60).collect();
                let html = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"))
                    || start.starts_with('<');
                let hint = if html {
                    "; it is a web page (if the URL is an event page rather than a feed, \
                     subscribe to it with `--kind page`, or `--kind sitemap` for a page that \
                     links to events)"
                } else {
                    ""
                };
                return Err(format!(
                    "not valid iCalendar: no BEGIN:VCALENDAR at the start (it begins {start:?}){hint}"
                ));
            }
            let nearest = discal_protocol::ics::nearest_events(&text, max, today);
            let text = nearest.as_ref().map_or(&*text, |n| n.text.as_str());
            match parse_calendar(text, me, limits) {
                Ok(imp) => {
                    let cut_off = imp.cut_off || nearest.as_ref().is_some_and(|n| !n.ended);
                    let (left_out, unnamed_left_out) =
                        nearest.map_or((Vec::new(), 0), |n| (n.left_out, n.unnamed));
                    Ok(super::Reading {
                        events: imp.events,
                        refused: imp.errors.iter().map(ToString::to_string).collect(),
                        notes: Vec::new(),
                        left_out,
                        unnamed_left_out,
                        cut_off,
                        zone: imp.calendar_zone,
                    })
                }
                // A calendar with no events is an empty feed (the shrink guard weighs it).
                Err(discal_protocol::ics::IcsError::NoEvents) => Ok(super::Reading::default()),
                Err(e) => Err(e.to_string()),
            }
        }
        SourceKind::Page | SourceKind::Sitemap => {
            let text = super::charset::text_of(bytes, content_type, true);
            let page = super::page::read_page(&text, url, tz, me, limits);
            Ok(page.reading)
        }
    }
}

/// The part of a robots.txt that is read (RFC 9309 §2.5 asks for at least 500 KiB).
const MAX_ROBOTS_BYTES: usize = 500 * 1024;

/// A robots.txt's rules for DisCal, from its first 500 KiB (to the last whole line). Each rule
/// is a pattern checked in turn, so a robots.txt of 100,000 rules (2.5 MB) took 4.4 s to read
/// and 1.9 s per page checked before the cut; `None` if it cannot be read.
pub fn read_robots(mut bytes: Vec<u8>) -> Option<texting_robots::Robot> {
    if bytes.len() > MAX_ROBOTS_BYTES {
        let end = bytes[..MAX_ROBOTS_BYTES]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap_or(MAX_ROBOTS_BYTES);
        bytes.truncate(end);
    }
    texting_robots::Robot::new("DisCal", &bytes).ok()
}

/// How long a site's robots.txt is trusted before it is read again.
const ROBOTS_TTL_MS: i64 = 24 * 3600 * 1000;
/// The longest Crawl-delay honoured by waiting (a longer one still spaces this node's polls
/// of the site, through their schedule).
const MAX_CRAWL_DELAY_SECS: f32 = 60.0;

/// Whether the site's robots.txt lets DisCal fetch the page, waiting out its Crawl-delay. A
/// missing robots.txt (4xx) allows everything; one that cannot be read now (5xx, no answer)
/// allows nothing until it can (RFC 9309 §2.3.1).
pub(super) async fn robots_allow(
    shared: &Shared,
    fetcher: &super::fetch::Fetcher,
    url: &str,
    allow_private: bool,
) -> Result<(), FetchError> {
    let fail = |message: String| FetchError {
        status: 0,
        retry_after: None,
        message,
    };
    let robots_url = texting_robots::get_robots_url(url)
        .map_err(|e| fail(format!("robots.txt of {url}: {e}")))?;
    let now = shared.now();
    let cached = shared
        .sources
        .robots
        .lock()
        .ok()
        .and_then(|m| m.get(&robots_url).cloned())
        .filter(|(at, _)| now - at < ROBOTS_TTL_MS);
    let robot = match cached {
        Some((_, r)) => r,
        None => {
            let req = Request {
                url: &robots_url,
                etag: None,
                last_modified: None,
                allow_private,
                accept: "text/plain",
            };
            let r = match fetcher.get(&req).await {
                Ok(Fetched::Full { body, .. }) => {
                    tokio::task::spawn_blocking(move || read_robots(body.bytes).map(Arc::new))
                        .await
                        .ok()
                        .flatten()
                }
                Ok(Fetched::NotModified { .. }) => None,
                Err(e) if (400..500).contains(&e.status) => None,
                Err(e) => return Err(fail(format!("robots.txt unreadable, so not crawling: {e}"))),
            };
            if let Ok(mut m) = shared.sources.robots.lock() {
                m.insert(robots_url.clone(), (now, r.clone()));
            }
            r
        }
    };
    let Some(robot) = robot else {
        return Ok(());
    };
    let (r, page) = (robot.clone(), url.to_string());
    let allowed = tokio::task::spawn_blocking(move || r.allowed(&page))
        .await
        .unwrap_or(false);
    if !allowed {
        return Err(fail(format!("{robots_url} disallows {url} for DisCal")));
    }
    if let Some(delay) = robot.delay.filter(|d| *d > 0.0) {
        let wait = Duration::from_secs_f32(delay.min(MAX_CRAWL_DELAY_SECS));
        let at = {
            let Ok(mut m) = shared.sources.crawl_next.lock() else {
                return Ok(());
            };
            let t = tokio::time::Instant::now();
            let slot = m.entry(robots_url).or_insert(t);
            let at = (*slot).max(t);
            *slot = at + wait;
            at
        };
        tokio::time::sleep_until(at).await;
    }
    Ok(())
}

/// Hands what was read to the ingest worker. `partial`: the reading holds only some of the
/// source's events (a push), so nothing missing from it is cancelled.
pub(crate) async fn submit(
    ingest: &mpsc::Sender<Job>,
    entry: &SourceEntry,
    (reading, complete, partial): (super::Reading, bool, bool),
    state: &SourceState,
) -> Result<Outcome, WriteError> {
    let (reply, rx) = oneshot::channel();
    let batch = Box::new(Batch {
        entry: entry.clone(),
        reading,
        complete,
        partial,
        state: state.clone(),
    });
    let gone = || WriteError::Unavailable("node is shutting down".into());
    ingest
        .send(Job::Source { batch, reply })
        .await
        .map_err(|_| gone())?;
    rx.await.map_err(|_| gone())?
}
