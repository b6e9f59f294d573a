//! S3's additional checksums and Content-MD5, computed incrementally (L0, pure).
//!
//! Owns: the algorithm names S3 uses (`x-amz-checksum-<name>`), incremental hashers for each,
//! and the wire form of a digest (base64 of the big-endian value). Does not: decide which
//! checksum a request carries (the S3 layer parses headers) or store checksums.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::Digest as _;

/// An S3 checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// CRC-32 (ISO-HDLC), 4 bytes.
    Crc32,
    /// CRC-32C (Castagnoli), 4 bytes.
    Crc32c,
    /// CRC-64/NVME, 8 bytes.
    Crc64Nvme,
    /// SHA-1, 20 bytes.
    Sha1,
    /// SHA-256, 32 bytes.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The header that carries this checksum, e.g. `x-amz-checksum-crc32`.
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The algorithm whose header is `name` (lowercase), if any.
    pub fn from_header_name(name: &str) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::ALL.into_iter().find(|a| a.header_name() == name)
    }

    /// The algorithm an `x-amz-trailer` header value names (any case, trimmed).
    pub fn from_trailer_name(name: &str) -> Option<ChecksumAlgorithm> {
        ChecksumAlgorithm::from_header_name(&name.trim().to_ascii_lowercase())
    }

    /// The trailer name, which is the header name.
    pub fn trailer_name(self) -> &'static str {
        self.header_name()
    }

    /// The name S3 uses in `x-amz-sdk-checksum-algorithm` and error texts (`CRC32`, …).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// Length of the raw digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// A fresh incremental hasher.
    pub fn hasher(self) -> Checksummer {
        let state = match self {
            ChecksumAlgorithm::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => State::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => State::Crc64(crate::format::Crc64::new()),
            ChecksumAlgorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
        };
        Checksummer { state }
    }

    /// Decodes a base64 wire value, checking its length for this algorithm.
    pub fn decode(self, value: &str) -> Option<Vec<u8>> {
        let raw = BASE64.decode(value.trim()).ok()?;
        (raw.len() == self.digest_len()).then_some(raw)
    }
}

/// An incremental checksum over a byte stream.
pub struct Checksummer {
    state: State,
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crate::format::Crc64),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Checksummer {
    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Crc32(h) => h.update(data),
            State::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            State::Crc64(h) => h.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
        }
    }

    /// The raw digest (big-endian for CRCs, as S3 encodes them).
    pub fn finish(self) -> Vec<u8> {
        match self.state {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            State::Crc64(h) => h.sum().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// The base64 wire form of a digest.
pub fn encode(digest: &[u8]) -> String {
    BASE64.encode(digest)
}

/// Decodes a `Content-MD5` header value (base64 of 16 bytes).
pub fn decode_content_md5(value: &str) -> Option<[u8; 16]> {
    BASE64.decode(value.trim()).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut h = algorithm.hasher();
        let (a, b) = data.split_at(data.len() / 2);
        h.update(a);
        h.update(b);
        encode(&h.finish())
    }

    /// Values as S3 (and boto3) compute them for the body `Hello, World!`.
    #[test]
    fn known_answers() {
        let data = b"Hello, World!";
        assert_eq!(wire(ChecksumAlgorithm::Crc32, data), "7ErD0A==");
        assert_eq!(wire(ChecksumAlgorithm::Crc32c, data), "TVUQaA==");
        assert_eq!(wire(ChecksumAlgorithm::Sha1, data), "CgqfKmdylCVXq1NV12r0Qvj2XgE=");
        assert_eq!(
            wire(ChecksumAlgorithm::Sha256, data),
            "3/1gIbsr1bCvZ2KQgJ7DpTGR3YHH9wpLKGiKNiGCmG8="
        );
        assert_eq!(wire(ChecksumAlgorithm::Crc64Nvme, data), "1Km+Qyat0k0=");
    }

    #[test]
    fn names_round_trip() {
        for algorithm in ChecksumAlgorithm::ALL {
            assert_eq!(
                ChecksumAlgorithm::from_header_name(algorithm.header_name()),
                Some(algorithm)
            );
        }
        assert_eq!(ChecksumAlgorithm::Crc32.decode("AAAA"), None);
    }
}
