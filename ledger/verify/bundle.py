"""Reading a bundle directory for the verifier: its manifest, logs, checkpoints, proofs and rotations."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from ledger.errors import BundleError
from ledger.verify.logcheck import PROCESSES_AFTER, LogSource, Progress, Trust, verify_logs
from ledger.verify.report import Report
from ledger.wire.bundle import (
    Manifest,
    bundle_file,
    file_digest,
    read_checkpoints,
    read_consistency,
    read_entries,
    read_proofs,
    read_rotations,
    read_selection,
)


def bundle_rotations(bundle: Path) -> list[bytes]:
    """The ledger key rotations a bundle carries (``keys/rotations.jsonl``), in order."""
    return read_rotations(bundle_file(bundle, "keys/rotations.jsonl"))


def bundle_sources(bundle: Path) -> tuple[Manifest, list[LogSource]]:
    """The logs of a bundle directory, ready to verify (entries are read, streamed, when verified)."""
    manifest = Manifest.load(bundle)
    sources = []
    for part in manifest.logs:
        bundle_file(bundle, part.directory)
        checkpoints = read_checkpoints(bundle_file(bundle, f"{part.directory}/checkpoints.jsonl"))
        proofs = consistency = None
        if manifest.kind == "selective":
            proofs = read_proofs(bundle_file(bundle, f"{part.directory}/proofs.jsonl"))
            consistency = read_consistency(bundle_file(bundle, f"{part.directory}/consistency.jsonl"))
        entries = partial(read_entries, bundle_file(bundle, f"{part.directory}/entries.avro"))
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
        files = manifest.files.items()
        damaged = [name for name, digest in files if _digest_or_none(bundle_file(path, name)) != digest]
        return cls(str(path), manifest.kind, logs, bundle_rotations(path), damaged, read_selection(path))


def _digest_or_none(path: Path) -> str | None:
    """The file's SHA-256, or None if it is missing or is not a regular file."""
    try:
        return file_digest(path) if path.is_file() else None
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from exc
