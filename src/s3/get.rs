//! GetObject and HeadObject: stored streams opened back into the object the client wrote.
//!
//! Requests to the upstream, by case (DESIGN §5 invariant 4):
//! - HEAD: one HEAD; sizes come from the stored size and layout, no KMS call (as AWS, which
//!   needs `kms:Decrypt` on HEAD only for checksum mode); `partNumber` on a multipart object
//!   also reads its manifest;
//! - whole GET: one GET, opened as it streams (`kms:Decrypt` as the user first);
//! - ranged GET or `partNumber`: one HEAD, then one GET of exactly the segments the range
//!   needs, pinned to the ETag (`If-Match`), plus at most one 48-byte header read, plus the
//!   manifest once per object version (cached) for multipart objects.
//!
//! Preconditions are evaluated here on the upstream's ETag and Last-Modified. Objects s3kms
//! did not write are served as stored only in buckets configured as `plaintext_buckets`.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::conditional::{self, Outcome};
use super::layout::{self, StoredObject, load_layout, ranged_request, read_range};
use super::sse::{Layout, SseAlgorithm, response_headers};
use super::stream::{OpeningBody, Primed, StreamRead, wire_algorithm};
use super::{S3Api, S3Error, S3Request, encryption, forward, full_body};
use crate::checksum::ChecksumAlgorithm;
use crate::crypto::Key256;
use crate::format::{
    ByteRangeSpec, FormatError, MultipartLayout, PlaintextRange, RangePlan, StreamDecryptor, StreamKind, Trailer,
    crc64_combine, stored_len,
};
use crate::http::ResponseBody;
use crate::upstream::{BoxError, UpstreamRequest};

/// What part of the object the client asked for.
#[derive(Debug, Clone, Copy)]
enum Selection {
    Whole,
    Range(ByteRangeSpec),
    Part(u32),
}

/// Answers GetObject and HeadObject.
pub async fn get_object(api: &S3Api, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let head = request.parts.method == Method::HEAD;
    let selection = selection(request)?;
    let streams_now = !head && matches!(selection, Selection::Whole);
    let method = if streams_now { Method::GET } else { Method::HEAD };
    let response = api.send(object_request(request, method)).await?;
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    let stored = layout::stored_size(response.headers()).ok_or_else(|| S3Error::ServiceUnavailable {
        detail: "upstream object response without a length".to_owned(),
    })?;
    let object = StoredObject::from_headers(response.headers(), stored)?;
    match conditional::evaluate(&request.parts.headers, response.headers()) {
        Outcome::Proceed => {}
        Outcome::NotModified => return Ok(forward::not_modified(response, request.request_id)),
        Outcome::PreconditionFailed(condition) => return Err(S3Error::PreconditionFailed { condition }),
    }
    let Some(envelope) = object.envelope.clone() else {
        return plaintext_object(api, request, response).await;
    };
    let plaintext_len = object.plaintext_len()?;
    let mut headers = HeaderMap::new();
    forward::copy_headers(response.headers(), &mut headers);
    headers.extend(response_headers(
        request.operation,
        &encryption::applied(&envelope, None),
    ));
    headers.insert(http::header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let checksum_mode = request
        .parts
        .headers
        .get("x-amz-checksum-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"ENABLED"));
    let opens_data =
        !head || checksum_mode || (matches!(selection, Selection::Part(_)) && envelope.layout == Layout::Multipart);
    if !opens_data {
        return respond_head(request, selection, plaintext_len, headers);
    }
    if envelope.algorithm == SseAlgorithm::AwsKms {
        request.require_sigv4_for_kms()?;
    }
    let data_key = encryption::unwrap(&api.kms, &request.caller(), &envelope, bucket, key).await?;
    let reader = Reader {
        api,
        bucket,
        key,
        object: &object,
        data_key: &data_key,
    };
    if checksum_mode && matches!(selection, Selection::Whole) {
        headers.extend(reader.stored_checksum(envelope.layout, plaintext_len).await?);
    }
    if head && !matches!(selection, Selection::Part(_)) {
        return respond_head(request, selection, plaintext_len, headers);
    }
    let read = match envelope.layout {
        Layout::Single => {
            reader
                .single(selection, plaintext_len, streams_now.then_some(response))
                .await?
        }
        Layout::Multipart => {
            reader
                .multipart(selection, streams_now.then_some(response), head)
                .await?
        }
    };
    let read = match read {
        Ok(read) => read,
        Err(range_error) => return Err(range_error.into_error(request, plaintext_len)),
    };
    for (name, value) in read.headers(plaintext_len) {
        headers.insert(name, value);
    }
    if head {
        return Ok(empty_response(read.status, headers, request.request_id));
    }
    let body = Primed::new(read.body.ok_or_else(|| S3Error::InternalError {
        detail: "GET planned without a body".to_owned(),
    })?)
    .await
    .map_err(|error| S3Error::InternalError {
        detail: format!("stored object {bucket}/{key} failed authentication: {error}"),
    })?;
    let mut response = Response::new(body.boxed_unsync());
    *response.status_mut() = read.status;
    *response.headers_mut() = headers;
    forward::stamp(response.headers_mut(), request.request_id);
    Ok(response)
}

/// GetObjectAttributes, in plaintext terms.
pub async fn object_attributes(api: &S3Api, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
    super::attributes::object_attributes(api, request).await
}

/// The upstream request that reads an object's headers (and body, for a whole GET).
fn object_request(request: &S3Request<'_>, method: Method) -> UpstreamRequest {
    let query = request
        .query
        .iter()
        .filter(|(name, _)| name == "versionId" || name.starts_with("response-"))
        .cloned()
        .collect();
    UpstreamRequest {
        method,
        bucket: request.address.bucket.clone(),
        key: request.address.key.clone(),
        query,
        headers: HeaderMap::new(),
        body: None,
    }
}

fn selection(request: &S3Request<'_>) -> Result<Selection, S3Error> {
    let range = request.parts.headers.get(http::header::RANGE);
    match request.query_value("partNumber") {
        Some(value) => {
            let number = value.parse::<u32>().ok().filter(|n| (1..=10_000).contains(n));
            let number = number.ok_or_else(|| S3Error::InvalidArgument {
                message: "Part number must be an integer between 1 and 10000, inclusive".to_owned(),
                name: "partNumber".to_owned(),
                value: value.to_owned(),
            })?;
            if range.is_some() {
                return Err(S3Error::InvalidRequest {
                    message: "Cannot specify both Range header and partNumber query parameter".to_owned(),
                });
            }
            Ok(Selection::Part(number))
        }
        None => Ok(range
            .and_then(|value| value.to_str().ok())
            .and_then(ByteRangeSpec::parse)
            .map_or(Selection::Whole, Selection::Range)),
    }
}

/// HEAD of an s3kms object without `partNumber` on a multipart object: sizes only.
fn respond_head(
    request: &S3Request<'_>,
    selection: Selection,
    plaintext_len: u64,
    mut headers: HeaderMap,
) -> Result<Response<ResponseBody>, S3Error> {
    let (status, range) = match selection {
        Selection::Whole => (StatusCode::OK, None),
        Selection::Range(spec) => match spec.resolve(plaintext_len) {
            Ok(range) => (StatusCode::PARTIAL_CONTENT, Some(range)),
            Err(_) => return Err(RangeError::Unsatisfiable.into_error(request, plaintext_len)),
        },
        Selection::Part(1) if plaintext_len == 0 => (StatusCode::OK, None),
        Selection::Part(1) => (StatusCode::PARTIAL_CONTENT, PlaintextRange::new(0, plaintext_len - 1)),
        Selection::Part(number) => return Err(RangeError::NoPart(number, 1).into_error(request, plaintext_len)),
    };
    let read = Read {
        status,
        range,
        parts_count: None,
        body: None,
    };
    for (name, value) in read.headers(plaintext_len) {
        headers.insert(name, value);
    }
    Ok(empty_response(status, headers, request.request_id))
}

/// A plaintext object in a bucket that allows them, or AWS-shaped refusal.
async fn plaintext_object(
    api: &S3Api,
    request: &S3Request<'_>,
    first: Response<Incoming>,
) -> Result<Response<ResponseBody>, S3Error> {
    let bucket = request.bucket()?;
    if !api.plaintext_buckets.iter().any(|allowed| allowed == bucket) {
        return Err(S3Error::UnencryptedObject);
    }
    if request.parts.method == Method::HEAD
        || first.status() == StatusCode::OK
            && request.parts.headers.get(http::header::RANGE).is_none()
            && request.query_value("partNumber").is_none()
            && request.parts.method == Method::GET
    {
        return Ok(forward::response(first, request.request_id));
    }
    let mut upstream = object_request(request, Method::GET);
    upstream.headers = forward::request_headers(&request.parts.headers, false);
    upstream.query = api.upstream_query(request);
    let response = api.send(upstream).await?;
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    Ok(forward::response(response, request.request_id))
}

fn empty_response(status: StatusCode, headers: HeaderMap, request_id: &str) -> Response<ResponseBody> {
    let mut response = Response::new(full_body(Bytes::new()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    forward::stamp(response.headers_mut(), request_id);
    response
}

/// Why a selection cannot be served.
enum RangeError {
    Unsatisfiable,
    NoPart(u32, u32),
}

impl RangeError {
    fn into_error(self, request: &S3Request<'_>, plaintext_len: u64) -> S3Error {
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

type PlaintextBody = OpeningBody<http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>>;

/// A planned read.
struct Read {
    status: StatusCode,
    /// The plaintext range served (`None`: the whole object with 200).
    range: Option<PlaintextRange>,
    /// `x-amz-mp-parts-count` for `partNumber` reads of multipart objects.
    parts_count: Option<u32>,
    body: Option<PlaintextBody>,
}

impl Read {
    fn headers(&self, plaintext_len: u64) -> Vec<(HeaderName, HeaderValue)> {
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
struct Reader<'a> {
    api: &'a S3Api,
    bucket: &'a str,
    key: &'a str,
    object: &'a StoredObject,
    data_key: &'a Key256,
}

impl Reader<'_> {
    /// `x-amz-checksum-*` of the whole object: the client's checksum from the trailer of a
    /// single stream, else (and for multipart objects) the CRC64-NVME s3kms computed.
    async fn stored_checksum(
        &self,
        layout: Layout,
        plaintext_len: u64,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, S3Error> {
        use base64::Engine;
        let (algorithm, digest) = match layout {
            Layout::Single => {
                let trailer = self.single_trailer(plaintext_len).await?;
                match trailer.client_checksum {
                    Some(checksum) => (wire_algorithm(checksum.algorithm()), checksum.digest().to_vec()),
                    None => (ChecksumAlgorithm::Crc64Nvme, trailer.crc64.to_be_bytes().to_vec()),
                }
            }
            Layout::Multipart => {
                let layout = load_layout(self.api, self.bucket, self.key, self.object, self.data_key).await?;
                let mut parts = layout.parts().iter();
                let first = parts.next().map_or(0, |part| part.crc64);
                let crc = parts.fold(first, |crc, part| crc64_combine(crc, part.crc64, part.plaintext_len));
                (ChecksumAlgorithm::Crc64Nvme, crc.to_be_bytes().to_vec())
            }
        };
        let value = base64::engine::general_purpose::STANDARD.encode(digest);
        let mut headers = Vec::new();
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.push((HeaderName::from_static(algorithm.header_name()), value));
            headers.push((
                HeaderName::from_static("x-amz-checksum-type"),
                HeaderValue::from_static("FULL_OBJECT"),
            ));
        }
        Ok(headers)
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
                if !plan.header_included() {
                    let header =
                        read_range(self.api, self.bucket, self.key, self.object, 0, RangePlan::HEADER.end).await?;
                    decryptor.push(&header).map_err(corrupt)?;
                }
                let fetch = plan.fetch();
                let bytes = read_range(self.api, self.bucket, self.key, self.object, fetch.start, fetch.end).await?;
                decryptor.push(&bytes).map_err(corrupt)?;
                decryptor.finish().map_err(corrupt)?
            }
            _ => {
                let bytes = read_range(self.api, self.bucket, self.key, self.object, 0, stored).await?;
                let mut decryptor = StreamDecryptor::new(self.data_key, StreamKind::SingleObject);
                decryptor.push(&bytes).map_err(corrupt)?;
                decryptor.finish().map_err(corrupt)?
            }
        };
        trailer.ok_or_else(|| S3Error::InternalError {
            detail: "a read through the last segment ended without the trailer".to_owned(),
        })
    }

    async fn single(
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
            (_, Some(response)) => {
                OpeningBody::new(response.into_body().map_err(Into::into).boxed_unsync(), vec![whole])
            }
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

    async fn multipart(
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
            None if total == 0 => Some(OpeningBody::new(
                http_body_util::Empty::new().map_err(Into::into).boxed_unsync(),
                Vec::new(),
            )),
            None => {
                let streams = self.whole_parts(&layout);
                Some(match streaming {
                    Some(response) => {
                        let mut streams = streams;
                        streams.push(StreamRead::skip(self.object.stored_len - layout.manifest_offset()));
                        OpeningBody::new(response.into_body().map_err(Into::into).boxed_unsync(), streams)
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

    /// Starts the GET of stored bytes `start..end` and opens them as `streams`.
    async fn fetch(&self, start: u64, end: u64, streams: Vec<StreamRead>) -> Result<PlaintextBody, S3Error> {
        let etag = self.object.etag.as_ref();
        let response = self
            .api
            .send(ranged_request(self.bucket, self.key, etag, start, end))
            .await?;
        if !response.status().is_success() {
            return Err(layout::changed_or_unavailable(response.status()));
        }
        Ok(OpeningBody::new(
            response.into_body().map_err(Into::into).boxed_unsync(),
            streams,
        ))
    }
}

/// The plaintext of an object, for a copy.
pub struct Source {
    /// Plaintext bytes the body yields.
    pub length: u64,
    /// The plaintext, authenticated as it streams.
    pub body: PlaintextBody,
    /// The source's upstream headers (user metadata, content headers), without s3kms's.
    pub headers: HeaderMap,
}

/// Where a copy reads from: `x-amz-copy-source`, decoded.
pub use super::access::CopySource;

/// The request's copy source.
pub fn copy_source(headers: &HeaderMap) -> Result<CopySource, S3Error> {
    let value = headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    CopySource::parse(value)
}

/// Opens the plaintext of a copy source (optionally a range of it), checking `kms:Decrypt` as
/// the user and the request's `x-amz-copy-source-if-*` preconditions.
pub async fn open_source(
    api: &S3Api,
    request: &S3Request<'_>,
    source: &CopySource,
    range: Option<ByteRangeSpec>,
) -> Result<Source, S3Error> {
    let response = api
        .send(UpstreamRequest {
            method: Method::HEAD,
            bucket: Some(source.bucket.clone()),
            key: Some(source.key.clone()),
            query: source
                .version_id
                .iter()
                .map(|v| ("versionId".to_owned(), v.clone()))
                .collect(),
            headers: HeaderMap::new(),
            body: None,
        })
        .await?;
    if !response.status().is_success() {
        return Err(match response.status() {
            StatusCode::NOT_FOUND => S3Error::NoSuchKey,
            status => S3Error::ServiceUnavailable {
                detail: format!("copy source answered {status}"),
            },
        });
    }
    if let Some(condition) = copy_source_precondition(&request.parts.headers, response.headers()) {
        return Err(S3Error::PreconditionFailed { condition });
    }
    let stored = layout::stored_size(response.headers()).unwrap_or(0);
    let object = StoredObject::from_headers(response.headers(), stored)?;
    let mut headers = HeaderMap::new();
    forward::copy_headers(response.headers(), &mut headers);
    let Some(envelope) = object.envelope.clone() else {
        return Err(S3Error::UnencryptedObject);
    };
    let plaintext_len = object.plaintext_len()?;
    let data_key = encryption::unwrap(&api.kms, &request.caller(), &envelope, &source.bucket, &source.key).await?;
    let reader = Reader {
        api,
        bucket: &source.bucket,
        key: &source.key,
        object: &object,
        data_key: &data_key,
    };
    let selection = range.map_or(Selection::Whole, Selection::Range);
    let read = match envelope.layout {
        Layout::Single => reader.single(selection, plaintext_len, None).await?,
        Layout::Multipart => reader.multipart(selection, None, false).await?,
    };
    let read = read.map_err(|_| S3Error::InvalidRange {
        range_requested: request
            .parts
            .headers
            .get("x-amz-copy-source-range")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        actual_object_size: plaintext_len,
    })?;
    Ok(Source {
        length: read.range.map_or(plaintext_len, |range| range.len()),
        body: read.body.ok_or_else(|| S3Error::InternalError {
            detail: "copy planned without a body".to_owned(),
        })?,
        headers,
    })
}

/// The first failing `x-amz-copy-source-if-*` precondition (AWS answers 412 for all four).
fn copy_source_precondition(request: &HeaderMap, source: &HeaderMap) -> Option<&'static str> {
    const NAMES: [(&str, &str, &str); 4] = [
        ("x-amz-copy-source-if-match", "if-match", "x-amz-copy-source-If-Match"),
        (
            "x-amz-copy-source-if-none-match",
            "if-none-match",
            "x-amz-copy-source-If-None-Match",
        ),
        (
            "x-amz-copy-source-if-modified-since",
            "if-modified-since",
            "x-amz-copy-source-If-Modified-Since",
        ),
        (
            "x-amz-copy-source-if-unmodified-since",
            "if-unmodified-since",
            "x-amz-copy-source-If-Unmodified-Since",
        ),
    ];
    for (copy_name, plain_name, reported) in NAMES {
        let Some(value) = request.get(copy_name) else { continue };
        let mut single = HeaderMap::new();
        single.insert(HeaderName::from_static(plain_name), value.clone());
        if conditional::evaluate(&single, source) != Outcome::Proceed {
            return Some(reported);
        }
    }
    None
}
