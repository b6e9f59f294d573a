"""Smoke tests with two more real clients, s3cmd and rclone (both from the test venv)."""

import os

from s3_expect import assert_absent, assert_stored

MiB = 1024 * 1024


def test_s3cmd_smoke(s3cmd, s3, bucket, tmp_path):
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(3000))
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(11 * MiB))  # over --multipart-chunk-size-mb=5: multipart

    s3cmd.check("put", str(small), f"s3://{bucket}/small.bin")
    s3cmd.check("put", "--multipart-chunk-size-mb=5", str(large), f"s3://{bucket}/large.bin")

    listing = s3cmd.check("ls", f"s3://{bucket}/")
    assert f"s3://{bucket}/small.bin" in listing and f"s3://{bucket}/large.bin" in listing
    got = tmp_path / "got.bin"
    s3cmd.check("get", f"s3://{bucket}/large.bin", str(got))
    assert got.read_bytes() == large.read_bytes()
    assert_stored(s3, bucket, "small.bin", small.read_bytes())

    s3cmd.check("del", f"s3://{bucket}/small.bin")
    assert_absent(s3, bucket, "small.bin")


def test_s3cmd_bucket_lifecycle(s3cmd, s3):
    bucket = f"e2e-s3cmd-{os.urandom(4).hex()}"

    s3cmd.check("mb", f"s3://{bucket}")
    assert bucket in [entry["Name"] for entry in s3.list_buckets()["Buckets"]]
    s3cmd.check("rb", f"s3://{bucket}")

    assert bucket not in [entry["Name"] for entry in s3.list_buckets()["Buckets"]]


def test_rclone_smoke(rclone, s3, tmp_path):
    bucket = f"e2e-rclone-{os.urandom(4).hex()}"
    small = tmp_path / "small.bin"
    small.write_text(f"rclone line {os.urandom(8).hex()}\n" * 50)
    large = tmp_path / "large.bin"
    large.write_bytes(os.urandom(11 * MiB))

    rclone.check("mkdir", f"t:{bucket}")
    try:
        rclone.check("copyto", str(small), f"t:{bucket}/small.bin")
        rclone.check(
            "copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(large), f"t:{bucket}/dir/large.bin"
        )

        sizes = {line.split()[-1]: int(line.split()[0]) for line in rclone.check("ls", f"t:{bucket}").splitlines()}
        assert sizes == {"small.bin": small.stat().st_size, "dir/large.bin": 11 * MiB}
        assert rclone.check("cat", f"t:{bucket}/small.bin") == small.read_text()
        got = tmp_path / "got.bin"
        rclone.check("copyto", f"t:{bucket}/dir/large.bin", str(got))
        assert got.read_bytes() == large.read_bytes()
        assert_stored(s3, bucket, "small.bin", small.read_bytes())

        rclone.check("deletefile", f"t:{bucket}/small.bin")
        assert_absent(s3, bucket, "small.bin")
    finally:
        rclone.check("purge", f"t:{bucket}")
