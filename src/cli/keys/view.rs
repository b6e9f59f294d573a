//! How `s3kms keys` shows KMS output: compact blocks and aligned tables for people, pretty
//! JSON for `--json`.
//!
//! Owns only formatting: every function takes KMS JSON output (AWS member names) and returns
//! the text to print, ending in a newline. A member the KMS left out shows as `-`.

use s3kms::sigv4::AmzDate;
use serde_json::{Value, json};

/// A row of `keys list`: DescribeKey's metadata and the names of the key's aliases.
pub struct KeyRow {
    /// DescribeKey's `KeyMetadata`.
    pub metadata: Value,
    /// Alias names, `alias/…`.
    pub aliases: Vec<String>,
}

impl KeyRow {
    /// The row as `keys list --json` prints it.
    pub fn to_json(&self) -> Value {
        json!({"KeyMetadata": self.metadata, "Aliases": self.aliases})
    }
}

/// `--json`: the document, pretty-printed.
pub fn json(document: &Value) -> String {
    let text = serde_json::to_string_pretty(document).unwrap_or_else(|_| document.to_string());
    text + "\n"
}

/// One key, a field a line.
pub fn key(metadata: &Value, aliases: &[String]) -> String {
    let mut fields = vec![
        ("Key ID", text(&metadata["KeyId"])),
        ("ARN", text(&metadata["Arn"])),
        ("State", text(&metadata["KeyState"])),
        ("Aliases", list(aliases)),
        ("Description", text(&metadata["Description"])),
        ("Created", time(&metadata["CreationDate"])),
        ("Spec", text(&metadata["KeySpec"])),
        ("Usage", text(&metadata["KeyUsage"])),
    ];
    if metadata["DeletionDate"].is_number() {
        fields.push(("Deletion", time(&metadata["DeletionDate"])));
    }
    let width = fields.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    fields
        .iter()
        .map(|(label, value)| format!("{label:width$}  {value}\n"))
        .collect()
}

/// `keys list`: one aligned line a key.
pub fn key_table(rows: &[KeyRow]) -> String {
    let lines = rows.iter().map(|row| {
        vec![
            text(&row.metadata["KeyId"]),
            text(&row.metadata["KeyState"]),
            list(&row.aliases),
            text(&row.metadata["Description"]),
        ]
    });
    table(&["KEY ID", "STATE", "ALIASES", "DESCRIPTION"], lines.collect())
}

/// `keys alias list`: one aligned line an alias.
pub fn alias_table(aliases: &[Value]) -> String {
    let lines = aliases
        .iter()
        .map(|alias| vec![text(&alias["AliasName"]), text(&alias["TargetKeyId"])]);
    table(&["ALIAS", "KEY ID"], lines.collect())
}

/// GetKeyRotationStatus, in a line.
pub fn rotation(key: &str, status: &Value) -> String {
    if status["KeyRotationEnabled"] != json!(true) {
        return format!("{key}: automatic rotation disabled\n");
    }
    let period = match status["RotationPeriodInDays"].as_i64() {
        Some(days) => format!("every {days} days"),
        None => "on".to_owned(),
    };
    match status["NextRotationDate"].is_number() {
        true => format!(
            "{key}: automatic rotation enabled, {period}, next {}\n",
            time(&status["NextRotationDate"])
        ),
        false => format!("{key}: automatic rotation enabled, {period}\n"),
    }
}

/// ScheduleKeyDeletion, in a line.
pub fn deletion_scheduled(key: &str, output: &Value) -> String {
    format!(
        "{key}: {}, deleted on {} (s3kms keys cancel-deletion {key} to keep it)\n",
        text(&output["KeyState"]),
        time(&output["DeletionDate"])
    )
}

/// Columns padded to their widest cell; the last column is not padded.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header = header.iter().map(|title| (*title).to_owned()).collect();
    std::iter::once(header)
        .chain(rows)
        .map(|row| line(&row, &widths))
        .collect()
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let mut line = String::new();
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if index + 1 == cells.len() {
            line.push_str(cell);
        } else {
            line.push_str(&format!("{cell:width$}  "));
        }
    }
    line.trim_end().to_owned() + "\n"
}

/// A string member, `-` when absent or empty.
fn text(value: &Value) -> String {
    match value.as_str() {
        Some(text) if !text.is_empty() => text.to_owned(),
        _ => "-".to_owned(),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "-".to_owned()
    } else {
        names.join(",")
    }
}

/// Seconds since the epoch (as KMS sends dates) as `2026-11-28T22:01:05Z`.
fn time(value: &Value) -> String {
    let Some(date) = value
        .as_f64()
        .and_then(|seconds| AmzDate::from_unix_seconds(seconds as i64))
    else {
        return "-".to_owned();
    };
    let compact = date.to_string();
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &compact[0..4],
        &compact[4..6],
        &compact[6..8],
        &compact[9..11],
        &compact[11..13],
        &compact[13..15]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(key_id: &str, state: &str, description: &str) -> Value {
        json!({"KeyId": key_id, "Arn": format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}"),
               "KeyState": state, "Description": description, "CreationDate": 1_764_367_265.0,
               "KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT"})
    }

    #[test]
    fn tables_align_columns_and_fill_gaps() {
        let rows = [
            KeyRow {
                metadata: metadata("k-1", "Enabled", "app data"),
                aliases: vec!["alias/app".into(), "alias/app-v2".into()],
            },
            KeyRow {
                metadata: metadata("k-22", "PendingDeletion", ""),
                aliases: vec![],
            },
        ];
        assert_eq!(
            key_table(&rows),
            "KEY ID  STATE            ALIASES                 DESCRIPTION\n\
             k-1     Enabled          alias/app,alias/app-v2  app data\n\
             k-22    PendingDeletion  -                       -\n"
        );
    }

    #[test]
    fn a_key_is_a_field_a_line_with_readable_dates() {
        let mut described = metadata("k-1", "PendingDeletion", "app data");
        described["DeletionDate"] = json!(1_766_959_265.0);
        let shown = key(&described, &["alias/app".to_owned()]);
        assert!(shown.starts_with("Key ID       k-1\n"), "{shown}");
        assert!(shown.contains("\nCreated      2025-11-28T22:01:05Z\n"), "{shown}");
        assert!(shown.contains("\nAliases      alias/app\n"), "{shown}");
        assert!(shown.ends_with("Deletion     2025-12-28T22:01:05Z\n"), "{shown}");
    }

    #[test]
    fn rotation_status_reads_as_a_sentence() {
        let enabled =
            json!({"KeyRotationEnabled": true, "RotationPeriodInDays": 90, "NextRotationDate": 1_764_367_265.0});
        assert_eq!(
            rotation("alias/app", &enabled),
            "alias/app: automatic rotation enabled, every 90 days, next 2025-11-28T22:01:05Z\n"
        );
        assert_eq!(
            rotation("k", &json!({"KeyRotationEnabled": false})),
            "k: automatic rotation disabled\n"
        );
    }
}
