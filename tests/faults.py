"""Fault injection for ingest, shared by tests/test_faults.py and the soak script tests/soak.py.

* :class:`IngestProcess`: ``liuhen -v ingest`` in a subprocess (its log in a file, so a chatty
  process never blocks on a full pipe), to be killed, paused, resumed or stopped;
* :class:`LiveProducer`: several sources publishing signed events through the SDK in a
  subprocess, one source per partition (:func:`sources_per_partition`);
* :func:`send_poison`: bad messages of each kind, keyed so they land amid a source's events;
* :class:`PrivateBroker` and :class:`PrivatePostgres`: a second Kafka broker and a second
  PostgreSQL server (docker/kafka/broker.sh and docker/postgres/pg.sh on other ports), which a
  test may stop and start without disturbing the shared ones other tests use;
* :func:`audit`: what must hold after every fault. Every message Kafka holds is in its partition's
  log exactly once (an accepted event verbatim at its offset, a refused one as a ledger-signed
  rejection naming that offset, a resent duplicate nowhere); every published event is accepted,
  in its source's order; each log's offset is tracked to the partition's end and its newest
  checkpoint covers the whole log; the chains and checkpoints verify (``verify --live``); and
  every rejection is on the rejected topic with its reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer, TopicPartition
from kafka.partitioner.default import murmur2
from psycopg import sql

from ledger.app.assembly import open_store
from ledger.app.audit import live_material
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.status import check_chains
from ledger.errors import NotFound, PublishError
from ledger.ingest.broker import admin, consumer_for, end_offsets
from ledger.ingest.store import LedgerStore, kafka_tracking, owner_stream
from ledger.sdk import Publisher
from ledger.verify import Trust, verify_logs
from ledger.wire.avro import SignedEvent
from ledger.wire.format import leaf_hash
from tests.events import ACTOR, REGISTRY, decode, publisher, viewed

REPO = Path(__file__).resolve().parent.parent


def wait_until(what: str, check: Callable[[], bool], *, timeout: float, step: float = 0.2) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(step)


def partition_of(source: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a source's events (keyed by its id)."""
    return (murmur2(source.encode()) & 0x7FFFFFFF) % partitions


def sources_per_partition(partitions: int, prefix: str = "zz-src") -> list[str]:
    """One source id per partition: the ``n``-th source's events go to partition ``n``."""
    chosen: dict[int, str] = {}
    for n in range(10_000):
        name = f"{prefix}-{n}"
        chosen.setdefault(partition_of(name, partitions), name)
        if len(chosen) == partitions:
            break
    return [chosen[p] for p in range(partitions)]


# -- processes ---------------------------------------------------------------------------------


class IngestProcess:
    """``liuhen -v ingest`` in a subprocess; its output goes to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        self._out = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "-v", "ingest", "--progress", "2", *extra],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        """True while the process runs (paused counts as running)."""
        return self.proc.poll() is None

    def log(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._out.close()

    def pause(self) -> None:
        """SIGSTOP: the process, its heartbeats included, freezes (as in a long GC or VM pause)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: wake up, late."""
        self.proc.send_signal(signal.SIGCONT)

    def pause_between_writes(self, config: Config, *, timeout: float = 30) -> None:
        """SIGSTOP at a moment the process holds no write transaction of the store.

        Both backends serialise writers behind one lock (SQLite's write lock; on PostgreSQL the
        library's EXCLUSIVE table lock): a process frozen inside a write transaction stalls every
        writer until it wakes or dies. PostgreSQL can end such a session on its own
        (``POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT``); SQLite cannot, so on SQLite this probes
        the write lock after pausing, and resumes and tries again while the process holds it.
        """
        path = config.store_env.get("SQLITE_DBNAME")
        deadline = time.monotonic() + timeout
        while True:
            self.pause()
            if path is None or _write_lock_free(path):
                return
            self.resume()
            assert time.monotonic() < deadline, "never caught the process outside a write transaction"
            time.sleep(0.05)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (finish the batch in hand, leave the group); the exit code."""
        if self.alive:
            self.proc.send_signal(signal.SIGCONT)  # in case it is paused
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self._out.close()
        return code


def _write_lock_free(path: str) -> bool:
    with closing(sqlite3.connect(path, timeout=0.3, isolation_level=None)) as probe:
        try:
            probe.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        probe.execute("ROLLBACK")
        return True


class LiveProducer:
    """Publishes ``per_source`` FootageViewed events from each source, at ``rate`` a second.

    In a subprocess (``python -m tests.faults produce``): a producer that lives through a broker
    restart leaves kafka-python's refused sockets behind, which must not be this process's; and
    it does not compete with the test for the GIL. ``published`` is read from its output file.
    """

    def __init__(
        self, env: Mapping[str, str], sources: Sequence[str], *, per_source: int, rate: float, out: Path
    ) -> None:
        self.sources = list(sources)
        self.out = out
        self.out.write_text("")
        self.errors = out.with_suffix(".err")
        """Where the producer's stderr goes."""
        self._stderr = self.errors.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.faults",
                "produce",
                ",".join(sources),
                str(per_source),
                str(rate),
                str(out),
            ],
            env={**os.environ, **env},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    @property
    def published(self) -> dict[str, list[uuid.UUID]]:
        """Source → the ids of its events published so far, in order."""
        out: dict[str, list[uuid.UUID]] = {source: [] for source in self.sources}
        for line in self.out.read_text().splitlines():
            source, event_id = line.split()
            out[source].append(uuid.UUID(event_id))
        return out

    @property
    def count(self) -> int:
        """Events published so far."""
        return len(self.out.read_text().splitlines())

    def join(self, timeout: float = 180) -> dict[str, list[uuid.UUID]]:
        """Wait until everything is published and acknowledged (raise if not); what was published."""
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self._stderr.close()
        errors = self.errors.read_text(errors="replace")
        assert code == 0, f"the producer failed (exit {code}): {errors[-3000:]}"
        return self.published


def _produce(sources: Sequence[str], per_source: int, rate: float, out: Path) -> None:
    """The producer subprocess: publish round-robin at ``rate``, writing each event's id to ``out``."""
    config = Config.from_env()
    with _publishers(config, sources) as pubs, out.open("a") as ids:
        began = time.monotonic()
        for n in range(per_source * len(sources)):
            source = sources[n % len(sources)]
            sent = pubs[source].publish("FootageViewed", viewed(n % 500), actor=ACTOR)
            ids.write(f"{source} {sent.event_id}\n")
            if n % 100 == 99:
                ids.flush()
            if n % 200 == 199:
                for pub in pubs.values():
                    pub.flush(timeout=120)
            ahead = (n + 1) / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)


@contextmanager
def _publishers(config: Config, sources: Sequence[str]) -> Iterator[dict[str, Publisher]]:
    """One SDK publisher per source (each retries a broker that went away at least every 2 s)."""
    with ExitStack() as stack:
        yield {source: stack.enter_context(publisher(config, source)) for source in sources}


class ScriptedPublisher:
    """One source's SDK :class:`Publisher` in a subprocess (``python -m tests.faults publisher``),
    driven step by step, so a test can stop the broker between two steps.

    In a subprocess for the reason :class:`LiveProducer` is. Each step answers with the source's
    last used sequence number; a step the SDK refused raises :class:`PublishError` with its message.
    """

    def __init__(self, env: Mapping[str, str], source: str, **connect: Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults", "publisher", source],
            env={**os.environ, **env},
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.last = 0
        try:
            self._step("connect", connect)
        except PublishError:
            self.proc.communicate(timeout=60)
            raise

    def _step(self, command: str, argument: Any = None) -> Any:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([command, argument]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the publisher subprocess died at {command} (exit {self.proc.wait()})"
        answer = json.loads(line)
        self.last = answer["last"]
        if "error" in answer:
            raise PublishError(answer["error"])
        return answer.get("result")

    def publish(self, count: int, event_id: uuid.UUID | None = None) -> list[tuple[int, uuid.UUID]]:
        """Publish ``count`` FootageViewed events (each under ``event_id``, if given: a retry);
        their sequence numbers and event ids."""
        answer = self._step("publish", [count, str(event_id) if event_id else None])
        return [(seq, uuid.UUID(sent)) for seq, sent in answer]

    def flush(self, timeout: float = 60) -> None:
        """:meth:`Publisher.flush`."""
        self._step("flush", timeout)

    def close(self) -> None:
        """Close the publisher (flushing) and end the subprocess."""
        try:
            self._step("close")
        finally:
            self.proc.communicate(timeout=60)


def _scripted_publisher(source: str) -> None:
    """The subprocess of :class:`ScriptedPublisher`: one JSON command a line in, one answer out."""
    config = Config.from_env()
    pub: Publisher | None = None
    for line in sys.stdin:
        command, argument = json.loads(line)
        answer: dict[str, Any] = {}
        try:
            if pub is None:  # the first step connects
                pub = publisher(config, source, **argument)
            elif command == "publish":
                count, given = argument
                event_id = uuid.UUID(given) if given else None
                sent = [
                    pub.publish("FootageViewed", viewed(0 if event_id else n), actor=ACTOR, event_id=event_id)
                    for n in range(count)
                ]
                answer["result"] = [(p.source_seq, str(p.event_id)) for p in sent]
            elif command == "flush":
                pub.flush(timeout=argument)
            elif command == "close":
                pub.close()
        except PublishError as exc:
            answer["error"] = str(exc)
        answer["last"] = pub.sequence.last if pub else 0
        print(json.dumps(answer), flush=True)
        if pub is None or command == "close":
            return


# -- poison -------------------------------------------------------------------------------------

POISON_REASONS = {
    "garbage": "bad_avro",
    "empty": "bad_avro",
    "tombstone": "bad_avro",
    "oversized": "oversized",
    "bad_signature": "bad_signature",
    "unknown_schema": "unknown_schema",
    "unknown_key": "unknown_key",
}
"""Each kind of poison message :func:`send_poison` sends, and the reason it must be rejected for."""


def poison_message(config: Config, kind: str, source: str) -> bytes | None:
    """The bytes of one bad message for ``source`` (None: a tombstone); it uses up no sequence number."""
    key = ensure_key(config, source)[0]
    envelope = {
        "event_id": uuid.uuid4(),
        "schema_version": 1,
        "occurred_at": viewed(0)["access"]["footage_start"],
        "source_system_id": source,
        "source_seq": 10**12,  # a rejected message never counts in its source's sequence
        "actor": ACTOR,
        "key_id": key.public.key_id,
    }
    fingerprint, body = REGISTRY.encode("FootageViewed", {**viewed(1), "envelope": envelope})
    if kind == "garbage":
        return b"\x00\xffthis is not a signed Avro event" * 4
    if kind == "empty":
        return b""
    if kind == "tombstone":
        return None
    if kind == "oversized":
        return os.urandom(config.ingest.max_event_bytes * 3)
    if kind == "bad_signature":
        return SignedEvent(fingerprint, body, bytes(64)).encode()
    if kind == "unknown_schema":
        return SignedEvent(hashlib.sha256(b"no such schema").digest(), body, bytes(64)).encode()
    if kind == "unknown_key":
        stranger = ensure_key(config, f"{source}.stranger")[0]
        envelope["key_id"] = stranger.public.key_id
        fingerprint, body = REGISTRY.encode("FootageViewed", {**viewed(1), "envelope": envelope})
        signed = stranger.sign(SignedEvent(fingerprint, body, b"").signed_message)
        return SignedEvent(fingerprint, body, signed).encode()
    raise ValueError(f"no poison of kind {kind!r}")


def send_poison(
    config: Config, kinds: Sequence[str], sources: Sequence[str], sent: dict[bytes, str] | None = None
) -> Counter[str]:
    """Send each kind of poison to each source's partition; the reasons they must be rejected for.

    ``sent``, if given, gets each message's SHA-256 and reason, so that :func:`resend` knows what
    a resent copy must come to.
    """
    producer = KafkaProducer(bootstrap_servers=config.ingest.bootstrap, acks="all", max_request_size=4 << 20)
    expected: Counter[str] = Counter()
    try:
        for source in sources:
            for kind in kinds:
                value = poison_message(config, kind, source)
                producer.send(config.ingest.topic, key=source.encode(), value=value).get(timeout=30)
                expected[POISON_REASONS[kind]] += 1
                if sent is not None:
                    sent[hashlib.sha256(value or b"").digest()] = POISON_REASONS[kind]
    finally:
        producer.close()
    return expected


DUPLICATE = "duplicate"
"""What :func:`resend` counts a resent event as: a duplicate the ledger drops."""


def resend(
    config: Config, source: str, count: int, poison: Mapping[bytes, str] | None = None
) -> Counter[str]:
    """Send the first ``count`` messages of ``source``'s partition again (as a producer retry would).

    What each copy must come to: :data:`DUPLICATE` for an event, or, for a poison message (known by
    its SHA-256 in ``poison``, as :func:`send_poison` fills it), one more rejection for its reason.
    """
    partition = partition_of(source, _partitions(config))
    messages = read_partition(config, config.ingest.topic, partition, limit=count)
    assert all(m.key == source.encode() for m in messages), f"{source} shares its partition"
    producer = KafkaProducer(bootstrap_servers=config.ingest.bootstrap, acks="all", max_request_size=4 << 20)
    outcome: Counter[str] = Counter()
    try:
        for message in messages:
            producer.send(config.ingest.topic, key=message.key, value=message.value, headers=message.headers)
            outcome[(poison or {}).get(hashlib.sha256(message.value or b"").digest(), DUPLICATE)] += 1
        producer.flush()
    finally:
        producer.close()
    return outcome


# -- broker and database instances of the fault tests' own -------------------------------------


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports nothing listens on (picked at random, so
    that two test sessions running at once each get servers of their own)."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20_000, 30_000)
        try:
            with ExitStack() as stack:
                for port in range(first, first + count):
                    stack.enter_context(socket.create_server(("127.0.0.1", port)))
        except OSError:
            continue
        return first
    raise RuntimeError("no free loopback ports")


class PrivateBroker:
    """A Kafka broker of the fault tests' own (docker/kafka/broker.sh on other ports).

    :meth:`remove` stops it and deletes its data (``.cache/kafka/run-<port>``).
    """

    def __init__(self, port: int | None = None) -> None:
        port = port or free_ports(2)
        self.port = port
        self.env = {
            **os.environ,
            "LIUHEN_KAFKA_PORT": str(port),
            "LIUHEN_KAFKA_CONTROLLER_PORT": str(port + 1),
            "PYTHON": sys.executable,
        }

    @property
    def bootstrap(self) -> str:
        """Its address."""
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """The broker's own log."""
        home = Path(os.environ.get("LIUHEN_KAFKA_HOME", REPO / ".cache/kafka"))
        return home / f"run-{self.port}/broker.log"

    def _script(self, action: str) -> None:
        subprocess.run(
            [str(REPO / "docker/kafka/broker.sh"), action],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=180,
        )

    def start(self) -> None:
        """Start it (a no-op if it answers) and wait until it answers."""
        self._script("start")

    def stop(self) -> None:
        """Controlled shutdown; returns once the process has ended."""
        self._script("stop")

    def remove(self) -> None:
        """Stop it and delete its data."""
        self._script("reset")


class PrivatePostgres:
    """A PostgreSQL server of the fault tests' own (docker/postgres/pg.sh on another port).

    :meth:`remove` stops it and deletes its cluster.
    """

    def __init__(self, port: int | None = None) -> None:
        port = port or free_ports(1)
        self.port = port
        self.env = {**os.environ, "LIUHEN_POSTGRES_PORT": str(port)}
        self.password = os.environ.get("LIUHEN_POSTGRES_PASSWORD", "liuhen")

    def _script(self, action: str) -> None:
        subprocess.run(
            [str(REPO / "docker/postgres/pg.sh"), action],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=300,
        )

    def start(self) -> None:
        """Start it (installing and initialising the cluster the first time) and wait until it answers."""
        self._script("start")

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, clients are disconnected."""
        self._script("stop")

    def remove(self) -> None:
        """Stop it and delete its cluster."""
        self._script("reset")

    @contextmanager
    def schema(self) -> Iterator[dict[str, str]]:
        """The library's settings for a fresh schema on this server."""
        name = f"fault_{uuid.uuid4().hex[:12]}"
        connect = {
            "host": "127.0.0.1",
            "port": self.port,
            "dbname": "liuhen",
            "user": "liuhen",
            "password": self.password,
            "autocommit": True,
        }
        with psycopg.connect(**connect) as db:
            db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        try:
            yield {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_HOST": "127.0.0.1",
                "POSTGRES_PORT": str(self.port),
                "POSTGRES_DBNAME": "liuhen",
                "POSTGRES_USER": "liuhen",
                "POSTGRES_PASSWORD": self.password,
                "POSTGRES_SCHEMA": name,
                "POSTGRES_CONNECT_TIMEOUT": "1",
            }
        finally:
            with psycopg.connect(**connect) as db:
                db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


# -- what the ledger and Kafka hold ------------------------------------------------------------


def _partitions(config: Config) -> int:
    return len(end_offsets(config.ingest.bootstrap, config.ingest.topic))


def read_partition(config: Config, topic: str, partition: int, limit: int | None = None) -> list[Any]:
    """Every message of one partition (or its first ``limit``), in offset order."""
    tp = TopicPartition(topic, partition)
    consumer = consumer_for(config.ingest.bootstrap, max_partition_fetch_bytes=16 << 20)
    try:
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        consumer.seek_to_beginning(tp)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while consumer.position(tp) < end and (limit is None or len(out) < limit):
            assert time.monotonic() < deadline, f"could not read {topic}:{partition} to offset {end}"
            for records in consumer.poll(timeout_ms=500).values():
                out += records
        return out[:limit]
    finally:
        consumer.close()


def committed_offsets(config: Config) -> dict[int, int]:
    """Partition → the offset the ingest group has committed to Kafka."""
    client = admin(config.ingest.bootstrap)
    try:
        offsets = client.list_group_offsets(config.ingest.group).get(config.ingest.group, {})
    finally:
        client.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == config.ingest.topic}


def tracked_offsets(store: LedgerStore, config: Config, partitions: int) -> dict[int, int | None]:
    """Partition → the last Kafka offset stored with its log."""
    return {p: store.tracked_offset(kafka_tracking(config.ingest.topic, p)) for p in range(partitions)}


def ledger_size(config: Config) -> int:
    """Entries in all logs together (0 before ingest has created the ledger)."""
    try:
        store = open_store(config)
    except NotFound:
        return 0
    try:
        return sum(store.head(origin).size for origin in store.origins())
    finally:
        store.close()


def drained(config: Config, store: LedgerStore) -> bool:
    """True when every partition's messages are in the ledger and every rejection is published."""
    ends = end_offsets(config.ingest.bootstrap, config.ingest.topic)
    for partition, end in ends.items():
        if end and store.tracked_offset(kafka_tracking(config.ingest.topic, partition)) != end - 1:
            return False
    for origin in store.origins():
        count = store.rejection_count(origin)
        if count and store.tracked_offset(f"rejected:{origin}") != count - 1:
            return False
    return True


def wait_drained(config: Config, *, timeout: float = 90) -> None:
    """Wait until the running ingest processes have taken in everything Kafka holds."""
    store = open_store(config)
    try:
        wait_until("ingest drained the topic", lambda: drained(config, store), timeout=timeout, step=0.5)
    finally:
        store.close()


@dataclass
class AuditReport:
    """What :func:`audit` found (all of it already checked)."""

    messages: int = 0
    entries: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    claims: int = 0
    logs: int = 0

    def __str__(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"{self.messages} messages -> {self.entries} entries in {self.logs} logs: "
            f"{self.accepted} accepted, "
            f"{self.duplicates} duplicates dropped, rejected: {reasons}; {self.claims} ownership claims"
        )


def audit(
    config: Config, published: Mapping[str, Sequence[uuid.UUID]], *, rejected: Counter[str] | None = None
) -> AuditReport:
    """Check everything the module docstring lists; ``rejected``: the reasons expected, if known."""
    report = AuditReport()
    check_chains(config)
    material = live_material(config)
    sources, rotations = material.logs, material.rotations
    trust = Trust(ledger_keys=[ensure_key(config, "ledger")[0].public])
    verify_logs(sources, trust, bundle="live store", kind="full", rotations=rotations)
    accepted: dict[str, list[uuid.UUID]] = {}
    positions: dict[str, str] = {}
    store = open_store(config)
    try:
        for partition in range(_partitions(config)):
            _audit_partition(config, store, partition, report, accepted, positions)
    finally:
        store.close()
    everything = [i for ids in accepted.values() for i in ids]
    twice = [i for i, n in Counter(everything).items() if n > 1]
    assert not twice, f"{len(twice)} event ids are in the ledger more than once: {twice[:3]}"
    for source, ids in published.items():
        assert accepted.get(source, []) == list(ids), (
            f"{source}: {len(accepted.get(source, []))} events accepted, {len(ids)} published "
            "(or in another order)"
        )
    _audit_rejected_topic(config, positions)
    if rejected is not None:
        assert report.rejected == rejected, f"rejections {dict(report.rejected)}, expected {dict(rejected)}"
    return report


def _audit_partition(
    config: Config,
    store: LedgerStore,
    partition: int,
    report: AuditReport,
    accepted: dict[str, list[uuid.UUID]],
    positions: dict[str, str],
) -> None:
    origin = config.ingest.origin(partition)
    messages = read_partition(config, config.ingest.topic, partition)
    entries = list(store.entries(origin))
    report.messages += len(messages)
    report.entries += len(entries)
    report.logs += bool(entries)
    slots = store.recorder.select_events(owner_stream(origin))
    report.claims += sum(json.loads(slot.state).get("claim", False) for slot in slots)
    if not messages:
        assert not entries, f"{origin} has entries but its partition is empty"
        return
    tracked = store.tracked_offset(kafka_tracking(config.ingest.topic, partition))
    assert tracked == messages[-1].offset, (
        f"{origin}: offset {tracked} tracked, partition ends at {messages[-1].offset}"
    )
    latest = store.latest_checkpoint(origin)
    assert latest is not None, f"{origin} has no checkpoint"
    assert latest[0] == len(entries), f"{origin}: newest checkpoint at {latest[0]}, log holds {len(entries)}"
    offsets = [e.kafka_offset for e in entries]
    assert offsets == sorted(set(offsets)), f"{origin}: Kafka offsets repeat or go back in the log"
    by_offset = {e.kafka_offset: e for e in entries}
    assert set(by_offset) <= {m.offset for m in messages}, (
        f"{origin} holds entries for offsets Kafka never had"
    )
    for message in messages:
        value = message.value if message.value is not None else b""
        stored = by_offset.get(message.offset)
        if stored is None:  # only a resent duplicate may be missing: same id, same bytes, earlier
            signed = SignedEvent.decode(value)
            event_id = REGISTRY.decode(signed.schema, signed.body)[1]["envelope"]["event_id"]
            seen = store.seen(event_id)
            assert seen is not None, f"{origin}: offset {message.offset} is not in the ledger"
            assert seen.leaf_hash == leaf_hash(value)
            report.duplicates += 1
            continue
        name, record = decode(stored.entry)
        if name == "EventRejected":
            assert (record["offset"], record["partition"]) == (message.offset, partition)
            assert record["message_sha256"] == hashlib.sha256(value).digest()
            report.rejected[record["reason"]] += 1
            positions[f"{origin}#{stored.index}"] = record["reason"]
            continue
        assert stored.entry == value, (
            f"{origin}: entry {stored.index} is not the bytes at offset {message.offset}"
        )
        report.accepted += 1
        if name == "FootageViewed":
            accepted.setdefault(record["envelope"]["source_system_id"], []).append(
                record["envelope"]["event_id"]
            )


def _audit_rejected_topic(config: Config, positions: Mapping[str, str]) -> None:
    on_topic: dict[str, str] = {}
    ends = end_offsets(config.ingest.bootstrap, config.ingest.rejected_topic)
    for partition in ends:
        for message in read_partition(config, config.ingest.rejected_topic, partition):
            headers = dict(message.headers)
            reason = headers["liuhen-reason"].decode()
            assert headers["liuhen-detail"], "a rejection on the topic carries no detail"
            assert reason in {*POISON_REASONS.values(), "invalid_field", "revoked_key"}
            on_topic[message.key.decode()] = reason
    missing = {p: r for p, r in positions.items() if on_topic.get(p) != r}
    assert not missing, (
        f"rejections missing from {config.ingest.rejected_topic} (or with another reason): {missing}"
    )
    strangers = set(on_topic) - set(positions)
    assert not strangers, f"{config.ingest.rejected_topic} holds rejections the ledger does not: {strangers}"


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "produce":
        _produce(sys.argv[2].split(","), int(sys.argv[3]), float(sys.argv[4]), Path(sys.argv[5]))
    elif len(sys.argv) == 3 and sys.argv[1] == "publisher":
        _scripted_publisher(sys.argv[2])
    else:
        sys.exit(
            "usage: python -m tests.faults produce SOURCE,... PER_SOURCE RATE OUT_FILE\n"
            "       python -m tests.faults publisher SOURCE   (JSON steps on stdin)"
        )
