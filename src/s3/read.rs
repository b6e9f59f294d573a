//! Planned reads of one s3kms object: which stored bytes a selection (whole object, range,
//! part) needs, the requests that fetch them, and the streams that open them.
//!
//! Single-stream objects map ranges with arithmetic; multipart objects through their manifest
//! ([`load_layout`], cached). A fetch is pinned to the ETag seen first (`If-Match`), so a
//! concurrent overwrite fails instead of mixing two objects.

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

use super::layout::{self, StoredObject, load_layout, ranged_request, read_range};
use super::sse::Layout;
use super::stream::{OpeningBody, StreamRead, wire_algorithm};
use super::{S3Api, S3Error, S3Request};
use crate::checksum::ChecksumAlgorithm;
use crate::crypto::Key256;
use crate::format::{
    ByteRangeSpec, FormatError, MultipartLayout, PlaintextRange, RangePlan, StreamDecryptor, StreamKind, Trailer,
    crc64_combine, stored_len,
};
use crate::upstream::BoxError;

/// What part of the object the client asked for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Selection {
    /// The whole object.
    Whole,
    /// A `Range` header.
    Range(ByteRangeSpec),
    /// `partNumber`.
    Part(u32),
}

/// Why a selection cannot be served.
pub(super) enum RangeError {
    /// The range starts beyond the object.
    Unsatisfiable,
    /// (requested part, part count).
    NoPart(u32, u32),
}

impl RangeError {
    pub(super) fn into_error(self, request: &S3Request<'_>, plaintext_len: u64) -> S3Error {
        match self {
            RangeError::Unsatisfiable => S3Error::InvalidRange {
                range_requested: request
                    .parts
                    .headers
                    .get(http::header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned(),
                actual_object_size: plaintext_len,
            },
            RangeError::NoPart(requested, count) => S3Error::InvalidPartNumber {
                part_number_requested: requested,
                actual_part_count: count,
            },
        }
    }
}

pub(super) type PlaintextBody = OpeningBody<http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>>;

/// A planned read.
pub(super) struct Read {
    pub(super) status: StatusCode,
    /// The plaintext range served (`None`: the whole object with 200).
    pub(super) range: Option<PlaintextRange>,
    /// `x-amz-mp-parts-count` for `partNumber` reads of multipart objects.
    pub(super) parts_count: Option<u32>,
    pub(super) body: Option<PlaintextBody>,
}

impl Read {
    pub(super) fn headers(&self, plaintext_len: u64) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = Vec::new();
        let length = self.range.map_or(plaintext_len, |range| range.len());
        headers.push((http::header::CONTENT_LENGTH, HeaderValue::from(length)));
        if let Some(range) = self.range.filter(|_| self.status == StatusCode::PARTIAL_CONTENT) {
            let value = format!("bytes {}-{}/{plaintext_len}", range.first(), range.last());
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.push((http::header::CONTENT_RANGE, value));
            }
        }
        if let Some(count) = self.parts_count {
            headers.push((
                HeaderName::from_static("x-amz-mp-parts-count"),
                HeaderValue::from(count),
            ));
        }
        headers
    }
}

/// Plans and starts reads of one s3kms object.
pub(super) struct Reader<'a> {
    pub(super) api: &'a S3Api,
    pub(super) bucket: &'a str,
    pub(super) key: &'a str,
    pub(super) object: &'a StoredObject,
    pub(super) data_key: &'a Key256,
}

impl Reader<'_> {
    /// `x-amz-checksum-*` of the whole object: the client's checksum from the trailer of a
    /// single stream, else (and for multipart objects) the CRC64-NVME s3kms computed.
    pub(super) async fn stored_checksum(
        &self,
        layout: Layout,
        plaintext_len: u64,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, S3Error> {
        let (algorithm, digest) = match layout {
            Layout::Single => return Ok(checksum_headers(&self.single_trailer(plaintext_len).await?)),
            Layout::Multipart => {
                let layout = load_layout(self.api, self.bucket, self.key, self.object, self.data_key).await?;
                let mut parts = layout.parts().iter();
                let first = parts.next().map_or(0, |part| part.crc64);
                let crc = parts.fold(first, |crc, part| crc64_combine(crc, part.crc64, part.plaintext_len));
                (ChecksumAlgorithm::Crc64Nvme, crc.to_be_bytes().to_vec())
            }
        };
        Ok(full_object_checksum(algorithm, &digest))
    }

    /// A small single-stream object read whole from `response` and opened in memory: its
    /// plaintext and trailer, with no further upstream request (checksum mode on small GETs,
    /// which boto3 asks for by default).
    pub(super) async fn small_whole(&self, response: Response<Incoming>) -> Result<(Bytes, Trailer), S3Error> {
        let corrupt = |error: FormatError| S3Error::InternalError {
            detail: format!(
                "stored object {}/{} failed authentication: {error}",
                self.bucket, self.key
            ),
        };
        let limit = usize::try_from(self.object.stored_len).unwrap_or(usize::MAX);
        let stored = http_body_util::Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|error| S3Error::ServiceUnavailable {
                detail: format!("reading {}/{}: {error}", self.bucket, self.key),
            })?
            .to_bytes();
        let mut decryptor = StreamDecryptor::new(self.data_key, StreamKind::SingleObject);
        let plaintext: Vec<Bytes> = decryptor.push(&stored).map_err(corrupt)?;
        let trailer = decryptor
            .finish()
            .map_err(corrupt)?
            .ok_or_else(|| S3Error::InternalError {
                detail: "a whole stream ended without its trailer".to_owned(),
            })?;
        let plaintext: Bytes = plaintext.concat().into();
        self.api
            .metrics
            .bytes_decrypted()
            .fetch_add(plaintext.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok((plaintext, trailer))
    }

    /// The authenticated trailer of a single-stream object: its last segment and trailer (and
    /// header) read and opened.
    async fn single_trailer(&self, plaintext_len: u64) -> Result<Trailer, S3Error> {
        let corrupt = |error: FormatError| S3Error::InternalError {
            detail: format!(
                "stored object {}/{} failed authentication: {error}",
                self.bucket, self.key
            ),
        };
        let stored = self.object.stored_len;
        let trailer = match PlaintextRange::new(plaintext_len.saturating_sub(1), plaintext_len.saturating_sub(1)) {
            Some(last) if plaintext_len > 0 => {
                let plan = RangePlan::new(plaintext_len, last).map_err(|_| S3Error::InternalError {
                    detail: "the last byte does not plan".to_owned(),
                })?;
                let mut decryptor = StreamDecryptor::for_range(self.data_key, StreamKind::SingleObject, &plan);
                let fetch = plan.fetch();
                let (header, bytes) = if plan.header_included() {
                    (None, self.read(fetch.start, fetch.end).await?)
                } else {
                    // The header and the last segment, read at the same time.
                    let (header, bytes) =
                        tokio::join!(self.read(0, RangePlan::HEADER.end), self.read(fetch.start, fetch.end));
                    (Some(header?), bytes?)
                };
                if let Some(header) = header {
                    decryptor.push(&header).map_err(corrupt)?;
                }
                decryptor.push(&bytes).map_err(corrupt)?;
                decryptor.finish().map_err(corrupt)?
            }
            _ => {
                let bytes = self.read(0, stored).await?;
                let mut decryptor = StreamDecryptor::new(self.data_key, StreamKind::SingleObject);
                decryptor.push(&bytes).map_err(corrupt)?;
                decryptor.finish().map_err(corrupt)?
            }
        };
        trailer.ok_or_else(|| S3Error::InternalError {
            detail: "a read through the last segment ended without the trailer".to_owned(),
        })
    }

    async fn read(&self, start: u64, end: u64) -> Result<Bytes, S3Error> {
        read_range(self.api, self.bucket, self.key, self.object, start, end).await
    }

    pub(super) async fn single(
        &self,
        selection: Selection,
        plaintext_len: u64,
        streaming: Option<Response<Incoming>>,
    ) -> Result<Result<Read, RangeError>, S3Error> {
        let range = match selection {
            Selection::Whole => None,
            Selection::Range(spec) => match spec.resolve(plaintext_len) {
                Ok(range) => Some(range),
                Err(_) => return Ok(Err(RangeError::Unsatisfiable)),
            },
            Selection::Part(1) => PlaintextRange::new(0, plaintext_len.saturating_sub(1)).filter(|_| plaintext_len > 0),
            Selection::Part(number) => return Ok(Err(RangeError::NoPart(number, 1))),
        };
        let status = if range.is_none() {
            StatusCode::OK
        } else {
            StatusCode::PARTIAL_CONTENT
        };
        let whole = StreamRead::whole(self.data_key, StreamKind::SingleObject, self.object.stored_len);
        let body = match (range, streaming) {
            (_, Some(response)) => self.opening(response.into_body().map_err(Into::into).boxed_unsync(), vec![whole]),
            (None, None) => self.fetch(0, self.object.stored_len, vec![whole]).await?,
            (Some(range), None) if range.len() == plaintext_len => {
                self.fetch(0, self.object.stored_len, vec![whole]).await?
            }
            (Some(range), None) => {
                let plan = RangePlan::new(plaintext_len, range).map_err(|_| S3Error::InternalError {
                    detail: "a resolved range does not plan".to_owned(),
                })?;
                let header = if plan.header_included() {
                    None
                } else {
                    let header = RangePlan::HEADER;
                    Some(read_range(self.api, self.bucket, self.key, self.object, header.start, header.end).await?)
                };
                let fetch = plan.fetch();
                let stream = StreamRead::window(self.data_key, StreamKind::SingleObject, &plan, header);
                self.fetch(fetch.start, fetch.end, vec![stream]).await?
            }
        };
        Ok(Ok(Read {
            status,
            range,
            parts_count: None,
            body: Some(body),
        }))
    }

    pub(super) async fn multipart(
        &self,
        selection: Selection,
        streaming: Option<Response<Incoming>>,
        head: bool,
    ) -> Result<Result<Read, RangeError>, S3Error> {
        let layout = load_layout(self.api, self.bucket, self.key, self.object, self.data_key).await?;
        let total = layout.plaintext_len();
        let part_count = layout.parts().len() as u32;
        let (range, parts_count) = match selection {
            Selection::Whole => (None, None),
            Selection::Range(spec) => match spec.resolve(total) {
                Ok(range) => (Some(range), None),
                Err(_) => return Ok(Err(RangeError::Unsatisfiable)),
            },
            Selection::Part(number) => {
                let Some(index) = layout.parts().iter().position(|p| p.part_number == number) else {
                    return Ok(Err(RangeError::NoPart(number, part_count)));
                };
                (layout.part_plaintext_range(index), Some(part_count))
            }
        };
        let status = if matches!(selection, Selection::Whole) {
            StatusCode::OK
        } else {
            StatusCode::PARTIAL_CONTENT
        };
        let body = match range {
            _ if head => None,
            None if total == 0 => Some(self.opening(
                http_body_util::Empty::new().map_err(Into::into).boxed_unsync(),
                Vec::new(),
            )),
            None => {
                let streams = self.whole_parts(&layout);
                Some(match streaming {
                    Some(response) => {
                        let mut streams = streams;
                        streams.push(StreamRead::skip(self.object.stored_len - layout.manifest_offset()));
                        self.opening(response.into_body().map_err(Into::into).boxed_unsync(), streams)
                    }
                    None => self.fetch(0, layout.manifest_offset(), streams).await?,
                })
            }
            Some(range) => Some(self.multipart_range(&layout, range).await?),
        };
        Ok(Ok(Read {
            status,
            range,
            parts_count,
            body,
        }))
    }

    fn whole_parts(&self, layout: &MultipartLayout) -> Vec<StreamRead> {
        layout
            .parts()
            .iter()
            .map(|part| {
                let len = stored_len(part.plaintext_len).unwrap_or(0);
                StreamRead::whole(self.data_key, StreamKind::MultipartPart(part.part_number), len)
                    .expecting(part.plaintext_len, part.crc64)
            })
            .collect()
    }

    async fn multipart_range(&self, layout: &MultipartLayout, range: PlaintextRange) -> Result<PlaintextBody, S3Error> {
        let plan = layout.plan(range).map_err(|_| S3Error::InternalError {
            detail: "a resolved range does not plan".to_owned(),
        })?;
        let mut streams = Vec::with_capacity(plan.parts.len());
        for slice in &plan.parts {
            let entry = layout.parts()[slice.index];
            let stream = match &slice.window {
                None => StreamRead::whole(self.data_key, slice.kind, slice.fetched_len)
                    .expecting(entry.plaintext_len, entry.crc64),
                Some(window) => {
                    let header = match &slice.header {
                        Some(at) => {
                            Some(read_range(self.api, self.bucket, self.key, self.object, at.start, at.end).await?)
                        }
                        None => None,
                    };
                    StreamRead::window(self.data_key, slice.kind, window, header)
                }
            };
            streams.push(stream);
        }
        self.fetch(plan.fetch.start, plan.fetch.end, streams).await
    }

    /// An opening body over `source` that counts what it releases in the instance's metrics.
    fn opening(&self, source: UnsyncBoxBody<Bytes, BoxError>, streams: Vec<StreamRead>) -> PlaintextBody {
        OpeningBody::new(source, streams).counting(self.api.metrics.bytes_decrypted())
    }

    /// Starts the GET of stored bytes `start..end` and opens them as `streams`.
    async fn fetch(&self, start: u64, end: u64, streams: Vec<StreamRead>) -> Result<PlaintextBody, S3Error> {
        let response = self
            .api
            .send(ranged_request(self.bucket, self.key, self.object, start, end))
            .await?;
        if !response.status().is_success() {
            return Err(layout::changed_or_unavailable(response.status()));
        }
        Ok(self.opening(response.into_body().map_err(Into::into).boxed_unsync(), streams))
    }
}

/// `x-amz-checksum-*` from a single stream's trailer: the client's checksum, else the
/// CRC64-NVME s3kms computed.
pub(super) fn checksum_headers(trailer: &Trailer) -> Vec<(HeaderName, HeaderValue)> {
    match &trailer.client_checksum {
        Some(checksum) => full_object_checksum(wire_algorithm(checksum.algorithm()), checksum.digest()),
        None => full_object_checksum(ChecksumAlgorithm::Crc64Nvme, &trailer.crc64.to_be_bytes()),
    }
}

fn full_object_checksum(algorithm: ChecksumAlgorithm, digest: &[u8]) -> Vec<(HeaderName, HeaderValue)> {
    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD.encode(digest);
    let mut headers = Vec::new();
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.push((HeaderName::from_static(algorithm.header_name()), value));
        headers.push((
            HeaderName::from_static("x-amz-checksum-type"),
            HeaderValue::from_static("FULL_OBJECT"),
        ));
    }
    headers
}
