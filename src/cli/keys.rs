//! `s3kms keys`: manage KMS keys, aliases, rotation and key policies of a running s3kms.
//!
//! Owns: the subcommands and their flags, choosing the endpoint and credential from the
//! config, the KMS calls each subcommand makes (pagination included), and the exit status.
//!
//! Does not: touch the key store. Every change goes through the KMS API, signed as a
//! configured user, so it is authorized by key policies and recorded in the audit trail like
//! any other client's. How results look is [`super::keys_view`]'s business.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use s3kms::config::{Config, ConfigError, UserConfig};
use s3kms::kms_client::{ClientError, KmsClient};
use serde_json::{Value, json};

use super::keys_view::{self, KeyRow};

/// `s3kms keys`: the global flags apply to every subcommand.
#[derive(Args)]
pub struct KeysArgs {
    /// The configuration file: the endpoint is http://<listen>, and it holds the region and
    /// the users' credentials.
    #[arg(long, default_value = "config.toml", global = true)]
    config: PathBuf,
    /// Sign as this [[users]] entry (default: the first user in the config).
    #[arg(long, value_name = "NAME", global = true)]
    user: Option<String>,
    /// Call this endpoint (http://host:port) instead of http://<listen> from the config.
    #[arg(long, value_name = "URL", global = true)]
    endpoint: Option<String>,
    /// Print the KMS API's JSON output instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: KeysCommand,
}

/// KEY is a key id, key ARN, alias name (alias/…) or alias ARN everywhere.
#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key (CreateKey), and optionally its alias.
    Create {
        /// The key's description.
        #[arg(long, value_name = "D")]
        description: Option<String>,
        /// Also create this alias (alias/…) for the new key.
        #[arg(long, value_name = "A")]
        alias: Option<String>,
        /// The key policy, a JSON file (default: AWS's default key policy).
        #[arg(long, value_name = "F")]
        policy_file: Option<PathBuf>,
        /// A tag, KEY=VALUE; repeat for more.
        #[arg(long = "tag", value_name = "K=V", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
    /// List keys with their state, aliases and description (ListKeys, ListAliases, then
    /// DescribeKey per key).
    List,
    /// Show one key (DescribeKey) and its aliases.
    Describe {
        /// The key.
        key: String,
    },
    /// Enable a disabled key (EnableKey).
    Enable {
        /// The key.
        key: String,
    },
    /// Disable a key: it can no longer encrypt or decrypt until enabled (DisableKey).
    Disable {
        /// The key.
        key: String,
    },
    /// Rotate a key now: new encryptions use new key material, old data still decrypts
    /// (RotateKeyOnDemand).
    Rotate {
        /// The key.
        key: String,
    },
    /// Turn automatic rotation on or off, or show it (Enable/DisableKeyRotation,
    /// GetKeyRotationStatus).
    Rotation(RotationArgs),
    /// Schedule a key's deletion after a waiting period (ScheduleKeyDeletion).
    ScheduleDeletion {
        /// The key.
        key: String,
        /// The waiting period, 7 to 30 days (default 30).
        #[arg(long, value_name = "N")]
        days: Option<i64>,
    },
    /// Cancel a scheduled deletion; the key is left disabled (CancelKeyDeletion).
    CancelDeletion {
        /// The key.
        key: String,
    },
    /// Create, repoint, delete and list aliases.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// Read or replace a key policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

/// `keys rotation KEY --enable [--period-days N] | --disable | --status`.
#[derive(Args)]
#[command(group(ArgGroup::new("action").required(true).args(["enable", "disable", "status"])))]
struct RotationArgs {
    /// The key.
    key: String,
    /// Rotate automatically (EnableKeyRotation).
    #[arg(long)]
    enable: bool,
    /// Days between automatic rotations, 90 to 2560 (default 365); with --enable.
    #[arg(long, value_name = "N", requires = "enable")]
    period_days: Option<i64>,
    /// Stop rotating automatically (DisableKeyRotation).
    #[arg(long)]
    disable: bool,
    /// Show whether and when the key rotates (GetKeyRotationStatus).
    #[arg(long)]
    status: bool,
}

#[derive(Subcommand)]
enum AliasCommand {
    /// Create alias A (alias/…) pointing to KEY (CreateAlias).
    Create {
        /// The alias name, alias/….
        alias: String,
        /// The key it points to.
        key: String,
    },
    /// Point alias A to another key (UpdateAlias).
    Update {
        /// The alias name, alias/….
        alias: String,
        /// The key it points to from now on.
        key: String,
    },
    /// Delete alias A; the key is untouched (DeleteAlias).
    Delete {
        /// The alias name, alias/….
        alias: String,
    },
    /// List aliases (ListAliases).
    List {
        /// Only the aliases of this key.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Print a key's policy document (GetKeyPolicy).
    Get {
        /// The key.
        key: String,
    },
    /// Replace a key's policy with the JSON document in FILE (PutKeyPolicy).
    Put {
        /// The key.
        key: String,
        /// The policy document, a JSON file.
        file: PathBuf,
        /// Skip the check that the new policy still lets you manage the key. Dangerous: the
        /// key can become unmanageable.
        #[arg(long)]
        bypass_lockout_check: bool,
    },
}

/// Why `s3kms keys` failed.
#[derive(Debug, thiserror::Error)]
enum KeysError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no user named {name:?} in {config} (its users: {known})")]
    UnknownUser {
        name: String,
        config: String,
        known: String,
    },
    #[error(
        "{config} listens on port 0 (chosen at start): pass --endpoint http://HOST:PORT as `s3kms serve` printed it"
    )]
    UnknownPort { config: String },
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}", client_message(.0, .1))]
    Client(ClientError, String),
    #[error("{alias} already exists (it points to {key_id}); no key was created")]
    AliasExists { alias: String, key_id: String },
    #[error("key {key_id} was created, but not its alias: {source}")]
    AliasNotCreated { key_id: String, source: Box<KeysError> },
}

/// Runs `s3kms keys …` and prints its output; errors go to stderr with exit status 1.
pub fn run(args: KeysArgs) -> ExitCode {
    match execute(args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("s3kms: {error}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn execute(args: KeysArgs) -> Result<String, KeysError> {
    let session = Session::open(&args)?;
    let shown = match args.command {
        KeysCommand::Create {
            description,
            alias,
            policy_file,
            tags,
        } => session.create(description, alias, policy_file.as_deref(), tags).await?,
        KeysCommand::List => session.list().await?,
        KeysCommand::Describe { key } => session.describe(&key).await?,
        KeysCommand::Enable { key } => session.simple("EnableKey", &key, "enabled").await?,
        KeysCommand::Disable { key } => session.simple("DisableKey", &key, "disabled").await?,
        KeysCommand::Rotate { key } => session.rotate(&key).await?,
        KeysCommand::Rotation(rotation) => session.rotation(rotation).await?,
        KeysCommand::ScheduleDeletion { key, days } => session.schedule_deletion(&key, days).await?,
        KeysCommand::CancelDeletion { key } => session.cancel_deletion(&key).await?,
        KeysCommand::Alias(command) => session.alias(command).await?,
        KeysCommand::Policy(command) => session.policy(command).await?,
    };
    Ok(shown)
}

/// A client for the chosen endpoint and user, and how to show results.
struct Session {
    client: KmsClient,
    json: bool,
    /// `--config FILE`, for `s3kms serve --config FILE` in the connection hint.
    config: String,
}

impl Session {
    fn open(args: &KeysArgs) -> Result<Session, KeysError> {
        let config_name = args.config.display().to_string();
        let config = Config::load(&args.config)?;
        let user = user(&config, args.user.as_deref(), &config_name)?;
        let endpoint = match &args.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => endpoint(&config, &config_name)?,
        };
        let client = KmsClient::new(
            &endpoint,
            &config.region,
            &user.access_key_id,
            user.secret_access_key.clone(),
        )
        .map_err(|error| KeysError::Client(error, config_name.clone()))?;
        Ok(Session {
            client,
            json: args.json,
            config: config_name,
        })
    }

    async fn call(&self, operation: &str, input: Value) -> Result<Value, KeysError> {
        self.client
            .call(operation, input)
            .await
            .map_err(|error| KeysError::Client(error, self.config.clone()))
    }

    /// The key id of KEY in any form. Most operations take only a key id or ARN, as in AWS;
    /// an alias is resolved with DescribeKey, which takes every form.
    async fn key_id(&self, key: &str) -> Result<String, KeysError> {
        if !is_alias(key) {
            return Ok(key.to_owned());
        }
        let described = self.call("DescribeKey", json!({"KeyId": key})).await?;
        Ok(described["KeyMetadata"]["KeyId"].as_str().unwrap_or(key).to_owned())
    }

    /// `json` as printed by `--json`, else `text()`.
    fn show(&self, json: &Value, text: impl FnOnce() -> String) -> String {
        if self.json { keys_view::json(json) } else { text() }
    }

    async fn create(
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
        Ok(self.show(&created, || keys_view::key(metadata, &aliases)))
    }

    /// Fails if `alias` exists, so that `create --alias` does not leave a key without it in
    /// the common case (CreateAlias can still lose a race, reported as AliasNotCreated).
    async fn refuse_existing_alias(&self, alias: &str) -> Result<(), KeysError> {
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

    async fn list(&self) -> Result<String, KeysError> {
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
        Ok(self.show(&document, || keys_view::key_table(&rows)))
    }

    async fn describe(&self, key: &str) -> Result<String, KeysError> {
        let described = self.call("DescribeKey", json!({"KeyId": key})).await?;
        if self.json {
            return Ok(keys_view::json(&described));
        }
        let metadata = &described["KeyMetadata"];
        let key_id = metadata["KeyId"].as_str().unwrap_or_default();
        let aliases = self
            .paginate("ListAliases", json!({"KeyId": key_id}), "Aliases")
            .await?;
        Ok(keys_view::key(metadata, &aliases_of(&aliases, key_id)))
    }

    /// An operation that takes only a key and answers nothing.
    async fn simple(&self, operation: &str, key: &str, done: &str) -> Result<String, KeysError> {
        let key_id = self.key_id(key).await?;
        let output = self.call(operation, json!({"KeyId": key_id})).await?;
        Ok(self.show(&output, || format!("{key}: {done}\n")))
    }

    async fn rotate(&self, key: &str) -> Result<String, KeysError> {
        let key_id = self.key_id(key).await?;
        let output = self.call("RotateKeyOnDemand", json!({"KeyId": key_id})).await?;
        Ok(self.show(&output, || {
            format!("{key}: rotated (new encryptions use new key material; older data still decrypts)\n")
        }))
    }

    async fn rotation(&self, args: RotationArgs) -> Result<String, KeysError> {
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
            return Ok(keys_view::json(&output));
        }
        let status = if args.status {
            output
        } else {
            self.call("GetKeyRotationStatus", json!({"KeyId": key_id})).await?
        };
        Ok(keys_view::rotation(key, &status))
    }

    async fn schedule_deletion(&self, key: &str, days: Option<i64>) -> Result<String, KeysError> {
        let mut input = json!({"KeyId": self.key_id(key).await?});
        if let Some(days) = days {
            input["PendingWindowInDays"] = json!(days);
        }
        let output = self.call("ScheduleKeyDeletion", input).await?;
        Ok(self.show(&output, || keys_view::deletion_scheduled(key, &output)))
    }

    async fn cancel_deletion(&self, key: &str) -> Result<String, KeysError> {
        let key_id = self.key_id(key).await?;
        let output = self.call("CancelKeyDeletion", json!({"KeyId": key_id})).await?;
        Ok(self.show(&output, || {
            format!("{key}: deletion cancelled; the key is Disabled (s3kms keys enable {key} to use it again)\n")
        }))
    }

    async fn alias(&self, command: AliasCommand) -> Result<String, KeysError> {
        let (operation, input, done) = match command {
            AliasCommand::List { key } => {
                let input = match key {
                    Some(key) => json!({"KeyId": self.key_id(&key).await?}),
                    None => json!({}),
                };
                let aliases = self.paginate("ListAliases", input, "Aliases").await?;
                let document = json!({"Aliases": aliases});
                return Ok(self.show(&document, || keys_view::alias_table(&aliases)));
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

    async fn policy(&self, command: PolicyCommand) -> Result<String, KeysError> {
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
    async fn paginate(&self, operation: &str, mut input: Value, member: &str) -> Result<Vec<Value>, KeysError> {
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

/// The config's user `name`, or its first user.
fn user<'a>(config: &'a Config, name: Option<&str>, config_name: &str) -> Result<&'a UserConfig, KeysError> {
    let found = match name {
        Some(name) => config.users.iter().find(|user| user.name == name),
        None => config.users.first(),
    };
    found.ok_or_else(|| KeysError::UnknownUser {
        name: name.unwrap_or_default().to_owned(),
        config: config_name.to_owned(),
        known: config
            .users
            .iter()
            .map(|user| user.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// `http://<listen>`, with a wildcard address replaced by loopback.
fn endpoint(config: &Config, config_name: &str) -> Result<String, KeysError> {
    let mut address = config.listen;
    if address.port() == 0 {
        return Err(KeysError::UnknownPort {
            config: config_name.to_owned(),
        });
    }
    if address.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        address.set_ip(loopback);
    }
    Ok(format!("http://{address}"))
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

/// `--tag K=V`.
fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

/// A client error as the operator should read it; `config` names the config file.
fn client_message(error: &ClientError, config: &str) -> String {
    match error {
        ClientError::Connect { endpoint, reason } => format!(
            "cannot connect to s3kms at {endpoint} ({reason}); is it running? Start it with `s3kms serve --config {config}`, or pass --endpoint"
        ),
        other => other.to_string(),
    }
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

    #[test]
    fn tags_need_a_key_and_an_equals_sign() {
        assert_eq!(parse_tag("team=storage").unwrap(), ("team".into(), "storage".into()));
        assert_eq!(parse_tag("empty=").unwrap(), ("empty".into(), String::new()));
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_tag("nope").is_err());
        assert!(parse_tag("=v").is_err());
    }

    #[test]
    fn the_endpoint_is_the_listen_address_with_wildcards_made_local() {
        let config = |listen: &str| {
            let text = format!(
                "listen = \"{listen}\"\ndata_dir = \"d\"\n[[users]]\nname = \"a\"\naccess_key_id = \"AKIAA\"\nsecret_access_key = \"secret-a-123\"\n"
            );
            Config::parse(&text, Path::new("/")).unwrap()
        };
        assert_eq!(
            endpoint(&config("127.0.0.1:7070"), "c").unwrap(),
            "http://127.0.0.1:7070"
        );
        assert_eq!(endpoint(&config("0.0.0.0:80"), "c").unwrap(), "http://127.0.0.1:80");
        assert_eq!(endpoint(&config("[::]:7070"), "c").unwrap(), "http://[::1]:7070");
        assert!(matches!(
            endpoint(&config("127.0.0.1:0"), "c"),
            Err(KeysError::UnknownPort { .. })
        ));
    }
}
