"""The ledger on PostgreSQL: how tests reach the server, and ingest from Kafka end to end.

The server is the one ``docker/postgres/pg.sh start`` (``make postgres``) runs on 127.0.0.1
(``LIUHEN_POSTGRES_PORT``, default 15432; role and database ``liuhen``). Each test gets a schema of
its own (the library's ``POSTGRES_SCHEMA``), dropped afterwards, so tests never see each other's
tables. When the server does not answer, the tests fail and say how to start it: CI runs them.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from ledger.app.assembly import build_ingestor, open_store
from ledger.app.audit import live_material, prove_event
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.status import check_chains
from ledger.errors import ConfigurationError
from ledger.ingest.store import LedgerStore
from ledger.verify import Trust, verify_logs
from ledger.wire.merkle import verify_inclusion
from ledger.wire.note import SignedCheckpoint
from tests.events import ACTOR, publisher, registered_source, viewed

PORT = os.environ.get("LIUHEN_POSTGRES_PORT", "15432")
PASSWORD = os.environ.get("LIUHEN_POSTGRES_PASSWORD", "liuhen")
SERVER = {
    "PERSISTENCE_MODULE": "eventsourcing.postgres",
    "POSTGRES_HOST": "127.0.0.1",
    "POSTGRES_PORT": PORT,
    "POSTGRES_DBNAME": "liuhen",
    "POSTGRES_USER": "liuhen",
    "POSTGRES_PASSWORD": PASSWORD,
}


@contextmanager
def postgres_schema() -> Iterator[dict[str, str]]:
    """The library's settings for a fresh schema on the test server, dropped on exit."""
    try:
        admin = psycopg.connect(
            host=SERVER["POSTGRES_HOST"],
            port=PORT,
            dbname=SERVER["POSTGRES_DBNAME"],
            user=SERVER["POSTGRES_USER"],
            password=PASSWORD,
            connect_timeout=5,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        unreachable = str(exc).replace("\n", " ")
    else:
        unreachable = ""
    if unreachable:
        pytest.fail(
            f"PostgreSQL does not answer on 127.0.0.1:{PORT} as role liuhen: start it with "
            f"'make postgres' (docker/postgres/pg.sh start). {unreachable}",
            pytrace=False,
        )
    schema = f"test_{uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            yield {**SERVER, "POSTGRES_SCHEMA": schema}
        finally:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def pg_config(env: dict[str, str]) -> Iterator[Config]:
    """The per-test environment of conftest (home, topics on the real broker), the store on PostgreSQL."""
    with postgres_schema() as store_env:
        yield Config.from_env({**env, **store_env})


def ingest_all(config: Config) -> int:
    """Run ingest until the topic is idle; the number of entries appended."""
    ingestor = build_ingestor(config, batch_size=None)
    appended = ingestor.run(idle_exit=2.0).appended
    # Closed with the ingestor, not left to the garbage collector with its connections and threads.
    assert ingestor.store.recorder.datastore.pool.closed
    return appended


def test_an_unreachable_server_is_a_configuration_error_naming_it() -> None:
    """Opening the store fails within POSTGRES_CONNECT_TIMEOUT, names where, never the password."""
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {**SERVER, "POSTGRES_PORT": str(port), "POSTGRES_CONNECT_TIMEOUT": "1"}
    settings["POSTGRES_PASSWORD"] = "s3cret-not-shown"
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=rf"postgresql://liuhen@127\.0\.0\.1:{port}/liuhen") as error:
        LedgerStore.open(settings)
    assert time.monotonic() - started < 10
    assert "s3cret" not in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"), [("POSTGRES_ENABLE_DB_FUNCTIONS", "yes"), ("SINGLE_ROW_TRACKING", "no")]
)
def test_settings_that_would_drop_or_rewind_kafka_offsets_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        LedgerStore.open({**SERVER, name: value})


@pytest.mark.kafka
@pytest.mark.postgres
def test_ingest_into_postgres_chains_checkpoints_and_proves_inclusion(pg_config: Config) -> None:
    """Signed events from the real broker land in PostgreSQL: the chain, checkpoints and proofs hold."""
    assert pg_config.store_env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    registered_source(pg_config)
    with publisher(pg_config) as pub:
        published = [pub.publish("FootageViewed", viewed(n), actor=ACTOR) for n in range(450)]
    assert ingest_all(pg_config) == 451  # 450 events + the key registration, in batches of 200
    with publisher(pg_config) as pub:  # a restart resumes at the offset stored in PostgreSQL
        published += [pub.publish("FootageViewed", viewed(n), actor=ACTOR) for n in range(450, 500)]
    assert ingest_all(pg_config) == 50

    counts = check_chains(pg_config)  # every chain recomputed from the bytes read back
    assert sum(kinds["FootageViewed"] for kinds in counts.values()) == 500
    assert sum(kinds["SourceKeyRegistered"] for kinds in counts.values()) == 1

    proof = prove_event(pg_config, str(published[321].event_id))  # nodes fetched in one query
    root = SignedCheckpoint.parse(proof["checkpoint"].encode()).checkpoint.root_hash
    verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["index"],
        proof["size"],
        [bytes.fromhex(digest) for digest in proof["proof"]],
        root,
    )

    store = open_store(pg_config)
    try:
        assert isinstance(store, LedgerStore)
        assert type(store.recorder).__module__ == "eventsourcing.postgres"
        seen = store.seen(published[321].event_id)
        assert seen is not None
        assert (seen.origin, seen.index) == (proof["origin"], proof["index"])
        material = live_material(pg_config)
        sources, rotations = material.logs, material.rotations
        report = verify_logs(
            sources,
            Trust(ledger_keys=[ensure_key(pg_config, "ledger")[0].public]),
            bundle="live store",
            kind="full",
            rotations=rotations,
        )
        assert sum(log.entries for log in report.logs) == 501
    finally:
        store.close()
