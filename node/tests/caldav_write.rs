//! CalDAV write (issue 22) against real nodes over HTTP: an account's own calendar, Basic
//! auth with a password or an app token, PUT with If-None-Match / If-Match, ETags, an edit
//! that changes nothing, DELETE as a cancellation that reaches a second node, two-way sync
//! with the web API, the audit lines of the account's changes, and bad PUTs that change
//! nothing.

mod common;

use common::*;
use discal_protocol::EventKey;
use reqwest::{Method, StatusCode};

const PASSWORD: &str = "ana's long password";

struct Dav {
    client: reqwest::Client,
    base: String,
    user: String,
    password: String,
}

struct Answer {
    status: StatusCode,
    etag: Option<String>,
    location: Option<String>,
    body: String,
    www_authenticate: Option<String>,
}

impl Dav {
    fn new(h: &discal_node::NodeHandle, user: &str, password: &str) -> Self {
        Self {
            client: discal_node::client::http_client().build().unwrap(),
            base: format!("http://{}", h.http_addr()),
            user: user.into(),
            password: password.into(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut req = self
            .client
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{path}", self.base),
            )
            .body(body);
        if !self.user.is_empty() {
            req = req.basic_auth(&self.user, Some(&self.password));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
        Answer {
            status: r.status(),
            etag: h("etag"),
            location: h("location"),
            www_authenticate: h("www-authenticate"),
            body: r.text().await.unwrap(),
        }
    }

    /// A PUT that declares `len` bytes and sends none: the node must answer from the headers
    /// alone. (Sending the body too races the node's early answer and close: the client may
    /// see a broken pipe instead of the answer.) Returns the status and the body.
    async fn put_declared(&self, path: &str, len: usize) -> (u16, String) {
        use base64::Engine as _;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://");
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
             Content-Type: text/calendar\r\nContent-Length: {len}\r\n\r\n"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        // Up to the end of the answer's body, or the close.
        loop {
            let n = tcp.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if let Some((h, b)) = text.split_once("\r\n\r\n") {
                let want = h.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                });
                if want.is_some_and(|w| b.len() >= w) {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    async fn put(&self, path: &str, headers: &[(&str, &str)], ics: &str) -> Answer {
        let mut hs = vec![("content-type", "text/calendar; charset=utf-8")];
        hs.extend_from_slice(headers);
        self.send("PUT", path, &hs, ics.to_owned()).await
    }

    async fn propfind(&self, path: &str, depth: &str, props: &str) -> Answer {
        let body = format!(
            "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CS=\"http://calendarserver.org/ns/\"><D:prop>{props}</D:prop></D:propfind>"
        );
        self.send("PROPFIND", path, &[("depth", depth)], body).await
    }

    async fn sync(&self, path: &str, token: &str) -> Answer {
        let body = format!(
            "<?xml version=\"1.0\"?><D:sync-collection xmlns:D=\"DAV:\"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"
        );
        self.send("REPORT", path, &[("depth", "1")], body).await
    }
}

fn token_of(multistatus: &str) -> String {
    let at = multistatus.find("<D:sync-token>").expect("a sync token") + 14;
    multistatus[at..].split('<').next().unwrap().to_string()
}

fn event(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//caldav write//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261201T120000Z\r\nDTSTART;TZID=Europe/Berlin:20270114T190000\r\nDTEND;TZID=Europe/Berlin:20270114T210000\r\nSUMMARY:{summary}\r\nLOCATION:c-base\\, Berlin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn app_token(h: &discal_node::NodeHandle, name: &str) -> String {
    let r = discal_node::client::http_client()
        .build()
        .unwrap()
        .post(format!("http://{}/api/users/{name}/token", h.http_addr()))
        .bearer_auth(h.admin_token())
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    v["token"].as_str().unwrap().to_string()
}

fn revisions(h: &discal_node::NodeHandle) -> Vec<(String, u32)> {
    let mut v: Vec<(String, u32)> = h
        .store()
        .inventory(None)
        .unwrap()
        .into_iter()
        .map(|e| (e.key.uid.clone(), e.revision))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_creates_edits_and_cancels_events_that_reach_another_node() {
    let net = TestNet::new(2, 4).await;
    net.link(&[(0, 1)]).await;
    net.wait_gossip(0, 1).await;
    let (a, b) = (net.node(0), net.node(1));
    add_user(a, "ana", "user", PASSWORD).await;
    let ana = Dav::new(a, "ana", PASSWORD);
    let anon = Dav::new(a, "", "");

    // The account's principal asks for credentials; with them it names its home.
    let r = anon
        .propfind("/dav/principal/ana/", "0", "<D:current-user-principal/>")
        .await;
    assert_eq!(r.status, 401);
    assert!(r.www_authenticate.unwrap().starts_with("Basic realm="));
    let r = ana
        .propfind(
            "/dav/principal/ana/",
            "0",
            "<D:current-user-principal/><C:calendar-home-set/>",
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert!(
        r.body.contains("<D:href>/dav/principal/ana/</D:href>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<D:href>/dav/calendars/</D:href>"),
        "{}",
        r.body
    );
    // The home lists the account's calendar, writable, with the shared ones.
    let r = ana
        .propfind(
            "/dav/calendars/",
            "1",
            "<D:resourcetype/><D:current-user-privilege-set/><C:max-resource-size/>",
        )
        .await;
    assert_eq!(r.status, 207);
    let mine = r
        .body
        .split("<D:response>")
        .find(|s| s.contains("/dav/calendars/users/ana/"))
        .expect("ana's calendar listed");
    assert!(
        mine.contains("<D:write-content/>") && mine.contains("<D:bind/>"),
        "{mine}"
    );
    assert!(r.body.contains("/dav/calendars/all/"));
    // Anonymous readers see the shared tree as before, without it.
    let r = anon
        .propfind("/dav/calendars/", "1", "<D:resourcetype/>")
        .await;
    assert_eq!(r.status, 207);
    assert!(!r.body.contains("/users/"), "{}", r.body);

    let coll = "/dav/calendars/users/ana/";
    let t0 = token_of(&ana.sync(coll, "").await.body);
    // Create under a name the app chose.
    let item = format!("{coll}from-the-app.ics");
    let r = ana
        .put(
            &item,
            &[("if-none-match", "*")],
            &event("app-1@example.org", "Install party"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // What is stored is not what was sent (the node adds its lines), so no ETag comes back
    // (RFC 9110 §9.3.4): the app fetches the event again.
    assert_eq!(r.etag, None);
    assert!(r.location.unwrap().ends_with(&item));
    let key = EventKey {
        origin: a.key(),
        uid: "app-1@example.org".into(),
    };
    let ev = held(a, &key).expect("stored");
    assert_eq!(ev.payload.revision, 0);
    assert_eq!(
        a.store().owner("app-1@example.org").unwrap().as_deref(),
        Some("ana")
    );
    // It reaches the other node over the mesh.
    assert!(wait_rev(b, &key, 0).await);
    // Creating it again is refused.
    let r = ana
        .put(
            &item,
            &[("if-none-match", "*")],
            &event("app-1@example.org", "Again"),
        )
        .await;
    assert_eq!(r.status, 412);
    let got = ana.send("GET", &item, &[], "").await;
    assert_eq!(got.status, 200);
    let etag1 = got.etag.expect("an ETag");
    assert!(got.body.contains("SUMMARY:Install party") && got.body.contains("X-REVISION:0"));

    // Sending back what the app holds, or what it got, makes no revision; the ETag comes back
    // only for the stored object's very bytes.
    for (same, etag) in [
        (event("app-1@example.org", "Install party"), None),
        (got.body.clone(), Some(etag1.as_str())),
    ] {
        let r = ana.put(&item, &[("if-match", &etag1)], &same).await;
        assert_eq!(r.status, 204, "{}", r.body);
        assert_eq!(r.etag.as_deref(), etag);
    }
    assert_eq!(held(a, &key).unwrap().payload.revision, 0);
    // With Prefer: return=representation the stored object comes back, with its ETag.
    let r = ana
        .put(
            &item,
            &[("if-match", &etag1), ("prefer", "return=representation")],
            &event("app-1@example.org", "Install party"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.etag.as_deref(), Some(etag1.as_str()));
    assert_eq!(r.body, got.body);

    // An edit with a stale ETag is refused; with the current one it is the next revision.
    let r = ana
        .put(
            &item,
            &[("if-match", "\"0-000000000000\"")],
            &event("app-1@example.org", "Install party, moved"),
        )
        .await;
    assert_eq!(r.status, 412);
    let r = ana
        .put(
            &item,
            &[("if-match", &etag1)],
            &event("app-1@example.org", "Install party, moved"),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    let etag2 = ana.send("GET", &item, &[], "").await.etag.unwrap();
    assert_ne!(etag1, etag2);
    assert!(wait_rev(b, &key, 1).await);
    let delta = ana.sync(coll, &t0).await.body;
    assert!(
        delta.contains(&format!("<D:href>{item}</D:href>")),
        "{delta}"
    );
    let t1 = token_of(&delta);

    // An edit on the web side (the API with the account's app token) reaches the app.
    let token = app_token(a, "ana").await;
    let r = discal_node::client::http_client()
        .build()
        .unwrap()
        .put(format!(
            "http://{}/api/events/app-1@example.org",
            a.http_addr()
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"title":"Install party, edited on the web"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let delta = ana.sync(coll, &t1).await.body;
    assert!(
        delta.contains(&format!("<D:href>{item}</D:href>")),
        "{delta}"
    );
    let t2 = token_of(&delta);
    let multiget = format!(
        "<?xml version=\"1.0\"?><C:calendar-multiget xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{item}</D:href></C:calendar-multiget>"
    );
    let r = ana.send("REPORT", coll, &[("depth", "1")], multiget).await;
    assert!(r.body.contains("edited on the web"), "{}", r.body);
    // An app password works as well as the password.
    let with_token = Dav::new(a, "ana", &token);
    let r = with_token.send("GET", &item, &[], "").await;
    assert_eq!(r.status, 200);

    // DELETE is a cancellation: gone from the calendar, cancelled everywhere.
    let current = ana.send("GET", &item, &[], "").await.etag.unwrap();
    let r = ana
        .send("DELETE", &item, &[("if-match", "\"1-000000000000\"")], "")
        .await;
    assert_eq!(r.status, 412);
    let r = ana
        .send("DELETE", &item, &[("if-match", &current)], "")
        .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(ana.send("GET", &item, &[], "").await.status, 404);
    assert!(held(a, &key).unwrap().content().is_cancelled());
    assert!(wait_rev(b, &key, 3).await);
    assert!(held(b, &key).unwrap().content().is_cancelled());
    let delta = ana.sync(coll, &t2).await.body;
    let gone = delta
        .split("<D:response>")
        .find(|s| s.contains(&item))
        .expect("the item in the delta");
    assert!(gone.contains("404"), "{delta}");
    let listing = ana.propfind(coll, "1", "<D:getetag/>").await.body;
    assert!(!listing.contains("from-the-app"), "{listing}");

    // Who did what: one line per change, none for the edits that changed nothing or were
    // refused (the web edit made with the app token is the account's too).
    let log = a.store().audit_log(50).unwrap();
    let actions: Vec<&str> = log
        .iter()
        .filter(|e| e.actor == "ana" && e.subject == "app-1@example.org")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        actions,
        ["caldav cancel", "update", "caldav update", "caldav create"]
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_puts_get_their_condition_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir, config(4)).await;
    add_user(&a, "ana", "user", PASSWORD).await;
    add_user(&a, "bo", "user", "bo's long password").await;
    let ana = Dav::new(&a, "ana", PASSWORD);
    let bo = Dav::new(&a, "bo", "bo's long password");
    let coll = "/dav/calendars/users/ana/";
    let r = ana
        .put(
            &format!("{coll}kept.ics"),
            &[],
            &event("kept@example.org", "Kept"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = bo
        .put(
            "/dav/calendars/users/bo/bo.ics",
            &[],
            &event("bo@example.org", "Bo's"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    // Each account's calendar has its own CTag: another account's write leaves it alone.
    let ctag = |body: &str| {
        let at = body.find("<CS:getctag>").expect("a ctag") + 12;
        body[at..].split('<').next().unwrap().to_string()
    };
    let ana_ctag = ctag(&ana.propfind(coll, "0", "<CS:getctag/>").await.body);
    let r = bo
        .put(
            "/dav/calendars/users/bo/bo2.ics",
            &[],
            &event("bo2@example.org", "Bo's too"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        ctag(&ana.propfind(coll, "0", "<CS:getctag/>").await.body),
        ana_ctag
    );
    let bo_ctag = ctag(
        &bo.propfind("/dav/calendars/users/bo/", "0", "<CS:getctag/>")
            .await
            .body,
    );
    assert_ne!(bo_ctag, ana_ctag);
    let before = revisions(&a);

    let cal = |body: &str| {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n{body}END:VCALENDAR\r\n")
    };
    let todo = cal("BEGIN:VTODO\r\nUID:todo@example.org\r\nSUMMARY:Buy cables\r\nEND:VTODO\r\n");
    let two = cal("BEGIN:VEVENT\r\nUID:one@x\r\nDTSTART:20270101T100000Z\r\nSUMMARY:a\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:two@x\r\nDTSTART:20270102T100000Z\r\nSUMMARY:b\r\nEND:VEVENT\r\n");
    let mut latin1 = event("latin1@example.org", "Caf").into_bytes();
    let at = latin1.windows(4).position(|w| w == b"Caf\r").unwrap() + 3;
    latin1.insert(at, 0xe9);
    let cases: Vec<(&str, reqwest::Body, u16, &str)> = vec![
        ("VTODO", todo.into(), 403, "supported-calendar-component"),
        ("two events", two.into(), 403, "valid-calendar-object-resource"),
        ("not UTF-8", latin1.into(), 403, "valid-calendar-data"),
        ("another account's UID", event("bo@example.org", "Mine now").into(), 403, "no-uid-conflict"),
        ("another resource's UID", event("kept@example.org", "Twice").into(), 403, "no-uid-conflict"),
        ("not iCalendar", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n".into(), 403, "valid-calendar-data"),
    ];
    for (what, body, status, condition) in cases {
        let r = ana
            .send(
                "PUT",
                &format!("{coll}new.ics"),
                &[("content-type", "text/calendar")],
                body,
            )
            .await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.body);
        assert!(r.body.contains(condition), "{what}: {}", r.body);
    }
    let (status, text) = ana.put_declared(&format!("{coll}new.ics"), 2 << 20).await;
    assert!(
        status == 403 && text.contains("max-resource-size"),
        "2 MiB: {text}"
    );
    let r = ana
        .send(
            "PUT",
            &format!("{coll}new.ics"),
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert!(
        r.status == 403 && r.body.contains("supported-calendar-data"),
        "{}",
        r.body
    );
    // Someone else's calendar, no credentials, wrong ones, the shared tree.
    let r = bo
        .put(&format!("{coll}x.ics"), &[], &event("x@example.org", "x"))
        .await;
    assert_eq!(r.status, 403);
    let anon = Dav::new(&a, "", "");
    assert_eq!(
        anon.put(&format!("{coll}x.ics"), &[], &event("x@example.org", "x"))
            .await
            .status,
        401
    );
    let wrong = Dav::new(&a, "ana", "not the password");
    assert_eq!(wrong.send("GET", coll, &[], "").await.status, 401);
    let r = ana
        .put(
            "/dav/calendars/all/x.ics",
            &[],
            &event("x@example.org", "x"),
        )
        .await;
    assert!(
        r.status == 403 && r.body.contains("need-privileges"),
        "{}",
        r.body
    );
    // The calendar itself: one per account, nothing moves, properties are the node's.
    let r = ana
        .send("MKCALENDAR", "/dav/calendars/users/ana/", &[], "")
        .await;
    assert!(
        r.status == 403 && r.body.contains("resource-must-be-null"),
        "{}",
        r.body
    );
    let r = ana
        .send(
            "MOVE",
            &format!("{coll}kept.ics"),
            &[("destination", &format!("{coll}moved.ics"))],
            "",
        )
        .await;
    assert_eq!(r.status, 403);
    // A PROPPATCH naming a property the node computes changes nothing, the others included.
    let patch = |props: &str| {
        format!("<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" xmlns:I=\"http://apple.com/ns/ical/\"><D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>")
    };
    let r = ana
        .send(
            "PROPPATCH",
            coll,
            &[],
            patch("<D:displayname>Mine</D:displayname><D:getetag>x</D:getetag>"),
        )
        .await;
    assert_eq!(r.status, 207);
    assert!(
        r.body.contains("403") && r.body.contains("cannot-modify-protected-property"),
        "{}",
        r.body
    );
    assert!(r.body.contains("424 Failed Dependency"), "{}", r.body);
    assert_eq!(revisions(&a), before, "a refused request changed the store");
    let shown = ana.propfind(coll, "0", "<D:displayname/>").await.body;
    assert!(
        shown.contains("<D:displayname>DisCal (ana)</D:displayname>") || !shown.contains("Mine"),
        "{shown}"
    );
    // Name, colour and order as Apple Calendar sets them are kept for the account, and shown.
    let r = ana
        .send("PROPPATCH", coll, &[], patch("<D:displayname>Mine &amp; ours</D:displayname><I:calendar-color symbolic-color=\"custom\">#FF0000FF</I:calendar-color><I:calendar-order>3</I:calendar-order>"))
        .await;
    assert_eq!(r.status, 207);
    assert_eq!(r.body.matches("200 OK").count(), 3, "{}", r.body);
    let shown = ana
        .propfind(coll, "0", "<D:displayname/><I:calendar-color xmlns:I=\"http://apple.com/ns/ical/\"/><I:calendar-order xmlns:I=\"http://apple.com/ns/ical/\"/>")
        .await
        .body;
    for want in ["Mine &amp; ours", "#FF0000FF", ">3<"] {
        assert!(shown.contains(want), "{want} not in {shown}");
    }
    assert_eq!(revisions(&a), before, "calendar properties are not events");
    // Another account's calendar keeps the node's.
    add_user(&a, "ben", "user", PASSWORD).await;
    let ben = Dav::new(&a, "ben", PASSWORD);
    let theirs = ben
        .propfind("/dav/calendars/users/ben/", "0", "<D:displayname/>")
        .await
        .body;
    assert!(!theirs.contains("Mine"), "{theirs}");
    let listing = ana.propfind(coll, "1", "<D:getetag/>").await.body;
    assert!(
        listing.contains("kept.ics") && !listing.contains("new.ics"),
        "{listing}"
    );
    a.shutdown().await;
}

/// A DELETE is answered once its journal record is durable and applied a moment later
/// (store/src/journal.rs). With that apply held back, the requests that follow still find the
/// DELETE done, because each waits for it: the GET gets 404, a second DELETE 404, the sync
/// report lists the resource as gone, and the store holds the cancellation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_right_after_a_delete_finds_it_done() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir, config(4)).await;
    add_user(&a, "ana", "user", PASSWORD).await;
    let ana = Dav::new(&a, "ana", PASSWORD);
    let coll = "/dav/calendars/users/ana/";
    let item = format!("{coll}gone@example.org.ics");
    let r = ana
        .put(&item, &[], &event("gone@example.org", "Soon gone"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let t1 = token_of(&ana.sync(coll, "").await.body);
    a.hold_settles();
    for round in 0..2 {
        let r = ana.send("DELETE", &item, &[], "").await;
        assert_eq!(r.status, if round == 0 { 204 } else { 404 }, "{}", r.body);
    }
    assert_eq!(ana.send("GET", &item, &[], "").await.status, 404);
    let delta = ana.sync(coll, &t1).await.body;
    let gone = delta
        .split("<D:response>")
        .find(|s| s.contains(&item))
        .expect("the item in the delta");
    assert!(gone.contains("404"), "{delta}");
    let key = EventKey {
        origin: a.key(),
        uid: "gone@example.org".into(),
    };
    assert!(a
        .store()
        .get(&key)
        .unwrap()
        .unwrap()
        .content()
        .is_cancelled());
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_event_and_its_override_are_one_resource() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir, config(4)).await;
    add_user(&a, "ana", "user", PASSWORD).await;
    let ana = Dav::new(&a, "ana", PASSWORD);
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:weekly@example.org\r\nDTSTAMP:20261201T120000Z\r\nDTSTART;TZID=Europe/Berlin:20270105T190000\r\nDURATION:PT2H\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nSUMMARY:Weekly hacking\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:weekly@example.org\r\nDTSTAMP:20261201T120000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270112T190000\r\nDTSTART;TZID=Europe/Berlin:20270112T200000\r\nDURATION:PT2H\r\nSUMMARY:Weekly hacking (late start)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let r = ana
        .put("/dav/calendars/users/ana/weekly@example.org.ics", &[], ics)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let got = ana
        .send(
            "GET",
            "/dav/calendars/users/ana/weekly@example.org.ics",
            &[],
            "",
        )
        .await;
    assert!(
        got.body.contains("RRULE:FREQ=WEEKLY;COUNT=10"),
        "{}",
        got.body
    );
    assert!(
        got.body
            .contains("RECURRENCE-ID;TZID=Europe/Berlin:20270112T190000"),
        "{}",
        got.body
    );
    assert!(got.body.contains("late start"), "{}", got.body);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_edit_of_another_nodes_event_is_a_proposal_to_its_origin() {
    let net = TestNet::new(2, 4).await;
    let a_key = net.nodes[0].key.to_string();
    // A proposes to B over loopback; B takes A's proposals at once.
    net.configure(0, &[1], |c| c.proposals.allow_private_targets = true)
        .await;
    net.configure(1, &[0], |c| c.proposals.trusted = vec![a_key.clone()])
        .await;
    net.wait_gossip(0, 1).await;
    let (a, b) = (net.node(0), net.node(1));
    add_user(a, "ana", "user", PASSWORD).await;
    let ana = Dav::new(a, "ana", PASSWORD);
    let key = add(b, "Install party").await;
    assert!(wait_rev(a, &key, 0).await);
    let item = format!(
        "/dav/calendars/origin-{}/{}",
        key.origin,
        discal_gateway::dav::item_name(&key.origin, &key.uid)
    );
    // To the account, the shared calendars are editable; each edit goes to the origin.
    let r = ana
        .propfind(&item, "0", "<D:current-user-privilege-set/>")
        .await;
    assert!(r.body.contains("<D:write-content/>"), "{}", r.body);
    let got = ana.send("GET", &item, &[], "").await;
    let etag = got.etag.unwrap();
    let edited = got
        .body
        .replace("SUMMARY:Install party", "SUMMARY:Install party (room 2)");
    // Sent back unchanged: nothing to propose.
    let r = ana.put(&item, &[("if-match", &etag)], &got.body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = ana.put(&item, &[("if-match", &etag)], &edited).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.body.contains("proposal"), "{}", r.body);
    assert!(
        wait_rev(a, &key, 1).await,
        "the accepted change comes back over the mesh"
    );
    assert_eq!(
        held(a, &key).unwrap().content().master.summary.as_deref(),
        Some("Install party (room 2)")
    );
    // A stale ETag is refused before anything is proposed.
    let r = ana.put(&item, &[("if-match", &etag)], &edited).await;
    assert_eq!(r.status, 412);
    // DELETE proposes the cancellation.
    let r = ana.send("DELETE", &item, &[], "").await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(wait_rev(a, &key, 2).await);
    assert!(held(b, &key).unwrap().content().is_cancelled());
    // Anonymous apps still cannot write.
    let anon = Dav::new(a, "", "");
    let r = anon.put(&item, &[], &edited).await;
    assert!(
        r.status == 403 && r.body.contains("need-privileges"),
        "{}",
        r.body
    );
    net.shutdown().await;
}

/// A principal search (RFC 3744 §9.4, python caldav's `search_principals`) finds the caller
/// and nobody else; and the account's calendar pages a sync at the client's `DAV:limit`
/// (RFC 6578 §3.6) without losing a member or reporting one twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_search_finds_only_oneself_and_a_limited_sync_pages() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir, config(4)).await;
    add_user(&a, "ana", "user", PASSWORD).await;
    add_user(&a, "ben", "user", PASSWORD).await;
    let ana = Dav::new(&a, "ana", PASSWORD);
    let search = |name: &str| {
        format!(
            r#"<D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:property-search><D:prop><D:displayname/></D:prop><D:match>{name}</D:match></D:property-search><D:prop><C:calendar-home-set/><D:displayname/></D:prop></D:principal-property-search>"#
        )
    };
    let r = ana
        .send("REPORT", "/dav/principal/ana/", &[], search("AN"))
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert!(
        r.body.contains("<D:href>/dav/principal/ana/</D:href>"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("<D:displayname>ana</D:displayname>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("/dav/calendars/"), "{}", r.body);
    let r = ana
        .send("REPORT", "/dav/principal/ana/", &[], search("ben"))
        .await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert!(!r.body.contains("<D:response>"), "{}", r.body);
    // python caldav 3's shape: the properties beside an empty DAV:prop.
    let lib = r#"<D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop/><C:calendar-home-set/><D:displayname/></D:principal-property-search>"#;
    let r = ana.send("REPORT", "/dav/principal/ana/", &[], lib).await;
    assert!(
        r.body.contains("<D:displayname>ana</D:displayname>"),
        "{}",
        r.body
    );
    let anonymous = Dav::new(&a, "", "");
    let r = anonymous.send("REPORT", "/dav/", &[], search("")).await;
    assert_eq!(r.status, 207, "{}", r.body);
    assert!(!r.body.contains("<D:response>"), "{}", r.body);

    // Four events, one deleted: the three others in pages of two.
    let coll = "/dav/calendars/users/ana/";
    for i in 0..4 {
        let r = ana
            .put(
                &format!("{coll}e{i}.ics"),
                &[],
                &event(&format!("e{i}@x"), "Paged"),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
    assert_eq!(
        ana.send("DELETE", &format!("{coll}e1.ics"), &[], "")
            .await
            .status,
        204
    );
    let (mut seen, mut removed) = (Vec::new(), Vec::new());
    let (mut token, mut pages) = (String::new(), 0);
    loop {
        let body = format!(
            r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level><D:limit><D:nresults>2</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>"#
        );
        let r = ana.send("REPORT", coll, &[], body).await;
        assert_eq!(r.status, 207, "{}", r.body);
        pages += 1;
        let cut = r.body.contains("507 Insufficient Storage");
        for item in r.body.split("<D:response>").skip(1) {
            let href = item
                .split("<D:href>")
                .nth(1)
                .unwrap()
                .split("</D:href>")
                .next()
                .unwrap();
            // The one deleted before the sync began is never reported, not even removed
            // (its cancellation came after the first page's token, but before the sync);
            // one deleted after it began is.
            if href == coll {
                continue;
            }
            if item.contains("404 Not Found") {
                removed.push(href.to_owned());
                continue;
            }
            assert!(item.contains("200 OK"), "{item}");
            assert!(!seen.contains(&href.to_owned()), "{href} twice");
            seen.push(href.to_owned());
        }
        token = token_of(&r.body);
        if pages == 1 {
            // e0 was on the first page; its deletion now must reach the client.
            let r = ana.send("DELETE", &format!("{coll}e0.ics"), &[], "").await;
            assert_eq!(r.status, 204);
        }
        if !cut {
            break;
        }
    }
    assert_eq!(removed, [format!("{coll}e0.ics")]);
    seen.sort();
    assert_eq!(
        seen,
        [
            format!("{coll}e0.ics"),
            format!("{coll}e2.ics"),
            format!("{coll}e3.ics")
        ]
    );
    assert_eq!(pages, 2);
    a.shutdown().await;
}

/// `If-Match` and `If-None-Match: *` hold for concurrent writers too: of apps that all send
/// the same ETag (or all create the same resource) at once, one wins and the others get 412,
/// never a lost update or a creation silently turned into an edit. Of two accounts creating
/// one UID at once, the winner owns the event (it once went to the loser's calendar).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_conditional_writes_let_exactly_one_through() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir, config(4)).await;
    add_user(&a, "ana", "user", PASSWORD).await;
    let ana = std::sync::Arc::new(Dav::new(&a, "ana", PASSWORD));
    const WRITERS: usize = 8;
    for round in 0..3 {
        let path = format!("/dav/calendars/users/ana/race-{round}.ics");
        let uid = format!("race-{round}@example.org");
        // Creations: all with If-None-Match: *.
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (ana, path, ics) = (ana.clone(), path.clone(), event(&uid, &format!("by {w}")));
            tasks.push(tokio::spawn(async move {
                ana.put(&path, &[("if-none-match", "*")], &ics).await.status
            }));
        }
        let mut created = 0;
        for t in tasks {
            match t.await.unwrap().as_u16() {
                201 => created += 1,
                412 => {}
                other => panic!("a concurrent creation answered {other}"),
            }
        }
        assert_eq!(created, 1, "round {round}: one creation wins");
        // Edits, then cancellations, all against the same ETag.
        for method in ["PUT", "DELETE"] {
            let etag = ana.send("GET", &path, &[], "").await.etag.unwrap();
            let mut tasks = Vec::new();
            for w in 0..WRITERS {
                let (ana, path, etag) = (ana.clone(), path.clone(), etag.clone());
                let ics = event(&uid, &format!("edit {w}"));
                tasks.push(tokio::spawn(async move {
                    let cond = [("if-match", etag.as_str())];
                    if method == "PUT" {
                        ana.put(&path, &cond, &ics).await.status
                    } else {
                        ana.send("DELETE", &path, &cond, "").await.status
                    }
                }));
            }
            let mut won = 0;
            for t in tasks {
                match t.await.unwrap().as_u16() {
                    200 | 204 => won += 1,
                    412 => {}
                    other => panic!("a concurrent {method} answered {other}"),
                }
            }
            assert_eq!(won, 1, "round {round}: one {method} with the ETag wins");
            if method == "PUT" {
                // The DELETEs' ETag is the old one: each of them must now fail.
                let now = ana.send("GET", &path, &[], "").await;
                assert_ne!(now.etag.as_deref(), Some(etag.as_str()));
                let r = ana
                    .send("DELETE", &path, &[("if-match", etag.as_str())], "")
                    .await;
                assert_eq!(r.status, 412, "{}", r.body);
            }
        }
    }
    // Two accounts creating one UID at once: one of them has it, in its calendar only.
    add_user(&a, "bob", "user", PASSWORD).await;
    let bob = std::sync::Arc::new(Dav::new(&a, "bob", PASSWORD));
    for round in 0..10 {
        let uid = format!("contested-{round}@example.org");
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (who, name) = if w % 2 == 0 {
                (ana.clone(), "ana")
            } else {
                (bob.clone(), "bob")
            };
            let ics = event(&uid, &format!("by {name}"));
            tasks.push(tokio::spawn(async move {
                let path = format!("/dav/calendars/users/{name}/contested-{round}.ics");
                let status = who.put(&path, &[("if-none-match", "*")], &ics).await.status;
                (name, status.as_u16())
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (name, 201) => winners.push(name),
                (_, 403 | 412) => {}
                (name, other) => panic!("{name}'s concurrent creation answered {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "{winners:?}");
        let owner = a.store().owner(&uid).unwrap();
        assert_eq!(owner.as_deref(), Some(winners[0]), "round {round}");
        for (who, name) in [(&ana, "ana"), (&bob, "bob")] {
            let listing = who
                .propfind(
                    &format!("/dav/calendars/users/{name}/"),
                    "1",
                    "<D:getetag/>",
                )
                .await
                .body;
            assert_eq!(
                listing.contains(&format!("contested-{round}.ics")),
                name == winners[0],
                "{name}: {listing}"
            );
        }
    }
    // Sixteen PROPPATCHes at once, each adding 3 properties: their sum must stay within the
    // calendar's limit of 32, so ten are taken whole and the others refused whole.
    let mut tasks = Vec::new();
    for w in 0..16 {
        let ana = ana.clone();
        let props: String = (0..3)
            .map(|i| format!("<X:p{w}-{i} xmlns:X=\"urn:x-test\">v</X:p{w}-{i}>"))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop>{props}</D:prop></D:set></D:propertyupdate>"
        );
        tasks.push(tokio::spawn(async move {
            ana.send("PROPPATCH", "/dav/calendars/users/ana/", &[], body)
                .await
                .body
        }));
    }
    let mut taken = 0;
    for t in tasks {
        let body = t.await.unwrap();
        match (body.matches("200 OK").count(), body.contains("507")) {
            (3, false) => taken += 1,
            (0, true) => {}
            other => panic!("{other:?}: {body}"),
        }
    }
    assert_eq!(taken, 10);
    assert!(a.store().dav_props("ana").unwrap().len() <= discal_gateway::dav::MAX_CALENDAR_PROPS);
    a.shutdown().await;
}

/// GNOME Evolution writes `X-EVOLUTION-ENDDATE` into the RRULE of every event with a COUNT,
/// and sends it back on every save: the event is taken without that part (once refused as an
/// invalid rule), and saving it again unchanged makes no revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evolutions_rule_extension_is_taken_and_an_unchanged_save_makes_no_revision() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir, config(4)).await;
    add_user(&a, "ana", "user", PASSWORD).await;
    let ana = Dav::new(&a, "ana", PASSWORD);
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Ximian//NONSGML Evolution Calendar//EN\r\nBEGIN:VEVENT\r\nUID:20270105T180000Z-1234-1000-1-0@evolution\r\nDTSTAMP:20261201T120000Z\r\nDTSTART:20270105T180000Z\r\nDTEND:20270105T200000Z\r\nSEQUENCE:1\r\nSUMMARY:Repair café\r\nRRULE;X-EVOLUTION-ENDDATE=20270202T180000Z:FREQ=WEEKLY;COUNT=5;X-EVOLUTION-ENDDATE=20270202T180000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let path = "/dav/calendars/users/ana/20270105T180000Z-1234-1000-1-0@evolution.ics";
    let r = ana.put(path, &[("if-none-match", "*")], ics).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let got = ana.send("GET", path, &[], "").await;
    assert!(
        got.body.contains("RRULE:FREQ=WEEKLY;COUNT=5\r\n"),
        "{}",
        got.body
    );
    let key = EventKey {
        origin: a.key(),
        uid: "20270105T180000Z-1234-1000-1-0@evolution".into(),
    };
    assert_eq!(held(&a, &key).unwrap().payload.revision, 0);
    let etag = got.etag.unwrap();
    let r = ana.put(path, &[("if-match", etag.as_str())], ics).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(held(&a, &key).unwrap().payload.revision, 0);
    a.shutdown().await;
}
