//! The one place where DisCal bytes are encoded and decoded (bincode 2.0.1, standard config:
//! little-endian, variable-length integers). Sizes are checked before decoding so a hostile length
//! prefix cannot make the decoder allocate more than the cap.

use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::{Decode, Encode};

/// The largest envelope (payload + signature + framing) a node accepts from anyone.
pub const MAX_ENVELOPE_BYTES: usize = 64 * 1024;

/// The largest value of any kind (a sync frame carrying many envelopes) a node decodes.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

type Cfg = Configuration<LittleEndian, Varint, Limit<MAX_ENVELOPE_BYTES>>;
type FrameCfg = Configuration<LittleEndian, Varint, Limit<MAX_FRAME_BYTES>>;

const fn cfg() -> Cfg {
    config::standard().with_limit::<MAX_ENVELOPE_BYTES>()
}

const fn frame_cfg() -> FrameCfg {
    config::standard().with_limit::<MAX_FRAME_BYTES>()
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Larger than the cap for this kind of value; nothing was decoded.
    #[error("{what} is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// What was being decoded.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Ended early, or a field did not decode.
    #[error("{what} is malformed: {reason}")]
    Malformed {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// Decoded, but not in the one canonical encoding (a non-minimal integer, for one): a value
    /// from the network has exactly one byte form.
    #[error("{what} is not canonically encoded")]
    NonCanonical {
        /// What was being decoded.
        what: &'static str,
    },
    /// Decoded, but bytes were left over: refused so one value has one encoding.
    #[error("{what} has {extra} trailing bytes")]
    TrailingBytes {
        /// What was being decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
}

/// Encodes a value. Encoding into a `Vec` cannot fail for DisCal's types except by exceeding the
/// size cap, which callers check with [`decode`]'s limits on the way in.
pub fn encode<T: Encode>(value: &T) -> Vec<u8> {
    // Encoding has no size limit of its own; the Limit in the config only bounds decoding.
    bincode::encode_to_vec(value, config::standard()).unwrap_or_default()
}

/// Decodes a value from the network: as [`decode`], and the bytes must be exactly what
/// encoding the value gives (bincode's decoder also accepts non-minimal integers).
pub fn decode_canonical<T: Decode<()> + Encode>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    let value: T = decode(what, bytes, max)?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

/// Decodes exactly one value from `bytes`, which must be at most `max` bytes long (and at most
/// [`MAX_FRAME_BYTES`]).
pub fn decode<T: Decode<()>>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, DecodeError> {
    let max = max.min(MAX_FRAME_BYTES);
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    // The decoder's allocation limit follows the caller's cap: envelope-sized values get the
    // tight one, so a lying length prefix inside a small value cannot claim megabytes.
    let decoded = if max <= MAX_ENVELOPE_BYTES {
        bincode::decode_from_slice(bytes, cfg())
    } else {
        bincode::decode_from_slice(bytes, frame_cfg())
    };
    let (value, used) = decoded.map_err(|e| DecodeError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if used != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            what,
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}
