//! The node's federation behaviour, several nodes in one process over loopback TCP.

mod common;

use common::*;
use discal_gateway::{Draft, WriteOp};
use discal_protocol::model::Status;

/// Must-show 1: A–B–C, each allowing only its neighbours. An event added at A reaches C with
/// X-HOP 2 (path [B]); an update replaces it everywhere; a cancellation arrives everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_of_three_add_update_cancel() {
    let net = TestNet::new(3, 8).await;
    net.link(&[(0, 1), (1, 2)]).await;
    net.wait_gossip(0, 1).await;
    net.wait_gossip(1, 2).await;
    net.wait_gossip(2, 1).await;

    let a = net.node(0);
    let key = add(a, "Linux install party").await;
    for (i, hop) in [(1, 1u8), (2, 2)] {
        assert!(
            wait_rev(net.node(i), &key, 0).await,
            "node {i} got the event"
        );
        let e = held(net.node(i), &key).unwrap();
        assert_eq!(e.transit.hop, hop, "X-HOP at node {i}");
    }
    let at_c = held(net.node(2), &key).unwrap();
    assert_eq!(at_c.transit.path, vec![net.nodes[1].key], "path at C");
    assert_eq!(held(a, &key).unwrap().transit.hop, 0);

    // The feed shows X-HOP as this node counts it.
    let feed = reqwest_get(net.node(2).http_addr(), "/feed.ics").await;
    assert!(feed.contains("SUMMARY:Linux install party"), "{feed}");
    assert!(feed.contains("X-HOP:2"), "{feed}");

    a.write(WriteOp::Update {
        uid: key.uid.clone(),
        patch: Draft {
            title: Some("Linux install party (moved)".into()),
            ..Draft::default()
        },
    })
    .await
    .unwrap();
    for i in 0..3 {
        assert!(wait_rev(net.node(i), &key, 1).await, "update at node {i}");
        let e = held(net.node(i), &key).unwrap();
        assert_eq!(e.payload.revision, 1);
        assert_eq!(
            e.content().master.summary.as_deref(),
            Some("Linux install party (moved)")
        );
        assert_eq!(e.content().master.sequence, 1);
    }

    a.write(WriteOp::Cancel {
        uid: key.uid.clone(),
    })
    .await
    .unwrap();
    for i in 0..3 {
        assert!(wait_rev(net.node(i), &key, 2).await, "cancel at node {i}");
        let e = held(net.node(i), &key).unwrap();
        assert_eq!(e.content().master.status, Some(Status::Cancelled));
    }
    let feed = reqwest_get(net.node(2).http_addr(), "/feed.ics").await;
    assert!(feed.contains("STATUS:CANCELLED"), "{feed}");
    net.shutdown().await;
}

/// A plain HTTP/1.1 GET over a socket: the gateway must work for any client.
async fn reqwest_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
