#!/usr/bin/python3
"""Direct (no proxy) interop smoke test of the demo Thrift peers.

Starts bin/server for every transport/protocol (with and without -multiplex)
and runs bin/client (Go) and client.py (python3-thrift) against it for
greet/echo/notify/sleepMs/add/divide and the error cases, checking the JSON
lines. Prints a matrix and exits 1 on any failure.

    make build && /usr/bin/python3 smoke.py [-v]
"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "bin", "server")
GO_CLIENT = os.path.join(HERE, "bin", "client")
PY_CLIENT = [sys.executable if sys.executable.startswith("/usr/bin/") else "/usr/bin/python3",
             os.path.join(HERE, "client.py")]
VERBOSE = "-v" in sys.argv

failures = []
matrix = {}


class Server:
    def __init__(self, transport, protocol, multiplex, instance):
        args = [SERVER, "-addr", "127.0.0.1:0", "-transport", transport, "-protocol", protocol,
                "-instance", instance, "-version", "v9"]
        if multiplex:
            args.append("-multiplex")
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().split()
        assert line and line[0] == "ready", line
        self.addr = line[1]

    def stop(self):
        self.p.terminate()
        try:
            rc = self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = "killed"
        self.stderr = self.p.stderr.read()
        return rc


def run_client(lib, addr, transport, protocol, method, name="world", multiplex=False, service=None,
               headers=(), strict=True, extra=()):
    if lib == "go":
        args = [GO_CLIENT, "-addr", addr, "-transport", transport, "-protocol", protocol,
                "-method", method, "-name", name, "-timeout", "3s"]
        if multiplex:
            args.append("-multiplex")
        if service:
            args += ["-service", service]
        for h in headers:
            args += ["-header", h]
        if not strict:
            args.append("-binary-strict=false")
    else:
        args = PY_CLIENT + ["--addr", addr, "--transport", transport, "--protocol", protocol,
                            "--method", method, "--name", name, "--timeout", "3"]
        if multiplex:
            args.append("--multiplex")
        if service:
            args += ["--service", service]
        for h in headers:
            args += ["--header", h]
        if not strict:
            args += ["--binary-strict", "false"]
    args += list(extra)
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    return p.returncode, lines, p.stderr


def check(label, cond, detail):
    if not cond:
        failures.append("%s: %s" % (label, detail))
        print("FAIL", label, detail)
    elif VERBOSE:
        print("ok  ", label)
    return cond


def combo_cases(lib, srv, inst, ctransport, cprotocol, multiplex, strict=True):
    """Run the standard cases; return True when all passed."""
    label = "%s %s/%s%s%s -> %s" % (lib, ctransport, cprotocol, "" if strict else "(nonstrict)",
                                     " mux" if multiplex else "", srv.desc)
    ok = True
    hdrs = ("x-tag=gray", "tenant=t1") if ctransport == "header" else ()
    kw = dict(multiplex=multiplex, headers=hdrs, strict=strict)

    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "greet", name="alice", extra=["-n", "3"], **kw)
    ok &= check(label + " greet", rc == 0 and len(l) == 3 and all(x["ok"] for x in l)
                and l[0]["message"] == "hello alice" and l[0]["instance"] == inst and l[0]["version"] == "v9",
                (rc, l, err))
    if ok and srv.transport == "header" and ctransport == "header":
        ok &= check(label + " headers reach server", l[0]["headers"].get("x-tag") == "gray"
                    and l[0]["headers"].get("tenant") == "t1"
                    and all(x["reply_headers"].get("x-served-by") == inst for x in l), l)
    before = int(l[-1]["headers"]["x-notify-count"]) if ok else 0

    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "echo", name="ping-pong", **kw)
    ok &= check(label + " echo", rc == 0 and l[0]["ok"] and l[0]["message"] == "ping-pong", (rc, l, err))

    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "notify", name="n1", **kw)
    ok &= check(label + " notify", rc == 0 and l[0]["ok"], (rc, l, err))
    time.sleep(0.1)
    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "greet", **kw)
    ok &= check(label + " notify counted", rc == 0 and int(l[0]["headers"]["x-notify-count"]) == before + 1,
                (before, l))

    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "sleepMs", extra=[("-ms" if lib == "go" else "--ms"), "30"], **kw)
    ok &= check(label + " sleepMs", rc == 0 and l[0]["ok"] and l[0]["result"] == 30 and l[0]["elapsed_ms"] >= 30, (rc, l, err))

    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "greet", name="boom", **kw)
    ok &= check(label + " GreetError", rc == 0 and not l[0]["ok"] and l[0]["exception"] == "GreetError"
                and l[0]["code"] == 42 and l[0]["error"] == "boom", (rc, l, err))

    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "greet", name="panic", **kw)
    ok &= check(label + " INTERNAL_ERROR", rc == 0 and l[0]["exception"] == "TApplicationException"
                and l[0]["app_exception_type"] == 6, (rc, l, err))

    # Calculator: served only by a multiplexed server.
    rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "add", extra=["-a", "40", "-b", "2"], **kw)
    if multiplex:
        ok &= check(label + " add", rc == 0 and l[0]["ok"] and l[0]["result"] == 42, (rc, l, err))
        rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "divide", extra=["-a", "42", "-b", "0"], **kw)
        ok &= check(label + " divide/0", rc == 0 and l[0]["exception"] == "GreetError" and l[0]["code"] == 400,
                    (rc, l, err))
        rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "divide", extra=["-a", "42", "-b", "5"], **kw)
        ok &= check(label + " divide", rc == 0 and l[0]["result"] == 8, (rc, l, err))
        # greet sent to the Calculator service: UNKNOWN_METHOD, reply named "greet"
        rc, l, err = run_client(lib, srv.addr, ctransport, cprotocol, "greet", service="Calculator", **kw)
        ok &= check(label + " Calculator:greet", rc == 0 and l[0]["app_exception_type"] == 1, (rc, l, err))
    else:
        ok &= check(label + " add unknown", rc == 0 and l[0]["exception"] == "TApplicationException"
                    and l[0]["app_exception_type"] == 1, (rc, l, err))
    return ok


class Srv:
    pass


def main():
    if not os.path.exists(SERVER) or not os.path.exists(GO_CLIENT):
        sys.exit("run `make build` first")
    servers = [("framed", "binary"), ("framed", "compact"), ("buffered", "binary"), ("buffered", "compact"),
               ("header", "binary")]
    for (st, sp) in servers:
        for mux in (False, True):
            inst = "%s-%s%s" % (st, sp, "-mux" if mux else "")
            s = Server(st, sp, mux, inst)
            s.transport, s.protocol = st, sp
            s.desc = "server %s/%s%s" % (st, "*" if st == "header" else sp, " mux" if mux else "")
            if st == "header":
                client_combos = [(ct, cp, True) for ct in ("header", "framed", "buffered") for cp in ("binary", "compact")]
            else:
                client_combos = [(st, sp, True)]
                if sp == "binary":
                    client_combos.append((st, sp, False))
            for lib in ("go", "py"):
                for (ct, cp, strict) in client_combos:
                    res = combo_cases(lib, s, inst, ct, cp, mux, strict)
                    key = (lib, ct, cp + ("" if strict else "-nonstrict"), s.desc)
                    matrix[key] = res
            # negative: the other multiplexing mode.
            for lib in ("go", "py"):
                ct = "header" if st == "header" else st
                rc, l, err = run_client(lib, s.addr, ct, sp, "greet", multiplex=not mux)
                if mux:
                    # plain "greet" to a TMultiplexedProcessor: the Go server closes the connection
                    check("%s plain->mux %s" % (lib, s.desc), rc == 1 and l[0]["exception"] == "transport", l)
                elif lib == "go":
                    # "Greeter:greet" to a plain processor: EXCEPTION named "Greeter:greet";
                    # the Go client rejects the name (WRONG_METHOD_NAME = 3)
                    check("%s mux->plain %s" % (lib, s.desc), rc == 0 and l[0]["app_exception_type"] == 3, l)
                else:
                    # python does not check the name: UNKNOWN_METHOD = 1
                    check("%s mux->plain %s" % (lib, s.desc), rc == 0 and l[0]["app_exception_type"] == 1, l)
            rc = s.stop()
            check("server %s clean exit" % inst, rc == 0, (rc, s.stderr[-500:]))
    # negative: non-strict binary to a THeader server is rejected
    s = Server("header", "binary", False, "hdr-ns")
    for lib in ("go", "py"):
        for ct in ("framed", "buffered"):
            rc, l, err = run_client(lib, s.addr, ct, "binary", "greet", strict=False)
            check("%s %s nonstrict -> header server rejected" % (lib, ct), rc == 1, l)
    rc, l, err = run_client("go", s.addr, "header", "binary", "greet", strict=False)
    check("go header/binary-nonstrict -> header server", rc == 0 and l[0]["ok"], l)
    s.stop()

    print("\n%-4s %-9s %-17s %-28s %s" % ("lib", "transport", "protocol", "server", "result"))
    for (lib, ct, cp, desc), res in sorted(matrix.items()):
        print("%-4s %-9s %-17s %-28s %s" % (lib, ct, cp, desc, "OK" if res else "FAIL"))
    print("\n%d failures" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
