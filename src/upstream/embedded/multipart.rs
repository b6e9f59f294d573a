//! Multipart uploads in the embedded store, up to completion (which is `completion.rs`): the
//! sidecar's [`UploadRecord`] and [`PartRecord`]s are the upload's whole state.
//!
//! Owns: an upload exists from CreateMultipartUpload until Complete or Abort, for its own bucket
//! and key only; every other use of its id is `NoSuchUpload`. Each part is streamed to a temp
//! file (its MD5 is its ETag), moved into the upload's directory, then recorded; a re-uploaded
//! part number replaces the earlier part. ListParts and ListMultipartUploads read the records.
//! Every operation on an upload answers `NoSuchBucket` first if the bucket is gone.

use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::meta::{ContentHeaders, format_expires, now_unix_ms, user_metadata};
use super::objects::header_tags;
use super::records::{TempFile, random_hex, remove_file};
use super::sidecar::{PartRecord, UploadId, UploadRecord};
use super::store::EmbeddedStore;
use super::streams::{Written, append_file, etag_of, write_body};
use super::upload_listing::UploadQuery;

/// Highest part number S3 accepts.
const MAX_PART_NUMBER: i32 = 10_000;
/// Most uploads or parts in one listing.
const MAX_LISTED: i32 = 1000;

pub async fn create(
    store: &EmbeddedStore,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    let tags = header_tags(input.tagging.as_deref())?;
    store.require_bucket(&input.bucket).await?;
    let id = UploadId::new();
    let record = UploadRecord {
        bucket: input.bucket.clone(),
        key: input.key.clone(),
        initiated_unix_ms: now_unix_ms(),
        tags,
        headers: ContentHeaders {
            content_type: input.content_type,
            content_encoding: input.content_encoding,
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            expires: format_expires(input.expires.as_ref()),
            website_redirect_location: input.website_redirect_location,
        },
        user_metadata: user_metadata(input.metadata),
    };
    store.sidecar.create_upload(&id, &record).await?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(id.as_str().to_owned()),
        ..Default::default()
    }))
}

pub async fn upload_part(
    store: &EmbeddedStore,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let input = req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let number = check_part_number(input.part_number)?;
    let mut temp = store.objects.temp_file().await?;
    let written = write_body(input.body, &mut temp.file, &mut Default::default()).await?;
    if let Some(content_md5) = &input.content_md5 {
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.decode(content_md5);
        if expected.ok().as_deref() != Some(&written.md5[..]) {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let etag = record_part(store, &id, number, temp, &written).await?;
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(ETag::Strong(etag)),
        ..Default::default()
    }))
}

pub async fn upload_part_copy(
    store: &EmbeddedStore,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let number = check_part_number(input.part_number)?;
    let CopySource::Bucket { bucket, key, .. } = &input.copy_source else {
        return Err(s3_error!(NotImplemented, "only bucket copy sources are supported"));
    };
    let Some((source, mut file)) = store.objects.open(bucket, key).await? else {
        return Err(store.missing_object(bucket).await);
    };
    let (start, length) = copy_range(input.copy_source_range.as_deref(), source.size)?;
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(S3Error::internal_error)?;
    let mut temp = store.objects.temp_file().await?;
    let written = append_file(&mut file.take(length), &mut temp.file).await?;
    let etag = record_part(store, &id, number, temp, &written).await?;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(ETag::Strong(etag)),
            last_modified: Some(Timestamp::from(std::time::SystemTime::now())),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

pub async fn list_parts(
    store: &EmbeddedStore,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let after = input.part_number_marker.unwrap_or(0);
    let max_parts = input.max_parts.unwrap_or(MAX_LISTED).clamp(0, MAX_LISTED);
    let limit = usize::try_from(max_parts).unwrap_or(0);
    let mut parts: Vec<Part> = store
        .sidecar
        .parts(&id)
        .await?
        .into_iter()
        .filter(|(number, _)| *number > after)
        .map(|(number, record)| Part {
            part_number: Some(number),
            e_tag: Some(ETag::Strong(record.etag)),
            size: Some(i64::try_from(record.size).unwrap_or(i64::MAX)),
            last_modified: Some(Timestamp::from(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(record.last_modified_unix_ms),
            )),
            ..Default::default()
        })
        .collect();
    let is_truncated = parts.len() > limit;
    parts.truncate(limit);
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: parts.last().and_then(|part| part.part_number),
        max_parts: Some(max_parts),
        is_truncated: Some(is_truncated),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(parts),
        ..Default::default()
    }))
}

pub async fn abort(
    store: &EmbeddedStore,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    store.sidecar.remove_upload(&id).await?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_uploads(
    store: &EmbeddedStore,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    store.require_bucket(&input.bucket).await?;
    let mut uploads = store.sidecar.uploads().await?;
    uploads.retain(|(_, upload)| upload.bucket == input.bucket);
    let max_uploads = input.max_uploads.unwrap_or(MAX_LISTED).clamp(0, MAX_LISTED);
    let query = UploadQuery {
        prefix: input.prefix.as_deref().unwrap_or(""),
        delimiter: input.delimiter.as_deref().filter(|delimiter| !delimiter.is_empty()),
        key_marker: input.key_marker.as_deref(),
        upload_id_marker: input.upload_id_marker.as_deref(),
        max_uploads: usize::try_from(max_uploads).unwrap_or(0),
    };
    let page = query.select(uploads);
    let output = ListMultipartUploadsOutput {
        bucket: Some(input.bucket.clone()),
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        key_marker: input.key_marker.clone(),
        upload_id_marker: input.upload_id_marker.clone(),
        max_uploads: Some(max_uploads),
        is_truncated: Some(page.is_truncated),
        next_key_marker: page.next_key_marker,
        next_upload_id_marker: page.next_upload_id_marker,
        uploads: Some(page.uploads.into_iter().map(listed_upload).collect()),
        common_prefixes: Some(
            page.common_prefixes
                .into_iter()
                .map(|prefix| CommonPrefix { prefix: Some(prefix) })
                .collect(),
        ),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// The upload `id` names, if it is in progress for this bucket and key; `NoSuchBucket` if the
/// bucket is gone, else `NoSuchUpload`.
pub async fn open_upload(
    store: &EmbeddedStore,
    bucket: &str,
    key: &str,
    id: &str,
) -> S3Result<(UploadId, UploadRecord)> {
    store.require_bucket(bucket).await?;
    let id = UploadId::parse(id).ok_or_else(|| s3_error!(NoSuchUpload))?;
    match store.sidecar.upload(&id).await? {
        Some(upload) if upload.bucket == bucket && upload.key == key => Ok((id, upload)),
        _ => Err(s3_error!(NoSuchUpload)),
    }
}

fn check_part_number(number: i32) -> S3Result<i32> {
    if !(1..=MAX_PART_NUMBER).contains(&number) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    Ok(number)
}

/// Moves a written part into the upload's directory and records it (replacing, and then
/// deleting, an earlier part of the same number); returns its ETag value.
async fn record_part(
    store: &EmbeddedStore,
    id: &UploadId,
    number: i32,
    temp: TempFile,
    written: &Written,
) -> S3Result<String> {
    let dir = store.sidecar.upload_dir(id);
    let data = format!("{}.part", random_hex(16));
    temp.place(&dir.join(&data)).await?;
    let earlier = store.sidecar.part(id, number).await?;
    let record = PartRecord {
        etag: etag_of(&written.md5),
        size: written.size,
        data,
        last_modified_unix_ms: now_unix_ms(),
    };
    store.sidecar.set_part(id, number, &record).await?;
    if let Some(earlier) = earlier {
        remove_file(&dir.join(earlier.data)).await?;
    }
    Ok(record.etag)
}

/// `x-amz-copy-source-range: bytes=first-last` (inclusive, within the source); returns the
/// start and the length.
fn copy_range(header: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(header) = header else {
        return Ok((0, size));
    };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last"
        )
    };
    let (first, last) = header
        .strip_prefix("bytes=")
        .and_then(|range| range.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(s3_error!(InvalidRange));
    }
    Ok((first, last - first + 1))
}

fn listed_upload((id, upload): (UploadId, UploadRecord)) -> MultipartUpload {
    let initiated = std::time::UNIX_EPOCH + std::time::Duration::from_millis(upload.initiated_unix_ms);
    MultipartUpload {
        key: Some(upload.key),
        upload_id: Some(id.as_str().to_owned()),
        initiated: Some(Timestamp::from(initiated)),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges_are_inclusive_and_inside_the_source() {
        assert_eq!(copy_range(None, 10).expect("all"), (0, 10));
        assert_eq!(copy_range(Some("bytes=2-5"), 10).expect("range"), (2, 4));
        assert!(copy_range(Some("bytes=5-10"), 10).is_err());
        assert!(copy_range(Some("bytes=5-"), 10).is_err());
        assert!(copy_range(Some("2-5"), 10).is_err());
    }
}
