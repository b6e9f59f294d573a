//! CopyObject in the embedded store.
//!
//! Owns: the copy's bytes are the source's data file, hard-linked (data files never change;
//! a stream copy from the already open source file if linking fails); its ETag, checksums and
//! part layout are the source's; its headers and metadata are the source's unless
//! `x-amz-metadata-directive: REPLACE`, its tags unless `x-amz-tagging-directive: REPLACE`.
//! The `x-amz-copy-source-if-*` conditions are checked against the source as opened.
//!
//! Does not: refuse a copy of an object onto itself that changes nothing (S3 does; s3s-fs did
//! not, and refreshing `Last-Modified` this way is harmless).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::meta::{ContentHeaders, ObjectMeta, format_expires, now_unix_ms, user_metadata};
use super::objects::header_tags;
use super::store::EmbeddedStore;
use super::streams::append_file;

pub async fn copy_object(
    store: &EmbeddedStore,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = req.input;
    let CopySource::Bucket {
        bucket: source_bucket,
        key: source_key,
        ..
    } = &input.copy_source
    else {
        return Err(s3_error!(NotImplemented, "only bucket copy sources are supported"));
    };
    store.require_bucket(&input.bucket).await?;
    let Some((source, mut source_file)) = store.objects.open(source_bucket, source_key).await? else {
        return Err(store.missing_object(source_bucket).await);
    };
    check_source_conditions(&input, &source)?;
    let data = match store.objects.link_data(source_bucket, &source, &input.bucket).await {
        Ok(data) => data,
        Err(_) => {
            let mut temp = store.objects.temp_file().await?;
            append_file(&mut source_file, &mut temp.file).await?;
            store.objects.place_data(&input.bucket, temp).await?
        }
    };
    let replace = |directive: Option<&str>| directive == Some("REPLACE");
    let (headers, metadata) = if replace(input.metadata_directive.as_ref().map(MetadataDirective::as_str)) {
        let headers = ContentHeaders {
            content_type: input.content_type.clone(),
            content_encoding: input.content_encoding.clone(),
            content_disposition: input.content_disposition.clone(),
            content_language: input.content_language.clone(),
            cache_control: input.cache_control.clone(),
            expires: format_expires(input.expires.as_ref()),
            website_redirect_location: input.website_redirect_location.clone(),
        };
        (headers, user_metadata(input.metadata.clone()))
    } else {
        (source.headers.clone(), source.user_metadata.clone())
    };
    let tags = if replace(input.tagging_directive.as_ref().map(TaggingDirective::as_str)) {
        header_tags(input.tagging.as_deref())?
    } else {
        source.tags.clone()
    };
    let meta = ObjectMeta {
        key: input.key.clone(),
        data: data.name.clone(),
        size: source.size,
        etag: source.etag.clone(),
        last_modified_unix_ms: now_unix_ms(),
        headers,
        user_metadata: metadata,
        checksums: source.checksums.clone(),
        tags,
        part_sizes: source.part_sizes.clone(),
    };
    store.objects.commit(&input.bucket, &meta, data, |_| Ok(())).await?;
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(meta.e_tag()),
            last_modified: Some(meta.last_modified()),
            ..Default::default()
        }),
        ..Default::default()
    }))
}

/// `x-amz-copy-source-if-*`, with S3's precedence: a passing If-Match overrides
/// If-Unmodified-Since, a failing If-None-Match overrides If-Modified-Since.
fn check_source_conditions(input: &CopyObjectInput, source: &ObjectMeta) -> S3Result<()> {
    let matches = |condition: &ETagCondition| match condition.as_etag() {
        None => true,
        Some(etag) => etag.value() == source.etag,
    };
    let modified = source.last_modified();
    let failed = match &input.copy_source_if_match {
        Some(condition) => !matches(condition),
        None => input
            .copy_source_if_unmodified_since
            .as_ref()
            .is_some_and(|since| modified > *since),
    } || match &input.copy_source_if_none_match {
        Some(condition) => matches(condition),
        None => input
            .copy_source_if_modified_since
            .as_ref()
            .is_some_and(|since| modified <= *since),
    };
    if failed {
        return Err(s3_error!(PreconditionFailed));
    }
    Ok(())
}
