"""Shared pieces of the KMS end-to-end tests (`test_kms_*.py`).

One s3kms process per test module (`KmsServer`, started by the module's `kms_server`
fixture), with its own `data_dir`, users and declared `[[keys]]`. The users:

* alice - identity policy `kms:*` on `*` (an administrator);
* bob   - no identity policy at all (only key policies and grants can let him in);
* carol - a narrow identity policy that a module sets (e.g. kms:Decrypt on one key ARN);
* dave  - no identity policy; the restart tests remove him from the config and add him back.

Every secret (secret access keys, plaintexts) is random per session, so that a test can grep
the audit trail and s3kms's log for it and a hit can only be a leak.

Clients: boto3 (`KmsServer.client(user)`, no retries, every response must carry
`x-amzn-RequestId`) and the aws CLI (`KmsServer.cli(user, workdir)`).

A test module imports `kms_server` (or defines its own from `start_kms_server`), `target` and
`_report_s3kms_log_on_failure`; the last two make a failure report show s3kms's log.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from clients import AwsCli, fetch
from conftest import ACCOUNT_ID, LIVE_LOGS, REGION, Target, require_s3kms_binary
from servers import S3kms, s3kms_config_toml, toml_string
from sigv4_raw import Credentials

ACCOUNT_ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"
KEY_ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/"
ALIAS_ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:"
DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."
INCORRECT_KEY_MESSAGE = "The key ID in the request does not identify a CMK that can perform this operation."

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "KmsAdmin", "Effect": "Allow", "Action": "kms:*", "Resource": "*"}],
}


@dataclass(frozen=True)
class KmsUser:
    name: str
    access_key_id: str
    secret_access_key: str
    policy: dict | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:user/{self.name}"

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key)

    def with_policy(self, policy: dict | None) -> KmsUser:
        return KmsUser(self.name, self.access_key_id, self.secret_access_key, policy)


def _user(name: str, policy: dict | None = None) -> KmsUser:
    access_key_id = f"AKIAKMS{name.upper()}{secrets.token_hex(4).upper()}"
    return KmsUser(name, access_key_id, f"{name}-kms-secret-{secrets.token_hex(16)}", policy)


ALICE = _user("alice", ADMIN_POLICY)
BOB = _user("bob")
CAROL = _user("carol")
DAVE = _user("dave")
ALL_USERS = [ALICE, BOB, CAROL, DAVE]


@dataclass(frozen=True)
class DeclaredKey:
    """A `[[keys]]` entry of the config."""

    alias: str
    description: str = ""
    policy: dict | None = None


def config_tables(users: list[KmsUser], keys: list[DeclaredKey]) -> str:
    """The `[[users]]` and `[[keys]]` tables (s3kms_config_toml has no identity policies)."""
    lines: list[str] = []
    for user in users:
        lines += [
            "[[users]]",
            f"name = {toml_string(user.name)}",
            f"access_key_id = {toml_string(user.access_key_id)}",
            f"secret_access_key = {toml_string(user.secret_access_key)}",
        ]
        if user.policy is not None:
            lines.append(f"policy = {toml_string(json.dumps(user.policy))}")
        lines.append("")
    for key in keys:
        lines += ["[[keys]]", f"alias = {toml_string(key.alias)}", f"description = {toml_string(key.description)}"]
        if key.policy is not None:
            lines.append(f"policy = {toml_string(json.dumps(key.policy))}")
        lines.append("")
    return "\n".join(lines)


def require_kms_request_id(http_response, **_) -> None:
    """botocore `after-call` hook: every KMS response, error or not, carries x-amzn-RequestId
    (a UUID)."""
    request_id = http_response.headers.get("x-amzn-RequestId")
    if not request_id:
        raise AssertionError(
            f"HTTP {http_response.status_code} KMS response without x-amzn-RequestId: "
            f"{dict(http_response.headers)!r} {http_response.content[:300]!r}"
        )
    uuid.UUID(request_id)


def kms_client(endpoint: str, user: KmsUser, *, validate: bool = True):
    """boto3 KMS without retries. `validate=False` lets out-of-range values (below a
    model minimum) reach the server, which must refuse them itself."""
    client = boto3.client(
        "kms",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=user.access_key_id,
        aws_secret_access_key=user.secret_access_key,
        config=Config(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            parameter_validation=validate,
        ),
    )
    client.meta.events.register("after-call.kms", require_kms_request_id)
    return client


@dataclass
class KmsServer:
    """s3kms serving the embedded store and the KMS API, restartable on the same data_dir."""

    workdir: Path
    users: list[KmsUser]
    keys: list[DeclaredKey] = field(default_factory=list)
    process: S3kms | None = None
    _clients: dict[tuple[str, str, bool], Any] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def audit_dir(self) -> Path:
        return self.data_dir / "audit"

    @property
    def log_path(self) -> Path:
        return self.workdir / "s3kms.stderr.log"

    @property
    def endpoint(self) -> str:
        assert self.process is not None, "s3kms is not running"
        return self.process.endpoint

    def start(self) -> None:
        config_path = self.workdir / "s3kms.toml"
        header = s3kms_config_toml(
            data_dir=self.data_dir, users=[], account_id=ACCOUNT_ID, region=REGION, upstream=None
        )
        config_path.write_text(header + "\n" + config_tables(self.users, self.keys))
        process = S3kms(require_s3kms_binary(), config_path, self.log_path)
        process.start()  # raises, with the log's tail, if s3kms does not come up
        self.process = process
        LIVE_LOGS.add(self.log_path)

    def stop(self) -> int | None:
        if self.process is None:
            return None
        status = self.process.stop()
        self.process = None
        return status

    def restart(self, *, users: list[KmsUser] | None = None, keys: list[DeclaredKey] | None = None) -> None:
        """Stops s3kms (SIGTERM) and starts it again on the same data_dir, optionally with
        other users or declared keys. The endpoint (port) changes."""
        # One answered request first: s3kms installs its SIGTERM handler only after printing
        # its listening line, so a SIGTERM right after start kills it (test_kms_restart's
        # test_sigterm_right_after_start_exits_cleanly covers that on its own).
        fetch(self.endpoint)
        status = self.stop()
        assert status == 0, f"s3kms exited with status {status} on SIGTERM"
        if users is not None:
            self.users = users
        if keys is not None:
            self.keys = keys
        self.start()

    def user(self, name: str) -> KmsUser:
        return next(user for user in self.users if user.name == name)

    def client(self, user: KmsUser | str, *, validate: bool = True):
        user = self.user(user) if isinstance(user, str) else user
        cache_key = (self.endpoint, user.access_key_id, validate)
        if cache_key not in self._clients:
            self._clients[cache_key] = kms_client(self.endpoint, user, validate=validate)
        return self._clients[cache_key]

    def cli(self, user: KmsUser, workdir: Path) -> AwsCli:
        return AwsCli(self.endpoint, user.credentials, workdir, REGION)

    def audit_records(self) -> list[dict]:
        """Every record of the audit trail (all days), in file order."""
        records = []
        for path in sorted(self.audit_dir.glob("kms-*.jsonl")):
            for line in path.read_text().splitlines():
                if line.strip():
                    records.append(json.loads(line))
        return records

    def audit_record(self, request_id: str) -> dict:
        """The one record of the call that returned `request_id`."""
        matching = [r for r in self.audit_records() if r.get("requestID") == request_id]
        assert len(matching) == 1, f"{len(matching)} audit records with requestID {request_id}: {matching}"
        return matching[0]


def start_kms_server(
    tmp_path_factory: pytest.TempPathFactory,
    users: list[KmsUser] | None = None,
    keys: list[DeclaredKey] | None = None,
) -> KmsServer:
    server = KmsServer(tmp_path_factory.mktemp("s3kms-kms"), list(users or ALL_USERS), list(keys or []))
    server.start()
    return server


@pytest.fixture(scope="module")
def kms_server(tmp_path_factory):
    """The module's s3kms; a module that needs other users or keys defines its own."""
    server = start_kms_server(tmp_path_factory)
    try:
        yield server
    finally:
        server.stop()
        LIVE_LOGS.discard(server.log_path)


@pytest.fixture
def target(kms_server: KmsServer) -> Target:
    """Named `target` so that conftest's failure report attaches the s3kms log lines the
    failing test caused (it looks for a `Target` among the test's fixtures). Starts s3kms
    again if an earlier test's restart left it stopped, so one failure does not cascade."""
    if kms_server.process is None:
        kms_server.start()
    endpoint = kms_server.endpoint
    return Target("kms", endpoint, through_proxy=True, logs={"s3kms stderr": kms_server.log_path})


@pytest.fixture(autouse=True)
def _report_s3kms_log_on_failure(target: Target) -> None:
    """Pulls `target` into every test of a module that imports this."""


# --------------------------------------------------------------------------------------
# Keys and names
# --------------------------------------------------------------------------------------


def unique_alias(label: str) -> str:
    return f"alias/e2e-{label}-{secrets.token_hex(4)}"


def alias_arn(alias: str) -> str:
    return ALIAS_ARN_PREFIX + alias


def key_arn(key_id: str) -> str:
    return KEY_ARN_PREFIX + key_id


def create_key(client, *, alias: str | None = None, description: str = "e2e", **options) -> dict:
    """CreateKey (+ CreateAlias); returns the KeyMetadata."""
    metadata = client.create_key(Description=description, **options)["KeyMetadata"]
    if alias is not None:
        client.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    return metadata


def key_policy(*statements: dict, delegate_to_account: bool = True) -> dict:
    """A key policy: optionally AWS's default account-root statement, plus `statements`."""
    body = []
    if delegate_to_account:
        body.append(
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": ACCOUNT_ROOT},
                "Action": "kms:*",
                "Resource": "*",
            }
        )
    return {"Version": "2012-10-17", "Statement": body + list(statements)}


def allow(principal: str, actions: list[str] | str, **extra) -> dict:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*", **extra}


def deny(principal: str, actions: list[str] | str, **extra) -> dict:
    return {"Effect": "Deny", "Principal": {"AWS": principal}, "Action": actions, "Resource": "*", **extra}


def plaintext(label: str, size: int = 0) -> bytes:
    """A random, recognisable plaintext (`size` pads it with random bytes)."""
    text = f"e2e-secret-{label}-{secrets.token_hex(12)}".encode()
    return text + secrets.token_bytes(max(0, size - len(text)))


# --------------------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------------------


def kms_error(call: Callable[[], Any], code: str | tuple[str, ...], message: str | None = None) -> dict:
    """Runs `call`, which must fail with `code` (AWS's `__type`; a tuple where the spec leaves
    the choice open), HTTP 400, and, when given, exactly `message`. Returns the botocore error
    response."""
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    codes = code if isinstance(code, tuple) else (code,)
    got = (response["Error"].get("Code"), response["ResponseMetadata"]["HTTPStatusCode"])
    assert got[0] in codes and got[1] == 400, f"expected {code} / 400, got {got}: {response['Error']}"
    if message is not None:
        assert response["Error"].get("Message") == message, response["Error"]
    return response


def access_denied(user: KmsUser, action: str, arn: str, why: str) -> str:
    """AWS's AccessDeniedException texts. `why`: identity, resource or explicit-deny."""
    head = f"User: {user.arn} is not authorized to perform: {action} on resource: {arn}"
    tails = {
        "identity": f"because no identity-based policy allows the {action} action",
        "resource": f"because no resource-based policy allows the {action} action",
        "explicit-deny": "with an explicit deny in a resource-based policy",
    }
    return f"{head} {tails[why]}"


def not_found(arn: str) -> str:
    return f"Key '{arn}' does not exist"


def as_epoch(value) -> float:
    """A boto3 timestamp (datetime) as epoch seconds."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).timestamp()
    return float(value)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------
# Secrets in files
# --------------------------------------------------------------------------------------


def secret_forms(value: bytes | str) -> dict[str, bytes]:
    """How a secret could show up in a text file: as is, base64 (standard and URL-safe), and
    hex for binary values."""
    raw = value.encode() if isinstance(value, str) else value
    assert len(raw) >= 16, f"too short to grep for without false hits: {raw!r}"
    forms = {
        "raw": raw,
        "base64": base64.b64encode(raw),
        "base64url": base64.urlsafe_b64encode(raw).rstrip(b"="),
    }
    if isinstance(value, bytes):
        forms["hex"] = raw.hex().encode()
    return forms


def assert_no_secrets(server: KmsServer, named: dict[str, bytes | str]) -> None:
    """None of `named` (label -> secret) appears in the audit trail or s3kms's stderr log."""
    files = sorted(server.audit_dir.glob("*")) + [server.log_path]
    assert any(path.stat().st_size for path in files[:-1]), f"no audit records in {server.audit_dir}"
    leaks = []
    for path in files:
        content = path.read_bytes()
        for label, value in named.items():
            for form, needle in secret_forms(value).items():
                if needle in content:
                    leaks.append(f"{label} ({form}) in {path}")
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)
