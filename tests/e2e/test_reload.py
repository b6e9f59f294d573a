"""Config reload on SIGHUP: users, identity policies and declared keys change without a restart
and without dropping connections; a broken file keeps the running config."""

from __future__ import annotations

import os
import signal
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCOUNT_ID, REGION, require_s3kms_binary
from servers import S3kms, s3kms_config_toml, toml_string

ADMIN = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
NO_KMS = '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:*", "Resource": "*"}, {"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
ALICE = ("alice", "AKIARELOADALICE00001", "reload-alice-secret-0123456789")
CAROL = ("carol", "AKIARELOADCAROL00001", "reload-carol-secret-0123456789")

pytestmark = pytest.mark.proxy_only


def config_text(workdir, users: list[tuple[tuple[str, str, str], str]], keys: list[str] = ()) -> str:
    lines = [s3kms_config_toml(data_dir=workdir / "data", users=[], account_id=ACCOUNT_ID, region=REGION, upstream=None)]
    for (name, access_key, secret), policy in users:
        lines += ["[[users]]", f"name = {toml_string(name)}", f"access_key_id = {toml_string(access_key)}",
                  f"secret_access_key = {toml_string(secret)}", f"policy = {toml_string(policy)}"]
    for alias in keys:
        lines += ["[[keys]]", f"alias = {toml_string(alias)}"]
    return "\n".join(lines) + "\n"


def kms_client(endpoint: str, user: tuple[str, str, str]):
    return boto3.client("kms", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=user[1],
                        aws_secret_access_key=user[2], config=Config(retries={"total_max_attempts": 1}))


def reload(instance: S3kms, config_path, text: str) -> None:
    """Writes the file, sends SIGHUP, and waits for the server to log the outcome."""
    def outcomes() -> int:
        return instance.log_path.read_text(errors="replace").count("config reload")

    before = outcomes()
    config_path.write_text(text)
    os.kill(instance.process.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while outcomes() == before:
        assert time.monotonic() < deadline, "s3kms logged no reload outcome within 10 s"
        time.sleep(0.02)


def error_code(action) -> str:
    with pytest.raises(ClientError) as caught:
        action()
    return caught.value.response["Error"]["Code"]


def test_users_policies_and_keys_change_on_sighup(tmp_path):
    config_path = tmp_path / "s3kms.toml"
    config_path.write_text(config_text(tmp_path, [(ALICE, ADMIN)]))
    instance = S3kms(require_s3kms_binary(), config_path, tmp_path / "s3kms.stderr.log")
    instance.start()
    try:
        alice = kms_client(instance.endpoint, ALICE)  # one keep-alive connection for the whole test
        carol = kms_client(instance.endpoint, CAROL)
        alice.list_keys()
        assert error_code(carol.list_keys) == "UnrecognizedClientException"

        reload(instance, config_path, config_text(tmp_path, [(ALICE, NO_KMS), (CAROL, ADMIN)], keys=["alias/reloaded"]))
        assert "KeyMetadata" in carol.describe_key(KeyId="alias/reloaded")
        assert error_code(alice.list_keys) == "AccessDeniedException"

        reload(instance, config_path, "this is not toml [")
        assert "KeyMetadata" in carol.describe_key(KeyId="alias/reloaded")
        assert instance.process.poll() is None, "a broken file must not stop the server"
    finally:
        instance.stop()
