//! KMS request JSON: any operation name and body must give a typed call or a KMS error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

const OPERATIONS: &[&str] = &[
    "CreateKey", "DescribeKey", "ListKeys", "EnableKey", "ScheduleKeyDeletion", "CreateAlias", "ListAliases",
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateRandom", "PutKeyPolicy", "EnableKeyRotation",
    "CreateGrant", "RetireGrant", "TagResource", "UntagResource", "ListGrants", "Unknown",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let operation = OPERATIONS[usize::from(selector) % OPERATIONS.len()];
    let _ = s3kms::kms_api::parse_call(operation, body);
});
