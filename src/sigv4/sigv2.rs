//! Legacy SigV2 (HMAC-SHA1) for S3: the string to sign and the signature type.
//!
//! ```text
//! METHOD \n Content-MD5 \n Content-Type \n Date-or-Expires \n CanonicalizedAmzHeaders CanonicalizedResource
//! ```
//!
//! Owns the canonicalised `x-amz-*` headers and the list of S3 sub-resources that belong to
//! the canonicalised resource. Does not decide whether SigV2 is allowed, and does not build
//! the resource path: the caller passes it as S3 defines it (`/bucket/key` as sent, still
//! percent-encoded; `/bucket/` for a bucket; `/` for the service).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::signing::SecretKey;

/// Query parameters that are part of the SigV2 canonicalised resource, sorted.
const SUB_RESOURCES: [&str; 30] = [
    "accelerate",
    "acl",
    "cors",
    "delete",
    "encryption",
    "legal-hold",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "retention",
    "select",
    "select-type",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A SigV2 signature: 20 bytes of HMAC-SHA1. `Display` is base64; comparison is constant time.
#[derive(Clone, Copy)]
pub struct SignatureV2([u8; 20]);

impl SignatureV2 {
    /// Parses standard base64 (already URL-decoded) of exactly 20 bytes.
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// `HMAC-SHA1(secret, string_to_sign)`.
    pub fn sign(secret: &SecretKey, string_to_sign: &str) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac =
            <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret.expose().as_bytes()).unwrap_or_else(|_| unreachable!());
        mac.update(string_to_sign.as_bytes());
        Self(mac.finalize().into_bytes().into())
    }

    /// Constant-time comparison with the signature a client supplied.
    pub fn verify(&self, claimed: &SignatureV2) -> bool {
        self.0.ct_eq(&claimed.0).into()
    }
}

impl PartialEq for SignatureV2 {
    fn eq(&self, other: &Self) -> bool {
        self.verify(other)
    }
}

impl Eq for SignatureV2 {}

impl fmt::Display for SignatureV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&STANDARD.encode(self.0))
    }
}

impl fmt::Debug for SignatureV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignatureV2({self})")
    }
}

/// Builds the SigV2 string to sign.
///
/// - `headers`: all request headers (any case); `Content-MD5`, `Content-Type` and `x-amz-*`
///   are taken from them.
/// - `date_line`: the `Date` header for header auth (empty when `x-amz-date` is sent, since
///   it is then signed among the `x-amz-*` headers), or the `Expires` value for presigned URLs.
/// - `resource_path`: see the module header.
/// - `query`: the decoded query pairs; only S3 sub-resources are signed, with decoded values.
pub fn string_to_sign_v2<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    headers: &[(&str, &str)],
    date_line: &str,
    resource_path: &str,
    query: &[(K, V)],
) -> String {
    let content_md5 = header_value(headers, "content-md5");
    let content_type = header_value(headers, "content-type");
    let amz_headers = canonical_amz_headers(headers);
    let resource = canonical_resource(resource_path, query);
    format!("{method}\n{content_md5}\n{content_type}\n{date_line}\n{amz_headers}{resource}")
}

/// The value of a header (first occurrence), trimmed; empty when absent.
fn header_value<'a>(headers: &[(&str, &'a str)], name: &str) -> &'a str {
    let found = headers
        .iter()
        .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name));
    found.map_or("", |(_, value)| value.trim())
}

/// `name:value\n` for every `x-amz-*` header, names lower-case and sorted, repeated
/// headers joined with `,`.
fn canonical_amz_headers(headers: &[(&str, &str)]) -> String {
    let mut amz: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.trim()))
        .filter(|(name, _)| name.starts_with("x-amz-"))
        .collect();
    amz.sort_by(|left, right| left.0.cmp(&right.0));
    let mut text = String::new();
    for (index, (name, value)) in amz.iter().enumerate() {
        let continues = index > 0 && amz[index - 1].0 == *name;
        if continues {
            text.pop(); // the newline of the previous value of this header
            text.push(',');
        } else {
            text.push_str(name);
            text.push(':');
        }
        text.push_str(value);
        text.push('\n');
    }
    text
}

/// The resource path followed by `?sub&sub=value…` for the sub-resources present.
fn canonical_resource<K: AsRef<str>, V: AsRef<str>>(resource_path: &str, query: &[(K, V)]) -> String {
    let mut signed: Vec<(&str, &str)> = query
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
        .filter(|(name, _)| SUB_RESOURCES.binary_search(name).is_ok())
        .collect();
    signed.sort();
    let mut resource = resource_path.to_owned();
    for (index, (name, value)) in signed.iter().enumerate() {
        resource.push(if index == 0 { '?' } else { '&' });
        resource.push_str(name);
        if !value.is_empty() {
            resource.push('=');
            resource.push_str(value);
        }
    }
    resource
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::encoding::decode_query;

    fn example_secret() -> SecretKey {
        SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    }

    #[test]
    fn sub_resources_are_sorted_for_binary_search() {
        assert!(SUB_RESOURCES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    /// AWS S3 developer guide, "Signing and authenticating REST requests", query string example.
    #[test]
    fn aws_query_string_example() {
        let query = decode_query("AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=x");
        let text = string_to_sign_v2(
            "GET",
            &[("Host", "johnsmith.s3.amazonaws.com")],
            "1175139620",
            "/johnsmith/photos/puppy.jpg",
            &query,
        );
        assert_eq!(text, "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
        assert_eq!(
            SignatureV2::sign(&example_secret(), &text).to_string(),
            "NpgCjnDzrM+WFzoENXmpNDUsSn8="
        );
    }

    /// Same guide, "Object GET" header example.
    #[test]
    fn aws_object_get_example() {
        let headers = [
            ("Host", "johnsmith.s3.amazonaws.com"),
            ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
        ];
        let none: [(&str, &str); 0] = [];
        let text = string_to_sign_v2(
            "GET",
            &headers,
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "/johnsmith/photos/puppy.jpg",
            &none,
        );
        let expected = SignatureV2::from_base64("bWq2s1WEIj+Ydj0vQ697zp+IXMU=").unwrap();
        assert!(SignatureV2::sign(&example_secret(), &text).verify(&expected));
    }

    #[test]
    fn amz_headers_and_sub_resources_are_canonicalised() {
        let headers = [
            ("X-Amz-Meta-B", " two "),
            ("Content-Type", "text/plain"),
            ("x-amz-meta-a", "1"),
            ("X-AMZ-META-A", "2"),
            ("Content-MD5", "abc=="),
        ];
        let query = decode_query("versionId=v%201&prefix=x&acl&response-content-type=a%2Fb");
        let text = string_to_sign_v2("PUT", &headers, "", "/bucket/key", &query);
        let expected = "PUT\nabc==\ntext/plain\n\nx-amz-meta-a:1,2\nx-amz-meta-b:two\n/bucket/key?acl&response-content-type=a/b&versionId=v 1";
        assert_eq!(text, expected);
    }
}
