//! Subcommands of the `s3kms` binary that are clients of a running instance.
//!
//! Owns: how a client subcommand reaches the instance a config file describes: the endpoint
//! (`http://<listen>`, or `https://` when the config has a `[tls]` table), the certificates an
//! `https://` endpoint is verified against (`--ca-file`, else the `[tls]` certificate file,
//! which serves for a self-signed leaf or a chain that includes its CA), and the configured
//! user it signs as.

pub mod keys;
pub mod rewrap;

use std::path::PathBuf;

use s3kms::config::{Config, UserConfig};
use s3kms::kms_client::{ClientError, KmsClient};

/// The flags that say where and as whom a client subcommand connects (global to its
/// subcommands, if it has any).
#[derive(clap::Args)]
pub struct ConnectionArgs {
    /// The configuration file: the endpoint is http://<listen> (https:// with a [tls] table,
    /// whose certificate is then trusted), and it holds the region and the users' credentials.
    #[arg(long, default_value = "config.toml", global = true)]
    pub config: PathBuf,
    /// Sign as this [[users]] entry (default: the first user in the config).
    #[arg(long, value_name = "NAME", global = true)]
    pub user: Option<String>,
    /// Call this endpoint (http(s)://host:port) instead of the config's listen address.
    #[arg(long, value_name = "URL", global = true)]
    pub endpoint: Option<String>,
    /// Verify an https:// endpoint against the CA certificates in FILE (PEM) instead of the
    /// config's [tls] certificate file.
    #[arg(long, value_name = "FILE", global = true)]
    pub ca_file: Option<PathBuf>,
}

/// Why the flags do not make a connection: the config does not load, or names no such user.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The config file.
    #[error(transparent)]
    Config(#[from] s3kms::config::ConfigError),
    /// The user or the endpoint.
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

impl ConnectionArgs {
    /// The config the flags name, and the connection it describes with the flags applied.
    pub fn open(&self) -> Result<(Config, Connection), OpenError> {
        let config = Config::load(&self.config)?;
        let connection = Connection::of(
            &config,
            &self.config.display().to_string(),
            self.user.as_deref(),
            self.endpoint.as_deref(),
            self.ca_file.as_deref(),
        )?;
        Ok((config, connection))
    }

    /// The config file as named, for messages.
    pub fn config_name(&self) -> String {
        self.config.display().to_string()
    }
}

/// Where and as whom a client subcommand connects.
pub struct Connection {
    /// `http(s)://host:port`.
    pub endpoint: String,
    /// The certificates (PEM) to trust for an `https://` endpoint instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// The user requests are signed as.
    pub user: UserConfig,
}

/// Why a client subcommand cannot tell where to connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// `--user` names no configured user.
    #[error("no user named {name:?} in {config} (its users: {known})")]
    UnknownUser {
        /// The name given.
        name: String,
        /// The config file.
        config: String,
        /// The configured user names.
        known: String,
    },
    /// The config listens on port 0, so its port is unknown.
    #[error(
        "{config} listens on port 0 (chosen at start): pass --endpoint http://HOST:PORT as `s3kms serve` printed it"
    )]
    UnknownPort {
        /// The config file.
        config: String,
    },
}

impl Connection {
    /// The connection `config` (read from `config_name`) describes, as user `user` (default:
    /// the first user) to `endpoint` (default: the config's listen address), trusting
    /// `ca_file` (default: the config's `[tls]` certificate file) for `https://`.
    pub fn of(
        config: &Config,
        config_name: &str,
        user: Option<&str>,
        endpoint: Option<&str>,
        ca_file: Option<&std::path::Path>,
    ) -> Result<Connection, ConnectionError> {
        let found = match user {
            Some(name) => config.users.iter().find(|candidate| candidate.name == name),
            None => config.users.first(),
        };
        let user = found.cloned().ok_or_else(|| ConnectionError::UnknownUser {
            name: user.unwrap_or_default().to_owned(),
            config: config_name.to_owned(),
            known: config
                .users
                .iter()
                .map(|user| user.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        let endpoint = match endpoint {
            Some(endpoint) => endpoint.to_owned(),
            None => listen_endpoint(config, config_name)?,
        };
        let ca_file = match (ca_file, &config.tls) {
            (Some(file), _) => Some(file.to_owned()),
            (None, Some(tls)) if endpoint.starts_with("https://") => Some(tls.cert_file.clone()),
            _ => None,
        };
        Ok(Connection {
            endpoint,
            ca_file,
            user,
        })
    }
}

impl Connection {
    /// A KMS client for this endpoint and user.
    pub fn kms_client(&self, region: &str) -> Result<KmsClient, ClientError> {
        KmsClient::trusting(
            &self.endpoint,
            region,
            &self.user.access_key_id,
            self.user.secret_access_key.clone(),
            self.ca_file.as_deref(),
        )
    }
}

/// `http(s)://<listen>`, with a wildcard address replaced by loopback.
fn listen_endpoint(config: &Config, config_name: &str) -> Result<String, ConnectionError> {
    let mut address = config.listen;
    if address.port() == 0 {
        return Err(ConnectionError::UnknownPort {
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
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    Ok(format!("{scheme}://{address}"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn config(listen: &str, tls: bool) -> Config {
        let tls = if tls {
            "[tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"\n"
        } else {
            ""
        };
        let text = format!(
            "listen = \"{listen}\"\ndata_dir = \"d\"\n[[users]]\nname = \"a\"\naccess_key_id = \"AKIAA\"\nsecret_access_key = \"secret-a-123\"\n{tls}"
        );
        Config::parse(&text, Path::new("/etc/s3kms")).unwrap()
    }

    #[test]
    fn the_endpoint_is_the_listen_address_with_wildcards_made_local() {
        let endpoint = |listen| listen_endpoint(&config(listen, false), "c").unwrap();
        assert_eq!(endpoint("127.0.0.1:7070"), "http://127.0.0.1:7070");
        assert_eq!(endpoint("0.0.0.0:80"), "http://127.0.0.1:80");
        assert_eq!(endpoint("[::]:7070"), "http://[::1]:7070");
        assert!(matches!(
            listen_endpoint(&config("127.0.0.1:0", false), "c"),
            Err(ConnectionError::UnknownPort { .. })
        ));
    }

    #[test]
    fn a_tls_listener_is_reached_over_https_trusting_its_own_certificate() {
        let connection = Connection::of(&config("127.0.0.1:7443", true), "c", None, None, None).unwrap();
        assert_eq!(connection.endpoint, "https://127.0.0.1:7443");
        assert_eq!(connection.ca_file.as_deref(), Some(Path::new("/etc/s3kms/cert.pem")));
        assert_eq!(connection.user.name, "a");
        let plain = Connection::of(&config("127.0.0.1:7070", false), "c", None, None, None).unwrap();
        assert_eq!(plain.ca_file, None);
        let given = Path::new("/tmp/ca.pem");
        let explicit = Connection::of(&config("127.0.0.1:7443", true), "c", None, None, Some(given)).unwrap();
        assert_eq!(explicit.ca_file.as_deref(), Some(given));
        assert!(matches!(
            Connection::of(&config("127.0.0.1:7070", false), "c", Some("zed"), None, None),
            Err(ConnectionError::UnknownUser { .. })
        ));
    }
}
