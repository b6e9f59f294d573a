//! Fuzzes query decoding, the SigV4 and SigV2 presigned-URL parsers, and the presigned
//! canonical query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::sigv4::{
    PayloadHash, PresignedV2, PresignedV4, QueryMode, RequestParts, canonical_request, decode_query,
};

fuzz_target!(|data: &[u8]| {
    let Ok(raw_query) = std::str::from_utf8(data) else { return };
    let pairs = decode_query(raw_query);
    let _ = PresignedV2::parse(&pairs);
    let Ok(Some(presigned)) = PresignedV4::parse(&pairs) else { return };
    let _ = presigned.expires_at();
    let parts = RequestParts { method: "GET", raw_path: "/b/k", raw_query, headers: &[("host", "h")] };
    let _ = canonical_request(&parts, &presigned.signed_headers, &PayloadHash::Unsigned, QueryMode::Presigned);
});
