//! The embedded store's own records, kept beside s3s-fs's files under `<root>/.s3kms-embedded/`.
//!
//! Owns the layout and format (version 1, JSON, one small file per record):
//!
//! ```text
//! .s3kms-embedded/
//!   objects/<sha256(bucket)>/<sha256(key)>.json   ObjectRecord: tags, multipart part sizes
//!   uploads/<upload id>/upload.json               UploadRecord: bucket, key, initiated, tags
//!   uploads/<upload id>/part-<n>.json             PartRecord: ETag and size of part n
//!   tmp/                                          temp files, emptied at start
//! ```
//!
//! Invariants: every write is atomic (temp file in `tmp/`, fsync, rename), so a reader sees a
//! whole old record or a whole new one. An upload exists exactly while its `upload.json` exists
//! (it is removed first when the upload ends). An object with neither tags nor parts has no
//! record. The directory name starts with a dot, which no valid bucket name does, so s3s-fs
//! never lists it as a bucket and no client can create a bucket over it; object keys cannot
//! reach it because the store refuses keys with `.`/`..` segments.
//!
//! Does not: decide S3 semantics (when to write or drop a record is the store's business), or
//! lock: two concurrent writers of one object race, and the last record written wins.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rand::RngCore;
use s3s::S3Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

use super::tags::ObjectTags;

/// The hidden directory under the store root.
pub const SIDECAR_DIR: &str = ".s3kms-embedded";

/// The record format this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// What the store knows about an object beyond s3s-fs's own metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// The object's tags.
    #[serde(default)]
    pub tags: ObjectTags,
    /// Sizes of the parts it was assembled from, in order; empty for a single-part object.
    #[serde(default)]
    pub part_sizes: Vec<u64>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Its bucket.
    pub bucket: String,
    /// Its object key.
    pub key: String,
    /// When CreateMultipartUpload was answered, in milliseconds since the Unix epoch.
    pub initiated_unix_ms: u64,
    /// Tags the completed object gets (from `x-amz-tagging` at creation).
    #[serde(default)]
    pub tags: ObjectTags,
}

/// One uploaded part, as UploadPart or UploadPartCopy answered it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    /// The part's ETag value, without quotes.
    pub etag: String,
    /// The part's size in bytes.
    pub size: u64,
}

/// An s3s-fs upload id: a UUID, which is safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    /// Accepts only the 36-character hyphenated hex form s3s-fs hands out.
    pub fn parse(value: &str) -> Option<UploadId> {
        let well_formed = value.len() == 36 && value.bytes().all(|byte| byte.is_ascii_hexdigit() || byte == b'-');
        well_formed.then(|| UploadId(value.to_owned()))
    }

    /// The id as the client sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a sidecar record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// The file system refused.
    #[error("embedded store record {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not a record of a known version.
    #[error("embedded store record {path} is unreadable: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl From<SidecarError> for S3Error {
    fn from(error: SidecarError) -> S3Error {
        S3Error::internal_error(error)
    }
}

/// The versioned envelope every record file holds.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    #[serde(flatten)]
    record: T,
}

/// Handle on the sidecar directory.
#[derive(Debug)]
pub struct Sidecar {
    dir: PathBuf,
}

impl Sidecar {
    /// Opens (creating it if needed) the sidecar under `root`, and drops stale temp files.
    pub fn open(root: &Path) -> std::io::Result<Sidecar> {
        let dir = root.join(SIDECAR_DIR);
        match std::fs::remove_dir_all(dir.join("tmp")) {
            Err(error) if error.kind() != ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        for sub in ["objects", "uploads", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Sidecar { dir })
    }

    /// The record of an object, if it has one.
    pub async fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, SidecarError> {
        read_record(&self.object_path(bucket, key)).await
    }

    /// Replaces an object's record (removes it when it would be empty).
    pub async fn set_object(&self, bucket: &str, key: &str, record: &ObjectRecord) -> Result<(), SidecarError> {
        if record.tags.is_empty() && record.part_sizes.is_empty() {
            return self.remove_object(bucket, key).await;
        }
        let path = self.object_path(bucket, key);
        create_dir(path.parent().unwrap_or(&self.dir)).await?;
        self.write_record(&path, record).await
    }

    /// Forgets an object.
    pub async fn remove_object(&self, bucket: &str, key: &str) -> Result<(), SidecarError> {
        remove_file(&self.object_path(bucket, key)).await
    }

    /// Forgets every object of a bucket.
    pub async fn remove_bucket(&self, bucket: &str) -> Result<(), SidecarError> {
        remove_dir(&self.dir.join("objects").join(digest(bucket))).await
    }

    /// Records a new upload.
    pub async fn create_upload(&self, id: &UploadId, record: &UploadRecord) -> Result<(), SidecarError> {
        let dir = self.upload_dir(id);
        create_dir(&dir).await?;
        self.write_record(&dir.join("upload.json"), record).await
    }

    /// The record of an upload in progress.
    pub async fn upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, SidecarError> {
        read_record(&self.upload_dir(id).join("upload.json")).await
    }

    /// Every upload in progress, in no particular order.
    pub async fn uploads(&self) -> Result<Vec<(UploadId, UploadRecord)>, SidecarError> {
        let uploads_dir = self.dir.join("uploads");
        let mut entries = fs::read_dir(&uploads_dir).await.map_err(io_error(&uploads_dir))?;
        let mut uploads = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&uploads_dir))? {
            let Some(id) = entry.file_name().to_str().and_then(UploadId::parse) else {
                continue;
            };
            if let Some(record) = self.upload(&id).await? {
                uploads.push((id, record));
            }
        }
        Ok(uploads)
    }

    /// Records an uploaded part (replacing an earlier upload of the same number).
    pub async fn set_part(&self, id: &UploadId, number: i32, record: &PartRecord) -> Result<(), SidecarError> {
        self.write_record(&self.part_path(id, number), record).await
    }

    /// The record of part `number`, if it was uploaded.
    pub async fn part(&self, id: &UploadId, number: i32) -> Result<Option<PartRecord>, SidecarError> {
        read_record(&self.part_path(id, number)).await
    }

    /// Ends an upload: its `upload.json` first (so it is gone at once), then its part records.
    pub async fn remove_upload(&self, id: &UploadId) -> Result<(), SidecarError> {
        let dir = self.upload_dir(id);
        remove_file(&dir.join("upload.json")).await?;
        remove_dir(&dir).await
    }

    fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        let file = format!("{}.json", digest(key));
        self.dir.join("objects").join(digest(bucket)).join(file)
    }

    fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.dir.join("uploads").join(id.as_str())
    }

    fn part_path(&self, id: &UploadId, number: i32) -> PathBuf {
        self.upload_dir(id).join(format!("part-{number}.json"))
    }

    /// Writes `record` to `path` atomically: temp file, fsync, rename.
    async fn write_record<T: Serialize>(&self, path: &Path, record: &T) -> Result<(), SidecarError> {
        let envelope = Envelope {
            version: FORMAT_VERSION,
            record,
        };
        let bytes = serde_json::to_vec(&envelope).map_err(|error| SidecarError::Corrupt {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let temp = self.dir.join("tmp").join(format!("{}.tmp", random_hex()));
        let written = async {
            let mut file = fs::File::create(&temp).await?;
            file.write_all(&bytes).await?;
            file.sync_all().await?;
            fs::rename(&temp, path).await
        };
        if let Err(error) = written.await {
            let _ = fs::remove_file(&temp).await;
            return Err(io_error(path)(error));
        }
        Ok(())
    }
}

/// Reads a record; `None` if the file does not exist.
async fn read_record<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, SidecarError> {
    let bytes = match fs::read(path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    let corrupt = |reason: String| SidecarError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
    if envelope.version != FORMAT_VERSION {
        return Err(corrupt(format!("format version {}", envelope.version)));
    }
    Ok(Some(envelope.record))
}

async fn create_dir(path: &Path) -> Result<(), SidecarError> {
    fs::create_dir_all(path).await.map_err(io_error(path))
}

async fn remove_file(path: &Path) -> Result<(), SidecarError> {
    match fs::remove_file(path).await {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}

async fn remove_dir(path: &Path) -> Result<(), SidecarError> {
    match fs::remove_dir_all(path).await {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> SidecarError + '_ {
    move |source| SidecarError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A fixed-length file name for an arbitrary bucket or key (keys may be 1,024 bytes).
fn digest(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b4a3f4e-8f0c-4d7e-9a51-2f3c5e6d7a8b";

    #[tokio::test]
    async fn records_round_trip_and_vanish() {
        let root = tempfile::tempdir().expect("tempdir");
        let sidecar = Sidecar::open(root.path()).expect("open");
        let tags = ObjectTags::from_header("a=1").expect("tags");
        let record = ObjectRecord {
            tags: tags.clone(),
            part_sizes: vec![5, 1],
        };
        sidecar.set_object("b", "k", &record).await.expect("write");
        let read = sidecar.object("b", "k").await.expect("read").expect("present");
        assert_eq!((read.tags, read.part_sizes), (tags, vec![5, 1]));
        sidecar
            .set_object("b", "k", &ObjectRecord::default())
            .await
            .expect("clear");
        assert!(sidecar.object("b", "k").await.expect("read").is_none());

        let id = UploadId::parse(ID).expect("uuid");
        let upload = UploadRecord {
            bucket: "b".into(),
            key: "k".into(),
            initiated_unix_ms: 1,
            tags: ObjectTags::default(),
        };
        sidecar.create_upload(&id, &upload).await.expect("create");
        sidecar
            .set_part(
                &id,
                1,
                &PartRecord {
                    etag: "e".into(),
                    size: 3,
                },
            )
            .await
            .expect("part");
        assert_eq!(sidecar.uploads().await.expect("list").len(), 1);
        sidecar.remove_upload(&id).await.expect("remove");
        assert!(sidecar.upload(&id).await.expect("read").is_none());
        assert!(sidecar.uploads().await.expect("list").is_empty());
        assert_eq!(
            std::fs::read_dir(root.path().join(SIDECAR_DIR).join("tmp"))
                .expect("tmp")
                .count(),
            0
        );
    }

    #[test]
    fn upload_ids_are_safe_file_names() {
        assert!(UploadId::parse(ID).is_some());
        assert!(UploadId::parse("../../../../../../../../../../../etc").is_none());
        assert!(UploadId::parse("0b4a3f4e-8f0c-4d7e-9a51-2f3c5e6d7a8/").is_none());
    }
}
