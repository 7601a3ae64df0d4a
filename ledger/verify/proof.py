"""Checking one entry's c2sp.org/tlog-proof (``liuhen prove EVENT_ID --tlog-proof``) offline.

The proof holds the entry, its index, the inclusion proof and the log's checkpoint with its
cosignatures (:mod:`ledger.wire.proof`). It is valid when the checkpoint is signed by a ledger key
the auditor trusts (under the log's origin, as every liuhen checkpoint) and cosigned by the quorum
of the witnesses named, and the proof leads from the entry to the checkpoint's root. The entry is
then decoded, to say which event it is. The source's signature on the event is not checked here:
that needs the log's key registry, which a bundle carries (``liuhen export``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ledger.errors import IngestError, LedgerError
from ledger.verify.logcheck import Trust
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.proof import TlogProof


@dataclass
class ProofReport:
    """What checking a proof found: where the entry is, what it is, and the problem if any."""

    origin: str = ""
    index: int = -1
    size: int = 0
    cosignatures: int = 0
    event: dict[str, Any] | None = None
    unreadable: str | None = None
    """Why the proven entry does not decode as an event (its inclusion is proven all the same)."""
    problem: str | None = None

    @property
    def valid(self) -> bool:
        """True when the proof holds."""
        return self.problem is None

    def to_text(self) -> str:
        """The report as the command prints it."""
        where = f"entry {self.index} of {self.origin}, in the log at size {self.size}"
        if self.problem is not None:
            return f"INVALID: {where}: {self.problem}"
        lines = [
            f"VALID: {where}; the checkpoint is signed by the ledger key"
            + (f" and cosigned by {self.cosignatures} witness(es)" if self.cosignatures else "")
        ]
        if self.event is not None:
            lines.append(
                "  {type} {event_id}: happened {occurred_at}, by {actor} (source {source} #{seq})".format(
                    **self.event
                )
            )
        if self.unreadable is not None:
            lines.append(f"  the entry does not decode as an event: {self.unreadable}")
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps({"valid": self.valid, **self.__dict__}, indent=2, ensure_ascii=False, default=str)


def check_tlog_proof(proof: TlogProof, trust: Trust) -> ProofReport:
    """Check a parsed proof against the keys the auditor trusts."""
    checkpoint = proof.checkpoint.checkpoint
    report = ProofReport(origin=checkpoint.origin, index=proof.index, size=checkpoint.tree_size)
    try:
        proof.checkpoint.verify_log(
            ledger_keys=trust.ledger_keys, witnesses=trust.witnesses, quorum=trust.quorum
        )
    except LedgerError as exc:
        report.problem = f"the checkpoint does not verify: {exc}"
        return report
    witnesses = {w.name for w in trust.witnesses}
    report.cosignatures = len({s.name for s in proof.checkpoint.signatures if s.name in witnesses})
    try:
        proof.verify()
    except LedgerError as exc:
        report.problem = f"the entry is not proven in the checkpoint: {exc}"
        return report
    try:
        report.event = _describe(proof.extra or b"")
    except IngestError as exc:
        report.unreadable = str(exc)
    return report


def _describe(entry: bytes) -> dict[str, Any]:
    """The decoded entry's type, id, time, actor and source position; IngestError if it does not decode."""
    signed = SignedEvent.decode(entry)
    event_type, record = SchemaRegistry.load().decode(signed.schema, signed.body)
    envelope = record["envelope"]
    return {
        "type": event_type.name,
        "event_id": str(envelope["event_id"]),
        "occurred_at": envelope["occurred_at"].isoformat(),
        "actor": envelope["actor"]["user_id"],
        "source": envelope["source_system_id"],
        "seq": envelope["source_seq"],
    }
