"""The verifier's command line, shared by ``liuhen verify`` and ``python -m ledger.verify``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from ledger.errors import BundleError, ConfigurationError, LedgerError
from ledger.verify.bundle import Material
from ledger.verify.logcheck import Trust, verify_logs
from ledger.verify.proof import ProofReport, check_tlog_proof
from ledger.verify.report import BundleInvalid, Problem, Report
from ledger.verify.selection import check_complete, rerunnable
from ledger.wire.avro import SchemaRegistry
from ledger.wire.keys import PublicKey
from ledger.wire.note import SignedCheckpoint, cosigner_from_verifier_text
from ledger.wire.proof import TlogProof
from ledger.wire.rotation import KeyHistory

MAX_ARGUMENT_FILE = 1 << 20
"""Bytes a key or kept checkpoint file may hold (either takes a few hundred)."""


def _read_file(path: Path, what: str) -> bytes:
    """A key or checkpoint file the auditor names, refused if it is larger than any of them."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_ARGUMENT_FILE + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_ARGUMENT_FILE:
        raise ConfigurationError(f"the {what} {path} is larger than {MAX_ARGUMENT_FILE >> 20} MiB")
    return data


def _load_key(text: str, *, witness: bool = False) -> PublicKey:
    """A key from a file or from text; a witness key may be cosigner text (type 0x04) or Ed25519 text."""
    path = Path(text)
    if path.exists():
        try:
            value = _read_file(path, "key file").decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"cannot read the key file {path}: {exc}") from exc
    elif "+" not in text:
        raise ConfigurationError(f"no key file {path} (and {text!r} is not verifier-key text either)")
    else:
        value = text
    if witness:
        try:
            return cosigner_from_verifier_text(value)
        except LedgerError:
            pass  # an ordinary Ed25519 verifier key names the same key
    return PublicKey.from_verifier_text(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The verifier's options (shared by ``liuhen verify`` and ``python -m ledger.verify``)."""
    parser.add_argument("bundle", type=Path, nargs="?", help="bundle directory written by 'liuhen export'")
    parser.add_argument(
        "--tlog-proof",
        type=Path,
        metavar="FILE",
        help="instead of a bundle: one entry's c2sp.org/tlog-proof (from 'liuhen prove --tlog-proof')",
    )
    parser.add_argument(
        "--key", action="append", default=[], required=True, help="ledger public key (file or text)"
    )
    parser.add_argument("--witness", action="append", default=[], help="witness cosigner key (file or text)")
    parser.add_argument("--quorum", type=int, help="witness cosignatures required (default: every --witness)")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        type=Path,
        help="a signed checkpoint you kept from before",
    )
    parser.add_argument(
        "--check-selection",
        type=Path,
        metavar="STATEMENT",
        help="with a full bundle: run a selective bundle's signed selection statement (its selection.note) "
        "over the whole logs, and report any matching entry it leaves out",
    )
    parser.add_argument(
        "--skip-signatures",
        action="store_true",
        help="full bundles: check only indices, chain, Merkle roots and checkpoints (no source signatures, "
        "no sequence numbers); several times faster",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def trust_from(args: argparse.Namespace) -> Trust:
    """The :class:`Trust` the options describe."""
    witnesses = [_load_key(w, witness=True) for w in args.witness]
    if args.quorum is not None and not 0 <= args.quorum <= len(witnesses):
        raise ConfigurationError(f"--quorum {args.quorum} needs at least that many --witness keys")
    return Trust(
        ledger_keys=[_load_key(k) for k in args.key],
        witnesses=witnesses,
        quorum=len(witnesses) if args.quorum is None else args.quorum,
        kept=[_kept_checkpoint(path) for path in args.checkpoint],
    )


def _kept_checkpoint(path: Path) -> SignedCheckpoint:
    note = _read_file(path, "kept checkpoint")
    try:
        return SignedCheckpoint.parse(note)
    except LedgerError as exc:
        raise ConfigurationError(f"the kept checkpoint {path} is not a signed checkpoint: {exc}") from exc


def print_report(report: Report | ProofReport, *, as_json: bool) -> None:
    """Write the report (of a bundle, or of a tlog-proof) to stdout."""
    sys.stdout.write((report.to_json() if as_json else report.to_text()) + "\n")


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


Sources = Callable[[], Material]

EXIT_STATUS = (
    "Exit status: 0 intact; 1 invalid (integrity problems, each named); 2 unreadable bundle or usage "
    "error; 3 intact, with source findings (gaps or repeats in a source's sequence numbers: events "
    "a platform numbered that never reached the ledger). Problems win over findings: 1."
)


def _fail(message: str) -> int:
    """Write ``message`` as one line on stderr (whatever the bundle's names hold); exit status 2."""
    line = "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(message.splitlines()))
    sys.stderr.write(f"liuhen verify: {line}\n")
    return 2


def run(args: argparse.Namespace, sources: Sources, *, last_guard: bool = True) -> int:
    """Verify and print; return the exit status (see :data:`EXIT_STATUS`).

    With ``last_guard`` (bundles), an exception no reader translated is reported as a bug in one
    line, exit status 2. ``liuhen verify --live`` leaves it to the CLI's boundary, which names the
    event store's own failures.
    """
    progress = None if args.quiet or args.json else _progress
    try:
        trust = trust_from(args)
        statement = None if args.check_selection is None else _statement(args.check_selection)
        material = sources()
        _full_for_selection(statement, material)
        report = verify_logs(
            material.logs,
            trust,
            bundle=material.name,
            kind=material.kind,
            rotations=material.rotations,
            damaged=material.damaged,
            check_signatures=not args.skip_signatures,
            progress=progress,
            selection=material.selection,
        )
        if statement is not None:
            report.problems += _check_selection(statement, material, trust)
    except BundleInvalid as invalid:
        print_report(invalid.report, as_json=args.json)
        return 1
    except BundleError as exc:
        return _fail(f"cannot read the bundle: {exc}")
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return _fail(f"cannot read the bundle: {exc.strerror or exc}{where}")
    except LedgerError as exc:
        return _fail(str(exc))
    except Exception as exc:  # the last guard: readers raise BundleError for any bundle, so this is a bug
        if not last_guard:
            raise
        return _fail(
            f"unexpected {type(exc).__name__} ({exc}): this is a bug in the verifier, please report it "
            "with the bundle; the bundle was not verified"
        )
    print_report(report, as_json=args.json)
    return exit_status(report)


def run_proof(args: argparse.Namespace) -> int:
    """Check a c2sp.org/tlog-proof file and print; 0 valid, 1 invalid, 2 unreadable or usage error."""
    if args.bundle is not None:
        return _fail("give a bundle folder or --tlog-proof, not both")
    try:
        trust = trust_from(args)
        proof = TlogProof.parse(_read_file(args.tlog_proof, "proof file"))
    except LedgerError as exc:
        return _fail(f"{args.tlog_proof}: {exc}")
    report = check_tlog_proof(proof, trust)
    print_report(report, as_json=args.json)
    return 0 if report.valid else 1


def exit_status(report: Report) -> int:
    """1 for problems, else 3 for source findings, else 0 (see :data:`EXIT_STATUS`)."""
    if not report.valid:
        return 1
    return 3 if report.findings else 0


def _statement(path: Path) -> bytes:
    """The selection statement ``--check-selection`` names, refused before any verifying.

    Refused if it cannot be checked: unreadable, not a statement, or a violation's evidence (no
    query to run again).
    """
    data = _read_file(path, "selection statement")
    try:
        rerunnable(data)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    return data


def _full_for_selection(statement: bytes | None, material: Material) -> None:
    if statement is not None and material.kind != "full":
        raise ConfigurationError("--check-selection needs a full bundle: the query is run over whole logs")


def _check_selection(data: bytes, material: Material, trust: Trust) -> list[Problem]:
    """Run a selection statement's query over a verified full bundle (``--check-selection``)."""
    history, _ = KeyHistory.build(trust.ledger_keys, material.rotations)
    roots = {
        log.origin: {
            size: SignedCheckpoint.parse(note).checkpoint.root_hash for size, note, _ in log.checkpoints
        }
        for log in material.logs
    }
    entries = {log.origin: log.entries() for log in material.logs}
    return check_complete(data, history.all_keys, entries, roots, SchemaRegistry.load())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ledger.verify``: the standalone auditor's verifier."""
    parser = argparse.ArgumentParser(
        prog="python -m ledger.verify",
        description="Verify a liuhen auditor bundle offline.",
        epilog=EXIT_STATUS,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.tlog_proof is not None:
        return run_proof(args)
    if args.bundle is None:
        parser.error("a bundle directory is required (or --tlog-proof FILE)")

    return run(args, partial(Material.bundle, args.bundle))
