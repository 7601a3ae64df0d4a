"""Shared fixtures: a real Kafka broker (docker/kafka/broker.sh), real SQLite files, real keys.

Every test that touches Kafka gets topics of its own, so tests never see each other's events.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.errors import KafkaError

from ledger.app.config import Config
from ledger.errors import BrokerError
from ledger.ingest.broker import admin

REPO = Path(__file__).resolve().parent.parent
BOOTSTRAP = os.environ.get("LIUHEN_KAFKA_BOOTSTRAP", "127.0.0.1:19092")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The address of a real broker, started by docker/kafka/broker.sh if it is not answering."""
    try:
        admin(BOOTSTRAP).close()
    except BrokerError:
        subprocess.run([str(REPO / "docker/kafka/broker.sh"), "start"], check=True)
    return BOOTSTRAP


@pytest.fixture
def env(tmp_path: Path, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    """Environment for one test: its own home, ledger file and topics on the real broker.

    The test's topics are deleted after it: a broker kept between runs would otherwise collect
    thousands of them (and spend a third of a core on them while idle).
    """
    run = uuid.uuid4().hex[:10]
    yield {
        "LIUHEN_HOME": str(tmp_path / "home"),
        "LIUHEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LIUHEN_TOPIC": f"test.{run}.audit",
        "LIUHEN_REJECTED_TOPIC": f"test.{run}.rejected",
        "LIUHEN_ALERTS_TOPIC": f"test.{run}.violations",
        "LIUHEN_GROUP": f"test-{run}",
        "LIUHEN_PARTITIONS": "2",
        "LIUHEN_BATCH_SIZE": "200",
    }
    delete_topics(kafka_bootstrap, prefix=f"test.{run}.")


def delete_topics(bootstrap: str, *, prefix: str) -> None:
    """Delete the topics whose name starts with ``prefix`` (clean-up: a broker that is gone is left alone)."""
    try:
        client = admin(bootstrap)
    except BrokerError:
        return
    try:
        topics = [name for name in client.list_topics() if name.startswith(prefix)]
        if topics:
            client.delete_topics(topics)
    except KafkaError:  # already gone, or the broker stopped by the test itself
        pass
    finally:
        client.close()


@pytest.fixture
def config(env: dict[str, str]) -> Config:
    """The :class:`Config` a CLI started with ``env`` would read."""
    return Config.from_env(env)
