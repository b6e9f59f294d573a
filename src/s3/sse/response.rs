//! The SSE headers each response carries (spec §0 item 6, §1.4).
//!
//! | Operation | headers |
//! |---|---|
//! | PutObject, CopyObject, CreateMultipartUpload | algorithm, key ARN, context (only if the client sent one), bucket key |
//! | GetObject, HeadObject, UploadPart, UploadPartCopy, CompleteMultipartUpload | algorithm, key ARN, bucket key |
//! | anything else | none |
//!
//! The key ARN and context are sent only for `aws:kms`; the bucket-key header only when true
//! (AWS omits it when false). The key header is always the key ARN, whatever form the request
//! or bucket default named.

use http::{HeaderName, HeaderValue};

use super::{BUCKET_KEY_HEADER, CONTEXT_HEADER, KEY_ID_HEADER, SSE_HEADER, SseAlgorithm};
use crate::s3::operation::Operation;

/// The encryption an object (or upload) actually has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The algorithm.
    pub algorithm: SseAlgorithm,
    /// The KMS key's ARN (for `AES256`, the key s3kms used internally; never sent).
    pub key_arn: String,
    /// The client's context header exactly as sent, echoed on PutObject, CopyObject and
    /// CreateMultipartUpload; `None` when the client sent none.
    pub client_context_echo: Option<HeaderValue>,
    /// Whether S3 Bucket Key semantics apply.
    pub bucket_key_enabled: bool,
}

/// The SSE headers of `operation`'s response for an object encrypted as `applied`.
pub fn response_headers(operation: Operation, applied: &Applied) -> Vec<(HeaderName, HeaderValue)> {
    use Operation::*;
    let echoes_context = match operation {
        PutObject | CopyObject | CreateMultipartUpload => true,
        GetObject | HeadObject | UploadPart | UploadPartCopy | CompleteMultipartUpload => false,
        _ => return Vec::new(),
    };
    let mut headers = vec![(
        HeaderName::from_static(SSE_HEADER),
        HeaderValue::from_static(applied.algorithm.as_str()),
    )];
    if applied.algorithm == SseAlgorithm::AwsKms {
        // A key ARN s3kms built is always a valid header value; an invalid one is left out.
        if let Ok(arn) = HeaderValue::from_str(&applied.key_arn) {
            headers.push((HeaderName::from_static(KEY_ID_HEADER), arn));
        }
        if let Some(echo) = applied.client_context_echo.as_ref().filter(|_| echoes_context) {
            headers.push((HeaderName::from_static(CONTEXT_HEADER), echo.clone()));
        }
        if applied.bucket_key_enabled {
            headers.push((
                HeaderName::from_static(BUCKET_KEY_HEADER),
                HeaderValue::from_static("true"),
            ));
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn applied(context: bool, bucket_key: bool) -> Applied {
        Applied {
            algorithm: SseAlgorithm::AwsKms,
            key_arn: ARN.to_owned(),
            client_context_echo: context.then(|| HeaderValue::from_static("eyJhIjoiYiJ9")),
            bucket_key_enabled: bucket_key,
        }
    }

    fn names(operation: Operation, applied: &Applied) -> Vec<String> {
        response_headers(operation, applied)
            .into_iter()
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect()
    }

    #[test]
    fn writes_echo_the_context_and_bucket_key() {
        for operation in [
            Operation::PutObject,
            Operation::CopyObject,
            Operation::CreateMultipartUpload,
        ] {
            assert_eq!(
                names(operation, &applied(true, true)),
                [
                    "x-amz-server-side-encryption: aws:kms".to_owned(),
                    format!("x-amz-server-side-encryption-aws-kms-key-id: {ARN}"),
                    "x-amz-server-side-encryption-context: eyJhIjoiYiJ9".to_owned(),
                    "x-amz-server-side-encryption-bucket-key-enabled: true".to_owned(),
                ]
            );
            assert_eq!(names(operation, &applied(false, false)).len(), 2);
        }
    }

    #[test]
    fn reads_and_parts_never_echo_the_context() {
        let reads = [
            Operation::GetObject,
            Operation::HeadObject,
            Operation::UploadPart,
            Operation::UploadPartCopy,
            Operation::CompleteMultipartUpload,
        ];
        for operation in reads {
            let got = names(operation, &applied(true, true));
            assert_eq!(got.len(), 3, "{operation:?}");
            assert!(got.iter().all(|line| !line.contains("-context")));
            assert_eq!(names(operation, &applied(true, false)).len(), 2);
        }
    }

    #[test]
    fn aes256_sends_only_the_algorithm() {
        let sse_s3 = Applied {
            algorithm: SseAlgorithm::Aes256,
            ..applied(true, true)
        };
        for operation in [Operation::PutObject, Operation::GetObject] {
            assert_eq!(names(operation, &sse_s3), ["x-amz-server-side-encryption: AES256"]);
        }
    }

    #[test]
    fn other_operations_get_nothing() {
        for operation in [
            Operation::DeleteObject,
            Operation::ListParts,
            Operation::GetObjectAttributes,
        ] {
            assert!(response_headers(operation, &applied(true, true)).is_empty());
        }
    }
}
