//! KMS errors with AWS's exception names and message texts.
//!
//! Owns: every failure a KMS operation can report, whoever called it (the KMS JSON API or the
//! S3 path). The KMS API writes [`KmsError::name`] as `__type`; the S3 path turns a denial into
//! `403 AccessDenied` and the rest into `400 KMS.<name>`, as AWS S3 does.

/// A failed KMS operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The key, alias or grant does not exist (`Key '<arn>' does not exist`, `Invalid keyId …`).
    #[error("{0}")]
    NotFound(String),
    /// The key is disabled (`<arn> is disabled.`).
    #[error("{0}")]
    Disabled(String),
    /// The key's state forbids the operation (`<arn> is pending deletion.`).
    #[error("{0}")]
    InvalidState(String),
    /// The ciphertext is corrupt, for another context, or not ours (message empty, as AWS).
    #[error("")]
    InvalidCiphertext,
    /// Decrypt named a key other than the ciphertext's.
    #[error("The key ID in the request does not identify a CMK that can perform this operation.")]
    IncorrectKey,
    /// The caller may not do this (AWS's `User: … is not authorized …` texts).
    #[error("{0}")]
    AccessDenied(String),
    /// A request member is missing or out of range.
    #[error("{0}")]
    Validation(String),
    /// The alias already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The alias name is not valid.
    #[error("{0}")]
    InvalidAliasName(String),
    /// The key policy cannot be parsed or would lock the caller out.
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// A quota was reached.
    #[error("{0}")]
    LimitExceeded(String),
    /// A tag is invalid.
    #[error("{0}")]
    Tag(String),
    /// The operation does not apply to this key.
    #[error("{0}")]
    UnsupportedOperation(String),
    /// The request would have succeeded, but `DryRun` was set.
    #[error("The request would have succeeded, but the DryRun option is set.")]
    DryRun,
    /// The grant id is not valid.
    #[error("{0}")]
    InvalidGrantId(String),
    /// The grant token is not valid.
    #[error("{0}")]
    InvalidGrantToken(String),
    /// The pagination marker is not valid.
    #[error("{0}")]
    InvalidMarker(String),
    /// The ARN is not valid.
    #[error("{0}")]
    InvalidArn(String),
    /// A concurrent change conflicted (retry).
    #[error("{0}")]
    Conflict(String),
    /// The `X-Amz-Target` names no KMS operation.
    #[error("")]
    UnknownOperation(String),
    /// The JSON body cannot be read.
    #[error("{0}")]
    Serialization(String),
    /// No credentials on the request.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// The access key id is unknown.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature is wrong, or the request too old or too new.
    #[error("{0}")]
    InvalidSignature(String),
    /// The Authorization header cannot be parsed.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The key store failed (I/O, the upstream bucket); the detail is logged, not sent.
    #[error("The service encountered an internal error. Please try again.")]
    Internal(String),
}

impl KmsError {
    /// AWS's exception name (the JSON `__type`).
    pub fn name(&self) -> &'static str {
        match self {
            KmsError::NotFound(_) => "NotFoundException",
            KmsError::Disabled(_) => "DisabledException",
            KmsError::InvalidState(_) => "KMSInvalidStateException",
            KmsError::InvalidCiphertext => "InvalidCiphertextException",
            KmsError::IncorrectKey => "IncorrectKeyException",
            KmsError::AccessDenied(_) => "AccessDeniedException",
            KmsError::Validation(_) => "ValidationException",
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::InvalidAliasName(_) => "InvalidAliasNameException",
            KmsError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            KmsError::LimitExceeded(_) => "LimitExceededException",
            KmsError::Tag(_) => "TagException",
            KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
            KmsError::DryRun => "DryRunOperationException",
            KmsError::InvalidGrantId(_) => "InvalidGrantIdException",
            KmsError::InvalidGrantToken(_) => "InvalidGrantTokenException",
            KmsError::InvalidMarker(_) => "InvalidMarkerException",
            KmsError::InvalidArn(_) => "InvalidArnException",
            KmsError::Conflict(_) => "ConflictException",
            KmsError::UnknownOperation(_) => "UnknownOperationException",
            KmsError::Serialization(_) => "SerializationException",
            KmsError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            KmsError::UnrecognizedClient => "UnrecognizedClientException",
            KmsError::InvalidSignature(_) => "InvalidSignatureException",
            KmsError::IncompleteSignature(_) => "IncompleteSignatureException",
            KmsError::Internal(_) => "KMSInternalException",
        }
    }

    /// What an operator should read: the logged detail of an internal failure (which record,
    /// what is wrong with it), the client's message otherwise.
    pub fn detail(&self) -> String {
        match self {
            KmsError::Internal(detail) => detail.clone(),
            other => other.to_string(),
        }
    }

    /// Whether the failure is the service's, not the caller's.
    pub fn is_internal(&self) -> bool {
        matches!(self, KmsError::Internal(_))
    }

    /// `<arn> is disabled.`
    pub fn disabled(arn: &str) -> KmsError {
        KmsError::Disabled(format!("{arn} is disabled."))
    }

    /// `<arn> is pending deletion.`
    pub fn pending_deletion(arn: &str) -> KmsError {
        KmsError::InvalidState(format!("{arn} is pending deletion."))
    }

    /// `Key '<arn>' does not exist`
    pub fn key_not_found(arn: &str) -> KmsError {
        KmsError::NotFound(format!("Key '{arn}' does not exist"))
    }

    /// AWS's text for a number outside `min..=max`: `… Member must have value greater than or
    /// equal to <min>` below the range, `… less than or equal to <max>` above it.
    pub fn out_of_range(member: &str, value: i64, min: i64, max: i64) -> KmsError {
        let constraint = if value < min {
            format!("Member must have value greater than or equal to {min}")
        } else {
            format!("Member must have value less than or equal to {max}")
        };
        KmsError::validation(member, Some(&value.to_string()), &constraint)
    }

    /// A key store record that does not parse: names the record and where reading stopped,
    /// never what it holds (serde's own messages quote the values they reject, and a record
    /// holds sealed key material).
    pub fn corrupt_record(path: &str, error: &serde_json::Error) -> KmsError {
        use serde_json::error::Category;
        let problem = match error.classify() {
            Category::Io => "cannot be read",
            Category::Syntax => "is not JSON",
            Category::Data => "is JSON of another shape",
            Category::Eof => "ends early",
        };
        KmsError::Internal(format!(
            "record {path} is corrupt: it {problem} (line {}, column {})",
            error.line(),
            error.column()
        ))
    }

    /// `1 validation error detected: …` with AWS's member path form.
    pub fn validation(member: &str, value: Option<&str>, constraint: &str) -> KmsError {
        let value = match value {
            Some(value) => format!("Value '{value}' at '{member}'"),
            None => format!("Value at '{member}'"),
        };
        KmsError::Validation(format!(
            "1 validation error detected: {value} failed to satisfy constraint: {constraint}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_corrupt_record_is_named_without_quoting_what_it_holds() {
        let sealed = "Cj3KuW6Am5b9ilJIFYr1a1LhNHExhc8y65rsqmpxN3Gc9jX5odtuL5064UFely9DsEc8K2EE";
        let misshapen = format!(r#"{{"key_id": "k", "versions": "{sealed}"}}"#);
        let error = serde_json::from_str::<crate::kms::model::KeyRecord>(&misshapen).unwrap_err();
        let KmsError::Internal(detail) = KmsError::corrupt_record("keys/k.json", &error) else {
            panic!("a corrupt record is an internal error");
        };
        assert!(!detail.contains(sealed), "{detail}");
        assert_eq!(
            detail,
            "record keys/k.json is corrupt: it is JSON of another shape (line 1, column 102)"
        );
        let error = serde_json::from_slice::<crate::kms::model::KeyRecord>(b"{\"key_id\": ").unwrap_err();
        assert!(matches!(
            KmsError::corrupt_record("keys/k.json", &error),
            KmsError::Internal(detail) if detail.ends_with("it ends early (line 1, column 11)")
        ));
    }

    #[test]
    fn out_of_range_names_the_bound_that_was_crossed() {
        assert_eq!(
            KmsError::out_of_range("numberOfBytes", 0, 1, 1024).to_string(),
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value greater than or equal to 1"
        );
        assert_eq!(
            KmsError::out_of_range("numberOfBytes", 1025, 1, 1024).to_string(),
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value less than or equal to 1024"
        );
    }
}
