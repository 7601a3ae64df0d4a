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

What the SDK promises while the broker is away (a restart, a network cut):

* :meth:`Publisher.connect` keeps trying to reach the broker, backing off up to 2 s between tries,
  for ``connect_timeout`` seconds (120 by default); only then does it raise :class:`PublishError`.
  Nothing is signed before it returns, so a publisher that could not connect used no sequence
  number.
* :meth:`Publisher.publish` never waits for the broker: the signed event is queued in order, and
  the producer delivers the queue, still in order and each event once (an idempotent producer),
  as soon as the broker is back, for up to ``delivery_timeout_ms`` (120 s by default).
  :meth:`Publisher.flush` waits for that.
* An event Kafka refuses on the spot (its queue full past ``max_block_ms``, the topic's metadata
  unavailable) raises :class:`PublishError` from :meth:`Publisher.publish`, and its sequence
  number is given back: publishing the event again leaves no gap.
* An event not acknowledged in time is reported by :meth:`Publisher.flush` with its sequence
  number and event id; it may or may not have reached Kafka. Sending it again (the same bytes,
  :attr:`Publisher.unacknowledged`) is safe: the ledger keeps an event id once.
* An adapter that retries by publishing the same event again, with the same ``event_id``, sends
  the bytes it signed the first time, under the same sequence number (for the events of its last
  :data:`RETRY_MEMORY_BYTES`): a retry never takes a new number the ledger would then miss.
  The same event id with other content is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections import OrderedDict
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
DEFAULT_CONNECT_TIMEOUT_S = 120.0
RETRY_MEMORY_BYTES = 8 * 1024 * 1024
"""How much of its latest events (those given an event id) a publisher keeps, to resend a retry as signed."""
RECONNECT_BACKOFF_MAX_MS = 2000


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

    def give_back(self, number: int) -> None:
        """Record ``number``, the last one taken, as unused again (its event was never sent)."""
        assert number == self.last
        os.pwrite(self._fd, f"{number - 1:>{_SEQ_WIDTH}}\n".encode(), 0)
        self.last = number - 1

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


@dataclass(frozen=True, slots=True)
class Unacknowledged:
    """A sent event Kafka has not acknowledged: what it was given, its bytes, its partitioning key."""

    published: Published
    wire: bytes
    kafka_key: bytes


def _content(event_type: str, fields: Mapping[str, Any], actor: Mapping[str, Any], key: bytes) -> str:
    """An event's content as a retry must repeat it (its time and sequence number aside)."""
    return json.dumps([event_type, fields, actor, key.hex()], sort_keys=True, default=str, ensure_ascii=False)


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
        self._failures: list[tuple[Unacknowledged, BaseException]] = []
        self._signed: OrderedDict[uuid.UUID, tuple[str, datetime | None, Unacknowledged]] = OrderedDict()
        self._signed_bytes = 0
        self.unacknowledged: list[Unacknowledged] = []
        """Events a :meth:`flush` reported as not acknowledged, to send again (:meth:`send_again`)."""

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
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        **producer_config: Any,
    ) -> Publisher:
        """A publisher with its own Kafka producer (acks=all, idempotent, small linger).

        Waits up to ``connect_timeout`` seconds for the broker to answer (it may be restarting);
        ``producer_config`` is passed to :class:`kafka.KafkaProducer`.
        """
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "batch_size": 256 * 1024,
            "max_request_size": 4 * 1024 * 1024,
            "bootstrap_timeout_ms": int(connect_timeout * 1000),
            "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
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
            raise PublishError(
                f"cannot reach Kafka at {bootstrap} within {connect_timeout:g} s ({exc}); nothing was "
                "signed or sent: connect again once the broker answers, or allow longer (connect_timeout)"
            ) from exc
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
        key = kafka_key.encode() if kafka_key else self._kafka_key
        content = "" if event_id is None else _content(event_type, fields, actor, key)
        if event_id is not None and event_id in self._signed:
            return self._retry(event_id, content, occurred_at)
        wire, published = self.sign(
            event_type, fields, actor=actor, occurred_at=occurred_at, event_id=event_id
        )
        event = Unacknowledged(published, wire, key)
        try:
            self._send(event)
        except KafkaError as exc:
            self.sequence.give_back(published.source_seq)
            raise PublishError(
                f"Kafka did not take {event_type} ({exc}); it was not sent, and its sequence number "
                f"{published.source_seq} is free again: publish it again"
            ) from exc
        if event_id is not None:  # only once sent: a number given back is not this event's any more
            self._remember(event_id, content, occurred_at, event)
        return published

    def _remember(
        self, event_id: uuid.UUID, content: str, occurred_at: datetime | None, event: Unacknowledged
    ) -> None:
        self._signed[event_id] = (content, occurred_at, event)
        self._signed_bytes += len(event.wire)
        while self._signed_bytes > RETRY_MEMORY_BYTES:
            _, _, oldest = self._signed.popitem(last=False)[1]
            self._signed_bytes -= len(oldest.wire)

    def _retry(self, event_id: uuid.UUID, content: str, occurred_at: datetime | None) -> Published:
        """Send an event published before under ``event_id`` again, the bytes signed then."""
        first, first_at, event = self._signed[event_id]
        seq = event.published.source_seq
        if content != first or (occurred_at is not None and occurred_at != first_at):
            raise PublishError(
                f"event id {event_id} was published before (seq {seq}) with other content: an event id "
                "names one event; give a new event its own id"
            )
        try:
            self._send(event)
        except KafkaError as exc:
            raise PublishError(f"Kafka did not take the retry of seq {seq}: {exc}") from exc
        return event.published

    def send_again(self) -> None:
        """Send the :attr:`unacknowledged` events again, the same bytes in sequence order.

        :meth:`flush` waits for their acknowledgements, as for any event.
        """
        pending, self.unacknowledged = self.unacknowledged, []
        for n, event in enumerate(pending):
            try:
                self._send(event)
            except KafkaError as exc:
                self.unacknowledged = pending[n:]
                seq = event.published.source_seq
                raise PublishError(f"Kafka did not take seq {seq} again: {exc}") from exc

    def _send(self, event: Unacknowledged) -> None:
        future = self.producer.send(
            self.topic, value=event.wire, key=event.kafka_key, headers=kafka_headers(event.wire)
        )
        future.add_errback(lambda exc: self._failures.append((event, exc)))

    def flush(self, timeout: float | None = 60.0) -> None:
        """Wait until every sent event is acknowledged by all in-sync replicas."""
        try:
            self.producer.flush(timeout=timeout)
        except KafkaError as exc:
            raise PublishError(f"Kafka did not acknowledge every event: {exc}") from exc
        self.sequence.sync()
        if self._failures:
            failures, self._failures = self._failures, []
            self.unacknowledged = sorted(
                self.unacknowledged + [event for event, _ in failures], key=lambda e: e.published.source_seq
            )
            first, error = min(failures, key=lambda f: f[0].published.source_seq)
            raise PublishError(
                f"{len(failures)} event(s) were not acknowledged by Kafka (first: seq "
                f"{first.published.source_seq}, event {first.published.event_id}: {error}); they may not "
                "have reached it. Publisher.send_again() sends them again (the ledger keeps an event id "
                "once); events never sent show as a sequence gap"
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
