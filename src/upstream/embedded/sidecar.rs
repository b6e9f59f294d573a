//! The embedded store's own records of multipart uploads, under `<root>/.s3kms-embedded/`.
//!
//! Owns the layout (records are version 1 JSON, see `records.rs`):
//!
//! ```text
//! .s3kms-embedded/
//!   uploads/<upload id>/upload.json         UploadRecord: bucket, key, initiated, headers, tags
//!   uploads/<upload id>/part-<n>.json       PartRecord: ETag, size and data file of part n
//!   uploads/<upload id>/<random hex>.part   the bytes of one uploaded part
//!   tmp/                                    temp files of the whole store, emptied at start
//! ```
//!
//! Invariants: every write is atomic (temp file in `tmp/`, fsync, rename). An upload exists
//! exactly while its `upload.json` exists (it is removed first when the upload ends, then the
//! whole directory). A part record names its data file, so re-uploading a part number replaces
//! size, ETag and bytes together. The directory name starts with a dot, which no valid bucket
//! name does, so it is never listed as a bucket and no client can create a bucket over it.
//!
//! Does not: decide S3 semantics (when to write or drop a record is the store's business).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::fs;

use super::meta::ContentHeaders;
use super::records::{
    RecordError, create_dir, io_error, random_hex, read_record, remove_dir, remove_file, write_record,
};
use super::tags::ObjectTags;

/// The hidden directory under the store root.
pub const SIDECAR_DIR: &str = ".s3kms-embedded";

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
    /// Headers the completed object gets.
    #[serde(default)]
    pub headers: ContentHeaders,
    /// User metadata the completed object gets.
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
}

/// One uploaded part, as UploadPart or UploadPartCopy answered it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    /// The part's ETag value, without quotes.
    pub etag: String,
    /// The part's size in bytes.
    pub size: u64,
    /// The file in the upload's directory that holds the part's bytes.
    pub data: String,
    /// When the part was uploaded, in milliseconds since the Unix epoch.
    pub last_modified_unix_ms: u64,
}

/// An upload id: a random UUID, which is safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UploadId(String);

impl UploadId {
    /// A fresh random id.
    pub fn new() -> UploadId {
        let hex = random_hex(16);
        UploadId(format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        ))
    }

    /// Accepts only the 36-character hyphenated hex form [`UploadId::new`] hands out.
    pub fn parse(value: &str) -> Option<UploadId> {
        let well_formed = value.len() == 36 && value.bytes().all(|byte| byte.is_ascii_hexdigit() || byte == b'-');
        well_formed.then(|| UploadId(value.to_owned()))
    }

    /// The id as the client sees it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
        for sub in ["uploads", "tmp"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Sidecar { dir })
    }

    /// Records a new upload.
    pub async fn create_upload(&self, id: &UploadId, record: &UploadRecord) -> Result<(), RecordError> {
        let dir = self.upload_dir(id);
        create_dir(&dir).await?;
        write_record(&self.temp_dir(), &dir.join("upload.json"), record).await
    }

    /// The record of an upload in progress.
    pub async fn upload(&self, id: &UploadId) -> Result<Option<UploadRecord>, RecordError> {
        read_record(&self.upload_dir(id).join("upload.json")).await
    }

    /// Every upload in progress, in no particular order.
    pub async fn uploads(&self) -> Result<Vec<(UploadId, UploadRecord)>, RecordError> {
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
    pub async fn set_part(&self, id: &UploadId, number: i32, record: &PartRecord) -> Result<(), RecordError> {
        write_record(&self.temp_dir(), &self.part_path(id, number), record).await
    }

    /// The record of part `number`, if it was uploaded.
    pub async fn part(&self, id: &UploadId, number: i32) -> Result<Option<PartRecord>, RecordError> {
        read_record(&self.part_path(id, number)).await
    }

    /// Every recorded part of an upload, in part-number order.
    pub async fn parts(&self, id: &UploadId) -> Result<Vec<(i32, PartRecord)>, RecordError> {
        let dir = self.upload_dir(id);
        let mut entries = fs::read_dir(&dir).await.map_err(io_error(&dir))?;
        let mut parts = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error(&dir))? {
            let name = entry.file_name();
            let number = name
                .to_str()
                .and_then(|name| name.strip_prefix("part-")?.strip_suffix(".json")?.parse().ok());
            if let Some(number) = number
                && let Some(record) = self.part(id, number).await?
            {
                parts.push((number, record));
            }
        }
        parts.sort_by_key(|(number, _)| *number);
        Ok(parts)
    }

    /// Ends an upload: its `upload.json` first (so it is gone at once), then its part records.
    pub async fn remove_upload(&self, id: &UploadId) -> Result<(), RecordError> {
        let dir = self.upload_dir(id);
        remove_file(&dir.join("upload.json")).await?;
        remove_dir(&dir).await
    }

    /// The directory every temp file of the store goes to.
    pub fn temp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Where the upload's part data files are.
    pub fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.dir.join("uploads").join(id.as_str())
    }

    fn part_path(&self, id: &UploadId, number: i32) -> PathBuf {
        self.upload_dir(id).join(format!("part-{number}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b4a3f4e-8f0c-4d7e-9a51-2f3c5e6d7a8b";

    #[tokio::test]
    async fn records_round_trip_and_vanish() {
        let root = tempfile::tempdir().expect("tempdir");
        let sidecar = Sidecar::open(root.path()).expect("open");
        let id = UploadId::parse(ID).expect("uuid");
        let upload = UploadRecord {
            bucket: "b".into(),
            key: "k".into(),
            initiated_unix_ms: 1,
            tags: ObjectTags::default(),
            headers: ContentHeaders::default(),
            user_metadata: BTreeMap::new(),
        };
        sidecar.create_upload(&id, &upload).await.expect("create");
        sidecar
            .set_part(
                &id,
                1,
                &PartRecord {
                    etag: "e".into(),
                    size: 3,
                    data: "d.part".into(),
                    last_modified_unix_ms: 1,
                },
            )
            .await
            .expect("part");
        assert_eq!(sidecar.uploads().await.expect("list").len(), 1);
        let parts = sidecar.parts(&id).await.expect("parts");
        assert_eq!(parts.iter().map(|(number, _)| *number).collect::<Vec<_>>(), [1]);
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
        assert!(UploadId::parse(UploadId::new().as_str()).is_some());
        assert!(UploadId::parse("../../../../../../../../../../../etc").is_none());
        assert!(UploadId::parse("0b4a3f4e-8f0c-4d7e-9a51-2f3c5e6d7a8/").is_none());
    }
}
