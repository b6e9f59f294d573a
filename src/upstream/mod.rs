//! The S3 client s3kms uses to reach the store behind it (L1).
//!
//! Owns: one pooled HTTP/1.1 client per upstream, path-style addressing, and re-signing every
//! request with the service credential (SigV4, `UNSIGNED-PAYLOAD`: the inbound side has already
//! verified the client's payload, and the upstream checks the length). Bodies stream both ways;
//! nothing is buffered here.
//!
//! Does not: decide what to forward (the S3 API layer filters headers), retry (a streamed body
//! cannot be replayed; callers decide), or know about encryption.

pub mod embedded;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::UpstreamConfig;
use crate::sigv4::{AmzDate, OutgoingRequest, PayloadHash, Signer, uri_encode};

/// The error type bodies may fail with while streaming.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request body on its way to the upstream.
pub type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long to wait for a TCP connection to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A request to the upstream, addressed by bucket and key (both decoded).
pub struct UpstreamRequest {
    /// The HTTP method.
    pub method: Method,
    /// Decoded bucket name; `None` for service-level calls (ListBuckets).
    pub bucket: Option<String>,
    /// Decoded object key; `None` for bucket-level calls.
    pub key: Option<String>,
    /// Decoded query parameters, in the client's order.
    pub query: Vec<(String, String)>,
    /// Headers to send (already filtered); `host`, date and auth headers are added here.
    pub headers: HeaderMap,
    /// The body and its exact length (`None` for no body).
    pub body: Option<(UpstreamBody, u64)>,
}

/// Why an upstream call failed before a response arrived.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The request could not be built (a bug or an unencodable value).
    #[error("cannot build upstream request: {0}")]
    Build(String),
    /// Connection refused, reset, timed out, or the body stream failed.
    #[error("upstream request failed: {0}")]
    Transport(#[from] hyper_util::client::legacy::Error),
}

/// A pooled, signing client for one upstream store.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, UpstreamBody>,
    /// `http` or `https`.
    scheme: &'static str,
    /// `host[:port]` of the endpoint.
    authority: String,
    signer: Signer,
}

impl Upstream {
    /// A client for the configured endpoint. An `https://` endpoint is verified against the
    /// system's CA certificates, or only against `ca_file` when one is configured.
    pub fn new(config: &UpstreamConfig) -> Result<Upstream, UpstreamError> {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config.ca_file.as_deref())?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let (scheme, authority) = match config.endpoint.strip_prefix("https://") {
            Some(authority) => ("https", authority),
            None => ("http", config.endpoint.trim_start_matches("http://")),
        };
        Ok(Upstream {
            client,
            scheme,
            authority: authority.to_owned(),
            signer: Signer::new(
                config.access_key_id.clone(),
                config.secret_access_key.clone(),
                config.region.clone(),
                "s3",
            ),
        })
    }

    /// Sends a request, signed with the service credential, and returns the response head with
    /// its body still streaming.
    pub async fn send(&self, request: UpstreamRequest) -> Result<Response<Incoming>, UpstreamError> {
        let request = self.sign(request)?;
        Ok(self.client.request(request).await?)
    }

    fn sign(&self, request: UpstreamRequest) -> Result<Request<UpstreamBody>, UpstreamError> {
        let path = object_path(request.bucket.as_deref(), request.key.as_deref());
        let query = encode_query(&request.query);
        let mut headers = request.headers;
        let (body, length) = request.body.unwrap_or_else(|| (empty_body(), 0));
        if length > 0 || request.method == Method::PUT || request.method == Method::POST {
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        }
        let signed: Vec<(&str, &str)> = headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
            .collect();
        let outgoing = OutgoingRequest {
            method: request.method.as_str(),
            path: &path,
            query: &query,
            host: &self.authority,
            headers: &signed,
            payload: PayloadHash::Unsigned,
        };
        let signature = self.signer.sign(&outgoing, now()).map_err(|e| build_error(&e))?;
        let mut add = |name: &'static str, value: &str| -> Result<(), UpstreamError> {
            let value = HeaderValue::from_str(value).map_err(|e| build_error(&e))?;
            headers.insert(HeaderName::from_static(name), value);
            Ok(())
        };
        add("host", &self.authority)?;
        add("x-amz-date", &signature.amz_date)?;
        add("x-amz-content-sha256", &signature.content_sha256)?;
        add("authorization", &signature.authorization)?;
        let uri = match query.is_empty() {
            true => format!("{}://{}{}", self.scheme, self.authority, path),
            false => format!("{}://{}{}?{}", self.scheme, self.authority, path, query),
        };
        let mut outgoing = Request::new(body);
        *outgoing.method_mut() = request.method;
        *outgoing.uri_mut() = uri.parse::<Uri>().map_err(|e| build_error(&e))?;
        *outgoing.headers_mut() = headers;
        Ok(outgoing)
    }
}

/// The query string, each name and value encoded as SigV4 canonicalises them (also the form
/// of `x-amz-tagging`).
pub fn encode_query(pairs: &[(String, String)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                uri_encode(name.as_bytes(), false),
                uri_encode(value.as_bytes(), false)
            )
        })
        .collect();
    encoded.join("&")
}

fn now() -> AmzDate {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    AmzDate::from_unix_seconds(i64::try_from(seconds).unwrap_or(0))
        .unwrap_or_else(|| AmzDate::from_unix_seconds(0).expect("the epoch is representable"))
}

/// A TLS client configuration trusting the system's CA certificates, or only those in
/// `ca_file` (PEM) when one is given.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, UpstreamError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(file) => {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
                .and_then(|certificates| certificates.collect())
                .map_err(|e| UpstreamError::Build(format!("CA file {}: {e}", file.display())))?;
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| UpstreamError::Build(format!("CA file {}: {e}", file.display())))?;
            }
        }
        None => {
            for certificate in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(certificate);
            }
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| UpstreamError::Build(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The path-style path of a bucket or object, encoded as SigV4 canonicalises it.
fn object_path(bucket: Option<&str>, key: Option<&str>) -> String {
    match (bucket, key) {
        (None, _) => "/".to_owned(),
        (Some(bucket), None) => format!("/{}", uri_encode(bucket.as_bytes(), true)),
        (Some(bucket), Some(key)) => {
            format!(
                "/{}/{}",
                uri_encode(bucket.as_bytes(), true),
                uri_encode(key.as_bytes(), true)
            )
        }
    }
}

/// An empty request body.
pub fn empty_body() -> UpstreamBody {
    use http_body_util::BodyExt;
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn build_error(err: &dyn std::fmt::Display) -> UpstreamError {
    UpstreamError::Build(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_path_style_and_encoded() {
        assert_eq!(object_path(None, None), "/");
        assert_eq!(object_path(Some("b"), None), "/b");
        assert_eq!(object_path(Some("b"), Some("a b/c+d")), "/b/a%20b/c%2Bd");
        assert_eq!(object_path(Some("b"), Some("/lead")), "/b//lead");
    }
}
