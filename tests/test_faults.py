"""Faults during ingest: ownership fencing, rebalances between ingest processes, the broker and the
database going away, poison messages. After each, :func:`tests.faults.audit`: every message
exactly once, chains and checkpoints verify, rejections on the rejected topic with their reasons.

Broker and database outages use a broker and a PostgreSQL server of these tests' own
(:class:`tests.faults.PrivateBroker`, :class:`tests.faults.PrivatePostgres`), so stopping them never
disturbs the shared ones. The longer loop of the same faults is ``tests/soak.py``.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from ledger.app.assembly import open_store
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.errors import OwnershipLost, PublishError, StoreError
from ledger.ingest.broker import ensure_topics
from ledger.ingest.store import Batch, LedgerStore, kafka_tracking, owner_stream
from ledger.ingest.writer import LogWriter, Message
from ledger.wire.appender import LogAppender
from ledger.wire.avro import SignedEvent
from ledger.wire.format import Chain, verify_chain
from ledger.wire.keyring import REGISTRAR_SOURCE
from tests.events import ACTOR, REGISTRY, kafka_message, log_writer, publisher, registered_source, viewed
from tests.faults import (
    DUPLICATE,
    POISON_REASONS,
    IngestProcess,
    LiveProducer,
    PrivateBroker,
    PrivatePostgres,
    ScriptedPublisher,
    audit,
    committed_offsets,
    free_ports,
    ledger_size,
    read_partition,
    resend,
    send_poison,
    sources_per_partition,
    tracked_offsets,
    wait_drained,
    wait_until,
)
from tests.test_postgres import postgres_schema

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="session")
def private_broker(kafka_bootstrap: str) -> Iterator[PrivateBroker]:
    """A broker of these tests' own (on free ports), removed when the session ends."""
    broker = PrivateBroker()
    try:
        broker.start()
        yield broker
    finally:
        broker.remove()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of these tests' own (on a free port), removed when the session ends."""
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def _register(config: Config, sources: list[str]) -> None:
    for source in sources:
        registered_source(config, source)


# -- ownership fence ------------------------------------------------------------------------------


def _signed_messages(config: Config, count: int) -> list[Message]:
    """A key registration and ``count`` events of zz-metro, as Kafka would deliver them (offsets 0...)."""
    source_key, _ = ensure_key(config, "zz-metro")
    with publisher(config, REGISTRAR_SOURCE, key_name="ledger") as registrar:
        registration, _ = registrar.sign(
            "SourceKeyRegistered",
            {"system_id": "zz-metro", "public_key": source_key.public.verifier_text, "replaces_key_id": None},
            actor={**ACTOR, "kind": "SYSTEM", "user_id": "liuhen-registrar"},
        )
    with publisher(config) as pub:
        wires = [registration] + [pub.sign("FootageViewed", viewed(n), actor=ACTOR)[0] for n in range(count)]
    return [kafka_message(offset, wire) for offset, wire in enumerate(wires)]


def _writer(config: Config, store: LedgerStore, pool: ThreadPoolExecutor, owner: str) -> LogWriter:
    ledger_key, _ = ensure_key(config, "ledger")
    return log_writer(config.ingest, store, ledger_key, pool, owner)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_config(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[Config]:
    """The per-test configuration, its store on SQLite or on a fresh schema of the shared PostgreSQL."""
    if request.param == "sqlite":
        yield Config.from_env(env)
        return
    with postgres_schema() as store_env:
        yield Config.from_env({**env, **store_env})


def test_a_writer_whose_log_was_claimed_cannot_append_even_before_the_new_owner_does(
    store_config: Config,
) -> None:
    """The old owner wakes up with a prepared batch after another writer claimed the log but before
    that writer appended anything: the batch fails whole, naming the new owner; then the new owner
    appends the same messages, and the old one stays fenced."""
    config = store_config
    messages = _signed_messages(config, 30)
    first, second, third = messages[:11], messages[11:21], messages[21:]
    with (
        closing(open_store(config, create=True)) as store_a,
        closing(open_store(config, create=True)) as store_b,
        ThreadPoolExecutor(2) as pool,
    ):
        old = _writer(config, store_a, pool, owner="ingest-a generation 1")
        assert old.write(first).appended == 11
        stale = old.prepare(second)  # classified, signatures being verified: about to be appended
        new = _writer(config, store_b, pool, owner="ingest-b generation 2")  # claims; appends nothing yet
        origin = old.origin
        before = (
            store_b.head(origin),
            store_b.tracked_offset(old.tracking_name),
            store_b.latest_checkpoint(origin),
            store_b.owner(origin),
        )
        with pytest.raises(OwnershipLost) as lost:
            old.write(second, stale)
        assert lost.value.holder == "ingest-b generation 2"
        assert "ingest-b generation 2" in str(lost.value)
        after = (
            store_b.head(origin),
            store_b.tracked_offset(old.tracking_name),
            store_b.latest_checkpoint(origin),
            store_b.owner(origin),
        )
        assert after == before, "the fenced batch wrote something"
        event_ids = [_event_id(m.value) for m in second]
        assert all(store_b.seen(event_id) is None for event_id in event_ids)

        assert new.write(second).appended == 10  # the new owner resumes from the stored offset
        with pytest.raises(OwnershipLost):  # the old owner stays fenced, now by entries too
            old.write(third)
        assert new.write(third).appended == 10

        entries = list(store_b.entries(origin))
        verify_chain(entries)
        assert [e.kafka_offset for e in entries] == list(range(31))
        assert store_b.tracked_offset(kafka_tracking(config.ingest.topic, 0)) == 30
        assert store_b.latest_checkpoint(origin) is not None
        slot, holder = store_b.owner(origin)
        assert (slot, holder) == (new.slot, "ingest-b generation 2")
        assert len(store_b.recorder.select_events(owner_stream(origin))) == 1 + 1 + 1 + 2  # claims, batches


def test_claims_of_two_writers_racing_take_distinct_slots(store_config: Config) -> None:
    config = store_config
    with (
        closing(open_store(config, create=True)) as store_a,
        closing(open_store(config, create=True)) as store_b,
    ):
        with ThreadPoolExecutor(8) as claimers:
            slots = list(
                claimers.map(
                    lambda n: (store_a if n % 2 else store_b).claim("race/log/0", f"writer {n}"), range(8)
                )
            )
        assert sorted(slots) == list(range(8))
        assert store_a.owner("race/log/0")[0] == 7


def test_every_store_call_ingest_makes_fails_as_a_store_error_while_the_database_is_down(
    store_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest backs off on :class:`StoreError`; a library error escaping instead would kill it."""
    from eventsourcing.persistence import OperationalError  # noqa: PLC0415

    store = open_store(store_config, create=True)
    try:
        origin = "down/log/0"

        def down(*args: object, **kwargs: object) -> None:
            raise OperationalError("server closed the connection unexpectedly")

        for name in ("select_events", "insert_events", "max_tracking_id", "insert_tracking"):
            monkeypatch.setattr(store.recorder, name, down)
        ledger_key, _ = ensure_key(store_config, "ledger")
        entry = LogAppender(origin=origin, key=ledger_key).append(b"x", kafka_offset=0, ingested_at_us=0)
        calls = {
            "head": lambda: store.head(origin),
            "entry": lambda: store.entry(origin, 0),
            "node": lambda: store.node(origin, 0, 0),
            "seen": lambda: store.seen(uuid.uuid4()),
            "key_changes": lambda: store.key_changes(origin),
            "rejections": lambda: store.rejections(origin),
            "rejection_count": lambda: store.rejection_count(origin),
            "origins": store.origins,
            "tracked_offset": lambda: store.tracked_offset("kafka:t:0"),
            "owner": lambda: store.owner(origin),
            "claim": lambda: store.claim(origin, "me"),
            "record_position": lambda: store.record_position("rejected:x", 1),
            "append (a new log)": lambda: store.append(
                Batch(origin=origin, entries=[entry], event_ids={}, fence=1), expected=Chain()
            ),
        }
        for name, call in calls.items():
            with pytest.raises(StoreError) as error:
                call()
            assert not isinstance(error.value, OwnershipLost), name
    finally:
        monkeypatch.undo()
        store.close()


_OPEN_AT = """
import json, sys, time
from ledger.ingest.store import LedgerStore
env, at = json.loads(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
LedgerStore.open(env).close()
"""


def test_processes_opening_the_store_at_the_same_moment_all_open_it(store_config: Config) -> None:
    """Several processes create (then, on the existing store, check) the library's tables at the
    same moment, as ingest processes started together do: none of them fails."""
    store_config.home.mkdir(parents=True, exist_ok=True)
    for store in ("new", "existing"):
        at = time.time() + 3  # every process has imported everything by then
        openers = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT, json.dumps(store_config.store_env), str(at)],
                stderr=subprocess.PIPE,
            )
            for _ in range(4)
        ]
        failures = [p.communicate(timeout=60)[1].decode() for p in openers]
        assert [p.returncode for p in openers] == [0] * 4, (store, failures)


def _event_id(wire: bytes) -> object:
    signed = SignedEvent.decode(wire)
    return REGISTRY.decode(signed.schema, signed.body)[1]["envelope"]["event_id"]


# -- rebalances between ingest processes ----------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def group_env(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """Four partitions, a short group session; the store on one SQLite file or the shared PostgreSQL."""
    env = {**env, "LIUHEN_PARTITIONS": "4", "LIUHEN_SESSION_TIMEOUT_MS": "6000", "LIUHEN_BATCH_SIZE": "100"}
    if request.param == "sqlite":
        yield env
        return
    with postgres_schema() as store_env:
        # A process frozen inside a write transaction holds the library's table lock: the server
        # ends such a session after this long, and the frozen writer's batch fails when it wakes.
        yield {**env, **store_env, "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "3"}


def _claimed(process: IngestProcess) -> set[int]:
    """The partitions whose logs ``process`` has claimed since its last rebalance."""
    held: set[int] = set()
    for line in process.log().splitlines():
        if match := re.search(r" (claimed|released) \S+/(\d+) at entry", line):
            (held.add if match[1] == "claimed" else held.discard)(int(match[2]))
    return held


@pytest.mark.slow
def test_two_ingest_processes_share_the_partitions_through_rebalances_without_fork_or_duplicate(
    group_env: dict[str, str], tmp_path: Path
) -> None:
    """Two ``liuhen ingest`` processes in one group under a live producer: one is frozen past its
    session (the other takes its partitions; the frozen one wakes up late), the other is killed
    and a replacement started. Each log ends with every event of its partition exactly once."""
    config = Config.from_env(group_env)
    sources = sources_per_partition(4)
    _register(config, sources)
    a = IngestProcess(group_env, tmp_path / "a.log")
    b = IngestProcess(group_env, tmp_path / "b.log")
    c: IngestProcess | None = None
    producer = LiveProducer(group_env, sources, per_source=1200, rate=200, out=tmp_path / "events")
    try:
        wait_until(
            "both processes claimed logs", lambda: "claimed" in a.log() and "claimed" in b.log(), timeout=40
        )
        wait_until("ingest under way", lambda: producer.count > 800, timeout=30)
        claims = a.log().count(" claimed ")
        a.pause_between_writes(config)  # frozen past its session: the group gives its partitions to b
        wait_until("b took over every log", lambda: _claimed(b) == {0, 1, 2, 3}, timeout=30)
        time.sleep(2)
        a.resume()  # wakes up late, with whatever batch it had in hand
        wait_until("a rejoined", lambda: a.log().count(" claimed ") > claims, timeout=30)
        time.sleep(2)
        b.kill()  # a takes everything once b's session expires
        time.sleep(3)
        c = IngestProcess(group_env, tmp_path / "c.log")  # and shares it again with c
        published = producer.join()
        wait_drained(config, timeout=90)
    finally:
        codes = [p.stop() for p in (a, c) if p is not None]
        if b.alive:
            b.kill()
    assert codes == [0, 0], (a.log()[-3000:], c.log()[-3000:] if c else "")
    report = audit(config, published, rejected=Counter())
    assert report.logs == 4
    assert report.claims >= 8, f"only {report.claims} claims: the partitions did not move"
    takeovers = [line for p in (a, b, c) if p for line in p.log().splitlines() if "taken over by" in line]
    print(f"{report}; {len(takeovers)} stale batches fenced")


# -- the broker stopped and started -------------------------------------------------------------


@pytest.mark.slow
def test_broker_stopped_and_restarted_mid_stream(
    private_broker: PrivateBroker, env: dict[str, str], tmp_path: Path
) -> None:
    """The broker shuts down mid-stream and comes back: ingest (and the producer) reconnect, and
    ingest resumes where the ledger stands."""
    env = {**env, "LIUHEN_KAFKA_BOOTSTRAP": private_broker.bootstrap}
    config = Config.from_env(env)
    sources = sources_per_partition(2)
    _register(config, sources)
    ingest = IngestProcess(env, tmp_path / "ingest.log")
    producer = LiveProducer(env, sources, per_source=800, rate=300, out=tmp_path / "events")
    began = time.monotonic()
    try:
        wait_until("ingest under way", lambda: ledger_size(config) > 300, timeout=40)
        private_broker.stop()
        stopped = time.monotonic()
        private_broker.start()
        restarted = time.monotonic()
        published = producer.join()
        wait_drained(config, timeout=90)
        drained = time.monotonic()
        assert ingest.alive, ingest.log()[-3000:]
    finally:
        private_broker.start()  # whatever happened, leave it running for the next test
        code = ingest.stop()
    assert code == 0, ingest.log()[-3000:]
    report = audit(config, published, rejected=Counter())
    assert report.accepted == 1600 + 2
    print(
        f"{report}; broker down {stopped - began:.1f} s in, for {restarted - stopped:.1f} s; "
        f"drained {drained - restarted:.1f} s after it was back"
    )


# -- a platform's publisher while the broker restarts ------------------------------------------


def _on_topic(config: Config) -> list[tuple[int, uuid.UUID]]:
    """Each event on the (one-partition) topic: its sequence number and event id, in offset order."""
    out = []
    for message in read_partition(config, config.ingest.topic, 0):
        signed = SignedEvent.decode(message.value)
        envelope = REGISTRY.decode(signed.schema, signed.body)[1]["envelope"]
        out.append((envelope["source_seq"], envelope["event_id"]))
    return out


@pytest.fixture
def outage_env(private_broker: PrivateBroker, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """An environment on the private broker with a one-partition topic; the broker is left running."""
    env = {**env, "LIUHEN_KAFKA_BOOTSTRAP": private_broker.bootstrap}
    config = Config.from_env(env)
    ensure_topics(config.ingest.bootstrap, [(config.ingest.topic, 1)])
    try:
        yield env
    finally:
        private_broker.start()


@pytest.mark.slow
def test_a_publisher_started_while_the_broker_restarts_connects_once_it_is_back(
    private_broker: PrivateBroker, outage_env: dict[str, str]
) -> None:
    """An adapter that starts while the broker is down waits for it (backing off), then publishes."""
    private_broker.stop()
    with ThreadPoolExecutor(1) as pool:
        back = pool.submit(lambda: (time.sleep(12), private_broker.start()))
        began = time.monotonic()
        pub = ScriptedPublisher(outage_env, "zz-metro", connect_timeout=120)
        waited = time.monotonic() - began
        back.result()
    sent = pub.publish(50)
    pub.close()
    assert waited > 12, "the publisher connected to a broker that was down"
    assert _on_topic(Config.from_env(outage_env)) == sent
    assert [seq for seq, _ in sent] == list(range(1, 51))


@pytest.mark.slow
def test_events_published_while_the_broker_is_down_are_delivered_in_order_once_it_is_back(
    private_broker: PrivateBroker, outage_env: dict[str, str]
) -> None:
    """publish() neither blocks nor fails while the broker is away; flush() delivers every event
    once, in order, when it is back: no gap, no duplicate."""
    pub = ScriptedPublisher(outage_env, "zz-metro")
    sent = pub.publish(20)
    pub.flush()
    private_broker.stop()
    sent += pub.publish(30)  # one that waited for the broker would fail after max_block_ms (60 s)
    private_broker.start()
    pub.flush(timeout=120)
    pub.close()
    assert _on_topic(Config.from_env(outage_env)) == sent
    assert [seq for seq, _ in sent] == list(range(1, 51))


@pytest.mark.slow
def test_an_event_kafka_refuses_on_the_spot_gives_its_sequence_number_back(
    private_broker: PrivateBroker, outage_env: dict[str, str]
) -> None:
    """A topic whose metadata cannot be fetched (the broker is down) makes publish() fail at once,
    saying so; the sequence number is free again, so the event published again leaves no gap."""
    pub = ScriptedPublisher(outage_env, "zz-metro", max_block_ms=1000)
    private_broker.stop()
    refused = uuid.uuid4()
    with pytest.raises(PublishError, match="it was not sent, and its sequence number 1 is free again"):
        pub.publish(1, event_id=refused)
    assert pub.last == 0
    private_broker.start()
    wait_until("the topic's metadata", lambda: _published(pub), timeout=60, step=1)
    assert pub.publish(1, event_id=refused) == [(2, refused)]  # signed anew: number 1 went to another
    pub.close()
    assert [seq for seq, _ in _on_topic(Config.from_env(outage_env))] == [1, 2]


def _published(pub: ScriptedPublisher) -> bool:
    try:
        pub.publish(1)
    except PublishError:
        return False
    return True


def test_a_publisher_that_cannot_reach_kafka_says_so_after_its_deadline_and_uses_no_number(
    env: dict[str, str],
) -> None:
    """Nothing listening: connect() gives up after connect_timeout with the address and what to do."""
    env = {**env, "LIUHEN_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_ports(1)}"}
    began = time.monotonic()
    with pytest.raises(PublishError, match=r"cannot reach Kafka at 127\.0\.0\.1:\d+ within 2 s") as caught:
        ScriptedPublisher(env, "zz-metro", connect_timeout=2)
    assert time.monotonic() - began >= 2
    assert "connect again once the broker answers" in str(caught.value)
    assert not (Config.from_env(env).state_dir / "zz-metro.seq").exists()


@pytest.mark.slow
def test_ingest_started_while_the_broker_restarts_waits_for_it(
    private_broker: PrivateBroker, env: dict[str, str], tmp_path: Path
) -> None:
    """An ingest process started while the broker is down says it waits, and takes in what is
    published once the broker is back (rather than exiting, as it did after 10 s)."""
    env = {**env, "LIUHEN_KAFKA_BOOTSTRAP": private_broker.bootstrap}
    config = Config.from_env(env)
    sources = sources_per_partition(2)
    _register(config, sources)
    private_broker.stop()
    try:
        ingest = IngestProcess(env, tmp_path / "ingest.log")
        wait_until("ingest says it waits", lambda: "does not answer yet" in ingest.log(), timeout=60)
        time.sleep(12)
        assert ingest.alive, ingest.log()[-3000:]
    finally:
        private_broker.start()
    try:
        published = LiveProducer(env, sources, per_source=200, rate=1000, out=tmp_path / "events").join()
        wait_until("ingest took events in", lambda: ledger_size(config) > 0, timeout=90)
        wait_drained(config, timeout=90)
    finally:
        code = ingest.stop()
    assert code == 0, ingest.log()[-3000:]
    assert f"Kafka at {private_broker.bootstrap} does not answer yet; waiting up to 60 s" in ingest.log()
    report = audit(config, published, rejected=Counter())
    assert report.accepted == 400 + 2


# -- the database unavailable for a while ------------------------------------------------------


_RETRIES = re.compile(
    r"event store unavailable \(.*?\); (?:retrying|claiming the logs again) in (\d+\.\d) s", re.DOTALL
)


def _outage(
    env: dict[str, str],
    ingest: IngestProcess,
    sources: list[str],
    *,
    hold: float,
    db_down: bool,
    retries: int,
) -> dict[str, list[uuid.UUID]]:
    """Publish a second burst while the store is unavailable; check ingest commits nothing meanwhile
    and waits with backoff (at least ``retries`` warnings, each wait longer than the one before)."""
    config = Config.from_env(env)
    published = LiveProducer(
        env, sources, per_source=300, rate=600, out=ingest.log_path.with_name("second")
    ).join()
    time.sleep(1)  # commits of the batches before the outage have landed
    committed = committed_offsets(config)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        assert committed_offsets(config) == committed, "a Kafka offset was committed while the store was down"
        time.sleep(0.5)
    if not db_down:  # the ledger can still be read: nothing committed is ahead of it
        store = open_store(config)
        try:
            tracked = tracked_offsets(store, config, len(sources))
        finally:
            store.close()
        for partition, offset in committed.items():
            assert offset <= (tracked[partition] or -1) + 1, (
                f"partition {partition} committed past the ledger"
            )
    backoffs = [float(b) for b in _RETRIES.findall(ingest.log())]
    assert len(backoffs) >= retries, ingest.log()[-3000:]
    assert backoffs == sorted(set(backoffs)), f"no backoff: {backoffs}"
    return published


@pytest.mark.slow
def test_sqlite_locked_by_another_writer_for_a_while(env: dict[str, str], tmp_path: Path) -> None:
    """Another connection holds SQLite's write lock: ingest waits with backoff, commits no offset to
    Kafka meanwhile, and catches up once the lock is released."""
    env = {**env, "SQLITE_LOCK_TIMEOUT": "1"}
    config = Config.from_env(env)
    sources = sources_per_partition(2)
    _register(config, sources)
    ingest = IngestProcess(env, tmp_path / "ingest.log")
    try:
        first = LiveProducer(env, sources, per_source=300, rate=1000, out=tmp_path / "first").join()
        wait_drained(config, timeout=60)
        size = ledger_size(config)
        with closing(sqlite3.connect(config.store_env["SQLITE_DBNAME"], isolation_level=None)) as locker:
            locker.execute("BEGIN IMMEDIATE")  # the one write lock, held
            second = _outage(env, ingest, sources, hold=6, db_down=False, retries=3)
            assert ledger_size(config) == size, "ingest appended while another writer held the lock"
            locker.execute("ROLLBACK")
        wait_drained(config, timeout=60)
    finally:
        code = ingest.stop()
    assert code == 0, ingest.log()[-3000:]
    audit(config, {s: first[s] + second[s] for s in sources}, rejected=Counter())


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_server_stopped_for_a_while(
    private_postgres: PrivatePostgres, env: dict[str, str], tmp_path: Path
) -> None:
    """The PostgreSQL server goes down mid-stream: ingest waits with backoff, commits no offset to
    Kafka meanwhile, and resumes where the ledger stands once the server is back."""
    with private_postgres.schema() as store_env:
        env = {**env, **store_env}
        config = Config.from_env(env)
        sources = sources_per_partition(2)
        _register(config, sources)
        ingest = IngestProcess(env, tmp_path / "ingest.log")
        try:
            first = LiveProducer(env, sources, per_source=300, rate=1000, out=tmp_path / "first").join()
            wait_drained(config, timeout=60)
            private_postgres.stop()
            try:
                # The library retries each statement ten times (each waiting POSTGRES_CONNECT_TIMEOUT
                # for a connection) before ingest sees the error and backs off itself.
                second = _outage(env, ingest, sources, hold=13, db_down=True, retries=1)
            finally:
                private_postgres.start()
            wait_drained(config, timeout=60)
        finally:
            code = ingest.stop()
        assert code == 0, ingest.log()[-3000:]
        audit(config, {s: first[s] + second[s] for s in sources}, rejected=Counter())


# -- poison messages --------------------------------------------------------------------------


def test_poison_messages_in_the_middle_of_a_burst(env: dict[str, str], tmp_path: Path) -> None:
    """Bad messages of every kind, and resent duplicates, land amid a burst on each partition: each
    is rejected with its reason (in the ledger and on the rejected topic), the rest flows on. A
    resent bad message is rejected once more, a resent event is dropped as a duplicate."""
    config = Config.from_env(env)
    sources = sources_per_partition(2)
    _register(config, sources)
    ingest = IngestProcess(env, tmp_path / "ingest.log")
    try:
        poison: dict[bytes, str] = {}
        expected = send_poison(config, ["garbage"], sources, poison)  # first on each partition
        before = LiveProducer(env, sources, per_source=400, rate=2000, out=tmp_path / "before").join()
        expected += send_poison(config, list(POISON_REASONS), sources, poison)
        resent = Counter[str]()
        for source in sources:
            resent += resend(config, source, 5, poison)
        duplicates = resent.pop(DUPLICATE)
        assert resent == Counter(bad_avro=2), resent  # the garbage, resent
        expected += resent
        after = LiveProducer(env, sources, per_source=400, rate=2000, out=tmp_path / "after").join()
        wait_drained(config, timeout=60)
        assert ingest.alive
    finally:
        code = ingest.stop()
    assert code == 0, ingest.log()[-3000:]
    report = audit(config, {s: before[s] + after[s] for s in sources}, rejected=expected)
    assert report.duplicates == duplicates == 8
    assert sum(report.rejected.values()) == 2 * (len(POISON_REASONS) + 2)


# -- the soak harness itself ---------------------------------------------------------------------


def test_a_soak_that_fails_says_so_in_one_line_naming_the_round_the_fault_and_the_log(
    tmp_path: Path,
) -> None:
    """A broker that cannot start (its state folder is a file): exit 1, one line naming the round,
    the fault and the log to read, and no traceback."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    run = subprocess.run(
        [sys.executable, "-m", "tests.soak", "--minutes", "1", "--seed", "7"],
        env={**os.environ, "LIUHEN_KAFKA_HOME": str(blocked)},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    failed = [line for line in run.stdout.splitlines() if "FAILED" in line]
    assert failed[0].startswith("round   0 start    FAILED: CalledProcessError: "), run.stdout
    assert f"; read {blocked}/run-" in failed[0], failed[0]
    assert failed[0].endswith("/broker.log"), failed[0]
    assert failed[1].startswith("soak: 0 rounds passed"), run.stdout
