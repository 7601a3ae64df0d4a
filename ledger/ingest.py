"""Ingest: from the audit topic into the hash-chained ledger, exactly once.

For each partition's batch of a poll:

1. **classify** every message in offset order: size, wrapper, schema fingerprint, body, meaning
   (:func:`validate`), and the signing key as the log's key ring stands at that position
   (registry events signed by a registrar key change the ring as they go);
2. **verify** the source signatures of the batch on a thread pool (Ed25519 verification in
   ``cryptography`` releases the GIL);
3. **dedupe** by event id (within the batch, in a recent-id cache, and by the store's unique
   ``event:<uuid>`` stream);
4. **chain** the entries (accepted messages verbatim; a ledger-signed ``EventRejected`` for each
   rejected one) and **append** them in one store transaction together with the partition's
   Kafka offset (:mod:`ledger.store`);
5. only then publish the batch's rejections to the rejected topic and commit the Kafka offset.

A crash anywhere loses and duplicates nothing: on (re)assignment a partition restarts from the
offset stored with the ledger, not from Kafka's committed offset, and rejection entries not yet
published are published again (at-least-once; each carries its ledger position as its key).

**Ownership.** Several ingest processes share the partitions through one consumer group; a
partition's log is written only by the process Kafka assigned it to, never by one it moved on
from (a process that was paused, partitioned away or slow to notice a rebalance):

* when Kafka assigns a partition, the partition is paused and its log **claimed** in the store
  (:meth:`ledger.store.LedgerStore.claim`: the next slot of the log's ownership fence, naming this
  process and its group generation); only after the claim is stored are the log's head, Kafka
  offset and key ring read, so nobody can move them behind this writer's back;
* the claim is then **confirmed with Kafka** by committing the log's offset synchronously: the
  group coordinator accepts a commit only from a member of the current generation, so a claim
  made by a process the group has already rebalanced away from is abandoned before it appends
  anything (its stored claim only fences others until the rightful owner claims again);
* every batch takes the next fence slot in its own transaction: once another process has
  claimed the log, every batch of the displaced writer fails whole with :class:`OwnershipLost`,
  whether or not the new owner has appended yet. The displaced writer drops the partition's
  prepared batches and asks Kafka (a synchronous commit again) whether the partition is still
  its own: if the group has moved on, it leaves the log alone; if not, it claims it again;
* the store's unique ``(stream, version)`` constraint on entries and event ids, and its
  forward-only tracking record, remain the last line: no two writers can ever fork a log or store
  an event twice, whatever Kafka believes.

**Outages.** If the event store is unavailable, batches (and claims) are retried with exponential
backoff (up to 30 s; on PostgreSQL the library first retries each statement ten times itself), no
Kafka offset is committed beyond what is durable in the ledger, and consumption resumes where the
ledger stands once the store answers again. If the broker is unreachable, polling backs off (up to
10 s) until it answers. Both backends let one transaction write at a time (SQLite's write lock;
the library's table lock on PostgreSQL): a process frozen *inside* a write transaction stalls
every writer until it wakes or dies. On PostgreSQL, ``POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT``
lets the server end such a session (the frozen batch then fails when it wakes); run several
ingest processes against one SQLite file only with that stall in mind.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import Tracking
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from ledger.avro import FINGERPRINT_HEADER, SchemaRegistry, SignedEvent
from ledger.errors import (
    BadAvro,
    BadSignature,
    IngestError,
    InvalidField,
    Oversized,
    OwnershipLost,
    StoreError,
)
from ledger.format import Chain, StoredEntry, leaf_hash
from ledger.keys import PublicKey, SigningKey, failed_signatures
from ledger.merkle import CompactRange
from ledger.note import Checkpoint, SignedCheckpoint
from ledger.sources import KEY_EVENTS, LEDGER_SOURCE, KeyChange, KeyRing, key_changes
from ledger.store import Batch, DuplicateEvents, LedgerStore, kafka_tracking

log = logging.getLogger("liuhen.ingest")

REJECTION_NAMESPACE = uuid.UUID("5d0f3c1e-8f0e-4a43-9d55-6c1a4f3b8e21")
_CAMERA_ID = re.compile(r"^\d{20}$")


@dataclass(frozen=True)
class IngestSettings:
    """What ingest reads from where (see :mod:`ledger.config` for the environment names)."""

    bootstrap: str
    topic: str = "liuhen.audit"
    rejected_topic: str = "liuhen.audit.rejected"
    group: str = "liuhen-ingest"
    deployment: str = "liuhen"
    max_event_bytes: int = 64 * 1024
    batch_size: int = 1000
    verify_threads: int = 2
    recent_ids: int = 200_000
    session_timeout_ms: int | None = None
    """How long the group waits for a silent member before giving its partitions to others
    (None: the Kafka client's default, 45 s)."""

    def origin(self, partition: int) -> str:
        """The origin string naming one partition's log."""
        return f"{self.deployment}/{self.topic}/{partition}"


# -- meaning ----------------------------------------------------------------------------------


def _check_window(record: Mapping[str, Any], start: str, end: str, where: str) -> None:
    begin, finish = record.get(start), record.get(end)
    if begin is not None and finish is not None and finish < begin:
        raise InvalidField(f"{where}{end} {finish.isoformat()} is before {start} {begin.isoformat()}")


def _check_camera(camera_id: Any, where: str) -> None:
    if camera_id is not None and not _CAMERA_ID.match(camera_id):
        raise InvalidField(f"{where} {camera_id!r} is not a 20-digit GB/T 28181 id")


def validate(event_type: str, family: str, record: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidField` if a decoded event makes no sense.

    Checks what no compliant platform can produce; it does not judge compliance (an access
    without a reason is a violation for the projections to find, not bad input).
    """
    envelope = record["envelope"]
    if envelope["source_seq"] < 1:
        raise InvalidField(f"envelope.source_seq is {envelope['source_seq']}; sequences start at 1")
    if not envelope["source_system_id"]:
        raise InvalidField("envelope.source_system_id is empty")
    actor = envelope["actor"]
    if actor["kind"] == "PERSON" and not actor["user_id"]:
        raise InvalidField("envelope.actor.user_id is empty for a PERSON actor")
    if family == "ledger":
        raise InvalidField(f"{event_type} is written by the ledger itself and cannot be published")
    for part in ("access", "deletion"):
        if part in record:
            _check_window(record[part], "footage_start", "footage_end", f"{part}.")
            _check_camera(record[part]["camera_id"], f"{part}.camera_id")
    _check_window(record, "footage_start", "footage_end", "")
    _check_window(record, "shift_start", "shift_end", "")
    _check_window(record, "earliest_available", "latest_available", "")
    for gap in record.get("gaps", ()):
        _check_window(gap, "start", "end", "gaps[].")
    _check_camera(record.get("camera_id"), "camera_id")
    for camera_id in record.get("camera_ids", ()):
        _check_camera(camera_id, "camera_ids[]")
    days = record.get("retention_days")
    if days is not None and days < 1:
        raise InvalidField(f"retention_days is {days}; a retention period is at least one day")


# -- keys -------------------------------------------------------------------------------------


# -- one batch --------------------------------------------------------------------------------


@dataclass
class Message:
    """One Kafka message as ingest sees it."""

    offset: int
    value: bytes
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp_ms: int


@dataclass
class Classified:
    """A message after classification: accepted (with its event id) or rejected (with why)."""

    message: Message
    event_id: uuid.UUID | None = None
    event_type: str = ""
    key_id: str = ""
    key_changes: list[KeyChange] = field(default_factory=list)
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
    known: dict[uuid.UUID, bytes]
    verifying: list[Future[list[int]]]
    epoch: int


class LogWriter:
    """Appends one partition's messages to its log. Owns the log while its partition is assigned.

    Constructing one **claims** the log for ``owner`` (see :mod:`ledger.store`, "Ownership
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
        pool: ThreadPoolExecutor,
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
        self.slot = store.claim(self.origin, owner)
        """The last fence slot this writer took (its claim, then its batches)."""
        self.chain = store.head(self.origin)
        self.tree = CompactRange.from_nodes(self.chain.size, partial(store.node, self.origin))
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
        self.recent: OrderedDict[uuid.UUID, bytes] = OrderedDict()
        self._rejection_type = registry.event_type("EventRejected")

    def next_offset(self) -> int | None:
        """The first Kafka offset not yet in the log (None: start from the beginning)."""
        return None if self.stored_offset is None else self.stored_offset + 1

    # classification ---------------------------------------------------------------------------

    def _classify_one(self, message: Message, ring: KeyRing) -> tuple[Classified, tuple[Any, ...] | None]:
        item = Classified(message)
        try:
            if len(message.value) > self.settings.max_event_bytes:
                raise Oversized(
                    f"message is {len(message.value)} bytes; one event may be at most "
                    f"{self.settings.max_event_bytes} bytes"
                )
            signed = SignedEvent.decode(message.value)
            header = dict(message.headers).get(FINGERPRINT_HEADER)
            if header is not None and header != signed.schema.hex().encode():
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
                return item, (key.verifier, signed.signature, signed.signed_message)
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
        """Classify a batch and start verifying its signatures on the thread pool.

        The batch is classified against the key ring as it will stand after the batches prepared
        before it (``base`` overrides). Verification runs while the caller goes on appending the
        previous batch and fetching the next; :meth:`write` waits for it. ``known`` maps event ids
        already in the ledger to their entry's leaf hash: a message repeating one with the same
        bytes is a duplicate; with other bytes, a conflict.
        """
        known = dict(known or {})
        ring = (base or self.next_ring).copy()
        items: list[Classified] = []
        jobs: list[tuple[int, Ed25519PublicKey, bytes, bytes]] = []
        registry_seen: set[uuid.UUID] = set()
        for message in messages:
            item, job = self._classify_one(message, ring)
            if item.key_changes:
                self._dedupe(item, known, registry_seen)
                if item.error is None and not item.duplicate:
                    for change in item.key_changes:
                        ring.apply(change)
            if job is not None:
                jobs.append((len(items), *job))
            items.append(item)
        self.next_ring = ring
        return Prepared(self, messages, items, ring, known, self._start_verifying(jobs), self.epoch)

    def _finish(self, prepared: Prepared) -> None:
        """Wait for the batch's signature checks, then mark bad signatures and duplicates."""
        items = prepared.items
        for verifying in prepared.verifying:
            for position in verifying.result():
                items[position].error = BadSignature(
                    f"source signature does not verify under key {items[position].key_id}: "
                    "the event was altered after signing, or signed with another key"
                )
        seen: set[uuid.UUID] = set()
        for item in items:
            if item.error is None:
                self._dedupe(item, prepared.known, seen)

    def _dedupe(self, item: Classified, known: Mapping[uuid.UUID, bytes], seen: set[uuid.UUID]) -> None:
        """Mark ``item`` a duplicate (same id, same bytes) or a conflict (same id, other bytes)."""
        assert item.event_id is not None
        leaf = known.get(item.event_id) or self.recent.get(item.event_id)
        if leaf is not None and leaf != leaf_hash(item.message.value):
            item.error = InvalidField(
                f"event id {item.event_id} is already in the ledger for a different event: "
                "event ids must be unique (the SDK draws a random UUID for each event)"
            )
        elif leaf is not None or item.event_id in seen:
            item.duplicate = True
        else:
            seen.add(item.event_id)

    def _start_verifying(
        self, jobs: list[tuple[int, Ed25519PublicKey, bytes, bytes]]
    ) -> list[Future[list[int]]]:
        threads = self.settings.verify_threads
        step = max(64, -(-len(jobs) // threads))
        return [self.pool.submit(failed_signatures, jobs[i : i + step]) for i in range(0, len(jobs), step)]

    # chaining and appending -------------------------------------------------------------------

    def sign_checkpoint(self, chain: Chain, tree: CompactRange) -> bytes:
        """The ledger-signed checkpoint (C2SP note) of the log after a batch."""
        checkpoint = Checkpoint.for_log(
            origin=self.origin, tree_size=chain.size, root_hash=tree.root(), chain_head=chain.head
        )
        return SignedCheckpoint.sign(checkpoint, self.ledger_key).encode()

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
            result, batch, chain, tree = self._chain(prepared.items)
            try:
                self.store.append(batch, expected=self.chain)
            except DuplicateEvents as dup:
                # Classify again knowing what the store holds; batches prepared after this one
                # may have seen another key ring: make them stale.
                self.epoch += 1
                known = {**prepared.known, **{i: seen.leaf_hash for i, seen in dup.seen.items()}}
                prepared = self.prepare(messages, known, base=self.keyring)
                continue
            break
        ring = prepared.ring
        self.slot += 1
        if batch.tracking is not None:
            self.stored_offset = batch.tracking.notification_id
        self.chain = chain
        self.tree = tree
        self.keyring = ring
        self.rejection_count += len(batch.rejections)
        for stored in batch.entries:
            event_id = batch.event_ids.get(stored.index)
            if event_id is not None:
                self.recent[event_id] = leaf_hash(stored.entry)
        while len(self.recent) > self.settings.recent_ids:
            self.recent.popitem(last=False)
        return result

    def _chain(self, items: Sequence[Classified]) -> tuple[BatchResult, Batch, Chain, CompactRange]:
        chain = Chain(self.chain.size, self.chain.head)
        tree = self.tree.copy()
        now = time.time_ns() // 1000
        result = BatchResult()
        entries: list[StoredEntry] = []
        event_ids: dict[int, uuid.UUID] = {}
        changes: list[KeyChange] = []
        rejections: list[int] = []
        for item in items:
            if item.duplicate and item.error is None:
                result.duplicates += 1
                continue
            index = chain.size
            data = item.message.value if item.error is None else self.rejection_entry(item)
            leaf = leaf_hash(data)
            nodes = tuple(digest for _, digest in tree.append(leaf))
            stored = StoredEntry(index, item.message.offset, now, chain.append_leaf(leaf), data, nodes)
            entries.append(stored)
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
            key_changes=changes,
            key_changes_before=self.keyring.changes,
            rejections=rejections,
            rejections_before=self.rejection_count,
            checkpoint=self.sign_checkpoint(chain, tree) if entries else None,
            tracking=Tracking(self.tracking_name, items[-1].message.offset) if items else None,
            fence=self.slot + 1,
            owner=self.owner,
        )
        return result, batch, chain, tree


# -- the consumer loop ------------------------------------------------------------------------


@dataclass
class IngestStats:
    """Counters for progress lines and the final summary."""

    appended: int = 0
    rejected: int = 0
    duplicates: int = 0
    batches: int = 0
    first_batch_at: float | None = None
    last_batch_at: float | None = None
    """``time.monotonic()`` when the first batch arrived and when the last one was done."""
    by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Entries appended per second from the first batch's arrival to the last batch's commit."""
        if self.first_batch_at is None or self.last_batch_at is None:
            return 0.0
        return (self.appended + self.rejected) / max(self.last_batch_at - self.first_batch_at, 1e-9)


class Ingestor:
    """Consumes the audit topic into the ledger until asked to stop."""

    def __init__(
        self,
        *,
        settings: IngestSettings,
        store: LedgerStore,
        registry: SchemaRegistry,
        ledger_key: SigningKey,
        registrars: Sequence[PublicKey],
        consumer: KafkaConsumer,
        producer: KafkaProducer,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.ledger_key = ledger_key
        self.registrars = list(registrars)
        self.consumer = consumer
        self.producer = producer
        self.writers: dict[int, LogWriter] = {}
        self.pending: dict[int, TopicPartition] = {}
        """Partitions assigned by Kafka whose logs are not claimed yet (paused until they are)."""
        self.stats = IngestStats()
        self.stopping = threading.Event()
        self._poll_backoff = 0.5
        self.pool = ThreadPoolExecutor(
            max_workers=max(1, settings.verify_threads), thread_name_prefix="verify"
        )

    # partition ownership ----------------------------------------------------------------------

    def _assign(self, partitions: Sequence[TopicPartition]) -> None:
        """Kafka assigned ``partitions`` (inside ``poll``): pause them until their logs are claimed."""
        mine = [tp for tp in partitions if tp.topic == self.settings.topic]
        for tp in mine:
            self.pending[tp.partition] = tp
        if mine:
            self.consumer.pause(*mine)

    def _revoke(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self.pending.pop(tp.partition, None)
            writer = self.writers.pop(tp.partition, None)
            if writer is not None:
                log.info("released %s at entry %d", writer.origin, writer.chain.size)

    def _owner(self) -> str:
        """Who this process is in its group, as recorded in the claims and batches it stores."""
        group = self.consumer.group_metadata()
        return (
            f"{socket.gethostname()}:{os.getpid()} group {group.group_id} "
            f"generation {group.generation_id} member {group.member_id}"
        )

    def _claim_pending(self, backoff: float) -> float:
        """Claim the logs of the partitions assigned since, confirm with Kafka, and start reading them.

        Returns the backoff to use after the next failure: doubled when the store or the broker
        did not answer (after waiting this long), reset once the partitions are claimed.
        """
        if not self.pending:
            return backoff
        claimed: dict[TopicPartition, LogWriter] = {}
        try:
            owner = self._owner()
            for tp in self.pending.values():
                claimed[tp] = LogWriter(
                    settings=self.settings,
                    partition=tp.partition,
                    store=self.store,
                    registry=self.registry,
                    ledger_key=self.ledger_key,
                    registrars=self.registrars,
                    pool=self.pool,
                    owner=owner,
                )
            offsets = {tp: writer.next_offset() for tp, writer in claimed.items()}
        except StoreError as exc:
            log.warning("event store unavailable (%s); claiming the logs again in %.1f s", exc, backoff)
            self.stopping.wait(backoff)
            return min(backoff * 2, 30.0)
        try:
            # The coordinator takes a commit only from a member of the group's current generation:
            # if the group has been rebalanced since these partitions were assigned, the claims
            # are abandoned here, before anything is appended under them.
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset or 0, "", -1) for tp, offset in offsets.items()},
                timeout_ms=10_000,
            )
        except (CommitFailedError, RebalanceInProgressError) as exc:
            log.warning(
                "Kafka moved %s to another member meanwhile (%s); leaving them to it",
                ", ".join(w.origin for w in claimed.values()),
                exc,
            )
            for tp in claimed:
                self.pending.pop(tp.partition, None)
            return backoff
        except KafkaError as exc:
            log.warning("cannot confirm the claims with Kafka (%s); claiming again in %.1f s", exc, backoff)
            self.stopping.wait(backoff)
            return min(backoff * 2, 30.0)
        for tp, writer in claimed.items():
            del self.pending[tp.partition]
            self.writers[tp.partition] = writer
            writer.outbox_behind = True  # checked, and caught up, with the partition's first batch
            offset = offsets[tp]
            if offset is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, offset)
            self.consumer.resume(tp)
            log.info("claimed %s at entry %d, offset %s", writer.origin, writer.chain.size, offset or 0)
        return 0.5

    def _release(self, writer: LogWriter) -> None:
        """Stop writing a log another writer claimed; claim it again if Kafka still assigns it here."""
        if self.writers.get(writer.partition) is not writer:
            return
        del self.writers[writer.partition]
        tp = TopicPartition(self.settings.topic, writer.partition)
        self.consumer.pause(tp)  # until claimed again, or revoked by the coming rebalance
        try:
            # Ask Kafka before claiming back: a process the group has moved on from (it was frozen,
            # say) learns it here, and leaves the log to its new owner untouched.
            self.consumer.commit(
                {tp: OffsetAndMetadata(writer.next_offset() or 0, "", -1)}, timeout_ms=10_000
            )
        except (CommitFailedError, RebalanceInProgressError) as exc:
            log.warning("Kafka moved %s to another member (%s); leaving it to it", writer.origin, exc)
            return
        except KafkaError as exc:  # cannot tell: the claim is confirmed (or refused) after it is made
            log.warning("cannot ask Kafka who owns %s (%s); claiming it again", writer.origin, exc)
        self.pending[writer.partition] = tp

    # rejected topic (an outbox: the ledger's rejection entries are the source of truth) ----------

    def _publish_pending_rejections(self, writer: LogWriter) -> None:
        """Publish the log's rejection entries the rejected topic has not had yet (at least once)."""
        name = f"rejected:{writer.origin}"
        pending = self.store.rejections(writer.origin, after=self.store.tracked_offset(name))
        for _, index in pending:
            stored = self.store.entry(writer.origin, index)
            assert stored is not None, f"rejection index {index} of {writer.origin} has no entry"
            signed = SignedEvent.decode(stored.entry)
            _, record = self.registry.decode(signed.schema, signed.body)
            self._send_rejection(writer, stored, record["reason"], record["detail"], record["message_prefix"])
        if pending:
            self.producer.flush(timeout=30)
            self.store.record_position(name, pending[-1][0])

    def _catch_up_outbox(self, writer: LogWriter) -> None:
        if not writer.outbox_behind:
            return
        try:
            self._publish_pending_rejections(writer)
            writer.outbox_behind = False
        except KafkaError as exc:
            log.warning("rejected topic unreachable (%s); will publish the rejections later", exc)
        except StoreError as exc:  # the batch is durable: only the outbox waits for the store
            log.warning("event store unavailable (%s); will publish the rejections later", exc)

    def _send_rejection(
        self, writer: LogWriter, stored: StoredEntry, reason: str, detail: str, original: bytes
    ) -> None:
        position = f"{writer.origin}#{stored.index}"
        self.producer.send(
            self.settings.rejected_topic,
            key=position.encode(),
            value=original,
            headers=[
                ("liuhen-reason", reason.encode()),
                ("liuhen-detail", detail.encode()),
                ("liuhen-origin", f"{self.settings.topic}:{writer.partition}:{stored.kafka_offset}".encode()),
                ("liuhen-ledger-position", position.encode()),
            ],
        )

    # the loop ---------------------------------------------------------------------------------

    def _prepare(self, fetched: Mapping[TopicPartition, Sequence[Any]]) -> list[Prepared]:
        ready = []
        for tp, records in fetched.items():
            writer = self.writers.get(tp.partition)
            if writer is None or tp.topic != self.settings.topic:
                continue
            messages = [
                Message(
                    offset=r.offset,
                    value=r.value if r.value is not None else b"",
                    key=r.key,
                    headers=list(r.headers or []),
                    timestamp_ms=r.timestamp,
                )
                for r in records
            ]
            ready.append(writer.prepare(messages))
        return ready

    def _handle(self, prepared: Prepared) -> None:
        writer = prepared.writer
        if self.writers.get(writer.partition) is not writer:
            return  # the partition was revoked (maybe reassigned) since: its new writer re-reads it
        messages = prepared.messages
        result = writer.write(messages, prepared)  # durable from here on
        self.stats.appended += result.appended
        self.stats.duplicates += result.duplicates
        self.stats.rejected += len(result.rejected)
        self.stats.batches += 1
        for _, item in result.rejected:
            assert item.error is not None
            reason = item.error.reason
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
            log.warning(
                "rejected %s offset %d (%s): %s",
                writer.origin,
                item.message.offset,
                reason,
                item.error.detail,
            )
        if result.rejected:
            writer.outbox_behind = True
        self._catch_up_outbox(writer)
        # Only now, with the batch durable, tell Kafka too. The ledger's own tracked offset is what
        # a restart resumes from; Kafka's committed offset serves lag tools, so it need not wait.
        tp = TopicPartition(self.settings.topic, writer.partition)
        try:
            self.consumer.commit_async(
                {tp: OffsetAndMetadata(messages[-1].offset + 1, "", -1)}, callback=_commit_failed
            )
        except KafkaError as exc:
            _commit_failed(tp, exc)

    def run(
        self,
        *,
        idle_exit: float | None = None,
        on_progress: Callable[[IngestStats], None] | None = None,
    ) -> IngestStats:
        """Consume until :meth:`stop` (or SIGTERM/SIGINT), or ``idle_exit`` seconds without input."""
        listener = _Listener(self)
        self.consumer.subscribe([self.settings.topic], listener=listener)
        last_input = time.monotonic()
        backoff = claim_backoff = 0.5
        ready: list[Prepared] = []  # classified, signatures being verified, not yet appended
        fetched: Mapping[TopicPartition, Sequence[Any]] = {}
        try:
            while not self.stopping.is_set():
                claim_backoff = self._claim_pending(claim_backoff)
                if not fetched and len(ready) < 2:
                    fetched = self._poll(timeout_ms=0 if ready else 500)
                # Classify what was fetched and start verifying it: the pool works on it while
                # this thread appends the batches prepared in earlier rounds.
                fresh = self._prepare(fetched) if fetched else []
                if fetched:
                    last_input = time.monotonic()
                    if self.stats.first_batch_at is None:
                        self.stats.first_batch_at = last_input
                    fetched = {}
                if ready:
                    outcome = self._append_ready(ready, backoff)
                    if outcome != "reloaded":
                        backoff = 0.5 if outcome == "appended" else min(backoff * 2, 30.0)
                    if outcome == "appended" and on_progress is not None:
                        on_progress(self.stats)
                ready += fresh
                if not ready:
                    for writer in list(self.writers.values()):
                        self._catch_up_outbox(writer)
                    if idle_exit is not None and self.writers and time.monotonic() - last_input > idle_exit:
                        break
            if ready:  # stopping: finish the batch in hand (what is not appended is re-read on restart)
                self._append_ready(ready, 0.0)
        finally:
            self.close()
        return self.stats

    def _poll(self, *, timeout_ms: int) -> Mapping[TopicPartition, Sequence[Any]]:
        """The next records, or none while the broker is unreachable (polled again after a backoff).

        kafka-python raises from ``poll`` when it cannot reach the broker to find the group's
        coordinator; the broker coming back is just the next successful poll.
        """
        try:
            fetched: Mapping[TopicPartition, Sequence[Any]] = self.consumer.poll(
                timeout_ms=timeout_ms, max_records=self.settings.batch_size
            )
        except KafkaError as exc:
            log.warning("Kafka unreachable (%s); polling again in %.1f s", exc, self._poll_backoff)
            self.stopping.wait(self._poll_backoff)
            self._poll_backoff = min(self._poll_backoff * 2, 10.0)
            return {}
        self._poll_backoff = 0.5
        return fetched

    def _append_ready(
        self, ready: list[Prepared], backoff: float
    ) -> Literal["appended", "retry", "reloaded"]:
        """Append the ready batches in order, removing each from ``ready`` once it is durable."""
        try:
            while ready:
                self._handle(ready[0])
                ready.pop(0)
        except OwnershipLost as exc:
            lost = ready.pop(0).writer
            log.warning("%s; dropping its prepared batches", exc)
            self._release(lost)  # its other prepared batches are skipped: their writer is gone
            return "reloaded"
        except StoreError as exc:
            log.warning("event store unavailable (%s); retrying in %.1f s", exc, backoff)
            self.stopping.wait(backoff)
            return "retry"
        self.stats.last_batch_at = time.monotonic()
        return "appended"

    def stop(self) -> None:
        """Finish the batch in hand, then leave the loop."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        """Stop gracefully on SIGTERM and SIGINT (Ctrl-C)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("received %s: finishing the current batch", signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def close(self) -> None:
        """Leave the group and release clients and threads."""
        try:
            self.consumer.close(autocommit=False)
        finally:
            try:
                self.producer.close(timeout=10)
            finally:
                self.pool.shutdown(wait=True)


def _commit_failed(offsets: Any, response: Any) -> None:
    if isinstance(response, Exception):
        log.info("could not commit offsets %s to Kafka: %s", offsets, response)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.ingestor._revoke(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self.ingestor._assign(assigned)
