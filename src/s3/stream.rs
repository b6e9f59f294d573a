//! Object bytes in flight: plaintext sealed into a stored stream on its way to the upstream
//! ([`SealingBody`]), and stored streams opened back into plaintext on their way to the client
//! ([`OpeningBody`]).
//!
//! Both are `http_body::Body`s that hold at most one 64 KiB segment (plus what the network
//! hands them) whatever the object size. Invariants:
//! - a sealing body ends with the stream's trailer only after its source ended cleanly (the
//!   verified client body holds its last bytes back until every check passed), so a failed
//!   upload reaches the upstream short of its declared length and is not stored;
//! - an opening body releases a segment's plaintext only after its tag verified, checks every
//!   stream's authenticated trailer (and, for a multipart object, the manifest's length and
//!   CRC of every part read whole), and fails — cutting the response — at the first fault.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame};

use super::body::Verdict;
use crate::crypto::Key256;
use crate::format::{self, ClientChecksum, FormatError, RangePlan, StreamDecryptor, StreamEncryptor, StreamKind};
use crate::upstream::BoxError;

/// What a finished sealing body reports: the stream's plaintext CRC64-NVME.
#[derive(Clone, Default)]
pub struct SealReport(Arc<Mutex<Option<u64>>>);

impl SealReport {
    /// The CRC64-NVME of the plaintext, once the trailer was sealed.
    pub fn crc64(&self) -> Option<u64> {
        self.0.lock().map(|slot| *slot).unwrap_or(None)
    }
}

/// A plaintext body sealed into one stored stream: header, segments, trailer.
pub struct SealingBody<B> {
    source: B,
    encryptor: Option<StreamEncryptor>,
    sealed: VecDeque<Bytes>,
    /// Handing out held segments (a batch is complete, or the stream ended).
    draining: bool,
    verdict: Option<Verdict>,
    report: SealReport,
    /// Plaintext bytes sealed, added to as they are (the instance's metric).
    counter: Option<Arc<AtomicU64>>,
}

/// Sealed pieces written together: eight 64 KiB segments.
const WRITE_BATCH: usize = 8;

impl<B> SealingBody<B> {
    /// Seals `source`, which must yield exactly the encryptor's declared length. The client's
    /// checksum is taken from `verdict` once the source ended (it may arrive in a trailer).
    pub fn new(source: B, encryptor: StreamEncryptor, verdict: Option<Verdict>) -> SealingBody<B> {
        SealingBody {
            source,
            sealed: VecDeque::from([Bytes::copy_from_slice(&encryptor.header())]),
            encryptor: Some(encryptor),
            // The header goes out at once: an upstream must see some of the body before any
            // failure, or some (SeaweedFS) commit an empty object when the request is cut.
            draining: true,
            verdict,
            report: SealReport::default(),
            counter: None,
        }
    }

    /// Adds every plaintext byte sealed to `counter`.
    pub fn counting(mut self, counter: Arc<AtomicU64>) -> SealingBody<B> {
        self.counter = Some(counter);
        self
    }

    /// Where the plaintext CRC appears once the body is done.
    pub fn report(&self) -> SealReport {
        self.report.clone()
    }

    fn seal_trailer(&mut self) -> Result<Option<Bytes>, BoxError> {
        let Some(encryptor) = self.encryptor.take() else {
            return Ok(None);
        };
        let checksum = self
            .verdict
            .as_ref()
            .and_then(Verdict::checksum)
            .map(|(algorithm, digest)| ClientChecksum::new(format_algorithm(algorithm), &digest))
            .transpose()?;
        let crc = encryptor.plaintext_crc64();
        let trailer = encryptor.finish(checksum)?;
        if let Ok(mut slot) = self.report.0.lock() {
            *slot = Some(crc);
        }
        Ok(Some(trailer))
    }
}

impl<B> Body for SealingBody<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.draining || this.encryptor.is_none() {
                if let Some(piece) = this.sealed.pop_front() {
                    return Poll::Ready(Some(Ok(Frame::data(piece))));
                }
                this.draining = false;
            }
            let Some(encryptor) = this.encryptor.as_mut() else {
                return Poll::Ready(None);
            };
            // Sealed segments are held until a batch is ready, so the connection writes them
            // together (one vectored write) instead of one small write per segment.
            match ready!(Pin::new(&mut this.source).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if let Some(counter) = &this.counter {
                            counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                        }
                        match encryptor.push(&data) {
                            Ok(segments) => this.sealed.extend(segments),
                            Err(error) => return this.fail(error.into()),
                        }
                    }
                    this.draining = this.sealed.len() >= WRITE_BATCH;
                }
                Some(Err(error)) => return this.fail(error),
                None => match this.seal_trailer() {
                    Ok(trailer) => this.sealed.extend(trailer),
                    Err(error) => return this.fail(error),
                },
            }
        }
    }
}

impl<B> SealingBody<B> {
    /// Ends the stream with `error`: nothing held back is released after a failure.
    fn fail(&mut self, error: BoxError) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.encryptor = None;
        self.sealed.clear();
        Poll::Ready(Some(Err(error)))
    }
}

/// The format's id for a client checksum algorithm.
pub fn format_algorithm(algorithm: crate::checksum::ChecksumAlgorithm) -> format::ChecksumAlgorithm {
    use crate::checksum::ChecksumAlgorithm as Wire;
    match algorithm {
        Wire::Crc32 => format::ChecksumAlgorithm::Crc32,
        Wire::Crc32c => format::ChecksumAlgorithm::Crc32c,
        Wire::Crc64Nvme => format::ChecksumAlgorithm::Crc64Nvme,
        Wire::Sha1 => format::ChecksumAlgorithm::Sha1,
        Wire::Sha256 => format::ChecksumAlgorithm::Sha256,
    }
}

/// The wire algorithm of a stored client checksum.
pub fn wire_algorithm(algorithm: format::ChecksumAlgorithm) -> crate::checksum::ChecksumAlgorithm {
    use crate::checksum::ChecksumAlgorithm as Wire;
    match algorithm {
        format::ChecksumAlgorithm::Crc32 => Wire::Crc32,
        format::ChecksumAlgorithm::Crc32c => Wire::Crc32c,
        format::ChecksumAlgorithm::Crc64Nvme => Wire::Crc64Nvme,
        format::ChecksumAlgorithm::Sha1 => Wire::Sha1,
        format::ChecksumAlgorithm::Sha256 => Wire::Sha256,
    }
}

/// One stream (or window of one) within a fetched byte range.
pub struct StreamRead {
    /// `None` for bytes that are read past and dropped (a manifest verified before).
    decryptor: Option<StreamDecryptor>,
    /// Header bytes fetched separately, pushed before the stream's first fetched byte.
    prefix: Option<Bytes>,
    /// Fetched bytes that belong to this stream.
    remaining: u64,
    /// For a stream read whole: the length and CRC64 the manifest records for it.
    expected: Option<(u64, u64)>,
}

impl StreamRead {
    /// A whole stream of `kind`, `stored_len` bytes of the fetch.
    pub fn whole(data_key: &Key256, kind: StreamKind, stored_len: u64) -> StreamRead {
        StreamRead {
            decryptor: Some(StreamDecryptor::new(data_key, kind)),
            prefix: None,
            remaining: stored_len,
            expected: None,
        }
    }

    /// `len` fetched bytes to drop (the manifest after the parts of a whole-object read; it
    /// was authenticated when the layout was loaded).
    pub fn skip(len: u64) -> StreamRead {
        StreamRead {
            decryptor: None,
            prefix: None,
            remaining: len,
            expected: None,
        }
    }

    /// The window `plan` of a stream of `kind`; `header` when the plan's fetch leaves it out.
    pub fn window(data_key: &Key256, kind: StreamKind, plan: &RangePlan, header: Option<Bytes>) -> StreamRead {
        let fetch = plan.fetch();
        StreamRead {
            decryptor: Some(StreamDecryptor::for_range(data_key, kind, plan)),
            prefix: header,
            remaining: fetch.end - fetch.start,
            expected: None,
        }
    }

    /// Also checks the authenticated trailer against the manifest's entry.
    pub fn expecting(mut self, plaintext_len: u64, crc64: u64) -> StreamRead {
        self.expected = Some((plaintext_len, crc64));
        self
    }
}

/// Stored bytes from the upstream opened into plaintext, stream after stream.
pub struct OpeningBody<B> {
    source: B,
    streams: VecDeque<StreamRead>,
    plaintext: VecDeque<Bytes>,
    failed: bool,
    /// Plaintext bytes released, added to as they are (the instance's metric).
    counter: Option<Arc<AtomicU64>>,
}

impl<B> OpeningBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Opens `source`, which must hold exactly the streams' fetched bytes, in order.
    pub fn new(source: B, streams: Vec<StreamRead>) -> OpeningBody<B> {
        OpeningBody {
            source,
            streams: streams.into(),
            plaintext: VecDeque::new(),
            failed: false,
            counter: None,
        }
    }

    /// Adds every plaintext byte released to `counter`.
    pub fn counting(mut self, counter: Arc<AtomicU64>) -> OpeningBody<B> {
        self.counter = Some(counter);
        self
    }

    fn accept(&mut self, mut data: &[u8]) -> Result<(), FormatError> {
        while !data.is_empty() {
            let Some(stream) = self.streams.front_mut() else {
                return Err(FormatError::TrailingData);
            };
            let take = usize::try_from(stream.remaining).unwrap_or(usize::MAX).min(data.len());
            if let Some(decryptor) = stream.decryptor.as_mut() {
                if let Some(prefix) = stream.prefix.take() {
                    self.plaintext.extend(decryptor.push(&prefix)?);
                }
                self.plaintext.extend(decryptor.push(&data[..take])?);
            }
            stream.remaining -= take as u64;
            data = &data[take..];
            if stream.remaining == 0 {
                self.finish_stream()?;
            }
        }
        Ok(())
    }

    fn finish_stream(&mut self) -> Result<(), FormatError> {
        let Some(stream) = self.streams.pop_front() else {
            return Ok(());
        };
        let Some(decryptor) = stream.decryptor else {
            return Ok(());
        };
        let trailer = decryptor.finish()?;
        if let (Some((length, crc)), Some(trailer)) = (stream.expected, trailer)
            && (trailer.plaintext_len != length || trailer.crc64 != crc)
        {
            return Err(FormatError::MalformedManifest("a part differs from the manifest"));
        }
        Ok(())
    }
}

impl<B> Body for OpeningBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(plaintext) = this.plaintext.pop_front() {
                if let Some(counter) = &this.counter {
                    counter.fetch_add(plaintext.len() as u64, Ordering::Relaxed);
                }
                return Poll::Ready(Some(Ok(Frame::data(plaintext))));
            }
            if this.failed {
                return Poll::Ready(None);
            }
            let outcome = match ready!(Pin::new(&mut this.source).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.accept(&data),
                    Err(_) => Ok(()),
                },
                Some(Err(error)) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                None if this.streams.iter().all(|s| s.remaining == 0 && s.prefix.is_none()) => {
                    // Streams whose fetched share is empty (an empty window) still end cleanly.
                    while !this.streams.is_empty() {
                        if let Err(error) = this.finish_stream() {
                            this.failed = true;
                            return Poll::Ready(Some(Err(error.into())));
                        }
                    }
                    return Poll::Ready(None);
                }
                None => Err(FormatError::Truncated),
            };
            if let Err(error) = outcome {
                this.failed = true;
                this.plaintext.clear();
                tracing::warn!(%error, "stored object failed authentication; response cut");
                return Poll::Ready(Some(Err(error.into())));
            }
        }
    }
}

/// A body whose first frame was read before the response started, so that a fault found
/// there (a swapped data key, a tampered first segment) is still a clean error status.
pub struct Primed<B> {
    first: Option<Frame<Bytes>>,
    rest: B,
}

impl<B> Primed<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    /// Reads `body`'s first frame; its error, if that is what comes first.
    pub async fn new(mut body: B) -> Result<Primed<B>, BoxError> {
        use http_body_util::BodyExt;
        let first = body.frame().await.transpose()?;
        Ok(Primed { first, rest: body })
    }
}

impl<B> Body for Primed<B>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.first.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }
}
