//! The line-level framing of aws-chunked bodies: chunk header lines
//! (`hex-size[;chunk-signature=<64 hex>]\r\n`) and trailer lines (`name:value\r\n`).
//!
//! Invariant: a [`LineBuffer`] never holds more than [`MAX_LINE`] bytes, so framing costs
//! bounded memory whatever the peer sends.

use super::super::signing::Signature;
use super::ChunkedError;

/// The longest chunk header or trailer line accepted, CRLF included. A signed chunk header
/// is at most 16 + 17 + 64 + 2 = 99 bytes; trailers are short base64 values.
pub(super) const MAX_LINE: usize = 1024;

/// One partially received line.
#[derive(Debug, Default)]
pub(super) struct LineBuffer {
    bytes: Vec<u8>,
}

/// A parsed chunk header line.
#[derive(Debug)]
pub(super) struct ChunkHeader {
    pub(super) size: u64,
    pub(super) signature: Option<Signature>,
}

impl LineBuffer {
    /// Takes bytes from `input` up to and including the first `\n`. Returns how many bytes
    /// were taken and whether the line is now complete.
    pub(super) fn fill(&mut self, input: &[u8]) -> Result<(usize, bool), ChunkedError> {
        let (taken, complete) = match input.iter().position(|&byte| byte == b'\n') {
            Some(index) => (index + 1, true),
            None => (input.len(), false),
        };
        if self.bytes.len() + taken > MAX_LINE {
            return Err(ChunkedError::Malformed("line too long"));
        }
        self.bytes.extend_from_slice(&input[..taken]);
        Ok((taken, complete))
    }

    /// Removes the complete line and returns it without its CRLF (which must be there).
    pub(super) fn take(&mut self) -> Result<String, ChunkedError> {
        let line = std::mem::take(&mut self.bytes);
        let content = line
            .strip_suffix(b"\r\n")
            .ok_or(ChunkedError::Malformed("line not ended by CRLF"))?;
        String::from_utf8(content.to_vec()).map_err(|_| ChunkedError::Malformed("line is not UTF-8"))
    }
}

/// Parses a chunk header line (without CRLF). Signed modes require exactly one
/// `chunk-signature=` extension; the unsigned mode allows none.
pub(super) fn parse_chunk_header(line: &str, signed: bool) -> Result<ChunkHeader, ChunkedError> {
    let (size_text, extension) = match line.split_once(';') {
        Some((size, extension)) => (size, Some(extension)),
        None => (line, None),
    };
    let size = parse_hex_size(size_text)?;
    let signature = match (signed, extension) {
        (true, Some(extension)) => Some(parse_signature_extension(extension)?),
        (true, None) => return Err(ChunkedError::Malformed("chunk signature missing")),
        (false, Some(_)) => return Err(ChunkedError::Malformed("unexpected chunk extension")),
        (false, None) => None,
    };
    Ok(ChunkHeader { size, signature })
}

/// 1 to 16 hex digits (either case), nothing else.
fn parse_hex_size(text: &str) -> Result<u64, ChunkedError> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(ChunkedError::Malformed("chunk size is not hex"));
    }
    u64::from_str_radix(text, 16).map_err(|_| ChunkedError::Malformed("chunk size is not hex"))
}

fn parse_signature_extension(extension: &str) -> Result<Signature, ChunkedError> {
    let hex = extension
        .strip_prefix("chunk-signature=")
        .ok_or(ChunkedError::Malformed("unexpected chunk extension"))?;
    Signature::from_hex(hex).ok_or(ChunkedError::Malformed("chunk signature is not 64 hex digits"))
}

/// Splits a trailer line into a lower-case name and a trimmed value.
pub(super) fn parse_trailer_line(line: &str) -> Result<(String, String), ChunkedError> {
    let (name, value) = line
        .split_once(':')
        .ok_or(ChunkedError::Malformed("trailer line has no colon"))?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-') {
        return Err(ChunkedError::Malformed("trailer name is not a header name"));
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunk_headers() {
        let signed = "400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
        assert_eq!(parse_chunk_header(signed, true).unwrap().size, 1024);
        assert_eq!(parse_chunk_header("FfFf", false).unwrap().size, 0xffff);
        assert!(parse_chunk_header("400", true).is_err());
        assert!(parse_chunk_header(signed, false).is_err());
        for bad in ["", "-1", "0x10", "1 ", "11111111111111111", "400;chunk-signature=00"] {
            assert!(parse_chunk_header(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds_line_length() {
        let mut buffer = LineBuffer::default();
        assert_eq!(buffer.fill(&[b'a'; MAX_LINE]).unwrap(), (MAX_LINE, false));
        assert!(buffer.fill(b"b").is_err());
        let mut buffer = LineBuffer::default();
        assert_eq!(buffer.fill(b"10\r\nrest").unwrap(), (4, true));
        assert_eq!(buffer.take().unwrap(), "10");
        buffer.fill(b"10\n").unwrap();
        assert!(buffer.take().is_err());
    }

    #[test]
    fn parses_trailer_lines() {
        let (name, value) = parse_trailer_line("X-Amz-Checksum-Crc32c: sOO8/Q== ").unwrap();
        assert_eq!((name.as_str(), value.as_str()), ("x-amz-checksum-crc32c", "sOO8/Q=="));
        assert!(parse_trailer_line("no colon").is_err());
        assert!(parse_trailer_line(": value").is_err());
    }
}
