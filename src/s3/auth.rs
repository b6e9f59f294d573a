//! Authentication of S3 requests: who is calling, and what their body must prove.
//!
//! Owns the order of checks S3 applies and the S3 error for each: which credential form the
//! request uses (Authorization header, SigV4 presigned query, SigV2 presigned query), the
//! user lookup, region, clock skew and expiry, the signature itself, and — for the body — a
//! [`Payload`] that the body layer then enforces. The maths lives in [`crate::sigv4`].
//!
//! SigV2: presigned query URLs are accepted, because `aws s3 presign` and boto3's
//! `generate_presigned_url` produce them by default with a custom endpoint. A SigV2
//! `Authorization` header is refused with AWS's text for regions without SigV2.

use std::sync::Arc;

use http::HeaderMap;

use super::S3Error;
use crate::identity::{User, Users};
use crate::sigv4::{
    AmzDate, AuthParseError, Authorization, AuthorizationV4, ChecksumAlgorithm, ChunkSigning, ChunkedMode, Credential,
    PayloadHash, PayloadHashError, PresignedV2, PresignedV4, QueryMode, RequestParts, SignatureV2, SignedHeaders,
    SigningKey, canonical_request, string_to_sign, string_to_sign_v2,
};

/// The largest difference between a request's time and ours (AWS: 15 minutes).
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// A request whose signature checked out.
pub struct Authenticated {
    /// The caller.
    pub user: Arc<User>,
    /// What the body must prove.
    pub payload: Payload,
    /// Signed with Signature Version 2 (a SigV2 presigned URL), which SSE-KMS refuses.
    pub signature_v2: bool,
}

/// How the body is covered.
pub enum Payload {
    /// Not covered (`UNSIGNED-PAYLOAD`, presigned URLs).
    Unsigned,
    /// `x-amz-content-sha256` names the body's hash.
    Sha256([u8; 32]),
    /// aws-chunked, to decode and verify.
    Chunked(ChunkedMode),
}

/// The request as authentication sees it.
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub raw_path: &'a str,
    /// The query as sent, without `?`.
    pub raw_query: &'a str,
    /// The decoded query pairs.
    pub query: &'a [(String, String)],
    /// The headers.
    pub headers: &'a HeaderMap,
}

/// Authenticates a request at time `now` (unix seconds).
pub fn authenticate(
    users: &Users,
    region: &str,
    request: &RequestView<'_>,
    now: i64,
) -> Result<Authenticated, S3Error> {
    let headers = header_pairs(request.headers);
    if let Some(value) = request.headers.get(http::header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| malformed("The authorization header is malformed."))?;
        return match Authorization::parse(value) {
            Ok(Authorization::V4(authorization)) => {
                verify_header(users, region, request, &headers, &authorization, now)
            }
            Ok(Authorization::V2(_)) => Err(S3Error::InvalidRequest {
                message: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
                    .to_owned(),
            }),
            Err(error) => Err(malformed(&header_parse_message(&error, region))),
        };
    }
    match PresignedV4::parse(request.query) {
        Ok(Some(presigned)) => {
            return verify_presigned_v4(users, region, request, &headers, &presigned, now);
        }
        Ok(None) => {}
        Err(error) => {
            return Err(S3Error::AuthorizationQueryParametersError {
                message: query_parse_message(&error),
            });
        }
    }
    match PresignedV2::parse(request.query) {
        Ok(Some(presigned)) => verify_presigned_v2(users, request, &headers, &presigned, now),
        Ok(None) => Err(S3Error::AccessDenied),
        Err(error) => Err(S3Error::AuthorizationQueryParametersError {
            message: query_parse_message(&error),
        }),
    }
}

fn verify_header(
    users: &Users,
    region: &str,
    request: &RequestView<'_>,
    headers: &[(&str, &str)],
    authorization: &AuthorizationV4,
    now: i64,
) -> Result<Authenticated, S3Error> {
    let user = lookup(users, &authorization.credential)?;
    check_scope(&authorization.credential, region)?;
    let amz_date = request_date(request.headers)?;
    if !authorization.credential.scope.matches_date(amz_date) {
        return Err(malformed(&format!(
            "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date: \"{}\".",
            amz_date.date_stamp()
        )));
    }
    check_skew(amz_date, now)?;
    let declared = payload_hash(request.headers)?;
    let seed = verify_signature(
        &user,
        request,
        headers,
        (
            &authorization.credential,
            &authorization.signed_headers,
            &authorization.signature,
        ),
        amz_date,
        &declared,
        QueryMode::Header,
    )?;
    let payload = match declared {
        PayloadHash::Unsigned => Payload::Unsigned,
        PayloadHash::Sha256(digest) => Payload::Sha256(digest),
        streaming => Payload::Chunked(chunked_mode(streaming, seed, request.headers)?),
    };
    Ok(Authenticated {
        user,
        payload,
        signature_v2: false,
    })
}

fn verify_presigned_v4(
    users: &Users,
    region: &str,
    request: &RequestView<'_>,
    headers: &[(&str, &str)],
    presigned: &PresignedV4,
    now: i64,
) -> Result<Authenticated, S3Error> {
    let user = lookup(users, &presigned.credential)?;
    check_scope(&presigned.credential, region)?;
    if now > presigned.expires_at() {
        return Err(S3Error::RequestExpired {
            expires: iso8601(presigned.expires_at()),
            server_time: iso8601(now),
        });
    }
    if presigned.amz_date.unix_seconds() - now > MAX_SKEW_SECONDS {
        return Err(S3Error::AccessDenied);
    }
    let declared = match request.headers.get("x-amz-content-sha256") {
        Some(_) => payload_hash(request.headers)?,
        None => PayloadHash::Unsigned,
    };
    let signature = (&presigned.credential, &presigned.signed_headers, &presigned.signature);
    verify_signature(
        &user,
        request,
        headers,
        signature,
        presigned.amz_date,
        &declared,
        QueryMode::Presigned,
    )?;
    let payload = match declared {
        PayloadHash::Sha256(digest) => Payload::Sha256(digest),
        _ => Payload::Unsigned,
    };
    Ok(Authenticated {
        user,
        payload,
        signature_v2: false,
    })
}

fn verify_presigned_v2(
    users: &Users,
    request: &RequestView<'_>,
    headers: &[(&str, &str)],
    presigned: &PresignedV2,
    now: i64,
) -> Result<Authenticated, S3Error> {
    let user = users
        .by_access_key(&presigned.access_key_id)
        .ok_or_else(|| S3Error::InvalidAccessKeyId {
            access_key_id: presigned.access_key_id.clone(),
        })?;
    if now > presigned.expires_unix_seconds {
        return Err(S3Error::RequestExpired {
            expires: iso8601(presigned.expires_unix_seconds),
            server_time: iso8601(now),
        });
    }
    let resource = sigv2_resource(request.raw_path);
    let string_to_sign = string_to_sign_v2(
        request.method,
        headers,
        &presigned.expires_unix_seconds.to_string(),
        &resource,
        request.query,
    );
    let expected = SignatureV2::sign(user.secret(), &string_to_sign);
    if !expected.verify(&presigned.signature) {
        return Err(S3Error::SignatureDoesNotMatch {
            access_key_id: presigned.access_key_id.clone(),
            string_to_sign,
            signature_provided: presigned.signature.to_string(),
            canonical_request: String::new(),
        });
    }
    Ok(Authenticated {
        user,
        payload: Payload::Unsigned,
        signature_v2: true,
    })
}

/// Checks the signature and returns it (the seed of an aws-chunked body).
fn verify_signature(
    user: &User,
    request: &RequestView<'_>,
    headers: &[(&str, &str)],
    (credential, signed_headers, claimed): (&Credential, &SignedHeaders, &crate::sigv4::Signature),
    amz_date: AmzDate,
    payload: &PayloadHash,
    mode: QueryMode,
) -> Result<
    (
        crate::sigv4::Signature,
        SigningKey,
        AmzDate,
        crate::sigv4::CredentialScope,
    ),
    S3Error,
> {
    let parts = RequestParts {
        method: request.method,
        raw_path: request.raw_path,
        raw_query: request.raw_query,
        headers,
    };
    let canonical = canonical_request(&parts, signed_headers, payload, mode).map_err(|_| S3Error::AccessDenied)?;
    let string_to_sign = string_to_sign(amz_date, &credential.scope, &canonical);
    let key = SigningKey::for_scope(user.secret(), &credential.scope);
    let expected = key.sign(&string_to_sign);
    if !expected.verify(claimed) {
        return Err(S3Error::SignatureDoesNotMatch {
            access_key_id: credential.access_key_id.clone(),
            string_to_sign,
            signature_provided: claimed.to_string(),
            canonical_request: canonical,
        });
    }
    Ok((expected, key, amz_date, credential.scope.clone()))
}

fn chunked_mode(
    declared: PayloadHash,
    (seed, key, amz_date, scope): (
        crate::sigv4::Signature,
        SigningKey,
        AmzDate,
        crate::sigv4::CredentialScope,
    ),
    headers: &HeaderMap,
) -> Result<ChunkedMode, S3Error> {
    let trailer = match headers.get("x-amz-trailer").map(|v| v.to_str()) {
        None => None,
        Some(Ok(name)) => {
            Some(
                ChecksumAlgorithm::from_trailer_name(name.trim()).ok_or_else(|| S3Error::InvalidRequest {
                    message: format!(
                        "The value specified in the x-amz-trailer header is not supported: {}",
                        name.trim()
                    ),
                })?,
            )
        }
        Some(Err(_)) => {
            return Err(S3Error::InvalidRequest {
                message: "Invalid x-amz-trailer header.".to_owned(),
            });
        }
    };
    let signing = ChunkSigning {
        key,
        amz_date,
        scope,
        seed,
    };
    Ok(match declared {
        PayloadHash::StreamingSigned => ChunkedMode::Signed(signing),
        PayloadHash::StreamingSignedTrailer => ChunkedMode::SignedWithTrailer(signing, trailer),
        _ => ChunkedMode::UnsignedWithTrailer(trailer),
    })
}

fn lookup(users: &Users, credential: &Credential) -> Result<Arc<User>, S3Error> {
    users
        .by_access_key(&credential.access_key_id)
        .ok_or_else(|| S3Error::InvalidAccessKeyId {
            access_key_id: credential.access_key_id.clone(),
        })
}

fn check_scope(credential: &Credential, region: &str) -> Result<(), S3Error> {
    let scope = &credential.scope;
    if scope.region != region {
        return Err(malformed(&format!(
            "The authorization header is malformed; the region '{}' is wrong; expecting '{region}'",
            scope.region
        )));
    }
    if scope.service != "s3" {
        return Err(malformed(&format!(
            "The authorization header is malformed; incorrect service \"{}\". This endpoint belongs to \"s3\".",
            scope.service
        )));
    }
    Ok(())
}

/// `x-amz-date`, or else `Date`.
fn request_date(headers: &HeaderMap) -> Result<AmzDate, S3Error> {
    let missing = || S3Error::AccessDeniedWithMessage {
        message: "AWS authentication requires a valid Date or x-amz-date header".to_owned(),
    };
    if let Some(value) = headers.get("x-amz-date") {
        let text = value.to_str().map_err(|_| missing())?;
        return AmzDate::parse(text).map_err(|_| missing());
    }
    let text = headers
        .get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(missing)?;
    AmzDate::parse_rfc1123(text).map_err(|_| missing())
}

fn check_skew(amz_date: AmzDate, now: i64) -> Result<(), S3Error> {
    if (amz_date.unix_seconds() - now).abs() > MAX_SKEW_SECONDS {
        return Err(S3Error::RequestTimeTooSkewed {
            request_time: amz_date.to_string(),
            server_time: AmzDate::from_unix_seconds(now)
                .map(|d| d.to_string())
                .unwrap_or_default(),
        });
    }
    Ok(())
}

fn payload_hash(headers: &HeaderMap) -> Result<PayloadHash, S3Error> {
    let Some(value) = headers.get("x-amz-content-sha256") else {
        return Err(S3Error::InvalidRequest {
            message: "Missing required header for this request: x-amz-content-sha256".to_owned(),
        });
    };
    let text = value.to_str().unwrap_or_default();
    PayloadHash::parse(text).map_err(|error| match error {
        PayloadHashError::Malformed => S3Error::InvalidArgument {
            message: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.".to_owned(),
            name: "x-amz-content-sha256".to_owned(),
            value: text.to_owned(),
        },
        PayloadHashError::UnsupportedEcdsa => S3Error::NotImplemented {
            message: "SigV4a signed payloads are not supported.".to_owned(),
        },
    })
}

/// Header pairs for canonicalisation; values that are not UTF-8 are skipped (they cannot be
/// signed by any SDK either, so a request relying on them fails the signature check).
fn header_pairs(headers: &HeaderMap) -> Vec<(&str, &str)> {
    headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), std::str::from_utf8(value.as_bytes()).ok()?)))
        .collect()
}

/// The SigV2 canonical resource path: the path as sent, `/bucket/` for a bucket.
fn sigv2_resource(raw_path: &str) -> String {
    let trimmed = raw_path.trim_start_matches('/');
    if !trimmed.is_empty() && !trimmed.contains('/') {
        format!("/{trimmed}/")
    } else {
        raw_path.to_owned()
    }
}

fn malformed(message: &str) -> S3Error {
    S3Error::AuthorizationHeaderMalformed {
        message: message.to_owned(),
    }
}

fn header_parse_message(error: &AuthParseError, region: &str) -> String {
    match error {
        AuthParseError::UnsupportedAlgorithm => {
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".to_owned()
        }
        AuthParseError::MalformedCredential
        | AuthParseError::MalformedScopeDate
        | AuthParseError::MalformedScopeTerminator => {
            format!(
                "The authorization header is malformed; the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/{region}/s3/aws4_request\"."
            )
        }
        other => format!("The authorization header is malformed; {other}."),
    }
}

fn query_parse_message(error: &AuthParseError) -> String {
    match error {
        AuthParseError::MalformedExpires => {
            "X-Amz-Expires must be less than a week (in seconds) that is 604800".to_owned()
        }
        other => format!("Query-string authentication is malformed: {other}."),
    }
}

/// `2013-05-24T00:00:00Z` for error documents.
fn iso8601(unix_seconds: i64) -> String {
    let Some(date) = AmzDate::from_unix_seconds(unix_seconds) else {
        return String::new();
    };
    let text = date.to_string();
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    )
}
