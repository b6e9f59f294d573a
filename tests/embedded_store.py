"""boto3 scenarios against the embedded store, run by tests/embedded_store.rs.

Usage: embedded_store.py ENDPOINT ACCESS_KEY SECRET_KEY SCENARIO
Each scenario asserts what a client sees and prints a JSON object of facts for the Rust side
to check on disk. Exit status 0 means every assertion held.
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

MiB = 1024 * 1024


def client(endpoint, access_key, secret_key):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def error_of(call):
    try:
        call()
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]
    raise AssertionError("expected an error")


def tags_of(s3, bucket, key):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def tagging(s3):
    s3.create_bucket(Bucket="tags")
    s3.put_object(Bucket="tags", Key="k", Body=b"v", Tagging="project=s3%20kms&stage=test")
    assert tags_of(s3, "tags", "k") == {"project": "s3 kms", "stage": "test"}
    assert s3.get_object(Bucket="tags", Key="k")["TagCount"] == 2

    s3.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert tags_of(s3, "tags", "k") == {"only": "one"}
    assert s3.delete_object_tagging(Bucket="tags", Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(s3, "tags", "k") == {}
    assert "TagCount" not in s3.get_object(Bucket="tags", Key="k")

    eleven = [{"Key": f"k{n}", "Value": "v"} for n in range(11)]
    assert error_of(lambda: s3.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": eleven})) == (400, "InvalidTag")
    long_key = [{"Key": "k" * 129, "Value": "v"}]
    assert error_of(lambda: s3.put_object_tagging(Bucket="tags", Key="k", Tagging={"TagSet": long_key})) == (400, "InvalidTag")
    assert error_of(lambda: s3.put_object(Bucket="tags", Key="k", Body=b"v", Tagging="v=" + "x" * 257)) == (400, "InvalidTag")
    assert error_of(lambda: s3.get_object_tagging(Bucket="tags", Key="missing")) == (404, "NoSuchKey")

    # Copies keep the source's tags unless the directive is REPLACE.
    s3.put_object(Bucket="tags", Key="src", Body=b"s", Tagging="a=1")
    s3.copy_object(Bucket="tags", Key="copy", CopySource={"Bucket": "tags", "Key": "src"})
    assert tags_of(s3, "tags", "copy") == {"a": "1"}
    s3.copy_object(
        Bucket="tags", Key="replaced", CopySource={"Bucket": "tags", "Key": "src"},
        TaggingDirective="REPLACE", Tagging="b=2",
    )
    assert tags_of(s3, "tags", "replaced") == {"b": "2"}

    # Overwriting without x-amz-tagging, or deleting, drops the tags.
    s3.put_object(Bucket="tags", Key="src", Body=b"new")
    assert tags_of(s3, "tags", "src") == {}
    s3.delete_object(Bucket="tags", Key="copy")
    s3.delete_objects(Bucket="tags", Delete={"Objects": [{"Key": "replaced"}]})
    for key in ("copy", "replaced"):
        s3.put_object(Bucket="tags", Key=key, Body=b"again")
        assert tags_of(s3, "tags", key) == {}
    return {}


def uploads(s3):
    s3.create_bucket(Bucket="mpu")
    big, small = os.urandom(5 * MiB), os.urandom(1234)
    kept = s3.create_multipart_upload(Bucket="mpu", Key="dir/kept", Tagging="from=upload")["UploadId"]
    dropped = s3.create_multipart_upload(Bucket="mpu", Key="dropped")["UploadId"]
    listed = s3.list_multipart_uploads(Bucket="mpu")["Uploads"]
    assert sorted((u["Key"], u["UploadId"]) for u in listed) == [("dir/kept", kept), ("dropped", dropped)]
    assert all("Initiated" in u for u in listed)
    assert [u["Key"] for u in s3.list_multipart_uploads(Bucket="mpu", Prefix="dir/")["Uploads"]] == ["dir/kept"]
    grouped = s3.list_multipart_uploads(Bucket="mpu", Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["dir/"]
    first = s3.list_multipart_uploads(Bucket="mpu", MaxUploads=1)
    assert first["IsTruncated"] and [u["Key"] for u in first["Uploads"]] == ["dir/kept"]
    rest = s3.list_multipart_uploads(
        Bucket="mpu", MaxUploads=1, KeyMarker=first["NextKeyMarker"], UploadIdMarker=first["NextUploadIdMarker"]
    )
    assert not rest["IsTruncated"] and [u["Key"] for u in rest["Uploads"]] == ["dropped"]

    etags = [
        s3.upload_part(Bucket="mpu", Key="dir/kept", UploadId=kept, PartNumber=n, Body=body)["ETag"]
        for n, body in ((1, big), (2, small))
    ]
    s3.upload_part(Bucket="mpu", Key="dropped", UploadId=dropped, PartNumber=1, Body=b"abandoned")
    parts = s3.list_parts(Bucket="mpu", Key="dir/kept", UploadId=kept)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [(1, len(big), etags[0]), (2, len(small), etags[1])]
    page = s3.list_parts(Bucket="mpu", Key="dir/kept", UploadId=kept, MaxParts=1)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 1 and len(page["Parts"]) == 1
    assert error_of(lambda: s3.list_parts(Bucket="mpu", Key="other", UploadId=kept)) == (404, "NoSuchUpload")

    assert s3.abort_multipart_upload(Bucket="mpu", Key="dropped", UploadId=dropped)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="mpu")["Uploads"]] == [kept]
    assert error_of(lambda: s3.list_parts(Bucket="mpu", Key="dropped", UploadId=dropped)) == (404, "NoSuchUpload")
    assert error_of(
        lambda: s3.upload_part(Bucket="mpu", Key="dropped", UploadId=dropped, PartNumber=2, Body=b"late")
    ) == (404, "NoSuchUpload")
    assert error_of(lambda: s3.abort_multipart_upload(Bucket="mpu", Key="dropped", UploadId=dropped)) == (404, "NoSuchUpload")

    s3.complete_multipart_upload(
        Bucket="mpu", Key="dir/kept", UploadId=kept,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in ((1, etags[0]), (2, etags[1]))]},
    )
    assert s3.list_multipart_uploads(Bucket="mpu").get("Uploads", []) == []
    assert error_of(lambda: s3.list_parts(Bucket="mpu", Key="dir/kept", UploadId=kept)) == (404, "NoSuchUpload")
    assert tags_of(s3, "mpu", "dir/kept") == {"from": "upload"}

    # partNumber reads use the sizes recorded at completion.
    head = s3.head_object(Bucket="mpu", Key="dir/kept", PartNumber=2)
    assert (head["ContentLength"], head["PartsCount"]) == (len(small), 2)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    second = s3.get_object(Bucket="mpu", Key="dir/kept", PartNumber=2)
    assert second["Body"].read() == small and second["PartsCount"] == 2
    assert second["ContentRange"] == f"bytes {len(big)}-{len(big) + len(small) - 1}/{len(big) + len(small)}"
    assert s3.get_object(Bucket="mpu", Key="dir/kept", PartNumber=1)["Body"].read() == big
    assert error_of(lambda: s3.get_object(Bucket="mpu", Key="dir/kept", PartNumber=3))[0] == 416
    attributes = s3.get_object_attributes(Bucket="mpu", Key="dir/kept", ObjectAttributes=["ObjectParts", "ObjectSize"])
    assert attributes["ObjectSize"] == len(big) + len(small)
    assert attributes["ObjectParts"]["TotalPartsCount"] == 2
    assert [p["Size"] for p in attributes["ObjectParts"]["Parts"]] == [len(big), len(small)]
    return {"upload_ids": [kept, dropped]}


def completion_checks(s3):
    s3.create_bucket(Bucket="checks")
    upload = s3.create_multipart_upload(Bucket="checks", Key="k")["UploadId"]
    etags = {n: s3.upload_part(Bucket="checks", Key="k", UploadId=upload, PartNumber=n, Body=b"tiny")["ETag"] for n in (1, 3)}

    def complete(parts):
        return lambda: s3.complete_multipart_upload(
            Bucket="checks", Key="k", UploadId=upload, MultipartUpload={"Parts": parts}
        )

    too_small = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 3)]
    assert error_of(complete(too_small)) == (400, "EntityTooSmall")
    assert error_of(complete([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}])) == (400, "InvalidPart")
    assert error_of(complete([{"PartNumber": 3, "ETag": etags[3]}, {"PartNumber": 1, "ETag": etags[1]}])) == (400, "InvalidPartOrder")
    # A refused completion leaves the upload usable; gaps in the numbering are fine.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="checks")["Uploads"]] == [upload]
    s3.upload_part(Bucket="checks", Key="k", UploadId=upload, PartNumber=1, Body=os.urandom(5 * MiB))
    etags[1] = s3.list_parts(Bucket="checks", Key="k", UploadId=upload)["Parts"][0]["ETag"]
    final_parts = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 3)]
    s3.put_object(Bucket="checks", Key="k", Body=b"old")
    refused = lambda: s3.complete_multipart_upload(
        Bucket="checks", Key="k", UploadId=upload, MultipartUpload={"Parts": final_parts}, IfNoneMatch="*"
    )
    assert error_of(refused) == (412, "PreconditionFailed")
    complete(final_parts)()
    assert s3.get_object(Bucket="checks", Key="k", PartNumber=2)["Body"].read() == b"tiny"
    return {"upload_ids": [upload]}


def hidden_state(s3):
    s3.create_bucket(Bucket="visible")
    s3.put_object(Bucket="visible", Key="a/b", Body=b"x", Tagging="t=1")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert names == ["visible"], names
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="visible")["Contents"]]
    assert keys == ["a/b"], keys
    status, _ = error_of(lambda: s3.create_bucket(Bucket=".s3kms-embedded"))
    assert status == 400, status
    assert error_of(lambda: s3.put_object(Bucket="visible", Key="a/../../.s3kms-embedded/x", Body=b"x"))[1] == "InvalidArgument"
    assert error_of(lambda: s3.delete_bucket(Bucket="visible")) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket="visible", Key="a/b")
    s3.delete_bucket(Bucket="visible")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    return {}


if __name__ == "__main__":
    endpoint, access_key, secret_key, scenario = sys.argv[1:5]
    facts = globals()[scenario](client(endpoint, access_key, secret_key))
    print(json.dumps(facts))
