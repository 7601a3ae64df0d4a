"""Inclusion and consistency proof latency on a 10-million-entry log in the SQLite store.

    .venv/bin/python bench/proofs.py [--entries 10000000] [--db .cache/bench/proofs.db]

Builds (once; kept at --db) one log of N entries through ``LedgerStore.append`` in batches, with
the Merkle nodes the ingest stores, then times inclusion proofs of random entries against the
full tree, and consistency proofs between random sizes, each verified, and prints p50/p99.
Inclusion proofs are timed twice: with the file dropped from the OS page cache (every proof reads
its rows from the disk) and with the file in the page cache (a proof server's steady state).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from functools import partial
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.ingest.store import Batch, LedgerStore
from ledger.wire.appender import LogAppender
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

ORIGIN = "bench/liuhen.audit/0"


def build(store: LedgerStore, entries: int) -> None:
    ledger = SigningKey("ledger", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    log = LogAppender.resume(
        origin=ORIGIN, key=ledger, chain=store.head(ORIGIN), node=partial(store.node, ORIGIN)
    )
    rng = random.Random(7)
    began = time.perf_counter()
    while log.size < entries:
        before = log.chain
        batch = [
            log.append(rng.randbytes(200), kafka_offset=log.size, ingested_at_us=0)
            for _ in range(min(20_000, entries - log.size))
        ]
        store.append(Batch(origin=ORIGIN, entries=batch, event_ids={}), expected=before)
        if log.size % 1_000_000 == 0:
            rate = log.size / (time.perf_counter() - began)
            print(f"  built {log.size:,} entries ({rate:,.0f}/s)", flush=True)


def evict(db: Path) -> None:
    """Drop the database file from the OS page cache, so the first pass reads from the disk."""
    for path in (db, Path(f"{db}-wal")):
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def warm(db: Path) -> None:
    """Read the database file once, as a proof server's steady state finds it: in the page cache."""
    for path in (db, Path(f"{db}-wal")):
        if path.exists():
            with path.open("rb") as f:
                while f.read(1 << 23):
                    pass


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"p50 {p50 * 1e3:.3f} ms  p99 {p99 * 1e3:.3f} ms  max {ordered[-1] * 1e3:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=Path(".cache/bench/proofs.db"))
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    args.db.parent.mkdir(parents=True, exist_ok=True)
    store = LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(args.db)})
    build(store, args.entries)
    size = store.head(ORIGIN).size
    node = partial(store.node, ORIGIN)
    root = CompactRange.from_nodes(size, node).root()
    rng = random.Random(1)
    passes = []
    for prepare in (evict, warm):  # the file read from the disk, then from the page cache
        prepare(args.db)
        inclusion = []
        for _ in range(args.samples):
            index = rng.randrange(size)
            began = time.perf_counter()
            proof = store.with_nodes(ORIGIN, partial(inclusion_proof, index, size))
            inclusion.append(time.perf_counter() - began)
            verify_inclusion(node(0, index), index, size, proof, root)
        passes.append(inclusion)
    consistency = []
    for _ in range(args.samples // 4):
        old = rng.randrange(1, size)
        began = time.perf_counter()
        proof = store.with_nodes(ORIGIN, partial(consistency_proof, old, size))
        consistency.append(time.perf_counter() - began)
        verify_consistency(old, size, CompactRange.from_nodes(old, node).root(), root, proof)
    print(f"log of {size:,} entries in {args.db} ({os.path.getsize(args.db) / 2**30:.1f} GiB)")
    print(f"inclusion proof, cold file ({args.samples} random entries): {percentiles(passes[0])}")
    print(f"inclusion proof, warm      ({args.samples} random entries): {percentiles(passes[1])}")
    print(f"consistency proof ({len(consistency)} random sizes):          {percentiles(consistency)}")


if __name__ == "__main__":
    main()
