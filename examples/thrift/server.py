#!/usr/bin/python3
"""Demo Apache Thrift server in Python (Debian python3-thrift 0.17) for
idl/demo.thrift: the Python twin of ./server for framed and buffered
(unframed) transports, binary or compact, optionally multiplexed.

    /usr/bin/python3 server.py --addr 127.0.0.1:9090 --transport framed --multiplex

Prints "ready <addr>" on stdout once it listens. A threaded server: one
thread per connection, as python3-thrift users deploy it. Its framed
transport reads a whole frame and then parses the message from it: bytes a
proxy forwarded that do not frame the way the message parses are read as
the next message, which is what the proxy must never cause.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen-py"))

from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.server import TServer  # noqa: E402
from thrift.TMultiplexedProcessor import TMultiplexedProcessor  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from demo import Calculator, Greeter  # noqa: E402
from demo.ttypes import GreetError, GreetReply  # noqa: E402


class GreeterHandler:
    def __init__(self, instance, version):
        self.instance, self.version, self.notified = instance, version, 0

    def greet(self, req):
        if req.name == "boom":
            raise GreetError(reason="boom", code=42)
        return GreetReply(message="hello " + req.name, instance=self.instance, version=self.version,
                          headers={"x-notify-count": str(self.notified)})

    def notify(self, msg):
        self.notified += 1

    def echo(self, s):
        return s

    def sleepMs(self, ms):
        import time
        time.sleep(ms / 1000.0)
        return ms


class CalculatorHandler:
    def add(self, a, b):
        return a + b

    def divide(self, a, b):
        if b == 0:
            raise GreetError(reason="division by zero", code=1)
        return a // b


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--addr", default="127.0.0.1:9090")
    p.add_argument("--transport", default="framed", choices=["framed", "buffered"])
    p.add_argument("--protocol", default="binary", choices=["binary", "compact"])
    p.add_argument("--multiplex", action="store_true")
    p.add_argument("--instance", default="py-server")
    p.add_argument("--version", default="v1")
    a = p.parse_args()
    host, port = a.addr.rsplit(":", 1)
    greeter = Greeter.Processor(GreeterHandler(a.instance, a.version))
    if a.multiplex:
        processor = TMultiplexedProcessor()
        processor.registerProcessor("Greeter", greeter)
        processor.registerProcessor("Calculator", Calculator.Processor(CalculatorHandler()))
    else:
        processor = greeter
    tf = TTransport.TFramedTransportFactory() if a.transport == "framed" else TTransport.TBufferedTransportFactory()
    pf = TBinaryProtocol.TBinaryProtocolFactory() if a.protocol == "binary" else TCompactProtocol.TCompactProtocolFactory()
    sock = TSocket.TServerSocket(host=host, port=int(port))
    server = TServer.TThreadedServer(processor, sock, tf, pf, daemon=True)
    sock.listen()
    print("ready", a.addr, flush=True)
    server.serve()


if __name__ == "__main__":
    main()
