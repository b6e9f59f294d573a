//! Versioned JSON records on disk, written atomically (temp file, fsync, rename), and the
//! temp files the embedded store writes object and part bytes into before they are placed.
//!
//! Owns: the record envelope (`{"version": 1, ...fields}`), [`RecordError`] (and its mapping
//! to S3's `InternalError`), and [`TempFile`], which deletes itself unless placed.
//!
//! Invariant: every temp file lives in the store's one temp directory, on the same file system
//! as its destination, so placing it is a rename: a reader sees a whole old file or a whole
//! new one, never a part.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rand::RngCore;
use s3s::S3Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::fs;
use tokio::io::AsyncWriteExt;

/// The record format this code writes and reads.
const FORMAT_VERSION: u32 = 1;

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file system refused.
    #[error("embedded store file {path}: {source}")]
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

impl From<RecordError> for S3Error {
    fn from(error: RecordError) -> S3Error {
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

/// A file being written in the temp directory; removed on drop unless [`TempFile::place`]d.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    /// The open file, for writing.
    pub file: fs::File,
    placed: bool,
}

impl TempFile {
    /// Creates a new, empty temp file in `temp_dir`.
    pub async fn create(temp_dir: &Path) -> Result<TempFile, RecordError> {
        let path = temp_dir.join(format!("{}.tmp", random_hex(16)));
        let file = fs::File::create(&path).await.map_err(io_error(&path))?;
        Ok(TempFile {
            path,
            file,
            placed: false,
        })
    }

    /// Flushes to disk and renames the file to `destination` (whose directory must exist).
    pub async fn place(mut self, destination: &Path) -> Result<(), RecordError> {
        self.file.sync_all().await.map_err(io_error(&self.path))?;
        fs::rename(&self.path, destination)
            .await
            .map_err(io_error(destination))?;
        self.placed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.placed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `record` to `path` atomically, through a temp file in `temp_dir`.
pub async fn write_record<T: Serialize>(temp_dir: &Path, path: &Path, record: &T) -> Result<(), RecordError> {
    let envelope = Envelope {
        version: FORMAT_VERSION,
        record,
    };
    let bytes = serde_json::to_vec(&envelope).map_err(|error| RecordError::Corrupt {
        path: path.to_owned(),
        reason: error.to_string(),
    })?;
    let mut temp = TempFile::create(temp_dir).await?;
    temp.file.write_all(&bytes).await.map_err(io_error(&temp.path))?;
    temp.place(path).await
}

/// Reads a record; `None` if the file does not exist.
pub async fn read_record<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, RecordError> {
    let bytes = match fs::read(path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(path)(error)),
    };
    let corrupt = |reason: String| RecordError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|error| corrupt(error.to_string()))?;
    if envelope.version != FORMAT_VERSION {
        return Err(corrupt(format!("format version {}", envelope.version)));
    }
    Ok(Some(envelope.record))
}

/// Creates a directory and its parents.
pub async fn create_dir(path: &Path) -> Result<(), RecordError> {
    fs::create_dir_all(path).await.map_err(io_error(path))
}

/// Removes a file; a missing file is not an error.
pub async fn remove_file(path: &Path) -> Result<(), RecordError> {
    match fs::remove_file(path).await {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}

/// Removes a directory tree; a missing directory is not an error.
pub async fn remove_dir(path: &Path) -> Result<(), RecordError> {
    match fs::remove_dir_all(path).await {
        Err(error) if error.kind() != ErrorKind::NotFound => Err(io_error(path)(error)),
        _ => Ok(()),
    }
}

/// Wraps an I/O error with the path it concerns.
pub fn io_error(path: &Path) -> impl Fn(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `bytes` random bytes, as lowercase hex (a file name nobody else picks).
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_round_trip_and_temp_files_clean_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.json");
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Sample {
            n: u32,
        }
        write_record(dir.path(), &path, &Sample { n: 7 }).await.expect("write");
        assert_eq!(read_record(&path).await.expect("read"), Some(Sample { n: 7 }));
        assert_eq!(
            read_record::<Sample>(&dir.path().join("none")).await.expect("read"),
            None
        );
        std::fs::write(&path, br#"{"version":2,"n":7}"#).expect("write v2");
        assert!(
            read_record::<Sample>(&path).await.is_err(),
            "unknown versions are refused"
        );
        drop(TempFile::create(dir.path()).await.expect("temp"));
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(names.len(), 1, "only the record is left");
    }
}
