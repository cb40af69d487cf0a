//! CalDAV in-process: requests shaped like those Thunderbird, DAVx5, Apple Calendar, tsdav and
//! vdirsyncer send (bodies, headers, Depth, href spellings), with the answers checked.

mod common;

use axum::http::StatusCode;
use axum::Router;
use common::*;
use discal_store::{Store, Transit};

fn setup() -> (Router, discal_gateway::Gateway) {
    let store = Store::memory();
    fill(&store, 20);
    let gw = gateway(store, "https://cal.example.org");
    (discal_gateway::router(gw.clone()), gw)
}

fn a_key() -> String {
    secret(1).public().to_string()
}

/// The hrefs of the `<D:response>`s with a 200 propstat or status.
fn hrefs(body: &str) -> Vec<String> {
    body.split("<D:response>")
        .skip(1)
        .filter_map(|r| {
            let h = r.split("<D:href>").nth(1)?.split("</D:href>").next()?;
            Some(h.replace("&amp;", "&"))
        })
        .collect()
}

/// The sync token of a multistatus.
fn token_of(body: &str) -> String {
    body.split("<D:sync-token>")
        .nth(1)
        .and_then(|t| t.split("</D:sync-token>").next())
        .unwrap_or_else(|| panic!("no sync token in {body}"))
        .to_owned()
}

fn item_href(coll: &str, uid: &str) -> String {
    format!(
        "{coll}{}",
        discal_gateway::dav::item_name(&secret(1).public(), uid)
    )
}

/// Publishes revision 1 of origin A's event `uid` with a new title.
fn retitle(gw: &discal_gateway::Gateway, uid: &str, title: &str) {
    revise(gw, uid, |c| c.master.summary = Some(title.into()));
}

/// Publishes revision 1 of origin A's event `uid`, changed by `change`.
fn revise(
    gw: &discal_gateway::Gateway,
    uid: &str,
    change: impl FnOnce(&mut discal_protocol::EventContent),
) {
    let a = secret(1);
    let held = gw
        .store
        .get(&discal_protocol::EventKey {
            origin: a.public(),
            uid: uid.into(),
        })
        .unwrap()
        .unwrap();
    let mut c = held.payload.content.clone();
    change(&mut c);
    c.master.sequence += 1;
    let ev = discal_protocol::sign(
        &a,
        uid.into(),
        1,
        ISSUED + 1,
        c,
        &discal_protocol::Limits::default(),
    )
    .unwrap();
    gw.store.apply(&ev, Transit::local(), ISSUED + 2).unwrap();
}

const CTAG_PROPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop>
    <D:resourcetype/>
    <D:owner/>
    <D:current-user-principal/>
    <D:current-user-privilege-set/>
    <D:supported-report-set/>
    <C:supported-calendar-component-set/>
    <CS:getctag/>
  </D:prop>
</D:propfind>"#;

#[tokio::test]
async fn discovery_as_davx5_and_tsdav_do_it() {
    let (app, _) = setup();
    // Well-known redirects to the DAV root (DAVx5 and tsdav start here).
    let r = dav(
        &app,
        "PROPFIND",
        "/.well-known/caldav",
        &[("depth", "0")],
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(r.headers["location"], "/dav/");
    // current-user-principal, with an href although nobody logged in.
    let body =
        r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#;
    let r = dav(
        &app,
        "PROPFIND",
        "/dav/",
        &[("depth", "0"), ("content-type", "application/xml")],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert!(
        r.body.contains(
            "<D:current-user-principal><D:href>/dav/principal/</D:href></D:current-user-principal>"
        ),
        "{}",
        r.body
    );
    assert!(!r.body.contains("unauthenticated"));
    // The principal's calendar home (tsdav asks with its own prefixes).
    let body = r#"<propfind xmlns="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><prop><c:calendar-home-set/><displayname/><principal-URL/></prop></propfind>"#;
    let r = dav(&app, "PROPFIND", "/dav/principal/", &[("depth", "0")], body).await;
    assert!(r
        .body
        .contains("<C:calendar-home-set><D:href>/dav/calendars/</D:href></C:calendar-home-set>"));
    assert!(r
        .body
        .contains("<D:principal-URL><D:href>/dav/principal/</D:href></D:principal-URL>"));
    // DAVx5 lists the home with Depth 1.
    let body = r#"<?xml version='1.0' encoding='UTF-8' ?><propfind xmlns="DAV:" xmlns:CAL="urn:ietf:params:xml:ns:caldav" xmlns:CARD="urn:ietf:params:xml:ns:carddav" xmlns:IC="http://apple.com/ns/ical/"><prop><current-user-privilege-set /><resourcetype /><displayname /><IC:calendar-color /><CAL:calendar-description /><CAL:calendar-timezone /><CAL:supported-calendar-component-set /><CARD:addressbook-description /></prop></propfind>"#;
    let r = dav(&app, "PROPFIND", "/dav/calendars/", &[("depth", "1")], body).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    let hs = hrefs(&r.body);
    assert!(hs.contains(&"/dav/calendars/all/".to_owned()), "{hs:?}");
    assert!(hs.contains(&format!("/dav/calendars/origin-{}/", a_key())));
    assert_eq!(hs.len(), 4, "home, all, two origins: {hs:?}");
    assert!(r.body.contains("<D:collection/><C:calendar/>"));
    assert!(r
        .body
        .contains("<I:calendar-color>#2457C5FF</I:calendar-color>"));
    assert!(r.body.contains("<C:comp name=\"VEVENT\"/>"));
    assert!(r.body.contains("<D:privilege><D:read/></D:privilege>"));
    assert!(!r.body.contains("<D:write"));
    // Properties the server does not have are listed under 404 in their own namespace.
    assert!(r
        .body
        .contains("<X:addressbook-description xmlns:X=\"urn:ietf:params:xml:ns:carddav\"/>"));
    assert!(r.body.contains("HTTP/1.1 404 Not Found"));
}

#[tokio::test]
async fn thunderbird_checks_ctag_then_lists_etags_and_multigets() {
    let (app, _) = setup();
    let coll = format!("/dav/calendars/origin-{}/", a_key());
    let r = dav(&app, "PROPFIND", &coll, &[("depth", "0")], CTAG_PROPS).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert!(r.body.contains("<CS:getctag>"));
    assert!(r.body.contains("<C:calendar-multiget/>") && r.body.contains("<D:sync-collection/>"));
    // Trailing slash or not: the same collection.
    let r2 = dav(
        &app,
        "PROPFIND",
        coll.trim_end_matches('/'),
        &[("depth", "0")],
        CTAG_PROPS,
    )
    .await;
    assert_eq!(r2.status, StatusCode::MULTI_STATUS);
    assert!(r2.body.contains("<CS:getctag>"));
    // Depth 1 etag listing.
    let body = r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getcontenttype/><D:resourcetype/><D:getetag/></D:prop></D:propfind>"#;
    let r = dav(&app, "PROPFIND", &coll, &[("depth", "1")], body).await;
    let hs = hrefs(&r.body);
    assert_eq!(hs.len(), 1 + 9, "collection + 9 events of origin A: {hs:?}");
    assert!(r.body.contains("<D:getetag>\"0-"));
    assert!(r.body.contains("component=vevent"));
    // Multiget with Depth 1 and hrefs as Thunderbird spells them (raw '@').
    let h1 = item_href(&coll, "berlin-weekly@example.org");
    let h2 = item_href(&coll, "allday@example.org");
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{h1}</D:href><D:href>{h2}</D:href><D:href>{coll}missing.ics</D:href></C:calendar-multiget>"#
    );
    let r = dav(&app, "REPORT", &coll, &[("depth", "1")], &body).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert!(r.body.contains("UID:berlin-weekly@example.org"));
    assert!(r
        .body
        .contains("RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20261229T180000Z"));
    assert!(r.body.contains("BEGIN:VTIMEZONE"));
    assert!(r.body.contains("UID:allday@example.org"));
    assert!(r.body.contains("HTTP/1.1 404 Not Found"));
}

#[tokio::test]
async fn items_get_head_etag_and_encodings() {
    let (app, _) = setup();
    let coll = "/dav/calendars/all/";
    let href = item_href(coll, "hamburg-oneoff@example.org");
    let r = dav(&app, "GET", &href, &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/calendar"));
    let etag = r.headers["etag"].to_str().unwrap().to_owned();
    assert!(r
        .body
        .contains("SUMMARY:FSFE Hamburg: Free Software Evening"));
    let r = dav(&app, "GET", &href, &[("if-none-match", &etag)], "").await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = dav(&app, "HEAD", &href, &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    // DAVx5 encodes '@' as %40; both spellings name the item.
    let enc = href.replace('@', "%40");
    assert_eq!(dav(&app, "GET", &enc, &[], "").await.status, StatusCode::OK);
    let r = dav(&app, "GET", &format!("{coll}nobody~x.ics"), &[], "").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // An event of origin A is not in origin B's calendar.
    let b = secret(2).public().to_string();
    let other = item_href(
        &format!("/dav/calendars/origin-{b}/"),
        "hamburg-oneoff@example.org",
    );
    assert_eq!(
        dav(&app, "GET", &other, &[], "").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn apple_style_time_range_query_matches_instances() {
    let (app, _) = setup();
    let coll = "/dav/calendars/all/";
    // April 2026: the Berlin weekly (instances) matches, the December one-offs do not.
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<B:calendar-query xmlns:B="urn:ietf:params:xml:ns:caldav"><A:prop xmlns:A="DAV:"><A:getetag/><A:getcontenttype/></A:prop><B:filter><B:comp-filter name="VCALENDAR"><B:comp-filter name="VEVENT"><B:time-range start="20260401T000000Z" end="20260501T000000Z"/></B:comp-filter></B:comp-filter></B:filter></B:calendar-query>"#;
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], body).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    let hs = hrefs(&r.body);
    assert_eq!(hs.len(), 2, "{hs:?}");
    assert!(hs.iter().any(|h| h.contains("berlin-weekly")));
    assert!(hs.iter().any(|h| h.contains("ny-monthly")));
    // February 17 is an EXDATE: a range covering only that evening finds nothing.
    let body = body
        .replace("20260401T000000Z", "20260217T170000Z")
        .replace("20260501T000000Z", "20260217T200000Z");
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], &body).await;
    assert!(hrefs(&r.body).is_empty(), "{}", r.body);
    // A VTODO query matches nothing; an unknown filter element is refused with a DAV error.
    let todo = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter></C:filter></C:calendar-query>"#;
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], todo).await;
    assert!(hrefs(&r.body).is_empty());
    let odd = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-search>x</C:text-search></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], odd).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("supported-filter"));
    // A text-match on SUMMARY (GNOME Calendar's search).
    let tm = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match collation="i;unicode-casemap">hackathon</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], tm).await;
    let hs = hrefs(&r.body);
    assert_eq!(hs.len(), 1);
    assert!(hs[0].contains("allday"));
}

/// RFC 4791 §9.7 filters as python caldav's and caldav-server-tester's searches send them:
/// properties present or `is-not-defined`, text in each collation, parameters, alarms.
#[tokio::test]
async fn calendar_query_filters_follow_rfc_4791() {
    let (app, _) = setup();
    let query = |inner: &str| {
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20261201T000000Z" end="20261211T000000Z"/>{inner}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
        )
    };
    let uids = |body: String| {
        let app = app.clone();
        async move {
            let r = dav(
                &app,
                "REPORT",
                "/dav/calendars/all/",
                &[("depth", "1")],
                &body,
            )
            .await;
            assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
            let mut hs: Vec<String> = hrefs(&r.body)
                .iter()
                .map(|h| {
                    h.rsplit('~')
                        .next()
                        .unwrap()
                        .trim_end_matches(".ics")
                        .to_owned()
                })
                .collect();
            hs.sort();
            hs
        }
    };
    let all = uids(query("")).await;
    for u in ["hamburg-oneoff", "allday", "floating", "hostile"] {
        assert!(all.iter().any(|h| h.starts_with(u)), "{u} not in {all:?}");
    }
    let no_location = uids(query(
        r#"<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>"#,
    ))
    .await;
    assert!(
        no_location.iter().any(|h| h.starts_with("allday")),
        "{no_location:?}"
    );
    assert!(!no_location.iter().any(|h| h.starts_with("hamburg")));
    let with_location = uids(query(r#"<C:prop-filter name="LOCATION"/>"#)).await;
    assert!(
        with_location.iter().any(|h| h.starts_with("hamburg")),
        "{with_location:?}"
    );
    assert!(!with_location.iter().any(|h| h.starts_with("allday")));
    // i;octet is case-sensitive; the default i;ascii-casemap is not.
    let octet = |t: &str| {
        query(&format!(
            r#"<C:prop-filter name="SUMMARY"><C:text-match collation="i;octet">{t}</C:text-match></C:prop-filter>"#
        ))
    };
    assert_eq!(uids(octet("Hamburg")).await.len(), 1);
    assert!(uids(octet("hamburg")).await.is_empty());
    // A parameter: the Berlin weekly's DTSTART has a TZID, the one-offs' do not.
    let zoned = uids(query(
        r#"<C:prop-filter name="DTSTART"><C:param-filter name="TZID"><C:text-match>Europe/Berlin</C:text-match></C:param-filter></C:prop-filter>"#,
    ))
    .await;
    assert!(
        zoned
            .iter()
            .all(|h| h.starts_with("berlin") || h.starts_with("spring")),
        "{zoned:?}"
    );
    // Events here carry no alarms: a search for one finds nothing, its absence everything.
    let alarm = |inner: &str| {
        query(&format!(
            r#"<C:comp-filter name="VALARM">{inner}</C:comp-filter>"#
        ))
    };
    assert!(uids(alarm(
        r#"<C:time-range start="20261201T000000Z" end="20261211T000000Z"/>"#
    ))
    .await
    .is_empty());
    assert_eq!(uids(alarm("<C:is-not-defined/>")).await, all);
    let klingon = query(
        r#"<C:prop-filter name="SUMMARY"><C:text-match collation="x;klingon">a</C:text-match></C:prop-filter>"#,
    );
    let r = dav(
        &app,
        "REPORT",
        "/dav/calendars/all/",
        &[("depth", "1")],
        &klingon,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("supported-collation"), "{}", r.body);
}

/// free-busy-query (RFC 4791 §7.10): one VFREEBUSY of the range's busy time, cancelled
/// events left out, each period cut to the range.
#[tokio::test]
async fn free_busy_query_answers_the_busy_time() {
    let (app, gw) = setup();
    use discal_protocol::model::Status;
    revise(&gw, "hamburg-oneoff@example.org", |c| {
        c.master.status = Some(Status::Tentative)
    });
    revise(&gw, "hostile@example.org", |c| {
        c.master.status = Some(Status::Cancelled)
    });
    let ask = |range: &str| {
        format!(
            r#"<?xml version="1.0" encoding="utf-8" ?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">{range}</C:free-busy-query>"#
        )
    };
    let r = dav(
        &app,
        "REPORT",
        "/dav/calendars/all/",
        &[("depth", "1")],
        &ask(r#"<C:time-range start="20261201T000000Z" end="20261205T120000Z"/>"#),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let fb = r.body.replace("\r\n ", "");
    assert!(fb.contains("BEGIN:VFREEBUSY"), "{fb}");
    assert!(
        fb.contains("\nUID:freebusy-"),
        "RFC 5545 requires a UID: {fb}"
    );
    assert!(fb.contains("DTSTART:20261201T000000Z") && fb.contains("DTEND:20261205T120000Z"));
    let busy = fb
        .lines()
        .find(|l| l.starts_with("FREEBUSY;FBTYPE=BUSY:"))
        .unwrap_or_else(|| panic!("{fb}"));
    // Berlin's Tuesday evening (with the cancelled talk inside it), and the all-day
    // hackathon cut at the range's end; the hostile event, now cancelled, is not busy time.
    assert_eq!(
        busy,
        "FREEBUSY;FBTYPE=BUSY:20261201T180000Z/20261201T200000Z,20261205T000000Z/20261205T120000Z"
    );
    // Hamburg's evening, now tentative.
    assert!(
        fb.contains("FREEBUSY;FBTYPE=BUSY-TENTATIVE:20261203T170000Z/20261203T190000Z"),
        "{fb}"
    );
    let r = dav(&app, "REPORT", "/dav/calendars/all/", &[], &ask("")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // The collections announce it.
    let r = dav(
        &app,
        "PROPFIND",
        "/dav/calendars/all/",
        &[("depth", "0")],
        r#"<D:propfind xmlns:D="DAV:"><D:prop><D:supported-report-set/></D:prop></D:propfind>"#,
    )
    .await;
    assert!(r.body.contains("<C:free-busy-query/>"), "{}", r.body);
}

#[tokio::test]
async fn expand_returns_utc_instances_with_recurrence_ids() {
    let (app, _) = setup();
    let body = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data><C:expand start="20260320T000000Z" end="20260410T000000Z"/></C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260320T000000Z" end="20260410T000000Z"/><C:prop-filter name="UID"><C:text-match>berlin</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#;
    let r = dav(
        &app,
        "REPORT",
        "/dav/calendars/all/",
        &[("depth", "1")],
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    let ics = r.body.replace("&#13;", "\r").replace("\r\n ", "");
    // 24 March 19:00 CET = 18:00Z; 31 March moved to 20:00 CEST = 18:00Z; 7 April 19:00 CEST = 17:00Z.
    for want in [
        "RECURRENCE-ID:20260324T180000Z",
        "DTSTART:20260324T180000Z",
        "RECURRENCE-ID:20260331T170000Z",
        "DTSTART:20260331T180000Z",
        "SUMMARY:Linux User Group Berlin (moved)",
        "DTSTART:20260407T170000Z",
    ] {
        assert!(ics.contains(want), "missing {want}: {ics}");
    }
    assert!(!ics.contains("RRULE"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
}

/// `DAV:limit` on sync-collection (RFC 6578 §3.6), paged as caldav-server-tester pages it:
/// each answer holds at most the limit, says it was cut with a 507 for the collection, and
/// its token brings the rest, for a first sync and for a delta alike.
#[tokio::test]
async fn sync_collection_pages_at_the_clients_limit() {
    let (app, gw) = setup();
    let coll = "/dav/calendars/all/";
    let ask = |token: String, limit: usize| {
        let app = app.clone();
        async move {
            let body = format!(
                r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level><D:limit><D:nresults>{limit}</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>"#
            );
            let r = dav(&app, "REPORT", coll, &[("depth", "0")], &body).await;
            assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
            let cut = r.body.contains(&format!(
                "<D:href>{coll}</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status><D:error><D:number-of-matches-within-limits/>"
            ));
            let items: Vec<String> = hrefs(&r.body).into_iter().filter(|h| h != coll).collect();
            let token = token_of(&r.body);
            (items, cut, token)
        }
    };
    let follow = |token: String, limit: usize| {
        let ask = &ask;
        async move {
            let (mut seen, mut token, mut pages) = (std::collections::BTreeSet::new(), token, 0);
            loop {
                let (items, cut, next) = ask(token.clone(), limit).await;
                assert!(
                    items.len() <= limit,
                    "{} items over a limit of {limit}",
                    items.len()
                );
                seen.extend(items);
                pages += 1;
                if !cut {
                    return (seen, next, pages);
                }
                assert_ne!(next, token, "a cut answer must move the token on");
                token = next;
            }
        }
    };
    let (all, token, pages) = follow(String::new(), 7).await;
    assert_eq!(all.len(), 9 + 20);
    assert_eq!(pages, 5);
    // A delta of three changes at a limit of two: two pages, nothing lost.
    for uid in [
        "hamburg-oneoff@example.org",
        "allday@example.org",
        "floating@example.org",
    ] {
        retitle(&gw, uid, "changed");
    }
    let (changed, _, pages) = follow(token.clone(), 2).await;
    assert_eq!(changed.len(), 3, "{changed:?}");
    assert_eq!(pages, 2);
    // Without a limit, or with one it does not reach, nothing is cut.
    let (_, cut, _) = ask(token, 3).await;
    assert!(!cut);
    let r = dav(&app, "REPORT", coll, &[], r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:limit><D:nresults>none</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    // A limit too large to hold is no limit.
    let huge = r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:limit><D:nresults>99999999999999999999999</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
    let r = dav(&app, "REPORT", coll, &[], huge).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    assert_eq!(hrefs(&r.body).len(), 9 + 20);
}

#[tokio::test]
async fn sync_collection_initial_delta_and_bad_token() {
    let (app, gw) = setup();
    // Calendar objects cached at start are per revision, so a change is never served stale.
    assert_eq!(gw.dav_objects.warm(&gw.store).unwrap(), 9 + 20);
    let coll = "/dav/calendars/all/";
    let initial = r#"<?xml version="1.0" encoding="utf-8" ?><D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
    // DAVx5 sends Depth 1 here (RFC 6578 says 0), vdirsyncer none: both work.
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], initial).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    assert_eq!(hrefs(&r.body).len(), 9 + 20);
    let token = token_of(&r.body);
    let r = dav(&app, "REPORT", coll, &[], initial).await;
    assert_eq!(hrefs(&r.body).len(), 9 + 20);

    // Nothing changed: an empty delta with the same token.
    let delta = initial.replace(
        "<D:sync-token/>",
        &format!("<D:sync-token>{token}</D:sync-token>"),
    );
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], &delta).await;
    assert!(hrefs(&r.body).is_empty(), "{}", r.body);

    // A new revision at the origin: exactly that item in the delta, with its new ETag.
    retitle(&gw, "hamburg-oneoff@example.org", "FSFE Hamburg (new room)");
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], &delta).await;
    let hs = hrefs(&r.body);
    assert_eq!(hs, vec![item_href(coll, "hamburg-oneoff@example.org")]);
    assert!(r.body.contains("<D:getetag>\"1-"));
    let mg = format!(
        r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop><D:href>{}</D:href></C:calendar-multiget>"#,
        item_href(coll, "hamburg-oneoff@example.org")
    );
    let r2 = dav(&app, "REPORT", coll, &[], &mg).await;
    assert!(
        r2.body.contains("SUMMARY:FSFE Hamburg (new room)"),
        "{}",
        r2.body
    );
    assert!(r2.body.contains("X-REVISION:1"));
    let new_token = token_of(&r.body);
    assert_ne!(new_token, token);

    // In a view the changed event left (it no longer matches q=fsfe evening), it is reported removed.
    let view = "/dav/views/q%3Devening/";
    let r = dav(&app, "REPORT", view, &[("depth", "1")], &delta).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    assert!(
        r.body
            .contains("<D:status>HTTP/1.1 404 Not Found</D:status>"),
        "{}",
        r.body
    );

    // Unknown tokens get the RFC's precondition error.
    for bad in [
        "http://discal.org/ns/sync/99999999",
        "garbage",
        "http://other/sync/1",
    ] {
        let body = initial.replace(
            "<D:sync-token/>",
            &format!("<D:sync-token>{bad}</D:sync-token>"),
        );
        let r = dav(&app, "REPORT", coll, &[("depth", "1")], &body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad}");
        assert!(r.body.contains("<D:valid-sync-token/>"));
    }
}

#[tokio::test]
async fn views_as_collections() {
    let (app, _) = setup();
    let view = "/dav/views/tags%3Dmeetup%26tz%3DEurope%2FBerlin/";
    let r = dav(&app, "PROPFIND", view, &[("depth", "1")], "").await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    let hs = hrefs(&r.body);
    assert_eq!(hs.len(), 3, "collection + berlin + ny: {hs:?}");
    assert!(r.body.contains("<D:collection/><C:calendar/>"));
    let bad = dav(
        &app,
        "PROPFIND",
        "/dav/views/tagz%3Dx/",
        &[("depth", "0")],
        "",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("\"tagz\""));
}

#[tokio::test]
async fn writes_are_refused_in_one_place_and_limits_hold() {
    let (app, _) = setup();
    let coll = "/dav/calendars/all/";
    for m in [
        "PUT",
        "DELETE",
        "MKCALENDAR",
        "PROPPATCH",
        "MOVE",
        "COPY",
        "MKCOL",
        "POST",
    ] {
        let r = dav(
            &app,
            m,
            &format!("{coll}x.ics"),
            &[("content-type", "text/calendar")],
            "BEGIN:VCALENDAR",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{m}");
        assert!(
            r.body.contains("<D:need-privileges>") && r.body.contains("<D:write/>"),
            "{m}"
        );
    }
    let r = dav(&app, "OPTIONS", coll, &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["dav"], "1, 3, calendar-access");
    assert!(r.headers["allow"].to_str().unwrap().contains("REPORT"));
    // Depth infinity is refused as RFC 4918 allows.
    let r = dav(&app, "PROPFIND", coll, &[("depth", "infinity")], "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("propfind-finite-depth"));
    // Entities, malformed and over-deep bodies: 400 with a reason.
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><D:propfind xmlns:D="DAV:">&a;</D:propfind>"#;
    let r = dav(&app, "PROPFIND", coll, &[("depth", "0")], bomb).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("DOCTYPE"));
    let r = dav(
        &app,
        "REPORT",
        coll,
        &[],
        "<D:sync-collection xmlns:D=\"DAV:\">",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let deep = format!(
        "<D:propfind xmlns:D=\"DAV:\">{}{}</D:propfind>",
        "<D:x>".repeat(50),
        "</D:x>".repeat(50)
    );
    let r = dav(&app, "PROPFIND", coll, &[("depth", "0")], &deep).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // An unknown report.
    let r = dav(
        &app,
        "REPORT",
        coll,
        &[],
        r#"<D:expand-property xmlns:D="DAV:"/>"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("supported-report"));
    // Paths that name nothing.
    assert_eq!(
        dav(&app, "PROPFIND", "/dav/nothing/", &[("depth", "0")], "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn vdirsyncer_lists_with_a_calendar_query_without_time_range() {
    let (app, _) = setup();
    let coll = format!("/dav/calendars/origin-{}/", a_key());
    let body = r#"<?xml version="1.0" encoding="utf-8" ?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getcontenttype/><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>"#;
    let r = dav(&app, "REPORT", &coll, &[("depth", "1")], body).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS);
    assert_eq!(hrefs(&r.body).len(), 9, "{}", r.body);
}

/// The start-up warm-up runs real reports and listings, one pass per runtime worker (all
/// answered 207, so it exercised the report paths rather than an error page), and changes
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_runs_each_report_and_leaves_the_store_alone() {
    let (_, gw) = setup();
    let before = gw.store.last_seq().unwrap();
    let statuses = discal_gateway::warm_up(&gw).await;
    assert_eq!(statuses.len(), 2 * 6);
    assert!(statuses.iter().all(|s| s.as_u16() == 207), "{statuses:?}");
    assert_eq!(gw.store.last_seq().unwrap(), before);
}

#[tokio::test]
async fn multiget_from_the_object_cache_answers_as_from_the_records() {
    let (app, gw) = setup();
    let b_key = secret(2).public();
    let all = "/dav/calendars/all/";
    let origin = format!("/dav/calendars/origin-{}/", a_key());
    let b_href = |coll: &str| {
        format!(
            "{coll}{}",
            discal_gateway::dav::item_name(&b_key, "bulk-3@b.example")
        )
    };
    let multiget = |coll: &str, props: &str| {
        format!(
            r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{props}</D:prop><D:href>{}</D:href><D:href>{}</D:href><D:href>{}</D:href><D:href>{coll}nobody~x.ics</D:href></C:calendar-multiget>"#,
            item_href(coll, "berlin-weekly@example.org").replace('@', "%40"),
            item_href(coll, "hamburg-oneoff@example.org"),
            b_href(coll),
        )
    };
    let cases = [
        (all, "<D:getetag/><C:calendar-data/>"),
        (
            all,
            "<C:calendar-data/><D:getcontenttype/><D:resourcetype/><D:getetag/>",
        ),
        // An origin's calendar does not hold another origin's event.
        (origin.as_str(), "<D:getetag/><C:calendar-data/>"),
        // A property the index does not have: the records are read.
        (all, "<D:getetag/><D:getlastmodified/><C:calendar-data/>"),
    ];
    for (coll, props) in cases {
        let body = multiget(coll, props);
        // First with no calendar object made (records read), then with all of them cached.
        gw.dav_objects.clear();
        let cold = dav(&app, "REPORT", coll, &[("depth", "1")], &body).await;
        assert_eq!(cold.status, StatusCode::MULTI_STATUS, "{}", cold.body);
        gw.dav_objects.warm(&gw.store).unwrap();
        let cached = dav(&app, "REPORT", coll, &[("depth", "1")], &body).await;
        assert_eq!(cached.body, cold.body, "{coll} {props}");
        let found = hrefs(&cached.body);
        assert_eq!(found.len(), 4, "{}", cached.body);
        assert!(cached
            .body
            .contains("SUMMARY:FSFE Hamburg: Free Software Evening"));
        let gone = cached.body.matches("HTTP/1.1 404 Not Found").count();
        assert_eq!(gone, if coll == all { 1 } else { 2 }, "{}", cached.body);
    }

    // A new revision is served at once: the index names a revision the cache has not made.
    retitle(&gw, "hamburg-oneoff@example.org", "FSFE Hamburg (new room)");
    let r = dav(
        &app,
        "REPORT",
        all,
        &[("depth", "1")],
        &multiget(all, "<D:getetag/><C:calendar-data/>"),
    )
    .await;
    assert!(
        r.body.contains("SUMMARY:FSFE Hamburg (new room)"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("Free Software Evening"));
    assert!(r.body.contains("<D:getetag>\"1-"));
}

#[tokio::test]
async fn time_range_query_from_the_indexes_answers_as_from_the_records() {
    let (app, gw) = setup();
    let origin = format!("/dav/calendars/origin-{}/", a_key());
    let query = |start: &str, end: &str, props: &str, extra: &str| {
        format!(
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{props}</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>{extra}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"#
        )
    };
    let data = "<D:getetag/><C:calendar-data/>";
    let berlin = item_href("/dav/calendars/all/", "berlin-weekly@example.org");
    // (collection, body, responses expected)
    let cases = [
        // Spring 2026: recurring events (one across the March DST change) and one-offs.
        (
            "/dav/calendars/all/".to_owned(),
            query("20260301T000000Z", "20260601T000000Z", data, ""),
            None,
        ),
        (
            "/dav/calendars/all/".to_owned(),
            query("20260401T000000Z", "20260501T000000Z", data, ""),
            Some(2),
        ),
        // Across New Year: cut from two years' expansions.
        (
            "/dav/calendars/all/".to_owned(),
            query("20261215T000000Z", "20270115T000000Z", data, ""),
            None,
        ),
        (
            origin.clone(),
            query("20260101T000000Z", "20270101T000000Z", data, ""),
            None,
        ),
        (
            "/dav/views/tags%3Dmeetup%26tz%3DEurope%2FBerlin/".to_owned(),
            query("20260301T000000Z", "20260601T000000Z", data, ""),
            None,
        ),
        // A query on one item.
        (
            berlin.clone(),
            query("20260401T000000Z", "20260501T000000Z", data, ""),
            Some(1),
        ),
        // Text matches and properties the index lacks need the records.
        (
            "/dav/calendars/all/".to_owned(),
            query(
                "20260101T000000Z",
                "20270101T000000Z",
                data,
                r#"<C:prop-filter name="SUMMARY"><C:text-match>hackathon</C:text-match></C:prop-filter>"#,
            ),
            Some(1),
        ),
        (
            "/dav/calendars/all/".to_owned(),
            query(
                "20260301T000000Z",
                "20260601T000000Z",
                "<D:getetag/><D:getlastmodified/><C:calendar-data/>",
                "",
            ),
            None,
        ),
    ];
    for (coll, body, expected) in &cases {
        // First on a new gateway with nothing expanded or made (every answer from the
        // records), then on one after the start-up preparation (from the indexes, cached
        // expansions and cached objects).
        let (cold_app, _) = setup();
        let cold = dav(&cold_app, "REPORT", coll, &[("depth", "1")], body).await;
        assert_eq!(cold.status, StatusCode::MULTI_STATUS, "{}", cold.body);
        gw.dav_objects.warm(&gw.store).unwrap();
        discal_gateway::prepare_recurrences(&gw.store, ISSUED).unwrap();
        let warm = dav(&app, "REPORT", coll, &[("depth", "1")], body).await;
        assert_eq!(warm.body, cold.body, "{coll} {body}");
        let n = hrefs(&warm.body).len();
        assert!(n > 0, "{coll}: {}", warm.body);
        if let Some(e) = expected {
            assert_eq!(n, *e, "{coll}: {}", warm.body);
        }
    }
}

#[tokio::test]
async fn large_answers_arrive_whole_and_well_formed() {
    let store = Store::memory();
    fill(&store, 600);
    let total = store.len().unwrap() as usize;
    let gw = gateway(store, "https://cal.example.org");
    gw.dav_objects.warm(&gw.store).unwrap();
    let app = discal_gateway::router(gw);
    let coll = "/dav/calendars/all/";
    let sync = r#"<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>"#;
    let listing =
        r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:displayname/></D:prop></D:propfind>"#;
    for (method, body, responses) in [("REPORT", sync, total), ("PROPFIND", listing, total + 1)] {
        let r = dav(&app, method, coll, &[("depth", "1")], body).await;
        assert_eq!(r.status, StatusCode::MULTI_STATUS);
        // Several parts of 64 KiB: the length announced is the length sent.
        assert!(r.body.len() > 2 << 16, "{}", r.body.len());
        let announced: usize = r.headers[axum::http::header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(announced, r.body.len());
        // Well-formed from the first byte to the last, each response once.
        let mut reader = quick_xml::Reader::from_str(&r.body);
        let (mut seen, mut depth) = (0, 0i32);
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Start(e) => {
                    depth += 1;
                    if e.name().as_ref() == b"D:response" {
                        seen += 1;
                    }
                }
                quick_xml::events::Event::End(_) => depth -= 1,
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(depth, 0);
        assert_eq!(seen, responses, "{method}");
        let mut hs = hrefs(&r.body);
        hs.sort();
        hs.dedup();
        assert_eq!(hs.len(), responses);
    }
}

#[tokio::test]
async fn multigets_of_view_items_answer_members_only() {
    let (app, _) = setup();
    let view = "/dav/views/tags%3Dmeetup%26tz%3DEurope%2FBerlin/";
    let all = "/dav/calendars/all/";
    let members = ["berlin-weekly@example.org", "ny-monthly@example.org"];
    let outsider = "hamburg-oneoff@example.org";
    let mg = |hrefs: &[String]| {
        let hs: String = hrefs
            .iter()
            .map(|h| format!("<D:href>{h}</D:href>"))
            .collect();
        format!(
            r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hs}</C:calendar-multiget>"#
        )
    };
    let of_view: Vec<String> = members
        .iter()
        .chain([&outsider])
        .map(|u| item_href(view, u))
        .collect();
    // Sent to the view itself and, naming the same view items, to the aggregate calendar
    // (answered as items of the collection the report went to).
    for (coll, hrefs) in [(view, of_view.clone()), (all, of_view.clone())] {
        let r = dav(&app, "REPORT", coll, &[], &mg(&hrefs)).await;
        assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
        for (uid, href) in members.iter().zip(&hrefs) {
            let part = r
                .body
                .split("<D:response>")
                .find(|p| p.contains(&format!("~{uid}.ics</D:href>")))
                .unwrap_or_else(|| panic!("{coll}: no response for {href}: {}", r.body));
            assert!(
                part.contains("200 OK") && part.contains(&format!("UID:{uid}")),
                "{part}"
            );
        }
        let outside = r
            .body
            .split("<D:response>")
            .find(|p| p.contains("hamburg-oneoff"))
            .unwrap();
        assert!(outside.contains("404 Not Found"), "{outside}");
        assert!(!r.body.contains("UID:hamburg-oneoff"), "{}", r.body);
    }
    // The same items by GET: members found, the outsider not.
    for (i, href) in of_view.iter().enumerate() {
        let r = dav(&app, "GET", href, &[], "").await;
        let want = if i < members.len() {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(r.status, want, "{href}");
    }
}
