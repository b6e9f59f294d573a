//! Checksums a PutObject request asks for (`x-amz-checksum-*`, `x-amz-sdk-checksum-algorithm`,
//! `Content-MD5`) and their verification once the body is written.
//!
//! Owns: which hashers run while the body streams, and the `BadDigest` answers. A value may
//! arrive as a header or, with aws-chunked uploads, as a trailer read after the body.

use s3s::checksum::ChecksumHasher;
use s3s::dto::{Checksum, ChecksumAlgorithm, PutObjectInput};
use s3s::{S3Result, TrailingHeaders, s3_error};

use super::streams::Written;

/// The hashers to run over a PutObject body.
pub fn hasher_for(input: &PutObjectInput) -> S3Result<ChecksumHasher> {
    let mut hasher = ChecksumHasher::default();
    let algorithm = input.checksum_algorithm.as_ref().map(ChecksumAlgorithm::as_str);
    if input.checksum_crc32.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32) {
        hasher.crc32 = Some(Default::default());
    }
    if input.checksum_crc32c.is_some() || algorithm == Some(ChecksumAlgorithm::CRC32C) {
        hasher.crc32c = Some(Default::default());
    }
    if input.checksum_sha1.is_some() || algorithm == Some(ChecksumAlgorithm::SHA1) {
        hasher.sha1 = Some(Default::default());
    }
    if input.checksum_sha256.is_some() || algorithm == Some(ChecksumAlgorithm::SHA256) {
        hasher.sha256 = Some(Default::default());
    }
    if input.checksum_crc64nvme.is_some() || algorithm == Some(ChecksumAlgorithm::CRC64NVME) {
        hasher.crc64nvme = Some(Default::default());
    }
    let known = [
        ChecksumAlgorithm::CRC32,
        ChecksumAlgorithm::CRC32C,
        ChecksumAlgorithm::SHA1,
        ChecksumAlgorithm::SHA256,
        ChecksumAlgorithm::CRC64NVME,
    ];
    if algorithm.is_some_and(|algorithm| !known.contains(&algorithm)) {
        return Err(s3_error!(InvalidRequest, "unsupported checksum algorithm"));
    }
    Ok(hasher)
}

/// Checks what was computed against what the client sent (headers, then trailers); returns
/// the checksums to store.
pub fn verify(
    input: &PutObjectInput,
    trailers: Option<&TrailingHeaders>,
    computed: Checksum,
    written: &Written,
) -> S3Result<Checksum> {
    if let Some(content_md5) = &input.content_md5 {
        let expected = base64_decode(content_md5).ok_or_else(|| s3_error!(InvalidDigest))?;
        if expected != written.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let trailer = |name: &str| -> Option<String> {
        trailers?
            .read(|headers| {
                headers
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            })
            .flatten()
    };
    let sent = [
        (
            "crc32",
            input.checksum_crc32.clone().or_else(|| trailer("x-amz-checksum-crc32")),
            &computed.checksum_crc32,
        ),
        (
            "crc32c",
            input
                .checksum_crc32c
                .clone()
                .or_else(|| trailer("x-amz-checksum-crc32c")),
            &computed.checksum_crc32c,
        ),
        (
            "sha1",
            input.checksum_sha1.clone().or_else(|| trailer("x-amz-checksum-sha1")),
            &computed.checksum_sha1,
        ),
        (
            "sha256",
            input
                .checksum_sha256
                .clone()
                .or_else(|| trailer("x-amz-checksum-sha256")),
            &computed.checksum_sha256,
        ),
        (
            "crc64nvme",
            input
                .checksum_crc64nvme
                .clone()
                .or_else(|| trailer("x-amz-checksum-crc64nvme")),
            &computed.checksum_crc64nvme,
        ),
    ];
    for (name, sent, computed) in sent {
        if let Some(sent) = sent
            && computed.as_deref() != Some(sent.as_str())
        {
            return Err(s3_error!(
                BadDigest,
                "The {name} checksum you specified did not match the body."
            ));
        }
    }
    Ok(computed)
}

fn base64_decode(value: &str) -> Option<[u8; 16]> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(value).ok()?;
    bytes.try_into().ok()
}
