//! Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases, and alias resolution.
//!
//! One record per alias (`aliases/<name, `/` escaped>.json`), unique per account and region.
//! Permission, as in AWS: the alias action on the key (key policy); `kms:ListAliases` is IAM-only.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

use super::keys::{AWS_S3_ALIAS, refuse_pending_deletion};
use super::model::{AliasRecord, KeyManager};
use super::shapes::*;
use super::store::Expect;
use super::{Caller, Event, Kms, KmsError, internal, now};

const ALIAS_FILE_ESCAPES: &AsciiSet = &CONTROLS.add(b'/').add(b'%');
const MAX_ALIAS_LENGTH: usize = 256;

impl Kms {
    pub(super) async fn create_alias(
        &self,
        caller: &Caller,
        request: AliasRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        check_alias_name(&request.alias_name)?;
        let target = request.target_key_id.as_deref().unwrap_or_default();
        let key = self.authorized_key(caller, target, "kms:CreateAlias", event).await?;
        refuse_pending_deletion(&key.record, &key.arn)?;
        if key.record.key_manager == KeyManager::Aws {
            return Err(KmsError::UnsupportedOperation(
                "An alias cannot point to an AWS managed key.".to_owned(),
            ));
        }
        self.add_alias(&request.alias_name, &key.record.key_id).await?;
        Ok(Output::default())
    }

    pub(super) async fn update_alias(
        &self,
        caller: &Caller,
        request: AliasRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        check_alias_name(&request.alias_name)?;
        let (alias, version) = self.alias_record(&request.alias_name).await?;
        let old = self.load_key(&alias.target_key_id).await?;
        let target = request.target_key_id.as_deref().unwrap_or_default();
        let new = self.resolve_key(target).await?;
        event.key(&old.arn);
        event.key(&new.arn);
        self.authorize(caller, &old, "kms:UpdateAlias", None)?;
        self.authorize(caller, &new, "kms:UpdateAlias", None)?;
        refuse_pending_deletion(&new.record, &new.arn)?;
        let updated = AliasRecord {
            target_key_id: new.record.key_id.clone(),
            last_updated_date: now(),
            ..alias
        };
        let bytes = serde_json::to_vec_pretty(&updated).map_err(|e| KmsError::Internal(e.to_string()))?;
        self.store
            .put(&alias_path(&request.alias_name), &bytes, Expect::Version(version))
            .await
            .map_err(internal)?;
        Ok(Output::default())
    }

    pub(super) async fn delete_alias(
        &self,
        caller: &Caller,
        request: AliasRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        check_alias_name(&request.alias_name)?;
        let (alias, _) = self.alias_record(&request.alias_name).await?;
        let key = self.load_key(&alias.target_key_id).await?;
        event.key(&key.arn);
        self.authorize(caller, &key, "kms:DeleteAlias", None)?;
        self.remove_alias(&request.alias_name).await?;
        Ok(Output::default())
    }

    pub(super) async fn list_aliases(&self, caller: &Caller, request: ListRequest) -> Result<Output, KmsError> {
        self.authorize_iam(caller, "kms:ListAliases")?;
        let filter = match request.key_id.as_deref() {
            Some(key_id) => Some(self.resolve_key(key_id).await?.record.key_id),
            None => None,
        };
        let mut entries: Vec<AliasListEntry> = self
            .all_aliases()
            .await?
            .into_iter()
            .filter(|alias| filter.as_ref().is_none_or(|id| *id == alias.target_key_id))
            .map(|alias| AliasListEntry {
                alias_arn: self.scope.alias_arn(&alias.alias_name),
                alias_name: alias.alias_name,
                target_key_id: Some(alias.target_key_id),
                creation_date: Some(alias.creation_date),
                last_updated_date: Some(alias.last_updated_date),
            })
            .collect();
        if filter.is_none() && !entries.iter().any(|e| e.alias_name == AWS_S3_ALIAS) {
            entries.push(AliasListEntry {
                alias_name: AWS_S3_ALIAS.to_owned(),
                alias_arn: self.scope.alias_arn(AWS_S3_ALIAS),
                target_key_id: None,
                creation_date: None,
                last_updated_date: None,
            });
        }
        entries.sort_by(|a, b| a.alias_name.cmp(&b.alias_name));
        let page = request.page(&entries, 50, |e| e.alias_name.clone())?;
        Ok(page.output(|output, items| output.aliases = Some(items.to_vec())))
    }

    /// The key id an alias points to.
    pub(super) async fn alias_target(&self, alias_name: &str) -> Result<String, KmsError> {
        Ok(self.alias_record(alias_name).await?.0.target_key_id)
    }

    /// Creates an alias record; `AlreadyExistsException` if the name is taken.
    pub(super) async fn add_alias(&self, alias_name: &str, key_id: &str) -> Result<(), KmsError> {
        let record = AliasRecord {
            alias_name: alias_name.to_owned(),
            target_key_id: key_id.to_owned(),
            creation_date: now(),
            last_updated_date: now(),
        };
        let bytes = serde_json::to_vec_pretty(&record).map_err(|e| KmsError::Internal(e.to_string()))?;
        match self.store.put(&alias_path(alias_name), &bytes, Expect::Absent).await {
            Ok(_) => Ok(()),
            Err(super::store::StoreError::Conflict(_)) => Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                self.scope.alias_arn(alias_name)
            ))),
            Err(error) => Err(internal(error)),
        }
    }

    /// Deletes an alias record (if it still exists).
    pub(super) async fn remove_alias(&self, alias_name: &str) -> Result<(), KmsError> {
        let path = alias_path(alias_name);
        if let Some((_, version)) = self.store.get(&path).await.map_err(internal)? {
            self.store.delete(&path, &version).await.map_err(internal)?;
        }
        Ok(())
    }

    /// The aliases that point to a key.
    pub(super) async fn aliases_of(&self, key_id: &str) -> Result<Vec<AliasRecord>, KmsError> {
        Ok(self
            .all_aliases()
            .await?
            .into_iter()
            .filter(|a| a.target_key_id == key_id)
            .collect())
    }

    /// Every alias record. One that does not parse is logged and left out, so that one damaged
    /// record does not hide all the others (resolving it fails, naming it).
    async fn all_aliases(&self) -> Result<Vec<AliasRecord>, KmsError> {
        let mut aliases = Vec::new();
        for path in self.store.list("aliases/").await.map_err(internal)? {
            let Some((bytes, _)) = self.store.get(&path).await.map_err(internal)? else {
                continue;
            };
            match serde_json::from_slice(&bytes) {
                Ok(alias) => aliases.push(alias),
                Err(error) => {
                    let error = KmsError::corrupt_record(&path, &error);
                    tracing::error!(detail = ?error, "an alias record cannot be read; aliases are listed without it");
                }
            }
        }
        Ok(aliases)
    }

    async fn alias_record(&self, alias_name: &str) -> Result<(AliasRecord, super::store::Version), KmsError> {
        let path = alias_path(alias_name);
        let Some((bytes, version)) = self.store.get(&path).await.map_err(internal)? else {
            return Err(KmsError::NotFound(format!(
                "Alias {} is not found.",
                self.scope.alias_arn(alias_name)
            )));
        };
        let alias = serde_json::from_slice(&bytes).map_err(|e| KmsError::corrupt_record(&path, &e))?;
        Ok((alias, version))
    }
}

fn alias_path(alias_name: &str) -> String {
    format!("aliases/{}.json", utf8_percent_encode(alias_name, ALIAS_FILE_ESCAPES))
}

/// Decodes an alias file name back to the alias name.
#[cfg(test)]
fn alias_from_path(path: &str) -> Option<String> {
    let name = path.strip_prefix("aliases/")?.strip_suffix(".json")?;
    percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()
        .map(|n| n.into_owned())
}

fn check_alias_name(name: &str) -> Result<(), KmsError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsError::Validation(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".to_owned(),
        ));
    };
    if name.len() > MAX_ALIAS_LENGTH || rest.is_empty() {
        return Err(KmsError::validation(
            "aliasName",
            Some(name),
            "Member must have length less than or equal to 256",
        ));
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b)) {
        return Err(KmsError::InvalidAliasName(format!(
            "{name} contains invalid characters for an alias"
        )));
    }
    if rest.starts_with("aws/") {
        return Err(KmsError::InvalidAliasName(format!(
            "{name} is reserved: aliases beginning with alias/aws/ are for AWS managed keys"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_paths_round_trip_and_stay_flat() {
        let path = alias_path("alias/team/app-1");
        assert_eq!(path, "aliases/alias%2Fteam%2Fapp-1.json");
        assert_eq!(alias_from_path(&path).as_deref(), Some("alias/team/app-1"));
    }

    #[test]
    fn alias_names_follow_aws_rules() {
        assert!(check_alias_name("alias/app_1-x/y").is_ok());
        assert!(check_alias_name("app").is_err());
        assert!(check_alias_name("alias/").is_err());
        assert!(check_alias_name("alias/Service:Test").is_err());
        assert!(check_alias_name("alias/aws/s3").is_err());
    }
}
