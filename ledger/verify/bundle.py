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
    read_entries,
    read_proofs,
    read_rotations,
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
        proofs = None
        if manifest.kind == "selective":
            proofs = read_proofs(bundle_file(bundle, f"{part.directory}/proofs.jsonl"))
        entries = partial(read_entries, bundle_file(bundle, f"{part.directory}/entries.avro"))
        sources.append(LogSource(part.origin, entries, checkpoints, proofs, size=part.entries))
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
    manifest, sources = bundle_sources(bundle)
    return verify_logs(
        sources,
        trust,
        bundle=str(bundle),
        kind=manifest.kind,
        check_signatures=check_signatures,
        progress=progress,
        processes_after=processes_after,
    )


@dataclass(frozen=True)
class Material:
    """What to verify: its name, kind, logs, ledger key rotations, and files the manifest says are damaged."""

    name: str
    kind: str
    logs: list[LogSource]
    rotations: list[bytes] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @classmethod
    def bundle(cls, path: Path) -> Material:
        """A bundle directory."""
        manifest, logs = bundle_sources(path)
        files = manifest.files.items()
        damaged = [name for name, digest in files if _digest_or_none(bundle_file(path, name)) != digest]
        return cls(str(path), manifest.kind, logs, bundle_rotations(path), damaged)


def _digest_or_none(path: Path) -> str | None:
    """The file's SHA-256, or None if it is missing or is not a regular file."""
    try:
        return file_digest(path) if path.is_file() else None
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from exc
