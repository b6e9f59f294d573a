//! Multipart uploads, per part: every part is its own authenticated stream under the upload's
//! one data key, and the completed object ends with the manifest (peer-implementations §9.4).
//!
//! - CreateMultipartUpload draws the data key (`kms:GenerateDataKey` as the user) and records
//!   the upload's envelope in the key store ([`records`]); the upload id is the upstream's, so
//!   ListMultipartUploads and resumption work unchanged, and any instance continues any upload.
//! - UploadPart unwraps the data key (`kms:Decrypt` as the user, AWS's rule). A part of 5 MiB
//!   or more goes straight upstream as stream kind 2; a smaller one (legal only as the last
//!   part) is sealed and **staged** in the key store, because the manifest must follow the last
//!   part and the upstream refuses non-last parts under 5 MiB. Each upload of a part number
//!   draws a fresh salt, hence fresh keys and nonces.
//! - CompleteMultipartUpload ([`complete`]) checks the client's list against the part records,
//!   builds the manifest, uploads it (merged with a staged last part, or as a part of its own),
//!   and completes upstream.
//!
//! Limit: the manifest needs a part number after a last part of 5 MiB or more, so part 10000
//! must be smaller than 5 MiB (AWS allows 5 GiB); such a part is refused at upload.

mod complete;
pub mod records;

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};

use super::encryption::{self, ObjectEncryption};
use super::put::{checksum_headers, entity_too_large, respond, sealed_headers, written_headers};
use super::source::{copy_source, open_source};
use super::sse::{Layout, check_metadata_budget, response_headers};
use super::stream::SealingBody;
use super::{Inbound, S3Api, S3Error, S3Request, body, forward, full_body};
use crate::crypto::Key256;
use crate::format::{MAX_PART_NUMBER, StreamEncryptor, StreamKind};
use crate::http::ResponseBody;
use crate::upstream::{BoxError, UpstreamBody, UpstreamRequest};
pub(super) use complete::completion_body;
pub use complete::{complete, parse_part_list};
pub use records::Uploads;
use records::{PartRecord, UploadRecord};

/// Parts below this plaintext size are staged (S3's minimum for every part but the last).
pub const MIN_PART_LEN: u64 = 5 << 20;
/// The largest part S3 takes.
pub const MAX_PART_LEN: u64 = 5 << 30;

/// Answers CreateMultipartUpload.
pub async fn create(
    api: &S3Api,
    request: &S3Request<'_>,
    encryption: &ObjectEncryption,
) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let data_key =
        encryption::generate(&api.kms, &request.caller(), encryption, bucket, key, Layout::Multipart).await?;
    check_metadata_budget(&request.parts.headers, &data_key.envelope)?;
    let response = api
        .send(UpstreamRequest {
            method: Method::POST,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query: api.upstream_query(request),
            headers: sealed_headers(&request.parts.headers, &data_key),
            body: None,
        })
        .await?;
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    let (parts, document) = collect(response).await?;
    let upload_id = crate::xml::Document::parse(&document)
        .ok()
        .and_then(|d| d.one("UploadId").map(str::to_owned))
        .ok_or_else(|| S3Error::ServiceUnavailable {
            detail: "the upstream's CreateMultipartUpload answer has no UploadId".to_owned(),
        })?;
    api.uploads
        .create(
            &upload_id,
            &UploadRecord::new(&upload_id, bucket, key, &data_key.envelope),
        )
        .await?;
    let applied = data_key.applied(encryption.context_echo.clone());
    Ok(xml_response(
        parts.status,
        document,
        response_headers(request.operation, &applied),
        request.request_id,
    ))
}

/// Answers UploadPart.
pub async fn upload_part(
    api: &S3Api,
    request: &S3Request<'_>,
    inbound: Inbound,
) -> Result<Response<ResponseBody>, S3Error> {
    let target = Target::of(api, request).await?;
    let body = inbound.body.ok_or(S3Error::MissingContentLength)?;
    let length = body.length();
    let primed = body::prime(body).await?;
    let verdict = inbound.verdict;
    let stored = target
        .store_part(api, primed.boxed_unsync(), length, Some(verdict.clone()))
        .await
        .map_err(|error| verdict.failure().unwrap_or(error))?;
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&stored.etag) {
        headers.insert(http::header::ETAG, etag);
    }
    headers.extend(checksum_headers(&verdict));
    let applied = encryption::applied(&target.record.envelope()?, None);
    Ok(respond(
        StatusCode::OK,
        headers,
        response_headers(request.operation, &applied),
        request.request_id,
    ))
}

/// Answers UploadPartCopy: the source range is opened and sealed again as a new part; stored
/// ciphertext is never copied as is.
pub async fn upload_part_copy(api: &S3Api, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
    let target = Target::of(api, request).await?;
    let source = copy_source(&request.parts.headers)?;
    let range = match request.parts.headers.get("x-amz-copy-source-range") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(crate::format::ByteRangeSpec::parse)
                .filter(|spec| matches!(spec, crate::format::ByteRangeSpec::FromTo(..)))
                .ok_or_else(|| S3Error::InvalidArgument {
                    message: "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy".to_owned(),
                    name: "x-amz-copy-source-range".to_owned(),
                    value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
                })?,
        ),
    };
    let source = open_source(api, request, &source, range).await?;
    let body = source.body.boxed_unsync();
    let stored = target.store_part(api, body, source.length, None).await?;
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyPartResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>{}</LastModified><ETag>{}</ETag></CopyPartResult>",
        stored.last_modified,
        crate::xml::escaped(&stored.etag)
    );
    let applied = encryption::applied(&target.record.envelope()?, None);
    Ok(xml_response(
        StatusCode::OK,
        Bytes::from(xml),
        response_headers(request.operation, &applied),
        request.request_id,
    ))
}

/// Answers AbortMultipartUpload: upstream first, then s3kms's records and staged parts. An
/// upload s3kms has no record of (created behind its back) is still aborted upstream.
pub async fn abort(api: &S3Api, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let upload_id = upload_id(request)?;
    if let Some(record) = api.uploads.find(upload_id).await?
        && (record.bucket != bucket || record.key != key)
    {
        return Err(records::no_such_upload(upload_id));
    }
    let response = api
        .send(UpstreamRequest {
            method: Method::DELETE,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query: api.upstream_query(request),
            headers: HeaderMap::new(),
            body: None,
        })
        .await?;
    let status = response.status();
    if status.is_success() || status == StatusCode::NOT_FOUND {
        api.uploads.forget(upload_id).await;
    }
    if !status.is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    Ok(forward::response(response, request.request_id))
}

/// Answers ListParts from the part records: plaintext sizes, staged parts included.
pub async fn list_parts(api: &S3Api, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let upload_id = upload_id(request)?;
    api.uploads.upload(upload_id, bucket, key).await?;
    let marker: u32 = request
        .query_value("part-number-marker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max_parts: usize = request
        .query_value("max-parts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let parts = api.uploads.parts(upload_id).await?;
    let remaining: Vec<&PartRecord> = parts.iter().filter(|p| p.part_number > marker).collect();
    let page = &remaining[..remaining.len().min(max_parts)];
    let truncated = remaining.len() > page.len();
    let escaped = crate::xml::escaped;
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><PartNumberMarker>{marker}</PartNumberMarker><NextPartNumberMarker>{}</NextPartNumberMarker><MaxParts>{max_parts}</MaxParts><IsTruncated>{truncated}</IsTruncated>",
        escaped(bucket),
        escaped(key),
        escaped(upload_id),
        page.last().map_or(0, |p| p.part_number),
    );
    let owner = format!(
        "<ID>{}</ID><DisplayName>{}</DisplayName>",
        escaped(&request.user.account_id),
        escaped(&request.user.name)
    );
    xml.push_str(&format!(
        "<Initiator>{owner}</Initiator><Owner>{owner}</Owner><StorageClass>STANDARD</StorageClass>"
    ));
    for part in page {
        xml.push_str(&format!(
            "<Part><PartNumber>{}</PartNumber><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size></Part>",
            part.part_number,
            part.last_modified,
            escaped(&part.etag),
            part.plaintext_len
        ));
    }
    xml.push_str("</ListPartsResult>");
    Ok(xml_response(
        StatusCode::OK,
        Bytes::from(xml),
        Vec::new(),
        request.request_id,
    ))
}

/// The upload a part request continues, and its data key.
struct Target {
    upload_id: String,
    part_number: u32,
    record: std::sync::Arc<UploadRecord>,
    data_key: Key256,
}

/// A stored part.
struct StoredPart {
    etag: String,
    last_modified: String,
}

impl Target {
    async fn of(api: &S3Api, request: &S3Request<'_>) -> Result<Target, S3Error> {
        let (bucket, key) = (request.bucket()?, request.key()?);
        let upload_id = upload_id(request)?;
        let part_number = part_number(request)?;
        let record = api.uploads.upload(upload_id, bucket, key).await?;
        let envelope = record.envelope()?;
        let data_key = encryption::unwrap(&api.kms, &request.caller(), &envelope, bucket, key).await?;
        Ok(Target {
            upload_id: upload_id.to_owned(),
            part_number,
            record,
            data_key,
        })
    }

    /// Seals `plaintext` (exactly `length` bytes) as this part: upstream, or staged.
    async fn store_part(
        &self,
        api: &S3Api,
        plaintext: http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>,
        length: u64,
        verdict: Option<super::body::Verdict>,
    ) -> Result<StoredPart, S3Error> {
        if length > MAX_PART_LEN {
            return Err(entity_too_large(length));
        }
        let kind = StreamKind::MultipartPart(self.part_number);
        let encryptor = StreamEncryptor::new(&self.data_key, kind, length, None).map_err(super::put::internal)?;
        let stored_len = encryptor.stored_len();
        let sealed = SealingBody::new(plaintext, encryptor, verdict).counting(api.metrics.bytes_encrypted());
        let report = sealed.report();
        let last_modified = iso8601_now();
        let (etag, staged) = if length < MIN_PART_LEN {
            let bytes = collect_sealed(sealed).await?;
            (format!("\"{}\"", hex::encode(Md5::digest(&bytes))), Some(bytes))
        } else {
            if self.part_number == MAX_PART_NUMBER {
                return Err(S3Error::InvalidArgument {
                    message: "Through s3kms, part 10000 must be smaller than 5 MiB: the upload's manifest follows the last part".to_owned(),
                    name: "partNumber".to_owned(),
                    value: self.part_number.to_string(),
                });
            }
            let response = api
                .upstream
                .send(UpstreamRequest {
                    method: Method::PUT,
                    bucket: Some(self.record.bucket.clone()),
                    key: Some(self.record.key.clone()),
                    query: vec![
                        ("partNumber".to_owned(), self.part_number.to_string()),
                        ("uploadId".to_owned(), self.upload_id.clone()),
                    ],
                    headers: HeaderMap::new(),
                    body: Some((sealed.boxed_unsync() as UpstreamBody, stored_len)),
                })
                .await
                .map_err(|error| api.upstream_failed(error))?;
            if response.status() == StatusCode::NOT_FOUND {
                // Aborted or completed upstream behind s3kms's back.
                return Err(records::no_such_upload(&self.upload_id));
            }
            if !response.status().is_success() {
                return Err(S3Error::ServiceUnavailable {
                    detail: format!("upstream UploadPart answered {}", response.status()),
                });
            }
            let etag = written_headers(response.headers())
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or_else(|| S3Error::ServiceUnavailable {
                    detail: "upstream UploadPart answered without an ETag".to_owned(),
                })?;
            (etag, None)
        };
        let crc64 = report.crc64().ok_or_else(|| S3Error::InternalError {
            detail: "a sealed part reported no CRC".to_owned(),
        })?;
        let record = PartRecord {
            part_number: self.part_number,
            etag: etag.clone(),
            plaintext_len: length,
            crc64,
            staged: staged.is_some(),
            last_modified: last_modified.clone(),
        };
        api.uploads
            .put_part(&self.upload_id, &record, staged.as_deref())
            .await?;
        Ok(StoredPart { etag, last_modified })
    }
}

/// Reads a sealed staged part whole (under 5 MiB plus overhead).
async fn collect_sealed(
    sealed: SealingBody<http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>>,
) -> Result<Bytes, S3Error> {
    let mut sealed = sealed;
    let mut bytes = bytes::BytesMut::new();
    while let Some(frame) = sealed.frame().await {
        let frame = frame.map_err(|error| S3Error::InternalError {
            detail: format!("staging part: {error}"),
        })?;
        if let Ok(data) = frame.into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.freeze())
}

fn upload_id<'a>(request: &'a S3Request<'_>) -> Result<&'a str, S3Error> {
    request
        .query_value("uploadId")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| records::no_such_upload(""))
}

fn part_number(request: &S3Request<'_>) -> Result<u32, S3Error> {
    let value = request.query_value("partNumber").unwrap_or("");
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| S3Error::InvalidArgument {
            message: "Part number must be an integer between 1 and 10000, inclusive".to_owned(),
            name: "partNumber".to_owned(),
            value: value.to_owned(),
        })
}

/// Reads a small upstream answer whole.
pub(super) async fn collect(
    response: Response<hyper::body::Incoming>,
) -> Result<(http::response::Parts, Bytes), S3Error> {
    let (parts, body) = response.into_parts();
    let bytes = http_body_util::Limited::new(body, 1 << 20)
        .collect()
        .await
        .map_err(|error| S3Error::ServiceUnavailable {
            detail: format!("upstream answer: {error}"),
        })?
        .to_bytes();
    Ok((parts, bytes))
}

/// An XML answer with the SSE headers.
fn xml_response(
    status: StatusCode,
    document: Bytes,
    sse_headers: Vec<(http::HeaderName, HeaderValue)>,
    request_id: &str,
) -> Response<ResponseBody> {
    let length = document.len();
    let mut response = Response::new(full_body(document));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.extend(sse_headers);
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    forward::stamp(headers, request_id);
    response
}

/// Now, as S3 writes timestamps in XML (`2026-11-29T01:02:03.000Z`).
fn iso8601_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let text = crate::kms::iso8601(seconds);
    text.replace('Z', ".000Z")
}
