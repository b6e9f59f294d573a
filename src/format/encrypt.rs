//! Sans-IO streaming encryption of one stream: header, then sealed segments as plaintext
//! arrives, then the trailer.
//!
//! Memory is one segment buffer (64 KiB + tag) whatever the stream length. A segment is sealed
//! the moment it fills, and the last data segment the moment the declared length is reached, so
//! [`StreamEncryptor::finish`] only seals the 64-byte trailer.

use bytes::Bytes;

use super::header::{SALT_LEN, StreamKeys};
use super::{
    ClientChecksum, FormatError, HEADER_LEN, SEGMENT_SIZE, StreamHeader, StreamKind, TRAILER_LEN,
    TRAILER_PLAINTEXT_LEN, Trailer, data_segment_count, stored_len,
};
use crate::crypto::{self, Key256, TAG_LEN};

const SEGMENT_CAPACITY: usize = SEGMENT_SIZE as usize + TAG_LEN;

/// Encrypts one stream of a declared plaintext length.
pub struct StreamEncryptor {
    header: StreamHeader,
    header_bytes: [u8; HEADER_LEN],
    keys: StreamKeys,
    segment: Vec<u8>,
    next_index: u32,
    pushed: u64,
    crc: super::Crc64,
    client_checksum: Option<ClientChecksum>,
}

impl StreamEncryptor {
    /// A stream of exactly `plaintext_len` bytes under a fresh random salt. `client_checksum`
    /// is the client's checksum when it is known up front (otherwise pass it to `finish`).
    pub fn new(
        data_key: &Key256,
        kind: StreamKind,
        plaintext_len: u64,
        client_checksum: Option<ClientChecksum>,
    ) -> Result<StreamEncryptor, FormatError> {
        StreamEncryptor::with_salt(data_key, kind, plaintext_len, client_checksum, crypto::random_array())
    }

    /// As [`StreamEncryptor::new`] with a chosen salt. Private: a salt must never repeat under
    /// one data key; only `new` and the golden-vector tests call it.
    pub(super) fn with_salt(
        data_key: &Key256,
        kind: StreamKind,
        plaintext_len: u64,
        client_checksum: Option<ClientChecksum>,
        salt: [u8; SALT_LEN],
    ) -> Result<StreamEncryptor, FormatError> {
        let kind = kind.validated()?;
        data_segment_count(plaintext_len).ok_or(FormatError::LengthOutOfRange)?;
        let header = StreamHeader {
            kind,
            plaintext_len,
            salt,
        };
        let header_bytes = header.encode();
        let keys = StreamKeys::derive(data_key, &header);
        let capacity = usize::try_from(plaintext_len.min(SEGMENT_SIZE)).unwrap_or(SEGMENT_CAPACITY) + TAG_LEN;
        Ok(StreamEncryptor {
            header,
            header_bytes,
            keys,
            segment: Vec::with_capacity(capacity),
            next_index: 0,
            pushed: 0,
            crc: super::Crc64::new(),
            client_checksum,
        })
    }

    /// The 48 header bytes; send them first.
    pub fn header(&self) -> [u8; HEADER_LEN] {
        self.header_bytes
    }

    /// The parsed header.
    pub fn stream_header(&self) -> &StreamHeader {
        &self.header
    }

    /// Total stored bytes of this stream (header, segments, trailer).
    pub fn stored_len(&self) -> u64 {
        stored_len(self.header.plaintext_len).unwrap_or(u64::MAX)
    }

    /// CRC64-NVME of the plaintext pushed so far (the trailer's value once all is pushed).
    pub fn plaintext_crc64(&self) -> u64 {
        self.crc.sum()
    }

    /// Takes more plaintext and returns every segment it completed, sealed, in order.
    /// Refuses (and seals nothing of) input that would exceed the declared length.
    pub fn push(&mut self, mut input: &[u8]) -> Result<Vec<Bytes>, FormatError> {
        let declared = self.header.plaintext_len;
        let actual = self.pushed.saturating_add(input.len() as u64);
        if actual > declared {
            return Err(FormatError::LengthMismatch { declared, actual });
        }
        self.crc.update(input);
        self.pushed = actual;
        let mut sealed = Vec::new();
        while !input.is_empty() {
            let room = self.segment_target() - self.segment.len();
            let (now, later) = input.split_at(room.min(input.len()));
            self.segment.extend_from_slice(now);
            input = later;
            if self.segment.len() == self.segment_target() {
                sealed.push(self.seal_segment());
            }
        }
        Ok(sealed)
    }

    /// Seals the trailer. `client_checksum` is the checksum that arrived after the body, if any;
    /// it must agree with one given to `new`. Fails if fewer bytes were pushed than declared.
    pub fn finish(self, client_checksum: Option<ClientChecksum>) -> Result<Bytes, FormatError> {
        let declared = self.header.plaintext_len;
        if self.pushed != declared {
            return Err(FormatError::LengthMismatch {
                declared,
                actual: self.pushed,
            });
        }
        let client_checksum = match (self.client_checksum, client_checksum) {
            (Some(early), Some(late)) if early != late => return Err(FormatError::InvalidChecksum),
            (early, late) => late.or(early),
        };
        let trailer = Trailer {
            plaintext_len: declared,
            crc64: self.crc.sum(),
            client_checksum,
        };
        let mut out = Vec::with_capacity(TRAILER_LEN);
        out.extend_from_slice(&trailer.encode());
        let nonce = self.keys.nonce(self.next_index, true);
        let tag = crypto::seal_in_place(
            self.keys.key(),
            nonce,
            &self.header_bytes,
            &mut out[..TRAILER_PLAINTEXT_LEN],
        );
        out.extend_from_slice(&tag);
        Ok(Bytes::from(out))
    }

    /// Plaintext length of the segment being filled: full, or what remains of the stream.
    fn segment_target(&self) -> usize {
        let start = u64::from(self.next_index) * SEGMENT_SIZE;
        let remaining = self.header.plaintext_len.saturating_sub(start).min(SEGMENT_SIZE);
        usize::try_from(remaining).unwrap_or(SEGMENT_SIZE as usize)
    }

    fn seal_segment(&mut self) -> Bytes {
        let next_capacity = self.segment_target_after_this().min(SEGMENT_SIZE as usize) + TAG_LEN;
        let mut segment = std::mem::replace(&mut self.segment, Vec::with_capacity(next_capacity));
        let nonce = self.keys.nonce(self.next_index, false);
        let tag = crypto::seal_in_place(self.keys.key(), nonce, &self.header_bytes, &mut segment);
        segment.extend_from_slice(&tag);
        self.next_index += 1;
        Bytes::from(segment)
    }

    fn segment_target_after_this(&self) -> usize {
        let next_start = (u64::from(self.next_index) + 1) * SEGMENT_SIZE;
        usize::try_from(self.header.plaintext_len.saturating_sub(next_start)).unwrap_or(SEGMENT_SIZE as usize)
    }
}

impl std::fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEncryptor")
            .field("header", &self.header)
            .field("pushed", &self.pushed)
            .finish_non_exhaustive()
    }
}
