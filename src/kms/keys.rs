//! Key lifecycle: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, Schedule/CancelKeyDeletion,
//! UpdateKeyDescription, key policies and tags — with AWS's state rules and texts.

use super::model::{KeyManager, KeyRecord, KeyState, Rotation, Tag};
use super::shapes::*;
use super::store::Expect;
use super::{Caller, Event, Kms, KmsError, LoadedKey, internal, key_path, now, resolve};
use crate::policy::{self, LockoutCheck, PolicyDocument, PolicyKind};

/// The AWS-managed key that S3 uses when no key id is given.
pub const AWS_S3_ALIAS: &str = "alias/aws/s3";
const MAX_TAGS: usize = 50;
const MAX_DESCRIPTION: usize = 8192;

impl Kms {
    pub(super) async fn create_key(
        &self,
        caller: &Caller,
        request: CreateKeyRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        self.authorize_iam(caller, "kms:CreateKey")?;
        check_symmetric(&request)?;
        check_description(request.description.as_deref().unwrap_or_default())?;
        check_tags(&request.tags)?;
        if !request.tags.is_empty() {
            self.authorize_iam(caller, "kms:TagResource")?;
        }
        let key_id = resolve::new_key_id();
        let arn = self.scope.key_arn(&key_id);
        let policy = match &request.policy {
            Some(text) => {
                let bypass = request.bypass_policy_lockout_safety_check;
                self.checked_policy(caller, text, &arn, bypass).await?
            }
            None => policy::default_key_policy(&self.scope.account_id),
        };
        let record = self.new_record(
            &key_id,
            request.description.unwrap_or_default(),
            policy,
            KeyManager::Customer,
        );
        let mut record = record;
        record.tags = request
            .tags
            .into_iter()
            .map(|t| Tag {
                key: t.tag_key,
                value: t.tag_value,
            })
            .collect();
        let key = self.insert_key(record).await?;
        event.key(&key.arn);
        Ok(Output {
            key_metadata: Some(self.metadata(&key)),
            ..Output::default()
        })
    }

    /// A new enabled key record with one version of fresh material.
    pub(super) fn new_record(
        &self,
        key_id: &str,
        description: String,
        policy: String,
        manager: KeyManager,
    ) -> KeyRecord {
        KeyRecord {
            key_id: key_id.to_owned(),
            creation_date: now(),
            description,
            state: KeyState::Enabled,
            deletion_date: None,
            key_manager: manager,
            policy,
            tags: Vec::new(),
            rotation: Rotation {
                period_days: 365,
                ..Rotation::default()
            },
            versions: vec![self.new_version(key_id, None)],
            grants: Vec::new(),
        }
    }

    /// Stores a new key record.
    pub(super) async fn insert_key(&self, record: KeyRecord) -> Result<LoadedKey, KmsError> {
        let bytes = serde_json::to_vec_pretty(&record).map_err(|e| KmsError::Internal(e.to_string()))?;
        let version = self
            .store
            .put(&key_path(&record.key_id), &bytes, Expect::Absent)
            .await
            .map_err(internal)?;
        let arn = self.scope.key_arn(&record.key_id);
        Ok(LoadedKey { record, version, arn })
    }

    pub(super) async fn describe_key(
        &self,
        caller: &Caller,
        request: KeyIdRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self.resolve_or_create_managed(&request.key_id).await?;
        event.key(&key.arn);
        self.authorize(caller, &key, "kms:DescribeKey", None)?;
        Ok(Output {
            key_metadata: Some(self.metadata(&key)),
            ..Output::default()
        })
    }

    pub(super) async fn list_keys(&self, caller: &Caller, request: ListRequest) -> Result<Output, KmsError> {
        self.authorize_iam(caller, "kms:ListKeys")?;
        let ids: Vec<String> = self
            .store
            .list("keys/")
            .await
            .map_err(internal)?
            .iter()
            .filter_map(|path| path.strip_prefix("keys/")?.strip_suffix(".json").map(str::to_owned))
            .collect();
        let (page, next) = paginate(&ids, request.limit, request.marker.as_deref(), 100, |id| id.clone())?;
        let keys = page
            .iter()
            .map(|id| KeyListEntry {
                key_id: id.clone(),
                key_arn: self.scope.key_arn(id),
            })
            .collect();
        Ok(Output {
            keys: Some(keys),
            truncated: Some(next.is_some()),
            next_marker: next,
            ..Output::default()
        })
    }

    pub(super) async fn set_enabled(
        &self,
        caller: &Caller,
        request: KeyIdRequest,
        enabled: bool,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self.resolve_key(&request.key_id).await?;
        event.key(&key.arn);
        let action = if enabled { "kms:EnableKey" } else { "kms:DisableKey" };
        self.authorize(caller, &key, action, None)?;
        self.update_key(&key.record.key_id, |record, arn| {
            if record.state == KeyState::PendingDeletion {
                return Err(KmsError::pending_deletion(arn));
            }
            record.state = if enabled { KeyState::Enabled } else { KeyState::Disabled };
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        request: ScheduleKeyDeletionRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:ScheduleKeyDeletion", event)
            .await?;
        let days = request.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(KmsError::Validation(
                "PendingWindowInDays must be between 7 and 30".to_owned(),
            ));
        }
        let deletion_date = (now() + days as f64 * 86_400.0).floor();
        let key = self
            .update_key(&key.record.key_id, |record, arn| {
                if record.state == KeyState::PendingDeletion {
                    return Err(KmsError::pending_deletion(arn));
                }
                record.state = KeyState::PendingDeletion;
                record.deletion_date = Some(deletion_date);
                Ok(())
            })
            .await?;
        Ok(Output {
            key_id: Some(key.arn.clone()),
            deletion_date: Some(deletion_date),
            key_state: Some(KeyState::PendingDeletion.as_str()),
            pending_window_in_days: Some(days),
            ..Output::default()
        })
    }

    pub(super) async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        request: KeyIdRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:CancelKeyDeletion", event)
            .await?;
        let key = self
            .update_key(&key.record.key_id, |record, arn| {
                if record.state != KeyState::PendingDeletion {
                    return Err(KmsError::InvalidState(format!("{arn} is not pending deletion.")));
                }
                record.state = KeyState::Disabled;
                record.deletion_date = None;
                Ok(())
            })
            .await?;
        Ok(Output {
            key_id: Some(key.arn),
            ..Output::default()
        })
    }

    pub(super) async fn update_key_description(
        &self,
        caller: &Caller,
        request: UpdateKeyDescriptionRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:UpdateKeyDescription", event)
            .await?;
        check_description(&request.description)?;
        self.update_key(&key.record.key_id, |record, arn| {
            refuse_pending_deletion(record, arn)?;
            record.description = request.description.clone();
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    // ----------------------------------------------------------------- key policies

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
        let key_id = request.key_id.as_deref().unwrap_or_default();
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
    async fn checked_policy(
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
    async fn stored_policy(&self, text: &str) -> Result<String, KmsError> {
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

    /// Makes sure a key declared in the config exists under `alias` (created if absent, as
    /// the operator, without a caller's authorization). Returns its key id.
    pub async fn ensure_declared_key(
        &self,
        alias: &str,
        description: &str,
        policy: Option<&str>,
    ) -> Result<String, KmsError> {
        if let Ok(key_id) = self.alias_target(alias).await {
            return Ok(key_id);
        }
        let policy = match policy {
            Some(text) => self.stored_policy(text).await?,
            None => policy::default_key_policy(&self.scope.account_id),
        };
        let key_id = resolve::new_key_id();
        let key = self
            .insert_key(self.new_record(&key_id, description.to_owned(), policy, KeyManager::Customer))
            .await?;
        match self.add_alias(alias, &key_id).await {
            Ok(()) => Ok(key_id),
            Err(KmsError::AlreadyExists(_)) => {
                self.delete_key_now(&key).await?;
                self.alias_target(alias).await
            }
            Err(error) => Err(error),
        }
    }

    // ----------------------------------------------------------------- tags

    pub(super) async fn tag_resource(
        &self,
        caller: &Caller,
        request: TagResourceRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:TagResource", event)
            .await?;
        check_tags(&request.tags)?;
        self.update_key(&key.record.key_id, |record, arn| {
            refuse_pending_deletion(record, arn)?;
            for tag in &request.tags {
                match record.tags.iter_mut().find(|t| t.key == tag.tag_key) {
                    Some(existing) => existing.value = tag.tag_value.clone(),
                    None => record.tags.push(Tag {
                        key: tag.tag_key.clone(),
                        value: tag.tag_value.clone(),
                    }),
                }
            }
            if record.tags.len() > MAX_TAGS {
                return Err(KmsError::Tag("Too many tags".to_owned()));
            }
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn untag_resource(
        &self,
        caller: &Caller,
        request: UntagResourceRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:UntagResource", event)
            .await?;
        self.update_key(&key.record.key_id, |record, arn| {
            refuse_pending_deletion(record, arn)?;
            record.tags.retain(|tag| !request.tag_keys.contains(&tag.key));
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn list_resource_tags(
        &self,
        caller: &Caller,
        request: ListRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(
                caller,
                request.key_id.as_deref().unwrap_or_default(),
                "kms:ListResourceTags",
                event,
            )
            .await?;
        let (page, next) = paginate(&key.record.tags, request.limit, request.marker.as_deref(), 50, |t| {
            t.key.clone()
        })?;
        let tags = page
            .iter()
            .map(|t| TagShape {
                tag_key: t.key.clone(),
                tag_value: t.value.clone(),
            })
            .collect();
        Ok(Output {
            tags: Some(tags),
            truncated: Some(next.is_some()),
            next_marker: next,
            ..Output::default()
        })
    }

    // ----------------------------------------------------------------- helpers

    /// KeyMetadata as DescribeKey shows it.
    pub(super) fn metadata(&self, key: &LoadedKey) -> KeyMetadata {
        let record = &key.record;
        KeyMetadata {
            aws_account_id: self.scope.account_id.clone(),
            key_id: record.key_id.clone(),
            arn: key.arn.clone(),
            creation_date: record.creation_date,
            enabled: record.state == KeyState::Enabled,
            description: record.description.clone(),
            key_usage: "ENCRYPT_DECRYPT",
            key_state: record.state.as_str(),
            deletion_date: record.deletion_date,
            origin: "AWS_KMS",
            key_manager: match record.key_manager {
                KeyManager::Customer => "CUSTOMER",
                KeyManager::Aws => "AWS",
            },
            customer_master_key_spec: "SYMMETRIC_DEFAULT",
            key_spec: "SYMMETRIC_DEFAULT",
            encryption_algorithms: ["SYMMETRIC_DEFAULT"],
            multi_region: false,
            current_key_material_id: record
                .versions
                .last()
                .map(|v| v.material_id.clone())
                .unwrap_or_default(),
        }
    }

    /// Resolves a key id; `alias/aws/s3` is created on first use, as AWS does.
    pub(super) async fn resolve_or_create_managed(&self, key_id: &str) -> Result<LoadedKey, KmsError> {
        match self.resolve(key_id).await {
            Err(KmsError::NotFound(_))
                if self.scope.parse(key_id) == Ok(resolve::KeyRef::Alias(AWS_S3_ALIAS.to_owned())) =>
            {
                self.create_managed_s3_key().await
            }
            other => other,
        }
    }

    async fn create_managed_s3_key(&self) -> Result<LoadedKey, KmsError> {
        let key_id = resolve::new_key_id();
        let description = "Default key that protects my S3 objects when no other key is defined".to_owned();
        let policy = managed_s3_policy(&self.scope.account_id, &self.scope.region);
        let mut record = self.new_record(&key_id, description, policy, KeyManager::Aws);
        record.rotation = Rotation {
            enabled: true,
            period_days: 365,
            next_rotation_date: Some(now() + 365.0 * 86_400.0),
            on_demand_count: 0,
        };
        let key = self.insert_key(record).await?;
        match self.add_alias(AWS_S3_ALIAS, &key_id).await {
            Ok(()) => Ok(key),
            Err(KmsError::AlreadyExists(_)) => {
                let _ = self.delete_key_now(&key).await;
                self.resolve(AWS_S3_ALIAS).await
            }
            Err(error) => Err(error),
        }
    }
}

/// The key policy AWS gives `aws/s3` keys: any principal of the account, through S3 only, plus
/// read access for the account.
fn managed_s3_policy(account: &str, region: &str) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "auto-s3-2",
  "Statement" : [ {{
    "Sid" : "Allow access through S3 for all principals in the account that are authorized to use S3",
    "Effect" : "Allow",
    "Principal" : {{ "AWS" : "*" }},
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : {{ "StringEquals" : {{ "kms:CallerAccount" : "{account}", "kms:ViaService" : "s3.{region}.amazonaws.com" }} }}
  }}, {{
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : {{ "AWS" : "arn:aws:iam::{account}:root" }},
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*" ],
    "Resource" : "*"
  }} ]
}}"#
    )
}

/// Only symmetric AES-256-GCM keys exist here.
fn check_symmetric(request: &CreateKeyRequest) -> Result<(), KmsError> {
    for spec in [&request.key_spec, &request.customer_master_key_spec]
        .into_iter()
        .flatten()
    {
        if spec != "SYMMETRIC_DEFAULT" {
            return Err(KmsError::UnsupportedOperation(format!(
                "KeySpec {spec} is not supported by s3kms: only SYMMETRIC_DEFAULT keys."
            )));
        }
    }
    if let Some(usage) = request.key_usage.as_deref().filter(|u| *u != "ENCRYPT_DECRYPT") {
        return Err(KmsError::UnsupportedOperation(format!(
            "KeyUsage {usage} is not supported by s3kms."
        )));
    }
    if let Some(origin) = request.origin.as_deref().filter(|o| *o != "AWS_KMS") {
        return Err(KmsError::UnsupportedOperation(format!(
            "Origin {origin} is not supported by s3kms."
        )));
    }
    if request.multi_region {
        return Err(KmsError::UnsupportedOperation(
            "Multi-Region keys are not supported by s3kms.".to_owned(),
        ));
    }
    Ok(())
}

fn check_description(description: &str) -> Result<(), KmsError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(KmsError::validation(
            "description",
            None,
            "Member must have length less than or equal to 8192",
        ));
    }
    Ok(())
}

fn check_tags(tags: &[TagShape]) -> Result<(), KmsError> {
    if tags.len() > MAX_TAGS {
        return Err(KmsError::Tag("Too many tags".to_owned()));
    }
    for (index, tag) in tags.iter().enumerate() {
        if tag.tag_key.is_empty() || tag.tag_key.chars().count() > 128 {
            return Err(KmsError::validation(
                &format!("tags.{}.member.tagKey", index + 1),
                Some(&tag.tag_key),
                "Member must have length less than or equal to 128",
            ));
        }
        if tag.tag_value.chars().count() > 256 {
            return Err(KmsError::validation(
                &format!("tags.{}.member.tagValue", index + 1),
                Some(&tag.tag_value),
                "Member must have length less than or equal to 256",
            ));
        }
        if tag.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(KmsError::Tag("Tags beginning with aws: are reserved".to_owned()));
        }
        if tags[..index].iter().any(|t| t.tag_key == tag.tag_key) {
            return Err(KmsError::Tag("Duplicate tag keys".to_owned()));
        }
    }
    Ok(())
}

fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    match name {
        None | Some("default") => Ok(()),
        Some(_) => Err(KmsError::NotFound("No such policy exists".to_owned())),
    }
}

/// Operations that use a key's material (and CreateGrant) need it enabled:
/// `<arn> is disabled.` / `<arn> is pending deletion.` otherwise.
pub(super) fn require_enabled(state: KeyState, arn: &str) -> Result<(), KmsError> {
    match state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::disabled(arn)),
        KeyState::PendingDeletion => Err(KmsError::pending_deletion(arn)),
    }
}

/// `<arn> is pending deletion.` for operations a pending key refuses.
pub(super) fn refuse_pending_deletion(record: &KeyRecord, arn: &str) -> Result<(), KmsError> {
    if record.state == KeyState::PendingDeletion {
        return Err(KmsError::pending_deletion(arn));
    }
    Ok(())
}

/// One page of `items` after `marker`; the marker is the last item's `id`.
pub(super) fn paginate<'a, T>(
    items: &'a [T],
    limit: Option<i64>,
    marker: Option<&str>,
    default_limit: usize,
    id: impl Fn(&T) -> String,
) -> Result<(&'a [T], Option<String>), KmsError> {
    let limit = match limit {
        None => default_limit,
        Some(limit) if (1..=1000).contains(&limit) => limit as usize,
        Some(limit) => return Err(KmsError::out_of_range("limit", limit, 1, 1000)),
    };
    let start = match marker {
        None => 0,
        Some(marker) => match items.iter().position(|item| id(item) == marker) {
            Some(position) => position + 1,
            None => return Err(KmsError::InvalidMarker("Invalid marker".to_owned())),
        },
    };
    let end = (start + limit).min(items.len());
    let page = &items[start..end];
    let next = (end < items.len()).then(|| page.last().map(&id)).flatten();
    Ok((page, next))
}
