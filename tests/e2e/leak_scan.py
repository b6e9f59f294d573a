"""The whole-run check that nothing secret reached a log or an audit trail.

While the suite runs, every boto3 call is watched (a wrapper around botocore's
`_make_api_call`): the plaintexts the KMS hands out (data keys from GenerateDataKey, the
results of Decrypt and GenerateRandom) and the plaintexts clients give it to encrypt are
remembered. After the run, `scan` reads every s3kms log and every audit trail (`*.jsonl`) under
the run's temporary directory and looks for:
* the secret access keys any s3kms config of the run declared (users' and the upstream's);
* every root key file (`root.key`) of the run;
* those KMS plaintexts, as raw text and in base64 and hex (the forms JSON and logs would use);
* the marker of the suites' recognisable object plaintexts (`sse_support.Marker`).
A hit names the file and the kind of secret, never the secret.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import botocore.client

SECRET_PATTERN = re.compile(r"secret_access_key\s*=\s*(?:'''|\"\"\"|\"|')([^\"'\n]{8,})")
# Every `Marker` plaintext of the SSE suites contains this.
MARKER = b" secret plaintext "
# Shorter plaintexts are too likely to occur by chance ("hello", a digit run).
MIN_PLAINTEXT = 12
KMS_PLAINTEXT_OUTPUTS = {"GenerateDataKey", "Decrypt", "GenerateRandom", "ReEncrypt"}

_kms_plaintexts: set[bytes] = set()


def _remember(value) -> None:
    if isinstance(value, (bytes, bytearray)) and len(value) >= MIN_PLAINTEXT:
        _kms_plaintexts.add(bytes(value))
    elif isinstance(value, str) and len(value.encode()) >= MIN_PLAINTEXT:
        _kms_plaintexts.add(value.encode())


def install() -> None:
    """Starts watching boto3's KMS calls (idempotent)."""
    original = botocore.client.BaseClient._make_api_call
    if getattr(original, "_leak_scan", False):
        return

    def watched(self, operation_name, api_params):
        result = original(self, operation_name, api_params)
        if self.meta.service_model.service_name == "kms":
            if operation_name == "Encrypt":
                _remember(api_params.get("Plaintext"))
            if operation_name in KMS_PLAINTEXT_OUTPUTS:
                _remember(result.get("Plaintext"))
        return result

    watched._leak_scan = True  # type: ignore[attr-defined]
    botocore.client.BaseClient._make_api_call = watched


def _forms(secret: bytes) -> list[bytes]:
    forms = [base64.b64encode(secret), secret.hex().encode()]
    if all(32 <= byte < 127 for byte in secret):
        forms.append(secret)
    return forms


def scan(base: Path) -> tuple[list[str], int]:
    """Leaks found under `base` (one line each, no secret in it), and how many secrets were
    looked for."""
    wanted: list[tuple[str, bytes]] = []
    for config in base.rglob("*.toml"):
        for secret in set(SECRET_PATTERN.findall(config.read_text(errors="replace"))):
            wanted.append(("a secret access key", secret.encode()))
    for root_key in base.rglob("root.key"):
        text = root_key.read_bytes().strip()
        if len(text) >= 32:
            wanted.append(("a root key", text))
    for plaintext in _kms_plaintexts:
        for form in _forms(plaintext):
            wanted.append(("a plaintext the KMS handed out or took (data key, Decrypt result)", form))
    wanted.append(("a recognisable object plaintext (Marker)", MARKER))
    files = [
        path
        for path in base.rglob("*")
        if path.is_file() and (path.suffix in (".log", ".jsonl") or "stderr" in path.name)
    ]
    leaks = []
    for path in files:
        content = path.read_bytes()
        for kind, secret in wanted:
            if secret in content:
                leaks.append(f"SECRET LEAK: {kind} ({len(secret)} bytes) appears in {path}")
    return leaks, len(wanted)
