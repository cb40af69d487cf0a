//! Node identity: one ed25519 key per node, used both to sign events and as the libp2p identity.
//!
//! The one textual form of a public key is the libp2p PeerId string of that key (`12D3KooW…`), so
//! the string an operator copies from `discal id` is the same in config files, logs, URLs and
//! multiaddrs. For an ed25519 key it is base58btc of the identity multihash of the protobuf-encoded
//! public key: `00 24 08 01 12 20` followed by the 32 key bytes.

use std::fmt;
use std::str::FromStr;

use bincode::{Decode, Encode};
use ed25519_dalek::Signer;
use rand::{CryptoRng, RngCore};

/// Bytes that precede the 32 key bytes in the PeerId of an ed25519 key: identity multihash
/// (code 0x00, length 36) of the protobuf `PublicKey { Type: Ed25519 (1), Data: 32 bytes }`.
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// Checked keys kept (see [`NodeKey::from_bytes`]); cleared when full.
const POINT_MEMO_SIZE: usize = 4096;

type PointMemo = std::collections::HashMap<[u8; 32], ed25519_consensus::VerificationKey>;

/// One memo for the process: readers and queries split work over threads spawned per
/// request, and a memo per thread started empty on each of them.
static POINTS: std::sync::LazyLock<std::sync::RwLock<PointMemo>> =
    std::sync::LazyLock::new(Default::default);

/// Why a textual or binary public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base58btc at all.
    #[error("node key {0:?} is not base58: expected a libp2p peer id like 12D3KooW…")]
    NotBase58(String),
    /// Base58, but not the PeerId of an ed25519 key.
    #[error(
        "node key {0:?} is not an ed25519 peer id (expected 38 bytes starting 00 24 08 01 12 20)"
    )]
    NotEd25519PeerId(String),
    /// The 32 bytes are not a valid curve point.
    #[error("node key {0:?} is not a valid ed25519 public key")]
    InvalidPoint(String),
    /// A point of order 1, 2, 4 or 8: anyone could sign for it, so no node may own it.
    #[error("node key {0:?} is a small-order point, which anyone could sign for")]
    SmallOrder(String),
    /// A valid point written in a non-canonical form: one key must have one spelling, or one
    /// origin would be two.
    #[error("node key {0:?} is not the canonical encoding of its point")]
    NonCanonical(String),
    /// A secret key file of the wrong length.
    #[error("secret key must be 32 bytes, got {0}")]
    SecretLength(usize),
}

/// A node's public key: names the origin of events and the peer on the network.
///
/// It holds the decompressed curve point next to the bytes: decompression is the costly part of
/// checking a key, and doing it once when the key is parsed or decoded keeps it off the
/// per-signature path.
#[derive(Clone, Copy)]
pub struct NodeKey {
    bytes: [u8; 32],
    point: ed25519_consensus::VerificationKey,
}

impl PartialEq for NodeKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for NodeKey {}
impl PartialOrd for NodeKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for NodeKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}
impl std::hash::Hash for NodeKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}
impl Encode for NodeKey {
    fn encode<E: bincode::enc::Encoder>(
        &self,
        encoder: &mut E,
    ) -> Result<(), bincode::error::EncodeError> {
        self.bytes.encode(encoder)
    }
}

// Decoding validates the point, so no `NodeKey` anywhere (payload origin, relay path) can hold
// bytes that are not a public key.
impl<Ctx> Decode<Ctx> for NodeKey {
    fn decode<D: bincode::de::Decoder<Context = Ctx>>(
        decoder: &mut D,
    ) -> Result<Self, bincode::error::DecodeError> {
        let bytes = <[u8; 32]>::decode(decoder)?;
        Self::from_bytes(bytes).map_err(|e| bincode::error::DecodeError::OtherString(e.to_string()))
    }
}
bincode::impl_borrow_decode!(NodeKey);

impl NodeKey {
    /// Builds a key from raw bytes, checking that they are the canonical encoding of an ed25519
    /// point that is not of small order.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        // A node sees the same few hundred origin keys over and over; checking one costs about
        // half a signature check (two decompressions and a compression), so valid keys are
        // memoised. The memo only ever returns what the checks would.
        if let Some(point) = POINTS.read().ok().and_then(|m| m.get(&bytes).copied()) {
            return Ok(Self { bytes, point });
        }
        let strict = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::InvalidPoint(hex_short(&bytes)))?;
        // ZIP-215 verification takes any point, but a key is an identity: refusing the
        // small-order and non-canonical ones here keeps both oddities out of the network.
        if strict.is_weak() {
            return Err(KeyError::SmallOrder(hex_short(&bytes)));
        }
        if strict.to_edwards().compress().as_bytes() != &bytes {
            return Err(KeyError::NonCanonical(hex_short(&bytes)));
        }
        let point = ed25519_consensus::VerificationKey::try_from(bytes)
            .map_err(|_| KeyError::InvalidPoint(hex_short(&bytes)))?;
        if let Ok(mut m) = POINTS.write() {
            if m.len() >= POINT_MEMO_SIZE {
                m.clear();
            }
            m.insert(bytes, point);
        }
        Ok(Self { bytes, point })
    }

    /// The raw 32 bytes (used in envelopes and store keys).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The full textual form (PeerId).
    pub fn to_peer_id_string(&self) -> String {
        let mut buf = Vec::with_capacity(38);
        buf.extend_from_slice(&PEER_ID_PREFIX);
        buf.extend_from_slice(&self.bytes);
        bs58::encode(buf).into_string()
    }

    /// A short form for logs: the last 8 characters of the PeerId, which differ between keys
    /// (the first characters are the same for every ed25519 key).
    pub fn fmt_short(&self) -> String {
        let s = self.to_peer_id_string();
        s[s.len().saturating_sub(8)..].to_string()
    }

    /// Checks one signature by the ZIP-215 rules (docs/protocol.md §4), which
    /// [`crate::envelope::verify_batch`] applies to many at once with the same verdicts.
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.point
            .verify(&ed25519_consensus::Signature::from(*sig), msg)
            .is_ok()
    }
}

/// Below this many signatures a failed batch is settled one by one rather than split again.
const SPLIT_FLOOR: usize = 4;

/// One signature to check: the key, the signature and the signed message.
pub(crate) type SignedItem<'a> = (&'a NodeKey, &'a [u8; 64], &'a [u8]);

/// Checks many signatures, with the verdicts [`NodeKey::verify`] would give each one.
///
/// ZIP-215 batch verification costs about a third of one check per signature, and it accepts
/// exactly the signatures single checks accept (cofactored equations in both; a batch with a
/// bad signature passes only with probability 2⁻¹²⁸, as its coefficients come from `rng`). A
/// failed batch is split in halves until the bad signatures are found, so one forgery in a
/// thousand costs about three batches' worth, not a thousand single checks.
pub(crate) fn verify_many<R: RngCore + CryptoRng>(
    items: &[SignedItem<'_>],
    rng: &mut R,
) -> Vec<bool> {
    let mut out = vec![false; items.len()];
    settle(items, &mut out, rng);
    out
}

fn settle<R: RngCore + CryptoRng>(items: &[SignedItem<'_>], out: &mut [bool], rng: &mut R) {
    if items.len() <= SPLIT_FLOOR {
        for ((key, sig, msg), ok) in items.iter().zip(out.iter_mut()) {
            *ok = key.verify(msg, sig);
        }
        return;
    }
    let mut batch = ed25519_consensus::batch::Verifier::new();
    for (key, sig, msg) in items {
        batch.queue((
            ed25519_consensus::VerificationKeyBytes::from(key.bytes),
            ed25519_consensus::Signature::from(**sig),
            *msg,
        ));
    }
    if batch.verify(&mut *rng).is_ok() {
        out.fill(true);
        return;
    }
    let mid = items.len() / 2;
    let (a, b) = out.split_at_mut(mid);
    settle(&items[..mid], a, rng);
    settle(&items[mid..], b, rng);
}

fn hex_short(b: &[u8]) -> String {
    b.iter()
        .take(8)
        .map(|x| format!("{x:02x}"))
        .collect::<String>()
        + "…"
}

impl fmt::Display for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_peer_id_string())
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeKey({})", self.fmt_short())
    }
}

impl FromStr for NodeKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = bs58::decode(s)
            .into_vec()
            .map_err(|_| KeyError::NotBase58(s.to_string()))?;
        if bytes.len() != 38 || bytes[..6] != PEER_ID_PREFIX {
            return Err(KeyError::NotEd25519PeerId(s.to_string()));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[6..]);
        Self::from_bytes(key).map_err(|_| KeyError::InvalidPoint(s.to_string()))
    }
}

/// A node's secret key. Never printed; dropped secret bytes are zeroed by ed25519-dalek.
#[derive(Clone)]
pub struct NodeSecret {
    key: ed25519_dalek::SigningKey,
    /// Kept beside the key: every signature names it, and decompressing its point again
    /// cost each local write several microseconds.
    public: NodeKey,
}

impl NodeSecret {
    /// A fresh key from a cryptographic RNG (the caller owns the randomness: protocol does no I/O).
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::of(ed25519_dalek::SigningKey::generate(rng))
    }

    fn of(key: ed25519_dalek::SigningKey) -> Self {
        let bytes = key.verifying_key().to_bytes();
        let public = NodeKey {
            bytes,
            point: ed25519_consensus::VerificationKey::try_from(bytes)
                .expect("a secret key's public point decompresses"),
        };
        Self { key, public }
    }

    /// From the 32-byte seed, as stored in the node's key file and as libp2p's
    /// `Keypair::ed25519_from_bytes` takes it.
    pub fn from_seed(seed: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| KeyError::SecretLength(seed.len()))?;
        Ok(Self::of(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// From a 32-byte seed held as an array (cannot fail).
    pub fn from_seed_array(seed: [u8; 32]) -> Self {
        Self::of(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed, for writing the key file and handing to libp2p.
    pub fn to_seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The matching public key.
    pub fn public(&self) -> NodeKey {
        self.public
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

impl fmt::Debug for NodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeSecret(..{})", self.public().fmt_short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_looks_like_a_peer_id() {
        let k = NodeSecret::from_seed(&[7u8; 32]).unwrap().public();
        let s = k.to_string();
        assert!(s.starts_with("12D3KooW"), "{s}");
        assert_eq!(s.parse::<NodeKey>().unwrap(), k);
    }

    /// The edge-case vector of docs/protocol.md §4: R has a component of order 8, so strict
    /// RFC 8032 verifiers refuse it and ZIP-215 (DisCal) accepts it.
    #[test]
    fn the_zip215_vector_verifies_here_and_not_strictly() {
        let key = NodeSecret::from_seed_array([1; 32]).public();
        assert_eq!(
            hex::encode(key.as_bytes()),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        let sig: [u8; 64] = hex::decode(
            "8b0d739f34483e1d3fe574c232ff52bd9e27edbe12bfb9741e33ae8b2bd312d0\
             77b3d6eddd8c5cc747a70d288ae6b52fe6e0ed2b838faa335b0e1e8b8d86410d",
        )
        .unwrap()
        .try_into()
        .unwrap();
        let msg = [crate::envelope::SIGNING_CONTEXT, b"zip215 vector"].concat();
        assert!(key.verify(&msg, &sig));
        let items = vec![(&key, &sig, msg.as_slice()); 9];
        assert_eq!(verify_many(&items, &mut rand::rngs::OsRng), vec![true; 9]);
        let strict = ed25519_dalek::VerifyingKey::from_bytes(key.as_bytes())
            .unwrap()
            .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig));
        assert!(strict.is_err());
        let mut other = msg.clone();
        other.push(b'!');
        assert!(!key.verify(&other, &sig));
    }

    #[test]
    fn strict_parsing_names_the_problem() {
        assert!(matches!(
            "not a key!".parse::<NodeKey>(),
            Err(KeyError::NotBase58(_))
        ));
        // A valid base58 string of the wrong shape (an RSA-style or sha256 peer id).
        assert!(matches!(
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N".parse::<NodeKey>(),
            Err(KeyError::NotEd25519PeerId(_))
        ));
        let k = NodeSecret::from_seed(&[7u8; 32])
            .unwrap()
            .public()
            .to_string();
        // Trailing garbage, whitespace and case changes are all refused rather than repaired.
        assert!(format!("{k}x").parse::<NodeKey>().is_err());
        assert!(format!(" {k}").parse::<NodeKey>().is_err());
        assert!(k.to_lowercase().parse::<NodeKey>().is_err());
    }

    #[test]
    fn secret_debug_does_not_leak() {
        let s = NodeSecret::from_seed(&[9u8; 32]).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("09"), "{dbg}");
    }
}
