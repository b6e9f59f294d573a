//! Object operations of the embedded store: s3s-fs for the bytes and metadata, plus the
//! sidecar's [`ObjectRecord`] for tags and multipart part sizes.
//!
//! Owns when an object's record changes: PutObject replaces it (tags from `x-amz-tagging`, no
//! parts); CopyObject gives the copy the source's part sizes (s3s-fs keeps the source's `-N`
//! ETag) and the source's tags unless `x-amz-tagging-directive: REPLACE`; DeleteObject(s) and
//! DeleteBucket drop it. The record is written after s3s-fs has stored the object, so a failed
//! write leaves the old record. Reads trust a part layout only if its sizes add up to the file's
//! size; otherwise the object reads as one part.
//!
//! Also: `?partNumber=N` on GET and HEAD (a byte range over the recorded layout, 206 and
//! `x-amz-mp-parts-count`), `x-amz-tagging-count` on GET, GetObjectAttributes, and refusing to
//! delete a bucket that still holds objects (s3s-fs would delete it with everything in it).

use std::path::PathBuf;

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

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
    let record = store
        .sidecar
        .object(&bucket, &key)
        .await?
        .unwrap_or_default();
    let part = match req.input.part_number {
        Some(_) if req.input.range.is_some() => {
            return Err(s3_error!(
                InvalidArgument,
                "cannot specify both Range and partNumber"
            ));
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
    let record = store
        .sidecar
        .object(&bucket, &key)
        .await?
        .unwrap_or_default();
    let part = PartSlice::select(
        &record.part_sizes,
        store.object_size(&bucket, &key).await?,
        number,
    )?;
    response.output.parts_count = part.parts_count;
    if part.range().is_some() {
        response.output.content_length =
            Some(i64::try_from(part.length).map_err(S3Error::internal_error)?);
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
    let record = store
        .sidecar
        .object(&bucket, &key)
        .await?
        .unwrap_or_default();
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
        bucket,
        key,
        tagging,
        ..
    } = req.input;
    let tags = ObjectTags::from_dto(tagging.tag_set)?;
    store.object_size(&bucket, &key).await?;
    let mut record = store
        .sidecar
        .object(&bucket, &key)
        .await?
        .unwrap_or_default();
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
    let mut record = store
        .sidecar
        .object(&bucket, &key)
        .await?
        .unwrap_or_default();
    record.tags = ObjectTags::default();
    store.sidecar.set_object(&bucket, &key, &record).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
}

pub async fn get_object_attributes(
    store: &EmbeddedStore,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input.clone();
    let size = store.object_size(&input.bucket, &input.key).await?;
    let head = store
        .fs
        .head_object(req.map_input(|input| HeadObjectInput {
            bucket: input.bucket,
            key: input.key,
            ..Default::default()
        }))
        .await?
        .output;
    // s3s 0.14.1 does not split a comma-separated `x-amz-object-attributes` (what boto3 sends).
    let wanted = |name: &str| {
        let mut requested = input
            .object_attributes
            .iter()
            .flat_map(|attribute| attribute.as_str().split(','));
        requested.any(|attribute| attribute.trim() == name)
    };
    let record = store
        .sidecar
        .object(&input.bucket, &input.key)
        .await?
        .unwrap_or_default();
    let output = GetObjectAttributesOutput {
        e_tag: head.e_tag.filter(|_| wanted(ObjectAttributes::ETAG)),
        last_modified: head.last_modified,
        object_size: wanted(ObjectAttributes::OBJECT_SIZE)
            .then(|| i64::try_from(size).unwrap_or(i64::MAX)),
        storage_class: wanted(ObjectAttributes::STORAGE_CLASS)
            .then(|| StorageClass::from_static(StorageClass::STANDARD)),
        checksum: wanted(ObjectAttributes::CHECKSUM).then_some(Checksum {
            checksum_crc32: head.checksum_crc32,
            checksum_crc32c: head.checksum_crc32c,
            checksum_crc64nvme: head.checksum_crc64nvme,
            checksum_sha1: head.checksum_sha1,
            checksum_sha256: head.checksum_sha256,
            checksum_type: head.checksum_type,
        }),
        object_parts: wanted(ObjectAttributes::OBJECT_PARTS)
            .then(|| {
                object_parts(
                    &record.part_sizes,
                    size,
                    input.part_number_marker,
                    input.max_parts,
                )
            })
            .flatten(),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// The `ObjectParts` of GetObjectAttributes: only for an object assembled from parts.
fn object_parts(
    part_sizes: &[u64],
    object_size: u64,
    marker: Option<i32>,
    max_parts: Option<i32>,
) -> Option<GetObjectAttributesParts> {
    if part_sizes.is_empty() || part_sizes.iter().sum::<u64>() != object_size {
        return None;
    }
    let max_parts = max_parts.unwrap_or(1000).clamp(0, 1000);
    let after = marker.unwrap_or(0);
    let mut listed: Vec<ObjectPart> = part_sizes
        .iter()
        .zip(1..)
        .filter(|(_, number)| *number > after)
        .map(|(size, number)| ObjectPart {
            part_number: Some(number),
            size: Some(i64::try_from(*size).unwrap_or(i64::MAX)),
            ..Default::default()
        })
        .collect();
    let is_truncated = listed.len() > usize::try_from(max_parts).unwrap_or(0);
    listed.truncate(usize::try_from(max_parts).unwrap_or(0));
    Some(GetObjectAttributesParts {
        total_parts_count: i32::try_from(part_sizes.len()).ok(),
        part_number_marker: marker,
        next_part_number_marker: listed.last().and_then(|part| part.part_number),
        max_parts: Some(max_parts),
        is_truncated: Some(is_truncated),
        parts: Some(listed),
    })
}

/// Parses `x-amz-tagging`; no header means no tags.
pub fn header_tags(header: Option<&str>) -> S3Result<ObjectTags> {
    Ok(header
        .map(ObjectTags::from_header)
        .transpose()?
        .unwrap_or_default())
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
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(S3Error::internal_error)?
        {
            if !entry
                .file_type()
                .await
                .map_err(S3Error::internal_error)?
                .is_dir()
            {
                return Ok(true);
            }
            pending.push(entry.path());
        }
    }
    Ok(false)
}

/// One part of an object, located by `?partNumber=N`.
#[derive(Debug, PartialEq, Eq)]
struct PartSlice {
    start: u64,
    length: u64,
    object_size: u64,
    /// `x-amz-mp-parts-count`: only for objects assembled from parts.
    parts_count: Option<i32>,
}

impl PartSlice {
    /// Part `number` (from 1) of an object of `object_size` bytes laid out as `part_sizes`; an
    /// object without a (consistent) layout is one part.
    fn select(part_sizes: &[u64], object_size: u64, number: i32) -> S3Result<PartSlice> {
        let multipart = !part_sizes.is_empty() && part_sizes.iter().sum::<u64>() == object_size;
        let single = [object_size];
        let layout = if multipart { part_sizes } else { &single[..] };
        let index = usize::try_from(number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "part number must be an integer between 1 and 10000"
                )
            })?;
        let Some(&length) = layout.get(index) else {
            let mut error = S3Error::with_message(
                S3ErrorCode::Custom("InvalidPartNumber".into()),
                "The requested partnumber is not satisfiable",
            );
            error.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            return Err(error);
        };
        Ok(PartSlice {
            start: layout[..index].iter().sum(),
            length,
            object_size,
            parts_count: multipart.then(|| i32::try_from(layout.len()).unwrap_or(i32::MAX)),
        })
    }

    /// The byte range to read; `None` for an empty part (the whole, empty, object).
    fn range(&self) -> Option<Range> {
        (self.length > 0).then(|| Range::Int {
            first: self.start,
            last: Some(self.start + self.length - 1),
        })
    }

    fn content_range(&self) -> String {
        format!(
            "bytes {}-{}/{}",
            self.start,
            self.start + self.length - 1,
            self.object_size
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_located_by_the_recorded_layout() {
        let layout = [5, 5, 2];
        let third = PartSlice::select(&layout, 12, 3).expect("exists");
        assert_eq!(
            third,
            PartSlice {
                start: 10,
                length: 2,
                object_size: 12,
                parts_count: Some(3)
            }
        );
        assert_eq!(third.content_range(), "bytes 10-11/12");
        let error = PartSlice::select(&layout, 12, 4).expect_err("too far");
        assert_eq!(
            error.status_code(),
            Some(http::StatusCode::RANGE_NOT_SATISFIABLE)
        );
        assert!(PartSlice::select(&layout, 12, 0).is_err());
    }

    #[test]
    fn objects_without_a_consistent_layout_are_one_part() {
        let whole = PartSlice::select(&[], 7, 1).expect("part 1");
        assert_eq!(
            whole,
            PartSlice {
                start: 0,
                length: 7,
                object_size: 7,
                parts_count: None
            }
        );
        assert_eq!(
            PartSlice::select(&[5, 5], 7, 1)
                .expect("stale layout")
                .length,
            7
        );
        assert!(PartSlice::select(&[], 7, 2).is_err());
        assert_eq!(PartSlice::select(&[], 0, 1).expect("empty").range(), None);
    }

    #[test]
    fn object_parts_paginate() {
        let parts = object_parts(&[5, 5, 2], 12, Some(1), Some(1)).expect("multipart");
        assert_eq!(parts.total_parts_count, Some(3));
        assert_eq!(parts.next_part_number_marker, Some(2));
        assert_eq!(parts.is_truncated, Some(true));
        assert!(object_parts(&[], 12, None, None).is_none());
    }
}
