"""Connections after an early refusal of a request that carries a body.

A client that sends `Expect: 100-continue` and receives a final error status instead may skip
the body and reuse the connection; a server that then drained the declared body bytes would
eat the start of the next request. s3kms answers such refusals with `Connection: close`.
"""

from __future__ import annotations

import socket

import pytest

pytestmark = pytest.mark.proxy_only


def test_a_refused_upload_closes_the_connection(target):
    host, port = target.endpoint.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        request = (
            "PUT /some-bucket/some-key HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIANOBODY/20260101/us-east-1/s3/aws4_request, "
            "SignedHeaders=host, Signature=" + "0" * 64 + "\r\n"
            "x-amz-date: 20260101T000000Z\r\n"
            "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\n"
            "Content-Length: 5\r\n"
            "Expect: 100-continue\r\n\r\n"
        )
        connection.sendall(request.encode())
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(4096)
            assert chunk, "the server closed before answering"
            received += chunk
        head = received.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert head.startswith("http/1.1 403"), head
        assert "connection: close" in head, head
        # The server really closes: reading reaches EOF after the error document.
        while connection.recv(4096):
            pass
