"""One log's checks, streamed: indices, chain, checkpoints, Merkle roots, proofs, source signatures.

:func:`verify_logs` runs every check on each log of a bundle or of the live store (see
:mod:`ledger.verify` for what is checked) and raises :class:`~ledger.verify.report.BundleInvalid`,
carrying the :class:`~ledger.verify.report.Report`, on any integrity problem; source findings (gaps
and repeats in a source's sequence numbers) are in the report either way. Source signatures are
checked by two workers while the main thread reads and hashes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature

from ledger.errors import IngestError, LedgerError, VerificationError
from ledger.verify.report import BundleInvalid, EntryTimes, Finding, LogReport, Problem, Report
from ledger.verify.selection import SelectedLog, check_selective
from ledger.wire.avro import SIGNING_CONTEXT, SchemaRegistry, SignedEvent, read_envelope_key, split_signed
from ledger.wire.format import Chain, leaf_hash, to_micros
from ledger.wire.keyring import KEY_EVENTS, LEDGER_SOURCE, REGISTRAR_SOURCE, KeyRing, key_changes
from ledger.wire.keys import PublicKey, failed_raw_signatures
from ledger.wire.merkle import CompactRange, verify_consistency, verify_inclusion
from ledger.wire.note import SignedCheckpoint
from ledger.wire.rotation import KeyHistory

_CHUNK = 512


@dataclass(frozen=True)
class Trust:
    """What the auditor trusts: ledger keys, witness keys and quorum, checkpoints kept from before."""

    ledger_keys: Sequence[PublicKey]
    witnesses: Sequence[PublicKey] = ()
    quorum: int = 0
    kept: Sequence[SignedCheckpoint] = ()


@dataclass(frozen=True)
class LogSource:
    """One log to verify: its entries (``liuhen.BundleEntry`` records) and signed checkpoints."""

    origin: str
    entries: Callable[[], Iterable[Mapping[str, Any]]]
    checkpoints: Sequence[tuple[int, bytes, Sequence[str]]]
    proofs: Mapping[int, tuple[int, list[bytes]]] | None = None
    """Selective bundles: index -> (checkpoint size, inclusion proof)."""
    size: int | None = None
    """How many entries the log is expected to hold, when known (it sizes the verifying workers)."""
    consistency: Mapping[tuple[int, int], list[bytes]] | None = None
    """Selective bundles: (older size, newest size) -> consistency proof between the two checkpoints."""
    batches: Sequence[int] | None = None
    """The live store: the log's size after each committed batch, each of which signed a checkpoint."""


Progress = Callable[[str], None]


# -- signatures on two workers ---------------------------------------------------------------


PROCESSES_AFTER = 50_000
"""Entries from which source signatures are checked in worker processes rather than threads."""


class _Workers:
    """Two verifying threads for small bundles, two worker processes for large ones.

    ``cryptography`` releases the GIL while it verifies, but a verifying thread must take the GIL
    back between two signatures while the main thread is busy reading and hashing: on two cores
    the threads reach ~75% of their raw rate. Worker processes have their own interpreters. They
    are forked before any other thread of the verifier starts, and only for bundles large enough
    to repay it.
    """

    def __init__(self, *, processes: bool) -> None:
        self.pool: Executor
        if processes and "fork" in multiprocessing.get_all_start_methods():
            self.pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork"))
        else:
            self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify")

    def submit(self, jobs: list[tuple[int, bytes, bytes, bytes]]) -> Future[list[int]]:
        return self.pool.submit(failed_raw_signatures, jobs)

    def close(self) -> None:
        self.pool.shutdown()


class _Signatures:
    """Source signatures checked by two workers while the main thread reads and hashes."""

    def __init__(self, pool: _Workers | None) -> None:
        self.pool = pool
        self.pending: list[tuple[int, bytes, bytes, bytes]] = []
        self.running: list[Future[list[int]]] = []
        self.failed: list[int] = []
        self.count = 0

    def add(self, index: int, key: bytes, signature: bytes, message: bytes) -> None:
        self.pending.append((index, key, signature, message))
        self.count += 1
        if len(self.pending) >= _CHUNK:
            self._submit()

    def _submit(self) -> None:
        jobs, self.pending = self.pending, []
        if self.pool is None:
            self.failed += failed_raw_signatures(jobs)
            return
        self.running.append(self.pool.submit(jobs))
        while len(self.running) > 8:  # bounded memory: wait for the oldest
            self.failed += self.running.pop(0).result()

    def finish(self) -> list[int]:
        self._submit()
        for future in self.running:
            self.failed += future.result()
        self.running = []
        return sorted(self.failed)


# -- one log ----------------------------------------------------------------------------------


class _LogCheck:
    """Streams one log's entries through every check."""

    def __init__(
        self,
        source: LogSource,
        trust: Trust,
        history: KeyHistory,
        registry: SchemaRegistry,
        pool: _Workers | None,
        *,
        origins: Sequence[str] | None = None,
    ) -> None:
        self.source = source
        self.selected = SelectedLog(source.origin)
        """A selective bundle's decoded entries and newest checkpoint, for its selection statement."""
        self.origins = origins
        """Every log of the ledger, in the order they were opened (a full bundle); None: not known."""
        self.origin = source.origin
        self.trust = trust
        self.history = history
        self.registry = registry
        self.report = LogReport(source.origin)
        self.problems: list[Problem] = []
        self.findings: list[Finding] = []
        self.ring = KeyRing(registrars=history.all_keys)
        self.ledger = {key.key_id: key.raw for key in history.all_keys}
        self.signatures = _Signatures(pool)
        self.repeats: dict[str, int] = {}
        """How many times each problem code that is named once, then counted, was found."""
        self.last_seq: dict[str, int] = {}

    def problem(self, code: str, where: str, detail: str, **evidence: Any) -> None:
        self.problems.append(Problem(code, self.origin, where, detail, **evidence))

    def first(self, code: str) -> bool:
        """Count one more ``code`` problem; True for the first, which names the evidence."""
        self.repeats[code] = self.repeats.get(code, 0) + 1
        return self.repeats[code] == 1

    def more(self, code: str, where: str, what: str) -> None:
        """The problem that adds up the ``code`` problems after the first, if there were any."""
        if self.repeats.get(code, 0) > 1:
            self.problem(code, where, f"{self.repeats[code] - 1} more {what}")

    # checkpoints -----------------------------------------------------------------------------

    def signed_checkpoints(self) -> dict[int, SignedCheckpoint]:
        """Parse and verify every checkpoint's signatures; detect split views; return them by size."""
        by_size: dict[int, SignedCheckpoint] = {}
        newest = max((size for size, _, _ in self.source.checkpoints), default=None)
        for size, note, cosignatures in self.source.checkpoints:
            where = f"checkpoint at size {size}"
            try:
                signed = SignedCheckpoint.parse(note)
                for line in cosignatures:
                    signed = signed.with_signature(line)
                quorum = self.trust.quorum if size == newest else 0
                signed.verify_log(
                    ledger_keys=self.history.keys_for(self.origin, size),
                    witnesses=self.trust.witnesses if quorum else (),
                    quorum=quorum,
                )
            except LedgerError as exc:
                self.problem("bad_checkpoint", where, f"does not verify: {exc}")
                continue
            checkpoint = signed.checkpoint
            if checkpoint.origin != self.origin or checkpoint.tree_size != size:
                self.problem(
                    "bad_checkpoint",
                    where,
                    f"is for {checkpoint.origin!r} size {checkpoint.tree_size}, not this log",
                )
                continue
            other = by_size.get(size)
            if other is not None and other.checkpoint == checkpoint:
                continue
            if other is not None and other.checkpoint.root_hash == checkpoint.root_hash:
                self.problem(
                    "split_view",
                    where,
                    "two signed checkpoints of the same size and root disagree on the rest (the chain head)",
                )
                continue
            if other is not None and other.checkpoint.root_hash != checkpoint.root_hash:
                self.problem(
                    "split_view",
                    where,
                    "two signed checkpoints of the same size have different roots: "
                    "the ledger showed two histories",
                    expected=other.checkpoint.root_hash.hex(),
                    actual=checkpoint.root_hash.hex(),
                )
                continue
            by_size[size] = signed
        self.report.checkpoints = len(by_size)
        kept_here: list[SignedCheckpoint] = []
        for kept in self.trust.kept:
            if kept.checkpoint.origin == self.origin:
                try:
                    kept.verify_log(ledger_keys=self.history.keys_for(self.origin, kept.checkpoint.tree_size))
                except LedgerError as exc:
                    self.problem(
                        "bad_checkpoint", f"kept checkpoint at size {kept.checkpoint.tree_size}", str(exc)
                    )
                    continue
                other = by_size.get(kept.checkpoint.tree_size)
                if other is not None and other.checkpoint.root_hash != kept.checkpoint.root_hash:
                    self.problem(
                        "split_view",
                        f"kept checkpoint at size {kept.checkpoint.tree_size}",
                        "the bundle's checkpoint of that size has another root than the one you kept",
                        expected=kept.checkpoint.root_hash.hex(),
                        actual=other.checkpoint.root_hash.hex(),
                    )
                kept_here.append(kept)
                by_size.setdefault(kept.checkpoint.tree_size, kept)
        self.check_times_and_logs(by_size, kept_here)
        return by_size

    def check_times_and_logs(
        self, by_size: dict[int, SignedCheckpoint], kept: list[SignedCheckpoint]
    ) -> None:
        """The signed ledger times never go back, and each checkpoint's set of logs is the ledger's.

        Drops (with a problem) checkpoints whose extension lines are unreadable. The set of logs
        is checked where the bundle holds every log (a full bundle or the live store): a checkpoint
        naming more logs than the bundle holds, or other ones, shows a log has vanished. The
        checkpoints the auditor kept are checked too (the operator may have signed the bundle's
        again after deleting a log).
        """
        last_time, last_size = 0, 0
        every = [(size, f"checkpoint at size {size}", signed) for size, signed in by_size.items()]
        every += [
            (k.checkpoint.tree_size, f"kept checkpoint at size {k.checkpoint.tree_size}", k) for k in kept
        ]
        for size, where, signed in sorted(every, key=lambda item: item[0]):
            checkpoint = signed.checkpoint
            try:
                when = checkpoint.time_us
                names = checkpoint.logs
            except VerificationError as exc:
                self.problem("bad_checkpoint", where, str(exc))
                if by_size.get(size) is signed:
                    del by_size[size]
                continue
            if when < last_time:
                self.problem(
                    "time_goes_back",
                    where,
                    f"its signed ledger time is before that of the checkpoint at size {last_size}: the "
                    "ledger's clock cannot be trusted for the entries between them",
                    expected=f">= {last_time}",
                    actual=str(when),
                )
            last_time, last_size = max(last_time, when), size
            if self.origins is None:
                continue
            held = tuple(self.origins[: len(names)])
            missing = [name for name in names if name not in self.origins]
            if missing:
                if self.first("missing_log"):
                    self.problem(
                        "missing_log",
                        where,
                        f"names {len(names)} logs of the ledger; the bundle lacks {len(missing)} of them "
                        f"({', '.join(missing)}): a log vanished",
                        expected=" ".join(names),
                        actual=" ".join(self.origins),
                    )
            elif held != names and self.first("log_set_mismatch"):
                self.problem(
                    "log_set_mismatch",
                    where,
                    f"names the ledger's first {len(names)} logs in another order than the bundle: "
                    "logs were renamed or reordered",
                    expected=" ".join(names),
                    actual=" ".join(held),
                )
        for code in ("missing_log", "log_set_mismatch"):
            self.more(code, "later checkpoints", "checkpoint(s) say the same")

    def compare(self, signed: SignedCheckpoint, tree: CompactRange, chain: Chain) -> None:
        checkpoint = signed.checkpoint
        where = f"checkpoint at size {checkpoint.tree_size}"
        root = tree.root()
        if root != checkpoint.root_hash:
            if not self.first("root_mismatch"):
                return
            self.problem(
                "root_mismatch",
                where,
                "its Merkle root is not the root of the entries: the log was changed after it was signed",
                expected=checkpoint.root_hash.hex(),
                actual=root.hex(),
            )
        elif checkpoint.chain_head != chain.head:
            self.problem(
                "chain_head_mismatch",
                where,
                "its chain head is not the recomputed one",
                expected=checkpoint.chain_head.hex(),
                actual=chain.head.hex(),
            )

    # entries ---------------------------------------------------------------------------------

    def check_signature(self, index: int, entry: bytes, check: bool) -> None:
        """Queue the entry's signature for checking; apply registry entries to the key ring."""
        try:
            schema, body, signature = split_signed(entry)
            key = read_envelope_key(body)
            event_type = self.registry.type_of(schema)
        except IngestError as exc:
            self.problem(
                "unreadable_entry", f"index {index}", f"entry is not a signed event: {exc}", index=index
            )
            return
        if key.source_system_id not in (LEDGER_SOURCE, REGISTRAR_SOURCE):
            self.sequence(key.source_system_id, key.source_seq, index)
        if event_type.name in KEY_EVENTS:
            self.registry_entry(index, SignedEvent(schema, body, signature), event_type.name, key.key_id)
            return
        if not check:
            return
        if key.source_system_id == LEDGER_SOURCE:
            verifier = self.ledger.get(key.key_id)
            reason = "is not a ledger key you trust"
        else:
            ring_key = self.ring.keys.get(key.key_id)
            verifier = ring_key.raw if ring_key and ring_key.system_id == key.source_system_id else None
            reason = f"is not registered for {key.source_system_id} at this point of the log"
            if ring_key is not None and ring_key.revoked:
                verifier, reason = None, "was revoked before this entry"
        if verifier is None:
            self.problem("unknown_key", f"index {index}", f"signing key {key.key_id} {reason}", index=index)
            return
        self.signatures.add(index, verifier, signature, SIGNING_CONTEXT + schema + body)

    def registry_entry(self, index: int, signed: SignedEvent, name: str, key_id: str) -> None:
        registrar = self.ring.registrars.get(key_id)
        try:
            if registrar is None:
                raise VerificationError(f"signed by {key_id}, not a ledger key you trust")
            try:
                registrar.verifier.verify(signed.signature, signed.signed_message)
            except InvalidSignature:
                raise VerificationError(f"registrar signature by {key_id} does not verify") from None
            _, record = self.registry.decode(signed.schema, signed.body)
            for change in key_changes(name, record, self.ring):
                self.ring.apply(change)
        except LedgerError as exc:
            self.problem("bad_registry_entry", f"index {index}", f"{name}: {exc}", index=index)

    def sequence(self, source: str, seq: int, index: int) -> None:
        """Follow ``source``'s sequence numbers: a gap or a repeat is a finding, not a problem.

        Sources number their events and sign the numbers; the ledger can neither fill a gap nor
        undo a repeat, only keep the evidence. Whoever alters the ledger itself (drops, reorders,
        duplicates or inserts entries) breaks the chain, a Merkle root or a signature, and that is
        a problem whatever the numbers say. A repeated number is a finding too: ingest dedupes by
        event id, so a second entry with a number already seen is a *different* event the
        platform numbered again (its fault, not the ledger's), or events that reached Kafka out
        of order. Telling those apart from a replayed copy would mean remembering every event id
        (memory would grow with the log); the finding names the index for the auditor to look.
        """
        self.report.sources[source] = self.report.sources.get(source, 0) + 1
        last = self.last_seq.get(source, 0)
        if seq > last + 1 and self.source.proofs is None:
            first, missing = last + 1, seq - last - 1
            self.findings.append(
                Finding(
                    "sequence_gap",
                    self.origin,
                    f"{source} sequence {first}..{seq - 1}",
                    f"{missing} event(s) of {source} never reached the ledger (before index {index})",
                    index,
                    source,
                    first,
                    seq - 1,
                )
            )
        elif seq <= last:
            self.findings.append(
                Finding(
                    "sequence_repeat",
                    self.origin,
                    f"index {index}",
                    f"{source} sequence number {seq} again (or out of order) after {last}",
                    index,
                    source,
                    seq,
                    seq,
                )
            )
        self.last_seq[source] = max(last, seq)

    def run_full(self, check_signatures: bool, progress: Progress | None) -> None:
        checkpoints = self.signed_checkpoints()
        sizes = sorted(checkpoints)
        times = [checkpoints[size].checkpoint.time_us for size in sizes]
        window = (0, times[0] if times else None)  # the proven ledger time of the entries before sizes[0]
        chain = Chain()
        tree = CompactRange()
        next_cp = 0
        broken = False
        started = last_note = time.monotonic()
        for record in self.source.entries():
            index, entry = record["index"], record["entry"]
            if index != chain.size:
                if index > chain.size:
                    self.problem(
                        "missing_entries",
                        f"indices {chain.size}..{index - 1}",
                        f"{index - chain.size} entries are missing",
                        index=chain.size,
                    )
                else:
                    self.problem(
                        "index_out_of_order", f"index {index}", f"after index {chain.size - 1}", index=index
                    )
                broken = True
                break
            leaf = leaf_hash(entry)
            link = chain.append_leaf(leaf)
            completed = tree.append(leaf)
            stored_nodes = record.get("nodes")
            if stored_nodes is not None and tuple(digest for _, digest in completed) != tuple(stored_nodes):
                self.node_mismatch(index, completed, stored_nodes)
            if link != record["chain_hash"] and not broken:
                broken = True
                self.problem(
                    "chain_broken",
                    f"index {index}",
                    "the entry's chain hash is not the recomputed one: "
                    "this entry or one before it was changed",
                    index=index,
                    expected=link.hex(),
                    actual=bytes(record["chain_hash"]).hex(),
                )
            if check_signatures:
                self.check_signature(index, entry, check=True)
            ingested = record["ingested_at_us"]
            if ingested < window[0] or (window[1] is not None and ingested > window[1]):
                self.outside_window(index, ingested, window)
            while next_cp < len(sizes) and sizes[next_cp] == chain.size:
                self.compare(checkpoints[sizes[next_cp]], tree, chain)
                next_cp += 1
                window = (times[next_cp - 1], times[next_cp] if next_cp < len(times) else None)
            if progress is not None and index % 65536 == 0 and time.monotonic() - last_note > 1:
                last_note = time.monotonic()
                rate = chain.size / (last_note - started)
                progress(f"verify: {self.origin}: {chain.size:,} entries ({rate:,.0f}/s)")
        self.report.entries = chain.size
        self.finish_full(sizes[next_cp:], chain.size, broken, max(sizes, default=0))

    def node_mismatch(
        self, index: int, completed: Sequence[tuple[int, bytes]], stored: Sequence[bytes]
    ) -> None:
        """The Merkle nodes the store keeps with an entry are not those its entries make (live store)."""
        if not self.first("stored_node_mismatch"):
            return
        made = [digest for _, digest in completed]
        height = next(
            (
                h
                for h in range(max(len(made), len(stored)))
                if list(made[h : h + 1]) != list(stored[h : h + 1])
            ),
            0,
        )
        self.problem(
            "stored_node_mismatch",
            f"index {index}",
            f"the Merkle node of height {height + 1} stored with this entry is not the hash of the "
            "entries it covers: proofs read from the store would not verify",
            index=index,
            expected=made[height].hex() if height < len(made) else None,
            actual=bytes(stored[height]).hex() if height < len(stored) else None,
        )

    def outside_window(self, index: int, ingested: int, window: tuple[int, int | None]) -> None:
        """An entry's recorded ingest time lies outside the window its checkpoints prove."""
        if not self.first("ingest_time_outside_window"):
            return
        after, before = window
        self.problem(
            "ingest_time_outside_window",
            f"index {index}",
            "the entry's recorded ingest time is outside the window the signed checkpoints prove: "
            "the time was changed after the ledger signed",
            index=index,
            expected=f"{after}..{before if before is not None else ''}",
            actual=str(ingested),
        )

    def finish_full(self, unmatched: list[int], chain_size: int, broken: bool, signed_size: int) -> None:
        """Problems known only at the end: unsigned or missing entries and checkpoints, signatures, nodes."""
        nodes = "entries have stored Merkle nodes that are not theirs"
        self.more("stored_node_mismatch", "later entries", nodes)
        signed = {size for size, _, _ in self.source.checkpoints}
        for size in self.source.batches or ():
            if size <= chain_size and size not in signed:
                self.problem(
                    "batch_without_checkpoint",
                    f"batch ending at size {size}",
                    "ingest committed this batch with a signed checkpoint, and the store no longer holds "
                    "it: a checkpoint was deleted",
                    index=size - 1,
                )
        for size in unmatched:
            if size > chain_size and not broken:
                self.problem(
                    "log_truncated",
                    f"checkpoint at size {size}",
                    f"was signed for {size} entries but the log holds {chain_size}: "
                    "entries were removed from its end, or the ledger was rolled back",
                    index=chain_size,
                )
        times = "entries have ingest times outside their proven windows"
        self.more("ingest_time_outside_window", "later entries", times)
        self.more("root_mismatch", "later checkpoints", "checkpoint(s) do not match the entries either")
        if signed_size < chain_size and not broken:
            self.problem(
                "unsigned_entries",
                f"indices {signed_size}..{chain_size - 1}",
                f"{chain_size - signed_size} entries are not covered by any valid signed checkpoint: "
                "nothing vouches for them",
                index=signed_size,
            )
        self.finish_signatures()

    def finish_signatures(self) -> None:
        for index in self.signatures.finish():
            self.problem(
                "bad_signature",
                f"index {index}",
                "the source signature does not verify: the entry was altered or forged",
                index=index,
            )
        self.report.signatures = self.signatures.count

    def run_selective(self, check_signatures: bool) -> None:
        checkpoints = self.signed_checkpoints()
        self.one_history(checkpoints)
        sizes = sorted(checkpoints)
        if sizes:
            newest = checkpoints[sizes[-1]].checkpoint
            self.selected.newest = (sizes[-1], newest.root_hash)
            with contextlib.suppress(VerificationError):  # the checkpoint checks report a malformed line
                self.selected.ledger_logs = newest.logs
        proofs = self.source.proofs or {}
        for record in self.source.entries():
            index, entry = record["index"], record["entry"]
            self.report.entries += 1
            where = f"index {index}"
            if index not in proofs:
                self.problem(
                    "missing_proof", where, "the bundle has no inclusion proof for this entry", index=index
                )
                continue
            size, proof = proofs[index]
            signed = checkpoints.get(size)
            if signed is None:
                self.problem(
                    "missing_checkpoint", where, f"its proof is against size {size}, with no valid checkpoint"
                )
                continue
            try:
                verify_inclusion(leaf_hash(entry), index, size, proof, signed.checkpoint.root_hash)
            except VerificationError as exc:
                self.problem(
                    "not_included", where, f"is not in the signed log of size {size}: {exc}", index=index
                )
                continue
            self.report.proofs += 1
            self.entry_times(record, size, sizes, checkpoints)
            self.check_signature(index, entry, check_signatures)
        self.finish_signatures()

    def one_history(self, checkpoints: dict[int, SignedCheckpoint]) -> None:
        """Every checkpoint of a selective bundle is proven consistent with its newest (the witnessed one).

        A checkpoint without a proof, or whose proof fails, is dropped with a problem: what it
        vouches for is then unproven.
        """
        if not checkpoints:
            return
        newest = max(checkpoints)
        proofs = self.source.consistency or {}
        for size in sorted(checkpoints)[:-1]:
            where = f"checkpoint at size {size}"
            proof = proofs.get((size, newest))
            if proof is None:
                self.problem(
                    "not_consistent",
                    where,
                    f"the bundle proves no consistency with the newest, of size {newest}",
                )
                del checkpoints[size]
                continue
            old_root, new_root = (
                checkpoints[size].checkpoint.root_hash,
                checkpoints[newest].checkpoint.root_hash,
            )
            try:
                verify_consistency(size, newest, old_root, new_root, proof)
            except VerificationError as exc:
                self.problem("not_consistent", where, f"is not proven part of the same history: {exc}")
                del checkpoints[size]

    def entry_times(
        self,
        record: Mapping[str, Any],
        size: int,
        sizes: Sequence[int],
        checkpoints: Mapping[int, SignedCheckpoint],
    ) -> None:
        """Record the window an included entry's checkpoints prove; check its ingest time lies in it."""
        index = record["index"]
        known = bisect_right(sizes, index)  # the bundle's checkpoints of at most ``index`` entries
        after = checkpoints[sizes[known - 1]].checkpoint.time_us if known else None
        by = checkpoints[size].checkpoint.time_us
        if not (after or 0) <= record["ingested_at_us"] <= by:
            self.outside_window(index, record["ingested_at_us"], (after or 0, by))
        try:
            signed = SignedEvent.decode(record["entry"])
            event_type, body = self.registry.decode(signed.schema, signed.body)
        except IngestError:
            return  # check_signature names an unreadable entry
        self.selected.decoded[index] = (event_type.name, body)
        occurred = body["envelope"]["occurred_at"]
        self.report.times.append(
            EntryTimes(
                index,
                event_type.name,
                to_micros(occurred),
                after,
                by,
            )
        )


def verify_logs(
    sources: Iterable[LogSource],
    trust: Trust,
    *,
    bundle: str,
    kind: str,
    rotations: Sequence[bytes] = (),
    damaged: Sequence[str] = (),
    check_signatures: bool = True,
    progress: Progress | None = None,
    processes_after: int = PROCESSES_AFTER,
    selection: bytes | None = None,
) -> Report:
    """Check every log; raise :class:`BundleInvalid` (carrying the report) on any integrity problem.

    A report returned may still carry findings: gaps or repeats in a source's sequence numbers.

    ``rotations`` are the ledger key rotations the bundle carries: followed from the keys the
    auditor trusts, each must be signed by the key then current. ``selection`` is a selective
    bundle's signed selection statement (:mod:`ledger.verify.selection`).
    """
    started = time.monotonic()
    registry = SchemaRegistry.load()
    report = Report(bundle=bundle, kind=kind)
    for name in damaged:
        report.problems.append(
            Problem(
                "damaged_file", "bundle", name, "is missing or does not match the SHA-256 in manifest.json"
            )
        )
    history, refused = KeyHistory.build(trust.ledger_keys, rotations)
    report.problems += [Problem("bad_key_rotation", "ledger keys", "rotations", line) for line in refused]
    sources = list(sources)
    origins = [source.origin for source in sources] if kind == "full" else None
    large = sum(source.size or 0 for source in sources) >= processes_after
    pool = _Workers(processes=check_signatures and large)
    selected: list[SelectedLog] = []
    try:
        for source in sources:
            check = _LogCheck(
                source, trust, history, registry, pool if check_signatures else None, origins=origins
            )
            if source.proofs is None:
                check.run_full(check_signatures, progress)
            else:
                check.run_selective(check_signatures)
            report.logs.append(check.report)
            report.problems += check.problems
            selected.append(check.selected)
            report.findings += check.findings
    finally:
        pool.close()
    if kind == "selective":
        problems, statement = check_selective(selection, history.all_keys, selected)
        report.problems += problems
        if statement is not None:
            listed = sum(len(indices) for indices in statement.matched.values())
            report.selection = (
                f"{statement.query.line().removeprefix('query ')}: {listed} matching entries "
                f"in {len(statement.logs)} searched log(s)"
            )
    seen = {log.origin for log in report.logs}
    if not seen:
        report.problems.append(Problem("empty_bundle", "bundle", "logs", "the bundle holds no log at all"))
    for kept in trust.kept:
        if kept.checkpoint.origin not in seen:
            report.problems.append(
                Problem(
                    "missing_log",
                    kept.checkpoint.origin,
                    "kept checkpoint",
                    "the bundle does not hold this log",
                )
            )
    report.seconds = time.monotonic() - started
    if report.problems:
        raise BundleInvalid(report)
    return report
