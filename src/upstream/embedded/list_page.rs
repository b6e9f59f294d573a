//! ListObjects / ListObjectsV2 paging (pure; no I/O): which keys and common prefixes one page
//! holds, where the next page starts, and S3's `encoding-type=url` form of keys.
//!
//! Order: keys in byte order (S3's UTF-8 binary order). Keys under `prefix` that contain
//! `delimiter` after it count once, as the common prefix up to and including the delimiter;
//! since all keys with one prefix are contiguous in that order, one page lists each prefix once
//! and a later page, resuming after it, skips the rest of its keys.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::meta::ObjectMeta;

/// What one listing page asked for.
#[derive(Debug, Clone, Copy)]
pub struct ListQuery<'a> {
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Resume after this key or common prefix (marker, start-after or continuation token).
    pub after: Option<&'a str>,
    pub max_keys: usize,
}

/// One page.
#[derive(Debug)]
pub struct ListPage<'m> {
    pub objects: Vec<&'m ObjectMeta>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key or common prefix of the page, when there is a next page.
    pub next_marker: Option<String>,
}

impl ListQuery<'_> {
    /// Takes one page from `objects`, which must be sorted by key.
    pub fn select<'m>(&self, objects: &'m [ObjectMeta]) -> ListPage<'m> {
        let mut page = ListPage {
            objects: Vec::new(),
            common_prefixes: Vec::new(),
            is_truncated: false,
            next_marker: None,
        };
        if self.max_keys == 0 {
            return page;
        }
        let mut last_listed: Option<String> = None;
        for meta in objects {
            let key = meta.key.as_str();
            if !key.starts_with(self.prefix) || self.after.is_some_and(|after| key <= after) {
                continue;
            }
            let common_prefix = self.common_prefix(key);
            if let Some(prefix) = common_prefix {
                let listed = self.after.is_some_and(|after| prefix <= after)
                    || page.common_prefixes.last().is_some_and(|last| last == prefix);
                if listed {
                    continue;
                }
            }
            if page.objects.len() + page.common_prefixes.len() == self.max_keys {
                page.is_truncated = true;
                break;
            }
            match common_prefix {
                Some(prefix) => {
                    page.common_prefixes.push(prefix.to_owned());
                    last_listed = Some(prefix.to_owned());
                }
                None => {
                    page.objects.push(meta);
                    last_listed = Some(key.to_owned());
                }
            }
        }
        if page.is_truncated {
            page.next_marker = last_listed;
        }
        page
    }

    fn common_prefix<'k>(&self, key: &'k str) -> Option<&'k str> {
        let delimiter = self.delimiter.filter(|delimiter| !delimiter.is_empty())?;
        let rest = &key[self.prefix.len()..];
        let end = self.prefix.len() + rest.find(delimiter)? + delimiter.len();
        Some(&key[..end])
    }
}

/// Everything but unreserved characters and `/` is escaped, as S3 does for `encoding-type=url`
/// (a space is `%20`, which decoders of both `+` and `%20` conventions read back).
const KEY_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// A key, prefix or marker as S3 writes it with `encoding-type=url`.
pub fn url_encode(value: &str) -> String {
    utf8_percent_encode(value, KEY_ESCAPES).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metas(keys: &[&str]) -> Vec<ObjectMeta> {
        let mut metas: Vec<ObjectMeta> = keys
            .iter()
            .map(|key| ObjectMeta {
                key: (*key).to_owned(),
                data: String::new(),
                size: 0,
                etag: String::new(),
                last_modified_unix_ms: 0,
                headers: Default::default(),
                user_metadata: Default::default(),
                checksums: Default::default(),
                tags: Default::default(),
                part_sizes: Vec::new(),
            })
            .collect();
        metas.sort_by(|left, right| left.key.cmp(&right.key));
        metas
    }

    fn query(max_keys: usize) -> ListQuery<'static> {
        ListQuery {
            prefix: "",
            delimiter: None,
            after: None,
            max_keys,
        }
    }

    fn keys(page: &ListPage<'_>) -> Vec<String> {
        page.objects.iter().map(|meta| meta.key.clone()).collect()
    }

    #[test]
    fn pages_resume_after_the_marker_and_list_every_key_once() {
        let all = metas(&["a", "a/b", "x//y", "trailing/", "b", "c"]);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = ListQuery {
                after: after.as_deref(),
                ..query(2)
            }
            .select(&all);
            seen.extend(keys(&page));
            if !page.is_truncated {
                break;
            }
            after = page.next_marker.clone();
        }
        assert_eq!(seen, ["a", "a/b", "b", "c", "trailing/", "x//y"]);
    }

    #[test]
    fn delimiter_groups_keys_into_prefixes_across_pages() {
        let all = metas(&["a", "a/b", "a/c/d", "b/1", "b/2", "c", "x//y"]);
        let top = ListQuery {
            delimiter: Some("/"),
            ..query(10)
        }
        .select(&all);
        assert_eq!(keys(&top), ["a", "c"]);
        assert_eq!(top.common_prefixes, ["a/", "b/", "x/"]);
        let first = ListQuery {
            delimiter: Some("/"),
            ..query(2)
        }
        .select(&all);
        assert_eq!(
            (keys(&first), first.common_prefixes.clone()),
            (vec!["a".into()], vec!["a/".into()])
        );
        assert_eq!(first.next_marker.as_deref(), Some("a/"));
        let second = ListQuery {
            delimiter: Some("/"),
            after: Some("a/"),
            ..query(2)
        }
        .select(&all);
        assert_eq!(second.common_prefixes, ["b/"]);
        assert_eq!(keys(&second), ["c"]);
        let nested = ListQuery {
            prefix: "a/",
            delimiter: Some("/"),
            ..query(10)
        }
        .select(&all);
        assert_eq!(
            (keys(&nested), nested.common_prefixes),
            (vec!["a/b".into()], vec!["a/c/".into()])
        );
        let doubled = ListQuery {
            prefix: "x/",
            delimiter: Some("/"),
            ..query(10)
        }
        .select(&all);
        assert_eq!(doubled.common_prefixes, ["x//"]);
    }

    #[test]
    fn zero_max_keys_is_an_empty_complete_page() {
        let all = metas(&["a"]);
        let page = query(0).select(&all);
        assert!(page.objects.is_empty() && !page.is_truncated);
    }

    #[test]
    fn url_encoding_matches_s3() {
        assert_eq!(url_encode("a%2Fb"), "a%252Fb");
        assert_eq!(url_encode("ü/é"), "%C3%BC/%C3%A9");
        assert_eq!(url_encode("dir/sub dir/f+n=1~_.-"), "dir/sub%20dir/f%2Bn%3D1~_.-");
    }
}
