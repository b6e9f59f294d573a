//! The cases of the spec (§2.4, §3.2, §6): key policies, identity policies, bucket policies.

use super::super::{
    Authorization, GrantDecision, LockoutCheck, PolicyDocument, RequestContext, ResourcePolicy, authorize,
    default_key_policy, lockout_check,
};
use super::{ACCOUNT, KEY_ARN, alice, bob, identity_policy, kms_request, resource_policy};

const ALLOW_KMS_DECRYPT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
    "Action":["kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*"}]}"#;

fn key(policy: &PolicyDocument, identity: &[PolicyDocument], context: &RequestContext) -> Authorization {
    authorize(
        ResourcePolicy::Key(policy),
        identity,
        GrantDecision::NotApplicable,
        context,
    )
}

#[test]
fn default_policy_delegates_to_iam() {
    let policy = resource_policy(&default_key_policy(ACCOUNT));
    let iam = [identity_policy(ALLOW_KMS_DECRYPT)];
    let decrypt = kms_request(alice(), "kms:Decrypt");
    assert_eq!(key(&policy, &iam, &decrypt), Authorization::Allowed);
    let generate = kms_request(alice(), "kms:GenerateDataKeyWithoutPlaintext");
    assert_eq!(key(&policy, &iam, &generate), Authorization::Allowed);
    let encrypt = kms_request(alice(), "kms:Encrypt");
    let denied = key(&policy, &iam, &encrypt);
    assert_eq!(denied, Authorization::NoIdentityPolicyAllows);
    assert_eq!(
        denied.message(&alice().arn, "kms:Encrypt", KEY_ARN).as_deref(),
        Some(
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt \
             on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
             because no identity-based policy allows the kms:Encrypt action"
        )
    );
    // Another account's principal gets nothing from the delegation.
    let stranger = super::super::Principal::user("444455556666", "eve", "AIDAEVE");
    let outcome = key(&policy, &iam, &kms_request(stranger, "kms:Decrypt"));
    assert_eq!(outcome, Authorization::NoResourcePolicyAllows);
}

#[test]
fn policy_naming_a_user_directly() {
    // Stored form: the user's ARN was translated to its unique id at PutKeyPolicy.
    let policy = resource_policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Key users","Effect":"Allow",
        "Principal":{"AWS":["AIDAALICEEXAMPLE"]},"Action":"kms:Decrypt","Resource":"*"}]}"#,
    );
    assert_eq!(
        key(&policy, &[], &kms_request(alice(), "kms:Decrypt")),
        Authorization::Allowed
    );
    let denied = key(&policy, &[], &kms_request(bob(), "kms:Decrypt"));
    assert_eq!(denied, Authorization::NoResourcePolicyAllows);
    assert_eq!(
        denied.message(&bob().arn, "kms:Decrypt", KEY_ARN).as_deref(),
        Some(
            "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: kms:Decrypt \
             on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
             because no resource-based policy allows the kms:Decrypt action"
        )
    );
    // A user deleted and re-created with the same name has a new unique id: no access.
    let reborn = super::super::Principal::user(ACCOUNT, "alice", "AIDANEWALICE");
    let outcome = key(&policy, &[], &kms_request(reborn, "kms:Decrypt"));
    assert_eq!(outcome, Authorization::NoResourcePolicyAllows);
    // An identity policy alone cannot open a key whose policy does not delegate.
    let iam = [identity_policy(ALLOW_KMS_DECRYPT)];
    let outcome = key(&policy, &iam, &kms_request(bob(), "kms:Decrypt"));
    assert_eq!(outcome, Authorization::NoResourcePolicyAllows);
    // A grant does.
    let context = kms_request(bob(), "kms:Decrypt");
    let granted = authorize(ResourcePolicy::Key(&policy), &[], GrantDecision::Allow, &context);
    assert_eq!(granted, Authorization::Allowed);
}

#[test]
fn explicit_deny_on_encryption_context_for_a_bucket_prefix() {
    let text = default_key_policy(ACCOUNT).replace(
        "  } ]\n}",
        r#"  }, {
    "Sid" : "No secret bucket",
    "Effect" : "Deny",
    "Principal" : "*",
    "Action" : "kms:Decrypt",
    "Resource" : "*",
    "Condition" : { "StringLike" : { "KMS:EncryptionContext:AWS:S3:ARN" : "arn:aws:s3:::secret-bucket/*" } }
  } ]
}"#,
    );
    let policy = resource_policy(&text);
    let iam = [identity_policy(ALLOW_KMS_DECRYPT)];
    let request = |object: &str| {
        kms_request(alice(), "kms:Decrypt")
            .with_via_service("s3.us-east-1.amazonaws.com")
            .with_encryption_context([("aws:s3:arn", object)])
    };
    let denied = key(&policy, &iam, &request("arn:aws:s3:::secret-bucket/report.pdf"));
    assert_eq!(denied, Authorization::ExplicitDenyInResourcePolicy);
    assert_eq!(
        denied.message(&alice().arn, "kms:Decrypt", KEY_ARN).as_deref(),
        Some(
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Decrypt \
             on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
             with an explicit deny in a resource-based policy"
        )
    );
    let allowed = key(&policy, &iam, &request("arn:aws:s3:::public-bucket/report.pdf"));
    assert_eq!(allowed, Authorization::Allowed);
}

#[test]
fn aws_managed_s3_key_requires_via_service() {
    let policy = resource_policy(
        r#"{"Version":"2012-10-17","Id":"auto-s3-2","Statement":[
 {"Sid":"Allow access through S3 for all principals in the account that are authorized to use S3",
  "Effect":"Allow","Principal":{"AWS":"*"},
  "Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],
  "Resource":"*",
  "Condition":{"StringEquals":{"kms:CallerAccount":"111122223333","kms:ViaService":"s3.us-east-1.amazonaws.com"}}},
 {"Sid":"Allow direct access to key metadata to the account","Effect":"Allow",
  "Principal":{"AWS":"arn:aws:iam::111122223333:root"},
  "Action":["kms:Describe*","kms:Get*","kms:List*"],"Resource":"*"}]}"#,
    );
    let via_s3 = kms_request(alice(), "kms:GenerateDataKey").with_via_service("s3.us-east-1.amazonaws.com");
    assert_eq!(key(&policy, &[], &via_s3), Authorization::Allowed);
    let other_region = kms_request(alice(), "kms:Decrypt").with_via_service("s3.eu-west-1.amazonaws.com");
    assert_eq!(key(&policy, &[], &other_region), Authorization::NoResourcePolicyAllows);
    let direct = kms_request(alice(), "kms:Decrypt");
    assert_eq!(key(&policy, &[], &direct), Authorization::NoResourcePolicyAllows);
    let stranger = super::super::Principal::user("444455556666", "eve", "AIDAEVE");
    let cross = kms_request(stranger, "kms:Decrypt").with_via_service("s3.us-east-1.amazonaws.com");
    assert_eq!(key(&policy, &[], &cross), Authorization::NoResourcePolicyAllows);
    // Metadata is delegated to the account: IAM decides.
    let describe = kms_request(alice(), "kms:GetKeyRotationStatus");
    assert_eq!(key(&policy, &[], &describe), Authorization::NoIdentityPolicyAllows);
}

#[test]
fn for_all_values_on_encryption_context_keys() {
    let policy = resource_policy(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
        "Action":"kms:GenerateDataKey","Resource":"*",
        "Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["aws:s3:arn","Project"]}}}}"#,
    );
    let with = |pairs: &[(&str, &str)]| {
        let context = kms_request(alice(), "kms:GenerateDataKey");
        key(&policy, &[], &context.with_encryption_context(pairs.iter().copied()))
    };
    assert_eq!(with(&[("aws:s3:arn", "arn:aws:s3:::b/k")]), Authorization::Allowed);
    assert_eq!(with(&[("aws:s3:arn", "x"), ("Project", "y")]), Authorization::Allowed);
    assert_eq!(
        with(&[("aws:s3:arn", "x"), ("Other", "y")]),
        Authorization::NoResourcePolicyAllows
    );
    // Case-sensitive values: "project" is not "Project".
    assert_eq!(with(&[("project", "y")]), Authorization::NoResourcePolicyAllows);
    // IAM's documented pitfall: no context at all satisfies ForAllValues vacuously.
    assert_eq!(with(&[]), Authorization::Allowed);
}

#[test]
fn null_on_encryption_context_keys_requires_a_context() {
    let policy = resource_policy(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
        "Action":"kms:Encrypt","Resource":"*","Condition":{"Null":{"kms:EncryptionContextKeys":false}}}}"#,
    );
    let request = kms_request(alice(), "kms:Encrypt");
    assert_eq!(key(&policy, &[], &request), Authorization::NoResourcePolicyAllows);
    let with_context = request.with_encryption_context([("Project", "x")]);
    assert_eq!(key(&policy, &[], &with_context), Authorization::Allowed);
}

const DENY_UNENCRYPTED_UPLOADS: &str = r#"{
  "Version": "2012-10-17",
  "Id": "PutObjectPolicy",
  "Statement": [
    {"Sid": "DenyIncorrectEncryptionHeader", "Effect": "Deny", "Principal": "*",
     "Action": "s3:PutObject", "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
     "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
    {"Sid": "DenyUnEncryptedObjectUploads", "Effect": "Deny", "Principal": "*",
     "Action": "s3:PutObject", "Resource": "arn:aws:s3:::DOC-EXAMPLE-BUCKET/*",
     "Condition": {"Null": {"s3:x-amz-server-side-encryption": "true"}}}
  ]
}"#;

#[test]
fn bucket_policy_denies_unencrypted_uploads() {
    let bucket = resource_policy(DENY_UNENCRYPTED_UPLOADS);
    let iam = [identity_policy(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    )];
    let put = |sse: Option<&str>| {
        let object = "arn:aws:s3:::DOC-EXAMPLE-BUCKET/photos/cat.jpg";
        let context = RequestContext::new(alice(), "s3:PutObject", object);
        let context = match sse {
            Some(value) => context.with_key("s3:x-amz-server-side-encryption", vec![value.to_owned()]),
            None => context,
        };
        authorize(
            ResourcePolicy::Bucket(&bucket),
            &iam,
            GrantDecision::NotApplicable,
            &context,
        )
    };
    assert_eq!(put(Some("aws:kms")), Authorization::Allowed);
    assert_eq!(put(Some("AES256")), Authorization::ExplicitDenyInResourcePolicy);
    assert_eq!(put(None), Authorization::ExplicitDenyInResourcePolicy);
    let get = RequestContext::new(
        alice(),
        "s3:GetObject",
        "arn:aws:s3:::DOC-EXAMPLE-BUCKET/photos/cat.jpg",
    );
    let outcome = authorize(
        ResourcePolicy::Bucket(&bucket),
        &iam,
        GrantDecision::NotApplicable,
        &get,
    );
    assert_eq!(outcome, Authorization::Allowed);
    // Same account, bucket policy silent, no identity policy: denied by IAM.
    let outcome = authorize(ResourcePolicy::Bucket(&bucket), &[], GrantDecision::NotApplicable, &get);
    assert_eq!(outcome, Authorization::NoIdentityPolicyAllows);
}

#[test]
fn secure_transport_deny() {
    let iam = [identity_policy(
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},
        {"Effect":"Deny","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"],
         "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    )];
    let get = |secure: bool| {
        let context = RequestContext::new(alice(), "s3:GetObject", "arn:aws:s3:::b/k");
        authorize(
            ResourcePolicy::None,
            &iam,
            GrantDecision::NotApplicable,
            &context.with_secure_transport(secure),
        )
    };
    assert_eq!(get(true), Authorization::Allowed);
    let denied = get(false);
    assert_eq!(denied, Authorization::ExplicitDenyInIdentityPolicy);
    assert_eq!(
        denied
            .message(&alice().arn, "s3:GetObject", "arn:aws:s3:::b/k")
            .as_deref(),
        Some(
            "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:GetObject \
             on resource: arn:aws:s3:::b/k with an explicit deny in an identity-based policy"
        )
    );
}

#[test]
fn lockout_check_counts_identity_policies_under_delegation() {
    let context = kms_request(alice(), "kms:CreateKey");
    let default = resource_policy(&default_key_policy(ACCOUNT));
    let admin = [identity_policy(
        r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
    )];
    assert_eq!(lockout_check(&default, &admin, &context), LockoutCheck::Passes);
    assert_eq!(lockout_check(&default, &[], &context), LockoutCheck::WouldLockOut);
    let users_only = resource_policy(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"AIDAALICEEXAMPLE"},
        "Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}"#,
    );
    assert_eq!(lockout_check(&users_only, &admin, &context), LockoutCheck::WouldLockOut);
    let owner = resource_policy(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
        "Action":"kms:Put*","Resource":"*"}}"#,
    );
    assert_eq!(lockout_check(&owner, &[], &context), LockoutCheck::Passes);
    assert_eq!(
        LockoutCheck::MESSAGE,
        "The new key policy will not allow you to update the key policy in the future."
    );
}

#[test]
fn account_root_deny_applies_to_every_user_of_the_account() {
    let policy = resource_policy(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
    );
    let outcome = key(&policy, &[], &kms_request(bob(), "kms:Decrypt"));
    assert_eq!(outcome, Authorization::ExplicitDenyInResourcePolicy);
    assert_eq!(
        key(&policy, &[], &kms_request(bob(), "kms:Encrypt")),
        Authorization::Allowed
    );
}
