//! Per-object server-side encryption, as the S3 API sees it (pure: no async, no I/O).
//!
//! Owns: what encryption a request asks for ([`request`]), the encryption context s3kms asks the
//! KMS to bind a data key to ([`context`]), the SSE headers each response carries
//! ([`response`]), and the reserved user metadata that lets any s3kms instance decrypt an object
//! ([`envelope`]). Does not: resolve key ids (`kms::resolve`), call the KMS, apply the bucket's
//! default encryption, or touch object bytes (`format`).
//!
//! AWS's rules come from `research/aws-sse-kms-spec.md` §0, §1, §3.5; where AWS's exact text
//! is unknown, the item's doc says "inferred".

pub mod context;
pub mod envelope;
pub mod request;
pub mod response;

pub use context::effective_context;
pub use envelope::{Envelope, EnvelopeError, Layout, check_metadata_budget};
pub use request::{RequestedEncryption, requested_encryption};
pub use response::{Applied, response_headers};

/// `x-amz-server-side-encryption`: the algorithm.
pub const SSE_HEADER: &str = "x-amz-server-side-encryption";
/// `x-amz-server-side-encryption-aws-kms-key-id`: the KMS key (any form on requests, the key ARN
/// on responses).
pub const KEY_ID_HEADER: &str = "x-amz-server-side-encryption-aws-kms-key-id";
/// `x-amz-server-side-encryption-context`: base64 of the client's JSON context.
pub const CONTEXT_HEADER: &str = "x-amz-server-side-encryption-context";
/// `x-amz-server-side-encryption-bucket-key-enabled`: `true` / `false`.
pub const BUCKET_KEY_HEADER: &str = "x-amz-server-side-encryption-bucket-key-enabled";
/// Prefix of the SSE-C headers (customer-provided keys), which s3kms does not offer.
pub const CUSTOMER_KEY_PREFIX: &str = "x-amz-server-side-encryption-customer-";
/// Prefix of the copy-source SSE-C headers.
pub const COPY_SOURCE_CUSTOMER_KEY_PREFIX: &str = "x-amz-copy-source-server-side-encryption-customer-";

/// The server-side encryption algorithms s3kms offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseAlgorithm {
    /// SSE-S3 (`AES256`).
    Aes256,
    /// SSE-KMS (`aws:kms`).
    AwsKms,
}

impl SseAlgorithm {
    /// The header value AWS uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SseAlgorithm::Aes256 => "AES256",
            SseAlgorithm::AwsKms => "aws:kms",
        }
    }

    /// Parses a header value exactly (AWS is case-sensitive: `aes256` is refused).
    pub fn parse(value: &str) -> Option<SseAlgorithm> {
        match value {
            "AES256" => Some(SseAlgorithm::Aes256),
            "aws:kms" => Some(SseAlgorithm::AwsKms),
            _ => None,
        }
    }
}
