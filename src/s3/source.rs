//! Copy sources: the plaintext of an object (or a range of it) for CopyObject and
//! UploadPartCopy, opened with `kms:Decrypt` as the user, under the request's
//! `x-amz-copy-source-if-*` preconditions.
//!
//! An object s3kms did not write is a source only where it could be read: in a bucket listed
//! in `plaintext_buckets`, or when it is being encrypted in place (`x-s3kms-copy-mode:
//! reencrypt` onto itself). Its bytes are then read as stored, pinned to the ETag seen.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use super::conditional::{self, Outcome};
use super::layout::{self, StoredObject};
use super::read::{Reader, Selection};
use super::rewrap::CopyMode;
use super::sse::Layout;
use super::{S3Api, S3Error, S3Request, encryption, forward};
use crate::format::{ByteRangeSpec, PlaintextRange};
use crate::upstream::{BoxError, UpstreamRequest};

/// The plaintext of an object, for a copy.
pub struct Source {
    /// Plaintext bytes the body yields.
    pub length: u64,
    /// The plaintext, authenticated as it streams (or as stored, for an unencrypted source).
    pub body: UnsyncBoxBody<Bytes, BoxError>,
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
    let object = StoredObject::from_headers(response.headers(), stored)?.at_version(source.version_id.as_deref());
    let mut headers = HeaderMap::new();
    forward::copy_headers(response.headers(), &mut headers);
    let Some(envelope) = object.envelope.clone() else {
        if !plaintext_source_allowed(api, request, source) {
            return Err(S3Error::UnencryptedObject);
        }
        return stored_source(api, request, source, &object, range, headers).await;
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
    let body = read.body.ok_or_else(|| S3Error::InternalError {
        detail: "copy planned without a body".to_owned(),
    })?;
    Ok(Source {
        length: read.range.map_or(plaintext_len, |range| range.len()),
        body: body.boxed_unsync(),
        headers,
    })
}

/// Whether an object s3kms did not write may be read as the source of this copy.
fn plaintext_source_allowed(api: &S3Api, request: &S3Request<'_>, source: &CopySource) -> bool {
    let in_place = request.address.bucket.as_deref() == Some(source.bucket.as_str())
        && request.address.key.as_deref() == Some(source.key.as_str())
        && source.version_id.is_none();
    api.plaintext_buckets.contains(&source.bucket)
        || (in_place && CopyMode::of(&request.parts.headers).ok() == Some(CopyMode::Reencrypt))
}

/// An unencrypted source, read as stored and pinned to the ETag its HEAD showed.
async fn stored_source(
    api: &S3Api,
    request: &S3Request<'_>,
    source: &CopySource,
    object: &StoredObject,
    range: Option<ByteRangeSpec>,
    headers: HeaderMap,
) -> Result<Source, S3Error> {
    let whole = object
        .stored_len
        .checked_sub(1)
        .and_then(|last| PlaintextRange::new(0, last));
    let selected = match range {
        None => whole,
        Some(spec) => spec.resolve(object.stored_len).ok(),
    };
    let invalid_range = || S3Error::InvalidRange {
        range_requested: header_text(&request.parts.headers, "x-amz-copy-source-range"),
        actual_object_size: object.stored_len,
    };
    if range.is_some() && selected.is_none() {
        return Err(invalid_range());
    }
    let (start, end) = selected.map_or((0, 0), |range| (range.first(), range.last() + 1));
    let mut upstream = layout::ranged_request(&source.bucket, &source.key, object, start, end);
    if range.is_none() {
        upstream.headers.remove(http::header::RANGE);
    }
    let length = end - start;
    let response = api.send(upstream).await?;
    if !response.status().is_success() {
        return Err(layout::changed_or_unavailable(response.status()));
    }
    if layout::stored_size(response.headers()).is_some_and(|size| size != object.stored_len) {
        return Err(layout::changed_or_unavailable(StatusCode::PRECONDITION_FAILED));
    }
    let body = response
        .into_body()
        .map_err(|error| Box::new(error) as BoxError)
        .boxed_unsync();
    Ok(Source { length, body, headers })
}

fn header_text(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(HeaderValue::as_bytes)
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default()
}

/// The first failing `x-amz-copy-source-if-*` precondition (AWS answers 412 for all four).
pub(super) fn copy_source_precondition(request: &HeaderMap, source: &HeaderMap) -> Option<&'static str> {
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
