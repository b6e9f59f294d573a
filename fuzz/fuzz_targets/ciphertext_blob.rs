//! KMS ciphertext blobs: parsing and opening arbitrary bytes must fail cleanly, never panic,
//! and never open under the wrong key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::crypto::Key256;
use s3kms::kms::blob::{Blob, EncryptionContext};

fuzz_target!(|data: &[u8]| {
    if let Some(blob) = Blob::parse(data) {
        let key = Key256::from_bytes([7; 32]);
        assert!(blob.open(&key, &EncryptionContext::new()).is_err(), "a random blob opened");
    }
});
