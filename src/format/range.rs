//! Plaintext ranges: the `Range` header value, its resolution against a plaintext length, and
//! the mapping of a resolved range onto the stored bytes of one stream.
//!
//! A [`RangePlan`] names the stored bytes to fetch: segments `f..=l` that cover the range, plus
//! the trailer when `l` is the last data segment (so the authenticated length is checked), and
//! the header too when `f == 0` (it sits right before segment 0). When the fetch does not start
//! at 0, the 48 header bytes (`0..48`, fetched or cached) must be pushed to the decryptor first.

use std::ops::Range;

use super::{HEADER_LEN, SEALED_SEGMENT_LEN, SEGMENT_SIZE, data_segment_count, stored_len};

/// The requested range cannot be served from this object (S3 `416 InvalidRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the requested range is not satisfiable")]
pub struct UnsatisfiableRange;

/// One `Range: bytes=…` specification, before the object length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRangeSpec {
    /// `bytes=a-b`, both inclusive.
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last `n` bytes.
    Suffix(u64),
}

impl ByteRangeSpec {
    /// Parses a `Range` header value. `None` means the value is not one valid byte range
    /// (syntax error, several ranges, `a > b`): HTTP says to ignore it and serve the whole
    /// object, which is what S3 does. Numbers too large for a u64 saturate.
    pub fn parse(value: &str) -> Option<ByteRangeSpec> {
        let value = value.trim();
        let (unit, spec) = value.split_once('=')?;
        if !unit.trim().eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (first, last) = spec.trim().split_once('-')?;
        match (parse_number(first), parse_number(last)) {
            (Some(first), Some(last)) if first <= last => Some(ByteRangeSpec::FromTo(first, last)),
            (Some(first), None) if last.is_empty() => Some(ByteRangeSpec::From(first)),
            (None, Some(suffix)) if first.is_empty() => Some(ByteRangeSpec::Suffix(suffix)),
            _ => None,
        }
    }

    /// Resolves against an object of `len` plaintext bytes.
    pub fn resolve(self, len: u64) -> Result<PlaintextRange, UnsatisfiableRange> {
        let last_byte = len.checked_sub(1).ok_or(UnsatisfiableRange)?;
        let (first, last) = match self {
            ByteRangeSpec::FromTo(first, last) => (first, last.min(last_byte)),
            ByteRangeSpec::From(first) => (first, last_byte),
            ByteRangeSpec::Suffix(0) => return Err(UnsatisfiableRange),
            ByteRangeSpec::Suffix(count) => (len - count.min(len), last_byte),
        };
        PlaintextRange::new(first, last).ok_or(UnsatisfiableRange)
    }
}

/// Digits only; saturates at `u64::MAX`.
fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u64, |value, digit| {
        value.saturating_mul(10).saturating_add(u64::from(digit - b'0'))
    }))
}

/// A non-empty inclusive range of plaintext offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaintextRange {
    first: u64,
    last: u64,
}

impl PlaintextRange {
    /// `first..=last`; `None` when `first > last`.
    pub fn new(first: u64, last: u64) -> Option<PlaintextRange> {
        (first <= last).then_some(PlaintextRange { first, last })
    }

    /// First offset.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// Last offset (inclusive).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Number of bytes (at least 1, saturating for the full u64 span).
    pub fn len(&self) -> u64 {
        (self.last - self.first).saturating_add(1)
    }

    /// Always false: ranges are never empty. Present for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Where the bytes of a plaintext range live in one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePlan {
    plaintext_len: u64,
    range: PlaintextRange,
    first_segment: u32,
    last_segment: u32,
    fetch: Range<u64>,
    includes_trailer: bool,
}

impl RangePlan {
    /// The stored bytes of the stream header (push them first when `fetch` does not start at 0).
    pub const HEADER: Range<u64> = 0..HEADER_LEN as u64;

    /// Plans `range` of a stream of `plaintext_len` bytes.
    pub fn new(plaintext_len: u64, range: PlaintextRange) -> Result<RangePlan, UnsatisfiableRange> {
        let segments = data_segment_count(plaintext_len).ok_or(UnsatisfiableRange)?;
        if range.last >= plaintext_len {
            return Err(UnsatisfiableRange);
        }
        let first_segment = u32::try_from(range.first / SEGMENT_SIZE).map_err(|_| UnsatisfiableRange)?;
        let last_segment = u32::try_from(range.last / SEGMENT_SIZE).map_err(|_| UnsatisfiableRange)?;
        let includes_trailer = last_segment + 1 == segments;
        let start = match first_segment {
            0 => 0,
            index => segment_offset(index),
        };
        let end = if includes_trailer {
            stored_len(plaintext_len).ok_or(UnsatisfiableRange)?
        } else {
            segment_offset(last_segment + 1)
        };
        Ok(RangePlan {
            plaintext_len,
            range,
            first_segment,
            last_segment,
            fetch: start..end,
            includes_trailer,
        })
    }

    /// Plaintext length of the stream.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_len
    }

    /// The plaintext range this plan releases.
    pub fn range(&self) -> PlaintextRange {
        self.range
    }

    /// Index of the first segment read.
    pub fn first_segment(&self) -> u32 {
        self.first_segment
    }

    /// Index of the last data segment read.
    pub fn last_segment(&self) -> u32 {
        self.last_segment
    }

    /// Stored bytes to fetch, relative to the start of the stream.
    pub fn fetch(&self) -> Range<u64> {
        self.fetch.clone()
    }

    /// True when `fetch` starts with the header (no separate header read needed).
    pub fn header_included(&self) -> bool {
        self.fetch.start == 0
    }

    /// True when the fetch ends with the trailer.
    pub fn includes_trailer(&self) -> bool {
        self.includes_trailer
    }

    /// Plaintext bytes of the first segment before the range starts.
    pub fn skip(&self) -> u64 {
        self.range.first - u64::from(self.first_segment) * SEGMENT_SIZE
    }
}

/// Stored offset of data segment `index`.
fn segment_offset(index: u32) -> u64 {
    HEADER_LEN as u64 + u64::from(index) * SEALED_SEGMENT_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_ignores_the_rest() {
        assert_eq!(ByteRangeSpec::parse("bytes=0-99"), Some(ByteRangeSpec::FromTo(0, 99)));
        assert_eq!(ByteRangeSpec::parse("bytes=5-"), Some(ByteRangeSpec::From(5)));
        assert_eq!(ByteRangeSpec::parse("bytes=-7"), Some(ByteRangeSpec::Suffix(7)));
        assert_eq!(ByteRangeSpec::parse(" Bytes = 3-3 "), Some(ByteRangeSpec::FromTo(3, 3)));
        assert_eq!(
            ByteRangeSpec::parse("bytes=0-99999999999999999999999"),
            Some(ByteRangeSpec::FromTo(0, u64::MAX))
        );
        for ignored in [
            "",
            "bytes=",
            "bytes=-",
            "bytes=5-3",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=+1-2",
            "bytes=1 -2",
            "0-1",
        ] {
            assert_eq!(ByteRangeSpec::parse(ignored), None, "{ignored:?}");
        }
    }

    #[test]
    fn resolves_like_s3() {
        let resolve = |value: &str, len| {
            ByteRangeSpec::parse(value)
                .unwrap()
                .resolve(len)
                .map(|r| (r.first, r.last))
        };
        assert_eq!(resolve("bytes=0-99", 10), Ok((0, 9)));
        assert_eq!(resolve("bytes=9-", 10), Ok((9, 9)));
        assert_eq!(resolve("bytes=10-", 10), Err(UnsatisfiableRange));
        assert_eq!(resolve("bytes=10-20", 10), Err(UnsatisfiableRange));
        assert_eq!(resolve("bytes=-3", 10), Ok((7, 9)));
        assert_eq!(resolve("bytes=-30", 10), Ok((0, 9)));
        assert_eq!(resolve("bytes=-0", 10), Err(UnsatisfiableRange));
        assert_eq!(resolve("bytes=0-0", 0), Err(UnsatisfiableRange));
        assert_eq!(resolve("bytes=-1", 0), Err(UnsatisfiableRange));
    }

    #[test]
    fn plan_edges() {
        let p = 3 * SEGMENT_SIZE + 5;
        let plan = RangePlan::new(p, PlaintextRange::new(0, 0).unwrap()).unwrap();
        assert_eq!(
            (plan.fetch(), plan.includes_trailer(), plan.skip()),
            (0..48 + SEALED_SEGMENT_LEN, false, 0)
        );
        let plan = RangePlan::new(p, PlaintextRange::new(SEGMENT_SIZE + 1, p - 1).unwrap()).unwrap();
        assert_eq!(plan.fetch(), 48 + SEALED_SEGMENT_LEN..stored_len(p).unwrap());
        assert_eq!((plan.first_segment(), plan.last_segment(), plan.skip()), (1, 3, 1));
        assert!(plan.includes_trailer() && !plan.header_included());
        assert_eq!(
            RangePlan::new(p, PlaintextRange::new(0, p).unwrap()),
            Err(UnsatisfiableRange)
        );
        assert_eq!(
            RangePlan::new(0, PlaintextRange::new(0, 0).unwrap()),
            Err(UnsatisfiableRange)
        );
    }
}
