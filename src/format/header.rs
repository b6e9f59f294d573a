//! The 48-byte stream header and the per-stream keys derived from it.
//!
//! Layout (frozen, v1): magic "S3KM" ‖ version 1 ‖ algorithm 1 ‖ log2 segment 16 ‖ kind ‖ part
//! number u32 BE ‖ plaintext length u64 BE ‖ salt(24) ‖ reserved zero(4). The header travels in
//! clear and is the AAD of every segment, so any change to it fails the first tag checked.

use aws_lc_rs::hkdf;
use zeroize::Zeroize;

use super::{
    ALGORITHM_AES_256_GCM, FormatError, HEADER_LEN, MAGIC, MAX_PART_NUMBER, MAX_STREAM_PLAINTEXT_LEN,
    SEGMENT_SIZE_LOG2, VERSION, data_segment_count,
};
use crate::crypto::{Key256, NONCE_LEN};

/// Length of the random salt in a header.
pub const SALT_LEN: usize = 24;
const NONCE_PREFIX_LEN: usize = 7;
const KDF_INFO: &[u8] = b"s3kms stream v1";
const MANIFEST_PART_NUMBER: u32 = u32::MAX;

/// What a stream holds; the part number is part of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// A whole object written by one PUT (part number 0 on disk).
    SingleObject,
    /// One multipart part, numbered 1..=10000.
    MultipartPart(u32),
    /// The multipart manifest (part number 0xFFFFFFFF on disk).
    Manifest,
}

impl StreamKind {
    /// The kind byte and part number written in the header.
    pub fn to_wire(self) -> (u8, u32) {
        match self {
            StreamKind::SingleObject => (1, 0),
            StreamKind::MultipartPart(number) => (2, number),
            StreamKind::Manifest => (3, MANIFEST_PART_NUMBER),
        }
    }

    /// Parses a kind byte and part number; refuses combinations that name no stream.
    pub fn from_wire(kind: u8, part_number: u32) -> Result<StreamKind, FormatError> {
        match (kind, part_number) {
            (1, 0) => Ok(StreamKind::SingleObject),
            (2, 1..=MAX_PART_NUMBER) => Ok(StreamKind::MultipartPart(part_number)),
            (3, MANIFEST_PART_NUMBER) => Ok(StreamKind::Manifest),
            _ => Err(FormatError::InvalidKind { kind, part_number }),
        }
    }

    /// Checks the part number of a constructed value (the variant is public).
    pub(super) fn validated(self) -> Result<StreamKind, FormatError> {
        let (kind, part_number) = self.to_wire();
        StreamKind::from_wire(kind, part_number)
    }
}

/// A parsed stream header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHeader {
    /// Kind and part number.
    pub kind: StreamKind,
    /// Plaintext bytes in the stream.
    pub plaintext_len: u64,
    /// The random per-stream salt.
    pub salt: [u8; SALT_LEN],
}

impl StreamHeader {
    /// The 48 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let (kind, part_number) = self.kind.to_wire();
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = ALGORITHM_AES_256_GCM;
        out[6] = SEGMENT_SIZE_LOG2;
        out[7] = kind;
        out[8..12].copy_from_slice(&part_number.to_be_bytes());
        out[12..20].copy_from_slice(&self.plaintext_len.to_be_bytes());
        out[20..44].copy_from_slice(&self.salt);
        out
    }

    /// Parses exactly 48 header bytes.
    pub fn parse(bytes: &[u8]) -> Result<StreamHeader, FormatError> {
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().map_err(|_| FormatError::Truncated)?;
        if bytes[0..4] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        if bytes[4] != VERSION {
            return Err(FormatError::UnsupportedVersion(bytes[4]));
        }
        if bytes[5] != ALGORITHM_AES_256_GCM {
            return Err(FormatError::UnsupportedAlgorithm(bytes[5]));
        }
        if bytes[6] != SEGMENT_SIZE_LOG2 {
            return Err(FormatError::UnsupportedSegmentSize(bytes[6]));
        }
        let kind = StreamKind::from_wire(bytes[7], u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]))?;
        let mut length = [0u8; 8];
        length.copy_from_slice(&bytes[12..20]);
        let plaintext_len = u64::from_be_bytes(length);
        if plaintext_len > MAX_STREAM_PLAINTEXT_LEN {
            return Err(FormatError::LengthOutOfRange);
        }
        if bytes[44..48] != [0; 4] {
            return Err(FormatError::NonZeroReserved);
        }
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[20..44]);
        Ok(StreamHeader {
            kind,
            plaintext_len,
            salt,
        })
    }

    /// Number of data segments (the trailer's segment index).
    pub fn data_segment_count(&self) -> u32 {
        data_segment_count(self.plaintext_len).unwrap_or(u32::MAX)
    }
}

/// The segment key and nonce prefix of one stream.
pub(super) struct StreamKeys {
    key: Key256,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl StreamKeys {
    /// HKDF-SHA256(ikm = data key, salt = header salt, info = label ‖ kind ‖ part number).
    pub(super) fn derive(data_key: &Key256, header: &StreamHeader) -> StreamKeys {
        struct Length;
        impl hkdf::KeyType for Length {
            fn len(&self) -> usize {
                32 + NONCE_PREFIX_LEN
            }
        }
        let (kind, part_number) = header.kind.to_wire();
        let part_number = part_number.to_be_bytes();
        let info: [&[u8]; 3] = [KDF_INFO, &[kind], &part_number];
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &header.salt).extract(data_key.expose());
        let mut okm = [0u8; 32 + NONCE_PREFIX_LEN];
        prk.expand(&info, Length)
            .and_then(|okm_source| okm_source.fill(&mut okm))
            .expect("HKDF-SHA256 can always expand to 39 bytes");
        let mut key = [0u8; 32];
        key.copy_from_slice(&okm[..32]);
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&okm[32..]);
        okm.zeroize();
        let keys = StreamKeys {
            key: Key256::from_bytes(key),
            nonce_prefix,
        };
        key.zeroize();
        keys
    }

    /// The segment key.
    pub(super) fn key(&self) -> &Key256 {
        &self.key
    }

    /// Nonce of segment `index`: prefix ‖ index BE ‖ final flag.
    pub(super) fn nonce(&self, index: u32, is_final: bool) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        nonce[NONCE_PREFIX_LEN..NONCE_LEN - 1].copy_from_slice(&index.to_be_bytes());
        nonce[NONCE_LEN - 1] = u8::from(is_final);
        nonce
    }
}

impl Drop for StreamKeys {
    fn drop(&mut self) {
        self.nonce_prefix.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_refuse_nonsense() {
        for kind in [
            StreamKind::SingleObject,
            StreamKind::MultipartPart(1),
            StreamKind::MultipartPart(10_000),
        ] {
            let (byte, number) = kind.to_wire();
            assert_eq!(StreamKind::from_wire(byte, number), Ok(kind));
        }
        assert_eq!(StreamKind::from_wire(3, u32::MAX), Ok(StreamKind::Manifest));
        for (byte, number) in [(0, 0), (1, 1), (2, 0), (2, 10_001), (3, 0), (4, 0)] {
            assert!(StreamKind::from_wire(byte, number).is_err());
        }
    }

    #[test]
    fn header_round_trips_and_rejects_each_field() {
        let header = StreamHeader {
            kind: StreamKind::MultipartPart(7),
            plaintext_len: 123_456,
            salt: [9; SALT_LEN],
        };
        let bytes = header.encode();
        assert_eq!(StreamHeader::parse(&bytes), Ok(header));
        let cases: [(usize, FormatError); 6] = [
            (0, FormatError::BadMagic),
            (4, FormatError::UnsupportedVersion(2)),
            (5, FormatError::UnsupportedAlgorithm(2)),
            (6, FormatError::UnsupportedSegmentSize(17)),
            (
                7,
                FormatError::InvalidKind {
                    kind: 3,
                    part_number: 7,
                },
            ),
            (47, FormatError::NonZeroReserved),
        ];
        for (offset, expected) in cases {
            let mut tampered = bytes;
            tampered[offset] = tampered[offset].wrapping_add(1);
            assert_eq!(StreamHeader::parse(&tampered), Err(expected));
        }
        let mut huge = bytes;
        huge[12] = 0xff;
        assert_eq!(StreamHeader::parse(&huge), Err(FormatError::LengthOutOfRange));
        assert_eq!(StreamHeader::parse(&bytes[..47]), Err(FormatError::Truncated));
    }

    #[test]
    fn nonces_separate_index_and_final_flag() {
        let header = StreamHeader {
            kind: StreamKind::SingleObject,
            plaintext_len: 0,
            salt: [1; SALT_LEN],
        };
        let keys = StreamKeys::derive(&Key256::from_bytes([2; 32]), &header);
        assert_ne!(keys.nonce(0, false), keys.nonce(0, true));
        assert_ne!(keys.nonce(0, false), keys.nonce(1, false));
        assert_eq!(keys.nonce(0x0102_0304, true)[7..], [1, 2, 3, 4, 1]);
    }
}
