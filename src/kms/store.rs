//! Where the KMS keeps its records: a key store with optimistic concurrency.
//!
//! Owns: reading, writing, deleting and listing records by path (`keys/<id>.json`,
//! `aliases/<name>.json`, …) with a version token, so that read-modify-write cycles never
//! lose a concurrent update ([`Expect`]). Records are opaque bytes here.
//!
//! The `file` store (the embedded default) keeps one file per record under
//! `<data_dir>/kms/`; each write goes to a temporary file that is synced, renamed over the
//! record and followed by a sync of the directory, so a crash leaves either the old or the new
//! record, never a torn one. One process owns the directory.
//!
//! The `s3` store ([`S3Store`]) keeps the records as objects in a bucket of the upstream store,
//! versioned by ETag and written with S3 conditional requests (`If-None-Match: *` to create,
//! `If-Match: <etag>` to update or delete), so several s3kms instances can share one key store.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use super::s3_store::S3Store;

/// A record's version: changes whenever its bytes change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(pub(super) String);

/// The write condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist (create).
    Absent,
    /// The record must still be at this version (update, delete).
    Version(Version),
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition did not hold: someone else changed the record first.
    #[error("record {0} was changed concurrently")]
    Conflict(String),
    /// I/O failed.
    #[error("key store I/O on {path}: {source}")]
    Io {
        /// The record or directory.
        path: String,
        /// The failure.
        source: std::io::Error,
    },
}

/// How many times a read-modify-write retries after losing a race.
pub const CONFLICT_ATTEMPTS: u32 = 32;

/// Waits before retry `attempt` (0-based) of a read-modify-write that lost a race: a random
/// 1..=4 ms times the attempt number, so racing writers (in one or several instances) spread
/// out instead of colliding again in lockstep.
pub async fn conflict_backoff(attempt: u32) {
    let jitter = u64::from(crate::crypto::random_array::<1>()[0] % 4) + 1;
    tokio::time::sleep(std::time::Duration::from_millis(jitter * u64::from(attempt + 1))).await;
}

/// The key store.
pub enum KeyStore {
    /// Files under a directory.
    File(FileStore),
    /// Objects in a bucket of the upstream.
    S3(Box<S3Store>),
}

impl KeyStore {
    /// Reads a record.
    pub async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
        match self {
            KeyStore::File(store) => store.get(path).await,
            KeyStore::S3(store) => store.get(path).await,
        }
    }

    /// Writes a record if `expect` holds.
    pub async fn put(&self, path: &str, data: &[u8], expect: Expect) -> Result<Version, StoreError> {
        match self {
            KeyStore::File(store) => store.put(path, data, expect).await,
            KeyStore::S3(store) => store.put(path, data, expect).await,
        }
    }

    /// Deletes a record if it is still at `version`.
    pub async fn delete(&self, path: &str, version: &Version) -> Result<(), StoreError> {
        match self {
            KeyStore::File(store) => store.delete(path, version).await,
            KeyStore::S3(store) => store.delete(path, version).await,
        }
    }

    /// The record paths under a directory prefix (`keys/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        match self {
            KeyStore::File(store) => store.list(prefix).await,
            KeyStore::S3(store) => store.list(prefix).await,
        }
    }

    /// Writes a record whatever its current version (last writer wins), retrying the
    /// conditional write on conflicts: for records with no read-modify-write (bucket settings,
    /// upload records).
    pub async fn replace(&self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        for attempt in 0..CONFLICT_ATTEMPTS {
            let expect = match self.get(path).await? {
                Some((_, version)) => Expect::Version(version),
                None => Expect::Absent,
            };
            match self.put(path, data, expect).await {
                Err(StoreError::Conflict(_)) => conflict_backoff(attempt).await,
                result => return result.map(|_| ()),
            }
        }
        Err(StoreError::Conflict(path.to_owned()))
    }

    /// Deletes a record if it exists, whatever its version (idempotent).
    pub async fn remove(&self, path: &str) -> Result<(), StoreError> {
        for attempt in 0..CONFLICT_ATTEMPTS {
            let Some((_, version)) = self.get(path).await? else {
                return Ok(());
            };
            match self.delete(path, &version).await {
                Err(StoreError::Conflict(_)) => conflict_backoff(attempt).await,
                result => return result,
            }
        }
        Err(StoreError::Conflict(path.to_owned()))
    }
}

/// The file key store.
pub struct FileStore {
    root: PathBuf,
    /// Serialises check-and-write cycles inside this process.
    lock: tokio::sync::Mutex<()>,
}

impl FileStore {
    /// A store rooted at `root` (created if missing, mode 0700).
    pub fn open(root: &Path) -> Result<FileStore, StoreError> {
        std::fs::create_dir_all(root).map_err(|source| io_error(root, source))?;
        restrict(root, 0o700).map_err(|source| io_error(root, source))?;
        Ok(FileStore {
            root: root.to_owned(),
            lock: tokio::sync::Mutex::new(()),
        })
    }

    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
        // Records are a few KiB and almost always in the page cache: reading inline costs about
        // 3.5 µs, a hop through tokio's blocking pool about 22 µs more (BENCHMARKS.md, KMS).
        // Writes, which fsync, still go through the blocking pool.
        let file = self.file(path);
        match std::fs::read(&file) {
            Ok(data) => {
                let version = version_of(&data);
                Ok(Some((data, version)))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_error(&file, source)),
        }
    }

    async fn put(&self, path: &str, data: &[u8], expect: Expect) -> Result<Version, StoreError> {
        let _guard = self.lock.lock().await;
        let current = self.get(path).await?.map(|(_, version)| version);
        let holds = match (&expect, &current) {
            (Expect::Absent, None) => true,
            (Expect::Version(expected), Some(current)) => expected == current,
            _ => false,
        };
        if !holds {
            return Err(StoreError::Conflict(path.to_owned()));
        }
        let file = self.file(path);
        let version = version_of(data);
        let data = data.to_vec();
        tokio::task::spawn_blocking(move || write_atomically(&file, &data))
            .await
            .map_err(|error| io_error(&self.root, std::io::Error::other(error)))??;
        Ok(version)
    }

    async fn delete(&self, path: &str, version: &Version) -> Result<(), StoreError> {
        let _guard = self.lock.lock().await;
        match self.get(path).await? {
            Some((_, current)) if &current == version => {}
            _ => return Err(StoreError::Conflict(path.to_owned())),
        }
        let file = self.file(path);
        tokio::fs::remove_file(&file)
            .await
            .map_err(|source| io_error(&file, source))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let directory = self.file(prefix);
        let mut entries = match tokio::fs::read_dir(&directory).await {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(io_error(&directory, source)),
        };
        let mut paths = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|source| io_error(&directory, source))?
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') {
                paths.push(format!("{}/{name}", prefix.trim_end_matches('/')));
            }
        }
        paths.sort();
        Ok(paths)
    }

    fn file(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }
}

fn version_of(data: &[u8]) -> Version {
    Version(hex::encode(&Sha256::digest(data)[..16]))
}

/// temp file → fsync → rename → fsync(dir).
fn write_atomically(file: &Path, data: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let directory = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory).map_err(|source| io_error(directory, source))?;
    let temporary = directory.join(format!(".tmp-{}", hex::encode(crate::crypto::random_array::<8>())));
    let write = || -> std::io::Result<()> {
        let mut handle = std::fs::File::create(&temporary)?;
        restrict(&temporary, 0o600)?;
        handle.write_all(data)?;
        handle.sync_all()?;
        std::fs::rename(&temporary, file)?;
        std::fs::File::open(directory)?.sync_all()
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        io_error(file, source)
    })
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conditional_writes_detect_conflicts() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::File(FileStore::open(dir.path()).unwrap());
        let v1 = store.put("keys/a.json", b"one", Expect::Absent).await.unwrap();
        assert!(matches!(
            store.put("keys/a.json", b"again", Expect::Absent).await,
            Err(StoreError::Conflict(_))
        ));
        let v2 = store
            .put("keys/a.json", b"two", Expect::Version(v1.clone()))
            .await
            .unwrap();
        assert!(matches!(
            store.put("keys/a.json", b"stale", Expect::Version(v1)).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.get("keys/a.json").await.unwrap().unwrap(),
            (b"two".to_vec(), v2.clone())
        );
        store.put("keys/b.json", b"b", Expect::Absent).await.unwrap();
        assert_eq!(store.list("keys/").await.unwrap(), ["keys/a.json", "keys/b.json"]);
        store.delete("keys/a.json", &v2).await.unwrap();
        assert!(store.get("keys/a.json").await.unwrap().is_none());
        assert!(store.list("aliases/").await.unwrap().is_empty());
    }
}
