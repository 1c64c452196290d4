#!/usr/bin/env python3
"""Independent implementation of oauth2-proxy's GAP-Signature (signature_key), for checks.

Written from the description of oauth2-proxy v7's request signature (its hmacauth package):
the string to sign is the method, then one line per signed header (values joined with ","),
then the percent-decoded path with "?" and the raw query when there is one, each line ended by
"\\n"; the request body follows; the header is "<algorithm> <base64 HMAC>". Not derived from
authproxy's Rust code, so the two check each other.

    python3 gap_signature.py vectors OUTDIR         # the unit-test vectors (deterministic)
    python3 gap_signature.py serve --port P --key ALG:SECRET
        # an upstream that verifies every request it gets and answers JSON:
        # {"match": bool, "signature": sent, "expected": computed, "gap_auth": ..., ...}

Standard library only.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import urllib.parse

SIGNED = [
    "Content-Length",
    "Content-Md5",
    "Content-Type",
    "Date",
    "Authorization",
    "X-Forwarded-User",
    "X-Forwarded-Email",
    "X-Forwarded-Preferred-User",
    "X-Forwarded-Access-Token",
    "Cookie",
    "Gap-Auth",
]

ALGORITHMS = {
    "md5": hashlib.md5,
    "sha1": hashlib.sha1,
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}


def string_to_sign(method, header_values, target):
    """header_values(name) -> list of bytes values; target: the raw request target."""
    path, sep, query = target.partition("?")
    lines = [method.encode()]
    for name in SIGNED:
        lines.append(b",".join(header_values(name)))
    line = urllib.parse.unquote_to_bytes(path)
    if sep and query:
        line += b"?" + query.encode("latin-1")
    lines.append(line)
    return b"\n".join(lines) + b"\n"


def signature(algorithm, secret, data):
    mac = hmac.new(secret.encode(), data, ALGORITHMS[algorithm]).digest()
    return algorithm + " " + base64.b64encode(mac).decode()


def write_vectors(outdir):
    headers = {
        "Content-Length": [b"11"],
        "Content-Type": [b"text/plain"],
        "X-Forwarded-User": [b"alice"],
        "X-Forwarded-Email": [b"alice@example.com"],
        "Gap-Auth": [b"alice@example.com"],
    }
    data = string_to_sign("POST", lambda n: headers.get(n, []), "/upload/a%2Fb?q=1;x=2")
    data += b"hello world"
    for alg in ["sha256", "sha1", "md5", "sha512"]:
        with open(os.path.join(outdir, f"gap_signature.{alg}.txt"), "w") as f:
            f.write(signature(alg, "s3cr3t", data) + "\n")


def read_body(handler):
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        out = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def serve(port, key):
    algorithm, secret = key.split(":", 1)

    class Verifier(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self):
            body = read_body(self)

            def values(name):
                return [v.encode("latin-1") for v in (self.headers.get_all(name) or [])]

            data = string_to_sign(self.command, values, self.path) + body
            sent = self.headers.get("GAP-Signature") or ""
            expected = signature(algorithm, secret, data)
            reply = json.dumps(
                {
                    "match": hmac.compare_digest(sent, expected),
                    "signature": sent,
                    "expected": expected,
                    "gap_auth": self.headers.get_all("GAP-Auth"),
                    "target": self.path,
                    "body_len": len(body),
                    "string_to_sign": data[: len(data) - len(body)].decode("latin-1"),
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Verifier)
    print("ready", flush=True)
    server.serve_forever()


def main(argv):
    if len(argv) == 3 and argv[1] == "vectors":
        write_vectors(argv[2])
    elif len(argv) == 6 and argv[1] == "serve" and argv[2] == "--port" and argv[4] == "--key":
        serve(int(argv[3]), argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
