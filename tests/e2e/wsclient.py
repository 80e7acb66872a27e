"""A minimal WebSocket client (RFC 6455) for the end-to-end tests, standard
library only, written from the RFC so the relay is checked by an independent
implementation.

- WsClient.connect(host, port, ...): the HTTP/1.1 upgrade; returns a client on
  101 (after checking Sec-WebSocket-Accept against the key it sent), raises
  Refused(status, headers, body) on any other answer.
- send_text/send_json/send_binary/ping/close send masked frames;
  recv_frame() returns (opcode, payload) frame by frame; recv_json() returns
  the next text message decoded, answering pings and skipping pongs.
- Frames are never fragmented by this client; received fragments are returned
  as they come (the mock never fragments).
"""
import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def accept_for(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def frame(op, payload=b"", mask=True, fin=True):
    """One frame; client frames are masked."""
    if isinstance(payload, str):
        payload = payload.encode()
    head = bytes([(0x80 if fin else 0) | op])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n <= 0xFFFF:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    body = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, key)
    return head + key + body


def _mask_fast(payload, key):
    """XOR-masks a long payload quickly (int arithmetic on 8-byte words)."""
    n = len(payload)
    k8 = int.from_bytes(key * 2, "little")
    words = n // 8
    out = bytearray(payload)
    mv = memoryview(out)
    if words:
        arr = memoryview(out[: words * 8]).cast("Q")
        masked = bytearray(words * 8)
        marr = memoryview(masked).cast("Q")
        for i in range(words):
            marr[i] = arr[i] ^ k8
        mv[: words * 8] = masked
    for i in range(words * 8, n):
        out[i] ^= key[i & 3]
    return bytes(out)


class Refused(Exception):
    """The upgrade was answered with something other than 101."""

    def __init__(self, status, headers, body):
        Exception.__init__(self, "upgrade refused: %d %r" % (status, body[:300]))
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None


def read_head(sock, buf=b"", limit=65536):
    """Reads an HTTP head; returns (status, headers with lower-case names, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed before the answer's head: %r" % buf[:200])
        buf += chunk
        if len(buf) > limit:
            raise ValueError("answer head too large")
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        v = v.strip()
        headers[k] = headers[k] + ", " + v if k in headers else v
    return status, headers, rest


class WsClient:
    def __init__(self, sock, status, headers, rest, key):
        self.sock = sock
        self.status = status
        self.headers = headers
        self.buf = bytearray(rest)
        self.key = key

    @classmethod
    def connect(cls, host, port, path="/trade-api/ws/v2", headers=None, timeout=10, key=None,
                protocols=None, extensions=None, extra=b"", version="13", sock=None):
        """Opens the connection and does the upgrade (see the module comment).

        headers: extra request headers (dict or list of pairs); protocols,
        extensions: Sec-WebSocket-Protocol / -Extensions values sent verbatim;
        extra: bytes sent right after the request (a pipelined first frame).
        """
        key = key or base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: " + version]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + protocols)
        if extensions:
            lines.append("Sec-WebSocket-Extensions: " + extensions)
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for k, v in items:
            lines.append("%s: %s" % (k, v))
        req = ("\r\n".join(lines) + "\r\n\r\n").encode()
        s = sock or socket.create_connection((host, port), timeout=timeout)
        s.settimeout(timeout)
        try:
            s.sendall(req + extra)
            status, hd, rest = read_head(s)
            if status != 101:
                body = rest
                n = int(hd.get("content-length", "-1"))
                deadline = time.time() + timeout
                while (n < 0 or len(body) < n) and time.time() < deadline:
                    try:
                        chunk = s.recv(65536)
                    except socket.timeout:
                        break
                    if not chunk:
                        break
                    body += chunk
                raise Refused(status, hd, body if n < 0 else body[:n])
            if hd.get("sec-websocket-accept") != accept_for(key):
                raise AssertionError("Sec-WebSocket-Accept %r does not match the key" %
                                     hd.get("sec-websocket-accept"))
        except BaseException:
            s.close()
            raise
        return cls(s, status, hd, rest, key)

    # --- sending ----------------------------------------------------------
    def send_frame(self, op, payload=b""):
        self.sock.sendall(frame(op, payload))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send_json(self, obj):
        self.send_frame(OP_TEXT, json.dumps(obj))

    def send_binary(self, data):
        self.send_frame(OP_BINARY, data)

    def ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def close(self, code=1000, reason=""):
        """Sends a close frame (the socket stays open to read the answer)."""
        self.send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())

    # --- receiving --------------------------------------------------------
    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(262144)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def parse_frame(self):
        """Takes one complete frame from the buffer: (op, payload) or None."""
        b = self.buf
        if len(b) < 2:
            return None
        op = b[0] & 0x0F
        masked = b[1] & 0x80
        n = b[1] & 0x7F
        hl = 2
        if n == 126:
            if len(b) < 4:
                return None
            n = struct.unpack("!H", bytes(b[2:4]))[0]
            hl = 4
        elif n == 127:
            if len(b) < 10:
                return None
            n = struct.unpack("!Q", bytes(b[2:10]))[0]
            hl = 10
        if masked:
            raise AssertionError("a server frame is masked")
        if len(b) < hl + n:
            return None
        payload = bytes(b[hl:hl + n])
        del b[:hl + n]
        return op, payload

    def recv_frame(self, timeout=10):
        """The next frame (op, payload); EOFError when the connection ends,
        socket.timeout when nothing arrives in time."""
        deadline = time.time() + timeout
        while True:
            f = self.parse_frame()
            if f is not None:
                return f
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("no frame in %ss" % timeout)
            self._fill(left)

    def recv_json(self, timeout=10):
        """The next text message, decoded; pings are answered, pongs skipped."""
        deadline = time.time() + timeout
        while True:
            op, payload = self.recv_frame(max(0.01, deadline - time.time()))
            if op == OP_TEXT:
                return json.loads(payload)
            if op == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            raise AssertionError("expected a text message, got opcode %d %r" % (op, payload[:100]))

    def wait_eof(self, timeout=10):
        """Reads until the connection ends; returns the frames seen meanwhile."""
        frames = []
        deadline = time.time() + timeout
        while True:
            try:
                frames.append(self.recv_frame(max(0.01, deadline - time.time())))
            except EOFError:
                return frames
            except ConnectionResetError:
                return frames

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass
