"""Shared pieces of the server-side encryption tests (`test_sse_*.py`).

* the at-rest format s3kms promises (magic, stored length of a single stream);
* `RawUpstream`: the stored object read (and, for tampering tests, rewritten) behind s3kms's
  back - straight from SeaweedFS with the upstream credentials, or from the embedded store's
  files under `<data_dir>/objects/<bucket>/.objects/<sha256(key)>.json` + `.data/<file>`;
* `target`: overrides conftest's for the modules that import it. The suite-wide s3kms gives
  alice and bob S3 permissions only, and these tests need a user who creates KMS keys, so each
  module starts its own s3kms per upstream kind (embedded store, SeaweedFS) where alice and bob
  have ALLOW_ALL; conftest's `s3`, `make_bucket` and `aws_cli` then use it;
* `bucket`: overrides conftest's with one bucket per module, emptied after each test;
* a KMS client on the target's endpoint, and a dedicated s3kms for permission tests, whose
  users have narrow identity policies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from clients import boto3_client, require_request_id
from conftest import (
    ACCOUNT_ID,
    empty_and_delete_bucket,
    unique_bucket_name,
    LIVE_LOGS,
    REGION,
    UPSTREAM_ADMIN,
    USERS,
    Target,
    require_s3kms_binary,
    target_kinds,
)
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml
from sigv4_raw import Credentials

KiB = 1024
MiB = 1024 * KiB
SEGMENT = 64 * KiB
MAGIC = b"S3KM"
KEY_ARN = re.compile(
    rf"^arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$"
)
# The envelope every object s3kms writes carries (user metadata names, without x-amz-meta-).
ENVELOPE_NAMES = {"s3kms-v", "s3kms-a", "s3kms-k", "s3kms-w"}


def stored_len(plaintext_len: int) -> int:
    """Stored size of one single-part stream (format v1)."""
    return 128 + plaintext_len + 16 * -(-plaintext_len // SEGMENT)


# ------------------------------------------------------------------ distinctive plaintexts


class Marker:
    """A recognisable, periodic plaintext. Every 16-byte window of any marker plaintext is one
    of the `period` windows of the cycle, so "no window of the plaintext is in the stored
    bytes" is an exact check of `period` substring searches."""

    def __init__(self, label: str) -> None:
        self.pattern = f"<s3kms-e2e {label} secret plaintext {secrets.token_hex(8)}>".encode()

    def data(self, size: int) -> bytes:
        repeats = size // len(self.pattern) + 1
        return (self.pattern * repeats)[:size]

    def windows(self) -> list[bytes]:
        cycle = self.pattern * 2
        return [cycle[i : i + 16] for i in range(len(self.pattern))]

    def leaks_into(self, stored: bytes) -> list[bytes]:
        return [window for window in self.windows() if window in stored]


def assert_sealed_single(stored: bytes, plaintext: bytes) -> None:
    """`stored` is one v1 single-object stream of `plaintext`: magic, version 1, AES-256-GCM,
    64 KiB segments, kind 1, part 0, the plaintext length, the length formula."""
    assert stored != plaintext
    assert stored[:4] == MAGIC, stored[:48]
    assert stored[4:8] == bytes([1, 1, 16, 1]), stored[:48]
    assert stored[8:12] == b"\0\0\0\0", stored[:48]
    assert int.from_bytes(stored[12:20], "big") == len(plaintext), stored[:48]
    assert len(stored) == stored_len(len(plaintext))


def has_reserved(metadata: dict[str, str]) -> list[str]:
    return [name for name in metadata if name.lower().startswith("s3kms-")]


def reserved_headers(response: dict) -> list[str]:
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return [name for name in headers if name.lower().startswith("x-amz-meta-s3kms")]


# ------------------------------------------------------------------ the upstream, directly


@dataclass
class Stored:
    data: bytes
    metadata: dict[str, str]  # user metadata, names without x-amz-meta-, lower case
    etag: str


class RawUpstream:
    def get(self, bucket: str, key: str) -> Stored:
        raise NotImplementedError

    def put(self, bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> None:
        """Replace the object's bytes and user metadata (a tamperer with upstream access)."""
        raise NotImplementedError

    def flip(self, bucket: str, key: str, offset: int) -> None:
        stored = self.get(bucket, key)
        changed = bytearray(stored.data)
        changed[offset] ^= 0x01
        self.put(bucket, key, bytes(changed), stored.metadata)


class SeaweedRaw(RawUpstream):
    def __init__(self, endpoint: str) -> None:
        self.client = boto3_client(endpoint, UPSTREAM_ADMIN)

    def get(self, bucket: str, key: str) -> Stored:
        got = self.client.get_object(Bucket=bucket, Key=key)
        metadata = {name.lower(): value for name, value in got["Metadata"].items()}
        return Stored(got["Body"].read(), metadata, got["ETag"].strip('"'))

    def put(self, bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data, Metadata=metadata)


class EmbeddedRaw(RawUpstream):
    def __init__(self, root: Path) -> None:
        self.root = root

    def record_path(self, bucket: str, key: str) -> Path:
        return self.root / bucket / ".objects" / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def record(self, bucket: str, key: str) -> dict:
        return json.loads(self.record_path(bucket, key).read_text())

    def get(self, bucket: str, key: str) -> Stored:
        record = self.record(bucket, key)
        data = (self.root / bucket / ".data" / record["data"]).read_bytes()
        metadata = {name.lower(): value for name, value in record.get("user_metadata", {}).items()}
        return Stored(data, metadata, record["etag"])

    def put(self, bucket: str, key: str, data: bytes, metadata: dict[str, str]) -> None:
        record = self.record(bucket, key)
        (self.root / bucket / ".data" / record["data"]).write_bytes(data)
        record["size"] = len(data)
        record["user_metadata"] = metadata
        path = self.record_path(bucket, key)
        temporary = path.with_suffix(".tamper")
        temporary.write_text(json.dumps(record))
        os.replace(temporary, path)


@pytest.fixture(scope="module", params=[kind for kind in target_kinds() if kind in ("embedded", "seaweedfs")])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    kind = request.param
    seaweedfs = request.getfixturevalue("seaweedfs") if kind == "seaweedfs" else None
    workdir = tmp_path_factory.mktemp(f"s3kms-sse-{kind}")
    config = workdir / "s3kms.toml"
    config.write_text(
        s3kms_config_toml(
            data_dir=workdir / "data",
            users=[
                ServerCredentials(name, c.access_key_id, c.secret_access_key, ALLOW_ALL_POLICY)
                for name, c in USERS.items()
            ],
            account_id=ACCOUNT_ID,
            region=REGION,
            upstream=None
            if seaweedfs is None
            else (
                seaweedfs.endpoint,
                ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key),
            ),
        )
    )
    process = S3kms(require_s3kms_binary(), config, workdir / "s3kms.stderr.log")
    process.start()
    LIVE_LOGS.add(process.log_path)
    logs = {"s3kms stderr": process.log_path}
    if seaweedfs is not None:
        logs["seaweedfs"] = seaweedfs.log_path
    try:
        yield Target(kind, process.endpoint, through_proxy=True, logs=logs)
    finally:
        process.stop()
        LIVE_LOGS.discard(process.log_path)


@pytest.fixture(scope="module")
def s3(target: Target):
    """Overrides conftest's: boto3 as alice, one client per module (building one costs more
    than most requests here)."""
    return target.client("alice")


@pytest.fixture(scope="module")
def module_bucket(s3):
    client = s3
    name = unique_bucket_name("sse")
    client.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(client, name)


@pytest.fixture
def bucket(module_bucket: str, s3):
    """Overrides conftest's: an empty bucket without default encryption, as conftest's, but one
    per module, emptied after each test (creating a SeaweedFS bucket per test is slow)."""
    yield module_bucket
    client = s3
    for upload in client.list_multipart_uploads(Bucket=module_bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=module_bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=module_bucket):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=module_bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket_encryption(Bucket=module_bucket)


@pytest.fixture(scope="module")
def upstream(target: Target, request: pytest.FixtureRequest) -> RawUpstream:
    if target.kind == "seaweedfs":
        return SeaweedRaw(request.getfixturevalue("seaweedfs").endpoint)
    if target.kind == "embedded":
        # `target` above: <workdir>/s3kms.stderr.log and <workdir>/data.
        return EmbeddedRaw(target.logs["s3kms stderr"].parent / "data" / "objects")
    pytest.skip(f"no direct access to the store of {target.kind}")


# ------------------------------------------------------------------ KMS


def kms_client(endpoint: str, credentials: Credentials):
    return boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def kms(target: Target):
    """boto3 KMS as alice, on the same endpoint as S3."""
    return kms_client(target.endpoint, target.users["alice"])


def new_key(kms, label: str = "sse") -> dict:
    return kms.create_key(Description=f"e2e {label}")["KeyMetadata"]


def new_alias(kms, key_id: str) -> str:
    alias = f"alias/e2e-sse-{secrets.token_hex(4)}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    return alias


def missing_key_id() -> str:
    return str(uuid.uuid4())


def b64_json(value: dict) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def error_of(call) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def assert_error(call, status: int, code: str, message: str | None = None, contains: str | None = None) -> ClientError:
    error = error_of(call)
    got = (error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"].get("Code"))
    assert got == (status, code), error.response
    if message is not None:
        assert error.response["Error"].get("Message") == message, error.response
    if contains is not None:
        assert contains in (error.response["Error"].get("Message") or ""), error.response
    return error


# ------------------------------------------------------------------ a dedicated s3kms


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def user(name: str, identity_policy: str | None) -> ServerCredentials:
    return ServerCredentials(
        name, f"AKIASSE{name.upper()}{secrets.token_hex(4).upper()}", f"{name}-sse-secret-{secrets.token_hex(16)}",
        identity_policy,
    )


@dataclass
class SseServer:
    process: S3kms
    users: dict[str, ServerCredentials]

    def credentials(self, name: str) -> Credentials:
        who = self.users[name]
        return Credentials(who.access_key_id, who.secret_access_key)

    def s3(self, name: str):
        client = boto3_client(self.process.endpoint, self.credentials(name), region=REGION)
        client.meta.events.register("after-call.s3", require_request_id)
        return client

    def kms(self, name: str):
        return kms_client(self.process.endpoint, self.credentials(name))


def start_sse_server(workdir: Path, users: list[ServerCredentials]) -> SseServer:
    """s3kms on its embedded store with `users` (each with its own identity policy)."""
    config = workdir / "s3kms.toml"
    config.write_text(
        s3kms_config_toml(data_dir=workdir / "data", users=users, account_id=ACCOUNT_ID, region=REGION, upstream=None)
    )
    process = S3kms(require_s3kms_binary(), config, workdir / "s3kms.stderr.log")
    process.start()
    LIVE_LOGS.add(process.log_path)
    return SseServer(process, {u.name: u for u in users})


def stop_sse_server(server: SseServer) -> None:
    server.process.stop()
    LIVE_LOGS.discard(server.process.log_path)


@contextlib.contextmanager
def sse_server(workdir: Path, users: list[ServerCredentials]):
    """`start_sse_server` for the length of a `with` (or a fixture's `yield from`)."""
    server = start_sse_server(workdir, users)
    try:
        yield server
    finally:
        stop_sse_server(server)


# Users the permission tests of several modules share: all rights, and S3 without any KMS right.
ADMIN = user("admin", ALLOW_ALL_POLICY)
NOKMS = user("nokms", policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
