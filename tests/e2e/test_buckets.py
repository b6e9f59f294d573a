"""Bucket operations through boto3: CreateBucket, ListBuckets, HeadBucket, DeleteBucket."""

from conftest import unique_bucket_name
from s3_expect import assert_client_error, client_error, status_of


def bucket_names(client) -> list[str]:
    return [entry["Name"] for entry in client.list_buckets()["Buckets"]]


def test_bucket_lifecycle(s3, request):
    name = unique_bucket_name(request.node.name)

    created = s3.create_bucket(Bucket=name)

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")
    assert name in bucket_names(s3)
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200

    s3.delete_bucket(Bucket=name)

    assert name not in bucket_names(s3)
    missing = client_error(lambda: s3.head_bucket(Bucket=name))
    assert status_of(missing) == 404


def test_missing_bucket_is_no_such_bucket(s3, request):
    name = unique_bucket_name(request.node.name)
    assert_client_error(lambda: s3.list_objects_v2(Bucket=name), 404, "NoSuchBucket")
    assert_client_error(lambda: s3.put_object(Bucket=name, Key="k", Body=b"x"), 404, "NoSuchBucket")


def test_non_empty_bucket_is_not_deleted(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep-me", Body=b"still here")

    assert_client_error(lambda: s3.delete_bucket(Bucket=bucket), 409, "BucketNotEmpty")

    assert s3.get_object(Bucket=bucket, Key="keep-me")["Body"].read() == b"still here"


def test_every_configured_user_is_accepted(target, bucket):
    bob = target.client("bob")

    assert bucket in bucket_names(bob)
    bob.put_object(Bucket=bucket, Key="from-bob", Body=b"hello from bob")

    assert target.client("alice").get_object(Bucket=bucket, Key="from-bob")["Body"].read() == b"hello from bob"
