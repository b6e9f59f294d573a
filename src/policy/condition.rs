//! The `Condition` element: operators, set qualifiers, parsing and IAM's evaluation rules.
//!
//! Owns: [`Condition`], [`Operator`], [`ConditionTest`], [`SetQualifier`], parsing a `Condition`
//! block, and deciding whether one condition holds for a request.
//!
//! Does not: compare individual values (see [`super::comparison`]) or combine statements.
//!
//! Invariants (IAM's semantics): several policy values in one condition are ORed; several keys
//! and operators are ANDed (by the caller, over [`Condition`]s). On a missing key a condition is
//! false, except: negated operators (`StringNotEquals`, …) and `…IfExists` are true,
//! `ForAllValues:` is true, `ForAnyValue:` is false (true with `IfExists`), and `Null` is true iff
//! its value is `true`.

use serde_json::Value;

use super::comparison::{Comparison, Ordering};
use super::context::RequestContext;
use super::document::wrong_type;
use super::error::PolicyError;

/// One condition: an operator applied to one key with one or more policy values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The operator, e.g. `ForAnyValue:StringLikeIfExists`.
    pub operator: Operator,
    /// The condition key as written in the policy (matched case-insensitively).
    pub key: String,
    /// The policy values (booleans and numbers kept as their JSON text).
    pub values: Vec<String>,
}

/// A full condition operator: set qualifier, test and `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    /// `ForAnyValue:` / `ForAllValues:` or none.
    pub qualifier: SetQualifier,
    /// The test, e.g. `StringLike`.
    pub test: ConditionTest,
    /// The `IfExists` suffix: the condition holds when the key is absent.
    pub if_exists: bool,
}

/// The set qualifier of an operator, for multi-valued keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// No qualifier: a single-valued test.
    Single,
    /// `ForAnyValue:`: at least one request value passes.
    ForAnyValue,
    /// `ForAllValues:`: every request value passes (vacuously true when there are none).
    ForAllValues,
}

macro_rules! condition_tests {
    ($($name:ident => $comparison:expr, $negated:expr;)*) => {
        /// An IAM condition test, without qualifier or `IfExists`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ConditionTest {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name,
            )*
            /// `Null`: `true` iff the key is absent, `false` iff it is present.
            Null,
        }

        impl ConditionTest {
            /// The test named `name` (case-sensitive, as IAM).
            pub fn from_name(name: &str) -> Option<ConditionTest> {
                match name {
                    $(stringify!($name) => Some(ConditionTest::$name),)*
                    "Null" => Some(ConditionTest::Null),
                    _ => None,
                }
            }

            /// The operator name as written in policies.
            pub fn name(self) -> &'static str {
                match self {
                    $(ConditionTest::$name => stringify!($name),)*
                    ConditionTest::Null => "Null",
                }
            }

            /// The positive comparison and whether the test negates it; `None` for `Null`.
            fn comparison(self) -> Option<(Comparison, bool)> {
                match self {
                    $(ConditionTest::$name => Some(($comparison, $negated)),)*
                    ConditionTest::Null => None,
                }
            }
        }
    };
}

condition_tests! {
    StringEquals => Comparison::StringEquals, false;
    StringNotEquals => Comparison::StringEquals, true;
    StringEqualsIgnoreCase => Comparison::StringEqualsIgnoreCase, false;
    StringNotEqualsIgnoreCase => Comparison::StringEqualsIgnoreCase, true;
    StringLike => Comparison::StringLike, false;
    StringNotLike => Comparison::StringLike, true;
    NumericEquals => Comparison::Numeric(Ordering::Equal), false;
    NumericNotEquals => Comparison::Numeric(Ordering::Equal), true;
    NumericLessThan => Comparison::Numeric(Ordering::Less), false;
    NumericLessThanEquals => Comparison::Numeric(Ordering::LessOrEqual), false;
    NumericGreaterThan => Comparison::Numeric(Ordering::Greater), false;
    NumericGreaterThanEquals => Comparison::Numeric(Ordering::GreaterOrEqual), false;
    DateEquals => Comparison::Date(Ordering::Equal), false;
    DateNotEquals => Comparison::Date(Ordering::Equal), true;
    DateLessThan => Comparison::Date(Ordering::Less), false;
    DateLessThanEquals => Comparison::Date(Ordering::LessOrEqual), false;
    DateGreaterThan => Comparison::Date(Ordering::Greater), false;
    DateGreaterThanEquals => Comparison::Date(Ordering::GreaterOrEqual), false;
    Bool => Comparison::Bool, false;
    BinaryEquals => Comparison::BinaryEquals, false;
    IpAddress => Comparison::IpAddress, false;
    NotIpAddress => Comparison::IpAddress, true;
    ArnEquals => Comparison::ArnLike, false;
    ArnLike => Comparison::ArnLike, false;
    ArnNotEquals => Comparison::ArnLike, true;
    ArnNotLike => Comparison::ArnLike, true;
}

impl Operator {
    /// Parses `ForAnyValue:StringLikeIfExists` and the like; `None` for unknown operators.
    pub fn parse(name: &str) -> Option<Operator> {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::Single, name)
        };
        let (rest, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let test = ConditionTest::from_name(rest)?;
        if test == ConditionTest::Null && (if_exists || qualifier != SetQualifier::Single) {
            return None;
        }
        Some(Operator {
            qualifier,
            test,
            if_exists,
        })
    }
}

impl Condition {
    /// Whether the condition holds for `context`.
    pub fn holds(&self, context: &RequestContext) -> bool {
        let present = context.values(&self.key).filter(|values| !values.is_empty());
        let Some((comparison, negated)) = self.operator.test.comparison() else {
            return self.null_holds(present.is_some());
        };
        let Some(request_values) = present else {
            return match self.operator.qualifier {
                SetQualifier::ForAllValues => true,
                SetQualifier::ForAnyValue => self.operator.if_exists,
                SetQualifier::Single => self.operator.if_exists || negated,
            };
        };
        let any_policy_value =
            |actual: &String| self.values.iter().any(|expected| comparison.matches(expected, actual));
        let passes = |actual: &String| any_policy_value(actual) != negated;
        match self.operator.qualifier {
            SetQualifier::Single => request_values.iter().any(any_policy_value) != negated,
            SetQualifier::ForAnyValue => request_values.iter().any(passes),
            SetQualifier::ForAllValues => request_values.iter().all(passes),
        }
    }

    fn null_holds(&self, present: bool) -> bool {
        self.values.iter().any(|value| {
            if value.eq_ignore_ascii_case("true") {
                !present
            } else if value.eq_ignore_ascii_case("false") {
                present
            } else {
                false
            }
        })
    }
}

/// Parses a `Condition` block: `{ "<Operator>": { "<key>": value | [values] } }`.
pub(super) fn parse_conditions(block: &Value) -> Result<Vec<Condition>, PolicyError> {
    let operators = block
        .as_object()
        .ok_or_else(|| wrong_type("Condition", "a JSON object"))?;
    let mut conditions = Vec::new();
    for (name, keys) in operators {
        let operator = Operator::parse(name).ok_or_else(|| PolicyError::UnknownConditionOperator(name.clone()))?;
        let element = format!("Condition.{name}");
        let keys = keys.as_object().ok_or_else(|| wrong_type(&element, "a JSON object"))?;
        for (key, values) in keys {
            if operator.qualifier == SetQualifier::ForAllValues
                && key.to_ascii_lowercase().starts_with("kms:encryptioncontext:")
            {
                return Err(PolicyError::OverlyPermissiveCondition);
            }
            let values = condition_values(values, &element)?;
            conditions.push(Condition {
                operator,
                key: key.clone(),
                values,
            });
        }
    }
    Ok(conditions)
}

/// A condition value or array of values: strings, booleans and numbers, kept as text.
fn condition_values(value: &Value, element: &str) -> Result<Vec<String>, PolicyError> {
    let scalar = |value: &Value| match value {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(wrong_type(element, "strings, booleans or numbers")),
    };
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}
