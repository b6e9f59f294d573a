//! Where the embedded store keeps objects, and the one way each object changes.
//!
//! Layout, for a bucket directory `<root>/<bucket>/` (made by CreateBucket):
//!
//! ```text
//! <bucket>/.objects/<sha256(key) hex>.json   ObjectMeta (meta.rs), a versioned record
//! <bucket>/.data/<random hex>                the bytes of one object version; never modified
//! ```
//!
//! Keys never become paths: any key S3 accepts (1,024 bytes, 255-byte segments, `//`, a
//! trailing `/`, `..`, both `a` and `a/b`) is one fixed-length file name, and the key itself is
//! inside the record. Bucket names cannot start with `.`, so `.objects`/`.data` are not buckets.
//!
//! Invariants:
//! - An object exists exactly while its record exists; the record names its data file, so data
//!   and metadata change together, in one rename of the record.
//! - Data files are written whole in the temp directory, then renamed into `.data/` before the
//!   record that names them; a data file no record names is garbage (a crash can leave one).
//! - Commits and removals of one key are serialized by a lock stripe, so a conditional write
//!   (`If-Match`, `If-None-Match`) checks the record it replaces, and the replaced data file is
//!   deleted by exactly one writer. Readers take no lock: they open the data file the record
//!   names and retry if a concurrent overwrite removed it first (an open file stays readable).
//! - `.objects` and `.data` are created with a non-recursive `mkdir`, so a write into a deleted
//!   bucket fails instead of bringing the bucket back.
//!
//! Does not: decide S3 semantics (the operations do), or list in key order (a listing reads
//! every record of the bucket and sorts; fine for an embedded store, not for millions of keys).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use s3s::{S3Result, s3_error};
use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::sync::Mutex;

use super::meta::ObjectMeta;
use super::records::{self, RecordError, TempFile, io_error, random_hex};

/// Directory of object records in a bucket.
const RECORDS_DIR: &str = ".objects";
/// Directory of object data files in a bucket.
const DATA_DIR: &str = ".data";
/// Number of lock stripes keys are spread over.
const LOCK_STRIPES: usize = 64;
/// How often a reader retries when an overwrite removes the data file it was about to open.
const OPEN_ATTEMPTS: usize = 5;

/// Handle on the objects of every bucket under one root.
#[derive(Debug)]
pub struct ObjectFiles {
    root: PathBuf,
    temp_dir: PathBuf,
    locks: Vec<Mutex<()>>,
}

/// Bytes written to the temp directory and moved into a bucket, not yet named by a record.
#[derive(Debug)]
pub struct PlacedData {
    bucket_data_dir: PathBuf,
    /// The data file's name, for [`ObjectMeta::data`].
    pub name: String,
}

impl ObjectFiles {
    /// Objects under `root`; temp files go to `temp_dir` (same file system).
    pub fn new(root: &Path, temp_dir: &Path) -> ObjectFiles {
        ObjectFiles {
            root: root.to_owned(),
            temp_dir: temp_dir.to_owned(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }

    /// A new temp file to write an object's bytes into.
    pub async fn temp_file(&self) -> Result<TempFile, RecordError> {
        TempFile::create(&self.temp_dir).await
    }

    /// Makes a bucket's object directories (right after the bucket directory is made).
    pub async fn create_bucket(&self, bucket: &str) -> S3Result<()> {
        for sub in [RECORDS_DIR, DATA_DIR] {
            self.bucket_subdir(bucket, sub).await?;
        }
        Ok(())
    }

    /// Moves written bytes into the bucket; `NoSuchBucket` if it is gone.
    pub async fn place_data(&self, bucket: &str, temp: TempFile) -> S3Result<PlacedData> {
        let bucket_data_dir = self.bucket_subdir(bucket, DATA_DIR).await?;
        let name = random_hex(16);
        temp.place(&bucket_data_dir.join(&name)).await?;
        Ok(PlacedData { bucket_data_dir, name })
    }

    /// Hard-links an existing object's data file as new data for `bucket` (data files are
    /// never modified, so a link is a copy).
    pub async fn link_data(&self, source_bucket: &str, source: &ObjectMeta, bucket: &str) -> S3Result<PlacedData> {
        let bucket_data_dir = self.bucket_subdir(bucket, DATA_DIR).await?;
        let name = random_hex(16);
        let from = self.data_path(source_bucket, &source.data);
        let to = bucket_data_dir.join(&name);
        if fs::hard_link(&from, &to).await.is_err() {
            fs::copy(&from, &to).await.map_err(io_error(&from))?;
        }
        Ok(PlacedData { bucket_data_dir, name })
    }

    /// The record of an object, if it exists.
    pub async fn meta(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>, RecordError> {
        let path = self.record_path(bucket, key);
        let meta: Option<ObjectMeta> = records::read_record(&path).await?;
        // The data file name is joined to a path: anything but hex would be a corrupt record.
        if let Some(meta) = &meta
            && (meta.data.is_empty() || !meta.data.bytes().all(|byte| byte.is_ascii_hexdigit()))
        {
            return Err(RecordError::Corrupt {
                path,
                reason: "its data file name is not hex".to_owned(),
            });
        }
        Ok(meta)
    }

    /// The record of an object and its data file, open for reading.
    pub async fn open(&self, bucket: &str, key: &str) -> Result<Option<(ObjectMeta, fs::File)>, RecordError> {
        for _ in 0..OPEN_ATTEMPTS {
            let Some(meta) = self.meta(bucket, key).await? else {
                return Ok(None);
            };
            let path = self.data_path(bucket, &meta.data);
            match fs::File::open(&path).await {
                Ok(file) => return Ok(Some((meta, file))),
                Err(error) if error.kind() == ErrorKind::NotFound => continue,
                Err(error) => return Err(io_error(&path)(error)),
            }
        }
        let path = self.record_path(bucket, key);
        Err(io_error(&path)(std::io::Error::other(
            "the object kept changing while being opened",
        )))
    }

    /// Makes `meta` (naming `data`) the object `meta.key`, if `check` accepts the record it
    /// replaces; otherwise `data` is deleted and `check`'s error returned.
    pub async fn commit(
        &self,
        bucket: &str,
        meta: &ObjectMeta,
        data: PlacedData,
        check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()>,
    ) -> S3Result<()> {
        let new_data = data.bucket_data_dir.join(&data.name);
        let replaced = {
            let _guard = self.lock(bucket, &meta.key).await;
            let current = self.meta(bucket, &meta.key).await;
            let written = match current {
                Ok(current) => match check(current.as_ref()) {
                    Ok(()) => self.write_meta(bucket, meta).await.map(|()| current),
                    Err(error) => Err(error),
                },
                Err(error) => Err(error.into()),
            };
            if written.is_err() {
                let _ = records::remove_file(&new_data).await;
            }
            written?
        };
        self.remove_data(bucket, replaced.as_ref(), &data.name).await;
        Ok(())
    }

    /// Changes an object's record in place (tags); `None` if the object does not exist.
    pub async fn update(
        &self,
        bucket: &str,
        key: &str,
        change: impl FnOnce(&mut ObjectMeta),
    ) -> S3Result<Option<ObjectMeta>> {
        let _guard = self.lock(bucket, key).await;
        let Some(mut meta) = self.meta(bucket, key).await? else {
            return Ok(None);
        };
        change(&mut meta);
        self.write_meta(bucket, &meta).await?;
        Ok(Some(meta))
    }

    /// Deletes an object (nothing if it does not exist).
    pub async fn remove(&self, bucket: &str, key: &str) -> Result<(), RecordError> {
        let removed = {
            let _guard = self.lock(bucket, key).await;
            let current = self.meta(bucket, key).await?;
            records::remove_file(&self.record_path(bucket, key)).await?;
            current
        };
        self.remove_data(bucket, removed.as_ref(), "").await;
        Ok(())
    }

    /// Every object record of a bucket, in no particular order.
    pub async fn list(&self, bucket: &str) -> Result<Vec<ObjectMeta>, RecordError> {
        let dir = self.root.join(bucket).join(RECORDS_DIR);
        let mut entries = match fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error(&dir)(error)),
        };
        let mut metas = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&dir))? {
            let is_record = entry.file_name().to_str().is_some_and(|name| name.ends_with(".json"));
            if is_record && let Some(meta) = records::read_record(&entry.path()).await? {
                metas.push(meta);
            }
        }
        Ok(metas)
    }

    /// Whether a bucket holds no object.
    pub async fn is_empty(&self, bucket: &str) -> Result<bool, RecordError> {
        let dir = self.root.join(bucket).join(RECORDS_DIR);
        let mut entries = match fs::read_dir(&dir).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(true),
            Err(error) => return Err(io_error(&dir)(error)),
        };
        Ok(entries.next_entry().await.map_err(io_error(&dir))?.is_none())
    }

    async fn write_meta(&self, bucket: &str, meta: &ObjectMeta) -> S3Result<()> {
        let path = self.record_path(bucket, &meta.key);
        self.bucket_subdir(bucket, RECORDS_DIR).await?;
        records::write_record(&self.temp_dir, &path, meta).await?;
        Ok(())
    }

    /// Deletes the data file of a replaced record, unless the new record still names it.
    async fn remove_data(&self, bucket: &str, replaced: Option<&ObjectMeta>, kept: &str) {
        if let Some(old) = replaced.filter(|old| old.data != kept) {
            let _ = records::remove_file(&self.data_path(bucket, &old.data)).await;
        }
    }

    /// `<bucket>/<sub>`, made if missing; `NoSuchBucket` if the bucket directory is not there.
    async fn bucket_subdir(&self, bucket: &str, sub: &str) -> S3Result<PathBuf> {
        let dir = self.root.join(bucket).join(sub);
        match fs::create_dir(&dir).await {
            Ok(()) => Ok(dir),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(dir),
            Err(error) if error.kind() == ErrorKind::NotFound => Err(s3_error!(NoSuchBucket)),
            Err(error) => Err(io_error(&dir)(error).into()),
        }
    }

    async fn lock(&self, bucket: &str, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let digest = Sha256::new()
            .chain_update(bucket.as_bytes())
            .chain_update([0])
            .chain_update(key.as_bytes())
            .finalize();
        self.locks[usize::from(digest[0]) % LOCK_STRIPES].lock().await
    }

    fn record_path(&self, bucket: &str, key: &str) -> PathBuf {
        let name = format!("{}.json", hex::encode(Sha256::digest(key.as_bytes())));
        self.root.join(bucket).join(RECORDS_DIR).join(name)
    }

    fn data_path(&self, bucket: &str, name: &str) -> PathBuf {
        self.root.join(bucket).join(DATA_DIR).join(name)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn store() -> (tempfile::TempDir, ObjectFiles) {
        let root = tempfile::tempdir().expect("tempdir");
        let temp_dir = root.path().join("tmp");
        std::fs::create_dir_all(root.path().join("b")).expect("bucket");
        std::fs::create_dir_all(&temp_dir).expect("tmp");
        let files = ObjectFiles::new(root.path(), &temp_dir);
        files.create_bucket("b").await.expect("bucket dirs");
        (root, files)
    }

    /// Writes `body` as object `key` of bucket `b`, if `check` allows.
    async fn put(
        files: &ObjectFiles,
        key: &str,
        body: &[u8],
        check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()>,
    ) -> S3Result<()> {
        let mut temp = files.temp_file().await?;
        temp.file.write_all(body).await.expect("write");
        let data = files.place_data("b", temp).await?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            data: data.name.clone(),
            size: body.len() as u64,
            etag: hex::encode(body),
            last_modified_unix_ms: 0,
            headers: Default::default(),
            user_metadata: Default::default(),
            checksums: Default::default(),
            tags: Default::default(),
            part_sizes: Vec::new(),
        };
        files.commit("b", &meta, data, check).await
    }

    async fn read(files: &ObjectFiles, key: &str) -> Option<(ObjectMeta, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        let (meta, mut file) = files.open("b", key).await.expect("open")?;
        let mut body = Vec::new();
        file.read_to_end(&mut body).await.expect("read");
        Some((meta, body))
    }

    fn count(dir: PathBuf) -> usize {
        std::fs::read_dir(dir).expect("dir").count()
    }

    #[tokio::test]
    async fn any_key_is_one_object_and_prefixes_do_not_collide() {
        let (root, files) = store().await;
        let keys = [
            "a",
            "a/b",
            "x//y",
            "trailing/",
            "..",
            &"k".repeat(1024),
            &format!("{}/z", "s".repeat(255)),
        ];
        for key in keys {
            put(&files, key, key.as_bytes(), |_| Ok(())).await.expect("put");
        }
        for key in keys {
            assert_eq!(read(&files, key).await.expect("exists").1, key.as_bytes());
        }
        files.remove("b", "a").await.expect("remove");
        assert!(read(&files, "a").await.is_none());
        assert!(read(&files, "a/b").await.is_some());
        assert_eq!(files.list("b").await.expect("list").len(), keys.len() - 1);
        assert_eq!(count(root.path().join("b/.data")), keys.len() - 1);
    }

    #[tokio::test]
    async fn refused_and_replaced_writes_leave_no_data_behind() {
        let (root, files) = store().await;
        put(&files, "k", b"one", |_| Ok(())).await.expect("put");
        put(&files, "k", b"two", |_| Ok(())).await.expect("overwrite");
        let refused = put(&files, "k", b"three", |current| match current {
            Some(_) => Err(s3_error!(PreconditionFailed)),
            None => Ok(()),
        });
        assert!(refused.await.is_err());
        assert_eq!(read(&files, "k").await.expect("exists").1, b"two");
        assert_eq!(count(root.path().join("b/.data")), 1);
        assert_eq!(count(root.path().join("tmp")), 0);
    }

    #[tokio::test]
    async fn concurrent_writers_leave_one_whole_object() {
        let (root, files) = store().await;
        let files = std::sync::Arc::new(files);
        let writers: Vec<_> = (0..16u8)
            .map(|n| {
                let files = files.clone();
                tokio::spawn(async move { put(&files, "k", &vec![n; 1000 + usize::from(n)], |_| Ok(())).await })
            })
            .collect();
        for writer in writers {
            writer.await.expect("join").expect("put");
        }
        let (meta, body) = read(&files, "k").await.expect("exists");
        assert_eq!((meta.size, meta.etag), (body.len() as u64, hex::encode(&body)));
        assert_eq!(count(root.path().join("b/.data")), 1, "replaced data files are deleted");
    }

    #[tokio::test]
    async fn writes_into_a_deleted_bucket_do_not_recreate_it() {
        let (root, files) = store().await;
        std::fs::remove_dir_all(root.path().join("b")).expect("delete bucket");
        let error = put(&files, "k", b"v", |_| Ok(())).await.expect_err("no bucket");
        assert_eq!(error.code(), &s3s::S3ErrorCode::NoSuchBucket);
        assert!(!root.path().join("b").exists());
    }
}
