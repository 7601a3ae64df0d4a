"""The ledger's event store, through the ``eventsourcing`` library's own recorders.

The backend is chosen by the library's environment variables (``PERSISTENCE_MODULE``,
``SQLITE_DBNAME``, ``POSTGRES_*``); liuhen sets ``ORIGINATOR_ID_TYPE=text`` so streams have
readable names. Everything lives in the library's one events table and its tracking table
(``stored_events`` and ``notification_tracking`` on SQLite; ``liuhen_events`` and ``liuhen_tracking``
in ``POSTGRES_SCHEMA``, default ``public``, on PostgreSQL):

* ``log:<origin>`` version *i*: entry *i* of the log (:class:`ledger.wire.format.StoredEntry`);
* ``event:<uuid>`` version 0: the log, index and leaf hash of the entry carrying that event id;
* ``keys:<origin>`` version *n*: the *n*-th source-key change applied in that log (JSON);
* ``rejections:<origin>`` version *n*: the index of the *n*-th rejection entry of that log;
* ``checkpoints:<origin>`` version *size*: the ledger-signed checkpoint (C2SP note) at that size;
* ``cosigned:<origin>:<size>`` version *n*: the *n*-th witness cosignature of that checkpoint;
* tracking ``witness:<witness key id>:<origin>``: the newest size of that log the witness cosigned;
* ``owner:<origin>`` version *n*: the log's *n*-th write slot (its fence, see below);
* ``logs`` version *n*: the origin of the *n*-th log ever opened;
* ``ledger-keys`` version *n*: the *n*-th ledger key rotation (:mod:`ledger.wire.rotation`).

Each batch is one ``insert_events`` call, so one transaction, together with a tracking record
(``kafka:<topic>:<partition>`` → last Kafka offset in the batch). The library's unique
``(originator_id, originator_version)`` constraint is what makes a fork impossible: a second
writer's entry at an existing index, a second entry for an event id, or a second registration of a
log each make the whole batch fail. Its single-row tracking refuses an offset that does not move
forward, so a stale writer cannot record old offsets either.

**Ownership fence.** The same constraint also decides *who* may write a log. Its ``owner:<origin>``
stream is a sequence of slots: a writer takes over a log by **claiming** it (inserting the next
slot, naming itself), and each of its batches takes the slot after its claim or its previous
batch, in the batch's own transaction. A claim by another writer takes that slot first, so every
later batch of the writer it displaced fails whole with :class:`OwnershipLost`, whether or not the
new owner has appended anything yet. A writer reads the log's head, offset and key ring only
after its claim is stored, so what it reads cannot change behind its back. Which writer *should*
own a log is Kafka's decision (:mod:`ledger.ingest.consumer` confirms each claim against the consumer
group's generation); the fence makes sure a writer Kafka has moved on from can no longer write.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.domain import EventSourcingError
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    InternalError,
    PersistenceError,
    ProcessRecorder,
    StoredEvent,
    Tracking,
)
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import Environment, strtobool

from ledger.errors import ConfigurationError, NotFound, OwnershipLost, StoreError, VerificationError
from ledger.wire.format import Chain, StoredEntry, leaf_hash
from ledger.wire.keyring import KeyChange
from ledger.wire.merkle import NodeReader, nodes_needed
from ledger.wire.note import SignedCheckpoint

ENTRY_TOPIC = "liuhen.entry/1"
SEEN_TOPIC = "liuhen.seen/1"
KEYS_TOPIC = "liuhen.keys/1"
LOG_TOPIC = "liuhen.log/1"
REJECTION_TOPIC = "liuhen.rejection/1"
CHECKPOINT_TOPIC = "liuhen.checkpoint/1"
COSIGNATURE_TOPIC = "liuhen.cosignature/1"
ROTATION_TOPIC = "liuhen.key-rotation/1"
OWNER_TOPIC = "liuhen.owner/1"
LOGS_STREAM = "logs"
BACKENDS = ("eventsourcing.sqlite", "eventsourcing.postgres")
"""The ``eventsourcing`` persistence modules liuhen keeps its ledger with."""
_PAGE = 1000
_CLAIM_ATTEMPTS = 20
_CREATE_ATTEMPTS = 5
T = TypeVar("T")
P = ParamSpec("P")
_CACHED_HEIGHT = 8
_CACHED_NODES = 250_000


def log_stream(origin: str) -> str:
    """Stream name of a log's entries."""
    return f"log:{origin}"


def seen_stream(event_id: UUID) -> str:
    """Stream name of an event id's marker."""
    return f"event:{event_id}"


def kafka_tracking(topic: str, partition: int) -> str:
    """Tracking name under which a partition's last stored Kafka offset is kept."""
    return f"kafka:{topic}:{partition}"


def owner_stream(origin: str) -> str:
    """Stream name of a log's ownership fence (claims and the batches of each claimant)."""
    return f"owner:{origin}"


def _reads(method: Callable[P, T]) -> Callable[P, T]:
    """Translate the library's errors on a read into :class:`StoreError` (e.g. the server is down)."""

    @functools.wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except PersistenceError as exc:
            raise StoreError(f"event store failed to read ({method.__name__}): {exc}") from exc

    return translated


@dataclass(frozen=True, slots=True)
class Seen:
    """Where an event id was first appended."""

    origin: str
    index: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class Batch:
    """What one transaction appends to one log."""

    origin: str
    entries: Sequence[StoredEntry]
    event_ids: Mapping[int, UUID]
    """Entry index → event id, for the entries that carry a source event (not rejections)."""
    leaves: Sequence[bytes] = ()
    """The leaf hashes of ``entries``, in order, when the writer has them already (else computed)."""
    key_changes: Sequence[KeyChange] = ()
    key_changes_before: int = 0
    rejections: Sequence[int] = ()
    """Indices of the batch's rejection entries."""
    rejections_before: int = 0
    checkpoint: bytes | None = None
    """The ledger-signed checkpoint of the log after this batch."""
    tracking: Tracking | None = None
    fence: int | None = None
    """The ``owner:<origin>`` slot this batch takes: the one after its writer's claim or previous
    batch. None for writers outside ingest (tools and tests that own the store outright)."""
    owner: str = ""
    """Who writes the batch (recorded in its fence slot)."""


class LedgerStore:
    """Reads and appends ledger logs through an ``eventsourcing`` process recorder."""

    def __init__(self, *, recorder: ProcessRecorder, env: Environment) -> None:
        self.recorder = recorder
        self.env = env
        self._upper_nodes: dict[tuple[str, int, int], bytes] = {}

    @classmethod
    def open(
        cls,
        env: Mapping[str, str],
        *,
        create: bool = True,
        on_slow: Callable[[str], None] | None = None,
    ) -> LedgerStore:
        """Open the store named by the library's environment variables.

        ``create``: create its tables if they are missing (ingest, tools that write); otherwise a
        store that holds no ledger raises :class:`NotFound` and nothing is created. ``on_slow`` is
        told, once, when connecting takes more than a second (a PostgreSQL server that does not
        answer is waited for up to ``POSTGRES_CONNECT_TIMEOUT``).
        """
        settings = {"ORIGINATOR_ID_TYPE": "text", **env, "CREATE_TABLE": "y" if create else "n"}
        module = settings.get("PERSISTENCE_MODULE") or "eventsourcing.sqlite"
        if module not in BACKENDS:
            raise ConfigurationError(
                f"PERSISTENCE_MODULE={module!r}: liuhen keeps its ledger with "
                f"{' or '.join(BACKENDS)}; unset it for SQLite"
            )
        settings["PERSISTENCE_MODULE"] = module
        dbname = settings.get("SQLITE_DBNAME") or ""
        sqlite_file = module == "eventsourcing.sqlite" and _is_file_name(dbname)
        if not create and sqlite_file and not Path(dbname).is_file():  # opening would create it
            raise NotFound(f"no ledger at {dbname}")
        if sqlite_file:
            _use_wal(dbname)
        environment = Environment("liuhen", settings)
        try:
            _refuse_unsafe_settings(environment)
            factory = InfrastructureFactory.construct(environment)
        except (EventSourcingError, ValueError, OSError) as exc:
            raise ConfigurationError(f"cannot open the event store: {exc}") from exc
        notice = None
        if on_slow is not None:
            timeout = settings.get("POSTGRES_CONNECT_TIMEOUT") or "30"
            notice = threading.Timer(
                1.0, on_slow, [f"waiting for the event store at {_describe(settings)} (up to {timeout} s)"]
            )
            notice.daemon = True
            notice.start()
        try:
            # Connects (PostgreSQL: waits up to POSTGRES_CONNECT_TIMEOUT) and creates the tables.
            recorder = _process_recorder(factory)
            store = cls(recorder=recorder, env=environment)
            if not create:
                store.origins()  # a store without liuhen's tables holds no ledger
        except (PersistenceError, ValueError, OSError) as exc:
            factory.close()  # else a PostgreSQL pool keeps trying to connect in the background
            if not create and _missing_table(exc):
                raise NotFound(f"{_describe(settings)} holds no ledger") from exc
            raise ConfigurationError(f"cannot open the event store {_describe(settings)}: {exc}") from exc
        except StoreError as exc:
            factory.close()
            cause = exc.__cause__
            if not create and cause is not None and _missing_table(cause):
                raise NotFound(f"{_describe(settings)} holds no ledger") from exc
            raise
        finally:
            if notice is not None:
                notice.cancel()
        return store

    def close(self) -> None:
        """Release the backend's connections."""
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is not None:
            datastore.close()

    # -- reading -------------------------------------------------------------------------------

    @_reads
    def head(self, origin: str) -> Chain:
        """The chain state after a log's last entry (the empty chain for a new log)."""
        last = self.recorder.select_events(log_stream(origin), desc=True, limit=1)
        if not last:
            return Chain()
        stored = StoredEntry.decode(last[0].originator_version, last[0].state)
        return Chain(stored.index + 1, stored.chain_hash)

    def entries(
        self, origin: str, *, start: int = 0, stop: int | None = None, page: int = _PAGE
    ) -> Iterator[StoredEntry]:
        """A log's entries from index ``start`` up to (not including) ``stop``, paged."""
        after = start - 1
        while stop is None or after + 1 < stop:
            limit = page if stop is None else min(page, stop - after - 1)
            rows = self.recorder.select_events(
                log_stream(origin), gt=after if after >= 0 else None, limit=limit
            )
            if not rows:
                return
            for row in rows:
                yield StoredEntry.decode(row.originator_version, row.state)
            after = rows[-1].originator_version

    @_reads
    def entry(self, origin: str, index: int) -> StoredEntry | None:
        """One entry, or None past the end."""
        rows = self.recorder.select_events(
            log_stream(origin), gt=index - 1 if index > 0 else None, lte=index, limit=1
        )
        return StoredEntry.decode(index, rows[0].state) if rows else None

    @_reads
    def node(self, origin: str, height: int, index: int) -> bytes:
        """Hash of the perfect Merkle subtree over leaves ``[index * 2**height, (index + 1) * 2**height)``.

        One lookup: a leaf's hash is recomputed from its entry; a higher node is stored with the
        entry that completed it (see :mod:`ledger.wire.format`).
        """
        key = (origin, height, index)
        cached = self._upper_nodes.get(key)
        if cached is not None:
            return cached
        last = ((index + 1) << height) - 1
        stored = self.entry(origin, last)
        if stored is None:
            raise StoreError(f"{origin} has no entry {last}: node ({height}, {index}) is beyond the log")
        digest = leaf_hash(stored.entry) if height == 0 else stored.nodes[height - 1]
        if height >= _CACHED_HEIGHT and len(self._upper_nodes) < _CACHED_NODES:
            # A perfect subtree never changes once complete, and every proof passes through the
            # few upper nodes: keeping them makes a proof at ten million entries a dozen lookups.
            self._upper_nodes[key] = digest
        return digest

    def nodes(self, origin: str, positions: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """Many tree nodes at once (the nodes of one proof): one query on SQLite and PostgreSQL."""
        wanted = {p for p in positions if (origin, *p) not in self._upper_nodes}
        found = {p: self._upper_nodes[(origin, *p)] for p in set(positions) - wanted}
        by_entry: dict[int, list[tuple[int, int]]] = {}  # nodes ending at one entry share its row
        for height, index in wanted:
            by_entry.setdefault(((index + 1) << height) - 1, []).append((height, index))
        for version, state in self._select_versions(log_stream(origin), by_entry) if by_entry else ():
            stored = StoredEntry.decode(version, state)
            for height, index in by_entry.pop(version):
                found[(height, index)] = leaf_hash(stored.entry) if height == 0 else stored.nodes[height - 1]
        for height, index in (p for shared in by_entry.values() for p in shared):  # beyond the log, or
            # a backend without a one-query path: one lookup each
            found[(height, index)] = self.node(origin, height, index)
        return found

    def entry_notifications(self, after: int, limit: int) -> list[tuple[int, str, int, bytes]]:
        """The next ``limit`` ledger entries after notification ``after`` (the projections' feed).

        Each is ``(notification id, stream, version, state)``: the library's
        ``select_notifications``, without its per-row objects on SQLite, where this reads the
        recorder's own table as plain tuples (~1.1 µs an entry instead of ~3).
        """
        datastore = getattr(self.recorder, "datastore", None)
        table = getattr(self.recorder, "events_table_name", None)
        if table and isinstance(datastore, SQLiteDatastore):
            with datastore.transaction(commit=False) as cursor:
                cursor.sqlite_cursor.row_factory = None  # tuples, not the library's sqlite3.Row
                cursor.execute(
                    f"SELECT rowid, originator_id, originator_version, state FROM {table} "  # noqa: S608 - the library's table
                    "WHERE rowid>? AND topic=? ORDER BY rowid LIMIT ?",
                    [after, ENTRY_TOPIC, limit],
                )
                return cursor.fetchall()  # type: ignore[no-any-return]
        notes = self.recorder.select_notifications(
            start=after, limit=limit, topics=[ENTRY_TOPIC], inclusive_of_start=False
        )
        return [(n.id, str(n.originator_id), n.originator_version, n.state) for n in notes]

    def _select_versions(self, stream: str, versions: Collection[int]) -> list[tuple[int, bytes]]:
        """``(version, state)`` of one stream's events at scattered ``versions``, in one query.

        The library's recorders only read a range of versions; a proof needs a scattered handful,
        so this reads the recorder's own table on the backends liuhen knows (an empty list on others).
        """
        datastore = getattr(self.recorder, "datastore", None)
        table = getattr(self.recorder, "events_table_name", None)
        if not table:
            return []
        if isinstance(datastore, SQLiteDatastore):
            marks = ",".join("?" * len(versions))
            with datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT originator_version, state FROM {table} "  # noqa: S608 - table name is the library's
                    f"WHERE originator_id=? AND originator_version IN ({marks})",
                    [stream, *versions],
                )
                return [(version, state) for version, state in cursor.fetchall()]
        if type(datastore).__module__ == "eventsourcing.postgres":
            return _postgres_versions(datastore, table, stream, versions)
        return []

    def with_nodes(self, origin: str, prove: Callable[[NodeReader], T]) -> T:
        """Run a proof construction with every node it reads fetched in one go.

        ``prove`` is e.g. ``partial(inclusion_proof, index, size)``.
        """
        found = self.nodes(origin, nodes_needed(prove))
        return prove(lambda height, index: found[(height, index)])

    def checkpoints(self, origin: str, *, after_size: int = 0) -> Iterator[tuple[int, bytes]]:
        """``(tree size, signed note)`` of a log's checkpoints above ``after_size``, smallest first."""
        after = after_size
        while True:
            rows = self.recorder.select_events(f"checkpoints:{origin}", gt=after, limit=_PAGE)
            if not rows:
                return
            for row in rows:
                yield row.originator_version, row.state
            after = rows[-1].originator_version

    def latest_checkpoint(self, origin: str) -> tuple[int, bytes] | None:
        """The newest checkpoint of a log."""
        rows = self.recorder.select_events(f"checkpoints:{origin}", desc=True, limit=1)
        return (rows[0].originator_version, rows[0].state) if rows else None

    def latest_checkpoint_time(self, origin: str) -> int:
        """The signed time of a log's newest checkpoint (0: none, or one from before checkpoints had it)."""
        latest = self.latest_checkpoint(origin)
        if latest is None:
            return 0
        try:
            return SignedCheckpoint.parse(latest[1]).checkpoint.time_us
        except VerificationError:
            return 0

    def checkpoint_at(self, origin: str, size: int) -> bytes | None:
        """The checkpoint of a log at exactly ``size`` entries, if one was signed."""
        rows = self.recorder.select_events(f"checkpoints:{origin}", gt=size - 1, lte=size, limit=1)
        return rows[0].state if rows else None

    @_reads
    def rotations(self) -> list[bytes]:
        """Every ledger key rotation statement, in order."""
        return [row.state for row in self.recorder.select_events("ledger-keys")]

    def rotate(self, statement: Callable[[dict[str, int]], bytes], owner: str) -> dict[str, int]:
        """Record a ledger key rotation at a batch boundary of every log; return the sizes it is after.

        ``statement`` makes the signed rotation from each log's size. It is stored in one
        transaction with the next fence slot of every log (see "Ownership fence"), so a writer
        still signing with the old key has its next batch refused (:class:`OwnershipLost`): it
        claims the log again, and signs with the new key from then on. A batch committed while the
        rotation was being made takes a slot first: the rotation is made again from the new sizes.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            origins = self.origins()
            slots = {origin: self.owner(origin)[0] + 1 for origin in origins}
            after = {origin: self.head(origin).size for origin in origins}
            count = len(self.rotations())
            fences = [
                StoredEvent(
                    owner_stream(origin),
                    slot,
                    OWNER_TOPIC,
                    json.dumps({"owner": owner, "rotation": count, "signed": after[origin]}).encode(),
                )
                for origin, slot in slots.items()
            ]
            try:
                self.recorder.insert_events(
                    [StoredEvent("ledger-keys", count, ROTATION_TOPIC, statement(after)), *fences]
                )
            except IntegrityError:
                continue  # a batch, a claim or another rotation took a slot first: read again
            except PersistenceError as exc:
                raise StoreError(f"event store failed to record a ledger key rotation: {exc}") from exc
            return after
        raise StoreError(f"the logs moved on {_CLAIM_ATTEMPTS} times while the rotation was being recorded")

    def cosignatures(self, origin: str, size: int) -> list[bytes]:
        """Witness cosignature lines recorded for the checkpoint at ``size``."""
        return [row.state for row in self.recorder.select_events(f"cosigned:{origin}:{size}")]

    def add_cosignature(self, origin: str, size: int, line: bytes) -> None:
        """Record a witness's cosignature line for the checkpoint at ``size``."""
        known = len(self.cosignatures(origin, size))
        self._insert(StoredEvent(f"cosigned:{origin}:{size}", known, COSIGNATURE_TOPIC, line))

    def add_cosignatures(self, origin: str, size: int, lines: Sequence[bytes], *, witness: str) -> None:
        """Record a witness's cosignature lines of the checkpoint at ``size``, and that it cosigned it.

        One transaction: the lines, and the position ``witness`` (a tracking name, e.g.
        ``witness:<key id>:<origin>``) moved to ``size`` unless it is there or beyond already, so
        :meth:`tracked_offset` of ``witness`` is the newest size the witness cosigned. Raises
        :class:`StoreError` if another process recorded a cosignature of this checkpoint meanwhile.
        """
        stream = f"cosigned:{origin}:{size}"
        known = len(self.cosignatures(origin, size))
        events = [StoredEvent(stream, known + n, COSIGNATURE_TOPIC, line) for n, line in enumerate(lines)]
        last = self.tracked_offset(witness)
        position = Tracking(witness, size) if last is None or last < size else None
        try:
            self.recorder.insert_events(events, tracking=position)
        except IntegrityError as exc:
            raise StoreError(
                f"another process recorded a cosignature of {origin} at size {size} first: try again"
            ) from exc
        except PersistenceError as exc:
            raise StoreError(f"event store failed to record cosignatures of {origin}: {exc}") from exc

    def _insert(self, event: StoredEvent) -> None:
        try:
            self.recorder.insert_events([event])
        except IntegrityError as exc:
            raise StoreError(
                f"{event.originator_id} already has an entry {event.originator_version}: "
                "another process wrote it first"
            ) from exc
        except PersistenceError as exc:
            raise StoreError(f"event store failed to write to {event.originator_id}: {exc}") from exc

    @_reads
    def seen(self, event_id: UUID) -> Seen | None:
        """Where ``event_id`` was appended, if it was."""
        rows = self.recorder.select_events(seen_stream(event_id), limit=1)
        if not rows:
            return None
        data = json.loads(rows[0].state)
        return Seen(data["log"], data["index"], bytes.fromhex(data["leaf"]))

    @_reads
    def key_changes(self, origin: str) -> list[KeyChange]:
        """Every source-key change applied in a log, in order."""
        rows = self.recorder.select_events(f"keys:{origin}")
        return [KeyChange.decode(row.state) for row in rows]

    @_reads
    def rejections(self, origin: str, *, after: int | None = None) -> list[tuple[int, int]]:
        """``(ordinal, entry index)`` of a log's rejection entries, those after ordinal ``after`` only."""
        rows = self.recorder.select_events(f"rejections:{origin}", gt=after)
        return [(row.originator_version, int(row.state)) for row in rows]

    @_reads
    def rejection_count(self, origin: str) -> int:
        """How many rejection entries a log holds."""
        last = self.recorder.select_events(f"rejections:{origin}", desc=True, limit=1)
        return last[0].originator_version + 1 if last else 0

    @_reads
    def origins(self) -> list[str]:
        """Every log ever opened, in the order they were opened."""
        return [row.state.decode() for row in self.recorder.select_events(LOGS_STREAM)]

    @_reads
    def tracked_offset(self, name: str) -> int | None:
        """The last position recorded under a tracking name."""
        return self.recorder.max_tracking_id(name)

    @_reads
    def owner(self, origin: str) -> tuple[int, str]:
        """The log's last fence slot (-1 if never claimed) and the writer that took it."""
        rows = self.recorder.select_events(owner_stream(origin), desc=True, limit=1)
        if not rows:
            return -1, ""
        return rows[0].originator_version, json.loads(rows[0].state)["owner"]

    @_reads
    def batch_sizes(self, origin: str) -> list[int]:
        """The log's size after each batch ingest committed (from its ownership fence), in order."""
        sizes = []
        for row in self.recorder.select_events(owner_stream(origin)):
            slot = json.loads(row.state)
            if "size" in slot:
                sizes.append(int(slot["size"]))
        return sizes

    def claim(self, origin: str, owner: str) -> int:
        """Make ``owner`` the only writer of a log; return the slot of its claim.

        Its first batch must take the next slot (:attr:`Batch.fence`). Every batch of an earlier
        claimant that has not been stored yet will fail with :class:`OwnershipLost`.
        """
        for _ in range(_CLAIM_ATTEMPTS):
            slot = self.owner(origin)[0] + 1
            claim = json.dumps({"owner": owner, "claim": True}).encode()
            try:
                self.recorder.insert_events([StoredEvent(owner_stream(origin), slot, OWNER_TOPIC, claim)])
            except IntegrityError:
                continue  # another writer's batch or claim took the slot first: read again
            except PersistenceError as exc:
                raise StoreError(f"event store failed to record a claim of {origin}: {exc}") from exc
            return slot
        raise StoreError(f"{origin}: the ownership fence moved {_CLAIM_ATTEMPTS} times during a claim")

    def record_position(self, name: str, position: int) -> None:
        """Record a position on its own (e.g. how far the rejected-topic outbox has published)."""
        try:
            self.recorder.insert_tracking(Tracking(name, position))
        except IntegrityError as exc:
            raise OwnershipLost(name, position) from exc
        except PersistenceError as exc:
            raise StoreError(f"event store failed to record {name} = {position}: {exc}") from exc

    # -- appending -----------------------------------------------------------------------------

    def append(self, batch: Batch, *, expected: Chain) -> None:
        """Append a batch in one transaction, or raise and append nothing.

        ``expected`` is the caller's idea of the log's chain state before the batch. Raises
        :class:`OwnershipLost` when another writer claimed or moved the log (or its tracked offset)
        first, and :class:`DuplicateEvents` naming the event ids that are already in the ledger.
        """
        stream = log_stream(batch.origin)
        stored = [StoredEvent(stream, e.index, ENTRY_TOPIC, e.encode()) for e in batch.entries]
        if batch.event_ids:
            leaves = batch.leaves
            if len(leaves) != len(batch.entries):
                leaves = [leaf_hash(e.entry) for e in batch.entries]
            leaf_of = dict(zip((e.index for e in batch.entries), leaves, strict=True))
            # The JSON of {"log": origin, "index": index, "leaf": hex} exactly as json.dumps writes it
            # (a test holds them equal), without json.dumps' cost for each of a batch's thousand.
            prefix = '{"log": ' + json.dumps(batch.origin) + ', "index": '
            stored += [
                StoredEvent(
                    seen_stream(event_id),
                    0,
                    SEEN_TOPIC,
                    f'{prefix}{index}, "leaf": "{leaf_of[index].hex()}"}}'.encode(),
                )
                for index, event_id in batch.event_ids.items()
            ]
        stored += [
            StoredEvent(f"keys:{batch.origin}", batch.key_changes_before + n, KEYS_TOPIC, change.encode())
            for n, change in enumerate(batch.key_changes)
        ]
        stored += [
            StoredEvent(
                f"rejections:{batch.origin}",
                batch.rejections_before + n,
                REJECTION_TOPIC,
                str(index).encode(),
            )
            for n, index in enumerate(batch.rejections)
        ]
        if batch.checkpoint is not None:
            size = expected.size + len(batch.entries)
            stored.append(
                StoredEvent(f"checkpoints:{batch.origin}", size, CHECKPOINT_TOPIC, batch.checkpoint)
            )
        if batch.fence is not None:
            slot = {"owner": batch.owner, "size": expected.size + len(batch.entries)}
            stored.append(
                StoredEvent(owner_stream(batch.origin), batch.fence, OWNER_TOPIC, json.dumps(slot).encode())
            )
        try:
            if expected.size == 0 and batch.entries:
                stored.append(self._log_opened(batch.origin))
            self.recorder.insert_events(stored, tracking=batch.tracking)
        except IntegrityError as exc:
            self._explain_conflict(batch, expected, exc)
        except PersistenceError as exc:
            raise StoreError(f"event store failed to append to {batch.origin}: {exc}") from exc

    def _log_opened(self, origin: str) -> StoredEvent:
        count = len(self.recorder.select_events(LOGS_STREAM))
        return StoredEvent(LOGS_STREAM, count, LOG_TOPIC, origin.encode())

    def _explain_conflict(self, batch: Batch, expected: Chain, exc: IntegrityError) -> None:
        if batch.fence is not None:
            slot, holder = self.owner(batch.origin)
            if slot >= batch.fence:
                raise OwnershipLost(batch.origin, expected.size, holder=holder) from exc
        head = self.head(batch.origin)
        if head.size != expected.size or head.head != expected.head:
            raise OwnershipLost(batch.origin, expected.size) from exc
        duplicates = {
            event_id: seen
            for event_id in batch.event_ids.values()
            if (seen := self.seen(event_id)) is not None
        }
        if duplicates:
            raise DuplicateEvents(duplicates) from exc
        if expected.size == 0 and batch.origin in self.origins():
            raise OwnershipLost(batch.origin, 0) from exc
        if batch.tracking is not None:
            last = self.tracked_offset(batch.tracking.application_name)
            if last is not None and last >= batch.tracking.notification_id:
                raise OwnershipLost(batch.origin, expected.size) from exc
        raise StoreError(f"event store refused a batch for {batch.origin}: {exc}") from exc


def _process_recorder(factory: InfrastructureFactory[Any]) -> ProcessRecorder:
    """The factory's process recorder, its tables created if need be.

    Processes opening the store at the same moment (two ingests started together, an ingest
    restarted while a tool reads the ledger) race in the library's table creation: both insert
    its first tracking row (:class:`IntegrityError` for the loser), or both replace its PostgreSQL
    function ("tuple concurrently updated", :class:`InternalError`). The other process did the
    work, so the next attempt finds it done.
    """
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            return factory.process_recorder()
        except (IntegrityError, InternalError):
            if attempt == _CREATE_ATTEMPTS:
                raise
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _use_wal(dbname: str) -> None:
    """Put a SQLite file in write-ahead-log mode before the library connects to it.

    The library switches each new file to WAL on its first connection; processes opening a new
    file at the same moment race in that switch, and SQLite answers the loser "database is
    locked" at once, without waiting. Here the switch is retried until one process has made it
    (the mode is kept in the file, so the library then finds it done).
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            with contextlib.closing(sqlite3.connect(dbname, timeout=30)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise ConfigurationError(f"cannot open the event store {dbname}: {exc}") from exc
            time.sleep(0.05)
        else:
            return


def _is_file_name(dbname: str) -> bool:
    """Whether ``SQLITE_DBNAME`` names a file (not an in-memory database or a URI)."""
    return bool(dbname) and dbname != ":memory:" and not dbname.startswith("file:")


def _missing_table(exc: BaseException) -> bool:
    """Whether a library error says the store's tables do not exist (a database with no ledger)."""
    text = str(exc)
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _refuse_unsafe_settings(environment: Environment) -> None:
    """Refuse library settings under which a batch and its Kafka offset are not one forward-only write."""
    if strtobool(environment.get("POSTGRES_ENABLE_DB_FUNCTIONS") or "no"):
        # eventsourcing 9.5's PostgreSQL insert function skips the tracking record altogether.
        raise ConfigurationError(
            "POSTGRES_ENABLE_DB_FUNCTIONS would store batches without their Kafka offsets: unset it"
        )
    if not strtobool(environment.get("SINGLE_ROW_TRACKING") or "yes"):
        raise ConfigurationError(
            "SINGLE_ROW_TRACKING=no would let a stale writer record an old Kafka offset: unset it"
        )


def _describe(settings: Mapping[str, str]) -> str:
    """Where a store's settings point, for error messages (never the password)."""
    if settings.get("PERSISTENCE_MODULE", "").startswith("eventsourcing.postgres"):
        where = (
            f"postgresql://{settings.get('POSTGRES_USER', '')}@{settings.get('POSTGRES_HOST', '')}:"
            f"{settings.get('POSTGRES_PORT') or 5432}/{settings.get('POSTGRES_DBNAME', '')}"
        )
        schema = settings.get("POSTGRES_SCHEMA")
        return f"{where} (schema {schema})" if schema else where
    return settings.get("SQLITE_DBNAME", settings.get("PERSISTENCE_MODULE", ""))


def _postgres_versions(
    datastore: Any, table: str, stream: str, versions: Collection[int]
) -> list[tuple[int, bytes]]:
    """:meth:`LedgerStore._select_versions` on PostgreSQL (psycopg is imported only when it is used)."""
    from eventsourcing.postgres import PostgresDatastore  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    assert isinstance(datastore, PostgresDatastore)
    query = sql.SQL(
        "SELECT originator_version, state FROM {schema}.{table} "
        "WHERE originator_id = %s AND originator_version = ANY(%s::bigint[])"
    ).format(schema=sql.Identifier(datastore.schema), table=sql.Identifier(table))
    # The library's connection translates psycopg's errors into its own PersistenceError tree.
    with datastore.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(query, (stream, list(versions)), prepare=True)
        return [(row["originator_version"], bytes(row["state"])) for row in cursor.fetchall()]


class DuplicateEvents(StoreError):
    """Some event ids of a batch are already in the ledger (``seen`` says where)."""

    def __init__(self, seen: Mapping[UUID, Seen]) -> None:
        super().__init__(f"{len(seen)} event id(s) already in the ledger")
        self.seen = dict(seen)
