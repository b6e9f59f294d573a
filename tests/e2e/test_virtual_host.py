"""Virtual-host-style addressing: with `domain` configured, `bucket.<domain>` names the bucket.

Clients that use virtual-host style need DNS for `*.<domain>`; here the requests go to
127.0.0.1 with the `Host` header set (and signed) as such a client would send it.
"""

from __future__ import annotations

import pytest

from conftest import ACCOUNT_ID, REGION, USERS, require_s3kms_binary
from servers import S3kms, ServerCredentials, s3kms_config_toml, S3_ONLY_POLICY
from sigv4_raw import RawS3

DOMAIN = "s3.example.test"

pytestmark = pytest.mark.proxy_only


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("virtual-host")
    config = f'domain = "{DOMAIN}"\n' + s3kms_config_toml(
        data_dir=workdir / "data",
        users=[ServerCredentials(name, c.access_key_id, c.secret_access_key, S3_ONLY_POLICY) for name, c in USERS.items()],
        account_id=ACCOUNT_ID,
        region=REGION,
        upstream=None,
    )
    (workdir / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), workdir / "s3kms.toml", workdir / "s3kms.stderr.log")
    instance.start()
    try:
        yield RawS3(instance.endpoint, USERS["alice"], REGION)
    finally:
        instance.stop()


def virtual(raw: RawS3, bucket: str) -> dict[str, str]:
    port = raw.host.rsplit(":", 1)[1]
    return {"host": f"{bucket}.{DOMAIN}:{port}"}


def test_virtual_host_and_path_style_name_the_same_object(proxy):
    bucket = "vhost-bucket"
    created = proxy.signed_request("PUT", "/", headers=virtual(proxy, bucket))
    assert created.status == 200, created.describe()

    put = proxy.signed_request("PUT", "/dir/key.txt", body=b"via virtual host", headers=virtual(proxy, bucket))
    assert put.status == 200, put.describe()

    by_path = proxy.signed_request("GET", f"/{bucket}/dir/key.txt")
    assert (by_path.status, by_path.body) == (200, b"via virtual host")
    by_host = proxy.signed_request("GET", "/dir/key.txt", headers=virtual(proxy, bucket))
    assert (by_host.status, by_host.body) == (200, b"via virtual host")

    listing = proxy.signed_request("GET", "/", query=[("list-type", "2")], headers=virtual(proxy, bucket))
    assert listing.status == 200 and b"<Key>dir/key.txt</Key>" in listing.body, listing.describe()


def test_hosts_outside_the_domain_stay_path_style(proxy):
    missing = proxy.signed_request("GET", "/no-such-bucket-here/key")
    assert missing.status == 404
    assert missing.error.code == "NoSuchBucket"
