//! Bucket-level operations that s3kms answers or transforms itself: the bucket settings it
//! keeps (default encryption, bucket policy) and the object listings, whose sizes it reports in
//! plaintext terms. DeleteObjects has its own module.

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::BodyExt;

use super::{Inbound, S3Api, S3Error, S3Request, bucket_config, forward, full_body, listing};
use crate::http::ResponseBody;
use crate::upstream::UpstreamRequest;

impl S3Api {
    /// Put/Get/Delete BucketEncryption and BucketPolicy: answered from the bucket settings,
    /// never forwarded, once the bucket is known to exist upstream.
    pub(super) async fn bucket_setting(
        &self,
        request: &S3Request<'_>,
        inbound: Inbound,
    ) -> Result<Response<ResponseBody>, S3Error> {
        let bucket = request.bucket()?;
        let exists = self
            .send(UpstreamRequest {
                method: Method::HEAD,
                bucket: Some(bucket.to_owned()),
                key: None,
                query: Vec::new(),
                headers: HeaderMap::new(),
                body: None,
            })
            .await?;
        if !exists.status().is_success() {
            return Ok(self.upstream_error(exists, request).await);
        }
        let body = match inbound.body {
            Some(body) if body.length() > bucket_config::MAX_BODY_BYTES as u64 => {
                return Err(bucket_config::body_too_large(request.operation));
            }
            Some(body) => {
                let verdict = inbound.verdict;
                body.collect()
                    .await
                    .map_err(|_| verdict.failure().unwrap_or(S3Error::IncompleteBody))?
                    .to_bytes()
            }
            None => Bytes::new(),
        };
        bucket_config::handle(&self.settings, request.operation, bucket, body, request.request_id).await
    }

    /// ListObjects, ListObjectsV2, ListObjectVersions with plaintext sizes.
    pub(super) async fn list_objects(&self, request: &S3Request<'_>) -> Result<Response<ResponseBody>, S3Error> {
        let response = self
            .send(UpstreamRequest {
                method: Method::GET,
                bucket: request.address.bucket.clone(),
                key: None,
                query: self.upstream_query(request),
                headers: forward::request_headers(&request.parts.headers, false),
                body: None,
            })
            .await?;
        if !response.status().is_success() {
            return Ok(self.upstream_error(response, request).await);
        }
        let (parts, body) = response.into_parts();
        let document = http_body_util::Limited::new(body, listing::MAX_DOCUMENT_LEN)
            .collect()
            .await
            .map_err(|error| S3Error::ServiceUnavailable {
                detail: format!("listing body: {error}"),
            })?
            .to_bytes();
        let rewritten = listing::rewrite_sizes(&document).map_err(|error| S3Error::InternalError {
            detail: format!("upstream listing: {error}"),
        })?;
        let mut response = Response::new(full_body(Bytes::from(rewritten.xml)));
        *response.status_mut() = parts.status;
        for (name, value) in &parts.headers {
            if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        forward::clean_response_headers(response.headers_mut());
        forward::stamp(response.headers_mut(), request.request_id);
        Ok(response)
    }
}
