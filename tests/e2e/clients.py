"""The real S3 clients the tests drive: boto3 in-process; the aws CLI, s3cmd and rclone
as subprocesses from the test venv.

Every client gets its credentials and settings explicitly. Nothing is read from the
developer's ~/.aws, ~/.s3cfg or rclone config, and inherited AWS_* variables (the machine
sets AWS_CA_BUNDLE, for one) are dropped from the children's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from sigv4_raw import Credentials

VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A client from the test venv (next to this interpreter), else from PATH."""
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


def environment_without_aws() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}


def boto3_client(
    endpoint: str,
    credentials: Credentials,
    *,
    region: str = "us-east-1",
    signature_version: str = "s3v4",
    max_attempts: int = 1,
):
    """A path-style boto3 S3 client. `max_attempts=1` means no retries, so a transient
    proxy error fails the test instead of being papered over."""
    session = boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        region_name=region,
    )
    return session.client(
        "s3",
        endpoint_url=endpoint,
        config=Config(
            signature_version=signature_version,
            s3={"addressing_style": "path"},
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def run(command: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def explain(result: subprocess.CompletedProcess) -> str:
    return (
        f"$ {' '.join(result.args)}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
    )


@dataclass
class AwsCli:
    """The aws CLI (v1, from the venv) pointed at one endpoint as one user."""

    endpoint: str
    credentials: Credentials
    workdir: Path
    region: str = "us-east-1"
    presign_with_sigv4: bool = False

    def environment(self) -> dict[str, str]:
        config = self.workdir / ("aws-config-s3v4" if self.presign_with_sigv4 else "aws-config")
        lines = ["[default]", f"region = {self.region}", "s3 =", "    addressing_style = path"]
        if self.presign_with_sigv4:
            lines.append("    signature_version = s3v4")
        config.write_text("\n".join(lines) + "\n")
        return {
            **environment_without_aws(),
            "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "no-aws-credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_RETRY_MODE": "standard",
        }

    def run(self, *arguments: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [tool("aws"), "--endpoint-url", self.endpoint, *arguments]
        return run(command, env=self.environment(), cwd=self.workdir, timeout=timeout)

    def check(self, *arguments: str, timeout: float = 120) -> str:
        result = self.run(*arguments, timeout=timeout)
        assert result.returncode == 0, explain(result)
        return result.stdout


@dataclass
class S3cmd:
    endpoint: str
    credentials: Credentials
    workdir: Path
    region: str = "us-east-1"

    def check(self, *arguments: str) -> str:
        host = self.endpoint.removeprefix("http://")
        command = [
            tool("s3cmd"),
            "--config=/dev/null",
            f"--access_key={self.credentials.access_key_id}",
            f"--secret_key={self.credentials.secret_access_key}",
            f"--host={host}",
            f"--host-bucket={host}",
            "--no-ssl",
            f"--region={self.region}",
            *arguments,
        ]
        env = {**environment_without_aws(), "HOME": str(self.workdir)}
        result = run(command, env=env, cwd=self.workdir)
        assert result.returncode == 0, explain(result)
        return result.stdout


@dataclass
class Rclone:
    """rclone with one remote named `t:` defined through the environment."""

    endpoint: str
    credentials: Credentials
    workdir: Path
    region: str = "us-east-1"

    def check(self, *arguments: str) -> str:
        env = {
            **environment_without_aws(),
            "RCLONE_CONFIG": str(self.workdir / "rclone-unused.conf"),
            "RCLONE_CONFIG_T_TYPE": "s3",
            "RCLONE_CONFIG_T_PROVIDER": "Other",
            "RCLONE_CONFIG_T_ENDPOINT": self.endpoint,
            "RCLONE_CONFIG_T_ACCESS_KEY_ID": self.credentials.access_key_id,
            "RCLONE_CONFIG_T_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
            "RCLONE_CONFIG_T_REGION": self.region,
            "RCLONE_CONFIG_T_FORCE_PATH_STYLE": "true",
        }
        command = [tool("rclone"), "--retries", "1", "--low-level-retries", "1", *arguments]
        result = run(command, env=env, cwd=self.workdir)
        assert result.returncode == 0, explain(result)
        return result.stdout
