//! The `s3kms` command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use s3kms::config::Config;
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
            match serve(loaded) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(error.as_ref()),
            }
        }
    }
}

#[tokio::main]
async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let service = Arc::new(Service::start(&config).await?);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
    let address = listener.local_addr()?;
    // Install the signal handlers before announcing readiness: a SIGTERM sent as soon as the
    // line appears must drain and exit cleanly, not kill the process.
    let shutdown = shutdown_signal()?;
    tracing::info!(%address, upstream = upstream_name(&config), "s3kms started");
    println!("s3kms listening on http://{address}");
    std::io::stdout().flush()?;
    server::run(listener, service, shutdown).await;
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
