//! Where real clients and the RFCs disagree, one named function per behaviour, each saying
//! which clients it serves. The server is lenient in what it accepts here and strict in what
//! it sends.

use axum::http::HeaderMap;

use super::error::DavError;

/// Depth of a PROPFIND. RFC 4918 reads a missing Depth as infinity, which this server refuses
/// as the RFC allows (403 with `propfind-finite-depth`); some clients (GNOME's evolution-data-
/// server on principal lookups, curl-based scripts) send no Depth for what is meant as a
/// lookup of one resource, so a missing Depth is answered as Depth 0.
pub fn propfind_depth(headers: &HeaderMap) -> Result<u8, DavError> {
    match headers
        .get("depth")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None => Ok(0),
        Some("0") => Ok(0),
        Some("1") => Ok(1),
        Some(d) if d.eq_ignore_ascii_case("infinity") => {
            Err(DavError::Precondition("<D:propfind-finite-depth/>".into()))
        }
        Some(d) => Err(DavError::BadRequest(format!("Depth {d:?}: use 0 or 1"))),
    }
}

/// Clients given only a host name (python caldav with `url=https://host/`, GNOME Online
/// Accounts, Apple when RFC 6764 lookups fail) PROPFIND `/` for `current-user-principal`; the
/// site root answers those methods as the DAV root (GET still serves the front page).
pub fn bare_host_is_dav_root(path: &str) -> bool {
    path == "/"
}

/// An href's path: absolute URLs (Apple Calendar and tsdav send them) lose scheme and host.
fn path_of(href: &str) -> &str {
    let h = href.trim();
    match h.find("://") {
        Some(i) => {
            let after = &h[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => h,
    }
}

/// An href from a request body, as a path this server can resolve:
/// - absolute URLs (Apple Calendar and tsdav send `https://host/dav/...`) lose scheme and host;
/// - UIDs arrive percent-encoded in different ways (`@` as `%40` from DAVx5, raw from
///   Thunderbird, `%7E` for `~`); the item name is decoded here and re-encoded the way
///   [`super::item_name`] spells it, so every spelling names the same item.
pub fn normalize_href(href: &str) -> String {
    let path = path_of(href);
    // The item segment is decoded to a canonical text form and encoded the way this server
    // spells it, so `resolve` sees one spelling. The collection part is left as sent: a
    // view's segment may hold an encoded `/` (`tz=Europe%2FBerlin`), and `resolve` decodes it.
    match path.rsplit_once('/') {
        Some((dir, name)) if name.ends_with(".ics") => {
            let name = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
            format!("{dir}/{}", crate::read::path_segment(&name))
        }
        _ => path.to_owned(),
    }
}

/// Whether an href, as sent, names an item directly in the collection at `coll` (a path
/// ending in `/`), as an absolute URL or a path, without decoding it. Cheap and conservative:
/// an href spelled otherwise (an encoded collection path, `//`) gets `false`, and `resolve`
/// still decides what it names.
pub fn href_is_item_of(href: &str, coll: &str) -> bool {
    path_of(href)
        .strip_prefix(coll)
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_in_every_spelling_name_one_item() {
        let want = "/dav/calendars/all/K~a%40b%20c.ics";
        for h in [
            "/dav/calendars/all/K~a%40b%20c.ics",
            "/dav/calendars/all/K~a@b%20c.ics",
            "/dav/calendars/all/K%7Ea@b%20c.ics",
            "https://cal.example:8443/dav/calendars/all/K~a@b%20c.ics",
        ] {
            assert_eq!(normalize_href(h), want.replace("%40", "@"), "{h}");
        }
        // A view's query keeps its encoded `/`, or the path would gain a segment.
        let view = "/dav/views/tags%3Dx%26tz%3DEurope%2FBerlin/K~a@b%20c.ics";
        assert_eq!(normalize_href(view), view);
    }
}
