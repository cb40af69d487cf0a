//! Three real nodes in one process, peered A–B–C on loopback ports the OS chooses, with an
//! event published at A that reached C through B: for the browser test of an event page's
//! relay path (gateway/tests/interop/relay_browser_test.mjs, run by `.ci/run`).
//!
//! For the proposal browser test, A has an admin (`ana`) and C a user (`cleo`), both with the
//! password `fixture password 1`, C may send proposals to loopback addresses, and A publishes
//! RSVP counts every second.
//!
//! `relay_fixture`: prints one line, tab-separated: the event's page at C, the path it must
//! read, A's base URL and C's; serves until stdin closes.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let net = TestNet::new(3, 8).await;
    net.link(&[(0, 1), (1, 2)]).await;
    net.configure(2, &[1], |c| c.proposals.allow_private_targets = true)
        .await;
    net.configure(0, &[1], |c| c.proposals.rsvp_interval_secs = 1)
        .await;
    for (i, name, role) in [(0, "ana", "admin"), (2, "cleo", "user")] {
        let h = net.node(i);
        let r = discal_node::client::http_client()
            .build()
            .unwrap()
            .post(format!("http://{}/api/users", h.http_addr()))
            .bearer_auth(h.admin_token())
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"name": name, "role": role, "password": "fixture password 1"})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    net.wait_gossip(1, 2).await;
    net.wait_gossip(2, 1).await;
    let key = add(net.node(0), "Travelling talk").await;
    assert!(
        wait_rev(net.node(2), &key, 0).await,
        "the event did not reach C"
    );
    let url = format!(
        "http://{}/events/{}/{}",
        net.node(2).http_addr(),
        key.origin,
        discal_gateway::read::path_segment(&key.uid)
    );
    // C names B as its allowlist does ("n1") and itself by its name; A, not its peer, by its
    // key shortened.
    let a = net.nodes[0].key.to_string();
    println!(
        "{url}\t{}…{} → n1 → DisCal\thttp://{}\thttp://{}",
        &a[..8],
        &a[a.len() - 4..],
        net.node(0).http_addr(),
        net.node(2).http_addr()
    );
    let _ = tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    })
    .await;
    net.shutdown().await;
}
