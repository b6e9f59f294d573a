//! GetObject and HeadObject: stored streams opened back into the object the client wrote.
//!
//! Requests to the upstream, by case (DESIGN §5 invariant 4):
//! - HEAD: one HEAD; sizes come from the stored size and layout, no KMS call (as AWS, which
//!   needs `kms:Decrypt` on HEAD only for checksum mode); `partNumber` on a multipart object
//!   also reads its manifest;
//! - whole GET: one GET, opened as it streams (`kms:Decrypt` as the user first). With
//!   `x-amz-checksum-mode: ENABLED` (boto3's default) a small object is opened whole in memory
//!   from that one GET; a larger one also reads its header and last segment, concurrently, for
//!   the trailer's checksum;
//! - ranged GET or `partNumber`: one HEAD, then one GET of exactly the segments the range
//!   needs, pinned to the ETag (`If-Match`), plus at most one 48-byte header read, plus the
//!   manifest once per object version (cached) for multipart objects.
//!
//! Preconditions are evaluated here on the upstream's ETag and Last-Modified. Objects s3kms
//! did not write are served as stored only in buckets configured as `plaintext_buckets`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::conditional::{self, Outcome};
use super::layout::{self, StoredObject};
use super::read::{RangeError, Read, Reader, Selection, checksum_headers};
use super::sse::{Layout, SseAlgorithm, response_headers};
use super::stream::Primed;
use super::{S3Api, S3Error, S3Request, encryption, forward, full_body};
use crate::format::{ByteRangeSpec, PlaintextRange};
use crate::http::ResponseBody;
use crate::upstream::UpstreamRequest;

/// Single-stream objects up to this stored size are read whole and opened in memory when the
/// client asks for their checksum (no extra upstream request for the trailer).
const SMALL_OBJECT_LEN: u64 = 256 * 1024;

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
    let object = StoredObject::from_headers(response.headers(), stored)?.at_version(request.query_value("versionId"));
    match conditional::evaluate(&request.parts.headers, response.headers()) {
        Outcome::Proceed => {}
        Outcome::NotModified => return Ok(forward::not_modified(response, request.request_id)),
        Outcome::PreconditionFailed(condition) => return Err(S3Error::PreconditionFailed { condition }),
    }
    let Some(envelope) = object.envelope.clone() else {
        return plaintext_object(api, request, response, head || streams_now).await;
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
        request.require_kms_transport(api.allow_sse_kms_over_http)?;
    }
    let data_key = encryption::unwrap(&api.kms, &request.caller(), &envelope, bucket, key).await?;
    let reader = Reader {
        api,
        bucket,
        key,
        object: &object,
        data_key: &data_key,
    };
    let whole = matches!(selection, Selection::Whole);
    if checksum_mode
        && whole
        && streams_now
        && envelope.layout == Layout::Single
        && object.stored_len <= SMALL_OBJECT_LEN
    {
        let (plaintext, trailer) = reader.small_whole(response).await?;
        headers.extend(checksum_headers(&trailer));
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(plaintext.len()));
        let mut answer = Response::new(full_body(plaintext));
        *answer.headers_mut() = headers;
        forward::stamp(answer.headers_mut(), request.request_id);
        return Ok(answer);
    }
    if checksum_mode && whole {
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

/// A plaintext object in a bucket that allows them, or AWS-shaped refusal. `first` is the
/// answer itself when it was the HEAD or the whole GET asked for; a ranged or part read goes
/// upstream again as the client sent it.
async fn plaintext_object(
    api: &S3Api,
    request: &S3Request<'_>,
    first: Response<Incoming>,
    first_answers: bool,
) -> Result<Response<ResponseBody>, S3Error> {
    let bucket = request.bucket()?;
    if !api.plaintext_buckets.iter().any(|allowed| allowed == bucket) {
        return Err(S3Error::UnencryptedObject);
    }
    if first_answers {
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
