//! Object operations of the embedded store: PutObject, GetObject, HeadObject, DeleteObject(s)
//! and DeleteBucket, over the layout of [`ObjectFiles`](super::object_files::ObjectFiles).
//!
//! Owns: every object operation answers `NoSuchBucket` for a missing bucket; PutObject streams
//! the body to a temp file (MD5 and requested checksums computed on the way), verifies it, and
//! only then commits, so a failed or refused upload leaves the old object untouched;
//! `If-Match`/`If-None-Match` on PutObject are checked against the record being replaced,
//! under the key's lock. Reads honour `Range` and `?partNumber=N` (a byte range over the layout
//! [`PartSlice`] finds, 206 and `x-amz-mp-parts-count`) and report `x-amz-tagging-count`.
//!
//! Does not: evaluate conditional GET/HEAD headers (s3kms's proxy layer does, as for every
//! upstream), or keep versions.

use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};

use super::checksums;
use super::meta::{ContentHeaders, ObjectMeta, format_expires, now_unix_ms, user_metadata};
use super::parts::PartSlice;
use super::store::EmbeddedStore;
use super::streams::{etag_of, file_body, write_body};
use super::tags::ObjectTags;

pub async fn put_object(
    store: &EmbeddedStore,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let S3Request {
        mut input,
        trailing_headers,
        ..
    } = req;
    if let Some(class) = &input.storage_class
        && !["STANDARD", "REDUCED_REDUNDANCY"].contains(&class.as_str())
    {
        return Err(s3_error!(InvalidStorageClass));
    }
    let tags = header_tags(input.tagging.as_deref())?;
    store.require_bucket(&input.bucket).await?;
    let mut hasher = checksums::hasher_for(&input)?;
    let mut temp = store.objects.temp_file().await?;
    let written = write_body(input.body.take(), &mut temp.file, &mut hasher).await?;
    let checksums = checksums::verify(&input, trailing_headers.as_ref(), hasher.finalize(), &written)?;
    let data = store.objects.place_data(&input.bucket, temp).await?;
    let mut headers = ContentHeaders {
        content_type: input.content_type.take(),
        content_encoding: input.content_encoding.take(),
        content_disposition: input.content_disposition.take(),
        content_language: input.content_language.take(),
        cache_control: input.cache_control.take(),
        expires: format_expires(input.expires.as_ref()),
        website_redirect_location: input.website_redirect_location.take(),
    };
    headers
        .content_type
        .get_or_insert_with(|| "binary/octet-stream".to_owned());
    let meta = ObjectMeta {
        key: input.key,
        data: data.name.clone(),
        size: written.size,
        etag: etag_of(&written.md5),
        last_modified_unix_ms: now_unix_ms(),
        headers,
        user_metadata: user_metadata(input.metadata),
        checksums: checksums.clone().into(),
        tags,
        part_sizes: Vec::new(),
    };
    let (if_match, if_none_match) = (input.if_match, input.if_none_match);
    store
        .objects
        .commit(&input.bucket, &meta, data, |current| {
            check_write_conditions(current, if_match.as_ref(), if_none_match.as_ref())
        })
        .await?;
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(meta.e_tag()),
        checksum_crc32: checksums.checksum_crc32,
        checksum_crc32c: checksums.checksum_crc32c,
        checksum_sha1: checksums.checksum_sha1,
        checksum_sha256: checksums.checksum_sha256,
        checksum_crc64nvme: checksums.checksum_crc64nvme,
        ..Default::default()
    }))
}

pub async fn get_object(
    store: &EmbeddedStore,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let Some((meta, mut file)) = store.objects.open(&input.bucket, &input.key).await? else {
        return Err(store.missing_object(&input.bucket).await);
    };
    let (range, part) = requested_range(&meta, input.range, input.part_number)?;
    let (start, length) = match &range {
        Some(range) => (range.start, range.end - range.start),
        None => (0, meta.size),
    };
    if start > 0 {
        use tokio::io::AsyncSeekExt;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(S3Error::internal_error)?;
    }
    let whole = length == meta.size;
    let checksum = if whole {
        meta.checksums.to_dto()
    } else {
        Checksum::default()
    };
    let headers = &meta.headers;
    let output = GetObjectOutput {
        body: Some(file_body(file, length)),
        content_length: Some(i64::try_from(length).map_err(S3Error::internal_error)?),
        content_range: range.map(|range| content_range(range.start, range.end, meta.size)),
        last_modified: Some(meta.last_modified()),
        e_tag: Some(meta.e_tag()),
        metadata: meta.metadata(),
        content_type: headers.content_type.clone(),
        content_encoding: headers.content_encoding.clone(),
        content_disposition: headers.content_disposition.clone(),
        content_language: headers.content_language.clone(),
        cache_control: headers.cache_control.clone(),
        expires: headers.expires(),
        website_redirect_location: headers.website_redirect_location.clone(),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        tag_count: tag_count(&meta.tags),
        parts_count: part.and_then(|part| part.parts_count),
        accept_ranges: Some("bytes".to_owned()),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

pub async fn head_object(
    store: &EmbeddedStore,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let Some(meta) = store.objects.meta(&input.bucket, &input.key).await? else {
        return Err(store.missing_object(&input.bucket).await);
    };
    let (range, part) = requested_range(&meta, input.range, input.part_number)?;
    let length = range.as_ref().map_or(meta.size, |range| range.end - range.start);
    let headers = &meta.headers;
    let checksum = meta.checksums.to_dto();
    let mut response = S3Response::new(HeadObjectOutput {
        content_length: Some(i64::try_from(length).map_err(S3Error::internal_error)?),
        content_range: range
            .as_ref()
            .map(|range| content_range(range.start, range.end, meta.size)),
        last_modified: Some(meta.last_modified()),
        e_tag: Some(meta.e_tag()),
        metadata: meta.metadata(),
        content_type: headers.content_type.clone(),
        content_encoding: headers.content_encoding.clone(),
        content_disposition: headers.content_disposition.clone(),
        content_language: headers.content_language.clone(),
        cache_control: headers.cache_control.clone(),
        expires: headers.expires(),
        website_redirect_location: headers.website_redirect_location.clone(),
        checksum_crc32: checksum.checksum_crc32,
        checksum_crc32c: checksum.checksum_crc32c,
        checksum_sha1: checksum.checksum_sha1,
        checksum_sha256: checksum.checksum_sha256,
        checksum_crc64nvme: checksum.checksum_crc64nvme,
        parts_count: part.and_then(|part| part.parts_count),
        accept_ranges: Some("bytes".to_owned()),
        ..Default::default()
    });
    if range.is_some() {
        response.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(response)
}

pub async fn delete_object(
    store: &EmbeddedStore,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let DeleteObjectInput { bucket, key, .. } = req.input;
    store.require_bucket(&bucket).await?;
    store.objects.remove(&bucket, &key).await?;
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

pub async fn delete_objects(
    store: &EmbeddedStore,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let DeleteObjectsInput { bucket, delete, .. } = req.input;
    store.require_bucket(&bucket).await?;
    let quiet = delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for object in delete.objects {
        match store.objects.remove(&bucket, &object.key).await {
            Ok(()) if quiet => {}
            Ok(()) => deleted.push(DeletedObject {
                key: Some(object.key),
                version_id: object.version_id,
                ..Default::default()
            }),
            Err(error) => errors.push(Error {
                code: Some("InternalError".to_owned()),
                key: Some(object.key),
                message: Some(error.to_string()),
                version_id: object.version_id,
            }),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}

/// Refuses to delete a bucket that still holds objects (s3s-fs would delete it with them);
/// uploads still in progress end with the bucket, so a new bucket of that name has none.
pub async fn delete_bucket(
    store: &EmbeddedStore,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = req.input.bucket.clone();
    store.require_bucket(&bucket).await?;
    if !store.objects.is_empty(&bucket).await? {
        return Err(s3_error!(BucketNotEmpty));
    }
    let response = store.fs.delete_bucket(req).await?;
    for (id, upload) in store.sidecar.uploads().await? {
        if upload.bucket == bucket {
            store.sidecar.remove_upload(&id).await?;
        }
    }
    Ok(response)
}

/// Parses `x-amz-tagging`; no header means no tags.
pub fn header_tags(header: Option<&str>) -> S3Result<ObjectTags> {
    Ok(header.map(ObjectTags::from_header).transpose()?.unwrap_or_default())
}

/// `If-Match` / `If-None-Match` on a write, against the object it would replace.
pub fn check_write_conditions(
    current: Option<&ObjectMeta>,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<()> {
    if let Some(condition) = if_none_match {
        let exists_and_matches = current.is_some_and(|current| match condition.as_etag() {
            None => true,
            Some(etag) => etag.value() == current.etag,
        });
        if exists_and_matches {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    if let Some(condition) = if_match {
        let Some(current) = current else {
            return Err(s3_error!(NoSuchKey));
        };
        if condition.as_etag().is_some_and(|etag| etag.value() != current.etag) {
            return Err(s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            ));
        }
    }
    Ok(())
}

/// The byte range a read asked for (`Range` or `partNumber`, not both); `None` for all.
fn requested_range(
    meta: &ObjectMeta,
    range: Option<Range>,
    part_number: Option<i32>,
) -> S3Result<(Option<std::ops::Range<u64>>, Option<PartSlice>)> {
    match (range, part_number) {
        (Some(_), Some(_)) => Err(s3_error!(InvalidArgument, "cannot specify both Range and partNumber")),
        (Some(range), None) => Ok((Some(range.check(meta.size)?), None)),
        (None, Some(number)) => {
            let part = PartSlice::select(&meta.part_sizes, meta.size, number)?;
            let range = (part.length > 0).then(|| part.start..part.start + part.length);
            Ok((range, Some(part)))
        }
        (None, None) => Ok((None, None)),
    }
}

fn content_range(start: u64, end: u64, size: u64) -> String {
    format!("bytes {start}-{}/{size}", end - 1)
}

/// `x-amz-tagging-count`: present only when the object has tags.
fn tag_count(tags: &ObjectTags) -> Option<i32> {
    if tags.is_empty() {
        return None;
    }
    i32::try_from(tags.len()).ok()
}
