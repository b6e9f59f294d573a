//! Error documents from the upstream, re-rendered as s3kms's own.
//!
//! The upstream's code and status are kept (they are S3's answer: `NoSuchKey`, `BucketNotEmpty`,
//! …), but the document is rewritten so that `<RequestId>` is the id s3kms returned in
//! `x-amz-request-id`, and a missing `<Message>` (s3s-fs omits it) gets AWS's text. The upstream
//! document is read with a size limit; anything unreadable becomes a plain `InternalError`
//! shape with the upstream's status.

use super::error::push_element as push;

/// The largest upstream error document read.
pub const MAX_ERROR_DOCUMENT: usize = 64 * 1024;

/// Rewrites an upstream error document for the client.
pub fn rewrite(document: &[u8], resource: &str, request_id: &str) -> String {
    let text = String::from_utf8_lossy(document);
    let fields = error_fields(&text);
    let code = field(&fields, "Code").unwrap_or("InternalError");
    let message = field(&fields, "Message")
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| default_message(code).to_owned());
    let mut xml = String::with_capacity(256);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    push(&mut xml, "Code", code);
    push(&mut xml, "Message", &message);
    for (name, value) in &fields {
        if !["Code", "Message", "Resource", "RequestId", "HostId"].contains(&name.as_str()) {
            push(&mut xml, name, value);
        }
    }
    push(&mut xml, "Resource", resource);
    push(&mut xml, "RequestId", request_id);
    push(&mut xml, "HostId", request_id);
    xml.push_str("</Error>");
    xml
}

/// The flat child elements of `<Error>`, unescaped, in order.
fn error_fields(text: &str) -> Vec<(String, String)> {
    let Some(start) = text.find("<Error>") else {
        return Vec::new();
    };
    let mut rest = &text[start + "<Error>".len()..];
    let mut fields = Vec::new();
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('>') else { break };
        let name = &rest[..close];
        if name.starts_with('/') || name.is_empty() {
            break;
        }
        rest = &rest[close + 1..];
        if let Some(name) = name.strip_suffix('/') {
            fields.push((name.to_owned(), String::new()));
            continue;
        }
        let end_tag = format!("</{name}>");
        let Some(end) = rest.find(&end_tag) else {
            break;
        };
        if !rest[..end].contains('<') {
            fields.push((name.to_owned(), unescape(&rest[..end])));
        }
        rest = &rest[end + end_tag.len()..];
    }
    fields
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// AWS's message for the common codes, for upstreams that send none.
fn default_message(code: &str) -> &'static str {
    match code {
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchUpload" => {
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        }
        "BucketNotEmpty" => "The bucket you tried to delete is not empty",
        "BucketAlreadyOwnedByYou" => {
            "Your previous request to create the named bucket succeeded and you already own it."
        }
        "BucketAlreadyExists" => {
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
        }
        "InvalidBucketName" => "The specified bucket is not valid.",
        "InvalidRange" => "The requested range is not satisfiable",
        "InvalidPart" => {
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
        }
        "InvalidPartOrder" => "The list of parts was not in ascending order. Parts must be ordered by part number.",
        "EntityTooSmall" => "Your proposed upload is smaller than the minimum allowed object size.",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed size",
        "PreconditionFailed" => "At least one of the pre-conditions you specified did not hold",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "KeyTooLongError" => "Your key is too long",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema",
        "NoSuchTagSet" => "The TagSet does not exist",
        _ => "The upstream store refused the request.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_is_ours_and_fields_are_kept() {
        let upstream = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key><RequestId>UPSTREAM</RequestId><HostId>x</HostId></Error>"#;
        let xml = rewrite(upstream, "/b/a&b", "OURS");
        assert!(
            xml.contains(
                "<Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a&amp;b</Key>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<RequestId>OURS</RequestId>") && !xml.contains("UPSTREAM"),
            "{xml}"
        );
    }

    #[test]
    fn missing_message_gets_aws_text() {
        let xml = rewrite(b"<Error><Code>NoSuchBucket</Code></Error>", "/b", "R");
        assert!(
            xml.contains("<Message>The specified bucket does not exist</Message>"),
            "{xml}"
        );
    }

    #[test]
    fn garbage_becomes_internal_error() {
        let xml = rewrite(b"\xff\xfe not xml", "/", "R");
        assert!(xml.contains("<Code>InternalError</Code>"), "{xml}");
    }
}
