//! An in-memory libp2p transport with a per-link model of latency, jitter, loss and bandwidth.
//!
//! libp2p's own `MemoryTransport` cannot serve here: its hub is one global per process (two
//! simulations in one test binary would share ports) and a listener cannot tell which node
//! dialed it, so a link model keyed by the pair is impossible. This transport keeps the same
//! `/memory/N` addresses (N = node index + 1) on a [`SimNet`] owned by one simulation.
//!
//! Each connection is two byte pipes. A write is delivered to the other end after the link's
//! latency (± jitter); a pipe stays in order like a TCP stream, so a chunk never overtakes the
//! one before it. Loss is modelled the way a reliable stream experiences it: a lost chunk
//! arrives one retransmission timeout later, holding up what follows (head-of-line blocking).
//! A partition cuts the connections that cross it (reads and writes fail, as with a reset) and
//! refuses new dials across it until it heals.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{self, BoxFuture, FutureExt};
use futures::{AsyncRead, AsyncWrite};
use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::{DialOpts, ListenerId, TransportError, TransportEvent};
use libp2p::core::Transport;
use libp2p::Multiaddr;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

/// How every link behaves.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkModel {
    /// One-way delay in milliseconds.
    pub latency_ms: f64,
    /// Relative jitter: each chunk's delay is latency × (1 ± jitter), uniformly.
    pub jitter: f64,
    /// Probability that a chunk is lost and retransmitted.
    pub loss: f64,
    /// Retransmission timeout in milliseconds (Linux's minimum RTO is 200 ms).
    pub rto_ms: f64,
    /// Bytes per second each direction of a link carries; 0 is unlimited.
    pub bandwidth: u64,
}

impl Default for LinkModel {
    fn default() -> Self {
        Self {
            latency_ms: 25.0,
            jitter: 0.1,
            loss: 0.0,
            rto_ms: 200.0,
            bandwidth: 0,
        }
    }
}

/// The memory address of node `i`.
pub fn addr_of(i: usize) -> Multiaddr {
    Protocol::Memory(i as u64 + 1).into()
}

/// The node a `/memory/N` address names; the swarm appends `/p2p/<id>` when it dials.
fn node_of(addr: &Multiaddr) -> Option<usize> {
    let mut it = addr.iter();
    match (it.next(), it.next(), it.next()) {
        (Some(Protocol::Memory(p)), None | Some(Protocol::P2p(_)), None) if p > 0 => {
            Some(p as usize - 1)
        }
        _ => None,
    }
}

enum Chunk {
    Data(Instant, Vec<u8>),
    Cut,
}

/// A live connection, as the net sees it (to cut it).
struct Live {
    a: usize,
    b: usize,
    cut: Arc<AtomicBool>,
    to_a: mpsc::WeakUnboundedSender<Chunk>,
    to_b: mpsc::WeakUnboundedSender<Chunk>,
}

struct Incoming {
    from: usize,
    conn: Conn,
}

/// One simulation's network: listeners, live connections, partitions and byte counters.
pub struct SimNet {
    model: LinkModel,
    seed: u64,
    listeners: Mutex<HashMap<usize, mpsc::UnboundedSender<Incoming>>>,
    live: Mutex<Vec<Live>>,
    /// Partition group per node; nodes in different groups cannot reach each other.
    groups: Mutex<Option<Vec<u8>>>,
    sent: Vec<Arc<AtomicU64>>,
    conns: AtomicU64,
}

impl SimNet {
    /// A network for `nodes` nodes.
    pub fn new(nodes: usize, model: LinkModel, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            model,
            seed,
            listeners: Mutex::new(HashMap::new()),
            live: Mutex::new(Vec::new()),
            groups: Mutex::new(None),
            sent: (0..nodes).map(|_| Arc::new(AtomicU64::new(0))).collect(),
            conns: AtomicU64::new(0),
        })
    }

    /// Bytes node `i` has written to its links so far (everything: noise, yamux, gossipsub
    /// control, gossip and sync).
    pub fn bytes_sent(&self, i: usize) -> u64 {
        self.sent[i].load(Relaxed)
    }

    /// The transport node `i` uses.
    pub fn transport(self: &Arc<Self>, i: usize) -> SimTransport {
        SimTransport {
            net: self.clone(),
            me: i,
            listeners: VecDeque::new(),
        }
    }

    fn reachable(&self, a: usize, b: usize) -> bool {
        match &*self.groups.lock().expect("groups") {
            Some(g) => g[a] == g[b],
            None => true,
        }
    }

    /// Splits the network: `group[i]` is node i's side. Connections across sides are cut now.
    pub fn partition(&self, group: Vec<u8>) {
        let mut live = self.live.lock().expect("live");
        live.retain(|l| {
            if group[l.a] != group[l.b] {
                l.cut.store(true, Relaxed);
                for tx in [&l.to_a, &l.to_b] {
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.send(Chunk::Cut);
                    }
                }
                false
            } else {
                l.to_a.strong_count() > 0 || l.to_b.strong_count() > 0
            }
        });
        *self.groups.lock().expect("groups") = Some(group);
    }

    /// Heals every partition.
    pub fn heal(&self) {
        *self.groups.lock().expect("groups") = None;
    }

    fn pipe(&self, from: usize, to: usize, n: u64) -> (Writer, mpsc::UnboundedReceiver<Chunk>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let seed = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(((from as u64) << 40) ^ ((to as u64) << 20) ^ n);
        (
            Writer {
                tx: Some(tx),
                model: self.model.clone(),
                rng: StdRng::seed_from_u64(seed),
                last_due: Instant::now(),
                free_at: Instant::now(),
                sent: self.sent[from].clone(),
            },
            rx,
        )
    }

    /// Opens a connection from `a` to the listener of `b`; returns `a`'s end.
    fn connect(&self, a: usize, b: usize) -> io::Result<Conn> {
        let refused = || io::Error::new(io::ErrorKind::ConnectionRefused, "unreachable");
        if !self.reachable(a, b) {
            return Err(refused());
        }
        let listener = self
            .listeners
            .lock()
            .expect("listeners")
            .get(&b)
            .cloned()
            .ok_or_else(refused)?;
        let n = self.conns.fetch_add(1, Relaxed);
        let cut = Arc::new(AtomicBool::new(false));
        let (w_ab, r_ab) = self.pipe(a, b, n);
        let (w_ba, r_ba) = self.pipe(b, a, n);
        let live = Live {
            a,
            b,
            cut: cut.clone(),
            to_a: w_ba.tx.as_ref().expect("fresh").downgrade(),
            to_b: w_ab.tx.as_ref().expect("fresh").downgrade(),
        };
        let mine = Conn::new(w_ab, r_ba, cut.clone());
        let theirs = Conn::new(w_ba, r_ab, cut);
        listener
            .send(Incoming {
                from: a,
                conn: theirs,
            })
            .map_err(|_| refused())?;
        let mut all = self.live.lock().expect("live");
        // Forget connections both ends have dropped, so the list tracks what is open.
        if all.len() > 64 && n % 64 == 0 {
            all.retain(|l| l.to_a.strong_count() > 0 || l.to_b.strong_count() > 0);
        }
        all.push(live);
        Ok(mine)
    }
}

struct Writer {
    tx: Option<mpsc::UnboundedSender<Chunk>>,
    model: LinkModel,
    rng: StdRng,
    last_due: Instant,
    free_at: Instant,
    sent: Arc<AtomicU64>,
}

impl Writer {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::BrokenPipe, "closed"))?;
        let m = &self.model;
        let now = Instant::now();
        let mut start = now;
        if m.bandwidth > 0 {
            // Serialisation: a busy link sends this chunk after the ones queued before it.
            self.free_at = self.free_at.max(now)
                + Duration::from_secs_f64(data.len() as f64 / m.bandwidth as f64);
            start = self.free_at;
        }
        let spread = if m.jitter > 0.0 {
            self.rng.gen_range(-m.jitter..=m.jitter)
        } else {
            0.0
        };
        let mut delay = (m.latency_ms * (1.0 + spread)).max(0.0);
        if m.loss > 0.0 && self.rng.gen_bool(m.loss.min(1.0)) {
            delay += m.rto_ms;
        }
        let due = (start + Duration::from_secs_f64(delay / 1000.0)).max(self.last_due);
        self.last_due = due;
        self.sent.fetch_add(data.len() as u64, Relaxed);
        tx.send(Chunk::Data(due, data.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "peer gone"))
    }
}

/// One end of a simulated connection.
pub struct Conn {
    writer: Writer,
    rx: mpsc::UnboundedReceiver<Chunk>,
    cut: Arc<AtomicBool>,
    pending: Option<(Instant, Vec<u8>)>,
    current: Vec<u8>,
    offset: usize,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Conn {
    fn new(writer: Writer, rx: mpsc::UnboundedReceiver<Chunk>, cut: Arc<AtomicBool>) -> Self {
        Self {
            writer,
            rx,
            cut,
            pending: None,
            current: Vec::new(),
            offset: 0,
            sleep: None,
        }
    }

    fn reset() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionReset, "link cut by a partition")
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            if this.cut.load(Relaxed) {
                return Poll::Ready(Err(Self::reset()));
            }
            if this.offset < this.current.len() {
                let n = buf.len().min(this.current.len() - this.offset);
                buf[..n].copy_from_slice(&this.current[this.offset..this.offset + n]);
                this.offset += n;
                return Poll::Ready(Ok(n));
            }
            if let Some((due, _)) = &this.pending {
                if *due > Instant::now() {
                    let due = *due;
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                    if sleep.deadline() != due {
                        sleep.as_mut().reset(due);
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                let (_, data) = this.pending.take().expect("checked");
                this.current = data;
                this.offset = 0;
                continue;
            }
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(Chunk::Data(due, data))) => this.pending = Some((due, data)),
                Poll::Ready(Some(Chunk::Cut)) => return Poll::Ready(Err(Self::reset())),
                Poll::Ready(None) => return Poll::Ready(Ok(0)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

use std::future::Future as _;

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut.load(Relaxed) {
            return Poll::Ready(Err(Self::reset()));
        }
        Poll::Ready(self.writer.send(buf).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.tx = None;
        Poll::Ready(Ok(()))
    }
}

/// The transport of one simulated node.
pub struct SimTransport {
    net: Arc<SimNet>,
    me: usize,
    listeners: VecDeque<Listener>,
}

struct Listener {
    id: ListenerId,
    addr: Multiaddr,
    port: usize,
    rx: mpsc::UnboundedReceiver<Incoming>,
    announced: bool,
}

impl Drop for SimTransport {
    fn drop(&mut self) {
        let mut l = self.net.listeners.lock().expect("listeners");
        for x in &self.listeners {
            l.remove(&x.port);
        }
    }
}

impl Transport for SimTransport {
    type Output = Conn;
    type Error = io::Error;
    type ListenerUpgrade = future::Ready<Result<Conn, io::Error>>;
    type Dial = BoxFuture<'static, Result<Conn, io::Error>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let port = node_of(&addr).ok_or(TransportError::MultiaddrNotSupported(addr.clone()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut l = self.net.listeners.lock().expect("listeners");
            if l.get(&port).is_some_and(|t| !t.is_closed()) {
                return Err(TransportError::Other(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{addr} is in use"),
                )));
            }
            l.insert(port, tx);
        }
        self.listeners.push_back(Listener {
            id,
            addr,
            port,
            rx,
            announced: false,
        });
        Ok(())
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        match self.listeners.iter().position(|l| l.id == id) {
            Some(i) => {
                let l = self.listeners.remove(i).expect("index");
                self.net
                    .listeners
                    .lock()
                    .expect("listeners")
                    .remove(&l.port);
                true
            }
            None => false,
        }
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        _opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let to = node_of(&addr).ok_or(TransportError::MultiaddrNotSupported(addr))?;
        let (net, me) = (self.net.clone(), self.me);
        // A TCP handshake costs one round trip before the first byte.
        let setup = Duration::from_secs_f64(2.0 * net.model.latency_ms / 1000.0);
        Ok(async move {
            tokio::time::sleep(setup).await;
            net.connect(me, to)
        }
        .boxed())
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        for l in self.listeners.iter_mut() {
            if !l.announced {
                l.announced = true;
                return Poll::Ready(TransportEvent::NewAddress {
                    listener_id: l.id,
                    listen_addr: l.addr.clone(),
                });
            }
            match l.rx.poll_recv(cx) {
                Poll::Ready(Some(inc)) => {
                    return Poll::Ready(TransportEvent::Incoming {
                        listener_id: l.id,
                        upgrade: future::ready(Ok(inc.conn)),
                        local_addr: l.addr.clone(),
                        send_back_addr: addr_of(inc.from),
                    })
                }
                Poll::Ready(None) | Poll::Pending => {}
            }
        }
        Poll::Pending
    }
}
