//! Symmetric cryptography primitives (L0, pure): 256-bit secrets, AES-256-GCM, randomness.
//!
//! Owns: the one AEAD s3kms uses (AES-256-GCM from aws-lc-rs, chosen by measurement: see
//! `../shared/research/performance-limits.md`), the secret-key newtype, and the CSPRNG.
//! Does not: define any byte format (callers frame nonces, tags and AAD themselves), or store
//! keys.
//!
//! Invariants: a [`Key256`] zeroizes on drop, prints as `[redacted]`, and compares in
//! constant time; an [`open`] that fails returns no plaintext.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of an AES-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of an AES-GCM tag.
pub const TAG_LEN: usize = 16;

/// A 256-bit secret key (KMS key material, a data key, the root key).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key256([u8; 32]);

impl Key256 {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Key256 {
        Key256(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> Key256 {
        Key256(random_array())
    }

    /// The raw bytes, for sealing under another key or handing to a client that asked for a
    /// plaintext data key. Keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256([redacted])")
    }
}

impl PartialEq for Key256 {
    fn eq(&self, other: &Key256) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Key256 {}

/// Authentication failed: wrong key, wrong AAD, or tampered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("authentication failed")]
pub struct OpenError;

/// Encrypts `plaintext` in place and returns the tag.
pub fn seal_in_place(key: &Key256, nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &mut [u8]) -> [u8; TAG_LEN] {
    let key = aead_key(key);
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), plaintext)
        .expect("AES-256-GCM sealing fails only for inputs over 64 GiB");
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Decrypts `ciphertext ‖ tag` in place and returns the plaintext part of the buffer.
/// On failure the buffer is zeroed and no plaintext is returned.
pub fn open_in_place<'a>(
    key: &Key256,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &'a mut [u8],
) -> Result<&'a mut [u8], OpenError> {
    let key = aead_key(key);
    let nonce = Nonce::assume_unique_for_key(nonce);
    if key.open_in_place(nonce, Aad::from(aad), ciphertext_and_tag).is_err() {
        ciphertext_and_tag.zeroize();
        return Err(OpenError);
    }
    let plaintext_len = ciphertext_and_tag.len() - TAG_LEN;
    Ok(&mut ciphertext_and_tag[..plaintext_len])
}

/// `nonce ‖ ciphertext ‖ tag` of `plaintext` under a fresh random nonce.
pub fn seal(key: &Key256, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce: [u8; NONCE_LEN] = random_array();
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = seal_in_place(key, nonce, aad, &mut out[NONCE_LEN..]);
    out.extend_from_slice(&tag);
    out
}

/// Opens what [`seal`] produced.
pub fn open(key: &Key256, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError)?;
    let mut buffer = rest.to_vec();
    let plaintext_len = open_in_place(key, nonce, aad, &mut buffer)?.len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

/// `N` bytes from the system CSPRNG.
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

/// Fills `buffer` from the system CSPRNG.
pub fn fill_random(buffer: &mut [u8]) {
    SystemRandom::new()
        .fill(buffer)
        .expect("the system random number generator failed");
}

fn aead_key(key: &Key256) -> LessSafeKey {
    let unbound = UnboundKey::new(&AES_256_GCM, key.expose()).expect("a 32-byte key is valid for AES-256");
    LessSafeKey::new(unbound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let key = Key256::generate();
        let sealed = seal(&key, b"context", b"secret bytes");
        assert_eq!(open(&key, b"context", &sealed).unwrap(), b"secret bytes");
        assert_eq!(open(&key, b"other", &sealed), Err(OpenError));
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert_eq!(open(&key, b"context", &flipped), Err(OpenError));
        assert_eq!(open(&Key256::generate(), b"context", &sealed), Err(OpenError));
        assert_eq!(open(&key, b"context", &sealed[..10]), Err(OpenError));
    }

    /// NIST GCM test case 14 (AES-256, zero key, zero IV, one zero block).
    #[test]
    fn known_answer() {
        let key = Key256::from_bytes([0; 32]);
        let mut block = [0u8; 16];
        let tag = seal_in_place(&key, [0; 12], b"", &mut block);
        assert_eq!(hex::encode(block), "cea7403d4d606b6e074ec5d3baf39d18");
        assert_eq!(hex::encode(tag), "d0d1c8a799996bf0265b98b5d48ab919");
    }

    #[test]
    fn keys_never_print() {
        assert_eq!(format!("{:?}", Key256::generate()), "Key256([redacted])");
    }
}
