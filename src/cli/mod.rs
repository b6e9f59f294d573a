//! Subcommands of the `s3kms` binary that are clients of a running instance.

pub mod keys;
