//! Key lifecycle: CreateKey, DescribeKey, ListKeys, Enable/DisableKey, Schedule/CancelKeyDeletion,
//! UpdateKeyDescription, declared keys and the AWS-managed `aws/s3` key — with AWS's state rules
//! and texts. Key policies are in `key_policy.rs`, tags in `tags.rs`.

use super::model::{KeyManager, KeyRecord, KeyState, Rotation, Tag};
use super::shapes::*;
use super::store::Expect;
use super::tags::check_tags;
use super::{Caller, Event, Kms, KmsError, LoadedKey, internal, key_path, now, resolve};
use crate::policy;

/// The AWS-managed key that S3 uses when no key id is given.
pub const AWS_S3_ALIAS: &str = "alias/aws/s3";
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
        let page = request.page(&ids, 100, |id| id.clone())?;
        let entry = |id: &String| KeyListEntry {
            key_id: id.clone(),
            key_arn: self.scope.key_arn(id),
        };
        Ok(page.output(|output, ids| output.keys = Some(ids.iter().map(entry).collect())))
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

    /// Makes sure a key declared in the config exists under `alias` (created if absent, as
    /// the operator, without a caller's authorization). Returns its key id.
    pub async fn ensure_declared_key(
        &self,
        alias: &str,
        description: &str,
        policy: Option<&str>,
    ) -> Result<String, KmsError> {
        match self.alias_target(alias).await {
            Err(KmsError::NotFound(_)) => {}
            // An alias record that exists but cannot be read is reported, never replaced.
            found => return found,
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
