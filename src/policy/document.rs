//! The policy grammar: JSON text → typed [`PolicyDocument`].
//!
//! Owns: the document, statement, effect, scope and principal types, the character set and size
//! rules, and the structural checks of AWS's policy grammar.
//!
//! Does not: keep or rebuild the JSON text (callers store the text they were given and keep the
//! typed form beside it), resolve principals, or check the size inside [`PolicyDocument::parse`]
//! (AWS reports size with a different exception: call [`check_size`] first).
//!
//! Invariants: element names are case-sensitive, as in IAM; condition values are kept as strings
//! (`true` and `5` become `"true"` and `"5"`); a statement without `Action`/`NotAction` or without
//! `Resource`/`NotResource` parses but never matches (AWS calls it ineffective).

use serde_json::{Map, Value};

use super::condition::{Condition, parse_conditions};
use super::error::PolicyError;

/// The longest policy AWS accepts, in characters.
pub const MAX_POLICY_CHARS: usize = 32_768;

/// Refuses a document longer than [`MAX_POLICY_CHARS`] (AWS: `LimitExceededException`).
pub fn check_size(text: &str) -> Result<(), PolicyError> {
    let length = text.chars().count();
    if length > MAX_POLICY_CHARS {
        return Err(PolicyError::TooLarge {
            length,
            limit: MAX_POLICY_CHARS,
        });
    }
    Ok(())
}

/// Which kind of policy a document is; it decides whether statements name a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A KMS key policy or an S3 bucket policy: every statement names `Principal`/`NotPrincipal`.
    Resource,
    /// An IAM identity policy: no statement names a principal (the caller is implied).
    Identity,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// `Version`, when present (`2012-10-17` or `2008-10-17`).
    pub version: Option<String>,
    /// `Id`, when present.
    pub id: Option<String>,
    /// The statements, in document order (at least one).
    pub statements: Vec<Statement>,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, when present (free text; spaces allowed).
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: Effect,
    /// `Principal` / `NotPrincipal`; `None` in identity policies.
    pub principal: Option<PrincipalSpec>,
    /// `Action` / `NotAction`; `None` makes the statement ineffective.
    pub action: Option<Scope>,
    /// `Resource` / `NotResource`; `None` makes the statement ineffective.
    pub resource: Option<Scope>,
    /// The conditions, all of which must hold (empty: none).
    pub conditions: Vec<Condition>,
}

/// What a matching statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Allows the request (unless something denies it).
    Allow,
    /// Denies the request, whatever allows it.
    Deny,
}

/// A list of wildcard patterns (`Action`, `Resource`) or its complement (`NotAction`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Matches a value that one of the patterns matches.
    Only(Vec<String>),
    /// Matches a value that none of the patterns matches.
    AllExcept(Vec<String>),
}

/// `Principal` (the listed principals) or `NotPrincipal` (everyone else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalSpec {
    /// `Principal`.
    Only(PrincipalSet),
    /// `NotPrincipal`.
    AllExcept(PrincipalSet),
}

/// The principals a `Principal` element lists, by type. `"*"` is stored as `aws: ["*"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrincipalSet {
    /// `AWS`: `*`, account ids, account root ARNs, user/role ARNs, unique ids.
    pub aws: Vec<String>,
    /// `Service`: service principals such as `s3.amazonaws.com`.
    pub service: Vec<String>,
    /// `Federated`: identity providers (never match in s3kms).
    pub federated: Vec<String>,
    /// `CanonicalUser`: S3 canonical user ids (never match in s3kms).
    pub canonical_user: Vec<String>,
}

impl PolicyDocument {
    /// Parses `text` as a policy of `kind`, checking characters and grammar but not size.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<PolicyDocument, PolicyError> {
        check_characters(text)?;
        let value: Value = serde_json::from_str(text).map_err(|error| PolicyError::Syntax(error.to_string()))?;
        let object = as_object(&value, "the policy document")?;
        let mut document = PolicyDocument {
            version: None,
            id: None,
            statements: Vec::new(),
        };
        let mut saw_statement = false;
        for (name, value) in object {
            match name.as_str() {
                "Version" => document.version = Some(parse_version(value)?),
                "Id" => document.id = Some(as_string(value, "Id")?.to_owned()),
                "Statement" => {
                    saw_statement = true;
                    document.statements = parse_statements(value, kind)?;
                }
                _ => return Err(PolicyError::UnknownElement(name.clone())),
            }
        }
        if !saw_statement || document.statements.is_empty() {
            return Err(PolicyError::MissingStatement);
        }
        Ok(document)
    }
}

/// Refuses characters outside AWS's set: tab, LF, CR, U+0020..=U+00FF.
fn check_characters(text: &str) -> Result<(), PolicyError> {
    let refused = text
        .char_indices()
        .find(|(_, c)| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'));
    match refused {
        Some((offset, c)) => Err(PolicyError::InvalidCharacter {
            code: u32::from(c),
            offset,
        }),
        None => Ok(()),
    }
}

fn parse_version(value: &Value) -> Result<String, PolicyError> {
    let version = as_string(value, "Version")?;
    match version {
        "2012-10-17" | "2008-10-17" => Ok(version.to_owned()),
        other => Err(PolicyError::UnsupportedVersion(other.to_owned())),
    }
}

fn parse_statements(value: &Value, kind: PolicyKind) -> Result<Vec<Statement>, PolicyError> {
    match value {
        Value::Array(items) => items.iter().map(|item| parse_statement(item, kind)).collect(),
        Value::Object(_) => Ok(vec![parse_statement(value, kind)?]),
        _ => Err(wrong_type("Statement", "an object or an array of objects")),
    }
}

fn parse_statement(value: &Value, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let object = as_object(value, "Statement")?;
    for name in object.keys() {
        if !matches!(
            name.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::UnknownElement(name.clone()));
        }
    }
    let sid = object
        .get("Sid")
        .map(|sid| as_string(sid, "Sid").map(str::to_owned))
        .transpose()?;
    let effect = match object.get("Effect") {
        None => return Err(PolicyError::MissingEffect),
        Some(effect) => match as_string(effect, "Effect")? {
            "Allow" => Effect::Allow,
            "Deny" => Effect::Deny,
            other => return Err(PolicyError::InvalidEffect(other.to_owned())),
        },
    };
    let principal = parse_principal_spec(object, kind)?;
    let action = parse_scope(object, "Action", "NotAction")?;
    let resource = parse_scope(object, "Resource", "NotResource")?;
    let conditions = match object.get("Condition") {
        Some(condition) => parse_conditions(condition)?,
        None => Vec::new(),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

fn parse_scope(
    object: &Map<String, Value>,
    only: &'static str,
    all_except: &'static str,
) -> Result<Option<Scope>, PolicyError> {
    match (object.get(only), object.get(all_except)) {
        (Some(_), Some(_)) => Err(PolicyError::ConflictingElements(only, all_except)),
        (Some(value), None) => Ok(Some(Scope::Only(string_list(value, only)?))),
        (None, Some(value)) => Ok(Some(Scope::AllExcept(string_list(value, all_except)?))),
        (None, None) => Ok(None),
    }
}

fn parse_principal_spec(object: &Map<String, Value>, kind: PolicyKind) -> Result<Option<PrincipalSpec>, PolicyError> {
    let spec = match (object.get("Principal"), object.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::ConflictingElements("Principal", "NotPrincipal"));
        }
        (Some(value), None) => Some(PrincipalSpec::Only(parse_principal_set(value)?)),
        (None, Some(value)) => Some(PrincipalSpec::AllExcept(parse_principal_set(value)?)),
        (None, None) => None,
    };
    match (kind, &spec) {
        (PolicyKind::Resource, None) => Err(PolicyError::MissingPrincipal),
        (PolicyKind::Identity, Some(_)) => Err(PolicyError::PrincipalNotAllowed),
        _ => Ok(spec),
    }
}

fn parse_principal_set(value: &Value) -> Result<PrincipalSet, PolicyError> {
    let mut set = PrincipalSet::default();
    match value {
        Value::String(star) if star == "*" => set.aws.push("*".to_owned()),
        Value::String(other) => return Err(PolicyError::InvalidPrincipal(other.clone())),
        Value::Object(types) => {
            for (name, value) in types {
                let list = match name.as_str() {
                    "AWS" => &mut set.aws,
                    "Service" => &mut set.service,
                    "Federated" => &mut set.federated,
                    "CanonicalUser" => &mut set.canonical_user,
                    _ => return Err(PolicyError::InvalidPrincipal(name.clone())),
                };
                for principal in string_list(value, "Principal")? {
                    if principal.is_empty() {
                        return Err(PolicyError::InvalidPrincipal(principal));
                    }
                    list.push(principal);
                }
            }
        }
        _ => return Err(wrong_type("Principal", "\"*\" or an object")),
    }
    Ok(set)
}

/// A string or an array of strings.
fn string_list(value: &Value, element: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(single) => Ok(vec![single.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| as_string(item, element).map(str::to_owned))
            .collect(),
        _ => Err(wrong_type(element, "a string or an array of strings")),
    }
}

fn as_string<'a>(value: &'a Value, element: &str) -> Result<&'a str, PolicyError> {
    value.as_str().ok_or_else(|| wrong_type(element, "a string"))
}

fn as_object<'a>(value: &'a Value, element: &str) -> Result<&'a Map<String, Value>, PolicyError> {
    value.as_object().ok_or_else(|| wrong_type(element, "a JSON object"))
}

pub(super) fn wrong_type(element: &str, expected: &'static str) -> PolicyError {
    PolicyError::WrongType {
        element: element.to_owned(),
        expected,
    }
}
