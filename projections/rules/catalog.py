"""The catalog of detection rules: each rule's id, severity, the article it enforces, and its title.

This is the one table of what the rules are. The rule code records a violation only through an
entry of it, so a violation row's ``rule``, ``severity`` and ``article`` are an entry's, and the
README's table of rules and the tests are checked against :data:`RULES`.

A rule that judges kinds of act with a different severity or article has one entry per kind, a
*facet* (``R9_STOPPED``, ``R9_OUTAGE``): the facets share the rule id, which is what the ``rule``
column of a violation holds and what ``liuhen violations --rule`` selects. No two entries have the
same id, severity and article, so a violation row tells which entry it is of.

Articles are cited as "ZZ 12(5)": article 12, item 5 of the Zhuzhou regulation on public-security
video systems. The limits some titles speak of ("longer than the outage limit") are configuration,
with documented defaults: :class:`projections.rules.base.Thresholds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "R1",
    "R2",
    "R3",
    "R4",
    "R5",
    "R6",
    "R7",
    "R8",
    "R9_OUTAGE",
    "R9_STOPPED",
    "R10",
    "R11_CHANGED",
    "R11_LOST",
    "R12_BULK",
    "R12_OFF_DUTY",
    "R13",
    "R14",
    "R15_AHEAD",
    "R15_BEHIND",
    "R16",
    "R17",
    "RULES",
    "Rule",
    "Severity",
]

Severity = Literal["critical", "high", "medium", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One rule, or one facet of a rule: what a violation of it is, how grave, and under what law."""

    id: str
    """The rule id a violation row carries, ``R1`` to ``R17``; shared by a rule's facets."""
    severity: Severity
    article: str
    """The article(s) the violation breaks, as the row cites them and its explanation ends."""
    title: str
    """What the violation is, in one line (the README's table shows it)."""


R1 = Rule(
    id="R1",
    severity="critical",
    article="ZZ 12(5), 15(3)",
    title=(
        "footage deleted, overwritten, expired or formatted inside its retention period (never less "
        "than 30 days) or under a legal hold, without a deletion order covering it"
    ),
)
R2 = Rule(
    id="R2",
    severity="critical",
    article="ZZ 15(3)",
    title=(
        "footage the recorder's inventory no longer holds inside the retention window, with no logged "
        "deletion or outage to explain it: a silent deletion"
    ),
)
R3 = Rule(
    id="R3",
    severity="high",
    article="ZZ 12(5)",
    title="retention set below 30 days",
)
R4 = Rule(
    id="R4",
    severity="medium",
    article="ZZ 12(4), 13",
    title="access without reason, unit or name; investigators without legal basis and case number",
)
R5 = Rule(
    id="R5",
    severity="high",
    article="ZZ 13, 14, 16(2)",
    title=(
        "access outside the cameras, window, validity or grantee of its authorization or Art. 14 application"
    ),
)
R6 = Rule(
    id="R6",
    severity="high",
    article="ZZ 12(4), 15(4)",
    title="export, copy or download without watermark or file hash",
)
R7 = Rule(
    id="R7",
    severity="high",
    article="ZZ 13, 16(1)",
    title="share or release without desensitization",
)
R8 = Rule(
    id="R8",
    severity="high",
    article="ZZ 15(7)",
    title="camera direction or preset changed, occlusion or tamper alarm, with no open work order for it",
)
R9_STOPPED = Rule(
    id="R9",
    severity="high",
    article="ZZ 15(6)",
    title="system or recording stopped without a ticket",
)
R9_OUTAGE = Rule(
    id="R9",
    severity="medium",
    article="ZZ 12(1)",
    title="a camera off line longer than the outage limit without a ticket",
)
R10 = Rule(
    id="R10",
    severity="critical",
    article="ZZ 8",
    title="camera registered in a prohibited private space",
)
R11_LOST = Rule(
    id="R11",
    severity="critical",
    article="ZZ 15(2)",
    title=(
        "operating records lost: a gap in a source's sequence numbers (events that never reached the "
        "ledger), or a log cleared without a ticket"
    ),
)
R11_CHANGED = Rule(
    id="R11",
    severity="high",
    article="ZZ 15(2)",
    title="software changed, or the clock moved by more than the clock tolerance, without a ticket",
)
R12_OFF_DUTY = Rule(
    id="R12",
    severity="high",
    article="ZZ 12(3)",
    title="access by someone not on their unit's duty roster",
)
R12_BULK = Rule(
    id="R12",
    severity="high",
    article="ZZ 16(3)",
    title="bulk access: more accesses in an hour than the bulk minimum, and far above the actor's usual pace",
)
R13 = Rule(
    id="R13",
    severity="high",
    article="separation of duties",
    title="authorization approved by its own requester",
)

R14 = Rule(
    id="R14",
    severity="high",
    article="ZZ 15(2), 16",
    title=(
        "a fact that would clear a violation (deletion order, hold, release, policy, registration, "
        "authorization, approval, work order, outage, duty shift) reached the ledger longer than the "
        "late-evidence tolerance after the act it covers: the violation stays, cleared only by late evidence"
    ),
)
R15_AHEAD = Rule(
    id="R15",
    severity="medium",
    article="ZZ 15(2)",
    title="an event dated later than it reached the ledger, beyond the clock tolerance: a source clock fault",
)
R15_BEHIND = Rule(
    id="R15",
    severity="high",
    article="ZZ 15(2), 16",
    title=(
        "an event that reached the ledger longer than the backdating tolerance after its own time: "
        "backdated, or withheld that long"
    ),
)
R16 = Rule(
    id="R16",
    severity="warning",
    article="ZZ 7, Nat. 14",
    title="a camera in use more than 30 days before its system's registration was filed",
)
R17 = Rule(
    id="R17",
    severity="warning",
    article="Nat. 17",
    title="footage kept far past its retention period (twice the period, at least 30 days more) with no hold",
)

RULES: tuple[Rule, ...] = (
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9_STOPPED,
    R9_OUTAGE,
    R10,
    R11_LOST,
    R11_CHANGED,
    R12_OFF_DUTY,
    R12_BULK,
    R13,
    R14,
    R15_AHEAD,
    R15_BEHIND,
    R16,
    R17,
)
"""Every rule and facet, in the order of their ids: the order of the README's table of rules."""
