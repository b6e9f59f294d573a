//! Plaintext sizes in object listings (pure): rewrites the `<Size>` of every entry of a
//! ListObjects (v1), ListObjectsV2 or ListObjectVersions result from the stored size to the
//! plaintext size, with no extra request and no key (DESIGN.md §5 invariant 3).
//!
//! An entry is a `<Contents>` or `<Version>` child of the root (`ListBucketResult` or
//! `ListVersionsResult`); its `<Size>` and `<ETag>` children are read. The ETag decides the
//! layout: no `-` means one stream (`format::plaintext_len`); `"…-M"` means a multipart object
//! of `M` backend parts (`format::multipart_plaintext_len`). A size that is not an image of
//! the format (an object s3kms did not write, or an ETag suffix that is not a part count) is
//! left unchanged and counted in [`Rewritten::foreign`]. An object written elsewhere whose size
//! happens to be an image is indistinguishable here (peer-implementations §9.5).
//!
//! Every other byte is copied unchanged: declaration, namespaces, attributes, whitespace,
//! escaping, comments. Only the digits of a rewritten `<Size>` change.
//!
//! Not here: ListParts. A part's `<Size>` is one stream, but the last part may carry the
//! appended manifest, so its size is not invertible from the listing alone; the handler must
//! use the manifest.
//!
//! Bounds: documents over [`MAX_DOCUMENT_LEN`] (16 MiB) are refused. An AWS page holds at most
//! 1000 keys and prefixes of ≤ 1024 bytes each; even escaped six-fold that is under 8 MiB.
//! Nesting beyond [`MAX_DEPTH`] and DTDs are refused (no entity expansion is ever done).

use crate::format::{multipart_plaintext_len, plaintext_len};

/// Largest listing document accepted.
pub const MAX_DOCUMENT_LEN: usize = 16 << 20;
/// Deepest element nesting accepted (listings nest four deep).
pub const MAX_DEPTH: usize = 32;

/// A rewritten document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten {
    /// The document with plaintext sizes.
    pub xml: Vec<u8>,
    /// Entries whose size was rewritten.
    pub rewritten: usize,
    /// Entries whose size is not an image of the format, left unchanged.
    pub foreign: usize,
}

/// Why a listing document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    /// Larger than [`MAX_DOCUMENT_LEN`].
    #[error("listing document of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The root element is not a listing result.
    #[error("not a listing result: root element {0}")]
    UnexpectedRoot(String),
    /// Not well-formed enough to rewrite safely.
    #[error("malformed listing document at byte {offset}: {reason}")]
    Malformed {
        /// Where the problem was found.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Rewrites every entry's `<Size>` to the plaintext size.
pub fn rewrite_sizes(xml: &[u8]) -> Result<Rewritten, ListingError> {
    if xml.len() > MAX_DOCUMENT_LEN {
        return Err(ListingError::TooLarge(xml.len()));
    }
    let mut scan = Scan::default();
    let mut position = 0;
    while let Some(found) = find(xml, position, b"<") {
        position = scan.markup(xml, found)?;
    }
    if !scan.stack.is_empty() || !scan.root_seen {
        return Err(malformed(xml.len(), "document ends inside an element"));
    }
    Ok(scan.finish(xml))
}

/// An entry being read.
#[derive(Default)]
struct Entry {
    /// Byte range of the `<Size>` digits.
    size: Option<(usize, usize)>,
    /// Byte range of the `<ETag>` text.
    etag: Option<(usize, usize)>,
}

#[derive(Default)]
struct Scan {
    /// Open elements: local name range and the offset just after the start tag.
    stack: Vec<(usize, usize, usize)>,
    root_seen: bool,
    entry: Option<Entry>,
    /// Size digit ranges and their new values.
    replacements: Vec<(usize, usize, u64)>,
    foreign: usize,
}

impl Scan {
    /// Handles the markup starting at `start` (a `<`); returns where scanning resumes.
    fn markup(&mut self, xml: &[u8], start: usize) -> Result<usize, ListingError> {
        let rest = &xml[start..];
        if rest.starts_with(b"<?") {
            return skip_past(xml, start, b"?>");
        }
        if rest.starts_with(b"<!--") {
            return skip_past(xml, start, b"-->");
        }
        if rest.starts_with(b"<![CDATA[") {
            return skip_past(xml, start, b"]]>");
        }
        if rest.starts_with(b"<!") {
            return Err(malformed(start, "DTDs are not accepted"));
        }
        if rest.starts_with(b"</") {
            return self.end_tag(xml, start);
        }
        self.start_tag(xml, start)
    }

    fn start_tag(&mut self, xml: &[u8], start: usize) -> Result<usize, ListingError> {
        let close = tag_end(xml, start)?;
        let (name_start, name_end) = name_at(xml, start + 1, close)?;
        let empty = xml[close - 1] == b'/';
        let name = local(&xml[name_start..name_end]);
        match self.stack.len() {
            0 if self.root_seen => return Err(malformed(start, "content after the root element")),
            0 => {
                if name != b"ListBucketResult" && name != b"ListVersionsResult" {
                    return Err(ListingError::UnexpectedRoot(String::from_utf8_lossy(name).into_owned()));
                }
                self.root_seen = true;
            }
            1 if !empty && (name == b"Contents" || name == b"Version") => self.entry = Some(Entry::default()),
            depth if depth >= MAX_DEPTH => return Err(malformed(start, "nested too deeply")),
            _ => {}
        }
        if !empty {
            self.stack.push((name_start, name_end, close + 1));
        }
        Ok(close + 1)
    }

    fn end_tag(&mut self, xml: &[u8], start: usize) -> Result<usize, ListingError> {
        let close = find(xml, start, b">").ok_or_else(|| malformed(start, "unterminated end tag"))?;
        let name = trim(&xml[start + 2..close]);
        let (open_start, open_end, content_start) = self
            .stack
            .pop()
            .ok_or_else(|| malformed(start, "end tag without start tag"))?;
        if name != &xml[open_start..open_end] {
            return Err(malformed(start, "end tag does not match its start tag"));
        }
        let name = local(name);
        match (self.stack.len(), self.entry.as_mut()) {
            (1, Some(_)) => {
                let entry = self.entry.take().unwrap_or_default();
                self.finish_entry(xml, entry)?;
            }
            (2, Some(entry)) if name == b"Size" || name == b"ETag" => {
                let content = (content_start, start);
                if xml[content_start..start].contains(&b'<') {
                    return Err(malformed(start, "markup inside Size or ETag"));
                }
                let slot = if name == b"Size" {
                    &mut entry.size
                } else {
                    &mut entry.etag
                };
                if slot.replace(content).is_some() {
                    return Err(malformed(start, "repeated Size or ETag"));
                }
            }
            _ => {}
        }
        Ok(close + 1)
    }

    fn finish_entry(&mut self, xml: &[u8], entry: Entry) -> Result<(), ListingError> {
        let Some((start, end)) = entry.size else {
            return Ok(());
        };
        let digits_start = start + (xml[start..end].len() - trim_start(&xml[start..end]).len());
        let digits_end = digits_start + trim(&xml[start..end]).len();
        let stored =
            parse_u64(&xml[digits_start..digits_end]).ok_or_else(|| malformed(start, "Size is not a number"))?;
        let layout = entry.etag.map(|(from, to)| layout_of(&xml[from..to]));
        let plaintext = match layout {
            Some(Layout::Single) => plaintext_len(stored),
            Some(Layout::Multipart(parts)) => multipart_plaintext_len(stored, parts),
            Some(Layout::Unknown) | None => None,
        };
        match plaintext {
            Some(plaintext) => self.replacements.push((digits_start, digits_end, plaintext)),
            None => self.foreign += 1,
        }
        Ok(())
    }

    fn finish(self, xml: &[u8]) -> Rewritten {
        let mut out = Vec::with_capacity(xml.len());
        let mut copied = 0;
        for (start, end, value) in &self.replacements {
            out.extend_from_slice(&xml[copied..*start]);
            out.extend_from_slice(value.to_string().as_bytes());
            copied = *end;
        }
        out.extend_from_slice(&xml[copied..]);
        Rewritten {
            xml: out,
            rewritten: self.replacements.len(),
            foreign: self.foreign,
        }
    }
}

/// What an ETag says about the object's layout.
#[derive(Debug, PartialEq, Eq)]
enum Layout {
    Single,
    Multipart(u32),
    Unknown,
}

/// Reads the layout from the ETag text as it appears in the XML (quotes possibly escaped).
fn layout_of(escaped: &[u8]) -> Layout {
    let Some(etag) = unescape(trim(escaped)) else {
        return Layout::Unknown;
    };
    let etag = etag
        .strip_prefix('"')
        .and_then(|e| e.strip_suffix('"'))
        .unwrap_or(&etag);
    match etag.rsplit_once('-') {
        None => Layout::Single,
        Some((_, count)) => match parse_u64(count.as_bytes()).and_then(|n| u32::try_from(n).ok()) {
            Some(parts) => Layout::Multipart(parts),
            None => Layout::Unknown,
        },
    }
}

/// Decodes XML's predefined and numeric character references; `None` if one is malformed.
fn unescape(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..].find(';')? + amp;
        let decoded = match &rest[amp + 1..semi] {
            "quot" => '"',
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            reference => {
                let code = match reference.strip_prefix("#x").or_else(|| reference.strip_prefix("#X")) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => reference.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(decoded);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The `>` ending the tag that starts at `start`, skipping quoted attribute values.
fn tag_end(xml: &[u8], start: usize) -> Result<usize, ListingError> {
    let mut quote = None;
    for (offset, &byte) in xml[start..].iter().enumerate() {
        match (quote, byte) {
            (None, b'"' | b'\'') => quote = Some(byte),
            (Some(open), _) if byte == open => quote = None,
            (None, b'>') => return Ok(start + offset),
            (None, b'<') if offset > 0 => return Err(malformed(start + offset, "'<' inside a tag")),
            _ => {}
        }
    }
    Err(malformed(start, "unterminated tag"))
}

/// The element name of a start tag whose name begins at `from` and whose `>` is at `close`.
fn name_at(xml: &[u8], from: usize, close: usize) -> Result<(usize, usize), ListingError> {
    let length = xml[from..close]
        .iter()
        .position(|byte| byte.is_ascii_whitespace() || *byte == b'/')
        .unwrap_or(close - from);
    if length == 0 {
        return Err(malformed(from, "element without a name"));
    }
    Ok((from, from + length))
}

/// The local part of a possibly prefixed name.
fn local(name: &[u8]) -> &[u8] {
    match name.iter().position(|byte| *byte == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

fn skip_past(xml: &[u8], start: usize, terminator: &[u8]) -> Result<usize, ListingError> {
    find(xml, start + 2, terminator)
        .map(|at| at + terminator.len())
        .ok_or_else(|| malformed(start, "unterminated comment, CDATA or processing instruction"))
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| from + at)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|byte| byte.is_ascii_whitespace()).count();
    &bytes[skip..]
}

fn trim(bytes: &[u8]) -> &[u8] {
    let bytes = trim_start(bytes);
    let keep = bytes.len() - bytes.iter().rev().take_while(|byte| byte.is_ascii_whitespace()).count();
    &bytes[..keep]
}

/// Decimal digits only (no sign, no spaces), without overflow.
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn malformed(offset: usize, reason: &'static str) -> ListingError {
    ListingError::Malformed { offset, reason }
}

#[cfg(test)]
#[path = "listing_tests.rs"]
mod tests;
