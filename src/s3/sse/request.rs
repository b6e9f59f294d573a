//! What encryption a request asks for, parsed from its SSE headers (spec §0, §1.1, §1.5, §3.5).
//!
//! Rules, in the order they are checked:
//! 0. Operations other than the eight below ignore every SSE header (`Ok(None)`).
//! 1. SSE-C headers (`x-amz-server-side-encryption-customer-*`, and the copy-source ones):
//!    with `x-amz-server-side-encryption` also present, AWS's `400 InvalidArgument`
//!    "…incompatible with the encryption method specified"; alone, `501 NotImplemented`
//!    (s3kms does not offer customer-provided keys).
//! 2. GetObject, HeadObject, UploadPart, UploadPartCopy and CompleteMultipartUpload accept no
//!    SSE header: `400 InvalidArgument` "x-amz-server-side-encryption header is not supported
//!    for this operation." PutObject, CopyObject (destination) and CreateMultipartUpload accept
//!    them.
//! 3. `x-amz-server-side-encryption` is `AES256` or `aws:kms`, exactly; `aws:kms:dsse` is
//!    `501 NotImplemented`; anything else `400 InvalidArgument` "The encryption method
//!    specified is not supported".
//! 4. A key id or context without `aws:kms`: `400 InvalidArgument` "Server Side Encryption with
//!    AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms".
//! 5. The context must be base64 JSON of strings ([`super::context`]); the bucket-key header
//!    `true` or `false` (any ASCII case; the error text for other values is inferred).
//!
//! A header sent twice is refused (inferred): policies and this parser must see one value.

use http::{HeaderMap, HeaderValue};

use super::context::parse_client_context;
use super::{
    BUCKET_KEY_HEADER, CONTEXT_HEADER, COPY_SOURCE_CUSTOMER_KEY_PREFIX, CUSTOMER_KEY_PREFIX, KEY_ID_HEADER, SSE_HEADER,
    SseAlgorithm,
};
use crate::kms::blob::EncryptionContext;
use crate::s3::S3Error;
use crate::s3::operation::Operation;

/// AWS's text for SSE headers on an operation that takes none.
pub const NOT_SUPPORTED_FOR_OPERATION: &str =
    "x-amz-server-side-encryption header is not supported for this operation.";
/// AWS's text for a key id or context without `aws:kms`.
pub const REQUIRES_AWS_KMS: &str =
    "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms";
/// AWS's text for an unknown algorithm.
pub const UNSUPPORTED_METHOD: &str = "The encryption method specified is not supported";
/// AWS's text for SSE-C headers together with `x-amz-server-side-encryption`.
pub const CUSTOMER_KEY_INCOMPATIBLE: &str =
    "Server Side Encryption with Customer provided key is incompatible with the encryption method specified";

/// The encryption a write request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedEncryption {
    /// The algorithm; `None` when only the bucket-key header was sent (the bucket's default
    /// encryption then decides the algorithm, and this request only overrides the flag).
    pub algorithm: Option<SseAlgorithm>,
    /// The KMS key as sent (key id, key ARN, alias name or alias ARN); unresolved.
    pub key_id: Option<String>,
    /// The client's context pairs (empty when none was sent).
    pub context: EncryptionContext,
    /// The context header exactly as sent, for the response echo; `None` when not sent.
    pub context_header: Option<HeaderValue>,
    /// The bucket-key header, when sent.
    pub bucket_key_enabled: Option<bool>,
}

/// The SSE request headers of `operation`: `Ok(None)` when none applies.
pub fn requested_encryption(operation: Operation, headers: &HeaderMap) -> Result<Option<RequestedEncryption>, S3Error> {
    let acceptance = acceptance(operation);
    if matches!(acceptance, Acceptance::Ignores) {
        return Ok(None);
    }
    refuse_customer_keys(headers)?;
    let algorithm = single(headers, SSE_HEADER)?;
    let key_id = single(headers, KEY_ID_HEADER)?;
    let context = single(headers, CONTEXT_HEADER)?;
    let bucket_key = single(headers, BUCKET_KEY_HEADER)?;
    if algorithm.is_none() && key_id.is_none() && context.is_none() && bucket_key.is_none() {
        return Ok(None);
    }
    match acceptance {
        Acceptance::Accepts | Acceptance::Ignores => {}
        Acceptance::Refuses => {
            let sent = [
                (SSE_HEADER, algorithm),
                (KEY_ID_HEADER, key_id),
                (CONTEXT_HEADER, context),
                (BUCKET_KEY_HEADER, bucket_key),
            ];
            let (name, value) = sent
                .into_iter()
                .find_map(|(name, value)| Some((name, value?)))
                .unwrap_or((SSE_HEADER, &NULL));
            return Err(invalid(NOT_SUPPORTED_FOR_OPERATION, name, value));
        }
    }
    let algorithm = algorithm.map(parse_algorithm).transpose()?;
    if algorithm != Some(SseAlgorithm::AwsKms) && (key_id.is_some() || context.is_some()) {
        let sent = headers.get(SSE_HEADER).unwrap_or(&NULL);
        return Err(invalid(REQUIRES_AWS_KMS, SSE_HEADER, sent));
    }
    Ok(Some(RequestedEncryption {
        algorithm,
        key_id: key_id.map(|value| text(KEY_ID_HEADER, value)).transpose()?,
        context: context.map(parse_client_context).transpose()?.unwrap_or_default(),
        context_header: context.cloned(),
        bucket_key_enabled: bucket_key.map(parse_bool).transpose()?,
    }))
}

/// What AWS writes as the value of an absent argument.
static NULL: HeaderValue = HeaderValue::from_static("null");

/// How an operation treats SSE request headers.
enum Acceptance {
    /// Writes: SSE-KMS headers say how to encrypt.
    Accepts,
    /// Reads and parts: SSE-KMS headers are an error (AWS accepts only SSE-C headers here).
    Refuses,
    /// Everything else: neither SSE-KMS nor SSE-C headers mean anything.
    Ignores,
}

fn acceptance(operation: Operation) -> Acceptance {
    use Operation::*;
    match operation {
        PutObject | CopyObject | CreateMultipartUpload => Acceptance::Accepts,
        GetObject | HeadObject | UploadPart | UploadPartCopy | CompleteMultipartUpload => Acceptance::Refuses,
        _ => Acceptance::Ignores,
    }
}

fn refuse_customer_keys(headers: &HeaderMap) -> Result<(), S3Error> {
    let customer = headers.keys().any(|name| {
        let name = name.as_str();
        name.starts_with(CUSTOMER_KEY_PREFIX) || name.starts_with(COPY_SOURCE_CUSTOMER_KEY_PREFIX)
    });
    match (customer, headers.get(SSE_HEADER)) {
        (false, _) => Ok(()),
        (true, Some(sse)) => Err(invalid(CUSTOMER_KEY_INCOMPATIBLE, SSE_HEADER, sse)),
        (true, None) => Err(S3Error::NotImplemented {
            message: "s3kms does not offer server-side encryption with customer-provided keys (SSE-C); \
                      use SSE-KMS (x-amz-server-side-encryption: aws:kms)"
                .to_owned(),
        }),
    }
}

fn parse_algorithm(value: &HeaderValue) -> Result<SseAlgorithm, S3Error> {
    match value.to_str().ok() {
        Some("aws:kms:dsse") => Err(S3Error::NotImplemented {
            message: "s3kms does not offer dual-layer SSE-KMS (aws:kms:dsse); use aws:kms".to_owned(),
        }),
        Some(text) => SseAlgorithm::parse(text).ok_or_else(|| invalid(UNSUPPORTED_METHOD, SSE_HEADER, value)),
        None => Err(invalid(UNSUPPORTED_METHOD, SSE_HEADER, value)),
    }
}

fn parse_bool(value: &HeaderValue) -> Result<bool, S3Error> {
    let bytes = value.as_bytes();
    if bytes.eq_ignore_ascii_case(b"true") {
        Ok(true)
    } else if bytes.eq_ignore_ascii_case(b"false") {
        Ok(false)
    } else {
        let message = format!("The {BUCKET_KEY_HEADER} header must be true or false");
        Err(invalid(&message, BUCKET_KEY_HEADER, value))
    }
}

/// A header's only value; a second value is refused.
fn single<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a HeaderValue>, S3Error> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        None => Ok(first),
        Some(second) => Err(invalid(
            &format!("The {name} header may be sent only once"),
            name,
            second,
        )),
    }
}

fn text(name: &'static str, value: &HeaderValue) -> Result<String, S3Error> {
    match value.to_str() {
        Ok(text) => Ok(text.to_owned()),
        Err(_) => Err(invalid(&format!("The {name} header is not valid ASCII"), name, value)),
    }
}

fn invalid(message: &str, name: &'static str, value: &HeaderValue) -> S3Error {
    S3Error::InvalidArgument {
        message: message.to_owned(),
        name: name.to_owned(),
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
