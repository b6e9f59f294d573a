"""Faults between s3kms and a real upstream (SeaweedFS), injected by a TCP proxy
(tests/e2e/fault_proxy.py) that s3kms's `[upstream] endpoint` points at: refused connections,
error answers, connections reset in the middle of a request or response body, a flipped byte
on the wire, a slow upstream.

What must hold whatever the upstream does: the client gets an AWS-shaped error carrying
s3kms's request id, or a body cut short — never a success for a failed write, never a byte
that differs from the plaintext — and a failed write leaves the previous version intact.
Clients make exactly one attempt (no retries), so nothing is papered over.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from botocore.exceptions import BotoCoreError, ClientError

pytest.register_assert_rewrite("fault_proxy")

from clients import boto3_client  # noqa: E402
from conftest import (  # noqa: E402
    ACCOUNT_ID,
    LIVE_LOGS,
    REGION,
    UPSTREAM_ADMIN,
    USERS,
    Target,
    empty_and_delete_bucket,
    require_s3kms_binary,
    target_kinds,
    unique_bucket_name,
)
from fault_proxy import CANNED_HOST_ID, CANNED_REQUEST_ID, Fault, FaultProxy  # noqa: E402
from s3_expect import assert_absent, assert_s3_error, read_object  # noqa: E402
from servers import S3_ONLY_POLICY, S3kms, ServerCredentials, s3kms_config_toml  # noqa: E402

pytestmark = [
    pytest.mark.proxy_only,
    pytest.mark.skipif("seaweedfs" not in target_kinds(), reason="needs the seaweedfs target kind"),
]

KiB = 1024
MiB = 1024 * KiB
SEGMENT = 64 * KiB
HEADER = 48
TRAILER = 80
REQUEST_ID = re.compile(r"^[0-9A-F]{16}$")


def stored_len(plaintext_len: int) -> int:
    return HEADER + TRAILER + plaintext_len + 16 * -(-plaintext_len // SEGMENT)


# ------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
def proxy(seaweedfs):
    fault_proxy = FaultProxy(seaweedfs.endpoint)
    fault_proxy.start()
    yield fault_proxy
    fault_proxy.stop()


@pytest.fixture(scope="module")
def target(proxy, seaweedfs, tmp_path_factory):
    """Overrides conftest's: an s3kms whose upstream is SeaweedFS behind the fault proxy."""
    workdir = tmp_path_factory.mktemp("s3kms-faults")
    config = workdir / "s3kms.toml"
    config.write_text(
        s3kms_config_toml(
            data_dir=workdir / "data",
            users=[ServerCredentials(n, c.access_key_id, c.secret_access_key, S3_ONLY_POLICY) for n, c in USERS.items()],
            account_id=ACCOUNT_ID,
            region=REGION,
            upstream=(proxy.endpoint, ServerCredentials(
                "upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)),
        )
    )
    process = S3kms(require_s3kms_binary(), config, workdir / "s3kms.stderr.log")
    process.start()
    LIVE_LOGS.add(process.log_path)
    try:
        yield Target("seaweedfs-faults", process.endpoint, through_proxy=True,
                     logs={"s3kms stderr": process.log_path, "seaweedfs": seaweedfs.log_path})
    finally:
        process.stop()
        LIVE_LOGS.discard(process.log_path)


@pytest.fixture(scope="module")
def s3(target):
    """boto3 as alice, one attempt per call."""
    return target.client("alice")


@pytest.fixture(scope="module")
def direct(seaweedfs):
    """SeaweedFS itself, bypassing both s3kms and the proxy."""
    return boto3_client(seaweedfs.endpoint, UPSTREAM_ADMIN)


@pytest.fixture(scope="module")
def bucket(s3, proxy):
    name = unique_bucket_name("faults")
    s3.create_bucket(Bucket=name)
    yield name
    proxy.accept_again()
    proxy.clear()
    empty_and_delete_bucket(s3, name)


@pytest.fixture(autouse=True)
def healthy_proxy(proxy):
    """Every test starts and ends with a listening, pass-through proxy."""
    proxy.accept_again()
    proxy.clear()
    yield
    proxy.accept_again()
    proxy.clear()


# ------------------------------------------------------------------ helpers


def assert_ours(error: ClientError, status: int, code: str) -> None:
    """The boto3 error is (status, code) and carries s3kms's request id, not the upstream's."""
    metadata = error.response["ResponseMetadata"]
    assert (metadata["HTTPStatusCode"], error.response["Error"].get("Code")) == (status, code), error.response
    header_id = metadata["HTTPHeaders"].get("x-amz-request-id", "")
    assert REQUEST_ID.match(header_id), error.response
    assert metadata.get("RequestId") == header_id, error.response


def assert_raw_ours(response, status: int, code: str) -> None:
    """AWS's XML shape with s3kms's request id in header and body; nothing of the upstream's."""
    assert_s3_error(response, status, code)
    assert REQUEST_ID.match(response.header("x-amz-request-id") or ""), response.describe()
    assert CANNED_REQUEST_ID.encode() not in response.body and CANNED_HOST_ID.encode() not in response.body, (
        response.describe()
    )


def get_as_far_as_possible(s3, bucket: str, key: str) -> tuple[bytes, Exception | None]:
    """GetObject, read chunk by chunk: (the bytes received, the error that ended it, if any)."""
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        return b"", error
    received = bytearray()
    try:
        for chunk in response["Body"].iter_chunks(8192):
            received += chunk
    except (BotoCoreError, OSError) as error:  # IncompleteReadError, ResponseStreamingError
        return bytes(received), error
    return bytes(received), None


def failed_call(call) -> Exception:
    """A boto3 call that must not succeed: its ClientError, or botocore's transport error
    (returned, so that the test can check which one it is)."""
    try:
        result = call()
    except (ClientError, BotoCoreError) as error:
        return error
    pytest.fail(f"the call succeeded although the upstream failed: {result.get('ResponseMetadata')!r}")


def only_hit(proxy: FaultProxy, done: str):
    assert len(proxy.hits) == 1 and proxy.hits[0].done == [done], (proxy.hits, proxy.seen)
    return proxy.hits[0]


# ------------------------------------------------------------------ 1. refused connections


def test_refused_connections_are_503_service_unavailable_and_service_resumes(s3, target, proxy, bucket):
    kept = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="kept", Body=kept)
    proxy.clear()

    proxy.refuse()
    raw = target.raw("alice")
    assert_raw_ours(raw.signed_request("PUT", f"/{bucket}/new", body=b"x" * 2000), 503, "ServiceUnavailable")
    assert_raw_ours(raw.signed_request("GET", f"/{bucket}/kept"), 503, "ServiceUnavailable")
    assert_ours(failed_call(lambda: s3.put_object(Bucket=bucket, Key="new", Body=b"y" * 2000)), 503,
                "ServiceUnavailable")
    assert_ours(failed_call(lambda: s3.get_object(Bucket=bucket, Key="kept")), 503, "ServiceUnavailable")
    assert proxy.seen == []  # nothing got through: these answers are s3kms's own

    proxy.accept_again()
    assert read_object(s3, bucket, "kept") == kept
    fresh = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="new", Body=fresh)
    assert read_object(s3, bucket, "new") == fresh


# ------------------------------------------------------------------ 2. upstream error answers


@pytest.mark.parametrize("status,code", [(503, "SlowDown"), (500, "InternalError")])
def test_upstream_error_answers_reach_the_client_as_errors(s3, target, proxy, bucket, status, code):
    old = os.urandom(2000)
    s3.put_object(Bucket=bucket, Key="answered", Body=old)
    proxy.set(Fault.canned(status, code, path_contains="/answered", times=None))

    assert_ours(failed_call(lambda: s3.put_object(Bucket=bucket, Key="answered", Body=os.urandom(4000))), status, code)
    assert_ours(failed_call(lambda: s3.get_object(Bucket=bucket, Key="answered")), status, code)
    raw = target.raw("alice")
    assert_raw_ours(raw.signed_request("PUT", f"/{bucket}/answered", body=b"z" * 4000), status, code)
    assert_raw_ours(raw.signed_request("GET", f"/{bucket}/answered"), status, code)
    assert len(proxy.hits) >= 4 and all(hit.done == ["answered"] for hit in proxy.hits), proxy.hits

    proxy.clear()
    assert read_object(s3, bucket, "answered") == old


# ------------------------------------------------------------------ 3. reset during a PUT body


def test_reset_during_put_body_stores_nothing_and_keeps_the_previous_version(s3, proxy, direct, bucket):
    previous = os.urandom(200 * KiB + 3)
    s3.put_object(Bucket=bucket, Key="obj", Body=previous)
    stored_before = direct.head_object(Bucket=bucket, Key="obj")

    proxy.set(Fault.reset_request(100 * KiB, method="PUT", path_contains="/obj"))
    error = failed_call(lambda: s3.put_object(Bucket=bucket, Key="obj", Body=os.urandom(MiB)))
    only_hit(proxy, "reset")
    assert isinstance(error, ClientError), repr(error)
    assert_ours(error, 503, "ServiceUnavailable")

    proxy.set(Fault.reset_request(100 * KiB, method="PUT", path_contains="/fresh"))
    error = failed_call(lambda: s3.put_object(Bucket=bucket, Key="fresh", Body=os.urandom(MiB)))
    only_hit(proxy, "reset")
    assert isinstance(error, ClientError), repr(error)
    assert_ours(error, 503, "ServiceUnavailable")

    proxy.clear()
    assert read_object(s3, bucket, "obj") == previous
    assert s3.head_object(Bucket=bucket, Key="obj")["ContentLength"] == len(previous)
    stored_after = direct.head_object(Bucket=bucket, Key="obj")
    assert (stored_after["ETag"], stored_after["ContentLength"]) == (
        stored_before["ETag"], stored_len(len(previous))), stored_after
    assert_absent(s3, bucket, "fresh")


# ------------------------------------------------------------------ 4. reset during a GET body


def test_reset_during_get_body_gives_a_correct_prefix_and_an_error(s3, proxy, bucket):
    data = os.urandom(MiB)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    proxy.set(Fault.reset_response(100 * 1000, method="GET", path_contains="/big", without_header="range"))

    received, error = get_as_far_as_possible(s3, bucket, "big")

    only_hit(proxy, "reset")
    assert error is not None, f"a cut upstream body gave a complete answer of {len(received)} bytes"
    # The first segment arrived whole: s3kms answered 200 and then cut the body.
    assert type(error).__name__ in ("IncompleteReadError", "ResponseStreamingError"), repr(error)
    assert received == data[: len(received)], "bytes received differ from the plaintext"
    # Only segments that arrived whole and authenticated can have been released.
    assert len(received) <= (100 * 1000 - HEADER) // (SEGMENT + 16) * SEGMENT, len(received)
    proxy.clear()
    assert read_object(s3, bucket, "big") == data


# ------------------------------------------------------------------ 5. a flipped byte on the wire


@pytest.mark.parametrize("where", ["header", "second-segment", "trailer"])
def test_a_flipped_byte_never_reaches_the_client(s3, proxy, bucket, where):
    data = os.urandom(MiB)
    key = f"flip-{where}"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    offset = {"header": 10, "second-segment": 70_000, "trailer": stored_len(len(data)) - 10}[where]
    proxy.set(Fault.flip(offset, method="GET", path_contains=f"/{key}", without_header="range"))

    received, error = get_as_far_as_possible(s3, bucket, key)

    only_hit(proxy, "flipped")
    assert received == data[: len(received)], "bytes received differ from the plaintext"
    assert error is not None, f"a tampered body gave a complete answer of {len(received)} bytes"
    if where == "header":
        assert isinstance(error, ClientError), repr(error)
        assert_ours(error, 500, "InternalError")
    else:
        assert type(error).__name__ in ("IncompleteReadError", "ResponseStreamingError"), repr(error)
        segment = (offset - HEADER) // (SEGMENT + 16)
        assert len(received) <= min(segment, len(data) // SEGMENT) * SEGMENT, len(received)
        assert len(received) < len(data)
    proxy.clear()
    assert read_object(s3, bucket, key) == data  # the stored object was never touched


# ------------------------------------------------------------------ 6. a slow upstream


def test_a_slow_upstream_still_succeeds(s3, proxy, bucket):
    data = os.urandom(300 * KiB)
    proxy.set(Fault.delay(2.0, path_contains="/slow", times=None))

    started = time.monotonic()
    s3.put_object(Bucket=bucket, Key="slow", Body=data)
    put_seconds = time.monotonic() - started
    started = time.monotonic()
    got = read_object(s3, bucket, "slow")
    get_seconds = time.monotonic() - started

    assert got == data
    assert put_seconds >= 2.0 and get_seconds >= 2.0, (put_seconds, get_seconds)
    # The GET is a whole-object GET plus, for botocore's checksum mode, ranged reads of the
    # stored header and trailer: each one waits.
    methods = [hit.method for hit in proxy.hits]
    assert methods[0] == "PUT" and set(methods[1:]) == {"GET"}, proxy.seen
    assert all(hit.done == ["delayed"] for hit in proxy.hits), proxy.hits


# ------------------------------------------------------------------ multipart


def test_reset_during_upload_part_then_retrying_the_part_completes(s3, proxy, bucket):
    first, second = os.urandom(5 * MiB), os.urandom(MiB + 7)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]

    proxy.set(Fault.reset_request(MiB, method="PUT", path_contains="/mp", query_contains="partNumber=1"))
    error = failed_call(lambda: s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=first))
    only_hit(proxy, "reset")
    assert isinstance(error, ClientError), repr(error)
    assert_ours(error, 503, "ServiceUnavailable")

    proxy.clear()
    parts = [
        {"PartNumber": number, "ETag": s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number, Body=body)["ETag"]}
        for number, body in ((1, first), (2, second))
    ]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id, MultipartUpload={"Parts": parts})

    assert read_object(s3, bucket, "mp") == first + second
    assert s3.head_object(Bucket=bucket, Key="mp")["ContentLength"] == len(first) + len(second)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
