"""rclone as an SSE-KMS client of s3kms (the suite's Rclone sets `server_side_encryption =
aws:kms`): a directory of a dozen files, one of them big enough for a multipart upload, is
copied, checked (sizes and MD5s, then downloaded content), synced again without a transfer,
read in a range with `rclone cat`, and stored upstream as ciphertext only."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytest.register_assert_rewrite("sse_support")

from clients import Rclone, environment_without_aws, explain, tool  # noqa: E402
from sse_support import (  # noqa: E402
    MAGIC,
    Marker,
    MiB,
    module_bucket,  # noqa: F401
    s3,  # noqa: F401
    target,  # noqa: F401
    upstream,  # noqa: F401
)

pytestmark = pytest.mark.proxy_only

PREFIX = "tree"
CHUNK = 8 * MiB
BIG = 40 * MiB + 123  # five 8 MiB parts and a small last one
MARKER = Marker("rclone")


def local_tree(root: Path) -> dict[str, bytes]:
    files = {
        "empty.bin": b"",
        "one.bin": b"\x01",
        "segment.bin": os.urandom(65536),
        "mib-plus-7.bin": os.urandom(MiB + 7),
        "big.bin": MARKER.data(BIG),
        "marker.txt": MARKER.data(300_001),
        "notes/readme.txt": b"rclone through s3kms\n" * 40,
        "notes/odd.bin": os.urandom(65537),
        "notes/deep/tiny.txt": b"tiny",
        "notes/deep/k.bin": os.urandom(1000),
        "space name.txt": b"a key with a space",
        "last.bin": os.urandom(5 * MiB + 1),
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def rclone_run(rclone: Rclone, *arguments: str, text: bool = True) -> subprocess.CompletedProcess:
    """rclone as the suite's Rclone runs it (same remote `t:`), returning the whole result."""
    env = {
        **environment_without_aws(),
        "RCLONE_CONFIG": str(rclone.workdir / "rclone-unused.conf"),
        "RCLONE_CONFIG_T_TYPE": "s3",
        "RCLONE_CONFIG_T_PROVIDER": "Other",
        "RCLONE_CONFIG_T_ENDPOINT": rclone.endpoint,
        "RCLONE_CONFIG_T_ACCESS_KEY_ID": rclone.credentials.access_key_id,
        "RCLONE_CONFIG_T_SECRET_ACCESS_KEY": rclone.credentials.secret_access_key,
        "RCLONE_CONFIG_T_REGION": rclone.region,
        "RCLONE_CONFIG_T_FORCE_PATH_STYLE": "true",
        "RCLONE_CONFIG_T_SERVER_SIDE_ENCRYPTION": "aws:kms",
    }
    command = [tool("rclone"), "--retries", "1", "--low-level-retries", "1", *arguments]
    return subprocess.run(command, env=env, cwd=rclone.workdir, stdin=subprocess.DEVNULL, capture_output=True,
                          text=text, timeout=120)


def run_json_log(rclone: Rclone, *arguments: str) -> list[dict]:
    """rclone with `--use-json-log -v`; its log (stderr) parsed, one record a line."""
    result = rclone_run(rclone, "--use-json-log", "-v", *arguments)
    assert result.returncode == 0, explain(result)
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip().startswith("{")]
    assert records, explain(result)
    return records


def copied(records: list[dict]) -> list[str]:
    return sorted(r.get("object", "?") for r in records if str(r.get("msg", "")).startswith("Copied"))


@pytest.fixture(scope="module")
def tree(target, module_bucket, tmp_path_factory):
    """The local tree, copied once per target; the copy's log records are kept."""
    workdir = tmp_path_factory.mktemp("rclone-sse")
    root = workdir / "src"
    root.mkdir()
    files = local_tree(root)
    rclone = Rclone(target.endpoint, target.users["alice"], workdir, target.region)
    remote = f"t:{module_bucket}/{PREFIX}"
    records = run_json_log(
        rclone, "copy", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M", str(root), remote
    )
    return {"rclone": rclone, "root": root, "files": files, "remote": remote, "copy_log": records,
            "bucket": module_bucket}


def test_copy_transfers_every_file_with_plaintext_sizes(tree, s3):
    assert copied(tree["copy_log"]) == sorted(tree["files"])
    listed = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=tree["bucket"], Prefix=PREFIX + "/"):
        listed.update({e["Key"]: e["Size"] for e in page.get("Contents", [])})
    assert listed == {f"{PREFIX}/{name}": len(data) for name, data in tree["files"].items()}
    head = s3.head_object(Bucket=tree["bucket"], Key=f"{PREFIX}/big.bin")
    assert head["ServerSideEncryption"] == "aws:kms"
    # Multipart: five 8 MiB parts and a 123-byte last part (README: `-M`, the client's count).
    assert head["ETag"].strip('"').endswith("-6"), head["ETag"]


def test_check_by_hash_and_by_content(tree):
    rclone = tree["rclone"]
    by_hash = run_json_log(rclone, "check", str(tree["root"]), tree["remote"])
    messages = [str(r.get("msg", "")) for r in by_hash]
    assert any("0 differences found" in m for m in messages), messages
    assert any(f"{len(tree['files'])} matching files" in m for m in messages), messages
    assert any("Using md5 for hash comparisons" in m for m in messages), messages
    # rclone says "N hashes could not be checked" when a side has no MD5 for a file.
    assert not any("hashes could not be checked" in m for m in messages), messages

    by_content = run_json_log(rclone, "check", "--download", str(tree["root"]), tree["remote"])
    messages = [str(r.get("msg", "")) for r in by_content]
    assert any("0 differences found" in m for m in messages), messages
    assert any(f"{len(tree['files'])} matching files" in m for m in messages), messages


def test_a_second_sync_transfers_nothing(tree):
    records = run_json_log(
        tree["rclone"], "sync", "--s3-upload-cutoff", "8M", "--s3-chunk-size", "8M", str(tree["root"]), tree["remote"]
    )
    assert copied(records) == [], [r for r in records if "Copied" in str(r.get("msg"))]
    assert any(r.get("msg") == "There was nothing to transfer" for r in records), records
    deleted = [r for r in records if str(r.get("msg", "")).startswith("Deleted")]
    assert deleted == []
    # The final stats record counts no transfer.
    stats = [r["stats"] for r in records if isinstance(r.get("stats"), dict)]
    assert stats, records
    assert stats[-1].get("transfers") == 0, stats[-1]


@pytest.mark.parametrize(
    ("name", "offset", "count"),
    [
        ("big.bin", CHUNK - 100, 300),  # across the first part boundary
        ("big.bin", 4 * CHUNK + 65530, 70000),  # in the fifth part, across a segment boundary
        ("big.bin", BIG - 50, 50),  # the small last part
        ("mib-plus-7.bin", 65535, 3),
    ],
)
def test_cat_a_range(tree, name, offset, count):
    result = rclone_run(
        tree["rclone"], "cat", "--offset", str(offset), "--count", str(count), f"{tree['remote']}/{name}", text=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    expected = tree["files"][name][offset : offset + count]
    assert len(expected) == count
    assert result.stdout == expected


@pytest.mark.parametrize("name", ["marker.txt", "big.bin"])
def test_stored_bytes_are_ciphertext(tree, upstream, name):
    stored = upstream.get(tree["bucket"], f"{PREFIX}/{name}")
    plaintext = tree["files"][name]
    assert stored.data[:4] == MAGIC, stored.data[:48]
    assert len(stored.data) > len(plaintext)
    assert MARKER.leaks_into(stored.data) == []
    assert stored.metadata.get("s3kms-a") == "aws:kms", stored.metadata
