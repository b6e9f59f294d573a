"""minio-py (the MinIO Python SDK, from the test venv) through s3kms: the calls an
application makes with it, each checked against what boto3 sees."""

from __future__ import annotations

import hashlib
import io
import os
import urllib.parse
from datetime import timedelta

import pytest
import urllib3
from minio import Minio
from minio.commonconfig import CopySource

from clients import fetch

MiB = 1024 * 1024


@pytest.fixture
def minio_client(target) -> Minio:
    alice = target.users["alice"]
    endpoint = urllib.parse.urlsplit(target.endpoint)
    return Minio(
        endpoint.netloc,
        access_key=alice.access_key_id,
        secret_key=alice.secret_access_key,
        secure=False,
        # Given, so that minio-py asks no GetBucketLocation before signing.
        region=target.region,
        # No retries: a transient proxy error fails the test instead of being papered over.
        http_client=urllib3.PoolManager(retries=urllib3.Retry(total=0, redirect=0), timeout=urllib3.Timeout(60)),
    )


@pytest.fixture
def minio_bucket(minio_client, s3):
    """A bucket made with minio-py's make_bucket; emptied and removed with boto3 after."""
    name = f"e2e-minio-{os.urandom(4).hex()}"
    minio_client.make_bucket(name)
    yield name
    for entry in s3.list_objects_v2(Bucket=name).get("Contents", []):
        s3.delete_object(Bucket=name, Key=entry["Key"])
    s3.delete_bucket(Bucket=name)


def sha256_file(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_all(response) -> bytes:
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def test_minio_objects_small_and_multipart(minio_client, minio_bucket, s3, tmp_path):
    client, bucket = minio_client, minio_bucket
    assert client.bucket_exists(bucket)

    small = os.urandom(3000)
    client.put_object(
        bucket, "small.bin", io.BytesIO(small), len(small),
        content_type="application/x-test", metadata={"color": "blue"},
    )
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(12 * MiB))
    # part_size 5 MiB: three parts, uploaded as a multipart upload.
    client.fput_object(bucket, "dir/large.bin", str(large), part_size=5 * MiB)

    # Whole objects, in memory and to a file.
    assert read_all(client.get_object(bucket, "small.bin")) == small
    got = tmp_path / "got.bin"
    client.fget_object(bucket, "dir/large.bin", str(got))
    assert sha256_file(got) == sha256_file(large)
    # A range that crosses the first part boundary.
    start = 5 * MiB - 100
    ranged = read_all(client.get_object(bucket, "dir/large.bin", offset=start, length=1000))
    assert ranged == large.read_bytes()[start : start + 1000]

    stat = client.stat_object(bucket, "small.bin")
    assert stat.size == len(small)
    assert stat.content_type == "application/x-test"
    assert stat.metadata.get("x-amz-meta-color") == "blue", dict(stat.metadata)
    large_stat = client.stat_object(bucket, "dir/large.bin")
    assert large_stat.size == 12 * MiB
    assert large_stat.etag.endswith("-3"), large_stat.etag  # S3's ETag of a three-part upload
    # boto3 sees the same objects.
    assert s3.head_object(Bucket=bucket, Key="small.bin")["Metadata"] == {"color": "blue"}

    listed = {entry.object_name: entry.size for entry in client.list_objects(bucket, recursive=True)}
    assert listed == {"small.bin": len(small), "dir/large.bin": 12 * MiB}
    top = {entry.object_name for entry in client.list_objects(bucket)}
    assert top == {"small.bin", "dir/"}


def test_minio_copy_presign_and_remove(minio_client, minio_bucket, s3):
    client, bucket = minio_client, minio_bucket
    data = os.urandom(5000)
    client.put_object(bucket, "source.bin", io.BytesIO(data), len(data), metadata={"origin": "minio-py"})

    client.copy_object(bucket, "copy.bin", CopySource(bucket, "source.bin"))
    assert read_all(client.get_object(bucket, "copy.bin")) == data
    # The default metadata directive is COPY: the user metadata comes along.
    assert client.stat_object(bucket, "copy.bin").metadata.get("x-amz-meta-origin") == "minio-py"

    url = client.presigned_get_object(bucket, "copy.bin", expires=timedelta(minutes=5))
    assert "X-Amz-Signature=" in url
    response = fetch(url)
    assert (response.status, response.body) == (200, data)

    client.remove_object(bucket, "source.bin")
    assert [entry.object_name for entry in client.list_objects(bucket)] == ["copy.bin"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
