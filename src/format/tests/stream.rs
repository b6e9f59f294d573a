//! Whole-stream round trips and every way a stored stream can be damaged or rearranged.

use super::*;
use crate::crypto;
use crate::format::header::StreamKeys;
use crate::format::{
    ChecksumAlgorithm, ClientChecksum, HEADER_LEN, SEALED_SEGMENT_LEN, SEGMENT_SIZE, StreamHeader, TRAILER_LEN,
    stored_len,
};

const SIZES: [usize; 7] = [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 5, 3 * (1 << 20) + 12_345];

fn crc64(data: &[u8]) -> u64 {
    let mut digest = crc64fast_nvme::Digest::new();
    digest.write(data);
    digest.sum64()
}

#[test]
fn round_trips_at_every_boundary_size() {
    let mut rng = Xorshift(0x5eed);
    for (index, &len) in SIZES.iter().enumerate() {
        let data = plaintext(len, index as u64);
        let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
        assert_eq!(stored.len() as u64, stored_len(len as u64).unwrap());
        for _ in 0..3 {
            let outcome = decrypt(StreamKind::SingleObject, None, &stored, &mut rng);
            assert!(outcome.released == data, "size {len}");
            let trailer = outcome.result.unwrap().unwrap();
            assert_eq!((trailer.plaintext_len, trailer.crc64), (len as u64, crc64(&data)));
        }
    }
}

#[test]
fn client_checksums_travel_in_the_trailer() {
    let key = test_key();
    let sha = ClientChecksum::new(ChecksumAlgorithm::Sha256, &[0xab; 32]).unwrap();
    let crc = ClientChecksum::new(ChecksumAlgorithm::Crc32, &[1, 2, 3, 4]).unwrap();
    let cases = [
        (Some(sha), None, Some(sha)),
        (None, Some(crc), Some(crc)),
        (Some(crc), Some(crc), Some(crc)),
    ];
    for (early, late, expected) in cases {
        let mut encryptor = StreamEncryptor::new(&key, StreamKind::MultipartPart(2), 3, early).unwrap();
        let mut stored = encryptor.header().to_vec();
        stored.extend(encryptor.push(b"abc").unwrap().concat());
        stored.extend_from_slice(&encryptor.finish(late).unwrap());
        let outcome = decrypt(StreamKind::MultipartPart(2), None, &stored, &mut Xorshift(3));
        assert_eq!(outcome.result.unwrap().unwrap().client_checksum, expected);
    }
    let encryptor = StreamEncryptor::new(&key, StreamKind::SingleObject, 0, Some(sha)).unwrap();
    assert_eq!(encryptor.finish(Some(crc)), Err(FormatError::InvalidChecksum));
}

#[test]
fn encryptor_enforces_the_declared_length_and_kind() {
    let key = test_key();
    let mut encryptor = StreamEncryptor::new(&key, StreamKind::SingleObject, 4, None).unwrap();
    assert_eq!(
        encryptor.push(b"abcde"),
        Err(FormatError::LengthMismatch { declared: 4, actual: 5 })
    );
    assert_eq!(encryptor.push(b"abc").unwrap().len(), 0);
    assert_eq!(
        encryptor.finish(None),
        Err(FormatError::LengthMismatch { declared: 4, actual: 3 })
    );
    for kind in [StreamKind::MultipartPart(0), StreamKind::MultipartPart(10_001)] {
        assert!(StreamEncryptor::new(&key, kind, 1, None).is_err());
    }
    let too_long = crate::format::MAX_STREAM_PLAINTEXT_LEN + 1;
    assert_eq!(
        StreamEncryptor::new(&key, StreamKind::SingleObject, too_long, None).err(),
        Some(FormatError::LengthOutOfRange)
    );
}

#[test]
fn salts_are_fresh_per_stream() {
    let mut rng = Xorshift(9);
    let first = encrypt(StreamKind::MultipartPart(1), b"same bytes", None, &mut rng);
    let second = encrypt(StreamKind::MultipartPart(1), b"same bytes", None, &mut rng);
    assert_ne!(first[20..44], second[20..44]);
    assert_ne!(first[HEADER_LEN..], second[HEADER_LEN..]);
}

/// Plaintext bytes that may be released before the record holding stored `offset` is checked.
fn releasable_before(offset: usize, len: usize) -> usize {
    let segment = offset.saturating_sub(HEADER_LEN) / SEALED_SEGMENT_LEN as usize;
    let trailer_start = stored_len(len as u64).unwrap() as usize - TRAILER_LEN;
    if offset < HEADER_LEN {
        0
    } else if offset >= trailer_start {
        len
    } else {
        (segment * SEGMENT_SIZE as usize).min(len)
    }
}

fn assert_rejected_without_release(stored: &[u8], data: &[u8], offset: usize, rng: &mut Xorshift) {
    let outcome = decrypt(StreamKind::SingleObject, None, stored, rng);
    assert!(outcome.result.is_err(), "offset {offset} accepted");
    assert!(
        outcome.released.len() <= releasable_before(offset, data.len()),
        "offset {offset} released too much"
    );
    assert!(data.starts_with(&outcome.released));
}

#[test]
fn any_flipped_bit_fails_before_its_segment_is_released() {
    let mut rng = Xorshift(0xf1);
    for len in [0usize, 1, 33] {
        let data = plaintext(len, 1);
        let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
        for offset in 0..stored.len() {
            for bit in [0x01, 0x80] {
                let mut tampered = stored.clone();
                tampered[offset] ^= bit;
                assert_rejected_without_release(&tampered, &data, offset, &mut rng);
            }
        }
    }
    let data = plaintext(3 * 65_536 + 5, 2);
    let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
    let boundaries = (0..5).flat_map(|i| {
        let edge = HEADER_LEN + i * SEALED_SEGMENT_LEN as usize;
        edge.saturating_sub(1)..edge + 2
    });
    let offsets = (0..stored.len())
        .step_by(997)
        .chain(boundaries)
        .chain(stored.len() - 20..stored.len());
    for offset in offsets.filter(|&offset| offset < stored.len()) {
        let mut tampered = stored.clone();
        tampered[offset] ^= 0x10;
        assert_rejected_without_release(&tampered, &data, offset, &mut rng);
    }
}

#[test]
fn truncation_and_trailing_bytes_are_refused() {
    let mut rng = Xorshift(0x7e);
    for len in [0usize, 5, 65_536, 2 * 65_536 + 1] {
        let data = plaintext(len, 3);
        let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
        let cuts = (0..stored.len())
            .step_by(4093)
            .chain([stored.len() - TRAILER_LEN, stored.len() - 1]);
        for cut in cuts {
            let outcome = decrypt(StreamKind::SingleObject, None, &stored[..cut], &mut rng);
            assert_eq!(outcome.result, Err(FormatError::Truncated), "len {len} cut {cut}");
        }
        let mut longer = stored.clone();
        longer.push(0);
        let outcome = decrypt(StreamKind::SingleObject, None, &longer, &mut rng);
        assert_eq!(outcome.result, Err(FormatError::TrailingData));
        assert!(data.starts_with(&outcome.released));
    }
}

fn segment(stored: &[u8], index: usize) -> std::ops::Range<usize> {
    let start = HEADER_LEN + index * SEALED_SEGMENT_LEN as usize;
    start..(start + SEALED_SEGMENT_LEN as usize).min(stored.len() - TRAILER_LEN)
}

#[test]
fn reordered_and_foreign_segments_fail() {
    let mut rng = Xorshift(0x50);
    let data = plaintext(3 * 65_536, 4);
    let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
    let mut swapped = stored.clone();
    let (zero, one) = (segment(&stored, 0), segment(&stored, 1));
    swapped[zero.clone()].copy_from_slice(&stored[one.clone()]);
    swapped[one].copy_from_slice(&stored[zero]);
    let outcome = decrypt(StreamKind::SingleObject, None, &swapped, &mut rng);
    assert_eq!(outcome.result, Err(FormatError::Authentication { segment: 0 }));
    assert!(outcome.released.is_empty());

    // Same key, same kind and length, another salt: segment 1 of the other stream is refused.
    let other = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
    let mut mixed = stored.clone();
    mixed[segment(&stored, 1)].copy_from_slice(&other[segment(&other, 1)]);
    let mut decryptor = StreamDecryptor::new(&test_key(), StreamKind::SingleObject);
    let (before, after) = mixed.split_at(segment(&mixed, 1).start);
    assert!(decryptor.push(before).unwrap().concat() == data[..65_536]);
    assert_eq!(decryptor.push(after), Err(FormatError::Authentication { segment: 1 }));

    // Another stream's trailer (same length) is refused too.
    let mut foreign_trailer = stored.clone();
    let end = stored.len();
    foreign_trailer[end - TRAILER_LEN..].copy_from_slice(&other[end - TRAILER_LEN..]);
    let outcome = decrypt(StreamKind::SingleObject, None, &foreign_trailer, &mut rng);
    assert_eq!(outcome.result, Err(FormatError::Authentication { segment: 3 }));
}

#[test]
fn parts_cannot_be_swapped() {
    let mut rng = Xorshift(0x77);
    let data = plaintext(70_000, 5);
    let part_two = encrypt(StreamKind::MultipartPart(2), &data, None, &mut rng);
    let outcome = decrypt(StreamKind::MultipartPart(3), None, &part_two, &mut rng);
    assert_eq!(
        outcome.result,
        Err(FormatError::UnexpectedStream {
            expected: StreamKind::MultipartPart(3),
            found: StreamKind::MultipartPart(2)
        })
    );
    // Relabelling the header as part 3 breaks every tag (the header is the AAD, the part number
    // is in the key derivation).
    let mut relabelled = part_two.clone();
    relabelled[8..12].copy_from_slice(&3u32.to_be_bytes());
    let outcome = decrypt(StreamKind::MultipartPart(3), None, &relabelled, &mut rng);
    assert_eq!(outcome.result, Err(FormatError::Authentication { segment: 0 }));
    assert!(outcome.released.is_empty());
    // A single object presented as a part, and the reverse.
    let single = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
    assert!(
        decrypt(StreamKind::MultipartPart(1), None, &single, &mut rng)
            .result
            .is_err()
    );
    assert!(
        decrypt(StreamKind::SingleObject, None, &part_two, &mut rng)
            .result
            .is_err()
    );
}

/// Seals a trailer of our choosing with the stream's real keys: what an attacker who could
/// forge tags would need, to show the decryptor's own checks.
fn with_forged_trailer(stored: &[u8], trailer: Trailer) -> Vec<u8> {
    let header = StreamHeader::parse(&stored[..HEADER_LEN]).unwrap();
    let keys = StreamKeys::derive(&test_key(), &header);
    let mut plaintext = trailer.encode().to_vec();
    let nonce = keys.nonce(header.data_segment_count(), true);
    let tag = crypto::seal_in_place(keys.key(), nonce, &stored[..HEADER_LEN], &mut plaintext);
    let mut out = stored[..stored.len() - TRAILER_LEN].to_vec();
    out.extend_from_slice(&plaintext);
    out.extend_from_slice(&tag);
    out
}

#[test]
fn trailer_must_state_the_header_length_and_crc() {
    let mut rng = Xorshift(0x99);
    let data = plaintext(100_000, 6);
    let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
    let honest = Trailer {
        plaintext_len: 100_000,
        crc64: crc64(&data),
        client_checksum: None,
    };
    let accepted = decrypt(
        StreamKind::SingleObject,
        None,
        &with_forged_trailer(&stored, honest),
        &mut rng,
    );
    assert_eq!(accepted.result, Ok(Some(honest)));
    let longer = Trailer {
        plaintext_len: 100_001,
        ..honest
    };
    let outcome = decrypt(
        StreamKind::SingleObject,
        None,
        &with_forged_trailer(&stored, longer),
        &mut rng,
    );
    assert_eq!(outcome.result, Err(FormatError::MalformedTrailer));
    let wrong_crc = Trailer {
        crc64: honest.crc64 ^ 1,
        ..honest
    };
    let outcome = decrypt(
        StreamKind::SingleObject,
        None,
        &with_forged_trailer(&stored, wrong_crc),
        &mut rng,
    );
    assert_eq!(outcome.result, Err(FormatError::Crc64Mismatch));
}

#[test]
fn consecutive_streams_split_with_push_prefix() {
    let mut rng = Xorshift(0x42);
    let parts = [plaintext(65_536 * 2, 7), plaintext(0, 8), plaintext(12_345, 9)];
    let mut object = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        object.extend(encrypt(
            StreamKind::MultipartPart(index as u32 + 1),
            part,
            None,
            &mut rng,
        ));
    }
    let mut rest = &object[..];
    for (index, part) in parts.iter().enumerate() {
        let header = StreamHeader::parse(&rest[..HEADER_LEN]).unwrap();
        assert_eq!(header.kind, StreamKind::MultipartPart(index as u32 + 1));
        let mut decryptor = StreamDecryptor::new(&test_key(), header.kind);
        let progress = decryptor.push_prefix(rest).unwrap();
        assert!(progress.plaintext.concat() == *part);
        rest = &rest[progress.consumed..];
        assert!(decryptor.finish().unwrap().is_some());
    }
    assert!(rest.is_empty());
}

#[test]
fn a_failed_decryptor_stays_failed() {
    let stored = encrypt(StreamKind::SingleObject, b"hello", None, &mut Xorshift(1));
    let mut decryptor = StreamDecryptor::new(&test_key(), StreamKind::SingleObject);
    let mut tampered = stored.clone();
    tampered[HEADER_LEN] ^= 1;
    assert!(decryptor.push(&tampered).is_err());
    assert_eq!(decryptor.push(&stored[..1]), Err(FormatError::Poisoned));
    assert_eq!(decryptor.finish(), Err(FormatError::Poisoned));
}
