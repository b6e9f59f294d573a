"""Fixtures of the end-to-end suite.

`target` is what every S3 test talks to. By default it is s3kms (`target/debug/s3kms`, or
$S3KMS_BIN) started once per upstream kind:

* `embedded`  - s3kms with no [upstream] table, serving its embedded store;
* `seaweedfs` - s3kms in front of a real SeaweedFS (`weed mini`, one per session).

With S3KMS_E2E_DIRECT=1 the suite talks straight to SeaweedFS instead (`seaweedfs-direct`),
to check the test clients themselves; tests marked `proxy_only` are skipped then.
S3KMS_E2E_TARGETS=embedded (comma-separated) narrows the kinds for a quicker local run.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

# Plain `assert` in the helper modules reports values, as in the tests themselves.
pytest.register_assert_rewrite("s3_expect", "clients")

from clients import AwsCli, Rclone, S3cmd, boto3_client, explain, require_request_id, tool
from servers import S3kms, SeaweedFS, ServerCredentials, ServerExitedEarly, log_tail, s3kms_config_toml, S3_ONLY_POLICY, toml_string
from sigv4_raw import Credentials, RawS3

import leak_scan

REPO_ROOT = Path(__file__).resolve().parents[2]
DIRECT = os.environ.get("S3KMS_E2E_DIRECT") == "1"
REGION = "us-east-1"
ACCOUNT_ID = "111122223333"
MiB = 1024 * 1024

USERS = {
    "alice": Credentials("AKIAALICE0000000000", "alice-secret-key-0123456789"),
    "bob": Credentials("AKIABOB00000000000000", "bob-secret-key-0123456789"),
}
# The identity s3kms uses towards SeaweedFS. In proxy mode SeaweedFS knows only this one,
# so a request that s3kms forwarded without re-signing it fails loudly.
UPSTREAM_ADMIN = Credentials("seaweed-upstream-admin", "seaweed-upstream-secret-0123456789")
# Logs of the servers running now (s3kms, SeaweedFS), for the failure report.
LIVE_LOGS: set[Path] = set()


def s3kms_binary() -> Path:
    return Path(os.environ.get("S3KMS_BIN", REPO_ROOT / "target" / "debug" / "s3kms"))


# Features an upstream store itself lacks, per target kind: test name -> reason. These
# tests still run, as xfail(strict=True): once s3kms answers them itself, they pass,
# pytest reports XPASS(strict) as a failure, and the line must go. Only a gap of the store
# belongs here, never a proxy bug. (The embedded store, src/upstream/embedded, has none now.)
UPSTREAM_GAPS: dict[str, dict[str, str]] = {
    "embedded": {},
}


def target_kinds() -> list[str]:
    chosen = os.environ.get("S3KMS_E2E_TARGETS")
    if chosen:
        return [kind.strip() for kind in chosen.split(",") if kind.strip()]
    return ["seaweedfs-direct"] if DIRECT else ["embedded", "seaweedfs"]


def pytest_configure(config: pytest.Config) -> None:
    # In-process boto3 must see neither the machine's AWS_* settings (AWS_CA_BUNDLE is set
    # here) nor a developer's ~/.aws: clients get everything explicitly.
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def skip_proxy_only_in_direct_mode(item: pytest.Item) -> None:
    if DIRECT and item.get_closest_marker("proxy_only") is not None:
        pytest.skip("checks s3kms itself; S3KMS_E2E_DIRECT=1 talks to SeaweedFS directly")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        kind = callspec.params.get("target") if callspec else None
        reason = UPSTREAM_GAPS.get(kind, {}).get(getattr(item, "originalname", item.name))
        if reason:
            item.add_marker(pytest.mark.xfail(reason=f"upstream gap: {reason}", strict=True))


LOG_OFFSETS = pytest.StashKey[dict[Path, int]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember how long each server log was when the test started, so that a failure
    shows only the lines the test caused."""
    skip_proxy_only_in_direct_mode(item)
    item.stash[LOG_OFFSETS] = {path: path.stat().st_size for path in LIVE_LOGS if path.exists()}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.failed:
        target = getattr(item, "funcargs", {}).get("target")
        if isinstance(target, Target):
            offsets = item.stash.get(LOG_OFFSETS, {})
            for name, path in target.logs.items():
                report.sections.append(
                    (f"{name} log during this test ({path})", log_tail(path, since=offsets.get(path, 0)))
                )
    return report


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


@dataclass
class Target:
    """An S3 endpoint under test and the users it knows."""

    kind: str
    endpoint: str
    through_proxy: bool
    logs: dict[str, Path] = field(default_factory=dict)
    region: str = REGION
    users: dict[str, Credentials] = field(default_factory=lambda: dict(USERS))

    def client(self, user: str = "alice", **options):
        """boto3 as a configured user; every response must carry x-amz-request-id."""
        return self.client_with(self.users[user], **options)

    def client_with(self, credentials: Credentials, **options):
        client = boto3_client(self.endpoint, credentials, region=self.region, **options)
        client.meta.events.register("after-call.s3", require_request_id)
        return client

    def raw(self, user: str = "alice", credentials: Credentials | None = None) -> RawS3:
        return RawS3(self.endpoint, credentials or self.users[user], self.region)

    def aws_cli(self, workdir: Path, user: str = "alice", *, presign_with_sigv4: bool = False) -> AwsCli:
        return AwsCli(self.endpoint, self.users[user], workdir, self.region, presign_with_sigv4)


def wait_for_first_write(server: SeaweedFS, timeout: float = 30.0) -> None:
    """SeaweedFS answers before its volume servers take writes: retry a real PUT."""
    client = boto3_client(server.endpoint, UPSTREAM_ADMIN)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        failure = server.exited_early()
        if failure:
            raise ServerExitedEarly(failure)
        try:
            client.create_bucket(Bucket="e2e-readiness-probe")
            client.put_object(Bucket="e2e-readiness-probe", Key="probe", Body=b"ready")
            client.delete_object(Bucket="e2e-readiness-probe", Key="probe")
            client.delete_bucket(Bucket="e2e-readiness-probe")
            return
        except Exception as error:  # ClientError, or one of botocore's connection errors
            last_error = error
            time.sleep(0.2)
    raise RuntimeError(
        f"SeaweedFS took no write within {timeout:.0f} s: {last_error!r}\n{log_tail(server.log_path)}"
    )


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory):
    identities = [ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)]
    if DIRECT:
        identities += [
            ServerCredentials(name, creds.access_key_id, creds.secret_access_key) for name, creds in USERS.items()
        ]
    # Ports are picked free but released before weed binds them; if another process takes
    # one meanwhile, weed exits at once and a second try picks new ports.
    for attempt in (1, 2):
        server = SeaweedFS(Path(tool("weed")), tmp_path_factory.mktemp("seaweedfs"), identities)
        server.start()
        try:
            wait_for_first_write(server)
            break
        except ServerExitedEarly:
            server.stop()
            if attempt == 2:
                raise
        except BaseException:
            server.stop()
            raise
    LIVE_LOGS.add(server.log_path)
    try:
        yield server
    finally:
        server.stop()
        LIVE_LOGS.discard(server.log_path)


def require_s3kms_binary() -> Path:
    """The binary under test; its absence fails the tests (it never skips them)."""
    binary = s3kms_binary()
    if not binary.exists():
        pytest.fail(
            f"{binary} does not exist: build it with `cargo build` (scripts/test does), "
            "or set S3KMS_BIN, or run with S3KMS_E2E_DIRECT=1 to test the clients against SeaweedFS",
            pytrace=False,
        )
    return binary


def start_s3kms(workdir: Path, upstream: SeaweedFS | None) -> S3kms:
    binary = require_s3kms_binary()
    config_path = workdir / "s3kms.toml"
    config_path.write_text(
        s3kms_config_toml(
            data_dir=workdir / "data",
            users=[ServerCredentials(name, c.access_key_id, c.secret_access_key, S3_ONLY_POLICY) for name, c in USERS.items()],
            account_id=ACCOUNT_ID,
            region=REGION,
            upstream=None if upstream is None else (upstream.endpoint, ServerCredentials(
                "upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)),
        )
    )
    process = S3kms(binary, config_path, workdir / "s3kms.stderr.log")
    process.start()
    return process


@pytest.fixture(scope="session", params=target_kinds())
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    kind = request.param
    if kind == "seaweedfs-direct":
        server = request.getfixturevalue("seaweedfs")
        yield Target(kind, server.endpoint, through_proxy=False, logs={"seaweedfs": server.log_path})
        return
    if kind not in ("embedded", "seaweedfs"):
        raise ValueError(f"unknown target kind {kind!r} in S3KMS_E2E_TARGETS")
    require_s3kms_binary()
    upstream = request.getfixturevalue("seaweedfs") if kind == "seaweedfs" else None
    process = start_s3kms(tmp_path_factory.mktemp(f"s3kms-{kind}"), upstream)
    LIVE_LOGS.add(process.log_path)
    logs = {"s3kms stderr": process.log_path}
    if upstream is not None:
        logs["seaweedfs"] = upstream.log_path
    try:
        yield Target(kind, process.endpoint, through_proxy=True, logs=logs)
    finally:
        process.stop()
        LIVE_LOGS.discard(process.log_path)


# --------------------------------------------------------------------------------------
# Per-test helpers
# --------------------------------------------------------------------------------------


@pytest.fixture
def s3(target: Target):
    """boto3 as alice."""
    return target.client("alice")


def unique_bucket_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:40].strip("-")
    return f"e2e-{slug}-{secrets.token_hex(4)}"


def empty_and_delete_bucket(client, bucket: str) -> None:
    """Best effort: the bucket may already be gone, or the test may have broken it."""
    try:
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    except ClientError:
        pass
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        client.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


@pytest.fixture
def make_bucket(request: pytest.FixtureRequest, s3):
    """Create more buckets with unique names, all deleted at the end of the test."""
    created: list[str] = []

    def make() -> str:
        name = unique_bucket_name(request.node.name)
        s3.create_bucket(Bucket=name)
        created.append(name)
        return name

    yield make
    for name in created:
        empty_and_delete_bucket(s3, name)


@pytest.fixture
def bucket(make_bucket) -> str:
    """A fresh, empty bucket owned by alice."""
    return make_bucket()


@pytest.fixture(scope="session")
def big_payload() -> bytes:
    """About 20 MiB of random bytes, not a multiple of any part or chunk size."""
    return os.urandom(20 * MiB + 12345)


SDK_EXAMPLE = REPO_ROOT / "examples" / "aws-sdk-rust"
# Long enough for a first build of the AWS SDK for Rust (about 2 minutes on an idle 2-core
# machine) when the tests run without scripts/test, which builds it before pytest.
SDK_EXAMPLE_BUILD_TIMEOUT = 1200


@pytest.fixture(scope="session")
def aws_sdk_rust_example() -> Path:
    """examples/aws-sdk-rust, built once per session (`cargo build --locked`, debug) into the
    checkout's target/ where scripts/test already built it: then this is a no-op."""
    result = subprocess.run(
        ["cargo", "build", "--locked", "--quiet", "--manifest-path", str(SDK_EXAMPLE / "Cargo.toml")],
        env={**os.environ, "CARGO_TARGET_DIR": str(REPO_ROOT / "target")},
        cwd=SDK_EXAMPLE,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SDK_EXAMPLE_BUILD_TIMEOUT,
    )
    if result.returncode != 0:
        pytest.fail(f"building examples/aws-sdk-rust failed:\n{explain(result)}", pytrace=False)
    return REPO_ROOT / "target" / "debug" / "s3kms-aws-sdk-rust-example"


@pytest.fixture
def aws_cli(target: Target, tmp_path: Path) -> AwsCli:
    return target.aws_cli(tmp_path)


@pytest.fixture
def s3cmd(target: Target, tmp_path: Path) -> S3cmd:
    return S3cmd(target.endpoint, target.users["alice"], tmp_path, target.region)


@pytest.fixture
def rclone(target: Target, tmp_path: Path) -> Rclone:
    return Rclone(target.endpoint, target.users["alice"], tmp_path, target.region)


# ------------------------------------------------------------------ no secret in any log

leak_scan.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the whole run: no secret access key, root key, KMS plaintext (data keys, Decrypt
    results) or recognisable object plaintext may appear in any s3kms log or audit trail the
    run produced (`leak_scan`). A hit fails the run, naming the file and the kind of secret;
    the secret itself is not printed."""
    base = session.config._tmp_path_factory.getbasetemp() if hasattr(session.config, "_tmp_path_factory") else None
    if base is None or not Path(base).exists():
        return
    leaks, looked_for = leak_scan.scan(Path(base))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for message in leaks:
        reporter.write_line(message, red=True) if reporter else print(message)
    if leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter:
        reporter.write_line(f"leak scan: {looked_for} secrets looked for in every log and audit trail, none found")


def start_shared_store_instance(
    workdir: Path, seaweedfs, root_key: str, users: list[ServerCredentials], key_store_bucket: str
) -> S3kms:
    """An s3kms in front of `seaweedfs` with its own data_dir, the root key from a file, and the
    `s3` key store in `key_store_bucket`: start two with the same root key and bucket to get two
    instances that share everything (DESIGN §8)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "root.key").write_text(root_key)
    upstream_credentials = ServerCredentials("upstream", UPSTREAM_ADMIN.access_key_id, UPSTREAM_ADMIN.secret_access_key)
    config = "\n".join([
        # Top-level keys first: TOML puts everything after a table header into that table.
        f"root_key_file = {toml_string(str(workdir / 'root.key'))}",
        s3kms_config_toml(
            data_dir=workdir / "data",
            users=users,
            account_id=ACCOUNT_ID,
            region=REGION,
            upstream=(seaweedfs.endpoint, upstream_credentials),
        ),
        "[key_store]",
        'type = "s3"',
        f"bucket = {toml_string(key_store_bucket)}",
        'prefix = "kms/"',
        "",
    ])
    (workdir / "s3kms.toml").write_text(config)
    instance = S3kms(require_s3kms_binary(), workdir / "s3kms.toml", workdir / "s3kms.stderr.log")
    instance.start()
    LIVE_LOGS.add(instance.log_path)
    return instance
