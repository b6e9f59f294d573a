"""Presigned URLs made by boto3 and the aws CLI, used by a plain HTTP client (urllib)."""

import os
import time

import pytest

from clients import fetch, query_names, tamper_query
from s3_expect import assert_absent, assert_s3_error, assert_stored, read_object
from sigv4_raw import Credentials

def presign_v4(client, method: str, bucket: str, key: str, expires: int = 300) -> str:
    url = client.generate_presigned_url(method, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    assert {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"} <= query_names(url), url
    return url


def presign_v2(target, bucket: str, key: str, expires: int = 300, credentials: Credentials | None = None) -> str:
    client = target.client_with(credentials or target.users["alice"], signature_version="s3")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    assert {"AWSAccessKeyId", "Signature", "Expires"} <= query_names(url), url
    return url


# ------------------------------------------------------------------------------ positive


def test_presigned_v4_get(s3, bucket):
    data = os.urandom(70_000)
    s3.put_object(Bucket=bucket, Key="shared", Body=data)

    response = fetch(presign_v4(s3, "get_object", bucket, "shared"))

    assert response.status == 200, response.describe()
    assert response.body == data
    assert response.header("x-amz-request-id")


def test_presigned_v4_put(s3, bucket):
    data = os.urandom(300_000)

    response = fetch(presign_v4(s3, "put_object", bucket, "uploaded"), method="PUT", data=data)

    assert response.status == 200, response.describe()
    assert_stored(s3, bucket, "uploaded", data)


def test_presigned_v4_put_of_an_empty_body(s3, bucket):
    response = fetch(presign_v4(s3, "put_object", bucket, "empty"), method="PUT", data=b"")

    assert response.status == 200, response.describe()
    assert_stored(s3, bucket, "empty", b"")


def test_presigned_v2_get(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="legacy", Body=b"signed the old way")

    response = fetch(presign_v2(target, bucket, "legacy"))

    assert response.status == 200, response.describe()
    assert response.body == b"signed the old way"


# ------------------------------------------------------------------------------ negative


@pytest.mark.proxy_only
def test_expired_presigned_urls_are_refused(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="secret", Body=b"not for late readers")
    expired_get_v4 = presign_v4(s3, "get_object", bucket, "secret", expires=1)
    expired_put_v4 = presign_v4(s3, "put_object", bucket, "late-upload", expires=1)
    expired_get_v2 = presign_v2(target, bucket, "secret", expires=1)
    time.sleep(2.1)  # every URL above is now at least one second past its expiry

    for url in (expired_get_v4, expired_get_v2):
        response = fetch(url)
        assert_s3_error(response, 403, "AccessDenied", "Request has expired")
        assert b"not for late readers" not in response.body
    assert_s3_error(fetch(expired_put_v4, method="PUT", data=b"too late"), 403, "AccessDenied", "Request has expired")
    assert_absent(s3, bucket, "late-upload")


@pytest.mark.proxy_only
def test_tampered_presigned_urls_are_refused(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="guarded", Body=b"guarded bytes")
    good_v4 = presign_v4(s3, "get_object", bucket, "guarded")
    good_v2 = presign_v2(target, bucket, "guarded")
    assert fetch(good_v4).status == fetch(good_v2).status == 200

    for url in (tamper_query(good_v4, "X-Amz-Signature"), tamper_query(good_v2, "Signature")):
        response = fetch(url)
        assert_s3_error(response, 403, "SignatureDoesNotMatch")
        assert b"guarded bytes" not in response.body

    # A v4 URL for another key than the one signed.
    other_key = good_v4.replace("/guarded?", "/other?")
    assert_s3_error(fetch(other_key), 403, "SignatureDoesNotMatch")

    put_url = presign_v4(s3, "put_object", bucket, "planted")
    response = fetch(tamper_query(put_url, "X-Amz-Signature"), method="PUT", data=b"planted bytes")
    assert_s3_error(response, 403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, "planted")


@pytest.mark.proxy_only
def test_presigned_urls_with_unknown_or_wrong_credentials_are_refused(target, s3, bucket):
    s3.put_object(Bucket=bucket, Key="guarded", Body=b"guarded bytes")
    stranger = Credentials("AKIASTRANGER00000000", "stranger-secret-0123456789")
    wrong_secret = Credentials(target.users["alice"].access_key_id, "not-alices-secret-0123456789")

    cases = [
        (presign_v4(target.client_with(stranger), "get_object", bucket, "guarded"), "InvalidAccessKeyId"),
        (presign_v2(target, bucket, "guarded", credentials=stranger), "InvalidAccessKeyId"),
        (presign_v4(target.client_with(wrong_secret), "get_object", bucket, "guarded"), "SignatureDoesNotMatch"),
        (presign_v2(target, bucket, "guarded", credentials=wrong_secret), "SignatureDoesNotMatch"),
    ]
    for url, code in cases:
        response = fetch(url)
        assert_s3_error(response, 403, code)
        assert b"guarded bytes" not in response.body

    put_url = presign_v4(target.client_with(wrong_secret), "put_object", bucket, "planted")
    assert_s3_error(fetch(put_url, method="PUT", data=b"planted"), 403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, "planted")
    assert read_object(s3, bucket, "guarded") == b"guarded bytes"
