//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant, and the
//! grant half of authorization ([`decision`]).
//!
//! A grant lets one grantee principal perform the listed operations on one key, optionally only
//! for requests whose encryption context contains (subset) or equals given pairs. Grants only
//! allow; explicit denies in policies still win. Grants are stored in their key's record, so
//! they are effective as soon as CreateGrant returns (a grant token adds nothing here, but is
//! accepted and checked for form as AWS does).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN_BASE64;

use super::keys::require_enabled;
use super::model::{GrantConstraints, GrantRecord, KeyRecord};
use super::shapes::*;
use super::{Caller, Event, Kms, KmsError, internal, now};
use crate::crypto;
use crate::policy::GrantDecision;

/// The operations a grant on a symmetric key may list.
const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
];
const TOKEN_PREFIX: &str = "s3kms-grant-v1.";

impl Kms {
    pub(super) async fn create_grant(
        &self,
        caller: &Caller,
        request: CreateGrantRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        check_tokens(&request.grant_tokens)?;
        let key = self
            .authorized_key(caller, &request.key_id, "kms:CreateGrant", event)
            .await?;
        require_enabled(key.record.state, &key.arn)?;
        check_operations(&request.operations)?;
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        let constraints = request.constraints.clone().map(|c| GrantConstraints {
            encryption_context_subset: c.encryption_context_subset,
            encryption_context_equals: c.encryption_context_equals,
        });
        let fresh = GrantRecord {
            grant_id: hex::encode(crypto::random_array::<32>()),
            name: request.name.clone(),
            creation_date: now(),
            grantee_principal: request.grantee_principal.clone(),
            retiring_principal: request.retiring_principal.clone(),
            issuing_account: self.scope.account_root(),
            operations: request.operations.clone(),
            constraints,
        };
        let mut grant_id = String::new();
        self.update_key(&key.record.key_id, |record, _| {
            let same = record
                .grants
                .iter()
                .find(|g| g.name.is_some() && g.name == fresh.name && same_terms(g, &fresh));
            grant_id = match same {
                Some(existing) => existing.grant_id.clone(),
                None => {
                    record.grants.push(fresh.clone());
                    fresh.grant_id.clone()
                }
            };
            Ok(())
        })
        .await?;
        let token = format!(
            "{TOKEN_PREFIX}{}",
            TOKEN_BASE64.encode(format!("{}:{grant_id}", key.record.key_id))
        );
        event.additional("grantId", grant_id.clone().into());
        Ok(Output {
            grant_id: Some(grant_id),
            grant_token: Some(token),
            ..Output::default()
        })
    }

    pub(super) async fn list_grants(
        &self,
        caller: &Caller,
        request: ListRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, request.key(), "kms:ListGrants", event)
            .await?;
        let grants: Vec<GrantListEntry> = key
            .record
            .grants
            .iter()
            .filter(|g| request.grant_id.as_ref().is_none_or(|id| *id == g.grant_id))
            .filter(|g| {
                request
                    .grantee_principal
                    .as_ref()
                    .is_none_or(|p| *p == g.grantee_principal)
            })
            .map(|g| entry(&key.arn, g))
            .collect();
        let page = request.page(&grants, 50, |g| g.grant_id.clone())?;
        Ok(page.output(|output, items| output.grants = Some(items.to_vec())))
    }

    pub(super) async fn list_retirable_grants(
        &self,
        caller: &Caller,
        request: ListRequest,
    ) -> Result<Output, KmsError> {
        self.authorize_iam(caller, "kms:ListRetirableGrants")?;
        let retiring = request
            .retiring_principal
            .clone()
            .ok_or_else(|| KmsError::validation("retiringPrincipal", None, "Member must not be null"))?;
        let mut grants = Vec::new();
        for path in self.store.list("keys/").await.map_err(internal)? {
            let Some(key_id) = path.strip_prefix("keys/").and_then(|p| p.strip_suffix(".json")) else {
                continue;
            };
            let key = match self.load_key(key_id).await {
                Ok(key) => key,
                Err(KmsError::NotFound(_)) => continue,
                // One damaged key record must not hide every other key's grants.
                Err(error) if error.is_internal() => {
                    tracing::error!(key_id, detail = ?error, "ListRetirableGrants leaves out a key it cannot read");
                    continue;
                }
                Err(error) => return Err(error),
            };
            grants.extend(
                key.record
                    .grants
                    .iter()
                    .filter(|g| g.retiring_principal.as_deref() == Some(retiring.as_str()))
                    .map(|g| entry(&key.arn, g)),
            );
        }
        let page = request.page(&grants, 50, |g| g.grant_id.clone())?;
        Ok(page.output(|output, items| output.grants = Some(items.to_vec())))
    }

    pub(super) async fn retire_grant(
        &self,
        caller: &Caller,
        request: GrantRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let (key_id, grant_id) = match (&request.grant_token, &request.key_id, &request.grant_id) {
            (Some(token), _, _) => parse_token(token)?,
            (None, Some(key_id), Some(grant_id)) => (self.scope.parse_key(key_id)?, grant_id.clone()),
            _ => {
                return Err(KmsError::Validation(
                    "Either GrantToken or KeyId and GrantId must be specified.".to_owned(),
                ));
            }
        };
        let key = self.load_key(&key_id).await?;
        event.key(&key.arn);
        let grant = find(&key.record, &grant_id)?;
        let principal = &caller.principal.arn;
        let may_retire = grant.retiring_principal.as_deref() == Some(principal.as_str())
            || (grant.grantee_principal == *principal && grant.operations.iter().any(|op| op == "RetireGrant"))
            || self.authorize(caller, &key, "kms:RetireGrant", None).is_ok();
        if !may_retire {
            return Err(KmsError::AccessDenied(format!(
                "User: {principal} is not authorized to perform: kms:RetireGrant on resource: {}",
                key.arn
            )));
        }
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        self.remove_grant(&key_id, &grant_id).await?;
        event.additional("grantId", grant_id.into());
        Ok(Output::default())
    }

    pub(super) async fn revoke_grant(
        &self,
        caller: &Caller,
        request: GrantRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(
                caller,
                request.key_id.as_deref().unwrap_or_default(),
                "kms:RevokeGrant",
                event,
            )
            .await?;
        let grant_id = request.grant_id.clone().unwrap_or_default();
        find(&key.record, &grant_id)?;
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        self.remove_grant(&key.record.key_id, &grant_id).await?;
        Ok(Output::default())
    }

    async fn remove_grant(&self, key_id: &str, grant_id: &str) -> Result<(), KmsError> {
        self.update_key(key_id, |record, _| {
            record.grants.retain(|g| g.grant_id != grant_id);
            Ok(())
        })
        .await?;
        Ok(())
    }
}

/// Whether a grant on `key` lets `caller` perform `action` with this encryption context.
pub(super) fn decision(key: &KeyRecord, caller: &Caller, action: &str, context: Option<&Context>) -> GrantDecision {
    let Some(operation) = action.strip_prefix("kms:") else {
        return GrantDecision::NotApplicable;
    };
    let allows = key.grants.iter().any(|grant| {
        grant.grantee_principal == caller.principal.arn
            && grant.operations.iter().any(|op| op == operation)
            && constraints_hold(grant.constraints.as_ref(), context)
    });
    if allows {
        GrantDecision::Allow
    } else {
        GrantDecision::NotApplicable
    }
}

fn constraints_hold(constraints: Option<&GrantConstraints>, context: Option<&Context>) -> bool {
    let Some(constraints) = constraints else { return true };
    let empty = Context::new();
    let context = context.unwrap_or(&empty);
    let subset_ok = constraints
        .encryption_context_subset
        .as_ref()
        .is_none_or(|subset| subset.iter().all(|(k, v)| context.get(k) == Some(v)));
    let equals_ok = constraints
        .encryption_context_equals
        .as_ref()
        .is_none_or(|equals| equals == context);
    subset_ok && equals_ok
}

/// Grant tokens must be ones this KMS issued (`InvalidGrantTokenException` otherwise).
pub(super) fn check_tokens(tokens: &[String]) -> Result<(), KmsError> {
    if tokens.len() > 10 {
        return Err(KmsError::validation(
            "grantTokens",
            None,
            "Member must have length less than or equal to 10",
        ));
    }
    for token in tokens {
        parse_token(token)?;
    }
    Ok(())
}

fn parse_token(token: &str) -> Result<(String, String), KmsError> {
    let invalid = || KmsError::InvalidGrantToken("Invalid grant token.".to_owned());
    let encoded = token.strip_prefix(TOKEN_PREFIX).ok_or_else(invalid)?;
    let decoded = TOKEN_BASE64.decode(encoded).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (key_id, grant_id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((key_id.to_owned(), grant_id.to_owned()))
}

fn check_operations(operations: &[String]) -> Result<(), KmsError> {
    if operations.is_empty() {
        return Err(KmsError::validation(
            "operations",
            None,
            "Member must have length greater than or equal to 1",
        ));
    }
    for operation in operations {
        if !GRANT_OPERATIONS.contains(&operation.as_str()) {
            return Err(KmsError::validation(
                "operations",
                Some(operation),
                "Member must satisfy enum value set: [Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, CreateGrant, RetireGrant, DescribeKey]",
            ));
        }
    }
    Ok(())
}

fn find<'a>(record: &'a KeyRecord, grant_id: &str) -> Result<&'a GrantRecord, KmsError> {
    record
        .grants
        .iter()
        .find(|g| g.grant_id == grant_id)
        .ok_or_else(|| KmsError::NotFound(format!("Grant ID {grant_id} not found")))
}

fn same_terms(a: &GrantRecord, b: &GrantRecord) -> bool {
    a.grantee_principal == b.grantee_principal
        && a.retiring_principal == b.retiring_principal
        && a.operations == b.operations
        && a.constraints == b.constraints
}

fn entry(key_arn: &str, grant: &GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: key_arn.to_owned(),
        grant_id: grant.grant_id.clone(),
        name: grant.name.clone(),
        creation_date: grant.creation_date,
        grantee_principal: grant.grantee_principal.clone(),
        retiring_principal: grant.retiring_principal.clone(),
        issuing_account: grant.issuing_account.clone(),
        operations: grant.operations.clone(),
        constraints: grant.constraints.as_ref().map(|c| GrantConstraintsShape {
            encryption_context_subset: c.encryption_context_subset.clone(),
            encryption_context_equals: c.encryption_context_equals.clone(),
        }),
    }
}
