"""Auditor bundles: the on-disk format, written by ``liuhen export`` and read by the verifier.

A bundle is a directory::

    manifest.json                   what is in it (format, kind, logs, selection, file hashes)
    selection.note                  selective bundles only: the signed selection statement
                                    (:mod:`ledger.wire.selection`)
    keys/ledger.pub                 the ledger's public key(s) at export, verifier-key text, one a line
    logs/<n>/entries.avro           Avro container of liuhen.BundleEntry (schema embedded), by index
    logs/<n>/checkpoints.jsonl      {"size": n, "note": "<signed note>", "cosignatures": [...]} a line
    logs/<n>/proofs.jsonl           selective bundles only: {"index": i, "size": n, "proof": [hex...]}
    logs/<n>/consistency.jsonl      selective bundles only: {"old": m, "new": n, "proof": [hex...]}

``kind`` is ``full`` (every entry of each log from index 0, and every checkpoint) or
``selective`` (only the entries an investigation needs, each with an inclusion proof against
the first checkpoint that covers it, plus the log's source-key registry entries so that source
signatures can be checked; the checkpoints used, the one before each, and the log's newest, with
a consistency proof from each to the newest). Nothing in a bundle is trusted for being there:
trust comes from the ledger key the auditor holds, checkpoint signatures, hashes and proofs. The
manifest's file hashes only catch accidental damage early.

Imports only the standard library and ``fastavro``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastavro

from ledger.errors import BundleError
from ledger.wire.avro import load_schema_file
from ledger.wire.format import StoredEntry

FORMAT = "liuhen-bundle/1"
SELECTION_FILE = "selection.note"


def entry_schema() -> Any:
    """The parsed ``liuhen.BundleEntry`` schema."""
    from schemas import SCHEMA_DIR  # noqa: PLC0415 - keeps this importable from a bare checkout

    return load_schema_file(SCHEMA_DIR / "liuhen.BundleEntry.avsc")


@dataclass(frozen=True)
class LogPart:
    """One log's files in a bundle."""

    origin: str
    directory: str
    entries: int
    first_index: int
    last_index: int


@dataclass
class Manifest:
    """``manifest.json``."""

    kind: str
    logs: list[LogPart]
    created_at: str
    selection: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """The manifest as written to disk."""
        return json.dumps(
            {
                "format": FORMAT,
                "kind": self.kind,
                "created_at": self.created_at,
                "selection": self.selection,
                "logs": [vars(part) for part in self.logs],
                "files": self.files,
            },
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def load(cls, bundle: Path) -> Manifest:
        """Read and check ``manifest.json``; raise :class:`BundleError` naming what is wrong."""
        path = bundle / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BundleError(f"{bundle} is not a liuhen bundle: it has no manifest.json") from None
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {path}: {exc}") from exc
        if data.get("format") != FORMAT:
            raise BundleError(f"{path} is format {data.get('format')!r}; this verifier reads {FORMAT}")
        try:
            return cls(
                kind=data["kind"],
                logs=[LogPart(**part) for part in data["logs"]],
                created_at=data["created_at"],
                selection=data.get("selection", {}),
                files=data.get("files", {}),
            )
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{path} lacks or misnames a field: {exc}") from exc


def entry_record(stored: StoredEntry) -> dict[str, Any]:
    """The ``liuhen.BundleEntry`` record of a stored entry."""
    return {
        "index": stored.index,
        "kafka_offset": stored.kafka_offset,
        "ingested_at_us": stored.ingested_at_us,
        "chain_hash": stored.chain_hash,
        "entry": stored.entry,
    }


def file_digest(path: Path) -> str:
    """SHA-256 hex of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """The ``liuhen.BundleEntry`` records of an entries file, in file order."""
    try:
        with path.open("rb") as stream:
            for record in fastavro.reader(stream):
                if not isinstance(record, dict):
                    raise BundleError(f"{path} holds something other than liuhen.BundleEntry records")
                yield record
    except FileNotFoundError:
        raise BundleError(f"bundle file {path} is missing") from None
    except (ValueError, EOFError, OSError) as exc:
        raise BundleError(f"{path} is not a readable Avro container: {exc}") from exc


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a ``.jsonl`` file (missing file: none)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                raise BundleError(f"{path} line {number} is not JSON: {exc}") from exc
