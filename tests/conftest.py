"""Shared fixtures: a real Kafka broker (docker/kafka/broker.sh), real SQLite files, real keys.

Every test that touches Kafka gets topics of its own, so tests never see each other's events.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from ledger.config import Config
from ledger.kafka import BrokerError, admin

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
def env(tmp_path: Path, kafka_bootstrap: str) -> dict[str, str]:
    """Environment for one test: its own home, ledger file and topics on the real broker."""
    run = uuid.uuid4().hex[:10]
    return {
        "LIUHEN_HOME": str(tmp_path / "home"),
        "LIUHEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LIUHEN_TOPIC": f"test.{run}.audit",
        "LIUHEN_REJECTED_TOPIC": f"test.{run}.rejected",
        "LIUHEN_GROUP": f"test-{run}",
        "LIUHEN_PARTITIONS": "2",
        "LIUHEN_BATCH_SIZE": "200",
    }


@pytest.fixture
def config(env: dict[str, str]) -> Config:
    """The :class:`Config` a CLI started with ``env`` would read."""
    return Config.from_env(env)
