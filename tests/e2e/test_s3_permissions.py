"""Who may do what on the S3 API, through boto3: identity policies, bucket policies (and their
Put/Get/Delete round trip), the classic encryption-enforcing bucket policies, default bucket
encryption (Put/Get/DeleteBucketEncryption), aws:SecureTransport, and AWS's same-account
AccessDenied texts.

The module starts its own s3kms (embedded store, plain HTTP) with four users:

* admin  - allow `*` on `*`;
* reader - s3:GetObject and s3:ListBucket on one bucket (READ_BUCKET), kms:Decrypt on `*`;
* writer - s3:PutObject on `*`, nothing else;
* nobody - no identity policy at all.

AWS behaviour these tests pin down (the same for every test):
* a denial is 403 `AccessDenied` with S3's enhanced same-account message, the resource ARN in
  double quotes: `User: <arn> is not authorized to perform: <action> on resource: "<arn>"
  because no identity-based policy allows the <action> action` (or `with an explicit deny in a
  resource-based policy`), and no resource at all for s3:ListAllMyBuckets;
* `s3:x-amz-server-side-encryption` is the request header (absent when the client relies on the
  bucket default); `s3:x-amz-server-side-encryption-aws-kms-key-id` is the ARN of the key the
  object is actually encrypted with.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    ACCOUNT_ID,
    LIVE_LOGS,
    REGION,
    Target,
    empty_and_delete_bucket,
    require_s3kms_binary,
    unique_bucket_name,
)
from clients import boto3_client, require_request_id
from s3_expect import assert_client_error, client_error, code_of, status_of
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml
from sigv4_raw import Credentials

pytestmark = pytest.mark.proxy_only

READ_BUCKET = f"e2e-perm-read-{secrets.token_hex(4)}"


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _user(name: str, policy: str | None) -> ServerCredentials:
    access_key_id = f"AKIAPERM{name.upper()}{secrets.token_hex(4).upper()}"
    return ServerCredentials(name, access_key_id, f"{name}-perm-secret-{secrets.token_hex(16)}", policy)


ADMIN = _user("admin", ALLOW_ALL_POLICY)
READER = _user(
    "reader",
    _policy(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{READ_BUCKET}"},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{READ_BUCKET}/*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
    ),
)
WRITER = _user("writer", _policy({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}))
NOBODY = _user("nobody", None)
USERS = [ADMIN, READER, WRITER, NOBODY]


def arn(user: ServerCredentials) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{user.name}"


def denied(user: ServerCredentials, action: str, resource: str | None, why: str = "identity") -> str:
    """S3's enhanced same-account AccessDenied message."""
    on = f' on resource: "{resource}"' if resource is not None else ""
    reason = {
        "identity": f"because no identity-based policy allows the {action} action",
        "bucket-policy-deny": "with an explicit deny in a resource-based policy",
    }[why]
    return f"User: {arn(user)} is not authorized to perform: {action}{on} {reason}"


def assert_denied(call, message: str | None = None) -> ClientError:
    error = client_error(call)
    assert (status_of(error), code_of(error)) == (403, "AccessDenied"), error.response
    if message is not None:
        assert error.response["Error"]["Message"] == message, error.response
    return error


# --------------------------------------------------------------------------------------
# The module's s3kms
# --------------------------------------------------------------------------------------


@dataclass
class PermissionsServer:
    process: S3kms
    workdir: Path

    @property
    def endpoint(self) -> str:
        return self.process.endpoint

    def s3(self, user: ServerCredentials):
        client = boto3_client(self.endpoint, Credentials(user.access_key_id, user.secret_access_key), region=REGION)
        client.meta.events.register("after-call.s3", require_request_id)
        return client

    def kms(self, user: ServerCredentials):
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=user.access_key_id,
            aws_secret_access_key=user.secret_access_key,
            config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("s3kms-permissions")
    config_path = workdir / "s3kms.toml"
    config_path.write_text(
        s3kms_config_toml(
            data_dir=workdir / "data", users=USERS, account_id=ACCOUNT_ID, region=REGION, upstream=None
        )
    )
    process = S3kms(require_s3kms_binary(), config_path, workdir / "s3kms.stderr.log")
    process.start()
    LIVE_LOGS.add(process.log_path)
    running = PermissionsServer(process, workdir)
    admin = running.s3(ADMIN)
    try:
        admin.create_bucket(Bucket=READ_BUCKET)
        yield running
    finally:
        empty_and_delete_bucket(admin, READ_BUCKET)
        process.stop()
        LIVE_LOGS.discard(process.log_path)


@pytest.fixture
def target(server: PermissionsServer) -> Target:
    """Named `target` so that a failure report shows the s3kms log lines the test caused."""
    return Target("permissions", server.endpoint, through_proxy=True, logs={"s3kms stderr": server.process.log_path})


@pytest.fixture(autouse=True)
def _report_s3kms_log_on_failure(target: Target) -> None:
    """Pulls `target` into every test."""


@pytest.fixture
def admin(server):
    return server.s3(ADMIN)


@pytest.fixture
def bucket(request: pytest.FixtureRequest, admin) -> str:
    """A fresh bucket made by admin; its policy is removed before it is emptied and deleted."""
    name = unique_bucket_name(request.node.name)
    admin.create_bucket(Bucket=name)
    yield name
    try:
        admin.delete_bucket_policy(Bucket=name)
    except ClientError:
        pass
    empty_and_delete_bucket(admin, name)


@pytest.fixture(scope="module")
def keys(server) -> tuple[dict, dict, str]:
    """Two KMS keys made by admin through the same endpoint, and an alias of the first."""
    kms = server.kms(ADMIN)
    first = kms.create_key(Description="e2e permissions: the required key")["KeyMetadata"]
    second = kms.create_key(Description="e2e permissions: another key")["KeyMetadata"]
    alias = f"alias/e2e-perm-{secrets.token_hex(4)}"
    kms.create_alias(AliasName=alias, TargetKeyId=first["KeyId"])
    return first, second, alias


# --------------------------------------------------------------------------------------
# Identity policies
# --------------------------------------------------------------------------------------


def test_reader_reads_and_lists_its_bucket_but_may_not_write(server, admin, keys):
    admin.put_object(Bucket=READ_BUCKET, Key="plain", Body=b"sse-s3 by default")
    admin.put_object(
        Bucket=READ_BUCKET, Key="kms", Body=b"sse-kms", ServerSideEncryption="aws:kms", SSEKMSKeyId=keys[0]["Arn"]
    )
    reader = server.s3(READER)

    assert reader.get_object(Bucket=READ_BUCKET, Key="plain")["Body"].read() == b"sse-s3 by default"
    assert reader.get_object(Bucket=READ_BUCKET, Key="kms")["Body"].read() == b"sse-kms"
    listed = [entry["Key"] for entry in reader.list_objects_v2(Bucket=READ_BUCKET)["Contents"]]
    assert {"plain", "kms"} <= set(listed)

    assert_denied(
        lambda: reader.put_object(Bucket=READ_BUCKET, Key="new", Body=b"x"),
        denied(READER, "s3:PutObject", f"arn:aws:s3:::{READ_BUCKET}/new"),
    )
    assert_denied(
        lambda: reader.delete_object(Bucket=READ_BUCKET, Key="plain"),
        denied(READER, "s3:DeleteObject", f"arn:aws:s3:::{READ_BUCKET}/plain"),
    )
    assert admin.get_object(Bucket=READ_BUCKET, Key="plain")["Body"].read() == b"sse-s3 by default"


def test_reader_may_not_touch_other_buckets(server, bucket, admin):
    admin.put_object(Bucket=bucket, Key="k", Body=b"x")
    reader = server.s3(READER)
    assert_denied(
        lambda: reader.get_object(Bucket=bucket, Key="k"),
        denied(READER, "s3:GetObject", f"arn:aws:s3:::{bucket}/k"),
    )
    assert_denied(
        lambda: reader.list_objects_v2(Bucket=bucket),
        denied(READER, "s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    )
    assert_denied(
        lambda: reader.list_buckets(),
        denied(READER, "s3:ListAllMyBuckets", None),
    )


def test_writer_may_put_and_nothing_else(server, bucket, admin):
    writer = server.s3(WRITER)
    writer.put_object(Bucket=bucket, Key="k", Body=b"from writer")
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"from writer"
    assert_denied(
        lambda: writer.get_object(Bucket=bucket, Key="k"),
        denied(WRITER, "s3:GetObject", f"arn:aws:s3:::{bucket}/k"),
    )
    assert_denied(lambda: writer.list_objects_v2(Bucket=bucket))
    # SSE-KMS under aws/s3 needs no KMS permission of the writer's own: that key's policy
    # allows every principal of the account through S3 (AWS's managed-key policy).
    answer = writer.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    assert answer["ServerSideEncryption"] == "aws:kms"


def test_nobody_is_denied_everything(server, bucket, admin):
    admin.put_object(Bucket=bucket, Key="k", Body=b"x")
    nobody = server.s3(NOBODY)
    assert_denied(lambda: nobody.list_buckets(), denied(NOBODY, "s3:ListAllMyBuckets", None))
    assert_denied(lambda: nobody.create_bucket(Bucket=unique_bucket_name("nobody")))
    assert_denied(
        lambda: nobody.list_objects_v2(Bucket=bucket),
        denied(NOBODY, "s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    )
    assert_denied(
        lambda: nobody.get_object(Bucket=bucket, Key="k"),
        denied(NOBODY, "s3:GetObject", f"arn:aws:s3:::{bucket}/k"),
    )
    assert_denied(lambda: nobody.put_object(Bucket=bucket, Key="k", Body=b"y"))
    assert_denied(lambda: nobody.delete_object(Bucket=bucket, Key="k"))
    assert_denied(lambda: nobody.get_bucket_policy(Bucket=bucket))
    assert_denied(lambda: nobody.get_bucket_encryption(Bucket=bucket))
    open_to_all = _policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"}
    )
    assert_denied(lambda: nobody.put_bucket_policy(Bucket=bucket, Policy=open_to_all))
    # HEAD answers carry no body: botocore reports the bare status.
    head = client_error(lambda: nobody.head_object(Bucket=bucket, Key="k"))
    assert status_of(head) == 403, head.response
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


# --------------------------------------------------------------------------------------
# Bucket policies
# --------------------------------------------------------------------------------------


def test_bucket_policy_lets_nobody_get(server, bucket, admin):
    admin.put_object(Bucket=bucket, Key="shared/k", Body=b"shared")
    nobody = server.s3(NOBODY)
    assert_denied(lambda: nobody.get_object(Bucket=bucket, Key="shared/k"))

    admin.put_bucket_policy(
        Bucket=bucket,
        Policy=_policy(
            {
                "Sid": "NobodyMayRead",
                "Effect": "Allow",
                "Principal": {"AWS": arn(NOBODY)},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ),
    )
    assert nobody.get_object(Bucket=bucket, Key="shared/k")["Body"].read() == b"shared"
    # Only what the statement grants.
    assert_denied(lambda: nobody.list_objects_v2(Bucket=bucket))
    assert_denied(lambda: nobody.put_object(Bucket=bucket, Key="shared/k", Body=b"overwritten"))

    admin.delete_bucket_policy(Bucket=bucket)
    assert_denied(lambda: nobody.get_object(Bucket=bucket, Key="shared/k"))


def test_bucket_policy_explicit_deny_beats_allow_all(server, bucket, admin):
    admin.put_object(Bucket=bucket, Key="k", Body=b"x")
    admin.put_bucket_policy(
        Bucket=bucket,
        Policy=_policy(
            {"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{bucket}/*"}
        ),
    )
    assert_denied(
        lambda: admin.delete_object(Bucket=bucket, Key="k"),
        denied(ADMIN, "s3:DeleteObject", f"arn:aws:s3:::{bucket}/k", "bucket-policy-deny"),
    )
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_bucket_policy_put_get_delete_round_trip(bucket, admin):
    missing = assert_client_error(lambda: admin.get_bucket_policy(Bucket=bucket), 404, "NoSuchBucketPolicy")
    assert missing.response["Error"]["Message"] == "The bucket policy does not exist"

    text = _policy(
        {
            "Sid": "Read",
            "Effect": "Allow",
            "Principal": {"AWS": arn(NOBODY)},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/*"],
        }
    )
    put = admin.put_bucket_policy(Bucket=bucket, Policy=text)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert json.loads(admin.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(text)

    for _ in range(2):
        deleted = admin.delete_bucket_policy(Bucket=bucket)
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_client_error(lambda: admin.get_bucket_policy(Bucket=bucket), 404, "NoSuchBucketPolicy")


def test_malformed_bucket_policies_are_refused(bucket, admin):
    for policy, message in (
        ("invalid json", "Policies must be valid JSON and the first byte must be '{'"),
        ("{}", "Missing required field Statement"),
        (
            _policy(
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::other/*"}
            ),
            "Policy has invalid resource",
        ),
    ):
        error = assert_client_error(
            lambda: admin.put_bucket_policy(Bucket=bucket, Policy=policy), 400, "MalformedPolicy"
        )
        assert error.response["Error"]["Message"] == message, policy
    assert_client_error(lambda: admin.get_bucket_policy(Bucket=bucket), 404, "NoSuchBucketPolicy")


def test_deny_unencrypted_object_uploads(bucket, admin):
    # AWS's classic statement: it tests the request header, not the bucket default.
    admin.put_bucket_policy(
        Bucket=bucket,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Id": "PutObjPolicy",
                "Statement": [
                    {
                        "Sid": "DenyUnEncryptedObjectUploads",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
                    }
                ],
            }
        ),
    )
    assert_denied(
        lambda: admin.put_object(Bucket=bucket, Key="plain", Body=b"x"),
        denied(ADMIN, "s3:PutObject", f"arn:aws:s3:::{bucket}/plain", "bucket-policy-deny"),
    )
    assert_denied(lambda: admin.put_object(Bucket=bucket, Key="aes", Body=b"x", ServerSideEncryption="AES256"))
    put = admin.put_object(Bucket=bucket, Key="kms", Body=b"x", ServerSideEncryption="aws:kms")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["ServerSideEncryption"] == "aws:kms"

    # A bucket default of aws:kms does not put the header on the request.
    admin.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    assert_denied(lambda: admin.put_object(Bucket=bucket, Key="by-default", Body=b"x"))
    assert_client_error(lambda: admin.head_object(Bucket=bucket, Key="by-default"), 404, "404")


def test_policy_requiring_a_specific_kms_key(bucket, admin, keys):
    required, other, alias = keys
    admin.put_bucket_policy(
        Bucket=bucket,
        Policy=_policy(
            {
                "Sid": "RequireTheKey",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": required["Arn"]}},
            }
        ),
    )
    # Whatever form names the key, the ARN of the key S3 uses is what the condition sees.
    for key_id in (required["Arn"], required["KeyId"], alias):
        put = admin.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
        assert put["SSEKMSKeyId"] == required["Arn"], key_id
    assert_denied(
        lambda: admin.put_object(
            Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=other["Arn"]
        ),
        denied(ADMIN, "s3:PutObject", f"arn:aws:s3:::{bucket}/k", "bucket-policy-deny"),
    )
    assert_denied(lambda: admin.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256"))

    # The bucket default's key counts when the request names none.
    admin.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": alias}}]
        },
    )
    put = admin.put_object(Bucket=bucket, Key="by-default", Body=b"x")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", required["Arn"])


def test_secure_transport_deny_applies_over_plain_http(server, bucket, admin):
    admin.put_object(Bucket=bucket, Key="k", Body=b"x")
    # Deny only object access, so that admin can still remove the policy over plain HTTP.
    admin.put_bucket_policy(
        Bucket=bucket,
        Policy=_policy(
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ),
    )
    assert server.endpoint.startswith("http://")
    assert_denied(
        lambda: admin.get_object(Bucket=bucket, Key="k"),
        denied(ADMIN, "s3:GetObject", f"arn:aws:s3:::{bucket}/k", "bucket-policy-deny"),
    )
    assert_denied(lambda: admin.put_object(Bucket=bucket, Key="k", Body=b"y"))
    admin.list_objects_v2(Bucket=bucket)  # not covered by the statement
    admin.delete_bucket_policy(Bucket=bucket)
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


# --------------------------------------------------------------------------------------
# Default bucket encryption
# --------------------------------------------------------------------------------------


def test_bucket_encryption_defaults_to_aes256_and_round_trips(bucket, admin, keys):
    def rule() -> dict:
        rules = admin.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        assert len(rules) == 1, rules
        return rules[0]

    fresh = rule()
    assert fresh["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert fresh.get("BucketKeyEnabled") is False

    key_arn = keys[0]["Arn"]
    put = admin.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    configured = rule()
    assert configured["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert configured["BucketKeyEnabled"] is True

    deleted = admin.delete_bucket_encryption(Bucket=bucket)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert rule()["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_bucket_encryption_refuses_what_aws_refuses(bucket, admin):
    error = assert_client_error(
        lambda: admin.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256", "KMSMasterKeyID": "k"}}]
            },
        ),
        400,
        "InvalidArgument",
    )
    assert error.response["Error"]["Message"] == (
        "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse"
    )
    assert_client_error(
        lambda: admin.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": []}),
        400,
        "MalformedXML",
    )


def test_delete_objects_is_authorized_key_by_key(server, bucket, admin):
    """AWS judges each key of a DeleteObjects: denied keys come back as AccessDenied entries
    and stay, the others are deleted."""
    for key in ("scratch/a", "scratch/b", "keep/c"):
        admin.put_object(Bucket=bucket, Key=key, Body=b"x")
    admin.put_bucket_policy(
        Bucket=bucket,
        Policy=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": arn(NOBODY)},
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/scratch/*",
            }
        ),
    )
    nobody = server.s3(NOBODY)
    answer = nobody.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "scratch/a"}, {"Key": "keep/c"}, {"Key": "scratch/b"}]},
    )
    assert sorted(d["Key"] for d in answer.get("Deleted", [])) == ["scratch/a", "scratch/b"]
    assert [(e["Key"], e["Code"]) for e in answer["Errors"]] == [("keep/c", "AccessDenied")]
    left = [o["Key"] for o in admin.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["keep/c"]

    all_denied = nobody.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "keep/c"}]})
    assert [(e["Key"], e["Code"]) for e in all_denied["Errors"]] == [("keep/c", "AccessDenied")]
    assert not all_denied.get("Deleted")
    assert [o["Key"] for o in admin.list_objects_v2(Bucket=bucket)["Contents"]] == ["keep/c"]
    admin.delete_bucket_policy(Bucket=bucket)
