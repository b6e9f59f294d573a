#!/usr/bin/env python3
"""s3kms from boto3: the S3 and KMS calls an application makes, against one endpoint.

    pip install boto3
    python examples/boto3_quickstart.py --endpoint http://127.0.0.1:7070 \
        --access-key AKIAS3KMSDEMO0000001 --secret-key s3kms-demo-secret-do-not-use-in-production

The credentials may also come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and the endpoint
from S3KMS_ENDPOINT). The user needs an identity policy that allows the S3 and KMS actions
below, as the demo user of config.toml has. The script creates a bucket and a KMS key each run
(both with a random suffix) and leaves them there for you to look at; it exits with status 1
if anything read back differs from what was written.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import urllib.request

import boto3
from botocore.config import Config


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("S3KMS_ENDPOINT", "http://127.0.0.1:7070"))
    parser.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    parser.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    arguments = parser.parse_args()
    if not arguments.access_key or not arguments.secret_key:
        parser.error("give --access-key and --secret-key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    return arguments


def check(condition: bool, what: str) -> None:
    """Print one line per step; stop with status 1 at the first mismatch."""
    if not condition:
        print(f"MISMATCH: {what}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def main() -> None:
    arguments = parse_arguments()
    # Only the endpoint changes compared with AWS. Path-style addressing, because a local
    # endpoint has no DNS for bucket.host; SigV4 everywhere, presigned URLs included
    # (botocore presigns with SigV2 against a custom endpoint otherwise).
    session = boto3.session.Session(
        aws_access_key_id=arguments.access_key,
        aws_secret_access_key=arguments.secret_key,
        region_name=arguments.region,
    )
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    s3 = session.client("s3", endpoint_url=arguments.endpoint, config=config)
    kms = session.client("kms", endpoint_url=arguments.endpoint, config=config)
    suffix = secrets.token_hex(4)

    # --- S3: a bucket, one object up and down -------------------------------------------
    bucket = f"quickstart-{suffix}"
    s3.create_bucket(Bucket=bucket)
    print(f"created bucket {bucket}")

    body = b"hello from the s3kms quickstart\n" + os.urandom(1024)
    s3.put_object(Bucket=bucket, Key="hello.bin", Body=body, ContentType="application/octet-stream")
    downloaded = s3.get_object(Bucket=bucket, Key="hello.bin")["Body"].read()
    check(downloaded == body, f"s3://{bucket}/hello.bin reads back the {len(body)} bytes written")

    # --- A presigned GET: anyone holding the URL may read the object for 5 minutes ------
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "hello.bin"}, ExpiresIn=300)
    check("X-Amz-Signature=" in url, "the presigned URL is signed with SigV4")
    # No proxy: the endpoint is usually local.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as response:
        check(response.read() == body, "the presigned URL, fetched with urllib, returns the object")

    # --- KMS: a key with an alias; encrypt and decrypt with an encryption context -------
    key = kms.create_key(Description="s3kms quickstart key")["KeyMetadata"]
    alias = f"alias/quickstart-{suffix}"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    print(f"created KMS key {key['KeyId']} ({alias})")

    # The encryption context is authenticated, not secret: Decrypt must present it again.
    context = {"app": "quickstart", "object": f"{bucket}/hello.bin"}
    secret = b"a small secret, at most 4096 bytes"
    ciphertext = kms.encrypt(KeyId=alias, Plaintext=secret, EncryptionContext=context)["CiphertextBlob"]
    check(secret not in ciphertext, f"Encrypt with {alias} returned a {len(ciphertext)}-byte ciphertext blob")
    # The blob names its key, so Decrypt needs no KeyId.
    decrypted = kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)
    check(decrypted["Plaintext"] == secret, "Decrypt with the same encryption context returns the plaintext")
    check(decrypted["KeyId"] == key["Arn"], "Decrypt names the key that encrypted")

    try:
        kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={**context, "app": "other"})
        check(False, "Decrypt with another encryption context is refused")
    except kms.exceptions.InvalidCiphertextException:
        check(True, "Decrypt with another encryption context is refused (InvalidCiphertextException)")

    print(f"done: bucket {bucket} and key {alias} are left for you to inspect")


if __name__ == "__main__":
    main()
