//! `s3kms rewrap`: move the objects of a bucket (or a prefix of it) onto a KMS key, through a
//! running s3kms.
//!
//! Two modes, both in place and both through the S3 API, signed as a configured user, so
//! every object access is authorized by S3 and key policies and every KMS use is audited:
//! - **rewrap** (default): each object keeps its data key and its stored bytes; only the wrap
//!   changes (`x-s3kms-copy-mode: rewrap`, see `s3::rewrap`). Needs `kms:Decrypt` on the old
//!   key and `kms:Encrypt` on the new one. Objects already wrapped under the key's current
//!   material are left alone, so running it twice, or after a rotation, is safe and cheap.
//! - **re-encrypt** (`--reencrypt`): each object gets a fresh data key and is sealed again
//!   (`x-s3kms-copy-mode: reencrypt`): for objects written before s3kms (plaintext) and for
//!   objects whose data keys may have leaked with a compromised KMS key. Objects already under
//!   the key are skipped.
//!
//! Each copy is pinned to the ETag the HEAD saw, so an object overwritten meanwhile fails (and
//! is retried by the next run) instead of being rolled back. Progress is checkpointed in a
//! state file after every object completed in listing order, so an interrupted run resumes
//! where it stopped; the file is removed when a run finishes without failures.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use indicatif::{ProgressBar, ProgressStyle};
use percent_encoding::percent_decode_str;
use s3kms::config::UpstreamConfig;
use s3kms::kms_client::{ClientError, root_cause};
use s3kms::s3::rewrap::{COPY_MODE, REWRAP_RESULT};
use s3kms::sigv4::uri_encode;
use s3kms::upstream::{Upstream, UpstreamRequest};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Connection;

/// The largest object CopyObject re-encrypts (AWS's copy limit).
const MAX_COPY_LEN: u64 = 5 << 30;
/// How often the state file is rewritten while objects complete.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// `s3kms rewrap`.
#[derive(Args)]
pub struct RewrapArgs {
    #[command(flatten)]
    connection: super::ConnectionArgs,
    /// The bucket whose objects move.
    #[arg(long, value_name = "B")]
    bucket: String,
    /// Only objects whose keys start with P.
    #[arg(long, value_name = "P", default_value = "")]
    prefix: String,
    /// The KMS key the objects move onto: key id, key ARN, alias name or alias ARN.
    #[arg(long, value_name = "K")]
    to_key: String,
    /// Re-encrypt under fresh data keys instead of re-wrapping the existing ones; also
    /// encrypts objects written before s3kms. Moves every byte through s3kms.
    #[arg(long)]
    reencrypt: bool,
    /// Only report what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Objects processed at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// The checkpoint file (default: ./s3kms-rewrap-<bucket>.json).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Ignore an existing checkpoint and start from the first object.
    #[arg(long)]
    restart: bool,
    /// Print one line per object.
    #[arg(long)]
    verbose: bool,
}

/// Why `s3kms rewrap` could not run (failures of single objects are reported, not this).
#[derive(Debug, thiserror::Error)]
enum RewrapError {
    #[error(transparent)]
    Open(#[from] super::OpenError),
    #[error("the KMS key {key}: {source}")]
    Key { key: String, source: ClientError },
    #[error("{0}")]
    S3(String),
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
}

/// The checkpoint of one job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    bucket: String,
    prefix: String,
    to_key: String,
    reencrypt: bool,
    /// Every object up to and including this key (in listing order) is done.
    after: Option<String>,
    /// Objects done by earlier runs.
    done: u64,
}

/// One listed object.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    /// Plaintext size, as s3kms lists it.
    size: u64,
}

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Rewrapped,
    Unchanged,
    Reencrypted,
    AlreadyOnKey,
    Plaintext,
    Vanished,
    WouldRewrap,
    WouldReencrypt,
    Failed(String),
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Rewrapped => "rewrapped",
            Outcome::Unchanged => "unchanged (already under the key's current material)",
            Outcome::Reencrypted => "re-encrypted",
            Outcome::AlreadyOnKey => "skipped (already under the key)",
            Outcome::Plaintext => "skipped (not encrypted by s3kms: use --reencrypt)",
            Outcome::Vanished => "skipped (deleted meanwhile)",
            Outcome::WouldRewrap => "would be rewrapped",
            Outcome::WouldReencrypt => "would be re-encrypted",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// Runs `s3kms rewrap`; exit status 1 if it could not run or any object failed.
pub fn run(args: RewrapArgs) -> ExitCode {
    match execute(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("s3kms: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The job's context, shared by the object tasks.
struct Job {
    s3: Upstream,
    bucket: String,
    key_arn: String,
    reencrypt: bool,
    dry_run: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn execute(args: &RewrapArgs) -> Result<bool, RewrapError> {
    let (config, connection) = args.connection.open()?;
    let key_arn = key_arn(&connection, &config.region, &args.to_key).await?;
    let s3 = Upstream::new(&UpstreamConfig {
        endpoint: connection.endpoint.clone(),
        region: config.region.clone(),
        access_key_id: connection.user.access_key_id.clone(),
        secret_access_key: connection.user.secret_access_key.clone(),
        ca_file: connection.ca_file.clone(),
    })
    .map_err(|error| RewrapError::S3(error.to_string()))?;
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("s3kms-rewrap-{}.json", args.bucket)));
    let fresh = State {
        bucket: args.bucket.clone(),
        prefix: args.prefix.clone(),
        to_key: key_arn.clone(),
        reencrypt: args.reencrypt,
        after: None,
        done: 0,
    };
    let mut state = if args.restart || args.dry_run {
        fresh.clone()
    } else {
        resume(&state_path, &fresh)?
    };
    let job = Job {
        s3,
        bucket: args.bucket.clone(),
        key_arn,
        reencrypt: args.reencrypt,
        dry_run: args.dry_run,
    };
    let objects = list(&job, &args.prefix, state.after.as_deref()).await?;
    let mode = if args.reencrypt { "re-encrypt" } else { "rewrap" };
    let dry = if args.dry_run {
        " (dry run: nothing is written)"
    } else {
        ""
    };
    println!(
        "{mode} of s3://{}/{} onto {}: {} objects{dry}",
        args.bucket,
        args.prefix,
        job.key_arn,
        objects.len()
    );
    if let Some(after) = &state.after {
        println!("resuming after {after} ({} objects done before)", state.done);
    }
    let progress = progress_bar(objects.len() as u64);
    let mut tally: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    let mut failures: Vec<(String, String)> = Vec::new();
    let mut last_write = Instant::now();
    let mut results = futures_util::stream::iter(objects.iter())
        .map(|object| {
            let job = &job;
            async move { (object, process(job, object).await) }
        })
        .buffered(usize::from(args.jobs));
    while let Some((object, outcome)) = results.next().await {
        let entry = tally.entry(outcome.label()).or_default();
        entry.0 += 1;
        entry.1 += object.size;
        if args.verbose {
            let detail = match &outcome {
                Outcome::Failed(reason) => format!("failed: {reason}"),
                other => other.label().to_owned(),
            };
            say(&progress, &format!("{}: {detail}", object.key));
        }
        match outcome {
            Outcome::Failed(reason) => failures.push((object.key.clone(), reason)),
            _ if failures.is_empty() && !args.dry_run => {
                state.after = Some(object.key.clone());
                state.done += 1;
                if last_write.elapsed() >= CHECKPOINT_EVERY {
                    save(&state_path, &state)?;
                    last_write = Instant::now();
                }
            }
            _ => {}
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if !args.dry_run {
        if failures.is_empty() {
            remove(&state_path)?;
        } else {
            save(&state_path, &state)?;
        }
    }
    print_summary(&tally, &failures, &state_path, args.dry_run);
    Ok(failures.is_empty())
}

/// The key's ARN (DescribeKey through the KMS API, as the user).
async fn key_arn(connection: &Connection, region: &str, key: &str) -> Result<String, RewrapError> {
    let failed = |source| RewrapError::Key {
        key: key.to_owned(),
        source,
    };
    let client = connection.kms_client(region).map_err(failed)?;
    let described = client
        .call("DescribeKey", json!({ "KeyId": key }))
        .await
        .map_err(failed)?;
    described["KeyMetadata"]["Arn"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| RewrapError::S3(format!("DescribeKey of {key} answered without an ARN")))
}

/// The checkpoint of this job, or a fresh start; a checkpoint of another job is an error.
fn resume(path: &Path, fresh: &State) -> Result<State, RewrapError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(fresh.clone()),
        Err(error) => return Err(state_error(path, error.to_string())),
    };
    let saved: State = serde_json::from_str(&text).map_err(|error| state_error(path, error.to_string()))?;
    let same_job = saved.bucket == fresh.bucket
        && saved.prefix == fresh.prefix
        && saved.to_key == fresh.to_key
        && saved.reencrypt == fresh.reencrypt;
    if !same_job {
        return Err(state_error(
            path,
            format!(
                "it checkpoints another job (s3://{}/{} onto {}{}); pass --restart to discard it or --state for another file",
                saved.bucket,
                saved.prefix,
                saved.to_key,
                if saved.reencrypt { ", re-encrypt" } else { "" }
            ),
        ));
    }
    Ok(saved)
}

fn save(path: &Path, state: &State) -> Result<(), RewrapError> {
    let text = serde_json::to_string_pretty(state).map_err(|error| state_error(path, error.to_string()))?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text + "\n")
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| state_error(path, error.to_string()))
}

fn remove(path: &Path) -> Result<(), RewrapError> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(state_error(path, error.to_string())),
        _ => Ok(()),
    }
}

fn state_error(path: &Path, reason: String) -> RewrapError {
    RewrapError::State {
        path: path.to_owned(),
        reason,
    }
}

/// Every object under `prefix`, after `start_after`, in listing order (ListObjectsV2).
async fn list(job: &Job, prefix: &str, start_after: Option<&str>) -> Result<Vec<Listed>, RewrapError> {
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut query = vec![
            ("list-type".to_owned(), "2".to_owned()),
            ("encoding-type".to_owned(), "url".to_owned()),
            ("prefix".to_owned(), prefix.to_owned()),
        ];
        match (&token, start_after) {
            (Some(token), _) => query.push(("continuation-token".to_owned(), token.clone())),
            (None, Some(after)) => query.push(("start-after".to_owned(), after.to_owned())),
            (None, None) => {}
        }
        let (status, _, body) = send(job, Method::GET, None, query, HeaderMap::new()).await?;
        if !status.is_success() {
            return Err(RewrapError::S3(format!(
                "listing s3://{}/{prefix}: {}",
                job.bucket,
                error_text(status, &body)
            )));
        }
        let document = s3kms::xml::Document::parse(&body)
            .map_err(|error| RewrapError::S3(format!("listing s3://{}: {error}", job.bucket)))?;
        let encoded = document.one("EncodingType") == Some("url");
        let keys = document.all("Contents/Key");
        let sizes = document.all("Contents/Size");
        if keys.len() != sizes.len() {
            return Err(RewrapError::S3(format!(
                "listing s3://{}: entries without a key or a size",
                job.bucket
            )));
        }
        for (key, size) in keys.iter().zip(sizes) {
            let key = if encoded {
                percent_decode_str(key).decode_utf8_lossy().into_owned()
            } else {
                (*key).to_owned()
            };
            objects.push(Listed {
                key,
                size: size.parse().unwrap_or(0),
            });
        }
        token = document.one("NextContinuationToken").map(str::to_owned);
        if document.one("IsTruncated") != Some("true") || token.is_none() {
            return Ok(objects);
        }
    }
}

/// What one object is now.
enum Current {
    /// Written by s3kms; the SSE-KMS key ARN (`None` for SSE-S3), and the ETag.
    Sealed {
        key_arn: Option<String>,
        etag: String,
    },
    /// Not written by s3kms.
    Plaintext {
        etag: Option<String>,
    },
    Vanished,
}

async fn process(job: &Job, object: &Listed) -> Outcome {
    match current(job, object).await {
        Err(reason) => Outcome::Failed(reason),
        Ok(Current::Vanished) => Outcome::Vanished,
        Ok(Current::Plaintext { .. }) if !job.reencrypt => Outcome::Plaintext,
        Ok(Current::Sealed { key_arn: Some(arn), .. }) if job.reencrypt && arn == job.key_arn => Outcome::AlreadyOnKey,
        Ok(_) if job.reencrypt && object.size > MAX_COPY_LEN => Outcome::Failed(format!(
            "{} bytes: larger than the 5 GiB a copy re-encrypts; rewrap it instead, or copy it with a multipart upload",
            object.size
        )),
        Ok(_) if job.dry_run => {
            if job.reencrypt {
                Outcome::WouldReencrypt
            } else {
                Outcome::WouldRewrap
            }
        }
        Ok(Current::Sealed { etag, .. }) => copy(job, object, Some(&etag)).await,
        Ok(Current::Plaintext { etag }) => copy(job, object, etag.as_deref()).await,
    }
}

/// HEAD, and for a 403 the GET that tells an unencrypted object from a denial.
async fn current(job: &Job, object: &Listed) -> Result<Current, String> {
    let (status, headers, _) = send(job, Method::HEAD, Some(&object.key), Vec::new(), HeaderMap::new())
        .await
        .map_err(|error| error.to_string())?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    match status {
        StatusCode::NOT_FOUND => return Ok(Current::Vanished),
        // s3kms names the encryption of every object it wrote; one it serves without (in a
        // bucket of `plaintext_buckets`) is stored as plaintext.
        status if status.is_success() && text("x-amz-server-side-encryption").is_none() => {
            return Ok(Current::Plaintext { etag: text("etag") });
        }
        status if status.is_success() => {
            return Ok(Current::Sealed {
                key_arn: text("x-amz-server-side-encryption-aws-kms-key-id"),
                etag: text("etag").unwrap_or_default(),
            });
        }
        StatusCode::FORBIDDEN => {}
        status => return Err(format!("HEAD answered {status}")),
    }
    let mut range = HeaderMap::new();
    range.insert(http::header::RANGE, HeaderValue::from_static("bytes=0-0"));
    let (status, _, body) = send(job, Method::GET, Some(&object.key), Vec::new(), range)
        .await
        .map_err(|error| error.to_string())?;
    if error_code(&body).as_deref() == Some("InvalidObjectState") {
        return Ok(Current::Plaintext { etag: text("etag") });
    }
    Err(error_text(status, &body))
}

/// The in-place copy that rewraps or re-encrypts `object`.
async fn copy(job: &Job, object: &Listed, etag: Option<&str>) -> Outcome {
    let mut headers = HeaderMap::new();
    let source = format!("{}/{}", job.bucket, object.key);
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    put("x-amz-copy-source", &uri_encode(source.as_bytes(), true));
    put("x-amz-server-side-encryption", "aws:kms");
    put("x-amz-server-side-encryption-aws-kms-key-id", &job.key_arn);
    put(COPY_MODE, if job.reencrypt { "reencrypt" } else { "rewrap" });
    if let Some(etag) = etag.filter(|etag| !etag.is_empty()) {
        put("x-amz-copy-source-if-match", etag);
    }
    let answer = send(job, Method::PUT, Some(&object.key), Vec::new(), headers).await;
    let (status, headers, body) = match answer {
        Ok(answer) => answer,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    if !status.is_success() || error_code(&body).is_some() {
        return Outcome::Failed(match status {
            StatusCode::PRECONDITION_FAILED => "changed while it was processed; run again".to_owned(),
            _ => error_text(status, &body),
        });
    }
    match headers.get(REWRAP_RESULT).and_then(|v| v.to_str().ok()) {
        _ if job.reencrypt => Outcome::Reencrypted,
        Some("unchanged") => Outcome::Unchanged,
        Some("rewrapped") => Outcome::Rewrapped,
        _ => Outcome::Failed("the endpoint does not rewrap (is it s3kms?)".to_owned()),
    }
}

/// One request to the bucket (or one of its objects), answered whole.
async fn send(
    job: &Job,
    method: Method,
    key: Option<&str>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
) -> Result<(StatusCode, HeaderMap, Bytes), RewrapError> {
    let request = UpstreamRequest {
        method,
        bucket: Some(job.bucket.clone()),
        key: key.map(str::to_owned),
        query,
        headers,
        body: None,
    };
    let response = job
        .s3
        .send(request)
        .await
        .map_err(|error| RewrapError::S3(format!("s3kms: {}", root_cause(&error))))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|error| RewrapError::S3(format!("s3kms: {error}")))?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

fn error_code(body: &[u8]) -> Option<String> {
    let document = s3kms::xml::Document::parse(body).ok()?;
    (document.root == "Error").then(|| document.one("Code").unwrap_or_default().to_owned())
}

/// `Code: Message` of an S3 error answer, or the status.
fn error_text(status: StatusCode, body: &[u8]) -> String {
    match s3kms::xml::Document::parse(body) {
        Ok(document) if document.root == "Error" => format!(
            "{}: {}",
            document.one("Code").unwrap_or_default(),
            document.one("Message").unwrap_or_default()
        ),
        _ => format!("HTTP {status}"),
    }
}

/// A bar on stderr when it is a terminal; hidden otherwise (logs, CI).
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} objects  {elapsed_precise} (eta {eta})") {
        bar.set_style(style);
    }
    bar
}

/// A line that does not tear the progress bar.
fn say(progress: &ProgressBar, line: &str) {
    if progress.is_hidden() {
        println!("{line}");
    } else {
        progress.println(line);
    }
}

fn print_summary(tally: &BTreeMap<&'static str, (u64, u64)>, failures: &[(String, String)], state: &Path, dry: bool) {
    for (label, (count, bytes)) in tally {
        println!("  {count:>8} {label} ({})", human_bytes(*bytes));
    }
    if tally.is_empty() {
        println!("  nothing to do");
    }
    for (key, reason) in failures {
        println!("  failed: {key}: {reason}");
    }
    if !failures.is_empty() && !dry {
        println!(
            "{} failed; the checkpoint in {} resumes before the first: run the same command again",
            failures.len(),
            state.display()
        );
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(after: Option<&str>) -> State {
        State {
            bucket: "b".into(),
            prefix: "p/".into(),
            to_key: "arn:aws:kms:us-east-1:111122223333:key/k".into(),
            reencrypt: false,
            after: after.map(str::to_owned),
            done: 3,
        }
    }

    #[test]
    fn a_checkpoint_resumes_only_its_own_job() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("state.json");
        let fresh = state(None);
        assert_eq!(resume(&path, &fresh).unwrap(), fresh);
        save(&path, &state(Some("p/7"))).unwrap();
        assert_eq!(resume(&path, &fresh).unwrap().after.as_deref(), Some("p/7"));
        let other = State {
            to_key: "arn:aws:kms:us-east-1:111122223333:key/other".into(),
            ..fresh.clone()
        };
        let refused = resume(&path, &other).unwrap_err().to_string();
        assert!(refused.contains("--restart"), "{refused}");
        remove(&path).unwrap();
        remove(&path).unwrap();
        assert_eq!(resume(&path, &fresh).unwrap(), fresh);
        std::fs::write(&path, "not json").unwrap();
        assert!(resume(&path, &fresh).is_err());
    }

    #[test]
    fn errors_read_as_code_and_message() {
        let body = b"<Error><Code>AccessDenied</Code><Message>User: x is not authorized</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("AccessDenied"));
        assert_eq!(
            error_text(StatusCode::FORBIDDEN, body),
            "AccessDenied: User: x is not authorized"
        );
        assert_eq!(error_code(b"<CopyObjectResult><ETag>e</ETag></CopyObjectResult>"), None);
        assert_eq!(error_text(StatusCode::BAD_GATEWAY, b"<html>"), "HTTP 502 Bad Gateway");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
