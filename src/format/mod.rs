//! The object format at rest, version 1 (L0, pure): how plaintext becomes the bytes s3kms
//! stores upstream, and the size and range arithmetic that goes with it.
//!
//! Owns: the encrypted **stream** (one single-part object, or one multipart part), its header,
//! key and nonce derivation, segments and trailer; the multipart **manifest** appended after
//! the last part; the size functions that LIST and HEAD invert; the mapping of plaintext
//! ranges to stored byte ranges. Does not: talk to the network or disk, wrap data keys (the
//! KMS does), parse S3 headers other than the `Range` value, or decide where parts are staged.
//!
//! Frozen: every byte layout below is version 1. A change is a new version (new version byte,
//! new golden vectors in `tests/data/format/`), never an edit.
//!
//! ## Stream layout (`stored_len(p) = 128 + p + 16·ceil(p / 65536)`)
//! ```text
//! offset size field
//! 0      4    magic "S3KM"
//! 4      1    format version = 1
//! 5      1    algorithm = 1 (AES-256-GCM)
//! 6      1    log2(segment size) = 16
//! 7      1    kind: 1 single object, 2 multipart data part, 3 manifest
//! 8      4    part number u32 BE (0 single, 1..=10000 part, 0xFFFFFFFF manifest)
//! 12     8    plaintext length u64 BE
//! 20     24   random salt (fresh per stream)
//! 44     4    reserved, zero
//! 48     ...  ceil(p / 65536) data segments: AES-256-GCM(≤ 65536 bytes) ‖ tag(16);
//!             every segment is full except the last
//! ...    80   trailer segment: AES-256-GCM(64-byte trailer plaintext) ‖ tag(16)
//! ```
//! Trailer plaintext: length u64 BE ‖ CRC64-NVME of the plaintext u64 BE ‖ client checksum
//! algorithm id u8 (0 none, 1 CRC32, 2 CRC32C, 3 CRC64NVME, 4 SHA1, 5 SHA256) ‖ checksum value
//! (32 bytes, zero padded) ‖ 15 reserved zero bytes.
//!
//! Keys: `HKDF-SHA256(ikm = data key, salt = header salt, info = "s3kms stream v1" ‖ kind ‖
//! part number BE)` → 39 bytes = segment key (32) ‖ nonce prefix (7). Data segment `i` uses nonce
//! `prefix ‖ i (u32 BE) ‖ 0x00`; the trailer uses `prefix ‖ n ‖ 0x01` where `n` is the number of
//! data segments. The AAD of every segment is the 48-byte header.
//!
//! Invariants: no plaintext byte of a segment is released before its tag verifies; a stream is
//! complete only after its trailer verifies and states the header's length; truncation,
//! reordering, trailing bytes, and segments moved between streams or parts fail with a
//! [`FormatError`]. Nothing here panics on input bytes.
//!
//! The manifest layout is described in [`manifest`]; range mapping in [`range`] and
//! [`multipart`].

mod crc64;
mod decrypt;
mod encrypt;
mod header;
pub mod manifest;
pub mod multipart;
pub mod range;
mod size;
mod trailer;

#[cfg(test)]
mod tests;

pub use crc64::{Crc64, crc64_combine};
pub use decrypt::StreamDecryptor;
pub use encrypt::StreamEncryptor;
pub use header::{SALT_LEN, StreamHeader, StreamKind};
pub use manifest::{Manifest, ManifestFooter, ManifestPlacement, PartEntry};
pub use multipart::{MultipartLayout, MultipartPlan, PartSlice};
pub use range::{ByteRangeSpec, PlaintextRange, RangePlan, UnsatisfiableRange};
pub use size::{
    MAX_STREAM_PLAINTEXT_LEN, data_segment_count, multipart_plaintext_len, multipart_stored_len, plaintext_len,
    stored_len,
};
pub use trailer::{ChecksumAlgorithm, ClientChecksum, Trailer};

/// The first four bytes of every stream.
pub const MAGIC: [u8; 4] = *b"S3KM";
/// The format version this module writes and reads.
pub const VERSION: u8 = 1;
/// Algorithm id of AES-256-GCM.
pub const ALGORITHM_AES_256_GCM: u8 = 1;
/// log2 of the plaintext segment size.
pub const SEGMENT_SIZE_LOG2: u8 = 16;
/// Plaintext bytes in every data segment but the last.
pub const SEGMENT_SIZE: u64 = 1 << SEGMENT_SIZE_LOG2;
/// Length of an AES-GCM tag.
pub const TAG_LEN: u64 = crate::crypto::TAG_LEN as u64;
/// Stored bytes of a full data segment.
pub const SEALED_SEGMENT_LEN: u64 = SEGMENT_SIZE + TAG_LEN;
/// Length of the stream header.
pub const HEADER_LEN: usize = 48;
/// Length of the trailer plaintext.
pub const TRAILER_PLAINTEXT_LEN: usize = 64;
/// Stored length of the trailer segment.
pub const TRAILER_LEN: usize = TRAILER_PLAINTEXT_LEN + crate::crypto::TAG_LEN;
/// Highest multipart part number S3 allows.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// Why bytes could not be produced or accepted as format v1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The bytes do not start with the magic of this format.
    #[error("not an s3kms stream (bad magic)")]
    BadMagic,
    /// A version this build does not read.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// An algorithm id other than AES-256-GCM.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(u8),
    /// A segment size other than 64 KiB.
    #[error("unsupported segment size 2^{0}")]
    UnsupportedSegmentSize(u8),
    /// A kind byte and part number that do not name a stream kind.
    #[error("invalid stream kind {kind} with part number {part_number}")]
    InvalidKind {
        /// The kind byte.
        kind: u8,
        /// The part number field.
        part_number: u32,
    },
    /// A reserved field is not zero.
    #[error("reserved bytes are not zero")]
    NonZeroReserved,
    /// A plaintext length above [`MAX_STREAM_PLAINTEXT_LEN`], or one the layout cannot hold.
    #[error("plaintext length out of range")]
    LengthOutOfRange,
    /// The stream is a valid stream, but not the one the caller expected (a swapped part).
    #[error("unexpected stream: expected {expected:?}, found {found:?}")]
    UnexpectedStream {
        /// What the caller asked for.
        expected: StreamKind,
        /// What the header says.
        found: StreamKind,
    },
    /// A segment's tag did not verify (tampering, reordering, wrong key or wrong stream).
    #[error("authentication failed at segment {segment}")]
    Authentication {
        /// Index of the failing segment (the trailer's index is the data segment count).
        segment: u64,
    },
    /// The input ended before the stream (or planned window) did.
    #[error("stream truncated")]
    Truncated,
    /// Bytes follow the end of the stream (or planned window).
    #[error("unexpected bytes after the end of the stream")]
    TrailingData,
    /// The authenticated trailer is malformed or states another length than the header.
    #[error("malformed trailer")]
    MalformedTrailer,
    /// The decrypted plaintext does not match the authenticated CRC64-NVME.
    #[error("plaintext CRC64-NVME mismatch")]
    Crc64Mismatch,
    /// More or fewer plaintext bytes were pushed than declared.
    #[error("plaintext length mismatch: declared {declared}, got {actual}")]
    LengthMismatch {
        /// The declared length.
        declared: u64,
        /// Bytes pushed so far (or at least this many).
        actual: u64,
    },
    /// A checksum value whose length does not match its algorithm, an unknown algorithm, or two
    /// different client checksums for one stream.
    #[error("invalid client checksum")]
    InvalidChecksum,
    /// A range plan that does not belong to the stream being read.
    #[error("range plan does not match the stream header")]
    PlanMismatch,
    /// A manifest that is malformed or inconsistent (with itself, its footer or its sizes).
    #[error("malformed manifest: {0}")]
    MalformedManifest(&'static str),
    /// The decryptor already failed; it releases nothing more.
    #[error("decryptor used after an error")]
    Poisoned,
}
