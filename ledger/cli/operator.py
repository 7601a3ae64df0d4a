"""The ledger operator's verbs: keys, schemas, ingest, simulate, status and the demo."""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

from ledger.app.assembly import build_ingestor, open_store, open_views, projection_runner
from ledger.app.config import Config
from ledger.app.keys import check_name, ensure_key, ledger_key, rotate_ledger_key
from ledger.app.simulation import prepare_demo, reset_demo, run_simulation
from ledger.app.sources import register_key, revoke_key
from ledger.app.status import check_chains, log_status
from ledger.cli.output import clean, note, out, show_time
from ledger.errors import ConfigurationError
from ledger.ingest.consumer import IngestStats
from ledger.simulate import build_city, planted
from ledger.wire.avro import SchemaRegistry, freeze
from ledger.wire.keys import PublicKey
from projections.queries import violations
from schemas import HISTORY_DIR

# -- keys -------------------------------------------------------------------------------------


def keys_init(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys init``: the ledger key, created if missing."""
    key, created = ensure_key(config, "ledger")
    out(f"{'created' if created else 'exists '} ledger key  {key.public.verifier_text}")
    return 0


def keys_new(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys new NAME``: a source system's signing key."""
    check_name(args.name)
    path = config.keys_dir / f"{args.name}.key"
    if path.exists():
        raise ConfigurationError(f"{path} already exists: a key is never overwritten")
    key, _ = ensure_key(config, args.name)
    out(f"created {path} (mode 0600)")
    out(f"public  {key.public.verifier_text}")
    return 0


def keys_register(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys register SYSTEM``: publish the key's signed registration into the ledger."""
    check_name(args.system_id, "source system id")
    public = PublicKey.load(args.public_key or config.keys_dir / f"{args.system_id}.pub")
    register_key(config, args.system_id, public, replaces=args.replaces)
    replaced = f", revoking {args.replaces}" if args.replaces else ""
    out(f"registered {public.key_id} for {args.system_id}{replaced}: in force from its ledger entry on")
    return 0


def keys_revoke(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys revoke SYSTEM KEY_ID --reason R``."""
    revoke_key(config, args.system_id, args.key_id, reason=args.reason)
    out(f"revoked {args.key_id} of {args.system_id}: refused from its ledger entry on")
    return 0


def keys_list(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys list``: the public keys in the keys folder."""
    config.check_home()
    found = sorted(config.keys_dir.glob("*.pub"))
    if not found:
        out(f"no keys in {config.keys_dir}: 'liuhen keys init' creates the ledger key")
    for path in found:
        out(PublicKey.load(path).verifier_text)
    return 0


def keys_rotate(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys rotate-ledger``: a new ledger key, introduced by a statement both keys sign."""
    ledger_key(config)  # there must be one to rotate
    store = open_store(config, create=True)
    try:
        old, new, after = rotate_ledger_key(config, store)
    finally:
        store.close()
    out(f"retired {old.key_id}; the ledger key is now {new.verifier_text}")
    out(f"recorded in the ledger, effective after sizes: {after or 'no log yet'}")
    return 0


# -- schemas ----------------------------------------------------------------------------------


def schemas_list(args: argparse.Namespace, config: Config) -> int:
    """``liuhen schemas list``: the event vocabulary and its fingerprints."""
    registry = SchemaRegistry.load()
    for event_type in sorted(registry.types.values(), key=lambda t: (t.family, t.name)):
        name = f"{event_type.family:<14} {event_type.name:<28} v{event_type.version}"
        out(f"{name}  {event_type.fingerprint_hex}")
    return 0


def schemas_freeze(args: argparse.Namespace, config: Config) -> int:
    """``liuhen schemas freeze TYPE``: keep an event type's current version readable forever."""
    name, text = freeze(SchemaRegistry.load(), args.name)
    path = HISTORY_DIR / name
    if path.exists():
        out(f"{path} already holds this version")
        return 0
    path.write_text(text)
    out(f"wrote {path}: events written with this version stay readable after the schema changes")
    return 0


# -- ingest, simulate, status -------------------------------------------------------------------


def ingest(args: argparse.Namespace, config: Config) -> int:
    """``liuhen ingest``: consume the audit topic into the ledger."""
    ingestor = build_ingestor(config, batch_size=args.batch_size, on_wait=note)
    ingestor.install_signal_handlers()
    started = time.monotonic()
    last_report = [started]

    def progress(stats: IngestStats) -> None:
        now = time.monotonic()
        if now - last_report[0] >= args.progress:
            last_report[0] = now
            rate = stats.appended / max(now - started, 1e-9)
            note(
                f"ingest: {stats.appended} appended, {stats.rejected} rejected, "
                f"{stats.duplicates} duplicates dropped ({rate:,.0f}/s)"
            )

    stats = ingestor.run(idle_exit=args.until_idle, on_progress=progress)
    elapsed = time.monotonic() - started
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_reason.items())) or "none"
    out(
        f"ingest: {stats.appended} events appended, {stats.rejected} rejected ({reasons}), "
        f"{stats.duplicates} duplicates dropped in {elapsed:.1f} s"
    )
    return 0


def simulate(args: argparse.Namespace, config: Config) -> int:
    """``liuhen simulate``: publish a city's synthetic traffic through the producer SDK."""
    counts = run_simulation(
        config,
        seed=args.seed,
        days=args.days,
        scale=args.scale,
        start=args.start,
        rate=args.rate,
        progress=note,
    )
    out(f"simulate: published {sum(counts.values())} events from {len(counts)} sources")
    for source, number in sorted(counts.items()):
        out(f"  {source:<24} {number:>8}")
    return 0


def status(args: argparse.Namespace, config: Config) -> int:
    """``liuhen status``: per log, size, chain head, last ingest, lag, rejections and each witness's size."""
    rows, kafka_note = log_status(config)
    if args.json:
        out(json.dumps({"logs": rows, "kafka": kafka_note}, indent=2))
        return 0
    if not rows:
        out("the ledger holds no log yet: 'liuhen ingest' appends what the platforms publish")
    else:
        out(f"{'log':<32} {'entries':>9} {'rejected':>9} {'lag':>7}  {'last ingest':<25} chain head")
    for row in rows:
        lag = "?" if row["lag"] is None else str(row["lag"])
        last = show_time(row["last_ingest_us"]) if row["last_ingest_us"] else "-"
        head = row["chain_head"][:16]
        out(f"{clean(row['origin']):<32} {row['size']:>9} {row['rejected']:>9} {lag:>7}  {last:<25} {head}…")
        for seen in row["witnesses"]:
            cosigned = "nothing yet" if seen["cosigned"] is None else f"size {seen['cosigned']}"
            behind = row["checkpoint"] is not None and seen["cosigned"] != row["checkpoint"]
            newest = f" (newest checkpoint: size {row['checkpoint']})" if behind else ""
            out(f"  witness {clean(seen['witness'])} cosigned {cosigned}{newest}")
    if kafka_note:
        note(f"lag unknown: {kafka_note}")
    return 0


# -- demo -------------------------------------------------------------------------------------


def demo(args: argparse.Namespace, config: Config) -> int:
    """``liuhen demo``: keys, a simulated day of traffic, ingest, chains, status, violations."""
    if args.fresh and reset_demo(config):
        out(f"fresh start: removed the demo's home {config.home} and the topics it created")
    prepare_demo(config)
    key, _ = ensure_key(config, "ledger")
    out(f"ledger key  {key.public.verifier_text}")
    counts = run_simulation(
        config,
        seed=args.seed,
        days=args.days,
        scale=args.scale,
        start=args.start,
        rate=None,
        progress=note,
        plant=True,
    )
    out(f"published   {sum(counts.values())} signed events from {len(counts)} sources via Kafka")
    ingestor = build_ingestor(config, batch_size=None, on_wait=note)
    ingestor.install_signal_handlers()
    stats = ingestor.run(idle_exit=3.0)
    out(
        f"ingested    {stats.appended} entries ({stats.rejected} rejected, {stats.duplicates} duplicates) "
        f"at {stats.rate:,.0f} entries/s"
    )
    total: Counter[str] = Counter()
    for origin, kinds in check_chains(config).items():
        out(f"chain ok    {origin}: {sum(kinds.values())} entries recomputed from the stored bytes")
        total.update(kinds)
    out("in the ledger:")
    for name, number in total.most_common():
        out(f"  {name:<28} {number:>8}")
    status(argparse.Namespace(json=False), config)
    _demo_violations(args, config, args.start)
    return 0


def _demo_violations(args: argparse.Namespace, config: Config, start: datetime) -> None:
    """Project the ledger and set the violations found beside those the simulation planted."""
    # The demo logs a past period now: its events are not backdated, only replayed.
    replayed = math.ceil((datetime.now(UTC) - start).total_seconds() / 3600) + 1
    if replayed > config.clock_behind_hours:
        config = replace(config, clock_behind_hours=replayed)
        out(f"replayed    events up to {replayed} hours old are not taken for backdated (R15)")
    store = open_store(config)
    db = open_views(config, create=True)
    try:
        stats = projection_runner(config, store, db).run()
        out(f"projected   {stats.events} events into {config.views_path}")
        found = violations(db)
    finally:
        store.close()
        db.close()
    plants = planted(
        build_city(seed=args.seed, scale=args.scale), seed=args.seed, start=start, days=args.days
    )
    found_keys = Counter((row["rule"], row["camera_id"], row["actor_id"]) for row in found)
    out(
        f"violations  {len(found)} found; the simulation planted {sum(p.kind == 'violation' for p in plants)}"
    )
    for plant in plants:
        key = (plant.rule, plant.camera_id, plant.actor_id)
        if plant.kind == "violation":
            mark = "found " if found_keys[key] else "MISSED"
            found_keys[key] -= 1
        else:
            mark = "quiet " if not found_keys[key] else "FIRED "
        out(f"  {mark} {plant.rule:<4} {plant.kind:<9} {plant.description}")
    extra = +found_keys
    for (rule, camera, actor), number in extra.items():
        out(f"  EXTRA  {rule:<4} {number} not planted (camera {camera}, actor {actor})")
    out("with their evidence: liuhen violations; who saw a camera: liuhen who --camera ID --from T --to T")
