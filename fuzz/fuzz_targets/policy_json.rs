//! Fuzzes the policy parser and, for documents that parse, evaluation, authorization, the
//! lockout check and the principal rewriter against a fixed request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::policy::{
    GrantDecision, PolicyDocument, PolicyKind, Principal, RequestContext, ResourcePolicy,
    authorize, check_size, evaluate, lockout_check, map_principals,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = check_size(text);
    let alice = Principal::user("111122223333", "alice", "AIDAALICEEXAMPLE");
    let key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let context = RequestContext::new(alice, "kms:Decrypt", key_arn)
        .with_via_service("s3.us-east-1.amazonaws.com")
        .with_encryption_context([("aws:s3:arn", "arn:aws:s3:::bucket/key")])
        .with_secure_transport(true);
    if let Ok(document) = PolicyDocument::parse(text, PolicyKind::Resource) {
        let _ = evaluate(&document, &context);
        let outcome = authorize(
            ResourcePolicy::Key(&document),
            &[],
            GrantDecision::NotApplicable,
            &context,
        );
        let _ = outcome.message(&context.principal().arn, context.action(), key_arn);
        let _ = lockout_check(&document, &[], &context);
        // Rewriting principals to themselves must keep the policy's meaning.
        let same = map_principals(text, |principal| Some(principal.to_owned()))
            .expect("a parsed policy's principals can be rewritten");
        let reparsed =
            PolicyDocument::parse(&same, PolicyKind::Resource).expect("a rewritten policy parses");
        assert_eq!(reparsed, document);
    }
    if let Ok(document) = PolicyDocument::parse(text, PolicyKind::Identity) {
        let identity = [document];
        let _ = authorize(
            ResourcePolicy::None,
            &identity,
            GrantDecision::NotApplicable,
            &context,
        );
    }
});
