//! AWS Signature Version 4 (and the legacy Version 2) for S3: parsing, canonicalisation,
//! signing and the aws-chunked body decoder.
//!
//! Owns:
//! - parsing of every place a client puts authentication data: the `Authorization` header
//!   ([`Authorization`]), presigned query parameters ([`PresignedV4`], [`PresignedV2`]),
//!   `x-amz-date` / `Date` ([`AmzDate`]) and `x-amz-content-sha256` ([`PayloadHash`]);
//! - the canonical request exactly as S3 computes it ([`canonical_request`]);
//! - the signing maths: key derivation, string to sign, constant-time comparison
//!   ([`SigningKey`], [`Signature`], [`SecretKey`]) and an outgoing [`Signer`];
//! - SigV2 string-to-sign and HMAC-SHA1 ([`string_to_sign_v2`], [`SignatureV2`]);
//! - a sans-IO, bounded-memory decoder for `Content-Encoding: aws-chunked` bodies
//!   ([`ChunkedDecoder`]) that verifies chunk signatures, trailer signatures and checksums.
//!
//! Does not: look up credentials, read clocks, check clock skew or expiry against "now",
//! touch HTTP types or do any I/O. Callers pass borrowed strings and bytes; everything that
//! comes back is a typed value or a typed error that says what was malformed.
//!
//! Invariants: no function here panics on peer input; secrets never print (`[redacted]`)
//! and are zeroized on drop; every signature comparison is constant time.

mod amz_date;
mod authorization;
#[cfg(test)]
mod aws_examples;
mod canonical;
mod chunked;
mod encoding;
mod payload;
mod presigned;
mod signer;
mod signing;
mod sigv2;

pub use amz_date::{AmzDate, AmzDateError};
pub use authorization::{
    AuthParseError, Authorization, AuthorizationV2, AuthorizationV4, Credential, CredentialScope, SignedHeaders,
};
pub use canonical::{CanonicalError, QueryMode, RequestParts, canonical_request};
pub use chunked::{
    ChecksumAlgorithm, ChunkSigning, ChunkedDecoder, ChunkedError, ChunkedEvent, ChunkedMode, DEFAULT_MAX_CHUNK_SIZE,
    Step, Trailer,
};
pub use encoding::{decode_query, uri_encode};
pub use payload::{PayloadHash, PayloadHashError};
pub use presigned::{MAX_PRESIGNED_EXPIRES, PresignedV2, PresignedV4};
pub use signer::{OutgoingRequest, SignedOutgoing, Signer};
pub use signing::{SecretKey, Signature, SigningKey, string_to_sign};
pub use sigv2::{SignatureV2, string_to_sign_v2};
