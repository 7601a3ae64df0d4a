"""Ledger key rotation: a new ledger key introduced by a statement both keys sign.

A rotation is a signed note (C2SP ``signed-note``), signed by the outgoing key (it authorises the
change) and by the incoming key (it proves the new key is held)::

    liuhen ledger key rotation
    <verifier key text of the new key>
    from <verifier key text of the outgoing key>
    after <origin> <tree size>          one line per log: the last size the old key signed

From the rotation on, checkpoints of a listed log above its size, and every checkpoint of a log
not listed (opened later), must be signed by the new key; those at or below it by the old one.
Rotations form a chain: each names the key before it and the key after it, and both sign it. An
auditor may trust any key of the chain (the first, the newest, one in between): the statements
it signed vouch for its neighbours, theirs for the next, and so on in both directions
(:class:`KeyHistory`). Ingest takes the new key only at a batch boundary: the rotation is recorded
in the same transaction as a fence slot of every log, so no batch signed with the old key can
follow it (:meth:`ledger.ingest.store.LedgerStore.rotate`).

Imports only the standard library, ``cryptography`` and liuhen's pure modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.errors import LedgerError, VerificationError
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.note import Note, sign_note

_TITLE = "liuhen ledger key rotation"


@dataclass(frozen=True)
class Rotation:
    """The statement of one rotation."""

    new_key: PublicKey
    old_key: PublicKey
    after: dict[str, int]
    """Origin -> the last tree size the outgoing key signed."""

    def text(self) -> str:
        """The note text (signed by both keys)."""
        lines = [_TITLE, self.new_key.verifier_text, f"from {self.old_key.verifier_text}"]
        lines += [f"after {origin} {size}" for origin, size in sorted(self.after.items())]
        return "\n".join(lines) + "\n"

    def sign(self, old: SigningKey, new: SigningKey) -> bytes:
        """The signed note."""
        if new.public != self.new_key or old.public != self.old_key:
            raise VerificationError("the keys signing a rotation must be the ones it names")
        text = self.text()
        return Note(text=text, signatures=(sign_note(text, old), sign_note(text, new))).encode()

    @classmethod
    def parse(cls, data: bytes) -> tuple[Rotation, Note]:
        """The statement and its note; raise :class:`VerificationError` if malformed."""
        note = Note.parse(data)
        lines = note.text.rstrip("\n").split("\n")
        if len(lines) < 3 or lines[0] != _TITLE or not lines[2].startswith("from "):
            raise VerificationError("not a liuhen ledger key rotation (title, new key, 'from <old key>')")
        after: dict[str, int] = {}
        for line in lines[3:]:
            word, _, rest = line.partition(" ")
            origin, _, size = rest.rpartition(" ")
            if word != "after" or not origin or not size.isdigit():
                raise VerificationError(f"rotation line {line!r} is not 'after <origin> <size>'")
            after[origin] = int(size)
        new_key = PublicKey.from_verifier_text(lines[1])
        old_key = PublicKey.from_verifier_text(lines[2].removeprefix("from "))
        return cls(new_key, old_key, after), note

    def verify(self, note: Note) -> None:
        """Return None if both keys the statement names signed it; else raise."""
        note.verify(keys=[self.old_key])
        note.verify(keys=[self.new_key])


def newest_key(statements: Sequence[bytes]) -> PublicKey | None:
    """The key the newest rotation brought in (None: the ledger key was never rotated)."""
    return Rotation.parse(statements[-1])[0].new_key if statements else None


def rotation_keys(statements: Iterable[bytes]) -> list[PublicKey]:
    """Every ledger key the rotations name, oldest first."""
    keys: list[PublicKey] = []
    for statement in statements:
        rotation, _ = Rotation.parse(statement)
        keys += [k for k in (rotation.old_key, rotation.new_key) if k not in keys]
    return keys


class KeyHistory:
    """Which ledger keys may sign which checkpoints, from trusted keys and verified rotations."""

    def __init__(self, trusted: Sequence[PublicKey]) -> None:
        if not trusted:
            raise VerificationError("no ledger key to start from")
        self.trusted = list(trusted)
        self.current: list[PublicKey] = list(trusted)
        self.eras: list[tuple[list[PublicKey], dict[str, int]]] = []
        """Earlier keys, each with the sizes up to which they signed."""

    @classmethod
    def build(cls, trusted: Sequence[PublicKey], statements: Sequence[bytes]) -> tuple[KeyHistory, list[str]]:
        """The history from ``trusted`` through the rotation chain, and a line for each rotation refused.

        The chain is followed from each era whose key is trusted, forwards and backwards, a
        rotation at a time, each checked against the two keys it names (both sign it). A rotation
        that does not verify, or does not connect to its neighbour, ends the chain there: its
        eras are not vouched for (their checkpoints are then reported unsigned).
        """
        history = cls(trusted)
        refused: list[str] = []
        rotations: list[Rotation] = []
        for number, statement in enumerate(statements, start=1):
            try:
                rotation, note = Rotation.parse(statement)
                rotation.verify(note)
            except LedgerError as exc:
                refused.append(f"rotation {number} does not verify: {exc}")
                break
            if rotations and rotations[-1].new_key != rotation.old_key:
                refused.append(
                    f"rotation {number} does not start from the key rotation {number - 1} brought in"
                )
                break
            rotations.append(rotation)
        eras = [r.old_key for r in rotations] + ([rotations[-1].new_key] if rotations else [])
        vouched = [any(key.raw == t.raw for t in trusted) for key in eras] or [True]
        # a rotation connects two eras: a vouched era vouches for its neighbours
        for _ in range(len(eras)):
            for n in range(len(eras) - 1):
                vouched[n] = vouched[n + 1] = vouched[n] or vouched[n + 1]
        if rotations and not any(vouched):
            refused.append("no key of the rotation chain is one you trust: the rotations are ignored")
            return history, refused
        history.eras = [
            ([era] if vouched[n] else [], rotation.after)
            for n, (era, rotation) in enumerate(zip(eras, rotations, strict=False))
        ]
        if rotations:
            history.current = [eras[-1]] if vouched[-1] else []
        return history, refused

    def keys_for(self, origin: str, size: int) -> list[PublicKey]:
        """The ledger keys that may have signed the checkpoint of ``origin`` at ``size``."""
        for keys, after in self.eras:
            if origin in after and size <= after[origin]:
                return keys
        return self.current

    @property
    def all_keys(self) -> list[PublicKey]:
        """Every vouched ledger key of the history (they also sign registrations and rejections)."""
        return [key for keys, _ in self.eras for key in keys] + self.current
