//! A sans-IO decoder for `Content-Encoding: aws-chunked` request bodies, in the three modes
//! S3 accepts: `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (signed chunks),
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` (signed chunks and a signed trailer) and
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (plain chunks and a trailer).
//!
//! # How to drive it
//! Feed whatever bytes arrived to [`ChunkedDecoder::decode`]; it returns one [`Step`]: how
//! many input bytes it consumed and one [`ChunkedEvent`]. Call again with the rest until
//! [`ChunkedEvent::NeedMore`]; at end of input call [`ChunkedDecoder::finish`].
//!
//! # Holding back unverified data
//! [`ChunkedEvent::Data`] borrows pieces of a chunk as they arrive, *before* the chunk's
//! signature can be checked (it covers the whole chunk). [`ChunkedEvent::ChunkVerified`]
//! then says every piece since the previous `ChunkVerified` is authentic (signed modes) or
//! complete and well framed (unsigned mode). A caller must not release (forward, store as
//! final) data before its `ChunkVerified`; holding one chunk costs at most the max chunk
//! size (default 16 MiB, 64 KiB typical). The trailer checksum and the decoded length cover
//! the whole body and are only known at [`ChunkedEvent::End`]: a caller must not commit the
//! object (complete the upload) before `End`.
//!
//! # Memory
//! The decoder itself buffers at most one line ([`framing::MAX_LINE`], 1 KiB) plus at most
//! `MAX_TRAILERS` trailer lines; chunk data is never copied.
//!
//! Does not: read sockets, decode HTTP/1.1 `Transfer-Encoding: chunked` (the HTTP layer
//! does), or know about `Content-Length`.

mod chain;
mod error;
mod framing;
#[cfg(test)]
mod tests;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::checksum::ChecksumAlgorithm;
pub use chain::ChunkSigning;
pub use error::ChunkedError;

use crate::checksum::Checksummer;
use chain::SignatureChain;
use framing::{LineBuffer, parse_chunk_header, parse_trailer_line};

use super::signing::Signature;

/// Default upper bound on one chunk's data size.
pub const DEFAULT_MAX_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
/// Most trailer lines accepted (checksum + signature in practice).
const MAX_TRAILERS: usize = 8;
const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// Which aws-chunked flavour the body uses (from `x-amz-content-sha256`) and which
/// checksum trailer, if any, the client declared in `x-amz-trailer`.
#[derive(Debug, Clone)]
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: no trailer allowed.
    Signed(ChunkSigning),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`.
    SignedWithTrailer(ChunkSigning, Option<ChecksumAlgorithm>),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    UnsignedWithTrailer(Option<ChecksumAlgorithm>),
}

/// One thing the decoder found. `'a` is the input slice's lifetime.
#[derive(Debug, PartialEq, Eq)]
pub enum ChunkedEvent<'a> {
    /// All input was consumed; feed more (or call `finish` at end of input).
    NeedMore,
    /// Decoded bytes of the current chunk, not yet verified.
    Data(&'a [u8]),
    /// Every `Data` since the previous `ChunkVerified` is verified and complete.
    ChunkVerified,
    /// The body is complete and verified; carries the declared checksum trailer, if any.
    End(Option<Trailer>),
}

/// A verified trailer header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// Lower-case name, e.g. `x-amz-checksum-crc32c`.
    pub name: String,
    /// The value as sent (base64 checksum).
    pub value: String,
}

/// The result of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, PartialEq, Eq)]
pub struct Step<'a> {
    /// Input bytes consumed; pass the rest of the input to the next call.
    pub consumed: usize,
    /// What was found.
    pub event: ChunkedEvent<'a>,
}

#[derive(Debug)]
enum State {
    ChunkHeader,
    ChunkData { remaining: u64 },
    ChunkDataEnd { crlf_seen: usize },
    Trailers,
    Done,
}

/// The decoder. See the module documentation for how to drive it.
pub struct ChunkedDecoder {
    state: State,
    chain: Option<SignatureChain>,
    trailer_expected: Option<ChecksumAlgorithm>,
    trailer_signed: bool,
    trailers_allowed: bool,
    checksum: Option<Checksummer>,
    line: LineBuffer,
    chunk_hasher: Sha256,
    chunk_signature: Option<Signature>,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<Signature>,
    declared_length: u64,
    decoded_length: u64,
    max_chunk_size: u64,
    failure: Option<ChunkedError>,
}

impl ChunkedDecoder {
    /// A decoder for a body of `declared_length` decoded bytes
    /// (`x-amz-decoded-content-length`).
    pub fn new(mode: ChunkedMode, declared_length: u64) -> Self {
        let (chain, trailer_expected, trailers_allowed) = match mode {
            ChunkedMode::Signed(signing) => (Some(SignatureChain::new(signing)), None, false),
            ChunkedMode::SignedWithTrailer(signing, trailer) => (Some(SignatureChain::new(signing)), trailer, true),
            ChunkedMode::UnsignedWithTrailer(trailer) => (None, trailer, true),
        };
        Self {
            state: State::ChunkHeader,
            trailer_signed: chain.is_some() && trailers_allowed,
            chain,
            trailer_expected,
            trailers_allowed,
            checksum: trailer_expected.map(ChecksumAlgorithm::hasher),
            line: LineBuffer::default(),
            chunk_hasher: Sha256::new(),
            chunk_signature: None,
            trailers: Vec::new(),
            trailer_signature: None,
            declared_length,
            decoded_length: 0,
            max_chunk_size: DEFAULT_MAX_CHUNK_SIZE,
            failure: None,
        }
    }

    /// Sets the largest chunk accepted (default [`DEFAULT_MAX_CHUNK_SIZE`]).
    pub fn with_max_chunk_size(mut self, max_chunk_size: u64) -> Self {
        self.max_chunk_size = max_chunk_size;
        self
    }

    /// Decodes from `input` until one event is found or the input is used up.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkedError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let result = self.advance(input);
        if let Err(error) = &result {
            self.failure = Some(error.clone());
        }
        result
    }

    /// Call at end of input: fails unless [`ChunkedEvent::End`] was returned.
    pub fn finish(&self) -> Result<(), ChunkedError> {
        match (&self.failure, &self.state) {
            (Some(failure), _) => Err(failure.clone()),
            (None, State::Done) => Ok(()),
            (None, _) => Err(ChunkedError::Truncated),
        }
    }

    /// Decoded bytes seen so far.
    pub fn decoded_length(&self) -> u64 {
        self.decoded_length
    }

    fn advance<'a>(&mut self, input: &'a [u8]) -> Result<Step<'a>, ChunkedError> {
        let mut consumed = 0;
        while let Some(rest) = input.get(consumed..).filter(|rest| !rest.is_empty()) {
            let (used, event) = match self.state {
                State::ChunkHeader => (self.read_chunk_header(rest)?, None),
                State::ChunkData { remaining } => self.read_data(rest, remaining),
                State::ChunkDataEnd { crlf_seen } => self.read_data_end(rest, crlf_seen)?,
                State::Trailers => self.read_trailer_line(rest)?,
                State::Done => return Err(ChunkedError::TrailingBytes),
            };
            consumed += used;
            if let Some(event) = event {
                return Ok(Step { consumed, event });
            }
        }
        Ok(Step {
            consumed,
            event: ChunkedEvent::NeedMore,
        })
    }

    fn read_chunk_header(&mut self, input: &[u8]) -> Result<usize, ChunkedError> {
        let (used, complete) = self.line.fill(input)?;
        if complete {
            let header = parse_chunk_header(&self.line.take()?, self.chain.is_some())?;
            self.begin_chunk(header.size, header.signature)?;
        }
        Ok(used)
    }

    fn begin_chunk(&mut self, size: u64, signature: Option<Signature>) -> Result<(), ChunkedError> {
        if size > self.max_chunk_size {
            return Err(ChunkedError::ChunkTooLarge);
        }
        if size > self.declared_length.saturating_sub(self.decoded_length) {
            return Err(ChunkedError::LengthMismatch);
        }
        self.chunk_signature = signature;
        if size > 0 {
            self.state = State::ChunkData { remaining: size };
            return Ok(());
        }
        self.verify_chunk_signature()?;
        self.state = State::Trailers;
        Ok(())
    }

    fn read_data<'a>(&mut self, input: &'a [u8], remaining: u64) -> (usize, Option<ChunkedEvent<'a>>) {
        let take = usize::try_from(remaining).map_or(input.len(), |remaining| remaining.min(input.len()));
        let data = &input[..take];
        self.chunk_hasher.update(data);
        if let Some(checksum) = &mut self.checksum {
            checksum.update(data);
        }
        self.decoded_length += take as u64;
        let remaining = remaining - take as u64;
        self.state = match remaining {
            0 => State::ChunkDataEnd { crlf_seen: 0 },
            _ => State::ChunkData { remaining },
        };
        (take, Some(ChunkedEvent::Data(data)))
    }

    fn read_data_end<'a>(
        &mut self,
        input: &[u8],
        crlf_seen: usize,
    ) -> Result<(usize, Option<ChunkedEvent<'a>>), ChunkedError> {
        let expected = &b"\r\n"[crlf_seen..];
        let used = expected.len().min(input.len());
        if input[..used] != expected[..used] {
            return Err(ChunkedError::Malformed("chunk data not followed by CRLF"));
        }
        if crlf_seen + used < 2 {
            self.state = State::ChunkDataEnd {
                crlf_seen: crlf_seen + used,
            };
            return Ok((used, None));
        }
        self.verify_chunk_signature()?;
        self.state = State::ChunkHeader;
        Ok((used, Some(ChunkedEvent::ChunkVerified)))
    }

    /// Checks the finished chunk's signature (signed modes) and resets the chunk hasher.
    fn verify_chunk_signature(&mut self) -> Result<(), ChunkedError> {
        let digest: [u8; 32] = std::mem::take(&mut self.chunk_hasher).finalize().into();
        let (Some(chain), Some(claimed)) = (&mut self.chain, self.chunk_signature.take()) else {
            return Ok(());
        };
        if !chain.verify_chunk(&digest, &claimed) {
            return Err(ChunkedError::SignatureMismatch);
        }
        Ok(())
    }

    fn read_trailer_line<'a>(&mut self, input: &[u8]) -> Result<(usize, Option<ChunkedEvent<'a>>), ChunkedError> {
        let (used, complete) = self.line.fill(input)?;
        if !complete {
            return Ok((used, None));
        }
        let line = self.line.take()?;
        if line.is_empty() {
            let trailer = self.finish_body()?;
            self.state = State::Done;
            return Ok((used, Some(ChunkedEvent::End(trailer))));
        }
        self.record_trailer_line(&line)?;
        Ok((used, None))
    }

    fn record_trailer_line(&mut self, line: &str) -> Result<(), ChunkedError> {
        if !self.trailers_allowed {
            return Err(ChunkedError::Malformed("trailer in a mode without trailers"));
        }
        if self.trailer_signature.is_some() {
            return Err(ChunkedError::Malformed("trailer after the trailer signature"));
        }
        let (name, value) = parse_trailer_line(line)?;
        if self.trailer_signed && name == TRAILER_SIGNATURE {
            let signature =
                Signature::from_hex(&value).ok_or(ChunkedError::Malformed("trailer signature is not hex"))?;
            self.trailer_signature = Some(signature);
            return Ok(());
        }
        let declared = self
            .trailer_expected
            .is_some_and(|algorithm| algorithm.trailer_name() == name);
        if !declared || self.trailers.iter().any(|(seen, _)| *seen == name) || self.trailers.len() >= MAX_TRAILERS {
            return Err(ChunkedError::Malformed("undeclared or repeated trailer"));
        }
        self.trailers.push((name, value));
        Ok(())
    }

    /// At the blank line ending the body: trailer signature, checksum, length.
    fn finish_body(&mut self) -> Result<Option<Trailer>, ChunkedError> {
        self.verify_trailer_signature()?;
        let trailer = self.verify_checksum()?;
        if self.decoded_length != self.declared_length {
            return Err(ChunkedError::LengthMismatch);
        }
        Ok(trailer)
    }

    fn verify_trailer_signature(&mut self) -> Result<(), ChunkedError> {
        let Some(chain) = self.chain.as_ref().filter(|_| self.trailer_signed) else {
            return Ok(());
        };
        let claimed = self
            .trailer_signature
            .ok_or(ChunkedError::Malformed("trailer signature missing"))?;
        let mut sorted = self.trailers.clone();
        sorted.sort();
        let canonical: String = sorted.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
        if !chain.trailer_signature(&canonical).verify(&claimed) {
            return Err(ChunkedError::SignatureMismatch);
        }
        Ok(())
    }

    fn verify_checksum(&mut self) -> Result<Option<Trailer>, ChunkedError> {
        let (Some(algorithm), Some(running)) = (self.trailer_expected, self.checksum.take()) else {
            return Ok(None);
        };
        let name = algorithm.trailer_name();
        let (_, value) = self
            .trailers
            .iter()
            .find(|(trailer, _)| trailer == name)
            .ok_or(ChunkedError::MissingTrailer(algorithm))?;
        let claimed = STANDARD
            .decode(value)
            .map_err(|_| ChunkedError::Malformed("checksum is not base64"))?;
        let computed = running.finish();
        if claimed.len() != computed.len() || !bool::from(claimed.ct_eq(&computed)) {
            return Err(ChunkedError::ChecksumMismatch(algorithm));
        }
        Ok(Some(Trailer {
            name: name.to_owned(),
            value: value.clone(),
        }))
    }
}

impl std::fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("state", &self.state)
            .field("signed", &self.chain.is_some())
            .field("trailer_expected", &self.trailer_expected)
            .field("declared_length", &self.declared_length)
            .field("decoded_length", &self.decoded_length)
            .field("failure", &self.failure)
            .finish_non_exhaustive()
    }
}
