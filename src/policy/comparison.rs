//! One comparison between a policy value and a request value, per IAM operator family.
//!
//! Owns: string (exact, case-insensitive, wildcard), numeric, date (ISO 8601 or epoch seconds),
//! boolean, binary, IP address (CIDR) and ARN comparisons, all in their *positive* form.
//!
//! Does not: handle negation, missing keys, `IfExists` or set qualifiers (see
//! [`super::condition`]). A value that does not parse as the operator's type never matches.

use std::net::IpAddr;

use super::matching::{matches_arn, wildcard_match};

/// The positive comparison behind an operator (`StringNotLike` uses [`Comparison::StringLike`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparison {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Numeric(Ordering),
    Date(Ordering),
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
}

/// The relation a numeric or date comparison asks for: request value `<relation>` policy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ordering {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Comparison {
    /// Whether request value `actual` satisfies the comparison against policy value `expected`.
    pub(super) fn matches(self, expected: &str, actual: &str) -> bool {
        match self {
            Comparison::StringEquals => expected == actual,
            Comparison::StringEqualsIgnoreCase => expected.to_lowercase() == actual.to_lowercase(),
            Comparison::StringLike => wildcard_match(expected, actual, false),
            Comparison::Numeric(ordering) => match (parse_number(actual), parse_number(expected)) {
                (Some(actual), Some(expected)) => ordering.holds(actual, expected),
                _ => false,
            },
            Comparison::Date(ordering) => match (parse_date(actual), parse_date(expected)) {
                (Some(actual), Some(expected)) => ordering.holds(actual, expected),
                _ => false,
            },
            Comparison::Bool => expected.eq_ignore_ascii_case(actual),
            Comparison::BinaryEquals => expected == actual,
            Comparison::IpAddress => ip_in_block(expected, actual),
            Comparison::ArnLike => matches_arn(expected, actual),
        }
    }
}

impl Ordering {
    fn holds<T: PartialOrd>(self, actual: T, expected: T) -> bool {
        match self {
            Ordering::Equal => actual == expected,
            Ordering::Less => actual < expected,
            Ordering::LessOrEqual => actual <= expected,
            Ordering::Greater => actual > expected,
            Ordering::GreaterOrEqual => actual >= expected,
        }
    }
}

fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'));
    let number: f64 = if plain {
        text.parse().ok()?
    } else {
        return None;
    };
    number.is_finite().then_some(number)
}

/// `actual` (an address) lies in `block` (`203.0.113.0/24`, `2001:db8::/32` or one address).
fn ip_in_block(block: &str, actual: &str) -> bool {
    let Ok(actual) = actual.trim().parse::<IpAddr>() else {
        return false;
    };
    let (network, prefix) = match block.trim().split_once('/') {
        Some((network, prefix)) => match prefix.parse::<u32>() {
            Ok(prefix) => (network, Some(prefix)),
            Err(_) => return false,
        },
        None => (block.trim(), None),
    };
    let Ok(network) = network.parse::<IpAddr>() else {
        return false;
    };
    let (network, actual, width) = match (network, actual) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    let prefix = prefix.unwrap_or(width);
    if prefix > width {
        return false;
    }
    let shift = width - prefix;
    shift >= 128 || (network >> shift) == (actual >> shift)
}

/// Milliseconds since the Unix epoch for epoch seconds (`1700000000`) or ISO 8601 dates
/// (`2024-01-31`, `2024-01-31T12:00:00Z`, `2024-01-31T12:00:00.250+02:00`).
pub(super) fn parse_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(1000);
    }
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let days = parse_civil_date(date)?;
    let millis = match time {
        Some(time) => parse_time_of_day(time)?,
        None => 0,
    };
    days.checked_mul(86_400_000)?.checked_add(millis)
}

fn parse_civil_date(date: &str) -> Option<i64> {
    let mut fields = date.split('-');
    let year: i64 = digits(fields.next()?, 4)?;
    let month: i64 = digits(fields.next()?, 2)?;
    let day: i64 = digits(fields.next()?, 2)?;
    if fields.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// `HH:MM[:SS[.fff]]` followed by `Z` or `±HH:MM`; milliseconds since midnight UTC (may be
/// negative or beyond a day after applying the offset).
fn parse_time_of_day(time: &str) -> Option<i64> {
    let (clock, offset_millis) = if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else {
        let split = time.rfind(['+', '-'])?;
        let (clock, offset) = time.split_at(split);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = offset.get(1..)?.split_once(':')?;
        let offset = digits(hours, 2)? * 3_600_000 + digits(minutes, 2)? * 60_000;
        (clock, sign * offset)
    };
    let mut fields = clock.split(':');
    let hours = digits(fields.next()?, 2)?;
    let minutes = digits(fields.next()?, 2)?;
    let (seconds, millis) = match fields.next() {
        None => (0, 0),
        Some(seconds) => match seconds.split_once('.') {
            None => (digits(seconds, 2)?, 0),
            Some((whole, fraction)) => (digits(whole, 2)?, fraction_millis(fraction)?),
        },
    };
    if fields.next().is_some() || hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    Some(((hours * 60 + minutes) * 60 + seconds) * 1000 + millis - offset_millis)
}

fn fraction_millis(fraction: &str) -> Option<i64> {
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded: String = fraction.chars().chain("000".chars()).take(3).collect();
    padded.parse().ok()
}

/// Exactly `width` ASCII digits.
fn digits(text: &str, width: usize) -> Option<i64> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_date("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_date("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
        assert_eq!(parse_date("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500));
        assert_eq!(parse_date("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2023-13-01"), None);
    }

    #[test]
    fn comparisons() {
        let less = Comparison::Date(Ordering::Less);
        assert!(less.matches("2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z"));
        assert!(!less.matches("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"));
        assert!(Comparison::Numeric(Ordering::LessOrEqual).matches("30", "7"));
        assert!(!Comparison::Numeric(Ordering::Equal).matches("7", "seven"));
        assert!(Comparison::IpAddress.matches("203.0.113.0/24", "203.0.113.9"));
        assert!(!Comparison::IpAddress.matches("203.0.113.0/24", "203.0.114.9"));
        assert!(Comparison::IpAddress.matches("0.0.0.0/0", "192.0.2.1"));
        assert!(Comparison::IpAddress.matches("2001:db8::/32", "2001:db8::1"));
        assert!(!Comparison::IpAddress.matches("2001:db8::/32", "192.0.2.1"));
        assert!(!Comparison::IpAddress.matches("192.0.2.1/x", "192.0.2.1"));
        assert!(!Comparison::IpAddress.matches("192.0.2.1/33", "192.0.2.1"));
        assert!(Comparison::IpAddress.matches("192.0.2.1", "192.0.2.1"));
        assert!(Comparison::Bool.matches("true", "TRUE"));
        assert!(Comparison::StringEqualsIgnoreCase.matches("ÀB", "àb"));
    }
}
