//! The KMS ciphertext blob (what Encrypt and GenerateDataKey return) — a frozen format.
//!
//! ```text
//! offset  size  field
//! 0       1     format version = 0x01
//! 1       16    key id (the UUID's 16 bytes)
//! 17      32    key material id (which version of the key's material sealed it)
//! 49      12    nonce (random)
//! 61      n     AES-256-GCM ciphertext of the plaintext
//! 61+n    16    tag
//! ```
//!
//! The AAD is `"s3kms kms blob v1" ‖ bytes[0..61] ‖ canonical(encryption context)`, so the
//! header, the key, the material and the exact context are all authenticated: any change, or
//! a different context at Decrypt, fails authentication. The canonical context is the pairs
//! sorted by key, each as `u32 BE length ‖ UTF-8 bytes` for key then value, which cannot be
//! confused between two different maps.
//!
//! Pure: no key lookup here; [`Blob::parse`] only splits bytes, [`seal`] / [`Blob::open`] do
//! the cryptography given the material.

use std::collections::BTreeMap;

use crate::crypto::{self, Key256, NONCE_LEN, OpenError, TAG_LEN};

/// The only format version written.
pub const VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 16 + 32 + NONCE_LEN;
const AAD_LABEL: &[u8] = b"s3kms kms blob v1";

/// An encryption context: string pairs, ordered by key (the canonical order).
pub type EncryptionContext = BTreeMap<String, String>;

/// A parsed (not yet authenticated) ciphertext blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob<'a> {
    /// The key's UUID bytes.
    pub key_id: [u8; 16],
    /// The key material id.
    pub material_id: [u8; 32],
    bytes: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Splits a blob; `None` if it is not in this format (AWS then says
    /// `InvalidCiphertextException`).
    pub fn parse(bytes: &'a [u8]) -> Option<Blob<'a>> {
        if bytes.len() < HEADER_LEN + TAG_LEN || bytes[0] != VERSION {
            return None;
        }
        Some(Blob {
            key_id: bytes[1..17].try_into().ok()?,
            material_id: bytes[17..49].try_into().ok()?,
            bytes,
        })
    }

    /// Decrypts with the key material the blob names, under `context`.
    pub fn open(&self, material: &Key256, context: &EncryptionContext) -> Result<Vec<u8>, OpenError> {
        let nonce: [u8; NONCE_LEN] = self.bytes[49..HEADER_LEN].try_into().map_err(|_| OpenError)?;
        let aad = aad(&self.bytes[..HEADER_LEN], context);
        let mut buffer = self.bytes[HEADER_LEN..].to_vec();
        let length = crypto::open_in_place(material, nonce, &aad, &mut buffer)?.len();
        buffer.truncate(length);
        Ok(buffer)
    }
}

/// Encrypts `plaintext` under one key version, bound to `context`.
pub fn seal(
    key_id: [u8; 16],
    material_id: [u8; 32],
    material: &Key256,
    context: &EncryptionContext,
    plaintext: &[u8],
) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = crypto::random_array();
    let mut blob = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    blob.push(VERSION);
    blob.extend_from_slice(&key_id);
    blob.extend_from_slice(&material_id);
    blob.extend_from_slice(&nonce);
    let aad = aad(&blob, context);
    blob.extend_from_slice(plaintext);
    let tag = crypto::seal_in_place(material, nonce, &aad, &mut blob[HEADER_LEN..]);
    blob.extend_from_slice(&tag);
    blob
}

/// The length of the blob for a plaintext of `length` bytes.
pub fn sealed_len(length: usize) -> usize {
    HEADER_LEN + length + TAG_LEN
}

fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + header.len() + 64);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(header);
    for (key, value) in context {
        for part in [key, value] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
    }
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn round_trip_binds_key_material_and_context() {
        let material = Key256::generate();
        let ctx = context(&[("aws:s3:arn", "arn:aws:s3:::b/k"), ("team", "red")]);
        let sealed = seal([7; 16], [9; 32], &material, &ctx, b"data key bytes");
        assert_eq!(sealed.len(), sealed_len(14));
        let blob = Blob::parse(&sealed).expect("our format");
        assert_eq!((blob.key_id, blob.material_id), ([7; 16], [9; 32]));
        assert_eq!(blob.open(&material, &ctx).unwrap(), b"data key bytes");
        assert!(
            blob.open(&material, &context(&[("aws:s3:arn", "arn:aws:s3:::b/k")]))
                .is_err()
        );
        assert!(blob.open(&Key256::generate(), &ctx).is_err());
        for index in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[index] ^= 0x01;
            let opened = Blob::parse(&tampered).map(|b| b.open(&material, &ctx));
            assert!(!matches!(opened, Some(Ok(_))), "flipping byte {index} went unnoticed");
        }
    }

    #[test]
    fn contexts_that_concatenate_alike_differ() {
        let material = Key256::generate();
        let sealed = seal([1; 16], [2; 32], &material, &context(&[("ab", "c")]), b"x");
        let blob = Blob::parse(&sealed).unwrap();
        assert!(blob.open(&material, &context(&[("a", "bc")])).is_err());
    }

    #[test]
    fn foreign_bytes_are_not_a_blob() {
        assert!(Blob::parse(b"").is_none());
        assert!(Blob::parse(&[2; 100]).is_none());
        assert!(Blob::parse(&[1; 76]).is_none());
    }
}
