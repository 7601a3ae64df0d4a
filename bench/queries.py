"""Investigator query latency and projection rebuild rate on a 10-million-event ledger.

    .venv/bin/python bench/queries.py [--events 10000000] [--db .cache/bench/queries-ledger.db]

Builds (once; kept at --db and reused while it holds exactly --events entries) the ledger of the
simulated city of :mod:`ledger.simulate` at ten times its size (3,800 cameras, 760 staff in three
systems, ~175k events a day, so 10M events is ~57 days), with planted violations and a steady
trickle of unlawful accesses (a view without its reason, an export without its watermark, a share
without desensitization). Every event is encoded and Ed25519-signed as the producer SDK does (on
worker processes), and written as ingest writes it: one log per source system, 4,000-entry batches
through ``LedgerStore.append`` with Merkle nodes, the event-id markers and a signed checkpoint per
batch. An interrupted build resumes where its logs end.

Then, in this process (the build runs in a child, so its memory is not counted), the read models
are rebuilt from scratch (rate in events/s, peak RSS), and each of the four investigator queries of
:mod:`projections.queries` runs --samples times with random parameters drawn from the projected
data: ``who`` over a one-hour footage window around a real access of a random camera, ``actor``
for a random person over a random 30-day period (the first page of 1,000 rows, as ``liuhen
actor`` shows it, and every row, as ``--limit 0`` gives them), ``case`` for a random case, document or
application number, ``violations`` filtered by rule, by the last 1-7 days, or by severity and
the last 1-7 days. Prints p50/p99/max latency, the rows returned and the time per row, and the
``actor`` figures again by the person's role.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import random
import resource
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.app.keys import REGISTRAR_ACTOR
from ledger.ingest.store import Batch, LedgerStore
from ledger.simulate import CHINA_TZ, SimEvent, build_city, simulate
from ledger.wire.appender import LogAppender
from ledger.wire.avro import SIGNING_CONTEXT, SchemaRegistry, SignedEvent
from ledger.wire.format import Chain, StoredEntry
from ledger.wire.keyring import REGISTRAR_SOURCE
from ledger.wire.keys import SigningKey
from projections import queries
from projections.runner import ProjectionRunner, open_db

SEED = 2026
SCALE = 10.0
START = datetime(2026, 5, 1, tzinfo=CHINA_TZ)
BATCH = 4000
CHUNK = 4000
PAGE = 1000
"""Rows of the first page of `liuhen actor` (its default --limit)."""
DAY_US = 86_400 * 1_000_000


def key(name: str) -> SigningKey:
    """The bench's deterministic key for ``name`` (so a resumed build signs with the same keys)."""
    return SigningKey(
        name, Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"bench|{name}".encode()).digest())
    )


def signer(source_id: str) -> SigningKey:
    """The key a source signs with: the registrar signs with the ledger key."""
    return key("ledger" if source_id == REGISTRAR_SOURCE else source_id)


def origin_of(system_id: str) -> str:
    return f"bench/liuhen.audit/{system_id}"


# -- the traffic ----------------------------------------------------------------------------------


def unlawful(event: SimEvent, rng: random.Random) -> SimEvent:
    """Now and then drop what the regulation requires: a reason (R4), a watermark (R6), a 脱敏 (R7)."""
    fields = event.fields
    if event.event_type == "FootageViewed" and rng.random() < 1 / 4000:
        fields = {**fields, "access": {**fields["access"], "reason": None}}
    elif event.event_type == "FootageExported" and rng.random() < 1 / 40:
        fields = {**fields, "watermark_id": None}
    elif event.event_type == "FootageShared" and rng.random() < 1 / 40:
        fields = {**fields, "desensitization_profile": None}
    else:
        return event
    return replace(event, fields=fields)


def traffic(count: int) -> Iterator[tuple[str, SimEvent]]:
    """``(log origin, event)`` of the ledger's first ``count`` entries, always the same ones."""
    city = build_city(seed=SEED, scale=SCALE)
    for system in city.systems:  # each source's key registration opens its log
        fields = {"system_id": system.system_id, "public_key": key(system.system_id).public.verifier_text}
        yield (
            origin_of(system.system_id),
            SimEvent(
                REGISTRAR_SOURCE,
                "SourceKeyRegistered",
                {**fields, "replaces_key_id": None},
                REGISTRAR_ACTOR,
                START,
            ),
        )
    rng = random.Random(f"bench|{SEED}")
    days = count / 100_000 + 2  # ~175k a day: enough days, never generated past ``count``
    events = simulate(city, seed=SEED, start=START + timedelta(minutes=1), days=days, plant=True)
    wanted = count - len(city.systems)
    for event in events:
        if not wanted:
            return
        wanted -= not event.withheld  # a withheld event is numbered, never sent (a planted R11 gap)
        yield origin_of(event.source_id), unlawful(event, rng)


# -- building the ledger --------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(names: list[str]) -> None:
    _worker["registry"] = SchemaRegistry.load()
    _worker["keys"] = {name: signer(name).private for name in names}


def _seal(jobs: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
    """Encode and sign events as the producer SDK does: ``(event type, record)`` -> wire bytes."""
    registry, keys, wires = _worker["registry"], _worker["keys"], []
    for event_type, record in jobs:
        fingerprint, body = registry.encode(event_type, record)
        signature = keys[record["envelope"]["source_system_id"]].sign(SIGNING_CONTEXT + fingerprint + body)
        wires.append(SignedEvent(fingerprint, body, signature).encode())
    return wires


@dataclass
class Log:
    """One log being appended: its appender, and the batch not yet written."""

    appender: LogAppender
    stored: int
    seen: int = 0
    before: Chain = field(default_factory=Chain)
    """The chain before the batch being gathered."""
    entries: list[StoredEntry] = field(default_factory=list)
    event_ids: dict[int, uuid.UUID] = field(default_factory=dict)


def build(db: Path, count: int, signers: int) -> None:
    """Append the first ``count`` entries of :func:`traffic` to the store at ``db`` (resuming)."""
    store = LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    registry = SchemaRegistry.load()
    ledger = key("ledger")
    logs: dict[str, Log] = {}
    for origin in store.origins():
        head = store.head(origin)
        appender = LogAppender.resume(origin=origin, key=ledger, chain=head, node=partial(store.node, origin))
        logs[origin] = Log(appender, head.size)
    done = sum(log.stored for log in logs.values())
    print(f"building {count:,} entries in {db} (holds {done:,})", flush=True)
    ids = random.Random(f"bench|ids|{SEED}")
    seqs: dict[str, int] = {}
    names = sorted({REGISTRAR_SOURCE, *(s.system_id for s in build_city(seed=SEED, scale=SCALE).systems)})
    key_ids = {name: signer(name).public.key_id for name in names}
    began, written = time.perf_counter(), done

    def flush(log: Log) -> None:
        nonlocal written
        store.append(
            Batch(
                origin=log.appender.origin,
                entries=log.entries,
                event_ids=log.event_ids,
                checkpoint=log.appender.checkpoint(time_us=time.time_ns() // 1000, logs=store.origins()),
            ),
            expected=log.before,
        )
        written += len(log.entries)
        if written // 500_000 != (written - len(log.entries)) // 500_000:
            rate = (written - done) / (time.perf_counter() - began)
            print(f"  {written:,} entries ({rate:,.0f}/s)", flush=True)
        log.entries, log.event_ids = [], {}

    def prepared() -> Iterator[tuple[list[tuple[Log, uuid.UUID]], list[tuple[str, dict[str, Any]]]]]:
        chunk: list[tuple[Log, uuid.UUID]] = []
        jobs: list[tuple[str, dict[str, Any]]] = []
        for origin, event in traffic(count):
            event_id = uuid.UUID(bytes=ids.randbytes(16), version=4)
            seqs[event.source_id] = seq = seqs.get(event.source_id, 0) + 1
            if event.withheld:
                continue
            log = logs.get(origin)
            if log is None:
                log = logs[origin] = Log(LogAppender(origin=origin, key=ledger), 0)
            log.seen += 1
            if log.seen <= log.stored:
                continue  # written by an earlier, interrupted build
            envelope = {
                "event_id": event_id,
                "schema_version": registry.event_type(event.event_type).version,
                "occurred_at": event.occurred_at,
                "source_system_id": event.source_id,
                "source_seq": seq,
                "actor": event.actor,
                "key_id": key_ids[event.source_id],
            }
            chunk.append((log, event_id))
            jobs.append((event.event_type, {**event.fields, "envelope": envelope}))
            if len(chunk) == CHUNK:
                yield chunk, jobs
                chunk, jobs = [], []
        if chunk:
            yield chunk, jobs

    def append(chunk: list[tuple[Log, uuid.UUID]], wires: list[bytes]) -> None:
        for (log, event_id), wire in zip(chunk, wires, strict=True):
            if not log.entries:
                log.before = log.appender.chain
            stored = log.appender.append(wire, kafka_offset=-1, ingested_at_us=0)
            log.entries.append(stored)
            log.event_ids[stored.index] = event_id
            if len(log.entries) == BATCH:
                flush(log)

    with multiprocessing.get_context("fork").Pool(signers, _init_worker, (names,)) as pool:
        waiting: deque[tuple[list[Any], Any]] = deque()
        for chunk, jobs in prepared():
            waiting.append((chunk, pool.apply_async(_seal, (jobs,))))
            if len(waiting) > 2 * signers:
                done_chunk, signed = waiting.popleft()
                append(done_chunk, signed.get())
        while waiting:
            done_chunk, signed = waiting.popleft()
            append(done_chunk, signed.get())
    for log in logs.values():
        if log.entries:
            flush(log)
    store.close()
    seconds = time.perf_counter() - began
    print(f"built {written - done:,} entries in {seconds:,.0f} s ({(written - done) / seconds:,.0f}/s)")


def ledger_size(db: Path) -> int:
    if not db.exists():
        return 0
    store = LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    try:
        return sum(store.head(origin).size for origin in store.origins())
    finally:
        store.close()


# -- rebuilding the read models and querying them -------------------------------------------------


def rebuild(db: Path, views: Path) -> None:
    """Rebuild the read models at ``views`` from scratch; print the rate and the peak RSS."""
    for path in (views, Path(f"{views}-wal"), Path(f"{views}-shm")):
        path.unlink(missing_ok=True)
    store = LedgerStore.open({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    runner = ProjectionRunner(store=store, db=open_db(views))

    def progress(stats: Any) -> None:
        if stats.batches % 250 == 0:
            print(f"  {stats.events:,} events ({stats.events / stats.seconds:,.0f}/s)", flush=True)

    began, cpu, reader = time.perf_counter(), time.process_time(), _children_cpu()
    runner.rebuild()
    stats = runner.run(progress=progress)  # with the query indexes it builds once caught up
    seconds, cpu, reader = time.perf_counter() - began, time.process_time() - cpu, _children_cpu() - reader
    store.close()
    runner.db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"rebuild: {stats.events:,} events in {seconds:,.1f} s = {stats.events / seconds:,.0f} events/s "
        f"({stats.read_ahead:,} read ahead by a second process); CPU: {cpu:,.0f} s here "
        f"({stats.events / cpu:,.0f} events per CPU-second), {reader:,.0f} s in the reader; "
        f"peak RSS {peak:,.0f} MiB here, {children:,.0f} MiB in the largest child; "
        f"read models {views.stat().st_size / 2**30:.1f} GiB"
    )


def _children_cpu() -> float:
    times = os.times()
    return times.children_user + times.children_system


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[max(0, round(len(ordered) * 0.99) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1e3:6.2f} ms  p99 {p99 * 1e3:6.2f} ms  "
        f"max {ordered[-1] * 1e3:6.2f} ms"
    )


Query = Callable[[], tuple[int, str]]


def workloads(views: Any, rng: random.Random) -> dict[str, Query]:
    """Each query with parameters drawn at random from the projected data.

    Each returns its row count and a label to break the figures down by (the actor's role).
    """
    last_id = views.execute("SELECT MAX(id) FROM access").fetchone()[0]
    first, last = views.execute("SELECT MIN(occurred_at), MAX(occurred_at) FROM access").fetchone()
    people = views.execute(
        "SELECT actor_id, MAX(role) FROM access WHERE actor_name != '' GROUP BY actor_id"
    ).fetchall()
    cases = [r[0] for r in views.execute("SELECT DISTINCT case_number FROM access WHERE case_number > ''")]
    cases += [r[0] for r in views.execute("SELECT application_id FROM applications")]
    rules = [r[0] for r in views.execute("SELECT DISTINCT rule FROM violations")] or ["R1"]
    severities = [r[0] for r in views.execute("SELECT DISTINCT severity FROM violations")] or ["high"]
    hour, month = 3_600_000_000, 30 * DAY_US

    def who() -> tuple[int, str]:
        row = None
        while row is None:  # a real access of a random camera (by a random access row)
            row = views.execute(
                "SELECT camera_id, footage_start FROM access WHERE id = ? AND footage_start IS NOT NULL",
                [rng.randint(1, last_id)],
            ).fetchone()
        start = row[1] - rng.randrange(hour)
        return len(queries.who(views, row[0], start, start + hour)), ""

    def who_accessed() -> tuple[int, str]:  # `liuhen who --accessed`: an hour around a real access
        row = views.execute(
            "SELECT camera_id, occurred_at FROM access WHERE id = ?", [rng.randint(1, last_id)]
        ).fetchone()
        start = row[1] - rng.randrange(hour)
        return len(queries.who(views, row[0], start, start + hour, accessed=True)), ""

    names = [r[0] for r in views.execute("SELECT name FROM people WHERE name != ''")] or ["张"]

    def find() -> tuple[int, str]:  # `liuhen find`: two characters of a real name
        name = rng.choice(names)
        found = queries.find(views, name[-2:])
        return sum(len(rows) for rows in found.values()), ""

    def actor() -> tuple[int, str]:  # the first page, as `liuhen actor` shows it
        user_id, role = rng.choice(people)
        start = first + rng.randrange(max(1, last - first - month))
        return len(queries.actor_page(views, user_id, start, start + month, limit=PAGE).rows), role

    def actor_every_row() -> tuple[int, str]:  # `liuhen actor --limit 0`
        user_id, role = rng.choice(people)
        start = first + rng.randrange(max(1, last - first - month))
        return len(queries.actor(views, user_id, start, start + month)), role

    def case() -> tuple[int, str]:
        found = queries.case(views, rng.choice(cases))
        return sum(len(rows) for rows in found.values()), ""

    def violations() -> tuple[int, str]:
        since = last - rng.randrange(DAY_US, 7 * DAY_US)
        kind = rng.randrange(3)
        if kind == 0:
            return len(queries.violations(views, rule=rng.choice(rules))), ""
        if kind == 1:
            return len(queries.violations(views, since=since)), ""
        return len(queries.violations(views, severity=rng.choice(severities), since=since)), ""

    return {
        "who": who,
        "who --accessed": who_accessed,
        "find": find,
        "actor": actor,
        "actor, every row": actor_every_row,
        "case": case,
        "violations": violations,
    }


def time_queries(views_path: Path, samples: int) -> None:
    """Time each query on a fresh connection, as the CLI opens one."""
    views = open_db(views_path)
    rng = random.Random(1)
    for name, query in workloads(views, rng).items():
        for _ in range(min(50, samples)):  # warm the statement cache and the first pages
            query()
        runs: dict[str, list[tuple[float, int]]] = {}
        for _ in range(samples):
            began = time.perf_counter()
            rows, label = query()
            runs.setdefault(label, []).append((time.perf_counter() - began, rows))
        groups = [("", [run for group in runs.values() for run in group])]
        groups += sorted(runs.items()) if len(runs) > 1 else []
        for label, timed in groups:
            latencies, rows = [t for t, _ in timed], [n for _, n in timed]
            title = f"{name} ({label})" if label else name
            per_row = sum(latencies) / max(1, sum(rows)) * 1e6
            print(
                f"{title:<36} {len(timed):>5} runs  {percentiles(latencies)}  "
                f"rows: mean {statistics.mean(rows):,.0f}, max {max(rows):,}; {per_row:.1f} us/row"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000, help="ledger entries (default 10M)")
    parser.add_argument("--db", type=Path, help="the ledger (default .cache/bench/queries-ledger[-N].db)")
    parser.add_argument("--views", type=Path, default=Path(".cache/bench/queries-views.db"))
    parser.add_argument("--samples", type=int, default=1000, help="timed runs of each query")
    parser.add_argument("--signers", type=int, default=os.cpu_count() or 2, help="signing processes")
    args = parser.parse_args()
    suffix = "" if args.events == 10_000_000 else f"-{args.events}"
    db = args.db or Path(f".cache/bench/queries-ledger{suffix}.db")
    db.parent.mkdir(parents=True, exist_ok=True)
    held = ledger_size(db)
    if held > args.events:
        raise SystemExit(
            f"{db} holds {held:,} entries, more than --events {args.events:,}: pass another --db"
        )
    if held < args.events:  # a child process, so the build's memory is not the rebuild's
        child = multiprocessing.get_context("fork").Process(
            target=build, args=(db, args.events, args.signers)
        )
        child.start()
        child.join()
        if child.exitcode != 0 or ledger_size(db) != args.events:
            raise SystemExit(f"building {db} failed")
    print(f"ledger: {args.events:,} entries in {db} ({db.stat().st_size / 2**30:.1f} GiB)")
    rebuild(db, args.views)
    time_queries(args.views, args.samples)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
