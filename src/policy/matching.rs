//! Matching a request's action, resource and principal against a statement.
//!
//! Owns: the IAM wildcard matcher (`*` any run, `?` one character), action matching
//! (case-insensitive), resource matching (case-sensitive), ARN matching (per colon-separated
//! component) and principal matching, which tells a direct match from an account-level one.
//!
//! Does not: translate ARNs to unique ids (the caller stores policies with ids, see
//! [`super::map_principals`]), or expand policy variables (`${aws:username}`).

use super::context::RequestContext;
use super::document::{PrincipalSet, PrincipalSpec, Scope};

/// Whether `value` matches `pattern`, where `*` matches any run of characters (also empty) and
/// `?` exactly one; `ignore_case` compares ASCII letters case-insensitively.
pub fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let value: Vec<char> = value.chars().collect();
    let same = |p: char, v: char| p == v || (ignore_case && p.eq_ignore_ascii_case(&v));
    // Greedy two-pointer match with backtracking to the last `*`: linear space, O(p·v) time.
    let (mut p, mut v) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '?' || (pattern[p] != '*' && same(pattern[p], value[v]))) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            last_star = Some((p, v));
            p += 1;
        } else if let Some((star, matched)) = last_star {
            p = star + 1;
            v = matched + 1;
            last_star = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Whether `action` (e.g. `kms:Decrypt`) matches an `Action` pattern (`kms:*`, `s3:Get*`, `*`).
pub fn matches_action(pattern: &str, action: &str) -> bool {
    wildcard_match(pattern, action, true)
}

/// Whether `resource` (an ARN) matches a `Resource` pattern (`*`, `arn:aws:s3:::bucket/*`).
pub fn matches_resource(pattern: &str, resource: &str) -> bool {
    wildcard_match(pattern, resource, false)
}

/// `ArnLike`/`ArnEquals`: the six colon-separated components match one by one.
pub(super) fn matches_arn(pattern: &str, arn: &str) -> bool {
    let patterns: Vec<&str> = pattern.splitn(6, ':').collect();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    patterns.len() == 6 && parts.len() == 6 && patterns.iter().zip(&parts).all(|(p, v)| wildcard_match(p, v, false))
}

/// Whether a scope (`Action`/`NotAction`, `Resource`/`NotResource`) admits `value`.
pub(super) fn scope_admits(scope: &Scope, value: &str, matches: fn(&str, &str) -> bool) -> bool {
    match scope {
        Scope::Only(patterns) => patterns.iter().any(|pattern| matches(pattern, value)),
        Scope::AllExcept(patterns) => !patterns.iter().any(|pattern| matches(pattern, value)),
    }
}

/// How a statement's principal element relates to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum PrincipalMatch {
    /// The statement does not name the caller.
    None,
    /// The statement names the caller's account (`arn:aws:iam::<acct>:root` or the bare id): an
    /// `Allow` delegates to the account's identity policies, a `Deny` denies the whole account.
    Account,
    /// The statement names the caller itself (ARN, unique id, `*`, or its service principal).
    Direct,
}

/// How `spec` relates to the caller of `context`.
pub(super) fn match_principal(spec: &PrincipalSpec, context: &RequestContext) -> PrincipalMatch {
    match spec {
        PrincipalSpec::Only(set) => match_principal_set(set, context),
        // NotPrincipal: everyone the set does not name itself. As in IAM, naming an account
        // excludes the account principal (`…:root`), not the users and roles of the account.
        PrincipalSpec::AllExcept(set) => match match_principal_set(set, context) {
            PrincipalMatch::Direct => PrincipalMatch::None,
            _ => PrincipalMatch::Direct,
        },
    }
}

fn match_principal_set(set: &PrincipalSet, context: &RequestContext) -> PrincipalMatch {
    let aws = set.aws.iter().map(|entry| match_aws_principal(entry, context));
    let service = set.service.iter().map(|entry| match context.service_principal() {
        Some(service) if service.eq_ignore_ascii_case(entry) => PrincipalMatch::Direct,
        _ => PrincipalMatch::None,
    });
    aws.chain(service).max().unwrap_or(PrincipalMatch::None)
}

fn match_aws_principal(entry: &str, context: &RequestContext) -> PrincipalMatch {
    let principal = context.principal();
    if entry == "*" || entry == principal.arn {
        return PrincipalMatch::Direct;
    }
    if principal.unique_id.as_deref() == Some(entry) {
        return PrincipalMatch::Direct;
    }
    match account_of_root(entry) {
        Some(account) if account == principal.account_id => PrincipalMatch::Account,
        _ => PrincipalMatch::None,
    }
}

/// The account id an account principal names: a bare 12-digit id or `arn:<partition>:iam::<id>:root`.
pub(super) fn account_of_root(entry: &str) -> Option<&str> {
    let is_account_id = |id: &str| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    if is_account_id(entry) {
        return Some(entry);
    }
    let parts: Vec<&str> = entry.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, "root"] if is_account_id(account) => Some(account),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match(
            "kms:GenerateDataKey*",
            "kms:GenerateDataKeyWithoutPlaintext",
            true
        ));
        assert!(wildcard_match("kms:GenerateDataKey*", "kms:GenerateDataKey", true));
        assert!(matches_action("KMS:decrypt", "kms:Decrypt"));
        assert!(matches_action("*", "s3:PutObject"));
        assert!(matches_action("s3:Get*", "s3:GetObject"));
        assert!(!matches_action("s3:Get*", "s3:PutObject"));
        assert!(matches_action("kms:?ecrypt", "kms:Decrypt"));
        assert!(!matches_action("kms:?ecrypt", "kms:Encrypt"));
        assert!(matches_resource("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b.txt"));
        assert!(!matches_resource("arn:aws:s3:::bucket/*", "arn:aws:s3:::Bucket/a"));
        assert!(!matches_resource("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"));
        assert!(wildcard_match("a*b*c", "aXbYbZc", false));
        assert!(!wildcard_match("a*b*c", "aXbYbZ", false));
        assert!(wildcard_match("", "", false));
        assert!(!wildcard_match("", "x", false));
    }

    #[test]
    fn arns_match_component_by_component() {
        assert!(matches_arn(
            "arn:aws:iam::*:user/*",
            "arn:aws:iam::111122223333:user/alice"
        ));
        assert!(!matches_arn(
            "arn:aws:iam::*:root",
            "arn:aws:iam::111122223333:user/root"
        ));
        assert!(matches_arn("arn:aws:s3:::b/*", "arn:aws:s3:::b/k:with:colons"));
        assert!(!matches_arn("*", "arn:aws:s3:::b/k"));
    }

    #[test]
    fn account_principals() {
        assert_eq!(account_of_root("111122223333"), Some("111122223333"));
        assert_eq!(account_of_root("arn:aws:iam::111122223333:root"), Some("111122223333"));
        assert_eq!(
            account_of_root("arn:aws-cn:iam::111122223333:root"),
            Some("111122223333")
        );
        assert_eq!(account_of_root("arn:aws:iam::111122223333:user/root"), None);
        assert_eq!(account_of_root("11112222333"), None);
    }
}
