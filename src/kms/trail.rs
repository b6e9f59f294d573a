//! Reading the KMS audit trail back (`s3kms audit`).
//!
//! Owns: choosing the daily trail files (`kms-YYYY-MM-DD.jsonl`) whose day can overlap a time
//! range, parsing each line into a [`Record`], and the [`Query`] that selects records on key,
//! principal, event, outcome and time at once — the query CloudTrail's LookupEvents cannot
//! make (it filters on one attribute at a time). Also parses the times an operator types.
//!
//! Does not: write the trail ([`super::audit`] does), print, or read the clock (callers pass
//! "now"). Reads nothing but trail files and, for an alias, the key store's alias records.
//!
//! Invariants: a line that does not parse (a crash can truncate the last one) is skipped and
//! counted, never an error; a file whose day cannot hold a record in the range is not opened.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::model::AliasRecord;
use super::resolve::{KeyRef, Scope};
use crate::sigv4::AmzDate;

const DAY: i64 = 86_400;
/// How late a record may land in the next day's file: its time is taken just before the
/// write picks the file, so a call made at 23:59:59 can be written after midnight.
const MIDNIGHT_SLACK: i64 = 60;
/// `requestParameters` members that name a key, in any form.
const KEY_MEMBERS: &[&str] = &["keyId", "sourceKeyId", "destinationKeyId", "targetKeyId", "aliasName"];

/// Why the trail could not be queried.
#[derive(Debug, thiserror::Error)]
pub enum TrailError {
    /// A time the operator typed is neither RFC 3339 nor relative.
    #[error("'{0}' is not a time: use RFC 3339 (2026-11-28T22:00:00Z), a date (2026-11-28) or -30m, -1h, -7d")]
    Time(String),
    /// A trail file, the trail directory or the alias records could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

/// Which calls to keep, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutcomeFilter {
    /// Allowed and failed calls.
    #[default]
    Any,
    /// Only calls that failed (the record has an `errorCode`).
    Failed,
}

/// What a call came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Ok,
    /// It failed with this AWS error code (e.g. `AccessDeniedException`).
    Failed(String),
}

/// Which records to select; every criterion that is set must hold.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Calls on these keys.
    pub key: Option<KeySelector>,
    /// Calls by this principal: user ARN, user name or access key id.
    pub principal: Option<String>,
    /// Calls of this operation (case-insensitive).
    pub event: Option<String>,
    /// Calls with this outcome.
    pub outcome: OutcomeFilter,
    /// Calls at or after this time (unix seconds).
    pub since: Option<i64>,
    /// Calls at or before this time (unix seconds).
    pub until: Option<i64>,
}

impl Query {
    /// Whether `record` is selected.
    pub fn matches(&self, record: &Record) -> bool {
        let identity = &record.fields.user_identity;
        self.since.is_none_or(|since| record.time >= since)
            && self.until.is_none_or(|until| record.time <= until)
            && (self.outcome == OutcomeFilter::Any || record.fields.error_code.is_some())
            && self
                .event
                .as_ref()
                .is_none_or(|event| event.eq_ignore_ascii_case(&record.fields.event_name))
            && self.principal.as_ref().is_none_or(|principal| {
                [&identity.arn, &identity.user_name, &identity.access_key_id].contains(&principal)
            })
            && self
                .key
                .as_ref()
                .is_none_or(|key| record.key_names.iter().any(|name| key.matches(name)))
    }
}

/// The keys `--key` selects, whatever form a record names them in.
#[derive(Debug, Clone)]
pub struct KeySelector {
    text: String,
    wanted: Vec<KeyRef>,
    scope: Scope,
}

impl KeySelector {
    /// Selects the key or alias `text` names (key id, key ARN, alias name or alias ARN).
    pub fn new(text: &str, scope: Scope) -> KeySelector {
        KeySelector {
            text: text.to_owned(),
            wanted: scope.parse(text).into_iter().collect(),
            scope,
        }
    }

    /// The alias name, if `text` names an alias.
    pub fn alias(&self) -> Option<&str> {
        self.wanted.iter().find_map(|wanted| match wanted {
            KeyRef::Alias(name) => Some(name.as_str()),
            KeyRef::Key(_) => None,
        })
    }

    /// Also selects the key `key_id` (the key the alias points to now).
    pub fn with_key(mut self, key_id: &str) -> KeySelector {
        self.wanted.push(KeyRef::Key(key_id.to_owned()));
        self
    }

    fn matches(&self, name: &str) -> bool {
        name == self.text || self.scope.parse(name).is_ok_and(|named| self.wanted.contains(&named))
    }
}

/// One audit record as read back.
#[derive(Debug, Clone)]
pub struct Record {
    /// The line exactly as written, without its newline.
    pub line: String,
    /// `eventTime`, unix seconds.
    pub time: i64,
    key_names: Vec<String>,
    fields: Fields,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fields {
    event_time: String,
    event_name: String,
    user_identity: Identity,
    #[serde(default)]
    request_parameters: Value,
    #[serde(default)]
    resources: Vec<Resource>,
    error_code: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    #[serde(default)]
    arn: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    access_key_id: String,
    invoked_by: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Resource {
    #[serde(rename = "ARN")]
    arn: String,
}

impl Record {
    /// Parses one trail line; `None` if it is not a whole record.
    pub fn parse(line: &str) -> Option<Record> {
        let fields: Fields = serde_json::from_str(line).ok()?;
        let time = rfc3339(&fields.event_time)?;
        let logged = KEY_MEMBERS
            .iter()
            .filter_map(|member| fields.request_parameters.get(member)?.as_str());
        let key_names = fields
            .resources
            .iter()
            .map(|resource| resource.arn.as_str())
            .chain(logged)
            .map(str::to_owned)
            .collect();
        Some(Record {
            line: line.to_owned(),
            time,
            key_names,
            fields,
        })
    }

    /// The operation (`eventName`).
    pub fn event_name(&self) -> &str {
        &self.fields.event_name
    }

    /// Whether the call succeeded.
    pub fn outcome(&self) -> Outcome {
        match &self.fields.error_code {
            Some(code) => Outcome::Failed(code.clone()),
            None => Outcome::Ok,
        }
    }

    /// One row of the human table: time, event, principal, key, outcome.
    pub fn row(&self) -> String {
        let identity = &self.fields.user_identity;
        let mut principal = if identity.user_name.is_empty() {
            identity.arn.clone()
        } else {
            identity.user_name.clone()
        };
        if let Some(service) = &identity.invoked_by {
            principal = format!("{principal} via {}", service.trim_end_matches(".amazonaws.com"));
        }
        let keys: Vec<&str> = self
            .fields
            .resources
            .iter()
            .map(|resource| {
                resource
                    .arn
                    .rsplit_once(":key/")
                    .map_or(resource.arn.as_str(), |(_, id)| id)
            })
            .collect();
        let key = match (keys.is_empty(), self.key_names.first()) {
            (false, _) => keys.join(","),
            (true, Some(named)) => named.clone(),
            (true, None) => "-".to_owned(),
        };
        let outcome = self.fields.error_code.as_deref().unwrap_or("ok");
        table_row([
            self.fields.event_time.as_str(),
            self.fields.event_name.as_str(),
            principal.as_str(),
            key.as_str(),
            outcome,
        ])
    }
}

/// The header of the human table.
pub fn table_header() -> String {
    table_row(["TIME", "EVENT", "PRINCIPAL", "KEY", "OUTCOME"])
}

fn table_row([time, event, principal, key, outcome]: [&str; 5]) -> String {
    format!("{time:<20}  {event:<31}  {principal:<16}  {key:<36}  {outcome}")
}

/// The records of `files` that `query` selects, in file order; skipped lines are counted.
pub struct Records<'q> {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, BufReader<File>, usize)>,
    query: &'q Query,
    skipped: Vec<(PathBuf, usize)>,
    buffer: Vec<u8>,
}

impl<'q> Records<'q> {
    /// Reads `files` (see [`files`]) for `query`.
    pub fn new(files: Vec<PathBuf>, query: &'q Query) -> Records<'q> {
        Records {
            files: files.into_iter(),
            current: None,
            query,
            skipped: Vec::new(),
            buffer: Vec::new(),
        }
    }

    /// The files read so far that had lines which did not parse, with how many.
    pub fn skipped(&self) -> &[(PathBuf, usize)] {
        &self.skipped
    }

    fn finish_file(&mut self) {
        if let Some((path, _, skipped)) = self.current.take()
            && skipped > 0
        {
            self.skipped.push((path, skipped));
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, TrailError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, reader, skipped)) = &mut self.current else {
                let path = self.files.next()?;
                match File::open(&path) {
                    Ok(file) => self.current = Some((path, BufReader::new(file), 0)),
                    Err(source) => return Some(Err(TrailError::Io { path, source })),
                }
                continue;
            };
            self.buffer.clear();
            match reader.read_until(b'\n', &mut self.buffer) {
                Ok(0) => self.finish_file(),
                Ok(_) => {
                    let line = std::str::from_utf8(&self.buffer).map(str::trim_end);
                    match line.ok().filter(|line| !line.is_empty()).map(Record::parse) {
                        Some(Some(record)) if self.query.matches(&record) => return Some(Ok(record)),
                        Some(Some(_)) => {}
                        Some(None) => *skipped += 1,
                        None if line.is_err() => *skipped += 1,
                        None => {}
                    }
                }
                Err(source) => {
                    let path = path.clone();
                    self.finish_file();
                    return Some(Err(TrailError::Io { path, source }));
                }
            }
        }
    }
}

/// The trail files in `directory` whose day can hold a record in `[since, until]`, oldest
/// first.
pub fn files(directory: &Path, since: Option<i64>, until: Option<i64>) -> Result<Vec<PathBuf>, TrailError> {
    let io_error = |source| TrailError::Io {
        path: directory.to_owned(),
        source,
    };
    let mut days = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name();
        let Some(day) = name.to_str().and_then(file_day) else {
            continue;
        };
        if day_overlaps(day, since, until) {
            days.push((day, entry.path()));
        }
    }
    days.sort();
    Ok(days.into_iter().map(|(_, path)| path).collect())
}

/// Midnight (unix seconds) of the day a trail file name is for.
fn file_day(name: &str) -> Option<i64> {
    let date = name.strip_prefix("kms-")?.strip_suffix(".jsonl")?;
    if date.len() != 10 {
        return None;
    }
    rfc3339(&format!("{date}T00:00:00Z"))
}

fn day_overlaps(day: i64, since: Option<i64>, until: Option<i64>) -> bool {
    since.is_none_or(|since| since < day + DAY) && until.is_none_or(|until| day <= until + MIDNIGHT_SLACK)
}

/// The key an alias points to now, from the alias records under `key_store` (the KMS's
/// `<data_dir>/kms`); `None` if there is no such alias. Records that do not parse are ignored.
pub fn alias_target(key_store: &Path, alias_name: &str) -> Result<Option<String>, TrailError> {
    let directory = key_store.join("aliases");
    let entries = match std::fs::read_dir(&directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TrailError::Io {
                path: directory,
                source,
            });
        }
    };
    for entry in entries.flatten() {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if let Ok(alias) = serde_json::from_slice::<AliasRecord>(&bytes)
            && alias.alias_name == alias_name
        {
            return Ok(Some(alias.target_key_id));
        }
    }
    Ok(None)
}

/// Parses a time the operator typed: RFC 3339 (`2026-11-28T22:00:00Z`, any offset, fractions
/// of a second dropped), a full date (`2026-11-28`, midnight UTC), or a time before `now`
/// (unix seconds): `-90s`, `-30m`, `-1h`, `-7d`.
pub fn parse_time(text: &str, now: i64) -> Result<i64, TrailError> {
    let parsed = match text.strip_prefix('-') {
        Some(relative) => relative_seconds(relative).and_then(|ago| now.checked_sub(ago)),
        None if text.len() == 10 => rfc3339(&format!("{text}T00:00:00Z")),
        None => rfc3339(text),
    };
    parsed.ok_or_else(|| TrailError::Time(text.to_owned()))
}

fn relative_seconds(text: &str) -> Option<i64> {
    let (count, unit) = text.split_at_checked(text.len().checked_sub(1)?)?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => DAY,
        _ => return None,
    };
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    count.parse::<i64>().ok()?.checked_mul(scale)
}

/// Unix seconds of an RFC 3339 date-time: `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`.
fn rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if !text.is_ascii() || bytes.len() < 20 || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if bytes[4] != b'-' || bytes[7] != b'-' || bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let compact = format!(
        "{}{}{}T{}{}{}Z",
        &text[0..4],
        &text[5..7],
        &text[8..10],
        &text[11..13],
        &text[14..16],
        &text[17..19]
    );
    let instant = AmzDate::parse(&compact).ok()?.unix_seconds();
    let mut zone = &text[19..];
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = &fraction[digits..];
    }
    Some(instant - zone_offset(zone)?)
}

/// Seconds east of UTC of `Z` or `±hh:mm`.
fn zone_offset(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let (sign, clock) = match zone.split_at_checked(1)? {
        ("+", clock) => (1, clock),
        ("-", clock) => (-1, clock),
        _ => return None,
    };
    let (hours, minutes) = clock.split_once(':')?;
    let valid = |part: &str, max: i64| {
        (part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<i64>().ok())
            .flatten()
            .filter(|value| *value <= max)
    };
    Some(sign * (valid(hours, 23)? * 3600 + valid(minutes, 59)? * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const OTHER: &str = "0000abcd-12ab-34cd-56ef-1234567890ab";
    const NOW: i64 = 1_796_083_200; // 2026-12-01T00:00:00Z

    fn scope() -> Scope {
        Scope {
            account_id: "111122223333".into(),
            region: "us-east-1".into(),
        }
    }

    fn line(time: &str, event: &str, user: &str, key_id: &str, resources: &[&str], error: Option<&str>) -> String {
        let mut record = serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "arn": format!("arn:aws:iam::111122223333:user/{user}"),
                "accountId": "111122223333",
                "accessKeyId": format!("AKIA{}", user.to_uppercase()),
                "userName": user,
            },
            "eventTime": time,
            "eventSource": "kms.amazonaws.com",
            "eventName": event,
            "requestParameters": {"keyId": key_id, "encryptionContext": {"keyId": "not a key"}},
            "responseElements": null,
            "requestID": "r",
            "resources": resources
                .iter()
                .map(|id| serde_json::json!({"type": "AWS::KMS::Key", "ARN": scope().key_arn(id)}))
                .collect::<Vec<_>>(),
        });
        if let Some(code) = error {
            record["errorCode"] = code.into();
            record["errorMessage"] = "denied".into();
        }
        record.to_string()
    }

    fn record(line: &str) -> Record {
        Record::parse(line).expect("record parses")
    }

    fn key_query(text: &str) -> Query {
        Query {
            key: Some(KeySelector::new(text, scope())),
            ..Query::default()
        }
    }

    #[test]
    fn times_parse_in_every_accepted_form() {
        assert_eq!(parse_time("2026-12-01T00:00:00Z", 0).unwrap(), NOW);
        assert_eq!(parse_time("2026-12-01t00:00:00.250z", 0).unwrap(), NOW);
        assert_eq!(parse_time("2026-12-01T02:30:00+02:30", 0).unwrap(), NOW);
        assert_eq!(parse_time("2026-11-30T22:00:00-02:00", 0).unwrap(), NOW);
        assert_eq!(parse_time("2026-12-01", 0).unwrap(), NOW);
        assert_eq!(parse_time("-90s", NOW).unwrap(), NOW - 90);
        assert_eq!(parse_time("-30m", NOW).unwrap(), NOW - 1800);
        assert_eq!(parse_time("-1h", NOW).unwrap(), NOW - 3600);
        assert_eq!(parse_time("-7d", NOW).unwrap(), NOW - 7 * DAY);
    }

    #[test]
    fn malformed_times_are_refused_with_the_text() {
        for text in [
            "",
            "-",
            "-h",
            "-1",
            "-1w",
            "--1h",
            "-+1h",
            "-1.5h",
            "yesterday",
            "2026-12-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:00:00.Z",
            "2026-12-01T00:00:00+2:00",
            "2026-12-01T00:00:00+24:00",
            "2026/12/01",
            "2026-12-01T00:00:00Zé",
            "-99999999999999999999d",
        ] {
            let error = parse_time(text, NOW).unwrap_err();
            assert!(matches!(&error, TrailError::Time(t) if t == text), "{text:?}: {error}");
        }
    }

    #[test]
    fn file_days_and_overlap_include_the_midnight_straggler() {
        assert_eq!(file_day("kms-2026-12-01.jsonl"), Some(NOW));
        assert_eq!(file_day("kms-2026-12-1.jsonl"), None);
        assert_eq!(file_day("kms-2026-12-01.jsonl.tmp"), None);
        assert!(day_overlaps(NOW, None, None));
        assert!(day_overlaps(NOW, Some(NOW + DAY - 1), None));
        assert!(!day_overlaps(NOW, Some(NOW + DAY), None));
        assert!(day_overlaps(NOW, None, Some(NOW)));
        assert!(
            day_overlaps(NOW, None, Some(NOW - 30)),
            "a 23:59:59 call can be in the next file"
        );
        assert!(!day_overlaps(NOW, None, Some(NOW - 3600)));
    }

    #[test]
    fn truncated_and_foreign_lines_do_not_parse() {
        let whole = line("2026-12-01T00:00:00Z", "Decrypt", "alice", KEY, &[KEY], None);
        assert!(Record::parse(&whole).is_some());
        assert!(Record::parse(&whole[..whole.len() - 10]).is_none());
        assert!(Record::parse(r#"{"eventName": "Decrypt"}"#).is_none());
        assert!(Record::parse(&whole.replace("2026-12-01T00:00:00Z", "yesterday")).is_none());
    }

    #[test]
    fn keys_match_in_every_form_but_not_in_user_data() {
        let by_alias = record(&line(
            "2026-12-01T00:00:00Z",
            "Encrypt",
            "alice",
            "alias/app",
            &[KEY],
            None,
        ));
        let by_id = record(&line("2026-12-01T00:00:00Z", "Decrypt", "alice", KEY, &[KEY], None));
        let unresolved = record(&line(
            "2026-12-01T00:00:00Z",
            "Encrypt",
            "bob",
            "alias/gone",
            &[],
            Some("NotFoundException"),
        ));
        let other = record(&line("2026-12-01T00:00:00Z", "Decrypt", "alice", OTHER, &[OTHER], None));
        for form in [KEY.to_owned(), scope().key_arn(KEY)] {
            let query = key_query(&form);
            assert!(query.matches(&by_alias) && query.matches(&by_id), "{form}");
            assert!(!query.matches(&other) && !query.matches(&unresolved), "{form}");
        }
        for form in ["alias/app".to_owned(), scope().alias_arn("alias/app")] {
            let query = key_query(&form);
            assert!(query.matches(&by_alias) && !query.matches(&by_id), "{form}");
        }
        assert!(key_query("alias/gone").matches(&unresolved));
        assert!(
            !key_query("not a key").matches(&by_alias),
            "context values are user data"
        );
    }

    #[test]
    fn an_alias_also_selects_the_key_it_points_to() {
        let selector = KeySelector::new("alias/app", scope());
        assert_eq!(selector.alias(), Some("alias/app"));
        assert_eq!(KeySelector::new(KEY, scope()).alias(), None);
        let query = Query {
            key: Some(selector.with_key(KEY)),
            ..Query::default()
        };
        let by_id = record(&line("2026-12-01T00:00:00Z", "Decrypt", "alice", KEY, &[KEY], None));
        let other = record(&line("2026-12-01T00:00:00Z", "Decrypt", "alice", OTHER, &[OTHER], None));
        assert!(query.matches(&by_id) && !query.matches(&other));
    }

    #[test]
    fn principal_event_outcome_and_time_combine() {
        let denied = record(&line(
            "2026-12-01T10:00:00Z",
            "GenerateDataKey",
            "bob",
            KEY,
            &[KEY],
            Some("AccessDeniedException"),
        ));
        let query = Query {
            key: Some(KeySelector::new(KEY, scope())),
            principal: Some("bob".into()),
            event: Some("generatedatakey".into()),
            outcome: OutcomeFilter::Failed,
            since: Some(NOW),
            until: Some(NOW + 10 * 3600),
        };
        assert!(query.matches(&denied));
        for principal in ["arn:aws:iam::111122223333:user/bob", "AKIABOB"] {
            let by_other_name = Query {
                principal: Some(principal.into()),
                ..query.clone()
            };
            assert!(by_other_name.matches(&denied), "{principal}");
        }
        let misses = [
            Query {
                principal: Some("alice".into()),
                ..query.clone()
            },
            Query {
                event: Some("Decrypt".into()),
                ..query.clone()
            },
            Query {
                since: Some(NOW + 10 * 3600 + 1),
                ..query.clone()
            },
            Query {
                until: Some(NOW + 10 * 3600 - 1),
                ..query.clone()
            },
        ];
        assert!(misses.iter().all(|miss| !miss.matches(&denied)));
        let allowed = record(&line(
            "2026-12-01T10:00:00Z",
            "GenerateDataKey",
            "bob",
            KEY,
            &[KEY],
            None,
        ));
        assert!(!query.matches(&allowed));
        assert_eq!(allowed.outcome(), Outcome::Ok);
        assert_eq!(denied.outcome(), Outcome::Failed("AccessDeniedException".into()));
    }

    #[test]
    fn rows_show_key_ids_and_the_service_that_called() {
        let via_s3 = line(
            "2026-12-01T10:00:00Z",
            "GenerateDataKey",
            "alice",
            "alias/aws/s3",
            &[KEY],
            None,
        )
        .replace(
            r#""userName":"alice""#,
            r#""userName":"alice","invokedBy":"s3.amazonaws.com""#,
        );
        let row = record(&via_s3).row();
        assert!(row.starts_with("2026-12-01T10:00:00Z  GenerateDataKey "), "{row}");
        assert!(
            row.contains(" alice via s3 ") && row.contains(KEY) && row.ends_with("  ok"),
            "{row}"
        );
        let failed = record(&line(
            "2026-12-01T10:00:00Z",
            "Encrypt",
            "bob",
            "alias/gone",
            &[],
            Some("NotFoundException"),
        ));
        assert!(failed.row().contains(" alias/gone ") && failed.row().ends_with("  NotFoundException"));
        assert!(table_header().starts_with("TIME "));
    }
}
