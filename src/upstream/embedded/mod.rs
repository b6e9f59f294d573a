//! The embedded default store: an S3 server over a local directory, inside the s3kms process.
//!
//! With no `[upstream]` table, s3kms starts an s3s server on a private loopback port with a
//! credential generated at start, and then talks to it through exactly the same [`Upstream`]
//! client (signing, streaming, error mapping) as it would to MinIO or SeaweedFS. So the default
//! set-up exercises the real upstream path.
//!
//! The server is [`EmbeddedStore`], an `s3s::S3` implementation over `<data_dir>/objects/`:
//! buckets are directories (managed by s3s-fs); each object is a record named by the SHA-256
//! of its key plus a data file (`object_files.rs`), so every key S3 accepts is storable and an
//! object's bytes and metadata change in one rename; multipart uploads live in a hidden sidecar
//! directory (`sidecar.rs`).
//!
//! Files: `store.rs` (the operation table); `objects.rs`, `copy.rs`, `tagging.rs`,
//! `listing.rs`, `parts.rs`, `multipart.rs`, `completion.rs` (the operations);
//! `object_files.rs`, `sidecar.rs`, `records.rs` (what is on disk); `meta.rs`, `tags.rs`,
//! `list_page.rs`, `upload_listing.rs` (pure types and paging); `streams.rs`, `checksums.rs`
//! (bytes in and out).
//!
//! [`Upstream`]: super::Upstream

mod checksums;
mod completion;
mod copy;
mod list_page;
mod listing;
mod meta;
mod multipart;
mod object_files;
mod objects;
mod parts;
mod records;
mod sidecar;
mod store;
mod streams;
mod tagging;
mod tags;
mod upload_listing;

pub use sidecar::SIDECAR_DIR;
pub use store::EmbeddedStore;
pub use tags::ObjectTags;

use std::net::SocketAddr;
use std::path::Path;

use futures_util::future::BoxFuture;
use http::header::CONTENT_RANGE;
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use rand::RngCore;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{HttpError, HttpResponse};
use tokio::net::TcpListener;

use crate::config::UpstreamConfig;
use crate::sigv4::SecretKey;

/// Directory under `data_dir` that holds the embedded store's buckets.
pub const OBJECTS_DIR: &str = "objects";

/// A running embedded store; dropping it does not stop it (it lives as long as the runtime).
pub struct RunningStore {
    /// Where it listens (loopback only).
    pub addr: SocketAddr,
    /// How to reach it, as an upstream.
    pub upstream: UpstreamConfig,
}

/// Starts the embedded store over `<data_dir>/objects` on `127.0.0.1:0`.
pub async fn start(data_dir: &Path, region: &str) -> std::io::Result<RunningStore> {
    let root = data_dir.join(OBJECTS_DIR);
    std::fs::create_dir_all(&root)?;
    let access_key_id = format!("embedded{}", random_hex(8));
    let secret = random_hex(32);
    let store = EmbeddedStore::open(&root)?;
    let service = {
        let mut builder = S3ServiceBuilder::new(store);
        builder.set_auth(SimpleAuth::from_single(access_key_id.clone(), secret.clone()));
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
            // Small GETs otherwise wait for delayed ACKs.
            let _ = socket.set_nodelay(true);
            let connection = server
                .serve_connection(TokioIo::new(socket), PartialHeads(service.clone()))
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
        ca_file: None,
    };
    Ok(RunningStore { addr, upstream })
}

/// Two fixes on s3s's responses. s3s 0.14.1 drops `S3Response::status` for HEAD (and
/// serializes a HEAD with `Content-Range` as 200); S3 answers a `HEAD ?partNumber=N` with 206,
/// so this layer restores it. And an error answered before the request body was read closes
/// the connection (see [`crate::http::closes_unread_body`]).
#[derive(Clone)]
struct PartialHeads(S3Service);

impl hyper::service::Service<Request<Incoming>> for PartialHeads {
    type Response = HttpResponse;
    type Error = HttpError;
    type Future = BoxFuture<'static, Result<HttpResponse, HttpError>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let is_head = request.method() == Method::HEAD;
        let declares_body = crate::http::declares_body(request.headers());
        let response = hyper::service::Service::call(&self.0, request);
        Box::pin(async move {
            let mut response = response.await?;
            if is_head && response.status() == StatusCode::OK && response.headers().contains_key(CONTENT_RANGE) {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            }
            crate::http::closes_unread_body(declares_body, response.status(), response.headers_mut());
            Ok(response)
        })
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}
