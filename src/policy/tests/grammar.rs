//! The grammar: accepted forms, refusals and their messages.

use super::super::{
    Decision, MAX_POLICY_CHARS, PolicyDocument, PolicyError, PolicyKind, PrincipalSpec, RequestContext, Scope,
    SetQualifier, check_size, evaluate,
};
use super::{alice, identity_policy, kms_request, resource_policy};

fn refusal(text: &str, kind: PolicyKind) -> PolicyError {
    match PolicyDocument::parse(text, kind) {
        Ok(document) => panic!("should be refused: {text}\n{document:?}"),
        Err(error) => error,
    }
}

#[test]
fn accepts_aws_forms() {
    let document = resource_policy(
        r#"{"Version":"2012-10-17","Id":"x","Statement":{"Sid":"with spaces ok","Effect":"Deny",
        "NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","AIDAX"],"Service":"s3.amazonaws.com"},
        "NotAction":"kms:Describe*","NotResource":["arn:aws:kms:*"],
        "Condition":{"NumericLessThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":30},
                     "Bool":{"kms:GrantIsForAWSResource":true},
                     "ForAnyValue:StringLikeIfExists":{"kms:GrantOperations":["Decrypt","Encrypt*"]}}}}"#,
    );
    let statement = &document.statements[0];
    assert_eq!(
        statement.action,
        Some(Scope::AllExcept(vec!["kms:Describe*".to_owned()]))
    );
    let Some(PrincipalSpec::AllExcept(principals)) = &statement.principal else {
        panic!("NotPrincipal expected");
    };
    assert_eq!(principals.aws.len(), 2);
    assert_eq!(principals.service, ["s3.amazonaws.com"]);
    let values: Vec<&str> = statement.conditions.iter().map(|c| c.values[0].as_str()).collect();
    assert!(values.contains(&"30") && values.contains(&"true"));
    let any = statement.conditions.iter().find(|c| c.key == "kms:GrantOperations");
    let any = any.map(|condition| (condition.operator.qualifier, condition.operator.if_exists));
    assert_eq!(any, Some((SetQualifier::ForAnyValue, true)));
    let star = resource_policy(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#);
    let Some(PrincipalSpec::Only(everyone)) = &star.statements[0].principal else {
        panic!("Principal expected");
    };
    assert_eq!(everyone.aws, ["*"]);
}

#[test]
fn refusals_say_what_is_wrong() {
    use PolicyKind::{Identity, Resource};
    let cases: &[(&str, PolicyKind, &str)] = &[
        ("not json", Resource, "not valid JSON"),
        ("[]", Resource, "must be a JSON object"),
        (r#"{"Version":"2012-10-17"}"#, Resource, "at least one Statement"),
        (r#"{"Statement":[]}"#, Resource, "at least one Statement"),
        (r#"{"Version":"2020-01-01","Statement":[]}"#, Resource, "version"),
        (
            r#"{"Statement":{"Effect":"Maybe","Principal":"*"}}"#,
            Resource,
            "\"Maybe\" is invalid",
        ),
        (r#"{"Statement":{"Principal":"*"}}"#, Resource, "must have an Effect"),
        (
            r#"{"Statement":{"Effect":"Allow"}}"#,
            Resource,
            "Principal or NotPrincipal",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*"}}"#,
            Identity,
            "cannot contain a Principal",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"me"}}"#,
            Resource,
            "invalid principals",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"Group":"g"}}}"#,
            Resource,
            "invalid principals",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"a","NotAction":"b"}}"#,
            Identity,
            "both Action and NotAction",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":5}}"#,
            Identity,
            "Action must be a string",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Actions":"x"}}"#,
            Identity,
            "unsupported element: Actions",
        ),
        (
            r#"{"Statement":{"effect":"Allow"}}"#,
            Identity,
            "unsupported element: effect",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Condition":{"StringEqualz":{"k":"v"}}}}"#,
            Identity,
            "unsupported condition operator: StringEqualz",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Condition":{"NullIfExists":{"k":"true"}}}}"#,
            Identity,
            "unsupported condition operator",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Condition":{"StringEquals":{"k":{"a":1}}}}}"#,
            Identity,
            "strings, booleans or numbers",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Condition":{"StringEquals":"k"}}}"#,
            Identity,
            "Condition.StringEquals must be a JSON object",
        ),
    ];
    for (text, kind, expected) in cases {
        let message = refusal(text, *kind).to_string();
        assert!(message.contains(expected), "{text}: {message:?} lacks {expected:?}");
    }
}

#[test]
fn for_all_values_on_encryption_context_is_overly_permissive() {
    let text = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",
        "Condition":{"ForAllValues:StringEquals":{"kms:encryptioncontext:Dept":"x"}}}}"#;
    assert_eq!(
        refusal(text, PolicyKind::Resource).to_string(),
        "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a \
         single-valued condition key matches requests without the specified encryption context or \
         with an unspecified encryption context. To fix, remove ForAllValues."
    );
    // On the multi-valued keys list it is the documented idiom.
    let keys = text.replace("kms:encryptioncontext:Dept", "kms:EncryptionContextKeys");
    assert!(PolicyDocument::parse(&keys, PolicyKind::Resource).is_ok());
}

#[test]
fn characters_and_size() {
    let latin1 =
        "{\"Statement\":{\"Sid\":\"Cl\u{e9} \u{fc}\",\t\r\n\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}";
    assert!(PolicyDocument::parse(latin1, PolicyKind::Identity).is_ok());
    let emoji = r#"{"Statement":{"Sid":"ok 🙂","Effect":"Allow","Action":"*","Resource":"*"}}"#;
    let error = refusal(emoji, PolicyKind::Identity);
    assert_eq!(
        error,
        PolicyError::InvalidCharacter {
            code: 0x1F642,
            offset: 24
        }
    );
    let nul = "{\"Statement\":\u{0}}";
    assert!(matches!(
        refusal(nul, PolicyKind::Identity),
        PolicyError::InvalidCharacter { .. }
    ));
    assert_eq!(check_size(&"x".repeat(MAX_POLICY_CHARS)), Ok(()));
    // Latin-1 characters count once each, though UTF-8 spends two bytes on them.
    assert_eq!(check_size(&"é".repeat(MAX_POLICY_CHARS)), Ok(()));
    let too_large = check_size(&"x".repeat(MAX_POLICY_CHARS + 1));
    assert_eq!(
        too_large,
        Err(PolicyError::TooLarge {
            length: 32_769,
            limit: 32_768
        })
    );
}

#[test]
fn statements_without_action_or_resource_are_ineffective() {
    let request = kms_request(alice(), "kms:Decrypt");
    let no_resource = identity_policy(r#"{"Statement":{"Effect":"Allow","Action":"*"}}"#);
    assert_eq!(evaluate(&no_resource, &request), Decision::NotApplicable);
    let no_action = identity_policy(r#"{"Statement":{"Effect":"Deny","Resource":"*"}}"#);
    assert_eq!(evaluate(&no_action, &request), Decision::NotApplicable);
}

#[test]
fn not_action_not_resource_not_principal() {
    let request = kms_request(alice(), "kms:Decrypt");
    let not_action = identity_policy(r#"{"Statement":{"Effect":"Allow","NotAction":"kms:Encrypt","Resource":"*"}}"#);
    assert_eq!(evaluate(&not_action, &request), Decision::Allow);
    let not_resource =
        identity_policy(r#"{"Statement":{"Effect":"Allow","Action":"*","NotResource":"arn:aws:kms:*"}}"#);
    assert_eq!(evaluate(&not_resource, &request), Decision::NotApplicable);
    let not_bob = resource_policy(
        r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/bob"},
        "Action":"*","Resource":"*"}}"#,
    );
    assert_eq!(evaluate(&not_bob, &request), Decision::ExplicitDeny);
    let bob = RequestContext::new(super::bob(), "kms:Decrypt", super::KEY_ARN);
    assert_eq!(evaluate(&not_bob, &bob), Decision::NotApplicable);
    // Naming the account in NotPrincipal excludes the account principal, not its users.
    let not_account = resource_policy(
        r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},
        "Action":"*","Resource":"*"}}"#,
    );
    assert_eq!(evaluate(&not_account, &request), Decision::ExplicitDeny);
}

#[test]
fn service_principals_match_only_marked_requests() {
    let policy = resource_policy(
        r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"s3.amazonaws.com"},"Action":"kms:*","Resource":"*"}}"#,
    );
    let plain = kms_request(alice(), "kms:Decrypt");
    assert_eq!(evaluate(&policy, &plain), Decision::NotApplicable);
    let by_service = plain.with_service_principal("s3.amazonaws.com");
    assert_eq!(evaluate(&policy, &by_service), Decision::Allow);
}
