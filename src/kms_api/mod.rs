//! The AWS KMS JSON 1.1 API (L2): `POST /` with `X-Amz-Target: TrentService.<Operation>`.
//!
//! Owns: reading the (small, size-limited) JSON body, SigV4 authentication for service `kms`,
//! turning the JSON into a typed [`Call`], and writing AWS's JSON output and error shapes
//! (`{"__type": …, "message": …}`, status 400 for client errors, 500 for the service's own,
//! `x-amzn-RequestId` on every response). What the operations do is [`crate::kms`]'s business.

mod auth;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;
use tracing::Instrument;

use crate::http::{ResponseBody, full_body};
use crate::identity::UserDirectory;
use crate::kms::{Call, Caller, Kms, KmsError};

/// The largest request body accepted (a key policy is at most 32 KB; CreateKey's model allows
/// 128 Ki characters).
const MAX_BODY: usize = 512 * 1024;
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Whether a request is a KMS API call.
pub fn is_kms_request<B>(request: &Request<B>) -> bool {
    request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|target| target.starts_with("TrentService."))
}

/// The KMS API.
pub struct KmsApi {
    kms: Arc<Kms>,
    users: UserDirectory,
    region: String,
}

impl KmsApi {
    /// The API over `kms` for `users`.
    pub fn new(kms: Arc<Kms>, users: UserDirectory, region: &str) -> KmsApi {
        KmsApi {
            kms,
            users,
            region: region.to_owned(),
        }
    }

    /// Answers one request. Never fails: errors become AWS JSON error responses.
    pub async fn handle(&self, request: Request<Incoming>, peer: SocketAddr, secure: bool) -> Response<ResponseBody> {
        let request_id = crate::kms::resolve::new_key_id();
        let span = tracing::info_span!("kms", request_id = %request_id);
        match self.serve(request, peer, secure, &request_id).instrument(span).await {
            Ok(body) => respond(StatusCode::OK, body, &request_id),
            Err(error) => {
                if error.is_internal() {
                    tracing::error!(request_id, error = ?error, "KMS request failed");
                } else {
                    tracing::info!(request_id, code = error.name(), "KMS request refused");
                }
                let status = if error.is_internal() {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::BAD_REQUEST
                };
                let document = serde_json::json!({"__type": error.name(), "message": error.to_string()});
                respond(status, Bytes::from(document.to_string()), &request_id)
            }
        }
    }

    async fn serve(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        secure: bool,
        request_id: &str,
    ) -> Result<Bytes, KmsError> {
        let (parts, body) = request.into_parts();
        if parts.method != http::Method::POST {
            return Err(KmsError::Validation("KMS API requests use POST /.".to_owned()));
        }
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let operation = target.strip_prefix("TrentService.").unwrap_or_default().to_owned();
        let body = http_body_util::Limited::new(body, MAX_BODY)
            .collect()
            .await
            .map_err(|_| KmsError::Validation(format!("The request body is larger than {MAX_BODY} bytes.")))?
            .to_bytes();
        let user = auth::authenticate(&self.users.current(), &self.region, &parts, &body)?;
        let caller = Caller {
            principal: user.principal(),
            user_name: user.name.clone(),
            access_key_id: user.access_key_id.clone(),
            identity_policies: user.policies.clone(),
            source_ip: peer.ip().to_string(),
            user_agent: parts
                .headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned(),
            request_id: request_id.to_owned(),
            via_s3: false,
            secure_transport: secure,
        };
        let call = parse_call(&operation, &body)?;
        let output = self.kms.call(&caller, call).await?;
        let json = serde_json::to_vec(&output).map_err(|e| KmsError::Internal(e.to_string()))?;
        Ok(if json == b"{}" { Bytes::new() } else { Bytes::from(json) })
    }
}

/// The typed call for an operation name and its JSON body.
pub fn parse_call(operation: &str, body: &[u8]) -> Result<Call, KmsError> {
    let body = if body.is_empty() { b"{}".as_slice() } else { body };
    Ok(match operation {
        "CreateKey" => Call::CreateKey(parse(body)?),
        "DescribeKey" => Call::DescribeKey(parse(body)?),
        "ListKeys" => Call::ListKeys(parse(body)?),
        "EnableKey" => Call::EnableKey(parse(body)?),
        "DisableKey" => Call::DisableKey(parse(body)?),
        "ScheduleKeyDeletion" => Call::ScheduleKeyDeletion(parse(body)?),
        "CancelKeyDeletion" => Call::CancelKeyDeletion(parse(body)?),
        "UpdateKeyDescription" => Call::UpdateKeyDescription(parse(body)?),
        "CreateAlias" => Call::CreateAlias(parse(body)?),
        "UpdateAlias" => Call::UpdateAlias(parse(body)?),
        "DeleteAlias" => Call::DeleteAlias(parse(body)?),
        "ListAliases" => Call::ListAliases(parse(body)?),
        "Encrypt" => Call::Encrypt(parse(body)?),
        "Decrypt" => Call::Decrypt(parse(body)?),
        "ReEncrypt" => Call::ReEncrypt(parse(body)?),
        "GenerateDataKey" => Call::GenerateDataKey(parse(body)?),
        "GenerateDataKeyWithoutPlaintext" => Call::GenerateDataKeyWithoutPlaintext(parse(body)?),
        "GenerateRandom" => Call::GenerateRandom(parse(body)?),
        "GetKeyPolicy" => Call::GetKeyPolicy(parse(body)?),
        "PutKeyPolicy" => Call::PutKeyPolicy(parse(body)?),
        "ListKeyPolicies" => Call::ListKeyPolicies(parse(body)?),
        "EnableKeyRotation" => Call::EnableKeyRotation(parse(body)?),
        "DisableKeyRotation" => Call::DisableKeyRotation(parse(body)?),
        "GetKeyRotationStatus" => Call::GetKeyRotationStatus(parse(body)?),
        "RotateKeyOnDemand" => Call::RotateKeyOnDemand(parse(body)?),
        "ListKeyRotations" => Call::ListKeyRotations(parse(body)?),
        "CreateGrant" => Call::CreateGrant(parse(body)?),
        "ListGrants" => Call::ListGrants(parse(body)?),
        "ListRetirableGrants" => Call::ListRetirableGrants(parse(body)?),
        "RetireGrant" => Call::RetireGrant(parse(body)?),
        "RevokeGrant" => Call::RevokeGrant(parse(body)?),
        "TagResource" => Call::TagResource(parse(body)?),
        "UntagResource" => Call::UntagResource(parse(body)?),
        "ListResourceTags" => Call::ListResourceTags(parse(body)?),
        other => return Err(KmsError::UnknownOperation(other.to_owned())),
    })
}

/// Deserialises a request, turning serde's errors into AWS's validation texts.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, KmsError> {
    serde_json::from_slice(body).map_err(|error| {
        let text = error.to_string();
        match text
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            Some(member) => KmsError::Validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                camel(member)
            )),
            None => KmsError::Serialization(format!("Start of structure or map found where not expected: {text}")),
        }
    })
}

fn camel(member: &str) -> String {
    let mut chars = member.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn respond(status: StatusCode, body: Bytes, request_id: &str) -> Response<ResponseBody> {
    let length = body.len();
    let mut response = Response::new(full_body(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_members_read_like_aws() {
        let error = parse_call("Encrypt", br#"{"Plaintext": "aGk="}"#).unwrap_err();
        assert_eq!(error.name(), "ValidationException");
        assert_eq!(
            error.to_string(),
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn unknown_operations_and_bad_json_are_refused() {
        assert_eq!(
            parse_call("Sign", b"{}").unwrap_err().name(),
            "UnknownOperationException"
        );
        assert_eq!(
            parse_call("ListKeys", b"{nope").unwrap_err().name(),
            "SerializationException"
        );
        assert!(matches!(parse_call("ListKeys", b""), Ok(Call::ListKeys(_))));
    }
}
