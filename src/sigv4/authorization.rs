//! The `Authorization` header: SigV4 (`AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
//! Signature=…`) parsed into typed parts, and SigV2 (`AWS AKID:base64`) recognised as a
//! distinct result so the caller can refuse or verify it deliberately.
//!
//! Also owns the pieces shared with presigned URLs: [`Credential`], [`CredentialScope`],
//! [`SignedHeaders`] and the parse error [`AuthParseError`].
//!
//! Does not verify anything: a parsed header is well-formed, not authentic.
//!
//! Invariants: a [`CredentialScope`] date is 8 ASCII digits and its terminator was
//! `aws4_request`; [`SignedHeaders`] is non-empty, lower-case, sorted, deduplicated, made of
//! HTTP token characters, and contains `host`.

use std::fmt;

use super::amz_date::AmzDate;
use super::signing::Signature;
use super::sigv2::SignatureV2;

/// What was malformed in an `Authorization` header or in presigned query parameters.
/// The caller maps these to S3's `AuthorizationHeaderMalformed`,
/// `AuthorizationQueryParametersError` or `InvalidArgument`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthParseError {
    /// The scheme is neither `AWS4-HMAC-SHA256` nor `AWS` (e.g. SigV4A, Bearer).
    #[error("unsupported authorization algorithm")]
    UnsupportedAlgorithm,
    /// A required component (`Credential`, `SignedHeaders`, `Signature`, `X-Amz-Date`, …)
    /// is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A component appears twice.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// A `Name=value` component of the header is not one SigV4 defines.
    #[error("unknown authorization header component")]
    UnknownComponent,
    /// The credential is not `AKID/YYYYMMDD/region/service/aws4_request`.
    #[error("malformed credential")]
    MalformedCredential,
    /// The credential scope date is not 8 digits.
    #[error("credential scope date is not YYYYMMDD")]
    MalformedScopeDate,
    /// The credential scope does not end with `aws4_request`.
    #[error("credential scope must end with aws4_request")]
    MalformedScopeTerminator,
    /// The signed header list is empty or has a name that is not an HTTP token.
    #[error("malformed signed headers")]
    MalformedSignedHeaders,
    /// `host` is not among the signed headers (SigV4 requires it).
    #[error("the host header must be signed")]
    HostNotSigned,
    /// The SigV4 signature is not 64 hex digits, or the SigV2 one not base64 of 20 bytes.
    #[error("malformed signature")]
    MalformedSignature,
    /// `X-Amz-Date` is not a valid `YYYYMMDDTHHMMSSZ` timestamp.
    #[error("malformed X-Amz-Date")]
    MalformedDate,
    /// The credential scope date differs from the request date.
    #[error("credential scope date does not match the request date")]
    ScopeDateMismatch,
    /// `X-Amz-Expires` is not an integer in 1..=604800, or SigV2 `Expires` not an integer.
    #[error("malformed expiry")]
    MalformedExpires,
}

/// A parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// `AWS4-HMAC-SHA256 …`
    V4(AuthorizationV4),
    /// `AWS AKID:signature` (legacy SigV2).
    V2(AuthorizationV2),
}

/// The three components of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationV4 {
    /// Who signed, and for which day, region and service.
    pub credential: Credential,
    /// The headers covered by the signature.
    pub signed_headers: SignedHeaders,
    /// The signature the client claims.
    pub signature: Signature,
}

/// A SigV2 `Authorization` header, `AWS AKID:base64(hmac-sha1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationV2 {
    /// The access key id before the colon.
    pub access_key_id: String,
    /// The decoded signature.
    pub signature: SignatureV2,
}

/// `AKID/YYYYMMDD/region/service/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id (non-empty).
    pub access_key_id: String,
    /// Date, region and service the signing key was derived for.
    pub scope: CredentialScope,
}

/// `YYYYMMDD/region/service` (the `aws4_request` terminator is implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// `YYYYMMDD`, 8 ASCII digits.
    pub date: String,
    /// The region, e.g. `us-east-1` (non-empty).
    pub region: String,
    /// The service, e.g. `s3` or `kms` (non-empty).
    pub service: String,
}

/// The `SignedHeaders` list: lower-case, sorted, deduplicated, containing `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders(Vec<String>);

const ALGORITHM_V4: &str = "AWS4-HMAC-SHA256";

impl Authorization {
    /// Parses an `Authorization` header value. Components may come in any order, separated
    /// by commas and/or spaces, as AWS tolerates.
    pub fn parse(header: &str) -> Result<Self, AuthParseError> {
        let header = header.trim();
        let (scheme, rest) = header.split_once([' ', '\t']).unwrap_or((header, ""));
        match scheme {
            ALGORITHM_V4 => AuthorizationV4::parse_components(rest).map(Self::V4),
            "AWS" => AuthorizationV2::parse_credentials(rest.trim()).map(Self::V2),
            _ => Err(AuthParseError::UnsupportedAlgorithm),
        }
    }
}

impl AuthorizationV4 {
    fn parse_components(rest: &str) -> Result<Self, AuthParseError> {
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for component in rest.split([',', ' ', '\t']).filter(|piece| !piece.is_empty()) {
            let (name, value) = component.split_once('=').ok_or(AuthParseError::UnknownComponent)?;
            match name {
                "Credential" => set_once(&mut credential, Credential::parse(value)?, "Credential")?,
                "SignedHeaders" => set_once(&mut signed_headers, SignedHeaders::parse(value)?, "SignedHeaders")?,
                "Signature" => {
                    let parsed = Signature::from_hex(value).ok_or(AuthParseError::MalformedSignature)?;
                    set_once(&mut signature, parsed, "Signature")?
                }
                _ => return Err(AuthParseError::UnknownComponent),
            }
        }
        Ok(Self {
            credential: credential.ok_or(AuthParseError::Missing("Credential"))?,
            signed_headers: signed_headers.ok_or(AuthParseError::Missing("SignedHeaders"))?,
            signature: signature.ok_or(AuthParseError::Missing("Signature"))?,
        })
    }
}

impl AuthorizationV2 {
    fn parse_credentials(rest: &str) -> Result<Self, AuthParseError> {
        let (access_key_id, signature) = rest.rsplit_once(':').ok_or(AuthParseError::MalformedCredential)?;
        if access_key_id.is_empty() || access_key_id.contains([' ', '\t']) {
            return Err(AuthParseError::MalformedCredential);
        }
        let signature = SignatureV2::from_base64(signature).ok_or(AuthParseError::MalformedSignature)?;
        Ok(Self {
            access_key_id: access_key_id.to_owned(),
            signature,
        })
    }
}

/// Stores `value` in `slot`, or fails if the component was already seen.
pub(super) fn set_once<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), AuthParseError> {
    if slot.replace(value).is_some() {
        return Err(AuthParseError::Duplicate(name));
    }
    Ok(())
}

impl Credential {
    /// Parses `AKID/YYYYMMDD/region/service/aws4_request` (already URL-decoded).
    pub fn parse(text: &str) -> Result<Self, AuthParseError> {
        let parts: Vec<&str> = text.split('/').collect();
        let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
            return Err(AuthParseError::MalformedCredential);
        };
        if access_key_id.is_empty() || region.is_empty() || service.is_empty() {
            return Err(AuthParseError::MalformedCredential);
        }
        if date.len() != 8 || !date.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(AuthParseError::MalformedScopeDate);
        }
        if *terminator != "aws4_request" {
            return Err(AuthParseError::MalformedScopeTerminator);
        }
        let scope = CredentialScope {
            date: (*date).to_owned(),
            region: (*region).to_owned(),
            service: (*service).to_owned(),
        };
        Ok(Self {
            access_key_id: (*access_key_id).to_owned(),
            scope,
        })
    }
}

impl CredentialScope {
    /// True when the scope date is the date stamp of `date` (SigV4 requires it).
    pub fn matches_date(&self, date: AmzDate) -> bool {
        self.date == date.date_stamp()
    }
}

impl fmt::Display for CredentialScope {
    /// Formats as `YYYYMMDD/region/service/aws4_request`, the form used in strings to sign.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

impl SignedHeaders {
    /// Parses a `;`-separated list of header names.
    pub fn parse(text: &str) -> Result<Self, AuthParseError> {
        let mut names = Vec::new();
        for name in text.split(';') {
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(AuthParseError::MalformedSignedHeaders);
            }
            names.push(name.to_ascii_lowercase());
        }
        Self::from_names(names)
    }

    /// Builds the list from names in any order and case, adding `host` (used by the
    /// outgoing signer, which always signs `host`).
    pub(super) fn with_host(mut names: Vec<String>) -> Self {
        names.push("host".to_owned());
        Self::normalize(names)
    }

    fn from_names(names: Vec<String>) -> Result<Self, AuthParseError> {
        let list = Self::normalize(names);
        if !list.contains("host") {
            return Err(AuthParseError::HostNotSigned);
        }
        Ok(list)
    }

    fn normalize(mut names: Vec<String>) -> Self {
        names.iter_mut().for_each(|name| name.make_ascii_lowercase());
        names.sort();
        names.dedup();
        Self(names)
    }

    /// The names, lower-case and sorted.
    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// True when `name` (any case) is signed.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|signed| signed.eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for SignedHeaders {
    /// Formats as `a;b;c`, the form used in the canonical request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(";"))
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const AWS_EXAMPLE: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    fn v4(header: &str) -> AuthorizationV4 {
        match Authorization::parse(header).unwrap() {
            Authorization::V4(auth) => auth,
            other => panic!("expected V4, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_aws_example() {
        let auth = v4(AWS_EXAMPLE);
        assert_eq!(auth.credential.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(auth.credential.scope.to_string(), "20130524/us-east-1/s3/aws4_request");
        assert_eq!(
            auth.signed_headers.to_string(),
            "host;range;x-amz-content-sha256;x-amz-date"
        );
        assert_eq!(
            auth.signature.to_string(),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn tolerates_spacing_and_order() {
        let reordered = "AWS4-HMAC-SHA256   Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41 ,  SignedHeaders=x-amz-date;HOST, Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";
        let auth = v4(reordered);
        assert_eq!(auth.signed_headers.names(), ["host", "x-amz-date"]);
        assert_eq!(auth.credential.scope.region, "us-east-1");
    }

    #[test]
    fn reports_what_is_malformed() {
        let cases = [
            ("Bearer abc", AuthParseError::UnsupportedAlgorithm),
            ("AWS4-HMAC-SHA256", AuthParseError::Missing("Credential")),
            ("AWS", AuthParseError::MalformedCredential),
            (
                "AWS4-HMAC-SHA256 SignedHeaders=host",
                AuthParseError::Missing("Credential"),
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request",
                AuthParseError::MalformedScopeDate,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request",
                AuthParseError::MalformedScopeTerminator,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/aws4_request",
                AuthParseError::MalformedCredential,
            ),
            (
                "AWS4-HMAC-SHA256 SignedHeaders=range;x-amz-date",
                AuthParseError::HostNotSigned,
            ),
            (
                "AWS4-HMAC-SHA256 SignedHeaders=host;;range",
                AuthParseError::MalformedSignedHeaders,
            ),
            ("AWS4-HMAC-SHA256 Signature=abc", AuthParseError::MalformedSignature),
            ("AWS4-HMAC-SHA256 Foo=bar", AuthParseError::UnknownComponent),
            (
                "AWS4-HMAC-SHA256 SignedHeaders=host SignedHeaders=host",
                AuthParseError::Duplicate("SignedHeaders"),
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(Authorization::parse(header), Err(expected), "{header}");
        }
    }

    #[test]
    fn recognises_sigv2() {
        let parsed = Authorization::parse("AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=").unwrap();
        let Authorization::V2(v2) = parsed else {
            panic!("expected V2")
        };
        assert_eq!(v2.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(v2.signature.to_string(), "bWq2s1WEIj+Ydj0vQ697zp+IXMU=");
        assert_eq!(
            Authorization::parse("AWS AK:not-base64"),
            Err(AuthParseError::MalformedSignature)
        );
    }

    proptest! {
        #[test]
        fn never_panics(header in ".{0,300}") {
            let _ = Authorization::parse(&header);
        }

        #[test]
        fn never_panics_near_valid(prefix in 0usize..260, noise in ".{0,8}") {
            let mut header: String = AWS_EXAMPLE.chars().take(prefix).collect();
            header.push_str(&noise);
            let _ = Authorization::parse(&header);
        }
    }
}
