//! The store's error type.

use discal_protocol::codec::DecodeError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an I/O or corruption error.
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value did not decode: the store is damaged or from another version.
    #[error("stored data is unreadable: {0}")]
    Decode(#[from] DecodeError),
    /// The store was written by a different schema version.
    #[error("store schema is version {found}, this build reads version {expected}")]
    Schema {
        /// On disk.
        found: u32,
        /// In this build.
        expected: u32,
    },
    /// A stored record contradicts its key or its indexes.
    #[error("store is inconsistent: {0}")]
    Corrupt(String),
    /// Reading or writing the index snapshot, or the OS's randomness, failed.
    #[error("store files: {0}")]
    Io(#[from] std::io::Error),
    /// Another process (a running node) has the store open.
    #[error("the store in {0} is in use by another process")]
    Locked(std::path::PathBuf),
    /// A thread panicked while holding the store's lock.
    #[error("store lock poisoned by a panicked thread")]
    Poisoned,
    /// An envelope over the wire format's size limit; nothing of its batch was written.
    #[error("event envelope is {bytes} bytes, over the {max}-byte limit; batch not written")]
    TooLarge {
        /// Payload bytes.
        bytes: usize,
        /// The limit.
        max: usize,
    },
}
