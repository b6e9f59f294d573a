//! AWS `UriEncode` and the matching decoders for paths and query strings.
//!
//! Owns the one definition of "unreserved" used everywhere in SigV4: `A-Z a-z 0-9 - . _ ~`
//! stay literal, every other byte becomes `%XX` with upper-case hex. Paths keep `/`;
//! query keys and values encode it.
//!
//! Does not validate UTF-8: decoding yields bytes, and encoding those bytes again is exactly
//! what S3 does when it canonicalises a request (it never double-encodes).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

/// Everything except the unreserved characters.
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// As [`QUERY_SET`], but `/` stays literal (path segments).
const PATH_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// AWS `UriEncode`: percent-encodes every byte outside `A-Za-z0-9-._~` (and outside `/`
/// when `keep_slash` is true), with upper-case hex digits.
pub fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let set = if keep_slash { PATH_SET } else { QUERY_SET };
    percent_encode(bytes, set).to_string()
}

/// Percent-decodes a request path. `+` stays `+`: it only means space in query strings.
/// Malformed escapes (`%zz`, a trailing `%`) are kept literally.
pub(super) fn decode_path(raw: &str) -> Vec<u8> {
    percent_decode(raw.as_bytes()).collect()
}

/// Percent-decodes one query key or value, reading `+` as a space (form encoding, as S3
/// and Go's `url.ParseQuery` do). A literal plus must be sent as `%2B`.
pub(super) fn decode_query_component(raw: &str) -> Vec<u8> {
    let spaced: Vec<u8> = raw.bytes().map(|byte| if byte == b'+' { b' ' } else { byte }).collect();
    percent_decode(&spaced).collect()
}

/// Splits a raw query string into raw `(key, value)` pieces. Empty pieces (`a&&b`) are
/// skipped; a piece without `=` has an empty value.
pub(super) fn split_query(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
}

/// Decodes a raw query string into `(name, value)` pairs, in order, for the presigned-URL
/// parsers. Invalid UTF-8 becomes U+FFFD (such a value can never be a valid credential,
/// date or signature, so the parsers reject it with a precise error).
pub fn decode_query(raw: &str) -> Vec<(String, String)> {
    split_query(raw)
        .map(|(key, value)| (lossy(decode_query_component(key)), lossy(decode_query_component(value))))
        .collect()
}

fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_aws_uri_encode() {
        assert_eq!(uri_encode(b"/test$file.text", true), "/test%24file.text");
        assert_eq!(uri_encode(b"a/b c~d", false), "a%2Fb%20c~d");
        assert_eq!(uri_encode("é".as_bytes(), true), "%C3%A9");
    }

    #[test]
    fn decodes_paths_and_queries() {
        assert_eq!(decode_path("/a%2Fb+c%zz"), b"/a/b+c%zz");
        assert_eq!(decode_query_component("a+b%2Bc"), b"a b+c");
        let pairs = decode_query("X-Amz-Credential=AK%2F2013&&uploads&a=b=c");
        let expected = [("X-Amz-Credential", "AK/2013"), ("uploads", ""), ("a", "b=c")];
        let expected: Vec<_> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
    }
}
