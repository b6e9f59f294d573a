//! The `s3` key store: KMS records as objects in a bucket of the upstream store.
//!
//! Each record `<path>` is the object `<prefix><path>` in the configured bucket, written with
//! the service credential through the same [`Upstream`] client the S3 path uses. The version
//! of a record is its ETag; creates send `If-None-Match: *`, updates and deletes send
//! `If-Match: <etag>`, and a `412 Precondition Failed` is a [`StoreError::Conflict`] — so two
//! instances that update the same key concurrently never lose each other's change. An
//! upstream that ignores `If-Match` on DELETE makes a delete last-writer-wins (deletes only
//! happen for keys past their deletion date and for aliases).
//!
//! The bucket must be private to s3kms: whoever can write it can replace key records (the
//! material inside stays sealed under the root key, which never leaves the s3kms hosts).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;

use super::store::{Expect, StoreError, Version};
use crate::upstream::{Upstream, UpstreamBody, UpstreamRequest};
use crate::xml::Document;

/// The largest record read (a key with many grants and versions stays far below).
const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Records in a bucket of the upstream.
pub struct S3Store {
    upstream: Upstream,
    bucket: String,
    prefix: String,
}

impl S3Store {
    /// A store in `bucket` under `prefix`; creates the bucket if it does not exist.
    pub async fn open(upstream: Upstream, bucket: &str, prefix: &str) -> Result<S3Store, StoreError> {
        let store = S3Store {
            upstream,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        };
        let response = store
            .send(Method::PUT, None, Vec::new(), HeaderMap::new(), Some(Bytes::new()))
            .await?;
        match response.0 {
            status if status.is_success() || status == StatusCode::CONFLICT => Ok(store),
            status => Err(failure(&format!("create bucket {bucket}"), status, &response.2)),
        }
    }

    pub(super) async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Version)>, StoreError> {
        let (status, headers, body) = self
            .send(Method::GET, Some(path), Vec::new(), HeaderMap::new(), None)
            .await?;
        match status {
            StatusCode::OK => Ok(Some((body.to_vec(), etag(&headers, path)?))),
            StatusCode::NOT_FOUND => Ok(None),
            status => Err(failure(path, status, &body)),
        }
    }

    pub(super) async fn put(&self, path: &str, data: &[u8], expect: Expect) -> Result<Version, StoreError> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        condition(&mut headers, &expect);
        let body = Some(Bytes::copy_from_slice(data));
        let (status, response, text) = self.send(Method::PUT, Some(path), Vec::new(), headers, body).await?;
        match status {
            status if status.is_success() => etag(&response, path),
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT => Err(StoreError::Conflict(path.to_owned())),
            status => Err(failure(path, status, &text)),
        }
    }

    pub(super) async fn delete(&self, path: &str, version: &Version) -> Result<(), StoreError> {
        let mut headers = HeaderMap::new();
        condition(&mut headers, &Expect::Version(version.clone()));
        let (status, _, text) = self.send(Method::DELETE, Some(path), Vec::new(), headers, None).await?;
        match status {
            status if status.is_success() || status == StatusCode::NOT_FOUND => Ok(()),
            StatusCode::PRECONDITION_FAILED => Err(StoreError::Conflict(path.to_owned())),
            status => Err(failure(path, status, &text)),
        }
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let full_prefix = format!("{}{prefix}", self.prefix);
        let mut paths = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("list-type".to_owned(), "2".to_owned()),
                ("prefix".to_owned(), full_prefix.clone()),
            ];
            if let Some(token) = &token {
                query.push(("continuation-token".to_owned(), token.clone()));
            }
            let (status, _, body) = self.send(Method::GET, None, query, HeaderMap::new(), None).await?;
            if !status.is_success() {
                return Err(failure(&full_prefix, status, &body));
            }
            let listing = Document::parse(&body).map_err(|e| io(&full_prefix, e.to_string()))?;
            for key in listing.all("Contents/Key") {
                if let Some(path) = key.strip_prefix(&self.prefix) {
                    let relative = path.strip_prefix(prefix).unwrap_or(path);
                    if !relative.contains('/') {
                        paths.push(path.to_owned());
                    }
                }
            }
            token = listing.one("NextContinuationToken").map(str::to_owned);
            if token.is_none() || listing.one("IsTruncated") != Some("true") {
                break;
            }
        }
        paths.sort();
        Ok(paths)
    }

    /// Sends one request and reads the whole (small) response.
    async fn send(
        &self,
        method: Method,
        path: Option<&str>,
        query: Vec<(String, String)>,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, HeaderMap, Bytes), StoreError> {
        let body = body.map(|bytes| {
            let length = bytes.len() as u64;
            let body: UpstreamBody = http_body_util::Full::new(bytes)
                .map_err(|never| match never {})
                .boxed_unsync();
            (body, length)
        });
        let request = UpstreamRequest {
            method,
            bucket: Some(self.bucket.clone()),
            key: path.map(|path| format!("{}{path}", self.prefix)),
            query,
            headers,
            body,
        };
        let where_ = format!("s3://{}/{}{}", self.bucket, self.prefix, path.unwrap_or(""));
        let response = self
            .upstream
            .send(request)
            .await
            .map_err(|e| io(&where_, e.to_string()))?;
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_RECORD)
            .collect()
            .await
            .map_err(|e| io(&where_, e.to_string()))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }
}

fn condition(headers: &mut HeaderMap, expect: &Expect) {
    match expect {
        Expect::Absent => {
            headers.insert(http::header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        }
        Expect::Version(Version(etag)) => {
            if let Ok(value) = HeaderValue::from_str(etag) {
                headers.insert(http::header::IF_MATCH, value);
            }
        }
    }
}

fn etag(headers: &HeaderMap, path: &str) -> Result<Version, StoreError> {
    headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|etag| Version(etag.to_owned()))
        .ok_or_else(|| io(path, "the upstream returned no ETag".to_owned()))
}

fn failure(path: &str, status: StatusCode, body: &[u8]) -> StoreError {
    let code = Document::parse(body)
        .ok()
        .and_then(|d| d.one("Code").map(str::to_owned))
        .unwrap_or_default();
    io(path, format!("upstream answered {status} {code}"))
}

fn io(path: &str, detail: String) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        source: std::io::Error::other(detail),
    }
}
