//! The SigV4 signing maths: secret keys, derived signing keys, strings to sign and
//! signatures.
//!
//! Owns the secret types. [`SecretKey`] and [`SigningKey`] zeroize on drop, print as
//! `[redacted]` and compare in constant time; [`Signature::verify`] is constant time.
//!
//! Does not build canonical requests (see `canonical`) or know where signatures come from.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::amz_date::AmzDate;
use super::authorization::CredentialScope;

type HmacSha256 = Hmac<Sha256>;

/// A secret access key. Zeroized on drop, redacted in `Debug`, compared in constant time.
#[derive(Clone)]
pub struct SecretKey(String);

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl SecretKey {
    /// Wraps a secret access key.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the few places that must hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretKey {}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
/// Zeroized on drop, redacted in `Debug`.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl Drop for SigningKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl SigningKey {
    /// Derives the signing key for one day (`YYYYMMDD`), region and service.
    pub fn derive(secret: &SecretKey, date_stamp: &str, region: &str, service: &str) -> Self {
        let mut seed = Zeroizing::new(Vec::with_capacity(4 + secret.0.len()));
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(secret.0.as_bytes());
        let date_key = Zeroizing::new(hmac(&seed, date_stamp.as_bytes()));
        let region_key = Zeroizing::new(hmac(date_key.as_slice(), region.as_bytes()));
        let service_key = Zeroizing::new(hmac(region_key.as_slice(), service.as_bytes()));
        Self(hmac(service_key.as_slice(), b"aws4_request"))
    }

    /// Derives the signing key for a credential scope.
    pub fn for_scope(secret: &SecretKey, scope: &CredentialScope) -> Self {
        Self::derive(secret, &scope.date, &scope.region, &scope.service)
    }

    /// `HMAC-SHA256(kSigning, string_to_sign)`.
    pub fn sign(&self, string_to_sign: &str) -> Signature {
        Signature(hmac(&self.0, string_to_sign.as_bytes()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey([redacted])")
    }
}

/// A SigV4 signature (32 bytes). `Display` is lower-case hex; comparison is constant time.
#[derive(Clone, Copy)]
pub struct Signature([u8; 32]);

impl Signature {
    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// Wraps raw signature bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison with the signature a client supplied.
    pub fn verify(&self, claimed: &Signature) -> bool {
        self.0.ct_eq(&claimed.0).into()
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.verify(other)
    }
}

impl Eq for Signature {}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

/// `AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex(sha256(canonical request))>`.
pub fn string_to_sign(amz_date: AmzDate, scope: &CredentialScope, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hash}")
}

/// HMAC-SHA256 of `message` under `key`.
pub(super) fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_compare_by_value() {
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert_eq!(format!("{secret:?}"), "SecretKey([redacted])");
        assert_eq!(secret, SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
        assert_ne!(secret, SecretKey::new("other"));
        let key = SigningKey::derive(&secret, "20130524", "us-east-1", "s3");
        assert_eq!(format!("{key:?}"), "SigningKey([redacted])");
    }

    /// AWS General Reference, "Examples of how to derive a signing key" (IAM, 20150830).
    #[test]
    fn aws_signing_key_example() {
        let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        let key = SigningKey::derive(&secret, "20150830", "us-east-1", "iam");
        let string_to_sign = "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59";
        assert_eq!(
            key.sign(string_to_sign).to_string(),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn signature_hex_round_trip() {
        let text = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let signature = Signature::from_hex(text).unwrap();
        assert_eq!(signature.to_string(), text);
        assert!(Signature::from_hex(&text.to_uppercase()).unwrap().verify(&signature));
        assert!(Signature::from_hex(&text[1..]).is_none());
        assert!(Signature::from_hex("zz").is_none());
    }
}
