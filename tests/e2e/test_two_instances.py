"""Two s3kms instances in front of one SeaweedFS, sharing the `s3` key store.

DESIGN §8: instances are stateless apart from caches; keys live in a bucket of the upstream.
So a key created on one instance must be usable on the other, a ciphertext made by one must
decrypt on the other, and concurrent updates of the same key through both must all survive
(conditional writes), not overwrite each other.
"""

from __future__ import annotations

import concurrent.futures
import json

import boto3
import pytest
from botocore.config import Config

from conftest import REGION, UPSTREAM_ADMIN, start_shared_store_instance
from servers import ALLOW_ALL_POLICY, S3kms, ServerCredentials

ADMIN = ServerCredentials("admin", "AKIATWOINSTANCES0001", "two-instances-secret-0123456789", ALLOW_ALL_POLICY)
KEY_STORE_BUCKET = "s3kms-shared-keystore"

pytestmark = pytest.mark.proxy_only


def start_instance(workdir, seaweedfs, root_key: str) -> S3kms:
    """An instance with its own data_dir and the store shared with the other."""
    return start_shared_store_instance(workdir, seaweedfs, root_key, [ADMIN], KEY_STORE_BUCKET)


def kms_client(instance: S3kms):
    return boto3.client(
        "kms",
        endpoint_url=instance.endpoint,
        region_name=REGION,
        aws_access_key_id=ADMIN.access_key_id,
        aws_secret_access_key=ADMIN.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def instances(seaweedfs, tmp_path_factory):
    root_key = "c2hhcmVkLXJvb3Qta2V5LWZvci10d28taW5zdGFuY2U=\n"  # base64 of 32 bytes
    first = start_instance(tmp_path_factory.mktemp("instance-a"), seaweedfs, root_key)
    second = start_instance(tmp_path_factory.mktemp("instance-b"), seaweedfs, root_key)
    try:
        yield kms_client(first), kms_client(second)
    finally:
        first.stop()
        second.stop()


def test_a_key_made_on_one_instance_works_on_the_other(instances):
    a, b = instances
    key_id = a.create_key(Description="shared")["KeyMetadata"]["KeyId"]
    a.create_alias(AliasName="alias/two-instances", TargetKeyId=key_id)

    assert b.describe_key(KeyId="alias/two-instances")["KeyMetadata"]["KeyId"] == key_id
    ciphertext = a.encrypt(KeyId=key_id, Plaintext=b"made on A", EncryptionContext={"k": "v"})["CiphertextBlob"]
    assert b.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"k": "v"})["Plaintext"] == b"made on A"

    b.disable_key(KeyId=key_id)
    with pytest.raises(a.exceptions.DisabledException):
        a.encrypt(KeyId=key_id, Plaintext=b"x")


def test_concurrent_updates_through_both_instances_all_survive(instances):
    a, b = instances
    key_id = a.create_key()["KeyMetadata"]["KeyId"]

    def tag(index: int) -> None:
        client = a if index % 2 == 0 else b
        client.tag_resource(KeyId=key_id, Tags=[{"TagKey": f"t{index}", "TagValue": str(index)}])

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(tag, range(16)))

    tags = {t["TagKey"]: t["TagValue"] for t in b.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags == {f"t{i}": str(i) for i in range(16)}


def test_records_in_the_upstream_hold_no_key_material_in_clear(instances, seaweedfs):
    a, _ = instances
    key_id = a.create_key()["KeyMetadata"]["KeyId"]
    s3 = boto3.client(
        "s3",
        endpoint_url=seaweedfs.endpoint,
        region_name=REGION,
        aws_access_key_id=UPSTREAM_ADMIN.access_key_id,
        aws_secret_access_key=UPSTREAM_ADMIN.secret_access_key,
    )
    record = json.loads(s3.get_object(Bucket=KEY_STORE_BUCKET, Key=f"kms/keys/{key_id}.json")["Body"].read())
    assert record["key_id"] == key_id
    sealed = record["versions"][0]["sealed_material"]
    assert len(sealed) > 60  # nonce + 32 sealed bytes + tag, base64: never the bare 32-byte key


def test_the_key_store_bucket_is_out_of_reach_through_s3(instances, seaweedfs):
    a, _ = instances
    key_id = a.create_key()["KeyMetadata"]["KeyId"]  # the store bucket holds at least one record
    endpoint = a.meta.endpoint_url
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ADMIN.access_key_id,
        aws_secret_access_key=ADMIN.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )
    for attempt in (
        lambda: s3.list_objects_v2(Bucket=KEY_STORE_BUCKET),
        lambda: s3.get_object(Bucket=KEY_STORE_BUCKET, Key="kms/principals.json"),
        lambda: s3.put_object(Bucket=KEY_STORE_BUCKET, Key="kms/principals.json", Body=b"{}"),
        lambda: s3.delete_bucket(Bucket=KEY_STORE_BUCKET),
    ):
        with pytest.raises(s3.exceptions.ClientError) as denied:
            attempt()
        assert denied.value.response["Error"]["Code"] in ("AccessDenied", "403"), denied.value.response
    assert KEY_STORE_BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # The refused writes changed nothing: the key still works and the principals record still
    # names this instance's user (a rewritten principals.json would make encrypt fail).
    ciphertext = a.encrypt(KeyId=key_id, Plaintext=b"still intact")["CiphertextBlob"]
    assert a.decrypt(CiphertextBlob=ciphertext)["Plaintext"] == b"still intact"
