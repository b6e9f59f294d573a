//! The manifest and multipart range mapping: worked examples, tampering, and property tests
//! over random part layouts.

use proptest::prelude::*;

use super::*;
use crate::format::{
    HEADER_LEN, Manifest, ManifestFooter, ManifestPlacement, MultipartLayout, PartEntry, PlaintextRange,
    multipart_plaintext_len, multipart_stored_len, stored_len,
};

const MIB: u64 = 1 << 20;

fn manifest(lengths: &[u64], placement: ManifestPlacement) -> Manifest {
    let parts = lengths
        .iter()
        .enumerate()
        .map(|(index, &len)| PartEntry {
            part_number: index as u32 + 1,
            plaintext_len: len,
            crc64: len ^ 0x5555,
        })
        .collect();
    Manifest::new(parts, placement).unwrap()
}

fn data_streams_len(manifest: &Manifest) -> u64 {
    manifest
        .parts()
        .iter()
        .map(|part| stored_len(part.plaintext_len).unwrap())
        .sum()
}

#[test]
fn worked_examples_of_the_design() {
    // (a) 100 MiB as 12 × 8 MiB + 4 MiB, the small last part merged with the manifest.
    let mut lengths = vec![8 * MIB; 12];
    lengths.push(4 * MIB);
    let merged = manifest(&lengths, ManifestPlacement::MergedWithLastPart);
    assert_eq!((data_streams_len(&merged), merged.stored_len()), (104_884_864, 528));
    assert_eq!(merged.object_stored_len(), 104_885_392);
    assert_eq!(
        multipart_plaintext_len(104_885_392, merged.backend_part_count()),
        Some(100 * MIB)
    );
    // (b) 80 MiB as 10 × 8 MiB, the manifest as part 11.
    let separate = manifest(&[8 * MIB; 10], ManifestPlacement::SeparatePart);
    assert_eq!((data_streams_len(&separate), separate.stored_len()), (83_907_840, 592));
    assert_eq!(
        (separate.backend_part_count(), separate.object_stored_len()),
        (11, 83_908_432)
    );
    assert_eq!(multipart_plaintext_len(83_908_432, 11), Some(80 * MIB));
}

#[test]
fn manifest_seals_and_opens() {
    let key = test_key();
    for placement in [ManifestPlacement::MergedWithLastPart, ManifestPlacement::SeparatePart] {
        let original = manifest(&[5_000_000, 5_000_000, 1], placement);
        let sealed = original.seal(&key);
        assert_eq!(sealed.len() as u64, original.stored_len());
        assert_eq!(Manifest::open(&key, &sealed), Ok(original.clone()));
        let footer = ManifestFooter::parse(&sealed[sealed.len() - ManifestFooter::LEN..]).unwrap();
        assert_eq!((footer.part_count, footer.plaintext_len), (3, 10_000_001));
        assert_eq!(footer.manifest_len(), sealed.len() as u64);
        for offset in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[offset] ^= 0x20;
            assert!(Manifest::open(&key, &tampered).is_err(), "offset {offset}");
        }
        assert!(Manifest::open(&key, &sealed[..sealed.len() - 1]).is_err());
        assert!(Manifest::open(&Key256::from_bytes([1; 32]), &sealed).is_err());
        assert!(Manifest::open(&key, &sealed[..HEADER_LEN]).is_err());
    }
}

#[test]
fn manifest_refuses_impossible_tables() {
    let entry = |part_number, plaintext_len| PartEntry {
        part_number,
        plaintext_len,
        crc64: 0,
    };
    let merged = ManifestPlacement::MergedWithLastPart;
    assert!(Manifest::new(vec![], merged).is_err());
    assert!(Manifest::new(vec![entry(2, 1), entry(2, 1)], merged).is_err());
    assert!(Manifest::new(vec![entry(3, 1), entry(2, 1)], merged).is_err());
    assert!(Manifest::new(vec![entry(0, 1)], merged).is_err());
    assert!(Manifest::new(vec![entry(10_001, 1)], merged).is_err());
    let full: Vec<PartEntry> = (1..=10_000).map(|number| entry(number, 1)).collect();
    assert!(Manifest::new(full.clone(), merged).is_ok());
    assert!(Manifest::new(full, ManifestPlacement::SeparatePart).is_err());
}

#[test]
fn object_crc_combines_the_parts() {
    let data = plaintext(300_000, 21);
    let crc = |bytes: &[u8]| {
        let mut digest = crc64fast_nvme::Digest::new();
        digest.write(bytes);
        digest.sum64()
    };
    let (a, rest) = data.split_at(100_000);
    let (b, c) = rest.split_at(0);
    let parts = [a, b, c]
        .iter()
        .enumerate()
        .map(|(index, part)| PartEntry {
            part_number: index as u32 + 1,
            plaintext_len: part.len() as u64,
            crc64: crc(part),
        })
        .collect();
    let manifest = Manifest::new(parts, ManifestPlacement::SeparatePart).unwrap();
    assert_eq!(manifest.crc64(), crc(&data));
}

fn part_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(5_000_000u64),
        Just(5 * MIB),
        Just(8 * MIB),
        Just(65_536),
        0u64..=6_000_000,
        (1u64..=80).prop_map(|n| n * MIB),
    ]
}

fn layout_strategy(max_parts: usize, part: BoxedStrategy<u64>) -> impl Strategy<Value = (Vec<u64>, ManifestPlacement)> {
    let last = prop_oneof![Just(1u64), Just(0u64), part.clone()];
    (prop::collection::vec(part, 0..max_parts), last, any::<bool>()).prop_map(|(mut lengths, last, merged)| {
        lengths.push(last);
        let placement = if merged {
            ManifestPlacement::MergedWithLastPart
        } else {
            ManifestPlacement::SeparatePart
        };
        (lengths, placement)
    })
}

proptest! {
    #[test]
    fn sizes_invert_for_any_layout((lengths, placement) in layout_strategy(40, part_len().boxed())) {
        let manifest = manifest(&lengths, placement);
        let total: u64 = lengths.iter().sum();
        let stored = data_streams_len(&manifest) + manifest.stored_len();
        prop_assert_eq!(stored, multipart_stored_len(total, manifest.backend_part_count()).unwrap());
        prop_assert_eq!(multipart_plaintext_len(stored, manifest.backend_part_count()), Some(total));
        prop_assert_eq!(MultipartLayout::new(&manifest).manifest_offset(), data_streams_len(&manifest));
    }

    #[test]
    fn plans_cover_exactly_the_range(
        (lengths, placement) in layout_strategy(12, part_len().boxed()),
        points in prop::collection::vec(any::<u64>(), 2),
    ) {
        let layout = MultipartLayout::new(&manifest(&lengths, placement));
        let total = layout.plaintext_len();
        prop_assume!(total > 0);
        let (a, b) = (points[0] % total, points[1] % total);
        let plan = layout.plan(PlaintextRange::new(a.min(b), a.max(b)).unwrap()).unwrap();
        let fetched: u64 = plan.parts.iter().map(|slice| slice.fetched_len).sum();
        prop_assert_eq!(fetched, plan.fetch.end - plan.fetch.start);
        prop_assert!(plan.fetch.end <= layout.manifest_offset());
        let released: u64 = plan.parts.iter().map(|slice| match &slice.window {
            Some(window) => window.range().len(),
            None => slice_len(&layout, slice.index),
        }).sum();
        prop_assert_eq!(released, a.max(b) - a.min(b) + 1);
        prop_assert!(plan.parts.iter().skip(1).all(|slice| slice.header.is_none()));
    }
}

fn slice_len(layout: &MultipartLayout, index: usize) -> u64 {
    layout.parts()[index].plaintext_len
}

/// Reads `range` of an encrypted multipart object the way the proxy will, returning the bytes.
fn read_multipart(object: &[u8], layout: &MultipartLayout, range: PlaintextRange, rng: &mut Xorshift) -> Vec<u8> {
    let plan = layout.plan(range).unwrap();
    let mut fetched = &object[plan.fetch.start as usize..plan.fetch.end as usize];
    let mut out = Vec::new();
    for slice in &plan.parts {
        let mut input = Vec::new();
        if let Some(header) = &slice.header {
            input.extend_from_slice(&object[header.start as usize..header.end as usize]);
        }
        let (mine, rest) = fetched.split_at(slice.fetched_len as usize);
        input.extend_from_slice(mine);
        fetched = rest;
        let outcome = decrypt(slice.kind, slice.window.as_ref(), &input, rng);
        outcome.result.unwrap();
        out.extend(outcome.released);
    }
    out
}

fn small_part_len() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(1u64),
        Just(65_535),
        Just(65_536),
        Just(65_537),
        0u64..=200_000,
        Just(1_000_000)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn every_range_reads_the_right_bytes(
        (lengths, placement) in layout_strategy(6, small_part_len().boxed()),
        points in prop::collection::vec(any::<u64>(), 16),
        seed in any::<u64>(),
    ) {
        let key = test_key();
        let mut rng = Xorshift(seed | 1);
        let data = plaintext(lengths.iter().sum::<u64>() as usize, seed);
        let mut object = Vec::new();
        let mut offset = 0;
        for (index, &len) in lengths.iter().enumerate() {
            let part = &data[offset..offset + len as usize];
            object.extend(encrypt(StreamKind::MultipartPart(index as u32 + 1), part, None, &mut rng));
            offset += len as usize;
        }
        let manifest = manifest(&lengths, placement);
        object.extend(manifest.seal(&key));
        prop_assert_eq!(object.len() as u64, manifest.object_stored_len());
        let layout = MultipartLayout::new(&Manifest::open(&key, &object[object.len() - manifest.stored_len() as usize..]).unwrap());
        let total = data.len() as u64;
        prop_assume!(total > 0);
        let mut ranges: Vec<(u64, u64)> = points.chunks(2).map(|pair| (pair[0] % total, pair[1] % total)).collect();
        ranges.extend([(0, total - 1), (total - 1, total - 1)]);
        for (a, b) in ranges {
            let (first, last) = (a.min(b), a.max(b));
            let bytes = read_multipart(&object, &layout, PlaintextRange::new(first, last).unwrap(), &mut rng);
            prop_assert!(bytes == data[first as usize..=last as usize], "range {}..={}", first, last);
        }
        for index in 0..lengths.len() {
            let stored = layout.part_stored_range(index).unwrap();
            let kind = StreamKind::MultipartPart(index as u32 + 1);
            let outcome = decrypt(kind, None, &object[stored.start as usize..stored.end as usize], &mut rng);
            let expected = layout.part_plaintext_range(index).map_or(&data[..0], |r| &data[r.first() as usize..=r.last() as usize]);
            prop_assert!(outcome.released == expected);
            prop_assert!(outcome.result.is_ok());
        }
    }
}

#[test]
fn sizes_invert_for_ten_thousand_parts() {
    // The most parts S3 allows: 10,000 unaligned parts with a tiny last one (manifest merged),
    // and 9,999 with the manifest as part 10,000.
    for (count, placement) in [
        (10_000u32, ManifestPlacement::MergedWithLastPart),
        (9_999, ManifestPlacement::SeparatePart),
    ] {
        let lengths: Vec<u64> = (1..=count)
            .map(|number| {
                if number == count {
                    1
                } else {
                    5 * MIB + u64::from(number % 977)
                }
            })
            .collect();
        let manifest = manifest(&lengths, placement);
        let total: u64 = lengths.iter().sum();
        let stored = data_streams_len(&manifest) + manifest.stored_len();
        assert_eq!(manifest.backend_part_count(), 10_000);
        assert_eq!(stored, multipart_stored_len(total, 10_000).unwrap());
        assert_eq!(multipart_plaintext_len(stored, 10_000), Some(total));
    }
}
