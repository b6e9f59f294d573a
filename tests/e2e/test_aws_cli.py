"""The real aws CLI (v1, from the test venv) against the target."""

import hashlib
import json
import os

import pytest

from clients import fetch, query_names
from conftest import unique_bucket_name
from s3_expect import assert_absent, assert_stored

MiB = 1024 * 1024


def file_sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_bucket_and_object_lifecycle(target, aws_cli, tmp_path, request, big_payload):
    bucket = unique_bucket_name(request.node.name)
    upload = tmp_path / "upload.bin"
    upload.write_bytes(big_payload)  # 20 MiB: above the CLI's 8 MiB threshold, so multipart
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")

    aws_cli.check("s3", "mb", f"s3://{bucket}")
    try:
        aws_cli.check("s3", "cp", str(upload), f"s3://{bucket}/dir/big.bin")
        aws_cli.check("s3", "cp", str(empty), f"s3://{bucket}/empty.bin")

        listing = aws_cli.check("s3", "ls", "--recursive", f"s3://{bucket}")
        sizes = {line.split()[-1]: int(line.split()[-2]) for line in listing.splitlines() if line.strip()}
        assert sizes == {"dir/big.bin": len(big_payload), "empty.bin": 0}
        assert bucket in aws_cli.check("s3", "ls")

        head = json.loads(aws_cli.check("s3api", "head-object", "--bucket", bucket, "--key", "dir/big.bin"))
        assert head["ContentLength"] == len(big_payload)
        assert head["ETag"].strip('"').endswith("-3")  # 8 + 8 + 4 MiB parts

        downloaded = tmp_path / "downloaded.bin"
        aws_cli.check("s3", "cp", f"s3://{bucket}/dir/big.bin", str(downloaded))
        assert file_sha256(downloaded) == file_sha256(upload)
        downloaded_empty = tmp_path / "downloaded-empty.bin"
        aws_cli.check("s3", "cp", f"s3://{bucket}/empty.bin", str(downloaded_empty))
        assert downloaded_empty.read_bytes() == b""

        aws_cli.check("s3", "rm", f"s3://{bucket}/dir/big.bin")
        assert_absent(target.client(), bucket, "dir/big.bin")
        aws_cli.check("s3", "rm", f"s3://{bucket}/empty.bin")
    finally:
        aws_cli.run("s3", "rb", "--force", f"s3://{bucket}")
    assert bucket not in aws_cli.check("s3", "ls")


def test_cli_put_object_with_metadata(aws_cli, s3, bucket, tmp_path):
    body = tmp_path / "body.txt"
    body.write_bytes(b"metadata from the CLI\n")

    aws_cli.check(
        "s3api", "put-object", "--bucket", bucket, "--key", "meta.txt", "--body", str(body),
        "--content-type", "text/plain", "--metadata", "team=storage,purpose=e2e",
    )

    head = json.loads(aws_cli.check("s3api", "head-object", "--bucket", bucket, "--key", "meta.txt"))
    assert head["Metadata"] == {"team": "storage", "purpose": "e2e"}
    assert head["ContentType"] == "text/plain"
    assert_stored(s3, bucket, "meta.txt", b"metadata from the CLI\n")


def test_cli_presign_default_is_sigv2_and_works(aws_cli, s3, bucket):
    data = os.urandom(12345)
    s3.put_object(Bucket=bucket, Key="presigned", Body=data)

    url = aws_cli.check("s3", "presign", f"s3://{bucket}/presigned", "--expires-in", "300").strip()

    assert {"AWSAccessKeyId", "Signature", "Expires"} <= query_names(url), url
    response = fetch(url)
    assert response.status == 200, response.describe()
    assert response.body == data


def test_cli_presign_with_sigv4_config(target, s3, bucket, tmp_path):
    data = os.urandom(54321)
    s3.put_object(Bucket=bucket, Key="presigned-v4", Body=data)
    cli = target.aws_cli(tmp_path, presign_with_sigv4=True)

    url = cli.check("s3", "presign", f"s3://{bucket}/presigned-v4").strip()

    assert "X-Amz-Algorithm" in query_names(url), url
    response = fetch(url)
    assert response.status == 200, response.describe()
    assert response.body == data


@pytest.mark.proxy_only
def test_cli_with_a_wrong_secret_fails_and_stores_nothing(target, s3, bucket, tmp_path):
    cli = target.aws_cli(tmp_path)
    cli.credentials = type(cli.credentials)(cli.credentials.access_key_id, "definitely-not-the-secret-000")
    source = tmp_path / "f.txt"
    source.write_bytes(b"should not land")

    result = cli.run("s3", "cp", str(source), f"s3://{bucket}/f.txt")

    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr, result.stderr
    assert_absent(s3, bucket, "f.txt")
