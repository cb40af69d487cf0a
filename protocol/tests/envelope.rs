//! Envelope bytes and verification: the test vector of docs/protocol.md, and every way a
//! hostile or broken envelope must be refused.

use discal_protocol::codec::{DecodeError, MAX_ENVELOPE_BYTES};
use discal_protocol::envelope::{SignedPayload, ENVELOPE_VERSION};
use discal_protocol::model::EventContent;
use discal_protocol::validate::ValidationError;
use discal_protocol::{sign, Envelope, Limits, NodeKey, NodeSecret, Relayed, VerifyError};

const NOW: i64 = 1_790_000_000_000;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn vector_content() -> EventContent {
    discal_protocol::vector::content()
}

fn vector_secret() -> NodeSecret {
    discal_protocol::vector::secret()
}

/// The values in docs/protocol.md, section "Test vector". If this test fails, either the code or
/// the document changed the wire format: fix whichever is wrong, never just the expected hex.
#[test]
fn test_vector_matches_the_spec() {
    let secret = vector_secret();
    assert_eq!(secret.to_seed().to_vec(), (0u8..32).collect::<Vec<_>>());
    assert_eq!(
        secret.public().to_string(),
        "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"
    );
    assert_eq!(
        hex(secret.public().as_bytes()),
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
    );
    let ev = discal_protocol::vector::signed().unwrap();
    let payload = concat!(
        "01",
        "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
        "17",
        "766563746f722d314064697363616c2e6578616d706c65",
        "01",
        "fd",
        "00d8a08841030000",
        // content.master
        "00",
        "01",
        "11",
        "4f70656e20536f75726365204e69676874",
        "00",
        "03",
        "fbd40f",
        "0c",
        "03",
        "12",
        "1e",
        "00",
        "0d",
        "4575726f70652f4265726c696e",
        "01",
        "01",
        "00",
        "00",
        "00",
        "fb201c",
        "00",
        "00",
        "00",
        "00",
        "00",
        "00",
        "01",
        "05",
        "6c696e7578",
        "00",
        "00",
        "00",
        "00",
        "00",
        "00",
        // content.overrides
        "00"
    );
    assert_eq!(hex(&ev.envelope().payload), payload);
    let signature = "be9f2553333e50972f20b29a8e9feaba4820f1d15b6ee31b4579adad878e228d\
                     51978d412b0639ea1bae1733c6dcf819badc27b985c0e832d96bc20cff9bb202";
    assert_eq!(hex(&ev.envelope().signature), signature);
    assert_eq!(
        hex(&ev.envelope().encode()),
        format!("8b01{}{}", &payload[2..], signature)
    );
    assert_eq!(
        ev.id().to_hex(),
        "b5c1c3ae560fd18ee82f61f05da0c2893afcb1c3d3310f06f5ed33e71f0a6082"
    );
    // And the bytes verify as a receiver would see them.
    let env = Envelope::decode(&ev.envelope().encode()).unwrap();
    let v = env.verify(NOW, &Limits::default()).unwrap();
    assert_eq!(v.payload().content, vector_content());
}

fn signed_by(secret: &NodeSecret, revision: u32) -> Envelope {
    sign(
        secret,
        "e1@x".into(),
        revision,
        NOW,
        vector_content(),
        &Limits::default(),
    )
    .unwrap()
    .envelope()
    .clone()
}

fn signed() -> Envelope {
    signed_by(&vector_secret(), 0)
}

#[test]
fn forged_signature_is_rejected() {
    // A well-formed payload that claims to come from the vector key, signed by another key.
    let victim = vector_secret().public();
    let forger = NodeSecret::from_seed(&[5u8; 32]).unwrap();
    let mut good = signed_by(&forger, 9);
    // Rewrite the origin inside the payload to the victim (the key is at bytes 1..33).
    good.payload[1..33].copy_from_slice(victim.as_bytes());
    let err = good.verify(NOW, &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        VerifyError::BadSignature {
            origin: Box::new(victim)
        }
    );
    assert!(
        err.to_string().contains("signature does not verify"),
        "{err}"
    );
}

#[test]
fn tampered_content_is_rejected() {
    let env = signed();
    // Flip one bit in the summary text: still decodes, no longer verifies.
    let pos = env.payload.windows(4).position(|w| w == b"Open").unwrap();
    let mut t = env.clone();
    t.payload[pos] ^= 0x20;
    assert!(matches!(
        t.verify(NOW, &Limits::default()),
        Err(VerifyError::BadSignature { .. })
    ));
    // Same for the signature itself.
    let mut t = env.clone();
    t.signature[10] ^= 1;
    assert!(matches!(
        t.verify(NOW, &Limits::default()),
        Err(VerifyError::BadSignature { .. })
    ));
    // A bumped revision (an attacker trying to make an old copy win) breaks the signature too.
    let mut p: SignedPayload =
        bincode::decode_from_slice(&env.payload, bincode::config::standard())
            .unwrap()
            .0;
    p.revision = 1000;
    let mut t = env.clone();
    t.payload = bincode::encode_to_vec(&p, bincode::config::standard()).unwrap();
    assert!(matches!(
        t.verify(NOW, &Limits::default()),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn truncated_envelopes_are_rejected_at_every_length() {
    let bytes = signed().encode();
    for n in 0..bytes.len() {
        let err = Envelope::decode(&bytes[..n]).unwrap_err();
        assert!(matches!(err, DecodeError::Malformed { .. }), "{n}: {err}");
        assert!(err.to_string().contains("malformed"));
    }
    // Trailing garbage is refused too, so one envelope has one encoding.
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(
        Envelope::decode(&long),
        Err(DecodeError::TrailingBytes { extra: 1, .. })
    ));
}

#[test]
fn oversized_envelopes_are_refused_before_decoding() {
    let big = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    let err = Envelope::decode(&big).unwrap_err();
    assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
    // A small envelope whose length prefix claims a huge payload does not allocate it.
    let mut lying = vec![0xfd];
    lying.extend_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(Envelope::decode(&lying).is_err());
    // Content that validates but is over the signing limit cannot be signed at all.
    let mut c = vector_content();
    c.master.description = Some("x".repeat(30 * 1024));
    c.master.location = Some("y".repeat(31 * 1024));
    let err = sign(
        &vector_secret(),
        "big@x".into(),
        0,
        NOW,
        c,
        &Limits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ValidationError::TooLarge { .. }), "{err}");
}

#[test]
fn payload_rules_are_enforced_on_receipt() {
    let secret = vector_secret();
    let limits = Limits::default();
    // From the future beyond the skew.
    let ev = sign(
        &secret,
        "f@x".into(),
        0,
        NOW + 3_600_000,
        vector_content(),
        &limits,
    )
    .unwrap();
    let err = ev.envelope().clone().verify(NOW, &limits).unwrap_err();
    assert!(err.to_string().contains("in the future"), "{err}");
    // A receiver with stricter limits refuses what the origin accepted.
    let strict = Limits {
        max_text_bytes: 4,
        ..Limits::default()
    };
    let err = signed().verify(NOW, &strict).unwrap_err();
    assert!(err.to_string().contains("SUMMARY is 17 bytes"), "{err}");
    // Revision out of the iCalendar INTEGER range.
    let err = sign(
        &secret,
        "r@x".into(),
        u32::MAX,
        NOW,
        vector_content(),
        &limits,
    )
    .unwrap_err();
    assert!(matches!(err, ValidationError::RevisionRange(_)));
    // Bad UIDs.
    for uid in ["", " x", "a\nb", &"u".repeat(256)] {
        assert!(
            sign(&secret, uid.into(), 0, NOW, vector_content(), &limits).is_err(),
            "{uid:?}"
        );
    }
}

#[test]
fn unknown_versions_are_refused() {
    let secret = vector_secret();
    let p = SignedPayload {
        version: ENVELOPE_VERSION + 1,
        origin: secret.public(),
        uid: "v@x".into(),
        revision: 0,
        issued_at_ms: NOW,
        content: vector_content(),
    };
    let env = Envelope {
        payload: bincode::encode_to_vec(&p, bincode::config::standard()).unwrap(),
        signature: [0; 64],
    };
    assert_eq!(
        env.verify(NOW, &Limits::default()).unwrap_err(),
        VerifyError::Version(2)
    );
}

#[test]
fn relay_wrapper_round_trips_and_keeps_the_envelope_intact() {
    let env = signed();
    let a = NodeSecret::from_seed(&[1u8; 32]).unwrap().public();
    let r = Relayed {
        hop: 2,
        path: vec![vector_secret().public(), a],
        envelope: env.clone(),
    };
    let back = Relayed::decode(&r.encode()).unwrap();
    assert_eq!(back, r);
    assert!(back.envelope.verify(NOW, &Limits::default()).is_ok());
    // Path entries must be valid keys like any other: replace one with bytes that are not a
    // curve point and the whole relay message is refused.
    let not_a_point = (0u8..=255)
        .map(|i| {
            let mut b = [i; 32];
            b[0] = 2;
            b
        })
        .find(|b| NodeKey::from_bytes(*b).is_err())
        .expect("some pattern is not a point");
    let mut bytes = r.encode();
    let pos = bytes.windows(32).position(|w| w == a.as_bytes()).unwrap();
    bytes[pos..pos + 32].copy_from_slice(&not_a_point);
    let err = Relayed::decode(&bytes).unwrap_err();
    assert!(
        err.to_string().contains("not a valid ed25519 public key"),
        "{err}"
    );
}

#[test]
fn non_minimal_integers_are_refused() {
    // Found by cargo fuzz: `fd` + eight zero bytes is a non-minimal encoding of length 0.
    let mut bytes = vec![0xfd];
    bytes.extend_from_slice(&[0u8; 8]);
    bytes.extend_from_slice(&[0u8; 64]);
    let err = Envelope::decode(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::NonCanonical { .. }), "{err}");
    // The same inside a signed payload: the revision 1 written as `fb 01 00`.
    let env = signed();
    let pos = 1 + 32 + 1 + 4; // version, origin, uid length, "e1@x"
    assert_eq!(env.payload[pos], 0);
    let mut p = env.payload.clone();
    p.splice(pos..pos + 1, [0xfb, 0x00, 0x00]);
    let err = Envelope {
        payload: p,
        signature: env.signature,
    }
    .verify(NOW, &Limits::default())
    .unwrap_err();
    assert!(err.to_string().contains("not canonically encoded"), "{err}");
}

/// A payload's head reads the same fields the full decode does, without the content; opening
/// decodes once and verifying the opened envelope is the same as verifying it directly.
#[test]
fn payload_head_and_opened_agree_with_the_full_decode() {
    let env = signed_by(&vector_secret(), 3);
    let head = discal_protocol::PayloadHead::peek(&env.payload).unwrap();
    let full: SignedPayload =
        discal_protocol::codec::decode("payload", &env.payload, MAX_ENVELOPE_BYTES).unwrap();
    assert_eq!(head.version, full.version);
    assert_eq!(&head.origin, full.origin.as_bytes());
    assert_eq!(head.uid, full.uid);
    assert_eq!(head.revision, 3);
    assert!(discal_protocol::PayloadHead::peek(&env.payload[..20]).is_none());

    let opened = env.clone().open(&Limits::default()).unwrap();
    assert_eq!(opened.payload(), &full);
    let a = opened.verify(i64::MAX / 2, &Limits::default()).unwrap();
    let b = env.verify(i64::MAX / 2, &Limits::default()).unwrap();
    assert_eq!(a, b);
}
