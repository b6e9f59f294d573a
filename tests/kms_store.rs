//! The KMS over its file key store, through the public API: a damaged record is reported as
//! such (never silently dropped), and every other key keeps working.

use std::sync::Arc;

use s3kms::kms::shapes::{CreateKeyRequest, EncryptRequest, KeyIdRequest, ListRequest};
use s3kms::kms::store::{FileStore, KeyStore};
use s3kms::kms::{AuditLog, Call, Caller, Kms, KmsError, Scope, root};
use s3kms::policy::{PolicyDocument, PolicyKind, Principal};

const ACCOUNT: &str = "111122223333";
const ADMIN: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;

fn kms(data_dir: &std::path::Path) -> Kms {
    let store = KeyStore::File(FileStore::open(&data_dir.join("kms")).expect("key store"));
    let root = root::load(None, data_dir).expect("root key");
    let scope = Scope {
        account_id: ACCOUNT.into(),
        region: "us-east-1".into(),
    };
    let audit = AuditLog::open(&data_dir.join("audit"), ACCOUNT, "us-east-1").expect("audit");
    Kms::new(Arc::new(store), root, scope, audit)
}

fn admin() -> Caller {
    Caller {
        principal: Principal::user(ACCOUNT, "admin", "AIDAADMIN0000000000"),
        user_name: "admin".into(),
        access_key_id: "AKIAADMIN".into(),
        identity_policies: Arc::from(vec![
            PolicyDocument::parse(ADMIN, PolicyKind::Identity).expect("policy"),
        ]),
        source_ip: "127.0.0.1".into(),
        user_agent: "test".into(),
        request_id: "req".into(),
        via_s3: false,
        secure_transport: false,
    }
}

async fn create_key(kms: &Kms) -> String {
    let output = kms
        .call(&admin(), Call::CreateKey(CreateKeyRequest::default()))
        .await
        .expect("create key");
    output.key_metadata.expect("metadata").key_id
}

fn describe(key_id: &str) -> Call {
    Call::DescribeKey(KeyIdRequest {
        key_id: key_id.into(),
        grant_tokens: Vec::new(),
    })
}

#[tokio::test]
async fn a_damaged_key_record_is_reported_and_the_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let damaged = create_key(&kms).await;
    let healthy = create_key(&kms).await;

    let record = dir.path().join("kms/keys").join(format!("{damaged}.json"));
    let bytes = std::fs::read(&record).unwrap();
    std::fs::write(&record, &bytes[..bytes.len() / 2]).unwrap();

    match kms.call(&admin(), describe(&damaged)).await {
        Err(KmsError::Internal(detail)) => assert!(detail.contains(&damaged) && detail.contains("corrupt"), "{detail}"),
        other => panic!("a truncated record must be reported, got {other:?}"),
    }
    let encrypt = EncryptRequest {
        key_id: healthy.clone(),
        plaintext: b"still fine".to_vec(),
        ..Default::default()
    };
    assert!(kms.call(&admin(), Call::Encrypt(encrypt)).await.is_ok());
    let listed = kms
        .call(&admin(), Call::ListKeys(ListRequest::default()))
        .await
        .unwrap()
        .keys
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|entry| entry.key_id.as_str()).collect();
    assert!(
        ids.contains(&damaged.as_str()) && ids.contains(&healthy.as_str()),
        "{ids:?}"
    );
    assert!(
        kms.sweep().await.is_ok(),
        "the sweeper reports the damaged key and carries on"
    );
}

#[tokio::test]
async fn keys_survive_a_new_kms_over_the_same_directory() {
    let dir = tempfile::tempdir().unwrap();
    let key_id = create_key(&kms(dir.path())).await;
    let reopened = kms(dir.path());
    let output = reopened
        .call(&admin(), describe(&key_id))
        .await
        .expect("the key is still there");
    assert_eq!(output.key_metadata.unwrap().key_state, "Enabled");
}
