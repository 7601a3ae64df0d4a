"""The producer SDK that platform adapters import to publish signed audit events.

::

    from ledger.wire.keys import SigningKey
    from ledger.sdk import Publisher

    key = SigningKey.load(Path("keys/zz-metro.key"))
    with Publisher.connect(bootstrap="127.0.0.1:19092", source_id="zz-metro", key=key,
                           state_dir=Path("state")) as publisher:
        publisher.publish("FootageViewed", {"access": {...}, "mode": "PLAYBACK"},
                          actor={"kind": "PERSON", "user_id": "u1024", ...})

For each event the SDK fills the envelope (event id, schema version, time, source id, the next
per-source sequence number, key id), encodes the body with the event type's current schema,
signs ``liuhen/event/v1 || fingerprint || body`` with the source's Ed25519 key, and sends the
``liuhen.SignedEvent`` keyed by the source id (so one source's events stay ordered in one
partition), with its schema fingerprint as a header (:func:`kafka_headers`), with acks from all
in-sync replicas and an idempotent producer. The signing is :class:`EventSigner`, which needs no
Kafka: a tool or a test can make the same signed events and deliver them its own way.

Sequence numbers are persisted in ``<state_dir>/<source_id>.seq``: each number is written before
its event is sent (a process crash never reuses one; at worst it leaves a visible gap), and the
file is fsynced on :meth:`Publisher.flush`. The file is locked, so two publishers cannot share a
source by accident.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ledger.errors import ConfigurationError, PublishError
from ledger.wire.avro import FINGERPRINT_HEADER, FINGERPRINT_SIZE, SchemaRegistry, SignedEvent
from ledger.wire.keys import FILE_SAFE_NAME, SigningKey

DEFAULT_TOPIC = "liuhen.audit"
MAX_EVENT_BYTES = 64 * 1024
_SEQ_WIDTH = 20


class SequenceFile:
    """A source's last used sequence number, in a locked file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            raise ConfigurationError(
                f"{path} is locked: another publisher for this source is running"
            ) from exc
        raw = os.pread(self._fd, _SEQ_WIDTH + 1, 0).strip()
        try:
            self.last = int(raw) if raw else 0
        except ValueError as exc:
            raise ConfigurationError(f"{path} does not hold a sequence number: {raw!r}") from exc

    def take(self, number: int) -> None:
        """Record ``number`` (the next one) as used, before its event is sent; fsynced by :meth:`sync`."""
        assert number == self.last + 1
        os.pwrite(self._fd, f"{number:>{_SEQ_WIDTH}}\n".encode(), 0)
        self.last = number

    def sync(self) -> None:
        """Make the recorded number durable."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Sync, unlock and close."""
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1


@dataclass(frozen=True, slots=True)
class Published:
    """What the SDK assigned to one published event."""

    event_id: uuid.UUID
    source_seq: int
    size: int


def kafka_headers(wire: bytes) -> list[tuple[str, bytes]]:
    """The Kafka headers the SDK sends with a signed event: its schema fingerprint, in hex."""
    return [(FINGERPRINT_HEADER, wire[:FINGERPRINT_SIZE].hex().encode())]


class EventSigner:
    """Makes one source's signed events: envelope filled, body Avro-encoded, signed by the source key.

    The SDK's signing without Kafka: :class:`Publisher` sends what its signer makes. The caller
    gives each event its sequence number (a publisher takes the next from its sequence file).
    """

    def __init__(self, *, source_id: str, key: SigningKey, registry: SchemaRegistry) -> None:
        self.source_id = source_id
        self.key = key
        self.registry = registry
        self._key_id = key.public.key_id

    def sign(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        seq: int,
        actor: Mapping[str, Any],
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> tuple[bytes, Published]:
        """Fill the envelope (sequence number ``seq``), encode and sign one event; return its wire bytes.

        ``occurred_at`` defaults to now and ``event_id`` to a random UUID. Raises
        :class:`PublishError` if the fields do not fit the event type's schema or the signed event
        is larger than the ledger accepts.
        """
        kind = self.registry.event_type(event_type)
        event_id = event_id or uuid.uuid4()
        envelope = {
            "event_id": event_id,
            "schema_version": kind.version,
            "occurred_at": occurred_at or datetime.now(UTC),
            "source_system_id": self.source_id,
            "source_seq": seq,
            "actor": dict(actor),
            "key_id": self._key_id,
        }
        try:
            fingerprint, body = self.registry.encode(event_type, {**fields, "envelope": envelope})
        except (ValueError, TypeError, KeyError) as exc:
            raise PublishError(f"{event_type} does not match its schema: {exc}") from exc
        signature = self.key.sign(SignedEvent(fingerprint, body, b"").signed_message)
        wire = SignedEvent(fingerprint, body, signature).encode()
        if len(wire) > MAX_EVENT_BYTES:
            raise PublishError(f"{event_type} is {len(wire)} bytes; the ledger accepts {MAX_EVENT_BYTES}")
        return wire, Published(event_id, seq, len(wire))


class Publisher:
    """Signs (with an :class:`EventSigner`) and publishes one source system's events."""

    def __init__(
        self,
        *,
        producer: KafkaProducer,
        source_id: str,
        key: SigningKey,
        sequence: SequenceFile,
        registry: SchemaRegistry,
        topic: str = DEFAULT_TOPIC,
    ) -> None:
        self.producer = producer
        self.signer = EventSigner(source_id=source_id, key=key, registry=registry)
        self.source_id = source_id
        self.key = key
        self.sequence = sequence
        self.registry = registry
        self.topic = topic
        self._kafka_key = source_id.encode()
        self._failures: list[BaseException] = []

    @classmethod
    def connect(
        cls,
        *,
        bootstrap: str,
        source_id: str,
        key: SigningKey,
        state_dir: Path,
        topic: str = DEFAULT_TOPIC,
        registry: SchemaRegistry | None = None,
        **producer_config: Any,
    ) -> Publisher:
        """A publisher with its own Kafka producer (acks=all, idempotent, small linger)."""
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "batch_size": 256 * 1024,
            "max_request_size": 4 * 1024 * 1024,
            "bootstrap_timeout_ms": 10_000,
        }
        config.update(producer_config)
        if not FILE_SAFE_NAME.fullmatch(source_id):
            raise ConfigurationError(
                f"source id {source_id!r} must be letters, digits, '.', '_' or '-', starting with a letter "
                "or digit (it names the source's sequence file)"
            )
        try:
            producer = KafkaProducer(**config)
        except KafkaError as exc:
            raise PublishError(f"cannot connect to Kafka at {bootstrap}: {exc}") from exc
        return cls(
            producer=producer,
            source_id=source_id,
            key=key,
            sequence=SequenceFile(state_dir / f"{source_id}.seq"),
            registry=registry or SchemaRegistry.load(),
            topic=topic,
        )

    def sign(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        actor: Mapping[str, Any],
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> tuple[bytes, Published]:
        """Sign one event (:meth:`EventSigner.sign`) with the next sequence number; return its wire bytes."""
        seq = self.sequence.last + 1
        signed = self.signer.sign(
            event_type, fields, seq=seq, actor=actor, occurred_at=occurred_at, event_id=event_id
        )
        self.sequence.take(seq)
        return signed

    def publish(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        actor: Mapping[str, Any],
        occurred_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
        kafka_key: str | None = None,
    ) -> Published:
        """Sign and send one event (asynchronously: call :meth:`flush` to wait for acks).

        ``kafka_key`` overrides the partitioning key; only the registrar uses it, to put a source's
        key registration in the same log as that source's events.
        """
        wire, published = self.sign(
            event_type, fields, actor=actor, occurred_at=occurred_at, event_id=event_id
        )
        try:
            future = self.producer.send(
                self.topic,
                value=wire,
                key=kafka_key.encode() if kafka_key else self._kafka_key,
                headers=kafka_headers(wire),
            )
        except KafkaError as exc:
            raise PublishError(f"Kafka refused {event_type} seq {published.source_seq}: {exc}") from exc
        future.add_errback(self._failures.append)
        return published

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until every sent event is acknowledged by all in-sync replicas."""
        try:
            self.producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise PublishError(f"Kafka did not acknowledge every event: {exc}") from exc
        self.sequence.sync()
        if self._failures:
            failures, self._failures = self._failures, []
            raise PublishError(
                f"{len(failures)} event(s) were not acknowledged by Kafka (first: {failures[0]}); "
                "their sequence numbers are lost and will show as a gap"
            )

    def close(self) -> None:
        """Flush, then release the producer and the sequence file."""
        try:
            self.flush()
        finally:
            self.producer.close()
            self.sequence.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
