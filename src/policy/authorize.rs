//! Combining a resource policy, identity policies and grants into one answer, with AWS's texts.
//!
//! Owns: [`authorize`], [`Authorization`] and its `AccessDenied` messages, and the key policy
//! lockout safety check ([`lockout_check`]).
//!
//! Does not: find the policies or grants that apply (the caller passes the key policy or bucket
//! policy, the caller's identity policies, and whether a grant on the key allows the request).
//!
//! Invariants (AWS's evaluation): an explicit deny anywhere wins (a resource-policy deny is
//! reported before an identity-policy deny); grants only ever allow. For a KMS key the key policy
//! must allow the caller directly, or delegate to the caller's account (`…:root`) and then an
//! identity policy must allow; a caller from another account also needs an identity allow. For an
//! S3 bucket (same account) an allow from either the bucket policy or an identity policy suffices.

use super::context::RequestContext;
use super::document::PolicyDocument;
use super::evaluate::{Decision, ResourceDecision, evaluate, evaluate_resource_policy};

/// The resource-based policy that governs the request, and how it combines with IAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourcePolicy<'a> {
    /// A KMS key policy: nothing is allowed unless it allows the caller or delegates to its account.
    Key(&'a PolicyDocument),
    /// An S3 bucket policy: its allow and identity policies' allows are a union.
    Bucket(&'a PolicyDocument),
    /// No resource policy (a bucket without one; IAM-only actions such as `kms:CreateKey`).
    None,
}

/// Whether a grant on the key allows the request (grants never deny).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantDecision {
    /// A grant for this grantee covers the operation and its constraints hold.
    Allow,
    /// No grant allows the request.
    NotApplicable,
}

/// The combined answer, carrying which of AWS's denial texts applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// The request is allowed.
    Allowed,
    /// The key or bucket policy explicitly denies the request.
    ExplicitDenyInResourcePolicy,
    /// An identity policy of the caller explicitly denies the request.
    ExplicitDenyInIdentityPolicy,
    /// The key policy neither allows the caller nor delegates to its account, and no grant allows.
    NoResourcePolicyAllows,
    /// Nothing allows, and identity policies were what could have allowed it.
    NoIdentityPolicyAllows,
}

impl Authorization {
    /// Whether the request is allowed.
    pub fn is_allowed(self) -> bool {
        self == Authorization::Allowed
    }

    /// AWS's `AccessDenied` message for a denial (`None` when allowed). `action` is the full
    /// action name (`kms:Decrypt`, `s3:GetObject`).
    pub fn message(self, principal_arn: &str, action: &str, resource_arn: &str) -> Option<String> {
        let head = format!("User: {principal_arn} is not authorized to perform: {action} on resource: {resource_arn}");
        let tail = match self {
            Authorization::Allowed => return None,
            Authorization::ExplicitDenyInResourcePolicy => {
                "with an explicit deny in a resource-based policy".to_owned()
            }
            Authorization::ExplicitDenyInIdentityPolicy => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            Authorization::NoResourcePolicyAllows => {
                format!("because no resource-based policy allows the {action} action")
            }
            Authorization::NoIdentityPolicyAllows => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        Some(format!("{head} {tail}"))
    }
}

/// Decides whether the caller of `context` may perform its action on its resource.
pub fn authorize(
    resource_policy: ResourcePolicy<'_>,
    identity_policies: &[PolicyDocument],
    grants: GrantDecision,
    context: &RequestContext,
) -> Authorization {
    let resource = match resource_policy {
        ResourcePolicy::Key(document) | ResourcePolicy::Bucket(document) => evaluate_resource_policy(document, context),
        ResourcePolicy::None => ResourceDecision::NotApplicable,
    };
    if resource == ResourceDecision::ExplicitDeny {
        return Authorization::ExplicitDenyInResourcePolicy;
    }
    let identity: Vec<Decision> = identity_policies
        .iter()
        .map(|document| evaluate(document, context))
        .collect();
    if identity.contains(&Decision::ExplicitDeny) {
        return Authorization::ExplicitDenyInIdentityPolicy;
    }
    let identity_allows = identity.contains(&Decision::Allow);
    if grants == GrantDecision::Allow {
        return Authorization::Allowed;
    }
    let allowed = match (resource_policy, resource) {
        (ResourcePolicy::Key(_), ResourceDecision::Allow) => identity_allows || same_account(context),
        (ResourcePolicy::Key(_), ResourceDecision::DelegatedToAccount) => identity_allows,
        (ResourcePolicy::Key(_), _) => return Authorization::NoResourcePolicyAllows,
        (_, ResourceDecision::Allow) => true,
        _ => identity_allows,
    };
    if allowed {
        Authorization::Allowed
    } else {
        Authorization::NoIdentityPolicyAllows
    }
}

/// Whether the caller belongs to the account named in the resource ARN (or the ARN names none).
fn same_account(context: &RequestContext) -> bool {
    match context.resource().split(':').nth(4) {
        Some(account) if !account.is_empty() => account == context.principal().account_id,
        _ => true,
    }
}

/// The outcome of the policy lockout safety check (CreateKey with a policy, PutKeyPolicy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockoutCheck {
    /// The new policy (with the caller's identity policies) lets the caller call PutKeyPolicy.
    Passes,
    /// It would not; AWS refuses with `MalformedPolicyDocumentException` and [`Self::MESSAGE`].
    WouldLockOut,
}

impl LockoutCheck {
    /// AWS's text for [`LockoutCheck::WouldLockOut`].
    pub const MESSAGE: &'static str = "The new key policy will not allow you to update the key policy in the future.";
}

/// Whether `new_policy` would still let the caller of `context` (on this key) call
/// `kms:PutKeyPolicy`, counting its identity policies when the policy delegates to the account.
/// The other condition keys of `context` are kept as they are.
pub fn lockout_check(
    new_policy: &PolicyDocument,
    identity_policies: &[PolicyDocument],
    context: &RequestContext,
) -> LockoutCheck {
    let context = context.clone().for_action("kms:PutKeyPolicy");
    let outcome = authorize(
        ResourcePolicy::Key(new_policy),
        identity_policies,
        GrantDecision::NotApplicable,
        &context,
    );
    if outcome.is_allowed() {
        LockoutCheck::Passes
    } else {
        LockoutCheck::WouldLockOut
    }
}
