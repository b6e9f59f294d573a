//! Golden vectors: fixed key and salts, so any change to format v1 fails here.
//!
//! The files in `tests/data/format/` were written once by this test with
//! `S3KMS_WRITE_GOLDEN=1 cargo test golden`; they must never be regenerated for v1. The
//! test re-encrypts and compares byte for byte, and decrypts the committed bytes.

use std::path::PathBuf;

use super::*;
use crate::format::{
    ChecksumAlgorithm, ClientChecksum, HEADER_LEN, Manifest, ManifestPlacement, PartEntry, StreamHeader,
};

fn salt(first: u8) -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    for (index, byte) in salt.iter_mut().enumerate() {
        *byte = first.wrapping_add(index as u8);
    }
    salt
}

fn crc64(data: &[u8]) -> u64 {
    let mut digest = crc64fast_nvme::Digest::new();
    digest.write(data);
    digest.sum64()
}

fn golden_stream(kind: StreamKind, data: &[u8], salt: [u8; SALT_LEN], checksum: Option<ClientChecksum>) -> Vec<u8> {
    let mut encryptor = StreamEncryptor::with_salt(&test_key(), kind, data.len() as u64, checksum, salt).unwrap();
    let mut out = encryptor.header().to_vec();
    out.extend(encryptor.push(data).unwrap().concat());
    out.extend_from_slice(&encryptor.finish(None).unwrap());
    out
}

fn check_against_file(name: &str, bytes: &[u8]) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/format")
        .join(name);
    if std::env::var_os("S3KMS_WRITE_GOLDEN").is_some() && !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_else(|_| panic!("golden vector {name} is missing"));
    assert!(
        committed == bytes,
        "format v1 changed: {name} no longer matches its golden vector"
    );
    committed
}

const SMALL: &[u8] = b"s3kms golden vector\n";

/// File name, kind, plaintext, client checksum, first salt byte.
type StreamVector<'a> = (&'a str, StreamKind, &'a [u8], Option<ClientChecksum>, u8);

#[test]
fn stream_vectors() {
    let long = plaintext(65_537, 0x601d);
    let crc_checksum = ClientChecksum::new(ChecksumAlgorithm::Crc64Nvme, &crc64(SMALL).to_be_bytes()).unwrap();
    let vectors: [StreamVector; 3] = [
        ("stream_empty.bin", StreamKind::SingleObject, b"", None, 0xa0),
        (
            "stream_small.bin",
            StreamKind::SingleObject,
            SMALL,
            Some(crc_checksum),
            0xb0,
        ),
        ("part3_65537.bin", StreamKind::MultipartPart(3), &long, None, 0xc0),
    ];
    for (name, kind, data, checksum, salt_start) in vectors {
        let committed = check_against_file(name, &golden_stream(kind, data, salt(salt_start), checksum));
        let outcome = decrypt(kind, None, &committed, &mut Xorshift(5));
        assert!(outcome.released == data);
        let trailer = outcome.result.unwrap().unwrap();
        assert_eq!((trailer.crc64, trailer.client_checksum), (crc64(data), checksum));
    }
}

/// The empty stream in full, and the header of the small one, spelled out here as well so that
/// regenerating the files cannot hide a change.
#[test]
fn stream_vectors_spelled_out() {
    let empty = golden_stream(StreamKind::SingleObject, b"", salt(0xa0), None);
    assert_eq!(hex::encode(&empty), EMPTY_STREAM_HEX);
    let small = golden_stream(StreamKind::SingleObject, SMALL, salt(0xb0), None);
    assert_eq!(
        hex::encode(&small[..HEADER_LEN]),
        "53334b4d01011001000000000000000000000014b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c700000000"
    );
    let header = StreamHeader::parse(&small[..HEADER_LEN]).unwrap();
    assert_eq!(
        (header.kind, header.plaintext_len),
        (StreamKind::SingleObject, SMALL.len() as u64)
    );
}

const EMPTY_STREAM_HEX: &str = concat!(
    "53334b4d01011001000000000000000000000000a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b700000000",
    "27ce5e5c2464bbf5186746a0565bebc2e6a8d3fb2e467e137687adbe51f2c8b14afc65c4e7006b4443c873d321f0849f",
    "fea8372f650a1a54bc217d84b2ff7da5cef0fb89265be99c76b04f4d5fdc6582",
);

#[test]
fn manifest_vectors() {
    let key = test_key();
    let entry = |part_number, plaintext_len, crc64| PartEntry {
        part_number,
        plaintext_len,
        crc64,
    };
    let vectors = [
        (
            "manifest_merged.bin",
            vec![
                entry(1, 5_000_000, 0x1111_2222_3333_4444),
                entry(2, 1, 0x5555_6666_7777_8888),
            ],
            ManifestPlacement::MergedWithLastPart,
            0xd0,
        ),
        (
            "manifest_separate.bin",
            vec![entry(1, 8 << 20, 1), entry(4, 8 << 20, 2), entry(9, 70_000, 3)],
            ManifestPlacement::SeparatePart,
            0xe0,
        ),
    ];
    for (name, parts, placement, salt_start) in vectors {
        let manifest = Manifest::new(parts, placement).unwrap();
        let committed = check_against_file(name, &manifest.seal_with_salt(&key, salt(salt_start)));
        assert_eq!(Manifest::open(&key, &committed), Ok(manifest));
    }
}
