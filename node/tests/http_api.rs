//! The local write API over real HTTP: auth, errors, ownership, ICS and JSON bodies.

mod common;

use common::*;
use discal_node::client::NodeClient;

/// One request to the node's gateway through the project's HTTP client.
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    ctype: &str,
    body: &str,
) -> (u16, String) {
    let client = NodeClient::new(addr, token.map(str::to_owned));
    let a = client
        .send(method, path, Some((ctype, body.to_owned())))
        .await
        .unwrap();
    (a.status, a.body)
}

/// A `POST /api/events` with the admin token.
async fn post_events(h: &discal_node::NodeHandle, ctype: &str, body: &str) -> (u16, String) {
    let tok = h.admin_token();
    http(h.http_addr(), "POST", "/api/events", Some(tok), ctype, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_api_statuses() {
    let net = TestNet::new(2, 8).await;
    net.link(&[(0, 1)]).await;
    net.wait_gossip(0, 1).await;
    let (a, b) = (net.node(0), net.node(1));
    let json = r#"{"title":"Repair café","start":"2026-12-05T14:00","tz":"Europe/Berlin","duration":"3h","tags":["repair"]}"#;

    let (s, body) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        None,
        "application/json",
        json,
    )
    .await;
    assert_eq!(s, 401, "{body}");
    let (s, _) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        Some("wrong"),
        "application/json",
        json,
    )
    .await;
    assert_eq!(s, 401);
    let tok = Some(a.admin_token());
    let (s, body) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        tok,
        "application/json",
        r#"{"title":"x","start":"soon"}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("start"), "{body}");
    let (s, body) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        tok,
        "application/json",
        r#"{"titel":"x"}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("titel"), "{body}");

    let (s, body) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        tok,
        "application/json",
        json,
    )
    .await;
    assert_eq!(s, 201, "{body}");
    let written: Vec<discal_gateway::Written> = serde_json::from_str(&body).unwrap();
    let uid = written[0].uid.clone();
    assert_eq!(written[0].revision, 0);
    let key = discal_protocol::EventKey {
        origin: a.key(),
        uid: uid.clone(),
    };
    let e = held(a, &key).unwrap();
    assert_eq!(e.transit.hop, 0);
    assert_eq!(
        e.content().master.revise_url.as_deref(),
        Some(format!("http://{}/events/{}/{uid}/revise", a.http_addr(), a.key()).as_str())
    );
    assert!(wait_rev(b, &key, 0).await);

    // B may not change A's event.
    let (s, body) = http(
        b.http_addr(),
        "PUT",
        &format!("/api/events/{uid}"),
        Some(b.admin_token()),
        "application/json",
        r#"{"title":"hijacked"}"#,
    )
    .await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = http(
        b.http_addr(),
        "DELETE",
        &format!("/api/events/{uid}"),
        Some(b.admin_token()),
        "",
        "",
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = http(
        a.http_addr(),
        "DELETE",
        "/api/events/nothing-here",
        tok,
        "",
        "",
    )
    .await;
    assert_eq!(s, 404);

    // An update bumps X-REVISION and SEQUENCE; the same body again changes nothing.
    let (s, body) = http(
        a.http_addr(),
        "PUT",
        &format!("/api/events/{uid}"),
        tok,
        "application/json",
        r#"{"location":"Kiezladen"}"#,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (_, body2) = http(
        a.http_addr(),
        "PUT",
        &format!("/api/events/{uid}"),
        tok,
        "application/json",
        r#"{"location":"Kiezladen"}"#,
    )
    .await;
    let w: Vec<discal_gateway::Written> = serde_json::from_str(&body2).unwrap();
    assert_eq!((w[0].revision, w[0].changed), (1, false), "{body}");
    let e = held(a, &key).unwrap();
    assert_eq!(e.content().master.sequence, 1);
    assert_eq!(e.content().master.summary.as_deref(), Some("Repair café"));

    // An ICS body imports; its UID is kept.
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:imported-1@example.org\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261210T180000Z\r\nSUMMARY:<script>alert(1)</script>\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (s, body) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        tok,
        "text/calendar",
        ics,
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert!(body.contains("imported-1@example.org"));
    let (s, body) = http(
        a.http_addr(),
        "POST",
        "/api/events",
        tok,
        "text/calendar",
        "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    )
    .await;
    assert_eq!(s, 400, "{body}");

    let (s, body) = http(a.http_addr(), "GET", "/metrics", None, "", "").await;
    assert_eq!(s, 200);
    assert!(body.contains("discal_events_published_total 3"), "{body}");
    let (s, body) = http(b.http_addr(), "GET", "/status", None, "", "").await;
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["key"], b.key().to_string());
    assert_eq!(v["peers"][0]["connected"], true);
    net.shutdown().await;
}

/// A rule with a character past ASCII once panicked the rrule crate on the writer's thread,
/// poisoning the ingest worker: every later write answered 503. It is a 400 that says why,
/// and the next write (and a peer's event) still lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_broke_the_parser_is_refused_and_writes_go_on() {
    let net = TestNet::new(2, 8).await;
    net.link(&[(0, 1)]).await;
    net.wait_gossip(0, 1).await;
    let (a, b) = (net.node(0), net.node(1));
    for (ctype, body) in [
        (
            "application/json",
            r#"{"title":"Hostile","start":"2027-01-05T19:00","tz":"Europe/Berlin","duration":"1h","rrule":"FREQ=WEEKLY;BYDAY=-íU"}"#,
        ),
        (
            "text/calendar",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:hostile@example.org\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270105T190000Z\r\nRRULE:FREQ=WEEKLY;BYDAY=-íU\r\nSUMMARY:Hostile\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        ),
    ] {
        let (s, body) = post_events(a, ctype, body).await;
        assert_eq!(s, 400, "{ctype}: {body}");
        assert!(body.contains("ASCII"), "{ctype}: {body}");
    }
    let json =
        r#"{"title":"Hack night","start":"2027-01-06T19:00","tz":"Europe/Berlin","duration":"3h"}"#;
    let (s, body) = post_events(a, "application/json", json).await;
    assert_eq!(s, 201, "{body}");
    let later = add(b, "From the peer").await;
    assert!(wait_rev(a, &later, 0).await, "the peer's event reached A");
    net.shutdown().await;
}

/// A node whose ingest worker panics says it has failed (`discal run` then exits with an
/// error, for its supervisor to restart it), and its writes answer at once rather than hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_worker_panics_says_it_failed() {
    let net = TestNet::new(1, 8).await;
    let a = net.node(0);
    a.inject_ingest_panic().await;
    let why = tokio::time::timeout(WAIT, a.failed())
        .await
        .expect("the node said it failed");
    assert!(why.contains("panicked"), "{why}");
    let json =
        r#"{"title":"After","start":"2027-01-06T19:00","tz":"Europe/Berlin","duration":"1h"}"#;
    let asked = post_events(a, "application/json", json);
    let (s, body) = tokio::time::timeout(WAIT, asked).await.expect("an answer");
    assert_eq!(s, 503, "{body}");
    net.shutdown().await;
}

/// A write that panics (on the request's own thread when the worker is idle, as here) answers
/// an error at once, marks the node failed, and no write after it starts on the half-done
/// state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_panics_fails_the_node_at_once() {
    let net = TestNet::new(1, 8).await;
    let a = net.node(0);
    a.inject_write_panic();
    let json =
        r#"{"title":"Boom","start":"2027-01-06T19:00","tz":"Europe/Berlin","duration":"1h"}"#;
    let (s, body) = tokio::time::timeout(WAIT, post_events(a, "application/json", json))
        .await
        .expect("an answer");
    assert!(s >= 500, "{s} {body}");
    let why = tokio::time::timeout(WAIT, a.failed())
        .await
        .expect("the node said it failed");
    assert!(why.contains("panicked"), "{why}");
    let after = json.replace("Boom", "After");
    let (s, body) = tokio::time::timeout(WAIT, post_events(a, "application/json", &after))
        .await
        .expect("an answer");
    assert!(s == 500 || s == 503, "{s} {body}");
    assert!(a.store().len().unwrap() == 0, "nothing was stored");
    net.shutdown().await;
}
