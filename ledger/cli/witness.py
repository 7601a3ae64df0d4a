"""The witness verbs: ``liuhen witness serve``, ``add-log`` (a witness's) and ``push`` (the operator's).

``serve`` and ``add-log`` read and write only the witness's own folder (:mod:`ledger.witness`),
never the operator's store; ``push`` reads the store and talks to the witnesses of
``LIUHEN_WITNESSES`` (:mod:`ledger.app.witnessing`).
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from types import FrameType

from ledger.app.config import Config
from ledger.cli.output import clean, note, out
from ledger.errors import KeyFileError, UsageError
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.note import log_key
from ledger.witness.protocol import ADD_CHECKPOINT
from ledger.witness.server import serve as start_server
from ledger.witness.state import WitnessState


def _on_stop(stop: threading.Event, then: list[object]) -> None:
    """SIGTERM and SIGINT set ``stop`` (and run ``then``'s callables on another thread)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
        for action in then:
            if callable(action):
                threading.Thread(target=action, daemon=True).start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def serve(args: argparse.Namespace, config: Config) -> int:
    """``liuhen witness serve``: the c2sp.org/tlog-witness service, until SIGTERM or Ctrl-C."""
    key = SigningKey.load(args.key, passphrase=config.passphrase)
    state = WitnessState.open(args.state)
    server = start_server(key, state, args.listen)
    stop = threading.Event()
    _on_stop(stop, [server.shutdown])  # shutdown() waits for serve_forever: never on its own thread
    try:
        out(f"witness {key.name} serves {server.url} (POST {ADD_CHECKPOINT}; GET / lists its logs)")
        out(f"verifier key {server.witness.verifier_text}")
        logs = state.logs()
        if not logs:
            note(f"no log to witness yet: liuhen witness add-log --state {args.state} --origin O --key VKEY")
        for origin, keys in logs.items():
            note(f"witnessing {clean(origin)} signed by {', '.join(k.key_id for k in keys)}")
        server.serve_forever()
    finally:
        server.server_close()
    out("witness stopped")
    return 0


def add_log(args: argparse.Namespace, config: Config) -> int:
    """``liuhen witness add-log``: trust a log's verifier key for its origin."""
    text = args.key
    path = Path(text)
    if "+" not in text and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read the key file {path}: {exc}") from exc
    given = PublicKey.from_verifier_text(text)
    if not args.origin or "\n" in args.origin:
        raise UsageError("--origin is the log's origin line: one non-empty line")
    key = log_key(given, args.origin)  # a liuhen ledger signs each log's checkpoints under its origin
    state = WitnessState.open(args.state)
    if state.add_log(args.origin, key):
        out(f"witnessing {clean(args.origin)}: checkpoints signed by {key.key_id}")
    else:
        out(f"already witnessing {clean(args.origin)} with {key.key_id}")
    if given.name != args.origin:
        note(
            f"note: the key named {clean(given.name)!r} is trusted under the origin's name, as the ledger "
            f"signs the log's checkpoints; other witnesses (litewitness) take it as {key.verifier_text}"
        )
    return 0


def push(args: argparse.Namespace, config: Config) -> int:
    """``liuhen witness push``: each log's newest checkpoint to each witness, once or in a loop."""
    from ledger.app.witnessing import Failed, Pushed, push_forever, push_once  # noqa: PLC0415 - server extra

    def report(result: Pushed | Failed) -> None:
        if isinstance(result, Failed):
            where = f"{clean(result.origin)} to {clean(result.witness)}: " if result.origin else ""
            retry = f" (again in {result.retry_in:.0f} s)" if result.retry_in and not args.once else ""
            note(f"witness push: {where}{clean(str(result.error))}{retry}")
        elif result.cosigned:
            out(
                f"cosigned {clean(result.origin)} at size {result.size} by {clean(result.witness)} "
                f"(proven from size {result.old_size})"
            )
        elif args.once:
            out(f"up to date {clean(result.origin)} at size {result.size} by {clean(result.witness)}")

    if args.once:
        return 0 if push_once(config, timeout=args.timeout, report=report) else 1
    if not config.witnesses:
        return 0 if push_once(config) else 1  # says what to set
    stop = threading.Event()
    _on_stop(stop, [])
    out(
        f"pushing checkpoints to {len(config.witnesses)} witness(es) every {args.interval:g} s (Ctrl-C stops)"
    )
    push_forever(config, stop=stop, interval=args.interval, timeout=args.timeout, report=report)
    out("witness push stopped")
    return 0
