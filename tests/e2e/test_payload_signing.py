"""The payload signing modes of a PUT, hand-rolled (sigv4_raw.py): a signed payload hash,
UNSIGNED-PAYLOAD, and the three aws-chunked modes, which no installed client sends over plain
HTTP. Correct requests must be stored and read back exactly; spoiled ones must get AWS's
error and leave nothing behind, even when the spoiled part comes after all the data."""

import os

import pytest

from s3_expect import assert_absent, assert_s3_error, assert_stored
from sigv4_raw import ChunkTampering

KiB = 1024
CHUNK = 64 * KiB
# Four data chunks (64 + 64 + 64 + 8 KiB), then the final empty chunk (index 4).
DATA_SIZE = 3 * CHUNK + 8 * KiB
FINAL_CHUNK = 4


# ------------------------------------------------------------------------------ positive


@pytest.mark.parametrize("payload_hash", ["body-sha256", "UNSIGNED-PAYLOAD"])
def test_header_signed_put_round_trips(target, s3, bucket, payload_hash):
    body = os.urandom(3000)

    response = target.raw().signed_request(
        "PUT", f"/{bucket}/plain", body=body, payload_hash=None if payload_hash == "body-sha256" else payload_hash
    )

    assert response.status == 200, response.describe()
    assert response.header("x-amz-request-id")
    assert_stored(s3, bucket, "plain", body)


@pytest.mark.parametrize("with_trailer", [False, True], ids=["signed", "signed-trailer"])
@pytest.mark.parametrize("size", [0, 1, DATA_SIZE], ids=["0B", "1B", "200KiB"])
def test_signed_chunked_put_round_trips(target, s3, bucket, with_trailer, size):
    data = os.urandom(size)

    response = target.raw().put_signed_chunked(bucket, "chunked", data, chunk_size=CHUNK, with_trailer=with_trailer)

    assert response.status == 200, response.describe()
    assert response.header("x-amz-request-id")
    assert_stored(s3, bucket, "chunked", data)


@pytest.mark.parametrize("size", [0, DATA_SIZE], ids=["0B", "200KiB"])
def test_unsigned_trailer_put_round_trips(target, s3, bucket, size):
    data = os.urandom(size)

    response = target.raw().put_unsigned_trailer(bucket, "trailer", data, chunk_size=CHUNK)

    assert response.status == 200, response.describe()
    assert_stored(s3, bucket, "trailer", data)


def test_small_chunks_round_trip(target, s3, bucket):
    """Many 8 KiB chunks (AWS's minimum chunk size): framing must not leak into the object."""
    data = os.urandom(100 * KiB + 5)

    response = target.raw().put_signed_chunked(bucket, "many-chunks", data, chunk_size=8 * KiB, with_trailer=True)

    assert response.status == 200, response.describe()
    assert_stored(s3, bucket, "many-chunks", data)


# ------------------------------------------------------------------------------ negative


@pytest.mark.proxy_only
@pytest.mark.parametrize(
    ("with_trailer", "tampering"),
    [
        pytest.param(False, ChunkTampering(signature_of_chunk=0), id="first-chunk-signature"),
        pytest.param(False, ChunkTampering(signature_of_chunk=2), id="middle-chunk-signature"),
        pytest.param(False, ChunkTampering(signature_of_chunk=FINAL_CHUNK), id="final-empty-chunk-signature"),
        pytest.param(False, ChunkTampering(data_of_chunk=3), id="last-data-chunk-bytes"),
        pytest.param(True, ChunkTampering(signature_of_chunk=1), id="trailer-mode-chunk-signature"),
        pytest.param(True, ChunkTampering(trailer_signature=True), id="trailer-signature"),
    ],
)
def test_tampered_chunk_signature_is_refused(target, s3, bucket, with_trailer, tampering):
    data = os.urandom(DATA_SIZE)
    raw = target.raw()

    response = raw.put_signed_chunked(
        bucket, "tampered", data, chunk_size=CHUNK, with_trailer=with_trailer, tampering=tampering
    )

    assert_s3_error(response, 403, "SignatureDoesNotMatch")
    assert_absent(s3, bucket, "tampered")


@pytest.mark.proxy_only
def test_tampered_chunk_leaves_an_existing_object_unchanged(target, s3, bucket):
    original = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="precious", Body=original)

    response = target.raw().put_signed_chunked(
        bucket, "precious", os.urandom(DATA_SIZE), chunk_size=CHUNK,
        tampering=ChunkTampering(signature_of_chunk=FINAL_CHUNK),
    )

    assert_s3_error(response, 403, "SignatureDoesNotMatch")
    assert_stored(s3, bucket, "precious", original)


@pytest.mark.proxy_only
def test_bad_crc32_in_unsigned_trailer_is_refused(target, s3, bucket):
    data = os.urandom(DATA_SIZE)
    wrong_crc = "AAAAAA=="  # CRC32 0, and not the CRC32 of `data`

    response = target.raw().put_unsigned_trailer(bucket, "bad-crc", data, chunk_size=CHUNK, trailer_crc32=wrong_crc)

    assert_s3_error(response, 400, "BadDigest")
    assert_absent(s3, bucket, "bad-crc")


@pytest.mark.proxy_only
def test_bad_crc32_in_signed_trailer_is_refused(target, s3, bucket):
    """The trailer is signed correctly; only the checksum it carries is wrong."""
    data = os.urandom(DATA_SIZE)

    response = target.raw().put_signed_chunked(
        bucket, "bad-crc", data, chunk_size=CHUNK, with_trailer=True, trailer_crc32="AAAAAA=="
    )

    assert_s3_error(response, 400, "BadDigest")
    assert_absent(s3, bucket, "bad-crc")


@pytest.mark.proxy_only
def test_chunked_body_shorter_than_declared_is_refused(target, s3, bucket):
    data = os.urandom(DATA_SIZE)

    response = target.raw().put_signed_chunked(
        bucket, "short", data, chunk_size=CHUNK, decoded_length=DATA_SIZE + 100
    )

    assert_s3_error(response, 400, "IncompleteBody")
    assert_absent(s3, bucket, "short")
