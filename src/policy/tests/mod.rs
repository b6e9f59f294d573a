//! Tests of the policy module as a whole: the spec's known cases, the grammar, condition
//! semantics, and property tests. Unit tests of single helpers live beside them.

mod conditions;
mod grammar;
mod known_cases;
mod properties;

use super::{PolicyDocument, PolicyKind, Principal, RequestContext};

pub(super) const ACCOUNT: &str = "111122223333";
pub(super) const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

pub(super) fn alice() -> Principal {
    Principal::user(ACCOUNT, "alice", "AIDAALICEEXAMPLE")
}

pub(super) fn bob() -> Principal {
    Principal::user(ACCOUNT, "bob", "AIDABOBEXAMPLE")
}

pub(super) fn resource_policy(text: &str) -> PolicyDocument {
    match PolicyDocument::parse(text, PolicyKind::Resource) {
        Ok(document) => document,
        Err(error) => panic!("resource policy should parse: {error}\n{text}"),
    }
}

pub(super) fn identity_policy(text: &str) -> PolicyDocument {
    match PolicyDocument::parse(text, PolicyKind::Identity) {
        Ok(document) => document,
        Err(error) => panic!("identity policy should parse: {error}\n{text}"),
    }
}

pub(super) fn kms_request(principal: Principal, action: &str) -> RequestContext {
    RequestContext::new(principal, action, KEY_ARN)
}
