"""``liuhen export``: write auditor bundles (see :mod:`ledger.wire.bundle`) from the store."""

from __future__ import annotations

import functools
import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import fastavro

from ledger.errors import ConfigurationError, Inconsistent, NotFound, NotIncluded
from ledger.ingest.store import LedgerStore
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.bundle import SELECTION_FILE, LogPart, Manifest, entry_record, entry_schema, file_digest
from ledger.wire.format import StoredEntry, leaf_hash
from ledger.wire.keyring import KEY_EVENTS
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.merkle import (
    NodeReader,
    consistency_proof,
    inclusion_proof,
    node_hash,
    nodes_needed,
    verify_consistency,
    verify_inclusion,
)
from ledger.wire.note import SignedCheckpoint
from ledger.wire.selection import Query, SearchedLog, Statement, matches

Progress = Callable[[str], None]


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
    query: Query,
    signer: SigningKey,
    progress: Progress | None = None,
) -> Manifest:
    """Only the entries ``query`` matches (by scanning every log), each with an inclusion proof.

    The log's source-key registry entries come along (with their own proofs) so that the
    auditor can check the selected entries' source signatures; the signed selection statement
    lists every match (:mod:`ledger.wire.selection`).
    """
    registry = SchemaRegistry.load()

    def chosen(origin: str, size: int) -> list[StoredEntry]:
        found = []
        for stored in _counting(store.entries(origin, stop=size), origin, progress):
            signed = SignedEvent.decode(stored.entry)
            event_type, record = registry.decode(signed.schema, signed.body)
            if event_type.name not in KEY_EVENTS and matches(query, event_type.name, record):
                found.append(stored)
        return found

    return _write_selective(store, out, chosen, query, signer)


def export_positions(
    store: LedgerStore,
    out: Path,
    *,
    positions: Iterable[tuple[str, int]],
    query: Query,
    signer: SigningKey,
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

    return _write_selective(store, out, chosen, query, signer)


def _write_selective(
    store: LedgerStore,
    out: Path,
    choose: Callable[[str, int], list[StoredEntry]],
    query: Query,
    signer: SigningKey,
) -> Manifest:
    """Each chosen entry with its inclusion proof in the first checkpoint that covers it.

    That checkpoint's signed time proves the entry was in the ledger by then; the log's checkpoint
    before it (included too) proves it was not yet. Each checkpoint used is proven consistent with
    the log's newest (``consistency.jsonl``), the one witnesses cosigned. Every proof is checked
    before it is written: a damaged store fails the export, naming the stored node at fault.
    """
    _prepare(out)
    manifest = Manifest(
        kind="selective", logs=[], created_at=datetime.now(UTC).isoformat(), selection=query.describe()
    )
    schema = entry_schema()
    searched: list[SearchedLog] = []
    matched: dict[str, tuple[int, ...]] = {}
    for n, origin in enumerate(store.origins()):
        notes = dict(store.checkpoints(origin))
        if not notes:
            continue
        sizes = sorted(notes)
        root = functools.cache(
            lambda size, notes=notes: SignedCheckpoint.parse(notes[size]).checkpoint.root_hash
        )
        searched.append(SearchedLog(origin, sizes[-1], root(sizes[-1])))
        picked = choose(origin, sizes[-1])
        if not picked:
            continue
        matched[origin] = tuple(e.index for e in picked)
        # The registry entries that registered, rotated or revoked source keys (one before each change).
        registry_indices = {change.from_index - 1 for change in store.key_changes(origin)}
        entries = {e.index: e for e in picked}
        for index in sorted(i for i in registry_indices if i < sizes[-1] and i not in entries):
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
        used: set[int] = {sizes[-1]}
        with (directory / "proofs.jsonl").open("w", encoding="utf-8") as proofs:
            for stored in ordered:
                at = bisect_right(sizes, stored.index)  # the first checkpoint covering the entry
                size = sizes[at]
                used |= {size, *sizes[at - 1 : at]}
                proof = checked_proof(store, origin, stored, size, root(size))
                proofs.write(
                    json.dumps({"index": stored.index, "size": size, "proof": [h.hex() for h in proof]})
                    + "\n"
                )
        newest = sizes[-1]
        with (directory / "consistency.jsonl").open("w", encoding="utf-8") as lines:
            for size in sorted(used - {newest}):
                proof = checked_consistency(store, origin, (size, root(size)), (newest, root(newest)))
                lines.write(
                    json.dumps({"old": size, "new": newest, "proof": [h.hex() for h in proof]}) + "\n"
                )
        _write_checkpoints(directory / "checkpoints.jsonl", store, origin, used)
        manifest.logs.append(LogPart(origin, f"logs/{n}", len(ordered), ordered[0].index, ordered[-1].index))
    if not manifest.logs:
        raise NotFound(f"no entry under a signed checkpoint matches {query.line().removeprefix('query ')}")
    (out / SELECTION_FILE).write_bytes(Statement(query, tuple(searched), matched).sign(signer))
    return _finish(out, manifest, [signer.public], store.rotations())


def _roots(notes: dict[int, bytes]) -> Callable[[int], bytes]:
    """The root hash of a log's checkpoint of each size, each note parsed once, when first asked for."""

    @functools.cache
    def root(size: int) -> bytes:
        return SignedCheckpoint.parse(notes[size]).checkpoint.root_hash

    return root


def checked_proof(
    store: LedgerStore, origin: str, stored: StoredEntry, size: int, root: bytes
) -> list[bytes]:
    """The inclusion proof of ``stored`` in the log's checkpoint of ``size`` and ``root``, checked.

    Raises :class:`NotIncluded` naming the stored Merkle node that is not the hash of its children
    (found by descending from the proof's nodes), so a damaged store never ships a proof that fails.
    """
    proof = store.with_nodes(origin, partial(inclusion_proof, stored.index, size))
    try:
        verify_inclusion(leaf_hash(stored.entry), stored.index, size, proof, root)
    except NotIncluded as exc:
        raise NotIncluded(
            f"{origin}: the proof of entry {stored.index} in the checkpoint of size {size} does not "
            f"verify ({_damage(store, origin, partial(inclusion_proof, stored.index, size))}): the store "
            "is damaged; nothing was exported",
            index=exc.index,
            size=exc.size,
            expected=exc.expected,
            actual=exc.actual,
        ) from exc
    return proof


def checked_consistency(
    store: LedgerStore, origin: str, old: tuple[int, bytes], new: tuple[int, bytes]
) -> list[bytes]:
    """The consistency proof from the log's checkpoint ``old`` to ``new`` (size, root), checked."""
    (m, old_root), (n, new_root) = old, new
    proof = store.with_nodes(origin, partial(consistency_proof, m, n))
    try:
        verify_consistency(m, n, old_root, new_root, proof)
    except Inconsistent as exc:
        raise Inconsistent(
            f"{origin}: the checkpoints of size {m} and {n} are not proven one history by the store's "
            f"nodes ({_damage(store, origin, partial(consistency_proof, m, n))}): the store is damaged, "
            "or the ledger signed two histories; nothing was exported",
            old_size=m,
            new_size=n,
            old_root=old_root,
            new_root=new_root,
            proof=tuple(proof),
        ) from exc
    return proof


def _damage(store: LedgerStore, origin: str, prove: Callable[[NodeReader], object]) -> str:
    """Which stored node the proof ``prove`` reads is damaged, found by descending from its nodes."""
    bad = next(
        (found for height, index in nodes_needed(prove)
         if (found := _first_bad_node(store, origin, height, index)) is not None),
        None,
    )  # fmt: skip
    if bad is None:
        return "every stored node it reads is its children's hash: the checkpoint's root is not the log's"
    height, index = bad
    return (
        f"the stored Merkle node (height {height}, index {index}), kept with entry "
        f"{((index + 1) << height) - 1}, is not the hash of its two children"
    )


def _consistent(store: LedgerStore, origin: str, height: int, index: int) -> bool:
    """Whether the stored node ``(height, index)`` is the hash of its two children (a leaf always is)."""
    if height == 0:
        return True  # a leaf hash is computed from its entry, never stored
    children = (store.node(origin, height - 1, 2 * index), store.node(origin, height - 1, 2 * index + 1))
    return store.node(origin, height, index) == node_hash(*children)


def _first_bad_node(store: LedgerStore, origin: str, height: int, index: int) -> tuple[int, int] | None:
    """The damaged stored node at or under ``(height, index)``, if that node is not its children's hash.

    The damaged one is a node whose children are each the hash of theirs while it is not theirs.
    None if ``(height, index)`` is the hash of its children (then, hashes being collision resistant,
    so is everything under it).
    """
    if _consistent(store, origin, height, index):
        return None
    for child in (2 * index, 2 * index + 1):
        if not _consistent(store, origin, height - 1, child):
            return _first_bad_node(store, origin, height - 1, child)
    return height, index
