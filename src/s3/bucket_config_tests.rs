//! Tests of [`super`]: the six operations against a real (file) key store, and the error
//! mapping.

use std::sync::Arc;

use http_body_util::BodyExt;

use super::*;
use crate::kms::store::{FileStore, KeyStore, StoreError};

struct Store {
    settings: BucketSettings,
    _dir: tempfile::TempDir,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let settings = BucketSettings::new(Arc::new(KeyStore::File(FileStore::open(dir.path()).unwrap())));
    Store { settings, _dir: dir }
}

/// Status, content type and body of one call.
async fn call(
    store: &Store,
    operation: Operation,
    body: &str,
) -> Result<(StatusCode, Option<String>, String), S3Error> {
    let response = handle(&store.settings, operation, "b", Bytes::from(body.to_owned()), "REQ").await?;
    assert_eq!(response.headers()["x-amz-request-id"], "REQ");
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Ok((status, content_type, String::from_utf8(bytes.to_vec()).unwrap()))
}

fn encryption(rule: &str) -> String {
    format!(
        "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule>{rule}</Rule></ServerSideEncryptionConfiguration>"
    )
}

const KMS_RULE: &str = "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:111122223333:key/k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled>";

#[tokio::test]
async fn encryption_defaults_to_aes256_and_round_trips() {
    let store = store();
    let (status, content_type, fresh) = call(&store, Operation::GetBucketEncryption, "").await.unwrap();
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::OK, Some("application/xml"))
    );
    assert!(fresh.contains("<SSEAlgorithm>AES256</SSEAlgorithm>"), "{fresh}");
    assert!(fresh.contains("<BucketKeyEnabled>false</BucketKeyEnabled>"), "{fresh}");

    let (status, _, body) = call(&store, Operation::PutBucketEncryption, &encryption(KMS_RULE))
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    let (_, _, configured) = call(&store, Operation::GetBucketEncryption, "").await.unwrap();
    assert!(configured.contains(
        "<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>arn:aws:kms:us-east-1:111122223333:key/k</KMSMasterKeyID>"
    ));
    assert!(configured.contains("<BucketKeyEnabled>true</BucketKeyEnabled>"));

    for _ in 0..2 {
        let (status, _, body) = call(&store, Operation::DeleteBucketEncryption, "").await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    }
    let (_, _, reset) = call(&store, Operation::GetBucketEncryption, "").await.unwrap();
    assert_eq!(reset, fresh);
}

#[tokio::test]
async fn encryption_documents_are_refused_with_aws_errors() {
    let store = store();
    let refused = |body: String| {
        let store = &store;
        async move { call(store, Operation::PutBucketEncryption, &body).await.unwrap_err() }
    };
    assert!(matches!(refused("<nope".into()).await, S3Error::MalformedXml));
    assert!(matches!(refused(encryption("")).await, S3Error::MalformedXml));
    let key_with_aes = encryption(
        "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault>",
    );
    match refused(key_with_aes).await {
        error @ S3Error::InvalidArgument { .. } => {
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            let xml = error.to_xml("/b", "r");
            assert!(
                xml.contains("<ArgumentName>ApplyServerSideEncryptionByDefault</ArgumentName>"),
                "{xml}"
            );
        }
        other => panic!("{other:?}"),
    }
    let dsse = encryption(
        "<ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms:dsse</SSEAlgorithm></ApplyServerSideEncryptionByDefault>",
    );
    assert_eq!(refused(dsse).await.status(), StatusCode::NOT_IMPLEMENTED);
    // Nothing was stored.
    let (_, _, current) = call(&store, Operation::GetBucketEncryption, "").await.unwrap();
    assert!(current.contains("<SSEAlgorithm>AES256</SSEAlgorithm>"));
}

const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/nobody"},
                 "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]
}"#;

#[tokio::test]
async fn policy_round_trip_keeps_the_text() {
    let store = store();
    let missing = call(&store, Operation::GetBucketPolicy, "").await.unwrap_err();
    assert!(matches!(&missing, S3Error::NoSuchBucketPolicy { bucket_name } if bucket_name == "b"));

    let (status, _, body) = call(&store, Operation::PutBucketPolicy, POLICY).await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (status, content_type, text) = call(&store, Operation::GetBucketPolicy, "").await.unwrap();
    assert_eq!(
        (status, content_type.as_deref()),
        (StatusCode::OK, Some("application/json"))
    );
    assert_eq!(text, POLICY);

    for _ in 0..2 {
        let (status, _, _) = call(&store, Operation::DeleteBucketPolicy, "").await.unwrap();
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    assert!(matches!(
        call(&store, Operation::GetBucketPolicy, "").await,
        Err(S3Error::NoSuchBucketPolicy { .. })
    ));
}

#[tokio::test]
async fn malformed_policies_are_refused_with_aws_texts() {
    let store = store();
    let message = |body: &str| {
        let body = body.to_owned();
        let store = &store;
        async move {
            match call(store, Operation::PutBucketPolicy, &body).await {
                Err(S3Error::MalformedPolicy { message }) => message,
                other => panic!("{body}: {other:?}"),
            }
        }
    };
    assert_eq!(message("").await, NOT_JSON);
    assert_eq!(message("invalid json").await, NOT_JSON);
    assert_eq!(message("[1]").await, NOT_JSON);
    assert_eq!(message("{\"Statement\": [").await, NOT_JSON);
    assert_eq!(message("{}").await, "Missing required field Statement");
    let statement = |resource: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":{resource}}}]}}"#
        )
    };
    assert_eq!(message(&statement(r#""*""#)).await, "Policy has invalid resource");
    assert_eq!(
        message(&statement(r#"["arn:aws:s3:::b/*","arn:aws:s3:::other/*"]"#)).await,
        "Policy has invalid resource"
    );
    let no_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    assert_eq!(message(no_principal).await, "Missing required field Principal");
    let too_large = statement(&format!(
        "[{}\"arn:aws:s3:::b/*\"]",
        "\"arn:aws:s3:::b/x\",".repeat(1100)
    ));
    assert!(too_large.len() > MAX_BUCKET_POLICY_BYTES);
    assert_eq!(
        message(&too_large).await,
        "Normalized policy document exceeds the maximum allowed size of 20480 bytes"
    );
    // Accepted: the bucket itself, its objects, and a wildcard that matches it.
    for resource in [
        r#""arn:aws:s3:::b""#,
        r#"["arn:aws:s3:::b","arn:aws:s3:::b/a/*"]"#,
        r#""arn:aws:s3:::*/*""#,
    ] {
        call(&store, Operation::PutBucketPolicy, &statement(resource))
            .await
            .unwrap();
    }
}

#[test]
fn settings_errors_keep_the_failing_side() {
    let store_failure = settings_error(SettingsError::Store(StoreError::Conflict("p".into())));
    assert_eq!(store_failure.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(store_failure.fault(), super::super::error::Fault::Upstream);
    let corrupt = settings_error(SettingsError::Corrupt("p".into(), "bad".into()));
    assert_eq!(corrupt.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let refused = settings_error(SettingsError::InvalidPolicy("Policies must be less than 20 KB".into()));
    assert_eq!(
        (refused.code(), refused.status()),
        ("MalformedPolicy", StatusCode::BAD_REQUEST)
    );
    assert_eq!(body_too_large(Operation::PutBucketEncryption).code(), "MalformedXML");
    assert_eq!(body_too_large(Operation::PutBucketPolicy).code(), "MalformedPolicy");
}

#[tokio::test]
async fn only_the_six_operations_are_answered_here() {
    let store = store();
    assert!(is_bucket_setting(Operation::GetBucketPolicy));
    assert!(!is_bucket_setting(Operation::GetObject));
    assert!(matches!(
        call(&store, Operation::GetObject, "").await,
        Err(S3Error::InternalError { .. })
    ));
}
