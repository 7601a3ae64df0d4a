"""What the verifier found: integrity problems and source findings, each with where, and the report.

A :class:`Problem` says the ledger is not whole and unmodified (a broken chain, a checkpoint that
does not verify, a forged signature...): the bundle is invalid. A :class:`Finding` says something
about what a source sent, with the ledger intact: events a source numbered that never reached the
ledger (a gap in its sequence numbers), or a number it used twice. The ledger cannot make a
source's numbering whole; it only keeps the evidence that it was not.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from ledger.errors import VerificationError


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold, and where."""

    code: str
    origin: str
    where: str
    detail: str
    index: int | None = None
    expected: str | None = None
    actual: str | None = None

    def __str__(self) -> str:
        return f"{self.origin}: {self.where}: {self.detail}"


@dataclass(frozen=True)
class Finding:
    """One fact about a source's sequence numbers, and where in the ledger it shows."""

    code: str
    origin: str
    where: str
    detail: str
    index: int
    """The ledger index of the entry after the gap (or of the entry repeating a number)."""
    source: str
    first: int
    last: int
    """The missing sequence numbers ``first..last`` (a repeat: the number used again, twice)."""

    def __str__(self) -> str:
        return f"{self.origin}: {self.where}: {self.detail}"


@dataclass
class LogReport:
    """What was checked in one log."""

    origin: str
    entries: int = 0
    checkpoints: int = 0
    signatures: int = 0
    proofs: int = 0
    sources: dict[str, int] = field(default_factory=dict)
    times: list[EntryTimes] = field(default_factory=list)
    """Selective bundles: each proven entry's own time and the window its checkpoints prove."""


@dataclass(frozen=True)
class EntryTimes:
    """When an entry says it happened, and when it is proven to have reached the ledger.

    ``in_ledger_by``: the signed time of the first checkpoint that covers it; ``in_ledger_after``:
    that of the log's checkpoint before (``None``: the bundle holds none, so from the log's start).
    Times are microseconds since the epoch (UTC).
    """

    index: int
    event_type: str
    occurred_at: int
    in_ledger_after: int | None
    in_ledger_by: int


@dataclass
class Report:
    """What the verifier found; ``problems`` empty means the ledger is intact, findings or not."""

    bundle: str
    kind: str
    logs: list[LogReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    selection: str | None = None
    """Selective bundles: the query of the signed selection statement, if its signature verified."""

    @property
    def valid(self) -> bool:
        """True when the ledger is intact (source findings do not make it invalid)."""
        return not self.problems

    def to_json(self) -> str:
        """The report as JSON (``--json``)."""
        return json.dumps(
            {
                "valid": self.valid,
                "bundle": self.bundle,
                "kind": self.kind,
                "selection": self.selection,
                "seconds": round(self.seconds, 3),
                "logs": [asdict(log) for log in self.logs],
                "problems": [asdict(p) for p in self.problems],
                "findings": [asdict(f) for f in self.findings],
            },
            indent=2,
            ensure_ascii=False,
        )

    def to_text(self) -> str:
        """The report for people."""
        lines = [f"bundle {self.bundle} ({self.kind}, {len(self.logs)} log(s), {self.seconds:.1f} s)"]
        if self.selection is not None:
            lines.append(f"selection signed by the ledger key: {self.selection}")
        for log in self.logs:
            parts = [f"{log.entries} entries", f"{log.checkpoints} checkpoints"]
            if log.signatures:
                parts.append(f"{log.signatures} source signatures")
            if log.proofs:
                parts.append(f"{log.proofs} inclusion proofs")
            mine = [p for p in self.problems if p.origin == log.origin]
            lines.append(f"  {log.origin}: {', '.join(parts)}: {'OK' if not mine else 'INVALID'}")
            lines += [
                f"    index {e.index} {e.event_type}: happened {_utc(e.occurred_at)}, in the ledger "
                + (f"after {_utc(e.in_ledger_after)} and " if e.in_ledger_after is not None else "")
                + f"by {_utc(e.in_ledger_by)}"
                for e in log.times
            ]
            lines += [f"    - {p.where}: {p.detail}" for p in mine]
        others = [p for p in self.problems if p.origin not in {log.origin for log in self.logs}]
        lines += [f"  - {p}" for p in others]
        if self.findings:
            lines.append("source findings (facts about what the sources sent, not about the ledger):")
            lines += [f"  - {f}" for f in self.findings]
        found = f"{len(self.findings)} source finding(s)"
        if not self.valid:
            also = f", and {found}" if self.findings else ""
            lines.append(f"INVALID: {len(self.problems)} problem(s){also}")
        elif self.findings:
            lines.append(f"VALID, WITH FINDINGS: every integrity check holds; {found}")
        else:
            lines.append("VALID: every check holds")
        return "\n".join(lines)


def _utc(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


class BundleInvalid(VerificationError):
    """The bundle does not verify; ``report`` names every problem."""

    def __init__(self, report: Report) -> None:
        first = report.problems[0]
        super().__init__(f"{len(report.problems)} problem(s), first: {first}")
        self.report = report
