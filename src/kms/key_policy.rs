//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies, and how a policy is stored —
//! checked for size and grammar, with user ARNs replaced by their persisted unique ids, and run
//! through the lockout safety check unless the caller bypasses it.

use super::shapes::*;
use super::{Caller, Event, Kms, KmsError};
use crate::policy::{self, LockoutCheck, PolicyDocument, PolicyKind};

impl Kms {
    pub(super) async fn get_key_policy(
        &self,
        caller: &Caller,
        request: KeyPolicyRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        check_policy_name(request.policy_name.as_deref())?;
        let key = self
            .authorized_key(caller, &request.key_id, "kms:GetKeyPolicy", event)
            .await?;
        let registry = self.principal_registry().await?;
        let account = &self.scope.account_id;
        let shown = policy::map_principals(&key.record.policy, |principal| {
            let user = registry.users.iter().find(|(_, id)| id.as_str() == principal);
            Some(match user {
                Some((name, _)) => format!("arn:aws:iam::{account}:user/{name}"),
                None => principal.to_owned(),
            })
        })
        .map_err(|e| KmsError::Internal(format!("stored policy of {}: {e}", key.arn)))?;
        Ok(Output {
            policy: Some(shown),
            policy_name: Some("default"),
            ..Output::default()
        })
    }

    pub(super) async fn put_key_policy(
        &self,
        caller: &Caller,
        request: KeyPolicyRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        check_policy_name(request.policy_name.as_deref())?;
        let key = self
            .authorized_key(caller, &request.key_id, "kms:PutKeyPolicy", event)
            .await?;
        let text = request
            .policy
            .as_deref()
            .ok_or_else(|| KmsError::validation("policy", None, "Member must not be null"))?;
        let stored = self
            .checked_policy(caller, text, &key.arn, request.bypass_policy_lockout_safety_check)
            .await?;
        self.update_key(&key.record.key_id, |record, _| {
            record.policy = stored.clone();
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn list_key_policies(
        &self,
        caller: &Caller,
        request: ListRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key_id = request.key();
        self.authorized_key(caller, key_id, "kms:ListKeyPolicies", event)
            .await?;
        Ok(Output {
            policy_names: Some(vec!["default"]),
            truncated: Some(false),
            ..Output::default()
        })
    }

    /// Validates a new key policy and returns it as stored, after the lockout safety check
    /// (unless bypassed).
    pub(super) async fn checked_policy(
        &self,
        caller: &Caller,
        text: &str,
        key_arn: &str,
        bypass: bool,
    ) -> Result<String, KmsError> {
        let stored = self.stored_policy(text).await?;
        if !bypass {
            let document = PolicyDocument::parse(&stored, PolicyKind::Resource)
                .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
            let request = self.request_context(caller, "kms:PutKeyPolicy", key_arn, None);
            if policy::lockout_check(&document, &caller.identity_policies, &request) == LockoutCheck::WouldLockOut {
                return Err(KmsError::MalformedPolicyDocument(LockoutCheck::MESSAGE.to_owned()));
            }
        }
        Ok(stored)
    }

    /// A key policy as stored: checked for size and grammar, user ARNs replaced by their
    /// unique ids (a user unknown here makes the policy invalid, as in AWS).
    pub(super) async fn stored_policy(&self, text: &str) -> Result<String, KmsError> {
        policy::check_size(text).map_err(|e| KmsError::LimitExceeded(e.to_string()))?;
        PolicyDocument::parse(text, PolicyKind::Resource)
            .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
        let registry = self.principal_registry().await?;
        let user_prefix = format!("arn:aws:iam::{}:user/", self.scope.account_id);
        policy::map_principals(text, |principal| {
            if let Some(name) = principal.strip_prefix(&user_prefix) {
                let name = name.rsplit('/').next().unwrap_or(name);
                return registry.users.get(name).cloned();
            }
            if principal.starts_with("AIDA") {
                return registry
                    .users
                    .values()
                    .any(|id| id == principal)
                    .then(|| principal.to_owned());
            }
            Some(principal.to_owned())
        })
        .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))
    }
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::NotFound("No such policy exists".to_owned())),
    }
}
