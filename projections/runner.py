"""The projection runner: pulls the event store's notification log into the read models.

The SQLite recorder cannot be subscribed to, so the runner pulls ``select_notifications`` in
batches (entries only, :mod:`projections.feed`) and applies them with
:class:`projections.projector.Projector`. Each batch's rows and the last notification id are
written in one SQLite transaction: a crash never applies an event twice or skips one.
``--follow`` keeps polling; ``--rebuild`` drops every read model and replays the whole ledger,
without the indexes only the investigators' queries read (``query_indexes`` in
:mod:`projections.tables`): :meth:`ProjectionRunner.run` builds those once it has caught up, one
sort each instead of an index insert per event. A backlog of at least ``PREFETCH_AFTER`` entries
(a rebuild, a long pause) is read and decoded by a second process while this one writes
(:mod:`projections.prefetch`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from ledger.errors import ProjectionError, ProjectionStopped
from ledger.ingest.store import LedgerStore
from ledger.wire.avro import SchemaRegistry
from projections import tables
from projections.feed import Batch, read_batch
from projections.prefetch import Prefetcher, fewer_collections
from projections.projector import Projector
from projections.rules import Rules, Thresholds

CACHE_KIB = 64 * 1024
"""SQLite page cache of the read-model connection."""
PREFETCH_AFTER = 50_000
"""Entries behind the ledger from which a second process reads ahead (its start-up costs ~0.5 s)."""
PREFETCH_BATCH = 10_000
"""Entries a batch while a second process reads ahead: fewer commits, and each index page a
commit writes holds more new rows."""
PAGE_SIZE = 16_384
"""Page size of a new read-model file: a quarter of the pages (and B-tree levels) to write for
the same rows as SQLite's default 4 KiB."""


@dataclass
class RunStats:
    """What a run did."""

    events: int = 0
    read_ahead: int = 0
    """Of ``events``, those read and decoded by a second process."""
    batches: int = 0
    position: int = 0
    seconds: float = 0.0
    stopped: bool = False
    """Whether the run stopped when asked, before it had caught up (the next run resumes)."""


STOP_CHECK = 256
"""Events applied between two looks at whether the run is asked to stop."""


def open_db(path: Path | str, *, create: bool = True) -> sqlite_utils.Database:
    """The read-model database, with its tables created (WAL, so queries run while it is written).

    ``create=False`` (the investigators' queries) opens read models that ``liuhen project`` built,
    of this version, and never creates or drops a table. A file that is not a read-model database
    raises :class:`ProjectionError` saying how to rebuild it.
    """
    try:
        return _open_db(path, create=create)
    except sqlite3.DatabaseError as exc:
        raise ProjectionError(
            f"{path} is not a liuhen read-model database ({exc}): move it aside and run "
            "'liuhen project' to build the read models again from the ledger"
        ) from exc


@contextmanager
def writing(db: sqlite_utils.Database) -> Iterator[None]:
    """One write transaction, its lock taken at once (``BEGIN IMMEDIATE``).

    A transaction that reads and then writes cannot take the write lock once another connection
    (the alert publisher emptying the outbox) has committed since its read began: SQLite fails it
    at once as busy, without waiting. Taken first, the lock is waited for like any other.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def _open_db(path: Path | str, *, create: bool) -> sqlite_utils.Database:
    new = str(path) == ":memory:" or not Path(path).exists()
    if str(path) != ":memory:" and create:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    if new:
        db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only before the first table is created
    if str(path) != ":memory:":
        db.enable_wal()
        # WAL with synchronous=NORMAL never corrupts the file and commits without fsync; a power
        # cut may lose the last commits, rows and position together: they are replayed.
        db.execute("PRAGMA synchronous = NORMAL")
        # The pages every insert touches (each camera's, actor's and source's newest index pages)
        # stay cached: with SQLite's default 2 MiB they are read again from the OS for every event.
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if create:
        tables.create(db)
    elif tables.version(db) != tables.SCHEMA_VERSION:
        db.close()
        raise ProjectionError(
            f"the read models at {path} are not of this version of liuhen: run 'liuhen project' "
            "(it rebuilds them from the ledger)"
        )
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
        prefetch_after: int | None = PREFETCH_AFTER,
        prefetch_batch: int = PREFETCH_BATCH,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.store = store
        self.db = db
        self.registry = (registry or SchemaRegistry.load()).plain()
        self.batch_size = batch_size
        self.prefetch_after = prefetch_after
        """Backlog from which a second process reads ahead; ``None``: never."""
        self.prefetch_batch = prefetch_batch
        self.projector = Projector(db, rules=Rules(db, thresholds=thresholds))
        self._indexed = False
        self._feed: Prefetcher | None = None

    @property
    def position(self) -> int:
        """The last notification id applied."""
        row = self.db.execute(
            f"SELECT notification_id FROM {tables.POSITION_TABLE} WHERE name = 'ledger'"  # noqa: S608
        ).fetchone()
        return int(row[0]) if row else 0

    def rebuild(self) -> None:
        """Drop every read model; the next run replays the whole ledger."""
        with writing(self.db):
            tables.drop(self.db)
            tables.create(self.db, query_indexes=False)  # built by run() once it has caught up
        self._indexed = False

    def run_once(self, *, fail_after: int | None = None, stop: threading.Event | None = None) -> int:
        """Apply one batch; return how many events it held (0: caught up).

        ``fail_after`` raises after that many events of the batch, before anything commits: a
        stub to inject a crash in tests.
        """
        batch = read_batch(self.store, self.registry, self.position, self.batch_size)
        if batch is None:
            return 0
        self.apply(batch, fail_after=fail_after, stop=stop)
        return len(batch.items)

    def apply(
        self, batch: Batch, *, fail_after: int | None = None, stop: threading.Event | None = None
    ) -> None:
        """Apply one batch and record its last notification id, in one transaction.

        ``stop``, once set, rolls the batch back within :data:`STOP_CHECK` events, raising
        :class:`ProjectionStopped` (which :meth:`run` takes as the end of the run).
        """
        with writing(self.db):
            self.projector.begin()
            for count, item in enumerate(batch.items):
                if fail_after is not None and count == fail_after:
                    raise ProjectionError(f"injected failure after {count} events")
                if stop is not None and count % STOP_CHECK == STOP_CHECK - 1 and stop.is_set():
                    raise ProjectionStopped(f"asked to stop after {count} events of the batch")
                self.projector.apply(item)
            self.projector.finish()
            self.db.execute(
                f"UPDATE {tables.POSITION_TABLE} SET notification_id = ? WHERE name = 'ledger'",  # noqa: S608
                [batch.last],
            )

    def _backlog(self) -> int:
        """Notifications not applied yet (of every topic: an upper bound on entries)."""
        return (self.store.recorder.max_notification_id() or 0) - self.position

    def _prefetched(
        self,
        stats: RunStats,
        began: float,
        progress: Callable[[RunStats], None] | None,
        stop: threading.Event,
    ) -> None:
        """Apply the backlog as a second process reads and decodes it."""
        with (
            fewer_collections(),
            Prefetcher(env=self.store.env, start=self.position, batch_size=self.prefetch_batch) as feed,
        ):
            self._feed = feed
            if stop.is_set():  # asked before the reader was there to be ended
                return
            for batch in feed:
                if stop.is_set():
                    return
                self.apply(batch, stop=stop)
                stats.events += len(batch.items)
                stats.read_ahead += len(batch.items)
                stats.batches += 1
                if progress is not None:
                    stats.seconds = time.monotonic() - began
                    progress(stats)

    def run(
        self,
        *,
        follow: bool = False,
        poll_interval: float = 0.5,
        stop: threading.Event | None = None,
        progress: Callable[[RunStats], None] | None = None,
    ) -> RunStats:
        """Apply batches until caught up (or, following, until ``stop`` is set).

        Once ``stop`` is set the run ends within :data:`STOP_CHECK` events, the batch in hand
        rolled back; what :meth:`interrupt` cut short (a statement, the reading process) ends it
        the same way. The next run resumes at the last batch applied.
        """
        stats = RunStats()
        began = time.monotonic()
        stop = stop or threading.Event()
        caught_up = False
        try:
            caught_up = self._run(
                stats, began, follow=follow, poll_interval=poll_interval, stop=stop, progress=progress
            )
        except (ProjectionError, sqlite3.OperationalError):  # ProjectionStopped, or what interrupt() cut
            if not stop.is_set():
                raise
        finally:
            self._feed = None
        stats.stopped = not caught_up
        stats.position = self.position
        stats.seconds = time.monotonic() - began
        return stats

    def _run(
        self,
        stats: RunStats,
        began: float,
        *,
        follow: bool,
        poll_interval: float,
        stop: threading.Event,
        progress: Callable[[RunStats], None] | None,
    ) -> bool:
        """:meth:`run`'s loop; True if it caught up (not following), False if asked to stop."""
        if self.prefetch_after is not None and self._backlog() >= self.prefetch_after and _shared(self.store):
            self._prefetched(stats, began, progress, stop)
        while not stop.is_set():
            count = self.run_once(stop=stop)
            if count:
                stats.events += count
                stats.batches += 1
                if progress is not None:
                    stats.seconds = time.monotonic() - began
                    progress(stats)
                continue
            if not self._indexed:  # caught up: the indexes a rebuild left out, where missing; alerts on
                with writing(self.db):
                    tables.create_query_indexes(self.db)
                    tables.alerting(self.db, on=True)
                self._indexed = True
            if not follow:
                return True
            stop.wait(poll_interval)
        return False

    def interrupt(self) -> None:
        """Cut short what the run is waiting for (from another thread, once ``stop`` is set).

        That is the read models' statement running now, and the second process reading ahead.
        """
        self.db.conn.interrupt()
        feed = self._feed
        if feed is not None:
            feed.kill()


def _shared(store: LedgerStore) -> bool:
    """Whether another process can open the same store (not an in-memory SQLite database)."""
    if store.env.get("PERSISTENCE_MODULE", "").endswith("sqlite"):
        name = store.env.get("SQLITE_DBNAME", "")
        return bool(name) and ":memory:" not in name and "mode=memory" not in name
    return True
