"""The auditors' use cases on the operator's store: bundles, proofs, the live check.

Every proof is checked against its signed checkpoint before it is handed out, and a bundle is
written into a folder of its own and moved into place only once complete.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from ledger.app.assembly import open_store, open_views
from ledger.app.config import Config
from ledger.app.keys import ledger_key, local_ledger_keys
from ledger.errors import ConfigurationError, NotFound, UsageError
from ledger.ingest.export import export_full, export_positions, export_selective
from ledger.ingest.store import LedgerStore
from ledger.verify import LogSource, Material
from ledger.wire.bundle import Manifest, entry_record
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.merkle import consistency_proof, inclusion_proof, verify_consistency
from ledger.wire.note import SignedCheckpoint
from ledger.wire.proof import TlogProof
from ledger.wire.selection import Query

Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class Selection:
    """What a selective bundle holds: one case, one person (in a period), or one violation's evidence."""

    case: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    violation: int | None = None

    def __post_init__(self) -> None:
        chosen = [name for name, value in (("--case", self.case), ("--actor", self.actor),
                                           ("--violation", self.violation)) if value is not None]  # fmt: skip
        if len(chosen) > 1:
            raise UsageError(f"{' and '.join(chosen)} select different bundles: choose one")
        if (self.since is not None or self.until is not None) and self.actor is None:
            raise UsageError("--from and --to bound what one person did: give --actor too")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise UsageError(f"--from {self.since.isoformat()} is not before --to {self.until.isoformat()}")

    @property
    def whole(self) -> bool:
        """Whether nothing is selected: the bundle holds the whole ledger."""
        return self.case is None and self.actor is None and self.violation is None


def export_bundle(config: Config, out: Path, selection: Selection, *, progress: Progress = None) -> Manifest:
    """Write a bundle into ``out`` (which must not exist, or be empty); nothing is left of a failed one."""
    key = ledger_key(config)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigurationError(f"{out} exists and is not an empty folder; export into a new folder")
    partial_dir = out.with_name(f".{out.name}.partial-{os.getpid()}")
    store = open_store(config)
    try:
        manifest = _export(config, store, partial_dir, selection=selection, key=key, progress=progress)
        if out.exists():
            out.rmdir()
        partial_dir.rename(out)
    except OSError as exc:
        where = exc.filename or out
        raise ConfigurationError(f"cannot write the bundle to {where}: {exc.strerror or exc}") from exc
    finally:
        store.close()
        shutil.rmtree(partial_dir, ignore_errors=True)
    return manifest


def _export(
    config: Config,
    store: LedgerStore,
    out: Path,
    *,
    selection: Selection,
    key: SigningKey,
    progress: Progress,
) -> Manifest:
    if selection.violation is not None:
        views = open_views(config)
        try:
            row = views.execute(
                "SELECT rule, evidence FROM violations WHERE id = ?", [selection.violation]
            ).fetchone()
        finally:
            views.close()
        if row is None:
            raise NotFound(f"no violation {selection.violation}: see 'liuhen violations'")
        return export_positions(
            store,
            out,
            positions=[(origin, index) for origin, index in json.loads(row[1])],
            query=Query("evidence", violation=selection.violation, rule=row[0]),
            signer=key,
        )
    if selection.case is not None:
        query = Query("case", number=selection.case)
    elif selection.actor is not None:
        query = Query("actor", user_id=selection.actor, start=selection.since, end=selection.until)
    else:
        return export_full(store, out, ledger_keys=[key.public], progress=progress)
    try:
        return export_selective(store, out, query=query, signer=key, progress=progress)
    except NotFound as exc:
        raise NotFound(f"{exc}: nothing to export") from exc


# -- the live check -------------------------------------------------------------------------------


def live_material(config: Config) -> Material:
    """The configured store's logs and key rotations as the verifier reads them (``verify --live``).

    Checkpoints and rotations are read now, and the store closed again; each log's entries are
    read when the verifier iterates them, through a store opened for that and closed when they
    have been read (or the reading stops). On PostgreSQL, a store left open keeps its pool of
    connections until the garbage collector finds it.
    """
    store = open_store(config)
    try:
        sources = []
        for origin in store.origins():
            # Every entry the log holds, whatever its checkpoints say. A batch's entries and its
            # checkpoint are committed together, so the head read first has its checkpoint when
            # they are read next; later batches' are left out with their entries.
            size = store.head(origin).size
            checkpoints = [
                (at, note, [line.decode() for line in store.cosignatures(origin, at)])
                for at, note in store.checkpoints(origin)
                if at <= size
            ]
            batches = [at for at in store.batch_sizes(origin) if at <= size]
            records = partial(_live_records, config, origin, size)
            sources.append(LogSource(origin, records, checkpoints, size=size, batches=batches))
        return Material("live store", "full", sources, store.rotations())
    finally:
        store.close()


def _live_records(config: Config, origin: str, size: int) -> Iterator[dict[str, Any]]:
    """The first ``size`` entries of a log as bundle records, each with its stored Merkle nodes.

    The live check compares the nodes with the entries; the store stays open while they are read.
    """
    store = open_store(config)
    try:
        for stored in store.entries(origin, stop=size):
            record = entry_record(stored)
            record["nodes"] = stored.nodes
            yield record
    finally:
        store.close()


# -- proofs ---------------------------------------------------------------------------------------


def _latest(store: LedgerStore, origin: str, keys: list[PublicKey]) -> tuple[int, SignedCheckpoint]:
    """A log's newest checkpoint, verified with ``keys``, whole: with its witnesses' cosignatures."""
    latest = store.latest_checkpoint(origin)
    if latest is None:
        raise NotFound(f"{origin} has no checkpoint yet: run 'liuhen ingest' first")
    size, signed = latest[0], SignedCheckpoint.parse(latest[1])
    signed.verify_log(ledger_keys=keys)
    for line in store.cosignatures(origin, size):
        signed = signed.with_signature(line.decode())
    return size, signed


def cosigned_checkpoints(config: Config, origin: str | None = None) -> list[SignedCheckpoint]:
    """Each log's newest checkpoint (or only ``origin``'s), checked, with its witnesses' cosignatures."""
    keys = local_ledger_keys(config)
    with closing(open_store(config)) as store:
        origins = store.origins()
        if origin is not None and origin not in origins:
            raise NotFound(f"the ledger has no log {origin!r} (its logs: {', '.join(origins) or 'none'})")
        return [_latest(store, name, keys)[1] for name in ([origin] if origin is not None else origins)]


def prove_event(config: Config, event_id: str) -> dict[str, Any]:
    """Inclusion proof of an event against its log's newest checkpoint, checked before it is returned."""
    try:
        wanted = uuid.UUID(event_id)
    except ValueError:
        raise UsageError(f"{event_id!r} is not an event id (a UUID)") from None
    keys = local_ledger_keys(config)
    store = open_store(config)
    try:
        seen = store.seen(wanted)
        if seen is None:
            raise NotFound(f"event {event_id} is not in the ledger")
        size, signed = _latest(store, seen.origin, keys)  # the note written out whole, cosigned
        if seen.index >= size:
            raise NotFound(
                f"event {event_id} is entry {seen.index}, not yet under a checkpoint (size {size})"
            )
        proof = store.with_nodes(seen.origin, partial(inclusion_proof, seen.index, size))
        entry = store.entry(seen.origin, seen.index)
        if entry is None:
            raise NotFound(f"event {event_id} is listed at entry {seen.index}, and the log does not hold it")
        tlog = TlogProof(seen.index, tuple(proof), signed, extra=entry.entry)
        leaf = tlog.verify()  # the stored entry, by the stored nodes, to the signed root
        return {
            "event_id": event_id,
            "origin": seen.origin,
            "index": seen.index,
            "leaf_hash": leaf.hex(),
            "size": size,
            "proof": [digest.hex() for digest in proof],
            "checkpoint": signed.encode().decode(),
            "tlog_proof": tlog.encode().decode(),
        }
    finally:
        store.close()


def prove_consistency(config: Config, old_note: bytes, new_note: bytes) -> dict[str, Any]:
    """Consistency proof between two signed checkpoints of one log, checked before it is returned."""
    keys = local_ledger_keys(config)
    old, new = SignedCheckpoint.parse(old_note), SignedCheckpoint.parse(new_note)
    for signed in (old, new):
        signed.verify_log(ledger_keys=keys)
    if old.checkpoint.origin != new.checkpoint.origin:
        raise UsageError(
            f"the two checkpoints are of different logs ({old.checkpoint.origin}, {new.checkpoint.origin})"
        )
    origin = old.checkpoint.origin
    m, n = old.checkpoint.tree_size, new.checkpoint.tree_size
    if m > n:
        raise UsageError(f"the first checkpoint (size {m}) is newer than the second (size {n}): swap them")
    store = open_store(config)
    try:
        if store.head(origin).size < n:
            raise NotFound(
                f"this ledger's {origin} holds fewer than {n} entries: not the ledger that signed them"
            )
        proof = store.with_nodes(origin, partial(consistency_proof, m, n))
    finally:
        store.close()
    verify_consistency(m, n, old.checkpoint.root_hash, new.checkpoint.root_hash, proof)
    return {"origin": origin, "old_size": m, "new_size": n, "proof": [digest.hex() for digest in proof]}
