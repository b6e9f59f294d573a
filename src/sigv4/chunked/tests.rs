//! Known-answer tests from the AWS S3 API reference (sigv4-streaming, sigv4-streaming-trailers),
//! round trips over random chunkings and input splits, and tamper / truncation checks.

use proptest::prelude::*;

use super::chain::SignatureChain;
use super::*;
use crate::sigv4::amz_date::AmzDate;
use crate::sigv4::authorization::CredentialScope;
use crate::sigv4::signing::{SecretKey, SigningKey};

/// Seed signature of the AWS "PUT Object, multiple chunks" example.
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
/// Seed signature of the AWS trailing-header example.
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

fn signing(seed: &str) -> ChunkSigning {
    let scope = CredentialScope {
        date: "20130524".into(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let secret = SecretKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    ChunkSigning {
        key: SigningKey::for_scope(&secret, &scope),
        amz_date: AmzDate::parse("20130524T000000Z").unwrap(),
        scope,
        seed: Signature::from_hex(seed).unwrap(),
    }
}

/// Decodes `pieces` in order, releasing data only at `ChunkVerified`.
fn decode_all(decoder: &mut ChunkedDecoder, pieces: &[&[u8]]) -> Result<(Vec<u8>, Option<Trailer>), ChunkedError> {
    let (mut released, mut pending, mut trailer) = (Vec::new(), Vec::new(), None);
    for piece in pieces {
        let mut rest = *piece;
        loop {
            let step = decoder.decode(rest)?;
            rest = &rest[step.consumed..];
            match step.event {
                ChunkedEvent::NeedMore => break,
                ChunkedEvent::Data(data) => pending.extend_from_slice(data),
                ChunkedEvent::ChunkVerified => released.append(&mut pending),
                ChunkedEvent::End(found) => trailer = found,
            }
        }
    }
    decoder.finish()?;
    assert!(pending.is_empty(), "unverified data left at the end");
    Ok((released, trailer))
}

/// Encodes `data` in chunks of the given sizes (the last chunk takes the rest), signing with
/// `signing` when given, then the final chunk and the trailer section (with a trailer
/// signature when signed and `signed_trailer`).
fn encode(
    data: &[u8],
    sizes: &[usize],
    signing: Option<ChunkSigning>,
    trailer: Option<ChecksumAlgorithm>,
    signed_trailer: bool,
) -> Vec<u8> {
    let mut chain = signing.map(SignatureChain::new);
    let mut chunks: Vec<&[u8]> = Vec::new();
    let mut rest = data;
    for &size in sizes {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        rest = tail;
    }
    if !rest.is_empty() {
        chunks.push(rest);
    }
    chunks.push(&[]);
    let mut body = Vec::new();
    for chunk in chunks {
        body.extend_from_slice(format!("{:x}", chunk.len()).as_bytes());
        if let Some(chain) = &mut chain {
            let digest: [u8; 32] = Sha256::digest(chunk).into();
            let signature = chain.chunk_signature(&digest);
            assert!(chain.verify_chunk(&digest, &signature));
            body.extend_from_slice(format!(";chunk-signature={signature}").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if !chunk.is_empty() {
            body.extend_from_slice(chunk);
            body.extend_from_slice(b"\r\n");
        }
    }
    let mut canonical = String::new();
    if let Some(algorithm) = trailer {
        let mut running = algorithm.hasher();
        running.update(data);
        canonical = format!("{}:{}\n", algorithm.trailer_name(), STANDARD.encode(running.finish()));
        body.extend_from_slice(canonical.replace('\n', "\r\n").as_bytes());
    }
    if let Some(chain) = chain.as_ref().filter(|_| signed_trailer) {
        body.extend_from_slice(
            format!("x-amz-trailer-signature:{}\r\n", chain.trailer_signature(&canonical)).as_bytes(),
        );
    }
    body.extend_from_slice(b"\r\n");
    body
}

fn aws_signed_body() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n",
    );
    body.extend_from_slice(&[b'a'; 65_536]);
    body.extend_from_slice(
        b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n",
    );
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(
        b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n",
    );
    body
}

fn aws_trailer_body() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(
        b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n",
    );
    body.extend_from_slice(&[b'a'; 65_536]);
    body.extend_from_slice(
        b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n",
    );
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(
        b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n",
    );
    body.extend_from_slice(b"x-amz-checksum-crc32c:sOO8/Q==\r\n");
    body.extend_from_slice(
        b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n",
    );
    body
}

#[test]
fn aws_multiple_chunks_example() {
    let body = aws_signed_body();
    assert_eq!(body.len(), 66_824, "Content-Length of the AWS example");
    let mut decoder = ChunkedDecoder::new(ChunkedMode::Signed(signing(SEED)), 66_560);
    let (data, trailer) = decode_all(&mut decoder, &[&body]).unwrap();
    assert_eq!((data, trailer), (vec![b'a'; 66_560], None));
    let encoded = encode(&[b'a'; 66_560], &[65_536], Some(signing(SEED)), None, false);
    assert_eq!(encoded, body, "our encoder reproduces AWS's chunk signatures");
}

#[test]
fn aws_trailer_example() {
    let body = aws_trailer_body();
    assert_eq!(body.len(), 66_946);
    let mode = ChunkedMode::SignedWithTrailer(signing(TRAILER_SEED), Some(ChecksumAlgorithm::Crc32c));
    let mut decoder = ChunkedDecoder::new(mode, 66_560);
    let (data, trailer) = decode_all(&mut decoder, &[&body]).unwrap();
    assert_eq!(data, vec![b'a'; 66_560]);
    let expected = Trailer {
        name: "x-amz-checksum-crc32c".into(),
        value: "sOO8/Q==".into(),
    };
    assert_eq!(trailer, Some(expected));
    let encoded = encode(
        &[b'a'; 66_560],
        &[65_536],
        Some(signing(TRAILER_SEED)),
        Some(ChecksumAlgorithm::Crc32c),
        true,
    );
    assert_eq!(encoded, body, "our encoder reproduces AWS's trailer signature");
}

#[test]
fn a_wrong_trailer_signature_is_a_signature_mismatch() {
    let body = aws_trailer_body();
    let tampered = String::from_utf8_lossy(&body).replace("d81f82fc", "d81f82fd");
    let mode = ChunkedMode::SignedWithTrailer(signing(TRAILER_SEED), Some(ChecksumAlgorithm::Crc32c));
    let result = decode_all(&mut ChunkedDecoder::new(mode, 66_560), &[tampered.as_bytes()]);
    assert_eq!(result, Err(ChunkedError::SignatureMismatch));
}

#[test]
fn unsigned_trailer_checks_checksum_length_and_framing() {
    let data = b"hello, aws-chunked";
    let body = encode(data, &[5], None, Some(ChecksumAlgorithm::Crc32), false);
    let decoder = || ChunkedDecoder::new(ChunkedMode::UnsignedWithTrailer(Some(ChecksumAlgorithm::Crc32)), 18);
    assert_eq!(decode_all(&mut decoder(), &[&body]).unwrap().0, data);
    let wrong_crc = encode(b"hello, aws-chunkeD", &[5], None, Some(ChecksumAlgorithm::Crc32), false);
    let mixed = [&body[..body.len() - 20], &wrong_crc[wrong_crc.len() - 20..]].concat();
    assert_eq!(
        decode_all(&mut decoder(), &[&mixed]),
        Err(ChunkedError::ChecksumMismatch(ChecksumAlgorithm::Crc32))
    );
    let no_trailer = encode(data, &[5], None, None, false);
    assert_eq!(
        decode_all(&mut decoder(), &[&no_trailer]),
        Err(ChunkedError::MissingTrailer(ChecksumAlgorithm::Crc32))
    );
    let short = ChunkedDecoder::new(ChunkedMode::UnsignedWithTrailer(None), 17);
    assert_eq!(
        decode_all(&mut { short }, &[&no_trailer]),
        Err(ChunkedError::LengthMismatch)
    );
    let long = ChunkedDecoder::new(ChunkedMode::UnsignedWithTrailer(None), 19);
    assert_eq!(
        decode_all(&mut { long }, &[&no_trailer]),
        Err(ChunkedError::LengthMismatch)
    );
    let extra = [no_trailer.as_slice(), b"x"].concat();
    let mut exact = ChunkedDecoder::new(ChunkedMode::UnsignedWithTrailer(None), 18);
    assert_eq!(decode_all(&mut exact, &[&extra]), Err(ChunkedError::TrailingBytes));
}

#[test]
fn rejects_oversized_chunks_and_errors_are_sticky() {
    let body = encode(&[7u8; 100], &[], None, None, false);
    let mut decoder = ChunkedDecoder::new(ChunkedMode::UnsignedWithTrailer(None), 100).with_max_chunk_size(99);
    assert_eq!(decoder.decode(&body), Err(ChunkedError::ChunkTooLarge));
    assert_eq!(decoder.decode(b""), Err(ChunkedError::ChunkTooLarge));
    assert_eq!(decoder.finish(), Err(ChunkedError::ChunkTooLarge));
}

#[test]
fn signed_mode_refuses_trailers() {
    let body = encode(b"abc", &[], Some(signing(SEED)), Some(ChecksumAlgorithm::Crc32), false);
    let mut decoder = ChunkedDecoder::new(ChunkedMode::Signed(signing(SEED)), 3);
    assert!(matches!(
        decode_all(&mut decoder, &[&body]),
        Err(ChunkedError::Malformed(_))
    ));
}

#[test]
fn every_tampered_byte_of_a_signed_body_is_refused() {
    let data: Vec<u8> = (0..300u16).map(|value| value as u8).collect();
    for trailer in [None, Some(ChecksumAlgorithm::Sha256)] {
        let body = encode(&data, &[100, 150], Some(signing(SEED)), trailer, trailer.is_some());
        for index in 0..body.len() {
            let mut tampered = body.clone();
            tampered[index] ^= 0x01;
            let mode = match trailer {
                None => ChunkedMode::Signed(signing(SEED)),
                Some(_) => ChunkedMode::SignedWithTrailer(signing(SEED), trailer),
            };
            let result = decode_all(&mut ChunkedDecoder::new(mode, 300), &[&tampered]);
            assert!(result.is_err(), "byte {index} ({trailer:?}) tampered but accepted");
        }
    }
}

fn mode_for(kind: u8, trailer: Option<ChecksumAlgorithm>) -> ChunkedMode {
    match kind % 3 {
        0 => ChunkedMode::Signed(signing(SEED)),
        1 => ChunkedMode::SignedWithTrailer(signing(SEED), trailer),
        _ => ChunkedMode::UnsignedWithTrailer(trailer),
    }
}

fn algorithm_strategy() -> impl Strategy<Value = Option<ChecksumAlgorithm>> {
    use ChecksumAlgorithm::*;
    prop::option::of(prop::sample::select(vec![Crc32, Crc32c, Crc64Nvme, Sha1, Sha256]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trips_any_chunking_and_split(
        data in prop::collection::vec(any::<u8>(), 0..2000),
        sizes in prop::collection::vec(1usize..700, 0..6),
        splits in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        kind in any::<u8>(),
        algorithm in algorithm_strategy(),
    ) {
        let trailer = if kind % 3 == 0 { None } else { algorithm };
        let signed = (kind % 3 != 2).then(|| signing(SEED));
        let body = encode(&data, &sizes, signed, trailer, kind % 3 == 1);
        let mut cuts: Vec<usize> = splits.iter().map(|index| index.index(body.len() + 1)).collect();
        cuts.extend([0, body.len()]);
        cuts.sort_unstable();
        let pieces: Vec<&[u8]> = cuts.windows(2).map(|pair| &body[pair[0]..pair[1]]).collect();
        let mut decoder = ChunkedDecoder::new(mode_for(kind, trailer), data.len() as u64);
        let (decoded, _) = decode_all(&mut decoder, &pieces).unwrap();
        prop_assert_eq!(decoded, data);
    }

    #[test]
    fn every_truncation_fails_at_finish(
        data in prop::collection::vec(any::<u8>(), 1..300),
        cut in any::<prop::sample::Index>(),
        kind in any::<u8>(),
    ) {
        let trailer = (kind % 3 != 0).then_some(ChecksumAlgorithm::Crc32c);
        let signed = (kind % 3 != 2).then(|| signing(SEED));
        let body = encode(&data, &[64], signed, trailer, kind % 3 == 1);
        let cut = cut.index(body.len());
        let mut decoder = ChunkedDecoder::new(mode_for(kind, trailer), data.len() as u64);
        prop_assert!(decode_all(&mut decoder, &[&body[..cut]]).is_err());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        input in prop::collection::vec(any::<u8>(), 0..400),
        split in any::<prop::sample::Index>(),
        kind in any::<u8>(),
    ) {
        let (head, tail) = input.split_at(split.index(input.len() + 1));
        let mut decoder = ChunkedDecoder::new(mode_for(kind, Some(ChecksumAlgorithm::Crc32)), 64);
        let _ = decode_all(&mut decoder, &[head, tail]);
    }
}
