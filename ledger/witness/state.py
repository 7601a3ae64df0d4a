"""What a witness remembers, in a folder of its own, written so that a crash never makes it forget.

The folder (``liuhen witness serve --state DIR``)::

    logs                  the logs it witnesses: one "<origin> <log verifier key>" a line
                          (``liuhen witness add-log``); several lines for one origin: several keys
    checkpoints/<hash>    per origin, the newest checkpoint it cosigned: the signed note with the
                          log's verified signature lines and its own cosignature; <hash> is the
                          lowercase hex SHA-256 of the origin (the tlog-witness monitoring path)
    cosigned.jsonl        append-only: one JSON line for each checkpoint it cosigned, and for each
                          validly signed checkpoint it refused as inconsistent (evidence of a fork)
    lock                  held (flock) by the one process serving the folder

The origin of a ``logs`` line is everything before its last space (a verifier key has no space);
``#`` starts a comment line. A log cannot be removed: a witness that forgot a log could be shown
another history of it.

**Durability.** A file is replaced atomically: written to a temporary file in the same folder,
fsynced, renamed over the old one, and the folder fsynced, so after a crash it holds the old or
the new content, whole. A record line is appended and fsynced. The witness answers only after both
are on disk: the newest checkpoint first, then the record line, so a crash between the two loses
a record line of a cosignature that was never handed out (the client, resubmitting, gets it
again). A checkpoint file that cannot be read is an error, never an empty memory.

Imports only the standard library, :mod:`ledger.wire` and :mod:`ledger.errors`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from ledger.errors import ConfigurationError, KeyFileError, VerificationError
from ledger.wire.keys import PublicKey
from ledger.wire.merkle import EMPTY_ROOT
from ledger.wire.note import Checkpoint, SignedCheckpoint

LOGS = "logs"
CHECKPOINTS = "checkpoints"
RECORD = "cosigned.jsonl"
LOCK = "lock"
_LOGS_HEADER = (
    "# The logs this witness cosigns: '<origin> <verifier key of the log>' a line (liuhen witness add-log).\n"
)


def origin_hash(origin: str) -> str:
    """Lowercase hex SHA-256 of the origin: its checkpoint file's name and its monitoring path."""
    return hashlib.sha256(origin.encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync of the folder."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def append_durably(path: Path, line: bytes) -> None:
    """Append ``line`` to ``path`` (created if missing) and fsync it."""
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_dir(path.parent)


def _check_origin(origin: str) -> None:
    try:
        Checkpoint(origin=origin, tree_size=0, root_hash=EMPTY_ROOT)
    except VerificationError as exc:
        raise ConfigurationError(f"{origin!r} is not a checkpoint origin: {exc}") from exc


class WitnessState:
    """A witness's folder (see the module docstring). Thread-safe; callers serialise per origin."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, directory: Path) -> WitnessState:
        """The witness folder at ``directory``, created if missing."""
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / CHECKPOINTS).mkdir(exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot use {directory} as a witness folder: {exc.strerror or exc}"
            ) from exc
        return cls(directory)

    # -- the logs it witnesses ---------------------------------------------------------------------

    @property
    def logs_path(self) -> Path:
        """The ``logs`` file."""
        return self.directory / LOGS

    def logs(self) -> dict[str, tuple[PublicKey, ...]]:
        """Every log it witnesses, with the keys it trusts for it, in the order they were added."""
        try:
            text = self.logs_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read the witness's logs file {self.logs_path}: {exc}") from exc
        found: dict[str, tuple[PublicKey, ...]] = {}
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip() or line.startswith("#"):
                continue
            origin, _, vkey = line.rpartition(" ")
            try:
                _check_origin(origin)
                key = PublicKey.from_verifier_text(vkey)
            except (ConfigurationError, KeyFileError) as exc:
                raise ConfigurationError(f"{self.logs_path} line {number}: {exc}") from exc
            if key not in found.get(origin, ()):
                found[origin] = (*found.get(origin, ()), key)
        return found

    def keys(self, origin: str) -> tuple[PublicKey, ...]:
        """The log keys it trusts for ``origin`` (none: it does not witness that log)."""
        return self.logs().get(origin, ())

    def add_log(self, origin: str, key: PublicKey) -> bool:
        """Trust ``key`` for the log ``origin``; False if it already did."""
        _check_origin(origin)
        with self._exclusive(self.directory / f".{LOGS}.lock", wait=True):
            if key in self.keys(origin):
                return False
            try:
                old = self.logs_path.read_bytes()
            except FileNotFoundError:
                old = _LOGS_HEADER.encode()
            if old and not old.endswith(b"\n"):
                old += b"\n"
            write_atomically(self.logs_path, old + f"{origin} {key.verifier_text}\n".encode())
        return True

    # -- what it cosigned --------------------------------------------------------------------------

    def checkpoint_path(self, origin: str) -> Path:
        """The file of the newest checkpoint of ``origin`` it cosigned."""
        return self.directory / CHECKPOINTS / origin_hash(origin)

    def latest(self, origin: str) -> SignedCheckpoint | None:
        """The newest checkpoint of ``origin`` it cosigned (with the lines kept), or None if none."""
        path = self.checkpoint_path(origin)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigurationError(f"cannot read the witness's checkpoint {path}: {exc.strerror}") from exc
        try:
            signed = SignedCheckpoint.parse(data)
        except VerificationError as exc:
            raise ConfigurationError(
                f"the witness's checkpoint of {origin!r} ({path}) is unreadable ({exc}): restore it from a "
                "backup; a witness that forgets what it cosigned can be shown a rolled-back log"
            ) from exc
        if signed.checkpoint.origin != origin:
            raise ConfigurationError(
                f"{path} holds a checkpoint of {signed.checkpoint.origin!r}, not {origin!r}"
            )
        return signed

    def cosigned(self) -> dict[str, SignedCheckpoint]:
        """The newest checkpoint it cosigned of each log it witnesses that it cosigned."""
        found = {}
        for origin in self.logs():
            latest = self.latest(origin)
            if latest is not None:
                found[origin] = latest
        return found

    def remember(self, cosigned: SignedCheckpoint, *, old_size: int, timestamp: int) -> None:
        """Record ``cosigned`` as the newest checkpoint of its log: its file, then the record line."""
        checkpoint = cosigned.checkpoint
        write_atomically(self.checkpoint_path(checkpoint.origin), cosigned.encode())
        self._record("cosigned", cosigned, old_size=old_size, timestamp=timestamp)

    def record_refusal(self, signed: SignedCheckpoint, *, old_size: int, timestamp: int, reason: str) -> None:
        """Keep a validly signed checkpoint refused as inconsistent: the log signed two histories."""
        self._record("refused", signed, old_size=old_size, timestamp=timestamp, reason=reason)

    def _record(
        self, event: str, signed: SignedCheckpoint, *, old_size: int, timestamp: int, **extra: str
    ) -> None:
        checkpoint = signed.checkpoint
        line = {
            "event": event,
            "time": timestamp,
            "origin": checkpoint.origin,
            "old_size": old_size,
            "size": checkpoint.tree_size,
            "note": signed.encode().decode(),
            **extra,
        }
        append_durably(self.directory / RECORD, (json.dumps(line, ensure_ascii=False) + "\n").encode())

    def records(self) -> Iterator[dict[str, object]]:
        """The record's lines, oldest first."""
        try:
            with (self.directory / RECORD).open(encoding="utf-8") as lines:
                for line in lines:
                    yield json.loads(line)
        except FileNotFoundError:
            return

    # -- one serving process -----------------------------------------------------------------------

    def hold(self) -> None:
        """Take the folder for this process; raise :class:`ConfigurationError` if another holds it.

        Two processes serving one folder could each check a submission against the same old
        checkpoint and cosign two sizes out of order. The lock is released by :meth:`release`
        (or when the process ends).
        """
        if self._lock_fd is not None:
            return
        fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigurationError(f"another witness process serves {self.directory}") from None
        self._lock_fd = fd

    def release(self) -> None:
        """Let another process serve the folder."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @staticmethod
    @contextlib.contextmanager
    def _exclusive(path: Path, *, wait: bool) -> Iterator[None]:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            yield
        finally:
            os.close(fd)
