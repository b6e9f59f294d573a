//! The embedded default store: an S3 server over a local directory, inside the s3kms process.
//!
//! With no `[upstream]` table, s3kms starts `s3s-fs` on a private loopback port with a
//! credential generated at start, and then talks to it through exactly the same [`Upstream`]
//! client (signing, streaming, error mapping) as it would to MinIO or SeaweedFS. So the default
//! set-up exercises the real upstream path, and a bucket written here is plain files under
//! `<data_dir>/objects/<bucket>/<key>` (ciphertext, once objects are encrypted).
//!
//! [`Upstream`]: super::Upstream

use std::net::SocketAddr;
use std::path::Path;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::RngCore;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

use crate::config::UpstreamConfig;
use crate::sigv4::SecretKey;

/// Directory under `data_dir` that holds the embedded store's buckets.
pub const OBJECTS_DIR: &str = "objects";

/// A running embedded store; dropping it does not stop it (it lives as long as the runtime).
pub struct EmbeddedStore {
    /// Where it listens (loopback only).
    pub addr: SocketAddr,
    /// How to reach it, as an upstream.
    pub upstream: UpstreamConfig,
}

/// Starts the embedded store over `<data_dir>/objects` on `127.0.0.1:0`.
pub async fn start(data_dir: &Path, region: &str) -> std::io::Result<EmbeddedStore> {
    let root = data_dir.join(OBJECTS_DIR);
    std::fs::create_dir_all(&root)?;
    let access_key_id = format!("embedded{}", random_hex(8));
    let secret = random_hex(32);
    let fs = s3s_fs::FileSystem::new(&root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let service = {
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(
            access_key_id.clone(),
            secret.clone(),
        ));
        builder.build()
    };
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let server = ConnBuilder::new(TokioExecutor::new());
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            // Small GETs otherwise wait for delayed ACKs (s3s-fs writes in 4 KiB pieces).
            let _ = socket.set_nodelay(true);
            let connection = server
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    });
    tracing::info!(%addr, root = %root.display(), "embedded store started");
    let upstream = UpstreamConfig {
        endpoint: format!("http://{addr}"),
        region: region.to_owned(),
        access_key_id,
        secret_access_key: SecretKey::new(secret),
    };
    Ok(EmbeddedStore { addr, upstream })
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}
