"""The ``liuhen`` command line: verbs, their options, and the checks an option makes on its own.

Each verb names the function that runs it (``module:function`` in ``ledger.cli``), imported only
when that verb runs: ``liuhen --help`` and ``liuhen verify BUNDLE`` work with liuhen's core alone
(an auditor's install), the other verbs need the ``server`` extra. A usage error is one line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from ledger import __version__
from ledger.cli.output import CST
from ledger.verify import add_arguments as add_verify_arguments
from ledger.verify.command import EXIT_STATUS as VERIFY_EXIT_STATUS

EXIT_CODES = (
    "Exit codes: 0 success, 1 a liuhen error (the message says what to do), 2 a usage error, "
    "130 interrupted.\n'liuhen verify': 0 intact, 1 invalid (each problem named), 2 unreadable or misused, "
    "3 intact with source findings (a gap in a source's sequence numbers)."
)


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: what is wrong and where to read more."""

    def error(self, message: str) -> NoReturn:
        """Print ``liuhen VERB: MESSAGE (see 'liuhen VERB --help')`` and exit 2."""
        sys.stderr.write(f"{self.prog}: {message} (see '{self.prog} --help')\n")
        sys.exit(2)


def iso_time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is China time (+08:00)."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-05-03T14:00 or 2026-05-03T14:00:00+08:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=CST)


def _number(kind: type, low: float, *, inclusive: bool, what: str) -> Any:
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}")
        if value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"{text} is not {what}")
        return value

    return parse


positive_int = _number(int, 1, inclusive=True, what="at least 1")
count = _number(int, 0, inclusive=True, what="0 or more")
positive = _number(float, 0, inclusive=False, what="more than 0")
seconds = _number(float, 0, inclusive=True, what="0 or more seconds")


def _verb(verbs: Any, name: str, run: str, help_text: str, **kwargs: Any) -> Parser:
    parser: Parser = verbs.add_parser(name, help=help_text, description=help_text, **kwargs)
    parser.set_defaults(run=run)
    _common(parser)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    """``--debug`` and ``-v`` after the verb as well as before it."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


def _keys(verbs: Any) -> None:
    keys = verbs.add_parser("keys", help="create keys; register, rotate and revoke source keys")
    _common(keys)
    kv = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    _verb(kv, "init", "operator:keys_init", "create the ledger key if missing")
    new = _verb(kv, "new", "operator:keys_new", "create a source system's signing key")
    new.add_argument("name", help="source system id, e.g. zz-metro (letters, digits, '.', '_', '-')")
    reg = _verb(kv, "register", "operator:keys_register", "register a source key in the ledger")
    reg.add_argument("system_id")
    reg.add_argument("--public-key", type=Path, help="verifier key file (default: keys/<system_id>.pub)")
    reg.add_argument("--replaces", metavar="KEY_ID", help="rotation: revoke this key at the same position")
    rev = _verb(kv, "revoke", "operator:keys_revoke", "revoke a source key from its ledger entry on")
    rev.add_argument("system_id")
    rev.add_argument("key_id")
    rev.add_argument("--reason", required=True)
    _verb(kv, "list", "operator:keys_list", "list the public keys in the keys folder")
    _verb(
        kv,
        "rotate-ledger",
        "operator:keys_rotate",
        "replace the ledger key (taken at a batch boundary; ingest may run)",
    )


def _auditors(verbs: Any) -> None:
    exp = _verb(
        verbs, "export", "auditor:export", "write an auditor bundle: whole logs, or one case or person"
    )
    exp.add_argument("--out", type=Path, required=True, help="new folder for the bundle")
    which = exp.add_mutually_exclusive_group()
    which.add_argument("--case", help="only what was done under this case, document or application number")
    which.add_argument("--actor", help="only what this user id did (optionally --from/--to)")
    which.add_argument(
        "--violation",
        type=positive_int,
        help="only the evidence of this violation (id from 'liuhen violations')",
    )
    exp.add_argument("--from", dest="since", type=iso_time, help="with --actor: from this time")
    exp.add_argument("--to", dest="until", type=iso_time, help="with --actor: up to this time")

    ver = _verb(
        verbs,
        "verify",
        "auditor:verify",
        "verify a bundle offline (exit 0 intact, 1 invalid, 2 unreadable, 3 source findings); "
        "--live: the running store",
        epilog=VERIFY_EXIT_STATUS,
    )
    add_verify_arguments(ver)
    ver.add_argument("--live", action="store_true", help="check the configured store instead of a bundle")

    prv = _verb(verbs, "prove", "auditor:prove", "inclusion proof of one event against the latest checkpoint")
    prv.add_argument("event_id")
    form = prv.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true")
    form.add_argument(
        "--tlog-proof",
        action="store_true",
        help="print the proof as a c2sp.org/tlog-proof file (the entry as its extra data, the checkpoint "
        "with its cosignatures): check it with 'liuhen verify --tlog-proof FILE --key ledger.pub'",
    )

    cpt = _verb(
        verbs,
        "checkpoint",
        "auditor:checkpoint",
        "each log's newest signed checkpoint, written out whole with its witnesses' cosignatures",
    )
    cpt.add_argument("--origin", help="only this log's (default: every log's, one note after another)")
    cpt.add_argument(
        "--out",
        type=Path,
        help="write one note file per log into this folder (checkpoints to keep)",
    )

    con = _verb(verbs, "consistency", "auditor:consistency", "prove a newer checkpoint extends an older one")
    con.add_argument("old", type=Path, help="older signed checkpoint (note file)")
    con.add_argument("new", type=Path, help="newer signed checkpoint (note file)")
    con.add_argument("--json", action="store_true")


def _witness(verbs: Any) -> None:
    wit = verbs.add_parser(
        "witness", help="a C2SP witness service, its logs, and pushing checkpoints to witnesses"
    )
    _common(wit)
    wv = wit.add_subparsers(dest="witness_command", required=True, metavar="ACTION")
    srv = _verb(
        wv,
        "serve",
        "witness:serve",
        "as a witness: serve c2sp.org/tlog-witness, cosigning each log's checkpoints proven consistent",
    )
    srv.add_argument(
        "--key", type=Path, required=True, help="the witness's private key file (its name names it)"
    )
    srv.add_argument(
        "--state",
        type=Path,
        required=True,
        help="folder where the witness keeps its logs and what it cosigned",
    )
    srv.add_argument(
        "--listen",
        default="127.0.0.1:7380",
        metavar="HOST:PORT",
        help="address to serve on (default %(default)s)",
    )
    add = _verb(wv, "add-log", "witness:add_log", "as a witness: trust a log key for an origin")
    add.add_argument("--state", type=Path, required=True, help="the witness's folder")
    add.add_argument("--origin", required=True, help="the log's origin line, e.g. liuhen/liuhen.audit/0")
    add.add_argument(
        "--key",
        required=True,
        metavar="VKEY",
        help="the log's verifier key text (name+hexid+base64), or a file",
    )
    push = _verb(
        wv,
        "push",
        "witness:push",
        "as the operator: each log's newest checkpoint to the LIUHEN_WITNESSES; store their cosignatures",
    )
    push.add_argument("--once", action="store_true", help="one round, then exit (1 if a witness failed)")
    push.add_argument(
        "--interval",
        type=positive,
        default=5.0,
        metavar="SECONDS",
        help="between rounds (default %(default)s)",
    )
    push.add_argument(
        "--timeout", type=positive, default=10.0, metavar="SECONDS", help="for one witness's answer"
    )


def _investigators(verbs: Any) -> None:
    prj = _verb(verbs, "project", "investigator:project", "update the read models from the ledger")
    mode = prj.add_mutually_exclusive_group()
    mode.add_argument("--follow", action="store_true", help="keep following the ledger until Ctrl-C")
    mode.add_argument(
        "--rebuild", action="store_true", help="drop the read models and replay the whole ledger"
    )
    prj.add_argument(
        "--alerts",
        action="store_true",
        help="publish each violation found, changed or cleared to the alerts topic (LIUHEN_ALERTS_TOPIC)",
    )
    window = "ISO 8601; without an offset, +08:00"
    who = _verb(verbs, "who", "investigator:who_", "who accessed a camera's footage of a window, and when")
    who.add_argument("--camera", required=True, help="GB/T 28181 camera id (20 digits)")
    who.add_argument(
        "--from", dest="since", type=iso_time, required=True, help=f"footage window start ({window})"
    )
    who.add_argument("--to", dest="until", type=iso_time, required=True, help="footage window end")
    who.add_argument(
        "--accessed",
        action="store_true",
        help="the window is when they acted, not the footage's: who used the camera during an incident",
    )
    fnd = _verb(verbs, "find", "investigator:find_", "people and cameras by part of a name, id or place")
    fnd.add_argument("text", help="compared without case, width or invisible characters: look-alikes match")
    act = _verb(verbs, "actor", "investigator:actor_", "everything one person did in a period")
    act.add_argument("user_id")
    act.add_argument("--from", dest="since", type=iso_time, required=True, help=window)
    act.add_argument("--to", dest="until", type=iso_time, required=True)
    act.add_argument(
        "--limit", type=count, default=1000, help="rows a page (default 1000; 0: every row, in one answer)"
    )
    act.add_argument("--after", help="the cursor the previous page printed: show the next page")
    cas = _verb(
        verbs,
        "case",
        "investigator:case_",
        "everything under one case, authorization, application, deletion-order or hold number",
    )
    cas.add_argument("number")
    vio = _verb(
        verbs, "violations", "investigator:violations_", "violations of the regulation, with their evidence"
    )
    vio.add_argument("--rule", help="one rule, e.g. R1")
    vio.add_argument("--severity", help="critical, high, medium or warning")
    vio.add_argument("--since", type=iso_time, help=f"only those that happened from this time ({window})")
    for parser in (who, fnd, act, cas, vio):
        form = parser.add_mutually_exclusive_group()
        form.add_argument("--json", action="store_true", help="the answer as JSON")
        form.add_argument("--csv", action="store_true", help="the answer as CSV, with a header row")


def _operators(verbs: Any) -> None:
    sch = verbs.add_parser("schemas", help="list event types and fingerprints; keep an old version readable")
    _common(sch)
    sv = sch.add_subparsers(dest="schemas_command", required=True, metavar="ACTION")
    _verb(sv, "list", "operator:schemas_list", "every event type with its family, version and fingerprint")
    fr = _verb(
        sv, "freeze", "operator:schemas_freeze", "save an event type's current version into schemas/history/"
    )
    fr.add_argument("name", help="event type, e.g. FootageViewed")

    ing = _verb(
        verbs, "ingest", "operator:ingest", "consume the audit topic into the ledger (Ctrl-C stops cleanly)"
    )
    ing.add_argument(
        "--until-idle", type=seconds, metavar="SECONDS", help="exit after this long without input"
    )
    ing.add_argument(
        "--batch-size", type=positive_int, help="messages per transaction (default LIUHEN_BATCH_SIZE)"
    )
    ing.add_argument(
        "--progress", type=positive, default=5.0, metavar="SECONDS", help="progress line interval"
    )

    sim = _verb(
        verbs, "simulate", "operator:simulate", "publish synthetic traffic of a small city through the SDK"
    )
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--days", type=positive, default=1.0)
    sim.add_argument("--scale", type=positive, default=1.0, help="multiplies cameras, operators and activity")
    sim.add_argument(
        "--start", type=iso_time, help="start of the simulated period (default: yesterday 00:00 +08:00)"
    )
    sim.add_argument("--rate", type=positive, help="events per second (default: as fast as possible)")

    st = _verb(
        verbs,
        "status",
        "operator:status",
        "per log: entries, chain head, last ingest, lag, rejections, witnesses",
    )
    st.add_argument("--json", action="store_true")

    demo = _verb(
        verbs, "demo", "operator:demo", "simulate a day of a city's traffic, ingest it, print a summary"
    )
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--days", type=positive, default=1.0)
    demo.add_argument("--scale", type=positive, default=1.0)
    demo.add_argument("--start", type=iso_time, default=iso_time("2026-05-03T00:00:00+08:00"))
    demo.add_argument(
        "--fresh",
        action="store_true",
        help="first delete the demo's own home (LIUHEN_HOME, if the demo made it) and the topics it created",
    )


def build_parser() -> Parser:
    """The argument parser (its help text is the command reference)."""
    parser = Parser(
        prog="liuhen",
        description="liuhen (留痕): tamper-evident access-audit ledger for public-security video systems.",
        epilog="Settings come from the environment (LIUHEN_HOME, LIUHEN_KAFKA_BOOTSTRAP...), see README.\n"
        + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"liuhen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="on an error, show the traceback too")
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _keys(verbs)
    _auditors(verbs)
    _witness(verbs)
    _investigators(verbs)
    _operators(verbs)
    return parser
