//! The S3 API (L2): every request that is not a KMS call.
//!
//! Owns the request pipeline, in this order: address → authenticate → verified body →
//! upstream request → streamed response. Each step is a function that returns a typed value
//! or an [`S3Error`]; errors become AWS's XML here and nowhere else.
//!
//! Does not: parse signatures (`sigv4`), decide permissions (later: `policy`), or talk HTTP to
//! the store itself (`upstream`).

pub mod access;
pub mod auth;
mod body;
pub mod bucket_config;
mod conditional;
pub mod error;
mod forward;
pub mod listing;
pub mod operation;
pub mod route;
pub mod sse;
mod upstream_error;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rand::RngCore;
use tracing::Instrument;

pub use error::S3Error;

pub use crate::http::{ResponseBody, full_body};

use crate::config::{Config, KeyStoreConfig};
use crate::http::{closes_unread_body, declares_body};
use crate::identity::UserDirectory;
use crate::metrics::Metrics;
use crate::sigv4;
use crate::upstream::{Upstream, UpstreamBody, UpstreamRequest};
use auth::{Payload, RequestView};
use body::{BodyPromise, Verdict, VerifiedBody};
use operation::Operation;
use route::S3Address;

/// Query parameters that carry a presigned URL's credentials; never forwarded.
const AUTH_QUERY_PARAMETERS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// The S3 side of s3kms.
pub struct S3Api {
    metrics: Arc<Metrics>,
    users: UserDirectory,
    region: String,
    domain: Option<String>,
    /// The bucket of the `s3` key store: s3kms's own, never reachable through the S3 API.
    reserved_bucket: Option<String>,
    upstream: Upstream,
}

impl S3Api {
    /// The S3 API for `config`, forwarding to `upstream`.
    pub fn new(config: &Config, users: UserDirectory, upstream: Upstream, metrics: Arc<Metrics>) -> S3Api {
        S3Api {
            metrics,
            users,
            region: config.region.clone(),
            domain: config.domain.clone(),
            reserved_bucket: match &config.key_store {
                KeyStoreConfig::S3 { bucket, .. } => Some(bucket.clone()),
                KeyStoreConfig::File => None,
            },
            upstream,
        }
    }

    /// Answers one request. Never fails: every error becomes an S3 error response.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let request_id = new_request_id();
        let (parts, body) = request.into_parts();
        let head = parts.method == Method::HEAD;
        let host = parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
        let address = match route::resolve(parts.uri.path(), host, self.domain.as_deref()) {
            Ok(address) => address,
            Err(error) => return error_response(&error, "/", &request_id, head),
        };
        let started = Instant::now();
        let declares_body = declares_body(&parts.headers);
        let query = sigv4::decode_query(parts.uri.query().unwrap_or(""));
        let operation = Operation::classify(&parts.method, &address, &query, &parts.headers);
        let span = tracing::info_span!("s3", request_id = %request_id, ?operation);
        let served = self
            .serve(&parts, body, &address, &query, operation, &request_id)
            .instrument(span)
            .await;
        let mut response = match served {
            Ok(response) => response,
            Err(error) => {
                log_error(&error, &parts, &request_id);
                error_response(&error, &address.resource(), &request_id, head)
            }
        };
        closes_unread_body(declares_body, response.status(), response.headers_mut());
        self.metrics
            .s3_request(&format!("{operation:?}"), response.status().as_u16(), started.elapsed());
        response
    }

    async fn serve(
        &self,
        parts: &Parts,
        body: Incoming,
        address: &S3Address,
        query: &[(String, String)],
        operation: Operation,
        request_id: &str,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let view = RequestView {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            query,
            headers: &parts.headers,
        };
        let authenticated = auth::authenticate(&self.users.current(), &self.region, &view, unix_now())?;
        if address.bucket.is_some() && address.bucket == self.reserved_bucket {
            // The KMS's records live there; no client may read or write them, whatever its policy.
            return Err(S3Error::AccessDenied);
        }
        tracing::debug!(
            request_id,
            user = %authenticated.user.name,
            ?operation,
            resource = %address.resource(),
            "authenticated"
        );
        let checksum_in_trailer = matches!(authenticated.payload, Payload::Chunked(_));
        let verdict = Verdict::default();
        let body = inbound_body(parts, body, authenticated.payload, verdict.clone())?;
        let body = match body {
            Some(body) => {
                let length = body.length();
                Some((body::prime(body).await?.boxed_unsync() as UpstreamBody, length))
            }
            None => None,
        };
        let from_query = !parts.headers.contains_key(http::header::AUTHORIZATION);
        let request = UpstreamRequest {
            method: parts.method.clone(),
            bucket: address.bucket.clone(),
            key: address.key.clone(),
            query: query
                .iter()
                .filter(|(name, _)| !(from_query && AUTH_QUERY_PARAMETERS.contains(&name.as_str())))
                .cloned()
                .collect(),
            headers: forward::request_headers(&parts.headers, checksum_in_trailer),
            body,
        };
        let response = self.upstream.send(request).await.map_err(|error| {
            verdict.failure().unwrap_or_else(|| {
                self.metrics.upstream_error();
                S3Error::ServiceUnavailable {
                    detail: error.to_string(),
                }
            })
        })?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let head = parts.method == Method::HEAD;
            let resource = address.resource();
            return Ok(rewrite_upstream_error(response, &resource, request_id, head).await);
        }
        if operation == Operation::ListBuckets
            && let Some(reserved) = &self.reserved_bucket
        {
            return Ok(forward::without_bucket(response, reserved, request_id).await);
        }
        let reads_object = address.key.is_some() && (parts.method == Method::GET || parts.method == Method::HEAD);
        if reads_object && response.status().is_success() {
            match conditional::evaluate(&parts.headers, response.headers()) {
                conditional::Outcome::Proceed => {}
                conditional::Outcome::NotModified => {
                    return Ok(forward::not_modified(response, request_id));
                }
                conditional::Outcome::PreconditionFailed(condition) => {
                    return Err(S3Error::PreconditionFailed { condition });
                }
            }
        }
        Ok(forward::response(response, request_id))
    }
}

/// An upstream error response, with the document rewritten as s3kms's own.
async fn rewrite_upstream_error(
    response: Response<Incoming>,
    resource: &str,
    request_id: &str,
    head: bool,
) -> Response<ResponseBody> {
    let status = response.status();
    let body = if head {
        Bytes::new()
    } else {
        let limit = upstream_error::MAX_ERROR_DOCUMENT;
        let limited = http_body_util::Limited::new(response.into_body(), limit);
        let document = limited.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        Bytes::from(upstream_error::rewrite(&document, resource, request_id))
    };
    let length = body.len();
    let mut rewritten = Response::new(full_body(body));
    *rewritten.status_mut() = status;
    let headers = rewritten.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(length));
    forward::stamp(headers, request_id);
    rewritten
}

/// The verified body of a request, or `None` for requests without one.
fn inbound_body(
    parts: &Parts,
    body: Incoming,
    payload: Payload,
    verdict: Verdict,
) -> Result<Option<VerifiedBody>, S3Error> {
    let headers = &parts.headers;
    let (length, chunked, sha256) = match payload {
        Payload::Chunked(mode) => {
            let length = header_u64(headers, "x-amz-decoded-content-length")?.ok_or(S3Error::MissingContentLength)?;
            (length, Some(sigv4::ChunkedDecoder::new(mode, length)), None)
        }
        Payload::Sha256(_) | Payload::Unsigned => {
            let sha256 = match payload {
                Payload::Sha256(digest) => Some(digest),
                _ => None,
            };
            match header_u64(headers, "content-length")? {
                Some(length) => (length, None, sha256),
                None if parts.method == Method::PUT || headers.contains_key(http::header::TRANSFER_ENCODING) => {
                    return Err(S3Error::MissingContentLength);
                }
                None => return Ok(None),
            }
        }
    };
    let carries_body = chunked.is_some() || parts.method == Method::PUT || parts.method == Method::POST;
    if length == 0 && !carries_body {
        return Ok(None);
    }
    let promise = BodyPromise {
        length,
        sha256,
        md5: content_md5(headers)?,
        checksum: checksum_header(headers)?,
        chunked,
    };
    Ok(Some(VerifiedBody::new(body, promise, verdict)))
}

fn header_u64(headers: &HeaderMap, name: &str) -> Result<Option<u64>, S3Error> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let parsed = value.to_str().ok().and_then(|v| v.trim().parse().ok());
    parsed.map(Some).ok_or_else(|| S3Error::InvalidArgument {
        message: format!("Invalid {name} header."),
        name: name.to_owned(),
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
    })
}

fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, S3Error> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| S3Error::InvalidDigest)?;
    crate::checksum::decode_content_md5(text)
        .map(Some)
        .ok_or(S3Error::InvalidDigest)
}

fn checksum_header(headers: &HeaderMap) -> Result<Option<(crate::checksum::ChecksumAlgorithm, Vec<u8>)>, S3Error> {
    let mut found = None;
    for algorithm in crate::checksum::ChecksumAlgorithm::ALL {
        let Some(value) = headers.get(algorithm.header_name()) else {
            continue;
        };
        if found.is_some() {
            return Err(S3Error::InvalidRequest {
                message: "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    .to_owned(),
            });
        }
        let digest = value
            .to_str()
            .ok()
            .and_then(|v| algorithm.decode(v))
            .ok_or_else(|| S3Error::InvalidRequest {
                message: format!("Value for {} header is invalid.", algorithm.header_name()),
            })?;
        found = Some((algorithm, digest));
    }
    Ok(found)
}

fn error_response(error: &S3Error, resource: &str, request_id: &str, head: bool) -> Response<ResponseBody> {
    let mut response = error.to_response(resource, request_id, head);
    forward::stamp(response.headers_mut(), request_id);
    response
}

fn log_error(error: &S3Error, parts: &Parts, request_id: &str) {
    use error::Fault;
    let (method, path) = (&parts.method, parts.uri.path());
    match error.fault() {
        Fault::Client => {
            tracing::info!(request_id, %method, path, code = error.code(), "request refused")
        }
        Fault::Upstream | Fault::Internal => {
            let detail = match error {
                S3Error::ServiceUnavailable { detail } | S3Error::InternalError { detail } => detail.as_str(),
                _ => "",
            };
            tracing::warn!(request_id, %method, path, code = error.code(), detail, "request failed");
        }
    }
}

/// A request id in AWS's form: 16 upper-case hex digits.
fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode_upper(bytes)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
