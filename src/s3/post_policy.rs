//! The policy of a POST object form (pure): its expiration and conditions, and the check AWS
//! makes of the form's fields against them.
//!
//! Conditions (AWS's browser-upload grammar): `{"field": "value"}` (exact), `["eq", "$field",
//! "value"]`, `["starts-with", "$field", "prefix"]`, `["content-length-range", min, max]`.
//! Field names are case-insensitive. Every form field except `policy`, `x-amz-signature`,
//! `file` and `x-ignore-*` must be covered by a condition. Messages follow AWS's "Invalid
//! according to Policy: …" texts (inferred from AWS's documented examples and client reports).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

/// Largest policy document accepted (AWS: 20 KB).
pub const MAX_POLICY_LEN: usize = 20 * 1024;

/// A decoded POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// Unix seconds after which the policy no longer authorizes.
    pub expiration: i64,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Equals { field: String, value: String },
    StartsWith { field: String, prefix: String },
    LengthRange { min: u64, max: u64 },
}

/// Why a policy is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyRejection {
    /// The document cannot be read (`400 InvalidPolicyDocument`).
    #[error("Invalid Policy: {0}")]
    Invalid(&'static str),
    /// The form does not satisfy it (`403 AccessDenied`).
    #[error("Invalid according to Policy: {0}")]
    Violated(String),
}

impl PostPolicy {
    /// Decodes the base64 `policy` field.
    pub fn parse(encoded: &str) -> Result<PostPolicy, PolicyRejection> {
        if encoded.len() > MAX_POLICY_LEN * 4 / 3 + 4 {
            return Err(PolicyRejection::Invalid("Policy too large."));
        }
        let json = STANDARD
            .decode(encoded.trim())
            .map_err(|_| PolicyRejection::Invalid("Invalid Base64 encoding."))?;
        let document: Value = serde_json::from_slice(&json).map_err(|_| PolicyRejection::Invalid("Invalid JSON."))?;
        let expiration = document
            .get("expiration")
            .and_then(Value::as_str)
            .and_then(parse_iso8601)
            .ok_or(PolicyRejection::Invalid("Invalid 'expiration' value."))?;
        let conditions = document
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or(PolicyRejection::Invalid("Policy missing condition."))?
            .iter()
            .map(condition)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        Ok(PostPolicy { expiration, conditions })
    }

    /// Checks the form's `fields` (lower-case names), the `bucket` and the file's `length`.
    pub fn check(
        &self,
        fields: &[(String, String)],
        bucket: &str,
        length: u64,
        now: i64,
    ) -> Result<(), PolicyRejection> {
        if now > self.expiration {
            return Err(PolicyRejection::Violated("Policy expired.".to_owned()));
        }
        let value = |name: &str| -> Option<&str> {
            if name == "bucket" {
                return Some(bucket);
            }
            fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
        };
        for condition in &self.conditions {
            let holds = match condition {
                Condition::Equals { field, value: expected } => value(field) == Some(expected.as_str()),
                Condition::StartsWith { field, prefix } => value(field).is_some_and(|v| v.starts_with(prefix.as_str())),
                Condition::LengthRange { min, max } => {
                    if length < *min {
                        return Err(PolicyRejection::Violated(format!(
                            "Your proposed upload is smaller than the minimum allowed size ({length} < {min})"
                        )));
                    }
                    if length > *max {
                        return Err(PolicyRejection::Violated(format!(
                            "Your proposed upload exceeds the maximum allowed size ({length} > {max})"
                        )));
                    }
                    true
                }
            };
            if !holds {
                return Err(PolicyRejection::Violated(format!(
                    "Policy Condition failed: {}",
                    condition.describe()
                )));
            }
        }
        let extra: Vec<&str> = fields
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !exempt(name) && !self.covers(name))
            .collect();
        if !extra.is_empty() {
            return Err(PolicyRejection::Violated(format!(
                "Extra input fields: {}",
                extra.join(", ")
            )));
        }
        Ok(())
    }

    fn covers(&self, name: &str) -> bool {
        self.conditions.iter().any(|condition| match condition {
            Condition::Equals { field, .. } | Condition::StartsWith { field, .. } => field == name,
            Condition::LengthRange { .. } => false,
        })
    }
}

impl Condition {
    fn describe(&self) -> String {
        match self {
            Condition::Equals { field, value } => format!("[\"eq\", \"${field}\", \"{value}\"]"),
            Condition::StartsWith { field, prefix } => format!("[\"starts-with\", \"${field}\", \"{prefix}\"]"),
            Condition::LengthRange { min, max } => format!("[\"content-length-range\", {min}, {max}]"),
        }
    }
}

/// Fields no condition needs to name.
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "policy" | "x-amz-signature" | "file" | "signature" | "awsaccesskeyid"
    ) || name.starts_with("x-ignore-")
}

fn condition(value: &Value) -> Result<Vec<Condition>, PolicyRejection> {
    let invalid = || PolicyRejection::Invalid("Invalid Policy condition.");
    if let Some(object) = value.as_object() {
        return object
            .iter()
            .map(|(field, value)| {
                Ok(Condition::Equals {
                    field: field.trim_start_matches('$').to_ascii_lowercase(),
                    value: value.as_str().ok_or_else(invalid)?.to_owned(),
                })
            })
            .collect();
    }
    let items = value.as_array().filter(|items| items.len() == 3).ok_or_else(invalid)?;
    let operator = items[0].as_str().ok_or_else(invalid)?.to_ascii_lowercase();
    if operator == "content-length-range" {
        let bound = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok()).ok_or_else(invalid);
        return Ok(vec![Condition::LengthRange {
            min: bound(&items[1])?,
            max: bound(&items[2])?,
        }]);
    }
    let field = items[1]
        .as_str()
        .and_then(|f| f.strip_prefix('$'))
        .ok_or_else(invalid)?
        .to_ascii_lowercase();
    let operand = items[2].as_str().ok_or_else(invalid)?.to_owned();
    match operator.as_str() {
        "eq" => Ok(vec![Condition::Equals { field, value: operand }]),
        "starts-with" => Ok(vec![Condition::StartsWith { field, prefix: operand }]),
        _ => Err(invalid()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z` as Unix seconds.
fn parse_iso8601(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let time = time.split('.').next()?;
    let compact = format!("{}T{}Z", date.replace('-', ""), time.replace(':', ""));
    crate::sigv4::AmzDate::parse(&compact).ok().map(|d| d.unix_seconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        STANDARD.encode(json)
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    const POLICY: &str = r#"{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [{"bucket": "b"}, ["starts-with", "$key", "user/"], {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, ["content-length-range", 1, 100]]}"#;

    #[test]
    fn a_form_that_matches_passes() {
        let policy = PostPolicy::parse(&encode(POLICY)).unwrap();
        let form = fields(&[
            ("key", "user/a"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("policy", "p"),
        ]);
        assert_eq!(policy.check(&form, "b", 10, 0), Ok(()));
    }

    #[test]
    fn violations_name_what_failed() {
        let policy = PostPolicy::parse(&encode(POLICY)).unwrap();
        let form = fields(&[("key", "other/a"), ("x-amz-algorithm", "AWS4-HMAC-SHA256")]);
        let failed = policy.check(&form, "b", 10, 0).unwrap_err().to_string();
        assert_eq!(
            failed,
            "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"user/\"]"
        );
        let extra = fields(&[
            ("key", "user/a"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-meta-a", "1"),
        ]);
        assert_eq!(
            policy.check(&extra, "b", 10, 0).unwrap_err().to_string(),
            "Invalid according to Policy: Extra input fields: x-amz-meta-a"
        );
        let ok = fields(&[("key", "user/a"), ("x-amz-algorithm", "AWS4-HMAC-SHA256")]);
        assert!(policy.check(&ok, "other", 10, 0).is_err());
        assert!(policy.check(&ok, "b", 101, 0).is_err());
        assert_eq!(
            policy.check(&ok, "b", 10, 2_000_000_000).unwrap_err().to_string(),
            "Invalid according to Policy: Policy expired."
        );
    }

    #[test]
    fn malformed_policies_are_invalid() {
        assert!(PostPolicy::parse("!!").is_err());
        assert!(PostPolicy::parse(&encode("{}")).is_err());
        assert!(PostPolicy::parse(&encode(r#"{"expiration": "soon", "conditions": []}"#)).is_err());
        assert!(
            PostPolicy::parse(&encode(
                r#"{"expiration": "2030-01-01T00:00:00Z", "conditions": [["nope", "$a", "b"]]}"#
            ))
            .is_err()
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any policy text, encoded or not: a decision, never a panic.
        #[test]
        fn arbitrary_policies_never_panic(text in ".{0,300}", length in any::<u64>()) {
            let encoded = STANDARD.encode(text.as_bytes());
            for candidate in [text.as_str(), encoded.as_str()] {
                if let Ok(policy) = PostPolicy::parse(candidate) {
                    let _ = policy.check(&[("key".into(), "k".into())], "b", length, 0);
                }
            }
        }
    }
}
