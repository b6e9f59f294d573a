"""Server-side encryption of multipart uploads (AWS semantics): the aws CLI's multipart up and
down, boto3 uploads with part boundaries off the 64 KiB segment grid, partNumber reads, the
upload life cycle and its errors, UploadPartCopy from an encrypted source, KMS permissions
per step, and the stored object upstream (ciphertext only, `-M` ETag)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

pytest.register_assert_rewrite("sse_support")

from conftest import empty_and_delete_bucket, unique_bucket_name  # noqa: E402
from s3_expect import assert_absent, read_object  # noqa: E402
from sse_support import (  # noqa: E402
    ENVELOPE_NAMES,
    KEY_ARN,
    MAGIC,
    SEGMENT,
    Marker,
    MiB,
    assert_error,
    b64_json,
    bucket,  # noqa: F401
    module_bucket,  # noqa: F401
    kms,  # noqa: F401
    new_key,
    policy,
    reserved_headers,
    s3,  # noqa: F401
    target,  # noqa: F401
    upstream,  # noqa: F401
    user,
    ADMIN,
    NOKMS,
    sse_server,
)

pytestmark = pytest.mark.proxy_only

# Part sizes off the segment grid. (AWS's minimum for a non-last part is 5 MiB = 5,242,880
# bytes, so 5,000,000-byte parts would be EntityTooSmall: see test_complete_errors.)
PART_1 = 5 * MiB + 12345
PART_2 = 5 * MiB + 1


def complete(s3, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
    )


def upload(s3, bucket: str, key: str, parts: list[bytes], **create) -> tuple[str, list[str], dict]:
    """A whole multipart upload; returns the upload id, the part ETags and Complete's answer."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(parts, start=1)
    ]
    done = complete(s3, bucket, key, upload_id, list(enumerate(etags, start=1)))
    return upload_id, etags, done


def uploads_of(s3, bucket: str) -> list[str]:
    return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


# ------------------------------------------------------------------ aws CLI


@pytest.mark.parametrize("size_mib", [40, 100])
def test_cli_multipart_up_and_down(target, aws_cli, s3, bucket, tmp_path, size_mib):
    data = os.urandom(size_mib * MiB)  # the CLI's 8 MiB parts, up concurrently, down in ranges
    source = tmp_path / "up.bin"
    source.write_bytes(data)

    aws_cli.check("s3", "cp", str(source), f"s3://{bucket}/big.bin")
    down = tmp_path / "down.bin"
    aws_cli.check("s3", "cp", f"s3://{bucket}/big.bin", str(down))

    assert hashlib.sha256(down.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    head = json.loads(aws_cli.check("s3api", "head-object", "--bucket", bucket, "--key", "big.bin"))
    assert head["ContentLength"] == len(data)
    assert head["ServerSideEncryption"] == "AES256"
    listing = aws_cli.check("s3", "ls", f"s3://{bucket}/")
    assert [(line.split()[-1], int(line.split()[-2])) for line in listing.splitlines()] == [("big.bin", len(data))]
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == len(data)


# ------------------------------------------------------------------ boto3, SSE-KMS, three parts


@pytest.fixture
def three_parts(s3, kms, bucket):
    key = new_key(kms, "multipart")
    parts = [os.urandom(PART_1), os.urandom(PART_2), os.urandom(1)]
    context = b64_json({"upload": "three-parts"})
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"],
        SSEKMSEncryptionContext=context,
    )
    upload_id = created["UploadId"]
    answers = [
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=n, Body=body)
        for n, body in enumerate(parts, start=1)
    ]
    done = complete(s3, bucket, "mp", upload_id, [(n, a["ETag"]) for n, a in enumerate(answers, start=1)])
    return {"bucket": bucket, "key": key, "parts": parts, "context": context, "created": created,
            "answers": answers, "done": done}


def test_sse_kms_multipart_headers(s3, three_parts):
    bucket, arn = three_parts["bucket"], three_parts["key"]["Arn"]
    created = three_parts["created"]
    assert (created["ServerSideEncryption"], created["SSEKMSKeyId"]) == ("aws:kms", arn)
    assert created["SSEKMSEncryptionContext"] == three_parts["context"]
    for answer in three_parts["answers"]:
        assert (answer["ServerSideEncryption"], answer["SSEKMSKeyId"]) == ("aws:kms", arn)
        assert "SSEKMSEncryptionContext" not in answer
    done = three_parts["done"]
    assert (done["ServerSideEncryption"], done["SSEKMSKeyId"]) == ("aws:kms", arn)
    head = s3.head_object(Bucket=bucket, Key="mp")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", arn)
    assert "SSEKMSEncryptionContext" not in head
    assert reserved_headers(head) == [] and head["Metadata"] == {}


def test_multipart_object_reads_whole_in_ranges_and_by_part(s3, three_parts):
    bucket, parts = three_parts["bucket"], three_parts["parts"]
    whole = b"".join(parts)
    total = len(whole)

    assert read_object(s3, bucket, "mp") == whole
    assert s3.head_object(Bucket=bucket, Key="mp")["ContentLength"] == total
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == total
    assert s3.list_objects(Bucket=bucket)["Contents"][0]["Size"] == total

    boundaries = [PART_1, PART_1 + PART_2]
    ranges = [(b + d1, b + d2) for b in boundaries for d1, d2 in ((-1, -1), (-1, 0), (0, 0), (-2, 1), (-1, 1))]
    ranges = [(first, min(last, total - 1)) for first, last in ranges]
    ranges += [(PART_1 + SEGMENT - 1, PART_1 + SEGMENT + 1), (PART_1 - 10, PART_1 + PART_2 + 0), (0, total - 1)]
    for first, last in ranges:
        got = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={first}-{last}")
        assert got["ContentRange"] == f"bytes {first}-{last}/{total}"
        assert got["Body"].read() == whole[first : last + 1], (first, last)
    suffix = s3.get_object(Bucket=bucket, Key="mp", Range="bytes=-2")
    assert suffix["Body"].read() == whole[-2:]

    second = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert second["PartsCount"] == 3
    assert second["ContentLength"] == PART_2
    assert second["ContentRange"] == f"bytes {PART_1}-{PART_1 + PART_2 - 1}/{total}"
    assert second["Body"].read() == parts[1]
    last = s3.get_object(Bucket=bucket, Key="mp", PartNumber=3)
    assert (last["PartsCount"], last["Body"].read()) == (3, parts[2])
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert (head["ContentLength"], head["PartsCount"]) == (PART_1, 3)
    assert_error(lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=4), 416, "InvalidPartNumber")


def test_multipart_etag_is_the_upstreams_and_stable(s3, bucket):
    """The ETag is the upstream's, the same in Complete, HEAD and LIST. Its `-M` counts the
    upstream's parts: the client's parts when the last one was under 5 MiB (the manifest rides
    on it), one more when the manifest is a part of its own (a documented difference from AWS,
    whose suffix is always the client's count)."""
    for key, parts, suffix in (
        ("staged-last", [os.urandom(5 * MiB), os.urandom(10)], "2"),
        ("big-last", [os.urandom(5 * MiB), os.urandom(5 * MiB)], "3"),
    ):
        _, _, done = upload(s3, bucket, key, parts)
        listed = {e["Key"]: e["ETag"] for e in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        head = s3.head_object(Bucket=bucket, Key=key)
        shown = {"complete": done["ETag"], "head": head["ETag"], "list": listed[key]}
        assert len(set(shown.values())) == 1, (key, shown)
        assert done["ETag"].strip('"').rsplit("-", 1)[-1] == suffix, (key, shown)


def test_part_reads_when_the_last_part_is_big(s3, bucket):
    """A last part of 5 MiB or more: the manifest is an upstream part of its own, which the
    client must not see as a part."""
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3)]
    upload(s3, bucket, "big-last", parts)

    head = s3.head_object(Bucket=bucket, Key="big-last", PartNumber=2)
    assert (head["ContentLength"], head["PartsCount"]) == (len(parts[1]), 2)
    got = s3.get_object(Bucket=bucket, Key="big-last", PartNumber=2)
    assert (got["PartsCount"], got["Body"].read()) == (2, parts[1])
    assert_error(lambda: s3.get_object(Bucket=bucket, Key="big-last", PartNumber=3), 416, "InvalidPartNumber")
    assert read_object(s3, bucket, "big-last", Range=f"bytes={5 * MiB - 2}-{5 * MiB + 1}") == b"".join(parts)[
        5 * MiB - 2 : 5 * MiB + 2
    ]


# ------------------------------------------------------------------ upload life cycle


def test_parts_out_of_order_and_reuploaded(s3, bucket):
    first_try, final_1, part_2 = os.urandom(5 * MiB + 3), os.urandom(5 * MiB + 7), os.urandom(4000)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="o")["UploadId"]

    etag_2 = s3.upload_part(Bucket=bucket, Key="o", UploadId=upload_id, PartNumber=2, Body=part_2)["ETag"]
    stale_1 = s3.upload_part(Bucket=bucket, Key="o", UploadId=upload_id, PartNumber=1, Body=first_try)["ETag"]
    etag_1 = s3.upload_part(Bucket=bucket, Key="o", UploadId=upload_id, PartNumber=1, Body=final_1)["ETag"]

    listed = s3.list_parts(Bucket=bucket, Key="o", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
        (1, len(final_1), etag_1),
        (2, len(part_2), etag_2),
    ]
    assert_error(lambda: complete(s3, bucket, "o", upload_id, [(1, stale_1), (2, etag_2)]), 400, "InvalidPart")
    complete(s3, bucket, "o", upload_id, [(1, etag_1), (2, etag_2)])
    assert read_object(s3, bucket, "o") == final_1 + part_2


def test_single_small_part(s3, bucket):
    data = os.urandom(1000)
    _, _, done = upload(s3, bucket, "one", [data])

    assert done["ETag"].strip('"').endswith("-1")
    assert read_object(s3, bucket, "one") == data
    assert s3.head_object(Bucket=bucket, Key="one")["ContentLength"] == 1000
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["Size"] == 1000
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert (got["PartsCount"], got["Body"].read()) == (1, data)


def test_an_upload_resumes_from_list_multipart_uploads(s3, bucket):
    """A client that lost its upload id finds it with ListMultipartUploads and ListParts, and
    finishes the upload with it (s3cmd and the SDKs' resumable transfers do this)."""
    first, rest = os.urandom(5 * MiB + 17), os.urandom(3000)
    s3.create_multipart_upload(Bucket=bucket, Key="resumed", ServerSideEncryption="aws:kms")
    lost = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [u["Key"] for u in lost] == ["resumed"]
    upload_id = lost[0]["UploadId"]
    s3.upload_part(Bucket=bucket, Key="resumed", UploadId=upload_id, PartNumber=1, Body=first)

    found = s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["UploadId"]
    assert found == upload_id
    done_parts = s3.list_parts(Bucket=bucket, Key="resumed", UploadId=found)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in done_parts] == [(1, len(first))]
    second = s3.upload_part(Bucket=bucket, Key="resumed", UploadId=found, PartNumber=2, Body=rest)
    complete(s3, bucket, "resumed", found, [(1, done_parts[0]["ETag"]), (2, second["ETag"])])
    assert read_object(s3, bucket, "resumed") == first + rest
    assert s3.head_object(Bucket=bucket, Key="resumed")["ServerSideEncryption"] == "aws:kms"


def test_list_parts_reports_plaintext_sizes_and_abort_forgets_the_upload(s3, bucket):
    sizes = [5 * MiB + 1, 777]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
    for n, size in enumerate(sizes, start=1):
        s3.upload_part(Bucket=bucket, Key="a", UploadId=upload_id, PartNumber=n, Body=os.urandom(size))

    assert [p["Size"] for p in s3.list_parts(Bucket=bucket, Key="a", UploadId=upload_id)["Parts"]] == sizes
    assert uploads_of(s3, bucket) == [upload_id]

    s3.abort_multipart_upload(Bucket=bucket, Key="a", UploadId=upload_id)

    assert uploads_of(s3, bucket) == []
    assert_error(lambda: s3.list_parts(Bucket=bucket, Key="a", UploadId=upload_id), 404, "NoSuchUpload")
    assert_absent(s3, bucket, "a")


def test_complete_errors(s3, bucket):
    small, big, last = os.urandom(5_000_000), os.urandom(5 * MiB), os.urandom(1)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="e")["UploadId"]
    etags = {
        n: s3.upload_part(Bucket=bucket, Key="e", UploadId=upload_id, PartNumber=n, Body=body)["ETag"]
        for n, body in ((1, small), (2, big), (3, last))
    }

    wrong = '"' + "0" * 32 + '"'
    assert_error(lambda: complete(s3, bucket, "e", upload_id, [(2, wrong), (3, etags[3])]), 400, "InvalidPart")
    assert_error(lambda: complete(s3, bucket, "e", upload_id, [(3, etags[3]), (2, etags[2])]), 400,
                 "InvalidPartOrder")
    # 5,000,000 bytes is below AWS's 5 MiB minimum for a part that is not the last.
    assert_error(lambda: complete(s3, bucket, "e", upload_id, [(1, etags[1]), (2, etags[2])]), 400,
                 "EntityTooSmall")
    assert_absent(s3, bucket, "e")

    # The upload survived the refused attempts.
    complete(s3, bucket, "e", upload_id, [(2, etags[2]), (3, etags[3])])
    assert read_object(s3, bucket, "e") == big + last


# ------------------------------------------------------------------ UploadPartCopy


def test_upload_part_copy_from_an_encrypted_source(s3, kms, bucket):
    key = new_key(kms, "copy-source")
    source = os.urandom(6 * MiB + 100)
    s3.put_object(Bucket=bucket, Key="src", Body=source, ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    first, last = 100, 100 + 5 * MiB + 10 - 1
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]

    copied = [
        s3.upload_part_copy(
            Bucket=bucket, Key="dst", UploadId=upload_id, PartNumber=n, CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceRange=f"bytes={a}-{b}",
        )
        for n, (a, b) in ((1, (first, last)), (2, (SEGMENT - 6, SEGMENT + 70)))
    ]
    done = complete(s3, bucket, "dst", upload_id, [(n, c["CopyPartResult"]["ETag"]) for n, c in enumerate(copied, 1)])

    expected = source[first : last + 1] + source[SEGMENT - 6 : SEGMENT + 71]
    assert done["ServerSideEncryption"] == "AES256"  # the destination upload's, not the source's
    assert read_object(s3, bucket, "dst") == expected
    assert s3.head_object(Bucket=bucket, Key="dst")["ContentLength"] == len(expected)


# ------------------------------------------------------------------ stored upstream


@pytest.mark.parametrize(("last_size", "stored_parts"), [(1000, 2), (5 * MiB, 3)], ids=["staged-last", "big-last"])
def test_stored_multipart_object_is_ciphertext(s3, bucket, upstream, last_size, stored_parts):
    marker = Marker("multipart")
    parts = [marker.data(5 * MiB), marker.data(last_size)]

    upload(s3, bucket, "m", parts)

    stored = upstream.get(bucket, "m")
    # The manifest rides on a small (staged) last part, or is a part of its own.
    assert stored.etag.endswith(f"-{stored_parts}"), stored.etag
    assert stored.data[:4] == MAGIC
    assert len(stored.data) > sum(map(len, parts))
    assert marker.leaks_into(stored.data) == []
    assert ENVELOPE_NAMES <= set(stored.metadata) and stored.metadata["s3kms-v"] == "1m"
    assert read_object(s3, bucket, "m") == b"".join(parts)


# ------------------------------------------------------------------ KMS permissions (own s3kms)

GENERATE_ONLY = user(
    "generateonly",
    policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*"},
    ),
)


@pytest.fixture(scope="module")
def permissions_server(tmp_path_factory):
    with sse_server(tmp_path_factory.mktemp("s3kms-sse-mp-permissions"), [ADMIN, GENERATE_ONLY, NOKMS]) as server:
        yield server


def test_upload_part_needs_kms_decrypt(permissions_server):
    admin = permissions_server.s3("admin")
    bucket = unique_bucket_name("sse-mp-permissions")
    admin.create_bucket(Bucket=bucket)
    try:
        key = new_key(permissions_server.kms("admin"))
        assert KEY_ARN.match(key["Arn"])
        writer = permissions_server.s3("generateonly")
        created = writer.create_multipart_upload(Bucket=bucket, Key="k", ServerSideEncryption="aws:kms",
                                                 SSEKMSKeyId=key["Arn"])
        assert created["SSEKMSKeyId"] == key["Arn"]

        assert_error(
            lambda: writer.upload_part(Bucket=bucket, Key="k", UploadId=created["UploadId"], PartNumber=1,
                                       Body=b"part"),
            403, "AccessDenied", contains="kms:Decrypt",
        )
        assert_error(
            lambda: permissions_server.s3("nokms").create_multipart_upload(
                Bucket=bucket, Key="k2", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"]),
            403, "AccessDenied", contains="kms:GenerateDataKey",
        )
    finally:
        empty_and_delete_bucket(admin, bucket)
