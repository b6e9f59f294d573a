"""Multipart uploads through the boto3 API (the aws CLI's own multipart is in test_aws_cli.py)."""

import os

from s3_expect import assert_client_error, assert_stored, client_error, read_object, status_of

KiB = 1024
MiB = 1024 * KiB


def upload_ids(client, bucket: str) -> list[str]:
    return [upload["UploadId"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_multipart_upload(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB + 1), os.urandom(100 * KiB)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled", ContentType="application/x-parts")["UploadId"]
    assert upload_id in upload_ids(s3, bucket)

    etags = [
        s3.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        for number, data in enumerate(parts_data, start=1)
    ]

    listed = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=upload_id)["Parts"]
    assert [(part["PartNumber"], part["Size"], part["ETag"]) for part in listed] == [
        (number, len(data), etag) for number, (data, etag) in enumerate(zip(parts_data, etags), start=1)
    ]

    completed = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]},
    )

    whole = b"".join(parts_data)
    # S3 marks a multipart object's ETag with its part count; `aws s3 sync` relies on it.
    assert completed["ETag"].strip('"').endswith("-3")
    assert_stored(s3, bucket, "assembled", whole)
    head = s3.head_object(Bucket=bucket, Key="assembled")
    assert head["ETag"] == completed["ETag"]
    assert head["ContentType"] == "application/x-parts"
    assert upload_id not in upload_ids(s3, bucket)

    # A range that straddles the boundary between part 1 and part 2.
    boundary = 5 * MiB
    straddling = read_object(s3, bucket, "assembled", Range=f"bytes={boundary - 10}-{boundary + 9}")
    assert straddling == whole[boundary - 10 : boundary + 10]


def test_abort_multipart_upload(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="abandoned")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="abandoned", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MiB))

    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="abandoned", UploadId=upload_id)

    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert upload_id not in upload_ids(s3, bucket)
    assert_client_error(
        lambda: s3.list_parts(Bucket=bucket, Key="abandoned", UploadId=upload_id), 404, "NoSuchUpload"
    )
    assert status_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="abandoned"))) == 404


def test_complete_with_a_part_too_small_is_refused(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="too-small")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="too-small", UploadId=upload_id, PartNumber=n, Body=b"tiny part")["ETag"]
        for n in (1, 2)
    ]

    assert_client_error(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="too-small",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]},
        ),
        400,
        "EntityTooSmall",
    )
    assert status_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="too-small"))) == 404
