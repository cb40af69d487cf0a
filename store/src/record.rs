//! The bytes of a stored record and of the keys of the one sled tree.

use bincode::{Decode, Encode};
use discal_protocol::codec::{self, DecodeError};
use discal_protocol::envelope::SignedPayload;
use discal_protocol::{Envelope, VerifiedEvent};

use crate::index::Info;
use crate::{StoreError, StoredEvent, Transit};

pub(crate) const T_CHANGE: u8 = b'c';

/// The record stored under `c seq`. `info` comes first so the open-time scan decodes only it.
#[derive(Clone, Debug, Encode, Decode)]
pub(crate) struct Record {
    pub(crate) info: Info,
    pub(crate) envelope: Packed,
    pub(crate) transit: Transit,
    pub(crate) received_at_ms: i64,
}

/// Encodes exactly like [`Record`], from borrowed parts.
#[derive(Encode)]
struct RecordRef<'a> {
    info: &'a Info,
    envelope: Packed,
    transit: &'a Transit,
    received_at_ms: i64,
}

/// An envelope as stored: the payload lz4-compressed, its length in front. sled keeps up to
/// twice its live data on disk (it cleans a segment once half of it is garbage); payloads of
/// iCalendar text shrink to about two thirds, which keeps the store within 2× the envelopes'
/// own bytes. The signature does not compress and is kept as is.
#[derive(Clone, Debug, Encode, Decode)]
pub(crate) struct Packed {
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: [u8; 64],
}

impl Packed {
    pub(crate) fn pack(env: &Envelope) -> Self {
        Self {
            payload: lz4_flex::compress_prepend_size(&env.payload),
            signature: env.signature,
        }
    }

    pub(crate) fn unpack(self) -> Result<Envelope, StoreError> {
        let corrupt = |e: &dyn std::fmt::Display| {
            StoreError::Corrupt(format!("stored payload does not decompress: {e}"))
        };
        // The length comes from disk: bound it before it sizes an allocation.
        let (len, body) =
            lz4_flex::block::uncompressed_size(&self.payload).map_err(|e| corrupt(&e))?;
        if len > codec::MAX_ENVELOPE_BYTES {
            return Err(corrupt(&format_args!("claims {len} bytes")));
        }
        let payload = lz4_flex::block::decompress(body, len).map_err(|e| corrupt(&e))?;
        Ok(Envelope {
            payload,
            signature: self.signature,
        })
    }
}

/// The bytes of a record.
pub(crate) fn encode_record(
    info: &Info,
    env: &Envelope,
    transit: &Transit,
    received_at_ms: i64,
) -> Vec<u8> {
    codec::encode(&RecordRef {
        info,
        envelope: Packed::pack(env),
        transit,
        received_at_ms,
    })
}

/// The bytes of the record for `ev`.
pub(crate) fn record_bytes(
    info: &Info,
    ev: &VerifiedEvent,
    transit: &Transit,
    now_ms: i64,
) -> Vec<u8> {
    encode_record(info, ev.envelope(), transit, now_ms)
}

pub(crate) const MAX_RECORD_BYTES: usize = codec::MAX_ENVELOPE_BYTES + 64 * 1024;

pub(crate) fn change_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = T_CHANGE;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn seq_of(key: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = key
        .get(1..9)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt("record key".into()))?;
    Ok(u64::from_be_bytes(b))
}

/// Decodes just the info header at the front of a record.
pub(crate) fn decode_info(bytes: &[u8]) -> Result<Info, StoreError> {
    let (info, _): (Info, usize) = bincode::decode_from_slice(
        bytes,
        bincode::config::standard().with_limit::<MAX_RECORD_BYTES>(),
    )
    .map_err(|e| DecodeError::Malformed {
        what: "record info",
        reason: e.to_string(),
    })?;
    Ok(info)
}

pub(crate) fn decode_record(seq: u64, bytes: &[u8]) -> Result<StoredEvent, StoreError> {
    let rec: Record = codec::decode("stored record", bytes, MAX_RECORD_BYTES)?;
    let envelope = rec.envelope.unpack()?;
    // Stored bytes were verified when they were written; they are decoded, not re-verified.
    let payload: SignedPayload = codec::decode("stored payload", &envelope.payload, usize::MAX)?;
    Ok(StoredEvent {
        envelope,
        payload,
        transit: rec.transit,
        seq,
        received_at_ms: rec.received_at_ms,
        id: rec.info.id,
    })
}
