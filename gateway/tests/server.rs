//! The server loop over real loopback sockets (issue 17, item 4): a connection that sends no
//! request is closed after the header timeout, a slow body after the request timeout, and
//! connections over the caps are closed at once while the ones inside keep being served.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use discal_gateway::ServerLimits;
use discal_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(limits: ServerLimits) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let store = Store::memory();
    fill(&store, 5);
    let gw = gateway(store, "http://127.0.0.1");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(discal_gateway::serve_with(
        listener,
        gw,
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

async fn get(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /feed.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut s, Duration::from_secs(10))
        .await
        .unwrap()
}

#[tokio::test]
async fn silent_and_slow_clients_are_cut_off() {
    let (addr, _stop) = start(ServerLimits {
        header_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(500),
        ..ServerLimits::default()
    })
    .await;
    // Nothing sent: closed after the header timeout.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(read_to_close(&mut idle, Duration::from_secs(5))
        .await
        .is_some());
    // Half the headers, then silence (slowloris): closed too.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /feed.ics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut slow, Duration::from_secs(5))
        .await
        .is_some());
    // Headers promising a body that never comes: 408.
    let mut body = TcpStream::connect(addr).await.unwrap();
    body.write_all(
        b"PROPFIND /dav/ HTTP/1.1\r\nHost: x\r\nDepth: 0\r\nContent-Length: 100\r\n\r\n<D:prop",
    )
    .await
    .unwrap();
    let answer = read_to_close(&mut body, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // An ordinary client is served throughout.
    assert!(get(addr).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn connections_over_the_caps_are_closed_at_once() {
    let (addr, _stop) = start(ServerLimits {
        max_connections: 8,
        max_per_address: 3,
        ..ServerLimits::default()
    })
    .await;
    // Three idle connections from 127.0.0.1 fill its share.
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let _ = fourth.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let answer = read_to_close(&mut fourth, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.is_empty(), "closed without an answer: {answer}");
    // Another loopback address has a share of its own.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(addr).await.unwrap();
    other
        .write_all(b"GET /feed.ics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut other, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // A closed connection gives its place back (once the server has seen it close, which no
    // event tells the client: so it tries a few times).
    held.pop();
    let mut served = false;
    for _ in 0..100 {
        if get(addr).await.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served);
}
