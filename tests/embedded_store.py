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
    # Keys never become paths: this one is an ordinary object of its bucket.
    escaping = "a/../../.s3kms-embedded/x"
    s3.put_object(Bucket="visible", Key=escaping, Body=b"contained")
    assert s3.get_object(Bucket="visible", Key=escaping)["Body"].read() == b"contained"
    s3.delete_object(Bucket="visible", Key=escaping)
    assert error_of(lambda: s3.delete_bucket(Bucket="visible")) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket="visible", Key="a/b")
    s3.delete_bucket(Bucket="visible")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    return {}


def missing_bucket(s3):
    """Every object-level operation on a bucket that does not exist is 404 NoSuchBucket."""
    s3.create_bucket(Bucket="present")
    s3.put_object(Bucket="present", Key="k", Body=b"v")
    calls = {
        "put": lambda: s3.put_object(Bucket="absent", Key="k", Body=b"x"),
        "get": lambda: s3.get_object(Bucket="absent", Key="k"),
        "delete": lambda: s3.delete_object(Bucket="absent", Key="k"),
        "delete_objects": lambda: s3.delete_objects(Bucket="absent", Delete={"Objects": [{"Key": "k"}]}),
        "copy_to": lambda: s3.copy_object(Bucket="absent", Key="k", CopySource={"Bucket": "present", "Key": "k"}),
        "copy_from": lambda: s3.copy_object(Bucket="present", Key="c", CopySource={"Bucket": "absent", "Key": "k"}),
        "create_upload": lambda: s3.create_multipart_upload(Bucket="absent", Key="k"),
        "list_v2": lambda: s3.list_objects_v2(Bucket="absent"),
        "list_v1": lambda: s3.list_objects(Bucket="absent"),
        "tagging": lambda: s3.get_object_tagging(Bucket="absent", Key="k"),
        "list_uploads": lambda: s3.list_multipart_uploads(Bucket="absent"),
    }
    for name, call in calls.items():
        assert error_of(call) == (404, "NoSuchBucket"), name
    assert error_of(lambda: s3.head_object(Bucket="absent", Key="k"))[0] == 404
    # An upload whose bucket was deleted under it.
    s3.create_bucket(Bucket="doomed")
    upload = s3.create_multipart_upload(Bucket="doomed", Key="k")["UploadId"]
    s3.delete_bucket(Bucket="doomed")
    part = lambda: s3.upload_part(Bucket="doomed", Key="k", UploadId=upload, PartNumber=1, Body=b"x")
    assert error_of(part) == (404, "NoSuchBucket")
    s3.create_bucket(Bucket="doomed")
    assert s3.list_multipart_uploads(Bucket="doomed").get("Uploads", []) == [], "uploads end with their bucket"
    assert error_of(part) == (404, "NoSuchUpload")
    s3.delete_bucket(Bucket="doomed")
    assert "absent" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {}


AWKWARD_KEYS = [
    "k" * 1024,
    "s" * 255 + "/" + "t" * 255 + "/x",
    "a",
    "a/b",
    "a/b/c",
    "x//y",
    "trailing/",
    "..",
    "a/../b",
    "./dot",
    "a%2Fb",
    "ü/é",
    "sp ace+plus=eq&amp",
]


def awkward_keys(s3):
    s3.create_bucket(Bucket="keys")
    for index, key in enumerate(AWKWARD_KEYS):
        s3.put_object(Bucket="keys", Key=key, Body=f"body {index}".encode())
    for index, key in enumerate(AWKWARD_KEYS):
        assert s3.get_object(Bucket="keys", Key=key)["Body"].read() == f"body {index}".encode(), key
    expected = sorted(AWKWARD_KEYS, key=lambda key: key.encode())

    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="keys")["Contents"]]
    assert listed == expected, listed
    for page_size in (1, 2, 5):
        v2 = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="keys", PaginationConfig={"PageSize": page_size}) for o in page.get("Contents", [])]
        assert v2 == expected, (page_size, v2)
        v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket="keys", PaginationConfig={"PageSize": page_size}) for o in page.get("Contents", [])]
        assert v1 == expected, (page_size, v1)
    after = [o["Key"] for o in s3.list_objects_v2(Bucket="keys", StartAfter="a/b")["Contents"]]
    assert after == [key for key in expected if key.encode() > b"a/b"], after

    top = s3.list_objects_v2(Bucket="keys", Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["..", "a", "a%2Fb", "k" * 1024, "sp ace+plus=eq&amp"], top["Contents"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["./", "a/", "s" * 255 + "/", "trailing/", "x/", "ü/"]
    nested = s3.list_objects_v2(Bucket="keys", Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in nested["Contents"]] == ["a/b"]
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["a/../", "a/b/"]
    grouped = [
        (tuple(o["Key"] for o in page.get("Contents", [])), tuple(p["Prefix"] for p in page.get("CommonPrefixes", [])))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="keys", Delimiter="/", PaginationConfig={"PageSize": 2})
    ]
    flat = [name for keys, prefixes in grouped for name in keys + prefixes]
    assert sorted(flat) == sorted(["..", "a", "a%2Fb", "k" * 1024, "sp ace+plus=eq&amp", "./", "a/", "s" * 255 + "/", "trailing/", "x/", "ü/"]), grouped
    assert s3.list_objects_v2(Bucket="keys", Prefix="x//")["Contents"][0]["Key"] == "x//y"

    # With EncodingType given explicitly, botocore leaves the answer as S3 wrote it.
    raw = s3.list_objects_v2(Bucket="keys", Prefix="ü/", EncodingType="url", StartAfter="ü/")
    assert [o["Key"] for o in raw["Contents"]] == ["%C3%BC/%C3%A9"], raw["Contents"]
    assert (raw["Prefix"], raw["StartAfter"]) == ("%C3%BC/", "%C3%BC/")
    raw_v1 = s3.list_objects(Bucket="keys", Prefix="a%", EncodingType="url")
    assert [o["Key"] for o in raw_v1["Contents"]] == ["a%252Fb"] and raw_v1["Prefix"] == "a%25"
    spaced = s3.list_objects_v2(Bucket="keys", Prefix="sp", EncodingType="url")["Contents"][0]["Key"]
    assert spaced == "sp%20ace%2Bplus%3Deq%26amp", spaced

    # Both `a` and `a/b` are objects: deleting one leaves the other.
    s3.delete_object(Bucket="keys", Key="a")
    assert s3.get_object(Bucket="keys", Key="a/b")["Body"].read() == f"body {AWKWARD_KEYS.index('a/b')}".encode()
    assert error_of(lambda: s3.get_object(Bucket="keys", Key="a")) == (404, "NoSuchKey")
    return {}


def reads_and_copies(s3):
    s3.create_bucket(Bucket="reads")
    data = os.urandom(100_000)
    s3.put_object(Bucket="reads", Key="r", Body=data, ContentType="text/x-r", Metadata={"m": "1"})
    ranged = s3.get_object(Bucket="reads", Key="r", Range="bytes=10-19")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206 and ranged["Body"].read() == data[10:20]
    assert ranged["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert s3.get_object(Bucket="reads", Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    assert s3.get_object(Bucket="reads", Key="r", Range="bytes=99990-")["Body"].read() == data[99990:]
    assert error_of(lambda: s3.get_object(Bucket="reads", Key="r", Range=f"bytes={len(data)}-"))[0] == 416
    head = s3.head_object(Bucket="reads", Key="r")
    assert (head["ContentLength"], head["ContentType"], head["Metadata"]) == (len(data), "text/x-r", {"m": "1"})

    s3.create_bucket(Bucket="copies")
    copied = s3.copy_object(Bucket="copies", Key="c/" + "k" * 1000, CopySource={"Bucket": "reads", "Key": "r"})
    assert copied["CopyObjectResult"]["ETag"] == head["ETag"]
    copy_head = s3.head_object(Bucket="copies", Key="c/" + "k" * 1000)
    assert (copy_head["ContentType"], copy_head["Metadata"]) == ("text/x-r", {"m": "1"})
    s3.put_object(Bucket="reads", Key="r", Body=b"overwritten")
    assert s3.get_object(Bucket="copies", Key="c/" + "k" * 1000)["Body"].read() == data
    s3.copy_object(
        Bucket="reads", Key="r", CopySource={"Bucket": "reads", "Key": "r"},
        MetadataDirective="REPLACE", ContentType="text/x-new",
    )
    assert s3.get_object(Bucket="reads", Key="r")["Body"].read() == b"overwritten"
    assert s3.head_object(Bucket="reads", Key="r")["ContentType"] == "text/x-new"
    assert error_of(lambda: s3.copy_object(Bucket="copies", Key="x", CopySource={"Bucket": "reads", "Key": "none"})) == (404, "NoSuchKey")
    assert error_of(lambda: s3.put_object(Bucket="reads", Key="r", Body=b"x", IfNoneMatch="*")) == (412, "PreconditionFailed")
    return {}


if __name__ == "__main__":
    endpoint, access_key, secret_key, scenario = sys.argv[1:5]
    facts = globals()[scenario](client(endpoint, access_key, secret_key))
    print(json.dumps(facts))
