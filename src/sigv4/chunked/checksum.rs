//! Trailer checksums (`x-amz-checksum-*`) computed over the decoded body.
//!
//! Owns the mapping from trailer names to algorithms and the byte layout S3 uses: the
//! checksum's big-endian bytes (CRCs) or the digest (SHA), base64-encoded in the trailer.

use sha2::Digest;

/// A checksum algorithm a client may declare in `x-amz-trailer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// `x-amz-checksum-crc32` (IEEE).
    Crc32,
    /// `x-amz-checksum-crc32c` (Castagnoli).
    Crc32c,
    /// `x-amz-checksum-crc64nvme`.
    Crc64Nvme,
    /// `x-amz-checksum-sha1`.
    Sha1,
    /// `x-amz-checksum-sha256`.
    Sha256,
}

impl ChecksumAlgorithm {
    /// Parses the `x-amz-trailer` header value (one trailer name, any case, trimmed).
    pub fn from_trailer_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "x-amz-checksum-crc32" => Some(Self::Crc32),
            "x-amz-checksum-crc32c" => Some(Self::Crc32c),
            "x-amz-checksum-crc64nvme" => Some(Self::Crc64Nvme),
            "x-amz-checksum-sha1" => Some(Self::Sha1),
            "x-amz-checksum-sha256" => Some(Self::Sha256),
            _ => None,
        }
    }

    /// The trailer (and header) name, lower-case.
    pub fn trailer_name(self) -> &'static str {
        match self {
            Self::Crc32 => "x-amz-checksum-crc32",
            Self::Crc32c => "x-amz-checksum-crc32c",
            Self::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Self::Sha1 => "x-amz-checksum-sha1",
            Self::Sha256 => "x-amz-checksum-sha256",
        }
    }
}

/// A checksum being computed incrementally.
pub(super) enum RunningChecksum {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl RunningChecksum {
    pub(super) fn new(algorithm: ChecksumAlgorithm) -> Self {
        match algorithm {
            ChecksumAlgorithm::Crc32 => Self::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => Self::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => Self::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
        }
    }

    pub(super) fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc32(hasher) => hasher.update(data),
            Self::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            Self::Crc64Nvme(digest) => digest.write(data),
            Self::Sha1(hasher) => hasher.update(data),
            Self::Sha256(hasher) => hasher.update(data),
        }
    }

    /// The checksum bytes as they appear (base64-decoded) in the trailer.
    pub(super) fn finish(self) -> Vec<u8> {
        match self {
            Self::Crc32(hasher) => hasher.finalize().to_be_bytes().to_vec(),
            Self::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            Self::Crc64Nvme(digest) => digest.sum64().to_be_bytes().to_vec(),
            Self::Sha1(hasher) => hasher.finalize().to_vec(),
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    fn checksum(algorithm: ChecksumAlgorithm, data: &[u8]) -> String {
        let mut running = RunningChecksum::new(algorithm);
        let (head, tail) = data.split_at(data.len() / 2);
        running.update(head);
        running.update(tail);
        STANDARD.encode(running.finish())
    }

    #[test]
    fn aws_trailer_example_crc32c() {
        // The sigv4-streaming-trailers example: 66560 bytes of 'a' → sOO8/Q==.
        assert_eq!(checksum(ChecksumAlgorithm::Crc32c, &[b'a'; 66_560]), "sOO8/Q==");
    }

    #[test]
    fn known_answers_for_123456789() {
        let data = b"123456789";
        let crc32 = STANDARD.encode(0xCBF4_3926u32.to_be_bytes());
        let crc32c = STANDARD.encode(0xE306_9283u32.to_be_bytes());
        let crc64 = STANDARD.encode(0xAE8B_1486_0A79_9888u64.to_be_bytes());
        assert_eq!(checksum(ChecksumAlgorithm::Crc32, data), crc32);
        assert_eq!(checksum(ChecksumAlgorithm::Crc32c, data), crc32c);
        assert_eq!(checksum(ChecksumAlgorithm::Crc64Nvme, data), crc64);
        assert_eq!(
            checksum(ChecksumAlgorithm::Sha1, b"abc"),
            "qZk+NkcGgWq6PiVxeFDCbJzQ2J0="
        );
        assert_eq!(
            checksum(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn trailer_names_round_trip() {
        use ChecksumAlgorithm::*;
        for algorithm in [Crc32, Crc32c, Crc64Nvme, Sha1, Sha256] {
            assert_eq!(
                ChecksumAlgorithm::from_trailer_name(algorithm.trailer_name()),
                Some(algorithm)
            );
        }
        assert_eq!(
            ChecksumAlgorithm::from_trailer_name(" X-Amz-Checksum-CRC32 "),
            Some(Crc32)
        );
        assert_eq!(ChecksumAlgorithm::from_trailer_name("x-amz-checksum-md5"), None);
    }
}
