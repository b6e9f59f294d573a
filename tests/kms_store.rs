//! The KMS over its file key store, through the public API: a damaged record is reported as
//! such (never silently dropped, never quoted), every other key keeps working, and no result
//! leaves without its audit record.

use std::sync::Arc;

use s3kms::kms::shapes::{
    AliasRequest, CreateGrantRequest, CreateKeyRequest, EncryptRequest, KeyIdRequest, ListRequest,
};
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

fn encrypt(key_id: &str) -> Call {
    Call::Encrypt(EncryptRequest {
        key_id: key_id.into(),
        plaintext: b"secret".to_vec(),
        ..Default::default()
    })
}

async fn listed_keys(kms: &Kms) -> Vec<String> {
    let output = kms
        .call(&admin(), Call::ListKeys(ListRequest::default()))
        .await
        .unwrap();
    output.keys.unwrap().into_iter().map(|entry| entry.key_id).collect()
}

#[tokio::test]
async fn no_result_leaves_without_its_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let key_id = create_key(&kms(dir.path())).await;
    // A new KMS, whose trail directory goes before its first record (an open trail file would
    // still take writes after its directory is gone).
    let kms = kms(dir.path());
    let trail = dir.path().join("audit");
    std::fs::remove_dir_all(&trail).unwrap();

    for call in [encrypt(&key_id), Call::CreateKey(CreateKeyRequest::default())] {
        match kms.call(&admin(), call).await {
            Err(KmsError::Internal(detail)) => assert!(detail.contains("audit trail"), "{detail}"),
            other => panic!("a call whose record cannot be written must fail, got {other:?}"),
        }
    }
    std::fs::create_dir(&trail).unwrap();
    assert_eq!(listed_keys(&kms).await, [key_id.as_str()], "no key was made unaudited");
    assert!(kms.call(&admin(), encrypt(&key_id)).await.is_ok());
}

#[tokio::test]
async fn a_misshapen_record_is_reported_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let key_id = create_key(&kms).await;
    let record = dir.path().join("kms/keys").join(format!("{key_id}.json"));
    let mut value: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let sealed = value["versions"][0]["sealed_material"].as_str().unwrap().to_owned();
    value["versions"] = sealed.clone().into();
    std::fs::write(&record, value.to_string()).unwrap();

    match kms.call(&admin(), describe(&key_id)).await {
        Err(KmsError::Internal(detail)) => {
            assert!(detail.contains(&format!("keys/{key_id}.json")), "{detail}");
            assert!(!detail.contains(&sealed), "the error quotes the record: {detail}");
        }
        other => panic!("a misshapen record must be reported, got {other:?}"),
    }
}

#[tokio::test]
async fn a_damaged_alias_record_leaves_the_other_aliases_listed() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let key_id = create_key(&kms).await;
    for name in ["alias/kept", "alias/damaged"] {
        let request = AliasRequest {
            alias_name: name.into(),
            target_key_id: Some(key_id.clone()),
        };
        kms.call(&admin(), Call::CreateAlias(request)).await.unwrap();
    }
    std::fs::write(
        dir.path().join("kms/aliases/alias%2Fdamaged.json"),
        b"{\"alias_name\": ",
    )
    .unwrap();

    let output = kms.call(&admin(), Call::ListAliases(ListRequest::default())).await;
    let names: Vec<String> = output
        .unwrap()
        .aliases
        .unwrap()
        .into_iter()
        .map(|a| a.alias_name)
        .collect();
    assert_eq!(names, ["alias/aws/s3", "alias/kept"]);
    assert!(kms.call(&admin(), describe("alias/kept")).await.is_ok());
    assert!(matches!(
        kms.call(&admin(), describe("alias/damaged")).await,
        Err(KmsError::Internal(detail)) if detail.contains("aliases/alias%2Fdamaged.json")
    ));
}

#[tokio::test]
async fn retirable_grants_of_the_other_keys_are_listed_next_to_a_damaged_key() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let retiring = format!("arn:aws:iam::{ACCOUNT}:user/admin");
    let mut keys = Vec::new();
    for _ in 0..2 {
        let key_id = create_key(&kms).await;
        let grant = CreateGrantRequest {
            key_id: key_id.clone(),
            grantee_principal: format!("arn:aws:iam::{ACCOUNT}:user/grantee"),
            retiring_principal: Some(retiring.clone()),
            operations: vec!["Decrypt".into()],
            ..Default::default()
        };
        kms.call(&admin(), Call::CreateGrant(grant)).await.unwrap();
        keys.push(key_id);
    }
    std::fs::write(
        dir.path().join("kms/keys").join(format!("{}.json", keys[0])),
        b"garbage",
    )
    .unwrap();

    let request = ListRequest {
        retiring_principal: Some(retiring),
        ..Default::default()
    };
    let grants = kms
        .call(&admin(), Call::ListRetirableGrants(request))
        .await
        .unwrap()
        .grants
        .unwrap();
    let granted: Vec<&str> = grants.iter().map(|g| g.key_id.rsplit('/').next().unwrap()).collect();
    assert_eq!(granted, [keys[1].as_str()]);
}

#[tokio::test]
async fn a_damaged_declared_alias_is_reported_and_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let kms = kms(dir.path());
    let declared = kms.ensure_declared_key("alias/declared", "", None).await.unwrap();
    std::fs::write(dir.path().join("kms/aliases/alias%2Fdeclared.json"), b"garbage").unwrap();

    assert!(matches!(
        kms.ensure_declared_key("alias/declared", "", None).await,
        Err(KmsError::Internal(detail)) if detail.contains("aliases/alias%2Fdeclared.json")
    ));
    assert_eq!(
        listed_keys(&kms).await,
        [declared],
        "no other key was made for the alias"
    );
}
