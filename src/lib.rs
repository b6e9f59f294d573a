//! s3kms: an S3-compatible encrypting proxy with an embedded, AWS-compatible KMS.
//!
//! The layers, bottom to top (nothing points up; see `DESIGN.md`):
//! - L0 pure core: [`sigv4`], [`policy`], [`format`], [`checksum`], [`crypto`];
//! - L1 domain: [`identity`], [`kms`], [`buckets`], [`upstream`], [`http`];
//! - L2 inbound APIs: [`s3`], [`kms_api`]; and [`kms_client`], a client of the KMS API (for
//!   `s3kms keys`);
//! - L3 bootstrap: [`config`], [`server`], and the `s3kms` binary.

pub mod buckets;
pub mod checksum;
pub mod config;
pub mod crypto;
pub mod format;
pub mod http;
pub mod identity;
pub mod kms;
pub mod kms_api;
pub mod kms_client;
pub mod metrics;
pub mod policy;
pub mod s3;
pub mod server;
pub mod sigv4;
pub mod upstream;
pub mod xml;
