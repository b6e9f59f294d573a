//! Ranged reads of one stream: every range against every segment boundary.

use super::*;
use crate::format::{HEADER_LEN, PlaintextRange, SEGMENT_SIZE};

/// Feeds a ranged read as a proxy would: the header (if the fetch lacks it), then the fetch.
fn read_range(stored: &[u8], plan: &RangePlan, rng: &mut Xorshift) -> Outcome {
    let fetch = plan.fetch();
    let mut input = Vec::new();
    if !plan.header_included() {
        input.extend_from_slice(&stored[..HEADER_LEN]);
    }
    input.extend_from_slice(&stored[fetch.start as usize..fetch.end as usize]);
    decrypt(StreamKind::SingleObject, Some(plan), &input, rng)
}

fn check_range(stored: &[u8], data: &[u8], first: u64, last: u64, rng: &mut Xorshift) {
    let len = data.len() as u64;
    let range = PlaintextRange::new(first, last).unwrap();
    let plan = RangePlan::new(len, range).unwrap();
    assert_eq!(plan.first_segment() as u64, first / SEGMENT_SIZE);
    assert_eq!(plan.last_segment() as u64, last / SEGMENT_SIZE);
    let outcome = read_range(stored, &plan, rng);
    assert!(
        outcome.released == data[first as usize..=last as usize],
        "len {len} range {first}..={last}"
    );
    let trailer = outcome.result.unwrap();
    assert_eq!(trailer.is_some(), plan.includes_trailer());
    assert_eq!(plan.includes_trailer(), last / SEGMENT_SIZE == (len - 1) / SEGMENT_SIZE);
}

/// Offsets at and around every segment boundary, and the ends.
fn interesting_offsets(len: u64) -> Vec<u64> {
    let mut offsets = vec![0, 1, len.saturating_sub(2), len - 1];
    let mut boundary = SEGMENT_SIZE;
    while boundary <= len + 1 {
        offsets.extend([boundary - 2, boundary - 1, boundary, boundary + 1]);
        boundary += SEGMENT_SIZE;
    }
    offsets.retain(|&offset| offset < len);
    offsets.sort_unstable();
    offsets.dedup();
    offsets
}

#[test]
fn every_range_against_every_boundary() {
    let mut rng = Xorshift(0xaa);
    for len in [2usize, 65_535, 65_536, 65_537, 2 * 65_536, 3 * 65_536 + 5] {
        let data = plaintext(len, len as u64);
        let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
        let offsets = interesting_offsets(len as u64);
        for &first in &offsets {
            for &last in offsets.iter().filter(|&&last| last >= first) {
                check_range(&stored, &data, first, last, &mut rng);
            }
        }
    }
}

#[test]
fn every_range_of_small_streams() {
    let mut rng = Xorshift(0xbb);
    for len in 1..=24usize {
        let data = plaintext(len, len as u64);
        let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
        for first in 0..len as u64 {
            for last in first..len as u64 {
                check_range(&stored, &data, first, last, &mut rng);
            }
        }
    }
}

#[test]
fn windows_refuse_tampering_truncation_and_extra_bytes() {
    let mut rng = Xorshift(0xcc);
    let len = 3 * 65_536 + 5;
    let data = plaintext(len, 11);
    let stored = encrypt(StreamKind::SingleObject, &data, None, &mut rng);
    for (first, last) in [(65_537u64, 65_600u64), (70_000, len as u64 - 1)] {
        let plan = RangePlan::new(len as u64, PlaintextRange::new(first, last).unwrap()).unwrap();
        let fetch = plan.fetch();
        let mut input = stored[..HEADER_LEN].to_vec();
        input.extend_from_slice(&stored[fetch.start as usize..fetch.end as usize]);
        for offset in [0, 20, HEADER_LEN, HEADER_LEN + 100, input.len() - 1] {
            let mut tampered = input.clone();
            tampered[offset] ^= 4;
            let outcome = decrypt(StreamKind::SingleObject, Some(&plan), &tampered, &mut rng);
            assert!(
                outcome.result.is_err() && outcome.released.is_empty(),
                "offset {offset}"
            );
        }
        let outcome = decrypt(
            StreamKind::SingleObject,
            Some(&plan),
            &input[..input.len() - 1],
            &mut rng,
        );
        assert_eq!(outcome.result, Err(FormatError::Truncated));
        let mut longer = input.clone();
        longer.push(1);
        assert_eq!(
            decrypt(StreamKind::SingleObject, Some(&plan), &longer, &mut rng).result,
            Err(FormatError::TrailingData)
        );
        // A header of another length does not fit the plan.
        let other = encrypt(StreamKind::SingleObject, &data[..len - 1], None, &mut rng);
        let mut wrong_header = other[..HEADER_LEN].to_vec();
        wrong_header.extend_from_slice(&input[HEADER_LEN..]);
        let outcome = decrypt(StreamKind::SingleObject, Some(&plan), &wrong_header, &mut rng);
        assert_eq!(outcome.result, Err(FormatError::PlanMismatch));
    }
}
