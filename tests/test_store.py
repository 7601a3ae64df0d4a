"""The ledger store's contract, written once and run on each backend: a real SQLite file and a
fresh schema on the real PostgreSQL server (tests.test_postgres). Atomic batches, no forks,
positions that only move forward, proofs' nodes in one query, tampering located.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Tracking
from psycopg import sql

from ledger.errors import ChainBroken, OwnershipLost, VerificationError
from ledger.ingest.store import Batch, DuplicateEvents, LedgerStore, log_stream
from ledger.wire.appender import LogAppender
from ledger.wire.format import Chain, leaf_hash, verify_chain
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import (
    consistency_proof,
    inclusion_proof,
    nodes_needed,
    verify_inclusion,
)
from tests.test_postgres import SERVER, postgres_schema

ORIGIN = "test/liuhen.audit/0"
LEDGER_KEY = SigningKey("ledger", Ed25519PrivateKey.from_private_bytes(bytes(32)))

Rows = list[tuple[Any, ...]]


@dataclass
class Backend:
    """One event-store backend under test: stores opened on one database, and SQL behind their back."""

    name: str
    env: dict[str, str]
    execute: Callable[[str, Sequence[object]], Rows]
    """Run SQL on the database directly: ``{table}`` names the events table, ``?`` marks parameters."""
    opened: list[LedgerStore] = field(default_factory=list)

    def open(self) -> LedgerStore:
        store = LedgerStore.open(self.env)
        self.opened.append(store)
        return store


def _sqlite_execute(path: Path, statement: str, params: Sequence[object]) -> Rows:
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute(statement.format(table="stored_events"), params).fetchall()


def _postgres_execute(schema: str, statement: str, params: Sequence[object]) -> Rows:
    query = sql.SQL(statement.replace("?", "%s")).format(table=sql.Identifier(schema, "liuhen_events"))
    with psycopg.connect(
        host=SERVER["POSTGRES_HOST"],
        port=SERVER["POSTGRES_PORT"],
        dbname=SERVER["POSTGRES_DBNAME"],
        user=SERVER["POSTGRES_USER"],
        password=SERVER["POSTGRES_PASSWORD"],
        autocommit=True,
    ) as db:
        cursor = db.execute(query, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty store database on each backend; its stores are closed when the test ends."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            path = tmp_path / "ledger.db"
            env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
            chosen = Backend("sqlite", env, partial(_sqlite_execute, path))
        else:
            env = stack.enter_context(postgres_schema())
            chosen = Backend("postgres", env, partial(_postgres_execute, env["POSTGRES_SCHEMA"]))
        try:
            yield chosen
        finally:
            for store in chosen.opened:
                store.close()


def new_log() -> LogAppender:
    return LogAppender(origin=ORIGIN, key=LEDGER_KEY)


def batch_of(log: LogAppender, payloads: list[bytes], *, first_offset: int = 0) -> tuple[Batch, Chain]:
    """A batch of ``payloads`` appended to ``log`` (each its own event id), and the chain after it."""
    entries = [log.append(p, kafka_offset=first_offset + n, ingested_at_us=0) for n, p in enumerate(payloads)]
    ids = {e.index: uuid.uuid5(uuid.NAMESPACE_OID, e.entry.hex()) for e in entries}
    tracking = Tracking("kafka:t:0", first_offset + len(payloads) - 1)
    return Batch(origin=ORIGIN, entries=entries, event_ids=ids, tracking=tracking), log.chain


def test_a_batch_is_appended_whole_with_its_offset(backend: Backend) -> None:
    store = backend.open()
    batch, after = batch_of(new_log(), [b"a", b"b", b"c"])
    store.append(batch, expected=Chain())
    assert store.head(ORIGIN) == after
    assert [e.entry for e in store.entries(ORIGIN)] == [b"a", b"b", b"c"]
    assert store.tracked_offset("kafka:t:0") == 2
    assert store.origins() == [ORIGIN]


@pytest.mark.parametrize("origin", [ORIGIN, 'zz/"深圳"\\audit/3'])
@pytest.mark.parametrize("given", [True, False], ids=["leaves given", "leaves computed"])
def test_an_event_id_marker_is_the_json_it_always_was(backend: Backend, origin: str, given: bool) -> None:
    """Markers are written without json.dumps for speed; their bytes must not change."""
    store = backend.open()
    batch, _ = batch_of(new_log(), [b"a", b"b"])
    batch = replace(batch, origin=origin, leaves=[leaf_hash(b"a"), leaf_hash(b"b")] if given else ())
    store.append(batch, expected=Chain())
    for index, event_id in batch.event_ids.items():
        leaf = leaf_hash(batch.entries[index].entry)
        ((state,),) = backend.execute(
            "SELECT state FROM {table} WHERE originator_id = ?", [f"event:{event_id}"]
        )
        assert bytes(state) == json.dumps({"log": origin, "index": index, "leaf": leaf.hex()}).encode()
        seen = store.seen(event_id)
        assert seen is not None
        assert (seen.origin, seen.index, seen.leaf_hash) == (origin, index, leaf)


def test_a_second_writer_cannot_fork_the_log(backend: Backend) -> None:
    """A stale writer that still thinks the log is empty fails and appends nothing."""
    owner, stale = backend.open(), backend.open()
    batch, _ = batch_of(new_log(), [b"a", b"b"])
    owner.append(batch, expected=Chain())
    fork, _ = batch_of(new_log(), [b"x", b"y"], first_offset=5)
    with pytest.raises(OwnershipLost):
        stale.append(fork, expected=Chain())
    assert [e.entry for e in owner.entries(ORIGIN)] == [b"a", b"b"]
    assert owner.tracked_offset("kafka:t:0") == 1


def test_an_old_offset_cannot_be_recorded_again(backend: Backend) -> None:
    store = backend.open()
    log = new_log()
    first, chain = batch_of(log, [b"a", b"b"], first_offset=10)
    store.append(first, expected=Chain())
    replay, _ = batch_of(log, [b"c"], first_offset=11)  # offset 11 <= 11 already recorded
    with pytest.raises(OwnershipLost):
        store.append(replay, expected=chain)
    assert store.head(ORIGIN) == chain


def test_an_event_id_already_in_the_ledger_is_reported_with_its_position(backend: Backend) -> None:
    store = backend.open()
    log = new_log()
    first, chain = batch_of(log, [b"a", b"b"])
    store.append(first, expected=Chain())
    again, _ = batch_of(log, [b"c", b"b"], first_offset=2)
    with pytest.raises(DuplicateEvents) as dup:
        store.append(again, expected=chain)
    ((event_id, seen),) = dup.value.seen.items()
    assert event_id == uuid.uuid5(uuid.NAMESPACE_OID, b"b".hex())
    assert (seen.origin, seen.index) == (ORIGIN, 1)
    assert store.head(ORIGIN) == chain  # nothing of the failed batch was written


def test_a_position_recorded_on_its_own_only_moves_forward(backend: Backend) -> None:
    store = backend.open()
    store.record_position("outbox:0", 3)
    store.record_position("outbox:0", 5)
    with pytest.raises(OwnershipLost):
        store.record_position("outbox:0", 5)
    with pytest.raises(OwnershipLost):
        backend.open().record_position("outbox:0", 4)
    assert store.tracked_offset("outbox:0") == 5
    assert store.tracked_offset("outbox:1") is None


def test_checkpoints_cosignatures_and_rotations_read_back_in_order(backend: Backend) -> None:
    store = backend.open()
    log, before = new_log(), Chain()
    for size in (2, 5):
        payloads = [f"event {n}".encode() for n in range(before.size, size)]
        batch, after = batch_of(log, payloads, first_offset=before.size)
        store.append(replace(batch, checkpoint=f"note {size}\n".encode()), expected=before)
        before = after
    assert list(store.checkpoints(ORIGIN)) == [(2, b"note 2\n"), (5, b"note 5\n")]
    assert list(store.checkpoints(ORIGIN, after_size=2)) == [(5, b"note 5\n")]
    assert store.latest_checkpoint(ORIGIN) == (5, b"note 5\n")
    assert store.checkpoint_at(ORIGIN, 2) == b"note 2\n"
    assert store.checkpoint_at(ORIGIN, 3) is None
    store.add_cosignature(ORIGIN, 5, b"witness a")
    backend.open().add_cosignature(ORIGIN, 5, b"witness b")
    assert store.cosignatures(ORIGIN, 5) == [b"witness a", b"witness b"]
    assert store.rotate(lambda after: b"rotation 1", owner="test") == {ORIGIN: store.head(ORIGIN).size}
    store.rotate(lambda after: b"rotation 2", owner="test")
    assert store.rotations() == [b"rotation 1", b"rotation 2"]


def test_the_nodes_of_a_proof_are_read_in_one_query_and_equal_those_read_one_by_one(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    payloads = [f"event {n}".encode() for n in range(37)]
    log = new_log()
    batch, _ = batch_of(log, payloads)
    store = backend.open()
    store.append(batch, expected=Chain())
    positions = nodes_needed(partial(inclusion_proof, 11, 37)) + nodes_needed(
        partial(consistency_proof, 13, 37)
    )
    one_by_one = {position: store.node(ORIGIN, *position) for position in positions}

    fresh = backend.open()  # nothing cached

    def read_one_by_one(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{backend.name}: a proof's nodes were read one by one")

    monkeypatch.setattr(fresh.recorder, "select_events", read_one_by_one)
    assert fresh.nodes(ORIGIN, positions) == one_by_one
    proof = fresh.with_nodes(ORIGIN, partial(inclusion_proof, 11, 37))
    verify_inclusion(leaf_hash(payloads[11]), 11, 37, proof, log.root)


@pytest.mark.parametrize("index", [0, 7, 19])
def test_a_byte_flipped_in_the_stored_entries_is_located(backend: Backend, index: int) -> None:
    store = backend.open()
    batch, _ = batch_of(new_log(), [f"event {n}".encode() for n in range(20)])
    store.append(batch, expected=Chain())
    ((state,),) = backend.execute(
        "SELECT state FROM {table} WHERE originator_id=? AND originator_version=?",
        (log_stream(ORIGIN), index),
    )
    flipped = bytearray(state)
    flipped[-1] ^= 0x01
    backend.execute(
        "UPDATE {table} SET state=? WHERE originator_id=? AND originator_version=?",
        (bytes(flipped), log_stream(ORIGIN), index),
    )
    with pytest.raises(ChainBroken) as broken:
        verify_chain(backend.open().entries(ORIGIN))
    assert broken.value.index == index


def test_a_row_deleted_from_the_stored_entries_is_located(backend: Backend) -> None:
    store = backend.open()
    batch, _ = batch_of(new_log(), [f"event {n}".encode() for n in range(20)])
    store.append(batch, expected=Chain())
    backend.execute(
        "DELETE FROM {table} WHERE originator_id=? AND originator_version=?", (log_stream(ORIGIN), 12)
    )
    with pytest.raises(VerificationError, match=r"indices 12\.\.12 are missing"):
        verify_chain(backend.open().entries(ORIGIN))
