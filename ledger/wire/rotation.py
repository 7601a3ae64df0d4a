"""Ledger key rotation: a new ledger key introduced under the old key's signature.

A rotation is a signed note (C2SP ``signed-note``), signed by the outgoing key (it authorises the
change) and by the incoming key (it proves the new key is held)::

    liuhen ledger key rotation
    <verifier key text of the new key>
    after <origin> <tree size>          one line per log: the last size the old key signed

From the rotation on, checkpoints of a listed log above its size, and every checkpoint of a log
not listed (opened later), must be signed by the new key; those at or below it by the old one.
The verifier starts from the key the auditor trusts and follows the rotations in order, each of
which must be signed by the key then current. Imports only the standard library, ``cryptography``
and liuhen's pure modules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ledger.errors import VerificationError
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.note import Note, sign_note

_TITLE = "liuhen ledger key rotation"


@dataclass(frozen=True)
class Rotation:
    """The statement of one rotation."""

    new_key: PublicKey
    after: dict[str, int]
    """Origin -> the last tree size the outgoing key signed."""

    def text(self) -> str:
        """The note text (signed by both keys)."""
        lines = [_TITLE, self.new_key.verifier_text]
        lines += [f"after {origin} {size}" for origin, size in sorted(self.after.items())]
        return "\n".join(lines) + "\n"

    def sign(self, old: SigningKey, new: SigningKey) -> bytes:
        """The signed note."""
        if new.public != self.new_key:
            raise VerificationError("the incoming key does not match the rotation's new key")
        text = self.text()
        return Note(text=text, signatures=(sign_note(text, old), sign_note(text, new))).encode()

    @classmethod
    def parse(cls, data: bytes) -> tuple[Rotation, Note]:
        """The statement and its note; raise :class:`VerificationError` if malformed."""
        note = Note.parse(data)
        lines = note.text.rstrip("\n").split("\n")
        if len(lines) < 2 or lines[0] != _TITLE:
            raise VerificationError("not a liuhen ledger key rotation")
        after: dict[str, int] = {}
        for line in lines[2:]:
            word, _, rest = line.partition(" ")
            origin, _, size = rest.rpartition(" ")
            if word != "after" or not origin or not size.isdigit():
                raise VerificationError(f"rotation line {line!r} is not 'after <origin> <size>'")
            after[origin] = int(size)
        return cls(PublicKey.from_verifier_text(lines[1]), after), note


class KeyHistory:
    """Which ledger keys may sign which checkpoints, from trusted keys and verified rotations."""

    def __init__(self, trusted: Sequence[PublicKey]) -> None:
        if not trusted:
            raise VerificationError("no ledger key to start from")
        self.current: list[PublicKey] = list(trusted)
        self.eras: list[tuple[list[PublicKey], dict[str, int]]] = []
        """Earlier keys, each with the sizes up to which they signed."""

    def apply(self, data: bytes) -> None:
        """Follow one rotation; raise unless the current key and the new key both signed it."""
        rotation, note = Rotation.parse(data)
        note.verify(keys=self.current)
        note.verify(keys=[rotation.new_key])
        self.eras.append((self.current, rotation.after))
        self.current = [rotation.new_key]

    def apply_all(self, notes: Iterable[bytes]) -> None:
        """Follow rotations in order."""
        for data in notes:
            self.apply(data)

    def keys_for(self, origin: str, size: int) -> list[PublicKey]:
        """The ledger keys that may have signed the checkpoint of ``origin`` at ``size``."""
        for keys, after in self.eras:
            if origin in after and size <= after[origin]:
                return keys
        return self.current

    @property
    def all_keys(self) -> list[PublicKey]:
        """Every ledger key of the history (they also sign registrations and rejections)."""
        return [key for keys, _ in self.eras for key in keys] + self.current
