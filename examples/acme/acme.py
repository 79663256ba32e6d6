"""ACME RPC: a small private protocol that exists only as a frame spec
(configs/specs/acme.json) on the proxy side. This module is its wire format
for the example peers, written from the spec, not from the proxy.

Frame (little endian):
  0  magic "AC"        2
  2  version (1)       1
  3  kind              1   0 request, 1 oneway, 2 response, 3 ping, 4 pong
  4  request id        4
  8  status            2   0 ok, 1 app error, 2 no route, 3 busy,
                            4 timeout, 5 bad request, 6 denied, 7 internal
  10 timeout ms        2
  12 length            4   bytes after this 16-byte header
  16 service           u8 length + "interface:version[:group]"
     method            u8 length + name
     headers           u16 length + entries (u8 key length, key,
                                             u16 value length, value)
     body              the rest
"""
import socket
import struct

REQUEST, ONEWAY, RESPONSE, PING, PONG = 0, 1, 2, 3, 4
HEADER = struct.Struct("<2sBBIHHI")


class Frame:
    def __init__(self, kind, rid, status=0, service="", method="", headers=None, body=b"", timeout=0):
        self.kind, self.id, self.status, self.timeout = kind, rid, status, timeout
        self.service, self.method = service, method
        self.headers = list(headers or [])
        self.body = body

    def header(self, key):
        for k, v in self.headers:
            if k == key:
                return v
        return None

    def encode(self):
        s, m = self.service.encode(), self.method.encode()
        h = b"".join(struct.pack("<B", len(k.encode())) + k.encode() + struct.pack("<H", len(v.encode())) + v.encode()
                     for k, v in self.headers)
        rest = bytes([len(s)]) + s + bytes([len(m)]) + m + struct.pack("<H", len(h)) + h + self.body
        return HEADER.pack(b"AC", 1, self.kind, self.id, self.status, self.timeout, len(rest)) + rest


def parse(b):
    """Parse one whole frame."""
    magic, _ver, kind, rid, status, timeout, _n = HEADER.unpack_from(b)
    if magic != b"AC":
        raise ValueError("bad magic")
    at = 16
    s = b[at + 1:at + 1 + b[at]].decode(); at += 1 + b[at]
    m = b[at + 1:at + 1 + b[at]].decode(); at += 1 + b[at]
    (hl,) = struct.unpack_from("<H", b, at); at += 2
    end, headers = at + hl, []
    while at < end:
        kl = b[at]; k = b[at + 1:at + 1 + kl].decode(); at += 1 + kl
        (vl,) = struct.unpack_from("<H", b, at); v = b[at + 2:at + 2 + vl].decode(); at += 2 + vl
        headers.append((k, v))
    return Frame(kind, rid, status, s, m, headers, b[at:], timeout)


class Reader:
    """Reads whole frames from a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def read(self):
        while True:
            if len(self.buf) >= 16:
                (n,) = struct.unpack_from("<I", self.buf, 12)
                if len(self.buf) >= 16 + n:
                    f, self.buf = self.buf[:16 + n], self.buf[16 + n:]
                    return parse(f)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:  # closed with our bytes unread
                return None
            if not chunk:
                return None
            self.buf += chunk


def connect(addr):
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
