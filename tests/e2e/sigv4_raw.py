"""Hand-rolled S3 requests: SigV4 header signing and aws-chunked bodies.

This module exists so that the end-to-end tests can send requests that no installed
client sends (signed `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` and
`STREAMING-UNSIGNED-PAYLOAD-TRAILER` over plain HTTP), and requests that are wrong on
purpose (a skewed clock, a tampered chunk signature, a bad trailer checksum, …).

It is written from AWS's documentation with hashlib/hmac only, independently of the Rust
code under test and of botocore, so that a shared misunderstanding cannot cancel out.
`test_sigv4_raw.py` checks it against AWS's published examples.

It deliberately does not: follow redirects, retry, do virtual-host addressing, or parse
anything beyond the `<Error>` document.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import http.client
import urllib.parse
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str


# --------------------------------------------------------------------------------------
# Pure signing maths
# --------------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def crc32_base64(data: bytes) -> str:
    """The value of an `x-amz-checksum-crc32` header: base64 of the big-endian CRC32."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def amz_date(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def credential_scope(date_stamp: str, region: str, service: str = "s3") -> str:
    return f"{date_stamp}/{region}/{service}/aws4_request"


def signing_key(secret: str, date_stamp: str, region: str, service: str = "s3") -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date_stamp, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def hmac_hex(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def uri_encode(value: str, *, keep_slash: bool) -> str:
    """AWS's UriEncode: everything but unreserved characters is %XX, upper-case hex."""
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(value, safe=safe)


def canonical_query_string(query: Sequence[tuple[str, str]]) -> str:
    encoded = sorted(
        (uri_encode(name, keep_slash=False), uri_encode(value, keep_slash=False))
        for name, value in query
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_request(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """S3's canonical request. `path` is the raw (unencoded) path; S3 encodes it once."""
    lowered = {name.lower(): " ".join(value.strip().split()) for name, value in headers.items()}
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed_headers)
    return "\n".join(
        [
            method,
            uri_encode(path, keep_slash=True),
            canonical_query_string(query),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(timestamp: str, scope: str, canonical: str) -> str:
    return "\n".join([ALGORITHM, timestamp, scope, sha256_hex(canonical.encode())])


def chunk_string_to_sign(timestamp: str, scope: str, previous_signature: str, chunk: bytes) -> str:
    return "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            timestamp,
            scope,
            previous_signature,
            EMPTY_SHA256,
            sha256_hex(chunk),
        ]
    )


def trailer_string_to_sign(timestamp: str, scope: str, previous_signature: str, trailer: str) -> str:
    """`trailer` is the canonical trailer block: `name:value\\n` per trailing header."""
    return "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            timestamp,
            scope,
            previous_signature,
            sha256_hex(trailer.encode()),
        ]
    )


@dataclass(frozen=True)
class SigningContext:
    """What the chunk and trailer signatures need from the seed request."""

    key: bytes
    timestamp: str
    scope: str
    seed_signature: str


def sign_headers(
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: dict[str, str],
    payload_hash: str,
    credentials: Credentials,
    region: str,
    when: dt.datetime,
) -> SigningContext:
    """Add x-amz-date, x-amz-content-sha256 and Authorization to `headers` (every header
    present is signed) and return what is needed to sign chunks that follow."""
    timestamp = amz_date(when)
    date_stamp = timestamp[:8]
    headers["x-amz-date"] = timestamp
    headers["x-amz-content-sha256"] = payload_hash
    signed = sorted(name.lower() for name in headers)
    scope = credential_scope(date_stamp, region)
    key = signing_key(credentials.secret_access_key, date_stamp, region)
    canonical = canonical_request(method, path, query, headers, signed, payload_hash)
    signature = hmac_hex(key, string_to_sign(timestamp, scope, canonical))
    headers["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(signed)}, Signature={signature}"
    )
    return SigningContext(key=key, timestamp=timestamp, scope=scope, seed_signature=signature)


# --------------------------------------------------------------------------------------
# aws-chunked bodies
# --------------------------------------------------------------------------------------


def split_chunks(data: bytes, chunk_size: int) -> list[bytes]:
    """The data chunks, not including the final empty chunk."""
    return [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]


def tampered_hex(signature: str) -> str:
    """The same signature with its first hex digit changed."""
    first = "0" if signature[0] != "0" else "1"
    return first + signature[1:]


@dataclass
class ChunkTampering:
    """Ways to spoil a signed aws-chunked body after it has been signed correctly."""

    signature_of_chunk: int | None = None  # index; len(chunks) means the final empty chunk
    data_of_chunk: int | None = None  # flip one byte of this chunk's data after signing
    trailer_signature: bool = False


def signed_chunked_body(
    data: bytes,
    chunk_size: int,
    context: SigningContext,
    *,
    trailer: Mapping[str, str] | None = None,
    tampering: ChunkTampering | None = None,
) -> bytes:
    """`hex(len);chunk-signature=sig\\r\\n data \\r\\n` for each chunk, the final empty chunk,
    then (signed trailer mode) the trailing headers and `x-amz-trailer-signature`."""
    tampering = tampering or ChunkTampering()
    chunks = split_chunks(data, chunk_size) + [b""]
    out = bytearray()
    previous = context.seed_signature
    for index, chunk in enumerate(chunks):
        signature = hmac_hex(
            context.key, chunk_string_to_sign(context.timestamp, context.scope, previous, chunk)
        )
        previous = signature
        sent_signature = tampered_hex(signature) if tampering.signature_of_chunk == index else signature
        sent_data = bytearray(chunk)
        if tampering.data_of_chunk == index:
            sent_data[0] ^= 0xFF
        out += f"{len(chunk):x};chunk-signature={sent_signature}\r\n".encode()
        if chunk:
            out += bytes(sent_data) + b"\r\n"
    if trailer is None:
        out += b"\r\n"
        return bytes(out)
    canonical_trailer = "".join(f"{name}:{value}\n" for name, value in trailer.items())
    trailer_signature = hmac_hex(
        context.key,
        trailer_string_to_sign(context.timestamp, context.scope, previous, canonical_trailer),
    )
    if tampering.trailer_signature:
        trailer_signature = tampered_hex(trailer_signature)
    for name, value in trailer.items():
        out += f"{name}:{value}\r\n".encode()
    out += f"x-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
    return bytes(out)


def unsigned_trailer_body(data: bytes, chunk_size: int, trailer: Mapping[str, str]) -> bytes:
    """`hex(len)\\r\\n data \\r\\n` per chunk, `0\\r\\n`, trailing headers, blank line."""
    out = bytearray()
    for chunk in split_chunks(data, chunk_size):
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    for name, value in trailer.items():
        out += f"{name}:{value}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def http_chunked(body: bytes, piece: int = 8192) -> bytes:
    """Plain HTTP/1.1 `Transfer-Encoding: chunked` framing (for a PUT with no Content-Length)."""
    out = bytearray()
    for chunk in split_chunks(body, piece):
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


# --------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def error(self) -> "S3Error":
        return S3Error.parse(self.body)

    def describe(self) -> str:
        return f"HTTP {self.status} {dict(self.headers)!r} {self.body[:600]!r}"


@dataclass(frozen=True)
class S3Error:
    code: str | None
    message: str | None
    request_id: str | None

    @staticmethod
    def parse(body: bytes) -> "S3Error":
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return S3Error(None, None, None)

        def text(name: str) -> str | None:
            for element in root.iter():
                if element.tag.rsplit("}", 1)[-1] == name:
                    return element.text
            return None

        if root.tag.rsplit("}", 1)[-1] != "Error":
            return S3Error(None, None, None)
        return S3Error(text("Code"), text("Message"), text("RequestId"))


@dataclass
class RawS3:
    """A tiny S3 client that signs with this module and sends with http.client."""

    endpoint: str  # http://127.0.0.1:PORT
    credentials: Credentials
    region: str = "us-east-1"
    timeout: float = 60.0
    _parsed: urllib.parse.SplitResult = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._parsed = urllib.parse.urlsplit(self.endpoint)
        if self._parsed.scheme != "http":
            raise ValueError(f"RawS3 speaks plain HTTP only, not {self.endpoint}")

    @property
    def host(self) -> str:
        return self._parsed.netloc

    @staticmethod
    def path_of(bucket: str, key: str | None = None) -> str:
        return f"/{bucket}" if key is None else f"/{bucket}/{key}"

    def send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> RawResponse:
        """Send exactly these headers and body bytes (http.client adds nothing)."""
        target = uri_encode(path, keep_slash=True)
        if query:
            target += "?" + canonical_query_string(query)
        connection = http.client.HTTPConnection(
            self._parsed.hostname, self._parsed.port, timeout=self.timeout
        )
        try:
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders()
            if body:
                connection.send(body)
            response = connection.getresponse()
            return RawResponse(response.status, response.headers, response.read())
        finally:
            connection.close()

    def signed_request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        payload_hash: str | None = None,
        when: dt.datetime | None = None,
        credentials: Credentials | None = None,
        transfer_encoding_chunked: bool = False,
    ) -> RawResponse:
        """A header-signed request. By default the payload hash is the body's SHA-256 and
        Content-Length is set; override `payload_hash` to lie about the body."""
        all_headers: dict[str, str] = {"host": self.host, **(headers or {})}
        if not transfer_encoding_chunked and (body or method in ("PUT", "POST")):
            all_headers["content-length"] = str(len(body))
        sign_headers(
            method,
            path,
            query,
            all_headers,
            sha256_hex(body) if payload_hash is None else payload_hash,
            credentials or self.credentials,
            self.region,
            when or dt.datetime.now(dt.timezone.utc),
        )
        wire_body = body
        if transfer_encoding_chunked:
            # Hop-by-hop framing: added after signing, as clients do.
            all_headers["transfer-encoding"] = "chunked"
            wire_body = http_chunked(body)
        return self.send(method, path, query, all_headers.items(), wire_body)

    def put_signed_chunked(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        chunk_size: int = 64 * 1024,
        with_trailer: bool = False,
        trailer_crc32: str | None = None,
        tampering: ChunkTampering | None = None,
        decoded_length: int | None = None,
        when: dt.datetime | None = None,
    ) -> RawResponse:
        """PUT with `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (or `…-PAYLOAD-TRAILER` with a
        CRC32 trailer when `with_trailer`). `trailer_crc32` overrides the trailer value (it is
        still signed correctly); `decoded_length` overrides x-amz-decoded-content-length."""
        trailer = None
        if with_trailer:
            trailer = {"x-amz-checksum-crc32": trailer_crc32 or crc32_base64(data)}
        payload_mode = STREAMING_SIGNED_TRAILER if with_trailer else STREAMING_SIGNED
        path = self.path_of(bucket, key)
        # The encoded length does not depend on the signature values, so frame once with a
        # placeholder context to learn Content-Length, which is itself signed.
        placeholder = SigningContext(b"k", "t", "s", "0" * 64)
        encoded_length = len(signed_chunked_body(data, chunk_size, placeholder, trailer=trailer))
        headers = {
            "host": self.host,
            "content-encoding": "aws-chunked",
            "content-length": str(encoded_length),
            "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length),
        }
        if with_trailer:
            headers["x-amz-trailer"] = "x-amz-checksum-crc32"
        context = sign_headers(
            "PUT",
            path,
            (),
            headers,
            payload_mode,
            self.credentials,
            self.region,
            when or dt.datetime.now(dt.timezone.utc),
        )
        body = signed_chunked_body(data, chunk_size, context, trailer=trailer, tampering=tampering)
        assert len(body) == encoded_length
        return self.send("PUT", path, (), headers.items(), body)

    def put_unsigned_trailer(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        chunk_size: int = 64 * 1024,
        trailer_crc32: str | None = None,
        decoded_length: int | None = None,
    ) -> RawResponse:
        """PUT with `STREAMING-UNSIGNED-PAYLOAD-TRAILER` and an `x-amz-checksum-crc32`
        trailer, as boto3 sends over HTTPS. `trailer_crc32` overrides the checksum."""
        trailer = {"x-amz-checksum-crc32": trailer_crc32 or crc32_base64(data)}
        body = unsigned_trailer_body(data, chunk_size, trailer)
        path = self.path_of(bucket, key)
        headers = {
            "host": self.host,
            "content-encoding": "aws-chunked",
            "content-length": str(len(body)),
            "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length),
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-sdk-checksum-algorithm": "CRC32",
        }
        sign_headers(
            "PUT",
            path,
            (),
            headers,
            STREAMING_UNSIGNED_TRAILER,
            self.credentials,
            self.region,
            dt.datetime.now(dt.timezone.utc),
        )
        return self.send("PUT", path, (), headers.items(), body)
