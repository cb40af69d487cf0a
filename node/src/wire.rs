//! What nodes send each other besides gossip: the catch-up sync protocol
//! (`/discal/sync/2`, libp2p request-response) and the relay rules for gossip messages.
//! docs/protocol.md §11 specifies both.

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bincode::{Decode, Encode};
use discal_protocol::envelope::MAX_PATH_LEN;
use discal_protocol::{codec, NodeKey, Relayed};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;

/// The gossipsub topic every DisCal node joins. Version 2: a message carries a bundle of relay
/// values (version 1 carried exactly one).
pub const TOPIC: &str = "discal/events/2";
/// Largest gossip message data: one relay value of the largest envelope with the longest path,
/// or a bundle of smaller ones.
pub const MAX_GOSSIP: usize = codec::MAX_ENVELOPE_BYTES + 33 * MAX_PATH_LEN + 1024;
/// A bundle is closed before its relay values pass this many bytes (a single larger value
/// travels alone).
pub const BUNDLE_BYTES: usize = 60 * 1024;
/// The sync protocol name.
pub const SYNC_PROTOCOL: &str = "/discal/sync/2";
/// Largest sync message either side reads, before and after decompression.
pub const MAX_FRAME: usize = 8 << 20;
/// Frame body encodings: the byte after a frame's length.
const BODY_RAW: u8 = 0;
const BODY_DEFLATE: u8 = 1;
/// Messages carrying events are deflated from this size on.
const DEFLATE_FROM: usize = 2048;
/// Events per fetch or push response are cut at about this many bytes.
pub const BATCH_BYTES: usize = 1 << 20;
/// Bytes of a sync item id used to name it in a fetch.
pub const SHORT_ID: usize = 8;

/// Fewest bytes an encoded [`discal_protocol::Relayed`] can have (its signature alone is 64): a
/// shorter value is junk, refused before it costs an ingest job.
pub const MIN_RELAYED_BYTES: usize = 64;
/// Most relay values in one gossip bundle (an honest 60 KiB bundle holds a few hundred).
pub const MAX_BUNDLE_VALUES: usize = 1024;
/// Most events in one sync Push, and ids in one Fetch (docs/protocol.md §11.4).
pub const MAX_SYNC_ITEMS: usize = 4096;

/// A sync request.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncRequest {
    /// A negentropy message of session `session`.
    Reconcile {
        /// Chosen by the initiator; a new value starts a new session.
        session: u64,
        /// The negentropy frame.
        msg: Vec<u8>,
    },
    /// Asks for events by the first [`SHORT_ID`] bytes of their sync ids.
    Fetch {
        /// The session whose item set the ids come from.
        session: u64,
        /// Short ids.
        ids: Vec<[u8; SHORT_ID]>,
    },
    /// Events the responder lacks (relayed form, hop and path already advanced).
    Push {
        /// Encoded [`Relayed`] values.
        events: Vec<Vec<u8>>,
    },
}

/// A sync response.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum SyncResponse {
    /// The responder's negentropy frame.
    Reconcile {
        /// The frame.
        msg: Vec<u8>,
    },
    /// Events for a fetch; `served` ids of the request were handled (sent, or not
    /// forwardable); the initiator asks again for the rest.
    Events {
        /// How many of the requested ids this answers, from the front.
        served: u32,
        /// Encoded [`Relayed`] values.
        events: Vec<Vec<u8>>,
    },
    /// A push was queued.
    Ack,
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
}

/// The 32-byte sync item id of one held revision:
/// `sha256(origin || uid)[..24] || revision (u32 BE) || event id[..4]`.
/// The revision is readable, so a node can tell from an id alone that it already holds a newer
/// revision and skip the fetch.
pub fn item_id(origin: &NodeKey, uid: &str, revision: u32, event_id: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(origin.as_bytes());
    h.update(uid.as_bytes());
    let name = h.finalize();
    let mut out = [0u8; 32];
    out[..24].copy_from_slice(&name[..24]);
    out[24..28].copy_from_slice(&revision.to_be_bytes());
    out[28..].copy_from_slice(&event_id[..4]);
    out
}

/// Length-prefixed bincode frames, counted in the node's metrics.
#[derive(Clone)]
pub struct SyncCodec {
    metrics: Arc<Metrics>,
}

impl SyncCodec {
    /// A codec counting into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }

    async fn read_frame<T: AsyncRead + Unpin + Send, M: Decode<()> + Encode>(
        &self,
        io: &mut T,
    ) -> io::Result<M> {
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let n = u32::from_be_bytes(len) as usize;
        if n == 0 || n > MAX_FRAME + 1 {
            return Err(invalid(format!(
                "sync frame of {n} bytes is empty or exceeds {MAX_FRAME}"
            )));
        }
        let mut buf = vec![0u8; n];
        io.read_exact(&mut buf).await?;
        self.metrics.sync_bytes_in.fetch_add(4 + n as u64, Relaxed);
        let body = unpack(buf[0], &buf[1..])?;
        self.metrics
            .sync_bytes_deflated
            .fetch_add((body.len() + 1).saturating_sub(n) as u64, Relaxed);
        codec::decode_canonical("sync frame", &body, MAX_FRAME).map_err(|e| invalid(e.to_string()))
    }

    async fn write_frame<T: AsyncWrite + Unpin + Send, M: Encode>(
        &self,
        io: &mut T,
        m: &M,
        carries_events: bool,
    ) -> io::Result<()> {
        let body = codec::encode(m);
        if body.len() > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "sync frame too large",
            ));
        }
        let raw = body.len();
        let (flag, body) = pack(body, carries_events)?;
        self.metrics
            .sync_bytes_deflated
            .fetch_add(raw.saturating_sub(body.len()) as u64, Relaxed);
        let n = (body.len() + 1) as u32;
        io.write_all(&n.to_be_bytes()).await?;
        io.write_all(&[flag]).await?;
        io.write_all(&body).await?;
        io.close().await?;
        self.metrics
            .sync_bytes_out
            .fetch_add(5 + body.len() as u64, Relaxed);
        Ok(())
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Envelopes are text plus repeated keys and structure, and deflate to well under their size;
/// negentropy frames and fetch ids are random bytes and are sent as they are.
fn pack(body: Vec<u8>, carries_events: bool) -> io::Result<(u8, Vec<u8>)> {
    use std::io::Write;
    if !carries_events || body.len() < DEFLATE_FROM {
        return Ok((BODY_RAW, body));
    }
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(body.len() / 2),
        flate2::Compression::fast(),
    );
    z.write_all(&body)?;
    let z = z.finish()?;
    Ok(if z.len() < body.len() {
        (BODY_DEFLATE, z)
    } else {
        (BODY_RAW, body)
    })
}

/// The bincode body of a frame; inflating stops past [`MAX_FRAME`] bytes, so a small frame
/// cannot expand into an unbounded allocation.
fn unpack(flag: u8, body: &[u8]) -> io::Result<Vec<u8>> {
    use std::io::Read;
    match flag {
        BODY_RAW => Ok(body.to_vec()),
        BODY_DEFLATE => {
            let mut out = Vec::with_capacity(body.len() * 3);
            flate2::read::DeflateDecoder::new(body)
                .take(MAX_FRAME as u64 + 1)
                .read_to_end(&mut out)?;
            if out.len() > MAX_FRAME {
                return Err(invalid(format!(
                    "sync frame inflates beyond {MAX_FRAME} bytes"
                )));
            }
            Ok(out)
        }
        other => Err(invalid(format!("unknown sync frame encoding {other}"))),
    }
}

#[async_trait::async_trait]
impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = libp2p::StreamProtocol;
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<SyncRequest>
    where
        T: AsyncRead + Unpin + Send,
    {
        let req: SyncRequest = self.read_frame(io).await?;
        if let Err(e) = req.check() {
            // Refused before any work: the stream fails, the peer's request with it.
            self.metrics.reject(crate::metrics::Reject::Decode);
            self.metrics.log_reject(crate::metrics::Reject::Decode, &e);
            return Err(invalid(e));
        }
        Ok(req)
    }

    async fn read_response<T>(&mut self, _: &Self::Protocol, io: &mut T) -> io::Result<SyncResponse>
    where
        T: AsyncRead + Unpin + Send,
    {
        self.read_frame(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: SyncRequest,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let events = matches!(req, SyncRequest::Push { .. });
        self.write_frame(io, &req, events).await
    }

    async fn write_response<T>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: SyncResponse,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        let events = matches!(res, SyncResponse::Events { .. });
        self.write_frame(io, &res, events).await
    }
}

/// Why a relayed envelope's hop and path cannot be right for the link it came over.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PathError {
    /// `hop` must be `path.len() + 1`.
    #[error("hop {hop} does not match a path of {len} nodes")]
    HopMismatch {
        /// Claimed hop.
        hop: u8,
        /// Path length.
        len: usize,
    },
    /// The last relayer (or, with an empty path, the origin) must be the peer that sent it.
    #[error("relay path does not end at the sending peer")]
    NotFromSender,
    /// A node appears twice, or the origin appears in the path: a loop.
    #[error("relay path has a loop")]
    Loop,
}

/// A gossip message's data (docs/protocol.md §11.2 rule 1): the encoded relay values, in order,
/// as a bincode sequence of byte strings.
pub fn bundle(items: Vec<Vec<u8>>) -> Vec<u8> {
    codec::encode(&items)
}

/// The relay values of a gossip message: at least one and at most [`MAX_BUNDLE_VALUES`], each
/// at least [`MIN_RELAYED_BYTES`], canonically encoded, at most [`MAX_GOSSIP`] bytes in all.
/// A bundle of 74,970 empty values once filled the ingest queue by itself.
pub fn unbundle(data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let items: Vec<Vec<u8>> =
        codec::decode_canonical("gossip bundle", data, MAX_GOSSIP).map_err(|e| e.to_string())?;
    if items.is_empty() {
        return Err("empty gossip bundle".into());
    }
    check_items("gossip bundle", items.len(), MAX_BUNDLE_VALUES, &items)?;
    Ok(items)
}

/// The gossipsub message id of a gossip message (docs/protocol.md §11.2 rule 2): a digest of
/// the origin-signed envelopes it carries, leaving out each copy's hop and path. Every relay of
/// one event (bundled alike) so has the same id, which lets gossipsub drop copies it has seen
/// unread and tell its neighbours (IDONTWANT) not to send what it already holds, across hops.
/// A message whose layout does not parse is named by all its bytes, so junk never shares an
/// honest message's id. Gossipsub computes it for every message sent and received, so the
/// layout is walked in place rather than decoded.
pub fn gossip_message_id(data: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    if !hash_envelopes(data, &mut h) {
        h = Sha256::new();
        h.update(b"bytes");
        h.update(data);
    }
    h.finalize()[..16].to_vec()
}

/// Feeds `"envelopes"`, then each value's envelope bytes (after its hop byte and path) with
/// their length as u64 BE; false when `data` is not a bundle of relay values' layout.
fn hash_envelopes(data: &[u8], h: &mut Sha256) -> bool {
    let mut at = 0;
    let Some(count) = varint(data, &mut at) else {
        return false;
    };
    if count == 0 || count > MAX_BUNDLE_VALUES {
        return false;
    }
    h.update(b"envelopes");
    for _ in 0..count {
        let Some(len) = varint(data, &mut at) else {
            return false;
        };
        let Some(value) = at.checked_add(len).and_then(|end| data.get(at..end)) else {
            return false;
        };
        at += len;
        // `Relayed`: hop (one byte), path (count, then 32 bytes a key), envelope.
        let mut p = 1;
        let envelope = varint(value, &mut p)
            .filter(|n| *n <= MAX_PATH_LEN)
            .and_then(|n| value.get(p + 32 * n..))
            .filter(|e| e.len() > 64);
        let Some(envelope) = envelope else {
            return false;
        };
        h.update((envelope.len() as u64).to_be_bytes());
        h.update(envelope);
    }
    at == data.len()
}

/// One bincode variable-length integer (§2: below 251 one byte, else a marker byte and 2, 4
/// or 8 bytes little-endian).
fn varint(b: &[u8], at: &mut usize) -> Option<usize> {
    let first = *b.get(*at)?;
    *at += 1;
    let width = match first {
        0..=250 => return Some(usize::from(first)),
        251 => 2,
        252 => 4,
        253 => 8,
        _ => return None,
    };
    let bytes = b.get(*at..*at + width)?;
    *at += width;
    let v = bytes
        .iter()
        .rev()
        .fold(0u64, |v, x| (v << 8) | u64::from(*x));
    usize::try_from(v).ok()
}

/// At most `max` values, none shorter than a relay value can be.
fn check_items(what: &str, n: usize, max: usize, values: &[Vec<u8>]) -> Result<(), String> {
    if n > max {
        return Err(format!("{what} holds {n} values, more than {max}"));
    }
    if values.iter().any(|v| v.len() < MIN_RELAYED_BYTES) {
        return Err(format!(
            "{what} holds a value shorter than {MIN_RELAYED_BYTES} bytes"
        ));
    }
    Ok(())
}

impl SyncRequest {
    /// The bounds a request must meet before any work is done for it: a 706-byte Push frame
    /// once inflated to 699,050 empty events, and a Fetch could ask for a million copies.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Self::Reconcile { .. } => Ok(()),
            Self::Fetch { ids, .. } if ids.len() > MAX_SYNC_ITEMS => Err(format!(
                "fetch of {} ids, more than {MAX_SYNC_ITEMS}",
                ids.len()
            )),
            Self::Fetch { .. } => Ok(()),
            Self::Push { events } => check_items("push", events.len(), MAX_SYNC_ITEMS, events),
        }
    }
}

/// Cuts relay values into bundles of at most [`BUNDLE_BYTES`] (`limit` 0: one value each),
/// keeping their order.
pub fn bundles(items: Vec<Vec<u8>>, limit: usize) -> Vec<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut size = 0;
    for it in items {
        match out.last_mut() {
            Some(b) if limit > 0 && size + it.len() <= limit => {
                size += it.len();
                b.push(it);
            }
            _ => {
                size = it.len();
                out.push(vec![it]);
            }
        }
    }
    out
}

/// Checks the unsigned part of a relayed envelope against the authenticated sender. The path
/// lists the nodes after the origin, so a direct copy from the origin has hop 1 and no path.
pub fn check_path(r: &Relayed, origin: &NodeKey, sender: &NodeKey) -> Result<(), PathError> {
    check_path_raw(r, origin.as_bytes(), sender)
}

/// [`check_path`] with the origin as key bytes (from a payload head, not yet parsed as a key).
pub fn check_path_raw(r: &Relayed, origin: &[u8; 32], sender: &NodeKey) -> Result<(), PathError> {
    if usize::from(r.hop) != r.path.len() + 1 {
        return Err(PathError::HopMismatch {
            hop: r.hop,
            len: r.path.len(),
        });
    }
    let last = r.path.last().map_or(origin, NodeKey::as_bytes);
    if last != sender.as_bytes() {
        return Err(PathError::NotFromSender);
    }
    let mut seen: Vec<&[u8; 32]> = Vec::with_capacity(r.path.len() + 1);
    seen.push(origin);
    for k in &r.path {
        if seen.contains(&k.as_bytes()) {
            return Err(PathError::Loop);
        }
        seen.push(k.as_bytes());
    }
    Ok(())
}

/// The transit a node sends onwards: one more hop, and itself on the path unless it is the
/// origin.
pub fn next_transit(hop: u8, path: &[NodeKey], me: &NodeKey) -> (u8, Vec<NodeKey>) {
    let mut p = path.to_vec();
    if hop > 0 {
        p.push(*me);
    }
    (hop.saturating_add(1), p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use discal_protocol::vector;
    use libp2p::request_response::Codec as _;
    use libp2p::StreamProtocol;

    fn key(seed: u8) -> NodeKey {
        discal_protocol::NodeSecret::from_seed_array([seed; 32]).public()
    }

    #[test]
    fn bundles_round_trip_keep_order_and_respect_the_limit() {
        let items: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 * (i as usize + 1)]).collect();
        let cut = bundles(items.clone(), 1000);
        assert!(cut.len() > 1);
        for b in &cut {
            let size: usize = b.iter().map(Vec::len).sum();
            assert!(size <= 1000 || b.len() == 1, "{size} in {} items", b.len());
        }
        assert_eq!(cut.concat(), items, "order kept, nothing lost");
        assert_eq!(bundles(items.clone(), 0).len(), items.len());
        let one = bundles(vec![vec![9; 5000]], 1000);
        assert_eq!(
            one,
            vec![vec![vec![9; 5000]]],
            "a large value travels alone"
        );

        let data = bundle(cut[0].clone());
        assert_eq!(unbundle(&data).unwrap(), cut[0]);
        assert!(unbundle(&bundle(Vec::new())).is_err(), "empty");
        assert!(unbundle(&data[..data.len() - 1]).is_err(), "truncated");
        let mut long = data.clone();
        long.push(0);
        assert!(unbundle(&long).is_err(), "trailing bytes");
        assert!(unbundle(&vec![0u8; MAX_GOSSIP + 1]).is_err(), "too large");
    }

    #[test]
    fn every_relay_of_an_event_has_one_message_id() {
        let env = vector::signed().unwrap().envelope().clone();
        let relay = |hop: u8, path: Vec<NodeKey>| {
            Relayed {
                hop,
                path,
                envelope: env.clone(),
            }
            .encode()
        };
        let direct = bundle(vec![relay(1, vec![])]);
        let far = bundle(vec![relay(3, vec![key(1), key(2)])]);
        let id = gossip_message_id(&direct);
        assert_eq!(id, gossip_message_id(&far), "hop and path left out");
        // The id is the digest of the envelopes' encoding (protocol.md §11.2 rule 2).
        let enc = env.encode();
        let mut h = Sha256::new();
        h.update(b"envelopes");
        h.update((enc.len() as u64).to_be_bytes());
        h.update(&enc);
        assert_eq!(id, h.finalize()[..16].to_vec());
        // A different envelope, a bundle of two, and junk all have other ids.
        let mut other = env.clone();
        other.payload.push(0);
        let other = Relayed {
            hop: 1,
            path: vec![],
            envelope: other,
        }
        .encode();
        assert_ne!(id, gossip_message_id(&bundle(vec![other.clone()])));
        assert_ne!(
            id,
            gossip_message_id(&bundle(vec![relay(1, vec![]), other]))
        );
        let mut junk = direct.clone();
        junk.push(7);
        let mut h = Sha256::new();
        h.update(b"bytes");
        h.update(&junk);
        assert_eq!(gossip_message_id(&junk), h.finalize()[..16].to_vec());
        assert_ne!(gossip_message_id(&[251, 0]), id, "truncated varint");
        // A long path (a two-byte count) is skipped too.
        let long: Vec<NodeKey> = (0..=255u8).map(key).take(255).collect();
        assert_eq!(gossip_message_id(&bundle(vec![relay(255, long)])), id);
    }

    #[test]
    fn paths_are_checked_against_the_sender() {
        let origin = vector::secret().public();
        let (a, b) = (key(1), key(2));
        let env = vector::signed().unwrap().envelope().clone();
        let direct = Relayed {
            hop: 1,
            path: vec![],
            envelope: env.clone(),
        };
        assert_eq!(check_path(&direct, &origin, &origin), Ok(()));
        assert_eq!(
            check_path(&direct, &origin, &a),
            Err(PathError::NotFromSender)
        );
        let two = Relayed {
            hop: 2,
            path: vec![a],
            envelope: env.clone(),
        };
        assert_eq!(check_path(&two, &origin, &a), Ok(()));
        let lie = Relayed {
            hop: 1,
            ..two.clone()
        };
        assert!(matches!(
            check_path(&lie, &origin, &a),
            Err(PathError::HopMismatch { .. })
        ));
        let looped = Relayed {
            hop: 3,
            path: vec![a, a],
            envelope: env,
        };
        assert_eq!(check_path(&looped, &origin, &a), Err(PathError::Loop));
        let (h, p) = next_transit(0, &[], &origin);
        assert_eq!((h, p.len()), (1, 0));
        let (h, p) = next_transit(2, &[a], &b);
        assert_eq!((h, p), (3, vec![a, b]));
    }

    #[test]
    fn item_ids_carry_the_revision() {
        let o = key(3);
        let a = item_id(&o, "x", 7, &[9; 32]);
        let b = item_id(&o, "x", 8, &[9; 32]);
        assert_eq!(a[..24], b[..24]);
        assert_eq!(u32::from_be_bytes(b[24..28].try_into().unwrap()), 8);
    }

    #[test]
    fn event_frames_deflate_and_bombs_are_refused() {
        let env = vector::signed().unwrap().envelope().encode();
        let msg = SyncResponse::Events {
            served: 40,
            events: vec![env; 40],
        };
        let body = codec::encode(&msg);
        let (flag, packed) = pack(body.clone(), true).unwrap();
        assert_eq!(flag, BODY_DEFLATE);
        assert!(
            packed.len() < body.len() / 2,
            "{} of {}",
            packed.len(),
            body.len()
        );
        assert_eq!(unpack(flag, &packed).unwrap(), body);
        // Negentropy frames and small messages go as they are.
        assert_eq!(pack(body.clone(), false).unwrap(), (BODY_RAW, body.clone()));
        assert_eq!(pack(vec![7; 100], true).unwrap(), (BODY_RAW, vec![7; 100]));

        let (_, bomb) = pack(vec![0; MAX_FRAME + 10], true).unwrap();
        assert!(bomb.len() < 100_000);
        let err = unpack(BODY_DEFLATE, &bomb).unwrap_err();
        assert!(err.to_string().contains("inflates beyond"), "{err}");
        assert!(unpack(9, &[1, 2]).is_err());
        assert!(unpack(BODY_DEFLATE, &[0xff; 20]).is_err());
    }

    /// Issue 17, item 5: a 706-byte deflated Push frame inflated to 699,050 empty events (one
    /// ingest job and one log line each); one gossip bundle of 74,970 empty values filled the
    /// ingest queue; a Fetch could name a million ids. Each is refused before any work.
    #[test]
    fn floods_are_refused_before_any_work() {
        let push = SyncRequest::Push {
            events: vec![Vec::new(); 699_050],
        };
        let body = codec::encode(&push);
        let (flag, packed) = pack(body.clone(), true).unwrap();
        assert_eq!(flag, BODY_DEFLATE);
        assert!(packed.len() < 4096, "a small frame: {}", packed.len());
        let mut frame = ((packed.len() + 1) as u32).to_be_bytes().to_vec();
        frame.push(flag);
        frame.extend(&packed);
        let metrics = Arc::new(Metrics::default());
        let mut codec = SyncCodec::new(metrics.clone());
        let mut io = futures::io::Cursor::new(frame);
        let proto = StreamProtocol::new(SYNC_PROTOCOL);
        let read = futures::executor::block_on(codec.read_request(&proto, &mut io));
        assert!(read.is_err(), "the Push flood is refused");
        assert_eq!(metrics.rejected(crate::metrics::Reject::Decode), 1);

        let ok = vector::signed().unwrap().envelope().encode();
        let relayed = |n| SyncRequest::Push {
            events: vec![ok.clone(); n],
        };
        assert!(relayed(MAX_SYNC_ITEMS).check().is_ok());
        assert!(relayed(MAX_SYNC_ITEMS + 1).check().is_err());
        let fetch = |n| SyncRequest::Fetch {
            session: 1,
            ids: vec![[0; SHORT_ID]; n],
        };
        assert!(fetch(MAX_SYNC_ITEMS).check().is_ok());
        assert!(fetch(1_000_000).check().is_err());

        let junk = bundle(vec![Vec::new(); 74_970]);
        assert!(junk.len() <= MAX_GOSSIP);
        assert!(unbundle(&junk).is_err());
        assert!(unbundle(&bundle(vec![ok.clone(); MAX_BUNDLE_VALUES + 1])).is_err());
        assert!(unbundle(&bundle(vec![vec![1; 10]])).is_err());
        assert_eq!(unbundle(&bundle(vec![ok.clone(); 3])).unwrap().len(), 3);
    }
}
