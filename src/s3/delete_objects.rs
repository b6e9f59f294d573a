//! DeleteObjects, authorized key by key as AWS does: keys the caller may not delete are
//! reported as `AccessDenied` entries of the `DeleteResult`, the others are deleted.
//!
//! The request document is parsed into its objects (key and optional version); when some are
//! denied, a new document with only the allowed ones is sent upstream (with its own
//! `Content-MD5`), and the denied entries are added to the upstream's answer. When all are
//! denied, nothing is sent upstream.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};

use super::{Inbound, S3Api, S3Error, S3Request, access, forward, full_body};
use crate::http::ResponseBody;
use crate::upstream::{UpstreamBody, UpstreamRequest};
use crate::xml::{Document, escaped};

/// Largest DeleteObjects document accepted (1,000 keys of 1,024 bytes, escaped, fit).
const MAX_DELETE_DOCUMENT: u64 = 8 << 20;

/// One `<Object>` of a Delete document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteEntry {
    /// The key.
    pub key: String,
    /// The version, when named.
    pub version_id: Option<String>,
}

/// The objects of a Delete document and its `Quiet` flag.
pub fn parse_delete(document: &[u8]) -> Result<(Vec<DeleteEntry>, bool), S3Error> {
    let parsed = Document::parse(document).map_err(|_| S3Error::MalformedXml)?;
    if parsed.root != "Delete" {
        return Err(S3Error::MalformedXml);
    }
    let mut entries: Vec<DeleteEntry> = Vec::new();
    let mut leaves = parsed.leaves.iter().peekable();
    let mut key_seen = false;
    for element in &parsed.elements {
        if element == "Object" {
            entries.push(DeleteEntry {
                key: String::new(),
                version_id: None,
            });
            key_seen = false;
            continue;
        }
        let Some((path, text)) = leaves.next_if(|(path, _)| path == element) else {
            continue;
        };
        // An object naming two keys (or versions) is refused: s3kms would authorize one and
        // the upstream, which gets the client's document, might delete the other.
        match (path.as_str(), entries.last_mut()) {
            ("Object/Key", Some(entry)) if !key_seen => {
                entry.key = text.clone();
                key_seen = true;
            }
            ("Object/VersionId", Some(entry)) if entry.version_id.is_none() => entry.version_id = Some(text.clone()),
            ("Object/Key" | "Object/VersionId", Some(_)) => return Err(S3Error::MalformedXml),
            _ => {}
        }
    }
    if entries.is_empty() || entries.len() > 1000 || entries.iter().any(|entry| entry.key.is_empty()) {
        return Err(S3Error::MalformedXml);
    }
    let quiet = parsed
        .one("Quiet")
        .is_some_and(|q| q.trim().eq_ignore_ascii_case("true"));
    Ok((entries, quiet))
}

/// A Delete document for `entries`.
pub fn delete_document(entries: &[&DeleteEntry], quiet: bool) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete>");
    if quiet {
        xml.push_str("<Quiet>true</Quiet>");
    }
    for entry in entries {
        xml.push_str("<Object>");
        push_name(&mut xml, entry);
        xml.push_str("</Object>");
    }
    xml.push_str("</Delete>");
    xml
}

/// `<Key>…</Key>` and, when named, `<VersionId>…</VersionId>`.
fn push_name(xml: &mut String, entry: &DeleteEntry) {
    xml.push_str("<Key>");
    xml.push_str(&escaped(&entry.key));
    xml.push_str("</Key>");
    if let Some(version) = &entry.version_id {
        xml.push_str("<VersionId>");
        xml.push_str(&escaped(version));
        xml.push_str("</VersionId>");
    }
}

/// The `<Error>` entries of denied objects.
fn denied_entries(denied: &[(&DeleteEntry, S3Error)]) -> String {
    let mut xml = String::new();
    for (entry, error) in denied {
        xml.push_str("<Error>");
        push_name(&mut xml, entry);
        xml.push_str("<Code>AccessDenied</Code><Message>");
        xml.push_str(&escaped(&error.to_string()));
        xml.push_str("</Message></Error>");
    }
    xml
}

impl S3Api {
    /// Answers DeleteObjects.
    pub(super) async fn delete_objects(
        &self,
        request: &S3Request<'_>,
        access_request: &access::AccessRequest<'_>,
        inbound: Inbound,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let Some(body) = inbound.body else {
            return Err(S3Error::MalformedXml);
        };
        if body.length() > MAX_DELETE_DOCUMENT {
            return Err(S3Error::MalformedXml);
        }
        let verdict = inbound.verdict;
        let document = body
            .collect()
            .await
            .map_err(|_| verdict.failure().unwrap_or(S3Error::IncompleteBody))?
            .to_bytes();
        let (entries, quiet) = parse_delete(&document)?;
        let names: Vec<access::ObjectName<'_>> = entries
            .iter()
            .map(|entry| access::ObjectName {
                key: &entry.key,
                version_id: entry.version_id.as_deref(),
            })
            .collect();
        let decisions = access::check_each_key(&self.settings, access_request, &names).await?;
        let mut allowed = Vec::new();
        let mut denied = Vec::new();
        for (entry, decision) in entries.iter().zip(decisions) {
            match decision {
                Ok(()) => allowed.push(entry),
                Err(error) => denied.push((entry, error)),
            }
        }
        if allowed.is_empty() {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</DeleteResult>",
                denied_entries(&denied)
            );
            return Ok(xml_answer(
                StatusCode::OK,
                HeaderMap::new(),
                Bytes::from(xml),
                request.request_id,
            ));
        }
        let (upstream_document, headers) = if denied.is_empty() {
            let headers = forward::request_headers(&request.parts.headers, inbound.checksum_in_trailer);
            (document, headers)
        } else {
            let rewritten = Bytes::from(delete_document(&allowed, quiet));
            (rewritten.clone(), rewritten_headers(&request.parts.headers, &rewritten))
        };
        let length = upstream_document.len() as u64;
        let upstream_body: UpstreamBody = http_body_util::Full::new(upstream_document)
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = self
            .send(UpstreamRequest {
                method: Method::POST,
                bucket: request.address.bucket.clone(),
                key: None,
                query: self.upstream_query(request),
                headers,
                body: Some((upstream_body, length)),
            })
            .await?;
        if !response.status().is_success() {
            return Ok(self.upstream_error(response, request).await);
        }
        if denied.is_empty() {
            return Ok(forward::response(response, request.request_id));
        }
        let (parts, body) = response.into_parts();
        let answer = http_body_util::Limited::new(body, 16 << 20)
            .collect()
            .await
            .map_err(|error| S3Error::ServiceUnavailable {
                detail: format!("DeleteObjects answer: {error}"),
            })?
            .to_bytes();
        let text = String::from_utf8_lossy(&answer);
        let merged = match text.rfind("</DeleteResult>") {
            Some(at) => format!("{}{}{}", &text[..at], denied_entries(&denied), &text[at..]),
            None => text.into_owned(),
        };
        let mut headers = HeaderMap::new();
        forward::copy_headers(&parts.headers, &mut headers);
        Ok(xml_answer(
            parts.status,
            headers,
            Bytes::from(merged),
            request.request_id,
        ))
    }
}

/// The client's headers for a rewritten document: its own `Content-MD5`, no client digests.
fn rewritten_headers(client: &HeaderMap, document: &[u8]) -> HeaderMap {
    let mut headers = forward::sealed_request_headers(client);
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(document));
    if let Ok(value) = HeaderValue::from_str(&md5) {
        headers.insert(HeaderName::from_static("content-md5"), value);
    }
    headers
}

fn xml_answer(status: StatusCode, mut headers: HeaderMap, body: Bytes, request_id: &str) -> Response<ResponseBody> {
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    forward::stamp(&mut headers, request_id);
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_versions() {
        let document = b"<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><VersionId>v2</VersionId><Key>b&amp;c</Key></Object></Delete>";
        let (entries, quiet) = parse_delete(document).unwrap();
        assert!(quiet);
        assert_eq!(
            entries,
            vec![
                DeleteEntry {
                    key: "a".into(),
                    version_id: None
                },
                DeleteEntry {
                    key: "b&c".into(),
                    version_id: Some("v2".into())
                },
            ]
        );
        let again = delete_document(&entries.iter().collect::<Vec<_>>(), quiet);
        assert_eq!(parse_delete(again.as_bytes()).unwrap(), (entries, true));
    }

    #[test]
    fn an_object_with_two_keys_or_versions_is_refused() {
        // Found by fuzzing: the last <Key> was authorized, while an upstream may delete the first.
        for document in [
            &b"<Delete><Object><Key>denied</Key><Key>allowed</Key></Object></Delete>"[..],
            b"<Delete><Object><Key></Key><Key>allowed</Key></Object></Delete>",
            b"<Delete><Object><Key>k</Key><VersionId>a</VersionId><VersionId>b</VersionId></Object></Delete>",
        ] {
            assert!(matches!(parse_delete(document), Err(S3Error::MalformedXml)));
        }
    }

    #[test]
    fn malformed_deletes_are_refused() {
        assert!(parse_delete(b"<Delete></Delete>").is_err());
        assert!(parse_delete(b"<Delete><Object><VersionId>v</VersionId></Object></Delete>").is_err());
        assert!(parse_delete(b"<Other/>").is_err());
    }

    proptest::proptest! {
        /// Any document: parsed or refused, never a panic; what parses survives a rewrite.
        #[test]
        fn arbitrary_documents_never_panic(document in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            if let Ok((entries, quiet)) = parse_delete(&document) {
                let again = delete_document(&entries.iter().collect::<Vec<_>>(), quiet);
                proptest::prop_assert_eq!(parse_delete(again.as_bytes()).unwrap(), (entries, quiet));
            }
        }
    }
}
