//! Push (issue 21): a plain HTTP receiver (an axum app here, not DisCal, verifying signatures
//! with its own RFC 9421 code over ed25519-dalek and hmac) registers at the node's WebSub hub,
//! proves its intent, is approved, and gets each matching change signed with the key the node
//! publishes; a target with a shared secret gets hmac-sha256 signatures and X-Hub-Signature;
//! a receiver that was down gets everything afterwards, in order, once, across a restart of
//! the node; pushes into a node are refused when forged, replayed or half-filled, and an
//! event taken from a push travels on to the mesh with X-HOP + 1.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::*;
use discal_node::push::{Auth, Inbound, PushTarget};
use discal_protocol::httpsig::{self, SigningKey};
use discal_protocol::{EventKey, NodeSecret};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// One push the receiver verified.
#[derive(Clone, Debug)]
struct Got {
    path: String,
    uid: String,
    revision: u32,
    hop: u32,
    alg: String,
    hub_signature_ok: Option<bool>,
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Got>>,
    bad: Mutex<Vec<String>>,
    challenges: Mutex<Vec<(String, String)>>,
    down: AtomicBool,
    /// The node's published ed25519 key.
    key: Mutex<Option<[u8; 32]>>,
    secret: Vec<u8>,
    base: Mutex<String>,
    seen: tokio::sync::watch::Sender<usize>,
}

fn header<'a>(h: &'a HeaderMap, n: &str) -> Result<&'a str, String> {
    h.get(n)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("no {n}"))
}

/// RFC 9421 verification written from the RFC, not from DisCal's code.
fn verify(
    h: &HeaderMap,
    body: &[u8],
    uri: &str,
    key: Option<[u8; 32]>,
    secret: &[u8],
) -> Result<String, String> {
    let digest = format!("sha-256=:{}:", B64.encode(Sha256::digest(body)));
    if header(h, "content-digest")? != digest {
        return Err("digest".into());
    }
    let input = header(h, "signature-input")?;
    let value = input.strip_prefix("discal=").ok_or("label")?;
    let close = value.find(')').ok_or("list")?;
    let mut base = String::new();
    for c in value[1..close].split(' ') {
        let c = c.trim_matches('"');
        let v = match c {
            "@method" => "POST".to_string(),
            "@target-uri" => uri.to_string(),
            name => header(h, name)?.to_string(),
        };
        base.push_str(&format!("\"{c}\": {v}\n"));
    }
    base.push_str(&format!("\"@signature-params\": {value}"));
    let param = |p: &str| {
        value
            .split(';')
            .find_map(|kv| kv.strip_prefix(&format!("{p}=")))
            .map(|v| v.trim_matches('"').to_string())
            .ok_or(format!("no {p}"))
    };
    let created: i64 = param("created")?.parse().map_err(|_| "created")?;
    if (created - chrono::Utc::now().timestamp()).abs() > 300 {
        return Err("stale".into());
    }
    let sig = header(h, "signature")?
        .strip_prefix("discal=:")
        .and_then(|s| s.strip_suffix(':'))
        .ok_or("signature")?;
    let sig = B64.decode(sig).map_err(|e| e.to_string())?;
    let alg = param("alg")?;
    match alg.as_str() {
        "ed25519" => {
            let k = ed25519_dalek::VerifyingKey::from_bytes(&key.ok_or("no key")?)
                .map_err(|e| e.to_string())?;
            let s = ed25519_dalek::Signature::from_slice(&sig).map_err(|e| e.to_string())?;
            k.verify_strict(base.as_bytes(), &s)
                .map_err(|e| e.to_string())?;
        }
        "hmac-sha256" => {
            let mut m = Hmac::<Sha256>::new_from_slice(secret).unwrap();
            m.update(base.as_bytes());
            m.verify_slice(&sig).map_err(|_| "hmac")?;
        }
        other => return Err(format!("alg {other}")),
    }
    Ok(alg)
}

fn prop(body: &str, name: &str) -> String {
    let unfolded = body.replace("\r\n ", "");
    unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_default()
        .to_string()
}

async fn on_push(
    State(r): State<Arc<Receiver>>,
    uri: Uri,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if r.down.load(Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            "down",
        )
            .into_response();
    }
    let full = format!("{}{}", r.base.lock().unwrap(), uri.path());
    let key = *r.key.lock().unwrap();
    match verify(&h, &body, &full, key, &r.secret) {
        Ok(alg) => {
            let text = String::from_utf8_lossy(&body);
            let hub_signature_ok = h.get("x-hub-signature").map(|v| {
                let mut m = Hmac::<Sha256>::new_from_slice(&r.secret).unwrap();
                m.update(&body);
                let hex: String = m
                    .finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                v.to_str().unwrap() == format!("sha256={hex}")
            });
            r.got.lock().unwrap().push(Got {
                path: uri.path().into(),
                uid: prop(&text, "UID"),
                revision: prop(&text, "X-REVISION").parse().unwrap_or(0),
                hop: prop(&text, "X-HOP").parse().unwrap_or(99),
                alg,
                hub_signature_ok,
            });
            r.seen.send_modify(|n| *n += 1);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            r.bad.lock().unwrap().push(e);
            r.seen.send_modify(|n| *n += 1);
            StatusCode::UNAUTHORIZED.into_response()
        }
    }
}

async fn on_verify(
    State(r): State<Arc<Receiver>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| {
        q.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    r.challenges
        .lock()
        .unwrap()
        .push((get("hub.mode"), get("hub.topic")));
    r.seen.send_modify(|n| *n += 1);
    get("hub.challenge").into_response()
}

async fn receiver(secret: &[u8]) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver {
        secret: secret.to_vec(),
        ..Receiver::default()
    });
    let app = axum::Router::new()
        .route("/cb", axum::routing::get(on_verify).post(on_push))
        .route("/hmac", axum::routing::post(on_push))
        .with_state(r.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    *r.base.lock().unwrap() = base.clone();
    tokio::spawn(async move { axum::serve(l, app).await });
    (r, base)
}

impl Receiver {
    async fn wait(&self, what: &str, ok: impl Fn(&Self) -> bool) {
        let mut rx = self.seen.subscribe();
        let done = tokio::time::timeout(WAIT, async {
            loop {
                if ok(self) {
                    return;
                }
                let _ = rx.changed().await;
            }
        })
        .await;
        assert!(
            done.is_ok(),
            "{what}: got {:?}, bad {:?}",
            self.got.lock().unwrap(),
            self.bad.lock().unwrap()
        );
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

async fn json(r: reqwest::RequestBuilder) -> serde_json::Value {
    serde_json::from_str(&r.send().await.unwrap().text().await.unwrap()).unwrap()
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn http() -> reqwest::Client {
    discal_node::client::http_client().build().unwrap()
}

async fn tagged(h: &discal_node::NodeHandle, title: &str, tag: &str) -> EventKey {
    let mut d = draft(title);
    d.tags = Some(vec![tag.into()]);
    let w = h.write(discal_gateway::WriteOp::Create(d)).await.unwrap();
    EventKey {
        origin: h.key(),
        uid: w[0].uid.clone(),
    }
}

#[tokio::test]
async fn a_websub_subscriber_proves_intent_is_approved_and_verifies_signed_pushes() {
    let (r, base) = receiver(b"s3cret").await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(8);
    cfg.push.allow_private_callbacks = true;
    cfg.push.targets.push(PushTarget {
        name: "cms".into(),
        url: format!("{base}/hmac"),
        filter: "tags=linux".into(),
        auth: Auth::Hmac,
        secret: Some("s3cret".into()),
        keyid: Some("cms".into()),
        allow_private: true,
    });
    let a = start(&dir, cfg).await;
    let url = format!("http://{}", a.http_addr());
    let c = http();
    let wk = json(c.get(format!("{url}/.well-known/discal-push"))).await;
    let pk: [u8; 32] = B64
        .decode(wk["public_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(wk["keyid"], a.key().to_string());
    *r.key.lock().unwrap() = Some(pk);

    let other = tagged(&a, "Gardening club", "garden").await;
    let linux = tagged(&a, "Linux install party", "linux").await;

    // A topic that is not a feed of this node, and one with a typo, are refused at once.
    for (topic, want) in [
        (
            "https://elsewhere.example/feed.ics".to_string(),
            "not a feed of this node",
        ),
        (format!("{url}/feed.ics?tagz=linux"), "tagz"),
    ] {
        let resp = c
            .post(format!("{url}/websub"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", &format!("{base}/cb")),
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert!(resp.text().await.unwrap().contains(want));
    }

    let topic = format!("{url}/feed.ics?tags=linux");
    let resp = c
        .post(format!("{url}/websub"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("hub.mode", "subscribe"),
            ("hub.topic", topic.as_str()),
            ("hub.callback", &format!("{base}/cb")),
            ("hub.lease_seconds", "3600"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    r.wait("the intent check", |r| {
        !r.challenges.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        r.challenges.lock().unwrap()[0],
        ("subscribe".to_string(), topic.clone())
    );
    // Verified, and waiting for a person: nothing is pushed to it yet.
    assert!(
        a.wait_until(WAIT, |s| s.subscriptions().unwrap().len() == 1)
            .await
    );
    let sub = a.store().subscriptions().unwrap().remove(0);
    assert_eq!(sub.state, discal_store::SubState::Waiting);
    assert_eq!(sub.lease_secs, 3600);

    // The hmac target needs no approval: it is the operator's own entry.
    r.wait("the hmac target's push", |r| {
        r.got().iter().any(|g| g.path == "/hmac")
    })
    .await;
    let approve = c
        .post(format!("{url}/api/push/{}/approve", sub.id))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), 200, "{}", approve.text().await.unwrap());
    r.wait("the approved subscriber's push", |r| {
        r.got().iter().any(|g| g.path == "/cb")
    })
    .await;

    // A change is pushed as its new revision.
    let patch = discal_gateway::Draft {
        title: Some("Linux install party (bring a USB stick)".into()),
        ..discal_gateway::Draft::default()
    };
    a.write(discal_gateway::WriteOp::Update {
        uid: linux.uid.clone(),
        patch,
    })
    .await
    .unwrap();
    r.wait("the change at both", |r| {
        r.got().iter().filter(|g| g.revision == 1).count() == 2
    })
    .await;
    let got = r.got();
    assert!(
        r.bad.lock().unwrap().is_empty(),
        "{:?}",
        r.bad.lock().unwrap()
    );
    assert!(
        got.iter().all(|g| g.uid == linux.uid),
        "the filter: {got:?}"
    );
    assert!(!got.iter().any(|g| g.uid == other.uid));
    for path in ["/cb", "/hmac"] {
        let revs: Vec<u32> = got
            .iter()
            .filter(|g| g.path == path)
            .map(|g| g.revision)
            .collect();
        assert_eq!(revs, vec![0, 1], "{path}: in order, once");
    }
    for g in &got {
        assert_eq!(g.hop, 1, "the origin's event, one push away");
        if g.path == "/cb" {
            assert_eq!(g.alg, "ed25519");
            assert_eq!(g.hub_signature_ok, None, "no hub.secret given");
        } else {
            assert_eq!(g.alg, "hmac-sha256");
            assert_eq!(g.hub_signature_ok, Some(true));
        }
    }
    let list = json(
        c.get(format!("{url}/api/push"))
            .bearer_auth(a.admin_token()),
    )
    .await;
    assert_eq!(list["subscriptions"][0]["state"], "active");
    assert_eq!(list["subscriptions"][0]["delivery"]["delivered"], 2);
    assert_eq!(list["targets"][0]["delivery"]["delivered"], 2);
    a.shutdown().await;
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_everything_in_order_once_across_a_restart() {
    let (r, base) = receiver(b"k").await;
    *r.key.lock().unwrap() = None;
    r.down.store(true, Relaxed);
    let mut net = TestNet::new(1, 8).await;
    net.configure(0, &[], |c| {
        c.push.targets.push(PushTarget {
            name: "site".into(),
            url: format!("{base}/hmac"),
            filter: String::new(),
            auth: Auth::Hmac,
            secret: Some("k".into()),
            keyid: None,
            allow_private: true,
        });
    })
    .await;
    let a = net.node(0);
    let mut keys = Vec::new();
    for i in 0..5 {
        keys.push(add(a, &format!("Meetup {i}")).await);
    }
    a.write(discal_gateway::WriteOp::Cancel {
        uid: keys[1].uid.clone(),
    })
    .await
    .unwrap();
    // The receiver answers 503 with Retry-After: 1; the outbox keeps failing and waiting.
    assert!(
        a.wait_until(WAIT, |s| s
            .push_state("site")
            .unwrap()
            .is_some_and(|st| st.attempts >= 1 && st.cursor == 0))
            .await
    );
    net.stop(0).await;
    net.restart(0).await;
    let a = net.node(0);
    assert_eq!(a.store().push_state("site").unwrap().unwrap().cursor, 0);
    r.down.store(false, Relaxed);
    r.wait("all five", |r| r.got().len() >= 5).await;
    let got = r.got();
    let uids: Vec<&str> = got.iter().map(|g| g.uid.as_str()).collect();
    // In the order the node stored the changes: events 0, 2, 3, 4, then 1 (its cancellation,
    // the latest revision, replaces the first).
    let want: Vec<&str> = [0, 2, 3, 4, 1]
        .iter()
        .map(|i| keys[*i].uid.as_str())
        .collect();
    assert_eq!(uids, want, "in order, once");
    assert_eq!(got[4].revision, 1, "the cancellation");
    assert!(
        a.wait_until(WAIT, |s| s.push_state("site").unwrap().is_some_and(|st| {
            st.delivered == 5 && st.attempts == 0 && st.last_error.is_empty()
        }))
        .await
    );
    // Nothing more comes: a new event is the sixth push, not a repeat of old ones.
    add(a, "Meetup 5").await;
    r.wait("the sixth", |r| r.got().len() >= 6).await;
    assert_eq!(r.got().len(), 6);
    net.shutdown().await;
}

/// A sister site's push into `url/push/in/a`, signed as `key` says.
async fn push(url: &str, key: &SigningKey<'_>, body: &str) -> (u16, String) {
    let target = format!("{url}/push/in/a");
    let ct = "text/calendar; charset=utf-8";
    let nonce = format!("{:032x}", rand::random::<u128>());
    let h = httpsig::sign(
        key,
        "POST",
        &target,
        ct,
        body.as_bytes(),
        chrono::Utc::now().timestamp(),
        &nonce,
    );
    send(&target, ct, &h, body).await
}

async fn send(target: &str, ct: &str, h: &httpsig::Headers, body: &str) -> (u16, String) {
    let resp = http()
        .post(target)
        .header("content-type", ct)
        .header("content-digest", &h.content_digest)
        .header("signature-input", &h.signature_input)
        .header("signature", &h.signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn vevent(uid: &str, attrs: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//site a//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
         DTSTAMP:20261201T100000Z\r\nDTSTART:20270115T180000Z\r\nDTEND:20270115T200000Z\r\n\
         SUMMARY:Repair café\r\nLOCATION:Town hall\r\n{attrs}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

#[tokio::test]
async fn pushes_into_a_node_are_authenticated_checked_and_travel_on_with_x_hop_plus_one() {
    let site = NodeSecret::from_seed_array([21; 32]);
    let net = TestNet::new(2, 8).await;
    let inbound = |c: &mut discal_node::Config| {
        c.push.inbound.push(Inbound {
            name: "a".into(),
            url: "https://site-a.example/".into(),
            key: Some(site.public().to_string()),
            secret: Some("tok3n".into()),
            topic: None,
            tags: vec!["pushed".into()],
        });
        c.filters.drop_tags = vec!["spam".into()];
    };
    net.configure(0, &[1], inbound).await;
    net.set_peers(1, &[0]).await;
    net.wait_gossip(0, 1).await;
    let b = net.node(0);
    let url = format!("http://{}", b.http_addr());
    let attrs = "X-HOP:2\r\nX-REVISION:3\r\nX-REVISE-URL:https://site-a.example/revise\r\n";
    let body = vevent("repair-1@site-a.example", attrs);

    // Valid, by key: taken.
    let target = format!("{url}/push/in/a");
    let ct = "text/calendar; charset=utf-8";
    let now = chrono::Utc::now().timestamp();
    let signed = httpsig::sign(
        &SigningKey::Node(&site),
        "POST",
        &target,
        ct,
        body.as_bytes(),
        now,
        "n-1",
    );
    let (status, said) = send(&target, ct, &signed, &body).await;
    assert_eq!(status, 200, "{said}");
    let key = EventKey {
        origin: b.key(),
        uid: "repair-1@site-a.example".into(),
    };
    let held = held(b, &key).expect("taken");
    assert_eq!(held.payload.revision, 3, "a valid X-REVISION is kept");
    assert_eq!(
        discal_protocol::source::source_of(held.content()),
        Some("https://site-a.example/")
    );
    assert!(held
        .content()
        .master
        .categories
        .contains(&"pushed".to_string()));

    // The same request again: a replay.
    let (status, said) = send(&target, ct, &signed, &body).await;
    assert_eq!(status, 401, "{said}");
    assert!(said.contains("replayed"), "{said}");
    // A changed body under the old signature, another key, a wrong secret, no signature.
    let forged = body.replace("Repair café", "Free beer");
    assert_eq!(send(&target, ct, &signed, &forged).await.0, 401);
    let mallory = NodeSecret::from_seed_array([66; 32]);
    let (status, said) = push(&url, &SigningKey::Node(&mallory), &body).await;
    assert_eq!(status, 401, "{said}");
    let wrong = SigningKey::Hmac {
        keyid: "a",
        secret: b"guess",
    };
    assert_eq!(push(&url, &wrong, &body).await.0, 401);
    let bare = http()
        .post(&target)
        .header("content-type", ct)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(held_revision(b, &key), 3, "nothing forged was taken");

    // The seed's validity rule: a valid X-HOP with an invalid X-REVISION is refused, with why.
    let token = SigningKey::Hmac {
        keyid: "a",
        secret: b"tok3n",
    };
    let half = vevent(
        "repair-2@site-a.example",
        "X-HOP:2\r\nX-REVISION:next\r\nX-REVISE-URL:https://site-a.example/revise\r\n",
    );
    let (status, said) = push(&url, &token, &half).await;
    assert_eq!(status, 400);
    assert!(
        said.contains("X-REVISION \"next\" is not a revision number"),
        "{said}"
    );
    let (status, said) = push(
        &url,
        &token,
        &vevent("repair-3@site-a.example", "X-HOP:1\r\n"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        said.contains("X-REVISION and X-REVISE-URL missing"),
        "{said}"
    );
    // None at all: a first-hand event of a site without DisCal, taken by its token.
    let plain = vevent("repair-4@site-a.example", "").replace("Repair café", "Clothes swap");
    let (status, said) = push(&url, &token, &plain).await;
    assert_eq!(status, 200, "{said}");
    // The admin filters apply to pushed events: named in the answer, not taken, not an error.
    let spam =
        vevent("spam-1@site-a.example", "CATEGORIES:spam\r\n").replace("Repair café", "Buy now");
    let (status, said) = push(&url, &token, &spam).await;
    assert_eq!(status, 200, "{said}");
    assert!(said.contains("filters.drop_tags"), "{said}");
    let spam_key = EventKey {
        origin: b.key(),
        uid: "spam-1@site-a.example".into(),
    };
    assert!(common::held(b, &spam_key).is_none());
    assert_eq!(b.metrics().pushes("replayed"), 1);
    assert!(b.metrics().pushes("unauthorized") >= 4);

    // On the mesh: B keeps X-HOP 2 (the site counted the push), its peer one more.
    let c = net.node(1);
    assert!(wait_rev(c, &key, 3).await);
    let feed = |h: &discal_node::NodeHandle| {
        let u = format!("http://{}/feed.ics?from=2027-01-01&days=365", h.http_addr());
        async move { http().get(u).send().await.unwrap().text().await.unwrap() }
    };
    let at_b = feed(b).await;
    let at_c = feed(c).await;
    let hop_of = |text: &str| {
        let unfolded = text.replace("\r\n ", "");
        let ev = unfolded
            .split("BEGIN:VEVENT")
            .find(|v| v.contains("UID:repair-1@site-a.example"))
            .unwrap()
            .to_string();
        prop(&ev, "X-HOP")
    };
    assert_eq!(hop_of(&at_b), "2");
    assert_eq!(hop_of(&at_c), "3");
    net.shutdown().await;
}

fn held_revision(h: &discal_node::NodeHandle, key: &EventKey) -> u32 {
    held(h, key).map_or(0, |e| e.payload.revision)
}

#[tokio::test]
async fn one_node_pushes_to_another_with_its_key() {
    let net = TestNet::new(2, 8).await;
    let b_url = format!("http://{}", net.node(1).http_addr());
    let a_key = net.node(0).key().to_string();
    net.configure(1, &[], |c| {
        c.push.inbound.push(Inbound {
            name: "a".into(),
            url: "http://a.example/".into(),
            key: Some(a_key),
            secret: None,
            topic: None,
            tags: Vec::new(),
        });
    })
    .await;
    net.configure(0, &[], |c| {
        c.push.targets.push(PushTarget {
            name: "b".into(),
            url: format!("{b_url}/push/in/a"),
            filter: String::new(),
            auth: Auth::Signature,
            secret: None,
            keyid: None,
            allow_private: true,
        });
    })
    .await;
    let ev = add(net.node(0), "Linux user group").await;
    let at_b = EventKey {
        origin: net.node(1).key(),
        uid: ev.uid.clone(),
    };
    assert!(
        wait_rev(net.node(1), &at_b, 0).await,
        "{:?}",
        net.node(0).store().push_state("b").unwrap()
    );
    let got = held(net.node(1), &at_b).unwrap();
    assert_eq!(
        got.content().master.summary.as_deref(),
        Some("Linux user group")
    );
    assert_eq!(discal_protocol::source::source_hops(got.content()), 1);
    assert!(
        net.node(0)
            .wait_until(WAIT, |s| s
                .push_state("b")
                .unwrap()
                .is_some_and(|st| st.delivered == 1))
            .await
    );
    net.shutdown().await;
}

#[tokio::test]
async fn a_destination_failing_past_dead_after_stops_until_an_admin_resumes_it() {
    use std::sync::atomic::AtomicI64;
    let (r, base) = receiver(b"k").await;
    r.down.store(true, Relaxed);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(8);
    cfg.push.dead_after = "1d".into();
    cfg.push.targets.push(PushTarget {
        name: "site".into(),
        url: format!("{base}/hmac"),
        filter: String::new(),
        auth: Auth::Hmac,
        secret: Some("k".into()),
        keyid: None,
        allow_private: true,
    });
    let path = config_path(&dir);
    discal_node::config::write_atomic(&path, toml::to_string(&cfg).unwrap().as_bytes()).unwrap();
    let mut opts = discal_node::NodeOptions::new(cfg, Some(dir.path().join("data")));
    opts.config_path = Some(path);
    let offset = Arc::new(AtomicI64::new(0));
    let o = offset.clone();
    opts.clock = Arc::new(move || chrono::Utc::now().timestamp_millis() + o.load(Relaxed));
    let a = discal_node::Node::spawn(opts).await.unwrap();
    add(&a, "Meetup").await;
    let state = |a: &discal_node::NodeHandle| a.store().push_state("site").unwrap().unwrap();
    assert!(
        a.wait_until(WAIT, |s| s
            .push_state("site")
            .unwrap()
            .is_some_and(|st| st.attempts >= 1))
            .await
    );
    // Two days later it still fails: the destination stops, visible to the admin.
    offset.store(2 * 86_400_000, Relaxed);
    assert!(
        a.wait_until(WAIT, |s| s
            .push_state("site")
            .unwrap()
            .is_some_and(|st| st.dead))
            .await
    );
    let url = format!("http://{}", a.http_addr());
    let list = json(
        http()
            .get(format!("{url}/api/push"))
            .bearer_auth(a.admin_token()),
    )
    .await;
    assert_eq!(list["targets"][0]["delivery"]["dead"], true);
    assert!(list["targets"][0]["delivery"]["last_error"]
        .as_str()
        .unwrap()
        .contains("503"));
    r.down.store(false, Relaxed);
    // Back to the receiver's time, or it takes the signatures for stale ones.
    offset.store(0, Relaxed);
    assert_eq!(state(&a).cursor, 0, "nothing was lost by stopping");
    let resumed = http()
        .post(format!("{url}/api/push/site/resume"))
        .bearer_auth(a.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);
    r.wait("the push after resuming", |r| r.got().len() == 1)
        .await;
    assert!(
        a.wait_until(WAIT, |s| s
            .push_state("site")
            .unwrap()
            .is_some_and(|st| !st.dead && st.delivered == 1))
            .await
    );
    a.shutdown().await;
}

#[tokio::test]
async fn leases_are_renewed_end_and_unsubscribing_is_verified_too() {
    use std::sync::atomic::AtomicI64;
    let (r, base) = receiver(b"k").await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(8);
    cfg.push.allow_private_callbacks = true;
    cfg.push.registrations = discal_node::push::Registrations::Auto;
    let path = config_path(&dir);
    discal_node::config::write_atomic(&path, toml::to_string(&cfg).unwrap().as_bytes()).unwrap();
    let mut opts = discal_node::NodeOptions::new(cfg, Some(dir.path().join("data")));
    opts.config_path = Some(path);
    let offset = Arc::new(AtomicI64::new(0));
    let o = offset.clone();
    opts.clock = Arc::new(move || chrono::Utc::now().timestamp_millis() + o.load(Relaxed));
    let a = discal_node::Node::spawn(opts).await.unwrap();
    *r.key.lock().unwrap() = Some(*a.key().as_bytes());
    let url = format!("http://{}", a.http_addr());
    let topic = format!("{url}/feed.ics");
    let ask = |mode: &'static str, lease: &'static str| {
        let (url, topic, cb) = (url.clone(), topic.clone(), format!("{base}/cb"));
        async move {
            http()
                .post(format!("{url}/websub"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("hub.mode", mode),
                    ("hub.topic", &topic),
                    ("hub.callback", &cb),
                    ("hub.lease_seconds", lease),
                ]))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(ask("subscribe", "120").await, 202);
    let active = |s: &discal_store::Store, lease: u64| {
        s.subscriptions()
            .unwrap()
            .first()
            .is_some_and(|x| x.state == discal_store::SubState::Active && x.lease_secs == lease)
    };
    assert!(
        a.wait_until(WAIT, |s| active(s, 120)).await,
        "auto: active at once"
    );
    // Renewed with another lease before it ends: the same subscription, the new lease.
    assert_eq!(ask("subscribe", "600").await, 202);
    assert!(a.wait_until(WAIT, |s| active(s, 600)).await);
    assert_eq!(a.store().subscriptions().unwrap().len(), 1);
    // Unsubscribing is checked at the callback like subscribing, then ends it.
    assert_eq!(ask("unsubscribe", "").await, 202);
    assert!(
        a.wait_until(WAIT, |s| s.subscriptions().unwrap().is_empty())
            .await
    );
    assert_eq!(
        r.challenges
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == "unsubscribe")
            .count(),
        1
    );
    // A lease that ends without renewal ends the subscription: nothing is pushed after.
    assert_eq!(ask("subscribe", "60").await, 202);
    assert!(a.wait_until(WAIT, |s| active(s, 60)).await);
    offset.store(120_000, Relaxed);
    a.shared().push.wake.notify_one();
    assert!(
        a.wait_until(WAIT, |s| s.subscriptions().unwrap().is_empty())
            .await
    );
    // Its outbox state went with it: no destination is left to push to.
    let id = r.challenges.lock().unwrap().len();
    assert!(id >= 4);
    assert!(discal_node::push::pushes_json(a.shared())["subscriptions"]
        .as_array()
        .unwrap()
        .is_empty());
    a.shutdown().await;
}
