"""Ingest: from the audit topic into the hash-chained ledger, exactly once.

For each partition's batch of a poll:

1. **classify** every message in offset order: size, wrapper, schema fingerprint, body, meaning
   (:func:`ledger.ingest.validation.validate`), and the signing key as the log's key ring stands
   at that position (registry events signed by a registrar key change the ring as they go);
2. **verify** the source signatures of the batch in worker processes
   (:class:`ledger.ingest.workers.VerifyingWorkers`), while this process appends the batch before it and
   fetches and classifies the one after;
3. **dedupe** by event id (within the batch, in a recent-id cache, and by the store's unique
   ``event:<uuid>`` stream);
4. **chain** the entries (accepted messages verbatim; a ledger-signed ``EventRejected`` for each
   rejected one) and **append** them in one store transaction together with the partition's
   Kafka offset (:mod:`ledger.ingest.store`);
5. only then publish the batch's rejections to the rejected topic and commit the Kafka offset.

Steps 1-4 are one partition's :class:`ledger.ingest.writer.LogWriter`; this module is the consumer
loop around the writers: assignment, ownership, offsets, the rejected-topic outbox, outages.

A crash anywhere loses and duplicates nothing: on (re)assignment a partition restarts from the
offset stored with the ledger, not from Kafka's committed offset, and rejection entries not yet
published are published again (at-least-once; each carries its ledger position as its key).

**Ownership.** Several ingest processes share the partitions through one consumer group; a
partition's log is written only by the process Kafka assigned it to, never by one it moved on
from (a process that was paused, partitioned away or slow to notice a rebalance):

* when Kafka assigns a partition, the partition is paused and its log **claimed** in the store
  (:meth:`ledger.ingest.store.LedgerStore.claim`: the next slot of the log's ownership fence, naming this
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
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Literal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError, RebalanceInProgressError
from kafka.structs import OffsetAndMetadata

from ledger.errors import ConfigurationError, LedgerError, OwnershipLost, StoreError
from ledger.ingest.settings import IngestSettings
from ledger.ingest.store import LedgerStore
from ledger.ingest.workers import VerifyingWorkers
from ledger.ingest.writer import (
    LogWriter,
    Message,
    Prepared,
)
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.format import StoredEntry
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.rotation import newest_key, rotation_keys

log = logging.getLogger("liuhen.ingest")


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


ASSIGNMENT_WAIT = 30.0
"""Seconds ``idle_exit`` waits for Kafka to assign this process a partition before it stops."""


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
        key_loader: Callable[[Sequence[bytes]], SigningKey] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.ledger_key = ledger_key
        self.registrars = list(registrars)
        self.key_loader = key_loader
        """Loads the ledger key the newest of the given rotations brought in (ingest keeps running
        through a rotation: :meth:`ledger.ingest.store.LedgerStore.rotate`)."""
        self.consumer = consumer
        self.producer = producer
        self.writers: dict[int, LogWriter] = {}
        self.pending: dict[int, TopicPartition] = {}
        """Partitions assigned by Kafka whose logs are not claimed yet (paused until they are)."""
        self.stats = IngestStats()
        self.stopping = threading.Event()
        self._poll_backoff = 0.5
        self.pool = VerifyingWorkers(max(1, settings.verify_processes))

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
                log.info("released %s at entry %d", writer.origin, writer.log.size)

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
            registrars = self._current_key()
        except LedgerError as exc:
            log.warning("%s; claiming the logs again in %.1f s", exc, backoff)
            self.stopping.wait(backoff)
            return min(backoff * 2, 30.0)
        try:
            owner = self._owner()
            for tp in self.pending.values():
                claimed[tp] = LogWriter(
                    settings=self.settings,
                    partition=tp.partition,
                    store=self.store,
                    registry=self.registry,
                    ledger_key=self.ledger_key,
                    registrars=registrars,
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
            # if the group has been rebalanced since these partitions were assigned, nothing is
            # appended under these claims.
            self.consumer.commit(
                {tp: OffsetAndMetadata(offset or 0, "", -1) for tp, offset in offsets.items()},
                timeout_ms=10_000,
            )
        except (CommitFailedError, RebalanceInProgressError) as exc:
            # Not abandoned: the next poll rejoins the group, and its revocation drops from
            # ``pending`` whatever went to another member; what is still this process's is claimed
            # again under the new generation. (Dropped here, a partition the rejoin gave back
            # could stay assigned, paused and unclaimed for good.)
            log.warning(
                "the group is rebalancing (%s); claiming %s again after it",
                exc,
                ", ".join(w.origin for w in claimed.values()),
            )
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
            log.info("claimed %s at entry %d, offset %s", writer.origin, writer.log.size, offset or 0)
        return 0.5

    def _current_key(self) -> list[PublicKey]:
        """Take the ledger key the newest rotation brought in, if it is not the one in hand.

        Returns the registrar keys: every ledger key of the history (a registry event signed
        before the rotation may reach ingest after it).
        """
        statements = self.store.rotations()
        wanted = newest_key(statements)
        if wanted is not None and wanted.raw != self.ledger_key.public.raw:
            if self.key_loader is None:
                raise ConfigurationError(f"the ledger key was rotated to {wanted.key_id}: restart ingest")
            self.ledger_key = self.key_loader(statements)
            log.info(
                "the ledger key was rotated: checkpoints are now signed by %s", self.ledger_key.public.key_id
            )
        history = rotation_keys(statements)
        return [*self.registrars, *(k for k in history if k not in self.registrars)]

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
                Message(r.offset, b"" if r.value is None else r.value, r.key, r.headers or (), r.timestamp)
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
        try:
            while not self.stopping.is_set():
                claimed = len(self.writers)
                claim_backoff = self._claim_pending(claim_backoff)
                fetched = self._poll(timeout_ms=0 if ready else 500) if len(ready) < 2 else {}
                # Classify what was fetched and start verifying it: the workers check it while
                # this thread appends the batches prepared in earlier rounds.
                fresh = self._prepare(fetched) if fetched else []
                if fetched or len(self.writers) > claimed:  # idle from the last input or claim
                    last_input = time.monotonic()
                if fetched and self.stats.first_batch_at is None:
                    self.stats.first_batch_at = last_input
                if ready:
                    outcome = self._append_ready(ready, backoff)
                    if outcome != "reloaded":
                        backoff = 0.5 if outcome == "appended" else min(backoff * 2, 30.0)
                    if outcome == "appended" and on_progress is not None:
                        on_progress(self.stats)
                ready += fresh
                if not ready and self._idle(since=last_input, limit=idle_exit):
                    break
            if ready:  # stopping: finish the batch in hand (what is not appended is re-read on restart)
                self._append_ready(ready, 0.0)
        finally:
            self.close()
        return self.stats

    def _idle(self, *, since: float, limit: float | None) -> bool:
        """Catch up the rejected-topic outboxes; whether ``limit`` seconds passed since input."""
        for writer in list(self.writers.values()):
            self._catch_up_outbox(writer)
        if limit is None:
            return False
        quiet = time.monotonic() - since
        # Before Kafka assigns any partition there is nothing to be idle about, but a group that
        # never assigns one (no partition for this process) must not keep --until-idle waiting.
        return quiet > limit if self.writers else quiet > max(limit, ASSIGNMENT_WAIT)

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
        """Leave the group; release the clients, the verifying workers and the store."""
        try:
            self.consumer.close(autocommit=False)
        finally:
            try:
                self.producer.close(timeout=10)
            finally:
                try:
                    self.pool.shutdown(wait=True)
                finally:
                    self.store.close()  # on PostgreSQL, else its pool of connections lingers


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
