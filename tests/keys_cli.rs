//! `s3kms keys` against the real binary: a server started with `serve` on port 0, then
//! `s3kms keys …` runs that go through its KMS API and are checked by output and exit status.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

const ACCOUNT: &str = "111122223333";
const ALLOW_ALL: &str =
    r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#;

/// `s3kms serve` on a free port over a temporary data_dir; killed on drop.
struct Server {
    child: Child,
    endpoint: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\naccount_id = \"{ACCOUNT}\"\nregion = \"us-east-1\"\n\
                 [[users]]\nname = \"admin\"\naccess_key_id = \"AKIAKEYSADMIN\"\nsecret_access_key = \"admin-secret-123\"\n\
                 policy = '''{ALLOW_ALL}'''\n\
                 [[users]]\nname = \"nobody\"\naccess_key_id = \"AKIAKEYSNOBODY\"\nsecret_access_key = \"nobody-secret-123\"\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_s3kms"))
            .args(["serve", "--config"])
            .arg(&config)
            .env("S3KMS_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start s3kms");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("ready line");
        let endpoint = line
            .trim()
            .strip_prefix("s3kms listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Server {
            child,
            endpoint,
            config,
            _dir: dir,
        }
    }

    /// `s3kms keys --config … --endpoint … ARGS`.
    fn keys(&self, args: &[&str]) -> Output {
        keys(&self.config, &self.endpoint, args)
    }

    /// Runs `args`, which must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.keys(args);
        assert!(
            output.status.success(),
            "keys {args:?} failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Runs `args` with `--json`; the parsed output.
    fn json(&self, args: &[&str]) -> Value {
        let args = [args, &["--json"]].concat();
        serde_json::from_str(&self.ok(&args)).expect("--json prints JSON")
    }

    /// Runs `args`, which must fail with status 1; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.keys(args);
        assert_eq!(output.status.code(), Some(1), "keys {args:?}: {}", text(&output.stdout));
        text(&output.stderr)
    }

    fn state(&self, key: &str) -> String {
        let described = self.json(&["describe", key]);
        described["KeyMetadata"]["KeyState"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keys(config: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_s3kms"))
        .arg("keys")
        .arg("--config")
        .arg(config)
        .args(["--endpoint", endpoint])
        .args(args)
        .output()
        .expect("run s3kms keys")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value after `label` in `describe`'s field-a-line output.
fn field(shown: &str, label: &str) -> String {
    shown
        .lines()
        .find_map(|line| line.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in:\n{shown}"))
        .trim()
        .to_owned()
}

#[test]
fn a_key_is_created_listed_described_and_disabled() {
    let server = Server::start();
    let created = server.ok(&[
        "create",
        "--description",
        "app data",
        "--alias",
        "alias/app",
        "--tag",
        "team=storage",
    ]);
    let key_id = field(&created, "Key ID");
    assert_eq!(field(&created, "Aliases"), "alias/app");
    assert_eq!(field(&created, "State"), "Enabled");

    let listed = server.ok(&["list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["KEY", "ID", "STATE", "ALIASES", "DESCRIPTION"]
    );
    let row = lines
        .iter()
        .find(|line| line.starts_with(&key_id))
        .expect("the key is listed");
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        [key_id.as_str(), "Enabled", "alias/app", "app", "data"]
    );
    let state_column = lines[0].find("STATE").unwrap();
    assert_eq!(
        &row[state_column..state_column + 7],
        "Enabled",
        "columns align:\n{listed}"
    );

    let described = server.ok(&["describe", "alias/app"]);
    assert_eq!(field(&described, "Key ID"), key_id);
    assert_eq!(field(&described, "Description"), "app data");
    let arn = field(&described, "ARN");
    assert_eq!(arn, format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"));

    assert_eq!(server.ok(&["disable", "alias/app"]), "alias/app: disabled\n");
    assert_eq!(field(&server.ok(&["describe", &arn]), "State"), "Disabled");
    server.ok(&["enable", &format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/app")]);
    assert_eq!(server.state(&key_id), "Enabled");

    let tags = server.json(&["list"]);
    let entry = tags["Keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["KeyMetadata"]["KeyId"] == json!(key_id))
        .expect("--json lists the key");
    assert_eq!(entry["Aliases"], json!(["alias/app"]));
}

#[test]
fn rotation_aliases_and_deletion() {
    let server = Server::start();
    let first = server.json(&["create", "--alias", "alias/app"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = server.json(&["create"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();

    let rotated = server.ok(&["rotate", "alias/app"]);
    assert!(rotated.contains(": rotated"), "{rotated}");
    let enabled = server.ok(&["rotation", "alias/app", "--enable", "--period-days", "90"]);
    assert!(
        enabled.starts_with("alias/app: automatic rotation enabled, every 90 days, next 20"),
        "{enabled}"
    );
    let status = server.json(&["rotation", &first, "--status"]);
    assert_eq!(status["KeyRotationEnabled"], json!(true));
    assert_eq!(
        server.ok(&["rotation", &first, "--disable"]),
        format!("{first}: automatic rotation disabled\n")
    );

    assert_eq!(
        server.ok(&["alias", "update", "alias/app", &second]),
        format!("alias/app -> {second}\n")
    );
    assert_eq!(server.ok(&["alias", "list", "--key", &first]).lines().count(), 1);
    let listed = server.ok(&["alias", "list", "--key", &second]);
    assert_eq!(
        listed.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>(),
        ["alias/app", second.as_str()]
    );
    server.ok(&["alias", "create", "alias/second", "alias/app"]);
    assert!(server.ok(&["alias", "list"]).contains("alias/second"));
    assert_eq!(server.ok(&["alias", "delete", "alias/app"]), "alias/app: deleted\n");
    let missing = server.fails(&["describe", "alias/app"]);
    assert!(missing.starts_with("s3kms: NotFoundException: "), "{missing}");

    let scheduled = server.ok(&["schedule-deletion", &second, "--days", "7"]);
    assert!(scheduled.contains(": PendingDeletion, deleted on 20"), "{scheduled}");
    assert_eq!(server.state("alias/second"), "PendingDeletion");
    let refused = server.fails(&["schedule-deletion", &second, "--days", "3"]);
    assert!(refused.starts_with("s3kms: "), "{refused}");
    server.ok(&["cancel-deletion", &second]);
    assert_eq!(server.state(&second), "Disabled");
}

#[test]
fn key_policies_round_trip() {
    let server = Server::start();
    let key_id = server.json(&["create", "--alias", "alias/policy"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let default: Value = serde_json::from_str(&server.ok(&["policy", "get", "alias/policy"])).unwrap();
    assert_eq!(default["Version"], json!("2012-10-17"));

    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/admin")},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NobodyDescribes", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/nobody")},
         "Action": "kms:DescribeKey", "Resource": "*"}
    ]});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.json");
    std::fs::write(&file, serde_json::to_string_pretty(&policy).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    assert_eq!(
        server.ok(&["policy", "put", &key_id, file]),
        format!("{key_id}: key policy replaced\n")
    );
    let read_back: Value = serde_json::from_str(&server.ok(&["policy", "get", &key_id])).unwrap();
    assert_eq!(read_back, policy);
    let as_json = server.json(&["policy", "get", "alias/policy"]);
    assert_eq!(
        serde_json::from_str::<Value>(as_json["Policy"].as_str().unwrap()).unwrap(),
        policy
    );

    // The key policy now lets `nobody` describe the key, and nothing else.
    let as_nobody = server.ok(&["describe", &key_id, "--user", "nobody", "--json"]);
    assert!(as_nobody.contains(&key_id));
    let denied = server.fails(&["disable", &key_id, "--user", "nobody"]);
    assert!(denied.starts_with("s3kms: AccessDeniedException: "), "{denied}");

    let created_with_file = server.json(&["create", "--policy-file", file]);
    let new_key = created_with_file["KeyMetadata"]["KeyId"].as_str().unwrap();
    let stored: Value = serde_json::from_str(&server.ok(&["policy", "get", new_key])).unwrap();
    assert_eq!(stored, policy);
}

#[test]
fn calls_are_audited_as_the_signing_user() {
    let server = Server::start();
    server.ok(&["create", "--alias", "alias/audited"]);
    server.ok(&["describe", "alias/audited", "--user", "admin"]);
    let output = Command::new(env!("CARGO_BIN_EXE_s3kms"))
        .args(["audit", "--event", "CreateKey", "--json", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    let trail = text(&output.stdout);
    let record: Value = serde_json::from_str(trail.lines().next().expect("a CreateKey record")).unwrap();
    assert_eq!(record["userIdentity"]["userName"], json!("admin"));
    assert!(
        record["userAgent"]
            .as_str()
            .unwrap_or_default()
            .starts_with("s3kms-keys/"),
        "{record}"
    );
}

#[test]
fn errors_name_what_went_wrong() {
    let server = Server::start();
    server.ok(&["create", "--alias", "alias/taken"]);
    let taken = server.fails(&["create", "--alias", "alias/taken"]);
    assert!(
        taken.contains("alias/taken already exists") && taken.contains("no key was created"),
        "{taken}"
    );
    assert_eq!(
        server.json(&["list"])["Keys"].as_array().unwrap().len(),
        1,
        "no second key"
    );
    let missing = server.fails(&["describe", "alias/missing"]);
    assert!(
        missing.starts_with("s3kms: NotFoundException: ") && missing.contains("alias/missing"),
        "{missing}"
    );
    let unknown = server.fails(&["list", "--user", "mallory"]);
    assert_eq!(
        unknown.trim(),
        format!(
            "s3kms: no user named \"mallory\" in {} (its users: admin, nobody)",
            server.config.display()
        )
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let refused = keys(&server.config, &endpoint, &["list"]);
    assert_eq!(refused.status.code(), Some(1));
    let refused = text(&refused.stderr);
    assert!(
        refused.starts_with(&format!("s3kms: cannot connect to s3kms at {endpoint} (")),
        "{refused}"
    );
    assert!(refused.contains("s3kms serve --config"), "{refused}");

    // The config's listen port is 0: there is no endpoint to guess.
    let output = Command::new(env!("CARGO_BIN_EXE_s3kms"))
        .args(["keys", "list", "--config"])
        .arg(&server.config)
        .output()
        .unwrap();
    assert!(
        text(&output.stderr).contains("pass --endpoint"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn every_flag_has_help() {
    let help = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_s3kms")).args(args).output().unwrap();
        assert!(output.status.success());
        text(&output.stdout)
    };
    let top = help(&["keys", "--help"]);
    for word in [
        "--config",
        "--user",
        "--endpoint",
        "--json",
        "create",
        "list",
        "describe",
        "enable",
        "disable",
        "rotate",
        "rotation",
        "schedule-deletion",
        "cancel-deletion",
        "alias",
        "policy",
    ] {
        assert!(top.contains(word), "{word} missing from:\n{top}");
    }
    let create = help(&["keys", "create", "--help"]);
    for flag in ["--description", "--alias", "--policy-file", "--tag"] {
        assert!(create.contains(flag), "{flag} missing from:\n{create}");
    }
    let rotation = help(&["keys", "rotation", "--help"]);
    for flag in ["--enable", "--period-days", "--disable", "--status"] {
        assert!(rotation.contains(flag), "{flag} missing from:\n{rotation}");
    }
    assert!(help(&["keys", "policy", "put", "--help"]).contains("--bypass-lockout-check"));
    assert!(help(&["keys", "alias", "list", "--help"]).contains("--key"));
}
