"""What the ledger holds: per log size, head, last ingest, lag, rejections, witnesses; chains recomputed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from ledger.app.assembly import open_store
from ledger.app.config import Config
from ledger.app.witnessing import tracking_name
from ledger.errors import LedgerError
from ledger.ingest.broker import end_offsets
from ledger.ingest.store import kafka_tracking
from ledger.wire.avro import FINGERPRINT_SIZE, SchemaRegistry
from ledger.wire.format import StoredEntry, verify_chain


def check_chains(config: Config) -> dict[str, Counter[str]]:
    """Recompute every log's chain from its stored bytes (raise on the first break); count event types."""
    registry = SchemaRegistry.load()
    store = open_store(config)
    try:
        counts: dict[str, Counter[str]] = {}
        for origin in store.origins():
            kinds: Counter[str] = Counter()

            def counted(entries: Iterator[StoredEntry], kinds: Counter[str] = kinds) -> Iterator[StoredEntry]:
                for stored in entries:
                    kinds[registry.type_of(stored.entry[:FINGERPRINT_SIZE]).name] += 1
                    yield stored

            verify_chain(counted(store.entries(origin)))
            counts[origin] = kinds
        return counts
    finally:
        store.close()


def log_status(config: Config) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of ``liuhen status`` and, if Kafka could not be asked for lag, why not.

    Each row names the log's newest checkpoint size and, for each witness of ``LIUHEN_WITNESSES``,
    the newest size it cosigned (``liuhen witness push`` records it with the cosignature; None:
    none yet).
    """
    store = open_store(config)
    note = None
    try:
        try:
            ends = end_offsets(config.ingest.bootstrap, config.ingest.topic)
        except LedgerError as exc:
            ends, note = {}, str(exc)
        rows = []
        for origin in store.origins():
            head = store.head(origin)
            last = store.entry(origin, head.size - 1) if head.size else None
            partition = int(origin.rsplit("/", 1)[1])
            tracked = store.tracked_offset(kafka_tracking(config.ingest.topic, partition))
            end = ends.get(partition)
            rows.append(
                {
                    "origin": origin,
                    "size": head.size,
                    "chain_head": head.head.hex(),
                    "last_ingest_us": last.ingested_at_us if last else None,
                    "last_offset": tracked,
                    "lag": None if end is None else end - (tracked + 1 if tracked is not None else 0),
                    "rejected": store.rejection_count(origin),
                    "checkpoint": latest[0] if (latest := store.latest_checkpoint(origin)) else None,
                    "witnesses": [
                        {
                            "witness": witness.key_id,
                            "url": witness.url,
                            "cosigned": store.tracked_offset(tracking_name(witness, origin)),
                        }
                        for witness in config.witnesses
                    ],
                }
            )
        return rows, note
    finally:
        store.close()
