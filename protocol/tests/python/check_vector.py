"""An independent encoder written from docs/protocol.md alone (no Rust code consulted): it
builds the test vector's payload from the spec's encoding rules and checks the bytes, the key's
text form, the EventId and the signature against the values the document states.

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
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("spec test vector: payload, key text form, EventId, envelope and signature agree")


if __name__ == "__main__":
    main()
