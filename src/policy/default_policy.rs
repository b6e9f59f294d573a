//! The key policy AWS gives a key created without one (`CreateKey` with no `Policy`).
//!
//! Owns: the exact text of that policy, spaced as AWS returns it from `GetKeyPolicy`.
//!
//! Does not: store it; the KMS stores the text and parses it with [`super::PolicyDocument::parse`].

/// The `Id` of the default key policy.
pub const DEFAULT_KEY_POLICY_ID: &str = "key-default-1";

/// The default key policy for a key of `account_id`: it delegates all of `kms:*` to the
/// account, so the account's identity policies decide (AWS text, spacing included).
pub fn default_key_policy(account_id: &str) -> String {
    format!(
        r#"{{
  "Version" : "2012-10-17",
  "Id" : "{DEFAULT_KEY_POLICY_ID}",
  "Statement" : [ {{
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {{ "AWS" : "arn:aws:iam::{account_id}:root" }},
    "Action" : "kms:*",
    "Resource" : "*"
  }} ]
}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Effect, PolicyDocument, PolicyKind, PrincipalSpec, Scope};

    #[test]
    fn matches_aws_text_and_parses_back() {
        let expected = "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : { \"AWS\" : \"arn:aws:iam::111122223333:root\" },\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}";
        let text = default_key_policy("111122223333");
        assert_eq!(text, expected);
        let document = PolicyDocument::parse(&text, PolicyKind::Resource).expect("parses");
        assert_eq!(document.id.as_deref(), Some(DEFAULT_KEY_POLICY_ID));
        assert_eq!(document.version.as_deref(), Some("2012-10-17"));
        let statement = &document.statements[0];
        assert_eq!(statement.effect, Effect::Allow);
        assert_eq!(statement.sid.as_deref(), Some("Enable IAM User Permissions"));
        assert_eq!(statement.action, Some(Scope::Only(vec!["kms:*".to_owned()])));
        let Some(PrincipalSpec::Only(principals)) = &statement.principal else {
            panic!("expected a Principal");
        };
        assert_eq!(principals.aws, ["arn:aws:iam::111122223333:root"]);
    }
}
