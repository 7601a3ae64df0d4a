"""The investigators' verbs: project the ledger into read models, and ask them who did what when.

Answers name each row's ledger position (``--json``/``--csv``: origin and index; violations:
``origin#index`` of each piece of evidence), so exactly that evidence can be exported with
inclusion proofs. Times are shown in China time (+08:00).
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ledger.app.alerts import AlertPublisher
from ledger.app.assembly import open_store, open_views, projection_runner
from ledger.app.config import Config
from ledger.cli.output import (
    clean,
    emit_csv,
    emit_json,
    emit_table,
    note,
    out,
    positions,
    show_time,
    shown,
)
from ledger.errors import UsageError
from ledger.wire.format import to_micros
from projections.queries import ACCESS_COLUMNS, actor, actor_page, case, find, violations, who
from projections.runner import ProjectionRunner, RunStats

ACCESS_HEADINGS = (
    ("occurred_at", "when"),
    ("logged_at", "logged"),
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
ACCESS_FIELDS = [name.strip() for name in ACCESS_COLUMNS.split(",")]
VIOLATION_FIELDS = [
    "id", "rule", "severity", "article", "occurred_at", "logged_at", "actor_id", "system_id", "camera_id",
    "explanation", "evidence", "cleared_late",
]  # fmt: skip


def project(args: argparse.Namespace, config: Config) -> int:
    """``liuhen project``: bring the read models up to date with the ledger (or follow it)."""
    store = open_store(config)
    db = open_views(config, create=True)
    runner = projection_runner(config, store, db)

    def progress(stats: RunStats) -> None:
        if stats.batches % 25 == 0:
            note(f"project: {stats.events:,} events ({stats.events / max(stats.seconds, 1e-9):,.0f}/s)")

    publisher = None
    if args.alerts:
        publisher = AlertPublisher(
            views=config.views_path, bootstrap=config.ingest.bootstrap, topic=config.alerts_topic
        )
    try:
        with _stop_on_signals(runner) as stop:
            if args.rebuild:
                runner.rebuild()
                note(f"project: rebuilding {config.views_path} from the whole ledger (not alerted)")
            if publisher is not None:
                publisher.start()
                note(f"project: alerts go to {config.alerts_topic} at {config.ingest.bootstrap}")
            stats = runner.run(follow=args.follow, stop=stop, progress=progress, poll_interval=0.1)
    finally:
        store.close()
        db.close()
        if publisher is not None:
            publisher.stop()
    rate = stats.events / max(stats.seconds, 1e-9)
    out(f"project: {stats.events} events applied ({rate:,.0f}/s), at notification {stats.position}")
    if publisher is not None:
        out(f"project: {publisher.published} alerts published to {config.alerts_topic}")
        if publisher.failures:
            note(f"project: Kafka refused alerts {publisher.failures} times (last: {publisher.last_failure})")
    if stats.stopped and not args.follow:
        note("project: stopped before catching up; run it again to go on from there")
    return 0


@contextmanager
def _stop_on_signals(runner: ProjectionRunner) -> Iterator[threading.Event]:
    """An event set on SIGTERM or SIGINT, which also cuts short the statement running then.

    A thread waits for the signals, blocked in every thread meanwhile: a handler run by the main
    thread would wait for a long statement (building an index of millions of rows) to end first.
    """
    stop, done = threading.Event(), threading.Event()
    signals = {signal.SIGTERM, signal.SIGINT}

    def watch() -> None:
        while True:
            signal.sigwait(signals)
            if done.is_set():
                return
            stop.set()
            runner.interrupt()

    previous = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    watcher = threading.Thread(target=watch, name="liuhen-project-signals", daemon=True)
    watcher.start()
    try:
        yield stop
    finally:
        done.set()
        signal.pthread_kill(watcher.ident or 0, signal.SIGTERM)  # wakes the watcher, which ends
        watcher.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _access_answer(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    converted = [shown(row) for row in rows]
    if args.json:
        emit_json(converted)
    elif args.csv:
        emit_csv(converted, ACCESS_FIELDS)
    elif not converted:
        out("nothing found")
    else:
        emit_table(converted, ACCESS_HEADINGS)
        out(f"({len(converted)} rows; --json or --csv show each row's ledger position, origin and idx)")


def _window(args: argparse.Namespace) -> tuple[int, int]:
    """The ``--from``/``--to`` window in microseconds (one that ends before it starts: a usage error)."""
    start, end = to_micros(args.since), to_micros(args.until)
    if end <= start:
        raise UsageError(f"--to {args.until.isoformat()} is not after --from {args.since.isoformat()}")
    return start, end


def who_(args: argparse.Namespace, config: Config) -> int:
    """``liuhen who --camera ID --from T --to T``."""
    start, end = _window(args)
    views = open_views(config)
    try:
        rows = who(views, args.camera, start, end, accessed=args.accessed)
    finally:
        views.close()
    _access_answer(rows, args)
    return 0


def find_(args: argparse.Namespace, config: Config) -> int:
    """``liuhen find TEXT``: people and cameras whose id, name or place holds the text."""
    views = open_views(config)
    try:
        found = find(views, args.text)
    finally:
        views.close()
    if args.json:
        emit_json(found)
        return 0
    if args.csv:
        emit_csv(
            [{"kind": kind[:-1], **row} for kind, rows in found.items() for row in rows],
            ["kind", "actor_id", "camera_id", "name", "unit", "system_id", "location"],
        )
        return 0
    if not found["people"] and not found["cameras"]:
        out("nothing found")
    for row in found["people"]:
        out(clean(f"person  {row['actor_id']}  {row['name']}  {row['unit']}"))
    for row in found["cameras"]:
        out(clean(f"camera  {row['camera_id']}  {row['name']}  {row['location']}  ({row['system_id']})"))
    return 0


def actor_(args: argparse.Namespace, config: Config) -> int:
    """``liuhen actor ID --from T --to T [--limit N] [--after CURSOR]``."""
    start, end = _window(args)
    views = open_views(config)
    try:
        if args.limit == 0:
            _access_answer(actor(views, args.user_id, start, end), args)
            return 0
        page = actor_page(views, args.user_id, start, end, limit=args.limit, after=args.after)
    finally:
        views.close()
    _access_answer(page.rows, args)
    if page.after is not None:
        note(
            f"{page.total:,} rows in all; this page holds {len(page.rows):,}. "
            f"Next page: --after {page.after} (or --limit 0 for every row)"
        )
    return 0


def case_(args: argparse.Namespace, config: Config) -> int:
    """``liuhen case NUMBER``: authorizations, applications and every action under one number."""
    views = open_views(config)
    try:
        found = case(views, args.number)
    finally:
        views.close()
    if args.json:
        emit_json({kind: [shown(row) for row in rows] for kind, rows in found.items()})
        return 0
    if args.csv:
        emit_csv([shown(row) for row in found["actions"]], ACCESS_FIELDS)
        return 0
    for kind in ("authorizations", "applications", "deletion_orders", "holds"):
        for row in found[kind]:
            fields = ", ".join(f"{k}={clean(str(v))}" for k, v in shown(row).items() if v is not None)
            out(f"{kind[:-1].replace('_', ' ')}: {fields}")
    _access_answer(found["actions"], args)
    return 0


def violations_(args: argparse.Namespace, config: Config) -> int:
    """``liuhen violations [--rule R1] [--severity S] [--since T]``."""
    views = open_views(config)
    try:
        since = to_micros(args.since) if args.since else None
        rows = violations(views, rule=args.rule, severity=args.severity, since=since)
    finally:
        views.close()
    converted = [shown(row) for row in rows]
    if args.json:
        emit_json(converted)
        return 0
    if args.csv:
        emit_csv(converted, VIOLATION_FIELDS)
        return 0
    if not rows:
        out("no violations found")
    for row in rows:
        where = clean(f"{row['actor_id'] or '-'} {row['camera_id'] or ''}".strip())
        when = f"{show_time(row['occurred_at'])} (logged {show_time(row['logged_at'])})"
        out(f"#{row['id']} [{row['rule']} {row['severity']}] {when} {where}")
        out(f"  {clean(row['explanation'])}")
        out(f"  evidence: {positions(row['evidence'])}")
        if row["cleared_late"]:
            out(f"  cleared only by late evidence: {positions([row['cleared_late']])} (see R14)")
    return 0
