"""The real aws CLI (v1, from the venv) against s3kms's KMS API: create-key, create-alias,
encrypt `--plaintext fileb://`, decrypt, generate-data-key, list-aliases,
schedule-key-deletion / cancel-key-deletion, and AWS's error output and exit status for a
pending-deletion key, an oversized plaintext, an unknown alias and a denied user."""

import base64
import json
import re

import pytest

pytest.register_assert_rewrite("kms_support")

from clients import explain  # noqa: E402
from kms_support import (  # noqa: E402
    ALICE,
    BOB,
    _report_s3kms_log_on_failure,  # noqa: F401
    access_denied,
    alias_arn,
    kms_server,  # noqa: F401
    plaintext,
    target,  # noqa: F401
    unique_alias,
)

pytestmark = pytest.mark.proxy_only

# aws CLI v1 exits 255 when the service answers with an error.
CLI_ERROR_STATUS = 255


def cli_json(cli, *arguments: str) -> dict:
    return json.loads(cli.check("kms", *arguments, "--output", "json"))


# "(reached max retries: 0)" is the CLI's own note when retries are off.
CLI_ERROR_LINE = re.compile(
    r"An error occurred \((?P<code>\w+)\) when calling the (?P<operation>\w+) operation"
    r"(?: \(reached max retries: \d+\))?:(?: (?P<message>.*))?"
)


def cli_error(cli, *arguments: str) -> tuple[str, str, str]:
    """Runs a command that must fail as a service error; returns (code, operation, message)
    from the CLI's one-line error on stderr."""
    result = cli.run("kms", *arguments)
    assert result.returncode == CLI_ERROR_STATUS, explain(result)
    assert result.stdout == "", explain(result)
    match = CLI_ERROR_LINE.fullmatch(result.stderr.strip())
    assert match, explain(result)
    return match["code"], match["operation"], match["message"] or ""


def test_cli_key_alias_encrypt_decrypt_round_trip(kms_server, tmp_path):
    cli = kms_server.cli(ALICE, tmp_path)
    created = cli_json(cli, "create-key", "--description", "made by the aws CLI")["KeyMetadata"]
    assert (created["KeyState"], created["Description"]) == ("Enabled", "made by the aws CLI")
    alias = unique_alias("cli")
    assert cli.check("kms", "create-alias", "--alias-name", alias, "--target-key-id", created["KeyId"]) == ""

    aliases = cli_json(cli, "list-aliases", "--key-id", created["KeyId"])["Aliases"]
    assert [(a["AliasName"], a["AliasArn"], a["TargetKeyId"]) for a in aliases] == [
        (alias, alias_arn(alias), created["KeyId"])
    ]
    assert cli_json(cli, "describe-key", "--key-id", alias)["KeyMetadata"]["Arn"] == created["Arn"]

    secret = plaintext("cli", 1000)
    (tmp_path / "plain.bin").write_bytes(secret)
    encrypted = cli_json(
        cli,
        "encrypt",
        "--key-id", alias,
        "--plaintext", "fileb://plain.bin",
        "--encryption-context", "purpose=cli,team=storage",
    )
    assert encrypted["KeyId"] == created["Arn"]
    (tmp_path / "blob.bin").write_bytes(base64.b64decode(encrypted["CiphertextBlob"]))

    decrypted = cli_json(
        cli,
        "decrypt",
        "--ciphertext-blob", "fileb://blob.bin",
        "--encryption-context", "team=storage,purpose=cli",
    )
    assert base64.b64decode(decrypted["Plaintext"]) == secret
    assert decrypted["KeyId"] == created["Arn"]
    # Text output with --query, as scripts use it.
    text = cli.check(
        "kms", "decrypt", "--ciphertext-blob", "fileb://blob.bin", "--encryption-context", "purpose=cli,team=storage",
        "--output", "text", "--query", "Plaintext",
    )
    assert base64.b64decode(text.strip()) == secret

    wrong_context = cli_error(cli, "decrypt", "--ciphertext-blob", "fileb://blob.bin")
    assert wrong_context == ("InvalidCiphertextException", "Decrypt", "")

    data_key = cli_json(cli, "generate-data-key", "--key-id", created["Arn"], "--key-spec", "AES_256")
    assert len(base64.b64decode(data_key["Plaintext"])) == 32
    random_bytes = cli_json(cli, "generate-random", "--number-of-bytes", "24")
    assert len(base64.b64decode(random_bytes["Plaintext"])) == 24


def test_cli_pending_deletion_errors_and_cancel(kms_server, tmp_path):
    cli = kms_server.cli(ALICE, tmp_path)
    created = cli_json(cli, "create-key")["KeyMetadata"]
    arn = created["Arn"]
    (tmp_path / "plain.bin").write_bytes(b"pending deletion test")

    scheduled = cli_json(cli, "schedule-key-deletion", "--key-id", created["KeyId"], "--pending-window-in-days", "7")
    assert (scheduled["KeyId"], scheduled["KeyState"], scheduled["PendingWindowInDays"]) == (arn, "PendingDeletion", 7)

    assert cli_error(cli, "encrypt", "--key-id", arn, "--plaintext", "fileb://plain.bin") == (
        "KMSInvalidStateException",
        "Encrypt",
        f"{arn} is pending deletion.",
    )

    assert cli_json(cli, "cancel-key-deletion", "--key-id", arn)["KeyId"] == arn
    assert cli_json(cli, "describe-key", "--key-id", arn)["KeyMetadata"]["KeyState"] == "Disabled"
    assert cli_error(cli, "encrypt", "--key-id", arn, "--plaintext", "fileb://plain.bin") == (
        "DisabledException",
        "Encrypt",
        f"{arn} is disabled.",
    )
    assert cli.check("kms", "enable-key", "--key-id", arn) == ""
    assert cli_json(cli, "encrypt", "--key-id", arn, "--plaintext", "fileb://plain.bin")["KeyId"] == arn


def test_cli_error_output_for_size_alias_and_denial(kms_server, tmp_path):
    cli = kms_server.cli(ALICE, tmp_path)
    created = cli_json(cli, "create-key")["KeyMetadata"]
    (tmp_path / "big.bin").write_bytes(b"b" * 4097)
    (tmp_path / "small.bin").write_bytes(b"small")

    assert cli_error(cli, "encrypt", "--key-id", created["KeyId"], "--plaintext", "fileb://big.bin") == (
        "ValidationException",
        "Encrypt",
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096",
    )

    missing = unique_alias("cli-missing")
    assert cli_error(cli, "encrypt", "--key-id", missing, "--plaintext", "fileb://small.bin") == (
        "NotFoundException",
        "Encrypt",
        f"Alias {alias_arn(missing)} is not found.",
    )

    as_bob = kms_server.cli(BOB, tmp_path)
    assert cli_error(as_bob, "encrypt", "--key-id", created["KeyId"], "--plaintext", "fileb://small.bin") == (
        "AccessDeniedException",
        "Encrypt",
        access_denied(BOB, "kms:Encrypt", created["Arn"], "identity"),
    )
