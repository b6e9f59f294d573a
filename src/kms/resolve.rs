//! Key identifiers in every form AWS accepts, parsed into a [`KeyRef`] (pure).
//!
//! Forms: key id (UUID), key ARN, alias name (`alias/…`), alias ARN. ARNs of another region
//! or account name nothing here and fail with AWS's `NotFoundException` texts.

use super::KmsError;

/// What a `KeyId` member names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key, by its UUID.
    Key(String),
    /// An alias, by its full name (`alias/…`).
    Alias(String),
}

/// Where keys live: the account and region of this instance.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The 12-digit account id.
    pub account_id: String,
    /// The region.
    pub region: String,
}

impl Scope {
    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    pub fn key_arn(&self, key_id: &str) -> String {
        format!("arn:aws:kms:{}:{}:key/{key_id}", self.region, self.account_id)
    }

    /// `arn:aws:kms:<region>:<account>:alias/<name>` for `alias/<name>`.
    pub fn alias_arn(&self, alias_name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias_name}", self.region, self.account_id)
    }

    /// `arn:aws:iam::<account>:root`.
    pub fn account_root(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account_id)
    }

    /// Parses any accepted form.
    pub fn parse(&self, input: &str) -> Result<KeyRef, KmsError> {
        let invalid = || KmsError::NotFound(format!("Invalid keyId '{input}'"));
        if let Some(rest) = input.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err(invalid());
            };
            if partition != "aws" || service != "kms" {
                return Err(invalid());
            }
            if region != self.region {
                return Err(KmsError::NotFound(format!("Invalid arn {region}")));
            }
            if account != self.account_id {
                return Err(KmsError::key_not_found(input));
            }
            return match resource.split_once('/') {
                Some(("key", id)) if is_key_id(id) => Ok(KeyRef::Key(id.to_owned())),
                Some(("alias", name)) if !name.is_empty() => Ok(KeyRef::Alias(format!("alias/{name}"))),
                _ => Err(invalid()),
            };
        }
        if input.starts_with("alias/") && input.len() > "alias/".len() {
            return Ok(KeyRef::Alias(input.to_owned()));
        }
        if is_key_id(input) {
            return Ok(KeyRef::Key(input.to_owned()));
        }
        Err(invalid())
    }

    /// Parses a key id or key ARN (management operations accept no aliases).
    pub fn parse_key(&self, input: &str) -> Result<String, KmsError> {
        match self.parse(input)? {
            KeyRef::Key(id) => Ok(id),
            KeyRef::Alias(_) => Err(KmsError::NotFound(format!("Invalid keyId '{input}'"))),
        }
    }
}

/// A canonical UUID: 8-4-4-4-12 lower-case hex.
pub fn is_key_id(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(group, length)| {
            group.len() == length && group.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Formats 16 bytes as a UUID.
pub fn format_key_id(bytes: &[u8; 16]) -> String {
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The 16 bytes of a UUID string.
pub fn key_id_bytes(key_id: &str) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    hex::decode_to_slice(key_id.replace('-', ""), &mut bytes).ok()?;
    Some(bytes)
}

/// A fresh random (version 4) key id.
pub fn new_key_id() -> String {
    let mut bytes: [u8; 16] = crate::crypto::random_array();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_key_id(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        Scope {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn every_form_resolves() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let s = scope();
        assert_eq!(s.parse(id).unwrap(), KeyRef::Key(id.into()));
        assert_eq!(s.parse(&s.key_arn(id)).unwrap(), KeyRef::Key(id.into()));
        assert_eq!(s.parse("alias/app").unwrap(), KeyRef::Alias("alias/app".into()));
        assert_eq!(
            s.parse(&s.alias_arn("alias/app")).unwrap(),
            KeyRef::Alias("alias/app".into())
        );
    }

    #[test]
    fn foreign_and_malformed_ids_use_aws_texts() {
        let s = scope();
        let other_region = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(s.parse(other_region).unwrap_err().to_string(), "Invalid arn eu-west-1");
        assert_eq!(s.parse("nope").unwrap_err().to_string(), "Invalid keyId 'nope'");
        assert!(s.parse_key("alias/app").is_err());
    }

    #[test]
    fn generated_ids_are_canonical_and_round_trip() {
        let id = new_key_id();
        assert!(is_key_id(&id), "{id}");
        assert_eq!(format_key_id(&key_id_bytes(&id).unwrap()), id);
    }
}
