//! The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext)
//! and GenerateRandom, on symmetric keys, with AWS's limits, states and errors.
//!
//! Order of checks, as AWS: resolve the key, authorize (with the encryption context), then the
//! key state, then the request's own limits, then `DryRun`.

use super::blob::{self, Blob};
use super::keys::require_enabled;
use super::model::KeyVersion;
use super::shapes::*;
use super::{Caller, Event, Kms, KmsError, LoadedKey, grants, resolve};
use crate::crypto::{self, Key256};

const MAX_PLAINTEXT: usize = 4096;
const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

impl Kms {
    pub(super) async fn encrypt(
        &self,
        caller: &Caller,
        request: EncryptRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        grants::check_tokens(&request.grant_tokens)?;
        let key = self.resolve_or_create_managed(&request.key_id).await?;
        event.key(&key.arn);
        self.authorize(caller, &key, "kms:Encrypt", Some(&request.encryption_context))?;
        usable(&key)?;
        check_algorithm(request.encryption_algorithm.as_deref())?;
        check_length("plaintext", request.plaintext.len(), MAX_PLAINTEXT)?;
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        let (ciphertext, material_id) = self.seal(&key, &request.encryption_context, &request.plaintext)?;
        event.additional("keyMaterialId", material_id.into());
        Ok(Output {
            ciphertext_blob: Some(ciphertext),
            key_id: Some(key.arn),
            encryption_algorithm: Some(SYMMETRIC_DEFAULT),
            ..Output::default()
        })
    }

    pub(super) async fn decrypt(
        &self,
        caller: &Caller,
        request: DecryptRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        // CloudTrail logs Decrypt's algorithm even when the caller leaves it to the default.
        event.default_parameter("encryptionAlgorithm", SYMMETRIC_DEFAULT.into());
        grants::check_tokens(&request.grant_tokens)?;
        check_algorithm(request.encryption_algorithm.as_deref())?;
        let (key, plaintext, material_id) = self
            .open(
                caller,
                &request.ciphertext_blob,
                &request.encryption_context,
                request.key_id.as_deref(),
                "kms:Decrypt",
                event,
            )
            .await?;
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        event.additional("keyMaterialId", material_id.clone().into());
        Ok(Output {
            key_id: Some(key.arn),
            plaintext: Some(plaintext),
            encryption_algorithm: Some(SYMMETRIC_DEFAULT),
            key_material_id: Some(material_id),
            ..Output::default()
        })
    }

    pub(super) async fn re_encrypt(
        &self,
        caller: &Caller,
        request: ReEncryptRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        grants::check_tokens(&request.grant_tokens)?;
        check_algorithm(request.source_encryption_algorithm.as_deref())?;
        check_algorithm(request.destination_encryption_algorithm.as_deref())?;
        let (source, plaintext, source_material_id) = self
            .open(
                caller,
                &request.ciphertext_blob,
                &request.source_encryption_context,
                request.source_key_id.as_deref(),
                "kms:ReEncryptFrom",
                event,
            )
            .await?;
        let destination = self.resolve_or_create_managed(&request.destination_key_id).await?;
        event.key(&destination.arn);
        self.authorize(
            caller,
            &destination,
            "kms:ReEncryptTo",
            Some(&request.destination_encryption_context),
        )?;
        usable(&destination)?;
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        let (ciphertext, destination_material_id) =
            self.seal(&destination, &request.destination_encryption_context, &plaintext)?;
        Ok(Output {
            ciphertext_blob: Some(ciphertext),
            source_key_id: Some(source.arn),
            key_id: Some(destination.arn),
            source_encryption_algorithm: Some(SYMMETRIC_DEFAULT),
            destination_encryption_algorithm: Some(SYMMETRIC_DEFAULT),
            source_key_material_id: Some(source_material_id),
            destination_key_material_id: Some(destination_material_id),
            ..Output::default()
        })
    }

    pub(super) async fn generate_data_key(
        &self,
        caller: &Caller,
        request: GenerateDataKeyRequest,
        with_plaintext: bool,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        grants::check_tokens(&request.grant_tokens)?;
        let key = self.resolve_or_create_managed(&request.key_id).await?;
        event.key(&key.arn);
        let action = if with_plaintext {
            "kms:GenerateDataKey"
        } else {
            "kms:GenerateDataKeyWithoutPlaintext"
        };
        self.authorize(caller, &key, action, Some(&request.encryption_context))?;
        usable(&key)?;
        let length = data_key_length(request.number_of_bytes, request.key_spec.as_deref())?;
        if request.dry_run {
            return Err(KmsError::DryRun);
        }
        let mut plaintext = vec![0u8; length];
        crypto::fill_random(&mut plaintext);
        let (ciphertext, material_id) = self.seal(&key, &request.encryption_context, &plaintext)?;
        event.additional("keyMaterialId", material_id.clone().into());
        Ok(Output {
            ciphertext_blob: Some(ciphertext),
            plaintext: with_plaintext.then_some(plaintext),
            key_id: Some(key.arn),
            key_material_id: Some(material_id),
            ..Output::default()
        })
    }

    pub(super) async fn generate_random(
        &self,
        caller: &Caller,
        request: GenerateRandomRequest,
    ) -> Result<Output, KmsError> {
        self.authorize_iam(caller, "kms:GenerateRandom")?;
        let Some(count) = request.number_of_bytes else {
            return Err(KmsError::Validation("NumberOfBytes is required.".to_owned()));
        };
        if !(1..=1024).contains(&count) {
            return Err(KmsError::out_of_range("numberOfBytes", count, 1, 1024));
        }
        let mut bytes = vec![0u8; count as usize];
        crypto::fill_random(&mut bytes);
        Ok(Output {
            plaintext: Some(bytes),
            ..Output::default()
        })
    }

    /// Seals under the key's current material; returns the blob and the material id.
    fn seal(&self, key: &LoadedKey, context: &Context, plaintext: &[u8]) -> Result<(Vec<u8>, String), KmsError> {
        let version = key
            .record
            .versions
            .last()
            .ok_or_else(|| KmsError::Internal(format!("{} has no key material", key.arn)))?;
        let material = self.material(&key.record.key_id, version)?;
        let (key_id, material_id) = blob_ids(&key.record.key_id, version)?;
        Ok((
            blob::seal(key_id, material_id, &material, context, plaintext),
            version.material_id.clone(),
        ))
    }

    /// Authorizes and opens a ciphertext blob: the key is the one the blob names.
    async fn open(
        &self,
        caller: &Caller,
        ciphertext: &[u8],
        context: &Context,
        named_key: Option<&str>,
        action: &str,
        event: &mut Event,
    ) -> Result<(LoadedKey, Vec<u8>, String), KmsError> {
        let parsed = Blob::parse(ciphertext).ok_or(KmsError::InvalidCiphertext)?;
        let key_id = resolve::format_key_id(&parsed.key_id);
        let key = match self.load_key(&key_id).await {
            Ok(key) => key,
            Err(KmsError::NotFound(_)) => return Err(unknown_ciphertext_key(caller, action)),
            Err(error) => return Err(error),
        };
        event.key(&key.arn);
        if let Some(named) = named_key {
            let named = self.resolve(named).await?;
            if named.record.key_id != key.record.key_id {
                return Err(KmsError::IncorrectKey);
            }
        }
        self.authorize(caller, &key, action, Some(context))?;
        usable(&key)?;
        let material_id = hex::encode(parsed.material_id);
        let version = key
            .record
            .versions
            .iter()
            .find(|v| v.material_id == material_id)
            .ok_or(KmsError::InvalidCiphertext)?;
        let material: Key256 = self.material(&key.record.key_id, version)?;
        let plaintext = parsed
            .open(&material, context)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        Ok((key, plaintext, material_id))
    }
}

/// Crypto operations need an enabled key.
fn usable(key: &LoadedKey) -> Result<(), KmsError> {
    require_enabled(key.record.state, &key.arn)
}

fn check_algorithm(algorithm: Option<&str>) -> Result<(), KmsError> {
    match algorithm {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(other) => Err(KmsError::validation(
            "encryptionAlgorithm",
            Some(other),
            "Member must satisfy enum value set: [SYMMETRIC_DEFAULT]",
        )),
    }
}

fn check_length(member: &str, length: usize, max: usize) -> Result<(), KmsError> {
    if length == 0 {
        return Err(KmsError::validation(
            member,
            None,
            "Member must have length greater than or equal to 1",
        ));
    }
    if length > max {
        return Err(KmsError::validation(
            member,
            None,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

fn data_key_length(number_of_bytes: Option<i64>, key_spec: Option<&str>) -> Result<usize, KmsError> {
    match (number_of_bytes, key_spec) {
        (Some(count), None) if (1..=1024).contains(&count) => Ok(count as usize),
        (Some(count), None) => Err(KmsError::out_of_range("numberOfBytes", count, 1, 1024)),
        (None, Some("AES_256")) => Ok(32),
        (None, Some("AES_128")) => Ok(16),
        (None, Some(spec)) => Err(KmsError::validation(
            "keySpec",
            Some(spec),
            "Member must satisfy enum value set: [AES_256, AES_128]",
        )),
        _ => Err(KmsError::Validation(
            "Please specify either number of bytes or key spec.".to_owned(),
        )),
    }
}

fn blob_ids(key_id: &str, version: &KeyVersion) -> Result<([u8; 16], [u8; 32]), KmsError> {
    let corrupt = || KmsError::Internal(format!("key {key_id} has a malformed id or material id"));
    let key_bytes = resolve::key_id_bytes(key_id).ok_or_else(corrupt)?;
    let mut material = [0u8; 32];
    hex::decode_to_slice(&version.material_id, &mut material).map_err(|_| corrupt())?;
    Ok((key_bytes, material))
}

/// AWS's answer when the ciphertext names a key that does not exist here.
fn unknown_ciphertext_key(caller: &Caller, action: &str) -> KmsError {
    KmsError::AccessDenied(format!(
        "User: {} is not authorized to perform: {action} on the resource associated with this ciphertext because the resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy explicitly denies access",
        caller.principal.arn
    ))
}
