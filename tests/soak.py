"""Soak: ingest's faults, again and again for as long as asked, each followed by a full audit.

::

    .venv/bin/python -m tests.soak --minutes 30                 # SQLite ledger
    .venv/bin/python -m tests.soak --minutes 30 --store postgres

Not collected by pytest (``python_files`` is ``test_*.py``); ``tests/test_faults.py`` runs each
fault once, bounded in time, in CI. Runs against a Kafka broker and a PostgreSQL server of its own
(:class:`tests.faults.PrivateBroker`, :class:`tests.faults.PrivatePostgres`, on free loopback
ports, removed at the end), with four partitions and two ``liuhen ingest`` processes in one
consumer group. Each round, a producer
publishes a burst while one fault, drawn at random, strikes:

``sigkill``   SIGKILL an ingest process at a random moment, two to six times in the burst; each is
              started again right away
``freeze``    SIGSTOP one process past its group session (the other takes its partitions), then
              wake it: its batch in hand must be fenced off
``broker``    stop the broker and start it again
``database``  SQLite: another connection holds the write lock; PostgreSQL: the server is stopped
``poison``    bad messages of every kind and resent duplicates amid the burst

then the round waits until the ingest processes have drained the topic and audits the whole
ledger (:func:`tests.faults.audit`: every message exactly once, every published event accepted in
order, chains and checkpoints verify, rejections on the rejected topic with their reasons).
Exits 0 when every round's audit held, 1 at the first that did not: one line names the round, the
fault, what failed and the logs to read (they are kept).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack, closing
from pathlib import Path

from ledger.app.config import Config
from tests.events import registered_source
from tests.faults import (
    DUPLICATE,
    POISON_REASONS,
    IngestProcess,
    LiveProducer,
    PrivateBroker,
    PrivatePostgres,
    audit,
    resend,
    send_poison,
    sources_per_partition,
    wait_drained,
)

FAULTS = ("sigkill", "freeze", "broker", "database", "poison")
PARTITIONS = 4
SESSION_S = 6


class Soak:
    """Two ingest processes, a producer per round, a fault per round, an audit per round."""

    def __init__(self, *, env: dict[str, str], work: Path, broker: PrivateBroker, pg: PrivatePostgres | None):
        self.env = env
        self.work = work
        self.broker = broker
        self.pg = pg
        self.config = Config.from_env(env)
        self.sources = sources_per_partition(PARTITIONS)
        self.published: dict[str, list[uuid.UUID]] = {s: [] for s in self.sources}
        self.rejected: Counter[str] = Counter()
        self.poison: dict[bytes, str] = {}
        self.duplicates = 0
        self.started = 0
        self.kills = 0
        self.ingests: list[IngestProcess] = []
        self.producer_log: Path | None = None

    def start(self) -> None:
        """Register the sources and start the two ingest processes."""
        for source in self.sources:
            registered_source(self.config, source)
        self.ingests = [self._ingest(), self._ingest()]

    def _ingest(self) -> IngestProcess:
        self.started += 1
        return IngestProcess(self.env, self.work / f"ingest-{self.started}.log")

    def stop(self) -> None:
        """Stop the ingest processes (SIGTERM: each finishes its batch and leaves the group)."""
        for process in self.ingests:
            if process.alive:
                process.stop()

    def logs(self) -> str:
        """The logs to read when a round fails: the ingest processes' and the round's producer's."""
        paths = [p.log_path for p in self.ingests] + ([self.producer_log] if self.producer_log else [])
        return ", ".join(str(path) for path in paths)

    def round(self, number: int, fault: str, rng: random.Random) -> str:
        """One burst with one fault, drained and audited; a line saying what happened."""
        began = time.monotonic()
        per_source = rng.randint(100, 500)
        rate = rng.choice([300, 800, 2000])
        out = self.work / f"round-{number}.ids"
        producer = LiveProducer(self.env, self.sources, per_source=per_source, rate=rate, out=out)
        self.producer_log = producer.errors
        time.sleep(rng.uniform(0.3, 2.0))
        detail = self._strike(fault, rng, burst_s=per_source * PARTITIONS / rate)
        for source, ids in producer.join(timeout=300).items():
            self.published[source] += ids
        for process in self.ingests:  # no fault may make an ingest process exit
            assert process.alive, f"{process.log_path} exited with {process.proc.returncode}"
        wait_drained(self.config, timeout=180)
        drained = time.monotonic()
        report = audit(self.config, self.published, rejected=self.rejected)
        assert report.duplicates == self.duplicates, f"{report.duplicates} duplicates, sent {self.duplicates}"
        return (
            f"round {number:>3} {fault:<8} {per_source * PARTITIONS:>5} events{detail}: drained "
            f"{drained - began:5.1f} s, audited {time.monotonic() - drained:4.1f} s: {report}"
        )

    def _strike(self, fault: str, rng: random.Random, burst_s: float) -> str:
        if fault == "sigkill":
            return self._sigkill(rng, burst_s)
        strikes: dict[str, Callable[[random.Random], str]] = {
            "freeze": self._freeze,
            "broker": self._broker,
            "database": self._database,
            "poison": self._poison,
        }
        return strikes[fault](rng)

    def _sigkill(self, rng: random.Random, burst_s: float) -> str:
        victims = [rng.randrange(len(self.ingests)) for _ in range(rng.randint(2, 6))]
        for victim in victims:
            self.ingests[victim].kill()
            self.kills += 1
            self.ingests[victim] = self._ingest()
            time.sleep(rng.uniform(0.5, max(1.0, burst_s / len(victims))))
        return f" (killed ingest {', '.join(map(str, victims))})"

    def _freeze(self, rng: random.Random) -> str:
        victim = self.ingests[rng.randrange(len(self.ingests))]
        victim.pause_between_writes(self.config)
        time.sleep(SESSION_S + rng.uniform(1, 4))
        victim.resume()
        return f" (froze {victim.log_path.name})"

    def _broker(self, rng: random.Random) -> str:
        self.broker.stop()
        down = rng.uniform(0, 5)
        time.sleep(down)
        self.broker.start()
        return f" (broker down {down:.1f} s + restart)"

    def _database(self, rng: random.Random) -> str:
        hold = rng.uniform(3, 15)
        if self.pg is not None:
            self.pg.stop()
            try:
                time.sleep(hold)
            finally:
                self.pg.start()
            return f" (PostgreSQL down {hold:.1f} s)"
        path = self.config.store_env["SQLITE_DBNAME"]
        with closing(sqlite3.connect(path, isolation_level=None, timeout=60)) as locker:
            locker.execute("BEGIN IMMEDIATE")
            time.sleep(hold)
            locker.execute("ROLLBACK")
        return f" (SQLite locked {hold:.1f} s)"

    def _poison(self, rng: random.Random) -> str:
        kinds = rng.sample(list(POISON_REASONS), rng.randint(1, len(POISON_REASONS)))
        self.rejected += send_poison(self.config, kinds, self.sources, self.poison)
        resent: Counter[str] = Counter()
        for source in self.sources:
            resent += resend(self.config, source, rng.randint(0, 3), self.poison)
        duplicates = resent.pop(DUPLICATE, 0)
        self.duplicates += duplicates
        self.rejected += resent  # a resent bad message is rejected once more
        return f" ({len(kinds) * PARTITIONS} poison, {duplicates} events and {resent.total()} poison resent)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; 0 when every round's audit held."""
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to keep starting rounds")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: drawn, and printed)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated subset of {FAULTS}")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    faults = [f for f in args.faults.split(",") if f]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="liuhen-soak-"))
    print(f"soak: seed {seed}, store {args.store}, faults {faults}, logs in {work}", flush=True)
    broker = PrivateBroker()
    pg = PrivatePostgres() if args.store == "postgres" else None
    run = uuid.uuid4().hex[:8]
    env = {
        "LIUHEN_HOME": str(work / "home"),
        "LIUHEN_KAFKA_BOOTSTRAP": broker.bootstrap,
        "LIUHEN_TOPIC": f"soak.{run}.audit",
        "LIUHEN_REJECTED_TOPIC": f"soak.{run}.rejected",
        "LIUHEN_GROUP": f"soak-{run}",
        "LIUHEN_PARTITIONS": str(PARTITIONS),
        "LIUHEN_BATCH_SIZE": "100",
        "LIUHEN_SESSION_TIMEOUT_MS": str(SESSION_S * 1000),
        "SQLITE_LOCK_TIMEOUT": "2",
    }
    counts: Counter[str] = Counter()
    began = time.monotonic()
    soak: Soak | None = None
    number, fault, failure = 0, "start", ""
    try:
        with ExitStack() as stack:
            stack.callback(broker.remove)
            broker.start()
            if pg is not None:
                stack.callback(pg.remove)
                pg.start()
                store_env = stack.enter_context(pg.schema())
                # As deployed (the library's default): an ingest process that starts, or is restarted,
                # while the server is down waits for it (30 s) rather than exiting.
                env |= {
                    **store_env,
                    "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "3",
                    "POSTGRES_CONNECT_TIMEOUT": "30",
                }
            soak = Soak(env=env, work=work, broker=broker, pg=pg)
            soak.start()
            stack.callback(soak.stop)
            while not failure and time.monotonic() - began < args.minutes * 60:
                number += 1
                fault = rng.choice(faults)
                try:
                    print(soak.round(number, fault, rng), flush=True)
                    counts[fault] += 1
                except Exception as exc:  # whatever failed, one line says so
                    failure = _failed(number, fault, exc, soak.logs())
            number, fault = number + 1, "stop"
    except KeyboardInterrupt:
        failure = f"round {number:>3} {fault:<8} INTERRUPTED; logs in {work}"
    except Exception as exc:  # start-up and shut-down failures too
        logs = f"{soak.logs()}, {broker.log}" if soak else str(broker.log)
        failure = failure or _failed(number, fault, exc, logs)
    if failure:
        print(failure, flush=True)
    events = sum(len(ids) for ids in soak.published.values()) if soak else 0
    summary = ", ".join(f"{fault} {n}" for fault, n in sorted(counts.items()))
    minutes = (time.monotonic() - began) / 60
    print(
        f"soak: {sum(counts.values())} rounds passed ({summary}) in {minutes:.1f} min; "
        f"{events} events, {soak.kills if soak else 0} SIGKILLs, "
        f"{soak.rejected.total() if soak else 0} rejections, {soak.duplicates if soak else 0} duplicates; "
        f"{'FAILED, logs kept in ' + str(work) if failure else 'every audit held'}",
        flush=True,
    )
    if not failure:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failure else 0


def _failed(number: int, fault: str, exc: BaseException, logs: str) -> str:
    """One line: the round, the fault, what failed, the logs to read."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    what = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return f"round {number:>3} {fault:<8} FAILED: {type(exc).__name__}: {what}; read {logs}"


if __name__ == "__main__":
    sys.exit(main())
