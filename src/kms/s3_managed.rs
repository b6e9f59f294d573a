//! The s3kms-managed key behind SSE-S3 (`AES256`): what AWS calls an "Amazon S3 managed key".
//!
//! AWS's SSE-S3 involves no KMS key: no key policy, no grant, no CloudTrail record. s3kms does
//! the same: an SSE-S3 data key is wrapped under a key derived from the root key with
//! HKDF-SHA256, in the ordinary ciphertext-blob format (so the object's encryption context is
//! its AAD), with an all-zero key id and material id that no KMS key can have. Every instance
//! that shares the root key opens every SSE-S3 object; nothing more is stored.
//!
//! Does not: authorize (SSE-S3 needs only the S3 permissions), audit, or rotate (rotating the
//! root key is a re-encryption of everything, as for KMS key material).

use aws_lc_rs::hkdf;
use zeroize::Zeroize;

use super::blob::{self, Blob, EncryptionContext};
use super::{Kms, KmsError};
use crate::crypto::Key256;

/// HKDF info of the SSE-S3 wrapping key; a change is a new key, never an edit.
const WRAPPING_KEY_INFO: &[u8] = b"s3kms SSE-S3 wrapping key v1";
/// The key id and material id an SSE-S3 blob carries.
const S3_MANAGED_KEY_ID: [u8; 16] = [0; 16];
const S3_MANAGED_MATERIAL_ID: [u8; 32] = [0; 32];

impl Kms {
    /// Wraps an SSE-S3 data key, bound to `context`.
    pub fn seal_s3_managed(&self, context: &EncryptionContext, data_key: &[u8]) -> Vec<u8> {
        let key = self.s3_managed_key();
        blob::seal(S3_MANAGED_KEY_ID, S3_MANAGED_MATERIAL_ID, &key, context, data_key)
    }

    /// Opens an SSE-S3 data key; `InvalidCiphertext` for anything s3kms did not wrap this way
    /// under this root key and context.
    pub fn open_s3_managed(&self, wrapped: &[u8], context: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
        let parsed = Blob::parse(wrapped).ok_or(KmsError::InvalidCiphertext)?;
        if parsed.key_id != S3_MANAGED_KEY_ID || parsed.material_id != S3_MANAGED_MATERIAL_ID {
            return Err(KmsError::InvalidCiphertext);
        }
        parsed
            .open(&self.s3_managed_key(), context)
            .map_err(|_| KmsError::InvalidCiphertext)
    }

    /// The ARN of the key `key_id` names (any form), for S3 policy conditions evaluated on the
    /// key S3 will use; creates `alias/aws/s3` on first use, as AWS does. No authorization: the
    /// key is used only through [`Kms::call`], which authorizes.
    pub async fn key_arn(&self, key_id: &str) -> Result<String, KmsError> {
        Ok(self.resolve_or_create_managed(key_id).await?.arn)
    }

    fn s3_managed_key(&self) -> Key256 {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(self.root.expose());
        let mut okm = [0u8; 32];
        prk.expand(&[WRAPPING_KEY_INFO], hkdf::HKDF_SHA256)
            .and_then(|okm_source| okm_source.fill(&mut okm))
            .expect("HKDF-SHA256 can always expand to 32 bytes");
        let key = Key256::from_bytes(okm);
        okm.zeroize();
        key
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn kms_in(dir: &std::path::Path, root: Key256) -> Kms {
        let store =
            super::super::store::KeyStore::File(super::super::store::FileStore::open(&dir.join("kms")).unwrap());
        let scope = super::super::Scope {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        };
        let audit = super::super::AuditLog::open(&dir.join("audit"), "111122223333", "us-east-1").unwrap();
        Kms::new(std::sync::Arc::new(store), root, scope, audit)
    }

    #[test]
    fn wraps_bound_to_the_context_and_the_root_key() {
        let dir = tempfile::tempdir().unwrap();
        let kms = kms_in(dir.path(), Key256::generate());
        let context = BTreeMap::from([("aws:s3:arn".to_owned(), "arn:aws:s3:::b/k".to_owned())]);
        let wrapped = kms.seal_s3_managed(&context, &[7; 32]);
        assert_eq!(kms.open_s3_managed(&wrapped, &context).unwrap(), vec![7; 32]);
        let other = BTreeMap::from([("aws:s3:arn".to_owned(), "arn:aws:s3:::b/other".to_owned())]);
        assert!(matches!(
            kms.open_s3_managed(&wrapped, &other),
            Err(KmsError::InvalidCiphertext)
        ));
        let stranger = kms_in(dir.path(), Key256::generate());
        assert!(stranger.open_s3_managed(&wrapped, &context).is_err());
    }
}
