"""Assembles the ledger's parts with real clients for the CLI: ingest, simulation, registrar, status."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

from ledger.app.config import Config
from ledger.errors import ConfigurationError, LedgerError, VerificationError
from ledger.ingest.broker import BrokerError, consumer_for, delete_topics, end_offsets, ensure_topics
from ledger.ingest.consumer import Ingestor
from ledger.ingest.store import LedgerStore, kafka_tracking
from ledger.sdk import Publisher
from ledger.verify import LogSource
from ledger.wire.avro import FINGERPRINT_SIZE, SchemaRegistry
from ledger.wire.bundle import entry_record
from ledger.wire.format import StoredEntry, verify_chain
from ledger.wire.keyring import REGISTRAR_SOURCE
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.merkle import consistency_proof, inclusion_proof, verify_consistency, verify_inclusion
from ledger.wire.note import SignedCheckpoint, cosign, cosigner_key_id
from ledger.wire.rotation import Rotation

CST = timezone(timedelta(hours=8), "+08:00")
_RECONNECT_BACKOFF_MAX_MS = 5000
"""Ingest retries a broker that went away at least this often (the client's default is 30 s)."""


def ensure_key(config: Config, name: str) -> tuple[SigningKey, bool]:
    """Load the key ``name`` from the keys folder, creating it (mode 0600) if missing."""
    config.keys_dir.mkdir(parents=True, exist_ok=True)
    path = config.keys_dir / f"{name}.key"
    if path.exists():
        return SigningKey.load(path, passphrase=config.passphrase), False
    key = SigningKey.generate(name)
    key.save(path, passphrase=config.passphrase)
    key.public.save(config.keys_dir / f"{name}.pub")
    return key, True


def open_store(config: Config) -> LedgerStore:
    """The ledger's event store as configured (its folder created for SQLite)."""
    if "SQLITE_DBNAME" in config.store_env and config.store_env["SQLITE_DBNAME"] != ":memory:":
        config.home.mkdir(parents=True, exist_ok=True)
    return LedgerStore.open(config.store_env)


def ensure_audit_topics(config: Config) -> None:
    """Create the audit and rejected topics if they do not exist."""
    ensure_topics(
        config.ingest.bootstrap,
        [(config.ingest.topic, config.partitions), (config.ingest.rejected_topic, 1)],
    )


def build_ingestor(config: Config, *, batch_size: int | None) -> Ingestor:
    """An :class:`Ingestor` with its consumer, producer, store and keys."""
    from kafka import KafkaProducer  # noqa: PLC0415
    from kafka.errors import KafkaError  # noqa: PLC0415

    settings = config.ingest
    if batch_size is not None:
        from dataclasses import replace  # noqa: PLC0415

        settings = replace(settings, batch_size=batch_size)
    ledger_key, _ = ensure_key(config, "ledger")
    ensure_audit_topics(config)
    session = settings.session_timeout_ms
    timeouts: dict[str, int] = {}
    if session is not None:  # heartbeats at a third of it, as Kafka recommends
        timeouts = {"session_timeout_ms": session, "heartbeat_interval_ms": session // 3}
    consumer = consumer_for(
        settings.bootstrap,
        group_id=settings.group,
        max_poll_records=settings.batch_size,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        reconnect_backoff_max_ms=_RECONNECT_BACKOFF_MAX_MS,
        **timeouts,
    )
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap,
            acks="all",
            bootstrap_timeout_ms=10_000,
            reconnect_backoff_max_ms=_RECONNECT_BACKOFF_MAX_MS,
        )
    except KafkaError as exc:
        consumer.close()
        raise BrokerError(f"cannot connect a producer to {settings.bootstrap}: {exc}") from exc
    return Ingestor(
        settings=settings,
        store=open_store(config),
        registry=SchemaRegistry.load(),
        ledger_key=ledger_key,
        registrars=[ledger_key.public],
        consumer=consumer,
        producer=producer,
    )


def registrar(config: Config, ledger_key: SigningKey) -> Publisher:
    """A publisher that signs registry events with the ledger key."""
    ensure_audit_topics(config)
    return Publisher.connect(
        bootstrap=config.ingest.bootstrap,
        source_id=REGISTRAR_SOURCE,
        key=ledger_key,
        state_dir=config.state_dir,
        topic=config.ingest.topic,
    )


REGISTRAR_ACTOR = {
    "kind": "SYSTEM",
    "user_id": "liuhen-registrar",
    "name": "",
    "unit": "ledger operator",
    "role": "registrar",
    "workstation": None,
    "ip": None,
}


def register_key(
    config: Config,
    ledger_key: SigningKey,
    system_id: str,
    public: PublicKey,
    *,
    replaces: str | None = None,
    publisher: Publisher | None = None,
) -> None:
    """Publish a ``SourceKeyRegistered`` event (keyed by the source, so it shares its log)."""
    own = publisher is None
    pub = publisher or registrar(config, ledger_key)
    try:
        pub.publish(
            "SourceKeyRegistered",
            {"system_id": system_id, "public_key": public.verifier_text, "replaces_key_id": replaces},
            actor=REGISTRAR_ACTOR,
            kafka_key=system_id,
        )
        pub.flush()
    finally:
        if own:
            pub.close()


def revoke_key(config: Config, ledger_key: SigningKey, system_id: str, key_id: str, *, reason: str) -> None:
    """Publish a ``SourceKeyRevoked`` event."""
    with registrar(config, ledger_key) as pub:
        pub.publish(
            "SourceKeyRevoked",
            {"system_id": system_id, "key_id": key_id, "reason": reason},
            actor=REGISTRAR_ACTOR,
            kafka_key=system_id,
        )


def run_simulation(
    config: Config,
    *,
    seed: int,
    days: float,
    scale: float,
    start: datetime | None,
    rate: float | None,
    progress: Callable[[str], None],
    plant: bool = False,
) -> dict[str, int]:
    """Create and register the simulated sources' keys, then publish their traffic.

    ``plant`` adds planted violations and near-misses (:func:`ledger.simulate.planted` lists them).
    """
    from ledger.simulate import build_city, simulate  # noqa: PLC0415

    if start is None:
        today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=1)
    city = build_city(seed=seed, scale=scale)
    ledger_key, _ = ensure_key(config, "ledger")
    registry = SchemaRegistry.load()
    publishers: dict[str, Publisher] = {}
    counts: dict[str, int] = {}
    marks = config.state_dir / "registered"
    marks.mkdir(parents=True, exist_ok=True)
    try:
        with registrar(config, ledger_key) as reg:
            for system in city.systems:
                key, _ = ensure_key(config, system.system_id)
                mark = marks / key.public.key_id
                if not mark.exists():
                    register_key(config, ledger_key, system.system_id, key.public, publisher=reg)
                    mark.touch()
                publishers[system.system_id] = Publisher.connect(
                    bootstrap=config.ingest.bootstrap,
                    source_id=system.system_id,
                    key=key,
                    state_dir=config.state_dir,
                    topic=config.ingest.topic,
                    registry=registry,
                )
        began = time.monotonic()
        last_note = began
        traffic = simulate(city, seed=seed, start=start, days=days, plant=plant)
        for total, event in enumerate(traffic, start=1):
            publisher = publishers[event.source_id]
            send = publisher.sign if event.withheld else publisher.publish  # withheld: numbered, never sent
            send(event.event_type, event.fields, actor=event.actor, occurred_at=event.occurred_at)
            counts[event.source_id] = counts.get(event.source_id, 0) + (not event.withheld)
            now = time.monotonic()
            if rate is not None:
                ahead = total / rate - (now - began)
                if ahead > 0:
                    time.sleep(ahead)
            if now - last_note >= 5:
                last_note = now
                progress(f"simulate: {total} events published ({total / (now - began):,.0f}/s)")
        for publisher in publishers.values():
            publisher.flush()
    finally:
        for publisher in publishers.values():
            publisher.close()
    return counts


_HOME_CONTENTS = {
    "keys",
    "state",
    "ledger.db",
    "ledger.db-wal",
    "ledger.db-shm",
    "ledger.db-journal",
    "views.db",
    "views.db-wal",
    "views.db-shm",
}


def reset(config: Config) -> None:
    """Delete the ledger home (keys, SDK state, SQLite ledger) and the audit topics: demo only."""
    import shutil  # noqa: PLC0415

    if config.store_env.get("PERSISTENCE_MODULE") != "eventsourcing.sqlite":
        raise ConfigurationError("a fresh start only resets an SQLite ledger; drop the database yourself")
    if config.home.exists():
        strangers = {p.name for p in config.home.iterdir()} - _HOME_CONTENTS
        if strangers:
            raise ConfigurationError(
                f"{config.home} holds {sorted(strangers)}, which liuhen did not create: not deleting it"
            )
    delete_topics(config.ingest.bootstrap, [config.ingest.topic, config.ingest.rejected_topic])
    shutil.rmtree(config.home, ignore_errors=True)


def check_chains(config: Config) -> dict[str, Counter[str]]:
    """Recompute every log's chain from its stored bytes (raise on the first break); count event types."""
    registry = SchemaRegistry.load()
    store = open_store(config)
    try:
        counts: dict[str, Counter[str]] = {}
        for origin in store.origins():
            kinds: Counter[str] = Counter()

            def counted(entries: Iterator[StoredEntry], kinds: Counter[str] = kinds) -> Iterator[StoredEntry]:
                for stored in entries:
                    kinds[registry.type_of(stored.entry[:FINGERPRINT_SIZE]).name] += 1
                    yield stored

            verify_chain(counted(store.entries(origin)))
            counts[origin] = kinds
        return counts
    finally:
        store.close()


def log_status(config: Config) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of ``liuhen status`` and, if Kafka could not be asked for lag, why not."""
    store = open_store(config)
    note = None
    try:
        try:
            ends = end_offsets(config.ingest.bootstrap, config.ingest.topic)
        except LedgerError as exc:
            ends, note = {}, str(exc)
        rows = []
        for origin in store.origins():
            head = store.head(origin)
            last = store.entry(origin, head.size - 1) if head.size else None
            partition = int(origin.rsplit("/", 1)[1])
            tracked = store.tracked_offset(kafka_tracking(config.ingest.topic, partition))
            end = ends.get(partition)
            rows.append(
                {
                    "origin": origin,
                    "size": head.size,
                    "chain_head": head.head.hex(),
                    "last_ingest_us": last.ingested_at_us if last else None,
                    "last_offset": tracked,
                    "lag": None if end is None else end - (tracked + 1 if tracked is not None else 0),
                    "rejected": store.rejection_count(origin),
                }
            )
        return rows, note
    finally:
        store.close()


# -- auditors ----------------------------------------------------------------------------------


def live_sources(config: Config) -> tuple[list[LogSource], list[bytes]]:
    """The configured store's logs and key rotations as the verifier reads them (``verify --live``).

    Checkpoints and rotations are read now, and the store closed again; each log's entries are
    read when the verifier iterates them, through a store opened for that and closed when they
    have been read (or the reading stops). On PostgreSQL, a store left open keeps its pool of
    connections until the garbage collector finds it.
    """
    store = open_store(config)
    try:
        sources = []
        for origin in store.origins():
            checkpoints = [
                (size, note, [line.decode() for line in store.cosignatures(origin, size)])
                for size, note in store.checkpoints(origin)
            ]
            # Verify up to the newest checkpoint: entries after it are still being committed.
            size = checkpoints[-1][0] if checkpoints else 0
            sources.append(
                LogSource(origin, partial(_live_records, config, origin, size), checkpoints, size=size)
            )
        return sources, store.rotations()
    finally:
        store.close()


def _live_records(config: Config, origin: str, size: int) -> Iterator[dict[str, Any]]:
    """The first ``size`` entries of a log as bundle records, from a store open while they are read."""
    store = open_store(config)
    try:
        yield from map(entry_record, store.entries(origin, stop=size))
    finally:
        store.close()


def local_ledger_keys(config: Config) -> list[PublicKey]:
    """The operator's own ledger keys: the current one and those retired by rotations."""
    keys = [ensure_key(config, "ledger")[0].public]
    keys += [PublicKey.load(path) for path in sorted(config.keys_dir.glob("ledger.*.pub"))]
    return keys


def rotate_ledger_key(config: Config) -> tuple[PublicKey, PublicKey, dict[str, int]]:
    """Replace the ledger key: the new key is introduced by a statement both keys sign.

    Stop ingest first (it signs with the key it started with). The old key files are kept as
    ``ledger.<key hash>.key|pub``; checkpoints of each log above its current size use the new key.
    """
    old, _ = ensure_key(config, "ledger")
    new = SigningKey.generate("ledger")
    store = open_store(config)
    try:
        after = {origin: store.head(origin).size for origin in store.origins()}
        store.add_rotation(Rotation(new.public, after).sign(old, new))
    finally:
        store.close()
    retired = old.public.key_hash.hex()
    for suffix in ("key", "pub"):
        (config.keys_dir / f"ledger.{suffix}").rename(config.keys_dir / f"ledger.{retired}.{suffix}")
    new.save(config.ledger_key_path, passphrase=config.passphrase)
    new.public.save(config.keys_dir / "ledger.pub")
    return old.public, new.public, after


def _latest(store: LedgerStore, origin: str) -> tuple[int, SignedCheckpoint]:
    latest = store.latest_checkpoint(origin)
    if latest is None:
        raise ConfigurationError(f"{origin} has no checkpoint yet: run 'liuhen ingest' first")
    return latest[0], SignedCheckpoint.parse(latest[1])


def prove_event(config: Config, event_id: str) -> dict[str, Any]:
    """Inclusion proof of an event against its log's newest checkpoint, checked before it is returned."""
    try:
        wanted = uuid.UUID(event_id)
    except ValueError:
        raise ConfigurationError(f"{event_id!r} is not an event id (a UUID)") from None
    store = open_store(config)
    try:
        seen = store.seen(wanted)
        if seen is None:
            raise LedgerError(f"event {event_id} is not in the ledger")
        size, signed = _latest(store, seen.origin)
        if seen.index >= size:
            raise LedgerError(
                f"event {event_id} is entry {seen.index}, not yet under a checkpoint (size {size})"
            )
        signed.verify(ledger_keys=local_ledger_keys(config))
        proof = store.with_nodes(seen.origin, partial(inclusion_proof, seen.index, size))
        leaf = store.node(seen.origin, 0, seen.index)
        verify_inclusion(leaf, seen.index, size, proof, signed.checkpoint.root_hash)
        return {
            "event_id": event_id,
            "origin": seen.origin,
            "index": seen.index,
            "leaf_hash": leaf.hex(),
            "size": size,
            "proof": [digest.hex() for digest in proof],
            "checkpoint": signed.encode().decode(),
        }
    finally:
        store.close()


def prove_consistency(config: Config, old_note: bytes, new_note: bytes) -> dict[str, Any]:
    """Consistency proof between two signed checkpoints of one log, checked before it is returned."""
    ledger_keys = local_ledger_keys(config)
    old, new = SignedCheckpoint.parse(old_note), SignedCheckpoint.parse(new_note)
    for signed in (old, new):
        signed.verify(ledger_keys=ledger_keys)
    if old.checkpoint.origin != new.checkpoint.origin:
        raise ConfigurationError("the two checkpoints are of different logs")
    origin = old.checkpoint.origin
    m, n = old.checkpoint.tree_size, new.checkpoint.tree_size
    if m > n:
        raise ConfigurationError(f"the first checkpoint (size {m}) is newer than the second (size {n})")
    store = open_store(config)
    try:
        proof = store.with_nodes(origin, partial(consistency_proof, m, n))
    finally:
        store.close()
    verify_consistency(m, n, old.checkpoint.root_hash, new.checkpoint.root_hash, proof)
    return {"origin": origin, "old_size": m, "new_size": n, "proof": [digest.hex() for digest in proof]}


def witness(config: Config, key: SigningKey, state_dir: Path) -> list[str]:
    """Cosign each log's newest checkpoint if it extends the last one this witness cosigned.

    The witness keeps ``<state_dir>/<key name>.json``: per log, the size and root it last
    cosigned. A checkpoint that is not proven consistent with it is refused (exit 1), so two
    histories can never both carry this witness's cosignature.
    """
    ledger_keys = local_ledger_keys(config)
    state_dir.mkdir(parents=True, exist_ok=True)
    state_path = state_dir / f"{key.name}.json"
    seen: dict[str, dict[str, Any]] = json.loads(state_path.read_text()) if state_path.exists() else {}
    lines = []
    store = open_store(config)
    try:
        for origin in store.origins():
            size, signed = _latest(store, origin)
            signed.verify(ledger_keys=ledger_keys)
            last = seen.get(origin)
            if last is not None:
                old_size, old_root = int(last["size"]), bytes.fromhex(last["root"])
                if size < old_size:
                    raise VerificationError(
                        f"{origin}: newest checkpoint {size} is behind {old_size} already cosigned"
                    )
                proof = consistency_proof(old_size, size, partial(store.node, origin))
                verify_consistency(old_size, size, old_root, signed.checkpoint.root_hash, proof)
            cosigned = cosign(signed.checkpoint, key, timestamp=int(time.time()))
            store.add_cosignature(origin, size, cosigned.line.encode())
            seen[origin] = {"size": size, "root": signed.checkpoint.root_hash.hex()}
            lines.append(f"cosigned {origin} at size {size} as {cosigner_key_id(key.public)}")
    finally:
        store.close()
    state_path.write_text(json.dumps(seen, indent=2))
    return lines


__all__ = [
    "ConfigurationError",
    "build_ingestor",
    "check_chains",
    "log_status",
    "register_key",
    "revoke_key",
    "run_simulation",
]
