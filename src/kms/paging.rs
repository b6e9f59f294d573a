//! The List* operations' common half: which key a listing names, one page of items after the
//! marker, and the `Truncated` / `NextMarker` members of the output.

use super::KmsError;
use super::shapes::{ListRequest, Output};

impl ListRequest {
    /// The `KeyId` member (empty when absent, which key resolution reports as AWS does).
    pub(super) fn key(&self) -> &str {
        self.key_id.as_deref().unwrap_or_default()
    }

    /// One page of `items` after the request's marker; a marker is the previous page's last
    /// item's `id`. `Limit` is 1..=1000, `default_limit` when absent.
    pub(super) fn page<'a, T>(
        &self,
        items: &'a [T],
        default_limit: usize,
        id: impl Fn(&T) -> String,
    ) -> Result<Page<'a, T>, KmsError> {
        let limit = match self.limit {
            None => default_limit,
            Some(limit) if (1..=1000).contains(&limit) => limit as usize,
            Some(limit) => return Err(KmsError::out_of_range("limit", limit, 1, 1000)),
        };
        let start = match self.marker.as_deref() {
            None => 0,
            Some(marker) => match items.iter().position(|item| id(item) == marker) {
                Some(position) => position + 1,
                None => return Err(KmsError::InvalidMarker("Invalid marker".to_owned())),
            },
        };
        let end = (start + limit).min(items.len());
        let page = &items[start..end];
        let next = (end < items.len()).then(|| page.last().map(&id)).flatten();
        Ok(Page { items: page, next })
    }
}

/// One page of a listing.
pub(super) struct Page<'a, T> {
    items: &'a [T],
    next: Option<String>,
}

impl<'a, T> Page<'a, T> {
    /// The listing's output: `fill` puts the page's items into their member.
    pub(super) fn output(self, fill: impl FnOnce(&mut Output, &'a [T])) -> Output {
        let mut output = Output {
            truncated: Some(self.next.is_some()),
            next_marker: self.next,
            ..Output::default()
        };
        fill(&mut output, self.items);
        output
    }
}
