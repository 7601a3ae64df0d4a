"""Registering, rotating and revoking source systems' keys in the ledger (``liuhen keys``).

Each use case checks the ledger's key history first (:mod:`ledger.app.keys`), then publishes the
registry event through the registrar and waits for Kafka to acknowledge it. The event takes
effect from its ledger entry, once ingest has appended it.
"""

from __future__ import annotations

from contextlib import suppress

from ledger.app.assembly import open_store, registrar
from ledger.app.config import Config
from ledger.app.keys import (
    SourceKey,
    check_registration,
    check_revocation,
    ledger_key,
    publish_registration,
    publish_revocation,
    source_keys,
)
from ledger.errors import NotFound
from ledger.wire.keys import PublicKey


def ledger_source_keys(config: Config) -> dict[str, SourceKey]:
    """The source keys the ledger holds (none when there is no ledger yet)."""
    store = None
    with suppress(NotFound):
        store = open_store(config)
    try:
        return source_keys(store)
    finally:
        if store is not None:
            store.close()


def register_key(config: Config, system_id: str, public: PublicKey, *, replaces: str | None = None) -> None:
    """Register ``public`` for ``system_id`` (and revoke ``replaces`` at the same entry)."""
    check_registration(ledger_source_keys(config), system_id, public, replaces=replaces)
    with registrar(config, ledger_key(config)) as pub:
        publish_registration(pub, system_id, public, replaces=replaces)


def revoke_key(config: Config, system_id: str, key_id: str, *, reason: str) -> None:
    """Revoke a key ``system_id`` holds in the ledger."""
    check_revocation(ledger_source_keys(config), system_id, key_id)
    with registrar(config, ledger_key(config)) as pub:
        publish_revocation(pub, system_id, key_id, reason=reason)
