//! The listener and the assembled service (L3).
//!
//! Owns: building the service from a [`Config`] (which upstream, which users), accepting
//! connections, serving HTTP/1.1 and HTTP/2 on them, and draining in-flight requests on
//! shutdown. `run(listener, service, shutdown)` is the testable entry point: tests bind port 0
//! and call it directly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{Config, KeyStoreConfig, Limits, TlsConfig};
use crate::http::ResponseBody;
use crate::identity::{UserDirectory, Users};
use crate::kms::store::{FileStore, KeyStore, S3Store};
use crate::kms::{AuditLog, Kms, KmsError, Scope, root};
use crate::kms_api::{self, KmsApi};
use crate::metrics::Metrics;
use crate::s3::S3Api;
use crate::upstream::{Upstream, UpstreamRequest, embedded};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything one s3kms instance serves.
pub struct Service {
    s3: S3Api,
    kms: KmsApi,
    /// For the readiness probe.
    upstream: Upstream,
    key_store: Arc<Kms>,
    metrics: Arc<Metrics>,
    users: UserDirectory,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The embedded store could not start (for example, `data_dir` is not writable).
    #[error("cannot start the embedded store under {path}: {source}")]
    EmbeddedStore {
        /// The directory.
        path: std::path::PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The KMS key store could not be opened.
    #[error("cannot open the KMS key store: {0}")]
    KeyStore(#[from] crate::kms::store::StoreError),
    /// The root key could not be loaded.
    #[error(transparent)]
    RootKey(#[from] root::RootKeyError),
    /// The audit trail directory could not be created.
    #[error("cannot open the audit trail: {0}")]
    Audit(std::io::Error),
    /// The upstream client could not be set up (its CA file).
    #[error("upstream: {0}")]
    Upstream(String),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The KMS could not be prepared (principals, declared keys).
    #[error("cannot prepare the KMS: {0} ({detail})", detail = .1.detail())]
    Kms(&'static str, KmsError),
}

impl Service {
    /// Builds the service: connects to the configured upstream or starts the embedded store,
    /// opens the KMS, gives users their persisted unique ids and creates the declared keys.
    pub async fn start(config: &Config) -> Result<Service, StartError> {
        let upstream = match &config.upstream {
            Some(upstream) => Upstream::new(upstream),
            None => {
                let store = embedded::start(&config.data_dir, &config.region)
                    .await
                    .map_err(|source| StartError::EmbeddedStore {
                        path: config.data_dir.clone(),
                        source,
                    })?;
                Upstream::new(&store.upstream)
            }
        }
        .map_err(|error| StartError::Upstream(error.to_string()))?;
        let metrics = Arc::new(Metrics::default());
        let kms = Arc::new(start_kms(config, &upstream).await?.with_metrics(Arc::clone(&metrics)));
        let names: Vec<String> = config.users.iter().map(|u| u.name.clone()).collect();
        let registry = kms
            .sync_principals(&names)
            .await
            .map_err(|e| StartError::Kms("principals", e))?;
        for key in &config.keys {
            kms.ensure_declared_key(&key.alias, &key.description, key.policy.as_deref())
                .await
                .map_err(|e| StartError::Kms("declared key", e))?;
        }
        tokio::spawn(crate::kms::sweep::run(Arc::clone(&kms)));
        tokio::spawn(crate::s3::multipart::records::run_sweeper(
            kms.store(),
            upstream.clone(),
        ));
        let users = UserDirectory::new(Users::from_config(config, &registry.users));
        Ok(Service {
            s3: S3Api::new(
                config,
                users.clone(),
                upstream.clone(),
                Arc::clone(&kms),
                Arc::clone(&metrics),
            ),
            kms: KmsApi::new(Arc::clone(&kms), users.clone(), &config.region),
            upstream,
            key_store: kms,
            metrics,
            users,
        })
    }

    /// Answers one request on the KMS API (`X-Amz-Target: TrentService.*`) or the S3 API.
    async fn handle(&self, request: Request<Incoming>, peer: SocketAddr, secure: bool) -> Response<ResponseBody> {
        if kms_api::is_kms_request(&request) {
            self.kms.handle(request, peer, secure).await
        } else {
            self.s3.handle(request, peer, secure).await
        }
    }
}

impl Service {
    /// Applies a reloaded config's users, identity policies and declared keys to the running
    /// service; connections and requests in flight are not disturbed. Other keys (listeners,
    /// upstream, key store, TLS) need a restart: a change to them is logged and ignored.
    pub async fn reload(&self, running: &Config, reloaded: &Config) -> Result<(), StartError> {
        let restart_only = [
            ("listen", running.listen != reloaded.listen),
            ("admin_listen", running.admin_listen != reloaded.admin_listen),
            ("data_dir", running.data_dir != reloaded.data_dir),
            ("account_id", running.account_id != reloaded.account_id),
            ("region", running.region != reloaded.region),
            (
                "upstream",
                running.upstream.as_ref().map(|u| &u.endpoint) != reloaded.upstream.as_ref().map(|u| &u.endpoint),
            ),
            ("key_store", running.key_store != reloaded.key_store),
            ("tls", running.tls != reloaded.tls),
        ];
        for (key, changed) in restart_only {
            if changed {
                tracing::warn!(key, "this config key changed, but only takes effect after a restart");
            }
        }
        let names: Vec<String> = reloaded.users.iter().map(|u| u.name.clone()).collect();
        let registry = self
            .key_store
            .sync_principals(&names)
            .await
            .map_err(|e| StartError::Kms("principals", e))?;
        for key in &reloaded.keys {
            self.key_store
                .ensure_declared_key(&key.alias, &key.description, key.policy.as_deref())
                .await
                .map_err(|e| StartError::Kms("declared key", e))?;
        }
        self.users.replace(Users::from_config(reloaded, &registry.users));
        tracing::info!(
            users = reloaded.users.len(),
            "config reloaded: users, identity policies and declared keys"
        );
        Ok(())
    }

    /// Whether the instance can serve: the upstream answers and the key store is readable.
    pub async fn ready(&self) -> Result<(), String> {
        let probe = UpstreamRequest {
            method: http::Method::GET,
            bucket: None,
            key: None,
            query: Vec::new(),
            headers: http::HeaderMap::new(),
            body: None,
        };
        match self.upstream.send(probe).await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => return Err(format!("the upstream answered {}", response.status())),
            Err(error) => return Err(format!("the upstream is unreachable: {error}")),
        }
        self.key_store
            .check_store()
            .await
            .map_err(|error| format!("the key store is not readable: {error}"))
    }

    /// The admin endpoints: `/health`, `/ready`, `/metrics`.
    async fn admin(&self, request: Request<Incoming>) -> Response<ResponseBody> {
        let (status, body) = match (request.method(), request.uri().path()) {
            (&http::Method::GET, "/health") => (http::StatusCode::OK, "ok\n".to_owned()),
            (&http::Method::GET, "/ready") => match self.ready().await {
                Ok(()) => (http::StatusCode::OK, "ready\n".to_owned()),
                Err(reason) => (http::StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
            },
            (&http::Method::GET, "/metrics") => (http::StatusCode::OK, self.metrics.render()),
            _ => (
                http::StatusCode::NOT_FOUND,
                "not found: try /health, /ready or /metrics\n".to_owned(),
            ),
        };
        let mut response = Response::new(crate::http::full_body(bytes::Bytes::from(body)));
        *response.status_mut() = status;
        let content_type = http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
        response.headers_mut().insert(http::header::CONTENT_TYPE, content_type);
        response
    }
}

/// The TLS acceptor for the configured certificate chain and key (HTTP/1.1 and HTTP/2).
pub fn tls_acceptor(config: &TlsConfig) -> Result<TlsAcceptor, StartError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls_error = |what: &str, path: &std::path::Path, detail: String| {
        StartError::Tls(format!("{what} {}: {detail}", path.display()))
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert_file)
        .and_then(|certificates| certificates.collect())
        .map_err(|e| tls_error("cannot read the certificate chain", &config.cert_file, e.to_string()))?;
    if chain.is_empty() {
        return Err(tls_error(
            "no certificate in",
            &config.cert_file,
            "expected PEM CERTIFICATE blocks".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| tls_error("cannot read the private key", &config.key_file, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_error("the key does not fit the certificate", &config.cert_file, e.to_string()))?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Serves the admin endpoints on `listener` until the process ends.
pub async fn run_admin(listener: TcpListener, service: Arc<Service>) {
    let builder = ConnBuilder::new(TokioExecutor::new());
    while let Ok((socket, _)) = listener.accept().await {
        let service = Arc::clone(&service);
        let handler = service_fn(move |request| {
            let service = Arc::clone(&service);
            async move { Ok::<_, std::convert::Infallible>(service.admin(request).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(socket), handler).into_owned();
        tokio::spawn(connection);
    }
}

/// The KMS over the configured key store, auditing to `<data_dir>/audit`.
async fn start_kms(config: &Config, upstream: &Upstream) -> Result<Kms, StartError> {
    let store = match &config.key_store {
        KeyStoreConfig::File => KeyStore::File(FileStore::open(&config.data_dir.join("kms"))?),
        KeyStoreConfig::S3 { bucket, prefix } => {
            KeyStore::S3(Box::new(S3Store::open(upstream.clone(), bucket, prefix).await?))
        }
    };
    let root = root::load(config.root_key_file.as_deref(), &config.data_dir)?;
    let scope = Scope {
        account_id: config.account_id.clone(),
        region: config.region.clone(),
    };
    let audit = AuditLog::open(&config.data_dir.join("audit"), &config.account_id, &config.region)
        .map_err(StartError::Audit)?;
    Ok(Kms::new(Arc::new(store), root, scope, audit))
}

/// Serves connections from `listener` until `shutdown` completes, then drains.
pub async fn run(
    listener: TcpListener,
    service: Arc<Service>,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = ConnBuilder::new(TokioExecutor::new());
    // A client that trickles its request headers (slowloris) is cut off instead of holding a
    // connection and its task forever; oversized heads get 431. A client that half-closes its
    // side after a complete request still gets the answer.
    builder
        .http1()
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_read_timeout_seconds))
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the connection cap, stop accepting until a connection ends (the kernel queues).
        let permit = tokio::select! {
            permit = Arc::clone(&connections).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = socket.set_nodelay(true);
        let secure = tls.is_some();
        let service = Arc::clone(&service);
        let handler = service_fn(move |request| {
            let service = Arc::clone(&service);
            async move { Ok::<_, std::convert::Infallible>(service.handle(request, peer, secure).await) }
        });
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let served = match tls {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(socket), handler).into_owned())
                        .await
                }
                Some(acceptor) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                    Ok(Ok(stream)) => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(stream), handler).into_owned())
                            .await
                    }
                    Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                },
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    // Close the listening socket first: new connections are refused at once (a load balancer
    // moves on) instead of queueing in the backlog until the process exits and resets them.
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not finish within {DRAIN_TIMEOUT:?}");
    }
}
