//! What the embedded store records about one object (pure; no I/O): [`ObjectMeta`], the JSON
//! document `<bucket>/.objects/<sha256(key)>.json` (format version 1, see `object_files.rs`).
//!
//! Owns: the fields an object carries besides its bytes — its real key (file names are
//! hashes), the name of its data file, size, ETag, time of writing, the standard content
//! headers, user metadata, checksums, tags and multipart layout — and their conversion to and
//! from s3s's DTOs.
//!
//! Invariants: `size` is the length of the data file; `part_sizes` is empty or adds up to
//! `size`; `data` is a bare file name (hex), never a path.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use s3s::dto::{self, Timestamp, TimestampFormat};
use serde::{Deserialize, Serialize};

use super::tags::ObjectTags;

/// One stored object, as its metadata file holds it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The object key, exactly as the client sent it.
    pub key: String,
    /// The file in `<bucket>/.data/` that holds the bytes.
    pub data: String,
    /// The length of the bytes.
    pub size: u64,
    /// The ETag value, without quotes (`<md5 hex>` or `<md5 hex>-<parts>`).
    pub etag: String,
    /// When the object was written, in milliseconds since the Unix epoch.
    pub last_modified_unix_ms: u64,
    /// The standard headers given at upload.
    #[serde(default)]
    pub headers: ContentHeaders,
    /// `x-amz-meta-*`, without the prefix.
    #[serde(default)]
    pub user_metadata: BTreeMap<String, String>,
    /// Checksums the client asked for, verified at upload (base64, as on the wire).
    #[serde(default)]
    pub checksums: StoredChecksums,
    /// The object's tags.
    #[serde(default)]
    pub tags: ObjectTags,
    /// Sizes of the parts it was assembled from, in order; empty for a single-part object.
    #[serde(default)]
    pub part_sizes: Vec<u64>,
}

/// The standard object headers S3 stores and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// `Expires`, in the HTTP date form it is sent in.
    pub expires: Option<String>,
    pub website_redirect_location: Option<String>,
}

/// Verified checksums of the whole object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub crc64nvme: Option<String>,
}

impl ObjectMeta {
    /// `Last-Modified`.
    pub fn last_modified(&self) -> Timestamp {
        Timestamp::from(UNIX_EPOCH + Duration::from_millis(self.last_modified_unix_ms))
    }

    /// The ETag, as s3s sends it.
    pub fn e_tag(&self) -> dto::ETag {
        dto::ETag::Strong(self.etag.clone())
    }

    /// User metadata, as s3s sends it (`None` when there is none).
    pub fn metadata(&self) -> Option<dto::Metadata> {
        (!self.user_metadata.is_empty()).then(|| self.user_metadata.clone().into_iter().collect())
    }

    /// `Content-Length` as s3s wants it.
    pub fn content_length(&self) -> i64 {
        i64::try_from(self.size).unwrap_or(i64::MAX)
    }
}

impl ContentHeaders {
    /// `Expires` as s3s sends it (unparsable stored values are dropped).
    pub fn expires(&self) -> Option<Timestamp> {
        let value = self.expires.as_deref()?;
        Timestamp::parse(TimestampFormat::HttpDate, value).ok()
    }
}

/// Formats `Expires` for storage.
pub fn format_expires(expires: Option<&Timestamp>) -> Option<String> {
    let mut buffer = Vec::new();
    expires?.format(TimestampFormat::HttpDate, &mut buffer).ok()?;
    String::from_utf8(buffer).ok()
}

/// User metadata from s3s's map, sorted so the stored record is stable.
pub fn user_metadata(metadata: Option<dto::Metadata>) -> BTreeMap<String, String> {
    metadata.into_iter().flatten().collect()
}

impl From<dto::Checksum> for StoredChecksums {
    fn from(checksum: dto::Checksum) -> StoredChecksums {
        StoredChecksums {
            crc32: checksum.checksum_crc32,
            crc32c: checksum.checksum_crc32c,
            sha1: checksum.checksum_sha1,
            sha256: checksum.checksum_sha256,
            crc64nvme: checksum.checksum_crc64nvme,
        }
    }
}

impl StoredChecksums {
    /// As s3s's DTO.
    pub fn to_dto(&self) -> dto::Checksum {
        dto::Checksum {
            checksum_crc32: self.crc32.clone(),
            checksum_crc32c: self.crc32c.clone(),
            checksum_sha1: self.sha1.clone(),
            checksum_sha256: self.sha256.clone(),
            checksum_crc64nvme: self.crc64nvme.clone(),
            ..Default::default()
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_round_trips_in_http_date_form() {
        let expires = Timestamp::parse(TimestampFormat::HttpDate, "Wed, 21 Oct 2015 07:28:00 GMT").expect("date");
        let headers = ContentHeaders {
            expires: format_expires(Some(&expires)),
            ..Default::default()
        };
        assert_eq!(headers.expires.as_deref(), Some("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(headers.expires(), Some(expires));
    }
}
