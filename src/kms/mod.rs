//! The embedded KMS (L1): keys, their versions and lifecycle, aliases, grants, key policies,
//! the cryptographic operations, authorization and the audit trail.
//!
//! Every call — from the KMS JSON API or from the S3 path on a user's behalf — goes through
//! [`Kms::call`], which authorizes it like AWS KMS (key policy + identity policies + grants,
//! explicit deny wins), runs it, and writes one audit record whatever the outcome; a call whose
//! record cannot be written hands out no result.
//!
//! Does not: speak HTTP or JSON (the `kms_api` layer does), or know about objects.
//!
//! Invariants: key material exists in plaintext only in memory, inside [`Key256`]; records in
//! the key store hold it sealed under the root key with the key id and material id as AAD; a
//! key record is only ever replaced with a conditional write, so concurrent updates from
//! several requests or instances never lose each other.

mod aliases;
mod audit;
pub mod blob;
mod cryptography;
mod error;
mod grants;
mod key_policy;
mod keys;
pub mod model;
mod paging;
pub mod resolve;
pub mod root;
mod rotation;
mod s3_managed;
mod s3_store;
pub mod shapes;
pub mod store;
pub mod sweep;
mod tags;
pub mod trail;

use std::sync::Arc;

pub use audit::{AuditLog, Event, iso8601};
pub use error::KmsError;
pub use resolve::{KeyRef, Scope};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::crypto::{self, Key256};
use crate::policy::{self, PolicyDocument, PolicyKind};
use model::{KeyRecord, KeyState, KeyVersion, PrincipalRegistry};
use shapes::*;
use store::{Expect, KeyStore, StoreError, Version};

/// Who is calling, and how.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal (ARN, account, unique id).
    pub principal: policy::Principal,
    /// The IAM user name.
    pub user_name: String,
    /// The access key id the request was signed with.
    pub access_key_id: String,
    /// The user's identity policies.
    pub identity_policies: Arc<[PolicyDocument]>,
    /// The client's address.
    pub source_ip: String,
    /// The client's `User-Agent`.
    pub user_agent: String,
    /// The request id returned to the client.
    pub request_id: String,
    /// The call is made by the S3 path for this user (`kms:ViaService`, `invokedBy`).
    pub via_s3: bool,
    /// The client's connection is TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

/// One KMS operation with its request.
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum Call {
    CreateKey(CreateKeyRequest),
    DescribeKey(KeyIdRequest),
    ListKeys(ListRequest),
    EnableKey(KeyIdRequest),
    DisableKey(KeyIdRequest),
    ScheduleKeyDeletion(ScheduleKeyDeletionRequest),
    CancelKeyDeletion(KeyIdRequest),
    UpdateKeyDescription(UpdateKeyDescriptionRequest),
    CreateAlias(AliasRequest),
    UpdateAlias(AliasRequest),
    DeleteAlias(AliasRequest),
    ListAliases(ListRequest),
    Encrypt(EncryptRequest),
    Decrypt(DecryptRequest),
    ReEncrypt(ReEncryptRequest),
    GenerateDataKey(GenerateDataKeyRequest),
    GenerateDataKeyWithoutPlaintext(GenerateDataKeyRequest),
    GenerateRandom(GenerateRandomRequest),
    GetKeyPolicy(KeyPolicyRequest),
    PutKeyPolicy(KeyPolicyRequest),
    ListKeyPolicies(ListRequest),
    EnableKeyRotation(EnableKeyRotationRequest),
    DisableKeyRotation(KeyIdRequest),
    GetKeyRotationStatus(KeyIdRequest),
    RotateKeyOnDemand(KeyIdRequest),
    ListKeyRotations(ListRequest),
    CreateGrant(CreateGrantRequest),
    ListGrants(ListRequest),
    ListRetirableGrants(ListRequest),
    RetireGrant(GrantRequest),
    RevokeGrant(GrantRequest),
    TagResource(TagResourceRequest),
    UntagResource(UntagResourceRequest),
    ListResourceTags(ListRequest),
}

/// The embedded KMS.
pub struct Kms {
    metrics: Arc<crate::metrics::Metrics>,
    store: Arc<KeyStore>,
    root: Key256,
    scope: Scope,
    audit: AuditLog,
}

/// A key record as read, with the version to write it back against.
pub(crate) struct LoadedKey {
    record: KeyRecord,
    version: Version,
    arn: String,
}

impl Kms {
    /// A KMS over `store`, sealing material under `root`, auditing to `audit`.
    pub fn new(store: Arc<KeyStore>, root: Key256, scope: Scope, audit: AuditLog) -> Kms {
        Kms {
            metrics: Arc::default(),
            store,
            root,
            scope,
            audit,
        }
    }

    /// Counts operations in `metrics` (by operation, key and outcome).
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Kms {
        self.metrics = metrics;
        self
    }

    /// The key store (shared with bucket settings and multipart upload records).
    pub fn store(&self) -> Arc<KeyStore> {
        Arc::clone(&self.store)
    }

    /// The account and region.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Runs one operation for `caller` and records it in the audit trail. Fails closed: a call
    /// does not run when the trail cannot take its record, and a result whose record could not
    /// be written is withheld (`KMSInternalException`).
    pub async fn call(&self, caller: &Caller, call: Call) -> Result<Output, KmsError> {
        let (name, mut event) = call.event();
        let result = match self.audit.ready(&event) {
            Ok(()) => self.run(caller, call, &mut event).await,
            Err(error) => Err(audit::unaudited(&error)),
        };
        let key_id = event.key_id().unwrap_or("").to_owned();
        let result = match self.audit.record(caller, event, result.as_ref()) {
            Ok(()) => result,
            Err(error) => Err(audit::unaudited(&error)),
        };
        if let Err(error) = &result
            && error.is_internal()
        {
            tracing::error!(operation = name, %error, detail = ?error, "KMS operation failed");
        }
        let outcome = result.as_ref().map_or_else(KmsError::name, |_| "ok");
        self.metrics.kms_operation(name, &key_id, outcome);
        result
    }

    /// The operation itself.
    async fn run(&self, caller: &Caller, call: Call, event: &mut Event) -> Result<Output, KmsError> {
        match call {
            Call::CreateKey(r) => self.create_key(caller, r, event).await,
            Call::DescribeKey(r) => self.describe_key(caller, r, event).await,
            Call::ListKeys(r) => self.list_keys(caller, r).await,
            Call::EnableKey(r) => self.set_enabled(caller, r, true, event).await,
            Call::DisableKey(r) => self.set_enabled(caller, r, false, event).await,
            Call::ScheduleKeyDeletion(r) => self.schedule_key_deletion(caller, r, event).await,
            Call::CancelKeyDeletion(r) => self.cancel_key_deletion(caller, r, event).await,
            Call::UpdateKeyDescription(r) => self.update_key_description(caller, r, event).await,
            Call::CreateAlias(r) => self.create_alias(caller, r, event).await,
            Call::UpdateAlias(r) => self.update_alias(caller, r, event).await,
            Call::DeleteAlias(r) => self.delete_alias(caller, r, event).await,
            Call::ListAliases(r) => self.list_aliases(caller, r).await,
            Call::Encrypt(r) => self.encrypt(caller, r, event).await,
            Call::Decrypt(r) => self.decrypt(caller, r, event).await,
            Call::ReEncrypt(r) => self.re_encrypt(caller, r, event).await,
            Call::GenerateDataKey(r) => self.generate_data_key(caller, r, true, event).await,
            Call::GenerateDataKeyWithoutPlaintext(r) => self.generate_data_key(caller, r, false, event).await,
            Call::GenerateRandom(r) => self.generate_random(caller, r).await,
            Call::GetKeyPolicy(r) => self.get_key_policy(caller, r, event).await,
            Call::PutKeyPolicy(r) => self.put_key_policy(caller, r, event).await,
            Call::ListKeyPolicies(r) => self.list_key_policies(caller, r, event).await,
            Call::EnableKeyRotation(r) => self.enable_key_rotation(caller, r, event).await,
            Call::DisableKeyRotation(r) => self.disable_key_rotation(caller, r, event).await,
            Call::GetKeyRotationStatus(r) => self.get_key_rotation_status(caller, r, event).await,
            Call::RotateKeyOnDemand(r) => self.rotate_key_on_demand(caller, r, event).await,
            Call::ListKeyRotations(r) => self.list_key_rotations(caller, r, event).await,
            Call::CreateGrant(r) => self.create_grant(caller, r, event).await,
            Call::ListGrants(r) => self.list_grants(caller, r, event).await,
            Call::ListRetirableGrants(r) => self.list_retirable_grants(caller, r).await,
            Call::RetireGrant(r) => self.retire_grant(caller, r, event).await,
            Call::RevokeGrant(r) => self.revoke_grant(caller, r, event).await,
            Call::TagResource(r) => self.tag_resource(caller, r, event).await,
            Call::UntagResource(r) => self.untag_resource(caller, r, event).await,
            Call::ListResourceTags(r) => self.list_resource_tags(caller, r, event).await,
        }
    }

    // ----------------------------------------------------------------- key records

    /// Loads a key by id, applying a due deletion or rotation first.
    async fn load_key(&self, key_id: &str) -> Result<LoadedKey, KmsError> {
        let arn = self.scope.key_arn(key_id);
        let path = key_path(key_id);
        let Some((bytes, version)) = self.store.get(&path).await.map_err(internal)? else {
            return Err(KmsError::key_not_found(&arn));
        };
        let record: KeyRecord = serde_json::from_slice(&bytes).map_err(|e| KmsError::corrupt_record(&path, &e))?;
        let mut key = LoadedKey { record, version, arn };
        let now = now();
        if key.record.state == KeyState::PendingDeletion && key.record.deletion_date.is_some_and(|at| at <= now) {
            self.delete_key_now(&key).await?;
            return Err(KmsError::key_not_found(&key.arn));
        }
        if key.record.rotation.enabled && key.record.rotation.next_rotation_date.is_some_and(|at| at <= now) {
            key.record
                .versions
                .push(self.new_version(&key.record.key_id, Some(model::RotationType::Automatic)));
            let period = f64::from(key.record.rotation.period_days) * 86_400.0;
            key.record.rotation.next_rotation_date = Some(now + period);
            self.save_key(&mut key).await?;
        }
        Ok(key)
    }

    /// Resolves any key id form (aliases included) to a loaded key.
    async fn resolve(&self, key_id: &str) -> Result<LoadedKey, KmsError> {
        match self.scope.parse(key_id)? {
            KeyRef::Key(id) => self.load_key(&id).await,
            KeyRef::Alias(name) => {
                let id = self.alias_target(&name).await?;
                self.load_key(&id).await
            }
        }
    }

    /// Resolves a key id or key ARN (management operations).
    async fn resolve_key(&self, key_id: &str) -> Result<LoadedKey, KmsError> {
        let id = self.scope.parse_key(key_id)?;
        self.load_key(&id).await
    }

    /// Resolves a key id or key ARN, names the key in the audit event, and authorizes
    /// `action` on it for `caller` — the start of every management operation.
    async fn authorized_key(
        &self,
        caller: &Caller,
        key_id: &str,
        action: &str,
        event: &mut Event,
    ) -> Result<LoadedKey, KmsError> {
        let key = self.resolve_key(key_id).await?;
        event.key(&key.arn);
        self.authorize(caller, &key, action, None)?;
        Ok(key)
    }

    /// Writes a key back; fails with `ConflictException` if it changed meanwhile.
    async fn save_key(&self, key: &mut LoadedKey) -> Result<(), KmsError> {
        let bytes = serde_json::to_vec_pretty(&key.record).map_err(|e| KmsError::Internal(e.to_string()))?;
        let path = key_path(&key.record.key_id);
        key.version = self
            .store
            .put(&path, &bytes, Expect::Version(key.version.clone()))
            .await
            .map_err(internal)?;
        Ok(())
    }

    /// Re-reads, changes and writes a key, retrying when a concurrent update got there first.
    async fn update_key(
        &self,
        key_id: &str,
        mut change: impl FnMut(&mut KeyRecord, &str) -> Result<(), KmsError>,
    ) -> Result<LoadedKey, KmsError> {
        for attempt in 0..store::CONFLICT_ATTEMPTS {
            let mut key = self.load_key(key_id).await?;
            change(&mut key.record, &key.arn)?;
            match self.save_key(&mut key).await {
                Err(KmsError::Conflict(_)) => store::conflict_backoff(attempt).await,
                result => return result.map(|()| key),
            }
        }
        Err(KmsError::Conflict(format!(
            "{} was changed concurrently; retry",
            self.scope.key_arn(key_id)
        )))
    }

    async fn delete_key_now(&self, key: &LoadedKey) -> Result<(), KmsError> {
        for alias in self.aliases_of(&key.record.key_id).await? {
            self.remove_alias(&alias.alias_name).await?;
        }
        match self.store.delete(&key_path(&key.record.key_id), &key.version).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(error) => Err(internal(error)),
        }
    }

    /// A fresh version of key material, sealed under the root key.
    fn new_version(&self, key_id: &str, rotation_type: Option<model::RotationType>) -> KeyVersion {
        let material_id = hex::encode(crypto::random_array::<32>());
        let material = Key256::generate();
        let sealed = crypto::seal(&self.root, &material_aad(key_id, &material_id), material.expose());
        KeyVersion {
            material_id,
            creation_date: now(),
            rotation_type,
            sealed_material: BASE64.encode(sealed),
        }
    }

    /// Unseals a version's material.
    fn material(&self, key_id: &str, version: &KeyVersion) -> Result<Key256, KmsError> {
        let corrupt = || KmsError::Internal(format!("key material of {key_id} cannot be unsealed"));
        let sealed = BASE64.decode(&version.sealed_material).map_err(|_| corrupt())?;
        let bytes =
            crypto::open(&self.root, &material_aad(key_id, &version.material_id), &sealed).map_err(|_| corrupt())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| corrupt())?;
        Ok(Key256::from_bytes(bytes))
    }

    // ----------------------------------------------------------------- authorization

    /// Checks `action` on `key` for `caller`, with the request's encryption context.
    fn authorize(
        &self,
        caller: &Caller,
        key: &LoadedKey,
        action: &str,
        context: Option<&Context>,
    ) -> Result<(), KmsError> {
        let policy = PolicyDocument::parse(&key.record.policy, PolicyKind::Resource)
            .map_err(|e| KmsError::Internal(format!("stored policy of {} does not parse: {e}", key.arn)))?;
        let request = self.request_context(caller, action, &key.arn, context);
        let grants = grants::decision(&key.record, caller, action, context);
        let outcome = policy::authorize(
            policy::ResourcePolicy::Key(&policy),
            &caller.identity_policies,
            grants,
            &request,
        );
        deny_unless_allowed(outcome, caller, action, &key.arn)
    }

    /// Checks an IAM-only `action` (no key resource: CreateKey, ListKeys, …).
    fn authorize_iam(&self, caller: &Caller, action: &str) -> Result<(), KmsError> {
        let request = self.request_context(caller, action, "*", None);
        let outcome = policy::authorize(
            policy::ResourcePolicy::None,
            &caller.identity_policies,
            policy::GrantDecision::NotApplicable,
            &request,
        );
        let resource = format!("arn:aws:kms:{}:{}:*", self.scope.region, self.scope.account_id);
        deny_unless_allowed(outcome, caller, action, &resource)
    }

    fn request_context(
        &self,
        caller: &Caller,
        action: &str,
        resource: &str,
        context: Option<&Context>,
    ) -> policy::RequestContext {
        let mut request = policy::RequestContext::new(caller.principal.clone(), action, resource)
            .with_secure_transport(caller.secure_transport);
        if caller.via_s3 {
            request = request.with_via_service(&format!("s3.{}.amazonaws.com", self.scope.region));
        }
        if let Some(context) = context {
            request = request.with_encryption_context(context.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        request
    }

    // ----------------------------------------------------------------- principals

    /// Gives every configured user a persisted unique id (AWS's `AIDA…`), dropping users that
    /// are no longer configured: a user removed and added again gets a new id, so policies
    /// that named the old one do not apply to the new one, as in AWS.
    pub async fn sync_principals(&self, user_names: &[String]) -> Result<PrincipalRegistry, KmsError> {
        let mut attempt = 0;
        loop {
            let current = self.store.get(PRINCIPALS_PATH).await.map_err(internal)?;
            let (mut registry, expect) = match &current {
                Some((bytes, version)) => {
                    let registry: PrincipalRegistry =
                        serde_json::from_slice(bytes).map_err(|e| KmsError::corrupt_record(PRINCIPALS_PATH, &e))?;
                    (registry, Expect::Version(version.clone()))
                }
                None => (PrincipalRegistry::default(), Expect::Absent),
            };
            let before = registry.users.clone();
            registry.users.retain(|name, _| user_names.contains(name));
            for name in user_names {
                registry.users.entry(name.clone()).or_insert_with(new_unique_id);
            }
            if current.is_some() && registry.users == before {
                return Ok(registry);
            }
            let bytes = serde_json::to_vec_pretty(&registry).map_err(|e| KmsError::Internal(e.to_string()))?;
            match self.store.put(PRINCIPALS_PATH, &bytes, expect).await {
                Ok(_) => return Ok(registry),
                Err(StoreError::Conflict(_)) => {
                    store::conflict_backoff(attempt.min(store::CONFLICT_ATTEMPTS)).await;
                    attempt += 1;
                }
                Err(error) => return Err(internal(error)),
            }
        }
    }

    async fn principal_registry(&self) -> Result<PrincipalRegistry, KmsError> {
        match self.store.get(PRINCIPALS_PATH).await.map_err(internal)? {
            Some((bytes, _)) => {
                serde_json::from_slice(&bytes).map_err(|e| KmsError::corrupt_record(PRINCIPALS_PATH, &e))
            }
            None => Ok(PrincipalRegistry::default()),
        }
    }
}

impl Call {
    /// The operation's name and a fresh audit event for it.
    fn event(&self) -> (&'static str, Event) {
        macro_rules! named {
            ($($variant:ident),*) => {
                match self { $(Call::$variant(r) => (stringify!($variant), Event::new(stringify!($variant), r)),)* }
            };
        }
        named!(
            CreateKey,
            DescribeKey,
            ListKeys,
            EnableKey,
            DisableKey,
            ScheduleKeyDeletion,
            CancelKeyDeletion,
            UpdateKeyDescription,
            CreateAlias,
            UpdateAlias,
            DeleteAlias,
            ListAliases,
            Encrypt,
            Decrypt,
            ReEncrypt,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            GenerateRandom,
            GetKeyPolicy,
            PutKeyPolicy,
            ListKeyPolicies,
            EnableKeyRotation,
            DisableKeyRotation,
            GetKeyRotationStatus,
            RotateKeyOnDemand,
            ListKeyRotations,
            CreateGrant,
            ListGrants,
            ListRetirableGrants,
            RetireGrant,
            RevokeGrant,
            TagResource,
            UntagResource,
            ListResourceTags
        )
    }
}

const PRINCIPALS_PATH: &str = "principals.json";

fn key_path(key_id: &str) -> String {
    format!("keys/{key_id}.json")
}

fn material_aad(key_id: &str, material_id: &str) -> Vec<u8> {
    format!("s3kms key material v1\n{key_id}\n{material_id}").into_bytes()
}

fn deny_unless_allowed(
    outcome: policy::Authorization,
    caller: &Caller,
    action: &str,
    resource: &str,
) -> Result<(), KmsError> {
    match outcome.message(&caller.principal.arn, action, resource) {
        None => Ok(()),
        Some(message) => Err(KmsError::AccessDenied(message)),
    }
}

/// `AIDA` + 17 characters of upper-case base32, like AWS user ids.
fn new_unique_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes: [u8; 17] = crypto::random_array();
    let tail: String = bytes.iter().map(|b| ALPHABET[usize::from(b % 32)] as char).collect();
    format!("AIDA{tail}")
}

fn internal(error: StoreError) -> KmsError {
    match error {
        StoreError::Conflict(path) => KmsError::Conflict(format!("{path} was changed concurrently; retry")),
        other => KmsError::Internal(other.to_string()),
    }
}

/// Unix seconds, with fraction.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
