//! [`EmbeddedStore`]: the `s3s::S3` implementation behind the embedded default store.
//!
//! Owns the operation table: each S3 operation s3kms's clients use is listed here once. Bucket
//! operations go to `s3s_fs::FileSystem` (a bucket is a directory of the store root, and
//! s3s-fs handles those like S3, except DeleteBucket, which is checked first); every object
//! and multipart operation is ours (`objects.rs`, `copy.rs`, `tagging.rs`, `listing.rs`,
//! `multipart.rs`, `completion.rs`, `parts.rs`), over [`ObjectFiles`] and the [`Sidecar`]. Every
//! other operation keeps the trait's default answer, `NotImplemented`.
//!
//! Invariants: object keys never become paths (see `object_files.rs`), so no key can reach
//! another bucket or the sidecar; the sidecar directory is never listed as a bucket; every
//! object-level operation on a missing bucket answers `NoSuchBucket`.

use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use super::object_files::ObjectFiles;
use super::sidecar::{SIDECAR_DIR, Sidecar};
use super::{completion, copy, listing, multipart, objects, parts, tagging};

/// The embedded store: buckets from s3s-fs, objects, tags and multipart uploads of its own.
#[derive(Debug)]
pub struct EmbeddedStore {
    pub(super) fs: FileSystem,
    pub(super) sidecar: Sidecar,
    pub(super) objects: ObjectFiles,
    /// The canonical store root; buckets are its directories.
    root: PathBuf,
}

impl EmbeddedStore {
    /// Opens the store over `root`, which must exist.
    pub fn open(root: &Path) -> std::io::Result<EmbeddedStore> {
        let root = root.canonicalize()?;
        let fs = FileSystem::new(&root).map_err(|error| std::io::Error::other(format!("{error:?}")))?;
        let sidecar = Sidecar::open(&root)?;
        let objects = ObjectFiles::new(&root, &sidecar.temp_dir());
        Ok(EmbeddedStore {
            fs,
            sidecar,
            objects,
            root,
        })
    }

    /// `NoSuchBucket` if the bucket is missing too, else `NoSuchKey`.
    pub(super) async fn missing_object(&self, bucket: &str) -> s3s::S3Error {
        if self.bucket_exists(bucket).await {
            s3_error!(NoSuchKey)
        } else {
            s3_error!(NoSuchBucket)
        }
    }

    /// `NoSuchBucket` unless the bucket exists.
    pub(super) async fn require_bucket(&self, bucket: &str) -> S3Result<()> {
        if self.bucket_exists(bucket).await {
            Ok(())
        } else {
            Err(s3_error!(NoSuchBucket))
        }
    }

    /// Whether the bucket's directory exists (bucket names are validated by s3s routing).
    async fn bucket_exists(&self, bucket: &str) -> bool {
        tokio::fs::metadata(self.root.join(bucket))
            .await
            .is_ok_and(|metadata| metadata.is_dir())
    }
}

#[async_trait::async_trait]
impl S3 for EmbeddedStore {
    // ----- buckets: s3s-fs is right, except that it deletes non-empty buckets -----

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        if !s3s::path::check_bucket_name(&req.input.bucket) {
            return Err(s3_error!(InvalidBucketName));
        }
        let bucket = req.input.bucket.clone();
        let response = self.fs.create_bucket(req).await?;
        self.objects.create_bucket(&bucket).await?;
        Ok(response)
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let mut response = self.fs.list_buckets(req).await?;
        if let Some(buckets) = &mut response.output.buckets {
            buckets.retain(|bucket| bucket.name.as_deref() != Some(SIDECAR_DIR));
        }
        Ok(response)
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        objects::delete_bucket(self, req).await
    }

    // ----- listing objects (listing.rs) -----

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        listing::list_objects(self, req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        listing::list_objects_v2(self, req).await
    }

    // ----- objects (objects.rs, copy.rs, parts.rs) -----

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put_object(self, req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get_object(self, req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head_object(self, req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        objects::delete_object(self, req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        objects::delete_objects(self, req).await
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        copy::copy_object(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        parts::get_object_attributes(self, req).await
    }

    // ----- tagging (tagging.rs) -----

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        tagging::get_object_tagging(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        tagging::put_object_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        tagging::delete_object_tagging(self, req).await
    }

    // ----- multipart uploads (multipart.rs, completion.rs) -----

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create(self, req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        completion::complete(self, req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort(self, req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_uploads(self, req).await
    }
}
