//! The one error type of the aws-chunked decoder. Each variant names the S3 error code the
//! caller should answer with; the mapping itself lives with the S3 API layer.

use crate::checksum::ChecksumAlgorithm;

/// Why a body was refused. Once an error is returned the decoder returns it forever.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk or trailer signature does not match (S3: `SignatureDoesNotMatch`, 403).
    #[error("chunk or trailer signature does not match")]
    SignatureMismatch,
    /// The trailer checksum differs from the decoded data's (S3: `BadDigest`, 400).
    #[error("{} does not match the data", .0.trailer_name())]
    ChecksumMismatch(ChecksumAlgorithm),
    /// The decoded length differs from `x-amz-decoded-content-length` (S3: `IncompleteBody`).
    #[error("decoded length does not match x-amz-decoded-content-length")]
    LengthMismatch,
    /// Input ended before the final chunk and trailers (S3: `IncompleteBody`).
    #[error("body ended before the final chunk")]
    Truncated,
    /// Bytes after the end of the body (S3: `IncompleteBody` / `InvalidRequest`).
    #[error("bytes after the end of the aws-chunked body")]
    TrailingBytes,
    /// A chunk is larger than the configured maximum (S3: `InvalidRequest`).
    #[error("chunk larger than the maximum chunk size")]
    ChunkTooLarge,
    /// The declared checksum trailer was not sent (S3: `InvalidRequest`).
    #[error("declared trailer {} is missing", .0.trailer_name())]
    MissingTrailer(ChecksumAlgorithm),
    /// Broken framing: bad size line, missing CRLF, undeclared or malformed trailer, …
    /// (S3: `InvalidRequest` or `IncompleteBody`).
    #[error("malformed aws-chunked body: {0}")]
    Malformed(&'static str),
}
