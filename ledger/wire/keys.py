"""Ed25519 keys: files, identities and signatures.

A key has a *name* (a source system id, ``ledger``, a witness's name) and an Ed25519 public key.
Its identity follows C2SP ``signed-note``:

* key ID = first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public_key)`` (0x01 = Ed25519);
* verifier key text = ``<name>+<8 hex digits of key ID>+<base64(0x01 || public_key)>``, the form
  other note tools read;
* the ``key_id`` an event's envelope names is ``<name>+<8 hex digits>``.

Private keys are PKCS#8 PEM files created with mode 0600 (optionally passphrase-encrypted);
public keys are one-line verifier-key text files. This module imports only the standard library
and ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import BadSignature, ConfigurationError, KeyFileError

ED25519_ALG = 0x01
_NAME = re.compile(r"[^\s+]+")
FILE_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Names of keys and source systems that also name files (``keys/<name>.key``, ``state/<id>.seq``):
no path separators, no leading dot, no spaces."""


def check_key_name(name: str) -> None:
    """Raise :class:`ConfigurationError` unless ``name`` is a valid note key name."""
    if not _NAME.fullmatch(name):
        raise ConfigurationError(f"key name {name!r} must be non-empty, without spaces or '+'")


def key_hash(name: str, public_key: bytes) -> bytes:
    """C2SP key ID: ``SHA-256(name || 0x0A || 0x01 || public_key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519_ALG]) + public_key).digest()[:4]


def failed_signatures(jobs: Sequence[tuple[int, Ed25519PublicKey, bytes, bytes]]) -> list[int]:
    """Positions of the ``(position, key, signature, message)`` jobs whose signature does not verify.

    Runs on a thread pool in ingest and in the verifier: ``cryptography`` releases the GIL while
    it verifies, so two threads verify at twice the rate of one.
    """
    failed = []
    for position, key, signature, message in jobs:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            failed.append(position)
    return failed


_RAW_KEYS: dict[bytes, Ed25519PublicKey] = {}


def failed_raw_signatures(jobs: Sequence[tuple[int, bytes, bytes, bytes]]) -> list[int]:
    """:func:`failed_signatures` with each key as its 32 raw bytes, the form a worker process receives.

    The offline verifier sends large logs' signatures to two worker processes: each has its own
    interpreter, so neither waits for the reading thread's GIL between two verifications.
    """
    failed = []
    for position, raw, signature, message in jobs:
        key = _RAW_KEYS.get(raw)
        if key is None:
            key = _RAW_KEYS[raw] = Ed25519PublicKey.from_public_bytes(raw)
        try:
            key.verify(signature, message)
        except InvalidSignature:
            failed.append(position)
    return failed


@dataclass(frozen=True)
class PublicKey:
    """A named Ed25519 public key."""

    name: str
    raw: bytes

    @property
    def key_hash(self) -> bytes:
        """The 4-byte C2SP key ID."""
        return key_hash(self.name, self.raw)

    @property
    def key_id(self) -> str:
        """``<name>+<8 hex digits>``, as named in event envelopes."""
        return f"{self.name}+{self.key_hash.hex()}"

    @property
    def verifier_text(self) -> str:
        """``<name>+<hex key ID>+<base64(0x01 || public key)>`` (C2SP verifier key)."""
        encoded = base64.b64encode(bytes([ED25519_ALG]) + self.raw).decode()
        return f"{self.key_id}+{encoded}"

    @classmethod
    def from_verifier_text(cls, text: str) -> PublicKey:
        """Parse verifier key text; raise :class:`KeyFileError` if it is malformed or inconsistent."""
        parts = text.strip().split("+", 2)
        if len(parts) != 3:
            raise KeyFileError(f"not a verifier key (want name+hexid+base64): {text.strip()[:80]!r}")
        name, hex_id, encoded = parts
        if not _NAME.fullmatch(name):
            raise KeyFileError(f"verifier key name {name!r} is empty or has spaces or '+'")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise KeyFileError(f"verifier key for {name!r}: key is not base64") from exc
        if len(blob) != 33 or blob[0] != ED25519_ALG:
            raise KeyFileError(f"verifier key for {name!r}: not an Ed25519 key")
        key = cls(name, blob[1:])
        if key.key_hash.hex() != hex_id.lower():
            raise KeyFileError(f"verifier key for {name!r}: key ID {hex_id} does not match the key")
        return key

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return None if ``signature`` is this key's signature of ``message``; else raise."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError) as exc:
            raise BadSignature(f"signature does not verify under key {self.key_id}") from exc

    def save(self, path: Path) -> None:
        """Write the verifier key text to ``path``."""
        path.write_text(self.verifier_text + "\n")

    @classmethod
    def load(cls, path: Path) -> PublicKey:
        """Read a verifier key text file."""
        try:
            return cls.from_verifier_text(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise KeyFileError(f"cannot read public key {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class SigningKey:
    """A named Ed25519 private key."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        """A fresh random key."""
        check_key_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def public(self) -> PublicKey:
        """The matching public key."""
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return PublicKey(self.name, raw)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private.sign(message)

    def save(self, path: Path, *, passphrase: bytes | None = None) -> None:
        """Write PKCS#8 PEM with mode 0600 (never readable by others, even for a moment).

        The key name is kept in a ``<path>.name`` sidecar-free way: the file name is not trusted,
        the name is stored as a PEM comment line before the key block.
        """
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key") from exc
        with os.fdopen(fd, "wb") as out:
            out.write(f"liuhen-key-name: {self.name}\n".encode() + pem)

    @classmethod
    def load(cls, path: Path, *, passphrase: bytes | None = None) -> SigningKey:
        """Read a key written by :meth:`save`; refuse files others can read."""
        try:
            mode = path.stat().st_mode & 0o777
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read private key {path}: {exc.strerror}") from exc
        if mode & 0o077:
            raise KeyFileError(
                f"private key {path} has mode {mode:04o}; run 'chmod 600 {path}' (others must not read it)"
            )
        first, _, pem = data.partition(b"\n")
        if not first.startswith(b"liuhen-key-name: "):
            raise KeyFileError(f"{path} is not a liuhen private key (no key-name line)")
        name = first.split(b": ", 1)[1].decode().strip()
        try:
            private = serialization.load_pem_private_key(pem, password=passphrase)
        except (ValueError, TypeError) as exc:
            raise KeyFileError(f"cannot load private key {path}: {exc}") from exc
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(f"{path} holds a {type(private).__name__}, not an Ed25519 key")
        return cls(name, private)
