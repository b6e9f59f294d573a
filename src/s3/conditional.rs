//! Conditional GET and HEAD (`If-Match`, `If-None-Match`, `If-Modified-Since`,
//! `If-Unmodified-Since`), evaluated by s3kms on the object's ETag and Last-Modified.
//!
//! s3kms answers these itself because not every upstream does (s3s-fs ignores them), and
//! because once objects are encrypted only s3kms knows which representation a client sees.
//! The rules are RFC 9110 §13.2.2's, which S3 follows: `If-Match` (or, without it,
//! `If-Unmodified-Since`) failing gives 412; then `If-None-Match` matching (or, without it,
//! `If-Modified-Since` not passed) gives 304.

use http::HeaderMap;

use crate::sigv4::AmzDate;

/// What the preconditions say about a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Serve the object.
    Proceed,
    /// Answer 304 Not Modified.
    NotModified,
    /// Answer 412 Precondition Failed, naming the failing header.
    PreconditionFailed(&'static str),
}

/// Evaluates the request's preconditions against the object's response headers.
pub fn evaluate(request: &HeaderMap, object: &HeaderMap) -> Outcome {
    let etag = header(object, "etag");
    let last_modified = header(object, "last-modified").and_then(|v| AmzDate::parse_rfc1123(v).ok());
    if let Some(condition) = header(request, "if-match") {
        if !etag.is_some_and(|etag| list_matches(condition, etag)) {
            return Outcome::PreconditionFailed("If-Match");
        }
    } else if let (Some(since), Some(modified)) = (date(request, "if-unmodified-since"), last_modified)
        && modified > since
    {
        return Outcome::PreconditionFailed("If-Unmodified-Since");
    }
    if let Some(condition) = header(request, "if-none-match") {
        if etag.is_some_and(|etag| list_matches(condition, etag)) {
            return Outcome::NotModified;
        }
    } else if let (Some(since), Some(modified)) = (date(request, "if-modified-since"), last_modified)
        && modified <= since
    {
        return Outcome::NotModified;
    }
    Outcome::Proceed
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn date(headers: &HeaderMap, name: &str) -> Option<AmzDate> {
    header(headers, name).and_then(|v| AmzDate::parse_rfc1123(v).ok())
}

/// Whether a comma-separated list of entity tags (or `*`) matches `etag` (weak comparison:
/// quotes and `W/` prefixes are ignored, as S3 does).
fn list_matches(list: &str, etag: &str) -> bool {
    let etag = bare(etag);
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || bare(candidate) == etag)
}

fn bare(tag: &str) -> &str {
    tag.trim().trim_start_matches("W/").trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const MODIFIED: &str = "Sat, 28 Nov 2026 22:01:05 GMT";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    fn object() -> HeaderMap {
        headers(&[("etag", "\"abc\""), ("last-modified", MODIFIED)])
    }

    #[test]
    fn etag_conditions() {
        assert_eq!(
            evaluate(&headers(&[("if-match", "\"abc\"")]), &object()),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(&headers(&[("if-match", "\"x\", \"abc\"")]), &object()),
            Outcome::Proceed
        );
        assert_eq!(evaluate(&headers(&[("if-match", "*")]), &object()), Outcome::Proceed);
        assert_eq!(
            evaluate(&headers(&[("if-match", "\"x\"")]), &object()),
            Outcome::PreconditionFailed("If-Match")
        );
        assert_eq!(
            evaluate(&headers(&[("if-none-match", "abc")]), &object()),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&headers(&[("if-none-match", "\"x\"")]), &object()),
            Outcome::Proceed
        );
    }

    #[test]
    fn date_conditions() {
        let before = "Sat, 28 Nov 2026 22:00:00 GMT";
        let after = "Sat, 28 Nov 2026 23:00:00 GMT";
        assert_eq!(
            evaluate(&headers(&[("if-modified-since", after)]), &object()),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&headers(&[("if-modified-since", MODIFIED)]), &object()),
            Outcome::NotModified
        );
        assert_eq!(
            evaluate(&headers(&[("if-modified-since", before)]), &object()),
            Outcome::Proceed
        );
        assert_eq!(
            evaluate(&headers(&[("if-unmodified-since", before)]), &object()),
            Outcome::PreconditionFailed("If-Unmodified-Since")
        );
        assert_eq!(
            evaluate(&headers(&[("if-unmodified-since", after)]), &object()),
            Outcome::Proceed
        );
    }

    /// S3's documented combinations: a passing If-Match overrides a failing
    /// If-Unmodified-Since, and a present If-None-Match makes If-Modified-Since irrelevant.
    #[test]
    fn aws_precedence() {
        let before = "Sat, 28 Nov 2026 22:00:00 GMT";
        let after = "Sat, 28 Nov 2026 23:00:00 GMT";
        let both = headers(&[("if-match", "\"abc\""), ("if-unmodified-since", before)]);
        assert_eq!(evaluate(&both, &object()), Outcome::Proceed);
        let both = headers(&[("if-none-match", "\"x\""), ("if-modified-since", after)]);
        assert_eq!(evaluate(&both, &object()), Outcome::Proceed);
    }
}
