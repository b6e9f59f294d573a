//! Why a policy document was refused.
//!
//! Owns: the [`PolicyError`] enum. Each message is written to be returned verbatim in a
//! `MalformedPolicyDocumentException` (or, for [`PolicyError::TooLarge`], a
//! `LimitExceededException`, S3 `MalformedPolicy` for bucket policies). Mapping to the wire is the
//! API layers' job.

/// A policy document that cannot be accepted, with a reason a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Longer than [`super::MAX_POLICY_CHARS`] characters; AWS answers `LimitExceededException`.
    #[error("The policy is {length} characters long, more than the limit of {limit}.")]
    TooLarge {
        /// The length of the document in characters.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// A character outside tab, LF, CR and U+0020..=U+00FF.
    #[error(
        "The policy contains the character U+{code:04X} at offset {offset}; only printable ASCII, \
         Latin-1 Supplement, tab, line feed and carriage return are allowed."
    )]
    InvalidCharacter {
        /// The code point refused.
        code: u32,
        /// Its byte offset in the document.
        offset: usize,
    },
    /// Not well-formed JSON.
    #[error("The policy is not valid JSON: {0}")]
    Syntax(String),
    /// The `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("The policy version {0:?} is not supported; use \"2012-10-17\".")]
    UnsupportedVersion(String),
    /// The document has no statement.
    #[error("The policy must contain at least one Statement.")]
    MissingStatement,
    /// An element name the grammar does not know (element names are case-sensitive).
    #[error("The policy contains an unsupported element: {0}.")]
    UnknownElement(String),
    /// An element holds the wrong JSON type.
    #[error("The policy element {element} must be {expected}.")]
    WrongType {
        /// The element, e.g. `Statement`, `Action`, `Condition.StringEquals`.
        element: String,
        /// What it must be, in words.
        expected: &'static str,
    },
    /// A statement has no `Effect`.
    #[error("Every policy statement must have an Effect.")]
    MissingEffect,
    /// `Effect` is neither `Allow` nor `Deny`.
    #[error("The policy statement Effect {0:?} is invalid; use \"Allow\" or \"Deny\".")]
    InvalidEffect(String),
    /// Two mutually exclusive elements in one statement (`Action` and `NotAction`, …).
    #[error("A policy statement cannot contain both {0} and {1}.")]
    ConflictingElements(&'static str, &'static str),
    /// A resource policy statement without `Principal` or `NotPrincipal`.
    #[error("Every policy statement must have a Principal or NotPrincipal.")]
    MissingPrincipal,
    /// An identity policy statement with `Principal` or `NotPrincipal` (the principal is implied).
    #[error("An identity-based policy statement cannot contain a Principal or NotPrincipal.")]
    PrincipalNotAllowed,
    /// A principal string that is empty, of an unknown type, or unknown to the caller.
    #[error("Policy contains a statement with one or more invalid principals.")]
    InvalidPrincipal(String),
    /// A condition operator IAM does not define.
    #[error("The policy uses an unsupported condition operator: {0}.")]
    UnknownConditionOperator(String),
    /// `ForAllValues` on the single-valued `kms:EncryptionContext:<key>` (AWS text, verbatim).
    #[error(
        "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set operator with a \
         single-valued condition key matches requests without the specified encryption context \
         or with an unspecified encryption context. To fix, remove ForAllValues."
    )]
    OverlyPermissiveCondition,
}
