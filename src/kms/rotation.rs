//! Key rotation: Enable/DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations. A rotation adds a key version; every version keeps decrypting what it
//! sealed, and new encryptions use the newest. Automatic rotation happens when a key is next
//! loaded after its due date ([`Kms`]'s key loading).

use super::keys::require_enabled;
use super::model::{KeyManager, KeyState, RotationType};
use super::shapes::*;
use super::{Caller, Event, Kms, KmsError, now};

const MAX_ON_DEMAND_ROTATIONS: u32 = 25;

impl Kms {
    pub(super) async fn enable_key_rotation(
        &self,
        caller: &Caller,
        request: EnableKeyRotationRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:EnableKeyRotation", event)
            .await?;
        let period = request.rotation_period_in_days.unwrap_or(365);
        if !(90..=2560).contains(&period) {
            return Err(KmsError::out_of_range("rotationPeriodInDays", period, 90, 2560));
        }
        self.update_key(&key.record.key_id, |record, arn| {
            writable_rotation(record.state, record.key_manager, arn)?;
            record.rotation.enabled = true;
            record.rotation.period_days = period as u32;
            record.rotation.next_rotation_date = Some(now() + period as f64 * 86_400.0);
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn disable_key_rotation(
        &self,
        caller: &Caller,
        request: KeyIdRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:DisableKeyRotation", event)
            .await?;
        self.update_key(&key.record.key_id, |record, arn| {
            writable_rotation(record.state, record.key_manager, arn)?;
            record.rotation.enabled = false;
            record.rotation.next_rotation_date = None;
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn get_key_rotation_status(
        &self,
        caller: &Caller,
        request: KeyIdRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:GetKeyRotationStatus", event)
            .await?;
        let rotation = &key.record.rotation;
        Ok(Output {
            key_id: Some(key.arn.clone()),
            key_rotation_enabled: Some(rotation.enabled),
            rotation_period_in_days: rotation.enabled.then_some(rotation.period_days),
            next_rotation_date: rotation.next_rotation_date.filter(|_| rotation.enabled),
            ..Output::default()
        })
    }

    pub(super) async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        request: KeyIdRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:RotateKeyOnDemand", event)
            .await?;
        let version = self.new_version(&key.record.key_id, Some(RotationType::OnDemand));
        let key = self
            .update_key(&key.record.key_id, |record, arn| {
                require_enabled(record.state, arn)?;
                if record.key_manager == KeyManager::Aws {
                    return Err(KmsError::UnsupportedOperation(format!("{arn} is an AWS managed key.")));
                }
                if record.rotation.on_demand_count >= MAX_ON_DEMAND_ROTATIONS {
                    return Err(KmsError::LimitExceeded(format!(
                        "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {arn}"
                    )));
                }
                record.rotation.on_demand_count += 1;
                record.versions.push(version.clone());
                Ok(())
            })
            .await?;
        Ok(Output {
            key_id: Some(key.arn),
            ..Output::default()
        })
    }

    pub(super) async fn list_key_rotations(
        &self,
        caller: &Caller,
        request: ListRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, request.key(), "kms:ListKeyRotations", event)
            .await?;
        let all_material = request.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL");
        let current = key.record.versions.last().map(|v| v.material_id.clone());
        let rotations: Vec<RotationListEntry> = key
            .record
            .versions
            .iter()
            .filter(|version| all_material || version.rotation_type.is_some())
            .map(|version| RotationListEntry {
                key_id: key.record.key_id.clone(),
                key_material_id: version.material_id.clone(),
                key_material_state: if Some(&version.material_id) == current.as_ref() {
                    "CURRENT"
                } else {
                    "NON_CURRENT"
                },
                rotation_date: version.creation_date,
                rotation_type: match version.rotation_type {
                    Some(RotationType::OnDemand) => "ON_DEMAND",
                    _ => "AUTOMATIC",
                },
            })
            .collect();
        let page = request.page(&rotations, 100, |r| r.key_material_id.clone())?;
        Ok(page.output(|output, items| output.rotations = Some(items.to_vec())))
    }
}

/// Rotation settings change only on enabled customer keys.
fn writable_rotation(state: KeyState, manager: KeyManager, arn: &str) -> Result<(), KmsError> {
    require_enabled(state, arn)?;
    if manager == KeyManager::Aws {
        return Err(KmsError::UnsupportedOperation(format!(
            "{arn} is an AWS managed key; its rotation cannot be changed."
        )));
    }
    Ok(())
}
