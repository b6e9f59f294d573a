//! The `x-amz-content-sha256` header: what the client says about the body, as a type.
//!
//! Owns the list of literal values S3 accepts and their spelling in the canonical request.
//! Does not hash bodies (the caller hashes with `sha2` and compares with
//! [`PayloadHash::Sha256`]).

use std::fmt;

/// Why an `x-amz-content-sha256` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PayloadHashError {
    /// Neither 64 lower-case hex digits nor a known literal (S3: `InvalidArgument`).
    #[error("x-amz-content-sha256 is neither a SHA-256 hex digest nor a known literal")]
    Malformed,
    /// A SigV4A (ECDSA) streaming literal, which this proxy does not verify
    /// (S3 answers `NotImplemented` for what it does not support).
    #[error("SigV4A streaming payloads are not supported")]
    UnsupportedEcdsa,
}

/// The payload declaration carried by `x-amz-content-sha256`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadHash {
    /// The SHA-256 of the whole body, which the caller must check.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked with chunk signatures.
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: as above, plus a signed trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned, with a trailer.
    StreamingUnsignedTrailer,
}

const UNSIGNED: &str = "UNSIGNED-PAYLOAD";
const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

impl PayloadHash {
    /// Parses the header value. A digest must be lower-case hex, because the value is
    /// copied verbatim into the canonical request and S3 compares digests in that form.
    pub fn parse(value: &str) -> Result<Self, PayloadHashError> {
        match value {
            UNSIGNED => Ok(Self::Unsigned),
            STREAMING_SIGNED => Ok(Self::StreamingSigned),
            STREAMING_SIGNED_TRAILER => Ok(Self::StreamingSignedTrailer),
            STREAMING_UNSIGNED_TRAILER => Ok(Self::StreamingUnsignedTrailer),
            "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" | "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER" => {
                Err(PayloadHashError::UnsupportedEcdsa)
            }
            _ => Self::parse_digest(value),
        }
    }

    fn parse_digest(value: &str) -> Result<Self, PayloadHashError> {
        let lower_hex = value.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        let mut digest = [0u8; 32];
        if !lower_hex || hex::decode_to_slice(value, &mut digest).is_err() {
            return Err(PayloadHashError::Malformed);
        }
        Ok(Self::Sha256(digest))
    }

    /// The SHA-256 of `body`, as a declaration.
    pub fn of_body(body: &[u8]) -> Self {
        use sha2::Digest;
        Self::Sha256(sha2::Sha256::digest(body).into())
    }

    /// True for the three aws-chunked variants.
    pub fn is_streaming(self) -> bool {
        matches!(
            self,
            Self::StreamingSigned | Self::StreamingSignedTrailer | Self::StreamingUnsignedTrailer
        )
    }
}

impl fmt::Display for PayloadHash {
    /// The spelling used in the header and in the last line of the canonical request.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sha256(digest) => f.write_str(&hex::encode(digest)),
            Self::Unsigned => f.write_str(UNSIGNED),
            Self::StreamingSigned => f.write_str(STREAMING_SIGNED),
            Self::StreamingSignedTrailer => f.write_str(STREAMING_SIGNED_TRAILER),
            Self::StreamingUnsignedTrailer => f.write_str(STREAMING_UNSIGNED_TRAILER),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_round_trip() {
        for text in [
            UNSIGNED,
            STREAMING_SIGNED,
            STREAMING_SIGNED_TRAILER,
            STREAMING_UNSIGNED_TRAILER,
        ] {
            assert_eq!(PayloadHash::parse(text).unwrap().to_string(), text);
        }
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(PayloadHash::parse(empty), Ok(PayloadHash::of_body(b"")));
        assert_eq!(PayloadHash::of_body(b"").to_string(), empty);
    }

    #[test]
    fn rejects_other_values() {
        let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        for text in ["", "unsigned-payload", upper, "e3b0"] {
            assert_eq!(PayloadHash::parse(text), Err(PayloadHashError::Malformed), "{text}");
        }
        assert_eq!(
            PayloadHash::parse("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"),
            Err(PayloadHashError::UnsupportedEcdsa)
        );
    }
}
