//! Sans-IO streaming decryption of one stream, whole or through a [`RangePlan`] window.
//!
//! Input is `header ‖ stored bytes`, in pieces of any size. For a whole stream that is simply the
//! stored stream. For a ranged read it is the 48-byte header (fetched or cached separately when
//! the plan's fetch does not start at offset 0) followed by the plan's `fetch` bytes.
//!
//! Invariants: plaintext of a segment is released only after its tag verifies; a window stops at
//! its last planned segment, and reads (and checks) the trailer whenever it reaches the last data
//! segment; the whole-stream CRC64-NVME is checked when the whole stream was read; after an error
//! nothing more is released.

use bytes::Bytes;

use super::header::StreamKeys;
use super::size::sealed_segment_len;
use super::{
    FormatError, HEADER_LEN, RangePlan, StreamHeader, StreamKind, TRAILER_LEN, TRAILER_PLAINTEXT_LEN, Trailer,
};
use crate::crypto::{self, Key256};

/// Decrypts one stream, or a planned window of it.
pub struct StreamDecryptor {
    expected: StreamKind,
    plan: Option<RangePlan>,
    header: Option<StreamHeader>,
    phase: Phase,
    buffer: Vec<u8>,
}

enum Phase {
    Header { data_key: Key256 },
    Body(Box<Body>),
    Done(Option<Trailer>),
    Failed,
}

/// State once the header is known.
struct Body {
    header: StreamHeader,
    header_bytes: [u8; HEADER_LEN],
    keys: StreamKeys,
    next_segment: u32,
    /// One past the last data segment to read.
    end_segment: u32,
    read_trailer: bool,
    skip: usize,
    remaining: u64,
    /// Present only when the whole stream is read.
    crc: Option<super::Crc64>,
}

/// What one call to [`StreamDecryptor::push_prefix`] did.
#[derive(Debug, Default)]
pub struct Progress {
    /// Input bytes that belonged to this stream.
    pub consumed: usize,
    /// Verified plaintext, in order.
    pub plaintext: Vec<Bytes>,
}

impl StreamDecryptor {
    /// Decrypts a whole stream that must be of kind `expected` (kind and part number).
    pub fn new(data_key: &Key256, expected: StreamKind) -> StreamDecryptor {
        StreamDecryptor {
            expected,
            plan: None,
            header: None,
            phase: Phase::Header {
                data_key: data_key.clone(),
            },
            buffer: Vec::with_capacity(HEADER_LEN),
        }
    }

    /// Decrypts the window of `plan`; releases exactly the planned plaintext range.
    pub fn for_range(data_key: &Key256, expected: StreamKind, plan: &RangePlan) -> StreamDecryptor {
        StreamDecryptor {
            plan: Some(plan.clone()),
            ..StreamDecryptor::new(data_key, expected)
        }
    }

    /// The header, once it has been read (authenticated only once a segment verified).
    pub fn header(&self) -> Option<&StreamHeader> {
        self.header.as_ref()
    }

    /// True once the stream (or window) ended.
    pub fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done(_))
    }

    /// Takes bytes that all belong to this stream; bytes past its end are [`FormatError::TrailingData`].
    pub fn push(&mut self, input: &[u8]) -> Result<Vec<Bytes>, FormatError> {
        let progress = self.push_prefix(input)?;
        if progress.consumed < input.len() {
            self.phase = Phase::Failed;
            return Err(FormatError::TrailingData);
        }
        Ok(progress.plaintext)
    }

    /// Takes bytes up to the end of this stream and says how many it used, so that a caller
    /// reading consecutive streams can hand the rest to the next decryptor.
    pub fn push_prefix(&mut self, mut input: &[u8]) -> Result<Progress, FormatError> {
        let mut progress = Progress::default();
        while !input.is_empty() {
            let Some(wanted) = self.record_len() else { break };
            let take = (wanted - self.buffer.len()).min(input.len());
            self.buffer.extend_from_slice(&input[..take]);
            input = &input[take..];
            progress.consumed += take;
            if self.buffer.len() == wanted {
                match self.complete_record() {
                    Ok(Some(plaintext)) => progress.plaintext.push(plaintext),
                    Ok(None) => {}
                    Err(error) => {
                        self.phase = Phase::Failed;
                        return Err(error);
                    }
                }
            }
        }
        if matches!(self.phase, Phase::Failed) {
            return Err(FormatError::Poisoned);
        }
        Ok(progress)
    }

    /// Ends the stream: returns the authenticated trailer, or `None` for a window that stopped
    /// before the last data segment. Fails if the input ended early.
    pub fn finish(self) -> Result<Option<Trailer>, FormatError> {
        match self.phase {
            Phase::Done(trailer) => Ok(trailer),
            Phase::Failed => Err(FormatError::Poisoned),
            Phase::Header { .. } | Phase::Body(_) => Err(FormatError::Truncated),
        }
    }

    /// Bytes of the record (header, segment or trailer) being collected; `None` when done.
    fn record_len(&self) -> Option<usize> {
        match &self.phase {
            Phase::Header { .. } => Some(HEADER_LEN),
            Phase::Body(body) if body.next_segment < body.end_segment => {
                usize::try_from(sealed_segment_len(body.header.plaintext_len, body.next_segment)).ok()
            }
            Phase::Body(_) => Some(TRAILER_LEN),
            Phase::Done(_) | Phase::Failed => None,
        }
    }

    fn complete_record(&mut self) -> Result<Option<Bytes>, FormatError> {
        match std::mem::replace(&mut self.phase, Phase::Failed) {
            Phase::Header { data_key } => {
                let body = self.start_body(&data_key)?;
                self.header = Some(body.header.clone());
                self.phase = Phase::Body(Box::new(body));
                self.buffer = Vec::with_capacity(self.record_len().unwrap_or(0));
                self.finish_if_window_done();
                Ok(None)
            }
            Phase::Body(mut body) if body.next_segment < body.end_segment => {
                let next_len = sealed_segment_len(body.header.plaintext_len, body.next_segment + 1);
                let next_capacity = usize::try_from(next_len).unwrap_or(0).max(TRAILER_LEN);
                let sealed = std::mem::replace(&mut self.buffer, Vec::with_capacity(next_capacity));
                let plaintext = body.open_segment(sealed)?;
                self.phase = Phase::Body(body);
                self.finish_if_window_done();
                Ok(Some(plaintext))
            }
            Phase::Body(body) => {
                let trailer = body.open_trailer(&mut self.buffer)?;
                self.phase = Phase::Done(Some(trailer));
                Ok(None)
            }
            Phase::Done(_) | Phase::Failed => Err(FormatError::Poisoned),
        }
    }

    fn start_body(&self, data_key: &Key256) -> Result<Body, FormatError> {
        let header = StreamHeader::parse(&self.buffer)?;
        if header.kind != self.expected {
            return Err(FormatError::UnexpectedStream {
                expected: self.expected,
                found: header.kind,
            });
        }
        let mut header_bytes = [0u8; HEADER_LEN];
        header_bytes.copy_from_slice(&self.buffer);
        let keys = StreamKeys::derive(data_key, &header);
        let segments = header.data_segment_count();
        let body = match &self.plan {
            None => Body {
                next_segment: 0,
                end_segment: segments,
                read_trailer: true,
                skip: 0,
                remaining: header.plaintext_len,
                crc: Some(super::Crc64::new()),
                header,
                header_bytes,
                keys,
            },
            Some(plan) => {
                if plan.plaintext_len() != header.plaintext_len {
                    return Err(FormatError::PlanMismatch);
                }
                Body {
                    next_segment: plan.first_segment(),
                    end_segment: plan.last_segment().saturating_add(1),
                    read_trailer: plan.includes_trailer(),
                    skip: usize::try_from(plan.skip()).map_err(|_| FormatError::PlanMismatch)?,
                    remaining: plan.range().len(),
                    crc: None,
                    header,
                    header_bytes,
                    keys,
                }
            }
        };
        Ok(body)
    }

    /// A window that ends before the trailer is done after its last segment.
    fn finish_if_window_done(&mut self) {
        if let Phase::Body(body) = &self.phase
            && body.next_segment >= body.end_segment
            && !body.read_trailer
        {
            self.phase = Phase::Done(None);
        }
    }
}

impl Body {
    fn open_segment(&mut self, mut sealed: Vec<u8>) -> Result<Bytes, FormatError> {
        let index = self.next_segment;
        let nonce = self.keys.nonce(index, false);
        let plaintext_len = crypto::open_in_place(self.keys.key(), nonce, &self.header_bytes, &mut sealed)
            .map_err(|_| FormatError::Authentication {
                segment: u64::from(index),
            })?
            .len();
        sealed.truncate(plaintext_len);
        self.next_segment += 1;
        if let Some(crc) = &mut self.crc {
            crc.update(&sealed);
        }
        let start = std::mem::take(&mut self.skip).min(sealed.len());
        let end = start
            .saturating_add(usize::try_from(self.remaining).unwrap_or(usize::MAX))
            .min(sealed.len());
        self.remaining -= (end - start) as u64;
        Ok(Bytes::from(sealed).slice(start..end))
    }

    fn open_trailer(&self, sealed: &mut [u8]) -> Result<Trailer, FormatError> {
        let index = self.header.data_segment_count();
        let nonce = self.keys.nonce(index, true);
        let plaintext = crypto::open_in_place(self.keys.key(), nonce, &self.header_bytes, sealed).map_err(|_| {
            FormatError::Authentication {
                segment: u64::from(index),
            }
        })?;
        if plaintext.len() != TRAILER_PLAINTEXT_LEN {
            return Err(FormatError::MalformedTrailer);
        }
        let trailer = Trailer::parse(plaintext)?;
        if trailer.plaintext_len != self.header.plaintext_len {
            return Err(FormatError::MalformedTrailer);
        }
        if let Some(crc) = &self.crc
            && crc.sum() != trailer.crc64
        {
            return Err(FormatError::Crc64Mismatch);
        }
        Ok(trailer)
    }
}

impl std::fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecryptor")
            .field("expected", &self.expected)
            .field("header", &self.header())
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}
