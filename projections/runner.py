"""The projection runner: pulls the event store's notification log into the read models.

The SQLite recorder cannot be subscribed to, so the runner pulls ``select_notifications`` in
batches (entries only), decodes each entry and applies it with :class:`projections.project.Projector`.
Each batch's rows and the last notification id are written in one SQLite transaction: a crash
never applies an event twice or skips one. ``--follow`` keeps polling; ``--rebuild`` drops every
read model and replays the whole ledger, without the indexes only the investigators' queries read
(``query_indexes`` in :mod:`projections.tables`): :meth:`ProjectionRunner.run` builds those once
it has caught up, one sort each instead of an index insert per event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from ledger.avro import SchemaRegistry, SignedEvent
from ledger.errors import LedgerError, ProjectionError
from ledger.format import StoredEntry
from ledger.store import ENTRY_TOPIC, LedgerStore
from projections import tables
from projections.project import Projector

CACHE_KIB = 64 * 1024
"""SQLite page cache of the read-model connection."""


@dataclass
class RunStats:
    """What a run did."""

    events: int = 0
    batches: int = 0
    position: int = 0
    seconds: float = 0.0


def open_db(path: Path | str) -> sqlite_utils.Database:
    """The read-model database, with its tables created (WAL, so queries run while it is written)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    if str(path) != ":memory:":
        db.enable_wal()
        # WAL with synchronous=NORMAL never corrupts the file and commits without fsync; a power
        # cut may lose the last commits, rows and position together: they are replayed.
        db.execute("PRAGMA synchronous = NORMAL")
        # The pages every insert touches (each camera's, actor's and source's newest index pages)
        # stay cached: with SQLite's default 2 MiB they are read again from the OS for every event.
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    tables.create(db)
    return db


class ProjectionRunner:
    """Applies the ledger to the read models, batch by batch, exactly once."""

    def __init__(
        self,
        *,
        store: LedgerStore,
        db: sqlite_utils.Database,
        registry: SchemaRegistry | None = None,
        batch_size: int = 2000,
    ) -> None:
        self.store = store
        self.db = db
        self.registry = registry or SchemaRegistry.load()
        self.batch_size = batch_size
        self.projector = Projector(db)
        self._indexed = False

    @property
    def position(self) -> int:
        """The last notification id applied."""
        row = self.db.execute(
            f"SELECT notification_id FROM {tables.POSITION_TABLE} WHERE name = 'ledger'"  # noqa: S608
        ).fetchone()
        return int(row[0]) if row else 0

    def rebuild(self) -> None:
        """Drop every read model; the next run replays the whole ledger."""
        with self.db.atomic():
            tables.drop(self.db)
            tables.create(self.db, query_indexes=False)  # built by run() once it has caught up
        self._indexed = False

    def run_once(self, *, fail_after: int | None = None) -> int:
        """Apply one batch; return how many events it held (0: caught up).

        ``fail_after`` raises after that many events of the batch, before anything commits: a
        stub to inject a crash in tests.
        """
        start = self.position
        notifications = self.store.recorder.select_notifications(
            start=start, limit=self.batch_size, topics=[ENTRY_TOPIC], inclusive_of_start=False
        )
        if not notifications:
            return 0
        with self.db.atomic():
            for count, note in enumerate(notifications):
                if fail_after is not None and count == fail_after:
                    raise ProjectionError(f"injected failure after {count} events")
                origin = str(note.originator_id).removeprefix("log:")
                try:
                    signed = SignedEvent.decode(StoredEntry.entry_of(note.originator_version, note.state))
                    event_type, record = self.registry.decode(signed.schema, signed.body)
                except LedgerError as exc:
                    raise ProjectionError(
                        f"{origin} entry {note.originator_version} does not decode: {exc}"
                    ) from exc
                self.projector.apply(origin, note.originator_version, event_type.name, record)
            self.db.execute(
                f"UPDATE {tables.POSITION_TABLE} SET notification_id = ? WHERE name = 'ledger'",  # noqa: S608
                [notifications[-1].id],
            )
        return len(notifications)

    def run(
        self,
        *,
        follow: bool = False,
        poll_interval: float = 0.5,
        stop: threading.Event | None = None,
        progress: Callable[[RunStats], None] | None = None,
    ) -> RunStats:
        """Apply batches until caught up (or, following, until ``stop`` is set)."""
        stats = RunStats()
        began = time.monotonic()
        stop = stop or threading.Event()
        while not stop.is_set():
            count = self.run_once()
            if count:
                stats.events += count
                stats.batches += 1
                if progress is not None:
                    stats.seconds = time.monotonic() - began
                    progress(stats)
                continue
            if not self._indexed:  # caught up: the indexes a rebuild left out, where missing
                with self.db.atomic():
                    tables.create_query_indexes(self.db)
                self._indexed = True
            if not follow:
                break
            stop.wait(poll_interval)
        stats.position = self.position
        stats.seconds = time.monotonic() - began
        return stats
