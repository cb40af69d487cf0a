//! The collector's view (issue 21): one real event reaching this node from two origins and a
//! source is shown once in every read surface — iCalendar (its other listings in
//! X-DISCAL-ALSO-LISTED), JSCalendar, Atom, RSS, embeds, the map's data — with the same
//! representative whatever the order, and each listing's page names the others. Events on
//! another day or in another place stay apart. An admin's split or join sticks and changes
//! the answers (and their ETags) at once.

mod common;

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use common::*;
use discal_protocol::ics::parse_calendar;
use discal_protocol::{sign, Limits, NodeSecret, VerifiedEvent};
use discal_store::{Store, Transit};
use tower::ServiceExt as _;

fn event(key: &NodeSecret, uid: &str, body: &str) -> VerifiedEvent {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let limits = Limits::default();
    let e = parse_calendar(&ics, &key.public(), &limits)
        .unwrap()
        .events
        .remove(0);
    sign(key, e.uid, 0, ISSUED, e.content, &limits).unwrap()
}

const CAFE: &str = "DTSTART:20270115T180000Z\r\nDURATION:PT2H\r\nSUMMARY:Repair Café\r\n\
    LOCATION:Town hall\\, Neustadt\r\nGEO:52.5;13.4\r\n";

fn store() -> (Store, [NodeSecret; 3]) {
    let (a, b, c) = (secret(11), secret(12), secret(13));
    let store = Store::memory();
    let evs = [
        // The organiser's own listing.
        event(&a, "cafe@a", CAFE),
        // A second node's entry of it, title a little longer, five minutes off.
        event(
            &b,
            "cafe-b@b",
            &CAFE
                .replace("T180000Z", "T180500Z")
                .replace("Repair Café", "Repair Café Neustadt: bring your toaster"),
        ),
        // A third node took it from a feed.
        event(
            &c,
            "cafe@feed.example",
            &format!(
                "{CAFE}X-DISCAL-SOURCE:https://feed.example/cal.ics\r\nX-DISCAL-SOURCE-HOP:1\r\n"
            ),
        ),
        // Near misses: the next week, and the same evening in another town.
        event(&b, "cafe-next@b", &CAFE.replace("20270115", "20270122")),
        event(
            &c,
            "cafe-elsewhere@c",
            &CAFE
                .replace("Town hall\\, Neustadt", "Library\\, Altstadt")
                .replace("52.5;13.4", "52.6;13.6"),
        ),
    ];
    let batch: Vec<(&VerifiedEvent, Transit)> = evs.iter().map(|e| (e, Transit::local())).collect();
    store.apply_batch(batch, ISSUED).unwrap();
    (store, [a, b, c])
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, String, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", "Bearer token")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let b = to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, String::from_utf8_lossy(&b).into_owned(), etag)
}

async fn get(app: &axum::Router, uri: &str) -> String {
    let (status, body, _) = call(app, "GET", uri, "").await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

const WINDOW: &str = "from=2027-01-01&to=2027-02-01";

#[tokio::test]
async fn one_real_event_is_shown_once_in_every_read_surface() {
    let (store, [a, b, c]) = store();
    let app = discal_gateway::router(gateway(store, "https://here.example"));

    let ics = get(&app, &format!("/feed.ics?{WINDOW}"))
        .await
        .replace("\r\n ", "");
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3, "{ics}");
    // Both first-hand listings (hop 0) come before the feed's copy; between them, the lower
    // origin key: a rule every collector applies the same way.
    let (rep, hidden, rep_key, hidden_key) = if a.public().as_bytes() < b.public().as_bytes() {
        ("cafe@a", "cafe-b@b", a.public(), b.public())
    } else {
        ("cafe-b@b", "cafe@a", b.public(), a.public())
    };
    assert!(ics.contains(&format!("UID:{rep}\r\n")), "{ics}");
    assert!(!ics.contains(&format!("UID:{hidden}\r\n")));
    assert!(!ics.contains("UID:cafe@feed.example"));
    assert!(ics.contains("UID:cafe-next@b") && ics.contains("UID:cafe-elsewhere@c"));
    let also: Vec<&str> = ics
        .lines()
        .filter(|l| l.starts_with("X-DISCAL-ALSO-LISTED"))
        .collect();
    assert_eq!(also.len(), 2, "{also:?}");
    assert!(also
        .iter()
        .any(|l| l.contains(&format!("X-DISCAL-ORIGIN={hidden_key}"))
            && l.ends_with(&format!(
                ":https://here.example/events/{hidden_key}/{hidden}"
            ))));
    assert!(also
        .iter()
        .any(|l| l.contains(&format!("X-DISCAL-ORIGIN={}", c.public()))
            && l.contains("X-DISCAL-SOURCE=\"https://feed.example/cal.ics\"")));
    // A calendar library reads the feed as it did: the extra property is an X-property.
    let parsed = parse_calendar(&ics, &a.public(), &Limits::default()).unwrap();
    assert_eq!(parsed.events.len(), 3);

    let json: serde_json::Value =
        serde_json::from_str(&get(&app, &format!("/feed.json?{WINDOW}")).await).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let cafe = entries.iter().find(|e| e["uid"] == rep).unwrap();
    assert_eq!(cafe["discal.org:alsoListed"].as_array().unwrap().len(), 2);

    let atom = get(&app, &format!("/feed.atom?{WINDOW}")).await;
    assert_eq!(atom.matches("<entry>").count(), 3);
    assert_eq!(atom.matches("rel=\"related\"").count(), 2);
    assert!(
        atom.contains("also listed by …") && atom.contains(", feed.example</summary>"),
        "{atom}"
    );
    let rss = get(&app, &format!("/feed.rss?{WINDOW}")).await;
    assert_eq!(rss.matches("<item>").count(), 3);

    let embed = get(&app, &format!("/embed?view=list&{WINDOW}")).await;
    assert_eq!(embed.matches("class=\"event\"").count(), 3, "{embed}");
    assert!(embed.contains("also listed by"), "{embed}");

    // Each listing's page names the others; a hidden one says which the feeds show.
    let page = get(&app, &format!("/events/{hidden_key}/{hidden}")).await;
    assert!(page.contains("Also listed by"), "{page}");
    assert!(page.contains("Feeds show this event as"), "{page}");
    assert!(page.contains(&format!("/events/{rep_key}/{rep}")));
    let feed_copy = get(&app, &format!("/events/{}/cafe@feed.example", c.public())).await;
    assert!(feed_copy.contains("Feeds show this event as"));
    let own = get(&app, &format!("/events/{rep_key}/{rep}")).await;
    assert!(own.contains("Also listed by") && !own.contains("Feeds show this event as"));
    let next = get(&app, &format!("/events/{}/cafe-next@b", b.public())).await;
    assert!(!next.contains("Also listed by"), "another week stays apart");
}

#[tokio::test]
async fn the_representative_does_not_depend_on_arrival_order() {
    let (a, b) = (secret(11), secret(12));
    let first = event(&b, "cafe-b@b", CAFE);
    let second = event(&a, "cafe@a", CAFE);
    let mut uids = Vec::new();
    for order in [[&first, &second], [&second, &first]] {
        let store = Store::memory();
        for e in order {
            store.apply(e, Transit::local(), ISSUED).unwrap();
        }
        let app = discal_gateway::router(gateway(store, "https://here.example"));
        let ics = get(&app, &format!("/feed.ics?{WINDOW}")).await;
        let uid = ics
            .lines()
            .find_map(|l| l.strip_prefix("UID:"))
            .unwrap()
            .to_string();
        uids.push(uid);
    }
    assert_eq!(uids[0], uids[1]);
}

#[tokio::test]
async fn an_admins_split_and_join_stick_and_change_the_answers_at_once() {
    let (store, [a, b, c]) = store();
    let store = Arc::new(store);
    let mut gw = gateway(Store::memory(), "https://here.example");
    gw.store = store.clone();
    let app = discal_gateway::router(gw);
    let count = |ics: &str| ics.matches("BEGIN:VEVENT").count();
    let (_, before, etag_before) = call(&app, "GET", &format!("/feed.ics?{WINDOW}"), "").await;
    assert_eq!(count(&before), 3);

    let pair = |x: &NodeSecret, xu: &str, y: &NodeSecret, yu: &str, action: &str| {
        serde_json::json!({
            "a": {"origin": x.public().to_string(), "uid": xu},
            "b": {"origin": y.public().to_string(), "uid": yu},
            "action": action,
        })
        .to_string()
    };
    // The feed's copy is a different event after all: split it off.
    let (status, said, _) = call(
        &app,
        "POST",
        "/api/dedupe",
        &pair(&a, "cafe@a", &c, "cafe@feed.example", "split"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{said}");
    let (status, _, _) = call(
        &app,
        "POST",
        "/api/dedupe",
        &pair(&b, "cafe-b@b", &c, "cafe@feed.example", "split"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, split, etag_split) = call(&app, "GET", &format!("/feed.ics?{WINDOW}"), "").await;
    assert_eq!(count(&split), 4, "{split}");
    assert_ne!(
        etag_before, etag_split,
        "the answer changed, so its ETag did"
    );

    // The next week's entry is the same series to this admin: join it (within 12 hours only,
    // so a join across a week is not made: the rule never spans days).
    let (status, _, _) = call(
        &app,
        "POST",
        "/api/dedupe",
        &pair(&b, "cafe-next@b", &a, "cafe@a", "join"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, joined, _) = call(&app, "GET", &format!("/feed.ics?{WINDOW}"), "").await;
    assert_eq!(count(&joined), 4, "a join across days is not made");

    // The choices are in the store: another gateway over it answers the same.
    let mut gw2 = gateway(Store::memory(), "https://here.example");
    gw2.store = store.clone();
    let app2 = discal_gateway::router(gw2);
    assert_eq!(count(&get(&app2, &format!("/feed.ics?{WINDOW}")).await), 4);

    // Taken back, the rule decides again.
    for (x, xu, y, yu) in [
        (&a, "cafe@a", &c, "cafe@feed.example"),
        (&b, "cafe-b@b", &c, "cafe@feed.example"),
    ] {
        let (status, _, _) = call(&app, "POST", "/api/dedupe", &pair(x, xu, y, yu, "clear")).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(count(&get(&app, &format!("/feed.ics?{WINDOW}")).await), 3);

    // Bad requests are named; without the admin token nothing changes.
    let (status, said, _) = call(
        &app,
        "POST",
        "/api/dedupe",
        &pair(&a, "x", &a, "x", "split"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(said.contains("same listing"));
    let (status, _, _) = call(
        &app,
        "POST",
        "/api/dedupe",
        &pair(&a, "x", &b, "y", "merge"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let anon = Request::builder()
        .method("POST")
        .uri("/api/dedupe")
        .body(Body::from(pair(&a, "cafe@a", &b, "cafe-b@b", "split")))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(anon).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        store.dedupe_choices().unwrap().len(),
        1,
        "only the join is left"
    );
}

#[tokio::test]
async fn distinct_events_are_never_hidden() {
    // The shared data set: hostile samples from two origins, recurring events, and generated
    // events that share days, hours and most title words but not their numbers.
    let store = Store::memory();
    fill(&store, 3000);
    let (f, _) = discal_protocol::view::ViewFilter::parse(
        [("from", "2026-01-01"), ("to", "2028-01-01")],
        &[],
    )
    .unwrap();
    let window = f.window(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(), None);
    let plain = discal_gateway::read::fetch(&store, &f, window, 50_000, true).unwrap();
    let collected =
        discal_gateway::read::fetch_collected(&store, &f, window, 50_000, true).unwrap();
    assert_eq!(plain.hits.len(), collected.hits.len());
    let bench = Store::memory();
    bench_data(&bench, 5000, 500);
    let plain = discal_gateway::read::fetch(&bench, &f, window, 50_000, true).unwrap();
    let collected =
        discal_gateway::read::fetch_collected(&bench, &f, window, 50_000, true).unwrap();
    assert_eq!(plain.hits.len(), collected.hits.len());
}

fn dav_hrefs(body: &str) -> Vec<String> {
    body.split("<D:response>")
        .skip(1)
        .filter(|r| r.contains("200 OK") && r.contains(".ics</D:href>"))
        .filter_map(|r| {
            let h = r.split("<D:href>").nth(1)?.split("</D:href>").next()?;
            Some(h.to_string())
        })
        .collect()
}

fn gone(body: &str) -> Vec<String> {
    body.split("<D:response>")
        .skip(1)
        .filter(|r| !r.contains("<D:propstat>") && r.contains("404 Not Found"))
        .filter_map(|r| {
            let h = r.split("<D:href>").nth(1)?.split("</D:href>").next()?;
            Some(h.to_string())
        })
        .collect()
}

#[tokio::test]
async fn caldav_lists_one_member_per_real_event_and_syncs_a_new_representative() {
    let (store, [a, b, c]) = store();
    let store = Arc::new(store);
    let mut gw = gateway(Store::memory(), "https://here.example");
    gw.store = store.clone();
    let app = discal_gateway::router(gw);
    let coll = "/dav/calendars/all/";
    let list = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#;
    let r = dav(&app, "PROPFIND", coll, &[("depth", "1")], list).await;
    assert_eq!(r.status, StatusCode::MULTI_STATUS, "{}", r.body);
    // Three events: the café once, the two near misses.
    assert_eq!(dav_hrefs(&r.body).len(), 3, "{}", r.body);
    let initial = r#"<?xml version="1.0" encoding="utf-8" ?><D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], initial).await;
    assert_eq!(dav_hrefs(&r.body).len(), 3, "{}", r.body);
    let token = r
        .body
        .split("<D:sync-token>")
        .nth(1)
        .unwrap()
        .split("</D:sync-token>")
        .next()
        .unwrap()
        .to_owned();
    // An origin's own calendar still lists all of its events.
    let origin = format!("/dav/calendars/origin-{}/", c.public());
    let r = dav(&app, "PROPFIND", &origin, &[("depth", "1")], list).await;
    assert_eq!(dav_hrefs(&r.body).len(), 2);

    // The organiser's listing arrives from a node whose key sorts first: it represents now.
    let first = (0u8..=255)
        .map(secret)
        .find(|k| {
            [&a, &b, &c]
                .iter()
                .all(|o| k.public().as_bytes() < o.public().as_bytes())
        })
        .unwrap();
    store
        .apply(&event(&first, "cafe@first", CAFE), Transit::local(), ISSUED)
        .unwrap();
    let delta = initial.replace(
        "<D:sync-token/>",
        &format!("<D:sync-token>{token}</D:sync-token>"),
    );
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], &delta).await;
    let added = dav_hrefs(&r.body);
    assert_eq!(added.len(), 1, "{}", r.body);
    assert!(added[0].contains("cafe@first"), "{added:?}");
    let removed = gone(&r.body);
    assert_eq!(
        removed.len(),
        3,
        "the old representative and the listings behind it: {}",
        r.body
    );
    let r = dav(&app, "REPORT", coll, &[("depth", "1")], initial).await;
    assert_eq!(
        dav_hrefs(&r.body).len(),
        3,
        "still one member per real event"
    );
}

/// The aggregate calendar's grouping is kept and brought forward change by change; after any
/// sequence of changes it lists what a grouping made afresh from every event lists.
#[tokio::test]
async fn the_kept_caldav_grouping_follows_changes_as_a_fresh_one_would() {
    use rand::{Rng, SeedableRng};
    let store = Arc::new(Store::memory());
    let keys: Vec<NodeSecret> = (40..46).map(secret).collect();
    let kept = {
        let mut gw = gateway(Store::memory(), "https://here.example");
        gw.store = store.clone();
        discal_gateway::router(gw)
    };
    let list = r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>"#;
    let listing = |app: axum::Router| async move {
        let r = dav(
            &app,
            "PROPFIND",
            "/dav/calendars/all/",
            &[("depth", "1")],
            list,
        )
        .await;
        let mut h = dav_hrefs(&r.body);
        h.sort();
        h
    };
    let titles = [
        "Repair café",
        "Repair café Neustadt",
        "Linux install party",
        "Rust meetup",
    ];
    let places = ["Town hall\\, Neustadt", "Library\\, Altstadt"];
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut revisions: std::collections::HashMap<(usize, usize), u32> = Default::default();
    for step in 0..120 {
        // A new listing or a new revision of one (moved, retitled, cancelled), around two
        // evenings, by one of six nodes.
        let (k, n) = (rng.gen_range(0..keys.len()), rng.gen_range(0..6));
        let rev = revisions.entry((k, n)).and_modify(|r| *r += 1).or_insert(0);
        let day = 15 + rng.gen_range(0..2);
        let minute = [0, 5, 10, 40][rng.gen_range(0..4)];
        let cancelled = rng.gen_bool(0.1);
        let body = format!(
            "DTSTART:202701{day}T18{minute:02}00Z\r\nDURATION:PT2H\r\nSUMMARY:{}\r\nLOCATION:{}\r\n{}",
            titles[rng.gen_range(0..titles.len())],
            places[rng.gen_range(0..places.len())],
            if cancelled { "STATUS:CANCELLED\r\n" } else { "" }
        );
        let ics = format!(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:e{n}@k{k}\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        let limits = Limits::default();
        let e = parse_calendar(&ics, &keys[k].public(), &limits)
            .unwrap()
            .events
            .remove(0);
        let ev = sign(
            &keys[k],
            e.uid,
            *rev,
            ISSUED + i64::from(*rev),
            e.content,
            &limits,
        )
        .unwrap();
        store.apply(&ev, Transit::local(), ISSUED).unwrap();
        // Ask the kept one now and then, so it is brought forward over one or several changes.
        if step % 3 != 0 {
            continue;
        }
        let fresh = {
            let mut gw = gateway(Store::memory(), "https://here.example");
            gw.store = store.clone();
            discal_gateway::router(gw)
        };
        assert_eq!(
            listing(kept.clone()).await,
            listing(fresh).await,
            "step {step}"
        );
    }
    assert!(listing(kept.clone()).await.len() < store.len().unwrap() as usize);
}
