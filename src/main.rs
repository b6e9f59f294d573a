//! The `s3kms` command line.

use std::collections::VecDeque;
use std::io::{ErrorKind::BrokenPipe, Write};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

mod cli;

use clap::{Parser, Subcommand};
use s3kms::config::{Config, KeyStoreConfig};
use s3kms::kms::{Scope, trail};
use s3kms::server::{self, Service};

/// An S3-compatible encrypting proxy with an embedded, AWS-compatible KMS.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (S3 and KMS APIs on one listener).
    Serve {
        /// The configuration file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Listen here instead of the config's `listen` (e.g. 127.0.0.1:0).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Log as JSON lines instead of text.
        #[arg(long)]
        log_json: bool,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// Query the KMS audit trail: every KMS call, allowed or denied, selected on key,
    /// principal, event, outcome and time at once.
    Audit(AuditArgs),
    /// Manage KMS keys, aliases, rotation and key policies of a running s3kms, through its KMS
    /// API: signed as a configured user, authorized and audited like any client.
    Keys(cli::keys::KeysArgs),
    /// Move the objects of a bucket onto a KMS key, in place, through a running s3kms:
    /// re-wrap their data keys (no object data moves), or re-encrypt them (--reencrypt, also
    /// for objects written before s3kms). Resumable and idempotent; every KMS use audited.
    Rewrap(cli::rewrap::RewrapArgs),
}

/// `s3kms audit`: the filters combine (every one given must hold).
#[derive(clap::Args)]
struct AuditArgs {
    /// The configuration file (the trail is in its data_dir/audit).
    #[arg(long, default_value = "config.toml")]
    config: PathBuf,
    /// Only calls on this key: key id, key ARN, alias name or alias ARN. An alias also
    /// selects calls on the key it points to now.
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// Only calls by this principal: user name, user ARN or access key id.
    #[arg(long, value_name = "P")]
    principal: Option<String>,
    /// Only this operation (eventName, case-insensitive), e.g. Decrypt.
    #[arg(long, value_name = "NAME")]
    event: Option<String>,
    /// Only failed calls (denied or in error: the record has an errorCode).
    #[arg(long)]
    errors: bool,
    /// Only calls at or after T: RFC 3339 (2026-11-28T22:00:00Z), a date (2026-11-28, UTC)
    /// or a time ago (-30m, -1h, -7d).
    #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = parse_time)]
    since: Option<i64>,
    /// Only calls at or before T (same forms as --since).
    #[arg(long, value_name = "T", allow_hyphen_values = true, value_parser = parse_time)]
    until: Option<i64>,
    /// Show only the N most recent matching calls.
    #[arg(long, value_name = "N")]
    limit: Option<NonZeroUsize>,
    /// Print the matching records as JSON lines, exactly as logged, instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(loaded) => {
                println!(
                    "{}: ok ({} users, upstream: {})",
                    config.display(),
                    loaded.users.len(),
                    upstream_name(&loaded)
                );
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Command::Audit(args) => match audit(&args) {
            Ok(()) => ExitCode::SUCCESS,
            // `s3kms audit | head`: the reader has seen enough.
            Err(error) if is_broken_pipe(error.as_ref()) => ExitCode::SUCCESS,
            Err(error) => fail(error.as_ref()),
        },
        Command::Keys(args) => cli::keys::run(args),
        Command::Rewrap(args) => cli::rewrap::run(args),
        Command::Serve {
            config,
            listen,
            log_json,
        } => {
            init_logging(log_json);
            let mut loaded = match Config::load(&config) {
                Ok(loaded) => loaded,
                Err(error) => return fail(&error),
            };
            if let Some(listen) = listen {
                loaded.listen = listen;
            }
            match serve(loaded, config, listen) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(error.as_ref()),
            }
        }
    }
}

#[tokio::main]
async fn serve(
    config: Config,
    path: PathBuf,
    listen_override: Option<std::net::SocketAddr>,
) -> Result<(), Box<dyn std::error::Error>> {
    let tls = config.tls.as_ref().map(server::tls_acceptor).transpose()?;
    let service = Arc::new(Service::start(&config).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    let address = listener.local_addr()?;
    // Install the signal handlers before announcing readiness: a SIGTERM sent as soon as the
    // line appears must drain and exit cleanly, not kill the process.
    if let Some(admin) = config.admin_listen {
        let admin_listener = tokio::net::TcpListener::bind(admin)
            .await
            .map_err(|error| format!("cannot listen on {admin} (admin_listen): {error}"))?;
        tracing::info!(address = %admin_listener.local_addr()?, "admin endpoints: /health /ready /metrics");
        tokio::spawn(server::run_admin(admin_listener, Arc::clone(&service)));
    }
    let shutdown = shutdown_signal()?;
    reload_on_hangup(Arc::clone(&service), config.clone(), path, listen_override)?;
    tracing::info!(%address, upstream = upstream_name(&config), "s3kms started");
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("s3kms listening on {scheme}://{address}");
    std::io::stdout().flush()?;
    server::run(listener, service, tls, config.limits, shutdown).await;
    Ok(())
}

/// Prints the trail records `args` select, oldest first.
fn audit(args: &AuditArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&args.config)?;
    let query = audit_query(args, &config)?;
    let files = trail::files(&config.data_dir.join("audit"), query.since, query.until)?;
    let mut records = trail::Records::new(files, &query);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !args.json {
        writeln!(out, "{}", trail::table_header())?;
    }
    let print = |out: &mut dyn Write, record: &trail::Record| {
        if args.json {
            writeln!(out, "{}", record.line)
        } else {
            writeln!(out, "{}", record.row())
        }
    };
    let mut recent = VecDeque::new();
    for record in &mut records {
        let record = record?;
        match args.limit {
            None => print(&mut out, &record)?,
            Some(limit) => {
                if recent.len() == limit.get() {
                    recent.pop_front();
                }
                recent.push_back(record);
            }
        }
    }
    for record in &recent {
        print(&mut out, record)?;
    }
    out.flush()?;
    for (path, count) in records.skipped() {
        eprintln!("s3kms audit: skipped {count} unreadable line(s) in {}", path.display());
    }
    Ok(())
}

fn audit_query(args: &AuditArgs, config: &Config) -> Result<trail::Query, trail::TrailError> {
    let key = match &args.key {
        Some(text) => Some(key_selector(text, config)?),
        None => None,
    };
    let outcome = if args.errors {
        trail::OutcomeFilter::Failed
    } else {
        trail::OutcomeFilter::Any
    };
    Ok(trail::Query {
        key,
        principal: args.principal.clone(),
        event: args.event.clone(),
        outcome,
        since: args.since,
        until: args.until,
    })
}

/// `--key`; an alias also selects the key it points to now, read from a file key store.
fn key_selector(text: &str, config: &Config) -> Result<trail::KeySelector, trail::TrailError> {
    let scope = Scope {
        account_id: config.account_id.clone(),
        region: config.region.clone(),
    };
    let selector = trail::KeySelector::new(text, scope);
    let target = match (selector.alias(), &config.key_store) {
        (Some(alias), KeyStoreConfig::File) => trail::alias_target(&config.data_dir.join("kms"), alias)?,
        (Some(alias), KeyStoreConfig::S3 { .. }) => {
            eprintln!("s3kms audit: the key store is in S3, so {alias} is matched by name only");
            None
        }
        (None, _) => None,
    };
    Ok(match target {
        Some(key_id) => selector.with_key(&key_id),
        None => selector,
    })
}

fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|error| error.kind() == BrokenPipe)
}

/// `--since` / `--until`: relative times count back from the clock.
fn parse_time(text: &str) -> Result<i64, trail::TrailError> {
    trail::parse_time(text, s3kms::kms::now() as i64)
}

/// Re-reads the config file on every SIGHUP and applies its users, identity policies and
/// declared keys; a file that does not load is reported and the running config kept.
fn reload_on_hangup(
    service: Arc<Service>,
    mut running: Config,
    path: PathBuf,
    listen_override: Option<std::net::SocketAddr>,
) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            let mut reloaded = match Config::load(&path) {
                Ok(reloaded) => reloaded,
                Err(error) => {
                    tracing::error!(%error, "config reload failed; the running config stays in force");
                    continue;
                }
            };
            if let Some(listen) = listen_override {
                reloaded.listen = listen;
            }
            match service.reload(&running, &reloaded).await {
                Ok(()) => running = reloaded,
                Err(error) => tracing::error!(%error, "config reload failed; the running config stays in force"),
            }
        }
    });
    Ok(())
}

/// A future that completes on SIGINT or SIGTERM; the handlers are installed when this returns.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

fn upstream_name(config: &Config) -> String {
    match &config.upstream {
        Some(upstream) => upstream.endpoint.clone(),
        None => format!("embedded store in {}", config.data_dir.display()),
    }
}

fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("S3KMS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn fail(error: &dyn std::error::Error) -> ExitCode {
    eprintln!("s3kms: {error}");
    ExitCode::FAILURE
}
