"""s3kms killed with SIGKILL at bad moments, then restarted over the same data_dir and config.

Each test runs its own s3kms, on two kinds of state:

* `embedded`  - the embedded store and the `file` key store, all in data_dir;
* `seaweedfs` - a real SeaweedFS and the `s3` key store in a bucket of it (root key in a file).

The process is killed with SIGKILL (no shutdown code runs) while a request is half done, and a
new process is started on the same config file (listen 127.0.0.1:0, so a new port). What must
hold: an object is all or nothing, an open multipart upload and its finished parts survive,
every key the KMS lists works and every acknowledged write is there, old ciphertexts decrypt,
the audit trail stays parseable JSON lines and `s3kms audit` still reads it, and the restarted
process logs no corrupt record.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from clients import boto3_client
from conftest import ACCOUNT_ID, LIVE_LOGS, REGION, UPSTREAM_ADMIN, require_s3kms_binary, target_kinds
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, log_tail, s3kms_config_toml, toml_string
from sigv4_raw import Credentials, canonical_query_string, sha256_hex, sign_headers, uri_encode

pytestmark = pytest.mark.proxy_only

MiB = 1024 * 1024
ADMIN = ServerCredentials("crash-admin", "AKIACRASHRECOVERY001", "crash-recovery-secret-0123456789", ALLOW_ALL_POLICY)
ADMIN_CREDENTIALS = Credentials(ADMIN.access_key_id, ADMIN.secret_access_key)
# What a restarted s3kms must never log about state a SIGKILL left behind.
BAD_LOG = re.compile(r"corrupt|panicked|key store.*(error|fail)|(error|fail).*key store", re.IGNORECASE)
KINDS = [kind for kind in target_kinds() if kind in ("embedded", "seaweedfs")]


class Node:
    """One s3kms over one config file, killed and restarted at will."""

    def __init__(self, workdir: Path, config: str) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.config_path = workdir / "s3kms.toml"
        self.config_path.write_text(config)
        self.log_path = workdir / "s3kms.stderr.log"
        self.server: S3kms | None = None
        self.restart_offset = 0  # log size when the current process started
        self.kills = 0

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        return self.server.endpoint

    def start(self) -> None:
        self.restart_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.server = S3kms(require_s3kms_binary(), self.config_path, self.log_path)
        self.server.start()
        LIVE_LOGS.add(self.log_path)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a power cut would: no shutdown code runs."""
        assert self.server is not None and self.server.process is not None
        process = self.server.process
        assert process.poll() is None, f"s3kms died before the kill:\n{log_tail(self.log_path)}"
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
        self.server.stop()  # joins the stdout drain; the process is already gone
        self.kills += 1

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        LIVE_LOGS.discard(self.log_path)

    def s3(self):
        return boto3_client(self.endpoint, ADMIN_CREDENTIALS, region=REGION)

    def kms(self):
        return boto3.client(
            "kms",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ADMIN.access_key_id,
            aws_secret_access_key=ADMIN.secret_access_key,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30),
        )

    def log_since_restart(self) -> str:
        return log_tail(self.log_path, lines=100000, since=self.restart_offset)

    def assert_clean_log(self) -> None:
        """No line of the whole log (every process of this node) reports a corrupt record,
        a panic or a key store error."""
        text = log_tail(self.log_path, lines=100000)
        bad = [line for line in text.splitlines() if BAD_LOG.search(line)]
        assert not bad, "s3kms logged:\n" + "\n".join(bad[:20])


@pytest.fixture(params=KINDS)
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    kind = request.param
    workdir = tmp_path_factory.mktemp(f"crash-{kind}")
    common = dict(data_dir=workdir / "data", users=[ADMIN], account_id=ACCOUNT_ID, region=REGION)
    if kind == "embedded":
        config = s3kms_config_toml(upstream=None, **common)
    else:
        seaweedfs = request.getfixturevalue("seaweedfs")
        root_key = workdir / "root.key"
        root_key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
        upstream = ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)
        config = "\n".join([
            f"root_key_file = {toml_string(str(root_key))}",
            s3kms_config_toml(upstream=(seaweedfs.endpoint, upstream), **common),
            "[key_store]",
            'type = "s3"',
            f"bucket = {toml_string('crash-ks-' + secrets.token_hex(4))}",
            'prefix = "kms/"',
            "",
        ])
    server = Node(workdir, config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def new_bucket(node: Node, label: str) -> str:
    name = f"crash-{label}-{secrets.token_hex(4)}"
    node.s3().create_bucket(Bucket=name)
    return name


# --------------------------------------------------------------------------------------
# A slow signed upload over a raw socket, killed halfway
# --------------------------------------------------------------------------------------


class SlowUpload(threading.Thread):
    """PUT `body` (header-signed with its real SHA-256) over a raw socket: the first half at
    full speed, then 64 KiB every 50 ms until the connection breaks. `halfway` is set once
    half of the body is on the wire."""

    def __init__(self, endpoint: str, path: str, query: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(name="slow-upload", daemon=True)
        self.url = urllib.parse.urlsplit(endpoint)
        self.path, self.query, self.body = path, query, body
        self.halfway = threading.Event()
        self.sent = 0
        self.outcome: str = ""

    def run(self) -> None:
        headers = {"host": self.url.netloc, "content-length": str(len(self.body))}
        sign_headers("PUT", self.path, self.query, headers, sha256_hex(self.body), ADMIN_CREDENTIALS, REGION,
                     dt.datetime.now(dt.timezone.utc))
        target = uri_encode(self.path, keep_slash=True)
        if self.query:
            target += "?" + canonical_query_string(self.query)
        head = f"PUT {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        try:
            with socket.create_connection((self.url.hostname, self.url.port), timeout=30) as sock:
                sock.sendall(head.encode())
                half = len(self.body) // 2
                view = memoryview(self.body)
                sock.sendall(view[:half])
                self.sent = half
                self.halfway.set()
                while self.sent < len(self.body):
                    piece = view[self.sent:self.sent + 64 * 1024]
                    sock.sendall(piece)
                    self.sent += len(piece)
                    time.sleep(0.05)
                self.outcome = "sent all: " + sock.recv(200).decode(errors="replace")
        except OSError as error:
            self.outcome = f"broken after {self.sent} bytes: {error!r}"
        finally:
            self.halfway.set()


def kill_halfway(node: Node, upload: SlowUpload) -> None:
    upload.start()
    assert upload.halfway.wait(timeout=120), "the upload never got halfway"
    time.sleep(0.3)  # let s3kms work on what it has received
    assert upload.sent < len(upload.body), f"the whole body went out before the kill ({upload.outcome})"
    node.restart()
    upload.join(timeout=30)
    assert not upload.outcome.startswith("sent all"), upload.outcome


# --------------------------------------------------------------------------------------
# 1. A large PUT
# --------------------------------------------------------------------------------------


def test_sigkill_during_a_large_put_leaves_the_previous_version_whole(node: Node):
    bucket = new_bucket(node, "put")
    s3 = node.s3()
    previous = os.urandom(3 * MiB + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=previous)
    body = os.urandom(64 * MiB)

    kill_halfway(node, SlowUpload(node.endpoint, f"/{bucket}/big", [], body))

    s3 = node.s3()
    head = s3.head_object(Bucket=bucket, Key="big")
    got = s3.get_object(Bucket=bucket, Key="big")
    data = got["Body"].read()
    listed = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    # All or nothing, and nothing: the kill came before the last byte, so the old version stays.
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(previous).hexdigest(), (
        f"GET after the kill returned {len(data)} bytes, expected the previous {len(previous)}"
    )
    assert head["ContentLength"] == len(previous) == got["ContentLength"]
    assert list(listed) == ["big"]
    assert listed["big"]["Size"] == len(previous)
    assert listed["big"]["ETag"] == head["ETag"] == got["ETag"]

    # And the key still takes a full PUT after the restart.
    s3.put_object(Bucket=bucket, Key="big", Body=body[: 8 * MiB])
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == body[: 8 * MiB]
    node.assert_clean_log()


def test_sigkill_during_a_large_put_of_a_new_key_leaves_no_object(node: Node):
    bucket = new_bucket(node, "new")
    kill_halfway(node, SlowUpload(node.endpoint, f"/{bucket}/fresh", [], os.urandom(64 * MiB)))

    s3 = node.s3()
    with pytest.raises(s3.exceptions.ClientError) as head:
        s3.head_object(Bucket=bucket, Key="fresh")
    assert head.value.response["Error"]["Code"] in ("404", "NoSuchKey")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="fresh")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    s3.delete_bucket(Bucket=bucket)  # nothing half-written keeps the bucket non-empty
    node.assert_clean_log()


# --------------------------------------------------------------------------------------
# 2. A multipart upload
# --------------------------------------------------------------------------------------

PART = 6 * MiB


def start_upload_with_two_parts(node: Node, bucket: str, key: str) -> tuple[str, list[bytes], list[str]]:
    s3 = node.s3()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = [os.urandom(PART), os.urandom(PART + 1), os.urandom(PART - 3)]
    etags = [s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n + 1, Body=parts[n])["ETag"]
             for n in range(2)]
    return upload_id, parts, etags


def assert_upload_survived(node: Node, bucket: str, key: str, upload_id: str, parts: list[bytes], etags: list[str]):
    s3 = node.s3()
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload_id)]
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in listed] == [
        (1, len(parts[0]), etags[0]), (2, len(parts[1]), etags[1])
    ], "ListParts after the kill: parts 1-2 with plaintext sizes, nothing of part 3"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key=key)


def test_sigkill_during_part_3_then_the_upload_completes(node: Node):
    bucket = new_bucket(node, "mpu")
    upload_id, parts, etags = start_upload_with_two_parts(node, bucket, "obj")
    query = [("partNumber", "3"), ("uploadId", upload_id)]
    # Part 3 is sent slowly and is cut at half: its body is padded to 16 MiB so that half
    # of it is well over the 5 MiB a staged part may have.
    kill_halfway(node, SlowUpload(node.endpoint, f"/{bucket}/obj", query, os.urandom(16 * MiB)))

    assert_upload_survived(node, bucket, "obj", upload_id, parts, etags)
    s3 = node.s3()
    etag3 = s3.upload_part(Bucket=bucket, Key="obj", UploadId=upload_id, PartNumber=3, Body=parts[2])["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="obj", UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags + [etag3])]},
    )
    data = s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
    assert hashlib.sha256(data).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert s3.head_object(Bucket=bucket, Key="obj")["ContentLength"] == sum(map(len, parts))
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    node.assert_clean_log()


def test_sigkill_during_part_3_then_the_upload_aborts_cleanly(node: Node):
    bucket = new_bucket(node, "abort")
    upload_id, parts, etags = start_upload_with_two_parts(node, bucket, "obj")
    query = [("partNumber", "3"), ("uploadId", upload_id)]
    kill_halfway(node, SlowUpload(node.endpoint, f"/{bucket}/obj", query, os.urandom(16 * MiB)))

    assert_upload_survived(node, bucket, "obj", upload_id, parts, etags)
    s3 = node.s3()
    s3.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId=upload_id)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.list_parts(Bucket=bucket, Key="obj", UploadId=upload_id)
    s3.delete_bucket(Bucket=bucket)  # nothing of the upload is left in the way
    node.assert_clean_log()


# --------------------------------------------------------------------------------------
# 3. Key creation and rotation
# --------------------------------------------------------------------------------------


def churn_keys(node: Node, threads: int, stop: threading.Event, created: list[str], rotated: dict[str, int]):
    """CreateKey then RotateKeyOnDemand on it, in a tight loop per thread, until the
    connection breaks. Only acknowledged calls are recorded."""

    def loop() -> None:
        kms = node.kms()
        while not stop.is_set():
            try:
                key_id = kms.create_key(Description="churn")["KeyMetadata"]["KeyId"]
                created.append(key_id)
                kms.rotate_key_on_demand(KeyId=key_id)
                rotated[key_id] = rotated.get(key_id, 0) + 1
                kms.encrypt(KeyId=key_id, Plaintext=b"churn")
            except Exception:  # the kill: connection refused or reset
                return

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def kill_during_churn(node: Node) -> tuple[list[str], dict[str, int]]:
    created: list[str] = []
    rotated: dict[str, int] = {}
    stop = threading.Event()
    workers = churn_keys(node, 8, stop, created, rotated)
    assert wait_for(lambda: len(created) >= 12, timeout=60), f"only {len(created)} keys created"
    node.restart()
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    return created, rotated


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def all_key_ids(kms) -> list[str]:
    keys: list[str] = []
    for page in kms.get_paginator("list_keys").paginate():
        keys += [k["KeyId"] for k in page["Keys"]]
    return keys


def test_sigkill_during_key_creation_and_rotation(node: Node):
    kms = node.kms()
    old_key = kms.create_key(Description="before the kill")["KeyMetadata"]["KeyId"]
    kms.rotate_key_on_demand(KeyId=old_key)
    old_blob = kms.encrypt(KeyId=old_key, Plaintext=b"made before the kill", EncryptionContext={"c": "1"})["CiphertextBlob"]

    created, rotated = kill_during_churn(node)

    kms = node.kms()
    listed = all_key_ids(kms)
    assert len(listed) == len(set(listed))
    missing = sorted(set(created + [old_key]) - set(listed))
    assert not missing, f"acknowledged CreateKey lost by the kill: {missing}"
    broken = {}
    for key_id in listed:
        try:
            metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
            if metadata["KeyManager"] == "AWS" or metadata["KeyState"] != "Enabled":
                continue  # the SSE-S3 managed key, or a key not meant for use
            blob = kms.encrypt(KeyId=key_id, Plaintext=b"after the kill")["CiphertextBlob"]
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after the kill"
            rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
            assert len(rotations) >= rotated.get(key_id, 0), "acknowledged rotation lost"
        except Exception as error:  # noqa: BLE001 - collect every broken key for the report
            broken[key_id] = repr(error)
    assert not broken, f"{len(broken)} of {len(listed)} listed keys broken after the kill: {broken}"
    assert kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"c": "1"})["Plaintext"] == b"made before the kill"
    # The loop goes on after the restart without tripping over anything the kill left.
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    node.assert_clean_log()


# --------------------------------------------------------------------------------------
# 4. The audit trail
# --------------------------------------------------------------------------------------


def audit_lines(node: Node) -> list[tuple[Path, int, bytes]]:
    files = sorted((node.data_dir / "audit").glob("*.jsonl"))
    assert files, f"no audit file in {node.data_dir / 'audit'}"
    return [(f, n, line) for f in files for n, line in enumerate(f.read_bytes().split(b"\n"), 1) if line]


def run_audit(node: Node, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(require_s3kms_binary()), "audit", "--config", str(node.config_path), *options],
        capture_output=True, timeout=60, env={**os.environ, "NO_COLOR": "1"},
    )


def assert_trail_parses(node: Node) -> list[dict]:
    records, bad = [], []
    for path, number, line in audit_lines(node):
        try:
            records.append(json.loads(line))
        except ValueError:
            bad.append(f"{path.name}:{number}: {line[:200]!r}")
    assert not bad, "audit lines that are not JSON:\n" + "\n".join(bad)
    return records


def test_audit_trail_after_a_kill_is_json_lines_and_queryable(node: Node):
    kms = node.kms()
    key_id = kms.create_key(Description="audited")["KeyMetadata"]["KeyId"]
    stop = threading.Event()

    def encrypt_loop() -> None:
        client = node.kms()
        while not stop.is_set():
            try:
                client.encrypt(KeyId=key_id, Plaintext=b"x")
            except Exception:
                return

    workers = [threading.Thread(target=encrypt_loop, daemon=True) for _ in range(8)]
    for worker in workers:
        worker.start()
    time.sleep(1.5)
    node.restart()  # SIGKILL while eight threads write audit records
    stop.set()
    for worker in workers:
        worker.join(timeout=30)

    # After the restart, new records must start on a line of their own even if the kill
    # tore the last one.
    node.kms().decrypt(CiphertextBlob=node.kms().encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"])
    records = assert_trail_parses(node)
    assert any(r.get("eventName") == "Decrypt" for r in records)

    result = run_audit(node, "--key", key_id, "--event", "Decrypt", "--json")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    found = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    assert len(found) >= 1 and all(r["eventName"] == "Decrypt" for r in found)
    table = run_audit(node, "--since", "-1h")
    assert table.returncode == 0, table.stderr.decode(errors="replace")
    assert key_id in table.stdout.decode()
    node.assert_clean_log()


def test_a_torn_last_audit_line_breaks_neither_the_trail_nor_the_query(node: Node):
    """The worst a SIGKILL can leave, made on purpose: half a record with no newline at the
    end of today's file. The restarted s3kms must append after it on a new line, and
    `s3kms audit` must still answer."""
    kms = node.kms()
    key_id = kms.create_key(Description="torn")["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key_id, Plaintext=b"before")
    node.kill()
    newest = sorted((node.data_dir / "audit").glob("*.jsonl"))[-1]
    with newest.open("ab") as trail:
        trail.write(b'{"eventVersion":"1.08","eventName":"Encr')
    node.start()
    kms = node.kms()
    kms.encrypt(KeyId=key_id, Plaintext=b"after")

    # The query still answers (a torn line is skipped with a warning, not an error)...
    result = run_audit(node, "--key", key_id, "--event", "Encrypt", "--json")
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    # ...and the record written after the restart is neither glued onto the torn line nor lost.
    lines = [line for _, _, line in audit_lines(node)]
    torn = [line for line in lines if line.startswith(b'{"eventVersion":"1.08","eventName":"Encr')]
    assert torn == [b'{"eventVersion":"1.08","eventName":"Encr'], (
        f"the first record after the restart was glued onto the torn line: {torn[:1]!r}"
    )
    after = [json.loads(line) for line in lines if line != torn[0]]
    assert sum(r.get("eventName") == "Encrypt" for r in after) == 2
    found = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    assert len(found) == 2, result.stdout.decode()
    node.assert_clean_log()
