#!/usr/bin/env python3
"""How long `s3kms rewrap` takes, re-wrapping versus re-encrypting, on a release s3kms.

    .venv/bin/python scripts/rewrap_bench.py [--small 200] [--large-mib 1024] [--seaweedfs]

Starts target/release/s3kms (or $S3KMS_BIN) on its embedded store (or in front of a SeaweedFS
of its own with `--seaweedfs`, so that s3kms's CPU time is its own) in a temp dir, writes
`--small` objects of 1 MiB and one multipart object of `--large-mib` MiB (64 MiB parts) under
key A, then times, on the same objects:
1. `rewrap --to-key B` (data keys re-wrapped, bytes copied by the store itself),
2. the same again (nothing to do: every object is already under B),
3. `rewrap --to-key C --reencrypt` (fresh data keys: every byte through s3kms),
and prints objects, bytes, wall time and s3kms's CPU time for each, and checks a few objects
read back byte for byte. Figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
from clients import isolate_from_host_aws_config  # noqa: E402

isolate_from_host_aws_config()

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml  # noqa: E402

MiB = 1024 * 1024
ADMIN = ServerCredentials("admin", "AKIAREWRAPBENCH00001", "rewrap-bench-secret-0123456789", ALLOW_ALL_POLICY)


def client(service: str, endpoint: str):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=ADMIN.access_key_id,
        aws_secret_access_key=ADMIN.secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, read_timeout=600),
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large-mib", type=int, default=1024)
    parser.add_argument("--seaweedfs", action="store_true", help="in front of SeaweedFS, not the embedded store")
    parser.add_argument("--binary", default=os.environ.get("S3KMS_BIN", str(REPO_ROOT / "target" / "release" / "s3kms")))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="s3kms-rewrap-bench-"))
    store, upstream = None, None
    if args.seaweedfs:
        from clients import tool
        from conftest import UPSTREAM_ADMIN, wait_for_first_write
        from servers import SeaweedFS

        identity = ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)
        store = SeaweedFS(Path(tool("weed")), workdir / "seaweedfs", [identity])
        (workdir / "seaweedfs").mkdir()
        store.start()
        wait_for_first_write(store)
        upstream = (store.endpoint, identity)
    config = workdir / "s3kms.toml"
    config.write_text(s3kms_config_toml(data_dir=workdir / "data", users=[ADMIN], account_id="111122223333",
                                        region="us-east-1", upstream=upstream, allow_sse_kms_over_http=True))
    server = S3kms(Path(args.binary), config, workdir / "s3kms.log")
    server.start()
    try:
        s3, kms = client("s3", server.endpoint), client("kms", server.endpoint)
        keys = [kms.create_key(Description=f"bench {name}")["KeyMetadata"]["Arn"] for name in "ABC"]
        s3.create_bucket(Bucket="bench")
        sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": keys[0]}
        small = os.urandom(MiB)
        for index in range(args.small):
            s3.put_object(Bucket="bench", Key=f"small/{index:05}", Body=small, **sse)
        large = workdir / "large.bin"
        with large.open("wb") as out:
            for _ in range(args.large_mib):
                out.write(os.urandom(MiB))
        transfer = TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB, max_concurrency=4)
        s3.upload_file(str(large), "bench", "large.bin", ExtraArgs=sse, Config=transfer)
        total_bytes = args.small * MiB + args.large_mib * MiB
        where = "SeaweedFS" if args.seaweedfs else "the embedded store (its CPU counts as s3kms's)"
        print(f"{args.small} objects of 1 MiB and one of {args.large_mib} MiB (64 MiB parts): "
              f"{total_bytes / MiB:.0f} MiB under key A, in front of {where}")
        print(f"{'run':44} {'wall s':>8} {'s3kms CPU s':>12} {'objects/s':>10}")
        runs = [
            ("rewrap onto B", ["--to-key", keys[1]]),
            ("rewrap onto B again (nothing to do)", ["--to-key", keys[1]]),
            ("re-encrypt onto C (every byte through s3kms)", ["--to-key", keys[2], "--reencrypt"]),
        ]
        for label, extra in runs:
            cpu = cpu_seconds(server.process.pid)
            started = time.monotonic()
            done = subprocess.run(
                [args.binary, "rewrap", "--config", str(config), "--endpoint", server.endpoint, "--bucket", "bench",
                 "--state", str(workdir / "state.json"), "--jobs", "4", *extra],
                capture_output=True, text=True,
            )
            wall = time.monotonic() - started
            cpu = cpu_seconds(server.process.pid) - cpu
            if done.returncode != 0:
                print(done.stdout, done.stderr)
                return 1
            objects = args.small + 1
            print(f"{label:44} {wall:8.2f} {cpu:12.2f} {objects / wall:10.1f}")
            print("    " + " | ".join(line.strip() for line in done.stdout.splitlines()[1:] if line.strip()))
        got = hashlib.sha256(s3.get_object(Bucket="bench", Key="large.bin")["Body"].read()).hexdigest()
        assert got == hashlib.sha256(large.read_bytes()).hexdigest(), "the large object changed"
        assert s3.get_object(Bucket="bench", Key="small/00000")["Body"].read() == small
        assert s3.head_object(Bucket="bench", Key="large.bin")["SSEKMSKeyId"] == keys[2]
        print("read back: the large object and a small one are byte for byte what was written, under key C")
        return 0
    finally:
        server.stop()
        if store is not None:
            store.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
