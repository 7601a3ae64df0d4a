"""Ingest on SQLite and PostgreSQL, with one and two ``liuhen ingest`` processes, against the real broker.

    .venv/bin/python bench/ingest_scale.py [--events 60000] [--stores sqlite postgres] [--processes 1 2]

For each store and process count, on a fresh 4-partition topic with 8 source systems (so every
partition has work): publishes N signed events (a backlog), starts the ``liuhen ingest``
processes of one consumer group, and measures

* **throughput**: N over the time from the first to the last stored entry (their ``ingested_at``),
  each entry verified, chained and committed with its checkpoint and Kafka offset;
* **latency**: then, with the processes still running, events are published at a steady rate
  with ``occurred_at`` = now, and each one's time to its checkpointed entry is its
  ``ingested_at`` minus its ``occurred_at`` (same clock): p50 and p99;
* **peak memory**: the largest ``VmHWM`` of an ingest process plus those of its child processes
  (its verifying workers);
* in the same run, just before, the raw Ed25519 verify rate of two threads on the same
  signatures, and ingest as a fraction of it.

PostgreSQL is the server of ``make postgres`` (127.0.0.1:15432, role and database ``liuhen``); each
run uses a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ingest import ACTOR, fields, raw_verify_rate
from kafka import KafkaProducer

from ledger.app.assembly import open_store
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.sources import register_key
from ledger.sdk import Publisher

SOURCES = [f"zz-bench-{n}" for n in range(8)]
PARTITIONS = 4
PROBE = "latency probe"
OURS = ("LIUHEN_", "POSTGRES_", "SQLITE_", "PERSISTENCE_MODULE")
POSTGRES = {
    "PERSISTENCE_MODULE": "eventsourcing.postgres",
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": os.environ.get("LIUHEN_POSTGRES_PORT", "15432"),
    "POSTGRES_DBNAME": "liuhen",
    "POSTGRES_USER": "liuhen",
    "POSTGRES_PASSWORD": os.environ.get("LIUHEN_POSTGRES_PASSWORD", "liuhen"),
}


@contextmanager
def store_env(store: str, home: Path) -> Iterator[dict[str, str]]:
    """The library's settings for a fresh SQLite file or PostgreSQL schema."""
    if store == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(home / "ledger.db")}
        return
    import psycopg  # noqa: PLC0415 - only for PostgreSQL runs
    from psycopg import sql  # noqa: PLC0415

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    connect = {"host": "127.0.0.1", "port": POSTGRES["POSTGRES_PORT"], "dbname": "liuhen", "user": "liuhen"}
    with psycopg.connect(**connect, password=POSTGRES["POSTGRES_PASSWORD"], autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield {**POSTGRES, "POSTGRES_SCHEMA": schema}
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def peak_rss(pid: int) -> int:
    """VmHWM of a running process plus those of its children, in KiB (0 once it has gone)."""
    total = 0
    for process in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except OSError:
            pass
    return found


def stored(config: Config) -> list[tuple[int, int]]:
    """``(ingested_at_us, index)`` of every source entry (not registrations), all logs."""
    store = open_store(config)
    try:
        return [
            (e.ingested_at_us, e.kafka_offset)
            for origin in store.origins()
            for e in store.entries(origin)
            if e.kafka_offset >= 0
        ]
    finally:
        store.close()


def run(store: str, processes: int, args: argparse.Namespace, keys: Path) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        shutil.copytree(keys, home / "keys")
        with store_env(store, home) as library:
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("LIUHEN_", "POSTGRES_", "SQLITE_"))
                },
                **library,
                "LIUHEN_HOME": str(home),
                "LIUHEN_KAFKA_BOOTSTRAP": args.bootstrap,
                "LIUHEN_TOPIC": f"bench.{tag}.audit",
                "LIUHEN_REJECTED_TOPIC": f"bench.{tag}.rejected",
                "LIUHEN_GROUP": f"bench-{tag}",
                "LIUHEN_PARTITIONS": str(PARTITIONS),
                "LIUHEN_SESSION_TIMEOUT_MS": "10000",
            }
            config = Config.from_env(env)
            ensure_key(config, "ledger")
            publishers = {}
            for source in SOURCES:
                key, _ = ensure_key(config, source)
                register_key(config, source, key.public)
                publishers[source] = Publisher.connect(
                    bootstrap=args.bootstrap, source_id=source, key=key, state_dir=config.state_dir,
                    topic=config.ingest.topic,
                )  # fmt: skip
            wires = []
            for n in range(args.events):
                source = SOURCES[n % len(SOURCES)]
                wire, _ = publishers[source].sign("FootageViewed", fields(n), actor=ACTOR)
                wires.append((source, wire))
            raw = raw_verify_rate(
                [w for s, w in wires if s == SOURCES[0]],
                publishers[SOURCES[0]].key.public.raw,
                2,
            )
            producer = KafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=20)
            for source, wire in wires:
                producer.send(config.ingest.topic, value=wire, key=source.encode())
            producer.flush()
            liuhen = str(Path(sys.executable).with_name("liuhen"))
            procs = [
                subprocess.Popen(
                    [liuhen, "ingest", "--until-idle", "8"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for _ in range(processes)
            ]
            peak = 0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                time.sleep(1.0)
                peak = max([peak, *(peak_rss(p.pid) for p in procs)])
                if len(stored(config)) >= args.events + len(SOURCES):  # and the key registrations
                    break
            backlog = sorted(stored(config))
            seconds = (backlog[-1][0] - backlog[0][0]) / 1e6
            # Latency: a steady stream, below capacity, while the processes still run.
            sent_at: list[float] = []
            began = time.monotonic()
            for n in range(args.latency_events):
                source = SOURCES[n % len(SOURCES)]
                probe = fields(n)
                probe["access"]["reason"] = PROBE
                publishers[source].publish("FootageViewed", probe, actor=ACTOR, occurred_at=datetime.now(UTC))
                sent_at.append(time.monotonic())
                ahead = (n + 1) / args.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            for publisher in publishers.values():
                publisher.flush()
            total = args.events + args.latency_events + len(SOURCES)
            while len(stored(config)) < total and time.monotonic() < deadline:
                time.sleep(0.5)
                peak = max([peak, *(peak_rss(p.pid) for p in procs)])
            latencies = latency_ms(config)
            assert len(latencies) == args.latency_events, f"{len(latencies)} of {args.latency_events} stored"
            for p in procs:
                p.wait(timeout=120)
            for publisher in publishers.values():
                publisher.close()
            producer.close()
    rate = args.events / seconds
    return {
        "raw": raw,
        "rate": rate,
        "p50": statistics.median(latencies),
        "p99": sorted(latencies)[int(len(latencies) * 0.99) - 1],
        "peak_mib": peak / 1024,
    }


def latency_ms(config: Config) -> list[float]:
    """Checkpointed-entry time minus the event's own time, for the probes published after the backlog."""
    from ledger.wire.avro import SchemaRegistry, SignedEvent  # noqa: PLC0415

    registry = SchemaRegistry.load()
    store = open_store(config)
    try:
        found = []
        for origin in store.origins():
            for e in store.entries(origin):
                signed = SignedEvent.decode(e.entry)
                kind, record = registry.decode(signed.schema, signed.body)
                envelope = record["envelope"]
                if kind.name != "FootageViewed" or record["access"]["reason"] != PROBE:
                    continue
                occurred = envelope["occurred_at"].timestamp() * 1e6
                found.append((e.ingested_at_us - occurred) / 1000)
        return found
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--latency-events", type=int, default=4_000)
    parser.add_argument("--rate", type=float, default=1_000.0, help="events/s of the latency stream")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--processes", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys"
        config = Config.from_env({"LIUHEN_HOME": tmp})
        ensure_key(config, "ledger")
        for source in SOURCES:
            ensure_key(config, source)
        print(f"{args.events:,} events backlog, then {args.latency_events:,} at {args.rate:,.0f}/s; "
              f"{PARTITIONS} partitions, {len(SOURCES)} sources")  # fmt: skip
        print("store     procs  ingest ev/s  raw 2-thr/s  ratio  latency p50  p99       peak RSS")
        for store in args.stores:
            for processes in args.processes:
                r = run(store, processes, args, keys)
                print(
                    f"{store:<9} {processes:>5}  {r['rate']:>11,.0f}  {r['raw']:>11,.0f}  "
                    f"{r['rate'] / r['raw']:>5.2f}  {r['p50']:>8,.0f} ms  {r['p99']:>6,.0f} ms  "
                    f"{r['peak_mib']:>5,.0f} MiB",
                    flush=True,
                )


if __name__ == "__main__":
    main()
