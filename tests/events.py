"""Helpers to build signed events and run ingest in tests: through the real SDK and broker, or without Kafka.

:class:`OfflineLedger` is ingest without the broker: the SDK's :class:`EventSigner` makes the
messages a source would publish, and the real :class:`LogWriter` appends them (validation, source
signatures checked against the key ring, dedupe, chaining, checkpoints) to a real SQLite store.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.app.assembly import build_ingestor, open_store
from ledger.app.config import Config
from ledger.app.keys import REGISTRAR_ACTOR, ensure_key
from ledger.app.sources import register_key
from ledger.errors import NotFound
from ledger.ingest.consumer import IngestStats
from ledger.ingest.settings import IngestSettings
from ledger.ingest.store import LedgerStore
from ledger.ingest.writer import BatchResult, LogWriter, Message
from ledger.sdk import EventSigner, Published, Publisher, kafka_headers
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.format import StoredEntry, to_micros
from ledger.wire.keyring import REGISTRAR_SOURCE
from ledger.wire.keys import SigningKey

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


def publisher(
    config: Config, source_id: str = "zz-metro", *, key_name: str | None = None, **producer_config: Any
) -> Publisher:
    """The SDK publisher of one source, signing with the key ``key_name`` (default: the source id).

    A context manager, as every :class:`Publisher` is; ``producer_config`` goes to
    :meth:`Publisher.connect`.
    """
    key, _ = ensure_key(config, key_name or source_id)
    return Publisher.connect(
        bootstrap=config.ingest.bootstrap,
        source_id=source_id,
        key=key,
        state_dir=config.state_dir,
        topic=config.ingest.topic,
        registry=REGISTRY,
        **producer_config,
    )


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


# -- without Kafka ------------------------------------------------------------------------------


def kafka_message(offset: int, wire: bytes, key: bytes | None = None) -> Message:
    """``wire`` as Kafka delivers what the SDK sent: at ``offset``, with the SDK's headers."""
    return Message(offset, wire, key, kafka_headers(wire), 1_700_000_000_000)


def log_writer(
    settings: IngestSettings, store: LedgerStore, ledger_key: SigningKey, pool: Executor, owner: str
) -> LogWriter:
    """The writer of partition 0's log, the ledger key its only registrar (as ``liuhen ingest`` has it)."""
    return LogWriter(
        settings=settings,
        partition=0,
        store=store,
        registry=REGISTRY,
        ledger_key=ledger_key,
        registrars=[ledger_key.public],
        pool=pool,
        owner=owner,
    )


class OfflinePublisher:
    """:class:`Publisher`'s ``sign`` and ``publish``, with what it publishes kept as Kafka messages.

    The events are the SDK's (its :class:`EventSigner`); sequence numbers are counted in memory.
    """

    def __init__(self, signer: EventSigner, sent: list[Message]) -> None:
        self.signer = signer
        self.sent = sent
        self.last_seq = 0

    def sign(self, event_type: str, fields: Mapping[str, Any], **envelope: Any) -> tuple[bytes, Published]:
        """Sign one event with the next sequence number, used whether it is sent or not.

        ``envelope``: ``actor``, and optionally ``occurred_at`` and ``event_id`` (as the SDK takes them).
        """
        self.last_seq += 1
        return self.signer.sign(event_type, fields, seq=self.last_seq, **envelope)

    def publish(
        self, event_type: str, fields: Mapping[str, Any], *, kafka_key: str | None = None, **envelope: Any
    ) -> Published:
        """Sign one event; keep it as the partition's next message, keyed by source (or ``kafka_key``)."""
        wire, published = self.sign(event_type, fields, **envelope)
        key = (kafka_key or self.signer.source_id).encode()
        self.sent.append(kafka_message(len(self.sent), wire, key))
        return published


class OfflineLedger:
    """A ledger in a SQLite file under ``home``, fed by :class:`OfflinePublisher` through :class:`LogWriter`.

    All sources share one partition (one log); its messages are appended a batch at a time, as
    ingest appends what one poll returns.
    """

    def __init__(self, home: Path, *, batch_size: int = 200, ledger_key: SigningKey | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.settings = IngestSettings(bootstrap="", batch_size=batch_size)
        self.store_env = {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(home / "ledger.db"),
        }
        self.ledger_key = ledger_key or SigningKey.generate("ledger")
        self.messages: list[Message] = []
        signer = EventSigner(source_id=REGISTRAR_SOURCE, key=self.ledger_key, registry=REGISTRY)
        self.registrar = OfflinePublisher(signer, self.messages)

    def publisher(self, source_id: str = "zz-metro") -> OfflinePublisher:
        """A new source's publisher, its key registered first (a registry event signed by the ledger key)."""
        key = SigningKey.generate(source_id)
        self.registrar.publish(
            "SourceKeyRegistered",
            {"system_id": source_id, "public_key": key.public.verifier_text, "replaces_key_id": None},
            actor=REGISTRAR_ACTOR,
            kafka_key=source_id,
        )
        return OfflinePublisher(EventSigner(source_id=source_id, key=key, registry=REGISTRY), self.messages)

    def open_store(self) -> LedgerStore:
        """The ledger's store (the caller closes it)."""
        return LedgerStore.open(self.store_env)

    def ingest(self, *, at: datetime | None = None, own_time: bool = False) -> BatchResult:
        """Append the messages not in the log yet; return what their batches did, added up.

        The ledger's time is the wall clock's, or ``at``; with ``own_time``, each message is a
        batch of its own logged at the event's own time (as if published the moment it happened;
        the ledger's time still never goes back).
        """
        total = BatchResult()
        with closing(self.open_store()) as store, ThreadPoolExecutor(self.settings.verify_processes) as pool:
            writer = log_writer(self.settings, store, self.ledger_key, pool, "tests")
            pending = self.messages[writer.next_offset() or 0 :]
            size = 1 if own_time else self.settings.batch_size
            for batch in (pending[n : n + size] for n in range(0, len(pending), size)):
                if own_time:
                    own = decode(batch[0].value)[1]["envelope"]["occurred_at"]
                    writer.clock = lambda own=own: to_micros(own)
                elif at is not None:
                    writer.clock = lambda: to_micros(at)
                result = writer.write(batch)
                total.appended += result.appended
                total.rejected += result.rejected
                total.duplicates += result.duplicates
        return total
