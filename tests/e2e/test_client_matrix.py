"""The client matrix: every S3 client the README names × the operations users depend on, through
s3kms in front of a real upstream (SeaweedFS; the embedded store when S3KMS_E2E_TARGETS names
only that). Each client is configured as a user would (`make_client`), its SSE-KMS setting
naming one KMS key; the README's "Client compatibility" table is this grid. Every cell asserts
what matters to a user of that client:

    put        the client's upload reads back byte for byte (through boto3), is SSE-KMS under the
               key the client named, and the upstream holds only ciphertext
    get        the client's download of an SSE-KMS object is byte for byte what was written
    list       the client lists exactly the keys under a prefix, with their plaintext sizes
    multipart  an upload of over 11 MiB in parts (5 MiB; the aws CLI's 8 MiB) is a multipart
               object, SSE-KMS under the named key, ciphertext only upstream, and the client's
               own download of it is byte for byte
    range      ranges across a 64 KiB segment boundary and at the end are exactly those bytes
               (s3cmd reads open-ended ranges only: `get --continue`)
    presign    every kind of presigned GET URL the client makes, fetched with urllib as a browser
               or curl would: SigV4 URLs read SSE-KMS objects; SigV2 URLs (the aws CLI's and
               boto3's default against a custom endpoint, s3cmd's only kind) read SSE-S3 objects
               and get AWS's `400 InvalidArgument` for SSE-KMS objects, which need SigV4

The aws-sdk-rust column is examples/aws-sdk-rust, run once per target: the program checks its
own round trips and exits non-zero on a mismatch; its cells check its report and, on their own,
the stored ciphertext and the presigned URL it printed.

Parts of some cells are also in the deeper per-client suites (test_aws_cli.py,
test_other_clients.py, test_sse_rclone.py, test_minio_client.py); here every client is held to
the same assertions, at rest included, which those do not all make.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Callable, ClassVar

import pytest
import urllib3
from boto3.s3.transfer import TransferConfig
from minio import Minio
from minio.sse import SseKMS

pytest.register_assert_rewrite("sse_support")

from clients import AwsCli, Rclone, S3cmd, boto3_client, environment_without_aws, explain, fetch, query_names  # noqa: E402
from conftest import SDK_EXAMPLE_BUILD_TIMEOUT, Target, empty_and_delete_bucket, target_kinds, unique_bucket_name  # noqa: E402
from s3_expect import assert_s3_error  # noqa: E402
from sse_support import (  # noqa: E402
    KEY_ARN,
    MAGIC,
    SEGMENT,
    MiB,
    RawUpstream,
    bucket,  # noqa: F401
    kms,  # noqa: F401
    module_bucket,  # noqa: F401
    new_alias,
    new_key,
    s3,  # noqa: F401
    target,  # noqa: F401
    upstream,  # noqa: F401
)


def matrix_kinds() -> list[str]:
    """s3kms in front of SeaweedFS; the embedded store only when it is the only kind chosen."""
    kinds = target_kinds()
    return ["seaweedfs"] if "seaweedfs" in kinds else [kind for kind in kinds if kind == "embedded"]


pytestmark = [
    pytest.mark.proxy_only,
    # Overrides sse_support's `target` params (both kinds): the clients are the subject here.
    pytest.mark.parametrize("target", matrix_kinds(), indirect=True, scope="module"),
]

CLIENTS = ["aws-cli", "boto3", "rclone", "s3cmd", "minio-py", "aws-sdk-rust"]
OPERATIONS = ["put", "get", "list", "multipart", "range", "presign"]

PUT_SIZE = 300_001  # a few 64 KiB segments and a partial one
MULTIPART_SIZE = 11 * MiB + 12345  # over the aws CLI's 8 MiB threshold; 5 MiB parts elsewhere
RANGE_OBJECT_SIZE = 3 * SEGMENT + 777
# (first, last) of each range the `range` cell reads; last None = to the end.
SEGMENT_CROSSING = (SEGMENT - 6, SEGMENT + 93)
LAST_1000 = (RANGE_OBJECT_SIZE - 1000, RANGE_OBJECT_SIZE - 1)
FROM_1000_BEFORE_THE_END = (RANGE_OBJECT_SIZE - 1000, None)


@dataclass
class MatrixKey:
    alias: str
    arn: str


@pytest.fixture(scope="module")
def matrix_key(kms) -> MatrixKey:
    """The KMS key every client names for its uploads."""
    metadata = new_key(kms, "client matrix")
    return MatrixKey(new_alias(kms, metadata["KeyId"]), metadata["Arn"])


# ------------------------------------------------------------------ the clients


class Client:
    """One client as a user drives it, with its SSE-KMS setting naming the matrix key."""

    ranges: ClassVar[list[tuple[int, int | None]]] = [SEGMENT_CROSSING, LAST_1000, FROM_1000_BEFORE_THE_END]
    # The signature of each URL `presign` returns, in order (the README's table says so).
    presign_signatures: ClassVar[list[str]] = ["SigV4"]

    def put(self, bucket: str, key: str, path: Path) -> None:
        raise NotImplementedError

    def put_multipart(self, bucket: str, key: str, path: Path) -> None:
        raise NotImplementedError

    def get(self, bucket: str, key: str, destination: Path) -> None:
        raise NotImplementedError

    def list_keys(self, bucket: str, prefix: str) -> dict[str, int]:
        raise NotImplementedError

    def get_range(self, bucket: str, key: str, first: int, last: int | None, workdir: Path) -> bytes:
        raise NotImplementedError

    def presign(self, bucket: str, key: str) -> list[str]:
        """Every kind of presigned GET URL the client makes (SigV2 and SigV4 where both)."""
        raise NotImplementedError


@dataclass
class AwsCliClient(Client):
    cli: AwsCli
    cli_sigv4: AwsCli  # the same, with `signature_version = s3v4` for presigning
    key: MatrixKey
    presign_signatures: ClassVar[list[str]] = ["SigV2", "SigV4"]  # the default, then with s3v4

    def put(self, bucket, key, path):
        self.cli.check("s3", "cp", str(path), f"s3://{bucket}/{key}", "--sse", "aws:kms", "--sse-kms-key-id",
                       self.key.alias)

    def put_multipart(self, bucket, key, path):
        self.put(bucket, key, path)  # over 8 MiB, `s3 cp` uploads in 8 MiB parts

    def get(self, bucket, key, destination):
        self.cli.check("s3", "cp", f"s3://{bucket}/{key}", str(destination))

    def list_keys(self, bucket, prefix):
        listed = json.loads(self.cli.check("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix))
        return {entry["Key"]: entry["Size"] for entry in listed.get("Contents", [])}

    def get_range(self, bucket, key, first, last, workdir):
        out = workdir / f"range-{first}-{last}"
        header = f"bytes={first}-{'' if last is None else last}"
        self.cli.check("s3api", "get-object", "--bucket", bucket, "--key", key, "--range", header, str(out))
        return out.read_bytes()

    def presign(self, bucket, key):
        return [cli.check("s3", "presign", f"s3://{bucket}/{key}", "--expires-in", "300").strip()
                for cli in (self.cli, self.cli_sigv4)]


@dataclass
class Boto3Client(Client):
    client: object
    default_signing_client: object  # no signature_version: botocore presigns with SigV2 then
    key: MatrixKey
    presign_signatures: ClassVar[list[str]] = ["SigV4", "SigV2"]

    def sse(self) -> dict[str, str]:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.key.alias}

    def put(self, bucket, key, path):
        self.client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **self.sse())

    def put_multipart(self, bucket, key, path):
        config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2)
        self.client.upload_file(str(path), bucket, key, ExtraArgs=self.sse(), Config=config)

    def get(self, bucket, key, destination):
        destination.write_bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def list_keys(self, bucket, prefix):
        listed = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            listed.update({entry["Key"]: entry["Size"] for entry in page.get("Contents", [])})
        return listed

    def get_range(self, bucket, key, first, last, workdir):
        header = f"bytes={first}-{'' if last is None else last}"
        return self.client.get_object(Bucket=bucket, Key=key, Range=header)["Body"].read()

    def presign(self, bucket, key):
        params = {"Bucket": bucket, "Key": key}
        return [c.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
                for c in (self.client, self.default_signing_client)]


@dataclass
class RcloneClient(Client):
    rclone: Rclone

    def put(self, bucket, key, path):
        self.rclone.check("copyto", str(path), f"t:{bucket}/{key}")

    def put_multipart(self, bucket, key, path):
        self.rclone.check("copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(path), f"t:{bucket}/{key}")

    def get(self, bucket, key, destination):
        self.rclone.check("copyto", f"t:{bucket}/{key}", str(destination))

    def list_keys(self, bucket, prefix):
        entries = json.loads(self.rclone.check("lsjson", "--recursive", "--files-only", f"t:{bucket}/{prefix}"))
        return {prefix + entry["Path"]: entry["Size"] for entry in entries}

    def get_range(self, bucket, key, first, last, workdir):
        count = [] if last is None else ["--count", str(last - first + 1)]
        return self.rclone.run_binary("cat", "--offset", str(first), *count, f"t:{bucket}/{key}")

    def presign(self, bucket, key):
        # `rclone link` on S3 is a presigned GET URL; the link is the last line printed.
        return [self.rclone.check("link", "--expire", "5m", f"t:{bucket}/{key}").strip().splitlines()[-1]]


@dataclass
class S3cmdClient(Client):
    s3cmd: S3cmd
    # `get --continue` is s3cmd's one ranged read: `bytes=N-` only.
    ranges: ClassVar[list[tuple[int, int | None]]] = [(SEGMENT_CROSSING[0], None), FROM_1000_BEFORE_THE_END]
    presign_signatures: ClassVar[list[str]] = ["SigV2"]  # `signurl` knows no other

    def put(self, bucket, key, path):
        self.s3cmd.check("put", str(path), f"s3://{bucket}/{key}")

    def put_multipart(self, bucket, key, path):
        self.s3cmd.check("put", "--multipart-chunk-size-mb=5", str(path), f"s3://{bucket}/{key}")

    def get(self, bucket, key, destination):
        self.s3cmd.check("get", f"s3://{bucket}/{key}", str(destination))

    def list_keys(self, bucket, prefix):
        listed = {}
        for line in self.s3cmd.check("ls", "--recursive", f"s3://{bucket}/{prefix}").splitlines():
            # 2026-01-01 00:00   70000   s3://bucket/list/b.bin
            fields = line.split(maxsplit=3)
            listed[fields[3].removeprefix(f"s3://{bucket}/")] = int(fields[2])
        return listed

    def get_range(self, bucket, key, first, last, workdir):
        # s3cmd's one ranged read: `get --continue` resumes a partial download with
        # `Range: bytes=<local size>-`. The local part is zeros, so only the server's answer
        # can put the object's bytes after it.
        assert last is None, "s3cmd reads open-ended ranges only"
        partial = workdir / f"partial-{first}"
        partial.write_bytes(b"\0" * first)
        self.s3cmd.check("get", "--continue", f"s3://{bucket}/{key}", str(partial))
        resumed = partial.read_bytes()
        assert resumed[:first] == b"\0" * first
        return resumed[first:]

    def presign(self, bucket, key):
        return [self.s3cmd.check("signurl", f"s3://{bucket}/{key}", "+300").strip()]


@dataclass
class MinioClient(Client):
    client: Minio
    key: MatrixKey

    def put(self, bucket, key, path):
        self.client.fput_object(bucket, key, str(path), sse=SseKMS(self.key.alias, {}))

    def put_multipart(self, bucket, key, path):
        self.client.fput_object(bucket, key, str(path), part_size=5 * MiB, sse=SseKMS(self.key.alias, {}))

    def get(self, bucket, key, destination):
        self.client.fget_object(bucket, key, str(destination))

    def list_keys(self, bucket, prefix):
        return {entry.object_name: entry.size for entry in self.client.list_objects(bucket, prefix, recursive=True)}

    def get_range(self, bucket, key, first, last, workdir):
        length = 0 if last is None else last - first + 1  # minio-py: length 0 = to the end
        response = self.client.get_object(bucket, key, offset=first, length=length)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def presign(self, bucket, key):
        return [self.client.presigned_get_object(bucket, key, expires=timedelta(minutes=5))]


def make_client(name: str, target: Target, key: MatrixKey, workdir: Path) -> Client:
    alice = target.users["alice"]
    if name == "aws-cli":
        return AwsCliClient(target.aws_cli(workdir), target.aws_cli(workdir, presign_with_sigv4=True), key)
    if name == "boto3":
        return Boto3Client(
            target.client("alice"),
            boto3_client(target.endpoint, alice, region=target.region, signature_version=None),
            key,
        )
    if name == "rclone":
        return RcloneClient(Rclone(target.endpoint, alice, workdir, target.region, sse_kms_key_id=key.alias))
    if name == "s3cmd":
        return S3cmdClient(S3cmd(target.endpoint, alice, workdir, target.region, kms_key_id=key.alias))
    if name == "minio-py":
        endpoint = urllib.parse.urlsplit(target.endpoint)
        minio = Minio(
            endpoint.netloc,
            access_key=alice.access_key_id,
            secret_key=alice.secret_access_key,
            secure=False,
            region=target.region,  # no GetBucketLocation before signing
            http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0, redirect=0), timeout=urllib3.Timeout(60)),
        )
        return MinioClient(minio, key)
    raise ValueError(f"unknown client {name!r}")


# ------------------------------------------------------------------ what every cell asserts


def assert_sse_kms(s3, bucket: str, key: str, key_arn: str) -> dict:
    head = s3.head_object(Bucket=bucket, Key=key)
    assert (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")) == ("aws:kms", key_arn), head
    return head


def assert_ciphertext_at_rest(upstream: RawUpstream, bucket: str, key: str, plaintext: bytes) -> None:
    """The store holds s3kms's format (magic, longer than the plaintext, SSE-KMS envelope) and
    no 32-byte window of the plaintext, sampled every len/256 bytes (random plaintexts: a hit
    can only be a leak)."""
    stored = upstream.get(bucket, key)
    assert stored.data[:4] == MAGIC, stored.data[:48]
    assert len(stored.data) > len(plaintext)
    assert stored.metadata.get("s3kms-a") == "aws:kms", stored.metadata
    step = max(1, len(plaintext) // 256)
    leaked = [offset for offset in range(0, len(plaintext) - 32, step) if plaintext[offset : offset + 32] in stored.data]
    assert leaked == [], f"plaintext found in the stored bytes at offsets {leaked[:10]}"


@dataclass
class Cell:
    target: Target
    s3: object  # boto3 as alice: the independent reader and writer
    upstream: RawUpstream
    bucket: str
    key: MatrixKey
    workdir: Path

    def local(self, name: str, data: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(data)
        return path

    def put_with_boto3(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ServerSideEncryption="aws:kms",
                           SSEKMSKeyId=self.key.alias)


def cell_put(client: Client, cell: Cell) -> None:
    data = os.urandom(PUT_SIZE)
    client.put(cell.bucket, "put/object.bin", cell.local("put.bin", data))
    assert cell.s3.get_object(Bucket=cell.bucket, Key="put/object.bin")["Body"].read() == data
    assert_sse_kms(cell.s3, cell.bucket, "put/object.bin", cell.key.arn)
    assert_ciphertext_at_rest(cell.upstream, cell.bucket, "put/object.bin", data)


def cell_get(client: Client, cell: Cell) -> None:
    data = os.urandom(PUT_SIZE)
    cell.put_with_boto3("get/object.bin", data)
    destination = cell.workdir / "downloaded.bin"
    client.get(cell.bucket, "get/object.bin", destination)
    assert destination.read_bytes() == data


def cell_list(client: Client, cell: Cell) -> None:
    objects = {"list/empty.bin": b"", "list/b.bin": os.urandom(70_000), "list/dir/c.txt": b"12345"}
    for key, data in objects.items():
        cell.put_with_boto3(key, data)
    cell.put_with_boto3("elsewhere.bin", b"not under the prefix")
    # Plaintext sizes: s3kms stores more (header, a tag per 64 KiB, trailer).
    assert client.list_keys(cell.bucket, "list/") == {key: len(data) for key, data in objects.items()}


def cell_multipart(client: Client, cell: Cell) -> None:
    data = os.urandom(MULTIPART_SIZE)
    client.put_multipart(cell.bucket, "multipart/big.bin", cell.local("big.bin", data))
    head = assert_sse_kms(cell.s3, cell.bucket, "multipart/big.bin", cell.key.arn)
    assert head["ContentLength"] == len(data)
    parts = re.fullmatch(r'"?[0-9a-f]+-(\d+)"?', head["ETag"])
    assert parts is not None and int(parts.group(1)) >= 2, f"not a multipart object: ETag {head['ETag']}"
    assert cell.s3.get_object(Bucket=cell.bucket, Key="multipart/big.bin")["Body"].read() == data
    assert_ciphertext_at_rest(cell.upstream, cell.bucket, "multipart/big.bin", data)
    destination = cell.workdir / "big-downloaded.bin"
    client.get(cell.bucket, "multipart/big.bin", destination)
    assert destination.read_bytes() == data


def cell_range(client: Client, cell: Cell) -> None:
    data = os.urandom(RANGE_OBJECT_SIZE)
    cell.put_with_boto3("range/object.bin", data)
    for first, last in client.ranges:
        expected = data[first:] if last is None else data[first : last + 1]
        got = client.get_range(cell.bucket, "range/object.bin", first, last, cell.workdir)
        assert got == expected, f"range {first}-{last}: {len(got)} bytes, expected {len(expected)}"


def signature_version(url: str) -> str:
    names = query_names(url)
    if "X-Amz-Signature" in names:
        return "SigV4"
    assert {"AWSAccessKeyId", "Signature", "Expires"} <= names, url
    return "SigV2"


SSE_KMS_NEEDS_SIGV4 = "Requests specifying Server Side Encryption with AWS KMS managed keys require AWS Signature Version 4."


def cell_presign(client: Client, cell: Cell) -> None:
    """SigV4 URLs read any object. SigV2 URLs read SSE-S3 objects; for an SSE-KMS object AWS
    answers `400 InvalidArgument` (KMS needs SigV4), and so does s3kms."""
    sse_kms, sse_s3 = os.urandom(5000), os.urandom(4000)
    cell.put_with_boto3("presign/sse-kms.bin", sse_kms)
    cell.s3.put_object(Bucket=cell.bucket, Key="presign/sse-s3.bin", Body=sse_s3, ServerSideEncryption="AES256")
    kms_urls = client.presign(cell.bucket, "presign/sse-kms.bin")
    s3_urls = client.presign(cell.bucket, "presign/sse-s3.bin")
    assert [signature_version(url) for url in kms_urls + s3_urls] == client.presign_signatures * 2
    for kms_url, s3_url in zip(kms_urls, s3_urls):
        response = fetch(s3_url)
        assert (response.status, response.body) == (200, sse_s3), f"{s3_url}\n{response.describe()}"
        response = fetch(kms_url)
        if signature_version(kms_url) == "SigV4":
            assert (response.status, response.body) == (200, sse_kms), f"{kms_url}\n{response.describe()}"
        else:
            assert_s3_error(response, 400, "InvalidArgument", SSE_KMS_NEEDS_SIGV4)


CELLS: dict[str, Callable[[Client, Cell], None]] = {
    "put": cell_put,
    "get": cell_get,
    "list": cell_list,
    "multipart": cell_multipart,
    "range": cell_range,
    "presign": cell_presign,
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("client", [name for name in CLIENTS if name != "aws-sdk-rust"])
def test_client(client, operation, target, s3, upstream, bucket, matrix_key, tmp_path):
    cell = Cell(target, s3, upstream, bucket, matrix_key, tmp_path)
    CELLS[operation](make_client(client, target, matrix_key, tmp_path), cell)


# ------------------------------------------------------------------ aws-sdk-rust: the example


@dataclass
class SdkRun:
    result: subprocess.CompletedProcess
    bucket: str

    def lines(self, step: str) -> list[str]:
        return [line for line in self.result.stdout.splitlines() if line.startswith(f"ok {step}: ")]

    def value(self, label: str) -> str:
        for line in self.result.stdout.splitlines():
            if line.startswith(f"{label}: "):
                return line.removeprefix(f"{label}: ")
        pytest.fail(f"the example printed no '{label}:' line\n{explain(self.result)}")


@pytest.fixture(scope="module")
def sdk_run(aws_sdk_rust_example, target, s3, tmp_path_factory):
    """examples/aws-sdk-rust, run once against the target as a user runs it: endpoint, region and
    credentials in the environment (with no AWS config files)."""
    workdir = tmp_path_factory.mktemp("aws-sdk-rust")
    alice = target.users["alice"]
    bucket_name = unique_bucket_name("sdk-matrix")
    environment = {
        **environment_without_aws(),
        "AWS_ENDPOINT_URL": target.endpoint,
        "AWS_REGION": target.region,
        "AWS_ACCESS_KEY_ID": alice.access_key_id,
        "AWS_SECRET_ACCESS_KEY": alice.secret_access_key,
        "AWS_CONFIG_FILE": str(workdir / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(workdir / "no-aws-credentials"),
    }
    result = subprocess.run(
        [str(aws_sdk_rust_example), "--bucket", bucket_name],
        env=environment, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )
    yield SdkRun(result, bucket_name)
    empty_and_delete_bucket(s3, bucket_name)


# How many `ok <operation>: ...` lines the example prints per operation.
SDK_STEPS = {"put": 1, "get": 2, "list": 1, "multipart": 1, "range": 4, "presign": 1}


@pytest.mark.timeout(SDK_EXAMPLE_BUILD_TIMEOUT)  # the first build of the example, when run alone
@pytest.mark.parametrize("operation", OPERATIONS)
def test_aws_sdk_rust(operation, sdk_run, s3, upstream):
    assert len(sdk_run.lines(operation)) == SDK_STEPS[operation], explain(sdk_run.result)
    bucket = sdk_run.bucket
    key_arn = sdk_run.value("key").split()[0]
    assert KEY_ARN.match(key_arn), key_arn
    if operation == "put":
        plaintext = s3.get_object(Bucket=bucket, Key="hello.bin")["Body"].read()
        assert_sse_kms(s3, bucket, "hello.bin", key_arn)
        assert_ciphertext_at_rest(upstream, bucket, "hello.bin", plaintext)
    elif operation == "multipart":
        plaintext = s3.get_object(Bucket=bucket, Key="multipart/big.bin")["Body"].read()
        assert len(plaintext) > 8 * MiB
        head = assert_sse_kms(s3, bucket, "multipart/big.bin", key_arn)
        assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # 5 + 5 MiB and a shorter last part
        assert_ciphertext_at_rest(upstream, bucket, "multipart/big.bin", plaintext)
    elif operation == "presign":
        url = sdk_run.value("presigned URL")
        assert "X-Amz-Signature=" in url, url
        response = fetch(url)
        assert response.status == 200, response.describe()
        assert response.body == s3.get_object(Bucket=bucket, Key="hello.bin")["Body"].read()
