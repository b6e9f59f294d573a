//! The chunk-signature chain of `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
//!
//! ```text
//! chunk:   AWS4-HMAC-SHA256-PAYLOAD \n <amz date> \n <scope> \n <previous signature> \n
//!          <hex sha256("")> \n <hex sha256(chunk data)>
//! trailer: AWS4-HMAC-SHA256-TRAILER \n <amz date> \n <scope> \n <final chunk signature> \n
//!          <hex sha256(canonical trailer lines)>
//! ```
//!
//! The chain starts at the seed signature (the one in the `Authorization` header) and
//! advances to each verified chunk's signature; the trailer signature ends it. (Checked
//! against the AWS S3 API reference "sigv4-streaming" and "sigv4-streaming-trailers"
//! examples and aws-sigv4's `sign_chunk` / `sign_trailer`.)

use sha2::{Digest, Sha256};

use super::super::amz_date::AmzDate;
use super::super::authorization::CredentialScope;
use super::super::signing::{Signature, SigningKey};

/// `hex(sha256(""))`.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What a signed aws-chunked body is verified against: the request's signing key, date,
/// scope and seed signature.
#[derive(Debug, Clone)]
pub struct ChunkSigning {
    /// The key derived for the request's credential scope.
    pub key: SigningKey,
    /// The request's `x-amz-date`.
    pub amz_date: AmzDate,
    /// The request's credential scope.
    pub scope: CredentialScope,
    /// The verified signature of the request headers.
    pub seed: Signature,
}

/// The running chain.
#[derive(Debug)]
pub(super) struct SignatureChain {
    key: SigningKey,
    date_and_scope: String,
    previous: Signature,
}

impl SignatureChain {
    pub(super) fn new(signing: ChunkSigning) -> Self {
        let date_and_scope = format!("{}\n{}", signing.amz_date, signing.scope);
        Self {
            key: signing.key,
            date_and_scope,
            previous: signing.seed,
        }
    }

    /// The signature a chunk with data hash `data_sha256` must carry.
    pub(super) fn chunk_signature(&self, data_sha256: &[u8; 32]) -> Signature {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.date_and_scope,
            self.previous,
            hex::encode(data_sha256)
        );
        self.key.sign(&string_to_sign)
    }

    /// Checks a chunk's claimed signature and, if it matches, advances the chain.
    pub(super) fn verify_chunk(&mut self, data_sha256: &[u8; 32], claimed: &Signature) -> bool {
        let valid = self.chunk_signature(data_sha256).verify(claimed);
        if valid {
            self.previous = *claimed;
        }
        valid
    }

    /// The signature the trailer must carry, given its canonical text
    /// (`name:value\n` per trailer, sorted by name).
    pub(super) fn trailer_signature(&self, canonical_trailers: &str) -> Signature {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}",
            self.date_and_scope,
            self.previous,
            hex::encode(Sha256::digest(canonical_trailers.as_bytes()))
        );
        self.key.sign(&string_to_sign)
    }
}
