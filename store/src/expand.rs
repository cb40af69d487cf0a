//! Expanding recurring events for queries, through a bounded cache of per-year expansions.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use discal_protocol::recur;
use discal_protocol::{EventId, Tz};

use crate::{Query, Store, StoreError, StoredEvent};

/// Expansions of recurring events by (revision, window, zone for floating times). Views of the
/// same month with different filters, formats or pages expand the same rules; expanding is most
/// of a query's cost (docs/performance.md). A revision's content never changes, so entries are
/// never stale. Two generations bound it: when the young one is full (in entries or in
/// occurrences held) it becomes the old one, and what is still used is carried over on its next
/// hit, which approximates LRU without per-entry bookkeeping.
pub(crate) struct ExpansionCache {
    gens: Mutex<(Generation, Generation)>,
}

/// (revision, window start, window end, zone floating times were read in): `None` for an
/// event with no floating or all-day value, whose instances are the same in every zone, so
/// that views in any zone share its expansions.
type ExpansionKey = (EventId, i64, i64, Option<Tz>);

/// The zone part of an expansion's key: see [`ExpansionKey`].
fn key_zone(c: &discal_protocol::EventContent, tz: Tz) -> Option<Tz> {
    use discal_protocol::model::{DateTimeValue, End};
    let fixed =
        |v: &DateTimeValue| matches!(v, DateTimeValue::Utc(_) | DateTimeValue::Zoned { .. });
    let independent = c.components().all(|x| {
        fixed(&x.start)
            && x.recurrence_id.as_ref().is_none_or(fixed)
            && !matches!(&x.end, Some(End::At(v)) if !fixed(v))
            && x.rdates.iter().all(fixed)
            && x.exdates.iter().all(fixed)
    });
    (!independent).then_some(tz)
}

#[derive(Default)]
struct Generation {
    map: std::collections::HashMap<ExpansionKey, Arc<recur::Expansion>>,
    occurrences: usize,
}

/// Entries per generation: a month of every recurring event of a large store, a few times over.
pub(crate) const EXPANSIONS_PER_GEN: usize = 8192;

/// Occurrences per generation (≈ 60 bytes each): a year of a daily rule holds 365, so year
/// expansions would otherwise let 8,192 entries grow to hundreds of MB.
pub(crate) const OCCURRENCES_PER_GEN: usize = 400_000;

impl ExpansionCache {
    pub(crate) fn new() -> Self {
        Self {
            gens: Mutex::new(Default::default()),
        }
    }

    fn get(&self, key: &ExpansionKey) -> Option<Arc<recur::Expansion>> {
        let mut g = self.gens.lock().ok()?;
        if let Some(x) = g.0.map.get(key) {
            return Some(x.clone());
        }
        let x = g.1.map.remove(key)?;
        g.1.occurrences -= x.occurrences.len();
        Self::insert(&mut g, *key, x.clone());
        Some(x)
    }

    fn put(&self, key: ExpansionKey, x: Arc<recur::Expansion>) {
        if let Ok(mut g) = self.gens.lock() {
            Self::insert(&mut g, key, x);
        }
    }

    fn insert(g: &mut (Generation, Generation), key: ExpansionKey, x: Arc<recur::Expansion>) {
        if g.0.map.len() >= EXPANSIONS_PER_GEN
            || g.0.occurrences + x.occurrences.len() > OCCURRENCES_PER_GEN
        {
            g.1 = std::mem::take(&mut g.0);
        }
        g.0.occurrences += x.occurrences.len();
        if let Some(old) = g.0.map.insert(key, x) {
            g.0.occurrences -= old.occurrences.len();
        }
    }
}

/// A window's instances cut from the expansions of the (at most two) calendar years it lies
/// in, which `year` gives; `None` if the window spans more than two years or `year` gave none
/// for one of them (not at hand, or cut short by a limit, when the window alone may not be).
pub(crate) fn cut_from_years(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    year: impl Fn(i32) -> Option<Arc<recur::Expansion>>,
) -> Option<Arc<recur::Expansion>> {
    let first = from.year();
    let last = (to - chrono::Duration::nanoseconds(1)).year();
    if to <= from || last - first > 1 {
        return None;
    }
    if first == last && year_window(first) == Some((from, to)) {
        return year(first);
    }
    let mut occurrences = Vec::new();
    for y in first..=last {
        let x = year(y)?;
        occurrences.extend(
            x.occurrences
                .iter()
                .filter(|o| o.overlaps(from, to))
                .cloned(),
        );
    }
    // An instance across New Year is in both years' expansions.
    occurrences.sort_by_key(|o| (o.start, o.component));
    occurrences.dedup_by_key(|o| (o.start, o.component));
    Some(Arc::new(recur::Expansion {
        occurrences,
        truncated: false,
    }))
}

/// `[Jan 1, Jan 1 of the next year)` in UTC.
pub(crate) fn year_window(year: i32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    Some((
        Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single()?,
        Utc.with_ymd_and_hms(year.checked_add(1)?, 1, 1, 0, 0, 0)
            .single()?,
    ))
}

impl Store {
    /// The instances of `ev` overlapping `[from, to)`; recurring events' through the cache,
    /// cut from the expansions of the (at most two) calendar years the window lies in. A year is
    /// expanded for about what a month costs (most of an expansion is setting the rule up), so
    /// every later window in it, whatever its bounds, is a cut rather than an expansion.
    pub(crate) fn expansion(
        &self,
        ev: &StoredEvent,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
    ) -> Arc<recur::Expansion> {
        let expand =
            || Arc::new(recur::expand(ev.content(), from, to, tz, self.expand).unwrap_or_default());
        if !ev.content().master.is_recurring() {
            return expand();
        }
        let key = (
            ev.id,
            from.timestamp(),
            to.timestamp(),
            key_zone(ev.content(), tz),
        );
        if let Some(x) = self.expansions.get(&key) {
            return x;
        }
        let x = cut_from_years(from, to, |year| self.year_expansion(ev, year, tz))
            .unwrap_or_else(expand);
        self.expansions.put(key, x.clone());
        x
    }

    /// The first start (UTC seconds) of a recurring event's instances in `[from, to)`, `None`
    /// inside if it has none, and whether an expansion bound cut the answer; from the cache
    /// alone, or `None` if the cache cannot tell (then the event must be read and expanded).
    /// Unlike [`crate::Store::expansion`] it makes no cut of the window: the first query of a window
    /// after a start would otherwise copy every recurring event's instances in it.
    pub(crate) fn cached_first_start(
        &self,
        id: EventId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        tz: Tz,
    ) -> Option<(Option<i64>, bool)> {
        // The record is not at hand to say which key it has: a zone-independent event's
        // expansions are only ever under `None`, so that one is right whenever present.
        let get = |a: i64, b: i64| {
            self.expansions
                .get(&(id, a, b, None))
                .or_else(|| self.expansions.get(&(id, a, b, Some(tz))))
        };
        if let Some(x) = get(from.timestamp(), to.timestamp()) {
            return Some((
                x.occurrences.first().map(|o| o.start.timestamp()),
                x.truncated,
            ));
        }
        let first = from.year();
        let last = (to - chrono::Duration::nanoseconds(1)).year();
        if to <= from || last - first > 1 {
            return None;
        }
        let mut start: Option<i64> = None;
        for year in first..=last {
            let (a, b) = year_window(year)?;
            let x = get(a.timestamp(), b.timestamp())?;
            if x.truncated {
                return None;
            }
            // Instances come by start, and none starting at or after `to` overlaps.
            let hit = x
                .occurrences
                .iter()
                .take_while(|o| o.start < to)
                .find(|o| o.overlaps(from, to))
                .map(|o| o.start.timestamp());
            start = match (start, hit) {
                (Some(s), Some(h)) => Some(s.min(h)),
                (s, h) => s.or(h),
            };
        }
        Some((start, false))
    }

    fn year_expansion(&self, ev: &StoredEvent, year: i32, tz: Tz) -> Option<Arc<recur::Expansion>> {
        let (from, to) = year_window(year)?;
        let key = (
            ev.id,
            from.timestamp(),
            to.timestamp(),
            key_zone(ev.content(), tz),
        );
        let x = match self.expansions.get(&key) {
            Some(x) => x,
            None => {
                let x = Arc::new(recur::expand(ev.content(), from, to, tz, self.expand).ok()?);
                self.expansions.put(key, x.clone());
                x
            }
        };
        (!x.truncated).then_some(x)
    }

    /// Expands every recurring event with instances in `year` over the whole year (floating
    /// times read in `tz`), so the first query of any window in it after a start costs what
    /// later ones do. Meant for a background thread at start; returns the events expanded.
    pub fn prepare_year(&self, year: i32, tz: Tz) -> Result<usize, StoreError> {
        let Some(window) = year_window(year) else {
            return Ok(0);
        };
        let q = Query {
            window: Some(window),
            floating_tz: tz,
            limit: usize::MAX,
            ..Query::default()
        };
        let mut n = 0;
        for s in self.select(&q)?.items {
            // One-offs are read in vain here: the index does not say which events recur.
            if let Some(ev) = self.record(s.seq)? {
                if ev.content().master.is_recurring()
                    && self.year_expansion(&ev, year, tz).is_some()
                {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Transit;
    use discal_protocol::model::LocalDateTime;
    use discal_protocol::recur::ExpandLimits;
    use discal_protocol::{sign, EventId, Limits, NodeSecret, VerifiedEvent};

    #[test]
    fn the_expansion_cache_is_bounded_and_keeps_what_is_used() {
        let c = ExpansionCache::new();
        let key = |i: u64| {
            let mut id = [0u8; 32];
            id[..8].copy_from_slice(&i.to_be_bytes());
            (EventId(id), 0, 1, Some(Tz::UTC))
        };
        let x = Arc::new(recur::Expansion::default());
        c.put(key(0), x.clone());
        for i in 1..(EXPANSIONS_PER_GEN as u64 * 5) {
            c.put(key(i), x.clone());
            // Entry 0 is used all along, so it survives every generation change.
            if i % 1000 == 0 {
                assert!(c.get(&key(0)).is_some(), "lost at {i}");
            }
        }
        let g = c.gens.lock().unwrap();
        assert!(g.0.map.len() + g.1.map.len() <= 2 * EXPANSIONS_PER_GEN);
        drop(g);
        assert!(c.get(&key(1)).is_none(), "an old unused entry was dropped");
        // Years of a daily rule: bounded by the occurrences they hold, not their number.
        let day = recur::Occurrence {
            start: Utc::now(),
            end: Utc::now(),
            recurrence_id: LocalDateTime::from_chrono(Utc::now().naive_utc()),
            component: 0,
            all_day: false,
        };
        let year = Arc::new(recur::Expansion {
            occurrences: vec![day; 365],
            truncated: false,
        });
        for i in 0..10_000 {
            c.put(key(i), year.clone());
        }
        let g = c.gens.lock().unwrap();
        let held: usize = [&g.0, &g.1]
            .iter()
            .flat_map(|g| g.map.values())
            .map(|x| x.occurrences.len())
            .sum();
        assert_eq!(held, g.0.occurrences + g.1.occurrences);
        assert!(held <= 2 * OCCURRENCES_PER_GEN, "{held}");
    }

    /// A weekly Berlin rule across New Year with an exception and a moved instance, a
    /// floating daily rule and an all-day monthly one, stored.
    fn rules() -> (Store, Vec<VerifiedEvent>) {
        let secret = NodeSecret::from_seed_array([8; 32]);
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\n\
            BEGIN:VEVENT\r\nUID:w@t\r\nDTSTART;TZID=Europe/Berlin:20251229T233000\r\n\
            DURATION:PT2H\r\nRRULE:FREQ=WEEKLY;BYDAY=MO,FR\r\nEXDATE;TZID=Europe/Berlin:20260330T233000\r\n\
            SUMMARY:late\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:w@t\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261228T233000\r\n\
            DTSTART;TZID=Europe/Berlin:20270102T100000\r\nDURATION:PT1H\r\nSUMMARY:moved\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:d@t\r\nDTSTART:20260115T120000\r\nRRULE:FREQ=DAILY;INTERVAL=3\r\n\
            SUMMARY:floating\r\nEND:VEVENT\r\n\
            BEGIN:VEVENT\r\nUID:m@t\r\nDTSTART;VALUE=DATE:20250131\r\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=40\r\n\
            SUMMARY:all day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let import =
            discal_protocol::ics::parse_calendar(ics, &secret.public(), &Limits::default())
                .unwrap();
        let store = Store::memory();
        let evs: Vec<VerifiedEvent> = import
            .events
            .into_iter()
            .map(|e| sign(&secret, e.uid, 0, 0, e.content, &Limits::default()).unwrap())
            .collect();
        store
            .apply_batch(evs.iter().map(|e| (e, Transit::local())), 0)
            .unwrap();
        (store, evs)
    }

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    /// Windows cut from year expansions are exactly what expanding the window gives: across
    /// New Year, daylight-saving changes, exceptions, a moved instance, and for exact years.
    #[test]
    fn windows_cut_from_years_equal_direct_expansions() {
        let (store, evs) = rules();
        let mut windows = vec![
            (at(2026, 1, 1, 0), at(2027, 1, 1, 0)),
            (at(2026, 12, 1, 0), at(2027, 2, 1, 0)),
            (at(2026, 12, 28, 22), at(2026, 12, 29, 1)),
            (at(2027, 1, 2, 9), at(2027, 1, 2, 11)),
            // Friday 2027-12-31 23:30 Berlin runs into 2028 (UTC): in both years' expansions.
            (at(2027, 12, 31, 20), at(2028, 1, 1, 2)),
            (at(2026, 3, 28, 0), at(2026, 4, 2, 0)),
            (at(2026, 10, 24, 0), at(2026, 10, 27, 0)),
            (at(2025, 6, 1, 0), at(2028, 1, 1, 0)),
        ];
        for m in 0..36 {
            let from = at(2025 + m / 12, (m % 12) as u32 + 1, 1, 0);
            windows.push((from, from + chrono::Months::new(1)));
            windows.push((
                from + chrono::Duration::days(9),
                from + chrono::Duration::days(30),
            ));
        }
        for tz in [Tz::UTC, Tz::America__New_York] {
            for e in &evs {
                let ev = store.get(&e.key()).unwrap().unwrap();
                for &(from, to) in &windows {
                    let direct =
                        recur::expand(ev.content(), from, to, tz, ExpandLimits::default()).unwrap();
                    let got = store.expansion(&ev, from, to, tz);
                    assert_eq!(
                        got.occurrences, direct.occurrences,
                        "{} {from}..{to} {tz}",
                        ev.payload.uid
                    );
                    assert_eq!(got.truncated, direct.truncated);
                }
            }
        }
        assert_eq!(
            store.prepare_year(2030, Tz::UTC).unwrap(),
            2,
            "the two unbounded rules"
        );
    }

    /// The cut path is taken: the years are in the cache, a zoned rule's once for every zone
    /// (so a view in a new zone reuses it), a floating one's per zone.
    #[test]
    fn zoned_rules_share_their_expansions_across_zones() {
        let (store, evs) = rules();
        for tz in [Tz::UTC, Tz::America__New_York] {
            for e in &evs {
                let ev = store.get(&e.key()).unwrap().unwrap();
                store.expansion(&ev, at(2026, 3, 1, 0), at(2026, 4, 1, 0), tz);
            }
        }
        let (y0, y1) = year_window(2026).unwrap();
        let (a, b) = (y0.timestamp(), y1.timestamp());
        let zoned = store.get(&evs[0].key()).unwrap().unwrap();
        let floating = store.get(&evs[1].key()).unwrap().unwrap();
        assert!(store.expansions.get(&(zoned.id, a, b, None)).is_some());
        assert!(store
            .expansions
            .get(&(zoned.id, a, b, Some(Tz::UTC)))
            .is_none());
        assert!(store.expansions.get(&(floating.id, a, b, None)).is_none());
        for tz in [Tz::UTC, Tz::America__New_York] {
            assert!(store
                .expansions
                .get(&(floating.id, a, b, Some(tz)))
                .is_some());
        }
        // A zone no view has used yet: the zoned rule's first start is known without a read,
        // the floating one's is not.
        let (from, to) = (at(2026, 5, 3, 22), at(2026, 5, 31, 22));
        let first = store.cached_first_start(zoned.id, from, to, Tz::Asia__Tokyo);
        let direct = recur::expand(zoned.content(), from, to, Tz::UTC, ExpandLimits::default());
        assert_eq!(
            first,
            Some((
                Some(direct.unwrap().occurrences[0].start.timestamp()),
                false
            ))
        );
        assert_eq!(
            store.cached_first_start(floating.id, from, to, Tz::Asia__Tokyo),
            None
        );
    }
}
