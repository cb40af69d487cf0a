//! The HTTP client the CLI, the tests and the benches talk to a node's gateway with: one
//! client library (reqwest) instead of a hand-written one per caller. It reads whole bodies
//! as bytes and decodes them once, so a chunk boundary inside a multi-byte character cannot
//! corrupt a body.

use std::net::SocketAddr;
use std::time::Duration;

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the address: the node is not running there.
    #[error("no node is listening at {0}")]
    NotRunning(SocketAddr),
    /// The connection or the exchange failed.
    #[error("talking to the node at {addr}: {source}")]
    Http {
        /// Where.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The body is not UTF-8.
    #[error("the node at {0} answered with a body that is not UTF-8")]
    NotText(SocketAddr),
}

/// An answer: status and body text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The body.
    pub body: String,
}

/// A client of one node's gateway.
#[derive(Clone, Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    addr: SocketAddr,
    token: Option<String>,
}

/// A reqwest client builder with TLS ready: reqwest is built with rustls but without a
/// crypto provider of its own (aws-lc needs a C and cmake build), so ring's is installed as
/// the process default first. Every HTTP client in the node, its tests and benches starts
/// here; a bare `reqwest::Client::new()` would panic when it finds no provider.
///
/// TCP keepalive is off: every request here is bounded by its own timeout, so probes would
/// find nothing the timeout does not, and their interval and count options (TCP_KEEPINTVL,
/// TCP_KEEPCNT) are refused with ENOPROTOOPT by network simulators such as Shadow, where
/// every request would then fail.
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tcp_keepalive(None)
        .tcp_keepalive_interval(None)
        .tcp_keepalive_retries(None)
}

impl NodeClient {
    /// A client of the gateway at `addr` (an unspecified IP means this machine), sending
    /// `token` as the bearer token when one is given.
    pub fn new(mut addr: SocketAddr, token: Option<String>) -> Self {
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let http = http_client()
            .connect_timeout(Duration::from_secs(2))
            // An import of a large file is one request; the node answers once it is stored.
            .timeout(Duration::from_secs(600))
            // Loopback: a proxy from the environment would only get in the way.
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self { http, addr, token }
    }

    /// The gateway's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Answer, ClientError> {
        self.send("GET", path, None).await
    }

    /// A request with an optional `(content type, body)`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<Answer, ClientError> {
        let addr = self.addr;
        let err = |source: reqwest::Error| {
            if source.is_connect() {
                ClientError::NotRunning(addr)
            } else {
                ClientError::Http { addr, source }
            }
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, format!("http://{addr}{path}"));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some((ctype, body)) = body {
            req = req.header(reqwest::header::CONTENT_TYPE, ctype).body(body);
        }
        let resp = req.send().await.map_err(err)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(err)?;
        let body = String::from_utf8(bytes.to_vec()).map_err(|_| ClientError::NotText(addr))?;
        Ok(Answer { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    /// A body sent in chunks whose boundary splits a multi-byte character arrives whole: the
    /// hand-written client this replaces sliced decoded text at chunk boundaries.
    #[tokio::test]
    async fn a_chunk_boundary_inside_a_character_keeps_the_body_whole() {
        let text = "Café Ünïcødé ✓ — 日本語".repeat(50);
        let bytes = text.clone().into_bytes();
        let app = axum::Router::new().route(
            "/x",
            axum::routing::get(move || {
                let bytes = bytes.clone();
                async move {
                    // Chunks of 7 bytes cut most multi-byte characters in two.
                    let chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> =
                        bytes.chunks(7).map(|c| Ok(c.to_vec())).collect();
                    axum::body::Body::from_stream(futures::stream::iter(chunks)).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let answer = NodeClient::new(addr, None).get("/x").await.unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, text);
        server.abort();
    }

    #[tokio::test]
    async fn nothing_listening_is_not_running() {
        // Bind, learn a free port, close it: nothing listens there now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        match NodeClient::new(addr, None).get("/").await {
            Err(ClientError::NotRunning(a)) => assert_eq!(a, addr),
            other => panic!("{other:?}"),
        }
    }
}
