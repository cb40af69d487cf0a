//! Signature rules (docs/protocol.md §4): ZIP-215 verification, the same verdicts one by one
//! and in batches, and keys that are identities only when canonical and not of small order.

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::scalar::Scalar;
use discal_protocol::envelope::SIGNING_CONTEXT;
use discal_protocol::model::{Component, DateTimeValue, EventContent, LocalDateTime};
use discal_protocol::{
    sign, verify_batch, Envelope, KeyError, Limits, NodeKey, NodeSecret, VerifyError,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha512};

const NOW: i64 = 1_790_000_000_000;

fn secret(i: u8) -> NodeSecret {
    NodeSecret::from_seed_array([i + 1; 32])
}

fn envelope(secret: &NodeSecret, n: usize) -> Envelope {
    let start = chrono::DateTime::from_timestamp(1_790_000_000 + n as i64 * 3600, 0)
        .unwrap()
        .naive_utc();
    let mut c = Component::new(DateTimeValue::Utc(LocalDateTime::from_chrono(start)));
    c.summary = Some(format!("Meetup {n}"));
    sign(
        secret,
        format!("e{n}@x"),
        0,
        NOW,
        EventContent::new(c),
        &Limits::default(),
    )
    .unwrap()
    .envelope()
    .clone()
}

/// The verdict of one-by-one verification, for comparing with the batch.
fn single(env: &Envelope) -> Result<(), VerifyError> {
    env.clone().verify(NOW, &Limits::default()).map(drop)
}

fn batch(envs: &[Envelope], seed: u64) -> Vec<Result<(), VerifyError>> {
    let opened = envs
        .iter()
        .map(|e| e.clone().open(&Limits::default()).unwrap())
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    verify_batch(opened, NOW, &Limits::default(), &mut rng)
        .into_iter()
        .map(|r| r.map(drop))
        .collect()
}

/// The group order ℓ, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The same signature with s + ℓ: the same equation holds, but s is not reduced.
fn unreduced(sig: &[u8; 64]) -> [u8; 64] {
    let mut out = *sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = sig[32 + i] as u16 + L[i] as u16 + carry;
        out[32 + i] = v as u8;
        carry = v >> 8;
    }
    out
}

/// One way of spoiling an envelope's signature.
#[derive(Clone, Copy, Debug)]
enum Spoil {
    Keep,
    SignatureBit,
    PayloadBit,
    UnreducedS,
    /// The payload claims another origin than the key that signed it.
    OtherOrigin,
}

fn spoil(env: &Envelope, how: Spoil) -> Envelope {
    let mut e = env.clone();
    match how {
        Spoil::Keep => {}
        Spoil::SignatureBit => e.signature[3] ^= 0x10,
        Spoil::PayloadBit => {
            let pos = e.payload.windows(6).position(|w| w == b"Meetup").unwrap();
            e.payload[pos] ^= 0x20;
        }
        Spoil::UnreducedS => e.signature = unreduced(&e.signature),
        Spoil::OtherOrigin => e.payload[1..33].copy_from_slice(secret(9).public().as_bytes()),
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// Whatever mix of good and bad signatures a batch holds, each envelope gets the verdict it
    /// gets alone.
    #[test]
    fn batch_verdicts_are_the_single_verdicts(
        spoils in prop::collection::vec(
            prop::sample::select(vec![
                Spoil::Keep, Spoil::Keep, Spoil::Keep, Spoil::SignatureBit, Spoil::PayloadBit,
                Spoil::UnreducedS, Spoil::OtherOrigin,
            ]),
            1..40,
        ),
        seed in any::<u64>(),
    ) {
        let envs: Vec<Envelope> = spoils
            .iter()
            .enumerate()
            .map(|(n, how)| spoil(&envelope(&secret((n % 5) as u8), n), *how))
            .collect();
        let one_by_one: Vec<_> = envs.iter().map(single).collect();
        for (n, (how, verdict)) in spoils.iter().zip(&one_by_one).enumerate() {
            prop_assert_eq!(matches!(how, Spoil::Keep), verdict.is_ok(), "envelope {}", n);
        }
        prop_assert_eq!(batch(&envs, seed), one_by_one);
    }
}

#[test]
fn a_large_batch_with_one_forgery_finds_exactly_that_one() {
    let mut envs: Vec<Envelope> = (0..500)
        .map(|n| envelope(&secret((n % 7) as u8), n))
        .collect();
    envs[321] = spoil(&envs[321], Spoil::SignatureBit);
    let verdicts = batch(&envs, 1);
    let bad: Vec<usize> = (0..verdicts.len())
        .filter(|&i| verdicts[i].is_err())
        .collect();
    assert_eq!(bad, vec![321]);
    assert!(matches!(
        verdicts[321],
        Err(VerifyError::BadSignature { .. })
    ));
}

/// Signs `payload` as ZIP-215 allows but strict RFC 8032 verifiers refuse: R carries a
/// small-order component (`torsion` picks which), so only the cofactored equation holds.
fn sign_with_torsion(secret_seed: [u8; 32], payload: &[u8], torsion: usize) -> [u8; 64] {
    let key = ed25519_dalek::SigningKey::from_bytes(&secret_seed);
    let a = key.to_scalar();
    let public = key.verifying_key().to_bytes();
    let r = Scalar::from_bytes_mod_order_wide(&[7u8; 64]);
    let big_r = (r * ED25519_BASEPOINT_POINT + EIGHT_TORSION[torsion]).compress();
    let mut h = Sha512::new();
    h.update(big_r.as_bytes());
    h.update(public);
    h.update(SIGNING_CONTEXT);
    h.update(payload);
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(big_r.as_bytes());
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

#[test]
fn small_order_components_in_r_get_one_verdict_everywhere() {
    // This is where strict single verification and batch verification part ways; under
    // ZIP-215 both accept, so no node's verdict depends on how its input was batched.
    let seed = [1u8; 32];
    let origin = NodeSecret::from_seed_array(seed);
    let mut envs: Vec<Envelope> = (0..12).map(|n| envelope(&origin, n)).collect();
    for (i, t) in [(2usize, 1usize), (5, 4), (9, 6)] {
        envs[i].signature = sign_with_torsion(seed, &envs[i].payload, t);
        let strict = ed25519_dalek::VerifyingKey::from_bytes(origin.public().as_bytes())
            .unwrap()
            .verify_strict(
                &[SIGNING_CONTEXT, &envs[i].payload].concat(),
                &ed25519_dalek::Signature::from_bytes(&envs[i].signature),
            );
        assert!(strict.is_err(), "a strict verifier refuses it");
        assert_eq!(single(&envs[i]), Ok(()));
    }
    assert!(batch(&envs, 3).iter().all(Result::is_ok));
    // Someone else grafting a torsion point onto an honest R breaks the signature, alone or
    // in a batch: k changes with R.
    let mut grafted = envs[0].clone();
    let r =
        curve25519_dalek::edwards::CompressedEdwardsY(grafted.signature[..32].try_into().unwrap())
            .decompress()
            .unwrap();
    grafted.signature[..32].copy_from_slice((r + EIGHT_TORSION[1]).compress().as_bytes());
    envs[0] = grafted;
    assert!(matches!(
        single(&envs[0]),
        Err(VerifyError::BadSignature { .. })
    ));
    let verdicts = batch(&envs, 4);
    assert!(verdicts[0].is_err());
    assert!(verdicts[1..].iter().all(Result::is_ok));
}

#[test]
fn keys_must_be_canonical_and_not_of_small_order() {
    // The identity (y = 1) and the point of order 2 (y = -1) are small-order.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert!(matches!(
        NodeKey::from_bytes(identity),
        Err(KeyError::SmallOrder(_))
    ));
    for t in EIGHT_TORSION {
        assert!(matches!(
            NodeKey::from_bytes(t.compress().to_bytes()),
            Err(KeyError::SmallOrder(_))
        ));
    }
    // y and y + p name the same point; only the reduced spelling is a key. Find a small y on
    // the curve (and not of small order), then spell it unreduced.
    let mut found = 0;
    for y in 2u8..19 {
        let mut canonical = [0u8; 32];
        canonical[0] = y;
        if NodeKey::from_bytes(canonical).is_err() {
            continue;
        }
        let mut unreduced = [0xffu8; 32];
        unreduced[0] = 0xed + y;
        unreduced[31] = 0x7f;
        assert!(matches!(
            NodeKey::from_bytes(unreduced),
            Err(KeyError::NonCanonical(_))
        ));
        found += 1;
    }
    assert!(found > 0, "some y below 19 is on the curve");
    // Every real key is fine.
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for _ in 0..20 {
        let s = NodeSecret::from_seed_array(rng.gen());
        assert_eq!(NodeKey::from_bytes(*s.public().as_bytes()), Ok(s.public()));
    }
}

#[test]
fn a_batch_reports_an_unknown_version_as_such() {
    let origin = secret(0);
    let mut envs: Vec<Envelope> = (0..8).map(|n| envelope(&origin, n)).collect();
    let mut p: discal_protocol::SignedPayload =
        bincode::decode_from_slice(&envs[4].payload, bincode::config::standard())
            .unwrap()
            .0;
    p.version += 1;
    envs[4].payload = bincode::encode_to_vec(&p, bincode::config::standard()).unwrap();
    let verdicts = batch(&envs, 2);
    assert_eq!(verdicts[4], Err(VerifyError::Version(p.version)));
    assert_eq!(verdicts[4], single(&envs[4]));
    assert!(verdicts
        .iter()
        .enumerate()
        .all(|(i, v)| i == 4 || v.is_ok()));
}
