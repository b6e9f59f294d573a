//! Property tests: deny by default, explicit-deny dominance, the wildcard matcher against a
//! reference, and a parser that never panics.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

use super::super::{
    Authorization, GrantDecision, PolicyDocument, PolicyKind, RequestContext, ResourcePolicy, authorize, evaluate,
    map_principals, wildcard_match,
};
use super::{KEY_ARN, alice, kms_request};

const ACTION_PATTERNS: &[&str] = &[
    "kms:Decrypt",
    "kms:*",
    "kms:Gen*",
    "kms:Encrypt",
    "*",
    "s3:Get*",
    "KMS:decrypt",
    "kms:?ecrypt",
];
const REQUEST_ACTIONS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:PutKeyPolicy",
    "s3:GetObject",
];

fn principal() -> impl Strategy<Value = Value> {
    select(vec![
        json!("*"),
        json!({"AWS": "*"}),
        json!({"AWS": "arn:aws:iam::111122223333:root"}),
        json!({"AWS": "111122223333"}),
        json!({"AWS": "AIDAALICEEXAMPLE"}),
        json!({"AWS": ["arn:aws:iam::111122223333:user/alice", "AIDABOB"]}),
        json!({"AWS": "arn:aws:iam::444455556666:root"}),
        json!({"Service": "s3.amazonaws.com"}),
    ])
}

fn condition() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(select(vec![
        json!({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}),
        json!({"Bool": {"aws:SecureTransport": false}}),
        json!({"Null": {"kms:EncryptionContextKeys": "false"}}),
        json!({"StringLike": {"kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::b/*"}}),
        json!({"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["aws:s3:arn"]}}),
        json!({"StringNotEquals": {"kms:CallerAccount": "111122223333"}}),
    ]))
}

/// A statement; `with_principal` for resource policies.
fn statement(effects: &'static [&'static str], with_principal: bool) -> impl Strategy<Value = Value> {
    (
        select(effects),
        principal(),
        any::<bool>(),
        proptest::collection::vec(select(ACTION_PATTERNS), 1..3),
        select(vec!["*", KEY_ARN, "arn:aws:kms:*", "arn:aws:s3:::b/*"]),
        condition(),
    )
        .prop_map(move |(effect, principal, not_action, actions, resource, condition)| {
            let mut statement = json!({"Effect": effect, "Resource": resource});
            statement[if not_action { "NotAction" } else { "Action" }] = json!(actions);
            if with_principal {
                statement["Principal"] = principal;
            }
            if let Some(condition) = condition {
                statement["Condition"] = condition;
            }
            statement
        })
}

fn document(effects: &'static [&'static str], kind: PolicyKind) -> impl Strategy<Value = (String, PolicyDocument)> {
    proptest::collection::vec(statement(effects, kind == PolicyKind::Resource), 1..4).prop_map(move |statements| {
        let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        let document = PolicyDocument::parse(&text, kind).expect("generated policies parse");
        (text, document)
    })
}

fn request() -> impl Strategy<Value = RequestContext> {
    (select(REQUEST_ACTIONS), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(action, via_s3, secure, with_context)| {
            let mut context = kms_request(alice(), action).with_secure_transport(secure);
            if via_s3 {
                context = context.with_via_service("s3.us-east-1.amazonaws.com");
            }
            if with_context {
                context = context.with_encryption_context([("aws:s3:arn", "arn:aws:s3:::b/k")]);
            }
            context
        },
    )
}

#[derive(Debug, Clone, Copy)]
enum Placement {
    Key,
    Bucket,
    Absent,
}

fn combine(
    placement: Placement,
    resource: &PolicyDocument,
    identity: &[PolicyDocument],
    grants: GrantDecision,
    context: &RequestContext,
) -> Authorization {
    let resource = match placement {
        Placement::Key => ResourcePolicy::Key(resource),
        Placement::Bucket => ResourcePolicy::Bucket(resource),
        Placement::Absent => ResourcePolicy::None,
    };
    authorize(resource, identity, grants, context)
}

fn placement() -> impl Strategy<Value = Placement> {
    select(vec![Placement::Key, Placement::Bucket, Placement::Absent])
}

/// Whether some `Allow` statement's action element admits the request's action (reference).
fn some_allow_names_the_action(documents: &[&PolicyDocument], action: &str) -> bool {
    let admits = |patterns: &[String]| {
        patterns
            .iter()
            .any(|pattern| reference_match(&pattern.to_lowercase(), &action.to_lowercase()))
    };
    documents
        .iter()
        .flat_map(|document| &document.statements)
        .any(|statement| {
            statement.effect == super::super::Effect::Allow
                && match &statement.action {
                    Some(super::super::Scope::Only(patterns)) => admits(patterns),
                    Some(super::super::Scope::AllExcept(patterns)) => !admits(patterns),
                    None => false,
                }
        })
}

/// The obvious recursive matcher the fast one must agree with.
fn reference_match(pattern: &str, value: &str) -> bool {
    fn go(pattern: &[char], value: &[char]) -> bool {
        match pattern.split_first() {
            None => value.is_empty(),
            Some(('*', rest)) => go(rest, value) || (!value.is_empty() && go(pattern, &value[1..])),
            Some(('?', rest)) => !value.is_empty() && go(rest, &value[1..]),
            Some((c, rest)) => value.first() == Some(c) && go(rest, &value[1..]),
        }
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    go(&pattern, &value)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[A-Za-z:*?/ ]{0,12}".prop_map(Value::String),
        select(vec!["Allow", "Deny", "*", "kms:*", "2012-10-17", "StringEquals", "AWS"]).prop_map(|s| json!(s)),
    ];
    let names = select(vec![
        "Version",
        "Statement",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
        "AWS",
        "Service",
        "StringLike",
        "Null",
        "ForAllValues:StringEquals",
        "kms:EncryptionContext:x",
        "Sid",
        "Id",
        "Bool",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(names.clone(), inner, 0..5)
                .prop_map(|map| { Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()) }),
        ]
    })
}

proptest! {
    #[test]
    fn deny_by_default(
        placement in placement(),
        (_, resource) in document(&["Allow", "Deny"], PolicyKind::Resource),
        identity in proptest::collection::vec(document(&["Allow", "Deny"], PolicyKind::Identity), 0..3),
        (_, denies) in document(&["Deny"], PolicyKind::Resource),
        context in request(),
    ) {
        let identity: Vec<PolicyDocument> = identity.into_iter().map(|(_, document)| document).collect();
        let outcome = combine(placement, &resource, &identity, GrantDecision::NotApplicable, &context);
        let mut sources: Vec<&PolicyDocument> = identity.iter().collect();
        if !matches!(placement, Placement::Absent) {
            sources.push(&resource);
        }
        if !some_allow_names_the_action(&sources, context.action()) {
            prop_assert_ne!(outcome, Authorization::Allowed);
        }
        prop_assert_ne!(evaluate(&denies, &context), super::super::Decision::Allow);
        let only_denies = combine(placement, &denies, &[], GrantDecision::NotApplicable, &context);
        prop_assert_ne!(only_denies, Authorization::Allowed);
    }

    #[test]
    fn explicit_deny_dominates(
        placement in placement(),
        (_, mut resource) in document(&["Allow", "Deny"], PolicyKind::Resource),
        identity in proptest::collection::vec(document(&["Allow", "Deny"], PolicyKind::Identity), 0..3),
        grant_allows in any::<bool>(),
        deny_in_identity in any::<bool>(),
        context in request(),
    ) {
        let mut identity: Vec<PolicyDocument> = identity.into_iter().map(|(_, document)| document).collect();
        let grants = if grant_allows { GrantDecision::Allow } else { GrantDecision::NotApplicable };
        let deny_in_identity = deny_in_identity || matches!(placement, Placement::Absent);
        if deny_in_identity {
            let text = json!({"Statement": {"Effect": "Deny", "Action": context.action(), "Resource": "*"}});
            identity.push(PolicyDocument::parse(&text.to_string(), PolicyKind::Identity).expect("parses"));
        } else {
            let text = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}"#;
            let deny = PolicyDocument::parse(text, PolicyKind::Resource).expect("parses");
            resource.statements.extend(deny.statements);
        }
        let outcome = combine(placement, &resource, &identity, grants, &context);
        if deny_in_identity {
            prop_assert!(matches!(outcome, Authorization::ExplicitDenyInIdentityPolicy
                | Authorization::ExplicitDenyInResourcePolicy), "{outcome:?}");
        } else {
            prop_assert_eq!(outcome, Authorization::ExplicitDenyInResourcePolicy);
        }
    }

    #[test]
    fn wildcard_agrees_with_reference(pattern in "[ab*?]{0,8}", value in "[ab]{0,10}") {
        prop_assert_eq!(wildcard_match(&pattern, &value, false), reference_match(&pattern, &value));
    }

    #[test]
    fn case_insensitive_wildcard_agrees_with_reference(pattern in "[aAbB*?:]{0,8}", value in "[aAbB:]{0,10}") {
        let expected = reference_match(&pattern.to_lowercase(), &value.to_lowercase());
        prop_assert_eq!(wildcard_match(&pattern, &value, true), expected);
    }

    #[test]
    fn parser_never_panics_on_strings(text in "\\PC{0,200}") {
        for kind in [PolicyKind::Resource, PolicyKind::Identity] {
            if let Ok(document) = PolicyDocument::parse(&text, kind) {
                let _ = evaluate(&document, &kms_request(alice(), "kms:Decrypt"));
            }
        }
        let _ = map_principals(&text, |principal| Some(principal.to_owned()));
    }

    #[test]
    fn parser_never_panics_on_json(value in json_value(), wrap in any::<bool>()) {
        let value = if wrap { json!({"Version": "2012-10-17", "Statement": value}) } else { value };
        let text = value.to_string();
        for kind in [PolicyKind::Resource, PolicyKind::Identity] {
            if let Ok(document) = PolicyDocument::parse(&text, kind) {
                let _ = evaluate(&document, &kms_request(alice(), "kms:Decrypt"));
            }
        }
        let _ = map_principals(&text, |principal| Some(principal.to_owned()));
    }

    #[test]
    fn identity_principal_mapping_round_trips((text, _) in document(&["Allow", "Deny"], PolicyKind::Resource)) {
        prop_assert_eq!(map_principals(&text, |principal| Some(principal.to_owned())), Ok(text));
    }
}
