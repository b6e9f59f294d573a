//! The request and response shapes of the AWS KMS API (members as AWS names them).
//!
//! These are the KMS's vocabulary, shared by its two callers: the JSON API deserialises
//! requests into them, and the S3 path builds them directly. Serialising a request gives the
//! CloudTrail `requestParameters` (after [`super::audit`] strips secrets and camel-cases the
//! member names). Blobs are `Vec<u8>` here and base64 on the wire.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Base64 (de)serialisation of blob members.
mod base64_blob {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// Optional blob members (output only).
mod base64_blob_option {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, serializer: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => super::base64_blob::serialize(bytes, serializer),
            None => serializer.serialize_none(),
        }
    }
}

/// An encryption context as sent.
pub type Context = BTreeMap<String, String>;

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagShape {
    /// 1..128 characters.
    pub tag_key: String,
    /// 0..256 characters.
    pub tag_value: String,
}

/// Grant constraints.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantConstraintsShape {
    /// Pairs the request context must include.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<Context>,
    /// The exact request context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<Context>,
}

macro_rules! shape {
    ($(#[$meta:meta])* $name:ident { $($(#[$field_meta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[allow(missing_docs)]
                pub $field: $ty,
            )*
        }
    };
}

shape!(
    /// CreateKey.
    CreateKeyRequest {
        #[serde(skip_serializing_if = "Option::is_none")] policy: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] key_usage: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] customer_master_key_spec: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] key_spec: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] origin: Option<String>,
        #[serde(default)] bypass_policy_lockout_safety_check: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] tags: Vec<TagShape>,
        #[serde(default)] multi_region: bool,
    }
);

shape!(
    /// Every operation that names only a key: DescribeKey, EnableKey, DisableKey,
    /// CancelKeyDeletion, GetKeyRotationStatus, RotateKeyOnDemand, DisableKeyRotation.
    KeyIdRequest {
        key_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] grant_tokens: Vec<String>,
    }
);

shape!(
    /// ListKeys, ListAliases, ListKeyPolicies, ListResourceTags, ListGrants, ListKeyRotations,
    /// ListRetirableGrants: pagination plus the optional filters those operations take.
    ListRequest {
        #[serde(skip_serializing_if = "Option::is_none")] key_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] limit: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")] marker: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] grant_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] grantee_principal: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] retiring_principal: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] include_key_material: Option<String>,
    }
);

shape!(
    /// ScheduleKeyDeletion.
    ScheduleKeyDeletionRequest {
        key_id: String,
        #[serde(skip_serializing_if = "Option::is_none")] pending_window_in_days: Option<i64>,
    }
);

shape!(
    /// UpdateKeyDescription.
    UpdateKeyDescriptionRequest { key_id: String, description: String }
);

shape!(
    /// CreateAlias and UpdateAlias.
    AliasRequest {
        alias_name: String,
        #[serde(skip_serializing_if = "Option::is_none")] target_key_id: Option<String>,
    }
);

shape!(
    /// Encrypt.
    EncryptRequest {
        key_id: String,
        #[serde(with = "base64_blob", skip_serializing)] plaintext: Vec<u8>,
        #[serde(default, skip_serializing_if = "Context::is_empty")] encryption_context: Context,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] grant_tokens: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")] encryption_algorithm: Option<String>,
        #[serde(default)] dry_run: bool,
    }
);

shape!(
    /// Decrypt.
    DecryptRequest {
        #[serde(with = "base64_blob", skip_serializing)] ciphertext_blob: Vec<u8>,
        #[serde(default, skip_serializing_if = "Context::is_empty")] encryption_context: Context,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] grant_tokens: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")] key_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] encryption_algorithm: Option<String>,
        #[serde(default)] dry_run: bool,
    }
);

shape!(
    /// ReEncrypt.
    ReEncryptRequest {
        #[serde(with = "base64_blob", skip_serializing)] ciphertext_blob: Vec<u8>,
        #[serde(default, skip_serializing_if = "Context::is_empty")] source_encryption_context: Context,
        #[serde(skip_serializing_if = "Option::is_none")] source_key_id: Option<String>,
        destination_key_id: String,
        #[serde(default, skip_serializing_if = "Context::is_empty")] destination_encryption_context: Context,
        #[serde(skip_serializing_if = "Option::is_none")] source_encryption_algorithm: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] destination_encryption_algorithm: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] grant_tokens: Vec<String>,
        #[serde(default)] dry_run: bool,
    }
);

shape!(
    /// GenerateDataKey and GenerateDataKeyWithoutPlaintext.
    GenerateDataKeyRequest {
        key_id: String,
        #[serde(default, skip_serializing_if = "Context::is_empty")] encryption_context: Context,
        #[serde(skip_serializing_if = "Option::is_none")] number_of_bytes: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")] key_spec: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] grant_tokens: Vec<String>,
        #[serde(default)] dry_run: bool,
    }
);

shape!(
    /// GenerateRandom.
    GenerateRandomRequest {
        #[serde(skip_serializing_if = "Option::is_none")] number_of_bytes: Option<i64>,
    }
);

shape!(
    /// GetKeyPolicy and PutKeyPolicy.
    KeyPolicyRequest {
        key_id: String,
        #[serde(skip_serializing_if = "Option::is_none")] policy_name: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] policy: Option<String>,
        #[serde(default)] bypass_policy_lockout_safety_check: bool,
    }
);

shape!(
    /// EnableKeyRotation.
    EnableKeyRotationRequest {
        key_id: String,
        #[serde(skip_serializing_if = "Option::is_none")] rotation_period_in_days: Option<i64>,
    }
);

shape!(
    /// CreateGrant.
    CreateGrantRequest {
        key_id: String,
        grantee_principal: String,
        #[serde(skip_serializing_if = "Option::is_none")] retiring_principal: Option<String>,
        operations: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")] constraints: Option<GrantConstraintsShape>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")] grant_tokens: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")] name: Option<String>,
        #[serde(default)] dry_run: bool,
    }
);

shape!(
    /// RetireGrant and RevokeGrant.
    GrantRequest {
        #[serde(skip_serializing_if = "Option::is_none")] key_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] grant_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")] grant_token: Option<String>,
        #[serde(default)] dry_run: bool,
    }
);

shape!(
    /// TagResource.
    TagResourceRequest { key_id: String, tags: Vec<TagShape> }
);

shape!(
    /// UntagResource.
    UntagResourceRequest { key_id: String, tag_keys: Vec<String> }
);

/// KeyMetadata.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    pub creation_date: f64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: &'static str,
    pub key_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    pub origin: &'static str,
    pub key_manager: &'static str,
    pub customer_master_key_spec: &'static str,
    pub key_spec: &'static str,
    pub encryption_algorithms: [&'static str; 1],
    pub multi_region: bool,
    pub current_key_material_id: String,
}

/// An entry of ListKeys.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}

/// An entry of ListAliases.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_date: Option<f64>,
}

/// An entry of ListGrants / ListRetirableGrants.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub creation_date: f64,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraintsShape>,
}

/// An entry of ListKeyRotations.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct RotationListEntry {
    pub key_id: String,
    pub key_material_id: String,
    pub key_material_state: &'static str,
    pub rotation_date: f64,
    pub rotation_type: &'static str,
}

/// A successful KMS operation's output, as sent on the wire (members in AWS's names).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct Output {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_metadata: Option<KeyMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", with = "base64_blob_option")]
    pub ciphertext_blob: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none", with = "base64_blob_option")]
    pub plaintext: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_encryption_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_encryption_algorithm: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_key_material_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<AliasListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<GrantListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagShape>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_names: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotations: Option<Vec<RotationListEntry>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_window_in_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_rotation_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_token: Option<String>,
}
