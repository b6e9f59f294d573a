//! PutObject: the client's body sealed into one stored stream under a fresh data key.
//!
//! Order: data key (the KMS checks `kms:GenerateDataKey` as the user) → metadata budget →
//! the first verified body bytes → the upstream PUT of exactly `stored_len(p)` bytes with the
//! envelope as user metadata. The body's checks (signature, MD5, checksums) run on the
//! plaintext; a failure cuts the upstream request short of its length, so the previous
//! version of the object stays intact. Plaintext digests never reach the upstream; the
//! client's checksum is stored in the stream's trailer.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::body::{self, Verdict};
use super::encryption::{self, DataKey, ObjectEncryption};
use super::sse::{self, Layout, check_metadata_budget};
use super::{Inbound, S3Api, S3Error, S3Request, forward, full_body, stream::SealingBody};
use crate::format::{StreamEncryptor, StreamKind};
use crate::http::ResponseBody;
use crate::upstream::{UpstreamBody, UpstreamRequest};

/// The largest object a single PUT takes (AWS: 5 GiB).
pub const MAX_PUT_LEN: u64 = 5 << 30;

/// Answers PutObject.
pub async fn put_object(
    api: &S3Api,
    request: &S3Request<'_>,
    inbound: Inbound,
    encryption: &ObjectEncryption,
) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let body = inbound.body.ok_or(S3Error::MissingContentLength)?;
    let length = body.length();
    if length > MAX_PUT_LEN {
        return Err(entity_too_large(length));
    }
    let data_key = encryption::generate(&api.kms, &request.caller(), encryption, bucket, key, Layout::Single).await?;
    check_metadata_budget(&request.parts.headers, &data_key.envelope)?;
    let encryptor = StreamEncryptor::new(&data_key.key, StreamKind::SingleObject, length, None).map_err(internal)?;
    let stored_len = encryptor.stored_len();
    let primed = body::prime(body).await?;
    let sealed =
        SealingBody::new(primed, encryptor, Some(inbound.verdict.clone())).counting(api.metrics.bytes_encrypted());
    let upstream_request = UpstreamRequest {
        method: Method::PUT,
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        query: api.upstream_query(request),
        headers: sealed_headers(&request.parts.headers, &data_key),
        body: Some((sealed.boxed_unsync() as UpstreamBody, stored_len)),
    };
    let verdict = inbound.verdict;
    let response = api
        .upstream
        .send(upstream_request)
        .await
        .map_err(|error| verdict.failure().unwrap_or_else(|| api.upstream_failed(error)))?;
    if let Some(failure) = verdict.failure() {
        return Err(failure);
    }
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    let mut headers = written_headers(response.headers());
    headers.extend(checksum_headers(&verdict));
    let applied = data_key.applied(encryption.context_echo.clone());
    Ok(respond(
        StatusCode::OK,
        headers,
        sse::response_headers(request.operation, &applied),
        request.request_id,
    ))
}

/// The upstream headers of a sealed write: the client's (without plaintext digests and SSE
/// headers) plus the envelope.
pub fn sealed_headers(client: &HeaderMap, data_key: &DataKey) -> HeaderMap {
    let mut headers = forward::sealed_request_headers(client);
    for (name, value) in data_key.envelope.to_headers() {
        headers.insert(name, value);
    }
    headers
}

/// The headers of a write's upstream answer a client may see: ETag and version id.
pub fn written_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [http::header::ETAG, HeaderName::from_static("x-amz-version-id")] {
        if let Some(value) = upstream.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// `x-amz-checksum-<algorithm>` and `x-amz-checksum-type` for the client's verified checksum.
pub fn checksum_headers(verdict: &Verdict) -> Vec<(HeaderName, HeaderValue)> {
    let Some((algorithm, digest)) = verdict.checksum() else {
        return Vec::new();
    };
    let Ok(value) = HeaderValue::from_str(&crate::checksum::encode(&digest)) else {
        return Vec::new();
    };
    vec![
        (HeaderName::from_static(algorithm.header_name()), value),
        (
            HeaderName::from_static("x-amz-checksum-type"),
            HeaderValue::from_static("FULL_OBJECT"),
        ),
    ]
}

/// An empty-bodied success response with `headers`, the SSE headers and s3kms's identity.
pub fn respond(
    status: StatusCode,
    mut headers: HeaderMap,
    sse_headers: Vec<(HeaderName, HeaderValue)>,
    request_id: &str,
) -> Response<ResponseBody> {
    headers.extend(sse_headers);
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(0));
    forward::stamp(&mut headers, request_id);
    let mut response = Response::new(full_body(bytes::Bytes::new()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// AWS's answer for a single PUT over 5 GiB.
pub fn entity_too_large(length: u64) -> S3Error {
    S3Error::EntityTooLarge {
        proposed_size: length,
        max_size_allowed: MAX_PUT_LEN,
    }
}

/// A format failure while sealing: s3kms's own fault (the length was checked before).
pub fn internal(error: crate::format::FormatError) -> S3Error {
    S3Error::InternalError {
        detail: format!("sealing: {error}"),
    }
}
