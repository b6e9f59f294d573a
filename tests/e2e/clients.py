"""The real S3 clients the tests drive: boto3 in-process; the aws CLI, s3cmd and rclone
as subprocesses from the test venv; urllib for presigned URLs, as a browser or curl would.

Every client gets its credentials and settings explicitly. Nothing is read from the
developer's ~/.aws, ~/.s3cfg or rclone config, and inherited AWS_* variables (the machine
sets AWS_CA_BUNDLE, for one) are dropped from the children's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from sigv4_raw import Credentials, RawResponse

VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A client from the test venv (next to this interpreter), else from PATH."""
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else name


def environment_without_aws() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}


def isolate_from_host_aws_config() -> None:
    """For scripts that use boto3 in their own process: no AWS_* variable, config file or
    credentials file of the host may change what it signs or where it goes."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def boto3_client(
    endpoint: str,
    credentials: Credentials,
    *,
    region: str = "us-east-1",
    signature_version: str = "s3v4",
    total_attempts: int = 1,
):
    """A path-style boto3 S3 client. `total_attempts=1` means no retries, so a transient
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
            # botocore's `max_attempts` counts retries; `total_max_attempts` counts attempts.
            retries={"total_max_attempts": total_attempts, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def require_request_id(http_response, **_) -> None:
    """botocore `after-call` hook: every response of the server under test, error or not,
    must carry x-amz-request-id."""
    if not http_response.headers.get("x-amz-request-id"):
        raise AssertionError(
            f"HTTP {http_response.status_code} response without x-amz-request-id: "
            f"{dict(http_response.headers)!r} {http_response.content[:300]!r}"
        )


# No proxies from the environment: the tests talk to 127.0.0.1 only.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, method: str = "GET", data: bytes | None = None) -> RawResponse:
    """urllib as a user would call it; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with OPENER.open(request, timeout=60) as response:
            return RawResponse(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        return RawResponse(error.code, error.headers, error.read())


def query_names(url: str) -> set[str]:
    return {name for name, _ in urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)}


def tamper_query(url: str, name: str) -> str:
    """Change the first character of one query parameter's value to another digit, so the
    value differs even to a case-insensitive reader of hex."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    changed = [(n, ("0" if v[0] != "0" else "1") + v[1:]) if n == name else (n, v) for n, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(changed)))


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
    # The KMS key s3cmd names on uploads (`--server-side-encryption-kms-id`).
    kms_key_id: str = "alias/aws/s3"

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
            # s3kms ETags are not MD5s of the plaintext (as AWS's SSE-KMS ETags); s3cmd accepts
            # that for SSE-KMS uploads, which is what s3kms is for.
            f"--server-side-encryption-kms-id={self.kms_key_id}",
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
    # The KMS key rclone names on uploads (`sse_kms_key_id`); None: the bucket's or alias/aws/s3.
    sse_kms_key_id: str | None = None

    def environment(self) -> dict[str, str]:
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
            # SSE-KMS: rclone then keeps its MD5 in metadata instead of trusting the ETag,
            # which s3kms (like AWS for SSE-KMS) does not make an MD5 of the plaintext.
            "RCLONE_CONFIG_T_SERVER_SIDE_ENCRYPTION": "aws:kms",
        }
        if self.sse_kms_key_id is not None:
            env["RCLONE_CONFIG_T_SSE_KMS_KEY_ID"] = self.sse_kms_key_id
        return env

    def run_binary(self, *arguments: str) -> bytes:
        """rclone's stdout as bytes (`rclone cat` of binary data); a failure fails the test."""
        command = [tool("rclone"), "--retries", "1", "--low-level-retries", "1", *arguments]
        result = subprocess.run(command, env=self.environment(), cwd=self.workdir, stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=120)
        assert result.returncode == 0, f"$ {' '.join(command)}\nexit {result.returncode}\n{result.stderr[-3000:]!r}"
        return result.stdout

    def check(self, *arguments: str) -> str:
        command = [tool("rclone"), "--retries", "1", "--low-level-retries", "1", *arguments]
        result = run(command, env=self.environment(), cwd=self.workdir)
        assert result.returncode == 0, explain(result)
        return result.stdout
