//! Multipart uploads in the embedded store: s3s-fs writes and assembles the parts; the sidecar's
//! [`UploadRecord`] and [`PartRecord`]s make the upload's life cycle S3's.
//!
//! Owns: an upload exists from CreateMultipartUpload until Complete or Abort, for its own bucket
//! and key only; every other use of its id is `NoSuchUpload` (s3s-fs answers ListParts for any
//! id and `AccessDenied` for a finished one). ListMultipartUploads lists the records. ListParts
//! gets the part ETags and pagination. CompleteMultipartUpload checks the requested parts
//! (existence, ETags, order, 5 MiB minimum) *before* s3s-fs, which otherwise forgets the upload
//! and keeps its parts when it refuses, and which accepts only part numbers 1..N (gaps are
//! renumbered here). Complete and Abort delete every part file of the upload.
//!
//! Order of writes: a part is recorded after s3s-fs stored it; an ending upload loses its
//! record first, then its part files, so a crash in between leaves only unreferenced files.

use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};

use super::objects::header_tags;
use super::sidecar::{ObjectRecord, PartRecord, UploadId, UploadRecord, now_unix_ms};
use super::store::{EmbeddedStore, check_key};
use super::upload_listing::UploadQuery;

/// Every part but the last must be at least this big.
const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Highest part number S3 accepts.
const MAX_PART_NUMBER: i32 = 10_000;
/// Most uploads or parts in one listing.
const MAX_LISTED: i32 = 1000;

pub async fn create(
    store: &EmbeddedStore,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    check_key(&key)?;
    let tags = header_tags(req.input.tagging.as_deref())?;
    if !store.bucket_exists(&bucket).await {
        return Err(s3_error!(NoSuchBucket));
    }
    let response = store.fs.create_multipart_upload(req).await?;
    let id = response
        .output
        .upload_id
        .as_deref()
        .and_then(UploadId::parse)
        .ok_or_else(|| S3Error::internal_error(std::io::Error::other("s3s-fs returned no upload id")))?;
    let record = UploadRecord {
        bucket,
        key,
        initiated_unix_ms: now_unix_ms(),
        tags,
    };
    store.sidecar.create_upload(&id, &record).await?;
    Ok(response)
}

pub async fn upload_part(
    store: &EmbeddedStore,
    req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let input = &req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let number = check_part_number(input.part_number)?;
    let response = store.fs.upload_part(req).await?;
    record_part(store, &id, number, response.output.e_tag.as_ref()).await?;
    Ok(response)
}

pub async fn upload_part_copy(
    store: &EmbeddedStore,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = &req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let number = check_part_number(input.part_number)?;
    if let CopySource::Bucket { key, .. } = &input.copy_source {
        check_key(key)?;
    }
    let response = store.fs.upload_part_copy(req).await?;
    let etag = response
        .output
        .copy_part_result
        .as_ref()
        .and_then(|result| result.e_tag.as_ref());
    record_part(store, &id, number, etag).await?;
    Ok(response)
}

pub async fn list_parts(
    store: &EmbeddedStore,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input.clone();
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let mut response = store.fs.list_parts(req).await?;
    let mut parts = response.output.parts.take().unwrap_or_default();
    parts.sort_by_key(|part| part.part_number);
    let after = input.part_number_marker.unwrap_or(0);
    parts.retain(|part| part.part_number.is_some_and(|number| number > after));
    let max_parts = input.max_parts.unwrap_or(MAX_LISTED).clamp(0, MAX_LISTED);
    let limit = usize::try_from(max_parts).unwrap_or(0);
    let is_truncated = parts.len() > limit;
    parts.truncate(limit);
    for part in &mut parts {
        if let Some(number) = part.part_number {
            let record = store.sidecar.part(&id, number).await?;
            part.e_tag = record.map(|record| ETag::Strong(record.etag));
        }
    }
    let output = &mut response.output;
    output.next_part_number_marker = parts.last().and_then(|part| part.part_number);
    output.parts = Some(parts);
    output.part_number_marker = input.part_number_marker;
    output.max_parts = Some(max_parts);
    output.is_truncated = Some(is_truncated);
    output.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    Ok(response)
}

pub async fn complete(
    store: &EmbeddedStore,
    mut req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    let (id, upload) = open_upload(store, &bucket, &key, &req.input.upload_id).await?;
    let requested = req
        .input
        .multipart_upload
        .as_mut()
        .and_then(|upload| upload.parts.as_mut());
    let Some(requested) = requested.filter(|parts| !parts.is_empty()) else {
        return Err(s3_error!(InvalidPart, "You must specify at least one part"));
    };
    let part_sizes = check_requested_parts(store, &id, requested).await?;
    let moves = renumber_parts(store, &id, requested).await?;
    let response = match store.fs.complete_multipart_upload(req).await {
        Ok(response) => response,
        Err(error) => {
            // s3s-fs refused after our checks (a precondition, say): the upload stays usable.
            undo_renumbering(store, &id, &moves).await;
            return Err(error);
        }
    };
    store.sidecar.remove_upload(&id).await?;
    remove_part_files(store, &id).await?;
    let record = ObjectRecord {
        tags: upload.tags,
        part_sizes,
    };
    store.sidecar.set_object(&bucket, &key, &record).await?;
    Ok(response)
}

pub async fn abort(
    store: &EmbeddedStore,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = &req.input;
    let id = open_upload(store, &input.bucket, &input.key, &input.upload_id).await?.0;
    let response = store.fs.abort_multipart_upload(req).await?;
    store.sidecar.remove_upload(&id).await?;
    remove_part_files(store, &id).await?;
    Ok(response)
}

pub async fn list_uploads(
    store: &EmbeddedStore,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    if !store.bucket_exists(&input.bucket).await {
        return Err(s3_error!(NoSuchBucket));
    }
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

/// The upload `id` names, if it is in progress for this bucket and key; else `NoSuchUpload`.
async fn open_upload(store: &EmbeddedStore, bucket: &str, key: &str, id: &str) -> S3Result<(UploadId, UploadRecord)> {
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

/// Records the ETag s3s-fs answered and the size of the part file it wrote.
async fn record_part(store: &EmbeddedStore, id: &UploadId, number: i32, etag: Option<&ETag>) -> S3Result<()> {
    let missing = || S3Error::internal_error(std::io::Error::other("s3s-fs answered a part without an ETag"));
    let etag = etag.ok_or_else(missing)?.value().to_owned();
    let size = tokio::fs::metadata(store.part_file(id, number))
        .await
        .map_err(S3Error::internal_error)?
        .len();
    store.sidecar.set_part(id, number, &PartRecord { etag, size }).await?;
    Ok(())
}

/// Checks the parts a Complete request names, as S3 does; returns their sizes, in order.
async fn check_requested_parts(
    store: &EmbeddedStore,
    id: &UploadId,
    requested: &[CompletedPart],
) -> S3Result<Vec<u64>> {
    let mut sizes = Vec::with_capacity(requested.len());
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
        let size = tokio::fs::metadata(store.part_file(id, number))
            .await
            .map_err(|_| invalid())?
            .len();
        sizes.push(size);
    }
    if sizes[..sizes.len() - 1].iter().any(|size| *size < MIN_PART_SIZE) {
        return Err(s3_error!(EntityTooSmall));
    }
    Ok(sizes)
}

/// s3s-fs assembles only parts numbered 1..N: moves part files (already checked, strictly
/// ascending) down into that range and renumbers the request to match; returns the moves made.
async fn renumber_parts(
    store: &EmbeddedStore,
    id: &UploadId,
    requested: &mut [CompletedPart],
) -> S3Result<Vec<(i32, i32)>> {
    let mut moves = Vec::new();
    for (part, target) in requested.iter_mut().zip(1..) {
        let Some(number) = part.part_number.filter(|number| *number != target) else {
            continue;
        };
        let (from, to) = (store.part_file(id, number), store.part_file(id, target));
        if let Err(error) = tokio::fs::rename(from, to).await {
            undo_renumbering(store, id, &moves).await;
            return Err(S3Error::internal_error(error));
        }
        moves.push((number, target));
        part.part_number = Some(target);
    }
    Ok(moves)
}

/// Puts renumbered part files back where their part records say they are (best effort).
async fn undo_renumbering(store: &EmbeddedStore, id: &UploadId, moves: &[(i32, i32)]) {
    for (number, target) in moves.iter().rev() {
        let _ = tokio::fs::rename(store.part_file(id, *target), store.part_file(id, *number)).await;
    }
}

/// Deletes every part file s3s-fs wrote for the upload (s3s-fs's Complete leaves those the
/// request did not name).
async fn remove_part_files(store: &EmbeddedStore, id: &UploadId) -> S3Result<()> {
    let prefix = format!(".upload_id-{}.part-", id.as_str());
    let mut entries = tokio::fs::read_dir(store.root())
        .await
        .map_err(S3Error::internal_error)?;
    while let Some(entry) = entries.next_entry().await.map_err(S3Error::internal_error)? {
        if entry.file_name().to_str().is_some_and(|name| name.starts_with(&prefix)) {
            match tokio::fs::remove_file(entry.path()).await {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(S3Error::internal_error(error));
                }
                _ => {}
            }
        }
    }
    Ok(())
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
