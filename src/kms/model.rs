//! The KMS's persistent records: keys (with their versions, policy, tags, grants), aliases and
//! the principal registry. Serialized as JSON in the key store.
//!
//! Invariants: key material is only ever stored sealed under the root key
//! ([`KeyVersion::sealed_material`]); a key has at least one version and the last one is
//! current; times are unix seconds (with fraction).

use serde::{Deserialize, Serialize};

/// A key's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Not usable until enabled again.
    Disabled,
    /// Not usable; deleted at `deletion_date`.
    PendingDeletion,
}

impl KeyState {
    /// AWS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// Who manages the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyManager {
    /// Created through CreateKey.
    Customer,
    /// Created by s3kms on first use of `alias/aws/<service>`.
    Aws,
}

/// A KMS key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The UUID.
    pub key_id: String,
    /// Unix seconds.
    pub creation_date: f64,
    /// Free text.
    pub description: String,
    /// Lifecycle state.
    pub state: KeyState,
    /// When a pending deletion takes effect.
    pub deletion_date: Option<f64>,
    /// Customer or AWS managed.
    pub key_manager: KeyManager,
    /// The key policy as stored (principals as unique ids).
    pub policy: String,
    /// Tags, in insertion order.
    pub tags: Vec<Tag>,
    /// Automatic rotation settings.
    pub rotation: Rotation,
    /// Key material versions, oldest first; the last is current.
    pub versions: Vec<KeyVersion>,
    /// Grants on the key.
    pub grants: Vec<GrantRecord>,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// Automatic rotation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rotation {
    /// Whether automatic rotation is on.
    pub enabled: bool,
    /// Days between rotations (90..=2560).
    pub period_days: u32,
    /// When the next automatic rotation is due.
    pub next_rotation_date: Option<f64>,
    /// How many on-demand rotations were made (AWS allows 25).
    pub on_demand_count: u32,
}

/// How a key version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotationType {
    /// By the rotation schedule.
    Automatic,
    /// By RotateKeyOnDemand.
    OnDemand,
}

/// One version of a key's material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVersion {
    /// 32 random bytes, hex: AWS's `KeyMaterialId`; named in every ciphertext blob.
    pub material_id: String,
    /// When it was created.
    pub creation_date: f64,
    /// `None` for the original material.
    pub rotation_type: Option<RotationType>,
    /// The 32-byte material sealed under the root key, base64.
    pub sealed_material: String,
}

/// A grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// 64 hex characters.
    pub grant_id: String,
    /// Optional name (idempotency key).
    pub name: Option<String>,
    /// Unix seconds.
    pub creation_date: f64,
    /// The principal allowed to use the grant (as given).
    pub grantee_principal: String,
    /// The principal allowed to retire it.
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::<account>:root`.
    pub issuing_account: String,
    /// Allowed operations, e.g. `Decrypt`.
    pub operations: Vec<String>,
    /// Encryption-context constraints.
    pub constraints: Option<GrantConstraints>,
}

/// Grant constraints on the encryption context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantConstraints {
    /// The request's context must contain these pairs.
    pub encryption_context_subset: Option<std::collections::BTreeMap<String, String>>,
    /// The request's context must equal this map.
    pub encryption_context_equals: Option<std::collections::BTreeMap<String, String>>,
}

/// An alias.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `alias/…`.
    pub alias_name: String,
    /// The key id it points to.
    pub target_key_id: String,
    /// Unix seconds.
    pub creation_date: f64,
    /// Unix seconds.
    pub last_updated_date: f64,
}

/// The persisted unique ids of the configured users (AWS's `AIDA…` ids).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PrincipalRegistry {
    /// User name → unique id, for users currently configured.
    pub users: std::collections::BTreeMap<String, String>,
}
