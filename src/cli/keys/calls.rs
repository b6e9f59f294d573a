//! The KMS calls behind each `s3kms keys` subcommand: which operations, in which order,
//! with pagination and alias resolution, and what each prints.
//!
//! Does not: parse flags or choose the endpoint (the parent module does), or format beyond a
//! sentence ([`super::view`] does blocks and tables).

use std::path::Path;

use s3kms::kms_client::{ClientError, KmsClient};
use serde_json::{Value, json};

use super::view::{self, KeyRow};
use super::{AliasCommand, KeysArgs, KeysError, PolicyCommand, RotationArgs};

/// A client for the chosen endpoint and user, and how to show results.
pub(super) struct Session {
    client: KmsClient,
    json: bool,
    /// `--config FILE`, for `s3kms serve --config FILE` in the connection hint.
    config: String,
}

impl Session {
    pub(super) fn open(args: &KeysArgs) -> Result<Session, KeysError> {
        let config_name = args.connection.config_name();
        let (config, connection) = args.connection.open()?;
        let client = connection
            .kms_client(&config.region)
            .map_err(|error| KeysError::Client(error, config_name.clone()))?;
        Ok(Session {
            client,
            json: args.json,
            config: config_name,
        })
    }

    pub(super) async fn call(&self, operation: &str, input: Value) -> Result<Value, KeysError> {
        self.client
            .call(operation, input)
            .await
            .map_err(|error| KeysError::Client(error, self.config.clone()))
    }

    /// The key id of KEY in any form. Most operations take only a key id or ARN, as in AWS;
    /// an alias is resolved with DescribeKey, which takes every form.
    pub(super) async fn key_id(&self, key: &str) -> Result<String, KeysError> {
        if !is_alias(key) {
            return Ok(key.to_owned());
        }
        let described = self.call("DescribeKey", json!({"KeyId": key})).await?;
        Ok(described["KeyMetadata"]["KeyId"].as_str().unwrap_or(key).to_owned())
    }

    /// `json` as printed by `--json`, else `text()`.
    fn show(&self, json: &Value, text: impl FnOnce() -> String) -> String {
        if self.json { view::json(json) } else { text() }
    }

    pub(super) async fn create(
        &self,
        description: Option<String>,
        alias: Option<String>,
        policy_file: Option<&Path>,
        tags: Vec<(String, String)>,
    ) -> Result<String, KeysError> {
        if let Some(alias) = &alias {
            self.refuse_existing_alias(alias).await?;
        }
        let mut input = json!({});
        if let Some(description) = description {
            input["Description"] = json!(description);
        }
        if let Some(path) = policy_file {
            input["Policy"] = json!(read(path)?);
        }
        if !tags.is_empty() {
            let tags: Vec<Value> = tags
                .into_iter()
                .map(|(key, value)| json!({"TagKey": key, "TagValue": value}))
                .collect();
            input["Tags"] = json!(tags);
        }
        let created = self.call("CreateKey", input).await?;
        let metadata = &created["KeyMetadata"];
        let key_id = metadata["KeyId"].as_str().unwrap_or_default().to_owned();
        if let Some(alias) = &alias {
            let request = json!({"AliasName": alias, "TargetKeyId": key_id});
            if let Err(error) = self.call("CreateAlias", request).await {
                return Err(KeysError::AliasNotCreated {
                    key_id,
                    source: Box::new(error),
                });
            }
        }
        let aliases: Vec<String> = alias.into_iter().collect();
        Ok(self.show(&created, || view::key(metadata, &aliases)))
    }

    /// Fails if `alias` exists, so that `create --alias` does not leave a key without it in
    /// the common case (CreateAlias can still lose a race, reported as AliasNotCreated).
    pub(super) async fn refuse_existing_alias(&self, alias: &str) -> Result<(), KeysError> {
        match self.call("DescribeKey", json!({"KeyId": alias})).await {
            Ok(described) => Err(KeysError::AliasExists {
                alias: alias.to_owned(),
                key_id: described["KeyMetadata"]["KeyId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            }),
            Err(KeysError::Client(ClientError::Service { code, .. }, _)) if code == "NotFoundException" => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub(super) async fn list(&self) -> Result<String, KeysError> {
        let keys = self.paginate("ListKeys", json!({}), "Keys").await?;
        let aliases = self.paginate("ListAliases", json!({}), "Aliases").await?;
        let mut rows = Vec::with_capacity(keys.len());
        for key in &keys {
            let key_id = key["KeyId"].as_str().unwrap_or_default();
            let metadata = match self.call("DescribeKey", json!({"KeyId": key_id})).await {
                Ok(described) => described["KeyMetadata"].clone(),
                // Deleted since ListKeys: no longer a key to show.
                Err(KeysError::Client(ClientError::Service { code, .. }, _)) if code == "NotFoundException" => continue,
                Err(error) => return Err(error),
            };
            rows.push(KeyRow {
                aliases: aliases_of(&aliases, key_id),
                metadata,
            });
        }
        let document = json!({"Keys": rows.iter().map(KeyRow::to_json).collect::<Vec<_>>()});
        Ok(self.show(&document, || view::key_table(&rows)))
    }

    pub(super) async fn describe(&self, key: &str) -> Result<String, KeysError> {
        let described = self.call("DescribeKey", json!({"KeyId": key})).await?;
        if self.json {
            return Ok(view::json(&described));
        }
        let metadata = &described["KeyMetadata"];
        let key_id = metadata["KeyId"].as_str().unwrap_or_default();
        let aliases = self
            .paginate("ListAliases", json!({"KeyId": key_id}), "Aliases")
            .await?;
        Ok(view::key(metadata, &aliases_of(&aliases, key_id)))
    }

    /// An operation that takes only a key and answers nothing.
    pub(super) async fn simple(&self, operation: &str, key: &str, done: &str) -> Result<String, KeysError> {
        let key_id = self.key_id(key).await?;
        let output = self.call(operation, json!({"KeyId": key_id})).await?;
        Ok(self.show(&output, || format!("{key}: {done}\n")))
    }

    pub(super) async fn rotate(&self, key: &str) -> Result<String, KeysError> {
        let key_id = self.key_id(key).await?;
        let output = self.call("RotateKeyOnDemand", json!({"KeyId": key_id})).await?;
        Ok(self.show(&output, || {
            format!("{key}: rotated (new encryptions use new key material; older data still decrypts)\n")
        }))
    }

    pub(super) async fn rotation(&self, args: RotationArgs) -> Result<String, KeysError> {
        let key = args.key.as_str();
        let key_id = self.key_id(key).await?;
        let output = if args.enable {
            let mut input = json!({"KeyId": key_id});
            if let Some(days) = args.period_days {
                input["RotationPeriodInDays"] = json!(days);
            }
            self.call("EnableKeyRotation", input).await?
        } else if args.disable {
            self.call("DisableKeyRotation", json!({"KeyId": key_id})).await?
        } else {
            self.call("GetKeyRotationStatus", json!({"KeyId": key_id})).await?
        };
        if self.json {
            return Ok(view::json(&output));
        }
        let status = if args.status {
            output
        } else {
            self.call("GetKeyRotationStatus", json!({"KeyId": key_id})).await?
        };
        Ok(view::rotation(key, &status))
    }

    pub(super) async fn schedule_deletion(&self, key: &str, days: Option<i64>) -> Result<String, KeysError> {
        let mut input = json!({"KeyId": self.key_id(key).await?});
        if let Some(days) = days {
            input["PendingWindowInDays"] = json!(days);
        }
        let output = self.call("ScheduleKeyDeletion", input).await?;
        Ok(self.show(&output, || view::deletion_scheduled(key, &output)))
    }

    pub(super) async fn cancel_deletion(&self, key: &str) -> Result<String, KeysError> {
        let key_id = self.key_id(key).await?;
        let output = self.call("CancelKeyDeletion", json!({"KeyId": key_id})).await?;
        Ok(self.show(&output, || {
            format!("{key}: deletion cancelled; the key is Disabled (s3kms keys enable {key} to use it again)\n")
        }))
    }

    pub(super) async fn alias(&self, command: AliasCommand) -> Result<String, KeysError> {
        let (operation, input, done) = match command {
            AliasCommand::List { key } => {
                let input = match key {
                    Some(key) => json!({"KeyId": self.key_id(&key).await?}),
                    None => json!({}),
                };
                let aliases = self.paginate("ListAliases", input, "Aliases").await?;
                let document = json!({"Aliases": aliases});
                return Ok(self.show(&document, || view::alias_table(&aliases)));
            }
            AliasCommand::Create { alias, key } => {
                let done = format!("{alias} -> {key}\n");
                let target = self.key_id(&key).await?;
                ("CreateAlias", json!({"AliasName": alias, "TargetKeyId": target}), done)
            }
            AliasCommand::Update { alias, key } => {
                let done = format!("{alias} -> {key}\n");
                let target = self.key_id(&key).await?;
                ("UpdateAlias", json!({"AliasName": alias, "TargetKeyId": target}), done)
            }
            AliasCommand::Delete { alias } => {
                let done = format!("{alias}: deleted\n");
                ("DeleteAlias", json!({"AliasName": alias}), done)
            }
        };
        let output = self.call(operation, input).await?;
        Ok(self.show(&output, || done))
    }

    pub(super) async fn policy(&self, command: PolicyCommand) -> Result<String, KeysError> {
        match command {
            PolicyCommand::Get { key } => {
                let input = json!({"KeyId": self.key_id(&key).await?, "PolicyName": "default"});
                let output = self.call("GetKeyPolicy", input).await?;
                Ok(self.show(&output, || {
                    let policy = output["Policy"].as_str().unwrap_or_default();
                    format!("{}\n", policy.trim_end())
                }))
            }
            PolicyCommand::Put {
                key,
                file,
                bypass_lockout_check,
            } => {
                let input = json!({
                    "KeyId": self.key_id(&key).await?,
                    "PolicyName": "default",
                    "Policy": read(&file)?,
                    "BypassPolicyLockoutSafetyCheck": bypass_lockout_check,
                });
                let output = self.call("PutKeyPolicy", input).await?;
                Ok(self.show(&output, || format!("{key}: key policy replaced\n")))
            }
        }
    }

    /// Every entry of `member` over all pages of a Marker/NextMarker/Truncated operation.
    pub(super) async fn paginate(
        &self,
        operation: &str,
        mut input: Value,
        member: &str,
    ) -> Result<Vec<Value>, KeysError> {
        let mut entries = Vec::new();
        loop {
            let page = self.call(operation, input.clone()).await?;
            if let Some(values) = page[member].as_array() {
                entries.extend(values.iter().cloned());
            }
            let next = page["NextMarker"].as_str().filter(|_| page["Truncated"] == json!(true));
            match next {
                // A marker that does not move would loop for ever.
                Some(marker) if input["Marker"].as_str() != Some(marker) => input["Marker"] = json!(marker),
                _ => return Ok(entries),
            }
        }
    }
}

/// Whether KEY names an alias (`alias/…` or an alias ARN) rather than a key.
fn is_alias(key: &str) -> bool {
    key.starts_with("alias/") || (key.starts_with("arn:") && key.contains(":alias/"))
}

/// The names of the aliases (ListAliases entries) that point to `key_id`.
fn aliases_of(aliases: &[Value], key_id: &str) -> Vec<String> {
    aliases
        .iter()
        .filter(|alias| alias["TargetKeyId"].as_str() == Some(key_id))
        .filter_map(|alias| alias["AliasName"].as_str().map(str::to_owned))
        .collect()
}

fn read(path: &Path) -> Result<String, KeysError> {
    std::fs::read_to_string(path).map_err(|source| KeysError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_told_from_keys() {
        assert!(is_alias("alias/app"));
        assert!(is_alias("arn:aws:kms:us-east-1:111122223333:alias/app"));
        assert!(!is_alias("1234abcd-12ab-34cd-56ef-1234567890ab"));
        assert!(!is_alias(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        ));
    }
}
