"""HTTPS on the S3 + KMS listener (`[tls]`).

Over HTTPS boto3 sends PutObject and UploadPart bodies as `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
aws-chunked with a CRC32 trailer (backends.md §2.2), so these tests also drive s3kms's chunked
decoder with a real client. A key policy that denies calls without `aws:SecureTransport` shows
the condition key is real.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import boto3
from botocore.exceptions import ClientError
import pytest
from botocore.config import Config
from boto3.s3.transfer import TransferConfig

from conftest import ACCOUNT_ID, REGION, USERS, require_s3kms_binary
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml, toml_string

MiB = 1024 * 1024

pytestmark = pytest.mark.proxy_only


def admin_alice() -> ServerCredentials:
    alice = USERS["alice"]
    return ServerCredentials("alice", alice.access_key_id, alice.secret_access_key, ALLOW_ALL_POLICY)


def make_certificate(directory) -> tuple[str, str]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture(scope="module")
def https(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(workdir)
    config = "\n".join([
        s3kms_config_toml(
            data_dir=workdir / "data", users=[admin_alice()], account_id=ACCOUNT_ID, region=REGION, upstream=None,
            allow_sse_kms_over_http=False,
        ),
        "[tls]",
        f"cert_file = {toml_string(cert)}",
        f"key_file = {toml_string(key)}",
        "",
    ])
    (workdir / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), workdir / "s3kms.toml", workdir / "s3kms.stderr.log")
    instance.start()
    try:
        yield instance, cert
    finally:
        instance.stop()


def client(service: str, endpoint: str, cert: str):
    alice = USERS["alice"]
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, verify=cert,
        aws_access_key_id=alice.access_key_id, aws_secret_access_key=alice.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def test_the_listener_speaks_https_only(https):
    instance, _ = https
    assert instance.endpoint.startswith("https://127.0.0.1:")


def test_boto3_aws_chunked_uploads_round_trip_over_https(https, tmp_path):
    instance, cert = https
    s3 = client("s3", instance.endpoint, cert)
    payload_modes = []
    s3.meta.events.register(
        "before-send", lambda request, **_: payload_modes.append(request.headers.get("x-amz-content-sha256"))
    )
    s3.create_bucket(Bucket="tls-bucket")
    body = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket="tls-bucket", Key="single", Body=body)
    assert s3.get_object(Bucket="tls-bucket", Key="single")["Body"].read() == body

    source = tmp_path / "multipart.bin"
    source.write_bytes(os.urandom(12 * MiB + 5))
    transfer = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_file(str(source), "tls-bucket", "multipart", Config=transfer)
    downloaded = s3.get_object(Bucket="tls-bucket", Key="multipart")["Body"].read()
    assert hashlib.sha256(downloaded).digest() == hashlib.sha256(source.read_bytes()).digest()
    # The point of the test: these bodies really were aws-chunked with a trailer.
    assert payload_modes.count(b"STREAMING-UNSIGNED-PAYLOAD-TRAILER") >= 4, payload_modes


def test_secure_transport_is_a_real_condition(https):
    instance, cert = https
    kms = client("kms", instance.endpoint, cert)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
             "Action": "kms:*", "Resource": "*"},
            {"Sid": "tls only", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    }
    key_id = kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    assert kms.encrypt(KeyId=key_id, Plaintext=b"over TLS")["KeyId"].endswith(key_id)


def make_ca_and_leaf(directory) -> tuple[str, str, str]:
    """A CA and a leaf certificate for 127.0.0.1 that it signs: (leaf, leaf key, CA).
    (rustls, rightly, refuses a self-signed CA certificate used as a server's own.)"""
    ca_key, ca, key, request, leaf = (directory / n for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem"))
    extensions = directory / "leaf.ext"
    extensions.write_text("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    for command in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=s3kms test CA",
         "-keyout", str(ca_key), "-out", str(ca)],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(request)],
        ["openssl", "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-days", "2", "-extfile", str(extensions), "-out", str(leaf)],
    ):
        subprocess.run(command, check=True, capture_output=True)
    return str(leaf), str(key), str(ca)


@pytest.fixture(scope="module")
def seaweedfs_over_https(tmp_path_factory):
    """A SeaweedFS of its own that also serves S3 over HTTPS with a self-signed certificate."""
    from conftest import UPSTREAM_ADMIN, tool, wait_for_first_write
    from servers import SeaweedFS, ServerCredentials
    from pathlib import Path

    workdir = tmp_path_factory.mktemp("seaweedfs-https")
    cert, key, ca = make_ca_and_leaf(workdir)
    identity = ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)
    server = SeaweedFS(Path(tool("weed")), workdir, [identity], tls=(Path(cert), Path(key)))
    server.start()
    try:
        wait_for_first_write(server)
        yield server, ca
    finally:
        server.stop()


def test_an_https_upstream_verified_with_its_ca_file(seaweedfs_over_https, tmp_path):
    from conftest import UPSTREAM_ADMIN

    seaweedfs, ca_file = seaweedfs_over_https
    alice = USERS["alice"]
    upstream = ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)
    config = s3kms_config_toml(
        data_dir=tmp_path / "data",
        users=[admin_alice()],
        account_id=ACCOUNT_ID,
        region=REGION,
        upstream=(seaweedfs.https_endpoint, upstream),
    ) + f"ca_file = {toml_string(ca_file)}\n"
    (tmp_path / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), tmp_path / "s3kms.toml", tmp_path / "s3kms.stderr.log")
    instance.start()
    try:
        s3 = boto3.client("s3", endpoint_url=instance.endpoint, region_name=REGION,
                          aws_access_key_id=alice.access_key_id, aws_secret_access_key=alice.secret_access_key,
                          config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
        s3.create_bucket(Bucket="over-tls-upstream")
        body = os.urandom(MiB + 3)
        s3.put_object(Bucket="over-tls-upstream", Key="k", Body=body)
        assert s3.get_object(Bucket="over-tls-upstream", Key="k")["Body"].read() == body
    finally:
        instance.stop()
    # Without the CA file the self-signed upstream is not trusted: requests fail, nothing hangs.
    (tmp_path / "s3kms.toml").write_text(config.replace(f"ca_file = {toml_string(ca_file)}\n", ""))
    untrusting = S3kms(require_s3kms_binary(), tmp_path / "s3kms.toml", tmp_path / "s3kms-untrusting.log")
    untrusting.start()
    try:
        s3 = boto3.client("s3", endpoint_url=untrusting.endpoint, region_name=REGION,
                          aws_access_key_id=alice.access_key_id, aws_secret_access_key=alice.secret_access_key,
                          config=Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"}))
        with pytest.raises(Exception) as refused:
            s3.list_buckets()
        assert "ServiceUnavailable" in str(refused.value) or "503" in str(refused.value), refused.value
    finally:
        untrusting.stop()


def test_sse_kms_needs_tls_as_on_aws(https, tmp_path):
    """Over HTTPS, SSE-KMS reads and writes work; the same configuration over plain HTTP
    refuses them with AWS's InvalidArgument, while SSE-S3 keeps working."""
    instance, cert = https
    s3 = client("s3", instance.endpoint, cert)
    bucket = "sse-kms-over-tls"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret", ServerSideEncryption="aws:kms")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"

    workdir = tmp_path / "plain"
    workdir.mkdir()
    (workdir / "s3kms.toml").write_text(
        s3kms_config_toml(
            data_dir=workdir / "data", users=[admin_alice()], account_id=ACCOUNT_ID, region=REGION, upstream=None,
            allow_sse_kms_over_http=False,
        )
    )
    plain = S3kms(require_s3kms_binary(), workdir / "s3kms.toml", workdir / "s3kms.stderr.log")
    plain.start()
    try:
        s3 = client("s3", plain.endpoint, cert)
        s3.create_bucket(Bucket=bucket)
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key="k", Body=b"secret", ServerSideEncryption="aws:kms")
        error = refused.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert error["Error"]["Code"] == "InvalidArgument"
        assert error["Error"]["Message"] == (
            "Requests specifying Server Side Encryption with AWS KMS managed keys must be made over a secure connection."
        )
        s3.put_object(Bucket=bucket, Key="s3", Body=b"fine")
        assert s3.get_object(Bucket=bucket, Key="s3")["Body"].read() == b"fine"
    finally:
        plain.stop()


@pytest.fixture(scope="module")
def https_with_ca(tmp_path_factory):
    """s3kms over HTTPS with a leaf certificate signed by a CA of its own: (instance, config, CA file)."""
    workdir = tmp_path_factory.mktemp("tls-ca")
    leaf, key, ca = make_ca_and_leaf(workdir)
    config = workdir / "s3kms.toml"
    config.write_text("\n".join([
        s3kms_config_toml(
            data_dir=workdir / "data", users=[admin_alice()], account_id=ACCOUNT_ID, region=REGION, upstream=None,
            allow_sse_kms_over_http=False,
        ),
        "[tls]",
        f"cert_file = {toml_string(leaf)}",
        f"key_file = {toml_string(key)}",
        "",
    ]))
    instance = S3kms(require_s3kms_binary(), config, workdir / "s3kms.stderr.log")
    instance.start()
    try:
        yield instance, config, ca
    finally:
        instance.stop()


def test_the_operator_commands_reach_an_https_listener(https_with_ca, tmp_path):
    """`s3kms keys` and `s3kms rewrap` speak HTTPS, verified against --ca-file; without the CA
    they refuse the certificate instead of talking in the clear. A rewrap needs TLS here: the
    listener refuses SSE-KMS over plain HTTP, as AWS does."""
    instance, config, ca = https_with_ca
    binary = str(require_s3kms_binary())
    common = ["--config", str(config), "--endpoint", instance.endpoint]

    def run(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([binary, *arguments], capture_output=True, text=True, timeout=120, cwd=tmp_path)

    created = run("keys", "create", "--alias", "alias/over-tls", *common, "--ca-file", ca, "--json")
    assert created.returncode == 0, created.stderr
    untrusted = run("keys", "list", *common)
    assert untrusted.returncode == 1
    assert "certificate" in untrusted.stderr.lower(), untrusted.stderr

    s3 = client("s3", instance.endpoint, ca)
    s3.create_bucket(Bucket="rewrap-over-tls")
    s3.put_object(Bucket="rewrap-over-tls", Key="k", Body=b"moved over TLS")
    moved = run("rewrap", *common, "--ca-file", ca, "--bucket", "rewrap-over-tls", "--to-key", "alias/over-tls")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "1 rewrapped" in " ".join(moved.stdout.split()), moved.stdout
    head = s3.head_object(Bucket="rewrap-over-tls", Key="k")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket="rewrap-over-tls", Key="k")["Body"].read() == b"moved over TLS"
