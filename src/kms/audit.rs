//! The KMS audit trail: one CloudTrail-shaped record per KMS call, allowed or denied.
//!
//! Owns: the record's shape (CloudTrail's field names, `eventSource: kms.amazonaws.com`,
//! `invokedBy: s3.amazonaws.com` for calls the S3 path makes for a user), removing secrets
//! from `requestParameters` (plaintexts, ciphertexts), and appending records as JSON lines to
//! `<dir>/kms-YYYY-MM-DD.jsonl` (UTC day). Each record is one `write` of one line, so a
//! crash can at worst leave a truncated last line, which readers skip.
//!
//! A record that cannot be written (a full disk, a read-only one) is an error for the caller,
//! [`Kms::call`](super::Kms::call), which then withholds the call's result: no KMS call hands
//! out a result without its record. The part of the line that did get written is cut off
//! again, and the record goes to the server log instead. From then on, and before any call
//! that changes something, [`AuditLog::ready`] checks that the directory takes a write.
//!
//! Invariant: no key material, plaintext, ciphertext or grant token is ever written.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Caller;

/// Request members never written to the trail.
const SECRET_MEMBERS: &[&str] = &["Plaintext", "CiphertextBlob", "GrantTokens", "GrantToken"];
/// Members whose values are user data (maps), whose keys keep their case.
const DATA_MEMBERS: &[&str] = &[
    "EncryptionContext",
    "SourceEncryptionContext",
    "DestinationEncryptionContext",
    "EncryptionContextSubset",
    "EncryptionContextEquals",
];

/// What [`AuditLog::ready`] writes (and removes) to check the directory takes records: more
/// than the largest record (a key policy is at most 32 KiB).
const PROBE_BYTES: usize = 64 * 1024;
const PROBE_FILE: &str = ".probe";

/// Operations that change nothing (CloudTrail's `readOnly`).
fn read_only(event_name: &str) -> bool {
    event_name.starts_with("Describe")
        || event_name.starts_with("List")
        || event_name.starts_with("Get")
        || matches!(
            event_name,
            "Encrypt"
                | "Decrypt"
                | "ReEncrypt"
                | "GenerateDataKey"
                | "GenerateDataKeyWithoutPlaintext"
                | "GenerateRandom"
        )
}

/// Crypto operations, whose `responseElements` CloudTrail leaves null.
fn crypto(event_name: &str) -> bool {
    matches!(
        event_name,
        "Encrypt" | "Decrypt" | "ReEncrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" | "GenerateRandom"
    )
}

/// One call being recorded.
pub struct Event {
    name: &'static str,
    request_parameters: Value,
    resources: Vec<String>,
    additional: Map<String, Value>,
}

impl Event {
    /// Starts a record of `name` with the caller's request (secrets are removed).
    pub fn new(name: &'static str, request: &impl Serialize) -> Event {
        let parameters = serde_json::to_value(request).map(clean).unwrap_or(Value::Null);
        Event {
            name,
            request_parameters: parameters,
            resources: Vec::new(),
            additional: Map::new(),
        }
    }

    /// Names the key the call used.
    pub fn key(&mut self, arn: &str) {
        if !self.resources.iter().any(|known| known == arn) {
            self.resources.push(arn.to_owned());
        }
    }

    /// Sets a `requestParameters` member the caller left out to the value the operation used
    /// (a default CloudTrail logs anyway, e.g. Decrypt's `encryptionAlgorithm`).
    pub fn default_parameter(&mut self, name: &str, value: Value) {
        if let Value::Object(parameters) = &mut self.request_parameters {
            parameters.entry(name).or_insert(value);
        }
    }

    /// The id of the first key the call used, if any.
    pub fn key_id(&self) -> Option<&str> {
        self.resources
            .first()
            .and_then(|arn| arn.rsplit_once(":key/"))
            .map(|(_, id)| id)
    }

    /// Adds an `additionalEventData` member (e.g. `keyMaterialId`).
    pub fn additional(&mut self, name: &str, value: Value) {
        self.additional.insert(name.to_owned(), value);
    }
}

/// The trail's writer.
pub struct AuditLog {
    directory: PathBuf,
    account_id: String,
    region: String,
    file: Mutex<Option<(String, std::fs::File)>>,
    /// The last record or probe could not be written.
    failing: AtomicBool,
}

impl AuditLog {
    /// A trail under `directory` (created if missing).
    pub fn open(directory: &Path, account_id: &str, region: &str) -> std::io::Result<AuditLog> {
        std::fs::create_dir_all(directory)?;
        Ok(AuditLog {
            directory: directory.to_owned(),
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            file: Mutex::new(None),
            failing: AtomicBool::new(false),
        })
    }

    /// Whether the trail can take the record of `event` before the call runs: checked with a
    /// probe write for calls that change something, and for every call while records fail.
    pub fn ready(&self, event: &Event) -> std::io::Result<()> {
        if read_only(event.name) && !self.failing.load(Ordering::Relaxed) {
            return Ok(());
        }
        let probe = self.directory.join(PROBE_FILE);
        let written = std::fs::write(&probe, [b'\n'; PROBE_BYTES]);
        let _ = std::fs::remove_file(&probe);
        self.failing.store(written.is_err(), Ordering::Relaxed);
        written
    }

    /// Writes the record of a finished call. `response` is the wire output on success. On
    /// failure the record goes to the server log, and the caller must not hand out the result.
    pub fn record(
        &self,
        caller: &Caller,
        event: Event,
        outcome: Result<&impl Serialize, &super::KmsError>,
    ) -> std::io::Result<()> {
        let record = self.render(caller, event, outcome);
        let mut line = record.to_string();
        line.push('\n');
        let written = self.append(&line);
        self.failing.store(written.is_err(), Ordering::Relaxed);
        if let Err(error) = &written {
            // The record holds no secret (see the invariant), so the log may keep it.
            tracing::error!(
                %error,
                directory = %self.directory.display(),
                record = line.trim_end(),
                "cannot write the KMS audit trail; the record follows"
            );
        }
        written
    }

    fn render(&self, caller: &Caller, event: Event, outcome: Result<&impl Serialize, &super::KmsError>) -> Value {
        let now = super::now();
        let (error_code, error_message, response) = match outcome {
            Ok(output) if !crypto(event.name) => (
                None,
                None,
                serde_json::to_value(output).map(clean).unwrap_or(Value::Null),
            ),
            Ok(_) => (None, None, Value::Null),
            Err(error) => (Some(error.name()), Some(error.to_string()), Value::Null),
        };
        let via_s3 = caller.via_s3;
        let service = "s3.amazonaws.com";
        let mut identity = json!({
            "type": "IAMUser",
            "principalId": caller.principal.unique_id,
            "arn": caller.principal.arn,
            "accountId": caller.principal.account_id,
            "accessKeyId": caller.access_key_id,
            "userName": caller.user_name,
        });
        if via_s3 {
            identity["invokedBy"] = json!(service);
        }
        let resources: Vec<Value> = event
            .resources
            .iter()
            .map(|arn| json!({"accountId": self.account_id, "type": "AWS::KMS::Key", "ARN": arn}))
            .collect();
        let mut record = json!({
            "eventVersion": "1.08",
            "userIdentity": identity,
            "eventTime": iso8601(now),
            "eventSource": "kms.amazonaws.com",
            "eventName": event.name,
            "awsRegion": self.region,
            "sourceIPAddress": if via_s3 { service } else { caller.source_ip.as_str() },
            "userAgent": if via_s3 { service } else { caller.user_agent.as_str() },
            "requestParameters": event.request_parameters,
            "responseElements": response,
            "requestID": caller.request_id,
            "eventID": super::resolve::new_key_id(),
            "readOnly": read_only(event.name),
            "resources": resources,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": self.account_id,
            "eventCategory": "Management",
        });
        if !event.additional.is_empty() {
            record["additionalEventData"] = Value::Object(event.additional);
        }
        if let (Some(code), Some(message)) = (error_code, error_message) {
            record["errorCode"] = json!(code);
            record["errorMessage"] = json!(message);
        }
        record
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        let day = iso8601(super::now())[..10].to_owned();
        let mut slot = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("audit lock poisoned"))?;
        let current = matches!(&*slot, Some((open_day, _)) if *open_day == day);
        if !current {
            let path = self.directory.join(format!("kms-{day}.jsonl"));
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(path)?;
            end_any_torn_line(&mut file)?;
            *slot = Some((day, file));
        }
        let Some((_, file)) = slot.as_mut() else {
            return Ok(());
        };
        let length = file.metadata()?.len();
        let written = file.write_all(line.as_bytes());
        // A full disk can take part of the line: cut it off, or the next record would be glued
        // to it; if even that fails, reopening the file ends the torn line.
        if written.is_err() && file.set_len(length).is_err() {
            *slot = None;
        }
        written
    }
}

/// The error a call gets instead of a result whose audit record could not be written.
pub(super) fn unaudited(error: &std::io::Error) -> super::KmsError {
    super::KmsError::Internal(format!("the KMS audit trail cannot be written: {error}"))
}

/// A trail left by a crash can end in a partial line; the next record must not be glued to it.
/// Ends such a line, so it stays one unreadable line and every later record stays whole.
fn end_any_torn_line(file: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(());
    }
    file.seek(SeekFrom::Start(length - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        file.write_all(b"\n")?;
    }
    Ok(())
}

/// Removes secret members and camel-cases member names, leaving user data maps as they are.
fn clean(value: Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut cleaned = Map::new();
            for (name, member) in members {
                if SECRET_MEMBERS.contains(&name.as_str()) || member.is_null() {
                    continue;
                }
                let member = if DATA_MEMBERS.contains(&name.as_str()) {
                    member
                } else {
                    clean(member)
                };
                cleaned.insert(camel_case(&name), member);
            }
            Value::Object(cleaned)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(clean).collect()),
        other => other,
    }
}

fn camel_case(name: &str) -> String {
    if name == "AWSAccountId" {
        return "aWSAccountId".to_owned();
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// `2026-11-28T22:01:05Z`.
pub fn iso8601(unix_seconds: f64) -> String {
    let date = crate::sigv4::AmzDate::from_unix_seconds(unix_seconds as i64)
        .map(|d| d.to_string())
        .unwrap_or_else(|| "19700101T000000Z".to_owned());
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_removed_and_names_camel_cased_but_not_context_keys() {
        let request = json!({
            "KeyId": "alias/app",
            "Plaintext": "c2VjcmV0",
            "EncryptionContext": {"Department": "IT"},
            "GrantTokens": ["t"],
        });
        assert_eq!(
            clean(request),
            json!({"keyId": "alias/app", "encryptionContext": {"Department": "IT"}})
        );
    }

    #[test]
    fn a_default_parameter_fills_only_an_absent_member() {
        let mut defaulted = Event::new("Decrypt", &json!({"EncryptionContext": {"a": "b"}}));
        defaulted.default_parameter("encryptionAlgorithm", json!("SYMMETRIC_DEFAULT"));
        assert_eq!(
            defaulted.request_parameters,
            json!({"encryptionContext": {"a": "b"}, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"})
        );
        let mut sent = Event::new("Decrypt", &json!({"EncryptionAlgorithm": "RSAES_OAEP_SHA_1"}));
        sent.default_parameter("encryptionAlgorithm", json!("SYMMETRIC_DEFAULT"));
        assert_eq!(
            sent.request_parameters,
            json!({"encryptionAlgorithm": "RSAES_OAEP_SHA_1"})
        );
    }

    fn caller() -> Caller {
        Caller {
            principal: crate::policy::Principal::user("111122223333", "alice", "AIDAALICE"),
            user_name: "alice".into(),
            access_key_id: "AKIAALICE".into(),
            identity_policies: std::sync::Arc::from(Vec::new()),
            source_ip: "127.0.0.1".into(),
            user_agent: "test".into(),
            request_id: "req".into(),
            via_s3: false,
            secure_transport: false,
        }
    }

    #[test]
    fn a_record_that_cannot_be_written_is_an_error_and_changes_wait_for_room() {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("audit");
        let log = AuditLog::open(&trail, "111122223333", "us-east-1").unwrap();
        let ok = Ok::<_, &super::super::KmsError>(&json!({}));
        let decrypt = || Event::new("Decrypt", &json!({}));
        let create = || Event::new("CreateKey", &json!({}));
        assert!(log.ready(&decrypt()).is_ok() && log.ready(&create()).is_ok());

        std::fs::remove_dir_all(&trail).unwrap();
        // A call that reads runs without a probe; its record fails, so its result must not go.
        assert!(log.ready(&decrypt()).is_ok());
        assert!(log.record(&caller(), decrypt(), ok).is_err());
        // From then on nothing runs, and a change never does, until the trail takes writes.
        assert!(log.ready(&decrypt()).is_err() && log.ready(&create()).is_err());

        std::fs::create_dir(&trail).unwrap();
        assert!(log.ready(&create()).is_ok());
        log.record(&caller(), create(), ok).unwrap();
        let files: Vec<_> = std::fs::read_dir(&trail)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(files.len(), 1, "the probe is gone: {files:?}");
        let written = std::fs::read_to_string(trail.join(&files[0])).unwrap();
        assert_eq!(written.lines().count(), 1);
        assert!(written.contains(r#""eventName":"CreateKey""#), "{written}");
    }

    #[test]
    fn times_are_cloudtrail_form() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_369_353_600.5), "2013-05-24T00:00:00Z");
    }
}
