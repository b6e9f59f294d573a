//! S3 errors as AWS sends them: one enum, one mapping to code and status, one XML writer.
//!
//! Owns: every error s3kms itself answers on the S3 API. Errors that the upstream store answers
//! are passed through as the upstream wrote them (they already are S3 XML), except where a
//! handler translates them. Messages follow AWS's texts where AWS has one.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use super::ResponseBody;
use crate::xml::escape_into;

/// An error answered by s3kms on the S3 API.
#[derive(Debug, Clone, thiserror::Error)]
pub enum S3Error {
    /// Anonymous request, or a request the caller may not make.
    #[error("Access Denied")]
    AccessDenied,
    /// A request refused with a specific reason (AWS's texts, e.g. a KMS denial).
    #[error("{message}")]
    AccessDeniedWithMessage {
        /// AWS's message.
        message: String,
    },
    /// A presigned URL used after its expiry.
    #[error("Request has expired")]
    RequestExpired {
        /// `X-Amz-Expires` resolved to a time, as AWS reports it.
        expires: String,
        /// The server time.
        server_time: String,
    },
    /// The access key id is not one of the configured users.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId {
        /// The key id the client sent.
        access_key_id: String,
    },
    /// The signature does not match what s3kms computes.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    SignatureDoesNotMatch {
        /// The key id the client signed with.
        access_key_id: String,
        /// Our string to sign (never secret).
        string_to_sign: String,
        /// The signature the client sent, hex.
        signature_provided: String,
        /// Our canonical request (never secret).
        canonical_request: String,
    },
    /// A chunk or trailer signature of an aws-chunked body is wrong.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    ChunkSignatureDoesNotMatch,
    /// The request time is more than 15 minutes away from the server time.
    #[error("The difference between the request time and the current time is too large.")]
    RequestTimeTooSkewed {
        /// The request's time as sent.
        request_time: String,
        /// The server time.
        server_time: String,
    },
    /// The Authorization header or credential scope cannot be parsed or is for another region.
    #[error("{message}")]
    AuthorizationHeaderMalformed {
        /// What is wrong.
        message: String,
    },
    /// A presigned query that cannot be parsed.
    #[error("{message}")]
    AuthorizationQueryParametersError {
        /// What is wrong.
        message: String,
    },
    /// `x-amz-content-sha256` is not the hash of the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch {
        /// What the client claimed.
        client: String,
        /// What the body hashes to.
        computed: String,
    },
    /// `Content-MD5` or an `x-amz-checksum-*` value does not match the body.
    #[error("{message}")]
    BadDigest {
        /// AWS's message for the digest that failed.
        message: String,
    },
    /// `Content-MD5` is not a base64 MD5.
    #[error("The Content-MD5 you specified was invalid.")]
    InvalidDigest,
    /// The body ended before the declared length.
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    /// A path that does not decode (invalid percent-encoding or UTF-8).
    #[error("Couldn't parse the specified URI.")]
    InvalidUri,
    /// The client sent nothing of its body for too long.
    #[error(
        "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed."
    )]
    RequestTimeout,
    /// A body-carrying request without a length.
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    /// A conditional request whose condition does not hold.
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed {
        /// The header that failed, e.g. `If-Match`.
        condition: &'static str,
    },
    /// A request that is well-formed HTTP but not a valid S3 request.
    #[error("{message}")]
    InvalidRequest {
        /// What is wrong.
        message: String,
    },
    /// An argument with an invalid value.
    #[error("{message}")]
    InvalidArgument {
        /// What is wrong.
        message: String,
        /// The offending argument (header or parameter name).
        name: String,
        /// Its value.
        value: String,
    },
    /// The object's user metadata (client pairs plus s3kms's reserved envelope) is over 2 KB.
    #[error("Your metadata headers exceed the maximum allowed metadata size")]
    MetadataTooLarge {
        /// Bytes counted: UTF-8 names without `x-amz-meta-`, plus values.
        size: usize,
        /// The limit, 2048.
        max_size_allowed: usize,
    },
    /// A PUT or part over 5 GiB (AWS: `400 EntityTooLarge`).
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge {
        /// The declared length.
        proposed_size: u64,
        /// The limit, 5 GiB.
        max_size_allowed: u64,
    },
    /// A feature S3 has that s3kms does not implement.
    #[error("{message}")]
    NotImplemented {
        /// What is not implemented.
        message: String,
    },
    /// The body could not be decoded (aws-chunked framing, XML).
    #[error("{message}")]
    MalformedBody {
        /// What is wrong.
        message: String,
    },
    /// A KMS failure relayed by S3 as `400 KMS.<exception>` (disabled, missing or pending-deletion
    /// keys), with KMS's message.
    #[error("{message}")]
    Kms {
        /// `KMS.NotFoundException`, `KMS.DisabledException`, …
        code: &'static str,
        /// KMS's text.
        message: String,
    },
    /// A `Range` that starts beyond the object.
    #[error("The requested range is not satisfiable")]
    InvalidRange {
        /// The `Range` header as sent.
        range_requested: String,
        /// The object's (plaintext) size.
        actual_object_size: u64,
    },
    /// A `partNumber` beyond the object's parts.
    #[error("The requested partnumber is not satisfiable")]
    InvalidPartNumber {
        /// The part number asked for.
        part_number_requested: u32,
        /// The object's part count.
        actual_part_count: u32,
    },
    /// A POST object body that is not well-formed `multipart/form-data`.
    #[error("{message}")]
    MalformedPostRequest {
        /// What is wrong.
        message: String,
    },
    /// A POST object policy that cannot be read.
    #[error("{message}")]
    InvalidPolicyDocument {
        /// What is wrong.
        message: String,
    },
    /// The key names no object (a copy source).
    #[error("The specified key does not exist.")]
    NoSuchKey,
    /// The upload id names no upload in progress.
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload {
        /// The upload id sent.
        upload_id: String,
    },
    /// A part of a CompleteMultipartUpload list that was not uploaded or whose ETag differs.
    #[error(
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart {
        /// The part number.
        part_number: u32,
        /// The ETag the client listed.
        etag: String,
    },
    /// CompleteMultipartUpload parts not in ascending order.
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    /// A part other than the last is smaller than 5 MiB.
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall {
        /// The small part's size.
        proposed_size: u64,
        /// 5 MiB.
        min_size_allowed: u64,
    },
    /// A request body that is not the XML the operation takes.
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedXml,
    /// An object in the bucket that s3kms did not write, in a bucket that does not allow
    /// plaintext passthrough (s3kms's own error: AWS has no such state).
    #[error("The object was not written through s3kms and this bucket does not serve plaintext objects")]
    UnencryptedObject,
    /// A bucket policy refused by PutBucketPolicy, with AWS's reason.
    #[error("{message}")]
    MalformedPolicy {
        /// AWS's text (e.g. "Policy has invalid resource").
        message: String,
    },
    /// GetBucketPolicy on a bucket without a policy.
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy {
        /// The bucket, reported as AWS does in `BucketName`.
        bucket_name: String,
    },
    /// The upstream store could not be reached or failed mid-request.
    #[error("The service is unavailable. Please retry.")]
    ServiceUnavailable {
        /// Operator-facing detail (logged, not sent).
        detail: String,
    },
    /// A bug or unexpected state inside s3kms.
    #[error("We encountered an internal error. Please try again.")]
    InternalError {
        /// Operator-facing detail (logged, not sent).
        detail: String,
    },
}

impl S3Error {
    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        match self {
            S3Error::AccessDenied | S3Error::AccessDeniedWithMessage { .. } | S3Error::RequestExpired { .. } => {
                "AccessDenied"
            }
            S3Error::InvalidAccessKeyId { .. } => "InvalidAccessKeyId",
            S3Error::SignatureDoesNotMatch { .. } | S3Error::ChunkSignatureDoesNotMatch => "SignatureDoesNotMatch",
            S3Error::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            S3Error::AuthorizationHeaderMalformed { .. } => "AuthorizationHeaderMalformed",
            S3Error::AuthorizationQueryParametersError { .. } => "AuthorizationQueryParametersError",
            S3Error::ContentSha256Mismatch { .. } => "XAmzContentSHA256Mismatch",
            S3Error::BadDigest { .. } => "BadDigest",
            S3Error::InvalidDigest => "InvalidDigest",
            S3Error::IncompleteBody => "IncompleteBody",
            S3Error::RequestTimeout => "RequestTimeout",
            S3Error::InvalidUri => "InvalidURI",
            S3Error::MissingContentLength => "MissingContentLength",
            S3Error::PreconditionFailed { .. } => "PreconditionFailed",
            S3Error::InvalidRequest { .. } => "InvalidRequest",
            S3Error::InvalidArgument { .. } => "InvalidArgument",
            S3Error::MetadataTooLarge { .. } => "MetadataTooLarge",
            S3Error::EntityTooLarge { .. } => "EntityTooLarge",
            S3Error::MalformedBody { .. } => "IncompleteBody",
            S3Error::NotImplemented { .. } => "NotImplemented",
            S3Error::Kms { code, .. } => code,
            S3Error::InvalidRange { .. } => "InvalidRange",
            S3Error::InvalidPartNumber { .. } => "InvalidPartNumber",
            S3Error::NoSuchUpload { .. } => "NoSuchUpload",
            S3Error::NoSuchKey => "NoSuchKey",
            S3Error::MalformedPostRequest { .. } => "MalformedPOSTRequest",
            S3Error::InvalidPolicyDocument { .. } => "InvalidPolicyDocument",
            S3Error::InvalidPart { .. } => "InvalidPart",
            S3Error::InvalidPartOrder => "InvalidPartOrder",
            S3Error::EntityTooSmall { .. } => "EntityTooSmall",
            S3Error::MalformedXml => "MalformedXML",
            S3Error::UnencryptedObject => "InvalidObjectState",
            S3Error::MalformedPolicy { .. } => "MalformedPolicy",
            S3Error::NoSuchBucketPolicy { .. } => "NoSuchBucketPolicy",
            S3Error::ServiceUnavailable { .. } => "ServiceUnavailable",
            S3Error::InternalError { .. } => "InternalError",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            S3Error::AccessDenied
            | S3Error::AccessDeniedWithMessage { .. }
            | S3Error::RequestExpired { .. }
            | S3Error::InvalidAccessKeyId { .. }
            | S3Error::SignatureDoesNotMatch { .. }
            | S3Error::ChunkSignatureDoesNotMatch
            | S3Error::RequestTimeTooSkewed { .. } => StatusCode::FORBIDDEN,
            S3Error::AuthorizationHeaderMalformed { .. }
            | S3Error::AuthorizationQueryParametersError { .. }
            | S3Error::ContentSha256Mismatch { .. }
            | S3Error::BadDigest { .. }
            | S3Error::InvalidDigest
            | S3Error::IncompleteBody
            | S3Error::RequestTimeout
            | S3Error::InvalidUri
            | S3Error::InvalidRequest { .. }
            | S3Error::InvalidArgument { .. }
            | S3Error::MetadataTooLarge { .. }
            | S3Error::EntityTooLarge { .. }
            | S3Error::MalformedBody { .. }
            | S3Error::Kms { .. }
            | S3Error::InvalidPart { .. }
            | S3Error::InvalidPartOrder
            | S3Error::EntityTooSmall { .. }
            | S3Error::MalformedXml
            | S3Error::MalformedPostRequest { .. }
            | S3Error::InvalidPolicyDocument { .. }
            | S3Error::MalformedPolicy { .. } => StatusCode::BAD_REQUEST,
            S3Error::InvalidRange { .. } | S3Error::InvalidPartNumber { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            S3Error::NoSuchUpload { .. } | S3Error::NoSuchKey | S3Error::NoSuchBucketPolicy { .. } => {
                StatusCode::NOT_FOUND
            }
            S3Error::UnencryptedObject => StatusCode::FORBIDDEN,
            S3Error::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            S3Error::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            S3Error::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            S3Error::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            S3Error::InternalError { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The side that failed, for logs and metrics.
    pub fn fault(&self) -> Fault {
        match self {
            S3Error::ServiceUnavailable { .. } => Fault::Upstream,
            S3Error::InternalError { .. } => Fault::Internal,
            _ => Fault::Client,
        }
    }

    /// Extra elements AWS puts in the error document, in AWS's order.
    fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            S3Error::RequestExpired { expires, server_time } => {
                vec![("Expires", expires.clone()), ("ServerTime", server_time.clone())]
            }
            S3Error::InvalidAccessKeyId { access_key_id } => {
                vec![("AWSAccessKeyId", access_key_id.clone())]
            }
            S3Error::SignatureDoesNotMatch {
                access_key_id,
                string_to_sign,
                signature_provided,
                canonical_request,
            } => vec![
                ("AWSAccessKeyId", access_key_id.clone()),
                ("StringToSign", string_to_sign.clone()),
                ("SignatureProvided", signature_provided.clone()),
                ("CanonicalRequest", canonical_request.clone()),
            ],
            S3Error::RequestTimeTooSkewed {
                request_time,
                server_time,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
                ("MaxAllowedSkewMilliseconds", "900000".to_owned()),
            ],
            S3Error::ContentSha256Mismatch { client, computed } => vec![
                ("ClientComputedContentSHA256", client.clone()),
                ("S3ComputedContentSHA256", computed.clone()),
            ],
            S3Error::PreconditionFailed { condition } => {
                vec![("Condition", (*condition).to_owned())]
            }
            S3Error::InvalidArgument { name, value, .. } => {
                vec![("ArgumentName", name.clone()), ("ArgumentValue", value.clone())]
            }
            S3Error::NoSuchBucketPolicy { bucket_name } => vec![("BucketName", bucket_name.clone())],
            S3Error::MetadataTooLarge { size, max_size_allowed } => {
                vec![
                    ("Size", size.to_string()),
                    ("MaxSizeAllowed", max_size_allowed.to_string()),
                ]
            }
            S3Error::EntityTooLarge {
                proposed_size,
                max_size_allowed,
            } => vec![
                ("ProposedSize", proposed_size.to_string()),
                ("MaxSizeAllowed", max_size_allowed.to_string()),
            ],
            S3Error::InvalidRange {
                range_requested,
                actual_object_size,
            } => vec![
                ("RangeRequested", range_requested.clone()),
                ("ActualObjectSize", actual_object_size.to_string()),
            ],
            S3Error::InvalidPartNumber {
                part_number_requested,
                actual_part_count,
            } => vec![
                ("PartNumberRequested", part_number_requested.to_string()),
                ("ActualPartCount", actual_part_count.to_string()),
            ],
            S3Error::NoSuchUpload { upload_id } => vec![("UploadId", upload_id.clone())],
            S3Error::InvalidPart { part_number, etag } => {
                vec![("PartNumber", part_number.to_string()), ("ETag", etag.clone())]
            }
            S3Error::EntityTooSmall {
                proposed_size,
                min_size_allowed,
            } => vec![
                ("ProposedSize", proposed_size.to_string()),
                ("MinSizeAllowed", min_size_allowed.to_string()),
            ],
            _ => Vec::new(),
        }
    }

    /// The XML error document, with `resource` (the request path) and the request id.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let mut xml = String::with_capacity(256);
        xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        push_element(&mut xml, "Code", self.code());
        push_element(&mut xml, "Message", &self.to_string());
        for (name, value) in self.details() {
            push_element(&mut xml, name, &value);
        }
        push_element(&mut xml, "Resource", resource);
        push_element(&mut xml, "RequestId", request_id);
        push_element(&mut xml, "HostId", request_id);
        xml.push_str("</Error>");
        xml
    }

    /// The full HTTP response. HEAD responses carry no body, as on AWS.
    pub fn to_response(&self, resource: &str, request_id: &str, head: bool) -> Response<ResponseBody> {
        let body = if head {
            Bytes::new()
        } else {
            Bytes::from(self.to_xml(resource, request_id))
        };
        let length = body.len();
        let mut response = Response::new(super::full_body(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        response
    }
}

/// Which side caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request was wrong.
    Client,
    /// The upstream store failed.
    Upstream,
    /// s3kms failed.
    Internal,
}

/// Appends `<name>value</name>` with the value escaped.
pub(super) fn push_element(xml: &mut String, name: &str, value: &str) {
    xml.push('<');
    xml.push_str(name);
    xml.push('>');
    escape_into(xml, value);
    xml.push_str("</");
    xml.push_str(name);
    xml.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_has_aws_shape_and_escapes() {
        let err = S3Error::InvalidAccessKeyId {
            access_key_id: "AK<&>".to_owned(),
        };
        let xml = err.to_xml("/bucket/key", "REQ1");
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidAccessKeyId</Code>"));
        assert!(xml.contains("<AWSAccessKeyId>AK&lt;&amp;&gt;</AWSAccessKeyId>"));
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn metadata_too_large_reports_both_sizes() {
        let err = S3Error::MetadataTooLarge {
            size: 2049,
            max_size_allowed: 2048,
        };
        assert_eq!(
            (err.code(), err.status()),
            ("MetadataTooLarge", StatusCode::BAD_REQUEST)
        );
        let xml = err.to_xml("/b/k", "r");
        assert!(xml.contains(
            "<Message>Your metadata headers exceed the maximum allowed metadata size</Message>\
             <Size>2049</Size><MaxSizeAllowed>2048</MaxSizeAllowed>"
        ));
    }

    #[test]
    fn bucket_setting_errors_have_aws_codes_and_statuses() {
        let missing = S3Error::NoSuchBucketPolicy {
            bucket_name: "b".into(),
        };
        assert_eq!(
            (missing.code(), missing.status()),
            ("NoSuchBucketPolicy", StatusCode::NOT_FOUND)
        );
        assert!(missing.to_xml("/b", "r").contains(
            "<Code>NoSuchBucketPolicy</Code><Message>The bucket policy does not exist</Message>\
             <BucketName>b</BucketName>"
        ));
        let xml = S3Error::MalformedXml;
        assert_eq!((xml.code(), xml.status()), ("MalformedXML", StatusCode::BAD_REQUEST));
        let policy = S3Error::MalformedPolicy {
            message: "Policy has invalid resource".into(),
        };
        assert_eq!(
            (policy.code(), policy.status()),
            ("MalformedPolicy", StatusCode::BAD_REQUEST)
        );
        assert!(
            policy
                .to_xml("/b", "r")
                .contains("<Message>Policy has invalid resource</Message>")
        );
        assert_eq!(policy.fault(), Fault::Client);
    }

    #[test]
    fn expired_presign_is_access_denied_with_aws_text() {
        let err = S3Error::RequestExpired {
            expires: "e".into(),
            server_time: "s".into(),
        };
        assert_eq!(err.code(), "AccessDenied");
        assert!(err.to_xml("/", "r").contains("<Message>Request has expired</Message>"));
    }
}
