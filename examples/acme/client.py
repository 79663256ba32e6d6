"""ACME RPC example client: one call (or --count calls, --pipeline at a
time on one connection) and one JSON line per answer.

  client.py --addr 127.0.0.1:12300 --service acme.Echo:1.0 --method echo \
      --header tenant=t1 --body hello --count 10 --pipeline 5
"""
import argparse
import json
import time
import sys

import acme


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", default="127.0.0.1:12300")
    ap.add_argument("--service", default="acme.Echo:1.0")
    ap.add_argument("--method", default="echo")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--body", default="hello")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--oneway", action="store_true")
    ap.add_argument("--ping", action="store_true")
    ap.add_argument("--timeout-ms", type=int, default=0)
    a = ap.parse_args()
    sock = acme.connect(a.addr)
    reader = acme.Reader(sock)
    headers = [tuple(h.split("=", 1)) for h in a.header]
    sent, done, want = 0, 0, {}
    while done < a.count:
        while sent < a.count and sent - done < a.pipeline:
            sent += 1
            kind = acme.PING if a.ping else acme.ONEWAY if a.oneway else acme.REQUEST
            body = a.body.replace("{n}", str(sent)).encode()
            want[sent] = body
            sock.sendall(acme.Frame(kind, sent, 0, a.service, a.method, headers, body, a.timeout_ms).encode())
        if a.oneway:
            done = sent
            # MOSN resets the streams of a connection that closes, oneway
            # requests not yet forwarded included: stay a moment, as a
            # long-lived client would.
            time.sleep(0.3)
            continue
        f = reader.read()
        if f is None:
            print(json.dumps({"error": "connection closed"}))
            return 1
        done += 1
        out = {"id": f.id, "kind": f.kind, "status": f.status, "headers": dict(f.headers), "body": f.body.decode(errors="replace")}
        if f.id in want and f.status == 0 and not a.ping and a.method == "echo":
            out["own"] = f.body == want[f.id]
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
