//! SigV4 for KMS requests: the `Authorization` header, signed for service `kms`, over the whole
//! (already read) JSON body. KMS has no presigned URLs and no aws-chunked bodies.
//!
//! Errors are the AWS JSON protocol's: `MissingAuthenticationTokenException`,
//! `IncompleteSignatureException`, `UnrecognizedClientException`, `InvalidSignatureException`.

use std::sync::Arc;

use http::request::Parts;

use crate::identity::{User, Users};
use crate::kms::KmsError;
use crate::sigv4::{
    AmzDate, Authorization, PayloadHash, QueryMode, RequestParts, SigningKey, canonical_request, string_to_sign,
};

/// The largest difference between a request's time and ours (AWS: 5 minutes for KMS).
const MAX_SKEW_SECONDS: i64 = 5 * 60;

/// Authenticates a KMS request and returns its user.
pub fn authenticate(users: &Users, region: &str, parts: &Parts, body: &[u8]) -> Result<Arc<User>, KmsError> {
    let header = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(KmsError::MissingAuthenticationToken)?;
    let header = header
        .to_str()
        .map_err(|_| incomplete("Authorization header is not ASCII"))?;
    let Authorization::V4(authorization) = Authorization::parse(header).map_err(|e| incomplete(&e.to_string()))? else {
        return Err(incomplete("Only AWS4-HMAC-SHA256 is supported"));
    };
    let user = users
        .by_access_key(&authorization.credential.access_key_id)
        .ok_or(KmsError::UnrecognizedClient)?;
    let scope = &authorization.credential.scope;
    if scope.service != "kms" {
        return Err(KmsError::InvalidSignature(format!(
            "Credential should be scoped to correct service: 'kms'. Scope was for service '{}'",
            scope.service
        )));
    }
    if scope.region != region {
        return Err(KmsError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            scope.region
        )));
    }
    let amz_date = request_date(parts)?;
    check_skew(amz_date)?;
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), std::str::from_utf8(value.as_bytes()).ok()?)))
        .collect();
    let request = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &headers,
    };
    let payload = PayloadHash::of_body(body);
    let canonical = canonical_request(&request, &authorization.signed_headers, &payload, QueryMode::Header)
        .map_err(|e| incomplete(&e.to_string()))?;
    let expected = SigningKey::for_scope(user.secret(), scope).sign(&string_to_sign(amz_date, scope, &canonical));
    if !expected.verify(&authorization.signature) {
        return Err(KmsError::InvalidSignature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
        ));
    }
    Ok(user)
}

fn request_date(parts: &Parts) -> Result<AmzDate, KmsError> {
    let missing = || incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    if let Some(value) = parts.headers.get("x-amz-date") {
        return AmzDate::parse(value.to_str().map_err(|_| missing())?).map_err(|_| missing());
    }
    let value = parts
        .headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    AmzDate::parse_rfc1123(value).map_err(|_| missing())
}

fn check_skew(amz_date: AmzDate) -> Result<(), KmsError> {
    let now = crate::kms::now() as i64;
    if (amz_date.unix_seconds() - now).abs() > MAX_SKEW_SECONDS {
        let server = AmzDate::from_unix_seconds(now)
            .map(|d| d.to_string())
            .unwrap_or_default();
        return Err(KmsError::InvalidSignature(format!(
            "Signature expired: {amz_date} is now earlier than {server} ({server} - 5 min.)"
        )));
    }
    Ok(())
}

fn incomplete(detail: &str) -> KmsError {
    KmsError::IncompleteSignature(format!("Authorization header is malformed: {detail}"))
}
