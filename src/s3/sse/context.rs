//! Encryption contexts: the client's `x-amz-server-side-encryption-context` header, its stored
//! canonical form, and the context s3kms binds each data key to.
//!
//! AWS rules (spec §1.3): the header is base64 of a UTF-8 JSON object of string → string; S3
//! adds `aws:s3:arn` = the object ARN (the bucket ARN with S3 Bucket Keys) and stores only the
//! client's pairs. A client pair `aws:s3:arn` is accepted only with that same value (the guide
//! says the full context "will be validated"; AWS's text for a mismatch is unknown, ours is
//! inferred). Other `aws:`-prefixed keys are refused as reserved (inferred, conservative).
//! Duplicate JSON keys are refused rather than silently resolved.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::CONTEXT_HEADER;
use crate::kms::blob::EncryptionContext;
use crate::s3::S3Error;

/// The context key S3 adds.
pub const ARN_KEY: &str = "aws:s3:arn";
/// AWS's text for a malformed context header (observed, spec §1.3 / §3.5).
pub const MALFORMED_CONTEXT: &str = "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 \
                                     string holding JSON which represents a string-string map";

/// Parses the client's context header into its pairs.
pub fn parse_client_context(value: &HeaderValue) -> Result<EncryptionContext, S3Error> {
    let malformed = || invalid(MALFORMED_CONTEXT.to_owned(), value);
    let json = STANDARD.decode(value.as_bytes()).map_err(|_| malformed())?;
    let pairs = decode_json(&json).ok_or_else(malformed)?;
    if let Some(reserved) = pairs.keys().find(|key| is_reserved(key)) {
        let message = format!("Encryption context keys beginning with aws: are reserved: {reserved}");
        return Err(invalid(message, value));
    }
    Ok(pairs)
}

/// The context the KMS binds the data key to: the client's pairs plus `aws:s3:arn`.
///
/// Fails when the client set `aws:s3:arn` to anything but the ARN S3 would use.
pub fn effective_context(
    bucket: &str,
    key: &str,
    client: &EncryptionContext,
    bucket_key: bool,
) -> Result<EncryptionContext, S3Error> {
    let arn = if bucket_key {
        format!("arn:aws:s3:::{bucket}")
    } else {
        format!("arn:aws:s3:::{bucket}/{key}")
    };
    if let Some(sent) = client.get(ARN_KEY).filter(|sent| **sent != arn) {
        return Err(S3Error::InvalidArgument {
            message: format!("Encryption context key {ARN_KEY} must be {arn}"),
            name: CONTEXT_HEADER.to_owned(),
            value: sent.clone(),
        });
    }
    let mut context = client.clone();
    context.insert(ARN_KEY.to_owned(), arn);
    Ok(context)
}

/// Canonical JSON of a context: keys sorted, compact, serde_json's escaping. Stable across
/// builds, so the stored form round-trips byte for byte.
pub fn canonical_json(context: &EncryptionContext) -> String {
    // A map of strings always serialises; the fallback is never taken.
    serde_json::to_string(context).unwrap_or_else(|_| "{}".to_owned())
}

/// Decodes a JSON object of string → string, refusing duplicate keys; `None` if malformed.
pub fn decode_json(json: &[u8]) -> Option<EncryptionContext> {
    let text = std::str::from_utf8(json).ok()?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let pairs = deserializer.deserialize_map(StrictMap).ok()?;
    deserializer.end().ok()?;
    Some(pairs)
}

fn is_reserved(key: &str) -> bool {
    key != ARN_KEY && key.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:"))
}

fn invalid(message: String, value: &HeaderValue) -> S3Error {
    S3Error::InvalidArgument {
        message,
        name: CONTEXT_HEADER.to_owned(),
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

/// A JSON object visitor that refuses repeated keys.
struct StrictMap;

impl<'de> Visitor<'de> for StrictMap {
    type Value = EncryptionContext;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object of strings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = EncryptionContext::new();
        while let Some((key, value)) = map.next_entry::<String, String>()? {
            if pairs.insert(key, value).is_some() {
                return Err(serde::de::Error::custom("duplicate key"));
            }
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> HeaderValue {
        HeaderValue::from_str(&STANDARD.encode(json)).unwrap()
    }

    fn message(err: S3Error) -> String {
        assert_eq!(err.code(), "InvalidArgument");
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        err.to_string()
    }

    #[test]
    fn parses_a_string_map() {
        let pairs = parse_client_context(&header(r#"{"project":"x","é":"ü"}"#)).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs["é"], "ü");
        assert!(parse_client_context(&header("{}")).unwrap().is_empty());
    }

    #[test]
    fn malformed_values_get_aws_text() {
        let cases = [
            HeaderValue::from_static("not base64!"),
            header("[1,2]"),
            header(r#"{"a":1}"#),
            header(r#"{"a":null}"#),
            header(r#"{"a":{"b":"c"}}"#),
            header(r#"{"a":"b"} trailing"#),
            header(r#"{"a":"b","a":"c"}"#),
            HeaderValue::from_str(&STANDARD.encode([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x22, 0x22, 0x7d])).unwrap(),
        ];
        for value in cases {
            assert_eq!(
                message(parse_client_context(&value).unwrap_err()),
                MALFORMED_CONTEXT,
                "{value:?}"
            );
        }
    }

    #[test]
    fn aws_prefixed_keys_are_reserved_except_a_matching_arn() {
        let err = parse_client_context(&header(r#"{"aws:other":"x"}"#)).unwrap_err();
        assert!(message(err).contains("reserved"));
        assert!(parse_client_context(&header(r#"{"AWS:x":"x"}"#)).is_err());
        let sent = parse_client_context(&header(r#"{"aws:s3:arn":"arn:aws:s3:::b/k"}"#)).unwrap();
        assert_eq!(effective_context("b", "k", &sent, false).unwrap(), sent);
        let err = effective_context("b", "other", &sent, false).unwrap_err();
        assert_eq!(
            message(err),
            "Encryption context key aws:s3:arn must be arn:aws:s3:::b/other"
        );
        assert!(effective_context("b", "k", &sent, true).is_err());
    }

    #[test]
    fn effective_context_adds_object_or_bucket_arn() {
        let client = EncryptionContext::from([("team".to_owned(), "blue".to_owned())]);
        let object = effective_context("bucket", "dir/key.txt", &client, false).unwrap();
        assert_eq!(object[ARN_KEY], "arn:aws:s3:::bucket/dir/key.txt");
        assert_eq!(object["team"], "blue");
        let bucket = effective_context("bucket", "dir/key.txt", &client, true).unwrap();
        assert_eq!(bucket[ARN_KEY], "arn:aws:s3:::bucket");
        let empty = effective_context("b", "k", &EncryptionContext::new(), false).unwrap();
        assert_eq!(empty.len(), 1);
    }

    #[test]
    fn canonical_json_is_sorted_and_compact() {
        let context = EncryptionContext::from([("z".to_owned(), "\"q\"".to_owned()), ("a".to_owned(), "1".to_owned())]);
        let json = canonical_json(&context);
        assert_eq!(json, r#"{"a":"1","z":"\"q\""}"#);
        assert_eq!(decode_json(json.as_bytes()), Some(context));
    }
}
