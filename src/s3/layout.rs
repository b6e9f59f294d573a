//! What s3kms learns about a stored object from its upstream headers, and the authenticated
//! part table of a multipart object, cached.
//!
//! Owns: reading an upstream object response into a [`StoredObject`] (envelope, stored and
//! plaintext sizes, backend part count from the `-M` ETag suffix) and loading a multipart
//! object's manifest with one suffix read ([`load_layout`]). Layouts are cached by bucket,
//! key and upstream ETag — an overwrite changes the ETag, so a stale layout is never used —
//! and a cached layout never replaces the per-request `kms:Decrypt` check: the manifest is
//! opened with the data key the caller just obtained.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;

use super::sse::{Envelope, Layout};
use super::{S3Api, S3Error};
use crate::crypto::Key256;
use crate::format::{Manifest, ManifestFooter, MultipartLayout, multipart_plaintext_len, plaintext_len};
use crate::upstream::UpstreamRequest;

/// Layouts kept at most (about 16 bytes per part each).
const MAX_CACHED_LAYOUTS: usize = 1024;

/// An object as its upstream headers describe it.
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// s3kms's envelope; `None` for an object s3kms did not write.
    pub envelope: Option<Envelope>,
    /// Bytes stored upstream.
    pub stored_len: u64,
    /// The upstream ETag, quoted as sent.
    pub etag: Option<HeaderValue>,
    /// Backend parts of a multipart object (the ETag's `-M`).
    pub backend_parts: Option<u32>,
    /// The version the client asked for (`versionId`): every further read is of it.
    pub version_id: Option<String>,
}

impl StoredObject {
    /// Reads the headers of an upstream HEAD or whole GET.
    pub fn from_headers(headers: &HeaderMap, stored_len: u64) -> Result<StoredObject, S3Error> {
        let envelope = Envelope::from_headers(headers).map_err(|error| S3Error::InternalError {
            detail: format!("stored object metadata: {error}"),
        })?;
        let etag = headers.get(http::header::ETAG).cloned();
        let backend_parts = etag.as_ref().and_then(part_count);
        Ok(StoredObject {
            envelope,
            stored_len,
            etag,
            backend_parts,
            version_id: None,
        })
    }

    /// The same object, read at `version_id` (when the client named one).
    pub fn at_version(mut self, version_id: Option<&str>) -> StoredObject {
        self.version_id = version_id.map(str::to_owned);
        self
    }

    /// The object's plaintext size, from stored size and layout alone (no key, no request).
    pub fn plaintext_len(&self) -> Result<u64, S3Error> {
        let Some(envelope) = &self.envelope else {
            return Ok(self.stored_len);
        };
        let size = match envelope.layout {
            Layout::Single => plaintext_len(self.stored_len),
            Layout::Multipart => self
                .backend_parts
                .and_then(|parts| multipart_plaintext_len(self.stored_len, parts)),
        };
        size.ok_or_else(|| S3Error::InternalError {
            detail: format!("stored size {} is not an s3kms object's", self.stored_len),
        })
    }
}

/// The part count of a multipart ETag (`"…-M"`).
pub fn part_count(etag: &HeaderValue) -> Option<u32> {
    let text = etag.to_str().ok()?.trim().trim_matches('"');
    let (_, count) = text.rsplit_once('-')?;
    count.parse().ok()
}

/// Stored size from a response: `Content-Range: bytes a-b/N` or `Content-Length`.
pub fn stored_size(headers: &HeaderMap) -> Option<u64> {
    if let Some(range) = headers.get(http::header::CONTENT_RANGE) {
        return range.to_str().ok()?.rsplit_once('/')?.1.trim().parse().ok();
    }
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Multipart layouts by (bucket, key, upstream ETag).
#[derive(Default)]
pub struct LayoutCache(Mutex<HashMap<(String, String, String), Arc<MultipartLayout>>>);

impl LayoutCache {
    fn get(&self, id: &(String, String, String)) -> Option<Arc<MultipartLayout>> {
        self.0.lock().ok()?.get(id).cloned()
    }

    fn put(&self, id: (String, String, String), layout: Arc<MultipartLayout>) {
        if let Ok(mut cache) = self.0.lock() {
            if cache.len() >= MAX_CACHED_LAYOUTS {
                cache.clear();
            }
            cache.insert(id, layout);
        }
    }
}

/// The part table of a multipart object: from the cache, or one suffix read of its manifest.
pub async fn load_layout(
    api: &S3Api,
    bucket: &str,
    key: &str,
    object: &StoredObject,
    data_key: &Key256,
) -> Result<Arc<MultipartLayout>, S3Error> {
    let etag = object
        .etag
        .as_ref()
        .and_then(|e| e.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let id = (bucket.to_owned(), key.to_owned(), etag);
    let cached = api.layouts.get(&id);
    api.metrics.cache_lookup("multipart_layout", cached.is_some());
    if let Some(layout) = cached {
        return Ok(layout);
    }
    let parts = u64::from(object.backend_parts.unwrap_or(1));
    // Manifest length ≤ 48 + 32 + 16·N + 16·(N − 1) + 160 + 16 + 32 with N ≤ M.
    let bound = (288 + 32 * parts).min(object.stored_len);
    let suffix = read_range(api, bucket, key, object, object.stored_len - bound, object.stored_len).await?;
    let corrupt = |what: &str| S3Error::InternalError {
        detail: format!("manifest of {bucket}/{key}: {what}"),
    };
    let footer_at = suffix
        .len()
        .checked_sub(ManifestFooter::LEN)
        .ok_or_else(|| corrupt("short"))?;
    let footer = ManifestFooter::parse(&suffix[footer_at..]).map_err(|e| corrupt(&e.to_string()))?;
    let manifest_len = usize::try_from(footer.manifest_len()).map_err(|_| corrupt("length"))?;
    let start = suffix
        .len()
        .checked_sub(manifest_len)
        .ok_or_else(|| corrupt("length"))?;
    let manifest = Manifest::open(data_key, &suffix[start..]).map_err(|e| corrupt(&e.to_string()))?;
    let layout = Arc::new(MultipartLayout::new(&manifest));
    if layout.manifest_offset() + manifest.stored_len() != object.stored_len
        || Some(manifest.backend_part_count()) != object.backend_parts
    {
        return Err(corrupt("sizes disagree with the manifest"));
    }
    api.layouts.put(id, Arc::clone(&layout));
    Ok(layout)
}

/// Reads stored bytes `start..end` of an object, pinned to its ETag.
pub async fn read_range(
    api: &S3Api,
    bucket: &str,
    key: &str,
    object: &StoredObject,
    start: u64,
    end: u64,
) -> Result<Bytes, S3Error> {
    let response = api.send(ranged_request(bucket, key, object, start, end)).await?;
    if !response.status().is_success() {
        return Err(changed_or_unavailable(response.status()));
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|error| S3Error::ServiceUnavailable {
            detail: format!("reading {bucket}/{key}: {error}"),
        })?
        .to_bytes();
    if bytes.len() as u64 != end - start {
        return Err(S3Error::ServiceUnavailable {
            detail: format!("short read of {bucket}/{key}"),
        });
    }
    Ok(bytes)
}

/// A GET of stored bytes `start..end` (exclusive) of `object`'s version, with `If-Match` on its
/// ETag so that a concurrent overwrite fails instead of mixing two objects.
pub fn ranged_request(bucket: &str, key: &str, object: &StoredObject, start: u64, end: u64) -> UpstreamRequest {
    let mut headers = HeaderMap::new();
    if let Ok(range) = HeaderValue::from_str(&format!("bytes={start}-{}", end.saturating_sub(1))) {
        headers.insert(http::header::RANGE, range);
    }
    if let Some(etag) = &object.etag {
        headers.insert(http::header::IF_MATCH, etag.clone());
    }
    UpstreamRequest {
        method: Method::GET,
        bucket: Some(bucket.to_owned()),
        key: Some(key.to_owned()),
        query: object
            .version_id
            .iter()
            .map(|version| ("versionId".to_owned(), version.clone()))
            .collect(),
        headers,
        body: None,
    }
}

/// The error for an upstream read that did not return the bytes asked for.
pub fn changed_or_unavailable(status: http::StatusCode) -> S3Error {
    if status == http::StatusCode::PRECONDITION_FAILED {
        // The object was replaced between two reads of one request; the client may retry.
        S3Error::ServiceUnavailable {
            detail: "the object changed while it was read".to_owned(),
        }
    } else {
        S3Error::ServiceUnavailable {
            detail: format!("upstream answered {status} to a ranged read"),
        }
    }
}
