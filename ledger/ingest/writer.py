"""One partition's log writer: classify, verify, dedupe, chain and append a batch of messages.

:class:`LogWriter` does steps 1-4 of :mod:`ledger.ingest.consumer` for one partition (the consumer
loop, Kafka offsets, ownership claims and rejected-topic outbox stay there). It checks each event's
meaning with :func:`ledger.ingest.validation.validate`, has the source signatures checked by
:class:`ledger.ingest.workers.VerifyingWorkers`, and chains and checkpoints through
:class:`ledger.wire.appender.LogAppender`.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from eventsourcing.persistence import Tracking

from ledger.errors import (
    BadAvro,
    BadSignature,
    ConfigurationError,
    IngestError,
    InvalidField,
    Oversized,
)
from ledger.ingest.settings import IngestSettings
from ledger.ingest.store import Batch, DuplicateEvents, LedgerStore, kafka_tracking
from ledger.ingest.validation import validate
from ledger.wire.appender import LogAppender
from ledger.wire.avro import FINGERPRINT_HEADER, SchemaRegistry, SignedEvent
from ledger.wire.format import StoredEntry, leaf_hash
from ledger.wire.keyring import KEY_EVENTS, LEDGER_SOURCE, KeyChange, KeyRing, key_changes
from ledger.wire.keys import PublicKey, SigningKey, failed_raw_signatures
from ledger.wire.rotation import newest_key

REJECTION_NAMESPACE = uuid.UUID("5d0f3c1e-8f0e-4a43-9d55-6c1a4f3b8e21")


# -- one batch --------------------------------------------------------------------------------


class Message(NamedTuple):
    """One Kafka message as ingest sees it (a tuple: ingest makes one per message)."""

    offset: int
    value: bytes
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp_ms: int


@dataclass(slots=True)
class Classified:
    """A message after classification: accepted (with its event id) or rejected (with why)."""

    message: Message
    event_id: uuid.UUID | None = None
    event_type: str = ""
    key_id: str = ""
    key_changes: Sequence[KeyChange] = ()
    error: IngestError | None = None
    duplicate: bool = False


@dataclass
class BatchResult:
    """What one batch did to its log."""

    appended: int = 0
    rejected: list[tuple[StoredEntry, Classified]] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class Prepared:
    """A classified batch whose signatures are being verified on the thread pool."""

    writer: LogWriter
    messages: Sequence[Message]
    items: list[Classified]
    ring: KeyRing
    known: dict[int, bytes]
    """Leaf hashes of event ids already in the ledger, by ``UUID.int`` (see :meth:`LogWriter._dedupe`)."""
    verifying: list[Future[list[int]]]
    epoch: int


_Job = tuple[int, bytes, bytes, bytes]
"""A signature to check: position in the batch, raw public key, signature, signed message."""


def wall_clock_us() -> int:
    """Now, in microseconds since the epoch: the ledger's time."""
    return time.time_ns() // 1000


class LogWriter:
    """Appends one partition's messages to its log. Owns the log while its partition is assigned.

    Constructing one **claims** the log for ``owner`` (see :mod:`ledger.ingest.store`, "Ownership
    fence") and then reads its state; each batch takes the next fence slot, so once another
    writer claims the log, :meth:`write` raises :class:`OwnershipLost` and stores nothing.
    """

    def __init__(
        self,
        *,
        settings: IngestSettings,
        partition: int,
        store: LedgerStore,
        registry: SchemaRegistry,
        ledger_key: SigningKey,
        registrars: Sequence[PublicKey],
        pool: Executor,
        owner: str,
    ) -> None:
        self.settings = settings
        self.partition = partition
        self.origin = settings.origin(partition)
        self.tracking_name = kafka_tracking(settings.topic, partition)
        self.store = store
        self.registry = registry
        self.ledger_key = ledger_key
        self.pool = pool
        self.owner = owner
        self.clock: Callable[[], int] = wall_clock_us
        """The ledger's clock (microseconds since the epoch): the time each batch is logged at."""
        self.slot = store.claim(self.origin, owner)
        wanted = newest_key(store.rotations())
        if wanted is not None and wanted.raw != ledger_key.public.raw:
            raise ConfigurationError(
                f"the ledger key was rotated to {wanted.key_id}; this writer holds {ledger_key.public.key_id}"
            )
        """The last fence slot this writer took (its claim, then its batches)."""
        self.log = LogAppender.resume(
            origin=self.origin,
            key=ledger_key,
            chain=store.head(self.origin),
            node=partial(store.node, self.origin),
            time_us=store.latest_checkpoint_time(self.origin),
        )
        """The log as stored: its chain, Merkle border and checkpoint key."""
        self.keyring = KeyRing(registrars=registrars, changes=store.key_changes(self.origin))
        """The key ring after the last appended entry."""
        self.next_ring = self.keyring
        """The key ring after the last prepared batch (batches are prepared ahead of appending)."""
        self.epoch = 0
        """Bumped when a batch had to be classified again: batches prepared before are stale."""
        self.rejection_count = store.rejection_count(self.origin)
        self.stored_offset = store.tracked_offset(self.tracking_name)
        """The last Kafka offset in the log (None: none yet)."""
        self.outbox_behind = False
        self.recent: OrderedDict[int, bytes] = OrderedDict()
        """Leaf hashes of the event ids appended last, by ``UUID.int`` (see :meth:`_dedupe`)."""
        self._rejection_type = registry.event_type("EventRejected")
        self._header_of = {t.fingerprint: t.fingerprint_hex.encode() for t in registry.types.values()}
        """The fingerprint header each current schema's messages carry (older ones: computed)."""

    def next_offset(self) -> int | None:
        """The first Kafka offset not yet in the log (None: start from the beginning)."""
        return None if self.stored_offset is None else self.stored_offset + 1

    # classification ---------------------------------------------------------------------------

    def _classify_one(self, message: Message, ring: KeyRing, position: int) -> tuple[Classified, _Job | None]:
        item = Classified(message)
        try:
            if len(message.value) > self.settings.max_event_bytes:
                raise Oversized(
                    f"message is {len(message.value)} bytes; one event may be at most "
                    f"{self.settings.max_event_bytes} bytes"
                )
            signed = SignedEvent.decode(message.value)
            header = None
            for name, content in message.headers:  # the last one counts, as in a dict of them
                if name == FINGERPRINT_HEADER:
                    header = content
            if header is not None and header != (
                self._header_of.get(signed.schema) or signed.schema.hex().encode()
            ):
                raise BadAvro(
                    f"the {FINGERPRINT_HEADER} header does not match the message's schema fingerprint"
                )
            event_type, record = self.registry.decode(signed.schema, signed.body)
            item.event_type = event_type.name
            validate(event_type.name, event_type.family, record)
            envelope = record["envelope"]
            item.event_id = envelope["event_id"]
            item.key_id = envelope["key_id"]
            registry_event = event_type.name in KEY_EVENTS
            owner = record["system_id"] if registry_event else envelope["source_system_id"]
            if message.key is not None and message.key != owner.encode():
                raise InvalidField(
                    f"Kafka key {message.key!r} is not the source system {owner!r}: "
                    "publish with the source id as key (the SDK does)"
                )
            key = ring.resolve(item.key_id, envelope["source_system_id"], registry_event=registry_event)
            if not registry_event:
                return item, (position, key.raw, signed.signature, signed.signed_message)
            # Registry events change the ring for the messages after them: verify them now.
            try:
                key.verifier.verify(signed.signature, signed.signed_message)
            except InvalidSignature:
                raise BadSignature(
                    f"registrar signature of {event_type.name} does not verify under {item.key_id}"
                ) from None
            item.key_changes = key_changes(event_type.name, record, ring)
        except IngestError as error:
            item.error = error
        return item, None

    def prepare(
        self,
        messages: Sequence[Message],
        known: Mapping[uuid.UUID, bytes] | None = None,
        base: KeyRing | None = None,
    ) -> Prepared:
        """Classify a batch and start verifying its signatures in the worker processes.

        The batch is classified against the key ring as it will stand after the batches prepared
        before it (``base`` overrides). Verification runs while the caller goes on appending the
        previous batch and fetching the next; :meth:`write` waits for it. ``known`` maps event ids
        already in the ledger to their entry's leaf hash: a message repeating one with the same
        bytes is a duplicate; with other bytes, a conflict.
        """
        ids = {event_id.int: leaf for event_id, leaf in (known or {}).items()}
        ring = (base or self.next_ring).copy()
        items: list[Classified] = []
        jobs: list[_Job] = []
        registry_seen: set[int] = set()
        for position, message in enumerate(messages):
            item, job = self._classify_one(message, ring, position)
            if item.key_changes:
                self._dedupe(item, ids, registry_seen)
                if item.error is None and not item.duplicate:
                    for change in item.key_changes:
                        ring.apply(change)
            if job is not None:
                jobs.append(job)
            items.append(item)
        self.next_ring = ring
        return Prepared(self, messages, items, ring, ids, self._start_verifying(jobs), self.epoch)

    def _finish(self, prepared: Prepared) -> None:
        """Wait for the batch's signature checks, then mark bad signatures and duplicates."""
        items = prepared.items
        for verifying in prepared.verifying:
            for position in verifying.result():
                items[position].error = BadSignature(
                    f"source signature does not verify under key {items[position].key_id}: "
                    "the event was altered after signing, or signed with another key"
                )
        seen: set[int] = set()
        for item in items:
            if item.error is None:
                self._dedupe(item, prepared.known, seen)

    def _dedupe(self, item: Classified, known: Mapping[int, bytes], seen: set[int]) -> None:
        """Mark ``item`` a duplicate (same id, same bytes) or a conflict (same id, other bytes).

        Event ids are looked up by their ``UUID.int``: hashing a ``UUID`` runs Python code, and
        ingest looks up every event id several times.
        """
        assert item.event_id is not None
        key = item.event_id.int
        leaf = (known.get(key) if known else None) or self.recent.get(key)
        if leaf is not None and leaf != leaf_hash(item.message.value):
            item.error = InvalidField(
                f"event id {item.event_id} is already in the ledger for a different event: "
                "event ids must be unique (the SDK draws a random UUID for each event)"
            )
        elif leaf is not None or key in seen:
            item.duplicate = True
        else:
            seen.add(key)

    def _start_verifying(self, jobs: list[_Job]) -> list[Future[list[int]]]:
        workers = self.settings.verify_processes
        step = max(64, -(-len(jobs) // workers))
        return [
            self.pool.submit(failed_raw_signatures, jobs[i : i + step]) for i in range(0, len(jobs), step)
        ]

    # chaining and appending -------------------------------------------------------------------

    def rejection_entry(self, item: Classified) -> bytes:
        """The ledger-signed ``EventRejected`` recording why a message was refused.

        Deterministic (id from topic/partition/offset, time from the Kafka timestamp, Ed25519
        signatures are deterministic), so re-ingesting after a crash yields the same bytes.
        """
        assert item.error is not None
        message = item.message
        import hashlib  # noqa: PLC0415 - only on the rejection path

        record = {
            "envelope": {
                "event_id": uuid.uuid5(
                    REJECTION_NAMESPACE, f"{self.settings.topic}:{self.partition}:{message.offset}"
                ),
                "schema_version": self._rejection_type.version,
                "occurred_at": datetime.fromtimestamp(message.timestamp_ms / 1000, UTC),
                "source_system_id": LEDGER_SOURCE,
                "source_seq": message.offset + 1,
                "actor": {
                    "kind": "SYSTEM",
                    "user_id": "liuhen-ingest",
                    "name": "",
                    "unit": self.settings.deployment,
                    "role": "ingest",
                    "workstation": None,
                    "ip": None,
                },
                "key_id": self.ledger_key.public.key_id,
            },
            "topic": self.settings.topic,
            "partition": self.partition,
            "offset": message.offset,
            "reason": item.error.reason,
            "detail": item.error.detail,
            "message_sha256": hashlib.sha256(message.value).digest(),
            "message_size": len(message.value),
            "message_prefix": message.value[: self.settings.max_event_bytes],
        }
        fingerprint, body = self.registry.encode("EventRejected", record)
        unsigned = SignedEvent(fingerprint, body, b"")
        return SignedEvent(fingerprint, body, self.ledger_key.sign(unsigned.signed_message)).encode()

    def write(self, messages: Sequence[Message], prepared: Prepared | None = None) -> BatchResult:
        """Chain and durably append one batch (prepared by :meth:`prepare`); return what happened."""
        if prepared is None or prepared.epoch != self.epoch:
            prepared = self.prepare(messages, base=self.keyring)
        while True:
            self._finish(prepared)
            result, batch, log = self._chain(prepared.items)
            try:
                self.store.append(batch, expected=self.log.chain)
            except DuplicateEvents as dup:
                # Classify again knowing what the store holds; batches prepared after this one
                # may have seen another key ring: make them stale.
                self.epoch += 1
                known = {uuid.UUID(int=i): leaf for i, leaf in prepared.known.items()}
                known.update({i: seen.leaf_hash for i, seen in dup.seen.items()})
                prepared = self.prepare(messages, known, base=self.keyring)
                continue
            break
        ring = prepared.ring
        self.slot += 1
        if batch.tracking is not None:
            self.stored_offset = batch.tracking.notification_id
        self.log = log
        self.keyring = ring
        self.rejection_count += len(batch.rejections)
        first = log.size - len(batch.entries)
        for index, event_id in batch.event_ids.items():
            self.recent[event_id.int] = batch.leaves[index - first]
        while len(self.recent) > self.settings.recent_ids:
            self.recent.popitem(last=False)
        return result

    def _chain(self, items: Sequence[Classified]) -> tuple[BatchResult, Batch, LogAppender]:
        """The batch's entries, appended to a copy of the log (adopted once the store took them)."""
        log = self.log.copy()
        append = log.append
        now = max(self.clock(), log.time_us)  # the ledger's time never goes back
        result = BatchResult()
        entries: list[StoredEntry] = []
        leaves: list[bytes] = []
        event_ids: dict[int, uuid.UUID] = {}
        changes: list[KeyChange] = []
        rejections: list[int] = []
        for item in items:
            if item.duplicate and item.error is None:
                result.duplicates += 1
                continue
            data = item.message.value if item.error is None else self.rejection_entry(item)
            leaf = leaf_hash(data)
            stored = append(data, kafka_offset=item.message.offset, ingested_at_us=now, leaf=leaf)
            index = stored.index
            entries.append(stored)
            leaves.append(leaf)
            if item.error is None:
                assert item.event_id is not None
                event_ids[index] = item.event_id
                result.appended += 1
                changes += [replace(change, from_index=index + 1) for change in item.key_changes]
            else:
                rejections.append(index)
                result.rejected.append((stored, item))
        batch = Batch(
            origin=self.origin,
            entries=entries,
            event_ids=event_ids,
            leaves=leaves,
            key_changes=changes,
            key_changes_before=self.keyring.changes,
            rejections=rejections,
            rejections_before=self.rejection_count,
            checkpoint=log.checkpoint(time_us=now, logs=self.store.origins()) if entries else None,
            tracking=Tracking(self.tracking_name, items[-1].message.offset) if items else None,
            fence=self.slot + 1,
            owner=self.owner,
        )
        return result, batch, log
