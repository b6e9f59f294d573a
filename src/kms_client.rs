//! A small client for the AWS KMS JSON 1.1 API, as any SDK speaks it: `POST /` with
//! `X-Amz-Target: TrentService.<Operation>`, a JSON body, SigV4 for service `kms`.
//!
//! Owns: turning an operation name and a JSON request into one signed HTTP request, and the
//! answer into JSON output or a typed [`ClientError`] that keeps the failing side visible (the
//! service refused, the endpoint could not be reached, the answer was not KMS JSON).
//!
//! Does not: know the operations' shapes (callers pass and receive `serde_json::Value`s),
//! retry, or paginate. Speaks `http://` and `https://` (verified against the system's CA
//! certificates, or only those of a given PEM file, e.g. s3kms's own self-signed one).
//!
//! It exists so that `s3kms keys` goes through the same authentication, authorization and
//! audit trail as every other KMS client, rather than around them.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::sigv4::{AmzDate, OutgoingRequest, PayloadHash, SecretKey, Signer};

/// How long one call may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not an `http(s)://host[:port]` URL, or its CA file does not load.
    #[error("invalid endpoint {endpoint:?}: {reason}")]
    Endpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The service answered with an AWS error (`{"__type": …, "message": …}`).
    #[error("{code}: {message}")]
    Service {
        /// The HTTP status (400 for the caller's errors, 500 for the service's).
        status: u16,
        /// The AWS error code, e.g. `NotFoundException`.
        code: String,
        /// The service's explanation.
        message: String,
    },
    /// Nothing listens at the endpoint (connection refused, unknown host, unreachable).
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The underlying error, as the system reported it.
        reason: String,
    },
    /// The connection failed after it was made, or the call timed out.
    #[error("request to {endpoint} failed: {reason}")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// The answer was not KMS JSON (another service at that address?).
    #[error("unexpected answer from {endpoint} (HTTP {status}): {body}")]
    Response {
        /// The endpoint.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
}

/// A KMS JSON client for one endpoint and one credential.
#[derive(Debug, Clone)]
pub struct KmsClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    endpoint: String,
    scheme: &'static str,
    authority: String,
    signer: Signer,
}

impl KmsClient {
    /// A client for `endpoint` (`http(s)://host[:port]`), signing as `access_key_id` for
    /// `region`. An `https://` endpoint is verified against the system's CA certificates.
    pub fn new(endpoint: &str, region: &str, access_key_id: &str, secret: SecretKey) -> Result<Self, ClientError> {
        KmsClient::trusting(endpoint, region, access_key_id, secret, None)
    }

    /// As [`KmsClient::new`], but an `https://` endpoint is verified only against the
    /// certificates in `ca_file` (PEM) when one is given.
    pub fn trusting(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret: SecretKey,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Self, ClientError> {
        let (scheme, authority) = authority(endpoint)?;
        let tls = crate::upstream::tls_config(ca_file).map_err(|error| ClientError::Endpoint {
            endpoint: endpoint.to_owned(),
            reason: error.to_string(),
        })?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(KmsClient {
            http: Client::builder(TokioExecutor::new()).build(connector),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            scheme,
            authority,
            signer: Signer::new(access_key_id, secret, region, "kms"),
        })
    }

    /// The endpoint calls go to, without a trailing `/`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Calls `operation` (e.g. `DescribeKey`) with `input`; an empty answer is `{}`.
    pub async fn call(&self, operation: &str, input: Value) -> Result<Value, ClientError> {
        let body = Bytes::from(input.to_string());
        let request = self.signed_request(operation, body);
        let response = tokio::time::timeout(CALL_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| self.transport(format!("no answer within {} s", CALL_TIMEOUT.as_secs())))?
            .map_err(|error| self.request_error(&error))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|error| self.transport(error.to_string()))?
            .to_bytes();
        self.output(status, &bytes)
    }

    fn signed_request(&self, operation: &str, body: Bytes) -> Request<Full<Bytes>> {
        let target = format!("TrentService.{operation}");
        let headers = [("content-type", CONTENT_TYPE), ("x-amz-target", target.as_str())];
        let outgoing = OutgoingRequest {
            method: "POST",
            path: "/",
            query: "",
            host: &self.authority,
            headers: &headers,
            payload: PayloadHash::of_body(&body),
        };
        let signed = self
            .signer
            .sign(&outgoing, now())
            .expect("the signer builds a canonical request from the headers it is given");
        let mut request = Request::post(format!("{}://{}/", self.scheme, self.authority))
            .header("host", &self.authority)
            .header("x-amz-date", &signed.amz_date)
            .header("x-amz-content-sha256", &signed.content_sha256)
            .header("authorization", &signed.authorization)
            .header("user-agent", concat!("s3kms-keys/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request
            .body(Full::new(body))
            .expect("the authority was parsed as a URI authority and every header value is ASCII")
    }

    /// The JSON output of a 2xx, or the AWS error of anything else.
    fn output(&self, status: u16, body: &[u8]) -> Result<Value, ClientError> {
        let parsed: Option<Value> = if body.is_empty() {
            Some(Value::Object(Default::default()))
        } else {
            serde_json::from_slice(body).ok()
        };
        match parsed {
            Some(value) if (200..300).contains(&status) && value.is_object() => Ok(value),
            Some(value) if value["__type"].is_string() => Err(ClientError::Service {
                status,
                code: aws_code(value["__type"].as_str().unwrap_or_default()),
                message: message(&value),
            }),
            _ => Err(ClientError::Response {
                endpoint: self.endpoint.clone(),
                status,
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            }),
        }
    }

    fn request_error(&self, error: &hyper_util::client::legacy::Error) -> ClientError {
        let reason = root_cause(error);
        if error.is_connect() {
            ClientError::Connect {
                endpoint: self.endpoint.clone(),
                reason,
            }
        } else {
            self.transport(reason)
        }
    }

    fn transport(&self, reason: String) -> ClientError {
        ClientError::Transport {
            endpoint: self.endpoint.clone(),
            reason,
        }
    }
}

/// The scheme and `host[:port]` of an `http(s)://host[:port][/]` endpoint.
fn authority(endpoint: &str) -> Result<(&'static str, String), ClientError> {
    let invalid = |reason: &str| ClientError::Endpoint {
        endpoint: endpoint.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = endpoint.parse().map_err(|_| invalid("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some("http") => "http",
        Some("https") => "https",
        _ => return Err(invalid("expected http(s)://host:port")),
    };
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(invalid("expected no path: http(s)://host:port"));
    }
    uri.authority()
        .map(|authority| (scheme, authority.as_str().to_owned()))
        .ok_or_else(|| invalid("expected http(s)://host:port"))
}

/// AWS sometimes qualifies the code (`com.amazonaws.kms#NotFoundException`); keep the name.
fn aws_code(type_name: &str) -> String {
    type_name.rsplit(['#', ':']).next().unwrap_or(type_name).to_owned()
}

/// The error message (`message`, or `Message` as some services spell it).
fn message(error: &Value) -> String {
    error["message"]
        .as_str()
        .or_else(|| error["Message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// The innermost error's text: "Connection refused (os error 111)" rather than "client error
/// (Connect)".
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn now() -> AmzDate {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    AmzDate::from_unix_seconds(seconds).expect("the clock reads a date between 1970 and 9999")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> KmsClient {
        KmsClient::new("http://127.0.0.1:7070/", "us-east-1", "AKIA", SecretKey::new("s")).unwrap()
    }

    #[test]
    fn endpoints_are_http_or_https_without_a_path() {
        assert_eq!(
            authority("http://127.0.0.1:7070").unwrap(),
            ("http", "127.0.0.1:7070".into())
        );
        assert_eq!(authority("http://localhost/").unwrap(), ("http", "localhost".into()));
        assert_eq!(
            authority("https://kms.example").unwrap(),
            ("https", "kms.example".into())
        );
        assert_eq!(client().endpoint(), "http://127.0.0.1:7070");
        for bad in [
            "ftp://kms.example",
            "127.0.0.1:7070",
            "http://h/kms",
            "http://h/?x=1",
            "nope",
        ] {
            assert!(matches!(authority(bad), Err(ClientError::Endpoint { .. })), "{bad}");
        }
    }

    #[test]
    fn answers_become_output_or_typed_errors() {
        let client = client();
        assert_eq!(client.output(200, b"").unwrap(), json!({}));
        assert_eq!(client.output(200, br#"{"KeyId":"k"}"#).unwrap(), json!({"KeyId": "k"}));
        let error = client
            .output(
                400,
                br#"{"__type":"com.amazonaws.kms#NotFoundException","message":"gone"}"#,
            )
            .unwrap_err();
        assert_eq!(error.to_string(), "NotFoundException: gone");
        assert!(matches!(error, ClientError::Service { status: 400, .. }));
        assert!(matches!(
            client.output(502, b"<html>bad gateway</html>"),
            Err(ClientError::Response { status: 502, .. })
        ));
        assert!(matches!(client.output(200, b"[1]"), Err(ClientError::Response { .. })));
    }

    #[test]
    fn requests_carry_the_target_and_a_kms_signature() {
        let request = client().signed_request("ListKeys", Bytes::from_static(b"{}"));
        let headers = request.headers();
        assert_eq!(headers["x-amz-target"], "TrentService.ListKeys");
        assert_eq!(headers["content-type"], CONTENT_TYPE);
        assert_eq!(headers["host"], "127.0.0.1:7070");
        let authorization = headers["authorization"].to_str().unwrap();
        assert!(authorization.contains("/us-east-1/kms/aws4_request"), "{authorization}");
        assert_eq!(
            headers["x-amz-content-sha256"],
            PayloadHash::of_body(b"{}").to_string().as_str()
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let endpoint = format!("http://{address}");
        let client = KmsClient::new(&endpoint, "us-east-1", "AKIA", SecretKey::new("s")).unwrap();
        match client.call("ListKeys", json!({})).await {
            Err(ClientError::Connect { endpoint: reported, .. }) => assert_eq!(reported, endpoint),
            other => panic!("expected a connect error, got {other:?}"),
        }
    }
}
