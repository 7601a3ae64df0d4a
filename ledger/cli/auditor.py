"""The auditors' verbs: export, verify, prove, consistency.

``liuhen verify BUNDLE`` runs with liuhen's core alone (cryptography and fastavro), like
``python -m ledger.verify``; the other verbs read the operator's store and need the server extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from ledger.app.config import Config
from ledger.cli.output import note, out
from ledger.errors import ConfigurationError, UsageError
from ledger.verify import Material, run, run_proof


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def export(args: argparse.Namespace, config: Config) -> int:
    """``liuhen export``: a whole-ledger or selective bundle for auditors."""
    from ledger.app.audit import Selection, export_bundle  # noqa: PLC0415 - the server extra, not for verify

    selection = Selection(
        case=args.case, actor=args.actor, since=args.since, until=args.until, violation=args.violation
    )
    manifest = export_bundle(config, args.out, selection, progress=note)
    entries = sum(part.entries for part in manifest.logs)
    out(f"wrote {manifest.kind} bundle {args.out}: {len(manifest.logs)} log(s), {entries} entries")
    out(f"verify offline: python -m ledger.verify {args.out} --key {config.keys_dir / 'ledger.pub'}")
    return 0


def verify(args: argparse.Namespace, config: Config) -> int:
    """``liuhen verify``: the offline verifier, on a bundle or (``--live``) on the running store."""
    if args.tlog_proof is not None:
        if args.live:
            raise UsageError("give a proof file or --live, not both")
        return run_proof(args)
    if args.live:
        if args.bundle is not None:
            raise UsageError("give a bundle folder or --live, not both")
        from ledger.app.audit import live_material  # noqa: PLC0415 - the server extra, only for --live

        return run(args, partial(live_material, config), last_guard=False)
    if args.bundle is None:
        raise UsageError("name a bundle folder, or use --live to check the running store")
    return run(args, partial(Material.bundle, args.bundle))


def prove(args: argparse.Namespace, config: Config) -> int:
    """``liuhen prove EVENT_ID``: inclusion proof of one event against the latest checkpoint."""
    from ledger.app.audit import prove_event  # noqa: PLC0415 - the server extra, not for verify

    proof = prove_event(config, args.event_id)
    if args.tlog_proof:
        out(proof["tlog_proof"].removesuffix("\n"))
        return 0
    if args.json:
        out(json.dumps(proof, indent=2))
        return 0
    out(f"event {args.event_id} is entry {proof['index']} of {proof['origin']}")
    out(f"leaf hash   {proof['leaf_hash']}")
    out(f"proof ({len(proof['proof'])} hashes, RFC 9162 inclusion in tree size {proof['size']}):")
    for digest in proof["proof"]:
        out(f"  {digest}")
    out("checkpoint:")
    out(proof["checkpoint"].rstrip("\n"))
    out("verified: the proof leads to the signed root")
    return 0


def checkpoint(args: argparse.Namespace, config: Config) -> int:
    """``liuhen checkpoint``: each log's newest checkpoint, whole, to stdout or one file per log."""
    from ledger.app.audit import cosigned_checkpoints  # noqa: PLC0415 - the server extra, not for verify

    notes = cosigned_checkpoints(config, args.origin)
    if args.out is None:
        for signed in notes:
            sys.stdout.write(signed.encode().decode())
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for signed in notes:
        name = signed.checkpoint.origin.replace("/", "_")
        path = args.out / f"{name}.{signed.checkpoint.tree_size}.note"
        path.write_bytes(signed.encode())
        out(f"wrote {path} ({len(signed.signatures) - 1} cosignature(s))")
    return 0


def consistency(args: argparse.Namespace, config: Config) -> int:
    """``liuhen consistency OLD NEW``: prove a newer checkpoint extends an older one."""
    from ledger.app.audit import prove_consistency  # noqa: PLC0415 - the server extra, not for verify

    result = prove_consistency(config, _read(args.old, "checkpoint"), _read(args.new, "checkpoint"))
    if args.json:
        out(json.dumps(result, indent=2))
        return 0
    out(f"{result['origin']}: size {result['old_size']} -> {result['new_size']}")
    for digest in result["proof"]:
        out(f"  {digest}")
    out("verified: the newer checkpoint extends the older one (history was not rewritten)")
    return 0
