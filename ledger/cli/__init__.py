"""The ``liuhen`` command: one entry point, verb subcommands, one error boundary.

:func:`main` is the only place where an error becomes a message and an exit status; every error
is one line on stderr, ``liuhen VERB: what went wrong and what to do``, and ``--debug`` adds the
traceback. Exit status:

===  ==========================================================================================
0    success
1    a liuhen error (:class:`~ledger.errors.LedgerError`), or the file system, the event store,
     Kafka or a missing extra failed the command
2    a usage error: an option that cannot mean anything, arguments that are not UTF-8
130  interrupted (Ctrl-C)
===  ==========================================================================================

``liuhen verify`` keeps the verifier's own statuses (0 intact, 1 invalid, 2 unreadable, 3 intact
with source findings; see :mod:`ledger.verify`). Verbs live in :mod:`ledger.cli.operator`,
:mod:`ledger.cli.auditor`, :mod:`ledger.cli.investigator` and :mod:`ledger.cli.witness`, the
options in :mod:`ledger.cli.parser`, the printing in :mod:`ledger.cli.output`. Tests call
:func:`main` with an argument list.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import sys
import traceback
from collections.abc import Sequence

from ledger.app.config import Config
from ledger.cli.output import clean, note
from ledger.cli.parser import build_parser
from ledger.errors import LedgerError, UsageError

EXTRAS = {
    "kafka": "sdk",
    "crc32c": "sdk",
    "eventsourcing": "server",
    "sqlite_utils": "server",
    "psycopg": "postgres",
}
"""Distributions a verb may need that liuhen's core does not install, and the extra that brings each."""


def _one_line(text: str) -> str:
    return clean(" ".join(text.split()))


def _missing_extra(exc: ModuleNotFoundError) -> str | None:
    extra = EXTRAS.get((exc.name or "").split(".")[0])
    if extra is None:
        return None
    return (
        f"this command needs liuhen's '{extra}' extra ({exc.name} is not installed): "
        f"pip install 'liuhen[{extra}]' (the offline verifier alone: python -m ledger.verify)"
    )


def describe(exc: BaseException) -> tuple[str, int]:
    """One line saying what went wrong (and what to do), and the exit status, for any error."""
    library = type(exc).__module__.split(".")[0]
    message = f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback, and report it)"
    if isinstance(exc, LedgerError):
        message = str(exc)
    elif isinstance(exc, ModuleNotFoundError) and _missing_extra(exc):
        message = _missing_extra(exc) or message
    elif isinstance(exc, OSError):
        message = f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else "")
    elif isinstance(exc, sqlite3.Error):
        message = f"SQLite: {exc}"
    elif library in {"eventsourcing", "psycopg", "psycopg_pool"}:
        message = f"the event store failed: {type(exc).__name__}: {exc}"
    elif library == "kafka":
        message = (
            f"Kafka failed: {type(exc).__name__}: {exc} (is the broker LIUHEN_KAFKA_BOOTSTRAP names running?)"
        )
    return message, 2 if isinstance(exc, UsageError) else 1


def _check_utf8(argv: Sequence[str]) -> None:
    for number, arg in enumerate(argv, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise UsageError(f"argument {number} ({shown}) is not valid UTF-8") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        _check_utf8(args_list)
    except UsageError as exc:
        note(f"liuhen: {_one_line(str(exc))}")
        return 2
    try:
        args = build_parser().parse_args(args_list)
    except SystemExit as done:  # --help, --version, or a usage error already printed
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # kafka-python logs every failed connection attempt: one line of ours says it better.
    logging.getLogger("kafka").setLevel(logging.DEBUG if args.debug else logging.CRITICAL)
    action = {"keys": "keys_command", "witness": "witness_command"}.get(args.command)
    verb = args.command + (f" {getattr(args, action)}" if action else "")
    try:
        module, function = args.run.split(":")
        run = getattr(importlib.import_module(f"ledger.cli.{module}"), function)
        status: int = run(args, Config.from_env())
    except KeyboardInterrupt:
        note(f"liuhen {verb}: interrupted")
        return 130
    except BrokenPipeError:  # output piped into head or a pager that closed: not an error
        sys.stderr.close()
        return 0
    except Exception as exc:  # the boundary: every error becomes one line and a status
        if args.debug:
            traceback.print_exc()
        message, status = describe(exc)
        note(f"liuhen {verb}: {_one_line(message)}")
    return status
