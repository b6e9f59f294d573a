//! Tags: TagResource, UntagResource, ListResourceTags, with AWS's limits (50 per key, key ≤ 128
//! and value ≤ 256 characters, no `aws:` prefix, no duplicates).

use super::keys::refuse_pending_deletion;
use super::model::Tag;
use super::shapes::*;
use super::{Caller, Event, Kms, KmsError};

impl Kms {
    pub(super) async fn tag_resource(
        &self,
        caller: &Caller,
        request: TagResourceRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:TagResource", event)
            .await?;
        check_tags(&request.tags)?;
        self.update_key(&key.record.key_id, |record, arn| {
            refuse_pending_deletion(record, arn)?;
            for tag in &request.tags {
                match record.tags.iter_mut().find(|t| t.key == tag.tag_key) {
                    Some(existing) => existing.value = tag.tag_value.clone(),
                    None => record.tags.push(Tag {
                        key: tag.tag_key.clone(),
                        value: tag.tag_value.clone(),
                    }),
                }
            }
            if record.tags.len() > MAX_TAGS {
                return Err(KmsError::Tag("Too many tags".to_owned()));
            }
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn untag_resource(
        &self,
        caller: &Caller,
        request: UntagResourceRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, &request.key_id, "kms:UntagResource", event)
            .await?;
        self.update_key(&key.record.key_id, |record, arn| {
            refuse_pending_deletion(record, arn)?;
            record.tags.retain(|tag| !request.tag_keys.contains(&tag.key));
            Ok(())
        })
        .await?;
        Ok(Output::default())
    }

    pub(super) async fn list_resource_tags(
        &self,
        caller: &Caller,
        request: ListRequest,
        event: &mut Event,
    ) -> Result<Output, KmsError> {
        let key = self
            .authorized_key(caller, request.key(), "kms:ListResourceTags", event)
            .await?;
        let page = request.page(&key.record.tags, 50, |t| t.key.clone())?;
        let shape = |t: &Tag| TagShape {
            tag_key: t.key.clone(),
            tag_value: t.value.clone(),
        };
        Ok(page.output(|output, tags| output.tags = Some(tags.iter().map(shape).collect())))
    }
}

/// The most tags a key may carry.
pub(super) const MAX_TAGS: usize = 50;

/// AWS's tag rules for CreateKey and TagResource.
pub(super) fn check_tags(tags: &[TagShape]) -> Result<(), KmsError> {
    if tags.len() > MAX_TAGS {
        return Err(KmsError::Tag("Too many tags".to_owned()));
    }
    for (index, tag) in tags.iter().enumerate() {
        if tag.tag_key.is_empty() || tag.tag_key.chars().count() > 128 {
            return Err(KmsError::validation(
                &format!("tags.{}.member.tagKey", index + 1),
                Some(&tag.tag_key),
                "Member must have length less than or equal to 128",
            ));
        }
        if tag.tag_value.chars().count() > 256 {
            return Err(KmsError::validation(
                &format!("tags.{}.member.tagValue", index + 1),
                Some(&tag.tag_value),
                "Member must have length less than or equal to 256",
            ));
        }
        if tag.tag_key.to_ascii_lowercase().starts_with("aws:") {
            return Err(KmsError::Tag("Tags beginning with aws: are reserved".to_owned()));
        }
        if tags[..index].iter().any(|t| t.tag_key == tag.tag_key) {
            return Err(KmsError::Tag("Duplicate tag keys".to_owned()));
        }
    }
    Ok(())
}
