//! Rewriting the principals of a policy text: ARN → unique id on save, id → ARN on read.
//!
//! Owns: [`map_principals`], which edits only the JSON string tokens under `Principal.AWS` and
//! `NotPrincipal.AWS`, leaving every other byte of the text (spacing, order, `Sid`s) unchanged.
//!
//! Does not: know who a principal is; the caller's function decides (the KMS maps user ARNs to
//! `AIDA…` ids at PutKeyPolicy, and ids back to ARNs, or leaves them bare, at GetKeyPolicy).
//!
//! Invariant: the output parses exactly as the input would, with the mapped principals.

use std::collections::HashMap;

use serde_json::value::RawValue;

use super::error::PolicyError;

type Object<'a> = HashMap<String, &'a RawValue>;

/// Rewrites every principal string under `Principal.AWS` / `NotPrincipal.AWS` of the policy
/// `text` through `map` (called for each, `*` and account roots included) and returns the new
/// text. `map` returns `None` for a principal it does not know, which fails the whole rewrite
/// with [`PolicyError::InvalidPrincipal`].
pub fn map_principals(text: &str, mut map: impl FnMut(&str) -> Option<String>) -> Result<String, PolicyError> {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for token in principal_tokens(text)? {
        let principal: String = from_raw(token)?;
        let mapped = map(&principal).ok_or(PolicyError::InvalidPrincipal(principal))?;
        let replacement = serde_json::to_string(&mapped).map_err(|error| PolicyError::Syntax(error.to_string()))?;
        let replacement = escape_wide(&replacement);
        let start = offset_in(text, token.get())?;
        edits.push((start, start + token.get().len(), replacement));
    }
    edits.sort_by_key(|(start, _, _)| *start);
    let mut output = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, replacement) in edits {
        output.push_str(text.get(copied..start).ok_or_else(overlap)?);
        output.push_str(&replacement);
        copied = end;
    }
    output.push_str(text.get(copied..).ok_or_else(overlap)?);
    Ok(output)
}

/// The raw string tokens of all `AWS` principals, borrowed from `text`.
fn principal_tokens(text: &str) -> Result<Vec<&RawValue>, PolicyError> {
    let document: Object<'_> = from_raw_str(text)?;
    let Some(statements) = document.get("Statement") else {
        return Ok(Vec::new());
    };
    let statements: Vec<&RawValue> = one_or_many(statements)?;
    let mut tokens = Vec::new();
    for statement in statements {
        let statement: Object<'_> = from_raw(statement)?;
        for element in ["Principal", "NotPrincipal"] {
            let Some(principal) = statement.get(element) else {
                continue;
            };
            if !principal.get().starts_with('{') {
                continue;
            }
            let principal: Object<'_> = from_raw(principal)?;
            if let Some(aws) = principal.get("AWS") {
                tokens.extend(one_or_many(aws)?);
            }
        }
    }
    Ok(tokens)
}

fn one_or_many(raw: &RawValue) -> Result<Vec<&RawValue>, PolicyError> {
    if raw.get().starts_with('[') {
        from_raw(raw)
    } else {
        Ok(vec![raw])
    }
}

fn from_raw<'a, T: serde::Deserialize<'a>>(raw: &'a RawValue) -> Result<T, PolicyError> {
    from_raw_str(raw.get())
}

fn from_raw_str<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, PolicyError> {
    serde_json::from_str(text).map_err(|error| PolicyError::Syntax(error.to_string()))
}

/// A JSON string token with every character beyond U+00FF written as `\u` escapes, so the
/// rewritten text passes the policy character check whenever the original did (which may have
/// held such a character escaped).
fn escape_wide(token: &str) -> String {
    let mut escaped = String::with_capacity(token.len());
    for c in token.chars() {
        if u32::from(c) <= 0xff {
            escaped.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                escaped.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    escaped
}

/// The byte offset of `token` inside `text` (it is a sub-slice borrowed from `text`).
fn offset_in(text: &str, token: &str) -> Result<usize, PolicyError> {
    let start = (token.as_ptr() as usize)
        .checked_sub(text.as_ptr() as usize)
        .ok_or_else(overlap)?;
    match text.get(start..start + token.len()) {
        Some(slice) if slice == token => Ok(start),
        _ => Err(overlap()),
    }
}

fn overlap() -> PolicyError {
    PolicyError::Syntax("principal tokens could not be located in the policy text".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_principal_strings() {
        let text = r#"{"Version" : "2012-10-17", "Statement" : [
 {"Effect":"Allow", "Principal" : { "AWS" : [ "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:root" ] }, "Action":"kms:*", "Resource":"*"},
 {"Effect":"Deny", "NotPrincipal" : {"AWS":"arn:aws:iam::111122223333:user/alice"}, "Action":"kms:*", "Resource":"*",
  "Condition": {"StringEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice"}}},
 {"Effect":"Allow", "Principal":"*", "Action":"kms:*", "Resource":"*"} ]}"#;
        let mapped = map_principals(text, |arn| {
            Some(arn.replace("arn:aws:iam::111122223333:user/alice", "AIDAALICE"))
        })
        .expect("maps");
        let expected = text.replacen("\"arn:aws:iam::111122223333:user/alice\"", "\"AIDAALICE\"", 2);
        assert_eq!(mapped, expected);
        assert!(mapped.contains(r#""aws:PrincipalArn": "arn:aws:iam::111122223333:user/alice""#));
        let back = map_principals(&mapped, |id| {
            Some(id.replace("AIDAALICE", "arn:aws:iam::111122223333:user/alice"))
        });
        assert_eq!(back.as_deref(), Ok(text));
    }

    #[test]
    fn unknown_principal_fails() {
        let text = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ghost"},"Action":"kms:*","Resource":"*"}}"#;
        let error = map_principals(text, |_| None);
        assert!(matches!(error, Err(PolicyError::InvalidPrincipal(_))));
    }

    #[test]
    fn rewritten_principals_keep_the_policy_parseable() {
        // Found by fuzzing: an escaped character beyond U+00FF was written back raw, and the
        // rewritten policy failed the character check the original passed.
        let text = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/a\u0f22\ud83d\ude00"},"Action":"kms:*","Resource":"*"}}"#;
        let original = crate::policy::PolicyDocument::parse(text, crate::policy::PolicyKind::Resource).expect("parses");
        let mapped = map_principals(text, |principal| Some(principal.to_owned())).expect("maps");
        let reparsed = crate::policy::PolicyDocument::parse(&mapped, crate::policy::PolicyKind::Resource);
        assert_eq!(reparsed, Ok(original), "{mapped}");
    }

    #[test]
    fn escapes_survive() {
        let text = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"a\u0062c"},"Action":"kms:*","Resource":"*"}}"#;
        let mapped = map_principals(text, |principal| Some(format!("{principal}\"q"))).expect("maps");
        assert!(mapped.contains(r#""abc\"q""#), "{mapped}");
    }
}
