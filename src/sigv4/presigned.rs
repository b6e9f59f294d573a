//! Presigned URLs: SigV4 (`X-Amz-Algorithm`, `X-Amz-Credential`, …) and SigV2
//! (`AWSAccessKeyId`, `Expires`, `Signature`) query parameters, parsed into typed values.
//!
//! Input is the already-decoded `(name, value)` pairs of the query (see
//! [`decode_query`](super::decode_query)). A query without the marker parameters is not a
//! presigned URL and yields `Ok(None)`.
//!
//! Does not check expiry against the clock or verify the signature. Invariants of a
//! [`PresignedV4`]: its credential scope date equals the date of `X-Amz-Date`, and
//! `expires_seconds` is in 1..=604800.

use super::amz_date::AmzDate;
use super::authorization::{AuthParseError, Credential, SignedHeaders, set_once};
use super::signing::Signature;
use super::sigv2::SignatureV2;

/// The longest validity S3 accepts for a SigV4 presigned URL: 7 days.
pub const MAX_PRESIGNED_EXPIRES: u32 = 604_800;

/// A parsed SigV4 presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedV4 {
    /// `X-Amz-Credential`.
    pub credential: Credential,
    /// `X-Amz-Date`.
    pub amz_date: AmzDate,
    /// `X-Amz-Expires`, in 1..=604800 seconds.
    pub expires_seconds: u32,
    /// `X-Amz-SignedHeaders`.
    pub signed_headers: SignedHeaders,
    /// `X-Amz-Signature`.
    pub signature: Signature,
    /// `X-Amz-Security-Token`, if present.
    pub security_token: Option<String>,
}

/// A parsed SigV2 presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedV2 {
    /// `AWSAccessKeyId`.
    pub access_key_id: String,
    /// `Expires`: the instant (unix seconds) after which the URL is invalid.
    pub expires_unix_seconds: i64,
    /// `Signature`, base64-decoded.
    pub signature: SignatureV2,
}

/// The raw SigV4 parameters, each seen at most once.
#[derive(Default)]
struct RawV4<'a> {
    algorithm: Option<&'a str>,
    credential: Option<&'a str>,
    date: Option<&'a str>,
    expires: Option<&'a str>,
    signed_headers: Option<&'a str>,
    signature: Option<&'a str>,
    security_token: Option<&'a str>,
}

impl PresignedV4 {
    /// Parses the SigV4 parameters, or `Ok(None)` when neither `X-Amz-Algorithm` nor
    /// `X-Amz-Signature` is present.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<Option<Self>, AuthParseError> {
        let raw = RawV4::collect(pairs)?;
        if raw.algorithm.is_none() && raw.signature.is_none() {
            return Ok(None);
        }
        if required(raw.algorithm, "X-Amz-Algorithm")? != "AWS4-HMAC-SHA256" {
            return Err(AuthParseError::UnsupportedAlgorithm);
        }
        let credential = Credential::parse(required(raw.credential, "X-Amz-Credential")?)?;
        let amz_date = AmzDate::parse(required(raw.date, "X-Amz-Date")?).map_err(|_| AuthParseError::MalformedDate)?;
        if !credential.scope.matches_date(amz_date) {
            return Err(AuthParseError::ScopeDateMismatch);
        }
        let expires_seconds = parse_expires(required(raw.expires, "X-Amz-Expires")?)?;
        let signed_headers = SignedHeaders::parse(required(raw.signed_headers, "X-Amz-SignedHeaders")?)?;
        let signature = Signature::from_hex(required(raw.signature, "X-Amz-Signature")?)
            .ok_or(AuthParseError::MalformedSignature)?;
        let security_token = raw.security_token.map(str::to_owned);
        Ok(Some(Self {
            credential,
            amz_date,
            expires_seconds,
            signed_headers,
            signature,
            security_token,
        }))
    }

    /// The instant (unix seconds) after which the URL is no longer valid.
    pub fn expires_at(&self) -> i64 {
        self.amz_date.unix_seconds() + i64::from(self.expires_seconds)
    }
}

impl<'a> RawV4<'a> {
    fn collect<K: AsRef<str>, V: AsRef<str>>(pairs: &'a [(K, V)]) -> Result<Self, AuthParseError> {
        let mut raw = Self::default();
        for (name, value) in pairs {
            let value = value.as_ref();
            match name.as_ref() {
                "X-Amz-Algorithm" => set_once(&mut raw.algorithm, value, "X-Amz-Algorithm")?,
                "X-Amz-Credential" => set_once(&mut raw.credential, value, "X-Amz-Credential")?,
                "X-Amz-Date" => set_once(&mut raw.date, value, "X-Amz-Date")?,
                "X-Amz-Expires" => set_once(&mut raw.expires, value, "X-Amz-Expires")?,
                "X-Amz-SignedHeaders" => set_once(&mut raw.signed_headers, value, "X-Amz-SignedHeaders")?,
                "X-Amz-Signature" => set_once(&mut raw.signature, value, "X-Amz-Signature")?,
                "X-Amz-Security-Token" => set_once(&mut raw.security_token, value, "X-Amz-Security-Token")?,
                _ => {}
            }
        }
        Ok(raw)
    }
}

impl PresignedV2 {
    /// Parses the SigV2 parameters, or `Ok(None)` when neither `AWSAccessKeyId` nor
    /// `Signature` is present.
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<Option<Self>, AuthParseError> {
        let (mut access_key_id, mut expires, mut signature) = (None, None, None);
        for (name, value) in pairs {
            let value = value.as_ref();
            match name.as_ref() {
                "AWSAccessKeyId" => set_once(&mut access_key_id, value, "AWSAccessKeyId")?,
                "Expires" => set_once(&mut expires, value, "Expires")?,
                "Signature" => set_once(&mut signature, value, "Signature")?,
                _ => {}
            }
        }
        if access_key_id.is_none() && signature.is_none() {
            return Ok(None);
        }
        let access_key_id = required(access_key_id, "AWSAccessKeyId")?;
        if access_key_id.is_empty() {
            return Err(AuthParseError::MalformedCredential);
        }
        let expires = required(expires, "Expires")?;
        let expires_unix_seconds = parse_decimal(expires).ok_or(AuthParseError::MalformedExpires)?;
        let signature =
            SignatureV2::from_base64(required(signature, "Signature")?).ok_or(AuthParseError::MalformedSignature)?;
        Ok(Some(Self {
            access_key_id: access_key_id.to_owned(),
            expires_unix_seconds,
            signature,
        }))
    }
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, AuthParseError> {
    value.ok_or(AuthParseError::Missing(name))
}

fn parse_expires(text: &str) -> Result<u32, AuthParseError> {
    let seconds = parse_decimal(text).ok_or(AuthParseError::MalformedExpires)?;
    match u32::try_from(seconds) {
        Ok(seconds @ 1..=MAX_PRESIGNED_EXPIRES) => Ok(seconds),
        _ => Err(AuthParseError::MalformedExpires),
    }
}

/// A non-negative decimal integer: ASCII digits only, at most 18 of them.
fn parse_decimal(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::encoding::decode_query;
    use proptest::prelude::*;

    const AWS_EXAMPLE_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

    #[test]
    fn parses_the_aws_example() {
        let presigned = PresignedV4::parse(&decode_query(AWS_EXAMPLE_QUERY)).unwrap().unwrap();
        assert_eq!(presigned.credential.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(presigned.expires_seconds, 86_400);
        assert_eq!(presigned.expires_at(), 1_369_353_600 + 86_400);
        assert_eq!(presigned.signed_headers.names(), ["host"]);
        assert_eq!(presigned.security_token, None);
    }

    #[test]
    fn absent_markers_mean_not_presigned() {
        assert_eq!(PresignedV4::parse(&decode_query("prefix=a&uploads")), Ok(None));
        assert_eq!(PresignedV2::parse(&decode_query("prefix=a&Expires=1")), Ok(None));
    }

    #[test]
    fn reports_what_is_malformed() {
        let with = |from: &str, to: &str| decode_query(&AWS_EXAMPLE_QUERY.replace(from, to));
        let cases = [
            (
                with("X-Amz-Expires=86400", "X-Amz-Expires=604801"),
                AuthParseError::MalformedExpires,
            ),
            (
                with("X-Amz-Expires=86400", "X-Amz-Expires=0"),
                AuthParseError::MalformedExpires,
            ),
            (
                with("X-Amz-Expires=86400", "X-Amz-Expires=+5"),
                AuthParseError::MalformedExpires,
            ),
            (
                with("X-Amz-Date=20130524", "X-Amz-Date=20130525"),
                AuthParseError::ScopeDateMismatch,
            ),
            (
                with("X-Amz-Date=20130524T", "X-Amz-Date=20130524X"),
                AuthParseError::MalformedDate,
            ),
            (
                with("AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
                AuthParseError::UnsupportedAlgorithm,
            ),
            (
                with("&X-Amz-SignedHeaders=host", ""),
                AuthParseError::Missing("X-Amz-SignedHeaders"),
            ),
            (
                with("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
                AuthParseError::HostNotSigned,
            ),
            (
                with("X-Amz-Date=", "X-Amz-Date=1&X-Amz-Date="),
                AuthParseError::Duplicate("X-Amz-Date"),
            ),
        ];
        for (pairs, expected) in cases {
            assert_eq!(PresignedV4::parse(&pairs), Err(expected));
        }
    }

    #[test]
    fn parses_sigv2_example() {
        let query = "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620";
        let presigned = PresignedV2::parse(&decode_query(query)).unwrap().unwrap();
        assert_eq!(presigned.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(presigned.expires_unix_seconds, 1_175_139_620);
        assert_eq!(presigned.signature.to_string(), "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
        let missing = decode_query("AWSAccessKeyId=AK&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D");
        assert_eq!(PresignedV2::parse(&missing), Err(AuthParseError::Missing("Expires")));
    }

    proptest! {
        #[test]
        fn never_panics(query in "[-A-Za-z0-9=&%/+_.]{0,200}") {
            let pairs = decode_query(&query);
            let _ = PresignedV4::parse(&pairs);
            let _ = PresignedV2::parse(&pairs);
        }

        #[test]
        fn never_panics_near_valid(cut in 0usize..320, noise in "[-A-Za-z0-9=&%]{0,6}") {
            let mut query: String = AWS_EXAMPLE_QUERY.chars().take(cut).collect();
            query.push_str(&noise);
            let _ = PresignedV4::parse(&decode_query(&query));
        }
    }
}
