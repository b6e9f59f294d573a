"""Object operations through boto3: bytes round-trip exactly, and the S3 semantics around
them (ranges, conditions, metadata, listing, copy, tagging, delete) hold through s3kms."""

import datetime as dt
import os

import pytest

from s3_expect import assert_client_error, assert_stored, client_error, read_object, status_of

KiB = 1024
MiB = 1024 * KiB


# ------------------------------------------------------------------------------ round trip


@pytest.mark.parametrize("size", [0, 1, MiB], ids=["0B", "1B", "1MiB"])
def test_put_get_round_trip(s3, bucket, size):
    data = os.urandom(size)

    put = s3.put_object(Bucket=bucket, Key="object", Body=data)

    assert_stored(s3, bucket, "object", data)
    got = s3.get_object(Bucket=bucket, Key="object")
    assert got["ContentLength"] == size
    assert got["ETag"] == put["ETag"]
    assert got["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")


def test_put_get_round_trip_20mib(s3, bucket, big_payload):
    put = s3.put_object(Bucket=bucket, Key="big", Body=big_payload)

    assert_stored(s3, bucket, "big", big_payload)
    assert s3.head_object(Bucket=bucket, Key="big")["ETag"] == put["ETag"]


def test_overwrite_replaces_the_bytes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, longer than the second")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")

    assert_stored(s3, bucket, "k", b"second")


def test_keys_that_need_encoding(s3, bucket):
    keys = ["dir/sub dir/file+name=1.txt", "ünïcödé/ключ", "a%2Fb", "tilde~and'quote(1)", "q?x=1&y=2#frag"]
    for index, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=f"body {index}".encode())

    for index, key in enumerate(keys):
        assert read_object(s3, bucket, key) == f"body {index}".encode()
    listed = [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(listed) == sorted(keys)


def test_key_of_1024_bytes(s3, bucket):
    """S3's longest key. Segments stay under 255 bytes, a file-name limit of many stores."""
    key = "/".join(["k" * 200] * 5) + "/" + "z" * 19
    assert len(key.encode()) == 1024

    s3.put_object(Bucket=bucket, Key=key, Body=b"longest key")

    assert read_object(s3, bucket, key) == b"longest key"
    assert [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]


# ------------------------------------------------------------------------------ ranges


@pytest.fixture
def one_mib_object(s3, bucket):
    data = os.urandom(MiB + 7)
    s3.put_object(Bucket=bucket, Key="ranged", Body=data)
    return bucket, "ranged", data


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=100-199", 100, 199),
        ("bytes=0-0", 0, 0),
        ("bytes=1000000-", 1000000, MiB + 6),
        ("bytes=-500", MiB + 7 - 500, MiB + 6),
        ("bytes=1048000-99999999", 1048000, MiB + 6),  # a last byte past the end is clipped
    ],
)
def test_ranged_get(s3, one_mib_object, header, first, last):
    bucket, key, data = one_mib_object

    got = s3.get_object(Bucket=bucket, Key=key, Range=header)

    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/{len(data)}"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == data[first : last + 1]


def test_range_past_the_end_is_416(s3, one_mib_object):
    bucket, key, data = one_mib_object
    assert_client_error(
        lambda: s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={len(data)}-"), 416, "InvalidRange"
    )


# ------------------------------------------------------------------------------ conditions


@pytest.fixture
def conditional_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    head = s3.head_object(Bucket=bucket, Key="c")
    return bucket, head["ETag"], head["LastModified"]


OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'


def test_conditional_get_on_etag(s3, conditional_object):
    bucket, etag, _ = conditional_object

    not_modified = client_error(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag))
    assert status_of(not_modified) == 304
    assert read_object(s3, bucket, "c", IfNoneMatch=OTHER_ETAG) == b"conditional"

    assert read_object(s3, bucket, "c", IfMatch=etag) == b"conditional"
    assert_client_error(lambda: s3.get_object(Bucket=bucket, Key="c", IfMatch=OTHER_ETAG), 412, "PreconditionFailed")


def test_conditional_get_on_date(s3, conditional_object):
    bucket, _, modified = conditional_object
    an_hour = dt.timedelta(hours=1)

    not_modified = client_error(lambda: s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified + an_hour))
    assert status_of(not_modified) == 304
    assert read_object(s3, bucket, "c", IfModifiedSince=modified - an_hour) == b"conditional"

    assert_client_error(
        lambda: s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=modified - an_hour), 412, "PreconditionFailed"
    )
    assert read_object(s3, bucket, "c", IfUnmodifiedSince=modified + an_hour) == b"conditional"


# ------------------------------------------------------------------------------ head, metadata


def test_head_object_and_metadata_round_trip(s3, bucket):
    data = os.urandom(4321)
    s3.put_object(
        Bucket=bucket,
        Key="with-metadata",
        Body=data,
        ContentType="image/png",
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="a.png"',
        ContentLanguage="fr",
        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"},
    )

    for response in (
        s3.head_object(Bucket=bucket, Key="with-metadata"),
        s3.get_object(Bucket=bucket, Key="with-metadata"),
    ):
        assert response["ContentLength"] == len(data)
        assert response["ContentType"] == "image/png"
        assert response["CacheControl"] == "max-age=60"
        assert response["ContentDisposition"] == 'attachment; filename="a.png"'
        assert response["ContentLanguage"] == "fr"
        assert response["Metadata"] == {"color": "blue", "mixed-case": "Value With Spaces"}


def test_missing_object(s3, bucket):
    assert status_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="nope"))) == 404
    assert_client_error(lambda: s3.get_object(Bucket=bucket, Key="nope"), 404, "NoSuchKey")


# ------------------------------------------------------------------------------ delete


def test_delete_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="doomed", Body=b"bye")

    deleted = s3.delete_object(Bucket=bucket, Key="doomed")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert status_of(client_error(lambda: s3.head_object(Bucket=bucket, Key="doomed"))) == 404
    # Deleting a key that is not there succeeds, as on AWS.
    assert s3.delete_object(Bucket=bucket, Key="doomed")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_objects(s3, bucket):
    for key in ("a", "b", "c", "kept"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    result = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "c"}, {"Key": "never-existed"}]}
    )

    assert sorted(entry["Key"] for entry in result.get("Deleted", [])) == ["a", "b", "c", "never-existed"]
    assert result.get("Errors", []) == []
    assert [entry["Key"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["kept"]


# ------------------------------------------------------------------------------ listing

LISTED_KEYS = {"a/1": 1, "a/2": 22, "a/b/3": 333, "c": 4444, "d": 0}


@pytest.fixture
def listed_bucket(s3, bucket):
    for key, size in LISTED_KEYS.items():
        s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(size))
    return bucket


def test_list_objects_v2_reports_keys_and_plaintext_sizes(s3, listed_bucket):
    listing = s3.list_objects_v2(Bucket=listed_bucket)

    assert {entry["Key"]: entry["Size"] for entry in listing["Contents"]} == LISTED_KEYS
    assert listing["KeyCount"] == 5
    assert listing["IsTruncated"] is False


def test_list_objects_v2_prefix_and_delimiter(s3, listed_bucket):
    by_prefix = s3.list_objects_v2(Bucket=listed_bucket, Prefix="a/")
    assert [entry["Key"] for entry in by_prefix["Contents"]] == ["a/1", "a/2", "a/b/3"]

    top = s3.list_objects_v2(Bucket=listed_bucket, Delimiter="/")
    assert [entry["Key"] for entry in top["Contents"]] == ["c", "d"]
    assert [entry["Prefix"] for entry in top["CommonPrefixes"]] == ["a/"]

    nested = s3.list_objects_v2(Bucket=listed_bucket, Prefix="a/", Delimiter="/")
    assert [entry["Key"] for entry in nested["Contents"]] == ["a/1", "a/2"]
    assert [entry["Prefix"] for entry in nested["CommonPrefixes"]] == ["a/b/"]


def test_list_objects_v2_pagination(s3, listed_bucket):
    pages, token = [], None
    while True:
        options = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=listed_bucket, MaxKeys=2, **options)
        pages.append([entry["Key"] for entry in page.get("Contents", [])])
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
        assert len(pages) < 10, "pagination does not end"

    assert pages == [["a/1", "a/2"], ["a/b/3", "c"], ["d"]]
    after = s3.list_objects_v2(Bucket=listed_bucket, StartAfter="a/b/3")
    assert [entry["Key"] for entry in after["Contents"]] == ["c", "d"]


def test_list_objects_v1(s3, listed_bucket):
    full = s3.list_objects(Bucket=listed_bucket)
    assert {entry["Key"]: entry["Size"] for entry in full["Contents"]} == LISTED_KEYS

    first = s3.list_objects(Bucket=listed_bucket, MaxKeys=2)
    assert [entry["Key"] for entry in first["Contents"]] == ["a/1", "a/2"]
    assert first["IsTruncated"] is True
    rest = s3.list_objects(Bucket=listed_bucket, Marker="a/2")
    assert [entry["Key"] for entry in rest["Contents"]] == ["a/b/3", "c", "d"]
    assert rest["IsTruncated"] is False

    grouped = s3.list_objects(Bucket=listed_bucket, Delimiter="/", Prefix="a/")
    assert [entry["Key"] for entry in grouped["Contents"]] == ["a/1", "a/2"]
    assert [entry["Prefix"] for entry in grouped["CommonPrefixes"]] == ["a/b/"]


# ------------------------------------------------------------------------------ copy


def test_copy_object_keeps_bytes_and_metadata(s3, bucket, make_bucket):
    data = os.urandom(MiB + 3)
    s3.put_object(Bucket=bucket, Key="source", Body=data, ContentType="text/x-source", Metadata={"origin": "source"})
    other = make_bucket()

    s3.copy_object(Bucket=bucket, Key="same-bucket", CopySource={"Bucket": bucket, "Key": "source"})
    s3.copy_object(Bucket=other, Key="other-bucket", CopySource={"Bucket": bucket, "Key": "source"})

    for target_bucket, key in ((bucket, "same-bucket"), (other, "other-bucket")):
        assert_stored(s3, target_bucket, key, data)
        head = s3.head_object(Bucket=target_bucket, Key=key)
        assert head["Metadata"] == {"origin": "source"}
        assert head["ContentType"] == "text/x-source"


def test_copy_object_replace_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="source", Body=b"payload", Metadata={"origin": "source"})

    s3.copy_object(
        Bucket=bucket,
        Key="copy",
        CopySource={"Bucket": bucket, "Key": "source"},
        MetadataDirective="REPLACE",
        Metadata={"origin": "replaced"},
        ContentType="application/x-replaced",
    )

    head = s3.head_object(Bucket=bucket, Key="copy")
    assert head["Metadata"] == {"origin": "replaced"}
    assert head["ContentType"] == "application/x-replaced"
    assert read_object(s3, bucket, "copy") == b"payload"
    assert s3.head_object(Bucket=bucket, Key="source")["Metadata"] == {"origin": "source"}


# ------------------------------------------------------------------------------ tagging


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"t", Tagging="project=s3kms&stage=test")

    def tags() -> dict[str, str]:
        return {tag["Key"]: tag["Value"] for tag in s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]}

    assert tags() == {"project": "s3kms", "stage": "test"}
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 2

    s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": [{"Key": "only", "Value": "one"}]})
    assert tags() == {"only": "one"}

    s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert tags() == {}
    assert read_object(s3, bucket, "tagged") == b"t"
