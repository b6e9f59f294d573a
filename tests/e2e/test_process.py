"""The s3kms process itself: refuses a bad config, stops cleanly on SIGTERM, and keeps what
its embedded store holds across a restart."""

import signal
import subprocess

import pytest

from clients import boto3_client
from conftest import ACCOUNT_ID, REGION, USERS, require_s3kms_binary, start_s3kms
from servers import LISTENING_LINE, ServerCredentials, s3kms_config_toml, S3_ONLY_POLICY

pytestmark = pytest.mark.proxy_only


def run_with_config(tmp_path, text: str) -> subprocess.CompletedProcess:
    binary = require_s3kms_binary()
    config = tmp_path / "config.toml"
    config.write_text(text)
    return subprocess.run(
        [str(binary), "serve", "--config", str(config)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def valid_config(tmp_path) -> str:
    return s3kms_config_toml(
        data_dir=tmp_path / "data",
        users=[ServerCredentials(name, c.access_key_id, c.secret_access_key, S3_ONLY_POLICY) for name, c in USERS.items()],
        account_id=ACCOUNT_ID,
        region=REGION,
        upstream=None,
    )


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda text: text + "\nthis is not toml ]]\n", id="not-toml"),
        pytest.param(lambda text: text.replace('listen = "127.0.0.1:0"', 'listen = "not an address"'), id="bad-listen"),
        pytest.param(lambda text: text + '\n[upstream]\nendpoint = "not a url"\nregion = "us-east-1"\n'
                     'access_key_id = "a"\nsecret_access_key = "b"\n', id="bad-upstream-endpoint"),
    ],
)
def test_bad_config_exits_non_zero_with_a_message(tmp_path, spoil):
    result = run_with_config(tmp_path, spoil(valid_config(tmp_path)))

    assert result.returncode != 0, result
    assert result.stderr.strip(), "s3kms gave no reason on stderr"
    assert not any(LISTENING_LINE.match(line) for line in result.stdout.splitlines()), result.stdout


def test_missing_config_file_exits_non_zero(tmp_path):
    binary = require_s3kms_binary()
    result = subprocess.run(
        [str(binary), "serve", "--config", str(tmp_path / "absent.toml")],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    )

    assert result.returncode != 0
    assert result.stderr.strip()


def test_sigterm_exits_cleanly_and_the_embedded_store_survives_a_restart(tmp_path):
    first = start_s3kms(tmp_path, upstream=None)
    try:
        client = boto3_client(first.endpoint, USERS["alice"])
        client.create_bucket(Bucket="e2e-restart")
        client.put_object(Bucket="e2e-restart", Key="kept", Body=b"survives a restart")
        first.process.send_signal(signal.SIGTERM)
        status = first.process.wait(timeout=15)
    finally:
        first.stop()
    assert status == 0, f"exit status {status} after SIGTERM"

    second = start_s3kms(tmp_path, upstream=None)
    try:
        client = boto3_client(second.endpoint, USERS["alice"])
        assert client.get_object(Bucket="e2e-restart", Key="kept")["Body"].read() == b"survives a restart"
    finally:
        second.stop()


def test_sigterm_drains_an_upload_in_flight_and_refuses_new_connections(tmp_path):
    """A PUT whose body is still arriving when SIGTERM comes completes and is stored; new
    connections are refused meanwhile; then the process exits 0."""
    import datetime as dt
    import socket
    import time

    from sigv4_raw import sign_headers, sha256_hex

    instance = start_s3kms(tmp_path, upstream=None)
    try:
        alice = USERS["alice"]
        client = boto3_client(instance.endpoint, alice)
        client.create_bucket(Bucket="e2e-drain")
        host, port = instance.endpoint.removeprefix("http://").split(":")
        body = b"in flight when the signal came " * 40_000
        headers = {"host": f"{host}:{port}", "content-length": str(len(body))}
        sign_headers("PUT", "/e2e-drain/in-flight", [], headers, sha256_hex(body), alice, REGION,
                     dt.datetime.now(dt.timezone.utc))
        head = "PUT /e2e-drain/in-flight HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        with socket.create_connection((host, int(port)), timeout=30) as upload:
            upload.sendall(head.encode() + body[: len(body) // 2])
            time.sleep(0.3)
            instance.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            with pytest.raises(OSError):
                socket.create_connection((host, int(port)), timeout=2).close()
            upload.sendall(body[len(body) // 2 :])
            answer = upload.recv(65536).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 200"), answer
        assert instance.process.wait(timeout=20) == 0
    finally:
        instance.stop()

    restarted = start_s3kms(tmp_path, upstream=None)
    try:
        client = boto3_client(restarted.endpoint, USERS["alice"])
        assert client.get_object(Bucket="e2e-drain", Key="in-flight")["Body"].read() == body
    finally:
        restarted.stop()
