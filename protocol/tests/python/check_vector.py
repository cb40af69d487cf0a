"""An independent encoder written from docs/protocol.md alone (no Rust code consulted): it
builds the test vectors' payloads from the spec's encoding rules and checks the bytes, the key's
text form, the EventId and the signatures against the values the document states: the event of
§9 and the proposal and receipt of §12.5.

Run: python3 protocol/tests/python/check_vector.py  (needs the `cryptography` package for the
signature check; .ci/run installs it into a local venv).
"""
import hashlib
import struct
import sys

# --- §2 encoding rules -------------------------------------------------------------------


def uvarint(n):
    if n < 251:
        return bytes([n])
    if n < 2**16:
        return b"\xfb" + struct.pack("<H", n)
    if n < 2**32:
        return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)


def ivarint(n):
    # zigzag: Python's >> on a negative int sign-extends, as the 64-bit formula expects.
    return uvarint((n << 1) ^ (n >> 63))


def u8(n):
    return bytes([n])


def string(s):
    b = s.encode("utf-8")
    return uvarint(len(b)) + b


def none():
    return b"\x00"


def some(b):
    return b"\x01" + b


def vec(items):
    return uvarint(len(items)) + b"".join(items)


def variant(i, fields=b""):
    return uvarint(i) + fields


# --- §1 text form of a key -----------------------------------------------------------------

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    return "1" * (len(b) - len(b.lstrip(b"\x00"))) + out


# --- §9 the vector -------------------------------------------------------------------------

SEED = bytes(range(32))
PUBKEY = bytes.fromhex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
TEXT = "12D3KooWA4Xop1JaT3MHxwYMkCepYsv4iPVopMXwCz5iHYdBfeSB"
PAYLOAD_HEX = (
    "0103a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b817766563746f722d3140646973"
    "63616c2e6578616d706c6501fd00d8a088410300000001114f70656e20536f75726365204e696768740003fbd40f"
    "0c03121e000d4575726f70652f4265726c696e0101000000fb201c00000000000001056c696e757800000000000000"
)
SIGNATURE_HEX = (
    "be9f2553333e50972f20b29a8e9feaba4820f1d15b6ee31b4579adad878e228d"
    "51978d412b0639ea1bae1733c6dcf819badc27b985c0e832d96bc20cff9bb202"
)
EVENT_ID_HEX = "b5c1c3ae560fd18ee82f61f05da0c2893afcb1c3d3310f06f5ed33e71f0a6082"


def date(y, m, d):
    return ivarint(y) + u8(m) + u8(d)


def local(y, mo, d, h, mi, s):
    return date(y, mo, d) + u8(h) + u8(mi) + u8(s)


def component():
    start = variant(3, local(2026, 12, 3, 18, 30, 0) + string("Europe/Berlin"))
    duration = u8(0) + uvarint(0) + uvarint(0) + uvarint(7200)
    return b"".join(
        [
            none(),  # recurrence_id
            some(string("Open Source Night")),  # summary
            none(),  # description
            start,
            some(variant(1, duration)),  # end: Duration
            none(),  # rrule
            vec([]),  # rdates
            vec([]),  # exdates
            none(),  # location
            none(),  # geo
            none(),  # url
            vec([string("linux")]),  # categories
            none(),  # status
            none(),  # organizer
            uvarint(0),  # sequence
            none(),  # dtstamp
            none(),  # revise_url
            vec([]),  # extra
        ]
    )


def payload():
    content = component() + vec([])  # master, overrides
    return (
        u8(1)
        + PUBKEY
        + string("vector-1@discal.example")
        + uvarint(1)
        + ivarint(1_790_000_000_000)
        + content
    )


# --- §12.5 the proposal and receipt vector ---------------------------------------------------

PROPOSER_SEED = bytes(range(0x20, 0x40))
PROPOSER = bytes.fromhex("29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd7")
PROPOSAL_HEX = (
    "01000102030405060708090a0b0c0d0e0f29acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc93"
    "22966dd703a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b817766563746f722d31"
    "4064697363616c2e6578616d706c650100010753554d4d415259011953554d4d4152593a4f70656e20536f7572"
    "6365204e69676874012253554d4d4152593a4f70656e20536f75726365204e696768742028726f6f6d20322903"
    "416e61fd8027b38841030000"
)
PROPOSAL_SIG_HEX = (
    "1620e3844f70d8a8191c8680e10c1f9c45b757ca7ccf263f8a6998e28e95beed"
    "8889d4e16a20ebacf3b477cc592f59f122af3d30c00f48ae7016e9c6e6b6d20d"
)
RECEIPT_HEX = (
    "01000102030405060708090a0b0c0d0e0f03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc86641255"
    "31b829acbae141bccaf0b22e1a94d34d0bc7361e526d0bfe12c89794bc9322966dd717766563746f722d314064"
    "697363616c2e6578616d706c650002fd40fcb48841030000"
)
RECEIPT_SIG_HEX = (
    "e678e9a7027490e0e8d0b84401dc8390d92b0248caf3d85eb3f9e4234bd42c05"
    "0145b6c953539145a630f0b0495b6a27884ecb1bde1a7e878d8869b45f254702"
)
PROPOSAL_ID = bytes(range(16))
UID = "vector-1@discal.example"


def proposal():
    change = variant(
        0,
        vec(
            [
                string("SUMMARY")
                + vec([string("SUMMARY:Open Source Night")])
                + vec([string("SUMMARY:Open Source Night (room 2)")])
            ]
        ),
    )
    return (
        u8(1)
        + PROPOSAL_ID
        + PROPOSER
        + PUBKEY
        + string(UID)
        + uvarint(1)
        + change
        + string("Ana")
        + ivarint(1_790_000_600_000)
    )


def receipt():
    accepted = variant(0, uvarint(2))
    return u8(1) + PROPOSAL_ID + PUBKEY + PROPOSER + string(UID) + accepted + ivarint(1_790_000_660_000)


def check_proposals(failures, sk_origin, keys):
    Ed25519PrivateKey, Ed25519PublicKey = keys
    sk = Ed25519PrivateKey.from_private_bytes(PROPOSER_SEED)
    if sk.public_key().public_bytes_raw() != PROPOSER:
        failures.append("the proposer's seed does not give the documented key")
    for name, built, doc, signer, context, sig in [
        ("proposal", proposal(), PROPOSAL_HEX, sk, b"DISCAL-PROPOSAL-V1\x00", PROPOSAL_SIG_HEX),
        ("receipt", receipt(), RECEIPT_HEX, sk_origin, b"DISCAL-RECEIPT-V1\x00", RECEIPT_SIG_HEX),
    ]:
        if built.hex() != doc:
            failures.append(f"{name} differs:\n  spec-built {built.hex()}\n  documented {doc}")
        if signer.sign(context + built).hex() != sig:
            failures.append(f"{name} signature differs")


def main():
    failures = []
    p = payload()
    if p.hex() != PAYLOAD_HEX:
        failures.append(f"payload differs:\n  spec-built {p.hex()}\n  documented {PAYLOAD_HEX}")
    text = base58(bytes.fromhex("002408011220") + PUBKEY)
    if text != TEXT:
        failures.append(f"key text form {text} != {TEXT}")
    if hashlib.sha256(p).hexdigest() != EVENT_ID_HEX:
        failures.append("EventId differs")
    envelope = uvarint(len(p)) + p + bytes.fromhex(SIGNATURE_HEX)
    if len(envelope) != 204:
        failures.append(f"envelope is {len(envelope)} bytes, spec says 204")
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import (
            Ed25519PrivateKey,
            Ed25519PublicKey,
        )
    except ImportError:
        print("cryptography not installed: signature not checked", file=sys.stderr)
        sys.exit(2)
    sk = Ed25519PrivateKey.from_private_bytes(SEED)
    raw = sk.public_key().public_bytes_raw()
    if raw != PUBKEY:
        failures.append("seed does not give the documented public key")
    msg = b"DISCAL-EVENT-V1\x00" + p
    if sk.sign(msg).hex() != SIGNATURE_HEX:
        failures.append("signature differs (Ed25519 is deterministic)")
    Ed25519PublicKey.from_public_bytes(PUBKEY).verify(bytes.fromhex(SIGNATURE_HEX), msg)
    check_proposals(failures, sk, (Ed25519PrivateKey, Ed25519PublicKey))
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(
        "spec test vectors: payload, key text form, EventId, envelope and signature agree (§9); "
        "proposal and receipt bytes and signatures agree (§12.5)"
    )


if __name__ == "__main__":
    main()
