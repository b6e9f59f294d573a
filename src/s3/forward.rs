//! Faithful forwarding: a verified client request becomes an upstream request, and the
//! upstream's response becomes the client's.
//!
//! Owns: which headers cross the proxy in each direction. What is dropped is either about the
//! client's signature or transport (s3kms re-signs and re-frames), or about the upstream's
//! identity (s3kms answers with its own request id). Everything else — metadata, conditionals,
//! ranges, tagging, copy sources, status codes, XML bodies, ETags — passes unchanged.

use http::Response;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::ResponseBody;

/// Request headers that describe the client's signature, framing or connection.
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "x-amz-date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "date",
];

/// Response headers that describe the upstream's identity or connection.
const DROPPED_RESPONSE_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "x-amz-request-id",
    "x-amz-id-2",
    "server",
];

/// Request headers that must not reach the upstream with an object s3kms encrypts: they
/// describe the plaintext (digests), or would switch on the upstream's own encryption.
const PLAINTEXT_REQUEST_HEADERS: &[&str] = &["content-md5", "x-amz-sdk-checksum-algorithm", "x-amz-checksum-type"];

/// Response headers that describe the stored bytes rather than the object the client sees.
const STORED_RESPONSE_HEADERS: &[&str] = &["x-amz-checksum-type", "x-amz-mp-parts-count"];

/// The headers for an upstream write of ciphertext: the client's, without digests of the
/// plaintext and without SSE headers (s3kms encrypts; the upstream's SSE stays off).
pub fn sealed_request_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = request_headers(client, true);
    let plaintext: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            PLAINTEXT_REQUEST_HEADERS.contains(&name) || name.starts_with("x-amz-checksum-")
        })
        .cloned()
        .collect();
    for name in plaintext {
        headers.remove(name);
    }
    headers
}

/// Removes what describes the stored ciphertext from an upstream object response: s3kms's
/// reserved metadata, the upstream's checksums and part count, and any SSE headers of its own.
pub fn clean_response_headers(headers: &mut HeaderMap) {
    crate::s3::sse::envelope::strip_reserved(headers);
    let stored: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            STORED_RESPONSE_HEADERS.contains(&name)
                || name.starts_with("x-amz-checksum-")
                || name.starts_with("x-amz-server-side-encryption")
        })
        .cloned()
        .collect();
    for name in stored {
        headers.remove(name);
    }
}

/// The headers to send upstream, given the client's.
///
/// `checksum_in_trailer` says the client's checksum came in an aws-chunked trailer, which
/// s3kms verified and does not forward; the algorithm announcement goes with it, or the
/// upstream would refuse a request that names a checksum it does not carry.
pub fn request_headers(client: &HeaderMap, checksum_in_trailer: bool) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(client.len());
    for (name, value) in client {
        let name_str = name.as_str();
        if DROPPED_REQUEST_HEADERS.contains(&name_str) {
            continue;
        }
        if checksum_in_trailer && name_str == "x-amz-sdk-checksum-algorithm" {
            continue;
        }
        if name_str.starts_with("x-amz-server-side-encryption") {
            // s3kms encrypts; the upstream's own SSE must stay off.
            continue;
        }
        if name == header::CONTENT_ENCODING {
            if let Some(value) = without_aws_chunked(value) {
                headers.append(name.clone(), value);
            }
            continue;
        }
        headers.append(name.clone(), value.clone());
    }
    headers
}

/// `Content-Encoding` without the `aws-chunked` token, or `None` if nothing is left.
fn without_aws_chunked(value: &HeaderValue) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let rest: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|token| !token.is_empty() && !token.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    if rest.is_empty() {
        None
    } else {
        HeaderValue::from_str(&rest.join(",")).ok()
    }
}

/// The client's response, streaming the upstream's body.
pub fn response(upstream: Response<Incoming>, request_id: &str) -> Response<ResponseBody> {
    let (parts, body) = upstream.into_parts();
    let mut response = Response::new(body.map_err(Into::into).boxed_unsync());
    *response.status_mut() = parts.status;
    let headers = response.headers_mut();
    for (name, value) in &parts.headers {
        if !DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    clean_response_headers(headers);
    stamp(headers, request_id);
    response
}

/// Copies an upstream response's headers onto an s3kms response, without the ones about the
/// upstream's identity, connection, framing or stored bytes.
pub fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let name_str = name.as_str();
        if !DROPPED_RESPONSE_HEADERS.contains(&name_str)
            && name != header::CONTENT_LENGTH
            && name_str != "content-range"
        {
            to.append(name.clone(), value.clone());
        }
    }
    clean_response_headers(to);
}

/// A ListBuckets response without the `<Bucket>` entry named `hidden` (the key store's).
pub async fn without_bucket(upstream: Response<Incoming>, hidden: &str, request_id: &str) -> Response<ResponseBody> {
    let (parts, body) = upstream.into_parts();
    let document = http_body_util::Limited::new(body, 16 * 1024 * 1024)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let mut text = String::from_utf8_lossy(&document).into_owned();
    let name = format!("<Name>{}</Name>", crate::xml::escaped(hidden));
    if let Some(at) = text.find(&name)
        && let Some(start) = text[..at].rfind("<Bucket>")
        && let Some(end) = text[at..].find("</Bucket>")
    {
        text.replace_range(start..at + end + "</Bucket>".len(), "");
    }
    let mut response = Response::new(super::full_body(bytes::Bytes::from(text)));
    *response.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        if !DROPPED_RESPONSE_HEADERS.contains(&name.as_str()) && name != header::CONTENT_LENGTH {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    stamp(response.headers_mut(), request_id);
    response
}

/// A `304 Not Modified` for an object response: its validators, no body.
pub fn not_modified(upstream: Response<Incoming>, request_id: &str) -> Response<ResponseBody> {
    const KEPT: &[&str] = &["etag", "last-modified", "cache-control", "expires"];
    let mut response = Response::new(super::full_body(bytes::Bytes::new()));
    *response.status_mut() = http::StatusCode::NOT_MODIFIED;
    for name in KEPT {
        if let Some(value) = upstream.headers().get(*name) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(name), value.clone());
        }
    }
    stamp(response.headers_mut(), request_id);
    response
}

/// Adds s3kms's identity headers to any response.
pub fn stamp(headers: &mut HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-amz-request-id"), value.clone());
        headers.insert(HeaderName::from_static("x-amz-id-2"), value);
    }
    headers.insert(header::SERVER, HeaderValue::from_static("s3kms"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_and_framing_headers_are_dropped() {
        let mut client = HeaderMap::new();
        client.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=x"),
        );
        client.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        );
        client.insert("content-encoding", HeaderValue::from_static("aws-chunked, gzip"));
        client.insert("x-amz-meta-colour", HeaderValue::from_static("blue"));
        client.insert("x-amz-sdk-checksum-algorithm", HeaderValue::from_static("CRC32"));
        client.insert("range", HeaderValue::from_static("bytes=0-1"));
        let forwarded = request_headers(&client, true);
        assert!(forwarded.get("authorization").is_none());
        assert!(forwarded.get("x-amz-content-sha256").is_none());
        assert!(forwarded.get("x-amz-sdk-checksum-algorithm").is_none());
        assert_eq!(forwarded.get("content-encoding").unwrap(), "gzip");
        assert_eq!(forwarded.get("x-amz-meta-colour").unwrap(), "blue");
        assert_eq!(forwarded.get("range").unwrap(), "bytes=0-1");
    }

    #[test]
    fn lone_aws_chunked_encoding_disappears() {
        assert!(without_aws_chunked(&HeaderValue::from_static("aws-chunked")).is_none());
    }
}
