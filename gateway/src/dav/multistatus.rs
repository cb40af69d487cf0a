//! Writing a 207 Multi-Status answer: one `<D:response>` per resource, in parts that are
//! streamed out, large answers rendered on two threads.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use discal_protocol::{EventKey, MergeKey};
use discal_store::StoredEvent;

use super::path::{etag_of, sync_token, Coll, Hrefs};
use super::props::{PropName, ITEM_TYPE};
use super::xml::{esc, CALDAV, CS, DAV, ICAL};

/// A report's answer for one href, rendered later (in parallel when large).
// One per request or per href, short-lived and moved rarely: boxing the large variant
// would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Pending {
    /// An event with its properties (boxed: answers are sorted and moved, events are large).
    Ev(Box<StoredEvent>),
    /// An event whose every asked-for property comes from the store's index and the calendar
    /// object cache, so its record was not read: its identity, revision and calendar object.
    Cached(EventKey, MergeKey, Arc<str>),
    /// An href that is gone or unknown (404).
    Gone(String),
}

/// Multistatus writer. A large answer is kept as parts of about [`PART`] bytes rather than one
/// string: growing and joining megabyte strings cost copies and, for each fresh block the
/// allocator maps, page faults (a third of a first month query's time after a start), while
/// parts this size are reused from the allocator's heap request after request.
pub(super) struct Ms {
    out: String,
    parts: Vec<Bytes>,
}

/// Size at which [`Ms`] starts a new part: under glibc's initial 128 KiB mmap threshold.
pub(super) const PART: usize = 64 << 10;

impl Ms {
    pub(super) fn new() -> Self {
        let mut out = String::with_capacity(4096);
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:C=\"{CALDAV}\" xmlns:CS=\"{CS}\" xmlns:I=\"{ICAL}\">\n"
        );
        Self {
            out,
            parts: Vec::new(),
        }
    }

    /// Ends the current part if it is full; called after each response.
    pub(super) fn spill(&mut self) {
        if self.out.len() >= PART {
            let full = std::mem::replace(&mut self.out, String::with_capacity(PART + PART / 4));
            self.parts.push(Bytes::from(full));
        }
    }

    /// One response: found properties with their XML, and the names of the missing ones.
    pub(super) fn response<V: AsRef<str>>(
        &mut self,
        href: &str,
        found: &[(PropName, V)],
        missing: &[PropName],
    ) {
        let _ = write!(self.out, "<D:response><D:href>{}</D:href>", esc(href));
        if !found.is_empty() {
            self.out.push_str("<D:propstat><D:prop>");
            for ((ns, name), value) in found {
                self.prop(ns, name, value.as_ref());
            }
            self.out
                .push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
        }
        if !missing.is_empty() {
            self.out.push_str("<D:propstat><D:prop>");
            for (ns, name) in missing {
                match known_prefix(ns) {
                    Some(p) => {
                        let _ = write!(self.out, "<{p}:{}/>", esc(name));
                    }
                    None => {
                        let _ = write!(self.out, "<X:{} xmlns:X=\"{}\"/>", esc(name), esc(ns));
                    }
                }
            }
            self.out
                .push_str("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>");
        }
        self.out.push_str("</D:response>\n");
        self.spill();
    }

    /// One found property with its XML value.
    pub(super) fn prop(&mut self, ns: &str, name: &str, value: &str) {
        let p = prefix(ns);
        if value.is_empty() {
            let _ = write!(self.out, "<{p}:{name}/>");
        } else {
            let _ = write!(self.out, "<{p}:{name}>{value}</{p}:{name}>");
        }
    }

    /// An item's response from the index (and the object cache): `names` are index-only
    /// properties and calendar data, written as [`Ms::response`] would write them from the
    /// record.
    pub(super) fn cached(&mut self, href: &str, names: &[PropName], etag: &str, data: &str) {
        if names.is_empty() {
            return self.response::<&str>(href, &[], &[]);
        }
        let _ = write!(
            self.out,
            "<D:response><D:href>{}</D:href><D:propstat><D:prop>",
            esc(href)
        );
        for (ns, name) in names {
            let value = match name.as_str() {
                "getetag" => etag,
                "getcontenttype" => ITEM_TYPE,
                "calendar-data" => data,
                _ => "",
            };
            self.prop(ns, name, value);
        }
        self.out
            .push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n");
        self.spill();
    }

    /// A writer for a run of responses that will be appended to a multistatus.
    pub(super) fn chunk() -> Self {
        Self {
            out: String::with_capacity(PART + PART / 4),
            parts: Vec::new(),
        }
    }

    /// Appends another writer's responses.
    pub(super) fn append(&mut self, other: Ms) {
        if !self.out.is_empty() {
            let mine = std::mem::take(&mut self.out);
            self.parts.push(Bytes::from(mine));
        }
        self.parts.extend(other.parts);
        self.out = other.out;
    }

    /// Renders `pending` in order, as items of `coll` with the properties `names`; large
    /// answers on two threads (this machine class has two cores, and a month query's calendar
    /// data is the bulk of its time).
    pub(super) fn render<F>(
        &mut self,
        coll: &Coll,
        names: &[PropName],
        pending: &[Pending],
        item: F,
    ) where
        F: Fn(&mut Ms, &StoredEvent, &mut Hrefs) + Sync,
    {
        let run = |part: &[Pending]| {
            let mut ms = Ms::chunk();
            let mut hrefs = Hrefs::new(coll);
            for p in part {
                match p {
                    Pending::Ev(ev) => item(&mut ms, ev, &mut hrefs),
                    Pending::Cached(key, mk, data) => {
                        let href = hrefs.of(&key.origin, &key.uid);
                        // Only items whose UID no other origin shares are answered from the cache.
                        ms.cached(&href, names, &etag_of(mk.revision, &mk.id, false), data);
                    }
                    Pending::Gone(href) => ms.status(href, "404 Not Found"),
                }
            }
            ms
        };
        // A panic while rendering leaves that half out rather than the server's thread.
        let ms = discal_store::parallel::on_two_threads(
            pending,
            200,
            (),
            |part| Ok(run(part)),
            |mut a, b| {
                a.append(b);
                a
            },
        )
        .unwrap_or_else(|()| Ms::chunk());
        self.append(ms);
    }

    pub(super) fn status(&mut self, href: &str, status: &str) {
        let _ = writeln!(
            self.out,
            "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 {status}</D:status></D:response>",
            esc(href)
        );
        self.spill();
    }

    /// The response for a collection whose answer was cut at the client's `DAV:limit`
    /// (RFC 6578 §3.6): the client asks again from the answer's token for the rest.
    pub(super) fn cut(&mut self, href: &str) {
        let _ = writeln!(
            self.out,
            "<D:response><D:href>{}</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status>\
             <D:error><D:number-of-matches-within-limits/></D:error></D:response>",
            esc(href)
        );
    }

    pub(super) fn finish(self, token: Option<u64>) -> Response {
        self.finish_with(token.map(sync_token))
    }

    /// [`Self::finish`] with a token already written out.
    pub(super) fn finish_with(mut self, token: Option<String>) -> Response {
        if let Some(t) = token {
            let _ = writeln!(self.out, "<D:sync-token>{}</D:sync-token>", esc(&t));
        }
        self.out.push_str("</D:multistatus>\n");
        let xml = [(header::CONTENT_TYPE, "application/xml; charset=utf-8")];
        if self.parts.is_empty() {
            return (StatusCode::MULTI_STATUS, xml, self.out).into_response();
        }
        self.parts.push(Bytes::from(self.out));
        let length = self.parts.iter().map(Bytes::len).sum::<usize>();
        let parts = self
            .parts
            .into_iter()
            .map(Ok::<_, std::convert::Infallible>);
        (
            StatusCode::MULTI_STATUS,
            xml,
            [(header::CONTENT_LENGTH, length.to_string())],
            axum::body::Body::from_stream(futures::stream::iter(parts)),
        )
            .into_response()
    }
}

pub(super) fn known_prefix(ns: &str) -> Option<&'static str> {
    match ns {
        DAV => Some("D"),
        CALDAV => Some("C"),
        CS => Some("CS"),
        ICAL => Some("I"),
        _ => None,
    }
}

pub(super) fn prefix(ns: &str) -> &'static str {
    known_prefix(ns).unwrap_or("D")
}
