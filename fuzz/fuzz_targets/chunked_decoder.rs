//! Fuzzes the aws-chunked decoder in every mode. The first input byte picks the mode, the
//! second where the body is split in two pieces; the rest is the body. Checks that the
//! decoder never claims more input than it was given and never releases more than the
//! declared length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use s3kms::sigv4::{
    AmzDate, ChecksumAlgorithm, ChunkSigning, ChunkedDecoder, ChunkedEvent, ChunkedMode,
    CredentialScope, SecretKey, Signature, SigningKey,
};

const DECLARED_LENGTH: u64 = 1024;

fn signing() -> Option<ChunkSigning> {
    let scope = CredentialScope { date: "20130524".into(), region: "us-east-1".into(), service: "s3".into() };
    let key = SigningKey::for_scope(&SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), &scope);
    let seed = Signature::from_hex("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")?;
    Some(ChunkSigning { key, amz_date: AmzDate::parse("20130524T000000Z").ok()?, scope, seed })
}

fn mode(selector: u8) -> Option<ChunkedMode> {
    let trailer = [None, Some(ChecksumAlgorithm::Crc32), Some(ChecksumAlgorithm::Crc64Nvme)][usize::from(selector / 3 % 3)];
    Some(match selector % 3 {
        0 => ChunkedMode::Signed(signing()?),
        1 => ChunkedMode::SignedWithTrailer(signing()?, trailer),
        _ => ChunkedMode::UnsignedWithTrailer(trailer),
    })
}

fuzz_target!(|data: &[u8]| {
    let [selector, split, body @ ..] = data else { return };
    let Some(mode) = mode(*selector) else { return };
    let split = usize::from(*split).min(body.len());
    let mut decoder = ChunkedDecoder::new(mode, DECLARED_LENGTH).with_max_chunk_size(512);
    let mut data_bytes = 0u64;
    for piece in [&body[..split], &body[split..]] {
        let mut rest = piece;
        loop {
            let Ok(step) = decoder.decode(rest) else { return };
            assert!(step.consumed <= rest.len());
            rest = &rest[step.consumed..];
            match step.event {
                ChunkedEvent::NeedMore => break,
                ChunkedEvent::Data(bytes) => data_bytes += bytes.len() as u64,
                ChunkedEvent::ChunkVerified | ChunkedEvent::End(_) => {}
            }
            assert!(data_bytes <= DECLARED_LENGTH);
        }
    }
    let _ = decoder.finish();
});
