//! CompleteMultipartUpload: the client's part list checked against the part records, the
//! manifest sealed and uploaded after the last part, and the upstream upload completed.
//!
//! Placement of the manifest (format::manifest): when the last part was staged (under
//! 5 MiB), it is uploaded now with the manifest appended, as the upstream's last part
//! (`M = N`); otherwise the manifest is a part of its own after the last one (`M = N + 1`).
//! Either way the object's stored size depends only on its plaintext size and `M`, which
//! LIST and HEAD invert.
//!
//! Errors as AWS: `MalformedXML`, `InvalidPartOrder`, `InvalidPart` (unknown part or ETag),
//! `EntityTooSmall` (a part other than the last under 5 MiB), `NoSuchUpload`.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Response};
use http_body_util::BodyExt;

use super::records::PartRecord;
use super::{MIN_PART_LEN, Target, collect, upload_id, xml_response};
use crate::format::{Manifest, ManifestPlacement, PartEntry};
use crate::http::ResponseBody;
use crate::s3::sse::response_headers;
use crate::s3::{Inbound, S3Api, S3Error, S3Request, encryption};
use crate::upstream::{UpstreamBody, UpstreamRequest};

/// Largest CompleteMultipartUpload document accepted (10,000 parts with checksums fit).
const MAX_COMPLETE_DOCUMENT: usize = 4 << 20;

/// Answers CompleteMultipartUpload.
pub async fn complete(
    api: &S3Api,
    request: &S3Request<'_>,
    inbound: Inbound,
) -> Result<Response<ResponseBody>, S3Error> {
    let (bucket, key) = (request.bucket()?, request.key()?);
    let upload_id = upload_id(request)?.to_owned();
    let document = read_document(inbound).await?;
    let listed = parse_part_list(&document)?;
    let record = api.uploads.upload(&upload_id, bucket, key).await?;
    let envelope = record.envelope()?;
    let data_key = encryption::unwrap(&api.kms, &request.caller(), &envelope, bucket, key).await?;
    let parts = checked_parts(api, &upload_id, &listed).await?;
    let last = parts.last().ok_or(S3Error::MalformedXml)?;
    let placement = if last.staged {
        ManifestPlacement::MergedWithLastPart
    } else {
        ManifestPlacement::SeparatePart
    };
    let entries = parts
        .iter()
        .map(|part| PartEntry {
            part_number: part.part_number,
            plaintext_len: part.plaintext_len,
            crc64: part.crc64,
        })
        .collect();
    let manifest = Manifest::new(entries, placement).map_err(|error| S3Error::InternalError {
        detail: format!("manifest: {error}"),
    })?;
    let sealed = manifest.seal(&data_key);
    let mut upstream_parts: Vec<(u32, String)> = parts
        .iter()
        .filter(|part| !part.staged)
        .map(|part| (part.part_number, part.etag.clone()))
        .collect();
    let (final_number, final_bytes) = match placement {
        ManifestPlacement::MergedWithLastPart => {
            let staged = api.uploads.staged(&upload_id, last.part_number).await?;
            let mut bytes = BytesMut::with_capacity(staged.len() + sealed.len());
            bytes.extend_from_slice(&staged);
            bytes.extend_from_slice(&sealed);
            (last.part_number, bytes.freeze())
        }
        ManifestPlacement::SeparatePart => (last.part_number + 1, Bytes::from(sealed)),
    };
    let target = Target {
        upload_id: upload_id.clone(),
        part_number: final_number,
        record: record.clone(),
        data_key,
    };
    let etag = upload_raw_part(api, request, &target, final_bytes).await?;
    upstream_parts.push((final_number, etag));
    let response = api
        .send(UpstreamRequest {
            method: Method::POST,
            bucket: Some(bucket.to_owned()),
            key: Some(key.to_owned()),
            query: vec![("uploadId".to_owned(), upload_id.clone())],
            headers: completion_headers(&request.parts.headers),
            body: Some(completion_body(&upstream_parts)),
        })
        .await?;
    if !response.status().is_success() {
        return Ok(api.upstream_error(response, request).await);
    }
    let (parts_of_answer, answer) = collect(response).await?;
    if !String::from_utf8_lossy(&answer).contains("<Error>") {
        api.uploads.forget(&upload_id).await;
    }
    let mut headers = response_headers(request.operation, &encryption::applied(&envelope, None));
    if let Some(version) = parts_of_answer.headers.get("x-amz-version-id") {
        headers.push((http::HeaderName::from_static("x-amz-version-id"), version.clone()));
    }
    Ok(xml_response(
        parts_of_answer.status,
        answer,
        headers,
        request.request_id,
    ))
}

async fn read_document(inbound: Inbound) -> Result<Bytes, S3Error> {
    let Some(body) = inbound.body else {
        return Err(S3Error::MalformedXml);
    };
    if body.length() > MAX_COMPLETE_DOCUMENT as u64 {
        return Err(S3Error::MalformedXml);
    }
    let verdict = inbound.verdict;
    body.collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|_| verdict.failure().unwrap_or(S3Error::IncompleteBody))
}

/// The (part number, ETag) list of a CompleteMultipartUpload body, in ascending order.
pub fn parse_part_list(document: &[u8]) -> Result<Vec<(u32, String)>, S3Error> {
    let parsed = crate::xml::Document::parse(document).map_err(|_| S3Error::MalformedXml)?;
    if parsed.root != "CompleteMultipartUpload" {
        return Err(S3Error::MalformedXml);
    }
    let numbers = parsed.all("Part/PartNumber");
    let etags = parsed.all("Part/ETag");
    let count = parsed.count("Part");
    if count == 0 || numbers.len() != count || etags.len() != count {
        return Err(S3Error::MalformedXml);
    }
    let mut parts = Vec::with_capacity(count);
    for (number, etag) in numbers.into_iter().zip(etags) {
        let number: u32 = number.trim().parse().map_err(|_| S3Error::MalformedXml)?;
        if let Some((previous, _)) = parts.last()
            && number <= *previous
        {
            return Err(S3Error::InvalidPartOrder);
        }
        parts.push((number, etag.trim().to_owned()));
    }
    Ok(parts)
}

/// The records of the listed parts; AWS's errors for unknown parts and small non-last parts.
async fn checked_parts(api: &S3Api, upload_id: &str, listed: &[(u32, String)]) -> Result<Vec<PartRecord>, S3Error> {
    let mut parts = Vec::with_capacity(listed.len());
    for (index, (number, etag)) in listed.iter().enumerate() {
        let invalid = || S3Error::InvalidPart {
            part_number: *number,
            etag: etag.clone(),
        };
        let part = api.uploads.part(upload_id, *number).await?.ok_or_else(invalid)?;
        if unquoted(&part.etag) != unquoted(etag) {
            return Err(invalid());
        }
        if index + 1 < listed.len() && part.plaintext_len < MIN_PART_LEN {
            return Err(S3Error::EntityTooSmall {
                proposed_size: part.plaintext_len,
                min_size_allowed: MIN_PART_LEN,
            });
        }
        parts.push(part);
    }
    Ok(parts)
}

fn unquoted(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// Uploads already sealed bytes as upstream part `target.part_number`; its ETag.
async fn upload_raw_part(
    api: &S3Api,
    request: &S3Request<'_>,
    target: &Target,
    bytes: Bytes,
) -> Result<String, S3Error> {
    let length = bytes.len() as u64;
    let body: UpstreamBody = http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync();
    let response = api
        .send(UpstreamRequest {
            method: Method::PUT,
            bucket: request.address.bucket.clone(),
            key: request.address.key.clone(),
            query: vec![
                ("partNumber".to_owned(), target.part_number.to_string()),
                ("uploadId".to_owned(), target.upload_id.clone()),
            ],
            headers: HeaderMap::new(),
            body: Some((body, length)),
        })
        .await?;
    if !response.status().is_success() {
        return Err(S3Error::ServiceUnavailable {
            detail: format!("upstream UploadPart of the manifest answered {}", response.status()),
        });
    }
    response
        .headers()
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| S3Error::ServiceUnavailable {
            detail: "upstream UploadPart answered without an ETag".to_owned(),
        })
}

/// Headers of the upstream Complete: the client's conditional-write headers only.
fn completion_headers(client: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [http::header::IF_MATCH, http::header::IF_NONE_MATCH] {
        if let Some(value) = client.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    headers
}

/// The CompleteMultipartUpload document for the upstream's parts, as a body and its length.
pub(in crate::s3) fn completion_body(parts: &[(u32, String)]) -> (UpstreamBody, u64) {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            crate::xml::escaped(etag)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let length = xml.len() as u64;
    let body = http_body_util::Full::new(Bytes::from(xml))
        .map_err(|never| match never {})
        .boxed_unsync();
    (body, length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_lists_parse_in_order_and_refuse_disorder() {
        let document = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part><Part><ETag>\"b\"</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>";
        assert_eq!(
            parse_part_list(document).unwrap(),
            vec![(1, "\"a\"".to_owned()), (3, "\"b\"".to_owned())]
        );
        let disorder = b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>";
        assert!(matches!(parse_part_list(disorder), Err(S3Error::InvalidPartOrder)));
        assert!(matches!(
            parse_part_list(b"<CompleteMultipartUpload/>"),
            Err(S3Error::MalformedXml)
        ));
        assert!(matches!(parse_part_list(b"not xml <"), Err(S3Error::MalformedXml)));
    }

    proptest::proptest! {
        /// Any document: a part list in ascending order, or an error; never a panic.
        #[test]
        fn arbitrary_documents_never_panic(document in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            if let Ok(parts) = parse_part_list(&document) {
                proptest::prop_assert!(parts.windows(2).all(|pair| pair[0].0 < pair[1].0));
            }
        }
    }
}
