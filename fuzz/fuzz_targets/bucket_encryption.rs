//! Fuzzes the bucket default-encryption setting, which s3kms answers itself and never forwards.
//! The first input byte picks the parser, the rest is its input:
//! - 0: a PutBucketEncryption body (`ServerSideEncryptionConfiguration` XML);
//! - 1: the configuration's stored record (JSON in the key store, `buckets/<bucket>/encryption.json`).
//!
//! Checks: no panic; a configuration that parsed is what GetBucketEncryption's document parses
//! back to, and what its stored record reads back as; for any record that reads, the
//! GetBucketEncryption document is well-formed XML.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::buckets::DefaultEncryption;
use s3kms::xml::Document;

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let [mode, body @ ..] = data else { return };
    match mode % 2 {
        0 => {
            let Ok(configuration) = DefaultEncryption::parse_xml(body) else {
                return;
            };
            assert_eq!(
                DefaultEncryption::parse_xml(configuration.to_xml().as_bytes()),
                Ok(configuration.clone())
            );
            let record = serde_json::to_vec_pretty(&configuration).expect("a configuration serializes");
            assert_eq!(
                serde_json::from_slice::<DefaultEncryption>(&record).ok(),
                Some(configuration)
            );
        }
        _ => {
            let Ok(configuration) = serde_json::from_slice::<DefaultEncryption>(body) else {
                return;
            };
            assert!(Document::parse(configuration.to_xml().as_bytes()).is_ok());
        }
    }
}
