"""Kafka plumbing for ingest and the composition root: topics, clients, offsets.

Translates ``kafka-python`` errors into :class:`ledger.errors.LedgerError` subclasses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ledger.errors import BrokerError

RECONNECT_BACKOFF_MAX_MS = 5000
"""Ingest retries a broker that went away at least this often (the client's default is 30 s)."""


def admin(bootstrap: str) -> KafkaAdminClient:
    """An admin client, or :class:`BrokerError` naming the address that did not answer."""
    try:
        return KafkaAdminClient(bootstrap_servers=bootstrap, bootstrap_timeout_ms=10_000)
    except KafkaError as exc:
        raise BrokerError(
            f"no Kafka broker answers at {bootstrap} ({type(exc).__name__}); "
            "start one with 'docker/kafka/broker.sh start' or set LIUHEN_KAFKA_BOOTSTRAP"
        ) from exc


def await_broker(bootstrap: str, timeout: float, on_wait: Callable[[str], None]) -> None:
    """Return once a broker answers at ``bootstrap``; :class:`BrokerError` after ``timeout`` seconds.

    A broker that is starting or restarting is waited for; ``on_wait`` is told once that it waits.
    """
    began = time.monotonic()
    first_try = min(timeout, 2.0)
    error: KafkaError | None = None
    for attempt, attempt_s in enumerate((first_try, timeout - first_try)):
        if attempt_s <= 0:
            break
        try:
            client = KafkaAdminClient(
                bootstrap_servers=bootstrap,
                bootstrap_timeout_ms=int(attempt_s * 1000),
                reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            )
        except KafkaError as exc:
            error = exc
            if attempt == 0 and timeout > first_try:
                on_wait(
                    f"Kafka at {bootstrap} does not answer yet; waiting up to {timeout:g} s for it "
                    "(LIUHEN_KAFKA_CONNECT_TIMEOUT)"
                )
            continue
        client.close()
        return
    why = type(error).__name__ if error else "no time to try"
    raise BrokerError(
        f"no Kafka broker answers at {bootstrap} ({why}, waited "
        f"{time.monotonic() - began:.0f} s); start one with 'docker/kafka/broker.sh start' or set "
        "LIUHEN_KAFKA_BOOTSTRAP"
    ) from error


def ensure_topics(bootstrap: str, topics: Iterable[tuple[str, int]]) -> None:
    """Create each ``(name, partitions)`` topic that does not exist yet."""
    client = admin(bootstrap)
    try:
        existing = set(client.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=partitions, replication_factor=1)
            for name, partitions in topics
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created it first
                client.create_topics(wanted)
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics on {bootstrap}: {exc}") from exc
    finally:
        client.close()


def existing_topics(bootstrap: str) -> set[str]:
    """The names of the topics the broker has."""
    client = admin(bootstrap)
    try:
        return set(client.list_topics())
    except KafkaError as exc:
        raise BrokerError(f"cannot list the topics of {bootstrap}: {exc}") from exc
    finally:
        client.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Partition → next offset to be written, for every partition of ``topic``."""
    consumer = consumer_for(bootstrap)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(tps).items()}
    except KafkaError as exc:
        raise BrokerError(f"cannot read end offsets of {topic}: {exc}") from exc
    finally:
        consumer.close()


def consumer_for(bootstrap: str, **config: Any) -> KafkaConsumer:
    """A consumer that reads raw bytes, never commits on its own, and starts at the beginning."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "bootstrap_timeout_ms": 10_000,
    }
    settings.update(config)
    try:
        return KafkaConsumer(**settings)
    except KafkaError as exc:
        raise BrokerError(f"cannot connect a consumer to {bootstrap}: {exc}") from exc


def delete_topics(bootstrap: str, names: Iterable[str], *, timeout: float = 30.0) -> None:
    """Delete the topics that exist among ``names`` and wait until the broker no longer lists them."""
    client = admin(bootstrap)
    try:
        doomed = [name for name in names if name in set(client.list_topics())]
        if not doomed:
            return
        client.delete_topics(doomed)
        deadline = time.monotonic() + timeout
        while set(doomed) & set(client.list_topics()):
            if time.monotonic() > deadline:
                raise BrokerError(f"topics {doomed} still listed {timeout:.0f} s after deletion")
            time.sleep(0.2)
    except KafkaError as exc:
        raise BrokerError(f"cannot delete topics on {bootstrap}: {exc}") from exc
    finally:
        client.close()
