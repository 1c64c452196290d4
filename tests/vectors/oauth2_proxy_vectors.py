#!/usr/bin/env python3
"""Independent implementation of oauth2-proxy v7's cookie wire formats, for test vectors.

Written from the format description (docs: shared reference "oauth2-proxy wire formats"), not
from authproxy's Rust code, so that the two implementations check each other.

    python3 oauth2_proxy_vectors.py generate [OUT.json]     # write the fixture (deterministic)
    python3 oauth2_proxy_vectors.py verify-session --secret S --name N --expire SECS --now T VALUE
    python3 oauth2_proxy_vectors.py verify-csrf    --secret S --name N --expire SECS --now T VALUE
    python3 oauth2_proxy_vectors.py check-rust FILE.json    # verify values authproxy wrote

Needs: pip install pycryptodome lz4 msgpack
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import sys

import lz4.frame
import msgpack
from Crypto.Cipher import AES

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "oauth2_proxy_vectors.json")
MAX_COOKIE_LENGTH = 4000


# --- secret ---------------------------------------------------------------------------------

def secret_keys(secret):
    """(aes_key, hmac_key) of a configured secret string (oauth2-proxy's SecretBytes)."""
    trimmed = secret.rstrip("=")
    aes_key = secret.encode()
    try:
        pad = "=" * (-len(trimmed) % 4)
        alphabet_ok = all(c.isalnum() or c in "-_" for c in trimmed)
        decoded = base64.urlsafe_b64decode(trimmed + pad) if alphabet_ok else b""
        if len(decoded) in (16, 24, 32):
            aes_key = decoded
    except Exception:
        pass
    return aes_key, secret.encode()


# --- signed value ---------------------------------------------------------------------------

def b64(data):
    return base64.urlsafe_b64encode(data).decode()


def b64nopad(data):
    return b64(data).rstrip("=")


def signed_value(hmac_key, name, payload, ts):
    enc = b64(payload)
    ts = str(ts)
    sig = hmac.new(hmac_key, (name + enc + ts).encode(), hashlib.sha256).digest()
    return "%s|%s|%s" % (enc, ts, b64(sig))


def validate(value, hmac_key, name, now, expire):
    parts = value.split("|")
    if len(parts) != 3:
        raise ValueError("not three parts")
    enc, ts, sig = parts
    expected = hmac.new(hmac_key, (name + enc + ts).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(base64.urlsafe_b64decode(sig), expected):
        raise ValueError("bad signature")
    ts = int(ts)
    if expire and not (now - expire < ts):
        raise ValueError("expired")
    if not ts < now + 300:
        raise ValueError("from the future")
    return base64.urlsafe_b64decode(enc)


# --- cipher, compression --------------------------------------------------------------------

def cfb_encrypt(key, iv, data):
    return iv + AES.new(key, AES.MODE_CFB, iv=iv, segment_size=128).encrypt(data)


def cfb_decrypt(key, data):
    if len(data) < 16:
        raise ValueError("shorter than IV")
    return AES.new(key, AES.MODE_CFB, iv=data[:16], segment_size=128).decrypt(data[16:])


def lz4_frame(data, linked=False):
    return lz4.frame.compress(
        data,
        block_size=lz4.frame.BLOCKSIZE_MAX64KB,
        content_checksum=True,
        block_linked=linked,
        store_size=False,
    )


# --- msgpack --------------------------------------------------------------------------------

def ts(secs, nanos=0):
    return msgpack.Timestamp(secs, nanos)


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True, datetime=False)


def raw_map(pairs):
    """A msgpack map from (key, already-packed value bytes) pairs, to control value encodings."""
    out = bytearray()
    n = len(pairs)
    out += bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
    for k, v in pairs:
        out += pack(k) + v
    return bytes(out)


def jsonable(v):
    if isinstance(v, msgpack.Timestamp):
        return [v.seconds, v.nanoseconds]
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def time_of(v):
    if v is None:
        return None
    if isinstance(v, msgpack.Timestamp):
        return [v.seconds, v.nanoseconds]
    if isinstance(v, list) and len(v) == 2:  # vmihailenco legacy [secs, nanos]
        secs, nanos = v
        return [secs + nanos // 10**9, nanos % 10**9]
    raise ValueError("bad timestamp %r" % (v,))


LONG = 2000


def compact(v):
    """Strings longer than LONG characters are compared by digest, to keep the fixture small."""
    if isinstance(v, str) and len(v) > LONG:
        return "sha256:" + hashlib.sha256(v.encode()).hexdigest()
    if isinstance(v, dict):
        return {k: compact(x) for k, x in v.items()}
    if isinstance(v, list):
        return [compact(x) for x in v]
    return v


def session_expect(m):
    """The comparable form of a decoded session map."""
    return compact({
        "created_at": time_of(m.get("ca")),
        "expires_on": time_of(m.get("eo")),
        "access_token": m.get("at") or "",
        "id_token": m.get("it") or "",
        "refresh_token": m.get("rt") or "",
        "nonce_hex": (m.get("n") or b"").hex(),
        "email": m.get("e") or "",
        "user": m.get("u") or "",
        "groups": m.get("g") or [],
        "preferred_username": m.get("pu") or "",
        "additional_claims": jsonable(m.get("ac") or {}),
    })


def decode_session(value, secret, name, now, expire):
    aes_key, hmac_key = secret_keys(secret)
    payload = validate(value, hmac_key, name, now, expire)
    packed = lz4.frame.decompress(cfb_decrypt(aes_key, payload))
    m = msgpack.unpackb(packed, raw=False, timestamp=0, strict_map_key=False)
    return session_expect(m)


def decode_csrf(value, secret, name, now, expire):
    aes_key, hmac_key = secret_keys(secret)
    payload = validate(value, hmac_key, name, now, expire)
    m = msgpack.unpackb(cfb_decrypt(aes_key, payload), raw=False)
    return {
        "state_nonce_hex": m["s"].hex(),
        "oidc_nonce_hex": m["n"].hex(),
        "code_verifier": m.get("cv", ""),
    }


# --- Go's Set-Cookie string and splitting ---------------------------------------------------

def go_cookie_string(name, value, c):
    s = "%s=%s" % (name, value)
    if c.get("path"):
        s += "; Path=" + c["path"]
    if c.get("domain"):
        s += "; Domain=" + c["domain"].lstrip(".")
    if c.get("max_age", 0) > 0:
        s += "; Max-Age=%d" % c["max_age"]
    if c.get("httponly"):
        s += "; HttpOnly"
    if c.get("secure"):
        s += "; Secure"
    if c.get("samesite"):
        s += "; SameSite=" + c["samesite"]
    return s


def go_split(name, value, c):
    if len(go_cookie_string(name, value, c)) <= MAX_COOKIE_LENGTH:
        return [[name, value]]
    out, rest, i = [], value, 0
    while rest:
        chunk_name = "%s_%d" % (name, i)
        i += 1
        length = len(go_cookie_string(chunk_name, rest, c))
        if length <= MAX_COOKIE_LENGTH:
            out.append([chunk_name, rest])
            rest = ""
        else:
            size = len(rest) - (length - MAX_COOKIE_LENGTH)
            out.append([chunk_name, rest[:size]])
            rest = rest[size:]
    return out


# --- vector generation ----------------------------------------------------------------------

def iv_for(label):
    return hashlib.sha256(b"iv/" + label.encode()).digest()[:16]


def det_bytes(label, n):
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(("%s/%d" % (label, i)).encode()).digest()
        i += 1
    return out[:n]


NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
WEEK = 7 * 24 * 3600
SECRET_256 = b64(det_bytes("secret256", 32))            # 44 chars, with "=" padding
SECRET_192 = b64nopad(det_bytes("secret192", 24))       # 32 chars
SECRET_128_RAW = "0123456789abcdef"                     # used as raw bytes
SECRET_RAW_32 = "this-secret-is-32-bytes-long!!!!"      # not base64 of 16/24/32 bytes


def session_case(label, secret, packed, created, linked=False, name="_oauth2_proxy",
                 expire=WEEK, now=NOW):
    aes_key, hmac_key = secret_keys(secret)
    payload = cfb_encrypt(aes_key, iv_for(label), lz4_frame(packed, linked))
    value = signed_value(hmac_key, name, payload, created)
    m = msgpack.unpackb(packed, raw=False, timestamp=0, strict_map_key=False)
    return {
        "label": label,
        "secret": secret,
        "cookie_name": name,
        "expire_secs": expire,
        "now": now,
        "value": value,
        "expect": session_expect(m),
    }


def generate():
    created = NOW - 3600
    token = lambda label, n: b64nopad(det_bytes(label, n))
    sessions = []

    full = {
        "ca": ts(created, 123_456_789),   # 8-byte form
        "eo": ts(created + 3600),         # 4-byte form
        "at": token("at", 600),
        "it": "eyJhbGciOiJSUzI1NiJ9." + token("it", 700) + "." + token("sig", 256),
        "rt": token("rt", 64),
        "n": det_bytes("nonce", 32),
        "e": "alice@example.com",
        "u": "alice",
        "g": ["admins", "dev-team", "group with spaces"],
        "pu": "Alice Example",
        "ac": {"tenant": "acme", "roles": ["reader", "writer"], "level": 5},
    }
    sessions.append(session_case("full_aes256", SECRET_256, pack(full), created))

    minimal = {"ca": ts(created), "e": "bob@example.org", "u": "bob"}
    sessions.append(session_case("minimal_aes128_raw_secret", SECRET_128_RAW, pack(minimal), created))
    sessions.append(session_case("aes192_secret", SECRET_192, pack(minimal), created))
    sessions.append(session_case("raw_32_byte_secret", SECRET_RAW_32, pack(minimal), created))

    # 12-byte timestamp (seconds beyond 34 bits), unknown keys that must be ignored.
    twelve = {
        "ca": ts(created, 5),
        "eo": ts(20_000_000_000, 999_999_999),
        "e": "carol@example.com",
        "zz": {"future": [1, 2, 3]},
        "x": 42,
    }
    sessions.append(session_case("timestamp_12_byte_and_unknown_keys", SECRET_256, pack(twelve), created))

    # Legacy [secs, nanos] array timestamp and non-minimal integer widths.
    legacy = raw_map([
        ("ca", b"\x92" + b"\xcf" + struct.pack(">Q", created) + b"\xd2" + struct.pack(">i", 7)),
        ("eo", b"\xd7\xff" + struct.pack(">Q", (1 << 34) - 1)),  # 8-byte form, max seconds
        ("e", pack("dave@example.com")),
        ("ac", raw_map([
            ("wide_u64", b"\xcf" + struct.pack(">Q", 5)),
            ("wide_i64", b"\xd3" + struct.pack(">q", -5)),
            ("wide_u16", b"\xcd" + struct.pack(">H", 300)),
        ])),
        ("n", b"\xc4\x20" + det_bytes("nonce2", 32)),
    ])
    sessions.append(session_case("legacy_array_timestamp_and_wide_ints", SECRET_256, legacy, created))

    # Larger than one 64 KiB LZ4 block, linked blocks (python-lz4's default mode).
    big = {"ca": ts(created), "it": ("header." + "claims-" * 20000 + ".sig"), "e": "erin@example.com"}
    sessions.append(session_case("multi_block_linked_lz4", SECRET_256, pack(big), created, linked=True))

    # Split into chunks: incompressible tokens, Go's Set-Cookie string and split.
    chunky = {"ca": ts(created), "at": token("big-at", 3000), "it": token("big-it", 3000),
              "e": "frank@example.com"}
    case = session_case("chunked", SECRET_256, pack(chunky), created)
    attrs = {"path": "/", "domain": ".example.com", "max_age": WEEK, "httponly": True,
             "secure": True, "samesite": "Lax"}
    case["cookie"] = attrs
    case["chunks"] = go_split("_oauth2_proxy", case["value"], attrs)
    sessions.append(case)

    # Values that must be refused.
    good = sessions[0]
    rejects = []
    v = good["value"]
    flipped = v[:-5] + ("A" if v[-5] != "A" else "B") + v[-4:]
    rejects.append(dict(good, label="tampered_signature", value=flipped, error="BadSignature"))
    rejects.append(dict(good, label="wrong_cookie_name", cookie_name="_other", error="BadSignature"))
    rejects.append(dict(good, label="expired", now=created + WEEK, error="Expired"))
    rejects.append(dict(good, label="from_the_future", now=created - 301, error="IssuedInFuture"))
    other = b64(det_bytes("other-secret", 32))
    rejects.append(dict(good, label="other_secret", secret=other, error="BadSignature"))
    for r in rejects:
        r.pop("expect", None)

    # CSRF cookies.
    csrf = []
    for label, secret, cv in [("csrf_with_pkce", SECRET_256, token("cv", 96)),
                              ("csrf_without_pkce", SECRET_128_RAW, None)]:
        aes_key, hmac_key = secret_keys(secret)
        s_nonce, o_nonce = det_bytes(label + "/s", 32), det_bytes(label + "/n", 32)
        m = {"s": s_nonce, "n": o_nonce}
        if cv:
            m["cv"] = cv
        name = "_oauth2_proxy_csrf"
        value = signed_value(hmac_key, name, cfb_encrypt(aes_key, iv_for(label), pack(m)), NOW - 60)
        sha = b64nopad(hashlib.sha256(s_nonce).digest())
        blake = b64nopad(hashlib.blake2b(s_nonce, digest_size=32).digest())
        rd = "https://app.example.com/some/path?q=1&r=2"
        csrf.append({
            "label": label,
            "secret": secret,
            "cookie_name": name,
            "expire_secs": 900,
            "now": NOW,
            "value": value,
            "expect": {"state_nonce_hex": s_nonce.hex(), "oidc_nonce_hex": o_nonce.hex(),
                       "code_verifier": cv or ""},
            "hashed_state": sha,
            "hashed_nonce": b64nopad(hashlib.sha256(o_nonce).digest()),
            "code_challenge": b64nopad(hashlib.sha256(cv.encode()).digest()) if cv else None,
            "per_request_cookie_name": "_oauth2_proxy_%s_csrf" % sha[:8],
            "states": [
                {"state": "%s:%s" % (sha, rd), "return_url": rd},
                {"state": b64nopad(("%s:%s" % (sha, rd)).encode()), "return_url": rd},
                {"state": "%s:%s" % (blake, rd), "return_url": rd},
            ],
        })

    return {
        "comment": "Generated by oauth2_proxy_vectors.py; do not edit by hand.",
        "sessions": sessions,
        "rejects": rejects,
        "csrf": csrf,
    }


# --- checking values written by authproxy ---------------------------------------------------

def check_rust(path):
    with open(path) as f:
        data = json.load(f)
    failures = 0
    for case in data.get("sessions", []):
        try:
            got = decode_session(case["value"], case["secret"], case["cookie_name"],
                                 case["now"], case["expire_secs"])
            if got != case["expect"]:
                raise ValueError("decoded %r, expected %r" % (got, case["expect"]))
            if "chunks" in case:
                joined = "".join(v for _, v in case["chunks"])
                if joined != case["value"]:
                    raise ValueError("chunks do not reassemble the value")
                expected = go_split(case["cookie_name"], case["value"], case["cookie"])
                if expected != case["chunks"]:
                    raise ValueError("chunks differ from Go's split: %r" %
                                     ([(n, len(v)) for n, v in expected],))
        except Exception as e:  # noqa: BLE001 - report every failing case
            failures += 1
            print("FAIL session %s: %s" % (case.get("label"), e))
    for case in data.get("csrf", []):
        try:
            got = decode_csrf(case["value"], case["secret"], case["cookie_name"],
                              case["now"], case["expire_secs"])
            if got != case["expect"]:
                raise ValueError("decoded %r, expected %r" % (got, case["expect"]))
        except Exception as e:  # noqa: BLE001
            failures += 1
            print("FAIL csrf %s: %s" % (case.get("label"), e))
    total = len(data.get("sessions", [])) + len(data.get("csrf", []))
    print("%d of %d values accepted" % (total - failures, total))
    return 1 if failures else 0


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    cmd = argv[1]
    if cmd == "generate":
        out = argv[2] if len(argv) > 2 else DEFAULT_OUT
        with open(out, "w") as f:
            json.dump(generate(), f, indent=1, sort_keys=True)
            f.write("\n")
        return 0
    if cmd == "check-rust":
        return check_rust(argv[2])
    if cmd in ("verify-session", "verify-csrf"):
        opts = dict(zip(argv[2:-1:2], argv[3:-1:2]))
        value = argv[-1]
        fn = decode_session if cmd == "verify-session" else decode_csrf
        try:
            got = fn(value, opts["--secret"], opts["--name"], int(opts["--now"]),
                     int(opts["--expire"]))
        except Exception as e:  # noqa: BLE001
            print("REJECTED: %s" % e)
            return 1
        print(json.dumps(got, indent=1, sort_keys=True))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
