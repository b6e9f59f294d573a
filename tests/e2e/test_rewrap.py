"""`s3kms rewrap`: existing objects moved onto another KMS key, in place, through a running s3kms.

What must hold, on both upstreams (embedded store, SeaweedFS):
* a rewrap changes only the wrap: the stored bytes of every object (single stream, multipart
  with the manifest merged into the last part or in a part of its own) are byte-for-byte what
  they were, the envelope names the new key, metadata, content type and tags survive, and the
  objects read back through s3kms - even after the old key is disabled;
* objects outside the prefix are untouched; SSE-S3 objects become SSE-KMS;
* a second run changes nothing; after a rotation of the key it rewraps again;
* a dry run writes nothing; a checkpoint resumes a run; a denied run fails per object with
  KMS's AccessDenied, exits 1, keeps its checkpoint, and a permitted run then completes;
* `--reencrypt` encrypts objects written before s3kms (plaintext in the store) and gives
  sealed objects fresh data keys (SeaweedFS: the only store the test can write behind s3kms);
* every KMS use of a rewrap is in the audit trail, invoked by S3.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ACCOUNT_ID, require_s3kms_binary
from sse_support import (  # noqa: F401  (fixtures)
    MAGIC,
    MiB,
    Marker,
    bucket,
    kms,
    module_bucket,
    new_alias,
    new_key,
    s3,
    target,
    upstream,
)

PREFIX = "move/"


def config_of(target) -> Path:
    return target.logs["s3kms stderr"].parent / "s3kms.toml"


def rewrap(target, tmp_path: Path, *arguments: str, user: str = "alice") -> subprocess.CompletedProcess:
    command = [
        str(require_s3kms_binary()), "rewrap", "--config", str(config_of(target)), "--endpoint", target.endpoint,
        "--user", user, "--state", str(tmp_path / "state.json"), *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)


def sse_key(s3, bucket: str, key: str) -> tuple[str, str | None]:
    head = s3.head_object(Bucket=bucket, Key=key)
    return head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")


def multipart(s3, bucket: str, key: str, sizes: list[int], marker: Marker, **extra) -> bytes:
    data = marker.data(sum(sizes))
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
    parts, offset = [], 0
    for number, size in enumerate(sizes, start=1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number,
                              Body=data[offset : offset + size])["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
        offset += size
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts})
    return data


@pytest.fixture
def keys(kms):
    old, new = new_key(kms, "rewrap-old"), new_key(kms, "rewrap-new")
    return old["Arn"], new["Arn"], new_alias(kms, new["KeyId"])


@pytest.fixture
def objects(s3, bucket, keys, target):
    """Objects under PREFIX (and one outside it) under the old key; their plaintexts."""
    old, _, _ = keys
    marker = Marker("rewrap")
    kms_args = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": old}
    written = {}
    written[PREFIX + "small.txt"] = marker.data(100 * 1024)
    s3.put_object(Bucket=bucket, Key=PREFIX + "small.txt", Body=written[PREFIX + "small.txt"],
                  ContentType="text/x-rewrap", Metadata={"owner": "team-a"}, **kms_args)
    written[PREFIX + "sse-s3.bin"] = marker.data(70_000)
    s3.put_object(Bucket=bucket, Key=PREFIX + "sse-s3.bin", Body=written[PREFIX + "sse-s3.bin"],
                  ServerSideEncryption="AES256")
    # Last part under 5 MiB: the manifest is merged into it. Last part of 5 MiB: a part of its own.
    written[PREFIX + "merged.bin"] = multipart(s3, bucket, PREFIX + "merged.bin", [5 * MiB + 12345, 1 * MiB],
                                               marker, Metadata={"kind": "merged"}, **kms_args)
    written[PREFIX + "separate.bin"] = multipart(s3, bucket, PREFIX + "separate.bin", [5 * MiB, 5 * MiB + 3],
                                                 marker, **kms_args)
    odd = PREFIX + "odd key ü+%/&=?.txt"
    written[odd] = b"a key that needs encoding in x-amz-copy-source"
    s3.put_object(Bucket=bucket, Key=odd, Body=written[odd], **kms_args)
    written["stay/outside.txt"] = b"outside the prefix"
    s3.put_object(Bucket=bucket, Key="stay/outside.txt", Body=written["stay/outside.txt"], **kms_args)
    s3.put_object_tagging(Bucket=bucket, Key=PREFIX + "merged.bin",
                          Tagging={"TagSet": [{"Key": "project", "Value": "apollo 11"}]})
    return written


def test_a_rewrap_changes_only_the_wrap(target, s3, kms, bucket, keys, objects, upstream, tmp_path):
    old, new, alias = keys
    before = {key: upstream.get(bucket, key) for key in objects}
    done = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias, "--verbose")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "5 rewrapped" in " ".join(done.stdout.split()), done.stdout
    assert not (tmp_path / "state.json").exists()
    for key, plaintext in objects.items():
        stored = upstream.get(bucket, key)
        assert stored.data == before[key].data, f"{key}: the stored bytes moved"
        if key.startswith(PREFIX):
            assert stored.metadata["s3kms-k"] == new, key
            assert sse_key(s3, bucket, key) == ("aws:kms", new), key
        else:
            assert stored.metadata == before[key].metadata, key
            assert sse_key(s3, bucket, key) == ("aws:kms", old), key
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == plaintext, key
    small = s3.head_object(Bucket=bucket, Key=PREFIX + "small.txt")
    assert (small["ContentType"], small["Metadata"]) == ("text/x-rewrap", {"owner": "team-a"})
    merged = s3.head_object(Bucket=bucket, Key=PREFIX + "merged.bin")
    assert merged["Metadata"] == {"kind": "merged"}
    assert merged["ContentLength"] == 6 * MiB + 12345
    assert merged["ETag"].strip('"').endswith("-2")
    assert s3.head_object(Bucket=bucket, Key=PREFIX + "separate.bin")["ETag"].strip('"').endswith("-3")
    tags = s3.get_object_tagging(Bucket=bucket, Key=PREFIX + "merged.bin")["TagSet"]
    assert tags == [{"Key": "project", "Value": "apollo 11"}]
    ranged = s3.get_object(Bucket=bucket, Key=PREFIX + "separate.bin", Range="bytes=5242000-5243000")
    assert ranged["Body"].read() == objects[PREFIX + "separate.bin"][5242000:5243001]

    # The old key no longer opens anything under the prefix: disabling it changes nothing there.
    kms.disable_key(KeyId=old)
    try:
        for key in objects:
            if key.startswith(PREFIX):
                assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == objects[key], key
        with pytest.raises(Exception) as outside:
            s3.get_object(Bucket=bucket, Key="stay/outside.txt")
        assert "KMS.DisabledException" in str(outside.value)
    finally:
        kms.enable_key(KeyId=old)

    # Every KMS use is audited: one Encrypt under the new key per object (and one Decrypt of
    # the old wrap per SSE-KMS object), invoked by S3 for the user.
    trail = subprocess.run(
        [str(require_s3kms_binary()), "audit", "--config", str(config_of(target)), "--key", new, "--event",
         "Encrypt", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    records = [json.loads(line) for line in trail]
    assert len(records) == 5, records
    assert all(record["userIdentity"].get("invokedBy") == "s3.amazonaws.com" for record in records), records
    assert {record["userIdentity"]["userName"] for record in records} == {"alice"}


def test_a_second_run_changes_nothing_until_the_key_rotates(target, s3, kms, bucket, keys, objects, upstream,
                                                              tmp_path):
    _, new, alias = keys
    arguments = ("--bucket", bucket, "--prefix", PREFIX, "--to-key", alias)
    assert rewrap(target, tmp_path, *arguments).returncode == 0
    etags = {key: upstream.get(bucket, key).etag for key in objects}
    again = rewrap(target, tmp_path, *arguments)
    assert again.returncode == 0, again.stderr
    assert "5 unchanged" in " ".join(again.stdout.split()), again.stdout
    assert {key: upstream.get(bucket, key).etag for key in objects} == etags

    kms.rotate_key_on_demand(KeyId=new)
    rotated = rewrap(target, tmp_path, *arguments)
    assert rotated.returncode == 0, rotated.stderr
    assert "5 rewrapped" in " ".join(rotated.stdout.split()), rotated.stdout
    for key, plaintext in objects.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == plaintext, key


def test_a_dry_run_writes_nothing(target, s3, bucket, keys, objects, upstream, tmp_path):
    _, _, alias = keys
    before = {key: upstream.get(bucket, key) for key in objects}
    dry = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "5 would be rewrapped" in " ".join(dry.stdout.split()), dry.stdout
    assert "dry run" in dry.stdout
    for key in objects:
        after = upstream.get(bucket, key)
        assert (after.data, after.metadata, after.etag) == (before[key].data, before[key].metadata, before[key].etag)
    assert not (tmp_path / "state.json").exists()


def test_a_checkpoint_resumes_and_a_foreign_one_is_refused(target, s3, bucket, keys, objects, tmp_path):
    old, new, alias = keys
    (tmp_path / "state.json").write_text(json.dumps({
        "bucket": bucket, "prefix": PREFIX, "to_key": new, "reencrypt": False, "after": PREFIX + "separate.bin",
        "done": 3,
    }))
    resumed = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after {PREFIX}separate.bin" in resumed.stdout
    # Only the object listed after the checkpoint moved.
    assert sse_key(s3, bucket, PREFIX + "small.txt") == ("aws:kms", new)
    assert sse_key(s3, bucket, PREFIX + "merged.bin") == ("aws:kms", old)

    (tmp_path / "state.json").write_text(json.dumps({
        "bucket": bucket, "prefix": "elsewhere/", "to_key": new, "reencrypt": False, "after": None, "done": 0,
    }))
    refused = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias)
    assert refused.returncode == 1
    assert "--restart" in refused.stderr
    restarted = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias, "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert sse_key(s3, bucket, PREFIX + "merged.bin") == ("aws:kms", new)


def test_a_denied_rewrap_fails_per_object_and_keeps_its_checkpoint(target, s3, kms, bucket, keys, objects,
                                                                    upstream, tmp_path):
    old, new, alias = keys
    bob = f"arn:aws:iam::{ACCOUNT_ID}:user/bob"
    kms.put_key_policy(KeyId=new, PolicyName="default", Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": bob}, "Action": "kms:Encrypt", "Resource": "*"},
        ],
    }))
    before = {key: upstream.get(bucket, key) for key in objects}
    denied = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias, user="bob")
    assert denied.returncode == 1, denied.stdout
    assert "AccessDenied: User: arn:aws:iam::" in denied.stdout, denied.stdout
    assert "kms:Encrypt" in denied.stdout
    assert (tmp_path / "state.json").exists()
    for key in objects:
        assert upstream.get(bucket, key).metadata == before[key].metadata, key
    completed = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias)
    assert completed.returncode == 0, completed.stdout
    assert not (tmp_path / "state.json").exists()
    assert all(sse_key(s3, bucket, key)[1] == new for key in objects if key.startswith(PREFIX))


def test_reencrypt_seals_plaintext_objects_and_renews_data_keys(target, s3, bucket, keys, objects, upstream,
                                                                 tmp_path):
    if target.kind != "seaweedfs":
        pytest.skip("objects written behind s3kms's back need direct access to the store (SeaweedFS)")
    old, new, alias = keys
    plaintext = Marker("legacy").data(200_000)
    upstream.client.put_object(Bucket=bucket, Key=PREFIX + "legacy.txt", Body=plaintext,
                               ContentType="text/legacy", Metadata={"source": "before-s3kms"})
    skipped = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped (not encrypted by s3kms: use --reencrypt)" in " ".join(skipped.stdout.split()), skipped.stdout
    assert upstream.get(bucket, PREFIX + "legacy.txt").data == plaintext

    outside_before = upstream.get(bucket, "stay/outside.txt")
    done = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", PREFIX, "--to-key", alias, "--reencrypt")
    assert done.returncode == 0, done.stdout + done.stderr
    # The five objects the first run rewrapped are already under the key: only the legacy one moves.
    flat = " ".join(done.stdout.split())
    assert "1 re-encrypted" in flat and "5 skipped (already under the key)" in flat, done.stdout
    legacy = upstream.get(bucket, PREFIX + "legacy.txt")
    assert legacy.data[:4] == MAGIC and Marker("legacy").leaks_into(legacy.data) == []
    assert legacy.metadata["s3kms-k"] == new and legacy.metadata["source"] == "before-s3kms"
    got = s3.get_object(Bucket=bucket, Key=PREFIX + "legacy.txt")
    assert got["Body"].read() == plaintext
    assert (got["ContentType"], got["SSEKMSKeyId"]) == ("text/legacy", new)

    # An object under another key gets a fresh data key: its stored bytes all change.
    another = rewrap(target, tmp_path, "--bucket", bucket, "--prefix", "stay/", "--to-key", alias, "--reencrypt")
    assert another.returncode == 0, another.stdout
    outside = upstream.get(bucket, "stay/outside.txt")
    assert (outside_before.metadata["s3kms-k"], outside.metadata["s3kms-k"]) == (old, new)
    assert outside.data[:4] == MAGIC and len(outside.data) == len(outside_before.data)
    assert outside.data[20:] != outside_before.data[20:], "a re-encrypted object kept its ciphertext"
    assert s3.get_object(Bucket=bucket, Key="stay/outside.txt")["Body"].read() == objects["stay/outside.txt"]
