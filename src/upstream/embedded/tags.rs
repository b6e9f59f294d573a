//! Object tags: the validated set S3 attaches to an object (pure; no I/O).
//!
//! Owns: parsing the two wire forms — the `x-amz-tagging` header (URL-query encoded,
//! `k1=v1&k2=v2`) and the `Tagging` XML body (already decoded by s3s into a `TagSet`) — into
//! one [`ObjectTags`] value, and AWS's limits on it.
//!
//! Invariants of an [`ObjectTags`]: at most 10 tags; keys are 1 to 128 characters, unique, and
//! do not start with `aws:`; values are at most 256 characters. Order is the client's.
//! Does not: check AWS's allowed character set (letters, digits, spaces, `+ - = . _ : / @`);
//! S3 itself accepts more than that list in practice.

use s3s::dto;
use s3s::{S3Error, S3ErrorCode};
use serde::{Deserialize, Serialize};

/// At most this many tags per object.
const MAX_TAGS: usize = 10;
/// Longest tag key, in characters.
const MAX_KEY_CHARS: usize = 128;
/// Longest tag value, in characters.
const MAX_VALUE_CHARS: usize = 256;

/// One tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The tag key.
    pub key: String,
    /// The tag value (may be empty).
    pub value: String,
}

/// A validated tag set (see the module invariants).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ObjectTags(Vec<Tag>);

/// Why a tag set was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The `x-amz-tagging` header is not UTF-8 URL-query encoding.
    #[error("the x-amz-tagging header must be URL-encoded UTF-8 query parameters")]
    Malformed,
    /// More than 10 tags.
    #[error("object tags cannot be greater than {MAX_TAGS}")]
    TooMany,
    /// A key is empty or longer than 128 characters.
    #[error("the TagKey you have provided is invalid")]
    KeyLength,
    /// A key starts with the reserved `aws:` prefix.
    #[error("your TagKey cannot be prefixed with aws:")]
    ReservedKey,
    /// A value is longer than 256 characters.
    #[error("the TagValue you have provided is invalid")]
    ValueLength,
    /// Two tags share a key.
    #[error("cannot provide multiple Tags with the same key")]
    DuplicateKey,
}

impl From<TagError> for S3Error {
    fn from(error: TagError) -> S3Error {
        let code = match error {
            TagError::Malformed => S3ErrorCode::InvalidArgument,
            TagError::TooMany
            | TagError::KeyLength
            | TagError::ReservedKey
            | TagError::ValueLength
            | TagError::DuplicateKey => S3ErrorCode::InvalidTag,
        };
        S3Error::with_message(code, error.to_string())
    }
}

impl ObjectTags {
    /// Parses the `x-amz-tagging` header value (`k1=v1&k2=v2`, `+` for space).
    pub fn from_header(value: &str) -> Result<ObjectTags, TagError> {
        let mut tags = Vec::new();
        for pair in value.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            tags.push(Tag {
                key: decode_query_component(key)?,
                value: decode_query_component(value)?,
            });
        }
        ObjectTags::new(tags)
    }

    /// Validates a `TagSet` from a PutObjectTagging body.
    pub fn from_dto(tag_set: dto::TagSet) -> Result<ObjectTags, TagError> {
        let tags = tag_set
            .into_iter()
            .map(|tag| Tag {
                key: tag.key.unwrap_or_default(),
                value: tag.value.unwrap_or_default(),
            })
            .collect();
        ObjectTags::new(tags)
    }

    /// The tags as s3s's `TagSet`, in the stored order.
    pub fn to_dto(&self) -> dto::TagSet {
        self.0
            .iter()
            .map(|tag| dto::Tag {
                key: Some(tag.key.clone()),
                value: Some(tag.value.clone()),
            })
            .collect()
    }

    /// How many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn new(tags: Vec<Tag>) -> Result<ObjectTags, TagError> {
        if tags.len() > MAX_TAGS {
            return Err(TagError::TooMany);
        }
        for (index, tag) in tags.iter().enumerate() {
            let key_chars = tag.key.chars().count();
            if key_chars == 0 || key_chars > MAX_KEY_CHARS {
                return Err(TagError::KeyLength);
            }
            if tag.key.starts_with("aws:") {
                return Err(TagError::ReservedKey);
            }
            if tag.value.chars().count() > MAX_VALUE_CHARS {
                return Err(TagError::ValueLength);
            }
            if tags[..index].iter().any(|earlier| earlier.key == tag.key) {
                return Err(TagError::DuplicateKey);
            }
        }
        Ok(ObjectTags(tags))
    }
}

/// `application/x-www-form-urlencoded` decoding of one component: `+` is a space, then `%XX`.
fn decode_query_component(component: &str) -> Result<String, TagError> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| TagError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(tags: &ObjectTags) -> Vec<(&str, &str)> {
        tags.0
            .iter()
            .map(|tag| (tag.key.as_str(), tag.value.as_str()))
            .collect()
    }

    #[test]
    fn header_decodes_plus_percent_and_missing_values() {
        let tags = ObjectTags::from_header("project=s3%20kms&stage=a+b&empty=&bare&x=%2B").expect("valid");
        assert_eq!(
            pairs(&tags),
            [
                ("project", "s3 kms"),
                ("stage", "a b"),
                ("empty", ""),
                ("bare", ""),
                ("x", "+")
            ]
        );
        assert!(ObjectTags::from_header("").expect("empty is valid").is_empty());
    }

    #[test]
    fn limits_match_aws() {
        let eleven: Vec<String> = (0..11).map(|n| format!("k{n}=v")).collect();
        assert_eq!(ObjectTags::from_header(&eleven.join("&")), Err(TagError::TooMany));
        assert_eq!(
            ObjectTags::from_header(&eleven[..10].join("&")).map(|t| t.len()),
            Ok(10)
        );
        let long_key = "k".repeat(129);
        assert_eq!(
            ObjectTags::from_header(&format!("{long_key}=v")),
            Err(TagError::KeyLength)
        );
        assert!(ObjectTags::from_header(&format!("{}=v", "é".repeat(128))).is_ok());
        let long_value = "v".repeat(257);
        assert_eq!(
            ObjectTags::from_header(&format!("k={long_value}")),
            Err(TagError::ValueLength)
        );
        assert_eq!(ObjectTags::from_header("=v"), Err(TagError::KeyLength));
        assert_eq!(ObjectTags::from_header("a=1&a=2"), Err(TagError::DuplicateKey));
        assert_eq!(ObjectTags::from_header("aws:x=1"), Err(TagError::ReservedKey));
        assert_eq!(ObjectTags::from_header("k=%FF"), Err(TagError::Malformed));
    }

    #[test]
    fn dto_round_trip_keeps_order() {
        let tag_set = vec![
            dto::Tag {
                key: Some("b".into()),
                value: Some("2".into()),
            },
            dto::Tag {
                key: Some("a".into()),
                value: Some("1".into()),
            },
        ];
        let tags = ObjectTags::from_dto(tag_set.clone()).expect("valid");
        assert_eq!(tags.to_dto(), tag_set);
    }

    #[test]
    fn errors_map_to_aws_codes() {
        assert_eq!(S3Error::from(TagError::TooMany).code(), &S3ErrorCode::InvalidTag);
        assert_eq!(S3Error::from(TagError::Malformed).code(), &S3ErrorCode::InvalidArgument);
    }
}
