//! Tests of the whole format: round trips, tampering, ranges, golden vectors, multipart.
//! Unit tests of single pieces (header, trailer, sizes, range parsing) sit beside their code.

mod golden;
mod multipart;
mod ranges;
mod stream;

use super::header::SALT_LEN;
use super::{FormatError, RangePlan, StreamDecryptor, StreamEncryptor, StreamKind, Trailer};
use crate::crypto::Key256;

/// The fixed data key of the tests and golden vectors: bytes 0x00..=0x1f.
fn test_key() -> Key256 {
    let mut bytes = [0u8; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = index as u8;
    }
    Key256::from_bytes(bytes)
}

/// A deterministic, non-repeating-looking plaintext.
fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Xorshift(seed | 1);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// xorshift64*: reproducible splits and tamper positions without a dependency.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

/// Splits `input` into random pieces (some empty) for `sink`.
fn feed_randomly<E>(input: &[u8], rng: &mut Xorshift, mut sink: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    let mut rest = input;
    while !rest.is_empty() {
        let cap = match rng.below(4) {
            0 => 1,
            1 => 100,
            2 => 70_000,
            _ => 300_000,
        };
        let (piece, tail) = rest.split_at(rng.below(cap + 1).min(rest.len()));
        sink(piece)?;
        rest = tail;
    }
    Ok(())
}

/// The whole stored stream of `data`, pushed in random pieces.
fn encrypt(kind: StreamKind, data: &[u8], salt: Option<[u8; SALT_LEN]>, rng: &mut Xorshift) -> Vec<u8> {
    let key = test_key();
    let len = data.len() as u64;
    let mut encryptor = match salt {
        Some(salt) => StreamEncryptor::with_salt(&key, kind, len, None, salt),
        None => StreamEncryptor::new(&key, kind, len, None),
    }
    .unwrap();
    let mut out = encryptor.header().to_vec();
    feed_randomly(data, rng, |piece| -> Result<(), FormatError> {
        for segment in encryptor.push(piece)? {
            out.extend_from_slice(&segment);
        }
        Ok(())
    })
    .unwrap();
    let expected_len = encryptor.stored_len();
    out.extend_from_slice(&encryptor.finish(None).unwrap());
    assert_eq!(out.len() as u64, expected_len);
    out
}

/// What a decryption released, and how it ended.
struct Outcome {
    released: Vec<u8>,
    result: Result<Option<Trailer>, FormatError>,
}

/// Decrypts `input` (pushed in random pieces) with a whole-stream or windowed decryptor.
fn decrypt(kind: StreamKind, plan: Option<&RangePlan>, input: &[u8], rng: &mut Xorshift) -> Outcome {
    let key = test_key();
    let mut decryptor = match plan {
        Some(plan) => StreamDecryptor::for_range(&key, kind, plan),
        None => StreamDecryptor::new(&key, kind),
    };
    let mut released = Vec::new();
    let pushed = feed_randomly(input, rng, |piece| -> Result<(), FormatError> {
        for plaintext in decryptor.push(piece)? {
            released.extend_from_slice(&plaintext);
        }
        Ok(())
    });
    let result = pushed.and_then(|()| decryptor.finish());
    Outcome { released, result }
}
