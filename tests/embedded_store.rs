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
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/embedded_store.py");
    // The project's pinned test venv (scripts/setup-test-env) when present, else the system's.
    let venv_python = root.join(".venv/bin/python");
    let python = if venv_python.exists() {
        venv_python
    } else {
        "python3".into()
    };
    let output = Command::new(python)
        .arg(script)
        .arg(&store.upstream.endpoint)
        .arg(&store.upstream.access_key_id)
        .arg(store.upstream.secret_access_key.expose())
        .arg(scenario)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("python with boto3 runs");
    assert!(
        output.status.success(),
        "scenario {scenario} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let facts = serde_json::from_slice(&output.stdout).expect("scenario prints JSON");
    drop(runtime);
    (facts, data_dir)
}

fn assert_uploads_left_nothing(facts: &serde_json::Value, data_dir: &Path) {
    let root = data_dir.join(OBJECTS_DIR);
    let upload_ids = facts["upload_ids"].as_array().expect("upload ids");
    assert!(!upload_ids.is_empty());
    let records = std::fs::read_dir(root.join(SIDECAR_DIR).join("uploads")).expect("uploads dir");
    assert_eq!(records.count(), 0, "upload records or parts left behind");
    assert_temp_dir_is_empty(data_dir);
}

fn assert_temp_dir_is_empty(data_dir: &Path) {
    let temp = data_dir.join(OBJECTS_DIR).join(SIDECAR_DIR).join("tmp");
    assert_eq!(
        std::fs::read_dir(temp).expect("tmp dir").count(),
        0,
        "temp files left behind"
    );
}

/// Every data file of a bucket is named by exactly one object record (none leaked).
fn assert_no_orphan_data(data_dir: &Path, bucket: &str) {
    let bucket_dir = data_dir.join(OBJECTS_DIR).join(bucket);
    let records = std::fs::read_dir(bucket_dir.join(".objects")).expect("records").count();
    let data = std::fs::read_dir(bucket_dir.join(".data")).expect("data").count();
    assert_eq!(records, data, "data files without a record in {bucket}");
}

#[test]
fn tags_round_trip_and_follow_the_object() {
    run_scenario("tagging");
}

#[test]
fn uploads_are_listed_until_they_end_and_leave_no_parts() {
    let (facts, data_dir) = run_scenario("uploads");
    assert_uploads_left_nothing(&facts, data_dir.path());
    assert_no_orphan_data(data_dir.path(), "mpu");
}

#[test]
fn refused_completions_keep_the_upload_and_gaps_are_allowed() {
    let (facts, data_dir) = run_scenario("completion_checks");
    assert_uploads_left_nothing(&facts, data_dir.path());
    assert_no_orphan_data(data_dir.path(), "checks");
}

#[test]
fn sidecar_state_is_invisible_and_unreachable() {
    let (_, data_dir) = run_scenario("hidden_state");
    let sidecar = data_dir.path().join(OBJECTS_DIR).join(SIDECAR_DIR);
    assert!(!sidecar.join("x").exists());
    assert!(!data_dir.path().join(OBJECTS_DIR).join("visible").exists());
}

#[test]
fn object_operations_on_a_missing_bucket_are_no_such_bucket() {
    let (_, data_dir) = run_scenario("missing_bucket");
    for bucket in ["absent", "doomed"] {
        assert!(
            !data_dir.path().join(OBJECTS_DIR).join(bucket).exists(),
            "{bucket} was created"
        );
    }
}

#[test]
fn every_key_s3_accepts_is_stored_listed_and_encoded() {
    let (_, data_dir) = run_scenario("awkward_keys");
    assert_no_orphan_data(data_dir.path(), "keys");
    assert_temp_dir_is_empty(data_dir.path());
}

#[test]
fn ranges_copies_and_overwrites_keep_data_and_metadata_together() {
    let (_, data_dir) = run_scenario("reads_and_copies");
    for bucket in ["reads", "copies"] {
        assert_no_orphan_data(data_dir.path(), bucket);
    }
    assert_temp_dir_is_empty(data_dir.path());
}
