r"""Signed notes, checkpoints and witness cosignatures: the wire format of liuhen's checkpoints.

This module is the specification; it imports only the standard library, ``cryptography`` (through
:mod:`ledger.wire.keys`) and :mod:`ledger.errors`. It follows, byte for byte, the C2SP specifications
(github.com/C2SP/C2SP): ``signed-note.md`` (v1.0.0), ``tlog-checkpoint.md`` and
``tlog-cosignature.md``, so that other ecosystems' note tools (golang.org/x/mod/sumdb/note,
transparency-dev, sigsum) read liuhen's checkpoints and liuhen reads theirs.

**Signed note** (signed-note §Format)::

    <text, ending in a newline>
    <blank line>
    — <key name> <base64(4-byte key ID || signature)>     (one or more lines, each ending in newline)

* The note is valid UTF-8 with no control character below U+0020 other than newline (U+000A).
* The text includes its final newline but not the blank line; it is separated from the signatures
  by the *last* blank line of the note, so a generic note's text may contain blank lines
  (a checkpoint's may not).
* A signature line is em dash U+2014, space, key name, space, standard base64 (RFC 4648 §4, with
  padding), newline. A key name is non-empty, without Unicode spaces or ``+``. The decoded blob is
  a big-endian 4-byte key ID followed by at least one signature byte.
* At most :data:`MAX_SIGNATURES` (100, as golang.org/x/mod/sumdb/note) signature lines; the
  spec asks verifiers to accept at least 16.

**Verification** (signed-note §Signatures): a signature line is matched to a known key by *both*
its key name and key ID. Lines from unknown keys are ignored (that is how key rotation and
witnesses work), even if they share a name or an ID, but not both, with a known key. Every line
from a known key is verified, and one that fails rejects the whole note. A note with no verified
signature from a known signer key is rejected.

**Ed25519 note signatures** (signature type 0x01): Ed25519 (RFC 8032) over the note text
(including its final newline); key ID = ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``
(:func:`ledger.wire.keys.key_hash`).

**Checkpoint** (tlog-checkpoint §Note text), the note text of a tree head::

    <origin>                    non-empty; liuhen's names deployment, topic and partition
    <tree size>                 ASCII decimal, no leading zeros ("0" for the empty tree)
    <root hash>                 base64 of the 32-byte RFC 6962 / RFC 9162 Merkle root
    <extension line>...         optional, opaque, each non-empty

liuhen writes three extension lines, in this order::

    liuhen-chain <base64 of the 32-byte chain head>
    liuhen-time <microseconds since the epoch, UTC, ASCII decimal>
    liuhen-logs <origin> <origin> ...

* ``liuhen-chain``: the head of the ledger's hash chain (``chain_hash`` of
  :mod:`ledger.wire.format`, at index ``tree size - 1``; 32 zero bytes for the empty tree): one
  space, 44 characters of standard padded base64.
* ``liuhen-time``: when the ledger committed the batch this checkpoint ends, by the ledger's
  clock (never earlier than the log's previous checkpoint's). Every entry the checkpoint covers
  first was in the ledger no later than this time, and no earlier than the time of the log's
  checkpoint before it: the entry's *proven ledger time window*.
* ``liuhen-logs``: the ledger's logs, named so that one cannot vanish unnoticed: the origins of
  every log opened when the checkpoint was signed, in the order they were opened, separated by
  one space (an origin holds no space), this checkpoint's own among them. Logs are only ever
  opened, never closed: a later checkpoint of any log names the same origins first, and perhaps
  more after them.

The signature line's key name is the checkpoint's origin (tlog-checkpoint §Signatures: "the key
name ... SHOULD be the origin"): one ledger key signs every log, and each log's checkpoints carry
the key ID ``SHA-256(origin || 0x0A || 0x01 || key)[:4]`` (:func:`log_key` names the ledger's
public key for a log), so off-the-shelf witnesses and note tools configured with the
``<origin>+<id>+<key>`` verifier key accept them. A different construction would get a new
keyword, never a new meaning for one of these. Parsing is strict: :meth:`Checkpoint.parse`
accepts only the form :meth:`Checkpoint.body` writes, so a parsed checkpoint re-encodes to exactly
the bytes that were signed.

Note (tlog-checkpoint §Note text, tlog-cosignature §Ed25519 signed message): extension lines are
signed by the log and included in the messages witnesses sign, but witnesses vouch only for the
first three lines. The chain head is vouched for by the ledger key; auditors recompute it.

**Witness cosignatures** (tlog-cosignature, signature type 0x04, "timestamped Ed25519
checkpoint cosignatures")::

    key ID    = SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)[:4]
    blob      = key ID || timestamp (u64, big-endian) || Ed25519 signature (64 bytes)   (76 bytes)
    message   = "cosignature/v1\n" || "time " || <timestamp, ASCII decimal, no leading zeros>
                || "\n" || <whole checkpoint note text, extension lines and final newline included>

The timestamp is the POSIX time of cosigning, at most 2^63 - 1. A cosigner's public key is
published as a verifier key of type 0x04 (tlog-cosignature §Format: "Ed25519 public keys MAY be
encoded as vkeys with signature type 0x04")::

    <name>+<8 hex digits of the 0x04 key ID>+<base64(0x04 || 32-byte public key)>

(:func:`cosigner_verifier_text`, :func:`cosigner_from_verifier_text`). Witnesses are configured
as :class:`~ledger.wire.keys.PublicKey` values (name and Ed25519 key); the 0x04 key ID is derived from
them here, so the same value never confuses a note signature with a cosignature.

**Quorum**: :meth:`SignedCheckpoint.verify` requires one verified ledger-key signature and
cosignatures from at least ``quorum`` distinct witness names (a witness cosigning twice, or under
two of its keys, counts once).

Errors: a malformed note, checkpoint or signature line and a signature that does not verify
raise :class:`~ledger.errors.VerificationError`; malformed verifier key text raises
:class:`~ledger.errors.KeyFileError`; an unusable set of keys or quorum raises
:class:`~ledger.errors.ConfigurationError`. Checks return None.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ledger.errors import BadSignature, ConfigurationError, KeyFileError, VerificationError
from ledger.wire.keys import PublicKey, SigningKey

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
MAX_SIGNATURES = 100
KEY_HASH_SIZE = 4
HASH_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**64 - 1
COSIGNATURE_ALG = 0x04
COSIGNATURE_HEADER = "cosignature/v1"
COSIGNATURE_SIZE = TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE
CHAIN_EXTENSION = "liuhen-chain"
TIME_EXTENSION = "liuhen-time"
LOGS_EXTENSION = "liuhen-logs"

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


# --- text rules ----------------------------------------------------------------------------------


def _short(text: str) -> str:
    return repr(text if len(text) <= 100 else text[:100] + "...")


def _check_characters(text: str, what: str) -> None:
    """Raise unless ``text`` has no control character other than newline and encodes as UTF-8."""
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        raise VerificationError(
            f"{what} has control character U+{ord(bad.group()):04X} on line {line}; "
            "signed notes allow no control character but newline"
        )
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise VerificationError(f"{what} is not valid UTF-8 ({exc.reason} at {exc.start})") from exc


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(f"{what} is not valid UTF-8 (byte {exc.start}: {exc.reason})") from exc


def _is_key_name(name: str) -> bool:
    """Non-empty, no Unicode space, no ``+``, no control character (signed-note §Format)."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _b64decode(text: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4, padded); raise ValueError otherwise."""
    return binascii.a2b_base64(text, strict_mode=True)  # ValueError subclass on bad input


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _check_note_text(text: str) -> None:
    if not text.endswith("\n"):
        raise VerificationError(f"note text must end with a newline: {_short(text[-40:])}")
    _check_characters(text, "note text")


# --- signature lines -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NoteSignature:
    """One signature line of a note: ``— <name> base64(key_hash || signature)``.

    ``key_hash`` is the 4-byte key ID; ``signature`` the bytes after it (for type 0x04
    cosignatures, the 8-byte timestamp and the Ed25519 signature).
    """

    name: str
    key_hash: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if not _is_key_name(self.name):
            raise VerificationError(
                f"signature key name {_short(self.name)} must be non-empty, without spaces, '+' or "
                "control characters"
            )
        if len(self.key_hash) != KEY_HASH_SIZE:
            raise VerificationError(f"a note key ID is {KEY_HASH_SIZE} bytes, not {len(self.key_hash)}")
        if not self.signature:
            raise VerificationError(f"signature by {self.key_id} is empty")

    @property
    def key_id(self) -> str:
        """``<name>+<8 hex digits>``: the name and key ID that identify the signing key."""
        return f"{self.name}+{self.key_hash.hex()}"

    @property
    def line(self) -> str:
        """The signature line, ending in a newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {_b64encode(self.key_hash + self.signature)}\n"

    @classmethod
    def parse(cls, line: str) -> NoteSignature:
        """Parse one signature line (with or without its final newline); raise if malformed."""
        line = line.removesuffix("\n")
        if not line.startswith(SIGNATURE_PREFIX):
            raise VerificationError(
                f"signature line {_short(line)} does not start with an em dash (U+2014) and a space"
            )
        parts = line[len(SIGNATURE_PREFIX) :].split(" ")
        if len(parts) != 2:
            raise VerificationError(
                f"signature line {_short(line)} is not '— <key name> <base64 signature>' "
                "(exactly one space after the name)"
            )
        name, encoded = parts
        if not _is_key_name(name):
            raise VerificationError(
                f"signature line {_short(line)}: key name must be non-empty, without spaces or '+'"
            )
        try:
            blob = _b64decode(encoded)
        except ValueError as exc:
            raise VerificationError(
                f"signature line {_short(line)}: signature is not base64 ({exc})"
            ) from exc
        if len(blob) <= KEY_HASH_SIZE:
            raise VerificationError(
                f"signature line {_short(line)}: {len(blob)} bytes, but a note signature is a "
                f"{KEY_HASH_SIZE}-byte key ID followed by the signature"
            )
        return cls(name=name, key_hash=blob[:KEY_HASH_SIZE], signature=blob[KEY_HASH_SIZE:])


def sign_note(text: str, key: SigningKey) -> NoteSignature:
    """The Ed25519 (type 0x01) note signature of ``text`` (which ends in a newline) by ``key``."""
    if not _is_key_name(key.name):
        raise ConfigurationError(f"key name {key.name!r} is not a note key name (no spaces or '+')")
    _check_note_text(text)
    public = key.public
    return NoteSignature(name=key.name, key_hash=public.key_hash, signature=key.sign(text.encode()))


def verify_note_signature(text: bytes, signature: NoteSignature, key: PublicKey) -> None:
    """Return None if ``signature`` is ``key``'s Ed25519 note signature of ``text``; else raise."""
    if (signature.name, signature.key_hash) != (key.name, key.key_hash):
        raise VerificationError(f"signature by {signature.key_id} is not by key {key.key_id}")
    if len(signature.signature) != ED25519_SIGNATURE_SIZE:
        raise VerificationError(
            f"signature by {signature.key_id} is {len(signature.signature)} bytes, "
            f"not an Ed25519 signature ({ED25519_SIGNATURE_SIZE} bytes)"
        )
    try:
        key.verify(signature.signature, text)
    except BadSignature as exc:
        raise VerificationError(f"note signature by {key.key_id} does not verify") from exc


# --- notes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Note:
    """A signed note: a text ending in a newline and one or more signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "signatures", tuple(self.signatures))
        _check_note_text(self.text)
        if not self.signatures:
            raise VerificationError("a signed note has at least one signature line")
        if len(self.signatures) > MAX_SIGNATURES:
            raise VerificationError(
                f"note has {len(self.signatures)} signatures; at most {MAX_SIGNATURES} are accepted"
            )

    def encode(self) -> bytes:
        """The note: text, blank line, signature lines."""
        return (self.text + "\n" + "".join(s.line for s in self.signatures)).encode()

    @classmethod
    def parse(cls, data: bytes) -> Note:
        """Parse a signed note without verifying it; raise :class:`VerificationError` if malformed."""
        message = _decode(data, "note")
        _check_characters(message, "note")
        if not message.endswith("\n"):
            raise VerificationError("note does not end with a newline")
        split = message.rfind("\n\n")
        if split < 0:
            raise VerificationError("note has no blank line between its text and its signatures")
        text, block = message[: split + 1], message[split + 2 :]
        if not block:
            raise VerificationError("note has no signature lines after its blank line")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise VerificationError(
                f"note has {len(lines)} signatures; at most {MAX_SIGNATURES} are accepted"
            )
        return cls(text=text, signatures=tuple(NoteSignature.parse(line) for line in lines))

    def verify(self, *, keys: Sequence[PublicKey]) -> None:
        """Return None if a known key's Ed25519 signature verifies and none fails; else raise.

        Signatures from keys not in ``keys`` (by name and key ID) are ignored.
        """
        table = _key_table(keys, ())
        verified = _verify_signatures(self.signatures, table, self.text.encode(), None)[0]
        if not verified:
            raise VerificationError(
                f"note has no signature by a known key (signed by {_ids(self.signatures)}; "
                f"known: {', '.join(k.key_id for k in keys) or 'none'})"
            )


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """A C2SP checkpoint: origin, tree size, Merkle root hash and opaque extension lines."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extensions", tuple(self.extensions))
        for what, line in (("origin", self.origin), *(("extension line", e) for e in self.extensions)):
            if not line or "\n" in line:
                raise VerificationError(f"checkpoint {what} {_short(line)} must be one non-empty line")
            _check_characters(line, f"checkpoint {what}")
        if not 0 <= self.tree_size <= MAX_TREE_SIZE:
            raise VerificationError(f"tree size {self.tree_size} is outside 0..2^64-1")
        if len(self.root_hash) != HASH_SIZE:
            raise VerificationError(f"a root hash is {HASH_SIZE} bytes, not {len(self.root_hash)}")

    @classmethod
    def for_log(
        cls,
        *,
        origin: str,
        tree_size: int,
        root_hash: bytes,
        chain_head: bytes,
        time_us: int,
        logs: Sequence[str],
    ) -> Checkpoint:
        """A liuhen checkpoint: the tree head and its three extension lines (see the module docstring).

        ``logs`` are the origins of the ledger's logs in the order they were opened, this log's
        among them.
        """
        if len(chain_head) != HASH_SIZE:
            raise VerificationError(f"a chain head is {HASH_SIZE} bytes, not {len(chain_head)}")
        if not 0 <= time_us <= MAX_TIMESTAMP:
            raise VerificationError(f"ledger time {time_us} is outside 0..2^63-1 microseconds")
        if origin not in logs:
            raise VerificationError(f"the logs a checkpoint of {_short(origin)} names must include it")
        _check_logs(logs)
        return cls(
            origin=origin,
            tree_size=tree_size,
            root_hash=root_hash,
            extensions=(
                f"{CHAIN_EXTENSION} {_b64encode(chain_head)}",
                f"{TIME_EXTENSION} {time_us}",
                f"{LOGS_EXTENSION} {' '.join(logs)}",
            ),
        )

    def _extension(self, keyword: str) -> str:
        """The value of the one extension line starting with ``keyword``; raise if missing or repeated."""
        values = [e.split(" ", 1) for e in self.extensions if e.split(" ", 1)[0] == keyword]
        if len(values) != 1:
            raise VerificationError(
                f"checkpoint of {_short(self.origin)} at size {self.tree_size} has {len(values)} "
                f"'{keyword}' lines; a liuhen checkpoint has exactly one"
            )
        return values[0][1] if len(values[0]) == 2 else ""

    def _hash_value(self, keyword: str, encoded: str) -> bytes:
        try:
            value = _b64decode(encoded)
        except ValueError as exc:
            raise VerificationError(f"'{keyword}' value {_short(encoded)} is not base64") from exc
        if len(value) != HASH_SIZE or _b64encode(value) != encoded:
            raise VerificationError(
                f"'{keyword}' value {_short(encoded)} is not the base64 of a {HASH_SIZE}-byte hash"
            )
        return value

    @property
    def chain_head(self) -> bytes:
        """The hash chain head of the ``liuhen-chain`` line; raise if missing, repeated or malformed."""
        return self._hash_value(CHAIN_EXTENSION, self._extension(CHAIN_EXTENSION))

    @property
    def time_us(self) -> int:
        """The ledger's signed time of the ``liuhen-time`` line, in microseconds since the epoch."""
        value = self._extension(TIME_EXTENSION)
        if not _DECIMAL.fullmatch(value) or int(value) > MAX_TIMESTAMP:
            raise VerificationError(f"'{TIME_EXTENSION}' value {_short(value)} is not a time in microseconds")
        return int(value)

    @property
    def logs(self) -> tuple[str, ...]:
        """The origins of the ledger's logs, in the order they were opened (the ``liuhen-logs`` line)."""
        logs = tuple(self._extension(LOGS_EXTENSION).split(" "))
        _check_logs(logs)
        if self.origin not in logs:
            raise VerificationError(f"'{LOGS_EXTENSION}' of {_short(self.origin)} does not name its own log")
        return logs

    def body(self) -> bytes:
        """The note text: origin, size, base64 root and extension lines, each ending in a newline."""
        lines = (self.origin, str(self.tree_size), _b64encode(self.root_hash), *self.extensions)
        return "".join(line + "\n" for line in lines).encode()

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """Parse checkpoint note text; raise :class:`VerificationError` unless it is well formed."""
        return cls._from_text(_decode(text, "checkpoint"))

    @classmethod
    def _from_text(cls, text: str) -> Checkpoint:
        _check_characters(text, "checkpoint")
        if not text.endswith("\n"):
            raise VerificationError("checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError(
                f"checkpoint has {len(lines)} lines; it needs origin, tree size and root hash lines"
            )
        for number, line in enumerate(lines, 1):
            if not line:
                raise VerificationError(f"checkpoint line {number} is empty; checkpoint lines are non-empty")
        origin, size, root, *extensions = lines
        if not _DECIMAL.fullmatch(size):
            raise VerificationError(f"tree size {_short(size)} is not a decimal number without leading zeros")
        try:
            root_hash = _b64decode(root)
        except ValueError as exc:
            raise VerificationError(f"root hash {_short(root)} is not base64 ({exc})") from exc
        if len(root_hash) != HASH_SIZE or _b64encode(root_hash) != root:
            raise VerificationError(f"root hash {_short(root)} is not the base64 of a {HASH_SIZE}-byte hash")
        return cls(origin=origin, tree_size=int(size), root_hash=root_hash, extensions=tuple(extensions))


def _check_logs(logs: Sequence[str]) -> None:
    """Raise :class:`VerificationError` unless ``logs`` are origins, each once, none with a space."""
    if not logs or any(not origin or " " in origin for origin in logs):
        raise VerificationError(f"'{LOGS_EXTENSION}' must name origins, one space apart")
    if len(set(logs)) != len(logs):
        raise VerificationError(f"'{LOGS_EXTENSION}' names a log twice")


def log_key(key: PublicKey, origin: str) -> PublicKey:
    """The ledger's public ``key`` under the name that signs ``origin``'s checkpoints: the origin."""
    return PublicKey(origin, key.raw)


def log_signing_key(key: SigningKey, origin: str) -> SigningKey:
    """The ledger's private ``key`` named for signing ``origin``'s checkpoints."""
    return SigningKey(origin, key.private)


# --- witness cosignatures (type 0x04) ------------------------------------------------------------


def cosigner_key_hash(name: str, public_key: bytes) -> bytes:
    """Cosigner key ID: ``SHA-256(name || 0x0A || 0x04 || public_key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_ALG]) + public_key).digest()[:4]


def cosigner_key_id(key: PublicKey) -> str:
    """``<name>+<8 hex digits of the 0x04 key ID>``."""
    return f"{key.name}+{cosigner_key_hash(key.name, key.raw).hex()}"


def cosigner_verifier_text(key: PublicKey) -> str:
    """``<name>+<hex 0x04 key ID>+<base64(0x04 || public key)>`` (tlog-cosignature vkey)."""
    return f"{cosigner_key_id(key)}+{_b64encode(bytes([COSIGNATURE_ALG]) + key.raw)}"


def cosigner_from_verifier_text(text: str) -> PublicKey:
    """Parse a type 0x04 verifier key; raise :class:`KeyFileError` if malformed or inconsistent."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFileError(f"not a verifier key (want name+hexid+base64): {_short(text.strip())}")
    name, hex_id, encoded = parts
    if not _is_key_name(name):
        raise KeyFileError(f"cosigner key name {_short(name)} must be non-empty, without spaces or '+'")
    try:
        blob = _b64decode(encoded)
    except ValueError as exc:
        raise KeyFileError(f"cosigner key for {name!r}: key is not base64") from exc
    if len(blob) != 33 or blob[0] != COSIGNATURE_ALG:
        kind = f"type 0x{blob[0]:02x}, {len(blob) - 1} bytes" if blob else "empty"
        raise KeyFileError(
            f"cosigner key for {name!r} is {kind}; a cosigner key is type 0x04 and 32 bytes (Ed25519)"
        )
    key = PublicKey(name, blob[1:])
    if len(hex_id) != 8 or cosigner_key_hash(name, key.raw).hex() != hex_id.lower():
        raise KeyFileError(f"cosigner key for {name!r}: key ID {hex_id} does not match the key")
    return key


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise VerificationError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")


def cosignature_message(checkpoint: Checkpoint, timestamp: int) -> bytes:
    r"""``cosignature/v1\ntime <timestamp>\n`` followed by the checkpoint's note text."""
    _check_timestamp(timestamp)
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n".encode() + checkpoint.body()


def cosign(checkpoint: Checkpoint, key: SigningKey, *, timestamp: int) -> NoteSignature:
    """``key``'s cosignature/v1 of ``checkpoint`` at POSIX time ``timestamp`` (seconds)."""
    if not _is_key_name(key.name):
        raise ConfigurationError(f"key name {key.name!r} is not a note key name (no spaces or '+')")
    signed = key.sign(cosignature_message(checkpoint, timestamp))
    return NoteSignature(
        name=key.name,
        key_hash=cosigner_key_hash(key.name, key.public.raw),
        signature=timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signed,
    )


def cosignature_timestamp(signature: NoteSignature) -> int:
    """The timestamp a cosignature/v1 line carries (unverified); raise if it is not one."""
    if len(signature.signature) != COSIGNATURE_SIZE:
        raise VerificationError(
            f"signature by {signature.key_id} is {len(signature.signature)} bytes, not a cosignature "
            f"(timestamp and Ed25519 signature, {COSIGNATURE_SIZE} bytes)"
        )
    return int.from_bytes(signature.signature[:TIMESTAMP_SIZE], "big")


def verify_cosignature(checkpoint: Checkpoint, signature: NoteSignature, key: PublicKey) -> None:
    """Return None if ``signature`` is ``key``'s cosignature/v1 of ``checkpoint``; else raise."""
    expected = cosigner_key_hash(key.name, key.raw)
    if (signature.name, signature.key_hash) != (key.name, expected):
        raise VerificationError(f"signature by {signature.key_id} is not by cosigner {cosigner_key_id(key)}")
    timestamp = cosignature_timestamp(signature)
    try:
        key.verify(signature.signature[TIMESTAMP_SIZE:], cosignature_message(checkpoint, timestamp))
    except BadSignature as exc:
        raise VerificationError(
            f"cosignature by {cosigner_key_id(key)} (time {timestamp}) does not verify"
        ) from exc


# --- verification against known keys -------------------------------------------------------------


class _Role(Enum):
    SIGNER = "signer"
    WITNESS = "witness"


_KeyTable = dict[tuple[str, bytes], tuple[_Role, PublicKey]]


def _key_table(signers: Sequence[PublicKey], witnesses: Sequence[PublicKey]) -> _KeyTable:
    """Known keys by (name, key ID); raise if two different keys share both."""
    table: _KeyTable = {}
    entries = [(_Role.SIGNER, k, k.key_hash) for k in signers]
    entries += [(_Role.WITNESS, k, cosigner_key_hash(k.name, k.raw)) for k in witnesses]
    for role, key, key_hash in entries:
        known = table.setdefault((key.name, key_hash), (role, key))
        if known != (role, key):
            raise ConfigurationError(
                f"two different keys are known as {key.name}+{key_hash.hex()}; "
                "signatures by that name and key ID would be ambiguous"
            )
    return table


def _verify_signatures(
    signatures: Sequence[NoteSignature], table: _KeyTable, text: bytes, checkpoint: Checkpoint | None
) -> tuple[list[str], set[str]]:
    """Verify every line from a known key (raise on the first failure); ignore the others.

    Returns the key IDs of verified signer signatures and the names of verified witnesses.
    """
    signers: list[str] = []
    witnesses: set[str] = set()
    for signature in signatures:
        known = table.get((signature.name, signature.key_hash))
        if known is None:
            continue  # signed-note: verifiers MUST ignore signatures from unknown keys
        role, key = known
        if role is _Role.SIGNER:
            verify_note_signature(text, signature, key)
            signers.append(key.key_id)
        else:
            assert checkpoint is not None
            verify_cosignature(checkpoint, signature, key)
            witnesses.add(key.name)
    return signers, witnesses


def _ids(signatures: Sequence[NoteSignature]) -> str:
    return ", ".join(s.key_id for s in signatures)


# --- signed checkpoints --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SignedCheckpoint:
    """A checkpoint and its signature lines: the ledger's signatures and witnesses' cosignatures."""

    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "signatures", tuple(self.signatures))
        if not self.signatures:
            raise VerificationError("a signed checkpoint has at least one signature line")
        if len(self.signatures) > MAX_SIGNATURES:
            raise VerificationError(
                f"checkpoint has {len(self.signatures)} signatures; at most {MAX_SIGNATURES} are accepted"
            )

    @classmethod
    def sign(cls, checkpoint: Checkpoint, key: SigningKey) -> SignedCheckpoint:
        """``checkpoint`` signed by the ledger key ``key`` (Ed25519, type 0x01)."""
        return cls(checkpoint=checkpoint, signatures=(sign_note(checkpoint.body().decode(), key),))

    def with_signature(self, signature: NoteSignature | str) -> SignedCheckpoint:
        """A copy with ``signature`` (a value or a signature line) appended.

        A signature with the same key name and ID as ``signature`` is replaced (as Go's note.Sign
        does), so re-signing or re-cosigning never piles up lines from one key.
        """
        new = NoteSignature.parse(signature) if isinstance(signature, str) else signature
        kept = tuple(s for s in self.signatures if (s.name, s.key_hash) != (new.name, new.key_hash))
        return SignedCheckpoint(checkpoint=self.checkpoint, signatures=(*kept, new))

    def with_cosignature(self, key: SigningKey, *, timestamp: int) -> SignedCheckpoint:
        """A copy cosigned by witness ``key`` at POSIX time ``timestamp``."""
        return self.with_signature(cosign(self.checkpoint, key, timestamp=timestamp))

    def encode(self) -> bytes:
        """The signed note: checkpoint text, blank line, signature lines."""
        return Note(text=self.checkpoint.body().decode(), signatures=self.signatures).encode()

    @classmethod
    def parse(cls, data: bytes) -> SignedCheckpoint:
        """Parse a signed checkpoint without verifying it; raise if it is malformed."""
        note = Note.parse(data)
        return cls(checkpoint=Checkpoint._from_text(note.text), signatures=note.signatures)

    def verify_log(
        self, *, ledger_keys: Sequence[PublicKey], witnesses: Sequence[PublicKey] = (), quorum: int = 0
    ) -> None:
        """:meth:`verify` a liuhen log's checkpoint: the ledger keys sign it under the origin's name."""
        origin = self.checkpoint.origin
        self.verify(ledger_keys=[log_key(k, origin) for k in ledger_keys], witnesses=witnesses, quorum=quorum)

    def verify(
        self, *, ledger_keys: Sequence[PublicKey], witnesses: Sequence[PublicKey] = (), quorum: int = 0
    ) -> None:
        """Return None if a ledger key signed and ``quorum`` distinct witnesses cosigned; else raise.

        Lines from keys in neither list are ignored; any line from a known key that does not
        verify rejects the checkpoint.
        """
        names = {w.name for w in witnesses}
        if not ledger_keys:
            raise ConfigurationError("no ledger key given to verify the checkpoint against")
        if not 0 <= quorum <= len(names):
            raise ConfigurationError(
                f"witness quorum {quorum} is impossible with {len(names)} distinct witnesses configured"
            )
        table = _key_table(ledger_keys, witnesses)
        signed, cosigned = _verify_signatures(self.signatures, table, self.checkpoint.body(), self.checkpoint)
        where = f"checkpoint of {_short(self.checkpoint.origin)} at size {self.checkpoint.tree_size}"
        if not signed:
            raise VerificationError(
                f"{where} has no signature by a ledger key (signed by {_ids(self.signatures)}; "
                f"ledger keys: {', '.join(k.key_id for k in ledger_keys)})"
            )
        if len(cosigned) < quorum:
            raise VerificationError(
                f"{where} is cosigned by {len(cosigned)} of the {quorum} witnesses required "
                f"(cosigned by: {', '.join(sorted(cosigned)) or 'none'}; "
                f"witnesses: {', '.join(sorted(names))})"
            )
