"""``liuhen export``: write auditor bundles (see :mod:`ledger.wire.bundle`) from the store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import fastavro

from ledger.errors import ConfigurationError, NotFound
from ledger.ingest.store import LedgerStore
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.bundle import LogPart, Manifest, entry_record, entry_schema, file_digest
from ledger.wire.format import StoredEntry
from ledger.wire.keyring import KEY_EVENTS
from ledger.wire.keys import PublicKey
from ledger.wire.merkle import inclusion_proof

Progress = Callable[[str], None]
Selector = Callable[[str, Mapping[str, Any]], bool]
"""Chooses entries for a selective bundle from their event type and decoded record."""


def _prepare(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ConfigurationError(f"{out} exists and is not empty; export into a new directory")
    (out / "keys").mkdir(parents=True, exist_ok=True)


def _write_checkpoints(path: Path, store: LedgerStore, origin: str, sizes: Iterable[int] | None) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        wanted = None if sizes is None else set(sizes)
        for size, note in store.checkpoints(origin):
            if wanted is not None and size not in wanted:
                continue
            cosignatures = [line.decode() for line in store.cosignatures(origin, size)]
            out.write(json.dumps({"size": size, "note": note.decode(), "cosignatures": cosignatures}) + "\n")
            count += 1
    return count


def _finish(
    out: Path, manifest: Manifest, ledger_keys: Iterable[PublicKey], rotations: list[bytes]
) -> Manifest:
    (out / "keys" / "ledger.pub").write_text("".join(key.verifier_text + "\n" for key in ledger_keys))
    with (out / "keys" / "rotations.jsonl").open("w", encoding="utf-8") as stream:
        for note in rotations:
            stream.write(json.dumps({"note": note.decode()}) + "\n")
    for path in sorted(out.rglob("*")):
        if path.is_file() and path.name != "manifest.json":
            manifest.files[str(path.relative_to(out))] = file_digest(path)
    (out / "manifest.json").write_text(manifest.to_json() + "\n", encoding="utf-8")
    return manifest


def _counting(
    entries: Iterator[StoredEntry], origin: str, progress: Progress | None
) -> Iterator[StoredEntry]:
    for n, stored in enumerate(entries, start=1):
        if progress is not None and n % 200_000 == 0:
            progress(f"export: {origin}: {n} entries")
        yield stored


def export_full(
    store: LedgerStore, out: Path, *, ledger_keys: Iterable[PublicKey], progress: Progress | None = None
) -> Manifest:
    """Every entry and checkpoint of every log."""
    _prepare(out)
    manifest = Manifest(kind="full", logs=[], created_at=datetime.now(UTC).isoformat())
    schema = entry_schema()
    for n, origin in enumerate(store.origins()):
        directory = out / "logs" / str(n)
        directory.mkdir(parents=True)
        size = store.head(origin).size
        with (directory / "entries.avro").open("wb") as stream:
            records = (entry_record(e) for e in _counting(store.entries(origin), origin, progress))
            fastavro.writer(stream, schema, records, metadata={"liuhen.origin": origin})
        _write_checkpoints(directory / "checkpoints.jsonl", store, origin, None)
        manifest.logs.append(LogPart(origin, f"logs/{n}", size, 0, size - 1))
    return _finish(out, manifest, ledger_keys, store.rotations())


def export_selective(
    store: LedgerStore,
    out: Path,
    *,
    select: Selector,
    selection: Mapping[str, Any],
    ledger_keys: Iterable[PublicKey],
    progress: Progress | None = None,
) -> Manifest:
    """Only the entries ``select`` chooses (by scanning every log), each with an inclusion proof.

    The log's source-key registry entries come along (with their own proofs) so that the
    auditor can check the selected entries' source signatures.
    """
    registry = SchemaRegistry.load()

    def chosen(origin: str, size: int) -> list[StoredEntry]:
        found = []
        for stored in _counting(store.entries(origin, stop=size), origin, progress):
            signed = SignedEvent.decode(stored.entry)
            event_type, record = registry.decode(signed.schema, signed.body)
            if event_type.name not in KEY_EVENTS and select(event_type.name, record):
                found.append(stored)
        return found

    return _write_selective(store, out, chosen, selection, ledger_keys)


def export_positions(
    store: LedgerStore,
    out: Path,
    *,
    positions: Iterable[tuple[str, int]],
    selection: Mapping[str, Any],
    ledger_keys: Iterable[PublicKey],
) -> Manifest:
    """Exactly the entries at ``positions`` (e.g. a violation's evidence), each with an inclusion proof."""
    wanted: dict[str, set[int]] = {}
    for origin, index in positions:
        wanted.setdefault(origin, set()).add(index)

    def chosen(origin: str, size: int) -> list[StoredEntry]:
        found = []
        for index in sorted(i for i in wanted.get(origin, ()) if i < size):
            stored = store.entry(origin, index)
            if stored is not None:
                found.append(stored)
        return found

    return _write_selective(store, out, chosen, selection, ledger_keys)


def _write_selective(
    store: LedgerStore,
    out: Path,
    choose: Callable[[str, int], list[StoredEntry]],
    selection: Mapping[str, Any],
    ledger_keys: Iterable[PublicKey],
) -> Manifest:
    _prepare(out)
    manifest = Manifest(
        kind="selective", logs=[], created_at=datetime.now(UTC).isoformat(), selection=dict(selection)
    )
    schema = entry_schema()
    for n, origin in enumerate(store.origins()):
        latest = store.latest_checkpoint(origin)
        if latest is None:
            continue
        size = latest[0]
        picked = choose(origin, size)
        if not picked:
            continue
        # The registry entries that registered, rotated or revoked source keys (one before each change).
        registry_indices = {change.from_index - 1 for change in store.key_changes(origin)}
        entries = {e.index: e for e in picked}
        for index in sorted(i for i in registry_indices if i < size and i not in entries):
            stored = store.entry(origin, index)
            if stored is not None:
                entries[index] = stored
        ordered = [entries[i] for i in sorted(entries)]
        directory = out / "logs" / str(n)
        directory.mkdir(parents=True)
        with (directory / "entries.avro").open("wb") as stream:
            fastavro.writer(
                stream, schema, (entry_record(e) for e in ordered), metadata={"liuhen.origin": origin}
            )
        with (directory / "proofs.jsonl").open("w", encoding="utf-8") as proofs:
            for stored in ordered:
                proof = store.with_nodes(origin, partial(inclusion_proof, stored.index, size))
                proofs.write(
                    json.dumps({"index": stored.index, "size": size, "proof": [h.hex() for h in proof]})
                    + "\n"
                )
        _write_checkpoints(directory / "checkpoints.jsonl", store, origin, [size])
        manifest.logs.append(LogPart(origin, f"logs/{n}", len(ordered), ordered[0].index, ordered[-1].index))
    if not manifest.logs:
        raise NotFound(f"no entry under a signed checkpoint matches {dict(selection)}")
    return _finish(out, manifest, ledger_keys, store.rotations())


def by_case(number: str) -> Selector:
    """Everything done under one case or document number, or one Art. 14 application."""

    def select(event_type: str, record: Mapping[str, Any]) -> bool:
        access = record.get("access") or {}
        return number in (
            record.get("case_number"),
            record.get("application_id"),
            access.get("case_number"),
            access.get("application_id"),
        )

    return select


def by_actor(user_id: str, start: datetime | None, end: datetime | None) -> Selector:
    """Everything one person did, optionally within ``[start, end)`` of the events' own time."""

    def select(event_type: str, record: Mapping[str, Any]) -> bool:
        envelope = record["envelope"]
        if envelope["actor"]["user_id"] != user_id:
            return False
        when = envelope["occurred_at"]
        return (start is None or when >= start) and (end is None or when < end)

    return select
