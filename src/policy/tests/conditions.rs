//! Condition operators against present, absent and multi-valued keys (IAM's semantics).

use super::super::{Decision, RequestContext, evaluate};
use super::{alice, identity_policy, kms_request};

/// Whether `{"<operator>": {"<key>": <values>}}` holds for `context`.
fn holds(operator: &str, key: &str, values: &str, context: &RequestContext) -> bool {
    let text = format!(
        r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{{"{operator}":{{"{key}":{values}}}}}}}}}"#
    );
    evaluate(&identity_policy(&text), context) == Decision::Allow
}

fn with(key: &str, values: &[&str]) -> RequestContext {
    let values = values.iter().map(|value| (*value).to_owned()).collect();
    kms_request(alice(), "kms:Decrypt").with_key(key, values)
}

#[test]
fn missing_key() {
    let absent = kms_request(alice(), "kms:Decrypt");
    let cases = [
        ("StringEquals", false),
        ("StringNotEquals", true),
        ("StringEqualsIgnoreCase", false),
        ("StringNotEqualsIgnoreCase", true),
        ("StringLike", false),
        ("StringNotLike", true),
        ("StringEqualsIfExists", true),
        ("StringNotLikeIfExists", true),
        ("ArnLike", false),
        ("ArnNotLike", true),
        ("ArnNotEquals", true),
        ("NumericEquals", false),
        ("NumericNotEquals", true),
        ("NumericLessThanIfExists", true),
        ("DateLessThan", false),
        ("DateNotEquals", true),
        ("Bool", false),
        ("BoolIfExists", true),
        ("IpAddress", false),
        ("NotIpAddress", true),
        ("ForAnyValue:StringEquals", false),
        ("ForAnyValue:StringNotEquals", false),
        ("ForAnyValue:StringEqualsIfExists", true),
        ("ForAllValues:StringEquals", true),
        ("ForAllValues:StringNotLike", true),
    ];
    for (operator, expected) in cases {
        assert_eq!(holds(operator, "x:Missing", r#""v""#, &absent), expected, "{operator}");
    }
    assert!(holds("Null", "x:Missing", "true", &absent));
    assert!(!holds("Null", "x:Missing", "false", &absent));
    let present = with("x:Present", &["v"]);
    assert!(!holds("Null", "x:present", "true", &present));
    assert!(holds("Null", "X:PRESENT", r#""false""#, &present));
}

#[test]
fn strings() {
    let context = with("kms:ViaService", &["s3.us-east-1.amazonaws.com"]);
    let key = "kms:viaservice";
    assert!(holds(
        "StringEquals",
        key,
        r#"["ec2.us-east-1.amazonaws.com","s3.us-east-1.amazonaws.com"]"#,
        &context
    ));
    assert!(!holds("StringEquals", key, r#""S3.us-east-1.amazonaws.com""#, &context));
    assert!(holds(
        "StringEqualsIgnoreCase",
        key,
        r#""S3.US-EAST-1.amazonaws.com""#,
        &context
    ));
    assert!(!holds(
        "StringNotEqualsIgnoreCase",
        key,
        r#""S3.US-EAST-1.amazonaws.com""#,
        &context
    ));
    assert!(holds(
        "StringNotEquals",
        key,
        r#""s3.eu-west-1.amazonaws.com""#,
        &context
    ));
    assert!(!holds(
        "StringNotEquals",
        key,
        r#"["x","s3.us-east-1.amazonaws.com"]"#,
        &context
    ));
    assert!(holds("StringLike", key, r#""s3.*.amazonaws.com""#, &context));
    assert!(holds("StringLike", key, r#""s3.us-east-?.amazonaws.com""#, &context));
    assert!(!holds("StringNotLike", key, r#""s3.*""#, &context));
    assert!(!holds("StringEquals", key, r#"[]"#, &context));
}

#[test]
fn set_qualifiers() {
    let context = with("kms:GrantOperations", &["Decrypt", "Encrypt"]);
    let key = "kms:GrantOperations";
    assert!(holds(
        "ForAllValues:StringEquals",
        key,
        r#"["Decrypt","Encrypt","ReEncryptFrom"]"#,
        &context
    ));
    assert!(!holds("ForAllValues:StringEquals", key, r#"["Decrypt"]"#, &context));
    assert!(holds("ForAnyValue:StringEquals", key, r#"["Decrypt"]"#, &context));
    assert!(!holds("ForAnyValue:StringEquals", key, r#"["Sign"]"#, &context));
    // ForAnyValue:StringNotEquals: some value outside the list.
    assert!(holds("ForAnyValue:StringNotEquals", key, r#"["Decrypt"]"#, &context));
    assert!(!holds(
        "ForAnyValue:StringNotEquals",
        key,
        r#"["Decrypt","Encrypt"]"#,
        &context
    ));
    // ForAllValues:StringNotEquals: no value in the list.
    assert!(holds("ForAllValues:StringNotEquals", key, r#"["Sign"]"#, &context));
    assert!(!holds("ForAllValues:StringNotEquals", key, r#"["Encrypt"]"#, &context));
    assert!(holds("ForAnyValue:StringLike", key, r#""Enc*""#, &context));
    assert!(!holds("ForAllValues:StringLike", key, r#""Enc*""#, &context));
}

#[test]
fn numbers_dates_bools_arns_addresses() {
    let days = with("kms:ScheduleKeyDeletionPendingWindowInDays", &["7"]);
    let key = "kms:ScheduleKeyDeletionPendingWindowInDays";
    assert!(holds("NumericGreaterThanEquals", key, "7", &days));
    assert!(!holds("NumericGreaterThan", key, "7", &days));
    assert!(holds("NumericLessThan", key, r#""30""#, &days));
    assert!(holds("NumericNotEquals", key, "30", &days));
    assert!(!holds("NumericEquals", key, r#""seven""#, &days));

    let now = with("aws:CurrentTime", &["2024-06-01T12:00:00Z"]);
    assert!(holds(
        "DateLessThan",
        "aws:CurrentTime",
        r#""2025-01-01T00:00:00Z""#,
        &now
    ));
    assert!(holds("DateGreaterThan", "aws:CurrentTime", r#""2024-01-01""#, &now));
    assert!(holds("DateGreaterThanEquals", "aws:CurrentTime", "1717243200", &now));
    assert!(holds("DateEquals", "aws:CurrentTime", "1717243200", &now));
    assert!(!holds(
        "DateLessThanEquals",
        "aws:CurrentTime",
        r#""2024-06-01T11:59:59Z""#,
        &now
    ));

    let secure = kms_request(alice(), "kms:Decrypt").with_secure_transport(true);
    assert!(holds("Bool", "aws:SecureTransport", "true", &secure));
    assert!(holds("Bool", "aws:securetransport", r#""True""#, &secure));
    assert!(!holds("Bool", "aws:SecureTransport", "false", &secure));

    let arn = kms_request(alice(), "kms:Decrypt");
    assert!(holds(
        "ArnLike",
        "aws:PrincipalArn",
        r#""arn:aws:iam::*:user/al*""#,
        &arn
    ));
    assert!(holds(
        "ArnEquals",
        "aws:PrincipalArn",
        r#""arn:aws:iam::111122223333:user/alice""#,
        &arn
    ));
    assert!(holds(
        "ArnNotLike",
        "aws:PrincipalArn",
        r#""arn:aws:iam::*:role/*""#,
        &arn
    ));
    assert!(!holds(
        "ArnNotEquals",
        "aws:PrincipalArn",
        r#""arn:aws:iam::111122223333:user/alice""#,
        &arn
    ));

    let address = with("aws:SourceIp", &["192.0.2.10"]);
    assert!(holds(
        "IpAddress",
        "aws:SourceIp",
        r#"["203.0.113.0/24","192.0.2.0/24"]"#,
        &address
    ));
    assert!(holds("NotIpAddress", "aws:SourceIp", r#""203.0.113.0/24""#, &address));
}

#[test]
fn keys_and_operators_are_anded() {
    let context = kms_request(alice(), "kms:Decrypt").with_via_service("s3.us-east-1.amazonaws.com");
    let both = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","Condition":{
        "StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com","kms:CallerAccount":"111122223333"},
        "Bool":{"aws:SecureTransport":"true"}}}}"#;
    assert_eq!(evaluate(&identity_policy(both), &context), Decision::NotApplicable);
    let secure = context.with_secure_transport(true);
    assert_eq!(evaluate(&identity_policy(both), &secure), Decision::Allow);
}
