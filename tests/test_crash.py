"""Crash safety: ingest killed with SIGKILL mid-stream, again and again, loses and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from ledger.app.config import Config
from ledger.wire.format import verify_chain
from tests.events import ACTOR, decode, ingest_until_stored, publisher, registered_source, stored_logs, viewed

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent


def start_ingest(env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "ingest", *extra],
        env={**os.environ, **env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (its verifying workers, and multiprocessing's helper)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since it was listed
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pids: list[int], *, within: float) -> list[int]:
    """Those of ``pids`` still running after up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        running = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(env: dict[str, str], config: Config) -> None:
    env = {**env, "LIUHEN_BATCH_SIZE": "50"}  # many small transactions: kills land between and inside them
    env["LIUHEN_SESSION_TIMEOUT_MS"] = "6000"  # the group gives up on a killed process after 6 s, not 45
    registered_source(config)
    total = 8000
    published: list[object] = []

    def produce() -> None:
        with publisher(config) as pub:
            for n in range(total):
                published.append(pub.publish("FootageViewed", viewed(n % 500), actor=ACTOR).event_id)
                if n % 400 == 399:
                    pub.flush()
                    time.sleep(0.2)

    producer = threading.Thread(target=produce)
    producer.start()
    rng = random.Random(28)
    kills = 0
    try:
        for _ in range(6):
            proc = start_ingest(env)
            time.sleep(rng.uniform(1.2, 3.0))
            helpers = children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            assert proc.returncode == -signal.SIGKILL
            assert alive(helpers, within=5.0) == [], "verifying workers outlived the killed ingest"
            kills += 1
    finally:
        producer.join(timeout=120)
    assert kills == 6
    stats = ingest_until_stored(Config.from_env(env), total + 1)  # the registration, then every event
    logs = stored_logs(config)
    assert len(logs) == 1
    entries = next(iter(logs.values()))
    verify_chain(entries)
    ids = [decode(e.entry)[1]["envelope"]["event_id"] for e in entries[1:]]
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert duplicates == []
    assert ids == published, f"{len(ids)} stored vs {len(published)} published"
    # Every Kafka offset is accounted for, once, in order.
    assert [e.kafka_offset for e in entries] == list(range(total + 1))
    assert stats.rejected == 0


def test_sigterm_finishes_the_batch_and_exits_cleanly(env: dict[str, str], config: Config) -> None:
    registered_source(config)
    with publisher(config) as pub:
        for n in range(2000):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
    proc = start_ingest(env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = stored_logs(config)
        if logs and len(next(iter(logs.values()))) == 2001:
            break
        time.sleep(0.2)
    helpers = children(proc.pid)
    assert len(helpers) >= 2  # the verifying workers
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert alive(helpers, within=5.0) == []
    assert b"2001 events appended" in out
    verify_chain(next(iter(stored_logs(config).values())))
