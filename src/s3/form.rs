//! The head of a POST object body (`multipart/form-data`, RFC 7578), parsed up to the start of
//! the file's bytes (pure).
//!
//! AWS reads the form fields first and takes the `file` field last (fields after it are
//! ignored), so s3kms never needs more than the fields in memory: [`parse_head`] returns them
//! with the offset where the file's data begins, and the caller streams the rest. Field names
//! are compared case-insensitively, as AWS does; values are kept as sent. Nothing here panics
//! on input.

/// Largest form head (every field before the file) accepted.
pub const MAX_HEAD_LEN: usize = 1 << 20;

/// The fields before the file, and where the file starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormHead {
    /// `(lower-case name, value)` in order.
    pub fields: Vec<(String, String)>,
    /// The file part's `filename`, if any.
    pub filename: Option<String>,
    /// The file part's `Content-Type`, if any.
    pub file_content_type: Option<String>,
    /// Offset of the file's first data byte in the body.
    pub data_start: usize,
}

impl FormHead {
    /// The value of field `name` (lower-case).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Why a form cannot be read (AWS: `400 MalformedPOSTRequest`, or the missing file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// Not multipart/form-data as RFC 7578 writes it.
    #[error("The body of your POST request is not well-formed multipart/form-data.")]
    Malformed,
    /// The form ended without a `file` field.
    #[error("POST requires exactly one file upload per request.")]
    NoFile,
    /// The fields before the file exceed [`MAX_HEAD_LEN`].
    #[error("Your POST request fields preceeding the upload file were too large.")]
    HeadTooLarge,
}

/// The boundary of a `Content-Type: multipart/form-data; boundary=…` value.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, parameters) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parameters.split(';').find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty() && value.len() <= 70).then_some(value)
    })
}

/// Parses `body` (the bytes received so far) up to the file's data: `Ok(None)` when more bytes
/// are needed.
pub fn parse_head(body: &[u8], boundary: &str) -> Result<Option<FormHead>, FormError> {
    let delimiter = format!("--{boundary}");
    let Some(first) = find(body, delimiter.as_bytes(), 0) else {
        return more(body);
    };
    let mut position = first + delimiter.len();
    let mut fields = Vec::new();
    loop {
        let Some(after) = body.get(position..position + 2) else {
            return more(body);
        };
        match after {
            b"--" => return Err(FormError::NoFile),
            b"\r\n" => position += 2,
            _ => return Err(FormError::Malformed),
        }
        let Some(headers_end) = find(body, b"\r\n\r\n", position) else {
            return more(body);
        };
        let part = part_headers(&body[position..headers_end])?;
        let data_start = headers_end + 4;
        if part.name.eq_ignore_ascii_case("file") {
            return Ok(Some(FormHead {
                fields,
                filename: part.filename,
                file_content_type: part.content_type,
                data_start,
            }));
        }
        let closing = format!("\r\n{delimiter}");
        let Some(value_end) = find(body, closing.as_bytes(), data_start) else {
            return more(body);
        };
        let value = std::str::from_utf8(&body[data_start..value_end]).map_err(|_| FormError::Malformed)?;
        fields.push((part.name.to_ascii_lowercase(), value.to_owned()));
        position = value_end + closing.len();
    }
}

/// The bytes that end a form after the file's data: `\r\n--boundary--\r\n`.
pub fn closing(boundary: &str) -> Vec<u8> {
    format!("\r\n--{boundary}--\r\n").into_bytes()
}

struct PartHeaders {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
}

fn part_headers(block: &[u8]) -> Result<PartHeaders, FormError> {
    let text = std::str::from_utf8(block).map_err(|_| FormError::Malformed)?;
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in text.split("\r\n") {
        let (header, value) = line.split_once(':').ok_or(FormError::Malformed)?;
        if header.trim().eq_ignore_ascii_case("content-disposition") {
            let mut pieces = value.split(';');
            if !pieces
                .next()
                .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("form-data"))
            {
                return Err(FormError::Malformed);
            }
            for piece in pieces {
                let Some((key, raw)) = piece.split_once('=') else {
                    continue;
                };
                let raw = raw.trim();
                let unquoted = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(unquoted.to_owned()),
                    "filename" => filename = Some(unquoted.to_owned()),
                    _ => {}
                }
            }
        } else if header.trim().eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_owned());
        }
    }
    Ok(PartHeaders {
        name: name.ok_or(FormError::Malformed)?,
        filename,
        content_type,
    })
}

fn more(body: &[u8]) -> Result<Option<FormHead>, FormError> {
    if body.len() > MAX_HEAD_LEN {
        Err(FormError::HeadTooLarge)
    } else {
        Ok(None)
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let window = haystack.get(from..)?;
    window
        .windows(needle.len())
        .position(|candidate| candidate == needle)
        .map(|at| at + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"Key\"\r\n\r\nuploads/${filename}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"x-amz-meta-colour\"\r\n\r\nblue\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n";

    #[test]
    fn fields_come_before_the_file() {
        let head = parse_head(FORM, "XyZ").unwrap().unwrap();
        assert_eq!(head.field("key"), Some("uploads/${filename}"));
        assert_eq!(head.field("x-amz-meta-colour"), Some("blue"));
        assert_eq!(head.filename.as_deref(), Some("a.txt"));
        assert_eq!(head.file_content_type.as_deref(), Some("text/plain"));
        assert_eq!(&FORM[head.data_start..head.data_start + 5], b"hello");
        assert_eq!(&FORM[head.data_start + 5..], closing("XyZ").as_slice());
    }

    #[test]
    fn every_prefix_asks_for_more_or_parses() {
        for cut in 0..FORM.len() {
            match parse_head(&FORM[..cut], "XyZ") {
                Ok(None) => {}
                Ok(Some(head)) => assert!(head.data_start <= cut),
                Err(error) => panic!("prefix of {cut} bytes: {error}"),
            }
        }
    }

    #[test]
    fn forms_without_a_file_or_malformed_are_refused() {
        let no_file = b"--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--b--\r\n";
        assert_eq!(parse_head(no_file, "b"), Err(FormError::NoFile));
        assert_eq!(parse_head(b"--b\r\nnonsense\r\n\r\n", "b"), Err(FormError::Malformed));
        assert_eq!(boundary("multipart/form-data; boundary=\"abc\""), Some("abc"));
        assert_eq!(boundary("application/json"), None);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any bytes: an answer, never a panic; a parsed head never points past the input.
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(Some(head)) = parse_head(&body, "b") {
                prop_assert!(head.data_start <= body.len());
            }
        }

        /// Well-formed forms with arbitrary field values parse back to those values.
        #[test]
        fn generated_forms_round_trip(values in proptest::collection::vec("[a-zA-Z0-9 /._-]{0,40}", 0..6)) {
            let mut body = Vec::new();
            for (index, value) in values.iter().enumerate() {
                body.extend_from_slice(format!("--XyZ\r\nContent-Disposition: form-data; name=\"f{index}\"\r\n\r\n{value}\r\n").as_bytes());
            }
            body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nDATA");
            let head = parse_head(&body, "XyZ").unwrap().unwrap();
            prop_assert_eq!(head.fields.len(), values.len());
            for (index, value) in values.iter().enumerate() {
                prop_assert_eq!(head.field(&format!("f{index}")), Some(value.as_str()));
            }
            prop_assert_eq!(&body[head.data_start..], b"DATA");
        }
    }
}
