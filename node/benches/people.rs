//! People pages benchmark: `cargo bench -p discal-node --bench people`.
//!
//! Two nodes on loopback, peered; an admin logged in at the first through its real login
//! form, 200 events entered through the form. Prints:
//! - p50 and p99 latency of the form pages over 300 requests each (the event form, its
//!   preview of a weekly rule across a DST change, "my events" with 200 events, the login
//!   page; the login itself is excluded: argon2 is slow on purpose);
//! - from the form's save (POST) to the event stored at the peer, over 30 events: p50 and max.

use std::time::{Duration, Instant};

use discal_node::config::{Config, PeerEntry};
use discal_node::{Node, NodeHandle, NodeOptions};
use discal_protocol::EventKey;

fn config() -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        http: "127.0.0.1:0".into(),
        sync_interval_secs: 3600,
        redial_max_secs: 1,
        ..Config::default()
    }
}

fn entry(h: &NodeHandle) -> PeerEntry {
    PeerEntry {
        key: h.key().to_string(),
        address: Some(h.listen_addrs()[0].to_string()),
        name: None,
    }
}

struct Session {
    client: reqwest::Client,
    base: String,
    cookie: String,
}

fn token(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

impl Session {
    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> u16 {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }
}

async fn login(h: &NodeHandle) -> Session {
    let client = discal_node::client::http_client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("http://{}", h.http_addr());
    discal_gateway::accounts::add_user(
        h.store(),
        "bench",
        "ana",
        discal_store::Role::Admin,
        Some("a long bench password"),
        0,
    )
    .unwrap();
    let r = client.get(format!("{base}/login")).send().await.unwrap();
    let form_cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = token(&r.text().await.unwrap());
    let body = format!("name=ana&password=a+long+bench+password&csrf={csrf}");
    let r = client
        .post(format!("{base}/login"))
        .header("cookie", &form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    Session {
        client,
        base,
        cookie,
    }
}

fn event(title: &str, csrf: &str, action: &'static str) -> Vec<(String, String)> {
    [
        ("title", title),
        ("tz", "Europe/Berlin"),
        ("start_date", "2027-03-16"),
        ("start_time", "19:00"),
        ("end_time", "21:00"),
        ("freq", "weekly"),
        ("byday", "TU"),
        ("count", "10"),
        ("location", "Hackerspace"),
        ("csrf", csrf),
        ("action", action),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn pct(mut v: Vec<Duration>, p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
    v[i].as_secs_f64() * 1000.0
}

async fn pages(s: &Session) {
    let csrf = token(&s.get("/events/new").await.1);
    for i in 0..200 {
        let f = event(&format!("Meetup {i}"), &csrf, "save");
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(s.post("/events/new", &refs).await, 303);
    }
    let preview = event("Preview", &csrf, "preview");
    let preview: Vec<(&str, &str)> = preview
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    println!("form pages, 300 requests each, one client, loopback:");
    for what in [
        "GET /events/new",
        "POST /events/new (preview)",
        "GET /my (200 events)",
        "GET /login",
    ] {
        let mut times = Vec::new();
        for _ in 0..300 {
            let t = Instant::now();
            let status = match what {
                "GET /events/new" => s.get("/events/new").await.0,
                "POST /events/new (preview)" => s.post("/events/new", &preview).await,
                "GET /my (200 events)" => s.get("/my").await.0,
                _ => s.get("/login").await.0,
            };
            times.push(t.elapsed());
            assert_eq!(status, 200, "{what}");
        }
        println!(
            "  {what}: p50 {:.2} ms, p99 {:.2} ms",
            pct(times.clone(), 0.5),
            pct(times, 0.99)
        );
    }
}

async fn to_peer(s: &Session, a: &NodeHandle, b: &NodeHandle) {
    let csrf = token(&s.get("/events/new").await.1);
    let mut times = Vec::new();
    for i in 0..30 {
        let title = format!("Travelling {i}");
        let f = event(&title, &csrf, "save");
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let t = Instant::now();
        assert_eq!(s.post("/events/new", &refs).await, 303);
        let uid = a
            .store()
            .owned_by("ana")
            .unwrap()
            .into_iter()
            .find(|u| {
                a.store()
                    .get(&EventKey {
                        origin: a.key(),
                        uid: u.clone(),
                    })
                    .unwrap()
                    .is_some_and(|e| e.content().master.summary.as_deref() == Some(title.as_str()))
            })
            .unwrap();
        let key = EventKey {
            origin: a.key(),
            uid,
        };
        let mut changed = b.shared().changed.subscribe();
        while b.store().get(&key).unwrap().is_none() {
            let _ = tokio::time::timeout(Duration::from_millis(50), changed.changed()).await;
        }
        times.push(t.elapsed());
    }
    println!(
        "form save to stored at the peer, 30 events: p50 {:.1} ms, max {:.1} ms",
        pct(times.clone(), 0.5),
        pct(times, 1.0)
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = Node::spawn(NodeOptions::new(config(), Some(da.path().to_owned())))
            .await
            .unwrap();
        let b = Node::spawn(NodeOptions::new(config(), Some(db.path().to_owned())))
            .await
            .unwrap();
        a.set_peers(vec![entry(&b)]).await.unwrap();
        b.set_peers(vec![entry(&a)]).await.unwrap();
        while a.connections().await.unwrap().gossip.is_empty()
            || b.connections().await.unwrap().gossip.is_empty()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let s = login(&a).await;
        pages(&s).await;
        to_peer(&s, &a, &b).await;
    });
}
