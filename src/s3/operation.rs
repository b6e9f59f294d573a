//! Which S3 operation a request is, from its method, address, query and headers (pure).
//!
//! Owns: the operation names (AWS's), and the IAM action each needs (`s3:PutObject`, …) with
//! the ARN it applies to. Operations s3kms has no special handling for are still named, so
//! logs, metrics and policies see them; anything unrecognised is [`Operation::Other`].

use http::{HeaderMap, Method};

use super::route::S3Address;

/// An S3 operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Operation {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    GetBucketLocation,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    DeleteObjects,
    /// A browser-form upload (POST on the bucket, `multipart/form-data`).
    PostObject,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAttributes,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    /// Anything else (ACLs, lifecycle, versioning configuration, …): forwarded as is.
    Other,
}

impl Operation {
    /// Classifies a request.
    pub fn classify(
        method: &Method,
        address: &S3Address,
        query: &[(String, String)],
        headers: &HeaderMap,
    ) -> Operation {
        let has = |name: &str| query.iter().any(|(key, _)| key == name);
        let copy = headers.contains_key("x-amz-copy-source");
        match (&address.bucket, &address.key) {
            (None, _) if *method == Method::GET => Operation::ListBuckets,
            (None, _) => Operation::Other,
            (Some(_), None) if *method == Method::POST && query.is_empty() => Operation::PostObject,
            (Some(_), None) => bucket_operation(method, &has),
            (Some(_), Some(_)) => object_operation(method, &has, copy),
        }
    }

    /// The IAM action S3 checks for this operation (`s3:…`).
    pub fn action(self) -> &'static str {
        use Operation::*;
        match self {
            ListBuckets => "s3:ListAllMyBuckets",
            CreateBucket => "s3:CreateBucket",
            DeleteBucket => "s3:DeleteBucket",
            HeadBucket | ListObjects | ListObjectsV2 => "s3:ListBucket",
            ListObjectVersions => "s3:ListBucketVersions",
            ListMultipartUploads => "s3:ListBucketMultipartUploads",
            GetBucketLocation => "s3:GetBucketLocation",
            GetBucketEncryption => "s3:GetEncryptionConfiguration",
            PutBucketEncryption | DeleteBucketEncryption => "s3:PutEncryptionConfiguration",
            GetBucketPolicy => "s3:GetBucketPolicy",
            PutBucketPolicy => "s3:PutBucketPolicy",
            DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            DeleteObjects | DeleteObject => "s3:DeleteObject",
            PutObject
            | PostObject
            | CopyObject
            | CreateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload => "s3:PutObject",
            GetObject | HeadObject => "s3:GetObject",
            GetObjectTagging => "s3:GetObjectTagging",
            PutObjectTagging => "s3:PutObjectTagging",
            DeleteObjectTagging => "s3:DeleteObjectTagging",
            GetObjectAttributes => "s3:GetObjectAttributes",
            AbortMultipartUpload => "s3:AbortMultipartUpload",
            ListParts => "s3:ListMultipartUploadParts",
            Other => "s3:*",
        }
    }

    /// The ARN the action applies to: the object for object operations, else the bucket.
    pub fn resource(self, address: &S3Address) -> String {
        match (&address.bucket, &address.key) {
            (None, _) => "*".to_owned(),
            (Some(bucket), None) => format!("arn:aws:s3:::{bucket}"),
            (Some(bucket), Some(key)) => format!("arn:aws:s3:::{bucket}/{key}"),
        }
    }
}

fn bucket_operation(method: &Method, has: &dyn Fn(&str) -> bool) -> Operation {
    use Operation::*;
    match *method {
        Method::GET if has("encryption") => GetBucketEncryption,
        Method::GET if has("policy") => GetBucketPolicy,
        Method::GET if has("location") => GetBucketLocation,
        Method::GET if has("uploads") => ListMultipartUploads,
        Method::GET if has("versions") => ListObjectVersions,
        Method::GET if has("list-type") => ListObjectsV2,
        Method::GET if !has_subresource(has) => ListObjects,
        Method::PUT if has("encryption") => PutBucketEncryption,
        Method::PUT if has("policy") => PutBucketPolicy,
        Method::PUT if !has_subresource(has) => CreateBucket,
        Method::DELETE if has("encryption") => DeleteBucketEncryption,
        Method::DELETE if has("policy") => DeleteBucketPolicy,
        Method::DELETE if !has_subresource(has) => DeleteBucket,
        Method::HEAD => HeadBucket,
        Method::POST if has("delete") => DeleteObjects,
        _ => Other,
    }
}

fn object_operation(method: &Method, has: &dyn Fn(&str) -> bool, copy: bool) -> Operation {
    use Operation::*;
    match *method {
        Method::GET if has("tagging") => GetObjectTagging,
        Method::GET if has("attributes") => GetObjectAttributes,
        Method::GET if has("uploadId") => ListParts,
        Method::GET if has("acl") || has("retention") || has("legal-hold") || has("torrent") => Other,
        Method::GET => GetObject,
        Method::HEAD => HeadObject,
        Method::PUT if has("tagging") => PutObjectTagging,
        Method::PUT if has("partNumber") && has("uploadId") && copy => UploadPartCopy,
        Method::PUT if has("partNumber") && has("uploadId") => UploadPart,
        Method::PUT if has("acl") || has("retention") || has("legal-hold") => Other,
        Method::PUT if copy => CopyObject,
        Method::PUT => PutObject,
        Method::POST if has("uploads") => CreateMultipartUpload,
        Method::POST if has("uploadId") => CompleteMultipartUpload,
        Method::DELETE if has("tagging") => DeleteObjectTagging,
        Method::DELETE if has("uploadId") => AbortMultipartUpload,
        Method::DELETE => DeleteObject,
        _ => Other,
    }
}

/// Bucket sub-resources that make a plain GET/PUT/DELETE on a bucket something else.
fn has_subresource(has: &dyn Fn(&str) -> bool) -> bool {
    [
        "acl",
        "cors",
        "lifecycle",
        "logging",
        "notification",
        "replication",
        "tagging",
        "versioning",
        "website",
        "object-lock",
        "ownershipControls",
        "publicAccessBlock",
        "accelerate",
        "requestPayment",
        "analytics",
        "inventory",
        "metrics",
        "intelligent-tiering",
    ]
    .iter()
    .any(|name| has(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(method: Method, path: &str, query: &[&str], copy: bool) -> Operation {
        let address = super::super::route::resolve(path, None, None).unwrap();
        let query: Vec<(String, String)> = query.iter().map(|q| ((*q).to_owned(), String::new())).collect();
        let mut headers = HeaderMap::new();
        if copy {
            headers.insert("x-amz-copy-source", http::HeaderValue::from_static("/b/src"));
        }
        Operation::classify(&method, &address, &query, &headers)
    }

    #[test]
    fn object_operations() {
        use Operation::*;
        assert_eq!(classify(Method::PUT, "/b/k", &[], false), PutObject);
        assert_eq!(classify(Method::PUT, "/b/k", &[], true), CopyObject);
        assert_eq!(
            classify(Method::PUT, "/b/k", &["partNumber", "uploadId"], false),
            UploadPart
        );
        assert_eq!(
            classify(Method::PUT, "/b/k", &["partNumber", "uploadId"], true),
            UploadPartCopy
        );
        assert_eq!(
            classify(Method::POST, "/b/k", &["uploads"], false),
            CreateMultipartUpload
        );
        assert_eq!(
            classify(Method::POST, "/b/k", &["uploadId"], false),
            CompleteMultipartUpload
        );
        assert_eq!(
            classify(Method::DELETE, "/b/k", &["uploadId"], false),
            AbortMultipartUpload
        );
        assert_eq!(classify(Method::GET, "/b/k", &["uploadId"], false), ListParts);
        assert_eq!(classify(Method::GET, "/b/k", &["partNumber"], false), GetObject);
        assert_eq!(classify(Method::GET, "/b/k", &["acl"], false), Other);
    }

    #[test]
    fn bucket_operations_and_actions() {
        use Operation::*;
        assert_eq!(classify(Method::GET, "/", &[], false), ListBuckets);
        assert_eq!(classify(Method::GET, "/b", &["list-type"], false), ListObjectsV2);
        assert_eq!(classify(Method::GET, "/b", &[], false), ListObjects);
        assert_eq!(classify(Method::PUT, "/b", &["encryption"], false), PutBucketEncryption);
        assert_eq!(classify(Method::PUT, "/b", &["versioning"], false), Other);
        assert_eq!(classify(Method::POST, "/b", &["delete"], false), DeleteObjects);
        assert_eq!(UploadPart.action(), "s3:PutObject");
        assert_eq!(ListObjectsV2.action(), "s3:ListBucket");
        let address = super::super::route::resolve("/b/k", None, None).unwrap();
        assert_eq!(GetObject.resource(&address), "arn:aws:s3:::b/k");
    }
}
