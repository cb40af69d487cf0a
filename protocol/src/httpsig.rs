//! HTTP Message Signatures (RFC 9421) for pushes between sister sites, and WebSub's
//! `X-Hub-Signature`. Pure: the caller gives the clock, the nonce and the request's parts.
//!
//! A push is signed over its method, its target URI, its content type and its body's
//! `Content-Digest` (RFC 9530, SHA-256), with `created`, `nonce`, `keyid` and `alg` as
//! signature parameters, labelled `discal`:
//!
//! ```text
//! Content-Digest: sha-256=:<base64 SHA-256 of the body>:
//! Signature-Input: discal=("@method" "@target-uri" "content-type" "content-digest");created=1733400000;nonce="…";keyid="12D3Koo…";alg="ed25519"
//! Signature: discal=:<base64 signature>:
//! ```
//!
//! `alg="ed25519"` is signed with the node's key (its `keyid` is the node key, published at
//! `/.well-known/discal-push`); `alg="hmac-sha256"` with a secret both sides hold. A receiver
//! checks the digest against the body, `created` against its clock (± [`MAX_SKEW_SECS`]) and
//! the nonce against those it saw in that window, so a captured push cannot be replayed.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::keys::{NodeKey, NodeSecret};

/// The signature's label in `Signature-Input` and `Signature`.
pub const LABEL: &str = "discal";
/// The components a push signature covers, in order.
pub const COMPONENTS: [&str; 4] = ["@method", "@target-uri", "content-type", "content-digest"];
/// How far `created` may lie from the receiver's clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// A header is missing.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// A header does not parse.
    #[error("the {0} header does not parse: {1}")]
    Malformed(&'static str, String),
    /// The body is not the one the digest names.
    #[error("Content-Digest does not match the body")]
    Digest,
    /// Not the components a push must cover.
    #[error("the signature must cover exactly {COMPONENTS:?}")]
    Components,
    /// `created` too far from now.
    #[error("the signature was created at {0}, more than {MAX_SKEW_SECS} s from now")]
    Stale(i64),
    /// Unknown key id or algorithm.
    #[error("no key {keyid:?} for alg {alg:?} is registered here")]
    UnknownKey {
        /// The key id given.
        keyid: String,
        /// The algorithm given.
        alg: String,
    },
    /// The signature does not verify.
    #[error("the signature does not verify")]
    Bad,
}

/// The parts of a request a push signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Covered<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The full target URI, as the sender wrote it.
    pub target_uri: &'a str,
    /// The `Content-Type` header's value.
    pub content_type: &'a str,
    /// The `Content-Digest` header's value.
    pub content_digest: &'a str,
}

/// The signature parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Seconds since the epoch.
    pub created: i64,
    /// A value the sender uses once.
    pub nonce: String,
    /// The key's name: a node key, or the name the receiver gave a shared secret.
    pub keyid: String,
    /// `ed25519` or `hmac-sha256`.
    pub alg: String,
}

/// The headers to add to a signed push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    /// `Content-Digest`.
    pub content_digest: String,
    /// `Signature-Input`.
    pub signature_input: String,
    /// `Signature`.
    pub signature: String,
}

/// A key to sign a push with.
pub enum SigningKey<'a> {
    /// The node's key (`alg="ed25519"`, keyid the node key).
    Node(&'a NodeSecret),
    /// A shared secret (`alg="hmac-sha256"`), named by `keyid`.
    Hmac {
        /// The key's name.
        keyid: &'a str,
        /// The secret.
        secret: &'a [u8],
    },
}

/// A key to verify with.
pub enum VerifyingKey<'a> {
    /// A node's public key.
    Node(&'a NodeKey),
    /// A shared secret.
    Hmac(&'a [u8]),
}

/// `sha-256=:<base64>:` (RFC 9530) for a body.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", B64.encode(Sha256::digest(body)))
}

/// WebSub's `X-Hub-Signature` value for a body and a subscriber's secret: `sha256=<hex>`.
pub fn hub_signature(secret: &[u8], body: &[u8]) -> String {
    let tag = hmac_sha256(secret, body);
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn hmac_sha256(secret: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn quote(s: &str) -> String {
    // sf-string: printable ASCII, with `"` and `\` escaped (RFC 8941 §3.3.3).
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The `@signature-params` value: the covered components and the parameters.
pub fn params_value(p: &Params) -> String {
    let list: Vec<String> = COMPONENTS.iter().map(|c| quote(c)).collect();
    format!(
        "({});created={};nonce={};keyid={};alg={}",
        list.join(" "),
        p.created,
        quote(&p.nonce),
        quote(&p.keyid),
        quote(&p.alg)
    )
}

/// The signature base (RFC 9421 §2.5): one line per component, then `@signature-params`.
pub fn signature_base(c: &Covered<'_>, params_value: &str) -> String {
    let values = [c.method, c.target_uri, c.content_type, c.content_digest];
    let mut out = String::new();
    for (name, value) in COMPONENTS.iter().zip(values) {
        out.push_str(&format!("\"{name}\": {}\n", value.trim()));
    }
    out.push_str(&format!("\"@signature-params\": {params_value}"));
    out
}

/// Signs a push: the headers to send with `body`.
pub fn sign(
    key: &SigningKey<'_>,
    method: &str,
    target_uri: &str,
    content_type: &str,
    body: &[u8],
    created: i64,
    nonce: &str,
) -> Headers {
    let content_digest = content_digest(body);
    let (keyid, alg) = match key {
        SigningKey::Node(s) => (s.public().to_string(), "ed25519"),
        SigningKey::Hmac { keyid, .. } => ((*keyid).to_string(), "hmac-sha256"),
    };
    let params = params_value(&Params {
        created,
        nonce: nonce.into(),
        keyid,
        alg: alg.into(),
    });
    let covered = Covered {
        method,
        target_uri,
        content_type,
        content_digest: &content_digest,
    };
    let base = signature_base(&covered, &params);
    let sig: Vec<u8> = match key {
        SigningKey::Node(s) => s.sign(base.as_bytes()).to_vec(),
        SigningKey::Hmac { secret, .. } => hmac_sha256(secret, base.as_bytes()).to_vec(),
    };
    Headers {
        content_digest,
        signature_input: format!("{LABEL}={params}"),
        signature: format!("{LABEL}=:{}:", B64.encode(sig)),
    }
}

/// A push's signature headers as received.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// `Content-Digest`.
    pub content_digest: Option<&'a str>,
    /// `Signature-Input`.
    pub signature_input: Option<&'a str>,
    /// `Signature`.
    pub signature: Option<&'a str>,
}

/// Reads the parameters of the `discal` signature, so the receiver can look up the key.
pub fn read_params(r: &Received<'_>) -> Result<Params, SigError> {
    let input = r
        .signature_input
        .ok_or(SigError::Missing("Signature-Input"))?;
    parse_input(input).map(|(p, _)| p)
}

/// Checks a push: the digest against the body, the covered components, the clock and the
/// signature with `key`. The caller checks the nonce against those it saw.
pub fn verify(
    r: &Received<'_>,
    method: &str,
    target_uri: &str,
    content_type: &str,
    body: &[u8],
    now_secs: i64,
    key: &VerifyingKey<'_>,
) -> Result<Params, SigError> {
    let digest = r
        .content_digest
        .ok_or(SigError::Missing("Content-Digest"))?;
    if digest.trim() != content_digest(body) {
        return Err(SigError::Digest);
    }
    let input = r
        .signature_input
        .ok_or(SigError::Missing("Signature-Input"))?;
    let (params, value) = parse_input(input)?;
    if (params.created - now_secs).abs() > MAX_SKEW_SECS {
        return Err(SigError::Stale(params.created));
    }
    let sig = r.signature.ok_or(SigError::Missing("Signature"))?;
    let sig = member(sig, "Signature")?
        .strip_prefix(':')
        .and_then(|s| s.strip_suffix(':'))
        .ok_or_else(|| SigError::Malformed("Signature", "not a byte sequence".into()))?;
    let sig = B64
        .decode(sig)
        .map_err(|e| SigError::Malformed("Signature", e.to_string()))?;
    let base = signature_base(
        &Covered {
            method,
            target_uri,
            content_type,
            content_digest: digest,
        },
        value,
    );
    let ok = match (key, params.alg.as_str()) {
        (VerifyingKey::Node(k), "ed25519") => <[u8; 64]>::try_from(sig.as_slice())
            .is_ok_and(|s| params.keyid == k.to_string() && k.verify(base.as_bytes(), &s)),
        (VerifyingKey::Hmac(secret), "hmac-sha256") => {
            let want = hmac_sha256(secret, base.as_bytes());
            constant_eq(&want, &sig)
        }
        _ => {
            return Err(SigError::UnknownKey {
                keyid: params.keyid,
                alg: params.alg,
            })
        }
    };
    if ok {
        Ok(params)
    } else {
        Err(SigError::Bad)
    }
}

/// Compares a MAC without an early exit, so timing does not tell how much of it was right.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of the `discal` member of a dictionary header (RFC 8941 §3.2); other members
/// (other signatures on the same request) are skipped.
fn member<'a>(header: &'a str, name: &'static str) -> Result<&'a str, SigError> {
    let bad = |why: &str| SigError::Malformed(name, why.into());
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').ok_or_else(|| bad("no `label=`"))?;
        let value_len = member_len(after).ok_or_else(|| bad("an unterminated value"))?;
        let (value, tail) = after.split_at(value_len);
        if key.trim() == LABEL {
            return Ok(value.trim());
        }
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    Err(bad("no `discal` signature"))
}

/// The length of one dictionary member's value: up to the first comma outside quotes,
/// parentheses and byte sequences.
fn member_len(s: &str) -> Option<usize> {
    let (mut quoted, mut escaped, mut depth, mut colon) = (false, false, 0u32, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if quoted => {}
            ':' => colon = !colon,
            '(' if !colon => depth += 1,
            ')' if !colon => depth = depth.checked_sub(1)?,
            ',' if depth == 0 && !colon => return Some(i),
            _ => {}
        }
    }
    (!quoted && depth == 0 && !colon).then_some(s.len())
}

/// Parses `discal=(…);created=…;…` into its parameters and the exact value signed.
fn parse_input(header: &str) -> Result<(Params, &str), SigError> {
    let bad = |why: String| SigError::Malformed("Signature-Input", why);
    let value = member(header, "Signature-Input")?;
    let inner = value
        .strip_prefix('(')
        .and_then(|v| v.split_once(')'))
        .ok_or_else(|| bad("not an inner list".into()))?;
    let names: Vec<&str> = inner.0.split_whitespace().collect();
    let want: Vec<String> = COMPONENTS.iter().map(|c| format!("\"{c}\"")).collect();
    if names != want {
        return Err(SigError::Components);
    }
    let (mut created, mut nonce, mut keyid, mut alg) = (None, None, None, None);
    for p in inner.1.split(';').skip(1) {
        let (k, v) = p.split_once('=').ok_or_else(|| bad(format!("{p:?}")))?;
        let s = || {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .filter(|v| !v.contains(['"', '\\']))
                .map(str::to_string)
                .ok_or_else(|| bad(format!("{k} is not a plain string")))
        };
        match k.trim() {
            "created" => created = Some(v.parse().map_err(|_| bad("created".into()))?),
            "nonce" => nonce = Some(s()?),
            "keyid" => keyid = Some(s()?),
            "alg" => alg = Some(s()?),
            _ => {}
        }
    }
    if inner.1.split(';').next().is_some_and(|x| !x.is_empty()) {
        return Err(bad("text after the inner list".into()));
    }
    match (created, nonce, keyid, alg) {
        (Some(created), Some(nonce), Some(keyid), Some(alg)) => Ok((
            Params {
                created,
                nonce,
                keyid,
                alg,
            },
            value,
        )),
        _ => Err(bad("created, nonce, keyid and alg are required".into())),
    }
}

/// The SubjectPublicKeyInfo of a node key in PEM (RFC 8410), as openssl and most libraries
/// read public keys.
pub fn public_key_pem(k: &NodeKey) -> String {
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(k.as_bytes());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        B64.encode(der)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> NodeSecret {
        NodeSecret::from_seed_array([7; 32])
    }

    fn signed(key: &SigningKey<'_>, body: &[u8]) -> Headers {
        sign(
            key,
            "POST",
            "https://b.example/push/in/a",
            "text/calendar; charset=utf-8",
            body,
            1_000,
            "n1",
        )
    }

    fn check(
        h: &Headers,
        body: &[u8],
        now: i64,
        key: &VerifyingKey<'_>,
    ) -> Result<Params, SigError> {
        verify(
            &Received {
                content_digest: Some(&h.content_digest),
                signature_input: Some(&h.signature_input),
                signature: Some(&h.signature),
            },
            "POST",
            "https://b.example/push/in/a",
            "text/calendar; charset=utf-8",
            body,
            now,
            key,
        )
    }

    #[test]
    fn ed25519_round_trip_and_tampering() {
        let s = secret();
        let h = signed(&SigningKey::Node(&s), b"BEGIN:VCALENDAR");
        let public = s.public();
        let k = VerifyingKey::Node(&public);
        let p = check(&h, b"BEGIN:VCALENDAR", 1_100, &k).unwrap();
        assert_eq!((p.alg.as_str(), p.nonce.as_str()), ("ed25519", "n1"));
        assert_eq!(p.keyid, s.public().to_string());
        assert_eq!(
            check(&h, b"BEGIN:VCALENDAX", 1_100, &k),
            Err(SigError::Digest)
        );
        assert_eq!(
            check(&h, b"BEGIN:VCALENDAR", 2_000, &k),
            Err(SigError::Stale(1_000))
        );
        let other_key = NodeSecret::from_seed_array([8; 32]).public();
        let other = VerifyingKey::Node(&other_key);
        assert_eq!(
            check(&h, b"BEGIN:VCALENDAR", 1_000, &other),
            Err(SigError::Bad)
        );
        // A different nonce in the input (replay with a fresh nonce) breaks the signature.
        let mut forged = h.clone();
        forged.signature_input = forged.signature_input.replace("\"n1\"", "\"n2\"");
        assert_eq!(
            check(&forged, b"BEGIN:VCALENDAR", 1_000, &k),
            Err(SigError::Bad)
        );
    }

    #[test]
    fn hmac_round_trip() {
        let key = SigningKey::Hmac {
            keyid: "site-a",
            secret: b"s3cret",
        };
        let h = signed(&key, b"x");
        assert!(check(&h, b"x", 1_000, &VerifyingKey::Hmac(b"s3cret")).is_ok());
        assert_eq!(
            check(&h, b"x", 1_000, &VerifyingKey::Hmac(b"other")),
            Err(SigError::Bad)
        );
        // An HMAC signature is not taken where a node key is expected.
        assert!(matches!(
            check(&h, b"x", 1_000, &VerifyingKey::Node(&secret().public())),
            Err(SigError::UnknownKey { .. })
        ));
    }

    #[test]
    fn the_base_is_rfc_9421_shaped() {
        let base = signature_base(
            &Covered {
                method: "POST",
                target_uri: "https://b.example/in",
                content_type: "text/calendar",
                content_digest: "sha-256=:x:",
            },
            "(\"@method\");created=1",
        );
        assert_eq!(
            base,
            "\"@method\": POST\n\"@target-uri\": https://b.example/in\n\"content-type\": \
             text/calendar\n\"content-digest\": sha-256=:x:\n\"@signature-params\": (\"@method\");created=1"
        );
        // Other signatures beside ours are skipped.
        let h = signed(&SigningKey::Node(&secret()), b"b");
        let two = format!("other=(\"@method\");created=1, {}", h.signature_input);
        assert_eq!(
            member(&two, "Signature-Input").unwrap(),
            &h.signature_input[7..]
        );
    }

    #[test]
    fn hub_signature_is_websubs() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog") from RFC 4231's
        // well-known example.
        assert_eq!(
            hub_signature(b"key", b"The quick brown fox jumps over the lazy dog"),
            "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }
}
