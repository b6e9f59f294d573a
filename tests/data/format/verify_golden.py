#!/usr/bin/env python3
"""Independent reader of the format v1 golden vectors (Python `cryptography`, no Rust code).

Decrypts every vector from the specification in src/format/mod.rs and manifest.rs, and checks
the plaintexts the Rust tests used. Run: python3 tests/data/format/verify_golden.py
"""
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes(range(32))


def keys(header):
    kind, part = header[7], header[8:12]
    okm = HKDF(hashes.SHA256(), 39, header[20:44], b"s3kms stream v1" + bytes([kind]) + part).derive(KEY)
    return AESGCM(okm[:32]), okm[32:]


def nonce(prefix, index, final):
    return prefix + struct.pack(">I", index) + bytes([final])


def read_stream(data):
    header = data[:48]
    assert header[:8] == b"S3KM\x01\x01\x10" + header[7:8] and header[44:48] == b"\0" * 4
    length = struct.unpack(">Q", header[12:20])[0]
    aead, prefix = keys(header)
    out, offset, index = b"", 48, 0
    while len(out) < length:
        size = min(65536, length - len(out)) + 16
        out += aead.decrypt(nonce(prefix, index, 0), data[offset:offset + size], header)
        offset, index = offset + size, index + 1
    trailer = aead.decrypt(nonce(prefix, index, 1), data[offset:offset + 80], header)
    assert offset + 80 == len(data)
    assert struct.unpack(">Q", trailer[:8])[0] == length
    return header, out, trailer


def read_manifest(data):
    header, footer = data[:48], data[-32:]
    assert header[7] == 3 and header[8:12] == b"\xff" * 4 and footer[:5] == b"S3MF\x01"
    body_len, count, total = struct.unpack(">IIQ", footer[8:24])
    aead, prefix = keys(header)
    body = aead.decrypt(nonce(prefix, 0, 1), data[48:-32], header)
    assert len(body) == body_len == struct.unpack(">Q", header[12:20])[0]
    n, m, p, _crc = struct.unpack(">IIQQ", body[:24])
    assert (n, p) == (count, total)
    parts = []
    for i in range(n):
        packed, crc = struct.unpack(">QQ", body[32 + 16 * i:48 + 16 * i])
        parts.append((packed >> 48, packed & (2**48 - 1), crc))
    assert body[32 + 16 * n:] == b"\0" * (len(body) - 32 - 16 * n)
    return n, m, p, parts


def pattern(length, seed):
    # The Rust tests' xorshift64* plaintext generator.
    state, out = seed | 1, b""
    mask = 2**64 - 1
    while len(out) < length:
        state ^= state >> 12
        state = (state ^ (state << 25)) & mask
        state ^= state >> 27
        out += struct.pack("<Q", (state * 0x2545F4914F6CDD1D) & mask)
    return out[:length]


def load(name):
    with open(os.path.join(HERE, name), "rb") as f:
        return f.read()


def main():
    assert read_stream(load("stream_empty.bin"))[1] == b""
    _, small, trailer = read_stream(load("stream_small.bin"))
    assert small == b"s3kms golden vector\n" and trailer[16] == 3
    header, long, _ = read_stream(load("part3_65537.bin"))
    assert header[7] == 2 and header[8:12] == struct.pack(">I", 3) and long == pattern(65537, 0x601D)
    assert read_manifest(load("manifest_merged.bin"))[:3] == (2, 2, 5_000_001)
    n, m, p, parts = read_manifest(load("manifest_separate.bin"))
    assert (n, m, [part[0] for part in parts]) == (3, 4, [1, 4, 9])
    print("all golden vectors verified")


if __name__ == "__main__":
    sys.exit(main())
