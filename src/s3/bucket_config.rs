//! The bucket settings s3kms answers itself and never forwards: PutBucketEncryption,
//! GetBucketEncryption, DeleteBucketEncryption, PutBucketPolicy, GetBucketPolicy and
//! DeleteBucketPolicy (L2).
//!
//! Owns: the wire shapes of those six operations (statuses, bodies, AWS's error codes and texts)
//! and the mapping of [`SettingsError`] and [`ConfigurationError`] to [`S3Error`].
//!
//! Does not: authenticate or authorize (`access`), check that the bucket exists upstream, or read
//! the request body (the caller reads at most [`MAX_BODY_BYTES`] and answers [`body_too_large`]
//! beyond). Storage and the encryption document's grammar belong to [`crate::buckets`].
//!
//! Invariants: a policy is stored only after it parses as a resource policy whose `Resource`
//! ARNs all name this bucket; GetBucketPolicy returns the text exactly as stored; a bucket
//! without an encryption configuration reports AWS's default (SSE-S3) rather than an error.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use super::S3Error;
use super::forward::stamp;
use super::operation::Operation;
use crate::buckets::{BucketSettings, ConfigurationError, DefaultEncryption, MAX_BUCKET_POLICY_BYTES, SettingsError};
use crate::http::{ResponseBody, full_body};
use crate::policy::{PolicyDocument, PolicyError, PolicyKind, Scope, wildcard_match};

/// The most body bytes the caller should read for these operations (a policy may hold
/// insignificant whitespace beyond AWS's 20 KB normalized limit; an encryption document is tiny).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// AWS's text for a policy body that is not a JSON object.
const NOT_JSON: &str = "Policies must be valid JSON and the first byte must be '{'";

/// Whether s3kms answers `operation` here instead of forwarding it.
pub fn is_bucket_setting(operation: Operation) -> bool {
    matches!(
        operation,
        Operation::PutBucketEncryption
            | Operation::GetBucketEncryption
            | Operation::DeleteBucketEncryption
            | Operation::PutBucketPolicy
            | Operation::GetBucketPolicy
            | Operation::DeleteBucketPolicy
    )
}

/// Answers one of the six bucket-setting operations on `bucket` (already authenticated,
/// authorized and known to exist). `body` is the whole request body.
pub async fn handle(
    settings: &BucketSettings,
    operation: Operation,
    bucket: &str,
    body: Bytes,
    request_id: &str,
) -> Result<Response<ResponseBody>, S3Error> {
    match operation {
        Operation::PutBucketEncryption => {
            let configuration = DefaultEncryption::parse_xml(&body).map_err(configuration_error)?;
            settings
                .put_encryption(bucket, &configuration)
                .await
                .map_err(settings_error)?;
            Ok(response(StatusCode::OK, None, Bytes::new(), request_id))
        }
        Operation::GetBucketEncryption => {
            let configuration = settings.encryption(bucket).await.map_err(settings_error)?;
            let xml = Bytes::from(configuration.to_xml());
            Ok(response(StatusCode::OK, Some("application/xml"), xml, request_id))
        }
        Operation::DeleteBucketEncryption => {
            settings.delete_encryption(bucket).await.map_err(settings_error)?;
            Ok(response(StatusCode::NO_CONTENT, None, Bytes::new(), request_id))
        }
        Operation::PutBucketPolicy => {
            let text = validate_policy(bucket, &body)?;
            settings.put_policy(bucket, text).await.map_err(settings_error)?;
            Ok(response(StatusCode::NO_CONTENT, None, Bytes::new(), request_id))
        }
        Operation::GetBucketPolicy => match settings.policy(bucket).await.map_err(settings_error)? {
            Some(text) => Ok(response(
                StatusCode::OK,
                Some("application/json"),
                Bytes::from(text),
                request_id,
            )),
            None => Err(S3Error::NoSuchBucketPolicy {
                bucket_name: bucket.to_owned(),
            }),
        },
        Operation::DeleteBucketPolicy => {
            settings.delete_policy(bucket).await.map_err(settings_error)?;
            Ok(response(StatusCode::NO_CONTENT, None, Bytes::new(), request_id))
        }
        other => Err(S3Error::InternalError {
            detail: format!("bucket_config::handle called for {other:?}"),
        }),
    }
}

/// The answer to a body longer than [`MAX_BODY_BYTES`]: the policy's size error, or
/// `MalformedXML` for an encryption document (inferred).
pub fn body_too_large(operation: Operation) -> S3Error {
    match operation {
        Operation::PutBucketPolicy => S3Error::MalformedPolicy {
            message: too_large_message(),
        },
        _ => S3Error::MalformedXml,
    }
}

/// A settings failure as S3 reports it: the key store (a local directory or the upstream bucket)
/// failing is `503 ServiceUnavailable`, which SDKs retry; an unreadable record is s3kms's own
/// fault (`500`); a refused policy is `400 MalformedPolicy`.
pub(super) fn settings_error(error: SettingsError) -> S3Error {
    match error {
        SettingsError::Store(store) => S3Error::ServiceUnavailable {
            detail: format!("bucket settings: {store}"),
        },
        SettingsError::Corrupt(..) => S3Error::InternalError {
            detail: error.to_string(),
        },
        SettingsError::InvalidPolicy(message) => S3Error::MalformedPolicy { message },
    }
}

/// A refused `ServerSideEncryptionConfiguration` as AWS reports it. AWS's `InvalidArgument`
/// here names the element and carries no value (an empty `ArgumentValue` is sent).
fn configuration_error(error: ConfigurationError) -> S3Error {
    match error {
        ConfigurationError::MalformedXml => S3Error::MalformedXml,
        ConfigurationError::InvalidArgument { message, argument } => S3Error::InvalidArgument {
            message,
            name: argument.to_owned(),
            value: String::new(),
        },
        ConfigurationError::NotImplemented(message) => S3Error::NotImplemented { message },
    }
}

/// The policy text, once it is JSON, within AWS's size, a valid resource policy, and about
/// this bucket only. Texts: AWS's where observed, else the policy module's (see [`policy_error`]).
fn validate_policy<'b>(bucket: &str, body: &'b [u8]) -> Result<&'b str, S3Error> {
    let malformed = |message: String| S3Error::MalformedPolicy { message };
    let text = std::str::from_utf8(body).map_err(|_| malformed(NOT_JSON.to_owned()))?;
    if !text.trim_start().starts_with('{') {
        return Err(malformed(NOT_JSON.to_owned()));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| malformed(NOT_JSON.to_owned()))?;
    if value.to_string().len() > MAX_BUCKET_POLICY_BYTES {
        return Err(malformed(too_large_message()));
    }
    let document = PolicyDocument::parse(text, PolicyKind::Resource).map_err(|e| malformed(policy_error(&e)))?;
    if !names_only(&document, bucket) {
        return Err(malformed("Policy has invalid resource".to_owned()));
    }
    Ok(text)
}

/// S3's `MalformedPolicy` text for a grammar error. Observed texts: invalid JSON, a missing
/// `Statement`, an invalid principal; the others are the policy module's own (inferred).
fn policy_error(error: &PolicyError) -> String {
    match error {
        PolicyError::Syntax(_) => NOT_JSON.to_owned(),
        PolicyError::MissingStatement => "Missing required field Statement".to_owned(),
        PolicyError::MissingPrincipal => "Missing required field Principal".to_owned(),
        PolicyError::InvalidPrincipal(_) => "Invalid principal in policy".to_owned(),
        other => other.to_string(),
    }
}

/// Whether every `Resource` ARN names `bucket` or objects in it (S3 refuses a bucket policy that
/// names another bucket, or `*`, with "Policy has invalid resource"). A wildcard in the bucket
/// part is accepted when it matches this bucket (inferred); `NotResource` is not checked.
fn names_only(document: &PolicyDocument, bucket: &str) -> bool {
    let fits = |pattern: &String| {
        let Some(path) = pattern.strip_prefix("arn:aws:s3:::") else {
            return false;
        };
        let bucket_part = path.split_once('/').map_or(path, |(bucket_part, _)| bucket_part);
        wildcard_match(bucket_part, bucket, false)
    };
    document.statements.iter().all(|statement| match &statement.resource {
        Some(Scope::Only(patterns)) => patterns.iter().all(fits),
        _ => true,
    })
}

fn too_large_message() -> String {
    format!("Normalized policy document exceeds the maximum allowed size of {MAX_BUCKET_POLICY_BYTES} bytes")
}

fn response(
    status: StatusCode,
    content_type: Option<&'static str>,
    body: Bytes,
    request_id: &str,
) -> Response<ResponseBody> {
    let length = body.len();
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(content_type) = content_type {
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if status != StatusCode::NO_CONTENT {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    stamp(headers, request_id);
    response
}

#[cfg(test)]
#[path = "bucket_config_tests.rs"]
mod tests;
