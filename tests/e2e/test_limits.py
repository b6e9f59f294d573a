"""The listener's `[limits]`: slow request heads and stalled bodies are cut off, oversized heads
get 431, and the connection cap holds further clients back until a connection ends."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from conftest import ACCOUNT_ID, REGION, USERS, require_s3kms_binary
from servers import S3kms, ServerCredentials, s3kms_config_toml, S3_ONLY_POLICY
from sigv4_raw import sign_headers

pytestmark = pytest.mark.proxy_only


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("limits")
    config = s3kms_config_toml(
        data_dir=workdir / "data",
        users=[ServerCredentials(name, c.access_key_id, c.secret_access_key, S3_ONLY_POLICY) for name, c in USERS.items()],
        account_id=ACCOUNT_ID,
        region=REGION,
        upstream=None,
    )
    config += "\n[limits]\nheader_read_timeout_seconds = 1\nbody_idle_timeout_seconds = 1\nmax_header_bytes = 8192\nmax_headers = 20\nmax_connections = 2\n"
    (workdir / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), workdir / "s3kms.toml", workdir / "s3kms.stderr.log")
    instance.start()
    host, port = instance.endpoint.removeprefix("http://").split(":")
    try:
        yield host, int(port)
    finally:
        instance.stop()


def status_of(connection: socket.socket) -> int:
    received = b""
    while b"\r\n" not in received:
        chunk = connection.recv(4096)
        if not chunk:
            return 0
        received += chunk
    return int(received.split(b" ", 2)[1])


def test_a_slow_request_head_is_cut_off(limited):
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while connection.recv(4096):
            pass
        elapsed = time.monotonic() - started
        assert 0.5 < elapsed < 5, f"closed after {elapsed:.1f} s; the limit is 1 s"


def test_oversized_heads_get_431(limited):
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nx-amz-meta-big: " + b"a" * 10_000 + b"\r\n\r\n")
        assert status_of(connection) == 431
    with socket.create_connection(limited, timeout=10) as connection:
        headers = "".join(f"x-amz-meta-h{i}: v\r\n" for i in range(40))
        connection.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        assert status_of(connection) == 431


def test_the_connection_cap_holds_clients_back(limited):
    first = socket.create_connection(limited, timeout=10)
    second = socket.create_connection(limited, timeout=10)
    try:
        time.sleep(0.2)  # both are accepted and idle, within the head timeout
        third = socket.create_connection(limited, timeout=5)  # the kernel queues it
        third.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        third.settimeout(0.4)
        with pytest.raises(socket.timeout):
            third.recv(4096)  # not served while two connections are open
        first.close()
        second.close()
        third.settimeout(5)
        assert status_of(third) == 403  # anonymous: served once a slot is free
    finally:
        first.close()
        second.close()


def signed_request(limited, method: str, path: str, extra: dict[str, str]) -> bytes:
    host, port = limited
    headers = {"host": f"{host}:{port}", **extra}
    sign_headers(method, path, [], headers, "UNSIGNED-PAYLOAD", USERS["alice"], REGION, dt.datetime.now(dt.timezone.utc))
    lines = [f"{method} {path} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_stalled_body_is_cut_off_and_stores_nothing(limited):
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(signed_request(limited, "PUT", "/stall-bucket", {"content-length": "0"}))
        assert status_of(connection) == 200
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(signed_request(limited, "PUT", "/stall-bucket/stalled", {"content-length": "100"}))
        connection.sendall(b"x" * 10)
        started = time.monotonic()
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
        elapsed = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 400"), received[:200]
        assert b"<Code>RequestTimeout</Code>" in received
        assert 0.5 < elapsed < 5, f"answered after {elapsed:.1f} s; the limit is 1 s"
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(signed_request(limited, "GET", "/stall-bucket/stalled", {}))
        assert status_of(connection) == 404


def test_a_put_over_5_gib_is_entity_too_large_before_any_body(limited):
    """AWS's answer to a single PUT over 5 GiB: 400 EntityTooLarge with the proposed size, given
    at once from the declared length (the body is never read)."""
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(signed_request(limited, "PUT", "/big-bucket", {"content-length": "0"}))
        assert status_of(connection) == 200
    too_large = 5 * 1024**3 + 1
    with socket.create_connection(limited, timeout=10) as connection:
        connection.sendall(signed_request(limited, "PUT", "/big-bucket/huge", {"content-length": str(too_large)}))
        received = b""
        while b"</Error>" not in received and (chunk := connection.recv(4096)):
            received += chunk
        assert received.startswith(b"HTTP/1.1 400"), received[:300]
        assert b"<Code>EntityTooLarge</Code>" in received, received
        assert b"<Message>Your proposed upload exceeds the maximum allowed size</Message>" in received
        assert f"<ProposedSize>{too_large}</ProposedSize>".encode() in received
        assert b"<MaxSizeAllowed>5368709120</MaxSizeAllowed>" in received
