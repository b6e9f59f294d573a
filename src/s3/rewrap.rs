//! Re-wrapping an object's data key in place: the s3kms extension of CopyObject that
//! `s3kms rewrap` uses to move objects onto another KMS key (or the current version of theirs)
//! without moving their bytes through s3kms.
//!
//! A CopyObject of an object onto itself with `x-s3kms-copy-mode: rewrap` and SSE-KMS headers
//! naming the target key keeps the object's data key and ciphertext and replaces only the
//! envelope: the data key is opened as the user (`kms:Decrypt`, or the s3kms-managed key for
//! SSE-S3 objects) and encrypted under the target key (`kms:Encrypt`), both with the object's
//! own encryption context, both audited. The stored bytes are then copied by the upstream
//! itself: one CopyObject onto itself with the new metadata for a single stream, or a
//! multipart upload of `UploadPartCopy`s that keeps every backend part's number and bytes, so
//! the part layout (and the `-M` ETag suffix sizes depend on) survives. Either copy is pinned
//! to the ETag that was read, so an object overwritten meanwhile is not resurrected.
//!
//! An object already wrapped under the target key's current material is left alone and
//! answered `x-s3kms-rewrap-result: unchanged`, which makes a rewrap idempotent. The other
//! mode, `x-s3kms-copy-mode: reencrypt`, is an ordinary re-encrypting copy (`copy`) that may
//! also read an object s3kms did not write, so plaintext objects can be encrypted in place.
//!
//! Does not: change the object's encryption context, Bucket Key setting, metadata or tags.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::copy::{COPIED_HEADERS, copy_result};
use super::encryption::{self, ObjectEncryption, kms_error};
use super::layout::{self, StoredObject};
use super::multipart::{collect, completion_body};
use super::source::{CopySource, copy_source, copy_source_precondition};
use super::sse::{Envelope, Layout, SseAlgorithm, check_metadata_budget, effective_context, response_headers};
use super::{S3Api, S3Error, S3Request, forward, full_body};
use crate::format::MultipartLayout;
use crate::http::ResponseBody;
use crate::kms::Call;
use crate::kms::blob::Blob;
use crate::kms::shapes::EncryptRequest;
use crate::sigv4::uri_encode;
use crate::upstream::{UpstreamRequest, encode_query};

/// The request header that selects an s3kms copy mode.
pub const COPY_MODE: &str = "x-s3kms-copy-mode";
/// The response header that says whether a rewrap changed the object.
pub const REWRAP_RESULT: &str = "x-s3kms-rewrap-result";

/// What a CopyObject does with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// AWS's CopyObject: a fresh data key, the plaintext sealed again.
    Copy,
    /// In place: the same data key, wrapped under the requested KMS key.
    Rewrap,
    /// In place: a fresh data key; the source may be an object s3kms did not write.
    Reencrypt,
}

impl CopyMode {
    /// The mode the request asks for (`x-s3kms-copy-mode`).
    pub fn of(headers: &HeaderMap) -> Result<CopyMode, S3Error> {
        let Some(value) = headers.get(COPY_MODE) else {
            return Ok(CopyMode::Copy);
        };
        match value.to_str().unwrap_or("").trim() {
            "rewrap" => Ok(CopyMode::Rewrap),
            "reencrypt" => Ok(CopyMode::Reencrypt),
            other => Err(S3Error::InvalidArgument {
                message: "x-s3kms-copy-mode must be rewrap or reencrypt".to_owned(),
                name: COPY_MODE.to_owned(),
                value: other.to_owned(),
            }),
        }
    }

    /// Refuses an s3kms mode on a copy that is not of an object onto itself.
    pub fn check_in_place(self, source: &CopySource, bucket: &str, key: &str) -> Result<(), S3Error> {
        let in_place = source.bucket == bucket && source.key == key && source.version_id.is_none();
        if self == CopyMode::Copy || in_place {
            return Ok(());
        }
        Err(S3Error::InvalidRequest {
            message:
                "x-s3kms-copy-mode applies only to a copy of an object onto itself (same bucket and key, no versionId)"
                    .to_owned(),
        })
    }
}

/// Answers CopyObject with `x-s3kms-copy-mode: rewrap`.
pub async fn rewrap_object(
    api: &S3Api,
    request: &S3Request<'_>,
    encryption: &ObjectEncryption,
) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    CopyMode::Rewrap.check_in_place(&copy_source(&request.parts.headers)?, bucket, key)?;
    if encryption.algorithm != SseAlgorithm::AwsKms {
        return Err(S3Error::InvalidArgument {
            message: "A rewrap wraps the data key under a KMS key: send x-amz-server-side-encryption: aws:kms"
                .to_owned(),
            name: "x-amz-server-side-encryption".to_owned(),
            value: encryption.algorithm.as_str().to_owned(),
        });
    }
    let head = api
        .send(object_request(Method::HEAD, bucket, key, Vec::new(), HeaderMap::new()))
        .await?;
    if !head.status().is_success() {
        return Err(match head.status() {
            StatusCode::NOT_FOUND => S3Error::NoSuchKey,
            status => unavailable(format!("HEAD answered {status}")),
        });
    }
    if let Some(condition) = copy_source_precondition(&request.parts.headers, head.headers()) {
        return Err(S3Error::PreconditionFailed { condition });
    }
    let object = StoredObject::from_headers(head.headers(), layout::stored_size(head.headers()).unwrap_or(0))?;
    let envelope = object.envelope.clone().ok_or(S3Error::UnencryptedObject)?;
    let caller = request.caller();
    let data_key = encryption::unwrap(&api.kms, &caller, &envelope, bucket, key).await?;
    let client_context = envelope.client_context.clone().unwrap_or_default();
    let context = effective_context(bucket, key, &client_context, envelope.bucket_key)?;
    let output = api
        .kms
        .call(
            &caller,
            Call::Encrypt(EncryptRequest {
                key_id: encryption.key_id.clone(),
                plaintext: data_key.expose().to_vec(),
                encryption_context: context,
                grant_tokens: Vec::new(),
                encryption_algorithm: None,
                dry_run: false,
            }),
        )
        .await
        .map_err(kms_error)?;
    let (Some(key_arn), Some(wrapped_key)) = (output.key_id, output.ciphertext_blob) else {
        return Err(internal("Encrypt answered without a key or a blob"));
    };
    let etag = object.etag.clone().unwrap_or_else(|| HeaderValue::from_static("\"\""));
    if envelope.algorithm == SseAlgorithm::AwsKms
        && envelope.key_arn == key_arn
        && same_material(&envelope.wrapped_key, &wrapped_key)
    {
        return Ok(answer(request, &envelope, &etag, "unchanged"));
    }
    let rewrapped = Envelope {
        algorithm: SseAlgorithm::AwsKms,
        key_arn,
        wrapped_key,
        ..envelope.clone()
    };
    let mut headers = kept_headers(head.headers());
    check_metadata_budget(&headers, &rewrapped)?;
    for (name, value) in rewrapped.to_headers() {
        headers.insert(name, value);
    }
    let new_etag = match envelope.layout {
        Layout::Single => copy_stream(api, bucket, key, &etag, headers).await?,
        Layout::Multipart => {
            let layout = layout::load_layout(api, bucket, key, &object, &data_key).await?;
            copy_parts(api, bucket, key, &object, &layout, &etag, headers).await?
        }
    };
    Ok(answer(request, &rewrapped, &new_etag, "rewrapped"))
}

/// Whether two KMS blobs were sealed by the same key material.
fn same_material(old: &[u8], new: &[u8]) -> bool {
    match (Blob::parse(old), Blob::parse(new)) {
        (Some(old), Some(new)) => old.key_id == new.key_id && old.material_id == new.material_id,
        _ => false,
    }
}

/// The object headers a rewrap keeps: content headers and the client's user metadata.
fn kept_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in upstream {
        let text = name.as_str();
        let user_metadata = text.starts_with("x-amz-meta-") && !text.starts_with(super::sse::envelope::RESERVED_PREFIX);
        if user_metadata || COPIED_HEADERS.contains(&text) || text == "x-amz-storage-class" {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// A single stream: the upstream copies the object onto itself with the new metadata.
async fn copy_stream(
    api: &S3Api,
    bucket: &str,
    key: &str,
    etag: &HeaderValue,
    mut headers: HeaderMap,
) -> Result<HeaderValue, S3Error> {
    headers.insert(
        HeaderName::from_static("x-amz-copy-source"),
        copy_source_value(bucket, key)?,
    );
    headers.insert(HeaderName::from_static("x-amz-copy-source-if-match"), etag.clone());
    headers.insert(
        HeaderName::from_static("x-amz-metadata-directive"),
        HeaderValue::from_static("REPLACE"),
    );
    let response = api
        .send(object_request(Method::PUT, bucket, key, Vec::new(), headers))
        .await?;
    let (status, document) = collect_status(response).await?;
    result_etag(status, &document, "CopyObject")
}

/// A multipart object: a new upstream upload whose parts are server-side copies of the
/// object's backend parts, with the same numbers and bytes.
async fn copy_parts(
    api: &S3Api,
    bucket: &str,
    key: &str,
    object: &StoredObject,
    layout: &MultipartLayout,
    etag: &HeaderValue,
    mut headers: HeaderMap,
) -> Result<HeaderValue, S3Error> {
    if let Some(tagging) = object_tagging(api, bucket, key).await? {
        headers.insert(HeaderName::from_static("x-amz-tagging"), tagging);
    }
    let parts = backend_parts(layout, object)?;
    let response = api
        .send(object_request(
            Method::POST,
            bucket,
            key,
            vec![("uploads".to_owned(), String::new())],
            headers,
        ))
        .await?;
    let (status, document) = collect_status(response).await?;
    let upload_id = crate::xml::Document::parse(&document)
        .ok()
        .filter(|_| status.is_success())
        .and_then(|d| d.one("UploadId").map(str::to_owned))
        .ok_or_else(|| unavailable(format!("CreateMultipartUpload answered {status}")))?;
    let completed = copy_and_complete(api, bucket, key, etag, &upload_id, &parts).await;
    if completed.is_err() {
        let abort = object_request(
            Method::DELETE,
            bucket,
            key,
            vec![("uploadId".to_owned(), upload_id.clone())],
            HeaderMap::new(),
        );
        if let Err(error) = api.send(abort).await {
            tracing::warn!(bucket, key, %error, "could not abort the upload of a failed rewrap");
        }
    }
    completed
}

async fn copy_and_complete(
    api: &S3Api,
    bucket: &str,
    key: &str,
    etag: &HeaderValue,
    upload_id: &str,
    parts: &[(u32, std::ops::Range<u64>)],
) -> Result<HeaderValue, S3Error> {
    let mut copied = Vec::with_capacity(parts.len());
    for (number, range) in parts {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("x-amz-copy-source"),
            copy_source_value(bucket, key)?,
        );
        headers.insert(HeaderName::from_static("x-amz-copy-source-if-match"), etag.clone());
        let range = format!("bytes={}-{}", range.start, range.end - 1);
        headers.insert(
            HeaderName::from_static("x-amz-copy-source-range"),
            HeaderValue::from_str(&range).map_err(|_| internal("part range"))?,
        );
        let query = vec![
            ("partNumber".to_owned(), number.to_string()),
            ("uploadId".to_owned(), upload_id.to_owned()),
        ];
        let response = api
            .send(object_request(Method::PUT, bucket, key, query, headers))
            .await?;
        let (status, document) = collect_status(response).await?;
        let part_etag = result_etag(status, &document, "UploadPartCopy")?;
        copied.push((*number, part_etag.to_str().unwrap_or_default().to_owned()));
    }
    let mut request = object_request(
        Method::POST,
        bucket,
        key,
        vec![("uploadId".to_owned(), upload_id.to_owned())],
        HeaderMap::new(),
    );
    request.body = Some(completion_body(&copied));
    let (status, document) = collect_status(api.send(request).await?).await?;
    result_etag(status, &document, "CompleteMultipartUpload")
}

/// The upstream parts of a multipart object: every data part's stored range, then the
/// manifest, at the end of the last data part when the object has as many backend parts as
/// data parts (`-M` = N), as a part of its own numbered after it otherwise (`-M` = N + 1).
fn backend_parts(layout: &MultipartLayout, object: &StoredObject) -> Result<Vec<(u32, std::ops::Range<u64>)>, S3Error> {
    let entries = layout.parts();
    let mut parts = Vec::with_capacity(entries.len() + 1);
    for (index, entry) in entries.iter().enumerate() {
        let range = layout
            .part_stored_range(index)
            .ok_or_else(|| internal("a part outside the layout"))?;
        parts.push((entry.part_number, range));
    }
    let manifest = layout.manifest_offset()..object.stored_len;
    let merged = object
        .backend_parts
        .is_some_and(|count| count as usize == entries.len());
    match parts.last_mut() {
        Some(last) if merged => last.1.end = manifest.end,
        Some(&mut (number, _)) => parts.push((number + 1, manifest)),
        None => return Err(internal("a multipart object without parts")),
    }
    Ok(parts)
}

/// The object's tags as an `x-amz-tagging` value; `None` when it has none or the upstream
/// does not keep tags at all (`501 NotImplemented`).
pub(super) async fn object_tagging(api: &S3Api, bucket: &str, key: &str) -> Result<Option<HeaderValue>, S3Error> {
    let request = object_request(
        Method::GET,
        bucket,
        key,
        vec![("tagging".to_owned(), String::new())],
        HeaderMap::new(),
    );
    let (status, document) = collect_status(api.send(request).await?).await?;
    if status == StatusCode::NOT_IMPLEMENTED {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(unavailable(format!("GetObjectTagging answered {status}")));
    }
    let parsed = crate::xml::Document::parse(&document).map_err(|error| unavailable(error.to_string()))?;
    let keys = parsed.all("TagSet/Tag/Key");
    let values = parsed.all("TagSet/Tag/Value");
    if keys.is_empty() {
        return Ok(None);
    }
    let pairs: Vec<(String, String)> = keys
        .iter()
        .zip(values.iter().chain(std::iter::repeat(&"")))
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    HeaderValue::from_str(&encode_query(&pairs))
        .map(Some)
        .map_err(|_| internal("tags"))
}

fn object_request(
    method: Method,
    bucket: &str,
    key: &str,
    query: Vec<(String, String)>,
    headers: HeaderMap,
) -> UpstreamRequest {
    UpstreamRequest {
        method,
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        query,
        headers,
        body: None,
    }
}

/// `x-amz-copy-source` for `bucket/key`, URL-encoded as S3 expects.
fn copy_source_value(bucket: &str, key: &str) -> Result<HeaderValue, S3Error> {
    let path = format!("{bucket}/{key}");
    HeaderValue::from_str(&uri_encode(path.as_bytes(), true)).map_err(|_| internal("copy source"))
}

/// A small upstream answer, whole, with its status.
async fn collect_status(response: Response<hyper::body::Incoming>) -> Result<(StatusCode, Bytes), S3Error> {
    let (parts, body) = collect(response).await?;
    Ok((parts.status, body))
}

/// The `<ETag>` of a copy or completion result; S3 may answer `200` with an `<Error>`.
fn result_etag(status: StatusCode, document: &[u8], operation: &str) -> Result<HeaderValue, S3Error> {
    let parsed = crate::xml::Document::parse(document).ok();
    let failed = || {
        let code = parsed
            .as_ref()
            .and_then(|d| d.one("Code").map(str::to_owned))
            .unwrap_or_default();
        if status == StatusCode::PRECONDITION_FAILED || code == "PreconditionFailed" {
            // Overwritten since it was read: the new object is not ours to rewrap.
            S3Error::PreconditionFailed {
                condition: "x-amz-copy-source-If-Match",
            }
        } else {
            unavailable(format!("{operation} answered {status} {code}"))
        }
    };
    let Some(document) = parsed.as_ref().filter(|d| status.is_success() && d.root != "Error") else {
        return Err(failed());
    };
    document
        .one("ETag")
        .and_then(|etag| HeaderValue::from_str(etag).ok())
        .ok_or_else(failed)
}

/// The CopyObjectResult answer, with the SSE headers of the envelope now stored.
fn answer(
    request: &S3Request<'_>,
    envelope: &Envelope,
    etag: &HeaderValue,
    result: &'static str,
) -> Response<ResponseBody> {
    let mut response = Response::new(full_body(copy_result(etag.to_str().unwrap_or_default())));
    let headers = response.headers_mut();
    headers.extend(response_headers(
        request.operation,
        &encryption::applied(envelope, None),
    ));
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    headers.insert(HeaderName::from_static(REWRAP_RESULT), HeaderValue::from_static(result));
    forward::stamp(headers, request.request_id);
    response
}

fn unavailable(detail: String) -> S3Error {
    S3Error::ServiceUnavailable {
        detail: format!("rewrap: upstream {detail}"),
    }
}

fn internal(detail: &str) -> S3Error {
    S3Error::InternalError {
        detail: format!("rewrap: {detail}"),
    }
}
