"""Key store faults against a running s3kms with the `file` key store: a full disk, a
read-only directory, corrupted records.

Each test starts its own s3kms (embedded store, `file` key store in `data_dir/kms`, audit trail
in `data_dir/audit`) and, for the disk faults, first mounts a small tmpfs on the directory under
test, so that the fault hits s3kms's own files and nothing else of the machine:

* full disk - the tmpfs is filled with a filler file until `ENOSPC`, then the filler is removed;
* read-only - the tmpfs is remounted `ro`, then `rw` (a tmpfs with a file open for writing
  cannot be remounted read-only, so this is done to the key store, whose files are never held
  open, and not to the audit trail, which is);
* corrupted records - files under `data_dir/kms` are overwritten while s3kms runs, and s3kms
  is restarted over them.

What must hold: a failing call gets an AWS-shaped error (KMS: `KMSInternalException`, HTTP
500; S3: a 5xx error document) in seconds, never a hang; the server keeps serving; records
that existed are byte-for-byte unchanged, and no temporary file is left; the other keys (and,
where the fault allows, reads) keep working; once the fault is removed, everything works
again without a restart. The KMS never hands out a result whose audit record it could not
write. The log names what failed and never holds key material.

Mounting needs root with CAP_SYS_ADMIN (as in CI). Where `mount -t tmpfs` is refused, the
disk-fault tests skip and say why; the corrupted-record tests need no mount and always run.
Every mount is undone in the fixture's teardown, even when a test fails.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import re
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from clients import boto3_client, fetch, require_request_id
from conftest import ACCOUNT_ID, LIVE_LOGS, REGION, Target, require_s3kms_binary
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml
from sigv4_raw import Credentials

pytestmark = pytest.mark.proxy_only

ADMIN = ServerCredentials(
    "keystore-admin", "AKIAKEYSTOREFAULTS01", f"keystore-faults-secret-{secrets.token_hex(16)}", ALLOW_ALL_POLICY
)
INTERNAL_MESSAGE = "The service encountered an internal error. Please try again."
DECLARED_ALIAS = "alias/faults-declared"
# A failing call must answer well within this (a hang would hit the client's read timeout).
ANSWER_WITHIN = 10.0
TMPFS_SIZE = "1m"


# --------------------------------------------------------------------------------------
# Mounts
# --------------------------------------------------------------------------------------


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=30)


@functools.cache
def mount_refused() -> str | None:
    """Why a tmpfs cannot be mounted here, or None if it can (probed once)."""
    probe = Path(tempfile.mkdtemp(prefix="s3kms-mount-probe-"))
    try:
        done = run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe))
        if done.returncode != 0:
            return f"`mount -t tmpfs` failed ({done.stderr.strip()}): needs root with CAP_SYS_ADMIN, as in CI"
        if run("umount", str(probe)).returncode != 0:
            run("umount", "-l", str(probe))
        return None
    except (OSError, subprocess.SubprocessError) as error:
        return f"cannot run mount: {error!r}"
    finally:
        probe.rmdir()


def mounted(path: Path) -> bool:
    wanted = str(path.resolve())
    with open("/proc/self/mounts") as table:
        return any(line.split()[1] == wanted for line in table)


class Mounts:
    """The tmpfs mounts of one test; `release` undoes them all, whatever happened."""

    def __init__(self) -> None:
        self.points: list[Path] = []

    def tmpfs(self, path: Path, size: str = TMPFS_SIZE) -> Path:
        reason = mount_refused()
        if reason:
            pytest.skip(reason)
        path.mkdir(parents=True, exist_ok=True)
        done = run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path))
        assert done.returncode == 0, f"mount tmpfs on {path}: {done.stderr}"
        self.points.append(path)
        return path

    def remount(self, path: Path, mode: str) -> None:
        done = run("mount", "-o", f"remount,{mode}", str(path))
        assert done.returncode == 0, f"remount {mode} {path}: {done.stderr}"

    def release(self) -> None:
        for path in reversed(self.points):
            if run("umount", str(path)).returncode != 0:
                run("umount", "-l", str(path))  # still busy: detach now, free when unused
        left = [path for path in self.points if mounted(path)]
        self.points.clear()
        assert not left, f"mounts left behind: {left}"


def fill(directory: Path) -> Path:
    """Fills the filesystem of `directory` with one file until not even one byte fits."""
    filler = directory / "zz-filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            block = b"\0" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
    finally:
        os.close(fd)
    assert os.statvfs(directory).f_bavail == 0
    return filler


# --------------------------------------------------------------------------------------
# One s3kms
# --------------------------------------------------------------------------------------


class Node:
    """One s3kms over one data_dir, started when the test has set up its mounts."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.key_store = self.data_dir / "kms"
        self.audit_dir = self.data_dir / "audit"
        self.config_path = workdir / "s3kms.toml"
        self.config_path.write_text(
            s3kms_config_toml(data_dir=self.data_dir, users=[ADMIN], account_id=ACCOUNT_ID, region=REGION, upstream=None)
            + f"\n[[keys]]\nalias = {json.dumps(DECLARED_ALIAS)}\ndescription = \"declared in the config\"\n"
        )
        self.log_path = workdir / "s3kms.stderr.log"
        self.server: S3kms | None = None
        self._kms = None
        self._s3 = None

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return self.server.endpoint

    def start(self) -> None:
        self.server = S3kms(require_s3kms_binary(), self.config_path, self.log_path)
        self.server.start()
        LIVE_LOGS.add(self.log_path)
        self._kms = self._s3 = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        LIVE_LOGS.discard(self.log_path)

    def restart(self) -> None:
        fetch(self.endpoint)  # s3kms handles SIGTERM once it has answered (test_kms_restart)
        assert self.server is not None and self.server.stop() == 0
        self.start()

    def alive(self) -> bool:
        return self.server is not None and self.server.process is not None and self.server.process.poll() is None

    def kms(self):
        """boto3 KMS as the admin, without retries."""
        if self._kms is None:
            self._kms = boto3.client(
                "kms",
                endpoint_url=self.endpoint,
                region_name=REGION,
                aws_access_key_id=ADMIN.access_key_id,
                aws_secret_access_key=ADMIN.secret_access_key,
                config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30),
            )
        return self._kms

    def s3(self):
        if self._s3 is None:
            self._s3 = boto3_client(self.endpoint, Credentials(ADMIN.access_key_id, ADMIN.secret_access_key), region=REGION)
            self._s3.meta.events.register("after-call.s3", require_request_id)
        return self._s3

    def log(self, since: int = 0) -> str:
        """The whole log from byte `since` on, lines uncut (servers.log_tail shortens long ones)."""
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode(errors="replace")

    def audit_lines(self) -> list[str]:
        lines = []
        for path in sorted(self.audit_dir.glob("kms-*.jsonl")):
            lines += path.read_text().splitlines()
        return lines


@pytest.fixture
def mounts():
    held = Mounts()
    try:
        yield held
    finally:
        held.release()


@pytest.fixture
def node(mounts: Mounts, tmp_path_factory: pytest.TempPathFactory):
    # Depends on `mounts`, so it is torn down first: s3kms stops before its mounts go.
    server = Node(tmp_path_factory.mktemp("keystore-faults"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def target(node: Node) -> Target:
    """Named `target` so that conftest's failure report attaches this test's s3kms log."""
    return Target("keystore-faults", "", through_proxy=True, logs={"s3kms stderr": node.log_path})


# --------------------------------------------------------------------------------------
# What the clients see
# --------------------------------------------------------------------------------------


def fails(call: Callable[[], Any]) -> dict:
    """Runs `call`, which must fail, fast; returns botocore's error response."""
    started = time.monotonic()
    with pytest.raises(ClientError) as info:
        call()
    elapsed = time.monotonic() - started
    assert elapsed < ANSWER_WITHIN, f"the error took {elapsed:.1f} s"
    return info.value.response


def kms_internal(call: Callable[[], Any]) -> dict:
    """The call fails with AWS's `KMSInternalException`, HTTP 500, and no detail."""
    response = fails(call)
    got = (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"])
    assert got == ("KMSInternalException", 500), response["Error"]
    assert response["Error"]["Message"] == INTERNAL_MESSAGE
    return response


def s3_server_error(call: Callable[[], Any], codes: tuple[str, ...]) -> dict:
    """The call fails with an S3 error document of the service's side (5xx)."""
    response = fails(call)
    status = response["ResponseMetadata"]["HTTPStatusCode"]
    assert status >= 500 and response["Error"]["Code"] in codes, (status, response["Error"])
    return response


# --------------------------------------------------------------------------------------
# The state that must survive
# --------------------------------------------------------------------------------------


class State:
    """Keys, aliases, ciphertexts, a bucket with settings and objects, made before a fault."""

    def __init__(self, node: Node) -> None:
        kms, s3 = node.kms(), node.s3()
        label = secrets.token_hex(4)
        self.alias = f"alias/faults-{label}"
        self.key = kms.create_key(
            Description="made before the fault", Tags=[{"TagKey": "team", "TagValue": "storage"}]
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=self.alias, TargetKeyId=self.key)
        self.other = kms.create_key(Description="another key")["KeyMetadata"]["KeyId"]
        self.plaintext = f"made before the fault {secrets.token_hex(16)}".encode()
        self.context = {"purpose": "faults"}
        self.blob = kms.encrypt(KeyId=self.alias, Plaintext=self.plaintext, EncryptionContext=self.context)[
            "CiphertextBlob"
        ]
        kms.rotate_key_on_demand(KeyId=self.key)  # the blob above is now of an older key version
        data_key = kms.generate_data_key(KeyId=self.other, KeySpec="AES_256")
        self.data_key, self.data_key_blob = data_key["Plaintext"], data_key["CiphertextBlob"]
        self.bucket = f"faults-{label}"
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_encryption(Bucket=self.bucket, ServerSideEncryptionConfiguration=kms_default(self.key))
        self.body = os.urandom(200_000)
        s3.put_object(Bucket=self.bucket, Key="sse-kms", Body=self.body)  # the bucket default
        s3.put_object(Bucket=self.bucket, Key="sse-s3", Body=self.body, ServerSideEncryption="AES256")
        self.spare_bucket = f"faults-spare-{label}"
        s3.create_bucket(Bucket=self.spare_bucket)
        self.material = sealed_material(node)

    def snapshot(self, node: Node) -> dict:
        """What the state looks like from outside."""
        kms, s3 = node.kms(), node.s3()
        return {
            "keys": sorted(k["KeyId"] for k in kms.list_keys()["Keys"]),
            "aliases": sorted((a["AliasName"], a.get("TargetKeyId")) for a in kms.list_aliases()["Aliases"]),
            "key": without_metadata(kms.describe_key(KeyId=self.key)["KeyMetadata"]),
            "policy": kms.get_key_policy(KeyId=self.key, PolicyName="default")["Policy"],
            "tags": kms.list_resource_tags(KeyId=self.key)["Tags"],
            "rotation": without_metadata(kms.get_key_rotation_status(KeyId=self.key)),
            "rotations": kms.list_key_rotations(KeyId=self.key)["Rotations"],
            "encryption": s3.get_bucket_encryption(Bucket=self.bucket)["ServerSideEncryptionConfiguration"],
        }

    def check_reads(self, node: Node) -> None:
        """Everything made before the fault reads back."""
        kms, s3 = node.kms(), node.s3()
        decrypted = kms.decrypt(CiphertextBlob=self.blob, EncryptionContext=self.context)
        assert decrypted["Plaintext"] == self.plaintext
        assert kms.decrypt(CiphertextBlob=self.data_key_blob)["Plaintext"] == self.data_key
        for key in ("sse-kms", "sse-s3"):
            assert s3.get_object(Bucket=self.bucket, Key=key)["Body"].read() == self.body, key

    def check_uses(self, node: Node) -> None:
        """The keys still encrypt and generate data keys (nothing written to the key store)."""
        kms = node.kms()
        for key_id in (self.alias, self.other):
            blob = kms.encrypt(KeyId=key_id, Plaintext=b"still usable")["CiphertextBlob"]
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"still usable"
        assert len(kms.generate_data_key(KeyId=self.other, KeySpec="AES_256")["Plaintext"]) == 32


def kms_default(key_id: str) -> dict:
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_id}}]}


def without_metadata(answer: dict) -> dict:
    return {name: value for name, value in answer.items() if name != "ResponseMetadata"}


def record_files(node: Node) -> dict[str, str]:
    """Every file of the key store (the filler aside) -> SHA-256 of its bytes."""
    return {
        str(path.relative_to(node.key_store)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(node.key_store.rglob("*"))
        if path.is_file() and path.name != "zz-filler"
    }


def sealed_material(node: Node) -> list[str]:
    """The sealed material of every key version in the store: none of it may reach a log."""
    found = []
    for path in (node.key_store / "keys").glob("*.json"):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        found += [version["sealed_material"] for version in record.get("versions", [])]
    assert found
    return found


def assert_log_clean(node: Node, material: list[str]) -> None:
    text = node.log()
    assert "panicked" not in text, "s3kms panicked:\n" + text[-3000:]
    leaked = [value[:12] + "…" for value in material if value in text]
    assert not leaked, f"sealed key material in the log: {leaked}"


def assert_trail_whole(node: Node) -> None:
    """Every line of the audit trail is one JSON record: no torn line a fault left behind."""
    for number, line in enumerate(node.audit_lines(), 1):
        try:
            json.loads(line)
        except ValueError:
            pytest.fail(f"audit trail line {number} is not a record: {line[:120]!r}")


def audit_record(node: Node, response: dict) -> dict:
    """The one audit record of the call that returned `response`."""
    request_id = response["ResponseMetadata"]["RequestId"]
    matching = []
    for line in node.audit_lines():
        if request_id in line:
            try:
                matching.append(json.loads(line))
            except ValueError:
                pytest.fail(f"the record of request {request_id} is glued to a torn line: {line[:120]!r}")
    matching = [record for record in matching if record.get("requestID") == request_id]
    assert len(matching) == 1, f"{len(matching)} audit records of request {request_id}"
    return matching[0]


# --------------------------------------------------------------------------------------
# 1. A full disk under the key store
# --------------------------------------------------------------------------------------


def key_store_writes(node: Node, state: State) -> dict[str, Callable[[], Any]]:
    """The KMS operations that write a key store record."""
    kms = node.kms()
    policy = json.loads(kms.get_key_policy(KeyId=state.key, PolicyName="default")["Policy"])
    policy["Statement"][0]["Sid"] = "Changed"
    return {
        "CreateKey": lambda: kms.create_key(Description="made during the fault"),
        "CreateAlias": lambda: kms.create_alias(AliasName=state.alias + "-second", TargetKeyId=state.key),
        "EnableKeyRotation": lambda: kms.enable_key_rotation(KeyId=state.key, RotationPeriodInDays=90),
        "RotateKeyOnDemand": lambda: kms.rotate_key_on_demand(KeyId=state.key),
        "PutKeyPolicy": lambda: kms.put_key_policy(KeyId=state.key, PolicyName="default", Policy=json.dumps(policy)),
        "TagResource": lambda: kms.tag_resource(KeyId=state.key, Tags=[{"TagKey": "during", "TagValue": "fault"}]),
        "CreateGrant": lambda: kms.create_grant(
            KeyId=state.key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT_ID}:user/grantee", Operations=["Decrypt"]
        ),
    }


def bucket_setting_writes(node: Node, state: State) -> dict[str, Callable[[], Any]]:
    """The S3 operations that write a record of the key store (bucket settings, upload records)."""
    s3 = node.s3()
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
                       "Resource": f"arn:aws:s3:::{state.spare_bucket}"}],
    }
    return {
        "PutBucketEncryption": lambda: s3.put_bucket_encryption(
            Bucket=state.spare_bucket, ServerSideEncryptionConfiguration=kms_default(state.other)
        ),
        "PutBucketPolicy": lambda: s3.put_bucket_policy(Bucket=state.spare_bucket, Policy=json.dumps(policy)),
        "CreateMultipartUpload": lambda: s3.create_multipart_upload(Bucket=state.spare_bucket, Key="upload"),
    }


S3_SERVER_ERRORS = ("ServiceUnavailable", "InternalError", "SlowDown")


def test_a_full_key_store_disk_refuses_writes_keeps_reads_and_recovers(node: Node, mounts: Mounts):
    mounts.tmpfs(node.key_store)
    node.start()
    state = State(node)
    before = state.snapshot(node)
    files = record_files(node)
    log_offset = node.log_path.stat().st_size

    filler = fill(node.key_store)
    for name, write in key_store_writes(node, state).items():
        response = kms_internal(write)
        record = audit_record(node, response)
        assert (record["eventName"], record["errorCode"]) == (name, "KMSInternalException")
    for name, write in bucket_setting_writes(node, state).items():
        s3_server_error(write, S3_SERVER_ERRORS)
    # Reads, and uses that write nothing to the key store, carry on.
    state.check_reads(node)
    state.check_uses(node)
    assert state.snapshot(node) == before
    assert node.alive()
    # The failed writes changed no record and left no temporary file behind.
    assert record_files(node) == files
    during = node.log(since=log_offset)
    assert "No space left on device" in during, during[-3000:]

    filler.unlink()
    for name, write in key_store_writes(node, state).items():
        write()
    for name, write in bucket_setting_writes(node, state).items():
        write()
    after = state.snapshot(node)
    assert set(before["keys"]) < set(after["keys"]), "every key made before the fault is still listed"
    assert after["key"]["KeyId"] == state.key and after["key"]["Enabled"]
    assert len(after["rotations"]) == len(before["rotations"]) + 1
    state.check_reads(node)
    state.check_uses(node)
    assert_trail_whole(node)
    assert_log_clean(node, state.material + sealed_material(node))


# --------------------------------------------------------------------------------------
# 2. A full disk under the audit trail
# --------------------------------------------------------------------------------------


def decrypt_until_the_trail_is_full(node: Node, state: State) -> None:
    """The trail file's last page can still take a record or two after the disk is full:
    those calls succeed, and are audited. The first record that does not fit fails its call."""
    kms = node.kms()
    for _ in range(20):
        try:
            answer = kms.decrypt(CiphertextBlob=state.blob, EncryptionContext=state.context)
        except ClientError as error:
            got = (error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"])
            assert got == ("KMSInternalException", 500), error.response["Error"]
            return
        assert audit_record(node, answer)["eventName"] == "Decrypt", "a result was handed out unaudited"
    pytest.fail("20 Decrypts succeeded on a full disk")


def test_a_full_audit_disk_stops_kms_calls_before_anything_goes_unaudited(node: Node, mounts: Mounts):
    """No audit record, no result: while the trail cannot be written, every KMS call fails
    with KMSInternalException and none hands out a plaintext, a data key or a new key."""
    mounts.tmpfs(node.audit_dir)
    node.start()
    state = State(node)
    before = state.snapshot(node)
    files = record_files(node)
    kms, s3 = node.kms(), node.s3()
    log_offset = node.log_path.stat().st_size

    filler = fill(node.audit_dir)
    decrypt_until_the_trail_is_full(node, state)
    kms_internal(lambda: kms.decrypt(CiphertextBlob=state.blob, EncryptionContext=state.context))
    kms_internal(lambda: kms.generate_data_key(KeyId=state.other, KeySpec="AES_256"))
    kms_internal(lambda: kms.encrypt(KeyId=state.alias, Plaintext=b"unaudited"))
    kms_internal(lambda: kms.create_key(Description="made while the trail was full"))
    kms_internal(lambda: kms.schedule_key_deletion(KeyId=state.other, PendingWindowInDays=7))
    kms_internal(lambda: kms.list_keys())
    # The S3 path's KMS calls are audited too (invokedBy s3): an SSE-KMS object neither reads
    # nor writes; SSE-S3 involves no KMS key and no audit record, as in AWS, and carries on.
    s3_server_error(lambda: s3.get_object(Bucket=state.bucket, Key="sse-kms"), ("InternalError",))
    s3_server_error(lambda: s3.put_object(Bucket=state.bucket, Key="new-kms", Body=b"x"), ("InternalError",))
    assert s3.get_object(Bucket=state.bucket, Key="sse-s3")["Body"].read() == state.body
    s3.put_object(Bucket=state.bucket, Key="new-s3", Body=b"sse-s3 needs no trail", ServerSideEncryption="AES256")
    assert node.alive()
    assert record_files(node) == files, "a refused call changed the key store"
    # The records the trail could not take went to the log instead.
    during = node.log(since=log_offset)
    assert re.search(r"cannot write the KMS audit trail; the record follows.*eventName.{3,6}Decrypt", during), (
        during[-3000:]
    )

    filler.unlink()
    answer = kms.decrypt(CiphertextBlob=state.blob, EncryptionContext=state.context)
    assert answer["Plaintext"] == state.plaintext
    assert audit_record(node, answer)["eventName"] == "Decrypt"
    assert state.snapshot(node) == before, "nothing changed while the trail was full"
    state.check_reads(node)
    state.check_uses(node)
    assert_trail_whole(node)

    # A call that changes something first checks that the trail has room: on a disk that
    # filled up since the last record, the first such call is refused before it runs.
    filler = fill(node.audit_dir)
    kms_internal(lambda: kms.create_key(Description="the first call after the disk filled again"))
    kms_internal(lambda: kms.put_key_policy(KeyId=state.key, PolicyName="default", Policy=before["policy"]))
    assert record_files(node) == files, "a call that could not be audited changed the key store"
    filler.unlink()
    kms.create_key(Description="made after the fault")
    assert len(state.snapshot(node)["keys"]) == len(before["keys"]) + 1
    assert_trail_whole(node)
    assert_log_clean(node, state.material)


# --------------------------------------------------------------------------------------
# 3. A read-only key store directory
# --------------------------------------------------------------------------------------


def test_a_read_only_key_store_refuses_writes_keeps_reads_and_recovers(node: Node, mounts: Mounts):
    # As root, chmod stops no write: the directory is a tmpfs remounted read-only instead.
    mounts.tmpfs(node.key_store)
    node.start()
    state = State(node)
    before = state.snapshot(node)
    files = record_files(node)
    kms = node.kms()
    log_offset = node.log_path.stat().st_size

    mounts.remount(node.key_store, "ro")
    writes = key_store_writes(node, state) | {
        "DisableKey": lambda: kms.disable_key(KeyId=state.other),
        "UpdateKeyDescription": lambda: kms.update_key_description(KeyId=state.key, Description="changed"),
        "ScheduleKeyDeletion": lambda: kms.schedule_key_deletion(KeyId=state.other, PendingWindowInDays=7),
        "DeleteAlias": lambda: kms.delete_alias(AliasName=state.alias),
    }
    for name, write in writes.items():
        record = audit_record(node, kms_internal(write))
        assert (record["eventName"], record["errorCode"]) == (name, "KMSInternalException")
    for name, write in bucket_setting_writes(node, state).items():
        s3_server_error(write, S3_SERVER_ERRORS)
    state.check_reads(node)
    state.check_uses(node)
    node.s3().put_object(Bucket=state.bucket, Key="during", Body=b"objects live in the store, not the key store")
    assert state.snapshot(node) == before
    assert node.alive()
    assert record_files(node) == files
    during = node.log(since=log_offset)
    assert "Read-only file system" in during, during[-3000:]

    mounts.remount(node.key_store, "rw")
    for name, write in key_store_writes(node, state).items():
        write()
    for name, write in bucket_setting_writes(node, state).items():
        write()
    after = state.snapshot(node)
    assert set(before["keys"]) < set(after["keys"])
    state.check_reads(node)
    state.check_uses(node)
    assert node.s3().get_object(Bucket=state.bucket, Key="during")["Body"].read().startswith(b"objects live")
    assert_trail_whole(node)
    assert_log_clean(node, state.material + sealed_material(node))


# --------------------------------------------------------------------------------------
# 4. Corrupted records
# --------------------------------------------------------------------------------------


def corruptions(original: bytes) -> dict[str, bytes]:
    """Ways a key record can be damaged, by name."""
    record = json.loads(original)
    # Valid JSON of the wrong shape, with a record's own values where others are expected:
    # an error message that quotes the value it could not read would quote sealed material.
    misshapen = dict(record, versions=record["versions"][0]["sealed_material"])
    return {
        "garbage": os.urandom(333),
        "truncated": original[: len(original) // 2],
        "empty": b"",
        "invalid-json": original.replace(b'"state": "Enabled"', b'"state": Enabled'),
        "wrong-shape": json.dumps(misshapen).encode(),
        "not-an-object": b"[]",
    }


class Damage:
    """Healthy and damaged keys (each with an alias, a ciphertext and a grant), a damaged
    alias of a healthy key, and the original bytes of every damaged record."""

    def __init__(self, node: Node) -> None:
        kms = node.kms()
        self.node = node
        self.healthy = self.make_key("healthy")
        self.victims: dict[str, dict] = {}
        for name in ("garbage", "truncated", "empty", "invalid-json", "wrong-shape", "not-an-object"):
            self.victims[name] = self.make_key(name)
        self.broken_alias = f"alias/faults-broken-{secrets.token_hex(4)}"
        kms.create_alias(AliasName=self.broken_alias, TargetKeyId=self.healthy["id"])
        self.material = sealed_material(node)
        self.originals: dict[Path, bytes] = {}
        for name, victim in self.victims.items():
            path = node.key_store / "keys" / f"{victim['id']}.json"
            self.originals[path] = path.read_bytes()
            path.write_bytes(corruptions(self.originals[path])[name])
        alias_path = node.key_store / "aliases" / (self.broken_alias.replace("/", "%2F") + ".json")
        self.originals[alias_path] = alias_path.read_bytes()
        alias_path.write_bytes(b'{"alias_name": "' + self.broken_alias.encode() + b'", "target_key_id": ')

    def make_key(self, label: str) -> dict:
        kms = self.node.kms()
        key_id = kms.create_key(Description=label)["KeyMetadata"]["KeyId"]
        alias = f"alias/faults-{label}-{secrets.token_hex(4)}"
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        plaintext = f"{label} {secrets.token_hex(16)}".encode()
        blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext)["CiphertextBlob"]
        kms.create_grant(
            KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT_ID}:user/grantee",
            RetiringPrincipal=f"arn:aws:iam::{ACCOUNT_ID}:user/{ADMIN.name}", Operations=["Decrypt"],
        )
        return {"id": key_id, "alias": alias, "plaintext": plaintext, "blob": blob}

    def check(self) -> None:
        """Each damaged key fails alone, with KMSInternalException; everything else works."""
        kms = self.node.kms()
        for name, victim in self.victims.items():
            for call in (
                lambda: kms.describe_key(KeyId=victim["id"]),
                lambda: kms.describe_key(KeyId=victim["alias"]),
                lambda: kms.decrypt(CiphertextBlob=victim["blob"]),
                lambda: kms.encrypt(KeyId=victim["alias"], Plaintext=b"x"),
                lambda: kms.enable_key_rotation(KeyId=victim["id"]),
            ):
                kms_internal(call)
        kms_internal(lambda: kms.describe_key(KeyId=self.broken_alias))
        # The healthy key works, also through its own alias.
        healthy = self.healthy
        assert kms.decrypt(CiphertextBlob=healthy["blob"])["Plaintext"] == healthy["plaintext"]
        blob = kms.encrypt(KeyId=healthy["alias"], Plaintext=b"fine")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"fine"
        # Listings carry on: every key is listed (the damaged ones too: their records exist
        # and their ids are known; only their contents cannot be read).
        listed = {k["KeyId"] for k in kms.list_keys()["Keys"]}
        assert {healthy["id"]} | {v["id"] for v in self.victims.values()} <= listed
        aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
        assert {healthy["alias"]} | {v["alias"] for v in self.victims.values()} <= aliases
        assert self.broken_alias not in aliases, "an alias whose record cannot be read is not listed"
        retirable = kms.list_retirable_grants(RetiringPrincipal=f"arn:aws:iam::{ACCOUNT_ID}:user/{ADMIN.name}")
        assert {g["KeyId"].rsplit("/", 1)[1] for g in retirable["Grants"]} == {healthy["id"]}
        kms.create_key(Description="made next to damaged records")

    def check_log_names_the_records(self, text: str) -> None:
        for victim in self.victims.values():
            assert f"keys/{victim['id']}.json" in text, f"the log does not name keys/{victim['id']}.json"
        assert self.broken_alias.replace("/", "%2F") in text, "the log does not name the damaged alias record"

    def repair(self) -> None:
        for path, original in self.originals.items():
            path.write_bytes(original)


def test_corrupted_records_fail_alone_and_s3kms_still_starts(node: Node):
    node.start()
    damage = Damage(node)
    damage.check()
    assert node.alive()
    damage.check_log_names_the_records(node.log())

    # A restart over the damaged records: s3kms starts, and the same holds.
    offset = node.log_path.stat().st_size
    node.restart()
    damage.check()
    damage.check_log_names_the_records(node.log(since=offset))
    assert_log_clean(node, damage.material)

    # Putting the records back repairs the keys, without a restart.
    damage.repair()
    kms = node.kms()
    for victim in damage.victims.values():
        assert kms.decrypt(CiphertextBlob=victim["blob"])["Plaintext"] == victim["plaintext"]
    assert kms.describe_key(KeyId=damage.broken_alias)["KeyMetadata"]["KeyId"] == damage.healthy["id"]
    assert_trail_whole(node)


def test_a_corrupted_registry_or_declared_alias_stops_the_start_and_a_repair_starts_again(node: Node):
    """Two records are not one key's: `principals.json` gives every configured user the
    unique id that key policies name, and a `[[keys]]` alias is what the config says must
    exist. s3kms cannot rebuild either without changing who a policy names or which key an
    alias means, so it refuses to start - exit status 1, no panic, the failing step named -
    and starts again once the record is put back."""
    node.start()
    kms = node.kms()
    key_id = kms.create_key(Description="survives a refused start")["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"made before the damage")["CiphertextBlob"]
    declared = kms.describe_key(KeyId=DECLARED_ALIAS)["KeyMetadata"]["KeyId"]
    node.stop()
    damaged = {
        "principals": node.key_store / "principals.json",
        "declared key": node.key_store / "aliases" / (DECLARED_ALIAS.replace("/", "%2F") + ".json"),
    }
    for step, path in damaged.items():
        original = path.read_bytes()
        path.write_bytes(original[: len(original) // 2])
        offset = node.log_path.stat().st_size
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="exited with status 1 before it was ready"):
            node.start()
        assert time.monotonic() - started < 30
        refusal = node.log(since=offset)
        assert f"cannot prepare the KMS: {step}" in refusal, refusal[-2000:]
        assert path.name in refusal, refusal[-2000:]  # the operator is told which file
        assert "panicked" not in refusal
        path.write_bytes(original)
        node.start()
        kms = node.kms()
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"made before the damage"
        assert kms.describe_key(KeyId=DECLARED_ALIAS)["KeyMetadata"]["KeyId"] == declared
        assert sorted(k["KeyId"] for k in kms.list_keys()["Keys"]) == sorted([key_id, declared])
        node.stop()
