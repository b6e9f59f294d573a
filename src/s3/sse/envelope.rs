//! The envelope: the reserved user metadata s3kms stores on every object it writes, so that any
//! instance can decrypt it. Frozen, version 1.
//!
//! | Name | Value | When |
//! |---|---|---|
//! | `x-amz-meta-s3kms-v` | `1s` (single stream) or `1m` (multipart): format version and layout | always |
//! | `x-amz-meta-s3kms-a` | `aws:kms` or `AES256`: the algorithm the client sees | always |
//! | `x-amz-meta-s3kms-k` | the KMS key ARN that wrapped the data key | always |
//! | `x-amz-meta-s3kms-w` | base64 (standard, padded) of the KMS ciphertext blob of the data key | always |
//! | `x-amz-meta-s3kms-c` | base64 of the client's context as canonical JSON ([`canonical_json`]) | only if the client sent a context |
//! | `x-amz-meta-s3kms-b` | `1` | only with S3 Bucket Key semantics |
//!
//! Every name under `x-amz-meta-s3kms-` is reserved: stripped from responses
//! ([`strip_reserved`]) and refused from clients ([`refuse_reserved`]). The default context
//! (`aws:s3:arn`) is not stored: it is recomputed from the bucket and key.
//!
//! AWS limits user metadata to 2 KB, counting the UTF-8 bytes of each name without
//! `x-amz-meta-` and of each value; the envelope counts against it ([`check_metadata_budget`]).
//! A typical envelope (75-byte key ARN, 109-byte blob → 148 base64 characters, no client
//! context) takes 260 bytes, leaving 1,788 for the client.
//!
//! Parsing is strict: a v1 reader refuses unknown reserved names, repeated names and any
//! value it would not have written. A change is a new version, never an edit.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::SseAlgorithm;
use super::context::{canonical_json, decode_json};
use crate::kms::blob::EncryptionContext;
use crate::s3::S3Error;

/// Prefix of every reserved name.
pub const RESERVED_PREFIX: &str = "x-amz-meta-s3kms-";
/// Format version and layout.
pub const VERSION: &str = "x-amz-meta-s3kms-v";
/// Algorithm.
pub const ALGORITHM: &str = "x-amz-meta-s3kms-a";
/// KMS key ARN.
pub const KEY_ARN: &str = "x-amz-meta-s3kms-k";
/// Wrapped data key.
pub const WRAPPED_KEY: &str = "x-amz-meta-s3kms-w";
/// Client context.
pub const CLIENT_CONTEXT: &str = "x-amz-meta-s3kms-c";
/// Bucket-key flag.
pub const BUCKET_KEY: &str = "x-amz-meta-s3kms-b";
/// AWS's user-metadata limit in bytes.
pub const METADATA_LIMIT: usize = 2048;
/// Largest wrapped key accepted (KMS ciphertext blobs are at most 6144 bytes).
pub const MAX_WRAPPED_KEY_LEN: usize = 6144;

const USER_METADATA_PREFIX: &str = "x-amz-meta-";

/// How the object is laid out (see `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One stream.
    Single,
    /// Data parts followed by the manifest.
    Multipart,
}

/// What s3kms records about an object's encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Single stream or multipart.
    pub layout: Layout,
    /// The algorithm the client asked for (or the bucket default gave).
    pub algorithm: SseAlgorithm,
    /// The ARN of the KMS key that wrapped the data key.
    pub key_arn: String,
    /// The KMS ciphertext blob of the data key (not secret: only the KMS can open it).
    pub wrapped_key: Vec<u8>,
    /// The client's context pairs; `None` when the client sent no context.
    pub client_context: Option<EncryptionContext>,
    /// Whether S3 Bucket Key semantics apply (context = bucket ARN).
    pub bucket_key: bool,
}

/// Why an object's reserved metadata cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A required name is absent.
    #[error("reserved metadata {0} is missing")]
    Missing(&'static str),
    /// A value this version would not have written, a repeated name or an unknown name.
    #[error("reserved metadata {name} is malformed: {reason}")]
    Malformed {
        /// The header name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A version this build does not read.
    #[error("unsupported envelope version {0:?}")]
    UnsupportedVersion(String),
}

impl Envelope {
    /// The reserved metadata headers, in a fixed order.
    pub fn to_headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        self.pairs()
            .into_iter()
            .filter_map(|(name, value)| Some((HeaderName::from_static(name), HeaderValue::from_str(&value).ok()?)))
            .collect()
    }

    /// Reads the envelope from an upstream object's headers: `Ok(None)` when the object has no
    /// reserved metadata at all (not written by s3kms).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Envelope>, EnvelopeError> {
        let mut fields = Fields::default();
        for (name, value) in headers {
            if is_reserved(name.as_str()) {
                fields.set(name.as_str(), value)?;
            }
        }
        if fields.is_empty() {
            return Ok(None);
        }
        fields.envelope().map(Some)
    }

    /// Bytes the envelope counts against the 2 KB user-metadata limit.
    pub fn metadata_len(&self) -> usize {
        self.pairs()
            .iter()
            .map(|(name, value)| name.len() - USER_METADATA_PREFIX.len() + value.len())
            .sum()
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let layout = match self.layout {
            Layout::Single => "1s",
            Layout::Multipart => "1m",
        };
        let mut pairs = vec![
            (VERSION, layout.to_owned()),
            (ALGORITHM, self.algorithm.as_str().to_owned()),
            (KEY_ARN, self.key_arn.clone()),
            (WRAPPED_KEY, STANDARD.encode(&self.wrapped_key)),
        ];
        if let Some(context) = &self.client_context {
            pairs.push((CLIENT_CONTEXT, STANDARD.encode(canonical_json(context))));
        }
        if self.bucket_key {
            pairs.push((BUCKET_KEY, "1".to_owned()));
        }
        pairs
    }
}

/// Removes every reserved name (for responses to clients).
pub fn strip_reserved(headers: &mut HeaderMap) {
    let reserved: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_reserved(name.as_str()))
        .cloned()
        .collect();
    for name in reserved {
        headers.remove(name);
    }
}

/// Refuses a client request that sets any reserved name (inferred: `400 InvalidArgument`).
pub fn refuse_reserved(headers: &HeaderMap) -> Result<(), S3Error> {
    match headers.iter().find(|(name, _)| is_reserved(name.as_str())) {
        None => Ok(()),
        Some((name, value)) => Err(S3Error::InvalidArgument {
            message: "User metadata names beginning with s3kms- are reserved by s3kms".to_owned(),
            name: name.as_str().to_owned(),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        }),
    }
}

/// Refuses a write whose client metadata plus the envelope exceed AWS's 2 KB limit, with AWS's
/// `400 MetadataTooLarge`. Reserved names among `client_headers` are not counted (they are
/// refused by [`refuse_reserved`]).
pub fn check_metadata_budget(client_headers: &HeaderMap, envelope: &Envelope) -> Result<(), S3Error> {
    let size = client_metadata_len(client_headers) + envelope.metadata_len();
    if size > METADATA_LIMIT {
        return Err(S3Error::MetadataTooLarge {
            size,
            max_size_allowed: METADATA_LIMIT,
        });
    }
    Ok(())
}

/// Bytes of the client's own user metadata as AWS counts them.
pub fn client_metadata_len(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str();
            let short = name.strip_prefix(USER_METADATA_PREFIX)?;
            (!is_reserved(name)).then_some(short.len() + value.len())
        })
        .sum()
}

fn is_reserved(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
}

/// The reserved values found, before they are checked together.
#[derive(Default)]
struct Fields<'a> {
    version: Option<&'a HeaderValue>,
    algorithm: Option<&'a HeaderValue>,
    key_arn: Option<&'a HeaderValue>,
    wrapped_key: Option<&'a HeaderValue>,
    client_context: Option<&'a HeaderValue>,
    bucket_key: Option<&'a HeaderValue>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, name: &str, value: &'a HeaderValue) -> Result<(), EnvelopeError> {
        let slot = match name {
            VERSION => &mut self.version,
            ALGORITHM => &mut self.algorithm,
            KEY_ARN => &mut self.key_arn,
            WRAPPED_KEY => &mut self.wrapped_key,
            CLIENT_CONTEXT => &mut self.client_context,
            BUCKET_KEY => &mut self.bucket_key,
            _ => return Err(malformed(name, "unknown reserved name")),
        };
        if slot.replace(value).is_some() {
            return Err(malformed(name, "repeated"));
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        [
            self.version,
            self.algorithm,
            self.key_arn,
            self.wrapped_key,
            self.client_context,
            self.bucket_key,
        ]
        .iter()
        .all(Option::is_none)
    }

    fn envelope(self) -> Result<Envelope, EnvelopeError> {
        let version = self.version.ok_or(EnvelopeError::Missing(VERSION))?;
        let layout = match version.as_bytes() {
            b"1s" => Layout::Single,
            b"1m" => Layout::Multipart,
            other => {
                return Err(EnvelopeError::UnsupportedVersion(
                    String::from_utf8_lossy(other).into_owned(),
                ));
            }
        };
        let algorithm = text(ALGORITHM, self.algorithm)?;
        let algorithm = SseAlgorithm::parse(algorithm).ok_or_else(|| malformed(ALGORITHM, "unknown algorithm"))?;
        let key_arn = text(KEY_ARN, self.key_arn)?;
        if !key_arn.starts_with("arn:") {
            return Err(malformed(KEY_ARN, "not an ARN"));
        }
        let wrapped_key = STANDARD
            .decode(text(WRAPPED_KEY, self.wrapped_key)?)
            .map_err(|_| malformed(WRAPPED_KEY, "not base64"))?;
        if wrapped_key.is_empty() || wrapped_key.len() > MAX_WRAPPED_KEY_LEN {
            return Err(malformed(WRAPPED_KEY, "length out of range"));
        }
        let client_context = self.client_context.map(decode_context).transpose()?;
        let bucket_key = match self.bucket_key.map(HeaderValue::as_bytes) {
            None => false,
            Some(b"1") => true,
            Some(_) => return Err(malformed(BUCKET_KEY, "not 1")),
        };
        Ok(Envelope {
            layout,
            algorithm,
            key_arn: key_arn.to_owned(),
            wrapped_key,
            client_context,
            bucket_key,
        })
    }
}

fn text<'a>(name: &'static str, value: Option<&'a HeaderValue>) -> Result<&'a str, EnvelopeError> {
    value
        .ok_or(EnvelopeError::Missing(name))?
        .to_str()
        .map_err(|_| malformed(name, "not ASCII"))
}

fn decode_context(value: &HeaderValue) -> Result<EncryptionContext, EnvelopeError> {
    let json = STANDARD
        .decode(value.as_bytes())
        .map_err(|_| malformed(CLIENT_CONTEXT, "not base64"))?;
    let context = decode_json(&json).ok_or_else(|| malformed(CLIENT_CONTEXT, "not a JSON map of strings"))?;
    if canonical_json(&context).as_bytes() != json.as_slice() {
        return Err(malformed(CLIENT_CONTEXT, "not canonical JSON"));
    }
    Ok(context)
}

fn malformed(name: &str, reason: &'static str) -> EnvelopeError {
    EnvelopeError::Malformed {
        name: name.to_owned(),
        reason,
    }
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
