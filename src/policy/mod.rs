//! IAM-style policies: grammar, request context, matching, conditions and evaluation (L0).
//!
//! Owns: parsing a policy document (KMS key policy, S3 bucket policy, IAM identity policy) into a
//! typed [`PolicyDocument`]; the [`RequestContext`] a request is judged in; evaluating one
//! document ([`evaluate()`]); combining a resource policy, identity policies and grants into one
//! [`Authorization`] with AWS's denial texts ([`authorize()`]); the policy lockout safety check
//! ([`lockout_check`]); the default key policy ([`default_key_policy`]); rewriting principals
//! between ARNs and unique ids ([`map_principals`]).
//!
//! Does not: look anything up (who a unique id belongs to, which grants exist, which identity
//! policies a user has): callers pass those in. No async, no I/O, no HTTP types.
//!
//! Invariants:
//! - Deny by default: nothing is allowed unless a matching `Allow` says so.
//! - An explicit `Deny` that matches wins over every `Allow`, whatever its source.
//! - The policy text a caller stored is never re-serialised by this module except through
//!   [`map_principals`], which rewrites only principal strings in place.

mod authorize;
mod comparison;
mod condition;
mod context;
mod default_policy;
mod document;
mod error;
mod evaluate;
mod matching;
mod principals;

pub use authorize::{Authorization, GrantDecision, LockoutCheck, ResourcePolicy, authorize, lockout_check};
pub use condition::{Condition, ConditionTest, Operator, SetQualifier};
pub use context::{Principal, RequestContext};
pub use default_policy::{DEFAULT_KEY_POLICY_ID, default_key_policy};
pub use document::{
    Effect, MAX_POLICY_CHARS, PolicyDocument, PolicyKind, PrincipalSet, PrincipalSpec, Scope, Statement, check_size,
};
pub use error::PolicyError;
pub use evaluate::{Decision, ResourceDecision, evaluate, evaluate_resource_policy};
pub use matching::{matches_action, matches_resource, wildcard_match};
pub use principals::map_principals;

#[cfg(test)]
mod tests;
