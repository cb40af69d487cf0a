//! The HTTP server loop: what a connection may cost before it has sent a request. axum's own
//! `serve` has no header timeout and no connection cap, so 1,000 idle or slow connections
//! could hold a node's sockets and tasks; here every connection takes a slot (globally and per
//! client address) that it gives back when it closes, must send its request headers within a
//! timeout (the same timeout closes a keep-alive connection left idle), and every request must
//! be answered within another (which bounds a body sent slowly). Shutdown lets requests in
//! flight finish, up to a grace period.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use crate::{router, Gateway};

/// What the server admits.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    /// Open connections at most; a connection over it is closed at once.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_per_address: usize,
    /// Time a connection has to send a request's headers, and the longest a keep-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// Time from a request's headers to its response (the body read included).
    pub request_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_per_address: 256,
            header_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(10),
        }
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in [`PerAddress`], given back on drop.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn take(table: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = table.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            if let Some(n) = open.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    open.remove(&self.ip);
                }
            }
        }
    }
}

/// Answers 408 when a request is not answered within `limit` (a body sent too slowly, above
/// all: extractors read it inside the handler).
async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => crate::text(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request was not complete within {} s", limit.as_secs()),
        ),
    }
}

/// The address a request came from, as a request extension.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Serves `gw` on `listener` under `limits` until `shutdown` completes.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    gw: Gateway,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, router(gw), limits, shutdown).await
}

/// [`serve_with`] for the gateway's router with layers of the caller's around it (the bench
/// servers add a timing header).
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let timeout = limits.request_timeout;
    let app = app.layer(axum::middleware::from_fn(move |req, next| {
        request_timeout(timeout, req, next)
    }));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, usually: wait for connections to close.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection refused: server at its connection limit");
            continue;
        };
        let Some(address_slot) = PerAddress::take(&per_address, peer.ip(), limits.max_per_address)
        else {
            tracing::debug!(%peer, "connection refused: its address is at its limit");
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Handlers that count per client (the login limiter) read its address from here.
        let ip = ClientAddr(peer.ip());
        let app = tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ip);
                req
            },
        );
        let service = hyper_util::service::TowerToHyperService::new(app);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
            drop((slot, address_slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::info!("HTTP connections still open after the grace period; closing");
    }
    Ok(())
}
