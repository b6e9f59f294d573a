//! Size arithmetic: stored sizes from plaintext sizes and back, with no key and no I/O.
//!
//! Stream: `c(p) = 128 + p + 16·ceil(p / 65536)`. Multipart object stored as `M` backend parts
//! (data streams plus the padded manifest, see [`super::manifest`]):
//! `C(P, M) = 160·M + 112 + P + 16·ceil(P / 65536)`, which equals `c(P) + 160·M − 16`, so both
//! invert with the same function. Inverses return `None` for sizes no stream can have.

use super::{HEADER_LEN, MAX_PART_NUMBER, SEALED_SEGMENT_LEN, SEGMENT_SIZE, TAG_LEN, TRAILER_LEN};

/// Largest plaintext one stream may hold: segment indices (and the trailer's) fit in a u32.
pub const MAX_STREAM_PLAINTEXT_LEN: u64 = (u32::MAX as u64) * SEGMENT_SIZE;

/// Fixed bytes of a stream: header and trailer.
const STREAM_OVERHEAD: u64 = HEADER_LEN as u64 + TRAILER_LEN as u64;
/// Per-backend-part constant of the multipart size formula.
const MULTIPART_PER_PART: u64 = 160;
/// Constant term of the multipart size formula.
const MULTIPART_CONSTANT: u64 = 112;

/// Number of data segments of a stream of `plaintext_len` bytes, `None` above the maximum.
pub fn data_segment_count(plaintext_len: u64) -> Option<u32> {
    if plaintext_len > MAX_STREAM_PLAINTEXT_LEN {
        return None;
    }
    u32::try_from(plaintext_len.div_ceil(SEGMENT_SIZE)).ok()
}

/// Stored size of a stream of `plaintext_len` bytes; `None` above [`MAX_STREAM_PLAINTEXT_LEN`].
pub fn stored_len(plaintext_len: u64) -> Option<u64> {
    let segments = u64::from(data_segment_count(plaintext_len)?);
    Some(STREAM_OVERHEAD + plaintext_len + TAG_LEN * segments)
}

/// Plaintext size of a stream stored in `stored_len` bytes; `None` if no stream has that size.
pub fn plaintext_len(stored_len: u64) -> Option<u64> {
    let body = stored_len.checked_sub(STREAM_OVERHEAD)?;
    let full = body / SEALED_SEGMENT_LEN;
    let rest = body % SEALED_SEGMENT_LEN;
    let plaintext = match rest {
        0 => full * SEGMENT_SIZE,
        1..=TAG_LEN => return None,
        _ => full * SEGMENT_SIZE + rest - TAG_LEN,
    };
    (plaintext <= MAX_STREAM_PLAINTEXT_LEN).then_some(plaintext)
}

/// Stored size of a multipart object of `plaintext_len` bytes in `backend_part_count` backend
/// parts (data parts plus a separate manifest part, if any); `None` when out of range.
pub fn multipart_stored_len(plaintext_len: u64, backend_part_count: u32) -> Option<u64> {
    if !(1..=MAX_PART_NUMBER).contains(&backend_part_count) {
        return None;
    }
    let segments = plaintext_len.checked_add(SEGMENT_SIZE - 1)? / SEGMENT_SIZE;
    (MULTIPART_PER_PART * u64::from(backend_part_count) + MULTIPART_CONSTANT)
        .checked_add(plaintext_len)?
        .checked_add(TAG_LEN * segments)
}

/// Plaintext size of a multipart object stored in `stored_total` bytes over
/// `backend_part_count` backend parts (the `-M` suffix of its ETag); `None` if impossible.
pub fn multipart_plaintext_len(stored_total: u64, backend_part_count: u32) -> Option<u64> {
    if !(1..=MAX_PART_NUMBER).contains(&backend_part_count) {
        return None;
    }
    // C(P, M) = c(P) + 160·M − 16, and the smallest C for M parts is C(0, M) = 160·M + 112.
    let fixed = MULTIPART_PER_PART * u64::from(backend_part_count) + MULTIPART_CONSTANT;
    let as_stream = stored_total.checked_sub(fixed)?.checked_add(STREAM_OVERHEAD)?;
    let plaintext = plaintext_len(as_stream)?;
    (multipart_stored_len(plaintext, backend_part_count) == Some(stored_total)).then_some(plaintext)
}

/// Stored length of data segment `index` (tag included) of a stream of `plaintext_len` bytes.
pub(super) fn sealed_segment_len(plaintext_len: u64, index: u32) -> u64 {
    let start = u64::from(index) * SEGMENT_SIZE;
    plaintext_len.saturating_sub(start).min(SEGMENT_SIZE) + TAG_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_examples() {
        assert_eq!(stored_len(0), Some(128));
        assert_eq!(stored_len(1), Some(145));
        assert_eq!(stored_len(1 << 30), Some(1_074_004_096));
        assert_eq!(stored_len(MAX_STREAM_PLAINTEXT_LEN + 1), None);
        assert_eq!(multipart_stored_len(100 << 20, 13), Some(104_885_392));
        assert_eq!(multipart_stored_len(80 << 20, 11), Some(83_908_432));
        assert_eq!(multipart_plaintext_len(104_885_392, 13), Some(100 << 20));
        assert_eq!(multipart_plaintext_len(83_908_432, 11), Some(80 << 20));
    }

    #[test]
    fn inverse_is_exact_for_every_small_length() {
        let mut images = std::collections::BTreeSet::new();
        for p in 0..=300_000u64 {
            let c = stored_len(p).unwrap();
            assert_eq!(plaintext_len(c), Some(p), "p = {p}");
            images.insert(c);
        }
        let last = stored_len(300_000).unwrap();
        for c in 0..=last {
            assert_eq!(plaintext_len(c).is_some(), images.contains(&c), "c = {c}");
        }
    }

    #[test]
    fn inverse_is_exact_at_large_lengths() {
        let edges = [
            5 << 30,
            50 << 40,
            MAX_STREAM_PLAINTEXT_LEN - 1,
            MAX_STREAM_PLAINTEXT_LEN,
        ];
        for p in edges.into_iter().flat_map(|p: u64| p.saturating_sub(70_000)..=p) {
            let c = stored_len(p).unwrap();
            assert_eq!(plaintext_len(c), Some(p));
            let aligned = 128 + (c - 128) / SEALED_SEGMENT_LEN * SEALED_SEGMENT_LEN;
            for refused in aligned + 1..=aligned + TAG_LEN {
                assert_eq!(plaintext_len(refused), None, "c = {refused}");
            }
        }
        assert_eq!(plaintext_len(stored_len(MAX_STREAM_PLAINTEXT_LEN).unwrap() + 1), None);
        assert_eq!(plaintext_len(u64::MAX), None);
        assert_eq!(plaintext_len(127), None);
    }

    #[test]
    fn multipart_inverse_is_exact() {
        for parts in [1u32, 2, 13, 9_999, 10_000] {
            for p in (0..=200_000u64).chain([5 << 30, 50 << 40]) {
                let c = multipart_stored_len(p, parts).unwrap();
                assert_eq!(multipart_plaintext_len(c, parts), Some(p));
            }
            let smallest = multipart_stored_len(0, parts).unwrap();
            assert_eq!(multipart_plaintext_len(smallest - 1, parts), None);
            for refused in smallest + 1..smallest + 17 {
                assert_eq!(multipart_plaintext_len(refused, parts), None);
            }
        }
        assert_eq!(multipart_plaintext_len(1 << 40, 0), None);
        assert_eq!(multipart_plaintext_len(1 << 40, 10_001), None);
        assert_eq!(multipart_plaintext_len(u64::MAX, 1), None);
    }

    #[test]
    fn segment_lengths() {
        assert_eq!(sealed_segment_len(65_537, 0), SEALED_SEGMENT_LEN);
        assert_eq!(sealed_segment_len(65_537, 1), 17);
        assert_eq!(sealed_segment_len(65_536, 0), SEALED_SEGMENT_LEN);
    }
}
