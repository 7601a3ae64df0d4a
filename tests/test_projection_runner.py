"""The projection runner on a real SQLite ledger: exactly once through crashes, rebuild == follow."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import ProjectionError, ProjectionStopped
from ledger.ingest.store import Batch, LedgerStore
from ledger.simulate import build_city, simulate
from ledger.wire.appender import LogAppender
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.format import Chain, StoredEntry
from ledger.wire.keys import SigningKey
from projections import queries, tables
from projections.feed import read_batch
from projections.runner import STOP_CHECK, ProjectionRunner, RunStats, open_db
from tests.test_postgres import postgres_schema

REGISTRY = SchemaRegistry.load()
KEY = SigningKey.generate("sim")
LEDGER = SigningKey.generate("ledger")


def signed(event: Any, seq: int) -> bytes:
    envelope = {
        "event_id": uuid.UUID(int=seq),
        "schema_version": 1,
        "occurred_at": event.occurred_at,
        "source_system_id": event.source_id,
        "source_seq": seq,
        "actor": event.actor,
        "key_id": KEY.public.key_id,
    }
    fp, body = REGISTRY.encode(event.event_type, {**event.fields, "envelope": envelope})
    return SignedEvent(fp, body, KEY.sign(SignedEvent(fp, body, b"").signed_message)).encode()


def ledger_of(
    path: Path | dict[str, str], *, seed: int, hours: float, batch: int = 300, plant: bool = False
) -> LedgerStore:
    """A store holding a simulated city's traffic, split by source into logs as ingest would.

    ``path``: a SQLite file, or the library's settings of another store.
    """
    env = (
        path
        if isinstance(path, dict)
        else {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    )
    store = LedgerStore.open(env)
    city = build_city(seed=seed, scale=0.1)
    start = datetime(2026, 5, 3, tzinfo=UTC)
    events = list(simulate(city, seed=seed, start=start, days=hours / 24, plant=plant))
    logs: dict[str, LogAppender] = {}
    pending: dict[str, tuple[Chain, list[StoredEntry]]] = {}

    def flush(origin: str) -> None:
        before, entries = pending.pop(origin)
        store.append(Batch(origin=origin, entries=entries, event_ids={}), expected=before)

    for seq, event in enumerate(events, start=1):
        origin = f"test/{event.source_id}"
        if origin not in logs:
            logs[origin] = LogAppender(origin=origin, key=LEDGER)
        log = logs[origin]
        _, entries = pending.setdefault(origin, (log.chain, []))
        entries.append(log.append(signed(event, seq), kafka_offset=seq, ingested_at_us=0))
        if len(entries) >= batch:
            flush(origin)
    for origin in list(pending):
        flush(origin)
    return store


def snapshot(db: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the read models, but the generation (drawn at random when they are created)."""
    return {
        name: sorted(db.execute(f"SELECT * FROM {name} WHERE {where}").fetchall(), key=repr)
        for name, where in [(name, "1") for name in tables.TABLES]
        + [(tables.POSITION_TABLE, "name != 'generation'")]
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LedgerStore:
    return ledger_of(tmp_path_factory.mktemp("ledger") / "ledger.db", seed=5, hours=6)


def test_incremental_runs_and_a_rebuild_give_the_same_tables(store: LedgerStore, tmp_path: Path) -> None:
    small = ProjectionRunner(store=store, db=open_db(tmp_path / "a.db"), batch_size=97)
    stats = small.run()
    assert stats.events > 500
    assert stats.batches > 5
    whole = ProjectionRunner(store=store, db=open_db(tmp_path / "b.db"), batch_size=100_000)
    whole.run()
    assert snapshot(small.db) == snapshot(whole.db)
    assert small.db.execute("SELECT COUNT(*) FROM access").fetchone()[0] > 100
    whole.rebuild()
    assert whole.position == 0
    whole.run()
    assert snapshot(small.db) == snapshot(whole.db)


def test_a_crash_in_the_middle_of_a_batch_applies_nothing_of_it(store: LedgerStore, tmp_path: Path) -> None:
    runner = ProjectionRunner(store=store, db=open_db(tmp_path / "c.db"), batch_size=200)
    runner.run_once()
    before = snapshot(runner.db)
    with pytest.raises(ProjectionError, match="injected"):
        runner.run_once(fail_after=117)
    assert snapshot(runner.db) == before  # neither rows nor position moved
    runner.run()
    reference = ProjectionRunner(store=store, db=open_db(tmp_path / "d.db"), batch_size=5000)
    reference.run()
    assert snapshot(runner.db) == snapshot(reference.db)


def test_a_backlog_read_ahead_by_a_second_process_projects_the_same_tables(
    store: LedgerStore, tmp_path: Path
) -> None:
    here = ProjectionRunner(store=store, db=open_db(tmp_path / "here.db"), prefetch_after=None)
    assert here.run().read_ahead == 0
    ahead = ProjectionRunner(
        store=store, db=open_db(tmp_path / "ahead.db"), prefetch_after=1, prefetch_batch=150
    )
    stats = ahead.run()
    assert stats.read_ahead == stats.events > 500
    assert snapshot(ahead.db) == snapshot(here.db)


@pytest.mark.postgres
def test_a_backlog_in_postgresql_is_read_ahead_the_same_way(tmp_path: Path) -> None:
    with postgres_schema() as env:
        store = ledger_of(env, seed=8, hours=2)
        try:
            here = ProjectionRunner(store=store, db=open_db(tmp_path / "here.db"), prefetch_after=None)
            here.run()
            ahead = ProjectionRunner(
                store=store, db=open_db(tmp_path / "ahead.db"), prefetch_after=1, prefetch_batch=100
            )
            stats = ahead.run()
            assert stats.read_ahead == stats.events > 200
            assert snapshot(ahead.db) == snapshot(here.db)
        finally:
            store.close()


def _readers() -> list[int]:
    """Process ids of this process's children reading ahead (``python -m projections.prefetch``)."""
    mine = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (
                entry.name.isdigit()
                and (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == mine
                and b"projections.prefetch" in (entry / "cmdline").read_bytes()
            ):
                found.append(int(entry.name))
    return found


def test_a_reading_process_killed_mid_stream_loses_and_repeats_nothing(
    store: LedgerStore, tmp_path: Path
) -> None:
    """The second process dies after the first batch: the run stops with a clear error, what was
    applied stays applied exactly once, and the next run finishes the job."""
    killed: list[int] = []

    def kill_reader(stats: RunStats) -> None:
        if not killed:
            killed.extend(_readers())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    runner = ProjectionRunner(
        store=store, db=open_db(tmp_path / "ahead.db"), prefetch_after=1, prefetch_batch=150
    )
    with pytest.raises(ProjectionError, match="reading process ended"):
        runner.run(progress=kill_reader)
    assert killed
    assert runner.position > 0
    assert runner.db.execute("SELECT COUNT(*) FROM access").fetchone()[0] > 0
    runner.run()
    reference = ProjectionRunner(store=store, db=open_db(tmp_path / "reference.db"), prefetch_after=None)
    reference.run()
    assert snapshot(runner.db) == snapshot(reference.db)


@pytest.mark.parametrize("ahead", [False, True], ids=["here", "read-ahead"])
def test_a_run_asked_to_stop_ends_after_the_batch_in_hand_and_the_next_run_resumes(
    store: LedgerStore, tmp_path: Path, ahead: bool
) -> None:
    stop = threading.Event()

    def stop_after_two(stats: RunStats) -> None:
        if stats.batches == 2:
            stop.set()

    runner = ProjectionRunner(
        store=store,
        db=open_db(tmp_path / "stopped.db"),
        batch_size=97,
        prefetch_after=1 if ahead else None,
        prefetch_batch=150,
    )
    stats = runner.run(stop=stop, progress=stop_after_two)
    assert stats.stopped
    assert stats.batches == 2
    reference = ProjectionRunner(store=store, db=open_db(tmp_path / "reference.db"), prefetch_after=None)
    end = reference.run().position
    assert runner.position == stats.position < end
    resumed = runner.run()
    assert not resumed.stopped
    assert resumed.position == end
    assert snapshot(runner.db) == snapshot(reference.db)


def test_a_batch_is_rolled_back_when_the_run_is_asked_to_stop_in_its_middle(
    store: LedgerStore, tmp_path: Path
) -> None:
    runner = ProjectionRunner(store=store, db=open_db(tmp_path / "mid.db"), batch_size=STOP_CHECK * 3)
    runner.run_once()
    before = snapshot(runner.db)
    stop = threading.Event()
    stop.set()
    stats = runner.run(stop=stop)
    assert stats.stopped
    assert stats.events == 0
    assert snapshot(runner.db) == before  # neither rows nor position moved
    batch = read_batch(store, runner.registry, runner.position, STOP_CHECK * 3)
    assert batch is not None
    assert len(batch.items) > STOP_CHECK  # the stop was seen inside the batch, which was rolled back
    with pytest.raises(ProjectionStopped):
        runner.apply(batch, stop=stop)
    assert snapshot(runner.db) == before


def test_liuhen_project_stops_on_sigterm_in_the_middle_of_a_rebuild_and_resumes(tmp_path: Path) -> None:
    """SIGTERM as a rebuild starts: exit 0, saying it stopped and where; the next run finishes and
    gives the tables an uninterrupted rebuild gives."""
    home = tmp_path / "home"
    home.mkdir()
    ledger = ledger_of(home / "ledger.db", seed=11, hours=200)
    reference = ProjectionRunner(store=ledger, db=open_db(tmp_path / "reference.db"))
    end = reference.run().position
    env = {**os.environ, "LIUHEN_HOME": str(home)}
    command = [sys.executable, "-m", "ledger.cli", "project"]
    run = subprocess.Popen(
        [*command, "--rebuild"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert run.stderr is not None
    assert "rebuilding" in run.stderr.readline()
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert "project: stopped before catching up; run it again to go on from there" in err
    stopped_at = int(re.findall(r"at notification (\d+)", out)[0])
    assert stopped_at < end
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert f"at notification {end}" in again.stdout
    assert "stopped" not in again.stderr
    ledger.close()
    assert snapshot(open_db(home / "views.db", create=False)) == snapshot(reference.db)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 1000),
    sizes=st.lists(st.integers(1, 400), min_size=1, max_size=6),
    crash=st.integers(0, 150),
)
def test_random_streams_project_the_same_however_they_are_batched_and_interrupted(
    tmp_path_factory: pytest.TempPathFactory, seed: int, sizes: list[int], crash: int
) -> None:
    directory = tmp_path_factory.mktemp("random")
    store = ledger_of(directory / "ledger.db", seed=seed, hours=1.5, batch=50)
    try:
        follow = ProjectionRunner(store=store, db=open_db(directory / "follow.db"))
        for size in sizes:
            follow.batch_size = size
            with contextlib.suppress(ProjectionError):  # the injected crash: nothing of the batch applies
                follow.run_once(fail_after=crash if crash < size else None)
        follow.batch_size = 500
        follow.run()
        rebuilt = ProjectionRunner(store=store, db=open_db(directory / "rebuilt.db"), batch_size=100_000)
        rebuilt.run()
        assert snapshot(follow.db) == snapshot(rebuilt.db)
    finally:
        store.close()


def test_no_statement_of_a_rebuild_scans_a_read_model(tmp_path: Path) -> None:
    """Every lookup the projector and the rules make per event uses an index: at ten million
    events a table scan per event would never finish (bench/queries.py)."""
    store = ledger_of(tmp_path / "ledger.db", seed=3, hours=30, plant=True)
    try:
        runner = ProjectionRunner(store=store, db=open_db(tmp_path / "views.db"))
        runner.rebuild()
        statements: dict[str, str] = {}  # one of each statement, whatever its values
        runner.db.conn.set_trace_callback(
            lambda sql: statements.setdefault(re.sub(r"'[^']*'|\b\d+\b", "?", sql), sql)
        )
        while runner.run_once():  # not run(): it adds the indexes only queries need once caught up
            pass
        runner.db.conn.set_trace_callback(None)
    finally:
        store.close()
    reads = [sql for sql in statements.values() if " WHERE " in sql and "sqlite_master" not in sql]
    assert any("FROM access WHERE camera_id" in sql for sql in reads)  # the rules' deletion lookups ran
    plans = {sql: [row[3] for row in runner.db.execute(f"EXPLAIN QUERY PLAN {sql}")] for sql in reads}
    assert not {sql: plan for sql, plan in plans.items() if any(step.startswith("SCAN") for step in plan)}


def test_the_investigators_queries_read_access_through_an_index(tmp_path: Path) -> None:
    """who, actor and case never scan ``access`` once a rebuild has caught up (case through the
    partial indexes of the few rows that name a case, application or authorization)."""
    store = ledger_of(tmp_path / "ledger.db", seed=5, hours=30, plant=True)
    try:
        runner = ProjectionRunner(store=store, db=open_db(tmp_path / "views.db"))
        runner.rebuild()
        runner.run()
    finally:
        store.close()
    db = runner.db
    camera, start, end, user, occurred = db.execute(
        "SELECT camera_id, footage_start, footage_end, actor_id, occurred_at FROM access "
        "WHERE footage_start IS NOT NULL LIMIT 1"
    ).fetchone()
    number = db.execute("SELECT case_number FROM access WHERE case_number IS NOT NULL LIMIT 1").fetchone()[0]
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert queries.who(db, camera, start, end)
    assert queries.actor_page(db, user, occurred, occurred + 1, limit=10).rows
    assert queries.case(db, number)["actions"]
    db.conn.set_trace_callback(None)
    reads = [sql for sql in statements if "FROM access" in sql]
    assert len(reads) >= 3
    plans = {sql: [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")] for sql in reads}
    scans = {sql: plan for sql, plan in plans.items() if any(step.startswith("SCAN access") for step in plan)}
    assert scans == {}
