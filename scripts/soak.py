#!/usr/bin/env python3
"""Soak test: a release s3kms on its embedded store under a mixed S3 + KMS workload.

    .venv/bin/python scripts/soak.py --minutes 5

Starts target/release/s3kms (or $S3KMS_BIN) in a temp dir with three users (`admin` and
`writer` with an allow-all identity policy, `limited` with s3:* and no kms:*), creates 3
buckets (no default, AES256 default, aws:kms default under key 1) and 2 customer keys, then
runs `--workers` threads for `--minutes`. Each worker owns the prefix `w<N>/` in every bucket
and remembers key -> (sha256, size, seed, expected SSE) of what it wrote, so every GET (whole
or ranged), HEAD and LIST is checked exactly. Object bodies are a seeded PRNG stream, so a
ranged read is compared byte for byte against the regenerated slice.

Expected failures: `limited` reading an SSE-KMS object under a customer key must get
403 AccessDenied. Anything else that fails is an unexpected error; the script prints each
one and exits 1 if there was any (or a byte mismatch).
Every 5 s it samples the server's VmRSS and open fds from /proc.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

from clients import isolate_from_host_aws_config  # noqa: E402

isolate_from_host_aws_config()

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from servers import ALLOW_ALL_POLICY, S3_ONLY_POLICY, S3kms, ServerCredentials, s3kms_config_toml  # noqa: E402

REGION = "us-east-1"
ACCOUNT_ID = "111122223333"
KiB = 1024
MiB = 1024 * KiB
BUCKETS = ["soak-plain", "soak-aes", "soak-kms"]  # default: none / AES256 / aws:kms key 1
MAX_OBJECTS_PER_WORKER = 24

USERS = {
    "admin": ServerCredentials("admin", "AKIASOAKADMIN0000000", "soak-admin-secret-0123456789", ALLOW_ALL_POLICY),
    "writer": ServerCredentials("writer", "AKIASOAKWRITER000000", "soak-writer-secret-0123456789", ALLOW_ALL_POLICY),
    "limited": ServerCredentials("limited", "AKIASOAKLIMITED00000", "soak-limited-secret-0123456789", S3_ONLY_POLICY),
}


def client(service: str, endpoint: str, user: ServerCredentials):
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=user.access_key_id,
        aws_secret_access_key=user.secret_access_key,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        ),
    )


def body(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def describe(error: BaseException) -> str:
    if isinstance(error, ClientError):
        meta = error.response.get("ResponseMetadata", {})
        err = error.response.get("Error", {})
        return (
            f"HTTP {meta.get('HTTPStatusCode')} {err.get('Code')}: {err.get('Message')!r} "
            f"request-id={meta.get('RequestId') or meta.get('HTTPHeaders', {}).get('x-amz-request-id')}"
        )
    return f"{type(error).__name__}: {error}"


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: dict[str, int] = defaultdict(int)
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.mismatches = 0
        self.verified_reads = 0
        self.expected_denials = 0

    def record(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.ops[kind] += 1
            self.latency[kind].append(seconds)

    def error(self, text: str, mismatch: bool = False) -> None:
        with self.lock:
            self.errors.append(text)
            if mismatch:
                self.mismatches += 1
        print(f"[{time.strftime('%H:%M:%S')}] UNEXPECTED: {text}", flush=True)


class Mismatch(Exception):
    pass


class Worker(threading.Thread):
    def __init__(self, index: int, ctx: "Context", deadline: float) -> None:
        super().__init__(name=f"worker-{index}", daemon=True)
        self.index = index
        self.ctx = ctx
        self.deadline = deadline
        self.rng = random.Random(1000 + index)
        user = USERS["admin" if index % 2 == 0 else "writer"]
        self.s3 = client("s3", ctx.endpoint, user)
        self.kms = client("kms", ctx.endpoint, user)
        self.limited = client("s3", ctx.endpoint, USERS["limited"])
        # (bucket, key) -> (sha256 hex, size, seed, (sse, key arn or None))
        self.objects: dict[tuple[str, str], tuple[str, int, int, tuple[str, str | None]]] = {}
        self.counter = 0
        self.mpu_parts: dict[tuple[str, str], tuple[list[int], list[int]]] = {}

    # ---------------------------------------------------------------- helpers
    def new_key(self) -> str:
        self.counter += 1
        return f"w{self.index}/obj-{self.counter:06d}"

    def pick(self):
        return self.rng.choice(list(self.objects.items())) if self.objects else None

    def check_sse(self, response: dict, expected: tuple[str, str | None], what: str) -> None:
        sse, key_arn = expected
        if response.get("ServerSideEncryption") != sse or (key_arn and response.get("SSEKMSKeyId") != key_arn):
            raise Mismatch(
                f"{what}: SSE {response.get('ServerSideEncryption')!r}/{response.get('SSEKMSKeyId')!r}, "
                f"expected {sse!r}/{key_arn!r}"
            )

    def sse_choice(self, bucket: str) -> tuple[dict, tuple[str, str | None]]:
        mode = self.rng.choice(["sse-s3", "kms1", "kms2", "default"])
        k1, k2 = self.ctx.key_arns
        if mode == "sse-s3":
            return {"ServerSideEncryption": "AES256"}, ("AES256", None)
        if mode == "kms1":
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": k1}, ("aws:kms", k1)
        if mode == "kms2":
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.ctx.key_ids[1]}, ("aws:kms", k2)
        return {}, self.ctx.bucket_default[bucket]

    def size(self) -> int:
        # Mostly small, some up to 4 MiB.
        r = self.rng.random()
        if r < 0.5:
            return self.rng.randint(1 * KiB, 64 * KiB)
        if r < 0.85:
            return self.rng.randint(64 * KiB, 1 * MiB)
        return self.rng.randint(1 * MiB, 4 * MiB)

    # ---------------------------------------------------------------- operations
    def op_put(self) -> str:
        bucket = self.rng.choice(BUCKETS)
        key, size, seed = self.new_key(), self.size(), self.rng.getrandbits(63)
        data = body(seed, size)
        extra, expected = self.sse_choice(bucket)
        what = f"PutObject {bucket}/{key} size={size} {extra}"
        self._last = what
        response = self.s3.put_object(Bucket=bucket, Key=key, Body=data, **extra)
        self.check_sse(response, expected, what)
        self.objects[(bucket, key)] = (hashlib.sha256(data).hexdigest(), size, seed, expected)
        return "put"

    def op_get(self) -> str:
        chosen = self.pick()
        if chosen is None:
            return self.op_put()
        (bucket, key), (digest, size, _seed, expected) = chosen
        self._last = f"GetObject {bucket}/{key} size={size} sse={expected}"
        response = self.s3.get_object(Bucket=bucket, Key=key)
        data = response["Body"].read()
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            raise Mismatch(f"{self._last}: got {len(data)} bytes sha256 {hashlib.sha256(data).hexdigest()}, expected {digest}")
        self.check_sse(response, expected, self._last)
        with self.ctx.stats.lock:
            self.ctx.stats.verified_reads += 1
        return "get"

    def op_get_range(self) -> str:
        chosen = self.pick()
        if chosen is None:
            return self.op_put()
        (bucket, key), (_digest, size, seed, expected) = chosen
        if self.rng.random() < 0.2:
            length = self.rng.randint(1, size)
            spec, start, end = f"bytes=-{length}", size - length, size - 1
        else:
            start = self.rng.randrange(size)
            end = min(size - 1, start + self.rng.randint(0, 256 * KiB))
            spec = f"bytes={start}-{end}"
        self._last = f"GetObject {bucket}/{key} size={size} Range={spec} sse={expected}"
        response = self.s3.get_object(Bucket=bucket, Key=key, Range=spec)
        data = response["Body"].read()
        wanted = self.stored_bytes(bucket, key, seed, size)[start : end + 1]
        if data != wanted:
            raise Mismatch(f"{self._last}: got {len(data)} bytes, expected {len(wanted)}; content differs")
        if response.get("ContentRange") != f"bytes {start}-{end}/{size}":
            raise Mismatch(f"{self._last}: Content-Range {response.get('ContentRange')!r}")
        with self.ctx.stats.lock:
            self.ctx.stats.verified_reads += 1
        return "get_range"

    def op_head(self) -> str:
        chosen = self.pick()
        if chosen is None:
            return self.op_put()
        (bucket, key), (_digest, size, _seed, expected) = chosen
        self._last = f"HeadObject {bucket}/{key}"
        response = self.s3.head_object(Bucket=bucket, Key=key)
        if response["ContentLength"] != size:
            raise Mismatch(f"{self._last}: ContentLength {response['ContentLength']}, expected {size}")
        self.check_sse(response, expected, self._last)
        return "head"

    def op_list(self) -> str:
        bucket = self.rng.choice(BUCKETS)
        prefix = f"w{self.index}/"
        self._last = f"ListObjectsV2 {bucket} prefix={prefix}"
        seen: dict[str, int] = {}
        token = None
        while True:
            args = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 10}
            if token:
                args["ContinuationToken"] = token
            page = self.s3.list_objects_v2(**args)
            for item in page.get("Contents", []):
                seen[item["Key"]] = item["Size"]
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]
        wanted = {k: v[1] for (b, k), v in self.objects.items() if b == bucket}
        if seen != wanted:
            diff = {k: (seen.get(k), wanted.get(k)) for k in set(seen) | set(wanted) if seen.get(k) != wanted.get(k)}
            raise Mismatch(f"{self._last}: listed/expected sizes differ: {diff}")
        return "list"

    def op_multipart(self) -> str:
        bucket = self.rng.choice(BUCKETS)
        key = self.new_key()
        seeds = [self.rng.getrandbits(63) for _ in range(3)]
        sizes = [5 * MiB, 5 * MiB, self.rng.randint(1, 512 * KiB)]
        parts = [body(s, n) for s, n in zip(seeds, sizes)]
        extra, expected = self.sse_choice(bucket)
        self._last = f"MultipartUpload {bucket}/{key} sizes={sizes} {extra}"
        upload = self.s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
        self.check_sse(upload, expected, self._last + " (Create)")
        done = []
        for number, data in enumerate(parts, start=1):
            self._last = f"UploadPart {bucket}/{key} part={number} size={len(data)}"
            etag = self.s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=data)["ETag"]
            done.append({"PartNumber": number, "ETag": etag})
        self._last = f"CompleteMultipartUpload {bucket}/{key}"
        complete = self.s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
        )
        self.check_sse(complete, expected, self._last)
        whole = b"".join(parts)
        # No single seed (-1): ranged reads rebuild the bytes from the parts' seeds.
        self.mpu_parts[(bucket, key)] = (seeds, sizes)
        self.objects[(bucket, key)] = (hashlib.sha256(whole).hexdigest(), len(whole), -1, expected)
        return "multipart"

    def op_delete_objects(self) -> str:
        if len(self.objects) < 4:
            return self.op_put()
        count = self.rng.randint(1, min(8, len(self.objects)))
        victims = self.rng.sample(list(self.objects), count)
        by_bucket: dict[str, list[str]] = defaultdict(list)
        for bucket, key in victims:
            by_bucket[bucket].append(key)
        for bucket, keys in by_bucket.items():
            self._last = f"DeleteObjects {bucket} {keys}"
            response = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
            if response.get("Errors") or sorted(d["Key"] for d in response.get("Deleted", [])) != sorted(keys):
                raise Mismatch(f"{self._last}: response {response.get('Deleted')} errors {response.get('Errors')}")
            for key in keys:
                self.objects.pop((bucket, key), None)
                self.mpu_parts.pop((bucket, key), None)
        return "delete_objects"

    def op_kms(self) -> str:
        key_id = self.rng.choice(self.ctx.key_ids)
        kind = self.rng.choice(["kms_encrypt_decrypt", "kms_generate_data_key"])
        context = {"soak": f"w{self.index}"}
        if kind == "kms_encrypt_decrypt":
            plaintext = os.urandom(self.rng.randint(1, 4096))
            self._last = f"KMS Encrypt/Decrypt key={key_id} len={len(plaintext)}"
            blob = self.kms.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)["CiphertextBlob"]
            back = self.kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
            if back["Plaintext"] != plaintext:
                raise Mismatch(f"{self._last}: decrypted plaintext differs")
        else:
            self._last = f"KMS GenerateDataKey/Decrypt key={key_id}"
            dk = self.kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
            back = self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=context)
            if back["Plaintext"] != dk["Plaintext"] or len(dk["Plaintext"]) != 32:
                raise Mismatch(f"{self._last}: data key does not decrypt to its plaintext")
        return kind

    def op_denied(self) -> str:
        bucket, key = self.rng.choice(self.ctx.denied_objects)
        ranged = self.rng.random() < 0.5
        self._last = f"GetObject as limited {bucket}/{key}" + (" Range=bytes=0-99" if ranged else "")
        try:
            if ranged:
                self.limited.get_object(Bucket=bucket, Key=key, Range="bytes=0-99")["Body"].read()
            else:
                self.limited.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 403 and error.response.get("Error", {}).get("Code") == "AccessDenied":
                with self.ctx.stats.lock:
                    self.ctx.stats.expected_denials += 1
                return "denied_get"
            raise
        raise Mismatch(f"{self._last}: succeeded, expected 403 AccessDenied")

    # ---------------------------------------------------------------- loop
    def run(self) -> None:
        ops = [
            (self.op_put, 24),
            (self.op_get, 18),
            (self.op_get_range, 14),
            (self.op_head, 10),
            (self.op_list, 7),
            (self.op_multipart, 1),
            (self.op_delete_objects, 5),
            (self.op_kms, 14),
            (self.op_denied, 6),
        ]
        functions, weights = zip(*ops)
        stats = self.ctx.stats
        while time.monotonic() < self.deadline and not self.ctx.stop.is_set():
            operation = self.rng.choices(functions, weights)[0]
            if len(self.objects) > MAX_OBJECTS_PER_WORKER and operation in (self.op_put, self.op_multipart):
                operation = self.op_delete_objects
            self._last = operation.__name__
            started = time.monotonic()
            try:
                kind = operation()
            except Mismatch as error:
                stats.error(f"[w{self.index}] MISMATCH {error}", mismatch=True)
                continue
            except Exception as error:  # ClientError, botocore connection errors, ...
                stats.error(f"[w{self.index}] {self._last}: {describe(error)}")
                if not isinstance(error, ClientError):
                    traceback.print_exc()
                continue
            stats.record(kind, time.monotonic() - started)

    def stored_bytes(self, bucket: str, key: str, seed: int, size: int) -> bytes:
        """What (bucket, key) holds: one seeded stream, or a multipart object's parts."""
        if seed >= 0:
            return body(seed, size)
        seeds, sizes = self.mpu_parts[(bucket, key)]
        return b"".join(body(s, n) for s, n in zip(seeds, sizes))


class Context:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.stats = Stats()
        self.stop = threading.Event()
        self.key_ids: list[str] = []
        self.key_arns: list[str] = []
        self.bucket_default: dict[str, tuple[str, str | None]] = {}
        self.denied_objects: list[tuple[str, str]] = []


def sample(pid: int) -> tuple[int, int]:
    rss_kib = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kib = int(line.split()[1])
    return rss_kib, len(os.listdir(f"/proc/{pid}/fd"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))
    return ordered[index]


def setup(ctx: Context) -> None:
    s3 = client("s3", ctx.endpoint, USERS["admin"])
    kms = client("kms", ctx.endpoint, USERS["admin"])
    for n in range(2):
        meta = kms.create_key(Description=f"soak key {n + 1}")["KeyMetadata"]
        ctx.key_ids.append(meta["KeyId"])
        ctx.key_arns.append(meta["Arn"])
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_encryption(
        Bucket="soak-aes",
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    )
    s3.put_bucket_encryption(
        Bucket="soak-kms",
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ctx.key_arns[0]}}]
        },
    )
    ctx.bucket_default = {"soak-plain": ("AES256", None), "soak-aes": ("AES256", None), "soak-kms": ("aws:kms", ctx.key_arns[0])}
    # Objects `limited` must be refused (customer keys whose policies do not name it).
    for n, arn in enumerate(ctx.key_arns):
        bucket, key = BUCKETS[n], f"fixed/denied-{n}"
        s3.put_object(Bucket=bucket, Key=key, Body=os.urandom(300 * KiB), ServerSideEncryption="aws:kms", SSEKMSKeyId=arn)
        ctx.denied_objects.append((bucket, key))
    ctx.denied_objects.append(("soak-kms", "fixed/denied-default"))
    s3.put_object(Bucket="soak-kms", Key="fixed/denied-default", Body=os.urandom(10 * KiB))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--binary", default=os.environ.get("S3KMS_BIN", str(REPO_ROOT / "target" / "release" / "s3kms")))
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (data and log)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="s3kms-soak-"))
    config = workdir / "s3kms.toml"
    config.write_text(
        s3kms_config_toml(
            data_dir=workdir / "data", users=list(USERS.values()), account_id=ACCOUNT_ID, region=REGION, upstream=None
        )
    )
    server = S3kms(Path(args.binary), config, workdir / "s3kms.log")
    server.start()
    pid = server.process.pid
    print(f"s3kms {args.binary} pid {pid} at {server.endpoint}; workdir {workdir}", flush=True)
    ctx = Context(server.endpoint)
    samples: list[tuple[float, int, int]] = []
    exit_code = 1
    try:
        setup(ctx)
        t0 = time.monotonic()
        samples.append((0.0, *sample(pid)))
        deadline = t0 + args.minutes * 60
        workers = [Worker(i, ctx, deadline) for i in range(args.workers)]
        for worker in workers:
            worker.start()
        last_report = t0
        while any(w.is_alive() for w in workers):
            time.sleep(0.5)
            now = time.monotonic()
            if now - samples[-1][0] - t0 >= 5:
                if server.process.poll() is not None:
                    ctx.stats.error(f"s3kms exited with status {server.process.returncode}")
                    ctx.stop.set()
                    break
                samples.append((now - t0, *sample(pid)))
            if now - last_report >= 30:
                last_report = now
                with ctx.stats.lock:
                    total = sum(ctx.stats.ops.values())
                    errors = len(ctx.stats.errors)
                print(
                    f"[{now - t0:6.0f} s] ops={total} errors={errors} rss={samples[-1][1] / 1024:.1f} MiB fds={samples[-1][2]}",
                    flush=True,
                )
        for worker in workers:
            worker.join(timeout=180)
        elapsed = time.monotonic() - t0
        if server.process.poll() is None:
            samples.append((elapsed, *sample(pid)))
        exit_code = report(ctx.stats, samples, elapsed, args)
    finally:
        status = server.stop()
        print(f"s3kms stopped with status {status}; log {workdir / 's3kms.log'}")
        if not args.keep and exit_code == 0:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return exit_code


def report(stats: Stats, samples, elapsed: float, args) -> int:
    total = sum(stats.ops.values())
    print()
    print(f"=== soak: {args.workers} workers, {elapsed:.0f} s, {total} operations ({total / elapsed:.1f}/s) ===")
    print(f"{'kind':24} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for kind in sorted(stats.ops):
        lat = stats.latency[kind]
        print(
            f"{kind:24} {stats.ops[kind]:7d} {percentile(lat, 50) * 1000:8.1f} {percentile(lat, 95) * 1000:8.1f} "
            f"{percentile(lat, 99) * 1000:8.1f} {max(lat) * 1000:8.1f}"
        )
    print(f"verified reads (whole + ranged, byte-exact): {stats.verified_reads}")
    print(f"expected denials (403 AccessDenied): {stats.expected_denials}")
    print(f"byte/metadata mismatches: {stats.mismatches}")
    print(f"unexpected errors: {len(stats.errors)}")
    for text in stats.errors:
        print(f"  - {text}")
    rss = [s[1] for s in samples]
    fds = [s[2] for s in samples]
    print(f"samples: {len(samples)} (every 5 s)")
    print(f"RSS MiB  start {rss[0] / 1024:.1f}  max {max(rss) / 1024:.1f}  end {rss[-1] / 1024:.1f}")
    print(f"fds      start {fds[0]}  max {max(fds)}  end {fds[-1]}")
    quarter = max(1, len(samples) // 4)
    print(
        "RSS MiB by quarter (mean): "
        + ", ".join(
            f"{sum(r for _, r, _ in samples[i:i + quarter]) / len(samples[i:i + quarter]) / 1024:.1f}"
            for i in range(0, len(samples), quarter)
        )
    )
    return 1 if stats.errors or stats.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
