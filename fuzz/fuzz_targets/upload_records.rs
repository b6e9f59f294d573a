//! Fuzzes what s3kms reads about multipart uploads in progress. Upload ids are the upstream's and
//! opaque to s3kms (only hashed into record names), so what is parsed is, by the first input byte:
//! - 0: an upload record (`uploads/<id>.json` in the key store) and the envelope it gives the
//!   completed object;
//! - 1: a part record (`uploads/<id>/part-NNNNN.json`);
//! - 2: the upstream's CreateMultipartUpload answer, which s3kms takes the upload id from, read
//!   by the XML reader every S3 document goes through.
//!
//! Checks: no panic; an envelope read from an upload record is the one a new record made from it
//! gives back; a part record round-trips through its JSON; a parsed document's leaves are among
//! its elements, within the reader's depth and size limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::s3::multipart::records::{PartRecord, UploadRecord};
use s3kms::xml::{Document, MAX_DEPTH, MAX_LEAVES};

fuzz_target!(|data: &[u8]| run(data));

fn run(data: &[u8]) {
    let [mode, body @ ..] = data else { return };
    match mode % 3 {
        0 => {
            let Ok(record) = serde_json::from_slice::<UploadRecord>(body) else {
                return;
            };
            let Ok(envelope) = record.envelope() else { return };
            let again = UploadRecord::new(&record.upload_id, &record.bucket, &record.key, &envelope);
            assert_eq!(again.envelope().ok(), Some(envelope));
        }
        1 => {
            let Ok(part) = serde_json::from_slice::<PartRecord>(body) else {
                return;
            };
            let stored = serde_json::to_vec(&part).expect("a part record serializes");
            assert_eq!(serde_json::from_slice::<PartRecord>(&stored).ok(), Some(part));
        }
        _ => {
            let Ok(document) = Document::parse(body) else { return };
            let _ = document.one("UploadId");
            assert!(document.elements.len() <= MAX_LEAVES && document.leaves.len() <= document.elements.len());
            for element in &document.elements {
                assert!(element.split('/').count() < MAX_DEPTH);
            }
            let mut elements = document.elements.iter();
            for (path, _) in &document.leaves {
                assert!(
                    elements.any(|element| element == path),
                    "leaf {path} is not an element in order"
                );
            }
        }
    }
}
