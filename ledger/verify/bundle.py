"""Reading a bundle directory for the verifier: its manifest, logs, checkpoints, proofs and rotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ledger.errors import BundleError
from ledger.verify.logcheck import PROCESSES_AFTER, LogSource, Progress, Trust, verify_logs
from ledger.verify.report import Report
from ledger.wire.bundle import SELECTION_FILE, Manifest, file_digest, read_entries, read_jsonl


def bundle_rotations(bundle: Path) -> list[bytes]:
    """The ledger key rotations a bundle carries (``keys/rotations.jsonl``), in order."""
    return [str(row["note"]).encode() for row in read_jsonl(bundle / "keys" / "rotations.jsonl")]


def bundle_sources(bundle: Path) -> tuple[Manifest, list[LogSource]]:
    """The logs of a bundle directory, ready to verify."""
    manifest = Manifest.load(bundle)
    sources = []
    for part in manifest.logs:
        directory = bundle / part.directory
        checkpoints = [
            (int(row["size"]), str(row["note"]).encode(), [str(c) for c in row.get("cosignatures", [])])
            for row in read_jsonl(directory / "checkpoints.jsonl")
        ]
        proofs = consistency = None
        if manifest.kind == "selective":
            proofs = {
                int(row["index"]): (int(row["size"]), [bytes.fromhex(h) for h in row["proof"]])
                for row in read_jsonl(directory / "proofs.jsonl")
            }
            consistency = {
                (int(row["old"]), int(row["new"])): [bytes.fromhex(h) for h in row["proof"]]
                for row in read_jsonl(directory / "consistency.jsonl")
            }
        path = directory / "entries.avro"
        if not path.exists():
            raise BundleError(f"bundle file {path} is missing")
        entries = partial(read_entries, path)
        sources.append(
            LogSource(part.origin, entries, checkpoints, proofs, size=part.entries, consistency=consistency)
        )
    return manifest, sources


def verify_bundle(
    bundle: Path,
    trust: Trust,
    *,
    check_signatures: bool = True,
    progress: Progress | None = None,
    processes_after: int = PROCESSES_AFTER,
) -> Report:
    """Verify a bundle directory (see the module docstring); raise unless everything holds."""
    material = Material.bundle(bundle)
    return verify_logs(
        material.logs,
        trust,
        bundle=str(bundle),
        kind=material.kind,
        rotations=material.rotations,
        damaged=material.damaged,
        check_signatures=check_signatures,
        progress=progress,
        processes_after=processes_after,
        selection=material.selection,
    )


@dataclass(frozen=True)
class Material:
    """What to verify: its name, kind, logs, ledger key rotations, and files the manifest says are damaged."""

    name: str
    kind: str
    logs: list[LogSource]
    rotations: list[bytes] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    selection: bytes | None = None
    """A selective bundle's signed selection statement, if it carries one."""

    @classmethod
    def bundle(cls, path: Path) -> Material:
        """A bundle directory."""
        manifest, logs = bundle_sources(path)
        damaged = [name for name, digest in manifest.files.items() if _digest_or_none(path / name) != digest]
        statement = path / SELECTION_FILE
        selection = statement.read_bytes() if statement.is_file() else None
        return cls(str(path), manifest.kind, logs, bundle_rotations(path), damaged, selection)


def _digest_or_none(path: Path) -> str | None:
    return file_digest(path) if path.is_file() else None
