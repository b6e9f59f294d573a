//! Addressing: which bucket and key a request names.
//!
//! Owns: path-style (`/bucket/key`) and, when a `domain` is configured, virtual-host-style
//! (`bucket.domain/key`) addressing; percent-decoding of the path into UTF-8 names.
//! Does not: check that a bucket exists or that names follow S3's naming rules (the upstream
//! answers those with its own errors).

use percent_encoding::percent_decode_str;

use super::S3Error;

/// The bucket and key a request addresses, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Address {
    /// `None` for service-level requests (ListBuckets).
    pub bucket: Option<String>,
    /// `None` for bucket-level requests.
    pub key: Option<String>,
}

impl S3Address {
    /// The resource string used in error documents (`/bucket/key`).
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (None, _) => "/".to_owned(),
            (Some(bucket), None) => format!("/{bucket}"),
            (Some(bucket), Some(key)) => format!("/{bucket}/{key}"),
        }
    }
}

/// Resolves the address from the raw (still encoded) path and the `Host` header.
pub fn resolve(raw_path: &str, host: Option<&str>, domain: Option<&str>) -> Result<S3Address, S3Error> {
    let path = decode(raw_path)?;
    let Some(path) = path.strip_prefix('/') else {
        return Err(invalid_uri());
    };
    if let (Some(host), Some(domain)) = (host, domain)
        && let Some(bucket) = virtual_host_bucket(host, domain)
    {
        let key = (!path.is_empty()).then(|| path.to_owned());
        return Ok(S3Address {
            bucket: Some(bucket.to_owned()),
            key,
        });
    }
    if path.is_empty() {
        return Ok(S3Address {
            bucket: None,
            key: None,
        });
    }
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) => (bucket, (!key.is_empty()).then(|| key.to_owned())),
        None => (path, None),
    };
    Ok(S3Address {
        bucket: Some(bucket.to_owned()),
        key,
    })
}

/// The bucket label of `bucket.domain[:port]`, if the host is under the domain.
fn virtual_host_bucket<'h>(host: &'h str, domain: &str) -> Option<&'h str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let bucket = name.strip_suffix(domain)?.strip_suffix('.')?;
    (!bucket.is_empty()).then_some(bucket)
}

fn decode(raw: &str) -> Result<String, S3Error> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| invalid_uri())
}

fn invalid_uri() -> S3Error {
    S3Error::InvalidUri
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(bucket: Option<&str>, key: Option<&str>) -> S3Address {
        S3Address {
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
        }
    }

    #[test]
    fn path_style() {
        assert_eq!(resolve("/", None, None).unwrap(), addr(None, None));
        assert_eq!(resolve("/b", None, None).unwrap(), addr(Some("b"), None));
        assert_eq!(resolve("/b/", None, None).unwrap(), addr(Some("b"), None));
        assert_eq!(
            resolve("/b/k%20x/y", None, None).unwrap(),
            addr(Some("b"), Some("k x/y"))
        );
        assert_eq!(resolve("/b//k", None, None).unwrap(), addr(Some("b"), Some("/k")));
    }

    #[test]
    fn virtual_host_style_only_under_the_domain() {
        let domain = Some("s3.local");
        assert_eq!(
            resolve("/k", Some("b.s3.local:7070"), domain).unwrap(),
            addr(Some("b"), Some("k"))
        );
        assert_eq!(resolve("/", Some("b.s3.local"), domain).unwrap(), addr(Some("b"), None));
        assert_eq!(
            resolve("/b/k", Some("s3.local:7070"), domain).unwrap(),
            addr(Some("b"), Some("k"))
        );
        assert_eq!(
            resolve("/b/k", Some("127.0.0.1:7070"), domain).unwrap(),
            addr(Some("b"), Some("k"))
        );
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert!(resolve("/b/%ff", None, None).is_err());
        assert!(resolve("b/k", None, None).is_err());
    }
}
