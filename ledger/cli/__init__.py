"""The ``liuhen`` command: one entry point, verb subcommands, one error boundary.

Exit codes: 0 success; 1 a liuhen error (message on stderr); 2 usage error (argparse).
Tests call :func:`main` with an argument list.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

from ledger import __version__
from ledger.app.config import Config
from ledger.app.runtime import ensure_key
from ledger.errors import ConfigurationError, LedgerError
from ledger.wire.keys import PublicKey, SigningKey

CST = timezone(timedelta(hours=8), "+08:00")


def _ledger_key(config: Config) -> SigningKey:
    path = config.ledger_key_path
    if not path.exists():
        raise ConfigurationError(f"no ledger key at {path}: run 'liuhen keys init' first")
    return SigningKey.load(path, passphrase=config.passphrase)


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# -- keys -------------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace, config: Config) -> int:
    """``liuhen keys init|new|register|revoke|list``."""
    if args.keys_command == "init":
        key, created = ensure_key(config, "ledger")
        _print(f"{'created' if created else 'exists '} ledger key  {key.public.verifier_text}")
        return 0
    if args.keys_command == "new":
        key, created = ensure_key(config, args.name)
        if not created:
            raise ConfigurationError(f"{config.keys_dir / (args.name + '.key')} already exists")
        _print(f"created {config.keys_dir / (args.name + '.key')} (mode 0600)")
        _print(f"public  {key.public.verifier_text}")
        return 0
    if args.keys_command == "rotate-ledger":
        from ledger.app.runtime import rotate_ledger_key  # noqa: PLC0415

        old, new, after = rotate_ledger_key(config)
        _print(f"retired {old.key_id}; the ledger key is now {new.verifier_text}")
        _print(f"recorded in the ledger, effective after sizes: {after or 'no log yet'}")
        return 0
    if args.keys_command == "list":
        for path in sorted(config.keys_dir.glob("*.pub")):
            _print(PublicKey.load(path).verifier_text)
        return 0
    from ledger.app.runtime import register_key, revoke_key  # noqa: PLC0415 - needs Kafka

    if args.keys_command == "register":
        public_path = Path(args.public_key) if args.public_key else config.keys_dir / f"{args.system_id}.pub"
        public = PublicKey.load(public_path)
        register_key(config, _ledger_key(config), args.system_id, public, replaces=args.replaces)
        _print(f"registered {public.key_id} for {args.system_id} (effective from its ledger entry on)")
        return 0
    revoke_key(config, _ledger_key(config), args.system_id, args.key_id, reason=args.reason)
    _print(f"revoked {args.key_id} of {args.system_id}")
    return 0


# -- ingest -----------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    """``liuhen ingest``: consume the audit topic into the ledger."""
    from ledger.app.runtime import build_ingestor  # noqa: PLC0415 - needs Kafka

    ingestor = build_ingestor(config, batch_size=args.batch_size)
    ingestor.install_signal_handlers()
    started = time.monotonic()
    last_report = [started]

    def progress(stats: Any) -> None:
        now = time.monotonic()
        if now - last_report[0] >= args.progress:
            last_report[0] = now
            rate = stats.appended / max(now - started, 1e-9)
            _note(
                f"ingest: {stats.appended} appended, {stats.rejected} rejected, "
                f"{stats.duplicates} duplicates dropped ({rate:,.0f}/s)"
            )

    stats = ingestor.run(idle_exit=args.until_idle, on_progress=progress)
    elapsed = time.monotonic() - started
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_reason.items())) or "none"
    _print(
        f"ingest: {stats.appended} events appended, {stats.rejected} rejected ({reasons}), "
        f"{stats.duplicates} duplicates dropped in {elapsed:.1f} s"
    )
    return 0


# -- simulate ---------------------------------------------------------------------------------


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-05-03T00:00:00+08:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=CST)


def cmd_simulate(args: argparse.Namespace, config: Config) -> int:
    """``liuhen simulate``: publish a city's synthetic traffic through the producer SDK."""
    from ledger.app.runtime import run_simulation  # noqa: PLC0415 - needs Kafka

    start = _parse_time(args.start) if args.start else None
    counts = run_simulation(
        config, seed=args.seed, days=args.days, scale=args.scale, start=start, rate=args.rate, progress=_note
    )
    _print(f"simulate: published {sum(counts.values())} events from {len(counts)} sources")
    for source, count in sorted(counts.items()):
        _print(f"  {source:<24} {count:>8}")
    return 0


# -- status -----------------------------------------------------------------------------------


def _time(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(CST).isoformat(timespec="seconds")


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """``liuhen status``: per log, size, chain head, last ingest, lag and rejections."""
    from ledger.app.runtime import log_status  # noqa: PLC0415

    rows, kafka_note = log_status(config)
    if args.json:
        _print(json.dumps({"logs": rows, "kafka": kafka_note}, indent=2))
        return 0
    if not rows:
        _print(
            f"no logs yet in {config.store_env.get('SQLITE_DBNAME', config.store_env['PERSISTENCE_MODULE'])}"
        )
        return 0
    _print(f"{'log':<32} {'entries':>9} {'rejected':>9} {'lag':>7}  {'last ingest':<25} chain head")
    for row in rows:
        lag = "?" if row["lag"] is None else str(row["lag"])
        last = _time(row["last_ingest_us"]) if row["last_ingest_us"] else "-"
        head = row["chain_head"][:16]
        _print(f"{row['origin']:<32} {row['size']:>9} {row['rejected']:>9} {lag:>7}  {last:<25} {head}…")
    if kafka_note:
        _note(f"lag unknown: {kafka_note}")
    return 0


# -- demo -------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """``liuhen demo``: keys, a simulated day of traffic, ingest, summary."""
    from ledger.app.runtime import build_ingestor, reset, run_simulation  # noqa: PLC0415

    if args.fresh:
        reset(config)
        _print(f"fresh start: removed {config.home} and the demo's topics")
    key, _ = ensure_key(config, "ledger")
    _print(f"ledger key  {key.public.verifier_text}")
    start = _parse_time(args.start)
    counts = run_simulation(
        config,
        seed=args.seed,
        days=args.days,
        scale=args.scale,
        start=start,
        rate=None,
        progress=_note,
        plant=True,
    )
    _print(f"published   {sum(counts.values())} signed events from {len(counts)} sources via Kafka")
    ingestor = build_ingestor(config, batch_size=None)
    ingestor.install_signal_handlers()
    stats = ingestor.run(idle_exit=3.0)
    _print(
        f"ingested    {stats.appended} entries ({stats.rejected} rejected, {stats.duplicates} duplicates) "
        f"at {stats.rate:,.0f} entries/s"
    )
    from ledger.app.runtime import check_chains  # noqa: PLC0415

    total: Counter[str] = Counter()
    for origin, kinds in check_chains(config).items():
        _print(f"chain ok    {origin}: {sum(kinds.values())} entries recomputed from the stored bytes")
        total.update(kinds)
    _print("in the ledger:")
    for name, count in total.most_common():
        _print(f"  {name:<28} {count:>8}")
    cmd_status(argparse.Namespace(json=False), config)
    _demo_violations(args, config, start)
    return 0


def _demo_violations(args: argparse.Namespace, config: Config, start: datetime) -> None:
    """Project the ledger and set the violations found beside those the simulation planted."""
    from ledger.app.runtime import open_store  # noqa: PLC0415
    from ledger.simulate import build_city, planted  # noqa: PLC0415
    from projections.queries import violations  # noqa: PLC0415
    from projections.runner import ProjectionRunner, open_db  # noqa: PLC0415

    store = open_store(config)
    db = open_db(config.views_path)
    try:
        stats = ProjectionRunner(store=store, db=db).run()
        _print(f"projected   {stats.events} events into {config.views_path}")
        found = violations(db)
    finally:
        store.close()
    plants = planted(
        build_city(seed=args.seed, scale=args.scale), seed=args.seed, start=start, days=args.days
    )
    found_keys = Counter((row["rule"], row["camera_id"], row["actor_id"]) for row in found)
    _print(
        f"violations  {len(found)} found; the simulation planted {sum(p.kind == 'violation' for p in plants)}"
    )
    for plant in plants:
        key = (plant.rule, plant.camera_id, plant.actor_id)
        if plant.kind == "violation":
            mark = "found " if found_keys[key] else "MISSED"
            found_keys[key] -= 1
        else:
            mark = "quiet " if not found_keys[key] else "FIRED "
        _print(f"  {mark} {plant.rule:<4} {plant.kind:<9} {plant.description}")
    extra = +found_keys
    for (rule, camera, actor), count in extra.items():
        _print(f"  EXTRA  {rule:<4} {count} not planted (camera {camera}, actor {actor})")
    _print("with their evidence: liuhen violations; who saw a camera: liuhen who --camera ID --from T --to T")


# -- auditors: export, verify, prove, consistency, witness --------------------------------------


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """``liuhen export``: a whole-ledger or selective bundle for auditors."""
    from ledger.app.runtime import open_store  # noqa: PLC0415
    from ledger.ingest.export import by_actor, by_case, export_full, export_positions, export_selective  # noqa: PLC0415

    ledger_key = _ledger_key(config)
    store = open_store(config)
    try:
        if args.violation is not None:
            row = (
                _views(config)
                .execute("SELECT rule, evidence FROM violations WHERE id = ?", [args.violation])
                .fetchone()
            )
            if row is None:
                raise ConfigurationError(f"no violation {args.violation}: see 'liuhen violations --json'")
            manifest = export_positions(
                store,
                args.out,
                positions=[(origin, index) for origin, index in json.loads(row[1])],
                selection={"violation": args.violation, "rule": row[0]},
                ledger_keys=[ledger_key.public],
            )
        elif args.case or args.actor:
            if args.case:
                select, selection = by_case(args.case), {"case": args.case}
            else:
                start = _parse_time(args.since) if args.since else None
                end = _parse_time(args.until) if args.until else None
                select = by_actor(args.actor, start, end)
                selection = {"actor": args.actor, "from": args.since, "to": args.until}
            manifest = export_selective(
                store,
                args.out,
                select=select,
                selection=selection,
                ledger_keys=[ledger_key.public],
                progress=_note,
            )
        else:
            manifest = export_full(store, args.out, ledger_keys=[ledger_key.public], progress=_note)
    finally:
        store.close()
    entries = sum(part.entries for part in manifest.logs)
    _print(f"wrote {manifest.kind} bundle {args.out}: {len(manifest.logs)} log(s), {entries} entries")
    _print(f"verify offline: python -m ledger.verify {args.out} --key {config.keys_dir / 'ledger.pub'}")
    return 0


def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    """``liuhen verify``: the offline verifier, on a bundle or (``--live``) on the running store."""
    from ledger import verify  # noqa: PLC0415

    if args.live:
        from ledger.app.runtime import live_sources  # noqa: PLC0415

        return verify.run(args, lambda: verify.Material("live store", "full", *live_sources(config)))
    if args.bundle is None:
        raise ConfigurationError("name a bundle directory, or use --live to check the running store")

    return verify.run(args, partial(verify.Material.bundle, args.bundle))


def cmd_prove(args: argparse.Namespace, config: Config) -> int:
    """``liuhen prove EVENT_ID``: inclusion proof of one event against the latest checkpoint."""
    from ledger.app.runtime import prove_event  # noqa: PLC0415

    proof = prove_event(config, args.event_id)
    if args.json:
        _print(json.dumps(proof, indent=2))
        return 0
    _print(f"event {args.event_id} is entry {proof['index']} of {proof['origin']}")
    _print(f"leaf hash   {proof['leaf_hash']}")
    _print(f"proof ({len(proof['proof'])} hashes, RFC 9162 inclusion in tree size {proof['size']}):")
    for digest in proof["proof"]:
        _print(f"  {digest}")
    _print("checkpoint:")
    _print(proof["checkpoint"].rstrip("\n"))
    _print("verified: the proof leads to the signed root")
    return 0


def cmd_consistency(args: argparse.Namespace, config: Config) -> int:
    """``liuhen consistency OLD NEW``: prove a newer checkpoint extends an older one."""
    from ledger.app.runtime import prove_consistency  # noqa: PLC0415

    result = prove_consistency(config, args.old.read_bytes(), args.new.read_bytes())
    if args.json:
        _print(json.dumps(result, indent=2))
        return 0
    _print(f"{result['origin']}: size {result['old_size']} -> {result['new_size']}")
    for digest in result["proof"]:
        _print(f"  {digest}")
    _print("verified: the newer checkpoint extends the older one (history was not rewritten)")
    return 0


def cmd_witness(args: argparse.Namespace, config: Config) -> int:
    """``liuhen witness``: cosign each log's newest checkpoint once it is proven consistent."""
    from ledger.app.runtime import witness  # noqa: PLC0415

    key = SigningKey.load(Path(args.key), passphrase=config.passphrase)
    for line in witness(config, key, Path(args.state)):
        _print(line)
    return 0


# -- investigators: projections and queries ------------------------------------------------------


def _us_to_text(value: int | None) -> str:
    return "-" if value is None else _time(value)


def _text_to_us(text: str) -> int:
    value = _parse_time(text)
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def cmd_project(args: argparse.Namespace, config: Config) -> int:
    """``liuhen project``: bring the read models up to date with the ledger (or follow it)."""
    from ledger.app.runtime import open_store  # noqa: PLC0415
    from projections.runner import ProjectionRunner, RunStats, open_db  # noqa: PLC0415

    store = open_store(config)
    db = open_db(config.views_path)
    runner = ProjectionRunner(store=store, db=db)
    if args.rebuild:
        runner.rebuild()
        _note(f"project: rebuilding {config.views_path} from the whole ledger")

    def progress(stats: RunStats) -> None:
        if stats.batches % 25 == 0:
            _note(f"project: {stats.events:,} events ({stats.events / max(stats.seconds, 1e-9):,.0f}/s)")

    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stats = runner.run(follow=args.follow, stop=stop, progress=progress)
    finally:
        store.close()
        db.close()
    rate = stats.events / max(stats.seconds, 1e-9)
    _print(f"project: {stats.events} events applied ({rate:,.0f}/s), at notification {stats.position}")
    return 0


_ACCESS_HEADINGS = (
    ("occurred_at", "when"),
    ("action", "action"),
    ("actor_id", "actor"),
    ("actor_name", "name"),
    ("unit", "unit"),
    ("camera_id", "camera"),
    ("footage_start", "footage from"),
    ("footage_end", "to"),
    ("reason", "reason"),
    ("case_number", "case"),
    ("outcome", "outcome"),
)


def _emit(
    rows: list[dict[str, Any]], args: argparse.Namespace, headings: tuple[tuple[str, str], ...]
) -> None:
    times = {"occurred_at", "footage_start", "footage_end", "set_at", "granted_at"}
    shown = [
        {k: (_us_to_text(v) if k in times and isinstance(v, int) else v) for k, v in r.items()} for r in rows
    ]
    if args.json:
        _print(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    if getattr(args, "csv", False):
        import csv  # noqa: PLC0415

        writer = csv.DictWriter(sys.stdout, fieldnames=list(shown[0]) if shown else [k for k, _ in headings])
        writer.writeheader()
        writer.writerows(shown)
        return
    if not shown:
        _print("nothing found")
        return
    _print("  ".join(title for _, title in headings))
    for row in shown:
        _print("  ".join(str(row.get(key) if row.get(key) is not None else "-") for key, _ in headings))
    _print(f"({len(shown)} rows; each names its ledger position: --json shows origin and idx)")


def _views(config: Config) -> Any:
    from projections.runner import open_db  # noqa: PLC0415

    if not config.views_path.exists():
        raise ConfigurationError(f"no read models at {config.views_path}: run 'liuhen project' first")
    return open_db(config.views_path)


def cmd_who(args: argparse.Namespace, config: Config) -> int:
    """``liuhen who --camera ID --from T --to T``."""
    from projections.queries import who  # noqa: PLC0415

    _emit(
        who(_views(config), args.camera, _text_to_us(args.since), _text_to_us(args.until)),
        args,
        _ACCESS_HEADINGS,
    )
    return 0


def cmd_actor(args: argparse.Namespace, config: Config) -> int:
    """``liuhen actor ID --from T --to T [--limit N] [--after CURSOR]``."""
    from projections.queries import actor, actor_page  # noqa: PLC0415

    views, start, end = _views(config), _text_to_us(args.since), _text_to_us(args.until)
    if args.limit == 0:
        _emit(actor(views, args.user_id, start, end), args, _ACCESS_HEADINGS)
        return 0
    page = actor_page(views, args.user_id, start, end, limit=args.limit, after=args.after)
    _emit(page.rows, args, _ACCESS_HEADINGS)
    if page.after is not None:
        _note(
            f"{page.total:,} rows in all; this page holds {len(page.rows):,}. "
            f"Next page: --after {page.after} (or --limit 0 for every row)"
        )
    return 0


def cmd_case(args: argparse.Namespace, config: Config) -> int:
    """``liuhen case NUMBER``."""
    from projections.queries import case  # noqa: PLC0415

    found = case(_views(config), args.number)
    if args.json:
        _print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    for kind in ("authorizations", "applications"):
        for row in found[kind]:
            _print(f"{kind[:-1]}: " + ", ".join(f"{k}={v}" for k, v in row.items() if v is not None))
    _emit(found["actions"], args, _ACCESS_HEADINGS)
    return 0


def cmd_violations(args: argparse.Namespace, config: Config) -> int:
    """``liuhen violations [--rule R1] [--severity S] [--since T]``."""
    from projections.queries import violations  # noqa: PLC0415

    since = _text_to_us(args.since) if args.since else None
    rows = violations(_views(config), rule=args.rule, severity=args.severity, since=since)
    if args.json or args.csv:
        _emit(rows, args, ())
        return 0
    if not rows:
        _print("no violations found")
    for row in rows:
        evidence = ", ".join(f"{o}#{i}" for o, i in row["evidence"])
        when = _us_to_text(row["occurred_at"])
        where = f"{row['actor_id']} {row['camera_id'] or ''}"
        _print(f"#{row['id']} [{row['rule']} {row['severity']}] {when} {where}")
        _print(f"  {row['explanation']}")
        _print(f"  evidence: {evidence}")
    return 0


# -- schemas ----------------------------------------------------------------------------------


def cmd_schemas(args: argparse.Namespace, config: Config) -> int:
    """``liuhen schemas list|freeze``: the event vocabulary and its fingerprints."""
    from ledger.wire.avro import SchemaRegistry, freeze  # noqa: PLC0415
    from schemas import HISTORY_DIR  # noqa: PLC0415

    registry = SchemaRegistry.load()
    if args.schemas_command == "list":
        for event_type in sorted(registry.types.values(), key=lambda t: (t.family, t.name)):
            name = f"{event_type.family:<14} {event_type.name:<28} v{event_type.version}"
            _print(f"{name}  {event_type.fingerprint_hex}")
        return 0
    name, text = freeze(registry, args.name)
    path = HISTORY_DIR / name
    if path.exists():
        _print(f"{path} already holds this version")
        return 0
    path.write_text(text)
    _print(f"wrote {path}: events written with this version stay readable after the schema changes")
    return 0


# -- parser -----------------------------------------------------------------------------------


def _add_auditor_commands(verbs: Any) -> None:
    """export, verify, prove, consistency, witness."""
    exp = verbs.add_parser("export", help="write an auditor bundle: whole logs, or one case or person")
    exp.add_argument("--out", type=Path, required=True, help="new directory for the bundle")
    exp.add_argument("--case", help="only what was done under this case, document or application number")
    exp.add_argument("--actor", help="only what this user id did")
    exp.add_argument("--from", dest="since", help="with --actor: from this ISO 8601 time")
    exp.add_argument("--to", dest="until", help="with --actor: up to this ISO 8601 time")
    exp.add_argument(
        "--violation", type=int, help="only the evidence of this violation (id from 'liuhen violations')"
    )

    from ledger.verify import add_arguments  # noqa: PLC0415

    ver = verbs.add_parser(
        "verify",
        help="verify a bundle offline (exit 0 valid, 1 invalid, 2 unreadable); --live: the running store",
    )
    add_arguments(ver)
    ver.add_argument("--live", action="store_true", help="check the configured store instead of a bundle")

    prv = verbs.add_parser("prove", help="inclusion proof of one event against the latest checkpoint")
    prv.add_argument("event_id")
    prv.add_argument("--json", action="store_true")

    con = verbs.add_parser("consistency", help="prove a newer checkpoint extends an older one")
    con.add_argument("old", type=Path, help="older signed checkpoint (note file)")
    con.add_argument("new", type=Path, help="newer signed checkpoint (note file)")
    con.add_argument("--json", action="store_true")

    wit = verbs.add_parser("witness", help="as a witness: check each log's newest checkpoint and cosign it")
    wit.add_argument("--key", required=True, help="the witness's private key file")
    wit.add_argument("--state", required=True, help="directory where the witness remembers what it cosigned")


def _add_investigator_commands(verbs: Any) -> None:
    """project, who, actor, case, violations."""
    prj = verbs.add_parser("project", help="update the read models from the ledger (--follow, --rebuild)")
    prj.add_argument("--follow", action="store_true", help="keep following the ledger until Ctrl-C")
    prj.add_argument(
        "--rebuild", action="store_true", help="drop the read models and replay the whole ledger"
    )
    window = "ISO 8601; without an offset, +08:00"
    who_ = verbs.add_parser("who", help="who accessed a camera's footage of a window, and when")
    who_.add_argument("--camera", required=True)
    who_.add_argument("--from", dest="since", required=True, help=f"footage window start ({window})")
    who_.add_argument("--to", dest="until", required=True, help="footage window end")
    act = verbs.add_parser("actor", help="everything one person did in a period")
    act.add_argument("user_id")
    act.add_argument("--from", dest="since", required=True, help=window)
    act.add_argument("--to", dest="until", required=True)
    act.add_argument(
        "--limit", type=int, default=1000, help="rows a page (default 1000; 0: every row, in one answer)"
    )
    act.add_argument("--after", help="the cursor the previous page printed: show the next page")
    cas = verbs.add_parser("case", help="everything done under one case, document or application number")
    cas.add_argument("number")
    vio = verbs.add_parser("violations", help="violations of the regulation, each with its evidence")
    vio.add_argument("--rule", help="e.g. R1")
    vio.add_argument("--severity", choices=["critical", "high", "medium", "low"])
    vio.add_argument("--since", help=window)
    for parser in (who_, act, cas, vio):
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--csv", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its help text is the command reference)."""
    parser = argparse.ArgumentParser(
        prog="liuhen",
        description="liuhen (留痕): tamper-evident access-audit ledger for public-security video systems.",
        epilog="Settings come from the environment (LIUHEN_HOME, LIUHEN_KAFKA_BOOTSTRAP...), see README.\n"
        "Exit codes: 0 success, 1 a liuhen error (the message says what to do), 2 a usage error.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"liuhen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = verbs.add_parser("keys", help="create keys; register, rotate and revoke source keys")
    kv = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    kv.add_parser("init", help="create the ledger key if missing")
    new = kv.add_parser("new", help="create a source system's signing key")
    new.add_argument("name", help="source system id, e.g. zz-metro")
    reg = kv.add_parser("register", help="register a source key in the ledger (signed by the ledger key)")
    reg.add_argument("system_id")
    reg.add_argument("--public-key", help="verifier key file (default: keys/<system_id>.pub)")
    reg.add_argument("--replaces", metavar="KEY_ID", help="rotation: revoke this key at the same position")
    rev = kv.add_parser("revoke", help="revoke a source key from its ledger entry on")
    rev.add_argument("system_id")
    rev.add_argument("key_id")
    rev.add_argument("--reason", required=True)
    kv.add_parser("list", help="list public keys in the keys folder")
    kv.add_parser(
        "rotate-ledger", help="replace the ledger key (stop ingest first); the old key signs the change"
    )

    _add_auditor_commands(verbs)
    _add_investigator_commands(verbs)

    sch = verbs.add_parser("schemas", help="list event types and fingerprints; keep an old version readable")
    sv = sch.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    sv.add_parser("list", help="every event type with its family, version and fingerprint")
    fr = sv.add_parser("freeze", help="save an event type's current version into schemas/history/")
    fr.add_argument("name", help="event type, e.g. FootageViewed")

    ing = verbs.add_parser("ingest", help="consume the audit topic into the ledger (Ctrl-C stops cleanly)")
    ing.add_argument("--until-idle", type=float, metavar="SECONDS", help="exit after this long without input")
    ing.add_argument("--batch-size", type=int, help="messages per transaction (default LIUHEN_BATCH_SIZE)")
    ing.add_argument("--progress", type=float, default=5.0, metavar="SECONDS", help="progress line interval")

    sim = verbs.add_parser("simulate", help="publish synthetic traffic of a small city through the SDK")
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--days", type=float, default=1.0)
    sim.add_argument("--scale", type=float, default=1.0, help="multiplies cameras, operators and activity")
    sim.add_argument(
        "--start", help="ISO 8601 start of the simulated period (default: yesterday 00:00 +08:00)"
    )
    sim.add_argument("--rate", type=float, help="events per second (default: as fast as possible)")

    st = verbs.add_parser("status", help="per log: entries, chain head, last ingest, lag, rejections")
    st.add_argument("--json", action="store_true")

    demo = verbs.add_parser("demo", help="simulate a day of traffic, ingest it, print a summary")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--days", type=float, default=1.0)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--start", default="2026-05-03T00:00:00+08:00")
    demo.add_argument(
        "--fresh", action="store_true", help="first delete LIUHEN_HOME and the audit and rejected topics"
    )
    return parser


COMMANDS = {
    "keys": cmd_keys,
    "schemas": cmd_schemas,
    "ingest": cmd_ingest,
    "simulate": cmd_simulate,
    "status": cmd_status,
    "project": cmd_project,
    "who": cmd_who,
    "actor": cmd_actor,
    "case": cmd_case,
    "violations": cmd_violations,
    "export": cmd_export,
    "verify": cmd_verify,
    "prove": cmd_prove,
    "consistency": cmd_consistency,
    "witness": cmd_witness,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; turn :class:`LedgerError` into a message and exit code 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.ERROR)
    try:
        return COMMANDS[args.command](args, Config.from_env())
    except LedgerError as exc:
        _note(f"liuhen {args.command}: {exc}")
        return 1
    except BrokenPipeError:  # output piped into head or a pager that closed: not an error
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
