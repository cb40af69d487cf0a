//! Events taken from a source this node subscribes to (an iCalendar feed, an event page): the
//! seed's rules for what an aggregator takes in, as pure functions the node's poller applies
//! before it signs (docs/operators.md, "Sources"; docs/protocol.md §13).
//!
//! - X-HOP empty or invalid → 1, else + 1: the event starts its life on the mesh that far from
//!   where it was first published.
//! - X-REVISION kept when valid, else 1.
//! - X-REVISE-URL kept when the source names one (changes go to the real origin), else the
//!   node's own revise page (set when it signs).
//! - A missing or malformed UID becomes `<hash>@<source host>`, the hash over what names the
//!   event for people (title, start, place) and not over stamps that exporters rewrite on every
//!   download, so it is the same on every poll.
//! - The source's URL is kept in `X-DISCAL-SOURCE` (provenance), unless an earlier aggregator
//!   already named the first source.

use sha2::{Digest, Sha256};

use crate::codec;
use crate::ics::ImportedEvent;
use crate::model::{Component, DateTimeValue, End, EventContent, Property};

/// The property that names where an aggregated event was taken from.
pub const SOURCE_PROPERTY: &str = "X-DISCAL-SOURCE";

/// One event as the node will sign it.
#[derive(Clone, Debug, PartialEq)]
pub struct Adopted {
    /// Its UID (the source's, or a stable one made here).
    pub uid: String,
    /// What to sign.
    pub content: EventContent,
    /// The hop count it starts from on the mesh.
    pub hop: u8,
    /// The revision to start from when it is new.
    pub first_revision: u32,
    /// What was adjusted to take it.
    pub warnings: Vec<String>,
}

/// The host part of a URL (`https://user@Example.org:8443/x` → `example.org`), for UIDs and
/// for people reading where an event came from.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// A UID for an event whose source gave none (or an unusable one), the same on every poll.
pub fn stable_uid(content: &EventContent, host: &str) -> String {
    let m = &content.master;
    let mut h = Sha256::new();
    h.update(m.summary.as_deref().unwrap_or("").as_bytes());
    h.update([0]);
    h.update(codec::encode(&m.start));
    h.update([0]);
    h.update(m.location.as_deref().unwrap_or("").as_bytes());
    let d = h.finalize();
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hex}@{host}")
}

/// Applies the rules above to one event read from `source_url`.
pub fn adopt(ev: ImportedEvent, source_url: &str) -> Adopted {
    let mut content = ev.content;
    let host = url_host(source_url).unwrap_or_else(|| "source.invalid".into());
    let uid = if ev.uid_generated {
        stable_uid(&content, &host)
    } else {
        ev.uid
    };
    // Exporters stamp every download anew; the stamp is the node's own once it signs.
    content.master.dtstamp = None;
    for o in &mut content.overrides {
        o.dtstamp = None;
    }
    if content
        .master
        .revise_url
        .as_deref()
        .is_some_and(|u| u.trim().is_empty())
    {
        content.master.revise_url = None;
    }
    if !content
        .master
        .extra
        .iter()
        .any(|p| p.name == SOURCE_PROPERTY)
    {
        content.master.extra.push(Property {
            name: SOURCE_PROPERTY.into(),
            params: Vec::new(),
            value: source_url.to_string(),
        });
    }
    let hop = ev.hop.map_or(1, |h| h.saturating_add(1));
    let hop = u8::try_from(hop).unwrap_or(u8::MAX);
    content
        .master
        .extra
        .retain(|p| p.name != SOURCE_HOP_PROPERTY);
    content.master.extra.push(Property {
        name: SOURCE_HOP_PROPERTY.into(),
        params: Vec::new(),
        value: hop.to_string(),
    });
    Adopted {
        uid,
        content,
        hop,
        first_revision: ev
            .revision
            .filter(|r| *r <= crate::validate::MAX_REVISION)
            .unwrap_or(1),
        warnings: ev.warnings,
    }
}

/// The property that keeps how many times an aggregated event was published before this
/// node took it in (the source's X-HOP + 1). The mesh's own hop count starts at 0 at the
/// node that signed it (its relay path is checked against it, docs/protocol.md §11), so a
/// feed writes X-HOP as the two added together.
pub const SOURCE_HOP_PROPERTY: &str = "X-DISCAL-SOURCE-HOP";

/// The hops an event made before it entered the mesh (0 for an event of the mesh's own).
pub fn source_hops(content: &EventContent) -> u32 {
    content
        .master
        .extra
        .iter()
        .find(|p| p.name == SOURCE_HOP_PROPERTY)
        .and_then(|p| p.value.trim().parse::<u8>().ok())
        .map_or(0, u32::from)
}

/// Places times the source wrote without a zone (floating) in `tz`, as the operator said its
/// local times are meant; returns how many values were placed.
pub fn zone_floating(content: &mut EventContent, tz: &str) -> usize {
    let mut n = 0;
    let mut place = |v: &mut DateTimeValue| {
        if let DateTimeValue::Floating(local) = v {
            *v = DateTimeValue::Zoned {
                local: *local,
                tzid: tz.to_string(),
            };
            n += 1;
        }
    };
    let mut comps: Vec<&mut Component> = vec![&mut content.master];
    comps.extend(content.overrides.iter_mut());
    for c in comps {
        place(&mut c.start);
        if let Some(End::At(e)) = &mut c.end {
            place(e);
        }
        if let Some(r) = &mut c.recurrence_id {
            place(r);
        }
        c.rdates.iter_mut().for_each(&mut place);
        c.exdates.iter_mut().for_each(&mut place);
    }
    n
}

/// The DisCal attributes in the order [`ImportedEvent::written`] holds them.
pub const ATTRIBUTES: [&str; 3] = ["X-HOP", "X-REVISION", "X-REVISE-URL"];

/// The seed's validity rule for an event a sister site pushes (stricter than for a feed this
/// node reads, where a broken attribute just counts as absent): DisCal's attributes are all
/// absent or empty (a site without DisCal: a first-hand event), or all present and valid.
/// Anything between means a sender that lost track, and is refused with the reason.
pub fn check_pushed(ev: &ImportedEvent) -> Result<(), String> {
    let given: Vec<Option<&str>> = ev
        .written
        .iter()
        .map(|w| w.as_deref().filter(|v| !v.is_empty()))
        .collect();
    if given.iter().all(Option::is_none) {
        return Ok(());
    }
    for (name, value) in ATTRIBUTES.iter().zip(&given) {
        let Some(v) = value else { continue };
        let why = match *name {
            "X-HOP" => v
                .parse::<u8>()
                .err()
                .map(|_| "is not a hop count (a whole number, 0 to 255)".to_string()),
            "X-REVISION" => match v.parse::<u32>() {
                Ok(r) if r <= crate::validate::MAX_REVISION => None,
                _ => Some(format!(
                    "is not a revision number (a whole number, 0 to {})",
                    crate::validate::MAX_REVISION
                )),
            },
            _ => (!(v.starts_with("https://") || v.starts_with("http://"))
                || url_host(v).is_none())
            .then(|| "is not an http(s) URL".to_string()),
        };
        if let Some(why) = why {
            return Err(format!("{name} {v:?} {why}"));
        }
    }
    let missing: Vec<&str> = ATTRIBUTES
        .iter()
        .zip(&given)
        .filter(|(_, v)| v.is_none())
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} missing or empty while the other DisCal attributes are given: a pushed event \
             carries all of X-HOP, X-REVISION and X-REVISE-URL, or none",
            missing.join(" and ")
        ))
    }
}

/// The source an event was taken from, if it was.
pub fn source_of(content: &EventContent) -> Option<&str> {
    content
        .master
        .extra
        .iter()
        .find(|p| p.name == SOURCE_PROPERTY)
        .map(|p| p.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ics::parse_calendar;
    use crate::{Limits, NodeSecret};

    fn read(text: &str) -> Vec<ImportedEvent> {
        let key = NodeSecret::from_seed_array([3; 32]).public();
        parse_calendar(text, &key, &Limits::default())
            .unwrap()
            .events
    }

    const NO_UID: &str = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTAMP:20261201T101010Z\r\n\
        DTSTART:20270110T180000Z\r\nSUMMARY:Install party\r\nX-HOP:2\r\nX-REVISION:x\r\n\
        END:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn generated_uids_survive_new_stamps() {
        let a = adopt(read(NO_UID).remove(0), "https://Example.org/cal.ics");
        let b = adopt(
            read(&NO_UID.replace("20261201T101010Z", "20261202T111111Z")).remove(0),
            "https://Example.org/cal.ics",
        );
        assert_eq!(a.uid, b.uid);
        assert_eq!(a.content, b.content);
        assert!(a.uid.ends_with("@example.org"), "{}", a.uid);
        assert_eq!(a.hop, 3);
        assert_eq!(source_hops(&a.content), 3);
        assert_eq!(a.first_revision, 1, "an invalid X-REVISION counts as none");
        assert_eq!(source_of(&a.content), Some("https://Example.org/cal.ics"));
    }

    #[test]
    fn pushed_attributes_all_or_none() {
        let with = |attrs: &str| {
            let text = NO_UID
                .replace("X-HOP:2\r\nX-REVISION:x\r\n", attrs)
                .replace("SUMMARY", "UID:u1\r\nSUMMARY");
            check_pushed(&read(&text).remove(0))
        };
        let url = "X-REVISE-URL:https://a.example/revise\r\n";
        assert_eq!(with(""), Ok(()));
        assert_eq!(
            with("X-HOP:\r\nX-REVISION:\r\n"),
            Ok(()),
            "all empty: first-hand"
        );
        assert_eq!(with(&format!("X-HOP:2\r\nX-REVISION:4\r\n{url}")), Ok(()));
        let e = with(&format!("X-HOP:2\r\nX-REVISION:x\r\n{url}")).unwrap_err();
        assert!(
            e.starts_with("X-REVISION \"x\" is not a revision number"),
            "{e}"
        );
        let e = with(&format!("X-HOP:2\r\nX-REVISION:-1\r\n{url}")).unwrap_err();
        assert!(e.starts_with("X-REVISION \"-1\""), "{e}");
        assert_eq!(with(&format!("X-HOP:1\r\nX-REVISION:0\r\n{url}")), Ok(()));
        let e = with("X-HOP:2\r\nX-REVISION:3\r\n").unwrap_err();
        assert!(e.starts_with("X-REVISE-URL missing or empty"), "{e}");
        let e = with(&format!("X-HOP:300\r\nX-REVISION:3\r\n{url}")).unwrap_err();
        assert!(e.starts_with("X-HOP \"300\""), "{e}");
        let e = with("X-HOP:1\r\nX-REVISION:3\r\nX-REVISE-URL:javascript:x\r\n").unwrap_err();
        assert!(e.starts_with("X-REVISE-URL"), "{e}");
    }

    #[test]
    fn hosts() {
        for (url, host) in [
            ("https://a.example/x", "a.example"),
            ("http://u:p@B.example:8080/", "b.example"),
            ("http://[::1]:80/x", "::1"),
            ("https://c.example?q", "c.example"),
        ] {
            assert_eq!(url_host(url).as_deref(), Some(host), "{url}");
        }
        assert_eq!(url_host("nope"), None);
    }
}
