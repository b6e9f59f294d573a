"""The admin listener: /health, /ready and Prometheus /metrics on `admin_listen`."""

from __future__ import annotations

import os
import re

import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config

from conftest import ACCOUNT_ID, REGION, USERS, require_s3kms_binary
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, free_ports, s3kms_config_toml


pytestmark = pytest.mark.proxy_only


def start(workdir, upstream=None) -> tuple[S3kms, str]:
    (admin_port,) = free_ports(1)
    alice = USERS["alice"]
    user = ServerCredentials("alice", alice.access_key_id, alice.secret_access_key, ALLOW_ALL_POLICY)
    config = f'admin_listen = "127.0.0.1:{admin_port}"\n' + s3kms_config_toml(
        data_dir=workdir / "data", users=[user], account_id=ACCOUNT_ID, region=REGION, upstream=upstream
    )
    (workdir / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), workdir / "s3kms.toml", workdir / "s3kms.stderr.log")
    instance.start()
    return instance, f"http://127.0.0.1:{admin_port}"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_health_ready_and_metrics_count_what_was_served(tmp_path):
    instance, admin = start(tmp_path)
    try:
        alice = USERS["alice"]
        options = dict(endpoint_url=instance.endpoint, region_name=REGION, aws_access_key_id=alice.access_key_id,
                       aws_secret_access_key=alice.secret_access_key, config=Config(retries={"total_max_attempts": 1}))
        s3 = boto3.client("s3", **options)
        s3.create_bucket(Bucket="metrics-bucket")
        s3.put_object(Bucket="metrics-bucket", Key="k", Body=b"x")
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket="metrics-bucket", Key="missing")
        kms = boto3.client("kms", **options)
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        with pytest.raises(kms.exceptions.NotFoundException):
            kms.describe_key(KeyId="alias/nope")

        assert get(f"{admin}/health") == (200, "ok\n")
        assert get(f"{admin}/ready") == (200, "ready\n")
        status, metrics = get(f"{admin}/metrics")
        assert status == 200
        assert 's3kms_s3_requests_total{operation="PutObject",status="200"} 1' in metrics
        assert 's3kms_s3_requests_total{operation="GetObject",status="404"} 1' in metrics
        assert 's3kms_s3_request_duration_seconds_count{operation="PutObject"} 1' in metrics
        assert f's3kms_kms_operations_total{{operation="CreateKey",key="{key_id}",outcome="ok"}} 1' in metrics
        assert 's3kms_kms_operations_total{operation="DescribeKey",key="",outcome="NotFoundException"} 1' in metrics
        assert "s3kms_bytes_encrypted_total 1\n" in metrics and "s3kms_bytes_decrypted_total 0\n" in metrics

        # Bytes sealed and opened count plaintext; a multipart object's part table is cached.
        body = os.urandom(100_000)
        s3.put_object(Bucket="metrics-bucket", Key="whole", Body=body)
        assert s3.get_object(Bucket="metrics-bucket", Key="whole")["Body"].read() == body
        ranged = s3.get_object(Bucket="metrics-bucket", Key="whole", Range="bytes=70000-70999")["Body"].read()
        assert ranged == body[70000:71000]
        upload = s3.create_multipart_upload(Bucket="metrics-bucket", Key="parts")["UploadId"]
        etag = s3.upload_part(Bucket="metrics-bucket", Key="parts", UploadId=upload, PartNumber=1, Body=body)["ETag"]
        s3.complete_multipart_upload(Bucket="metrics-bucket", Key="parts", UploadId=upload,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        for _ in range(3):
            assert s3.get_object(Bucket="metrics-bucket", Key="parts")["Body"].read() == body
        metrics = get(f"{admin}/metrics")[1]
        assert "s3kms_bytes_encrypted_total 200001\n" in metrics, metrics
        assert "s3kms_bytes_decrypted_total 401000\n" in metrics, metrics
        assert 's3kms_cache_lookups_total{cache="multipart_layout",result="miss"} 1\n' in metrics, metrics
        # The first GET reads the manifest; the later ones (a GET may look more than once) do not.
        hits = re.search(r's3kms_cache_lookups_total\{cache="multipart_layout",result="hit"\} (\d+)', metrics)
        assert hits and int(hits.group(1)) >= 2, metrics
        assert get(f"{admin}/nope")[0] == 404
    finally:
        instance.stop()


def test_not_ready_while_the_upstream_is_down(tmp_path):
    (closed_port,) = free_ports(1)
    upstream = (f"http://127.0.0.1:{closed_port}", ServerCredentials("upstream", "AKIAUPSTREAM", "upstream-secret-0123"))
    instance, admin = start(tmp_path, upstream=upstream)
    try:
        assert get(f"{admin}/health") == (200, "ok\n")
        status, body = get(f"{admin}/ready")
        assert status == 503 and "upstream is unreachable" in body, body
        status, metrics = get(f"{admin}/metrics")
        assert status == 200 and "s3kms_upstream_errors_total 0" in metrics
    finally:
        instance.stop()
