"""Server-side encryption on single-part objects, through boto3 (AWS semantics): SSE-S3 by
default, SSE-KMS under aws/s3 or a customer key, what is stored upstream (ciphertext only,
s3kms's envelope in reserved metadata that clients never see), plaintext sizes, ranges,
KMS permissions and key states, header errors, tampering, CopyObject, bucket default
encryption and checksums."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

pytest.register_assert_rewrite("sse_support")

from conftest import empty_and_delete_bucket, unique_bucket_name  # noqa: E402
from s3_expect import assert_absent, assert_s3_error, read_object  # noqa: E402
from sse_support import (  # noqa: E402
    ENVELOPE_NAMES,
    KEY_ARN,
    SEGMENT,
    Marker,
    MiB,
    assert_error,
    assert_sealed_single,
    b64_json,
    bucket,  # noqa: F401
    module_bucket,  # noqa: F401
    has_reserved,
    kms,  # noqa: F401
    missing_key_id,
    new_alias,
    new_key,
    reserved_headers,
    s3,  # noqa: F401
    target,  # noqa: F401
    upstream,  # noqa: F401
    ADMIN,
    NOKMS,
    sse_server,
)

pytestmark = pytest.mark.proxy_only

SIZES = [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, MiB + 3]


def aws_s3_key_arn(kms) -> str:
    return kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]


# ------------------------------------------------------------------ round trip and at rest


@pytest.mark.parametrize("size", SIZES)
def test_default_is_sse_s3_and_only_ciphertext_is_stored(s3, bucket, upstream, size):
    marker = Marker("default")
    data = marker.data(size)

    put = s3.put_object(Bucket=bucket, Key="obj", Body=data, Metadata={"color": "blue"})

    assert put["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in put and "BucketKeyEnabled" not in put
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == data
    head = s3.head_object(Bucket=bucket, Key="obj")
    for response in (got, head):
        assert response["ContentLength"] == size
        assert response["ServerSideEncryption"] == "AES256"
        assert "SSEKMSKeyId" not in response
        assert response["Metadata"] == {"color": "blue"}
        assert reserved_headers(response) == []

    stored = upstream.get(bucket, "obj")
    assert_sealed_single(stored.data, data)
    assert marker.leaks_into(stored.data) == []
    assert ENVELOPE_NAMES <= set(stored.metadata), stored.metadata
    assert stored.metadata["s3kms-v"] == "1s"
    assert stored.metadata["s3kms-a"] == "AES256"
    assert stored.metadata["color"] == "blue"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(entry["Key"], entry["Size"]) for entry in listed] == [("obj", size)]


def test_sse_kms_without_key_uses_aws_s3(s3, kms, bucket, upstream):
    marker = Marker("aws-s3")
    data = marker.data(SEGMENT + 1)

    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="aws:kms")

    arn = aws_s3_key_arn(kms)
    assert KEY_ARN.match(arn), arn
    assert put["ServerSideEncryption"] == "aws:kms"
    assert put["SSEKMSKeyId"] == arn
    assert "SSEKMSEncryptionContext" not in put and "BucketKeyEnabled" not in put
    for response in (s3.head_object(Bucket=bucket, Key="k"), s3.get_object(Bucket=bucket, Key="k")):
        assert (response["ServerSideEncryption"], response["SSEKMSKeyId"]) == ("aws:kms", arn)
        assert reserved_headers(response) == [] and has_reserved(response["Metadata"]) == []
    assert read_object(s3, bucket, "k") == data
    stored = upstream.get(bucket, "k")
    assert_sealed_single(stored.data, data)
    assert marker.leaks_into(stored.data) == []
    assert (stored.metadata["s3kms-a"], stored.metadata["s3kms-k"]) == ("aws:kms", arn)


@pytest.mark.parametrize("form", ["key-id", "key-arn", "alias-name", "alias-arn"])
def test_sse_kms_with_a_customer_key_in_every_form(s3, kms, bucket, form):
    key = new_key(kms)
    alias = new_alias(kms, key["KeyId"])
    named = {
        "key-id": key["KeyId"],
        "key-arn": key["Arn"],
        "alias-name": alias,
        "alias-arn": key["Arn"].split(":key/")[0] + ":" + alias,
    }[form]
    data = os.urandom(SEGMENT * 2 + 5)

    put = s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=named)

    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert got["Body"].read() == data
    assert s3.head_object(Bucket=bucket, Key="k")["SSEKMSKeyId"] == key["Arn"]


def test_encryption_context_is_echoed_on_put_only(s3, kms, bucket, upstream):
    key = new_key(kms)
    context = b64_json({"project": "s3kms", "stage": "e2e"})
    data = os.urandom(1000)

    put = s3.put_object(
        Bucket=bucket, Key="ctx", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"],
        SSEKMSEncryptionContext=context,
    )

    assert put["SSEKMSEncryptionContext"] == context
    for response in (s3.head_object(Bucket=bucket, Key="ctx"), s3.get_object(Bucket=bucket, Key="ctx")):
        assert "SSEKMSEncryptionContext" not in response
        assert response["SSEKMSKeyId"] == key["Arn"]
    assert read_object(s3, bucket, "ctx") == data
    assert "s3kms-c" in upstream.get(bucket, "ctx").metadata
    # Without a context header, none is echoed (and none stored).
    plain = s3.put_object(Bucket=bucket, Key="no-ctx", Body=data, ServerSideEncryption="aws:kms")
    assert "SSEKMSEncryptionContext" not in plain
    assert "s3kms-c" not in upstream.get(bucket, "no-ctx").metadata


def test_bucket_key_enabled_is_reported_only_when_true(s3, kms, bucket):
    key = new_key(kms)
    data = os.urandom(777)

    on = s3.put_object(
        Bucket=bucket, Key="on", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"], BucketKeyEnabled=True
    )
    off = s3.put_object(
        Bucket=bucket, Key="off", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"],
        BucketKeyEnabled=False,
    )

    assert on.get("BucketKeyEnabled") is True
    assert "BucketKeyEnabled" not in off
    assert s3.head_object(Bucket=bucket, Key="on").get("BucketKeyEnabled") is True
    assert "BucketKeyEnabled" not in s3.head_object(Bucket=bucket, Key="off")
    got = s3.get_object(Bucket=bucket, Key="on")
    assert got.get("BucketKeyEnabled") is True
    assert got["Body"].read() == data
    assert read_object(s3, bucket, "off") == data


# ------------------------------------------------------------------ sizes


def test_head_and_listings_report_plaintext_sizes(s3, bucket):
    sizes = {"a": 0, "b": 1, "c": SEGMENT, "d": SEGMENT + 1, "e": 300_001}
    for key, size in sizes.items():
        s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(size))
    s3.put_object(Bucket=bucket, Key="f", Body=os.urandom(4321), ServerSideEncryption="aws:kms")
    sizes["f"] = 4321
    # A multipart object: a 5 MiB part and a 1-byte last part.
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="g")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="g", UploadId=upload_id, PartNumber=n, Body=os.urandom(size))["ETag"]
        for n, size in ((1, 5 * MiB), (2, 1))
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="g", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
    )
    sizes["g"] = 5 * MiB + 1

    for key, size in sizes.items():
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == size, key
    assert {e["Key"]: e["Size"] for e in s3.list_objects_v2(Bucket=bucket)["Contents"]} == sizes
    assert {e["Key"]: e["Size"] for e in s3.list_objects(Bucket=bucket)["Contents"]} == sizes
    paged = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, StartAfter="a")
    assert {e["Key"]: e["Size"] for e in paged["Contents"]} == {k: sizes[k] for k in ("b", "c", "d")}


# ------------------------------------------------------------------ ranges

RANGED_SIZE = 3 * SEGMENT + 1000


@pytest.fixture
def ranged(s3, bucket):
    data = os.urandom(RANGED_SIZE)
    s3.put_object(Bucket=bucket, Key="r", Body=data)
    return bucket, data


END = RANGED_SIZE - 1


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=65530-65545", 65530, 65545),  # across the first segment boundary
        ("bytes=65535-65536", 65535, 65536),
        ("bytes=0-65535", 0, 65535),  # exactly the first segment
        ("bytes=65536-131071", 65536, 131071),  # exactly the second
        ("bytes=131000-190000", 131000, 190000),  # across two boundaries
        ("bytes=0-0", 0, 0),
        (f"bytes={END}-{END}", END, END),
        ("bytes=-1", END, END),
        ("bytes=-70000", RANGED_SIZE - 70000, END),
        (f"bytes=-{RANGED_SIZE + 10}", 0, END),  # a suffix longer than the object: all of it
        ("bytes=65537-", 65537, END),
        ("bytes=0-", 0, END),
        (f"bytes=196000-{RANGED_SIZE + 99999}", 196000, END),  # a last byte past the end is clipped
    ],
)
def test_ranged_get(s3, ranged, header, first, last):
    bucket, data = ranged

    got = s3.get_object(Bucket=bucket, Key="r", Range=header)

    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/{RANGED_SIZE}"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == data[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={RANGED_SIZE}-", f"bytes={RANGED_SIZE + 5}-{RANGED_SIZE + 10}"])
def test_range_past_the_end_is_416(s3, ranged, header):
    bucket, _ = ranged
    assert_error(lambda: s3.get_object(Bucket=bucket, Key="r", Range=header), 416, "InvalidRange")


def test_ranges_of_an_sse_kms_object(s3, kms, bucket):
    key = new_key(kms)
    data = os.urandom(2 * SEGMENT + 17)
    s3.put_object(Bucket=bucket, Key="kr", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])

    for first, last in ((SEGMENT - 3, SEGMENT + 3), (2 * SEGMENT, 2 * SEGMENT + 16), (5, 5)):
        got = s3.get_object(Bucket=bucket, Key="kr", Range=f"bytes={first}-{last}")
        assert got["ContentRange"] == f"bytes {first}-{last}/{len(data)}"
        assert got["SSEKMSKeyId"] == key["Arn"]
        assert got["Body"].read() == data[first : last + 1]
    head = s3.head_object(Bucket=bucket, Key="kr", Range="bytes=10-19")
    assert head["ContentLength"] == 10
    assert head["ContentRange"] == f"bytes 10-19/{len(data)}"


# ------------------------------------------------------------------ permissions (own s3kms)



@pytest.fixture(scope="module")
def permissions_server(tmp_path_factory):
    with sse_server(tmp_path_factory.mktemp("s3kms-sse-permissions"), [ADMIN, NOKMS]) as server:
        yield server


@pytest.fixture
def shared_bucket(permissions_server):
    admin = permissions_server.s3("admin")
    name = unique_bucket_name("sse-permissions")
    admin.create_bucket(Bucket=name)
    yield name
    empty_and_delete_bucket(admin, name)


def test_sse_kms_needs_the_users_own_kms_permissions(permissions_server, shared_bucket):
    admin, nokms = permissions_server.s3("admin"), permissions_server.s3("nokms")
    key = new_key(permissions_server.kms("admin"))
    data = os.urandom(SEGMENT + 9)

    assert_error(
        lambda: nokms.put_object(
            Bucket=shared_bucket, Key="by-nokms", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"]
        ),
        403, "AccessDenied", contains="kms:GenerateDataKey",
    )
    assert_absent(admin, shared_bucket, "by-nokms")

    admin.put_object(Bucket=shared_bucket, Key="by-admin", Body=data, ServerSideEncryption="aws:kms",
                     SSEKMSKeyId=key["KeyId"])
    assert_error(lambda: nokms.get_object(Bucket=shared_bucket, Key="by-admin"), 403, "AccessDenied",
                 contains="kms:Decrypt")
    assert_error(lambda: nokms.get_object(Bucket=shared_bucket, Key="by-admin", Range="bytes=0-9"), 403,
                 "AccessDenied", contains="kms:Decrypt")
    assert read_object(admin, shared_bucket, "by-admin") == data
    # HEAD needs no kms:Decrypt (AWS: only with checksum mode).
    assert nokms.head_object(Bucket=shared_bucket, Key="by-admin")["ContentLength"] == len(data)


def test_sse_s3_and_aws_s3_need_no_kms_permission(permissions_server, shared_bucket):
    nokms = permissions_server.s3("nokms")
    data = os.urandom(SEGMENT + 9)

    put = nokms.put_object(Bucket=shared_bucket, Key="sse-s3", Body=data)
    assert put["ServerSideEncryption"] == "AES256"
    assert read_object(nokms, shared_bucket, "sse-s3") == data
    # aws/s3's key policy lets any principal of the account use it through S3.
    managed = nokms.put_object(Bucket=shared_bucket, Key="aws-s3", Body=data, ServerSideEncryption="aws:kms")
    assert KEY_ARN.match(managed["SSEKMSKeyId"]), managed
    assert read_object(nokms, shared_bucket, "aws-s3") == data


# ------------------------------------------------------------------ key states


def test_key_state_governs_reads(s3, kms, bucket):
    key = new_key(kms)
    data = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="k", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])

    kms.disable_key(KeyId=key["KeyId"])
    assert_error(lambda: s3.get_object(Bucket=bucket, Key="k"), 400, "KMS.DisabledException",
                 message=f"{key['Arn']} is disabled.")
    assert_error(
        lambda: s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ServerSideEncryption="aws:kms",
                              SSEKMSKeyId=key["KeyId"]),
        400, "KMS.DisabledException",
    )

    kms.enable_key(KeyId=key["KeyId"])
    assert read_object(s3, bucket, "k") == data

    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    try:
        assert_error(lambda: s3.get_object(Bucket=bucket, Key="k"), 400, "KMS.KMSInvalidStateException")
    finally:
        kms.cancel_key_deletion(KeyId=key["KeyId"])


@pytest.mark.parametrize("named", ["uuid", "alias"])
def test_put_under_a_missing_key_is_not_found(s3, bucket, named):
    key_id = missing_key_id() if named == "uuid" else "alias/e2e-sse-never-created"
    assert_error(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id),
        400, "KMS.NotFoundException",
    )
    assert_absent(s3, bucket, "k")


# ------------------------------------------------------------------ header errors


def test_key_id_without_aws_kms_is_invalid(s3, kms, bucket):
    key = new_key(kms)
    assert_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", SSEKMSKeyId=key["Arn"]), 400,
                 "InvalidArgument")
    assert_error(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256", SSEKMSKeyId=key["Arn"]),
        400, "InvalidArgument",
    )
    assert_error(
        lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES128"), 400,
        "InvalidArgument",
    )
    assert_absent(s3, bucket, "k")


@pytest.mark.parametrize("algorithm", ["AES256", "aws:kms"])
def test_sse_header_on_get_or_head_is_invalid(target, s3, bucket, algorithm):
    s3.put_object(Bucket=bucket, Key="k", Body=b"payload")
    raw = target.raw("alice")

    got = raw.signed_request("GET", f"/{bucket}/k", headers={"x-amz-server-side-encryption": algorithm})
    assert_s3_error(got, 400, "InvalidArgument")
    assert b"payload" not in got.body
    head = raw.signed_request("HEAD", f"/{bucket}/k", headers={"x-amz-server-side-encryption": algorithm})
    assert head.status == 400, head.describe()


def test_reserved_metadata_is_refused(target, s3, bucket):
    assert_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"s3kms-x": "1"}), 400,
                 "InvalidArgument")
    assert_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"S3KMS-V": "1s"}), 400,
                 "InvalidArgument")
    assert_absent(s3, bucket, "k")
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    assert_error(
        lambda: s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "src"},
                               MetadataDirective="REPLACE", Metadata={"s3kms-w": "AAAA"}),
        400, "InvalidArgument",
    )
    assert_error(lambda: s3.create_multipart_upload(Bucket=bucket, Key="k", Metadata={"s3kms-k": "x"}), 400,
                 "InvalidArgument")
    assert_absent(s3, bucket, "k")


# ------------------------------------------------------------------ tampering upstream


def must_not_read(s3, bucket: str, key: str, **options) -> None:
    """The GET fails: an error status, or a body cut short that botocore reports."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key, **options)["Body"].read()
    except Exception:  # ClientError, IncompleteReadError, ResponseStreamingError, ProtocolError...
        return
    pytest.fail(f"GET {bucket}/{key} {options} returned {len(body)} bytes of a tampered object")


@pytest.mark.parametrize("where", ["header", "first-segment", "middle", "trailer"])
def test_a_flipped_stored_byte_fails_the_read(s3, bucket, upstream, where):
    data = os.urandom(3 * SEGMENT + 500)
    s3.put_object(Bucket=bucket, Key="t", Body=data)
    stored = upstream.get(bucket, "t")
    offset = {"header": 30, "first-segment": 1000, "middle": len(stored.data) // 2, "trailer": len(stored.data) - 40}[
        where
    ]

    upstream.flip(bucket, "t", offset)

    assert upstream.get(bucket, "t").data != stored.data
    must_not_read(s3, bucket, "t")
    if where != "trailer":  # a range reads only the segments it needs, each authenticated alone
        # A range over the changed segment fails too (plaintext offset ≈ stored offset - 48).
        around = max(0, min(offset - 48, len(data) - 1))
        must_not_read(s3, bucket, "t", Range=f"bytes={around}-{min(around + 10, len(data) - 1)}")

    # Flipped back, the object reads again: the failure was the flipped byte, not the harness.
    upstream.flip(bucket, "t", offset)
    assert read_object(s3, bucket, "t") == data


@pytest.mark.parametrize("algorithm", ["AES256", "aws:kms"])
def test_swapped_envelopes_fail_the_read(s3, bucket, upstream, algorithm):
    first, second = os.urandom(SEGMENT + 1), os.urandom(SEGMENT + 1)
    s3.put_object(Bucket=bucket, Key="one", Body=first, ServerSideEncryption=algorithm)
    s3.put_object(Bucket=bucket, Key="two", Body=second, ServerSideEncryption=algorithm)
    one, two = upstream.get(bucket, "one"), upstream.get(bucket, "two")

    upstream.put(bucket, "one", one.data, two.metadata)
    upstream.put(bucket, "two", two.data, one.metadata)

    must_not_read(s3, bucket, "one")
    must_not_read(s3, bucket, "two")

    upstream.put(bucket, "one", one.data, one.metadata)
    upstream.put(bucket, "two", two.data, two.metadata)
    assert (read_object(s3, bucket, "one"), read_object(s3, bucket, "two")) == (first, second)


def test_an_object_stripped_of_its_envelope_is_not_served(s3, bucket, upstream):
    data = Marker("stripped").data(5000)
    s3.put_object(Bucket=bucket, Key="s", Body=data)
    stored = upstream.get(bucket, "s")

    upstream.put(bucket, "s", stored.data, {})

    must_not_read(s3, bucket, "s")
    upstream.put(bucket, "s", stored.data, stored.metadata)
    assert read_object(s3, bucket, "s") == data


# ------------------------------------------------------------------ CopyObject


def test_copy_takes_encryption_from_the_request_not_the_source(s3, kms, bucket, upstream):
    key_a, key_b = new_key(kms, "copy-a"), new_key(kms, "copy-b")
    data = os.urandom(2 * SEGMENT + 3)
    s3.put_object(
        Bucket=bucket, Key="src", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_a["KeyId"],
        SSEKMSEncryptionContext=b64_json({"origin": "source"}), Metadata={"m": "v"},
    )

    plain = s3.copy_object(Bucket=bucket, Key="dst-default", CopySource={"Bucket": bucket, "Key": "src"})
    assert plain["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in plain
    head = s3.head_object(Bucket=bucket, Key="dst-default")
    assert head["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in head
    assert head["Metadata"] == {"m": "v"}
    assert read_object(s3, bucket, "dst-default") == data
    stored = upstream.get(bucket, "dst-default")
    assert_sealed_single(stored.data, data)
    assert stored.metadata["s3kms-a"] == "AES256"
    assert "s3kms-c" not in stored.metadata  # the source's context does not travel

    kms_copy = s3.copy_object(
        Bucket=bucket, Key="dst-b", CopySource={"Bucket": bucket, "Key": "src"}, ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key_b["KeyId"],
    )
    assert (kms_copy["ServerSideEncryption"], kms_copy["SSEKMSKeyId"]) == ("aws:kms", key_b["Arn"])
    got = s3.get_object(Bucket=bucket, Key="dst-b")
    assert got["SSEKMSKeyId"] == key_b["Arn"]
    assert got["Body"].read() == data
    # The copy is sealed anew: not the source's stored bytes.
    assert upstream.get(bucket, "dst-b").data[20:44] != upstream.get(bucket, "src").data[20:44]


def test_copy_onto_itself(s3, kms, bucket):
    key = new_key(kms)
    data = os.urandom(SEGMENT + 2)
    s3.put_object(Bucket=bucket, Key="self", Body=data, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])

    assert_error(lambda: s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"}),
                 400, "InvalidRequest")

    # Changing the encryption in place is allowed (that is how objects are re-keyed).
    changed = s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                             ServerSideEncryption="AES256")
    assert changed["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="self")["ServerSideEncryption"] == "AES256"
    assert read_object(s3, bucket, "self") == data


def test_copy_keeps_the_source_tags_unless_told_to_replace_them(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"tagged source", Tagging="team=storage&stage=prod%20eu")
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "tagged"})
    tags = s3.get_object_tagging(Bucket=bucket, Key="copied")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("stage", "prod eu"), ("team", "storage")]
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "tagged"},
                   TaggingDirective="REPLACE", Tagging="only=this")
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [{"Key": "only", "Value": "this"}]
    assert read_object(s3, bucket, "replaced") == b"tagged source"


# ------------------------------------------------------------------ bucket default encryption


def test_bucket_default_encryption(s3, kms, bucket, make_bucket):
    fresh = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert fresh["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    key = new_key(kms)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key["KeyId"]}}]
        },
    )
    data = os.urandom(3000)

    put = s3.put_object(Bucket=bucket, Key="by-default", Body=data)
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    got = s3.get_object(Bucket=bucket, Key="by-default")
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert got["Body"].read() == data
    # The request wins over the default.
    explicit = s3.put_object(Bucket=bucket, Key="explicit", Body=data, ServerSideEncryption="AES256")
    assert explicit["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in explicit
    # Another bucket keeps AWS's default.
    other = make_bucket()
    assert s3.put_object(Bucket=other, Key="k", Body=data)["ServerSideEncryption"] == "AES256"


# ------------------------------------------------------------------ checksums


def test_flexible_checksums_round_trip(s3, bucket):
    data = os.urandom(SEGMENT * 2 + 99)
    crc32 = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    sha256 = base64.b64encode(hashlib.sha256(data).digest()).decode()

    by_crc = s3.put_object(Bucket=bucket, Key="crc32", Body=data, ChecksumAlgorithm="CRC32")
    by_sha = s3.put_object(Bucket=bucket, Key="sha256", Body=data, ChecksumAlgorithm="SHA256")

    assert by_crc["ChecksumCRC32"] == crc32
    assert by_sha["ChecksumSHA256"] == sha256
    for key in ("crc32", "sha256"):
        assert read_object(s3, bucket, key) == data
        # With checksum mode on, a checksum the server returns is validated by botocore.
        assert read_object(s3, bucket, key, ChecksumMode="ENABLED") == data


def test_wrong_content_md5_is_bad_digest_and_keeps_the_old_object(s3, bucket):
    old = os.urandom(SEGMENT + 10)
    s3.put_object(Bucket=bucket, Key="k", Body=old)
    new = os.urandom(SEGMENT + 10)
    wrong = base64.b64encode(hashlib.md5(b"something else").digest()).decode()

    assert_error(lambda: s3.put_object(Bucket=bucket, Key="k", Body=new, ContentMD5=wrong), 400, "BadDigest")

    assert read_object(s3, bucket, "k") == old
    assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == len(old)
    right = base64.b64encode(hashlib.md5(new).digest()).decode()
    s3.put_object(Bucket=bucket, Key="k", Body=new, ContentMD5=right)
    assert read_object(s3, bucket, "k") == new


def test_ranged_reads_of_a_noncurrent_version_read_that_version(s3, make_bucket):
    """Every read s3kms makes for a GET with versionId (ranges, the manifest of a multipart
    version) is of that version, not of the current object."""
    bucket = make_bucket()
    try:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    except Exception as refused:  # noqa: BLE001 - a store without versioning
        pytest.skip(f"the store does not do versioning: {refused}")
    first, second = os.urandom(3 * SEGMENT + 5), os.urandom(3 * SEGMENT + 5)
    version = s3.put_object(Bucket=bucket, Key="v", Body=first).get("VersionId")
    if not version or version == "null":
        pytest.skip("the store returned no version id")
    s3.put_object(Bucket=bucket, Key="v", Body=second)
    ranged = s3.get_object(Bucket=bucket, Key="v", VersionId=version, Range=f"bytes={SEGMENT + 7}-{2 * SEGMENT + 9}")
    assert ranged["Body"].read() == first[SEGMENT + 7 : 2 * SEGMENT + 10]
    assert s3.get_object(Bucket=bucket, Key="v", VersionId=version)["Body"].read() == first
    assert s3.get_object(Bucket=bucket, Key="v", Range="bytes=0-9")["Body"].read() == second[:10]
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "v", "VersionId": version})
    assert copied["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert read_object(s3, bucket, "copy") == first
