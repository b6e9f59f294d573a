//! The SigV4 canonical request, built exactly as S3 verifies it:
//!
//! ```text
//! METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n \n SignedHeaders \n PayloadHash
//! ```
//!
//! - URI: the raw path percent-decoded once, then re-encoded with `UriEncode` keeping `/`
//!   (S3 does not double-encode; an empty path is `/`).
//! - Query: every parameter decoded (`+` is a space) then re-encoded, `/` included; sorted
//!   by encoded key then encoded value; a parameter without `=` has an empty value;
//!   `X-Amz-Signature` is left out for presigned URLs.
//! - Headers: only the signed ones, lower-case names, values trimmed with inner whitespace
//!   runs collapsed to one space, repeated headers joined with `,` in arrival order.
//!
//! Owns that text and nothing else: no hashing of bodies, no HTTP types. The `host` header
//! must be signed ([`SignedHeaders`] guarantees it) and must be present in `headers`; for
//! HTTP/2 the caller passes `:authority` as `host`.

use super::authorization::SignedHeaders;
use super::encoding::{decode_path, decode_query_component, split_query, uri_encode};
use super::payload::PayloadHash;

/// The parts of an incoming (or outgoing) request that SigV4 covers, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method, as sent (`GET`, `PUT`, …).
    pub method: &'a str,
    /// The path exactly as on the request line, still percent-encoded, without the query.
    pub raw_path: &'a str,
    /// The query string exactly as sent, without the `?`; empty when there is none.
    pub raw_query: &'a str,
    /// Every request header, in arrival order, names in any case.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Whether the query carries the signature (presigned URL) or not (header auth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryMode {
    /// `Authorization` header: every query parameter is canonicalised.
    Header,
    /// Presigned URL: `X-Amz-Signature` is left out of the canonical query.
    Presigned,
}

/// Why the canonical request could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// A header named in `SignedHeaders` is absent from the request
    /// (S3 answers `SignatureDoesNotMatch` or `AccessDenied`; the caller decides).
    #[error("signed header {0} is missing from the request")]
    MissingSignedHeader(String),
}

/// Builds the canonical request text.
pub fn canonical_request(
    parts: &RequestParts<'_>,
    signed_headers: &SignedHeaders,
    payload: &PayloadHash,
    mode: QueryMode,
) -> Result<String, CanonicalError> {
    let headers = canonical_headers(parts.headers, signed_headers)?;
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        canonical_uri(parts.raw_path),
        canonical_query(parts.raw_query, mode),
        headers,
        signed_headers,
        payload
    ))
}

/// The raw path decoded once and re-encoded; `/` when empty.
pub(super) fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    uri_encode(&decode_path(raw_path), true)
}

/// The sorted, re-encoded query string.
pub(super) fn canonical_query(raw_query: &str, mode: QueryMode) -> String {
    let mut pairs: Vec<(String, String)> = split_query(raw_query)
        .map(|(key, value)| (decode_query_component(key), decode_query_component(value)))
        .filter(|(key, _)| mode == QueryMode::Header || key.as_slice() != b"X-Amz-Signature")
        .map(|(key, value)| (uri_encode(&key, false), uri_encode(&value, false)))
        .collect();
    pairs.sort();
    let encoded: Vec<String> = pairs.into_iter().map(|(key, value)| format!("{key}={value}")).collect();
    encoded.join("&")
}

/// `name:value\n` for every signed header, in signed-header (sorted) order.
fn canonical_headers(headers: &[(&str, &str)], signed_headers: &SignedHeaders) -> Result<String, CanonicalError> {
    let mut text = String::new();
    for name in signed_headers.names() {
        let values: Vec<String> = headers
            .iter()
            .filter(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| collapse_whitespace(value))
            .collect();
        if values.is_empty() {
            return Err(CanonicalError::MissingSignedHeader(name.clone()));
        }
        text.push_str(name);
        text.push(':');
        text.push_str(&values.join(","));
        text.push('\n');
    }
    Ok(text)
}

/// Trims the value and collapses every inner whitespace run to a single space.
fn collapse_whitespace(value: &str) -> String {
    value.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn signed(list: &str) -> SignedHeaders {
        SignedHeaders::parse(list).unwrap()
    }

    #[test]
    fn uri_is_decoded_then_encoded_once() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/test%24file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/a%20b/c+d/%E2%82%AC"), "/a%20b/c%2Bd/%E2%82%AC");
        assert_eq!(canonical_uri("/a%2Fb"), "/a/b");
        assert_eq!(canonical_uri("//double//"), "//double//");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        let query = "prefix=J&max-keys=2&uploads&a=%2F+x&a=1&X-Amz-Signature=abc";
        assert_eq!(
            canonical_query(query, QueryMode::Header),
            "X-Amz-Signature=abc&a=%2F%20x&a=1&max-keys=2&prefix=J&uploads="
        );
        assert_eq!(
            canonical_query(query, QueryMode::Presigned),
            "a=%2F%20x&a=1&max-keys=2&prefix=J&uploads="
        );
    }

    #[test]
    fn headers_are_trimmed_collapsed_and_joined() {
        let headers = [
            ("Host", "h"),
            ("X-Amz-Meta-A", "  one   two "),
            ("x-amz-meta-a", "three"),
        ];
        let text = canonical_headers(&headers, &signed("host;x-amz-meta-a")).unwrap();
        assert_eq!(text, "host:h\nx-amz-meta-a:one two,three\n");
        let missing = canonical_headers(&headers, &signed("host;range"));
        assert_eq!(missing, Err(CanonicalError::MissingSignedHeader("range".to_owned())));
    }

    proptest! {
        #[test]
        fn never_panics(path in ".{0,40}", query in ".{0,60}") {
            let parts = RequestParts { method: "GET", raw_path: &path, raw_query: &query, headers: &[("host", "h")] };
            let result = canonical_request(&parts, &signed("host"), &PayloadHash::Unsigned, QueryMode::Presigned);
            prop_assert!(result.is_ok());
        }

        #[test]
        fn canonical_uri_is_idempotent(path in "/[ -~]{0,40}") {
            let once = canonical_uri(&path);
            prop_assert_eq!(canonical_uri(&once), once.clone());
        }
    }
}
