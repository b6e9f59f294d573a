//! HTTP pieces shared by everything that answers requests (L1): the response body type, and
//! the connection rule after refusing a request whose body was not read. Used by the S3 and
//! KMS APIs, the admin endpoints and the embedded store, so none of them reaches into another.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

use crate::upstream::BoxError;

/// A response body: streamed from the upstream, or a small document made here.
pub type ResponseBody = UnsyncBoxBody<Bytes, BoxError>;

/// A response body holding `bytes`.
pub fn full_body(bytes: Bytes) -> ResponseBody {
    http_body_util::Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Whether a request declares a body (a non-zero `Content-Length`, or chunked framing).
pub fn declares_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|length| length > 0) || headers.contains_key(http::header::TRANSFER_ENCODING)
}

/// Closes the connection after an error answer to a request that declared a body.
///
/// The body may never have been read: a client that sent `Expect: 100-continue` (boto3 does
/// for uploads) and got a final status instead skips the body and reuses the connection, while
/// the server would drain the declared bytes from the *next* request and corrupt it. Closing is
/// what RFC 9110 §10.1.1 leaves the server, and costs one reconnect after an error.
pub fn closes_unread_body(declares_body: bool, status: StatusCode, headers: &mut HeaderMap) {
    if declares_body && (status.is_client_error() || status.is_server_error()) {
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
}
