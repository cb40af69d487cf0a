//! Filtered, windowed queries: [`crate::Store::select`] from the indexes, then reading and expanding
//! what the indexes cannot settle.

use std::sync::Arc;

use discal_protocol::EventKey;

use crate::index::{self, Index, Span};
use crate::read::origin_key;
use crate::{
    parallel, BBox, Hit, KeyHit, KeyResult, Query, QueryResult, Selected, Selection, Store,
    StoreError, StoredEvent,
};

/// Floating and all-day times are indexed as UTC; viewers' zones are within ±14 h of it.
const ZONE_SLACK_SECS: i64 = 86_400;

/// From this many records to read and expand, a query uses two threads.
const PARALLEL_LOADS: usize = 32;

impl Store {
    /// Answers a query: [`crate::Store::select`], then reads the first `limit` matches.
    pub fn query(&self, q: &Query) -> Result<QueryResult, StoreError> {
        let sel = self.select(q)?;
        let mut result = QueryResult::default();
        let mut hits: Vec<Hit> = Vec::new();
        // Items whose place in the order is only estimated are read first (they are few:
        // unbounded recurring and floating events); the rest have exact starts and are read in
        // order until `limit` of them matched.
        let (uncertain, certain): (Vec<&Selected>, Vec<&Selected>) =
            sel.items.iter().partition(|s| !s.certain);
        // Recurring events whose first start in the window the cached expansions know are as
        // good as certain: only those that make the page are read (a home page over
        // thousands of weekly events read and expanded every one of them).
        let (settled, unsettled) = self.settle(uncertain, q, &mut result.truncated)?;
        let (loaded, cut) = self.load_many(&unsettled, q)?;
        result.truncated |= cut;
        hits.extend(loaded);
        let merge = !settled.is_empty();
        let mut ordered: Vec<(i64, u64, &Selected)> = certain
            .into_iter()
            .map(|s| (s.start, s.seq, s))
            .chain(settled)
            .collect();
        // The certain items come in start order; settled ones are merged in.
        if merge {
            ordered.sort_by_key(|(start, seq, _)| (*start, *seq));
        }
        let mut taken = 0usize;
        for (_, _, s) in ordered {
            if taken == q.limit {
                result.truncated = true;
                break;
            }
            if let Some(h) = self.load(s, q, &mut result.truncated)? {
                hits.push(h);
                taken += 1;
            }
        }
        if q.window.is_some() {
            hits.sort_by_key(|h| (h.occurrences[0].start, h.event.seq));
        }
        if hits.len() > q.limit {
            hits.truncate(q.limit);
            result.truncated = true;
        }
        result.hits = hits;
        Ok(result)
    }

    /// Splits estimated items into those whose first start in the window the cached
    /// expansions settle (with that start; those without an instance in the window dropped)
    /// and the rest, which must be read.
    #[allow(clippy::type_complexity)]
    fn settle<'a>(
        &self,
        uncertain: Vec<&'a Selected>,
        q: &Query,
        truncated: &mut bool,
    ) -> Result<(Vec<(i64, u64, &'a Selected)>, Vec<&'a Selected>), StoreError> {
        // With a text condition too: settled items are still read (in order, until the page
        // is full) and the text checked there, but no longer every one of them.
        let Some((from, to)) = q.window else {
            return Ok((Vec::new(), uncertain));
        };
        let idx = self.read_index()?;
        let (mut settled, mut rest) = (Vec::new(), Vec::new());
        for s in uncertain {
            let known = idx
                .entry(s.seq)
                .and_then(|e| self.cached_first_start(e.id, from, to, q.floating_tz));
            match known {
                Some((Some(start), cut)) => {
                    *truncated |= cut;
                    settled.push((start, s.seq, s));
                }
                Some((None, cut)) => *truncated |= cut,
                None => rest.push(s),
            }
        }
        Ok((settled, rest))
    }

    /// The same matches as [`crate::Store::query`], in the same order, reading only the records that
    /// the indexes and cached expansions cannot settle. Reading and decoding records was most
    /// of a month query's cost (docs/performance.md); callers that need only keys and
    /// revisions (CalDAV with cached calendar objects) skip it. Recurring events are settled
    /// from cached expansions, which [`crate::Store::prepare_year`] fills at start.
    pub fn query_keys(&self, q: &Query) -> Result<KeyResult, StoreError> {
        let sel = self.select(q)?;
        let mut out = KeyResult::default();
        let mut unsettled: Vec<&Selected> = Vec::new();
        let mut hits: Vec<KeyHit> = Vec::new();
        {
            let idx = self.read_index()?;
            let mut keys = Default::default();
            for s in &sel.items {
                let Some(e) = idx.entry(s.seq) else {
                    continue;
                };
                let settled = if s.certain {
                    Some((Some(s.start), false))
                } else {
                    match (q.window, q.text.is_some() || q.place.is_some()) {
                        (Some((from, to)), false) => {
                            self.cached_first_start(e.id, from, to, q.floating_tz)
                        }
                        _ => None,
                    }
                };
                let Some((start, cut)) = settled else {
                    unsettled.push(s);
                    continue;
                };
                out.truncated |= cut;
                if let Some(start) = start {
                    hits.push(KeyHit {
                        seq: s.seq,
                        key: EventKey {
                            origin: origin_key(&mut keys, e.origin())?,
                            uid: String::from_utf8_lossy(&e.ident[32..]).into_owned(),
                        },
                        merge: e.merge_key(),
                        start,
                        event: None,
                    });
                }
            }
        }
        let (read, cut) = self.load_many(&unsettled, q)?;
        out.truncated |= cut;
        hits.extend(read.into_iter().map(|h| KeyHit {
            seq: h.event.seq,
            key: h.event.key(),
            merge: h.event.merge_key(),
            start: h.occurrences.first().map_or(0, |o| o.start.timestamp()),
            event: Some(Box::new(h.event)),
        }));
        if q.window.is_some() {
            // Sequence numbers are unique, so an unstable sort gives the one order, and needs
            // no buffer.
            hits.sort_unstable_by_key(|h| (h.start, h.seq));
        }
        if hits.len() > q.limit {
            hits.truncate(q.limit);
            out.truncated = true;
        }
        out.hits = hits;
        Ok(out)
    }

    /// The events whose earliest start (floating and all-day values read as UTC) lies in
    /// `[from, to)` seconds, read whole but not expanded, at most `limit` of them: what the
    /// collector compares one event with, since two listings of one real event start at most
    /// 12 hours apart. From the indexes, one read per candidate; a window query would also
    /// read and expand every series with an instance in the window (on an event page of a
    /// calendar of 100,000 events, 3 ms of its 3.5). A series whose first instance is not its
    /// DTSTART (an earlier RDATE, an EXDATE on it) is found by that first instance.
    pub fn starting_between(
        &self,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let seqs: Vec<u64> = {
            let idx = self.read_index()?;
            let first = |seq: u64| match idx.entry(seq)?.span {
                Span::Short { start, .. } | Span::Long { start, .. } => Some(start),
            };
            let mut seqs: Vec<u64> = idx
                .by_start
                .range((from, 0)..(to, 0))
                .map(|(&(_, seq), _)| seq)
                .chain(idx.long.iter().copied())
                .filter(|&seq| first(seq).is_some_and(|s| (from..to).contains(&s)))
                .collect();
            seqs.sort_unstable();
            seqs.dedup();
            seqs.truncate(limit);
            seqs
        };
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(e) = self.current_record(seq)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Reads and settles `items`, many of them on two threads (their expansion is most of the
    /// work); true in the second place if an expansion bound cut an answer.
    fn load_many(&self, items: &[&Selected], q: &Query) -> Result<(Vec<Hit>, bool), StoreError> {
        let load_all = |part: &[&Selected]| -> Result<(Vec<Hit>, bool), StoreError> {
            let mut cut = false;
            let mut out = Vec::new();
            for s in part {
                if let Some(h) = self.load(s, q, &mut cut)? {
                    out.push(h);
                }
            }
            Ok((out, cut))
        };
        parallel::on_two_threads(
            items,
            PARALLEL_LOADS,
            StoreError::Poisoned,
            load_all,
            |(mut hits, cut_a), (more, cut_b)| {
                hits.extend(more);
                (hits, cut_a || cut_b)
            },
        )
    }

    /// Which events match, from the in-memory indexes alone: no record is read. Items come in
    /// order of (estimated) first start within the window, ties by change sequence; without a
    /// window, in change order (oldest change first).
    /// Items marked `certain` are known to match; the others ([`Query::text`], floating and
    /// unbounded recurring events) are settled by [`crate::Store::load`]. This is what pagination and
    /// "N more" counts are built on.
    pub fn select(&self, q: &Query) -> Result<Selection, StoreError> {
        let idx = self.read_index()?;
        let filter = Filter::new(q, &idx);
        let text_pending = q.text.is_some() || q.place.is_some();
        let mut items: Vec<Selected> = Vec::new();
        let mut push = |seq: u64, start: i64, certain: bool| {
            items.push(Selected {
                seq,
                start,
                certain: certain && !text_pending,
            });
        };
        match q.window {
            Some((from, to)) => {
                let (f, t) = (from.timestamp(), to.timestamp());
                let lo = f - index::SHORT_EVENT_SECS - ZONE_SLACK_SECS;
                let mut seen = std::collections::HashSet::new();
                for (&(start, seq), &end) in idx.by_start.range((lo, 0)..(t + ZONE_SLACK_SECS, 0)) {
                    let Some(info) = idx.entry(seq) else {
                        continue;
                    };
                    let hit = if info.zone_free {
                        // Exact: an instant event counts if it starts in the window.
                        start < t && (end > f || (end == start && start >= f))
                    } else {
                        end >= f - ZONE_SLACK_SECS
                    };
                    if hit && !seen.contains(&seq) && filter.keep(&idx, info) {
                        seen.insert(seq);
                        push(seq, start, info.zone_free);
                    }
                }
                for seq in &idx.long {
                    let Some(info) = idx.entry(*seq) else {
                        continue;
                    };
                    if let Span::Long { start, end } = info.span {
                        if start < t + ZONE_SLACK_SECS
                            && end.is_none_or(|e| e >= f - ZONE_SLACK_SECS)
                            && filter.keep(&idx, info)
                        {
                            push(*seq, start.max(f), false);
                        }
                    }
                }
            }
            None => {
                // The most selective index that applies picks the candidates; the filter
                // checks the rest.
                let seqs: Vec<u64> = if filter.tags_requested {
                    let mut v: Vec<u64> =
                        filter.tags.iter().flat_map(|t| idx.with_tag(*t)).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                } else if let Some(b) = filter.bbox {
                    let lo = (index::micro(b.south), i32::MIN, 0);
                    let hi = (index::micro(b.north), i32::MAX, u64::MAX);
                    idx.geo.range(lo..=hi).map(|(_, _, s)| *s).collect()
                } else {
                    idx.idents().map(|(_, s)| s).collect()
                };
                for seq in seqs {
                    if let Some(info) = idx.entry(seq) {
                        if filter.keep(&idx, info) {
                            push(seq, 0, true);
                        }
                    }
                }
            }
        }
        items.sort_unstable_by_key(|s| (s.start, s.seq));
        Ok(Selection { items })
    }

    /// Reads a selected event (in its newer revision if one replaced it since `select`) and,
    /// with a window, expands it; `None` if it is gone or turned out not to match.
    pub fn load(
        &self,
        s: &Selected,
        q: &Query,
        truncated: &mut bool,
    ) -> Result<Option<Hit>, StoreError> {
        let Some(ev) = self.current_record(s.seq)? else {
            return Ok(None);
        };
        if !keep_text(q, &ev) {
            return Ok(None);
        }
        let Some((from, to)) = q.window else {
            return Ok(Some(Hit {
                event: ev,
                occurrences: Vec::new(),
                also: Vec::new(),
            }));
        };
        let x = self.expansion(&ev, from, to, q.floating_tz);
        *truncated |= x.truncated;
        if x.occurrences.is_empty() {
            return Ok(None);
        }
        // Uncached (one-off) expansions are owned here and moved, not copied.
        let occurrences =
            Arc::try_unwrap(x).map_or_else(|shared| shared.occurrences.clone(), |x| x.occurrences);
        Ok(Some(Hit {
            event: ev,
            occurrences,
            also: Vec::new(),
        }))
    }
}

/// A query's conditions other than time and text, prepared once against the index (tags as
/// the index's tag ids).
struct Filter {
    /// True if the query asked for tags: then an event needs one of `tags` (none of which may
    /// be known to the index, and then nothing matches).
    tags_requested: bool,
    tags: Vec<u32>,
    excluded: Vec<u32>,
    origin: Option<[u8; 32]>,
    bbox: Option<BBox>,
    include_cancelled: bool,
}

impl Filter {
    fn new(q: &Query, idx: &Index) -> Self {
        let ids = |tags: &[String]| -> Vec<u32> {
            tags.iter()
                .filter_map(|t| idx.tag_id(&t.to_lowercase()))
                .collect()
        };
        Self {
            tags_requested: !q.tags.is_empty(),
            tags: ids(&q.tags),
            excluded: ids(&q.exclude_tags),
            origin: q.origin.map(|o| *o.as_bytes()),
            bbox: q.bbox,
            include_cancelled: q.include_cancelled,
        }
    }

    fn keep(&self, idx: &Index, e: &index::Entry) -> bool {
        if !self.include_cancelled && e.cancelled {
            return false;
        }
        if self.origin.is_some_and(|o| o[..] != *e.origin()) {
            return false;
        }
        let has = idx.tag_ids_of(e);
        if self.tags_requested && !self.tags.iter().any(|t| has.contains(t)) {
            return false;
        }
        if self.excluded.iter().any(|t| has.contains(t)) {
            return false;
        }
        if let Some(b) = self.bbox {
            match e.geo {
                Some((lat, lon)) if b.contains(lat as f64 / 1e6, lon as f64 / 1e6) => {}
                _ => return false,
            }
        }
        true
    }
}

impl Query {
    /// Whether one event meets the query's conditions other than its window and limit (tags,
    /// origin, box, text, place, cancelled): what a push destination's filter asks of each
    /// change, without a query over the store.
    pub fn admits(&self, e: &StoredEvent) -> bool {
        if !self.include_cancelled && e.content().is_cancelled() {
            return false;
        }
        if self.origin.is_some_and(|o| o != e.payload.origin) {
            return false;
        }
        let has = index::tags_of(e.content());
        let lower = |t: &String| t.to_lowercase();
        if !self.tags.is_empty() && !self.tags.iter().map(lower).any(|t| has.contains(&t)) {
            return false;
        }
        if self
            .exclude_tags
            .iter()
            .map(lower)
            .any(|t| has.contains(&t))
        {
            return false;
        }
        if let Some(b) = self.bbox {
            match e.content().master.geo {
                Some(g) if b.contains(g.lat, g.lon) => {}
                _ => return false,
            }
        }
        keep_text(self, e)
    }
}

/// The one condition the index cannot answer: a case-insensitive substring of SUMMARY,
/// DESCRIPTION or LOCATION.
fn keep_text(q: &Query, e: &StoredEvent) -> bool {
    let m = &e.content().master;
    let has = |field: &Option<String>, t: &str| {
        field
            .as_deref()
            .is_some_and(|s| s.to_lowercase().contains(t))
    };
    let text = q.text.as_deref().is_none_or(|t| {
        let t = t.to_lowercase();
        [&m.summary, &m.description, &m.location]
            .into_iter()
            .any(|f| has(f, &t))
    });
    text && q
        .place
        .as_deref()
        .is_none_or(|p| has(&m.location, &p.to_lowercase()))
}
