"""Requests s3kms must refuse, each with AWS's status and error code, leaving nothing stored.

Where a refusal is hand-signed, the same request built correctly is sent too and must
succeed (here, or in test_payload_signing.py): that proves the refusal comes from the one
thing spoiled, not from a mistake in the test's own signing.
"""

import datetime as dt
import os

import pytest

from s3_expect import (
    assert_absent,
    assert_client_error,
    assert_s3_error,
    assert_stored,
    read_object,
)
from sigv4_raw import Credentials, md5_base64, sha256_hex, sign_headers

pytestmark = pytest.mark.proxy_only

STRANGER = Credentials("AKIASTRANGER00000000", "stranger-secret-0123456789")


def with_wrong_secret(credentials: Credentials) -> Credentials:
    return Credentials(credentials.access_key_id, "wrong-" + credentials.secret_access_key)


# ------------------------------------------------------------------------------ boto3


def test_wrong_secret_is_signature_does_not_match(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="existing", Body=b"original")
    impostor = target.client_with(with_wrong_secret(target.users["alice"]))

    assert_client_error(lambda: impostor.put_object(Bucket=bucket, Key="new", Body=b"x"), 403, "SignatureDoesNotMatch")
    assert_client_error(
        lambda: impostor.put_object(Bucket=bucket, Key="existing", Body=b"overwritten"), 403, "SignatureDoesNotMatch"
    )
    assert_client_error(lambda: impostor.get_object(Bucket=bucket, Key="existing"), 403, "SignatureDoesNotMatch")
    assert_client_error(lambda: impostor.list_buckets(), 403, "SignatureDoesNotMatch")
    assert_client_error(lambda: impostor.delete_object(Bucket=bucket, Key="existing"), 403, "SignatureDoesNotMatch")

    assert_absent(s3, bucket, "new")
    assert read_object(s3, bucket, "existing") == b"original"


def test_unknown_access_key_is_invalid_access_key_id(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="existing", Body=b"original")
    stranger = target.client_with(STRANGER)

    assert_client_error(lambda: stranger.put_object(Bucket=bucket, Key="new", Body=b"x"), 403, "InvalidAccessKeyId")
    assert_client_error(lambda: stranger.get_object(Bucket=bucket, Key="existing"), 403, "InvalidAccessKeyId")
    assert_client_error(lambda: stranger.delete_object(Bucket=bucket, Key="existing"), 403, "InvalidAccessKeyId")
    assert_client_error(lambda: stranger.create_bucket(Bucket=bucket + "-x"), 403, "InvalidAccessKeyId")

    assert_absent(s3, bucket, "new")
    assert read_object(s3, bucket, "existing") == b"original"
    assert bucket + "-x" not in [entry["Name"] for entry in s3.list_buckets()["Buckets"]]


def test_wrong_secret_multipart_is_refused(target, s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    impostor = target.client_with(with_wrong_secret(target.users["alice"]))

    assert_client_error(
        lambda: impostor.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"x" * 1000),
        403,
        "SignatureDoesNotMatch",
    )
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload_id).get("Parts", []) == []


# ------------------------------------------------------------------------------ hand-signed


def test_skewed_clock_is_request_time_too_skewed(target, s3, bucket):
    raw = target.raw()
    now = dt.datetime.now(dt.timezone.utc)

    for offset in (dt.timedelta(minutes=-20), dt.timedelta(minutes=20)):
        response = raw.signed_request("PUT", f"/{bucket}/skewed", body=b"from another time", when=now + offset)
        assert_s3_error(response, 403, "RequestTimeTooSkewed")
    assert_absent(s3, bucket, "skewed")

    control = raw.signed_request("PUT", f"/{bucket}/on-time", body=b"from now")
    assert control.status == 200, control.describe()
    assert_stored(s3, bucket, "on-time", b"from now")


def test_payload_hash_mismatch_is_refused(target, s3, bucket):
    raw = target.raw()
    body = os.urandom(5000)

    response = raw.signed_request("PUT", f"/{bucket}/mismatch", body=body, payload_hash=sha256_hex(b"another body"))

    assert_s3_error(response, 400, "XAmzContentSHA256Mismatch")
    assert_absent(s3, bucket, "mismatch")
    control = raw.signed_request("PUT", f"/{bucket}/match", body=body)
    assert control.status == 200, control.describe()
    assert_stored(s3, bucket, "match", body)


def test_wrong_content_md5_is_bad_digest(target, s3, bucket):
    raw = target.raw()
    body = os.urandom(5000)

    response = raw.signed_request(
        "PUT", f"/{bucket}/bad-md5", body=body, headers={"content-md5": md5_base64(b"another body")}
    )

    assert_s3_error(response, 400, "BadDigest")
    assert_absent(s3, bucket, "bad-md5")
    control = raw.signed_request("PUT", f"/{bucket}/good-md5", body=body, headers={"content-md5": md5_base64(body)})
    assert control.status == 200, control.describe()
    assert_stored(s3, bucket, "good-md5", body)


def test_missing_content_length_is_refused(target, s3, bucket):
    response = target.raw().signed_request(
        "PUT", f"/{bucket}/no-length", body=b"streamed without a length", transfer_encoding_chunked=True
    )

    assert_s3_error(response, 411, "MissingContentLength")
    assert_absent(s3, bucket, "no-length")


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda auth: auth.replace("/aws4_request", ""), id="credential-scope-truncated"),
        pytest.param(lambda auth: auth.replace("/us-east-1/", "/eu-west-3/"), id="wrong-region-in-scope"),
    ],
)
def test_malformed_authorization_header(target, s3, bucket, spoil):
    raw = target.raw()
    headers = {"host": raw.host, "content-length": "4"}
    sign_headers(
        "PUT", f"/{bucket}/malformed", (), headers, sha256_hex(b"data"), raw.credentials, raw.region,
        dt.datetime.now(dt.timezone.utc),
    )
    headers["Authorization"] = spoil(headers["Authorization"])

    response = raw.send("PUT", f"/{bucket}/malformed", (), headers.items(), b"data")

    assert_s3_error(response, 400, "AuthorizationHeaderMalformed")
    assert_absent(s3, bucket, "malformed")


def test_anonymous_request_is_access_denied(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"private bytes")
    raw = target.raw()

    read = raw.send("GET", f"/{bucket}/private", (), [("host", raw.host)], b"")
    write = raw.send("PUT", f"/{bucket}/planted", (), [("host", raw.host), ("content-length", "7")], b"planted")

    assert_s3_error(read, 403, "AccessDenied")
    assert b"private bytes" not in read.body
    assert_s3_error(write, 403, "AccessDenied")
    assert_absent(s3, bucket, "planted")


def test_authenticated_errors_carry_a_request_id(target, bucket):
    missing = target.raw().signed_request("GET", f"/{bucket}/does-not-exist")
    assert_s3_error(missing, 404, "NoSuchKey")
