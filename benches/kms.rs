//! KMS throughput: GenerateDataKey and Decrypt operations per second, with p50/p99 latency,
//! in-process (`Kms::call`) and over HTTP against the real `s3kms` binary, then what one call
//! spends its time on.
//!
//! Run: `cargo bench --bench kms` (3 s per row), or `cargo bench --bench kms -- 10` for 10 s.
//!
//! Set-up: "in-process" builds a `Kms` over a file key store in a temporary directory, as
//! `s3kms serve` does, and calls it from 1, 4 or 16 tokio tasks. "http" starts the release
//! `s3kms` binary (embedded store, `listen = 127.0.0.1:0`) and sends SigV4-signed KMS JSON
//! requests from 1, 4 or 16 tasks sharing one pooled hyper client (one connection per task
//! in flight). Both use one key by key id and the S3 path's encryption context; every call is
//! audited, as in production. "KMS CPU" is the CPU time of the process running the KMS (this
//! one in-process, the server over HTTP) from `/proc/<pid>/stat`, per operation. The client,
//! the server and the KMS share the machine's cores.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "support/server.rs"]
mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use s3kms::crypto::{self, Key256};
use s3kms::kms::model::KeyRecord;
use s3kms::kms::shapes::{Context, DecryptRequest, GenerateDataKeyRequest, Output};
use s3kms::kms::store::{FileStore, KeyStore};
use s3kms::kms::{AuditLog, Call, Caller, Event, Kms, Scope, blob, root};
use s3kms::policy::{self, PolicyDocument, PolicyKind, RequestContext};
use s3kms::sigv4::{AmzDate, OutgoingRequest, PayloadHash, SecretKey, Signer};
use serde_json::{Value, json};
use support::RunningServer;

const ACCESS_KEY: &str = "AKIABENCHKMS0000";
const SECRET: &str = "bench-kms-secret-0123456789";
const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const ALLOW_ALL: &str =
    r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;
const CONCURRENCY: [usize; 3] = [1, 4, 16];
const WARM_UP: Duration = Duration::from_millis(300);
/// Repetitions of each step in the breakdown (enough for `/proc`'s 10 ms CPU ticks).
const ROUNDS: u32 = 20_000;

fn main() {
    let seconds: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3.0);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let local = InProcess::start(&dir.path().join("in-process")).await;
        let server = start_server(&dir.path().join("http"));
        let remote = Http::connect(&server).await;
        println!(
            "s3kms KMS bench: {seconds} s per row, s3kms server pid {}",
            server.child.id()
        );
        println!();
        println!("| path | operation | tasks | operations | ops/s | p50 ms | p99 ms | KMS CPU µs/op |");
        println!("|---|---|---|---|---|---|---|---|");
        let duration = Duration::from_secs_f64(seconds);
        for operation in [Operation::GenerateDataKey, Operation::Decrypt] {
            for tasks in CONCURRENCY {
                measure(&local, operation, tasks, duration, std::process::id())
                    .await
                    .print("in-process", operation, tasks);
            }
        }
        for operation in [Operation::GenerateDataKey, Operation::Decrypt] {
            for tasks in CONCURRENCY {
                measure(&remote, operation, tasks, duration, server.child.id())
                    .await
                    .print("http", operation, tasks);
            }
        }
        println!();
        // On a worker thread, where the server runs its requests (not `block_on`'s thread).
        let breakdown = breakdown(Arc::clone(&local), dir.path().join("in-process"));
        tokio::spawn(breakdown).await.expect("breakdown");
    });
}

#[derive(Debug, Clone, Copy)]
enum Operation {
    GenerateDataKey,
    Decrypt,
}

/// Something that runs one KMS operation (and checks it succeeded).
trait Target: Send + Sync + 'static {
    fn call(&self, operation: Operation) -> impl Future<Output = ()> + Send;
}

struct Row {
    operations: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_micros: f64,
}

impl Row {
    fn print(&self, path: &str, operation: Operation, tasks: usize) {
        println!(
            "| {path} | {operation:?} | {tasks} | {} | {:.0} | {:.3} | {:.3} | {:.0} |",
            self.operations, self.per_second, self.p50_ms, self.p99_ms, self.cpu_micros
        );
    }
}

/// Runs `operation` from `tasks` tasks for `duration` after a warm-up; `pid` runs the KMS.
async fn measure<T: Target>(target: &Arc<T>, operation: Operation, tasks: usize, duration: Duration, pid: u32) -> Row {
    run(target, operation, tasks, WARM_UP).await;
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let mut latencies = run(target, operation, tasks, duration).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Row {
        operations: latencies.len(),
        per_second: latencies.len() as f64 / wall,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        cpu_micros: cpu * 1e6 / latencies.len() as f64,
    }
}

/// Latencies in milliseconds of every operation `tasks` tasks completed before the deadline.
async fn run<T: Target>(target: &Arc<T>, operation: Operation, tasks: usize, duration: Duration) -> Vec<f64> {
    let deadline = Instant::now() + duration;
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let target = Arc::clone(target);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let one = Instant::now();
                    target.call(operation).await;
                    latencies.push(one.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.expect("bench task"));
    }
    all
}

// ----------------------------------------------------------------- in-process

/// A `Kms` built as `s3kms serve` builds it, with one key and one allowed caller.
struct InProcess {
    kms: Kms,
    caller: Caller,
    key_id: String,
    context: Context,
    ciphertext: Vec<u8>,
}

impl InProcess {
    async fn start(data_dir: &Path) -> Arc<InProcess> {
        let store = KeyStore::File(FileStore::open(&data_dir.join("kms")).expect("key store"));
        let root = root::load(None, data_dir).expect("root key");
        let scope = Scope {
            account_id: ACCOUNT.to_owned(),
            region: REGION.to_owned(),
        };
        let audit = AuditLog::open(&data_dir.join("audit"), ACCOUNT, REGION).expect("audit trail");
        let kms = Kms::new(Arc::new(store), root, scope, audit);
        let registry = kms.sync_principals(&["bench".to_owned()]).await.expect("principals");
        let key_id = kms
            .ensure_declared_key("alias/bench", "KMS bench", None)
            .await
            .expect("key");
        let identity = PolicyDocument::parse(ALLOW_ALL, PolicyKind::Identity).expect("policy");
        let caller = Caller {
            principal: policy::Principal::user(ACCOUNT, "bench", &registry.users["bench"]),
            user_name: "bench".to_owned(),
            access_key_id: ACCESS_KEY.to_owned(),
            identity_policies: Arc::from(vec![identity]),
            source_ip: "127.0.0.1".to_owned(),
            user_agent: "kms-bench".to_owned(),
            request_id: "kms-bench".to_owned(),
            via_s3: false,
            secure_transport: false,
        };
        let mut local = InProcess {
            kms,
            caller,
            key_id,
            context: s3_context(),
            ciphertext: Vec::new(),
        };
        local.ciphertext = local.generate_data_key().await.ciphertext_blob.expect("blob");
        Arc::new(local)
    }

    async fn generate_data_key(&self) -> Output {
        let request = GenerateDataKeyRequest {
            key_id: self.key_id.clone(),
            encryption_context: self.context.clone(),
            key_spec: Some("AES_256".to_owned()),
            ..GenerateDataKeyRequest::default()
        };
        let call = Call::GenerateDataKey(request);
        self.kms.call(&self.caller, call).await.expect("GenerateDataKey")
    }

    async fn decrypt(&self) -> Output {
        let request = DecryptRequest {
            ciphertext_blob: self.ciphertext.clone(),
            encryption_context: self.context.clone(),
            ..DecryptRequest::default()
        };
        self.kms
            .call(&self.caller, Call::Decrypt(request))
            .await
            .expect("Decrypt")
    }
}

impl Target for InProcess {
    async fn call(&self, operation: Operation) {
        let output = match operation {
            Operation::GenerateDataKey => self.generate_data_key().await,
            Operation::Decrypt => self.decrypt().await,
        };
        assert!(output.plaintext.is_some(), "{operation:?} returned no plaintext");
    }
}

/// The encryption context the S3 path binds object data keys to.
fn s3_context() -> Context {
    Context::from([("aws:s3:arn".to_owned(), "arn:aws:s3:::bench/object".to_owned())])
}

// ----------------------------------------------------------------- over HTTP

/// The real server with one user allowed everything and the bench key declared.
fn start_server(dir: &Path) -> RunningServer {
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\naccount_id = \"{ACCOUNT}\"\nregion = \"{REGION}\"\n\
                 [[users]]\nname = \"bench\"\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET}\"\n\
                 policy = '''{ALLOW_ALL}'''\n[[keys]]\nalias = \"alias/bench\"\n",
        dir.join("data").display()
    );
    RunningServer::start(dir, &config)
}

/// A signing KMS JSON client with the two request bodies ready.
struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    authority: String,
    signer: Signer,
    generate_data_key: Bytes,
    decrypt: Bytes,
}

impl Http {
    async fn connect(server: &RunningServer) -> Arc<Http> {
        let mut http = Http {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            authority: server.authority.clone(),
            signer: Signer::new(ACCESS_KEY, SecretKey::new(SECRET), REGION, "kms"),
            generate_data_key: Bytes::new(),
            decrypt: Bytes::new(),
        };
        let context = s3_context();
        let first = json!({"KeyId": "alias/bench", "KeySpec": "AES_256", "EncryptionContext": context});
        let output = http.send("GenerateDataKey", Bytes::from(first.to_string())).await;
        let key_arn = output["KeyId"].as_str().expect("KeyId");
        let key_id = key_arn.rsplit_once("key/").expect("key ARN").1;
        let generate = json!({"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context});
        let decrypt = json!({"CiphertextBlob": output["CiphertextBlob"], "EncryptionContext": context});
        http.generate_data_key = Bytes::from(generate.to_string());
        http.decrypt = Bytes::from(decrypt.to_string());
        Arc::new(http)
    }

    /// Sends one signed KMS request and returns its JSON output; panics unless it is a 200.
    async fn send(&self, operation: &str, body: Bytes) -> Value {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
        let target = format!("TrentService.{operation}");
        let headers = [
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let outgoing = OutgoingRequest {
            method: "POST",
            path: "/",
            query: "",
            host: &self.authority,
            headers: &headers,
            payload: PayloadHash::of_body(&body),
        };
        let date = AmzDate::from_unix_seconds(now).expect("date");
        let signed = self.signer.sign(&outgoing, date).expect("sign");
        let mut request = Request::post(format!("http://{}/", self.authority))
            .header("host", &self.authority)
            .header("x-amz-date", &signed.amz_date)
            .header("x-amz-content-sha256", &signed.content_sha256)
            .header("authorization", &signed.authorization);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = self
            .client
            .request(request.body(Full::new(body)).expect("request"))
            .await
            .expect("response");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        assert!(
            status.is_success(),
            "{operation}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).expect("JSON output")
    }
}

impl Target for Http {
    async fn call(&self, operation: Operation) {
        let output = match operation {
            Operation::GenerateDataKey => self.send("GenerateDataKey", self.generate_data_key.clone()).await,
            Operation::Decrypt => self.send("Decrypt", self.decrypt.clone()).await,
        };
        assert!(output["Plaintext"].is_string(), "{operation:?} returned no plaintext");
    }
}

// ----------------------------------------------------------------- where the time goes

/// Times each step of an in-process GenerateDataKey on its own (the KMS's private steps are
/// rebuilt from public parts), next to the whole call.
async fn breakdown(local: Arc<InProcess>, data_dir: PathBuf) {
    let store = KeyStore::File(FileStore::open(&data_dir.join("kms")).expect("key store"));
    let path = format!("keys/{}.json", local.key_id);
    let file = data_dir.join("kms").join(&path);
    let (bytes, _) = store.get(&path).await.expect("read").expect("key record");
    let record: KeyRecord = serde_json::from_slice(&bytes).expect("key record");
    let key_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{}", local.key_id);
    let root = root::load(None, &data_dir).expect("root key");
    let version = record.versions.last().expect("a version");
    let aad = format!("s3kms key material v1\n{}\n{}", local.key_id, version.material_id);
    let audit = AuditLog::open(&data_dir.join("breakdown-audit"), ACCOUNT, REGION).expect("audit");
    let request = GenerateDataKeyRequest {
        key_id: local.key_id.clone(),
        encryption_context: local.context.clone(),
        key_spec: Some("AES_256".to_owned()),
        ..GenerateDataKeyRequest::default()
    };

    println!(
        "One GenerateDataKey, step by step ({ROUNDS} rounds each, key record {} bytes):",
        bytes.len()
    );
    println!();
    println!("| step | wall µs per call | CPU µs per call |");
    println!("|---|---|---|");
    let started = Started::now();
    for _ in 0..ROUNDS {
        store.get(&path).await.expect("read");
    }
    step("read the key record through the key store (FileStore::get)", started);
    let started = Started::now();
    for _ in 0..ROUNDS {
        std::fs::read(&file).expect("read");
    }
    step("(the same read with blocking std::fs::read, for comparison)", started);
    time("parse the key record (serde_json → KeyRecord)", || {
        serde_json::from_slice::<KeyRecord>(&bytes).expect("parse");
    });
    time("parse the key policy (PolicyDocument::parse)", || {
        PolicyDocument::parse(&record.policy, PolicyKind::Resource).expect("policy");
    });
    let key_policy = PolicyDocument::parse(&record.policy, PolicyKind::Resource).expect("policy");
    time("authorize (key policy + identity policy)", || {
        let context = RequestContext::new(local.caller.principal.clone(), "kms:GenerateDataKey", &key_arn)
            .with_encryption_context(local.context.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let outcome = policy::authorize(
            policy::ResourcePolicy::Key(&key_policy),
            &local.caller.identity_policies,
            policy::GrantDecision::NotApplicable,
            &context,
        );
        assert!(outcome.is_allowed());
    });
    time(
        "unseal the key material (base64 + AES-256-GCM under the root key)",
        || {
            let sealed = BASE64.decode(&version.sealed_material).expect("base64");
            crypto::open(&root, aad.as_bytes(), &sealed).expect("unseal");
        },
    );
    let material = Key256::generate();
    time("new data key + seal the blob (CSPRNG + AES-256-GCM)", || {
        let mut data_key = [0u8; 32];
        crypto::fill_random(&mut data_key);
        blob::seal([0; 16], [0; 32], &material, &local.context, &data_key);
    });
    time("write the audit record (render + append one line)", || {
        let event = Event::new("GenerateDataKey", &request);
        audit
            .record(&local.caller, event, Ok(&Output::default()))
            .expect("audit record");
    });
    let started = Started::now();
    for _ in 0..ROUNDS {
        local.generate_data_key().await;
    }
    step("the whole call: Kms::call(GenerateDataKey)", started);
}

fn time(label: &str, mut step_once: impl FnMut()) {
    let started = Started::now();
    for _ in 0..ROUNDS {
        step_once();
    }
    step(label, started);
}

/// When a step started: wall clock and this process's CPU time.
struct Started(Instant, f64);

impl Started {
    fn now() -> Started {
        Started(Instant::now(), cpu_seconds(std::process::id()))
    }
}

fn step(label: &str, started: Started) {
    let per_call = |seconds: f64| seconds * 1e6 / f64::from(ROUNDS);
    let cpu = cpu_seconds(std::process::id()) - started.1;
    println!(
        "| {label} | {:.1} | {:.1} |",
        per_call(started.0.elapsed().as_secs_f64()),
        per_call(cpu)
    );
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
