"""Multipart uploads through the boto3 API (the aws CLI's own multipart is in test_aws_cli.py)."""

import os

from s3_expect import assert_client_error, assert_stored, client_error, read_object, status_of

KiB = 1024
MiB = 1024 * KiB


def upload_ids(client, bucket: str) -> list[str]:
    return [upload["UploadId"] for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def test_multipart_upload(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB + 1), os.urandom(100 * KiB)]
    created = s3.create_multipart_upload(Bucket=bucket, Key="assembled", ContentType="application/x-parts")
    upload_id = created["UploadId"]

    etags = [
        s3.upload_part(Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        for number, data in enumerate(parts_data, start=1)
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

    # A range that straddles the boundary between part 1 and part 2.
    boundary = 5 * MiB
    straddling = read_object(s3, bucket, "assembled", Range=f"bytes={boundary - 10}-{boundary + 9}")
    assert straddling == whole[boundary - 10 : boundary + 10]


def test_list_parts(s3, bucket):
    parts_data = [os.urandom(5 * MiB), os.urandom(1234)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="listed")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="listed", UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
        for number, data in enumerate(parts_data, start=1)
    ]

    listed = s3.list_parts(Bucket=bucket, Key="listed", UploadId=upload_id)["Parts"]

    # Sizes are the plaintext sizes the client sent, whatever the proxy stores.
    assert [(part["PartNumber"], part["Size"], part.get("ETag")) for part in listed] == [
        (1, len(parts_data[0]), etags[0]),
        (2, len(parts_data[1]), etags[1]),
    ]
    s3.abort_multipart_upload(Bucket=bucket, Key="listed", UploadId=upload_id)


def test_abort_multipart_upload(s3, bucket):
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="abandoned")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="abandoned", UploadId=upload_id, PartNumber=1, Body=os.urandom(5 * MiB))

    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="abandoned", UploadId=upload_id)

    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert status_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="abandoned"))) == 404


def test_finished_uploads_are_gone(s3, bucket):
    """After CompleteMultipartUpload or AbortMultipartUpload, the upload id is NoSuchUpload."""
    completed_id = s3.create_multipart_upload(Bucket=bucket, Key="completed")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="completed", UploadId=completed_id, PartNumber=1, Body=b"only part")
    etag = part["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="completed", UploadId=completed_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    aborted_id = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=aborted_id, PartNumber=1, Body=b"abandoned part")
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=aborted_id)

    for key, upload_id in (("completed", completed_id), ("aborted", aborted_id)):
        assert_client_error(lambda: s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id), 404, "NoSuchUpload")
        assert_client_error(
            lambda: s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=b"late"),
            404,
            "NoSuchUpload",
        )
    assert read_object(s3, bucket, "completed") == b"only part"


def test_list_multipart_uploads(s3, bucket):
    first = s3.create_multipart_upload(Bucket=bucket, Key="one")["UploadId"]
    second = s3.create_multipart_upload(Bucket=bucket, Key="two")["UploadId"]
    assert {(u["Key"], u["UploadId"]) for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])} == {
        ("one", first),
        ("two", second),
    }

    s3.abort_multipart_upload(Bucket=bucket, Key="one", UploadId=first)

    assert upload_ids(s3, bucket) == [second]


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
