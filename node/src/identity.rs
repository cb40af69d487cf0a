//! The node's key pair and admin token, kept in the data dir. The same ed25519 key signs events
//! and is the libp2p identity, so `PeerId` and `NodeKey` name the same thing.

use std::io::Write;
use std::path::Path;

use discal_protocol::{NodeKey, NodeSecret};
use libp2p::identity::{ed25519, Keypair, PublicKey};
use libp2p::PeerId;

use crate::NodeError;

/// File holding the 32-byte secret seed.
pub const KEY_FILE: &str = "identity.key";
/// File holding the bearer token of the local write API.
pub const TOKEN_FILE: &str = "admin.token";

/// The node's secret in both forms.
pub struct Identity {
    /// Signs events.
    pub secret: NodeSecret,
    /// The same key for libp2p.
    pub keypair: Keypair,
}

impl Identity {
    /// From a secret.
    pub fn from_secret(secret: NodeSecret) -> Self {
        let mut seed = secret.to_seed();
        let kp = ed25519::SecretKey::try_from_bytes(&mut seed)
            .map(|s| Keypair::from(ed25519::Keypair::from(s)))
            .expect("32 bytes are always an ed25519 secret key");
        Self {
            secret,
            keypair: kp,
        }
    }

    /// The public key.
    pub fn key(&self) -> NodeKey {
        self.secret.public()
    }
}

/// Writes a file only the owner can read, refusing to overwrite.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Loads the key from the data dir, creating it on first use.
pub fn load_or_create(dir: &Path) -> Result<Identity, NodeError> {
    let path = dir.join(KEY_FILE);
    let io = |e| NodeError::io(path.display().to_string())(e);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret = NodeSecret::from_seed(&bytes).map_err(|source| NodeError::Key {
                path: path.clone(),
                source,
            })?;
            Ok(Identity::from_secret(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let secret = NodeSecret::generate(&mut rand::rngs::OsRng);
            write_private(&path, &secret.to_seed()).map_err(io)?;
            Ok(Identity::from_secret(secret))
        }
        Err(e) => Err(io(e)),
    }
}

/// Loads the admin token, creating a random one on first use.
pub fn admin_token(dir: &Path) -> Result<String, NodeError> {
    let path = dir.join(TOKEN_FILE);
    let io = |e| NodeError::io(path.display().to_string())(e);
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(t.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let mut raw = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
            let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, format!("{token}\n").as_bytes()).map_err(io)?;
            Ok(token)
        }
        Err(e) => Err(io(e)),
    }
}

/// The libp2p peer id of a node key.
pub fn peer_id(key: &NodeKey) -> PeerId {
    let pk = ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .expect("a NodeKey is a valid ed25519 point");
    PeerId::from_public_key(&PublicKey::from(pk))
}

/// The node key of an ed25519 peer id (identity multihash `00 24 08 01 12 20 || key`).
pub fn node_key(peer: &PeerId) -> Option<NodeKey> {
    let bytes = peer.to_bytes();
    let key: [u8; 32] = bytes
        .strip_prefix(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20])?
        .try_into()
        .ok()?;
    NodeKey::from_bytes(key).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_id_and_node_key_agree() {
        let id = Identity::from_secret(discal_protocol::vector::secret());
        let p = id.keypair.public().to_peer_id();
        assert_eq!(p, peer_id(&id.key()));
        assert_eq!(node_key(&p), Some(id.key()));
        assert_eq!(p.to_string(), id.key().to_string());
    }

    #[test]
    fn key_and_token_persist() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap().key();
        assert_eq!(load_or_create(dir.path()).unwrap().key(), a);
        let t = admin_token(dir.path()).unwrap();
        assert_eq!(t.len(), 48);
        assert_eq!(admin_token(dir.path()).unwrap(), t);
    }
}
