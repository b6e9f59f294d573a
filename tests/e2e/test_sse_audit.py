"""The KMS audit trail of the S3 path (`<data_dir>/audit/kms-YYYY-MM-DD.jsonl`): SSE-KMS PUT,
GET, multipart and checksum-mode HEAD leave one CloudTrail-shaped record per KMS call, made as
the requesting user and invoked by s3.amazonaws.com, with the object ARN in the encryption
context and the S3 request id as requestID; a KMS denial is recorded too; SSE-S3 and plain
HEAD make no KMS call; and neither the trail nor the log holds object plaintext, data keys or
wrapped data keys."""

from __future__ import annotations

import json
import re

import pytest

pytest.register_assert_rewrite("sse_support")

from conftest import ACCOUNT_ID, REGION  # noqa: E402
from servers import ALLOW_ALL_POLICY  # noqa: E402
from sse_support import (  # noqa: E402
    EmbeddedRaw,
    Marker,
    MiB,
    assert_error,
    new_key,
    policy,
    start_sse_server,
    stop_sse_server,
    user,
)

pytestmark = pytest.mark.proxy_only

ALICE = user("alice", ALLOW_ALL_POLICY)
NOKMS = user("nokms", policy({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
BUCKET = "e2e-sse-audit"
MARKER = Marker("audit")
SERVICE = "s3.amazonaws.com"


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def object_arn(key: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{key}"


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["RequestId"]


class Server:
    def __init__(self, workdir) -> None:
        self.workdir = workdir
        self.sse = start_sse_server(workdir, [ALICE, NOKMS])
        self.audit_dir = workdir / "data" / "audit"
        self.raw = EmbeddedRaw(workdir / "data" / "objects")

    def records(self) -> list[dict]:
        return [
            json.loads(line)
            for path in sorted(self.audit_dir.glob("kms-*.jsonl"))
            for line in path.read_text().splitlines()
            if line.strip()
        ]

    def records_of(self, s3_request_id: str) -> list[dict]:
        return [r for r in self.records() if r.get("requestID") == s3_request_id]

    def record_of(self, s3_request_id: str, event_name: str) -> dict:
        matching = self.records_of(s3_request_id)
        assert [r["eventName"] for r in matching] == [event_name], matching
        return matching[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("s3kms-sse-audit"))
    try:
        server.sse.s3("alice").create_bucket(Bucket=BUCKET)
        yield server
    finally:
        stop_sse_server(server.sse)


@pytest.fixture(scope="module")
def key(server):
    return new_key(server.sse.kms("alice"), "audit")


def check_s3_invoked(record: dict, name: str, key_arn: str, object_key: str) -> None:
    identity = record["userIdentity"]
    assert identity["type"] == "IAMUser"
    assert identity["arn"] == user_arn(name)
    assert identity["userName"] == name
    assert identity["accountId"] == ACCOUNT_ID
    assert identity["accessKeyId"] == server_user(name).access_key_id
    assert identity.get("invokedBy") == SERVICE, identity
    assert record["sourceIPAddress"] == SERVICE
    assert record["userAgent"] == SERVICE
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["awsRegion"] == REGION
    assert record["readOnly"] is True
    assert record["responseElements"] is None
    assert record["resources"] == [{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key", "ARN": key_arn}]
    assert record["requestParameters"]["encryptionContext"] == {"aws:s3:arn": object_arn(object_key)}


def server_user(name: str):
    return {"alice": ALICE, "nokms": NOKMS}[name]


def test_put_and_get_leave_generate_data_key_and_decrypt_records(server, key):
    s3 = server.sse.s3("alice")
    data = MARKER.data(3 * 65536 + 11)

    put = s3.put_object(Bucket=BUCKET, Key="dir/obj", Body=data, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key["KeyId"])
    got = s3.get_object(Bucket=BUCKET, Key="dir/obj")
    assert got["Body"].read() == data

    generated = server.record_of(request_id(put), "GenerateDataKey")
    check_s3_invoked(generated, "alice", key["Arn"], "dir/obj")
    assert "errorCode" not in generated
    assert generated["requestParameters"]["keyId"] in (key["KeyId"], key["Arn"])
    assert generated["requestParameters"].get("keySpec") == "AES_256", generated["requestParameters"]

    decrypted = server.record_of(request_id(got), "Decrypt")
    check_s3_invoked(decrypted, "alice", key["Arn"], "dir/obj")
    assert "errorCode" not in decrypted
    assert decrypted["requestParameters"].get("encryptionAlgorithm") == "SYMMETRIC_DEFAULT"
    assert decrypted["eventID"] != generated["eventID"]


def test_a_denied_get_leaves_a_denied_decrypt_record(server, key):
    server.sse.s3("alice").put_object(Bucket=BUCKET, Key="guarded", Body=MARKER.data(5000),
                                      ServerSideEncryption="aws:kms", SSEKMSKeyId=key["KeyId"])
    nokms = server.sse.s3("nokms")

    error = assert_error(lambda: nokms.get_object(Bucket=BUCKET, Key="guarded"), 403, "AccessDenied",
                         contains="kms:Decrypt")

    record = server.record_of(error.response["ResponseMetadata"]["RequestId"], "Decrypt")
    check_s3_invoked(record, "nokms", key["Arn"], "guarded")
    assert record["errorCode"] == "AccessDeniedException"
    assert record["errorMessage"] == error.response["Error"]["Message"]
    assert user_arn("nokms") in record["errorMessage"] and "kms:Decrypt" in record["errorMessage"]


def test_multipart_and_checksum_head_are_recorded(server, key):
    s3 = server.sse.s3("alice")
    created = s3.create_multipart_upload(Bucket=BUCKET, Key="mp", ServerSideEncryption="aws:kms",
                                         SSEKMSKeyId=key["Arn"])
    upload_id = created["UploadId"]
    part = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload_id, PartNumber=1, Body=MARKER.data(5 * MiB))
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload_id,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})

    check_s3_invoked(server.record_of(request_id(created), "GenerateDataKey"), "alice", key["Arn"], "mp")
    check_s3_invoked(server.record_of(request_id(part), "Decrypt"), "alice", key["Arn"], "mp")
    check_s3_invoked(server.record_of(request_id(done), "Decrypt"), "alice", key["Arn"], "mp")

    # HEAD needs no key; HEAD with checksum mode opens the object, so it decrypts.
    plain_head = s3.head_object(Bucket=BUCKET, Key="mp")
    assert server.records_of(request_id(plain_head)) == []
    checksum_head = s3.head_object(Bucket=BUCKET, Key="mp", ChecksumMode="ENABLED")
    check_s3_invoked(server.record_of(request_id(checksum_head), "Decrypt"), "alice", key["Arn"], "mp")


def test_aws_s3_key_calls_are_recorded_under_the_aws_s3_key(server):
    s3 = server.sse.s3("alice")
    put = s3.put_object(Bucket=BUCKET, Key="managed", Body=b"under aws/s3", ServerSideEncryption="aws:kms")
    record = server.record_of(request_id(put), "GenerateDataKey")
    check_s3_invoked(record, "alice", put["SSEKMSKeyId"], "managed")


def test_sse_s3_makes_no_kms_call(server):
    s3 = server.sse.s3("alice")
    before = len(server.records())

    put = s3.put_object(Bucket=BUCKET, Key="sse-s3", Body=MARKER.data(70000))
    got = s3.get_object(Bucket=BUCKET, Key="sse-s3")
    assert got["Body"].read() == MARKER.data(70000)
    explicit = s3.put_object(Bucket=BUCKET, Key="sse-s3-explicit", Body=b"x", ServerSideEncryption="AES256")
    head = s3.head_object(Bucket=BUCKET, Key="sse-s3", ChecksumMode="ENABLED")

    assert put["ServerSideEncryption"] == "AES256"
    for response in (put, got, explicit, head):
        assert server.records_of(request_id(response)) == []
    assert len(server.records()) == before


def find_members(value, names: set[str]) -> list[str]:
    """Every member (at any depth) whose name, case-insensitively, is in `names`."""
    found = []
    if isinstance(value, dict):
        for name, member in value.items():
            if name.lower() in names:
                found.append(name)
            found += find_members(member, names)
    elif isinstance(value, list):
        for item in value:
            found += find_members(item, names)
    return found


def test_no_plaintext_data_key_or_wrapped_key_in_the_trail_or_the_log(server, key):
    """Runs last in the module: everything the tests above did is in the trail."""
    s3 = server.sse.s3("alice")
    s3.put_object(Bucket=BUCKET, Key="last", Body=MARKER.data(1000), ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key["KeyId"])
    assert s3.get_object(Bucket=BUCKET, Key="last")["Body"].read() == MARKER.data(1000)
    records = server.records()
    assert len([r for r in records if r.get("userIdentity", {}).get("invokedBy") == SERVICE]) >= 8
    trail = "\n".join(path.read_text() for path in sorted(server.audit_dir.glob("kms-*.jsonl")))
    log = server.sse.process.log_path.read_text(errors="replace")

    for name, text in (("audit trail", trail), ("s3kms log", log)):
        assert MARKER.leaks_into(text.encode()) == [], f"object plaintext in the {name}"
        for stored_key in ("dir/obj", "guarded", "mp", "last", "managed"):
            wrapped = server.raw.get(BUCKET, stored_key).metadata["s3kms-w"]
            assert wrapped and wrapped not in text, f"the wrapped data key of {stored_key} in the {name}"
    assert find_members(records, {"plaintext", "ciphertextblob", "datakey"}) == []
    # A data key in base64 is 44 characters ending in '='; no value of the trail looks like one.
    assert re.findall(r"[A-Za-z0-9+/]{43}=", trail) == []
