"""Objects s3kms did not write: refused, unless their bucket allows plaintext passthrough.

An object put straight into the upstream (SeaweedFS) has no s3kms envelope. Through s3kms a GET
or HEAD of it is `403 InvalidObjectState` — never its bytes passed off as decrypted — except in
a bucket listed in `plaintext_buckets`, where it is served as stored. Objects written through
s3kms in that bucket are still encrypted and decrypted as usual.
"""

import pytest

from clients import boto3_client
from conftest import ACCOUNT_ID, LIVE_LOGS, REGION, UPSTREAM_ADMIN, require_s3kms_binary, unique_bucket_name
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials, s3kms_config_toml
from sigv4_raw import Credentials
from sse_support import assert_error

PLAIN = b"written before s3kms existed " * 100


@pytest.fixture(scope="module")
def setup(seaweedfs, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sse-plaintext")
    legacy, strict = unique_bucket_name("legacy"), unique_bucket_name("strict")
    direct = boto3_client(seaweedfs.endpoint, UPSTREAM_ADMIN)
    for bucket in (legacy, strict):
        direct.create_bucket(Bucket=bucket)
        direct.put_object(Bucket=bucket, Key="old.txt", Body=PLAIN)
    admin = ServerCredentials("admin", "AKIAPLAINTEXT000001", "plaintext-secret-0123456789abcdef", ALLOW_ALL_POLICY)
    config = workdir / "s3kms.toml"
    upstream = ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)
    config.write_text(
        s3kms_config_toml(
            data_dir=workdir / "data",
            users=[admin],
            account_id=ACCOUNT_ID,
            region=REGION,
            upstream=(seaweedfs.endpoint, upstream),
            plaintext_buckets=[legacy],
        )
    )
    process = S3kms(require_s3kms_binary(), config, workdir / "s3kms.stderr.log")
    process.start()
    LIVE_LOGS.add(process.log_path)
    try:
        client = boto3_client(process.endpoint, Credentials(admin.access_key_id, admin.secret_access_key), region=REGION)
        yield client, direct, legacy, strict
    finally:
        process.stop()
        LIVE_LOGS.discard(process.log_path)


def test_a_foreign_object_is_refused_in_an_ordinary_bucket(setup):
    client, _, _, strict = setup
    error = assert_error(lambda: client.get_object(Bucket=strict, Key="old.txt"), 403, "InvalidObjectState")
    assert b"written before" not in str(error.response).encode()
    assert_error(lambda: client.head_object(Bucket=strict, Key="old.txt"), 403, "403")


def test_a_plaintext_bucket_serves_foreign_objects_as_stored(setup):
    client, _, legacy, _ = setup
    assert client.get_object(Bucket=legacy, Key="old.txt")["Body"].read() == PLAIN
    ranged = client.get_object(Bucket=legacy, Key="old.txt", Range="bytes=5-20")["Body"].read()
    assert ranged == PLAIN[5:21]
    assert client.head_object(Bucket=legacy, Key="old.txt")["ContentLength"] == len(PLAIN)


def test_new_writes_in_a_plaintext_bucket_are_still_encrypted(setup):
    client, direct, legacy, _ = setup
    client.put_object(Bucket=legacy, Key="new.txt", Body=PLAIN)
    assert client.get_object(Bucket=legacy, Key="new.txt")["Body"].read() == PLAIN
    stored = direct.get_object(Bucket=legacy, Key="new.txt")["Body"].read()
    assert stored.startswith(b"S3KM") and b"written before" not in stored
