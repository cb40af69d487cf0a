//! WebDAV and CalDAV properties: which ones a request asks for and their values per resource.

use chrono::DateTime;
use discal_protocol::NodeKey;
use discal_store::StoredEvent;

use super::path::{item_etag, sync_token, Coll, Res, HOME, PRINCIPAL};
use super::xml::{esc, El, CALDAV, CS, DAV, ICAL};
use crate::Gateway;

/// A property asked for: namespace and local name.
pub(super) type PropName = (String, String);

pub(super) const ITEM_TYPE: &str = "text/calendar; charset=utf-8; component=vevent";

pub(super) fn p(ns: &str, name: &str) -> PropName {
    (ns.to_owned(), name.to_owned())
}

pub(super) fn wanted(root: Option<&El>) -> Option<Vec<PropName>> {
    let prop = root?.child(DAV, "prop")?;
    Some(
        prop.children
            .iter()
            .map(|c| (c.ns.clone(), c.name.clone()))
            .collect(),
    )
}

/// True if every property asked for can be answered from the store's index, without reading
/// a record: what clients ask when they list a calendar to see what changed.
pub(super) fn index_only(names: &[PropName]) -> bool {
    names.iter().all(|(ns, n)| {
        ns == DAV && matches!(n.as_str(), "getetag" | "getcontenttype" | "resourcetype")
    })
}

pub(super) fn index_props(names: &[PropName], etag: &str) -> Vec<(PropName, String)> {
    names
        .iter()
        .map(|n| {
            let v = match n.1.as_str() {
                "getetag" => etag.to_owned(),
                "getcontenttype" => ITEM_TYPE.to_owned(),
                _ => String::new(),
            };
            (n.clone(), v)
        })
        .collect()
}

/// The properties `allprop` returns for each kind of resource.
pub(super) fn all_props(res: &Res) -> Vec<PropName> {
    let mut v = vec![p(DAV, "resourcetype"), p(DAV, "displayname")];
    match res {
        Res::Coll(_) => v.extend([
            p(DAV, "sync-token"),
            p(CS, "getctag"),
            p(CALDAV, "supported-calendar-component-set"),
        ]),
        Res::Item(..) => v.extend([p(DAV, "getetag"), p(DAV, "getcontenttype")]),
        _ => {}
    }
    v
}

pub(super) fn href_xml(h: &str) -> String {
    format!("<D:href>{}</D:href>", esc(h))
}

/// The value of one property of a resource, or `None` if it has none.
pub(super) fn prop_value(
    gw: &Gateway,
    res: &Res,
    ev: Option<&StoredEvent>,
    (seq, who): (u64, Option<&str>),
    (ns, name): &PropName,
) -> Option<String> {
    let is_coll = matches!(res, Res::Coll(_));
    let own = matches!(res, Res::Coll(Coll::User(_)) | Res::Item(Coll::User(_), _));
    // An account's calendar has a CTag of its own, the newest change among its events, so
    // apps that poll the CTag (Thunderbird, Apple) fetch nothing while only others' events
    // change. Its sync token stays the store's: a delta then scans only the changes since the
    // app's last sync, however long ago the account last changed an event.
    let ctag = || match res {
        Res::Coll(Coll::User(o)) => o.ctag(gw).ok(),
        _ => Some(seq),
    };
    // What the account's apps set on its calendar (PROPPATCH), before the node's defaults.
    if let Res::Coll(Coll::User(o)) = res {
        if let Ok(Some(v)) = gw.store.dav_prop(&o.account, ns, name) {
            return Some(esc(&v).into_owned());
        }
    }
    Some(match (ns.as_str(), name.as_str()) {
        (DAV, "resourcetype") => match res {
            Res::Coll(_) => "<D:collection/><C:calendar/>".into(),
            Res::Principal => "<D:collection/><D:principal/>".into(),
            Res::Root | Res::Home => "<D:collection/>".into(),
            Res::Item(..) | Res::Named(..) => String::new(),
        },
        (DAV, "displayname") => esc(&display_name(gw, res, ev, who)).into_owned(),
        (DAV, "current-user-principal") | (DAV, "principal-URL") | (DAV, "owner") => {
            href_xml(&principal_href(who))
        }
        (CALDAV, "calendar-home-set") => href_xml(HOME),
        (DAV, "principal-collection-set") => href_xml(PRINCIPAL),
        (DAV, "current-user-privilege-set") if own => [
            "<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>",
            "<D:privilege><D:write/></D:privilege><D:privilege><D:write-content/></D:privilege>",
            "<D:privilege><D:bind/></D:privilege><D:privilege><D:unbind/></D:privilege>",
        ]
        .concat(),
        // An account may edit other nodes' events in the shared calendars: each edit is sent
        // to the event's origin as a proposal (`dav/propose.rs`).
        (DAV, "current-user-privilege-set") if who.is_some() && proposable(gw, res) => {
            "<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege><D:privilege><D:write-content/></D:privilege>".into()
        }
        (DAV, "current-user-privilege-set") => {
            "<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>".into()
        }
        (CALDAV, "max-resource-size") if is_coll => super::own::MAX_RESOURCE_BYTES.to_string(),
        (DAV, "supported-report-set") if is_coll => [
            "<D:supported-report><D:report><C:calendar-query/></D:report></D:supported-report>",
            "<D:supported-report><D:report><C:calendar-multiget/></D:report></D:supported-report>",
            "<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>",
            "<D:supported-report><D:report><C:free-busy-query/></D:report></D:supported-report>",
        ]
        .concat(),
        (CALDAV, "supported-calendar-component-set") if is_coll => {
            "<C:comp name=\"VEVENT\"/>".into()
        }
        (CALDAV, "supported-calendar-data") if is_coll => {
            "<C:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into()
        }
        (CALDAV, "calendar-description") if is_coll => {
            esc(&format!("DisCal: {}", display_name(gw, res, ev, who))).into_owned()
        }
        (ICAL, "calendar-color") if is_coll => "#2457C5FF".into(),
        (CS, "getctag") if is_coll => ctag()?.to_string(),
        (DAV, "sync-token") if is_coll => sync_token(seq),
        (DAV, "getetag") => item_etag(&gw.store, ev?),
        (DAV, "getcontenttype") => {
            ev?;
            ITEM_TYPE.into()
        }
        (DAV, "getlastmodified") => DateTime::from_timestamp_millis(ev?.received_at_ms)?
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string(),
        _ => return None,
    })
}

/// Whether an account's app may edit `res` by proposal: a shared calendar, or another node's
/// event in one.
fn proposable(gw: &Gateway, res: &Res) -> bool {
    match res {
        Res::Coll(_) => true,
        Res::Item(_, k) => gw.node.key().is_some_and(|me| me != k.origin),
        _ => false,
    }
}

/// The principal of `who`, or the anonymous one.
pub(super) fn principal_href(who: Option<&str>) -> String {
    who.map_or_else(
        || PRINCIPAL.to_owned(),
        |n| format!("{PRINCIPAL}{}/", crate::read::path_segment(n)),
    )
}

pub(super) fn display_name(
    gw: &Gateway,
    res: &Res,
    ev: Option<&StoredEvent>,
    who: Option<&str>,
) -> String {
    match res {
        Res::Coll(Coll::User(o)) => format!("{} ({})", gw.name, o.account),
        Res::Coll(Coll::All) => gw.name.to_string(),
        Res::Coll(Coll::Origin(k)) => format!("{} ({})", gw.name, short_key(k)),
        Res::Coll(Coll::View(q, _)) => format!("{}: {q}", gw.name),
        Res::Item(..) => ev
            .and_then(|e| e.content().master.summary.clone())
            .unwrap_or_default(),
        Res::Principal => who.unwrap_or("anonymous").into(),
        Res::Root | Res::Home | Res::Named(..) => gw.name.to_string(),
    }
}

pub(super) fn short_key(k: &NodeKey) -> String {
    let s = k.to_string();
    format!("…{}", &s[s.len().saturating_sub(8)..])
}

pub(super) fn props_of(
    gw: &Gateway,
    res: &Res,
    ev: Option<&StoredEvent>,
    at: (u64, Option<&str>),
    names: &[PropName],
) -> (Vec<(PropName, String)>, Vec<PropName>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match prop_value(gw, res, ev, at, n) {
            Some(v) => found.push((n.clone(), v)),
            None => missing.push(n.clone()),
        }
    }
    (found, missing)
}
