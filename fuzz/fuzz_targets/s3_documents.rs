//! Fuzzes what clients send s3kms in request bodies and headers beyond the signature: the
//! first input byte picks the parser, the rest is its input.
//! - 0: a POST object form head (`multipart/form-data` up to the file);
//! - 1: a POST object policy (base64 JSON), then the check of a fixed form against it;
//! - 2: a DeleteObjects document, then a rewrite of what parsed;
//! - 3: a CompleteMultipartUpload part list;
//! - 4: an `x-amz-server-side-encryption-context` header value;
//! - 5: s3kms's reserved object metadata (the envelope), as upstream headers (one value a line,
//!   in the order version, algorithm, key ARN, wrapped key, client context, bucket key);
//! - 6: an `x-amz-tagging` header value, as the embedded store reads it (s3kms forwards it and
//!   the Tagging XML body unread; the embedded store gets the body already decoded by s3s).
//!
//! Checks: no panic; a form head never points past its input; a Delete document that parsed
//! round-trips; a part list is in ascending order; an envelope that parsed round-trips through
//! the headers s3kms writes; a tag set that parsed has at most 10 tags.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use s3kms::s3::delete_objects::{delete_document, parse_delete};
use s3kms::s3::form::parse_head;
use s3kms::s3::multipart::parse_part_list;
use s3kms::s3::post_policy::PostPolicy;
use s3kms::s3::sse::Envelope;
use s3kms::s3::sse::context::parse_client_context;
use s3kms::upstream::embedded::ObjectTags;

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let [mode, body @ ..] = data else { return };
    match mode % 7 {
        0 => {
            if let Ok(Some(head)) = parse_head(body, "b") {
                assert!(head.data_start <= body.len());
            }
        }
        1 => {
            if let Ok(text) = std::str::from_utf8(body)
                && let Ok(policy) = PostPolicy::parse(text)
            {
                let _ = policy.check(&[("key".to_owned(), "k".to_owned())], "b", 10, 0);
            }
        }
        2 => {
            if let Ok((entries, quiet)) = parse_delete(body) {
                let again = delete_document(&entries.iter().collect::<Vec<_>>(), quiet);
                assert_eq!(parse_delete(again.as_bytes()).ok(), Some((entries, quiet)));
            }
        }
        3 => {
            if let Ok(parts) = parse_part_list(body) {
                assert!(parts.windows(2).all(|pair| pair[0].0 < pair[1].0));
            }
        }
        4 => {
            if let Ok(value) = HeaderValue::from_bytes(body) {
                let _ = parse_client_context(&value);
            }
        }
        5 => {
            let mut headers = HeaderMap::new();
            let names = [
                "x-amz-meta-s3kms-v",
                "x-amz-meta-s3kms-a",
                "x-amz-meta-s3kms-k",
                "x-amz-meta-s3kms-w",
                "x-amz-meta-s3kms-c",
                "x-amz-meta-s3kms-b",
            ];
            for (name, value) in names.iter().zip(body.split(|byte| *byte == b'\n')) {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
            if let Ok(Some(envelope)) = Envelope::from_headers(&headers) {
                let written: HeaderMap = envelope.to_headers().into_iter().collect();
                assert_eq!(Envelope::from_headers(&written), Ok(Some(envelope)));
            }
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body)
                && let Ok(tags) = ObjectTags::from_header(text)
            {
                assert!(tags.len() <= 10);
            }
        }
    }
}
