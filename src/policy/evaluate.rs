//! Evaluating one policy document against one request.
//!
//! Owns: [`Decision`], [`ResourceDecision`], [`evaluate`] and [`evaluate_resource_policy`].
//!
//! Does not: combine several documents or grants (see [`mod@super::authorize`]).
//!
//! Invariants: a statement applies when its action, resource, principal and every condition
//! match; a statement without `Action` or `Resource` never applies. Any applicable `Deny` makes
//! the decision `ExplicitDeny`. An `Allow` naming only the caller's *account* does not allow by
//! itself: it delegates to the account's identity policies.

use super::context::RequestContext;
use super::document::{Effect, PolicyDocument, Statement};
use super::matching::{PrincipalMatch, match_principal, matches_action, matches_resource, scope_admits};

/// What one document says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An applicable statement allows the caller (directly, or implied in an identity policy).
    Allow,
    /// An applicable statement denies the caller.
    ExplicitDeny,
    /// No statement allows or denies: the request is denied unless something else allows it.
    NotApplicable,
}

/// What a resource policy (key policy, bucket policy) says, telling delegation apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceDecision {
    /// A statement allows the caller directly (its ARN, unique id, `*`, or service principal).
    Allow,
    /// No statement allows the caller directly, but one allows the caller's account: the
    /// caller's identity policies decide.
    DelegatedToAccount,
    /// A statement denies the caller (naming it, its account, or everyone).
    ExplicitDeny,
    /// The policy neither allows nor denies the caller nor its account.
    NotApplicable,
}

/// Evaluates `document` for `context`. Statements without a principal (identity policies) apply
/// to the caller; an `Allow` that names only the caller's account counts as
/// [`Decision::NotApplicable`] (see [`evaluate_resource_policy`] for delegation).
pub fn evaluate(document: &PolicyDocument, context: &RequestContext) -> Decision {
    match evaluate_resource_policy(document, context) {
        ResourceDecision::Allow => Decision::Allow,
        ResourceDecision::ExplicitDeny => Decision::ExplicitDeny,
        ResourceDecision::DelegatedToAccount | ResourceDecision::NotApplicable => Decision::NotApplicable,
    }
}

/// Evaluates a resource policy for `context`, reporting delegation to the caller's account.
pub fn evaluate_resource_policy(document: &PolicyDocument, context: &RequestContext) -> ResourceDecision {
    let mut best = ResourceDecision::NotApplicable;
    for statement in &document.statements {
        let reach = statement_reach(statement, context);
        match (statement.effect, reach) {
            (_, PrincipalMatch::None) => {}
            (Effect::Deny, _) => return ResourceDecision::ExplicitDeny,
            (Effect::Allow, PrincipalMatch::Direct) => best = ResourceDecision::Allow,
            (Effect::Allow, PrincipalMatch::Account) => {
                if best == ResourceDecision::NotApplicable {
                    best = ResourceDecision::DelegatedToAccount;
                }
            }
        }
    }
    best
}

/// How far `statement` reaches the request: not at all, the caller's account, or the caller.
fn statement_reach(statement: &Statement, context: &RequestContext) -> PrincipalMatch {
    let (Some(action), Some(resource)) = (&statement.action, &statement.resource) else {
        return PrincipalMatch::None;
    };
    if !scope_admits(action, context.action(), matches_action)
        || !scope_admits(resource, context.resource(), matches_resource)
    {
        return PrincipalMatch::None;
    }
    let reach = match &statement.principal {
        None => PrincipalMatch::Direct,
        Some(spec) => match_principal(spec, context),
    };
    if reach == PrincipalMatch::None || !statement.conditions.iter().all(|condition| condition.holds(context)) {
        return PrincipalMatch::None;
    }
    reach
}
