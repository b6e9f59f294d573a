use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;

use super::*;
use crate::s3::sse::context::MALFORMED_CONTEXT;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn request(operation: Operation, pairs: &[(&'static str, &str)]) -> Result<Option<RequestedEncryption>, S3Error> {
    requested_encryption(operation, &headers(pairs))
}

/// Code, status, message, ArgumentName, ArgumentValue.
fn refused(operation: Operation, pairs: &[(&'static str, &str)]) -> (&'static str, StatusCode, String, String, String) {
    let err = request(operation, pairs).unwrap_err();
    let (name, value) = match &err {
        S3Error::InvalidArgument { name, value, .. } => (name.clone(), value.clone()),
        _ => (String::new(), String::new()),
    };
    (err.code(), err.status(), err.to_string(), name, value)
}

const WRITES: [Operation; 3] = [
    Operation::PutObject,
    Operation::CopyObject,
    Operation::CreateMultipartUpload,
];

#[test]
fn no_sse_headers_is_none_for_every_operation() {
    for operation in [
        Operation::PutObject,
        Operation::GetObject,
        Operation::UploadPart,
        Operation::ListObjects,
    ] {
        assert_eq!(request(operation, &[("x-amz-meta-a", "b")]).unwrap(), None);
    }
}

#[test]
fn aws_kms_with_key_context_and_bucket_key() {
    let context = STANDARD.encode(r#"{"project":"apollo"}"#);
    for operation in WRITES {
        let got = request(
            operation,
            &[
                (SSE_HEADER, "aws:kms"),
                (KEY_ID_HEADER, "alias/app"),
                (CONTEXT_HEADER, &context),
                (BUCKET_KEY_HEADER, "TRUE"),
            ],
        )
        .unwrap()
        .unwrap();
        assert_eq!(got.algorithm, Some(SseAlgorithm::AwsKms));
        assert_eq!(got.key_id.as_deref(), Some("alias/app"));
        assert_eq!(got.context["project"], "apollo");
        assert_eq!(got.context_header.unwrap(), context.as_str());
        assert_eq!(got.bucket_key_enabled, Some(true));
    }
}

#[test]
fn aws_kms_alone_and_aes256() {
    let kms = request(Operation::PutObject, &[(SSE_HEADER, "aws:kms")])
        .unwrap()
        .unwrap();
    assert_eq!(
        kms,
        RequestedEncryption {
            algorithm: Some(SseAlgorithm::AwsKms),
            key_id: None,
            context: EncryptionContext::new(),
            context_header: None,
            bucket_key_enabled: None,
        }
    );
    let aes = request(
        Operation::CopyObject,
        &[(SSE_HEADER, "AES256"), (BUCKET_KEY_HEADER, "false")],
    );
    let aes = aes.unwrap().unwrap();
    assert_eq!(
        (aes.algorithm, aes.bucket_key_enabled),
        (Some(SseAlgorithm::Aes256), Some(false))
    );
}

#[test]
fn bucket_key_alone_overrides_only_the_flag() {
    let got = request(Operation::PutObject, &[(BUCKET_KEY_HEADER, "true")])
        .unwrap()
        .unwrap();
    assert_eq!((got.algorithm, got.bucket_key_enabled), (None, Some(true)));
}

#[test]
fn unsupported_algorithm_values() {
    for value in ["aes256", "AES-256", "", "aws:KMS", "aws:fsx", "AES256 "] {
        let got = refused(Operation::PutObject, &[(SSE_HEADER, value)]);
        assert_eq!(
            got,
            (
                "InvalidArgument",
                StatusCode::BAD_REQUEST,
                UNSUPPORTED_METHOD.to_owned(),
                SSE_HEADER.to_owned(),
                value.to_owned()
            ),
            "{value:?}"
        );
    }
}

#[test]
fn dsse_is_not_implemented() {
    let (code, status, message, _, _) = refused(Operation::PutObject, &[(SSE_HEADER, "aws:kms:dsse")]);
    assert_eq!((code, status), ("NotImplemented", StatusCode::NOT_IMPLEMENTED));
    assert!(message.contains("aws:kms:dsse"));
}

#[test]
fn key_id_or_context_without_aws_kms() {
    let context = STANDARD.encode("{}");
    let cases: [&[(&'static str, &str)]; 4] = [
        &[(KEY_ID_HEADER, "alias/app")],
        &[(CONTEXT_HEADER, &context)],
        &[(SSE_HEADER, "AES256"), (KEY_ID_HEADER, "alias/app")],
        &[(SSE_HEADER, "AES256"), (CONTEXT_HEADER, &context)],
    ];
    for pairs in cases {
        for operation in WRITES {
            let (code, status, message, name, _) = refused(operation, pairs);
            assert_eq!((code, status), ("InvalidArgument", StatusCode::BAD_REQUEST));
            assert_eq!((message.as_str(), name.as_str()), (REQUIRES_AWS_KMS, SSE_HEADER));
        }
    }
    let (.., value) = refused(Operation::PutObject, &[(KEY_ID_HEADER, "k")]);
    assert_eq!(value, "null");
}

#[test]
fn sse_headers_refused_on_reads_and_parts() {
    let refusing = [
        Operation::GetObject,
        Operation::HeadObject,
        Operation::UploadPart,
        Operation::UploadPartCopy,
        Operation::CompleteMultipartUpload,
    ];
    for operation in refusing {
        for header in [SSE_HEADER, KEY_ID_HEADER, CONTEXT_HEADER, BUCKET_KEY_HEADER] {
            let (code, status, message, name, _) = refused(operation, &[(header, "aws:kms")]);
            assert_eq!((code, status), ("InvalidArgument", StatusCode::BAD_REQUEST));
            assert_eq!(message, NOT_SUPPORTED_FOR_OPERATION, "{operation:?} {header}");
            assert_eq!(name, header);
        }
    }
}

#[test]
fn other_operations_ignore_sse_headers() {
    for operation in [Operation::DeleteObject, Operation::ListObjectsV2, Operation::Other] {
        assert_eq!(request(operation, &[(SSE_HEADER, "bogus")]).unwrap(), None);
        let customer = ("x-amz-server-side-encryption-customer-algorithm", "AES256");
        assert_eq!(request(operation, &[customer]).unwrap(), None);
    }
}

#[test]
fn customer_keys_are_not_offered() {
    let customer = [
        ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
        ("x-amz-server-side-encryption-customer-key", "a2V5"),
        ("x-amz-copy-source-server-side-encryption-customer-key-md5", "bWQ1"),
    ];
    for pair in customer {
        for operation in [Operation::PutObject, Operation::GetObject, Operation::UploadPart] {
            let (code, status, message, _, _) = refused(operation, &[pair]);
            assert_eq!((code, status), ("NotImplemented", StatusCode::NOT_IMPLEMENTED));
            assert!(message.contains("SSE-C"));
        }
    }
    let got = refused(Operation::PutObject, &[customer[0], (SSE_HEADER, "aws:kms")]);
    assert_eq!(
        got,
        (
            "InvalidArgument",
            StatusCode::BAD_REQUEST,
            CUSTOMER_KEY_INCOMPATIBLE.to_owned(),
            SSE_HEADER.to_owned(),
            "aws:kms".to_owned()
        )
    );
}

#[test]
fn malformed_context_and_bucket_key() {
    let (code, _, message, name, value) = refused(
        Operation::PutObject,
        &[(SSE_HEADER, "aws:kms"), (CONTEXT_HEADER, "e30")],
    );
    assert_eq!((code, message.as_str()), ("InvalidArgument", MALFORMED_CONTEXT));
    assert_eq!((name.as_str(), value.as_str()), (CONTEXT_HEADER, "e30"));
    let reserved = STANDARD.encode(r#"{"aws:x":"y"}"#);
    assert!(
        request(
            Operation::PutObject,
            &[(SSE_HEADER, "aws:kms"), (CONTEXT_HEADER, &reserved)]
        )
        .is_err()
    );
    let (code, _, _, name, value) = refused(Operation::PutObject, &[(BUCKET_KEY_HEADER, "yes")]);
    assert_eq!(
        (code, name.as_str(), value.as_str()),
        ("InvalidArgument", BUCKET_KEY_HEADER, "yes")
    );
}

#[test]
fn repeated_headers_are_refused() {
    let (code, _, _, name, _) = refused(Operation::PutObject, &[(SSE_HEADER, "aws:kms"), (SSE_HEADER, "AES256")]);
    assert_eq!((code, name.as_str()), ("InvalidArgument", SSE_HEADER));
}

#[test]
fn non_ascii_key_id_is_refused() {
    let mut map = headers(&[(SSE_HEADER, "aws:kms")]);
    map.insert(KEY_ID_HEADER, HeaderValue::from_bytes(b"alias/\xc3\xa9").unwrap());
    let err = requested_encryption(Operation::PutObject, &map).unwrap_err();
    assert_eq!(err.code(), "InvalidArgument");
}
