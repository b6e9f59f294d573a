//! The inbound request body, verified while it streams.
//!
//! Owns: decoding aws-chunked bodies, checking the payload hash (`x-amz-content-sha256`),
//! `Content-MD5`, an `x-amz-checksum-*` header and the declared length, all incrementally.
//!
//! The invariants that keep a bad upload from being stored:
//! - the **last bytes of the body are held back** until every check has passed at the end of
//!   the stream. The upstream request carries the exact decoded length, so if a check fails
//!   the body stream fails short of that length, the upstream sees a truncated request and
//!   stores nothing;
//! - the upstream request **starts only once the first bytes are verified** ([`prime`]): some
//!   stores (SeaweedFS) commit an empty object when a request is cut before its first body
//!   byte, so an upload that fails that early never reaches the upstream at all. A zero-length
//!   body is therefore verified completely before the upstream hears of it.
//!
//! The first failure is recorded in a [`Verdict`] that the handler reads to answer the client
//! with the precise S3 error.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper::body::Incoming;
use md5::Md5;
use sha2::{Digest as _, Sha256};

use http::request::Parts;
use http::{HeaderMap, Method};

use super::S3Error;
use super::auth::Payload;
use super::stream::Primed;
use crate::checksum::{ChecksumAlgorithm, Checksummer};
use crate::sigv4;
use crate::sigv4::{ChunkedDecoder, ChunkedError, ChunkedEvent};
use crate::upstream::BoxError;

/// The raw body bytes a client sent: the HTTP body, or the file of a POST form.
pub type ClientBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// What the request promised about its body.
pub struct BodyPromise {
    /// The exact number of (decoded) bytes.
    pub length: u64,
    /// `x-amz-content-sha256` when it is a hex digest.
    pub sha256: Option<[u8; 32]>,
    /// `Content-MD5`.
    pub md5: Option<[u8; 16]>,
    /// An `x-amz-checksum-*` header.
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    /// The aws-chunked decoder, for `Content-Encoding: aws-chunked` bodies.
    pub chunked: Option<ChunkedDecoder>,
    /// How long the client may send nothing before the body fails with `RequestTimeout`.
    pub idle_timeout: std::time::Duration,
}

/// What the body stream found, shared between the stream and the handler: the first error, or
/// once the body verified, the client's checksum (from a header or an aws-chunked trailer).
#[derive(Clone, Default)]
pub struct Verdict(Arc<Mutex<Findings>>);

#[derive(Default)]
struct Findings {
    failure: Option<S3Error>,
    checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
}

impl Verdict {
    /// The recorded failure, if any.
    pub fn failure(&self) -> Option<S3Error> {
        self.0.lock().map(|found| found.failure.clone()).unwrap_or(None)
    }

    /// The client's checksum of the body, verified; `None` before the body ended or when the
    /// client sent none.
    pub fn checksum(&self) -> Option<(ChecksumAlgorithm, Vec<u8>)> {
        self.0.lock().map(|found| found.checksum.clone()).unwrap_or(None)
    }

    fn record(&self, error: S3Error) {
        if let Ok(mut found) = self.0.lock() {
            found.failure.get_or_insert(error);
        }
    }

    fn record_checksum(&self, algorithm: ChecksumAlgorithm, digest: Vec<u8>) {
        if let Ok(mut found) = self.0.lock() {
            found.checksum = Some((algorithm, digest));
        }
    }
}

/// A client body that yields only verified bytes, and fails instead of yielding the last ones
/// when a check fails.
pub struct VerifiedBody {
    source: ClientBody,
    length: u64,
    seen: u64,
    sha256: Option<(Sha256, [u8; 32])>,
    md5: Option<(Md5, [u8; 16])>,
    checksum: Option<(Checksummer, ChecksumAlgorithm, Vec<u8>)>,
    chunked: Option<ChunkedDecoder>,
    trailer_checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    ready: VecDeque<Bytes>,
    unverified: VecDeque<Bytes>,
    verdict: Verdict,
    state: State,
    idle_timeout: std::time::Duration,
    /// Fires when the client has sent nothing for `idle_timeout` (slow-body clients).
    idle: Pin<Box<tokio::time::Sleep>>,
}

#[derive(PartialEq, Eq)]
enum State {
    Streaming,
    Verified,
    Failed,
}

impl VerifiedBody {
    /// Wraps the client's body with the checks it promised.
    pub fn new(source: ClientBody, promise: BodyPromise, verdict: Verdict) -> VerifiedBody {
        VerifiedBody {
            source,
            length: promise.length,
            seen: 0,
            sha256: promise.sha256.map(|expected| (Sha256::new(), expected)),
            md5: promise.md5.map(|expected| (Md5::new(), expected)),
            checksum: promise
                .checksum
                .map(|(algorithm, expected)| (algorithm.hasher(), algorithm, expected)),
            chunked: promise.chunked,
            trailer_checksum: None,
            ready: VecDeque::new(),
            unverified: VecDeque::new(),
            verdict,
            state: State::Streaming,
            idle_timeout: promise.idle_timeout,
            idle: Box::pin(tokio::time::sleep(promise.idle_timeout)),
        }
    }

    /// The declared decoded length.
    pub fn length(&self) -> u64 {
        self.length
    }

    fn fail(&mut self, error: S3Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = State::Failed;
        self.ready.clear();
        let message = error.to_string();
        self.verdict.record(error);
        Poll::Ready(Some(Err(message.into())))
    }

    /// Feeds raw bytes from the wire through the decoder and the checks.
    fn accept(&mut self, raw: Bytes) -> Result<(), S3Error> {
        if self.chunked.is_none() {
            return self.take(raw);
        }
        let mut offset = 0;
        while offset < raw.len() {
            let Some(decoder) = self.chunked.as_mut() else {
                break;
            };
            let step = decoder.decode(&raw[offset..]).map_err(chunked_error)?;
            let piece = match step.event {
                ChunkedEvent::Data(data) => Some(raw.slice_ref(data)),
                ChunkedEvent::ChunkVerified => {
                    self.ready.append(&mut self.unverified);
                    None
                }
                ChunkedEvent::End(Some(trailer)) => {
                    if let Some(algorithm) = ChecksumAlgorithm::from_trailer_name(&trailer.name)
                        && let Some(digest) = algorithm.decode(&trailer.value)
                    {
                        self.trailer_checksum = Some((algorithm, digest));
                    }
                    None
                }
                ChunkedEvent::End(None) | ChunkedEvent::NeedMore => None,
            };
            offset += step.consumed;
            if let Some(piece) = piece {
                self.count(&piece)?;
                self.unverified.push_back(piece);
            }
            if step.consumed == 0 {
                break;
            }
        }
        Ok(())
    }

    /// Accepts bytes that need no further decoding.
    fn take(&mut self, piece: Bytes) -> Result<(), S3Error> {
        if !piece.is_empty() {
            self.count(&piece)?;
            self.ready.push_back(piece);
        }
        Ok(())
    }

    /// Counts and hashes decoded bytes.
    fn count(&mut self, piece: &[u8]) -> Result<(), S3Error> {
        self.seen += piece.len() as u64;
        if self.seen > self.length {
            return Err(S3Error::IncompleteBody);
        }
        if let Some((hasher, _)) = &mut self.sha256 {
            hasher.update(piece);
        }
        if let Some((hasher, _)) = &mut self.md5 {
            hasher.update(piece);
        }
        if let Some((hasher, _, _)) = &mut self.checksum {
            hasher.update(piece);
        }
        Ok(())
    }

    /// All checks that can only run at the end of the stream.
    fn finish(&mut self) -> Result<(), S3Error> {
        if let Some(decoder) = &mut self.chunked {
            decoder.finish().map_err(chunked_error)?;
            if !self.unverified.is_empty() {
                return Err(S3Error::IncompleteBody);
            }
        }
        if self.seen != self.length {
            return Err(S3Error::IncompleteBody);
        }
        if let Some((hasher, expected)) = self.sha256.take() {
            let computed: [u8; 32] = hasher.finalize().into();
            if computed != expected {
                return Err(S3Error::ContentSha256Mismatch {
                    client: hex::encode(expected),
                    computed: hex::encode(computed),
                });
            }
        }
        if let Some((hasher, expected)) = self.md5.take()
            && hasher.finalize()[..] != expected[..]
        {
            return Err(S3Error::BadDigest {
                message: "The Content-MD5 you specified did not match what we received.".to_owned(),
            });
        }
        if let Some((hasher, algorithm, expected)) = self.checksum.take() {
            if hasher.finish() != expected {
                return Err(checksum_mismatch(algorithm));
            }
            self.verdict.record_checksum(algorithm, expected);
        }
        if let Some((algorithm, digest)) = self.trailer_checksum.take() {
            self.verdict.record_checksum(algorithm, digest);
        }
        Ok(())
    }
}

impl Body for VerifiedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            match this.state {
                State::Failed => return Poll::Ready(None),
                State::Verified => {
                    return Poll::Ready(this.ready.pop_front().map(|b| Ok(Frame::data(b))));
                }
                State::Streaming if this.ready.len() > 1 => {
                    return Poll::Ready(this.ready.pop_front().map(|b| Ok(Frame::data(b))));
                }
                State::Streaming => {}
            }
            let polled = Pin::new(&mut this.source).poll_frame(cx);
            if polled.is_pending() {
                if this.idle.as_mut().poll(cx).is_ready() {
                    return this.fail(S3Error::RequestTimeout);
                }
                return Poll::Pending;
            }
            let deadline = tokio::time::Instant::now() + this.idle_timeout;
            this.idle.as_mut().reset(deadline);
            match ready!(polled) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data()
                        && let Err(error) = this.accept(data)
                    {
                        return this.fail(error);
                    }
                }
                Some(Err(_)) => return this.fail(S3Error::IncompleteBody),
                None => match this.finish() {
                    Ok(()) => this.state = State::Verified,
                    Err(error) => return this.fail(error),
                },
            }
        }
    }
}

/// Waits for the body's first verified bytes (or its verified end) before anything is sent
/// upstream; fails with the body's error if it breaks first.
pub async fn prime(body: VerifiedBody) -> Result<PrimedBody, S3Error> {
    let verdict = body.verdict.clone();
    Primed::new(body)
        .await
        .map_err(|_| verdict.failure().unwrap_or(S3Error::IncompleteBody))
}

/// A verified body whose first frame has already been read.
pub type PrimedBody = Primed<VerifiedBody>;

/// AWS's error for a checksum header or trailer that does not match the body.
pub fn checksum_mismatch(algorithm: ChecksumAlgorithm) -> S3Error {
    S3Error::BadDigest {
        message: format!(
            "The {} you specified did not match the calculated checksum.",
            algorithm.name()
        ),
    }
}

fn chunked_error(error: ChunkedError) -> S3Error {
    match error {
        ChunkedError::SignatureMismatch => S3Error::ChunkSignatureDoesNotMatch,
        ChunkedError::ChecksumMismatch(algorithm) => checksum_mismatch(algorithm),
        ChunkedError::LengthMismatch | ChunkedError::Truncated => S3Error::IncompleteBody,
        other => S3Error::MalformedBody {
            message: other.to_string(),
        },
    }
}

/// The verified body of a request, or `None` for requests without one.
pub fn inbound_body(
    parts: &Parts,
    body: Incoming,
    payload: Payload,
    verdict: Verdict,
    idle_timeout: std::time::Duration,
) -> Result<Option<VerifiedBody>, S3Error> {
    let headers = &parts.headers;
    let (length, chunked, sha256) = match payload {
        Payload::Chunked(mode) => {
            let length = header_u64(headers, "x-amz-decoded-content-length")?.ok_or(S3Error::MissingContentLength)?;
            (length, Some(sigv4::ChunkedDecoder::new(mode, length)), None)
        }
        Payload::Sha256(_) | Payload::Unsigned => {
            let sha256 = match payload {
                Payload::Sha256(digest) => Some(digest),
                _ => None,
            };
            match header_u64(headers, "content-length")? {
                Some(length) => (length, None, sha256),
                None if parts.method == Method::PUT || headers.contains_key(http::header::TRANSFER_ENCODING) => {
                    return Err(S3Error::MissingContentLength);
                }
                None => return Ok(None),
            }
        }
    };
    let carries_body = chunked.is_some() || parts.method == Method::PUT || parts.method == Method::POST;
    if length == 0 && !carries_body {
        return Ok(None);
    }
    let promise = BodyPromise {
        length,
        sha256,
        md5: content_md5(headers)?,
        checksum: checksum_header(headers)?,
        chunked,
        idle_timeout,
    };
    use http_body_util::BodyExt;
    Ok(Some(VerifiedBody::new(
        body.map_err(Into::into).boxed_unsync(),
        promise,
        verdict,
    )))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, S3Error> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let parsed = value.to_str().ok().and_then(|v| v.trim().parse().ok());
    parsed.map(Some).ok_or_else(|| S3Error::InvalidArgument {
        message: format!("Invalid {name} header."),
        name: name.to_owned(),
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    })
}

pub(super) fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| S3Error::InvalidDigest)?;
    crate::checksum::decode_content_md5(text)
        .map(Some)
        .ok_or(S3Error::InvalidDigest)
}

pub(super) fn checksum_header(
    headers: &HeaderMap,
) -> Result<Option<(crate::checksum::ChecksumAlgorithm, Vec<u8>)>, S3Error> {
    let mut found = None;
    for algorithm in crate::checksum::ChecksumAlgorithm::ALL {
        let Some(value) = headers.get(algorithm.header_name()) else {
            continue;
        };
        if found.is_some() {
            return Err(S3Error::InvalidRequest {
                message: "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    .to_owned(),
            });
        }
        let digest = value
            .to_str()
            .ok()
            .and_then(|v| algorithm.decode(v))
            .ok_or_else(|| S3Error::InvalidRequest {
                message: format!("Value for {} header is invalid.", algorithm.header_name()),
            })?;
        found = Some((algorithm, digest));
    }
    Ok(found)
}
