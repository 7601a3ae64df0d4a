"""Source keys: which key may sign which source's events, at each position of a log.

A log's key ring starts empty. A ``SourceKeyRegistered`` event signed by a registrar key (the
ledger key) adds a source key from the entry after it on; with ``replaces_key_id`` it also revokes
the old key at the same position (rotation). ``SourceKeyRevoked`` revokes. Ingest replays this to
decide what to accept; the offline verifier replays the same entries to check every source
signature. Imports only the standard library and ``cryptography``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger.errors import InvalidField, LedgerError, RevokedKey, UnknownKey
from ledger.wire.keys import PublicKey

REGISTRAR_SOURCE = "liuhen.registrar"
"""Source id in the envelope of registry events the ledger operator publishes."""
LEDGER_SOURCE = "liuhen.ledger"
"""Source id in the envelope of entries the ledger writes itself (rejections)."""
KEY_EVENTS = frozenset({"SourceKeyRegistered", "SourceKeyRevoked"})


@dataclass(frozen=True, slots=True)
class KeyChange:
    """A source-key registration or revocation, effective from ``from_index`` of its log."""

    key_id: str
    system_id: str
    public_key: str
    revoked: bool
    from_index: int

    def encode(self) -> bytes:
        """JSON of the change."""
        return json.dumps(
            {
                "key_id": self.key_id,
                "system_id": self.system_id,
                "public_key": self.public_key,
                "revoked": self.revoked,
                "from_index": self.from_index,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def decode(cls, state: bytes) -> KeyChange:
        """Parse :meth:`encode`'s output."""
        return cls(**json.loads(state))


@dataclass(frozen=True)
class RingKey:
    """A source key as a log's key ring holds it."""

    key_id: str
    system_id: str
    verifier: Ed25519PublicKey
    verifier_text: str
    revoked: bool
    raw: bytes
    """The 32-byte public key (what verifying worker processes receive)."""


class KeyRing:
    """The source keys of one log at one position, plus the registrar keys that may change them."""

    def __init__(self, *, registrars: Sequence[PublicKey], changes: Sequence[KeyChange] = ()) -> None:
        self.registrars = {
            k.key_id: RingKey(
                k.key_id,
                REGISTRAR_SOURCE,
                Ed25519PublicKey.from_public_bytes(k.raw),
                k.verifier_text,
                False,
                k.raw,
            )
            for k in registrars
        }
        self.keys: dict[str, RingKey] = {}
        self.changes = 0
        for change in changes:
            self.apply(change)

    def copy(self) -> KeyRing:
        """An independent copy (a batch classifies against a copy, kept only if it commits)."""
        ring = KeyRing(registrars=())
        ring.registrars = self.registrars
        ring.keys = dict(self.keys)
        ring.changes = self.changes
        return ring

    def apply(self, change: KeyChange) -> None:
        """Register or revoke a key from here on."""
        public = PublicKey.from_verifier_text(change.public_key)
        self.keys[change.key_id] = RingKey(
            change.key_id,
            change.system_id,
            Ed25519PublicKey.from_public_bytes(public.raw),
            change.public_key,
            change.revoked,
            public.raw,
        )
        self.changes += 1

    def resolve(self, key_id: str, system_id: str, *, registry_event: bool) -> RingKey:
        """The key that must have signed an event, or the reason it cannot be trusted."""
        if registry_event:
            key = self.registrars.get(key_id)
            if key is None:
                raise UnknownKey(
                    f"{key_id} is not a registrar key: source keys are registered by the ledger operator "
                    "('liuhen keys register')"
                )
            return key
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownKey(
                f"key {key_id} is not registered for {system_id}: ask the ledger operator to run "
                f"'liuhen keys register {system_id} --public-key <file>'"
            )
        if key.system_id != system_id:
            raise UnknownKey(f"key {key_id} is registered for {key.system_id}, not for {system_id}")
        if key.revoked:
            raise RevokedKey(f"key {key_id} of {system_id} was revoked; sign with the source's current key")
        return key


def key_changes(event_type: str, record: Mapping[str, Any], ring: KeyRing) -> list[KeyChange]:
    """The key-ring changes a verified registry event makes (effective index filled in later)."""
    system_id = record["system_id"]
    changes = []
    if event_type == "SourceKeyRegistered":
        try:
            public = PublicKey.from_verifier_text(record["public_key"])
        except LedgerError as exc:
            raise InvalidField(f"public_key is not a verifier key: {exc}") from exc
        existing = ring.keys.get(public.key_id)
        if existing is not None and existing.revoked:
            raise InvalidField(f"key {public.key_id} was revoked and cannot be registered again")
        changes.append(KeyChange(public.key_id, system_id, public.verifier_text, False, -1))
        revoke = record.get("replaces_key_id")
    else:
        revoke = record["key_id"]
    if revoke is not None:
        old = ring.keys.get(revoke)
        if old is None or old.system_id != system_id:
            raise InvalidField(f"cannot revoke {revoke}: it is not registered for {system_id}")
        changes.append(KeyChange(revoke, system_id, old.verifier_text, True, -1))
    return changes
