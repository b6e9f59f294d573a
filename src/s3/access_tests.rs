//! Tests of [`super`]: real policies through the real evaluator, bucket policies in a real
//! (file) key store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;
use crate::config::Config;
use crate::identity::Users;
use crate::kms::store::{FileStore, KeyStore};

const ACCOUNT: &str = "111122223333";
const ALLOW_ALL: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const KEY_1: &str = "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111";
const KEY_2: &str = "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222";

fn user(name: &str, policy: Option<&str>) -> Arc<User> {
    let access_key_id = access_key_id(name);
    let mut text = format!(
        "data_dir = \"/tmp\"\naccount_id = \"{ACCOUNT}\"\n[[users]]\nname = \"{name}\"\n\
         access_key_id = \"{access_key_id}\"\nsecret_access_key = \"secret-of-{name}\"\n"
    );
    if let Some(policy) = policy {
        text += &format!("policy = {}\n", serde_json::to_string(policy).unwrap());
    }
    let config = Config::parse(&text, Path::new("/")).unwrap();
    let ids = BTreeMap::from([(name.to_owned(), format!("AIDA{}", name.to_uppercase()))]);
    Users::from_config(&config, &ids).by_access_key(&access_key_id).unwrap()
}

fn access_key_id(name: &str) -> String {
    let letters: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("AK{}", letters.to_uppercase())
}

fn identity_policy(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

fn arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

struct Store {
    settings: BucketSettings,
    _dir: tempfile::TempDir,
}

fn store() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let settings = BucketSettings::new(Arc::new(KeyStore::File(FileStore::open(dir.path()).unwrap())));
    Store { settings, _dir: dir }
}

impl Store {
    async fn with_policy(self, bucket: &str, policy: &str) -> Store {
        self.settings.put_policy(bucket, policy).await.unwrap();
        self
    }
}

/// One request, owning what an [`AccessRequest`] borrows.
struct Call {
    method: Method,
    address: S3Address,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    secure_transport: bool,
    effective: Option<(SseAlgorithm, Option<&'static str>)>,
}

impl Call {
    fn new(method: Method, target: &str) -> Call {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AK"),
        );
        Call {
            method,
            address: super::super::route::resolve(path, None, None).unwrap(),
            query: crate::sigv4::decode_query(query),
            headers,
            secure_transport: true,
            effective: None,
        }
    }

    fn header(mut self, name: &'static str, value: &'static str) -> Call {
        self.headers
            .insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        self
    }

    fn plain_http(mut self) -> Call {
        self.secure_transport = false;
        self
    }

    fn effective(mut self, algorithm: SseAlgorithm, key_arn: Option<&'static str>) -> Call {
        self.effective = Some((algorithm, key_arn));
        self
    }

    fn request<'a>(&'a self, user: &'a User) -> AccessRequest<'a> {
        AccessRequest {
            user,
            operation: Operation::classify(&self.method, &self.address, &self.query, &self.headers),
            method: &self.method,
            address: &self.address,
            query: &self.query,
            headers: &self.headers,
            secure_transport: self.secure_transport,
            effective_encryption: self
                .effective
                .map(|(algorithm, key_arn)| EffectiveEncryption { algorithm, key_arn }),
        }
    }

    async fn by(&self, store: &Store, user: &User) -> Result<(), S3Error> {
        check(&store.settings, &self.request(user)).await
    }
}

fn denial(result: Result<(), S3Error>) -> String {
    match result {
        Err(S3Error::AccessDeniedWithMessage { message }) => message,
        other => panic!("expected AccessDenied, got {other:?}"),
    }
}

#[tokio::test]
async fn identity_policy_allows_what_it_names_and_nothing_else() {
    let store = store();
    let reader = user(
        "reader",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}"#,
        )),
    );
    Call::new(Method::GET, "/b/k").by(&store, &reader).await.unwrap();
    Call::new(Method::HEAD, "/b/k").by(&store, &reader).await.unwrap();
    Call::new(Method::GET, "/b?list-type=2")
        .by(&store, &reader)
        .await
        .unwrap();
    let message = denial(Call::new(Method::PUT, "/b/k").by(&store, &reader).await);
    assert_eq!(
        message,
        format!(
            "User: {} is not authorized to perform: s3:PutObject on resource: \"arn:aws:s3:::b/k\" \
             because no identity-based policy allows the s3:PutObject action",
            arn("reader")
        )
    );
    denial(Call::new(Method::GET, "/other/k").by(&store, &reader).await);
    let nobody = user("nobody", None);
    denial(Call::new(Method::GET, "/b/k").by(&store, &nobody).await);
}

#[tokio::test]
async fn bucket_policy_alone_can_allow() {
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}]}}"#,
        arn("nobody")
    );
    let store = store().with_policy("b", &policy).await;
    let nobody = user("nobody", None);
    Call::new(Method::GET, "/b/k").by(&store, &nobody).await.unwrap();
    denial(Call::new(Method::GET, "/b/k?versionId=v1").by(&store, &nobody).await);
    denial(Call::new(Method::DELETE, "/b/k").by(&store, &nobody).await);
    denial(Call::new(Method::GET, "/c/k").by(&store, &nobody).await);
    let someone = user("someone", None);
    denial(Call::new(Method::GET, "/b/k").by(&store, &someone).await);
}

#[tokio::test]
async fn explicit_deny_in_the_bucket_policy_wins_over_allow_all() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/*"}]}"#;
    let store = store().with_policy("b", policy).await;
    let admin = user("admin", Some(ALLOW_ALL));
    Call::new(Method::GET, "/b/k").by(&store, &admin).await.unwrap();
    let message = denial(Call::new(Method::DELETE, "/b/k").by(&store, &admin).await);
    assert_eq!(
        message,
        format!(
            "User: {} is not authorized to perform: s3:DeleteObject on resource: \"arn:aws:s3:::b/k\" \
             with an explicit deny in a resource-based policy",
            arn("admin")
        )
    );
    let denied_by_self = user(
        "self-denied",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}"#,
        )),
    );
    let message = denial(Call::new(Method::GET, "/b/k").by(&store, &denied_by_self).await);
    assert!(
        message.ends_with("with an explicit deny in an identity-based policy"),
        "{message}"
    );
}

const DENY_UNENCRYPTED: &str = r#"{"Version":"2012-10-17","Id":"PutObjPolicy","Statement":[{"Sid":"DenyUnEncryptedObjectUploads","Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringNotEquals":{"s3:x-amz-server-side-encryption":"aws:kms"}}}]}"#;

#[tokio::test]
async fn deny_unencrypted_uploads_tests_the_header_not_the_bucket_default() {
    let store = store().with_policy("b", DENY_UNENCRYPTED).await;
    let admin = user("admin", Some(ALLOW_ALL));
    let by_default = Call::new(Method::PUT, "/b/k").effective(SseAlgorithm::AwsKms, Some(KEY_1));
    let message = denial(by_default.by(&store, &admin).await);
    assert!(
        message.ends_with("with an explicit deny in a resource-based policy"),
        "{message}"
    );
    let asked = Call::new(Method::PUT, "/b/k")
        .header("x-amz-server-side-encryption", "aws:kms")
        .effective(SseAlgorithm::AwsKms, Some(KEY_1));
    asked.by(&store, &admin).await.unwrap();
    let aes = Call::new(Method::PUT, "/b/k")
        .header("x-amz-server-side-encryption", "AES256")
        .effective(SseAlgorithm::Aes256, None);
    denial(aes.by(&store, &admin).await);
    // The same statement governs CreateMultipartUpload (s3:PutObject) but not reads.
    denial(Call::new(Method::POST, "/b/k?uploads").by(&store, &admin).await);
    Call::new(Method::GET, "/b/k").by(&store, &admin).await.unwrap();
}

#[tokio::test]
async fn null_condition_sees_an_absent_header_as_absent() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}]}"#;
    let store = store().with_policy("b", policy).await;
    let admin = user("admin", Some(ALLOW_ALL));
    denial(Call::new(Method::PUT, "/b/k").by(&store, &admin).await);
    Call::new(Method::PUT, "/b/k")
        .header("x-amz-server-side-encryption", "AES256")
        .by(&store, &admin)
        .await
        .unwrap();
}

#[tokio::test]
async fn key_id_condition_matches_the_effective_key_arn() {
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{{"StringNotEquals":{{"s3:x-amz-server-side-encryption-aws-kms-key-id":"{KEY_1}"}}}}}}]}}"#
    );
    let store = store().with_policy("b", &policy).await;
    let admin = user("admin", Some(ALLOW_ALL));
    // The request named an alias; the key it resolves to is what the condition sees.
    Call::new(Method::PUT, "/b/k")
        .header("x-amz-server-side-encryption", "aws:kms")
        .header("x-amz-server-side-encryption-aws-kms-key-id", "alias/app")
        .effective(SseAlgorithm::AwsKms, Some(KEY_1))
        .by(&store, &admin)
        .await
        .unwrap();
    // No key header at all: the bucket default's key decides.
    Call::new(Method::PUT, "/b/k")
        .effective(SseAlgorithm::AwsKms, Some(KEY_1))
        .by(&store, &admin)
        .await
        .unwrap();
    denial(
        Call::new(Method::PUT, "/b/k")
            .header("x-amz-server-side-encryption-aws-kms-key-id", KEY_1)
            .effective(SseAlgorithm::AwsKms, Some(KEY_2))
            .by(&store, &admin)
            .await,
    );
    // SSE-S3: no KMS key, the key is absent, and StringNotEquals on an absent key holds.
    denial(
        Call::new(Method::PUT, "/b/k")
            .effective(SseAlgorithm::Aes256, None)
            .by(&store, &admin)
            .await,
    );
}

#[tokio::test]
async fn secure_transport_false_is_denied_over_plain_http() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#;
    let store = store().with_policy("b", policy).await;
    let admin = user("admin", Some(ALLOW_ALL));
    Call::new(Method::GET, "/b/k").by(&store, &admin).await.unwrap();
    denial(Call::new(Method::GET, "/b/k").plain_http().by(&store, &admin).await);
    denial(
        Call::new(Method::GET, "/b?list-type=2")
            .plain_http()
            .by(&store, &admin)
            .await,
    );
}

#[tokio::test]
async fn copy_needs_get_object_on_the_source_under_its_own_bucket_policy() {
    let source_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::src/secret/*"}]}"#;
    let store = store().with_policy("src", source_policy).await;
    let copier = user(
        "copier",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::dst/*"},{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::src/a","arn:aws:s3:::src/secret/*"]}"#,
        )),
    );
    let copy = |source: &'static str| Call::new(Method::PUT, "/dst/k").header("x-amz-copy-source", source);
    copy("/src/a").by(&store, &copier).await.unwrap();
    copy("src/a").by(&store, &copier).await.unwrap();
    let message = denial(copy("src/b").by(&store, &copier).await);
    assert_eq!(
        message,
        format!(
            "User: {} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::src/b\" \
             because no identity-based policy allows the s3:GetObject action",
            arn("copier")
        )
    );
    let message = denial(copy("/src/secret/x").by(&store, &copier).await);
    assert!(
        message.ends_with("with an explicit deny in a resource-based policy"),
        "{message}"
    );
    let message = denial(copy("/src/a?versionId=v1").by(&store, &copier).await);
    assert!(
        message.contains("s3:GetObjectVersion on resource: \"arn:aws:s3:::src/a\""),
        "{message}"
    );
    // The destination is checked too, and UploadPartCopy is a copy.
    denial(
        Call::new(Method::PUT, "/src/k")
            .header("x-amz-copy-source", "/src/a")
            .by(&store, &copier)
            .await,
    );
    Call::new(Method::PUT, "/dst/k?partNumber=1&uploadId=u")
        .header("x-amz-copy-source", "/src/a")
        .by(&store, &copier)
        .await
        .unwrap();
    match copy("just-a-bucket").by(&store, &copier).await {
        Err(S3Error::InvalidArgument { name, .. }) => assert_eq!(name, "x-amz-copy-source"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn copy_source_parses_the_forms_clients_send() {
    let parsed = CopySource::parse("/b/dir%20x/k%3Fy?versionId=3%2F4").unwrap();
    assert_eq!(
        parsed,
        CopySource {
            bucket: "b".into(),
            key: "dir x/k?y".into(),
            version_id: Some("3/4".into())
        }
    );
    assert_eq!(CopySource::parse("b/k").unwrap().key, "k");
    for bad in ["", "/", "b", "b/", "/b/", "b/k?partNumber=1", "/b/%ff"] {
        assert!(CopySource::parse(bad).is_err(), "{bad:?}");
    }
}

#[tokio::test]
async fn list_buckets_needs_list_all_my_buckets_and_names_no_resource() {
    let store = store();
    let lister = user(
        "lister",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::*"}"#,
        )),
    );
    Call::new(Method::GET, "/").by(&store, &lister).await.unwrap();
    Call::new(Method::GET, "/")
        .by(&store, &user("admin", Some(ALLOW_ALL)))
        .await
        .unwrap();
    let message = denial(Call::new(Method::GET, "/").by(&store, &user("nobody", None)).await);
    assert_eq!(
        message,
        format!(
            "User: {} is not authorized to perform: s3:ListAllMyBuckets because no identity-based policy \
             allows the s3:ListAllMyBuckets action",
            arn("nobody")
        )
    );
}

#[tokio::test]
async fn list_condition_keys_come_from_the_query() {
    let store = store();
    let homes = user(
        "homes",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"home/homes/*"},"StringEquals":{"s3:delimiter":"/"},"NumericLessThanEquals":{"s3:max-keys":"100"}}}"#,
        )),
    );
    Call::new(Method::GET, "/b?list-type=2&prefix=home/homes/&delimiter=/&max-keys=10")
        .by(&store, &homes)
        .await
        .unwrap();
    denial(
        Call::new(Method::GET, "/b?list-type=2&prefix=home/other/&delimiter=/&max-keys=10")
            .by(&store, &homes)
            .await,
    );
    denial(
        Call::new(Method::GET, "/b?list-type=2&delimiter=/&max-keys=10")
            .by(&store, &homes)
            .await,
    );
    denial(
        Call::new(Method::GET, "/b?prefix=home/homes/&delimiter=/&max-keys=1000")
            .by(&store, &homes)
            .await,
    );
}

#[tokio::test]
async fn delete_objects_is_checked_key_by_key() {
    let store = store();
    let cleaner = user(
        "cleaner",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/tmp/*"}"#,
        )),
    );
    let call = Call::new(Method::POST, "/b?delete");
    let request = call.request(&cleaner);
    assert!(matches!(
        check(&store.settings, &request).await,
        Err(S3Error::InternalError { .. })
    ));
    let objects = [
        ObjectName {
            key: "tmp/a",
            version_id: None,
        },
        ObjectName {
            key: "keep/b",
            version_id: None,
        },
        ObjectName {
            key: "tmp/c",
            version_id: Some("v1"),
        },
    ];
    let decisions = check_each_key(&store.settings, &request, &objects).await.unwrap();
    assert!(decisions[0].is_ok());
    assert!(denial(decisions[1].clone()).contains("s3:DeleteObject on resource: \"arn:aws:s3:::b/keep/b\""));
    assert!(denial(decisions[2].clone()).contains("s3:DeleteObjectVersion"));
}

#[test]
fn actions_are_refined_for_versions_and_sub_resources() {
    let action_of = |method: Method, target: &str| {
        let call = Call::new(method, target);
        let operation = Operation::classify(&call.method, &call.address, &call.query, &call.headers);
        action(operation, &call.method, &call.address, &call.query)
    };
    assert_eq!(action_of(Method::GET, "/b/k"), "s3:GetObject");
    assert_eq!(action_of(Method::GET, "/b/k?versionId=1"), "s3:GetObjectVersion");
    assert_eq!(action_of(Method::HEAD, "/b/k?versionId=1"), "s3:GetObjectVersion");
    assert_eq!(action_of(Method::DELETE, "/b/k?versionId=1"), "s3:DeleteObjectVersion");
    assert_eq!(
        action_of(Method::PUT, "/b/k?tagging&versionId=1"),
        "s3:PutObjectVersionTagging"
    );
    assert_eq!(action_of(Method::GET, "/b/k?acl"), "s3:GetObjectAcl");
    assert_eq!(action_of(Method::PUT, "/b/k?acl&versionId=1"), "s3:PutObjectVersionAcl");
    assert_eq!(action_of(Method::PUT, "/b?versioning"), "s3:PutBucketVersioning");
    assert_eq!(action_of(Method::GET, "/b?versioning"), "s3:GetBucketVersioning");
    assert_eq!(action_of(Method::DELETE, "/b?cors"), "s3:PutBucketCORS");
    assert_eq!(action_of(Method::DELETE, "/b?website"), "s3:DeleteBucketWebsite");
    assert_eq!(action_of(Method::DELETE, "/b?versioning"), "s3:*");
    assert_eq!(action_of(Method::POST, "/b?unknown"), "s3:*");
    assert_eq!(action_of(Method::PUT, "/b?encryption"), "s3:PutEncryptionConfiguration");
    assert_eq!(action_of(Method::DELETE, "/b?policy"), "s3:DeleteBucketPolicy");
}

#[tokio::test]
async fn unnamed_operations_need_an_allow_of_s3_star() {
    let store = store();
    let getter = user(
        "getter",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}"#,
        )),
    );
    let unknown = Call::new(Method::POST, "/b?unknown");
    let message = denial(unknown.by(&store, &getter).await);
    assert!(
        message.contains("perform: s3:* on resource: \"arn:aws:s3:::b\""),
        "{message}"
    );
    unknown.by(&store, &user("admin", Some(ALLOW_ALL))).await.unwrap();
    let s3_admin = user(
        "s3admin",
        Some(&identity_policy(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"}"#)),
    );
    unknown.by(&store, &s3_admin).await.unwrap();
    // A named sub-resource gets its own action, which s3:Get* covers.
    Call::new(Method::GET, "/b?versioning")
        .by(&store, &getter)
        .await
        .unwrap();
}

#[tokio::test]
async fn signature_keys_are_in_the_context() {
    let store = store();
    let header_only = user(
        "header-only",
        Some(&identity_policy(
            r#"{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:authType":"REST-HEADER","s3:signatureversion":"AWS4-HMAC-SHA256"}}}"#,
        )),
    );
    Call::new(Method::GET, "/b/k").by(&store, &header_only).await.unwrap();
    let mut presigned = Call::new(Method::GET, "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256");
    presigned.headers.remove("authorization");
    denial(presigned.by(&store, &header_only).await);
}
