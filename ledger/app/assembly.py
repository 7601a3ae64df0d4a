"""The composition root: liuhen's parts assembled from the configuration with real clients.

The event store (:func:`open_store`: created by the commands that write, opened as it is by those
that only read), the read models (:func:`open_views`), the audit topics and the ingestor
(:func:`build_ingestor`). Every command of :mod:`ledger.cli` gets its parts here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from ledger.app.config import Config
from ledger.app.keys import current_ledger_key, ensure_key
from ledger.errors import BrokerError, ConfigurationError, NotFound
from ledger.ingest.broker import RECONNECT_BACKOFF_MAX_MS, await_broker, consumer_for, ensure_topics
from ledger.ingest.consumer import Ingestor
from ledger.ingest.store import LedgerStore
from ledger.sdk import Publisher
from ledger.wire.avro import SchemaRegistry
from ledger.wire.keyring import REGISTRAR_SOURCE
from ledger.wire.keys import SigningKey

if TYPE_CHECKING:
    import sqlite_utils

    from projections.runner import ProjectionRunner


def _note(line: str) -> None:
    sys.stderr.write(f"liuhen: {line}\n")
    sys.stderr.flush()


def open_store(config: Config, *, create: bool = False) -> LedgerStore:
    """The ledger's event store as configured.

    ``create``: for the commands that write (ingest, key rotation, witness): the SQLite file and
    the tables are created if missing. The commands that only read never create a ledger: a
    home or database without one raises :class:`NotFound` saying so.
    """
    config.check_home()
    if create and config.sqlite_path is not None:
        config.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return LedgerStore.open(config.store_env, create=create, on_slow=_note)
    except NotFound as exc:
        raise NotFound(
            f"{exc}: LIUHEN_HOME={config.home} has no ledger yet "
            "(run 'liuhen ingest', or 'liuhen demo' for a demonstration ledger)"
        ) from exc


def open_views(config: Config, *, create: bool = False) -> sqlite_utils.Database:
    """The read models (``views.db``); ``create`` for ``liuhen project``, else they must exist."""
    from projections.runner import open_db  # noqa: PLC0415 - sqlite-utils only for the commands that query

    path = config.views_path
    config.check_home()
    if not create and not path.is_file():
        raise NotFound(f"no read models at {path}: run 'liuhen project' first")
    try:
        return open_db(path, create=create)
    except OSError as exc:
        raise ConfigurationError(f"cannot open the read models at {path}: {exc.strerror or exc}") from exc


def projection_runner(config: Config, store: LedgerStore, db: sqlite_utils.Database) -> ProjectionRunner:
    """The projection of ``store`` into ``db``, its rules judging with the configured limits."""
    from projections.rules import Thresholds  # noqa: PLC0415 - as open_views
    from projections.runner import ProjectionRunner  # noqa: PLC0415

    minute = 60 * 1_000_000
    limits = Thresholds(
        late_evidence_us=config.late_evidence_minutes * minute,
        clock_ahead_us=config.clock_ahead_minutes * minute,
        clock_behind_us=config.clock_behind_hours * 60 * minute,
    )
    return ProjectionRunner(store=store, db=db, thresholds=limits)


def ensure_audit_topics(config: Config) -> None:
    """Create the audit and rejected topics if they do not exist."""
    ensure_topics(
        config.ingest.bootstrap,
        [(config.ingest.topic, config.partitions), (config.ingest.rejected_topic, 1)],
    )


def registrar(config: Config, key: SigningKey) -> Publisher:
    """A publisher of registry events, signed with the ledger key (the registrar's key)."""
    ensure_audit_topics(config)
    return Publisher.connect(
        bootstrap=config.ingest.bootstrap,
        source_id=REGISTRAR_SOURCE,
        key=key,
        state_dir=config.state_dir,
        topic=config.ingest.topic,
        connect_timeout=config.ingest.connect_timeout_s,
    )


def publisher(config: Config, key: SigningKey, registry: SchemaRegistry | None = None) -> Publisher:
    """A publisher of one source system's events (the source id is the key's name)."""
    return Publisher.connect(
        bootstrap=config.ingest.bootstrap,
        source_id=key.name,
        key=key,
        state_dir=config.state_dir,
        topic=config.ingest.topic,
        registry=registry,
        connect_timeout=config.ingest.connect_timeout_s,
    )


def build_ingestor(
    config: Config, *, batch_size: int | None, on_wait: Callable[[str], None] = lambda _: None
) -> Ingestor:
    """An :class:`Ingestor` with its consumer, producer, store and keys.

    Waits for a broker that is starting or restarting, up to the configured connect timeout
    (``on_wait`` is told once that it waits).
    """
    from kafka import KafkaProducer  # noqa: PLC0415
    from kafka.errors import KafkaError  # noqa: PLC0415

    settings = config.ingest
    if batch_size is not None:
        settings = replace(settings, batch_size=batch_size)
    await_broker(settings.bootstrap, settings.connect_timeout_s, on_wait)
    ensure_audit_topics(config)  # the broker first: a command that cannot run creates nothing
    ledger_key, _ = ensure_key(config, "ledger")
    store = open_store(config, create=True)
    session = settings.session_timeout_ms
    timeouts: dict[str, int] = {}
    if session is not None:  # heartbeats at a third of it, as Kafka recommends
        timeouts = {"session_timeout_ms": session, "heartbeat_interval_ms": session // 3}
    try:
        consumer = consumer_for(
            settings.bootstrap,
            group_id=settings.group,
            max_poll_records=settings.batch_size,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
            **timeouts,
        )
    except BrokerError:
        store.close()
        raise
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.bootstrap,
            acks="all",
            bootstrap_timeout_ms=10_000,
            reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS,
        )
    except KafkaError as exc:
        consumer.close()
        store.close()
        raise BrokerError(f"cannot connect a producer to {settings.bootstrap}: {exc}") from exc
    return Ingestor(
        settings=settings,
        store=store,
        registry=SchemaRegistry.load(),
        ledger_key=ledger_key,
        registrars=[ledger_key.public],
        consumer=consumer,
        producer=producer,
        key_loader=partial(current_ledger_key, config),
    )
