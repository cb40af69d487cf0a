//! People in a browser (issue 18), over real HTTP against real nodes: an admin made through
//! the accounts API logs in, enters a weekly event across the March DST change with an
//! exception (the preview shows the right local times), the event reaches a second node with
//! X-HOP 1, is edited and cancelled; sessions, CSRF, roles, escaping, the login limit and
//! field errors; an anonymous submission waits until a user approves it; a sister site a user
//! registers waits until someone who may confirm sites does.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::*;
use discal_protocol::EventKey;

/// A browser: keeps cookies, follows no redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    body: String,
    location: String,
}

impl Browser {
    fn new(addr: SocketAddr) -> Self {
        Self {
            client: discal_node::client::http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let r = req
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        for c in r.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            assert!(
                attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
                "{c}"
            );
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.into(), v.into());
            }
        }
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string())
            .unwrap_or_default();
        Page {
            status,
            location,
            body: r.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    async fn login(&mut self, name: &str, password: &str) -> Page {
        let page = self.get("/login").await;
        let csrf = csrf(&page.body);
        self.post(
            "/login",
            &[("name", name), ("password", password), ("csrf", &csrf)],
        )
        .await
    }
}

/// The CSRF token of the first form on a page.
fn csrf(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// The UID of the first event listed on /my.
fn first_uid(my: &str) -> String {
    // The first edit link (the page's menu links /my/proposals too).
    let end = my.find("/edit\"").expect("an event on /my");
    let at = my[..end].rfind("href=\"/my/").unwrap() + 10;
    let seg = &my[at..end];
    percent_encoding::percent_decode_str(seg)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

const WEEKLY: &[(&str, &str)] = &[
    ("title", "Stammtisch"),
    ("tz", "Europe/Berlin"),
    ("start_date", "2027-03-16"),
    ("start_time", "19:00"),
    ("end_time", "21:00"),
    ("freq", "weekly"),
    ("byday", "TU"),
    ("count", "4"),
    ("exdates", "2027-03-30"),
    ("location", "Hackerspace, Berlin"),
    ("tags", "linux, meetup"),
    ("language", "de"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_enters_a_weekly_event_that_federates_then_edits_and_cancels_it() {
    let net = TestNet::new(2, 8).await;
    net.link(&[(0, 1)]).await;
    net.wait_gossip(0, 1).await;
    let (a, b) = (net.node(0), net.node(1));
    add_user(a, "ana", "admin", "ana's long password").await;
    let mut br = Browser::new(a.http_addr());
    let p = br.login("ana", "ana's long password").await;
    assert_eq!((p.status, p.location.as_str()), (303, "/my"), "{}", p.body);

    let form = br.get("/events/new").await;
    let token = csrf(&form.body);
    let mut fields = WEEKLY.to_vec();
    fields.push(("csrf", &token));
    fields.push(("action", "preview"));
    let pv = br.post("/events/new", &fields).await;
    assert_eq!(pv.status, 200, "{}", pv.body);
    // Local 19:00 on both sides of the change to summer time (28 March), the exception gone.
    for want in [
        "Tue 2027-03-16 19:00 CET",
        "Tue 2027-03-23 19:00 CET",
        "Tue 2027-04-06 19:00 CEST",
    ] {
        assert!(pv.body.contains(want), "{want} missing from the preview");
    }
    assert!(
        !pv.body.contains("2027-03-30 19:00"),
        "the exception is previewed"
    );
    fields.pop();
    fields.push(("action", "save"));
    let saved = br.post("/events/new", &fields).await;
    assert_eq!(
        (saved.status, saved.location.as_str()),
        (303, "/my"),
        "{}",
        saved.body
    );

    let my = br.get("/my").await;
    let uid = first_uid(&my.body);
    let key = EventKey {
        origin: a.key(),
        uid: uid.clone(),
    };
    assert_eq!(a.store().owner(&uid).unwrap().as_deref(), Some("ana"));
    let feed = br.get("/feed.ics?from=2027-03-01&to=2027-05-01").await.body;
    assert!(
        feed.contains("SUMMARY;LANGUAGE=de:Stammtisch")
            && feed.contains("RRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4"),
        "{feed}"
    );
    // The event's language reaches its page: the title's and description's `lang`, and the
    // JSON-LD for machines.
    let page = br
        .get(&format!(
            "/events/{}/{}",
            a.key(),
            discal_gateway::read::path_segment(&uid)
        ))
        .await
        .body;
    assert!(
        page.contains("<h1 lang=\"de\">Stammtisch</h1>") && page.contains("\"inLanguage\":\"de\""),
        "{page}"
    );
    assert!(
        feed.contains("EXDATE;TZID=Europe/Berlin:20270330T190000"),
        "{feed}"
    );
    assert!(wait_rev(b, &key, 0).await, "the event reaches the peer");
    assert_eq!(held(b, &key).unwrap().transit.hop, 1);
    assert_eq!(
        held(b, &key).unwrap().content().master.language(),
        Some("de")
    );

    let edit = br
        .get(&format!(
            "/my/{}/edit",
            discal_gateway::read::path_segment(&uid)
        ))
        .await;
    assert_eq!(edit.status, 200, "{}", edit.body);
    assert!(edit.body.contains("value=\"Stammtisch\""));
    assert!(edit.body.contains("<option value=\"de\" selected>"));
    let token = csrf(&edit.body);
    let mut changed: Vec<(&str, &str)> = WEEKLY
        .iter()
        .filter(|(k, _)| *k != "title")
        .copied()
        .collect();
    changed.extend([
        ("title", "Stammtisch (new room)"),
        ("csrf", &token),
        ("action", "save"),
    ]);
    let path = format!("/my/{}/edit", discal_gateway::read::path_segment(&uid));
    let r = br.post(&path, &changed).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(wait_rev(b, &key, 1).await);
    assert_eq!(
        held(b, &key).unwrap().content().master.summary.as_deref(),
        Some("Stammtisch (new room)")
    );

    let my = br.get("/my").await;
    let token = csrf(&my.body);
    let cancel = format!("/my/{}/cancel", discal_gateway::read::path_segment(&uid));
    assert_eq!(br.post(&cancel, &[("csrf", &token)]).await.status, 303);
    assert!(wait_rev(b, &key, 2).await);
    assert!(held(b, &key).unwrap().content().is_cancelled());
    let log = a.store().audit_log(10).unwrap();
    let actions: Vec<&str> = log
        .iter()
        .filter(|e| e.actor == "ana")
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(actions, ["cancel", "update", "create"]);
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_csrf_roles_escaping_the_login_limit_and_field_errors() {
    let net = TestNet::new(1, 8).await;
    let a = net.node(0);
    add_user(a, "ana", "admin", "ana's long password").await;
    add_user(a, "bo", "user", "bo's long password").await;
    add_user(a, "cy", "user", "cy's long password").await;
    let mut bo = Browser::new(a.http_addr());
    assert_eq!(bo.login("bo", "bo's long password").await.status, 303);

    // CSRF: no token, a wrong token.
    let mut fields = WEEKLY.to_vec();
    fields.push(("action", "save"));
    assert_eq!(bo.post("/events/new", &fields).await.status, 403);
    fields.push(("csrf", "0000"));
    assert_eq!(bo.post("/events/new", &fields).await.status, 403);
    // A form over the size any form needs (64 KiB): 413, before its token is looked at.
    let long = "x".repeat(70_000);
    let huge = bo.post("/events/new", &[("title", long.as_str())]).await;
    assert_eq!(huge.status, 413, "{}", huge.body);
    assert!(huge.body.contains("forms take at most"), "{}", huge.body);

    // Field errors: at their fields, nothing lost, no 500.
    let token = csrf(&bo.get("/events/new").await.body);
    let bad = [
        ("title", "Typed title"),
        ("tz", "Mars/Olympus"),
        ("start_date", "2027-02-31"),
        ("start_time", "19:00"),
        ("freq", "weekly"),
        ("count", "0"),
        ("lat", "200"),
        ("lon", "13.4"),
        ("language", "deutsch und englisch"),
        ("csrf", &token),
        ("action", "save"),
    ];
    let p = bo.post("/events/new", &bad).await;
    assert_eq!(p.status, 422, "{}", p.body);
    for field in ["tz", "start_date", "count", "lat", "language"] {
        assert!(
            p.body.contains(&format!("id=\"err-{field}\"")),
            "no message at {field}"
        );
    }
    assert!(p.body.contains("value=\"Typed title\""), "typed text kept");
    let p = bo
        .post(
            "/events/new",
            &[
                ("title", "t"),
                ("tz", "UTC"),
                ("start_date", "2027-03-02"),
                ("start_time", "19:00"),
                ("end_time", "18:00"),
                ("csrf", &token),
                ("action", "save"),
            ],
        )
        .await;
    assert!(
        p.status == 422 && p.body.contains("id=\"err-end_time\""),
        "{}",
        p.body
    );

    // Hostile text renders inert.
    let xss = "<script>alert(1)</script>";
    let attr = "\" onmouseover=\"alert(2)";
    let ok = bo
        .post(
            "/events/new",
            &[
                ("title", xss),
                ("location", attr),
                ("tz", "UTC"),
                ("start_date", "2027-03-02"),
                ("start_time", "19:00"),
                ("csrf", &token),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let my = bo.get("/my").await.body;
    let uid = first_uid(&my);
    let seg = discal_gateway::read::path_segment(&uid).to_string();
    let event_page = bo.get(&format!("/events/{}/{seg}", a.key())).await.body;
    let embed = bo.get("/embed?from=2027-03-01&days=30").await.body;
    let edit_page = bo.get(&format!("/my/{seg}/edit")).await.body;
    for (what, html) in [
        ("my", &my),
        ("event page", &event_page),
        ("embed", &embed),
        ("edit form", &edit_page),
    ] {
        assert!(!html.contains("<script>alert"), "{what} runs the title");
        assert!(
            !html.contains("\" onmouseover=\""),
            "{what} lets the attribute out"
        );
    }
    assert!(my.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // Roles: a user cannot open admin pages or change another's event.
    assert_eq!(bo.get("/admin").await.status, 403);
    let mut cy = Browser::new(a.http_addr());
    assert_eq!(cy.login("cy", "cy's long password").await.status, 303);
    assert_eq!(cy.get(&format!("/my/{seg}/edit")).await.status, 403);
    let cy_token = csrf(&cy.get("/my").await.body);
    assert_eq!(
        cy.post(&format!("/my/{seg}/cancel"), &[("csrf", &cy_token)])
            .await
            .status,
        403
    );
    let api = discal_node::client::http_client().build().unwrap();
    let tok = api
        .post(format!("http://{}/api/users/cy/token", a.http_addr()))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| serde_json::from_str::<serde_json::Value>(&t).unwrap())
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .delete(format!("http://{}/api/events/{seg}", a.http_addr()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "a user's token cannot cancel another's event"
    );
    assert!(!a
        .store()
        .get(&EventKey {
            origin: a.key(),
            uid: uid.clone()
        })
        .unwrap()
        .unwrap()
        .content()
        .is_cancelled());

    // Sessions end at logout and at a password change.
    let stolen = bo.cookies.clone();
    let token = csrf(&bo.get("/my").await.body);
    assert_eq!(bo.post("/logout", &[("csrf", &token)]).await.status, 303);
    let mut thief = Browser::new(a.http_addr());
    thief.cookies = stolen;
    assert_eq!(thief.get("/my").await.location, "/login");
    assert_eq!(bo.login("bo", "bo's long password").await.status, 303);
    let stolen = bo.cookies.clone();
    let r = api
        .post(format!("http://{}/api/users/bo/password", a.http_addr()))
        .bearer_auth(a.admin_token())
        .header("content-type", "application/json")
        .body(serde_json::json!({"password": "bo's new long password"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    thief.cookies = stolen;
    assert_eq!(thief.get("/my").await.location, "/login");

    // The login limit: ten failures in a minute, then a clear refusal; no enumeration.
    let mut guesser = Browser::new(a.http_addr());
    let wrong_user = guesser.login("nobody", "whatever password").await;
    let wrong_pw = guesser.login("ana", "whatever password").await;
    assert_eq!((wrong_user.status, wrong_pw.status), (401, 401));
    assert!(
        wrong_user.body.contains("Wrong name or password.")
            && wrong_pw.body.contains("Wrong name or password.")
    );
    for _ in 0..8 {
        assert_eq!(guesser.login("ana", "whatever password").await.status, 401);
    }
    let eleventh = guesser.login("ana", "ana's long password").await;
    assert_eq!(eleventh.status, 429, "{}", eleventh.body);
    assert!(eleventh.body.contains("Too many failed logins"));

    // Passwords are stored as argon2id hashes only.
    let stored = a.store().account("bo").unwrap().unwrap();
    assert!(
        stored.password.starts_with("$argon2id$") && !stored.password.contains("long password")
    );
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_submission_waits_until_a_user_approves_it() {
    let net = TestNet::new(1, 8).await;
    net.configure(0, &[], |c| c.people.allow_anonymous = true)
        .await;
    let a = net.node(0);
    add_user(a, "bo", "user", "bo's long password").await;
    let mut anon = Browser::new(a.http_addr());
    let form = anon.get("/events/new").await;
    assert_eq!(form.status, 200, "{}", form.body);
    let field = |name: &str| hidden_value(&form.body, name);
    let (token, t, sig) = (csrf(&form.body), field("t"), field("sig"));
    let mut fields = vec![
        ("title", "Repair café"),
        ("tz", "Europe/Berlin"),
        ("start_date", "2027-04-10"),
        ("start_time", "14:00"),
        ("csrf", token.as_str()),
        ("t", t.as_str()),
        ("sig", sig.as_str()),
        ("action", "save"),
    ];
    // Sent at once: no person fills a form that fast (the default is two seconds).
    assert_eq!(anon.post("/events/new", &fields).await.status, 400);
    // The operator may shorten the wait; at 0 the same form, sent at once, is taken.
    net.configure(0, &[], |c| {
        c.people.allow_anonymous = true;
        c.people.min_fill_secs = 0;
    })
    .await;
    fields.push(("website", "http://spam.example"));
    assert_eq!(
        anon.post("/events/new", &fields).await.status,
        400,
        "the trap field was filled"
    );
    fields.pop();
    let sent = anon.post("/events/new", &fields).await;
    assert_eq!(sent.status, 202, "{}", sent.body);
    assert_eq!(a.store().submissions().unwrap().len(), 1);
    assert!(!anon
        .get("/feed.ics?from=2027-04-01&to=2027-05-01")
        .await
        .body
        .contains("Repair caf"));

    let mut bo = Browser::new(a.http_addr());
    assert_eq!(bo.login("bo", "bo's long password").await.status, 303);
    let queue = bo.get("/queue").await;
    assert!(queue.body.contains("Repair café"), "{}", queue.body);
    let token = csrf(&queue.body);
    assert_eq!(
        bo.post("/queue/1/approve", &[("csrf", &token)])
            .await
            .status,
        303
    );
    assert!(a.store().submissions().unwrap().is_empty());
    let feed = anon
        .get("/feed.ics?from=2027-04-01&to=2027-05-01")
        .await
        .body;
    assert!(feed.contains("SUMMARY:Repair café"), "{feed}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_edits_peers_filters_and_settings_in_the_config_file() {
    let net = TestNet::new(2, 8).await;
    net.set_peers(1, &[0]).await;
    let a = net.node(0);
    add_user(a, "ana", "admin", "ana's long password").await;
    add_user(a, "bo", "user", "bo's long password").await;
    let mut ana = Browser::new(a.http_addr());
    assert_eq!(ana.login("ana", "ana's long password").await.status, 303);
    let page = ana.get("/admin").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = csrf(&page.body);
    let (key1, addr1) = (net.nodes[1].key.to_string(), net.nodes[1].addr.clone());
    let r = ana
        .post(
            "/admin/config/peer",
            &[
                ("key", &key1),
                ("address", &addr1),
                ("name", "sister"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    net.wait_gossip(0, 1).await;
    let page = ana.get("/admin").await.body;
    assert!(
        page.contains("sister") && page.contains(">connected<"),
        "{page}"
    );

    let r = ana
        .post(
            "/admin/config/settings",
            &[
                ("name", "LUG"),
                ("default_tz", "Europe/Berlin"),
                ("allow_anonymous", "on"),
                ("users_confirm_changes", "on"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = ana
        .post(
            "/admin/config/filters",
            &[
                ("drop_tags", "spam, ads"),
                ("max_hop", "4"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let bad = ana
        .post(
            "/admin/config/settings",
            &[
                ("name", "LUG"),
                ("default_tz", "Mars/Base"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let file = std::fs::read_to_string(config_path(&net.nodes[0].dir)).unwrap();
    let cfg: discal_node::Config = toml::from_str(&file).unwrap();
    assert!(cfg.people.allow_anonymous && cfg.people.default_tz == "Europe/Berlin");
    assert_eq!(cfg.filters.drop_tags, ["spam", "ads"]);
    assert_eq!(cfg.filters.max_hop, Some(4));
    assert_eq!(cfg.peers.len(), 1);
    // Applied by the running node: anonymous people now get the form.
    assert_eq!(
        Browser::new(a.http_addr()).get("/events/new").await.status,
        200
    );

    let mut bo = Browser::new(a.http_addr());
    assert_eq!(bo.login("bo", "bo's long password").await.status, 303);
    let bo_token = csrf(&bo.get("/my").await.body);
    let r = bo
        .post(
            "/admin/config/settings",
            &[("name", "mine"), ("default_tz", "UTC"), ("csrf", &bo_token)],
        )
        .await;
    assert_eq!(r.status, 403);

    let r = ana
        .post(&format!("/admin/peers/{key1}/remove"), &[("csrf", &token)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cfg: discal_node::Config =
        toml::from_str(&std::fs::read_to_string(config_path(&net.nodes[0].dir)).unwrap()).unwrap();
    assert!(cfg.peers.is_empty());
    let log = a.store().audit_log(20).unwrap();
    assert!(log
        .iter()
        .any(|e| e.action == "config" && e.subject.starts_with("remove peer")));
    net.shutdown().await;
}

/// The seed's "register sister sites" and "confirm sister sites" roles: a user may register one
/// only when the config says so, the request waits, a user without the confirm role cannot
/// confirm it, an admin does, and the site is in the allowlist and connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_register_sister_sites_that_wait_for_someone_who_may_confirm_them() {
    let net = TestNet::new(2, 8).await;
    net.set_peers(1, &[0]).await;
    let a = net.node(0);
    add_user(a, "ana", "admin", "ana's long password").await;
    add_user(a, "bo", "user", "bo's long password").await;
    let (key1, addr1) = (net.nodes[1].key.to_string(), net.nodes[1].addr.clone());
    let mut bo = Browser::new(a.http_addr());
    assert_eq!(bo.login("bo", "bo's long password").await.status, 303);
    assert_eq!(
        bo.get("/sites/new").await.status,
        403,
        "not without the role"
    );

    net.configure(0, &[], |c| c.people.users_register_sites = true)
        .await;
    let page = bo.get("/sites/new").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let token = csrf(&page.body);
    let bad = bo
        .post(
            "/sites/new",
            &[("key", "nope"), ("name", "x"), ("csrf", &token)],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("is not a node key") && bad.body.contains("value=\"x\""));
    let sent = [
        ("key", key1.as_str()),
        ("address", addr1.as_str()),
        ("name", "sister <b>site</b>"),
        ("csrf", token.as_str()),
    ];
    assert_eq!(bo.post("/sites/new", &sent).await.status, 202);
    let path = config_path(&net.nodes[0].dir);
    let held = || discal_node::config::Config::load(&path).unwrap().peers;
    assert!(
        held().is_empty(),
        "not in the allowlist before it is confirmed"
    );
    let q = bo.get("/queue").await.body;
    assert!(!q.contains("/queue/sites/1/confirm"), "{q}");
    assert_eq!(
        bo.post("/queue/sites/1/confirm", &[("csrf", &token)])
            .await
            .status,
        403
    );

    let mut ana = Browser::new(a.http_addr());
    assert_eq!(ana.login("ana", "ana's long password").await.status, 303);
    let q = ana.get("/queue").await.body;
    assert!(
        q.contains("/queue/sites/1/confirm") && q.contains("sister &lt;b&gt;site&lt;/b&gt;"),
        "{q}"
    );
    let r = ana
        .post("/queue/sites/1/confirm", &[("csrf", &csrf(&q))])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let peers = held();
    assert_eq!(peers.len(), 1);
    assert_eq!(
        (peers[0].key.as_str(), peers[0].name.as_deref()),
        (key1.as_str(), Some("sister <b>site</b>"))
    );
    net.wait_gossip(0, 1).await;
    assert!(ana.get("/queue").await.body.contains("No site waits."));
    let log = a.store().audit_log(10).unwrap();
    let acts: Vec<(&str, &str)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert!(acts.contains(&("bo", "register site")) && acts.contains(&("ana", "confirm site")));
    net.shutdown().await;
}

/// The value of a hidden input of a form page.
fn hidden_value(body: &str, name: &str) -> String {
    let at = body.find(&format!("name=\"{name}\" value=\"")).unwrap() + name.len() + 15;
    body[at..].split('"').next().unwrap().to_string()
}

/// Posts a form of owned values.
async fn post_owned(b: &mut Browser, path: &str, v: &[(&str, String)]) -> Page {
    let f: Vec<(&str, &str)> = v.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(path, &f).await
}

/// RSVPs without an account (issue 19): only where the node takes anonymous submissions, by
/// name, with the same guards as the anonymous form; the visitor's browser can take it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_visitor_says_they_are_coming_by_name() {
    let net = TestNet::new(1, 8).await;
    let a = net.node(0);
    let key = add(a, "Repair café").await;
    let path = format!(
        "/rsvp/{}/{}",
        key.origin,
        discal_gateway::read::path_segment(&key.uid)
    );
    let mut anon = Browser::new(a.http_addr());
    let p = anon.get(&path).await;
    assert_eq!(
        (p.status, p.location.as_str()),
        (303, "/login"),
        "not without the setting"
    );
    assert_eq!(anon.post(&path, &[("answer", "going")]).await.status, 403);
    net.configure(0, &[], |c| {
        c.people.allow_anonymous = true;
        c.people.min_fill_secs = 0;
    })
    .await;
    let form = anon.get(&path).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"name\""));
    let field = |name: &str| hidden_value(&form.body, name);
    let (token, t, sig) = (csrf(&form.body), field("t"), field("sig"));
    let send = |answer: &'static str, name: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("t", t.clone()),
            ("sig", sig.clone()),
            ("name", name.to_string()),
            ("answer", answer.to_string()),
        ]
    };
    assert_eq!(
        post_owned(&mut anon, &path, &send("going", ""))
            .await
            .status,
        400,
        "a name is needed"
    );
    let r = post_owned(&mut anon, &path, &send("going", "Mia")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let held = a.store().rsvps(&key.uid).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].name, "Mia (anonymous)");
    // The same browser changes its mind, then takes it back.
    let r = post_owned(&mut anon, &path, &send("maybe", "Mia")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(a.store().rsvps(&key.uid).unwrap().len(), 1);
    let r = post_owned(&mut anon, &path, &send("withdrawn", "Mia")).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(a.store().rsvps(&key.uid).unwrap().is_empty());
    net.shutdown().await;
}

/// Sources on the admin page (issue 20): added through the form into the config file, polled
/// on "Poll now", with what went wrong shown (here: a loopback URL, refused for a source not
/// marked allow_private), and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_adds_polls_shows_and_removes_sources() {
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    add_user(a, "ana", "admin", "ana's long password").await;
    let mut ana = Browser::new(a.http_addr());
    assert_eq!(ana.login("ana", "ana's long password").await.status, 303);
    let token = csrf(&ana.get("/admin").await.body);
    let r = ana
        .post(
            "/admin/config/source",
            &[
                ("url", "http://127.0.0.1:9/cal.ics"),
                ("kind", "ics"),
                ("name", "lug"),
                ("every", "30m"),
                ("tags", "linux, berlin"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cfg: discal_node::Config =
        toml::from_str(&std::fs::read_to_string(config_path(&net.nodes[0].dir)).unwrap()).unwrap();
    assert_eq!(cfg.sources.len(), 1);
    assert_eq!(cfg.sources[0].tags, ["linux", "berlin"]);
    let bad = ana
        .post(
            "/admin/config/source",
            &[("url", "ftp://x"), ("kind", "ics"), ("csrf", &token)],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let r = ana
        .post("/admin/sources/lug/run", &[("csrf", &token)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = ana.get("/admin").await.body;
    assert!(
        page.contains("http://127.0.0.1:9/cal.ics")
            && page.contains("loopback, private or special"),
        "{page}"
    );
    let r = ana
        .post("/admin/sources/lug/remove", &[("csrf", &token)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cfg: discal_node::Config =
        toml::from_str(&std::fs::read_to_string(config_path(&net.nodes[0].dir)).unwrap()).unwrap();
    assert!(cfg.sources.is_empty());
    assert!(!ana.get("/admin").await.body.contains("127.0.0.1:9"));
    net.shutdown().await;
}

/// Push targets and dedupe corrections on the admin page (issue 21): a target added through
/// the form lands in `[[push.targets]]` and shows with its outbox; a correction made from two
/// event pages' URLs is listed, and taken back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_manages_push_targets_and_dedupe_corrections() {
    let net = TestNet::new(1, 3).await;
    let a = net.node(0);
    add_user(a, "ana", "admin", "ana's long password").await;
    let mut ana = Browser::new(a.http_addr());
    assert_eq!(ana.login("ana", "ana's long password").await.status, 303);
    let token = csrf(&ana.get("/admin").await.body);
    let r = ana
        .post(
            "/admin/config/push",
            &[
                ("name", "cms"),
                ("url", "https://cms.example/in"),
                ("filter", "?tags=linux"),
                ("secret", "s3cret"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cfg: discal_node::Config =
        toml::from_str(&std::fs::read_to_string(config_path(&net.nodes[0].dir)).unwrap()).unwrap();
    assert_eq!(cfg.push.targets.len(), 1);
    assert_eq!(cfg.push.targets[0].filter, "tags=linux");
    assert_eq!(cfg.push.targets[0].auth, discal_node::push::Auth::Hmac);
    let page = ana.get("/admin").await.body;
    assert!(page.contains("https://cms.example/in") && page.contains("Push to sister sites"));

    let x = add(a, "Repair café").await;
    let y = add(a, "Clothes swap").await;
    let url = |k: &discal_protocol::EventKey| {
        format!("http://{}/events/{}/{}", a.http_addr(), k.origin, k.uid)
    };
    let r = ana
        .post(
            "/admin/dedupe",
            &[
                ("a", &url(&x)),
                ("b", &url(&y)),
                ("action", "join"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(a.store().dedupe_choices().unwrap().len(), 1);
    assert!(ana.get("/admin").await.body.contains("joined"));
    let bad = ana
        .post(
            "/admin/dedupe",
            &[
                ("a", "https://x.example/nope"),
                ("b", &url(&y)),
                ("action", "split"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    let r = ana
        .post(
            "/admin/dedupe",
            &[
                ("a", &url(&x)),
                ("b", &url(&y)),
                ("action", "clear"),
                ("csrf", &token),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(a.store().dedupe_choices().unwrap().is_empty());
    // A site that asked at the hub waits in the one queue, beside sister sites.
    a.store()
        .put_subscription(&discal_store::Subscription {
            id: "feedc0de".into(),
            topic: format!("http://{}/feed.ics?tags=linux", a.http_addr()),
            filter: "tags=linux".into(),
            callback: "https://wp.example/discal-callback".into(),
            secret: Vec::new(),
            lease_secs: 3600,
            expires_ms: i64::MAX / 2,
            state: discal_store::SubState::Waiting,
            at_ms: 0,
        })
        .unwrap();
    let queue = ana.get("/queue").await.body;
    assert!(
        queue.contains("https://wp.example/discal-callback"),
        "{queue}"
    );
    let r = ana
        .post("/queue/push/feedc0de/approve", &[("csrf", &token)])
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        a.store().subscription("feedc0de").unwrap().unwrap().state,
        discal_store::SubState::Active
    );
    assert!(!ana.get("/queue").await.body.contains("wp.example"));
    let r = ana.post("/admin/push/cms/drop", &[("csrf", &token)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cfg: discal_node::Config =
        toml::from_str(&std::fs::read_to_string(config_path(&net.nodes[0].dir)).unwrap()).unwrap();
    assert!(cfg.push.targets.is_empty());
    net.shutdown().await;
}
