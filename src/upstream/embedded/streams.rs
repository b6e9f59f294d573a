//! Moving object bytes without holding them: request bodies into files (hashing as they pass)
//! and files into response bodies, in chunks of [`CHUNK`] bytes.
//!
//! Owns: the MD5 (the ETag) and the client-requested checksums of what was written.
//! Does not: decide what a failed body means for the object (the caller drops the temp file).

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, stream};
use md5::{Digest, Md5};
use s3s::checksum::ChecksumHasher;
use s3s::dto::StreamingBlob;
use s3s::{S3Error, S3Result, s3_error};
use tokio::fs::File;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Size of the pieces read from files.
const CHUNK: usize = 64 * 1024;

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// Number of bytes.
    pub size: u64,
    /// MD5 of the bytes.
    pub md5: [u8; 16],
}

/// Writes a request body (none is an empty one) to `file`, feeding every byte to `checksum`.
pub async fn write_body(
    body: Option<StreamingBlob>,
    file: &mut File,
    checksum: &mut ChecksumHasher,
) -> S3Result<Written> {
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut body = body.map(StreamExt::fuse);
    while let Some(chunk) = match &mut body {
        Some(body) => body.next().await,
        None => None,
    } {
        let chunk = chunk.map_err(|error| s3_error!(IncompleteBody, "the request body failed: {error}"))?;
        md5.update(&chunk);
        checksum.update(&chunk);
        file.write_all(&chunk).await.map_err(S3Error::internal_error)?;
        size += chunk.len() as u64;
    }
    file.flush().await.map_err(S3Error::internal_error)?;
    Ok(Written {
        size,
        md5: md5.finalize().into(),
    })
}

/// Appends all of `source` to `file`; returns how many bytes and their MD5.
pub async fn append_file<R: AsyncRead + Unpin>(source: &mut R, file: &mut File) -> S3Result<Written> {
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let read = source.read(&mut buffer).await.map_err(S3Error::internal_error)?;
        if read == 0 {
            break;
        }
        md5.update(&buffer[..read]);
        file.write_all(&buffer[..read]).await.map_err(S3Error::internal_error)?;
        size += read as u64;
    }
    file.flush().await.map_err(S3Error::internal_error)?;
    Ok(Written {
        size,
        md5: md5.finalize().into(),
    })
}

/// A response body of `length` bytes read from `file` at its current position.
pub fn file_body(file: File, length: u64) -> StreamingBlob {
    StreamingBlob::wrap(read_chunks(file.take(length)))
}

/// A reader as a stream of chunks.
pub fn read_chunks<R>(reader: R) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static
where
    R: AsyncRead + Unpin + Send + Sync + 'static,
{
    stream::try_unfold(reader, |mut reader| async move {
        let mut buffer = BytesMut::zeroed(CHUNK);
        let read = reader.read(&mut buffer).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.truncate(read);
        Ok(Some((buffer.freeze(), reader)))
    })
}

/// The hex MD5 ETag value of bytes with this MD5.
pub fn etag_of(md5: &[u8; 16]) -> String {
    hex::encode(md5)
}

/// The ETag value S3 gives an object assembled from parts with these MD5s.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut md5 = Md5::new();
    for part in part_md5s {
        md5.update(part);
    }
    format!("{}-{}", hex::encode(md5.finalize()), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etag_is_the_md5_of_the_part_md5s() {
        // Two parts "a" and "b": md5(md5("a") || md5("b")), as S3 computes it.
        let part = |bytes: &[u8]| -> [u8; 16] { Md5::digest(bytes).into() };
        let etag = multipart_etag(&[part(b"a"), part(b"b")]);
        let mut joined = part(b"a").to_vec();
        joined.extend_from_slice(&part(b"b"));
        assert_eq!(etag, format!("{}-2", hex::encode(Md5::digest(&joined))));
    }

    #[tokio::test]
    async fn files_stream_in_chunks() {
        let data: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
        let chunks: Vec<Bytes> = read_chunks(std::io::Cursor::new(data.clone()))
            .map(|chunk| chunk.expect("read"))
            .collect()
            .await;
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), data);
    }
}
