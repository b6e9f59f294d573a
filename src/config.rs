//! The configuration file (`config.toml`): what the operator declares.
//!
//! Owns: parsing the TOML, applying defaults, and validating every key so that a bad file fails
//! at start with an error that names the key. It does not open sockets or touch `data_dir`.
//!
//! Invariants of a loaded [`Config`]: `account_id` is 12 digits; `region` is a plausible AWS
//! region name; user names and access key ids are unique; the upstream endpoint is an
//! `http://` URL with a host.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::policy::{PolicyDocument, PolicyKind};
use crate::sigv4::SecretKey;

/// The default listen address, shared by the example config and the README.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";

/// A loaded and validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address of the S3 + KMS listener.
    pub listen: SocketAddr,
    /// Address of the admin listener (`/health`, `/ready`, `/metrics`), if enabled.
    pub admin_listen: Option<SocketAddr>,
    /// Directory for the embedded store and s3kms's own state.
    pub data_dir: PathBuf,
    /// The 12-digit AWS account id that owns every user and key.
    pub account_id: String,
    /// The region this endpoint answers for (SigV4 scope, ARNs).
    pub region: String,
    /// Base domain for virtual-host-style addressing (`bucket.<domain>`), if enabled.
    pub domain: Option<String>,
    /// The users allowed to call the endpoint.
    pub users: Vec<UserConfig>,
    /// The S3 store in front of which s3kms sits; `None` means the embedded store.
    pub upstream: Option<UpstreamConfig>,
    /// Keys to create at start if their alias does not exist yet.
    pub keys: Vec<DeclaredKey>,
    /// Where the root key comes from, if not `<data_dir>/root.key` or `S3KMS_ROOT_KEY`.
    pub root_key_file: Option<PathBuf>,
    /// Where the KMS keeps its records.
    pub key_store: KeyStoreConfig,
    /// TLS for the S3 + KMS listener (HTTPS only when set).
    pub tls: Option<TlsConfig>,
    /// Limits that protect the listener from slow or oversized requests.
    pub limits: Limits,
    /// Buckets whose objects not written by s3kms (plaintext) are served as stored; in every
    /// other bucket such an object is refused rather than passed off as decrypted.
    pub plaintext_buckets: Vec<String>,
    /// Accept SSE-KMS reads and writes over plain HTTP (AWS refuses them; default false).
    pub allow_sse_kms_over_http: bool,
}

/// The `[limits]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Seconds a client may take to send a request's headers (slowloris guard).
    pub header_read_timeout_seconds: u64,
    /// A request body that sends nothing for this long is cut off with `400 RequestTimeout`.
    pub body_idle_timeout_seconds: u64,
    /// Largest request head (request line + headers) in bytes; larger ones get 431.
    pub max_header_bytes: usize,
    /// Most header fields in one request; more get 431.
    pub max_headers: usize,
    /// Most client connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read_timeout_seconds: 30,
            body_idle_timeout_seconds: 20,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_connections: 4096,
        }
    }
}

/// The `[tls]` table: the listener's certificate chain and private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// The `[key_store]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStoreConfig {
    /// Files under `<data_dir>/kms` (one instance).
    File,
    /// Objects in a bucket of the upstream (shared by several instances).
    S3 {
        /// The bucket (created if missing).
        bucket: String,
        /// A prefix for every record.
        prefix: String,
    },
}

/// One `[[keys]]` entry: a KMS key that must exist, found by its alias.
#[derive(Debug, Clone)]
pub struct DeclaredKey {
    /// `alias/…`.
    pub alias: String,
    /// The key's description.
    pub description: String,
    /// A key policy (JSON text); the default key policy when absent.
    pub policy: Option<String>,
}

/// One `[[users]]` entry.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// IAM-style user name; the principal is `arn:aws:iam::<account>:user/<name>`.
    pub name: String,
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// The matching secret access key.
    pub secret_access_key: SecretKey,
    /// The user's identity policies (IAM JSON documents), already validated.
    pub policies: Vec<PolicyDocument>,
}

/// The `[upstream]` table: a remote S3-compatible store and its service credential.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Base URL, e.g. `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// Region used to sign upstream requests.
    pub region: String,
    /// The service credential s3kms signs upstream requests with.
    pub access_key_id: String,
    /// Secret of the service credential.
    pub secret_access_key: SecretKey,
    /// For an `https://` endpoint: the CA certificates (PEM) to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
}

/// Why a configuration could not be loaded. Every variant names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a key has the wrong type or is unknown.
    #[error("config file {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and line.
        message: String,
    },
    /// A key has a value s3kms cannot use.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// Dotted name of the key, e.g. `users[1].access_key_id`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    admin_listen: Option<String>,
    data_dir: Option<PathBuf>,
    account_id: Option<String>,
    region: Option<String>,
    domain: Option<String>,
    #[serde(default)]
    users: Vec<RawUser>,
    upstream: Option<RawUpstream>,
    #[serde(default)]
    keys: Vec<RawKey>,
    root_key_file: Option<PathBuf>,
    key_store: Option<RawKeyStore>,
    tls: Option<RawTls>,
    limits: Option<RawLimits>,
    #[serde(default)]
    plaintext_buckets: Vec<String>,
    #[serde(default)]
    allow_sse_kms_over_http: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    header_read_timeout_seconds: Option<u64>,
    body_idle_timeout_seconds: Option<u64>,
    max_header_bytes: Option<usize>,
    max_headers: Option<usize>,
    max_connections: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: PathBuf,
    key_file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyStore {
    r#type: String,
    bucket: Option<String>,
    prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    alias: String,
    #[serde(default)]
    description: String,
    policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    access_key_id: String,
    secret_access_key: String,
    policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    endpoint: String,
    ca_file: Option<PathBuf>,
    region: Option<String>,
    access_key_id: String,
    secret_access_key: String,
}

impl Config {
    /// Reads and validates a config file. Relative `data_dir` paths are resolved against the
    /// directory that holds the file, so the example works from any working directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|err| match err {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates config text; `base` resolves a relative `data_dir`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| ConfigError::Syntax {
            path: PathBuf::new(),
            message: err.to_string(),
        })?;
        let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = listen
            .parse()
            .map_err(|_| invalid("listen", "expected an address like 127.0.0.1:7070"))?;
        let data_dir = raw.data_dir.ok_or_else(|| invalid("data_dir", "is required"))?;
        let data_dir = if data_dir.is_absolute() {
            data_dir
        } else {
            base.join(data_dir)
        };
        let account_id = raw.account_id.unwrap_or_else(|| "111122223333".to_owned());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("account_id", "must be exactly 12 digits"));
        }
        let region = raw.region.unwrap_or_else(|| "us-east-1".to_owned());
        check_region("region", &region)?;
        let domain = raw.domain.filter(|d| !d.is_empty());
        if let Some(domain) = &domain
            && (domain.contains('/') || domain.contains(':'))
        {
            return Err(invalid("domain", "must be a bare host name like s3.example.com"));
        }
        let users = validate_users(raw.users)?;
        let upstream = raw.upstream.map(|u| validate_upstream(u, &region, base)).transpose()?;
        let keys = validate_keys(raw.keys)?;
        let root_key_file = raw
            .root_key_file
            .map(|f| if f.is_absolute() { f } else { base.join(f) });
        let admin_listen = raw
            .admin_listen
            .map(|a| {
                a.parse()
                    .map_err(|_| invalid("admin_listen", "expected an address like 127.0.0.1:7071"))
            })
            .transpose()?;
        Ok(Config {
            listen,
            admin_listen,
            data_dir,
            account_id,
            region,
            domain,
            users,
            upstream,
            keys,
            root_key_file,
            key_store: validate_key_store(raw.key_store)?,
            limits: validate_limits(raw.limits)?,
            plaintext_buckets: raw.plaintext_buckets,
            allow_sse_kms_over_http: raw.allow_sse_kms_over_http,
            tls: raw.tls.map(|tls| TlsConfig {
                cert_file: if tls.cert_file.is_absolute() {
                    tls.cert_file
                } else {
                    base.join(tls.cert_file)
                },
                key_file: if tls.key_file.is_absolute() {
                    tls.key_file
                } else {
                    base.join(tls.key_file)
                },
            }),
        })
    }
}

fn validate_users(raw: Vec<RawUser>) -> Result<Vec<UserConfig>, ConfigError> {
    if raw.is_empty() {
        return Err(invalid("users", "declare at least one [[users]] entry"));
    }
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    let mut users = Vec::with_capacity(raw.len());
    for (index, user) in raw.into_iter().enumerate() {
        let at = |field: &str| format!("users[{index}].{field}");
        let name_ok = !user.name.is_empty()
            && user.name.len() <= 64
            && user
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !name_ok {
            return Err(invalid(&at("name"), "1-64 characters of A-Z a-z 0-9 +=,.@_-"));
        }
        if !names.insert(user.name.clone()) {
            return Err(invalid(&at("name"), "duplicate user name"));
        }
        let key_ok = (3..=128).contains(&user.access_key_id.len())
            && user.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !key_ok {
            return Err(invalid(&at("access_key_id"), "3-128 ASCII letters and digits"));
        }
        if !keys.insert(user.access_key_id.clone()) {
            return Err(invalid(&at("access_key_id"), "duplicate access key id"));
        }
        if user.secret_access_key.len() < 8 {
            return Err(invalid(&at("secret_access_key"), "must be at least 8 characters"));
        }
        let policies = match &user.policy {
            Some(text) => vec![
                PolicyDocument::parse(text, PolicyKind::Identity)
                    .map_err(|e| invalid(&at("policy"), &e.to_string()))?,
            ],
            None => Vec::new(),
        };
        users.push(UserConfig {
            name: user.name,
            access_key_id: user.access_key_id,
            secret_access_key: SecretKey::new(user.secret_access_key),
            policies,
        });
    }
    Ok(users)
}

fn validate_keys(raw: Vec<RawKey>) -> Result<Vec<DeclaredKey>, ConfigError> {
    let mut aliases = HashSet::new();
    let mut keys = Vec::with_capacity(raw.len());
    for (index, key) in raw.into_iter().enumerate() {
        let at = |field: &str| format!("keys[{index}].{field}");
        let name_ok = key.alias.strip_prefix("alias/").is_some_and(|rest| {
            !rest.is_empty()
                && !rest.starts_with("aws/")
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
        });
        if !name_ok {
            return Err(invalid(
                &at("alias"),
                "expected alias/<name> (A-Z a-z 0-9 / _ -, not alias/aws/)",
            ));
        }
        if !aliases.insert(key.alias.clone()) {
            return Err(invalid(&at("alias"), "duplicate alias"));
        }
        if let Some(policy) = &key.policy {
            PolicyDocument::parse(policy, PolicyKind::Resource).map_err(|e| invalid(&at("policy"), &e.to_string()))?;
        }
        keys.push(DeclaredKey {
            alias: key.alias,
            description: key.description,
            policy: key.policy,
        });
    }
    Ok(keys)
}

fn validate_limits(raw: Option<RawLimits>) -> Result<Limits, ConfigError> {
    let defaults = Limits::default();
    let Some(raw) = raw else { return Ok(defaults) };
    let limits = Limits {
        header_read_timeout_seconds: raw
            .header_read_timeout_seconds
            .unwrap_or(defaults.header_read_timeout_seconds),
        body_idle_timeout_seconds: raw
            .body_idle_timeout_seconds
            .unwrap_or(defaults.body_idle_timeout_seconds),
        max_header_bytes: raw.max_header_bytes.unwrap_or(defaults.max_header_bytes),
        max_headers: raw.max_headers.unwrap_or(defaults.max_headers),
        max_connections: raw.max_connections.unwrap_or(defaults.max_connections),
    };
    if limits.header_read_timeout_seconds == 0 {
        return Err(invalid("limits.header_read_timeout_seconds", "must be at least 1"));
    }
    if limits.body_idle_timeout_seconds == 0 {
        return Err(invalid("limits.body_idle_timeout_seconds", "must be at least 1"));
    }
    if limits.max_header_bytes < 8192 {
        return Err(invalid(
            "limits.max_header_bytes",
            "must be at least 8192 (S3 clients send up to 8 KB of headers)",
        ));
    }
    if limits.max_headers < 16 {
        return Err(invalid("limits.max_headers", "must be at least 16"));
    }
    if limits.max_connections == 0 {
        return Err(invalid("limits.max_connections", "must be at least 1"));
    }
    Ok(limits)
}

fn validate_key_store(raw: Option<RawKeyStore>) -> Result<KeyStoreConfig, ConfigError> {
    let Some(raw) = raw else {
        return Ok(KeyStoreConfig::File);
    };
    match raw.r#type.as_str() {
        "file" => Ok(KeyStoreConfig::File),
        "s3" => {
            let bucket = raw.bucket.unwrap_or_else(|| "s3kms-keystore".to_owned());
            let valid = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
            if !valid {
                return Err(invalid(
                    "key_store.bucket",
                    "expected an S3 bucket name (3-63 of a-z 0-9 - .)",
                ));
            }
            Ok(KeyStoreConfig::S3 {
                bucket,
                prefix: raw.prefix.unwrap_or_default(),
            })
        }
        _ => Err(invalid("key_store.type", "expected \"file\" or \"s3\"")),
    }
}

fn validate_upstream(raw: RawUpstream, region: &str, base: &Path) -> Result<UpstreamConfig, ConfigError> {
    let endpoint = raw.endpoint.trim_end_matches('/').to_owned();
    let host = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .unwrap_or_default();
    if host.is_empty() || host.contains('/') {
        return Err(invalid(
            "upstream.endpoint",
            "expected http://host:port or https://host:port",
        ));
    }
    if raw.ca_file.is_some() && !endpoint.starts_with("https://") {
        return Err(invalid("upstream.ca_file", "only applies to an https:// endpoint"));
    }
    let region = raw.region.unwrap_or_else(|| region.to_owned());
    check_region("upstream.region", &region)?;
    if raw.access_key_id.is_empty() {
        return Err(invalid("upstream.access_key_id", "must not be empty"));
    }
    Ok(UpstreamConfig {
        endpoint,
        region,
        access_key_id: raw.access_key_id,
        secret_access_key: SecretKey::new(raw.secret_access_key),
        ca_file: raw.ca_file.map(|f| if f.is_absolute() { f } else { base.join(f) }),
    })
}

fn check_region(key: &str, region: &str) -> Result<(), ConfigError> {
    let ok = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(key, "expected a region name like us-east-1"))
    }
}

fn invalid(key: &str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        data_dir = "data"
        [[users]]
        name = "alice"
        access_key_id = "AKIAALICE"
        secret_access_key = "alice-secret"
    "#;

    #[test]
    fn minimal_config_gets_defaults() {
        let config = Config::parse(MINIMAL, Path::new("/etc/s3kms")).expect("valid");
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.data_dir, PathBuf::from("/etc/s3kms/data"));
        assert_eq!(config.account_id, "111122223333");
        assert_eq!(config.region, "us-east-1");
        assert!(config.upstream.is_none());
        assert_eq!(config.users[0].name, "alice");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                MINIMAL.replace("data_dir = \"data\"", "data_dir = \"d\"\naccount_id = \"12\""),
                "account_id",
            ),
            (
                MINIMAL.replace("data_dir = \"data\"", "data_dir = \"d\"\nlisten = \"nope\""),
                "listen",
            ),
            (MINIMAL.replace("data_dir = \"data\"", ""), "data_dir"),
            (MINIMAL.replace("AKIAALICE", "AK IA"), "users[0].access_key_id"),
            (
                format!(
                    "{MINIMAL}\n[upstream]\nendpoint = \"ftp://x\"\naccess_key_id = \"a\"\nsecret_access_key = \"b\""
                ),
                "upstream.endpoint",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse(&text, Path::new(".")).expect_err(key);
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::parse(&format!("colour = 1\n{MINIMAL}"), Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn duplicate_access_keys_are_refused() {
        let text = format!(
            "{MINIMAL}\n[[users]]\nname = \"bob\"\naccess_key_id = \"AKIAALICE\"\nsecret_access_key = \"bob-secret\""
        );
        let err = Config::parse(&text, Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("users[1].access_key_id"), "{err}");
    }
}
