"""Assertions shared by the end-to-end tests: S3 errors, stored bytes, absence."""

from __future__ import annotations

import hashlib
from typing import Callable

import pytest
from botocore.exceptions import ClientError

from sigv4_raw import RawResponse, S3Error


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def client_error(action: Callable[[], object]) -> ClientError:
    """Run a boto3 call that must fail, and return its ClientError."""
    with pytest.raises(ClientError) as caught:
        action()
    return caught.value


def status_of(error: ClientError) -> int:
    return error.response["ResponseMetadata"]["HTTPStatusCode"]


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def assert_client_error(action: Callable[[], object], status: int, code: str) -> ClientError:
    error = client_error(action)
    assert (status_of(error), code_of(error)) == (status, code), error.response
    return error


def assert_s3_error(response: RawResponse, status: int, code: str, message: str | None = None) -> S3Error:
    """An AWS-shaped error: this status, an `<Error>` document with this `<Code>` (and
    `<Message>`, if given), and a request id in both the header and the body."""
    error = response.error
    assert (response.status, error.code) == (status, code), response.describe()
    if message is not None:
        assert error.message == message, response.describe()
    request_id = response.header("x-amz-request-id")
    assert request_id, f"no x-amz-request-id header: {response.describe()}"
    assert error.request_id == request_id, response.describe()
    return error


def assert_absent(client, bucket: str, key: str) -> None:
    """A valid user sees no object under `key`: HEAD is 404 and the listing lacks it."""
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        assert status_of(error) == 404, error.response
    else:
        pytest.fail(
            f"{bucket}/{key} was stored ({head['ContentLength']} bytes, ETag {head.get('ETag')}) "
            "although the request that would have written it was refused"
        )
    listed = client.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    assert [entry["Key"] for entry in listed if entry["Key"] == key] == []


def read_object(client, bucket: str, key: str, **options) -> bytes:
    return client.get_object(Bucket=bucket, Key=key, **options)["Body"].read()


def assert_stored(client, bucket: str, key: str, data: bytes) -> None:
    """A valid user reads back exactly `data`, and HEAD reports its plaintext length."""
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(data)
    got = read_object(client, bucket, key)
    assert (len(got), sha256(got)) == (len(data), sha256(data))
