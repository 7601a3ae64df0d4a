"""Alert latency: from an offending event's publication to its alert on liuhen.violations.

    .venv/bin/python bench/alerts.py [--offences 200] [--rate 4000] [--every 0.25]

Runs the deployed pipeline against the real broker: ``liuhen ingest`` and ``liuhen project
--follow --alerts`` as their own processes, one platform publishing lawful views at ``--rate``
events per second all along, and every ``--every`` seconds a deletion of two-day-old footage
with no order (an R1 violation) on a camera of its own. A consumer of the alerts topic notes when
each R1 alert arrives; the latency is that time minus the moment the platform handed the deletion
to the SDK. Prints the percentiles, the background rate reached, and ingest's backlog at the end
(a backlog means the background rate was above what the machine ingests and projects).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer

from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.sources import register_key
from ledger.sdk import Publisher
from ledger.wire.alerts import decode_alert

ACTOR = {"kind": "PERSON", "user_id": "u1", "name": "张伟", "unit": "metro", "role": "operator"}
ADMIN = {**ACTOR, "user_id": "u0007", "name": "李强", "role": "admin"}
CAMERA = "43020200001310000001"


def view(n: int) -> dict:
    start = datetime.now(UTC) - timedelta(hours=1, seconds=n % 3600)
    access = {"camera_id": CAMERA, "footage_start": start, "footage_end": start + timedelta(minutes=5)}
    return {"access": {**access, "reason": "patrol", "outcome": "ALLOWED"}, "mode": "PLAYBACK"}


def offence(camera: str) -> dict:
    start = datetime.now(UTC) - timedelta(days=2)
    deletion = {"camera_id": camera, "footage_start": start, "footage_end": start + timedelta(minutes=10)}
    return {"deletion": {**deletion, "outcome": "ALLOWED"}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offences", type=int, default=200)
    parser.add_argument("--rate", type=float, default=4000.0, help="background events per second")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between offences")
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--keep", type=Path, help="keep the run's home (ledger, read models, logs) here")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as scratch:
        home = str(args.keep or scratch)
        Path(home).mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "LIUHEN_HOME": home,
            "LIUHEN_KAFKA_BOOTSTRAP": args.bootstrap,
            "LIUHEN_TOPIC": f"bench.{run}.audit",
            "LIUHEN_REJECTED_TOPIC": f"bench.{run}.rejected",
            "LIUHEN_ALERTS_TOPIC": f"bench.{run}.violations",
            "LIUHEN_GROUP": f"bench-{run}",
            "LIUHEN_PARTITIONS": "1",
        }
        config = Config.from_env(env)
        ensure_key(config, "ledger")
        key, _ = ensure_key(config, "zz-metro")
        register_key(config, "zz-metro", key.public)
        cli = [sys.executable, "-m", "ledger.cli"]
        logs = Path(home) / "logs"
        logs.mkdir()
        ingest = subprocess.Popen(  # our own CLI
            [*cli, "ingest"], env=env, stdout=subprocess.DEVNULL, stderr=(logs / "ingest").open("w")
        )
        while not config.sqlite_path or not config.sqlite_path.exists():  # ingest creates the ledger
            if ingest.poll() is not None:
                sys.exit(f"ingest stopped: {(logs / 'ingest').read_text()}")
            time.sleep(0.2)
        time.sleep(2)  # the registration of the source, logged
        project = subprocess.Popen(
            [*cli, "project", "--follow", "--alerts"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(logs / "project").open("w"),
        )
        try:
            _measure(args, config, key, env, project, logs)
        finally:
            for process in (ingest, project):
                process.send_signal(signal.SIGTERM)
            for process in (ingest, project):
                process.wait(timeout=60)
            for name in ("ingest", "project"):
                lines = (logs / name).read_text().splitlines()
                print(f"{name}'s last words: " + " | ".join(lines[-3:]))


def _alerting(views: Path) -> bool:
    try:
        with sqlite3.connect(views) as db:
            row = db.execute("SELECT notification_id FROM _position WHERE name = 'alerting'").fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


def _measure(
    args: argparse.Namespace,
    config: Config,
    key: object,
    env: dict[str, str],
    project: subprocess.Popen[bytes],
    logs: Path,
) -> None:
    while not _alerting(config.views_path):
        if project.poll() is not None:
            sys.exit(f"project stopped: {(logs / 'project').read_text()}")
        time.sleep(0.2)
    received: dict[str, float] = {}
    done = threading.Event()

    def consume() -> None:
        consumer = KafkaConsumer(
            env["LIUHEN_ALERTS_TOPIC"], bootstrap_servers=args.bootstrap, group_id=None,
            auto_offset_reset="earliest", consumer_timeout_ms=200,
        )  # fmt: skip
        while not done.is_set():
            for message in consumer:
                alert = decode_alert(message.value)
                if alert["rule"] == "R1" and alert["change"] == "NEW":
                    received.setdefault(alert["camera_id"], time.time())
        consumer.close()

    reader = threading.Thread(target=consume, daemon=True)
    reader.start()
    sent: dict[str, float] = {}
    background = 0
    with Publisher.connect(
        bootstrap=args.bootstrap, source_id="zz-metro", key=key, state_dir=config.state_dir,
        topic=config.ingest.topic,
    ) as pub:  # fmt: skip
        began = time.monotonic()
        next_offence = began + args.every
        while len(sent) < args.offences:
            now = time.monotonic()
            if now >= next_offence:
                camera = f"430202000013{len(sent) + 100:08d}"
                sent[camera] = time.time()
                pub.publish("FootageDeleted", offence(camera), actor=ADMIN)
                pub.producer.flush()
                next_offence += args.every
                continue
            due = int((now - began) * args.rate) - background
            for _ in range(min(due, 500)):
                pub.publish("FootageViewed", view(background), actor=ACTOR)
                background += 1
            if due <= 0:
                time.sleep(0.001)
        elapsed = time.monotonic() - began
    deadline = time.time() + 60
    while len(received) < len(sent) and time.time() < deadline:
        time.sleep(0.2)
    done.set()
    latencies = [received[c] - t for c, t in sent.items() if c in received]
    missing = len(sent) - len(latencies)
    print(f"background: {background:,} views in {elapsed:.1f} s ({background / elapsed:,.0f}/s)")
    print(f"offences: {len(sent)}, alerted: {len(latencies)}, missing after 60 s: {missing}")
    if latencies:
        print(
            "latency publish -> alert: "
            f"p50 {percentile(latencies, 0.5):.3f} s, p90 {percentile(latencies, 0.9):.3f} s, "
            f"p99 {percentile(latencies, 0.99):.3f} s, max {max(latencies):.3f} s, "
            f"mean {statistics.fmean(latencies):.3f} s"
        )


if __name__ == "__main__":
    main()
