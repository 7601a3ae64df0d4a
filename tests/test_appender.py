"""Building ledger entries (ledger.wire.appender): every append verifies, and checkpoints sign the log.

The properties append random entries in random batches and check the result with the verifier's
own functions and with the Merkle definitions: the chain verifies, the root is the MTH of the
leaves, each entry stores exactly the perfect subtrees it completed, and the signed checkpoint
names the log's size, root and chain head. A resumed appender (from stored nodes, and from a real
SQLite store) continues exactly where the first one stopped.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import VerificationError
from ledger.ingest.store import Batch, LedgerStore
from ledger.wire.appender import LogAppender
from ledger.wire.format import ZERO_HASH, Chain, StoredEntry, leaf_hash, verify_chain
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import EMPTY_ROOT, NodeReader, root_of_leaves
from ledger.wire.note import SignedCheckpoint

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORIGIN = "test/liuhen.audit/0"
OTHER_ORIGIN = "test/liuhen.audit/1"
KEY = SigningKey("ledger", Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"appender").digest()))
OTHER = SigningKey("ledger", Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"other").digest()))

ENTRIES = st.lists(st.binary(max_size=40), max_size=70)


def appended(entries: list[bytes], appender: LogAppender | None = None) -> list[StoredEntry]:
    log = appender or LogAppender(origin=ORIGIN, key=KEY)
    return [log.append(e, kafka_offset=log.size, ingested_at_us=1_000 + log.size) for e in entries]


def node_reader(stored: list[StoredEntry]) -> NodeReader:
    """``node(height, index)`` read from stored entries, as ``LedgerStore.node`` reads them."""

    def node(height: int, index: int) -> bytes:
        last = stored[((index + 1) << height) - 1]
        return leaf_hash(last.entry) if height == 0 else last.nodes[height - 1]

    return node


@SETTINGS
@given(ENTRIES)
def test_appended_entries_verify_and_the_root_is_the_mth_of_their_leaves(entries: list[bytes]) -> None:
    log = LogAppender(origin=ORIGIN, key=KEY)
    stored = appended(entries, log)
    assert verify_chain(stored) == log.chain == Chain(len(entries), log.head)
    assert [s.index for s in stored] == list(range(len(entries)))
    assert [s.entry for s in stored] == entries
    assert [(s.kafka_offset, s.ingested_at_us) for s in stored] == [
        (i, 1_000 + i) for i in range(len(entries))
    ]
    assert log.size == len(entries)
    assert log.root == root_of_leaves(leaf_hash(e) for e in entries)


@SETTINGS
@given(ENTRIES)
def test_each_entry_stores_the_perfect_subtrees_it_completes(entries: list[bytes]) -> None:
    """Entry i stores MTH(D[i+1-2**h : i+1]) for every h >= 1 with (i + 1) % 2**h == 0, height 1 first."""
    leaves = [leaf_hash(e) for e in entries]
    for stored in appended(entries):
        end = stored.index + 1
        heights = range(1, (end & -end).bit_length())
        assert stored.nodes == tuple(root_of_leaves(leaves[end - (1 << h) : end]) for h in heights)
        assert StoredEntry.decode(stored.index, stored.encode()) == stored


def checkpoint_of(log: LogAppender) -> bytes:
    return log.checkpoint(time_us=1_700_000_000_000_000, logs=[ORIGIN])


@SETTINGS
@given(ENTRIES)
def test_the_checkpoint_verifies_with_the_key_and_names_size_root_and_head(entries: list[bytes]) -> None:
    log = LogAppender(origin=ORIGIN, key=KEY)
    appended(entries, log)
    signed = SignedCheckpoint.parse(log.checkpoint(time_us=1234, logs=[OTHER_ORIGIN]))
    signed.verify_log(ledger_keys=[KEY.public])
    assert [s.name for s in signed.signatures] == [ORIGIN]  # the key signs under the origin's name
    body = signed.checkpoint
    assert (body.origin, body.tree_size, body.root_hash, body.chain_head, body.time_us) == (
        ORIGIN,
        len(entries),
        log.root,
        log.head,
        1234,
    )
    assert body.logs == (OTHER_ORIGIN, ORIGIN)  # a new log comes last
    with pytest.raises(VerificationError, match="no signature by a ledger key"):
        signed.verify_log(ledger_keys=[OTHER.public])
    with pytest.raises(VerificationError, match="no signature by a ledger key"):
        signed.verify(ledger_keys=[KEY.public])  # under the key's own name ("ledger"): not this log's


def test_a_checkpoints_time_never_goes_back() -> None:
    log = LogAppender(origin=ORIGIN, key=KEY)
    appended([b"a"], log)
    first = SignedCheckpoint.parse(log.checkpoint(time_us=2_000, logs=[ORIGIN])).checkpoint
    appended([b"b"], log)
    second = SignedCheckpoint.parse(
        log.checkpoint(time_us=1_000, logs=[ORIGIN])
    ).checkpoint  # clock stepped back
    assert (first.time_us, second.time_us, log.time_us) == (2_000, 2_000, 2_000)


def test_the_empty_log_has_the_empty_root_and_the_zero_chain_head() -> None:
    log = LogAppender(origin=ORIGIN, key=KEY)
    assert (log.size, log.head, log.root) == (0, ZERO_HASH, EMPTY_ROOT)
    body = SignedCheckpoint.parse(log.checkpoint(time_us=0, logs=[ORIGIN])).checkpoint
    assert (body.tree_size, body.root_hash, body.chain_head) == (0, EMPTY_ROOT, ZERO_HASH)


@SETTINGS
@given(ENTRIES, st.data())
def test_a_given_leaf_hash_builds_the_same_entry(entries: list[bytes], data: st.DataObject) -> None:
    computed, given_leaf = LogAppender(origin=ORIGIN, key=KEY), LogAppender(origin=ORIGIN, key=KEY)
    for entry in entries:
        offset = data.draw(st.integers(-1, 2**40))
        assert computed.append(entry, kafka_offset=offset, ingested_at_us=7) == given_leaf.append(
            entry, kafka_offset=offset, ingested_at_us=7, leaf=leaf_hash(entry)
        )


@SETTINGS
@given(ENTRIES, ENTRIES, ENTRIES)
def test_a_copy_and_its_original_never_change_each_other(
    before: list[bytes], on_copy: list[bytes], on_original: list[bytes]
) -> None:
    original = LogAppender(origin=ORIGIN, key=KEY)
    appended(before, original)
    state = (original.size, original.head, original.root, checkpoint_of(original))
    twin = original.copy()
    assert (twin.size, twin.head, twin.root, checkpoint_of(twin)) == state
    copied = appended(on_copy, twin)
    assert (original.size, original.head, original.root, checkpoint_of(original)) == state
    appended(on_original, original)
    assert [s.index for s in copied] == list(range(len(before), len(before) + len(on_copy)))
    assert verify_chain(copied, start=Chain(state[0], state[1])) == twin.chain
    assert twin.root == root_of_leaves(leaf_hash(e) for e in [*before, *on_copy])
    assert original.root == root_of_leaves(leaf_hash(e) for e in [*before, *on_original])


@SETTINGS
@given(ENTRIES, ENTRIES)
def test_a_resumed_log_continues_exactly_where_it_stopped(first: list[bytes], then: list[bytes]) -> None:
    whole = LogAppender(origin=ORIGIN, key=KEY)
    stored = appended(first, whole)
    resumed = LogAppender.resume(origin=ORIGIN, key=KEY, chain=whole.chain, node=node_reader(stored))
    assert (resumed.size, resumed.head, resumed.root) == (whole.size, whole.head, whole.root)
    assert appended(then, resumed) == appended(then, whole)
    assert checkpoint_of(resumed) == checkpoint_of(whole)


def test_a_log_resumed_from_a_real_store_continues_its_chain_and_tree(tmp_path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.db")}
    store = LedgerStore.open(env)
    try:
        log = LogAppender(origin=ORIGIN, key=KEY)
        for size in (5, 13, 37):  # three batches, each with the checkpoint of the log after it
            before = log.chain
            batch = appended([f"event {n}".encode() for n in range(log.size, size)], log)
            store.append(
                Batch(origin=ORIGIN, entries=batch, event_ids={}, checkpoint=checkpoint_of(log)),
                expected=before,
            )
        resumed = LogAppender.resume(
            origin=ORIGIN, key=KEY, chain=store.head(ORIGIN), node=partial(store.node, ORIGIN)
        )
        assert (resumed.size, resumed.head, resumed.root) == (log.size, log.head, log.root)
        assert store.latest_checkpoint(ORIGIN) == (37, checkpoint_of(resumed))
        more = [b"after the restart", b"and one more"]
        assert appended(more, resumed) == appended(more, log)
        assert verify_chain(store.entries(ORIGIN)) == Chain(37, store.head(ORIGIN).head)
    finally:
        store.close()


def test_the_appender_imports_no_kafka_store_or_read_model_library() -> None:
    """It is part of the wire formats an auditor installs alone (stdlib, cryptography, fastavro)."""
    code = (
        "import sys, ledger.wire.appender; "
        "print(sorted({'kafka', 'eventsourcing', 'sqlite_utils', 'psycopg'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
