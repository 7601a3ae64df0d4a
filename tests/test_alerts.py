"""Alerts: every violation found, changed or cleared reaches the alerts topic once, in order.

Through the real broker: the platform publishes signed events, ingest logs them, the projection
judges them and writes each change of a violation to its outbox, and the publisher
(:class:`ledger.app.alerts.AlertPublisher`) sends it to the alerts topic, where a consumer reads
it with the schema file alone. A publisher that stops after Kafka acknowledged alerts and before
it dropped them from the outbox (a crash at the worst moment) publishes none of them again.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from ledger.app.alerts import AlertPublisher
from ledger.app.assembly import open_store, projection_runner
from ledger.app.config import Config
from ledger.cli import main
from ledger.wire.alerts import ALERT_HEADER, decode_alert
from projections import alerts as outbox
from projections.runner import open_db
from tests.events import ACTOR, CAMERA, ingest, publisher, registered_source

pytestmark = pytest.mark.kafka

ADMIN = {**ACTOR, "user_id": "u0007", "name": "李强", "role": "admin"}


def read_alerts(config: Config, *, expect: int, within: float = 30.0) -> list[tuple[str, dict[str, Any]]]:
    """Every alert the topic holds, once ``expect`` of them are there (or ``within`` seconds pass)."""
    consumer = KafkaConsumer(
        bootstrap_servers=config.ingest.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=500,
    )
    partition = TopicPartition(config.alerts_topic, 0)
    found: list[tuple[str, dict[str, Any]]] = []
    deadline = datetime.now(UTC) + timedelta(seconds=within)
    try:
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        while datetime.now(UTC) < deadline:
            for message in consumer:
                header = dict(message.headers)[ALERT_HEADER].decode()
                found.append((header, decode_alert(message.value)))
            if len(found) >= expect:
                break
    finally:
        consumer.close()
    return found


def project(config: Config) -> None:
    store = open_store(config)
    db = open_db(config.views_path)
    try:
        projection_runner(config, store, db).run()
    finally:
        store.close()
        db.close()


def deletion(at: datetime, order: str | None = None) -> dict[str, Any]:
    footage = (at - timedelta(days=2), at - timedelta(days=2) + timedelta(minutes=10))
    context = {
        "camera_id": CAMERA,
        "footage_start": footage[0],
        "footage_end": footage[1],
        "outcome": "ALLOWED",
    }
    return {"deletion": {**context, "deletion_order_id": order}}


def test_a_violation_found_then_cleared_is_alerted_once_each_and_a_restart_repeats_nothing(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered_source(config)
    ingest(config, idle=1.0)
    project(config)  # caught up: from now on, what is found is alerted
    now = datetime.now(UTC)
    with publisher(config) as pub:
        pub.publish("FootageDeleted", deletion(now, "O-1"), actor=ADMIN, occurred_at=now)
        pub.publish("FootageDeleted", deletion(now), actor=ADMIN, occurred_at=now)
    ingest(config, idle=1.0)
    project(config)
    # The first publisher dies after Kafka acknowledged the alerts, before it dropped them.
    real_forget = outbox.forget
    calls = {"n": 0}

    def crash_after_the_first(db: Any, up_to: int) -> None:
        calls["n"] += 1
        if calls["n"] > 1:
            raise KeyboardInterrupt("killed after Kafka acknowledged the alerts")
        real_forget(db, up_to)

    monkeypatch.setattr("ledger.app.alerts.forget", crash_after_the_first)
    stop = threading.Event()
    first = AlertPublisher(
        views=config.views_path, bootstrap=config.ingest.bootstrap, topic=config.alerts_topic
    )
    with pytest.raises(KeyboardInterrupt):
        first.run(stop)
    db = open_db(config.views_path)
    try:
        assert (
            len(outbox.pending(db, 0)) == 2
        )  # still in the outbox: the next publisher must not send them again
    finally:
        db.close()
    monkeypatch.setattr("ledger.app.alerts.forget", real_forget)
    # The order O-1, dated before the deletion and logged within the tolerance, clears the first.
    with publisher(config) as pub:
        window = deletion(now)["deletion"]
        order = {
            "order_id": "O-1", "camera_id": CAMERA, "footage_start": window["footage_start"],
            "footage_end": window["footage_end"], "approver_user_id": "u0008",
            "legal_basis": "《个保法》第四十七条", "reason": "误录隐私画面",
        }  # fmt: skip
        pub.publish("DeletionOrdered", order, actor=ADMIN, occurred_at=now - timedelta(hours=1))
    ingest(config, idle=1.0)
    project(config)
    second = AlertPublisher(
        views=config.views_path, bootstrap=config.ingest.bootstrap, topic=config.alerts_topic
    )
    second.start()
    try:
        read_alerts(config, expect=3)
        # Found after the outbox was emptied: its number follows the others, never one of theirs.
        with publisher(config) as pub:
            pub.publish("FootageDeleted", deletion(now), actor=ADMIN, occurred_at=now)
        ingest(config, idle=1.0)
        project(config)
        found = read_alerts(config, expect=4)
    finally:
        second.stop()
    assert second.published == 2  # the clearing and the last one: the first two were out already
    assert [alert["change"] for _, alert in found] == ["NEW", "NEW", "CLEARED", "NEW"]
    ids = [header for header, _ in found]
    assert len(set(ids)) == 4
    assert [alert["alert_id"] for _, alert in found] == ids
    new, _, cleared, _ = (alert for _, alert in found)
    assert (new["rule"], new["severity"], new["camera_id"], new["actor_id"]) == (
        "R1",
        "critical",
        CAMERA,
        "u0007",
    )
    assert "deletion order O-1 does not cover it" in new["explanation"]
    [position] = new["evidence"]  # the deletion: no policy, and the order it cites was not logged yet
    assert set(position) == {"origin", "index"}
    assert cleared["violation_id"] == new["violation_id"]
    assert new["occurred_at"] == now


def test_project_alerts_publishes_what_waits_and_says_how_many(
    config: Config, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    registered_source(config)
    ingest(config, idle=1.0)
    assert main(["project"]) == 0
    now = datetime.now(UTC)
    with publisher(config) as pub:
        pub.publish("FootageDeleted", deletion(now), actor=ADMIN, occurred_at=now)
    ingest(config, idle=1.0)
    capsys.readouterr()
    assert main(["project", "--alerts"]) == 0
    assert "1 alerts published" in capsys.readouterr().out
    [(_, alert)] = read_alerts(config, expect=1)
    assert (alert["change"], alert["rule"]) == ("NEW", "R1")
    assert main(["project", "--alerts"]) == 0  # nothing new: nothing sent again
    assert "0 alerts published" in capsys.readouterr().out
    assert len(read_alerts(config, expect=2, within=3)) == 1


def test_a_rebuild_alerts_nothing_it_finds_again(config: Config, tmp_path: Path) -> None:
    registered_source(config)
    ingest(config, idle=1.0)
    project(config)
    now = datetime.now(UTC)
    with publisher(config) as pub:
        pub.publish("FootageDeleted", deletion(now), actor=ADMIN, occurred_at=now)
    ingest(config, idle=1.0)
    project(config)
    store = open_store(config)
    db = open_db(config.views_path)
    try:
        assert len(outbox.pending(db, 0)) == 1
        runner = projection_runner(config, store, db)
        runner.rebuild()
        runner.run()
        assert outbox.pending(db, 0) == []  # the same violation, found again: not a new one
        assert db.execute("SELECT COUNT(*) FROM violations WHERE rule = 'R1'").fetchone()[0] == 1
    finally:
        store.close()
        db.close()


def test_a_publisher_asked_to_stop_before_it_began_sends_what_waits_first(config: Config) -> None:
    registered_source(config)
    ingest(config, idle=1.0)
    project(config)
    now = datetime.now(UTC)
    with publisher(config) as pub:
        pub.publish("FootageDeleted", deletion(now), actor=ADMIN, occurred_at=now)
    ingest(config, idle=1.0)
    project(config)
    stop = threading.Event()
    stop.set()  # `project --alerts` without --follow: the projection may end before the publisher starts
    late = AlertPublisher(
        views=config.views_path, bootstrap=config.ingest.bootstrap, topic=config.alerts_topic
    )
    late.run(stop)
    assert late.published == 1
    [(_, alert)] = read_alerts(config, expect=1)
    assert (alert["change"], alert["rule"]) == ("NEW", "R1")
