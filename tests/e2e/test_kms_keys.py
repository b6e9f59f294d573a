"""KMS keys and their lifecycle through boto3: CreateKey / DescribeKey metadata, every key id
form and AWS's NotFound texts, ListKeys paging, Enable/DisableKey, Schedule/CancelKeyDeletion
and what each key state refuses, UpdateKeyDescription, the default key policy and DryRun."""

import json
import re
import time
import uuid

import pytest

pytest.register_assert_rewrite("kms_support")

from kms_support import (  # noqa: E402
    ACCOUNT_ID,
    ACCOUNT_ROOT,
    ALICE,
    BOB,
    DRY_RUN_MESSAGE,
    REGION,
    KmsUser,
    _report_s3kms_log_on_failure,  # noqa: F401
    access_denied,
    alias_arn,
    as_epoch,
    create_key,
    key_arn,
    kms_client,
    kms_error,
    kms_server,  # noqa: F401
    not_found,
    plaintext,
    target,  # noqa: F401
    unique_alias,
)

pytestmark = pytest.mark.proxy_only

DAY = 86_400


@pytest.fixture
def kms(kms_server):
    return kms_server.client(ALICE)


def test_create_key_metadata_is_aws_shaped(kms):
    before = time.time()
    created = kms.create_key(Description="lifecycle metadata")["KeyMetadata"]

    key_id = created["KeyId"]
    assert uuid.UUID(key_id).version == 4 and str(uuid.UUID(key_id)) == key_id
    expected = {
        "AWSAccountId": ACCOUNT_ID,
        "KeyId": key_id,
        "Arn": f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}",
        "Enabled": True,
        "Description": "lifecycle metadata",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": False,
    }
    assert {name: created.get(name) for name in expected} == expected
    assert re.fullmatch(r"[0-9a-f]{64}", created["CurrentKeyMaterialId"]), created
    assert before - 5 <= as_epoch(created["CreationDate"]) <= time.time() + 5
    # Absent optional members are omitted, not null.
    assert "DeletionDate" not in created and "ValidTo" not in created

    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    # (CreationDate's exactness has a test of its own, below.)
    assert as_epoch(described.pop("CreationDate")) == pytest.approx(as_epoch(created.pop("CreationDate")), abs=0.001)
    assert described == created


def test_creation_date_reads_back_exactly_as_create_key_returned_it(kms_server):
    """A key's CreationDate is one number: DescribeKey must return what CreateKey did, to the
    last digit (a JSON float read back lossily from the key store differs in its last bit for
    about one key in five, so 20 keys show it almost surely)."""
    client = kms_client(kms_server.endpoint, ALICE)
    raw: list[bytes] = []
    client.meta.events.register("after-call.kms", lambda http_response, **_: raw.append(http_response.content))
    differing = []
    for _ in range(20):
        raw.clear()
        key_id = client.create_key()["KeyMetadata"]["KeyId"]
        client.describe_key(KeyId=key_id)
        created, described = (json.loads(body)["KeyMetadata"]["CreationDate"] for body in raw)
        if created != described:
            differing.append((key_id, created, described))
    assert differing == []


def test_every_key_id_form_names_the_key(kms):
    alias = unique_alias("forms")
    key = create_key(kms, alias=alias)

    for form in (key["KeyId"], key["Arn"], alias, alias_arn(alias)):
        assert kms.describe_key(KeyId=form)["KeyMetadata"]["Arn"] == key["Arn"], form
        encrypted = kms.encrypt(KeyId=form, Plaintext=b"x")
        assert encrypted["KeyId"] == key["Arn"], form


def test_unknown_and_malformed_key_ids_use_aws_texts(kms):
    absent = str(uuid.uuid4())
    kms_error(lambda: kms.describe_key(KeyId=absent), "NotFoundException", not_found(key_arn(absent)))
    kms_error(lambda: kms.describe_key(KeyId=key_arn(absent)), "NotFoundException", not_found(key_arn(absent)))
    kms_error(lambda: kms.encrypt(KeyId=absent, Plaintext=b"x"), "NotFoundException", not_found(key_arn(absent)))
    kms_error(lambda: kms.enable_key(KeyId=absent), "NotFoundException", not_found(key_arn(absent)))
    kms_error(lambda: kms.describe_key(KeyId="x"), "NotFoundException", "Invalid keyId 'x'")
    kms_error(lambda: kms.encrypt(KeyId="not-a-key", Plaintext=b"x"), "NotFoundException", "Invalid keyId 'not-a-key'")

    missing = unique_alias("missing")
    alias_gone = f"Alias {alias_arn(missing)} is not found."
    kms_error(lambda: kms.describe_key(KeyId=missing), "NotFoundException", alias_gone)
    kms_error(lambda: kms.encrypt(KeyId=missing, Plaintext=b"x"), "NotFoundException", alias_gone)
    kms_error(
        lambda: kms.generate_data_key(KeyId=alias_arn(missing), KeySpec="AES_256"), "NotFoundException", alias_gone
    )

    other_region = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/{absent}"
    kms_error(lambda: kms.describe_key(KeyId=other_region), "NotFoundException", "Invalid arn eu-west-1")


def test_management_operations_take_no_alias(kms):
    alias = unique_alias("mgmt")
    key = create_key(kms, alias=alias)

    kms_error(lambda: kms.disable_key(KeyId=alias), "NotFoundException")
    kms_error(lambda: kms.get_key_policy(KeyId=alias, PolicyName="default"), "NotFoundException")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_list_keys_pages_through_every_key(kms):
    created = {create_key(kms, description=f"list {n}")["KeyId"] for n in range(3)}

    seen: list[str] = []
    marker = None
    pages = 0
    while True:
        page = kms.list_keys(Limit=2, **({"Marker": marker} if marker else {}))
        pages += 1
        assert len(page["Keys"]) <= 2
        for entry in page["Keys"]:
            assert entry["KeyArn"] == key_arn(entry["KeyId"]), entry
            seen.append(entry["KeyId"])
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
        assert pages < 100
    assert len(seen) == len(set(seen)), "a key was listed twice"
    assert created <= set(seen)
    assert pages >= 2

    everything = [entry["KeyId"] for entry in kms.list_keys(Limit=1000)["Keys"]]
    assert sorted(everything) == sorted(seen)
    kms_error(lambda: kms.list_keys(Marker="no-such-marker"), "InvalidMarkerException")


def test_list_limit_out_of_range_uses_aws_validation_text(kms_server):
    unvalidated = kms_server.client(ALICE, validate=False)
    for limit, constraint in (
        (0, "Member must have value greater than or equal to 1"),
        (1001, "Member must have value less than or equal to 1000"),
    ):
        kms_error(
            lambda: unvalidated.list_keys(Limit=limit),
            "ValidationException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: {constraint}",
        )


def test_default_key_policy_and_policy_names(kms):
    key = create_key(kms)

    answer = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    assert answer["PolicyName"] == "default"
    assert json.loads(answer["Policy"]) == {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT_ROOT},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    # PolicyName is optional, and `default` is the only one.
    assert kms.get_key_policy(KeyId=key["Arn"])["Policy"] == answer["Policy"]
    listed = kms.list_key_policies(KeyId=key["KeyId"])
    assert listed["PolicyNames"] == ["default"] and listed["Truncated"] is False
    kms_error(lambda: kms.get_key_policy(KeyId=key["KeyId"], PolicyName="other"), "NotFoundException")


def test_disabled_key_refuses_crypto_and_enable_restores_it(kms):
    key = create_key(kms)
    arn = key["Arn"]
    secret = plaintext("disabled")
    blob = kms.encrypt(KeyId=arn, Plaintext=secret)["CiphertextBlob"]

    assert kms.disable_key(KeyId=key["KeyId"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    described = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Disabled", False)

    disabled = f"{arn} is disabled."
    kms_error(lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"), "DisabledException", disabled)
    kms_error(lambda: kms.decrypt(CiphertextBlob=blob), "DisabledException", disabled)
    kms_error(lambda: kms.generate_data_key(KeyId=arn, KeySpec="AES_256"), "DisabledException", disabled)
    kms_error(
        lambda: kms.generate_data_key_without_plaintext(KeyId=arn, KeySpec="AES_256"), "DisabledException", disabled
    )
    kms_error(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=arn), "DisabledException", disabled)
    kms_error(
        lambda: kms.create_grant(KeyId=arn, GranteePrincipal=BOB.arn, Operations=["Decrypt"]),
        "DisabledException",
        disabled,
    )
    kms_error(lambda: kms.rotate_key_on_demand(KeyId=arn), "DisabledException", disabled)
    # Disabling twice, and management of a disabled key, work.
    kms.disable_key(KeyId=arn)
    kms.update_key_description(KeyId=arn, Description="still manageable")
    kms.tag_resource(KeyId=arn, Tags=[{"TagKey": "state", "TagValue": "disabled"}])

    kms.enable_key(KeyId=arn)
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == secret


def test_pending_deletion_refuses_crypto_until_cancelled(kms):
    alias = unique_alias("pending")
    key = create_key(kms, alias=alias)
    arn = key["Arn"]
    secret = plaintext("pending")
    blob = kms.encrypt(KeyId=arn, Plaintext=secret)["CiphertextBlob"]
    other = create_key(kms)
    other_blob = kms.encrypt(KeyId=other["Arn"], Plaintext=b"other")["CiphertextBlob"]
    kms.create_alias(AliasName=(dropped := unique_alias("dropped")), TargetKeyId=arn)
    kms.create_alias(AliasName=(leaving := unique_alias("leaving")), TargetKeyId=arn)

    before = time.time()
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert scheduled["KeyId"] == arn
    assert scheduled["KeyState"] == "PendingDeletion"
    assert scheduled["PendingWindowInDays"] == 7
    deletion = as_epoch(scheduled["DeletionDate"])
    assert before + 7 * DAY - 60 <= deletion <= time.time() + 7 * DAY + 60

    described = kms.describe_key(KeyId=alias)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("PendingDeletion", False)
    assert as_epoch(described["DeletionDate"]) == pytest.approx(deletion, abs=1)

    pending = f"{arn} is pending deletion."
    state = "KMSInvalidStateException"
    # Aliases: one may leave a pending key, none may come to it, and deleting one is fine.
    kms.update_alias(AliasName=leaving, TargetKeyId=other["KeyId"])
    kms_error(lambda: kms.update_alias(AliasName=leaving, TargetKeyId=arn), state, pending)
    kms.delete_alias(AliasName=dropped)
    kms_error(lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"), state, pending)
    kms_error(lambda: kms.encrypt(KeyId=alias, Plaintext=b"x"), state, pending)
    kms_error(lambda: kms.decrypt(CiphertextBlob=blob), state, pending)
    kms_error(lambda: kms.generate_data_key(KeyId=arn, NumberOfBytes=32), state, pending)
    kms_error(lambda: kms.generate_data_key_without_plaintext(KeyId=arn, KeySpec="AES_128"), state, pending)
    kms_error(lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["Arn"]), state, pending)
    kms_error(lambda: kms.re_encrypt(CiphertextBlob=other_blob, DestinationKeyId=arn), state, pending)
    kms_error(lambda: kms.create_grant(KeyId=arn, GranteePrincipal=BOB.arn, Operations=["Decrypt"]), state, pending)
    kms_error(lambda: kms.enable_key(KeyId=arn), state, pending)
    kms_error(lambda: kms.disable_key(KeyId=arn), state, pending)
    kms_error(lambda: kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7), state, pending)
    kms_error(lambda: kms.update_key_description(KeyId=arn, Description="no"), state, pending)
    kms_error(lambda: kms.tag_resource(KeyId=arn, Tags=[{"TagKey": "a", "TagValue": "b"}]), state, pending)
    kms_error(lambda: kms.enable_key_rotation(KeyId=arn), state, pending)
    kms_error(lambda: kms.rotate_key_on_demand(KeyId=arn), state, pending)
    kms_error(lambda: kms.create_alias(AliasName=unique_alias("late"), TargetKeyId=arn), state, pending)
    # What every state allows.
    kms.get_key_policy(KeyId=arn, PolicyName="default")
    kms.list_grants(KeyId=arn)
    kms.list_resource_tags(KeyId=arn)
    assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is False

    cancelled = kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert cancelled["KeyId"] == arn
    described = kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("Disabled", False)
    assert "DeletionDate" not in described
    kms_error(lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"), "DisabledException", f"{arn} is disabled.")
    kms_error(lambda: kms.cancel_key_deletion(KeyId=arn), state, f"{arn} is not pending deletion.")

    kms.enable_key(KeyId=arn)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == secret
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key["KeyId"], "the alias survived"


def test_schedule_key_deletion_window_is_7_to_30_days(kms):
    key = create_key(kms)
    for days in (6, 31):
        kms_error(
            lambda: kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=days),
            "ValidationException",
            "PendingWindowInDays must be between 7 and 30",
        )
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"

    before = time.time()
    scheduled = kms.schedule_key_deletion(KeyId=key["KeyId"])
    assert scheduled["PendingWindowInDays"] == 30
    assert before + 30 * DAY - 60 <= as_epoch(scheduled["DeletionDate"]) <= time.time() + 30 * DAY + 60
    kms_error(lambda: kms.cancel_key_deletion(KeyId=str(uuid.uuid4())), "NotFoundException")


def test_update_key_description(kms):
    key = create_key(kms, description="before")

    kms.update_key_description(KeyId=key["Arn"], Description="after")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "after"
    kms.update_key_description(KeyId=key["KeyId"], Description="")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == ""
    kms_error(
        lambda: kms.update_key_description(KeyId=key["KeyId"], Description="d" * 8193), "ValidationException"
    )
    kms_error(
        lambda: kms.create_key(Description="d" * 8193), "ValidationException"
    )


def test_dry_run_checks_everything_then_refuses(kms, kms_server):
    key = create_key(kms)
    arn = key["Arn"]
    blob = kms.encrypt(KeyId=arn, Plaintext=b"dry")["CiphertextBlob"]
    grant_id = kms.create_grant(KeyId=arn, GranteePrincipal=BOB.arn, Operations=["Decrypt"])["GrantId"]

    dry_runs = {
        "Encrypt": lambda: kms.encrypt(KeyId=arn, Plaintext=b"x", DryRun=True),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=arn, DryRun=True),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=arn, KeySpec="AES_256", DryRun=True),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=arn, KeySpec="AES_256", DryRun=True
        ),
        "CreateGrant": lambda: kms.create_grant(
            KeyId=arn, GranteePrincipal=BOB.arn, Operations=["Encrypt"], DryRun=True
        ),
        "RevokeGrant": lambda: kms.revoke_grant(KeyId=arn, GrantId=grant_id, DryRun=True),
        "RetireGrant": lambda: kms.retire_grant(KeyId=arn, GrantId=grant_id, DryRun=True),
    }
    for name, call in dry_runs.items():
        error = kms_error(call, "DryRunOperationException", DRY_RUN_MESSAGE)
        assert error, name
    # Nothing happened: one grant, still there.
    assert [g["GrantId"] for g in kms.list_grants(KeyId=arn)["Grants"]] == [grant_id]

    # A dry run is checked like the real call: no permission, no "would have succeeded".
    bob = kms_server.client(BOB)
    kms_error(
        lambda: bob.encrypt(KeyId=arn, Plaintext=b"x", DryRun=True),
        "AccessDeniedException",
        access_denied(BOB, "kms:Encrypt", arn, "identity"),
    )
    kms.disable_key(KeyId=arn)
    kms_error(lambda: kms.encrypt(KeyId=arn, Plaintext=b"x", DryRun=True), "DisabledException")


def test_wire_format_is_aws_json_1_1(kms_server):
    """Content type, epoch-number timestamps, an empty body for operations without output, and
    `{"__type", "message"}` errors, as the raw bytes show them (spec 5.1)."""
    client = kms_client(kms_server.endpoint, ALICE)  # a client of its own: the hook is per client
    seen = []
    client.meta.events.register(
        "after-call.kms", lambda http_response, model, **_: seen.append((model.name, http_response))
    )
    key = client.create_key()["KeyMetadata"]
    client.enable_key(KeyId=key["KeyId"])
    kms_error(lambda: client.describe_key(KeyId="x"), "NotFoundException")
    kms_error(lambda: client.decrypt(CiphertextBlob=b"not a ciphertext blob"), "InvalidCiphertextException")

    assert [name for name, _ in seen] == ["CreateKey", "EnableKey", "DescribeKey", "Decrypt"]
    for name, response in seen:
        assert response.headers.get("Content-Type") == "application/x-amz-json-1.1", name
    created = json.loads(seen[0][1].content)
    assert isinstance(created["KeyMetadata"]["CreationDate"], (int, float)), created
    assert seen[1][1].content == b""
    assert json.loads(seen[2][1].content) == {"__type": "NotFoundException", "message": "Invalid keyId 'x'"}
    assert json.loads(seen[3][1].content) == {"__type": "InvalidCiphertextException", "message": ""}


def test_unknown_access_key_and_wrong_secret_are_refused(kms_server):
    stranger = KmsUser("stranger", "AKIANOBODY000000000", "not-a-configured-secret-0123")
    kms_error(
        lambda: kms_client(kms_server.endpoint, stranger).list_keys(),
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
    forged = KmsUser("alice", ALICE.access_key_id, ALICE.secret_access_key + "x")
    kms_error(lambda: kms_client(kms_server.endpoint, forged).list_keys(), "InvalidSignatureException")
