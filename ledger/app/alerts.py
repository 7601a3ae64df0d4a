"""Publishing the read models' alerts to Kafka, each change once, in order.

:class:`AlertPublisher` follows the outbox of :mod:`projections.alerts` and publishes each alert
(:mod:`ledger.wire.alerts`) to the alerts topic, one partition, keyed by violation id, with the
idempotent producer. Before it publishes anything it reads the last alert the topic holds: a
publisher that stopped (or was killed) after Kafka acknowledged an alert and before it dropped it
from the outbox resumes after it, so every change is published exactly once. While Kafka is
away, alerts wait in the outbox (in the read models' own file): none is lost.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlite_utils
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from ledger.errors import BrokerError
from ledger.ingest.broker import RECONNECT_BACKOFF_MAX_MS, ensure_topics
from ledger.wire.alerts import ALERT_HEADER, alert_id, encode_alert, parse_alert_id
from projections.alerts import forget, generation, pending
from projections.runner import open_db

ALERTS_TOPIC = "liuhen.violations"
POLL_S = 0.05
"""How often the outbox is read while nothing is waiting (seconds)."""
RETRY_S = 2.0
"""How long to wait before trying Kafka again."""


def last_published(bootstrap: str, topic: str) -> tuple[int, int] | None:
    """``(generation, number)`` of the last alert the topic holds, or ``None`` if it holds none."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=5_000,
        reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
    )
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        end = consumer.end_offsets([partition])[partition]
        if end == 0:
            return None
        consumer.seek(partition, end - 1)
        for message in consumer:
            headers = dict(message.headers or [])
            raw = headers.get(ALERT_HEADER)
            return parse_alert_id(raw.decode()) if raw else None
        raise BrokerError(f"{topic} holds {end} messages but its last could not be read")
    finally:
        consumer.close()


class AlertPublisher:
    """Publishes the outbox of the read models at ``views`` to ``topic`` (see the module docstring)."""

    def __init__(self, *, views: Path, bootstrap: str, topic: str = ALERTS_TOPIC) -> None:
        self.views, self.bootstrap, self.topic = views, bootstrap, topic
        self.published = 0
        """How many alerts this publisher has published."""
        self.error: Exception | None = None
        self.failures = 0
        """Sessions Kafka ended (the alerts waited, then went out)."""
        self.last_failure: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Publish from a thread of its own until :meth:`stop`."""
        self._thread = threading.Thread(target=self._run, name="liuhen-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Publish what waits, then stop (re-raising what stopped it, if anything did)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self.run(self._stop)
        except Exception as exc:  # handed to the thread that stops it
            self.error = exc

    def run(self, stop: threading.Event) -> None:
        """Publish every alert of the outbox, and those that come, until ``stop`` is set.

        While Kafka does not answer, the alerts wait; each new session first reads where the last
        one stopped.
        """
        db = open_db(self.views)
        try:
            while True:  # at least one session: what waits when ``stop`` is set goes out first
                try:
                    self._session(db, stop)
                except (KafkaError, BrokerError) as exc:
                    self.failures += 1
                    self.last_failure = str(exc)
                    if stop.wait(RETRY_S):
                        return  # asked to stop while Kafka does not answer: the alerts wait
                else:
                    return
        finally:
            db.close()

    def _session(self, db: sqlite_utils.Database, stop: threading.Event) -> None:
        ensure_topics(self.bootstrap, [(self.topic, 1)])
        producer = KafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=0,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
        try:
            ours = generation(db)
            last = last_published(self.bootstrap, self.topic)
            after = last[1] if last is not None and last[0] == ours else 0
            forget(db, after)
            while True:
                alerts = pending(db, after)
                if not alerts:
                    if stop.wait(POLL_S):
                        return
                    continue
                futures = [
                    producer.send(
                        self.topic,
                        value=encode_alert(alert_id(ours, alert.number), alert.change, alert.violation),
                        key=str(alert.violation["violation_id"]).encode(),
                        headers=[(ALERT_HEADER, alert_id(ours, alert.number).encode())],
                    )
                    for alert in alerts
                ]
                producer.flush()
                for future in futures:
                    future.get(timeout=0)  # raises what Kafka refused
                after = alerts[-1].number
                self.published += len(alerts)
                forget(db, after)
        finally:
            producer.close(timeout=5)
