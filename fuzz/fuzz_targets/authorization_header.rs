//! Fuzzes the `Authorization` header parser and, for parsed SigV4 headers, the canonical
//! request built from the header's own signed-header list.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::sigv4::{Authorization, PayloadHash, QueryMode, RequestParts, canonical_request};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(Authorization::V4(auth)) = Authorization::parse(text) else { return };
    let parts = RequestParts {
        method: "GET",
        raw_path: text,
        raw_query: text,
        headers: &[("host", "example.com"), ("x-amz-date", text)],
    };
    let _ = canonical_request(&parts, &auth.signed_headers, &PayloadHash::Unsigned, QueryMode::Header);
    let _ = auth.credential.scope.to_string();
});
