"""The ledger store on a real SQLite file: atomic batches, no forks, tampering located."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from ledger.errors import ChainBroken, OwnershipLost, VerificationError
from ledger.format import Chain, StoredEntry, verify_chain
from ledger.store import Batch, DuplicateEvents, LedgerStore, log_stream

ORIGIN = "test/liuhen.audit/0"


def open_store(path: Path) -> LedgerStore:
    return LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})


def batch_of(chain: Chain, payloads: list[bytes], *, first_offset: int = 0) -> tuple[Batch, Chain]:
    start = Chain(chain.size, chain.head)
    entries = []
    ids = {}
    for n, payload in enumerate(payloads):
        index = start.size
        entries.append(StoredEntry(index, first_offset + n, 0, start.append(payload), payload))
        ids[index] = uuid.uuid5(uuid.NAMESPACE_OID, payload.hex())
    tracking = Tracking("kafka:t:0", first_offset + len(payloads) - 1)
    return Batch(origin=ORIGIN, entries=entries, event_ids=ids, tracking=tracking), start


def test_a_batch_is_appended_whole_with_its_offset(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db")
    batch, after = batch_of(Chain(), [b"a", b"b", b"c"])
    store.append(batch, expected=Chain())
    assert store.head(ORIGIN) == after
    assert [e.entry for e in store.entries(ORIGIN)] == [b"a", b"b", b"c"]
    assert store.tracked_offset("kafka:t:0") == 2
    assert store.origins() == [ORIGIN]


def test_a_second_writer_cannot_fork_the_log(tmp_path: Path) -> None:
    """A stale writer that still thinks the log is empty fails and appends nothing."""
    owner, stale = open_store(tmp_path / "ledger.db"), open_store(tmp_path / "ledger.db")
    batch, _ = batch_of(Chain(), [b"a", b"b"])
    owner.append(batch, expected=Chain())
    fork, _ = batch_of(Chain(), [b"x", b"y"], first_offset=5)
    with pytest.raises(OwnershipLost):
        stale.append(fork, expected=Chain())
    assert [e.entry for e in owner.entries(ORIGIN)] == [b"a", b"b"]
    assert owner.tracked_offset("kafka:t:0") == 1


def test_an_old_offset_cannot_be_recorded_again(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db")
    first, chain = batch_of(Chain(), [b"a", b"b"], first_offset=10)
    store.append(first, expected=Chain())
    replay, _ = batch_of(chain, [b"c"], first_offset=11)  # offset 11 <= 11 already recorded
    with pytest.raises(OwnershipLost):
        store.append(replay, expected=chain)
    assert store.head(ORIGIN) == chain


def test_an_event_id_already_in_the_ledger_is_reported_with_its_position(tmp_path: Path) -> None:
    store = open_store(tmp_path / "ledger.db")
    first, chain = batch_of(Chain(), [b"a", b"b"])
    store.append(first, expected=Chain())
    again, _ = batch_of(chain, [b"c", b"b"], first_offset=2)
    with pytest.raises(DuplicateEvents) as dup:
        store.append(again, expected=chain)
    ((event_id, seen),) = dup.value.seen.items()
    assert event_id == uuid.uuid5(uuid.NAMESPACE_OID, b"b".hex())
    assert (seen.origin, seen.index) == (ORIGIN, 1)
    assert store.head(ORIGIN) == chain  # nothing of the failed batch was written


def _tamper(path: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql, params)


@pytest.mark.parametrize("index", [0, 7, 19])
def test_a_byte_flipped_in_the_sqlite_file_is_located(tmp_path: Path, index: int) -> None:
    path = tmp_path / "ledger.db"
    store = open_store(path)
    batch, _ = batch_of(Chain(), [f"event {n}".encode() for n in range(20)])
    store.append(batch, expected=Chain())
    (state,) = (
        sqlite3.connect(path)
        .execute(
            "SELECT state FROM stored_events WHERE originator_id=? AND originator_version=?",
            (log_stream(ORIGIN), index),
        )
        .fetchone()
    )
    flipped = bytearray(state)
    flipped[-1] ^= 0x01
    _tamper(
        path,
        "UPDATE stored_events SET state=? WHERE originator_id=? AND originator_version=?",
        bytes(flipped),
        log_stream(ORIGIN),
        index,
    )
    with pytest.raises(ChainBroken) as broken:
        verify_chain(open_store(path).entries(ORIGIN))
    assert broken.value.index == index


def test_a_row_deleted_from_the_sqlite_file_is_located(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    store = open_store(path)
    batch, _ = batch_of(Chain(), [f"event {n}".encode() for n in range(20)])
    store.append(batch, expected=Chain())
    _tamper(
        path,
        "DELETE FROM stored_events WHERE originator_id=? AND originator_version=?",
        log_stream(ORIGIN),
        12,
    )
    with pytest.raises(VerificationError, match=r"indices 12\.\.12 are missing"):
        verify_chain(open_store(path).entries(ORIGIN))
