#!/usr/bin/env python3
"""Independent implementation of oauth2-proxy v7's Redis session store format, for cross-checks
against a real Redis server.

Written from oauth2-proxy v7.15.3's behaviour (pkg/sessions/persistence/ticket.go,
pkg/sessions/redis, pkg/encryption/cipher.go) as described in the shared reference note, not from
authproxy's Rust code:

    ticket id     = <cookie name> "-" hex(16 random bytes)          (the Redis key)
    ticket secret = 16 random bytes
    cookie value  = signed("v2." b64nopad(id) "." b64nopad(secret)) (the cookie store's signing)
    Redis value   = nonce(12) ++ AES-128-GCM(secret, msgpack(session), no AAD) ++ tag(16); no LZ4
    SET <id> <value> EX <cookie_expire seconds>

Commands (Redis at 127.0.0.1:PORT, RESP spoken over a plain socket):

    python3 oauth2_proxy_redis.py write --port P --secret S --name N --expire SECS --session JSON
        writes a session; prints {"cookie": ..., "ticket_id": ...}
    python3 oauth2_proxy_redis.py read --port P --secret S --name N --expire SECS --now T COOKIE
        prints {"session": ..., "ttl": ...} (the session in oauth2_proxy_vectors.py's comparable
        form), or exits 1 with REJECTED: reason

Session JSON (input): the comparable form of oauth2_proxy_vectors.session_expect, with
"created_at"/"expires_on" as [seconds, nanoseconds] or null.

Needs: pip install pycryptodome msgpack
"""

import base64
import json
import os
import secrets
import socket
import sys

import msgpack
from Crypto.Cipher import AES

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oauth2_proxy_vectors import (  # noqa: E402
    b64nopad, pack, secret_keys, session_expect, signed_value, ts, validate,
)


# --- a minimal RESP2 client -----------------------------------------------------------------

class Redis:
    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise IOError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise IOError("connection closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise IOError("redis error: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise IOError("bad reply %r" % line)

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()


# --- the format -----------------------------------------------------------------------------

def gcm_encrypt(key, plaintext):
    nonce = secrets.token_bytes(12)
    c = AES.new(key, AES.MODE_GCM, nonce=nonce)
    ct, tag = c.encrypt_and_digest(plaintext)
    return nonce + ct + tag


def gcm_decrypt(key, data):
    nonce, body, tag = data[:12], data[12:-16], data[-16:]
    return AES.new(key, AES.MODE_GCM, nonce=nonce).decrypt_and_verify(body, tag)


def b64nopad_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def encode_ticket(ticket_id, secret):
    return "v2.%s.%s" % (b64nopad(ticket_id.encode()), b64nopad(secret))


def decode_ticket(s):
    parts = s.split(".")
    if len(parts) == 3 and parts[0] == "v2":
        return b64nopad_decode(parts[1]).decode(), b64nopad_decode(parts[2])
    if len(parts) == 2:
        return parts[0], b64nopad_decode(parts[1])
    raise ValueError("not a ticket")


def session_map(s):
    """Go's msgpack of SessionState: struct order, omitempty."""
    m = {}

    def time_field(key, v):
        if v is not None:
            m[key] = ts(v[0], v[1])

    time_field("ca", s.get("created_at"))
    time_field("eo", s.get("expires_on"))
    for key, name in (("at", "access_token"), ("it", "id_token"), ("rt", "refresh_token")):
        if s.get(name):
            m[key] = s[name]
    if s.get("nonce_hex"):
        m["n"] = bytes.fromhex(s["nonce_hex"])
    for key, name in (("e", "email"), ("u", "user")):
        if s.get(name):
            m[key] = s[name]
    if s.get("groups"):
        m["g"] = s["groups"]
    if s.get("preferred_username"):
        m["pu"] = s["preferred_username"]
    if s.get("additional_claims"):
        m["ac"] = s["additional_claims"]
    return m


def write(port, secret, name, expire, session):
    _, hmac_key = secret_keys(secret)
    ticket_id = "%s-%s" % (name, secrets.token_bytes(16).hex())
    ticket_secret = secrets.token_bytes(16)
    value = gcm_encrypt(ticket_secret, pack(session_map(session)))
    r = Redis(port)
    if expire > 0:
        r.call("SET", ticket_id, value, "EX", expire)
    else:
        r.call("SET", ticket_id, value)
    created = session["created_at"][0]
    cookie = signed_value(hmac_key, name, encode_ticket(ticket_id, ticket_secret).encode(), created)
    return {"cookie": cookie, "ticket_id": ticket_id}


def read(port, secret, name, expire, now, cookie):
    _, hmac_key = secret_keys(secret)
    ticket_id, ticket_secret = decode_ticket(validate(cookie, hmac_key, name, now, expire).decode())
    if not ticket_id.startswith(name + "-"):
        raise ValueError("ticket id %r does not start with the cookie name" % ticket_id)
    r = Redis(port)
    value = r.call("GET", ticket_id)
    if value is None:
        raise ValueError("no session under %s" % ticket_id)
    m = msgpack.unpackb(gcm_decrypt(ticket_secret, value), raw=False, timestamp=0,
                        strict_map_key=False)
    return {"session": session_expect(m), "ttl": r.call("TTL", ticket_id)}


def main(argv):
    if len(argv) < 2 or argv[1] not in ("write", "read"):
        print(__doc__)
        return 2
    cmd = argv[1]
    rest = argv[2:] if cmd == "write" else argv[2:-1]
    opts = dict(zip(rest[0::2], rest[1::2]))
    try:
        port, secret, name = int(opts["--port"]), opts["--secret"], opts["--name"]
        expire = int(opts["--expire"])
        if cmd == "write":
            out = write(port, secret, name, expire, json.loads(opts["--session"]))
        else:
            out = read(port, secret, name, expire, int(opts["--now"]), argv[-1])
    except Exception as e:  # noqa: BLE001 - the caller shows the reason
        print("REJECTED: %s" % e)
        return 1
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
