//! Where an object's parts are: `?partNumber=N` reads and GetObjectAttributes, from the part
//! sizes recorded in the object's record at CompleteMultipartUpload.
//!
//! Invariant: a recorded layout is trusted only if its sizes add up to the file's size;
//! otherwise (or with no layout) the object is one part, as an object from PutObject is.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::store::EmbeddedStore;

pub async fn get_object_attributes(
    store: &EmbeddedStore,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    let input = req.input;
    let Some(meta) = store.objects.meta(&input.bucket, &input.key).await? else {
        return Err(store.missing_object(&input.bucket).await);
    };
    // s3s 0.14.1 does not split a comma-separated `x-amz-object-attributes` (what boto3 sends).
    let wanted = |name: &str| {
        let mut requested = input
            .object_attributes
            .iter()
            .flat_map(|attribute| attribute.as_str().split(','));
        requested.any(|attribute| attribute.trim() == name)
    };
    let checksum = meta.checksums.to_dto();
    let output = GetObjectAttributesOutput {
        e_tag: wanted(ObjectAttributes::ETAG).then(|| meta.e_tag()),
        last_modified: Some(meta.last_modified()),
        object_size: wanted(ObjectAttributes::OBJECT_SIZE).then(|| meta.content_length()),
        storage_class: wanted(ObjectAttributes::STORAGE_CLASS)
            .then(|| StorageClass::from_static(StorageClass::STANDARD)),
        checksum: wanted(ObjectAttributes::CHECKSUM).then_some(checksum),
        object_parts: wanted(ObjectAttributes::OBJECT_PARTS)
            .then(|| object_parts(&meta.part_sizes, meta.size, input.part_number_marker, input.max_parts))
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

/// One part of an object, located by `?partNumber=N`.
#[derive(Debug, PartialEq, Eq)]
pub struct PartSlice {
    pub start: u64,
    pub length: u64,
    pub object_size: u64,
    /// `x-amz-mp-parts-count`: only for objects assembled from parts.
    pub parts_count: Option<i32>,
}

impl PartSlice {
    /// Part `number` (from 1) of an object of `object_size` bytes laid out as `part_sizes`; an
    /// object without a (consistent) layout is one part.
    pub fn select(part_sizes: &[u64], object_size: u64, number: i32) -> S3Result<PartSlice> {
        let multipart = !part_sizes.is_empty() && part_sizes.iter().sum::<u64>() == object_size;
        let single = [object_size];
        let layout = if multipart { part_sizes } else { &single[..] };
        let index = usize::try_from(number)
            .ok()
            .and_then(|number| number.checked_sub(1))
            .ok_or_else(|| s3_error!(InvalidArgument, "part number must be an integer between 1 and 10000"))?;
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
        let error = PartSlice::select(&layout, 12, 4).expect_err("too far");
        assert_eq!(error.status_code(), Some(http::StatusCode::RANGE_NOT_SATISFIABLE));
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
        assert_eq!(PartSlice::select(&[5, 5], 7, 1).expect("stale layout").length, 7);
        assert!(PartSlice::select(&[], 7, 2).is_err());
        assert_eq!(PartSlice::select(&[], 0, 1).expect("empty").length, 0);
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
