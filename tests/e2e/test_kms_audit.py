"""The KMS audit trail (`<data_dir>/audit/kms-YYYY-MM-DD.jsonl`, CloudTrail-shaped): one record
per call, allowed or denied, whose requestID is the response's x-amzn-RequestId, with the
caller, the key ARN, camelCase requestParameters and the error on a denial; and no
plaintext, data key, ciphertext, grant token or secret access key in the trail or the log."""

import re
import uuid

import pytest
from botocore.exceptions import ClientError

pytest.register_assert_rewrite("kms_support")

from kms_support import (  # noqa: E402
    ACCOUNT_ID,
    ALICE,
    ALL_USERS,
    BOB,
    REGION,
    _report_s3kms_log_on_failure,  # noqa: F401
    access_denied,
    assert_no_secrets,
    b64,
    create_key,
    kms_error,
    kms_server,  # noqa: F401
    plaintext,
    target,  # noqa: F401
    unique_alias,
)

pytestmark = pytest.mark.proxy_only

# Every secret a test of this module handled, for the last test to look for.
HANDLED: dict[str, bytes | str] = {}


@pytest.fixture
def kms(kms_server):
    return kms_server.client(ALICE)


@pytest.fixture
def bob(kms_server):
    return kms_server.client(BOB)


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["RequestId"]


def failed_request_id(call) -> tuple[str, dict]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["ResponseMetadata"]["RequestId"], info.value.response["Error"]


def check_identity(record: dict, user) -> None:
    identity = record["userIdentity"]
    assert identity["type"] == "IAMUser"
    assert identity["arn"] == user.arn
    assert identity["userName"] == user.name
    assert identity["accessKeyId"] == user.access_key_id
    assert identity["accountId"] == ACCOUNT_ID
    assert re.fullmatch(r"AIDA[A-Z2-7]{17}", identity["principalId"]), identity
    assert "invokedBy" not in identity, "a direct KMS API call is not invoked by a service"


def check_envelope(record: dict) -> None:
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["eventType"] == "AwsApiCall"
    assert record["awsRegion"] == REGION
    assert record["recipientAccountId"] == ACCOUNT_ID
    assert record["managementEvent"] is True and record["eventCategory"] == "Management"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["eventTime"]), record["eventTime"]
    uuid.UUID(record["eventID"])
    assert record["sourceIPAddress"] == "127.0.0.1"
    assert "Boto3" in record["userAgent"] or "botocore" in record["userAgent"], record["userAgent"]


def test_a_denied_and_an_allowed_call_leave_one_record_each(kms_server, kms, bob):
    alias = unique_alias("audit")
    key = create_key(kms, alias=alias)
    context = {"purpose": "audit-test"}
    secret = plaintext("audited")
    HANDLED["audited plaintext"] = secret

    denied_id, error = failed_request_id(
        lambda: bob.encrypt(KeyId=alias, Plaintext=secret, EncryptionContext=context)
    )
    assert error["Code"] == "AccessDeniedException"
    allowed = kms.encrypt(KeyId=alias, Plaintext=secret, EncryptionContext=context)
    HANDLED["audited ciphertext"] = allowed["CiphertextBlob"]
    assert denied_id != request_id(allowed)

    denied = kms_server.audit_record(denied_id)
    check_envelope(denied)
    check_identity(denied, BOB)
    assert denied["eventName"] == "Encrypt"
    assert denied["errorCode"] == "AccessDeniedException"
    assert denied["errorMessage"] == access_denied(BOB, "kms:Encrypt", key["Arn"], "identity")
    assert denied["errorMessage"] == error["Message"]
    assert denied["resources"] == [{"accountId": ACCOUNT_ID, "type": "AWS::KMS::Key", "ARN": key["Arn"]}]
    assert denied["readOnly"] is True
    assert denied["requestParameters"]["keyId"] == alias, "keyId is logged as the caller sent it"
    assert denied["requestParameters"]["encryptionContext"] == context

    record = kms_server.audit_record(request_id(allowed))
    check_envelope(record)
    check_identity(record, ALICE)
    assert record["eventName"] == "Encrypt"
    assert "errorCode" not in record and "errorMessage" not in record
    assert record["resources"][0]["ARN"] == key["Arn"]
    assert record["readOnly"] is True
    assert record["responseElements"] is None, "crypto operations log no response"
    assert record["requestParameters"]["keyId"] == alias
    assert record["requestParameters"]["encryptionContext"] == context
    assert "plaintext" not in record["requestParameters"]
    assert record["additionalEventData"]["keyMaterialId"] == key["CurrentKeyMaterialId"]
    assert record["userIdentity"]["principalId"] != denied["userIdentity"]["principalId"]
    assert record["eventID"] != denied["eventID"]


def test_decrypt_record_has_the_algorithm_and_the_key_arn(kms_server, kms):
    key = create_key(kms)
    context = {"k": "v"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"decrypt me", EncryptionContext=context)["CiphertextBlob"]
    HANDLED["decrypt ciphertext"] = blob
    decrypted = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)

    record = kms_server.audit_record(request_id(decrypted))
    assert record["eventName"] == "Decrypt"
    assert record["resources"][0]["ARN"] == key["Arn"], "derived from the ciphertext"
    assert record["requestParameters"]["encryptionContext"] == context
    assert "ciphertextBlob" not in record["requestParameters"]
    # CloudTrail: Decrypt always logs encryptionAlgorithm, even when the caller sent none.
    assert record["requestParameters"].get("encryptionAlgorithm") == "SYMMETRIC_DEFAULT", record["requestParameters"]

    wrong_id, error = failed_request_id(lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "w"}))
    wrong = kms_server.audit_record(wrong_id)
    assert (wrong["errorCode"], wrong["errorMessage"]) == ("InvalidCiphertextException", "")
    assert wrong["resources"][0]["ARN"] == key["Arn"]


def test_management_calls_are_recorded_with_their_parameters(kms_server, kms):
    created = kms.create_key(Description="audited key")
    key = created["KeyMetadata"]
    record = kms_server.audit_record(request_id(created))
    assert record["eventName"] == "CreateKey"
    assert record["readOnly"] is False
    assert record["requestParameters"]["description"] == "audited key"
    assert record["responseElements"]["keyMetadata"]["keyId"] == key["KeyId"]
    assert record["resources"][0]["ARN"] == key["Arn"]

    alias = unique_alias("audited")
    record = kms_server.audit_record(request_id(kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])))
    assert record["eventName"] == "CreateAlias"
    assert record["requestParameters"] == {"aliasName": alias, "targetKeyId": key["KeyId"]}

    grant = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=BOB.arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"Tenant": "T1"}},
    )
    HANDLED["grant token"] = grant["GrantToken"]
    record = kms_server.audit_record(request_id(grant))
    assert record["eventName"] == "CreateGrant"
    parameters = record["requestParameters"]
    assert parameters["keyId"] == key["KeyId"]
    assert parameters["granteePrincipal"] == BOB.arn
    assert parameters["operations"] == ["Decrypt"]
    assert parameters["constraints"] == {"encryptionContextSubset": {"Tenant": "T1"}}, "context keys keep their case"
    assert record["responseElements"]["grantId"] == grant["GrantId"]
    assert "grantToken" not in record["responseElements"]

    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"Tenant": "T1"})
    HANDLED["data key"] = data_key["Plaintext"]
    HANDLED["data key ciphertext"] = data_key["CiphertextBlob"]
    record = kms_server.audit_record(request_id(data_key))
    assert record["eventName"] == "GenerateDataKey"
    assert record["requestParameters"]["keySpec"] == "AES_256"
    assert record["requestParameters"]["keyId"] == key["KeyId"]
    assert record["responseElements"] is None

    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    record = kms_server.audit_record(request_id(scheduled))
    assert record["eventName"] == "ScheduleKeyDeletion"
    assert record["readOnly"] is False
    assert record["requestParameters"]["pendingWindowInDays"] == 7
    assert record["requestParameters"]["keyId"] == key["KeyId"]
    assert record["responseElements"]["keyState"] == "PendingDeletion"

    failed_id, _ = failed_request_id(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"late"))
    record = kms_server.audit_record(failed_id)
    assert (record["errorCode"], record["errorMessage"]) == (
        "KMSInvalidStateException",
        f"{key['Arn']} is pending deletion.",
    )

    described = kms.describe_key(KeyId=key["KeyId"])
    assert kms_server.audit_record(request_id(described))["readOnly"] is True


def test_calls_refused_before_a_key_is_found_are_recorded_too(kms_server, kms):
    missing = unique_alias("nowhere")
    failed_id, error = failed_request_id(lambda: kms.describe_key(KeyId=missing))
    record = kms_server.audit_record(failed_id)
    assert record["eventName"] == "DescribeKey"
    assert (record["errorCode"], record["errorMessage"]) == ("NotFoundException", error["Message"])
    assert record["requestParameters"] == {"keyId": missing}

    random_bytes = kms.generate_random(NumberOfBytes=64)
    HANDLED["random bytes"] = random_bytes["Plaintext"]
    assert kms_server.audit_record(request_id(random_bytes))["eventName"] == "GenerateRandom"


def test_every_call_leaves_exactly_one_record(kms_server, kms, bob):
    key = create_key(kms)
    before = len(kms_server.audit_records())
    ids = [
        request_id(kms.describe_key(KeyId=key["KeyId"])),
        request_id(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"counted")),
        failed_request_id(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4097))[0],
        failed_request_id(lambda: bob.describe_key(KeyId=key["KeyId"]))[0],
        failed_request_id(lambda: kms.generate_data_key(KeyId=key["KeyId"]))[0],
        request_id(kms.list_keys(Limit=1)),
        request_id(kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "n", "TagValue": "1"}])),
    ]
    records = kms_server.audit_records()[before:]
    assert [r["requestID"] for r in records] == ids
    assert [r["eventName"] for r in records] == [
        "DescribeKey", "Encrypt", "Encrypt", "DescribeKey", "GenerateDataKey", "ListKeys", "TagResource"
    ]
    assert [r.get("errorCode") for r in records] == [
        None, None, "ValidationException", "AccessDeniedException", "ValidationException", None, None
    ]


def test_no_secret_reaches_the_audit_trail_or_the_log(kms_server, kms, bob):
    key = create_key(kms, alias=unique_alias("secrets"))
    other = create_key(kms)
    secrets_here: dict[str, bytes | str] = dict(HANDLED)
    for user in ALL_USERS:
        secrets_here[f"{user.name}'s secret access key"] = user.secret_access_key

    secret = plaintext("never-logged", 200)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=secret, EncryptionContext={"c": "1"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"c": "1"})
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"c": "1"}, DestinationKeyId=other["KeyId"])
    kms_error(lambda: kms.decrypt(CiphertextBlob=blob), "InvalidCiphertextException", "")
    kms_error(lambda: bob.decrypt(CiphertextBlob=blob, EncryptionContext={"c": "1"}), "AccessDeniedException")
    too_big = plaintext("too-big", 4097)
    kms_error(lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=too_big), "ValidationException")
    denied_secret = plaintext("denied")
    kms_error(lambda: bob.encrypt(KeyId=key["KeyId"], Plaintext=denied_secret), "AccessDeniedException")
    data_key = kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)
    without = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    unwrapped = kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]

    secrets_here.update(
        {
            "plaintext": secret,
            "ciphertext": blob,
            "re-encrypted ciphertext": moved["CiphertextBlob"],
            "oversized plaintext": too_big,
            "denied plaintext": denied_secret,
            "data key": data_key["Plaintext"],
            "data key (base64, as on the wire)": b64(data_key["Plaintext"]),
            "data key ciphertext": data_key["CiphertextBlob"],
            "unwrapped data key": unwrapped,
            "root key": (kms_server.data_dir / "root.key").read_text().strip(),
        }
    )
    assert_no_secrets(kms_server, secrets_here)
