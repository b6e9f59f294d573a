"""Server-side encryption across two s3kms instances in front of one SeaweedFS, sharing the
root key and the `s3` key store: a multipart upload continued and completed on the other
instance (upload records and staged small parts live in the store), an SSE-KMS object under a
customer key read on the other instance, and bucket settings (default encryption, bucket
policy) set on one instance governing requests on the other."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets

import pytest

pytest.register_assert_rewrite("sse_support")

from clients import boto3_client, require_request_id  # noqa: E402
from conftest import LIVE_LOGS, REGION, empty_and_delete_bucket, start_shared_store_instance, unique_bucket_name  # noqa: E402
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials  # noqa: E402
from sigv4_raw import Credentials  # noqa: E402
from sse_support import KiB, MAGIC, MiB, SeaweedRaw, assert_error, kms_client, new_key  # noqa: E402

pytestmark = pytest.mark.proxy_only

ADMIN = ServerCredentials("admin", "AKIASSETWOINSTANCES01", "sse-two-instances-secret-0123456789", ALLOW_ALL_POLICY)
KEY_STORE_BUCKET = "s3kms-sse-two-instances-store"


def start_instance(workdir, seaweedfs, root_key: str) -> S3kms:
    """An instance with its own data_dir and the store shared with the other."""
    return start_shared_store_instance(workdir, seaweedfs, root_key, [ADMIN], KEY_STORE_BUCKET)


class Side:
    def __init__(self, instance: S3kms) -> None:
        credentials = Credentials(ADMIN.access_key_id, ADMIN.secret_access_key)
        self.s3 = boto3_client(instance.endpoint, credentials, region=REGION)
        self.s3.meta.events.register("after-call.s3", require_request_id)
        self.kms = kms_client(instance.endpoint, credentials)


@pytest.fixture(scope="module")
def sides(seaweedfs, tmp_path_factory):
    root_key = base64.b64encode(os.urandom(32)).decode() + "\n"
    first = start_instance(tmp_path_factory.mktemp("sse-instance-a"), seaweedfs, root_key)
    try:
        second = start_instance(tmp_path_factory.mktemp("sse-instance-b"), seaweedfs, root_key)
    except BaseException:
        first.stop()
        raise
    try:
        yield Side(first), Side(second)
    finally:
        for instance in (first, second):
            instance.stop()
            LIVE_LOGS.discard(instance.log_path)


@pytest.fixture
def bucket(sides):
    a, _ = sides
    name = unique_bucket_name("sse-two")
    a.s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(a.s3, name)


# ------------------------------------------------------------------ multipart across instances


@pytest.mark.parametrize("algorithm", ["AES256", "aws:kms"])
def test_multipart_upload_spread_over_both_instances(sides, bucket, seaweedfs, algorithm):
    a, b = sides
    create = {"ServerSideEncryption": algorithm}
    if algorithm == "aws:kms":
        key = new_key(a.kms, "two-instances-multipart")
        create["SSEKMSKeyId"] = key["KeyId"]
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1 * KiB)]
    data = b"".join(parts)

    upload_id = a.s3.create_multipart_upload(Bucket=bucket, Key="mp", **create)["UploadId"]
    etags = []
    for number, (side, body) in enumerate(zip((a, b, a), parts), start=1):
        etags.append(side.s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number,
                                         Body=body)["ETag"])

    # Checked last (after the reads), so that a wrong listing does not hide the rest.
    listed = b.s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id)
    assert [u["UploadId"] for u in b.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload_id]

    done = b.s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    assert done["ServerSideEncryption"] == algorithm
    if algorithm == "aws:kms":
        assert done["SSEKMSKeyId"] == key["Arn"]

    got = a.s3.get_object(Bucket=bucket, Key="mp")
    assert got["ContentLength"] == len(data)
    assert got["ServerSideEncryption"] == algorithm
    assert got["Body"].read() == data
    # Across the first/second part boundary, and into the small last part.
    for first, last in ((5 * MiB - 100, 5 * MiB + 99), (10 * MiB - 10, 10 * MiB + 500)):
        ranged = a.s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={first}-{last}")
        assert ranged["ContentRange"] == f"bytes {first}-{last}/{len(data)}"
        assert ranged["Body"].read() == data[first : last + 1]
    assert a.s3.head_object(Bucket=bucket, Key="mp", PartNumber=3)["ContentLength"] == KiB
    assert b.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    stored = SeaweedRaw(seaweedfs.endpoint).get(bucket, "mp").data
    assert stored[:4] == MAGIC and parts[0][:64] not in stored
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed.get("Parts", [])] == [
        (n, len(body), etag) for n, (body, etag) in enumerate(zip(parts, etags), start=1)
    ], listed


def aborted_on_b(sides, bucket: str, key: str) -> str:
    """An upload created on A, with a small (staged) part uploaded on A, aborted on B."""
    a, b = sides
    upload_id = a.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    a.s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"staged small part")
    b.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    assert_error(lambda: b.s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id), 404, "NoSuchUpload")
    return upload_id


def test_upload_aborted_on_b_is_gone_for_list_parts_on_a(sides, bucket):
    a, _ = sides
    upload_id = aborted_on_b(sides, bucket, "gone")
    assert_error(lambda: a.s3.list_parts(Bucket=bucket, Key="gone", UploadId=upload_id), 404, "NoSuchUpload")


def test_upload_aborted_on_b_takes_no_part_on_a(sides, bucket):
    a, _ = sides
    upload_id = aborted_on_b(sides, bucket, "gone")
    # A small part is staged in the key store, not sent upstream: A itself must know the
    # upload is gone.
    assert_error(
        lambda: a.s3.upload_part(Bucket=bucket, Key="gone", UploadId=upload_id, PartNumber=2, Body=b"late"),
        404, "NoSuchUpload",
    )


def store_records_of(seaweedfs, upload_id: str) -> list[str]:
    """The shared store's objects of one upload (layout of src/s3/multipart/records.rs:
    `uploads/<hex of the first 16 bytes of sha256(upload id)>/…` under the store prefix)."""
    directory = hashlib.sha256(upload_id.encode()).digest()[:16].hex()
    raw = SeaweedRaw(seaweedfs.endpoint).client
    listed = raw.list_objects_v2(Bucket=KEY_STORE_BUCKET, Prefix=f"kms/uploads/{directory}/")
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_complete_and_abort_leave_no_upload_records_in_the_store(sides, bucket, seaweedfs):
    a, b = sides
    upload_id = a.s3.create_multipart_upload(Bucket=bucket, Key="done")["UploadId"]
    etag = b.s3.upload_part(Bucket=bucket, Key="done", UploadId=upload_id, PartNumber=1, Body=b"one small part")["ETag"]
    assert len(store_records_of(seaweedfs, upload_id)) >= 2  # the upload record, the part (staged)
    b.s3.complete_multipart_upload(Bucket=bucket, Key="done", UploadId=upload_id,
                                   MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert a.s3.get_object(Bucket=bucket, Key="done")["Body"].read() == b"one small part"
    assert store_records_of(seaweedfs, upload_id) == []

    aborted = aborted_on_b(sides, bucket, "aborted")
    assert store_records_of(seaweedfs, aborted) == []


# ------------------------------------------------------------------ SSE-KMS objects


def test_sse_kms_object_under_a_key_made_on_a_is_readable_on_b(sides, bucket):
    a, b = sides
    key = new_key(a.kms, "two-instances")
    alias = f"alias/e2e-two-{secrets.token_hex(4)}"
    a.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    data = os.urandom(200_000)

    put = a.s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="aws:kms",
                          SSEKMSKeyId=key["KeyId"])
    assert put["SSEKMSKeyId"] == key["Arn"]

    got = b.s3.get_object(Bucket=bucket, Key="k")
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert got["Body"].read() == data
    # And the other way round, the key named by the alias made on A.
    b.s3.put_object(Bucket=bucket, Key="k2", Body=data[:999], ServerSideEncryption="aws:kms", SSEKMSKeyId=alias)
    got = a.s3.get_object(Bucket=bucket, Key="k2")
    assert got["SSEKMSKeyId"] == key["Arn"]
    assert got["Body"].read() == data[:999]
    # The key disabled on B: A refuses the read.
    b.kms.disable_key(KeyId=key["KeyId"])
    try:
        assert_error(lambda: a.s3.get_object(Bucket=bucket, Key="k"), 400, "KMS.DisabledException")
    finally:
        a.kms.enable_key(KeyId=key["KeyId"])
    assert b.s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data


# ------------------------------------------------------------------ bucket settings


def test_default_encryption_set_on_a_applies_on_b(sides, bucket):
    a, b = sides
    key = new_key(a.kms, "two-instances-default")
    a.s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["KeyId"]}}]
        },
    )
    rule = b.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"

    put = b.s3.put_object(Bucket=bucket, Key="by-default", Body=b"default on B")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert a.s3.head_object(Bucket=bucket, Key="by-default")["SSEKMSKeyId"] == key["Arn"]

    a.s3.delete_bucket_encryption(Bucket=bucket)
    after = b.s3.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert after["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in after


def test_bucket_policy_set_on_b_denies_on_a(sides, bucket):
    a, b = sides
    a.s3.put_object(Bucket=bucket, Key="private/secret", Body=b"secret")
    a.s3.put_object(Bucket=bucket, Key="public/open", Body=b"open")
    assert a.s3.get_object(Bucket=bucket, Key="private/secret")["Body"].read() == b"secret"
    document = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:aws:s3:::{bucket}/private/*",
        }],
    })

    b.s3.put_bucket_policy(Bucket=bucket, Policy=document)

    try:
        assert json.loads(a.s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(document)
        assert_error(lambda: a.s3.get_object(Bucket=bucket, Key="private/secret"), 403, "AccessDenied")
        assert_error(lambda: a.s3.put_object(Bucket=bucket, Key="private/new", Body=b"n"), 403, "AccessDenied")
        assert a.s3.get_object(Bucket=bucket, Key="public/open")["Body"].read() == b"open"
    finally:
        b.s3.delete_bucket_policy(Bucket=bucket)
    assert a.s3.get_object(Bucket=bucket, Key="private/secret")["Body"].read() == b"secret"
