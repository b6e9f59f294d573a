//! POST object: browser-form uploads (`multipart/form-data` with a signed policy), encrypted
//! like any PutObject.
//!
//! Order, as AWS: read the fields before the file (at most [`form::MAX_HEAD_LEN`]), verify
//! the policy's signature (SigV4 `x-amz-signature`, or SigV2 `signature` — the latter refused
//! for SSE-KMS), check the form against the policy (expiration, conditions, no uncovered
//! field, `content-length-range`), authorize `s3:PutObject` on the key like any request, then
//! seal the file's bytes on their way upstream through the ordinary PUT path. The file's length
//! is the request's `Content-Length` less the fields and the closing delimiter, which is
//! verified before the last bytes are released: a form that does not end as declared stores
//! nothing.
//!
//! The answer follows `success_action_redirect` (303), else `success_action_status` (200, 201
//! with a `PostResponse` document, or the default 204).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::body::{BodyPromise, Verdict, VerifiedBody, checksum_header, content_md5};
use super::form::{self, FormError, FormHead};
use super::post_policy::{PolicyRejection, PostPolicy};
use super::route::S3Address;
use super::{Inbound, S3Api, S3Error, S3Request, access, forward, full_body, put};
use crate::http::ResponseBody;
use crate::identity::User;
use crate::sigv4::{Credential, Signature, SignatureV2, SigningKey};
use crate::upstream::BoxError;

/// Form fields that become object headers.
const HEADER_FIELDS: &[&str] = &[
    "cache-control",
    "content-type",
    "content-disposition",
    "content-encoding",
    "expires",
    "x-amz-storage-class",
    "x-amz-website-redirect-location",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-context",
    "x-amz-server-side-encryption-bucket-key-enabled",
    "content-md5",
];

/// Answers a POST object request on `bucket`.
pub async fn post_object(
    api: &S3Api,
    parts: &Parts,
    body: Incoming,
    bucket: &str,
    request_id: &str,
    (peer, secure): (std::net::SocketAddr, bool),
) -> Result<Response<ResponseBody>, S3Error> {
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let boundary = content_type.and_then(form::boundary).ok_or_else(malformed)?.to_owned();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or(S3Error::MissingContentLength)?;
    let (head, buffered, rest) = read_head(body, &boundary).await?;
    let now = super::unix_now();
    let (user, signature_v2) = verify_signature(api, &head)?;
    let key = object_key(&head)?;
    let closing = form::closing(&boundary);
    let length = declared
        .checked_sub((head.data_start + closing.len()) as u64)
        .ok_or_else(malformed)?;
    let policy = PostPolicy::parse(head.field("policy").unwrap_or("")).map_err(policy_error)?;
    policy.check(&head.fields, bucket, length, now).map_err(policy_error)?;
    let synthetic = synthetic_parts(&head, bucket, &key)?;
    let address = S3Address {
        bucket: Some(bucket.to_owned()),
        key: Some(key.clone()),
    };
    let request = S3Request {
        parts: &synthetic,
        address: &address,
        query: &[],
        operation: super::Operation::PutObject,
        user: user.clone(),
        request_id,
        peer,
        secure,
        signature_v2,
    };
    let requested = super::sse::requested_encryption(request.operation, &synthetic.headers)?;
    super::sse::envelope::refuse_reserved(&synthetic.headers)?;
    let encryption = api
        .encryption_for_write(&request, requested)
        .await?
        .ok_or_else(|| S3Error::InternalError {
            detail: "POST object without an encryption".to_owned(),
        })?;
    let key_arn = encryption.policy_key_arn(&api.kms).await;
    access::check(
        &api.settings,
        &access::AccessRequest {
            user: &user,
            operation: request.operation,
            method: &Method::PUT,
            address: &address,
            query: &[],
            headers: &synthetic.headers,
            secure_transport: secure,
            effective_encryption: Some(access::EffectiveEncryption {
                algorithm: encryption.algorithm,
                key_arn: key_arn.as_deref(),
            }),
        },
    )
    .await?;
    let verdict = Verdict::default();
    let file = FileBody::new(buffered, rest, length, closing);
    let promise = BodyPromise {
        length,
        sha256: None,
        md5: content_md5(&synthetic.headers)?,
        checksum: checksum_header(&synthetic.headers)?,
        chunked: None,
        idle_timeout: api.body_idle_timeout,
    };
    let inbound = Inbound {
        body: Some(VerifiedBody::new(file.boxed_unsync(), promise, verdict.clone())),
        verdict,
        checksum_in_trailer: false,
    };
    let stored = put::put_object(api, &request, inbound, &encryption).await?;
    if !stored.status().is_success() {
        return Ok(stored);
    }
    Ok(answer(&head, bucket, &key, stored.headers(), request_id))
}

/// Reads until the file's data starts: the head, the file bytes already read, the rest.
async fn read_head(mut body: Incoming, boundary: &str) -> Result<(FormHead, Bytes, Incoming), S3Error> {
    let mut buffer = BytesMut::new();
    loop {
        match form::parse_head(&buffer, boundary) {
            Ok(Some(head)) => {
                let buffered = buffer.freeze().slice(head.data_start..);
                return Ok((head, buffered, body));
            }
            Ok(None) => {}
            Err(FormError::NoFile) => {
                return Err(S3Error::InvalidArgument {
                    message: FormError::NoFile.to_string(),
                    name: "file".to_owned(),
                    value: "0".to_owned(),
                });
            }
            Err(FormError::HeadTooLarge) => {
                return Err(S3Error::MalformedPostRequest {
                    message: FormError::HeadTooLarge.to_string(),
                });
            }
            Err(FormError::Malformed) => return Err(malformed()),
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buffer.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => return Err(S3Error::IncompleteBody),
            None => return Err(malformed()),
        }
    }
}

/// Checks the form's signature; the signer, and whether it used SigV2.
fn verify_signature(api: &S3Api, head: &FormHead) -> Result<(std::sync::Arc<User>, bool), S3Error> {
    let policy = head.field("policy").ok_or_else(|| S3Error::InvalidArgument {
        message: "Bucket POST must contain a field named 'policy'.".to_owned(),
        name: "policy".to_owned(),
        value: String::new(),
    })?;
    let users = api.users.current();
    if let Some(signature) = head.field("x-amz-signature") {
        if head.field("x-amz-algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(S3Error::InvalidArgument {
                message: "Only AWS4-HMAC-SHA256 is supported for x-amz-algorithm.".to_owned(),
                name: "x-amz-algorithm".to_owned(),
                value: head.field("x-amz-algorithm").unwrap_or("").to_owned(),
            });
        }
        let credential = head
            .field("x-amz-credential")
            .and_then(|c| Credential::parse(c).ok())
            .ok_or_else(|| S3Error::InvalidArgument {
                message: "Invalid credential in x-amz-credential.".to_owned(),
                name: "x-amz-credential".to_owned(),
                value: head.field("x-amz-credential").unwrap_or("").to_owned(),
            })?;
        let user = users
            .by_access_key(&credential.access_key_id)
            .ok_or_else(|| S3Error::InvalidAccessKeyId {
                access_key_id: credential.access_key_id.clone(),
            })?;
        let expected = SigningKey::for_scope(user.secret(), &credential.scope).sign(policy);
        let valid = credential.scope.region == api.region
            && credential.scope.service == "s3"
            && Signature::from_hex(signature).is_some_and(|claimed| expected.verify(&claimed));
        if !valid {
            return Err(signature_mismatch(&credential.access_key_id, policy));
        }
        return Ok((user, false));
    }
    let access_key_id = head.field("awsaccesskeyid").ok_or(S3Error::AccessDenied)?;
    let user = users
        .by_access_key(access_key_id)
        .ok_or_else(|| S3Error::InvalidAccessKeyId {
            access_key_id: access_key_id.to_owned(),
        })?;
    let expected = SignatureV2::sign(user.secret(), policy);
    let valid = head
        .field("signature")
        .and_then(SignatureV2::from_base64)
        .is_some_and(|claimed| expected.verify(&claimed));
    if !valid {
        return Err(signature_mismatch(access_key_id, policy));
    }
    Ok((user, true))
}

fn signature_mismatch(access_key_id: &str, policy: &str) -> S3Error {
    S3Error::SignatureDoesNotMatch {
        access_key_id: access_key_id.to_owned(),
        string_to_sign: policy.to_owned(),
        signature_provided: String::new(),
        canonical_request: String::new(),
    }
}

/// The object key: the `key` field with `${filename}` replaced.
fn object_key(head: &FormHead) -> Result<String, S3Error> {
    let key = head.field("key").filter(|k| !k.is_empty()).ok_or_else(|| S3Error::InvalidArgument {
        message: "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."
            .to_owned(),
        name: "key".to_owned(),
        value: String::new(),
    })?;
    Ok(key.replace("${filename}", head.filename.as_deref().unwrap_or("")))
}

/// A PutObject request as the form describes it.
fn synthetic_parts(head: &FormHead, bucket: &str, key: &str) -> Result<Parts, S3Error> {
    let mut headers = HeaderMap::new();
    for (name, value) in &head.fields {
        if !(HEADER_FIELDS.contains(&name.as_str())
            || name.starts_with("x-amz-meta-")
            || name.starts_with("x-amz-checksum-"))
        {
            continue;
        }
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) else {
            return Err(malformed());
        };
        headers.append(name, value);
    }
    if !headers.contains_key(http::header::CONTENT_TYPE)
        && let Some(value) = head
            .file_content_type
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(http::header::CONTENT_TYPE, value);
    }
    let path = format!(
        "/{}/{}",
        crate::sigv4::uri_encode(bucket.as_bytes(), false),
        crate::sigv4::uri_encode(key.as_bytes(), false)
    );
    let mut request = http::Request::builder()
        .method(Method::PUT)
        .uri(path)
        .body(())
        .map_err(|_| malformed())?;
    *request.headers_mut() = headers;
    Ok(request.into_parts().0)
}

/// The answer AWS gives for a stored POST object.
fn answer(head: &FormHead, bucket: &str, key: &str, stored: &HeaderMap, request_id: &str) -> Response<ResponseBody> {
    let etag = stored
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let location = format!("/{bucket}/{}", crate::sigv4::uri_encode(key.as_bytes(), false));
    let mut headers = HeaderMap::new();
    for (name, value) in stored {
        if name == http::header::ETAG
            || name.as_str().starts_with("x-amz-server-side-encryption")
            || name == "x-amz-version-id"
        {
            headers.append(name.clone(), value.clone());
        }
    }
    let (status, body) = match (
        head.field("success_action_redirect").or(head.field("redirect")),
        head.field("success_action_status"),
    ) {
        (Some(redirect), _) if !redirect.is_empty() => {
            let separator = if redirect.contains('?') { '&' } else { '?' };
            let target = format!(
                "{redirect}{separator}bucket={}&key={}&etag={}",
                crate::sigv4::uri_encode(bucket.as_bytes(), true),
                crate::sigv4::uri_encode(key.as_bytes(), true),
                crate::sigv4::uri_encode(etag.as_bytes(), true)
            );
            if let Ok(value) = HeaderValue::from_str(&target) {
                headers.insert(http::header::LOCATION, value);
            }
            (StatusCode::SEE_OTHER, Bytes::new())
        }
        (_, Some("201")) => {
            let escaped = crate::xml::escaped;
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></PostResponse>",
                escaped(&location),
                escaped(bucket),
                escaped(key),
                escaped(&etag)
            );
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
            (StatusCode::CREATED, Bytes::from(xml))
        }
        (_, Some("200")) => (StatusCode::OK, Bytes::new()),
        _ => (StatusCode::NO_CONTENT, Bytes::new()),
    };
    if status != StatusCode::SEE_OTHER
        && let Ok(value) = HeaderValue::from_str(&location)
    {
        headers.insert(http::header::LOCATION, value);
    }
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    forward::stamp(&mut headers, request_id);
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn policy_error(rejection: PolicyRejection) -> S3Error {
    match rejection {
        PolicyRejection::Violated(_) => S3Error::AccessDeniedWithMessage {
            message: rejection.to_string(),
        },
        PolicyRejection::Invalid(_) => S3Error::InvalidPolicyDocument {
            message: rejection.to_string(),
        },
    }
}

fn malformed() -> S3Error {
    S3Error::MalformedPostRequest {
        message: FormError::Malformed.to_string(),
    }
}

/// The file's bytes of a POST form: exactly `length` bytes, then the closing delimiter, checked.
struct FileBody {
    pending: VecDeque<Bytes>,
    source: Option<Incoming>,
    remaining: u64,
    tail: BytesMut,
    closing: Vec<u8>,
    finished: bool,
}

impl FileBody {
    fn new(buffered: Bytes, source: Incoming, length: u64, closing: Vec<u8>) -> FileBody {
        let mut body = FileBody {
            pending: VecDeque::new(),
            source: Some(source),
            remaining: length,
            tail: BytesMut::new(),
            closing,
            finished: false,
        };
        body.take(buffered);
        body
    }

    /// Splits received bytes into file data and the tail after it.
    fn take(&mut self, mut data: Bytes) {
        let file = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(data.len());
        if file > 0 {
            self.pending.push_back(data.split_to(file));
            self.remaining -= file as u64;
        }
        self.tail.extend_from_slice(&data);
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(data) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            if this.finished {
                return Poll::Ready(None);
            }
            let Some(source) = this.source.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(Pin::new(source).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.take(data);
                    }
                    if this.tail.len() > this.closing.len() {
                        this.finished = true;
                        return Poll::Ready(Some(Err("the form goes on after the file's declared end".into())));
                    }
                }
                Some(Err(error)) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(error.into())));
                }
                None => {
                    this.finished = true;
                    if this.remaining > 0 || this.tail[..] != this.closing[..] {
                        return Poll::Ready(Some(Err("the form does not end where its length says".into())));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_key_takes_the_file_name() {
        let head = FormHead {
            fields: vec![("key".to_owned(), "uploads/${filename}".to_owned())],
            filename: Some("a.txt".to_owned()),
            file_content_type: None,
            data_start: 0,
        };
        assert_eq!(object_key(&head).unwrap(), "uploads/a.txt");
        let without = FormHead {
            fields: Vec::new(),
            ..head
        };
        assert_eq!(object_key(&without).unwrap_err().code(), "InvalidArgument");
    }

    #[test]
    fn form_fields_become_object_headers() {
        let head = FormHead {
            fields: vec![
                ("x-amz-meta-colour".to_owned(), "blue".to_owned()),
                ("x-amz-server-side-encryption".to_owned(), "aws:kms".to_owned()),
                ("policy".to_owned(), "p".to_owned()),
            ],
            filename: None,
            file_content_type: Some("text/plain".to_owned()),
            data_start: 0,
        };
        let parts = synthetic_parts(&head, "b", "k").unwrap();
        assert_eq!(parts.headers["x-amz-meta-colour"], "blue");
        assert_eq!(parts.headers["x-amz-server-side-encryption"], "aws:kms");
        assert_eq!(parts.headers["content-type"], "text/plain");
        assert!(parts.headers.get("policy").is_none());
    }
}
