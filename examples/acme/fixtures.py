"""Writes the byte fixtures of protocols/spec's tests (fixtures/*.hex)."""
import os

import acme

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
F = acme.Frame
frames = {
    "request": F(acme.REQUEST, 1, 0, "acme.Echo:1.0", "echo", [("tenant", "t1")], b"hello", 3000),
    "request_group": F(acme.REQUEST, 2, 0, "acme.Echo:2.0:blue", "echo", [], b"x" * 40),
    "oneway": F(acme.ONEWAY, 3, 0, "acme.Echo:1.0", "log", [("k", "v")], b"note"),
    "response": F(acme.RESPONSE, 1, 0, "", "", [("served-by", "s1")], b"hello"),
    "response_error": F(acme.RESPONSE, 4, 1, "", "", [("error", "it failed")], b""),
    "ping": F(acme.PING, 5),
    "pong": F(acme.PONG, 5),
}


def hexdump(b):
    return "\n".join(b[i:i + 16].hex(" ") for i in range(0, len(b), 16)) + "\n"


for name, f in frames.items():
    with open(os.path.join(HERE, name + ".hex"), "w") as out:
        out.write("# ACME %s, written by examples/acme/fixtures.py\n" % name + hexdump(f.encode()))
stream = b"".join(F(acme.REQUEST, i, 0, "acme.Echo:1.0", "echo", [("n", str(i))], b"p%d" % i).encode() for i in (7, 8, 9))
with open(os.path.join(HERE, "stream_3_requests.hex"), "w") as out:
    out.write("# three pipelined ACME requests\n" + hexdump(stream))
