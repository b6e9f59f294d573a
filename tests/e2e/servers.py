"""Child processes the end-to-end tests run: SeaweedFS (`weed mini`) and s3kms itself.

Each server binds 127.0.0.1 only, keeps its data in a per-session temp dir, logs to a file
that the tests print on failure, and is stopped by PID (SIGTERM, then SIGKILL after a grace
period) with its exit awaited, so that nothing outlives the test session.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
LISTENING_LINE = re.compile(r"^s3kms listening on (https?://127\.0\.0\.1:(\d+))$")


class ServerExitedEarly(RuntimeError):
    """A server process ended before it was ready (a port taken meanwhile, for one)."""


def log_tail(path: Path, lines: int = 120, since: int = 0) -> str:
    """The last `lines` lines of a log, from byte offset `since` on, without colours."""
    try:
        with path.open("rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    text = ANSI_ESCAPE.sub("", text)
    kept = [line if len(line) <= 400 else line[:400] + " …" for line in text.splitlines()[-lines:]]
    return "\n".join(kept) if kept else "(empty)"


def free_ports(count: int, *, with_grpc_offset: bool = False) -> list[int]:
    """`count` distinct ports that are free on 127.0.0.1 right now. With `with_grpc_offset`,
    port + 10000 is free as well (SeaweedFS puts each gRPC port there by default)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            held.append(probe)
            if with_grpc_offset:
                if port + 10000 > 65535:
                    continue
                partner = socket.socket()
                try:
                    partner.bind(("127.0.0.1", port + 10000))
                except OSError:
                    partner.close()
                    continue
                held.append(partner)
            ports.append(port)
        return ports
    finally:
        for sock in held:
            sock.close()


def stop_process(process: subprocess.Popen, grace: float) -> int:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL. Returns the exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# An identity policy that allows everything (the README's demo user has it).
ALLOW_ALL_POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
# Every S3 action and nothing of the KMS: what the shared suites' users get, so that KMS tests
# still see users whose KMS permissions come only from key policies and grants.
S3_ONLY_POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'


@dataclass
class ServerCredentials:
    name: str
    access_key_id: str
    secret_access_key: str
    # The user's identity policy (JSON), for s3kms users; None = no identity-based permissions.
    policy: str | None = None


@dataclass
class SeaweedFS:
    """`weed mini` with every port chosen here, extras disabled, and one S3 identity per
    entry of `identities`."""

    weed: Path
    workdir: Path
    identities: list[ServerCredentials]
    process: subprocess.Popen | None = None
    s3_port: int = 0
    # (certificate, key) PEM files: also serve S3 over HTTPS on `https_port`.
    tls: tuple[Path, Path] | None = None
    https_port: int = 0
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.workdir / "seaweedfs.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def https_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def start(self) -> None:
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3-identities.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": identity.name,
                            "credentials": [
                                {
                                    "accessKey": identity.access_key_id,
                                    "secretKey": identity.secret_access_key,
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                        for identity in self.identities
                    ]
                }
            )
        )
        s3, master, volume, filer, admin = free_ports(5, with_grpc_offset=True)
        self.s3_port = s3
        command = [
            str(self.weed),
            "mini",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={s3}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            f"-admin.port={admin}",
            f"-s3.config={config}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            # Like AWS: DeleteBucket on a non-empty bucket is 409 BucketNotEmpty.
            "-s3.allowDeleteBucketNotEmpty=false",
            # Like AWS: a PUT into a missing bucket is 404 NoSuchBucket, not an implicit create.
            "-s3.autoCreateBucket=false",
            # Every bucket takes volumes of its own; by default their number is the free disk space
            # divided by the volume size, so a fuller disk failed a long run with "No writable
            # volumes". Volumes are not preallocated: the cap costs no space.
            "-volume.max=1000",
        ]
        if self.tls is not None:
            (self.https_port,) = free_ports(1)
            certificate, key = self.tls
            command += [f"-s3.port.https={self.https_port}", f"-s3.cert.file={certificate}", f"-s3.key.file={key}"]
        with self.log_path.open("ab") as log:
            log.write(("$ " + " ".join(command) + "\n").encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                start_new_session=True,
            )

    def exited_early(self) -> str | None:
        if self.process is not None and self.process.poll() is not None:
            return f"weed exited with status {self.process.returncode}:\n{log_tail(self.log_path)}"
        return None

    def stop(self) -> None:
        # Graceful shutdown takes 2-5 s; waiting frees the ports before anything reuses them.
        if self.process is not None:
            stop_process(self.process, grace=20)


@dataclass
class S3kms:
    """The binary under test, started as `s3kms serve --config <file>`."""

    binary: Path
    config_path: Path
    log_path: Path
    process: subprocess.Popen | None = None
    endpoint: str = ""
    _drain: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self, *, ready_timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                [str(self.binary), "serve", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                env={**os.environ, "RUST_BACKTRACE": "1", "NO_COLOR": "1"},
                start_new_session=True,
            )
        finally:
            log.close()
        line = self._read_first_stdout_line(ready_timeout)
        match = LISTENING_LINE.match(line)
        if match is None:
            self.stop()
            raise RuntimeError(
                f"s3kms printed {line!r} on stdout, expected 's3kms listening on "
                f"http://127.0.0.1:<port>'\nstderr:\n{log_tail(self.log_path)}"
            )
        self.endpoint = match.group(1)
        # Anything printed after the listening line goes to the log, and the pipe never fills.
        self._drain = threading.Thread(target=self._drain_stdout, name="s3kms-stdout", daemon=True)
        self._drain.start()

    def _drain_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("ab") as log:
            for line in self.process.stdout:
                log.write(b"[stdout] " + line)
                log.flush()

    def _read_first_stdout_line(self, timeout: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        buffered = b""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while b"\n" not in buffered:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stop()
                    raise RuntimeError(
                        f"s3kms printed no listening line within {timeout:.0f} s\n"
                        f"stderr:\n{log_tail(self.log_path)}"
                    )
                if not selector.select(remaining):
                    continue
                piece = os.read(stdout.fileno(), 4096)
                if not piece:
                    status = self.process.wait(timeout=10)
                    raise RuntimeError(
                        f"s3kms exited with status {status} before it was ready; stdout "
                        f"{buffered!r}\nstderr:\n{log_tail(self.log_path)}"
                    )
                buffered += piece
        return buffered.split(b"\n", 1)[0].decode(errors="replace").rstrip("\r")

    def stop(self) -> int | None:
        if self.process is None:
            return None
        status = stop_process(self.process, grace=10)
        if self._drain is not None:
            self._drain.join(timeout=5)
        elif self.process.stdout is not None:
            self.process.stdout.close()
        return status


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid TOML basic string


def s3kms_config_toml(
    *,
    data_dir: Path,
    users: list[ServerCredentials],
    account_id: str,
    region: str,
    upstream: tuple[str, ServerCredentials] | None,
    listen: str = "127.0.0.1:0",
    plaintext_buckets: list[str] | None = None,
    allow_sse_kms_over_http: bool = True,
) -> str:
    lines = [
        f"listen = {toml_string(listen)}",
        f"data_dir = {toml_string(str(data_dir))}",
        f"account_id = {toml_string(account_id)}",
        f"region = {toml_string(region)}",
        "",
    ]
    if plaintext_buckets:
        lines.insert(-1, "plaintext_buckets = [" + ", ".join(toml_string(b) for b in plaintext_buckets) + "]")
    # The suites talk plain HTTP to s3kms; AWS (and s3kms by default) refuses SSE-KMS over it.
    lines.insert(-1, f"allow_sse_kms_over_http = {'true' if allow_sse_kms_over_http else 'false'}")
    for user in users:
        lines += [
            "[[users]]",
            f"name = {toml_string(user.name)}",
            f"access_key_id = {toml_string(user.access_key_id)}",
            f"secret_access_key = {toml_string(user.secret_access_key)}",
        ]
        if user.policy is not None:
            lines.append(f"policy = {toml_string(user.policy)}")
        lines.append("")
    if upstream is not None:
        endpoint, credentials = upstream
        lines += [
            "[upstream]",
            f"endpoint = {toml_string(endpoint)}",
            f"region = {toml_string(region)}",
            f"access_key_id = {toml_string(credentials.access_key_id)}",
            f"secret_access_key = {toml_string(credentials.secret_access_key)}",
            "",
        ]
    return "\n".join(lines)
