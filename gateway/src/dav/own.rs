//! An account's own calendar, `/dav/calendars/users/{name}/`: the one writable collection.
//! It holds the events the account entered on this node (with the web form, the API or a
//! calendar app), cancelled ones left out. A PUT is a create or an edit of one of them, signed
//! by the node like any other write; a DELETE is a cancellation. Clients name resources as
//! they like: a name other than `{UID}.ics` is recorded, so the event keeps it.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use discal_protocol::{EventKey, NodeKey};
use discal_store::{AuditEntry, DavPropName, StoredEvent};

use super::error::DavError;
use super::path::{etag_of, item_etag, Coll, Res, HOME};
use super::xml::{esc, DAV};
use crate::read::path_segment;
use crate::web::auth::Caller;
use crate::{Gateway, Seen, WriteOp};

/// The largest calendar object a PUT may send (announced as `C:max-resource-size`). An event
/// is signed within 60 KiB of payload, so nothing larger could be taken anyway; the margin is
/// for the text form, which is larger than the signed one.
pub const MAX_RESOURCE_BYTES: usize = 128 << 10;

/// The answer to a calendar object over [`MAX_RESOURCE_BYTES`].
pub(super) fn too_large() -> DavError {
    DavError::condition(
        &format!("<C:max-resource-size>{MAX_RESOURCE_BYTES}</C:max-resource-size>"),
        &format!("an event may be at most {MAX_RESOURCE_BYTES} bytes"),
    )
}

/// An account's calendar: who, and the names of its events.
#[derive(Clone, Debug)]
pub struct Own {
    /// The account.
    pub account: String,
    /// This node's key (the origin of every event here); none on a gateway without a node.
    pub me: Option<NodeKey>,
    /// The UIDs the account entered (cancelled ones too: membership is checked on the event),
    /// read for requests on the whole calendar; one event's requests look up its owner.
    uids: Option<HashSet<String>>,
    /// Names clients chose that are not `{UID}.ics`: UID → name and name → UID.
    by_uid: HashMap<String, String>,
    by_name: HashMap<String, String>,
}

impl Own {
    /// The calendar of `account`, not yet read from the store.
    pub(super) fn bare(account: &str) -> Box<Self> {
        Box::new(Self {
            account: account.to_owned(),
            me: None,
            uids: None,
            by_uid: HashMap::new(),
            by_name: HashMap::new(),
        })
    }

    /// The calendar of `account` with its members and their names.
    pub(super) fn load(gw: &Gateway, account: &str) -> Result<Box<Self>, DavError> {
        let mut o = Self::bare(account);
        o.me = gw.node.key();
        o.uids = Some(gw.store.owned_by(account)?.into_iter().collect());
        for (name, uid) in gw.store.dav_names(account)? {
            o.by_uid.insert(uid.clone(), name.clone());
            o.by_name.insert(name, uid);
        }
        Ok(o)
    }

    /// The calendar of `account` for a request on its resource `name` alone: only that
    /// name's record is read (a scan of every name costs a hundred microseconds, a write's
    /// whole budget besides its fsync).
    fn load_one(gw: &Gateway, account: &str, name: &str) -> Result<Box<Self>, DavError> {
        let mut o = Self::bare(account);
        o.me = gw.node.key();
        let uid = match gw.store.dav_uid(account, name)? {
            Some(uid) => Some(uid),
            None => name.strip_suffix(".ics").map(str::to_owned),
        };
        if let Some(uid) = uid {
            // Its own name, or the one a client gave it (then `name` names nothing).
            let given = gw.store.dav_name(&uid)?.filter(|(a, _)| a == account);
            let named = given.map_or_else(|| format!("{uid}.ics"), |(_, n)| n);
            o.by_name.insert(named.clone(), uid.clone());
            o.by_uid.insert(uid, named);
        }
        Ok(o)
    }

    pub(super) fn href(&self) -> String {
        format!("{HOME}users/{}/", path_segment(&self.account))
    }

    /// The resource name of the event `uid` (not percent-encoded).
    pub(super) fn name_of(&self, uid: &str) -> String {
        self.by_uid
            .get(uid)
            .cloned()
            .unwrap_or_else(|| format!("{uid}.ics"))
    }

    /// The UID a resource name stands for, whether or not that event exists.
    pub(super) fn uid_of(&self, name: &str) -> String {
        if let Some(uid) = self.by_name.get(name) {
            return uid.clone();
        }
        let uid = name.strip_suffix(".ics").unwrap_or(name);
        match self.by_uid.get(uid) {
            // That event lives under another name; this one names nothing yet.
            Some(_) => format!("\u{0}{name}"),
            None => uid.to_owned(),
        }
    }

    pub(super) fn key(&self, uid: &str) -> Option<EventKey> {
        Some(EventKey {
            origin: self.me?,
            uid: uid.to_owned(),
        })
    }

    /// The event `key`, if it is a member: the account's, and not cancelled.
    pub(super) fn member(
        &self,
        gw: &Gateway,
        key: &EventKey,
    ) -> Result<Option<StoredEvent>, DavError> {
        if !self.owns(gw, key)? {
            return Ok(None);
        }
        Ok(gw.store.get(key)?.filter(|e| !e.content().is_cancelled()))
    }

    /// [`Own::member`]'s answer as its ETag and revision, from the index alone (no record
    /// read): what a DELETE needs.
    pub(super) fn member_etag(
        &self,
        gw: &Gateway,
        key: &EventKey,
    ) -> Result<Option<(String, Seen)>, DavError> {
        if !self.owns(gw, key)? {
            return Ok(None);
        }
        let Some(mk) = gw.store.revision(key)?.filter(|mk| !mk.cancelled) else {
            return Ok(None);
        };
        // As `item_etag` has it, so GET and DELETE agree.
        let qualified = gw.store.uid_is_shared(&key.uid).unwrap_or(true);
        let etag = etag_of(mk.revision, &mk.id, qualified);
        Ok(Some((
            etag,
            Seen::Revision {
                revision: mk.revision,
                id: mk.id,
            },
        )))
    }

    /// Whether `key` is one of this node's events entered by the account.
    fn owns(&self, gw: &Gateway, key: &EventKey) -> Result<bool, DavError> {
        let owned = match &self.uids {
            Some(u) => u.contains(&key.uid),
            None => gw.store.owner(&key.uid)?.as_deref() == Some(self.account.as_str()),
        };
        Ok(Some(key.origin) == self.me && owned)
    }

    /// True if a change of `key` concerns this calendar.
    pub(super) fn concerns(&self, key: &EventKey) -> bool {
        Some(key.origin) == self.me && self.uids.as_ref().is_some_and(|u| u.contains(&key.uid))
    }

    /// The calendar's own CTag: the newest change among the account's events (cancellations
    /// too), which other accounts' and nodes' changes leave alone. Read only when asked for.
    pub(super) fn ctag(&self, gw: &Gateway) -> Result<u64, DavError> {
        let mut seq = 0;
        for uid in self.uids.iter().flatten() {
            if let Some(e) = self
                .key(uid)
                .map(|k| gw.store.get(&k))
                .transpose()?
                .flatten()
            {
                seq = seq.max(e.seq);
            }
        }
        Ok(seq)
    }

    /// Every member, by UID.
    pub(super) fn members(&self, gw: &Gateway) -> Result<Vec<StoredEvent>, DavError> {
        let mut uids: Vec<&String> = self.uids.iter().flatten().collect();
        uids.sort();
        let mut out = Vec::with_capacity(uids.len());
        for uid in uids {
            if let Some(k) = self.key(uid) {
                if let Some(e) = self.member(gw, &k)? {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }
}

/// Resolves what an own calendar's path names, for `who`: only the account itself may use
/// its calendar (anyone may read its events in the shared calendars). `whole`: the request
/// may concern every member (a listing, a report), not just the one it names.
pub(super) fn bind(
    gw: &Gateway,
    res: Res,
    who: Option<&Caller>,
    whole: bool,
) -> Result<Res, DavError> {
    let (account, name) = match &res {
        Res::Coll(Coll::User(o)) => (o.account.clone(), None),
        Res::Named(Coll::User(o), n) => (o.account.clone(), Some(n.clone())),
        Res::Named(..) => return Err(DavError::NotFound("no such resource".into())),
        _ => return Ok(res),
    };
    allowed(who, &account)?;
    Ok(match name {
        None => Res::Coll(Coll::User(Own::load(gw, &account)?)),
        Some(n) => {
            let own = if whole {
                Own::load(gw, &account)?
            } else {
                Own::load_one(gw, &account, &n)?
            };
            let key = own
                .key(&own.uid_of(&n))
                .ok_or_else(|| DavError::NotFound("this gateway has no node".into()))?;
            Res::Item(Coll::User(own), key)
        }
    })
}

pub(super) fn allowed(who: Option<&Caller>, account: &str) -> Result<(), DavError> {
    match who {
        None => Err(DavError::Unauthorized(format!(
            "log in as {account} (Basic: the account's name and password or app token)"
        ))),
        Some(c) if c.name == account => Ok(()),
        Some(_) => Err(DavError::Forbidden(format!(
            "this calendar is {account}'s; yours is under {HOME}users/"
        ))),
    }
}

/// What a PUT's body holds, checked before anything is parsed for real: one calendar object
/// resource (RFC 4791 §4.1), one UID's VEVENTs (the master and its overrides).
pub(super) fn shape(text: &str) -> Result<String, DavError> {
    let mut uid: Option<String> = None;
    let mut depth = 0usize;
    let mut calendars = 0;
    let mut in_event = false;
    let mut events = 0;
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        match (l.starts_with([' ', '\t']), lines.last_mut()) {
            (true, Some(last)) => last.push_str(&l[1..]),
            _ => lines.push(l.to_owned()),
        }
    }
    for l in lines.iter().filter(|l| !l.is_empty()) {
        let (name, value) = l.split_once(':').unwrap_or((l, ""));
        let name = name.split(';').next().unwrap_or("").to_ascii_uppercase();
        let value = value.trim();
        match name.as_str() {
            "BEGIN" => {
                let comp = value.to_ascii_uppercase();
                match (depth, comp.as_str()) {
                    (0, "VCALENDAR") => calendars += 1,
                    (0, _) => return Err(not_object("the body is not a VCALENDAR")),
                    (1, "VEVENT") => {
                        in_event = true;
                        events += 1;
                    }
                    (1, "VTIMEZONE") => {}
                    (1, other) => {
                        return Err(DavError::condition(
                            "<C:supported-calendar-component/>",
                            &format!("this calendar holds events (VEVENT), not {other}"),
                        ))
                    }
                    _ => {}
                }
                depth += 1;
            }
            "END" => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_event = false;
                }
            }
            "UID" if in_event && depth == 2 => match &uid {
                Some(u) if u != value => return Err(not_object(
                    "a calendar object resource holds one event: its VEVENTs must share one UID",
                )),
                _ => uid = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    if calendars != 1 {
        return Err(not_object("the body must be exactly one VCALENDAR"));
    }
    if events == 0 {
        return Err(DavError::condition(
            "<C:supported-calendar-component/>",
            "the VCALENDAR holds no VEVENT",
        ));
    }
    uid.filter(|u| !u.is_empty())
        .ok_or_else(|| not_object("each VEVENT needs a UID"))
}

fn not_object(why: &str) -> DavError {
    DavError::condition("<C:valid-calendar-object-resource/>", why)
}

fn header_str(headers: &HeaderMap, h: header::HeaderName) -> Option<&str> {
    headers.get(h).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// `If-Match` / `If-None-Match` against the resource's current ETag (none: no resource).
pub(super) fn conditions(headers: &HeaderMap, current: Option<&str>) -> Result<(), DavError> {
    let listed = |v: &str, etag: &str| v.split(',').any(|t| t.trim() == etag || t.trim() == "*");
    if let Some(v) = header_str(headers, header::IF_MATCH) {
        if !current.is_some_and(|e| listed(v, e)) {
            return Err(DavError::PreconditionFailed(format!(
                "If-Match {v}: the resource's ETag is {}",
                current.unwrap_or("none (it does not exist)")
            )));
        }
    }
    if let Some(v) = header_str(headers, header::IF_NONE_MATCH) {
        if current.is_some_and(|e| listed(v, e)) {
            return Err(DavError::PreconditionFailed(format!(
                "If-None-Match {v}: the resource exists (ETag {})",
                current.unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// `op`, made to hold only while the event is as `seen` if the request has conditions: the
/// node checks again where writes are serialised, so a concurrent write that got in between
/// this handler's check and the write makes it fail with 412, as RFC 9110 §13.1 asks.
fn conditional(headers: &HeaderMap, seen: Seen, op: WriteOp) -> WriteOp {
    if headers.contains_key(header::IF_MATCH) || headers.contains_key(header::IF_NONE_MATCH) {
        WriteOp::If {
            seen,
            op: Box::new(op),
        }
    } else {
        op
    }
}

/// Where another event with `uid` lives, if a new resource of `own` may not take it.
fn uid_conflict(
    gw: &Gateway,
    own: &Own,
    caller: &Caller,
    uid: &str,
) -> Result<Option<String>, DavError> {
    if let Some(k) = own.key(uid) {
        if let Some(e) = own.member(gw, &k)? {
            return Ok(Some(Coll::User(Box::new(own.clone())).item_href(&e)));
        }
        if let Some(e) = gw.store.get(&k)? {
            if gw.store.owner(uid)?.as_deref() != Some(caller.name.as_str()) {
                return Ok(Some(Coll::Origin(k.origin).item_href(&e)));
            }
        }
    }
    if let Some(o) = gw
        .store
        .origins_of(uid)?
        .into_iter()
        .find(|o| Some(*o) != own.me)
    {
        let k = EventKey {
            origin: o,
            uid: uid.to_owned(),
        };
        if let Some(e) = gw.store.get(&k)? {
            return Ok(Some(Coll::Origin(o).item_href(&e)));
        }
    }
    Ok(None)
}

/// A PUT's body as calendar text: within the size limit, of the one type taken, UTF-8.
pub(super) fn calendar_text<'a>(headers: &HeaderMap, body: &'a Bytes) -> Result<&'a str, DavError> {
    if body.len() > MAX_RESOURCE_BYTES {
        return Err(too_large());
    }
    if let Some(ct) = header_str(headers, header::CONTENT_TYPE) {
        if !ct.to_ascii_lowercase().starts_with("text/calendar") {
            return Err(DavError::condition(
                "<C:supported-calendar-data/>",
                &format!("calendar data is text/calendar, not {ct}"),
            ));
        }
    }
    let text = std::str::from_utf8(body).map_err(|e| {
        DavError::condition(
            "<C:valid-calendar-data/>",
            &format!("the body is not UTF-8 ({e})"),
        )
    })?;
    Ok(text)
}

/// The UID a PUT sends must be its resource's (an edit), or nobody's yet (a creation).
fn check_uid(
    gw: &Gateway,
    own: &Own,
    caller: &Caller,
    existing: Option<&StoredEvent>,
    uid: &str,
) -> Result<(), DavError> {
    match existing {
        Some(e) if e.payload.uid != uid => {
            return Err(DavError::condition(
                &format!(
                    "<C:no-uid-conflict>{}</C:no-uid-conflict>",
                    href_xml(&Coll::User(Box::new(own.clone())).item_href(e))
                ),
                &format!(
                    "this resource is the event {}; its UID cannot change to {uid}",
                    e.payload.uid
                ),
            ));
        }
        Some(_) => {}
        None => {
            if let Some(href) = uid_conflict(gw, own, caller, uid)? {
                return Err(DavError::condition(
                    &format!("<C:no-uid-conflict>{}</C:no-uid-conflict>", href_xml(&href)),
                    &format!("UID {uid} is another event's, at {href}"),
                ));
            }
        }
    }
    Ok(())
}

/// PUT of a calendar object resource named `name` in `account`'s calendar.
pub(super) async fn put(
    gw: &Gateway,
    caller: &Caller,
    res: Res,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, DavError> {
    let Res::Item(Coll::User(own), key) = res else {
        return Err(DavError::Forbidden(
            "PUT an event into a calendar: …/{name}.ics".into(),
        ));
    };
    let text = calendar_text(headers, body)?;
    let uid = shape(text)?;
    // Writes are one at a time in the node anyway; this makes the checks below and the
    // staging of a new event's owner one step with its write. The resource's name is looked
    // up again once it is this request's turn: a PUT just before may have given it an event.
    let _turn = gw.dav_puts.lock().await;
    let own = Own::load_one(gw, &own.account, name)?;
    let key = own.key(&own.uid_of(name)).unwrap_or(key);
    let existing = own.member(gw, &key)?;
    let etag = existing.as_ref().map(|e| item_etag(&gw.store, e));
    conditions(headers, etag.as_deref())?;
    check_uid(gw, &own, caller, existing.as_ref(), &uid)?;
    let me = own
        .me
        .ok_or_else(|| DavError::Forbidden("this gateway has no node".into()))?;
    let k = EventKey {
        origin: me,
        uid: uid.clone(),
    };
    // Who entered it (and the name its app gave it) are written before the event, so the
    // event never exists without them; the event's write makes them durable.
    if existing.is_none() {
        gw.store.stage_created(&uid, &caller.name, name)?;
    }
    let seen = existing.as_ref().map_or(Seen::Absent, |e| Seen::Revision {
        revision: e.payload.revision,
        id: e.id,
    });
    let op = WriteOp::Replace {
        uid: uid.clone(),
        ics: text.to_owned(),
    };
    let written = gw.node.write(conditional(headers, seen, op)).await;
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            if existing.is_none() && gw.store.get(&k)?.is_none() {
                gw.store.unstage_created(&uid)?;
            }
            return Err(e.into());
        }
    };
    if written.iter().any(|w| w.changed) {
        let action = if existing.is_some() {
            "caldav update"
        } else {
            "caldav create"
        };
        audit(gw, caller, action, &uid);
    }
    let stored = gw
        .store
        .get(&k)?
        .ok_or_else(|| DavError::Internal(format!("event {uid} was written but is not stored")))?;
    let status = if existing.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    let href = format!("{}{}", own.href(), path_segment(name));
    stored_answer(gw, &href, &stored, (status, text), headers)
}

/// The answer to a write: its status and where it is. The stored object's ETag comes with it
/// only when the object is, byte for byte, what was sent (RFC 9110 §9.3.4, RFC 4791 §5.3.4):
/// the node adds its revision, hop count and where to propose changes, so an answer without
/// an ETag is how an app learns that the event it holds is not the one stored, and fetches it
/// again. With `Prefer: return=representation` (RFC 8144) the stored object is in the answer,
/// with its ETag.
fn stored_answer(
    gw: &Gateway,
    href: &str,
    stored: &StoredEvent,
    (status, sent): (StatusCode, &str),
    headers: &HeaderMap,
) -> Result<Response, DavError> {
    let etag = item_etag(&gw.store, stored);
    let object = crate::feeds::ics_calendar(&gw.store, &gw.name, [stored], None);
    let as_sent = object == sent;
    let wants_body = header_str(headers, header::HeaderName::from_static("prefer"))
        .is_some_and(|p| p.contains("return=representation"));
    let mut r = if wants_body {
        let status = if status == StatusCode::NO_CONTENT {
            StatusCode::OK
        } else {
            status
        };
        (
            status,
            [
                (header::CONTENT_TYPE, super::props::ITEM_TYPE),
                (
                    header::HeaderName::from_static("preference-applied"),
                    "return=representation",
                ),
            ],
            object,
        )
            .into_response()
    } else {
        status.into_response()
    };
    let h = r.headers_mut();
    if wants_body || as_sent {
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&format!("{}{href}", gw.public_url)) {
            h.insert(header::LOCATION, v);
        }
    }
    Ok(r)
}

/// DELETE of an event of `account`'s calendar: a cancellation revision, which every node
/// receives; the resource leaves the calendar.
pub(super) async fn delete(
    gw: &Gateway,
    caller: &Caller,
    res: Res,
    headers: &HeaderMap,
) -> Result<Response, DavError> {
    let Res::Item(Coll::User(own), key) = res else {
        return Err(DavError::Forbidden(
            "calendars are not deleted; DELETE its events one by one".into(),
        ));
    };
    gw.node.settled_for(&key.uid).await;
    let held = own.member_etag(gw, &key)?;
    // With If-Match, a missing resource is a failed condition (RFC 9110 §13.2.2), as it is
    // for the apps that lose a race to cancel the same event.
    conditions(headers, held.as_ref().map(|(etag, _)| etag.as_str()))?;
    let (_, seen) =
        held.ok_or_else(|| DavError::NotFound("no such event in this calendar".into()))?;
    let op = WriteOp::Cancel {
        uid: key.uid.clone(),
    };
    gw.node.write(conditional(headers, seen, op)).await?;
    audit(gw, caller, "caldav cancel", &key.uid);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Most properties an account's calendar keeps, and the longest value of one (a
/// `calendar-timezone` VTIMEZONE is the largest that apps send).
pub const MAX_CALENDAR_PROPS: usize = 32;
pub const MAX_CALENDAR_PROP_BYTES: usize = 16 << 10;

/// Properties the node computes, which no PROPPATCH changes (RFC 4918 §15, RFC 4791 §5.2,
/// RFC 6578, calendarserver's CTag). The calendar's name, colour and description are the
/// node's until the account's app sets its own.
fn protected(ns: &str, name: &str) -> bool {
    use super::xml::{CALDAV, CS};
    match ns {
        DAV => !matches!(name, "displayname"),
        CALDAV => !matches!(name, "calendar-description" | "calendar-timezone"),
        CS => matches!(name, "getctag"),
        _ => false,
    }
}

/// PROPPATCH (RFC 4918 §9.2). On the account's calendar: its name, colour, order,
/// description and any other property an app sets are kept for the account and shown back
/// (Apple Calendar and Evolution set them), all or none of one request; the properties the
/// node computes are answered 403 `cannot-modify-protected-property`, and the others then
/// 424. On its events every property is protected (an event is its iCalendar data).
pub(super) async fn proppatch(
    gw: &Gateway,
    caller: &Caller,
    res: &Res,
    body: &[u8],
) -> Result<Response, DavError> {
    let root = super::parse_body(body)?
        .filter(|r| r.is(DAV, "propertyupdate"))
        .ok_or_else(|| DavError::BadRequest("PROPPATCH body must be DAV:propertyupdate".into()))?;
    let (href, account) = match res {
        Res::Coll(c @ Coll::User(o)) => (c.href(), Some(o.account.clone())),
        Res::Item(c @ Coll::User(o), k) => (
            format!("{}{}", c.href(), path_segment(&o.name_of(&k.uid))),
            None,
        ),
        _ => return Err(DavError::NotFound("no such resource".into())),
    };
    let changes = changes_of(&root);
    // The count of properties held is checked and changed in one turn, as PUTs take theirs:
    // two PROPPATCHes at once could each fit under the limit and together pass it.
    let _turn = gw.dav_puts.lock().await;
    let held = match &account {
        Some(a) => gw.store.dav_props(a)?,
        None => Vec::new(),
    };
    let count_after = {
        let mut names: HashSet<&(String, String)> = held.iter().map(|(n, _)| n).collect();
        for (n, v) in &changes {
            if v.is_some() {
                names.insert(n);
            } else {
                names.remove(n);
            }
        }
        names.len()
    };
    // Why each property cannot be changed, if it cannot.
    let refusal = |(ns, name): &(String, String), v: &Option<String>| -> Option<&'static str> {
        if account.is_none() || protected(ns, name) {
            Some("403 Forbidden\r<D:error><D:cannot-modify-protected-property/></D:error>")
        } else if v
            .as_ref()
            .is_some_and(|v| v.len() > MAX_CALENDAR_PROP_BYTES)
            || count_after > MAX_CALENDAR_PROPS
        {
            Some("507 Insufficient Storage\r")
        } else {
            None
        }
    };
    let failed = changes.iter().any(|(n, v)| refusal(n, v).is_some());
    if !failed {
        if let Some(a) = &account {
            gw.store.set_dav_props(a, &changes)?;
            audit(gw, caller, "caldav calendar properties", a);
        }
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\"><D:response>",
    );
    out.push_str(&href_xml(&href));
    for ((ns, name), v) in &changes {
        let (status, error) = match refusal(&(ns.clone(), name.clone()), v) {
            Some(r) => r.split_once('\r').unwrap_or((r, "")),
            None if failed => ("424 Failed Dependency", ""),
            None => ("200 OK", ""),
        };
        out.push_str(&format!(
            "<D:propstat><D:prop><X:{} xmlns:X=\"{}\"/></D:prop><D:status>HTTP/1.1 {status}</D:status>{error}</D:propstat>",
            esc(name),
            esc(ns)
        ));
    }
    if failed {
        out.push_str(
            "<D:responsedescription>nothing was changed: the properties the node computes, \
             and those of events, cannot be set</D:responsedescription>",
        );
    }
    out.push_str("</D:response></D:multistatus>\n");
    Ok((
        StatusCode::MULTI_STATUS,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        out,
    )
        .into_response())
}

/// Each property a `propertyupdate` names, in order, with its new value (None: removed); a
/// property named twice takes its last change.
fn changes_of(root: &super::xml::El) -> Vec<(DavPropName, Option<String>)> {
    let mut changes: Vec<(DavPropName, Option<String>)> = Vec::new();
    for change in &root.children {
        let set = change.is(DAV, "set");
        if !set && !change.is(DAV, "remove") {
            continue;
        }
        for prop in change.children.iter().filter(|p| p.is(DAV, "prop")) {
            for el in &prop.children {
                let name = (el.ns.clone(), el.name.clone());
                changes.retain(|(n, _)| *n != name);
                changes.push((name, set.then(|| el.text.clone())));
            }
        }
    }
    changes
}

/// The audit line of a write just made durable (the line itself reaches the disk with the
/// next flush; it is the people side's record of who did what, not part of the write, so a
/// failure to write it is logged, not answered).
fn audit(gw: &Gateway, caller: &Caller, action: &str, uid: &str) {
    let entry = AuditEntry {
        at_ms: (gw.clock)(),
        actor: caller.name.clone(),
        action: action.into(),
        subject: uid.to_owned(),
    };
    if let Err(e) = gw.store.audit_soon(&entry) {
        tracing::error!(error = %e, "CalDAV write: the audit line could not be written");
    }
}

fn href_xml(h: &str) -> String {
    format!("<D:href>{}</D:href>", esc(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n")
    }

    #[test]
    fn one_event_with_its_overrides_is_one_resource() {
        let master = "BEGIN:VEVENT\r\nUID:a@x\r\nDTSTART:20270101T100000Z\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\n";
        let ovr = "BEGIN:VEVENT\r\nUID:a@x\r\nRECURRENCE-ID:20270102T100000Z\r\nDTSTART:20270102T110000Z\r\nBEGIN:VALARM\r\nUID:alarm\r\nEND:VALARM\r\nEND:VEVENT\r\n";
        assert_eq!(shape(&cal(&format!("{master}{ovr}"))).unwrap(), "a@x");
        // A folded UID is unfolded.
        let folded = "BEGIN:VEVENT\r\nUID:long-\r\n uid@x\r\nEND:VEVENT\r\n";
        assert_eq!(shape(&cal(folded)).unwrap(), "long-uid@x");
    }

    #[test]
    fn other_shapes_are_refused_with_their_condition() {
        let cond = |t: &str| match shape(t) {
            Err(DavError::Precondition(c)) => c,
            other => panic!("{other:?}"),
        };
        let todo = cal("BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n");
        assert!(cond(&todo).contains("supported-calendar-component"));
        let two =
            cal("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nEND:VEVENT\r\n");
        assert!(cond(&two).contains("valid-calendar-object-resource"));
        let no_uid = cal("BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n");
        assert!(cond(&no_uid).contains("valid-calendar-object-resource"));
        assert!(cond("BEGIN:VEVENT\r\nUID:a\r\nEND:VEVENT\r\n")
            .contains("valid-calendar-object-resource"));
        assert!(cond(&cal("")).contains("supported-calendar-component"));
    }
}
