//! Signed envelopes: the unit that travels between nodes and that the store keeps.
//!
//! The origin signs the exact payload bytes; receivers verify those bytes and only then decode
//! and validate what they say. Hop count and relay path are in [`Relayed`], outside the signature,
//! because every node that passes an event on changes them.

use bincode::{Decode, Encode};
use sha2::{Digest, Sha256};

use crate::codec::{self, DecodeError, MAX_ENVELOPE_BYTES};
use crate::keys::{self, NodeKey, NodeSecret};
use crate::merge::MergeKey;
use crate::model::EventContent;
use crate::validate::{self, Limits, ValidationError};

/// The envelope format this code writes and the only one it accepts.
pub const ENVELOPE_VERSION: u8 = 1;

/// Prepended to the payload bytes before signing, so a DisCal signature can never be replayed as
/// a signature over anything else the same key signs (libp2p handshakes, for one).
pub const SIGNING_CONTEXT: &[u8] = b"DISCAL-EVENT-V1\0";

/// The largest relay path a node accepts (it is also bounded by the hop limit).
pub const MAX_PATH_LEN: usize = 255;

/// What the origin signs. Its bincode encoding is the payload.
#[derive(Clone, Debug, PartialEq, Encode, Decode)]
pub struct SignedPayload {
    /// [`ENVELOPE_VERSION`].
    pub version: u8,
    /// The origin node; only its key can sign a revision of this event.
    pub origin: NodeKey,
    /// The event's UID; (origin, UID) names the event.
    pub uid: String,
    /// X-REVISION: 0 for a new event, +1 for each change.
    pub revision: u32,
    /// When the origin issued this revision, in milliseconds since the Unix epoch (UTC).
    pub issued_at_ms: i64,
    /// The VEVENT(s).
    pub content: EventContent,
}

/// Payload bytes and the origin's signature over `SIGNING_CONTEXT || payload`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Envelope {
    /// bincode(SignedPayload).
    pub payload: Vec<u8>,
    /// Ed25519 signature.
    pub signature: [u8; 64],
}

/// The names an event by: (origin, UID).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventKey {
    /// The origin node.
    pub origin: NodeKey,
    /// The UID.
    pub uid: String,
}

/// SHA-256 of the payload bytes: names one revision of one event exactly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct EventId(pub [u8; 32]);

impl EventId {
    /// Hash of payload bytes.
    pub fn of_payload(payload: &[u8]) -> Self {
        Self(Sha256::digest(payload).into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventId({}…)", &self.to_hex()[..12])
    }
}

/// An envelope in transit: hop count and the path of nodes it passed, outside the signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Relayed {
    /// X-HOP: links crossed so far (0 at the origin).
    pub hop: u8,
    /// The nodes that relayed it, origin first (NNTP's Path).
    pub path: Vec<NodeKey>,
    /// The origin-signed envelope, unchanged.
    pub envelope: Envelope,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VerifyError {
    /// The bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// An envelope version this node does not speak.
    #[error("envelope version {0} is not supported (this node speaks version {ENVELOPE_VERSION})")]
    Version(u8),
    /// The signature does not match the payload and the origin key it names.
    #[error("signature does not verify for origin {origin}")]
    BadSignature {
        /// The origin the payload claims.
        origin: Box<NodeKey>,
    },
    /// Signed correctly, but what it says is not acceptable.
    #[error("event {uid:?} from {origin}: {source}")]
    Invalid {
        /// The claimed origin.
        origin: Box<NodeKey>,
        /// The claimed UID.
        uid: String,
        /// The rule it broke.
        source: ValidationError,
    },
}

impl Envelope {
    /// Decodes envelope bytes, refusing anything over [`MAX_ENVELOPE_BYTES`] before decoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode_canonical("envelope", bytes, MAX_ENVELOPE_BYTES)
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes and validates the payload and checks the signature. `now_ms` bounds how far in
    /// the future `issued_at_ms` may lie; time is a parameter so callers and tests own the clock.
    pub fn verify(self, now_ms: i64, limits: &Limits) -> Result<VerifiedEvent, VerifyError> {
        self.open(limits)?.verify(now_ms, limits)
    }

    /// Decodes the payload (canonically) without checking the signature, so a receiver can
    /// look at what it claims before paying for verification, and decodes it only once.
    pub fn open(self, limits: &Limits) -> Result<Opened, VerifyError> {
        let payload: SignedPayload =
            codec::decode_canonical("payload", &self.payload, limits.max_payload_bytes)?;
        Ok(Opened {
            envelope: self,
            payload,
        })
    }
}

/// The leading fields of a payload, read without decoding the content and without checking
/// the origin key's curve point: enough to recognise a copy of a revision already held, which
/// is most of what a node receives (every neighbour relays every event).
#[derive(Clone, Debug, PartialEq, Eq, Decode)]
pub struct PayloadHead {
    /// The envelope version.
    pub version: u8,
    /// The origin's key bytes (unchecked).
    pub origin: [u8; 32],
    /// The UID.
    pub uid: String,
    /// X-REVISION.
    pub revision: u32,
}

impl PayloadHead {
    /// The head of `payload`, or `None` if it does not even start like a payload.
    pub fn peek(payload: &[u8]) -> Option<Self> {
        let cfg = bincode::config::standard().with_limit::<{ codec::MAX_ENVELOPE_BYTES }>();
        bincode::decode_from_slice(payload, cfg)
            .ok()
            .map(|(h, _)| h)
    }
}

/// An envelope whose payload decoded, signature not yet checked. Only [`Envelope::open`] makes
/// one, so its payload is always the decoding of its envelope's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    envelope: Envelope,
    payload: SignedPayload,
}

impl Opened {
    /// What the payload claims (unverified).
    pub fn payload(&self) -> &SignedPayload {
        &self.payload
    }

    /// Checks the version, the signature and the content.
    pub fn verify(self, now_ms: i64, limits: &Limits) -> Result<VerifiedEvent, VerifyError> {
        self.check_version()?;
        let signed = self
            .payload
            .origin
            .verify(&self.signing_message(), &self.envelope.signature);
        self.finish(signed, now_ms, limits)
    }

    fn check_version(&self) -> Result<(), VerifyError> {
        match self.payload.version {
            ENVELOPE_VERSION => Ok(()),
            v => Err(VerifyError::Version(v)),
        }
    }

    fn signing_message(&self) -> Vec<u8> {
        let mut msg = Vec::with_capacity(SIGNING_CONTEXT.len() + self.envelope.payload.len());
        msg.extend_from_slice(SIGNING_CONTEXT);
        msg.extend_from_slice(&self.envelope.payload);
        msg
    }

    /// The rest of [`Opened::verify`], once the signature's verdict is known.
    fn finish(
        self,
        signed: bool,
        now_ms: i64,
        limits: &Limits,
    ) -> Result<VerifiedEvent, VerifyError> {
        let Opened {
            envelope: env,
            payload,
        } = self;
        if !signed {
            return Err(VerifyError::BadSignature {
                origin: Box::new(payload.origin),
            });
        }
        validate::validate_payload(&payload, now_ms, limits).map_err(|source| {
            VerifyError::Invalid {
                origin: Box::new(payload.origin),
                uid: payload.uid.clone(),
                source,
            }
        })?;
        let id = EventId::of_payload(&env.payload);
        Ok(VerifiedEvent {
            envelope: env,
            payload,
            id,
        })
    }
}

/// [`Opened::verify`] for many envelopes at once, with the same verdicts in the same order.
///
/// The signatures are checked as one batch (see `keys::verify_many`): about a third of the
/// CPU of checking them one by one. `rng` draws the batch's random coefficients; it changes
/// no verdict.
pub fn verify_batch<R: rand::RngCore + rand::CryptoRng>(
    opened: Vec<Opened>,
    now_ms: i64,
    limits: &Limits,
    rng: &mut R,
) -> Vec<Result<VerifiedEvent, VerifyError>> {
    let messages: Vec<Vec<u8>> = opened.iter().map(Opened::signing_message).collect();
    let items: Vec<keys::SignedItem<'_>> = opened
        .iter()
        .zip(&messages)
        .map(|(o, m)| (&o.payload.origin, &o.envelope.signature, m.as_slice()))
        .collect();
    let verdicts = keys::verify_many(&items, rng);
    drop(items);
    opened
        .into_iter()
        .zip(verdicts)
        .map(|(o, signed)| {
            o.check_version()?;
            o.finish(signed, now_ms, limits)
        })
        .collect()
}

/// An envelope whose signature verified and whose content passed validation. Only
/// [`Opened::verify`] (through [`Envelope::verify`]) and [`sign`] make one, so anything holding it holds a checked event.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifiedEvent {
    envelope: Envelope,
    payload: SignedPayload,
    id: EventId,
}

impl VerifiedEvent {
    /// The signed envelope, to store or pass on unchanged.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// What the envelope says.
    pub fn payload(&self) -> &SignedPayload {
        &self.payload
    }

    /// The event's name.
    pub fn key(&self) -> EventKey {
        EventKey {
            origin: self.payload.origin,
            uid: self.payload.uid.clone(),
        }
    }

    /// The hash that names this exact revision.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// What [`crate::merge()`] orders revisions by.
    pub fn merge_key(&self) -> MergeKey {
        MergeKey {
            revision: self.payload.revision,
            cancelled: self.payload.content.is_cancelled(),
            id: self.id,
        }
    }

    /// Takes the parts back.
    pub fn into_parts(self) -> (Envelope, SignedPayload) {
        (self.envelope, self.payload)
    }
}

/// Validates and signs a revision of an event as its origin.
pub fn sign(
    secret: &NodeSecret,
    uid: String,
    revision: u32,
    issued_at_ms: i64,
    content: EventContent,
    limits: &Limits,
) -> Result<VerifiedEvent, ValidationError> {
    let payload = SignedPayload {
        version: ENVELOPE_VERSION,
        origin: secret.public(),
        uid,
        revision,
        issued_at_ms,
        content,
    };
    validate::validate_payload(&payload, issued_at_ms, limits)?;
    let bytes = codec::encode(&payload);
    if bytes.len() > limits.max_payload_bytes {
        return Err(ValidationError::TooLarge {
            len: bytes.len(),
            max: limits.max_payload_bytes,
        });
    }
    let mut msg = Vec::with_capacity(SIGNING_CONTEXT.len() + bytes.len());
    msg.extend_from_slice(SIGNING_CONTEXT);
    msg.extend_from_slice(&bytes);
    let signature = secret.sign(&msg);
    let id = EventId::of_payload(&bytes);
    Ok(VerifiedEvent {
        envelope: Envelope {
            payload: bytes,
            signature,
        },
        payload,
        id,
    })
}

impl Relayed {
    /// Decodes a relayed envelope (size-capped before decoding).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let r: Self = codec::decode_canonical(
            "relayed envelope",
            bytes,
            MAX_ENVELOPE_BYTES + 40 * MAX_PATH_LEN,
        )?;
        if r.path.len() > MAX_PATH_LEN {
            return Err(DecodeError::TooLarge {
                what: "relay path",
                len: r.path.len(),
                max: MAX_PATH_LEN,
            });
        }
        Ok(r)
    }

    /// The wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A revision its origin signed without validating it (another implementation, or a
    /// hostile one) whose rule once panicked the rrule crate: the receiver refuses it with a
    /// reason, and the rest of its batch is unaffected.
    #[test]
    fn a_signed_event_whose_rule_broke_the_parser_is_refused_in_its_batch() {
        let secret = NodeSecret::from_seed_array([7; 32]);
        let limits = Limits::default();
        let now = 1_800_000_000_000;
        let signed_as_is = |uid: &str, rule: Option<&str>| {
            let mut content = crate::vector::content();
            content.master.rrule = rule.map(str::to_string);
            let payload = SignedPayload {
                version: ENVELOPE_VERSION,
                origin: secret.public(),
                uid: uid.into(),
                revision: 0,
                issued_at_ms: now,
                content,
            };
            let bytes = codec::encode(&payload);
            let signature = secret.sign(&[SIGNING_CONTEXT, &bytes].concat());
            Envelope {
                payload: bytes,
                signature,
            }
            .open(&limits)
            .unwrap()
        };
        let batch = vec![
            signed_as_is("before@example.org", Some("FREQ=WEEKLY")),
            signed_as_is("hostile@example.org", Some("FREQ=WEEKLY;BYDAY=-\u{ed}U")),
            signed_as_is("after@example.org", None),
        ];
        let verdicts = verify_batch(batch, now, &limits, &mut rand::thread_rng());
        assert!(verdicts[0].is_ok() && verdicts[2].is_ok(), "{verdicts:?}");
        let refused = verdicts[1].as_ref().unwrap_err().to_string();
        assert!(refused.contains("ASCII"), "{refused}");
    }
}
