//! Request timestamps: `x-amz-date` (`20130524T000000Z`) and the RFC 1123 `Date` header
//! (`Fri, 24 May 2013 00:00:00 GMT`) used when `x-amz-date` is absent.
//!
//! Owns the civil-calendar arithmetic (proleptic Gregorian, UTC, no leap seconds).
//! Does not read the clock or judge skew; the caller compares [`AmzDate::unix_seconds`]
//! with its own "now".
//!
//! Invariant: an [`AmzDate`] always holds a valid instant in years 0000..=9999, so
//! [`AmzDate`]'s `Display` round-trips through [`AmzDate::parse`].

use std::fmt;

/// Why a timestamp did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmzDateError {
    /// Not of the shape `YYYYMMDDTHHMMSSZ` (or the RFC 1123 shape for `Date`).
    #[error("timestamp is not in the expected format")]
    Format,
    /// The shape is right but a field is out of range (month 13, 31 April, hour 24, …).
    #[error("timestamp names a date or time that does not exist")]
    OutOfRange,
}

/// A request timestamp, to the second, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmzDate {
    unix_seconds: i64,
}

/// Smallest and largest instants representable with a four-digit year.
const MIN_UNIX: i64 = -62_167_219_200; // 0000-01-01T00:00:00Z
const MAX_UNIX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl AmzDate {
    /// Parses the ISO 8601 basic form used by SigV4: `20130524T000000Z`.
    pub fn parse(text: &str) -> Result<Self, AmzDateError> {
        let bytes = text.as_bytes();
        if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
            return Err(AmzDateError::Format);
        }
        let year = digits(&bytes[0..4])?;
        let month = digits(&bytes[4..6])?;
        let day = digits(&bytes[6..8])?;
        let hour = digits(&bytes[9..11])?;
        let minute = digits(&bytes[11..13])?;
        let second = digits(&bytes[13..15])?;
        Self::from_civil(year, month, day, (hour, minute, second))
    }

    /// Parses the RFC 1123 form of the HTTP `Date` header: `Fri, 24 May 2013 00:00:00 GMT`.
    ///
    /// The weekday must be a weekday name but is not checked against the date (clients that
    /// get it wrong are still signing the exact string they sent). `GMT`, `UTC` and `+0000`
    /// are accepted as the zone, as S3 does for SigV2 clients.
    pub fn parse_rfc1123(text: &str) -> Result<Self, AmzDateError> {
        let (weekday, rest) = text.split_once(", ").ok_or(AmzDateError::Format)?;
        if !WEEKDAYS.contains(&weekday) {
            return Err(AmzDateError::Format);
        }
        let fields: Vec<&str> = rest.split(' ').collect();
        let [day, month, year, time, zone] = fields.as_slice() else {
            return Err(AmzDateError::Format);
        };
        if !matches!(*zone, "GMT" | "UTC" | "+0000") || !(1..=2).contains(&day.len()) {
            return Err(AmzDateError::Format);
        }
        let month_index = MONTHS.iter().position(|name| name == month);
        let month = month_index.ok_or(AmzDateError::Format)? as u32 + 1;
        let time = time.as_bytes();
        if year.len() != 4 || time.len() != 8 || time[2] != b':' || time[5] != b':' {
            return Err(AmzDateError::Format);
        }
        let clock = (digits(&time[0..2])?, digits(&time[3..5])?, digits(&time[6..8])?);
        Self::from_civil(digits(year.as_bytes())?, month, digits(day.as_bytes())?, clock)
    }

    /// The instant `unix_seconds` after the epoch, if its year has four digits.
    pub fn from_unix_seconds(unix_seconds: i64) -> Option<Self> {
        (MIN_UNIX..=MAX_UNIX)
            .contains(&unix_seconds)
            .then_some(Self { unix_seconds })
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// The `YYYYMMDD` date stamp used in the credential scope.
    pub fn date_stamp(self) -> String {
        let (year, month, day) = civil_from_days(self.unix_seconds.div_euclid(86_400));
        format!("{year:04}{month:02}{day:02}")
    }

    fn from_civil(year: u32, month: u32, day: u32, clock: (u32, u32, u32)) -> Result<Self, AmzDateError> {
        let (hour, minute, second) = clock;
        let valid_day = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        if !valid_day || hour > 23 || minute > 59 || second > 59 {
            return Err(AmzDateError::OutOfRange);
        }
        let days = days_from_civil(i64::from(year), month, day);
        let seconds = i64::from(hour * 3600 + minute * 60 + second);
        Ok(Self {
            unix_seconds: days * 86_400 + seconds,
        })
    }
}

impl fmt::Display for AmzDate {
    /// Formats as `YYYYMMDDTHHMMSSZ`, the form that goes into strings to sign.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days(self.unix_seconds.div_euclid(86_400));
        let second_of_day = self.unix_seconds.rem_euclid(86_400);
        let (hour, minute, second) = (second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
        write!(f, "{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
    }
}

/// Parses ASCII decimal digits only (no sign, no spaces).
fn digits(bytes: &[u8]) -> Result<u32, AmzDateError> {
    bytes.iter().try_fold(0u32, |acc, &byte| {
        if byte.is_ascii_digit() {
            Ok(acc * 10 + u32::from(byte - b'0'))
        } else {
            Err(AmzDateError::Format)
        }
    })
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm: years start in March so
/// the leap day is last, and 400-year eras repeat exactly).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aws_example_timestamp() {
        let date = AmzDate::parse("20130524T000000Z").unwrap();
        assert_eq!(date.unix_seconds(), 1_369_353_600);
        assert_eq!(date.date_stamp(), "20130524");
        assert_eq!(date.to_string(), "20130524T000000Z");
    }

    #[test]
    fn rfc1123_matches_iso_form() {
        let header = AmzDate::parse_rfc1123("Fri, 24 May 2013 00:00:00 GMT").unwrap();
        assert_eq!(header, AmzDate::parse("20130524T000000Z").unwrap());
        let v2 = AmzDate::parse_rfc1123("Tue, 27 Mar 2007 19:36:42 +0000").unwrap();
        assert_eq!(v2.to_string(), "20070327T193642Z");
    }

    #[test]
    fn rejects_impossible_dates() {
        for text in [
            "20130229T000000Z",
            "20131301T000000Z",
            "20130431T000000Z",
            "20130524T240000Z",
        ] {
            assert_eq!(AmzDate::parse(text), Err(AmzDateError::OutOfRange), "{text}");
        }
        assert!(AmzDate::parse("20000229T235959Z").is_ok());
        for text in ["2013-05-24T00:00:00Z", "20130524T000000", "+0130524T000000Z", ""] {
            assert_eq!(AmzDate::parse(text), Err(AmzDateError::Format), "{text}");
        }
        assert!(AmzDate::parse_rfc1123("Fri, 24 May 2013 00:00:00 PST").is_err());
        assert!(AmzDate::parse_rfc1123("Fri, 24 Foo 2013 00:00:00 GMT").is_err());
    }

    proptest! {
        #[test]
        fn display_round_trips(seconds in MIN_UNIX..=MAX_UNIX) {
            let date = AmzDate::from_unix_seconds(seconds).unwrap();
            prop_assert_eq!(AmzDate::parse(&date.to_string()), Ok(date));
        }

        #[test]
        fn parsers_never_panic(text in ".{0,40}") {
            let _ = AmzDate::parse(&text);
            let _ = AmzDate::parse_rfc1123(&text);
        }
    }
}
