//! The request a policy is evaluated against: who, what, on which resource, and condition keys.
//!
//! Owns: [`Principal`], [`RequestContext`] and the builders that fill IAM's and KMS's standard
//! condition keys (`aws:PrincipalArn`, `aws:userid`, `kms:CallerAccount`, `kms:ViaService`,
//! `kms:EncryptionContext:*`, `kms:EncryptionContextKeys`, …).
//!
//! Does not: authenticate anyone or decide which keys an operation carries; the API layers add
//! operation-specific keys with [`RequestContext::with_key`].
//!
//! Invariants: condition key names are stored lower-cased, so lookups are case-insensitive in the
//! whole name (including the `<k>` of `kms:EncryptionContext:<k>`); values keep their case. A key
//! with no values is absent.

use std::collections::BTreeMap;

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `arn:aws:iam::<account>:user/<name>` (or a role / assumed-role / root ARN).
    pub arn: String,
    /// The 12-digit account id that owns the principal.
    pub account_id: String,
    /// The persisted unique id (`AIDA…` for users), which key policies store instead of the ARN.
    pub unique_id: Option<String>,
}

impl Principal {
    /// An IAM user of `account_id` named `name` with unique id `unique_id`.
    pub fn user(account_id: &str, name: &str, unique_id: &str) -> Principal {
        Principal {
            arn: format!("arn:aws:iam::{account_id}:user/{name}"),
            account_id: account_id.to_owned(),
            unique_id: Some(unique_id.to_owned()),
        }
    }

    /// The user name when the principal is an IAM user (`…:user/path/name` → `name`).
    fn user_name(&self) -> Option<&str> {
        let (_, resource) = self.arn.rsplit_once(':')?;
        let path = resource.strip_prefix("user/")?;
        path.rsplit('/').next()
    }
}

/// Everything evaluation needs to know about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    principal: Principal,
    service_principal: Option<String>,
    action: String,
    resource: String,
    keys: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    /// A request by `principal` to perform `action` (`kms:Decrypt`, `s3:PutObject`) on
    /// `resource` (a key ARN, `arn:aws:s3:::bucket/key`), with the standard principal keys:
    /// `aws:PrincipalArn`, `aws:PrincipalAccount`, `aws:userid`, `aws:username` (users only) and,
    /// for `kms:` actions, `kms:CallerAccount`.
    pub fn new(principal: Principal, action: &str, resource: &str) -> RequestContext {
        let mut context = RequestContext {
            principal,
            service_principal: None,
            action: action.to_owned(),
            resource: resource.to_owned(),
            keys: BTreeMap::new(),
        };
        let principal = context.principal.clone();
        context.set("aws:PrincipalArn", &principal.arn);
        context.set("aws:PrincipalAccount", &principal.account_id);
        if let Some(unique_id) = &principal.unique_id {
            context.set("aws:userid", unique_id);
        }
        if let Some(name) = principal.user_name() {
            context.set("aws:username", name);
        }
        if action
            .get(..4)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("kms:"))
        {
            context.set("kms:CallerAccount", &principal.account_id);
        }
        context
    }

    /// Sets `aws:SecureTransport` (`true` for HTTPS).
    pub fn with_secure_transport(mut self, secure: bool) -> RequestContext {
        self.set("aws:SecureTransport", if secure { "true" } else { "false" });
        self
    }

    /// Sets `kms:ViaService`, e.g. `s3.us-east-1.amazonaws.com` when S3 calls the KMS.
    pub fn with_via_service(mut self, service: &str) -> RequestContext {
        self.set("kms:ViaService", service);
        self
    }

    /// Sets `kms:EncryptionContext:<k>` for each pair and `kms:EncryptionContextKeys` to the keys.
    /// An empty context sets nothing (the keys are then absent, as in AWS).
    pub fn with_encryption_context<'a>(
        mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> RequestContext {
        let mut names = Vec::new();
        for (key, value) in pairs {
            self.set(&format!("kms:EncryptionContext:{key}"), value);
            names.push(key.to_owned());
        }
        self.with_key("kms:EncryptionContextKeys", names)
    }

    /// Marks the request as made by the service principal `service` (`s3.amazonaws.com`), which
    /// `{"Service": …}` principals match.
    pub fn with_service_principal(mut self, service: &str) -> RequestContext {
        self.service_principal = Some(service.to_owned());
        self
    }

    /// Sets condition key `name` to `values` (several for multi-valued keys such as
    /// `kms:GrantOperations`); an empty list removes the key.
    pub fn with_key(mut self, name: &str, values: Vec<String>) -> RequestContext {
        let name = name.to_ascii_lowercase();
        if values.is_empty() {
            self.keys.remove(&name);
        } else {
            self.keys.insert(name, values);
        }
        self
    }

    /// The same request for another action (e.g. `kms:PutKeyPolicy` for the lockout check).
    pub fn for_action(mut self, action: &str) -> RequestContext {
        self.action = action.to_owned();
        self
    }

    /// The caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The service principal making the request, if any.
    pub fn service_principal(&self) -> Option<&str> {
        self.service_principal.as_deref()
    }

    /// The action, e.g. `kms:Decrypt`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The resource ARN.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The values of condition key `name` (case-insensitive); `None` when the key is absent.
    pub fn values(&self, name: &str) -> Option<&[String]> {
        self.keys.get(&name.to_ascii_lowercase()).map(Vec::as_slice)
    }

    fn set(&mut self, name: &str, value: &str) {
        self.keys.insert(name.to_ascii_lowercase(), vec![value.to_owned()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_keys_are_filled_and_case_insensitive() {
        let alice = Principal::user("111122223333", "alice", "AIDAEXAMPLE");
        let context = RequestContext::new(alice, "kms:Decrypt", "arn:aws:kms:us-east-1:111122223333:key/k")
            .with_via_service("s3.us-east-1.amazonaws.com")
            .with_encryption_context([("aws:s3:arn", "arn:aws:s3:::b/k"), ("Dept", "x")])
            .with_secure_transport(true);
        let one = |name: &str| context.values(name).map(|values| values[0].as_str());
        assert_eq!(one("AWS:PRINCIPALARN"), Some("arn:aws:iam::111122223333:user/alice"));
        assert_eq!(one("aws:username"), Some("alice"));
        assert_eq!(one("aws:userid"), Some("AIDAEXAMPLE"));
        assert_eq!(one("kms:calleraccount"), Some("111122223333"));
        assert_eq!(one("KMS:ENCRYPTIONCONTEXT:AWS:S3:ARN"), Some("arn:aws:s3:::b/k"));
        assert_eq!(one("kms:encryptioncontext:dept"), Some("x"));
        assert_eq!(one("aws:SecureTransport"), Some("true"));
        assert_eq!(
            context.values("kms:EncryptionContextKeys").map(<[String]>::len),
            Some(2)
        );
    }

    #[test]
    fn empty_encryption_context_leaves_keys_absent() {
        let alice = Principal::user("111122223333", "alice", "AIDAEXAMPLE");
        let context = RequestContext::new(alice, "s3:GetObject", "arn:aws:s3:::b/k").with_encryption_context([]);
        assert_eq!(context.values("kms:EncryptionContextKeys"), None);
        assert_eq!(context.values("kms:CallerAccount"), None);
    }
}
