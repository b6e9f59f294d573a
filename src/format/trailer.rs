//! The 64-byte trailer plaintext that closes every stream.
//!
//! Layout (frozen, v1): plaintext length u64 BE ‖ CRC64-NVME of the plaintext u64 BE ‖ client
//! checksum algorithm id u8 ‖ checksum value, zero padded to 32 bytes ‖ 15 reserved zero bytes.
//! The trailer is sealed as the final segment, so its contents are authenticated; it carries the
//! checksums that arrive only after the body (aws-chunked trailers).

use super::{FormatError, TRAILER_PLAINTEXT_LEN};

const VALUE_CAPACITY: usize = 32;
const ALGORITHM_OFFSET: usize = 16;
const VALUE_OFFSET: usize = 17;
const RESERVED_OFFSET: usize = VALUE_OFFSET + VALUE_CAPACITY;

/// The S3 checksum algorithms a trailer can record, with their frozen ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgorithm {
    /// CRC-32, id 1, 4 bytes.
    Crc32,
    /// CRC-32C, id 2, 4 bytes.
    Crc32c,
    /// CRC-64/NVME, id 3, 8 bytes.
    Crc64Nvme,
    /// SHA-1, id 4, 20 bytes.
    Sha1,
    /// SHA-256, id 5, 32 bytes.
    Sha256,
}

impl ChecksumAlgorithm {
    /// The id stored in a trailer.
    pub fn id(self) -> u8 {
        match self {
            ChecksumAlgorithm::Crc32 => 1,
            ChecksumAlgorithm::Crc32c => 2,
            ChecksumAlgorithm::Crc64Nvme => 3,
            ChecksumAlgorithm::Sha1 => 4,
            ChecksumAlgorithm::Sha256 => 5,
        }
    }

    /// The algorithm with trailer id `id` (0, "none", is not an algorithm).
    pub fn from_id(id: u8) -> Option<ChecksumAlgorithm> {
        match id {
            1 => Some(ChecksumAlgorithm::Crc32),
            2 => Some(ChecksumAlgorithm::Crc32c),
            3 => Some(ChecksumAlgorithm::Crc64Nvme),
            4 => Some(ChecksumAlgorithm::Sha1),
            5 => Some(ChecksumAlgorithm::Sha256),
            _ => None,
        }
    }

    /// Length of a digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }
}

/// A client-supplied checksum of the plaintext: an algorithm and a digest of its exact length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientChecksum {
    algorithm: ChecksumAlgorithm,
    value: [u8; VALUE_CAPACITY],
}

impl ClientChecksum {
    /// Refuses a digest whose length is not the algorithm's.
    pub fn new(algorithm: ChecksumAlgorithm, digest: &[u8]) -> Result<ClientChecksum, FormatError> {
        if digest.len() != algorithm.digest_len() {
            return Err(FormatError::InvalidChecksum);
        }
        let mut value = [0u8; VALUE_CAPACITY];
        value[..digest.len()].copy_from_slice(digest);
        Ok(ClientChecksum { algorithm, value })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        self.algorithm
    }

    /// The digest bytes (big-endian for CRCs, as S3 encodes them).
    pub fn digest(&self) -> &[u8] {
        &self.value[..self.algorithm.digest_len()]
    }
}

/// The authenticated contents of a stream's trailer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    /// Plaintext length (always equal to the header's in an accepted stream).
    pub plaintext_len: u64,
    /// CRC64-NVME of the whole stream plaintext.
    pub crc64: u64,
    /// The client's checksum, if it sent one.
    pub client_checksum: Option<ClientChecksum>,
}

impl Trailer {
    /// The 64 trailer plaintext bytes.
    pub fn encode(&self) -> [u8; TRAILER_PLAINTEXT_LEN] {
        let mut out = [0u8; TRAILER_PLAINTEXT_LEN];
        out[0..8].copy_from_slice(&self.plaintext_len.to_be_bytes());
        out[8..16].copy_from_slice(&self.crc64.to_be_bytes());
        if let Some(checksum) = &self.client_checksum {
            out[ALGORITHM_OFFSET] = checksum.algorithm.id();
            out[VALUE_OFFSET..RESERVED_OFFSET].copy_from_slice(&checksum.value);
        }
        out
    }

    /// Parses 64 trailer plaintext bytes; padding and reserved bytes must be zero.
    pub fn parse(bytes: &[u8]) -> Result<Trailer, FormatError> {
        let bytes: &[u8; TRAILER_PLAINTEXT_LEN] = bytes.try_into().map_err(|_| FormatError::MalformedTrailer)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[0..8]);
        let plaintext_len = u64::from_be_bytes(word);
        word.copy_from_slice(&bytes[8..16]);
        let crc64 = u64::from_be_bytes(word);
        let value = &bytes[VALUE_OFFSET..RESERVED_OFFSET];
        let client_checksum = match bytes[ALGORITHM_OFFSET] {
            0 => None,
            id => {
                let algorithm = ChecksumAlgorithm::from_id(id).ok_or(FormatError::MalformedTrailer)?;
                Some(ClientChecksum::new(algorithm, &value[..algorithm.digest_len()])?)
            }
        };
        let used = client_checksum.map_or(0, |checksum| checksum.algorithm.digest_len());
        if value[used..]
            .iter()
            .chain(&bytes[RESERVED_OFFSET..])
            .any(|&byte| byte != 0)
        {
            return Err(FormatError::MalformedTrailer);
        }
        Ok(Trailer {
            plaintext_len,
            crc64,
            client_checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_algorithm() {
        let algorithms = [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
            ChecksumAlgorithm::Sha1,
            ChecksumAlgorithm::Sha256,
        ];
        for algorithm in algorithms {
            assert_eq!(ChecksumAlgorithm::from_id(algorithm.id()), Some(algorithm));
            let digest: Vec<u8> = (1..=algorithm.digest_len() as u8).collect();
            let checksum = ClientChecksum::new(algorithm, &digest).unwrap();
            assert_eq!(checksum.digest(), digest);
            let trailer = Trailer {
                plaintext_len: 5,
                crc64: 6,
                client_checksum: Some(checksum),
            };
            assert_eq!(Trailer::parse(&trailer.encode()), Ok(trailer));
            assert!(ClientChecksum::new(algorithm, &digest[1..]).is_err());
        }
        let plain = Trailer {
            plaintext_len: 0,
            crc64: 0,
            client_checksum: None,
        };
        assert_eq!(Trailer::parse(&plain.encode()), Ok(plain));
    }

    #[test]
    fn refuses_padding_reserved_and_unknown_ids() {
        let checksum = ClientChecksum::new(ChecksumAlgorithm::Crc32, &[1, 2, 3, 4]).unwrap();
        let bytes = Trailer {
            plaintext_len: 1,
            crc64: 2,
            client_checksum: Some(checksum),
        }
        .encode();
        for offset in [16, VALUE_OFFSET + 4, RESERVED_OFFSET, 63] {
            let mut tampered = bytes;
            tampered[offset] = 9;
            assert_eq!(
                Trailer::parse(&tampered),
                Err(FormatError::MalformedTrailer),
                "offset {offset}"
            );
        }
        let mut none_with_value = [0u8; TRAILER_PLAINTEXT_LEN];
        none_with_value[VALUE_OFFSET] = 1;
        assert_eq!(Trailer::parse(&none_with_value), Err(FormatError::MalformedTrailer));
        assert_eq!(Trailer::parse(&bytes[..63]), Err(FormatError::MalformedTrailer));
    }
}
