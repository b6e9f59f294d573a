//! ListMultipartUploads paging (pure; no I/O): which uploads and common prefixes one page holds
//! and where the next page starts.
//!
//! Order: by key, then upload id. S3 orders one key's uploads by initiation time, but resumes
//! after `upload-id-marker` by comparing ids; ordering by id makes the two markers resume
//! exactly. Keys that share `prefix` + text up to `delimiter` count once, as a common prefix.

use std::collections::HashSet;

use super::sidecar::{UploadId, UploadRecord};

/// What ListMultipartUploads asked for.
pub struct UploadQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: Option<&'a str>,
    pub upload_id_marker: Option<&'a str>,
    pub max_uploads: usize,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Default)]
pub struct UploadPage {
    pub uploads: Vec<(UploadId, UploadRecord)>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

impl UploadQuery<'_> {
    /// Sorts by key, then upload id (so that the two markers resume exactly), and takes one
    /// page; keys that share a prefix up to the delimiter count once, as a common prefix.
    pub fn select(&self, mut uploads: Vec<(UploadId, UploadRecord)>) -> UploadPage {
        uploads.sort_by(|(left_id, left), (right_id, right)| (&left.key, left_id).cmp(&(&right.key, right_id)));
        let mut page = UploadPage::default();
        let mut seen_prefixes = HashSet::new();
        for (id, upload) in uploads {
            if !upload.key.starts_with(self.prefix) || !self.is_after_markers(&upload.key, &id) {
                continue;
            }
            let common_prefix = self.common_prefix(&upload.key);
            if let Some(prefix) = &common_prefix {
                let already_listed = self.key_marker.is_some_and(|marker| prefix.as_str() <= marker);
                if already_listed || seen_prefixes.contains(prefix) {
                    continue;
                }
            }
            if page.uploads.len() + page.common_prefixes.len() == self.max_uploads {
                page.is_truncated = true;
                break;
            }
            match common_prefix {
                Some(prefix) => {
                    seen_prefixes.insert(prefix.clone());
                    page.next_key_marker = Some(prefix.clone());
                    page.next_upload_id_marker = None;
                    page.common_prefixes.push(prefix);
                }
                None => {
                    page.next_key_marker = Some(upload.key.clone());
                    page.next_upload_id_marker = Some(id.as_str().to_owned());
                    page.uploads.push((id, upload));
                }
            }
        }
        if !page.is_truncated {
            page.next_key_marker = None;
            page.next_upload_id_marker = None;
        }
        page
    }

    fn is_after_markers(&self, key: &str, id: &UploadId) -> bool {
        match self.key_marker {
            None => true,
            Some(marker) if key > marker => true,
            Some(marker) if key == marker => self.upload_id_marker.is_some_and(|id_marker| id.as_str() > id_marker),
            Some(_) => false,
        }
    }

    fn common_prefix(&self, key: &str) -> Option<String> {
        let delimiter = self.delimiter?;
        let rest = &key[self.prefix.len()..];
        let end = self.prefix.len() + rest.find(delimiter)? + delimiter.len();
        Some(key[..end].to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(key: &str, n: u8) -> (UploadId, UploadRecord) {
        let id = UploadId::parse(&format!("00000000-0000-0000-0000-0000000000{n:02}")).expect("id");
        let record = UploadRecord {
            bucket: "b".into(),
            key: key.into(),
            initiated_unix_ms: 0,
            tags: Default::default(),
            headers: Default::default(),
            user_metadata: Default::default(),
        };
        (id, record)
    }

    fn query(max_uploads: usize) -> UploadQuery<'static> {
        UploadQuery {
            prefix: "",
            delimiter: None,
            key_marker: None,
            upload_id_marker: None,
            max_uploads,
        }
    }

    fn keys_and_ids(page: &UploadPage) -> Vec<(String, String)> {
        page.uploads
            .iter()
            .map(|(id, u)| (u.key.clone(), id.as_str()[34..].to_owned()))
            .collect()
    }

    #[test]
    fn pages_resume_at_both_markers() {
        let all = vec![upload("b", 3), upload("a", 2), upload("a", 1), upload("c", 4)];
        let first = query(2).select(all.clone());
        assert_eq!(
            keys_and_ids(&first),
            [("a".into(), "01".into()), ("a".into(), "02".into())]
        );
        assert!(first.is_truncated);
        let (key, id) = (
            first.next_key_marker.expect("key"),
            first.next_upload_id_marker.expect("id"),
        );
        let next = UploadQuery {
            key_marker: Some(&key),
            upload_id_marker: Some(&id),
            ..query(2)
        }
        .select(all.clone());
        assert_eq!(
            keys_and_ids(&next),
            [("b".into(), "03".into()), ("c".into(), "04".into())]
        );
        assert!(!next.is_truncated && next.next_key_marker.is_none());
        let key_only = UploadQuery {
            key_marker: Some("a"),
            ..query(10)
        }
        .select(all);
        assert_eq!(key_only.uploads.len(), 2, "a key marker alone skips that key's uploads");
    }

    #[test]
    fn prefix_and_delimiter_group_keys() {
        let all = vec![
            upload("photos/2024/x", 1),
            upload("photos/2025/y", 2),
            upload("photos/z", 3),
            upload("docs/a", 4),
        ];
        let page = UploadQuery {
            prefix: "photos/",
            delimiter: Some("/"),
            ..query(10)
        }
        .select(all.clone());
        assert_eq!(page.common_prefixes, ["photos/2024/", "photos/2025/"]);
        assert_eq!(keys_and_ids(&page), [("photos/z".into(), "03".into())]);
        let first = UploadQuery {
            prefix: "photos/",
            delimiter: Some("/"),
            ..query(1)
        }
        .select(all.clone());
        assert_eq!(first.next_key_marker.as_deref(), Some("photos/2024/"));
        let rest = UploadQuery {
            prefix: "photos/",
            delimiter: Some("/"),
            key_marker: Some("photos/2024/"),
            ..query(10)
        }
        .select(all);
        assert_eq!(rest.common_prefixes, ["photos/2025/"]);
    }
}
