#!/usr/bin/python3
"""Demo Apache Thrift client in Python (Debian python3-thrift 0.17) for
idl/demo.thrift -- the Python twin of ./client (same flags, same JSON lines).

Run with the system interpreter: /usr/bin/python3 client.py --transport header ...

Makes -n sequential calls on one connection and prints one JSON line per call
on stdout. Exits 1 on transport (or protocol) errors.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen-py"))

from thrift.Thrift import TApplicationException, TException, TMessageType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.protocol.THeaderProtocol import THeaderProtocol  # noqa: E402
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol  # noqa: E402
from thrift.protocol.TProtocol import TProtocolException  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402
from thrift.transport.THeaderTransport import THeaderClientType, THeaderSubprotocolID  # noqa: E402

from demo import Calculator, Greeter  # noqa: E402
from demo.ttypes import GreetError, GreetRequest  # noqa: E402

METHOD_SERVICE = {
    "greet": "Greeter", "notify": "Greeter", "echo": "Greeter", "sleepMs": "Greeter",
    "add": "Calculator", "divide": "Calculator",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addr", default="127.0.0.1:9090")
    p.add_argument("--transport", default="framed", choices=["framed", "buffered", "header"])
    p.add_argument("--protocol", default="binary", choices=["binary", "compact"],
                   help="for header: the protocol id inside THeader")
    p.add_argument("--binary-strict", default="true", choices=["true", "false"],
                   help="binary: false writes old non-strict messages (no version word)")
    p.add_argument("--multiplex", action="store_true", help='TMultiplexedProtocol ("<service>:<method>")')
    p.add_argument("--service", default="", help="Greeter|Calculator (default: the service owning --method)")
    p.add_argument("--method", default="greet")
    p.add_argument("--name", default="world")
    p.add_argument("-a", type=int, default=6)
    p.add_argument("-b", type=int, default=3)
    p.add_argument("--ms", type=int, default=100)
    p.add_argument("-n", type=int, default=1)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds")
    p.add_argument("--header", action="append", default=[], help="k=v THeader write header (repeatable)")
    p.add_argument("--linger-ms", type=int, default=0,
                   help="keep the connection open this long after the last call (oneway messages still in a proxy are dropped when the client closes)")
    return p.parse_args()


def emit(d):
    print(json.dumps(d, separators=(",", ":")), flush=True)


def text(v):
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v


def sorted_map(m):
    if not m:
        return None
    return {text(k): text(m[k]) for k in sorted(m, key=text)}


def result(call, method, **kw):
    # Same key order as the Go client's JSON.
    d = {"call": call, "ok": False, "method": method}
    for k in ("message", "instance", "version", "headers", "reply_headers", "result",
              "error", "exception", "app_exception_type", "code"):
        if kw.get(k) not in (None, "", {}):
            d[k] = kw[k]
    d["elapsed_ms"] = kw.get("elapsed_ms", 0)
    return d


def raw_call(proto, method):
    """Call an arbitrary method name with empty args (to provoke UNKNOWN_METHOD)."""
    proto.writeMessageBegin(method, TMessageType.CALL, 0)
    proto.writeStructBegin("args")
    proto.writeFieldStop()
    proto.writeStructEnd()
    proto.writeMessageEnd()
    proto.trans.flush()
    _, mtype, _ = proto.readMessageBegin()
    if mtype == TMessageType.EXCEPTION:
        x = TApplicationException()
        x.read(proto)
        proto.readMessageEnd()
        raise x
    proto.skip(12)  # TType.STRUCT
    proto.readMessageEnd()


def main():
    args = parse_args()
    svc = args.service or METHOD_SERVICE.get(args.method)
    if not svc:
        sys.exit("client.py: unknown --method %r" % args.method)
    headers = {}
    for kv in args.header:
        if "=" not in kv:
            sys.exit("client.py: --header %r: want k=v" % kv)
        k, v = kv.split("=", 1)
        headers[k] = v
    if headers and args.transport != "header":
        sys.exit("client.py: --header needs --transport header")

    host, port = args.addr.rsplit(":", 1)
    sock = TSocket.TSocket(host, int(port))
    sock.setTimeout(args.timeout * 1000)
    header_proto = None
    if args.transport == "header":
        proto_id = THeaderSubprotocolID.COMPACT if args.protocol == "compact" else THeaderSubprotocolID.BINARY
        trans = sock  # THeaderProtocol wraps the socket in a THeaderTransport itself
        header_proto = proto = THeaderProtocol(sock, (THeaderClientType.HEADERS,), proto_id)
        trans = proto.trans
    else:
        if args.transport == "framed":
            trans = TTransport.TFramedTransport(sock)
        else:
            trans = TTransport.TBufferedTransport(sock)
        if args.protocol == "binary":
            strict = args.binary_strict == "true"
            proto = TBinaryProtocol.TBinaryProtocol(trans, strictRead=strict, strictWrite=strict)
        else:
            proto = TCompactProtocol.TCompactProtocol(trans)
    if args.multiplex:
        proto = TMultiplexedProtocol(proto, svc)

    try:
        trans.open()
    except TTransport.TTransportException as e:
        emit(result(1, args.method, error=str(e), exception="transport"))
        sys.exit(1)

    greeter = Greeter.Client(proto)
    calc = Calculator.Client(proto)
    rc = 0
    for i in range(1, args.n + 1):
        if header_proto is not None:
            # python3-thrift clears write headers after every flush: set them per call.
            for k, v in headers.items():
                header_proto.set_header(k.encode(), v.encode())
        out = {}
        start = time.monotonic()
        fatal = False
        try:
            key = svc + "." + args.method
            if key == "Greeter.greet":
                rep = greeter.greet(GreetRequest(name=args.name, meta={"call": str(i), "lang": "python"},
                                                 nums=[i, 2, 3]))
                out.update(message=rep.message, instance=rep.instance, version=rep.version,
                           headers=sorted_map(rep.headers))
            elif key == "Greeter.echo":
                out["message"] = greeter.echo(args.name)
            elif key == "Greeter.notify":
                greeter.notify(args.name)
            elif key == "Greeter.sleepMs":
                out["result"] = greeter.sleepMs(args.ms)
            elif key == "Calculator.add":
                out["result"] = calc.add(args.a, args.b)
            elif key == "Calculator.divide":
                out["result"] = calc.divide(args.a, args.b)
            else:
                raw_call(proto, args.method)
            ok = True
        except GreetError as e:
            ok = False
            out = dict(error=e.reason, exception="GreetError", code=e.code)
        except TApplicationException as e:
            ok = False
            out = dict(error=e.message or "", exception="TApplicationException", app_exception_type=e.type)
        except TProtocolException as e:
            ok, fatal = False, True
            out = dict(error=str(e), exception="protocol")
        except (TTransport.TTransportException, OSError, EOFError) as e:
            ok, fatal = False, True
            out = dict(error=str(e) or e.__class__.__name__, exception="transport")
        except TException as e:
            ok, fatal = False, True
            out = dict(error=str(e), exception="transport")
        out["elapsed_ms"] = round((time.monotonic() - start) * 1000, 3)
        if header_proto is not None and args.method != "notify":
            out["reply_headers"] = sorted_map(header_proto.get_headers())
        d = result(i, args.method, **out)
        d["ok"] = ok
        emit(d)
        if fatal:
            rc = 1
            break
    if args.linger_ms > 0:
        time.sleep(args.linger_ms / 1000.0)
    trans.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
