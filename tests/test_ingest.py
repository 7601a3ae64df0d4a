"""Ingest from a real Kafka broker into a real SQLite ledger: order, chain, rejections, duplicates."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from ledger.app.assembly import build_ingestor, registrar
from ledger.app.audit import live_material
from ledger.app.config import Config
from ledger.app.keys import ensure_key, publish_revocation
from ledger.app.sources import revoke_key
from ledger.verify import Trust, verify_logs
from ledger.wire.avro import SignedEvent
from ledger.wire.format import Chain, chain_hash, leaf_hash, verify_chain
from tests.events import (
    ACTOR,
    REGISTRY,
    decode,
    ingest,
    publisher,
    registered_source,
    stored_logs,
    viewed,
)

pytestmark = pytest.mark.kafka


def only_log(config: Config) -> list[Any]:
    logs = stored_logs(config)
    assert len(logs) == 1, f"expected one log, found {sorted(logs)}"
    return next(iter(logs.values()))


def test_signed_events_end_up_in_order_with_a_recomputable_chain(config: Config) -> None:
    registered_source(config)
    with publisher(config) as pub:
        sent = [pub.sign("FootageViewed", viewed(n), actor=ACTOR, occurred_at=None) for n in range(300)]
    # sign() only builds the bytes; publish the very same bytes through the SDK's producer.
    with publisher(config) as pub:
        published = [pub.publish("FootageViewed", viewed(n), actor=ACTOR) for n in range(300)]
    stats = ingest(config)
    assert stats.appended == 301  # 300 events + the key registration
    assert stats.rejected == 0
    entries = only_log(config)
    assert [e.index for e in entries] == list(range(301))
    assert decode(entries[0].entry)[0] == "SourceKeyRegistered"
    ids = [decode(e.entry)[1]["envelope"]["event_id"] for e in entries[1:]]
    assert ids == [p.event_id for p in published]
    seqs = [decode(e.entry)[1]["envelope"]["source_seq"] for e in entries[1:]]
    assert seqs == list(range(301, 601))  # the SDK's sequence continued across both publishers
    assert len(sent) == 300
    # Recompute every chain hash from the stored entry bytes alone.
    head = bytes(32)
    for e in entries:
        head = chain_hash(head, hashlib.sha256(b"\x00" + e.entry).digest())
        assert e.chain_hash == head
    assert verify_chain(entries).head == head
    assert [e.kafka_offset for e in entries] == list(range(301))


def _raw_producer(config: Config) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=config.ingest.bootstrap, acks="all")


def _rejected_messages(config: Config, expected: int) -> list[Any]:
    consumer = KafkaConsumer(
        config.ingest.rejected_topic,
        bootstrap_servers=config.ingest.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    try:
        out = []
        for message in consumer:
            out.append(message)
            if len(out) >= expected:
                break
        return out
    finally:
        consumer.close()


def test_each_kind_of_bad_input_is_rejected_with_its_own_reason_and_good_events_still_flow(
    config: Config,
) -> None:
    registered_source(config)
    old_key, _ = ensure_key(config, "zz-metro")
    good_ids = []
    producer = _raw_producer(config)
    topic = config.ingest.topic

    def send(value: bytes, *, headers: list[tuple[str, bytes]] | None = None) -> None:
        producer.send(topic, key=b"zz-metro", value=value, headers=headers or []).get(timeout=10)

    with publisher(config) as pub:
        good = pub.sign("FootageViewed", viewed(0), actor=ACTOR)
        good_ids.append(good[1].event_id)
        send(good[0])
        # garbage bytes
        send(b"\x00\xffnot an avro event at all" * 3)
        # unknown schema fingerprint
        wire, _ = pub.sign("FootageViewed", viewed(1), actor=ACTOR)
        signed = SignedEvent.decode(wire)
        send(SignedEvent(hashlib.sha256(b"no such schema").digest(), signed.body, signed.signature).encode())
        # wrong signature: a byte of the body changed after signing (the reason text changes)
        wire, _ = pub.sign("FootageViewed", viewed(2), actor=ACTOR)
        signed = SignedEvent.decode(wire)
        tampered = signed.body.replace(b"patrol review", b"patrol reviex")
        send(SignedEvent(signed.schema, tampered, signed.signature).encode())
        # a field that makes no sense: footage ends before it starts
        fields = viewed(3)
        fields["access"]["footage_end"] = fields["access"]["footage_start"] - timedelta(minutes=1)
        send(pub.sign("FootageViewed", fields, actor=ACTOR)[0])
        # oversized message
        fields = viewed(4, reason="x" * (config.ingest.max_event_bytes + 10))
        big_fp, big_body = REGISTRY.encode(
            "FootageViewed", {**fields, "envelope": decode(good[0])[1]["envelope"]}
        )
        send(SignedEvent(big_fp, big_body, bytes(64)).encode())
        good = pub.sign("FootageViewed", viewed(5), actor=ACTOR)
        good_ids.append(good[1].event_id)
        send(good[0])
    # unknown key: a well-formed event signed by a key nobody registered
    with publisher(config, key_name="zz-metro.unregistered") as pub:
        send(pub.sign("FootageViewed", viewed(6), actor=ACTOR)[0])
    producer.flush()
    first = ingest(config)
    assert first.appended == 3  # registration + 2 good events
    # revoked key: revoke the source's key, then publish with it
    revoke_key(config, "zz-metro", old_key.public.key_id, reason="laptop stolen")
    with publisher(config) as pub:
        send(pub.sign("FootageViewed", viewed(7), actor=ACTOR)[0])
    producer.flush()
    producer.close()
    second = ingest(config)
    assert second.appended == 1  # the revocation itself

    reasons = dict(first.by_reason)
    for k, v in second.by_reason.items():
        reasons[k] = reasons.get(k, 0) + v
    assert reasons == {
        "bad_avro": 1,
        "unknown_key": 1,
        "unknown_schema": 1,
        "bad_signature": 1,
        "invalid_field": 1,
        "oversized": 1,
        "revoked_key": 1,
    }
    entries = only_log(config)
    kinds = [decode(e.entry) for e in entries]
    ledger_reasons = [r["reason"] for name, r in kinds if name == "EventRejected"]
    assert sorted(ledger_reasons) == sorted(k for k, n in reasons.items() for _ in range(n))
    details = {r["reason"]: r["detail"] for name, r in kinds if name == "EventRejected"}
    assert "liuhen keys register zz-metro" in details["unknown_key"]  # tells the operator what to do
    assert "footage_end" in details["invalid_field"]
    assert "65536" in details["oversized"]
    accepted = [r["envelope"]["event_id"] for name, r in kinds if name == "FootageViewed"]
    assert accepted == good_ids
    verify_chain(entries)
    rejected = _rejected_messages(config, sum(reasons.values()))
    topic_reasons = sorted(dict(m.headers)["liuhen-reason"].decode() for m in rejected)
    assert topic_reasons == sorted(ledger_reasons)
    for m in rejected:
        assert dict(m.headers)["liuhen-detail"], "every rejection carries a readable detail"


def test_resent_duplicates_are_appended_once_even_across_restarts(config: Config) -> None:
    registered_source(config)
    with publisher(config) as pub:
        wires = [pub.sign("FootageViewed", viewed(n), actor=ACTOR)[0] for n in range(20)]
    producer = _raw_producer(config)
    for wire in wires + wires[:5]:  # duplicates inside one batch
        producer.send(config.ingest.topic, key=b"zz-metro", value=wire)
    producer.flush()
    first = ingest(config)
    assert (first.appended, first.duplicates) == (21, 5)
    for wire in wires[10:]:  # re-sent after a restart: found by the store, not the in-memory cache
        producer.send(config.ingest.topic, key=b"zz-metro", value=wire)
    producer.flush()
    producer.close()
    second = ingest(config)
    assert (second.appended, second.duplicates, second.rejected) == (0, 10, 0)
    entries = only_log(config)
    assert len(entries) == 21
    assert [e.entry for e in entries[1:]] == wires
    assert verify_chain(entries).size == 21


def test_a_different_event_reusing_an_event_id_is_rejected_not_dropped(config: Config) -> None:
    registered_source(config)
    with publisher(config) as pub:
        first = pub.publish("FootageViewed", viewed(0), actor=ACTOR)
    ingest(config)
    with publisher(config) as pub:
        pub.publish("FootageViewed", viewed(1), actor=ACTOR, event_id=first.event_id)
    stats = ingest(config)
    assert stats.by_reason == {"invalid_field": 1}
    entries = only_log(config)
    name, record = decode(entries[-1].entry)
    assert name == "EventRejected"
    assert str(first.event_id) in record["detail"]


def test_rejection_entries_are_signed_by_the_ledger_key(config: Config) -> None:
    registered_source(config)
    producer = _raw_producer(config)
    producer.send(config.ingest.topic, key=b"zz-metro", value=b"garbage")
    producer.flush()
    producer.close()
    ingest(config)
    entry = only_log(config)[-1]
    signed = SignedEvent.decode(entry.entry)
    ledger_key, _ = ensure_key(config, "ledger")
    ledger_key.public.verify(signed.signature, signed.signed_message)
    name, record = decode(entry.entry)
    assert name == "EventRejected"
    assert record["message_prefix"] == b"garbage"
    assert record["message_sha256"] == hashlib.sha256(b"garbage").digest()
    assert record["envelope"]["key_id"] == ledger_key.public.key_id
    assert leaf_hash(entry.entry) != leaf_hash(b"garbage")
    assert Chain().size == 0


def test_key_changes_take_effect_at_the_next_message_even_one_message_per_batch(env: dict[str, str]) -> None:
    """Batches are classified ahead of appending; a key registered or revoked in one batch must
    still govern the very next batch."""
    config = Config.from_env({**env, "LIUHEN_BATCH_SIZE": "1"})
    registered_source(config)
    with publisher(config) as pub:
        for n in range(5):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
    key, _ = ensure_key(config, "zz-metro")
    # Published right behind the registration, before ingest has appended it (so not through
    # 'liuhen keys revoke', which checks the ledger first).
    with registrar(config, ensure_key(config, "ledger")[0]) as pub:
        publish_revocation(pub, "zz-metro", key.public.key_id, reason="rotated out")
    with publisher(config) as pub:
        for n in range(3):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
    stats = ingest(config)
    assert stats.batches == 10
    assert (stats.appended, stats.by_reason) == (7, {"revoked_key": 3})
    names = [decode(e.entry)[0] for e in only_log(config)]
    assert (
        names
        == ["SourceKeyRegistered"] + ["FootageViewed"] * 5 + ["SourceKeyRevoked"] + ["EventRejected"] * 3
    )


def _open_files(database: Path) -> list[str]:
    """The files of an SQLite database (with its WAL and shared memory) this process holds open."""
    names = {str(database), f"{database}-wal", f"{database}-shm"}
    held = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since it was listed
            continue
        if target in names:
            held.append(target)
    return held


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the open files from /proc")
def test_ingest_and_the_live_verifier_close_the_stores_they_open(config: Config) -> None:
    """Neither leaves its store for the garbage collector to close (on PostgreSQL, a pool of
    connections and its threads): both are still referenced here when the files are counted."""
    registered_source(config)
    with publisher(config) as pub:
        for n in range(30):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
    database = Path(config.store_env["SQLITE_DBNAME"])
    ingestor = build_ingestor(config, batch_size=None)
    assert ingestor.run(idle_exit=2.0).appended == 31
    assert _open_files(database) == []

    material = live_material(config)
    sources, rotations = material.logs, material.rotations
    assert _open_files(database) == []
    records = iter(sources[0].entries())
    assert next(records)["index"] == 0  # entries are read from a store opened for them ...
    assert _open_files(database) != []
    records.close()  # ... and closed when the reading stops
    assert _open_files(database) == []
    trust = Trust(ledger_keys=[ensure_key(config, "ledger")[0].public])
    report = verify_logs(sources, trust, bundle="live store", kind="full", rotations=rotations)
    assert sum(log.entries for log in report.logs) == 31
    assert _open_files(database) == []
    assert ingestor.stats.appended == 31
