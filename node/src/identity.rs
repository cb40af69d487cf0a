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
/// File a running node writes its bound HTTP address into (removed on shutdown), so the CLI
/// finds a node started with `--http` or port 0.
pub const HTTP_ADDR_FILE: &str = "http.addr";

/// The HTTP address a node running on `dir` wrote, if one did.
pub fn running_http_addr(dir: &Path) -> Option<std::net::SocketAddr> {
    std::fs::read_to_string(dir.join(HTTP_ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()
}

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

/// Writes `bytes` to `path` so that a crash at any moment leaves either no file or the whole
/// one: into a temporary file (mode `mode`), synced, renamed over `path`, and the directory
/// synced so the rename itself is on disk. A crash between creating and writing the file
/// once left an empty admin token behind.
pub fn write_durably(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Writes a file only the owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_durably(path, bytes, 0o600)
}

/// Refuses a secret file that others may read: the key signs as this node, the token writes
/// as its operator.
fn check_private(path: &Path) -> Result<(), NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(NodeError::io(path.display().to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(NodeError::Exposed {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    Ok(())
}

/// Loads the key from the data dir, creating it on first use.
pub fn load_or_create(dir: &Path) -> Result<Identity, NodeError> {
    let path = dir.join(KEY_FILE);
    let io = |e| NodeError::io(path.display().to_string())(e);
    match std::fs::read(&path) {
        Ok(bytes) => {
            check_private(&path)?;
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
        Ok(t) if !t.trim().is_empty() => {
            check_private(&path)?;
            Ok(t.trim().to_owned())
        }
        // An empty token (left by a crash in older versions) would let an empty bearer
        // token through: make a new one.
        Ok(_) => {
            tracing::warn!("{} is empty; writing a new admin token", path.display());
            new_token(dir, &path)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_token(dir, &path),
        Err(e) => Err(io(e)),
    }
}

/// A new random admin token, written (privately, durably) to `path`.
fn new_token(dir: &Path, path: &Path) -> Result<String, NodeError> {
    let io = |e| NodeError::io(path.display().to_string())(e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut raw = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, format!("{token}\n").as_bytes()).map_err(io)?;
    Ok(token)
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

    /// Issue 17, item 11: an empty admin.token (a crash between create and write) gave an
    /// empty bearer token; a key file others can read was used as it was.
    #[test]
    fn empty_tokens_are_replaced_and_exposed_secrets_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(TOKEN_FILE), "\n").unwrap();
        let token = admin_token(dir.path()).unwrap();
        assert_eq!(token.len(), 48);
        assert_eq!(admin_token(dir.path()).unwrap(), token);
        load_or_create(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = dir.path().join(KEY_FILE);
            assert_eq!(
                std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = load_or_create(dir.path()).err().unwrap();
            assert!(matches!(e, NodeError::Exposed { mode: 0o644, .. }), "{e}");
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
    }

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
