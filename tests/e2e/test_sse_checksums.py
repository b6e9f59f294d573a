"""Checksum mode on encrypted objects (AWS semantics): the client's full-object checksum
(CRC32, CRC32C, SHA1, SHA256, CRC64NVME) comes back from GET and HEAD with
`x-amz-checksum-mode: ENABLED`, typed FULL_OBJECT; an object sent without one, and a multipart
object, return the CRC64-NVME of the plaintext; checksum-mode HEAD of an SSE-KMS object needs
kms:Decrypt; SSE-KMS objects refuse SigV2 presigned URLs."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import boto3
import pytest
from botocore.config import Config

pytest.register_assert_rewrite("sse_support")

from clients import fetch, query_names, require_request_id  # noqa: E402
from conftest import empty_and_delete_bucket, unique_bucket_name  # noqa: E402
from s3_expect import assert_s3_error  # noqa: E402
from sse_support import (  # noqa: E402
    MiB,
    SEGMENT,
    assert_error,
    bucket,  # noqa: F401
    kms,  # noqa: F401
    module_bucket,  # noqa: F401
    new_key,
    s3,  # noqa: F401
    target,  # noqa: F401
    ADMIN,
    NOKMS,
    sse_server,
)

pytestmark = pytest.mark.proxy_only

# ------------------------------------------------------------------ CRCs in Python


def _reflected_table(poly: int, width: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc & ((1 << width) - 1))
    return table


def _reflect(value: int, width: int) -> int:
    return int(f"{value:0{width}b}"[::-1], 2)


# CRC-64/NVME: poly 0xad93d23594c93659 (reflected in, reflected out), init and xorout all ones.
CRC64_TABLE = _reflected_table(_reflect(0xAD93D23594C93659, 64), 64)
# CRC-32C (Castagnoli): poly 0x1edc6f41 reflected, init and xorout all ones.
CRC32C_TABLE = _reflected_table(_reflect(0x1EDC6F41, 32), 32)


def _crc(data: bytes, table: list[int], mask: int) -> int:
    crc = mask
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ mask


def crc64nvme(data: bytes) -> int:
    return _crc(data, CRC64_TABLE, (1 << 64) - 1)


def crc32c(data: bytes) -> int:
    return _crc(data, CRC32C_TABLE, (1 << 32) - 1)


def test_the_python_crcs_match_their_check_values():
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert crc32c(b"123456789") == 0xE3069283
    assert crc64nvme(b"") == 0


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def checksum_of(algorithm: str, data: bytes) -> str:
    return b64({
        "CRC32": lambda: zlib.crc32(data).to_bytes(4, "big"),
        "CRC32C": lambda: crc32c(data).to_bytes(4, "big"),
        "CRC64NVME": lambda: crc64nvme(data).to_bytes(8, "big"),
        "SHA1": lambda: hashlib.sha1(data).digest(),
        "SHA256": lambda: hashlib.sha256(data).digest(),
    }[algorithm]())


def plain_client(target):
    """boto3 that sends no checksum unless an operation requires one (botocore's default is
    a CRC32 on every PUT) and validates none it receives (so CRC32C and CRC64NVME answers,
    which need awscrt, are merely parsed)."""
    client = boto3.client(
        "s3", endpoint_url=target.endpoint, region_name=target.region,
        aws_access_key_id=target.users["alice"].access_key_id,
        aws_secret_access_key=target.users["alice"].secret_access_key,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                      request_checksum_calculation="when_required", response_checksum_validation="when_required"),
    )
    client.meta.events.register("after-call.s3", require_request_id)
    return client


def member(algorithm: str) -> str:
    return "Checksum" + algorithm  # ChecksumCRC32, ChecksumCRC64NVME, ...


def assert_checksum_mode_answers(client, bucket: str, key: str, algorithm: str, expected: str) -> None:
    got = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    body = got["Body"].read()
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    for name, response in (("GET", got), ("HEAD", head)):
        present = sorted(k for k in response if k.startswith("Checksum") and k != "ChecksumType")
        assert present == [member(algorithm)], (name, present)
        assert response[member(algorithm)] == expected, (name, response[member(algorithm)], expected)
        assert response.get("ChecksumType") == "FULL_OBJECT", (name, response.get("ChecksumType"))
    assert checksum_of(algorithm, body) == expected
    # Without checksum mode, no checksum is returned.
    quiet = client.head_object(Bucket=bucket, Key=key)
    assert [k for k in quiet if k.startswith("Checksum")] == [], quiet


# ------------------------------------------------------------------ the client's checksum


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA1", "SHA256"])
@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_boto3_checksum_comes_back(target, s3, bucket, algorithm, sse):
    data = os.urandom(2 * SEGMENT + 321)
    expected = checksum_of(algorithm, data)

    put = s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumAlgorithm=algorithm, ServerSideEncryption=sse)

    assert put[member(algorithm)] == expected
    assert_checksum_mode_answers(s3, bucket, "c", algorithm, expected)
    # boto3 validates a checksum it can compute, on a full GET with checksum mode.
    assert s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")["Body"].read() == data


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME"])
def test_raw_header_checksum_comes_back(target, bucket, algorithm):
    """boto3 needs awscrt for these two (not installed): the header is sent by hand."""
    data = os.urandom(SEGMENT + 5)
    expected = checksum_of(algorithm, data)
    header = f"x-amz-checksum-{algorithm.lower()}"

    put = target.raw("alice").signed_request(
        "PUT", f"/{bucket}/c", body=data,
        headers={header: expected, "x-amz-sdk-checksum-algorithm": algorithm, "x-amz-server-side-encryption": "aws:kms"},
    )

    assert put.status == 200, put.describe()
    assert put.header(header) == expected, put.describe()
    assert_checksum_mode_answers(plain_client(target), bucket, "c", algorithm, expected)


@pytest.mark.parametrize("algorithm", ["CRC32C", "CRC64NVME"])
def test_a_wrong_raw_checksum_is_bad_digest(target, s3, bucket, algorithm):
    data = os.urandom(1000)
    wrong = checksum_of(algorithm, data + b"x")

    put = target.raw("alice").signed_request(
        "PUT", f"/{bucket}/bad", body=data,
        headers={f"x-amz-checksum-{algorithm.lower()}": wrong, "x-amz-sdk-checksum-algorithm": algorithm},
    )

    assert_s3_error(put, 400, "BadDigest")
    assert_error(lambda: s3.head_object(Bucket=bucket, Key="bad"), 404, "404")


# ------------------------------------------------------------------ s3kms's CRC64-NVME


@pytest.mark.parametrize("size", [0, 1, SEGMENT, 3 * SEGMENT + 7])
@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_object_without_a_checksum_returns_its_crc64nvme(target, bucket, size, sse):
    client = plain_client(target)
    data = os.urandom(size)

    put = client.put_object(Bucket=bucket, Key="n", Body=data, ServerSideEncryption=sse)

    assert not [k for k in put if k.startswith("Checksum") and k != "ChecksumType"], put
    assert_checksum_mode_answers(client, bucket, "n", "CRC64NVME", checksum_of("CRC64NVME", data))


@pytest.mark.parametrize("last", [1, 5 * MiB + 3])
def test_multipart_object_returns_the_crc64nvme_of_the_whole_plaintext(target, kms, bucket, last):
    client = plain_client(target)
    key = new_key(kms, "checksum-multipart")
    parts = [os.urandom(5 * MiB), os.urandom(last)]
    data = b"".join(parts)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms",
                                               SSEKMSKeyId=key["KeyId"])["UploadId"]
    etags = [client.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
             for n, body in enumerate(parts, start=1)]
    client.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )

    assert_checksum_mode_answers(client, bucket, "mp", "CRC64NVME", checksum_of("CRC64NVME", data))


# ------------------------------------------------------------------ HEAD with checksum mode needs the key



@pytest.fixture(scope="module")
def permissions_server(tmp_path_factory):
    with sse_server(tmp_path_factory.mktemp("s3kms-sse-checksums"), [ADMIN, NOKMS]) as server:
        yield server


def test_checksum_mode_head_needs_kms_decrypt(permissions_server):
    admin, nokms = permissions_server.s3("admin"), permissions_server.s3("nokms")
    name = unique_bucket_name("sse-checksum-head")
    admin.create_bucket(Bucket=name)
    try:
        key = new_key(permissions_server.kms("admin"))
        data = os.urandom(4000)
        admin.put_object(Bucket=name, Key="k", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"],
                         ChecksumAlgorithm="SHA256")
        admin.put_object(Bucket=name, Key="s3", Body=data, ChecksumAlgorithm="SHA256")

        assert nokms.head_object(Bucket=name, Key="k")["ContentLength"] == len(data)
        assert_error(lambda: nokms.head_object(Bucket=name, Key="k", ChecksumMode="ENABLED"), 403, "403")
        # SSE-S3 needs no KMS permission, checksum mode or not; the admin may read the SSE-KMS one.
        assert nokms.head_object(Bucket=name, Key="s3", ChecksumMode="ENABLED")["ChecksumSHA256"] == \
            checksum_of("SHA256", data)
        assert admin.head_object(Bucket=name, Key="k", ChecksumMode="ENABLED")["ChecksumSHA256"] == \
            checksum_of("SHA256", data)
    finally:
        empty_and_delete_bucket(admin, name)


# ------------------------------------------------------------------ SigV2 presigned URLs


def presign(target, signature_version: str, bucket: str, key: str) -> str:
    client = target.client("alice", signature_version=signature_version)
    return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)


def test_sse_kms_objects_refuse_sigv2_presigned_urls(target, s3, bucket):
    data = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="kms", Body=data, ServerSideEncryption="aws:kms")
    s3.put_object(Bucket=bucket, Key="aes", Body=data, ServerSideEncryption="AES256")
    v2 = presign(target, "s3", bucket, "kms")
    assert {"AWSAccessKeyId", "Signature", "Expires"} <= query_names(v2), v2

    refused = fetch(v2)

    error = assert_s3_error(refused, 400, "InvalidArgument")
    assert "Signature Version 4" in (error.message or ""), refused.describe()
    assert data not in refused.body
    v4 = presign(target, "s3v4", bucket, "kms")
    assert "X-Amz-Signature" in query_names(v4), v4
    fine = fetch(v4)
    assert (fine.status, fine.body) == (200, data), fine.describe()
    # SSE-S3 objects take SigV2 URLs (AWS: only SSE-KMS needs SigV4).
    legacy = fetch(presign(target, "s3", bucket, "aes"))
    assert (legacy.status, legacy.body) == (200, data), legacy.describe()
