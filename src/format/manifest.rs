//! The multipart manifest: the authenticated part table s3kms appends after the last data part.
//!
//! Layout (frozen, v1), `m = 128 + 16·N + pad` bytes:
//! ```text
//! header  48  stream header: kind 3, part number 0xFFFFFFFF, length = body length, fresh salt
//! body    B   AES-256-GCM, one message: key and nonce prefix derived as for any stream from
//!             this header; nonce = prefix ‖ 0u32 ‖ 0x01; AAD = the header
//!   preamble 32  client part count N u32 ‖ backend part count M u32 ‖ total plaintext P u64
//!                ‖ whole-object CRC64-NVME u64 ‖ reserved zero (8)
//!   entries  16·N  part number u16 ‖ plaintext length u48 ‖ CRC64-NVME u64 (all BE),
//!                  part numbers strictly increasing
//!   padding  pad   zero bytes
//! tag     16
//! footer  32  clear: magic "S3MF" ‖ version 1 ‖ reserved zero (3) ‖ body length B u32
//!             ‖ N u32 ‖ P u64 ‖ reserved zero (8)
//! ```
//! The padding makes the object's stored size depend only on `P` and the backend part count `M`
//! (`M = N` when the manifest is appended to the last data part, `M = N + 1` when it is a part of
//! its own): `Σ c(p_i) + m = 160·M + 112 + P + 16·ceil(P / 65536)`. With `K = Σ ceil(p_i / 64 Ki)`
//! that gives `pad = 16·(N − 1 − (K − ceil(P / 64 Ki)))`, plus 160 when `M = N + 1`; never
//! negative because `K − ceil(P / 64 Ki) ≤ N − 1`. The footer lets a reader find the manifest
//! with one 32-byte suffix read; it is unauthenticated, and [`Manifest::open`] checks it against
//! the authenticated body.

use super::header::{SALT_LEN, StreamKeys};
use super::{
    FormatError, HEADER_LEN, MAX_PART_NUMBER, MAX_STREAM_PLAINTEXT_LEN, SEGMENT_SIZE, StreamHeader, StreamKind,
    crc64_combine, multipart_stored_len,
};
use crate::crypto::{self, Key256, TAG_LEN};

const FOOTER_MAGIC: [u8; 4] = *b"S3MF";
const FOOTER_VERSION: u8 = 1;
const PREAMBLE_LEN: usize = 32;
const ENTRY_LEN: usize = 16;
/// Mask of the 48-bit length field of an entry.
const ENTRY_LENGTH_MASK: u64 = (1 << 48) - 1;
const SEPARATE_PART_PAD: u64 = 160;

/// One client part as the manifest records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartEntry {
    /// The client's part number (1..=10000); also the number in the part's stream header.
    pub part_number: u32,
    /// Plaintext bytes of the part.
    pub plaintext_len: u64,
    /// CRC64-NVME of the part plaintext (the part trailer's value).
    pub crc64: u64,
}

/// Where the manifest is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestPlacement {
    /// Appended to the last data part: `M = N` backend parts.
    MergedWithLastPart,
    /// A backend part of its own after the last data part: `M = N + 1`.
    SeparatePart,
}

/// A validated part table: 1..=10000 parts, increasing part numbers, `M ≤ 10000`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    parts: Vec<PartEntry>,
    placement: ManifestPlacement,
}

/// The clear 32-byte footer at the very end of a multipart object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestFooter {
    /// Length of the encrypted body (without its tag).
    pub body_len: u32,
    /// Client part count N.
    pub part_count: u32,
    /// Total plaintext P.
    pub plaintext_len: u64,
}

impl ManifestFooter {
    /// Length of the footer.
    pub const LEN: usize = 32;

    /// Parses the last 32 bytes of a multipart object (unauthenticated hints).
    pub fn parse(bytes: &[u8]) -> Result<ManifestFooter, FormatError> {
        let bytes: &[u8; ManifestFooter::LEN] = bytes
            .try_into()
            .map_err(|_| FormatError::MalformedManifest("footer length"))?;
        if bytes[0..4] != FOOTER_MAGIC || bytes[4] != FOOTER_VERSION {
            return Err(FormatError::MalformedManifest("footer magic or version"));
        }
        if bytes[5..8] != [0; 3] || bytes[24..32] != [0; 8] {
            return Err(FormatError::NonZeroReserved);
        }
        Ok(ManifestFooter {
            body_len: read_u32(&bytes[8..12]),
            part_count: read_u32(&bytes[12..16]),
            plaintext_len: read_u64(&bytes[16..24]),
        })
    }

    /// The 32 footer bytes.
    pub fn encode(&self) -> [u8; ManifestFooter::LEN] {
        let mut out = [0u8; ManifestFooter::LEN];
        out[0..4].copy_from_slice(&FOOTER_MAGIC);
        out[4] = FOOTER_VERSION;
        out[8..12].copy_from_slice(&self.body_len.to_be_bytes());
        out[12..16].copy_from_slice(&self.part_count.to_be_bytes());
        out[16..24].copy_from_slice(&self.plaintext_len.to_be_bytes());
        out
    }

    /// Stored length of the whole manifest this footer ends.
    pub fn manifest_len(&self) -> u64 {
        HEADER_LEN as u64 + u64::from(self.body_len) + TAG_LEN as u64 + ManifestFooter::LEN as u64
    }
}

impl Manifest {
    /// Validates a part table.
    pub fn new(parts: Vec<PartEntry>, placement: ManifestPlacement) -> Result<Manifest, FormatError> {
        let count = u32::try_from(parts.len()).map_err(|_| FormatError::MalformedManifest("too many parts"))?;
        let backend_parts = count + u32::from(placement == ManifestPlacement::SeparatePart);
        if count == 0 || backend_parts > MAX_PART_NUMBER {
            return Err(FormatError::MalformedManifest("part count"));
        }
        let mut previous = 0;
        for part in &parts {
            if part.part_number <= previous || part.part_number > MAX_PART_NUMBER {
                return Err(FormatError::MalformedManifest("part numbers"));
            }
            if part.plaintext_len > MAX_STREAM_PLAINTEXT_LEN {
                return Err(FormatError::LengthOutOfRange);
            }
            previous = part.part_number;
        }
        Ok(Manifest { parts, placement })
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[PartEntry] {
        &self.parts
    }

    /// Where the manifest is stored.
    pub fn placement(&self) -> ManifestPlacement {
        self.placement
    }

    /// Backend part count M (the `-M` ETag suffix).
    pub fn backend_part_count(&self) -> u32 {
        self.parts.len() as u32 + u32::from(self.placement == ManifestPlacement::SeparatePart)
    }

    /// Total plaintext P.
    pub fn plaintext_len(&self) -> u64 {
        self.parts.iter().map(|part| part.plaintext_len).sum()
    }

    /// CRC64-NVME of the whole object plaintext, combined from the parts.
    pub fn crc64(&self) -> u64 {
        let mut parts = self.parts.iter();
        let first = parts.next().map_or(0, |part| part.crc64);
        parts.fold(first, |crc, part| crc64_combine(crc, part.crc64, part.plaintext_len))
    }

    /// Stored size of the whole object, `160·M + 112 + P + 16·ceil(P / 64 Ki)`.
    pub fn object_stored_len(&self) -> u64 {
        multipart_stored_len(self.plaintext_len(), self.backend_part_count()).unwrap_or(u64::MAX)
    }

    /// Stored size of the manifest itself, `m`.
    pub fn stored_len(&self) -> u64 {
        HEADER_LEN as u64 + self.body_len() as u64 + TAG_LEN as u64 + ManifestFooter::LEN as u64
    }

    /// The sealed manifest under a fresh salt.
    pub fn seal(&self, data_key: &Key256) -> Vec<u8> {
        self.seal_with_salt(data_key, crypto::random_array())
    }

    /// Parses, authenticates and cross-checks a whole stored manifest (`m` bytes). The caller
    /// still compares [`Manifest::object_stored_len`] and [`Manifest::backend_part_count`] with
    /// the backend's object size and ETag `-M` suffix.
    pub fn open(data_key: &Key256, stored: &[u8]) -> Result<Manifest, FormatError> {
        let minimum = HEADER_LEN + PREAMBLE_LEN + TAG_LEN + ManifestFooter::LEN;
        if stored.len() < minimum {
            return Err(FormatError::Truncated);
        }
        let (header_bytes, rest) = stored.split_at(HEADER_LEN);
        let (sealed, footer) = rest.split_at(rest.len() - ManifestFooter::LEN);
        let header = StreamHeader::parse(header_bytes)?;
        if header.kind != StreamKind::Manifest {
            return Err(FormatError::UnexpectedStream {
                expected: StreamKind::Manifest,
                found: header.kind,
            });
        }
        let footer = ManifestFooter::parse(footer)?;
        if u64::from(footer.body_len) != header.plaintext_len || sealed.len() != footer.body_len as usize + TAG_LEN {
            return Err(FormatError::MalformedManifest("lengths"));
        }
        let keys = StreamKeys::derive(data_key, &header);
        let mut body = sealed.to_vec();
        let body_len = crypto::open_in_place(keys.key(), keys.nonce(0, true), header_bytes, &mut body)
            .map_err(|_| FormatError::Authentication { segment: 0 })?
            .len();
        body.truncate(body_len);
        let manifest = Manifest::parse_body(&body)?;
        if footer.part_count as usize != manifest.parts.len() || footer.plaintext_len != manifest.plaintext_len() {
            return Err(FormatError::MalformedManifest("footer disagrees with body"));
        }
        Ok(manifest)
    }

    pub(super) fn seal_with_salt(&self, data_key: &Key256, salt: [u8; SALT_LEN]) -> Vec<u8> {
        let body_len = self.body_len();
        let header = StreamHeader {
            kind: StreamKind::Manifest,
            plaintext_len: body_len as u64,
            salt,
        };
        let header_bytes = header.encode();
        let mut out = Vec::with_capacity(self.stored_len() as usize);
        out.extend_from_slice(&header_bytes);
        out.extend_from_slice(&self.encode_body());
        let keys = StreamKeys::derive(data_key, &header);
        let tag = crypto::seal_in_place(keys.key(), keys.nonce(0, true), &header_bytes, &mut out[HEADER_LEN..]);
        out.extend_from_slice(&tag);
        let footer = ManifestFooter {
            body_len: body_len as u32,
            part_count: self.parts.len() as u32,
            plaintext_len: self.plaintext_len(),
        };
        out.extend_from_slice(&footer.encode());
        out
    }

    /// Body length: preamble, entries and the padding that makes the sizes work out.
    fn body_len(&self) -> usize {
        PREAMBLE_LEN + ENTRY_LEN * self.parts.len() + self.pad() as usize
    }

    fn pad(&self) -> u64 {
        let count = self.parts.len() as u64;
        let segments_of_parts: u64 = self
            .parts
            .iter()
            .map(|part| part.plaintext_len.div_ceil(SEGMENT_SIZE))
            .sum();
        let segments_of_whole = self.plaintext_len().div_ceil(SEGMENT_SIZE);
        let extra = match self.placement {
            ManifestPlacement::MergedWithLastPart => 0,
            ManifestPlacement::SeparatePart => SEPARATE_PART_PAD,
        };
        TAG_LEN as u64 * (count - 1 - (segments_of_parts - segments_of_whole)) + extra
    }

    fn encode_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.body_len());
        body.extend_from_slice(&(self.parts.len() as u32).to_be_bytes());
        body.extend_from_slice(&self.backend_part_count().to_be_bytes());
        body.extend_from_slice(&self.plaintext_len().to_be_bytes());
        body.extend_from_slice(&self.crc64().to_be_bytes());
        body.extend_from_slice(&[0; 8]);
        for part in &self.parts {
            let packed = (u64::from(part.part_number) << 48) | part.plaintext_len;
            body.extend_from_slice(&packed.to_be_bytes());
            body.extend_from_slice(&part.crc64.to_be_bytes());
        }
        body.resize(self.body_len(), 0);
        body
    }

    fn parse_body(body: &[u8]) -> Result<Manifest, FormatError> {
        let malformed = FormatError::MalformedManifest;
        let (preamble, rest) = body.split_at_checked(PREAMBLE_LEN).ok_or(malformed("body length"))?;
        let count = read_u32(&preamble[0..4]) as usize;
        let backend_parts = read_u32(&preamble[4..8]);
        let placement = match backend_parts.checked_sub(count as u32) {
            Some(0) => ManifestPlacement::MergedWithLastPart,
            Some(1) => ManifestPlacement::SeparatePart,
            _ => return Err(malformed("backend part count")),
        };
        if preamble[24..32] != [0; 8] {
            return Err(FormatError::NonZeroReserved);
        }
        let entries_len = count.checked_mul(ENTRY_LEN).ok_or(malformed("part count"))?;
        let (entries, padding) = rest.split_at_checked(entries_len).ok_or(malformed("body length"))?;
        let parts = entries
            .chunks_exact(ENTRY_LEN)
            .map(|entry| {
                let packed = read_u64(&entry[0..8]);
                PartEntry {
                    part_number: (packed >> 48) as u32,
                    plaintext_len: packed & ENTRY_LENGTH_MASK,
                    crc64: read_u64(&entry[8..16]),
                }
            })
            .collect();
        let manifest = Manifest::new(parts, placement)?;
        if padding.iter().any(|&byte| byte != 0) {
            return Err(FormatError::NonZeroReserved);
        }
        if body.len() != manifest.body_len() {
            return Err(malformed("padding length"));
        }
        if read_u64(&preamble[8..16]) != manifest.plaintext_len() || read_u64(&preamble[16..24]) != manifest.crc64() {
            return Err(malformed("totals"));
        }
        Ok(manifest)
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(word)
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(word)
}
