//! ListObjects and ListObjectsV2 in the embedded store: every record of the bucket, sorted,
//! paged by [`ListQuery`], then written in the form the request asked for.
//!
//! Owns: `max-keys` (default and ceiling 1000), `marker` / `start-after` /
//! `continuation-token` (an opaque base64 form of the last key or prefix listed),
//! `fetch-owner` (V1 always lists owners), and `encoding-type=url`, which encodes every key,
//! prefix, delimiter and marker of the answer, as S3 does.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::list_page::{ListPage, ListQuery, url_encode};
use super::meta::ObjectMeta;
use super::store::EmbeddedStore;

/// Most keys in one page.
const MAX_KEYS: i32 = 1000;

pub async fn list_objects(
    store: &EmbeddedStore,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let encode = encoder(input.encoding_type.as_ref())?;
    let objects = sorted_objects(store, &input.bucket).await?;
    let max_keys = input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS);
    let query = ListQuery {
        prefix: input.prefix.as_deref().unwrap_or(""),
        delimiter: input.delimiter.as_deref(),
        after: input.marker.as_deref(),
        max_keys: usize::try_from(max_keys).unwrap_or(0),
    };
    let page = query.select(&objects);
    let output = ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(encode(input.prefix.as_deref().unwrap_or(""))),
        delimiter: input.delimiter.as_deref().map(encode),
        marker: Some(encode(input.marker.as_deref().unwrap_or(""))),
        next_marker: page.next_marker.as_deref().map(encode),
        max_keys: Some(max_keys),
        is_truncated: Some(page.is_truncated),
        encoding_type: input.encoding_type,
        contents: Some(listed_objects(&page, true, encode)),
        common_prefixes: Some(listed_prefixes(&page, encode)),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

pub async fn list_objects_v2(
    store: &EmbeddedStore,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let encode = encoder(input.encoding_type.as_ref())?;
    let token = input.continuation_token.as_deref().map(decode_token).transpose()?;
    let objects = sorted_objects(store, &input.bucket).await?;
    let max_keys = input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS);
    let query = ListQuery {
        prefix: input.prefix.as_deref().unwrap_or(""),
        delimiter: input.delimiter.as_deref(),
        after: token.as_deref().or(input.start_after.as_deref()),
        max_keys: usize::try_from(max_keys).unwrap_or(0),
    };
    let page = query.select(&objects);
    let key_count = page.objects.len() + page.common_prefixes.len();
    let output = ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(encode(input.prefix.as_deref().unwrap_or(""))),
        delimiter: input.delimiter.as_deref().map(encode),
        start_after: input.start_after.as_deref().map(encode),
        continuation_token: input.continuation_token,
        next_continuation_token: page.next_marker.as_deref().map(encode_token),
        key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
        max_keys: Some(max_keys),
        is_truncated: Some(page.is_truncated),
        encoding_type: input.encoding_type,
        contents: Some(listed_objects(&page, input.fetch_owner.unwrap_or(false), encode)),
        common_prefixes: Some(listed_prefixes(&page, encode)),
        ..Default::default()
    };
    Ok(S3Response::new(output))
}

/// How names are written: as they are, or URL-encoded for `encoding-type=url`.
type Encoder = fn(&str) -> String;

fn encoder(encoding_type: Option<&EncodingType>) -> S3Result<Encoder> {
    match encoding_type.map(EncodingType::as_str) {
        None => Ok(str::to_owned),
        Some(EncodingType::URL) => Ok(url_encode),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

async fn sorted_objects(store: &EmbeddedStore, bucket: &str) -> S3Result<Vec<ObjectMeta>> {
    store.require_bucket(bucket).await?;
    let mut objects = store.objects.list(bucket).await?;
    objects.sort_by(|left, right| left.key.cmp(&right.key));
    Ok(objects)
}

fn listed_objects(page: &ListPage<'_>, with_owner: bool, encode: Encoder) -> Vec<Object> {
    page.objects
        .iter()
        .map(|meta| Object {
            key: Some(encode(&meta.key)),
            last_modified: Some(meta.last_modified()),
            e_tag: Some(meta.e_tag()),
            size: Some(meta.content_length()),
            storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
            owner: with_owner.then(owner),
            ..Default::default()
        })
        .collect()
}

fn listed_prefixes(page: &ListPage<'_>, encode: Encoder) -> Vec<CommonPrefix> {
    page.common_prefixes
        .iter()
        .map(|prefix| CommonPrefix {
            prefix: Some(encode(prefix)),
        })
        .collect()
}

/// The store's one owner (it has one credential).
fn owner() -> Owner {
    Owner {
        display_name: Some("s3kms-embedded".to_owned()),
        id: Some("0000000000000000000000000000000000000000000000000000000000000000".to_owned()),
    }
}

fn encode_token(after: &str) -> String {
    URL_SAFE_NO_PAD.encode(after)
}

fn decode_token(token: &str) -> S3Result<String> {
    let invalid = || s3_error!(InvalidArgument, "The continuation token provided is incorrect");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_any_key() {
        for key in ["", "a/b", "ü/é", "x//y", "a%2Fb"] {
            assert_eq!(decode_token(&encode_token(key)).expect("valid"), key);
        }
        assert!(decode_token("not base64!").is_err());
    }
}
