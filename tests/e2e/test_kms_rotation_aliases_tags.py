"""KMS key rotation (on demand and automatic settings), aliases and tags through boto3:
old ciphertexts still decrypt after a rotation while new ones carry the new material,
ListKeyRotations, RotationPeriodInDays bounds, the on-demand limit; alias create / update /
delete / list and AWS's name rules, `alias/aws/s3` created on first use; tag limits."""

import re
import time

import pytest

pytest.register_assert_rewrite("kms_support")

from kms_support import (  # noqa: E402
    ALICE,
    _report_s3kms_log_on_failure,  # noqa: F401
    alias_arn,
    as_epoch,
    create_key,
    kms_error,
    kms_server,  # noqa: F401
    plaintext,
    target,  # noqa: F401
    unique_alias,
)

pytestmark = pytest.mark.proxy_only

DAY = 86_400
ALIAS_PREFIX_MESSAGE = (
    'Alias must start with the prefix "alias/". '
    "Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
)


@pytest.fixture
def kms(kms_server):
    return kms_server.client(ALICE)


# --------------------------------------------------------------------------------------
# Rotation
# --------------------------------------------------------------------------------------


def test_rotation_on_demand_keeps_old_ciphertexts_and_uses_new_material(kms):
    key = create_key(kms, alias=unique_alias("rotate"))
    first_material = key["CurrentKeyMaterialId"]
    old_secret = plaintext("before-rotation")
    old_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=old_secret, EncryptionContext={"v": "1"})["CiphertextBlob"]
    old_data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"] == []

    before = time.time()
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    second_material = kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert re.fullmatch(r"[0-9a-f]{64}", second_material) and second_material != first_material

    old = kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"v": "1"})
    assert (old["Plaintext"], old["KeyMaterialId"]) == (old_secret, first_material)
    old_key = kms.decrypt(CiphertextBlob=old_data_key["CiphertextBlob"])
    assert old_key["Plaintext"] == old_data_key["Plaintext"]

    new_secret = plaintext("after-rotation")
    new_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=new_secret)["CiphertextBlob"]
    new = kms.decrypt(CiphertextBlob=new_blob)
    assert (new["Plaintext"], new["KeyMaterialId"]) == (new_secret, second_material)
    assert kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=16)["KeyMaterialId"] == second_material
    moved = kms.re_encrypt(CiphertextBlob=old_blob, SourceEncryptionContext={"v": "1"}, DestinationKeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])["KeyMaterialId"] == second_material

    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert len(rotations) == 1
    rotation = rotations[0]
    assert (rotation["KeyId"], rotation["KeyMaterialId"], rotation["RotationType"]) == (
        key["KeyId"],
        second_material,
        "ON_DEMAND",
    )
    assert before - 5 <= as_epoch(rotation["RotationDate"]) <= time.time() + 5

    # A second rotation: two entries, pageable one at a time; all three materials decrypt.
    kms.rotate_key_on_demand(KeyId=key["Arn"])
    third_material = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert third_material not in (first_material, second_material)
    first_page = kms.list_key_rotations(KeyId=key["KeyId"], Limit=1)
    assert first_page["Truncated"] is True and len(first_page["Rotations"]) == 1
    second_page = kms.list_key_rotations(KeyId=key["KeyId"], Limit=1, Marker=first_page["NextMarker"])
    assert second_page["Truncated"] is False and len(second_page["Rotations"]) == 1
    paged = [r["KeyMaterialId"] for r in first_page["Rotations"] + second_page["Rotations"]]
    assert sorted(paged) == sorted([second_material, third_material])
    assert kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"v": "1"})["Plaintext"] == old_secret
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == new_secret


def test_list_key_rotations_with_all_key_material_marks_the_current_one(kms):
    key = create_key(kms)
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    current = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]

    everything = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    states = {entry["KeyMaterialId"]: entry.get("KeyMaterialState") for entry in everything}
    assert states == {key["CurrentKeyMaterialId"]: "NON_CURRENT", current: "CURRENT"}
    only_rotations = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ROTATIONS_ONLY")["Rotations"]
    assert [entry["KeyMaterialId"] for entry in only_rotations] == [current]


def test_automatic_rotation_settings(kms, kms_server):
    key = create_key(kms)
    arn = key["Arn"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status

    before = time.time()
    kms.enable_key_rotation(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=arn)
    assert status["KeyRotationEnabled"] is True
    assert status["KeyId"] in (key["KeyId"], arn)
    assert status["RotationPeriodInDays"] == 365
    assert before + 365 * DAY - 60 <= as_epoch(status["NextRotationDate"]) <= time.time() + 365 * DAY + 60

    for days in (90, 2560):
        kms.enable_key_rotation(KeyId=arn, RotationPeriodInDays=days)
        status = kms.get_key_rotation_status(KeyId=arn)
        assert status["RotationPeriodInDays"] == days
        assert as_epoch(status["NextRotationDate"]) == pytest.approx(time.time() + days * DAY, abs=120)
    unvalidated = kms_server.client(ALICE, validate=False)
    for days, constraint in (
        (89, "Member must have value greater than or equal to 90"),
        (2561, "Member must have value less than or equal to 2560"),
    ):
        kms_error(
            lambda: unvalidated.enable_key_rotation(KeyId=arn, RotationPeriodInDays=days),
            "ValidationException",
            f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to satisfy constraint: "
            + constraint,
        )
    assert kms.get_key_rotation_status(KeyId=arn)["RotationPeriodInDays"] == 2560

    # On-demand rotation is independent of the schedule.
    kms.rotate_key_on_demand(KeyId=arn)
    assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is True

    kms.disable_key_rotation(KeyId=arn)
    status = kms.get_key_rotation_status(KeyId=arn)
    assert status["KeyRotationEnabled"] is False
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status

    kms.disable_key(KeyId=arn)
    disabled = f"{arn} is disabled."
    kms_error(lambda: kms.enable_key_rotation(KeyId=arn), "DisabledException", disabled)
    kms_error(lambda: kms.disable_key_rotation(KeyId=arn), "DisabledException", disabled)
    assert kms.get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"] is False


def test_on_demand_rotations_are_limited_to_25(kms):
    key = create_key(kms)
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    kms_error(
        lambda: kms.rotate_key_on_demand(KeyId=key["KeyId"]),
        "LimitExceededException",
        "The on-demand rotations limit has been reached for the given keyId. "
        f"No more on-demand rotations can be performed for this key: {key['Arn']}",
    )
    assert len(kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]) == 25


# --------------------------------------------------------------------------------------
# Aliases
# --------------------------------------------------------------------------------------


def test_alias_create_update_delete(kms):
    first = create_key(kms)
    second = create_key(kms)
    alias = unique_alias("lifecycle")
    before = time.time()
    kms.create_alias(AliasName=alias, TargetKeyId=first["Arn"])

    listed = kms.list_aliases(KeyId=first["KeyId"])["Aliases"]
    assert [entry["AliasName"] for entry in listed] == [alias]
    entry = listed[0]
    assert entry["AliasArn"] == alias_arn(alias)
    assert entry["TargetKeyId"] == first["KeyId"]
    assert before - 5 <= as_epoch(entry["CreationDate"]) <= time.time() + 5
    assert as_epoch(entry["LastUpdatedDate"]) >= as_epoch(entry["CreationDate"]) - 1

    kms_error(
        lambda: kms.create_alias(AliasName=alias, TargetKeyId=second["KeyId"]),
        "AlreadyExistsException",
    )
    old_blob = kms.encrypt(KeyId=alias, Plaintext=b"first key")["CiphertextBlob"]

    kms.update_alias(AliasName=alias, TargetKeyId=second["KeyId"])
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == second["KeyId"]
    assert kms.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"] == second["Arn"]
    assert kms.decrypt(CiphertextBlob=old_blob)["KeyId"] == first["Arn"]
    assert kms.list_aliases(KeyId=first["KeyId"])["Aliases"] == []
    assert [e["AliasName"] for e in kms.list_aliases(KeyId=second["Arn"])["Aliases"]] == [alias]

    kms.delete_alias(AliasName=alias)
    gone = f"Alias {alias_arn(alias)} is not found."
    kms_error(lambda: kms.describe_key(KeyId=alias), "NotFoundException", gone)
    kms_error(lambda: kms.delete_alias(AliasName=alias), "NotFoundException", gone)
    kms_error(lambda: kms.update_alias(AliasName=alias, TargetKeyId=first["KeyId"]), "NotFoundException", gone)
    assert kms.describe_key(KeyId=second["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled", "the key stays"


def test_alias_names_follow_aws_rules(kms):
    key = create_key(kms)
    kms_error(
        lambda: kms.create_alias(AliasName="no-prefix", TargetKeyId=key["KeyId"]),
        "ValidationException",
        ALIAS_PREFIX_MESSAGE,
    )
    kms_error(
        lambda: kms.create_alias(AliasName="alias/Service:Test", TargetKeyId=key["KeyId"]),
        "InvalidAliasNameException",
        "alias/Service:Test contains invalid characters for an alias",
    )
    reserved = kms_error(
        lambda: kms.create_alias(AliasName="alias/aws/e2e-mine", TargetKeyId=key["KeyId"]),
        "InvalidAliasNameException",
    )
    assert reserved
    # Targets are key ids or key ARNs only.
    kms.create_alias(AliasName=(named := unique_alias("named")), TargetKeyId=key["KeyId"])
    kms_error(lambda: kms.create_alias(AliasName=unique_alias("via-alias"), TargetKeyId=named), "NotFoundException")
    assert [e["AliasName"] for e in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]] == [named]


def test_list_aliases_pages_and_includes_aws_s3(kms):
    key = create_key(kms)
    mine = sorted(unique_alias(f"page{n}") for n in range(3))
    for alias in mine:
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])

    names: list[str] = []
    marker = None
    for _ in range(100):
        page = kms.list_aliases(Limit=2, **({"Marker": marker} if marker else {}))
        assert len(page["Aliases"]) <= 2
        names += [entry["AliasName"] for entry in page["Aliases"]]
        if not page["Truncated"]:
            break
        marker = page["NextMarker"]
    assert len(names) == len(set(names))
    assert set(mine) <= set(names)
    assert "alias/aws/s3" in names
    assert sorted(e["AliasName"] for e in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]) == mine


def test_aws_s3_alias_is_created_on_first_use(kms):
    """Predefined `alias/aws/s3` is listed without a target until first used (DescribeKey
    creates it). Nothing else in this module touches it."""
    listed = {e["AliasName"]: e for e in kms.list_aliases()["Aliases"]}
    assert "TargetKeyId" not in listed["alias/aws/s3"], listed["alias/aws/s3"]
    assert listed["alias/aws/s3"]["AliasArn"] == alias_arn("alias/aws/s3")

    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert managed["Description"] == "Default key that protects my S3 objects when no other key is defined"
    assert kms.describe_key(KeyId=alias_arn("alias/aws/s3"))["KeyMetadata"]["KeyId"] == managed["KeyId"]
    listed = {e["AliasName"]: e for e in kms.list_aliases()["Aliases"]}
    assert listed["alias/aws/s3"]["TargetKeyId"] == managed["KeyId"]
    # AWS managed keys rotate every year.
    assert kms.get_key_rotation_status(KeyId=managed["KeyId"])["KeyRotationEnabled"] is True
    kms_error(lambda: kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x"), "AccessDeniedException")


# --------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------


def tags_of(kms, key_id: str) -> dict[str, str]:
    return {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}


def test_tag_untag_and_list(kms):
    key = create_key(kms, Tags=[{"TagKey": "team", "TagValue": "storage"}, {"TagKey": "env", "TagValue": "test"}])
    assert tags_of(kms, key["KeyId"]) == {"team": "storage", "env": "test"}

    kms.tag_resource(KeyId=key["Arn"], Tags=[{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "cost", "TagValue": ""}])
    assert tags_of(kms, key["KeyId"]) == {"team": "storage", "env": "prod", "cost": ""}

    kms.untag_resource(KeyId=key["KeyId"], TagKeys=["team", "not-there"])
    assert tags_of(kms, key["KeyId"]) == {"env": "prod", "cost": ""}

    first = kms.list_resource_tags(KeyId=key["KeyId"], Limit=1)
    assert first["Truncated"] is True and len(first["Tags"]) == 1
    rest = kms.list_resource_tags(KeyId=key["KeyId"], Limit=1, Marker=first["NextMarker"])
    assert rest["Truncated"] is False
    assert {t["TagKey"] for t in first["Tags"] + rest["Tags"]} == {"env", "cost"}


def test_tag_limits(kms):
    key = create_key(kms)
    key_id = key["KeyId"]
    kms_error(
        lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "aws:owner", "TagValue": "x"}]),
        "TagException",
        "Tags beginning with aws: are reserved",
    )
    kms_error(
        lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "AWS:Owner", "TagValue": "x"}]),
        "TagException",
        "Tags beginning with aws: are reserved",
    )
    kms_error(
        lambda: kms.tag_resource(
            KeyId=key_id, Tags=[{"TagKey": "dup", "TagValue": "1"}, {"TagKey": "dup", "TagValue": "2"}]
        ),
        "TagException",
        "Duplicate tag keys",
    )
    kms_error(
        lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"k{n}", "TagValue": "v"} for n in range(51)]),
        "TagException",
        "Too many tags",
    )
    kms_error(
        lambda: kms.create_key(Tags=[{"TagKey": f"k{n}", "TagValue": "v"} for n in range(51)]),
        "TagException",
        "Too many tags",
    )
    kms_error(
        lambda: kms.tag_resource(
            KeyId=key_id, Tags=[{"TagKey": "ok", "TagValue": "v"}, {"TagKey": "k" * 129, "TagValue": "v"}]
        ),
        "ValidationException",
        f"1 validation error detected: Value '{'k' * 129}' at 'tags.2.member.tagKey' failed to satisfy constraint: "
        "Member must have length less than or equal to 128",
    )
    assert tags_of(kms, key_id) == {}

    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"k{n}", "TagValue": "v"} for n in range(50)])
    kms_error(
        lambda: kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "one-more", "TagValue": "v"}]),
        "TagException",
        "Too many tags",
    )
    assert len(kms.list_resource_tags(KeyId=key_id)["Tags"]) == 50
