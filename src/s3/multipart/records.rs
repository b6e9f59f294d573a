//! What s3kms keeps about uploads in progress, in the key store (DESIGN §6): the upload's
//! envelope (its wrapped data key and context), one record per part (ETag, plaintext length,
//! CRC64-NVME, whether it is staged), and the sealed bytes of staged small parts.
//!
//! Layout: `uploads/<id>.json` for the upload (flat, so every key store can list them), and
//! `uploads/<id>/part-NNNNN.json` and `part-NNNNN.bin` for its parts, where `<id>` is the hex
//! of the first 16 bytes of SHA-256 of the upload id. Every instance sharing the key store
//! continues any upload; nothing about an upload lives only in memory. Records are deleted at
//! Complete and Abort, and by [`Uploads::sweep`] once the upstream no longer knows the upload.
//!
//! Every record is read from the store on every use, never cached: an upload completed or
//! aborted through one instance must be gone for all of them at once.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use http::Method;

use crate::kms::blob::EncryptionContext;
use crate::kms::store::{KeyStore, StoreError};
use crate::s3::S3Error;
use crate::s3::sse::{Envelope, Layout, SseAlgorithm};
use crate::upstream::{Upstream, UpstreamRequest};

/// An upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    /// The upload id (the upstream's).
    pub upload_id: String,
    /// When the upload was created, Unix seconds.
    pub initiated: i64,
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// `AES256` or `aws:kms`.
    pub algorithm: String,
    /// The KMS key ARN (or the SSE-S3 marker).
    pub key_arn: String,
    /// base64 of the wrapped data key.
    pub wrapped_key: String,
    /// The client's context pairs, if it sent any.
    pub client_context: Option<EncryptionContext>,
    /// S3 Bucket Key semantics.
    pub bucket_key: bool,
}

impl UploadRecord {
    /// The record of an upload of `bucket/key` under `envelope`.
    pub fn new(upload_id: &str, bucket: &str, key: &str, envelope: &Envelope) -> UploadRecord {
        UploadRecord {
            upload_id: upload_id.to_owned(),
            initiated: crate::s3::unix_now(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            algorithm: envelope.algorithm.as_str().to_owned(),
            key_arn: envelope.key_arn.clone(),
            wrapped_key: STANDARD.encode(&envelope.wrapped_key),
            client_context: envelope.client_context.clone(),
            bucket_key: envelope.bucket_key,
        }
    }

    /// The envelope the completed object carries.
    pub fn envelope(&self) -> Result<Envelope, S3Error> {
        let corrupt = || S3Error::InternalError {
            detail: format!("upload record of {}/{} is corrupt", self.bucket, self.key),
        };
        Ok(Envelope {
            layout: Layout::Multipart,
            algorithm: SseAlgorithm::parse(&self.algorithm).ok_or_else(corrupt)?,
            key_arn: self.key_arn.clone(),
            wrapped_key: STANDARD.decode(&self.wrapped_key).map_err(|_| corrupt())?,
            client_context: self.client_context.clone(),
            bucket_key: self.bucket_key,
        })
    }
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// The part number.
    pub part_number: u32,
    /// The ETag the client was given, quoted.
    pub etag: String,
    /// Plaintext bytes.
    pub plaintext_len: u64,
    /// CRC64-NVME of the plaintext.
    pub crc64: u64,
    /// Kept in the key store until Complete (a part under 5 MiB), not uploaded.
    pub staged: bool,
    /// When it was uploaded (RFC 3339 / ISO 8601, UTC).
    pub last_modified: String,
}

/// The upload records in the key store.
pub struct Uploads {
    store: Arc<KeyStore>,
}

impl Uploads {
    /// Records kept in `store`.
    pub fn new(store: Arc<KeyStore>) -> Uploads {
        Uploads { store }
    }

    /// Records a new upload.
    pub async fn create(&self, upload_id: &str, record: &UploadRecord) -> Result<(), S3Error> {
        let bytes = serde_json::to_vec(record).map_err(|e| internal(&e.to_string()))?;
        self.replace(&upload_path(upload_id), &bytes).await
    }

    /// The upload `upload_id` of `bucket/key`; `NoSuchUpload` when there is none.
    pub async fn upload(&self, upload_id: &str, bucket: &str, key: &str) -> Result<Arc<UploadRecord>, S3Error> {
        match self.find(upload_id).await? {
            Some(record) if record.bucket == bucket && record.key == key => Ok(record),
            _ => Err(no_such_upload(upload_id)),
        }
    }

    /// The record of `upload_id`, whatever object it is for.
    pub async fn find(&self, upload_id: &str) -> Result<Option<Arc<UploadRecord>>, S3Error> {
        let Some((bytes, _)) = self.store.get(&upload_path(upload_id)).await.map_err(store_error)? else {
            return Ok(None);
        };
        let record: UploadRecord = serde_json::from_slice(&bytes).map_err(|e| internal(&e.to_string()))?;
        Ok(Some(Arc::new(record)))
    }

    /// Records a part (replacing an earlier upload of the same number), with its staged bytes.
    pub async fn put_part(&self, upload_id: &str, part: &PartRecord, staged: Option<&[u8]>) -> Result<(), S3Error> {
        let number = part.part_number;
        match staged {
            Some(bytes) => self.replace(&staged_path(upload_id, number), bytes).await?,
            None => self.remove(&staged_path(upload_id, number)).await?,
        }
        let bytes = serde_json::to_vec(part).map_err(|e| internal(&e.to_string()))?;
        self.replace(&part_path(upload_id, number), &bytes).await
    }

    /// The record of part `number`, if uploaded.
    pub async fn part(&self, upload_id: &str, number: u32) -> Result<Option<PartRecord>, S3Error> {
        let Some((bytes, _)) = self
            .store
            .get(&part_path(upload_id, number))
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| internal(&e.to_string()))
    }

    /// Every part record, by part number.
    pub async fn parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, S3Error> {
        let mut parts = Vec::new();
        for path in self.store.list(&listing_prefix(upload_id)).await.map_err(store_error)? {
            let Some(number) = path
                .rsplit('/')
                .next()
                .and_then(|name| name.strip_prefix("part-"))
                .and_then(|name| name.strip_suffix(".json"))
                .and_then(|digits| digits.parse().ok())
            else {
                continue;
            };
            if let Some(part) = self.part(upload_id, number).await? {
                parts.push(part);
            }
        }
        parts.sort_by_key(|part| part.part_number);
        Ok(parts)
    }

    /// The sealed bytes of a staged part.
    pub async fn staged(&self, upload_id: &str, number: u32) -> Result<Vec<u8>, S3Error> {
        match self
            .store
            .get(&staged_path(upload_id, number))
            .await
            .map_err(store_error)?
        {
            Some((bytes, _)) => Ok(bytes),
            None => Err(internal(&format!(
                "staged part {number} of upload {upload_id} is missing"
            ))),
        }
    }

    /// Every upload record, oldest first.
    pub async fn uploads(&self) -> Result<Vec<UploadRecord>, S3Error> {
        let mut uploads = Vec::new();
        for path in self.store.list(UPLOADS_PREFIX).await.map_err(store_error)? {
            if !path.ends_with(".json") {
                continue;
            }
            let Some((bytes, _)) = self.store.get(&path).await.map_err(store_error)? else {
                continue;
            };
            match serde_json::from_slice::<UploadRecord>(&bytes) {
                Ok(record) => uploads.push(record),
                Err(error) => tracing::warn!(path, %error, "unreadable upload record"),
            }
        }
        uploads.sort_by_key(|record| record.initiated);
        Ok(uploads)
    }

    /// Forgets the uploads created more than `stale_after` seconds before `now` that the
    /// upstream no longer knows (aborted or completed behind s3kms's back, or lost); uploads
    /// the upstream still has are kept, however old, as AWS keeps them until aborted. Returns
    /// how many were forgotten.
    pub async fn sweep(&self, upstream: &Upstream, stale_after: i64, now: i64) -> Result<usize, S3Error> {
        let mut forgotten = 0;
        for record in self.uploads().await? {
            if now - record.initiated < stale_after {
                break;
            }
            let probe = UpstreamRequest {
                method: Method::GET,
                bucket: Some(record.bucket.clone()),
                key: Some(record.key.clone()),
                query: vec![
                    ("uploadId".to_owned(), record.upload_id.clone()),
                    ("max-parts".to_owned(), "1".to_owned()),
                ],
                headers: http::HeaderMap::new(),
                body: None,
            };
            match upstream.send(probe).await {
                Ok(response) if response.status() == http::StatusCode::NOT_FOUND => {
                    self.forget(&record.upload_id).await;
                    forgotten += 1;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "upload sweep: the upstream did not answer"),
            }
        }
        Ok(forgotten)
    }

    /// Forgets an upload (Complete, Abort); best effort on every record.
    pub async fn forget(&self, upload_id: &str) {
        let paths = self.store.list(&listing_prefix(upload_id)).await.unwrap_or_default();
        for path in &paths {
            if let Err(error) = self.remove(path).await {
                tracing::warn!(%error, path, "upload record not removed");
            }
        }
        if let Err(error) = self.remove(&upload_path(upload_id)).await {
            tracing::warn!(%error, "upload record not removed");
        }
    }

    async fn replace(&self, path: &str, bytes: &[u8]) -> Result<(), S3Error> {
        self.store.replace(path, bytes).await.map_err(store_error)
    }

    async fn remove(&self, path: &str) -> Result<(), S3Error> {
        self.store.remove(path).await.map_err(store_error)
    }
}

/// AWS's error for an unknown upload id.
pub fn no_such_upload(upload_id: &str) -> S3Error {
    S3Error::NoSuchUpload {
        upload_id: upload_id.to_owned(),
    }
}

/// Where upload records live.
const UPLOADS_PREFIX: &str = "uploads/";

fn directory(upload_id: &str) -> String {
    format!(
        "{UPLOADS_PREFIX}{}",
        hex::encode(&Sha256::digest(upload_id.as_bytes())[..16])
    )
}

/// The prefix that lists an upload's records (both stores list the names right below it).
fn listing_prefix(upload_id: &str) -> String {
    format!("{}/", directory(upload_id))
}

fn upload_path(upload_id: &str) -> String {
    format!("{}.json", directory(upload_id))
}

fn part_path(upload_id: &str, number: u32) -> String {
    format!("{}/part-{number:05}.json", directory(upload_id))
}

fn staged_path(upload_id: &str, number: u32) -> String {
    format!("{}/part-{number:05}.bin", directory(upload_id))
}

fn store_error(error: StoreError) -> S3Error {
    S3Error::ServiceUnavailable {
        detail: format!("upload records: {error}"),
    }
}

fn internal(detail: &str) -> S3Error {
    S3Error::InternalError {
        detail: detail.to_owned(),
    }
}

/// How often [`run_sweeper`] looks.
pub const SWEEP_PERIOD: std::time::Duration = std::time::Duration::from_secs(3600);
/// Uploads younger than this are never swept.
pub const STALE_AFTER_SECONDS: i64 = 24 * 3600;

/// Sweeps upload records every [`SWEEP_PERIOD`], forever (spawn it).
pub async fn run_sweeper(store: Arc<KeyStore>, upstream: Upstream) {
    let uploads = Uploads::new(store);
    let mut ticker = tokio::time::interval(SWEEP_PERIOD);
    loop {
        ticker.tick().await;
        match uploads
            .sweep(&upstream, STALE_AFTER_SECONDS, crate::s3::unix_now())
            .await
        {
            Ok(0) => {}
            Ok(forgotten) => tracing::info!(forgotten, "forgot upload records the upstream no longer has"),
            Err(error) => tracing::warn!(%error, "upload sweep failed"),
        }
    }
}
