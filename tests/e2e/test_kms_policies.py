"""Who may use a KMS key, through boto3: key policies (naming a user, delegating to the
account, explicit Deny on an encryption-context condition), identity policies (alice's admin
policy, carol's narrow one, bob's none), grants (EncryptionContextSubset / Equals, retire,
revoke), the policy lockout safety check, and AWS's three AccessDeniedException texts."""

import json
import re

import pytest

pytest.register_assert_rewrite("kms_support")

from kms_support import (  # noqa: E402
    ACCOUNT_ID,
    ACCOUNT_ROOT,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    LIVE_LOGS,
    LOCKOUT_MESSAGE,
    DeclaredKey,
    _report_s3kms_log_on_failure,  # noqa: F401
    access_denied,
    allow,
    create_key,
    deny,
    key_arn,
    key_policy,
    kms_error,
    plaintext,
    start_kms_server,
    target,  # noqa: F401
    unique_alias,
)

pytestmark = pytest.mark.proxy_only

USE = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
BOBS_DECLARED_KEY = DeclaredKey(
    alias="alias/e2e-declared-for-bob",
    description="declared with a key policy naming bob",
    policy=key_policy(allow(BOB.arn, USE)),
)
CAROLS_KEY_ALIAS = "alias/e2e-carol-may-decrypt"


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory):
    """s3kms with bob's declared key; carol's identity policy names a key created here, so
    s3kms is restarted once with that policy in the config."""
    server = start_kms_server(tmp_path_factory, keys=[BOBS_DECLARED_KEY])
    try:
        carols_key = create_key(server.client(ALICE), alias=CAROLS_KEY_ALIAS)
        carol = CAROL.with_policy(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": carols_key["Arn"]},
                    {
                        "Effect": "Deny",
                        "Action": "kms:Decrypt",
                        "Resource": "*",
                        "Condition": {"StringEquals": {"kms:EncryptionContext:carol-blocked": "yes"}},
                    },
                ],
            }
        )
        server.restart(users=[ALICE, BOB, carol, DAVE])
        yield server
    finally:
        server.stop()
        LIVE_LOGS.discard(server.log_path)


@pytest.fixture
def kms(kms_server):
    return kms_server.client(ALICE)


@pytest.fixture
def bob(kms_server):
    return kms_server.client(BOB)


@pytest.fixture
def carol(kms_server):
    return kms_server.client("carol")


def test_key_policy_naming_bob_lets_him_in_without_identity_policy(kms, bob):
    declared = bob.describe_key(KeyId=BOBS_DECLARED_KEY.alias)["KeyMetadata"]
    assert declared["Description"] == BOBS_DECLARED_KEY.description
    secret = plaintext("bob-declared")
    blob = bob.encrypt(KeyId=BOBS_DECLARED_KEY.alias, Plaintext=secret)["CiphertextBlob"]
    assert bob.decrypt(CiphertextBlob=blob)["Plaintext"] == secret
    assert len(bob.generate_data_key(KeyId=declared["Arn"], KeySpec="AES_256")["Plaintext"]) == 32
    # Only what the statement lists; the rest falls to the account delegation, and bob has no
    # identity policy.
    kms_error(
        lambda: bob.disable_key(KeyId=declared["KeyId"]),
        "AccessDeniedException",
        access_denied(BOB, "kms:DisableKey", declared["Arn"], "identity"),
    )

    # The same through PutKeyPolicy on a key alice made; GetKeyPolicy shows bob's ARN.
    key = create_key(kms)
    kms_error(
        lambda: bob.encrypt(KeyId=key["KeyId"], Plaintext=b"x"),
        "AccessDeniedException",
        access_denied(BOB, "kms:Encrypt", key["Arn"], "identity"),
    )
    policy = key_policy(allow(BOB.arn, ["kms:Encrypt"]))
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    assert bob.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["KeyId"] == key["Arn"]
    shown = json.loads(kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"])
    assert shown["Statement"][1]["Principal"] == {"AWS": BOB.arn}


def test_default_key_policy_and_no_identity_policy_deny_bob(kms, bob):
    key = create_key(kms, alias=unique_alias("default-policy"))
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"alice's")["CiphertextBlob"]

    for action, call in (
        ("kms:Encrypt", lambda: bob.encrypt(KeyId=key["Arn"], Plaintext=b"x")),
        ("kms:Decrypt", lambda: bob.decrypt(CiphertextBlob=blob)),
        ("kms:DescribeKey", lambda: bob.describe_key(KeyId=key["KeyId"])),
        ("kms:GenerateDataKey", lambda: bob.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")),
        ("kms:ScheduleKeyDeletion", lambda: bob.schedule_key_deletion(KeyId=key["KeyId"])),
        ("kms:PutKeyPolicy", lambda: bob.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy="{}")),
    ):
        kms_error(call, "AccessDeniedException", access_denied(BOB, action, key["Arn"], "identity"))
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_iam_only_actions_need_an_identity_policy(bob):
    for action, call in (
        ("kms:CreateKey", lambda: bob.create_key()),
        ("kms:ListKeys", lambda: bob.list_keys()),
        ("kms:ListAliases", lambda: bob.list_aliases()),
        ("kms:GenerateRandom", lambda: bob.generate_random(NumberOfBytes=8)),
    ):
        error = kms_error(call, "AccessDeniedException")
        assert error["Error"]["Message"].startswith(
            f"User: {BOB.arn} is not authorized to perform: {action} on resource: "
        ), error["Error"]


def test_key_policy_without_account_delegation_ignores_identity_policies(kms, bob, carol):
    key = create_key(kms, alias=unique_alias("no-delegation"))
    arn = key["Arn"]
    # Only alice, by name: no account-root statement, so IAM policies do not count.
    policy = key_policy(allow(ALICE.arn, "kms:*"), delegate_to_account=False)
    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))
    blob = kms.encrypt(KeyId=arn, Plaintext=b"only alice")["CiphertextBlob"]

    kms_error(
        lambda: bob.encrypt(KeyId=arn, Plaintext=b"x"),
        "AccessDeniedException",
        access_denied(BOB, "kms:Encrypt", arn, "resource"),
    )
    kms_error(
        lambda: bob.decrypt(CiphertextBlob=blob),
        "AccessDeniedException",
        access_denied(BOB, "kms:Decrypt", arn, "resource"),
    )
    kms_error(
        lambda: carol.decrypt(CiphertextBlob=blob),
        "AccessDeniedException",
        access_denied(CAROL, "kms:Decrypt", arn, "resource"),
    )
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"only alice"


def test_explicit_deny_on_an_encryption_context_condition(kms, bob):
    key = create_key(kms)
    arn = key["Arn"]
    policy = key_policy(
        allow(BOB.arn, USE),
        deny(
            "*",
            ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
            Condition={"StringEquals": {"kms:EncryptionContext:classification": "secret"}},
        ),
    )
    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))

    public = {"classification": "public"}
    blob = bob.encrypt(KeyId=arn, Plaintext=b"public", EncryptionContext=public)["CiphertextBlob"]
    assert bob.decrypt(CiphertextBlob=blob, EncryptionContext=public)["Plaintext"] == b"public"
    assert bob.encrypt(KeyId=arn, Plaintext=b"no context")["KeyId"] == arn

    secret = {"classification": "secret", "other": "pair"}
    for user, client in ((BOB, bob), (ALICE, kms)):
        kms_error(
            lambda: client.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext=secret),
            "AccessDeniedException",
            access_denied(user, "kms:Encrypt", arn, "explicit-deny"),
        )
        kms_error(
            lambda: client.generate_data_key(KeyId=arn, KeySpec="AES_256", EncryptionContext=secret),
            "AccessDeniedException",
            access_denied(user, "kms:GenerateDataKey", arn, "explicit-deny"),
        )


def test_encryption_context_condition_key_name_is_case_insensitive(kms, bob):
    """The condition key `kms:EncryptionContext:<k>` matches <k> whatever its case (spec 6.2)."""
    key = create_key(kms)
    arn = key["Arn"]
    policy = key_policy(
        allow(BOB.arn, USE),
        deny("*", "kms:Encrypt", Condition={"StringEquals": {"kms:encryptioncontext:Classification": "secret"}}),
    )
    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(policy))

    kms_error(
        lambda: bob.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext={"classification": "secret"}),
        "AccessDeniedException",
        access_denied(BOB, "kms:Encrypt", arn, "explicit-deny"),
    )
    # The value's case follows the operator: StringEquals is case-sensitive.
    assert bob.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext={"classification": "SECRET"})["KeyId"] == arn


def test_carols_narrow_identity_policy(kms, carol):
    carols_key = kms.describe_key(KeyId=CAROLS_KEY_ALIAS)["KeyMetadata"]
    other = create_key(kms)
    secret = plaintext("carol")
    blob = kms.encrypt(KeyId=CAROLS_KEY_ALIAS, Plaintext=secret)["CiphertextBlob"]
    other_blob = kms.encrypt(KeyId=other["KeyId"], Plaintext=b"not carol's")["CiphertextBlob"]

    assert carol.decrypt(CiphertextBlob=blob)["Plaintext"] == secret
    kms_error(
        lambda: carol.encrypt(KeyId=carols_key["Arn"], Plaintext=b"x"),
        "AccessDeniedException",
        access_denied(CAROL, "kms:Encrypt", carols_key["Arn"], "identity"),
    )
    kms_error(
        lambda: carol.describe_key(KeyId=carols_key["KeyId"]),
        "AccessDeniedException",
        access_denied(CAROL, "kms:DescribeKey", carols_key["Arn"], "identity"),
    )
    kms_error(
        lambda: carol.decrypt(CiphertextBlob=other_blob),
        "AccessDeniedException",
        access_denied(CAROL, "kms:Decrypt", other["Arn"], "identity"),
    )
    blocked = {"carol-blocked": "yes"}
    blocked_blob = kms.encrypt(KeyId=CAROLS_KEY_ALIAS, Plaintext=b"x", EncryptionContext=blocked)["CiphertextBlob"]
    kms_error(
        lambda: carol.decrypt(CiphertextBlob=blocked_blob, EncryptionContext=blocked),
        "AccessDeniedException",
        f"User: {CAROL.arn} is not authorized to perform: kms:Decrypt on resource: {carols_key['Arn']} "
        "with an explicit deny in an identity-based policy",
    )


def test_grant_allows_decrypt_only_within_its_context_subset(kms, bob, carol):
    key = create_key(kms)
    arn = key["Arn"]
    billing = {"app": "billing", "tenant": "t1"}
    blob = kms.encrypt(KeyId=arn, Plaintext=b"billing data", EncryptionContext=billing)["CiphertextBlob"]
    other_blob = kms.encrypt(KeyId=arn, Plaintext=b"other data", EncryptionContext={"app": "other"})["CiphertextBlob"]
    no_context_blob = kms.encrypt(KeyId=arn, Plaintext=b"no context")["CiphertextBlob"]
    denied = access_denied(BOB, "kms:Decrypt", arn, "identity")
    kms_error(lambda: bob.decrypt(CiphertextBlob=blob, EncryptionContext=billing), "AccessDeniedException", denied)

    created = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=BOB.arn,
        RetiringPrincipal=CAROL.arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"app": "billing"}},
        Name="bob-billing",
    )
    grant_id = created["GrantId"]
    assert created["GrantToken"]

    assert bob.decrypt(CiphertextBlob=blob, EncryptionContext=billing)["Plaintext"] == b"billing data"
    kms_error(
        lambda: bob.decrypt(CiphertextBlob=other_blob, EncryptionContext={"app": "other"}),
        "AccessDeniedException",
        denied,
    )
    kms_error(lambda: bob.decrypt(CiphertextBlob=no_context_blob), "AccessDeniedException", denied)
    kms_error(
        lambda: bob.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext=billing),
        "AccessDeniedException",
        access_denied(BOB, "kms:Encrypt", arn, "identity"),
    )

    # Same name and terms: the same grant, not a second one.
    again = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=BOB.arn,
        RetiringPrincipal=CAROL.arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"app": "billing"}},
        Name="bob-billing",
    )
    assert again["GrantId"] == grant_id

    grants = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert len(grants) == 1
    listed = grants[0]
    members = ("KeyId", "GrantId", "Name", "GranteePrincipal", "RetiringPrincipal", "IssuingAccount", "Operations")
    assert {name: listed.get(name) for name in members + ("Constraints",)} == {
        "KeyId": arn,
        "GrantId": grant_id,
        "Name": "bob-billing",
        "GranteePrincipal": BOB.arn,
        "RetiringPrincipal": CAROL.arn,
        "IssuingAccount": ACCOUNT_ROOT,
        "Operations": ["Decrypt"],
        "Constraints": {"EncryptionContextSubset": {"app": "billing"}},
    }
    assert "CreationDate" in listed
    assert kms.list_grants(KeyId=arn, GranteePrincipal=BOB.arn)["Grants"] == grants
    assert kms.list_grants(KeyId=arn, GranteePrincipal=CAROL.arn)["Grants"] == []
    assert kms.list_grants(KeyId=arn, GrantId=grant_id)["Grants"] == grants
    kms_error(
        lambda: kms.create_grant(KeyId=arn, GranteePrincipal=BOB.arn, Operations=["Sign"]),
        "ValidationException",
    )
    retirable = kms.list_retirable_grants(RetiringPrincipal=CAROL.arn)["Grants"]
    assert grant_id in [g["GrantId"] for g in retirable]

    # bob may not retire it (not the retiring principal, no RetireGrant operation); carol may.
    kms_error(lambda: bob.retire_grant(KeyId=arn, GrantId=grant_id), "AccessDeniedException")
    carol.retire_grant(KeyId=arn, GrantId=grant_id)
    assert kms.list_grants(KeyId=arn)["Grants"] == []
    kms_error(lambda: bob.decrypt(CiphertextBlob=blob, EncryptionContext=billing), "AccessDeniedException", denied)


def test_grant_with_context_equals_and_revoke(kms, bob):
    key = create_key(kms)
    arn = key["Arn"]
    exact = {"app": "ledger"}
    blob = kms.encrypt(KeyId=arn, Plaintext=b"ledger", EncryptionContext=exact)["CiphertextBlob"]
    wider = {"app": "ledger", "more": "x"}
    wider_blob = kms.encrypt(KeyId=arn, Plaintext=b"wider", EncryptionContext=wider)["CiphertextBlob"]

    grant_id = kms.create_grant(
        KeyId=arn,
        GranteePrincipal=BOB.arn,
        Operations=["Decrypt", "Encrypt"],
        Constraints={"EncryptionContextEquals": exact},
    )["GrantId"]
    assert bob.decrypt(CiphertextBlob=blob, EncryptionContext=exact)["Plaintext"] == b"ledger"
    assert bob.encrypt(KeyId=arn, Plaintext=b"y", EncryptionContext=exact)["KeyId"] == arn
    kms_error(lambda: bob.decrypt(CiphertextBlob=wider_blob, EncryptionContext=wider), "AccessDeniedException")

    kms.revoke_grant(KeyId=arn, GrantId=grant_id)
    kms_error(
        lambda: bob.decrypt(CiphertextBlob=blob, EncryptionContext=exact),
        "AccessDeniedException",
        access_denied(BOB, "kms:Decrypt", arn, "identity"),
    )
    kms_error(lambda: kms.revoke_grant(KeyId=arn, GrantId=grant_id), "NotFoundException")


def test_grantee_with_retire_grant_retires_by_token(kms, bob):
    key = create_key(kms)
    created = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=BOB.arn, Operations=["Encrypt", "RetireGrant"])
    # A fresh grant's token makes it usable in the same breath.
    assert bob.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[created["GrantToken"]])["KeyId"] == key["Arn"]

    bob.retire_grant(GrantToken=created["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    kms_error(lambda: bob.encrypt(KeyId=key["KeyId"], Plaintext=b"x"), "AccessDeniedException")
    kms_error(
        lambda: kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=["not-a-grant-token"]),
        "InvalidGrantTokenException",
    )


def test_policy_lockout_safety_check(kms):
    key = create_key(kms)
    arn = key["Arn"]
    bob_only = json.dumps(key_policy(allow(BOB.arn, "kms:*"), delegate_to_account=False))

    kms_error(
        lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=bob_only),
        "MalformedPolicyDocumentException",
        LOCKOUT_MESSAGE,
    )
    kms_error(lambda: kms.create_key(Policy=bob_only), "MalformedPolicyDocumentException", LOCKOUT_MESSAGE)
    assert json.loads(kms.get_key_policy(KeyId=arn)["Policy"])["Id"] == "key-default-1", "policy unchanged"

    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=bob_only, BypassPolicyLockoutSafetyCheck=True)
    kms_error(
        lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(key_policy())),
        "AccessDeniedException",
        access_denied(ALICE, "kms:PutKeyPolicy", arn, "resource"),
    )
    kms_error(
        lambda: kms.encrypt(KeyId=arn, Plaintext=b"x"),
        "AccessDeniedException",
        access_denied(ALICE, "kms:Encrypt", arn, "resource"),
    )
    created = kms.create_key(Policy=bob_only, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    kms_error(lambda: kms.describe_key(KeyId=created["KeyId"]), "AccessDeniedException")


def test_lockout_check_counts_the_callers_identity_policies(kms, bob):
    """bob may call PutKeyPolicy because the key policy names him; a policy that only delegates
    to the account would lock him out, since no identity policy of his allows it (spec 6.7)."""
    key = create_key(kms)
    arn = key["Arn"]
    kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(key_policy(allow(BOB.arn, "kms:*"))))

    kms_error(
        lambda: bob.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(key_policy())),
        "MalformedPolicyDocumentException",
        LOCKOUT_MESSAGE,
    )
    bob.put_key_policy(
        KeyId=arn, PolicyName="default", Policy=json.dumps(key_policy(allow(BOB.arn, ["kms:PutKeyPolicy"])))
    )
    kms_error(
        lambda: bob.encrypt(KeyId=arn, Plaintext=b"x"),
        "AccessDeniedException",
        access_denied(BOB, "kms:Encrypt", arn, "identity"),
    )


def test_invalid_key_policies_are_refused(kms):
    key = create_key(kms)
    arn = key["Arn"]
    ghost = f"arn:aws:iam::{ACCOUNT_ID}:user/nobody-by-this-name"

    kms_error(
        lambda: kms.put_key_policy(
            KeyId=arn, PolicyName="default", Policy=json.dumps(key_policy(allow(ghost, "kms:*")))
        ),
        "MalformedPolicyDocumentException",
        "Policy contains a statement with one or more invalid principals.",
    )
    kms_error(
        lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy="this is not json"),
        "MalformedPolicyDocumentException",
    )
    kms_error(
        lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(key_policy()) + " " * 33_000),
        "LimitExceededException",
    )
    # ForAllValues with the single-valued kms:EncryptionContext:<k> matches too much (spec 6.2).
    overly_permissive = key_policy(
        allow(
            BOB.arn,
            "kms:Decrypt",
            Condition={"ForAllValues:StringEquals": {"kms:EncryptionContext:app": "billing"}},
        )
    )
    kms_error(
        lambda: kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=json.dumps(overly_permissive)),
        "MalformedPolicyDocumentException",
    )
    assert json.loads(kms.get_key_policy(KeyId=arn)["Policy"])["Id"] == "key-default-1"


def test_aws_managed_s3_key_refuses_direct_use(kms):
    managed = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert managed["KeyManager"] == "AWS"
    assert managed["Description"] == "Default key that protects my S3 objects when no other key is defined"
    assert re.fullmatch(re.escape(key_arn("")) + r"[0-9a-f-]{36}", managed["Arn"])

    for action, call in (
        ("kms:Encrypt", lambda: kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x")),
        ("kms:GenerateDataKey", lambda: kms.generate_data_key(KeyId="alias/aws/s3", KeySpec="AES_256")),
    ):
        kms_error(call, "AccessDeniedException", access_denied(ALICE, action, managed["Arn"], "resource"))
    # The account may still read its metadata and policy.
    policy = json.loads(kms.get_key_policy(KeyId=managed["KeyId"])["Policy"])
    assert any("kms:ViaService" in json.dumps(s.get("Condition", {})) for s in policy["Statement"])
