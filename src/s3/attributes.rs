//! GetObjectAttributes in plaintext terms: the object's size as the client wrote it and, for a
//! multipart object, the client's part count (from the authenticated manifest).
//!
//! Answered from one upstream HEAD (plus the manifest when `ObjectParts` is asked for a
//! multipart object, which needs `kms:Decrypt` as the user). Checksums are not reported.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};

use super::error::push_element as element;
use super::layout::{self, StoredObject, load_layout};
use super::sse::Layout;
use super::{S3Api, S3Error, S3Request, encryption, forward, full_body};
use crate::http::ResponseBody;
use crate::upstream::UpstreamRequest;

/// Answers GetObjectAttributes.
pub async fn object_attributes(api: &S3Api, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let wanted: Vec<String> = request
        .parts
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .collect();
    let query = request
        .query
        .iter()
        .filter(|(n, _)| n == "versionId")
        .cloned()
        .collect();
    let response = api
        .send(UpstreamRequest {
            method: Method::HEAD,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query,
            headers: HeaderMap::new(),
            body: None,
        })
        .await?;
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    let stored = layout::stored_size(response.headers()).unwrap_or(0);
    let object = StoredObject::from_headers(response.headers(), stored)?.at_version(request.query_value("versionId"));
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetObjectAttributesResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    if has(&wanted, "ETag")
        && let Some(etag) = object.etag.as_ref().and_then(|e| e.to_str().ok())
    {
        element(&mut xml, "ETag", etag.trim_matches('"'));
    }
    if has(&wanted, "ObjectParts")
        && let Some(envelope) = object.envelope.as_ref().filter(|e| e.layout == Layout::Multipart)
    {
        let data_key = encryption::unwrap(&api.kms, &request.caller(), envelope, bucket, key).await?;
        let layout = load_layout(api, bucket, key, &object, &data_key).await?;
        xml.push_str("<ObjectParts>");
        element(&mut xml, "TotalPartsCount", &layout.parts().len().to_string());
        xml.push_str("</ObjectParts>");
    }
    if has(&wanted, "StorageClass") {
        let class = response
            .headers()
            .get("x-amz-storage-class")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("STANDARD");
        element(&mut xml, "StorageClass", class);
    }
    if has(&wanted, "ObjectSize") {
        element(&mut xml, "ObjectSize", &object.plaintext_len()?.to_string());
    }
    xml.push_str("</GetObjectAttributesResponse>");
    let mut answer = Response::new(full_body(Bytes::from(xml)));
    *answer.status_mut() = StatusCode::OK;
    let headers = answer.headers_mut();
    for name in ["last-modified", "x-amz-version-id", "x-amz-delete-marker"] {
        if let Some(value) = response.headers().get(name) {
            headers.insert(http::HeaderName::from_static(name), value.clone());
        }
    }
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    forward::stamp(headers, request.request_id);
    Ok(answer)
}

fn has(wanted: &[String], name: &str) -> bool {
    wanted.iter().any(|w| w == name)
}
