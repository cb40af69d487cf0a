//! Sitemap sources: a sitemap.xml (or an index of sitemaps), or a page listing events, names
//! the pages to read; each is read as an event page (robots.txt and Crawl-delay obeyed, the
//! fetcher's per-host limit), on the same site only, at most `max_pages` per poll and within
//! one crawl's budget of bytes and reading time. When a page cannot be read, or the crawl
//! stops before the end, the poll is incomplete and cancels nothing; a page that answers
//! `410 Gone` was read, and holds no events.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use discal_protocol::ics::{nearness, ImportedEvent};
use discal_protocol::model::Date;

use super::fetch::{FetchError, Fetched, Fetcher, Request};
use super::page::{links, read_page, sitemap_locs, PageEvents};
use super::poll::{accept, robots_allow};
use super::SourceEntry;
use crate::Shared;

/// Child sitemaps read from an index.
const MAX_CHILD_SITEMAPS: usize = 5;

/// A page's events, and its links when they are to be followed, read off the runtime's
/// threads (parsing a large page is CPU work of up to a second or two). Reading that failed
/// (a panic, kept to its thread) makes the crawl incomplete, so nothing is cancelled.
async fn read_off(
    shared: &Shared,
    (url, html): (&str, String),
    tz: Option<discal_protocol::Tz>,
    follow: bool,
    (notes, complete): (&mut Vec<String>, &mut bool),
) -> (PageEvents, Vec<String>) {
    let (page_url, me, limits) = (url.to_string(), shared.me, shared.limits.clone());
    let read = tokio::task::spawn_blocking(move || {
        let page = read_page(&html, &page_url, tz, &me, &limits);
        let found = if follow {
            links(&html, &page_url)
        } else {
            Vec::new()
        };
        (page, found)
    })
    .await;
    read.unwrap_or_else(|_| {
        *complete = false;
        notes.push(format!("{url}: could not be read"));
        Default::default()
    })
}

/// What a crawl read.
pub(super) struct Crawled {
    pub reading: super::Reading,
    /// Every page named was read.
    pub complete: bool,
}

async fn get(
    shared: &Shared,
    fetcher: &Fetcher,
    entry: &SourceEntry,
    url: &str,
) -> Result<String, FetchError> {
    robots_allow(shared, fetcher, url, entry.allow_private).await?;
    let req = Request {
        url,
        etag: None,
        last_modified: None,
        allow_private: entry.allow_private,
        accept: accept(entry.kind),
    };
    match fetcher.get(&req).await? {
        Fetched::Full { body, .. } => {
            let ctype = body.content_type.as_deref();
            Ok(super::charset::text_of(&body.bytes, ctype, true).into_owned())
        }
        Fetched::NotModified { .. } => Ok(String::new()),
    }
}

fn same_site(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => {
            a.host_str() == b.host_str() && a.port_or_known_default() == b.port_or_known_default()
        }
        _ => false,
    }
}

/// The pages a sitemap names (one level of index followed), and whether every child sitemap
/// was read.
async fn from_sitemap(
    shared: &Shared,
    fetcher: &Fetcher,
    entry: &SourceEntry,
    (locs, index): (Vec<String>, bool),
    notes: &mut Vec<String>,
) -> (Vec<String>, bool) {
    if !index {
        return (locs, true);
    }
    let mut children: Vec<&String> = locs.iter().filter(|l| same_site(l, &entry.url)).collect();
    // An index names a site's posts, pages, tags… as well: its event sitemaps (WordPress's
    // `tribe_events-sitemap.xml`, `event-sitemap.xml`) are read first.
    children.sort_by_key(|l| !l.to_ascii_lowercase().contains("event"));
    let mut all = true;
    if children.len() > MAX_CHILD_SITEMAPS {
        all = false;
        notes.push(format!(
            "the index names {} sitemaps; the first {MAX_CHILD_SITEMAPS} are read",
            children.len()
        ));
    }
    let mut pages = Vec::new();
    for child in children.into_iter().take(MAX_CHILD_SITEMAPS) {
        match get(shared, fetcher, entry, child).await {
            Ok(xml) => match sitemap_locs(&xml) {
                Some((more, false)) => pages.extend(more),
                _ => notes.push(format!("{child}: not a sitemap of pages")),
            },
            Err(e) => {
                all = false;
                notes.push(format!("{child}: {e}"));
            }
        }
    }
    (pages, all)
}

/// What one crawl may spend, whatever its pages say: bytes downloaded and time spent reading
/// pages (parsing, off the runtime's threads). `max_pages` alone would let 500 pages of 16
/// MiB each, each a second or more of parsing.
struct Budget {
    bytes: usize,
    reading: Duration,
}

/// Bytes one crawl downloads at most.
pub const MAX_CRAWL_BYTES: usize = 64 * 1024 * 1024;
/// Time one crawl spends reading pages at most.
pub const MAX_CRAWL_READING: Duration = Duration::from_secs(60);

impl Budget {
    /// Why the crawl must stop, if it must.
    fn spent(&self) -> Option<String> {
        if self.bytes > MAX_CRAWL_BYTES {
            Some(format!("{} bytes downloaded", self.bytes))
        } else if self.reading > MAX_CRAWL_READING {
            Some(format!("{} s spent reading pages", self.reading.as_secs()))
        } else {
            None
        }
    }
}

/// Reads the source: the pages it names (or links to, down to `depth`), each for events. A
/// crawl that stops before the end (`max_pages`, its budget, a page that cannot be read) is
/// incomplete: the pages not read may hold events taken before, so it cancels nothing.
pub(super) async fn crawl(
    shared: &Shared,
    fetcher: &Fetcher,
    entry: &SourceEntry,
) -> Result<Crawled, FetchError> {
    let start = get(shared, fetcher, entry, &entry.url).await?;
    let max = usize::try_from(entry.max_pages).unwrap_or(50);
    let mut notes = Vec::new();
    let mut complete = true;
    let tz = entry.zone();
    let mut found = Found {
        cap: usize::try_from(entry.max_events).unwrap_or(usize::MAX),
        today: super::today(shared),
        events: BTreeMap::new(),
        refused: Vec::new(),
        beyond: HashSet::new(),
    };
    let mut budget = Budget {
        bytes: start.len(),
        reading: Duration::ZERO,
    };
    let mut queue = Queue {
        site: entry.url.clone(),
        pending: VecDeque::new(),
        seen: HashSet::from([entry.url.clone()]),
        room: max,
        left: 0,
        overflow: false,
    };
    match sitemap_locs(&start) {
        Some(sm) => {
            let (pages, all) = from_sitemap(shared, fetcher, entry, sm, &mut notes).await;
            complete &= all;
            queue.push(pages, u8::MAX);
        }
        None => {
            let done = (&mut notes, &mut complete);
            let t = Instant::now();
            let (page, next) = read_off(shared, (&entry.url, start), tz, true, done).await;
            budget.reading += t.elapsed();
            found.take(&entry.url, page, &mut notes);
            queue.push(next, 1);
        }
    }
    let (mut read, mut why) = (0, format!("max_pages = {max}"));
    while let Some((url, depth)) = queue.pending.pop_front() {
        let spent = budget.spent();
        if read >= max || spent.is_some() {
            queue.left += queue.pending.len() + 1;
            why = spent.unwrap_or(why);
            break;
        }
        read += 1;
        match get(shared, fetcher, entry, &url).await {
            Ok(html) => {
                budget.bytes += html.len();
                // Links of sitemap pages are not followed; those of listed pages to `depth`.
                let (follow, done) = (depth < entry.depth, (&mut notes, &mut complete));
                let t = Instant::now();
                let (page, next) = read_off(shared, (&url, html), tz, follow, done).await;
                budget.reading += t.elapsed();
                found.take(&url, page, &mut notes);
                queue.push(next, depth.saturating_add(1));
            }
            // A page gone for good (`410 Gone`) holds no events; the crawl still read it.
            Err(e) if e.status == super::poll::GONE => {
                notes.push(format!("{url}: HTTP 410 Gone: its events are gone"));
            }
            Err(e) => {
                complete = false;
                notes.push(format!("{url}: {e}"));
            }
        }
    }
    if let Some(note) = queue.unread(&why) {
        complete = false;
        notes.push(note);
    }
    Ok(Crawled {
        reading: found.reading(notes),
        complete,
    })
}

/// The pages still to read: each URL once and on the same site, and no more of them than the
/// crawl may read (`max_pages`), so a site whose pages hold 100,000 links each queues no more
/// than that.
struct Queue {
    site: String,
    pending: VecDeque<(String, u8)>,
    /// Queued or read.
    seen: HashSet<String>,
    room: usize,
    /// Pages queued but not read.
    left: usize,
    /// Pages named that did not fit.
    overflow: bool,
}

impl Queue {
    /// What the crawl left unread when it stopped at `why`, if it left any.
    fn unread(&self, why: &str) -> Option<String> {
        let unread = match (self.left, self.overflow) {
            (0, false) => return None,
            (0, true) => "more pages named".to_string(),
            (n, false) => format!("{n} pages queued"),
            (n, true) => format!("{n} pages queued and more named"),
        };
        Some(format!(
            "stopped at {why}: {unread} were not read, so nothing is cancelled"
        ))
    }

    fn push(&mut self, urls: Vec<String>, depth: u8) {
        for url in urls {
            if !same_site(&url, &self.site) || self.seen.contains(&url) {
                continue;
            }
            if self.pending.len() >= self.room {
                // Not remembered (that would hold them all): a link met again is not known.
                self.overflow = true;
                continue;
            }
            self.seen.insert(url.clone());
            self.pending.push_back((url, depth));
        }
    }
}

/// What a crawl has found so far.
struct Found {
    /// UID → (read on its own page, the event); an event's own page wins over a listing
    /// that also carries it.
    events: BTreeMap<String, (bool, ImportedEvent)>,
    refused: Vec<String>,
    /// Events beyond the nearest `max_events`, let go while pages are read: what a crawl
    /// holds stays bounded (twice `cap`) however many events its pages list.
    beyond: HashSet<String>,
    cap: usize,
    today: Date,
}

impl Found {
    fn take(&mut self, url: &str, page: PageEvents, notes: &mut Vec<String>) {
        let r = page.reading;
        notes.extend(r.notes.into_iter().map(|n| format!("{url}: {n}")));
        self.refused
            .extend(r.refused.into_iter().map(|n| format!("{url}: {n}")));
        for e in r.events {
            let own = e.uid == page.canonical;
            match self.events.get(&e.uid) {
                Some((true, _)) => {}
                Some((false, _)) if !own => {}
                _ => {
                    self.events.insert(e.uid.clone(), (own, e));
                }
            }
        }
        if self.events.len() > self.cap.saturating_mul(2) {
            let mut all: Vec<_> = std::mem::take(&mut self.events).into_iter().collect();
            all.sort_by_cached_key(|(_, (_, e))| nearness(&e.content, self.today));
            self.beyond
                .extend(all.drain(self.cap..).map(|(uid, _)| uid));
            self.events = all.into_iter().collect();
        }
    }

    fn reading(mut self, notes: Vec<String>) -> super::Reading {
        self.beyond.retain(|uid| !self.events.contains_key(uid));
        super::Reading {
            events: self.events.into_values().map(|(_, e)| e).collect(),
            refused: self.refused,
            notes,
            left_out: self.beyond.into_iter().collect(),
            unnamed_left_out: 0,
            cut_off: false,
            zone: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_holds_each_page_once_and_no_more_than_can_be_read() {
        let site = "https://lug.example/events";
        let mut q = Queue {
            site: site.into(),
            pending: VecDeque::new(),
            seen: HashSet::from([site.to_string()]),
            room: 50,
            left: 0,
            overflow: false,
        };
        let mut links: Vec<String> = (0..100_000)
            .map(|i| format!("https://lug.example/e/{i}"))
            .collect();
        links.insert(0, "https://elsewhere.example/e/1".into());
        links.insert(1, site.into());
        links.insert(2, "https://lug.example/e/0".into());
        q.push(links, 1);
        assert_eq!(q.pending.len(), 50);
        assert_eq!(q.pending[0].0, "https://lug.example/e/0");
        assert!(q.overflow);
        q.push(vec!["https://lug.example/e/3".into()], 2);
        assert_eq!(q.pending.len(), 50);
    }

    #[test]
    fn a_crawl_stops_once_its_bytes_or_reading_time_are_spent() {
        let mut b = Budget {
            bytes: MAX_CRAWL_BYTES,
            reading: MAX_CRAWL_READING,
        };
        assert_eq!(b.spent(), None);
        b.bytes += 1;
        assert!(b.spent().unwrap().contains("bytes downloaded"));
        b.bytes = 0;
        b.reading += Duration::from_millis(1);
        assert!(b.spent().unwrap().contains("reading pages"));
    }
}
