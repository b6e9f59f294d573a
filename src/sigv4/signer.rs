//! The outgoing signer: the proxy re-signs every upstream request with its own service
//! credential.
//!
//! Owns the choice of what is signed on the way out: `host`, `x-amz-date`,
//! `x-amz-content-sha256` and every header the caller passes. Produces header values; the
//! caller puts them on the request.
//!
//! Does not choose headers: the caller must pass only headers its HTTP stack will send
//! unchanged (no hop-by-hop headers, nothing a proxy rewrites). Does not read the clock.

use super::amz_date::AmzDate;
use super::authorization::{CredentialScope, SignedHeaders};
use super::canonical::{CanonicalError, QueryMode, RequestParts, canonical_request};
use super::payload::PayloadHash;
use super::signing::{SecretKey, Signature, SigningKey, string_to_sign};

/// A credential and the region and service it signs for.
#[derive(Debug, Clone)]
pub struct Signer {
    access_key_id: String,
    secret: SecretKey,
    region: String,
    service: String,
}

/// An outgoing request, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingRequest<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// The path as it will appear on the request line (already percent-encoded).
    pub path: &'a str,
    /// The query string as it will be sent (already encoded), without `?`.
    pub query: &'a str,
    /// The `Host` header value (`host[:port]`).
    pub host: &'a str,
    /// Further headers to sign. `host`, `x-amz-date` and `x-amz-content-sha256` given here
    /// are ignored: the signer supplies them.
    pub headers: &'a [(&'a str, &'a str)],
    /// What `x-amz-content-sha256` will say.
    pub payload: PayloadHash,
}

/// The header values to set on the outgoing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOutgoing {
    /// The `Authorization` header value.
    pub authorization: String,
    /// The `x-amz-date` header value.
    pub amz_date: String,
    /// The `x-amz-content-sha256` header value.
    pub content_sha256: String,
    /// The signature alone (the seed, if the body is then sent aws-chunked).
    pub signature: Signature,
}

const SIGNER_OWNED: [&str; 3] = ["host", "x-amz-date", "x-amz-content-sha256"];

impl Signer {
    /// A signer for one credential, region and service.
    pub fn new(
        access_key_id: impl Into<String>,
        secret: SecretKey,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret,
            region: region.into(),
            service: service.into(),
        }
    }

    /// Signs `request` as of `amz_date`.
    ///
    /// Fails only if the canonical request cannot be built, which cannot happen for the
    /// header list built here (every signed header is one passed in).
    pub fn sign(&self, request: &OutgoingRequest<'_>, amz_date: AmzDate) -> Result<SignedOutgoing, CanonicalError> {
        let amz_date_text = amz_date.to_string();
        let content_sha256 = request.payload.to_string();
        let headers = self.header_list(request, &amz_date_text, &content_sha256);
        let names = headers.iter().map(|(name, _)| (*name).to_owned()).collect();
        let signed_headers = SignedHeaders::with_host(names);
        let parts = RequestParts {
            method: request.method,
            raw_path: request.path,
            raw_query: request.query,
            headers: &headers,
        };
        let canonical = canonical_request(&parts, &signed_headers, &request.payload, QueryMode::Header)?;
        let scope = CredentialScope {
            date: amz_date.date_stamp(),
            region: self.region.clone(),
            service: self.service.clone(),
        };
        let signature = SigningKey::for_scope(&self.secret, &scope).sign(&string_to_sign(amz_date, &scope, &canonical));
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope},SignedHeaders={signed_headers},Signature={signature}",
            self.access_key_id
        );
        Ok(SignedOutgoing {
            authorization,
            amz_date: amz_date_text,
            content_sha256,
            signature,
        })
    }

    /// The caller's headers minus the three the signer owns, plus those three.
    fn header_list<'a>(
        &self,
        request: &OutgoingRequest<'a>,
        amz_date: &'a str,
        content_sha256: &'a str,
    ) -> Vec<(&'a str, &'a str)> {
        let owned = |name: &str| SIGNER_OWNED.iter().any(|owned| owned.eq_ignore_ascii_case(name));
        let mut headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .copied()
            .filter(|(name, _)| !owned(name))
            .collect();
        headers.extend([
            ("host", request.host),
            ("x-amz-date", amz_date),
            ("x-amz-content-sha256", content_sha256),
        ]);
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::authorization::{Authorization, AuthorizationV4};
    use proptest::prelude::*;

    fn example_signer() -> Signer {
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        Signer::new("AKIAIOSFODNN7EXAMPLE", secret, "us-east-1", "s3")
    }

    /// AWS S3 API reference, "Example: GET Object" (header auth, Range).
    #[test]
    fn reproduces_the_aws_get_object_example() {
        let request = OutgoingRequest {
            method: "GET",
            path: "/test.txt",
            query: "",
            host: "examplebucket.s3.amazonaws.com",
            headers: &[("Range", "bytes=0-9")],
            payload: PayloadHash::of_body(b""),
        };
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        let signed = example_signer().sign(&request, date).unwrap();
        assert_eq!(
            signed.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// The verifier's view of a request the signer signed.
    fn verifies(request: &OutgoingRequest<'_>, signed: &SignedOutgoing, date: AmzDate) -> bool {
        let Ok(Authorization::V4(auth)) = Authorization::parse(&signed.authorization) else {
            return false;
        };
        let AuthorizationV4 {
            credential,
            signed_headers,
            signature,
        } = auth;
        let mut headers = request.headers.to_vec();
        headers.extend([
            ("Host", request.host),
            ("X-Amz-Date", &signed.amz_date),
            ("X-Amz-Content-Sha256", &signed.content_sha256),
        ]);
        let parts = RequestParts {
            method: request.method,
            raw_path: request.path,
            raw_query: request.query,
            headers: &headers,
        };
        let payload = PayloadHash::parse(&signed.content_sha256).unwrap();
        let Ok(canonical) = canonical_request(&parts, &signed_headers, &payload, QueryMode::Header) else {
            return false;
        };
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let expected = SigningKey::for_scope(&secret, &credential.scope).sign(&string_to_sign(
            date,
            &credential.scope,
            &canonical,
        ));
        expected.verify(&signature)
    }

    proptest! {
        #[test]
        fn signer_output_verifies(
            path in "/[a-zA-Z0-9._~%/-]{0,30}",
            query in "([a-z]{1,5}(=[a-zA-Z0-9%+]{0,6})?&){0,4}",
            meta in "[ -~]{0,20}",
            seconds in 0i64..4_000_000_000,
        ) {
            let date = AmzDate::from_unix_seconds(seconds).unwrap();
            let headers = [("x-amz-meta-note", meta.as_str()), ("Content-Type", "text/plain")];
            let request = OutgoingRequest { method: "PUT", path: &path, query: &query, host: "127.0.0.1:9000", headers: &headers, payload: PayloadHash::Unsigned };
            let signed = example_signer().sign(&request, date).unwrap();
            prop_assert!(verifies(&request, &signed, date));
            let mut tampered = request;
            tampered.method = "POST";
            prop_assert!(!verifies(&tampered, &signed, date));
        }
    }
}
