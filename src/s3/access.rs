//! Who may do what on the S3 API: per-user authorization of S3 requests (L2).
//!
//! The upstream store sees one service credential, so s3kms decides every user's S3 access
//! itself, with the same policy engine as the KMS ([`crate::policy`]).
//!
//! Owns: the IAM action and resource ARN of a request ([`action`], refining
//! [`Operation::action`] for `versionId` and for the sub-resources s3kms forwards as
//! [`Operation::Other`]); the S3 condition keys put in the request context; the second check
//! that CopyObject and UploadPartCopy need on their source ([`CopySource`]); the per-key checks
//! of DeleteObjects ([`check_each_key`]); and AWS's same-account `AccessDenied` texts.
//!
//! Does not: authenticate (`auth`), check that a bucket exists, apply the bucket's default
//! encryption (the caller passes the outcome in [`AccessRequest::effective_encryption`]), or
//! decide KMS permissions (the SSE path asks the KMS as the requesting user).
//!
//! Invariants (AWS's same-account evaluation):
//! - Deny by default; an explicit `Deny` in the bucket policy or an identity policy wins.
//! - An `Allow` in the bucket policy or in one of the user's identity policies suffices.
//! - A condition key is present only when the request carries it: `s3:x-amz-server-side-encryption`
//!   is the request *header* (absent when the client relies on the bucket default, so the classic
//!   `DenyUnEncryptedObjectUploads` statement denies it), while
//!   `s3:x-amz-server-side-encryption-aws-kms-key-id` is the *effective* key ARN ("the AWS KMS key
//!   ID that Amazon S3 uses for object encryption must match the AWS KMS key ID in the policy").
//! - An [`Operation::Other`] that s3kms cannot name is authorized as action `s3:*`: only an
//!   `Allow` of `s3:*` or `*` lets it through, and only a `Deny` of those stops it.
//! - A bucket policy that cannot be read denies the request (503 / 500, never an allow).

use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;

use super::S3Error;
use super::bucket_config::settings_error;
use super::operation::Operation;
use super::route::S3Address;
use super::sse::SseAlgorithm;
use crate::buckets::BucketSettings;
use crate::identity::User;
use crate::policy::{Authorization, GrantDecision, PolicyDocument, RequestContext, ResourcePolicy, authorize};

/// What the policy needs to know about one S3 request.
#[derive(Debug, Clone, Copy)]
pub struct AccessRequest<'a> {
    /// The authenticated caller.
    pub user: &'a User,
    /// The classified operation.
    pub operation: Operation,
    /// The HTTP method (names the action of [`Operation::Other`] requests).
    pub method: &'a Method,
    /// The bucket and key the request addresses.
    pub address: &'a S3Address,
    /// The decoded query (`versionId`, `prefix`, `delimiter`, `max-keys`, sub-resources).
    pub query: &'a [(String, String)],
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
    /// For writes that create an object (PutObject, CopyObject, CreateMultipartUpload): the
    /// encryption the object gets after the bucket default is applied.
    pub effective_encryption: Option<EffectiveEncryption<'a>>,
}

/// The encryption a new object gets, after the bucket's default encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveEncryption<'a> {
    /// `AES256` or `aws:kms`.
    pub algorithm: SseAlgorithm,
    /// The KMS key ARN, for `aws:kms` (resolved from whatever form the request or default named).
    pub key_arn: Option<&'a str>,
}

/// One object named in a DeleteObjects body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectName<'a> {
    /// The key.
    pub key: &'a str,
    /// The version, when the body names one.
    pub version_id: Option<&'a str>,
}

/// The source of CopyObject / UploadPartCopy: `x-amz-copy-source`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySource {
    /// The source bucket.
    pub bucket: String,
    /// The source key.
    pub key: String,
    /// `?versionId=` of the header, when present.
    pub version_id: Option<String>,
}

/// The resource ARN of requests that name no bucket (ListBuckets). AWS's examples grant
/// `s3:ListAllMyBuckets` on `arn:aws:s3:::*` or `*`; both match this (inferred).
pub const SERVICE_RESOURCE: &str = "arn:aws:s3:::";

/// Decides whether `request` may proceed; `Err` is the 403 to send (or 503 / 500 when the
/// bucket policy cannot be read). CopyObject and UploadPartCopy also need `s3:GetObject`
/// (`s3:GetObjectVersion`) on their source, judged by the *source* bucket's policy.
///
/// DeleteObjects is authorized per key with [`check_each_key`]; calling this for it fails closed
/// with an `InternalError`.
pub async fn check(settings: &BucketSettings, request: &AccessRequest<'_>) -> Result<(), S3Error> {
    if request.operation == Operation::DeleteObjects {
        return Err(S3Error::InternalError {
            detail: "DeleteObjects is authorized per key: call access::check_each_key".to_owned(),
        });
    }
    let copy_source = copy_source(request)?;
    let policy = bucket_policy(settings, request.address.bucket.as_deref()).await?;
    let action = action(request.operation, request.method, request.address, request.query);
    let resource = resource(request.address, request.operation);
    let context = request_context(request, action, &resource, copy_source.as_ref());
    decide(request.user, policy.as_ref(), &context)?;
    if let Some(source) = copy_source {
        let source_policy = if request.address.bucket.as_deref() == Some(source.bucket.as_str()) {
            policy
        } else {
            bucket_policy(settings, Some(&source.bucket)).await?
        };
        let action = if source.version_id.is_some() {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        };
        let resource = format!("arn:aws:s3:::{}/{}", source.bucket, source.key);
        let context = common_context(request, action, &resource);
        decide(request.user, source_policy.as_ref(), &context)?;
    }
    Ok(())
}

/// Authorizes each object of a DeleteObjects request (`s3:DeleteObject`, or
/// `s3:DeleteObjectVersion` for a named version), in the order given. The outer `Err` is a
/// failure to read the bucket policy; an inner `Err` is that key's `AccessDenied`.
pub async fn check_each_key(
    settings: &BucketSettings,
    request: &AccessRequest<'_>,
    objects: &[ObjectName<'_>],
) -> Result<Vec<Result<(), S3Error>>, S3Error> {
    let bucket = request.address.bucket.as_deref().unwrap_or_default();
    let policy = bucket_policy(settings, Some(bucket)).await?;
    let decisions = objects
        .iter()
        .map(|object| {
            let action = if object.version_id.is_some() {
                "s3:DeleteObjectVersion"
            } else {
                "s3:DeleteObject"
            };
            let resource = format!("arn:aws:s3:::{bucket}/{}", object.key);
            let mut context = common_context(request, action, &resource);
            if let Some(version_id) = object.version_id {
                context = context.with_key("s3:versionid", vec![version_id.to_owned()]);
            }
            decide(request.user, policy.as_ref(), &context)
        })
        .collect();
    Ok(decisions)
}

impl CopySource {
    /// Parses `x-amz-copy-source`: `[/]bucket/key[?versionId=id]`, the bucket and key
    /// percent-encoded (the `?` that starts the version is not).
    pub fn parse(value: &str) -> Result<CopySource, S3Error> {
        let invalid = || S3Error::InvalidArgument {
            message: "Copy Source must mention the source bucket and key: sourcebucket/sourcekey".to_owned(),
            name: "x-amz-copy-source".to_owned(),
            value: value.to_owned(),
        };
        let (path, version_id) = match value.split_once('?') {
            Some((path, query)) => {
                let version_id = query.strip_prefix("versionId=").ok_or_else(invalid)?;
                let version_id = percent_decode_str(version_id).decode_utf8().map_err(|_| invalid())?;
                (path, Some(version_id.into_owned()))
            }
            None => (value, None),
        };
        let path = percent_decode_str(path).decode_utf8().map_err(|_| invalid())?;
        let path = path.strip_prefix('/').unwrap_or(&path);
        match path.split_once('/') {
            Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(CopySource {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version_id,
            }),
            _ => Err(invalid()),
        }
    }
}

/// The IAM action a request needs: [`Operation::action`], refined for `versionId` (AWS's
/// `…Version…` actions) and for the sub-resources of [`Operation::Other`]; `s3:*` for what
/// s3kms cannot name.
pub fn action(operation: Operation, method: &Method, address: &S3Address, query: &[(String, String)]) -> &'static str {
    use Operation::*;
    let has = |name: &str| query.iter().any(|(key, _)| key == name);
    let versioned = has("versionId");
    match operation {
        GetObject | HeadObject if versioned => "s3:GetObjectVersion",
        DeleteObject if versioned => "s3:DeleteObjectVersion",
        GetObjectTagging if versioned => "s3:GetObjectVersionTagging",
        PutObjectTagging if versioned => "s3:PutObjectVersionTagging",
        DeleteObjectTagging if versioned => "s3:DeleteObjectVersionTagging",
        GetObjectAttributes if versioned => "s3:GetObjectVersionAttributes",
        Other if address.bucket.is_none() => "s3:*",
        Other if address.key.is_some() => object_subresource_action(method, &has, versioned).unwrap_or("s3:*"),
        Other => bucket_subresource_action(method, &has).unwrap_or("s3:*"),
        _ => operation.action(),
    }
}

/// Object sub-resources s3kms forwards as [`Operation::Other`].
fn object_subresource_action(method: &Method, has: &dyn Fn(&str) -> bool, versioned: bool) -> Option<&'static str> {
    let action = match *method {
        Method::GET if has("acl") && versioned => "s3:GetObjectVersionAcl",
        Method::GET if has("acl") => "s3:GetObjectAcl",
        Method::PUT if has("acl") && versioned => "s3:PutObjectVersionAcl",
        Method::PUT if has("acl") => "s3:PutObjectAcl",
        Method::GET if has("retention") => "s3:GetObjectRetention",
        Method::PUT if has("retention") => "s3:PutObjectRetention",
        Method::GET if has("legal-hold") => "s3:GetObjectLegalHold",
        Method::PUT if has("legal-hold") => "s3:PutObjectLegalHold",
        Method::GET if has("torrent") && versioned => "s3:GetObjectVersionTorrent",
        Method::GET if has("torrent") => "s3:GetObjectTorrent",
        Method::POST if has("restore") => "s3:RestoreObject",
        _ => return None,
    };
    Some(action)
}

/// Bucket sub-resources s3kms forwards as [`Operation::Other`]: (query name, GET, PUT, DELETE
/// actions). AWS's "Required permissions for Amazon S3 API operations" confirms the cors,
/// lifecycle, tagging and website rows (a Delete needs the Put action, except DeleteBucketWebsite);
/// the other rows follow the same page's naming, unchecked (inferred).
#[rustfmt::skip]
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, Option<&str>)] = &[
    ("acl", "s3:GetBucketAcl", "s3:PutBucketAcl", None),
    ("cors", "s3:GetBucketCORS", "s3:PutBucketCORS", Some("s3:PutBucketCORS")),
    ("lifecycle", "s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration", Some("s3:PutLifecycleConfiguration")),
    ("logging", "s3:GetBucketLogging", "s3:PutBucketLogging", None),
    ("notification", "s3:GetBucketNotification", "s3:PutBucketNotification", None),
    ("replication", "s3:GetReplicationConfiguration", "s3:PutReplicationConfiguration", Some("s3:PutReplicationConfiguration")),
    ("tagging", "s3:GetBucketTagging", "s3:PutBucketTagging", Some("s3:PutBucketTagging")),
    ("versioning", "s3:GetBucketVersioning", "s3:PutBucketVersioning", None),
    ("website", "s3:GetBucketWebsite", "s3:PutBucketWebsite", Some("s3:DeleteBucketWebsite")),
    ("object-lock", "s3:GetBucketObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration", None),
    ("ownershipControls", "s3:GetBucketOwnershipControls", "s3:PutBucketOwnershipControls", Some("s3:PutBucketOwnershipControls")),
    ("publicAccessBlock", "s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock", Some("s3:PutBucketPublicAccessBlock")),
    ("accelerate", "s3:GetAccelerateConfiguration", "s3:PutAccelerateConfiguration", None),
    ("requestPayment", "s3:GetBucketRequestPayment", "s3:PutBucketRequestPayment", None),
    ("analytics", "s3:GetAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", Some("s3:PutAnalyticsConfiguration")),
    ("inventory", "s3:GetInventoryConfiguration", "s3:PutInventoryConfiguration", Some("s3:PutInventoryConfiguration")),
    ("metrics", "s3:GetMetricsConfiguration", "s3:PutMetricsConfiguration", Some("s3:PutMetricsConfiguration")),
    ("intelligent-tiering", "s3:GetIntelligentTieringConfiguration", "s3:PutIntelligentTieringConfiguration",
        Some("s3:PutIntelligentTieringConfiguration")),
];

fn bucket_subresource_action(method: &Method, has: &dyn Fn(&str) -> bool) -> Option<&'static str> {
    let (_, get, put, delete) = BUCKET_SUBRESOURCES.iter().find(|(name, ..)| has(name))?;
    match *method {
        Method::GET | Method::HEAD => Some(get),
        Method::PUT => Some(put),
        Method::DELETE => *delete,
        _ => None,
    }
}

/// The ARN the action applies to ([`SERVICE_RESOURCE`] when no bucket is named).
fn resource(address: &S3Address, operation: Operation) -> String {
    match address.bucket {
        None => SERVICE_RESOURCE.to_owned(),
        Some(_) => operation.resource(address),
    }
}

/// The bucket's policy, parsed; `None` without a bucket or a policy.
async fn bucket_policy(settings: &BucketSettings, bucket: Option<&str>) -> Result<Option<PolicyDocument>, S3Error> {
    match bucket {
        Some(bucket) => settings.policy_document(bucket).await.map_err(settings_error),
        None => Ok(None),
    }
}

/// The copy source of CopyObject and UploadPartCopy; `None` for other operations.
fn copy_source(request: &AccessRequest<'_>) -> Result<Option<CopySource>, S3Error> {
    if !matches!(request.operation, Operation::CopyObject | Operation::UploadPartCopy) {
        return Ok(None);
    }
    let value = header(request.headers, "x-amz-copy-source").unwrap_or_default();
    CopySource::parse(value).map(Some)
}

/// Allowed, or AWS's `AccessDenied` with the reason.
fn decide(user: &User, bucket_policy: Option<&PolicyDocument>, context: &RequestContext) -> Result<(), S3Error> {
    let resource_policy = bucket_policy.map_or(ResourcePolicy::None, ResourcePolicy::Bucket);
    let outcome = authorize(resource_policy, &user.policies, GrantDecision::NotApplicable, context);
    match denial_message(outcome, &user.arn, context.action(), context.resource()) {
        None => Ok(()),
        Some(message) => Err(S3Error::AccessDeniedWithMessage { message }),
    }
}

/// S3's enhanced same-account text: `User: <arn> is not authorized to perform: <action> on
/// resource: "<arn>" <reason>` (the resource in quotes, unlike KMS's text); without a resource
/// for `s3:ListAllMyBuckets`. Source: AWS, "Troubleshoot access denied (403 Forbidden) errors in
/// Amazon S3", and messages clients logged from S3.
fn denial_message(outcome: Authorization, principal_arn: &str, action: &str, resource: &str) -> Option<String> {
    let reason = match outcome {
        Authorization::Allowed => return None,
        Authorization::ExplicitDenyInResourcePolicy => "with an explicit deny in a resource-based policy".to_owned(),
        Authorization::ExplicitDenyInIdentityPolicy => "with an explicit deny in an identity-based policy".to_owned(),
        Authorization::NoResourcePolicyAllows => format!("because no resource-based policy allows the {action} action"),
        Authorization::NoIdentityPolicyAllows => format!("because no identity-based policy allows the {action} action"),
    };
    let on = if resource == SERVICE_RESOURCE {
        String::new()
    } else {
        format!(" on resource: \"{resource}\"")
    };
    Some(format!(
        "User: {principal_arn} is not authorized to perform: {action}{on} {reason}"
    ))
}

/// The full context of the request itself: the common keys plus the operation's S3 keys.
fn request_context(
    request: &AccessRequest<'_>,
    action: &str,
    resource: &str,
    copy_source: Option<&CopySource>,
) -> RequestContext {
    let headers = request.headers;
    let effective_key = match request.effective_encryption {
        Some(EffectiveEncryption {
            algorithm: SseAlgorithm::AwsKms,
            key_arn,
        }) => key_arn,
        _ => None,
    };
    let copied = copy_source.map(|source| format!("{}/{}", source.bucket, source.key));
    let mut keys = vec![
        (
            "s3:x-amz-server-side-encryption",
            header(headers, "x-amz-server-side-encryption"),
        ),
        ("s3:x-amz-server-side-encryption-aws-kms-key-id", effective_key),
        ("s3:x-amz-acl", header(headers, "x-amz-acl")),
        (
            "s3:x-amz-metadata-directive",
            header(headers, "x-amz-metadata-directive"),
        ),
        ("s3:x-amz-copy-source", copied.as_deref()),
        ("s3:versionid", query_value(request.query, "versionId")),
    ];
    if matches!(
        request.operation,
        Operation::ListObjects | Operation::ListObjectsV2 | Operation::ListObjectVersions
    ) {
        keys.push(("s3:prefix", query_value(request.query, "prefix")));
        keys.push(("s3:delimiter", query_value(request.query, "delimiter")));
        keys.push(("s3:max-keys", query_value(request.query, "max-keys")));
    }
    keys.into_iter().fold(
        common_context(request, action, resource),
        |context, (name, value)| match value {
            Some(value) => context.with_key(name, vec![value.to_owned()]),
            None => context,
        },
    )
}

/// The keys every S3 request carries: the principal's (from [`RequestContext::new`]),
/// `aws:SecureTransport`, `s3:authType`, `s3:signatureversion`, `s3:x-amz-content-sha256`.
fn common_context(request: &AccessRequest<'_>, action: &str, resource: &str) -> RequestContext {
    let presigned = !request.headers.contains_key(http::header::AUTHORIZATION);
    let auth_type = if presigned { "REST-QUERY-STRING" } else { "REST-HEADER" };
    let sigv2 = match header(request.headers, "authorization") {
        Some(value) => value.starts_with("AWS "),
        None => query_value(request.query, "X-Amz-Algorithm").is_none(),
    };
    let mut context = RequestContext::new(request.user.principal(), action, resource)
        .with_secure_transport(request.secure_transport)
        .with_key("s3:authType", vec![auth_type.to_owned()])
        .with_key(
            "s3:signatureversion",
            vec![if sigv2 { "AWS" } else { "AWS4-HMAC-SHA256" }.to_owned()],
        );
    if let Some(sha256) = header(request.headers, "x-amz-content-sha256") {
        context = context.with_key("s3:x-amz-content-sha256", vec![sha256.to_owned()]);
    }
    context
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn query_value<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
#[path = "access_tests.rs"]
mod tests;
