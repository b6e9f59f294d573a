//! Object tagging operations (GetObjectTagging, PutObjectTagging, DeleteObjectTagging): the
//! tags live in the object's own record, so they change and vanish with the object.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::store::EmbeddedStore;
use super::tags::ObjectTags;

pub async fn get_object_tagging(
    store: &EmbeddedStore,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let GetObjectTaggingInput { bucket, key, .. } = req.input;
    let Some(meta) = store.objects.meta(&bucket, &key).await? else {
        return Err(store.missing_object(&bucket).await);
    };
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set: meta.tags.to_dto(),
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
    set_tags(store, &bucket, &key, tags).await?;
    Ok(S3Response::new(PutObjectTaggingOutput::default()))
}

pub async fn delete_object_tagging(
    store: &EmbeddedStore,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let DeleteObjectTaggingInput { bucket, key, .. } = req.input;
    set_tags(store, &bucket, &key, ObjectTags::default()).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
}

async fn set_tags(store: &EmbeddedStore, bucket: &str, key: &str, tags: ObjectTags) -> S3Result<()> {
    let updated = store.objects.update(bucket, key, |meta| meta.tags = tags).await?;
    if updated.is_none() {
        return Err(store.missing_object(bucket).await);
    }
    Ok(())
}
