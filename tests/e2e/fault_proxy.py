"""A TCP fault proxy between s3kms and its upstream store, for tests/e2e/test_faults_upstream.py.

Real servers cannot be made to reset a connection half way through a body, flip a byte on
the wire or answer `503 SlowDown` on demand, so this proxy does it. It speaks just enough
HTTP/1.1 to find message boundaries: every request it forwards gets `Connection: close`, and so
does every response, so each TCP connection carries exactly one exchange; the request body is
everything the client sends after the request head, the response body everything the upstream
sends after the response head (raw bytes: chunk framing counts, if any; object GETs use
Content-Length).

A fault applies to the requests it matches (method, path substring, query substring), `times`
times (None = every time); everything else passes through untouched. Modes:

A whole-object GET through s3kms may be followed by ranged reads of the same object (botocore
asks for `x-amz-checksum-mode: ENABLED` by default, and s3kms reads the stored trailer for it);
`without_header="range"` aims a fault at the whole-object GET alone.

* `refuse()` / `accept_again()`: close the listener (new connections are refused), reopen it on
  the same port;
* `Fault.reset_response(n)`: forward the response head and `n` body bytes, then reset (RST) both
  connections;
* `Fault.reset_request(n)`: forward the request head and `n` body bytes upstream, then reset both;
* `Fault.flip(n)`: XOR bit 0 of response body byte `n`;
* `Fault.canned(status, code)`: answer an S3 XML error itself (the request body is read and
  dropped; the upstream is never contacted);
* `Fault.delay(seconds)`: hold the upstream's response head for `seconds`.

Every connection runs in its own thread with a select() loop over both sockets.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

HEAD_LIMIT = 64 * 1024
CANNED_REQUEST_ID = "FAULTPROXY0000001"
CANNED_HOST_ID = "fault-proxy-host-id"
CANNED_MESSAGES = {
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Please reduce your request rate.",
}


@dataclass
class Fault:
    kind: str  # reset_response | reset_request | flip | canned | delay
    offset: int = 0
    seconds: float = 0.0
    status: int = 0
    code: str = ""
    method: str | None = None
    path_contains: str | None = None
    query_contains: str | None = None
    # Only requests without this header (e.g. "range": a whole-object GET, not a ranged read).
    without_header: str | None = None
    times: int | None = 1

    @staticmethod
    def reset_response(offset: int, **match) -> "Fault":
        return Fault("reset_response", offset=offset, **match)

    @staticmethod
    def reset_request(offset: int, **match) -> "Fault":
        return Fault("reset_request", offset=offset, **match)

    @staticmethod
    def flip(offset: int, **match) -> "Fault":
        return Fault("flip", offset=offset, **match)

    @staticmethod
    def canned(status: int, code: str, **match) -> "Fault":
        return Fault("canned", status=status, code=code, **match)

    @staticmethod
    def delay(seconds: float, **match) -> "Fault":
        return Fault("delay", seconds=seconds, **match)

    def matches(self, method: str, target: str, head: bytes) -> bool:
        parts = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(parts.path)
        query = urllib.parse.unquote(parts.query)
        return (
            (self.method is None or self.method == method)
            and (self.path_contains is None or self.path_contains in path)
            and (self.query_contains is None or self.query_contains in query)
            and (self.without_header is None or header_value(head, self.without_header) is None)
        )


@dataclass
class Hit:
    """A request the fault applied to, and what the proxy then did."""

    method: str
    target: str
    fault: Fault
    done: list[str] = field(default_factory=list)  # e.g. "reset", "flipped", "answered"


def canned_response(status: int, code: str, head_only: bool) -> bytes:
    message = CANNED_MESSAGES.get(code, "Injected by the fault proxy.")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{CANNED_REQUEST_ID}</RequestId><HostId>{CANNED_HOST_ID}</HostId></Error>"
    ).encode()
    reason = {500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: {CANNED_REQUEST_ID}\r\n"
        f"x-amz-id-2: {CANNED_HOST_ID}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head if head_only else head + body


def with_connection_close(head: bytes) -> bytes:
    """The message head with any Connection / Keep-Alive header replaced by `Connection: close`."""
    lines = head.split(b"\r\n")
    kept = [line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive")]
    return b"\r\n".join([lines[0], *kept, b"Connection: close"]) + b"\r\n\r\n"


def header_value(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.encode():
            return value.strip().decode()
    return None


def abort(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def recv_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """(head without its blank line, bytes read past it), or None on EOF before a full head."""
    buffered = b""
    while b"\r\n\r\n" not in buffered:
        if len(buffered) > HEAD_LIMIT:
            return None
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffered += chunk
    head, _, rest = buffered.partition(b"\r\n\r\n")
    return head, rest


class FaultProxy:
    def __init__(self, upstream_endpoint: str) -> None:
        parts = urllib.parse.urlsplit(upstream_endpoint)
        self.upstream = (parts.hostname, parts.port)
        self.port = 0
        self.fault: Fault | None = None
        self.hits: list[Hit] = []
        self.seen: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None
        self._handlers: set[threading.Thread] = set()

    # ------------------------------------------------------------------ control

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener, self._stop), daemon=True,
                                          name="fault-proxy-accept")
        self._acceptor.start()

    def refuse(self) -> None:
        """Close the listener: connections to the port are refused until accept_again()."""
        if self._acceptor is not None:
            self._stop.set()
            self._acceptor.join(timeout=5)
            self._acceptor = None
            self._listener = None

    def accept_again(self) -> None:
        if self._acceptor is None:
            self.start()

    @property
    def refusing(self) -> bool:
        return self._acceptor is None

    def set(self, fault: Fault | None) -> None:
        with self.lock:
            self.fault = fault
            self.hits = []

    def clear(self) -> None:
        self.set(None)
        with self.lock:
            self.seen = []

    def stop(self) -> None:
        self.refuse()
        for handler in list(self._handlers):
            handler.join(timeout=5)

    # ------------------------------------------------------------------ serving

    def _accept_loop(self, listener: socket.socket, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    client, _ = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                client.settimeout(None)
                handler = threading.Thread(target=self._serve, args=(client,), daemon=True, name="fault-proxy-conn")
                self._handlers.add(handler)
                handler.start()
        finally:
            listener.close()

    def _claim(self, method: str, target: str, head: bytes) -> Hit | None:
        with self.lock:
            self.seen.append((method, target))
            fault = self.fault
            if fault is None or not fault.matches(method, target, head):
                return None
            if fault.times is not None:
                if fault.times <= 0:
                    return None
                fault.times -= 1
            hit = Hit(method, target, fault)
            self.hits.append(hit)
            return hit

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            got = recv_head(client)
            if got is None:
                client.close()
                return
            head, rest = got
            method, target = head.split(b"\r\n", 1)[0].decode().split(" ")[:2]
            hit = self._claim(method, target, head)
            fault = hit.fault if hit else None
            if fault is not None and fault.kind == "canned":
                remaining = int(header_value(head, "content-length") or 0) - len(rest)
                while remaining > 0:
                    chunk = client.recv(min(remaining, 65536))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                hit.done.append("answered")  # before the answer, which the test may see at once
                client.sendall(canned_response(fault.status, fault.code, head_only=method == "HEAD"))
                client.close()
                return
            upstream = socket.create_connection(self.upstream, timeout=30)
            upstream.settimeout(None)
            upstream.sendall(with_connection_close(head))
            self._relay(client, upstream, rest, hit)
        except OSError:
            for sock in (client, upstream):
                if sock is not None:
                    abort(sock)
        finally:
            self._handlers.discard(threading.current_thread())

    def _relay(self, client: socket.socket, upstream: socket.socket, request_rest: bytes, hit: Hit | None) -> None:
        fault = hit.fault if hit else None
        kind = fault.kind if fault else None
        sent_request_body = 0
        response_head = b""
        head_done = False
        response_body = 0

        def reset(what: str) -> None:
            hit.done.append(what)
            abort(client)
            abort(upstream)

        def forward_request(data: bytes) -> bool:
            nonlocal sent_request_body
            if kind == "reset_request":
                allowed = fault.offset - sent_request_body
                if len(data) >= allowed:
                    upstream.sendall(data[:allowed])
                    time.sleep(0.05)  # let the upstream take the bytes before the reset
                    reset("reset")
                    return False
            upstream.sendall(data)
            sent_request_body += len(data)
            return True

        def forward_body(data: bytes) -> bool:
            nonlocal response_body
            if kind == "flip" and response_body <= fault.offset < response_body + len(data):
                changed = bytearray(data)
                changed[fault.offset - response_body] ^= 0x01
                data = bytes(changed)
                hit.done.append("flipped")
            if kind == "reset_response":
                allowed = fault.offset - response_body
                if len(data) >= allowed:
                    client.sendall(data[:allowed])
                    time.sleep(0.05)
                    reset("reset")
                    return False
            client.sendall(data)
            response_body += len(data)
            return True

        if request_rest and not forward_request(request_rest):
            return
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ, "client")
            selector.register(upstream, selectors.EVENT_READ, "upstream")
            while True:
                for key, _ in selector.select():
                    if key.data == "client":
                        data = client.recv(65536)
                        if not data:
                            selector.unregister(client)
                            continue
                        if not forward_request(data):
                            return
                        continue
                    data = upstream.recv(65536)
                    if not data:
                        client.close()
                        upstream.close()
                        return
                    if not head_done:
                        response_head += data
                        if b"\r\n\r\n" not in response_head:
                            continue
                        head, _, data = response_head.partition(b"\r\n\r\n")
                        if head.split(b" ", 2)[1:2] == [b"100"]:
                            client.sendall(head + b"\r\n\r\n")
                            response_head = data
                            if b"\r\n\r\n" not in response_head:
                                continue
                            head, _, data = response_head.partition(b"\r\n\r\n")
                        head_done = True
                        if kind == "delay":
                            time.sleep(fault.seconds)
                            hit.done.append("delayed")
                        client.sendall(with_connection_close(head))
                        if kind == "reset_response" and fault.offset == 0:
                            reset("reset")
                            return
                    if data and not forward_body(data):
                        return
