//! Proxy vs direct upstream, side by side in one run: PUT and GET throughput, the proxy's CPU
//! time per byte, and its resident memory while it streams objects of growing size.
//!
//! Run: `cargo bench --bench proxy` (all sizes), or `cargo bench --bench proxy -- 1MiB 256MiB`
//! for a subset (sizes: 1KiB, 1MiB, 256MiB, 2GiB, and 1GiB-multipart: a 1 GiB multipart upload
//! in 8 MiB parts, then a GET of the whole object).
//!
//! Set-up: s3kms's embedded store runs inside this process on a temporary directory (the
//! upstream, as in the default deployment);
//! the real `s3kms` binary runs as a child process in front of it. The client is a plain
//! hyper client that signs with `UNSIGNED-PAYLOAD`, so neither path pays for payload hashing
//! on the client side. "direct" sends the same requests straight to the store. The proxy's
//! CPU time comes from `/proc/<pid>/stat`, its memory from `/proc/<pid>/status` sampled every
//! 10 ms during each transfer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "support/server.rs"]
mod support;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use s3kms::sigv4::{AmzDate, OutgoingRequest, PayloadHash, SecretKey, Signer};
use s3kms::upstream::{BoxError, UpstreamBody};
use support::RunningServer;

const ACCESS_KEY: &str = "AKIABENCH0000000";
const SECRET: &str = "bench-secret-0123456789";
const FRAME: usize = 1 << 20;
/// The size label of the multipart row: 1 GiB uploaded in 8 MiB parts, read back whole.
const MULTIPART_LABEL: &str = "1GiB-multipart";
const PART_SIZE: u64 = 8 << 20;

fn main() {
    let sizes: Vec<(String, u64)> = parse_sizes();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = s3kms::upstream::embedded::start(&dir.path().join("store"), "us-east-1")
            .await
            .expect("embedded store");
        let upstream = store.addr;
        let upstream_key = store.upstream.access_key_id.clone();
        let upstream_secret = store.upstream.secret_access_key.expose().to_owned();
        let proxy = start_proxy(dir.path(), upstream, &upstream_key, &upstream_secret);
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let signer = Signer::new(ACCESS_KEY, SecretKey::new(SECRET), "us-east-1", "s3");
        let upstream_signer = Signer::new(&upstream_key, SecretKey::new(upstream_secret.clone()), "us-east-1", "s3");
        let direct = Target { client: client.clone(), authority: upstream.to_string(), signer: upstream_signer };
        let proxied = Target { client, authority: proxy.authority.clone(), signer };
        direct.send(Method::PUT, "/bench", 0).await;
        println!("s3kms proxy bench: proxy pid {}, upstream: s3kms's embedded store at {upstream}", proxy.child.id());
        println!("idle proxy RSS: {:.1} MiB", rss_kib(proxy.child.id()) as f64 / 1024.0);
        println!("| size | op | path | requests | wall MB/s | median ms | proxy CPU s | GB per proxy CPU-s | proxy peak RSS MiB |");
        println!("|---|---|---|---|---|---|---|---|---|");
        for (label, size) in &sizes {
            // Enough bytes per row (≥ 1 GiB for large objects) that the 10 ms CPU ticks do not blur it.
            let count = if *size <= 1 << 20 { 200 } else { (1u64 << 30).div_ceil(*size).max(1) as usize };
            for op in [Method::PUT, Method::GET] {
                for (path, target) in [("direct", &direct), ("s3kms", &proxied)] {
                    let multipart = label == MULTIPART_LABEL;
                    let row = measure(target, path, &op, *size, count, multipart, proxy.child.id()).await;
                    println!(
                        "| {label} | {op} | {path} | {count} | {:.1} | {:.2} | {:.3} | {} | {} |",
                        row.megabytes_per_second,
                        row.median_ms,
                        row.proxy_cpu_seconds,
                        if path == "s3kms" { format!("{:.2}", row.gigabytes_per_cpu_second) } else { "–".into() },
                        if path == "s3kms" { format!("{:.1}", row.peak_rss_kib as f64 / 1024.0) } else { "–".into() },
                    );
                }
            }
        }
        drop(proxy);
    });
}

struct Row {
    megabytes_per_second: f64,
    median_ms: f64,
    proxy_cpu_seconds: f64,
    gigabytes_per_cpu_second: f64,
    peak_rss_kib: u64,
}

async fn measure(target: &Target, path: &str, op: &Method, size: u64, count: usize, multipart: bool, pid: u32) -> Row {
    // Each path has its own objects: the direct path stores plaintext, s3kms stores ciphertext.
    let key = format!("/bench/{path}-object-{size}{}", if multipart { "-mp" } else { "" });
    let sampler = RssSampler::start(pid);
    let cpu_before = cpu_seconds(pid);
    let mut latencies = Vec::with_capacity(count);
    let started = Instant::now();
    for _ in 0..count {
        let one = Instant::now();
        let moved = if multipart && *op == Method::PUT {
            target.put_multipart(&key, size).await
        } else {
            target
                .send(op.clone(), &key, if *op == Method::PUT { size } else { 0 })
                .await
        };
        assert_eq!(moved, size, "{op} {key} moved {moved} bytes");
        latencies.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = started.elapsed().as_secs_f64();
    let proxy_cpu_seconds = cpu_seconds(pid) - cpu_before;
    latencies.sort_by(f64::total_cmp);
    let bytes = size as f64 * count as f64;
    Row {
        megabytes_per_second: bytes / wall / 1e6,
        median_ms: latencies[latencies.len() / 2],
        proxy_cpu_seconds,
        gigabytes_per_cpu_second: if proxy_cpu_seconds > 0.0 {
            bytes / 1e9 / proxy_cpu_seconds
        } else {
            0.0
        },
        peak_rss_kib: sampler.stop(),
    }
}

struct Target {
    client: Client<HttpConnector, UpstreamBody>,
    authority: String,
    signer: Signer,
}

impl Target {
    /// Sends one request; returns the body bytes sent (PUT) or received (GET).
    async fn send(&self, method: Method, path: &str, size: u64) -> u64 {
        let (moved, _, _) = self.exchange(method, path, "", size, None).await;
        moved
    }

    /// A multipart upload of `size` bytes in [`PART_SIZE`] parts; returns the bytes sent.
    async fn put_multipart(&self, path: &str, size: u64) -> u64 {
        let (_, _, created) = self.exchange(Method::POST, path, "uploads=", 0, None).await;
        let created = String::from_utf8_lossy(&created).into_owned();
        let upload_id = between(&created, "<UploadId>", "</UploadId>").to_owned();
        let encoded_id =
            percent_encoding::utf8_percent_encode(&upload_id, percent_encoding::NON_ALPHANUMERIC).to_string();
        let mut complete = String::from("<CompleteMultipartUpload>");
        for number in 1..=size.div_ceil(PART_SIZE) {
            let length = (size - (number - 1) * PART_SIZE).min(PART_SIZE);
            let query = format!("partNumber={number}&uploadId={encoded_id}");
            let (_, etag, _) = self.exchange(Method::PUT, path, &query, length, None).await;
            complete.push_str(&format!(
                "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        complete.push_str("</CompleteMultipartUpload>");
        let query = format!("uploadId={encoded_id}");
        let (_, _, answer) = self
            .exchange(Method::POST, path, &query, 0, Some(Bytes::from(complete)))
            .await;
        assert!(String::from_utf8_lossy(&answer).contains("<ETag>"), "complete failed");
        size
    }

    /// One signed request with a generated body of `size` bytes (or `document`); returns the
    /// bytes moved, the ETag and the response body when small.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &str,
        size: u64,
        document: Option<Bytes>,
    ) -> (u64, String, Vec<u8>) {
        let size = document.as_ref().map_or(size, |d| d.len() as u64);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
        let date = AmzDate::from_unix_seconds(now).expect("date");
        let length = size.to_string();
        let headers: Vec<(&str, &str)> = if method == Method::PUT || method == Method::POST {
            vec![("content-length", &length)]
        } else {
            vec![]
        };
        let outgoing = OutgoingRequest {
            method: method.as_str(),
            path,
            query,
            host: &self.authority,
            headers: &headers,
            payload: PayloadHash::Unsigned,
        };
        let signed = self.signer.sign(&outgoing, date).expect("sign");
        let mut request = Request::builder()
            .method(method.clone())
            .uri(if query.is_empty() {
                format!("http://{}{path}", self.authority)
            } else {
                format!("http://{}{path}?{query}", self.authority)
            })
            .header("host", &self.authority)
            .header("x-amz-date", &signed.amz_date)
            .header("x-amz-content-sha256", &signed.content_sha256)
            .header("authorization", &signed.authorization);
        if method == Method::PUT || method == Method::POST {
            request = request.header("content-length", size);
        }
        let body = match document {
            Some(document) => http_body_util::Full::new(document)
                .map_err(|never| match never {})
                .boxed_unsync(),
            None => generated_body(size),
        };
        let request = request.body(body).expect("request");
        let response = self.client.request(request).await.expect("response");
        let status = response.status();
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut body = response.into_body();
        let mut received = 0u64;
        let mut small = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("body").into_data() {
                received += data.len() as u64;
                if small.len() < 64 * 1024 {
                    small.extend_from_slice(&data);
                }
            }
        }
        assert!(
            status.is_success(),
            "{method} {path}?{query}: {status} {}",
            String::from_utf8_lossy(&small)
        );
        (if method == Method::PUT { size } else { received }, etag, small)
    }
}

/// `size` bytes in 1 MiB frames that share one buffer (the client must not be the bottleneck).
fn generated_body(size: u64) -> UpstreamBody {
    let block = Bytes::from(vec![0x5a; FRAME]);
    let frames = (0..size.div_ceil(FRAME as u64)).map(move |index| {
        let length = (size - index * FRAME as u64).min(FRAME as u64) as usize;
        Ok::<_, BoxError>(Frame::data(block.slice(..length)))
    });
    StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
}

fn start_proxy(dir: &std::path::Path, upstream: std::net::SocketAddr, key: &str, secret: &str) -> RunningServer {
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[[users]]\nname = \"bench\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET}\"\npolicy = '{{\"Version\": \"2012-10-17\", \"Statement\": [{{\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}}]}}'\n[upstream]\nendpoint = \"http://{upstream}\"\naccess_key_id = \"{key}\"\nsecret_access_key = \"{secret}\"\n",
        dir.join("proxy-data").display()
    );
    RunningServer::start(dir, &config)
}

/// Samples a process's RSS every 10 ms; `stop` returns the peak in KiB.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(rss_kib(pid)));
        let thread = {
            let (stop, peak) = (Arc::clone(&stop), Arc::clone(&peak));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        RssSampler { stop, peak, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds of a process so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text.find(start).map_or(0, |at| at + start.len());
    let to = text[from..].find(end).map_or(text.len(), |at| from + at);
    &text[from..to]
}

fn parse_sizes() -> Vec<(String, u64)> {
    let all = [
        ("1KiB", 1u64 << 10),
        ("1MiB", 1 << 20),
        ("256MiB", 256 << 20),
        ("2GiB", 2 << 30),
        (MULTIPART_LABEL, 1 << 30),
    ];
    let wanted: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    all.iter()
        .filter(|(label, _)| wanted.is_empty() || wanted.iter().any(|w| w == label))
        .map(|(label, size)| ((*label).to_owned(), *size))
        .collect()
}
