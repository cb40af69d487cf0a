//! Three real nodes in one process, peered A–B–C on loopback ports the OS chooses, with an
//! event published at A that reached C through B: for the browser test of an event page's
//! relay path (gateway/tests/interop/relay_browser_test.mjs, run by `.ci/run`).
//!
//! `relay_fixture`: prints one line, the event's page at C and the path it must read, separated
//! by a tab; serves until stdin closes.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let net = TestNet::new(3, 8).await;
    net.link(&[(0, 1), (1, 2)]).await;
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
    println!("{url}\t{}…{} → n1 → DisCal", &a[..8], &a[a.len() - 4..]);
    let _ = tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    })
    .await;
    net.shutdown().await;
}
