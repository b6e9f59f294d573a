//! The embedded store, driven by a real S3 client (boto3) over loopback.
//!
//! Each test starts the store in-process on `127.0.0.1:0` through `embedded::start`, runs one
//! scenario of `tests/embedded_store.py` (which asserts what the client sees), then checks the
//! store's directory: part files and upload records gone, sidecar never visible.

use std::path::Path;
use std::process::Command;

use s3kms::upstream::embedded::{self, OBJECTS_DIR, SIDECAR_DIR};

/// Runs `scenario` against a fresh store; returns the scenario's facts and the store root.
fn run_scenario(scenario: &str) -> (serde_json::Value, tempfile::TempDir) {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = runtime
        .block_on(embedded::start(data_dir.path(), "us-east-1"))
        .expect("store starts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/embedded_store.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(&store.upstream.endpoint)
        .arg(&store.upstream.access_key_id)
        .arg(store.upstream.secret_access_key.expose())
        .arg(scenario)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "scenario {scenario} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let facts = serde_json::from_slice(&output.stdout).expect("scenario prints JSON");
    drop(runtime);
    (facts, data_dir)
}

/// Names of the files directly under `dir` that start with `prefix`.
fn files_starting_with(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

fn assert_uploads_left_nothing(facts: &serde_json::Value, data_dir: &Path) {
    let root = data_dir.join(OBJECTS_DIR);
    let upload_ids = facts["upload_ids"].as_array().expect("upload ids");
    assert!(!upload_ids.is_empty());
    for id in upload_ids.iter().filter_map(|id| id.as_str()) {
        let leftovers = files_starting_with(&root, &format!(".upload_id-{id}"));
        assert!(leftovers.is_empty(), "part files left for {id}: {leftovers:?}");
        assert!(files_starting_with(&root, &format!(".upload-{id}")).is_empty());
    }
    let records = std::fs::read_dir(root.join(SIDECAR_DIR).join("uploads")).expect("uploads dir");
    assert_eq!(records.count(), 0, "upload records left behind");
}

#[test]
fn tags_round_trip_and_follow_the_object() {
    run_scenario("tagging");
}

#[test]
fn uploads_are_listed_until_they_end_and_leave_no_parts() {
    let (facts, data_dir) = run_scenario("uploads");
    assert_uploads_left_nothing(&facts, data_dir.path());
}

#[test]
fn refused_completions_keep_the_upload_and_gaps_are_allowed() {
    let (facts, data_dir) = run_scenario("completion_checks");
    assert_uploads_left_nothing(&facts, data_dir.path());
}

#[test]
fn sidecar_state_is_invisible_and_unreachable() {
    let (_, data_dir) = run_scenario("hidden_state");
    let sidecar = data_dir.path().join(OBJECTS_DIR).join(SIDECAR_DIR);
    assert!(sidecar.join("objects").is_dir());
    assert!(!data_dir.path().join(OBJECTS_DIR).join("visible").exists());
}
