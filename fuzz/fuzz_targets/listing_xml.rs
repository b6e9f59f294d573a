//! Listing rewrite: arbitrary documents never panic, and a rewrite changes only Size digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::s3::listing::rewrite_sizes;

fuzz_target!(|data: &[u8]| {
    if let Ok(rewritten) = rewrite_sizes(data) {
        // Plaintext sizes are never larger than stored sizes, so the document never grows.
        assert!(rewritten.xml.len() <= data.len());
        if rewritten.rewritten == 0 {
            assert_eq!(rewritten.xml, data);
        }
    }
});
