"""Projection rate on the worst cases for per-event state: one person's, one camera's and one
source's burst, next to the mixed city.

    .venv/bin/python bench/bursts.py [--events 20000] [--rounds 2]

Each ledger holds ``--events`` entries of the simulated city's traffic (:mod:`ledger.simulate` at
ten times its size, the events of ``bench/queries.py``), signed and appended as ingest appends
them, in SQLite files under a temporary folder:

``mixed``    the city's events as they come (many people, cameras and systems);
``views``    the city's footage views as they come: the bursts below are these, rewritten;
``person``   the city's footage views, all by one person within one hour: their bulk-access check
             (R12) runs on every one of them, past its limit;
``camera``   the city's footage views, all of one camera;
``source``   the city's events, all published by one source system (one log, one sequence).

The read models are then built from each ledger from scratch (``ProjectionRunner``), ``--rounds``
times in turn, and the rate of each is printed with its ratio to the mixed city's rate in the same
round, and the CPU per event (steadier than the rate on a shared machine). The target: every burst
at least the mixed rate, whatever the size of the burst; a burst is made of footage views, so
``views`` is what it costs without the burst.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from queries import SEED, key, origin_of, signer, traffic

from ledger.ingest.store import Batch, LedgerStore
from ledger.sdk import EventSigner
from ledger.simulate import SimEvent
from ledger.wire.appender import LogAppender
from ledger.wire.avro import SchemaRegistry
from ledger.wire.format import Chain, StoredEntry, to_micros
from ledger.wire.keyring import REGISTRAR_SOURCE
from projections.runner import ProjectionRunner, open_db

BATCH = 4000
SOURCE = "zz-metro"


def mixed(count: int) -> Iterator[tuple[str, SimEvent]]:
    """The city's first ``count`` entries."""
    return traffic(count)


def _views(count: int) -> Iterator[tuple[str, SimEvent]]:
    """Key registrations, then the city's footage views, ``count`` entries in all."""
    events = traffic(10 * count + 1000)
    registrations = list(itertools.takewhile(lambda e: e[1].source_id == REGISTRAR_SOURCE, events))
    yield from registrations
    views = (e for e in events if e[1].event_type == "FootageViewed")
    yield from itertools.islice(views, count - len(registrations))


def person(count: int) -> Iterator[tuple[str, SimEvent]]:
    """The city's footage views, all by the first viewer, packed into one hour."""
    viewer: dict[str, Any] | None = None
    first = None
    for n, (origin, event) in enumerate(_views(count)):
        if event.event_type != "FootageViewed":
            yield origin, event
            continue
        viewer = viewer or event.actor
        first = first or event.occurred_at
        yield origin, replace(event, actor=viewer, occurred_at=first + timedelta(seconds=3000 * n / count))


def camera(count: int) -> Iterator[tuple[str, SimEvent]]:
    """The city's footage views, all of the first camera viewed."""
    camera_id = None
    for origin, event in _views(count):
        if event.event_type != "FootageViewed":
            yield origin, event
            continue
        camera_id = camera_id or event.fields["access"]["camera_id"]
        access = {**event.fields["access"], "camera_id": camera_id}
        yield origin, replace(event, fields={**event.fields, "access": access})


def source(count: int) -> Iterator[tuple[str, SimEvent]]:
    """The city's events, all published by one source system (its registration first)."""
    for _, event in mixed(count):
        if event.source_id != REGISTRAR_SOURCE:
            yield origin_of(SOURCE), replace(event, source_id=SOURCE)
        elif event.fields["system_id"] == SOURCE:
            yield origin_of(SOURCE), event


SCENARIOS: dict[str, Callable[[int], Iterator[tuple[str, SimEvent]]]] = {
    "mixed": mixed,
    "views": _views,
    "person": person,
    "camera": camera,
    "source": source,
}


def build(db: Path, events: Iterable[tuple[str, SimEvent]]) -> int:
    """Sign ``events`` as the SDK does and append them as ingest does; the entries written."""
    store = LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    registry = SchemaRegistry.load()
    ledger = key("ledger")
    signers: dict[str, EventSigner] = {}
    appenders: dict[str, LogAppender] = {}
    pending: dict[str, tuple[Chain, list[StoredEntry], dict[int, uuid.UUID]]] = {}
    seqs: dict[str, int] = {}
    ids = random.Random(f"bursts|{SEED}")
    written = 0

    def flush(origin: str) -> None:
        nonlocal written
        before, entries, event_ids = pending.pop(origin)
        store.append(
            Batch(
                origin=origin,
                entries=entries,
                event_ids=event_ids,
                checkpoint=appenders[origin].checkpoint(time_us=time.time_ns() // 1000, logs=store.origins()),
            ),
            expected=before,
        )
        written += len(entries)

    for origin, event in events:
        if event.withheld:
            continue
        sdk = signers.get(event.source_id)
        if sdk is None:
            sdk = signers[event.source_id] = EventSigner(
                source_id=event.source_id, key=signer(event.source_id), registry=registry
            )
        seqs[event.source_id] = seq = seqs.get(event.source_id, 0) + 1
        event_id = uuid.UUID(bytes=ids.randbytes(16), version=4)
        wire, _ = sdk.sign(
            event.event_type,
            event.fields,
            seq=seq,
            actor=event.actor,
            occurred_at=event.occurred_at,
            event_id=event_id,
        )
        appender = appenders.setdefault(origin, LogAppender(origin=origin, key=ledger))
        _, entries, event_ids = pending.setdefault(origin, (appender.chain, [], {}))
        # logged as it happens (ingested at 0, every event would be "from the future": R15 each)
        stored = appender.append(wire, kafka_offset=-1, ingested_at_us=to_micros(event.occurred_at))
        entries.append(stored)
        event_ids[stored.index] = event_id
        if len(entries) == BATCH:
            flush(origin)
    for origin in list(pending):
        flush(origin)
    store.close()
    return written


def project(db: Path, views: Path) -> tuple[int, float, float]:
    """Build the read models from scratch; the events applied, the seconds and CPU seconds it took.

    The CPU is this process's (and its children's: a backlog of 50,000 is read ahead by a second).
    """
    for path in (views, Path(f"{views}-wal"), Path(f"{views}-shm")):
        path.unlink(missing_ok=True)
    store = LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    runner = ProjectionRunner(store=store, db=open_db(views))
    began, cpu = time.perf_counter(), _cpu()
    stats = runner.run()
    seconds, cpu = time.perf_counter() - began, _cpu() - cpu
    store.close()
    runner.db.close()
    return stats.events, seconds, cpu


def _cpu() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="liuhen-bursts-") as folder:
        ledgers = {}
        for name, scenario in SCENARIOS.items():
            db = Path(folder) / f"{name}.db"
            began = time.perf_counter()
            written = build(db, scenario(args.events))
            print(
                f"built {name:<7} {written:>7,} entries in {time.perf_counter() - began:5.1f} s", flush=True
            )
            ledgers[name] = db
        ratios: dict[str, list[float]] = {name: [] for name in SCENARIOS}
        costs: dict[str, list[float]] = {name: [] for name in SCENARIOS}
        for round_ in range(1, args.rounds + 1):
            rates, cpus = {}, {}
            for name, db in ledgers.items():
                events, seconds, cpu = project(db, Path(folder) / f"{name}.views.db")
                rates[name], cpus[name] = events / seconds, cpu / events * 1e6
                costs[name].append(cpus[name])
            for name, rate in rates.items():
                ratios[name].append(rate / rates["mixed"])
            shown = (
                f"{name} {rate:,.0f}/s ({rate / rates['mixed']:.2f}; {cpus[name]:.0f} µs CPU an event)"
                for name, rate in rates.items()
            )
            print(f"round {round_}: " + ", ".join(shown), flush=True)
        print(
            "median of the rounds, against the mixed city: "
            + ", ".join(f"{name} {statistics.median(r):.2f}" for name, r in ratios.items() if name != "mixed")
        )
        print(
            "median CPU an event: "
            + ", ".join(f"{name} {statistics.median(c):.1f} µs" for name, c in costs.items())
        )


if __name__ == "__main__":
    main()
