//! CopyObject: the source opened (`kms:Decrypt` as the user) and sealed again under a fresh
//! data key for the destination (`kms:GenerateDataKey` as the user), streaming through s3kms.
//!
//! The destination's encryption comes from the copy request's SSE headers or the destination
//! bucket's default, never from the source (spec §1.7). User metadata is the source's unless
//! `x-amz-metadata-directive: REPLACE`, and so are its tags unless `x-amz-tagging-directive:
//! REPLACE`. The stored ciphertext is never copied as is: the
//! destination's data key is bound to the destination's ARN.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::encryption::{self, ObjectEncryption};
use super::put::{MAX_PUT_LEN, internal, sealed_headers, written_headers};
use super::rewrap::{CopyMode, object_tagging};
use super::source::{copy_source, open_source};
use super::sse::{Layout, check_metadata_budget, response_headers};
use super::stream::SealingBody;
use super::{S3Api, S3Error, S3Request, forward, full_body};
use crate::format::{StreamEncryptor, StreamKind};
use crate::http::ResponseBody;
use crate::upstream::{UpstreamBody, UpstreamRequest};

/// Object headers a COPY directive takes from the source.
pub(super) const COPIED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-website-redirect-location",
];

/// Answers CopyObject.
pub async fn copy_object(
    api: &S3Api,
    request: &S3Request<'_>,
    encryption: &ObjectEncryption,
    mode: CopyMode,
) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let client = &request.parts.headers;
    let source = copy_source(client)?;
    mode.check_in_place(&source, bucket, key)?;
    let replace = header(client, "x-amz-metadata-directive").is_some_and(|v| v.eq_ignore_ascii_case("REPLACE"));
    let changes_something = replace
        || mode == CopyMode::Reencrypt
        || !encryption.from_bucket_default
        || client.contains_key("x-amz-storage-class")
        || client.contains_key("x-amz-website-redirect-location");
    if source.bucket == bucket && source.key == key && source.version_id.is_none() && !changes_something {
        return Err(S3Error::InvalidRequest {
            message: "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.".to_owned(),
        });
    }
    let opened = open_source(api, request, &source, None).await?;
    if opened.length > MAX_PUT_LEN {
        return Err(S3Error::InvalidRequest {
            message: format!(
                "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_LEN}"
            ),
        });
    }
    let data_key = encryption::generate(&api.kms, &request.caller(), encryption, bucket, key, Layout::Single).await?;
    let mut headers = sealed_headers(&destination_headers(client, &opened.headers, replace), &data_key);
    headers.retain_copy_free();
    let replace_tags = header(client, "x-amz-tagging-directive").is_some_and(|v| v.eq_ignore_ascii_case("REPLACE"));
    if !replace_tags {
        // AWS's default directive, COPY: the destination gets the source's tags.
        headers.remove("x-amz-tagging");
        if let Some(tags) = object_tagging(api, &source.bucket, &source.key).await? {
            headers.insert(HeaderName::from_static("x-amz-tagging"), tags);
        }
    }
    check_metadata_budget(&headers, &data_key.envelope)?;
    let encryptor =
        StreamEncryptor::new(&data_key.key, StreamKind::SingleObject, opened.length, None).map_err(internal)?;
    let stored_len = encryptor.stored_len();
    let sealed = SealingBody::new(opened.body, encryptor, None).counting(api.metrics.bytes_encrypted());
    let response = api
        .send(UpstreamRequest {
            method: Method::PUT,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query: Vec::new(),
            headers,
            body: Some((sealed.boxed_unsync() as UpstreamBody, stored_len)),
        })
        .await?;
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    let written = written_headers(response.headers());
    let etag = written
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut answer = Response::new(full_body(copy_result(&etag)));
    *answer.status_mut() = StatusCode::OK;
    let out = answer.headers_mut();
    if let Some(version) = written.get("x-amz-version-id") {
        out.insert(HeaderName::from_static("x-amz-version-id"), version.clone());
    }
    out.extend(response_headers(
        request.operation,
        &data_key.applied(encryption.context_echo.clone()),
    ));
    out.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    forward::stamp(out, request.request_id);
    Ok(answer)
}

/// The `CopyObjectResult` document of a copy written now with `etag`.
pub(super) fn copy_result(etag: &str) -> Bytes {
    let last_modified = crate::kms::iso8601(crate::kms::now()).replace('Z', ".000Z");
    Bytes::from(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LastModified>{last_modified}</LastModified><ETag>{}</ETag></CopyObjectResult>",
        crate::xml::escaped(etag)
    ))
}

/// The destination's object headers: the client's request headers, with the source's user
/// metadata and content headers unless the directive is REPLACE.
fn destination_headers(client: &HeaderMap, source: &HeaderMap, replace: bool) -> HeaderMap {
    let mut headers = client.clone();
    if !replace {
        headers.retain_metadata_free();
        for (name, value) in source {
            let name_str = name.as_str();
            if name_str.starts_with("x-amz-meta-") || COPIED_HEADERS.contains(&name_str) {
                headers.append(name.clone(), value.clone());
            }
        }
    }
    headers
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Header filters for the destination PUT.
trait CopyHeaders {
    /// Drops the copy's own headers, so the upstream sees a plain PUT.
    fn retain_copy_free(&mut self);
    /// Drops user metadata and content headers (replaced by the source's).
    fn retain_metadata_free(&mut self);
}

impl CopyHeaders for HeaderMap {
    fn retain_copy_free(&mut self) {
        let names: Vec<HeaderName> = self
            .keys()
            .filter(|name| {
                let name = name.as_str();
                name.starts_with("x-amz-copy-source")
                    || name == "x-amz-metadata-directive"
                    || name == "x-amz-tagging-directive"
            })
            .cloned()
            .collect();
        for name in names {
            self.remove(name);
        }
    }

    fn retain_metadata_free(&mut self) {
        let names: Vec<HeaderName> = self
            .keys()
            .filter(|name| {
                let name = name.as_str();
                name.starts_with("x-amz-meta-") || COPIED_HEADERS.contains(&name)
            })
            .cloned()
            .collect();
        for name in names {
            self.remove(name);
        }
    }
}
