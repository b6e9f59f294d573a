"""KMS state across an s3kms restart on the same data_dir: keys and their states, aliases,
tags, policies, rotation settings and history, grants all survive and old ciphertexts still
decrypt; declared `[[keys]]` are created once; a user removed from the config and added back
does not regain access through a key policy that named the old user."""

import json
import re
import time

import pytest

pytest.register_assert_rewrite("kms_support")

from kms_support import (  # noqa: E402
    ALICE,
    ALL_USERS,
    BOB,
    CAROL,
    DAVE,
    LIVE_LOGS,
    DeclaredKey,
    _report_s3kms_log_on_failure,  # noqa: F401
    access_denied,
    allow,
    as_epoch,
    assert_no_secrets,
    create_key,
    key_policy,
    kms_error,
    plaintext,
    start_kms_server,
    target,  # noqa: F401
    unique_alias,
)

pytestmark = pytest.mark.proxy_only

DECLARED = [
    DeclaredKey(alias="alias/e2e-declared-plain", description="declared, default policy"),
    DeclaredKey(
        alias="alias/e2e-declared-for-bob",
        description="declared, bob may use it",
        policy=key_policy(allow(BOB.arn, ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"])),
    ),
]
# Secrets handled here, for the last test to look for in this server's files.
HANDLED: dict[str, bytes | str] = {}


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory):
    server = start_kms_server(tmp_path_factory, users=ALL_USERS, keys=DECLARED)
    try:
        yield server
    finally:
        server.stop()
        LIVE_LOGS.discard(server.log_path)


def snapshot(kms, key_id: str) -> dict:
    """What a key looks like from outside, for before/after comparisons."""
    return {
        "metadata": kms.describe_key(KeyId=key_id)["KeyMetadata"],
        "policy": kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"],
        "tags": kms.list_resource_tags(KeyId=key_id)["Tags"],
        "aliases": kms.list_aliases(KeyId=key_id)["Aliases"],
        "rotation": kms.get_key_rotation_status(KeyId=key_id),
        "rotations": kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"],
        "grants": kms.list_grants(KeyId=key_id)["Grants"],
    }


def without_metadata(answer: dict) -> dict:
    return {name: value for name, value in answer.items() if name != "ResponseMetadata"}


def test_keys_aliases_policies_grants_and_rotations_survive_a_restart(kms_server):
    kms = kms_server.client(ALICE)
    alias = unique_alias("survivor")
    key = create_key(
        kms,
        alias=alias,
        description="survives restarts",
        Tags=[{"TagKey": "team", "TagValue": "storage"}],
    )
    key_id = key["KeyId"]
    kms.put_key_policy(
        KeyId=key_id,
        PolicyName="default",
        Policy=json.dumps(key_policy(allow(BOB.arn, ["kms:Encrypt", "kms:Decrypt"]))),
    )
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    before_rotation = plaintext("before-rotation")
    old_blob = kms.encrypt(KeyId=alias, Plaintext=before_rotation, EncryptionContext={"v": "old"})["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key_id)
    after_rotation = plaintext("after-rotation")
    new_blob = kms.encrypt(KeyId=alias, Plaintext=after_rotation)["CiphertextBlob"]
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    grant_id = kms.create_grant(
        KeyId=key_id,
        GranteePrincipal=CAROL.arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"v": "old"}},
        Name="carol-old",
    )["GrantId"]
    bobs_blob = kms_server.client(BOB).encrypt(KeyId=key_id, Plaintext=b"bob was here")["CiphertextBlob"]
    HANDLED.update({"before": before_rotation, "after": after_rotation, "data key": data_key["Plaintext"]})

    disabled = create_key(kms, description="stays disabled")
    kms.disable_key(KeyId=disabled["KeyId"])
    pending = create_key(kms, description="stays pending deletion")
    pending_blob = kms.encrypt(KeyId=pending["KeyId"], Plaintext=b"pending")["CiphertextBlob"]
    deletion_date = kms.schedule_key_deletion(KeyId=pending["KeyId"], PendingWindowInDays=9)["DeletionDate"]

    declared = {d.alias: kms.describe_key(KeyId=d.alias)["KeyMetadata"]["KeyId"] for d in DECLARED}
    before = snapshot(kms, key_id)
    all_keys = sorted(k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"])
    all_aliases = sorted((a["AliasName"], a.get("TargetKeyId")) for a in kms.list_aliases(Limit=100)["Aliases"])
    root_key = (kms_server.data_dir / "root.key").read_bytes()

    kms_server.restart()
    kms = kms_server.client(ALICE)

    assert (kms_server.data_dir / "root.key").read_bytes() == root_key
    after = snapshot(kms, key_id)
    after["rotation"] = without_metadata(after["rotation"])
    before["rotation"] = without_metadata(before["rotation"])
    assert after == before
    assert after["rotation"]["RotationPeriodInDays"] == 180
    assert sorted(k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]) == all_keys, "no key added or lost"
    assert sorted((a["AliasName"], a.get("TargetKeyId")) for a in kms.list_aliases(Limit=100)["Aliases"]) == all_aliases
    assert {d.alias: kms.describe_key(KeyId=d.alias)["KeyMetadata"]["KeyId"] for d in DECLARED} == declared

    old = kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"v": "old"})
    assert old["Plaintext"] == before_rotation
    assert old["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == after_rotation
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    assert kms.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"] == key["Arn"]

    # The key policy still names bob; the grant still lets carol decrypt within its context.
    bob = kms_server.client(BOB)
    assert bob.decrypt(CiphertextBlob=bobs_blob)["Plaintext"] == b"bob was here"
    carol = kms_server.client(CAROL)
    assert carol.decrypt(CiphertextBlob=old_blob, EncryptionContext={"v": "old"})["Plaintext"] == before_rotation
    kms_error(lambda: carol.decrypt(CiphertextBlob=new_blob), "AccessDeniedException")
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key_id)["Grants"]] == [grant_id]

    # States and deletion dates too.
    assert kms.describe_key(KeyId=disabled["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    kms_error(lambda: kms.encrypt(KeyId=disabled["KeyId"], Plaintext=b"x"), "DisabledException")
    pending_now = kms.describe_key(KeyId=pending["KeyId"])["KeyMetadata"]
    assert pending_now["KeyState"] == "PendingDeletion"
    assert as_epoch(pending_now["DeletionDate"]) == pytest.approx(as_epoch(deletion_date), abs=1)
    kms_error(lambda: kms.decrypt(CiphertextBlob=pending_blob), "KMSInvalidStateException")
    kms.cancel_key_deletion(KeyId=pending["KeyId"])
    kms.enable_key(KeyId=pending["KeyId"])
    assert kms.decrypt(CiphertextBlob=pending_blob)["Plaintext"] == b"pending"


def test_declared_keys_are_created_once_and_keep_their_policy(kms_server):
    kms = kms_server.client(ALICE)
    first = {}
    for declared in DECLARED:
        metadata = kms.describe_key(KeyId=declared.alias)["KeyMetadata"]
        assert metadata["Description"] == declared.description
        first[declared.alias] = metadata["KeyId"]
    bob_alias = DECLARED[1].alias
    blob = kms_server.client(BOB).encrypt(KeyId=bob_alias, Plaintext=b"declared")["CiphertextBlob"]
    kms_error(lambda: kms_server.client(BOB).encrypt(KeyId=DECLARED[0].alias, Plaintext=b"x"), "AccessDeniedException")
    key_count = len(kms.list_keys(Limit=1000)["Keys"])

    # Twice, the second time with a changed description: the existing keys are kept as they are.
    kms_server.restart()
    changed = [DeclaredKey(d.alias, d.description + " (edited)", d.policy) for d in DECLARED]
    kms_server.restart(keys=changed)
    kms = kms_server.client(ALICE)

    assert len(kms.list_keys(Limit=1000)["Keys"]) == key_count
    aliases = [a["AliasName"] for a in kms.list_aliases(Limit=100)["Aliases"]]
    for declared in DECLARED:
        assert aliases.count(declared.alias) == 1
        metadata = kms.describe_key(KeyId=declared.alias)["KeyMetadata"]
        assert (metadata["KeyId"], metadata["Description"]) == (first[declared.alias], declared.description)
    assert kms_server.client(BOB).decrypt(CiphertextBlob=blob)["Plaintext"] == b"declared"
    kms_server.restart(keys=DECLARED)


def test_a_user_removed_and_added_back_does_not_regain_access(kms_server):
    kms = kms_server.client(ALICE)
    key = create_key(kms, alias=unique_alias("dave"))
    arn = key["Arn"]
    policy = key_policy(allow(DAVE.arn, ["kms:Encrypt", "kms:Decrypt"]))
    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))
    daves = kms_server.client(DAVE).encrypt(KeyId=arn, Plaintext=b"dave's")
    dave_blob = daves["CiphertextBlob"]
    daves_id = kms_server.audit_record(daves["ResponseMetadata"]["RequestId"])["userIdentity"]["principalId"]
    shown = json.loads(kms.get_key_policy(KeyId=arn)["Policy"])
    assert shown["Statement"][1]["Principal"] == {"AWS": DAVE.arn}

    try:
        kms_server.restart(users=[ALICE, BOB, CAROL])
        kms = kms_server.client(ALICE)
        # While dave is gone, the policy names a bare unique id nobody maps back to.
        principal = json.loads(kms.get_key_policy(KeyId=arn)["Policy"])["Statement"][1]["Principal"]["AWS"]
        assert re.fullmatch(r"AIDA[A-Z2-7]{17}", principal), principal
        assert principal == daves_id, "the policy holds the id the audit trail showed for dave"
        old_id = principal
        kms_error(
            lambda: kms_server.client(DAVE).encrypt(KeyId=arn, Plaintext=b"x"),
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
        kms_error(
            lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy)),
            "MalformedPolicyDocumentException",
            "Policy contains a statement with one or more invalid principals.",
        )
    finally:
        kms_server.restart(users=ALL_USERS)

    kms = kms_server.client(ALICE)
    dave = kms_server.client(DAVE)
    kms_error(
        lambda: dave.encrypt(KeyId=arn, Plaintext=b"x"),
        "AccessDeniedException",
        access_denied(DAVE, "kms:Encrypt", arn, "identity"),
    )
    kms_error(
        lambda: dave.decrypt(CiphertextBlob=dave_blob),
        "AccessDeniedException",
        access_denied(DAVE, "kms:Decrypt", arn, "identity"),
    )
    principal = json.loads(kms.get_key_policy(KeyId=arn)["Policy"])["Statement"][1]["Principal"]["AWS"]
    assert principal == old_id, "the old id is not the new dave's"

    # Saving the policy again names the new dave.
    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))
    assert dave.decrypt(CiphertextBlob=dave_blob)["Plaintext"] == b"dave's"
    assert json.loads(kms.get_key_policy(KeyId=arn)["Policy"])["Statement"][1]["Principal"] == {"AWS": DAVE.arn}


def test_sigterm_stops_s3kms_cleanly_and_nothing_secret_was_logged(kms_server):
    kms = kms_server.client(ALICE)
    key = create_key(kms)
    secret = plaintext("last")
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=secret)["CiphertextBlob"]
    started = time.monotonic()
    kms_server.restart()  # asserts exit status 0 on SIGTERM
    assert time.monotonic() - started < 15
    assert kms_server.client(ALICE).decrypt(CiphertextBlob=blob)["Plaintext"] == secret

    found: dict[str, bytes | str] = {**HANDLED, "last plaintext": secret}
    for user in ALL_USERS:
        found[f"{user.name}'s secret access key"] = user.secret_access_key
    assert_no_secrets(kms_server, found)


def test_sigterm_right_after_start_exits_cleanly(tmp_path_factory):
    """Once s3kms has printed its listening line, SIGTERM is a clean stop (exit 0), however
    soon it comes; a supervisor that restarts s3kms stops it that way."""
    server = start_kms_server(tmp_path_factory, users=[ALICE])
    statuses = [server.stop()]
    try:
        for _ in range(11):
            server.start()
            statuses.append(server.stop())
    finally:
        server.stop()
        LIVE_LOGS.discard(server.log_path)
    assert statuses == [0] * 12
