//! CompleteMultipartUpload in the embedded store.
//!
//! Owns: the requested parts are checked as S3 checks them (at least one, ascending numbers,
//! each uploaded with the ETag given, every part but the last at least 5 MiB) before anything
//! changes, so a refused completion leaves the upload usable. The parts are then streamed, in
//! order, into one new data file, whose ETag is S3's `<md5 of the part MD5s>-<count>`; the
//! object is committed (with `If-Match`/`If-None-Match` checked under the key's lock) with the
//! upload's headers, metadata and tags and its part layout; only then does the upload end.
//! Parts not named by the request are discarded with the upload, as S3 does.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::meta::{ObjectMeta, now_unix_ms};
use super::multipart::open_upload;
use super::objects::check_write_conditions;
use super::sidecar::{PartRecord, UploadId};
use super::store::EmbeddedStore;
use super::streams::{append_file, multipart_etag};

/// Every part but the last must be at least this big.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

pub async fn complete(
    store: &EmbeddedStore,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let (id, upload) = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?;
    let requested = input
        .multipart_upload
        .as_ref()
        .and_then(|upload| upload.parts.as_deref())
        .unwrap_or_default();
    let parts = check_requested_parts(store, &id, requested).await?;
    let mut temp = store.objects.temp_file().await?;
    let mut part_md5s = Vec::with_capacity(parts.len());
    let upload_dir = store.sidecar.upload_dir(&id);
    for part in &parts {
        let path = upload_dir.join(&part.data);
        let mut file = tokio::fs::File::open(&path).await.map_err(S3Error::internal_error)?;
        part_md5s.push(append_file(&mut file, &mut temp.file).await?.md5);
    }
    let data = store.objects.place_data(&input.bucket, temp).await?;
    let meta = ObjectMeta {
        key: input.key.clone(),
        data: data.name.clone(),
        size: parts.iter().map(|part| part.size).sum(),
        etag: multipart_etag(&part_md5s),
        last_modified_unix_ms: now_unix_ms(),
        headers: upload.headers,
        user_metadata: upload.user_metadata,
        checksums: Default::default(),
        tags: upload.tags,
        part_sizes: parts.iter().map(|part| part.size).collect(),
    };
    let (if_match, if_none_match) = (input.if_match.as_ref(), input.if_none_match.as_ref());
    store
        .objects
        .commit(&input.bucket, &meta, data, |current| {
            check_write_conditions(current, if_match, if_none_match)
        })
        .await?;
    store.sidecar.remove_upload(&id).await?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(meta.e_tag()),
        ..Default::default()
    }))
}

/// Checks the parts a Complete request names, as S3 does; returns their records, in order.
async fn check_requested_parts(
    store: &EmbeddedStore,
    id: &UploadId,
    requested: &[CompletedPart],
) -> S3Result<Vec<PartRecord>> {
    if requested.is_empty() {
        return Err(s3_error!(InvalidPart, "You must specify at least one part"));
    }
    let mut records = Vec::with_capacity(requested.len());
    let mut previous = 0;
    for part in requested {
        let number = part
            .part_number
            .ok_or_else(|| s3_error!(InvalidPart, "a part has no part number"))?;
        if number <= previous {
            return Err(s3_error!(InvalidPartOrder));
        }
        previous = number;
        let invalid = || s3_error!(InvalidPart, "part {number} was not uploaded or its ETag does not match");
        let record = store.sidecar.part(id, number).await?.ok_or_else(invalid)?;
        if part.e_tag.as_ref().is_some_and(|etag| etag.value() != record.etag) {
            return Err(invalid());
        }
        records.push(record);
    }
    if records[..records.len() - 1]
        .iter()
        .any(|record| record.size < MIN_PART_SIZE)
    {
        return Err(s3_error!(EntityTooSmall));
    }
    Ok(records)
}
