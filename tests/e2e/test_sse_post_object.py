"""POST object (browser-form uploads) through s3kms: signed policies checked as AWS does, and
the file sealed like any PUT.

The forms are made by boto3's `generate_presigned_post` (SigV4) and posted with urllib3, as a
browser would post them: fields first, the file last.
"""

import os

import pytest
import urllib3

from clients import boto3_client
from sse_support import (  # noqa: F401 (fixtures)
    MAGIC,
    assert_sealed_single,
    bucket,
    module_bucket,
    s3,
    target,
    upstream,
)

HTTP = urllib3.PoolManager()


def presigning_client(target):
    alice = target.users["alice"]
    return boto3_client(target.endpoint, alice, signature_version="s3v4")


def post(form: dict, data: bytes, filename: str = "upload.bin") -> urllib3.BaseHTTPResponse:
    fields = dict(form["fields"])
    fields["file"] = (filename, data, "application/octet-stream")
    return HTTP.request("POST", form["url"], fields=fields, redirect=False)


def test_a_presigned_post_is_stored_encrypted(target, s3, bucket, upstream):
    data = os.urandom(200_000) + b"post object plaintext window" * 10
    form = presigning_client(target).generate_presigned_post(
        bucket,
        "forms/${filename}",
        Fields={"x-amz-meta-origin": "browser"},
        Conditions=[["starts-with", "$key", "forms/"], {"x-amz-meta-origin": "browser"}],
        ExpiresIn=300,
    )
    answer = post(form, data, filename="photo.jpg")
    assert answer.status == 204, answer.data
    assert answer.headers["ETag"]
    got = s3.get_object(Bucket=bucket, Key="forms/photo.jpg")
    assert got["Body"].read() == data
    assert got["Metadata"] == {"origin": "browser"}
    assert got["ServerSideEncryption"] == "AES256"
    assert_sealed_single(upstream.get(bucket, "forms/photo.jpg").data, data)


def test_sse_kms_fields_and_the_201_document(target, s3, bucket):
    data = b"kms by form " * 1000
    form = presigning_client(target).generate_presigned_post(
        bucket,
        "kms.txt",
        Fields={"x-amz-server-side-encryption": "aws:kms", "success_action_status": "201"},
        Conditions=[{"x-amz-server-side-encryption": "aws:kms"}, {"success_action_status": "201"}],
    )
    answer = post(form, data)
    assert answer.status == 201, answer.data
    assert b"<PostResponse>" in answer.data and b"<Key>kms.txt</Key>" in answer.data
    assert answer.headers["x-amz-server-side-encryption"] == "aws:kms"
    head = s3.head_object(Bucket=bucket, Key="kms.txt")
    assert head["ServerSideEncryption"] == "aws:kms" and head["ContentLength"] == len(data)


def test_policy_violations_are_refused_and_store_nothing(target, s3, bucket):
    client = presigning_client(target)
    form = client.generate_presigned_post(bucket, "limited", Conditions=[["content-length-range", 1, 10]])
    answer = post(form, b"x" * 11)
    assert answer.status == 403 and b"<Code>AccessDenied</Code>" in answer.data, answer.data
    assert b"exceeds the maximum allowed size" in answer.data

    form = client.generate_presigned_post(bucket, "extra")
    form["fields"]["x-amz-meta-sneaky"] = "1"
    answer = post(form, b"data")
    assert answer.status == 403 and b"Extra input fields: x-amz-meta-sneaky" in answer.data, answer.data

    form = client.generate_presigned_post(bucket, "tampered")
    form["fields"]["key"] = "elsewhere"
    answer = post(form, b"data")
    assert answer.status == 403 and b"Policy Condition failed" in answer.data, answer.data

    form = client.generate_presigned_post(bucket, "expired", ExpiresIn=-10)
    answer = post(form, b"data")
    assert answer.status == 403 and b"Policy expired" in answer.data, answer.data

    form = client.generate_presigned_post(bucket, "forged")
    form["fields"]["x-amz-signature"] = "0" * 64
    answer = post(form, b"data")
    assert answer.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in answer.data, answer.data

    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert not [o["Key"] for o in listed if o["Key"] in {"limited", "extra", "elsewhere", "tampered", "expired", "forged"}]


def test_a_form_cut_short_stores_nothing(target, s3, bucket):
    form = presigning_client(target).generate_presigned_post(bucket, "cut")
    fields = dict(form["fields"])
    fields["file"] = ("f", b"y" * 5000, "application/octet-stream")
    body, content_type = urllib3.encode_multipart_formdata(fields)
    # Declare the whole form but end it without its closing delimiter.
    truncated = body[: -len(b"--\r\n") - 40]
    answer = HTTP.request(
        "POST",
        form["url"],
        body=truncated + b"z" * 44,
        headers={"Content-Type": content_type, "Content-Length": str(len(body))},
        redirect=False,
    )
    assert answer.status == 400, answer.data
    assert "cut" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_a_form_without_a_file_is_refused(target, bucket):
    form = presigning_client(target).generate_presigned_post(bucket, "nofile")
    answer = HTTP.request("POST", form["url"], fields=dict(form["fields"]), redirect=False)
    assert answer.status == 400 and b"POST requires exactly one file upload per request" in answer.data
