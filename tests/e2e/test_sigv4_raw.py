"""Known-answer tests for the hand-rolled signer in sigv4_raw.py.

The negative end-to-end tests are only meaningful if the requests they spoil were correct
before spoiling. These vectors are the ones AWS publishes in "Signature Calculations for the
Authorization Header" and "Transferring Payload in Multiple Chunks" (S3 API reference); they
need no server.
"""

import datetime as dt

import pytest

import sigv4_raw as raw

AWS_EXAMPLE = raw.Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
AWS_EXAMPLE_TIME = dt.datetime(2013, 5, 24, tzinfo=dt.timezone.utc)
AWS_EXAMPLE_HOST = "examplebucket.s3.amazonaws.com"


def signature_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].rsplit("Signature=", 1)[1]


@pytest.mark.parametrize(
    ("method", "path", "query", "extra_headers", "body", "expected"),
    [
        pytest.param(
            "GET", "/test.txt", [], {"range": "bytes=0-9"}, b"",
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            id="get-object-range",
        ),
        pytest.param(
            "PUT", "/test$file.text", [],
            {"date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"},
            b"Welcome to Amazon S3.",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            id="put-object-encoded-key",
        ),
        pytest.param(
            "GET", "/", [("lifecycle", "")], {}, b"",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            id="get-bucket-lifecycle",
        ),
        pytest.param(
            "GET", "/", [("prefix", "J"), ("max-keys", "2")], {}, b"",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            id="list-objects-sorted-query",
        ),
    ],
)
def test_header_signature_matches_aws_examples(method, path, query, extra_headers, body, expected):
    headers = {"host": AWS_EXAMPLE_HOST, **extra_headers}
    raw.sign_headers(
        method, path, query, headers, raw.sha256_hex(body), AWS_EXAMPLE, "us-east-1", AWS_EXAMPLE_TIME
    )
    assert signature_of(headers) == expected


def test_chunk_signatures_match_aws_streaming_example():
    data = b"a" * 66560
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
    }
    context = raw.sign_headers(
        "PUT", "/examplebucket/chunkObject.txt", [], headers, raw.STREAMING_SIGNED,
        AWS_EXAMPLE, "us-east-1", AWS_EXAMPLE_TIME,
    )
    assert context.seed_signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"

    body = raw.signed_chunked_body(data, 65536, context)

    assert len(body) == 66824
    signatures = [
        line.split(b"chunk-signature=")[1].decode() for line in body.split(b"\r\n") if b"chunk-signature=" in line
    ]
    assert signatures == [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]


def test_tampering_changes_exactly_what_it_says():
    context = raw.SigningContext(b"key", "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", "0" * 64)
    data = bytes(range(256)) * 10
    honest = raw.signed_chunked_body(data, 1000, context)
    bad_signature = raw.signed_chunked_body(data, 1000, context, tampering=raw.ChunkTampering(signature_of_chunk=1))
    bad_data = raw.signed_chunked_body(data, 1000, context, tampering=raw.ChunkTampering(data_of_chunk=2))

    assert len(honest) == len(bad_signature) == len(bad_data)
    assert sum(a != b for a, b in zip(honest, bad_signature)) == 1
    assert sum(a != b for a, b in zip(honest, bad_data)) == 1


def test_unsigned_trailer_framing():
    body = raw.unsigned_trailer_body(b"hello world", 5, {"x-amz-checksum-crc32": raw.crc32_base64(b"hello world")})
    assert body == b"5\r\nhello\r\n5\r\n worl\r\n1\r\nd\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n"
