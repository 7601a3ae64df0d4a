"""Helpers to build signed events and run ingest in tests, through the real SDK and broker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.app.assembly import build_ingestor, open_store
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.sources import register_key
from ledger.errors import NotFound
from ledger.ingest.consumer import IngestStats
from ledger.sdk import Publisher
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.format import StoredEntry

CAMERA = "43020200001310000001"
T0 = datetime(2026, 5, 3, 6, 0, tzinfo=UTC)
ACTOR = {
    "kind": "PERSON",
    "user_id": "u1024",
    "name": "张伟",
    "unit": "株洲轨道交通",
    "role": "operator",
    "workstation": "ws-07",
    "ip": "10.2.3.4",
}
REGISTRY = SchemaRegistry.load()


def viewed(n: int = 0, **access: Any) -> dict[str, Any]:
    """Fields of a FootageViewed event (the n-th of a series, 5 minutes of footage each)."""
    start = T0 + timedelta(minutes=5 * n)
    return {
        "access": {
            "camera_id": CAMERA,
            "footage_start": start,
            "footage_end": start + timedelta(minutes=5),
            "reason": "patrol review",
            "legal_basis": None,
            "case_number": None,
            "authorization_id": None,
            "application_id": None,
            "outcome": "ALLOWED",
            **access,
        },
        "mode": "PLAYBACK",
    }


def registered_source(config: Config, source_id: str = "zz-metro") -> None:
    """Create a source key and register it in the ledger (a signed registry event)."""
    ensure_key(config, "ledger")
    key, _ = ensure_key(config, source_id)
    register_key(config, source_id, key.public)


@contextmanager
def publisher(
    config: Config, source_id: str = "zz-metro", *, key_name: str | None = None
) -> Iterator[Publisher]:
    """The SDK publisher of one source, signing with the key ``key_name`` (default: the source id)."""
    key, _ = ensure_key(config, key_name or source_id)
    with Publisher.connect(
        bootstrap=config.ingest.bootstrap,
        source_id=source_id,
        key=key,
        state_dir=config.state_dir,
        topic=config.ingest.topic,
        registry=REGISTRY,
    ) as pub:
        yield pub


def ingest(config: Config, *, idle: float = 2.0) -> IngestStats:
    """Run ingest in this process until the topic has been idle for ``idle`` seconds."""
    return build_ingestor(config, batch_size=None).run(idle_exit=idle)


def ingest_until_stored(config: Config, entries: int, *, within: float = 120.0) -> IngestStats:
    """Run ingest in this process until the logs hold ``entries`` entries in all, or ``within`` s pass.

    For tests that must not depend on how long a rebalance keeps the group quiet (``ingest``'s
    idle exit could come first).
    """
    stored = sum(len(log) for log in stored_logs(config).values())
    ingestor = build_ingestor(config, batch_size=None)
    if stored >= entries:
        ingestor.stop()

    def progress(stats: IngestStats) -> None:
        if stored + stats.appended + stats.rejected >= entries:
            ingestor.stop()

    deadline = threading.Timer(within, ingestor.stop)
    deadline.start()
    try:
        return ingestor.run(on_progress=progress)
    finally:
        deadline.cancel()


def stored_logs(config: Config) -> dict[str, list[StoredEntry]]:
    """Every log's stored entries (none before ingest has created the ledger)."""
    try:
        store = open_store(config)
    except NotFound:
        return {}
    try:
        return {origin: list(store.entries(origin)) for origin in store.origins()}
    finally:
        store.close()


def decode(entry: bytes) -> tuple[str, dict[str, Any]]:
    """Event type and record of a stored entry."""
    signed = SignedEvent.decode(entry)
    event_type, record = REGISTRY.decode(signed.schema, signed.body)
    return event_type.name, record
