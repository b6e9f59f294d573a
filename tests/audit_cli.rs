//! `s3kms audit` against a small trail written into a temporary data_dir: the real binary,
//! with filters combined, a truncated line, an alias resolved through the key store, and files
//! outside the time range left unopened.

use std::path::Path;
use std::process::{Command, Output};

use s3kms::sigv4::AmzDate;
use serde_json::{Value, json};

const ACCOUNT: &str = "111122223333";
const APP_KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_KEY: &str = "0000abcd-12ab-34cd-56ef-1234567890ab";

struct Call<'a> {
    request_id: &'a str,
    time: &'a str,
    event: &'a str,
    user: &'a str,
    key_id: Option<&'a str>,
    resources: &'a [&'a str],
    error: Option<&'a str>,
}

/// A record of the shape `src/kms/audit.rs` writes.
fn record(call: &Call) -> String {
    let mut identity = json!({
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLE",
        "arn": format!("arn:aws:iam::{ACCOUNT}:user/{}", call.user),
        "accountId": ACCOUNT,
        "accessKeyId": format!("AKIA{}", call.user.to_uppercase()),
        "userName": call.user,
    });
    if call.request_id == "via-s3" {
        identity["invokedBy"] = json!("s3.amazonaws.com");
    }
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": call.time,
        "eventSource": "kms.amazonaws.com",
        "eventName": call.event,
        "awsRegion": "us-east-1",
        "requestParameters": call.key_id.map(|key_id| json!({"keyId": key_id})),
        "responseElements": null,
        "requestID": call.request_id,
        "resources": call.resources.iter().map(|id| json!({
            "accountId": ACCOUNT,
            "type": "AWS::KMS::Key",
            "ARN": key_arn(id),
        })).collect::<Vec<_>>(),
        "eventType": "AwsApiCall",
    });
    if let Some(code) = call.error {
        record["errorCode"] = json!(code);
        record["errorMessage"] = json!("not allowed");
    }
    record.to_string() + "\n"
}

fn key_arn(key_id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}")
}

/// A data_dir with three days of trail (one with a truncated last line, one unreadable), a
/// record from a minute ago, and `alias/app` pointing to APP_KEY.
fn data_dir(dir: &Path) {
    let audit = dir.join("data/audit");
    let aliases = dir.join("data/kms/aliases");
    std::fs::create_dir_all(&audit).unwrap();
    std::fs::create_dir_all(&aliases).unwrap();
    std::fs::write(
        aliases.join("alias%2Fapp.json"),
        json!({"alias_name": "alias/app", "target_key_id": APP_KEY, "creation_date": 0.0, "last_updated_date": 0.0})
            .to_string(),
    )
    .unwrap();
    let calls = |calls: &[Call]| calls.iter().map(record).collect::<String>();
    let day_one = calls(&[
        Call {
            request_id: "create",
            time: "2025-11-27T09:00:00Z",
            event: "CreateKey",
            user: "alice",
            key_id: None,
            resources: &[APP_KEY],
            error: None,
        },
        Call {
            request_id: "via-s3",
            time: "2025-11-27T10:00:00Z",
            event: "GenerateDataKey",
            user: "alice",
            key_id: Some("alias/app"),
            resources: &[APP_KEY],
            error: None,
        },
    ]);
    let day_two = calls(&[
        Call {
            request_id: "denied",
            time: "2025-11-28T08:00:00Z",
            event: "Decrypt",
            user: "bob",
            key_id: None,
            resources: &[APP_KEY],
            error: Some("AccessDeniedException"),
        },
        Call {
            request_id: "decrypt",
            time: "2025-11-28T09:00:00Z",
            event: "Decrypt",
            user: "alice",
            key_id: None,
            resources: &[APP_KEY],
            error: None,
        },
        Call {
            request_id: "other",
            time: "2025-11-28T10:00:00Z",
            event: "Encrypt",
            user: "bob",
            key_id: Some(OTHER_KEY),
            resources: &[OTHER_KEY],
            error: None,
        },
    ]);
    std::fs::write(audit.join("kms-2025-11-27.jsonl"), day_one).unwrap();
    let truncated = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUs"#;
    std::fs::write(audit.join("kms-2025-11-28.jsonl"), day_two + truncated).unwrap();
    std::fs::write(audit.join("kms-2025-11-20.jsonl"), "not a record\n").unwrap();
    let now = s3kms::kms::now() as i64 - 60;
    let compact = AmzDate::from_unix_seconds(now).unwrap().to_string();
    let (date, clock) = (&compact[..8], &compact[9..15]);
    let day = format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..]);
    let time = format!("{day}T{}:{}:{}Z", &clock[..2], &clock[2..4], &clock[4..]);
    let recent = record(&Call {
        request_id: "recent",
        time: &time,
        event: "ListKeys",
        user: "carol",
        key_id: None,
        resources: &[],
        error: None,
    });
    std::fs::write(audit.join(format!("kms-{day}.jsonl")), recent).unwrap();
    let config = format!(
        "data_dir = \"{}\"\naccount_id = \"{ACCOUNT}\"\n[[users]]\nname = \"alice\"\naccess_key_id = \"AKIAALICE\"\nsecret_access_key = \"alice-secret-123\"\n",
        dir.join("data").display()
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
}

fn audit(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s3kms"))
        .arg("audit")
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(args)
        .output()
        .expect("run s3kms")
}

/// The request ids of `--json` output, in order; the command must succeed.
fn request_ids(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).expect("--json prints records");
            record["requestID"].as_str().unwrap().to_owned()
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn an_alias_selects_its_calls_and_its_keys_and_bad_lines_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let output = audit(dir.path(), &["--key", "alias/app", "--json"]);
    assert_eq!(request_ids(&output), ["create", "via-s3", "denied", "decrypt"]);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("skipped 1 unreadable line(s) in ") && stderr.contains("kms-2025-11-28.jsonl"),
        "{stderr}"
    );
    assert!(
        stderr.contains("kms-2025-11-20.jsonl"),
        "no time range: every file is read: {stderr}"
    );
    let by_arn = audit(dir.path(), &["--key", &key_arn(OTHER_KEY), "--json"]);
    assert_eq!(request_ids(&by_arn), ["other"]);
}

#[test]
fn filters_combine_into_one_table() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let output = audit(dir.path(), &["--principal", "bob", "--errors", "--key", APP_KEY]);
    assert!(output.status.success());
    let stdout = text(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("TIME") && lines[0].contains("OUTCOME"), "{stdout}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        row,
        [
            "2025-11-28T08:00:00Z",
            "Decrypt",
            "bob",
            APP_KEY,
            "AccessDeniedException"
        ]
    );
    let via_s3 = text(&audit(dir.path(), &["--event", "generatedatakey"]).stdout);
    assert!(via_s3.lines().nth(1).unwrap().contains(" alice via s3 "), "{via_s3}");
}

#[test]
fn time_ranges_open_only_the_files_they_overlap() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let output = audit(
        dir.path(),
        &[
            "--event",
            "DECRYPT",
            "--since",
            "2025-11-28T00:00:00Z",
            "--until",
            "2025-11-28",
            "--json",
        ],
    );
    assert_eq!(
        request_ids(&output),
        Vec::<String>::new(),
        "--until a date is its midnight"
    );
    let output = audit(
        dir.path(),
        &["--event", "DECRYPT", "--since", "2025-11-28T00:00:00Z", "--json"],
    );
    assert_eq!(request_ids(&output), ["denied", "decrypt"]);
    let stderr = text(&output.stderr);
    assert!(
        !stderr.contains("kms-2025-11-20") && stderr.contains("kms-2025-11-28"),
        "{stderr}"
    );
    let recent = audit(dir.path(), &["--since", "-1h", "--json"]);
    assert_eq!(request_ids(&recent), ["recent"]);
    assert!(text(&recent.stderr).is_empty(), "old files are not opened");
    let until = audit(dir.path(), &["--until=2025-11-27T09:30:00+00:00", "--json"]);
    assert_eq!(request_ids(&until), ["create"]);
}

#[test]
fn limit_keeps_the_most_recent_calls() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let output = audit(
        dir.path(),
        &["--until", "2025-11-29T00:00:00Z", "--limit", "2", "--json"],
    );
    assert_eq!(request_ids(&output), ["decrypt", "other"]);
}

#[test]
fn bad_times_and_the_help_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    data_dir(dir.path());
    let output = audit(dir.path(), &["--since", "-1x"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("'-1x' is not a time"),
        "{}",
        text(&output.stderr)
    );
    let help = Command::new(env!("CARGO_BIN_EXE_s3kms"))
        .args(["audit", "--help"])
        .output()
        .unwrap();
    let help = text(&help.stdout);
    for flag in [
        "--config",
        "--key",
        "--principal",
        "--event",
        "--errors",
        "--since",
        "--until",
        "--limit",
        "--json",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
