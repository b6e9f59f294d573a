//! s3kms from the AWS SDK for Rust: the S3 and KMS calls an application makes, against one
//! s3kms endpoint. Only the endpoint (and path-style addressing) differ from code that talks to
//! AWS.
//!
//! ```sh
//! export AWS_ENDPOINT_URL=http://127.0.0.1:7070 AWS_REGION=us-east-1
//! export AWS_ACCESS_KEY_ID=AKIAS3KMSDEMO0000001
//! export AWS_SECRET_ACCESS_KEY=s3kms-demo-secret-do-not-use-in-production
//! cargo run --manifest-path examples/aws-sdk-rust/Cargo.toml -- [--endpoint URL] [--bucket NAME]
//! ```
//!
//! The endpoint, credentials and region come from the environment as for any AWS SDK program
//! (`--endpoint` overrides `AWS_ENDPOINT_URL`; without either, `http://127.0.0.1:7070`). The
//! user needs an identity policy that allows the S3 and KMS actions below, as the demo user of
//! s3kms's `config.toml` has. Over plain HTTP, s3kms accepts SSE-KMS only with
//! `allow_sse_kms_over_http = true` (the demo config sets it), as AWS requires TLS for it.
//!
//! Each run creates a KMS key with an alias and a bucket (both with a random suffix), then:
//! a PUT with SSE-KMS under that key, a GET of it, a ranged GET, a multipart upload, a listing
//! and a presigned GET fetched without the SDK. Every step prints `ok <step>: ...`; the first
//! thing read back that differs from what was written prints `MISMATCH` and the program exits
//! with status 1. The bucket and key are left for you to look at.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Error = Box<dyn StdError + Send + Sync>;

const MIB: usize = 1024 * 1024;
/// The default endpoint: s3kms's `listen` in its demo `config.toml`.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:7070";
const SMALL_KEY: &str = "hello.bin";
const MULTIPART_KEY: &str = "multipart/big.bin";
/// S3's smallest part size: every part but the last must be at least this big.
const PART_SIZE: usize = 5 * MIB;

#[tokio::main]
async fn main() -> ExitCode {
    let arguments = match Arguments::parse() {
        Ok(arguments) => arguments,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    match run(arguments).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The SDK's errors nest: "service error" <- "unhandled error (AccessDenied)" <- the
            // code and message S3 sent. Print the whole chain.
            eprintln!("error: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(arguments: Arguments) -> Result<(), Error> {
    // Credentials from the usual chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY first),
    // the region from AWS_REGION or the profile, else us-east-1 (s3kms's default `region`).
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(RegionProviderChain::default_provider().or_else("us-east-1"));
    // The SDK reads AWS_ENDPOINT_URL itself. --endpoint overrides it; with neither, talk to
    // the demo s3kms rather than to AWS.
    let endpoint_unset = std::env::var_os("AWS_ENDPOINT_URL").is_none();
    if let Some(endpoint) = arguments
        .endpoint
        .or_else(|| endpoint_unset.then(|| DEFAULT_ENDPOINT.to_owned()))
    {
        loader = loader.endpoint_url(endpoint);
    }
    let shared = loader.load().await;
    let endpoint = shared.endpoint_url().unwrap_or(DEFAULT_ENDPOINT).to_owned();
    // Path-style (http://host/bucket/key): a local endpoint has no DNS for bucket.host.
    let s3_config = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(s3_config);
    // The KMS API is on the same endpoint as S3.
    let kms = aws_sdk_kms::Client::new(&shared);

    let suffix = unique_suffix();
    let key = create_key(&kms, &suffix).await?;
    let bucket = arguments.bucket.unwrap_or_else(|| format!("sdk-example-{suffix}"));
    s3.create_bucket().bucket(&bucket).send().await?;
    println!("bucket: {bucket} at {endpoint}");

    let small = put_and_get(&s3, &bucket, &key).await?;
    // s3kms encrypts in 64 KiB segments: a range across the first boundary (65536).
    ranged_get(&s3, &bucket, SMALL_KEY, &small, 65_000..=66_000).await?;
    let big = multipart_upload(&s3, &bucket, &key).await?;
    // A range across the boundary of the first two parts.
    let boundary = PART_SIZE as u64;
    ranged_get(&s3, &bucket, MULTIPART_KEY, &big, boundary - 100..=boundary + 99).await?;
    list(&s3, &bucket, &[(SMALL_KEY, small.len()), (MULTIPART_KEY, big.len())]).await?;
    presigned_get(&s3, &bucket, SMALL_KEY, &small).await?;

    println!(
        "done: bucket {bucket} and key {} are left for you to inspect",
        key.alias
    );
    Ok(())
}

/// A KMS key of the embedded KMS, by alias and by ARN (what S3 answers with).
struct KmsKey {
    alias: String,
    arn: String,
}

async fn create_key(kms: &aws_sdk_kms::Client, suffix: &str) -> Result<KmsKey, Error> {
    let created = kms
        .create_key()
        .description("s3kms aws-sdk-rust example key")
        .send()
        .await?;
    let metadata = created.key_metadata().ok_or("CreateKey returned no KeyMetadata")?;
    let arn = metadata.arn().ok_or("CreateKey returned no key ARN")?.to_owned();
    let alias = format!("alias/sdk-example-{suffix}");
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(metadata.key_id())
        .send()
        .await?;
    println!("key: {arn} ({alias})");
    Ok(KmsKey { alias, arn })
}

/// PUT one object with SSE-KMS under `key` (named by its alias), GET it back: same bytes,
/// and both answers name the algorithm and the key's ARN, as S3 does.
async fn put_and_get(s3: &aws_sdk_s3::Client, bucket: &str, key: &KmsKey) -> Result<Vec<u8>, Error> {
    let body = pseudo_random_bytes(100 * 1024 + 1);
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(SMALL_KEY)
        .body(ByteStream::from(body.clone()))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.alias)
        .send()
        .await?;
    check(
        "put",
        is_sse_kms_under(put.server_side_encryption(), put.ssekms_key_id(), key),
        format!(
            "PutObject s3://{bucket}/{SMALL_KEY} ({} bytes), SSE-KMS under {}",
            body.len(),
            key.arn
        ),
    )?;

    let got = s3.get_object().bucket(bucket).key(SMALL_KEY).send().await?;
    let headers_match = is_sse_kms_under(got.server_side_encryption(), got.ssekms_key_id(), key);
    let downloaded = got.body.collect().await?.into_bytes();
    check(
        "get",
        downloaded == body.as_slice(),
        format!("GetObject returns the {} bytes written", body.len()),
    )?;
    check(
        "get",
        headers_match,
        format!("GetObject says SSE-KMS under {}", key.arn),
    )?;
    Ok(body)
}

/// GET `range` (inclusive, as HTTP ranges are) of an object whose bytes are `whole`.
async fn ranged_get(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &str,
    whole: &[u8],
    range: std::ops::RangeInclusive<u64>,
) -> Result<(), Error> {
    let (first, last) = (*range.start(), *range.end());
    let header = format!("bytes={first}-{last}");
    let got = s3.get_object().bucket(bucket).key(object).range(&header).send().await?;
    let content_range = got.content_range().map(str::to_owned);
    let slice = got.body.collect().await?.into_bytes();
    let expected = &whole[first as usize..=last as usize];
    check(
        "range",
        slice == expected,
        format!(
            "GetObject {object} with Range {header} returns exactly those {} bytes",
            expected.len()
        ),
    )?;
    let expected_content_range = format!("bytes {first}-{last}/{}", whole.len());
    check(
        "range",
        content_range.as_deref() == Some(expected_content_range.as_str()),
        format!("Content-Range is {expected_content_range}"),
    )
}

/// A multipart upload with SSE-KMS: two parts of 5 MiB and a shorter last one. Each part is
/// encrypted as it arrives; the object reads back as one.
async fn multipart_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &KmsKey) -> Result<Vec<u8>, Error> {
    let body = pseudo_random_bytes(2 * PART_SIZE + MIB + 7);
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(MULTIPART_KEY)
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(&key.alias)
        .send()
        .await?;
    let upload_id = upload.upload_id().ok_or("CreateMultipartUpload returned no UploadId")?;

    let mut parts = Vec::new();
    for (index, chunk) in body.chunks(PART_SIZE).enumerate() {
        let part_number = i32::try_from(index + 1)?;
        let uploaded = s3
            .upload_part()
            .bucket(bucket)
            .key(MULTIPART_KEY)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await?;
        parts.push(
            CompletedPart::builder()
                .part_number(part_number)
                .set_e_tag(uploaded.e_tag().map(str::to_owned))
                .build(),
        );
    }
    let part_count = parts.len();
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(MULTIPART_KEY)
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await?;

    let got = s3.get_object().bucket(bucket).key(MULTIPART_KEY).send().await?;
    let headers_match = is_sse_kms_under(got.server_side_encryption(), got.ssekms_key_id(), key);
    let downloaded = got.body.collect().await?.into_bytes();
    check(
        "multipart",
        downloaded == body.as_slice() && headers_match,
        format!(
            "multipart upload s3://{bucket}/{MULTIPART_KEY} in {part_count} parts reads back as the {} bytes written, SSE-KMS under {}",
            body.len(),
            key.arn
        ),
    )?;
    Ok(body)
}

/// ListObjectsV2 shows every object with its plaintext size (s3kms stores more: the
/// ciphertext carries a header, a tag per 64 KiB and a trailer).
async fn list(s3: &aws_sdk_s3::Client, bucket: &str, expected: &[(&str, usize)]) -> Result<(), Error> {
    let listed = s3.list_objects_v2().bucket(bucket).send().await?;
    let mut found: Vec<(String, i64)> = listed
        .contents()
        .iter()
        .map(|object| (object.key().unwrap_or_default().to_owned(), object.size().unwrap_or(-1)))
        .collect();
    found.sort();
    let mut wanted: Vec<(String, i64)> = expected
        .iter()
        .map(|(name, size)| ((*name).to_owned(), *size as i64))
        .collect();
    wanted.sort();
    check("list", found == wanted, format!("ListObjectsV2 lists {wanted:?}"))
}

/// A presigned GET URL (SigV4 in the query string) lets anyone holding it read the object,
/// here for five minutes, with any HTTP client: no credentials, no SDK.
async fn presigned_get(s3: &aws_sdk_s3::Client, bucket: &str, object: &str, expected: &[u8]) -> Result<(), Error> {
    let presigned = s3
        .get_object()
        .bucket(bucket)
        .key(object)
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300))?)
        .await?;
    let url = presigned.uri();
    println!("presigned URL: {url}");
    let (status, body) = http_get(url).await?;
    check(
        "presign",
        status == 200 && body == expected,
        format!(
            "the presigned URL, fetched with a plain HTTP GET, returns the {} bytes (HTTP {status})",
            expected.len()
        ),
    )
}

/// A plain HTTP/1.1 GET over a TCP stream, enough for a local `http://` endpoint. (Use an
/// HTTP client crate such as reqwest, or curl, for `https://`.)
async fn http_get(url: &str) -> Result<(u16, Vec<u8>), Error> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("this example fetches http:// URLs only")?;
    let (authority, path_and_query) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(authority).await?;
    // The host must be the one the URL was signed for: the signature covers it.
    let request = format!("GET {path_and_query} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;

    let head_end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or("the response has no end of headers")?;
    let head = std::str::from_utf8(&response[..head_end])?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("the response has no status line")?;
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return Err("a chunked response: this small client reads Content-Length bodies only".into());
    }
    Ok((status, response[head_end + 4..].to_vec()))
}

fn is_sse_kms_under(algorithm: Option<&ServerSideEncryption>, key_id: Option<&str>, key: &KmsKey) -> bool {
    algorithm == Some(&ServerSideEncryption::AwsKms) && key_id == Some(key.arn.as_str())
}

/// Print `ok <step>: <what>`, or stop the program with a [`Mismatch`].
fn check(step: &str, condition: bool, what: String) -> Result<(), Error> {
    if !condition {
        return Err(Mismatch(format!("{step}: {what}")).into());
    }
    println!("ok {step}: {what}");
    Ok(())
}

/// Something read back differs from what was written.
#[derive(Debug)]
struct Mismatch(String);

impl fmt::Display for Mismatch {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "MISMATCH: {}", self.0)
    }
}

impl StdError for Mismatch {}

#[derive(Default)]
struct Arguments {
    endpoint: Option<String>,
    bucket: Option<String>,
}

impl Arguments {
    /// `[--endpoint URL] [--bucket NAME]`; anything else is answered with the usage line.
    fn parse() -> Result<Self, &'static str> {
        const USAGE: &str = "usage: s3kms-aws-sdk-rust-example [--endpoint URL] [--bucket NAME]";
        let mut parsed = Arguments::default();
        let mut arguments = std::env::args().skip(1);
        while let Some(argument) = arguments.next() {
            let slot = match argument.as_str() {
                "--endpoint" => &mut parsed.endpoint,
                "--bucket" => &mut parsed.bucket,
                _ => return Err(USAGE),
            };
            *slot = Some(arguments.next().ok_or(USAGE)?);
        }
        Ok(parsed)
    }
}

/// Eight hex digits that differ from run to run, for the bucket and alias names.
fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{:08x}", nanos ^ std::process::id().rotate_left(16))
}

/// Bytes that differ from run to run and have no pattern (xorshift64), so a wrong range or a
/// misplaced part shows up as a mismatch. Any data would do; this avoids a `rand` dependency.
fn pseudo_random_bytes(len: usize) -> Vec<u8> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut state = (nanos as u64) | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
