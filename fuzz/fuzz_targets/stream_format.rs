//! Fuzzes the object format v1 readers with a fixed data key. The first input byte picks the
//! mode, the second where the rest is split in two pieces:
//! - 0: the rest is a stored stream: whole-stream decryption (kind from the header if it parses);
//! - 1: the rest is plaintext: encrypt it, flip one byte picked by the input, decrypt, and check
//!   that a changed stream is refused and releases only a prefix of the plaintext;
//! - 2: the rest is a manifest: footer parse and `Manifest::open`;
//! - 3: the rest is a `Range` header value resolved against a length, then planned.
//!
//! Checks: no panic; plaintext released never exceeds the header's length; an accepted stream's
//! trailer states the header's length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::crypto::Key256;
use s3kms::format::{
    ByteRangeSpec, HEADER_LEN, Manifest, ManifestFooter, RangePlan, StreamDecryptor, StreamEncryptor, StreamHeader,
    StreamKind, Trailer, stored_len,
};

fuzz_target!(|data: &[u8]| run(data));

/// The golden vectors' key (bytes 0x00..=0x1f), so `tests/data/format/*.bin` behind a mode byte
/// and a split byte make a seed corpus that reaches the success paths.
fn key() -> Key256 {
    Key256::from_bytes(std::array::from_fn(|index| index as u8))
}

fn run(data: &[u8]) {
    let [mode, split, body @ ..] = data else { return };
    let split = usize::from(*split).min(body.len());
    match mode % 4 {
        0 => decrypt_stream(body, split),
        1 => tamper_round_trip(body, split),
        2 => open_manifest(body),
        _ => plan_range(body),
    }
}

fn decrypt_stream(stored: &[u8], split: usize) {
    let kind = StreamHeader::parse(stored.get(..HEADER_LEN).unwrap_or(stored))
        .map_or(StreamKind::SingleObject, |header| header.kind);
    let mut decryptor = StreamDecryptor::new(&key(), kind);
    let mut released = 0u64;
    for piece in [&stored[..split], &stored[split..]] {
        let Ok(plaintext) = decryptor.push(piece) else { return };
        released += plaintext.iter().map(|bytes| bytes.len() as u64).sum::<u64>();
        let limit = decryptor.header().map_or(0, |header| header.plaintext_len);
        assert!(released <= limit);
    }
    let _ = Trailer::parse(stored);
    if let Ok(Some(trailer)) = decryptor.finish() {
        assert_eq!(trailer.plaintext_len, released);
    }
}

fn tamper_round_trip(plaintext: &[u8], position: usize) {
    let Ok(mut encryptor) = StreamEncryptor::new(&key(), StreamKind::MultipartPart(7), plaintext.len() as u64, None)
    else {
        return;
    };
    let mut stored = encryptor.header().to_vec();
    stored.extend(encryptor.push(plaintext).expect("declared length").concat());
    stored.extend_from_slice(&encryptor.finish(None).expect("declared length"));
    assert_eq!(Some(stored.len() as u64), stored_len(plaintext.len() as u64));
    let offset = position.wrapping_mul(257) % stored.len();
    stored[offset] ^= 1 << (position % 8);
    let mut decryptor = StreamDecryptor::new(&key(), StreamKind::MultipartPart(7));
    let mut released = Vec::new();
    let result = decryptor.push(&stored).map(|pieces| released = pieces.concat());
    assert!(result.is_err() || decryptor.finish().is_err(), "a flipped bit was accepted");
    assert!(plaintext.starts_with(&released));
}

fn open_manifest(stored: &[u8]) {
    if let Some(footer) = stored.len().checked_sub(ManifestFooter::LEN).map(|start| &stored[start..]) {
        let _ = ManifestFooter::parse(footer);
    }
    if let Ok(manifest) = Manifest::open(&key(), stored) {
        assert_eq!(manifest.stored_len(), stored.len() as u64);
    }
}

fn plan_range(body: &[u8]) {
    let (length, value) = body.split_at(body.len().min(8));
    let mut word = [0u8; 8];
    word[..length.len()].copy_from_slice(length);
    let plaintext_len = u64::from_le_bytes(word) >> (word[7] % 64);
    let Some(spec) = std::str::from_utf8(value).ok().and_then(ByteRangeSpec::parse) else { return };
    let Ok(range) = spec.resolve(plaintext_len) else { return };
    assert!(range.last() < plaintext_len);
    if let Ok(plan) = RangePlan::new(plaintext_len, range) {
        assert!(plan.fetch().end <= stored_len(plaintext_len).unwrap_or(u64::MAX));
        assert!(plan.skip() < 65_536);
    }
}
