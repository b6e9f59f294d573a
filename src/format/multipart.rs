//! Range mapping across the parts of a multipart object, from its manifest.
//!
//! A multipart object is the concatenation of its part streams (in part-number order) followed
//! by the manifest. Prefix sums of the part plaintext lengths locate the parts a range covers;
//! the stored offset of part `j` is `Σ_{i<j} c(p_i)`. One contiguous fetch covers every needed
//! part: the first part from its first needed segment, whole parts in between, and the last part
//! from its header up to its last needed segment. Only the first part's header may lie outside
//! the fetch; [`PartSlice::header`] then says where to read it.

use std::ops::Range;

use super::manifest::{Manifest, PartEntry};
use super::{PlaintextRange, RangePlan, StreamKind, UnsatisfiableRange, stored_len};

/// Offsets of every part of a multipart object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartLayout {
    parts: Vec<PartEntry>,
    /// Plaintext offset where each part starts, plus the total at the end.
    plaintext_starts: Vec<u64>,
    /// Stored offset where each part starts, plus the manifest offset at the end.
    stored_starts: Vec<u64>,
}

/// How to read one plaintext range of a multipart object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartPlan {
    /// The one contiguous stored range to fetch (absolute offsets in the object).
    pub fetch: Range<u64>,
    /// The parts the fetch covers, in order; their `fetched_len`s add up to the fetch length.
    pub parts: Vec<PartSlice>,
}

/// One part within a [`MultipartPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSlice {
    /// Index of the part in the manifest (0-based).
    pub index: usize,
    /// The stream kind its header must carry (its part number).
    pub kind: StreamKind,
    /// Absolute stored range of the header when it is not in the fetch (push it first).
    pub header: Option<Range<u64>>,
    /// Bytes of the fetch that belong to this part.
    pub fetched_len: u64,
    /// The window to decrypt with [`super::StreamDecryptor::for_range`]; `None` when the whole
    /// part is read (decrypt it with [`super::StreamDecryptor::new`]).
    pub window: Option<RangePlan>,
}

impl MultipartLayout {
    /// Prefix sums of `manifest`.
    pub fn new(manifest: &Manifest) -> MultipartLayout {
        let parts = manifest.parts().to_vec();
        let mut plaintext_starts = Vec::with_capacity(parts.len() + 1);
        let mut stored_starts = Vec::with_capacity(parts.len() + 1);
        let (mut plaintext, mut stored) = (0u64, 0u64);
        for part in &parts {
            plaintext_starts.push(plaintext);
            stored_starts.push(stored);
            plaintext += part.plaintext_len;
            stored += stored_len(part.plaintext_len).unwrap_or(u64::MAX);
        }
        plaintext_starts.push(plaintext);
        stored_starts.push(stored);
        MultipartLayout {
            parts,
            plaintext_starts,
            stored_starts,
        }
    }

    /// Total plaintext P.
    pub fn plaintext_len(&self) -> u64 {
        self.plaintext_starts.last().copied().unwrap_or(0)
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[PartEntry] {
        &self.parts
    }

    /// Absolute stored range of part `index`'s stream.
    pub fn part_stored_range(&self, index: usize) -> Option<Range<u64>> {
        Some(*self.stored_starts.get(index)?..*self.stored_starts.get(index + 1)?)
    }

    /// Plaintext range of part `index` in the object (`None` for an empty part).
    pub fn part_plaintext_range(&self, index: usize) -> Option<PlaintextRange> {
        let start = *self.plaintext_starts.get(index)?;
        let end = *self.plaintext_starts.get(index + 1)?;
        PlaintextRange::new(start, end.checked_sub(1)?)
    }

    /// Stored offset where the manifest starts.
    pub fn manifest_offset(&self) -> u64 {
        self.stored_starts.last().copied().unwrap_or(0)
    }

    /// Plans `range` of the object's plaintext.
    pub fn plan(&self, range: PlaintextRange) -> Result<MultipartPlan, UnsatisfiableRange> {
        if range.last() >= self.plaintext_len() {
            return Err(UnsatisfiableRange);
        }
        let ends = &self.plaintext_starts[1..];
        let first_part = ends.partition_point(|&end| end <= range.first());
        let last_part = ends.partition_point(|&end| end <= range.last());
        let slices = (first_part..=last_part)
            .map(|index| self.slice(index, range, index == first_part))
            .collect::<Result<Vec<_>, _>>()?;
        let first_offset = slices
            .first()
            .and_then(|slice| slice.window.as_ref())
            .map_or(0, |w| w.fetch().start);
        let last_end = match slices.last().and_then(|slice| slice.window.as_ref()) {
            Some(window) => window.fetch().end,
            None => stored_len(self.parts[last_part].plaintext_len).ok_or(UnsatisfiableRange)?,
        };
        let fetch = self.stored_starts[first_part] + first_offset..self.stored_starts[last_part] + last_end;
        Ok(MultipartPlan { fetch, parts: slices })
    }

    fn slice(&self, index: usize, range: PlaintextRange, is_first: bool) -> Result<PartSlice, UnsatisfiableRange> {
        let part = self.parts[index];
        let start = self.plaintext_starts[index];
        let kind = StreamKind::MultipartPart(part.part_number);
        let whole_len = stored_len(part.plaintext_len).ok_or(UnsatisfiableRange)?;
        let local = self.plaintext_starts[index + 1]
            .checked_sub(1)
            .and_then(|last_in_part| {
                let last = range.last().min(last_in_part).checked_sub(start)?;
                PlaintextRange::new(range.first().max(start) - start, last)
            });
        let window = match local {
            Some(local) if local.first() == 0 && local.len() == part.plaintext_len => None,
            Some(local) if part.plaintext_len > 0 => Some(RangePlan::new(part.plaintext_len, local)?),
            _ => None,
        };
        let (header, fetched_len) = match &window {
            None => (None, whole_len),
            Some(window) => {
                let header_start = self.stored_starts[index];
                let header = (is_first && !window.header_included())
                    .then(|| header_start + RangePlan::HEADER.start..header_start + RangePlan::HEADER.end);
                (header, window.fetch().end - window.fetch().start)
            }
        };
        Ok(PartSlice {
            index,
            kind,
            header,
            fetched_len,
            window,
        })
    }
}
