//! The S3 API (L2): every request that is not a KMS call.
//!
//! Owns the request pipeline, in this order: address → authenticate → verified body →
//! upstream request → streamed response. Each step is a function that returns a typed value
//! or an [`S3Error`]; errors become AWS's XML here and nowhere else.
//!
//! Does not: parse signatures (`sigv4`), decide permissions (later: `policy`), or talk HTTP to
//! the store itself (`upstream`).

pub mod access;
mod attributes;
pub mod auth;
mod body;
mod bucket;
pub mod bucket_config;
mod conditional;
mod copy;
pub mod delete_objects;
pub mod encryption;
pub mod error;
pub mod form;
mod forward;
mod get;
mod layout;
pub mod listing;
pub mod multipart;
pub mod operation;
mod post_object;
pub mod post_policy;
mod put;
mod read;
pub mod rewrap;
pub mod route;
mod source;
pub mod sse;
mod stream;
mod upstream_error;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use rand::RngCore;
use tracing::Instrument;

pub use error::S3Error;

pub use crate::http::{ResponseBody, full_body};

use crate::buckets::BucketSettings;
use crate::config::{Config, KeyStoreConfig};
use crate::http::{closes_unread_body, declares_body};
use crate::identity::{User, UserDirectory};
use crate::kms::{Caller, Kms};
use crate::metrics::Metrics;
use crate::sigv4;
use crate::upstream::{Upstream, UpstreamBody, UpstreamRequest};
use auth::{Payload, RequestView};
use body::{Verdict, VerifiedBody};
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
    /// Buckets whose objects not written by s3kms are served as stored.
    plaintext_buckets: Vec<String>,
    /// SSE-KMS is accepted over plain HTTP (AWS refuses it).
    allow_sse_kms_over_http: bool,
    /// How long a request body may stall.
    body_idle_timeout: std::time::Duration,
    upstream: Upstream,
    kms: Arc<Kms>,
    settings: BucketSettings,
    uploads: multipart::Uploads,
    layouts: layout::LayoutCache,
}

/// One authenticated S3 request, as the handlers see it.
pub struct S3Request<'a> {
    /// Method, URI and headers.
    pub parts: &'a Parts,
    /// Bucket and key.
    pub address: &'a S3Address,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// The operation.
    pub operation: Operation,
    /// The caller.
    pub user: Arc<User>,
    /// The id returned in `x-amz-request-id`.
    pub request_id: &'a str,
    /// The client's address.
    pub peer: SocketAddr,
    /// The client's connection is TLS.
    pub secure: bool,
    /// Signed with Signature Version 2 (SSE-KMS objects refuse it, as AWS).
    pub signature_v2: bool,
}

impl S3Request<'_> {
    /// The caller as the KMS sees a call S3 makes on the user's behalf.
    pub fn caller(&self) -> Caller {
        Caller {
            principal: self.user.principal(),
            user_name: self.user.name.clone(),
            access_key_id: self.user.access_key_id.clone(),
            identity_policies: self.user.policies.clone(),
            source_ip: self.peer.ip().to_string(),
            user_agent: self
                .parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            request_id: self.request_id.to_owned(),
            via_s3: true,
            secure_transport: self.secure,
        }
    }

    /// A query parameter's value.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// AWS's refusal of SSE-KMS requests not signed with SigV4, or (unless `allow_http`) not
    /// made over TLS (spec §3.5).
    pub fn require_kms_transport(&self, allow_http: bool) -> Result<(), S3Error> {
        let refusal = |requirement: &str| S3Error::InvalidArgument {
            message: format!("Requests specifying Server Side Encryption with AWS KMS managed keys {requirement}"),
            name: "Authorization".to_owned(),
            value: "null".to_owned(),
        };
        if self.signature_v2 {
            return Err(refusal("require AWS Signature Version 4."));
        }
        if !self.secure && !allow_http {
            return Err(refusal("must be made over a secure connection."));
        }
        Ok(())
    }

    /// The bucket (present for every object and bucket operation).
    pub fn bucket(&self) -> Result<&str, S3Error> {
        self.address.bucket.as_deref().ok_or(S3Error::AccessDenied)
    }

    /// The object key (present for every object operation).
    pub fn key(&self) -> Result<&str, S3Error> {
        self.address.key.as_deref().ok_or(S3Error::AccessDenied)
    }
}

impl S3Api {
    /// The S3 API for `config`, forwarding to `upstream`, asking `kms` for data keys.
    pub fn new(
        config: &Config,
        users: UserDirectory,
        upstream: Upstream,
        kms: Arc<Kms>,
        metrics: Arc<Metrics>,
    ) -> S3Api {
        let store = kms.store();
        S3Api {
            metrics,
            users,
            region: config.region.clone(),
            domain: config.domain.clone(),
            reserved_bucket: match &config.key_store {
                KeyStoreConfig::S3 { bucket, .. } => Some(bucket.clone()),
                KeyStoreConfig::File => None,
            },
            plaintext_buckets: config.plaintext_buckets.clone(),
            allow_sse_kms_over_http: config.allow_sse_kms_over_http,
            body_idle_timeout: std::time::Duration::from_secs(config.limits.body_idle_timeout_seconds),
            upstream,
            settings: BucketSettings::new(Arc::clone(&store)),
            uploads: multipart::Uploads::new(store),
            layouts: layout::LayoutCache::default(),
            kms,
        }
    }

    /// Answers one request. Never fails: every error becomes an S3 error response.
    pub async fn handle(&self, request: Request<Incoming>, peer: SocketAddr, secure: bool) -> Response<ResponseBody> {
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
            .serve(&parts, body, &address, &query, operation, &request_id, (peer, secure))
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

    #[allow(clippy::too_many_arguments)]
    async fn serve(
        &self,
        parts: &Parts,
        body: Incoming,
        address: &S3Address,
        query: &[(String, String)],
        operation: Operation,
        request_id: &str,
        (peer, secure): (SocketAddr, bool),
    ) -> Result<Response<ResponseBody>, S3Error> {
        let view = RequestView {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or(""),
            query,
            headers: &parts.headers,
        };
        if operation == Operation::PostObject
            && let Some(bucket) = &address.bucket
            && address.bucket != self.reserved_bucket
        {
            // The form carries its own signature, over its policy.
            return post_object::post_object(self, parts, body, bucket, request_id, (peer, secure)).await;
        }
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
        let request = S3Request {
            parts,
            address,
            query,
            operation,
            user: Arc::clone(&authenticated.user),
            request_id,
            peer,
            secure,
            signature_v2: authenticated.signature_v2,
        };
        let requested = sse::requested_encryption(operation, &parts.headers)?;
        sse::envelope::refuse_reserved(&parts.headers)?;
        let encryption = self.encryption_for_write(&request, requested).await?;
        let key_arn = match &encryption {
            Some(encryption) => encryption.policy_key_arn(&self.kms).await,
            None => None,
        };
        let access_request = access::AccessRequest {
            user: &authenticated.user,
            operation,
            method: &parts.method,
            address,
            query,
            headers: &parts.headers,
            secure_transport: secure,
            effective_encryption: encryption.as_ref().map(|encryption| access::EffectiveEncryption {
                algorithm: encryption.algorithm,
                key_arn: key_arn.as_deref(),
            }),
        };
        if operation != Operation::DeleteObjects {
            access::check(&self.settings, &access_request).await?;
        }
        let checksum_in_trailer = matches!(authenticated.payload, Payload::Chunked(_));
        let verdict = Verdict::default();
        let body = body::inbound_body(
            parts,
            body,
            authenticated.payload,
            verdict.clone(),
            self.body_idle_timeout,
        )?;
        let inbound = Inbound {
            body,
            verdict,
            checksum_in_trailer,
        };
        if bucket_config::is_bucket_setting(operation) {
            return self.bucket_setting(&request, inbound).await;
        }
        if operation == Operation::DeleteObjects {
            return self.delete_objects(&request, &access_request, inbound).await;
        }
        use Operation::*;
        match (operation, encryption) {
            (PutObject, Some(encryption)) => put::put_object(self, &request, inbound, &encryption).await,
            (CopyObject, Some(encryption)) => match rewrap::CopyMode::of(&parts.headers)? {
                rewrap::CopyMode::Rewrap => rewrap::rewrap_object(self, &request, &encryption).await,
                mode => copy::copy_object(self, &request, &encryption, mode).await,
            },
            (CreateMultipartUpload, Some(encryption)) => multipart::create(self, &request, &encryption).await,
            (GetObject | HeadObject, _) => get::get_object(self, &request).await,
            (UploadPart, _) => multipart::upload_part(self, &request, inbound).await,
            (UploadPartCopy, _) => multipart::upload_part_copy(self, &request).await,
            (CompleteMultipartUpload, _) => multipart::complete(self, &request, inbound).await,
            (AbortMultipartUpload, _) => multipart::abort(self, &request).await,
            (ListParts, _) => multipart::list_parts(self, &request).await,
            (ListObjects | ListObjectsV2 | ListObjectVersions, _) => self.list_objects(&request).await,
            (GetObjectAttributes, _) => get::object_attributes(self, &request).await,
            (Other, _) if !forwardable(query) => Err(S3Error::NotImplemented {
                message: "This request would store or return object bytes that s3kms does not encrypt.".to_owned(),
            }),
            _ => self.forward(&request, inbound).await,
        }
    }

    /// The encryption a write that creates an object (PutObject, CopyObject,
    /// CreateMultipartUpload) applies: its SSE headers over the bucket's default. `None` for
    /// every other operation.
    async fn encryption_for_write(
        &self,
        request: &S3Request<'_>,
        requested: Option<sse::RequestedEncryption>,
    ) -> Result<Option<encryption::ObjectEncryption>, S3Error> {
        use Operation::*;
        if !matches!(request.operation, PutObject | CopyObject | CreateMultipartUpload) {
            return Ok(None);
        }
        let bucket = request.bucket()?;
        let default = self.settings.encryption(bucket).await.map_err(settings_error)?;
        let encryption = encryption::ObjectEncryption::for_write(requested, &default);
        if encryption.algorithm == sse::SseAlgorithm::AwsKms {
            request.require_kms_transport(self.allow_sse_kms_over_http)?;
        }
        Ok(Some(encryption))
    }

    /// Sends the request upstream unchanged (apart from signature and framing) and relays the
    /// answer; object reads are evaluated against the client's conditional headers.
    async fn forward(&self, request: &S3Request<'_>, inbound: Inbound) -> Result<Response<ResponseBody>, S3Error> {
        let parts = request.parts;
        let body = match inbound.body {
            Some(body) => {
                let length = body.length();
                Some((body::prime(body).await?.boxed_unsync() as UpstreamBody, length))
            }
            None => None,
        };
        let upstream_request = UpstreamRequest {
            method: parts.method.clone(),
            bucket: request.address.bucket.clone(),
            key: request.address.key.clone(),
            query: self.upstream_query(request),
            headers: forward::request_headers(&parts.headers, inbound.checksum_in_trailer),
            body,
        };
        let verdict = inbound.verdict;
        let response = self
            .upstream
            .send(upstream_request)
            .await
            .map_err(|error| verdict.failure().unwrap_or_else(|| self.upstream_failed(error)))?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            return Ok(self.upstream_error(response, request).await);
        }
        if request.operation == Operation::ListBuckets
            && let Some(reserved) = &self.reserved_bucket
        {
            return Ok(forward::without_bucket(response, reserved, request.request_id).await);
        }
        if request.operation == Operation::DeleteBucket
            && let Some(bucket) = &request.address.bucket
            && let Err(error) = self.settings.forget(bucket).await
        {
            tracing::warn!(request_id = request.request_id, %error, "settings of a deleted bucket remain");
        }
        Ok(forward::response(response, request.request_id))
    }

    /// The client's query without a presigned URL's credentials.
    fn upstream_query(&self, request: &S3Request<'_>) -> Vec<(String, String)> {
        let from_query = !request.parts.headers.contains_key(http::header::AUTHORIZATION);
        request
            .query
            .iter()
            .filter(|(name, _)| !(from_query && AUTH_QUERY_PARAMETERS.contains(&name.as_str())))
            .cloned()
            .collect()
    }

    /// Sends one request upstream; a failure to get any answer is `503 ServiceUnavailable`.
    async fn send(&self, request: UpstreamRequest) -> Result<Response<Incoming>, S3Error> {
        self.upstream
            .send(request)
            .await
            .map_err(|error| self.upstream_failed(error))
    }

    fn upstream_failed(&self, error: crate::upstream::UpstreamError) -> S3Error {
        self.metrics.upstream_error();
        S3Error::ServiceUnavailable {
            detail: error.to_string(),
        }
    }

    /// An upstream error answer, re-rendered with s3kms's request id.
    async fn upstream_error(&self, response: Response<Incoming>, request: &S3Request<'_>) -> Response<ResponseBody> {
        let head = request.parts.method == Method::HEAD;
        rewrite_upstream_error(response, &request.address.resource(), request.request_id, head).await
    }
}

/// The request body and what its verification found.
pub struct Inbound {
    /// The verified body, if the request has one.
    pub body: Option<VerifiedBody>,
    /// Shared with the body: its first failure, or the client's checksum once verified.
    pub verdict: Verdict,
    /// The client's checksum comes in an aws-chunked trailer.
    pub checksum_in_trailer: bool,
}

/// Whether a request s3kms has no handler for may go upstream as is: never one that would
/// return stored bytes unopened (S3 Select, torrents).
fn forwardable(query: &[(String, String)]) -> bool {
    !query.iter().any(|(key, _)| key == "select" || key == "torrent")
}

/// Bucket settings failures: the key store is s3kms's own infrastructure.
pub fn settings_error(error: crate::buckets::SettingsError) -> S3Error {
    S3Error::ServiceUnavailable {
        detail: format!("bucket settings: {error}"),
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

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
