//! [`EmbeddedStore`]: the `s3s::S3` implementation behind the embedded default store.
//!
//! Owns the operation table: each S3 operation s3kms's clients use is listed here once, either
//! forwarded untouched to `s3s_fs::FileSystem` (where s3s-fs already behaves like S3) or handed
//! to [`objects`] or [`multipart`], which wrap s3s-fs with the missing S3 behaviour kept in the
//! [`Sidecar`]. Every other operation keeps the trait's default answer, `NotImplemented`.
//!
//! Invariants: no request reaches s3s-fs with an object key that has a `.` or `..` path segment
//! (s3s-fs maps keys to paths, so `a/../../other-bucket/k` would escape the bucket, and could
//! reach the sidecar); the sidecar directory is never listed as a bucket.
//!
//! Depends on s3s-fs 0.14.1 internals, which is why that version is pinned exactly: objects are
//! the files `<root>/<bucket>/<key>` and upload parts the files `<root>/.upload_id-<id>.part-<n>`.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

use super::sidecar::{SIDECAR_DIR, Sidecar, UploadId};
use super::{multipart, objects, parts};

/// The embedded store: s3s-fs plus object tagging, multipart upload listing and clean-up,
/// part ETags, `partNumber` reads and GetObjectAttributes.
#[derive(Debug)]
pub struct EmbeddedStore {
    pub(super) fs: FileSystem,
    pub(super) sidecar: Sidecar,
    /// The canonical store root; buckets are its directories.
    root: PathBuf,
}

impl EmbeddedStore {
    /// Opens the store over `root`, which must exist.
    pub fn open(root: &Path) -> std::io::Result<EmbeddedStore> {
        let root = root.canonicalize()?;
        let fs = FileSystem::new(&root).map_err(|error| std::io::Error::other(format!("{error:?}")))?;
        let sidecar = Sidecar::open(&root)?;
        Ok(EmbeddedStore { fs, sidecar, root })
    }

    /// The file that holds an object; refuses keys that would leave the bucket's directory.
    pub(super) fn object_file(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(bucket).join(key))
    }

    /// The size of an object: `NoSuchBucket` or `NoSuchKey` if there is none.
    pub(super) async fn object_size(&self, bucket: &str, key: &str) -> S3Result<u64> {
        match tokio::fs::metadata(self.object_file(bucket, key)?).await {
            Ok(metadata) => Ok(if metadata.is_dir() { 0 } else { metadata.len() }),
            Err(error) if error.kind() == ErrorKind::NotFound => Err(self.missing_object(bucket).await),
            Err(error) => Err(s3s::S3Error::internal_error(error)),
        }
    }

    /// `NoSuchBucket` if the bucket is missing too, else `NoSuchKey`.
    pub(super) async fn missing_object(&self, bucket: &str) -> s3s::S3Error {
        if self.bucket_exists(bucket).await {
            s3_error!(NoSuchKey)
        } else {
            s3_error!(NoSuchBucket)
        }
    }

    /// Whether the bucket's directory exists (bucket names are validated by s3s routing).
    pub(super) async fn bucket_exists(&self, bucket: &str) -> bool {
        tokio::fs::metadata(self.root.join(bucket))
            .await
            .is_ok_and(|metadata| metadata.is_dir())
    }

    /// The bucket's directory.
    pub(super) fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    /// Where s3s-fs keeps part `number` of an upload.
    pub(super) fn part_file(&self, id: &UploadId, number: i32) -> PathBuf {
        self.root.join(format!(".upload_id-{}.part-{number}", id.as_str()))
    }

    /// The store root (where s3s-fs keeps part files).
    pub(super) fn root(&self) -> &Path {
        &self.root
    }
}

/// Refuses keys with a `.` or `..` segment: s3s-fs would resolve them outside the bucket.
pub(super) fn check_key(key: &str) -> S3Result<()> {
    if key.split('/').any(|segment| segment == "." || segment == "..") {
        return Err(s3_error!(
            InvalidArgument,
            "the embedded store does not accept object keys with '.' or '..' path segments"
        ));
    }
    Ok(())
}

#[async_trait::async_trait]
impl S3 for EmbeddedStore {
    // ----- buckets: s3s-fs is right, except that it deletes non-empty buckets -----

    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        if !s3s::path::check_bucket_name(&req.input.bucket) {
            return Err(s3_error!(InvalidBucketName));
        }
        self.fs.create_bucket(req).await
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

    // ----- listing objects: forwarded -----

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    // ----- objects: s3s-fs plus tags, part layout and key checks (objects.rs) -----

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
        objects::copy_object(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        parts::get_object_attributes(self, req).await
    }

    // ----- tagging: entirely ours (objects.rs) -----

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        objects::get_object_tagging(self, req).await
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        objects::put_object_tagging(self, req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        objects::delete_object_tagging(self, req).await
    }

    // ----- multipart uploads: s3s-fs plus upload records (multipart.rs) -----

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
        multipart::complete(self, req).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_leave_the_bucket_are_refused() {
        for key in ["..", "a/../../b", "./k", "a/./b", "a/.."] {
            assert!(check_key(key).is_err(), "{key}");
        }
        for key in ["a", "a/b", "...", "a..b", ".hidden", "a/.b/c", "dir/"] {
            assert!(check_key(key).is_ok(), "{key}");
        }
    }
}
