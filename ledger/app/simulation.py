"""Synthetic traffic through the producer SDK (``liuhen simulate``), and the demo's own home.

:func:`run_simulation` creates and registers the simulated city's source keys and publishes its
traffic, signed, through the SDK. The demo keeps its data in a home of its own, marked as such
(:data:`DEMO_MARK`, which also lists the topics the demo created): ``liuhen demo --fresh`` deletes
only a home so marked, and only the topics the mark lists, never a ledger or topics it did not
create.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from ledger.app.assembly import ensure_audit_topics, publisher, registrar
from ledger.app.config import Config
from ledger.app.keys import ensure_key, publish_registration
from ledger.errors import ConfigurationError
from ledger.ingest.broker import delete_topics, end_offsets, existing_topics
from ledger.sdk import Publisher
from ledger.simulate import build_city, simulate
from ledger.wire.avro import SchemaRegistry

CST = timezone(timedelta(hours=8), "+08:00")
DEMO_MARK = ".liuhen-demo"
"""The file that marks a home as the demo's own: JSON with the topics the demo created."""


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
    Returns the number of events published per source.
    """
    if start is None:
        today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=1)
    city = build_city(seed=seed, scale=scale)
    ensure_audit_topics(config)  # the broker first: a command that cannot run creates nothing
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
                    publish_registration(reg, system.system_id, key.public)
                    reg.flush()
                    mark.touch()
                publishers[system.system_id] = publisher(config, key, registry)
        began = time.monotonic()
        last_note = began
        traffic = simulate(city, seed=seed, start=start, days=days, plant=plant)
        for total, event in enumerate(traffic, start=1):
            pub = publishers[event.source_id]
            send = pub.sign if event.withheld else pub.publish  # withheld: numbered, never sent
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
        for pub in publishers.values():
            pub.flush()
    finally:
        for pub in publishers.values():
            pub.close()
    return counts


def _demo_topics(config: Config) -> list[str]:
    return [config.ingest.topic, config.ingest.rejected_topic]


def reset_demo(config: Config) -> bool:
    """Delete the demo's home and the topics it created; False if there was nothing to delete.

    Refuses (:class:`ConfigurationError`) a home the demo did not create, and a ledger that is not
    an SQLite file in that home.
    """
    if config.sqlite_path is None or config.home not in config.sqlite_path.parents:
        raise ConfigurationError(
            "a fresh demo only resets an SQLite ledger inside LIUHEN_HOME; drop other databases yourself"
        )
    config.check_home()
    if not config.home.exists():
        return False
    mark = config.home / DEMO_MARK
    if not mark.is_file():
        if not any(config.home.iterdir()):
            return False
        raise ConfigurationError(
            f"{config.home} was not created by 'liuhen demo' (it has no {DEMO_MARK}): not deleting it; "
            "point LIUHEN_HOME at another folder for the demo"
        )
    created = _read_mark(config)
    doomed = [topic for topic in _demo_topics(config) if topic in created]
    if doomed:
        delete_topics(config.ingest.bootstrap, doomed)
    shutil.rmtree(config.home)
    return True


def _read_mark(config: Config) -> list[str]:
    try:
        data = json.loads((config.home / DEMO_MARK).read_text(encoding="utf-8"))
        return [str(topic) for topic in data["created_topics"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"{config.home / DEMO_MARK} is damaged ({exc}): remove the home yourself"
        ) from exc


def prepare_demo(config: Config) -> None:
    """Make the demo's home (marked) and its topics; refuse topics holding another system's events.

    The audit topic the demo publishes to must be one it created, or one with no messages: the
    demo must never mix its synthetic events into a real ledger's topic.
    """
    config.check_home()
    mark = config.home / DEMO_MARK
    if config.home.exists() and any(config.home.iterdir()) and not mark.is_file():
        raise ConfigurationError(
            f"{config.home} holds files the demo did not create: point LIUHEN_HOME at a new folder"
        )
    created = _read_mark(config) if mark.is_file() else []
    existing = existing_topics(config.ingest.bootstrap)
    foreign = [t for t in _demo_topics(config) if t in existing and t not in created]
    held = 0
    if config.ingest.topic in foreign:
        held = sum(end_offsets(config.ingest.bootstrap, config.ingest.topic).values())
    if held:
        raise ConfigurationError(
            f"topic {config.ingest.topic} on {config.ingest.bootstrap} already holds {held} events the demo "
            "did not publish: set LIUHEN_TOPIC and LIUHEN_REJECTED_TOPIC to topics of the demo's own"
        )
    ensure_audit_topics(config)
    created += [t for t in _demo_topics(config) if t not in existing and t not in created]
    config.home.mkdir(parents=True, exist_ok=True)
    mark.write_text(json.dumps({"created_topics": created}, indent=2) + "\n", encoding="utf-8")
