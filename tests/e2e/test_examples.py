"""The files in examples/ work as shipped: the boto3 quickstart and the aws-sdk-rust program
run to the end against a real s3kms, and each example config passes `s3kms check-config`.
(test_client_matrix.py runs the aws-sdk-rust program too, in front of SeaweedFS, and checks
what it stored.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from clients import environment_without_aws, explain
from conftest import ACCOUNT_ID, REGION, REPO_ROOT, SDK_EXAMPLE_BUILD_TIMEOUT, USERS, require_s3kms_binary
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml

EXAMPLES = REPO_ROOT / "examples"
# The quickstart creates a KMS key and calls S3 and KMS: its user needs an identity policy.

pytestmark = pytest.mark.proxy_only


@pytest.fixture
def s3kms_with_policy(tmp_path):
    alice = USERS["alice"]
    user = ServerCredentials("alice", alice.access_key_id, alice.secret_access_key, ALLOW_ALL_POLICY)
    config = s3kms_config_toml(data_dir=tmp_path / "data", users=[user], account_id=ACCOUNT_ID, region=REGION, upstream=None)
    (tmp_path / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), tmp_path / "s3kms.toml", tmp_path / "s3kms.stderr.log")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


def alice_environment(tmp_path) -> dict[str, str]:
    """This process's environment without any AWS setting of the host, with alice's credentials."""
    alice = USERS["alice"]
    return {
        **environment_without_aws(),
        "AWS_ACCESS_KEY_ID": alice.access_key_id,
        "AWS_SECRET_ACCESS_KEY": alice.secret_access_key,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }


def test_boto3_quickstart_runs_to_the_end(s3kms_with_policy, tmp_path):
    # Credentials from the environment, the endpoint as an argument: both ways the script documents.
    environment = alice_environment(tmp_path)
    result = subprocess.run(
        # The test venv's interpreter, which has boto3: the one running this test.
        [sys.executable, str(EXAMPLES / "boto3_quickstart.py"), "--endpoint", s3kms_with_policy.endpoint],
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, explain(result)
    assert "MISMATCH" not in result.stderr, explain(result)
    assert "done: bucket quickstart-" in result.stdout, explain(result)


@pytest.mark.timeout(SDK_EXAMPLE_BUILD_TIMEOUT)  # the first build of the example, when run alone
def test_aws_sdk_rust_example_runs_to_the_end(aws_sdk_rust_example, s3kms_with_policy, tmp_path):
    # Credentials and region from the environment, the endpoint as an argument.
    environment = {**alice_environment(tmp_path), "AWS_REGION": REGION}
    result = subprocess.run(
        [str(aws_sdk_rust_example), "--endpoint", s3kms_with_policy.endpoint],
        env=environment,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, explain(result)
    steps = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("ok ")]
    assert sorted(set(steps)) == ["ok get", "ok list", "ok multipart", "ok presign", "ok put", "ok range"], explain(result)
    assert "done: bucket sdk-example-" in result.stdout, explain(result)


@pytest.mark.parametrize("name", ["upstream-minio.toml", "upstream-seaweedfs.toml"])
def test_example_config_passes_check_config(name, tmp_path):
    result = subprocess.run(
        [str(require_s3kms_binary()), "check-config", "--config", str(EXAMPLES / name)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, explain(result)
    assert ": ok (" in result.stdout, explain(result)
