//! Which encryption a new object gets, and its data key.
//!
//! Owns: combining a write's SSE headers with the bucket's default encryption (the request
//! wins, spec §2.3), getting a fresh data key for a write and unwrapping an object's data key
//! for a read, and translating KMS failures into the S3 errors AWS returns (spec §3.3–3.4).
//!
//! SSE-KMS data keys come from the KMS **as the requesting user**, with `kms:ViaService` = S3:
//! writes need `kms:GenerateDataKey`, reads `kms:Decrypt`, each checked and audited per request.
//! SSE-S3 data keys are wrapped under the s3kms-managed key and need only the S3 permission,
//! as on AWS. Either way the wrap is bound to the object's encryption context (`aws:s3:arn`
//! plus the client's pairs), so metadata moved onto another object does not open.
//!
//! Does not: touch object bytes (`format`), or parse headers (`sse::request`).

use http::HeaderValue;
use zeroize::Zeroize;

use super::S3Error;
use super::sse::{Applied, Envelope, Layout, RequestedEncryption, SseAlgorithm, effective_context};
use crate::buckets::{DefaultAlgorithm, DefaultEncryption};
use crate::crypto::Key256;
use crate::kms::blob::EncryptionContext;
use crate::kms::shapes::{DecryptRequest, GenerateDataKeyRequest};
use crate::kms::{Call, Caller, Kms, KmsError};

/// The key AWS uses when SSE-KMS names none.
pub const AWS_MANAGED_KEY: &str = "alias/aws/s3";
/// What the envelope records as the key of an SSE-S3 object (never sent to clients).
pub const S3_MANAGED_KEY_ARN: &str = "arn:s3kms:sse-s3:::managed-key/v1";

/// The encryption a write applies, after the bucket default.
#[derive(Debug, Clone)]
pub struct ObjectEncryption {
    /// SSE-S3 or SSE-KMS.
    pub algorithm: SseAlgorithm,
    /// For SSE-KMS: the key as named by the request or the bucket default (any form);
    /// `alias/aws/s3` when neither names one.
    pub key_id: String,
    /// The client's context pairs, when it sent a context header.
    pub client_context: Option<EncryptionContext>,
    /// The context header as sent, echoed on PUT, copy and CreateMultipartUpload.
    pub context_echo: Option<HeaderValue>,
    /// S3 Bucket Key semantics (SSE-KMS only): the data key is bound to the bucket ARN.
    pub bucket_key: bool,
    /// True when the request named no algorithm and the bucket default chose it.
    pub from_bucket_default: bool,
}

impl ObjectEncryption {
    /// The request's SSE headers over the bucket's default.
    pub fn for_write(requested: Option<RequestedEncryption>, default: &DefaultEncryption) -> ObjectEncryption {
        let requested = requested.unwrap_or(RequestedEncryption {
            algorithm: None,
            key_id: None,
            context: EncryptionContext::new(),
            context_header: None,
            bucket_key_enabled: None,
        });
        let default_key = match &default.algorithm {
            DefaultAlgorithm::AwsKms(key) => key.clone(),
            DefaultAlgorithm::Aes256 => None,
        };
        let (algorithm, from_bucket_default) = match requested.algorithm {
            Some(algorithm) => (algorithm, false),
            None => match default.algorithm {
                DefaultAlgorithm::Aes256 => (SseAlgorithm::Aes256, true),
                DefaultAlgorithm::AwsKms(_) => (SseAlgorithm::AwsKms, true),
            },
        };
        let key_id = requested
            .key_id
            .or(default_key)
            .unwrap_or_else(|| AWS_MANAGED_KEY.to_owned());
        let bucket_key =
            algorithm == SseAlgorithm::AwsKms && requested.bucket_key_enabled.unwrap_or(default.bucket_key_enabled);
        ObjectEncryption {
            algorithm,
            key_id,
            client_context: requested.context_header.is_some().then_some(requested.context),
            context_echo: requested.context_header,
            bucket_key,
            from_bucket_default,
        }
    }

    /// The context the data key of `bucket/key` is bound to.
    pub fn context(&self, bucket: &str, key: &str) -> Result<EncryptionContext, S3Error> {
        let client = self.client_context.clone().unwrap_or_default();
        effective_context(bucket, key, &client, self.bucket_key)
    }

    /// The key ARN for policy conditions (`s3:x-amz-server-side-encryption-aws-kms-key-id`):
    /// `None` for SSE-S3, or when the key cannot be resolved (the write then fails with KMS's
    /// error when it asks for the data key).
    pub async fn policy_key_arn(&self, kms: &Kms) -> Option<String> {
        match self.algorithm {
            SseAlgorithm::Aes256 => None,
            SseAlgorithm::AwsKms => kms.key_arn(&self.key_id).await.ok(),
        }
    }
}

/// A data key in the clear, with the envelope that lets any instance recover it.
pub struct DataKey {
    /// The 256-bit data key.
    pub key: Key256,
    /// The reserved metadata for the object.
    pub envelope: Envelope,
}

impl DataKey {
    /// The SSE headers of responses about this object or upload.
    pub fn applied(&self, echo: Option<HeaderValue>) -> Applied {
        applied(&self.envelope, echo)
    }
}

/// The encryption an envelope records, for response headers.
pub fn applied(envelope: &Envelope, echo: Option<HeaderValue>) -> Applied {
    Applied {
        algorithm: envelope.algorithm,
        key_arn: envelope.key_arn.clone(),
        client_context_echo: echo,
        bucket_key_enabled: envelope.bucket_key,
    }
}

/// A fresh data key for a write of `bucket/key`.
pub async fn generate(
    kms: &Kms,
    caller: &Caller,
    encryption: &ObjectEncryption,
    bucket: &str,
    key: &str,
    layout: Layout,
) -> Result<DataKey, S3Error> {
    let context = encryption.context(bucket, key)?;
    let (plaintext, wrapped_key, key_arn) = match encryption.algorithm {
        SseAlgorithm::Aes256 => {
            let data_key = Key256::generate();
            let wrapped = kms.seal_s3_managed(&context, data_key.expose());
            return Ok(DataKey {
                key: data_key,
                envelope: envelope(encryption, layout, S3_MANAGED_KEY_ARN.to_owned(), wrapped),
            });
        }
        SseAlgorithm::AwsKms => {
            let request = GenerateDataKeyRequest {
                key_id: encryption.key_id.clone(),
                encryption_context: context,
                number_of_bytes: None,
                key_spec: Some("AES_256".to_owned()),
                grant_tokens: Vec::new(),
                dry_run: false,
            };
            let output = kms
                .call(caller, Call::GenerateDataKey(request))
                .await
                .map_err(kms_error)?;
            let missing = || internal("GenerateDataKey answered without a key");
            (
                output.plaintext.ok_or_else(missing)?,
                output.ciphertext_blob.ok_or_else(missing)?,
                output.key_id.ok_or_else(missing)?,
            )
        }
    };
    Ok(DataKey {
        key: key_from(plaintext)?,
        envelope: envelope(encryption, layout, key_arn, wrapped_key),
    })
}

/// The data key of the object `bucket/key` whose envelope is `envelope`.
pub async fn unwrap(
    kms: &Kms,
    caller: &Caller,
    envelope: &Envelope,
    bucket: &str,
    key: &str,
) -> Result<Key256, S3Error> {
    let client = envelope.client_context.clone().unwrap_or_default();
    let context = effective_context(bucket, key, &client, envelope.bucket_key)?;
    let plaintext = match envelope.algorithm {
        SseAlgorithm::Aes256 => kms.open_s3_managed(&envelope.wrapped_key, &context).map_err(|_| {
            internal(&format!(
                "the data key of {bucket}/{key} does not open (metadata tampered?)"
            ))
        })?,
        SseAlgorithm::AwsKms => {
            let request = DecryptRequest {
                ciphertext_blob: envelope.wrapped_key.clone(),
                encryption_context: context,
                grant_tokens: Vec::new(),
                key_id: None,
                encryption_algorithm: None,
                dry_run: false,
            };
            let output = kms
                .call(caller, Call::Decrypt(request))
                .await
                .map_err(|error| match error {
                    KmsError::InvalidCiphertext => internal(&format!(
                        "the data key of {bucket}/{key} does not open (metadata tampered?)"
                    )),
                    other => kms_error(other),
                })?;
            output
                .plaintext
                .ok_or_else(|| internal("Decrypt answered without plaintext"))?
        }
    };
    key_from(plaintext)
}

/// AWS S3's answer for a KMS failure on the user's behalf: a denial is `403 AccessDenied`
/// with KMS's text, everything else `400 KMS.<exception>` (spec §3.3–3.4).
pub fn kms_error(error: KmsError) -> S3Error {
    let code = match &error {
        KmsError::AccessDenied(message) => {
            return S3Error::AccessDeniedWithMessage {
                message: message.clone(),
            };
        }
        KmsError::Internal(detail) => return internal(detail),
        KmsError::NotFound(_) => "KMS.NotFoundException",
        KmsError::Disabled(_) => "KMS.DisabledException",
        KmsError::InvalidState(_) => "KMS.KMSInvalidStateException",
        KmsError::InvalidCiphertext => "KMS.InvalidCiphertextException",
        KmsError::IncorrectKey => "KMS.IncorrectKeyException",
        KmsError::InvalidArn(_) => "KMS.InvalidArnException",
        KmsError::LimitExceeded(_) => "KMS.LimitExceededException",
        KmsError::Conflict(_) => "KMS.ConflictException",
        _ => "KMS.ValidationException",
    };
    S3Error::Kms {
        code,
        message: error.to_string(),
    }
}

fn envelope(encryption: &ObjectEncryption, layout: Layout, key_arn: String, wrapped_key: Vec<u8>) -> Envelope {
    Envelope {
        layout,
        algorithm: encryption.algorithm,
        key_arn,
        wrapped_key,
        client_context: encryption.client_context.clone(),
        bucket_key: encryption.bucket_key,
    }
}

fn key_from(mut plaintext: Vec<u8>) -> Result<Key256, S3Error> {
    let result = <[u8; 32]>::try_from(plaintext.as_slice())
        .map(Key256::from_bytes)
        .map_err(|_| internal("a data key is not 32 bytes"));
    plaintext.zeroize();
    result
}

fn internal(detail: &str) -> S3Error {
    S3Error::InternalError {
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(algorithm: Option<SseAlgorithm>, key_id: Option<&str>) -> RequestedEncryption {
        RequestedEncryption {
            algorithm,
            key_id: key_id.map(str::to_owned),
            context: EncryptionContext::new(),
            context_header: None,
            bucket_key_enabled: None,
        }
    }

    #[test]
    fn no_header_and_no_default_is_sse_s3() {
        let encryption = ObjectEncryption::for_write(None, &DefaultEncryption::AWS_DEFAULT);
        assert_eq!(encryption.algorithm, SseAlgorithm::Aes256);
        assert!(encryption.from_bucket_default);
        assert!(!encryption.bucket_key);
    }

    #[test]
    fn the_request_wins_over_the_bucket_default() {
        let default = DefaultEncryption {
            algorithm: DefaultAlgorithm::AwsKms(Some("alias/bucket".into())),
            bucket_key_enabled: true,
        };
        let sse_s3 = ObjectEncryption::for_write(Some(requested(Some(SseAlgorithm::Aes256), None)), &default);
        assert_eq!(sse_s3.algorithm, SseAlgorithm::Aes256);
        assert!(!sse_s3.bucket_key);
        let kms_default_key = ObjectEncryption::for_write(Some(requested(Some(SseAlgorithm::AwsKms), None)), &default);
        assert_eq!(kms_default_key.key_id, "alias/bucket");
        assert!(kms_default_key.bucket_key);
        let kms_own_key = ObjectEncryption::for_write(
            Some(requested(Some(SseAlgorithm::AwsKms), Some("alias/mine"))),
            &default,
        );
        assert_eq!(kms_own_key.key_id, "alias/mine");
        let by_default = ObjectEncryption::for_write(None, &default);
        assert_eq!(by_default.algorithm, SseAlgorithm::AwsKms);
        assert!(by_default.from_bucket_default);
    }

    #[test]
    fn sse_kms_without_any_key_uses_aws_s3() {
        let encryption = ObjectEncryption::for_write(
            Some(requested(Some(SseAlgorithm::AwsKms), None)),
            &DefaultEncryption::AWS_DEFAULT,
        );
        assert_eq!(encryption.key_id, AWS_MANAGED_KEY);
    }

    #[test]
    fn kms_failures_map_to_aws_s3_errors() {
        let denied = kms_error(KmsError::AccessDenied("User: x is not authorized".into()));
        assert_eq!(denied.code(), "AccessDenied");
        assert_eq!(denied.status(), http::StatusCode::FORBIDDEN);
        assert_eq!(denied.to_string(), "User: x is not authorized");
        let disabled = kms_error(KmsError::disabled("arn:aws:kms:us-east-1:111122223333:key/k"));
        assert_eq!(disabled.code(), "KMS.DisabledException");
        assert_eq!(disabled.status(), http::StatusCode::BAD_REQUEST);
        assert_eq!(
            disabled.to_string(),
            "arn:aws:kms:us-east-1:111122223333:key/k is disabled."
        );
        assert_eq!(
            kms_error(KmsError::pending_deletion("arn")).code(),
            "KMS.KMSInvalidStateException"
        );
        assert_eq!(
            kms_error(KmsError::key_not_found("arn")).code(),
            "KMS.NotFoundException"
        );
    }
}
