//! Per-bucket settings that s3kms keeps itself and never forwards to the upstream (L1):
//! the default encryption configuration and the bucket policy.
//!
//! Owns: parsing, validating and rendering `ServerSideEncryptionConfiguration` exactly as AWS
//! does (one `Rule`; `KMSMasterKeyID` only with `aws:kms`; the key id is not checked here —
//! AWS only finds a bad key at object write time), the AWS default since 2023 (SSE-S3, no
//! bucket key) for buckets without a configuration, and storing both settings in the key store
//! under `buckets/<bucket>/…`, so every instance sharing the store sees them.
//!
//! The upstream's own SSE must stay off: s3kms encrypts, and the store only sees ciphertext.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::kms::store::{KeyStore, StoreError};
use crate::policy::{PolicyDocument, PolicyKind};
use crate::xml::{Document, escape_into};

/// AWS's limit on a bucket policy's size.
pub const MAX_BUCKET_POLICY_BYTES: usize = 20 * 1024;

/// The algorithm a bucket applies to writes that name none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DefaultAlgorithm {
    /// SSE-S3 (`AES256`): an s3kms-managed key.
    Aes256,
    /// SSE-KMS with this key (any key id form, as configured), or `aws/s3` when `None`.
    AwsKms(Option<String>),
}

/// A bucket's default encryption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultEncryption {
    /// What to apply.
    pub algorithm: DefaultAlgorithm,
    /// `BucketKeyEnabled`.
    pub bucket_key_enabled: bool,
}

/// Why a configuration document was refused; the S3 layer maps it to AWS's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigurationError {
    /// `400 MalformedXML`.
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedXml,
    /// `400 InvalidArgument` naming the element.
    #[error("{message}")]
    InvalidArgument {
        /// AWS's text.
        message: String,
        /// The offending element.
        argument: &'static str,
    },
    /// `501 NotImplemented` (DSSE-KMS).
    #[error("{0}")]
    NotImplemented(String),
}

impl DefaultEncryption {
    /// What every bucket without a configuration applies (AWS since 2023-01-05).
    pub const AWS_DEFAULT: DefaultEncryption = DefaultEncryption {
        algorithm: DefaultAlgorithm::Aes256,
        bucket_key_enabled: false,
    };

    /// Parses a PutBucketEncryption body.
    pub fn parse_xml(body: &[u8]) -> Result<DefaultEncryption, ConfigurationError> {
        let document = Document::parse(body).map_err(|_| ConfigurationError::MalformedXml)?;
        if document.root != "ServerSideEncryptionConfiguration" || document.count("Rule") != 1 {
            return Err(ConfigurationError::MalformedXml);
        }
        let by_default = "Rule/ApplyServerSideEncryptionByDefault";
        let algorithm = document
            .one(&format!("{by_default}/SSEAlgorithm"))
            .ok_or(ConfigurationError::MalformedXml)?;
        let key_id = document
            .one(&format!("{by_default}/KMSMasterKeyID"))
            .filter(|k| !k.is_empty());
        let algorithm = match (algorithm, key_id) {
            ("AES256", None) => DefaultAlgorithm::Aes256,
            ("AES256", Some(_)) => {
                return Err(ConfigurationError::InvalidArgument {
                    message:
                        "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
                            .to_owned(),
                    argument: "ApplyServerSideEncryptionByDefault",
                });
            }
            ("aws:kms", key_id) => DefaultAlgorithm::AwsKms(key_id.map(str::to_owned)),
            ("aws:kms:dsse", _) => {
                return Err(ConfigurationError::NotImplemented(
                    "DSSE-KMS (aws:kms:dsse) is not supported by s3kms; use aws:kms.".to_owned(),
                ));
            }
            (other, _) => {
                return Err(ConfigurationError::InvalidArgument {
                    message: format!("The encryption algorithm {other} is not valid."),
                    argument: "SSEAlgorithm",
                });
            }
        };
        let bucket_key_enabled = match document.one("Rule/BucketKeyEnabled") {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(ConfigurationError::MalformedXml),
        };
        Ok(DefaultEncryption {
            algorithm,
            bucket_key_enabled,
        })
    }

    /// The GetBucketEncryption document (the key id exactly as configured).
    pub fn to_xml(&self) -> String {
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>",
        );
        match &self.algorithm {
            DefaultAlgorithm::Aes256 => xml.push_str("AES256</SSEAlgorithm>"),
            DefaultAlgorithm::AwsKms(key_id) => {
                xml.push_str("aws:kms</SSEAlgorithm>");
                if let Some(key_id) = key_id {
                    xml.push_str("<KMSMasterKeyID>");
                    escape_into(&mut xml, key_id);
                    xml.push_str("</KMSMasterKeyID>");
                }
            }
        }
        xml.push_str("</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>");
        xml.push_str(if self.bucket_key_enabled { "true" } else { "false" });
        xml.push_str("</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>");
        xml
    }
}

/// Bucket settings in the key store.
#[derive(Clone)]
pub struct BucketSettings {
    store: Arc<KeyStore>,
}

impl BucketSettings {
    /// Settings kept in `store`.
    pub fn new(store: Arc<KeyStore>) -> BucketSettings {
        BucketSettings { store }
    }

    /// The bucket's default encryption ([`DefaultEncryption::AWS_DEFAULT`] when none is set).
    pub async fn encryption(&self, bucket: &str) -> Result<DefaultEncryption, SettingsError> {
        match self.store.get(&encryption_path(bucket)).await? {
            Some((bytes, _)) => serde_json::from_slice(&bytes)
                .map_err(|e| SettingsError::Corrupt(encryption_path(bucket), e.to_string())),
            None => Ok(DefaultEncryption::AWS_DEFAULT),
        }
    }

    /// Sets the default encryption.
    pub async fn put_encryption(&self, bucket: &str, configuration: &DefaultEncryption) -> Result<(), SettingsError> {
        let bytes = serde_json::to_vec_pretty(configuration)
            .map_err(|e| SettingsError::Corrupt(bucket.to_owned(), e.to_string()))?;
        self.replace(&encryption_path(bucket), &bytes).await
    }

    /// Resets the default encryption to AWS's default (idempotent).
    pub async fn delete_encryption(&self, bucket: &str) -> Result<(), SettingsError> {
        self.remove(&encryption_path(bucket)).await
    }

    /// The bucket policy text, if any.
    pub async fn policy(&self, bucket: &str) -> Result<Option<String>, SettingsError> {
        let Some((bytes, _)) = self.store.get(&policy_path(bucket)).await? else {
            return Ok(None);
        };
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| SettingsError::Corrupt(policy_path(bucket), e.to_string()))
    }

    /// The bucket policy, parsed (for authorization).
    pub async fn policy_document(&self, bucket: &str) -> Result<Option<PolicyDocument>, SettingsError> {
        let Some(text) = self.policy(bucket).await? else {
            return Ok(None);
        };
        PolicyDocument::parse(&text, PolicyKind::Resource)
            .map(Some)
            .map_err(|e| SettingsError::Corrupt(policy_path(bucket), e.to_string()))
    }

    /// Sets the bucket policy after validating it (`MalformedPolicy` text on failure).
    pub async fn put_policy(&self, bucket: &str, text: &str) -> Result<(), SettingsError> {
        if text.len() > MAX_BUCKET_POLICY_BYTES {
            return Err(SettingsError::InvalidPolicy(
                "Policies must be less than 20 KB".to_owned(),
            ));
        }
        PolicyDocument::parse(text, PolicyKind::Resource).map_err(|e| SettingsError::InvalidPolicy(e.to_string()))?;
        self.replace(&policy_path(bucket), text.as_bytes()).await
    }

    /// Deletes the bucket policy (idempotent).
    pub async fn delete_policy(&self, bucket: &str) -> Result<(), SettingsError> {
        self.remove(&policy_path(bucket)).await
    }

    /// Forgets everything about a deleted bucket.
    pub async fn forget(&self, bucket: &str) -> Result<(), SettingsError> {
        self.remove(&encryption_path(bucket)).await?;
        self.remove(&policy_path(bucket)).await
    }

    async fn replace(&self, path: &str, bytes: &[u8]) -> Result<(), SettingsError> {
        Ok(self.store.replace(path, bytes).await?)
    }

    async fn remove(&self, path: &str) -> Result<(), SettingsError> {
        Ok(self.store.remove(path).await?)
    }
}

/// Why a settings operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The key store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record cannot be read.
    #[error("bucket settings record {0} is corrupt: {1}")]
    Corrupt(String, String),
    /// A bucket policy was refused (`400 MalformedPolicy`).
    #[error("{0}")]
    InvalidPolicy(String),
}

fn encryption_path(bucket: &str) -> String {
    format!("buckets/{bucket}/encryption.json")
}

fn policy_path(bucket: &str) -> String {
    format!("buckets/{bucket}/policy.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::store::FileStore;

    fn configuration(rule: &str) -> String {
        format!(
            "<ServerSideEncryptionConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{rule}</ServerSideEncryptionConfiguration>"
        )
    }

    #[test]
    fn parses_what_the_sdks_send_and_renders_it_back() {
        let kms = configuration(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>alias/app</KMSMasterKeyID></ApplyServerSideEncryptionByDefault><BucketKeyEnabled>true</BucketKeyEnabled></Rule>",
        );
        let parsed = DefaultEncryption::parse_xml(kms.as_bytes()).unwrap();
        assert_eq!(
            parsed,
            DefaultEncryption {
                algorithm: DefaultAlgorithm::AwsKms(Some("alias/app".into())),
                bucket_key_enabled: true
            }
        );
        assert_eq!(
            DefaultEncryption::parse_xml(parsed.to_xml().as_bytes()).unwrap(),
            parsed
        );
        let aes = configuration(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>",
        );
        assert_eq!(
            DefaultEncryption::parse_xml(aes.as_bytes()).unwrap(),
            DefaultEncryption::AWS_DEFAULT
        );
    }

    #[test]
    fn refuses_what_aws_refuses() {
        assert_eq!(
            DefaultEncryption::parse_xml(configuration("").as_bytes()),
            Err(ConfigurationError::MalformedXml)
        );
        let rule = "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>";
        let two = configuration(&format!("{rule}{rule}"));
        assert_eq!(
            DefaultEncryption::parse_xml(two.as_bytes()),
            Err(ConfigurationError::MalformedXml)
        );
        let key_with_aes = configuration(
            "<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID></ApplyServerSideEncryptionByDefault></Rule>",
        );
        match DefaultEncryption::parse_xml(key_with_aes.as_bytes()) {
            Err(ConfigurationError::InvalidArgument { message, argument }) => {
                assert_eq!(argument, "ApplyServerSideEncryptionByDefault");
                assert!(message.starts_with("a KMSMasterKeyID is not applicable"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            DefaultEncryption::parse_xml(b"<not-xml"),
            Err(ConfigurationError::MalformedXml)
        );
    }

    #[tokio::test]
    async fn settings_persist_default_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let settings = BucketSettings::new(Arc::new(KeyStore::File(FileStore::open(dir.path()).unwrap())));
        assert_eq!(settings.encryption("b").await.unwrap(), DefaultEncryption::AWS_DEFAULT);
        let kms = DefaultEncryption {
            algorithm: DefaultAlgorithm::AwsKms(None),
            bucket_key_enabled: false,
        };
        settings.put_encryption("b", &kms).await.unwrap();
        settings.put_encryption("b", &kms).await.unwrap();
        assert_eq!(settings.encryption("b").await.unwrap(), kms);
        settings.delete_encryption("b").await.unwrap();
        settings.delete_encryption("b").await.unwrap();
        assert_eq!(settings.encryption("b").await.unwrap(), DefaultEncryption::AWS_DEFAULT);

        assert!(matches!(
            settings.put_policy("b", "{").await,
            Err(SettingsError::InvalidPolicy(_))
        ));
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*","Condition":{"Null":{"s3:x-amz-server-side-encryption":"true"}}}]}"#;
        settings.put_policy("b", policy).await.unwrap();
        assert_eq!(settings.policy("b").await.unwrap().as_deref(), Some(policy));
        assert!(settings.policy_document("b").await.unwrap().is_some());
        settings.forget("b").await.unwrap();
        assert_eq!(settings.policy("b").await.unwrap(), None);
    }
}
