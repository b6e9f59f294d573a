//! `s3kms keys`: manage KMS keys, aliases, rotation and key policies of a running s3kms.
//!
//! Owns: the subcommands and their flags, choosing the endpoint and credential from the
//! config, errors as the operator reads them, and the exit status.
//!
//! Does not: touch the key store. Every change goes through the KMS API, signed as a
//! configured user, so it is authorized by key policies and recorded in the audit trail like
//! any other client's. The calls are [`calls`]'s, how results look [`view`]'s.

mod calls;
mod view;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Subcommand};
use s3kms::kms_client::ClientError;

use calls::Session;

/// `s3kms keys`: the global flags apply to every subcommand.
#[derive(Args)]
pub struct KeysArgs {
    #[command(flatten)]
    connection: super::ConnectionArgs,
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
    Open(#[from] super::OpenError),
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
    fn tags_need_a_key_and_an_equals_sign() {
        assert_eq!(parse_tag("team=storage").unwrap(), ("team".into(), "storage".into()));
        assert_eq!(parse_tag("empty=").unwrap(), ("empty".into(), String::new()));
        assert_eq!(parse_tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_tag("nope").is_err());
        assert!(parse_tag("=v").is_err());
    }
}
