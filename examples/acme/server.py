"""ACME RPC example server.

  server.py --listen 127.0.0.1:12301 --name s1

Methods of any service: echo (answers the body, and every request header
back as a response header), fail (status 1, header error), sleep (sleeps
the body's seconds, then answers), log (oneway: counted, never answered;
"count" answers how many). Every answer carries served-by and the
service the server saw. Requests on one connection are answered as each
finishes, so answers come back out of order when some are slow.
"""
import argparse
import socketserver
import threading
import time

import acme

oneways = 0
lock = threading.Lock()


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        global oneways
        reader, wlock = acme.Reader(self.request), threading.Lock()

        def send(f):
            with wlock:
                self.request.sendall(f.encode())

        while True:
            f = reader.read()
            if f is None:
                return
            if f.kind == acme.PING:
                send(acme.Frame(acme.PONG, f.id))
            elif f.kind == acme.ONEWAY:
                with lock:
                    oneways += 1
            elif f.kind == acme.REQUEST:
                threading.Thread(target=self.answer, args=(f, send), daemon=True).start()

    def answer(self, f, send):
        hs = [("served-by", NAME), ("service", f.service), ("method", f.method)] + [("req-" + k, v) for k, v in f.headers]
        if f.method == "fail":
            send(acme.Frame(acme.RESPONSE, f.id, 1, headers=hs + [("error", "it failed")]))
            return
        if f.method == "sleep":
            time.sleep(float(f.body or b"1"))
        body = f.body
        if f.method == "count":
            body = str(oneways).encode()
        send(acme.Frame(acme.RESPONSE, f.id, 0, headers=hs, body=body))


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:12301")
    ap.add_argument("--name", default="s1")
    a = ap.parse_args()
    NAME = a.name
    host, port = a.listen.rsplit(":", 1)
    with Server((host, int(port)), Handler) as srv:
        print("ready: acme server", NAME, "on", a.listen, flush=True)
        srv.serve_forever()
