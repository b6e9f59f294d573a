//! Object operations of the embedded store: s3s-fs for the bytes and metadata, plus the
//! sidecar's [`ObjectRecord`] for tags and multipart part sizes.
//!
//! Owns when an object's record changes: PutObject replaces it (tags from `x-amz-tagging`, no
//! parts); CopyObject gives the copy the source's part sizes (s3s-fs keeps the source's `-N`
//! ETag) and the source's tags unless `x-amz-tagging-directive: REPLACE`; DeleteObject(s) and
//! DeleteBucket drop it. The record is written after s3s-fs has stored the object, so a failed
//! write leaves the old record.
//!
//! Also: `?partNumber=N` on GET and HEAD (a byte range over the layout [`PartSlice`] finds, 206
//! and `x-amz-mp-parts-count`), `x-amz-tagging-count` on GET, and refusing to delete a bucket
//! that still holds objects (s3s-fs would delete it with everything in it).

use std::path::PathBuf;

use s3s::dto::*;
use s3s::{S3, S3Error, S3Request, S3Response, S3Result, s3_error};

use super::parts::PartSlice;
use super::sidecar::ObjectRecord;
use super::store::{EmbeddedStore, check_key};
use super::tags::ObjectTags;

pub async fn put_object(
    store: &EmbeddedStore,
    req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    check_key(&key)?;
    let tags = header_tags(req.input.tagging.as_deref())?;
    let response = store.fs.put_object(req).await?;
    let record = ObjectRecord {
        tags,
        part_sizes: Vec::new(),
    };
    store.sidecar.set_object(&bucket, &key, &record).await?;
    Ok(response)
}

pub async fn copy_object(
    store: &EmbeddedStore,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let CopySource::Bucket {
        bucket: source_bucket,
        key: source_key,
        ..
    } = &req.input.copy_source
    else {
        return store.fs.copy_object(req).await;
    };
    check_key(source_key)?;
    check_key(&req.input.key)?;
    let source = store
        .sidecar
        .object(source_bucket, source_key)
        .await?
        .unwrap_or_default();
    let replace_tags = req
        .input
        .tagging_directive
        .as_ref()
        .is_some_and(|directive| directive.as_str() == TaggingDirective::REPLACE);
    let tags = if replace_tags {
        header_tags(req.input.tagging.as_deref())?
    } else {
        source.tags
    };
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    let response = store.fs.copy_object(req).await?;
    let record = ObjectRecord {
        tags,
        part_sizes: source.part_sizes,
    };
    store.sidecar.set_object(&bucket, &key, &record).await?;
    Ok(response)
}

pub async fn get_object(
    store: &EmbeddedStore,
    mut req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    check_key(&key)?;
    let record = store.sidecar.object(&bucket, &key).await?.unwrap_or_default();
    let part = match req.input.part_number {
        Some(_) if req.input.range.is_some() => {
            return Err(s3_error!(InvalidArgument, "cannot specify both Range and partNumber"));
        }
        Some(number) => Some(PartSlice::select(
            &record.part_sizes,
            store.object_size(&bucket, &key).await?,
            number,
        )?),
        None => None,
    };
    if let Some(part) = &part {
        req.input.range = part.range();
    }
    let mut response = store.fs.get_object(req).await?;
    response.output.tag_count = tag_count(&record.tags);
    if let Some(part) = part {
        response.output.parts_count = part.parts_count;
    }
    Ok(response)
}

pub async fn head_object(
    store: &EmbeddedStore,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    check_key(&key)?;
    let part_number = req.input.part_number;
    let mut response = store.fs.head_object(req).await?;
    let Some(number) = part_number else {
        return Ok(response);
    };
    let record = store.sidecar.object(&bucket, &key).await?.unwrap_or_default();
    let part = PartSlice::select(&record.part_sizes, store.object_size(&bucket, &key).await?, number)?;
    response.output.parts_count = part.parts_count;
    if part.range().is_some() {
        response.output.content_length = Some(i64::try_from(part.length).map_err(S3Error::internal_error)?);
        response.output.content_range = Some(part.content_range());
        response.status = Some(http::StatusCode::PARTIAL_CONTENT);
    }
    Ok(response)
}

pub async fn delete_object(
    store: &EmbeddedStore,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
    check_key(&key)?;
    let response = store.fs.delete_object(req).await?;
    store.sidecar.remove_object(&bucket, &key).await?;
    Ok(response)
}

pub async fn delete_objects(
    store: &EmbeddedStore,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    for object in &req.input.delete.objects {
        check_key(&object.key)?;
    }
    let bucket = req.input.bucket.clone();
    let response = store.fs.delete_objects(req).await?;
    for deleted in response.output.deleted.iter().flatten() {
        if let Some(key) = &deleted.key {
            store.sidecar.remove_object(&bucket, key).await?;
        }
    }
    Ok(response)
}

pub async fn delete_bucket(
    store: &EmbeddedStore,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = req.input.bucket.clone();
    if holds_a_file(store.bucket_dir(&bucket)).await? {
        return Err(s3_error!(BucketNotEmpty));
    }
    let response = store.fs.delete_bucket(req).await?;
    store.sidecar.remove_bucket(&bucket).await?;
    Ok(response)
}

pub async fn get_object_tagging(
    store: &EmbeddedStore,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let GetObjectTaggingInput { bucket, key, .. } = req.input;
    store.object_size(&bucket, &key).await?;
    let record = store.sidecar.object(&bucket, &key).await?.unwrap_or_default();
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: record.tags.to_dto(),
        ..Default::default()
    }))
}

pub async fn put_object_tagging(
    store: &EmbeddedStore,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let PutObjectTaggingInput {
        bucket, key, tagging, ..
    } = req.input;
    let tags = ObjectTags::from_dto(tagging.tag_set)?;
    store.object_size(&bucket, &key).await?;
    let mut record = store.sidecar.object(&bucket, &key).await?.unwrap_or_default();
    record.tags = tags;
    store.sidecar.set_object(&bucket, &key, &record).await?;
    Ok(S3Response::new(PutObjectTaggingOutput::default()))
}

pub async fn delete_object_tagging(
    store: &EmbeddedStore,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let DeleteObjectTaggingInput { bucket, key, .. } = req.input;
    store.object_size(&bucket, &key).await?;
    let mut record = store.sidecar.object(&bucket, &key).await?.unwrap_or_default();
    record.tags = ObjectTags::default();
    store.sidecar.set_object(&bucket, &key, &record).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
}

/// Parses `x-amz-tagging`; no header means no tags.
pub fn header_tags(header: Option<&str>) -> S3Result<ObjectTags> {
    Ok(header.map(ObjectTags::from_header).transpose()?.unwrap_or_default())
}

/// `x-amz-tagging-count`: present only when the object has tags.
fn tag_count(tags: &ObjectTags) -> Option<i32> {
    if tags.is_empty() {
        return None;
    }
    i32::try_from(tags.len()).ok()
}

/// Whether a directory tree holds any file (s3s-fs leaves empty directories behind when it
/// deletes `a/b/key`, and those are not objects).
async fn holds_a_file(dir: PathBuf) -> S3Result<bool> {
    let mut pending = vec![dir];
    while let Some(dir) = pending.pop() {
        let mut entries = match tokio::fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(S3Error::internal_error(error)),
        };
        while let Some(entry) = entries.next_entry().await.map_err(S3Error::internal_error)? {
            if !entry.file_type().await.map_err(S3Error::internal_error)?.is_dir() {
                return Ok(true);
            }
            pending.push(entry.path());
        }
    }
    Ok(false)
}
